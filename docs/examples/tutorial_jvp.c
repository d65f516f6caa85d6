/* docs/tutorial.md, "Forward and reverse accumulation": the whole program of
 * the page's block, between the tutorial markers: forward mode (tg_jvp, one
 * pass per parameter) and reverse mode (one tg_backward) on Alice's network
 * (tests/tutorial_examples.sh checks it, and that the output is the page's). */
/* tutorial: begin */
#include <stdio.h>
#include "tapegrad.h"

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    const int64_t widths[] = {2, 2, 1};
    const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_SIGMOID};
    tg_rng rng = tg_rng_seed(1);
    tg_mlp *net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_ZEROS, &rng);
    tg_params p = tg_mlp_params(net);
    tg_tensor_fill(p.items[0], 1);   /* w1..w4 */
    tg_tensor_fill(p.items[2], 1);   /* w5, w6 */
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){-2, -1});
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 1), (double[]){1});
    tg_tensor *loss = tg_loss_mse(tg_mlp_forward(net, x), y);

    /* forward mode: one pass per direction */
    tg_tensor *v[4];
    for (int i = 0; i < 4; i++)
        v[i] = tg_tensor_zeros(ctx, TG_F64, tg_tensor_rank(p.items[i]), tg_tensor_shape(p.items[i]));
    for (int i = 0; i < 4; i++)
        for (int64_t j = 0; j < tg_tensor_size(p.items[i]); j++) {
            tg_tensor *dL;
            tg_tensor_set(v[i], j, 1);            /* move parameter (i, j) alone */
            tg_jvp(loss, 4, p.items, v, &dL);     /* dL = ∂L/∂θ · v */
            tg_tensor_set(v[i], j, 0);
            printf("forward  ∂L/∂%s[%lld] = %+.7f\n", tg_tensor_name(p.items[i]), (long long)j,
                   tg_tensor_item(dL));
        }
    /* reverse mode: one pass for all of them */
    tg_backward(loss);
    printf("reverse  ∂L/∂w1 = %+.7f, and the eight others\n",
           tg_tensor_get(tg_tensor_grad(p.items[0]), 0));
    for (int i = 0; i < 4; i++)
        tg_tensor_free(v[i]);
    tg_tensor_free(x);
    tg_tensor_free(y);
    tg_mlp_free(net);
    tg_ctx_free(ctx);
    return 0;
}
/* tutorial: end */
