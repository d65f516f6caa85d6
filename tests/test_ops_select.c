/* Selecting, joining and reducing along an axis: forward values against
 * hand-computed numbers in f32 and f64 (and i64 where data only moves),
 * gradients where they say something the gradcheck table cannot (repeated
 * indices, ties, more than three inputs), and every bad input as an error
 * that names the op and lets the program carry on. */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"
#include "tests/support.h"

#include "examples/elman_rnn.h" /* the model examples/elman_rnn.c trains */

static tg_ctx *ctx;
static void setup(void) { ctx = tg_ctx_new(1); }
static void teardown(void) { tg_ctx_free(ctx); }

TestSuite(ops_select, .init = setup, .fini = teardown);

#define BOTH_DTYPES for (tg_dtype dt = TG_F32; dt <= TG_F64; dt++)
#define ALL_DTYPES for (tg_dtype dt = TG_F32; dt <= TG_I64; dt++)

static tg_tensor *make(tg_dtype dtype, int rank, const int64_t *shape, const double *values)
{
    tg_tensor *t = tg_tensor_from(ctx, dtype, rank, shape, values);
    cr_assert_not_null(t, "%s", tg_ctx_error(ctx));
    return t;
}

static tg_tensor *indices(int rank, const int64_t *shape, const double *values)
{
    return make(TG_I64, rank, shape, values);
}

static void expect_values(const tg_tensor *t, int rank, const int64_t *shape, const double *want)
{
    cr_assert_not_null(t, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_tensor_rank(t), rank);
    for (int d = 0; d < rank; d++)
        cr_assert_eq(tg_tensor_shape(t)[d], shape[d], "dim %d: %lld, expected %lld", d,
                     (long long)tg_tensor_shape(t)[d], (long long)shape[d]);
    double tol = tg_tensor_dtype(t) == TG_F32 ? 1e-5 : 1e-12;
    for (int64_t i = 0; i < tg_tensor_size(t); i++)
        cr_expect(fabs(tg_tensor_get(t, i) - want[i]) <= tol * (1 + fabs(want[i])), "element %lld: %.9g, expected %.9g",
                  (long long)i, tg_tensor_get(t, i), want[i]);
}

/* The call failed with status, its message holds every fragment, and the
 * context works again once the error is cleared. */
static void expect_failed(const tg_tensor *result, tg_status status, const char *const *fragments)
{
    cr_expect_null(result);
    expect_error(ctx, status, fragments);
    tg_tensor *ok = tg_add_scalar(tg_tensor_scalar(ctx, TG_F64, 1), 1);
    cr_expect(ok && tg_tensor_item(ok) == 2, "the program carries on after the error");
}
#define EXPECT_ERROR(result, status, ...) expect_failed((result), (status), FRAGMENTS(__VA_ARGS__))

/* 0, 1, 2, ... in shape */
static tg_tensor *iota(tg_dtype dtype, int rank, const int64_t *shape)
{
    tg_tensor *t = tg_tensor_new(ctx, dtype, rank, shape);
    for (int64_t i = 0; i < tg_tensor_size(t); i++)
        tg_tensor_set(t, i, (double)i);
    return t;
}

/* ---- slice ---- */

Test(ops_select, slice_takes_python_ranges_along_any_axis)
{
    ALL_DTYPES {
        tg_tensor *x = iota(dt, TG_SHAPE(3, 4)); /* rows 0..3, 4..7, 8..11 */
        expect_values(tg_slice(x, 1, 1, 3, 1), TG_SHAPE(3, 2), (double[]){1, 2, 5, 6, 9, 10});
        expect_values(tg_slice(x, 0, 1, 3, 1), TG_SHAPE(2, 4), (double[]){4, 5, 6, 7, 8, 9, 10, 11});
        expect_values(tg_slice(x, -1, 0, 4, 2), TG_SHAPE(3, 2), (double[]){0, 2, 4, 6, 8, 10});
        expect_values(tg_slice(x, 0, -1, 100, 1), TG_SHAPE(1, 4), (double[]){8, 9, 10, 11});
        expect_values(tg_slice(x, 1, -3, -1, 1), TG_SHAPE(3, 2), (double[]){1, 2, 5, 6, 9, 10});
        expect_values(tg_slice(x, 0, -100, 2, 1), TG_SHAPE(2, 4), (double[]){0, 1, 2, 3, 4, 5, 6, 7});
        expect_values(tg_slice(x, 1, 3, 4, 5), TG_SHAPE(3, 1), (double[]){3, 7, 11});
        tg_tensor *t = iota(dt, TG_SHAPE(2, 3, 2));
        expect_values(tg_slice(t, 1, 0, 3, 2), TG_SHAPE(2, 2, 2), (double[]){0, 1, 4, 5, 6, 7, 10, 11});
        cr_expect(!tg_tensor_is_recorded(tg_slice(t, 0, 0, 1, 1)), "a slice of a leaf without gradient is not recorded");
    }
}

