/* Seed case §4: training the 2-2-1 sigmoid network with SGD.
 * Inputs are (weight - 135 lb, height - 66 in); the target is 1 for F, 0 for M.
 * MSE loss, one sample at a time, learning rate 0.1, 1000 epochs, weights drawn
 * from N(0, 1) with a fixed seed. The loss falls; then Emily [-7, -3] ≈ 0.95 (F)
 * and Frank [20, 2] ≈ 0.04 (M). */
#include <stdio.h>

#include "tapegrad.h"

enum { PEOPLE = 4, EPOCHS = 1000 };

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(42);
    const int64_t widths[] = {2, 2, 1};
    const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_SIGMOID};
    tg_mlp *net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_NORMAL, &rng);
    tg_params params = tg_mlp_params(net);
    tg_optimizer *sgd = tg_optim_sgd_new(params, 0.1);

    const char *names[PEOPLE] = {"Alice", "Bob", "Charlie", "Diana"};
    const double data[PEOPLE][3] = {{-2, -1, 1}, {25, 6, 0}, {17, 4, 0}, {-15, -6, 1}};
    tg_tensor *x[PEOPLE], *y[PEOPLE];
    for (int i = 0; i < PEOPLE; i++) { /* persistent: they outlive every tape reset */
        x[i] = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), data[i]);
        y[i] = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 1), &data[i][2]);
    }
    tg_tensor *all_x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4, 2), (double[]){-2, -1, 25, 6, 17, 4, -15, -6});
    tg_tensor *all_y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4, 1), (double[]){1, 0, 0, 1});

    tg_mlp_print(net, stdout);
    printf("\nepoch   mean loss over the four people\n");
    for (int epoch = 1; epoch <= EPOCHS; epoch++) {
        for (int i = 0; i < PEOPLE; i++) {
            tg_tensor *loss = tg_loss_mse(tg_mlp_forward(net, x[i]), y[i]); /* (y - o1)² */
            tg_params_zero_grad(params);
            if (tg_backward(loss) != TG_OK) {
                fprintf(stderr, "train_221: %s\n", tg_ctx_error(ctx));
                return 1;
            }
            tg_optim_step(sgd);
            tg_tape_reset(ctx); /* frees this step's tensors */
        }
        if (epoch == 1 || epoch % 100 == 0) {
            bool was = tg_grad_set_enabled(ctx, false);
            printf("%5d   %.6f\n", epoch, tg_tensor_item(tg_loss_mse(tg_mlp_forward(net, all_x), all_y)));
            tg_grad_set_enabled(ctx, was);
            tg_tape_reset(ctx);
        }
    }

    tg_grad_set_enabled(ctx, false);
    printf("\nafter training:\n");
    tg_tensor *fit = tg_mlp_forward(net, all_x);
    for (int i = 0; i < PEOPLE; i++)
        printf("  %-8s %.3f  (%s)\n", names[i], tg_tensor_get(fit, i), data[i][2] ? "F" : "M");
    tg_tensor *new_people = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 2), (double[]){-7, -3, 20, 2});
    tg_tensor *guess = tg_mlp_forward(net, new_people);
    printf("  Emily    %.3f  (textbook ≈ 0.95: F)\n", tg_tensor_get(guess, 0));
    printf("  Frank    %.3f  (textbook ≈ 0.04: M)\n", tg_tensor_get(guess, 1));

    tg_optim_free(sgd);
    tg_mlp_free(net);
    tg_ctx_free(ctx);
    return 0;
}
