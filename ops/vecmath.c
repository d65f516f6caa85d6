/* Vectorised f32 math: the portable kernel set (one lane, plain C with
 * fmaf) and the run-time choice among the sets, as the GEMM chooses its
 * kernels (ops/gemm.c): __builtin_cpu_supports on each call, nothing cached.
 * The algorithms are in vecmath_kernels.h; vecmath_avx2.c and
 * vecmath_avx512.c compile them for 8 and 16 lanes. */
#include "vecmath.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* ---- portable lanes: one float ---- */

typedef float vf;
typedef int32_t vi;
typedef bool vm;

#define VM_LANES 1
#define VM_FN static inline
#define VM_TARGET
#define VM_SET tg_vecmath_portable

static inline vf v_set(float c) { return c; }
static inline vf v_load(const float *p) { return *p; }
static inline void v_store(float *p, vf v) { *p = v; }
static inline vf v_add(vf a, vf b) { return a + b; }
static inline vf v_sub(vf a, vf b) { return a - b; }
static inline vf v_mul(vf a, vf b) { return a * b; }
static inline vf v_div(vf a, vf b) { return a / b; }
/* a·b + c rounded once, as the hardware FMA, without libm's fmaf (a call,
 * and emulated with floating-point environment changes where the CPU has no
 * FMA): a·b is exact in double, p + c = s + err exactly (TwoSum), and s made
 * odd when inexact ("round to odd", Boldo and Melquiond) rounds to float
 * correctly, double having more than 2·24 + 1 bits. Non-finite sums are left
 * to the plain sum. */
static inline vf v_fma(vf a, vf b, vf c)
{
#if defined(FP_FAST_FMAF) /* one instruction (aarch64, or x86 built with -mfma) */
    return fmaf(a, b, c);
#else
    double p = (double)a * (double)b;
    double s = p + (double)c;
    double bb = s - p;
    double err = (p - (s - bb)) + ((double)c - bb);
    uint64_t bits;
    memcpy(&bits, &s, sizeof bits);
    /* inexact with an even last bit: step one ulp toward err, off the tie */
    bool adjust = err != 0 && (bits & 1) == 0 && s - s == 0;
    bool away = (err > 0) == (s > 0); /* err has s's sign: the exact sum is larger in magnitude */
    bits += adjust ? (away ? 1u : (uint64_t)-1) : 0;
    memcpy(&s, &bits, sizeof s);
    return (float)s;
#endif
}
static inline vf v_min(vf a, vf b) { return a < b ? a : b; }
static inline vf v_max(vf a, vf b) { return a > b ? a : b; }
static inline vm v_lt(vf a, vf b) { return a < b; }
static inline vm v_isnan(vf a) { return a != a; }
static inline vf v_sel(vm m, vf a, vf b);
static inline vi v_bits(vf a)
{
    vi b;
    memcpy(&b, &a, sizeof b);
    return b;
}
static inline vf v_from_bits(vi b)
{
    vf a;
    memcpy(&a, &b, sizeof a);
    return a;
}
/* Integer lanes wrap as the SIMD ones do (through uint32_t: no overflow UB). */
static inline vi v_iset(int32_t c) { return c; }
static inline vi v_iadd(vi a, vi b) { return (vi)((uint32_t)a + (uint32_t)b); }
static inline vi v_isub(vi a, vi b) { return (vi)((uint32_t)a - (uint32_t)b); }
static inline vi v_ishl(vi a, int k) { return (vi)((uint32_t)a << k); }
static inline vi v_isrl(vi a, int k) { return (vi)((uint32_t)a >> k); }
static inline vi v_isra(vi a, int k) { return a < 0 ? ~(vi)(~(uint32_t)a >> k) : a >> k; }
static inline vi v_iand(vi a, vi b) { return a & b; }
static inline vi v_ior(vi a, vi b) { return a | b; }
static inline vi v_imin(vi a, vi b) { return a < b ? a : b; }
static inline vi v_imax(vi a, vi b) { return a > b ? a : b; }
static inline vm v_ilt(vi a, vi b) { return a < b; }
/* selects by masks, not branches */
static inline vi v_isel(vm m, vi a, vi b)
{
    uint32_t mask = 0u - (uint32_t)m;
    return (vi)(((uint32_t)a & mask) | ((uint32_t)b & ~mask));
}
static inline vf v_sel(vm m, vf a, vf b) { return v_from_bits(v_isel(m, v_bits(a), v_bits(b))); }
static inline vf v_i2f(vi a) { return (vf)a; }
static inline vi v_f2i(vf a) { return (vi)a; }
static inline vf v_lookup(const float *table, vi i) { return table[i]; }

