/* The course's closing case, recognising handwritten digits with an MLP, as
 * a page: the MLP the Fashion-MNIST example trains (784-256-128-10, ReLU,
 * softmax cross-entropy), its parameter count, then the backward pass of one
 * test image drawn per layer (one box per layer with its parameters' shapes
 * and gradient norms) by tg_backward_page_save.
 *
 *     digit_page [OUTPUT_DIR] [--data DIR]   (default out/pages,
 *                                             /usr/share/datasets/fashion-mnist)
 *
 * The data is Fashion-MNIST from Debian's package dataset-fashion-mnist, or
 * MNIST's handwritten digits from --data DIR where you have the IDX files (the
 * same reader and layout). The network is trained one epoch on the first 6000
 * training images first, so the page shows a network part way through
 * learning. Exits 77 (skipped) when the data is missing; docs/ holds the page
 * this wrote. */
#define _POSIX_C_SOURCE 200809L /* mkdir */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tapegrad.h"
#include "examples/fashion_data.h"

int main(int argc, char **argv)
{
    const char *dir = "out/pages", *data = "/usr/share/datasets/fashion-mnist";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (argv[i][0] != '-')
            dir = argv[i];
        else {
            fprintf(stderr, "usage: %s [OUTPUT_DIR] [--data DIR]\n", argv[0]);
            return 2;
        }
    }
    tg_ctx *ctx = tg_ctx_new(1);
    tg_dataset *train, *test;
    if (!fashion_load(ctx, "digit_page", data, &train, &test)) {
        tg_ctx_free(ctx);
        return 77;
    }
    fashion_print_sets(ctx, train, test);
    if ((!strcmp(dir, "out/pages") && mkdir("out", 0777) != 0 && errno != EEXIST) ||
        (mkdir(dir, 0777) != 0 && errno != EEXIST)) {
        fprintf(stderr, "digit_page: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    tg_rng rng = tg_rng_seed(1);
    const int64_t widths[] = {784, 256, 128, 10};
    const tg_activation acts[] = {TG_ACT_RELU, TG_ACT_RELU, TG_ACT_NONE};
    tg_mlp *mlp = tg_mlp_new(ctx, TG_F32, 3, widths, acts, TG_INIT_HE, &rng);
    tg_optimizer *opt = mlp ? tg_optim_adam_new(tg_mlp_params(mlp), 1e-3, 0.9, 0.999, 1e-8) : NULL;
    tg_dataset *part = tg_dataset_view(ctx, train, 0, 6000);
    int rc = !opt || !part;
    if (!rc) {
        tg_mlp_print(mlp, stdout);
        tg_train_config cfg = tg_train_defaults();
        tg_train_use_mlp(&cfg, mlp);
        cfg.loss = tg_loss_softmax_ce;
        cfg.optimizer = opt;
        cfg.epochs = 1;
        cfg.batch_size = 64;
        cfg.progress = 0;
        rc = tg_train(ctx, part, &cfg, NULL) != TG_OK;
    }
    if (!rc) {
        /* one test image, its backward recorded */
        tg_tensor *x = tg_tensor_new(ctx, TG_F32, TG_SHAPE(1, 784));
        for (int64_t i = 0; i < 784; i++)
            tg_tensor_set(x, i, test->bytes[i] * test->byte_scale + test->byte_shift);
        int label = (int)test->targets[0];
        tg_tensor *y = tg_tensor_from(ctx, TG_F32, TG_SHAPE(1), (double[]){label});
        tg_tensor_set_name(x, "image");
        tg_tensor *logits = tg_mlp_forward(mlp, x);
        tg_tensor *loss = tg_cross_entropy(logits, y);
        tg_tensor_set_name(loss, "loss");
        tg_backward_set_recording(ctx, true);
        rc = !loss || tg_backward(loss) != TG_OK;
        int64_t params = tg_params_count(tg_mlp_params(mlp));
        char title[256], path[1100];
        bool fashion = strstr(data, "fashion") != NULL;
        snprintf(title, sizeof title, "One test image (class %d%s%s), backward per layer: MLP 784-256-128-10, %lld "
                                      "parameters, after one epoch on 6000 images",
                 label, fashion ? ", " : "", fashion ? tg_fashion_mnist_classes[label] : "", (long long)params);
        snprintf(path, sizeof path, "%s/backward-digit.html", dir);
        tg_page_options opts = {.diagram = {.title = title}, .max_steps = 1}; /* per layer, whatever the size */
        if (!rc && tg_backward_page_save(path, loss, &opts) == TG_OK)
            printf("wrote %s (loss %.4f on an image of class %d)\n", path, tg_tensor_item(loss), label);
        else
            rc = 1;
        tg_backward_set_recording(ctx, false);
        tg_tape_reset(ctx);
        tg_tensor_free(x);
        tg_tensor_free(y);
    }
    if (rc)
        fprintf(stderr, "digit_page: %s\n", tg_ctx_error(ctx));
    tg_dataset_free(part);
    tg_dataset_free(train);
    tg_dataset_free(test);
    tg_optim_free(opt);
    tg_mlp_free(mlp);
    tg_ctx_free(ctx);
    return rc;
}
