/* Optimizers, schedules, initializers and the bookkeeping of the nn layer:
 * each update rule against numbers computed by hand, weight decay on weights
 * only, learning-rate schedules, init statistics and seeded determinism,
 * parameter counts (the course's 784-256-128-10 digit MLP has 235,146), and
 * the errors the layer reports. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tapegrad.h"

static tg_ctx *ctx;

static void setup(void)
{
    ctx = tg_ctx_new(1);
}

static void teardown(void)
{
    tg_ctx_free(ctx);
}

TestSuite(nn_optim, .init = setup, .fini = teardown);
TestSuite(nn_init, .init = setup, .fini = teardown);
TestSuite(nn_layers, .init = setup, .fini = teardown);
static void quiet(void)
{
    setup();
    tg_ctx_set_error_handler(ctx, NULL, NULL);
}
TestSuite(nn_errors, .init = quiet, .fini = teardown);

/* W [1, 2] and b [2] with names, requiring gradients. */
static tg_params two_params(tg_tensor *storage[2], tg_dtype dtype)
{
    storage[0] = tg_tensor_from(ctx, dtype, TG_SHAPE(1, 2), (double[]){1.0, -2.0});
    storage[1] = tg_tensor_from(ctx, dtype, TG_SHAPE(2), (double[]){0.5, 3.0});
    tg_tensor_set_name(storage[0], "w");
    tg_tensor_set_name(storage[1], "b");
    for (int i = 0; i < 2; i++)
        tg_tensor_set_requires_grad(storage[i], true);
    return (tg_params){2, storage};
}

/* Sets dW = gw and db = gb through the tape: L = Σ gw⊙W + Σ gb⊙b. */
static void set_grads(tg_params p, const double gw[2], const double gb[2])
{
    tg_dtype dtype = tg_tensor_dtype(p.items[0]);
    tg_tensor *cw = tg_tensor_temp(ctx, dtype, TG_SHAPE(1, 2)), *cb = tg_tensor_temp(ctx, dtype, TG_SHAPE(2));
    for (int i = 0; i < 2; i++) {
        tg_tensor_set(cw, i, gw[i]);
        tg_tensor_set(cb, i, gb[i]);
    }
    tg_params_zero_grad(p);
    tg_tensor *loss = tg_add(tg_sum(tg_mul(p.items[0], cw)), tg_sum(tg_mul(p.items[1], cb)));
    cr_assert_eq(tg_backward(loss), TG_OK);
    tg_tape_reset(ctx);
}

static void expect_values(tg_tensor *t, double a, double b, double tol)
{
    cr_expect_float_eq(tg_tensor_get(t, 0), a, tol, "%s[0] = %.17g, expected %.17g", tg_tensor_name(t),
                       tg_tensor_get(t, 0), a);
    cr_expect_float_eq(tg_tensor_get(t, 1), b, tol, "%s[1] = %.17g, expected %.17g", tg_tensor_name(t),
                       tg_tensor_get(t, 1), b);
}

/* ---- update rules ---- */

Test(nn_optim, sgd_step_is_w_minus_lr_times_grad)
{
    tg_tensor *s[2];
    tg_params p = two_params(s, TG_F64);
    tg_optimizer *opt = tg_optim_sgd_new(p, 0.1);
    cr_assert_not_null(opt);
    cr_expect_eq(tg_optim_state(opt).count, 0, "plain SGD has no state");
    set_grads(p, (double[]){0.5, -1}, (double[]){2, 0});
    cr_assert_eq(tg_optim_step(opt), TG_OK);
    expect_values(s[0], 1 - 0.05, -2 + 0.1, 1e-15);
    expect_values(s[1], 0.5 - 0.2, 3.0, 1e-15);
    cr_expect_eq(tg_optim_steps(opt), 1);
    tg_optim_free(opt);
}

