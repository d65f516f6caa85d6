/* tapegrad/model.h: a layer kit (conv, pooling, normalization, dropout,
 * embedding, recurrent cells) and sequential models built from layer specs.
 *
 * A layer is described by a tg_layer_spec, a plain struct whose zero fields
 * take defaults; tg_module_new makes one layer (a module) from it and
 * tg_model_new a sequence of them from an array of specs:
 *
 *     tg_model *lenet = tg_model_new(ctx, TG_F32, TG_SHAPE(1, 28, 28), TG_LAYERS(
 *         {.kind = TG_LAYER_CONV2D, .in = 1, .out = 6, .kernel = 5, .padding = 2, .act = TG_ACT_RELU},
 *         {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
 *         {.kind = TG_LAYER_CONV2D, .in = 6, .out = 16, .kernel = 5, .act = TG_ACT_RELU},
 *         {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
 *         {.kind = TG_LAYER_FLATTEN},
 *         {.kind = TG_LAYER_DENSE, .in = 400, .out = 120, .act = TG_ACT_RELU},
 *         {.kind = TG_LAYER_DENSE, .in = 120, .out = 84, .act = TG_ACT_RELU},
 *         {.kind = TG_LAYER_DENSE, .in = 84, .out = 10}), &rng);
 *
 * Every forward is a composition of public ops, so the tape gives every
 * gradient. A module owns its tensors: parameters (trained, named
 * "<layer>.weight", "<layer>.bias", ...) and buffers (running statistics,
 * updated by the forward pass in training mode, never by an optimizer). A model
 * lists them in layer order, so tg_params-based code (optimizers, tg_train,
 * checkpoints) works unchanged. Models start in training mode; eval mode turns
 * dropout off and makes batch norm use its running statistics.
 *
 * A model's checkpoint (tg_model_save) stores its spec as text beside the
 * tensors, so tg_model_load rebuilds the model from the file alone. A network
 * that is not a sequence (a residual link, two inputs) is a plain C function
 * over modules (examples/residual_model.c).
 */
#ifndef TAPEGRAD_MODEL_H
#define TAPEGRAD_MODEL_H

#include <stdio.h>

#include "tapegrad/dot.h"
#include "tapegrad/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The built-in layer kinds. Each is one descriptor (tg_layer_kind_def) in its
 * own file of nn/layers/ and one line of the table in nn/layers/module.c; its
 * tensor names and shapes are PyTorch's (tg_module_torch_name). Recurrent
 * layers in a module or model read batch-first sequences [B, T, in], as
 * PyTorch's batch_first=True; tg_recurrent_unroll, a lower-level call, reads
 * time-major [T, B, in]. Kinds registered with tg_layer_kind_register get
 * values from TG_LAYER_USER on. */
