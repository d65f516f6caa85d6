/* docs/tutorial.md §2: the 2-2-1 network forward, as a tg_mlp. The lines
 * between the tutorial markers are the page's code block, word for word
 * (tests/tutorial_examples.sh checks it, and that the output is the page's). */
#include <stdio.h>
#include "tapegrad.h"

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){2, 3});

    /* tutorial: begin */
const int64_t widths[] = {2, 2, 1};
const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_SIGMOID};
tg_mlp *net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_ZEROS, NULL); /* zeros need no rng */
tg_tensor *W1 = tg_layer_weight(tg_mlp_layer(net, 0));   /* [[0, 1], [0, 1]] */
tg_tensor *W2 = tg_layer_weight(tg_mlp_layer(net, 1));   /* [[0, 1]] */
tg_tensor_set(W1, 1, 1), tg_tensor_set(W1, 3, 1), tg_tensor_set(W2, 1, 1);
tg_tensor *o = tg_mlp_forward(net, x);
printf("o1 = %.7f\n", tg_tensor_item(o));
    /* tutorial: end */

    int status = tg_ctx_status(ctx) != TG_OK;
    if (status)
        fprintf(stderr, "%s\n", tg_ctx_error(ctx));
    tg_mlp_free(net);
    tg_ctx_free(ctx);
    return status;
}
