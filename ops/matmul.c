/* Matrix product, with either operand read transposed in place: backward
 * needs dA = dC·Bᵀ and dB = Aᵀ·dC, and the GEMM packs the transposes for
 * free. Batched: a rank-3 operand is a stack of matrices; a rank-2 operand
 * is shared by every matrix of the other's stack. */
#include "autograd/internal.h"
#include "ops/gemm.h"
#include "ops/product_sink.h"

#include <stdio.h>
#include <string.h>

tg_tensor *tg_matmul_t(tg_tensor *a, tg_tensor *b, bool trans_a, bool trans_b)
{
    if (!tg_check_pair("matmul", a, b))
        return NULL;
    if (a->rank < 2 || a->rank > 3 || b->rank < 2 || b->rank > 3)
        return tg_ctx_fail(a->ctx, TG_ERR_SHAPE, "matmul: inputs have shapes %s and %s; expected matrices (rank 2) "
                           "or stacks of matrices (rank 3)", tg_shape_of(a).s, tg_shape_of(b).s), NULL;
    const int64_t *sa = a->shape + a->rank - 2, *sb = b->shape + b->rank - 2; /* the matrix dims */
    int64_t m = sa[trans_a], k = sa[!trans_a];
    int64_t kb = sb[trans_b], n = sb[!trans_b];
    int64_t batch_a = a->rank == 3 ? a->shape[0] : 1, batch_b = b->rank == 3 ? b->shape[0] : 1;
    if (k != kb || (a->rank == 3 && b->rank == 3 && batch_a != batch_b))
        return tg_ctx_fail(a->ctx, TG_ERR_SHAPE, "matmul: %s%s · %s%s: %s; expected [m, k] · [k, n] with equal "
                           "batch sizes", tg_shape_of(a).s, trans_a ? "ᵀ" : "", tg_shape_of(b).s, trans_b ? "ᵀ" : "",
                           k != kb ? "inner dims differ" : "batch sizes differ"), NULL;
    int64_t batch = batch_a > batch_b ? batch_a : batch_b;
    bool stacked = a->rank == 3 || b->rank == 3;
    tg_tensor *c = stacked ? tg_step_tensor(a->ctx, (tg_dtype)a->dtype, 3, (int64_t[]){batch, m, n}, false)
                           : tg_step_tensor(a->ctx, (tg_dtype)a->dtype, 2, (int64_t[]){m, n}, false);
    if (!c)
        return NULL;
    tg_pool *pool = a->ctx->pool;
    int64_t step_a = a->rank == 3 ? m * k : 0, step_b = b->rank == 3 ? k * n : 0;
    const tg_product_sink *sink = a->ctx->product_sink; /* may give the product (ops/product_sink.h) */
    bool given = !stacked && sink && sink->give_product &&
                 sink->give_product(sink->user, a, b, trans_a, trans_b, c);
    for (int64_t i = 0; i < batch && !given; i++) {
        if (a->dtype == TG_F32)
            tg_gemm_f32(pool, trans_a, trans_b, m, n, k, 1, (const float *)a->data + i * step_a, sa[1],
                        (const float *)b->data + i * step_b, sb[1], 0, (float *)c->data + i * m * n, n);
        else
            tg_gemm_f64(pool, trans_a, trans_b, m, n, k, 1, (const double *)a->data + i * step_a, sa[1],
                        (const double *)b->data + i * step_b, sb[1], 0, (double *)c->data + i * m * n, n);
    }
    tg_attr attr = {.matmul = {trans_a, trans_b}};
    return tg_record(&tg_op_matmul, c, 2, (tg_tensor *[]){a, b}, attr);
}

tg_tensor *tg_matmul(tg_tensor *a, tg_tensor *b) { return tg_matmul_t(a, b, false, false); }

void tg_ctx_set_product_sink(tg_ctx *ctx, const tg_product_sink *sink)
{
    if (ctx)
        ctx->product_sink = sink;
}

/* The context's product sink may take a weight's gradient off the tape
 * (ops/product_sink.h): B of a plain A·B or A·Bᵀ gets Aᵀ·dC or dCᵀ·A,
 * leftᵀ·right over the batch rows. Not in anomaly mode, whose checks name
 * the rule that made a bad gradient. */
static bool weight_grad_taken(const tg_node *n, tg_tensor *dc)
{
    tg_tensor *a = n->in[0], *b = n->in[1];
    const tg_ctx *ctx = b->ctx;
    const tg_product_sink *sink = ctx->product_sink;
    if (!sink || !sink->take_weight_grad || ctx->grad_enabled || ctx->anomaly || !b->wanted ||
        n->attr.matmul.trans_a || a->rank != 2 || b->rank != 2 || (b->extra && b->extra->hook))
        return false;
    bool tb = n->attr.matmul.trans_b;
    return sink->take_weight_grad(sink->user, b->wanted - 1, tb ? dc : a, tb ? a : dc);
}

