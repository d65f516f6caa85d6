/* Fashion-MNIST with LeNet-5, a sequential model built from layer specs:
 * conv 5x5 1->6 pad 2, ReLU, maxpool 2; conv 5x5 6->16, ReLU, maxpool 2;
 * dense 400-120-84-10. Adam with cosine decay, minibatches of 64, one thread
 * by default: about 90.5% test accuracy after 5 epochs. Prints the model, a
 * progress line and each epoch's results, saves a self-describing checkpoint
 * after every epoch (resume with --resume; tg_inspect reads it) and writes a
 * per-layer diagram of the model (render: dot -Tsvg fashion_cnn.dot).
 *
 *     fashion_cnn [--epochs 5] [--threads 1] [--lr 0.002] [--batch 64] [--seed 1]
 *                 [--data DIR] [--checkpoint fashion_cnn.ckpt|none] [--resume PATH]
 *                 [--diagram fashion_cnn.dot|none] [--limit N] [--test-limit N]
 *                 [--min-accuracy A]   (exit 1 when the final test accuracy is below A)
 *
 * The data comes from Debian's package dataset-fashion-mnist
 * (/usr/share/datasets/fashion-mnist, gzipped IDX files).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"
#include "examples/fashion_data.h"

#define DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

typedef struct {
    const char *checkpoint;
    tg_model *model;
    tg_optimizer *opt;
    double base_lr;
    int epochs;
} saver;

/* After every epoch: the next epoch's learning rate (a function of the epoch,
 * so a resumed run matches) and a checkpoint holding the spec. */
static tg_status end_epoch(const tg_train_config *config, int epoch, const tg_history *h, void *user)
{
    (void)config, (void)h;
    saver *s = user;
    tg_optim_set_lr(s->opt, tg_lr_cosine(s->base_lr, 0, s->epochs, epoch));
    return s->checkpoint ? tg_model_save(s->model, s->checkpoint, s->opt, epoch) : TG_OK;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--epochs N] [--threads N] [--lr X] [--batch N] [--seed N] [--data DIR]\n"
            "          [--checkpoint PATH|none] [--resume PATH] [--diagram PATH|none]\n"
            "          [--limit N] [--test-limit N] [--min-accuracy A]\n",
            argv0);
}

