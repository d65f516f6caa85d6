/* The math ops and the newer activations: forward values against libm in f32
 * and f64, stability at extreme inputs, the gradient chosen at each kink, and
 * the errors for bad input. (Gradients in general: test_ops_grad.) */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tapegrad.h"
#include "tests/support.h"

static tg_ctx *ctx;
static void setup(void)
{
    ctx = tg_ctx_new(2);
    tg_ctx_set_error_handler(ctx, NULL, NULL); /* the bad-input tests read the error themselves */
}
static void teardown(void) { tg_ctx_free(ctx); }

TestSuite(ops_math, .init = setup, .fini = teardown);

#define BOTH_DTYPES for (tg_dtype dt = TG_F32; dt <= TG_F64; dt++)
#define N_GRID 41

/* x rounded to dt: the value the op really sees */
static double in_dtype(tg_dtype dt, double x) { return dt == TG_F32 ? (double)(float)x : x; }

/* |got - want| within a few units in the last place of dt, times cond, the
 * function's condition number where rounding its input moves it more (NaN
 * and Inf must match exactly). */
static bool close_cond(tg_dtype dt, double got, double want, double cond)
{
    if (isnan(want) || isinf(want))
        return isnan(want) ? isnan(got) : got == want;
    double eps = dt == TG_F32 ? 6e-8 : 1.1e-16;
    return fabs(got - want) <= 4 * eps * cond * fabs(want) + (dt == TG_F32 ? 1e-30 : 1e-300);
}
static bool close_in(tg_dtype dt, double got, double want) { return close_cond(dt, got, want, 4); }

/* The Gaussian tails (gelu's Φ(x) far left) have condition number about x². */
static double tail_cond(double x) { return 4 + x * x; }

/* n evenly spaced values in [low, high] */
static tg_tensor *grid(tg_dtype dt, double low, double high)
{
    double v[N_GRID];
    for (int i = 0; i < N_GRID; i++)
        v[i] = low + (high - low) * i / (N_GRID - 1);
    return tg_tensor_from(ctx, dt, TG_SHAPE(N_GRID), v);
}

static double no_cond(double x) { (void)x; return 4; }

static void expect_map_cond(const char *name, tg_tensor *x, tg_tensor *y, double (*ref)(double),
                            double (*cond)(double))
{
    cr_assert_not_null(y, "%s: %s", name, tg_ctx_error(ctx));
    tg_dtype dt = tg_tensor_dtype(x);
    cr_assert_eq(tg_tensor_dtype(y), dt);
    cr_assert_eq(tg_tensor_size(y), tg_tensor_size(x));
    for (int64_t i = 0; i < tg_tensor_size(x); i++) {
        double v = tg_tensor_get(x, i), want = in_dtype(dt, ref(v)), got = tg_tensor_get(y, i);
        cr_expect(close_cond(dt, got, want, cond(v)), "%s(%.9g) in %s: %.12g, libm says %.12g", name, v,
                  tg_dtype_name(dt), got, want);
    }
}

static void expect_map(const char *name, tg_tensor *x, tg_tensor *y, double (*ref)(double))
{
    expect_map_cond(name, x, y, ref, no_cond);
}

static double cube(double x) { return x * x * x; }
static double square(double x) { return x * x; }
static double pow_2_5(double x) { return pow(x, 2.5); }
static double pow_m1_5(double x) { return pow(x, -1.5); }
static double clamp_ref(double x) { return x < -0.5 ? -0.5 : x > 0.75 ? 0.75 : x; }

