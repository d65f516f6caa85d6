/* Seed case §1: one neuron. Inputs x = [2, 3], weights w = [0, 1], bias b = 4,
 * sigmoid activation: σ(w·x + b) = σ(7) = 0.9990889. */
#include <stdio.h>

#include "tapegrad.h"

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(1);
    tg_layer *neuron = tg_layer_new(ctx, TG_F64, 2, 1, TG_ACT_SIGMOID, TG_INIT_ZEROS, &rng);
    tg_tensor_copy(tg_layer_weight(neuron), tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){0, 1}));
    tg_tensor_fill(tg_layer_bias(neuron), 4);

    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){2, 3});
    tg_tensor *z = tg_layer_linear(neuron, x); /* w·x + b = 0·2 + 1·3 + 4 = 7 */
    tg_tensor *out = tg_sigmoid(z);
    if (!out) {
        fprintf(stderr, "one_neuron: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    printf("x = [2, 3], w = [0, 1], b = 4\n");
    printf("w·x + b  = %g\n", tg_tensor_item(z));
    printf("σ(w·x+b) = %.7f   (textbook: 0.9990889)\n", tg_tensor_item(out));

    tg_layer_free(neuron);
    tg_ctx_free(ctx); /* frees x and every step tensor too */
    return 0;
}
