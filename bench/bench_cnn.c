/* CNN training throughput on random 28×28 images, batch 64, SGD (lr 0.01),
 * float32, softmax cross-entropy; built from ops and dense tg_layers only.
 *
 *   bench_cnn [--model lenet|wide] [--threads N] [--steps N] [--warmup N] [--rounds R] [--layers]
 *             [--layer-batch N]
 *
 *   lenet: conv 5×5 1→6 pad 2, ReLU, maxpool 2; conv 5×5 6→16, ReLU, maxpool 2;
 *          dense 400-120-84-10 (ReLU between)
 *   wide:  conv 3×3 1→32, ReLU, maxpool 2; conv 3×3 32→64, ReLU, maxpool 2;
 *          dense 1600-128-10
 * Each "ReLU, maxpool 2" is one tg_relu_max_pool2d (the values and gradients
 * of tg_max_pool2d(tg_relu(x)) without the full-size ReLU output).
 *
 * Training runs through tg_train on a dataset of 16 random batches (1,024
 * samples, not shuffled), so --threads N is data-parallel as in bench_mlp:
 * each batch is split between N workers (the model and N-1 replicas), the
 * gradients summed, one SGD step. After `warmup` untimed steps (arena and
 * GEMM buffers sized), R rounds of `steps` steps each (batch conversion,
 * forward, loss, backward, SGD step, tape reset) are timed, both counts
 * rounded up to whole epochs of 16 steps; the median round is reported, with
 * the spread of the rounds (the machine may be shared). Peak RSS from getrusage. Prints a machine-readable
 * "RESULT tapegrad model=M threads=N samples_per_s=X samples_per_cpu_s=C
 * spread=S peak_rss_mb=Y" line for bench/run_cnn.sh.
 *
 * --layers also times each conv layer's three products alone (forward,
 * backward to the input, backward to the weight; grad mode off; fastest
 * call) and a GEMM of the same m·n·k, and prints their GFLOP/s, over a
 * batch of 64 images or --layer-batch N.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "tapegrad.h"
#include "bench.h"

#define BATCH 64
#define N_BATCHES 16 /* distinct random batches, cycled */

typedef struct {
    int64_t in_c, out_c, k, pad;
    tg_tensor *w, *b;
} conv_layer;

typedef struct {
    const char *name;
    int n_conv;
    conv_layer conv[2];
    int n_dense;
    tg_layer *dense[3];
    tg_tensor *items[16];
    tg_params params;
} cnn;

static void conv_init(tg_ctx *ctx, conv_layer *c, int64_t in_c, int64_t out_c, int64_t k, int64_t pad, tg_rng *rng)
{
    *c = (conv_layer){in_c, out_c, k, pad, NULL, NULL};
    c->w = tg_tensor_randn(ctx, rng, TG_F32, TG_SHAPE(out_c, in_c, k, k), 0, sqrt(2.0 / (double)(in_c * k * k)));
    c->b = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(out_c));
    tg_tensor_set_requires_grad(c->w, true);
    tg_tensor_set_requires_grad(c->b, true);
}

static void cnn_init(tg_ctx *ctx, cnn *m, bool lenet, tg_rng *rng)
{
    memset(m, 0, sizeof *m);
    m->name = lenet ? "lenet" : "wide";
    m->n_conv = 2;
    if (lenet) {
        conv_init(ctx, &m->conv[0], 1, 6, 5, 2, rng);
        conv_init(ctx, &m->conv[1], 6, 16, 5, 0, rng);
        m->n_dense = 3;
        m->dense[0] = tg_layer_new(ctx, TG_F32, 400, 120, TG_ACT_RELU, TG_INIT_HE, rng);
        m->dense[1] = tg_layer_new(ctx, TG_F32, 120, 84, TG_ACT_RELU, TG_INIT_HE, rng);
        m->dense[2] = tg_layer_new(ctx, TG_F32, 84, 10, TG_ACT_NONE, TG_INIT_HE, rng);
    } else {
        conv_init(ctx, &m->conv[0], 1, 32, 3, 0, rng);
        conv_init(ctx, &m->conv[1], 32, 64, 3, 0, rng);
        m->n_dense = 2;
        m->dense[0] = tg_layer_new(ctx, TG_F32, 1600, 128, TG_ACT_RELU, TG_INIT_HE, rng);
        m->dense[1] = tg_layer_new(ctx, TG_F32, 128, 10, TG_ACT_NONE, TG_INIT_HE, rng);
    }
    int n = 0;
    for (int i = 0; i < m->n_conv; i++) {
        m->items[n++] = m->conv[i].w;
        m->items[n++] = m->conv[i].b;
    }
    for (int i = 0; i < m->n_dense; i++) {
        tg_params p = tg_layer_params(m->dense[i]);
        for (int j = 0; j < p.count; j++)
            m->items[n++] = p.items[j];
    }
    m->params = (tg_params){n, m->items};
}

