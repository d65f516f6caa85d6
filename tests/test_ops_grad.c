/* Every op's gradient against central finite differences, in float64, on
 * random inputs of several shapes (broadcast shapes and size-1 dims among
 * them), and every op's second derivative through create_graph. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tapegrad.h"

#include "tests/op_cases.h"
#include "tests/op_cases_math.h"
#include "tests/op_cases_select.h"
#include "tests/op_cases_conv.h"
#include "tests/op_cases_fused.h"
#include "tests/op_cases_views.h"

static tg_tensor *f_matmul(tg_tensor *const *in, void *u) { (void)u; return tg_matmul(in[0], in[1]); }
static tg_tensor *f_matmul_ta(tg_tensor *const *in, void *u) { (void)u; return tg_matmul_t(in[0], in[1], true, false); }
static tg_tensor *f_matmul_tb(tg_tensor *const *in, void *u) { (void)u; return tg_matmul_t(in[0], in[1], false, true); }
static tg_tensor *f_matmul_tt(tg_tensor *const *in, void *u) { (void)u; return tg_matmul_t(in[0], in[1], true, true); }
/* squared: the bias path is linear, and its second derivative would be zero */
static tg_tensor *f_linear(tg_tensor *const *in, void *u) { (void)u; return squared(tg_linear(in[0], in[1], in[2])); }
static tg_tensor *f_linear_no_bias(tg_tensor *const *in, void *u) { (void)u; return squared(tg_linear(in[0], in[1], NULL)); }
static tg_tensor *f_add(tg_tensor *const *in, void *u) { (void)u; return tg_add(in[0], in[1]); }
static tg_tensor *f_sub(tg_tensor *const *in, void *u) { (void)u; return tg_sub(in[0], in[1]); }
static tg_tensor *f_mul(tg_tensor *const *in, void *u) { (void)u; return tg_mul(in[0], in[1]); }
static tg_tensor *f_div(tg_tensor *const *in, void *u) { (void)u; return tg_div(in[0], in[1]); }
static tg_tensor *f_neg(tg_tensor *const *in, void *u) { (void)u; return tg_neg(in[0]); }
static tg_tensor *f_add_scalar(tg_tensor *const *in, void *u) { (void)u; return tg_add_scalar(in[0], -2.5); }
static tg_tensor *f_mul_scalar(tg_tensor *const *in, void *u) { (void)u; return tg_mul_scalar(in[0], 1.75); }
static tg_tensor *f_sigmoid(tg_tensor *const *in, void *u) { (void)u; return tg_sigmoid(in[0]); }
static tg_tensor *f_tanh(tg_tensor *const *in, void *u) { (void)u; return tg_tanh(in[0]); }
static tg_tensor *f_relu(tg_tensor *const *in, void *u) { (void)u; return tg_relu(in[0]); }
static tg_tensor *f_sigmoid_backward(tg_tensor *const *in, void *u) { (void)u; return tg_sigmoid_backward(in[0], in[1]); }
static tg_tensor *f_tanh_backward(tg_tensor *const *in, void *u) { (void)u; return tg_tanh_backward(in[0], in[1]); }
static tg_tensor *f_relu_backward(tg_tensor *const *in, void *u) { (void)u; return tg_relu_backward(in[0], in[1]); }
static tg_tensor *f_exp(tg_tensor *const *in, void *u) { (void)u; return tg_exp(in[0]); }
static tg_tensor *f_log(tg_tensor *const *in, void *u) { (void)u; return tg_log(in[0]); }
static tg_tensor *f_softmax(tg_tensor *const *in, void *u) { (void)u; return tg_softmax(in[0]); }
static tg_tensor *f_log_softmax(tg_tensor *const *in, void *u) { (void)u; return tg_log_softmax(in[0]); }
static tg_tensor *f_sum(tg_tensor *const *in, void *u) { (void)u; return tg_sum(in[0]); }
static tg_tensor *f_mean(tg_tensor *const *in, void *u) { (void)u; return tg_mean(in[0]); }
static tg_tensor *f_sum_axis0(tg_tensor *const *in, void *u) { (void)u; return tg_sum_axis(in[0], 0, false); }
static tg_tensor *f_sum_axis_last_keep(tg_tensor *const *in, void *u) { (void)u; return tg_sum_axis(in[0], -1, true); }
static tg_tensor *f_mean_axis1(tg_tensor *const *in, void *u) { (void)u; return tg_mean_axis(in[0], 1, false); }
static tg_tensor *f_reshape(tg_tensor *const *in, void *u) { (void)u; return tg_reshape(in[0], TG_SHAPE(3, 2, 2)); }
static tg_tensor *f_transpose(tg_tensor *const *in, void *u) { (void)u; return tg_transpose(in[0], 0, -1); }
static tg_tensor *f_expand(tg_tensor *const *in, void *u) { (void)u; return tg_expand(in[0], TG_SHAPE(2, 3, 4)); }
static tg_tensor *f_sum_to(tg_tensor *const *in, void *u) { (void)u; return tg_sum_to(in[0], TG_SHAPE(3, 1)); }
static tg_tensor *f_mse(tg_tensor *const *in, void *u) { (void)u; return tg_loss_mse(in[0], in[1]); }
static tg_tensor *f_cross_entropy_probs(tg_tensor *const *in, void *u) { (void)u; return tg_cross_entropy(in[0], in[1]); }

