/* The textbook's worked examples (seed cases §1-§5 and §7), reproduced by the
 * nn layer: every printed number to 1e-6, every gradient against central
 * finite differences, the perceptron's table row by row, and training runs
 * with fixed seeds; Alice's gradients also by forward mode (tg_jvp), the
 * fourth oracle beside the tape, finite differences and the textbook δ. The
 * numbers are copied from the course notes. */
#include <criterion/criterion.h>
#include <math.h>

#include "tapegrad.h"
#include "examples/perceptron_loss.h"
#include "examples/xor_net.h"

static tg_ctx *ctx;
static tg_rng rng;

static void setup(void)
{
    ctx = tg_ctx_new(1);
    rng = tg_rng_seed(1);
}

static void teardown(void)
{
    cr_expect_eq(tg_ctx_status(ctx), TG_OK, "context error: %s", tg_ctx_error(ctx));
    tg_ctx_free(ctx);
}

TestSuite(nn_seed_cases, .init = setup, .fini = teardown);

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

/* A 2-2-1 sigmoid network with the given parameters (W1 row-major [2, 2]). */
static tg_mlp *net_221(const double W1[4], const double b1[2], const double W2[2], double b2)
{
    const int64_t widths[] = {2, 2, 1};
    const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_SIGMOID};
    tg_mlp *net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_ZEROS, &rng);
    cr_assert_not_null(net);
    tg_params p = tg_mlp_params(net);
    for (int i = 0; i < 4; i++)
        tg_tensor_set(p.items[0], i, W1[i]);
    for (int i = 0; i < 2; i++) {
        tg_tensor_set(p.items[1], i, b1[i]);
        tg_tensor_set(p.items[2], i, W2[i]);
    }
    tg_tensor_set(p.items[3], 0, b2);
    return net;
}

/* ---- §1 one neuron ---- */

Test(nn_seed_cases, one_neuron_outputs_sigmoid_of_7)
{
    tg_layer *neuron = tg_layer_new(ctx, TG_F64, 2, 1, TG_ACT_SIGMOID, TG_INIT_ZEROS, &rng);
    tg_tensor_set(tg_layer_weight(neuron), 1, 1); /* w = [0, 1] */
    tg_tensor_fill(tg_layer_bias(neuron), 4);
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){2, 3});
    tg_tensor *out = tg_layer_forward(neuron, x);
    cr_assert_not_null(out);
    cr_expect_float_eq(tg_tensor_item(out), 0.9990889, 1e-7);
    cr_expect_float_eq(tg_tensor_item(out), sigmoid(7), 1e-15);
    tg_layer_free(neuron);
}

/* ---- §2 feedforward ---- */

Test(nn_seed_cases, feedforward_221_gives_h_0_9525741_and_o1_0_7216326)
{
    tg_mlp *net = net_221((double[]){0, 1, 0, 1}, (double[]){0, 0}, (double[]){0, 1}, 0);
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){2, 3});
    tg_tensor *h = tg_layer_forward(tg_mlp_layer(net, 0), x);
    tg_tensor *o = tg_mlp_forward(net, x);
    cr_assert(h && o);
    cr_expect_float_eq(tg_tensor_get(h, 0), 0.9525741, 1e-7);
    cr_expect_float_eq(tg_tensor_get(h, 1), 0.9525741, 1e-7);
    cr_expect_float_eq(tg_tensor_item(o), 0.7216326, 1e-7);
    tg_mlp_free(net);
}

/* ---- §3 the chain rule on Alice ---- */

typedef struct {
    tg_mlp *net;
    tg_tensor *x, *y;
} alice_problem;

static tg_tensor *alice_loss(tg_tensor *const *inputs, void *user)
{
    (void)inputs;
    alice_problem *p = user;
    return tg_loss_mse(tg_mlp_forward(p->net, p->x), p->y); /* L = (y - o1)² */
}

