/* Built against the installed library by find_package (once per target the
 * README names) and by pkg-config. Given a path, it also saves its weight
 * there as a checkpoint, for the installed tg_inspect to read. */
#include <math.h>
#include <stdio.h>
#include "tapegrad.h"

int main(int argc, char **argv)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){2, 3});
    tg_tensor *w = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){0, 1});
    tg_tensor_set_requires_grad(w, true);
    tg_tensor_set_name(w, "w");
    tg_tensor *y = tg_sigmoid(tg_add_scalar(tg_sum(tg_mul(w, x)), 4));
    int ok = tg_backward(y) == TG_OK && fabs(tg_tensor_item(y) - 0.9990889) < 1e-7;
    printf("consumer: sigma(7) = %.7f, dy/dw1 = %.7f: %s\n", tg_tensor_item(y),
           tg_tensor_get(tg_tensor_grad(w), 1), ok ? "ok" : "WRONG");
    if (argc > 1 && tg_checkpoint_save(ctx, argv[1], (tg_params){1, &w}, NULL, 0) != TG_OK) {
        fprintf(stderr, "consumer: %s\n", tg_ctx_error(ctx));
        ok = 0;
    }
    tg_ctx_free(ctx);
    return ok ? 0 : 1;
}
