/* Fashion-MNIST: an MLP 784-256-128-10 (ReLU, softmax cross-entropy) trained
 * with minibatches of 64, printing progress, the test accuracy after every
 * epoch and the confusion matrix with class names. It saves a checkpoint after
 * every epoch and can resume from one.
 *
 *     fashion_mnist [--epochs 10] [--threads 1] [--optim adam|momentum|sgd]
 *                   [--lr X] [--batch 64] [--seed 1] [--data DIR]
 *                   [--checkpoint fashion_mnist.ckpt] [--resume PATH]
 *                   [--history history.csv] [--limit N]
 *
 * The data comes from Debian's package dataset-fashion-mnist
 * (/usr/share/datasets/fashion-mnist, gzipped IDX files).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapegrad.h"
#include "examples/fashion_data.h"

#define DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

typedef struct {
    const char *checkpoint;
    tg_params params;
    tg_optimizer *opt;
    tg_ctx *ctx;
    double base_lr; /* cosine schedule from base_lr down to 0 over epochs */
    int epochs;
    double cpu;     /* process CPU seconds at the end of the last epoch */
} saver;

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}


/* After every epoch: the next epoch's learning rate, and a checkpoint to
 * resume from (the rate follows from the epoch, so a resumed run matches). */
static tg_status end_epoch(const tg_train_config *config, int epoch, const tg_history *h, void *user)
{
    (void)config, (void)h;
    saver *s = user;
    double cpu = cpu_seconds(); /* steadier than the wall clock on a shared machine */
    printf("  epoch %d: %.2f CPU-seconds (all threads, evaluation included)\n", epoch, cpu - s->cpu);
    s->cpu = cpu;
    tg_optim_set_lr(s->opt, tg_lr_cosine(s->base_lr, 0, s->epochs, epoch));
    return s->checkpoint ? tg_checkpoint_save(s->ctx, s->checkpoint, s->params, s->opt, epoch) : TG_OK;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--epochs N] [--threads N] [--optim adam|momentum|sgd] [--lr X] [--batch N]\n"
            "          [--seed N] [--data DIR] [--checkpoint PATH|none] [--resume PATH] [--history PATH]\n"
            "          [--limit N]   (train on the first N samples only)\n",
            argv0);
}

