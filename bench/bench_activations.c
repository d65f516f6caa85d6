/* Fused activations against the same functions composed from elementary ops:
 * forward + backward of sum(f(x)) over n f32 elements, as the minimum of
 * repeats, and the ratio composed/fused in one run (both share the machine
 * state, so the ratio is what to read; absolute times are noisy).
 *   build/bench_activations [n] [repeats] [threads] */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tapegrad.h"
#include "bench_args.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

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

/* min over repeats of forward + backward, in ns per element */
static double time_it(tg_ctx *ctx, tg_tensor *(*f)(tg_tensor *), tg_tensor *x, int repeats)
{
    double best = 1e30;
    for (int r = 0; r < repeats + 2; r++) { /* two warm-up runs */
        double t0 = now();
        if (tg_backward(tg_sum(f(x))) != TG_OK) {
            fprintf(stderr, "%s\n", tg_ctx_error(ctx));
            exit(1);
        }
        double t = now() - t0;
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
    tg_ctx_free(ctx);
    return 0;
}