Test(ops_math, unary_maps_match_libm_in_f32_and_f64)
{
    BOTH_DTYPES {
        tg_tensor *any = grid(dt, -4, 4), *positive = grid(dt, 0, 9), *above_minus_one = grid(dt, -0.99, 5);
        expect_map("abs", any, tg_abs(any), fabs);
        expect_map("sqrt", positive, tg_sqrt(positive), sqrt);
        expect_map("log1p", above_minus_one, tg_log1p(above_minus_one), log1p);
        expect_map("expm1", any, tg_expm1(any), expm1);
        expect_map("erf", any, tg_erf(any), erf);
        expect_map("sin", any, tg_sin(any), sin);
        expect_map("cos", any, tg_cos(any), cos);
        expect_map("pow_scalar 3", any, tg_pow_scalar(any, 3), cube);
        expect_map("pow_scalar 2", any, tg_pow_scalar(any, 2), square);
        expect_map("pow_scalar 2.5", positive, tg_pow_scalar(positive, 2.5), pow_2_5);
        expect_map("pow_scalar -1.5", positive, tg_pow_scalar(positive, -1.5), pow_m1_5);
        expect_map("clamp", any, tg_clamp(any, -0.5, 0.75), clamp_ref);
    }
}

static double leaky_ref(double x) { return x > 0 ? x : 0.01 * x; }
static double elu_ref(double x) { return x > 0 ? x : expm1(x); }
static double softplus_ref(double x) { return fmax(x, 0) + log1p(exp(-fabs(x))); }
static double silu_ref(double x) { return x / (1 + exp(-x)); }
static double gelu_ref(double x) { return 0.5 * x * erfc(-x / sqrt(2)); }
/* ½x(1 + tanh u) written as x·σ(2u): 1 + tanh u cancels in the left tail */
static double gelu_tanh_ref(double x)
{
    return x / (1 + exp(-2 * sqrt(2 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
}

Test(ops_math, activations_match_their_formulas_in_f32_and_f64)
{
    BOTH_DTYPES {
        tg_tensor *x = grid(dt, -6, 6);
        expect_map("leaky_relu", x, tg_leaky_relu(x, 0.01), leaky_ref);
        expect_map("elu", x, tg_elu(x, 1), elu_ref);
        expect_map("softplus", x, tg_softplus(x), softplus_ref);
        expect_map("silu", x, tg_silu(x), silu_ref);
        expect_map_cond("gelu", x, tg_gelu(x), gelu_ref, tail_cond);
        expect_map_cond("gelu_tanh", x, tg_gelu_tanh(x), gelu_tanh_ref, tail_cond);
        /* the activation enum reaches the same ops */
        expect_map_cond("TG_ACT_GELU", x, tg_activate(x, TG_ACT_GELU), gelu_ref, tail_cond);
        expect_map("TG_ACT_LEAKY_RELU", x, tg_activate(x, TG_ACT_LEAKY_RELU), leaky_ref);
        expect_map("TG_ACT_ELU", x, tg_activate(x, TG_ACT_ELU), elu_ref);
    }
    cr_expect_str_eq(tg_activation_name(TG_ACT_GELU_TANH), "gelu_tanh");
    cr_expect_str_eq(tg_activation_name(TG_ACT_LEAKY_RELU), "leaky_relu");
}

/* f and df/dx of a one-element input, by the tape */
static void value_and_slope(tg_tensor *(*f)(tg_tensor *), tg_dtype dt, double x, double *value, double *slope)
{
    tg_tensor *t = tg_tensor_from(ctx, dt, TG_SHAPE(1), (double[]){x});
    tg_tensor_set_requires_grad(t, true);
    tg_tensor *y = f(t);
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    *value = tg_tensor_item(y);
    cr_assert_eq(tg_backward(tg_sum(y)), TG_OK, "%s", tg_ctx_error(ctx));
    *slope = tg_tensor_get(tg_tensor_grad(t), 0);
    tg_tensor_free(t);
    tg_tape_reset(ctx);
}

static tg_tensor *softplus_of(tg_tensor *x) { return tg_softplus(x); }
static tg_tensor *silu_of(tg_tensor *x) { return tg_silu(x); }
static tg_tensor *gelu_of(tg_tensor *x) { return tg_gelu(x); }
static tg_tensor *gelu_tanh_of(tg_tensor *x) { return tg_gelu_tanh(x); }
static tg_tensor *elu_of(tg_tensor *x) { return tg_elu(x, 1); }
static tg_tensor *leaky_of(tg_tensor *x) { return tg_leaky_relu(x, 0.01); }

Test(ops_math, softplus_is_exact_and_finite_at_plus_minus_1000_and_1e30)
{
    BOTH_DTYPES {
        const double xs[] = {1000, -1000, 1e30, -1e30, 0, -30, 30};
        for (size_t i = 0; i < sizeof xs / sizeof *xs; i++) {
            double x = in_dtype(dt, xs[i]), value, slope;
            value_and_slope(softplus_of, dt, x, &value, &slope);
            double want = in_dtype(dt, softplus_ref(x)), want_slope = in_dtype(dt, 1 / (1 + exp(-x)));
            cr_expect(close_in(dt, value, want), "softplus(%g) in %s: %.17g, expected %.17g", x, tg_dtype_name(dt), value, want);
            cr_expect(close_in(dt, slope, want_slope), "softplus'(%g) in %s: %.17g, expected %.17g", x,
                      tg_dtype_name(dt), slope, want_slope);
        }
    }
    /* the small left tail is kept, not rounded to 0: ln(1 + e⁻³⁰) ≈ 9.36e-14 */
    double value, slope;
    value_and_slope(softplus_of, TG_F64, -30, &value, &slope);
    cr_expect(fabs(value - 9.357622968839737e-14) < 1e-26, "%.17g", value);
}

Test(ops_math, smooth_activations_and_their_slopes_stay_finite_at_extremes)
{
    tg_tensor *(*fs[])(tg_tensor *) = {silu_of, gelu_of, gelu_tanh_of, elu_of, leaky_of, softplus_of};
    const char *names[] = {"silu", "gelu", "gelu_tanh", "elu", "leaky_relu", "softplus"};
    BOTH_DTYPES {
        const double xs[] = {1000, -1000, 1e30, -1e30};
        for (size_t f = 0; f < sizeof fs / sizeof *fs; f++)
            for (size_t i = 0; i < 4; i++) {
                double value, slope;
                value_and_slope(fs[f], dt, xs[i], &value, &slope);
                cr_expect(isfinite(value) && isfinite(slope), "%s(%g) in %s: value %g, slope %g", names[f], xs[i],
                          tg_dtype_name(dt), value, slope);
                /* far right: y ≈ x with slope 1; far left: y and slope ≈ 0 (elu: y → -1) */
                double want_slope = xs[i] > 0 ? 1 : f == 4 ? 0.01 : 0;
                cr_expect(fabs(slope - want_slope) < 1e-6, "%s'(%g) in %s: %g, expected %g", names[f], xs[i],
                          tg_dtype_name(dt), slope, want_slope);
            }
    }
}

Test(ops_math, gelu_keeps_its_left_tail_where_one_plus_erf_cancels)
{
    double value, slope;
    value_and_slope(gelu_of, TG_F64, -10, &value, &slope);
    /* -10·Φ(-10), Φ(-10) = 7.619853024160593e-24 */
    cr_expect(fabs(value / -7.619853024160593e-23 - 1) < 1e-12, "gelu(-10) = %.17g", value);
}

/* ---- kinks: the gradient each op chooses where it is not differentiable ---- */

static tg_tensor *abs_of(tg_tensor *x) { return tg_abs(x); }
static tg_tensor *sqrt_of(tg_tensor *x) { return tg_sqrt(x); }
static tg_tensor *clamp_of(tg_tensor *x) { return tg_clamp(x, -1, 2); }

Test(ops_math, kinks_take_the_documented_gradient)
{
    BOTH_DTYPES {
        double value, slope;
        value_and_slope(abs_of, dt, 0, &value, &slope);
        cr_expect(value == 0 && slope == 0, "abs'(0) = 0, got %g", slope);
        value_and_slope(abs_of, dt, -2, &value, &slope);
        cr_expect(value == 2 && slope == -1);
        value_and_slope(leaky_of, dt, 0, &value, &slope);
        cr_expect(value == 0 && close_in(dt, slope, in_dtype(dt, 0.01)), "leaky_relu'(0) = slope, got %g", slope);
        value_and_slope(elu_of, dt, 0, &value, &slope);
        cr_expect(value == 0 && slope == 1, "elu'(0) = alpha = 1, got %g", slope);
        value_and_slope(sqrt_of, dt, 0, &value, &slope);
        cr_expect(value == 0 && isinf(slope) && slope > 0, "sqrt'(0) = +Inf, got %g", slope);
        /* clamp: the closed interval passes the gradient, bounds included */
        const double xs[] = {-1, 2, -1.5, 2.5, 0.5}, want[] = {1, 1, 0, 0, 1};
        for (int i = 0; i < 5; i++) {
            value_and_slope(clamp_of, dt, xs[i], &value, &slope);
            cr_expect_eq(slope, want[i], "clamp'(%g) in [-1, 2]: %g", xs[i], slope);
        }
    }
}

Test(ops_math, maximum_and_minimum_split_the_gradient_of_a_tie)
{
    BOTH_DTYPES {
        tg_tensor *a = tg_tensor_from(ctx, dt, TG_SHAPE(3), (double[]){1, 5, 2});
        tg_tensor *b = tg_tensor_from(ctx, dt, TG_SHAPE(3), (double[]){1, 3, 4});
        tg_tensor_set_requires_grad(a, true);
        tg_tensor_set_requires_grad(b, true);
        tg_tensor *grads[2];
        for (int op = 0; op < 2; op++) {
            tg_tensor *y = op == 0 ? tg_maximum(a, b) : tg_minimum(a, b);
            double want_y[2][3] = {{1, 5, 4}, {1, 3, 2}};
            for (int i = 0; i < 3; i++)
                cr_expect_eq(tg_tensor_get(y, i), want_y[op][i]);
            cr_assert_eq(tg_grad(tg_sum(y), NULL, 2, (tg_tensor *[]){a, b}, grads, false), TG_OK);
            /* a tie (index 0) gives each half; otherwise the winner takes it all */
            double want_a[2][3] = {{0.5, 1, 0}, {0.5, 0, 1}};
            for (int i = 0; i < 3; i++) {
                cr_expect_eq(tg_tensor_get(grads[0], i), want_a[op][i], "op %d da[%d]", op, i);
                cr_expect_eq(tg_tensor_get(grads[1], i), 1 - want_a[op][i], "op %d db[%d]", op, i);
            }
        }
        /* maximum(x, x) passes the whole gradient to x */
        cr_assert_eq(tg_grad(tg_sum(tg_maximum(a, a)), NULL, 1, &a, grads, false), TG_OK);
        for (int i = 0; i < 3; i++)
            cr_expect_eq(tg_tensor_get(grads[0], i), 1);
        tg_tensor_free(a);
        tg_tensor_free(b);
        tg_tape_reset(ctx);
    }
}

/* ---- broadcasting binary ops ---- */

Test(ops_math, maximum_minimum_and_pow_broadcast_like_numpy)
{
    BOTH_DTYPES {
        tg_tensor *col = tg_tensor_from(ctx, dt, TG_SHAPE(2, 1), (double[]){1, 3});
        tg_tensor *row = tg_tensor_from(ctx, dt, TG_SHAPE(3), (double[]){0, 2, 4});
        tg_tensor *mx = tg_maximum(col, row), *mn = tg_minimum(row, col);
        cr_assert(mx && mn);
        cr_assert_eq(tg_tensor_rank(mx), 2);
        cr_expect(tg_tensor_dim(mx, 0) == 2 && tg_tensor_dim(mx, 1) == 3);
        double want_max[] = {1, 2, 4, 3, 3, 4}, want_min[] = {0, 1, 1, 0, 2, 3};
        for (int i = 0; i < 6; i++) {
            cr_expect_eq(tg_tensor_get(mx, i), want_max[i], "max[%d]", i);
            cr_expect_eq(tg_tensor_get(mn, i), want_min[i], "min[%d]", i);
        }
        tg_tensor *base = tg_tensor_from(ctx, dt, TG_SHAPE(2, 1), (double[]){2, 0.5});
        tg_tensor *p = tg_pow(base, row);
        cr_assert_not_null(p, "%s", tg_ctx_error(ctx));
        double want_pow[] = {1, 4, 16, 1, 0.25, 0.0625};
        for (int i = 0; i < 6; i++)
            cr_expect(close_in(dt, tg_tensor_get(p, i), want_pow[i]), "pow[%d] = %g", i, tg_tensor_get(p, i));
        /* pow against libm off the exact powers */
        tg_tensor *b = tg_tensor_from(ctx, dt, TG_SHAPE(3), (double[]){0.3, 1.7, 9});
        tg_tensor *e = tg_tensor_from(ctx, dt, TG_SHAPE(3), (double[]){-2.5, 0.37, 1.5});
        tg_tensor *q = tg_pow(b, e);
        for (int i = 0; i < 3; i++) {
            double want = in_dtype(dt, pow(tg_tensor_get(b, i), tg_tensor_get(e, i)));
            cr_expect(close_in(dt, tg_tensor_get(q, i), want), "pow %g^%g", tg_tensor_get(b, i), tg_tensor_get(e, i));
        }
        tg_tensor_free(col), tg_tensor_free(row), tg_tensor_free(base), tg_tensor_free(b), tg_tensor_free(e);
    }
}

Test(ops_math, maximum_and_minimum_propagate_nan_from_either_side)
{
    tg_tensor *a = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){NAN, 1});
    tg_tensor *b = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){1, NAN});
    for (int op = 0; op < 2; op++) {
        tg_tensor *y = op ? tg_minimum(a, b) : tg_maximum(a, b);
        cr_expect(isnan(tg_tensor_get(y, 0)) && isnan(tg_tensor_get(y, 1)), "op %d", op);
    }
}