static void cnn_free(cnn *m)
{
    for (int i = 0; i < m->n_conv; i++) {
        tg_tensor_free(m->conv[i].w);
        tg_tensor_free(m->conv[i].b);
    }
    for (int i = 0; i < m->n_dense; i++)
        tg_layer_free(m->dense[i]);
}

static tg_tensor *cnn_forward(cnn *m, tg_tensor *x)
{
    for (int i = 0; i < m->n_conv; i++) {
        conv_layer *c = &m->conv[i];
        x = tg_relu_max_pool2d(tg_conv2d(x, c->w, c->b, 1, (int)c->pad, 1, 1), 2, 2, 0);
    }
    int64_t n = x ? tg_tensor_dim(x, 0) : 1; /* a data-parallel share, or BATCH */
    x = tg_reshape(x, TG_SHAPE(n, x ? tg_tensor_size(x) / n : 1));
    for (int i = 0; i < m->n_dense; i++)
        x = tg_layer_forward(m->dense[i], x);
    return x;
}

/* ---- tg_train callbacks: the trainer's data-parallel step runs replicas ---- */

/* x [n, 784] from the loader as images [n, 1, 28, 28] */
static tg_tensor *train_forward(void *model, tg_tensor *x)
{
    return cnn_forward(model, tg_reshape(x, TG_SHAPE(x ? tg_tensor_dim(x, 0) : 1, 1, 28, 28)));
}

static tg_params train_params(const void *model) { return ((const cnn *)model)->params; }

static void train_free(void *model)
{
    if (model)
        cnn_free(model);
    free(model);
}

/* A replica in ctx with the model's values (the rng only fills what is then overwritten). */
static void *train_clone(const void *model, tg_ctx *ctx)
{
    const cnn *m = model;
    cnn *copy = malloc(sizeof *copy);
    if (!copy)
        return NULL;
    tg_rng rng = tg_rng_seed(0);
    cnn_init(ctx, copy, !strcmp(m->name, "lenet"), &rng);
    for (int i = 0; i < m->params.count; i++)
        if (tg_tensor_copy(copy->params.items[i], m->params.items[i]) != TG_OK) {
            train_free(copy);
            return NULL;
        }
    return copy;
}

typedef struct {
    int epochs_per_round, warm_epochs;
    double wall[100], cpu[100]; /* at the end of the warm-up and of each round */
} round_clock;

