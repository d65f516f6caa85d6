/* Misuse that used to crash or pass silently: element counts that overflow,
 * NULL or foreign arguments, freed and stale tensors (checked mode catches
 * every stale use), an axis out of range, log-softmax near the f32 limit,
 * messages that name tensors, tg_backward at the end of a failed chain, and
 * TG_INIT_ZEROS without an rng. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tapegrad.h"
#include "tests/support.h"

static tg_ctx *ctx;

static void setup(void)
{
    ctx = tg_ctx_new(1);
    tg_ctx_set_error_handler(ctx, NULL, NULL);
}

static void teardown(void) { tg_ctx_free(ctx); }

TestSuite(api_misuse, .init = setup, .fini = teardown);

Test(api_misuse, element_counts_that_overflow_are_shape_errors)
{
    const int64_t big[2] = {(int64_t)1 << 31, (int64_t)1 << 31}, huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    cr_expect_null(tg_tensor_new(ctx, TG_F32, 2, big));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("more than 2^40 elements"));
    cr_expect_null(tg_tensor_ones(ctx, TG_F64, 2, huge));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("[1099511627776, 1099511627776]"));
    cr_expect_null(tg_tensor_temp(ctx, TG_F32, 2, big));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS(NULL));
    tg_tensor *one = tg_tensor_ones(ctx, TG_F32, TG_SHAPE(1, 1));
    cr_expect_null(tg_expand(one, 2, big));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("expand"));
    cr_expect_null(tg_reshape(one, 2, huge));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("reshape"));
    /* a broadcast of two legal shapes whose result is too big */
    tg_tensor *col = tg_tensor_temp(ctx, TG_F32, TG_SHAPE((int64_t)1 << 21, 1));
    tg_tensor *row = tg_tensor_temp(ctx, TG_F32, TG_SHAPE(1, (int64_t)1 << 20));
    cr_assert(col && row);
    cr_expect_null(tg_add(col, row));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("more than 2^40"));
}

Test(api_misuse, copy_and_grad_with_null_are_errors)
{
    tg_tensor *x = tg_tensor_ones(ctx, TG_F64, TG_SHAPE(2));
    tg_tensor_set_name(x, "x");
    cr_expect_eq(tg_tensor_copy(x, NULL), TG_ERR_ARG);
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("NULL source for x [2]"));
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = tg_sum(tg_mul(x, x));
    tg_tensor *inputs[2] = {x, NULL}, *grads[2];
    cr_expect_eq(tg_grad(y, NULL, 2, inputs, grads, false), TG_ERR_ARG);
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("input 1 is NULL"));
    cr_expect_eq(tg_grad(y, NULL, 1, NULL, grads, false), TG_ERR_ARG);
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS(NULL));
}

Test(api_misuse, upstream_from_another_context_is_an_error_in_the_outputs_context)
{
    tg_ctx *other = tg_ctx_new(1);
    tg_ctx_set_error_handler(other, NULL, NULL);
    tg_tensor *x = tg_tensor_ones(ctx, TG_F64, TG_SHAPE(3));
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = tg_mul_scalar(x, 2);
    tg_tensor *up = tg_tensor_ones(other, TG_F64, TG_SHAPE(3));
    cr_expect_eq(tg_backward_with(y, up), TG_ERR_ARG);
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("another context"));
    cr_expect_eq(tg_ctx_status(other), TG_OK, "the other context holds nothing");
    cr_expect_null(tg_tensor_grad(x), "nothing was computed");
    tg_ctx_free(other);
}

Test(api_misuse, dim_out_of_range_is_minus_one_with_an_error)
{
    tg_tensor *x = tg_tensor_new(ctx, TG_F32, TG_SHAPE(5, 3));
    cr_expect_eq(tg_tensor_dim(x, 1), 3);
    cr_expect_eq(tg_tensor_dim(x, -2), 5);
    cr_expect_eq(tg_tensor_dim(x, 7), -1);
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("axis 7 of [5, 3]"));
    cr_expect_eq(tg_tensor_dim(x, -3), -1);
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS(NULL));
    cr_expect(isnan(tg_tensor_get(x, 15)));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("flat index 15"));
}

Test(api_misuse, freed_tensors_are_reported_not_crashes)
{
    tg_tensor *x = tg_tensor_ones(ctx, TG_F32, TG_SHAPE(4));
    tg_tensor_set_name(x, "layer.weight");
    tg_tensor_free(x);
    cr_expect(isnan(tg_tensor_get(x, 0)));
    expect_error(ctx, TG_ERR_FREED, FRAGMENTS(NULL));
    tg_tensor_fill(x, 2);
    expect_error(ctx, TG_ERR_FREED, FRAGMENTS(NULL));
    tg_tensor_set(x, 0, 1);
    expect_error(ctx, TG_ERR_FREED, FRAGMENTS(NULL));
    cr_expect_null(tg_tensor_data(x));
    expect_error(ctx, TG_ERR_FREED, FRAGMENTS(NULL));
    tg_tensor *params[1] = {x};
    cr_expect_eq(tg_checkpoint_save(ctx, "/tmp/tg_never_written.ckpt", (tg_params){1, params}, NULL, 0),
                 TG_ERR_FREED);
    expect_error(ctx, TG_ERR_FREED, FRAGMENTS(NULL));
    FILE *f = fopen("/tmp/tg_never_written.ckpt", "rb");
    cr_expect_null(f, "nothing was written");
    if (f)
        fclose(f);
}

/* Without checked mode a stale step tensor is caught until its memory is
 * reused; with it, every use is caught, however many steps later. */