static alice_problem alice(void)
{
    return (alice_problem){net_221((double[]){1, 1, 1, 1}, (double[]){0, 0}, (double[]){1, 1}, 0),
                           tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){-2, -1}),
                           tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 1), (double[]){1})};
}

Test(nn_seed_cases, alice_forward_gives_h1_0_0474259_and_o1_0_5236952)
{
    alice_problem p = alice();
    tg_tensor *h = tg_layer_forward(tg_mlp_layer(p.net, 0), p.x);
    tg_tensor *o = tg_mlp_forward(p.net, p.x);
    cr_expect_float_eq(tg_tensor_get(h, 0), 0.0474259, 1e-7);
    cr_expect_float_eq(tg_tensor_item(o), 0.5236952, 1e-7);
    tg_mlp_free(p.net);
}

Test(nn_seed_cases, alice_dL_dw1_is_0_0214695_from_the_tape)
{
    alice_problem p = alice();
    tg_tensor *loss = alice_loss(NULL, &p);
    cr_assert_eq(tg_backward(loss), TG_OK);
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(tg_mlp_params(p.net).items[0]), 0), 0.0214695, 1e-7);
    tg_mlp_free(p.net);
}

Test(nn_seed_cases, alice_every_gradient_matches_central_differences)
{
    alice_problem p = alice();
    tg_params params = tg_mlp_params(p.net);
    cr_assert_eq(tg_backward(alice_loss(NULL, &p)), TG_OK);
    double largest = 0;
    for (int i = 0; i < params.count; i++) {
        tg_tensor *t = params.items[i];
        for (int64_t j = 0; j < tg_tensor_size(t); j++) {
            const double h = 1e-6, saved = tg_tensor_get(t, j);
            tg_tensor_set(t, j, saved + h);
            double up = tg_tensor_item(alice_loss(NULL, &p));
            tg_tensor_set(t, j, saved - h);
            double down = tg_tensor_item(alice_loss(NULL, &p));
            tg_tensor_set(t, j, saved);
            double fd = (up - down) / (2 * h), tape = tg_tensor_get(tg_tensor_grad(t), j);
            cr_expect(fabs(tape - fd) < 1e-9, "%s[%lld]: tape %.10f, central difference %.10f", tg_tensor_name(t),
                      (long long)j, tape, fd);
            largest = fmax(largest, fabs(tape));
        }
    }
    cr_expect_gt(largest, 0.2, "the gradients are not all zero (∂L/∂b3 = -0.2376)");
    /* the textbook's symmetric network: w1 = w3, w2 = w4, w5 = w6 */
    tg_tensor *dW1 = tg_tensor_grad(params.items[0]);
    cr_expect_float_eq(tg_tensor_get(dW1, 0), tg_tensor_get(dW1, 2), 1e-15);
    cr_expect_float_eq(tg_tensor_get(dW1, 1), 0.5 * tg_tensor_get(dW1, 0), 1e-12); /* x2/x1 = 1/2 */

    tg_tape_reset(ctx);
    tg_gradcheck_report report;
    cr_assert_eq(tg_gradcheck(ctx, alice_loss, &p, params.count, params.items, NULL, &report), TG_OK);
    cr_expect(report.passed, "tg_gradcheck of Alice's loss");
    for (int i = 0; i < report.n_inputs; i++)
        cr_expect_gt(report.inputs[i].max_abs_grad, 0);
    tg_gradcheck_report_free(&report);
    tg_mlp_free(p.net);
}

/* The fourth oracle: forward mode. One JVP per parameter element, along
 * its unit direction, gives ∂L/∂θ; all nine agree with the tape and with the
 * textbook's δ formulas written out by hand. (Nine forward passes for what
 * one reverse pass gives: why backprop is reverse mode.) */
