/* Selecting along an axis: slice, index_select, gather, constant pad, and the
 * scatter-adds that are the adjoints of the index ops (index_add, scatter_add;
 * each differentiable again, its backward the selection it undoes). Also
 * detach, which selects the values and drops the history.
 *
 * Tensors are contiguous, so x is viewed as [outer, len, inner] around the
 * axis and whole inner rows move with memcpy. The selections only move
 * bytes: f32, f64 and i64 share one kernel (an i64 input never requires a
 * gradient, so it is never recorded). The scatter-adds add: f32 and f64. */
#include "ops/axis.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Copies n elements of size elem, src stride step elements apart, into
 * contiguous dst: rows of inner elements when inner > 1, else one by one. */
static void copy_strided(void *dst, const void *src, int64_t n, int64_t step, int64_t inner, size_t elem)
{
    size_t row = (size_t)inner * elem;
    if (step == 1) {
        memcpy(dst, src, (size_t)n * row);
    } else if (inner > 1) {
        for (int64_t j = 0; j < n; j++)
            memcpy((char *)dst + (size_t)j * row, (const char *)src + (size_t)(j * step) * row, row);
    } else if (elem == 4) {
        const uint32_t *s = src;
        uint32_t *d = dst;
        for (int64_t j = 0; j < n; j++)
            d[j] = s[j * step];
    } else {
        const uint64_t *s = src;
        uint64_t *d = dst;
        for (int64_t j = 0; j < n; j++)
            d[j] = s[j * step];
    }
}

/* "[1, 0, 2]": the coordinates of flat index k in t, for messages. */
static tg_shape_text coords_of(const tg_tensor *t, int64_t k)
{
    int64_t c[TG_MAX_RANK];
    for (int d = t->rank - 1; d >= 0; d--) {
        c[d] = k % t->shape[d];
        k /= t->shape[d];
    }
    tg_shape_text text;
    tg_shape_str(t->rank, c, text.s, sizeof text.s);
    return text;
}

/* Every index in [0, len), else TG_ERR_ARG naming the op, the index's
 * position and value, and the axis it indexes. */
static bool indices_in_range(const char *op, const tg_tensor *x, int a, const tg_tensor *index, int64_t len)
{
    const int64_t *I = index->data;
    for (int64_t k = 0; k < index->size; k++)
        if (I[k] < 0 || I[k] >= len)
            return tg_ctx_fail(x->ctx, TG_ERR_ARG, "%s: index%s%s at %s is %lld; expected 0 to %lld (axis %d of %s)",
                               op, tg_name_of(index) ? " " : "", tg_name_of(index) ? tg_name_of(index) : "", coords_of(index, k).s,
                               (long long)I[k], (long long)len - 1, a, tg_shape_of(x).s), false;
    return true;
}

/* ---- slice ---- */

typedef struct {
    int axis;
    int64_t start, step;
} slice_attr;

tg_tensor *tg_slice(tg_tensor *x, int axis, int64_t start, int64_t stop, int64_t step)
{
    int a;
    if (!tg_check_tensor("slice", x) || !tg_axis_resolve("slice", x, x->rank, axis, &a))
        return NULL;
    if (step < 1)
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "slice: step %lld along axis %d of %s; expected a step >= 1",
                           (long long)step, axis, tg_shape_of(x).s), NULL;
    int64_t len = x->shape[a], from = start, to = stop;
    /* Python's rules: negative counts from the end, then clamp to [0, len] */
    from = from < 0 ? (from < -len ? 0 : from + len) : (from > len ? len : from);
    to = to < 0 ? (to < -len ? 0 : to + len) : (to > len ? len : to);
    if (to <= from)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "slice: [%lld:%lld:%lld] along axis %d of %s selects nothing; "
                           "expected at least one element (start below stop, within 0 to %lld)", (long long)start,
                           (long long)stop, (long long)step, axis, tg_shape_of(x).s, (long long)len), NULL;
    int64_t n = (to - from - 1) / step + 1, outer, inner, shape[TG_MAX_RANK];
    memcpy(shape, x->shape, sizeof shape);
    shape[a] = n;
    tg_axis_split(x->rank, x->shape, a, &outer, &inner);
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, x->rank, shape, false);
    if (!y)
        return NULL;
    size_t elem = tg_dtype_size((tg_dtype)x->dtype);
    for (int64_t o = 0; o < outer; o++)
        copy_strided((char *)y->data + (size_t)(o * n * inner) * elem,
                     (const char *)x->data + (size_t)((o * len + from) * inner) * elem, n, step, inner, elem);
    tg_attr attr = {0};
    if (tg_will_record(1, &x) &&
        !(attr.data = tg_attr_store(x->ctx, &(slice_attr){a, from, step}, sizeof(slice_attr))))
        return NULL;
    return tg_record(&tg_op_slice, y, 1, &x, attr);
}