typedef enum {
    TG_LAYER_DENSE,       /* x [..., in] -> f(x·Wᵀ + b) [..., out]; W [out, in], b [out] */
    TG_LAYER_CONV2D,      /* x [n, in, h, w] -> f(conv2d(x, W) + b) [n, out, h', w']; W [out, in, k, k] */
    TG_LAYER_MAX_POOL2D,  /* [n, c, h, w] -> max over k×k windows */
    TG_LAYER_AVG_POOL2D,  /* [n, c, h, w] -> mean over k×k windows */
    TG_LAYER_FLATTEN,     /* [n, ...] -> [n, Π ...] */
    TG_LAYER_ACTIVATION,  /* f(x) elementwise, f = act, or the user op named op */
    TG_LAYER_DROPOUT,     /* training: x·m/(1-p), m ~ Bernoulli(1-p); eval: x */
    TG_LAYER_BATCH_NORM,  /* x [n, in] or [n, in, ...]: (x - μ)/√(σ² + ε)·γ + β per channel */
    TG_LAYER_LAYER_NORM,  /* x [..., in]: (x - μ)/√(σ² + ε)·γ + β over the last axis */
    TG_LAYER_EMBEDDING,   /* indices [...] (i64, or whole numbers) -> rows of W [in, out]: [..., out] */
    TG_LAYER_RNN,         /* [B, T, in] -> [B, T, out]: h' = tanh(x·Wᵢₕᵀ + bᵢₕ + h·Wₕₕᵀ + bₕₕ) */
    TG_LAYER_LSTM,        /* [B, T, in] -> [B, T, out] (the gates i, f, g, o as in PyTorch) */
    TG_LAYER_GRU,         /* [B, T, in] -> [B, T, out] (the gates r, z, n as in PyTorch);
                             recurrent kinds with last_state: -> h_T [B, out] */
    /* Transformers (attention.c, transformer.c), x [B, T, d], d = in, H = heads,
     * attention(x) = concat_h(softmax(Q_h·K_hᵀ/√(d/H) + M)·V_h)·W_oᵀ + b_o,
     * Q|K|V = x·W_qkvᵀ + b_qkv (torch.nn.MultiheadAttention's names), M causal or none: */
    TG_LAYER_SELF_ATTENTION,    /* [B, T, d] -> [B, T, d]; W_qkv [3d, d], W_o [d, d] */
    TG_LAYER_TRANSFORMER_BLOCK, /* pre-LN: x += attention(LN₁(x)); x += W₂·gelu(W₁·LN₂(x) + b₁) + b₂;
                                   [B, T, d] -> [B, T, d]; W₁ [out, d], W₂ [d, out] (minGPT's names) */
    TG_LAYER_POSITION_EMBEDDING, /* x [..., T, out] -> x + W[0:T] (learned positions); W [in, out], T <= in */
    TG_LAYER_USER = 1000, /* the first kind tg_layer_kind_register gives */
} tg_layer_kind;

/* One layer. Zero fields take the defaults in brackets. */
typedef struct {
    tg_layer_kind kind;
    const char *name;   /* NULL: the kind's short name and its count in the model ("conv2") */
    int64_t in, out;    /* features, channels, vocabulary (embedding in) or hidden size (recurrent out) */
    int kernel;         /* conv and pool: the square window's side */
    int stride;         /* [conv 1, pool kernel] */
    int padding;        /* zeros (conv) or ignored cells (pool) on each border [0] */
    tg_activation act;  /* dense, conv and activation layers [none] */
    tg_init init;       /* weights [xavier, with fan_in = in·k·k for conv] */
    double rate;        /* dropout probability p in [0, 1) [0] */
    double eps;         /* norms [1e-5] */
    double momentum;    /* batch norm: running ← (1 - m)·running + m·batch [0.1] */
    uint64_t seed;      /* dropout masks [0: drawn from the model's rng] */
    bool last_state;    /* recurrent: only the final state h_T [B, out], not every step's
                           [B, T, out], so a sequence classifier is a plain layer list [false] */
    const char *op;     /* activation: the name of a one-input user op registered in the
                           layer's context (tapegrad/op.h), applied instead of act [NULL] */
    int heads;          /* attention and transformer block: heads, dividing in (d_model) [required] */
    bool causal;        /* attention and transformer block: position i attends to j <= i only [false] */
    /* dense layer in a model: the name of an earlier layer whose weight this
     * layer uses as its own (weight tying, e.g. an LM head tied to the token
     * embedding: both [vocab, d]); the shapes must be equal [NULL] */
    const char *tie;
} tg_layer_spec;

/* (count, array) of layer specs from a list of initializers, as TG_SHAPE:
 * TG_LAYERS({.kind = TG_LAYER_FLATTEN}, {.kind = TG_LAYER_DENSE, .in = 784, .out = 10}). */
#define TG_LAYERS(...)                                                                      \
    (int)(sizeof((const tg_layer_spec[]){__VA_ARGS__}) / sizeof(tg_layer_spec)),            \
        (const tg_layer_spec[]){__VA_ARGS__}

