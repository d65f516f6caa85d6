/* The gradient checker reports honestly: a check of all-zero gradients is
 * vacuous, not passed; an element whose true gradient is zero has no
 * relative error; the element shown is the one closest to failing; and any
 * number of inputs is checked in one call. */
#include <criterion/criterion.h>
#include <math.h>

#include "tapegrad.h"

static tg_tensor *param(tg_ctx *ctx, int rank, const int64_t *shape, const double *values)
{
    tg_tensor *t = tg_tensor_from(ctx, TG_F64, rank, shape, values);
    tg_tensor_set_requires_grad(t, true);
    return t;
}

/* leaky_relu's second derivative is zero everywhere off the kink */
static tg_tensor *leaky(tg_tensor *const *in, void *user) { return (void)user, tg_leaky_relu(in[0], 0.1); }

Test(gradcheck, a_second_order_check_of_a_piecewise_linear_op_is_vacuous_not_passed)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *x = param(ctx, TG_SHAPE(4), (double[]){-2, -0.5, 0.7, 3});
    tg_gradcheck_report r;
    cr_assert_eq(tg_gradgradcheck(ctx, leaky, NULL, 1, &x, NULL, &r), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect(r.passed, "nothing is wrong with it");
    cr_expect(r.vacuous, "but every gradient is zero: it proves nothing");
    cr_expect(r.inputs[0].vacuous);
    cr_expect_eq(r.inputs[0].max_abs_grad, 0);
    tg_gradcheck_report_free(&r);
    /* its first order is not vacuous */
    cr_assert_eq(tg_gradcheck(ctx, leaky, NULL, 1, &x, NULL, &r), TG_OK);
    cr_expect(r.passed);
    cr_expect_not(r.vacuous);
    cr_expect_not(r.inputs[0].vacuous);
    tg_gradcheck_report_free(&r);
    tg_ctx_free(ctx);
}

Test(gradcheck, print_says_vacuous_for_a_check_that_proves_nothing)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *x = param(ctx, TG_SHAPE(2), (double[]){-1, 1});
    tg_gradcheck_report r;
    cr_assert_eq(tg_gradgradcheck(ctx, leaky, NULL, 1, &x, NULL, &r), TG_OK);
    fflush(stdout);
    FILE *out = tmpfile(), *saved = stdout;
    cr_assert_not_null(out);
    stdout = out;
    tg_gradcheck_print(&r, "leaky_relu, second order");
    fflush(stdout);
    stdout = saved;
    char text[512] = {0};
    rewind(out);
    cr_assert_gt(fread(text, 1, sizeof text - 1, out), 0);
    fclose(out);
    cr_expect_not_null(strstr(text, "leaky_relu, second order: vacuous"), "%s", text);
    cr_expect_null(strstr(text, "passed"), "%s", text);
    tg_gradcheck_report_free(&r);
    tg_ctx_free(ctx);
}

/* y = x0·x1 at x1 = 0: dy/dx0 is exactly 0, a true zero among nonzero gradients */
static tg_tensor *product(tg_tensor *const *in, void *user) { return (void)user, tg_mul(in[0], in[1]); }

Test(gradcheck, an_element_whose_true_gradient_is_zero_has_no_relative_error)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *in[2] = {param(ctx, TG_SHAPE(3), (double[]){0.3, -1.2, 2.5}),
                        param(ctx, TG_SHAPE(3), (double[]){0, 0.8, -1.1})};
    tg_gradcheck_report r;
    cr_assert_eq(tg_gradcheck(ctx, product, NULL, 2, in, NULL, &r), TG_OK);
    cr_expect(r.passed);
    /* element 0 of input 0 has gradient 0 on the tape and a round-off
     * difference; before, it reported a relative error of 1 */
    cr_expect_lt(r.inputs[0].max_rel_error, 1e-6, "rel error %g", r.inputs[0].max_rel_error);
    cr_expect_gt(r.inputs[0].max_abs_grad, 0.5);
    tg_gradcheck_report_free(&r);
    tg_ctx_free(ctx);
}