int main(int argc, char **argv)
{
    const char *data_dir = DEFAULT_DIR, *checkpoint = "fashion_mnist.ckpt", *resume = NULL, *history_path = NULL;
    const char *optim = "adam";
    int epochs = 10, threads = 1;
    int64_t batch = 64, limit = 0;
    double lr = -1;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(argv[0]);
            return 0;
        }
        if (!v) {
            usage(argv[0]);
            return 2;
        }
        i++;
        if (!strcmp(a, "--epochs"))
            epochs = atoi(v);
        else if (!strcmp(a, "--threads"))
            threads = atoi(v);
        else if (!strcmp(a, "--optim"))
            optim = v;
        else if (!strcmp(a, "--lr"))
            lr = atof(v);
        else if (!strcmp(a, "--batch"))
            batch = atoll(v);
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--data"))
            data_dir = v;
        else if (!strcmp(a, "--checkpoint"))
            checkpoint = strcmp(v, "none") ? v : NULL;
        else if (!strcmp(a, "--resume"))
            resume = v;
        else if (!strcmp(a, "--history"))
            history_path = v;
        else if (!strcmp(a, "--limit"))
            limit = atoll(v);
        else {
            usage(argv[0]);
            return 2;
        }
    }

    tg_ctx *ctx = tg_ctx_new(threads);
    if (!ctx)
        return 1;
    tg_ctx_set_error_handler(ctx, NULL, NULL); /* errors are printed below, once */
    tg_dataset *train, *test;
    if (!fashion_load(ctx, "fashion_mnist", data_dir, &train, &test)) {
        tg_ctx_free(ctx);
        return 1;
    }
    tg_dataset *subset = limit > 0 && limit < train->count ? tg_dataset_view(ctx, train, 0, limit) : NULL;
    fashion_print_sets(ctx, subset ? subset : train, test);

    tg_rng rng = tg_rng_seed(seed);
    const int64_t widths[] = {784, 256, 128, 10};
    const tg_activation acts[] = {TG_ACT_RELU, TG_ACT_RELU, TG_ACT_NONE};
    tg_mlp *mlp = tg_mlp_new(ctx, TG_F32, 3, widths, acts, TG_INIT_HE, &rng);
    tg_params params = tg_mlp_params(mlp);
    tg_optimizer *opt = NULL;
    if (!strcmp(optim, "adam"))
        opt = tg_optim_adam_new(params, lr > 0 ? lr : 1e-3, 0.9, 0.999, 1e-8);
    else if (!strcmp(optim, "momentum"))
        opt = tg_optim_momentum_new(params, lr > 0 ? lr : 0.05, 0.9);
    else if (!strcmp(optim, "sgd"))
        opt = tg_optim_sgd_new(params, lr > 0 ? lr : 0.1);
    else {
        fprintf(stderr, "fashion_mnist: unknown optimizer \"%s\"; expected adam, momentum or sgd\n", optim);
        return 2;
    }
    if (!mlp || !opt) {
        fprintf(stderr, "fashion_mnist: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    tg_mlp_print(mlp, stdout);
    printf("optimizer %s, lr %g with cosine decay, batch %lld, %d epoch%s\n", optim, tg_optim_lr(opt), (long long)batch, epochs,
           epochs == 1 ? "" : "s");

    tg_train_config cfg = tg_train_defaults();
    tg_train_use_mlp(&cfg, mlp);
    cfg.threads = threads; /* data-parallel: each minibatch split across the threads */
    cfg.loss = tg_loss_softmax_ce;
    cfg.optimizer = opt;
    cfg.epochs = epochs;
    cfg.batch_size = batch;
    cfg.seed = seed;
    cfg.test = test;
    saver s = {checkpoint, params, opt, ctx, tg_optim_lr(opt), epochs, cpu_seconds()};
    cfg.on_epoch = end_epoch;
    cfg.user = &s;
    if (resume) {
        int64_t done = 0;
        if (tg_checkpoint_load(ctx, resume, params, opt, &done) != TG_OK) {
            fprintf(stderr, "fashion_mnist: cannot resume: %s\n", tg_ctx_error(ctx));
            return 1;
        }
        printf("resumed from %s after epoch %lld\n", resume, (long long)done);
        cfg.first_epoch = done < epochs ? (int)done : epochs;
        tg_optim_set_lr(opt, tg_lr_cosine(s.base_lr, 0, epochs, cfg.first_epoch));
    }

    tg_history history = {0};
    int status = 0;
    if (tg_train(ctx, subset ? subset : train, &cfg, &history) != TG_OK) {
        fprintf(stderr, "fashion_mnist: training stopped: %s\n", tg_ctx_error(ctx));
        status = 1;
    } else {
        printf("\nepoch  train loss  train acc  test acc  seconds\n");
        double total = 0;
        for (int i = 0; i < history.count; i++) {
            printf("%5d  %10.4f  %8.2f%%  %7.2f%%  %7.1f\n", history.epochs[i], history.train_loss[i],
                   100 * history.train_acc[i], 100 * history.test_acc[i], history.seconds[i]);
            total += history.seconds[i];
        }
        printf("total %.1f s\n\n", total);
        tg_evaluation eval;
        if (tg_evaluate(ctx, &cfg, test, &eval) == TG_OK) {
            printf("test accuracy %.2f%%, test loss %.4f\n", 100 * eval.accuracy, eval.loss);
            tg_confusion_print(&eval, tg_fashion_mnist_classes, stdout);
            tg_evaluation_free(&eval);
        }
        if (checkpoint)
            printf("checkpoint: %s (resume with --resume %s --epochs N)\n", checkpoint, checkpoint);
        if (history_path && tg_history_save_csv(ctx, &history, history_path) == TG_OK)
            printf("history: %s\n", history_path);
    }
    tg_history_free(&history);
    tg_optim_free(opt);
    tg_mlp_free(mlp);
    tg_dataset_free(subset);
    tg_dataset_free(test);
    tg_dataset_free(train);
    tg_ctx_free(ctx);
    return status;
}