/* "dense", "conv2d", "max_pool2d", "avg_pool2d", "flatten", "activation",
 * "dropout", "batch_norm", "layer_norm", "embedding", "rnn", "lstm", "gru",
 * "self_attention", "transformer_block", "position_embedding", or a registered kind's name; "?" for an unknown value. */
TG_API const char *tg_layer_kind_name(tg_layer_kind kind);
/* The kind called name (built in or registered); -1 when none. */
TG_API int tg_layer_kind_find(const char *name);

/* ---- modules: one layer ------------------------------------------------ */

typedef struct tg_module tg_module;

/* ---- layer kinds: descriptors, and kinds of your own -------------------------
 * A layer kind is a descriptor: the spec fields it reads, its tensors, its
 * shape rule, its forward (made of ops), its row in tg_model_print (and the
 * label of its cluster in tg_model_dot_save), its tensors' PyTorch names, a
 * sample input and, for built-in kinds, its C export. Each built-in kind is
 * one such descriptor; register your own with tg_layer_kind_register and use
 * the kind it returns in a tg_layer_spec like a built-in: in modules and
 * tg_model, tg_train (also data-parallel: clones rebuild every layer from its
 * spec) and checkpoints (the spec text names the kind; loading a file that
 * names a kind not registered in this process fails naming it). The tutorial's "Add a layer"
 * section is a worked example (docs/examples/tutorial_add_layer.c). */

/* The tg_layer_spec fields a kind reads (tg_layer_kind_def.fields). The
 * others are zeroed when a module is made, so that spec text, comparisons and
 * prints show only what matters. */
enum {
    TG_LAYER_USES_IN = 1 << 0,         /* in, required >= 1 */
    TG_LAYER_USES_OUT = 1 << 1,        /* out, required >= 1 */
    TG_LAYER_USES_WINDOW = 1 << 2,     /* kernel >= 1, stride >= 0 (0: the kind's default), padding >= 0 */
    TG_LAYER_USES_ACT = 1 << 3,        /* act */
    TG_LAYER_USES_INIT = 1 << 4,       /* init (others: xavier, unused) */
    TG_LAYER_USES_RATE = 1 << 5,       /* rate in [0, 1) and seed */
    TG_LAYER_USES_NORM = 1 << 6,       /* eps >= 0, momentum in [0, 1] */
    TG_LAYER_USES_LAST_STATE = 1 << 7, /* last_state */
    TG_LAYER_USES_OP = 1 << 8,         /* op */
    TG_LAYER_TAKES_INDICES = 1 << 9,   /* the input may have any dtype (indices), not the layer's */
    TG_LAYER_USES_HEADS = 1 << 10,     /* heads >= 1 and causal */
    TG_LAYER_USES_TIE = 1 << 11,       /* tie: parameter 0 shared with the named earlier layer's */
};

/* A layer kind. name, shape, forward and describe are required; a built-in
 * kind defines every field but check, and pre_activation where it has an
 * activation applied last. */
