/* Layers (tapegrad/model.h): each layer's gradient matches central finite
 * differences in float64 (input and every parameter, none vacuous); batch
 * norm in training and eval mode and layer norm match values computed by hand;
 * dropout is seeded, scales what it keeps and is off in eval mode; an LSTM
 * step matches the textbook gate formulas written as plain loops; embeddings
 * sum the gradient of repeated rows; gradient-norm clipping and AdamW match
 * their formulas; bad inputs (a conv input of another rank, channels that do
 * not match, a window larger than the padded input, an LSTM sequence of the
 * wrong rank, an embedding index out of range) give errors naming the layer,
 * the shape and what was expected, and the program carries on. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tapegrad.h"

static tg_ctx *ctx;

static void setup(void)
{
    ctx = tg_ctx_new(1);
    tg_ctx_set_error_handler(ctx, NULL, NULL);
}

static void teardown(void) { tg_ctx_free(ctx); }

TestSuite(nn_layers, .init = setup, .fini = teardown);

static tg_module *make(const tg_layer_spec *spec, uint64_t seed)
{
    tg_rng rng = tg_rng_seed(seed);
    tg_module *m = tg_module_new(ctx, TG_F64, spec, &rng);
    cr_assert_not_null(m, "%s", tg_ctx_error(ctx));
    return m;
}

static tg_tensor *module_fn(tg_tensor *const *inputs, void *user) { return tg_module_forward(user, inputs[0]); }

/* Gradcheck of the module's output with respect to x and every parameter. */
static void check_module_gradient(tg_module *m, tg_tensor *x, const char *what)
{
    tg_params p = tg_module_params(m);
    tg_tensor *inputs[8] = {x}; /* x and at most 4 parameters (MODULE_MAX_PARAMS) */
    int n = 1;
    for (int i = 0; i < p.count; i++)
        inputs[n++] = p.items[i];
    tg_tensor_set_requires_grad(x, true);
    tg_gradcheck_options opts = {.step = 1e-6, .abs_tol = 1e-7, .rel_tol = 1e-5, .seed = 3};
    tg_gradcheck_report report;
    cr_assert_eq(tg_gradcheck(ctx, module_fn, m, n, inputs, &opts, &report), TG_OK, "%s: %s", what,
                 tg_ctx_error(ctx));
    for (int i = 0; i < report.n_inputs; i++) {
        cr_expect(report.inputs[i].passed, "%s input %d: abs error %g", what, i, report.inputs[i].max_abs_error);
        cr_expect_gt(report.inputs[i].max_abs_grad, 0, "%s input %d: the gradient is zero", what, i);
    }
    tg_gradcheck_report_free(&report);
    tg_tape_reset(ctx);
}

static tg_tensor *randn(uint64_t seed, int rank, const int64_t *shape)
{
    tg_rng rng = tg_rng_seed(seed);
    return tg_tensor_randn(ctx, &rng, TG_F64, rank, shape, 0, 1);
}

Test(nn_layers, dense_conv_and_pool_gradients_match_finite_differences)
{
    tg_module *dense = make(&(tg_layer_spec){.kind = TG_LAYER_DENSE, .in = 3, .out = 2, .act = TG_ACT_TANH}, 1);
    check_module_gradient(dense, randn(2, TG_SHAPE(2, 4, 3)), "dense on [2, 4, 3]");
    tg_module *conv = make(&(tg_layer_spec){.kind = TG_LAYER_CONV2D, .in = 2, .out = 3, .kernel = 3, .padding = 1,
                                            .stride = 2, .act = TG_ACT_TANH}, 3);
    check_module_gradient(conv, randn(4, TG_SHAPE(2, 2, 5, 5)), "conv2d");
    tg_module *avg = make(&(tg_layer_spec){.kind = TG_LAYER_AVG_POOL2D, .kernel = 2}, 5);
    check_module_gradient(avg, randn(6, TG_SHAPE(1, 2, 4, 4)), "avg_pool2d");
    tg_module_free(dense);
    tg_module_free(conv);
    tg_module_free(avg);
}

