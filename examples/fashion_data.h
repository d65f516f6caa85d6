/* What the Fashion-MNIST examples (fashion_mnist.c, fashion_cnn.c) share:
 * loading both sets, with a hint where to get them when they are missing,
 * and the line that says what a run trains on. */
#ifndef TAPEGRAD_EXAMPLES_FASHION_DATA_H
#define TAPEGRAD_EXAMPLES_FASHION_DATA_H

#include <stdio.h>

#include "tapegrad.h"

/* The training and test sets from data_dir into *train and *test; false
 * (both NULL, the error and a hint printed as program) when either is missing. */
static bool fashion_load(tg_ctx *ctx, const char *program, const char *data_dir, tg_dataset **train,
                         tg_dataset **test)
{
    *train = tg_dataset_load_mnist(ctx, data_dir, "train");
    *test = *train ? tg_dataset_load_mnist(ctx, data_dir, "t10k") : NULL;
    if (*train && *test)
        return true;
    fprintf(stderr, "%s: %s\n"
                    "Fashion-MNIST is not in %s. Install Debian's package dataset-fashion-mnist\n"
                    "(apt install dataset-fashion-mnist) or point --data at a directory holding\n"
                    "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-... files.\n",
            program, tg_ctx_error(ctx), data_dir);
    tg_dataset_free(*train);
    *train = NULL;
    return false;
}

/* "Fashion-MNIST: 60000 training and 10000 test images of 28x28, 10 classes; 1 thread" */
static void fashion_print_sets(tg_ctx *ctx, const tg_dataset *train, const tg_dataset *test)
{
    printf("Fashion-MNIST: %lld training and %lld test images of %lldx%lld, %d classes; %d thread%s\n",
           (long long)train->count, (long long)test->count, (long long)train->sample_shape[0],
           (long long)train->sample_shape[1], train->classes, tg_ctx_threads(ctx), tg_ctx_threads(ctx) > 1 ? "s" : "");
}

#endif