Test(nn_seed_cases, alice_forward_mode_jvps_reproduce_the_textbook_deltas)
{
    alice_problem p = alice();
    tg_params params = tg_mlp_params(p.net); /* W1 [2, 2], b1 [2], W2 [1, 2], b2 [1] */
    tg_tensor *loss = alice_loss(NULL, &p);
    cr_assert_eq(tg_backward(loss), TG_OK);
    /* textbook: δo = -2(y - o1)·o1(1 - o1), δh = δo·w5·h(1 - h) (h1 = h2, w5 = w6) */
    double x1 = -2, x2 = -1, h = sigmoid(x1 + x2), o1 = sigmoid(2 * h);
    double delta_o = -2 * (1 - o1) * o1 * (1 - o1), delta_h = delta_o * 1 * h * (1 - h);
    const double textbook[4][4] = {{delta_h * x1, delta_h * x2, delta_h * x1, delta_h * x2}, /* w1 w2; w3 w4 */
                                   {delta_h, delta_h},                                       /* b1, b2 */
                                   {delta_o * h, delta_o * h},                               /* w5, w6 */
                                   {delta_o}};                                               /* b3 */
    cr_expect_float_eq(textbook[0][0], 0.0214695, 1e-7, "∂L/∂w1 of seed case 3");
    cr_assert_eq(params.count, 4);
    tg_tensor *vectors[4];
    for (int i = 0; i < 4; i++)
        vectors[i] = tg_tensor_zeros(ctx, TG_F64, tg_tensor_rank(params.items[i]), tg_tensor_shape(params.items[i]));
    int passes = 0;
    for (int i = 0; i < 4; i++) {
        for (int64_t j = 0; j < tg_tensor_size(params.items[i]); j++) {
            tg_tensor_set(vectors[i], j, 1); /* the unit direction of θ = params[i][j] */
            tg_tensor *dL;
            cr_assert_eq(tg_jvp(loss, 4, params.items, vectors, &dL), TG_OK, "%s", tg_ctx_error(ctx));
            tg_tensor_set(vectors[i], j, 0);
            passes++;
            double forward = tg_tensor_item(dL), reverse = tg_tensor_get(tg_tensor_grad(params.items[i]), j);
            cr_expect_float_eq(forward, textbook[i][j], 1e-12, "%s[%lld]: forward mode %.10f, textbook δ %.10f",
                               tg_tensor_name(params.items[i]), (long long)j, forward, textbook[i][j]);
            cr_expect_float_eq(forward, reverse, 1e-14, "%s[%lld]: forward %.12g, reverse %.12g",
                               tg_tensor_name(params.items[i]), (long long)j, forward, reverse);
        }
    }
    cr_expect_eq(passes, 9, "one JVP per parameter; one backward gave all nine");
    for (int i = 0; i < 4; i++)
        tg_tensor_free(vectors[i]);
    tg_mlp_free(p.net);
}

/* ---- §4 training the 2-2-1 network ---- */

Test(nn_seed_cases, training_221_with_sgd_predicts_emily_female_and_frank_male)
{
    rng = tg_rng_seed(42);
    const int64_t widths[] = {2, 2, 1};
    const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_SIGMOID};
    tg_mlp *net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_NORMAL, &rng);
    tg_params params = tg_mlp_params(net);
    tg_optimizer *sgd = tg_optim_sgd_new(params, 0.1);
    const double data[4][3] = {{-2, -1, 1}, {25, 6, 0}, {17, 4, 0}, {-15, -6, 1}};
    tg_tensor *x[4], *y[4];
    for (int i = 0; i < 4; i++) {
        x[i] = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), data[i]);
        y[i] = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 1), &data[i][2]);
    }
    tg_tensor *all_x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4, 2), (double[]){-2, -1, 25, 6, 17, 4, -15, -6});
    tg_tensor *all_y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4, 1), (double[]){1, 0, 0, 1});

    double losses[11];
    int recorded = 0;
    for (int epoch = 0; epoch <= 1000; epoch++) {
        if (epoch % 100 == 0) {
            losses[recorded++] = tg_tensor_item(tg_loss_mse(tg_mlp_forward(net, all_x), all_y));
            tg_tape_reset(ctx);
        }
        if (epoch == 1000)
            break;
        for (int i = 0; i < 4; i++) {
            tg_tensor *loss = tg_loss_mse(tg_mlp_forward(net, x[i]), y[i]);
            tg_params_zero_grad(params);
            cr_assert_eq(tg_backward(loss), TG_OK);
            tg_optim_step(sgd);
            tg_tape_reset(ctx);
        }
    }
    for (int k = 1; k < recorded; k++)
        cr_expect_lt(losses[k], losses[k - 1], "loss falls every 100 epochs: %g then %g", losses[k - 1], losses[k]);
    cr_expect_lt(losses[10], 0.01);
    tg_tensor *people = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 2), (double[]){-7, -3, 20, 2});
    tg_tensor *guess = tg_mlp_forward(net, people);
    cr_expect_gt(tg_tensor_get(guess, 0), 0.9, "Emily %g", tg_tensor_get(guess, 0));
    cr_expect_lt(tg_tensor_get(guess, 1), 0.1, "Frank %g", tg_tensor_get(guess, 1));
    cr_expect_eq(tg_optim_steps(sgd), 4000);
    tg_optim_free(sgd);
    tg_mlp_free(net);
}

