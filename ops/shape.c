/* Reshape, transpose and permute. Every tensor is contiguous (kernels never
 * deal with strides), so reshape of a step tensor is a view: a new header
 * over the same buffer, y = x read with another shape. Transpose and permute
 * move values, y[i_p(0), ..., i_p(r-1)] = x[i_0, ..., i_{r-1}], in one pass
 * (docs/design.md, "Shapes without copies", says why not strided views).
 * All three move values of any dtype, i64 included. */
#include "autograd/internal.h"
#include "ops/axis.h"

#include <stdio.h>
#include <string.h>

/* shape with its one -1 (if any) replaced by the dim that makes size
 * elements, into out; false with the context's error otherwise. */
static bool target_shape(const tg_tensor *x, int rank, const int64_t *shape, int64_t *out)
{
    char want[96];
    int inferred = -1;
    int64_t known = 1;
    for (int d = 0; d < rank; d++) {
        out[d] = shape[d];
        if (shape[d] == -1 && inferred < 0) {
            inferred = d;
            continue;
        }
        if (shape[d] < 1)
            return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "reshape: target %s has a dim below 1 (one -1 may stand for "
                               "the dim that fits)", tg_shape_str(rank, shape, want, sizeof want)), false;
        if (__builtin_mul_overflow(known, shape[d], &known) || known > TG_MAX_ELEMENTS)
            return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "reshape: target %s has more than 2^40 elements",
                               tg_shape_str(rank, shape, want, sizeof want)), false;
    }
    if (inferred >= 0) {
        if (x->size % known != 0)
            return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "reshape: %s has %lld elements, not a multiple of the %lld of "
                               "target %s", tg_shape_of(x).s, (long long)x->size, (long long)known,
                               tg_shape_str(rank, shape, want, sizeof want)), false;
        out[inferred] = x->size / known;
        known = x->size;
    }
    if (known != x->size)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "reshape: %s has %lld elements; target %s has %lld",
                           tg_shape_of(x).s, (long long)x->size, tg_shape_str(rank, shape, want, sizeof want),
                           (long long)known), false;
    return true;
}

tg_tensor *tg_reshape(tg_tensor *x, int rank, const int64_t *shape)
{
    if (!tg_check_tensor("reshape", x))
        return NULL;
    if (rank < 0 || rank > TG_MAX_RANK || (rank && !shape))
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "reshape: rank %d is out of range (0 to %d)", rank, TG_MAX_RANK), NULL;
    int64_t target[TG_MAX_RANK];
    if (!target_shape(x, rank, shape, target))
        return NULL;
    tg_tensor *y;
    if (x->lifetime == TG_LIFE_STEP) {
        y = tg_step_view(x, rank, target); /* both live until the same tg_tape_reset */
    } else { /* a persistent tensor may be freed while the step lives on: a copy */
        y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, rank, target, false);
        if (y)
            memcpy(y->data, x->data, (size_t)x->size * tg_dtype_size(x->dtype));
    }
    return tg_record1(&tg_op_reshape, y, x);
}

static void reshape_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_reshape(dy, n->in[0]->rank, n->in[0]->shape);
}

static void reshape_label(const tg_node *n, char *buf, size_t size)
{
    char shape[96];
    snprintf(buf, size, "reshape %s", tg_shape_str(n->out->rank, n->out->shape, shape, sizeof shape));
}

static void reshape_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    char shape[96];
    snprintf(buf, size, "reshape to %s", tg_shape_str(n->in[input]->rank, n->in[input]->shape, shape, sizeof shape));
}

const tg_op_desc tg_op_reshape = {.kind = TG_OP_RESHAPE, .name = "reshape", .backward = reshape_backward, .label = reshape_label,
                                  .vjp_label = reshape_vjp_label};

/* ---- the permuting copy shared by transpose and permute ---- */

/* y = x with its axes in the order perm (y's axis d is x's axis perm[d]).
 * Output dims whose input strides chain are merged first, so a head split
 * ([B, T, H, d] to [B, H, T, d]) copies rows of d values. */
