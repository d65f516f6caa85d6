/* Datasets that keep bytes as bytes: from IDX files, an MNIST directory,
 * arrays of doubles, and views of a range of samples. */
#define _POSIX_C_SOURCE 200809L
#include "tapegrad/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- datasets ------------------------------------------------------------- */

typedef struct {
    void *bytes, *values, *targets;
} storage;

void tg_dataset_free(tg_dataset *data)
{
    if (!data)
        return;
    storage *s = data->owned_;
    if (s) {
        free(s->bytes);
        free(s->values);
        free(s->targets);
        free(s);
    }
    free(data);
}

static tg_dataset *dataset_alloc(tg_ctx *ctx, const char *fn)
{
    tg_dataset *d = calloc(1, sizeof *d);
    storage *s = calloc(1, sizeof *s);
    if (!d || !s) {
        free(d);
        free(s);
        tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    d->owned_ = s;
    d->byte_scale = 1;
    return d;
}

tg_dataset *tg_dataset_from_idx(tg_ctx *ctx, const char *images_path, const char *labels_path)
{
    tg_idx images, labels;
    if (tg_idx_read(ctx, images_path, &images) != TG_OK)
        return NULL;
    if (tg_idx_read(ctx, labels_path, &labels) != TG_OK) {
        tg_idx_free(&images);
        return NULL;
    }
    const char *fail = NULL;
    char detail[160];
    if (images.type != TG_IDX_U8 || images.rank < 2 || images.rank > 4)
        fail = "the images are not unsigned bytes of rank 2 to 4 ([count, rows, cols])";
    else if (labels.type != TG_IDX_U8 || labels.rank != 1)
        fail = "the labels are not unsigned bytes of rank 1 ([count])";
    else if (labels.shape[0] != images.shape[0]) {
        snprintf(detail, sizeof detail, "%lld images but %lld labels", (long long)images.shape[0],
                 (long long)labels.shape[0]);
        fail = detail;
    }
    if (fail) {
        tg_idx_free(&images);
        tg_idx_free(&labels);
        tg_ctx_fail(ctx, TG_ERR_FORMAT, "tg_dataset_from_idx: %s and %s: %s", images_path, labels_path, fail);
        return NULL;
    }
    tg_dataset *d = dataset_alloc(ctx, "tg_dataset_from_idx");
    double *targets = malloc(sizeof(double) * (size_t)labels.count);
    if (!d || !targets) {
        tg_dataset_free(d);
        free(targets);
        tg_idx_free(&images);
        tg_idx_free(&labels);
        if (d)
            tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dataset_from_idx: out of memory");
        return NULL;
    }
    const uint8_t *l = labels.data;
    int max = 0;
    for (int64_t i = 0; i < labels.count; i++) {
        targets[i] = l[i];
        max = l[i] > max ? l[i] : max;
    }
    storage *s = d->owned_;
    s->bytes = images.data;
    s->targets = targets;
    d->count = images.shape[0];
    d->features = images.count / images.shape[0];
    d->outputs = 1;
    d->classes = max + 1;
    d->sample_rank = images.rank - 1;
    for (int i = 1; i < images.rank; i++)
        d->sample_shape[i - 1] = images.shape[i];
    d->bytes = images.data;
    d->byte_scale = 1.0 / 255.0;
    d->byte_shift = 0;
    d->targets = targets;
    tg_idx_free(&labels);
    return d;
}

/* path = dir/name or dir/name.gz, whichever exists (the plain name first). */
static bool find_file(const char *dir, const char *name, char *path, size_t size)
{
    struct stat st;
    snprintf(path, size, "%s/%s", dir, name);
    if (stat(path, &st) == 0)
        return true;
    snprintf(path, size, "%s/%s.gz", dir, name);
    return stat(path, &st) == 0;
}

tg_dataset *tg_dataset_load_mnist(tg_ctx *ctx, const char *dir, const char *split_name)
{
    if (!dir || !split_name) {
        tg_ctx_fail(ctx, TG_ERR_ARG, "tg_dataset_load_mnist: NULL %s", !dir ? "dir" : "split");
        return NULL;
    }
    char images[4096], labels[4096], name[256];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", split_name);
    bool have_images = find_file(dir, name, images, sizeof images);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", split_name);
    bool have_labels = find_file(dir, name, labels, sizeof labels);
    if (!have_images || !have_labels) {
        tg_ctx_fail(ctx, TG_ERR_IO, "tg_dataset_load_mnist: %s/%s-%s-idx%d-ubyte[.gz] not found", dir, split_name,
                    have_images ? "labels" : "images", have_images ? 1 : 3);
        return NULL;
    }
    return tg_dataset_from_idx(ctx, images, labels);
}

tg_dataset *tg_dataset_from_values(tg_ctx *ctx, int64_t count, int64_t features, const double *x, int64_t outputs,
                                   const double *y, int classes)
{
    const char *fn = "tg_dataset_from_values";
    if (!ctx)
        return NULL; /* a context is where errors would go: required, as by every reader */
    if (count < 1 || features < 1 || outputs < 1 || !x || !y || classes < 0 || (classes > 0 && outputs != 1)) {
        tg_ctx_fail(ctx, TG_ERR_ARG, "%s: count %lld, features %lld, outputs %lld, classes %d%s; expected counts >= 1, "
                    "x and y given, and outputs 1 when classes > 0", fn, (long long)count, (long long)features,
                    (long long)outputs, classes, !x || !y ? ", NULL x or y" : "");
        return NULL;
    }
    if (count > INT64_MAX / 8 / features || count > INT64_MAX / 8 / outputs) {
        tg_ctx_fail(ctx, TG_ERR_ARG, "%s: %lld x %lld values overflow", fn, (long long)count, (long long)features);
        return NULL;
    }
    for (int64_t i = 0; i < count && classes > 0; i++)
        if (!(y[i] >= 0 && y[i] < classes && y[i] == floor(y[i]))) {
            tg_ctx_fail(ctx, TG_ERR_ARG, "%s: y[%lld] is %g; expected a class index 0 to %d", fn, (long long)i, y[i],
                        classes - 1);
            return NULL;
        }
    tg_dataset *d = dataset_alloc(ctx, fn);
    if (!d)
        return NULL;
    storage *s = d->owned_;
    s->values = malloc(sizeof(double) * (size_t)(count * features));
    s->targets = malloc(sizeof(double) * (size_t)(count * outputs));
    if (!s->values || !s->targets) {
        tg_dataset_free(d);
        tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    memcpy(s->values, x, sizeof(double) * (size_t)(count * features));
    memcpy(s->targets, y, sizeof(double) * (size_t)(count * outputs));
    d->count = count;
    d->features = features;
    d->outputs = outputs;
    d->classes = classes;
    d->sample_rank = 1;
    d->sample_shape[0] = features;
    d->values = s->values;
    d->targets = s->targets;
    return d;
}

tg_dataset *tg_dataset_view(tg_ctx *ctx, const tg_dataset *data, int64_t start, int64_t count)
{
    if (!ctx)
        return NULL;
    if (!data || start < 0 || count < 1 || start > data->count - count) {
        tg_ctx_fail(ctx, TG_ERR_ARG, "tg_dataset_view: samples [%lld, %lld) of %s%lld; expected a non-empty range "
                    "inside the dataset", (long long)start, (long long)start + count, data ? "" : "NULL dataset ",
                    data ? (long long)data->count : 0LL);
        return NULL;
    }
    tg_dataset *v = malloc(sizeof *v);
    if (!v) {
        tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dataset_view: out of memory");
        return NULL;
    }
    *v = *data;
    v->owned_ = NULL;
    v->count = count;
    if (v->bytes)
        v->bytes += start * data->features;
    if (v->values)
        v->values += start * data->features;
    v->targets += start * data->outputs;
    return v;
}

const char *const tg_fashion_mnist_classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