Test(nn_layers, pools_and_flatten_give_the_hand_computed_values)
{
    const double v[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 1, 4, 4), v);
    tg_module *max = make(&(tg_layer_spec){.kind = TG_LAYER_MAX_POOL2D, .kernel = 2}, 1);
    tg_module *avg = make(&(tg_layer_spec){.kind = TG_LAYER_AVG_POOL2D, .kernel = 2}, 1);
    tg_module *flat = make(&(tg_layer_spec){.kind = TG_LAYER_FLATTEN}, 1);
    tg_tensor *ym = tg_module_forward(max, x), *ya = tg_module_forward(avg, x), *yf = tg_module_forward(flat, ym);
    cr_assert_not_null(yf, "%s", tg_ctx_error(ctx));
    const double want_max[4] = {6, 8, 14, 16}, want_avg[4] = {3.5, 5.5, 11.5, 13.5};
    cr_expect_eq(tg_tensor_rank(yf), 2);
    cr_expect_eq(tg_tensor_dim(yf, 1), 4);
    for (int i = 0; i < 4; i++) {
        cr_expect_float_eq(tg_tensor_get(yf, i), want_max[i], 1e-12);
        cr_expect_float_eq(tg_tensor_get(ya, i), want_avg[i], 1e-12);
    }
    tg_module_free(max);
    tg_module_free(avg);
    tg_module_free(flat);
}

/* x [4, 2]: channel 0 = 1, 2, 3, 6 (mean 3, biased var 3.5); channel 1 = 0, 0, 4, 4
 * (mean 2, var 4). With γ = (2, 1), β = (0.5, -1), ε = 0: y = γ(x - μ)/σ + β. */
Test(nn_layers, batch_norm_training_matches_hand_computed_values_and_updates_running_stats)
{
    tg_module *bn = make(&(tg_layer_spec){.kind = TG_LAYER_BATCH_NORM, .in = 2, .eps = 1e-300, .momentum = 0.5}, 1);
    tg_params p = tg_module_params(bn), b = tg_module_buffers(bn);
    cr_assert_eq(p.count, 2);
    cr_assert_eq(b.count, 2);
    cr_expect_str_eq(tg_tensor_name(b.items[0]), "batchnorm.running_mean"); /* the kind's short name */
    cr_expect_not(tg_tensor_requires_grad(b.items[1]));
    tg_tensor_set(p.items[0], 0, 2), tg_tensor_set(p.items[0], 1, 1);
    tg_tensor_set(p.items[1], 0, 0.5), tg_tensor_set(p.items[1], 1, -1);
    const double xv[8] = {1, 0, 2, 0, 3, 4, 6, 4};
    tg_tensor *y = tg_module_forward(bn, tg_tensor_from(ctx, TG_F64, TG_SHAPE(4, 2), xv));
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    double s0 = sqrt(3.5), s1 = 2;
    const double want[8] = {2 * (1 - 3) / s0 + 0.5, (0 - 2) / s1 - 1, 2 * (2 - 3) / s0 + 0.5, (0 - 2) / s1 - 1,
                            2 * (3 - 3) / s0 + 0.5, (4 - 2) / s1 - 1, 2 * (6 - 3) / s0 + 0.5, (4 - 2) / s1 - 1};
    for (int i = 0; i < 8; i++)
        cr_expect_float_eq(tg_tensor_get(y, i), want[i], 1e-12, "element %d", i);
    /* running = ½·0 + ½·μ and ½·1 + ½·(4/3)σ² (unbiased) */
    cr_expect_float_eq(tg_tensor_get(b.items[0], 0), 1.5, 1e-12);
    cr_expect_float_eq(tg_tensor_get(b.items[0], 1), 1.0, 1e-12);
    cr_expect_float_eq(tg_tensor_get(b.items[1], 0), 0.5 + 0.5 * 3.5 * 4 / 3, 1e-12);
    cr_expect_float_eq(tg_tensor_get(b.items[1], 1), 0.5 + 0.5 * 4 * 4 / 3, 1e-12);
    tg_module_free(bn);
}

