/* Internal to ops/: the ops that work along one axis (select.c, join.c,
 * extrema.c) view a contiguous tensor as [outer, len, inner] around it, so
 * whole inner rows move at once and no loop divides to find coordinates. */
#ifndef TAPEGRAD_OPS_AXIS_H
#define TAPEGRAD_OPS_AXIS_H

#include "autograd/internal.h"

/* axis of a rank-`rank` tensor, negative counting from the end, into *out;
 * false with TG_ERR_ARG naming op and x's shape when out of range. */
static inline bool tg_axis_resolve(const char *op, const tg_tensor *x, int rank, int axis, int *out)
{
    if (rank == 0)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: input is a scalar (shape []); expected at least one axis",
                           op), false;
    int a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank)
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "%s: axis %d is out of range for %s (expected %d to %d)", op, axis,
                           tg_shape_of(x).s, -rank, rank - 1), false;
    *out = a;
    return true;
}

/* The product of the dims before axis a (outer) and after it (inner). */
static inline void tg_axis_split(int rank, const int64_t *shape, int a, int64_t *outer, int64_t *inner)
{
    *outer = *inner = 1;
    for (int d = 0; d < rank; d++) {
        if (d < a)
            *outer *= shape[d];
        if (d > a)
            *inner *= shape[d];
    }
}

/* Checks index is a live TG_I64 tensor of x's context (a float tensor where
 * indices are needed is an error naming op and both). */
static inline bool tg_check_index(const char *op, const tg_tensor *x, const tg_tensor *index)
{
    if (!index)
        return x->ctx->status == TG_OK
                   ? (tg_ctx_fail(x->ctx, TG_ERR_ARG, "%s: index is NULL; expected an i64 tensor", op), false)
                   : false;
    if (!tg_check_tensor(op, index))
        return false;
    if (index->ctx != x->ctx)
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "%s: index belongs to another context than the input", op), false;
    if (index->dtype != TG_I64)
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "%s: index %s is %s; expected i64 indices", op, tg_shape_of(index).s,
                           tg_dtype_name((tg_dtype)index->dtype)), false;
    return true;
}

/* y[i] = scale·Σ_j x[j·n + i] over len rows of n floats, each sum in row
 * order from 0 (the bits of a loop adding row after row), a block of
 * columns in registers at a time (ops/reduce.c). false, with nothing
 * written, where that kernel does not run (no AVX-512, n < 16). */
bool tg_sum_rows_f32(const float *x, int64_t len, int64_t n, float scale, float *y);

/* Whether an op on these inputs will be recorded (attribute blocks are
 * stored only then). */
static inline bool tg_will_record(int n, tg_tensor *const *in)
{
    bool needed = false;
    for (int i = 0; i < n; i++)
        needed |= in[i]->requires_grad;
    return needed && in[0]->ctx->grad_enabled;
}

#endif