#include "vecmath_kernels.h"

/* ---- the choice ---- */

static tg_vecmath_isa vecmath_cpu_isa(void)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("fma"))
        return TG_VECMATH_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return TG_VECMATH_AVX2;
#endif
    return TG_VECMATH_PORTABLE;
}

/* A request resolves to the highest set that is both asked for and present. */
static tg_vecmath_isa vecmath_resolve(tg_vecmath_isa want)
{
    tg_vecmath_isa have = vecmath_cpu_isa();
    return want == TG_VECMATH_AUTO || want > have ? have : want;
}

const char *tg_vecmath_isa_name(tg_vecmath_isa isa)
{
    switch (vecmath_resolve(isa)) {
    case TG_VECMATH_AVX512:
        return "avx512";
    case TG_VECMATH_AVX2:
        return "avx2";
    default:
        return "portable";
    }
}

const tg_vecmath_kernels *tg_vecmath_pick(tg_vecmath_isa isa)
{
    switch (vecmath_resolve(isa)) {
#if defined(__x86_64__)
    case TG_VECMATH_AVX512:
        return &tg_vecmath_avx512;
    case TG_VECMATH_AVX2:
        return &tg_vecmath_avx2;
#endif
    default:
        return &tg_vecmath_portable;
    }
}

void tg_vexp_f32(const float *x, float *y, int64_t n) { tg_vecmath_pick(TG_VECMATH_AUTO)->exp(x, y, n); }
void tg_vsigmoid_f32(const float *x, float *y, int64_t n) { tg_vecmath_pick(TG_VECMATH_AUTO)->sigmoid(x, y, n); }
void tg_vtanh_f32(const float *x, float *y, int64_t n) { tg_vecmath_pick(TG_VECMATH_AUTO)->tanh(x, y, n); }
void tg_verf_f32(const float *x, float *y, int64_t n) { tg_vecmath_pick(TG_VECMATH_AUTO)->erf(x, y, n); }
void tg_verfc_f32(const float *x, float *y, int64_t n) { tg_vecmath_pick(TG_VECMATH_AUTO)->erfc(x, y, n); }
void tg_vgelu_f32(const float *x, float *y, int64_t n) { tg_vecmath_pick(TG_VECMATH_AUTO)->gelu(x, y, n); }
void tg_vgelu_tanh_f32(const float *x, float *y, int64_t n) { tg_vecmath_pick(TG_VECMATH_AUTO)->gelu_tanh(x, y, n); }
void tg_vsilu_f32(const float *x, float *y, int64_t n) { tg_vecmath_pick(TG_VECMATH_AUTO)->silu(x, y, n); }

void tg_vsigmoid_mul_f32(const float *g, const float *x, float *out, int64_t n)
{
    tg_vecmath_pick(TG_VECMATH_AUTO)->sigmoid_mul(g, x, out, n);
}
void tg_vsilu_backward_f32(const float *g, const float *x, float *out, int64_t n)
{
    tg_vecmath_pick(TG_VECMATH_AUTO)->silu_backward(g, x, out, n);
}
void tg_vgelu_backward_f32(const float *g, const float *x, float *out, int64_t n)
{
    tg_vecmath_pick(TG_VECMATH_AUTO)->gelu_backward(g, x, out, n);
}
void tg_vgelu_tanh_backward_f32(const float *g, const float *x, float *out, int64_t n)
{
    tg_vecmath_pick(TG_VECMATH_AUTO)->gelu_tanh_backward(g, x, out, n);
}
void tg_vgelu_pair_f32(const float *g, const float *x, float *y, float *out, int64_t n)
{
    tg_vecmath_pick(TG_VECMATH_AUTO)->gelu_pair(g, x, y, out, n);
}
