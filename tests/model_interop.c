/* The tapegrad side of the model round trip with PyTorch (tests/model_torch.py)
 * and of the exported C's accuracy on Fashion-MNIST:
 *
 *   model_interop logits KIND WEIGHTS INPUT OUT
 *       builds model KIND (lenet, mlp, lstm, gru), loads WEIGHTS (a safetensors
 *       file under PyTorch's names) and writes its eval-mode output on the
 *       entry "x" of INPUT to OUT as the entry "logits"
 *   model_interop save KIND WEIGHTS INPUT OUT
 *       the same with the model's own random weights (seed 2), which it
 *       saves to WEIGHTS first
 *   model_interop train DATA_DIR WEIGHTS
 *       trains LeNet-5 on Fashion-MNIST (DATA_DIR) for one epoch, saves it to
 *       WEIGHTS and prints "test_correct N of M" (tg_evaluate on the test set)
 *   model_interop export WEIGHTS DATA_DIR DIR
 *       loads LeNet-5 from WEIGHTS, exports it as DIR/lenet_f32.[ch] and
 *       DIR/lenet_int8.[ch], and writes the test set as DIR/test_x.f32 (floats)
 *       and DIR/test_y.u8 (labels) for a driver compiled with them
 *
 * Exit status 0, or 1 with the library's error on stderr. */
#include <stdio.h>
#include <string.h>

#include "tapegrad.h"

static int fail(tg_ctx *ctx, const char *what)
{
    fprintf(stderr, "model_interop: %s: %s\n", what, tg_ctx_error(ctx));
    tg_ctx_free(ctx);
    return 1;
}

