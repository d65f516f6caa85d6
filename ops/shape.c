/* Reshape and transpose. Both copy into a fresh contiguous tensor: every
 * tensor is contiguous, so kernels never deal with strides. */
#include "autograd/internal.h"

#include <stdio.h>
#include <string.h>

tg_tensor *tg_reshape(tg_tensor *x, int rank, const int64_t *shape)
{
    if (!tg_check_live("reshape", x))
        return NULL;
    char want[96];
    if (rank < 0 || rank > TG_MAX_RANK || (rank && !shape))
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "reshape: rank %d is out of range (0 to %d)", rank, TG_MAX_RANK), NULL;
    for (int d = 0; d < rank; d++)
        if (shape[d] < 1)
            return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "reshape: target %s has a dim below 1", tg_shape_str(rank, shape, want, sizeof want)), NULL;
    if (!tg_shape_size_ok(x->ctx, "reshape", rank, shape))
        return NULL;
    if (tg_shape_size(rank, shape) != x->size)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "reshape: %s has %lld elements; target %s has %lld",
                       tg_shape_of(x).s, (long long)x->size, tg_shape_str(rank, shape, want, sizeof want),
                       (long long)tg_shape_size(rank, shape)), NULL;
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, rank, shape, false);
    if (!y)
        return NULL;
    memcpy(y->data, x->data, (size_t)x->size * tg_dtype_size(x->dtype));
    return tg_record1(&tg_op_reshape, y, x);
}

static void reshape_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_reshape(dy, n->in[0]->rank, n->in[0]->shape);
}

static void reshape_label(const tg_node *n, char *buf, size_t size)
{
    char shape[64];
    snprintf(buf, size, "reshape %s", tg_shape_str(n->out->rank, n->out->shape, shape, sizeof shape));
}

static void reshape_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    char shape[64];
    snprintf(buf, size, "reshape to %s", tg_shape_str(n->in[input]->rank, n->in[input]->shape, shape, sizeof shape));
}

const tg_op_desc tg_op_reshape = {.kind = TG_OP_RESHAPE, .name = "reshape", .backward = reshape_backward, .label = reshape_label,
                                  .vjp_label = reshape_vjp_label};

tg_tensor *tg_transpose(tg_tensor *x, int axis0, int axis1)
{
    if (!tg_check_live("transpose", x))
        return NULL;
    int a0 = axis0 < 0 ? axis0 + x->rank : axis0, a1 = axis1 < 0 ? axis1 + x->rank : axis1;
    if (a0 < 0 || a0 >= x->rank || a1 < 0 || a1 >= x->rank)
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "transpose: axes %d and %d are out of range for shape %s", axis0,
                       axis1, tg_shape_of(x).s), NULL;
    int64_t shape[TG_MAX_RANK], in_stride[TG_MAX_RANK], stride = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        in_stride[d] = stride;
        stride *= x->shape[d];
        shape[d] = x->shape[d];
    }
    shape[a0] = x->shape[a1];
    shape[a1] = x->shape[a0];
    int64_t s = in_stride[a0];
    in_stride[a0] = in_stride[a1];
    in_stride[a1] = s;
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, x->rank, shape, false);
    if (!y)
        return NULL;
    /* Pad to rank 4 on the left and walk the output in order. */
    int64_t dims[TG_MAX_RANK], st[TG_MAX_RANK];
    for (int d = 0; d < TG_MAX_RANK; d++) {
        int k = d - (TG_MAX_RANK - x->rank);
        dims[d] = k >= 0 ? shape[k] : 1;
        st[d] = k >= 0 ? in_stride[k] : 0;
    }
    TG_TYPED(x->dtype, T, {
        const T *X = x->data;
        T *Y = y->data;
        int64_t k = 0;
        for (int64_t i0 = 0; i0 < dims[0]; i0++)
            for (int64_t i1 = 0; i1 < dims[1]; i1++)
                for (int64_t i2 = 0; i2 < dims[2]; i2++)
                    for (int64_t i3 = 0; i3 < dims[3]; i3++)
                        Y[k++] = X[i0 * st[0] + i1 * st[1] + i2 * st[2] + i3 * st[3]];
    });
    tg_attr attr = {.transpose = {a0, a1}};
    return tg_record(&tg_op_transpose, y, 1, (tg_tensor *[]){x}, attr);
}

static void transpose_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_transpose(dy, n->attr.transpose.axis0, n->attr.transpose.axis1);
}

static void transpose_label(const tg_node *n, char *buf, size_t size)
{
    snprintf(buf, size, "transpose(%d, %d)", n->attr.transpose.axis0, n->attr.transpose.axis1);
}

static void transpose_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)input;
    snprintf(buf, size, "transpose(%d, %d)", n->attr.transpose.axis0, n->attr.transpose.axis1);
}

const tg_op_desc tg_op_transpose = {.kind = TG_OP_TRANSPOSE, .name = "transpose", .backward = transpose_backward, .label = transpose_label,
                                    .vjp_label = transpose_vjp_label};