typedef struct {
    const char *name;        /* spec text, prints, errors: 1 to 31 of a-z, 0-9, '_' */
    const char *short_name;  /* default names: a module's, and a model's with a count
                                ("conv": conv1, conv2); NULL: name */
    /* A model's default-name prefix when it depends on the spec (activation:
     * "relu" -> relu1). NULL: short_name. */
    const char *(*prefix)(const tg_layer_spec *spec);
    unsigned fields;         /* TG_LAYER_USES_... */
    /* Fills the kind's defaults into spec (already checked for the fields)
     * and checks its own rules: false with the reason in why. NULL: none. */
    bool (*check)(tg_layer_spec *spec, char *why, size_t size);
    /* Makes the module's tensors with tg_module_add_tensor, in a fixed order,
     * and fills them (weights by tg_init_fill_fans from rng). NULL: none. */
    tg_status (*make)(tg_module *module, tg_rng *rng);
    /* One input shape -> the output shape; an input that does not fit is
     * tg_module_shape_error (or tg_ctx_fail on tg_module_ctx). */
    tg_status (*shape)(const tg_module *module, int rank, const int64_t *shape, int *out_rank,
                       int64_t out_shape[TG_MAX_RANK]);
    /* The layer applied to x, which shape has accepted: ops only. */
    tg_tensor *(*forward)(tg_module *module, tg_tensor *x);
    /* For a kind whose forward is tg_activate(pre_activation(x), spec.act):
     * the layer without its activation. A model runs such a layer with
     * act = TG_ACT_RELU followed by a max-pool layer as pre_activation and
     * one tg_relu_max_pool2d (same values and gradients, no full-size ReLU
     * tensor). NULL: the layer always runs whole. */
    tg_tensor *(*pre_activation)(tg_module *module, tg_tensor *x);
    /* The settings column of tg_model_print ("1->6, 5x5, stride 1, pad 2,
     * relu"), also the cluster label of tg_model_dot_save. */
    void (*describe)(const tg_layer_spec *spec, char *buf, size_t size);
    /* The PyTorch state_dict name of each tensor, parameters then buffers,
     * in make's order (LSTM: "weight_ih_l0", ...). NULL: tapegrad's names. */
    const char *const *torch_names;
    /* The shape of a small batch the layer accepts (rank returned), for a
     * model with no input shape (diagrams, tests). NULL: none known. */
    int (*sample_input)(const tg_layer_spec *spec, int64_t shape[TG_MAX_RANK]);
    /* How tg_model_export_c writes the layer as C (its kernel, constants and
     * call): built-in kinds only, defined beside their forward; a registered
     * kind's is ignored. NULL: the export refuses the layer, naming it. */
    const struct tg_layer_c_export *c_export;
} tg_layer_kind_def;

/* Registers a layer kind for the whole process (layer kinds are code, not
 * data: every context, clone and loaded file sees them) and returns its kind,
 * TG_LAYER_USER or above. The definition is copied; its name and torch_names
 * must outlive the process's models. Registering the same name with the same
 * callbacks again returns the same kind. Thread-safe. -1 on error (on ctx,
 * which may be NULL): a NULL def, a missing name, shape, forward or describe,
 * a bad name, a name taken by another kind (TG_ERR_ARG), more than 64 kinds. */
TG_API int tg_layer_kind_register(tg_ctx *ctx, const tg_layer_kind_def *def);

/* The descriptor of a kind, built in or registered; NULL for an unknown value. */
TG_API const tg_layer_kind_def *tg_layer_kind_def_of(int kind);

/* For a kind's make: a tensor of the module named "<module>.<what>"
 * (requiring a gradient when param, else a buffer such as a running
 * statistic), zero-filled; NULL on error (on the module's context): more than
 * 16 parameters or 4 buffers, a bad shape, out of memory. */
TG_API tg_tensor *tg_module_add_tensor(tg_module *module, const char *what, bool param, int rank,
                                       const int64_t *shape);
/* For a kind's shape: raises TG_ERR_SHAPE "<kind> layer <name>: input has
 * shape [..]; expected <expected>" and returns it. */
TG_API tg_status tg_module_shape_error(const tg_module *module, int rank, const int64_t *shape, const char *expected);
TG_API tg_ctx *tg_module_ctx(const tg_module *module);     /* NULL for NULL */
TG_API tg_dtype tg_module_dtype(const tg_module *module);  /* TG_F32 for NULL */
TG_API bool tg_module_training(const tg_module *module);   /* false for NULL */
/* The module's own random stream (dropout masks; reseeded by tg_model_reseed). NULL for NULL. */
TG_API tg_rng *tg_module_rng(tg_module *module);
/* The PyTorch state_dict name of tensor i (parameters then buffers) of the
 * module: "weight", "bias_hh_l0", "running_var". In nn.Sequential the key is
 * "<layer index>.<this>". NULL for NULL or i out of range. */
