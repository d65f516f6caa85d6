/* docs/tutorial.md, "Drawing your own graphs": the options of tg_dot_save on a
 * 2-2-1 network whose parameters are named "layer1.weight", ... The lines
 * between the tutorial markers are the page's code block, word for word
 * (tests/tutorial_examples.sh checks it); the program prints nothing and fails
 * unless net.dot boxes "layer1" as a cluster. */
#include <stdio.h>
#include <string.h>
#include "tapegrad.h"

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    const int64_t widths[] = {2, 2, 1};
    const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_SIGMOID};
    tg_mlp *net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_ZEROS, NULL);
    tg_tensor_fill(tg_layer_weight(tg_mlp_layer(net, 0)), 1);
    tg_tensor_fill(tg_layer_weight(tg_mlp_layer(net, 1)), 1);
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){-2, -1});
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 1), (double[]){1});
    tg_tensor *loss = tg_loss_mse(tg_mlp_forward(net, x), y);

    /* tutorial: begin */
tg_dot_options opts = {
    .grads_of = loss,          /* show ∂loss/∂t everywhere (computed for the picture only) */
    .edge_derivatives = true,  /* blue local derivatives on edges into one-element ops */
    .group_separator = '.',    /* "layer1.weight" → cluster "layer1" */
    .max_values = 8,           /* list values of tensors up to 8 elements (0: 8, < 0: never) */
    .title = "my network",
};
tg_dot_save("net.dot", 1, &loss, &opts);   /* then: dot -Tsvg net.dot -o net.svg */
    /* tutorial: end */

    int status = tg_ctx_status(ctx) != TG_OK;
    if (status)
        fprintf(stderr, "%s\n", tg_ctx_error(ctx));
    char line[4096];
    bool clustered = false;
    FILE *f = fopen("net.dot", "r");
    while (f && fgets(line, sizeof line, f))
        clustered = clustered || strstr(line, "label=<<b>layer1</b>>") != NULL;
    if (f)
        fclose(f);
    if (!clustered) {
        fprintf(stderr, "net.dot has no cluster layer1\n");
        status = 1;
    }
    tg_tensor_free(x);
    tg_tensor_free(y);
    tg_mlp_free(net);
    tg_ctx_free(ctx);
    return status;
}