static tg_status on_epoch(const tg_train_config *config, int epoch, const tg_history *h, void *user)
{
    (void)config, (void)h;
    round_clock *r = user;
    int after = epoch - r->warm_epochs; /* epochs since the warm-up */
    if (after >= 0 && after % r->epochs_per_round == 0) {
        r->wall[after / r->epochs_per_round] = bench_seconds(CLOCK_MONOTONIC);
        r->cpu[after / r->epochs_per_round] = bench_seconds(CLOCK_PROCESS_CPUTIME_ID);
    }
    return TG_OK;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- per-layer GFLOP/s ---- */

/* Fastest single call of fn within ~0.5 s (at least 5 calls): the minimum
 * is what a shared machine distorts least. */
typedef void (*bench_fn)(void *arg);
static double best_seconds(tg_ctx *ctx, bench_fn fn, void *arg)
{
    double best = INFINITY, start = bench_seconds(CLOCK_MONOTONIC);
    fn(arg); /* warm */
    tg_tape_reset(ctx);
    for (int calls = 0; calls < 5 || bench_seconds(CLOCK_MONOTONIC) - start < 0.5; calls++) {
        double t0 = bench_seconds(CLOCK_MONOTONIC);
        fn(arg);
        double t = bench_seconds(CLOCK_MONOTONIC) - t0;
        tg_tape_reset(ctx);
        if (t < best)
            best = t;
    }
    return best;
}

typedef struct {
    tg_tensor *x, *w, *dy, *a, *b;
    int64_t h, w_, k, pad;
    int which;
} layer_job;

static void run_layer(void *arg)
{
    layer_job *j = arg;
    switch (j->which) {
    case 0:
        tg_conv2d(j->x, j->w, NULL, 1, (int)j->pad, 1, 1);
        break;
    case 1:
        tg_conv2d_backward_input(j->dy, j->w, j->h, j->w_, 1, (int)j->pad, 1, 1);
        break;
    case 2:
        tg_conv2d_backward_weight(j->x, j->dy, j->k, j->k, 1, (int)j->pad, 1, 1);
        break;
    default:
        tg_matmul(j->a, j->b);
    }
}

static void layer_report(tg_ctx *ctx, const cnn *m, tg_rng *rng, int batch)
{
    int64_t h = 28;
    bool was = tg_grad_set_enabled(ctx, false);
    printf("conv layers of %s, batch %d (GFLOP/s; fastest call; GEMM = one product of the same m·n·k):\n", m->name,
           batch);
    for (int i = 0; i < m->n_conv; i++) {
        const conv_layer *c = &m->conv[i];
        int64_t oh = h + 2 * c->pad - c->k + 1;
        layer_job j = {0};
        j.x = tg_tensor_randn(ctx, rng, TG_F32, TG_SHAPE(batch, c->in_c, h, h), 0, 1);
        j.w = c->w;
        j.dy = tg_tensor_randn(ctx, rng, TG_F32, TG_SHAPE(batch, c->out_c, oh, oh), 0, 1);
        j.h = j.w_ = h, j.k = c->k, j.pad = c->pad;
        int64_t K = c->in_c * c->k * c->k, P = oh * oh;
        double flops = 2.0 * batch * (double)c->out_c * (double)P * (double)K;
        /* the same work as one GEMM: [O, K]·[K, N·P] */
        j.a = tg_tensor_randn(ctx, rng, TG_F32, TG_SHAPE(c->out_c, K), 0, 1);
        j.b = tg_tensor_randn(ctx, rng, TG_F32, TG_SHAPE(K, batch * P), 0, 1);
        double g[4];
        for (j.which = 0; j.which < 4; j.which++)
            g[j.which] = flops / best_seconds(ctx, run_layer, &j) * 1e-9;
        printf("  conv%d %lldx%lldx%lld k%lld pad %lld (%.1f MFLOP per product): forward %.1f, backward input %.1f, "
               "backward weight %.1f; GEMM [%lld,%lld]·[%lld,%lld] %.1f\n",
               i + 1, (long long)c->in_c, (long long)h, (long long)h, (long long)c->k, (long long)c->pad, flops * 1e-6,
               g[0], g[1], g[2], (long long)c->out_c, (long long)K, (long long)K, (long long)(batch * P), g[3]);
        tg_tensor_free(j.x);
        tg_tensor_free(j.dy);
        tg_tensor_free(j.a);
        tg_tensor_free(j.b);
        h = oh / 2;
    }
    tg_grad_set_enabled(ctx, was);
}

int main(int argc, char **argv)
{
    const char *model = "lenet";
    int threads = 1, steps = 200, warmup = 20, rounds = 5;
    bool layers = false;
    int layer_batch = BATCH;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--layers"))
            layers = true;
        else if (i + 1 < argc && !strcmp(argv[i], "--model"))
            model = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--threads"))
            threads = (int)bench_number(argv[0], "--threads", argv[++i], 1, 256);
        else if (i + 1 < argc && !strcmp(argv[i], "--steps"))
            steps = (int)bench_number(argv[0], "--steps", argv[++i], 1, 10000000);
        else if (i + 1 < argc && !strcmp(argv[i], "--warmup"))
            warmup = (int)bench_number(argv[0], "--warmup", argv[++i], 0, 10000000);
        else if (i + 1 < argc && !strcmp(argv[i], "--layer-batch"))
            layer_batch = (int)bench_number(argv[0], "--layer-batch", argv[++i], 1, 4096);
        else if (i + 1 < argc && !strcmp(argv[i], "--rounds"))
            rounds = (int)bench_number(argv[0], "--rounds", argv[++i], 1, 99);
        else {
            fprintf(stderr, "usage: %s [--model lenet|wide] [--threads N] [--steps N] [--warmup N] [--rounds R] "
                    "[--layers] [--layer-batch N]\n", argv[0]);
            return 2;
        }
    }
    bool lenet = !strcmp(model, "lenet");
    if (!lenet && strcmp(model, "wide")) {
        fprintf(stderr, "bench_cnn: --model is '%s'; expected lenet or wide\n", model);
        return 2;
    }
    tg_ctx *ctx = tg_ctx_new(threads);
    tg_rng rng = tg_rng_seed(42);
    cnn m;
    cnn_init(ctx, &m, lenet, &rng);
    /* 16 random batches as one dataset, trained in order */
    double *xs = malloc(sizeof(double) * N_BATCHES * BATCH * 784), *ys = malloc(sizeof(double) * N_BATCHES * BATCH);
    for (int64_t i = 0; xs && ys && i < N_BATCHES * BATCH; i++) {
        for (int64_t j = 0; j < 784; j++)
            xs[i * 784 + j] = tg_rng_uniform(&rng);
        ys[i] = (double)tg_rng_below(&rng, 10);
    }
    tg_dataset *data = xs && ys ? tg_dataset_from_values(ctx, N_BATCHES * BATCH, 784, xs, 1, ys, 10) : NULL;
    free(xs);
    free(ys);
    tg_optimizer *opt = tg_optim_sgd_new(m.params, 0.01);
    if (!data || !opt || tg_ctx_status(ctx) != TG_OK) {
        fprintf(stderr, "bench_cnn: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    round_clock clock = {.epochs_per_round = (steps + N_BATCHES - 1) / N_BATCHES,
                         .warm_epochs = (warmup + N_BATCHES - 1) / N_BATCHES};
    tg_train_config cfg = tg_train_defaults();
    cfg.forward = train_forward;
    cfg.model = &m;
    cfg.clone = train_clone;
    cfg.free_model = train_free;
    cfg.params_of = train_params;
    cfg.threads = threads;
    cfg.loss = tg_loss_softmax_ce;
    cfg.optimizer = opt;
    cfg.batch_size = BATCH;
    cfg.shuffle = false;
    cfg.progress = 0;
    cfg.epochs = clock.warm_epochs + rounds * clock.epochs_per_round;
    cfg.on_epoch = on_epoch;
    cfg.user = &clock;
    clock.wall[0] = bench_seconds(CLOCK_MONOTONIC); /* without warm-up, round 0 starts here */
    clock.cpu[0] = bench_seconds(CLOCK_PROCESS_CPUTIME_ID);
    tg_history h = {0};
    if (tg_train(ctx, data, &cfg, &h) != TG_OK) {
        fprintf(stderr, "bench_cnn: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    double loss_value = h.train_loss[h.count - 1];
    double rates[99], cpu_rates[99];
    for (int round = 0; round < rounds; round++) {
        double samples = (double)clock.epochs_per_round * N_BATCHES * BATCH;
        rates[round] = samples / (clock.wall[round + 1] - clock.wall[round]);
        cpu_rates[round] = samples / (clock.cpu[round + 1] - clock.cpu[round]);
    }
    double sorted[99];
    memcpy(sorted, rates, sizeof(double) * (size_t)rounds);
    qsort(sorted, (size_t)rounds, sizeof(double), compare_doubles);
    double median = sorted[rounds / 2], spread = (sorted[rounds - 1] - sorted[0]) / median;
    qsort(cpu_rates, (size_t)rounds, sizeof(double), compare_doubles);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = (double)ru.ru_maxrss / 1024.0;
    printf("tapegrad  %-5s batch %d SGD, %d thread%s: %.0f samples/s (median of %d rounds of %d steps, min %.0f, "
           "max %.0f: spread %.0f%%); %.0f per CPU-second; last loss %.3f; peak RSS %.1f MB\n",
           m.name, BATCH, threads, threads > 1 ? "s" : "", median, rounds, steps, sorted[0], sorted[rounds - 1],
           100 * spread, cpu_rates[rounds / 2], loss_value, rss_mb);
    printf("RESULT tapegrad model=%s threads=%d samples_per_s=%.0f samples_per_cpu_s=%.0f spread=%.3f "
           "peak_rss_mb=%.1f\n", m.name, threads, median, cpu_rates[rounds / 2], spread, rss_mb);
    if (layers)
        layer_report(ctx, &m, &rng, layer_batch);
    tg_history_free(&h);
    tg_dataset_free(data);
    tg_optim_free(opt);
    cnn_free(&m);
    tg_ctx_free(ctx);
    return 0;
}
