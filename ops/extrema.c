/* Reductions along one axis that pick or soften an extremum: max and min
 * (values and the TG_I64 position chosen), argmax and argmin (positions
 * only, not recorded), and logsumexp. x is viewed as [outer, len, inner];
 * the kernels walk len row by row, so every inner loop has unit stride.
 *
 * Ties: the first position along the axis wins (strict comparison), and the
 * whole gradient goes to it. NaN wins over numbers (the first NaN), so a NaN
 * in a row shows in its result as it would in a sum. */
#include "ops/axis.h"

#include <stdio.h>
#include <string.h>
#include <tgmath.h>

typedef struct {
    tg_tensor *index; /* positions chosen, shaped as the values */
    int axis;
    bool keepdim;
} extremum_attr;

/* The reduced shape of x: axis a dropped, or kept as 1. */
static int reduced_shape(const tg_tensor *x, int a, bool keepdim, int64_t *shape)
{
    int rank = 0;
    for (int d = 0; d < x->rank; d++)
        if (d != a || keepdim)
            shape[rank++] = d == a ? 1 : x->shape[d];
    return rank;
}

/* values (may be NULL) and positions of the max (or min) along axis a. */
static void find_extrema(const tg_tensor *x, int a, bool largest, tg_tensor *values, tg_tensor *positions)
{
    int64_t outer, inner, len = x->shape[a];
    tg_axis_split(x->rank, x->shape, a, &outer, &inner);
    int64_t *P = positions->data;
    TG_TYPED(x->dtype, T, {
        const T *X = x->data;
        for (int64_t o = 0; o < outer; o++) {
            const T *rows = X + o * len * inner;
            int64_t *pos = P + o * inner;
            for (int64_t i = 0; i < inner; i++)
                pos[i] = 0;
            for (int64_t j = 1; j < len; j++) {
                const T *row = rows + j * inner;
                for (int64_t i = 0; i < inner; i++) {
                    T best = rows[pos[i] * inner + i], v = row[i];
                    bool better = largest ? v > best : v < best;
                    if (better || (v != v && best == best))
                        pos[i] = j;
                }
            }
            if (values) {
                T *out = (T *)values->data + o * inner;
                for (int64_t i = 0; i < inner; i++)
                    out[i] = rows[pos[i] * inner + i];
            }
        }
    });
}

static tg_tensor *extremum(const tg_op_desc *kind, tg_tensor *x, int axis, bool keepdim, tg_tensor **positions)
{
    const char *op = kind->name;
    int a;
    if (positions)
        *positions = NULL;
    if (!tg_check_live(op, x) || !tg_axis_resolve(op, x, x->rank, axis, &a))
        return NULL;
    int64_t shape[TG_MAX_RANK];
    int rank = reduced_shape(x, a, keepdim, shape);
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, rank, shape, false);
    tg_tensor *index = y ? tg_step_tensor(x->ctx, TG_I64, rank, shape, false) : NULL;
    if (!index)
        return NULL;
    find_extrema(x, a, kind == &tg_op_max_axis, y, index);
    tg_attr attr = {0};
    if (tg_will_record(1, &x) &&
        !(attr.data = tg_attr_store(x->ctx, &(extremum_attr){index, a, keepdim}, sizeof(extremum_attr))))
        return NULL;
    y = tg_record(kind, y, 1, &x, attr);
    if (y && positions)
        *positions = index;
    return y;
}

tg_tensor *tg_max_axis(tg_tensor *x, int axis, bool keepdim, tg_tensor **argmax)
{
    return extremum(&tg_op_max_axis, x, axis, keepdim, argmax);
}

tg_tensor *tg_min_axis(tg_tensor *x, int axis, bool keepdim, tg_tensor **argmin)
{
    return extremum(&tg_op_min_axis, x, axis, keepdim, argmin);
}

/* t (any dtype) with axis a put back as size 1: a copy when it was dropped. */
static tg_tensor *with_axis_kept(tg_tensor *t, const tg_tensor *x, int a, bool keepdim)
{
    if (keepdim || !t)
        return t;
    int64_t shape[TG_MAX_RANK];
    int rank = reduced_shape(x, a, true, shape);
    if (tg_dtype_is_float((tg_dtype)t->dtype))
        return tg_reshape(t, rank, shape);
    tg_tensor *kept = tg_step_tensor(t->ctx, (tg_dtype)t->dtype, rank, shape, false);
    if (kept)
        memcpy(kept->data, t->data, (size_t)t->size * tg_dtype_size((tg_dtype)t->dtype));
    return kept;
}

/* y = x at the chosen position: dx = dy scattered to that position (the
 * adjoint of gather), zeros elsewhere */
static void extremum_backward(const tg_node *node, tg_tensor *dy, tg_tensor **dx)
{
    const extremum_attr *e = node->attr.data;
    const tg_tensor *x = node->in[0];
    dx[0] = tg_scatter_add(with_axis_kept(dy, x, e->axis, e->keepdim), e->axis,
                           with_axis_kept(e->index, x, e->axis, e->keepdim), x->rank, x->shape);
}