Test(ops_select, slice_gradient_lands_in_place_and_zero_elsewhere)
{
    BOTH_DTYPES {
        tg_tensor *x = iota(dt, TG_SHAPE(2, 5));
        tg_tensor_set_requires_grad(x, true);
        tg_tensor *y = tg_add(tg_slice(x, 1, 1, 5, 2), tg_slice(x, 1, 0, 2, 1)); /* cols 1,3 and 0,1 */
        cr_assert_eq(tg_backward_with(y, tg_tensor_ones(ctx, dt, TG_SHAPE(2, 2))), TG_OK, "%s", tg_ctx_error(ctx));
        expect_values(tg_tensor_grad(x), TG_SHAPE(2, 5), (double[]){1, 2, 0, 1, 0, 1, 2, 0, 1, 0});
        tg_tape_reset(ctx);
    }
}

Test(ops_select, slice_rejects_a_zero_or_negative_step_and_an_empty_range)
{
    tg_tensor *x = iota(TG_F32, TG_SHAPE(3, 4));
    tg_tensor_set_name(x, "x");
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    EXPECT_ERROR(tg_slice(x, 1, 0, 4, 0), TG_ERR_ARG, "slice", "step 0", "[3, 4]", "expected a step >= 1");
    EXPECT_ERROR(tg_slice(x, 1, 4, 0, -1), TG_ERR_ARG, "slice", "step -1", "expected a step >= 1");
    EXPECT_ERROR(tg_slice(x, 0, 3, 5, 1), TG_ERR_SHAPE, "slice", "[3:5:1]", "selects nothing", "[3, 4]");
    EXPECT_ERROR(tg_slice(x, 1, 2, 2, 1), TG_ERR_SHAPE, "slice", "selects nothing");
    EXPECT_ERROR(tg_slice(x, 2, 0, 1, 1), TG_ERR_ARG, "slice", "axis 2 is out of range", "[3, 4]");
    cr_expect_null(tg_slice(NULL, 0, 0, 1, 1));
}

/* ---- pad ---- */

Test(ops_select, pad_surrounds_with_the_constant)
{
    ALL_DTYPES {
        tg_tensor *x = iota(dt, TG_SHAPE(2, 2));
        expect_values(tg_pad(x, (int64_t[]){1, 0}, (int64_t[]){0, 2}, 7), TG_SHAPE(3, 4),
                      (double[]){7, 7, 7, 7, 0, 1, 7, 7, 2, 3, 7, 7});
        tg_tensor *v = iota(dt, TG_SHAPE(2));
        expect_values(tg_pad(v, (int64_t[]){0}, (int64_t[]){0}, 9), TG_SHAPE(2), (double[]){0, 1});
        tg_tensor *t = iota(dt, TG_SHAPE(1, 1, 2));
        expect_values(tg_pad(t, (int64_t[]){0, 1, 0}, (int64_t[]){1, 0, 1}, -1), TG_SHAPE(2, 2, 3),
                      (double[]){-1, -1, -1, 0, 1, -1, -1, -1, -1, -1, -1, -1});
    }
}

Test(ops_select, pad_rejects_negative_counts_and_a_fractional_integer_value)
{
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    tg_tensor *x = iota(TG_F64, TG_SHAPE(2, 2));
    EXPECT_ERROR(tg_pad(x, (int64_t[]){0, -1}, (int64_t[]){0, 0}, 0), TG_ERR_ARG, "pad", "axis 1", "-1 before",
                 "[2, 2]");
    EXPECT_ERROR(tg_pad(x, NULL, (int64_t[]){0, 0}, 0), TG_ERR_ARG, "pad", "before is NULL");
    EXPECT_ERROR(tg_pad(iota(TG_I64, TG_SHAPE(2)), (int64_t[]){1}, (int64_t[]){1}, 0.5), TG_ERR_ARG, "pad", "0.5",
                 "whole number");
}