/* ---- §5 the perceptron ---- */

typedef struct {
    int n;
    tg_perceptron_row rows[16];
    double w[16][2];
} table;

static void collect(const tg_perceptron_row *row, void *user)
{
    table *t = user;
    cr_assert_lt(t->n, 16);
    t->rows[t->n] = *row;
    t->w[t->n][0] = tg_tensor_get(row->w, 0);
    t->w[t->n][1] = tg_tensor_get(row->w, 1);
    t->n++;
}

Test(nn_seed_cases, perceptron_reproduces_the_textbook_table_row_by_row)
{
    /* | iteration | misclassified | w | b |, M1 = 0, M2 = 1, M3 = 2, -1 none */
    static const struct { int misclassified; double w1, w2, b; } expected[9] = {
        {-1, 0, 0, 0}, {0, 3, 3, 1}, {2, 2, 2, 0}, {2, 1, 1, -1}, {2, 0, 0, -2},
        {0, 3, 3, -1}, {2, 2, 2, -2}, {2, 1, 1, -3}, {-1, 1, 1, -3},
    };
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3, 2), (double[]){3, 3, 4, 3, 1, 1});
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3), (double[]){1, 1, -1});
    tg_tensor *w = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2));
    double b = 0;
    table t = {0};
    tg_perceptron_result result;
    cr_assert_eq(tg_perceptron_train(w, &b, x, y, 1.0, 100, collect, &t, &result), TG_OK);
    cr_assert_eq(t.n, 9, "nine rows, iterations 0 to 8");
    for (int i = 0; i < 9; i++) {
        cr_expect_eq(t.rows[i].iteration, i);
        cr_expect_eq(t.rows[i].misclassified, expected[i].misclassified, "row %d", i);
        cr_expect_eq(t.w[i][0], expected[i].w1, "row %d w1", i);
        cr_expect_eq(t.w[i][1], expected[i].w2, "row %d w2", i);
        cr_expect_eq(t.rows[i].b, expected[i].b, "row %d b", i);
        cr_expect_eq(t.rows[i].converged, i == 8, "row %d", i);
    }
    cr_expect(result.converged);
    cr_expect_eq(result.updates, 7);
    /* final model sign(x1 + x2 - 3) classifies all three points */
    tg_tensor *pred = tg_perceptron_predict(w, b, x);
    for (int i = 0; i < 3; i++)
        cr_expect_eq(tg_tensor_get(pred, i), tg_tensor_get(y, i));
}