static tg_tensor *f_cross_entropy_index(tg_tensor *const *in, void *u)
{
    (void)u;
    tg_tensor *labels = tg_tensor_temp(tg_tensor_ctx(in[0]), TG_F64, TG_SHAPE(4));
    double classes[] = {2, 0, 4, 1};
    for (int i = 0; i < 4; i++)
        tg_tensor_set(labels, i, classes[i]);
    return tg_cross_entropy(in[0], labels);
}

static const op_case core_cases[] = {
    {"matmul", f_matmul, 2, {2, 2}, {S(3, 4), S(4, 5)}, -1, 1, false, false, 0},
    {"matmul 1xk·kx1", f_matmul, 2, {2, 2}, {S(1, 7), S(7, 1)}, -1, 1, false, false, 0},
    {"matmul Aᵀ·B", f_matmul_ta, 2, {2, 2}, {S(4, 3), S(4, 2)}, -1, 1, false, false, 0},
    {"matmul A·Bᵀ", f_matmul_tb, 2, {2, 2}, {S(3, 4), S(5, 4)}, -1, 1, false, false, 0},
    {"matmul Aᵀ·Bᵀ", f_matmul_tt, 2, {2, 2}, {S(4, 3), S(2, 4)}, -1, 1, false, false, 0},
    {"matmul batched", f_matmul, 2, {3, 3}, {S(2, 3, 4), S(2, 4, 2)}, -1, 1, false, false, 0},
    {"matmul stack · shared matrix", f_matmul_tb, 2, {3, 2}, {S(3, 2, 4), S(5, 4)}, -1, 1, false, false, 0},
    {"matmul shared matrixᵀ · stack", f_matmul_ta, 2, {2, 3}, {S(4, 3), S(2, 4, 2)}, -1, 1, false, false, 0},
    {"linear", f_linear, 3, {2, 2, 1}, {S(3, 4), S(5, 4), S(5)}, -1, 1, false, false, 0},
    {"linear rank 3 x", f_linear, 3, {3, 2, 1}, {S(2, 3, 4), S(2, 4), S(2)}, -1, 1, false, false, 0},
    {"linear vector x", f_linear, 3, {1, 2, 1}, {S(4), S(3, 4), S(3)}, -1, 1, false, false, 0},
    {"linear no bias", f_linear_no_bias, 2, {2, 2}, {S(4, 3), S(2, 3)}, -1, 1, false, false, 0},
    {"linear rank 3 x, no bias, one output", f_linear_no_bias, 2, {3, 2}, {S(2, 1, 3), S(1, 3)}, -1, 1, false, false, 0},
    {"add same shape", f_add, 2, {2, 2}, {S(3, 4), S(3, 4)}, -1, 1, false, true, 0},
    {"add bias row", f_add, 2, {2, 1}, {S(5, 3), S(3)}, -1, 1, false, true, 0},
    {"add column+row", f_add, 2, {2, 2}, {S(4, 1), S(1, 3)}, -1, 1, false, true, 0},
    {"add scalar tensor", f_add, 2, {3, 0}, {S(2, 1, 3), S(0)}, -1, 1, false, true, 0},
    {"sub rank 4 broadcast", f_sub, 2, {4, 3}, {S(2, 1, 3, 1), S(3, 1, 4)}, -1, 1, false, true, 0},
    {"mul broadcast", f_mul, 2, {2, 1}, {S(4, 3), S(3)}, -1, 1, false, false, 0},
    {"mul size-1 dims", f_mul, 2, {3, 3}, {S(1, 3, 1), S(2, 1, 4)}, -1, 1, false, false, 0},
    {"div", f_div, 2, {2, 2}, {S(3, 4), S(3, 4)}, 0.5, 2, false, false, 0},
    {"div broadcast", f_div, 2, {2, 2}, {S(3, 4), S(3, 1)}, 0.5, 2, false, false, 0},
    {"neg", f_neg, 1, {3}, {S(2, 3, 2)}, -1, 1, false, true, 0},
    {"add_scalar", f_add_scalar, 1, {1}, {S(5)}, -1, 1, false, true, 0},
    {"mul_scalar", f_mul_scalar, 1, {2}, {S(2, 3)}, -1, 1, false, true, 0},
    {"sigmoid", f_sigmoid, 1, {2}, {S(3, 4)}, -3, 3, false, false, 0},
    {"sigmoid scalar", f_sigmoid, 1, {0}, {S(0)}, -3, 3, false, false, 0},
    {"tanh", f_tanh, 1, {3}, {S(2, 2, 3)}, -2, 2, false, false, 0},
    {"relu", f_relu, 1, {2}, {S(4, 5)}, -1, 1, true, true, 0},
    {"sigmoid_backward", f_sigmoid_backward, 2, {2, 2}, {S(3, 4), S(3, 4)}, 0.1, 0.9, false, false, 0},
    {"tanh_backward broadcast", f_tanh_backward, 2, {2, 1}, {S(3, 4), S(4)}, -0.9, 0.9, false, false, 0},
    {"relu_backward", f_relu_backward, 2, {2, 2}, {S(4, 3), S(4, 3)}, -1, 1, true, true, 2},
    {"exp", f_exp, 1, {2}, {S(3, 3)}, -1, 1, false, false, 0},
    {"log", f_log, 1, {2}, {S(3, 3)}, 0.5, 3, false, false, 0},
    {"softmax", f_softmax, 1, {2}, {S(3, 5)}, -2, 2, false, false, 0},
    {"softmax two classes", f_softmax, 1, {2}, {S(4, 2)}, -2, 2, false, false, 0},
    {"softmax rank 3", f_softmax, 1, {3}, {S(2, 2, 3)}, -2, 2, false, false, 0},
    {"log_softmax", f_log_softmax, 1, {2}, {S(4, 6)}, -2, 2, false, false, 0},
    {"sum", f_sum, 1, {3}, {S(2, 3, 2)}, -1, 1, false, true, 0},
    {"mean", f_mean, 1, {2}, {S(4, 3)}, -1, 1, false, true, 0},
    {"sum axis 0", f_sum_axis0, 1, {3}, {S(3, 2, 4)}, -1, 1, false, true, 0},
    {"sum last axis keepdim", f_sum_axis_last_keep, 1, {2}, {S(3, 5)}, -1, 1, false, true, 0},
    {"mean axis 1", f_mean_axis1, 1, {3}, {S(2, 4, 3)}, -1, 1, false, true, 0},
    {"reshape", f_reshape, 1, {2}, {S(4, 3)}, -1, 1, false, true, 0},
    {"transpose", f_transpose, 1, {3}, {S(2, 3, 4)}, -1, 1, false, true, 0},
    {"expand", f_expand, 1, {2}, {S(3, 1)}, -1, 1, false, true, 0},
    {"sum_to", f_sum_to, 1, {3}, {S(2, 3, 4)}, -1, 1, false, true, 0},
    {"mse_loss", f_mse, 2, {2, 2}, {S(4, 3), S(4, 3)}, -1, 1, false, false, 0},
    {"cross_entropy indices", f_cross_entropy_index, 1, {2}, {S(4, 5)}, -3, 3, false, false, 0},
    {"cross_entropy probabilities", f_cross_entropy_probs, 2, {2, 2}, {S(3, 4), S(3, 4)}, 0.1, 1, false, false, 0},
};

