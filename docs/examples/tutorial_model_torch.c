/* docs/tutorial.md, "Models to and from PyTorch, and into C": a model's
 * tensors under the names torch.nn.Sequential gives them, saved as
 * safetensors, a load into the wrong architecture refused whole, and the
 * model exported as a C file of its own. The lines between the tutorial
 * markers are the page's code block, word for word (tests/tutorial_examples.sh
 * checks it, and that the output is the page's). */
#include <stdio.h>
#include <string.h>
#include "tapegrad.h"

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_ctx_set_error_handler(ctx, NULL, NULL); /* the error below is printed by the program */
    /* tutorial: begin */
tg_rng rng = tg_rng_seed(1);
tg_model *model = tg_model_new(ctx, TG_F32, TG_SHAPE(1, 8, 8), TG_LAYERS(
    {.kind = TG_LAYER_CONV2D, .in = 1, .out = 4, .kernel = 3, .padding = 1, .act = TG_ACT_RELU},
    {.kind = TG_LAYER_BATCH_NORM, .in = 4},
    {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
    {.kind = TG_LAYER_FLATTEN},
    {.kind = TG_LAYER_DROPOUT, .rate = 0.5},
    {.kind = TG_LAYER_DENSE, .in = 64, .out = 3}), &rng);
tg_params all = tg_model_tensors(model);
for (int i = 0; i < all.count; i++) {
    char name[64], dims[64];
    printf("%-14s %-24s %s\n", tg_model_torch_name(model, i, name, sizeof name),
           tg_tensor_name(all.items[i]),
           tg_shape_str(tg_tensor_rank(all.items[i]), tg_tensor_shape(all.items[i]), dims, sizeof dims));
}
tg_model_save_safetensors(model, "small.safetensors");

/* a model whose last layer is wider: refused, and nothing is written */
tg_model *wider = tg_model_new(ctx, TG_F32, TG_SHAPE(1, 8, 8), TG_LAYERS(
    {.kind = TG_LAYER_CONV2D, .in = 1, .out = 4, .kernel = 3, .padding = 1, .act = TG_ACT_RELU},
    {.kind = TG_LAYER_BATCH_NORM, .in = 4},
    {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
    {.kind = TG_LAYER_FLATTEN},
    {.kind = TG_LAYER_DROPOUT, .rate = 0.5},
    {.kind = TG_LAYER_DENSE, .in = 64, .out = 5}), &rng);
if (tg_model_load_safetensors(wider, "small.safetensors", NULL, NULL) != TG_OK)
    printf("%s\n", tg_ctx_error(ctx));
tg_ctx_clear_error(ctx);

/* the model as small.h and small.c: eval mode, no tapegrad, only libm */
tg_model_set_training(model, false);
tg_model_export_c(model, "small", ".");
    /* tutorial: end */
    char line[256];
    FILE *header = fopen("small.h", "r");
    while (header && fgets(line, sizeof line, header))
        if (strstr(line, "_SIZE ") || strstr(line, "small_forward("))
            fputs(line, stdout);
    if (header)
        fclose(header);
    tg_ctx_free(ctx);
    return 0;
}
