/* Tensors: creation in either lifetime, access, and the seeded generator. */
#include "autograd/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


static bool shape_ok(tg_ctx *ctx, const char *who, int rank, const int64_t *shape)
{
    if (rank < 0 || rank > TG_MAX_RANK)
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: rank %d is out of range (0 to %d)", who, rank, TG_MAX_RANK), false;
    if (rank > 0 && !shape)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: shape is NULL for rank %d", who, rank), false;
    for (int i = 0; i < rank; i++)
        if (shape[i] < 1 || shape[i] > ((int64_t)1 << 40)) {
            char buf[96];
            return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: shape %s has a dim out of range (1 to 2^40)", who,
                           tg_shape_str(rank, shape, buf, sizeof buf)), false;
        }
    return tg_shape_size_ok(ctx, who, rank, shape);
}

bool tg_shape_size_ok(tg_ctx *ctx, const char *who, int rank, const int64_t *shape)
{
    if (tg_shape_size_checked(rank, shape) >= 0)
        return true;
    char buf[96];
    tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: shape %s has more than 2^40 elements (the most a tensor may have)", who,
                tg_shape_str(rank, shape, buf, sizeof buf));
    return false;
}

/* Field by field: a compound literal would clear the whole header with a
 * string instruction, slow for 96 bytes. */
static inline void init_header(tg_tensor *t, tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape)
{
    t->ctx = ctx;
    t->data = NULL;
    t->pending = NULL;
    t->extra = NULL;
    int64_t size = 1;
    for (int i = 0; i < TG_MAX_RANK; i++) {
        int64_t d = i < rank ? shape[i] : 0;
        t->shape[i] = d;
        size *= i < rank ? d : 1;
    }
    t->size = size;
    t->creator = -1;
    t->epoch = 0;
    t->wanted = 0;
    t->rank = (uint8_t)rank;
    t->dtype = (uint8_t)dtype;
    t->lifetime = TG_LIFE_PERSISTENT;
    t->requires_grad = false;
    t->grad_zeroed = false;
    t->grad_sum = false;
    t->in_block = false;
}

tg_tensor *tg_step_tensor_slack(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape, bool zero, size_t slack)
{
    /* Every op's result comes here: a broadcast or an expand of big dims is
     * refused before its byte count can overflow. */
    int64_t elements = tg_shape_size_checked(rank, shape);
    if (elements < 0)
        return tg_shape_size_ok(ctx, "result", rank, shape), NULL;
    size_t bytes = (size_t)elements * tg_dtype_size(dtype);
    /* Headers have an arena of their own (see tg_ctx.headers); small data
     * is packed at 8-byte alignment, big data 64-byte aligned. */
    tg_tensor *t = tg_header_alloc(ctx);
    if (!t)
        return NULL;
    init_header(t, ctx, dtype, rank, shape);
    t->lifetime = TG_LIFE_STEP;
    t->epoch = ctx->epoch;
    if (ctx->recycler.on && bytes >= TG_RECYCLE_MIN_BYTES && !slack) {
        t->data = tg_recycle_take(ctx, bytes);
        t->in_block = t->data != NULL;
    } else {
        t->data = tg_arena_alloc(ctx, bytes + slack, bytes <= 64 ? 8 : 64);
    }
    if (!t->data) {
        t->lifetime = TG_LIFE_FREED; /* a header without data must never pass a check */
        return NULL;
    }
    if (zero)
        memset(t->data, 0, bytes);
    return t;
}

tg_tensor *tg_step_tensor(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape, bool zero)
{
    return tg_step_tensor_slack(ctx, dtype, rank, shape, zero, 0);
}

tg_tensor *tg_step_view(tg_tensor *x, int rank, const int64_t *shape)
{
    tg_tensor *t = tg_header_alloc(x->ctx);
    if (!t)
        return NULL;
    init_header(t, x->ctx, (tg_dtype)x->dtype, rank, shape);
    t->lifetime = TG_LIFE_STEP;
    t->epoch = x->ctx->epoch;
    t->data = x->data;
    t->in_block = x->in_block;
    return t;
}

/* tg_step_like's general case: big data, a new chunk, zeroing. */
static tg_tensor *step_like_slow(const tg_tensor *t, bool zero)
{
    return tg_step_tensor(t->ctx, (tg_dtype)t->dtype, t->rank, t->shape, zero);
}

