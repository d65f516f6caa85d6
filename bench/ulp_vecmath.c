/* Maximum error of the vectorised f32 math (ops/vecmath.h) over f32 inputs,
 * against libm in double precision: the gold-standard sweep behind the
 * bounds stated in vecmath.h and docs/design.md.
 *
 *   ulp_vecmath [function|all] [stride] [threads] [isa]
 *
 * stride 1 (the default) visits all 2^32 bit patterns (minutes per function
 * on one core); stride 257 is the test's dense sample. isa: auto, portable,
 * avx2 or avx512. Error is |y - ref| in ulps of ref rounded to float (the
 * ulp of a subnormal being 2^-149); a NaN must meet a NaN, and a reference
 * beyond FLT_MAX an infinity of its sign. Derivative kernels (g = 1) also
 * report the largest absolute error, as their relative error is unbounded
 * where f' crosses zero. */
#include "ops/vecmath.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQRT_HALF 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794
#define GELU_TANH_C 0.79788456080286535588
#define GELU_TANH_K 0.044715

static double ref_exp(double x) { return exp(x); }
static double ref_sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double ref_tanh(double x) { return tanh(x); }
static double ref_erf(double x) { return erf(x); }
static double ref_erfc(double x) { return erfc(x); }
static double ref_gelu(double x) { return isinf(x) ? (x > 0 ? x : 0) : 0.5 * x * erfc(-x * SQRT_HALF); }
static double gelu_tanh_2u(double x) { return 2 * GELU_TANH_C * (x + GELU_TANH_K * x * x * x); }
static double ref_gelu_tanh(double x) { return isinf(x) ? (x > 0 ? x : 0) : x / (1 + exp(-gelu_tanh_2u(x))); }
static double ref_silu(double x) { return isinf(x) ? (x > 0 ? x : 0) : x / (1 + exp(-x)); }
static double ref_silu_d(double x)
{
    if (isinf(x))
        return x > 0;
    double s = 1 / (1 + exp(-x)), t = 1 / (1 + exp(x)); /* σ(x), 1 - σ(x) */
    return s * (1 + x * t);
}
static double ref_gelu_d(double x)
{
    if (isinf(x))
        return x > 0;
    return 0.5 * erfc(-x * SQRT_HALF) + x * INV_SQRT_2PI * exp(-0.5 * x * x);
}
static double ref_gelu_tanh_d(double x)
{
    if (isinf(x))
        return x > 0;
    double u2 = gelu_tanh_2u(x), s = 1 / (1 + exp(-u2)), t = 1 / (1 + exp(u2));
    double du2 = 2 * GELU_TANH_C * (1 + 3 * GELU_TANH_K * x * x);
    return s + x * du2 * s * t;
}

typedef struct {
    const char *name;
    double (*ref)(double);
    bool binary;   /* out = g·f'(x), run with g = 1 */
    size_t offset; /* of the kernel in tg_vecmath_kernels */
} fn_case;

#define U(f) false, offsetof(tg_vecmath_kernels, f)
#define B(f) true, offsetof(tg_vecmath_kernels, f)
static const fn_case cases[] = {
    {"exp", ref_exp, U(exp)},
    {"sigmoid", ref_sigmoid, U(sigmoid)},
    {"tanh", ref_tanh, U(tanh)},
    {"erf", ref_erf, U(erf)},
    {"erfc", ref_erfc, U(erfc)},
    {"gelu", ref_gelu, U(gelu)},
    {"gelu_tanh", ref_gelu_tanh, U(gelu_tanh)},
    {"silu", ref_silu, U(silu)},
    {"sigmoid_mul", ref_sigmoid, B(sigmoid_mul)},
    {"silu_backward", ref_silu_d, B(silu_backward)},
    {"gelu_backward", ref_gelu_d, B(gelu_backward)},
    {"gelu_tanh_backward", ref_gelu_tanh_d, B(gelu_tanh_backward)},
};

/* Error of y against ref in ulps of ref; INFINITY for a wrong NaN, infinity
 * or sign of zero-free mismatch. */
static double ulp_error(float y, double ref)
{
    if (isnan(ref) || isnan(y))
        return isnan(ref) && isnan(y) ? 0 : INFINITY;
    float rf = (float)ref;
    if (isinf(rf) || isinf(y))
        return y == rf ? 0 : INFINITY;
    int e;
    frexp(ref, &e); /* |ref| in [2^(e-1), 2^e) */
    double ulp = fabs(ref) < 0x1p-126 ? 0x1p-149 : ldexp(1, e - 24);
    return fabs(y - ref) / ulp;
}

