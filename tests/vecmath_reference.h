/* The references and stated bounds of the vectorised f32 math
 * (ops/vecmath.h), shared by tests/test_ops_vecmath.c (a dense sample) and
 * bench/ulp_vecmath.c (the exhaustive sweep): libm in double precision, and
 * the error of a float result in ulps of the exact one. */
#ifndef TAPEGRAD_TESTS_VECMATH_REFERENCE_H
#define TAPEGRAD_TESTS_VECMATH_REFERENCE_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "ops/vecmath.h"

#define VMREF_SQRT_HALF 0.70710678118654752440
#define VMREF_INV_SQRT_2PI 0.39894228040143267794
#define VMREF_GELU_TANH_C 0.79788456080286535588
#define VMREF_GELU_TANH_K 0.044715

static inline double vmref_exp(double x) { return exp(x); }
static inline double vmref_sigmoid(double x) { return 1 / (1 + exp(-x)); }
static inline double vmref_tanh(double x) { return tanh(x); }
static inline double vmref_erf(double x) { return erf(x); }
static inline double vmref_erfc(double x) { return erfc(x); }
/* the GELUs and silu at -Inf: their limit 0 (x·0 would be NaN) */
static inline double vmref_gelu(double x)
{
    return isinf(x) ? (x > 0 ? x : 0) : 0.5 * x * erfc(-x * VMREF_SQRT_HALF);
}
static inline double vmref_gelu_tanh_2u(double x) { return 2 * VMREF_GELU_TANH_C * (x + VMREF_GELU_TANH_K * x * x * x); }
static inline double vmref_gelu_tanh(double x)
{
    return isinf(x) ? (x > 0 ? x : 0) : x / (1 + exp(-vmref_gelu_tanh_2u(x)));
}
static inline double vmref_silu(double x) { return isinf(x) ? (x > 0 ? x : 0) : x / (1 + exp(-x)); }
/* σ(x)(1 + x(1 - σ(x))), 1 - σ(x) = σ(-x) */
static inline double vmref_silu_derivative(double x)
{
    return isinf(x) ? x > 0 : 1 / (1 + exp(-x)) * (1 + x / (1 + exp(x)));
}
/* Φ(x) + x·φ(x) */
static inline double vmref_gelu_derivative(double x)
{
    return isinf(x) ? x > 0 : 0.5 * erfc(-x * VMREF_SQRT_HALF) + x * VMREF_INV_SQRT_2PI * exp(-0.5 * x * x);
}
/* s + x·2u'·s(1 - s), s = σ(2u) */
static inline double vmref_gelu_tanh_derivative(double x)
{
    if (isinf(x))
        return x > 0;
    double u2 = vmref_gelu_tanh_2u(x), s = 1 / (1 + exp(-u2)), t = 1 / (1 + exp(u2));
    return s + x * 2 * VMREF_GELU_TANH_C * (1 + 3 * VMREF_GELU_TANH_K * x * x) * s * t;
}

/* The derivative kernels sum two terms that cancel where f' crosses zero
 * (silu' at x = -1.2785, gelu' at -0.7518, gelu_tanh' at -0.7525): there no
 * f32 evaluation has a small relative error, so their error is measured in
 * ulps of the larger term's magnitude (of |f'| itself wherever that is the
 * larger). These give that magnitude. */
static inline double vmref_silu_terms(double x)
{
    double s = 1 / (1 + exp(-x));
    return isinf(x) ? 1 : fmax(s, fabs(x * s / (1 + exp(x))));
}
static inline double vmref_gelu_terms(double x)
{
    return isinf(x) ? 1 : fmax(0.5 * erfc(-x * VMREF_SQRT_HALF), fabs(x * VMREF_INV_SQRT_2PI * exp(-0.5 * x * x)));
}
static inline double vmref_gelu_tanh_terms(double x)
{
    if (isinf(x))
        return 1;
    double u2 = vmref_gelu_tanh_2u(x), s = 1 / (1 + exp(-u2)), t = 1 / (1 + exp(u2));
    return fmax(s, fabs(x * 2 * VMREF_GELU_TANH_C * (1 + 3 * VMREF_GELU_TANH_K * x * x) * s * t));
}