Test(ops_math, where_picks_a_where_the_mask_is_nonzero_for_any_mask_dtype)
{
    BOTH_DTYPES {
        tg_tensor *a = tg_tensor_from(ctx, dt, TG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
        tg_tensor *b = tg_tensor_scalar(ctx, dt, -1);
        for (tg_dtype mdt = TG_F32; mdt <= TG_I64; mdt++) {
            /* a row mask [3] against a [2, 3] and a scalar b */
            tg_tensor *mask = tg_tensor_from(ctx, mdt, TG_SHAPE(3), (double[]){1, 0, -7});
            tg_tensor *y = tg_where(mask, a, b);
            cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
            double want[] = {1, -1, 3, 4, -1, 6};
            for (int i = 0; i < 6; i++)
                cr_expect_eq(tg_tensor_get(y, i), want[i], "mask %s: y[%d]", tg_dtype_name(mdt), i);
            tg_tensor_free(mask);
        }
        /* a column mask [2, 1] broadcasts the other way; NaN counts as nonzero */
        tg_tensor *mask = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 1), (double[]){0, NAN});
        tg_tensor *y = tg_where(mask, b, a);
        double want[] = {1, 2, 3, -1, -1, -1};
        for (int i = 0; i < 6; i++)
            cr_expect_eq(tg_tensor_get(y, i), want[i], "y[%d]", i);
        tg_tensor_free(a), tg_tensor_free(b), tg_tensor_free(mask);
    }
}

