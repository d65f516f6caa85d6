/* What the layer files share about a module, and the table of built-in layer
 * kinds: each kind is one descriptor (tg_layer_kind_def, tapegrad/model.h)
 * defined in its file of nn/layers/ and one line of TG_LAYER_LIST. Not
 * installed. */
#ifndef TAPEGRAD_NN_MODULE_INTERNAL_H
#define TAPEGRAD_NN_MODULE_INTERNAL_H

#include "tapegrad/model.h"

#define MODULE_MAX_PARAMS 16
#define MODULE_MAX_BUFFERS 4
#define MODULE_NAME_MAX 64

/* Every built-in kind: its enum value and the descriptor tg_layer_kind_<name>
 * (defined in nn/layers/<file>.c). Adding a kind adds one line here. */
#define TG_LAYER_LIST(X)                                    \
    X(TG_LAYER_DENSE, dense)           /* dense.c */        \
    X(TG_LAYER_CONV2D, conv2d)         /* conv.c */         \
    X(TG_LAYER_MAX_POOL2D, max_pool2d) /* pool.c */         \
    X(TG_LAYER_AVG_POOL2D, avg_pool2d) /* pool.c */         \
    X(TG_LAYER_FLATTEN, flatten)       /* flatten.c */      \
    X(TG_LAYER_ACTIVATION, activation) /* activation.c */   \
    X(TG_LAYER_DROPOUT, dropout)       /* activation.c */   \
    X(TG_LAYER_BATCH_NORM, batch_norm) /* norm.c */         \
    X(TG_LAYER_LAYER_NORM, layer_norm) /* norm.c */         \
    X(TG_LAYER_EMBEDDING, embedding)   /* embedding.c */    \
    X(TG_LAYER_RNN, rnn)               /* recurrent.c */    \
    X(TG_LAYER_LSTM, lstm)             /* recurrent.c */    \
    X(TG_LAYER_GRU, gru)               /* recurrent.c */    \
    X(TG_LAYER_SELF_ATTENTION, self_attention)          /* attention.c */   \
    X(TG_LAYER_TRANSFORMER_BLOCK, transformer_block)    /* transformer.c */ \
    X(TG_LAYER_POSITION_EMBEDDING, position_embedding)  /* embedding.c */

#define TG_LAYER_DECLARE(KIND, name) extern const tg_layer_kind_def tg_layer_kind_##name;
TG_LAYER_LIST(TG_LAYER_DECLARE)
#undef TG_LAYER_DECLARE

struct tg_module {
    tg_ctx *ctx;
    tg_dtype dtype;
    const tg_layer_kind_def *kind;    /* the descriptor */
    tg_layer_spec spec;               /* defaults filled in; spec.name points to name, spec.op to op */
    char name[MODULE_NAME_MAX];
    char op[MODULE_NAME_MAX];
    char tie[MODULE_NAME_MAX];        /* spec.tie points here */
    bool tied;                        /* params[0] is another module's (spec.tie): not freed here */
    const void *user_op;              /* activation by a user op: the tg_op found in ctx */
    bool training;
    bool owned_by_model;              /* freed by its model, not on the context's list */
    tg_rng rng;                       /* dropout masks */
    int n_params, n_buffers;
    tg_tensor *params[MODULE_MAX_PARAMS];
    tg_tensor *buffers[MODULE_MAX_BUFFERS]; /* batch norm: running mean [in], running variance [in] */
};

/* The kind's enum value for a descriptor of the table or the registry. */
int tg_layer_kind_of(const tg_layer_kind_def *def);

/* Checks an input shape against the layer and computes the output shape;
 * TG_OK, or the error raised on the module's context naming the layer, the
 * shape and what was expected. */
tg_status tg_module_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                          int64_t out_shape[TG_MAX_RANK]);

/* The checks of tg_module_forward: x's shape accepted by the layer and its
 * dtype the layer's (unless the kind takes indices); false with the error set. */
bool tg_module_accepts(tg_module *m, const tg_tensor *x);

/* x itself: the pre_activation of a kind that is its activation alone. */
tg_tensor *tg_module_identity(tg_module *m, tg_tensor *x);

/* "dense layer dense1" for messages. */
const char *tg_module_who(const tg_module *m, char *buf, size_t size);

/* The describe text of a module's spec ("1->6, 5x5, ..."). */
const char *tg_module_describe(const tg_module *m, char *buf, size_t size);

/* A module made for a model: freed by the model, not on the context's list. */
tg_module *tg_module_new_for_model(tg_ctx *ctx, tg_dtype dtype, const tg_layer_spec *spec, tg_rng *rng);

/* z = x·Wᵀ + b over the last axis of x [..., in] (leading axes folded into
 * rows): the one dense forward, of the dense layer kind and of tg_mlp. */
tg_tensor *tg_dense_affine(tg_tensor *x, tg_tensor *w, tg_tensor *b);

/* Multi-head self-attention with H = spec heads of a sequence given as its
 * projected rows qkv = Q|K|V [B·T, 3d] (position t of sequence b in row
 * b·T + t), the one attention of the self_attention and transformer_block
 * kinds (attention.c): y = concat_h(sdpa(Q_h, K_h, V_h))·W_oᵀ + b_o, [B·T, d]. */
tg_tensor *tg_attention_of_qkv(tg_module *m, tg_tensor *qkv, int64_t b, int64_t t, tg_tensor *w_out, tg_tensor *b_out);

/* Dropout with the module's rate and stream: x·mask/(1-p) in training mode, x
 * in eval mode (activation.c; the dropout kind's forward). */
tg_tensor *tg_module_dropout(tg_module *m, tg_tensor *x);

/* Shape rule of layers reading sequences [B, T, d] with d = spec in, and a
 * sample of them. */
tg_status tg_sequence_shape(const tg_module *m, int rank, const int64_t *shape);
int tg_sequence_sample(const tg_layer_spec *s, int64_t shape[TG_MAX_RANK]);
/* heads divides in (d_model): false with the reason, naming both. */
bool tg_heads_check(tg_layer_spec *s, char *why, size_t size);

/* Describe helpers shared by kinds: "in->out[, act]". */
void tg_layer_describe_in_out(const tg_layer_spec *s, char *buf, size_t size);

/* The first architectural difference between two models, with labels for
 * each ("in the file", "in the model"); false when none (model.c). */
bool tg_model_spec_diff_labelled(const tg_model *a, const tg_model *b, const char *la, const char *lb, char *buf,
                                 size_t size);

#endif
