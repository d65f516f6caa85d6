/* tg_layer and tg_mlp: the textbook's names over the one layer system. A
 * tg_layer is a dense module (a tg_module of kind TG_LAYER_DENSE, made by
 * dense.c's descriptor: the same tensors, initializer and forward), and a
 * tg_mlp is a tg_model of dense layers named layer1, layer2, ...: its clone,
 * training adapter and checkpoints are the model's. What is left here is
 * the old interface: rank-2 inputs, "weight"/"bias" names for a lone layer,
 * rng NULL for zero weights, and the MLP's compact print. */
#include "nn/layers/module_internal.h"
#include "autograd/internal.h" /* tg_ctx_adopt, tg_ctx_disown */

#include <stdlib.h>
#include <string.h>

struct tg_mlp {
    tg_model *model;
};

/* tg_layer is never defined: a tg_layer * is a dense tg_module *. */
static tg_module *module_of(const tg_layer *layer) { return (tg_module *)layer; }
static tg_layer *layer_of(tg_module *module) { return (tg_layer *)module; }

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

/* ---- dense layer ---- */

/* The dense spec of one layer; who names the caller in errors. */
static bool dense_spec(tg_ctx *ctx, const char *who, int64_t in, int64_t out, tg_activation act, tg_init init,
                       const tg_rng *rng, tg_layer_spec *spec)
{
    if (in < 1 || out < 1)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: in = %lld, out = %lld; expected both >= 1", who, (long long)in,
                           (long long)out), false;
    if (!strcmp(tg_activation_name(act), "?"))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: unknown activation %d", who, (int)act), false;
    if (!strcmp(tg_init_name(init), "?"))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: unknown init %d", who, (int)init), false;
    if (!rng && init != TG_INIT_ZEROS)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: rng is NULL (only TG_INIT_ZEROS needs none)", who), false;
    *spec = (tg_layer_spec){.kind = TG_LAYER_DENSE, .in = in, .out = out, .act = act, .init = init};
    return true;
}

tg_layer *tg_layer_new(tg_ctx *ctx, tg_dtype dtype, int64_t in, int64_t out, tg_activation act, tg_init init,
                       tg_rng *rng)
{
    if (!ctx)
        return NULL;
    tg_layer_spec spec;
    if (!dense_spec(ctx, "tg_layer_new", in, out, act, init, rng, &spec))
        return NULL;
    /* made with zeros, then W filled from the caller's rng alone (as tg_mlp_init
     * does): the same weights from the same seed as before layers were modules */
    tg_rng unused = tg_rng_seed(1);
    spec.init = TG_INIT_ZEROS;
    tg_module *m = tg_module_new(ctx, dtype, &spec, &unused);
    if (!m)
        return NULL;
    m->spec.init = init;
    tg_tensor_set_name(m->params[0], "weight"); /* a lone layer's tensors keep their plain names */
    tg_tensor_set_name(m->params[1], "bias");
    if (tg_init_fill(m->params[0], init, 1.0, rng) != TG_OK) {
        tg_module_free(m);
        return NULL;
    }
    return layer_of(m);
}

void tg_layer_free(tg_layer *layer) { tg_module_free(module_of(layer)); }

tg_tensor *tg_layer_linear(tg_layer *layer, tg_tensor *x)
{
    tg_module *m = module_of(layer);
    if (!m || !x)
        return NULL;
    if (tg_tensor_rank(x) != 2 || tg_tensor_dim(x, 1) != m->spec.in) {
        char buf[64];
        const char *name = tg_tensor_name(m->params[0]);
        return tg_ctx_fail(m->ctx, TG_ERR_SHAPE, "tg_layer_forward: %s [%lld, %lld] given x %s; expected [n, %lld]",
                           name ? name : "weight", (long long)m->spec.out, (long long)m->spec.in,
                           tg_shape_str(tg_tensor_rank(x), tg_tensor_shape(x), buf, sizeof buf),
                           (long long)m->spec.in), NULL;
    }
    return tg_dense_affine(x, m->params[0], m->params[1]);
}

tg_tensor *tg_layer_forward(tg_layer *layer, tg_tensor *x)
{
    return layer ? tg_activate(tg_layer_linear(layer, x), module_of(layer)->spec.act) : NULL;
}

/* Accessors given NULL: NULL, (tg_activation)-1, -1, an empty list. */
tg_tensor *tg_layer_weight(const tg_layer *layer) { return layer ? module_of(layer)->params[0] : NULL; }
tg_tensor *tg_layer_bias(const tg_layer *layer) { return layer ? module_of(layer)->params[1] : NULL; }
tg_activation tg_layer_activation(const tg_layer *layer)
{
    return layer ? module_of(layer)->spec.act : (tg_activation)-1;
}
int64_t tg_layer_in(const tg_layer *layer) { return layer ? module_of(layer)->spec.in : -1; }
int64_t tg_layer_out(const tg_layer *layer) { return layer ? module_of(layer)->spec.out : -1; }
tg_params tg_layer_params(const tg_layer *layer) { return tg_module_params(module_of(layer)); }

/* ---- multi-layer perceptron: a model of dense layers ---- */

static tg_mlp *mlp_wrap(tg_ctx *ctx, tg_model *model)
{
    if (!model)
        return NULL;
    tg_mlp *mlp = malloc(sizeof *mlp);
    if (!mlp) {
        tg_model_free(model);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_mlp_new: out of memory"), NULL;
    }
    mlp->model = model;
    if (tg_ctx_adopt(ctx, mlp, (void (*)(void *))tg_mlp_free) != TG_OK) {
        tg_model_free(model);
        free(mlp);
        return NULL;
    }
    return mlp;
}

