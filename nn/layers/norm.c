/* Normalization layers, made of ops:
 *   batch norm  y = (x - μ_B)/√(σ²_B + ε)·γ + β, statistics per channel (axis 1)
 *               over the batch and every spatial position; in eval mode μ and σ²
 *               are the running statistics;
 *   layer norm  the same over the last axis of each sample, no running state.
 * σ² is the biased variance (divides by M) in the normalization; the running
 * variance gets the unbiased one (M/(M-1)·σ²_B), as PyTorch does. 1/√(σ² + ε)
 * is exp(-½·log(σ² + ε)), two ops whose gradients the tape knows. */
#include "nn/layers/module_internal.h"

#include <math.h>

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
    tg_tensor *mean = tg_mean_axis(x, -1, true);
    tg_tensor *centered = tg_sub(x, mean);
    tg_tensor *var = tg_mean_axis(tg_mul(centered, centered), -1, true);
    tg_tensor *normalized = tg_mul(centered, rsqrt_eps(var, m->spec.eps));
    return tg_add(tg_mul(normalized, m->params[0]), m->params[1]); /* γ, β [in] broadcast over rows */
}

tg_tensor *tg_norm_layer_forward(tg_module *m, tg_tensor *x)
{
    return m->spec.kind == TG_LAYER_BATCH_NORM ? batch_norm(m, x) : layer_norm(m, x);
}
