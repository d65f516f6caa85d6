/* Forward values of the ops against hand-computed numbers, in both dtypes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/vecmath.h"
#include "tapegrad.h"

static tg_ctx *ctx;
static void setup(void) { ctx = tg_ctx_new(2); }
static void teardown(void) { tg_ctx_free(ctx); }

static tg_tensor *make(tg_dtype dtype, int rank, const int64_t *shape, const double *values)
{
    return tg_tensor_from(ctx, dtype, rank, shape, values);
}

static void expect_values(const tg_tensor *t, int rank, const int64_t *shape, const double *want, double tol)
{
    cr_assert_not_null(t, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_tensor_rank(t), rank);
    for (int d = 0; d < rank; d++)
        cr_assert_eq(tg_tensor_shape(t)[d], shape[d], "dim %d", d);
    for (int64_t i = 0; i < tg_tensor_size(t); i++)
        cr_expect(fabs(tg_tensor_get(t, i) - want[i]) <= tol, "element %lld: %.9g, expected %.9g", (long long)i,
                  tg_tensor_get(t, i), want[i]);
}

#define BOTH_DTYPES for (tg_dtype dt = TG_F32; dt <= TG_F64; dt++)
#define TOL(dt) ((dt) == TG_F32 ? 1e-5 : 1e-12)

TestSuite(ops_forward, .init = setup, .fini = teardown);

Test(ops_forward, matmul_and_its_transposed_forms)
{
    BOTH_DTYPES {
        tg_tensor *a = make(dt, TG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
        tg_tensor *b = make(dt, TG_SHAPE(3, 2), (double[]){7, 8, 9, 10, 11, 12});
        expect_values(tg_matmul(a, b), TG_SHAPE(2, 2), (double[]){58, 64, 139, 154}, TOL(dt));
        expect_values(tg_matmul_t(a, a, false, true), TG_SHAPE(2, 2), (double[]){14, 32, 32, 77}, TOL(dt));
        expect_values(tg_matmul_t(a, a, true, false), TG_SHAPE(3, 3),
                      (double[]){17, 22, 27, 22, 29, 36, 27, 36, 45}, TOL(dt));
        expect_values(tg_matmul_t(b, a, true, true), TG_SHAPE(2, 2), (double[]){58, 139, 64, 154}, TOL(dt));
    }
}

Test(ops_forward, a_large_matmul_matches_a_plain_loop)
{
    tg_rng rng = tg_rng_seed(5);
    tg_tensor *a = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(67, 300), 0, 1);
    tg_tensor *b = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(300, 129), 0, 1);
    tg_tensor *c = tg_matmul(a, b);
    cr_assert_not_null(c);
    for (int64_t i = 0; i < 67; i += 11)
        for (int64_t j = 0; j < 129; j += 7) {
            double want = 0;
            for (int64_t k = 0; k < 300; k++)
                want += tg_tensor_get(a, i * 300 + k) * tg_tensor_get(b, k * 129 + j);
            cr_expect(fabs(tg_tensor_get(c, i * 129 + j) - want) < 1e-3, "c[%lld,%lld]", (long long)i, (long long)j);
        }
}

Test(ops_forward, broadcasting_follows_numpy)
{
    BOTH_DTYPES {
        tg_tensor *m = make(dt, TG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
        tg_tensor *row = make(dt, TG_SHAPE(3), (double[]){10, 20, 30});
        tg_tensor *col = make(dt, TG_SHAPE(2, 1), (double[]){100, 200});
        expect_values(tg_add(m, row), TG_SHAPE(2, 3), (double[]){11, 22, 33, 14, 25, 36}, TOL(dt));
        expect_values(tg_sub(col, m), TG_SHAPE(2, 3), (double[]){99, 98, 97, 196, 195, 194}, TOL(dt));
        expect_values(tg_mul(col, row), TG_SHAPE(2, 3), (double[]){1000, 2000, 3000, 2000, 4000, 6000}, TOL(dt));
        expect_values(tg_div(m, tg_tensor_scalar(ctx, dt, 2)), TG_SHAPE(2, 3), (double[]){.5, 1, 1.5, 2, 2.5, 3}, TOL(dt));
        tg_tensor *a = make(dt, TG_SHAPE(2, 1, 2), (double[]){1, 2, 3, 4});
        tg_tensor *b = make(dt, TG_SHAPE(3, 1), (double[]){10, 20, 30});
        expect_values(tg_add(a, b), TG_SHAPE(2, 3, 2),
                      (double[]){11, 12, 21, 22, 31, 32, 13, 14, 23, 24, 33, 34}, TOL(dt));
        expect_values(tg_expand(row, TG_SHAPE(2, 3)), TG_SHAPE(2, 3), (double[]){10, 20, 30, 10, 20, 30}, TOL(dt));
        expect_values(tg_sum_to(m, TG_SHAPE(3)), TG_SHAPE(3), (double[]){5, 7, 9}, TOL(dt));
        expect_values(tg_sum_to(m, TG_SHAPE(2, 1)), TG_SHAPE(2, 1), (double[]){6, 15}, TOL(dt));
    }
}

Test(ops_forward, scalar_ops_and_maps)
{
    BOTH_DTYPES {
        tg_tensor *x = make(dt, TG_SHAPE(4), (double[]){-2, -0.5, 0, 3});
        expect_values(tg_neg(x), TG_SHAPE(4), (double[]){2, 0.5, 0, -3}, TOL(dt));
        expect_values(tg_add_scalar(x, 1.5), TG_SHAPE(4), (double[]){-0.5, 1, 1.5, 4.5}, TOL(dt));
        expect_values(tg_mul_scalar(x, -2), TG_SHAPE(4), (double[]){4, 1, 0, -6}, TOL(dt));
        expect_values(tg_relu(x), TG_SHAPE(4), (double[]){0, 0, 0, 3}, TOL(dt));
        expect_values(tg_step(x), TG_SHAPE(4), (double[]){0, 0, 0, 1}, TOL(dt));
        expect_values(tg_sigmoid(x), TG_SHAPE(4),
                      (double[]){1 / (1 + exp(2.0)), 1 / (1 + exp(0.5)), 0.5, 1 / (1 + exp(-3.0))}, TOL(dt));
        expect_values(tg_tanh(x), TG_SHAPE(4), (double[]){tanh(-2.0), tanh(-0.5), 0, tanh(3.0)}, TOL(dt));
        expect_values(tg_exp(x), TG_SHAPE(4), (double[]){exp(-2.0), exp(-0.5), 1, exp(3.0)}, 1e-5 * exp(3.0));
        expect_values(tg_log(tg_exp(x)), TG_SHAPE(4), (double[]){-2, -0.5, 0, 3}, TOL(dt));
    }
    /* σ saturates to exactly 0 and 1, never NaN */
    tg_tensor *far = make(TG_F32, TG_SHAPE(2), (double[]){-1000, 1000});
    expect_values(tg_sigmoid(far), TG_SHAPE(2), (double[]){0, 1}, 0);
}