Test(nn_layers, batch_norm_eval_uses_running_stats_and_leaves_them_alone)
{
    tg_module *bn = make(&(tg_layer_spec){.kind = TG_LAYER_BATCH_NORM, .in = 2, .eps = 0.01}, 1);
    tg_params b = tg_module_buffers(bn);
    tg_tensor_set(b.items[0], 0, 1), tg_tensor_set(b.items[0], 1, -2);
    tg_tensor_set(b.items[1], 0, 4), tg_tensor_set(b.items[1], 1, 0.25);
    tg_module_set_training(bn, false);
    /* [N, C, H, W] = [1, 2, 1, 2]: channel 0 = (3, 5), channel 1 = (0, -2) */
    const double xv[4] = {3, 5, 0, -2};
    tg_tensor *y = tg_module_forward(bn, tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2, 1, 2), xv));
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    const double want[4] = {(3 - 1) / sqrt(4.01), (5 - 1) / sqrt(4.01), (0 + 2) / sqrt(0.26), (-2 + 2) / sqrt(0.26)};
    for (int i = 0; i < 4; i++)
        cr_expect_float_eq(tg_tensor_get(y, i), want[i], 1e-12, "element %d", i);
    cr_expect_eq(tg_tensor_get(b.items[0], 0), 1);
    cr_expect_eq(tg_tensor_get(b.items[1], 1), 0.25);
    tg_module_free(bn);
}

Test(nn_layers, batch_norm_and_layer_norm_gradients_match_finite_differences)
{
    tg_module *bn = make(&(tg_layer_spec){.kind = TG_LAYER_BATCH_NORM, .in = 3}, 1);
    tg_rng rng = tg_rng_seed(9);
    tg_tensor_fill(tg_module_params(bn).items[0], 0);
    tg_tensor *gamma = tg_module_params(bn).items[0];
    for (int i = 0; i < 3; i++)
        tg_tensor_set(gamma, i, 0.5 + tg_rng_uniform(&rng));
    check_module_gradient(bn, randn(10, TG_SHAPE(4, 3, 2, 2)), "batch_norm [4, 3, 2, 2]");
    tg_module *ln = make(&(tg_layer_spec){.kind = TG_LAYER_LAYER_NORM, .in = 5}, 2);
    tg_tensor_set(tg_module_params(ln).items[0], 2, 1.7);
    check_module_gradient(ln, randn(11, TG_SHAPE(3, 5)), "layer_norm [3, 5]");
    tg_module_free(bn);
    tg_module_free(ln);
}

Test(nn_layers, layer_norm_matches_hand_computed_values)
{
    tg_module *ln = make(&(tg_layer_spec){.kind = TG_LAYER_LAYER_NORM, .in = 4, .eps = 1e-300}, 1);
    const double xv[4] = {1, 2, 3, 6}; /* mean 3, var (4 + 1 + 0 + 9)/4 = 3.5 */
    tg_tensor *y = tg_module_forward(ln, tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 4), xv));
    cr_assert_not_null(y);
    for (int i = 0; i < 4; i++)
        cr_expect_float_eq(tg_tensor_get(y, i), (xv[i] - 3) / sqrt(3.5), 1e-12);
    tg_module_free(ln);
}

Test(nn_layers, dropout_is_seeded_scales_kept_values_and_is_off_in_eval_mode)
{
    tg_layer_spec spec = {.kind = TG_LAYER_DROPOUT, .rate = 0.25, .seed = 77};
    tg_module *a = make(&spec, 1), *b = make(&spec, 2);
    tg_tensor *x = tg_tensor_full(ctx, TG_F64, TG_SHAPE(100, 40), 2.0);
    tg_tensor *ya = tg_module_forward(a, x), *yb = tg_module_forward(b, x);
    cr_assert_not_null(ya);
    int64_t zeros = 0;
    for (int64_t i = 0; i < 4000; i++) {
        double v = tg_tensor_get(ya, i);
        cr_assert(v == 0 || fabs(v - 2 / 0.75) < 1e-12, "element %lld is %g", (long long)i, v);
        zeros += v == 0;
        cr_assert_eq(v, tg_tensor_get(yb, i), "the same seed gives the same mask");
    }
    cr_expect(zeros > 850 && zeros < 1150, "%lld of 4000 dropped; expected about 1000", (long long)zeros);
    tg_module_set_training(a, false);
    cr_expect_eq(tg_module_forward(a, x), x, "eval mode passes x through");
    tg_module_free(a);
    tg_module_free(b);
}

