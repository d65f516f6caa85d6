/* docs/tutorial.md §1: one neuron y = σ(w·x + b) and its gradients; writes
 * one_neuron.dot. The lines between the tutorial markers are the page's code
 * block, word for word (tests/tutorial_examples.sh checks it, and that the
 * output is the page's). */
#include <stdio.h>
#include "tapegrad.h"

int main(void)
{
    /* tutorial: begin */
tg_ctx *ctx = tg_ctx_new(1);
tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){2, 3});
tg_tensor *w = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){0, 1});
tg_tensor *b = tg_tensor_scalar(ctx, TG_F64, 4);
tg_tensor_set_requires_grad(w, true);
tg_tensor_set_requires_grad(b, true);
tg_tensor *z = tg_add(tg_sum(tg_mul(w, x)), b);   /* w·x + b = 7 */
tg_tensor *y = tg_sigmoid(z);                     /* σ(7) = 0.9990889 */
tg_backward(y);
tg_dot_save("one_neuron.dot", 1, &y,
            &(tg_dot_options){.grads_of = y, .edge_derivatives = true});
    /* tutorial: end */

    printf("y = %.7f\n", tg_tensor_item(y));
    printf("dy/dw = [%.7f, %.7f]\n", tg_tensor_get(tg_tensor_grad(w), 0), tg_tensor_get(tg_tensor_grad(w), 1));
    printf("dy/db = %.7f\n", tg_tensor_item(tg_tensor_grad(b)));
    int status = tg_ctx_status(ctx) != TG_OK;
    if (status)
        fprintf(stderr, "%s\n", tg_ctx_error(ctx));
    tg_ctx_free(ctx);
    return status;
}
