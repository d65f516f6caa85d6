/* Your own op (docs/tutorial.md, "Your own op"): two ops defined outside
 * the library with tapegrad/op.h, and every tool applied to them.
 *  - softplus, y = log(1 + eˣ), with a backward made of ops: it
 *    differentiates twice;
 *  - clip(x, low, high) with its range saved on the tape and a raw C
 *    backward: first order only, and a second derivative is refused.
 * Writes user_op.dot; exits non-zero if a check fails. */
#include <math.h>
#include <stdio.h>
#include "tapegrad.h"

/* ---- softplus: y = log(1 + eˣ), stable for large |x|; dy/dx = σ(x) ---- */

static tg_status softplus_forward(const tg_op_call *call)
{
    int64_t n = tg_tensor_size(call->output);
    if (tg_tensor_dtype(call->output) == TG_F32) {
        const float *x = tg_tensor_data_const(call->inputs[0]);
        float *y = tg_tensor_data(call->output);
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0 ? x[i] + log1pf(expf(-x[i])) : log1pf(expf(x[i]));
    } else {
        const double *x = tg_tensor_data_const(call->inputs[0]);
        double *y = tg_tensor_data(call->output);
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] > 0 ? x[i] + log1p(exp(-x[i])) : log1p(exp(x[i]));
    }
    return TG_OK;
}

/* With ops: under create_graph these are recorded, so d²y/dx² = σ(x)(1 − σ(x)) comes free. */
static tg_status softplus_backward(const tg_op_call *call, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_mul(dy, tg_sigmoid(call->inputs[0]));
    return TG_OK;
}

static const tg_op_def softplus_def = {
    .name = "my_softplus",
    .n_inputs = 1,
    .forward = softplus_forward,     /* no .shape: the output has the input's shape */
    .backward = softplus_backward,
};

/* ---- clip: y = min(max(x, low), high); dy/dx = 1 inside (low, high), else 0 ---- */

typedef struct {
    double low, high;
} clip_range;

static tg_status clip_forward(const tg_op_call *call)
{
    const clip_range *r = call->attr;
    if (!(r->low <= r->high))
        return tg_ctx_fail(tg_tensor_ctx(call->output), TG_ERR_ARG, "clip: low %g is above high %g", r->low, r->high);
    for (int64_t i = 0; i < tg_tensor_size(call->output); i++) { /* get/set: any dtype */
        double v = tg_tensor_get(call->inputs[0], i);
        tg_tensor_set(call->output, i, v < r->low ? r->low : v > r->high ? r->high : v);
    }
    return TG_OK;
}

/* A C kernel: dx[0] is a zeroed buffer of x's shape. */
static tg_status clip_backward_raw(const tg_op_call *call, const tg_tensor *dy, tg_tensor *const *dx)
{
    const clip_range *r = call->attr;
    for (int64_t i = 0; i < tg_tensor_size(dy); i++) {
        double v = tg_tensor_get(call->inputs[0], i);
        if (v > r->low && v < r->high)
            tg_tensor_set(dx[0], i, tg_tensor_get(dy, i));
    }
    return TG_OK;
}

static void clip_label(const tg_op_call *call, char *buf, size_t size)
{
    const clip_range *r = call->attr;
    snprintf(buf, size, "%g..%g", r->low, r->high); /* drawn as "clip(0..6)" */
}

static const tg_op_def clip_def = {
    .name = "clip",
    .n_inputs = 1,
    .forward = clip_forward,
    .backward_raw = clip_backward_raw,
    .attr_size = sizeof(clip_range),   /* copied onto the tape at every call */
    .label = clip_label,
};

/* gradcheck's function of the inputs: the op applied to them */
static tg_tensor *softplus_of(tg_tensor *const *inputs, void *op) { return tg_op_apply(op, 1, inputs, NULL); }
static tg_tensor *clip_of(tg_tensor *const *inputs, void *op)
{
    return tg_op_apply(op, 1, inputs, &(clip_range){0, 6});
}

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    const tg_op *softplus = tg_op_register(ctx, &softplus_def); /* once per context */
    const tg_op *clip = tg_op_register(ctx, &clip_def);
    if (!softplus || !clip)
        return 1;

    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4), (double[]){-2, 0.5, 3, 7});
    tg_tensor_set_name(x, "x");
    tg_tensor_set_requires_grad(x, true);

    /* loss = Σ softplus(clip(x, 0, 6)): user ops chain with built-ins like any op */
    tg_tensor *clipped = tg_op_apply(clip, 1, &x, &(clip_range){0, 6});
    tg_tensor *loss = tg_sum(tg_op_apply(softplus, 1, &clipped, NULL));
    if (tg_backward(loss) != TG_OK)
        return 1;
    printf("loss = %.6f\ndloss/dx =", tg_tensor_item(loss));
    for (int i = 0; i < 4; i++)
        printf(" %.6f", tg_tensor_get(tg_tensor_grad(x), i)); /* σ(clip(x))·1(0 < x < 6) */
    printf("\n");
    tg_dot_save("user_op.dot", 1, &loss, &(tg_dot_options){.grads_of = loss, .title = "softplus(clip(x))"});
    tg_tape_reset(ctx);

    /* Both ops pass the first-order check; softplus the second-order one too. */
    tg_gradcheck_report report;
    int failures = 0;
    tg_gradcheck(ctx, softplus_of, (void *)softplus, 1, &x, NULL, &report);
    tg_gradcheck_print(&report, "softplus");
    failures += !report.passed;
    tg_gradcheck_report_free(&report);
    tg_gradgradcheck(ctx, softplus_of, (void *)softplus, 1, &x, NULL, &report);
    tg_gradcheck_print(&report, "softplus, second order");
    failures += !report.passed;
    tg_gradcheck_report_free(&report);
    tg_gradcheck(ctx, clip_of, (void *)clip, 1, &x, NULL, &report);
    tg_gradcheck_print(&report, "clip");
    failures += !report.passed;
    tg_gradcheck_report_free(&report);

    /* clip's raw backward is first order only: differentiating its gradient
     * again is a clear error, never a silently wrong number. */
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    tg_tensor *g = NULL;
    tg_tensor *y = tg_sum(tg_mul(tg_op_apply(clip, 1, &x, &(clip_range){0, 6}), x));
    tg_grad(y, NULL, 1, &x, &g, true);     /* the first derivative, recorded: fine */
    tg_status status = tg_backward(tg_sum(g)); /* its derivative: refused */
    printf("second derivative through clip: %s: %s\n", tg_status_name(status), tg_ctx_error(ctx));
    failures += status != TG_ERR_GRAD;
    tg_ctx_clear_error(ctx);

    tg_ctx_free(ctx);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
