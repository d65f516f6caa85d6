/* Dense layers fused with what feeds them, keeping less for backward: a
 * transformer block's norms and its MLP's GELU.
 *
 *   gelu_linear:        y = gelu(h)·Wᵀ + b              gelu(h) = h·Φ(h)
 *   layer_norm_linear:  y = LN(x)·Wᵀ + b                LN(x) = x̂⊙γ + β, x̂ = (x - μ)·r
 *
 * with the input [..., in], W [out, in], b [out] or NULL, y [..., out], and
 * LN the layer norm of ops/norm.c (γ, β [in] or NULL). The value fed to the
 * product, a = gelu(h) or LN(x), is made in step memory after a mark and
 * given back (rewound) once the GEMM has read it; backward makes it again
 * from the input (one cheap pass) rather than keep a tensor per block. Over
 * the rows of the input and of g:
 *   dW = gᵀ·a,  db = Σ_rows g,  da = g·W, then
 *   gelu:  dh = da ⊙ gelu'(h)
 *   LN:    dx = N(da⊙γ, x),  dγ = Σ_rows da⊙x̂,  dβ = Σ_rows da   (N: layer_norm_backward)
 * made of ops, so both differentiate again. */
#include "autograd/internal.h"
#include "ops/binary.h"
#include "ops/gemm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    double eps;
    bool has_gamma, has_beta;
} norm_linear_attr;

/* ---- the shared linear part ---- */

/* W [out, in] with in = x's last axis, b [out] or NULL. */
static bool check_linear(const char *op, const char *input, tg_tensor *x, tg_tensor *w, tg_tensor *b)
{
    if (!tg_check_pair(op, x, w) || (b && !tg_check_pair(op, x, b)))
        return false;
    if (x->rank == 0 || w->rank != 2 || w->shape[1] != x->shape[x->rank - 1])
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: %s %s and W %s; expected W [out, in] with in = %s's last axis",
                           op, input, tg_shape_of(x).s, tg_shape_of(w).s, input), false;
    if (b && (b->rank != 1 || b->shape[0] != w->shape[0]))
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: W %s and b %s; expected b [%lld], W's out", op,
                           tg_shape_of(w).s, tg_shape_of(b).s, (long long)w->shape[0]), false;
    return true;
}

/* y = prologue(x)·Wᵀ + b: the prologue's value (made with grad mode off)
 * lives in step memory only until the GEMM has read it. */
static tg_tensor *linear_of(tg_tensor *x, tg_tensor *w, tg_tensor *b, tg_tensor *(*prologue)(tg_tensor *x, void *arg),
                            void *arg)
{
    tg_ctx *ctx = x->ctx;
    int64_t in = w->shape[1], out = w->shape[0];
    int64_t shape[TG_MAX_RANK];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->rank - 1] = out;
    tg_tensor *y = tg_step_tensor(ctx, (tg_dtype)x->dtype, x->rank, shape, !b && in == 0);
    if (!y)
        return NULL;
    int64_t rows = out ? y->size / out : 0;
    size_t es = tg_dtype_size((tg_dtype)x->dtype);
    if (b && in == 0) /* no product: b's rows */
        for (int64_t r = 0; r < rows; r++)
            memcpy((char *)y->data + (size_t)(r * out) * es, b->data, (size_t)out * es);
    if (rows == 0 || out == 0 || in == 0)
        return y;
    tg_arena_mark mark = tg_arena_get_mark(ctx);
    bool grad_was = tg_grad_set_enabled(ctx, false);
    tg_tensor *a = prologue(x, arg);
    tg_grad_set_enabled(ctx, grad_was);
    if (!a)
        return NULL;
    /* the GEMM adds b to each tile as it stores it (ops/gemm.h): prefilled rows
     * would be read back from memory by the kernels */
    const void *bias = b ? b->data : NULL;
    if (x->dtype == TG_F32)
        tg_gemm_bias_f32(ctx->pool, rows, out, in, a->data, in, w->data, in, bias, y->data, out);
    else
        tg_gemm_bias_f64(ctx->pool, rows, out, in, a->data, in, w->data, in, bias, y->data, out);
    tg_arena_rewind(ctx, mark);
    return y;
}

/* x [..., n] as rows [x.size / n, n] */
static tg_tensor *rows_of(tg_tensor *x, int64_t n)
{
    return tg_reshape(x, TG_SHAPE(n ? x->size / n : 0, n));
}

/* dW and db (b may be NULL) into dx[w_at], dx[w_at + 1], from g and the
 * prologue's value a; returns da = g·W, shaped as the input x. */
static tg_tensor *linear_backward(const tg_node *node, tg_tensor *g, tg_tensor *a, tg_tensor *b, tg_tensor **dx)
{
    enum { w_at = 1 };
    tg_tensor *x = node->in[0], *w = node->in[w_at];
    int64_t in = w->shape[1], out = w->shape[0];
    tg_tensor *g2 = rows_of(g, out);
    if (w->requires_grad)
        dx[w_at] = tg_matmul_t(g2, rows_of(a, in), true, false); /* [out, in] */
    tg_recycle_drop(a); /* its memory serves da */
    if (b && b->requires_grad)
        dx[w_at + 1] = tg_sum_axis(g2, 0, false);
    return tg_reshape(tg_matmul(g2, w), x->rank, x->shape);
}

/* ---- gelu_linear ---- */

static tg_tensor *gelu_of(tg_tensor *h, void *arg)
{
    (void)arg;
    return tg_gelu(h);
}

