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
#include "ops/linear.h"
#include "ops/norm.h"
#include "ops/vecmath.h"

#include <stdio.h>

typedef struct {
    double eps;
    bool has_gamma, has_beta;
} norm_linear_attr;

/* ---- the shared part ---- */

/* y = prologue(x)·Wᵀ + b: the prologue's value (made with grad mode off)
 * lives in step memory only until the GEMM has read it. */
static tg_tensor *linear_of(tg_tensor *x, tg_tensor *w, tg_tensor *b, tg_tensor *(*prologue)(tg_tensor *x, void *arg),
                            void *arg)
{
    tg_ctx *ctx = x->ctx;
    tg_tensor *y = tg_linear_output(x, w);
    if (!y)
        return NULL;
    tg_arena_mark mark = tg_arena_get_mark(ctx);
    bool grad_was = tg_grad_set_enabled(ctx, false);
    tg_tensor *a = prologue(x, arg);
    tg_grad_set_enabled(ctx, grad_was);
    if (!a)
        return NULL;
    tg_linear_gemm(y, a, w, b);
    tg_arena_rewind(ctx, mark);
    return y;
}

/* dW and db into dx[1], dx[2] from the prologue's value a made again, which
 * is then given back; returns da = g·W when want_da. */
static tg_tensor *linear_backward(const tg_node *node, tg_tensor *g, tg_tensor *a, tg_tensor *b, bool want_da,
                                  tg_tensor **dx)
{
    tg_tensor *da = tg_linear_vjp(g, a, node->in[1], b, want_da, &dx[1], &dx[2]);
    tg_recycle_drop(a); /* its memory serves the next temporaries */
    return da;
}

/* ---- gelu_linear ---- */

static tg_tensor *gelu_of(tg_tensor *h, void *arg)
{
    (void)arg;
    return tg_gelu(h);
}

tg_tensor *tg_gelu_linear(tg_tensor *h, tg_tensor *w, tg_tensor *b)
{
    if (!tg_linear_check("gelu_linear", h, w, b))
        return NULL;
    tg_tensor *y = linear_of(h, w, b, gelu_of, NULL);
    tg_tensor *inputs[3] = {h, w, b};
    return tg_record(&tg_op_gelu_linear, y, b ? 3 : 2, inputs, (tg_attr){0});
}

typedef struct {
    const float *h;
    float *a, *dh; /* dh over da */
} gelu_pair_job;

static void gelu_pair_range(void *arg, int64_t begin, int64_t end)
{
    const gelu_pair_job *job = arg;
    tg_vgelu_pair_f32(job->dh + begin, job->h + begin, job->a + begin, job->dh + begin, end - begin);
}

/* A plain backward in f32 takes da = g·W first, then gelu(h) and
 * dh = da ⊙ gelu'(h) from one evaluation of Φ (the same bits as the ops'
 * two passes), then dW from gelu(h). Under create_graph the rule is ops. */
static void gelu_linear_backward(const tg_node *node, tg_tensor *g, tg_tensor **dx)
{
    tg_tensor *h = node->in[0], *b = node->n_in > 2 ? node->in[2] : NULL;
    if (h->requires_grad && h->dtype == TG_F32 && !tg_grad_enabled(h->ctx)) {
        tg_tensor *dh = tg_linear_vjp(g, h, node->in[1], NULL, true, NULL, NULL);
        tg_tensor *a = dh ? tg_step_like(h, false) : NULL;
        if (!a)
            return;
        gelu_pair_job job = {.h = h->data, .a = a->data, .dh = dh->data};
        tg_parallel_range(h->ctx, h->size, gelu_pair_range, &job);
        linear_backward(node, g, a, b, false, dx);
        dx[0] = dh;
        return;
    }
    tg_tensor *da = linear_backward(node, g, tg_gelu(h), b, h->requires_grad, dx);
    if (da) {
        dx[0] = tg_gelu_backward(da, h);
        tg_recycle_drop(da);
    }
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

tg_tensor *tg_layer_norm_linear(tg_tensor *x, tg_tensor *gamma, tg_tensor *beta, double eps, tg_tensor *w,
                                tg_tensor *b)
{
    const char *op = "layer_norm_linear";
    if (!tg_linear_check(op, x, w, b) || !tg_norm_check(op, x, gamma, beta, eps))
        return NULL;
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
    bool want_da = x->requires_grad || (gamma && gamma->requires_grad) || (beta && beta->requires_grad);
    tg_tensor *da = linear_backward(node, g, tg_layer_norm(x, gamma, beta, a->eps), b, want_da, dx);
    if (da)
        tg_norm_vjp(da, x, gamma, beta, a->eps, true, &dx[0], &dx[at], &dx[at + a->has_gamma]);
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
