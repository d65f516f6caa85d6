/* Dense layers and MLPs: a = f(x·Wᵀ + b), built from public ops only, so the
 * tape gives every gradient. Parameters are persistent tensors owned here. */
#include "tapegrad/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct tg_layer {
    tg_ctx *ctx;
    tg_tensor *params[2]; /* W [out, in], b [out] */
    tg_activation act;
    int64_t in, out;
};

struct tg_mlp {
    tg_ctx *ctx;
    int n_layers;
    tg_layer **layers;  /* [n_layers] */
    tg_tensor **params; /* [2·n_layers]: W1, b1, W2, b2, ... */
};

/* ---- parameter lists ---- */

int64_t tg_params_count(tg_params params)
{
    if (params.count > 0 && !params.items)
        return -1;
    int64_t total = 0;
    for (int i = 0; i < params.count; i++)
        if (params.items[i])
            total += tg_tensor_size(params.items[i]);
    return total;
}

void tg_params_zero_grad(tg_params params)
{
    if (!params.items)
        return;
    for (int i = 0; i < params.count; i++)
        if (params.items[i])
            tg_tensor_zero_grad(params.items[i]);
}

/* ---- activations ---- */

static bool activation_ok(tg_activation act) { return act >= TG_ACT_NONE && act <= TG_ACT_GELU_TANH; }
static bool init_ok(tg_init init) { return init >= TG_INIT_XAVIER && init <= TG_INIT_NORMAL; }

const char *tg_activation_name(tg_activation act)
{
    static const char *names[] = {"none", "sigmoid", "tanh", "relu", "leaky_relu",
                                  "elu", "softplus", "silu", "gelu", "gelu_tanh"};
    return activation_ok(act) ? names[act] : "?";
}

tg_tensor *tg_activate(tg_tensor *x, tg_activation act)
{
    if (!x)
        return NULL;
    switch (act) {
    case TG_ACT_NONE: return x;
    case TG_ACT_SIGMOID: return tg_sigmoid(x);
    case TG_ACT_TANH: return tg_tanh(x);
    case TG_ACT_RELU: return tg_relu(x);
    case TG_ACT_LEAKY_RELU: return tg_leaky_relu(x, 0.01);
    case TG_ACT_ELU: return tg_elu(x, 1);
    case TG_ACT_SOFTPLUS: return tg_softplus(x);
    case TG_ACT_SILU: return tg_silu(x);
    case TG_ACT_GELU: return tg_gelu(x);
    case TG_ACT_GELU_TANH: return tg_gelu_tanh(x);
    }
    tg_ctx_fail(tg_tensor_ctx(x), TG_ERR_ARG, "tg_activate: unknown activation %d; expected a TG_ACT_ value",
                (int)act);
    return NULL;
}

/* ---- initializers ---- */

const char *tg_init_name(tg_init init)
{
    static const char *names[] = {"xavier", "he", "zeros", "normal"};
    return init_ok(init) ? names[init] : "?";
}

tg_status tg_init_fill(tg_tensor *w, tg_init init, double stddev, tg_rng *rng)
{
    if (!w)
        return TG_ERR_ARG;
    tg_ctx *ctx = tg_tensor_ctx(w);
    if (!rng && init != TG_INIT_ZEROS) /* zeros need no randomness */
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_init_fill: rng is NULL");
    int rank = tg_tensor_rank(w);
    if (rank < 1 || rank > 2) {
        char buf[64];
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "tg_init_fill: tensor has shape %s; expected [out, in] or [n]",
                           tg_shape_str(rank, tg_tensor_shape(w), buf, sizeof buf));
    }
    if (!init_ok(init))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_init_fill: unknown init %d; expected a TG_INIT_ value", (int)init);
    if (!(stddev >= 0))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_init_fill: stddev is %g; expected >= 0", stddev);
    double fan_out = rank == 2 ? (double)tg_tensor_dim(w, 0) : 1;
    double fan_in = (double)tg_tensor_dim(w, -1);
    double limit = sqrt(6.0 / (fan_in + fan_out)); /* Glorot: Var = a²/3 = 2/(in + out) */
    double he_std = sqrt(2.0 / fan_in);            /* He: Var = 2/in */
    for (int64_t i = 0, n = tg_tensor_size(w); i < n; i++) {
        double v = 0;
        switch (init) {
        case TG_INIT_XAVIER: v = limit * (2 * tg_rng_uniform(rng) - 1); break;
        case TG_INIT_HE: v = he_std * tg_rng_normal(rng); break;
        case TG_INIT_ZEROS: v = 0; break;
        case TG_INIT_NORMAL: v = stddev * tg_rng_normal(rng); break;
        }
        tg_tensor_set(w, i, v);
    }
    return TG_OK;
}

/* ---- dense layer ---- */