tg_tensor *tg_step_like(const tg_tensor *t, bool zero)
{
    /* Most results of a small graph's ops come here. t's shape was checked
     * when it was made, so a small result copies t's header fields instead of
     * recomputing them (dims past the rank are 0 in every header). Every
     * other case is a tail call, so this path saves no registers. */
    tg_ctx *ctx = t->ctx;
    tg_arena_chunk *c = ctx->memory.current, *h = ctx->headers.current;
    size_t bytes = (size_t)t->size * tg_dtype_size((tg_dtype)t->dtype);
    if (bytes > 64 || zero || !c || !h)
        return step_like_slow(t, zero);
    size_t start = (c->used + 7) & ~(size_t)7, end = start + ((bytes + 7) & ~(size_t)7);
    if (end > c->size || h->used + sizeof(tg_tensor) > h->size)
        return step_like_slow(t, zero);
    c->used = end;
    tg_tensor *y = (tg_tensor *)(h->bytes + h->used);
    h->used += sizeof(tg_tensor);
    y->ctx = ctx;
    y->data = c->bytes + start;
    y->pending = NULL;
    y->extra = NULL;
    y->size = t->size;
    y->creator = -1;
    y->epoch = ctx->epoch;
    y->wanted = 0;
    y->rank = t->rank;
    y->dtype = t->dtype;
    y->lifetime = TG_LIFE_STEP;
    y->requires_grad = false;
    y->grad_zeroed = false;
    y->grad_sum = false;
    y->in_block = false;
    for (int i = 0; i < TG_MAX_RANK; i++)
        y->shape[i] = t->shape[i];
    return y;
}

static tg_tensor *persistent_tensor(tg_ctx *ctx, const char *who, tg_dtype dtype, int rank, const int64_t *shape)
{
    if (!ctx || !shape_ok(ctx, who, rank, shape))
        return NULL;
    if (dtype != TG_F32 && dtype != TG_F64 && dtype != TG_I64)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: unknown dtype %d", who, (int)dtype), NULL;
    /* a persistent header carries its extra right behind it */
    tg_tensor *t = ctx->freed;
    if (t)
        ctx->freed = t->extra->next;
    else if (!(t = malloc(sizeof *t + sizeof(tg_tensor_extra))))
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: out of memory", who), NULL;
    init_header(t, ctx, dtype, rank, shape);
    t->extra = (tg_tensor_extra *)(t + 1);
    *t->extra = (tg_tensor_extra){0};
    size_t bytes = (size_t)t->size * tg_dtype_size(dtype);
    t->data = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!t->data) {
        t->lifetime = TG_LIFE_FREED;
        t->extra->next = ctx->freed;
        ctx->freed = t;
        char buf[96];
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: out of memory for a %s tensor", who,
                       tg_shape_str(rank, shape, buf, sizeof buf)), NULL;
    }
    memset(t->data, 0, bytes);
    tg_tensor_extra *head = ctx->persistent.extra;
    t->extra->next = head->next;
    t->extra->prev = &ctx->persistent;
    head->next->extra->prev = t;
    head->next = t;
    return t;
}

tg_tensor *tg_tensor_new(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape)
{
    return persistent_tensor(ctx, "tg_tensor_new", dtype, rank, shape);
}

tg_tensor *tg_tensor_zeros(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape)
{
    return persistent_tensor(ctx, "tg_tensor_zeros", dtype, rank, shape);
}

/* Integer tensors hold whole numbers that a double represents exactly. */
static bool is_index_value(double v) { return v == floor(v) && fabs(v) <= 0x1p53; }

tg_tensor *tg_tensor_full(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape, double value)
{
    if (ctx && dtype == TG_I64 && !is_index_value(value))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_tensor_full: %g is not a whole number within ±2^53 for an i64 tensor",
                           value), NULL;
    tg_tensor *t = persistent_tensor(ctx, "tg_tensor_full", dtype, rank, shape);
    if (t)
        tg_tensor_fill(t, value);
    return t;
}

tg_tensor *tg_tensor_ones(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape)
{
    return tg_tensor_full(ctx, dtype, rank, shape, 1.0);
}