Test(nn_seed_cases, perceptron_never_converges_on_xor)
{
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4, 2), (double[]){0, 0, 0, 1, 1, 0, 1, 1});
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4), (double[]){-1, 1, 1, -1});
    tg_tensor *w = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2));
    double b = 0;
    tg_perceptron_result result;
    cr_assert_eq(tg_perceptron_train(w, &b, x, y, 1.0, 10000, NULL, NULL, &result), TG_OK);
    cr_expect_not(result.converged);
    cr_expect_eq(result.updates, 10000, "it used its whole budget of updates");
    /* whatever line it stopped at misclassifies at least one XOR point */
    tg_tensor *pred = tg_perceptron_predict(w, b, x);
    int wrong = 0;
    for (int i = 0; i < 4; i++)
        wrong += tg_tensor_get(pred, i) != tg_tensor_get(y, i);
    cr_expect_gt(wrong, 0);
}

/* The one XOR network of the docs and pages (examples/xor_net.h) learns XOR
 * in its 300 steps, and is still learning at the early step the pages show. */
Test(nn_seed_cases, mlp_with_one_hidden_layer_learns_xor)
{
    xor_net n = xor_net_new(ctx);
    double loss_curve[XOR_STEPS], accuracy[XOR_STEPS];
    cr_assert_eq(xor_net_train(&n, ctx, XOR_STEPS, loss_curve, accuracy), 0, "%s", tg_ctx_error(ctx));
    cr_expect_gt(loss_curve[XOR_EARLY_STEPS], 0.05, "still learning at step %d, its gradients large", XOR_EARLY_STEPS);
    cr_expect_lt(loss_curve[XOR_STEPS - 1], loss_curve[XOR_EARLY_STEPS] / 100, "and learned by step %d", XOR_STEPS);
    cr_expect_eq(accuracy[XOR_STEPS - 1], 1.0);
    tg_tensor *p = tg_mlp_forward(n.net, n.x);
    for (int i = 0; i < 4; i++)
        cr_expect(fabs(tg_tensor_get(p, i) - tg_tensor_get(n.y, i)) < 0.05, "XOR row %d: %g", i, tg_tensor_get(p, i));
    tg_tape_reset(ctx);
    xor_net_free(&n);
}

/* ---- §7 logistic regression, softmax cross-entropy, tanh ---- */

static const double lr_x[12] = {1, 4, 2, 8, 3, 5, 5, 7, 6, 4, 8, 8}, lr_y[6] = {0, 0, 0, 1, 1, 1};

Test(nn_seed_cases, logistic_regression_gradient_is_sum_of_p_minus_y_times_x)
{
    tg_layer *neuron = tg_layer_new(ctx, TG_F64, 2, 1, TG_ACT_SIGMOID, TG_INIT_ZEROS, &rng);
    tg_tensor_set(tg_layer_weight(neuron), 0, 0.4); /* moderate logits: p stays far from 0 and 1 */
    tg_tensor_set(tg_layer_weight(neuron), 1, -0.3);
    tg_tensor_fill(tg_layer_bias(neuron), 0.3);
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(6, 2), lr_x);
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(6, 1), lr_y);
    for (int from_logits = 0; from_logits < 2; from_logits++) {
        tg_params_zero_grad(tg_layer_params(neuron));
        /* J = -Σ [y ln p + (1 - y) ln(1 - p)] */
        tg_tensor *J = from_logits ? tg_loss_bce_logits(tg_layer_linear(neuron, x), y, TG_REDUCE_SUM)
                                   : tg_loss_bce(tg_layer_forward(neuron, x), y, TG_REDUCE_SUM);
        cr_assert_eq(tg_backward(J), TG_OK);
        double w1 = tg_tensor_get(tg_layer_weight(neuron), 0), w2 = tg_tensor_get(tg_layer_weight(neuron), 1);
        double expect[3] = {0, 0, 0}, loss = 0;
        for (int i = 0; i < 6; i++) {
            double p = sigmoid(w1 * lr_x[2 * i] + w2 * lr_x[2 * i + 1] + 0.3);
            expect[0] += (p - lr_y[i]) * lr_x[2 * i];
            expect[1] += (p - lr_y[i]) * lr_x[2 * i + 1];
            expect[2] += p - lr_y[i];
            loss -= lr_y[i] * log(p) + (1 - lr_y[i]) * log(1 - p);
        }
        cr_expect_float_eq(tg_tensor_item(J), loss, 1e-9, "J (from %s): %.12g, expected %.12g",
                           from_logits ? "logits" : "p", tg_tensor_item(J), loss);
        cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(tg_layer_weight(neuron)), 0), expect[0], 1e-9);
        cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(tg_layer_weight(neuron)), 1), expect[1], 1e-9);
        cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(tg_layer_bias(neuron)), 0), expect[2], 1e-9);
        cr_expect_gt(fabs(expect[0]), 0.1, "not a vacuous check");
        tg_tape_reset(ctx);
    }
    tg_layer_free(neuron);
}

