/* Optimizer step alone, in ns per parameter: SGD, momentum and Adam over the
 * parameters of the MLP bench (784-256-128-10: 235,146 float32 values), with
 * fixed random gradients. Each rule runs `steps` steps per repeat; the best
 * repeat is reported (a memory pass: the minimum is the machine's, the rest
 * is other processes).
 *   build/bench_optim [steps] [repeats]
 * A second line per rule runs with gradients that are exactly zero after the
 * first step (dead units, border pixels), from a state at the edge of the
 * normal range: the moments decay into the subnormal range, which must not
 * slow the step down. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapegrad.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Gives every parameter a gradient (one backward of Σ p²·0.5 -> dp = p). */
static void make_grads(tg_ctx *ctx, tg_params params)
{
    tg_tensor *total = NULL;
    for (int i = 0; i < params.count; i++) {
        tg_tensor *s = tg_sum(tg_mul(params.items[i], params.items[i]));
        total = total ? tg_add(total, s) : s;
    }
    tg_backward(tg_mul_scalar(total, 0.5));
    tg_tape_reset(ctx);
}

static double run(tg_ctx *ctx, tg_params params, const char *rule, int steps, int repeats, bool decay_to_zero)
{
    tg_optimizer *opt = !strcmp(rule, "sgd")        ? tg_optim_sgd_new(params, 1e-3)
                        : !strcmp(rule, "momentum") ? tg_optim_momentum_new(params, 1e-3, 0.9)
                                                    : tg_optim_adam_new(params, 1e-4, 0.9, 0.999, 1e-8);
    make_grads(ctx, params);
    tg_optim_step(opt);
    if (decay_to_zero) { /* every gradient exactly 0, the state where ~75k such steps leave it */
        for (int i = 0; i < params.count; i++)
            tg_tensor_fill(tg_tensor_grad(params.items[i]), 0);
        tg_params state = tg_optim_state(opt);
        for (int i = 0; i < state.count; i++)
            tg_tensor_fill(state.items[i], 1e-38); /* at the edge of float32's normal range */
    }
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        for (int s = 0; s < steps; s++)
            tg_optim_step(opt);
        double t = now() - t0;
        best = t < best ? t : best;
    }
    tg_optim_free(opt);
    return 1e9 * best / (double)steps / (double)tg_params_count(params);
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 200;
    int repeats = argc > 2 ? atoi(argv[2]) : 10;
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(7);
    const int64_t widths[] = {784, 256, 128, 10};
    const tg_activation acts[] = {TG_ACT_RELU, TG_ACT_RELU, TG_ACT_NONE};
    tg_mlp *mlp = tg_mlp_new(ctx, TG_F32, 3, widths, acts, TG_INIT_HE, &rng);
    if (!mlp)
        return 1;
    tg_params params = tg_mlp_params(mlp);
    printf("optimizer step alone, %lld float32 parameters (MLP 784-256-128-10), best of %d x %d steps:\n",
           (long long)tg_params_count(params), repeats, steps);
    const char *rules[] = {"sgd", "momentum", "adam"};
    for (int k = 0; k < 3; k++) {
        tg_mlp_init(mlp, TG_INIT_HE, 0, &rng);
        double busy = run(ctx, params, rules[k], steps, repeats, false);
        tg_mlp_init(mlp, TG_INIT_HE, 0, &rng);
        double idle = run(ctx, params, rules[k], steps, repeats, true);
        printf("  %-9s %6.3f ns/param   after zero gradients %6.3f ns/param\n", rules[k], busy, idle);
        printf("RESULT optim=%s ns_per_param=%.4f zero_grad_ns_per_param=%.4f\n", rules[k], busy, idle);
    }
    tg_mlp_free(mlp);
    tg_ctx_free(ctx);
    return 0;
}
