/* The normalization layer kinds, made of ops:
 *   batch norm  y = (x - μ_B)/√(σ²_B + ε)·γ + β, statistics per channel (axis 1)
 *               over the batch and every spatial position; in eval mode μ and σ²
 *               are the running statistics;
 *   layer norm  the same over the last axis of each sample, no running state.
 * σ² is the biased variance (divides by M) in the normalization; the running
 * variance gets the unbiased one (M/(M-1)·σ²_B), as PyTorch does. 1/√(σ² + ε)
 * is exp(-½·log(σ² + ε)), two ops whose gradients the tape knows. */
#include "nn/io/export_c_writer.h"
#include "nn/layers/module_internal.h"

#include <math.h>
#include <stdlib.h>

static tg_tensor *rsqrt_eps(tg_tensor *var, double eps)
{
    return tg_exp(tg_mul_scalar(tg_log(tg_add_scalar(var, eps)), -0.5));
}

static tg_tensor *batch_norm(tg_module *m, tg_tensor *x)
{
    const int64_t *shape = tg_tensor_shape(x);
    int rank = tg_tensor_rank(x);
    int64_t n = shape[0], c = m->spec.in, positions = tg_tensor_size(x) / (n * c > 0 ? n * c : 1);
    tg_tensor *x3 = tg_reshape(x, TG_SHAPE(n, c, positions)); /* [N, C, S] */
    tg_tensor *gamma = tg_reshape(m->params[0], TG_SHAPE(1, c, 1));
    tg_tensor *beta = tg_reshape(m->params[1], TG_SHAPE(1, c, 1));
    tg_tensor *running_mean = m->buffers[0], *running_var = m->buffers[1];
    tg_tensor *centered, *inv_std;
    if (m->training) {
        /* μ [1, C, 1]: the mean over S then over N (equal counts, so exact) */
        tg_tensor *mean = tg_mean_axis(tg_mean_axis(x3, 2, true), 0, true);
        centered = tg_sub(x3, mean);
        tg_tensor *var = tg_mean_axis(tg_mean_axis(tg_mul(centered, centered), 2, true), 0, true);
        inv_std = rsqrt_eps(var, m->spec.eps);
        if (!mean || !var)
            return NULL;
        double mom = m->spec.momentum, count = (double)(n * positions);
        double unbias = count > 1 ? count / (count - 1) : 1;
        for (int64_t k = 0; k < c; k++) {
            tg_tensor_set(running_mean, k, (1 - mom) * tg_tensor_get(running_mean, k) + mom * tg_tensor_get(mean, k));
            tg_tensor_set(running_var, k,
                          (1 - mom) * tg_tensor_get(running_var, k) + mom * unbias * tg_tensor_get(var, k));
        }
    } else {
        centered = tg_sub(x3, tg_reshape(running_mean, TG_SHAPE(1, c, 1)));
        inv_std = tg_tensor_temp(m->ctx, m->dtype, TG_SHAPE(1, c, 1));
        if (!inv_std)
            return NULL;
        for (int64_t k = 0; k < c; k++)
            tg_tensor_set(inv_std, k, 1 / sqrt(tg_tensor_get(running_var, k) + m->spec.eps));
    }
    tg_tensor *y3 = tg_add(tg_mul(tg_mul(centered, inv_std), gamma), beta);
    return tg_reshape(y3, rank, shape);
}

static tg_tensor *layer_norm(tg_module *m, tg_tensor *x)
{
    return tg_layer_norm(x, m->params[0], m->params[1], m->spec.eps); /* the fused op: γ, β [in] */
}

/* γ [in] = 1, β [in] = 0 (PyTorch's "weight", "bias"); batch norm adds the
 * buffers running mean [in] = 0 and running variance [in] = 1. */
static tg_status norm_make(tg_module *m, bool running)
{
    int64_t in = m->spec.in;
    tg_tensor *gamma = tg_module_add_tensor(m, "weight", true, TG_SHAPE(in));
    if (!gamma || !tg_module_add_tensor(m, "bias", true, TG_SHAPE(in)))
        return TG_ERR_NOMEM;
    tg_tensor_fill(gamma, 1);
    if (!running)
        return TG_OK;
    tg_tensor *var = NULL;
    if (!tg_module_add_tensor(m, "running_mean", false, TG_SHAPE(in)) ||
        !(var = tg_module_add_tensor(m, "running_var", false, TG_SHAPE(in))))
        return TG_ERR_NOMEM;
    tg_tensor_fill(var, 1);
    return TG_OK;
}

