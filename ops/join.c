/* Joining n tensors: concat along an existing axis, stack along a new one.
 * Around the axis every input is [outer, len_i, inner], so the output is
 * written as outer runs of one contiguous block per input (one memcpy each;
 * a single block per input when the axis is the first). Data only moves:
 * f32, f64 and i64 (i64 is never recorded). */
#include "ops/axis.h"

#include <stdio.h>
#include <string.h>

/* xs: n live tensors of one context and dtype; the first one is returned
 * (NULL on error, set on the first one's context when there is one). */
static tg_tensor *check_inputs(const char *op, int n, tg_tensor *const *xs)
{
    if (n < 1 || !xs)
        return NULL; /* no tensor, so no context to report to */
    tg_tensor *first = xs[0];
    for (int i = 0; i < n; i++) {
        tg_tensor *x = xs[i];
        if (!x && first && first->ctx->status == TG_OK)
            return tg_ctx_fail(first->ctx, TG_ERR_ARG, "%s: input %d of %d is NULL", op, i, n), NULL;
        if (!tg_check_tensor(op, x))
            return NULL;
        if (x->ctx != first->ctx)
            return tg_ctx_fail(first->ctx, TG_ERR_ARG, "%s: input %d belongs to another context than input 0", op, i),
                   NULL;
        if (x->dtype != first->dtype)
            return tg_ctx_fail(first->ctx, TG_ERR_ARG, "%s: input %d is %s and input 0 is %s; expected one dtype", op,
                               i, tg_dtype_name((tg_dtype)x->dtype), tg_dtype_name((tg_dtype)first->dtype)), NULL;
    }
    return first;
}

/* Writes the inputs side by side: output row o is input 0's o-th block of
 * len_i·inner elements, then input 1's, ... */
static void join_blocks(tg_tensor *y, int n, tg_tensor *const *xs, int64_t outer, const int64_t *block)
{
    size_t elem = tg_dtype_size((tg_dtype)y->dtype);
    char *dst = y->data;
    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < n; i++) {
            size_t bytes = (size_t)block[i] * elem;
            memcpy(dst, (const char *)xs[i]->data + (size_t)o * bytes, bytes);
            dst += bytes;
        }
}

/* The elements per outer row of each input (len_i·inner), in step memory. */
static int64_t *block_sizes(tg_ctx *ctx, int n)
{
    return tg_arena_alloc(ctx, (size_t)n * sizeof(int64_t), sizeof(int64_t));
}

tg_tensor *tg_concat(int n, tg_tensor *const *xs, int axis)
{
    tg_tensor *first = check_inputs("concat", n, xs);
    int a;
    if (!first || !tg_axis_resolve("concat", first, first->rank, axis, &a))
        return NULL;
    int64_t shape[TG_MAX_RANK], outer, inner, total = 0;
    memcpy(shape, first->shape, sizeof shape);
    tg_axis_split(first->rank, first->shape, a, &outer, &inner);
    for (int i = 0; i < n; i++) {
        const tg_tensor *x = xs[i];
        bool fits = x->rank == first->rank;
        for (int d = 0; d < x->rank && fits; d++)
            fits = d == a || x->shape[d] == first->shape[d];
        if (!fits)
            return tg_ctx_fail(first->ctx, TG_ERR_SHAPE, "concat: input %d has shape %s and input 0 %s; expected "
                               "equal shapes except along axis %d", i, tg_shape_of(x).s, tg_shape_of(first).s, axis),
                   NULL;
        total += x->shape[a];
    }
    if (total > ((int64_t)1 << 40))
        return tg_ctx_fail(first->ctx, TG_ERR_SHAPE, "concat: axis %d would have %lld elements; expected at most 2^40",
                           axis, (long long)total), NULL;
    shape[a] = total;
    int64_t *block = block_sizes(first->ctx, n);
    tg_tensor *y = block ? tg_step_tensor(first->ctx, (tg_dtype)first->dtype, first->rank, shape, false) : NULL;
    if (!y)
        return NULL;
    for (int i = 0; i < n; i++)
        block[i] = xs[i]->shape[a] * inner;
    join_blocks(y, n, xs, outer, block);
    tg_attr attr = {.reduce = {.axis = a}};
    return tg_record(&tg_op_concat, y, n, xs, attr);
}

