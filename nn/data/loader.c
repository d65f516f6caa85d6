/* Minibatch loaders: persistent batch tensors filled from a dataset in a
 * seeded order; nothing allocated per batch. */
#include "nn/data/loader_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- minibatches ------------------------------------------------------------ */

struct tg_loader {
    tg_ctx *ctx;
    const tg_dataset *data;
    int64_t batch, batches, next;
    tg_dtype dtype, label_dtype; /* label_dtype: of y; TG_I64 only for class indices */
    int64_t *order;            /* [count]: the epoch's sample order */
    tg_tensor *x, *y;          /* [batch, features], [batch] or [batch, outputs] */
    tg_tensor *x_tail, *y_tail; /* the same for the last, smaller batch; NULL when it divides */
    float scale32, shift32;    /* byte_scale and byte_shift as floats */
};

static bool batch_pair(tg_loader *l, int64_t n, tg_tensor **x, tg_tensor **y)
{
    const tg_dataset *d = l->data;
    *x = tg_tensor_new(l->ctx, l->dtype, 2, (int64_t[]){n, d->features});
    *y = d->classes > 0 ? tg_tensor_new(l->ctx, l->label_dtype, 1, (int64_t[]){n})
                        : tg_tensor_new(l->ctx, l->label_dtype, 2, (int64_t[]){n, d->outputs});
    if (*x)
        tg_tensor_set_name(*x, "batch.x");
    if (*y)
        tg_tensor_set_name(*y, "batch.y");
    return *x && *y;
}

void tg_loader_free(tg_loader *l)
{
    if (!l)
        return;
    tg_tensor_free(l->x);
    tg_tensor_free(l->y);
    tg_tensor_free(l->x_tail);
    tg_tensor_free(l->y_tail);
    free(l->order);
    free(l);
}

tg_loader *tg_loader_new(tg_ctx *ctx, const tg_dataset *data, int64_t batch_size, tg_dtype dtype)
{
    if (!ctx || !data || data->count < 1 || (dtype != TG_F32 && dtype != TG_F64)) {
        tg_ctx_fail(ctx, TG_ERR_ARG, "tg_loader_new: %s; expected a context, a non-empty dataset and TG_F32 or TG_F64",
                    !data ? "NULL dataset" : !ctx ? "NULL context" : data->count < 1 ? "empty dataset" : "bad dtype");
        return NULL;
    }
    tg_loader *l = calloc(1, sizeof *l);
    if (!l || !(l->order = malloc(sizeof(int64_t) * (size_t)data->count))) {
        free(l);
        tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_loader_new: out of memory");
        return NULL;
    }
    l->ctx = ctx;
    l->data = data;
    l->dtype = l->label_dtype = dtype;
    l->batch = batch_size <= 0 || batch_size > data->count ? data->count : batch_size;
    l->batches = (data->count + l->batch - 1) / l->batch;
    int64_t tail = data->count % l->batch;
    if (!batch_pair(l, l->batch, &l->x, &l->y) || (tail && !batch_pair(l, tail, &l->x_tail, &l->y_tail))) {
        tg_loader_free(l);
        return NULL;
    }
    l->scale32 = (float)data->byte_scale;
    l->shift32 = (float)data->byte_shift;
    tg_loader_start(l, NULL);
    return l;
}

void tg_loader_start(tg_loader *l, tg_rng *rng)
{
    if (!l)
        return;
    int64_t n = l->data->count;
    for (int64_t i = 0; i < n; i++)
        l->order[i] = i;
    for (int64_t i = n - 1; rng && i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)tg_rng_below(rng, (uint64_t)i + 1);
        int64_t t = l->order[i];
        l->order[i] = l->order[j];
        l->order[j] = t;
    }
    l->next = 0;
}

