/* Seed case §5: Rosenblatt's perceptron learning rule, then its limit.
 * f(x) = sign(w·x + b); on the first misclassified point (y(w·x + b) <= 0):
 * w ← w + η·y·x, b ← b + η·y. Positive M1(3,3), M2(4,3); negative M3(1,1);
 * w0 = (0,0), b0 = 0, η = 1. Prints the textbook's table row by row.
 * Then: the perceptron never converges on XOR, and a 2-4-1 MLP learns it. */
#include <stdio.h>

#include "tapegrad.h"
#include "examples/xor_net.h"

/* An integer with a real minus sign, as the textbook prints it: −3 */
static const char *num(double v, char *buf, size_t size)
{
    snprintf(buf, size, v < 0 ? "\u2212%g" : "%g", v < 0 ? -v : v);
    return buf;
}

static void print_row(const tg_perceptron_row *row, void *user)
{
    const char *const *names = user;
    char who[16], w0[16], w1[16], b[16];
    /* "| 1 | M1 | ...", and "| 0 | | ..." when no point was misclassified yet */
    snprintf(who, sizeof who, "%s ", row->misclassified >= 0 ? names[row->misclassified] : row->converged ? "none" : "");
    printf("| %lld | %s| (%s,%s) | %s |\n", (long long)row->iteration, who[1] ? who : "",
           num(tg_tensor_get(row->w, 0), w0, sizeof w0), num(tg_tensor_get(row->w, 1), w1, sizeof w1),
           num(row->b, b, sizeof b));
}

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);

    /* ---- the textbook's three points ---- */
    const char *names[] = {"M1", "M2", "M3"};
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3, 2), (double[]){3, 3, 4, 3, 1, 1});
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3), (double[]){1, 1, -1});
    tg_tensor *w = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2));
    double b = 0;
    tg_perceptron_result result;
    printf("| iteration | misclassified | w | b |\n|---|---|---|---|\n");
    tg_perceptron_train(w, &b, x, y, 1.0, 100, print_row, (void *)names, &result);
    printf("\nconverged after %lld updates: f(x) = sign(%g·x1 + %g·x2 %s %g)\n", (long long)result.updates,
           tg_tensor_get(w, 0), tg_tensor_get(w, 1), b < 0 ? "-" : "+", b < 0 ? -b : b);

    /* ---- XOR: not linearly separable ---- */
    tg_tensor *xor_x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4, 2), (double[]){0, 0, 0, 1, 1, 0, 1, 1});
    tg_tensor *xor_pm = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4), (double[]){-1, 1, 1, -1});
    tg_tensor_fill(w, 0);
    b = 0;
    tg_perceptron_train(w, &b, xor_x, xor_pm, 1.0, 1000, NULL, NULL, &result);
    printf("\nperceptron on XOR: %s after %lld updates (no line separates XOR)\n",
           result.converged ? "converged" : "did not converge", (long long)result.updates);

    /* ---- an MLP with one hidden layer learns XOR: the network of the docs ---- */
    xor_net n = xor_net_new(ctx);
    double loss_curve[XOR_STEPS];
    printf("\n2-4-1 MLP (tanh, sigmoid), MSE, Adam lr 0.05 (examples/xor_net.h):\n");
    if (xor_net_train(&n, ctx, XOR_STEPS, loss_curve, NULL) != 0) {
        fprintf(stderr, "perceptron: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    for (int step = 1; step <= XOR_STEPS; step++)
        if (step == 1 || step % 100 == 0)
            printf("  step %3d  loss %.6f\n", step, loss_curve[step - 1]);
    tg_grad_set_enabled(ctx, false);
    tg_tensor *p = tg_mlp_forward(n.net, xor_x);
    for (int i = 0; i < 4; i++)
        printf("  XOR(%g, %g) = %.3f\n", tg_tensor_get(xor_x, 2 * i), tg_tensor_get(xor_x, 2 * i + 1),
               tg_tensor_get(p, i));
    xor_net_free(&n);
    tg_ctx_free(ctx);
    return 0;
}