/* A step-1 slice puts dy back by padding it with zeros; a strided one
 * scatters its rows to start, start + step, ... */
static void slice_backward(const tg_node *node, tg_tensor *dy, tg_tensor **dx)
{
    const slice_attr *s = node->attr.data;
    const tg_tensor *x = node->in[0];
    int64_t len = x->shape[s->axis], n = dy->shape[s->axis];
    if (s->step == 1) {
        int64_t before[TG_MAX_RANK] = {0}, after[TG_MAX_RANK] = {0};
        before[s->axis] = s->start;
        after[s->axis] = len - s->start - n;
        dx[0] = tg_pad(dy, before, after, 0);
        return;
    }
    tg_tensor *rows = tg_step_tensor(x->ctx, TG_I64, 1, &n, false);
    if (!rows)
        return;
    int64_t *r = rows->data;
    for (int64_t j = 0; j < n; j++)
        r[j] = s->start + j * s->step;
    dx[0] = tg_index_add(dy, s->axis, rows, len);
}

static void slice_label(const tg_node *node, char *buf, size_t size)
{
    const slice_attr *s = node->attr.data;
    int64_t stop = s->start + (node->out->shape[s->axis] - 1) * s->step + 1;
    if (s->step == 1)
        snprintf(buf, size, "slice(axis=%d, %lld:%lld)", s->axis, (long long)s->start, (long long)stop);
    else
        snprintf(buf, size, "slice(axis=%d, %lld:%lld:%lld)", s->axis, (long long)s->start, (long long)stop,
                 (long long)s->step);
}

/* the adjoint of a selection puts δ back where the selection took it from */
static void put_back_label(const tg_node *n, int input, const char *how, char *buf, size_t size)
{
    char shape[64];
    if (input > 0)
        snprintf(buf, size, "0 (no gradient)");
    else
        snprintf(buf, size, "%s %s", how, tg_shape_str(n->in[0]->rank, n->in[0]->shape, shape, sizeof shape));
}

static void slice_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    put_back_label(n, input, "zeros except the slice:", buf, size);
}

const tg_op_desc tg_op_slice = {.kind = TG_OP_SLICE, .name = "slice", .backward = slice_backward, .label = slice_label,
    .vjp_label = slice_vjp_label};

/* ---- constant pad ---- */

typedef struct {
    int64_t before[TG_MAX_RANK], after[TG_MAX_RANK];
    double value;
} pad_attr;

/* t filled with value (i64: value is a whole number, checked by the caller). */
static void fill_value(tg_tensor *t, double value)
{
    if (t->dtype == TG_I64) {
        int64_t v = (int64_t)value, *p = t->data;
        for (int64_t i = 0; i < t->size; i++)
            p[i] = v;
        return;
    }
    TG_TYPED(t->dtype, T, {
        T v = (T)value, *p = t->data;
        for (int64_t i = 0; i < t->size; i++)
            p[i] = v;
    });
}

