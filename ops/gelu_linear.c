/* A dense layer fed through GELU, fused: the second half of a transformer's
 * MLP, without keeping its activations.
 *
 *   y = gelu(h)·Wᵀ + b        h [..., in], W [out, in], b [out] or NULL, y [..., out]
 *   gelu(h) = h·Φ(h)          Φ the standard normal CDF
 *
 * gelu(h) is made in step memory that is given back as soon as the GEMM has
 * read it, and backward makes it again from h (one vector pass) rather than
 * keep a tensor of the hidden size: a quarter of what a GPT block saves for
 * backward. With a = gelu(h), over the rows of h and g:
 *   dW = gᵀ·a,  db = Σ_rows g,  dh = (g·W) ⊙ gelu'(h)
 * made of ops (gelu, matmul, sum_axis, gelu_backward), so it differentiates
 * again. */
#include "autograd/internal.h"
#include "ops/gemm.h"
#include "ops/vecmath.h"

#include <stdio.h>
#include <string.h>
#include <tgmath.h>

static const char *const op_name = "gelu_linear";

typedef struct {
    const tg_tensor *h;
    void *a;
} gelu_job;

static void gelu_range(void *arg, int64_t begin, int64_t end)
{
    const gelu_job *job = arg;
    if (job->h->dtype == TG_F32) {
        tg_vgelu_f32((const float *)job->h->data + begin, (float *)job->a + begin, end - begin);
        return;
    }
    const double *h = (const double *)job->h->data;
    double *a = job->a;
    for (int64_t i = begin; i < end; i++) /* erfc keeps the left tail, where 1 + erf cancels */
        a[i] = 0.5 * h[i] * erfc(-h[i] * 0.70710678118654752440);
}

static bool check_inputs(tg_tensor *h, tg_tensor *w, tg_tensor *b)
{
    if (!tg_check_pair(op_name, h, w) || (b && !tg_check_pair(op_name, h, b)))
        return false;
    if (h->rank == 0 || w->rank != 2 || w->shape[1] != h->shape[h->rank - 1])
        return tg_ctx_fail(h->ctx, TG_ERR_SHAPE, "%s: h %s and W %s; expected W [out, in] with in = h's last axis%s",
                           op_name, tg_shape_of(h).s, tg_shape_of(w).s, h->rank ? "" : " (h is a scalar)"), false;
    if (b && (b->rank != 1 || b->shape[0] != w->shape[0]))
        return tg_ctx_fail(h->ctx, TG_ERR_SHAPE, "%s: W %s and b %s; expected b [%lld], W's out", op_name,
                           tg_shape_of(w).s, tg_shape_of(b).s, (long long)w->shape[0]), false;
    return true;
}

tg_tensor *tg_gelu_linear(tg_tensor *h, tg_tensor *w, tg_tensor *b)
{
    if (!check_inputs(h, w, b))
        return NULL;
    tg_ctx *ctx = h->ctx;
    int64_t in = w->shape[1], out = w->shape[0];
    int64_t shape[TG_MAX_RANK];
    memcpy(shape, h->shape, sizeof shape);
    shape[h->rank - 1] = out;
    tg_tensor *y = tg_step_tensor(ctx, (tg_dtype)h->dtype, h->rank, shape, !b && in == 0);
    if (!y)
        return NULL;
    int64_t rows = out ? y->size / out : 0;
    size_t es = tg_dtype_size((tg_dtype)h->dtype);
    for (int64_t r = 0; b && r < rows; r++) /* the GEMM adds to b's rows */
        memcpy((char *)y->data + (size_t)(r * out) * es, b->data, (size_t)out * es);
    if (rows > 0 && out > 0 && in > 0) {
        tg_arena_mark mark = tg_arena_get_mark(ctx); /* a lives until the GEMM has read it */
        gelu_job job = {.h = h, .a = tg_arena_alloc(ctx, (size_t)h->size * es, 64)};
        if (!job.a)
            return NULL;
        tg_parallel_range(ctx, h->size, gelu_range, &job);
        float beta = b ? 1 : 0;
        if (h->dtype == TG_F32)
            tg_gemm_f32(ctx->pool, false, true, rows, out, in, 1, job.a, in, w->data, in, beta, y->data, out);
        else
            tg_gemm_f64(ctx->pool, false, true, rows, out, in, 1, job.a, in, w->data, in, beta, y->data, out);
        tg_arena_rewind(ctx, mark);
    }
    tg_tensor *inputs[3] = {h, w, b};
    return tg_record(&tg_op_gelu_linear, y, b ? 3 : 2, inputs, (tg_attr){0});
}

/* ---- backward, with ops ---- */

/* x [..., n] as rows [x.size / n, n] (a view of a step tensor) */
static tg_tensor *rows_of(tg_tensor *x, int64_t n)
{
    return tg_reshape(x, TG_SHAPE(n ? x->size / n : 0, n));
}

static void gelu_linear_backward(const tg_node *node, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *h = node->in[0], *w = node->in[1], *b = node->n_in > 2 ? node->in[2] : NULL;
    int64_t in = w->shape[1], out = w->shape[0];
    tg_tensor *g2 = rows_of(g, out), *h2 = rows_of(h, in);
    if (w->requires_grad)
        dx[1] = tg_matmul_t(g2, tg_gelu(h2), true, false); /* [out, in] */
    if (b && b->requires_grad)
        dx[2] = tg_sum_axis(g2, 0, false);
    if (h->requires_grad)
        dx[0] = tg_reshape(tg_gelu_backward(tg_matmul(g2, w), h2), h->rank, h->shape);
}

/* ---- labels ---- */

static void gelu_linear_label(const tg_node *node, char *buf, size_t size)
{
    snprintf(buf, size, "gelu_linear(gelu(h)·Wᵀ%s)", node->n_in > 2 ? " + b" : "");
}

static void gelu_linear_vjp_label(const tg_node *node, int input, char *buf, size_t size)
{
    (void)node;
    static const char *const labels[] = {"(δ·W)⊙gelu′(h)", "δᵀ·gelu(h)", "Σ over rows"};
    snprintf(buf, size, "%s", input >= 0 && input < 3 ? labels[input] : "?");
}

const tg_op_desc tg_op_gelu_linear = {.kind = TG_OP_GELU_LINEAR, .name = "gelu_linear",
                                      .backward = gelu_linear_backward, .label = gelu_linear_label,
                                      .vjp_label = gelu_linear_vjp_label};
