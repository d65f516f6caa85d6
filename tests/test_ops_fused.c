/* The fused transformer ops against their compositions of existing ops (in
 * float64, values and gradients to 1e-12), their f32 kernels against f64,
 * masks and anomaly mode, fully masked rows, and bad input. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tapegrad.h"

static tg_ctx *ctx;
static void setup(void)
{
    ctx = tg_ctx_new(2);
    tg_ctx_set_error_handler(ctx, NULL, NULL);
}
static void teardown(void) { tg_ctx_free(ctx); }
TestSuite(ops_fused, .init = setup, .fini = teardown);

/* The largest |a - b| over two tensors of one shape. */
static double max_diff(const tg_tensor *a, const tg_tensor *b)
{
    cr_assert_not_null(a, "%s", tg_ctx_error(ctx));
    cr_assert_not_null(b, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_tensor_rank(a), tg_tensor_rank(b));
    cr_assert_eq(tg_tensor_size(a), tg_tensor_size(b));
    double worst = 0;
    for (int64_t i = 0; i < tg_tensor_size(a); i++) {
        double d = fabs(tg_tensor_get(a, i) - tg_tensor_get(b, i));
        cr_assert(!isnan(d), "element %lld: %g vs %g", (long long)i, tg_tensor_get(a, i), tg_tensor_get(b, i));
        worst = d > worst ? d : worst;
    }
    return worst;
}

static bool all_finite(const tg_tensor *t)
{
    for (int64_t i = 0; i < tg_tensor_size(t); i++)
        if (!isfinite(tg_tensor_get(t, i)))
            return false;
    return true;
}

static tg_tensor *param(tg_rng *rng, tg_dtype dtype, int rank, const int64_t *shape, double low, double high)
{
    tg_tensor *t = tg_tensor_rand(ctx, rng, dtype, rank, shape, low, high);
    tg_tensor_set_requires_grad(t, true);
    return t;
}

/* Σ y⊙w for a fixed random w: a scalar whose gradient is w pulled back. */
static tg_tensor *weigh(tg_tensor *y, uint64_t seed)
{
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    tg_rng rng = tg_rng_seed(seed);
    tg_tensor *w = tg_tensor_rand(ctx, &rng, (tg_dtype)tg_tensor_dtype(y), tg_tensor_rank(y), tg_tensor_shape(y), -1, 1);
    return tg_sum(tg_mul(y, w));
}

/* Gradients of loss with respect to n tensors, into grads. */
static void gradients(tg_tensor *loss, int n, tg_tensor **xs, tg_tensor **grads)
{
    cr_assert_not_null(loss, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_grad(loss, NULL, n, xs, grads, false), TG_OK, "%s", tg_ctx_error(ctx));
}

/* t's values in another dtype (a new persistent tensor). */
static tg_tensor *convert(const tg_tensor *t, tg_dtype dtype)
{
    cr_assert_not_null(t, "%s", tg_ctx_error(ctx));
    tg_tensor *out = tg_tensor_new(ctx, dtype, tg_tensor_rank(t), tg_tensor_shape(t));
    cr_assert_eq(tg_tensor_copy(out, t), TG_OK, "%s", tg_ctx_error(ctx));
    return out;
}

static tg_tensor *i64_mask(int rank, const int64_t *shape, const double *values)
{
    return tg_tensor_from(ctx, TG_I64, rank, shape, values);
}

/* ---- layer norm and rms norm ---- */

static tg_tensor *composed_layer_norm(tg_tensor *x, tg_tensor *gamma, tg_tensor *beta, double eps)
{
    tg_tensor *xc = tg_sub(x, tg_mean_axis(x, -1, true));
    tg_tensor *r = tg_pow_scalar(tg_add_scalar(tg_mean_axis(tg_mul(xc, xc), -1, true), eps), -0.5);
    tg_tensor *y = tg_mul(xc, r);
    y = gamma ? tg_mul(y, gamma) : y;
    return beta ? tg_add(y, beta) : y;
}

static tg_tensor *composed_rms_norm(tg_tensor *x, tg_tensor *gamma, double eps)
{
    tg_tensor *r = tg_pow_scalar(tg_add_scalar(tg_mean_axis(tg_mul(x, x), -1, true), eps), -0.5);
    tg_tensor *y = tg_mul(x, r);
    return gamma ? tg_mul(y, gamma) : y;
}

Test(ops_fused, layer_norm_equals_its_composition_in_values_and_gradients)
{
    const int64_t shapes[][4] = {{4, 7}, {2, 3, 16}, {2, 2, 3, 5}, {1, 1, 1, 64}};
    const int ranks[] = {2, 3, 4, 4};
    tg_rng rng = tg_rng_seed(11);
    for (int s = 0; s < 4; s++) {
        int64_t c = shapes[s][ranks[s] - 1];
        tg_tensor *x = param(&rng, TG_F64, ranks[s], shapes[s], -3, 5);
        tg_tensor *gamma = param(&rng, TG_F64, TG_SHAPE(c), 0.5, 2);
        tg_tensor *beta = param(&rng, TG_F64, TG_SHAPE(c), -1, 1);
        tg_tensor *fused = tg_layer_norm(x, gamma, beta, 1e-5), *plain = composed_layer_norm(x, gamma, beta, 1e-5);
        cr_expect_lt(max_diff(fused, plain), 1e-12, "shape %d", s);
        tg_tensor *xs[3] = {x, gamma, beta}, *g_fused[3], *g_plain[3];
        gradients(weigh(fused, 3), 3, xs, g_fused);
        gradients(weigh(plain, 3), 3, xs, g_plain);
        for (int i = 0; i < 3; i++)
            cr_expect_lt(max_diff(g_fused[i], g_plain[i]), 1e-12, "shape %d, gradient %d", s, i);
        tg_tape_reset(ctx);
    }
}

Test(ops_fused, rms_norm_equals_its_composition_in_values_and_gradients)
{
    tg_rng rng = tg_rng_seed(12);
    tg_tensor *x = param(&rng, TG_F64, TG_SHAPE(3, 5, 9), -2, 2), *gamma = param(&rng, TG_F64, TG_SHAPE(9), 0.5, 2);
    for (int with_gamma = 0; with_gamma < 2; with_gamma++) {
        tg_tensor *g = with_gamma ? gamma : NULL;
        tg_tensor *fused = tg_rms_norm(x, g, 1e-6), *plain = composed_rms_norm(x, g, 1e-6);
        cr_expect_lt(max_diff(fused, plain), 1e-12);
        tg_tensor *xs[2] = {x, gamma}, *g_fused[2], *g_plain[2];
        gradients(weigh(fused, 4), 1 + with_gamma, xs, g_fused);
        gradients(weigh(plain, 4), 1 + with_gamma, xs, g_plain);
        for (int i = 0; i < 1 + with_gamma; i++)
            cr_expect_lt(max_diff(g_fused[i], g_plain[i]), 1e-12, "gradient %d", i);
    }
}

