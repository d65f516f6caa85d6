/* Seed case §6: the tape against the textbook's backprop δ formulas.
 *
 * For an MLP with z⁽ˡ⁾ = W⁽ˡ⁾a⁽ˡ⁻¹⁾ + b⁽ˡ⁾, a⁽ˡ⁾ = f(z⁽ˡ⁾), a⁽⁰⁾ = x and
 *   J = (1/m) Σᵢ ½‖a⁽ᴸ⁾(xᵢ) - yᵢ‖² + (λ/2) Σₗ ‖W⁽ˡ⁾‖²
 * the δ formulas, written here as plain loops with no tape, are
 *   δ⁽ᴸ⁾ = -(y - a⁽ᴸ⁾) ⊙ f′(z⁽ᴸ⁾)
 *   δ⁽ˡ⁾ = (W⁽ˡ⁺¹⁾ᵀ δ⁽ˡ⁺¹⁾) ⊙ f′(z⁽ˡ⁾)
 *   ∇W⁽ˡ⁾ J = (1/m) Σᵢ δ⁽ˡ⁾ a⁽ˡ⁻¹⁾ᵀ + λW⁽ˡ⁾,  ∇b⁽ˡ⁾ J = (1/m) Σᵢ δ⁽ˡ⁾  (no λ on biases)
 * Each case compares them elementwise with the tape's gradients in float64,
 * and asserts the gradients checked are not all zero. A third reference,
 * tg_gradcheck's central differences, checks the same J. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "tapegrad.h"

enum { MAX_DEPTH = 4, MAX_WIDTH = 8 };
#define GELU_PI 3.14159265358979323846
#define GELU_C 0.79788456080286535588 /* √(2/π) */

typedef struct {
    int depth;
    int64_t widths[MAX_DEPTH + 1];
    tg_activation act; /* every layer, the output included */
    double lambda;
    int64_t m;         /* samples */
    uint64_t seed;
} net_case;

typedef struct {
    tg_ctx *ctx;
    tg_mlp *net;
    tg_tensor *x, *y; /* [m, in], [m, out] */
    double lambda;
} problem;

static double f(tg_activation act, double z)
{
    switch (act) {
    case TG_ACT_SIGMOID: return 1 / (1 + exp(-z));
    case TG_ACT_TANH: return tanh(z);
    case TG_ACT_RELU: return z > 0 ? z : 0;
    case TG_ACT_LEAKY_RELU: return z > 0 ? z : 0.01 * z;
    case TG_ACT_ELU: return z > 0 ? z : expm1(z);
    case TG_ACT_SOFTPLUS: return log1p(exp(z));
    case TG_ACT_SILU: return z / (1 + exp(-z));
    case TG_ACT_GELU: return 0.5 * z * (1 + erf(z / sqrt(2)));
    case TG_ACT_GELU_TANH: return 0.5 * z * (1 + tanh(GELU_C * (z + 0.044715 * z * z * z)));
    default: return z;
    }
}

static double f_prime(tg_activation act, double z)
{
    switch (act) {
    case TG_ACT_SIGMOID: { double s = 1 / (1 + exp(-z)); return s * (1 - s); }
    case TG_ACT_TANH: { double t = tanh(z); return 1 - t * t; }
    case TG_ACT_RELU: return z > 0 ? 1 : 0;
    case TG_ACT_LEAKY_RELU: return z > 0 ? 1 : 0.01;
    case TG_ACT_ELU: return z > 0 ? 1 : exp(z);
    case TG_ACT_SOFTPLUS: return 1 / (1 + exp(-z));
    case TG_ACT_SILU: { double s = 1 / (1 + exp(-z)); return s * (1 + z * (1 - s)); }
    case TG_ACT_GELU: return 0.5 * (1 + erf(z / sqrt(2))) + z * exp(-z * z / 2) / sqrt(2 * GELU_PI);
    case TG_ACT_GELU_TANH: {
        double t = tanh(GELU_C * (z + 0.044715 * z * z * z));
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * z * z);
    }
    default: return 1;
    }
}

/* J through the tape: (1/m)·½Σ‖a - y‖² + (λ/2)Σ‖W‖² */
static tg_tensor *objective(tg_tensor *const *inputs, void *user)
{
    (void)inputs; /* the inputs are the network's own parameters */
    problem *p = user;
    tg_tensor *fit = tg_mul_scalar(tg_loss_half_sse(tg_mlp_forward(p->net, p->x), p->y),
                                   1.0 / (double)tg_tensor_dim(p->x, 0));
    return p->lambda > 0 ? tg_add(fit, tg_loss_l2(tg_mlp_params(p->net), p->lambda)) : fit;
}

