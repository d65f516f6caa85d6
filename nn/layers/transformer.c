/* The transformer_block layer kind, pre-LN as GPT-2 and minGPT, on x [B, T, d]:
 *   x ← x + dropout(attention(LN₁(x)))
 *   x ← x + dropout(W₂·gelu(W₁·LN₂(x) + b₁) + b₂)
 * with LN a layer norm (eps), the MLP's hidden size out, and the attention of
 * attention.c. Tensors named as minGPT's Block (its nn.Linear weights are
 * [out, in] like ours). */
#include "nn/layers/module_internal.h"

enum { LN1_W, LN1_B, QKV_W, QKV_B, OUT_W, OUT_B, LN2_W, LN2_B, FC_W, FC_B, PROJ_W, PROJ_B, BLOCK_TENSORS };

static const char *const block_names[] = {
    "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
    "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight",    "mlp.c_fc.bias",    "mlp.c_proj.weight",  "mlp.c_proj.bias",
};

static bool block_check(tg_layer_spec *s, char *why, size_t size)
{
    if (s->eps == 0)
        s->eps = 1e-5;
    s->momentum = 0; /* layer norms: no running statistics */
    return tg_heads_check(s, why, size);
}

static tg_status block_make(tg_module *m, tg_rng *rng)
{
    int64_t d = m->spec.in, hidden = m->spec.out;
    const int64_t shapes[BLOCK_TENSORS][2] = {
        [LN1_W] = {d},      [LN1_B] = {d},     [QKV_W] = {3 * d, d}, [QKV_B] = {3 * d},
        [OUT_W] = {d, d},   [OUT_B] = {d},     [LN2_W] = {d},        [LN2_B] = {d},
        [FC_W] = {hidden, d}, [FC_B] = {hidden}, [PROJ_W] = {d, hidden}, [PROJ_B] = {d},
    };
    for (int i = 0; i < BLOCK_TENSORS; i++) {
        tg_tensor *t = tg_module_add_tensor(m, block_names[i], true, shapes[i][1] ? 2 : 1, shapes[i]);
        if (!t)
            return TG_ERR_NOMEM;
        tg_status status = TG_OK;
        if (i == LN1_W || i == LN2_W)
            tg_tensor_fill(t, 1); /* γ = 1, β = 0 */
        else if (shapes[i][1])    /* weights [out, in] */
            status = tg_init_fill_fans(t, m->spec.init, (double)shapes[i][1], (double)shapes[i][0], 0.02, rng);
        if (status != TG_OK)
            return status;
    }
    return TG_OK;
}

static tg_status block_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                             int64_t out_shape[TG_MAX_RANK])
{
    (void)out_rank, (void)out_shape;
    return tg_sequence_shape(m, rank, shape);
}

/* x + attention(LN₁(x)), then + MLP(LN₂(x)), on one row per position [B·T, d]. */
static tg_tensor *block_forward(tg_module *m, tg_tensor *x)
{
    tg_tensor *const *w = m->params;
    double eps = m->spec.eps;
    int64_t b = tg_tensor_dim(x, 0), t = tg_tensor_dim(x, 1), d = tg_tensor_dim(x, 2);
    tg_tensor *h = tg_reshape(x, TG_SHAPE(b * t, d));
    tg_tensor *qkv = tg_layer_norm_linear(h, w[LN1_W], w[LN1_B], eps, w[QKV_W], w[QKV_B]); /* LN₁(x) not kept */
    tg_tensor *attended = tg_attention_of_qkv(m, qkv, b, t, w[OUT_W], w[OUT_B]);
    h = tg_add(h, tg_module_dropout(m, attended));
    /* the MLP's hidden layer before GELU; the fused ops keep neither LN₂(x) nor gelu(hidden) */
    tg_tensor *hidden = tg_layer_norm_linear(h, w[LN2_W], w[LN2_B], eps, w[FC_W], w[FC_B]);
    h = tg_add(h, tg_module_dropout(m, tg_gelu_linear(hidden, w[PROJ_W], w[PROJ_B])));
    return tg_reshape(h, TG_SHAPE(b, t, d));
}

static void block_describe(const tg_layer_spec *s, char *buf, size_t size)
{
    snprintf(buf, size, "d %lld, %d heads, mlp %lld%s", (long long)s->in, s->heads, (long long)s->out,
             s->causal ? ", causal" : "");
}

const tg_layer_kind_def tg_layer_kind_transformer_block = {
    .name = "transformer_block",
    .short_name = "block",
    .fields = TG_LAYER_USES_IN | TG_LAYER_USES_OUT | TG_LAYER_USES_HEADS | TG_LAYER_USES_RATE |
              TG_LAYER_USES_NORM | TG_LAYER_USES_INIT,
    .check = block_check,
    .make = block_make,
    .shape = block_shape,
    .forward = block_forward,
    .describe = block_describe,
    .torch_names = block_names,
    .sample_input = tg_sequence_sample,
};