Test(ops_fused, layer_norm_second_derivatives_equal_the_compositions)
{
    /* d/dx of (dL/dx · v): the VJP op's own backward against the composed graph's */
    tg_rng rng = tg_rng_seed(13);
    tg_tensor *x = param(&rng, TG_F64, TG_SHAPE(3, 6), -2, 2), *gamma = param(&rng, TG_F64, TG_SHAPE(6), 0.5, 2);
    for (int kind = 0; kind < 2; kind++) {
        tg_tensor *fused = kind ? tg_rms_norm(x, gamma, 1e-3) : tg_layer_norm(x, gamma, NULL, 1e-3);
        tg_tensor *plain = kind ? composed_rms_norm(x, gamma, 1e-3) : composed_layer_norm(x, gamma, NULL, 1e-3);
        tg_tensor *gf, *gp, *hf[2], *hp[2], *xs[2] = {x, gamma};
        cr_assert_eq(tg_grad(weigh(fused, 5), NULL, 1, &x, &gf, true), TG_OK, "%s", tg_ctx_error(ctx));
        cr_assert_eq(tg_grad(weigh(plain, 5), NULL, 1, &x, &gp, true), TG_OK, "%s", tg_ctx_error(ctx));
        gradients(weigh(gf, 6), 2, xs, hf);
        gradients(weigh(gp, 6), 2, xs, hp);
        for (int i = 0; i < 2; i++)
            cr_expect_lt(max_diff(hf[i], hp[i]), 1e-11, "%s, input %d", kind ? "rms_norm" : "layer_norm", i);
    }
}

Test(ops_fused, f32_norm_kernels_match_f64)
{
    tg_rng rng = tg_rng_seed(14);
    tg_tensor *x64 = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(64, 300), 3, 2);
    tg_tensor *gamma64 = tg_tensor_rand(ctx, &rng, TG_F64, TG_SHAPE(300), 0.5, 2);
    tg_tensor *x32 = convert(x64, TG_F32), *gamma32 = convert(gamma64, TG_F32);
    cr_expect_lt(max_diff(tg_layer_norm(x32, gamma32, gamma32, 1e-5), tg_layer_norm(x64, gamma64, gamma64, 1e-5)), 1e-5);
    cr_expect_lt(max_diff(tg_rms_norm(x32, gamma32, 1e-5), tg_rms_norm(x64, gamma64, 1e-5)), 1e-5);
    cr_expect_lt(max_diff(tg_layer_norm_backward(x32, x32, 1e-5), tg_layer_norm_backward(x64, x64, 1e-5)), 1e-4);
}

/* Rows of C = 1000 and 1003 (a tail past the lane groups) around 10⁴ with
 * σ = 1: the f32 kernels against f64 on the same f32 values. The mean's
 * sum is 10⁷, where one float step is 1: one running sum put x̂ off by
 * 0.012, sixteen lanes of partial sums by 0.0008; the centred variance keeps
 * x̂ right where Σx² - Cμ² (10¹¹ - 10¹¹ in floats) would be noise. */
Test(ops_fused, f32_norms_of_long_rows_with_a_large_mean_stay_accurate)
{
    tg_rng rng = tg_rng_seed(15);
    const int64_t cols[] = {1000, 1003};
    for (int c = 0; c < 2; c++) {
        tg_tensor *x32 = convert(tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(4, cols[c]), 1e4, 1), TG_F32);
        tg_tensor *g32 = convert(tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(4, cols[c]), 0, 1), TG_F32);
        tg_tensor *x64 = convert(x32, TG_F64), *g64 = convert(g32, TG_F64);
        double forward = max_diff(tg_layer_norm(x32, NULL, NULL, 1e-5), tg_layer_norm(x64, NULL, NULL, 1e-5));
        double backward = max_diff(tg_layer_norm_backward(g32, x32, 1e-5), tg_layer_norm_backward(g64, x64, 1e-5));
        double rms = max_diff(tg_rms_norm(x32, NULL, 1e-5), tg_rms_norm(x64, NULL, 1e-5));
        cr_expect_lt(forward, 2e-3, "layer_norm, C = %lld: x̂ off by %g", (long long)cols[c], forward);
        cr_expect_lt(backward, 2e-3, "layer_norm_backward, C = %lld: off by %g", (long long)cols[c], backward);
        cr_expect_lt(rms, 1e-6, "rms_norm, C = %lld: off by %g", (long long)cols[c], rms);
    }
}

Test(ops_fused, layer_norm_of_a_constant_row_is_beta)
{
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 3), (double[]){4, 4, 4, 1, 2, 3});
    tg_tensor *beta = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3), (double[]){0.5, -1, 2});
    tg_tensor *y = tg_layer_norm(x, NULL, beta, 1e-5);
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    double s = 1 / sqrt(2.0 / 3 + 1e-5);
    double want[] = {0.5, -1, 2, -s + 0.5, -1, s + 2};
    for (int i = 0; i < 6; i++)
        cr_expect_lt(fabs(tg_tensor_get(y, i) - want[i]), 1e-12, "element %d", i);
}

Test(ops_fused, norm_errors_name_the_op_the_tensors_and_the_shapes)
{
    tg_tensor *x = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 3, 4));
    tg_tensor *gamma5 = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(5));
    tg_tensor_set_name(gamma5, "ln.gamma");
    cr_expect_null(tg_layer_norm(x, gamma5, NULL, 1e-5));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    cr_expect(strstr(tg_ctx_error(ctx), "layer_norm") && strstr(tg_ctx_error(ctx), "ln.gamma [5]") &&
              strstr(tg_ctx_error(ctx), "[2, 3, 4]") && strstr(tg_ctx_error(ctx), "expected gamma [4]"), "%s",
              tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_rms_norm(x, tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(1, 4)), 1e-5));
    cr_expect(strstr(tg_ctx_error(ctx), "rms_norm") && strstr(tg_ctx_error(ctx), "[1, 4]"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_layer_norm(x, NULL, tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(3)), 1e-5));
    cr_expect(strstr(tg_ctx_error(ctx), "beta [3]"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_layer_norm(x, NULL, NULL, -1));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG);
    cr_expect(strstr(tg_ctx_error(ctx), "eps"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_layer_norm(tg_tensor_scalar(ctx, TG_F64, 1), NULL, NULL, 1e-5));
    cr_expect(strstr(tg_ctx_error(ctx), "scalar"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_layer_norm(x, tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(4)), NULL, 1e-5));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_layer_norm_backward(tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 3)), x, 1e-5));
    cr_expect(strstr(tg_ctx_error(ctx), "layer_norm_backward") && strstr(tg_ctx_error(ctx), "[2, 3]"), "%s",
              tg_ctx_error(ctx));
}

/* ---- masked_fill and softmax_masked ---- */

Test(ops_fused, masked_fill_equals_where_with_a_broadcast_mask)
{
    tg_rng rng = tg_rng_seed(21);
    tg_tensor *x = param(&rng, TG_F64, TG_SHAPE(2, 3, 4), -1, 1);
    tg_tensor *mask = i64_mask(TG_SHAPE(3, 1), (double[]){1, 0, 5});
    tg_tensor *fused = tg_masked_fill(x, mask, 2.5);
    tg_tensor *plain = tg_where(mask, tg_tensor_scalar(ctx, TG_F64, 2.5), x);
    cr_expect_eq(max_diff(fused, plain), 0);
    tg_tensor *gf, *gp;
    gradients(weigh(fused, 1), 1, &x, &gf);
    gradients(weigh(plain, 1), 1, &x, &gp);
    cr_expect_eq(max_diff(gf, gp), 0);
    cr_expect_eq(tg_tensor_get(gf, 0), 0, "a masked position gets no gradient");
    cr_expect_neq(tg_tensor_get(gf, 4), 0, "an unmasked one does");
}

/* scores [B, H, T, S] with the usual mask composed by hand: causal and key
 * padding as −∞ through where, then softmax */