void tg_weight_grad_stack(const tg_tensor *left, const tg_tensor *right, double weight, int64_t row,
                          void *stack_left, void *stack_right)
{
    int64_t n = left->shape[0], rows = left->shape[1], cols = right->shape[1];
    TG_TYPED(left->dtype, T, {
        T *l = (T *)stack_left + row * rows;
        const T *src = left->data, a = (T)weight;
        for (int64_t j = 0; j < n * rows; j++)
            l[j] = a * src[j];
        if ((T *)stack_right + row * cols != right->data) /* else right is a view of the stack already */
            memcpy((T *)stack_right + row * cols, right->data, (size_t)(n * cols) * sizeof(T));
    });
}

void tg_weight_grad_product(tg_pool *pool, int worker, tg_dtype dtype, int64_t rows, int64_t cols, int64_t batch,
                            double alpha, const void *left, const void *right, int64_t r0, int64_t r1, void *dst,
                            bool accumulate)
{
    if (r0 >= r1)
        return;
    if (dtype == TG_F32)
        tg_gemm_f32_worker(pool, worker, true, false, r1 - r0, cols, batch, (float)alpha, (const float *)left + r0,
                           rows, right, cols, accumulate ? 1.0f : 0.0f, (float *)dst + r0 * cols, cols);
    else
        tg_gemm_f64_worker(pool, worker, true, false, r1 - r0, cols, batch, alpha, (const double *)left + r0, rows,
                           right, cols, accumulate ? 1.0 : 0.0, (double *)dst + r0 * cols, cols);
}

void tg_weight_input_product(tg_pool *pool, int worker, tg_dtype dtype, int64_t batch, int64_t rows, int64_t cols,
                             const void *x, const void *w, int64_t r0, int64_t r1, void *out)
{
    if (r0 >= r1)
        return;
    if (dtype == TG_F32)
        tg_gemm_f32_worker(pool, worker, false, true, batch, r1 - r0, cols, 1, x, cols, (const float *)w + r0 * cols,
                           cols, 0, (float *)out + r0, rows);
    else
        tg_gemm_f64_worker(pool, worker, false, true, batch, r1 - r0, cols, 1, x, cols, (const double *)w + r0 * cols,
                           cols, 0, (double *)out + r0, rows);
}

/* C = A'B' with A' = op(A), B' = op(B): dA' = dC·B'ᵀ, dB' = A'ᵀ·dC; a
 * transposed operand takes the transpose of its gradient. */
static void matmul_backward(const tg_node *n, tg_tensor *dc, tg_tensor **dx)
{
    tg_tensor *a = n->in[0], *b = n->in[1];
    bool ta = n->attr.matmul.trans_a, tb = n->attr.matmul.trans_b;
    /* a matrix shared by a stack gets the sum of the stack's gradients */
    if (a->requires_grad)
        dx[0] = tg_sum_to(ta ? tg_matmul_t(b, dc, tb, true) : tg_matmul_t(dc, b, false, !tb), a->rank, a->shape);
    if (b->requires_grad && !weight_grad_taken(n, dc))
        dx[1] = tg_sum_to(tb ? tg_matmul_t(dc, a, true, ta) : tg_matmul_t(a, dc, !ta, false), b->rank, b->shape);
}

static void matmul_label(const tg_node *n, char *buf, size_t size)
{
    bool ta = n->attr.matmul.trans_a, tb = n->attr.matmul.trans_b;
    snprintf(buf, size, ta || tb ? "matmul(A%s·B%s)" : "matmul", ta ? "ᵀ" : "", tb ? "ᵀ" : "");
}

/* C = A'·B' (A' = op(A)): δ·B'ᵀ to A', A'ᵀ·δ to B'; a transposed operand
 * takes the transpose. Named X and W unless they have short names. */
static void matmul_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    const char *a = tg_vjp_name(n->in[0], "X"), *b = tg_vjp_name(n->in[1], "W");
    bool ta = n->attr.matmul.trans_a, tb = n->attr.matmul.trans_b;
    if (input == 0 && !ta)
        snprintf(buf, size, "·%s%s", b, tb ? "" : "ᵀ");      /* δ·Bᵀ, or δ·B for A·Bᵀ */
    else if (input == 0)
        snprintf(buf, size, "%s%s·δᵀ", b, tb ? "ᵀ" : "");    /* (δ·B'ᵀ)ᵀ */
    else if (!tb)
        snprintf(buf, size, "%s%s·", a, ta ? "" : "ᵀ");      /* Aᵀ·δ, or A·δ for Aᵀ·B */
    else
        snprintf(buf, size, "δᵀ·%s%s", a, ta ? "ᵀ" : "");    /* (A'ᵀ·δ)ᵀ */
}

const tg_op_desc tg_op_matmul = {.kind = TG_OP_MATMUL, .name = "matmul", .backward = matmul_backward, .label = matmul_label,
                                 .vjp_label = matmul_vjp_label};