tg_tensor *tg_pad(tg_tensor *x, const int64_t *before, const int64_t *after, double value)
{
    if (!tg_check_tensor("pad", x))
        return NULL;
    if (x->rank > 0 && (!before || !after))
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "pad: %s is NULL; expected %d entries for %s",
                           before ? "after" : "before", x->rank, tg_shape_of(x).s), NULL;
    if (x->dtype == TG_I64 && !(value == floor(value) && fabs(value) <= 0x1p53))
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "pad: value %g for an i64 tensor; expected a whole number", value),
               NULL;
    pad_attr p = {.value = value};
    int64_t shape[TG_MAX_RANK];
    for (int d = 0; d < x->rank; d++) {
        if (before[d] < 0 || after[d] < 0 || before[d] > ((int64_t)1 << 40) || after[d] > ((int64_t)1 << 40))
            return tg_ctx_fail(x->ctx, TG_ERR_ARG, "pad: axis %d of %s padded by %lld before and %lld after; "
                               "expected counts from 0 to 2^40", d, tg_shape_of(x).s, (long long)before[d],
                               (long long)after[d]), NULL;
        p.before[d] = before[d];
        p.after[d] = after[d];
        shape[d] = x->shape[d] + before[d] + after[d];
    }
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, x->rank, shape, false);
    if (!y)
        return NULL;
    fill_value(y, value);
    /* x's rows (its last dim) into place, walked as rank 6 padded on the left */
    int64_t dims[TG_MAX_RANK], offset[TG_MAX_RANK], stride[TG_MAX_RANK], s = 1;
    for (int d = TG_MAX_RANK - 1; d >= 0; d--) {
        int k = d - (TG_MAX_RANK - x->rank);
        dims[d] = k >= 0 ? x->shape[k] : 1;
        offset[d] = k >= 0 ? p.before[k] : 0;
        stride[d] = s;
        s *= k >= 0 ? shape[k] : 1;
    }
    _Static_assert(TG_MAX_RANK == 6, "the walk below has one loop per dim");
    size_t elem = tg_dtype_size((tg_dtype)x->dtype), row = (size_t)dims[5] * elem;
    const char *X = x->data;
    char *Y = y->data;
    for (int64_t i0 = 0; i0 < dims[0]; i0++)
        for (int64_t i1 = 0; i1 < dims[1]; i1++)
            for (int64_t i2 = 0; i2 < dims[2]; i2++)
                for (int64_t i3 = 0; i3 < dims[3]; i3++)
                    for (int64_t i4 = 0; i4 < dims[4]; i4++, X += row) {
                        int64_t at = (i0 + offset[0]) * stride[0] + (i1 + offset[1]) * stride[1] +
                                     (i2 + offset[2]) * stride[2] + (i3 + offset[3]) * stride[3] +
                                     (i4 + offset[4]) * stride[4] + offset[5];
                        memcpy(Y + (size_t)at * elem, X, row);
                    }
    tg_attr attr = {0};
    if (tg_will_record(1, &x) && !(attr.data = tg_attr_store(x->ctx, &p, sizeof p)))
        return NULL;
    return tg_record(&tg_op_pad, y, 1, &x, attr);
}

/* dx = dy with the padding cut away: a step-1 slice per padded axis */
static void pad_backward(const tg_node *node, tg_tensor *dy, tg_tensor **dx)
{
    const pad_attr *p = node->attr.data;
    const tg_tensor *x = node->in[0];
    tg_tensor *g = dy;
    for (int d = 0; d < x->rank && g; d++)
        if (p->before[d] || p->after[d])
            g = tg_slice(g, d, p->before[d], p->before[d] + x->shape[d], 1);
    dx[0] = g;
}

static void pad_label(const tg_node *node, char *buf, size_t size)
{
    const pad_attr *p = node->attr.data;
    size_t used = (size_t)snprintf(buf, size, "pad(");
    for (int d = 0; d < node->out->rank && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld:%lld", d ? ", " : "", (long long)p->before[d],
                                 (long long)p->after[d]);
    if (used < size)
        snprintf(buf + used, size - used, p->value == 0 ? ")" : ", value=%g)", p->value);
}

static void pad_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    put_back_label(n, input, "cut the padding off to", buf, size);
}

const tg_op_desc tg_op_pad = {.kind = TG_OP_PAD, .name = "pad", .backward = pad_backward, .label = pad_label,
    .vjp_label = pad_vjp_label};

/* ---- index_select and its adjoint index_add ---- */