Test(ops_fused, softmax_masked_equals_softmax_of_where_minus_infinity)
{
    tg_rng rng = tg_rng_seed(22);
    tg_tensor *x = param(&rng, TG_F64, TG_SHAPE(2, 3, 5, 5), -3, 3);
    tg_tensor *pad = i64_mask(TG_SHAPE(2, 1, 1, 5), (double[]){0, 0, 0, 0, 1, 0, 0, 0, 1, 1});
    tg_tensor *causal = tg_tensor_zeros(ctx, TG_I64, TG_SHAPE(5, 5));
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            tg_tensor_set(causal, i * 5 + j, 1);
    tg_tensor *either = tg_add(convert(pad, TG_F64), convert(causal, TG_F64));
    tg_tensor *minus_inf = tg_tensor_scalar(ctx, TG_F64, -INFINITY);
    tg_tensor *plain = tg_softmax(tg_where(either, minus_inf, tg_mul_scalar(x, 0.4)));
    tg_tensor *fused = tg_softmax_masked(x, 0.4, pad, true);
    tg_tensor *explicit_mask = tg_softmax_masked(x, 0.4, convert(either, TG_I64), false);
    cr_expect_lt(max_diff(fused, plain), 1e-12);
    cr_expect_lt(max_diff(explicit_mask, plain), 1e-12);
    tg_tensor *gf, *gp;
    gradients(weigh(fused, 2), 1, &x, &gf);
    gradients(weigh(plain, 2), 1, &x, &gp);
    cr_expect_lt(max_diff(gf, gp), 1e-12);
}

Test(ops_fused, softmax_masked_with_an_additive_mask_equals_softmax_of_the_sum)
{
    tg_rng rng = tg_rng_seed(23);
    tg_tensor *x = param(&rng, TG_F64, TG_SHAPE(3, 4, 6), -3, 3), *bias = param(&rng, TG_F64, TG_SHAPE(4, 6), -2, 2);
    tg_tensor *fused = tg_softmax_masked(x, 0.25, bias, false);
    tg_tensor *plain = tg_softmax(tg_add(tg_mul_scalar(x, 0.25), bias));
    cr_expect_lt(max_diff(fused, plain), 1e-12);
    tg_tensor *xs[2] = {x, bias}, *gf[2], *gp[2];
    gradients(weigh(fused, 3), 2, xs, gf);
    gradients(weigh(plain, 3), 2, xs, gp);
    cr_expect_lt(max_diff(gf[0], gp[0]), 1e-12);
    cr_expect_lt(max_diff(gf[1], gp[1]), 1e-12);
}

Test(ops_fused, a_fully_masked_row_is_zeros_with_a_zero_gradient_in_both_dtypes)
{
    for (tg_dtype dt = TG_F32; dt <= TG_F64; dt++) {
        tg_rng rng = tg_rng_seed(24);
        tg_tensor *x = param(&rng, dt, TG_SHAPE(3, 4), -1, 1);
        tg_tensor *mask = i64_mask(TG_SHAPE(3, 4), (double[]){0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1});
        tg_tensor *additive = tg_tensor_full(ctx, dt, TG_SHAPE(4), -INFINITY);
        tg_tensor *outs[2] = {tg_softmax_masked(x, 1, mask, false), tg_softmax_masked(x, 1, additive, false)};
        for (int k = 0; k < 2; k++) {
            tg_tensor *y = outs[k], *g;
            cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
            for (int j = 0; j < 4; j++)
                cr_expect_eq(tg_tensor_get(y, 4 + j), 0, "row 1 of mask %d, position %d", k, j);
            gradients(weigh(y, 7), 1, &x, &g);
            cr_expect(all_finite(g));
            for (int j = 0; j < 4; j++)
                cr_expect_eq(tg_tensor_get(g, 4 + j), 0);
        }
        cr_expect_lt(fabs(tg_tensor_get(outs[0], 0) + tg_tensor_get(outs[0], 2) + tg_tensor_get(outs[0], 3) - 1), 1e-6);
        tg_tape_reset(ctx);
    }
}

Test(ops_fused, f32_softmax_masked_matches_f64)
{
    tg_rng rng = tg_rng_seed(25);
    tg_tensor *x64 = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(4, 2, 64, 64), 0, 3);
    tg_tensor *x32 = convert(x64, TG_F32);
    cr_expect_lt(max_diff(tg_softmax_masked(x32, 0.125, NULL, true), tg_softmax_masked(x64, 0.125, NULL, true)), 1e-6);
}

Test(ops_fused, masked_positions_do_not_trip_anomaly_mode_but_real_infinities_do)
{
    tg_anomaly_set_enabled(ctx, true);
    tg_rng rng = tg_rng_seed(26);
    tg_tensor *x = param(&rng, TG_F64, TG_SHAPE(3, 3), -1, 1);
    tg_tensor *causal = i64_mask(TG_SHAPE(3, 3), (double[]){0, 1, 1, 0, 0, 1, 0, 0, 0});
    /* the idiom: fill with −∞, then softmax; forward and backward stay quiet */
    tg_tensor *filled = tg_masked_fill(x, causal, -INFINITY);
    cr_assert_not_null(filled, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_get(filled, 1), -INFINITY);
    tg_tensor *loss = weigh(tg_softmax(filled), 8);
    cr_assert_not_null(loss, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_backward(loss), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect(all_finite(tg_tensor_grad(x)));
    /* softmax_masked with a −∞ additive mask */
    tg_tensor *additive = tg_masked_fill(tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(3, 3)), causal, -INFINITY);
    cr_expect_not_null(tg_softmax_masked(x, 1, additive, false), "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_ctx_status(ctx), TG_OK);
    /* an Inf that x brings to an unmasked position is still an anomaly */
    tg_tensor *bad = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3, 3), (double[]){0, 0, 0, INFINITY, 0, 0, 0, 0, 0});
    cr_expect_null(tg_masked_fill(bad, causal, -INFINITY));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ANOMALY);
    cr_expect(strstr(tg_ctx_error(ctx), "masked_fill produced +Inf at index [1, 0]"), "%s", tg_ctx_error(ctx));
}

Test(ops_fused, mask_errors_name_the_op_the_shapes_and_what_was_expected)
{
    tg_tensor *x = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 4, 4));
    tg_tensor *wrong = tg_tensor_zeros(ctx, TG_I64, TG_SHAPE(3, 4));
    tg_tensor_set_name(wrong, "pad");
    cr_expect_null(tg_masked_fill(x, wrong, 0));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    cr_expect(strstr(tg_ctx_error(ctx), "masked_fill: mask pad [3, 4] does not broadcast to x [2, 4, 4]"), "%s",
              tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_softmax_masked(x, 1, wrong, false));
    cr_expect(strstr(tg_ctx_error(ctx), "softmax_masked: mask pad [3, 4] does not broadcast to the scores [2, 4, 4]"),
              "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    /* a mask that would enlarge x is refused too */
    cr_expect_null(tg_masked_fill(tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(4)), tg_tensor_zeros(ctx, TG_I64, TG_SHAPE(2, 4)), 0));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_masked_fill(x, tg_tensor_zeros(ctx, TG_I64, TG_SHAPE(4)), NAN));
    cr_expect(strstr(tg_ctx_error(ctx), "NaN"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_softmax_masked(x, 1, tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(4)), false));
    cr_expect(strstr(tg_ctx_error(ctx), "f32") && strstr(tg_ctx_error(ctx), "i64 mask"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    tg_tensor *plus_inf = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4), (double[]){0, 0, INFINITY, 0});
    cr_expect_null(tg_softmax_masked(x, 1, plus_inf, false));
    cr_expect(strstr(tg_ctx_error(ctx), "holds inf at flat index 2"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_softmax_masked(tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(4)), 1, NULL, true));
    cr_expect(strstr(tg_ctx_error(ctx), "causal") && strstr(tg_ctx_error(ctx), "[4]"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_softmax_masked(x, NAN, NULL, false));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG);
}