/* ---- index_select, index_add ---- */

Test(ops_select, index_select_picks_rows_in_any_order_with_repeats)
{
    ALL_DTYPES {
        tg_tensor *x = iota(dt, TG_SHAPE(3, 2));
        tg_tensor *rows = indices(TG_SHAPE(4), (double[]){2, 0, 2, 1});
        expect_values(tg_index_select(x, 0, rows), TG_SHAPE(4, 2), (double[]){4, 5, 0, 1, 4, 5, 2, 3});
        tg_tensor *cols = indices(TG_SHAPE(3), (double[]){1, 1, 0});
        expect_values(tg_index_select(x, -1, cols), TG_SHAPE(3, 3), (double[]){1, 1, 0, 3, 3, 2, 5, 5, 4});
        tg_tensor *t = iota(dt, TG_SHAPE(2, 3, 2));
        expect_values(tg_index_select(t, 1, indices(TG_SHAPE(1), (double[]){2})), TG_SHAPE(2, 1, 2),
                      (double[]){4, 5, 10, 11});
    }
}

Test(ops_select, embedding_lookup_gradient_sums_repeated_rows)
{
    BOTH_DTYPES {
        /* an embedding table [4, 2]; tokens 1, 3, 1, 1 */
        tg_tensor *table = iota(dt, TG_SHAPE(4, 2));
        tg_tensor_set_requires_grad(table, true);
        tg_tensor *tokens = indices(TG_SHAPE(4), (double[]){1, 3, 1, 1});
        tg_tensor *upstream = make(dt, TG_SHAPE(4, 2), (double[]){1, 10, 2, 20, 3, 30, 4, 40});
        tg_tensor *looked_up = tg_index_select(table, 0, tokens);
        cr_assert_eq(tg_backward_with(looked_up, upstream), TG_OK, "%s", tg_ctx_error(ctx));
        expect_values(tg_tensor_grad(table), TG_SHAPE(4, 2), (double[]){0, 0, 8, 80, 0, 0, 2, 20});
        expect_values(tg_index_add(upstream, 0, tokens, 5), TG_SHAPE(5, 2), (double[]){0, 0, 8, 80, 0, 0, 2, 20, 0, 0});
        tg_tape_reset(ctx);
    }
}

Test(ops_select, index_ops_reject_out_of_range_and_float_indices)
{
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    tg_tensor *x = iota(TG_F32, TG_SHAPE(3, 2));
    EXPECT_ERROR(tg_index_select(x, 0, indices(TG_SHAPE(3), (double[]){0, 3, 1})), TG_ERR_ARG, "index_select",
                 "at [1] is 3", "expected 0 to 2", "axis 0 of [3, 2]");
    EXPECT_ERROR(tg_index_select(x, 1, indices(TG_SHAPE(1), (double[]){-1})), TG_ERR_ARG, "index_select", "is -1",
                 "expected 0 to 1");
    tg_tensor *floats = make(TG_F32, TG_SHAPE(2), (double[]){0, 1});
    tg_tensor_set_name(floats, "rows");
    EXPECT_ERROR(tg_index_select(x, 0, floats), TG_ERR_ARG, "index_select", "rows [2] is f32", "expected i64");
    EXPECT_ERROR(tg_index_select(x, 0, indices(TG_SHAPE(1, 2), (double[]){0, 1})), TG_ERR_SHAPE, "index_select",
                 "[1, 2]", "expected rank 1");
    EXPECT_ERROR(tg_index_select(x, 0, NULL), TG_ERR_ARG, "index_select", "index is NULL");
    EXPECT_ERROR(tg_index_add(x, 0, indices(TG_SHAPE(3), (double[]){0, 1, 5}), 4), TG_ERR_ARG, "index_add", "is 5",
                 "expected 0 to 3");
    EXPECT_ERROR(tg_index_add(x, 0, indices(TG_SHAPE(2), (double[]){0, 1}), 4), TG_ERR_SHAPE, "index_add",
                 "one index per source row");
    EXPECT_ERROR(tg_index_add(iota(TG_I64, TG_SHAPE(2)), 0, indices(TG_SHAPE(2), (double[]){0, 1}), 2), TG_ERR_ARG,
                 "index_add", "is i64", "expected f32 or f64");
}