static problem make_problem(tg_ctx *ctx, const net_case *c)
{
    tg_rng rng = tg_rng_seed(c->seed);
    tg_activation acts[MAX_DEPTH];
    for (int l = 0; l < c->depth; l++)
        acts[l] = c->act;
    problem p = {ctx, tg_mlp_new(ctx, TG_F64, c->depth, c->widths, acts, TG_INIT_XAVIER, &rng), NULL, NULL,
                 c->lambda};
    cr_assert_not_null(p.net);
    /* biases in [0.1, 0.6]: nonzero, so their gradients are exercised, and
     * positive, so few ReLU units start dead */
    for (int l = 0; l < c->depth; l++) {
        tg_tensor *b = tg_layer_bias(tg_mlp_layer(p.net, l));
        for (int64_t k = 0; k < tg_tensor_size(b); k++)
            tg_tensor_set(b, k, 0.1 + 0.5 * tg_rng_uniform(&rng));
    }
    p.x = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(c->m, c->widths[0]), 0, 1);
    p.y = tg_tensor_rand(ctx, &rng, TG_F64, TG_SHAPE(c->m, c->widths[c->depth]), 0, 1);
    return p;
}

/* The δ formulas by hand. dW[l] [out, in] and db[l] [out], row-major. */
static void delta_gradients(const problem *p, double *dW[MAX_DEPTH], double *db[MAX_DEPTH])
{
    int L = tg_mlp_depth(p->net);
    int64_t m = tg_tensor_dim(p->x, 0);
    int64_t width[MAX_DEPTH + 1];
    width[0] = tg_layer_in(tg_mlp_layer(p->net, 0));
    for (int l = 0; l < L; l++) {
        width[l + 1] = tg_layer_out(tg_mlp_layer(p->net, l));
        for (int64_t k = 0; k < width[l + 1] * width[l]; k++)
            dW[l][k] = 0;
        for (int64_t k = 0; k < width[l + 1]; k++)
            db[l][k] = 0;
    }
    for (int64_t i = 0; i < m; i++) {
        /* forward: a[0] = x, z[l+1] = W a[l] + b, a[l+1] = f(z[l+1]) */
        double a[MAX_DEPTH + 1][MAX_WIDTH], z[MAX_DEPTH + 1][MAX_WIDTH], delta[MAX_DEPTH + 1][MAX_WIDTH];
        for (int64_t j = 0; j < width[0]; j++)
            a[0][j] = tg_tensor_get(p->x, i * width[0] + j);
        for (int l = 0; l < L; l++) {
            tg_layer *layer = tg_mlp_layer(p->net, l);
            for (int64_t r = 0; r < width[l + 1]; r++) {
                double s = tg_tensor_get(tg_layer_bias(layer), r);
                for (int64_t c = 0; c < width[l]; c++)
                    s += tg_tensor_get(tg_layer_weight(layer), r * width[l] + c) * a[l][c];
                z[l + 1][r] = s;
                a[l + 1][r] = f(tg_layer_activation(layer), s);
            }
        }
        /* δ⁽ᴸ⁾ = -(y - a⁽ᴸ⁾) ⊙ f′(z⁽ᴸ⁾) */
        for (int64_t r = 0; r < width[L]; r++) {
            double y = tg_tensor_get(p->y, i * width[L] + r);
            delta[L][r] = -(y - a[L][r]) * f_prime(tg_layer_activation(tg_mlp_layer(p->net, L - 1)), z[L][r]);
        }
        /* δ⁽ˡ⁾ = (W⁽ˡ⁺¹⁾ᵀ δ⁽ˡ⁺¹⁾) ⊙ f′(z⁽ˡ⁾) */
        for (int l = L - 1; l >= 1; l--) {
            tg_layer *next = tg_mlp_layer(p->net, l);
            for (int64_t c = 0; c < width[l]; c++) {
                double s = 0;
                for (int64_t r = 0; r < width[l + 1]; r++)
                    s += tg_tensor_get(tg_layer_weight(next), r * width[l] + c) * delta[l + 1][r];
                delta[l][c] = s * f_prime(tg_layer_activation(tg_mlp_layer(p->net, l - 1)), z[l][c]);
            }
        }
        /* ∇W = δ a_prevᵀ, ∇b = δ, averaged over the m samples */
        for (int l = 0; l < L; l++)
            for (int64_t r = 0; r < width[l + 1]; r++) {
                db[l][r] += delta[l + 1][r] / (double)m;
                for (int64_t c = 0; c < width[l]; c++)
                    dW[l][r * width[l] + c] += delta[l + 1][r] * a[l][c] / (double)m;
            }
    }
    /* L2: + λW on the weights, nothing on the biases */
    for (int l = 0; l < L; l++) {
        tg_tensor *W = tg_layer_weight(tg_mlp_layer(p->net, l));
        for (int64_t k = 0; k < tg_tensor_size(W); k++)
            dW[l][k] += p->lambda * tg_tensor_get(W, k);
    }
}

