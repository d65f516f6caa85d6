/* Heads without copies: the attention core of the character GPT
 * (q, k, v [B, T, D] split into H heads, softmax(q·kᵀ/√d)·v, heads merged
 * back) and a dense layer on [B, T, D], in µs per forward + backward call,
 * float32:
 *   build/bench_views [--threads N] [--reps R] [--calls N] [--config small|medium] [--graph NAME]
 * (--calls 1 --reps 1 with one --config and --graph: a run for callgrind's
 * instruction counts, steady where timings are not)
 * Graphs:
 *   copies   the code a user wrote before views: reshape → transpose →
 *            reshape to [B·H, T, d] for each of q, k, v, rank-3 matmuls, and
 *            the same three back (each reshape a copy in a library built
 *            before views; a view now, the transposes still copy)
 *   heads    reshape (a view) → permute to [B, H, T, d], matmuls on rank 4,
 *            permute back → reshape (a view)
 *   no-split the products and softmax alone on q, k, v already [B, H, T, d]:
 *            the floor that strided views (no permute at all) could reach
 *   dense-2d x [B, T, D] folded to rows and back around x·Wᵀ + b (the old
 *            dense layer's reshapes)
 *   dense-3d x·Wᵀ + b on [B, T, D] directly
 * q, k, v (and x) are step tensors, made from parameters by one scale each
 * call as a layer would make them; that op is in every graph's time.
 * Built with -DTG_BENCH_BASELINE the program uses only the API of the library
 * before views (bench/run_views.sh builds it against main for "before").
 * Each line: the median and the minimum over R repeats of a loop of calls,
 * each call a forward, a backward and a tape reset; the graphs take turns
 * within each repeat. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "tapegrad.h"

typedef struct {
    tg_tensor *q, *k, *v, *w, *b; /* parameters */
    tg_tensor *upstream;          /* the gradient fed to backward: ones [B, T, D] */
    int64_t batch, t, d_model, heads;
} model;

typedef tg_tensor *(*graph_fn)(const model *m);

static tg_tensor *step_copy(tg_tensor *p) { return tg_mul_scalar(p, 1.0); }

/* [B, T, D] to [B·H, T, d]: three copies before views */
static tg_tensor *split_by_copies(const model *m, tg_tensor *x)
{
    int64_t dh = m->d_model / m->heads;
    tg_tensor *h = tg_reshape(x, TG_SHAPE(m->batch, m->t, m->heads, dh));
    return tg_reshape(tg_transpose(h, 1, 2), TG_SHAPE(m->batch * m->heads, m->t, dh));
}

static tg_tensor *attention_copies(const model *m)
{
    tg_tensor *q = split_by_copies(m, step_copy(m->q)), *k = split_by_copies(m, step_copy(m->k));
    tg_tensor *v = split_by_copies(m, step_copy(m->v));
    double scale = 1 / sqrt((double)(m->d_model / m->heads));
    tg_tensor *p = tg_softmax(tg_mul_scalar(tg_matmul_t(q, k, false, true), scale));
    tg_tensor *y = tg_matmul(p, v);
    y = tg_reshape(y, TG_SHAPE(m->batch, m->heads, m->t, m->d_model / m->heads));
    return tg_reshape(tg_transpose(y, 1, 2), TG_SHAPE(m->batch, m->t, m->d_model));
}

static tg_tensor *dense_2d(const model *m)
{
    tg_tensor *x = step_copy(m->q);
    tg_tensor *rows = tg_reshape(x, TG_SHAPE(m->batch * m->t, m->d_model));
    tg_tensor *z = tg_add(tg_matmul_t(rows, m->w, false, true), m->b);
    return tg_reshape(z, TG_SHAPE(m->batch, m->t, m->d_model));
}

#ifndef TG_BENCH_BASELINE
static const int to_heads[4] = {0, 2, 1, 3}; /* [B, T, H, d] <-> [B, H, T, d] */

static tg_tensor *split_heads(const model *m, tg_tensor *x)
{
    return tg_permute(tg_reshape(x, TG_SHAPE(m->batch, m->t, m->heads, -1)), to_heads);
}

static tg_tensor *attention_heads(const model *m)
{
    tg_tensor *q = split_heads(m, step_copy(m->q)), *k = split_heads(m, step_copy(m->k));
    tg_tensor *v = split_heads(m, step_copy(m->v));
    double scale = 1 / sqrt((double)(m->d_model / m->heads));
    tg_tensor *p = tg_softmax(tg_mul_scalar(tg_matmul_t(q, k, false, true), scale));
    return tg_reshape(tg_permute(tg_matmul(p, v), to_heads), TG_SHAPE(m->batch, m->t, -1));
}

/* q, k, v read as [B, H, T, d] with no split: what strided views could reach */
static tg_tensor *attention_no_split(const model *m)
{
    int64_t dh = m->d_model / m->heads;
    tg_tensor *q = tg_reshape(step_copy(m->q), TG_SHAPE(m->batch, m->heads, m->t, dh));
    tg_tensor *k = tg_reshape(step_copy(m->k), TG_SHAPE(m->batch, m->heads, m->t, dh));
    tg_tensor *v = tg_reshape(step_copy(m->v), TG_SHAPE(m->batch, m->heads, m->t, dh));
    double scale = 1 / sqrt((double)dh);
    tg_tensor *p = tg_softmax(tg_mul_scalar(tg_matmul_t(q, k, false, true), scale));
    return tg_reshape(tg_matmul(p, v), TG_SHAPE(m->batch, m->t, -1));
}