Test(nn_optim, momentum_accumulates_velocity_v_mu_v_plus_g)
{
    tg_tensor *s[2];
    tg_params p = two_params(s, TG_F64);
    tg_optimizer *opt = tg_optim_momentum_new(p, 0.1, 0.9);
    tg_params state = tg_optim_state(opt);
    cr_assert_eq(state.count, 2, "one velocity per parameter, made with the optimizer");
    cr_expect_str_eq(tg_tensor_name(state.items[0]), "w.velocity");
    cr_expect_str_eq(tg_tensor_name(state.items[1]), "b.velocity");
    /* step 1, g = [1, 2]: v = g, w = w - 0.1 g */
    set_grads(p, (double[]){1, 2}, (double[]){-1, 0});
    tg_optim_step(opt);
    expect_values(state.items[0], 1, 2, 1e-15);
    expect_values(s[0], 0.9, -2.2, 1e-15);
    /* step 2, g = [3, -1]: v = 0.9·[1, 2] + [3, -1] = [3.9, 0.8]; w -= 0.1 v */
    set_grads(p, (double[]){3, -1}, (double[]){-1, 0});
    tg_optim_step(opt);
    expect_values(state.items[0], 3.9, 0.8, 1e-15);
    expect_values(s[0], 0.9 - 0.39, -2.2 - 0.08, 1e-14);
    expect_values(s[1], 0.5 + 0.1 + 0.19, 3, 1e-14); /* v_b = [-1.9, 0] */
    tg_optim_free(opt);
}

Test(nn_optim, adam_applies_bias_corrected_moments)
{
    tg_tensor *s[2];
    tg_params p = two_params(s, TG_F64);
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    tg_optimizer *opt = tg_optim_adam_new(p, lr, b1, b2, eps);
    tg_params state = tg_optim_state(opt);
    cr_assert_eq(state.count, 4, "m and v per parameter");
    cr_expect_str_eq(tg_tensor_name(state.items[0]), "w.m");
    cr_expect_str_eq(tg_tensor_name(state.items[1]), "w.v");
    cr_expect_str_eq(tg_tensor_name(state.items[2]), "b.m");
    cr_expect_str_eq(tg_tensor_name(state.items[3]), "b.v");

    const double g1[2] = {0.5, -2}, g2[2] = {-1, 4};
    double w[2] = {1, -2}, m[2] = {0, 0}, v[2] = {0, 0};
    const double *g[2] = {g1, g2};
    for (int t = 1; t <= 2; t++) {
        set_grads(p, g[t - 1], (double[]){0, 0});
        tg_optim_step(opt);
        for (int i = 0; i < 2; i++) { /* the rule, by hand */
            m[i] = b1 * m[i] + (1 - b1) * g[t - 1][i];
            v[i] = b2 * v[i] + (1 - b2) * g[t - 1][i] * g[t - 1][i];
            double mhat = m[i] / (1 - pow(b1, t)), vhat = v[i] / (1 - pow(b2, t));
            w[i] -= lr * mhat / (sqrt(vhat) + eps);
        }
        expect_values(state.items[0], m[0], m[1], 1e-15);
        expect_values(state.items[1], v[0], v[1], 1e-15);
        expect_values(s[0], w[0], w[1], 1e-14);
    }
    cr_expect_eq(tg_optim_steps(opt), 2);
    tg_optim_free(opt);
}

#if defined(__x86_64__)
#include <immintrin.h>
/* Gradients of 1e-20 square to subnormals (1e-40 < FLT_MIN). The step
 * computes with subnormals flushed, as tg_train does, whatever the caller's
 * mode (a subnormal weight reads as 0 there), and gives that mode back. */
Test(nn_optim, adam_step_flushes_subnormals_and_restores_the_callers_mode)
{
    float w[2][2];
    for (int mode = 0; mode < 2; mode++) {
        tg_fp_mode caller = mode ? tg_fp_flush_subnormals() : (tg_fp_mode){_mm_getcsr()};
        unsigned before = _mm_getcsr();
        tg_tensor *s[2];
        tg_params p = two_params(s, TG_F32);
        tg_tensor_set(s[0], 0, 1e-12); /* small enough to see a step of 1e-14 */
        tg_tensor_set(s[0], 1, 1e-40); /* subnormal */
        tg_optimizer *opt = tg_optim_adam_new(p, 0.01, 0.9, 0.999, 1e-8);
        set_grads(p, (double[]){1e-20, 0}, (double[]){0, 0});
        cr_assert_eq(tg_optim_step(opt), TG_OK);
        unsigned control = ~0x3fu; /* the low six bits are sticky exception flags, not the mode */
        cr_expect_eq(_mm_getcsr() & control, before & control, "the caller's mode is given back: %#x, was %#x",
                     _mm_getcsr(), before);
        tg_params state = tg_optim_state(opt);
        cr_expect_eq(tg_tensor_get(state.items[1], 0), 0.0, "v = (1 - b2)g^2 is subnormal: stored as 0");
        w[mode][0] = (float)tg_tensor_get(s[0], 0);
        w[mode][1] = (float)tg_tensor_get(s[0], 1);
        cr_expect_lt(w[mode][0], 1e-12f, "m/(sqrt(v) + eps) still moves w against the gradient");
        cr_expect_eq(w[mode][1], 0.0f, "a subnormal weight is flushed, as in tg_train (mode %d)", mode);
        tg_optim_free(opt);
        tg_fp_mode_restore(caller);
    }
    cr_expect_eq(memcmp(w[0], w[1], sizeof w[0]), 0, "the same bits in IEEE mode and in flush mode");
}
#endif