tg_tensor *tg_index_select(tg_tensor *x, int axis, tg_tensor *index)
{
    int a;
    if (!tg_check_tensor("index_select", x) || !tg_check_index("index_select", x, index) ||
        !tg_axis_resolve("index_select", x, x->rank, axis, &a))
        return NULL;
    if (index->rank != 1)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "index_select: index has shape %s; expected rank 1 [n]",
                           tg_shape_of(index).s), NULL;
    int64_t len = x->shape[a], n = index->size, outer, inner, shape[TG_MAX_RANK];
    if (!indices_in_range("index_select", x, a, index, len))
        return NULL;
    memcpy(shape, x->shape, sizeof shape);
    shape[a] = n;
    tg_axis_split(x->rank, x->shape, a, &outer, &inner);
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, x->rank, shape, false);
    if (!y)
        return NULL;
    const int64_t *I = index->data;
    size_t elem = tg_dtype_size((tg_dtype)x->dtype), row = (size_t)inner * elem;
    for (int64_t o = 0; o < outer; o++) {
        const char *src = (const char *)x->data + (size_t)(o * len) * row;
        char *dst = (char *)y->data + (size_t)(o * n) * row;
        for (int64_t j = 0; j < n; j++)
            memcpy(dst + (size_t)j * row, src + (size_t)I[j] * row, row);
    }
    tg_attr attr = {.reduce = {.axis = a}};
    return tg_record(&tg_op_index_select, y, 2, (tg_tensor *[]){x, index}, attr);
}

/* dx = index_add(dy): rows picked twice get both gradients */
static void index_select_backward(const tg_node *node, tg_tensor *dy, tg_tensor **dx)
{
    int a = node->attr.reduce.axis;
    dx[0] = tg_index_add(dy, a, node->in[1], node->in[0]->shape[a]);
}

tg_tensor *tg_index_add(tg_tensor *src, int axis, tg_tensor *index, int64_t len)
{
    int a;
    if (!tg_check_live("index_add", src) || !tg_check_index("index_add", src, index) ||
        !tg_axis_resolve("index_add", src, src->rank, axis, &a))
        return NULL;
    if (index->rank != 1 || index->size != src->shape[a])
        return tg_ctx_fail(src->ctx, TG_ERR_SHAPE, "index_add: index %s for source %s along axis %d; expected "
                           "[%lld], one index per source row", tg_shape_of(index).s, tg_shape_of(src).s, axis,
                           (long long)src->shape[a]), NULL;
    if (len < 1 || len > ((int64_t)1 << 40))
        return tg_ctx_fail(src->ctx, TG_ERR_ARG, "index_add: length %lld along axis %d; expected 1 to 2^40",
                           (long long)len, axis), NULL;
    if (!indices_in_range("index_add", src, a, index, len))
        return NULL;
    int64_t n = src->shape[a], outer, inner, shape[TG_MAX_RANK];
    memcpy(shape, src->shape, sizeof shape);
    shape[a] = len;
    tg_axis_split(src->rank, src->shape, a, &outer, &inner);
    tg_tensor *y = tg_step_tensor(src->ctx, (tg_dtype)src->dtype, src->rank, shape, true);
    if (!y)
        return NULL;
    const int64_t *I = index->data;
    TG_TYPED(src->dtype, T, {
        const T *S = src->data;
        T *Y = y->data;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < n; j++) {
                const T *from = S + (o * n + j) * inner;
                T *to = Y + (o * len + I[j]) * inner;
                for (int64_t i = 0; i < inner; i++)
                    to[i] += from[i];
            }
    });
    tg_attr attr = {.reduce = {.axis = a}};
    return tg_record(&tg_op_index_add, y, 2, (tg_tensor *[]){src, index}, attr);
}

/* y[index[j]] += src[j]: dsrc = index_select(dy) */
static void index_add_backward(const tg_node *node, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_index_select(dy, node->attr.reduce.axis, node->in[1]);
}

/* "index_select(axis=1)": the op's own name with its axis */
static void axis_label(const tg_node *node, char *buf, size_t size)
{
    snprintf(buf, size, "%s(axis=%d)", node->op->name, node->attr.reduce.axis);
}

static void index_select_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    put_back_label(n, input, "index_add into", buf, size);
}

