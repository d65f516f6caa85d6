/* Optimizer step alone, in ns per parameter: SGD, momentum and Adam over the
 * parameters of the MLP bench (784-256-128-10: 235,146 float32 values), with
 * fixed random gradients. Each rule runs `steps` steps per repeat; the best
 * repeat is reported (a memory pass: the minimum is the machine's, the rest
 * is other processes).
 *   build/bench_optim [steps] [repeats]
 * A second line per rule runs with gradients that are exactly zero after the
 * first step (dead units, border pixels), from a state at the edge of the
 * normal range: the moments decay into the subnormal range, which must not
 * slow the step down. A third runs with gradients of about 1e-18 (normal
 * numbers whose squares are not) in the caller's mode, as a loop of one's own
 * around tg_optim_step runs: without flush-to-zero, Adam's (1-β₂)·g² is then
 * subnormal and takes the slow path (tg_train flushes it). A fourth number is the rule's memory floor: a pass
 * with the same loads and stores over the same buffers (SGD: w, g read, w
 * written; momentum: + v; Adam: + m, v) and one add each instead of the
 * rule's arithmetic. A rule near its floor is bound by memory, not by its
 * arithmetic (Adam's √ and ÷). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapegrad.h"
#include "bench.h"

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

/* The floor pass over one parameter: every buffer the rule reads is read
 * and every buffer it writes is written, with one add each. Compiled like the
 * library's update loops: baseline and AVX-512, picked at run time. */
#define FLOOR_PASS(SUFFIX, ATTR)                                                                        \
    ATTR static void floor_pass##SUFFIX(int per, int64_t n, float *restrict w, const float *restrict g,  \
                                        float *restrict s0, float *restrict s1)                          \
    {                                                                                                    \
        if (per == 0)                                                                                    \
            for (int64_t k = 0; k < n; k++)                                                              \
                w[k] += g[k];                                                                            \
        else if (per == 1)                                                                               \
            for (int64_t k = 0; k < n; k++) {                                                            \
                s0[k] += g[k];                                                                           \
                w[k] += g[k];                                                                            \
            }                                                                                            \
        else                                                                                             \
            for (int64_t k = 0; k < n; k++) {                                                            \
                s0[k] += g[k];                                                                           \
                s1[k] += g[k];                                                                           \
                w[k] += g[k];                                                                            \
            }                                                                                            \
    }
FLOOR_PASS(, )
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
FLOOR_PASS(_avx512, __attribute__((target("avx512f,avx512vl,avx512dq,avx2"))))
#endif

/* The floor of one step: floor_pass over every parameter (state: the
 * optimizer's states of each parameter). */
static void memory_pass(tg_params params, tg_params state)
{
    void (*pass)(int, int64_t, float *, const float *, float *, float *) = floor_pass;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        pass = floor_pass_avx512;
#endif
    int per = params.count ? state.count / params.count : 0;
    for (int i = 0; i < params.count; i++)
        pass(per, tg_tensor_size(params.items[i]), tg_tensor_data(params.items[i]),
             tg_tensor_data(tg_tensor_grad(params.items[i])), per > 0 ? tg_tensor_data(state.items[i * per]) : NULL,
             per > 1 ? tg_tensor_data(state.items[i * per + 1]) : NULL);
}

typedef enum { GRADIENTS, ZERO_GRADIENTS, TINY_GRADIENTS, MEMORY_FLOOR } bench_mode;

static double run(tg_ctx *ctx, tg_params params, const char *rule, int steps, int repeats, bench_mode mode)
{
    tg_optimizer *opt = !strcmp(rule, "sgd")        ? tg_optim_sgd_new(params, 1e-3)
                        : !strcmp(rule, "momentum") ? tg_optim_momentum_new(params, 1e-3, 0.9)
                                                    : tg_optim_adam_new(params, 1e-4, 0.9, 0.999, 1e-8);
    make_grads(ctx, params);
    tg_optim_step(opt);
    if (mode == TINY_GRADIENTS) /* p·1e-18: |g| from about 1e-20 to 1e-18 */
        for (int i = 0; i < params.count; i++) {
            tg_tensor *g = tg_tensor_grad(params.items[i]);
            for (int64_t k = 0; k < tg_tensor_size(g); k++)
                tg_tensor_set(g, k, 1e-18 * tg_tensor_get(g, k));
        }
    if (mode == ZERO_GRADIENTS) { /* every gradient exactly 0, the state where ~75k such steps leave it */
        for (int i = 0; i < params.count; i++)
            tg_tensor_fill(tg_tensor_grad(params.items[i]), 0);
        tg_params state = tg_optim_state(opt);
        for (int i = 0; i < state.count; i++)
            tg_tensor_fill(state.items[i], 1e-38); /* at the edge of float32's normal range */
    }
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        double t0 = bench_seconds(CLOCK_MONOTONIC);
        for (int s = 0; s < steps; s++)
            if (mode == MEMORY_FLOOR)
                memory_pass(params, tg_optim_state(opt));
            else
                tg_optim_step(opt);
        double t = bench_seconds(CLOCK_MONOTONIC) - t0;
        best = t < best ? t : best;
    }
    tg_optim_free(opt);
    return 1e9 * best / (double)steps / (double)tg_params_count(params);
}

int main(int argc, char **argv)
{
    if (argc > 3) {
        fprintf(stderr, "usage: %s [steps] [repeats]\n", argv[0]);
        return 2;
    }
    int steps = argc > 1 ? (int)bench_number(argv[0], "steps", argv[1], 1, 1000000) : 200;
    int repeats = argc > 2 ? (int)bench_number(argv[0], "repeats", argv[2], 1, 100000) : 10;
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
        double busy = run(ctx, params, rules[k], steps, repeats, GRADIENTS);
        tg_mlp_init(mlp, TG_INIT_HE, 0, &rng);
        double idle = run(ctx, params, rules[k], steps, repeats, ZERO_GRADIENTS);
        tg_mlp_init(mlp, TG_INIT_HE, 0, &rng);
        double tiny = run(ctx, params, rules[k], steps, repeats, TINY_GRADIENTS);
        tg_mlp_init(mlp, TG_INIT_HE, 0, &rng);
        double floor = run(ctx, params, rules[k], steps, repeats, MEMORY_FLOOR);
        printf("  %-9s %6.3f ns/param   after zero gradients %6.3f   tiny gradients %6.3f   memory floor %6.3f "
               "(%.0f%% of the step)\n", rules[k], busy, idle, tiny, floor, 100 * floor / busy);
        printf("RESULT optim=%s ns_per_param=%.4f zero_grad_ns_per_param=%.4f tiny_grad_ns_per_param=%.4f "
               "floor_ns_per_param=%.4f\n", rules[k], busy, idle, tiny, floor);
    }
    tg_mlp_free(mlp);
    tg_ctx_free(ctx);
    return 0;
}