tg_tensor *tg_gelu_linear(tg_tensor *h, tg_tensor *w, tg_tensor *b)
{
    if (!check_linear("gelu_linear", "h", h, w, b))
        return NULL;
    tg_tensor *y = linear_of(h, w, b, gelu_of, NULL);
    tg_tensor *inputs[3] = {h, w, b};
    return tg_record(&tg_op_gelu_linear, y, b ? 3 : 2, inputs, (tg_attr){0});
}

static void gelu_linear_backward(const tg_node *node, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *h = node->in[0], *b = node->n_in > 2 ? node->in[2] : NULL;
    tg_tensor *da = linear_backward(node, g, tg_gelu(h), b, dx);
    if (h->requires_grad)
        dx[0] = tg_gelu_backward(da, h);
    tg_recycle_drop(da);
}

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

/* ---- layer_norm_linear ---- */

typedef struct {
    tg_tensor *gamma, *beta;
    double eps;
} norm_args;

static tg_tensor *norm_of(tg_tensor *x, void *arg)
{
    const norm_args *n = arg;
    return tg_layer_norm(x, n->gamma, n->beta, n->eps);
}

/* gamma or beta (role): NULL, or [C] with C = x's last axis */
static bool check_affine(const char *op, const char *role, tg_tensor *x, tg_tensor *p)
{
    if (!p)
        return true;
    if (!tg_check_pair(op, x, p))
        return false;
    if (p->rank != 1 || p->shape[0] != x->shape[x->rank - 1])
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: x %s with %s %s; expected %s [%lld], the size of x's last axis",
                           op, tg_shape_of(x).s, role, tg_shape_of(p).s, role, (long long)x->shape[x->rank - 1]), false;
    return true;
}

tg_tensor *tg_layer_norm_linear(tg_tensor *x, tg_tensor *gamma, tg_tensor *beta, double eps, tg_tensor *w,
                                tg_tensor *b)
{
    const char *op = "layer_norm_linear";
    if (!check_linear(op, "x", x, w, b))
        return NULL;
    if (!check_affine(op, "gamma", x, gamma) || !check_affine(op, "beta", x, beta))
        return NULL;
    if (!(eps >= 0 && isfinite(eps)))
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "%s: eps is %g; expected a finite number >= 0", op, eps), NULL;
    norm_args args = {gamma, beta, eps};
    tg_tensor *y = linear_of(x, w, b, norm_of, &args);
    if (!y)
        return NULL;
    tg_tensor *inputs[5] = {x, w}; /* x, W, b, γ, β: the linear part's inputs first, as gelu_linear's */
    int n = 2;
    if (b)
        inputs[n++] = b;
    if (gamma)
        inputs[n++] = gamma;
    if (beta)
        inputs[n++] = beta;
    if (!tg_record_needed(y, n, inputs))
        return y;
    norm_linear_attr attr = {.eps = eps, .has_gamma = gamma != NULL, .has_beta = beta != NULL};
    const void *stored = tg_attr_store(x->ctx, &attr, sizeof attr);
    return stored ? tg_record(&tg_op_layer_norm_linear, y, n, inputs, (tg_attr){.data = stored}) : NULL;
}

static void layer_norm_linear_backward(const tg_node *node, tg_tensor *g, tg_tensor **dx)
{
    const norm_linear_attr *a = node->attr.data;
    int at = 2 + (node->n_in > 2 + a->has_gamma + a->has_beta); /* past x, W and b */
    tg_tensor *x = node->in[0], *b = at == 3 ? node->in[2] : NULL, *gamma = a->has_gamma ? node->in[at] : NULL;
    tg_tensor *beta = a->has_beta ? node->in[at + a->has_gamma] : NULL;
    tg_tensor *da = linear_backward(node, g, tg_layer_norm(x, gamma, beta, a->eps), b, dx);
    if (x->requires_grad)
        dx[0] = tg_layer_norm_backward(gamma ? tg_mul(da, gamma) : da, x, a->eps);
    if (gamma && gamma->requires_grad)
        dx[at] = tg_reduce_to(tg_mul(da, tg_layer_norm(x, NULL, NULL, a->eps)), gamma);
    if (beta && beta->requires_grad)
        dx[at + a->has_gamma] = tg_reduce_to(da, beta);
}

static void layer_norm_linear_label(const tg_node *node, char *buf, size_t size)
{
    const norm_linear_attr *a = node->attr.data;
    bool bias = node->n_in > 2 + a->has_gamma + a->has_beta;
    snprintf(buf, size, "layer_norm_linear(LN(x)·Wᵀ%s, eps %g)", bias ? " + b" : "", a->eps);
}

static void layer_norm_linear_vjp_label(const tg_node *node, int input, char *buf, size_t size)
{
    const norm_linear_attr *a = node->attr.data;
    int at = 2 + (node->n_in > 2 + a->has_gamma + a->has_beta);
    const char *label = input == 0 ? "N((δ·W)⊙γ, x)" : input == 1 ? "δᵀ·LN(x)" : input < at ? "Σ over rows"
                        : input == at && a->has_gamma ? "Σ (δ·W)⊙x̂" : "Σ δ·W";
    snprintf(buf, size, "%s", label);
}

const tg_op_desc tg_op_layer_norm_linear = {.kind = TG_OP_LAYER_NORM_LINEAR, .name = "layer_norm_linear",
                                            .backward = layer_norm_linear_backward,
                                            .label = layer_norm_linear_label,
                                            .vjp_label = layer_norm_linear_vjp_label};