static void index_add_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)n;
    if (input > 0)
        snprintf(buf, size, "0 (no gradient)");
    else
        snprintf(buf, size, "index_select(δ)");
}

const tg_op_desc tg_op_index_select = {.kind = TG_OP_INDEX_SELECT, .name = "index_select", .backward = index_select_backward, .label = axis_label,
    .vjp_label = index_select_vjp_label};
const tg_op_desc tg_op_index_add = {.kind = TG_OP_INDEX_ADD, .name = "index_add", .backward = index_add_backward, .label = axis_label,
    .vjp_label = index_add_vjp_label};

/* ---- gather and its adjoint scatter_add ---- */

/* The walk shared by gather and scatter_add: index (rank r) padded to rank 6
 * on the left; for each of its elements k, the offset in the tensor `full`
 * (shape `shape`) whose coordinate along axis a is index[k]. */
typedef struct {
    int64_t dims[TG_MAX_RANK];   /* index's dims */
    int64_t stride[TG_MAX_RANK]; /* full's strides, 0 along the axis */
    int64_t axis_stride;
} gather_walk;

static gather_walk walk_of(const tg_tensor *index, int rank, const int64_t *shape, int a)
{
    gather_walk w;
    int64_t s = 1;
    for (int d = TG_MAX_RANK - 1; d >= 0; d--) {
        int k = d - (TG_MAX_RANK - rank);
        w.dims[d] = k >= 0 ? index->shape[k] : 1;
        w.stride[d] = k == a ? 0 : s;
        if (k == a)
            w.axis_stride = s;
        s *= k >= 0 ? shape[k] : 1;
    }
    return w;
}

#define FOR_EACH_GATHERED(w, I, k, at)                                                           \
    for (int64_t i0 = 0, k = 0; i0 < (w).dims[0]; i0++)                                          \
        for (int64_t i1 = 0; i1 < (w).dims[1]; i1++)                                             \
            for (int64_t i2 = 0; i2 < (w).dims[2]; i2++)                                         \
                for (int64_t i3 = 0; i3 < (w).dims[3]; i3++)                                     \
                    for (int64_t i4 = 0; i4 < (w).dims[4]; i4++)                                 \
                        for (int64_t i5 = 0, base = i0 * (w).stride[0] + i1 * (w).stride[1] +    \
                                                    i2 * (w).stride[2] + i3 * (w).stride[3] +    \
                                                    i4 * (w).stride[4], at;                      \
                             i5 < (w).dims[5] && (at = base + i5 * (w).stride[5] + I[k] * (w).axis_stride, 1); \
                             i5++, k++)

/* index fits x for gather/scatter_add: same rank, no larger than x off the axis. */
static bool index_fits(const char *op, const tg_tensor *x, const char *what, int rank, const int64_t *shape,
                       const tg_tensor *index, int a)
{
    char want[64];
    bool fits = index->rank == rank;
    for (int d = 0; d < rank && fits; d++)
        fits = d == a || index->shape[d] <= shape[d];
    if (!fits)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: index %s for %s %s along axis %d; expected rank %d and no "
                           "dim larger than the %s's except along the axis", op, tg_shape_of(index).s, what,
                           tg_shape_str(rank, shape, want, sizeof want), a, rank, what), false;
    return true;
}

tg_tensor *tg_gather(tg_tensor *x, int axis, tg_tensor *index)
{
    int a;
    if (!tg_check_tensor("gather", x) || !tg_check_index("gather", x, index) ||
        !tg_axis_resolve("gather", x, x->rank, axis, &a) ||
        !index_fits("gather", x, "input", x->rank, x->shape, index, a) ||
        !indices_in_range("gather", x, a, index, x->shape[a]))
        return NULL;
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, index->rank, index->shape, false);
    if (!y)
        return NULL;
    gather_walk w = walk_of(index, x->rank, x->shape, a);
    const int64_t *I = index->data;
    if (x->dtype == TG_F32) {
        const uint32_t *X = x->data;
        uint32_t *Y = y->data;
        FOR_EACH_GATHERED(w, I, k, at) Y[k] = X[at];
    } else { /* f64 and i64 move as 8 bytes */
        const uint64_t *X = x->data;
        uint64_t *Y = y->data;
        FOR_EACH_GATHERED(w, I, k, at) Y[k] = X[at];
    }
    tg_attr attr = {.reduce = {.axis = a}};
    return tg_record(&tg_op_gather, y, 2, (tg_tensor *[]){x, index}, attr);
}