static tg_tensor *dense_3d(const model *m) { return tg_add(tg_matmul_t(step_copy(m->q), m->w, false, true), m->b); }
#endif

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* µs per call of one loop of calls */
static double time_loop(tg_ctx *ctx, const model *m, graph_fn graph, int calls)
{
    double start = bench_seconds(CLOCK_MONOTONIC);
    for (int c = 0; c < calls; c++) {
        tg_backward_with(graph(m), m->upstream); /* errors stay on ctx, checked after */
        tg_tape_reset(ctx);
    }
    return (bench_seconds(CLOCK_MONOTONIC) - start) / calls * 1e6;
}

int main(int argc, char **argv)
{
    int threads = 1, reps = 15, calls = 0;
    const char *only = NULL, *only_config = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = (int)bench_number(argv[0], "--threads", argv[++i], 1, 256);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = (int)bench_number(argv[0], "--reps", argv[++i], 1, 64);
        else if (!strcmp(argv[i], "--calls") && i + 1 < argc)
            calls = (int)bench_number(argv[0], "--calls", argv[++i], 1, 1000000);
        else if (!strcmp(argv[i], "--graph") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--config") && i + 1 < argc)
            only_config = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--threads N] [--reps R] [--calls N] [--config NAME] [--graph NAME]\n",
                    argv[0]);
            return 2;
        }
    }
    static const struct {
        const char *name;
        int64_t batch, t, d_model, heads;
        int calls;
    } configs[] = {{"small", 16, 32, 64, 2, 400}, {"medium", 8, 128, 256, 4, 40}};
    static const struct {
        const char *name;
        graph_fn fn;
    } graphs[] = {
        {"copies", attention_copies},
#ifndef TG_BENCH_BASELINE
        {"heads", attention_heads},
        {"no-split", attention_no_split},
#endif
        {"dense-2d", dense_2d},
#ifndef TG_BENCH_BASELINE
        {"dense-3d", dense_3d},
#endif
    };
    printf("# bench_views%s: f32, %d thread%s, median and min of %d repeats, µs per forward + backward\n",
#ifdef TG_BENCH_BASELINE
           " (baseline: the library before views)",
#else
           "",
#endif
           threads, threads == 1 ? "" : "s", reps);
    printf("%-7s %-9s %10s %10s\n", "config", "graph", "median", "min");
    for (size_t c = 0; c < sizeof configs / sizeof *configs; c++) {
        if (only_config && strcmp(only_config, configs[c].name))
            continue;
        tg_ctx *ctx = tg_ctx_new(threads);
        tg_rng rng = tg_rng_seed(1);
        model m = {.batch = configs[c].batch, .t = configs[c].t, .d_model = configs[c].d_model,
                   .heads = configs[c].heads};
        int64_t shape[3] = {m.batch, m.t, m.d_model};
        m.q = tg_tensor_randn(ctx, &rng, TG_F32, 3, shape, 0, 1);
        m.k = tg_tensor_randn(ctx, &rng, TG_F32, 3, shape, 0, 1);
        m.v = tg_tensor_randn(ctx, &rng, TG_F32, 3, shape, 0, 1);
        m.w = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(m.d_model, m.d_model), 0, 0.1);
        m.b = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(m.d_model));
        m.upstream = tg_tensor_ones(ctx, TG_F32, 3, shape);
        tg_tensor *params[5] = {m.q, m.k, m.v, m.w, m.b};
        for (int i = 0; i < 5; i++)
            tg_tensor_set_requires_grad(params[i], true);
        /* the graphs take turns, repeat by repeat, so that a slow spell of
         * this shared machine falls on all of them alike */
        enum { N_GRAPHS = sizeof graphs / sizeof *graphs };
        double times[N_GRAPHS][64];
        int n = calls ? calls : configs[c].calls;
        for (int r = -1; r < reps; r++) /* r = -1 warms the arena and the caches */
            for (int g = 0; g < N_GRAPHS; g++) {
                if (only && strcmp(only, graphs[g].name))
                    continue;
                double t = time_loop(ctx, &m, graphs[g].fn, n);
                if (r >= 0)
                    times[g][r] = t;
                if (tg_ctx_status(ctx) != TG_OK) {
                    fprintf(stderr, "%s %s: %s\n", configs[c].name, graphs[g].name, tg_ctx_error(ctx));
                    return 1;
                }
            }
        for (int g = 0; g < N_GRAPHS; g++) {
            if (only && strcmp(only, graphs[g].name))
                continue;
            qsort(times[g], (size_t)reps, sizeof *times[g], compare);
            printf("%-7s %-9s %10.1f %10.1f\n", configs[c].name, graphs[g].name, times[g][reps / 2], times[g][0]);
        }
        tg_ctx_free(ctx);
    }
    return 0;
}