/* ---- cross_entropy over [..., c] ---- */

/* -Σ_counted log softmax(z)[target] / count, by gather over a [rows, c] view */
static tg_tensor *composed_cross_entropy(tg_tensor *z, const double *targets, int64_t rows, int64_t classes,
                                         int64_t ignore)
{
    tg_tensor *index = tg_tensor_zeros(ctx, TG_I64, TG_SHAPE(rows, 1));
    tg_tensor *keep = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(rows, 1));
    double count = 0;
    for (int64_t r = 0; r < rows; r++)
        if (targets[r] != (double)ignore) {
            tg_tensor_set(index, r, targets[r]);
            tg_tensor_set(keep, r, 1);
            count++;
        }
    tg_tensor *picked = tg_gather(tg_log_softmax(tg_reshape(z, TG_SHAPE(rows, classes))), 1, index);
    return tg_mul_scalar(tg_sum(tg_mul(picked, keep)), -1 / count);
}

Test(ops_fused, cross_entropy_over_a_sequence_with_ignore_index_equals_its_composition)
{
    tg_rng rng = tg_rng_seed(31);
    tg_tensor *z = param(&rng, TG_F64, TG_SHAPE(2, 4, 7), -4, 4);
    const double labels[] = {3, -100, 0, 6, -100, -100, 1, 5};
    tg_tensor *t = tg_tensor_from(ctx, TG_I64, TG_SHAPE(2, 4), labels);
    tg_cross_entropy_options opts = {.ignore = true, .ignore_index = -100};
    tg_tensor *fused = tg_cross_entropy_ex(z, t, &opts), *plain = composed_cross_entropy(z, labels, 8, 7, -100);
    cr_expect_lt(max_diff(fused, plain), 1e-12);
    tg_tensor *gf, *gp;
    gradients(fused, 1, &z, &gf);
    gradients(plain, 1, &z, &gp);
    cr_expect_lt(max_diff(gf, gp), 1e-12);
    for (int j = 0; j < 7; j++)
        cr_expect_eq(tg_tensor_get(gf, 1 * 7 + j), 0, "an ignored row gets no gradient");
    /* without an ignore_index, [2, 4, 7] is the [8, 7] call */
    const double all[] = {3, 1, 0, 6, 2, 4, 1, 5};
    tg_tensor *t_all = tg_tensor_from(ctx, TG_I64, TG_SHAPE(2, 4), all);
    tg_tensor *flat = tg_cross_entropy(tg_reshape(z, TG_SHAPE(8, 7)), tg_tensor_from(ctx, TG_F64, TG_SHAPE(8), all));
    cr_expect_lt(max_diff(tg_cross_entropy(z, t_all), flat), 1e-12);
    tg_tensor *summed = tg_cross_entropy_ex(z, t_all, &(tg_cross_entropy_options){.sum = true});
    cr_expect_lt(fabs(tg_tensor_item(summed) - 8 * tg_tensor_item(flat)), 1e-11);
}

Test(ops_fused, cross_entropy_with_every_row_ignored_is_zero_not_nan)
{
    tg_rng rng = tg_rng_seed(32);
    for (tg_dtype dt = TG_F32; dt <= TG_F64; dt++) {
        tg_tensor *z = param(&rng, dt, TG_SHAPE(3, 4), -1, 1), *g;
        tg_tensor *t = tg_tensor_full(ctx, TG_I64, TG_SHAPE(3), 7);
        tg_tensor *loss = tg_cross_entropy_ex(z, t, &(tg_cross_entropy_options){.ignore = true, .ignore_index = 7});
        cr_assert_not_null(loss, "%s", tg_ctx_error(ctx));
        cr_expect_eq(tg_tensor_item(loss), 0);
        gradients(loss, 1, &z, &g);
        for (int i = 0; i < 12; i++)
            cr_expect_eq(tg_tensor_get(g, i), 0);
    }
}

Test(ops_fused, f32_cross_entropy_of_many_rows_matches_f64)
{
    tg_rng rng = tg_rng_seed(33);
    tg_tensor *z64 = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(16, 64, 132), 0, 3);
    tg_tensor *t = tg_tensor_zeros(ctx, TG_I64, TG_SHAPE(16, 64));
    for (int64_t i = 0; i < 16 * 64; i++)
        tg_tensor_set(t, i, (double)((i * 37) % 132));
    double a = tg_tensor_item(tg_cross_entropy(convert(z64, TG_F32), t)), b = tg_tensor_item(tg_cross_entropy(z64, t));
    cr_expect_lt(fabs(a - b), 1e-4 * fabs(b), "%g vs %g", a, b);
}

Test(ops_fused, cross_entropy_errors_name_the_position_and_the_shapes_expected)
{
    tg_tensor *z = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 3, 5));
    cr_expect_null(tg_cross_entropy(z, tg_tensor_from(ctx, TG_I64, TG_SHAPE(2, 3), (double[]){0, 1, 2, 3, 4, 5})));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG);
    cr_expect(strstr(tg_ctx_error(ctx), "target [1, 2] is 5; expected a class index 0 to 4"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_cross_entropy(z, tg_tensor_zeros(ctx, TG_I64, TG_SHAPE(3, 2))));
    cr_expect(strstr(tg_ctx_error(ctx), "i64 targets [3, 2]; expected class indices [2, 3]"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_cross_entropy(z, tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 5))));
    cr_expect(strstr(tg_ctx_error(ctx), "expected targets [2, 3] (class indices) or [2, 3, 5] (probabilities)"), "%s",
              tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_cross_entropy_ex(z, tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 3, 5)),
                                       &(tg_cross_entropy_options){.ignore = true, .ignore_index = 0}));
    cr_expect(strstr(tg_ctx_error(ctx), "ignore_index with probability targets"), "%s", tg_ctx_error(ctx));
}

/* ---- scaled dot-product attention ---- */

/* The same attention from existing ops, heads folded into a stack of
 * matrices: softmax(where(mask, −∞, q·kᵀ/√d)) (or + an additive mask), then
 * the dropout factor, then ·v. */
static tg_tensor *composed_attention(tg_tensor *q, tg_tensor *k, tg_tensor *v, tg_tensor *bool_mask,
                                     tg_tensor *additive, tg_tensor *keep)
{
    const int64_t *qs = tg_tensor_shape(q), *ks = tg_tensor_shape(k), *vs = tg_tensor_shape(v);
    int64_t bh = qs[0] * qs[1];
    tg_tensor *q3 = tg_reshape(q, TG_SHAPE(bh, qs[2], qs[3])), *k3 = tg_reshape(k, TG_SHAPE(bh, ks[2], ks[3]));
    tg_tensor *z = tg_reshape(tg_mul_scalar(tg_matmul_t(q3, k3, false, true), 1 / sqrt((double)qs[3])),
                              TG_SHAPE(qs[0], qs[1], qs[2], ks[2]));
    if (bool_mask)
        z = tg_where(bool_mask, tg_tensor_scalar(ctx, TG_F64, -INFINITY), z);
    if (additive)
        z = tg_add(z, additive);
    tg_tensor *p = tg_softmax(z);
    if (keep)
        p = tg_mul(p, keep);
    tg_tensor *y = tg_matmul(tg_reshape(p, TG_SHAPE(bh, qs[2], ks[2])), tg_reshape(v, TG_SHAPE(bh, vs[2], vs[3])));
    return tg_reshape(y, TG_SHAPE(qs[0], qs[1], qs[2], vs[3]));
}

