/* Gradient-check cases of the math ops (ops/math.c) and the activations
 * beyond sigmoid/tanh/relu (ops/activation.c), for tests/test_ops_grad.c.
 *
 * Kinks: abs, leaky_relu and elu are checked away from x = 0; clamp's bounds
 * and maximum's ties are measure-zero for random inputs (their values at the
 * kink are tested in test_ops_math.c). The piecewise-linear ops have a zero
 * second derivative, so their second-order cases go through a product
 * ("abs(x)·x", "maximum of squares", ...) that makes it nonzero and still
 * runs their backward rule under create_graph. */
#ifndef TAPEGRAD_TESTS_OP_CASES_MATH_H
#define TAPEGRAD_TESTS_OP_CASES_MATH_H

#include <math.h>

#include "tests/op_cases.h"

static tg_tensor *fm_abs(tg_tensor *const *in, void *u) { (void)u; return tg_abs(in[0]); }
static tg_tensor *fm_abs_times_x(tg_tensor *const *in, void *u) { (void)u; return tg_mul(tg_abs(in[0]), in[0]); }
static tg_tensor *fm_sqrt(tg_tensor *const *in, void *u) { (void)u; return tg_sqrt(in[0]); }
static tg_tensor *fm_pow3(tg_tensor *const *in, void *u) { (void)u; return tg_pow_scalar(in[0], 3); }
static tg_tensor *fm_pow2(tg_tensor *const *in, void *u) { (void)u; return tg_pow_scalar(in[0], 2); }
static tg_tensor *fm_pow_frac(tg_tensor *const *in, void *u) { (void)u; return tg_pow_scalar(in[0], 2.5); }
static tg_tensor *fm_pow_neg(tg_tensor *const *in, void *u) { (void)u; return tg_pow_scalar(in[0], -1.5); }
static tg_tensor *fm_pow1(tg_tensor *const *in, void *u) { (void)u; return tg_pow_scalar(in[0], 1); }
static tg_tensor *fm_pow(tg_tensor *const *in, void *u) { (void)u; return tg_pow(in[0], in[1]); }
static tg_tensor *fm_clamp(tg_tensor *const *in, void *u) { (void)u; return tg_clamp(in[0], -0.5, 0.5); }
static tg_tensor *fm_clamp_below(tg_tensor *const *in, void *u) { (void)u; return tg_clamp(in[0], 0, INFINITY); }
static tg_tensor *fm_clamp_times_x(tg_tensor *const *in, void *u) { (void)u; return tg_mul(tg_clamp(in[0], -0.5, 0.5), in[0]); }
static tg_tensor *fm_maximum(tg_tensor *const *in, void *u) { (void)u; return tg_maximum(in[0], in[1]); }
static tg_tensor *fm_minimum(tg_tensor *const *in, void *u) { (void)u; return tg_minimum(in[0], in[1]); }
static tg_tensor *fm_maximum_of_squares(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_maximum(tg_mul(in[0], in[0]), tg_mul(in[1], in[1]));
}
static tg_tensor *fm_minimum_of_products(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_minimum(tg_mul(in[0], in[1]), tg_mul(in[0], in[0]));
}
static tg_tensor *fm_log1p(tg_tensor *const *in, void *u) { (void)u; return tg_log1p(in[0]); }
static tg_tensor *fm_expm1(tg_tensor *const *in, void *u) { (void)u; return tg_expm1(in[0]); }
static tg_tensor *fm_erf(tg_tensor *const *in, void *u) { (void)u; return tg_erf(in[0]); }
static tg_tensor *fm_sin(tg_tensor *const *in, void *u) { (void)u; return tg_sin(in[0]); }
static tg_tensor *fm_cos(tg_tensor *const *in, void *u) { (void)u; return tg_cos(in[0]); }