/* Each op family beyond the core keeps its cases in tests/op_cases_<family>.h
 * (static const op_case <family>_cases[]): one #include and one row here. */

#define TABLE(cases) {cases, sizeof cases / sizeof *cases}
static const struct {
    const op_case *cases;
    size_t count;
} tables[] = {
    TABLE(core_cases),
    TABLE(math_cases),
    TABLE(select_cases),
    TABLE(conv_cases),
    TABLE(fused_cases),
    TABLE(views_cases),
};
#define N_TABLES (sizeof tables / sizeof *tables)

static void check_case(const op_case *c, uint64_t seed, bool second)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(42 + seed);
    tg_tensor *in[3];
    for (int i = 0; i < c->n_inputs; i++) {
        in[i] = tg_tensor_rand(ctx, &rng, TG_F64, c->rank[i], c->shape[i], c->low, c->high);
        cr_assert_not_null(in[i]);
        if (c->away_from_zero)
            for (int64_t k = 0; k < tg_tensor_size(in[i]); k++) {
                double v = tg_tensor_get(in[i], k);
                tg_tensor_set(in[i], k, v >= 0 ? v + 0.1 : v - 0.1);
            }
        tg_tensor_set_requires_grad(in[i], c->constant_input != i + 1);
    }
    tg_gradcheck_report report;
    tg_gradcheck_options opts = {.step = second ? 1e-5 : 1e-6, .abs_tol = 1e-7, .rel_tol = 1e-6};
    tg_status status = second ? tg_gradgradcheck(ctx, c->fn, NULL, c->n_inputs, in, &opts, &report)
                              : tg_gradcheck(ctx, c->fn, NULL, c->n_inputs, in, &opts, &report);
    cr_assert_eq(status, TG_OK, "%s: %s", c->name, tg_ctx_error(ctx));
    for (int i = 0; i < c->n_inputs; i++) {
        const tg_gradcheck_input_report *r = &report.inputs[i];
        if (c->constant_input == i + 1)
            continue;
        cr_expect(r->passed, "%s%s input %d: worst abs error %g at %lld (rel %g)", second ? "second derivative of " : "",
                  c->name, i, r->max_abs_error, (long long)r->worst_index, r->max_rel_error);
        cr_expect_eq(r->checked, tg_tensor_size(in[i]));
        /* a check against an all-zero gradient proves nothing */
        cr_expect_gt(r->max_abs_grad, 1e-3, "%s input %d: gradient is zero", c->name, i);
    }
    cr_expect(report.passed, "%s", c->name);
    cr_expect_not(report.vacuous, "%s", c->name);
    tg_gradcheck_report_free(&report);
    cr_expect_eq(tg_tape_length(ctx), 0, "gradcheck must leave the tape as it found it");
    tg_ctx_free(ctx);
}

