/* Ops defined outside the library with tapegrad/op.h: their forward and
 * backward, second derivatives (ops backward) and the clean refusal of them
 * (raw backward), attributes, labels, every tool (tape, gradcheck, anomaly
 * mode, diagrams), contexts in two threads, and every bad definition or
 * call. Only public headers are used: this is what a user can write. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "tapegrad.h"
#include "tests/support.h"

static tg_tensor *param(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape, const double *values)
{
    tg_tensor *t = tg_tensor_from(ctx, dtype, rank, shape, values);
    tg_tensor_set_requires_grad(t, true);
    return t;
}

/* ---- clipped ReLU, raw backward: y = min(max(x, 0), 6); dy/dx = 1 on (0, 6) ---- */

static tg_status clipped_relu_forward(const tg_op_call *c)
{
    const tg_tensor *x = c->inputs[0];
    for (int64_t i = 0; i < tg_tensor_size(x); i++) {
        double v = tg_tensor_get(x, i);
        tg_tensor_set(c->output, i, v < 0 ? 0 : v > 6 ? 6 : v);
    }
    return TG_OK;
}

static tg_status clipped_relu_backward_raw(const tg_op_call *c, const tg_tensor *dy, tg_tensor *const *dx)
{
    const tg_tensor *x = c->inputs[0];
    for (int64_t i = 0; i < tg_tensor_size(x); i++) {
        double v = tg_tensor_get(x, i);
        tg_tensor_set(dx[0], i, v > 0 && v < 6 ? tg_tensor_get(dy, i) : 0);
    }
    return TG_OK;
}

static void clipped_relu_label(const tg_op_call *c, char *buf, size_t size)
{
    (void)c;
    snprintf(buf, size, "min(max(x, 0), 6)");
}

static const tg_op_def clipped_relu_def = {
    .name = "clipped_relu",
    .n_inputs = 1,
    .forward = clipped_relu_forward,
    .backward_raw = clipped_relu_backward_raw,
    .label = clipped_relu_label,
};

/* ---- softplus, ops backward: y = log(1 + eˣ); dy/dx = σ(x), again differentiable ---- */

static tg_status softplus_forward(const tg_op_call *c)
{
    const tg_tensor *x = c->inputs[0];
    for (int64_t i = 0; i < tg_tensor_size(x); i++) {
        double v = tg_tensor_get(x, i); /* stable: x + log(1 + e⁻ˣ) for x > 0 */
        tg_tensor_set(c->output, i, v > 0 ? v + log1p(exp(-v)) : log1p(exp(v)));
    }
    return TG_OK;
}

static tg_status softplus_backward(const tg_op_call *c, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_mul(dy, tg_sigmoid(c->inputs[0]));
    return TG_OK;
}

static const tg_op_def softplus_def = {
    .name = "user_softplus",
    .n_inputs = 1,
    .forward = softplus_forward,
    .backward = softplus_backward,
};

/* ---- a·x + b·y with a and b saved on the tape ---- */

typedef struct {
    double a, b;
} axpby_attr;

static tg_status axpby_forward(const tg_op_call *c)
{
    const axpby_attr *k = c->attr;
    for (int64_t i = 0; i < tg_tensor_size(c->output); i++)
        tg_tensor_set(c->output, i, k->a * tg_tensor_get(c->inputs[0], i) + k->b * tg_tensor_get(c->inputs[1], i));
    return TG_OK;
}

static tg_status axpby_backward(const tg_op_call *c, tg_tensor *dy, tg_tensor **dx)
{
    const axpby_attr *k = c->attr;
    if (tg_tensor_requires_grad(c->inputs[0]))
        dx[0] = tg_mul_scalar(dy, k->a);
    if (tg_tensor_requires_grad(c->inputs[1]))
        dx[1] = tg_mul_scalar(dy, k->b);
    return TG_OK;
}

static int axpby_shape(const tg_op_call *c, int64_t shape[TG_MAX_RANK])
{
    const tg_tensor *x = c->inputs[0], *y = c->inputs[1];
    if (tg_tensor_rank(x) != tg_tensor_rank(y) ||
        memcmp(tg_tensor_shape(x), tg_tensor_shape(y), sizeof(int64_t) * (size_t)tg_tensor_rank(x)))
        return -1;
    memcpy(shape, tg_tensor_shape(x), sizeof(int64_t) * (size_t)tg_tensor_rank(x));
    return tg_tensor_rank(x);
}

static void axpby_label(const tg_op_call *c, char *buf, size_t size)
{
    const axpby_attr *k = c->attr;
    snprintf(buf, size, "%g·x + %g·y", k->a, k->b);
}

static const tg_op_def axpby_def = {
    .name = "axpby",
    .n_inputs = 2,
    .shape = axpby_shape,
    .forward = axpby_forward,
    .backward = axpby_backward,
    .attr_size = sizeof(axpby_attr),
    .label = axpby_label,
};

/* ---- Σᵢ (i+1)·xᵢ over any number of inputs (more than the built-ins take) ---- */

static tg_status weighted_sum_forward(const tg_op_call *c)
{
    for (int k = 0; k < c->n_inputs; k++)
        for (int64_t i = 0; i < tg_tensor_size(c->output); i++)
            tg_tensor_set(c->output, i, tg_tensor_get(c->output, i) + (k + 1) * tg_tensor_get(c->inputs[k], i));
    return TG_OK; /* the output starts zeroed */
}

static tg_status weighted_sum_backward(const tg_op_call *c, tg_tensor *dy, tg_tensor **dx)
{
    for (int k = 0; k < c->n_inputs; k++)
        if (tg_tensor_requires_grad(c->inputs[k]))
            dx[k] = tg_mul_scalar(dy, k + 1);
    return TG_OK;
}

static const tg_op_def weighted_sum_def = {
    .name = "weighted_sum",
    .forward = weighted_sum_forward,
    .backward = weighted_sum_backward,
};

