/* User ops against built-ins, side by side in one run: tanh as the built-in
 * tg_tanh, as a user op with a backward made of ops, and as a user op with a
 * raw backward kernel. Two sizes: a chain of scalar ops (the per-call cost:
 * checks, zeroed output, guard, callbacks) and a map over 1M elements (the
 * kernel dominates; the built-in may use the context's threads, the user
 * kernel runs on the caller's). Forward + backward, best of the repeats.
 *   build/bench_user_op [repeats] */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tapegrad.h"
#include "bench.h"

static tg_status tanh_forward(const tg_op_call *c)
{
    const float *x = tg_tensor_data_const(c->inputs[0]);
    float *y = tg_tensor_data(c->output);
    for (int64_t i = 0, n = tg_tensor_size(c->output); i < n; i++)
        y[i] = tanhf(x[i]);
    return TG_OK;
}

static tg_status tanh_backward_ops(const tg_op_call *c, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_tanh_backward(dy, c->output); /* dy·(1 − y²) */
    return TG_OK;
}

static tg_status tanh_backward_raw(const tg_op_call *c, const tg_tensor *dy, tg_tensor *const *dx)
{
    const float *y = tg_tensor_data_const(c->output), *g = tg_tensor_data_const(dy);
    float *d = tg_tensor_data(dx[0]);
    for (int64_t i = 0, n = tg_tensor_size(dy); i < n; i++)
        d[i] = g[i] * (1 - y[i] * y[i]);
    return TG_OK;
}

static const tg_op_def tanh_ops_def = {.name = "tanh_ops", .n_inputs = 1, .forward = tanh_forward,
                                       .backward = tanh_backward_ops};
static const tg_op_def tanh_raw_def = {.name = "tanh_raw", .n_inputs = 1, .forward = tanh_forward,
                                       .backward_raw = tanh_backward_raw};

/* tanh applied `depth` times, then summed; op NULL: the built-in. */
static tg_tensor *chain(const tg_op *op, tg_tensor *x, int depth)
{
    tg_tensor *y = x;
    for (int i = 0; i < depth; i++)
        y = op ? tg_op_apply(op, 1, &y, NULL) : tg_tanh(y);
    return tg_sum(y);
}

/* Best seconds of forward + backward over the repeats (3 warm-up runs first). */
static double best_time(tg_ctx *ctx, const tg_op *op, tg_tensor *x, int depth, int repeats)
{
    double best = 1e30;
    for (int r = 0; r < repeats + 3; r++) {
        double t0 = bench_seconds(CLOCK_MONOTONIC);
        if (tg_backward(chain(op, x, depth)) != TG_OK) {
            fprintf(stderr, "%s\n", tg_ctx_error(ctx));
            exit(1);
        }
        double t = bench_seconds(CLOCK_MONOTONIC) - t0;
        tg_tape_reset(ctx);
        tg_tensor_zero_grad(x);
        if (r >= 3 && t < best)
            best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s [repeats]\n", argv[0]);
        return 2;
    }
    int repeats = argc > 1 ? (int)bench_number(argv[0], "repeats", argv[1], 1, 1000000) : 50;
    tg_ctx *ctx = tg_ctx_new(1);
    const tg_op *ops[3] = {NULL, tg_op_register(ctx, &tanh_ops_def), tg_op_register(ctx, &tanh_raw_def)};
    const char *names[3] = {"built-in tg_tanh", "user op, ops backward", "user op, raw backward"};
    struct {
        int64_t size;
        int depth;
        const char *what;
    } sizes[2] = {{1, 10000, "scalar chain, 10,000 ops: ns per op"}, {1 << 20, 10, "1M elements x 10 ops: ns per element-op"}};
    tg_rng rng = tg_rng_seed(1);
    for (int s = 0; s < 2; s++) {
        tg_tensor *x = tg_tensor_rand(ctx, &rng, TG_F32, 1, &sizes[s].size, -2, 2);
        tg_tensor_set_requires_grad(x, true);
        double base = 0;
        printf("%s (forward + backward, best of %d)\n", sizes[s].what, repeats);
        for (int k = 0; k < 3; k++) {
            double t = best_time(ctx, ops[k], x, sizes[s].depth, s ? repeats / 5 + 1 : repeats);
            double per = 1e9 * t / ((double)sizes[s].depth * (double)sizes[s].size);
            if (k == 0)
                base = per;
            printf("  %-24s %8.2f   x%.2f\n", names[k], per, per / base);
        }
        tg_tensor_free(x);
    }
    tg_ctx_free(ctx);
    return 0;
}