Test(ops_math, where_sends_the_gradient_to_the_picked_side_and_none_to_the_mask)
{
    tg_tensor *mask = tg_tensor_from(ctx, TG_I64, TG_SHAPE(2, 1), (double[]){1, 0});
    tg_tensor *a = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3), (double[]){1, 2, 3});
    tg_tensor *b = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 3), (double[]){4, 5, 6, 7, 8, 9});
    tg_tensor_set_requires_grad(a, true);
    tg_tensor_set_requires_grad(b, true);
    tg_tensor *grads[2];
    cr_assert_eq(tg_grad(tg_sum(tg_where(mask, a, b)), NULL, 2, (tg_tensor *[]){a, b}, grads, false), TG_OK,
                 "%s", tg_ctx_error(ctx));
    for (int i = 0; i < 3; i++)
        cr_expect_eq(tg_tensor_get(grads[0], i), 1, "a is picked in row 0 only: da[%d]", i);
    double want_b[] = {0, 0, 0, 1, 1, 1};
    for (int i = 0; i < 6; i++)
        cr_expect_eq(tg_tensor_get(grads[1], i), want_b[i], "db[%d]", i);
}

Test(ops_math, pow_scalar_of_a_negative_base_follows_libm)
{
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){-2, -8});
    cr_expect_eq(tg_tensor_get(tg_pow_scalar(x, 3), 0), -8, "integer powers take any sign");
    cr_expect(isnan(tg_tensor_get(tg_pow_scalar(x, 1.0 / 3), 1)), "a non-integer power of a negative is NaN");
    cr_expect_eq(tg_ctx_status(ctx), TG_OK);
}