Test(nn_optim, adam_bias_correction_follows_the_restored_step_count)
{
    tg_tensor *s[2];
    tg_params p = two_params(s, TG_F64);
    tg_optimizer *opt = tg_optim_adam_new(p, 0.1, 0.9, 0.999, 1e-8);
    tg_params state = tg_optim_state(opt);
    /* as if restored from a checkpoint after 9 steps: t = 10 next */
    tg_tensor_fill(state.items[0], 0.2);
    tg_tensor_fill(state.items[1], 0.04);
    tg_optim_set_steps(opt, 9);
    set_grads(p, (double[]){1, 1}, (double[]){0, 0});
    tg_optim_step(opt);
    double m = 0.9 * 0.2 + 0.1, v = 0.999 * 0.04 + 0.001;
    double update = 0.1 * (m / (1 - pow(0.9, 10))) / (sqrt(v / (1 - pow(0.999, 10))) + 1e-8);
    expect_values(s[0], 1 - update, -2 - update, 1e-14);
    cr_expect_eq(tg_optim_steps(opt), 10);
    tg_optim_free(opt);
}

Test(nn_optim, float32_parameters_update_like_float64)
{
    tg_tensor *s[2];
    tg_params p = two_params(s, TG_F32);
    tg_optimizer *opt = tg_optim_momentum_new(p, 0.1, 0.5);
    set_grads(p, (double[]){1, 2}, (double[]){0, 0});
    tg_optim_step(opt);
    set_grads(p, (double[]){1, 2}, (double[]){0, 0});
    tg_optim_step(opt);
    expect_values(s[0], 1 - 0.1 - 0.15, -2 - 0.2 - 0.3, 1e-6);
    cr_expect_eq(tg_tensor_dtype(tg_optim_state(opt).items[0]), TG_F32);
    tg_optim_free(opt);
}

Test(nn_optim, weight_decay_touches_weights_not_biases)
{
    tg_tensor *s[2];
    tg_params p = two_params(s, TG_F64);
    tg_optimizer *opt = tg_optim_sgd_new(p, 0.1);
    cr_assert_eq(tg_optim_set_weight_decay(opt, TG_DECAY_L2, 0.5), TG_OK);
    set_grads(p, (double[]){0, 0}, (double[]){0, 0});
    tg_optim_step(opt); /* dW = 0 + 0.5 W: W ← W(1 - 0.05); b has no decay */
    expect_values(s[0], 0.95, -1.9, 1e-15);
    expect_values(s[1], 0.5, 3, 0);
    tg_optim_free(opt);

    tg_tensor_set(s[0], 0, 1);
    tg_tensor_set(s[0], 1, -2);
    opt = tg_optim_adam_new(p, 0.01, 0.9, 0.999, 1e-8);
    tg_optim_set_weight_decay(opt, TG_DECAY_DECOUPLED, 0.1);
    set_grads(p, (double[]){0, 0}, (double[]){0, 0});
    tg_optim_step(opt); /* zero gradient: Adam moves nothing; W ← W(1 - lr·λ) */
    expect_values(s[0], 1 - 0.001, -2 + 0.002, 1e-15);
    expect_values(s[1], 0.5, 3, 0);
    tg_optim_free(opt);
}

Test(nn_optim, parameters_without_a_gradient_are_skipped)
{
    tg_tensor *s[2];
    tg_params p = two_params(s, TG_F64);
    tg_optimizer *opt = tg_optim_momentum_new(p, 0.1, 0.9);
    tg_tensor *c = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){1, 1});
    cr_assert_eq(tg_backward(tg_sum(tg_mul(s[0], c))), TG_OK); /* only w is reached */
    cr_expect_null(tg_tensor_grad(s[1]));
    cr_assert_eq(tg_optim_step(opt), TG_OK);
    expect_values(s[0], 0.9, -2.1, 1e-15);
    expect_values(s[1], 0.5, 3, 0);
    expect_values(tg_optim_state(opt).items[1], 0, 0, 0);
    tg_optim_free(opt);
}