Test(ops_forward, softmax_rows_sum_to_one_and_stay_finite_at_1000)
{
    BOTH_DTYPES {
        tg_tensor *z = make(dt, TG_SHAPE(2, 3), (double[]){1, 2, 3, 1000, -1000, 1000});
        double e1 = exp(1.0), e2 = exp(2.0), e3 = exp(3.0), s = e1 + e2 + e3;
        expect_values(tg_softmax(z), TG_SHAPE(2, 3), (double[]){e1 / s, e2 / s, e3 / s, 0.5, 0, 0.5}, TOL(dt));
        expect_values(tg_log_softmax(z), TG_SHAPE(2, 3),
                      (double[]){1 - log(s), 2 - log(s), 3 - log(s), -log(2.0), -2000 - log(2.0), -log(2.0)},
                      dt == TG_F32 ? 1e-3 : 1e-9);
    }
}

Test(ops_forward, reductions_and_shapes)
{
    BOTH_DTYPES {
        tg_tensor *x = make(dt, TG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
        expect_values(tg_sum(x), 0, NULL, (double[]){21}, TOL(dt));
        expect_values(tg_mean(x), 0, NULL, (double[]){3.5}, TOL(dt));
        expect_values(tg_sum_axis(x, 0, false), TG_SHAPE(3), (double[]){5, 7, 9}, TOL(dt));
        expect_values(tg_sum_axis(x, -1, true), TG_SHAPE(2, 1), (double[]){6, 15}, TOL(dt));
        expect_values(tg_mean_axis(x, 1, false), TG_SHAPE(2), (double[]){2, 5}, TOL(dt));
        expect_values(tg_reshape(x, TG_SHAPE(3, 2)), TG_SHAPE(3, 2), (double[]){1, 2, 3, 4, 5, 6}, TOL(dt));
        expect_values(tg_transpose(x, 0, 1), TG_SHAPE(3, 2), (double[]){1, 4, 2, 5, 3, 6}, TOL(dt));
        tg_tensor *cube = make(dt, TG_SHAPE(2, 2, 2), (double[]){0, 1, 2, 3, 4, 5, 6, 7});
        expect_values(tg_transpose(cube, 0, 2), TG_SHAPE(2, 2, 2), (double[]){0, 4, 2, 6, 1, 5, 3, 7}, TOL(dt));
    }
}

Test(ops_forward, losses)
{
    BOTH_DTYPES {
        tg_tensor *a = make(dt, TG_SHAPE(2, 2), (double[]){1, 2, 3, 4});
        tg_tensor *b = make(dt, TG_SHAPE(2, 2), (double[]){1, 0, 3, 1});
        expect_values(tg_loss_mse(a, b), 0, NULL, (double[]){(4 + 9) / 4.0}, TOL(dt));
        tg_tensor *z = make(dt, TG_SHAPE(2, 3), (double[]){1, 2, 3, 1000, -1000, 0});
        tg_tensor *labels = make(dt, TG_SHAPE(2), (double[]){2, 1});
        tg_tensor *one_hot = make(dt, TG_SHAPE(2, 3), (double[]){0, 0, 1, 0, 1, 0});
        double s = exp(1.0) + exp(2.0) + exp(3.0);
        double want = ((log(s) - 3) + 2000) / 2; /* row 2: -log softmax = 1000 - (-1000) */
        expect_values(tg_cross_entropy(z, labels), 0, NULL, (double[]){want}, dt == TG_F32 ? 1e-3 : 1e-9);
        expect_values(tg_cross_entropy(z, one_hot), 0, NULL, (double[]){want}, dt == TG_F32 ? 1e-3 : 1e-9);
    }
}

Test(ops_forward, threads_give_the_same_matmul)
{
    tg_ctx *one = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(9);
    tg_tensor *a = tg_tensor_randn(one, &rng, TG_F32, TG_SHAPE(256, 200), 0, 1);
    tg_tensor *b = tg_tensor_randn(one, &rng, TG_F32, TG_SHAPE(200, 300), 0, 1);
    tg_tensor *a2 = tg_tensor_new(ctx, TG_F32, TG_SHAPE(256, 200)), *b2 = tg_tensor_new(ctx, TG_F32, TG_SHAPE(200, 300));
    tg_tensor_copy(a2, a);
    tg_tensor_copy(b2, b);
    cr_assert_eq(tg_ctx_threads(ctx), 2);
    tg_tensor *c1 = tg_matmul(a, b), *c2 = tg_matmul(a2, b2);
    for (int64_t i = 0; i < 256 * 300; i++)
        cr_assert(fabs(tg_tensor_get(c1, i) - tg_tensor_get(c2, i)) < 1e-3);
    tg_ctx_free(one);
}

Test(ops_forward, large_elementwise_ops_split_across_threads_give_exact_results)
{
    tg_rng rng = tg_rng_seed(12);
    int64_t n = 300007; /* above the parallel threshold, not a multiple of anything */
    tg_tensor *a = tg_tensor_randn(ctx, &rng, TG_F32, 1, &n, 0, 1);
    tg_tensor *b = tg_tensor_randn(ctx, &rng, TG_F32, 1, &n, 0, 1);
    tg_tensor *prod = tg_mul(a, b), *th = tg_tanh(a);
    cr_assert_not_null(prod);
    cr_assert_not_null(th);
    const float *x = tg_tensor_data(a), *y = tg_tensor_data(b), *p = tg_tensor_data(prod), *t = tg_tensor_data(th);
    /* f32 tanh is the vector kernel (ops/vecmath.h): the threads' pieces must
     * give what one call over the whole array gives, bit for bit */
    float *whole = malloc((size_t)n * sizeof *whole);
    cr_assert_not_null(whole);
    tg_vtanh_f32(x, whole, n);
    for (int64_t i = 0; i < n; i++) {
        cr_assert_eq(p[i], x[i] * y[i], "mul at %lld", (long long)i);
        cr_assert_eq(t[i], whole[i], "tanh at %lld", (long long)i);
    }
    free(whole);
}

/* relu and relu_backward in f32 run 16 lanes a step with a masked tail: on
 * every length 1..40, y = x where x > 0 else +0 (NaN and -0 give +0) and
 * g where x > 0 else +0, bit for bit. */
Test(ops_forward, relu_and_its_derivative_f32_are_exact_on_every_tail_length)
{
    tg_rng rng = tg_rng_seed(13);
    for (int64_t n = 1; n <= 40; n++) {
        tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F32, 1, &n, 0, 1);
        tg_tensor *g = tg_tensor_randn(ctx, &rng, TG_F32, 1, &n, 0, 1);
        float *xs = tg_tensor_data(x);
        for (int64_t i = 0; i < n; i += 3)
            xs[i] = i % 2 ? -0.0f : NAN;
        tg_tensor *y = tg_relu(x), *d = tg_relu_backward(g, x);
        cr_assert(y && d, "%s", tg_ctx_error(ctx));
        const float *ys = tg_tensor_data(y), *gs = tg_tensor_data(g), *ds = tg_tensor_data(d);
        for (int64_t i = 0; i < n; i++) {
            float want_y = xs[i] > 0 ? xs[i] : 0.0f, want_d = xs[i] > 0 ? gs[i] : 0.0f;
            cr_assert(memcmp(&ys[i], &want_y, sizeof want_y) == 0, "n %lld relu[%lld] = %g, expected %g",
                      (long long)n, (long long)i, ys[i], want_y);
            cr_assert(memcmp(&ds[i], &want_d, sizeof want_d) == 0, "n %lld relu_backward[%lld] = %g, expected %g",
                      (long long)n, (long long)i, ds[i], want_d);
        }
        tg_tensor_free(x);
        tg_tensor_free(g);
        tg_tape_reset(ctx);
    }
}