Test(nn_layers, embedding_picks_rows_and_sums_gradients_of_repeated_indices)
{
    tg_module *emb = make(&(tg_layer_spec){.kind = TG_LAYER_EMBEDDING, .in = 5, .out = 3}, 1);
    tg_tensor *w = tg_module_params(emb).items[0];
    const double idx[4] = {4, 1, 4, 0};
    tg_tensor *y = tg_module_forward(emb, tg_tensor_from(ctx, TG_I64, TG_SHAPE(2, 2), idx));
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_rank(y), 3);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            cr_expect_eq(tg_tensor_get(y, i * 3 + j), tg_tensor_get(w, (int64_t)idx[i] * 3 + j));
    cr_assert_eq(tg_backward(tg_sum(y)), TG_OK, "%s", tg_ctx_error(ctx));
    const double want[5] = {1, 1, 0, 0, 2};
    for (int r = 0; r < 5; r++)
        cr_expect_eq(tg_tensor_get(tg_tensor_grad(w), r * 3), want[r], "row %d", r);
    tg_tape_reset(ctx);
    /* float indices work too; one out of range is an error naming the layer */
    cr_expect_not_null(tg_module_forward(emb, tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){0, 3})));
    cr_expect_null(tg_module_forward(emb, tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){0, 5})));
    cr_expect(strstr(tg_ctx_error(ctx), "embedding layer embedding") && strstr(tg_ctx_error(ctx), "[0, 5)"), "%s",
              tg_ctx_error(ctx));
    tg_module_free(emb);
}

Test(nn_layers, recurrent_unrolls_match_finite_differences)
{
    const tg_layer_kind kinds[] = {TG_LAYER_RNN, TG_LAYER_LSTM, TG_LAYER_GRU};
    for (int k = 0; k < 3; k++) {
        tg_module *cell = make(&(tg_layer_spec){.kind = kinds[k], .in = 3, .out = 2}, 5 + (uint64_t)k);
        tg_tensor *seq = randn(20 + (uint64_t)k, TG_SHAPE(3, 2, 3)); /* [B 3, T 2, in 3] */
        tg_tensor *y = tg_module_forward(cell, seq);
        cr_assert_not_null(y, "%s: %s", tg_layer_kind_name(kinds[k]), tg_ctx_error(ctx));
        cr_expect_eq(tg_tensor_dim(y, 0), 3);
        cr_expect_eq(tg_tensor_dim(y, 1), 2);
        cr_expect_eq(tg_tensor_dim(y, 2), 2);
        /* the layer is batch-first: the time-major unroll of the transposed sequence, transposed back */
        tg_tensor *ref = tg_transpose(tg_recurrent_unroll(cell, tg_transpose(seq, 0, 1), NULL, NULL, NULL, NULL), 0, 1);
        cr_assert_not_null(ref, "%s", tg_ctx_error(ctx));
        for (int i = 0; i < 12; i++)
            cr_expect_eq(tg_tensor_get(y, i), tg_tensor_get(ref, i), "%s: entry %d", tg_layer_kind_name(kinds[k]), i);
        tg_tape_reset(ctx);
        check_module_gradient(cell, seq, tg_layer_kind_name(kinds[k]));
        tg_module_free(cell);
    }
}

static double sigmoid(double z) { return 1 / (1 + exp(-z)); }