Test(nn_optim, zero_grad_and_learning_rate_accessors)
{
    tg_tensor *s[2];
    tg_params p = two_params(s, TG_F64);
    tg_optimizer *opt = tg_optim_sgd_new(p, 0.1);
    set_grads(p, (double[]){1, 2}, (double[]){3, 4});
    tg_optim_zero_grad(opt);
    expect_values(tg_tensor_grad(s[0]), 0, 0, 0);
    expect_values(tg_tensor_grad(s[1]), 0, 0, 0);
    cr_expect_eq(tg_optim_lr(opt), 0.1);
    tg_optim_set_lr(opt, 0.025);
    cr_expect_eq(tg_optim_lr(opt), 0.025);
    tg_optim_free(opt);
}

Test(nn_optim, each_optimizer_trains_a_regression_mlp)
{
    tg_rng rng = tg_rng_seed(5);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(16, 3), 0, 1);
    tg_tensor *y = tg_tensor_clone(tg_tanh(tg_sum_axis(x, 1, true))); /* y = tanh(x1 + x2 + x3) */
    tg_tape_reset(ctx);
    for (int kind = 0; kind < 3; kind++) {
        const int64_t widths[] = {3, 8, 1};
        const tg_activation acts[] = {TG_ACT_TANH, TG_ACT_NONE};
        rng = tg_rng_seed(9);
        tg_mlp *net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_XAVIER, &rng);
        tg_params p = tg_mlp_params(net);
        tg_optimizer *opt = kind == 0 ? tg_optim_sgd_new(p, 0.1)
                          : kind == 1 ? tg_optim_momentum_new(p, 0.05, 0.9)
                                      : tg_optim_adam_new(p, 0.02, 0.9, 0.999, 1e-8);
        double first = 0, last = 0;
        for (int step = 0; step < 300; step++) {
            tg_tensor *loss = tg_loss_mse(tg_mlp_forward(net, x), y);
            if (step == 0)
                first = tg_tensor_item(loss);
            last = tg_tensor_item(loss);
            tg_optim_zero_grad(opt);
            cr_assert_eq(tg_backward(loss), TG_OK);
            tg_optim_step(opt);
            tg_tape_reset(ctx);
            cr_assert_eq(tg_tape_length(ctx), 0);
        }
        cr_expect_lt(last, first / 10, "optimizer %d: loss %g -> %g", kind, first, last);
        tg_optim_free(opt);
        tg_mlp_free(net);
    }
}

/* ---- schedules ---- */

Test(nn_optim, step_schedule_multiplies_by_gamma_every_period)
{
    cr_expect_float_eq(tg_lr_step(0.1, 0.5, 10, 0), 0.1, 1e-15);
    cr_expect_float_eq(tg_lr_step(0.1, 0.5, 10, 9), 0.1, 1e-15);
    cr_expect_float_eq(tg_lr_step(0.1, 0.5, 10, 10), 0.05, 1e-15);
    cr_expect_float_eq(tg_lr_step(0.1, 0.5, 10, 35), 0.0125, 1e-15);
    cr_expect_float_eq(tg_lr_step(0.1, 0.5, 0, 2), 0.025, 1e-15, "period < 1 counts as 1");
}

Test(nn_optim, cosine_schedule_runs_from_base_to_min)
{
    cr_expect_float_eq(tg_lr_cosine(0.1, 0.001, 100, 0), 0.1, 1e-15);
    cr_expect_float_eq(tg_lr_cosine(0.1, 0.001, 100, 50), 0.0505, 1e-15);
    cr_expect_float_eq(tg_lr_cosine(0.1, 0.001, 100, 25), 0.001 + 0.5 * 0.099 * (1 + sqrt(0.5)), 1e-15);
    cr_expect_float_eq(tg_lr_cosine(0.1, 0.001, 100, 100), 0.001, 1e-15);
    cr_expect_float_eq(tg_lr_cosine(0.1, 0.001, 100, 1000), 0.001, 1e-15);
    double previous = 1;
    for (int t = 0; t <= 100; t++) {
        double lr = tg_lr_cosine(0.1, 0.001, 100, t);
        cr_expect_leq(lr, previous);
        previous = lr;
    }
}

/* ---- initializers ---- */