/* f32 sum_axis / mean_axis add 128 columns at a time in registers: each
 * result is still the float sum in row order from 0 (then × 1/len for the
 * mean), bit for bit, on ragged widths around the blocks. */
Test(ops_forward, sum_and_mean_axis_f32_add_rows_in_order_bit_for_bit)
{
    static const int64_t shapes[][3] = {{1, 64, 300}, {3, 7, 17}, {2, 5, 16}, {4, 33, 129}, {2, 3, 15}, {5, 2, 128}};
    tg_rng rng = tg_rng_seed(14);
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (int mean = 0; mean < 2; mean++) {
            const int64_t *sh = shapes[si];
            tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(sh[0], sh[1], sh[2]), 0, 100);
            tg_tensor *y = mean ? tg_mean_axis(x, 1, false) : tg_sum_axis(x, 1, false);
            cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
            const float *xs = tg_tensor_data(x), *ys = tg_tensor_data(y);
            for (int64_t o = 0; o < sh[0]; o++)
                for (int64_t i = 0; i < sh[2]; i++) {
                    float want = 0;
                    for (int64_t j = 0; j < sh[1]; j++)
                        want += xs[(o * sh[1] + j) * sh[2] + i];
                    if (mean)
                        want *= 1.0f / (float)sh[1];
                    cr_assert(memcmp(&ys[o * sh[2] + i], &want, sizeof want) == 0, "shape %zu %s [%lld, %lld] = %.9g, "
                              "expected %.9g", si, mean ? "mean" : "sum", (long long)o, (long long)i,
                              ys[o * sh[2] + i], want);
                }
            tg_tensor_free(x);
            tg_tape_reset(ctx);
        }
}

