/* Seed case §7: logistic regression and softmax cross-entropy.
 *  - p(x) = σ(wᵀx + b), J(w) = -Σ [y ln p + (1 - y) ln(1 - p)]: ∂J/∂w = Σ (p(xᵢ) - yᵢ) xᵢ.
 *    The tape's gradient is compared with that formula, then the neuron is trained.
 *  - softmax cross-entropy: ∂Loss/∂f = softmax(f) - p, finite even for logits of ±1000.
 *  - tanh(x) = 2σ(2x) - 1. */
#include <stdio.h>

#include "tapegrad.h"

enum { N = 6 };

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(3);

    /* hours studied, hours slept -> passed (1) or not (0) */
    const double xs[N * 2] = {1, 4, 2, 8, 3, 5, 5, 7, 6, 4, 8, 8}, ys[N] = {0, 0, 0, 1, 1, 1};
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(N, 2), xs);
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(N, 1), ys);
    tg_layer *neuron = tg_layer_new(ctx, TG_F64, 2, 1, TG_ACT_SIGMOID, TG_INIT_NORMAL, &rng);
    tg_tensor *w = tg_layer_weight(neuron), *b = tg_layer_bias(neuron);

    /* ---- the gradient: tape versus Σ (p - y) x ---- */
    tg_tensor *p = tg_layer_forward(neuron, x);        /* [N, 1] */
    tg_tensor *J = tg_loss_bce(p, y, TG_REDUCE_SUM);   /* -Σ [y ln p + (1-y) ln(1-p)] */
    tg_backward(J);
    printf("J = %.6f at w = [%.4f, %.4f], b = %.4f\n", tg_tensor_item(J), tg_tensor_get(w, 0), tg_tensor_get(w, 1),
           tg_tensor_get(b, 0));
    double formula[3] = {0, 0, 0}; /* ∂J/∂w1, ∂J/∂w2, ∂J/∂b */
    for (int i = 0; i < N; i++) {
        double r = tg_tensor_get(p, i) - ys[i];
        formula[0] += r * xs[2 * i];
        formula[1] += r * xs[2 * i + 1];
        formula[2] += r;
    }
    printf("           tape         Σ (p - y) x\n");
    printf("∂J/∂w1  %12.8f  %12.8f\n", tg_tensor_get(tg_tensor_grad(w), 0), formula[0]);
    printf("∂J/∂w2  %12.8f  %12.8f\n", tg_tensor_get(tg_tensor_grad(w), 1), formula[1]);
    printf("∂J/∂b   %12.8f  %12.8f\n", tg_tensor_get(tg_tensor_grad(b), 0), formula[2]);
    tg_tape_reset(ctx);

    /* ---- training by gradient descent through the tape ---- */
    double loss;
    tg_logistic_fit(neuron, x, y, 0.5, 2000, &loss);
    printf("\nafter 2000 steps of gradient descent: mean J = %.4f\n", loss);
    tg_grad_set_enabled(ctx, false);
    p = tg_layer_forward(neuron, x);
    for (int i = 0; i < N; i++)
        printf("  x = (%g, %g)  y = %g  p = %.3f\n", xs[2 * i], xs[2 * i + 1], ys[i], tg_tensor_get(p, i));
    tg_grad_set_enabled(ctx, true);
    tg_tape_reset(ctx);

    /* ---- softmax cross-entropy at logits ±1000 ---- */
    tg_tensor *f = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 3), (double[]){1000, -1000, 0});
    tg_tensor *onehot = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 3), (double[]){0, 1, 0});
    tg_tensor_set_requires_grad(f, true);
    tg_tensor *ce = tg_loss_softmax_ce(f, onehot);
    tg_backward(ce);
    tg_tensor *df = tg_tensor_grad(f);
    printf("\nsoftmax CE of f = [1000, -1000, 0] against [0, 1, 0]: loss %g\n", tg_tensor_item(ce));
    printf("∂Loss/∂f = [%g, %g, %g]   (softmax(f) - p = [1, -1, 0])\n", tg_tensor_get(df, 0), tg_tensor_get(df, 1),
           tg_tensor_get(df, 2));
    tg_tape_reset(ctx);

    /* ---- tanh(x) = 2σ(2x) - 1 ---- */
    tg_tensor *t = tg_tensor_from(ctx, TG_F64, TG_SHAPE(5), (double[]){-3, -0.5, 0, 0.5, 3});
    tg_tensor *lhs = tg_tanh(t);
    tg_tensor *rhs = tg_add_scalar(tg_mul_scalar(tg_sigmoid(tg_mul_scalar(t, 2)), 2), -1);
    printf("\n    x     tanh x     2σ(2x) - 1\n");
    for (int i = 0; i < 5; i++)
        printf("%5.1f  %10.7f  %10.7f\n", tg_tensor_get(t, i), tg_tensor_get(lhs, i), tg_tensor_get(rhs, i));

    tg_layer_free(neuron);
    tg_ctx_free(ctx);
    return 0;
}