static void moments(tg_tensor *t, double *mean, double *var, double *max_abs)
{
    double s = 0, s2 = 0, m = 0;
    int64_t n = tg_tensor_size(t);
    for (int64_t i = 0; i < n; i++) {
        double v = tg_tensor_get(t, i);
        s += v;
        s2 += v * v;
        m = fmax(m, fabs(v));
    }
    *mean = s / (double)n;
    *var = s2 / (double)n - *mean * *mean;
    *max_abs = m;
}

Test(nn_init, xavier_is_uniform_within_sqrt_6_over_fan_sum)
{
    tg_rng rng = tg_rng_seed(1);
    tg_layer *layer = tg_layer_new(ctx, TG_F64, 300, 200, TG_ACT_TANH, TG_INIT_XAVIER, &rng);
    double mean, var, max_abs, limit = sqrt(6.0 / 500);
    moments(tg_layer_weight(layer), &mean, &var, &max_abs);
    cr_expect_leq(max_abs, limit);
    cr_expect_gt(max_abs, 0.99 * limit, "fills the interval");
    cr_expect(fabs(mean) < 0.01 * limit, "mean %g", mean);
    cr_expect(fabs(var / (2.0 / 500) - 1) < 0.02, "variance %g, expected 2/(in+out) = %g", var, 2.0 / 500);
    moments(tg_layer_bias(layer), &mean, &var, &max_abs);
    cr_expect_eq(max_abs, 0, "biases start at zero");
    tg_layer_free(layer);
}

Test(nn_init, he_is_normal_with_variance_2_over_fan_in)
{
    tg_rng rng = tg_rng_seed(2);
    tg_layer *layer = tg_layer_new(ctx, TG_F32, 400, 250, TG_ACT_RELU, TG_INIT_HE, &rng);
    double mean, var, max_abs;
    moments(tg_layer_weight(layer), &mean, &var, &max_abs);
    cr_expect(fabs(mean) < 0.01 * sqrt(2.0 / 400), "mean %g", mean);
    cr_expect(fabs(var / (2.0 / 400) - 1) < 0.02, "variance %g, expected %g", var, 2.0 / 400);
    tg_layer_free(layer);
}

Test(nn_init, normal_and_zeros_fill_as_asked)
{
    tg_rng rng = tg_rng_seed(3);
    tg_tensor *w = tg_tensor_new(ctx, TG_F64, TG_SHAPE(300, 300));
    cr_assert_eq(tg_init_fill(w, TG_INIT_NORMAL, 0.3, &rng), TG_OK);
    double mean, var, max_abs;
    moments(w, &mean, &var, &max_abs);
    cr_expect(fabs(mean) < 0.01, "mean %g", mean);
    cr_expect(fabs(sqrt(var) / 0.3 - 1) < 0.01, "stddev %g", sqrt(var));
    cr_assert_eq(tg_init_fill(w, TG_INIT_ZEROS, 0, &rng), TG_OK);
    moments(w, &mean, &var, &max_abs);
    cr_expect_eq(max_abs, 0);
}

Test(nn_init, the_same_seed_gives_the_same_network)
{
    const int64_t widths[] = {5, 7, 3};
    const tg_activation acts[] = {TG_ACT_RELU, TG_ACT_NONE};
    tg_rng r1 = tg_rng_seed(123), r2 = tg_rng_seed(123), r3 = tg_rng_seed(124);
    tg_mlp *a = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_HE, &r1);
    tg_mlp *b = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_HE, &r2);
    tg_mlp *c = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_HE, &r3);
    tg_params pa = tg_mlp_params(a), pb = tg_mlp_params(b), pc = tg_mlp_params(c);
    int differ = 0;
    for (int i = 0; i < pa.count; i++)
        for (int64_t k = 0; k < tg_tensor_size(pa.items[i]); k++) {
            cr_expect_eq(tg_tensor_get(pa.items[i], k), tg_tensor_get(pb.items[i], k));
            differ += tg_tensor_get(pa.items[i], k) != tg_tensor_get(pc.items[i], k);
        }
    cr_expect_gt(differ, 40, "another seed gives other weights");
    /* re-initialising with a fresh copy of the seed reproduces a */
    tg_rng r4 = tg_rng_seed(123);
    tg_mlp_init(c, TG_INIT_HE, 0, &r4);
    for (int i = 0; i < pa.count; i++)
        for (int64_t k = 0; k < tg_tensor_size(pa.items[i]); k++)
            cr_expect_eq(tg_tensor_get(pa.items[i], k), tg_tensor_get(pc.items[i], k));
    tg_mlp_free(a);
    tg_mlp_free(b);
    tg_mlp_free(c);
}

