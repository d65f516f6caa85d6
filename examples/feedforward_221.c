/* Seed case §2: a 2-2-1 network, feedforward. Every neuron has weights [0, 1],
 * bias 0 and a sigmoid. For x = [2, 3]:
 *   h1 = h2 = σ(0·2 + 1·3) = σ(3) = 0.9525741,  o1 = σ(0·h1 + 1·h2) = 0.7216326. */
#include <stdio.h>

#include "tapegrad.h"

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(1);
    const int64_t widths[] = {2, 2, 1};
    const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_SIGMOID};
    tg_mlp *net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_ZEROS, &rng);

    /* W [out, in]: each row is one neuron's weights [0, 1]; biases stay 0. */
    const double hidden[] = {0, 1, 0, 1}, output[] = {0, 1};
    for (int i = 0; i < 4; i++)
        tg_tensor_set(tg_layer_weight(tg_mlp_layer(net, 0)), i, hidden[i]);
    for (int i = 0; i < 2; i++)
        tg_tensor_set(tg_layer_weight(tg_mlp_layer(net, 1)), i, output[i]);
    tg_mlp_print(net, stdout);

    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){2, 3});
    tg_tensor *h = tg_layer_forward(tg_mlp_layer(net, 0), x); /* [1, 2] */
    tg_tensor *o = tg_layer_forward(tg_mlp_layer(net, 1), h); /* [1, 1] */
    if (!o) {
        fprintf(stderr, "feedforward_221: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    printf("\nx = [2, 3]\n");
    printf("h1 = %.7f  h2 = %.7f   (textbook: 0.9525741 both)\n", tg_tensor_get(h, 0), tg_tensor_get(h, 1));
    printf("o1 = %.7f               (textbook: 0.7216326)\n", tg_tensor_item(o));
    printf("tg_mlp_forward gives the same: %.7f\n", tg_tensor_item(tg_mlp_forward(net, x)));

    tg_mlp_free(net);
    tg_ctx_free(ctx);
    return 0;
}