static tg_status batch_norm_make(tg_module *m, tg_rng *rng)
{
    (void)rng;
    return norm_make(m, true);
}

static tg_status layer_norm_make(tg_module *m, tg_rng *rng)
{
    (void)rng;
    return norm_make(m, false);
}

static bool batch_norm_check(tg_layer_spec *s, char *why, size_t size)
{
    (void)why, (void)size;
    if (s->eps == 0)
        s->eps = 1e-5;
    if (s->momentum == 0)
        s->momentum = 0.1;
    return true;
}

static bool layer_norm_check(tg_layer_spec *s, char *why, size_t size)
{
    (void)why, (void)size;
    if (s->eps == 0)
        s->eps = 1e-5;
    s->momentum = 0; /* no running statistics */
    return true;
}

static tg_status batch_norm_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                                  int64_t out_shape[TG_MAX_RANK])
{
    (void)out_rank, (void)out_shape;
    if (rank < 2 || shape[1] != m->spec.in) {
        char want[128];
        long long in = (long long)m->spec.in;
        snprintf(want, sizeof want, "[n, %lld] or [n, %lld, ...] (%lld features or channels on axis 1)", in, in, in);
        return tg_module_shape_error(m, rank, shape, want);
    }
    return TG_OK;
}

static tg_status layer_norm_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                                  int64_t out_shape[TG_MAX_RANK])
{
    (void)out_rank, (void)out_shape;
    if (rank < 1 || shape[rank - 1] != m->spec.in) {
        char want[96];
        snprintf(want, sizeof want, "[..., %lld] (the last axis of size in = %lld)", (long long)m->spec.in,
                 (long long)m->spec.in);
        return tg_module_shape_error(m, rank, shape, want);
    }
    return TG_OK;
}

static void batch_norm_describe(const tg_layer_spec *s, char *buf, size_t size)
{
    snprintf(buf, size, "%lld, eps %g, momentum %g", (long long)s->in, s->eps, s->momentum);
}

static void layer_norm_describe(const tg_layer_spec *s, char *buf, size_t size)
{
    snprintf(buf, size, "%lld, eps %g", (long long)s->in, s->eps);
}

static int norm_sample(const tg_layer_spec *s, int64_t shape[TG_MAX_RANK])
{
    shape[0] = 4, shape[1] = s->in;
    return 2;
}

/* PyTorch's BatchNorm also keeps num_batches_tracked, which tapegrad has no
 * use for (its momentum is never None): an exporter writes it as 0. */
/* C export: batch norm in eval mode folded into a per-channel scale and
 * shift. */
static const char batch_norm_c_kernel[] =
    "/* x [c, positions] -> y = x scale[c] + shift[c] (batch norm in eval mode, folded) */\n"
    "static void channel_affine(const float *x, float *y, const float *scale, const float *shift, int c,\n"
    "                           long positions)\n"
    "{\n"
    "    for (int ch = 0; ch < c; ch++)\n"
    "        for (long i = 0; i < positions; i++)\n"
    "            y[ch * positions + i] = x[ch * positions + i] * scale[ch] + shift[ch];\n"
    "}\n\n";

static bool batch_norm_c_data(tg_c_file *c, const tg_c_layer *L)
{
    const tg_module *m = L->m;
    int64_t channels = m->spec.in;
    double *scale = malloc((size_t)channels * sizeof *scale), *shift = malloc((size_t)channels * sizeof *shift);
    if (!scale || !shift) {
        free(scale), free(shift);
        return false;
    }
    for (int64_t k = 0; k < channels; k++) { /* γ/√(σ² + ε), β - μ·scale */
        scale[k] = tg_tensor_get(m->params[0], k) / sqrt(tg_tensor_get(m->buffers[1], k) + m->spec.eps);
        shift[k] = tg_tensor_get(m->params[1], k) - tg_tensor_get(m->buffers[0], k) * scale[k];
    }
    char name[48];
    snprintf(name, sizeof name, "%s_scale", L->cname);
    tg_c_put_array(c, name, "gamma/sqrt(running_var + eps)", scale, channels);
    snprintf(name, sizeof name, "%s_shift", L->cname);
    tg_c_put_array(c, name, "beta - running_mean*scale", shift, channels);
    tg_c_put(c, "\n");
    free(scale), free(shift);
    return true;
}