typedef struct {
    const fn_case *c;
    const tg_vecmath_kernels *k;
    uint64_t begin, end, stride;
    double max_ulp, max_abs;
    uint32_t worst_ulp, worst_abs;
    uint64_t count;
} sweep;

static void *run_sweep(void *arg)
{
    sweep *s = arg;
    enum { CHUNK = 4096 };
    float x[CHUNK], y[CHUNK], one[CHUNK];
    for (int i = 0; i < CHUNK; i++)
        one[i] = 1;
    const char *slot = (const char *)s->k + s->c->offset;
    tg_vec_unary_fn *u = NULL;
    tg_vec_binary_fn *b = NULL;
    if (s->c->binary)
        memcpy(&b, slot, sizeof b);
    else
        memcpy(&u, slot, sizeof u);
    for (uint64_t bits = s->begin; bits < s->end;) {
        int n = 0;
        for (; n < CHUNK && bits < s->end; n++, bits += s->stride) {
            uint32_t b32 = (uint32_t)bits;
            memcpy(&x[n], &b32, sizeof b32);
        }
        if (u)
            u(x, y, n);
        else
            b(one, x, y, n);
        for (int i = 0; i < n; i++) {
            double ref = s->c->ref(x[i]);
            double err = ulp_error(y[i], ref);
            uint32_t xb;
            memcpy(&xb, &x[i], sizeof xb);
            if (err > s->max_ulp || (err != err))
                s->max_ulp = err, s->worst_ulp = xb;
            double abs_err = isfinite(ref) && isfinite(y[i]) ? fabs(y[i] - ref) : 0;
            if (abs_err > s->max_abs)
                s->max_abs = abs_err, s->worst_abs = xb;
        }
        s->count += (uint64_t)n;
    }
    return NULL;
}

static tg_vecmath_isa parse_isa(const char *s)
{
    return !strcmp(s, "portable") ? TG_VECMATH_PORTABLE
           : !strcmp(s, "avx2")   ? TG_VECMATH_AVX2
           : !strcmp(s, "avx512") ? TG_VECMATH_AVX512
                                  : TG_VECMATH_AUTO;
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "all";
    uint64_t stride = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    tg_vecmath_isa isa = parse_isa(argc > 4 ? argv[4] : "auto");
    if (stride < 1 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: ulp_vecmath [function|all] [stride>=1] [threads 1..64] [auto|portable|avx2|avx512]\n");
        return 2;
    }
    const tg_vecmath_kernels *k = tg_vecmath_pick(isa);
    printf("kernels: %s, every %llu-th bit pattern\n", tg_vecmath_isa_name(isa), (unsigned long long)stride);
    int found = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const fn_case *c = &cases[ci];
        if (strcmp(which, "all") && strcmp(which, c->name))
            continue;
        found = 1;
        sweep s[64];
        pthread_t tid[64];
        uint64_t total = (1ull << 32), per = (total / stride + (uint64_t)threads - 1) / (uint64_t)threads * stride;
        for (int t = 0; t < threads; t++) {
            uint64_t begin = per * (uint64_t)t, end = begin + per > total ? total : begin + per;
            s[t] = (sweep){.c = c, .k = k, .begin = begin < total ? begin : total, .end = end, .stride = stride};
            pthread_create(&tid[t], NULL, run_sweep, &s[t]);
        }
        sweep all = {0};
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            all.count += s[t].count;
            if (s[t].max_ulp > all.max_ulp || s[t].max_ulp != s[t].max_ulp)
                all.max_ulp = s[t].max_ulp, all.worst_ulp = s[t].worst_ulp;
            if (s[t].max_abs > all.max_abs)
                all.max_abs = s[t].max_abs, all.worst_abs = s[t].worst_abs;
        }
        float wu, wa;
        memcpy(&wu, &all.worst_ulp, sizeof wu);
        memcpy(&wa, &all.worst_abs, sizeof wa);
        printf("%-19s %11llu inputs  max %.3f ulp at %a (%.9g)  max abs %.3g at %.9g\n", c->name,
               (unsigned long long)all.count, all.max_ulp, wu, wu, all.max_abs, wa);
        fflush(stdout);
    }
    if (!found)
        fprintf(stderr, "ulp_vecmath: no function '%s'\n", which);
    return found ? 0 : 2;
}