tg_tensor *tg_tensor_scalar(tg_ctx *ctx, tg_dtype dtype, double value)
{
    return tg_tensor_full(ctx, dtype, 0, NULL, value);
}

tg_tensor *tg_tensor_from(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape, const double *values)
{
    if (ctx && !values)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_tensor_from: values is NULL"), NULL;
    tg_tensor *t = persistent_tensor(ctx, "tg_tensor_from", dtype, rank, shape);
    if (t && dtype == TG_I64) {
        int64_t *x = t->data;
        for (int64_t i = 0; i < t->size; i++) {
            if (!is_index_value(values[i])) {
                tg_tensor_free(t);
                return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_tensor_from: values[%lld] = %g is not a whole number "
                                   "within ±2^53 for an i64 tensor", (long long)i, values[i]), NULL;
            }
            x[i] = (int64_t)values[i];
        }
    } else if (t) {
        TG_TYPED(dtype, T, {
            T *x = t->data;
            for (int64_t i = 0; i < t->size; i++)
                x[i] = (T)values[i];
        });
    }
    return t;
}

/* x = shift + scale·draw(rng), element by element in order. */
static tg_tensor *random_tensor(tg_ctx *ctx, const char *who, tg_rng *rng, tg_dtype dtype, int rank,
                                const int64_t *shape, double (*draw)(tg_rng *), double shift, double scale)
{
    if (ctx && !rng)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: rng is NULL", who), NULL;
    if (ctx && dtype == TG_I64)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: random values need f32 or f64, not i64", who), NULL;
    tg_tensor *t = persistent_tensor(ctx, who, dtype, rank, shape);
    if (t)
        TG_TYPED(dtype, T, {
            T *x = t->data;
            for (int64_t i = 0; i < t->size; i++)
                x[i] = (T)(shift + scale * draw(rng));
        });
    return t;
}

tg_tensor *tg_tensor_rand(tg_ctx *ctx, tg_rng *rng, tg_dtype dtype, int rank, const int64_t *shape,
                          double low, double high)
{
    return random_tensor(ctx, "tg_tensor_rand", rng, dtype, rank, shape, tg_rng_uniform, low, high - low);
}

tg_tensor *tg_tensor_randn(tg_ctx *ctx, tg_rng *rng, tg_dtype dtype, int rank, const int64_t *shape,
                           double mean, double stddev)
{
    return random_tensor(ctx, "tg_tensor_randn", rng, dtype, rank, shape, tg_rng_normal, mean, stddev);
}

tg_tensor *tg_tensor_temp(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape)
{
    if (!ctx || !shape_ok(ctx, "tg_tensor_temp", rank, shape))
        return NULL;
    return tg_step_tensor(ctx, dtype, rank, shape, true);
}

tg_tensor *tg_arange(tg_ctx *ctx, tg_dtype dtype, double start, double end, double step)
{
    if (!ctx)
        return NULL;
    if (dtype != TG_F32 && dtype != TG_F64 && dtype != TG_I64)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_arange: dtype %d is not f32, f64 or i64", (int)dtype), NULL;
    if (!isfinite(start) || !isfinite(end) || !isfinite(step) || step == 0)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_arange: start %g, end %g, step %g; expected finite numbers and a "
                           "step other than 0", start, end, step), NULL;
    if (dtype == TG_I64)
        for (int k = 0; k < 3; k++) {
            double v = k == 0 ? start : k == 1 ? end : step;
            if (v != floor(v) || fabs(v) > 0x1p53)
                return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_arange: %s is %g for an i64 range; expected a whole number "
                                   "within ±2^53", k == 0 ? "start" : k == 1 ? "end" : "step", v), NULL;
        }
    double count = ceil((end - start) / step); /* torch.arange's length */
    if (!(count >= 1) || count > (double)TG_MAX_ELEMENTS)
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "tg_arange: [%g, %g) by %g has %.0f elements; expected 1 to 2^40 (the "
                           "step's sign must lead from start toward end)", start, end, step, count > 0 ? count : 0),
               NULL;
    int64_t n = (int64_t)count;
    tg_tensor *t = tg_step_tensor(ctx, dtype, 1, &n, false);
    if (!t)
        return NULL;
    if (dtype == TG_I64) {
        int64_t *v = t->data, first = (int64_t)start, by = (int64_t)step;
        for (int64_t i = 0; i < n; i++)
            v[i] = first + i * by;
    } else {
        TG_TYPED(dtype, T, {
            T *v = t->data;
            for (int64_t i = 0; i < n; i++)
                v[i] = (T)(start + (double)i * step);
        });
    }
    return t;
}