/* ---- layers and MLPs ---- */

Test(nn_layers, digit_mlp_784_256_128_10_has_235146_parameters)
{
    tg_rng rng = tg_rng_seed(1);
    const int64_t widths[] = {784, 256, 128, 10};
    const tg_activation acts[] = {TG_ACT_RELU, TG_ACT_RELU, TG_ACT_NONE};
    tg_mlp *net = tg_mlp_new(ctx, TG_F32, 3, widths, acts, TG_INIT_HE, &rng);
    cr_assert_not_null(net);
    cr_expect_eq(tg_mlp_param_count(net), 235146);
    cr_expect_eq(tg_params_count(tg_mlp_params(net)), 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
    cr_expect_eq(tg_mlp_depth(net), 3);

    FILE *f = tmpfile();
    cr_assert_not_null(f);
    tg_mlp_print(net, f);
    rewind(f);
    char text[2048] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    cr_expect(strstr(text, "784-256-128-10"), "%s", text);
    cr_expect(strstr(text, "[256, 784]"), "%s", text);
    cr_expect(strstr(text, "200,960"), "%s", text);
    cr_expect(strstr(text, "relu"), "%s", text);
    cr_expect(strstr(text, "total parameters: 235,146"), "%s", text);

    tg_tensor *x = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(64, 784));
    tg_tensor *logits = tg_mlp_forward(net, x);
    cr_assert_not_null(logits);
    cr_expect_eq(tg_tensor_dim(logits, 0), 64);
    cr_expect_eq(tg_tensor_dim(logits, 1), 10);
    tg_mlp_free(net);
}

Test(nn_layers, mlp_parameters_are_named_and_ordered_by_layer)
{
    tg_rng rng = tg_rng_seed(1);
    const int64_t widths[] = {4, 3, 2};
    const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_TANH};
    tg_mlp *net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_XAVIER, &rng);
    tg_params p = tg_mlp_params(net);
    const char *names[] = {"layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias"};
    cr_assert_eq(p.count, 4);
    for (int i = 0; i < 4; i++) {
        cr_expect_str_eq(tg_tensor_name(p.items[i]), names[i]);
        cr_expect(tg_tensor_requires_grad(p.items[i]));
    }
    cr_expect_eq(tg_tensor_dim(p.items[0], 0), 3);
    cr_expect_eq(tg_tensor_dim(p.items[0], 1), 4);
    cr_expect_eq(tg_layer_activation(tg_mlp_layer(net, 1)), TG_ACT_TANH);
    cr_expect_null(tg_mlp_layer(net, 2));
    tg_mlp_free(net);
}

Test(nn_layers, dense_layer_is_x_times_w_transposed_plus_b_then_activation)
{
    tg_rng rng = tg_rng_seed(1);
    tg_layer *layer = tg_layer_new(ctx, TG_F64, 3, 2, TG_ACT_RELU, TG_INIT_ZEROS, &rng);
    tg_tensor_copy(tg_layer_weight(layer), tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 3), (double[]){1, 2, 3, -1, 0, 1}));
    tg_tensor_copy(tg_layer_bias(layer), tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){0.5, -10}));
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 3), (double[]){1, 1, 1, 2, 0, -1});
    tg_tensor *z = tg_layer_linear(layer, x), *a = tg_layer_forward(layer, x);
    const double expect_z[4] = {6.5, -10, -0.5, -13}; /* rows: x·Wᵀ + b */
    for (int i = 0; i < 4; i++) {
        cr_expect_float_eq(tg_tensor_get(z, i), expect_z[i], 1e-15);
        cr_expect_float_eq(tg_tensor_get(a, i), fmax(expect_z[i], 0), 1e-15);
    }
    /* the activation enum maps to the ops */
    tg_tensor *v = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1), (double[]){-0.7});
    cr_expect_eq(tg_activate(v, TG_ACT_NONE), v);
    cr_expect_float_eq(tg_tensor_item(tg_activate(v, TG_ACT_SIGMOID)), 1 / (1 + exp(0.7)), 1e-15);
    cr_expect_float_eq(tg_tensor_item(tg_activate(v, TG_ACT_TANH)), tanh(-0.7), 1e-15);
    cr_expect_eq(tg_tensor_item(tg_activate(v, TG_ACT_RELU)), 0);
    tg_layer_free(layer);
}