static tg_layer *layer_make(tg_ctx *ctx, const char *who, tg_dtype dtype, int64_t in, int64_t out,
                            tg_activation act, tg_init init, tg_rng *rng, const char *prefix)
{
    if (!ctx)
        return NULL;
    if (in < 1 || out < 1)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: in = %lld, out = %lld; expected both >= 1", who, (long long)in,
                           (long long)out), NULL;
    if (!activation_ok(act))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: unknown activation %d", who, (int)act), NULL;
    if (!init_ok(init))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: unknown init %d", who, (int)init), NULL;
    if (!rng && init != TG_INIT_ZEROS)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: rng is NULL (only TG_INIT_ZEROS needs none)", who), NULL;
    tg_layer *layer = calloc(1, sizeof *layer);
    if (!layer)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: out of memory", who), NULL;
    *layer = (tg_layer){.ctx = ctx, .act = act, .in = in, .out = out};
    layer->params[0] = tg_tensor_new(ctx, dtype, TG_SHAPE(out, in));
    layer->params[1] = tg_tensor_new(ctx, dtype, TG_SHAPE(out));
    if (!layer->params[0] || !layer->params[1] || tg_init_fill(layer->params[0], init, 1.0, rng) != TG_OK) {
        tg_layer_free(layer);
        return NULL;
    }
    char name[64];
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, i == 0 ? "weight" : "bias");
        tg_tensor_set_name(layer->params[i], name);
        tg_tensor_set_requires_grad(layer->params[i], true);
    }
    return layer;
}

tg_layer *tg_layer_new(tg_ctx *ctx, tg_dtype dtype, int64_t in, int64_t out, tg_activation act, tg_init init,
                       tg_rng *rng)
{
    return layer_make(ctx, "tg_layer_new", dtype, in, out, act, init, rng, "");
}

void tg_layer_free(tg_layer *layer)
{
    if (!layer)
        return;
    tg_tensor_free(layer->params[0]);
    tg_tensor_free(layer->params[1]);
    free(layer);
}

tg_tensor *tg_layer_linear(tg_layer *layer, tg_tensor *x)
{
    if (!layer || !x)
        return NULL;
    if (tg_tensor_rank(x) != 2 || tg_tensor_dim(x, 1) != layer->in) {
        char buf[64];
        const char *name = tg_tensor_name(layer->params[0]);
        return tg_ctx_fail(layer->ctx, TG_ERR_SHAPE, "tg_layer_forward: %s [%lld, %lld] given x %s; expected [n, %lld]",
                           name ? name : "weight", (long long)layer->out, (long long)layer->in,
                           tg_shape_str(tg_tensor_rank(x), tg_tensor_shape(x), buf, sizeof buf),
                           (long long)layer->in), NULL;
    }
    /* z [n, out] = x [n, in] · Wᵀ [in, out] + b [out] (broadcast over rows) */
    return tg_add(tg_matmul_t(x, layer->params[0], false, true), layer->params[1]);
}

tg_tensor *tg_layer_forward(tg_layer *layer, tg_tensor *x)
{
    return layer ? tg_activate(tg_layer_linear(layer, x), layer->act) : NULL;
}

/* Accessors given NULL: NULL, (tg_activation)-1, -1, an empty list. */
tg_tensor *tg_layer_weight(const tg_layer *layer) { return layer ? layer->params[0] : NULL; }
tg_tensor *tg_layer_bias(const tg_layer *layer) { return layer ? layer->params[1] : NULL; }
tg_activation tg_layer_activation(const tg_layer *layer) { return layer ? layer->act : (tg_activation)-1; }
int64_t tg_layer_in(const tg_layer *layer) { return layer ? layer->in : -1; }
int64_t tg_layer_out(const tg_layer *layer) { return layer ? layer->out : -1; }

tg_params tg_layer_params(const tg_layer *layer)
{
    return layer ? (tg_params){2, (tg_tensor **)layer->params} : (tg_params){0, NULL};
}

/* ---- multi-layer perceptron ---- */

tg_mlp *tg_mlp_new(tg_ctx *ctx, tg_dtype dtype, int n_layers, const int64_t *widths, const tg_activation *acts,
                   tg_init init, tg_rng *rng)
{
    if (!ctx)
        return NULL;
    if (n_layers < 1 || !widths || !acts)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_mlp_new: n_layers = %d, widths %s, acts %s; expected n_layers >= 1 "
                           "and both arrays", n_layers, widths ? "given" : "NULL", acts ? "given" : "NULL"), NULL;
    tg_mlp *mlp = calloc(1, sizeof *mlp);
    if (!mlp)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_mlp_new: out of memory"), NULL;
    mlp->ctx = ctx;
    mlp->layers = calloc((size_t)n_layers, sizeof *mlp->layers);
    mlp->params = calloc((size_t)n_layers * 2, sizeof *mlp->params);
    if (!mlp->layers || !mlp->params) {
        tg_mlp_free(mlp);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_mlp_new: out of memory"), NULL;
    }
    for (int l = 0; l < n_layers; l++) {
        char who[48], prefix[32];
        snprintf(who, sizeof who, "tg_mlp_new (layer %d)", l + 1);
        snprintf(prefix, sizeof prefix, "layer%d.", l + 1);
        tg_layer *layer = layer_make(ctx, who, dtype, widths[l], widths[l + 1], acts[l], init, rng, prefix);
        if (!layer) {
            tg_mlp_free(mlp);
            return NULL;
        }
        mlp->layers[mlp->n_layers++] = layer;
        mlp->params[2 * l] = layer->params[0];
        mlp->params[2 * l + 1] = layer->params[1];
    }
    return mlp;
}

