/* docs/tutorial.md, "Weights in and out: safetensors": a layer's weight and
 * bias saved under PyTorch's names, listed, loaded all or nothing, and a
 * mismatch refused. The lines between the tutorial markers are the page's
 * code block, word for word (tests/tutorial_examples.sh checks it, and that
 * the output is the page's). */
#include <stdio.h>
#include "tapegrad.h"

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_ctx_set_error_handler(ctx, NULL, NULL); /* the error below is printed by the program */
    /* tutorial: begin */
/* nn.Linear(3, 2): weight [out, in], bias [out] */
tg_tensor *w = tg_tensor_from(ctx, TG_F32, TG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
tg_tensor *b = tg_tensor_from(ctx, TG_F32, TG_SHAPE(2), (double[]){0.5, -0.5});
tg_named_tensor items[] = {{"0.weight", w}, {"0.bias", b}};
tg_safetensors_meta meta[] = {{"format", "pt"}};
tg_safetensors_save(ctx, "linear.safetensors", 2, items, 1, meta);

tg_safetensors *st = tg_safetensors_open(ctx, "linear.safetensors");
for (int i = 0; i < tg_safetensors_count(st); i++) {
    char dims[64];
    printf("%-9s %s %s\n", tg_safetensors_name(st, i), tg_safetensors_dtype(st, i),
           tg_shape_str(tg_safetensors_rank(st, i), tg_safetensors_shape(st, i), dims, sizeof dims));
}
printf("format: %s\n", tg_safetensors_metadata(st, "format"));

/* into float64 tensors, converted; all are checked before any is written */
tg_tensor *w64 = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 3));
tg_tensor *wrong = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(3, 2));
tg_tensor *b64 = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2));
tg_named_tensor bad[] = {{"0.bias", b64}, {"0.weight", wrong}};
if (tg_safetensors_load(st, 2, bad) != TG_OK)
    printf("%s\nbias untouched: %g\n", tg_ctx_error(ctx), tg_tensor_get(b64, 0));
tg_ctx_clear_error(ctx);
tg_named_tensor good[] = {{"0.bias", b64}, {"0.weight", w64}};
tg_safetensors_load(st, 2, good);
printf("loaded: w[1][2] = %g, b[0] = %g\n", tg_tensor_get(w64, 5), tg_tensor_get(b64, 0));
tg_safetensors_close(st);
    /* tutorial: end */
    int status = tg_ctx_status(ctx) != TG_OK;
    if (status)
        fprintf(stderr, "%s\n", tg_ctx_error(ctx));
    tg_ctx_free(ctx);
    return status;
}