Test(ops_forward, batched_matmul_multiplies_each_matrix_of_the_stack)
{
    BOTH_DTYPES {
        tg_tensor *a = make(dt, TG_SHAPE(2, 1, 2), (double[]){1, 2, 3, 4});
        tg_tensor *b = make(dt, TG_SHAPE(2, 2, 1), (double[]){5, 6, 7, 8});
        tg_tensor *shared = make(dt, TG_SHAPE(2, 2), (double[]){1, 0, 0, 2});
        expect_values(tg_matmul(a, b), TG_SHAPE(2, 1, 1), (double[]){17, 53}, TOL(dt));
        expect_values(tg_matmul(a, shared), TG_SHAPE(2, 1, 2), (double[]){1, 4, 3, 8}, TOL(dt));
        tg_ctx_set_error_handler(ctx, NULL, NULL); /* the error below is expected */
        cr_expect_null(tg_matmul(a, tg_tensor_zeros(ctx, dt, TG_SHAPE(3, 2, 1))), "batch sizes must agree");
        cr_expect(strstr(tg_ctx_error(ctx), "batch dims differ"), "%s", tg_ctx_error(ctx));
        tg_ctx_clear_error(ctx);
    }
}

Test(ops_forward, linear_adds_the_bias_to_each_row_of_x_times_w_transposed)
{
    BOTH_DTYPES {
        tg_tensor *x = make(dt, TG_SHAPE(2, 2), (double[]){1, 2, 3, 4});
        tg_tensor *w = make(dt, TG_SHAPE(3, 2), (double[]){1, 0, 1, 1, 0, -1});
        tg_tensor *b = make(dt, TG_SHAPE(3), (double[]){10, 20, 30});
        expect_values(tg_linear(x, w, b), TG_SHAPE(2, 3), (double[]){11, 23, 28, 13, 27, 26}, 0);
        expect_values(tg_linear(x, w, NULL), TG_SHAPE(2, 3), (double[]){1, 3, -2, 3, 7, -4}, 0);
        expect_values(tg_linear(make(dt, TG_SHAPE(2), (double[]){1, 2}), w, b), TG_SHAPE(3), (double[]){11, 23, 28}, 0);
    }
}

