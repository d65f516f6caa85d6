/* Gradient checking: the tape against central finite differences, in float64. */
#include "autograd/internal.h"
#include "tapegrad/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    tg_fn f;
    void *user;
    int n;
    tg_tensor *const *inputs;
    tg_tensor *weights; /* r: contracts the output to a scalar */
} contraction;

/* Σ r ⊙ f(inputs), or NULL with the context's error set. */
static tg_tensor *contracted(const contraction *c)
{
    tg_tensor *out = c->f(c->inputs, c->user);
    if (!out)
        return NULL;
    if (out->dtype != TG_F64 || out->size != c->weights->size) {
        tg_ctx_fail(out->ctx, TG_ERR_ARG, "gradcheck: f returned a %s %s output; expected f64 %s on every call",
                tg_dtype_name((tg_dtype)out->dtype), tg_shape_of(out).s, tg_shape_of(c->weights).s);
        return NULL;
    }
    return tg_sum(tg_mul(out, tg_reshape(c->weights, out->rank, out->shape)));
}

static bool evaluate(tg_ctx *ctx, const contraction *c, double *value)
{
    tg_arena_mark mark = tg_arena_get_mark(ctx);
    bool was = tg_grad_set_enabled(ctx, false);
    tg_tensor *y = contracted(c);
    tg_grad_set_enabled(ctx, was);
    if (y)
        *value = tg_tensor_get(y, 0);
    tg_arena_rewind(ctx, mark);
    return y != NULL;
}

static void check_input(tg_ctx *ctx, const contraction *c, tg_tensor *x, const double *tape,
                        const tg_gradcheck_options *o, tg_gradcheck_input_report *r)
{
    *r = (tg_gradcheck_input_report){.worst_index = -1, .passed = true, .vacuous = true};
    double *v = x->data, worst_ratio = -1;
    for (int64_t i = 0; i < x->size; i++) {
        double saved = v[i], plus, minus;
        v[i] = saved + o->step;
        bool ok = evaluate(ctx, c, &plus);
        v[i] = saved - o->step;
        ok = ok && evaluate(ctx, c, &minus);
        v[i] = saved;
        if (!ok) {
            r->passed = r->vacuous = false;
            return;
        }
        double fd = (plus - minus) / (2 * o->step);
        double err = fabs(tape[i] - fd), tolerance = o->abs_tol + o->rel_tol * fabs(fd);
        double scale = fmax(fabs(tape[i]), fabs(fd));
        r->max_abs_error = fmax(r->max_abs_error, err);
        if (scale > o->abs_tol) /* relative error means nothing where the gradient is zero */
            r->max_rel_error = fmax(r->max_rel_error, err / scale);
        /* the element that decides the verdict; NaN counts as infinitely far */
        double ratio = tolerance > 0 ? err / tolerance : (err > 0 ? INFINITY : 0);
        if (isnan(ratio))
            ratio = INFINITY;
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            r->worst_index = i;
            r->worst_tape = tape[i];
            r->worst_fd = fd;
        }
        r->max_abs_grad = fmax(r->max_abs_grad, fabs(tape[i]));
        r->vacuous &= tape[i] == 0 && fd == 0;
        if (!(err <= tolerance))
            r->passed = false;
        r->checked++;
    }
    r->vacuous &= r->passed;
}