tg_mlp *tg_mlp_clone(const tg_mlp *mlp, tg_ctx *ctx)
{
    if (!mlp || !ctx)
        return NULL;
    int n = mlp->n_layers;
    int64_t widths[n + 1];
    tg_activation acts[n];
    widths[0] = mlp->layers[0]->in;
    for (int l = 0; l < n; l++) {
        widths[l + 1] = mlp->layers[l]->out;
        acts[l] = mlp->layers[l]->act;
    }
    /* zeros need no rng; the values are copied below */
    tg_mlp *copy = tg_mlp_new(ctx, tg_tensor_dtype(mlp->params[0]), n, widths, acts, TG_INIT_ZEROS, NULL);
    for (int i = 0; copy && i < 2 * n; i++)
        if (tg_tensor_copy(copy->params[i], mlp->params[i]) != TG_OK) {
            tg_mlp_free(copy);
            return NULL;
        }
    return copy;
}

void tg_mlp_free(tg_mlp *mlp)
{
    if (!mlp)
        return;
    for (int l = 0; l < mlp->n_layers; l++)
        tg_layer_free(mlp->layers[l]);
    free(mlp->layers);
    free(mlp->params);
    free(mlp);
}

tg_status tg_mlp_init(tg_mlp *mlp, tg_init init, double stddev, tg_rng *rng)
{
    if (!mlp)
        return TG_ERR_ARG;
    for (int l = 0; l < mlp->n_layers; l++) {
        tg_status status = tg_init_fill(mlp->layers[l]->params[0], init, stddev, rng);
        if (status != TG_OK)
            return status;
        tg_tensor_fill(mlp->layers[l]->params[1], 0);
    }
    return TG_OK;
}

tg_tensor *tg_mlp_forward(tg_mlp *mlp, tg_tensor *x)
{
    if (!mlp)
        return NULL;
    tg_tensor *a = x; /* a⁽⁰⁾ = x; a⁽ˡ⁾ = f(a⁽ˡ⁻¹⁾·Wᵀ + b) */
    for (int l = 0; l < mlp->n_layers && a; l++)
        a = tg_layer_forward(mlp->layers[l], a);
    return a;
}

int tg_mlp_depth(const tg_mlp *mlp) { return mlp ? mlp->n_layers : -1; }

tg_layer *tg_mlp_layer(const tg_mlp *mlp, int index)
{
    return mlp && index >= 0 && index < mlp->n_layers ? mlp->layers[index] : NULL;
}

tg_params tg_mlp_params(const tg_mlp *mlp)
{
    return mlp ? (tg_params){2 * mlp->n_layers, mlp->params} : (tg_params){0, NULL};
}

int64_t tg_mlp_param_count(const tg_mlp *mlp) { return mlp ? tg_params_count(tg_mlp_params(mlp)) : -1; }

/* 235146 -> "235,146" */
static const char *with_commas(int64_t n, char *buf, size_t size)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", (long long)n);
    size_t j = 0;
    for (int i = 0; i < len && j + 1 < size; i++) {
        if (i > 0 && digits[i - 1] != '-' && (len - i) % 3 == 0 && j + 2 < size)
            buf[j++] = ',';
        buf[j++] = digits[i];
    }
    buf[j] = '\0';
    return buf;
}

void tg_mlp_print(const tg_mlp *mlp, FILE *out)
{
    if (!mlp)
        return;
    if (!out)
        out = stdout;
    char num[32];
    fprintf(out, "MLP %lld", (long long)mlp->layers[0]->in);
    for (int l = 0; l < mlp->n_layers; l++)
        fprintf(out, "-%lld", (long long)mlp->layers[l]->out);
    fprintf(out, "\n  %-8s %-14s %-10s %-10s %12s\n", "layer", "weight", "bias", "activation", "parameters");
    for (int l = 0; l < mlp->n_layers; l++) {
        const tg_layer *layer = mlp->layers[l];
        char w[40], b[24], name[24];
        snprintf(name, sizeof name, "layer%d", l + 1);
        snprintf(w, sizeof w, "[%lld, %lld]", (long long)layer->out, (long long)layer->in);
        snprintf(b, sizeof b, "[%lld]", (long long)layer->out);
        fprintf(out, "  %-8s %-14s %-10s %-10s %12s\n", name, w, b, tg_activation_name(layer->act),
                with_commas(layer->out * layer->in + layer->out, num, sizeof num));
    }
    fprintf(out, "  total parameters: %s\n", with_commas(tg_mlp_param_count(mlp), num, sizeof num));
}