/* Over several blocks of the GEMM's k (300 > 256), few rows (dot products
 * in place) and many (packed blocks), folded leading axes: the one op gives
 * the bits of matmul then add (the bias is added to each finished tile). */
Test(ops_forward, linear_gives_the_bits_of_matmul_then_add)
{
    tg_rng rng = tg_rng_seed(9);
    const int64_t rows[] = {7, 50};
    BOTH_DTYPES {
        for (int r = 0; r < 2; r++) {
            tg_tensor *x = tg_tensor_randn(ctx, &rng, dt, TG_SHAPE(3, rows[r], 300), 0, 1);
            tg_tensor *w = tg_tensor_randn(ctx, &rng, dt, TG_SHAPE(37, 300), 0, 0.1);
            tg_tensor *b = tg_tensor_randn(ctx, &rng, dt, TG_SHAPE(37), 0, 1);
            tg_tensor *y = tg_linear(x, w, b), *want = tg_add(tg_matmul_t(x, w, false, true), b);
            cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
            cr_assert_eq(tg_tensor_rank(y), 3);
            cr_assert_eq(tg_tensor_dim(y, 2), 37);
            for (int64_t i = 0; i < tg_tensor_size(y); i++)
                cr_expect_eq(tg_tensor_get(y, i), tg_tensor_get(want, i), "y[%lld] = %.17g, matmul + add %.17g",
                             (long long)i, tg_tensor_get(y, i), tg_tensor_get(want, i));
        }
    }
}