static void max_axis_label(const tg_node *node, char *buf, size_t size)
{
    snprintf(buf, size, "max(axis=%d)", ((const extremum_attr *)node->attr.data)->axis);
}

static void min_axis_label(const tg_node *node, char *buf, size_t size)
{
    snprintf(buf, size, "min(axis=%d)", ((const extremum_attr *)node->attr.data)->axis);
}

/* δ goes to the chosen element of each row along the axis */
static void extremum_vjp_label(const tg_node *node, int input, char *buf, size_t size)
{
    (void)input;
    snprintf(buf, size, "δ to each %s along axis %d", node->op == &tg_op_max_axis ? "argmax" : "argmin",
             ((const extremum_attr *)node->attr.data)->axis);
}

const tg_op_desc tg_op_max_axis = {.kind = TG_OP_MAX_AXIS, .name = "max_axis", .backward = extremum_backward, .label = max_axis_label,
    .vjp_label = extremum_vjp_label};
const tg_op_desc tg_op_min_axis = {.kind = TG_OP_MIN_AXIS, .name = "min_axis", .backward = extremum_backward, .label = min_axis_label,
    .vjp_label = extremum_vjp_label};

static tg_tensor *arg_extremum(const char *op, tg_tensor *x, int axis, bool keepdim, bool largest)
{
    int a;
    if (!tg_check_live(op, x) || !tg_axis_resolve(op, x, x->rank, axis, &a))
        return NULL;
    int64_t shape[TG_MAX_RANK];
    int rank = reduced_shape(x, a, keepdim, shape);
    tg_tensor *index = tg_step_tensor(x->ctx, TG_I64, rank, shape, false);
    if (index)
        find_extrema(x, a, largest, NULL, index);
    return index; /* positions have no gradient: not recorded */
}

tg_tensor *tg_argmax(tg_tensor *x, int axis, bool keepdim) { return arg_extremum("argmax", x, axis, keepdim, true); }
tg_tensor *tg_argmin(tg_tensor *x, int axis, bool keepdim) { return arg_extremum("argmin", x, axis, keepdim, false); }

/* ---- logsumexp ---- */

tg_tensor *tg_logsumexp(tg_tensor *x, int axis, bool keepdim)
{
    int a;
    if (!tg_check_live("logsumexp", x) || !tg_axis_resolve("logsumexp", x, x->rank, axis, &a))
        return NULL;
    int64_t shape[TG_MAX_RANK], outer, inner, len = x->shape[a];
    int rank = reduced_shape(x, a, keepdim, shape);
    tg_axis_split(x->rank, x->shape, a, &outer, &inner);
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, rank, shape, false);
    void *scratch = y ? tg_arena_alloc(x->ctx, (size_t)inner * tg_dtype_size((tg_dtype)x->dtype), 64) : NULL;
    if (!scratch)
        return NULL;
    TG_TYPED(x->dtype, T, {
        const T *X = x->data;
        T *Y = y->data, *sum = scratch;
        for (int64_t o = 0; o < outer; o++) {
            const T *rows = X + o * len * inner;
            T *max = Y + o * inner; /* the row max first, the result last */
            memcpy(max, rows, (size_t)inner * sizeof(T));
            for (int64_t j = 1; j < len; j++)
                for (int64_t i = 0; i < inner; i++)
                    max[i] = rows[j * inner + i] > max[i] ? rows[j * inner + i] : max[i];
            for (int64_t i = 0; i < inner; i++)
                sum[i] = 0;
            /* log Σ exp(x) = m + log Σ exp(x - m): every exponent <= 0, one is 0 */
            for (int64_t j = 0; j < len; j++)
                for (int64_t i = 0; i < inner; i++)
                    sum[i] += exp(rows[j * inner + i] - max[i]);
            for (int64_t i = 0; i < inner; i++)
                max[i] = isinf(max[i]) ? max[i] : max[i] + log(sum[i]); /* ±inf rows: the max itself */
        }
    });
    tg_attr attr = {.reduce = {a, keepdim}};
    return tg_record(&tg_op_logsumexp, y, 1, &x, attr);
}

/* dx = dy·exp(x - y) = dy·softmax(x) along the axis */
static void logsumexp_backward(const tg_node *node, tg_tensor *dy, tg_tensor **dx)
{
    int a = node->attr.reduce.axis;
    bool keepdim = node->attr.reduce.keepdim;
    tg_tensor *x = node->in[0];
    tg_tensor *softmax = tg_exp(tg_sub(x, with_axis_kept(node->out, x, a, keepdim)));
    dx[0] = tg_mul(softmax, with_axis_kept(dy, x, a, keepdim));
}

static void logsumexp_label(const tg_node *node, char *buf, size_t size)
{
    snprintf(buf, size, "logsumexp(axis=%d)", node->attr.reduce.axis);
}

static void logsumexp_vjp_label(const tg_node *node, int input, char *buf, size_t size)
{
    (void)node, (void)input;
    snprintf(buf, size, "δ⊙softmax(x)");
}

const tg_op_desc tg_op_logsumexp = {.kind = TG_OP_LOGSUMEXP, .name = "logsumexp", .backward = logsumexp_backward, .label = logsumexp_label,
    .vjp_label = logsumexp_vjp_label};
