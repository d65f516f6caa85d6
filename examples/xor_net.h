/* The one XOR network of the docs, the examples and the pages: an MLP 2-4-1
 * (tanh, then sigmoid), Xavier weights from seed 3, MSE loss on the four
 * points, Adam with learning rate 0.05. Trained 300 steps it has learned XOR
 * (every output within 0.05 of its target); after XOR_EARLY_STEPS it is still
 * learning, and its δs are large enough to read, so the pages and diagrams
 * show it then. Shared by examples/diagrams.c, examples/backward_page.c,
 * examples/perceptron.c and tests/test_nn_seed_cases.c. */
#ifndef TAPEGRAD_EXAMPLES_XOR_NET_H
#define TAPEGRAD_EXAMPLES_XOR_NET_H

#include "tapegrad.h"

enum { XOR_STEPS = 300, XOR_EARLY_STEPS = 20 };

typedef struct {
    tg_mlp *net;
    tg_optimizer *adam;
    tg_tensor *x, *y; /* [4, 2] the four points, [4, 1] their XOR */
} xor_net;

static inline xor_net xor_net_new(tg_ctx *ctx)
{
    xor_net n = {0};
    tg_rng rng = tg_rng_seed(3);
    const int64_t widths[] = {2, 4, 1};
    const tg_activation acts[] = {TG_ACT_TANH, TG_ACT_SIGMOID};
    n.net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_XAVIER, &rng);
    n.adam = n.net ? tg_optim_adam_new(tg_mlp_params(n.net), 0.05, 0.9, 0.999, 1e-8) : NULL;
    n.x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4, 2), (double[]){0, 0, 0, 1, 1, 0, 1, 1});
    n.y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4, 1), (double[]){0, 1, 1, 0});
    tg_tensor_set_name(n.x, "x");
    tg_tensor_set_name(n.y, "y");
    return n;
}

/* The loss of the four points, on the tape (named "loss"); predictions in
 * *outputs when not NULL. */
static inline tg_tensor *xor_net_loss(xor_net *n, tg_tensor **outputs)
{
    tg_tensor *p = tg_mlp_forward(n->net, n->x);
    tg_tensor *loss = tg_loss_mse(p, n->y);
    tg_tensor_set_name(loss, "loss");
    if (outputs)
        *outputs = p;
    return loss;
}

/* steps Adam steps; each step's loss and accuracy (before the step) in
 * loss_curve[i], accuracy[i] when not NULL. 0 on success. */
static inline int xor_net_train(xor_net *n, tg_ctx *ctx, int steps, double *loss_curve, double *accuracy)
{
    if (!n->adam)
        return 1;
    for (int i = 0; i < steps; i++) {
        tg_optim_zero_grad(n->adam);
        tg_tensor *p;
        tg_tensor *loss = xor_net_loss(n, &p);
        if (!loss || tg_backward(loss) != TG_OK)
            return 1;
        if (loss_curve)
            loss_curve[i] = tg_tensor_item(loss);
        if (accuracy) {
            int right = 0;
            for (int k = 0; k < 4; k++)
                right += (tg_tensor_get(p, k) > 0.5) == (tg_tensor_get(n->y, k) > 0.5);
            accuracy[i] = right / 4.0;
        }
        if (tg_optim_step(n->adam) != TG_OK)
            return 1;
        tg_tape_reset(ctx);
    }
    return 0;
}

static inline void xor_net_free(xor_net *n)
{
    tg_optim_free(n->adam);
    tg_tensor_free(n->x);
    tg_tensor_free(n->y);
    tg_mlp_free(n->net);
}

#endif
