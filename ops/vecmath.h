/* tapegrad internal — vectorised f32 math: exp, sigmoid, tanh, erf, erfc, the
 * two GELUs and silu, and the fused derivative kernels out = g·f'(x) built on
 * them. Not public API (nothing here is TG_API).
 *
 * Every kernel runs the same instructions whatever the values: no branch on
 * a value, no libm call on x86 (the portable set calls fmaf), overflow,
 * underflow, NaN, ±Inf and subnormal inputs handled by blends. Results that
 * are subnormal are built from their bit patterns, so no arithmetic ever
 * takes or makes a subnormal (no microcode assists, whatever the data).
 *
 * Kernel sets, picked like the GEMM's (ops/gemm.h): AVX-512F, AVX2+FMA and
 * portable C, chosen on each call with __builtin_cpu_supports. All three run
 * one algorithm with the same fused multiply-adds in the same order, so they
 * give bit-identical results (tests/test_ops_vecmath.c checks it).
 *
 * Maximum error over all 2^32 f32 inputs, in ulps of the exact result
 * (libm in double, the "ulp" of a subnormal result being 2^-149), measured
 * exhaustively by bench/ulp_vecmath.c (runs in bench/NOTES.md, "Vector math accuracy"):
 *   exp 0.99 · sigmoid 2.40 · tanh 1.51 · erf 1.96 · erfc 3.95 · gelu 4.51 ·
 *   gelu_tanh 2.87 · silu 2.85
 * The derivative kernels vanish where f' crosses zero (silu' at x ≈ -1.2785,
 * gelu' at x ≈ -0.7518, gelu_tanh' at x ≈ -0.7522), where no f32 evaluation
 * has a small relative error: their error is in ulps of the larger of the
 * two terms of f' (tests/vecmath_reference.h), max over all 2^32 inputs
 *   silu' 3.22 · gelu' 3.48 · gelu_tanh' 3.33
 * (tests/vecmath_reference.h holds the bounds the tests check).
 *
 * x and y may be the same array (in place); n may be 0. */
#ifndef TG_OPS_VECMATH_H
#define TG_OPS_VECMATH_H

#include <stdint.h>

/* y[i] = e^x[i]. Max error 1 ulp (0.99). */
void tg_vexp_f32(const float *x, float *y, int64_t n);
/* y[i] = 1/(1 + e^-x[i]). Max error 2.5 ulp (2.40). */
void tg_vsigmoid_f32(const float *x, float *y, int64_t n);
/* y[i] = tanh x[i]. Max error 1.6 ulp (1.51). */
void tg_vtanh_f32(const float *x, float *y, int64_t n);
/* y[i] = erf x[i]. Max error 2 ulp (1.96). */
void tg_verf_f32(const float *x, float *y, int64_t n);
/* y[i] = erfc x[i] = 1 - erf x[i], without the cancellation. Max error 4 ulp (3.95). */
void tg_verfc_f32(const float *x, float *y, int64_t n);
/* y[i] = x·Φ(x) = ½x·erfc(-x/√2), the exact GELU. Max error 4.6 ulp (4.51). */
void tg_vgelu_f32(const float *x, float *y, int64_t n);
/* y[i] = ½x(1 + tanh u) = x·σ(2u), u = √(2/π)(x + 0.044715x³). Max error 2.9 ulp (2.87). */
void tg_vgelu_tanh_f32(const float *x, float *y, int64_t n);
/* y[i] = x·σ(x). Max error 2.9 ulp (2.85). */
void tg_vsilu_f32(const float *x, float *y, int64_t n);

/* out[i] = g[i]·σ(x[i]) (softplus' = σ). Max error 2.5 ulp (2.40). */
void tg_vsigmoid_mul_f32(const float *g, const float *x, float *out, int64_t n);
/* out[i] = g[i]·σ(x)(1 + x(1 - σ(x))) (silu'). Max error 3.3 ulp of the larger term. */
void tg_vsilu_backward_f32(const float *g, const float *x, float *out, int64_t n);
/* out[i] = g[i]·(Φ(x) + x·φ(x)) (gelu'). Max error 3.5 ulp of the larger term. */
void tg_vgelu_backward_f32(const float *g, const float *x, float *out, int64_t n);
/* out[i] = g[i]·(s + x·2u'·s(1 - s)), s = σ(2u) (gelu_tanh'). Max error 3.4 ulp of the larger term. */
void tg_vgelu_tanh_backward_f32(const float *g, const float *x, float *out, int64_t n);
/* y[i] = gelu(x[i]) and out[i] = g[i]·gelu'(x[i]) in one pass: the bits of
 * tg_vgelu_f32 and tg_vgelu_backward_f32 for half their work (a backward
 * that needs the value again and the derivative). out may be g. */
void tg_vgelu_pair_f32(const float *g, const float *x, float *y, float *out, int64_t n);

/* ---- kernel sets, for tests and benchmarks that force a path ---- */

typedef void tg_vec_unary_fn(const float *x, float *y, int64_t n);
typedef void tg_vec_binary_fn(const float *g, const float *x, float *out, int64_t n);

typedef struct {
    tg_vec_unary_fn *exp, *sigmoid, *tanh, *erf, *erfc, *gelu, *gelu_tanh, *silu;
    tg_vec_binary_fn *sigmoid_mul, *silu_backward, *gelu_backward, *gelu_tanh_backward;
    void (*gelu_pair)(const float *g, const float *x, float *y, float *out, int64_t n);
} tg_vecmath_kernels;

/* TG_VECMATH_AUTO is the best set this CPU runs; a set the CPU lacks falls
 * back to the next lower one (as tg_gemm_isa does). */
typedef enum { TG_VECMATH_AUTO = 0, TG_VECMATH_PORTABLE, TG_VECMATH_AVX2, TG_VECMATH_AVX512 } tg_vecmath_isa;

const tg_vecmath_kernels *tg_vecmath_pick(tg_vecmath_isa isa);
/* "avx512", "avx2" or "portable": the set a request resolves to here. */
const char *tg_vecmath_isa_name(tg_vecmath_isa isa);

/* The sets themselves (vecmath.c, vecmath_avx2.c, vecmath_avx512.c). */
extern const tg_vecmath_kernels tg_vecmath_portable;
#if defined(__x86_64__)
extern const tg_vecmath_kernels tg_vecmath_avx2;
extern const tg_vecmath_kernels tg_vecmath_avx512;
#endif

#endif /* TG_OPS_VECMATH_H */