/* ---- rows summed, [n, m] -> [n]: a shape function that changes the rank ---- */

static int row_sum_shape(const tg_op_call *c, int64_t shape[TG_MAX_RANK])
{
    if (tg_tensor_rank(c->inputs[0]) != 2)
        return -1;
    shape[0] = tg_tensor_dim(c->inputs[0], 0);
    return 1;
}

static tg_status row_sum_forward(const tg_op_call *c)
{
    int64_t n = tg_tensor_dim(c->inputs[0], 0), m = tg_tensor_dim(c->inputs[0], 1);
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < m; j++)
            tg_tensor_set(c->output, r, tg_tensor_get(c->output, r) + tg_tensor_get(c->inputs[0], r * m + j));
    return TG_OK;
}

/* dx[r, j] = dy[r]: dy as a column, broadcast across the row */
static tg_status row_sum_backward(const tg_op_call *c, tg_tensor *dy, tg_tensor **dx)
{
    const tg_tensor *x = c->inputs[0];
    tg_tensor *column = tg_reshape(dy, TG_SHAPE(tg_tensor_dim(x, 0), 1));
    dx[0] = tg_expand(column, tg_tensor_rank(x), tg_tensor_shape(x));
    return TG_OK;
}

static const tg_op_def row_sum_def = {
    .name = "row_sum", .n_inputs = 1, .shape = row_sum_shape, .forward = row_sum_forward,
    .backward = row_sum_backward,
};

/* gradcheck's f: the op applied to all inputs */
typedef struct {
    const tg_op *op;
    const void *attr;
    int n_inputs; /* 0: 1 */
} apply_args;

static tg_tensor *apply_op(tg_tensor *const *inputs, void *user)
{
    const apply_args *a = user;
    return tg_op_apply(a->op, a->n_inputs ? a->n_inputs : 1, inputs, a->attr);
}

static void expect_nonzero_gradients(const tg_gradcheck_report *r, int n)
{
    for (int i = 0; i < n; i++)
        cr_expect_gt(r->inputs[i].max_abs_grad, 0, "input %d: the checked gradient is all zero", i);
}

/* First- and second-order checks of the op in args at the n inputs in, both
 * passed, with no all-zero gradient among the first-order ones. */
static void expect_both_checks_pass(tg_ctx *ctx, apply_args *args, int n, tg_tensor **in, tg_gradcheck_report *first,
                                    tg_gradcheck_report *second)
{
    cr_assert_eq(tg_gradcheck(ctx, apply_op, args, n, in, NULL, first), TG_OK, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_gradgradcheck(ctx, apply_op, args, n, in, NULL, second), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect(first->passed);
    cr_expect(second->passed);
    expect_nonzero_gradients(first, n);
}

/* ---- forward and first order ---- */

Test(user_ops, clipped_relu_computes_min_max_in_f32_and_f64)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *op = tg_op_register(ctx, &clipped_relu_def);
    cr_assert_not_null(op, "%s", tg_ctx_error(ctx));
    double values[] = {-2, 0.5, 3, 6.5};
    for (int d = 0; d < 2; d++) {
        tg_dtype dtype = d ? TG_F64 : TG_F32;
        tg_tensor *x = tg_tensor_from(ctx, dtype, TG_SHAPE(2, 2), values);
        tg_tensor *y = tg_op_apply(op, 1, &x, NULL);
        cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
        cr_expect_eq(tg_tensor_dtype(y), dtype);
        cr_expect_eq(tg_tensor_rank(y), 2);
        double expected[] = {0, 0.5, 3, 6};
        for (int i = 0; i < 4; i++)
            cr_expect_eq(tg_tensor_get(y, i), expected[i], "%s element %d", tg_dtype_name(dtype), i);
    }
    cr_expect_eq(tg_ctx_status(ctx), TG_OK);
    tg_ctx_free(ctx);
}

Test(user_ops, raw_backward_gives_the_first_derivative_and_passes_gradcheck)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *op = tg_op_register(ctx, &clipped_relu_def);
    /* away from the kinks at 0 and 6, where the derivative jumps */
    tg_tensor *x = param(ctx, TG_F64, TG_SHAPE(2, 3), (double[]){-1.3, 0.4, 2.5, 5.2, 7.1, 3.3});
    tg_tensor *y = tg_op_apply(op, 1, &x, NULL);
    cr_assert_eq(tg_backward(tg_sum(tg_mul(y, y))), TG_OK, "%s", tg_ctx_error(ctx));
    double expected[] = {0, 0.8, 5, 10.4, 0, 6.6}; /* 2y·1(0 < x < 6) */
    for (int i = 0; i < 6; i++)
        cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(x), i), expected[i], 1e-12, "element %d", i);
    tg_tape_reset(ctx);

    tg_gradcheck_report report;
    apply_args args = {op, NULL, 1};
    cr_assert_eq(tg_gradcheck(ctx, apply_op, &args, 1, &x, NULL, &report), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect(report.passed);
    expect_nonzero_gradients(&report, 1);
    tg_gradcheck_report_free(&report);
    tg_ctx_free(ctx);
}

