/* docs/tutorial.md, "Your own layer": a layer kind defined outside the
 * library (tapegrad/model.h, tg_layer_kind_register) used like a built-in:
 * in a sequential model, trained by tg_train on two threads (the workers'
 * clones rebuild it from its spec), saved to a self-describing checkpoint and
 * loaded back from the file alone. A user op is the activation layer
 * between. The lines between the tutorial markers are the page's code block,
 * word for word (tests/tutorial_examples.sh checks it, and that the output
 * is the page's). */
#include <math.h>
#include <stdio.h>
#include <tapegrad.h>

/* A user op for the activation layer: softsign y = x/(1 + |x|), dy/dx = 1/(1 + |x|)². */
static tg_status softsign_forward(const tg_op_call *call)
{
    for (int64_t i = 0; i < tg_tensor_size(call->output); i++) {
        double x = tg_tensor_get(call->inputs[0], i);
        tg_tensor_set(call->output, i, x / (1 + fabs(x)));
    }
    return TG_OK;
}

static tg_status softsign_backward(const tg_op_call *call, tg_tensor *dy, tg_tensor **dx)
{
    tg_tensor *d = tg_add_scalar(tg_abs(call->inputs[0]), 1);
    dx[0] = tg_div(dy, tg_mul(d, d));
    return TG_OK;
}

static const tg_op_def softsign = {.name = "softsign", .n_inputs = 1, .forward = softsign_forward,
                                   .backward = softsign_backward};

/* 512 points in 4 dimensions; class 1 when x0 + x1 > x2 + x3. */
static tg_dataset *points(tg_ctx *ctx, uint64_t seed)
{
    static double x[512 * 4], y[512];
    tg_rng rng = tg_rng_seed(seed);
    for (int i = 0; i < 512; i++) {
        for (int k = 0; k < 4; k++)
            x[i * 4 + k] = tg_rng_normal(&rng);
        y[i] = x[i * 4] + x[i * 4 + 1] > x[i * 4 + 2] + x[i * 4 + 3];
    }
    return tg_dataset_from_values(ctx, 512, 4, x, 1, y, 2);
}

/* tutorial: begin */
/* A residual layer: y = x + f(x·Wᵀ + b), W [in, in], b [in]. */
static tg_status residual_make(tg_module *m, tg_rng *rng)   /* its tensors */
{
    const tg_layer_spec *s = tg_module_spec(m);
    tg_tensor *w = tg_module_add_tensor(m, "weight", true, TG_SHAPE(s->in, s->in));
    if (!w || !tg_module_add_tensor(m, "bias", true, TG_SHAPE(s->in)))
        return TG_ERR_NOMEM;
    return tg_init_fill_fans(w, s->init, (double)s->in, (double)s->in, 1, rng);
}

static tg_status residual_shape(const tg_module *m, int rank, const int64_t *shape,
                                int *out_rank, int64_t out_shape[TG_MAX_RANK])
{
    (void)out_rank, (void)out_shape;                         /* out: the input's shape */
    if (rank != 2 || shape[1] != tg_module_spec(m)->in)
        return tg_module_shape_error(m, rank, shape, "[n, in]");
    return TG_OK;
}

static tg_tensor *residual_forward(tg_module *m, tg_tensor *x)   /* ops only */
{
    tg_params p = tg_module_params(m);
    tg_tensor *z = tg_add(tg_matmul_t(x, p.items[0], false, true), p.items[1]);
    return tg_add(x, tg_activate(z, tg_module_spec(m)->act));
}

static void residual_describe(const tg_layer_spec *s, char *buf, size_t size)
{
    snprintf(buf, size, "%lld + %s", (long long)s->in, tg_activation_name(s->act));
}

static const tg_layer_kind_def residual = {
    .name = "residual",
    .fields = TG_LAYER_USES_IN | TG_LAYER_USES_ACT | TG_LAYER_USES_INIT,
    .make = residual_make,
    .shape = residual_shape,
    .forward = residual_forward,
    .describe = residual_describe,
};

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(2);
    tg_rng rng = tg_rng_seed(4);
    int kind = tg_layer_kind_register(ctx, &residual);     /* once per process */
    tg_op_register(ctx, &softsign);                        /* once per context */
    tg_model *model = tg_model_new(ctx, TG_F64, TG_SHAPE(4), TG_LAYERS(
        {.kind = kind, .in = 4, .act = TG_ACT_TANH},
        {.kind = TG_LAYER_ACTIVATION, .op = "softsign"},
        {.kind = TG_LAYER_DENSE, .in = 4, .out = 2}), &rng);
    tg_model_print(model, stdout);

    tg_dataset *train = points(ctx, 1), *test = points(ctx, 2);
    tg_optimizer *adam = tg_optim_adam_new(tg_model_params(model), 0.05, 0.9, 0.999, 1e-8);
    tg_train_config cfg = tg_train_defaults();
    tg_train_use_model(&cfg, model);
    cfg.loss = tg_loss_softmax_ce;
    cfg.optimizer = adam;
    cfg.dtype = TG_F64;
    cfg.epochs = 10;
    cfg.threads = 2;                                       /* data-parallel: two clones */
    cfg.progress = 0;
    tg_train(ctx, train, &cfg, NULL);
    tg_evaluation e;
    tg_evaluate(ctx, &cfg, test, &e);
    printf("test accuracy above 90%%: %s\n", e.accuracy > 0.9 ? "yes" : "no");

    tg_model_save(model, "residual.tgckpt", NULL, cfg.epochs);
    tg_model *back = tg_model_load(ctx, "residual.tgckpt", NULL);   /* from the file alone */
    char diff[256];
    printf("reloaded: %s\n", back && !tg_model_spec_diff(model, back, diff, sizeof diff)
                                 ? "the same architecture" : tg_ctx_error(ctx));
    tg_evaluation_free(&e);
    tg_optim_free(adam);
    tg_dataset_free(test);
    tg_dataset_free(train);
    tg_ctx_free(ctx);                                      /* frees both models too */
}
/* tutorial: end */