void tg_loader_fill(const tg_loader *l, const int64_t *order, int64_t n, tg_tensor *x, tg_tensor *y)
{
    const tg_dataset *d = l->data;
    const int64_t f = d->features, o = d->outputs;
    void *xd = tg_tensor_data(x), *yd = tg_tensor_data(y);
    /* Every row requested before the first is converted: random rows of a
     * large dataset are cache misses, and one row at a time waits for each
     * (32 Fashion-MNIST rows: 17-19 µs, 9 µs this way; prefetching the next
     * batch's rows a step ahead did not help). */
    size_t row_bytes = (size_t)f * (d->bytes ? 1 : sizeof(double));
    for (int64_t r = 0; r < n; r++) {
        const char *row = d->bytes ? (const char *)(d->bytes + order[r] * f) : (const char *)(d->values + order[r] * f);
        for (size_t b = 0; b < row_bytes; b += 64)
            __builtin_prefetch(row + b, 0, 3);
    }
    for (int64_t r = 0; r < n; r++) {
        int64_t s = order[r];
        if (l->dtype == TG_F32) {
            float *dst = (float *)xd + r * f;
            if (d->bytes) { /* x = byte·scale + shift: a loop the compiler vectorizes */
                const uint8_t *src = d->bytes + s * f;
                const float scale = l->scale32, shift = l->shift32;
                for (int64_t c = 0; c < f; c++)
                    dst[c] = (float)src[c] * scale + shift;
            } else
                for (int64_t c = 0; c < f; c++)
                    dst[c] = (float)d->values[s * f + c];
        } else {
            double *dst = (double *)xd + r * f;
            if (d->bytes) {
                const uint8_t *src = d->bytes + s * f;
                const double scale = d->byte_scale, shift = d->byte_shift;
                for (int64_t c = 0; c < f; c++)
                    dst[c] = (double)src[c] * scale + shift;
            } else
                memcpy(dst, d->values + s * f, sizeof(double) * (size_t)f);
        }
        const double *targets = d->targets + s * o;
        if (l->label_dtype == TG_I64) /* class indices: one per sample, whole numbers */
            ((int64_t *)yd)[r] = (int64_t)targets[0];
        else if (l->label_dtype == TG_F32)
            for (int64_t c = 0; c < o; c++)
                ((float *)yd)[r * o + c] = (float)targets[c];
        else
            memcpy((double *)yd + r * o, targets, sizeof(double) * (size_t)o);
    }
}

bool tg_loader_next_samples(tg_loader *l, const int64_t **order, int64_t *n)
{
    if (!l || l->next >= l->data->count)
        return false;
    *n = l->data->count - l->next < l->batch ? l->data->count - l->next : l->batch;
    *order = l->order + l->next;
    l->next += *n;
    return true;
}

bool tg_loader_next(tg_loader *l, tg_tensor **x_out, tg_tensor **y_out)
{
    const int64_t *order;
    int64_t n;
    if (l && (!x_out || !y_out))
        return tg_ctx_fail(l->ctx, TG_ERR_ARG, "tg_loader_next: NULL %s", !x_out ? "x" : "y"), false;
    if (!tg_loader_next_samples(l, &order, &n))
        return false;
    tg_tensor *x = n == l->batch ? l->x : l->x_tail, *y = n == l->batch ? l->y : l->y_tail;
    tg_loader_fill(l, order, n, x, y);
    *x_out = x;
    *y_out = y;
    return true;
}

tg_status tg_loader_set_label_dtype(tg_loader *l, tg_dtype dtype)
{
    if (!l)
        return TG_ERR_ARG;
    if (dtype != TG_F32 && dtype != TG_F64 && dtype != TG_I64)
        return tg_ctx_fail(l->ctx, TG_ERR_ARG, "tg_loader_set_label_dtype: unknown dtype %d", (int)dtype);
    if (dtype == TG_I64 && l->data->classes <= 0)
        return tg_ctx_fail(l->ctx, TG_ERR_ARG, "tg_loader_set_label_dtype: i64 labels need class-index targets; "
                           "this dataset has %lld real-valued outputs per sample", (long long)l->data->outputs);
    if (dtype == l->label_dtype)
        return TG_OK;
    /* new label tensors in the new dtype, made here once as in tg_loader_new */
    tg_dtype was = l->label_dtype;
    l->label_dtype = dtype;
    int64_t tail = l->data->count % l->batch;
    tg_tensor *y = tg_tensor_new(l->ctx, dtype, tg_tensor_rank(l->y), tg_tensor_shape(l->y));
    tg_tensor *y_tail = tail ? tg_tensor_new(l->ctx, dtype, tg_tensor_rank(l->y_tail), tg_tensor_shape(l->y_tail)) : NULL;
    if (!y || (tail && !y_tail)) {
        tg_tensor_free(y);
        tg_tensor_free(y_tail);
        l->label_dtype = was;
        return tg_ctx_status(l->ctx);
    }
    tg_tensor_set_name(y, "batch.y");
    if (y_tail)
        tg_tensor_set_name(y_tail, "batch.y");
    tg_tensor_free(l->y);
    tg_tensor_free(l->y_tail);
    l->y = y;
    l->y_tail = y_tail;
    return TG_OK;
}

tg_dtype tg_loader_label_dtype(const tg_loader *l) { return l ? l->label_dtype : TG_F32; }

int64_t tg_loader_batches(const tg_loader *l) { return l ? l->batches : 0; }
int64_t tg_loader_batch_size(const tg_loader *l) { return l ? l->batch : 0; }
