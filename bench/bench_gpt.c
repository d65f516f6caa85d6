/* GPT training throughput (issue 19): a character-level GPT (vocabulary 65,
 * token and learned position embeddings, pre-LN blocks with causal multi-head
 * attention and a GELU MLP of 4d, final layer norm, LM head tied to the token
 * embedding), float32, AdamW (lr 3e-4, betas 0.9/0.99, weight decay 0.1 on the
 * matrices only: a parameter group spares biases, norms and embeddings),
 * gradient-norm clipping at 1, on random token windows. Two configurations:
 *
 *   small:  T = 32,  d = 64,  2 heads, 2 blocks, batch 16
 *   medium: T = 128, d = 256, 4 heads, 4 blocks, batch 8  (~3.2M parameters)
 *
 *   bench_gpt [--config small|medium] [--threads N] [--steps N] [--warmup N]
 *
 * N threads: a context of N threads (the GEMMs and the kernels that split
 * their rows share them). Warm-up steps (arena and GEMM buffers sized) run
 * untimed, then --steps timed steps: batch fill, forward, loss, backward,
 * clipping, AdamW step, tape reset. Prints steps/s (wall clock and per
 * CPU-second of the process) and peak RSS (getrusage), then one line
 * "RESULT tapegrad threads=N samples_per_s=STEPS_PER_S samples_per_cpu_s=C
 * peak_rss_mb=Y params=P" for bench/run_gpt.sh (its columns are steps, named
 * as the other run scripts read them). bench/pytorch_gpt.py is the same
 * model in PyTorch.
 *
 * The ceiling: a step's matrix products come to a fixed number of FLOPs
 * (gemm_flops below); timed here on the same context, tapegrad's GEMM on the
 * step's biggest product shape gives the best rate this machine reaches, and
 * FLOPs / rate is the time a step cannot go below even if everything else
 * took no time at all. "RESULT ... ceiling_steps_per_s=C" reports it.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "tapegrad.h"
#include "bench.h"

enum { VOCAB = 65, MAX_BLOCKS = 8 };

/* FLOPs of one step's products (2mnk each), forward and backward: every
 * product of the forward costs two of the same size in backward (dX and
 * dW, or dQ and dK, dP and dV). Per block: the q, k, v, output and MLP
 * projections (12d² weights, one multiply-add per token), and per head the
 * scores q·kᵀ and P·v over the whole T×T square; the tied LM head. */
static double gemm_flops(int64_t tokens, int64_t t, int64_t d, int64_t blocks)
{
    double projections = 2.0 * (double)tokens * 12.0 * (double)(d * d) * (double)blocks;
    double attention = 2.0 * 2.0 * (double)tokens * (double)t * (double)d * (double)blocks;
    double head = 2.0 * (double)tokens * (double)d * VOCAB;
    return 3.0 * (projections + attention + head);
}

/* The best rate (FLOP/s) of tapegrad's GEMM on the step's biggest product,
 * x [tokens, d] · W₁ᵀ [d, 4d], fastest of 20 calls on ctx's threads; on one
 * thread timed in process CPU time, which a shared machine's other
 * processes do not stretch. */
static double gemm_rate(tg_ctx *ctx, int64_t tokens, int64_t d, tg_rng *rng)
{
    clockid_t clock = tg_ctx_threads(ctx) == 1 ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
    tg_tensor *x = tg_tensor_randn(ctx, rng, TG_F32, TG_SHAPE(tokens, d), 0, 1);
    tg_tensor *w = tg_tensor_randn(ctx, rng, TG_F32, TG_SHAPE(4 * d, d), 0, 1);
    double best = 1e30;
    for (int i = 0; i < 20; i++) {
        double t0 = bench_seconds(clock);
        tg_matmul_t(x, w, false, true);
        double dt = bench_seconds(clock) - t0;
        best = dt < best ? dt : best;
        tg_tape_reset(ctx);
    }
    tg_tensor_free(x);
    tg_tensor_free(w);
    return 2.0 * (double)tokens * (double)d * 4.0 * (double)d / best;
}