Test(nn_layers, lstm_step_matches_the_gate_formulas_as_plain_loops)
{
    enum { B = 2, F = 3, H = 2 };
    tg_module *lstm = make(&(tg_layer_spec){.kind = TG_LAYER_LSTM, .in = F, .out = H}, 4);
    tg_params p = tg_module_params(lstm); /* W_ih [4H, F], W_hh [4H, H], b_ih, b_hh [4H] */
    tg_tensor *x = randn(1, TG_SHAPE(B, F)), *h = randn(2, TG_SHAPE(B, H)), *c = randn(3, TG_SHAPE(B, H));
    tg_tensor *c_next = NULL, *h_next = tg_recurrent_step(lstm, x, h, c, &c_next);
    cr_assert_not_null(h_next, "%s", tg_ctx_error(ctx));
    for (int b = 0; b < B; b++)
        for (int j = 0; j < H; j++) {
            double gate[4];
            for (int g = 0; g < 4; g++) {
                int row = g * H + j;
                double z = tg_tensor_get(p.items[2], row) + tg_tensor_get(p.items[3], row);
                for (int f = 0; f < F; f++)
                    z += tg_tensor_get(p.items[0], row * F + f) * tg_tensor_get(x, b * F + f);
                for (int k = 0; k < H; k++)
                    z += tg_tensor_get(p.items[1], row * H + k) * tg_tensor_get(h, b * H + k);
                gate[g] = g == 2 ? tanh(z) : sigmoid(z);
            }
            double c2 = gate[1] * tg_tensor_get(c, b * H + j) + gate[0] * gate[2];
            cr_expect_float_eq(tg_tensor_get(c_next, b * H + j), c2, 1e-12);
            cr_expect_float_eq(tg_tensor_get(h_next, b * H + j), gate[3] * tanh(c2), 1e-12);
        }
    /* the forget gate's bias starts at 1 */
    cr_expect_eq(tg_tensor_get(p.items[2], H), 1);
    tg_module_free(lstm);
}

/* ---- bad input: an error naming the layer, the shape and what was expected ---- */

static void expect_error(tg_tensor *y, const char *const *needles)
{
    cr_expect_null(y);
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_SHAPE, "%s", tg_ctx_error(ctx));
    for (int i = 0; needles[i]; i++)
        cr_expect(strstr(tg_ctx_error(ctx), needles[i]), "\"%s\" not in: %s", needles[i], tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
}