Test(ops_math, labels_show_the_attributes)
{
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){1, 2});
    tg_tensor_set_requires_grad(x, true);
    tg_pow_scalar(x, 2);
    tg_clamp(x, -1, 1.5);
    tg_leaky_relu(x, 0.01);
    tg_elu(x, 1);
    const char *want[] = {"^ 2", "clamp [-1, 1.5]", "leaky_relu(0.01)", "elu(α=1)"};
    char buf[64];
    for (int i = 0; i < 4; i++)
        cr_expect_str_eq(tg_tape_entry_label(ctx, i, buf, sizeof buf), want[i]);
}

Test(ops_math, big_maps_run_in_parallel_ranges_with_the_same_values)
{
    enum { N = 1 << 18 };
    tg_rng rng = tg_rng_seed(3);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(N), 0, 3);
    tg_tensor *g = tg_tensor_full(ctx, TG_F32, TG_SHAPE(N), 1);
    tg_tensor *y = tg_gelu(x), *dy = tg_gelu_backward(g, x);
    cr_assert(y && dy);
    for (int64_t i = 0; i < N; i += 997) {
        double v = tg_tensor_get(x, i);
        cr_expect(close_cond(TG_F32, tg_tensor_get(y, i), in_dtype(TG_F32, gelu_ref(v)), tail_cond(v)), "gelu(%g) at %lld",
                  v, (long long)i);
        double slope = 0.5 * erfc(-v / sqrt(2)) + v * exp(-v * v / 2) / sqrt(2 * 3.14159265358979323846);
        cr_expect(fabs(tg_tensor_get(dy, i) - slope) < 1e-6, "gelu' at %lld", (long long)i);
    }
}