Test(nn_layers, a_warm_training_step_records_the_same_tape_every_time)
{
    tg_rng rng = tg_rng_seed(1);
    const int64_t widths[] = {3, 4, 2};
    const tg_activation acts[] = {TG_ACT_RELU, TG_ACT_NONE};
    tg_mlp *net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_HE, &rng);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(5, 3), 0, 1);
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(5), (double[]){0, 1, 1, 0, 1});
    tg_optimizer *opt = tg_optim_adam_new(tg_mlp_params(net), 0.01, 0.9, 0.999, 1e-8);
    int64_t length = -1;
    for (int step = 0; step < 5; step++) {
        tg_tensor *loss = tg_loss_softmax_ce(tg_mlp_forward(net, x), y);
        tg_optim_zero_grad(opt);
        cr_assert_eq(tg_backward(loss), TG_OK);
        if (length >= 0)
            cr_expect_eq(tg_tape_length(ctx), length);
        length = tg_tape_length(ctx);
        tg_optim_step(opt);
        tg_tape_reset(ctx);
    }
    tg_optim_free(opt);
    tg_mlp_free(net);
}

/* ---- errors ---- */

Test(nn_errors, forward_with_the_wrong_width_names_the_shapes)
{
    tg_rng rng = tg_rng_seed(1);
    const int64_t widths[] = {4, 3, 2};
    const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_SIGMOID};
    tg_mlp *net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_XAVIER, &rng);
    tg_tensor *x = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 5));
    cr_expect_null(tg_mlp_forward(net, x));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    cr_expect(strstr(tg_ctx_error(ctx), "layer1.weight [3, 4]"), "%s", tg_ctx_error(ctx));
    cr_expect(strstr(tg_ctx_error(ctx), "[2, 5]"), "%s", tg_ctx_error(ctx));
    cr_expect(strstr(tg_ctx_error(ctx), "[n, 4]"), "%s", tg_ctx_error(ctx));
    tg_mlp_free(net);
}

Test(nn_errors, losses_refuse_mismatched_shapes)
{
    tg_tensor *a = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(4, 1)), *b = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(4));
    cr_expect_null(tg_loss_mse(a, b));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    cr_expect(strstr(tg_ctx_error(ctx), "tg_loss_mse"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_loss_half_sse(a, b));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_loss_bce(a, b, TG_REDUCE_MEAN));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_loss_bce_logits(a, b, TG_REDUCE_SUM));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    cr_expect_null(tg_loss_mse(NULL, b), "a NULL input passes through");
}

Test(nn_errors, constructors_reject_bad_arguments)
{
    tg_rng rng = tg_rng_seed(1);
    const int64_t widths[] = {4, 0, 2};
    const tg_activation acts[] = {TG_ACT_SIGMOID, (tg_activation)42};
    cr_expect_null(tg_mlp_new(ctx, TG_F64, 0, widths, acts, TG_INIT_XAVIER, &rng));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_XAVIER, &rng));
    cr_expect(strstr(tg_ctx_error(ctx), "layer 1"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_layer_new(ctx, TG_F64, 2, 2, (tg_activation)42, TG_INIT_HE, &rng));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_layer_new(ctx, TG_F64, 2, 2, TG_ACT_NONE, TG_INIT_HE, NULL));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);

    tg_tensor *s[2];
    tg_params p = two_params(s, TG_F64);
    cr_expect_null(tg_optim_sgd_new(p, -1));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_optim_momentum_new(p, 0.1, 1.0));
    cr_expect_null(tg_optim_adam_new(p, 0.1, 0.9, 0.999, 0));
    cr_expect_null(tg_optim_sgd_new((tg_params){0, NULL}, 0.1), "no parameters");
    tg_ctx_clear_error(ctx);
    tg_tensor *biases_only[1] = {s[1]};
    cr_expect_null(tg_loss_l2((tg_params){1, biases_only}, 0.1));
    cr_expect(strstr(tg_ctx_error(ctx), "no weight"), "%s", tg_ctx_error(ctx));
}

Test(nn_errors, perceptron_rejects_labels_other_than_plus_minus_one)
{
    tg_tensor *x = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 2));
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){1, 0});
    tg_tensor *w = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2));
    double b = 0;
    cr_expect_eq(tg_perceptron_train(w, &b, x, y, 1, 10, NULL, NULL, NULL), TG_ERR_ARG);
    cr_expect(strstr(tg_ctx_error(ctx), "y[1] is 0"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    tg_tensor *w3 = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(3));
    cr_expect_eq(tg_perceptron_train(w3, &b, x, y, 1, 10, NULL, NULL, NULL), TG_ERR_SHAPE);
}