static tg_status run_check(tg_ctx *ctx, const contraction *c, const tg_gradcheck_options *o,
                           tg_gradcheck_report *report)
{
    /* per input: the tape's gradient (NULL where not required) and, for
     * tg_grad, the inputs that require one and their gradients */
    double **tape = calloc((size_t)c->n, sizeof *tape);
    tg_tensor **wrt = calloc((size_t)c->n, sizeof *wrt), **grads = calloc((size_t)c->n, sizeof *grads);
    report->inputs = calloc((size_t)c->n, sizeof *report->inputs);
    if (!tape || !wrt || !grads || !report->inputs) {
        free(tape), free(wrt), free(grads);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "gradcheck: out of memory for %d inputs", c->n);
    }
    report->n_inputs = c->n;
    tg_arena_mark mark = tg_arena_get_mark(ctx);
    int n_wrt = 0;
    for (int i = 0; i < c->n; i++)
        if (c->inputs[i]->requires_grad)
            wrt[n_wrt++] = c->inputs[i];
    bool was = tg_grad_set_enabled(ctx, true);
    tg_tensor *y = contracted(c);
    tg_grad_set_enabled(ctx, was);
    tg_status status = y ? TG_OK : ctx->status;
    /* An output no input reaches has zero gradient: check that too. */
    if (status == TG_OK && y->requires_grad && tg_grad(y, NULL, n_wrt, wrt, grads, false) != TG_OK)
        status = ctx->status;
    /* Copy the tape's gradients out before the evaluations reuse the memory. */
    for (int i = 0, k = 0; i < c->n && status == TG_OK; i++) {
        tg_tensor *x = c->inputs[i];
        if (!x->requires_grad)
            continue;
        if (!(tape[i] = calloc((size_t)x->size, sizeof(double))))
            status = tg_ctx_fail(ctx, TG_ERR_NOMEM, "gradcheck: out of memory");
        else if (grads[k])
            memcpy(tape[i], grads[k]->data, (size_t)x->size * sizeof(double));
        k++;
    }
    tg_arena_rewind(ctx, mark);
    report->passed = status == TG_OK;
    report->vacuous = report->passed;
    for (int i = 0; i < c->n && status == TG_OK; i++) {
        report->inputs[i] = (tg_gradcheck_input_report){.worst_index = -1, .passed = true};
        if (!c->inputs[i]->requires_grad)
            continue;
        check_input(ctx, c, c->inputs[i], tape[i], o, &report->inputs[i]);
        status = ctx->status;
        report->passed &= report->inputs[i].passed;
        report->vacuous &= report->inputs[i].vacuous;
    }
    report->vacuous &= report->passed;
    for (int i = 0; i < c->n; i++)
        free(tape[i]);
    free(tape), free(wrt), free(grads);
    return status;
}

static tg_status prepare(tg_ctx *ctx, const char *who, tg_fn f, void *user, int n, tg_tensor *const *inputs,
                         const tg_gradcheck_options *opts, tg_gradcheck_options *o, contraction *c)
{
    *o = (tg_gradcheck_options){0};
    if (!ctx)
        return TG_ERR_ARG;
    if (!f || n < 1 || !inputs)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: expected f, an inputs array and at least 1 input; got f %s, "
                           "inputs %s, %d inputs", who, f ? "given" : "NULL", inputs ? "given" : "NULL", n);
    for (int i = 0; i < n; i++) {
        if (!tg_check_live(who, inputs[i]))
            return ctx->status;
        if (inputs[i]->dtype != TG_F64)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: input %d is f32; finite differences need f64 inputs", who, i);
    }
    *o = opts ? *opts : (tg_gradcheck_options){0};
    if (o->step <= 0)
        o->step = 1e-6;
    if (o->abs_tol <= 0 && o->rel_tol <= 0)
        o->abs_tol = o->rel_tol = 1e-7;
    /* One plain run to learn the output's shape for the weights r. */
    tg_arena_mark mark = tg_arena_get_mark(ctx);
    bool was = tg_grad_set_enabled(ctx, false);
    tg_tensor *out = f(inputs, user);
    tg_grad_set_enabled(ctx, was);
    if (!out) {
        tg_arena_rewind(ctx, mark);
        return ctx->status ? ctx->status : tg_ctx_fail(ctx, TG_ERR_ARG, "%s: f returned NULL", who);
    }
    tg_rng rng = tg_rng_seed(o->seed ? o->seed : 0x7a9e);
    int64_t size = out->size;
    tg_arena_rewind(ctx, mark);
    tg_tensor *r = tg_tensor_rand(ctx, &rng, TG_F64, 1, &size, 0.5, 1.5);
    if (!r)
        return ctx->status;
    *c = (contraction){f, user, n, inputs, r};
    return TG_OK;
}

tg_status tg_gradcheck(tg_ctx *ctx, tg_fn f, void *user, int n_inputs, tg_tensor *const *inputs,
                       const tg_gradcheck_options *opts, tg_gradcheck_report *report)
{
    tg_gradcheck_options o;
    contraction c = {0};
    if (!report)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_gradcheck: NULL report");
    *report = (tg_gradcheck_report){0};
    tg_status status = prepare(ctx, "tg_gradcheck", f, user, n_inputs, inputs, opts, &o, &c);
    if (status == TG_OK)
        status = run_check(ctx, &c, &o, report);
    tg_tensor_free(c.weights);
    return status;
}

/* x ↦ Σₖ wₖ ⊙ ∂(Σ r⊙f)/∂xₖ with the gradient recorded (create_graph): its
 * own gradient is the Hessian of Σ r⊙f applied to w. */