/* [T, S] with 1 above the diagonal */
static tg_tensor *causal_mask(int64_t t, int64_t s)
{
    tg_tensor *m = tg_tensor_zeros(ctx, TG_I64, TG_SHAPE(t, s));
    for (int64_t i = 0; i < t; i++)
        for (int64_t j = i + 1; j < s; j++)
            tg_tensor_set(m, i * s + j, 1);
    return m;
}

static void expect_same_attention(tg_tensor *fused, tg_tensor *plain, int n, tg_tensor **xs, const char *what)
{
    cr_expect_lt(max_diff(fused, plain), 1e-12, "%s: values", what);
    tg_tensor *gf[4], *gp[4];
    gradients(weigh(fused, 9), n, xs, gf);
    gradients(weigh(plain, 9), n, xs, gp);
    for (int i = 0; i < n; i++)
        cr_expect_lt(max_diff(gf[i], gp[i]), 1e-12, "%s: gradient %d", what, i);
}

Test(ops_fused, attention_equals_its_composition_in_several_shapes)
{
    const int64_t shapes[][4] = {{2, 3, 5, 4}, {1, 1, 1, 8}, {3, 2, 7, 16}};
    tg_rng rng = tg_rng_seed(41);
    for (int c = 0; c < 3; c++) {
        const int64_t *sh = shapes[c];
        tg_tensor *q = param(&rng, TG_F64, 4, sh, -2, 2), *k = param(&rng, TG_F64, 4, sh, -2, 2);
        tg_tensor *v = param(&rng, TG_F64, TG_SHAPE(sh[0], sh[1], sh[2], 3), -1, 1);
        tg_tensor *xs[3] = {q, k, v};
        expect_same_attention(tg_scaled_dot_product_attention(q, k, v, NULL, false, 0, NULL),
                              composed_attention(q, k, v, NULL, NULL, NULL), 3, xs, "no mask");
        expect_same_attention(tg_scaled_dot_product_attention(q, k, v, NULL, true, 0, NULL),
                              composed_attention(q, k, v, causal_mask(sh[2], sh[2]), NULL, NULL), 3, xs, "causal");
        tg_tape_reset(ctx);
    }
}

Test(ops_fused, attention_with_cross_lengths_masks_and_dropout_equals_its_composition)
{
    tg_rng rng = tg_rng_seed(42);
    tg_tensor *q = param(&rng, TG_F64, TG_SHAPE(2, 2, 3, 4), -2, 2), *k = param(&rng, TG_F64, TG_SHAPE(2, 2, 6, 4), -2, 2);
    tg_tensor *v = param(&rng, TG_F64, TG_SHAPE(2, 2, 6, 5), -1, 1), *bias = param(&rng, TG_F64, TG_SHAPE(3, 6), -1, 1);
    tg_tensor *xs[4] = {q, k, v, bias};
    /* a key-padding mask [B, 1, 1, S] */
    tg_tensor *pad = i64_mask(TG_SHAPE(2, 1, 1, 6), (double[]){0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0});
    expect_same_attention(tg_scaled_dot_product_attention(q, k, v, pad, false, 0, NULL),
                          composed_attention(q, k, v, pad, NULL, NULL), 3, xs, "key padding");
    expect_same_attention(tg_scaled_dot_product_attention(q, k, v, bias, false, 0, NULL),
                          composed_attention(q, k, v, NULL, bias, NULL), 4, xs, "additive [T, S]");
    /* dropout: one uniform draw per element of P in order, kept below 1 - p
     * as documented; the composition replays the draws */
    tg_rng a = tg_rng_seed(7), b = tg_rng_seed(7);
    tg_tensor *keep = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 2, 3, 6));
    for (int64_t i = 0; i < tg_tensor_size(keep); i++)
        tg_tensor_set(keep, i, tg_rng_uniform(&b) < 0.25 ? 0 : 1 / 0.75);
    expect_same_attention(tg_scaled_dot_product_attention(q, k, v, NULL, false, 0.25, &a),
                          composed_attention(q, k, v, NULL, NULL, keep), 3, xs, "dropout");
}

Test(ops_fused, causal_attention_run_in_blocks_of_queries_equals_its_composition)
{
    /* T and S past the kernel's block of 32 queries, not multiples of it,
     * longer or shorter than each other; with and without dropout */
    const int64_t lengths[][2] = {{70, 70}, {40, 75}, {75, 40}};
    tg_rng rng = tg_rng_seed(47);
    for (int c = 0; c < 3; c++) {
        int64_t t = lengths[c][0], s = lengths[c][1];
        tg_tensor *q = param(&rng, TG_F64, TG_SHAPE(2, 2, t, 8), -2, 2), *k = param(&rng, TG_F64, TG_SHAPE(2, 2, s, 8), -2, 2);
        tg_tensor *v = param(&rng, TG_F64, TG_SHAPE(2, 2, s, 5), -1, 1);
        tg_tensor *xs[3] = {q, k, v};
        expect_same_attention(tg_scaled_dot_product_attention(q, k, v, NULL, true, 0, NULL),
                              composed_attention(q, k, v, causal_mask(t, s), NULL, NULL), 3, xs, "causal");
        tg_rng a = tg_rng_seed(8), b = tg_rng_seed(8);
        tg_tensor *keep = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 2, t, s));
        for (int64_t i = 0; i < tg_tensor_size(keep); i++)
            tg_tensor_set(keep, i, tg_rng_uniform(&b) < 0.25 ? 0 : 1 / 0.75);
        expect_same_attention(tg_scaled_dot_product_attention(q, k, v, NULL, true, 0.25, &a),
                              composed_attention(q, k, v, causal_mask(t, s), NULL, keep), 3, xs, "causal, dropout");
        tg_tape_reset(ctx);
    }
}

Test(ops_fused, attention_with_a_query_that_sees_no_key_gives_zeros_not_nan)
{
    tg_anomaly_set_enabled(ctx, true); /* and the masked scores trip no anomaly */
    tg_rng rng = tg_rng_seed(43);
    tg_tensor *q = param(&rng, TG_F64, TG_SHAPE(1, 2, 3, 4), -1, 1), *k = param(&rng, TG_F64, TG_SHAPE(1, 2, 3, 4), -1, 1);
    tg_tensor *v = param(&rng, TG_F64, TG_SHAPE(1, 2, 3, 4), -1, 1);
    tg_tensor *mask = i64_mask(TG_SHAPE(3, 3), (double[]){0, 0, 0, 1, 1, 1, 0, 1, 0}); /* query 1 sees nothing */
    tg_tensor *y = tg_scaled_dot_product_attention(q, k, v, mask, true, 0, NULL);
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++)
            cr_expect_eq(tg_tensor_get(y, h * 12 + 4 + j), 0, "head %d, query 1", h);
    cr_expect_eq(tg_backward(weigh(y, 10)), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect(all_finite(tg_tensor_grad(q)) && all_finite(tg_tensor_grad(k)) && all_finite(tg_tensor_grad(v)));
    for (int j = 0; j < 4; j++)
        cr_expect_eq(tg_tensor_get(tg_tensor_grad(q), 4 + j), 0, "the masked query gets no gradient");
}