Test(ops_forward, linear_errors_name_the_op_the_tensors_and_the_expected_shape)
{
    tg_ctx *quiet = tg_ctx_new(1);
    tg_ctx_set_error_handler(quiet, NULL, NULL);
    tg_tensor *x = tg_tensor_zeros(quiet, TG_F32, TG_SHAPE(4, 3)), *w = tg_tensor_zeros(quiet, TG_F32, TG_SHAPE(5, 2));
    tg_tensor_set_name(w, "W1");
    cr_expect_null(tg_linear(x, w, NULL));
    cr_expect_eq(tg_ctx_status(quiet), TG_ERR_SHAPE);
    const char *message = tg_ctx_error(quiet);
    cr_expect(strstr(message, "linear") && strstr(message, "[4, 3]") && strstr(message, "W1 [5, 2]") &&
                  strstr(message, "expected weight [out, 3]"), "%s", message);
    tg_ctx_clear_error(quiet);
    tg_tensor *w_ok = tg_tensor_zeros(quiet, TG_F32, TG_SHAPE(5, 3)), *b = tg_tensor_zeros(quiet, TG_F32, TG_SHAPE(4));
    cr_expect_null(tg_linear(x, w_ok, b));
    message = tg_ctx_error(quiet);
    cr_expect(strstr(message, "linear") && strstr(message, "bias [4]") && strstr(message, "expected bias [5]"), "%s",
              message);
    tg_ctx_clear_error(quiet);
    cr_expect_null(tg_linear(tg_tensor_zeros(quiet, TG_F32, 0, NULL), w_ok, NULL));
    cr_expect(strstr(tg_ctx_error(quiet), "linear: x is a scalar"), "%s", tg_ctx_error(quiet));
    tg_ctx_clear_error(quiet);
    cr_expect_null(tg_linear(x, tg_tensor_zeros(quiet, TG_F64, TG_SHAPE(5, 3)), NULL));
    cr_expect(strstr(tg_ctx_error(quiet), "linear"), "%s", tg_ctx_error(quiet));
    tg_ctx_free(quiet);
}

/* A bias's gradient: x [a, b, n] summed over its rows into [n], [1, n] or
 * [b, n], f32, in row order from 0 whatever kernel runs (the bits of a loop
 * adding row after row); n below, at and past one block of columns. */
Test(ops_forward, sum_to_over_rows_f32_adds_rows_in_order_bit_for_bit)
{
    static const int64_t shapes[][3] = {{3, 7, 45}, {2, 64, 300}, {5, 1, 16}, {4, 3, 15}, {1, 9, 129}};
    tg_rng rng = tg_rng_seed(21);
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (int target = 0; target < 3; target++) {
            const int64_t *sh = shapes[si];
            tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(sh[0], sh[1], sh[2]), 0, 100);
            tg_tensor *y = target == 0   ? tg_sum_to(x, TG_SHAPE(sh[2]))
                           : target == 1 ? tg_sum_to(x, TG_SHAPE(1, sh[2]))
                                         : tg_sum_to(x, TG_SHAPE(sh[1], sh[2]));
            cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
            int64_t n = target == 2 ? sh[1] * sh[2] : sh[2], rows = sh[0] * sh[1] * sh[2] / n;
            const float *xs = tg_tensor_data(x), *ys = tg_tensor_data(y);
            for (int64_t i = 0; i < n; i++) {
                float want = 0;
                for (int64_t r = 0; r < rows; r++)
                    want += xs[r * n + i];
                cr_assert(memcmp(&ys[i], &want, sizeof want) == 0, "shape %zu, target %d: [%lld] = %.9g, expected %.9g",
                          si, target, (long long)i, ys[i], want);
            }
            tg_tensor_free(x);
            tg_tape_reset(ctx);
        }
}
