/* Matrix product of 2-D tensors, with either operand read transposed in
 * place: backward needs dA = dC·Bᵀ and dB = Aᵀ·dC, and the GEMM packs the
 * transposes for free. */
#include "autograd/internal.h"
#include "ops/gemm.h"

#include <stdio.h>

tg_tensor *tg_matmul_t(tg_tensor *a, tg_tensor *b, bool trans_a, bool trans_b)
{
    if (!tg_check_pair("matmul", a, b))
        return NULL;
    if (a->rank != 2 || b->rank != 2)
        return tg_ctx_fail(a->ctx, TG_ERR_SHAPE, "matmul: inputs have shapes %s and %s; expected two matrices (rank 2)",
                       tg_shape_of(a).s, tg_shape_of(b).s), NULL;
    int64_t m = a->shape[trans_a], k = a->shape[!trans_a];
    int64_t kb = b->shape[trans_b], n = b->shape[!trans_b];
    if (k != kb)
        return tg_ctx_fail(a->ctx, TG_ERR_SHAPE, "matmul: %s%s · %s%s: inner dims %lld and %lld differ; expected "
                       "[m, k] · [k, n]", tg_shape_of(a).s, trans_a ? "ᵀ" : "", tg_shape_of(b).s, trans_b ? "ᵀ" : "",
                       (long long)k, (long long)kb), NULL;
    tg_tensor *c = tg_step_tensor(a->ctx, (tg_dtype)a->dtype, 2, (int64_t[]){m, n}, false);
    if (!c)
        return NULL;
    tg_pool *pool = a->ctx->pool;
    if (a->dtype == TG_F32)
        tg_gemm_f32(pool, trans_a, trans_b, m, n, k, 1, a->data, a->shape[1], b->data, b->shape[1], 0, c->data, n);
    else
        tg_gemm_f64(pool, trans_a, trans_b, m, n, k, 1, a->data, a->shape[1], b->data, b->shape[1], 0, c->data, n);
    tg_attr attr = {.matmul = {trans_a, trans_b}};
    return tg_record(TG_OP_MATMUL, c, 2, (tg_tensor *[]){a, b}, attr);
}

tg_tensor *tg_matmul(tg_tensor *a, tg_tensor *b) { return tg_matmul_t(a, b, false, false); }

/* C = A'B' with A' = op(A), B' = op(B): dA' = dC·B'ᵀ, dB' = A'ᵀ·dC; a
 * transposed operand takes the transpose of its gradient. */
static void matmul_backward(const tg_node *n, tg_tensor *dc, tg_tensor **dx)
{
    tg_tensor *a = n->in[0], *b = n->in[1];
    bool ta = n->attr.matmul.trans_a, tb = n->attr.matmul.trans_b;
    if (a->requires_grad)
        dx[0] = ta ? tg_matmul_t(b, dc, tb, true) : tg_matmul_t(dc, b, false, !tb);
    if (b->requires_grad)
        dx[1] = tb ? tg_matmul_t(dc, a, true, ta) : tg_matmul_t(a, dc, !ta, false);
}

static void matmul_label(const tg_node *n, char *buf, size_t size)
{
    bool ta = n->attr.matmul.trans_a, tb = n->attr.matmul.trans_b;
    snprintf(buf, size, ta || tb ? "matmul(A%s·B%s)" : "matmul", ta ? "ᵀ" : "", tb ? "ᵀ" : "");
}

const tg_op_desc tg_op_matmul = {"matmul", matmul_backward, matmul_label};