Test(nn_layers, bad_inputs_name_the_layer_and_the_program_carries_on)
{
    tg_module *conv =
        make(&(tg_layer_spec){.kind = TG_LAYER_CONV2D, .name = "stem", .in = 3, .out = 4, .kernel = 5}, 1);
    expect_error(tg_module_forward(conv, randn(1, TG_SHAPE(3, 8, 8))),
                 (const char *[]){"conv2d layer stem", "[3, 8, 8]", "rank 4", NULL});
    expect_error(tg_module_forward(conv, randn(1, TG_SHAPE(2, 1, 8, 8))),
                 (const char *[]){"conv2d layer stem", "[2, 1, 8, 8]", "3 input channels", "do not match", NULL});
    expect_error(tg_module_forward(conv, randn(1, TG_SHAPE(1, 3, 4, 9))),
                 (const char *[]){"conv2d layer stem", "[1, 3, 4, 9]", ">= kernel 5", NULL});
    tg_module *lstm = make(&(tg_layer_spec){.kind = TG_LAYER_LSTM, .in = 8, .out = 4}, 2);
    expect_error(tg_module_forward(lstm, randn(1, TG_SHAPE(5, 8))),
                 (const char *[]){"lstm layer lstm", "[5, 8]", "[B, T, 8]", "rank 3", "batch-first", NULL});
    expect_error(tg_recurrent_unroll(lstm, randn(1, TG_SHAPE(2, 5, 4, 8)), NULL, NULL, NULL, NULL),
                 (const char *[]){"lstm layer lstm", "[2, 5, 4, 8]", NULL});
    expect_error(tg_recurrent_step(lstm, randn(1, TG_SHAPE(2, 8)), randn(2, TG_SHAPE(2, 5)), NULL, NULL),
                 (const char *[]){"lstm layer lstm", "state h", "[2, 5]", "[2, 4]", NULL});
    /* ... and the same layers work on good input afterwards */
    cr_expect_not_null(tg_module_forward(conv, randn(1, TG_SHAPE(1, 3, 5, 5))), "%s", tg_ctx_error(ctx));
    cr_expect_not_null(tg_module_forward(lstm, randn(1, TG_SHAPE(2, 1, 8))), "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_ctx_status(ctx), TG_OK);
    tg_module_free(conv);
    tg_module_free(lstm);
}

Test(nn_layers, bad_specs_are_refused_with_the_reason)
{
    tg_rng rng = tg_rng_seed(1);
    cr_expect_null(tg_module_new(ctx, TG_F32, &(tg_layer_spec){.kind = TG_LAYER_CONV2D, .in = 1, .out = 2}, &rng));
    cr_expect(strstr(tg_ctx_error(ctx), "kernel 0"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_module_new(ctx, TG_F32, &(tg_layer_spec){.kind = TG_LAYER_DROPOUT, .rate = 1}, &rng));
    cr_expect(strstr(tg_ctx_error(ctx), "rate 1"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_module_new(ctx, TG_F32, &(tg_layer_spec){.kind = (tg_layer_kind)99}, &rng));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_module_new(ctx, TG_F32, NULL, &rng));
    cr_expect_null(tg_module_new(NULL, TG_F32, &(tg_layer_spec){.kind = TG_LAYER_FLATTEN}, &rng));
    cr_expect_null(tg_module_forward(NULL, NULL));
    cr_expect_eq(tg_module_params(NULL).count, 0);
    tg_module_free(NULL);
}

/* ---- training aids ---- */

Test(nn_layers, clip_grad_norm_scales_to_max_norm_and_returns_the_norm_before)
{
    tg_tensor *a = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2)), *b = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(1));
    tg_tensor_set_requires_grad(a, true), tg_tensor_set_requires_grad(b, true);
    /* loss = 3·a0 + 0·a1 + 4·b0: gradients (3, 0) and (4), norm 5 */
    tg_tensor *w = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){3, 0});
    tg_tensor *loss_a = tg_sum(tg_mul(a, w)), *loss_b = tg_sum(tg_mul_scalar(b, 4));
    cr_assert_eq(tg_backward(loss_a), TG_OK);
    cr_assert_eq(tg_backward(loss_b), TG_OK);
    tg_params params = {2, (tg_tensor *[]){a, b}};
    double norm = tg_clip_grad_norm(params, 10); /* (Criterion's macros evaluate twice) */
    cr_expect_float_eq(norm, 5, 1e-12);
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(a), 0), 3, 1e-12, "below the limit: untouched");
    norm = tg_clip_grad_norm(params, 1);
    cr_expect_float_eq(norm, 5, 1e-12);
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(a), 0), 0.6, 1e-12);
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(b), 0), 0.8, 1e-6);
    cr_expect_eq(tg_clip_grad_norm(params, 0), -1);
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG);
}

Test(nn_layers, adamw_decays_weights_apart_from_the_adam_step)
{
    tg_tensor *w = tg_tensor_full(ctx, TG_F64, TG_SHAPE(1, 2), 2.0);
    tg_tensor *bias = tg_tensor_full(ctx, TG_F64, TG_SHAPE(1), 2.0);
    tg_tensor_set_requires_grad(w, true), tg_tensor_set_requires_grad(bias, true);
    tg_optimizer *opt = tg_optim_adamw_new((tg_params){2, (tg_tensor *[]){w, bias}}, 0.1, 0.9, 0.999, 1e-8, 0.5);
    cr_assert_not_null(opt);
    cr_assert_eq(tg_backward(tg_add(tg_sum(tg_mul_scalar(w, 3)), tg_sum(tg_mul_scalar(bias, 3)))), TG_OK);
    cr_assert_eq(tg_optim_step(opt), TG_OK);
    /* step 1: m̂ = g, v̂ = g², so the Adam step is lr·g/(|g| + ε) ≈ 0.1; the
     * weight also shrinks by lr·λ·w = 0.1, the bias does not. */
    cr_expect_float_eq(tg_tensor_get(w, 0), 2 - 0.1 * 0.5 * 2 - 0.1 * 3 / (3 + 1e-8), 1e-9);
    cr_expect_float_eq(tg_tensor_get(bias, 0), 2 - 0.1 * 3 / (3 + 1e-8), 1e-9);
    tg_optim_free(opt);
    cr_expect_null(tg_optim_adamw_new((tg_params){1, (tg_tensor *[]){w}}, 0.1, 0.9, 0.999, 1e-8, -1));
}