Test(api_misuse, checked_mode_reports_every_stale_step_tensor)
{
    cr_expect_not(tg_ctx_set_checked(ctx, true));
    tg_tensor *x = tg_tensor_ones(ctx, TG_F32, TG_SHAPE(8));
    tg_tensor *stale = tg_mul_scalar(x, 3);
    cr_assert_not_null(stale);
    for (int step = 0; step < 5; step++) {
        tg_tape_reset(ctx);
        tg_tensor *fresh = tg_mul_scalar(x, 5); /* would reuse stale's memory unchecked */
        cr_assert_not_null(fresh);
        cr_expect(isnan(tg_tensor_get(stale, 0)), "step %d", step);
        expect_error(ctx, TG_ERR_FREED, FRAGMENTS("earlier step"));
        cr_expect_null(tg_sum(stale), "step %d", step);
        expect_error(ctx, TG_ERR_FREED, FRAGMENTS(NULL));
        cr_expect_eq(tg_tensor_get(fresh, 0), 5);
    }
    /* freed persistent headers are never handed out again */
    tg_tensor *gone = tg_tensor_new(ctx, TG_F32, TG_SHAPE(2));
    tg_tensor_free(gone);
    tg_tensor *next = tg_tensor_new(ctx, TG_F32, TG_SHAPE(2));
    cr_expect_neq(next, gone);
    cr_expect(isnan(tg_tensor_get(gone, 0)));
    expect_error(ctx, TG_ERR_FREED, FRAGMENTS(NULL));
    cr_expect(tg_ctx_set_checked(ctx, false));
}

Test(api_misuse, unchecked_mode_reuses_step_memory)
{
    tg_tensor *x = tg_tensor_ones(ctx, TG_F32, TG_SHAPE(8));
    tg_tensor *stale = tg_mul_scalar(x, 3);
    tg_tape_reset(ctx);
    tg_tensor *fresh = tg_mul_scalar(x, 5);
    cr_expect_eq(fresh, stale, "the same header, reused: why checked mode exists");
}

Test(api_misuse, log_softmax_f32_of_equal_values_near_the_limit_is_minus_log_n)
{
    for (int sign = -1; sign <= 1; sign += 2) {
        tg_tensor *z = tg_tensor_full(ctx, TG_F32, TG_SHAPE(1, 4), sign * 1e38);
        tg_tensor *y = tg_log_softmax(z);
        cr_assert_not_null(y);
        for (int j = 0; j < 4; j++)
            cr_expect_float_eq(tg_tensor_get(y, j), -log(4.0), 1e-6, "sign %d: %g", sign, tg_tensor_get(y, j));
    }
}

Test(api_misuse, messages_name_the_tensors_that_have_names)
{
    tg_tensor *w = tg_tensor_new(ctx, TG_F32, TG_SHAPE(5, 3)), *x = tg_tensor_new(ctx, TG_F32, TG_SHAPE(4, 4));
    tg_tensor_set_name(w, "W1");
    tg_tensor_set_name(x, "x");
    cr_expect_null(tg_matmul(w, x));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("matmul: W1 [5, 3] · x [4, 4]"));
    tg_tensor *u = tg_tensor_new(ctx, TG_F32, TG_SHAPE(4, 4));
    cr_expect_null(tg_matmul(w, u));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("W1 [5, 3] · [4, 4]"));
}

Test(api_misuse, backward_of_null_points_at_the_stored_error)
{
    cr_redirect_stderr();
    tg_tensor *a = tg_tensor_new(ctx, TG_F32, TG_SHAPE(2, 3)), *b = tg_tensor_new(ctx, TG_F32, TG_SHAPE(2, 3));
    tg_tensor *loss = tg_sum(tg_matmul(a, b)); /* fails at matmul; sum passes NULL on */
    cr_assert_null(loss);
    cr_expect_eq(tg_backward(loss), TG_ERR_ARG);
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_SHAPE, "the first error is kept");
    fflush(stderr);
    cr_expect_stderr_eq_str("tapegrad: tg_backward: the output is NULL: an op before it failed (or was given NULL); "
                            "the first error is stored in the context: see tg_ctx_error(ctx)\n");
}

/* The suite's context is silenced in setup: its first error prints nothing;
 * after tg_error_print_default is set back, the next one prints as a new
 * context's would. */
Test(api_misuse, the_default_error_printer_can_be_restored_after_silencing)
{
    cr_redirect_stderr();
    tg_tensor *a = tg_tensor_new(ctx, TG_F64, TG_SHAPE(2, 3));
    cr_expect_null(tg_reshape(a, TG_SHAPE(4, 2)));
    tg_ctx_clear_error(ctx);
    tg_ctx_set_error_handler(ctx, tg_error_print_default, NULL);
    cr_expect_null(tg_reshape(a, TG_SHAPE(5, 2)));
    cr_assert(strstr(tg_ctx_error(ctx), "[5, 2]"), "%s", tg_ctx_error(ctx));
    char want[1200];
    snprintf(want, sizeof want, "tapegrad: %s: %s\n", tg_status_name(tg_ctx_status(ctx)), tg_ctx_error(ctx));
    fflush(stderr);
    cr_expect_stderr_eq_str(want);
}

Test(api_misuse, zeros_init_needs_no_rng)
{
    const int64_t widths[] = {3, 4, 2};
    const tg_activation acts[] = {TG_ACT_RELU, TG_ACT_NONE};
    tg_mlp *mlp = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_ZEROS, NULL);
    cr_assert_not_null(mlp, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_get(tg_layer_weight(tg_mlp_layer(mlp, 0)), 5), 0);
    cr_expect_null(tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_XAVIER, NULL));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("rng is NULL"));
    tg_mlp_free(mlp);
}