Test(user_ops, raw_backward_refuses_a_second_derivative_naming_the_op)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *op = tg_op_register(ctx, &clipped_relu_def);
    tg_tensor *x = param(ctx, TG_F64, TG_SHAPE(3), (double[]){-1, 2, 4});
    tg_tensor *y = tg_sum(tg_mul(tg_op_apply(op, 1, &x, NULL), x));
    tg_tensor *g = NULL;
    /* the first derivative under create_graph is fine, and right */
    cr_assert_eq(tg_grad(y, NULL, 1, &x, &g, true), TG_OK, "%s", tg_ctx_error(ctx));
    double expected[] = {0, 4, 8}; /* d(x·clip(x))/dx = clip(x) + x·1(0 < x < 6) */
    for (int i = 0; i < 3; i++)
        cr_expect_float_eq(tg_tensor_get(g, i), expected[i], 1e-12);
    /* differentiating it again goes through the raw kernel: an error, not a zero */
    cr_expect_eq(tg_backward(tg_sum(g)), TG_ERR_GRAD);
    expect_error(ctx, TG_ERR_GRAD, FRAGMENTS("clipped_relu: its backward is a raw C kernel"));
    tg_tape_reset(ctx);

    tg_gradcheck_report report;
    apply_args args = {op, NULL, 1};
    cr_expect_eq(tg_gradgradcheck(ctx, apply_op, &args, 1, &x, NULL, &report), TG_ERR_GRAD);
    expect_error(ctx, TG_ERR_GRAD, FRAGMENTS("clipped_relu"));
    cr_expect_not(report.passed);
    tg_gradcheck_report_free(&report);

    /* the context carries on */
    tg_tensor *z = tg_op_apply(op, 1, &x, NULL);
    cr_expect_eq(tg_backward(tg_sum(z)), TG_OK, "%s", tg_ctx_error(ctx));
    tg_ctx_free(ctx);
}

/* ---- second order ---- */

Test(user_ops, softplus_with_an_ops_backward_passes_gradcheck_and_gradgradcheck)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *op = tg_op_register(ctx, &softplus_def);
    tg_tensor *x = param(ctx, TG_F64, TG_SHAPE(2, 3), (double[]){-3, -0.5, 0, 0.7, 2, 4});
    tg_tensor *y = tg_op_apply(op, 1, &x, NULL);
    for (int i = 0; i < 6; i++) {
        double v = tg_tensor_get(x, i);
        cr_expect_float_eq(tg_tensor_get(y, i), log(1 + exp(v)), 1e-14);
    }
    tg_tape_reset(ctx);

    apply_args args = {op, NULL, 1};
    tg_gradcheck_report first, second;
    expect_both_checks_pass(ctx, &args, 1, &x, &first, &second);
    expect_nonzero_gradients(&second, 1);
    tg_gradcheck_report_free(&first);
    tg_gradcheck_report_free(&second);

    /* d²/dx² softplus = σ(x)(1 − σ(x)), through tg_grad by hand */
    tg_tensor *g = NULL, *h = NULL;
    tg_tensor *out = tg_sum(tg_op_apply(op, 1, &x, NULL));
    cr_assert_eq(tg_grad(out, NULL, 1, &x, &g, true), TG_OK);
    cr_assert_eq(tg_grad(tg_sum(g), NULL, 1, &x, &h, false), TG_OK, "%s", tg_ctx_error(ctx));
    for (int i = 0; i < 6; i++) {
        double s = 1 / (1 + exp(-tg_tensor_get(x, i)));
        cr_expect_float_eq(tg_tensor_get(h, i), s * (1 - s), 1e-14);
    }
    tg_ctx_free(ctx);
}

Test(user_ops, softplus_is_finite_at_plus_and_minus_1000)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *op = tg_op_register(ctx, &softplus_def);
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){-1000, 1000});
    tg_tensor *y = tg_op_apply(op, 1, &x, NULL);
    cr_expect_eq(tg_tensor_get(y, 0), 0);
    cr_expect_eq(tg_tensor_get(y, 1), 1000);
    tg_ctx_free(ctx);
}

Test(user_ops, two_inputs_with_saved_attributes_pass_both_checks)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *op = tg_op_register(ctx, &axpby_def);
    tg_tensor *in[2] = {param(ctx, TG_F64, TG_SHAPE(2, 2), (double[]){1, 2, 3, 4}),
                        param(ctx, TG_F64, TG_SHAPE(2, 2), (double[]){-1, 0.5, 2, 0})};
    axpby_attr k = {2, -3};
    apply_args args = {op, &k, 2};
    tg_gradcheck_report first, second;
    expect_both_checks_pass(ctx, &args, 2, in, &first, &second);
    tg_gradcheck_report_free(&first);
    tg_gradcheck_report_free(&second);
    tg_ctx_free(ctx);
}

Test(user_ops, attributes_are_copied_at_the_call_so_backward_sees_the_values_of_then)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *op = tg_op_register(ctx, &axpby_def);
    tg_tensor *x = param(ctx, TG_F64, TG_SHAPE(2), (double[]){1, 2});
    tg_tensor *y = param(ctx, TG_F64, TG_SHAPE(2), (double[]){3, 4});
    axpby_attr k = {2, 5};
    tg_tensor *z = tg_op_apply(op, 2, (tg_tensor *[]){x, y}, &k);
    k = (axpby_attr){100, 100}; /* the caller reuses its struct */
    cr_assert_eq(tg_backward(tg_sum(z)), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_get(z, 1), 2 * 2 + 5 * 4);
    cr_expect_eq(tg_tensor_get(tg_tensor_grad(x), 0), 2);
    cr_expect_eq(tg_tensor_get(tg_tensor_grad(y), 1), 5);
    tg_ctx_free(ctx);
}

Test(user_ops, six_inputs_pass_both_checks)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *op = tg_op_register(ctx, &weighted_sum_def);
    tg_tensor *in[6];
    for (int i = 0; i < 6; i++)
        in[i] = param(ctx, TG_F64, TG_SHAPE(3), (double[]){i, 1 - i, 0.5 * i});
    apply_args args = {op, NULL, 6};
    tg_gradcheck_report first, second;
    expect_both_checks_pass(ctx, &args, 6, in, &first, &second);
    cr_expect_float_eq(first.inputs[5].max_abs_grad / first.inputs[0].max_abs_grad, 6, 1e-12);
    tg_gradcheck_report_free(&first);
    tg_gradcheck_report_free(&second);
    tg_ctx_free(ctx);
}

