/* The fused transformer ops against their compositions of existing ops, in
 * µs per forward + backward call, float32, one thread unless --threads:
 *   build/bench_fused [--threads N] [--reps R] [--calls N]
 * --calls runs N calls of each graph once, untimed beyond that (for
 * callgrind's instruction counts, steady on a busy machine).
 * multi_head_attention's "composed" column is the head split the attention
 * layer ran before it: slices, permuted copies, sdpa, the heads permuted back.
 * Shapes of the small character GPT (batch 16, T = 32, d_model 64,
 * 2 heads, vocabulary 132) and of its medium one (batch 8, T = 128, d 256,
 * 4 heads). Each line is the best of R repeats of a loop of calls, each call
 * a forward, a backward and a tape reset: the minimum is the machine's, the
 * rest is other processes. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapegrad.h"
#include "bench.h"

typedef struct {
    tg_tensor *x, *gamma, *beta, *q, *k, *v, *qkv, *targets;
    int64_t t, heads;
} inputs;

typedef tg_tensor *(*graph_fn)(const inputs *in);

static tg_tensor *layer_norm_fused(const inputs *in) { return tg_layer_norm(in->x, in->gamma, in->beta, 1e-5); }
static tg_tensor *layer_norm_composed(const inputs *in)
{
    tg_tensor *x = in->x, *xc = tg_sub(x, tg_mean_axis(x, -1, true));
    tg_tensor *r = tg_pow_scalar(tg_add_scalar(tg_mean_axis(tg_mul(xc, xc), -1, true), 1e-5), -0.5);
    return tg_add(tg_mul(tg_mul(xc, r), in->gamma), in->beta);
}

static tg_tensor *attention_fused(const inputs *in)
{
    return tg_scaled_dot_product_attention(in->q, in->k, in->v, NULL, true, 0, NULL);
}
/* heads folded into a stack, the causal mask through where(−∞) */
static tg_tensor *attention_composed(const inputs *in)
{
    const int64_t *s = tg_tensor_shape(in->q);
    int64_t bh = s[0] * s[1];
    tg_ctx *ctx = tg_tensor_ctx(in->q);
    tg_tensor *mask = tg_tensor_temp(ctx, TG_F32, TG_SHAPE(s[2], s[2]));
    for (int64_t i = 0; i < s[2]; i++)
        for (int64_t j = 0; j < s[2]; j++)
            tg_tensor_set(mask, i * s[2] + j, j > i);
    tg_tensor *q3 = tg_reshape(in->q, TG_SHAPE(bh, s[2], s[3])), *k3 = tg_reshape(in->k, TG_SHAPE(bh, s[2], s[3]));
    tg_tensor *z = tg_mul_scalar(tg_matmul_t(q3, k3, false, true), 1 / sqrt((double)s[3]));
    z = tg_where(mask, tg_tensor_scalar(ctx, TG_F32, -INFINITY), z);
    tg_tensor *y = tg_matmul(tg_softmax(z), tg_reshape(in->v, TG_SHAPE(bh, s[2], s[3])));
    return tg_reshape(y, 4, s);
}

/* causal attention on the packed projection qkv [B, T, 3D], heads read in place */
static tg_tensor *packed_attention_fused(const inputs *in)
{
    return tg_multi_head_attention(in->qkv, (int)in->heads, NULL, true, 0, NULL);
}
/* the same as the layer did before: a slice and a permuted copy per part,
 * scaled_dot_product_attention, the heads permuted back side by side */
static tg_tensor *packed_attention_composed(const inputs *in)
{
    const int64_t *s = tg_tensor_shape(in->qkv);
    int64_t d = s[2] / 3;
    tg_tensor *parts[3];
    for (int i = 0; i < 3; i++)
        parts[i] = tg_permute(tg_reshape(tg_slice(in->qkv, 2, i * d, (i + 1) * d, 1),
                                         TG_SHAPE(s[0], s[1], in->heads, d / in->heads)),
                              (const int[]){0, 2, 1, 3});
    tg_tensor *y = tg_scaled_dot_product_attention(parts[0], parts[1], parts[2], NULL, true, 0, NULL);
    return tg_reshape(tg_permute(y, (const int[]){0, 2, 1, 3}), TG_SHAPE(s[0], s[1], d));
}

static tg_tensor *cross_entropy_fused(const inputs *in) { return tg_cross_entropy(in->x, in->targets); }
/* the [n, c] call on a reshaped copy, targets as whole numbers in f32 */
static tg_tensor *cross_entropy_flat(const inputs *in)
{
    const int64_t *s = tg_tensor_shape(in->x);
    tg_tensor *flat = tg_tensor_temp(tg_tensor_ctx(in->x), TG_F32, TG_SHAPE(s[0] * s[1]));
    for (int64_t i = 0; i < s[0] * s[1]; i++)
        tg_tensor_set(flat, i, tg_tensor_get(in->targets, i));
    return tg_cross_entropy(tg_reshape(in->x, TG_SHAPE(s[0] * s[1], s[2])), flat);
}

/* µs per forward + backward of Σ y⊙w (w fixed), best of reps */
static int fixed_calls; /* --calls */