/* dx_i = dy[offset_i : offset_i + len_i] along the axis */
static void concat_backward(const tg_node *node, tg_tensor *dy, tg_tensor **dx)
{
    int a = node->attr.reduce.axis;
    int64_t offset = 0;
    for (int i = 0; i < node->n_in; i++) {
        int64_t len = node->in[i]->shape[a];
        if (node->in[i]->requires_grad)
            dx[i] = tg_slice(dy, a, offset, offset + len, 1);
        offset += len;
    }
}

tg_tensor *tg_stack(int n, tg_tensor *const *xs, int axis)
{
    tg_tensor *first = check_inputs("stack", n, xs);
    int a;
    if (!first)
        return NULL;
    if (first->rank == TG_MAX_RANK)
        return tg_ctx_fail(first->ctx, TG_ERR_SHAPE, "stack: inputs of shape %s have rank %d; a new axis would pass "
                           "the maximum rank %d", tg_shape_of(first).s, first->rank, TG_MAX_RANK), NULL;
    if (!tg_axis_resolve("stack", first, first->rank + 1, axis, &a))
        return NULL;
    for (int i = 0; i < n; i++)
        if (xs[i]->rank != first->rank ||
            memcmp(xs[i]->shape, first->shape, sizeof(int64_t) * (size_t)first->rank))
            return tg_ctx_fail(first->ctx, TG_ERR_SHAPE, "stack: input %d has shape %s and input 0 %s; expected "
                               "equal shapes", i, tg_shape_of(xs[i]).s, tg_shape_of(first).s), NULL;
    int64_t shape[TG_MAX_RANK], outer, inner;
    for (int d = 0, k = 0; d <= first->rank; d++)
        shape[d] = d == a ? n : first->shape[k++];
    tg_axis_split(first->rank + 1, shape, a, &outer, &inner);
    int64_t *block = block_sizes(first->ctx, n);
    tg_tensor *y = block ? tg_step_tensor(first->ctx, (tg_dtype)first->dtype, first->rank + 1, shape, false) : NULL;
    if (!y)
        return NULL;
    for (int i = 0; i < n; i++)
        block[i] = inner;
    join_blocks(y, n, xs, outer, block);
    tg_attr attr = {.reduce = {.axis = a}};
    return tg_record(&tg_op_stack, y, n, xs, attr);
}

/* dx_i = dy[i] along the new axis, which is then dropped */
static void stack_backward(const tg_node *node, tg_tensor *dy, tg_tensor **dx)
{
    int a = node->attr.reduce.axis;
    for (int i = 0; i < node->n_in; i++)
        if (node->in[i]->requires_grad)
            dx[i] = tg_reshape(tg_slice(dy, a, i, i + 1, 1), node->in[i]->rank, node->in[i]->shape);
}

static void concat_label(const tg_node *node, char *buf, size_t size)
{
    snprintf(buf, size, "concat(axis=%d)", node->attr.reduce.axis);
}

static void stack_label(const tg_node *node, char *buf, size_t size)
{
    snprintf(buf, size, "stack(axis=%d)", node->attr.reduce.axis);
}

/* input i's own part of δ */
static void concat_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    int a = n->attr.reduce.axis;
    int64_t start = 0;
    for (int i = 0; i < input; i++)
        start += n->in[i]->shape[a];
    snprintf(buf, size, "δ[%lld:%lld] along axis %d", (long long)start, (long long)(start + n->in[input]->shape[a]), a);
}

static void stack_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    snprintf(buf, size, "δ[%d] along axis %d", input, n->attr.reduce.axis);
}

const tg_op_desc tg_op_concat = {.kind = TG_OP_CONCAT, .name = "concat", .backward = concat_backward, .label = concat_label,
    .vjp_label = concat_vjp_label};
const tg_op_desc tg_op_stack = {.kind = TG_OP_STACK, .name = "stack", .backward = stack_backward, .label = stack_label,
    .vjp_label = stack_vjp_label};