Test(user_ops, a_shape_function_can_change_the_rank)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *op = tg_op_register(ctx, &row_sum_def);
    tg_tensor *x = param(ctx, TG_F64, TG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
    tg_tensor *y = tg_op_apply(op, 1, &x, NULL);
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_rank(y), 1);
    cr_expect_eq(tg_tensor_dim(y, 0), 2);
    cr_expect_eq(tg_tensor_get(y, 1), 15);
    tg_tape_reset(ctx);
    apply_args args = {op, NULL, 1};
    tg_gradcheck_report first, second;
    expect_both_checks_pass(ctx, &args, 1, &x, &first, &second);
    tg_gradcheck_report_free(&first);
    tg_gradcheck_report_free(&second);
    tg_ctx_free(ctx);
}

Test(user_ops, grad_mode_off_records_nothing)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *op = tg_op_register(ctx, &softplus_def);
    tg_tensor *x = param(ctx, TG_F64, TG_SHAPE(2), (double[]){1, 2});
    tg_grad_set_enabled(ctx, false);
    tg_tensor *y = tg_op_apply(op, 1, &x, NULL);
    cr_expect_not_null(y);
    cr_expect_eq(tg_tape_length(ctx), 0);
    cr_expect_not(tg_tensor_requires_grad(y));
    tg_ctx_free(ctx);
}

/* ---- every tool sees the op under its own name ---- */

Test(user_ops, the_tape_names_the_op_its_inputs_and_its_label)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *op = tg_op_register(ctx, &axpby_def);
    tg_tensor *x = param(ctx, TG_F64, TG_SHAPE(2), (double[]){1, 2});
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){3, 4});
    tg_tensor *z = tg_op_apply(op, 2, (tg_tensor *[]){x, y}, &(axpby_attr){2, 0.5});
    cr_assert_eq(tg_tensor_creator(z), 0);
    tg_tape_entry entry;
    cr_assert(tg_tape_entry_at(ctx, 0, &entry));
    cr_expect_eq(entry.op, TG_OP_USER);
    cr_expect_str_eq(entry.name, "axpby");
    cr_expect_eq(entry.n_inputs, 2);
    cr_expect_eq(entry.inputs[0], x);
    cr_expect_eq(entry.inputs[1], y);
    cr_expect_eq(entry.output, z);
    char label[64];
    cr_expect_str_eq(tg_tape_entry_label(ctx, 0, label, sizeof label), "axpby(2·x + 0.5·y)");

    const tg_op *softplus = tg_op_register(ctx, &softplus_def); /* no label: the name */
    tg_op_apply(softplus, 1, &x, NULL);
    cr_expect_str_eq(tg_tape_entry_label(ctx, 1, label, sizeof label), "user_softplus");
    tg_ctx_free(ctx);
}

Test(user_ops, a_dot_diagram_shows_the_op_under_its_name_and_label)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *clip = tg_op_register(ctx, &clipped_relu_def);
    const tg_op *axpby = tg_op_register(ctx, &axpby_def);
    const tg_op *wsum = tg_op_register(ctx, &weighted_sum_def);
    tg_tensor *x = param(ctx, TG_F64, TG_SHAPE(1), (double[]){2});
    tg_tensor_set_name(x, "x");
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1), (double[]){3});
    tg_tensor *c = tg_op_apply(clip, 1, &x, NULL);
    tg_tensor *a = tg_op_apply(axpby, 2, (tg_tensor *[]){c, y}, &(axpby_attr){2, 3});
    /* five inputs into one op: more edges than a built-in has */
    tg_tensor *loss = tg_op_apply(wsum, 5, (tg_tensor *[]){a, x, c, a, x}, NULL);
    cr_assert_not_null(loss, "%s", tg_ctx_error(ctx));

    FILE *f = tmpfile();
    cr_assert_not_null(f);
    tg_dot_options opts = {.grads_of = loss, .edge_derivatives = true};
    cr_assert_eq(tg_dot_write(f, 1, &loss, &opts), TG_OK, "%s", tg_ctx_error(ctx));
    char *text = slurp(f);
    cr_assert_not_null(text);
    cr_expect(strstr(text, "clipped_relu(min(max(x, 0), 6))"), "%s", text);
    cr_expect(strstr(text, "axpby(2·x + 3·y)"), "%s", text);
    cr_expect(strstr(text, "label=<weighted_sum>"), "%s", text);
    /* local derivatives on the edges of the few-input ops; weighted_sum's five
     * edges are all drawn (numbers on edges stop at three inputs, as for concat) */
    const char *edge = strstr(text, "t0 -> op1 [");
    cr_expect(edge && strstr(edge, "label=<2>]") && strstr(edge, "label=<2>]") < strchr(edge, '\n'),
              "the edge into axpby carries its local derivative 2: %s", text);
    int edges_into_weighted_sum = 0;
    for (const char *at = text; (at = strstr(at, " -> op2")); at++)
        edges_into_weighted_sum++;
    cr_expect_eq(edges_into_weighted_sum, 5, "%s", text);
    free(text);
    cr_expect_eq(tg_ctx_status(ctx), TG_OK, "%s", tg_ctx_error(ctx));
    tg_ctx_free(ctx);
}

static tg_status sqrt_forward(const tg_op_call *c)
{
    for (int64_t i = 0; i < tg_tensor_size(c->output); i++)
        tg_tensor_set(c->output, i, sqrt(tg_tensor_get(c->inputs[0], i)));
    return TG_OK;
}

/* d√x/dx = 1/(2√x): +Inf at 0 */
static tg_status sqrt_backward_raw(const tg_op_call *c, const tg_tensor *dy, tg_tensor *const *dx)
{
    for (int64_t i = 0; i < tg_tensor_size(dy); i++)
        tg_tensor_set(dx[0], i, tg_tensor_get(dy, i) / (2 * tg_tensor_get(c->output, i)));
    return TG_OK;
}

static const tg_op_def my_sqrt_def = {.name = "my_sqrt", .forward = sqrt_forward, .backward_raw = sqrt_backward_raw};