/* dx = scatter_add(dy) into x's shape: repeated indices sum */
static void gather_backward(const tg_node *node, tg_tensor *dy, tg_tensor **dx)
{
    const tg_tensor *x = node->in[0];
    dx[0] = tg_scatter_add(dy, node->attr.reduce.axis, node->in[1], x->rank, x->shape);
}

tg_tensor *tg_scatter_add(tg_tensor *src, int axis, tg_tensor *index, int rank, const int64_t *shape)
{
    int a;
    if (!tg_check_live("scatter_add", src) || !tg_check_index("scatter_add", src, index))
        return NULL;
    char want[64];
    if (rank < 1 || rank > TG_MAX_RANK || !shape)
        return tg_ctx_fail(src->ctx, TG_ERR_ARG, "scatter_add: rank %d%s; expected a shape of rank 1 to %d", rank,
                           shape ? "" : " with a NULL shape", TG_MAX_RANK), NULL;
    for (int d = 0; d < rank; d++)
        if (shape[d] < 1 || shape[d] > ((int64_t)1 << 40))
            return tg_ctx_fail(src->ctx, TG_ERR_SHAPE, "scatter_add: target shape %s has a dim out of range "
                               "(1 to 2^40)", tg_shape_str(rank, shape, want, sizeof want)), NULL;
    if (src->rank != index->rank || memcmp(src->shape, index->shape, sizeof(int64_t) * (size_t)src->rank))
        return tg_ctx_fail(src->ctx, TG_ERR_SHAPE, "scatter_add: source %s and index %s; expected equal shapes",
                           tg_shape_of(src).s, tg_shape_of(index).s), NULL;
    if (!tg_axis_resolve("scatter_add", src, rank, axis, &a) ||
        !index_fits("scatter_add", src, "target", rank, shape, index, a) ||
        !indices_in_range("scatter_add", src, a, index, shape[a]))
        return NULL;
    tg_tensor *y = tg_step_tensor(src->ctx, (tg_dtype)src->dtype, rank, shape, true);
    if (!y)
        return NULL;
    gather_walk w = walk_of(index, rank, shape, a);
    const int64_t *I = index->data;
    TG_TYPED(src->dtype, T, {
        const T *S = src->data;
        T *Y = y->data;
        FOR_EACH_GATHERED(w, I, k, at) Y[at] += S[k];
    });
    tg_attr attr = {.reduce = {.axis = a}};
    return tg_record(&tg_op_scatter_add, y, 2, (tg_tensor *[]){src, index}, attr);
}

/* y[.., index[k], ..] += src[k]: dsrc = gather(dy) */
static void scatter_add_backward(const tg_node *node, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_gather(dy, node->attr.reduce.axis, node->in[1]);
}


static void gather_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    put_back_label(n, input, "scatter_add into", buf, size);
}

static void scatter_add_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)n;
    if (input > 0)
        snprintf(buf, size, "0 (no gradient)");
    else
        snprintf(buf, size, "gather(δ)");
}

const tg_op_desc tg_op_gather = {.kind = TG_OP_GATHER, .name = "gather", .backward = gather_backward, .label = axis_label,
    .vjp_label = gather_vjp_label};
const tg_op_desc tg_op_scatter_add = {.kind = TG_OP_SCATTER_ADD, .name = "scatter_add", .backward = scatter_add_backward, .label = axis_label,
    .vjp_label = scatter_add_vjp_label};

/* ---- detach ---- */

tg_tensor *tg_detach(tg_tensor *x)
{
    if (!tg_check_tensor("detach", x))
        return NULL;
    tg_tensor *y = tg_step_like(x, false);
    if (y)
        memcpy(y->data, x->data, (size_t)x->size * tg_dtype_size((tg_dtype)x->dtype));
    return y; /* not recorded: no gradient flows back through it */
}
