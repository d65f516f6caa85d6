/* A network that is not a sequence, written as a plain C forward function
 * over modules: a small residual CNN, y = head(pool(relu(h + block(h)))) with
 * h = relu(stem(x)) and block = bn(conv(relu(bn(conv(h))))). The skip link
 * adds h back after the block, which a list of layer specs cannot say, so
 * the network is a struct of modules and a function; the tape does the
 * rest. It learns to tell horizontal from vertical bars in noisy 8x8 images.
 *
 *     residual_model [--steps 150] [--seed 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"

typedef struct {
    tg_module *stem, *conv_a, *norm_a, *conv_b, *norm_b, *pool, *flatten, *head;
    tg_tensor *params[16]; /* every module's parameters, for the optimizer */
    tg_params all;
} residual_net;

static tg_module *layer(tg_ctx *ctx, tg_layer_spec spec, tg_rng *rng)
{
    return tg_module_new(ctx, TG_F32, &spec, rng);
}

static bool net_new(residual_net *net, tg_ctx *ctx, tg_rng *rng)
{
    net->stem = layer(ctx, (tg_layer_spec){.kind = TG_LAYER_CONV2D, .name = "stem", .in = 1, .out = 8, .kernel = 3,
                                           .padding = 1, .act = TG_ACT_RELU, .init = TG_INIT_HE}, rng);
    net->conv_a = layer(ctx, (tg_layer_spec){.kind = TG_LAYER_CONV2D, .name = "block.conv_a", .in = 8, .out = 8,
                                             .kernel = 3, .padding = 1, .init = TG_INIT_HE}, rng);
    net->norm_a = layer(ctx, (tg_layer_spec){.kind = TG_LAYER_BATCH_NORM, .name = "block.norm_a", .in = 8}, rng);
    net->conv_b = layer(ctx, (tg_layer_spec){.kind = TG_LAYER_CONV2D, .name = "block.conv_b", .in = 8, .out = 8,
                                             .kernel = 3, .padding = 1, .init = TG_INIT_HE}, rng);
    net->norm_b = layer(ctx, (tg_layer_spec){.kind = TG_LAYER_BATCH_NORM, .name = "block.norm_b", .in = 8}, rng);
    net->pool = layer(ctx, (tg_layer_spec){.kind = TG_LAYER_AVG_POOL2D, .name = "pool", .kernel = 8}, rng);
    net->flatten = layer(ctx, (tg_layer_spec){.kind = TG_LAYER_FLATTEN, .name = "flatten"}, rng);
    net->head = layer(ctx, (tg_layer_spec){.kind = TG_LAYER_DENSE, .name = "head", .in = 8, .out = 2}, rng);
    tg_module *all[] = {net->stem, net->conv_a, net->norm_a, net->conv_b, net->norm_b, net->pool, net->flatten,
                        net->head};
    net->all = (tg_params){0, net->params};
    for (int m = 0; m < 8; m++) {
        if (!all[m])
            return false;
        tg_params p = tg_module_params(all[m]);
        for (int i = 0; i < p.count; i++)
            net->params[net->all.count++] = p.items[i];
    }
    return true;
}

static void net_free(residual_net *net)
{
    tg_module *all[] = {net->stem, net->conv_a, net->norm_a, net->conv_b, net->norm_b, net->pool, net->flatten,
                        net->head};
    for (int m = 0; m < 8; m++)
        tg_module_free(all[m]);
}

static void net_set_training(residual_net *net, bool training)
{
    tg_module_set_training(net->norm_a, training);
    tg_module_set_training(net->norm_b, training);
}

/* x [n, 1, 8, 8] -> logits [n, 2] */
static tg_tensor *net_forward(residual_net *net, tg_tensor *x)
{
    tg_tensor *h = tg_module_forward(net->stem, x);
    tg_tensor *r = tg_relu(tg_module_forward(net->norm_a, tg_module_forward(net->conv_a, h)));
    r = tg_module_forward(net->norm_b, tg_module_forward(net->conv_b, r));
    h = tg_relu(tg_add(h, r)); /* the skip link */
    return tg_module_forward(net->head, tg_module_forward(net->flatten, tg_module_forward(net->pool, h)));
}

/* n noisy images with one bar: label 0 horizontal, 1 vertical. */
static void make_batch(tg_rng *rng, tg_tensor *x, tg_tensor *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        int label = (int)tg_rng_below(rng, 2), at = (int)tg_rng_below(rng, 8);
        tg_tensor_set(y, i, label);
        for (int r = 0; r < 8; r++)
            for (int c = 0; c < 8; c++) {
                bool on = label == 0 ? r == at : c == at;
                tg_tensor_set(x, i * 64 + r * 8 + c, (on ? 1.0 : 0.0) + 0.3 * tg_rng_normal(rng));
            }
    }
}

int main(int argc, char **argv)
{
    int steps = 150;
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--steps"))
            steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed"))
            seed = strtoull(argv[i + 1], NULL, 10);
    }
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(seed);
    residual_net net = {0};
    if (!net_new(&net, ctx, &rng)) {
        fprintf(stderr, "residual_model: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    printf("residual CNN: stem conv 1->8, block (conv, batch norm, relu, conv, batch norm) + skip, avg pool, "
           "dense 8->2; %lld parameters\n", (long long)tg_params_count(net.all));
    tg_optimizer *opt = tg_optim_adamw_new(net.all, 0.01, 0.9, 0.999, 1e-8, 1e-4);
    enum { BATCH = 32 };
    tg_tensor *x = tg_tensor_new(ctx, TG_F32, TG_SHAPE(BATCH, 1, 8, 8));
    tg_tensor *y = tg_tensor_new(ctx, TG_F32, TG_SHAPE(BATCH));
    for (int step = 1; step <= steps; step++) {
        make_batch(&rng, x, y, BATCH);
        tg_tensor *loss = tg_loss_softmax_ce(net_forward(&net, x), y);
        tg_optim_zero_grad(opt);
        if (!loss || tg_backward(loss) != TG_OK) {
            fprintf(stderr, "residual_model: %s\n", tg_ctx_error(ctx));
            return 1;
        }
        tg_optim_step(opt);
        if (step % 25 == 0)
            printf("step %3d  loss %.4f\n", step, tg_tensor_item(loss));
        tg_tape_reset(ctx);
    }
    /* held-out accuracy in eval mode (batch norm uses its running statistics) */
    net_set_training(&net, false);
    tg_grad_set_enabled(ctx, false);
    int correct = 0, total = 0;
    for (int round = 0; round < 8; round++) {
        make_batch(&rng, x, y, BATCH);
        tg_tensor *logits = net_forward(&net, x);
        for (int i = 0; logits && i < BATCH; i++, total++)
            correct += (tg_tensor_get(logits, 2 * i + 1) > tg_tensor_get(logits, 2 * i)) == (tg_tensor_get(y, i) > 0.5);
        tg_tape_reset(ctx);
    }
    printf("held-out accuracy %.1f%% (%d of %d)\n", 100.0 * correct / total, correct, total);
    tg_optim_free(opt);
    net_free(&net);
    tg_ctx_free(ctx);
    return correct > 0.9 * total ? 0 : 1;
}