Test(ops_fused, f32_attention_on_threads_matches_f64)
{
    /* 4·4 heads of 64×64 scores: the pairs run as pool tasks on this 2-thread context */
    tg_rng rng = tg_rng_seed(44);
    tg_tensor *q = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(4, 4, 64, 32), 0, 1);
    tg_tensor *k = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(4, 4, 64, 32), 0, 1);
    tg_tensor *v = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(4, 4, 64, 32), 0, 1);
    tg_tensor *y64 = tg_scaled_dot_product_attention(q, k, v, NULL, true, 0, NULL);
    tg_tensor *y32 = tg_scaled_dot_product_attention(convert(q, TG_F32), convert(k, TG_F32), convert(v, TG_F32), NULL,
                                                     true, 0, NULL);
    cr_expect_lt(max_diff(y32, y64), 1e-4);
    /* and the f64 result against the composition, many heads at once */
    cr_expect_lt(max_diff(y64, composed_attention(q, k, v, causal_mask(64, 64), NULL, NULL)), 1e-12);
}

Test(ops_fused, attention_errors_name_the_tensors_the_shapes_and_what_was_expected)
{
    tg_tensor *q = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 4, 8, 16));
    tg_tensor *k2 = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 2, 8, 16));
    tg_tensor *v = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 4, 8, 16));
    tg_tensor_set_name(k2, "k");
    cr_expect_null(tg_scaled_dot_product_attention(q, k2, v, NULL, false, 0, NULL));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    cr_expect(strstr(tg_ctx_error(ctx), "scaled_dot_product_attention: q [2, 4, 8, 16] and k k [2, 2, 8, 16]; "
                     "expected the same batch (2) and heads (4)"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_scaled_dot_product_attention(q, tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 4, 8, 8)), v, NULL,
                                                   false, 0, NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "expected the same head dim (dim 3: 16)"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_scaled_dot_product_attention(q, q, tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 4, 7, 16)), NULL,
                                                   false, 0, NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "expected as many values as keys (dim 2: 8)"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_scaled_dot_product_attention(tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(8, 8, 16)), q, v, NULL,
                                                   false, 0, NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "q [8, 8, 16]; expected rank 4, [batch, heads, queries, head dim]"), "%s",
              tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    tg_tensor *mask = tg_tensor_zeros(ctx, TG_I64, TG_SHAPE(8, 7));
    tg_tensor_set_name(mask, "causal");
    cr_expect_null(tg_scaled_dot_product_attention(q, q, v, mask, false, 0, NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "mask causal [8, 7] does not broadcast to the scores [2, 4, 8, 8]"), "%s",
              tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_scaled_dot_product_attention(q, q, v, NULL, false, 0.1, NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "rng is NULL"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    tg_rng rng = tg_rng_seed(1);
    cr_expect_null(tg_scaled_dot_product_attention(q, q, v, NULL, false, 1, &rng));
    cr_expect(strstr(tg_ctx_error(ctx), "dropout_p is 1; expected 0 <= p < 1"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_scaled_dot_product_attention(q, q, tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(2, 4, 8, 16)), NULL,
                                                   false, 0, NULL));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG);
}

/* ---- multi-head attention on the packed qkv ---- */

/* The heads of part (0 q, 1 k, 2 v) of qkv [B, T, 3·D] as [B, H, T, D/H]:
 * a slice and a permuted copy, what the self_attention layer did before. */
static tg_tensor *unpacked(tg_tensor *qkv, int part, int heads)
{
    const int64_t *s = tg_tensor_shape(qkv);
    int64_t d = s[2] / 3;
    tg_tensor *third = tg_slice(qkv, 2, part * d, (part + 1) * d, 1);
    return tg_permute(tg_reshape(third, TG_SHAPE(s[0], s[1], heads, d / heads)), (const int[]){0, 2, 1, 3});
}

/* multi_head_attention as slices, permutes and scaled_dot_product_attention,
 * the heads joined side by side again: [B, T, D] */
static tg_tensor *composed_mha(tg_tensor *qkv, int heads, tg_tensor *mask, bool causal, double dropout_p, tg_rng *rng)
{
    tg_tensor *y = tg_scaled_dot_product_attention(unpacked(qkv, 0, heads), unpacked(qkv, 1, heads),
                                                   unpacked(qkv, 2, heads), mask, causal, dropout_p, rng);
    const int64_t *s = tg_tensor_shape(qkv);
    return tg_reshape(tg_permute(y, (const int[]){0, 2, 1, 3}), TG_SHAPE(s[0], s[1], s[2] / 3));
}

/* The packed op against the composition: values and d(qkv) (and d(mask))
 * bit for bit. The per-head GEMMs pack their operands, so a head's leading
 * dimension changes no sum's order. */
static void expect_mha_as_composed(tg_tensor *qkv, int heads, tg_tensor *mask, bool causal, double dropout_p,
                                   const char *what)
{
    tg_rng a = tg_rng_seed(5), b = tg_rng_seed(5);
    tg_tensor *fused = tg_multi_head_attention(qkv, heads, mask, causal, dropout_p, &a);
    tg_tensor *plain = composed_mha(qkv, heads, mask, causal, dropout_p, &b);
    cr_expect_eq(max_diff(fused, plain), 0, "%s: values", what);
    bool mask_grad = mask && tg_tensor_requires_grad(mask);
    tg_tensor *xs[2] = {qkv, mask}, *gf[2], *gp[2];
    gradients(weigh(fused, 9), mask_grad ? 2 : 1, xs, gf);
    gradients(weigh(plain, 9), mask_grad ? 2 : 1, xs, gp);
    cr_expect_eq(max_diff(gf[0], gp[0]), 0, "%s: d(qkv)", what);
    cr_expect_gt(max_diff(gf[0], tg_tensor_zeros(ctx, tg_tensor_dtype(qkv), 3, tg_tensor_shape(qkv))), 0,
                 "%s: d(qkv) is not zero", what);
    if (mask_grad)
        cr_expect_eq(max_diff(gf[1], gp[1]), 0, "%s: d(mask)", what);
}

Test(ops_fused, multi_head_attention_equals_slices_permutes_and_sdpa_bit_for_bit_in_f64_and_f32)
{
    /* {B, T, D, H}; the last runs its 4·4 heads of 64×64 scores as pool tasks */
    const int64_t shapes[][4] = {{2, 5, 12, 3}, {1, 1, 8, 1}, {3, 7, 16, 4}, {2, 6, 6, 1}, {4, 64, 128, 4}};
    tg_rng rng = tg_rng_seed(45);
    for (int c = 0; c < 5; c++) {
        const int64_t *sh = shapes[c];
        int heads = (int)sh[3];
        for (int f = 0; f < 2; f++) {
            tg_dtype dtype = f ? TG_F32 : TG_F64;
            tg_tensor *qkv = param(&rng, dtype, TG_SHAPE(sh[0], sh[1], 3 * sh[2]), -2, 2);
            expect_mha_as_composed(qkv, heads, NULL, false, 0, "no mask");
            expect_mha_as_composed(qkv, heads, NULL, true, 0, "causal");
            expect_mha_as_composed(qkv, heads, NULL, true, 0.2, "causal, dropout");
            tg_tensor *bias = param(&rng, dtype, TG_SHAPE(sh[1], sh[1]), -1, 1);
            expect_mha_as_composed(qkv, heads, bias, false, 0, "additive [T, T] with a gradient");
            tg_tape_reset(ctx);
        }
    }
    /* a key-padding mask [B, 1, 1, T] with causality: query 0 of batch 1 sees no key */
    tg_tensor *qkv = param(&rng, TG_F64, TG_SHAPE(2, 4, 12), -2, 2);
    tg_tensor *pad = i64_mask(TG_SHAPE(2, 1, 1, 4), (double[]){0, 0, 0, 1, 1, 0, 0, 0});
    expect_mha_as_composed(qkv, 2, pad, true, 0, "key padding, causal");
}

