/* The affine map of a dense layer as one op (PyTorch's F.linear):
 *
 *   y[..., out] = x[..., in]·Wᵀ + b      W [out, in], b [out] or none
 *
 * x's leading axes are folded into rows (no copy: x is contiguous), so the
 * whole op is one GEMM of [rows, in]·[in, out] that adds the bias to each
 * register tile of y while the tile is in L1 (ops/gemm.h, tg_gemm_bias_f32):
 * one output tensor and no pass over it, where matmul + add made two tensors
 * of the output's size and read one back. Same sums as matmul then add.
 *
 * Backward, over the folded rows (g the upstream [rows, out]):
 *   dx = g·W,   dW = gᵀ·x,   db = Σ_rows g
 * made of matmul, reshape and sum_to, so it differentiates again. */
#include "ops/linear.h"
#include "ops/gemm.h"
#include "ops/product_sink.h"

#include <stdio.h>
#include <string.h>

/* Rows of x's leading axes folded together (1 for a vector x). */
static int64_t folded_rows(const tg_tensor *x)
{
    int64_t rows = 1;
    for (int d = 0; d < x->rank - 1; d++)
        rows *= x->shape[d];
    return rows;
}

bool tg_linear_check(const char *op, tg_tensor *x, tg_tensor *w, tg_tensor *b)
{
    if (!tg_check_pair(op, x, w) || (b && !tg_check_pair(op, x, b)))
        return false;
    if (x->rank == 0)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: x is a scalar (shape []); expected x [..., in] with at "
                           "least one axis", op), false;
    int64_t in = x->shape[x->rank - 1];
    if (w->rank != 2 || w->shape[1] != in)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: x %s with weight %s; expected weight [out, %lld] "
                           "(one row of in = %lld values, x's last axis, per output)", op, tg_shape_of(x).s,
                           tg_shape_of(w).s, (long long)in, (long long)in), false;
    if (b && (b->rank != 1 || b->shape[0] != w->shape[0]))
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: weight %s with bias %s; expected bias [%lld] (one per "
                           "output, weight's rows) or none", op, tg_shape_of(w).s, tg_shape_of(b).s,
                           (long long)w->shape[0]), false;
    return true;
}

tg_tensor *tg_linear_output(tg_tensor *x, tg_tensor *w)
{
    int64_t shape[TG_MAX_RANK];
    memcpy(shape, x->shape, (size_t)x->rank * sizeof *shape);
    shape[x->rank - 1] = w->shape[0];
    return tg_step_tensor(x->ctx, (tg_dtype)x->dtype, x->rank, shape, false);
}

void tg_linear_gemm(tg_tensor *y, const tg_tensor *a, tg_tensor *w, tg_tensor *b)
{
    int64_t rows = folded_rows(a), in = w->shape[1], out = w->shape[0];
    tg_pool *pool = y->ctx->pool;
    if (y->dtype == TG_F32)
        tg_gemm_bias_f32(pool, rows, out, in, a->data, in, w->data, in, b ? b->data : NULL, y->data, out);
    else
        tg_gemm_bias_f64(pool, rows, out, in, a->data, in, w->data, in, b ? b->data : NULL, y->data, out);
}

tg_tensor *tg_linear(tg_tensor *x, tg_tensor *w, tg_tensor *b)
{
    if (!tg_linear_check("linear", x, w, b))
        return NULL;
    tg_tensor *y = tg_linear_output(x, w);
    if (!y)
        return NULL;
    /* a data-parallel lead weight's product may be made already (ops/product_sink.h) */
    const tg_product_sink *sink = x->ctx->product_sink;
    if (x->rank == 2 && sink && sink->give_product && sink->give_product(sink->user, x, w, false, true, y)) {
        int64_t rows = x->shape[0], out = w->shape[0];
        TG_TYPED(x->dtype, T, {
            T *Y = y->data;
            const T *bias = b ? (const T *)b->data : NULL;
            for (int64_t i = 0; bias && i < rows; i++)
                for (int64_t j = 0; j < out; j++)
                    Y[i * out + j] += bias[j];
        });
    } else {
        tg_linear_gemm(y, x, w, b);
    }
    return tg_record(&tg_op_linear, y, b ? 3 : 2, (tg_tensor *[]){x, w, b}, (tg_attr){0});
}

tg_tensor *tg_linear_vjp(tg_tensor *dy, tg_tensor *a, tg_tensor *w, tg_tensor *b, bool want_da, tg_tensor **dw,
                         tg_tensor **db)
{
    int64_t rows = folded_rows(a), in = w->shape[1], out = w->shape[0];
    bool flat = a->rank == 2; /* else a and dy as rows: views of step tensors */
    tg_tensor *g = flat ? dy : tg_reshape(dy, TG_SHAPE(rows, out));
    if (dw && w->requires_grad) {
        tg_tensor *a_rows = flat ? a : tg_reshape(a, TG_SHAPE(rows, in));
        if (g && a_rows && !tg_weight_grad_offer(w, g, a_rows))
            *dw = tg_matmul_t(g, a_rows, true, false);
    }
    if (db && b && b->requires_grad)
        *db = tg_sum_to(g, 1, b->shape);
    if (!want_da)
        return NULL;
    tg_tensor *da = tg_matmul(g, w);
    return flat ? da : tg_reshape(da, a->rank, a->shape);
}

/* y = x·Wᵀ + b over the rows g [rows, out] of the upstream:
 * dx = g·W, dW = gᵀ·x (or taken by the context's product sink), db = Σ_rows g */
static void linear_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    tg_tensor *x = n->in[0], *b = n->n_in > 2 ? n->in[2] : NULL;
    dx[0] = tg_linear_vjp(dy, x, n->in[1], b, x->requires_grad, &dx[1], &dx[2]);
}

static void linear_label(const tg_node *n, char *buf, size_t size)
{
    snprintf(buf, size, n->n_in > 2 ? "linear(x·Wᵀ + b)" : "linear(x·Wᵀ)");
}

/* δ·W to x, δᵀ·x to W (named X and W unless they have short names), δ
 * summed over the rows to b: "Σ over batch" for x [batch, in]. */
static void linear_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    if (input == 0)
        snprintf(buf, size, "·%s", tg_vjp_name(n->in[1], "W"));
    else if (input == 1)
        snprintf(buf, size, "δᵀ·%s", tg_vjp_name(n->in[0], "X"));
    else if (!tg_vjp_sum_note(n->in[2], n->out, buf, size)[0])
        snprintf(buf, size, "·1"); /* a vector x: one row */
}

const tg_op_desc tg_op_linear = {.kind = TG_OP_LINEAR, .name = "linear", .backward = linear_backward,
                                 .label = linear_label, .vjp_label = linear_vjp_label};
