/* docs/tutorial.md §4: training the 2-2-1 network with SGD on Alice, Bob,
 * Charlie and Diana (as examples/train_221.c: seed 42, lr 0.1, 1000 epochs),
 * recording the curves and drawing them. The lines between the tutorial
 * markers are the page's code block, word for word (tests/tutorial_examples.sh
 * checks it, and that the output is the page's). */
#include <stdio.h>
#include "tapegrad.h"

enum { PEOPLE = 4 };
static tg_tensor *all_x, *all_y; /* the four people at once, for the curves */

/* The mean loss and the accuracy over the four, off the tape. */
static void evaluate(tg_mlp *net, double *loss, double *accuracy)
{
    tg_ctx *ctx = tg_tensor_ctx(all_x);
    bool was = tg_grad_set_enabled(ctx, false);
    tg_tensor *fit = tg_mlp_forward(net, all_x);
    *loss = tg_tensor_item(tg_loss_mse(fit, all_y));
    int right = 0;
    for (int i = 0; i < PEOPLE; i++)
        right += (tg_tensor_get(fit, i) > 0.5) == (tg_tensor_get(all_y, i) > 0.5);
    *accuracy = right / (double)PEOPLE;
    tg_grad_set_enabled(ctx, was);
    tg_tape_reset(ctx);
}

/* The network's output for one person (weight − 135, height − 66). */
static double predict(tg_mlp *net, double weight, double height)
{
    tg_ctx *ctx = tg_tensor_ctx(all_x);
    bool was = tg_grad_set_enabled(ctx, false);
    tg_tensor *person = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){weight, height});
    double out = tg_tensor_item(tg_mlp_forward(net, person));
    tg_tensor_free(person);
    tg_grad_set_enabled(ctx, was);
    tg_tape_reset(ctx);
    return out;
}

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(42);
    const int64_t widths[] = {2, 2, 1};
    const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_SIGMOID};
    tg_mlp *net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_NORMAL, &rng);
    tg_optimizer *sgd = tg_optim_sgd_new(tg_mlp_params(net), 0.1);
    const double data[PEOPLE][3] = {{-2, -1, 1}, {25, 6, 0}, {17, 4, 0}, {-15, -6, 1}};
    tg_tensor *x[PEOPLE], *y[PEOPLE];
    for (int i = 0; i < PEOPLE; i++) {
        x[i] = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), data[i]);
        y[i] = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 1), &data[i][2]);
    }
    all_x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4, 2), (double[]){-2, -1, 25, 6, 17, 4, -15, -6});
    all_y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4, 1), (double[]){1, 0, 0, 1});
    static double loss_curve[1000], accuracy[1000];

    /* tutorial: begin */
for (int epoch = 1; epoch <= 1000; epoch++) {
    for (int i = 0; i < 4; i++) {
        tg_optim_zero_grad(sgd);
        tg_tensor *loss = tg_loss_mse(tg_mlp_forward(net, x[i]), y[i]);
        tg_backward(loss);
        tg_optim_step(sgd);        /* w ← w − 0.1·∂L/∂w */
        tg_tape_reset(ctx);        /* frees the step's tensors, keeps the memory */
    }
    evaluate(net, &loss_curve[epoch - 1], &accuracy[epoch - 1]);   /* over all four */
}
tg_curves curves = {.count = 1000, .train_loss = loss_curve, .train_accuracy = accuracy,
                    .title = "§4 the 2-2-1 network on Alice, Bob, Charlie, Diana: SGD, lr 0.1"};
tg_curves_save_svg(ctx, &curves, "train_221_curves.svg");
printf("mean loss %.4f after epoch 1, %.4f after epoch 1000\n", loss_curve[0], loss_curve[999]);
printf("Emily (-7, -3) → %.3f, Frank (20, 2) → %.3f\n", predict(net, -7, -3), predict(net, 20, 2));
    /* tutorial: end */

    int status = tg_ctx_status(ctx) != TG_OK;
    if (status)
        fprintf(stderr, "%s\n", tg_ctx_error(ctx));
    for (int i = 0; i < PEOPLE; i++) {
        tg_tensor_free(x[i]);
        tg_tensor_free(y[i]);
    }
    tg_tensor_free(all_x);
    tg_tensor_free(all_y);
    tg_optim_free(sgd);
    tg_mlp_free(net);
    tg_ctx_free(ctx);
    return status;
}