Test(ops_fused, multi_head_attention_plain_and_create_graph_backward_give_the_same_gradient)
{
    tg_rng rng = tg_rng_seed(46);
    for (int f = 0; f < 2; f++) {
        tg_dtype dtype = f ? TG_F32 : TG_F64;
        tg_tensor *qkv = param(&rng, dtype, TG_SHAPE(2, 6, 24), -2, 2), *bias = param(&rng, dtype, TG_SHAPE(6, 6), -1, 1);
        tg_tensor *xs[2] = {qkv, bias}, *plain[2], *graph[2];
        tg_rng a = tg_rng_seed(3), b = tg_rng_seed(3);
        gradients(weigh(tg_multi_head_attention(qkv, 2, bias, true, 0.25, &a), 4), 2, xs, plain);
        tg_tensor *loss = weigh(tg_multi_head_attention(qkv, 2, bias, true, 0.25, &b), 4);
        cr_assert_eq(tg_grad(loss, NULL, 2, xs, graph, true), TG_OK, "%s", tg_ctx_error(ctx));
        cr_expect(tg_tensor_requires_grad(graph[0]), "create_graph: d(qkv) is on the tape");
        for (int i = 0; i < 2; i++)
            cr_expect_leq(max_diff(plain[i], graph[i]), f ? 1e-5 : 1e-13, "gradient %d, %s", i, f ? "f32" : "f64");
        tg_tape_reset(ctx);
    }
}

Test(ops_fused, multi_head_attention_errors_name_the_tensors_the_shapes_and_what_was_expected)
{
    tg_tensor *qkv = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 8, 48));
    tg_tensor_set_name(qkv, "qkv");
    cr_expect_null(tg_multi_head_attention(qkv, 5, NULL, false, 0, NULL));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    cr_expect(strstr(tg_ctx_error(ctx), "multi_head_attention: qkv qkv [2, 8, 48] with 5 heads; expected a last dim "
                     "that is a positive multiple of 3·heads = 15"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_multi_head_attention(qkv, 0, NULL, false, 0, NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "multi_head_attention: heads is 0; expected at least 1"), "%s",
              tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_multi_head_attention(tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(16, 48)), 4, NULL, false, 0, NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "multi_head_attention: qkv [16, 48]; expected rank 3, [batch, sequence, "
                     "3·d_model]"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    tg_tensor *mask = tg_tensor_zeros(ctx, TG_I64, TG_SHAPE(8, 7));
    tg_tensor_set_name(mask, "pad");
    cr_expect_null(tg_multi_head_attention(qkv, 4, mask, false, 0, NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "multi_head_attention: mask pad [8, 7] does not broadcast to the scores "
                     "[2, 4, 8, 8]"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_multi_head_attention(qkv, 4, NULL, false, 0.1, NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "multi_head_attention: dropout_p is 0.1 and rng is NULL"), "%s",
              tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_multi_head_attention(qkv, 4, tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(8, 8)), false, 0, NULL));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG, "an f32 additive mask on f64 scores");
}

/* ---- gelu_linear ---- */

Test(ops_fused, gelu_linear_equals_gelu_then_a_dense_layer_in_values_and_gradients)
{
    const int64_t shapes[][3] = {{6, 5}, {2, 3, 8}, {7}};
    const int ranks[] = {2, 3, 1};
    tg_rng rng = tg_rng_seed(21);
    for (int s = 0; s < 3; s++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            int64_t in = shapes[s][ranks[s] - 1], out = 4;
            tg_tensor *h = param(&rng, TG_F64, ranks[s], shapes[s], -4, 4);
            tg_tensor *w = param(&rng, TG_F64, TG_SHAPE(out, in), -1, 1);
            tg_tensor *b = with_bias ? param(&rng, TG_F64, TG_SHAPE(out), -1, 1) : NULL;
            tg_tensor *a = tg_gelu(h);
            tg_tensor *plain = ranks[s] == 1 ? tg_matmul_t(tg_reshape(a, TG_SHAPE(1, in)), w, false, true)
                                             : tg_matmul_t(a, w, false, true);
            if (ranks[s] == 1)
                plain = tg_reshape(plain, TG_SHAPE(out));
            if (b)
                plain = tg_add(plain, b);
            tg_tensor *fused = tg_gelu_linear(h, w, b);
            cr_expect_lt(max_diff(fused, plain), 1e-12, "shape %d, bias %d", s, with_bias);
            tg_tensor *xs[3] = {h, w, b}, *g_fused[3], *g_plain[3];
            int n = b ? 3 : 2;
            gradients(weigh(fused, 5), n, xs, g_fused);
            gradients(weigh(plain, 5), n, xs, g_plain);
            for (int i = 0; i < n; i++)
                cr_expect_lt(max_diff(g_fused[i], g_plain[i]), 1e-12, "shape %d, bias %d, gradient %d", s, with_bias, i);
            tg_tape_reset(ctx);
        }
}

Test(ops_fused, f32_gelu_linear_matches_f64_and_keeps_no_hidden_activation)
{
    tg_rng rng = tg_rng_seed(22);
    tg_tensor *h = param(&rng, TG_F64, TG_SHAPE(64, 256), -4, 4);
    tg_tensor *w = param(&rng, TG_F64, TG_SHAPE(32, 256), -0.1, 0.1), *b = param(&rng, TG_F64, TG_SHAPE(32), -1, 1);
    tg_tensor *h32 = convert(h, TG_F32), *w32 = convert(w, TG_F32), *b32 = convert(b, TG_F32);
    tg_tensor_set_requires_grad(h32, true);
    int64_t before = tg_ctx_step_bytes(ctx);
    tg_tensor *y32 = tg_gelu_linear(h32, w32, b32);
    int64_t taken = tg_ctx_step_bytes(ctx) - before;
    cr_expect_lt(taken, 64 * 256 * 4, "took %lld bytes: the output [64, 32] and the tape's share, not gelu(h) [64, 256]",
                 (long long)taken);
    cr_expect_lt(max_diff(y32, tg_gelu_linear(h, w, b)), 1e-5);
}

/* A plain f32 backward takes gelu(h) and gelu'(h) from one pass of the
 * vector kernel: its gradients are the bits of gelu then linear's, and of
 * its own rule made of ops (create_graph), threads or not. */