typedef struct {
    contraction inner;
    tg_tensor **w;     /* [inner.n] */
    tg_tensor **wrt;   /* [inner.n] scratch: the inputs that require a gradient */
    tg_tensor **grads; /* [inner.n] scratch: their gradients */
} gradient_contraction;

static tg_tensor *recorded_gradient(tg_tensor *const *inputs, void *user)
{
    gradient_contraction *g = user;
    tg_ctx *ctx = inputs[0]->ctx;
    bool was = tg_grad_set_enabled(ctx, true);
    tg_tensor *y = contracted(&g->inner), *total = NULL;
    int n = 0;
    for (int i = 0; i < g->inner.n; i++)
        if (inputs[i]->requires_grad)
            g->wrt[n++] = inputs[i];
    if (y && y->requires_grad && tg_grad(y, NULL, n, g->wrt, g->grads, true) == TG_OK) {
        total = tg_tensor_temp(ctx, TG_F64, 0, NULL);
        for (int i = 0, k = 0; i < g->inner.n; i++)
            if (inputs[i]->requires_grad) {
                tg_tensor *w = tg_reshape(g->w[i], inputs[i]->rank, inputs[i]->shape);
                total = tg_add(total, tg_sum(tg_mul(g->grads[k++], w)));
            }
    } else if (y && !y->requires_grad) {
        total = tg_tensor_temp(ctx, TG_F64, 0, NULL); /* f does not depend on x */
    }
    tg_grad_set_enabled(ctx, was);
    return total;
}

tg_status tg_gradgradcheck(tg_ctx *ctx, tg_fn f, void *user, int n_inputs, tg_tensor *const *inputs,
                           const tg_gradcheck_options *opts, tg_gradcheck_report *report)
{
    tg_gradcheck_options o;
    gradient_contraction g = {0};
    if (!report)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_gradgradcheck: NULL report");
    *report = (tg_gradcheck_report){0};
    tg_status status = prepare(ctx, "tg_gradgradcheck", f, user, n_inputs, inputs, opts, &o, &g.inner);
    if (status == TG_OK) {
        g.w = calloc((size_t)n_inputs, sizeof *g.w);
        g.wrt = calloc((size_t)n_inputs, sizeof *g.wrt);
        g.grads = calloc((size_t)n_inputs, sizeof *g.grads);
        if (!g.w || !g.wrt || !g.grads)
            status = tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_gradgradcheck: out of memory for %d inputs", n_inputs);
    }
    tg_rng rng = tg_rng_seed(o.seed ^ 0x5eed);
    for (int i = 0; i < n_inputs && status == TG_OK; i++) {
        int64_t size = inputs[i]->size;
        if (!(g.w[i] = tg_tensor_rand(ctx, &rng, TG_F64, 1, &size, 0.5, 1.5)))
            status = ctx->status;
    }
    if (status == TG_OK)
        status = tg_gradcheck(ctx, recorded_gradient, &g, n_inputs, inputs, &o, report);
    tg_tensor_free(g.inner.weights);
    for (int i = 0; g.w && i < n_inputs; i++)
        tg_tensor_free(g.w[i]);
    free(g.w), free(g.wrt), free(g.grads);
    return status;
}

void tg_gradcheck_report_free(tg_gradcheck_report *report)
{
    if (!report)
        return;
    free(report->inputs);
    *report = (tg_gradcheck_report){0};
}

void tg_gradcheck_print(const tg_gradcheck_report *report, const char *title)
{
    if (!report)
        return;
    const char *verdict = !report->passed ? "FAILED"
                          : report->vacuous ? "vacuous (every gradient is zero: the check proves nothing)"
                                            : "passed";
    printf("gradcheck %s: %s\n", title ? title : "", verdict);
    for (int i = 0; i < report->n_inputs && report->inputs; i++) {
        const tg_gradcheck_input_report *r = &report->inputs[i];
        if (!r->checked)
            continue;
        printf("  input %d: %lld elements, max |grad| %.3g, worst abs error %.3g, worst rel error %.3g%s\n"
               "    closest to its tolerance: element %lld, tape %.10g, finite difference %.10g\n", i,
               (long long)r->checked, r->max_abs_grad, r->max_abs_error, r->max_rel_error,
               !r->passed ? "  FAILED" : r->vacuous ? "  vacuous" : "", (long long)r->worst_index, r->worst_tape,
               r->worst_fd);
    }
}