/* One kernel, its reference and its stated bound in ulps. */
typedef struct {
    const char *name;
    double (*ref)(double);
    bool binary;            /* out = g·f'(x), checked with g = 1 */
    size_t offset;          /* of the kernel in tg_vecmath_kernels */
    double max_ulp;         /* stated bound */
    double (*terms)(double); /* derivative kernels: the larger term's magnitude, else NULL */
} vmref_case;

#define VMREF_U(f) false, offsetof(tg_vecmath_kernels, f)
#define VMREF_B(f) true, offsetof(tg_vecmath_kernels, f)
static const vmref_case vmref_cases[] = {
    {"exp", vmref_exp, VMREF_U(exp), 1.0, NULL},
    {"sigmoid", vmref_sigmoid, VMREF_U(sigmoid), 2.5, NULL},
    {"tanh", vmref_tanh, VMREF_U(tanh), 1.6, NULL},
    {"erf", vmref_erf, VMREF_U(erf), 2.0, NULL},   /* 1.959 at x = 0.54185 over all inputs (was 1.9) */
    {"erfc", vmref_erfc, VMREF_U(erfc), 4.0, NULL}, /* 3.950 at x = 7.9103 over all inputs (was 3.7) */
    {"gelu", vmref_gelu, VMREF_U(gelu), 4.6, NULL}, /* 4.512 at x = -11.149 over all inputs (was 4.4) */
    {"gelu_tanh", vmref_gelu_tanh, VMREF_U(gelu_tanh), 2.9, NULL}, /* 2.870 at x = -2.7462 (was 3.404, over) */
    {"silu", vmref_silu, VMREF_U(silu), 2.9, NULL}, /* 2.849 at x = -5.9386 over all inputs */
    {"sigmoid_mul", vmref_sigmoid, VMREF_B(sigmoid_mul), 2.5, NULL},
    /* the derivatives' maxima over all 2^32 inputs: 3.222 at x = -10.04, 3.481 at -3.210, 3.331 at -4.904 */
    {"silu_backward", vmref_silu_derivative, VMREF_B(silu_backward), 3.3, vmref_silu_terms},
    {"gelu_backward", vmref_gelu_derivative, VMREF_B(gelu_backward), 3.5, vmref_gelu_terms},
    {"gelu_tanh_backward", vmref_gelu_tanh_derivative, VMREF_B(gelu_tanh_backward), 3.4, vmref_gelu_tanh_terms},
};
enum { VMREF_CASES = sizeof vmref_cases / sizeof vmref_cases[0] };

/* The kernel of case c in set k, as a unary or a binary function. */
static inline void vmref_kernel(const vmref_case *c, const tg_vecmath_kernels *k, tg_vec_unary_fn **map,
                                tg_vec_binary_fn **fused)
{
    const char *slot = (const char *)k + c->offset;
    *map = NULL;
    *fused = NULL;
    if (c->binary)
        memcpy(fused, slot, sizeof *fused);
    else
        memcpy(map, slot, sizeof *map);
}

/* |y - ref| in ulps of max(|ref|, scale) rounded to float (a subnormal's
 * ulp is 2^-149; scale is 0 but for the derivative kernels). A NaN must meet
 * a NaN and a reference that rounds to ±Inf that infinity; otherwise the
 * error is INFINITY. */
static inline double vmref_ulp_error(float y, double ref, double scale)
{
    if (isnan(ref) || isnan(y))
        return isnan(ref) && isnan(y) ? 0 : INFINITY;
    float rf = (float)ref;
    if (isinf(rf) || isinf(y))
        return y == rf ? 0 : INFINITY;
    double size = fmax(fabs(ref), scale);
    int e;
    frexp(size, &e); /* size in [2^(e-1), 2^e) */
    double ulp = size < 0x1p-126 ? 0x1p-149 : ldexp(1, e - 24);
    return fabs(y - ref) / ulp;
}

#endif