/* Groups, by hand. lr 0.1, decoupled λ 0.1 for group 0; gradients 1 (w), 2
 * (E), 3 (b) from L = Σw + 2ΣE + 3Σb:
 *   w [1, 2], group 0 (rank 2: decayed):  w ← 0.99w - 0.1·1
 *   E [1, 2], group 1 (lr ×0.5, λ 0):      E ← E - 0.05·2
 *   b [2],    group 2 (lr ×1, λ 0.2):      b ← 0.98b - 0.1·3
 * then with lr 0.2, group 1 moves with it: E ← E - 0.1·2. */
Test(nn_optim, parameter_groups_have_their_own_learning_rate_and_weight_decay)
{
    tg_tensor *w = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){1, -2});
    tg_tensor *e = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){1, 2});
    tg_tensor *b = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){0.5, 3});
    tg_tensor *all[3] = {w, e, b};
    for (int i = 0; i < 3; i++)
        tg_tensor_set_requires_grad(all[i], true);
    tg_optimizer *opt = tg_optim_sgd_new((tg_params){3, all}, 0.1);
    cr_assert_eq(tg_optim_set_weight_decay(opt, TG_DECAY_DECOUPLED, 0.1), TG_OK);
    cr_expect_eq(tg_optim_add_group(opt, (tg_params){1, &e}, 0.5, 0.0), 1);
    cr_expect_eq(tg_optim_add_group(opt, (tg_params){1, &b}, 1.0, 0.2), 2);
    cr_expect_eq(tg_optim_group_of(opt, w), 0);
    cr_expect_eq(tg_optim_group_of(opt, b), 2);
    for (int step = 0; step < 2; step++) {
        tg_optim_zero_grad(opt);
        tg_tensor *loss = tg_add(tg_add(tg_sum(w), tg_mul_scalar(tg_sum(e), 2)), tg_mul_scalar(tg_sum(b), 3));
        cr_assert_eq(tg_backward(loss), TG_OK, "%s", tg_ctx_error(ctx));
        if (step == 1)
            tg_optim_set_lr(opt, 0.2);
        cr_assert_eq(tg_optim_step(opt), TG_OK);
        tg_tape_reset(ctx);
        if (step == 0) {
            const double want_w[2] = {0.89, -2.08}, want_e[2] = {0.9, 1.9}, want_b[2] = {0.19, 2.64};
            for (int i = 0; i < 2; i++) {
                cr_expect_float_eq(tg_tensor_get(w, i), want_w[i], 1e-12, "w[%d] = %g", i, tg_tensor_get(w, i));
                cr_expect_float_eq(tg_tensor_get(e, i), want_e[i], 1e-12, "E[%d] = %g", i, tg_tensor_get(e, i));
                cr_expect_float_eq(tg_tensor_get(b, i), want_b[i], 1e-12, "b[%d] = %g", i, tg_tensor_get(b, i));
            }
        }
    }
    cr_expect_float_eq(tg_tensor_get(e, 0), 0.7, 1e-12, "E[0] = %g: group 1 runs at half of lr 0.2",
                       tg_tensor_get(e, 0));
    tg_optim_free(opt);
}

Test(nn_errors, a_group_member_that_is_not_a_parameter_or_decay_without_a_kind_is_refused)
{
    tg_tensor *w = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(2, 2)), *stranger = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(2));
    tg_tensor_set_name(stranger, "stranger");
    tg_optimizer *opt = tg_optim_sgd_new((tg_params){1, &w}, 0.1);
    cr_expect_eq(tg_optim_add_group(opt, (tg_params){1, &stranger}, 1, 0), -1);
    cr_expect(strstr(tg_ctx_error(ctx), "stranger") && strstr(tg_ctx_error(ctx), "not one of"), "%s",
              tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_optim_add_group(opt, (tg_params){1, &w}, 1, 0.1), -1);
    cr_expect(strstr(tg_ctx_error(ctx), "no decay kind"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_optim_add_group(opt, (tg_params){1, &w}, -1, 0), -1);
    cr_expect_eq(tg_optim_group_of(opt, stranger), -1);
    tg_optim_free(opt);
}
