/* Seed case §3: every partial derivative of one sample's loss, by the tape.
 * A 2-2-1 sigmoid network with w1..w6 = 1 and b1..b3 = 0:
 *   h1 = σ(w1 x1 + w2 x2 + b1), h2 = σ(w3 x1 + w4 x2 + b2), o1 = σ(w5 h1 + w6 h2 + b3)
 * Alice: x = [-2, -1], y = 1, L = (y - o1)².
 * Textbook: h1 = 0.0474259, o1 = 0.5236952, ∂L/∂w1 = 0.0214695.
 * Each gradient is checked against central differences (L(θ+h) - L(θ-h)) / 2h,
 * then tg_gradcheck checks all of them at once. */
#include <stdio.h>

#include "tapegrad.h"

typedef struct {
    tg_mlp *net;
    tg_tensor *x, *y;
} problem;

/* L = (y - o1)² as a graph of ops; also the function tg_gradcheck differentiates. */
static tg_tensor *alice_loss(tg_tensor *const *inputs, void *user)
{
    (void)inputs; /* the inputs are the network's own parameters */
    problem *p = user;
    return tg_loss_mse(tg_mlp_forward(p->net, p->x), p->y);
}

static double loss_value(problem *p)
{
    bool was = tg_grad_set_enabled(tg_tensor_ctx(p->x), false);
    double value = tg_tensor_item(alice_loss(NULL, p));
    tg_grad_set_enabled(tg_tensor_ctx(p->x), was);
    return value;
}

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(1);
    const int64_t widths[] = {2, 2, 1};
    const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_SIGMOID};
    problem p = {tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_ZEROS, &rng),
                 tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){-2, -1}),
                 tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 1), (double[]){1})};
    tg_params params = tg_mlp_params(p.net); /* layer1.weight [2,2], layer1.bias, layer2.weight [1,2], layer2.bias */
    tg_tensor_fill(params.items[0], 1);
    tg_tensor_fill(params.items[2], 1);

    tg_tensor *h = tg_layer_forward(tg_mlp_layer(p.net, 0), p.x);
    tg_tensor *o = tg_mlp_forward(p.net, p.x);
    tg_tensor *loss = alice_loss(NULL, &p);
    if (!h || !o || !loss || tg_backward(loss) != TG_OK) {
        fprintf(stderr, "alice_gradients: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    printf("h1 = %.7f   (textbook 0.0474259)\n", tg_tensor_get(h, 0));
    printf("o1 = %.7f   (textbook 0.5236952)\n", tg_tensor_item(o));
    printf("L  = %.7f\n\n", tg_tensor_item(loss));

    /* textbook names of the nine parameters, in tg_mlp_params order */
    const char *names[] = {"w1", "w2", "w3", "w4", "b1", "b2", "w5", "w6", "b3"};
    printf("%-4s %-16s %14s %14s %10s\n", "", "tensor[index]", "tape", "central diff", "|diff|");
    int k = 0;
    const double step = 1e-6;
    for (int i = 0; i < params.count; i++) {
        tg_tensor *t = params.items[i];
        for (int64_t j = 0; j < tg_tensor_size(t); j++, k++) {
            double saved = tg_tensor_get(t, j);
            tg_tensor_set(t, j, saved + step);
            double up = loss_value(&p);
            tg_tensor_set(t, j, saved - step);
            double down = loss_value(&p);
            tg_tensor_set(t, j, saved);
            double fd = (up - down) / (2 * step), tape = tg_tensor_get(tg_tensor_grad(t), j);
            char where[40];
            snprintf(where, sizeof where, "%s[%lld]", tg_tensor_name(t), (long long)j);
            printf("%-4s %-16s %14.7f %14.7f %10.1e\n", names[k], where, tape, fd, tape > fd ? tape - fd : fd - tape);
        }
    }
    printf("\n∂L/∂w1 = %.7f   (textbook 0.0214695)\n\n", tg_tensor_get(tg_tensor_grad(params.items[0]), 0));

    tg_gradcheck_report report;
    tg_gradcheck(ctx, alice_loss, &p, params.count, params.items, NULL, &report);
    tg_gradcheck_print(&report, "tg_gradcheck of L over the four parameter tensors");
    bool passed = report.passed;
    tg_gradcheck_report_free(&report);

    tg_tape_reset(ctx);
    tg_mlp_free(p.net);
    tg_ctx_free(ctx);
    return passed ? 0 : 1;
}
