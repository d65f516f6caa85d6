/* Fused activations against the same functions composed from elementary ops:
 * forward + backward of sum(f(x)) over n f32 elements, as the minimum of
 * repeats, and the ratio composed/fused in one run (both share the machine
 * state, so the ratio is what to read; absolute times are noisy).
 *
 * Then the f32 math kernels alone (ops/vecmath.h), in ns per element over
 * 4096 elements in L1, minimum of the repeats: libm's float functions in a
 * plain loop against each vector kernel set, on inputs uniform in ±0.05 and
 * in ±4. libm's cost grows with |x| (erfcf most); the kernels' must not.
 *   build/bench_activations [n] [repeats] [threads] */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/vecmath.h"
#include "tapegrad.h"
#include "bench.h"

static tg_tensor *gelu_fused(tg_tensor *x) { return tg_gelu(x); }
/* ½x(1 + erf(x/√2)) */
static tg_tensor *gelu_composed(tg_tensor *x)
{
    return tg_mul(tg_mul_scalar(x, 0.5), tg_add_scalar(tg_erf(tg_mul_scalar(x, 0.70710678118654752440)), 1));
}
static tg_tensor *silu_fused(tg_tensor *x) { return tg_silu(x); }
static tg_tensor *silu_composed(tg_tensor *x) { return tg_mul(x, tg_sigmoid(x)); }
static tg_tensor *softplus_fused(tg_tensor *x) { return tg_softplus(x); }
/* max(x, 0) + ln(1 + e^-|x|) */
static tg_tensor *softplus_composed(tg_tensor *x) { return tg_add(tg_relu(x), tg_log1p(tg_exp(tg_neg(tg_abs(x))))); }
static tg_tensor *elu_fused(tg_tensor *x) { return tg_elu(x, 1); }
/* x if x > 0 else eˣ - 1, as where(x > 0, x, expm1(min(x, 0))) */
static tg_tensor *elu_composed(tg_tensor *x)
{
    tg_tensor *zero = tg_tensor_temp(tg_tensor_ctx(x), tg_tensor_dtype(x), 0, NULL);
    return tg_where(tg_step(x), x, tg_expm1(tg_minimum(x, zero)));
}

/* ---- the kernels alone: libm loops against the vector sets ---- */

#define SQRT_HALF 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f
#define GELU_TANH_2C 1.59576912160573071176f /* 2√(2/π) */
#define GELU_TANH_K 0.044715f

static void libm_exp(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = expf(x[i]);
}
static void libm_sigmoid(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = 1 / (1 + expf(-x[i]));
}
static void libm_tanh(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}
static void libm_erf(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = erff(x[i]);
}
static void libm_erfc(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = erfcf(x[i]);
}
static void libm_gelu(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = 0.5f * x[i] * erfcf(-x[i] * SQRT_HALF);
}
static void libm_gelu_tanh(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] / (1 + expf(-GELU_TANH_2C * (x[i] + GELU_TANH_K * x[i] * x[i] * x[i])));
}
static void libm_silu(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] / (1 + expf(-x[i]));
}
/* g·(Φ(x) + x·φ(x)) as ops/activation.c's f64 kernel, in float */
static void libm_gelu_backward(const float *g, const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = g[i] * (0.5f * erfcf(-x[i] * SQRT_HALF) + x[i] * INV_SQRT_2PI * expf(-0.5f * x[i] * x[i]));
}
static void libm_gelu_tanh_backward(const float *g, const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], s = 1 / (1 + expf(-GELU_TANH_2C * (v + GELU_TANH_K * v * v * v)));
        y[i] = g[i] * (s + v * s * (1 - s) * GELU_TANH_2C * (1 + 3 * GELU_TANH_K * v * v));
    }
}

typedef struct {
    const char *name;
    tg_vec_unary_fn *libm_map;
    tg_vec_binary_fn *libm_fused;
    size_t offset; /* of the kernel in tg_vecmath_kernels */
} kernel_case;

static const kernel_case kernel_cases[] = {
    {"exp", libm_exp, NULL, offsetof(tg_vecmath_kernels, exp)},
    {"sigmoid", libm_sigmoid, NULL, offsetof(tg_vecmath_kernels, sigmoid)},
    {"tanh", libm_tanh, NULL, offsetof(tg_vecmath_kernels, tanh)},
    {"erf", libm_erf, NULL, offsetof(tg_vecmath_kernels, erf)},
    {"erfc", libm_erfc, NULL, offsetof(tg_vecmath_kernels, erfc)},
    {"gelu", libm_gelu, NULL, offsetof(tg_vecmath_kernels, gelu)},
    {"gelu_tanh", libm_gelu_tanh, NULL, offsetof(tg_vecmath_kernels, gelu_tanh)},
    {"silu", libm_silu, NULL, offsetof(tg_vecmath_kernels, silu)},
    {"gelu_backward", NULL, libm_gelu_backward, offsetof(tg_vecmath_kernels, gelu_backward)},
    {"gelu_tanh_bwd", NULL, libm_gelu_tanh_backward, offsetof(tg_vecmath_kernels, gelu_tanh_backward)},
};

enum { KERNEL_N = 4096 };

