/* docs/tutorial.md §3: Alice's 2-2-1 network as a graph of scalars (w1..w6 = 1,
 * b1..b3 = 0, x = [-2, -1], y_true = 1), drawn with the local derivative on
 * each edge. The lines between the tutorial markers are the page's code block,
 * word for word, the pairs joined by "..." (tests/tutorial_examples.sh checks
 * it, and that the output is the page's). */
#include <stdio.h>
#include "tapegrad.h"

/* tutorial: begin */
static tg_tensor *neuron(tg_tensor *wa, tg_tensor *a, tg_tensor *wb, tg_tensor *b,
                         tg_tensor *bias, const char *name)
{
    tg_tensor *p = tg_mul(wa, a);
    tg_tensor *q = tg_mul(wb, b);
    tg_tensor *s = tg_add(p, q);
    tg_tensor *z = tg_add(s, bias);
    tg_tensor *h = tg_sigmoid(z);
    tg_tensor_set_name(h, name);
    return h;
}
/* tutorial: end */

/* A named float64 scalar leaf. */
static tg_tensor *scalar(tg_ctx *ctx, const char *name, double value, bool requires_grad)
{
    tg_tensor *t = tg_tensor_scalar(ctx, TG_F64, value);
    tg_tensor_set_name(t, name);
    tg_tensor_set_requires_grad(t, requires_grad);
    return t;
}

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *w1 = scalar(ctx, "w1", 1, true), *w2 = scalar(ctx, "w2", 1, true);
    tg_tensor *w3 = scalar(ctx, "w3", 1, true), *w4 = scalar(ctx, "w4", 1, true);
    tg_tensor *w5 = scalar(ctx, "w5", 1, true), *w6 = scalar(ctx, "w6", 1, true);
    tg_tensor *b1 = scalar(ctx, "b1", 0, true), *b2 = scalar(ctx, "b2", 0, true);
    tg_tensor *b3 = scalar(ctx, "b3", 0, true);
    tg_tensor *x1 = scalar(ctx, "x1", -2, false), *x2 = scalar(ctx, "x2", -1, false);
    tg_tensor *y_true = scalar(ctx, "y_true", 1, false);
    tg_tensor *h1, *h2, *o1, *L;

    /* tutorial: begin */
h1 = neuron(w1, x1, w2, x2, b1, "h1");
h2 = neuron(w3, x1, w4, x2, b2, "h2");
o1 = neuron(w5, h1, w6, h2, b3, "o1");
L  = tg_loss_mse(o1, y_true);           /* mean of one (o1 − y)² */
tg_backward(L);
tg_dot_save("alice_221.dot", 1, &L,
            &(tg_dot_options){.grads_of = L, .edge_derivatives = true});
printf("h1 = %.7f, o1 = %.7f, L = %.7f, ∂L/∂w1 = %.7f\n", tg_tensor_item(h1),
       tg_tensor_item(o1), tg_tensor_item(L), tg_tensor_item(tg_tensor_grad(w1)));
    /* tutorial: end */

    int status = tg_ctx_status(ctx) != TG_OK;
    if (status)
        fprintf(stderr, "%s\n", tg_ctx_error(ctx));
    tg_tensor *leaves[] = {w1, w2, w3, w4, w5, w6, b1, b2, b3, x1, x2, y_true};
    for (int i = 0; i < 12; i++)
        tg_tensor_free(leaves[i]);
    tg_ctx_free(ctx);
    return status;
}