/* Compares the tape with the δ formulas for one network; returns the largest
 * |gradient| seen. */
static double check_case(const net_case *c)
{
    tg_ctx *ctx = tg_ctx_new(1);
    problem p = make_problem(ctx, c);
    tg_tensor *J = objective(NULL, &p);
    cr_assert_not_null(J, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_backward(J), TG_OK);

    double *dW[MAX_DEPTH], *db[MAX_DEPTH];
    for (int l = 0; l < c->depth; l++) {
        dW[l] = malloc(sizeof(double) * MAX_WIDTH * MAX_WIDTH);
        db[l] = malloc(sizeof(double) * MAX_WIDTH);
    }
    delta_gradients(&p, dW, db);

    double largest = 0, largest_bias = 0; /* bias gradients come from the fit term alone */
    for (int l = 0; l < c->depth; l++) {
        tg_layer *layer = tg_mlp_layer(p.net, l);
        tg_tensor *gW = tg_tensor_grad(tg_layer_weight(layer)), *gb = tg_tensor_grad(tg_layer_bias(layer));
        cr_assert(gW && gb, "layer %d has gradients", l + 1);
        for (int64_t k = 0; k < tg_tensor_size(gW); k++) {
            double tape = tg_tensor_get(gW, k);
            cr_expect(fabs(tape - dW[l][k]) <= 1e-10 * (1 + fabs(dW[l][k])),
                      "%s depth %d λ %g: layer%d.weight[%lld] tape %.15g, δ formula %.15g",
                      tg_activation_name(c->act), c->depth, c->lambda, l + 1, (long long)k, tape, dW[l][k]);
            largest = fmax(largest, fabs(tape));
        }
        for (int64_t k = 0; k < tg_tensor_size(gb); k++) {
            double tape = tg_tensor_get(gb, k);
            cr_expect(fabs(tape - db[l][k]) <= 1e-10 * (1 + fabs(db[l][k])),
                      "%s depth %d λ %g: layer%d.bias[%lld] tape %.15g, δ formula %.15g",
                      tg_activation_name(c->act), c->depth, c->lambda, l + 1, (long long)k, tape, db[l][k]);
            largest_bias = fmax(largest_bias, fabs(tape));
        }
    }
    largest = fmax(largest, largest_bias);
    cr_expect_gt(largest_bias, 1e-4, "%s depth %d: the gradients are not all zero", tg_activation_name(c->act),
                 c->depth);
    for (int l = 0; l < c->depth; l++) {
        free(dW[l]);
        free(db[l]);
    }
    tg_mlp_free(p.net);
    tg_ctx_free(ctx);
    return largest;
}

/* Depths 2 to 4, varied widths, each with and without L2. */
static void check_activation(tg_activation act, uint64_t seed)
{
    static const struct { int depth; int64_t widths[MAX_DEPTH + 1]; int64_t m; } shapes[] = {
        {2, {3, 5, 2}, 4},
        {2, {1, 8, 1}, 7},
        {3, {4, 6, 5, 3}, 5},
        {3, {2, 3, 7, 1}, 1},
        {4, {5, 4, 8, 6, 2}, 6},
        {4, {3, 2, 2, 3, 4}, 3},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int with_l2 = 0; with_l2 < 2; with_l2++) {
            net_case c = {shapes[s].depth, {0}, act, with_l2 ? 0.1 : 0, shapes[s].m, seed + s};
            for (int l = 0; l <= c.depth; l++)
                c.widths[l] = shapes[s].widths[l];
            check_case(&c);
        }
}