/* The models PyTorch builds the same way in tests/model_torch.py. */
static tg_model *build(tg_ctx *ctx, const char *kind, uint64_t seed)
{
    tg_rng rng = tg_rng_seed(seed);
    if (!strcmp(kind, "lenet"))
        return tg_model_new(ctx, TG_F32, TG_SHAPE(1, 28, 28), TG_LAYERS(
            {.kind = TG_LAYER_CONV2D, .in = 1, .out = 6, .kernel = 5, .padding = 2, .act = TG_ACT_RELU,
             .init = TG_INIT_HE},
            {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
            {.kind = TG_LAYER_CONV2D, .in = 6, .out = 16, .kernel = 5, .act = TG_ACT_RELU, .init = TG_INIT_HE},
            {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
            {.kind = TG_LAYER_FLATTEN},
            {.kind = TG_LAYER_DENSE, .in = 400, .out = 120, .act = TG_ACT_RELU, .init = TG_INIT_HE},
            {.kind = TG_LAYER_DENSE, .in = 120, .out = 84, .act = TG_ACT_RELU, .init = TG_INIT_HE},
            {.kind = TG_LAYER_DENSE, .in = 84, .out = 10}), &rng);
    if (!strcmp(kind, "mlp")) /* with batch norm (running statistics) and dropout (off in eval mode) */
        return tg_model_new(ctx, TG_F32, TG_SHAPE(20), TG_LAYERS(
            {.kind = TG_LAYER_DENSE, .in = 20, .out = 32, .act = TG_ACT_RELU},
            {.kind = TG_LAYER_BATCH_NORM, .in = 32},
            {.kind = TG_LAYER_DROPOUT, .rate = 0.2},
            {.kind = TG_LAYER_DENSE, .in = 32, .out = 16, .act = TG_ACT_TANH},
            {.kind = TG_LAYER_LAYER_NORM, .in = 16},
            {.kind = TG_LAYER_DENSE, .in = 16, .out = 5}), &rng);
    if (!strcmp(kind, "lstm")) /* tokens [12] -> a class of 4 */
        return tg_model_new(ctx, TG_F32, TG_SHAPE(12), TG_LAYERS(
            {.kind = TG_LAYER_EMBEDDING, .in = 50, .out = 16},
            {.kind = TG_LAYER_LSTM, .in = 16, .out = 32, .last_state = true},
            {.kind = TG_LAYER_DENSE, .in = 32, .out = 4}), &rng);
    if (!strcmp(kind, "gru")) /* a sequence [6, 5] -> 3 values; named layers keep their names */
        return tg_model_new(ctx, TG_F32, TG_SHAPE(6, 5), TG_LAYERS(
            {.kind = TG_LAYER_GRU, .name = "encoder", .in = 5, .out = 8},
            {.kind = TG_LAYER_RNN, .name = "summary", .in = 8, .out = 8, .last_state = true},
            {.kind = TG_LAYER_DENSE, .name = "head", .in = 8, .out = 3}), &rng);
    tg_ctx_fail(ctx, TG_ERR_ARG, "model_interop: no model kind \"%s\" (lenet, mlp, lstm, gru)", kind);
    return NULL;
}

/* The model's eval-mode output on INPUT's "x", written to OUT as "logits". */
static int run(tg_ctx *ctx, tg_model *model, const char *input, const char *out)
{
    tg_safetensors *st = tg_safetensors_open(ctx, input);
    tg_tensor *x = st ? tg_safetensors_read(st, "x", TG_F32) : NULL;
    tg_safetensors_close(st);
    if (!x)
        return fail(ctx, input);
    tg_model_set_training(model, false);
    tg_tensor *y = tg_model_forward(model, x);
    tg_tensor *logits = y ? tg_tensor_clone(y) : NULL;
    tg_named_tensor items[] = {{"logits", logits}};
    if (!logits || tg_safetensors_save(ctx, out, 1, items, 0, NULL) != TG_OK)
        return fail(ctx, out);
    tg_ctx_free(ctx);
    return 0;
}

static int train(tg_ctx *ctx, const char *data_dir, const char *weights)
{
    tg_dataset *train_set = tg_dataset_load_mnist(ctx, data_dir, "train");
    tg_dataset *test_set = train_set ? tg_dataset_load_mnist(ctx, data_dir, "t10k") : NULL;
    tg_model *model = test_set ? build(ctx, "lenet", 1) : NULL;
    tg_optimizer *adam = model ? tg_optim_adam_new(tg_model_params(model), 2e-3, 0.9, 0.999, 1e-8) : NULL;
    if (!adam)
        return fail(ctx, data_dir);
    tg_train_config cfg = tg_train_defaults();
    tg_train_use_model(&cfg, model);
    cfg.loss = tg_loss_softmax_ce;
    cfg.optimizer = adam;
    cfg.epochs = 1;
    cfg.batch_size = 64;
    cfg.seed = 1;
    cfg.threads = tg_ctx_threads(ctx);
    cfg.progress = 0;
    tg_evaluation eval;
    if (tg_train(ctx, train_set, &cfg, NULL) != TG_OK || tg_model_save_safetensors(model, weights) != TG_OK)
        return fail(ctx, "training");
    tg_model_set_training(model, false);
    if (tg_evaluate(ctx, &cfg, test_set, &eval) != TG_OK)
        return fail(ctx, "evaluation");
    printf("test_correct %lld of %lld\n", (long long)(eval.accuracy * (double)test_set->count + 0.5),
           (long long)test_set->count);
    tg_evaluation_free(&eval);
    tg_optim_free(adam);
    tg_dataset_free(train_set);
    tg_dataset_free(test_set);
    tg_ctx_free(ctx);
    return 0;
}

static int export(tg_ctx *ctx, const char *weights, const char *data_dir, const char *dir)
{
    tg_model *model = build(ctx, "lenet", 1);
    tg_dataset *test_set = model ? tg_dataset_load_mnist(ctx, data_dir, "t10k") : NULL;
    if (!test_set || tg_model_load_safetensors(model, weights, NULL, NULL) != TG_OK)
        return fail(ctx, weights);
    tg_model_set_training(model, false);
    if (tg_model_export_c(model, "lenet_f32", dir) != TG_OK || tg_model_export_c_int8(model, "lenet_int8", dir) != TG_OK)
        return fail(ctx, dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/test_x.f32", dir);
    FILE *images = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/test_y.u8", dir);
    FILE *labels = fopen(path, "wb");
    int64_t pixels = test_set->features;
    for (int64_t i = 0; images && labels && i < test_set->count; i++) {
        for (int64_t k = 0; k < pixels; k++) {
            float v = (float)(test_set->bytes[i * pixels + k] * test_set->byte_scale + test_set->byte_shift);
            fwrite(&v, sizeof v, 1, images);
        }
        fputc((int)test_set->targets[i], labels);
    }
    int status = images && labels ? 0 : 1;
    if (images && fclose(images) != 0)
        status = 1;
    if (labels && fclose(labels) != 0)
        status = 1;
    if (status)
        fprintf(stderr, "model_interop: cannot write the test set to %s\n", dir);
    tg_dataset_free(test_set);
    tg_ctx_free(ctx);
    return status;
}

int main(int argc, char **argv)
{
    tg_ctx *ctx = tg_ctx_new(0);
    if (!ctx)
        return 1;
    tg_ctx_set_error_handler(ctx, NULL, NULL); /* printed once, by fail */
    if (argc == 6 && (!strcmp(argv[1], "logits") || !strcmp(argv[1], "save"))) {
        tg_model *model = build(ctx, argv[2], 2);
        if (!model)
            return fail(ctx, argv[2]);
        tg_status status = !strcmp(argv[1], "save") ? tg_model_save_safetensors(model, argv[3])
                                                    : tg_model_load_safetensors(model, argv[3], NULL, NULL);
        return status == TG_OK ? run(ctx, model, argv[4], argv[5]) : fail(ctx, argv[3]);
    }
    if (argc == 4 && !strcmp(argv[1], "train"))
        return train(ctx, argv[2], argv[3]);
    if (argc == 5 && !strcmp(argv[1], "export"))
        return export(ctx, argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: %s logits|save KIND WEIGHTS INPUT OUT | train DATA_DIR WEIGHTS | export WEIGHTS DATA_DIR "
                    "DIR\n", argv[0]);
    tg_ctx_free(ctx);
    return 2;
}