TG_API const char *tg_module_torch_name(const tg_module *module, int i);

/* A layer made from spec: weights by spec->init from rng, biases and β zero, γ
 * one, running mean 0 and variance 1; an LSTM's forget-gate bias is 1. Named
 * spec->name, or the kind's short name ("conv", "lstm", ...). The context
 * owns the module: tg_ctx_free frees it if tg_module_free did not. NULL on
 * error (on ctx): NULL spec or rng, an unknown kind, activation or init, a
 * size that the kind needs < 1, a rate outside [0, 1), eps or momentum < 0,
 * an activation op not registered in ctx or not of one input (TG_ERR_ARG),
 * out of memory. */
TG_API tg_module *tg_module_new(tg_ctx *ctx, tg_dtype dtype, const tg_layer_spec *spec, tg_rng *rng);
/* Frees the module and its tensors (and takes it off its context's list).
 * NULL is fine. A module of a model is freed by tg_model_free. */
TG_API void tg_module_free(tg_module *module);
/* The layer applied to x (a step tensor). Errors (TG_ERR_SHAPE, naming the
 * layer, x's shape and what was expected): conv or pool input not rank 4,
 * channels or features that differ from spec in, a window larger than the
 * padded input, a recurrent sequence not [B, T, in]; an embedding index
 * outside [0, in) (TG_ERR_ARG). NULL x: NULL. */
TG_API tg_tensor *tg_module_forward(tg_module *module, tg_tensor *x);
/* The trained tensors (a view, valid while the module lives); count 0 for NULL. */
TG_API tg_params tg_module_params(const tg_module *module);
/* The running statistics (batch norm); count 0 for other kinds and NULL. */
TG_API tg_params tg_module_buffers(const tg_module *module);
/* Training mode (the default) or eval mode. */
TG_API void tg_module_set_training(tg_module *module, bool training);
/* The spec with defaults filled in and the name the module has; NULL for NULL. */
TG_API const tg_layer_spec *tg_module_spec(const tg_module *module);

/* ---- recurrent cells -------------------------------------------------------
 * The state after one step of an RNN, LSTM or GRU module for x [B, in] and
 * the state h [B, out] (NULL: zeros); c [B, out] is the LSTM's cell state
 * (NULL: zeros) and *c_next (may be NULL) gets the new one (NULL for the
 * others). Errors: not a recurrent module (TG_ERR_ARG), shapes that do not fit
 * (TG_ERR_SHAPE, naming the layer); NULL cell or x: NULL. */
TG_API tg_tensor *tg_recurrent_step(tg_module *cell, tg_tensor *x, tg_tensor *h, tg_tensor *c, tg_tensor **c_next);
/* The cell unrolled over a time-major seq [T, B, in] (unlike the layer in a
 * model, which reads batch-first [B, T, in]) from h0, c0 (NULL: zeros): every
 * step's h stacked -> [T, B, out]; *h_last and *c_last (may be NULL) get the
 * final state. Errors as tg_recurrent_step; a seq that is not rank 3 is
 * TG_ERR_SHAPE naming the layer and the shape. */
TG_API tg_tensor *tg_recurrent_unroll(tg_module *cell, tg_tensor *seq, tg_tensor *h0, tg_tensor *c0, tg_tensor **h_last,
                               tg_tensor **c_last);

/* ---- sequential models --------------------------------------------------- */

typedef struct tg_model tg_model;

/* The layers in order, each from its spec (unnamed ones named by kind and
 * count: conv1, pool1, conv2, ..., dense1, ...). The context owns the model
 * (tg_ctx_free frees it if tg_model_free did not). input_shape (input_rank dims,
 * no batch axis; rank 0 and NULL: none) is one sample's shape: a flat batch
 * [n, Π input_shape] is reshaped to [n, input_shape...], and the shapes of all
 * layers are checked at construction. NULL on error: the first layer that
 * tg_module_new refuses, or whose input shape does not fit (TG_ERR_SHAPE naming
 * it), n_layers < 1, two layers with one name (TG_ERR_ARG). */