Test(user_ops, anomaly_mode_names_the_op_in_its_forward_and_in_its_raw_backward)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *op = tg_op_register(ctx, &my_sqrt_def);
    tg_anomaly_set_enabled(ctx, true);
    tg_tensor *x = param(ctx, TG_F64, TG_SHAPE(2), (double[]){4, -1});
    cr_expect_null(tg_op_apply(op, 1, &x, NULL));
    expect_error(ctx, TG_ERR_ANOMALY, FRAGMENTS("my_sqrt produced NaN at index [1] of its [2] output"));

    tg_tensor *zero = param(ctx, TG_F64, TG_SHAPE(2), (double[]){4, 0});
    tg_tensor *y = tg_op_apply(op, 1, &zero, NULL);
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_backward(tg_sum(y)), TG_ERR_ANOMALY);
    expect_error(ctx, TG_ERR_ANOMALY, FRAGMENTS("my_sqrt_backward produced +Inf at index [1] of its [2] output in the "
                                      "backward of my_sqrt"));
    tg_ctx_free(ctx);
}

/* ---- two contexts in two threads ---- */

typedef struct {
    double result[3];
    tg_status status;
} thread_run;

/* Registers the ops in a context of its own and takes 200 gradient steps
 * on softplus(axpby(clip(w), x)). */
static void *train_with_user_ops(void *arg)
{
    thread_run *run = arg;
    tg_ctx *ctx = quiet_ctx();
    const tg_op *clip = tg_op_register(ctx, &clipped_relu_def);
    const tg_op *axpby = tg_op_register(ctx, &axpby_def);
    const tg_op *softplus = tg_op_register(ctx, &softplus_def);
    tg_tensor *w = param(ctx, TG_F64, TG_SHAPE(3), (double[]){0.5, 1, 1.5});
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3), (double[]){1, -1, 2});
    for (int step = 0; step < 200 && tg_ctx_status(ctx) == TG_OK; step++) {
        tg_tensor_zero_grad(w);
        tg_tensor *h = tg_op_apply(axpby, 2, (tg_tensor *[]){tg_op_apply(clip, 1, &w, NULL), x},
                                   &(axpby_attr){1.5, 0.25});
        tg_backward(tg_sum(tg_op_apply(softplus, 1, &h, NULL)));
        for (int i = 0; i < 3; i++)
            tg_tensor_set(w, i, tg_tensor_get(w, i) - 0.01 * tg_tensor_get(tg_tensor_grad(w), i));
        tg_tape_reset(ctx);
    }
    for (int i = 0; i < 3; i++)
        run->result[i] = tg_tensor_get(w, i);
    run->status = tg_ctx_status(ctx);
    tg_ctx_free(ctx);
    return NULL;
}

Test(user_ops, two_threads_register_and_use_ops_in_two_contexts_at_once)
{
    thread_run alone, together[2];
    train_with_user_ops(&alone);
    cr_assert_eq(alone.status, TG_OK);
    cr_expect_neq(alone.result[0], 0.5, "training moved nothing");
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, train_with_user_ops, &together[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(together[i].status, TG_OK);
        for (int j = 0; j < 3; j++)
            cr_expect_eq(together[i].result[j], alone.result[j], "thread %d, w[%d]", i, j);
    }
}

Test(user_ops, an_op_is_registered_per_context_and_refuses_tensors_of_another)
{
    tg_ctx *a = quiet_ctx(), *b = quiet_ctx();
    const tg_op *in_a = tg_op_register(a, &softplus_def);
    const tg_op *in_b = tg_op_register(b, &softplus_def); /* the same name in another context is fine */
    cr_assert_not_null(in_a);
    cr_assert_not_null(in_b);
    cr_expect_neq(in_a, in_b);
    cr_expect_eq(tg_op_find(a, "user_softplus"), in_a);
    cr_expect_eq(tg_op_find(b, "user_softplus"), in_b);
    cr_expect_null(tg_op_find(a, "clipped_relu"));
    cr_expect_str_eq(tg_op_name_of(in_a), "user_softplus");
    tg_tensor *x = tg_tensor_ones(b, TG_F64, TG_SHAPE(2));
    cr_expect_null(tg_op_apply(in_a, 1, &x, NULL));
    expect_error(a, TG_ERR_ARG, FRAGMENTS("user_softplus: input 0 belongs to another context than the op"));
    tg_ctx_free(a);
    tg_ctx_free(b);
}

/* ---- bad definitions ---- */

Test(user_ops_errors, registering_two_ops_under_one_name_is_an_error)
{
    tg_ctx *ctx = quiet_ctx();
    cr_assert_not_null(tg_op_register(ctx, &clipped_relu_def));
    tg_op_def other = softplus_def;
    other.name = "clipped_relu";
    cr_expect_null(tg_op_register(ctx, &other));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("an op named clipped_relu is already registered"));
    cr_expect_null(tg_op_register(ctx, &clipped_relu_def)); /* the same definition twice, too */
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("clipped_relu is already registered"));
    other.name = "sigmoid";
    cr_expect_null(tg_op_register(ctx, &other));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("an op named sigmoid is already registered in this context (or is built in)"));
    other.name = "clipped_relu_backward"; /* the name of clipped_relu's recorded raw gradient */
    cr_expect_null(tg_op_register(ctx, &other));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("clipped_relu_backward is already registered"));
    other.name = "softplus_2"; /* a fresh name registers */
    cr_expect_not_null(tg_op_register(ctx, &other));
    cr_expect_eq(tg_ctx_status(ctx), TG_OK);
    tg_ctx_free(ctx);
}