/* min over repeats of one pass over KERNEL_N elements, in ns per element */
static double time_kernel(tg_vec_unary_fn *map, tg_vec_binary_fn *fused, const float *g, const float *x, float *y,
                          int repeats)
{
    double best = 1e30;
    for (int r = 0; r < repeats + 2; r++) {
        double t0 = bench_seconds(CLOCK_MONOTONIC);
        for (int k = 0; k < 16; k++) {
            if (map)
                map(x, y, KERNEL_N);
            else
                fused(g, x, y, KERNEL_N);
        }
        double t = (bench_seconds(CLOCK_MONOTONIC) - t0) / 16;
        if (r >= 2 && t < best)
            best = t;
    }
    return 1e9 * best / KERNEL_N;
}

static void kernel_table(int repeats)
{
    static float x[2][KERNEL_N], g[KERNEL_N], y[KERNEL_N];
    static const float ranges[2] = {0.05f, 4};
    tg_rng rng = tg_rng_seed(2);
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < KERNEL_N; i++)
            x[r][i] = ranges[r] * (float)(2 * tg_rng_uniform(&rng) - 1);
    for (int i = 0; i < KERNEL_N; i++)
        g[i] = 1;
    static const tg_vecmath_isa sets[] = {TG_VECMATH_AVX512, TG_VECMATH_AVX2, TG_VECMATH_PORTABLE};
    printf("\nf32 kernels alone, ns/element (%d elements in L1, min of %d), inputs uniform in ±0.05 | ±4\n",
           KERNEL_N, repeats);
    printf("  %-14s %15s", "f", "libm");
    for (size_t k = 0; k < sizeof sets / sizeof *sets; k++)
        printf(" %15s", tg_vecmath_isa_name(sets[k]));
    printf("\n");
    for (size_t c = 0; c < sizeof kernel_cases / sizeof *kernel_cases; c++) {
        const kernel_case *kc = &kernel_cases[c];
        printf("  %-14s", kc->name);
        for (int r = 0; r < 2; r++)
            printf("%s%6.2f", r ? " | " : "      ", time_kernel(kc->libm_map, kc->libm_fused, g, x[r], y, repeats));
        for (size_t k = 0; k < sizeof sets / sizeof *sets; k++) {
            const char *slot = (const char *)tg_vecmath_pick(sets[k]) + kc->offset;
            tg_vec_unary_fn *map = NULL;
            tg_vec_binary_fn *fused = NULL;
            if (kc->libm_map)
                memcpy(&map, slot, sizeof map);
            else
                memcpy(&fused, slot, sizeof fused);
            for (int r = 0; r < 2; r++)
                printf("%s%6.2f", r ? " | " : "  ", time_kernel(map, fused, g, x[r], y, repeats));
        }
        printf("\n");
    }
}

/* min over repeats of forward + backward, in ns per element */
static double time_it(tg_ctx *ctx, tg_tensor *(*f)(tg_tensor *), tg_tensor *x, int repeats)
{
    double best = 1e30;
    for (int r = 0; r < repeats + 2; r++) { /* two warm-up runs */
        double t0 = bench_seconds(CLOCK_MONOTONIC);
        if (tg_backward(tg_sum(f(x))) != TG_OK) {
            fprintf(stderr, "%s\n", tg_ctx_error(ctx));
            exit(1);
        }
        double t = bench_seconds(CLOCK_MONOTONIC) - t0;
        tg_tape_reset(ctx);
        tg_tensor_zero_grad(x);
        if (r >= 2 && t < best)
            best = t;
    }
    return 1e9 * best / (double)tg_tensor_size(x);
}

int main(int argc, char **argv)
{
    if (argc > 4) {
        fprintf(stderr, "usage: %s [n] [repeats] [threads]\n", argv[0]);
        return 2;
    }
    int64_t n = argc > 1 ? bench_number(argv[0], "n", argv[1], 1, 1L << 30) : 1 << 20;
    int repeats = argc > 2 ? (int)bench_number(argv[0], "repeats", argv[2], 1, 1000000) : 30;
    int threads = argc > 3 ? (int)bench_number(argv[0], "threads", argv[3], 1, 256) : 1;
    tg_ctx *ctx = tg_ctx_new(threads);
    tg_rng rng = tg_rng_seed(1);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(n), 0, 2);
    tg_tensor_set_requires_grad(x, true);
    static const struct {
        const char *name;
        tg_tensor *(*fused)(tg_tensor *), *(*composed)(tg_tensor *);
    } cases[] = {
        {"gelu", gelu_fused, gelu_composed},
        {"silu", silu_fused, silu_composed},
        {"softplus", softplus_fused, softplus_composed},
        {"elu", elu_fused, elu_composed},
    };
    printf("forward + backward of sum(f(x)), f32, n = %lld, %d thread(s), min of %d\n", (long long)n, threads,
           repeats);
    printf("  %-10s %12s %12s %10s\n", "f", "fused ns/el", "composed", "ratio");
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        double fused = time_it(ctx, cases[c].fused, x, repeats);
        double composed = time_it(ctx, cases[c].composed, x, repeats);
        printf("  %-10s %12.2f %12.2f %9.2fx\n", cases[c].name, fused, composed, composed / fused);
    }
    kernel_table(repeats);
    tg_ctx_free(ctx);
    return 0;
}