TG_API tg_model *tg_model_new(tg_ctx *ctx, tg_dtype dtype, int input_rank, const int64_t *input_shape, int n_layers,
                       const tg_layer_spec *layers, tg_rng *rng);
/* Frees the model, its modules and tensors (and takes it off its context's
 * list). NULL is fine. */
TG_API void tg_model_free(tg_model *model);
/* The layers applied in order; errors as tg_module_forward. */
TG_API tg_tensor *tg_model_forward(tg_model *model, tg_tensor *x);
/* All parameters, layer by layer (a view, valid while the model lives).
 * These accessors give count 0, 0, TG_F32, NULL or false for a NULL model. */
TG_API tg_params tg_model_params(const tg_model *model);
/* All buffers (running statistics), layer by layer. */
TG_API tg_params tg_model_buffers(const tg_model *model);
/* Parameters then buffers: what a checkpoint holds. */
TG_API tg_params tg_model_tensors(const tg_model *model);
TG_API int64_t tg_model_param_count(const tg_model *model); /* scalars in the parameters */
TG_API int tg_model_depth(const tg_model *model);           /* number of layers */
TG_API tg_module *tg_model_module(const tg_model *model, int index); /* 0-based; NULL when out of range */
/* The module called name; NULL when none. */
TG_API tg_module *tg_model_find(const tg_model *model, const char *name);
TG_API tg_dtype tg_model_dtype(const tg_model *model);
TG_API tg_ctx *tg_model_ctx(const tg_model *model);
/* One sample's input shape (rank 0: none given). */
TG_API int tg_model_input_shape(const tg_model *model, int64_t shape[TG_MAX_RANK]); /* 0 for NULL model */
/* Training or eval mode for every layer. */
TG_API void tg_model_set_training(tg_model *model, bool training);
TG_API bool tg_model_training(const tg_model *model);
/* Gives every dropout layer a mask stream of its own, derived from its
 * current one and stream (e.g. a data-parallel worker's index), so that
 * clones reseeded with different streams draw different masks, the same on
 * every run. NULL is fine. */
TG_API void tg_model_reseed(tg_model *model, uint64_t stream);
/* A table: one row per layer (name, kind, its settings, output shape when the
 * input shape is known, parameter shapes and count) and the totals. out NULL
 * means stdout; a NULL model prints nothing. */
TG_API void tg_model_print(const tg_model *model, FILE *out);
/* A copy in ctx (the same or another context): the same specs, names, mode,
 * values and dropout streams, no gradients. NULL when model or ctx is NULL or on error. */
TG_API tg_model *tg_model_clone(const tg_model *model, tg_ctx *ctx);

/* Adapters of the functions above for tg_train_config's callbacks (forward,
 * clone, free_model, params_of, buffers_of, reseed, set_training, which
 * returns the mode the model had): model is a tg_model. */
TG_API tg_tensor *tg_model_forward_fn(void *model, tg_tensor *x);
TG_API void *tg_model_clone_fn(const void *model, tg_ctx *ctx);
TG_API void tg_model_free_fn(void *model);
TG_API tg_params tg_model_params_fn(const void *model);
TG_API tg_params tg_model_buffers_fn(const void *model);
TG_API void tg_model_reseed_fn(void *model, int worker);
TG_API bool tg_model_set_training_fn(void *model, bool training); /* the mode it had; false for NULL */

/* Runs x through the model (recording, whatever the grad mode) and writes the
 * tape to path as dot with one cluster per layer, named by the layer (opts may
 * be NULL; its group settings are replaced; values hidden unless
 * opts->max_values says otherwise). The step tensors stay until tg_tape_reset.
 * Errors: TG_ERR_ARG for a NULL model or x; those of tg_model_forward and
 * tg_dot_save. */
TG_API tg_status tg_model_dot_save(tg_model *model, tg_tensor *x, const char *path, const tg_dot_options *opts);