static double time_graph(tg_ctx *ctx, graph_fn f, const inputs *in, tg_tensor *w, int reps)
{
    double best = 1e30;
    for (int r = 0; r < (fixed_calls ? 1 : reps); r++) {
        int calls = 0;
        double start = bench_seconds(CLOCK_MONOTONIC), elapsed;
        do {
            tg_tensor *y = f(in);
            tg_tensor *loss = w ? tg_sum(tg_mul(y, w)) : y;
            if (!loss || tg_backward(loss) != TG_OK) {
                fprintf(stderr, "bench_fused: %s\n", tg_ctx_error(ctx));
                exit(1);
            }
            tg_tape_reset(ctx);
            calls++;
        } while (fixed_calls ? calls < fixed_calls : bench_seconds(CLOCK_MONOTONIC) - start < 0.05);
        elapsed = bench_seconds(CLOCK_MONOTONIC) - start;
        best = elapsed / calls < best ? elapsed / calls : best;
    }
    return best * 1e6;
}

static void row(const char *what, double fused, double composed)
{
    printf("%-52s %9.1f µs %9.1f µs %6.2f×\n", what, fused, composed, composed / fused);
}

int main(int argc, char **argv)
{
    int threads = 1, reps = 7;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--calls"))
            fixed_calls = atoi(argv[i + 1]);
    }
    tg_ctx *ctx = tg_ctx_new(threads);
    tg_rng rng = tg_rng_seed(1);
    printf("%-52s %12s %12s %7s\n", "float32, forward + backward", "fused", "composed", "ratio");
    const struct { int64_t batch, t, d, heads, vocab; const char *name; } configs[] = {
        {16, 32, 64, 2, 132, "small"}, {8, 128, 256, 4, 132, "medium"}};
    for (int c = 0; c < 2; c++) {
        int64_t b = configs[c].batch, t = configs[c].t, d = configs[c].d, h = configs[c].heads;
        char what[96];
        inputs in = {.x = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(b, t, d), 0, 1),
                     .gamma = tg_tensor_rand(ctx, &rng, TG_F32, TG_SHAPE(d), 0.5, 1.5),
                     .beta = tg_tensor_rand(ctx, &rng, TG_F32, TG_SHAPE(d), -1, 1)};
        tg_tensor_set_requires_grad(in.x, true);
        tg_tensor_set_requires_grad(in.gamma, true);
        tg_tensor_set_requires_grad(in.beta, true);
        tg_tensor *w = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(b, t, d), 0, 1);
        snprintf(what, sizeof what, "%s: layer_norm [%lld, %lld, %lld]", configs[c].name, (long long)b, (long long)t,
                 (long long)d);
        row(what, time_graph(ctx, layer_norm_fused, &in, w, reps), time_graph(ctx, layer_norm_composed, &in, w, reps));

        int64_t qs[4] = {b, h, t, d / h};
        in.q = tg_tensor_randn(ctx, &rng, TG_F32, 4, qs, 0, 1);
        in.k = tg_tensor_randn(ctx, &rng, TG_F32, 4, qs, 0, 1);
        in.v = tg_tensor_randn(ctx, &rng, TG_F32, 4, qs, 0, 1);
        tg_tensor_set_requires_grad(in.q, true);
        tg_tensor_set_requires_grad(in.k, true);
        tg_tensor_set_requires_grad(in.v, true);
        tg_tensor *wq = tg_tensor_randn(ctx, &rng, TG_F32, 4, qs, 0, 1);
        snprintf(what, sizeof what, "%s: causal attention [%lld, %lld, %lld, %lld]", configs[c].name, (long long)b,
                 (long long)h, (long long)t, (long long)(d / h));
        row(what, time_graph(ctx, attention_fused, &in, wq, reps), time_graph(ctx, attention_composed, &in, wq, reps));

        in.qkv = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(b, t, 3 * d), 0, 1);
        in.heads = h;
        tg_tensor_set_requires_grad(in.qkv, true);
        tg_tensor *wy = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(b, t, d), 0, 1);
        snprintf(what, sizeof what, "%s: multi_head_attention [%lld, %lld, %lld] (vs split)", configs[c].name,
                 (long long)b, (long long)t, (long long)(3 * d));
        row(what, time_graph(ctx, packed_attention_fused, &in, wy, reps),
            time_graph(ctx, packed_attention_composed, &in, wy, reps));

        int64_t vocab = configs[c].vocab;
        inputs ce = {.x = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(b, t, vocab), 0, 2),
                     .targets = tg_tensor_new(ctx, TG_I64, TG_SHAPE(b, t))};
        tg_tensor_set_requires_grad(ce.x, true);
        for (int64_t i = 0; i < b * t; i++)
            tg_tensor_set(ce.targets, i, (double)tg_rng_below(&rng, (uint64_t)vocab));
        snprintf(what, sizeof what, "%s: cross_entropy [%lld, %lld, %lld] (vs reshape to 2-D)", configs[c].name,
                 (long long)b, (long long)t, (long long)vocab);
        row(what, time_graph(ctx, cross_entropy_fused, &ce, NULL, reps), time_graph(ctx, cross_entropy_flat, &ce, NULL, reps));
    }
    tg_ctx_free(ctx);
    return 0;
}