Test(nn_seed_cases, logistic_fit_separates_the_data)
{
    tg_layer *neuron = tg_layer_new(ctx, TG_F64, 2, 1, TG_ACT_SIGMOID, TG_INIT_ZEROS, &rng);
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(6, 2), lr_x);
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(6), lr_y);
    double first, last;
    cr_assert_eq(tg_logistic_fit(neuron, x, y, 0.5, 1, &first), TG_OK);
    cr_expect_float_eq(first, log(2.0), 1e-12, "zero weights: p = 1/2 everywhere, J/n = ln 2");
    cr_assert_eq(tg_logistic_fit(neuron, x, y, 0.5, 2000, &last), TG_OK);
    cr_expect_lt(last, 0.05);
    tg_tensor *p = tg_layer_forward(neuron, x);
    for (int i = 0; i < 6; i++)
        cr_expect(fabs(tg_tensor_get(p, i) - lr_y[i]) < 0.5, "row %d: p = %g", i, tg_tensor_get(p, i));
    tg_layer_free(neuron);
}

Test(nn_seed_cases, softmax_ce_gradient_is_softmax_minus_onehot_and_finite_at_logits_1000)
{
    /* two rows: the mean over rows divides the gradient by 2 */
    tg_tensor *f = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 3), (double[]){1000, -1000, 0, 1, 2, 3});
    tg_tensor *p = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 3), (double[]){0, 1, 0, 0, 0, 1});
    tg_tensor_set_requires_grad(f, true);
    tg_tensor *loss = tg_loss_softmax_ce(f, p);
    cr_assert_eq(tg_backward(loss), TG_OK);
    double s = exp(1) + exp(2) + exp(3);
    double softmax[6] = {1, 0, 0, exp(1) / s, exp(2) / s, exp(3) / s};
    tg_tensor *df = tg_tensor_grad(f);
    for (int i = 0; i < 6; i++) {
        cr_expect(isfinite(tg_tensor_get(df, i)));
        cr_expect_float_eq(tg_tensor_get(df, i), (softmax[i] - tg_tensor_get(p, i)) / 2, 1e-12, "element %d", i);
    }
    cr_expect_float_eq(tg_tensor_item(loss), (2000 + (log(s) - 3)) / 2, 1e-9);
}

Test(nn_seed_cases, bce_from_logits_is_finite_at_1000_with_gradient_sigmoid_minus_y)
{
    const double z[6] = {1000, -1000, 1000, -1000, 0, 2.5}, t[6] = {1, 0, 0, 1, 1, 0};
    tg_tensor *logits = tg_tensor_from(ctx, TG_F64, TG_SHAPE(6), z);
    tg_tensor *target = tg_tensor_from(ctx, TG_F64, TG_SHAPE(6), t);
    tg_tensor_set_requires_grad(logits, true);
    tg_tensor *loss = tg_loss_bce_logits(logits, target, TG_REDUCE_MEAN);
    cr_assert_eq(tg_backward(loss), TG_OK);
    double expect = (0 + 0 + 1000 + 1000 + log(2.0) + (2.5 + log1p(exp(-2.5)))) / 6;
    cr_expect_float_eq(tg_tensor_item(loss), expect, 1e-9);
    for (int i = 0; i < 6; i++)
        cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(logits), i), (sigmoid(z[i]) - t[i]) / 6, 1e-15,
                           "element %d (z = %g, y = %g)", i, z[i], t[i]);
}