Test(nn_backprop, sigmoid_mlps_of_depth_2_to_4_match_the_delta_formulas) { check_activation(TG_ACT_SIGMOID, 100); }
Test(nn_backprop, tanh_mlps_of_depth_2_to_4_match_the_delta_formulas) { check_activation(TG_ACT_TANH, 200); }
Test(nn_backprop, relu_mlps_of_depth_2_to_4_match_the_delta_formulas) { check_activation(TG_ACT_RELU, 300); }
Test(nn_backprop, leaky_relu_mlps_of_depth_2_to_4_match_the_delta_formulas) { check_activation(TG_ACT_LEAKY_RELU, 400); }
Test(nn_backprop, elu_mlps_of_depth_2_to_4_match_the_delta_formulas) { check_activation(TG_ACT_ELU, 500); }
Test(nn_backprop, softplus_mlps_of_depth_2_to_4_match_the_delta_formulas) { check_activation(TG_ACT_SOFTPLUS, 600); }
Test(nn_backprop, silu_mlps_of_depth_2_to_4_match_the_delta_formulas) { check_activation(TG_ACT_SILU, 700); }
Test(nn_backprop, gelu_mlps_of_depth_2_to_4_match_the_delta_formulas) { check_activation(TG_ACT_GELU, 800); }
Test(nn_backprop, gelu_tanh_mlps_of_depth_2_to_4_match_the_delta_formulas) { check_activation(TG_ACT_GELU_TANH, 900); }

Test(nn_backprop, l2_adds_lambda_w_to_weight_gradients_and_nothing_to_biases)
{
    net_case c = {3, {3, 4, 4, 2}, TG_ACT_TANH, 0.25, 5, 42};
    tg_ctx *ctx = tg_ctx_new(1);
    problem plain = make_problem(ctx, &c);
    plain.lambda = 0;
    cr_assert_eq(tg_backward(objective(NULL, &plain)), TG_OK);
    problem reg = make_problem(ctx, &c); /* same seed: the same network */
    cr_assert_eq(tg_backward(objective(NULL, &reg)), TG_OK);
    tg_params a = tg_mlp_params(plain.net), b = tg_mlp_params(reg.net);
    for (int i = 0; i < a.count; i++) {
        bool weight = tg_tensor_rank(a.items[i]) == 2;
        for (int64_t k = 0; k < tg_tensor_size(a.items[i]); k++) {
            double expected = tg_tensor_get(tg_tensor_grad(a.items[i]), k) +
                              (weight ? c.lambda * tg_tensor_get(a.items[i], k) : 0);
            cr_expect(fabs(tg_tensor_get(tg_tensor_grad(b.items[i]), k) - expected) < 1e-12, "%s[%lld]",
                      tg_tensor_name(b.items[i]), (long long)k);
        }
    }
    tg_tensor *penalty = tg_loss_l2(b, c.lambda);
    double sum = 0;
    for (int i = 0; i < b.count; i += 2)
        for (int64_t k = 0; k < tg_tensor_size(b.items[i]); k++)
            sum += tg_tensor_get(b.items[i], k) * tg_tensor_get(b.items[i], k);
    cr_expect_float_eq(tg_tensor_item(penalty), c.lambda / 2 * sum, 1e-12, "(λ/2)Σ‖W‖² over weights only");
    tg_mlp_free(plain.net);
    tg_mlp_free(reg.net);
    tg_ctx_free(ctx);
}

/* The third reference: central finite differences through tg_gradcheck. */
Test(nn_backprop, the_same_objective_passes_gradcheck_for_each_activation)
{
    const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_TANH, TG_ACT_RELU, TG_ACT_LEAKY_RELU, TG_ACT_ELU,
                                  TG_ACT_SOFTPLUS, TG_ACT_SILU, TG_ACT_GELU, TG_ACT_GELU_TANH};
    for (int a = 0; a < (int)(sizeof acts / sizeof *acts); a++) {
        net_case c = {3, {3, 5, 4, 2}, acts[a], 0.1, 4, 41 + (uint64_t)a};
        tg_ctx *ctx = tg_ctx_new(1);
        problem p = make_problem(ctx, &c);
        tg_params params = tg_mlp_params(p.net);
        tg_gradcheck_report report;
        tg_gradcheck_options opts = {.step = 1e-6, .abs_tol = 1e-7, .rel_tol = 1e-6, .seed = 1};
        cr_assert_eq(tg_gradcheck(ctx, objective, &p, params.count, params.items, &opts, &report), TG_OK);
        cr_expect(report.passed, "%s network", tg_activation_name(acts[a]));
        for (int i = 0; i < report.n_inputs; i++)
            cr_expect_gt(report.inputs[i].max_abs_grad, 0, "%s input %d", tg_activation_name(acts[a]), i);
        tg_gradcheck_report_free(&report);
        tg_mlp_free(p.net);
        tg_ctx_free(ctx);
    }
}