Test(user_ops_errors, null_and_incomplete_definitions_are_refused_by_name)
{
    tg_ctx *ctx = quiet_ctx();
    cr_expect_null(tg_op_register(NULL, &softplus_def));
    cr_expect_null(tg_op_register(ctx, NULL));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("tg_op_register: def is NULL"));

    tg_op_def def = softplus_def;
    def.name = NULL;
    cr_expect_null(tg_op_register(ctx, &def));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("has no name"));
    def.name = "";
    cr_expect_null(tg_op_register(ctx, &def));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("has no name"));
    def.name = "two words";
    cr_expect_null(tg_op_register(ctx, &def));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("space or control character at byte 3"));
    def.name = "a_name_far_too_long_for_any_diagram_or_error_message_to_show_it_well";
    cr_expect_null(tg_op_register(ctx, &def));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("is longer than 63 bytes"));

    def = softplus_def;
    def.forward = NULL;
    cr_expect_null(tg_op_register(ctx, &def));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("op user_softplus has no forward kernel"));
    def = softplus_def;
    def.backward = NULL;
    cr_expect_null(tg_op_register(ctx, &def));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("op user_softplus has no backward"));
    def = softplus_def;
    def.backward_raw = clipped_relu_backward_raw;
    cr_expect_null(tg_op_register(ctx, &def));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("op user_softplus has both .backward and .backward_raw"));
    def = softplus_def;
    def.n_inputs = -1;
    cr_expect_null(tg_op_register(ctx, &def));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("op user_softplus has n_inputs = -1"));
    def = softplus_def;
    def.attr_size = 1 << 20;
    cr_expect_null(tg_op_register(ctx, &def));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("op user_softplus has attr_size 1048576"));

    /* nothing was registered by the failures */
    cr_expect_null(tg_op_find(ctx, "user_softplus"));
    cr_expect_not_null(tg_op_register(ctx, &softplus_def));
    cr_expect_null(tg_op_find(NULL, "user_softplus"));
    cr_expect_null(tg_op_find(ctx, NULL));
    cr_expect_null(tg_op_name_of(NULL));
    tg_ctx_free(ctx);
}

/* ---- bad calls ---- */

Test(user_ops_errors, bad_calls_name_the_op_and_what_was_expected)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *axpby = tg_op_register(ctx, &axpby_def);
    tg_tensor *x = tg_tensor_ones(ctx, TG_F64, TG_SHAPE(2, 3));
    tg_tensor *y = tg_tensor_ones(ctx, TG_F64, TG_SHAPE(3, 2));
    tg_tensor *x32 = tg_tensor_ones(ctx, TG_F32, TG_SHAPE(2, 3));
    tg_tensor *labels = tg_tensor_from(ctx, TG_I64, TG_SHAPE(2, 3), (double[]){0, 1, 2, 3, 4, 5});
    axpby_attr k = {1, 1};

    cr_expect_null(tg_op_apply(NULL, 1, &x, NULL));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("tg_op_apply: op is NULL"));
    cr_expect_null(tg_op_apply(axpby, 1, &x, &k));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("axpby: called with 1 inputs; expected 2"));
    cr_expect_null(tg_op_apply(axpby, 2, NULL, &k));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("axpby: called with 2 inputs (NULL array)"));
    cr_expect_null(tg_op_apply(axpby, 2, (tg_tensor *[]){x, y}, &k));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("axpby: its shape function refused inputs of shapes [2, 3], [3, 2]"));
    cr_expect_null(tg_op_apply(axpby, 2, (tg_tensor *[]){x, x32}, &k));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("axpby: input 1 is f32 and input 0 is f64"));
    cr_expect_null(tg_op_apply(axpby, 2, (tg_tensor *[]){labels, x}, &k));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("axpby: input [2, 3] is i64; expected f32 or f64"));
    cr_expect_null(tg_op_apply(axpby, 2, (tg_tensor *[]){x, x}, NULL));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("axpby: attr is NULL; expected a block of 16 bytes"));

    /* a NULL input: an earlier op failed; no new error */
    cr_expect_null(tg_op_apply(axpby, 2, (tg_tensor *[]){x, NULL}, &k));
    cr_expect_eq(tg_ctx_status(ctx), TG_OK);
    /* a freed input */
    tg_tensor *gone = tg_tensor_ones(ctx, TG_F64, TG_SHAPE(2, 3));
    tg_tensor_free(gone);
    cr_expect_null(tg_op_apply(axpby, 2, (tg_tensor *[]){x, gone}, &k));
    expect_error(ctx, TG_ERR_FREED, FRAGMENTS("axpby: input tensor was freed"));

    /* the context carries on */
    tg_tensor *ok = tg_op_apply(axpby, 2, (tg_tensor *[]){x, x}, &k);
    cr_assert_not_null(ok, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_get(ok, 5), 2);
    tg_ctx_free(ctx);
}

/* Broken ops, one flaw each. */
static int rank_past_max(const tg_op_call *c, int64_t shape[TG_MAX_RANK])
{
    (void)c;
    shape[0] = 2;
    return TG_MAX_RANK + 1;
}

static int zero_dim(const tg_op_call *c, int64_t shape[TG_MAX_RANK])
{
    (void)c;
    shape[0] = 2;
    shape[1] = 0;
    return 2;
}

static int own_message(const tg_op_call *c, int64_t shape[TG_MAX_RANK])
{
    (void)shape;
    tg_ctx_fail(tg_tensor_ctx(c->inputs[0]), TG_ERR_SHAPE, "own_message: wants a square matrix");
    return -1;
}

static tg_status failing_forward(const tg_op_call *c)
{
    (void)c;
    return TG_ERR_ARG;
}

static tg_status explained_failing_forward(const tg_op_call *c)
{
    return tg_ctx_fail(tg_tensor_ctx(c->inputs[0]), TG_ERR_ARG, "explained: the input must be sorted");
}

/* Returns TG_OK, but an op it called failed on the way. */
static tg_status forward_calling_a_failing_op(const tg_op_call *c)
{
    tg_tensor *wrong = tg_matmul(c->inputs[0], c->inputs[0]); /* [2, 3]·[2, 3] */
    (void)wrong;
    return TG_OK;
}

/* Writes as many elements as its input has, into an output of one element. */
static int one_element(const tg_op_call *c, int64_t shape[TG_MAX_RANK])
{
    (void)c;
    (void)shape;
    return 0;
}

