/* Fashion-MNIST MLP training throughput: 784-256-128-10, ReLU, softmax
 * cross-entropy, plain SGD (lr 0.1), minibatch 64, float32, shuffled.
 *
 *   bench_mlp [--threads N] [--split batch|gemm] [--optim sgd|momentum|adam]
 *             [--batch N] [--epochs N] [--warmup STEPS] [--data DIR]
 *
 * --split batch (the default): N data-parallel workers (tg_train's threads),
 * each minibatch split between them; --split gemm: one worker, the GEMMs
 * split across N threads (what a context of N threads does alone). Either
 * way the context has N threads. --batch (default 64) changes the minibatch,
 * to see how the data-parallel split fares with more rows per worker. After
 * the timed epochs the optimizer step
 * alone is timed on the trained model: "optimizer step X us = Y% of a
 * training step" (ns per parameter in the RESULT line).
 *
 * Loading and decoding the dataset is not timed. A few warm-up steps (arena
 * and GEMM buffers sized, caches warm) run first, then one epoch (938 steps)
 * through tg_train: batch gather + conversion, forward, loss, backward, SGD
 * step, tape reset. Prints samples/s over the timed epochs, the test accuracy
 * after them (a sanity check), and the process's peak RSS (getrusage), then
 * one machine-readable line "RESULT tapegrad threads=N samples_per_s=X
 * samples_per_cpu_s=C peak_rss_mb=Y test_acc=Z" for bench/run_mlp.sh. The
 * rate per CPU-second (process CPU time, all threads) is steadier than the
 * wall-clock rate on a shared machine; with one thread it is what an idle
 * machine would show. Compare with
 * bench/pytorch_mlp.py (same model, data order aside) via bench/run_mlp.sh.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "tapegrad.h"
#include "bench.h"

int main(int argc, char **argv)
{
    const char *dir = "/usr/share/datasets/fashion-mnist";
    int threads = 1, epochs = 1, warmup = 50, batch = 64;
    const char *split = "batch", *optim = "sgd";
    for (int i = 1; i < argc; i += 2) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (value && !strcmp(argv[i], "--threads"))
            threads = (int)bench_number(argv[0], "--threads", value, 1, 256);
        else if (value && !strcmp(argv[i], "--split"))
            split = value;
        else if (value && !strcmp(argv[i], "--optim"))
            optim = value;
        else if (value && !strcmp(argv[i], "--batch"))
            batch = (int)bench_number(argv[0], "--batch", value, 1, 60000);
        else if (value && !strcmp(argv[i], "--epochs"))
            epochs = (int)bench_number(argv[0], "--epochs", value, 1, 1000);
        else if (value && !strcmp(argv[i], "--warmup"))
            warmup = (int)bench_number(argv[0], "--warmup", value, 0, 1000000);
        else if (value && !strcmp(argv[i], "--data"))
            dir = value;
        else {
            fprintf(stderr, "usage: %s [--threads N] [--split batch|gemm] [--optim sgd|momentum|adam] [--batch N] "
                    "[--epochs N] [--warmup STEPS] [--data DIR]\n", argv[0]);
            return 2;
        }
    }
    if ((strcmp(split, "batch") && strcmp(split, "gemm")) ||
        (strcmp(optim, "sgd") && strcmp(optim, "momentum") && strcmp(optim, "adam"))) {
        fprintf(stderr, "bench_mlp: --split is '%s', --optim '%s'; expected batch or gemm, and sgd, momentum or adam\n",
                split, optim);
        return 2;
    }
    tg_ctx *ctx = tg_ctx_new(threads);
    tg_dataset *train = tg_dataset_load_mnist(ctx, dir, "train");
    tg_dataset *test = train ? tg_dataset_load_mnist(ctx, dir, "t10k") : NULL;
    if (!train || !test) {
        fprintf(stderr, "bench_mlp: %s\n(install Debian's package dataset-fashion-mnist or pass --data DIR)\n",
                tg_ctx_error(ctx));
        return 1;
    }
    tg_rng rng = tg_rng_seed(42);
    const int64_t widths[] = {784, 256, 128, 10};
    const tg_activation acts[] = {TG_ACT_RELU, TG_ACT_RELU, TG_ACT_NONE};
    tg_mlp *mlp = tg_mlp_new(ctx, TG_F32, 3, widths, acts, TG_INIT_HE, &rng);
    tg_optimizer *opt = !strcmp(optim, "adam")       ? tg_optim_adam_new(tg_mlp_params(mlp), 1e-3, 0.9, 0.999, 1e-8)
                        : !strcmp(optim, "momentum") ? tg_optim_momentum_new(tg_mlp_params(mlp), 0.05, 0.9)
                                                     : tg_optim_sgd_new(tg_mlp_params(mlp), 0.1);
    if (!mlp || !opt) {
        fprintf(stderr, "bench_mlp: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    tg_train_config cfg = tg_train_defaults();
    tg_train_use_mlp(&cfg, mlp);
    cfg.threads = !strcmp(split, "gemm") ? 1 : threads;
    cfg.loss = tg_loss_softmax_ce;
    cfg.optimizer = opt;
    cfg.batch_size = batch;
    cfg.progress = 0;

    if (warmup > 0) { /* untimed: the first steps size the arena and the GEMM buffers */
        tg_dataset *head = tg_dataset_view(ctx, train, 0, (int64_t)warmup * cfg.batch_size);
        cfg.epochs = 1;
        if (!head || tg_train(ctx, head, &cfg, NULL) != TG_OK) {
            fprintf(stderr, "bench_mlp: warm-up failed: %s\n", tg_ctx_error(ctx));
            return 1;
        }
        tg_dataset_free(head);
    }
    cfg.epochs = epochs;
    tg_history h = {0};
    double t0 = bench_seconds(CLOCK_MONOTONIC), c0 = bench_seconds(CLOCK_PROCESS_CPUTIME_ID);
    if (tg_train(ctx, train, &cfg, &h) != TG_OK) {
        fprintf(stderr, "bench_mlp: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    double seconds = bench_seconds(CLOCK_MONOTONIC) - t0, cpu = bench_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
    double rate = (double)train->count * epochs / seconds, cpu_rate = (double)train->count * epochs / cpu;
    tg_evaluation eval = {0};
    tg_evaluate(ctx, &cfg, test, &eval);
    /* the optimizer step alone, on the trained model's last gradients (after the evaluation: it changes the model) */
    int reps = 200;
    double best_opt = 1e30;
    for (int r = 0; r < 5; r++) {
        double o0 = bench_seconds(CLOCK_MONOTONIC);
        for (int i = 0; i < reps; i++)
            tg_optim_step(opt);
        double t = (bench_seconds(CLOCK_MONOTONIC) - o0) / reps;
        best_opt = t < best_opt ? t : best_opt;
    }
    double step_seconds = (double)cfg.batch_size / cpu_rate * (threads > 1 ? 1.0 / threads : 1.0); /* CPU time of a step, per thread */
    step_seconds = (double)cfg.batch_size / rate < step_seconds ? (double)cfg.batch_size / rate : step_seconds;
    double opt_share = best_opt / step_seconds;
    double ns_per_param = 1e9 * best_opt / (double)tg_mlp_param_count(mlp);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = (double)ru.ru_maxrss / 1024.0;
    printf("tapegrad  MLP 784-256-128-10 %s batch %lld, %d thread%s (split: %s): %d epoch%s in %.3f s = %.0f "
           "samples/s; %.0f per CPU-second; train loss %.4f, test acc %.2f%%; peak RSS %.1f MB\n", optim,
           (long long)cfg.batch_size, threads, threads > 1 ? "s" : "", threads > 1 ? split : "none", epochs, epochs > 1 ? "s" : "", seconds, rate, cpu_rate,
           h.train_loss[h.count - 1], 100 * eval.accuracy, rss_mb);
    printf("          %s step alone %.1f us = %.2f ns/param = %.1f%% of a training step (%.1f us)\n", optim,
           1e6 * best_opt, ns_per_param, 100 * opt_share, 1e6 * step_seconds);
    printf("RESULT tapegrad threads=%d samples_per_s=%.0f samples_per_cpu_s=%.0f peak_rss_mb=%.1f test_acc=%.4f "
           "optim_ns_per_param=%.3f optim_share=%.4f\n", threads, rate, cpu_rate, rss_mb, eval.accuracy, ns_per_param,
           opt_share);
    tg_evaluation_free(&eval);
    tg_history_free(&h);
    tg_optim_free(opt);
    tg_mlp_free(mlp);
    tg_dataset_free(test);
    tg_dataset_free(train);
    tg_ctx_free(ctx);
    return 0;
}