tg_tensor *tg_tensor_clone(const tg_tensor *t)
{
    if (!tg_check_tensor("tg_tensor_clone", t))
        return NULL;
    tg_tensor *c = persistent_tensor(t->ctx, "tg_tensor_clone", t->dtype, t->rank, t->shape);
    if (c)
        memcpy(c->data, t->data, (size_t)t->size * tg_dtype_size(t->dtype));
    return c;
}

void tg_tensor_free(tg_tensor *t)
{
    if (!t || t->lifetime == TG_LIFE_FREED)
        return;
    tg_ctx *ctx = t->ctx;
    if (t->lifetime == TG_LIFE_STEP) {
        tg_ctx_fail(ctx, TG_ERR_ARG, "tg_tensor_free: %s is a step tensor; tg_tape_reset frees it",
                tg_name_of(t) ? tg_name_of(t) : "the tensor");
        return;
    }
    tg_tensor_extra *e = t->extra;
    if (e->grad)
        tg_tensor_free(e->grad);
    free(t->data);
    free(e->name);
    e->prev->extra->next = e->next;
    e->next->extra->prev = e->prev;
    /* The header is kept and marked, so a later use is caught, not a crash;
     * in checked mode it is never handed out again, so every later use is. */
    t->data = NULL;
    tg_tensor **list = ctx->checked ? &ctx->retired_headers : &ctx->freed;
    *e = (tg_tensor_extra){.next = *list};
    t->lifetime = TG_LIFE_FREED;
    *list = t;
}

/* ---- access ---- */

const char *tg_dtype_name(tg_dtype dtype)
{
    switch (dtype) {
    case TG_F32: return "f32";
    case TG_F64: return "f64";
    case TG_I64: return "i64";
    }
    return "unknown dtype";
}

/* Accessors answer NULL with their documented error value and no message
 * (there is no context to hold one); a freed or stale tensor, or an index
 * outside it, sets the tensor's context's error. */
/* The accessors check like the ops: a freed or stale tensor is reported
 * (TG_ERR_FREED) and reads as NULL would. */
tg_ctx *tg_tensor_ctx(const tg_tensor *t) { return tg_check_tensor("tg_tensor_ctx", t) ? t->ctx : NULL; }
tg_dtype tg_tensor_dtype(const tg_tensor *t)
{
    return tg_check_tensor("tg_tensor_dtype", t) ? (tg_dtype)t->dtype : (tg_dtype)-1;
}
int tg_tensor_rank(const tg_tensor *t) { return tg_check_tensor("tg_tensor_rank", t) ? t->rank : -1; }
const int64_t *tg_tensor_shape(const tg_tensor *t) { return tg_check_tensor("tg_tensor_shape", t) ? t->shape : NULL; }
int64_t tg_tensor_size(const tg_tensor *t) { return tg_check_tensor("tg_tensor_size", t) ? t->size : -1; }
void *tg_tensor_data(tg_tensor *t) { return tg_check_tensor("tg_tensor_data", t) ? t->data : NULL; }
const void *tg_tensor_data_const(const tg_tensor *t)
{
    return tg_check_tensor("tg_tensor_data_const", t) ? t->data : NULL;
}

int64_t tg_tensor_dim(const tg_tensor *t, int axis)
{
    if (!tg_check_tensor("tg_tensor_dim", t))
        return -1;
    int a = axis < 0 ? axis + t->rank : axis;
    if (a < 0 || a >= t->rank) {
        tg_ctx_fail(t->ctx, TG_ERR_ARG, "tg_tensor_dim: axis %d of %s; expected %d to %d", axis, tg_shape_of(t).s,
                    -(int)t->rank, t->rank - 1);
        return -1;
    }
    return t->shape[a];
}