static tg_status overrunning_forward(const tg_op_call *c)
{
    double *y = tg_tensor_data(c->output);
    for (int64_t i = 0; i < tg_tensor_size(c->inputs[0]); i++)
        y[i] = 1;
    return TG_OK;
}

Test(user_ops_errors, a_forward_with_the_wrong_shape_or_a_failure_is_reported_by_name)
{
    tg_ctx *ctx = quiet_ctx();
    tg_tensor *x = tg_tensor_ones(ctx, TG_F64, TG_SHAPE(2, 3));
    struct {
        tg_op_def def;
        tg_status status;
        const char *message;
    } cases[] = {
        {{.name = "rank_seven", .shape = rank_past_max, .forward = softplus_forward, .backward = softplus_backward},
         TG_ERR_SHAPE, "rank_seven: its shape function returned rank 7 for inputs of shapes [2, 3]; expected 0 to 6"},
        {{.name = "zero_dim", .shape = zero_dim, .forward = softplus_forward, .backward = softplus_backward},
         TG_ERR_SHAPE, "zero_dim: its shape function returned shape [2, 0] for inputs of shapes [2, 3]; dim 1 is out of range"},
        {{.name = "own_message", .shape = own_message, .forward = softplus_forward, .backward = softplus_backward},
         TG_ERR_SHAPE, "own_message: wants a square matrix"},
        {{.name = "failing", .forward = failing_forward, .backward = softplus_backward},
         TG_ERR_ARG, "failing: its forward failed (bad argument)"},
        {{.name = "explained", .forward = explained_failing_forward, .backward = softplus_backward},
         TG_ERR_ARG, "explained: the input must be sorted"},
        {{.name = "silent", .forward = forward_calling_a_failing_op, .backward = softplus_backward},
         TG_ERR_SHAPE, "matmul"},
        {{.name = "overrun", .shape = one_element, .forward = overrunning_forward, .backward = softplus_backward},
         TG_ERR_SHAPE, "overrun: its forward wrote past the end of its output of shape [] (1 elements, from its shape function)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const tg_op *op = tg_op_register(ctx, &cases[i].def);
        cr_assert_not_null(op, "%s", tg_ctx_error(ctx));
        cr_expect_null(tg_op_apply(op, 1, &x, NULL), "%s", cases[i].def.name);
        expect_error(ctx, cases[i].status, FRAGMENTS(cases[i].message));
    }
    cr_expect_eq(tg_tape_length(ctx), 0);
    tg_ctx_free(ctx);
}

/* Backward rules that return a gradient that does not fit. */
static tg_status wrong_shape_backward(const tg_op_call *c, tg_tensor *dy, tg_tensor **dx)
{
    (void)c;
    dx[0] = tg_sum(dy); /* [] for a [2, 3] input */
    return TG_OK;
}

static tg_status wrong_dtype_backward(const tg_op_call *c, tg_tensor *dy, tg_tensor **dx)
{
    (void)dy;
    dx[0] = tg_tensor_temp(tg_tensor_ctx(c->inputs[0]), TG_F32, tg_tensor_rank(c->inputs[0]),
                           tg_tensor_shape(c->inputs[0]));
    return TG_OK;
}

static tg_status failing_backward(const tg_op_call *c, tg_tensor *dy, tg_tensor **dx)
{
    (void)c, (void)dy, (void)dx;
    return TG_ERR_GRAD;
}

/* Writes a gradient as long as the output, past the end of a smaller input's buffer. */
static tg_status overrunning_backward_raw(const tg_op_call *c, const tg_tensor *dy, tg_tensor *const *dx)
{
    (void)c;
    double *d = tg_tensor_data(dx[0]);
    for (int64_t i = 0; i < tg_tensor_size(dy); i++)
        d[i] = 1;
    return TG_OK;
}

static int six_elements(const tg_op_call *c, int64_t shape[TG_MAX_RANK])
{
    (void)c;
    shape[0] = 6;
    return 1;
}

static tg_status ones_forward(const tg_op_call *c)
{
    tg_tensor_fill(c->output, 1);
    return TG_OK;
}

Test(user_ops_errors, a_backward_with_the_wrong_shape_dtype_or_a_failure_is_reported_by_name)
{
    tg_ctx *ctx = quiet_ctx();
    tg_tensor *x = param(ctx, TG_F64, TG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
    tg_tensor_set_name(x, "x");
    tg_tensor *v = param(ctx, TG_F64, TG_SHAPE(2), (double[]){1, 2});
    struct {
        tg_op_def def;
        tg_tensor *input;
        tg_status status;
        const char *message;
    } cases[] = {
        {{.name = "bad_shape", .forward = softplus_forward, .backward = wrong_shape_backward}, x, TG_ERR_SHAPE,
         "bad_shape: its backward (tape entry 0) returned a f64 [] gradient for input 0; expected the input's f64 x [2, 3]"},
        {{.name = "bad_dtype", .forward = softplus_forward, .backward = wrong_dtype_backward}, x, TG_ERR_SHAPE,
         "bad_dtype: its backward (tape entry 0) returned a f32 [2, 3] gradient for input 0; expected the input's f64 x [2, 3]"},
        {{.name = "bad_backward", .forward = softplus_forward, .backward = failing_backward}, x, TG_ERR_GRAD,
         "bad_backward: its backward failed (gradient error)"},
        {{.name = "bad_raw", .shape = six_elements, .forward = ones_forward, .backward_raw = overrunning_backward_raw},
         v, TG_ERR_SHAPE, "bad_raw: its raw backward wrote past the end of the gradient of input 0, which has input 0's shape [2]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const tg_op *op = tg_op_register(ctx, &cases[i].def);
        tg_tensor *y = tg_op_apply(op, 1, &cases[i].input, NULL);
        cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
        cr_expect_eq(tg_backward_with(y, tg_tensor_ones(ctx, TG_F64, tg_tensor_rank(y), tg_tensor_shape(y))),
                     cases[i].status, "%s", cases[i].def.name);
        expect_error(ctx, cases[i].status, FRAGMENTS(cases[i].message));
        tg_tape_reset(ctx);
    }
    /* and the context carries on */
    const tg_op *softplus = tg_op_register(ctx, &softplus_def);
    cr_expect_eq(tg_backward(tg_sum(tg_op_apply(softplus, 1, &x, NULL))), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_gt(tg_tensor_get(tg_tensor_grad(x), 0), 0.5);
    tg_ctx_free(ctx);
}

/* What gradient_from_elsewhere_backward hands back as its input's gradient. */
static tg_tensor *gradient_from_elsewhere;

static tg_status gradient_from_elsewhere_backward(const tg_op_call *c, tg_tensor *dy, tg_tensor **dx)
{
    (void)c, (void)dy;
    dx[0] = gradient_from_elsewhere;
    return TG_OK;
}

/* backward checks every rule's results, fast path or not: a gradient of the
 * right shape and dtype is still refused when it was freed, belongs to an
 * earlier step, or comes from another context. */
Test(user_ops_errors, a_backward_returning_a_freed_stale_or_foreign_gradient_is_reported)
{
    tg_ctx *ctx = quiet_ctx(), *other = quiet_ctx();
    tg_ctx_set_checked(ctx, true); /* neither step memory nor freed headers are reused */
    tg_tensor *x = param(ctx, TG_F64, TG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
    const tg_op *op = tg_op_register(ctx, &(tg_op_def){.name = "elsewhere", .forward = softplus_forward,
                                                        .backward = gradient_from_elsewhere_backward});
    cr_assert_not_null(op, "%s", tg_ctx_error(ctx));
    tg_tensor *freed = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 3));
    tg_tensor_free(freed);
    tg_tensor *stale = tg_mul_scalar(x, 1);
    tg_tape_reset(ctx);
    struct {
        tg_tensor *gradient;
        tg_status status;
        const char *message;
    } cases[] = {
        {freed, TG_ERR_FREED, "elsewhere: input tensor was freed"},
        {stale, TG_ERR_FREED, "elsewhere: input tensor was freed by tg_tape_reset (it belongs to an earlier step)"},
        {tg_tensor_zeros(other, TG_F64, TG_SHAPE(2, 3)), TG_ERR_GRAD,
         "elsewhere: its backward (tape entry 0) returned a gradient for input 0 from another context"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gradient_from_elsewhere = cases[i].gradient;
        tg_tensor *y = tg_op_apply(op, 1, &x, NULL);
        cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
        cr_expect_eq(tg_backward_with(y, tg_tensor_ones(ctx, TG_F64, TG_SHAPE(2, 3))), cases[i].status,
                     "case %zu", i);
        expect_error(ctx, cases[i].status, FRAGMENTS(cases[i].message));
        cr_expect_null(tg_tensor_grad(x), "case %zu: no gradient reached x", i);
        tg_tape_reset(ctx);
    }
    tg_ctx_free(other);
    tg_ctx_free(ctx);
}

Test(user_ops, a_recorded_raw_gradient_is_drawn_and_refuses_only_its_derivative)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *clip = tg_op_register(ctx, &clipped_relu_def);
    tg_tensor *x = param(ctx, TG_F64, TG_SHAPE(1), (double[]){2});
    tg_tensor *y = tg_sum(tg_mul(tg_op_apply(clip, 1, &x, NULL), x));
    int64_t forward_ops = tg_tape_length(ctx);
    tg_tensor *g = NULL;
    cr_assert_eq(tg_grad(y, NULL, 1, &x, &g, true), TG_OK, "%s", tg_ctx_error(ctx));
    /* the structure draws, the raw gradient under its own name */
    FILE *f = tmpfile();
    cr_assert_eq(tg_dot_write(f, 1, &g, &(tg_dot_options){.gradient_ops_from = forward_ops}), TG_OK, "%s",
                 tg_ctx_error(ctx));
    char *text = slurp(f);
    cr_expect(strstr(text, "label=<clipped_relu_backward>"), "%s", text);
    free(text);
    /* its derivatives, asked for by the diagram, are refused like any other */
    f = tmpfile();
    cr_expect_eq(tg_dot_write(f, 1, &g, &(tg_dot_options){.edge_derivatives = true}), TG_ERR_GRAD);
    fclose(f);
    expect_error(ctx, TG_ERR_GRAD, FRAGMENTS("clipped_relu: its backward is a raw C kernel"));
    tg_ctx_free(ctx);
}

Test(user_ops, forward_mode_jvp_runs_through_an_ops_backward_and_is_refused_by_a_raw_one)
{
    tg_ctx *ctx = quiet_ctx();
    const tg_op *softplus = tg_op_register(ctx, &softplus_def);
    const tg_op *clip = tg_op_register(ctx, &clipped_relu_def);
    tg_tensor *x = param(ctx, TG_F64, TG_SHAPE(3), (double[]){-1, 0.5, 2});
    tg_tensor *v = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3), (double[]){1, -2, 3});
    tg_tensor *jvp = NULL;
    tg_tensor *y = tg_op_apply(softplus, 1, &x, NULL);
    cr_assert_eq(tg_jvp(y, 1, &x, &v, &jvp), TG_OK, "%s", tg_ctx_error(ctx));
    for (int i = 0; i < 3; i++) /* σ(x)·v */
        cr_expect_float_eq(tg_tensor_get(jvp, i),
                           tg_tensor_get(v, i) / (1 + exp(-tg_tensor_get(x, i))), 1e-14);
    /* a JVP is the VJP of a VJP: it differentiates the backward, which a raw kernel cannot */
    tg_tensor *z = tg_op_apply(clip, 1, &x, NULL);
    cr_expect_eq(tg_jvp(z, 1, &x, &v, &jvp), TG_ERR_GRAD);
    expect_error(ctx, TG_ERR_GRAD, FRAGMENTS("clipped_relu: its backward is a raw C kernel"));
    tg_ctx_free(ctx);
}