int main(int argc, char **argv)
{
    const char *config = "small";
    int threads = 1, steps = 0, warmup = -1;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--config") && v)
            config = v;
        else if (!strcmp(a, "--threads"))
            threads = (int)bench_number("bench_gpt", "--threads", v, 1, 256);
        else if (!strcmp(a, "--steps"))
            steps = (int)bench_number("bench_gpt", "--steps", v, 1, 1000000);
        else if (!strcmp(a, "--warmup"))
            warmup = (int)bench_number("bench_gpt", "--warmup", v, 0, 1000000);
        else {
            fprintf(stderr, "bench_gpt: unknown option %s\n", a);
            return 2;
        }
    }
    bool small = !strcmp(config, "small");
    if (!small && strcmp(config, "medium")) {
        fprintf(stderr, "bench_gpt: --config %s; expected small or medium\n", config);
        return 2;
    }
    int64_t t = small ? 32 : 128, d = small ? 64 : 256, heads = small ? 2 : 4, blocks = small ? 2 : 4;
    int64_t batch = small ? 16 : 8;
    if (!steps)
        steps = small ? 400 : 40;
    if (warmup < 0)
        warmup = small ? 30 : 5;

    tg_layer_spec layers[MAX_BLOCKS + 4];
    int n = 0;
    layers[n++] = (tg_layer_spec){.kind = TG_LAYER_EMBEDDING, .name = "wte", .in = VOCAB, .out = d};
    layers[n++] = (tg_layer_spec){.kind = TG_LAYER_POSITION_EMBEDDING, .name = "wpe", .in = t, .out = d};
    for (int64_t b = 0; b < blocks; b++)
        layers[n++] = (tg_layer_spec){.kind = TG_LAYER_TRANSFORMER_BLOCK, .in = d, .out = 4 * d, .heads = (int)heads,
                                      .causal = true};
    layers[n++] = (tg_layer_spec){.kind = TG_LAYER_LAYER_NORM, .name = "ln_f", .in = d};
    layers[n++] = (tg_layer_spec){.kind = TG_LAYER_DENSE, .name = "lm_head", .in = d, .out = VOCAB, .tie = "wte"};
    tg_ctx *ctx = tg_ctx_new(threads);
    tg_rng rng = tg_rng_seed(1);
    tg_model *model = tg_model_new(ctx, TG_F32, TG_SHAPE(t), n, layers, &rng);
    tg_params params = tg_model_params(model);
    tg_optimizer *opt = model ? tg_optim_adamw_new(params, 3e-4, 0.9, 0.99, 1e-8, 0.1) : NULL;
    tg_tensor *spared[64];
    int n_spared = 0;
    for (int i = 0; opt && i < params.count && n_spared < 64; i++)
        if (tg_tensor_rank(params.items[i]) < 2 || !strncmp(tg_tensor_name(params.items[i]), "wte.", 4) ||
            !strncmp(tg_tensor_name(params.items[i]), "wpe.", 4))
            spared[n_spared++] = params.items[i];
    if (!opt || tg_optim_add_group(opt, (tg_params){n_spared, spared}, 1.0, 0.0) < 0) {
        fprintf(stderr, "bench_gpt: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    double flops = gemm_flops(batch * t, t, d, blocks), rate = gemm_rate(ctx, batch * t, d, &rng);
    tg_tensor *x = tg_tensor_new(ctx, TG_I64, TG_SHAPE(batch, t)), *y = tg_tensor_new(ctx, TG_I64, TG_SHAPE(batch, t));
    double loss_value = 0, wall = 0, cpu = 0;
    for (int step = 0; step < warmup + steps; step++) {
        if (step == warmup) {
            wall = bench_seconds(CLOCK_MONOTONIC);
            cpu = bench_seconds(CLOCK_PROCESS_CPUTIME_ID);
        }
        int64_t *xs = tg_tensor_data(x), *ys = tg_tensor_data(y);
        for (int64_t i = 0; i < batch * t; i++)
            xs[i] = (int64_t)tg_rng_below(&rng, VOCAB), ys[i] = (int64_t)tg_rng_below(&rng, VOCAB);
        tg_optim_zero_grad(opt);
        tg_tensor *loss = tg_cross_entropy(tg_model_forward(model, x), y);
        if (!loss || tg_backward(loss) != TG_OK) {
            fprintf(stderr, "bench_gpt: %s\n", tg_ctx_error(ctx));
            return 1;
        }
        loss_value = tg_tensor_get(loss, 0);
        tg_clip_grad_norm(params, 1.0);
        tg_optim_step(opt);
        tg_tape_reset(ctx);
    }
    wall = bench_seconds(CLOCK_MONOTONIC) - wall;
    cpu = bench_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss = (double)ru.ru_maxrss / 1024, steps_rate = steps / wall, cpu_rate = steps / cpu;
    long long count = (long long)tg_model_param_count(model);
    printf("tapegrad  GPT %s (T %lld, d %lld, %lld heads, %lld blocks, batch %lld; %lld parameters), %d thread%s: "
           "%d steps in %.3f s = %.2f steps/s, %.2f per CPU-second; loss %.4f; peak RSS %.1f MB\n",
           config, (long long)t, (long long)d, (long long)heads, (long long)blocks, (long long)batch, count, threads,
           threads > 1 ? "s" : "", steps, wall, steps_rate, cpu_rate, loss_value, rss);
    printf("  ceiling: %.3f GFLOP of products a step; at the GEMM's best %.1f GFLOP/s ([%lld, %lld]·[%lld, %lld]) "
           "a step takes at least %.2f ms: %.1f steps/s; this run: %.0f%% of it (per CPU-second: %.0f%%)\n",
           flops * 1e-9, rate * 1e-9, (long long)(batch * t), (long long)d, (long long)d, (long long)(4 * d),
           1e3 * flops / rate, rate / flops, 100 * steps_rate * flops / rate, 100 * cpu_rate * flops / rate / threads);
    printf("RESULT tapegrad threads=%d samples_per_s=%.2f samples_per_cpu_s=%.2f peak_rss_mb=%.1f params=%lld "
           "ceiling_steps_per_s=%.2f\n", threads, steps_rate, cpu_rate, rss, count, rate / flops);
    tg_optim_free(opt);
    tg_ctx_free(ctx);
    return 0;
}