/* t live and i inside it, or the context's error. */
static bool element_ok(const char *who, const tg_tensor *t, int64_t i)
{
    if (!tg_check_tensor(who, t))
        return false;
    if (i < 0 || i >= t->size)
        return tg_ctx_fail(t->ctx, TG_ERR_ARG, "%s: flat index %lld of %s; expected 0 to %lld", who, (long long)i,
                           tg_shape_of(t).s, (long long)t->size - 1), false;
    return true;
}

double tg_tensor_get(const tg_tensor *t, int64_t i)
{
    if (!element_ok("tg_tensor_get", t, i))
        return NAN;
    switch (t->dtype) {
    case TG_F32: return (double)((const float *)t->data)[i];
    case TG_F64: return ((const double *)t->data)[i];
    default: return (double)((const int64_t *)t->data)[i];
    }
}

/* double to int64 without undefined behaviour: truncated toward zero,
 * saturated at the ends, NaN as 0. */
static int64_t to_i64(double v)
{
    if (!(v == v))
        return 0;
    if (v >= 0x1p63)
        return INT64_MAX;
    if (v < -0x1p63)
        return INT64_MIN;
    return (int64_t)v;
}

void tg_tensor_set(tg_tensor *t, int64_t i, double value)
{
    if (!element_ok("tg_tensor_set", t, i))
        return;
    switch (t->dtype) {
    case TG_F32: ((float *)t->data)[i] = (float)value; break;
    case TG_F64: ((double *)t->data)[i] = value; break;
    default: ((int64_t *)t->data)[i] = to_i64(value); break;
    }
}

double tg_tensor_item(const tg_tensor *t)
{
    if (!tg_check_tensor("tg_tensor_item", t))
        return NAN;
    if (t->size != 1) {
        tg_ctx_fail(t->ctx, TG_ERR_SHAPE, "tg_tensor_item: tensor has shape %s; expected one element",
                tg_shape_of(t).s);
        return NAN;
    }
    return tg_tensor_get(t, 0);
}

tg_status tg_tensor_copy(tg_tensor *dst, const tg_tensor *src)
{
    if (!dst)
        return TG_ERR_ARG;
    if (!src)
        return tg_ctx_fail(dst->ctx, TG_ERR_ARG, "tg_tensor_copy: NULL source for %s", tg_shape_of(dst).s);
    if (!tg_check_tensor("tg_tensor_copy", dst) || !tg_check_tensor("tg_tensor_copy", src))
        return dst->ctx->status;
    if (dst->size != src->size)
        return tg_ctx_fail(dst->ctx, TG_ERR_SHAPE, "tg_tensor_copy: source %s and destination %s differ in size",
                       tg_shape_of(src).s, tg_shape_of(dst).s);
    if (dst->dtype == src->dtype)
        memmove(dst->data, src->data, (size_t)src->size * tg_dtype_size(src->dtype));
    else
        for (int64_t i = 0; i < src->size; i++)
            tg_tensor_set(dst, i, tg_tensor_get(src, i));
    return TG_OK;
}

void tg_tensor_fill(tg_tensor *t, double value)
{
    if (!tg_check_tensor("tg_tensor_fill", t))
        return;
    if (t->dtype == TG_I64) {
        int64_t v = to_i64(value), *x = t->data;
        for (int64_t i = 0; i < t->size; i++)
            x[i] = v;
        return;
    }
    TG_TYPED(t->dtype, T, {
        T *x = t->data;
        for (int64_t i = 0; i < t->size; i++)
            x[i] = (T)value;
    });
}

tg_tensor_extra *tg_extra_of(tg_tensor *t)
{
    if (!t->extra && (t->extra = tg_arena_alloc(t->ctx, sizeof *t->extra, 16)))
        *t->extra = (tg_tensor_extra){0};
    return t->extra;
}

void tg_tensor_set_name(tg_tensor *t, const char *name)
{
    if (!tg_check_tensor("tg_tensor_set_name", t))
        return;
    size_t n = name ? strlen(name) + 1 : 0;
    char *copy = NULL;
    if (!n && !t->extra)
        return;
    if (n) {
        copy = t->lifetime == TG_LIFE_STEP ? tg_arena_alloc(t->ctx, n, 1) : malloc(n);
        if (!copy)
            return;
        memcpy(copy, name, n);
    }
    tg_tensor_extra *e = tg_extra_of(t);
    if (!e)
        return;
    if (t->lifetime != TG_LIFE_STEP)
        free(e->name);
    e->name = copy;
}