Test(nn_seed_cases, tanh_is_two_sigmoid_of_2x_minus_one)
{
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(7), (double[]){-20, -3, -0.5, 0, 0.5, 3, 20});
    tg_tensor *lhs = tg_tanh(x);
    tg_tensor *rhs = tg_add_scalar(tg_mul_scalar(tg_sigmoid(tg_mul_scalar(x, 2)), 2), -1);
    for (int i = 0; i < 7; i++)
        cr_expect_float_eq(tg_tensor_get(lhs, i), tg_tensor_get(rhs, i), 1e-15, "x = %g", tg_tensor_get(x, i));
}

/* The two MSE conventions: §3's L = (y - o)² is tg_loss_mse on one output;
 * §6's E = ½‖y - a‖² is tg_loss_half_sse. */
Test(nn_seed_cases, mse_is_the_mean_and_half_sse_is_half_the_sum)
{
    tg_tensor *a = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 2), (double[]){1, 2, 3, 4});
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 2), (double[]){0, 0, 1, 1});
    tg_tensor_set_requires_grad(a, true);
    tg_tensor *mse = tg_loss_mse(a, y), *half = tg_loss_half_sse(a, y);
    cr_expect_float_eq(tg_tensor_item(mse), (1 + 4 + 4 + 9) / 4.0, 1e-15);
    cr_expect_float_eq(tg_tensor_item(half), (1 + 4 + 4 + 9) / 2.0, 1e-15);
    cr_assert_eq(tg_backward(half), TG_OK);
    for (int i = 0; i < 4; i++) /* dE/da = a - y */
        cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(a), i), tg_tensor_get(a, i) - tg_tensor_get(y, i), 1e-15);
    tg_tensor_zero_grad(a);
    cr_assert_eq(tg_backward(mse), TG_OK);
    for (int i = 0; i < 4; i++) /* dL/da = 2(a - y)/N */
        cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(a), i),
                           2 * (tg_tensor_get(a, i) - tg_tensor_get(y, i)) / 4, 1e-15);
}

/* The course's variant: at iteration 5 take M2 instead of the first
 * misclassified point (M1), then the first one again. Worked by hand from the
 * rule: each row is w, b after the update; the final row finds none. */
Test(nn_seed_cases, perceptron_variant_taking_m2_at_iteration_5_row_by_row)
{
    static const struct { int misclassified; double w1, w2, b; } expected[13] = {
        {-1, 0, 0, 0},  {0, 3, 3, 1},   {2, 2, 2, 0},   {2, 1, 1, -1}, {2, 0, 0, -2},
        {1, 4, 3, -1},  /* iteration 5: M2, not M1 */
        {2, 3, 2, -2},  {2, 2, 1, -3},  {2, 1, 0, -4},  /* M3 at x1 + x2 = 3 lies on the line: y·z = 0 */
        {0, 4, 3, -3},  {2, 3, 2, -4},  {2, 2, 1, -5},  {-1, 2, 1, -5},
    };
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3, 2), (double[]){3, 3, 4, 3, 1, 1});
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3), (double[]){1, 1, -1});
    tg_tensor *w = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2));
    double b = 0;
    int rows = 1; /* row 0 is the start: w = (0, 0), b = 0 */
    for (int64_t iteration = 1; iteration < 20; iteration++) {
        int64_t wrong[3];
        int64_t count = tg_perceptron_misclassified(w, b, x, y, wrong);
        cr_assert_geq(count, 0, "%s", tg_ctx_error(ctx));
        cr_assert_lt(rows, 13, "more rows than the course's run");
        cr_expect_eq(count > 0 ? (iteration == 5 ? 1 : wrong[0]) : -1, expected[rows].misclassified,
                     "iteration %lld", (long long)iteration);
        if (count == 0) {
            rows++;
            break;
        }
        if (iteration == 5)
            cr_assert(count >= 2 && wrong[0] == 0 && wrong[1] == 1, "M1 and M2 are both misclassified at 5");
        cr_assert_eq(tg_perceptron_update(w, &b, x, y, 1.0, iteration == 5 ? 1 : wrong[0]), TG_OK);
        cr_expect_eq(tg_tensor_get(w, 0), expected[rows].w1, "iteration %lld w1", (long long)iteration);
        cr_expect_eq(tg_tensor_get(w, 1), expected[rows].w2, "iteration %lld w2", (long long)iteration);
        cr_expect_eq(b, expected[rows].b, "iteration %lld b", (long long)iteration);
        rows++;
    }
    cr_expect_eq(rows, 13, "iterations 0 to 12");
    cr_expect_eq(tg_tensor_get(w, 0), 2);
    cr_expect_eq(tg_tensor_get(w, 1), 1);
    cr_expect_eq(b, -5);
    /* a point outside the data is an error */
    cr_expect_eq(tg_perceptron_update(w, &b, x, y, 1.0, 3), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);
}

