/* The layer-norm pieces that the norm ops (norm.c) share with
 * layer_norm_linear (fused_linear.c). Internal to ops/. */
#ifndef TG_OPS_NORM_H
#define TG_OPS_NORM_H

#include "autograd/internal.h"

/* eps finite and >= 0; γ or β (role) NULL or [C], C = x's last axis; errors name op. */
bool tg_norm_check(const char *op, const tg_tensor *x, const tg_tensor *gamma, const tg_tensor *beta, double eps);
/* The VJP of y = x̂⊙γ + β (layer norm when center, rms norm else) for the
 * upstream dy, made of ops: dx = N(dy⊙γ, x), dγ = Σ_rows dy⊙x̂, dβ = Σ_rows dy,
 * each written only where its tensor requires a gradient. */
void tg_norm_vjp(tg_tensor *dy, tg_tensor *x, tg_tensor *gamma, tg_tensor *beta, double eps, bool center,
                 tg_tensor **dx, tg_tensor **dgamma, tg_tensor **dbeta);

#endif