/* ---- specs as text and self-describing checkpoints -------------------------
 * The spec text is line-based: "tapegrad-model 1", "dtype f32", "input 1 28 28",
 * then one "layer <kind> name=<name> in=.. out=.. kernel=.. stride=.. padding=..
 * act=.. init=.. rate=.. eps=.. momentum=.. seed=.." line per layer, ending in
 * " last_state=1" for a recurrent layer that outputs its last state only,
 * " op=<name>" for an activation by a user op, " heads=<H> causal=<0|1>" for
 * attention and transformer blocks and " tie=<layer>" for a tied weight.
 * <kind> is the kind's name, a registered kind's too. */

/* The model's spec as text (malloc'd, the caller frees); NULL on error or for
 * a NULL model. */
TG_API char *tg_model_spec_text(const tg_model *model);
/* A new model in ctx built from spec text (weights by rng; NULL rng: seed 1).
 * NULL on error: TG_ERR_FORMAT naming the line that cannot be read (a kind
 * neither built in nor registered is named), or the errors of tg_model_new. */
TG_API tg_model *tg_model_from_spec_text(tg_ctx *ctx, const char *text, tg_rng *rng);
/* The first difference between two models' architectures ("layer 3 (conv2):
 * out is 16 in a, 32 in b") written into buf; false when they are the same
 * and for NULL arguments or size 0. */
TG_API bool tg_model_spec_diff(const tg_model *a, const tg_model *b, char *buf, size_t size);

/* Saves the model's spec, its parameters and buffers (and opt's state when
 * opt is not NULL) and epoch atomically to path (checkpoint format version 2
 * with a spec block; see checkpoint.h). Errors as tg_checkpoint_save; TG_ERR_ARG
 * for a NULL model. */
TG_API tg_status tg_model_save(const tg_model *model, const char *path, const tg_optimizer *opt, int64_t epoch);
/* A new model in ctx from a checkpoint with a spec (no code that built it
 * needed); *epoch (may be NULL) gets the epoch saved. NULL on error: the
 * errors of tg_checkpoint_load, a file without a spec (TG_ERR_FORMAT). */
TG_API tg_model *tg_model_load(tg_ctx *ctx, const char *path, int64_t *epoch);
/* Loads a checkpoint into an existing model (and opt, when not NULL).
 * Errors: a file whose spec describes another architecture (TG_ERR_FORMAT
 * naming the first difference; nothing is written), the errors of
 * tg_checkpoint_load; TG_ERR_ARG for a NULL model. A file without a spec
 * loads when its tensors match. */
TG_API tg_status tg_model_load_into(tg_model *model, const char *path, tg_optimizer *opt, int64_t *epoch);

/* ---- PyTorch's names and safetensors files ---------------------------------
 * A model's tensors under the state_dict names of the equivalent
 * torch.nn.Sequential, so that PyTorch's load_state_dict(strict=True) takes
 * tapegrad's file and tapegrad takes PyTorch's. PyTorch numbers a
 * Sequential's modules, and a dense or conv layer with an activation is two
 * of them (Linear, then ReLU): LeNet's tensors are "0.weight", "0.bias",
 * "3.weight", ..., "11.bias". A layer the user named (tg_layer_spec.name)
 * keeps its name instead ("conv1.weight"), as a Sequential built from an
 * OrderedDict. The tensor's part is the kind's torch_names: "weight",
 * "bias", "running_mean", "running_var" (batch norm also has PyTorch's
 * "num_batches_tracked", an I64 scalar saved as 0 and checked, not read, on
 * loading), and for RNN, LSTM and GRU "weight_ih_l0", "weight_hh_l0",
 * "bias_ih_l0", "bias_hh_l0" with PyTorch's layout and gate order (LSTM i,
 * f, g, o; GRU r, z, n), so they copy over unchanged. */