/* ---- bad input: a clear error, and the program carries on ---- */

Test(ops_math, pow_with_a_base_at_or_below_zero_is_an_error_naming_the_element)
{
    tg_tensor *base = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 2), (double[]){1, 2, -3, 0});
    tg_tensor *e = tg_tensor_scalar(ctx, TG_F64, 0.5);
    tg_tensor_set_name(base, "base");
    cr_expect_null(tg_pow(base, e));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("pow", "base [2, 2]", "2 element", "-3", "index 2", "> 0"));
    /* the program carries on: the same call with a good base works */
    tg_tensor_set(base, 2, 3);
    tg_tensor_set(base, 3, 4);
    tg_tensor *y = tg_pow(base, e);
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_get(y, 3), 2);
}

Test(ops_math, clamp_with_low_above_high_or_a_nan_bound_is_an_error)
{
    tg_tensor *x = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(2, 3));
    cr_expect_null(tg_clamp(x, 1, -1));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("clamp", "[1, -1]", "[2, 3]", "low <= high"));
    cr_expect_null(tg_clamp(x, NAN, 1));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("clamp", "nan"));
    cr_expect_not_null(tg_clamp(x, 2, 2), "low == high is a constant, not an error");
    cr_expect_not_null(tg_clamp(x, -INFINITY, 0), "one-sided");
    /* bounds beyond f32's range saturate to ±Inf: nothing is clamped */
    tg_tensor *v = tg_tensor_from(ctx, TG_F32, TG_SHAPE(2), (double[]){-3e38, 3e38});
    tg_tensor *same = tg_clamp(v, -1e300, 1e300);
    cr_assert_not_null(same);
    cr_expect(tg_tensor_get(same, 0) == tg_tensor_get(v, 0) && tg_tensor_get(same, 1) == tg_tensor_get(v, 1));
}