/* A fixed mask [3, 1] (rows 0 and 2 pick a) in the given dtype. */
static tg_tensor *fm_mask(tg_tensor *like, tg_dtype dtype)
{
    tg_tensor *mask = tg_tensor_temp(tg_tensor_ctx(like), dtype, TG_SHAPE(3, 1));
    tg_tensor_set(mask, 0, 1);
    tg_tensor_set(mask, 2, -3);
    return mask;
}
static tg_tensor *fm_where(tg_tensor *const *in, void *u) { (void)u; return tg_where(fm_mask(in[0], TG_F64), in[0], in[1]); }
static tg_tensor *fm_where_i64(tg_tensor *const *in, void *u) { (void)u; return tg_where(fm_mask(in[0], TG_I64), in[0], in[1]); }
static tg_tensor *fm_where_of_products(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_where(fm_mask(in[0], TG_I64), tg_mul(in[0], in[0]), tg_mul(in[0], in[1]));
}

static tg_tensor *fm_leaky_relu(tg_tensor *const *in, void *u) { (void)u; return tg_leaky_relu(in[0], 0.1); }
static tg_tensor *fm_leaky_relu_times_x(tg_tensor *const *in, void *u) { (void)u; return tg_mul(tg_leaky_relu(in[0], 0.1), in[0]); }
static tg_tensor *fm_elu(tg_tensor *const *in, void *u) { (void)u; return tg_elu(in[0], 1.3); }
static tg_tensor *fm_softplus(tg_tensor *const *in, void *u) { (void)u; return tg_softplus(in[0]); }
static tg_tensor *fm_silu(tg_tensor *const *in, void *u) { (void)u; return tg_silu(in[0]); }
static tg_tensor *fm_gelu(tg_tensor *const *in, void *u) { (void)u; return tg_gelu(in[0]); }
static tg_tensor *fm_gelu_tanh(tg_tensor *const *in, void *u) { (void)u; return tg_gelu_tanh(in[0]); }
static tg_tensor *fm_leaky_relu_backward(tg_tensor *const *in, void *u) { (void)u; return tg_leaky_relu_backward(in[0], in[1], 0.2); }
static tg_tensor *fm_elu_backward(tg_tensor *const *in, void *u) { (void)u; return tg_elu_backward(in[0], in[1], 0.7); }
static tg_tensor *fm_softplus_backward(tg_tensor *const *in, void *u) { (void)u; return tg_softplus_backward(in[0], in[1]); }
static tg_tensor *fm_silu_backward(tg_tensor *const *in, void *u) { (void)u; return tg_silu_backward(in[0], in[1]); }
static tg_tensor *fm_gelu_backward(tg_tensor *const *in, void *u) { (void)u; return tg_gelu_backward(in[0], in[1]); }
static tg_tensor *fm_gelu_tanh_backward(tg_tensor *const *in, void *u) { (void)u; return tg_gelu_tanh_backward(in[0], in[1]); }