static void batch_norm_c_call(tg_c_file *c, const tg_c_layer *L, const char *x, const char *y)
{
    int64_t channels = L->m->spec.in;
    tg_c_putf(c, "    channel_affine(%s, %s, %s_scale, %s_shift, %lld, %lld);\n", x, y, L->cname, L->cname,
              (long long)channels, (long long)(L->in_size / channels));
}

static const tg_layer_c_export batch_norm_c_export = {
    .kernel = batch_norm_c_kernel,
    .write_data = batch_norm_c_data,
    .write_call = batch_norm_c_call,
};

const tg_layer_kind_def tg_layer_kind_batch_norm = {
    .name = "batch_norm",
    .short_name = "batchnorm",
    .fields = TG_LAYER_USES_IN | TG_LAYER_USES_NORM,
    .check = batch_norm_check,
    .make = batch_norm_make,
    .shape = batch_norm_shape,
    .forward = batch_norm,
    .describe = batch_norm_describe,
    .torch_names = (const char *const[]){"weight", "bias", "running_mean", "running_var"},
    .sample_input = norm_sample,
    .c_export = &batch_norm_c_export,
};

/* C export: the statistics of each row, then γ and β. */
static const char layer_norm_c_kernel[] =
    "/* x [rows, n] -> (x - mean)/sqrt(var + eps) gamma + beta over each row (biased var) */\n"
    "static void layer_norm(const float *x, float *y, const float *gamma, const float *beta, float eps, long rows,\n"
    "                       int n)\n"
    "{\n"
    "    for (long r = 0; r < rows; r++) {\n"
    "        const float *row = x + r * n;\n"
    "        float mean = 0.0f, var = 0.0f;\n"
    "        for (int i = 0; i < n; i++)\n"
    "            mean += row[i];\n"
    "        mean /= (float)n;\n"
    "        for (int i = 0; i < n; i++)\n"
    "            var += (row[i] - mean) * (row[i] - mean);\n"
    "        float inv_std = 1.0f / sqrtf(var / (float)n + eps);\n"
    "        for (int i = 0; i < n; i++)\n"
    "            y[r * n + i] = (row[i] - mean) * inv_std * gamma[i] + beta[i];\n"
    "    }\n"
    "}\n\n";

static bool layer_norm_c_data(tg_c_file *c, const tg_c_layer *L)
{
    char name[48];
    snprintf(name, sizeof name, "%s_gamma", L->cname);
    bool ok = tg_c_put_tensor(c, name, L->m->params[0]);
    snprintf(name, sizeof name, "%s_beta", L->cname);
    ok = ok && tg_c_put_tensor(c, name, L->m->params[1]);
    tg_c_put(c, "\n");
    return ok;
}

static void layer_norm_c_call(tg_c_file *c, const tg_c_layer *L, const char *x, const char *y)
{
    const tg_layer_spec *s = &L->m->spec;
    tg_c_putf(c, "    layer_norm(%s, %s, %s_gamma, %s_beta, %.9gf, %lld, %lld);\n", x, y, L->cname, L->cname,
              (double)(float)s->eps, (long long)(L->in_size / s->in), (long long)s->in);
}

static const tg_layer_c_export layer_norm_c_export = {
    .kernel = layer_norm_c_kernel,
    .write_data = layer_norm_c_data,
    .write_call = layer_norm_c_call,
};

const tg_layer_kind_def tg_layer_kind_layer_norm = {
    .name = "layer_norm",
    .short_name = "layernorm",
    .fields = TG_LAYER_USES_IN | TG_LAYER_USES_NORM,
    .check = layer_norm_check,
    .make = layer_norm_make,
    .shape = layer_norm_shape,
    .forward = layer_norm,
    .describe = layer_norm_describe,
    .torch_names = (const char *const[]){"weight", "bias"},
    .sample_input = norm_sample,
    .c_export = &layer_norm_c_export,
};