/* The course derives the rule as SGD on the perceptron loss
 * L = −Σ_{i∈M} yᵢ(w·xᵢ + b): with the gradient from the tape (not the rule
 * written out), one misclassified point at a time and η = 1, the course's
 * table comes out row by row, and so does the homework's (M2 at iteration 5). */
Test(nn_seed_cases, perceptron_rule_is_sgd_on_the_perceptron_loss_on_the_tape)
{
    static const struct { int point; double w1, w2, b; } course[9] = {
        {-1, 0, 0, 0}, {0, 3, 3, 1}, {2, 2, 2, 0}, {2, 1, 1, -1}, {2, 0, 0, -2},
        {0, 3, 3, -1}, {2, 2, 2, -2}, {2, 1, 1, -3}, {-1, 1, 1, -3},
    }, homework[13] = {
        {-1, 0, 0, 0}, {0, 3, 3, 1}, {2, 2, 2, 0}, {2, 1, 1, -1}, {2, 0, 0, -2}, {1, 4, 3, -1}, {2, 3, 2, -2},
        {2, 2, 1, -3}, {2, 1, 0, -4}, {0, 4, 3, -3}, {2, 3, 2, -4}, {2, 2, 1, -5}, {-1, 2, 1, -5},
    };
    perceptron_row rows[PERCEPTRON_MAX_ROWS];
    for (int run = 0; run < 2; run++) {
        int n = perceptron_by_loss(ctx, run ? 5 : 0, 1, rows, PERCEPTRON_MAX_ROWS);
        cr_assert_eq(n, run ? 13 : 9, "%s: %d rows", run ? "homework" : "course", n);
        for (int i = 0; i < n; i++) {
            int point = run ? homework[i].point : course[i].point;
            double w1 = run ? homework[i].w1 : course[i].w1, w2 = run ? homework[i].w2 : course[i].w2;
            double b = run ? homework[i].b : course[i].b;
            cr_expect_eq(rows[i].point, point, "run %d, iteration %d: point", run, i);
            cr_expect(rows[i].w[0] == w1 && rows[i].w[1] == w2 && rows[i].b == b,
                      "run %d, iteration %d: w = (%g, %g), b = %g; the table says (%g, %g), %g", run, i, rows[i].w[0],
                      rows[i].w[1], rows[i].b, w1, w2, b);
            if (point >= 0) { /* the tape's gradient is −yᵢxᵢ, −yᵢ */
                double y = perceptron_y[point];
                cr_expect(rows[i].dw[0] == -y * perceptron_x[point][0] && rows[i].dw[1] == -y * perceptron_x[point][1] &&
                              rows[i].db == -y,
                          "run %d, iteration %d: ∂L/∂w = (%g, %g), ∂L/∂b = %g", run, i, rows[i].dw[0], rows[i].dw[1],
                          rows[i].db);
            }
        }
    }
}