static tg_tensor *permuted_copy(tg_tensor *x, const int *perm)
{
    int rank = x->rank;
    int64_t in_stride[TG_MAX_RANK], shape[TG_MAX_RANK] = {0}, stride = 1;
    for (int d = rank - 1; d >= 0; d--) {
        in_stride[d] = stride;
        stride *= x->shape[d];
    }
    for (int d = 0; d < rank; d++)
        shape[d] = x->shape[perm[d]];
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, rank, shape, false);
    if (!y)
        return NULL;
    /* merged walk, outermost first: dims[w] with input strides st[w] */
    int64_t dims[TG_MAX_RANK], st[TG_MAX_RANK];
    int n = 0;
    for (int d = 0; d < rank; d++) {
        int64_t dim = shape[d], s = in_stride[perm[d]];
        if (dim == 1)
            continue;
        if (n && st[n - 1] == s * dim) {
            dims[n - 1] *= dim;
            st[n - 1] = s;
        } else {
            dims[n] = dim, st[n] = s, n++;
        }
    }
    size_t elem = tg_dtype_size((tg_dtype)x->dtype);
    if (n <= 1) { /* the order of the values is unchanged */
        memcpy(y->data, x->data, (size_t)x->size * elem);
        return y;
    }
    int64_t inner = dims[n - 1], inner_stride = st[n - 1], rows = x->size / inner;
    int64_t at[TG_MAX_RANK] = {0}, from = 0;
    const char *X = x->data;
    char *Y = y->data;
    for (int64_t r = 0; r < rows; r++) {
        if (inner_stride == 1) {
            memcpy(Y, X + (size_t)from * elem, (size_t)inner * elem);
        } else if (elem == 4) {
            const uint32_t *src = (const uint32_t *)X + from;
            uint32_t *dst = (uint32_t *)Y;
            for (int64_t j = 0; j < inner; j++)
                dst[j] = src[j * inner_stride];
        } else {
            const uint64_t *src = (const uint64_t *)X + from;
            uint64_t *dst = (uint64_t *)Y;
            for (int64_t j = 0; j < inner; j++)
                dst[j] = src[j * inner_stride];
        }
        Y += (size_t)inner * elem;
        for (int w = n - 2; w >= 0; w--) { /* the next row's input offset */
            from += st[w];
            if (++at[w] < dims[w])
                break;
            from -= st[w] * dims[w];
            at[w] = 0;
        }
    }
    return y;
}

tg_tensor *tg_transpose(tg_tensor *x, int axis0, int axis1)
{
    if (!tg_check_tensor("transpose", x))
        return NULL;
    int a0 = axis0 < 0 ? axis0 + x->rank : axis0, a1 = axis1 < 0 ? axis1 + x->rank : axis1;
    if (a0 < 0 || a0 >= x->rank || a1 < 0 || a1 >= x->rank)
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "transpose: axes %d and %d are out of range for shape %s", axis0,
                       axis1, tg_shape_of(x).s), NULL;
    int perm[TG_MAX_RANK];
    for (int d = 0; d < x->rank; d++)
        perm[d] = d;
    perm[a0] = a1;
    perm[a1] = a0;
    tg_tensor *y = permuted_copy(x, perm);
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

/* ---- permute ---- */

typedef struct {
    int perm[TG_MAX_RANK];
} permute_attr;

tg_tensor *tg_permute(tg_tensor *x, const int *axes)
{
    if (!tg_check_tensor("permute", x))
        return NULL;
    if (!axes && x->rank > 0)
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "permute: axes is NULL; expected %d axes for %s", x->rank,
                           tg_shape_of(x).s), NULL;
    permute_attr p = {{0}};
    bool seen[TG_MAX_RANK] = {false};
    for (int d = 0; d < x->rank; d++) {
        int a = axes[d] < 0 ? axes[d] + x->rank : axes[d];
        if (a < 0 || a >= x->rank || seen[a])
            return tg_ctx_fail(x->ctx, TG_ERR_ARG, "permute: axis %d (entry %d) for %s is %s; expected each of "
                               "0 to %d once (negative counts from the end)", axes[d], d, tg_shape_of(x).s,
                               a < 0 || a >= x->rank ? "out of range" : "repeated", x->rank - 1), NULL;
        seen[a] = true;
        p.perm[d] = a;
    }
    tg_tensor *y = permuted_copy(x, p.perm);
    if (!y)
        return NULL;
    tg_attr attr = {0};
    if (tg_will_record(1, &x) && !(attr.data = tg_attr_store(x->ctx, &p, sizeof p)))
        return NULL;
    return tg_record(&tg_op_permute, y, 1, &x, attr);
}

/* y's axis d is x's axis perm[d]: dx = dy permuted by the inverse */
static void permute_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    const permute_attr *p = n->attr.data;
    int inverse[TG_MAX_RANK];
    for (int d = 0; d < dy->rank; d++)
        inverse[p->perm[d]] = d;
    dx[0] = tg_permute(dy, inverse);
}

static void perm_text(const tg_node *n, char *buf, size_t size)
{
    const permute_attr *p = n->attr.data;
    size_t used = (size_t)snprintf(buf, size, "permute(");
    for (int d = 0; d < n->out->rank && p && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%d", d ? ", " : "", p->perm[d]);
    if (used < size)
        snprintf(buf + used, size - used, ")");
}

static void permute_label(const tg_node *n, char *buf, size_t size) { perm_text(n, buf, size); }

static void permute_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)input;
    char text[64];
    perm_text(n, text, sizeof text);
    snprintf(buf, size, "inverse of %s", text);
}

const tg_op_desc tg_op_permute = {.kind = TG_OP_PERMUTE, .name = "permute", .backward = permute_backward,
                                  .label = permute_label, .vjp_label = permute_vjp_label};
