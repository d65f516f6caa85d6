/* The self_attention layer kind: multi-head self-attention of a sequence
 * x [B, T, d] with H heads of size d/H (PyTorch's nn.MultiheadAttention with
 * batch_first=True and q = k = v = x: "in_proj_weight" [3d, d],
 * "in_proj_bias" [3d], "out_proj.weight" [d, d], "out_proj.bias" [d]):
 *
 *   Q|K|V = x·W_qkvᵀ + b_qkv                       [B, T, 3d]; Q_h: columns h·d/H .. (h+1)·d/H of Q
 *   Y_h   = softmax(Q_h·K_hᵀ/√(d/H) + M)·V_h       M: causal mask or none; dropout on the weights
 *   y     = concat_h(Y_h)·W_oᵀ + b_o               [B, T, d]
 *
 * tg_attention_of_qkv is the one attention after the Q|K|V projection: this
 * kind (a dense projection first) and the transformer block (a layer norm
 * fused into it) use it, on one row per position, so that the projections are
 * plain 2-D products. The heads are read out of the
 * packed Q|K|V and written side by side by tg_multi_head_attention: no
 * weight slices and no head-splitting copies, forward or backward. */
#include "nn/layers/module_internal.h"

#include <string.h>

tg_tensor *tg_attention_of_qkv(tg_module *m, tg_tensor *qkv, int64_t b, int64_t t, tg_tensor *w_out, tg_tensor *b_out)
{
    double dropout = m->training ? m->spec.rate : 0;
    int64_t d = tg_tensor_dim(w_out, 0);
    tg_tensor *y = tg_multi_head_attention(tg_reshape(qkv, TG_SHAPE(b, t, 3 * d)), m->spec.heads, NULL,
                                           m->spec.causal, dropout, &m->rng);       /* the reshape is a view */
    return tg_dense_affine(tg_reshape(y, TG_SHAPE(b * t, d)), w_out, b_out); /* [B·T, d] */
}

tg_status tg_sequence_shape(const tg_module *m, int rank, const int64_t *shape)
{
    if (rank != 3 || shape[2] != m->spec.in) {
        char want[96];
        snprintf(want, sizeof want, "[B, T, %lld] (a batch of sequences of in = %lld features)",
                 (long long)m->spec.in, (long long)m->spec.in);
        return tg_module_shape_error(m, rank, shape, want);
    }
    return TG_OK;
}

/* heads must divide d: each head reads d/H features. */
bool tg_heads_check(tg_layer_spec *s, char *why, size_t size)
{
    if (s->in % s->heads != 0)
        return snprintf(why, size, "heads = %d does not divide in (d_model) = %lld; expected a divisor of %lld",
                        s->heads, (long long)s->in, (long long)s->in), false;
    return true;
}

static tg_status attention_make(tg_module *m, tg_rng *rng)
{
    int64_t d = m->spec.in;
    tg_tensor *w_qkv = tg_module_add_tensor(m, "in_proj_weight", true, TG_SHAPE(3 * d, d));
    tg_tensor *b_qkv = tg_module_add_tensor(m, "in_proj_bias", true, TG_SHAPE(3 * d));
    tg_tensor *w_out = tg_module_add_tensor(m, "out_proj.weight", true, TG_SHAPE(d, d));
    if (!w_qkv || !b_qkv || !w_out || !tg_module_add_tensor(m, "out_proj.bias", true, TG_SHAPE(d)))
        return TG_ERR_NOMEM;
    tg_status status = tg_init_fill_fans(w_qkv, m->spec.init, (double)d, (double)d, 0.02, rng);
    return status != TG_OK ? status : tg_init_fill_fans(w_out, m->spec.init, (double)d, (double)d, 0.02, rng);
}

static tg_status attention_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                                 int64_t out_shape[TG_MAX_RANK])
{
    (void)out_rank, (void)out_shape; /* [B, T, d] -> [B, T, d] */
    return tg_sequence_shape(m, rank, shape);
}

static tg_tensor *attention_forward(tg_module *m, tg_tensor *x)
{
    int64_t b = tg_tensor_dim(x, 0), t = tg_tensor_dim(x, 1), d = tg_tensor_dim(x, 2);
    tg_tensor *qkv = tg_dense_affine(tg_reshape(x, TG_SHAPE(b * t, d)), m->params[0], m->params[1]);
    return tg_reshape(tg_attention_of_qkv(m, qkv, b, t, m->params[2], m->params[3]), TG_SHAPE(b, t, d));
}

static void attention_describe(const tg_layer_spec *s, char *buf, size_t size)
{
    snprintf(buf, size, "d %lld, %d heads%s%s", (long long)s->in, s->heads, s->causal ? ", causal" : "",
             s->rate > 0 ? ", dropout" : "");
}

int tg_sequence_sample(const tg_layer_spec *s, int64_t shape[TG_MAX_RANK])
{
    shape[0] = 2, shape[1] = 3, shape[2] = s->in;
    return 3;
}

const tg_layer_kind_def tg_layer_kind_self_attention = {
    .name = "self_attention",
    .short_name = "attn",
    .fields = TG_LAYER_USES_IN | TG_LAYER_USES_HEADS | TG_LAYER_USES_RATE | TG_LAYER_USES_INIT,
    .check = tg_heads_check,
    .make = attention_make,
    .shape = attention_shape,
    .forward = attention_forward,
    .describe = attention_describe,
    .torch_names = (const char *const[]){"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"},
    .sample_input = tg_sequence_sample,
};