static const op_case math_cases[] = {
    {"abs", fm_abs, 1, {2}, {S(3, 4)}, -1, 1, true, true, 0},
    {"abs rank 0", fm_abs, 1, {0}, {S(0)}, -1, 1, true, true, 0},
    {"abs(x)·x", fm_abs_times_x, 1, {3}, {S(2, 1, 3)}, -1, 1, true, false, 0},
    {"sqrt", fm_sqrt, 1, {2}, {S(3, 4)}, 0.5, 3, false, false, 0},
    {"sqrt size-1 dims", fm_sqrt, 1, {3}, {S(1, 4, 1)}, 0.2, 2, false, false, 0},
    {"pow_scalar x³ of any sign", fm_pow3, 1, {2}, {S(3, 4)}, -2, 2, false, false, 0},
    {"pow_scalar x² fast path", fm_pow2, 1, {1}, {S(5)}, -2, 2, false, false, 0},
    {"pow_scalar x^2.5", fm_pow_frac, 1, {3}, {S(2, 1, 3)}, 0.5, 2, false, false, 0},
    {"pow_scalar x^-1.5", fm_pow_neg, 1, {0}, {S(0)}, 0.5, 2, false, false, 0},
    {"pow_scalar x¹", fm_pow1, 1, {2}, {S(2, 3)}, -2, 2, false, true, 0},
    {"pow same shapes", fm_pow, 2, {2, 2}, {S(3, 4), S(3, 4)}, 0.5, 2, false, false, 0},
    {"pow column^row", fm_pow, 2, {2, 2}, {S(3, 1), S(1, 4)}, 0.5, 2, false, false, 0},
    {"pow rank 3 ^ scalar tensor", fm_pow, 2, {3, 0}, {S(2, 1, 3), S(0)}, 0.5, 2, false, false, 0},
    {"pow scalar tensor ^ row", fm_pow, 2, {0, 1}, {S(0), S(4)}, 0.5, 2, false, false, 0},
    {"clamp [-0.5, 0.5]", fm_clamp, 1, {2}, {S(4, 5)}, -1, 1, false, true, 0},
    {"clamp [0, inf) size-1 dims", fm_clamp_below, 1, {3}, {S(3, 1, 2)}, -1, 1, true, true, 0},
    {"clamp rank 0", fm_clamp, 1, {0}, {S(0)}, -0.4, 0.4, false, true, 0},
    {"clamp(x)·x", fm_clamp_times_x, 1, {2}, {S(3, 4)}, -1, 1, false, false, 0},
    {"maximum same shapes", fm_maximum, 2, {2, 2}, {S(3, 4), S(3, 4)}, -1, 1, false, true, 0},
    {"maximum column, row", fm_maximum, 2, {2, 2}, {S(4, 1), S(1, 3)}, -1, 1, false, true, 0},
    {"maximum with a scalar tensor", fm_maximum, 2, {3, 0}, {S(2, 2, 3), S(0)}, -1, 1, false, true, 0},
    {"maximum of squares", fm_maximum_of_squares, 2, {2, 1}, {S(3, 4), S(4)}, -1, 1, false, false, 0},
    {"minimum same shapes", fm_minimum, 2, {2, 2}, {S(3, 4), S(3, 4)}, -1, 1, false, true, 0},
    {"minimum rank 4 broadcast", fm_minimum, 2, {4, 3}, {S(2, 1, 3, 1), S(3, 1, 4)}, -1, 1, false, true, 0},
    {"minimum of products", fm_minimum_of_products, 2, {2, 2}, {S(3, 4), S(1, 4)}, -1, 1, false, false, 0},
    {"where f64 mask [3,1], a [3,4], b [4]", fm_where, 2, {2, 1}, {S(3, 4), S(4)}, -1, 1, false, true, 0},
    {"where i64 mask, a [1,4], b [3,1]", fm_where_i64, 2, {2, 2}, {S(1, 4), S(3, 1)}, -1, 1, false, true, 0},
    {"where rank 4 a, size-1 b", fm_where, 2, {4, 1}, {S(2, 1, 3, 4), S(1)}, -1, 1, false, true, 0},
    {"where of products", fm_where_of_products, 2, {2, 2}, {S(3, 4), S(3, 4)}, -1, 1, false, false, 0},
    {"log1p", fm_log1p, 1, {2}, {S(3, 4)}, -0.5, 2, false, false, 0},
    {"log1p size-1", fm_log1p, 1, {2}, {S(1, 1)}, -0.5, 2, false, false, 0},
    {"expm1", fm_expm1, 1, {3}, {S(2, 3, 2)}, -1, 1, false, false, 0},
    {"expm1 size-1", fm_expm1, 1, {1}, {S(1)}, -1, 1, false, false, 0},
    {"erf", fm_erf, 1, {2}, {S(4, 3)}, -2, 2, false, false, 0},
    {"erf rank 0", fm_erf, 1, {0}, {S(0)}, -1, 1, false, false, 0},
    {"sin", fm_sin, 1, {2}, {S(3, 4)}, -3, 3, false, false, 0},
    {"sin size-1 dims", fm_sin, 1, {3}, {S(1, 3, 1)}, -3, 3, false, false, 0},
    {"cos", fm_cos, 1, {4}, {S(2, 1, 2, 3)}, -3, 3, false, false, 0},
    {"cos rank 0", fm_cos, 1, {0}, {S(0)}, -3, 3, false, false, 0},
    /* activations and their fused derivatives */
    {"leaky_relu", fm_leaky_relu, 1, {2}, {S(4, 5)}, -1, 1, true, true, 0},
    {"leaky_relu size-1 dims", fm_leaky_relu, 1, {3}, {S(1, 4, 1)}, -1, 1, true, true, 0},
    {"leaky_relu(x)·x", fm_leaky_relu_times_x, 1, {3}, {S(2, 1, 3)}, -1, 1, true, false, 0},
    {"elu", fm_elu, 1, {2}, {S(3, 4)}, -2, 2, true, false, 0},
    {"elu size-1, left branch", fm_elu, 1, {1}, {S(1)}, -2, -0.2, false, false, 0},
    {"softplus", fm_softplus, 1, {2}, {S(3, 4)}, -4, 4, false, false, 0},
    {"softplus rank 3", fm_softplus, 1, {3}, {S(2, 1, 3)}, -4, 4, false, false, 0},
    {"silu", fm_silu, 1, {2}, {S(3, 4)}, -4, 4, false, false, 0},
    {"silu rank 0", fm_silu, 1, {0}, {S(0)}, -4, 4, false, false, 0},
    {"gelu", fm_gelu, 1, {2}, {S(3, 4)}, -3, 3, false, false, 0},
    {"gelu size-1 dims", fm_gelu, 1, {3}, {S(1, 5, 1)}, -3, 3, false, false, 0},
    {"gelu_tanh", fm_gelu_tanh, 1, {2}, {S(3, 4)}, -3, 3, false, false, 0},
    {"gelu_tanh rank 4", fm_gelu_tanh, 1, {4}, {S(2, 1, 2, 2)}, -3, 3, false, false, 0},
    {"leaky_relu_backward", fm_leaky_relu_backward, 2, {2, 2}, {S(4, 3), S(4, 3)}, -1, 1, true, true, 2},
    {"leaky_relu_backward broadcast g", fm_leaky_relu_backward, 2, {1, 2}, {S(3), S(2, 3)}, -1, 1, true, true, 2},
    {"elu_backward", fm_elu_backward, 2, {2, 2}, {S(3, 4), S(3, 4)}, -2, 2, true, false, 0},
    {"elu_backward broadcast g", fm_elu_backward, 2, {1, 2}, {S(4), S(3, 4)}, -2, 2, true, false, 0},
    {"softplus_backward", fm_softplus_backward, 2, {2, 2}, {S(3, 4), S(3, 4)}, -3, 3, false, false, 0},
    {"softplus_backward broadcast x", fm_softplus_backward, 2, {2, 1}, {S(3, 4), S(4)}, -3, 3, false, false, 0},
    {"silu_backward", fm_silu_backward, 2, {2, 2}, {S(3, 4), S(3, 4)}, -3, 3, false, false, 0},
    {"silu_backward size-1 dims", fm_silu_backward, 2, {3, 3}, {S(2, 1, 3), S(1, 4, 3)}, -3, 3, false, false, 0},
    {"gelu_backward", fm_gelu_backward, 2, {2, 2}, {S(3, 4), S(3, 4)}, -3, 3, false, false, 0},
    {"gelu_backward broadcast", fm_gelu_backward, 2, {2, 2}, {S(3, 1), S(1, 4)}, -3, 3, false, false, 0},
    {"gelu_tanh_backward", fm_gelu_tanh_backward, 2, {2, 2}, {S(3, 4), S(3, 4)}, -3, 3, false, false, 0},
    {"gelu_tanh_backward scalar g", fm_gelu_tanh_backward, 2, {0, 2}, {S(0), S(2, 3)}, -3, 3, false, false, 0},
};

#endif