Test(ops_math, where_with_a_mask_that_does_not_broadcast_is_an_error)
{
    tg_tensor *a = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 3));
    tg_tensor *b = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(3));
    tg_tensor *mask = tg_tensor_zeros(ctx, TG_I64, TG_SHAPE(4));
    cr_expect_null(tg_where(mask, a, b));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("where", "mask [4]", "a [2, 3]", "b [3]"));
    tg_tensor *wide = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(4, 3));
    cr_expect_null(tg_where(tg_tensor_zeros(ctx, TG_I64, TG_SHAPE(3)), a, wide));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("where", "[2, 3]", "[4, 3]"));
    tg_tensor *f32 = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(3));
    cr_expect_null(tg_where(mask, a, f32));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("where", "dtypes"));
    tg_ctx *other = tg_ctx_new(1);
    tg_tensor *foreign = tg_tensor_zeros(other, TG_I64, TG_SHAPE(3));
    cr_expect_null(tg_where(foreign, a, b));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("where", "contexts"));
    tg_ctx_free(other);
}

Test(ops_math, binary_ops_name_themselves_when_shapes_do_not_broadcast)
{
    tg_tensor *a = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 3));
    tg_tensor *b = tg_tensor_ones(ctx, TG_F64, TG_SHAPE(4));
    cr_expect_null(tg_maximum(a, b));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("maximum", "[2, 3]", "[4]"));
    cr_expect_null(tg_minimum(a, b));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("minimum"));
    cr_expect_null(tg_pow(b, a));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("pow"));
    cr_expect_null(tg_gelu_backward(a, b));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("gelu_backward"));
    cr_expect_null(tg_elu_backward(a, b, 1));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("elu_backward"));
}

Test(ops_math, integer_tensors_and_bad_attributes_are_refused)
{
    tg_tensor *idx = tg_tensor_zeros(ctx, TG_I64, TG_SHAPE(3));
    tg_tensor *x = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(3));
    cr_expect_null(tg_sqrt(idx));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("sqrt", "i64", "f32 or f64"));
    cr_expect_null(tg_gelu(idx));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("gelu", "i64"));
    cr_expect_null(tg_clamp(idx, 0, 1));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("clamp", "i64"));
    cr_expect_null(tg_maximum(x, idx));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("maximum", "i64"));
    cr_expect_null(tg_where(idx, x, idx));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("where", "i64"));
    cr_expect_null(tg_leaky_relu(x, NAN));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("leaky_relu", "slope"));
    cr_expect_null(tg_elu(x, INFINITY));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("elu", "alpha"));
}

Test(ops_math, every_new_function_returns_null_for_null_arguments)
{
    tg_tensor *x = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(3));
    tg_tensor *(*unary[])(tg_tensor *) = {tg_abs, tg_sqrt, tg_log1p, tg_expm1, tg_erf, tg_sin, tg_cos,
                                          tg_softplus, tg_silu, tg_gelu, tg_gelu_tanh};
    for (size_t i = 0; i < sizeof unary / sizeof *unary; i++)
        cr_expect_null(unary[i](NULL), "unary op %zu", i);
    tg_tensor *(*binary[])(tg_tensor *, tg_tensor *) = {tg_pow, tg_maximum, tg_minimum, tg_softplus_backward,
                                                        tg_silu_backward, tg_gelu_backward, tg_gelu_tanh_backward};
    for (size_t i = 0; i < sizeof binary / sizeof *binary; i++) {
        cr_expect_null(binary[i](NULL, x), "binary op %zu", i);
        cr_expect_null(binary[i](x, NULL), "binary op %zu", i);
    }
    cr_expect_null(tg_pow_scalar(NULL, 2));
    cr_expect_null(tg_clamp(NULL, 0, 1));
    cr_expect_null(tg_leaky_relu(NULL, 0.1));
    cr_expect_null(tg_elu(NULL, 1));
    cr_expect_null(tg_leaky_relu_backward(NULL, x, 0.1));
    cr_expect_null(tg_elu_backward(x, NULL, 1));
    cr_expect_null(tg_where(NULL, x, x));
    cr_expect_null(tg_where(x, NULL, x));
    cr_expect_null(tg_where(x, x, NULL));
    cr_expect_null(tg_activate(NULL, TG_ACT_GELU));
    cr_expect_eq(tg_ctx_status(ctx), TG_OK, "a NULL input reports nothing of its own: %s", tg_ctx_error(ctx));
}