Test(ops_grad, every_op_matches_finite_differences)
{
    for (size_t t = 0; t < N_TABLES; t++)
        for (size_t i = 0; i < tables[t].count; i++)
            check_case(&tables[t].cases[i], i, false);
}

Test(ops_grad, every_op_has_correct_second_derivatives)
{
    for (size_t t = 0; t < N_TABLES; t++)
        for (size_t i = 0; i < tables[t].count; i++)
            if (!tables[t].cases[i].skip_second)
                check_case(&tables[t].cases[i], i, true);
}

Test(ops_grad, every_registered_op_is_covered)
{
    /* A new op added to TG_OP_LIST without a gradcheck case fails here. */
    bool covered[TG_OP_COUNT] = {0};
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(7);
    for (size_t t = 0; t < N_TABLES; t++)
        for (size_t c = 0; c < tables[t].count; c++) {
            const op_case *oc = &tables[t].cases[c];
            tg_tensor *in[3];
            for (int i = 0; i < oc->n_inputs; i++) {
                in[i] = tg_tensor_rand(ctx, &rng, TG_F64, oc->rank[i], oc->shape[i], 0.5, 1);
                tg_tensor_set_requires_grad(in[i], true);
            }
            int64_t start = tg_tape_length(ctx);
            cr_assert_not_null(oc->fn(in, NULL), "%s", oc->name);
            tg_tape_entry e;
            for (int64_t k = start; tg_tape_entry_at(ctx, k, &e); k++)
                if (e.op != TG_OP_USER)
                    covered[e.op] = true;
        }
    /* step is piecewise constant: no gradient to check, only its values
     * (test_ops_forward) */
    tg_tensor *x = tg_tensor_rand(ctx, &rng, TG_F64, TG_SHAPE(3), -1, 1);
    tg_tensor_set_requires_grad(x, true);
    cr_assert_not_null(tg_step(x));
    tg_tape_entry e;
    for (int64_t k = 0; tg_tape_entry_at(ctx, k, &e); k++)
        if (e.op != TG_OP_USER)
            covered[e.op] = true;
    for (int op = 0; op < TG_OP_COUNT; op++)
        cr_expect(covered[op], "op %s has no gradient check", tg_op_name((tg_op_kind)op));
    tg_ctx_free(ctx);
}