/* ---- gather, scatter_add ---- */

Test(ops_select, gather_picks_one_element_per_index_position)
{
    ALL_DTYPES {
        tg_tensor *x = iota(dt, TG_SHAPE(2, 3)); /* 0 1 2 / 3 4 5 */
        expect_values(tg_gather(x, 1, indices(TG_SHAPE(2, 2), (double[]){2, 0, 1, 1})), TG_SHAPE(2, 2),
                      (double[]){2, 0, 4, 4});
        expect_values(tg_gather(x, 0, indices(TG_SHAPE(1, 3), (double[]){1, 0, 1})), TG_SHAPE(1, 3),
                      (double[]){3, 1, 5});
        expect_values(tg_gather(x, 0, indices(TG_SHAPE(3, 1), (double[]){1, 0, 1})), TG_SHAPE(3, 1),
                      (double[]){3, 0, 3});
    }
}

Test(ops_select, gather_gradient_is_a_scatter_add_that_sums_repeats)
{
    BOTH_DTYPES {
        tg_tensor *x = iota(dt, TG_SHAPE(2, 3));
        tg_tensor_set_requires_grad(x, true);
        tg_tensor *index = indices(TG_SHAPE(2, 3), (double[]){2, 2, 0, 1, 1, 1});
        tg_tensor *upstream = make(dt, TG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
        cr_assert_eq(tg_backward_with(tg_gather(x, 1, index), upstream), TG_OK, "%s", tg_ctx_error(ctx));
        expect_values(tg_tensor_grad(x), TG_SHAPE(2, 3), (double[]){3, 0, 3, 0, 15, 0});
        expect_values(tg_scatter_add(upstream, 1, index, TG_SHAPE(2, 4)), TG_SHAPE(2, 4),
                      (double[]){3, 0, 3, 0, 0, 15, 0, 0});
        tg_tape_reset(ctx);
    }
}

Test(ops_select, gather_and_scatter_add_reject_bad_indices_and_shapes)
{
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    tg_tensor *x = iota(TG_F64, TG_SHAPE(2, 3));
    EXPECT_ERROR(tg_gather(x, 1, indices(TG_SHAPE(2, 1), (double[]){0, 3})), TG_ERR_ARG, "gather", "at [1, 0] is 3",
                 "expected 0 to 2", "axis 1 of [2, 3]");
    EXPECT_ERROR(tg_gather(x, 1, indices(TG_SHAPE(2), (double[]){0, 1})), TG_ERR_SHAPE, "gather", "index [2]",
                 "expected rank 2");
    EXPECT_ERROR(tg_gather(x, 1, indices(TG_SHAPE(3, 1), (double[]){0, 1, 2})), TG_ERR_SHAPE, "gather", "[3, 1]");
    EXPECT_ERROR(tg_gather(x, 0, make(TG_F64, TG_SHAPE(1, 1), (double[]){0})), TG_ERR_ARG, "gather", "is f64",
                 "expected i64");
    tg_tensor *src = iota(TG_F64, TG_SHAPE(2, 1));
    EXPECT_ERROR(tg_scatter_add(src, 1, indices(TG_SHAPE(2, 1), (double[]){0, 4}), TG_SHAPE(2, 4)), TG_ERR_ARG,
                 "scatter_add", "is 4", "expected 0 to 3");
    EXPECT_ERROR(tg_scatter_add(src, 1, indices(TG_SHAPE(1, 1), (double[]){0}), TG_SHAPE(2, 4)), TG_ERR_SHAPE,
                 "scatter_add", "expected equal shapes");
    EXPECT_ERROR(tg_scatter_add(src, 1, indices(TG_SHAPE(2, 1), (double[]){0, 0}), 2, NULL), TG_ERR_ARG,
                 "scatter_add", "NULL shape");
}

/* ---- concat, stack ---- */

Test(ops_select, concat_joins_along_any_axis)
{
    ALL_DTYPES {
        tg_tensor *a = iota(dt, TG_SHAPE(2, 1));
        tg_tensor *b = make(dt, TG_SHAPE(2, 2), (double[]){10, 11, 12, 13});
        expect_values(tg_concat(2, (tg_tensor *[]){a, b}, 1), TG_SHAPE(2, 3), (double[]){0, 10, 11, 1, 12, 13});
        expect_values(tg_concat(3, (tg_tensor *[]){b, b, b}, 0), TG_SHAPE(6, 2),
                      (double[]){10, 11, 12, 13, 10, 11, 12, 13, 10, 11, 12, 13});
        expect_values(tg_concat(1, (tg_tensor *[]){a}, -1), TG_SHAPE(2, 1), (double[]){0, 1});
    }
}

Test(ops_select, stack_adds_a_new_axis)
{
    ALL_DTYPES {
        tg_tensor *a = iota(dt, TG_SHAPE(2, 2));
        tg_tensor *b = make(dt, TG_SHAPE(2, 2), (double[]){10, 11, 12, 13});
        expect_values(tg_stack(2, (tg_tensor *[]){a, b}, 0), TG_SHAPE(2, 2, 2), (double[]){0, 1, 2, 3, 10, 11, 12, 13});
        expect_values(tg_stack(2, (tg_tensor *[]){a, b}, 1), TG_SHAPE(2, 2, 2), (double[]){0, 1, 10, 11, 2, 3, 12, 13});
        expect_values(tg_stack(2, (tg_tensor *[]){a, b}, -1), TG_SHAPE(2, 2, 2), (double[]){0, 10, 1, 11, 2, 12, 3, 13});
        tg_tensor *s = tg_tensor_scalar(ctx, dt, 5);
        expect_values(tg_stack(3, (tg_tensor *[]){s, s, s}, 0), TG_SHAPE(3), (double[]){5, 5, 5});
    }
}

/* f(xs) = concat of five inputs, squared: more inputs than the table holds */
static tg_tensor *concat_five(tg_tensor *const *in, void *user)
{
    (void)user;
    tg_tensor *y = tg_concat(5, in, 1);
    return tg_mul(y, y);
}

Test(ops_select, concat_of_five_inputs_passes_both_gradient_checks)
{
    tg_rng rng = tg_rng_seed(3);
    tg_tensor *in[5];
    for (int i = 0; i < 5; i++) {
        in[i] = tg_tensor_rand(ctx, &rng, TG_F64, TG_SHAPE(2, i % 2 + 1), -1, 1);
        tg_tensor_set_requires_grad(in[i], true);
    }
    tg_gradcheck_report report;
    tg_gradcheck_options opts = {.step = 1e-6, .abs_tol = 1e-7, .rel_tol = 1e-6};
    cr_assert_eq(tg_gradcheck(ctx, concat_five, NULL, 5, in, &opts, &report), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect(report.passed);
    tg_gradcheck_report_free(&report);
    opts.step = 1e-5;
    cr_assert_eq(tg_gradgradcheck(ctx, concat_five, NULL, 5, in, &opts, &report), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect(report.passed);
    for (int i = 0; i < 5; i++)
        cr_expect_gt(report.inputs[i].max_abs_grad, 1e-3, "input %d", i);
    tg_gradcheck_report_free(&report);
}

Test(ops_select, concat_and_stack_reject_mismatched_inputs)
{
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    tg_tensor *a = iota(TG_F32, TG_SHAPE(2, 3)), *b = iota(TG_F32, TG_SHAPE(3, 2));
    EXPECT_ERROR(tg_concat(2, (tg_tensor *[]){a, b}, 0), TG_ERR_SHAPE, "concat", "input 1 has shape [3, 2]",
                 "input 0 [2, 3]", "except along axis 0");
    EXPECT_ERROR(tg_concat(2, (tg_tensor *[]){a, iota(TG_F32, TG_SHAPE(2, 3, 1))}, 1), TG_ERR_SHAPE, "concat",
                 "[2, 3, 1]");
    EXPECT_ERROR(tg_concat(2, (tg_tensor *[]){a, iota(TG_F64, TG_SHAPE(2, 3))}, 0), TG_ERR_ARG, "concat",
                 "input 1 is f64", "input 0 is f32");
    EXPECT_ERROR(tg_concat(2, (tg_tensor *[]){a, NULL}, 0), TG_ERR_ARG, "concat", "input 1 of 2 is NULL");
    EXPECT_ERROR(tg_concat(1, (tg_tensor *[]){a}, 2), TG_ERR_ARG, "concat", "axis 2 is out of range");
    cr_expect_null(tg_concat(0, (tg_tensor *[]){a}, 0));
    cr_expect_null(tg_concat(1, NULL, 0));
    EXPECT_ERROR(tg_stack(2, (tg_tensor *[]){a, b}, 0), TG_ERR_SHAPE, "stack", "input 1 has shape [3, 2]",
                 "expected equal shapes");
    EXPECT_ERROR(tg_stack(2, (tg_tensor *[]){a, a}, 3), TG_ERR_ARG, "stack", "axis 3 is out of range");
    tg_tensor *r6 = iota(TG_F32, TG_SHAPE(1, 1, 1, 1, 1, 2));
    EXPECT_ERROR(tg_stack(1, (tg_tensor *[]){r6}, 0), TG_ERR_SHAPE, "stack", "maximum rank 6");
}

/* ---- detach ---- */

Test(ops_select, detach_keeps_values_and_stops_the_gradient)
{
    BOTH_DTYPES {
        tg_tensor *x = make(dt, TG_SHAPE(2), (double[]){3, -2});
        tg_tensor_set_requires_grad(x, true);
        tg_tensor *d = tg_detach(x);
        expect_values(d, TG_SHAPE(2), (double[]){3, -2});
        cr_expect(!tg_tensor_requires_grad(d) && !tg_tensor_is_recorded(d));
        /* y = x·detach(x): dy/dx = detach(x) only, not 2x */
        cr_assert_eq(tg_backward(tg_sum(tg_mul(x, d))), TG_OK, "%s", tg_ctx_error(ctx));
        expect_values(tg_tensor_grad(x), TG_SHAPE(2), (double[]){3, -2});
        tg_tape_reset(ctx);
    }
    cr_expect_null(tg_detach(NULL));
}

Test(ops_select, a_diagram_draws_every_input_of_a_five_way_concat)
{
    tg_tensor *in[5];
    for (int i = 0; i < 5; i++) {
        in[i] = tg_tensor_full(ctx, TG_F64, TG_SHAPE(1), i + 1.0);
        tg_tensor_set_requires_grad(in[i], true);
    }
    tg_tensor *loss = tg_sum(tg_mul(tg_concat(5, in, 0), tg_concat(5, in, 0)));
    cr_assert_eq(tg_backward(loss), TG_OK, "%s", tg_ctx_error(ctx));
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    cr_assert_not_null(f);
    tg_dot_options opts = {.grads_of = loss, .edge_derivatives = true};
    cr_expect_eq(tg_dot_write(f, 1, &loss, &opts), TG_OK, "%s", tg_ctx_error(ctx));
    fclose(f);
    cr_expect(strstr(text, "concat(axis=0)"), "%s", text);
    for (int i = 0; i < 5; i++) {
        char edge[32];
        snprintf(edge, sizeof edge, "leaf%d -> op", i);
        cr_expect(strstr(text, edge), "no edge from input %d", i);
    }
    free(text);
}

/* ---- max, min, argmax, argmin, logsumexp ---- */

Test(ops_select, max_and_min_along_an_axis_return_values_and_positions)
{
    BOTH_DTYPES {
        tg_tensor *x = make(dt, TG_SHAPE(2, 3), (double[]){1, 5, -2, 7, 0, 7});
        tg_tensor *at = NULL;
        expect_values(tg_max_axis(x, 1, false, &at), TG_SHAPE(2), (double[]){5, 7});
        expect_values(at, TG_SHAPE(2), (double[]){1, 0});
        cr_expect_eq(tg_tensor_dtype(at), TG_I64);
        expect_values(tg_min_axis(x, 0, true, &at), TG_SHAPE(1, 3), (double[]){1, 0, -2});
        expect_values(at, TG_SHAPE(1, 3), (double[]){0, 1, 0});
        expect_values(tg_max_axis(x, 0, false, NULL), TG_SHAPE(3), (double[]){7, 5, 7});
        expect_values(tg_argmax(x, -1, false), TG_SHAPE(2), (double[]){1, 0});
        expect_values(tg_argmin(x, -1, true), TG_SHAPE(2, 1), (double[]){2, 1});
        expect_values(tg_argmax(x, 0, false), TG_SHAPE(3), (double[]){1, 0, 1});
        tg_tensor *v = make(dt, TG_SHAPE(4), (double[]){3, -1, 8, 2});
        expect_values(tg_max_axis(v, 0, false, NULL), 0, NULL, (double[]){8});
        expect_values(tg_argmin(v, 0, false), 0, NULL, (double[]){1});
    }
}

Test(ops_select, ties_go_to_the_first_position_with_the_whole_gradient)
{
    BOTH_DTYPES {
        tg_tensor *x = make(dt, TG_SHAPE(2, 4), (double[]){2, 9, 9, 9, -1, -1, 3, -1});
        tg_tensor_set_requires_grad(x, true);
        tg_tensor *at_max = NULL, *at_min = NULL;
        tg_tensor *hi = tg_max_axis(x, 1, false, &at_max), *lo = tg_min_axis(x, 1, false, &at_min);
        expect_values(at_max, TG_SHAPE(2), (double[]){1, 2});
        expect_values(at_min, TG_SHAPE(2), (double[]){0, 0});
        expect_values(tg_argmax(x, 1, false), TG_SHAPE(2), (double[]){1, 2});
        expect_values(tg_argmin(x, 1, false), TG_SHAPE(2), (double[]){0, 0});
        cr_assert_eq(tg_backward(tg_sum(tg_add(hi, tg_mul_scalar(lo, 10)))), TG_OK, "%s", tg_ctx_error(ctx));
        expect_values(tg_tensor_grad(x), TG_SHAPE(2, 4), (double[]){10, 1, 0, 0, 10, 0, 1, 0});
        tg_tape_reset(ctx);
    }
}

Test(ops_select, a_nan_in_a_row_is_its_max_and_its_min)
{
    tg_tensor *x = make(TG_F64, TG_SHAPE(1, 3), (double[]){1, NAN, 5});
    cr_expect(isnan(tg_tensor_get(tg_max_axis(x, 1, false, NULL), 0)));
    cr_expect(isnan(tg_tensor_get(tg_min_axis(x, 1, false, NULL), 0)));
    cr_expect_eq(tg_tensor_get(tg_argmax(x, 1, false), 0), 1);
}

Test(ops_select, logsumexp_is_exact_and_finite_at_plus_and_minus_1000)
{
    BOTH_DTYPES {
        tg_tensor *x = make(dt, TG_SHAPE(2, 3), (double[]){0, 0, 0, 1, 2, 3});
        expect_values(tg_logsumexp(x, 1, false), TG_SHAPE(2), (double[]){log(3.0), 3 + log(1 + exp(-1.0) + exp(-2.0))});
        expect_values(tg_logsumexp(x, 0, true), TG_SHAPE(1, 3),
                      (double[]){log(1 + exp(1.0)), log(1 + exp(2.0)), log(1 + exp(3.0))});
        tg_tensor *big = make(dt, TG_SHAPE(3, 2), (double[]){1000, 1000, -1000, -1000, 1000, -1000});
        tg_tensor_set_requires_grad(big, true);
        tg_tensor *y = tg_logsumexp(big, -1, false);
        expect_values(y, TG_SHAPE(3), (double[]){1000 + log(2.0), -1000 + log(2.0), 1000});
        cr_assert_eq(tg_backward(tg_sum(y)), TG_OK, "%s", tg_ctx_error(ctx));
        expect_values(tg_tensor_grad(big), TG_SHAPE(3, 2), (double[]){0.5, 0.5, 0.5, 0.5, 1, 0});
        tg_tensor *ninf = make(dt, TG_SHAPE(2), (double[]){-INFINITY, -INFINITY});
        cr_expect(isinf(tg_tensor_item(tg_logsumexp(ninf, 0, false))) && tg_tensor_item(tg_logsumexp(ninf, 0, false)) < 0);
        tg_tape_reset(ctx);
    }
}

Test(ops_select, reductions_along_an_axis_reject_bad_axes_and_integer_input)
{
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    tg_tensor *x = iota(TG_F32, TG_SHAPE(2, 3));
    tg_tensor *at = x;
    EXPECT_ERROR(tg_max_axis(x, 2, false, &at), TG_ERR_ARG, "max_axis", "axis 2 is out of range", "[2, 3]");
    cr_expect_null(at, "a failed call leaves no stale positions");
    EXPECT_ERROR(tg_min_axis(x, -3, false, NULL), TG_ERR_ARG, "min_axis", "axis -3");
    EXPECT_ERROR(tg_argmax(iota(TG_I64, TG_SHAPE(3)), 0, false), TG_ERR_ARG, "argmax", "i64", "expected f32 or f64");
    EXPECT_ERROR(tg_logsumexp(tg_tensor_scalar(ctx, TG_F32, 1), 0, false), TG_ERR_SHAPE, "logsumexp", "scalar");
    cr_expect_null(tg_argmin(NULL, 0, false));
}

/* ---- cross_entropy with i64 class indices ---- */

Test(ops_select, cross_entropy_takes_i64_class_indices_like_float_ones)
{
    BOTH_DTYPES {
        tg_tensor *logits = make(dt, TG_SHAPE(3, 4), (double[]){1, 2, 0, -1, 0, 0, 3, 1, -2, 5, 1, 0});
        tg_tensor_set_requires_grad(logits, true);
        tg_tensor *as_i64 = indices(TG_SHAPE(3), (double[]){1, 2, 0});
        tg_tensor *as_float = make(dt, TG_SHAPE(3), (double[]){1, 2, 0});
        tg_tensor *a = tg_cross_entropy(logits, as_i64), *b = tg_cross_entropy(logits, as_float);
        cr_assert(a && b, "%s", tg_ctx_error(ctx));
        cr_expect_float_eq(tg_tensor_item(a), tg_tensor_item(b), 1e-12);
        cr_expect_gt(tg_tensor_item(a), 0.5);
        tg_tensor *ga, *gb;
        cr_assert_eq(tg_grad(a, NULL, 1, &logits, &ga, false), TG_OK, "%s", tg_ctx_error(ctx));
        cr_assert_eq(tg_grad(b, NULL, 1, &logits, &gb, false), TG_OK, "%s", tg_ctx_error(ctx));
        for (int64_t i = 0; i < 12; i++)
            cr_expect_float_eq(tg_tensor_get(ga, i), tg_tensor_get(gb, i), 1e-12, "element %lld", (long long)i);
        tg_tape_reset(ctx);
    }
}

Test(ops_select, cross_entropy_rejects_i64_indices_out_of_range_or_misshaped)
{
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    tg_tensor *logits = iota(TG_F32, TG_SHAPE(2, 3));
    EXPECT_ERROR(tg_cross_entropy(logits, indices(TG_SHAPE(2), (double[]){0, 3})), TG_ERR_ARG, "cross_entropy",
                 "target 1 is 3", "expected a class index 0 to 2");
    EXPECT_ERROR(tg_cross_entropy(logits, indices(TG_SHAPE(2), (double[]){-1, 0})), TG_ERR_ARG, "cross_entropy",
                 "target 0 is -1");
    EXPECT_ERROR(tg_cross_entropy(logits, indices(TG_SHAPE(2, 3), (double[]){0, 0, 0, 0, 0, 0})), TG_ERR_SHAPE,
                 "cross_entropy", "i64 targets [2, 3]", "expected class indices [2]");
    EXPECT_ERROR(tg_cross_entropy(logits, indices(TG_SHAPE(3), (double[]){0, 0, 0})), TG_ERR_SHAPE, "cross_entropy",
                 "expected class indices [2]");
}

/* ---- the Elman RNN example: slice per time step, argmax for accuracy ---- */

Test(ops_select, elman_rnn_over_sliced_time_steps_learns_to_count_bits)
{
    enum { T = 6, TEST = 512 };
    tg_rng rng = tg_rng_seed(11);
    elman_rnn model;
    elman_init(&model, ctx, 16, T + 1, &rng);
    tg_tensor *test_x = tg_tensor_new(ctx, TG_F32, TG_SHAPE(T, TEST, ELMAN_FEATURES));
    tg_tensor *test_y = tg_tensor_new(ctx, TG_I64, TG_SHAPE(TEST));
    elman_sample(test_x, test_y, &rng);
    double before = elman_evaluate(&model, test_x, test_y);
    double loss = elman_train(&model, T, 32, 500, 0.01, &rng);
    double after = elman_evaluate(&model, test_x, test_y);
    cr_assert_eq(tg_ctx_status(ctx), TG_OK, "%s", tg_ctx_error(ctx));
    /* the best constant guess (3 ones of 6) is right C(6,3)/2⁶ ≈ 31% of the time */
    cr_expect_lt(before, 0.5, "untrained: %.3f", before);
    cr_expect_gt(after, 0.9, "trained: %.3f (loss %.4f)", after, loss);
    cr_expect_lt(loss, 0.3);
}
