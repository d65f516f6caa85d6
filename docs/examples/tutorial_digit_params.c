/* docs/tutorial.md §8: the digit MLP's parameter count, and how it grows with
 * 256×256 images (the course's homework). The lines between the tutorial
 * markers are the page's code block (tests/tutorial_examples.sh checks it,
 * and that the output is the page's). */
#include <stdio.h>
#include "tapegrad.h"

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    /* tutorial: begin */
const tg_activation acts[] = {TG_ACT_RELU, TG_ACT_RELU, TG_ACT_NONE};
for (int side = 28; side <= 256; side += 228) {           /* 28×28, then 256×256 */
    const int64_t widths[] = {side * side, 256, 128, 10};
    tg_mlp *mlp = tg_mlp_new(ctx, TG_F32, 3, widths, acts, TG_INIT_ZEROS, NULL);
    int64_t counted = tg_params_count(tg_mlp_params(mlp));
    int64_t formula = (side * side + 1) * 256 + (256 + 1) * 128 + (128 + 1) * 10;
    printf("%3dx%-3d: %lld parameters (formula %lld), %lld in the first layer\n", side, side,
           (long long)counted, (long long)formula, (long long)(side * side + 1) * 256);
    tg_mlp_free(mlp);
}
    /* tutorial: end */
    tg_ctx_free(ctx);
    return 0;
}
