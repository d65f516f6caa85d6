/* docs/tutorial.md §6: δ at each layer of Alice's 2-2-1 network (w = 1,
 * b = 0, x = [-2, -1], y = 1), printed by hooks on the pre-activations. The
 * lines between "tutorial: begin" and "tutorial: end" are the page's code
 * block, word for word (tests/tutorial_examples.sh checks it, and that the
 * output is the page's). */
#include <stdio.h>
#include "tapegrad.h"

static tg_tensor *print_delta(tg_tensor *t, tg_tensor *grad, void *user)
{
    (void)user;
    printf("δ %s =", tg_tensor_name(t));
    for (int64_t i = 0; i < tg_tensor_size(grad); i++)
        printf(" %.7f", tg_tensor_get(grad, i));
    printf("\n");
    return NULL; /* keep the gradient */
}

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_layer *layer1 = tg_layer_new(ctx, TG_F64, 2, 2, TG_ACT_SIGMOID, TG_INIT_ZEROS, NULL);
    tg_layer *layer2 = tg_layer_new(ctx, TG_F64, 2, 1, TG_ACT_SIGMOID, TG_INIT_ZEROS, NULL);
    tg_tensor_fill(tg_layer_weight(layer1), 1);
    tg_tensor_fill(tg_layer_weight(layer2), 1);
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){-2, -1});
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 1), (double[]){1});

    /* tutorial: begin */
tg_tensor *z1 = tg_layer_linear(layer1, x);  tg_tensor_set_name(z1, "z1");
tg_tensor *a1 = tg_sigmoid(z1);
tg_tensor *z2 = tg_layer_linear(layer2, a1); tg_tensor_set_name(z2, "z2");
tg_tensor *L  = tg_loss_mse(tg_sigmoid(z2), y);
tg_tensor_set_hook(z1, print_delta, NULL);
tg_tensor_set_hook(z2, print_delta, NULL);
tg_backward(L);
    /* tutorial: end */

    int status = tg_ctx_status(ctx) != TG_OK;
    if (status)
        fprintf(stderr, "%s\n", tg_ctx_error(ctx));
    tg_layer_free(layer1);
    tg_layer_free(layer2);
    tg_ctx_free(ctx);
    return status;
}