/* The PyTorch name of tensor i of tg_model_tensors (parameters of every
 * layer, then buffers) written into buf: "3.weight"; NULL for NULL
 * arguments, size 0 or i out of range. */
TG_API const char *tg_model_torch_name(const tg_model *model, int i, char *buf, size_t size);

/* Writes the model's tensors to path as a safetensors file (f32 models as
 * F32, f64 as F64) under PyTorch's names, layer by layer in state_dict order,
 * with the metadata {"format": "pt", "tapegrad_model": <spec text>}. Errors:
 * TG_ERR_ARG (NULL model or path), those of tg_safetensors_save. */
TG_API tg_status tg_model_save_safetensors(const tg_model *model, const char *path);

/* Maps a model tensor's PyTorch name ("3.weight") to the name of its entry in
 * a file of another layout ("features.3.weight"), or NULL to leave that
 * tensor as it is. The string returned must stay valid until the next call. */
typedef const char *(*tg_torch_name_fn)(const char *torch_name, void *user);

/* Loads a safetensors file into the model, all or nothing: every tensor's
 * entry (its PyTorch name, or map's, called with user) is checked for name,
 * shape and dtype (F32, F64, BF16 or F16, converted to the model's dtype)
 * before a value is read, and the model is written only when every value
 * has been read. Without a map the file must hold the model's tensors and
 * nothing else (PyTorch's strict=True; num_batches_tracked is allowed); with
 * one, entries no tensor maps to are ignored. Errors (the model untouched):
 * TG_ERR_ARG (NULL model or path, a mapped name too long), TG_ERR_FORMAT
 * naming the file, the entry, the model's tensor and layer and both shapes
 * and dtypes ("entry \"3.weight\" is F32 [16, 6, 5, 5] in the file; the model's
 * 3.weight (layer conv2) is f32 [16, 6, 3, 3]"), a missing entry (listing the
 * file's), an entry of the file that is no tensor of the model; the errors
 * of tg_safetensors_open and tg_safetensors_load. */
TG_API tg_status tg_model_load_safetensors(tg_model *model, const char *path, tg_torch_name_fn map, void *user);

/* ---- export as C -----------------------------------------------------------
 * tg_model_export_c(model, "lenet", dir) writes dir/lenet.h and dir/lenet.c:
 * one function
 *     int lenet_forward(const float *in, float *out);
 * that runs one sample (the model's input shape, flat, row-major) through
 * the model in eval mode and writes its output (flat) to out, returning 0
 * (-1 when an embedding index is not a whole number in range). The weights
 * are const arrays, the scratch buffers static (so the function is not
 * reentrant), batch norm is folded into a per-channel scale and shift,
 * dropout is gone; the file needs no tapegrad, no malloc, only <math.h>, and
 * compiles as C99 with -Wall -Wextra -Werror. lenet.h defines
 * LENET_INPUT_SIZE and LENET_OUTPUT_SIZE. Computation is in float (an f64
 * model is exported as float). Every built-in layer kind is covered except
 * an activation layer by a user op; kinds of one's own are refused. */

/* Writes dir/<name>.h and dir/<name>.c (name: a C identifier of at most 64
 * bytes). Errors (nothing written): TG_ERR_ARG (NULL model, name or dir, a
 * name that is no C identifier, a model without an input shape),
 * TG_ERR_ARG listing every layer that cannot be exported ("layers 2 (op
 * swish1: activation by the user op swish), 4 (mine1: kind mine)"),
 * TG_ERR_IO (cannot write), TG_ERR_NOMEM. */
TG_API tg_status tg_model_export_c(const tg_model *model, const char *name, const char *dir);
/* The same with the weights of dense, conv and recurrent layers as int8 with
 * one float scale per output row or channel (w ≈ scale·q, q in [-127, 127],
 * scale = max|w|/127), a quarter of the size; the activations stay float. */
TG_API tg_status tg_model_export_c_int8(const tg_model *model, const char *name, const char *dir);

#ifdef __cplusplus
}
#endif
#endif