const char *tg_tensor_name(const tg_tensor *t) { return t ? tg_name_of(t) : NULL; }

/* ---- gradients ---- */

void tg_tensor_set_requires_grad(tg_tensor *t, bool requires_grad)
{
    if (!tg_check_tensor("tg_tensor_set_requires_grad", t))
        return;
    if (requires_grad && !tg_dtype_is_float((tg_dtype)t->dtype)) {
        tg_ctx_fail(t->ctx, TG_ERR_GRAD, "tg_tensor_set_requires_grad: %s is %s; only f32 and f64 tensors "
                    "have gradients", tg_name_of(t) ? tg_name_of(t) : "the tensor", tg_dtype_name((tg_dtype)t->dtype));
        return;
    }
    if (t->creator >= 0 && !requires_grad) {
        tg_ctx_fail(t->ctx, TG_ERR_GRAD, "tg_tensor_set_requires_grad: %s was made by a recorded op; "
                "only leaves can stop requiring a gradient", tg_name_of(t) ? tg_name_of(t) : "the tensor");
        return;
    }
    t->requires_grad = requires_grad;
}

bool tg_tensor_requires_grad(const tg_tensor *t)
{
    return tg_check_tensor("tg_tensor_requires_grad", t) && t->requires_grad;
}
bool tg_tensor_is_recorded(const tg_tensor *t) { return tg_check_tensor("tg_tensor_is_recorded", t) && t->creator >= 0; }
tg_tensor *tg_tensor_grad(const tg_tensor *t)
{
    if (!tg_check_tensor("tg_tensor_grad", t))
        return NULL;
    tg_tensor *grad = tg_grad_of(t);
    /* zeroed lazily (see tg_tensor_zero_grad), unless a backward pass is
     * summing into it right now (backward.c, grad_to_sum_in) */
    if (grad && t->grad_zeroed && t->pending != grad) {
        memset(grad->data, 0, (size_t)t->size * tg_dtype_size(t->dtype));
        ((tg_tensor *)t)->grad_zeroed = false;
    }
    return grad;
}

/* Only marks the gradient as zero: the next backward then writes it instead
 * of adding to it, which saves a pass over every parameter per step. */
void tg_tensor_zero_grad(tg_tensor *t)
{
    if (t && tg_grad_of(t))
        t->grad_zeroed = true;
}

void tg_tensor_set_hook(tg_tensor *t, tg_hook_fn fn, void *user)
{
    if (!tg_check_tensor("tg_tensor_set_hook", t))
        return;
    if (!fn && !t->extra)
        return;
    tg_tensor_extra *e = tg_extra_of(t);
    if (!e)
        return;
    e->hook = fn;
    e->hook_user = user;
}

/* ---- random numbers ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

tg_rng tg_rng_seed(uint64_t seed)
{
    tg_rng rng;
    for (int i = 0; i < 4; i++)
        rng.s[i] = splitmix64(&seed);
    return rng;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tg_rng_next(tg_rng *rng)
{
    if (!rng)
        return 0;
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double tg_rng_uniform(tg_rng *rng) { return rng ? (double)(tg_rng_next(rng) >> 11) * 0x1.0p-53 : NAN; }

double tg_rng_normal(tg_rng *rng)
{
    if (!rng)
        return NAN;
    /* Marsaglia's polar method: only sqrt and log, both correctly rounded in
     * current libms, so the stream matches across platforms. */
    double u, v, s;
    do {
        u = 2 * tg_rng_uniform(rng) - 1;
        v = 2 * tg_rng_uniform(rng) - 1;
        s = u * u + v * v;
    } while (s >= 1 || s == 0);
    return u * sqrt(-2 * log(s) / s);
}

uint64_t tg_rng_below(tg_rng *rng, uint64_t n)
{
    if (n == 0 || !rng)
        return 0;
    uint64_t limit = -n % n; /* 2^64 mod n: reject the uneven low values */
    uint64_t x;
    do
        x = tg_rng_next(rng);
    while (x < limit);
    return x % n;
}