tg_mlp *tg_mlp_new(tg_ctx *ctx, tg_dtype dtype, int n_layers, const int64_t *widths, const tg_activation *acts,
                   tg_init init, tg_rng *rng)
{
    if (!ctx)
        return NULL;
    if (n_layers < 1 || !widths || !acts)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_mlp_new: n_layers = %d, widths %s, acts %s; expected n_layers >= 1 "
                           "and both arrays", n_layers, widths ? "given" : "NULL", acts ? "given" : "NULL"), NULL;
    tg_layer_spec *specs = calloc((size_t)n_layers, sizeof *specs);
    char (*names)[24] = calloc((size_t)n_layers, sizeof *names);
    tg_model *model = NULL;
    if (!specs || !names)
        tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_mlp_new: out of memory");
    else {
        int l = 0;
        for (; l < n_layers; l++) {
            char who[48];
            snprintf(who, sizeof who, "tg_mlp_new (layer %d)", l + 1);
            if (!dense_spec(ctx, who, widths[l], widths[l + 1], acts[l], init, rng, &specs[l]))
                break;
            snprintf(names[l], sizeof names[l], "layer%d", l + 1);
            specs[l].name = names[l];
            specs[l].init = TG_INIT_ZEROS; /* filled below from the caller's rng alone */
        }
        tg_rng unused = tg_rng_seed(1);
        if (l == n_layers)
            model = tg_model_new(ctx, dtype, 0, NULL, n_layers, specs, &unused);
    }
    free(specs);
    free(names);
    tg_mlp *mlp = mlp_wrap(ctx, model);
    /* W⁽¹⁾, W⁽²⁾, ... drawn in turn from rng, as tg_mlp_init draws them */
    if (mlp && (init == TG_INIT_ZEROS || tg_mlp_init(mlp, init, 1.0, rng) == TG_OK)) {
        for (int l = 0; l < n_layers; l++)
            tg_model_module(model, l)->spec.init = init;
        return mlp;
    }
    tg_mlp_free(mlp);
    return NULL;
}

tg_mlp *tg_mlp_clone(const tg_mlp *mlp, tg_ctx *ctx)
{
    return mlp && ctx ? mlp_wrap(ctx, tg_model_clone(mlp->model, ctx)) : NULL;
}

void tg_mlp_free(tg_mlp *mlp)
{
    if (!mlp)
        return;
    tg_ctx_disown(tg_model_ctx(mlp->model), mlp);
    tg_model_free(mlp->model);
    free(mlp);
}

tg_model *tg_mlp_model(const tg_mlp *mlp) { return mlp ? mlp->model : NULL; }

tg_status tg_mlp_init(tg_mlp *mlp, tg_init init, double stddev, tg_rng *rng)
{
    if (!mlp)
        return TG_ERR_ARG;
    for (int l = 0; l < tg_model_depth(mlp->model); l++) {
        tg_module *m = tg_model_module(mlp->model, l);
        tg_status status = tg_init_fill(m->params[0], init, stddev, rng);
        if (status != TG_OK)
            return status;
        tg_tensor_fill(m->params[1], 0);
    }
    return TG_OK;
}

tg_tensor *tg_mlp_forward(tg_mlp *mlp, tg_tensor *x)
{
    if (!mlp)
        return NULL;
    tg_tensor *a = x; /* a⁽⁰⁾ = x; a⁽ˡ⁾ = f(a⁽ˡ⁻¹⁾·Wᵀ + b), rank 2 as the textbook writes it */
    for (int l = 0; l < tg_model_depth(mlp->model) && a; l++)
        a = tg_layer_forward(tg_mlp_layer(mlp, l), a);
    return a;
}

int tg_mlp_depth(const tg_mlp *mlp) { return mlp ? tg_model_depth(mlp->model) : -1; }

tg_layer *tg_mlp_layer(const tg_mlp *mlp, int index)
{
    return mlp ? layer_of(tg_model_module(mlp->model, index)) : NULL;
}

tg_params tg_mlp_params(const tg_mlp *mlp) { return mlp ? tg_model_params(mlp->model) : (tg_params){0, NULL}; }

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
    int depth = tg_model_depth(mlp->model);
    fprintf(out, "MLP %lld", (long long)tg_module_spec(tg_model_module(mlp->model, 0))->in);
    for (int l = 0; l < depth; l++)
        fprintf(out, "-%lld", (long long)tg_module_spec(tg_model_module(mlp->model, l))->out);
    fprintf(out, "\n  %-8s %-14s %-10s %-10s %12s\n", "layer", "weight", "bias", "activation", "parameters");
    for (int l = 0; l < depth; l++) {
        const tg_layer_spec *s = tg_module_spec(tg_model_module(mlp->model, l));
        char w[40], b[24];
        snprintf(w, sizeof w, "[%lld, %lld]", (long long)s->out, (long long)s->in);
        snprintf(b, sizeof b, "[%lld]", (long long)s->out);
        fprintf(out, "  %-8s %-14s %-10s %-10s %12s\n", s->name, w, b, tg_activation_name(s->act),
                with_commas(s->out * s->in + s->out, num, sizeof num));
    }
    fprintf(out, "  total parameters: %s\n", with_commas(tg_mlp_param_count(mlp), num, sizeof num));
}