/* A backward that is off on two elements: f = x² but the tape's gradient is
 * short by cᵢ·rᵢ, through a detached correction cᵢ·xᵢ (c = user). */
static tg_tensor *nearly_square(tg_tensor *const *in, void *user)
{
    tg_tensor *shift = tg_mul(in[0], user);
    return tg_sub(tg_add(tg_mul(in[0], in[0]), tg_detach(shift)), shift);
}

Test(gradcheck, the_element_shown_is_the_one_furthest_outside_its_tolerance)
{
    tg_ctx *ctx = tg_ctx_new(1);
    /* element 0 (gradient about 200) is off by about 1e-3, within its
     * relative tolerance of about 2e-3; element 2 (gradient about 0.5) is off
     * by only 1e-4 but far outside its 5e-6: element 2 decides the verdict,
     * although element 0 has the larger absolute error */
    tg_tensor *x = param(ctx, TG_SHAPE(3), (double[]){100, 0.5, 0.25});
    tg_tensor *c = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3), (double[]){1e-3, 0, 1e-4});
    tg_gradcheck_report r;
    /* central differences are exact for a quadratic: a wide step leaves only round-off */
    tg_gradcheck_options o = {.step = 1e-3, .abs_tol = 1e-7, .rel_tol = 1e-5};
    cr_assert_eq(tg_gradcheck(ctx, nearly_square, c, 1, &x, &o, &r), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_not(r.passed);
    cr_expect_eq(r.inputs[0].worst_index, 2);
    cr_expect_gt(r.inputs[0].max_abs_error, 0.4e-3, "element 0's error is the largest in absolute terms");
    /* the contraction weights r lie in [0.5, 1.5]: fd - tape = 1e-4·r₂ */
    double off = r.inputs[0].worst_fd - r.inputs[0].worst_tape;
    cr_expect(off > 0.5e-4 && off < 1.5e-4, "tape %.12g fd %.12g", r.inputs[0].worst_tape, r.inputs[0].worst_fd);
    tg_gradcheck_report_free(&r);
    tg_ctx_free(ctx);
}

/* Σᵢ (i+1)·xᵢ² over twenty inputs, as a transformer's parameters would be */
enum { MANY = 20 };
static tg_tensor *weighted_squares(tg_tensor *const *in, void *user)
{
    (void)user;
    tg_tensor *total = NULL;
    for (int i = 0; i < MANY; i++) {
        tg_tensor *term = tg_mul_scalar(tg_sum(tg_mul(in[i], in[i])), i + 1);
        total = total ? tg_add(total, term) : term;
    }
    return total;
}

Test(gradcheck, twenty_inputs_are_checked_in_one_call)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(5);
    tg_tensor *in[MANY];
    for (int i = 0; i < MANY; i++) {
        in[i] = tg_tensor_rand(ctx, &rng, TG_F64, TG_SHAPE(2, i % 3 + 1), -1, 1);
        tg_tensor_set_requires_grad(in[i], true);
    }
    tg_gradcheck_report r;
    cr_assert_eq(tg_gradcheck(ctx, weighted_squares, NULL, MANY, in, NULL, &r), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect(r.passed);
    cr_assert_eq(r.n_inputs, MANY);
    for (int i = 0; i < MANY; i++) {
        cr_expect_eq(r.inputs[i].checked, tg_tensor_size(in[i]), "input %d", i);
        cr_expect_gt(r.inputs[i].max_abs_grad, 0, "input %d", i);
    }
    tg_gradcheck_report_free(&r);
    cr_assert_eq(tg_gradgradcheck(ctx, weighted_squares, NULL, MANY, in, &(tg_gradcheck_options){.step = 1e-5}, &r),
                 TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect(r.passed);
    cr_expect_not(r.vacuous);
    tg_gradcheck_report_free(&r);
    tg_ctx_free(ctx);
}
