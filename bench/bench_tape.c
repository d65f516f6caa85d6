/* Tape overhead: forward + backward of a 10,000-op scalar graph, in ns per
 * op. With scalars the arithmetic is nothing, so this measures the tape:
 * recording, step memory, dispatch of backward rules, accumulation.
 *   build/bench_tape [ops] [repeats] */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tapegrad.h"
#include "bench.h"

/* ops scalar ops mixing the kinds a real graph has (binary with fan-in,
 * unary maps, scalar ops). */
static tg_tensor *build(tg_tensor *x, tg_tensor *w, int ops)
{
    tg_tensor *y = x;
    for (int i = 0; i < ops; i += 4) {
        y = tg_mul(y, w);
        y = tg_add_scalar(y, 0.5);
        y = tg_tanh(y);
        y = tg_add(y, x);
    }
    return y;
}

int main(int argc, char **argv)
{
    if (argc > 3) {
        fprintf(stderr, "usage: %s [ops] [repeats]\n", argv[0]);
        return 2;
    }
    int ops = argc > 1 ? (int)bench_number(argv[0], "ops", argv[1], 1, 100000000) : 10000;
    int repeats = argc > 2 ? (int)bench_number(argv[0], "repeats", argv[2], 1, 1000000) : 200;
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *x = tg_tensor_scalar(ctx, TG_F32, 0.3);
    tg_tensor *w = tg_tensor_scalar(ctx, TG_F32, 0.9);
    tg_tensor_set_requires_grad(x, true);
    tg_tensor_set_requires_grad(w, true);

    double best_fwd = 1e30, best_total = 1e30;
    for (int r = 0; r < repeats + 3; r++) { /* the first runs warm the memory */
        double t0 = bench_seconds(CLOCK_MONOTONIC);
        tg_tensor *y = build(x, w, ops);
        double t1 = bench_seconds(CLOCK_MONOTONIC);
        if (tg_backward(y) != TG_OK)
            return 1;
        double t2 = bench_seconds(CLOCK_MONOTONIC);
        tg_tape_reset(ctx);
        if (r >= 3) {
            best_fwd = t1 - t0 < best_fwd ? t1 - t0 : best_fwd;
            best_total = t2 - t0 < best_total ? t2 - t0 : best_total;
        }
    }
    /* A no-grad forward: the kernels and step memory without the tape. */
    double best_plain = 1e30;
    tg_grad_set_enabled(ctx, false);
    for (int r = 0; r < repeats; r++) {
        double t0 = bench_seconds(CLOCK_MONOTONIC);
        build(x, w, ops);
        best_plain = bench_seconds(CLOCK_MONOTONIC) - t0 < best_plain ? bench_seconds(CLOCK_MONOTONIC) - t0 : best_plain;
        tg_tape_reset(ctx);
    }
    printf("tape overhead, %d-op scalar graph (best of %d):\n", ops, repeats);
    printf("  forward, no grad (no tape)   %6.1f ns/op\n", 1e9 * best_plain / ops);
    printf("  forward, recorded            %6.1f ns/op\n", 1e9 * best_fwd / ops);
    printf("  forward + backward           %6.1f ns/op\n", 1e9 * best_total / ops);
    tg_ctx_free(ctx);
    return 0;
}