Test(ops_fused, f32_gelu_linear_plain_backward_gives_the_bits_of_gelu_then_linear)
{
    const int64_t shapes[][3] = {{37, 48}, {3, 5, 33}, {64, 300}}; /* the last one split over the threads */
    const int ranks[] = {2, 3, 2};
    tg_rng rng = tg_rng_seed(23);
    for (int s = 0; s < 3; s++) {
        int64_t in = shapes[s][ranks[s] - 1];
        tg_tensor *h = param(&rng, TG_F32, ranks[s], shapes[s], -5, 5);
        tg_tensor *w = param(&rng, TG_F32, TG_SHAPE(20, in), -1, 1), *b = param(&rng, TG_F32, TG_SHAPE(20), -1, 1);
        tg_tensor *xs[3] = {h, w, b}, *g_fused[3], *g_plain[3], *g_graph[3];
        gradients(weigh(tg_gelu_linear(h, w, b), 6), 3, xs, g_fused);
        gradients(weigh(tg_linear(tg_gelu(h), w, b), 6), 3, xs, g_plain);
        cr_assert_eq(tg_grad(weigh(tg_gelu_linear(h, w, b), 6), NULL, 3, xs, g_graph, true), TG_OK, "%s",
                     tg_ctx_error(ctx));
        for (int i = 0; i < 3; i++) {
            size_t bytes = (size_t)tg_tensor_size(g_plain[i]) * sizeof(float);
            cr_expect(!memcmp(tg_tensor_data(g_fused[i]), tg_tensor_data(g_plain[i]), bytes),
                      "shape %d: gradient %d differs from gelu then linear's", s, i);
            cr_expect(!memcmp(tg_tensor_data(g_fused[i]), tg_tensor_data(g_graph[i]), bytes),
                      "shape %d: gradient %d differs from the rule made of ops", s, i);
        }
        tg_tape_reset(ctx);
    }
}

Test(ops_fused, gelu_linear_errors_name_the_op_and_the_shapes)
{
    tg_tensor *h = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(4, 5)), *w = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(3, 6));
    tg_tensor *b = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(4)), *w_ok = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(3, 5));
    tg_tensor *w64 = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(3, 5));
    cr_expect_null(tg_gelu_linear(h, w, NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "gelu_linear") && strstr(tg_ctx_error(ctx), "[4, 5]") &&
              strstr(tg_ctx_error(ctx), "[3, 6]"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_gelu_linear(h, w_ok, b));
    cr_expect(strstr(tg_ctx_error(ctx), "bias [4]") && strstr(tg_ctx_error(ctx), "expected bias [3]"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_gelu_linear(h, w64, NULL));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG, "%s", tg_ctx_error(ctx));
}

/* ---- layer_norm_linear ---- */

static tg_tensor *norm_linear_squared(tg_tensor *const *in, void *user)
{
    (void)user; /* x, W, b, γ, β; squared so that every second derivative is checked */
    tg_tensor *y = tg_layer_norm_linear(in[0], in[3], in[4], 1e-5, in[1], in[2]);
    return tg_mul(y, y);
}

Test(ops_fused, layer_norm_linear_equals_a_layer_norm_then_a_dense_layer)
{
    const int64_t shapes[][3] = {{6, 5}, {2, 3, 8}, {7}};
    const int ranks[] = {2, 3, 1};
    tg_rng rng = tg_rng_seed(23);
    for (int s = 0; s < 3; s++)
        for (int affine = 0; affine < 2; affine++) {
            int64_t in = shapes[s][ranks[s] - 1], out = 3;
            tg_tensor *x = param(&rng, TG_F64, ranks[s], shapes[s], -3, 5);
            tg_tensor *w = param(&rng, TG_F64, TG_SHAPE(out, in), -1, 1), *b = param(&rng, TG_F64, TG_SHAPE(out), -1, 1);
            tg_tensor *gamma = affine ? param(&rng, TG_F64, TG_SHAPE(in), 0.5, 2) : NULL;
            tg_tensor *beta = affine ? param(&rng, TG_F64, TG_SHAPE(in), -1, 1) : NULL;
            tg_tensor *ln = tg_layer_norm(x, gamma, beta, 1e-5);
            tg_tensor *rows = tg_reshape(ln, TG_SHAPE(tg_tensor_size(ln) / in, in));
            int64_t shape[3];
            memcpy(shape, shapes[s], sizeof shape);
            shape[ranks[s] - 1] = out;
            tg_tensor *plain = tg_add(tg_reshape(tg_matmul_t(rows, w, false, true), ranks[s], shape), b);
            tg_tensor *fused = tg_layer_norm_linear(x, gamma, beta, 1e-5, w, b);
            cr_expect_lt(max_diff(fused, plain), 1e-12, "shape %d, affine %d", s, affine);
            tg_tensor *xs[5] = {x, w, b, gamma, beta}, *g_fused[5], *g_plain[5];
            int n = affine ? 5 : 3;
            gradients(weigh(fused, 7), n, xs, g_fused);
            gradients(weigh(plain, 7), n, xs, g_plain);
            for (int i = 0; i < n; i++)
                cr_expect_lt(max_diff(g_fused[i], g_plain[i]), 1e-12, "shape %d, affine %d, gradient %d", s, affine, i);
            tg_tape_reset(ctx);
        }
}

Test(ops_fused, layer_norm_linear_with_every_input_passes_gradcheck_and_gradgradcheck)
{
    tg_rng rng = tg_rng_seed(24);
    tg_tensor *in[5] = {param(&rng, TG_F64, TG_SHAPE(3, 4), -2, 2), param(&rng, TG_F64, TG_SHAPE(2, 4), -1, 1),
                        param(&rng, TG_F64, TG_SHAPE(2), -1, 1), param(&rng, TG_F64, TG_SHAPE(4), 0.5, 2),
                        param(&rng, TG_F64, TG_SHAPE(4), -1, 1)};
    for (int second = 0; second < 2; second++) {
        tg_gradcheck_report report;
        tg_gradcheck_options opts = {.step = second ? 1e-5 : 1e-6, .abs_tol = 1e-7, .rel_tol = 1e-6};
        tg_status status = second ? tg_gradgradcheck(ctx, norm_linear_squared, NULL, 5, in, &opts, &report)
                                  : tg_gradcheck(ctx, norm_linear_squared, NULL, 5, in, &opts, &report);
        cr_assert_eq(status, TG_OK, "%s", tg_ctx_error(ctx));
        cr_expect(report.passed && !report.vacuous, "order %d", second + 1);
        for (int i = 0; i < 5; i++)
            cr_expect(report.inputs[i].passed && report.inputs[i].max_abs_grad > 1e-3, "order %d, input %d: error %g",
                      second + 1, i, report.inputs[i].max_abs_error);
        tg_gradcheck_report_free(&report);
    }
}

Test(ops_fused, layer_norm_linear_keeps_no_normalised_copy_and_names_bad_shapes)
{
    tg_rng rng = tg_rng_seed(25);
    tg_tensor *x = param(&rng, TG_F32, TG_SHAPE(64, 256), -4, 4), *w = param(&rng, TG_F32, TG_SHAPE(16, 256), -1, 1);
    int64_t before = tg_ctx_step_bytes(ctx);
    cr_assert_not_null(tg_layer_norm_linear(x, NULL, NULL, 1e-5, w, NULL), "%s", tg_ctx_error(ctx));
    int64_t taken = tg_ctx_step_bytes(ctx) - before;
    cr_expect_lt(taken, 64 * 256 * 4, "took %lld bytes: the output [64, 16], not LN(x) [64, 256]", (long long)taken);
    tg_tensor *gamma = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(255));
    cr_expect_null(tg_layer_norm_linear(x, gamma, NULL, 1e-5, w, NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "layer_norm_linear") && strstr(tg_ctx_error(ctx), "gamma [255]") &&
              strstr(tg_ctx_error(ctx), "expected gamma [256]"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_layer_norm_linear(x, NULL, NULL, -1, w, NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "eps is -1"), "%s", tg_ctx_error(ctx));
}