int main(int argc, char **argv)
{
    const char *data_dir = DEFAULT_DIR, *checkpoint = "fashion_cnn.ckpt", *resume = NULL;
    const char *diagram = "fashion_cnn.dot";
    int epochs = 5, threads = 1;
    int64_t batch = 64, limit = 0, test_limit = 0;
    double lr = 2e-3, min_accuracy = 0;
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
        else if (!strcmp(a, "--diagram"))
            diagram = strcmp(v, "none") ? v : NULL;
        else if (!strcmp(a, "--limit"))
            limit = atoll(v);
        else if (!strcmp(a, "--test-limit"))
            test_limit = atoll(v);
        else if (!strcmp(a, "--min-accuracy"))
            min_accuracy = atof(v);
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
    if (!fashion_load(ctx, "fashion_cnn", data_dir, &train, &test)) {
        tg_ctx_free(ctx);
        return 1;
    }
    tg_dataset *train_part = limit > 0 && limit < train->count ? tg_dataset_view(ctx, train, 0, limit) : NULL;
    tg_dataset *test_part = test_limit > 0 && test_limit < test->count ? tg_dataset_view(ctx, test, 0, test_limit)
                                                                       : NULL;
    const tg_dataset *train_set = train_part ? train_part : train, *test_set = test_part ? test_part : test;
    fashion_print_sets(ctx, train_set, test_set);

    /* LeNet-5. A flat batch [n, 784] is reshaped to the input shape [n, 1, 28, 28]. */
    tg_rng rng = tg_rng_seed(seed);
    tg_model *model = tg_model_new(ctx, TG_F32, TG_SHAPE(1, 28, 28), TG_LAYERS(
        {.kind = TG_LAYER_CONV2D, .in = 1, .out = 6, .kernel = 5, .padding = 2, .act = TG_ACT_RELU, .init = TG_INIT_HE},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = TG_LAYER_CONV2D, .in = 6, .out = 16, .kernel = 5, .act = TG_ACT_RELU, .init = TG_INIT_HE},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = TG_LAYER_FLATTEN},
        {.kind = TG_LAYER_DENSE, .in = 400, .out = 120, .act = TG_ACT_RELU, .init = TG_INIT_HE},
        {.kind = TG_LAYER_DENSE, .in = 120, .out = 84, .act = TG_ACT_RELU, .init = TG_INIT_HE},
        {.kind = TG_LAYER_DENSE, .in = 84, .out = 10}), &rng);
    tg_optimizer *opt = model ? tg_optim_adam_new(tg_model_params(model), lr, 0.9, 0.999, 1e-8) : NULL;
    if (!model || !opt) {
        fprintf(stderr, "fashion_cnn: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    tg_model_print(model, stdout);
    printf("optimizer adam, lr %g with cosine decay, batch %lld, %d epoch%s\n", lr, (long long)batch, epochs,
           epochs == 1 ? "" : "s");

    tg_train_config cfg = tg_train_defaults();
    tg_train_use_model(&cfg, model); /* forward, and the callbacks data-parallel training needs */
    cfg.threads = threads;
    cfg.loss = tg_loss_softmax_ce;
    cfg.optimizer = opt;
    cfg.epochs = epochs;
    cfg.batch_size = batch;
    cfg.seed = seed;
    cfg.test = test_set;
    saver s = {checkpoint, model, opt, lr, epochs};
    cfg.on_epoch = end_epoch;
    cfg.user = &s;
    if (resume) {
        int64_t done = 0;
        if (tg_model_load_into(model, resume, opt, &done) != TG_OK) {
            fprintf(stderr, "fashion_cnn: cannot resume: %s\n", tg_ctx_error(ctx));
            return 1;
        }
        printf("resumed from %s after epoch %lld\n", resume, (long long)done);
        cfg.first_epoch = done < epochs ? (int)done : epochs;
        tg_optim_set_lr(opt, tg_lr_cosine(lr, 0, epochs, cfg.first_epoch));
    }

    tg_history history = {0};
    int status = 0;
    if (tg_train(ctx, train_set, &cfg, &history) != TG_OK) {
        fprintf(stderr, "fashion_cnn: training stopped: %s\n", tg_ctx_error(ctx));
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
        tg_model_set_training(model, false);
        tg_evaluation eval;
        if (tg_evaluate(ctx, &cfg, test_set, &eval) == TG_OK) {
            printf("test accuracy %.2f%%, test loss %.4f\n", 100 * eval.accuracy, eval.loss);
            tg_confusion_print(&eval, tg_fashion_mnist_classes, stdout);
            if (eval.accuracy < min_accuracy) {
                printf("below the required %.2f%%\n", 100 * min_accuracy);
                status = 1;
            }
            tg_evaluation_free(&eval);
        }
        if (checkpoint)
            printf("checkpoint: %s (resume with --resume %s --epochs N; inspect with tg_inspect %s)\n", checkpoint,
                   checkpoint, checkpoint);
    }
    if (diagram) { /* one image through the model, one cluster per layer */
        tg_tensor *image = tg_tensor_temp(ctx, TG_F32, TG_SHAPE(1, 784));
        for (int64_t i = 0; image && i < 784; i++)
            tg_tensor_set(image, i, test->bytes[i] * test->byte_scale + test->byte_shift);
        tg_dot_options opts = {.title = "LeNet-5 on one Fashion-MNIST image", .top_to_bottom = true,
                               .hide_grads = true}; /* the last step's gradients would only confuse */
        if (image && tg_model_dot_save(model, image, diagram, &opts) == TG_OK)
            printf("diagram: %s (dot -Tsvg %s -o fashion_cnn.svg)\n", diagram, diagram);
        else
            fprintf(stderr, "fashion_cnn: diagram: %s\n", tg_ctx_error(ctx));
        tg_tape_reset(ctx);
    }
    tg_history_free(&history);
    tg_optim_free(opt);
    tg_model_free(model);
    tg_dataset_free(train_part);
    tg_dataset_free(test_part);
    tg_dataset_free(test);
    tg_dataset_free(train);
    tg_ctx_free(ctx);
    return status;
}
