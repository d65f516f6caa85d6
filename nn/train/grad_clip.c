/* Gradient-norm clipping over a parameter list: N = √Σ g² over every listed
 * gradient; when N > max_norm every gradient is scaled by max_norm/N (one
 * direction kept, its length capped), as torch.nn.utils.clip_grad_norm_. A
 * plain loop over the buffers: clipping is an update, not backprop. */
#include "tapegrad/nn.h"

#include <math.h>

double tg_clip_grad_norm(tg_params params, double max_norm)
{
    if (params.count < 0 || (params.count > 0 && !params.items))
        return -1;
    tg_ctx *ctx = NULL;
    for (int i = 0; i < params.count && !ctx; i++)
        if (params.items[i])
            ctx = tg_tensor_ctx(params.items[i]);
    for (int i = 0; i < params.count; i++)
        if (!params.items[i]) {
            if (ctx)
                tg_ctx_fail(ctx, TG_ERR_ARG, "tg_clip_grad_norm: tensor %d of %d is NULL", i, params.count);
            return -1;
        }
    if (!(max_norm > 0)) {
        if (ctx)
            tg_ctx_fail(ctx, TG_ERR_ARG, "tg_clip_grad_norm: max_norm is %g; expected > 0", max_norm);
        return -1;
    }
    double sum = 0; /* in double whatever the dtype: float32 squares of 1e20 would overflow */
    for (int i = 0; i < params.count; i++) {
        tg_tensor *g = tg_tensor_grad(params.items[i]);
        if (!g)
            continue;
        int64_t n = tg_tensor_size(g);
        if (tg_tensor_dtype(g) == TG_F32) {
            const float *v = tg_tensor_data_const(g);
            for (int64_t k = 0; k < n; k++)
                sum += (double)v[k] * v[k];
        } else {
            const double *v = tg_tensor_data_const(g);
            for (int64_t k = 0; k < n; k++)
                sum += v[k] * v[k];
        }
    }
    double norm = sqrt(sum);
    if (!(norm > max_norm) || !isfinite(norm))
        return norm;
    double scale = max_norm / norm;
    for (int i = 0; i < params.count; i++) {
        tg_tensor *g = tg_tensor_grad(params.items[i]);
        if (!g)
            continue;
        int64_t n = tg_tensor_size(g);
        if (tg_tensor_dtype(g) == TG_F32) {
            float *v = tg_tensor_data(g);
            for (int64_t k = 0; k < n; k++)
                v[k] = (float)(v[k] * scale);
        } else {
            double *v = tg_tensor_data(g);
            for (int64_t k = 0; k < n; k++)
                v[k] *= scale;
        }
    }
    return norm;
}
