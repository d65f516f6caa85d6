/* Sequential models (tapegrad/model.h): LeNet-5 from specs has named
 * parameters and checked shapes; buffers are not parameters; train/eval mode
 * reaches every layer; the summary, clones and spec text round trips; a model
 * saved by one process is rebuilt by another from the file alone; a
 * checkpoint of another architecture is refused naming the first difference
 * with the model untouched; a version-1 checkpoint still loads; the inspector
 * API reports tensors and CRC damage; the per-layer diagram has one cluster per
 * layer; LeNet-5 learns Fashion-MNIST on a subset and an LSTM beats the
 * unigram baseline on a small text. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tapegrad.h"
#include "tests/support.h"

static tg_ctx *ctx;
static char dir[64];

static void setup(void) { cr_assert_not_null(ctx = scratch_fixture_setup(dir, sizeof dir, "tg_model_")); }
static void teardown(void) { cr_expect_eq(scratch_fixture_teardown(ctx, dir), 0); }

TestSuite(nn_model, .init = setup, .fini = teardown);

static tg_model *lenet(tg_ctx *c, int64_t conv2_out, uint64_t seed)
{
    tg_rng rng = tg_rng_seed(seed);
    return tg_model_new(c, TG_F32, TG_SHAPE(1, 28, 28), TG_LAYERS(
        {.kind = TG_LAYER_CONV2D, .in = 1, .out = 6, .kernel = 5, .padding = 2, .act = TG_ACT_RELU, .init = TG_INIT_HE},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = TG_LAYER_CONV2D, .in = 6, .out = conv2_out, .kernel = 5, .act = TG_ACT_RELU, .init = TG_INIT_HE},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = TG_LAYER_FLATTEN},
        {.kind = TG_LAYER_DENSE, .in = conv2_out * 25, .out = 120, .act = TG_ACT_RELU, .init = TG_INIT_HE},
        {.kind = TG_LAYER_DENSE, .in = 120, .out = 84, .act = TG_ACT_RELU, .init = TG_INIT_HE},
        {.kind = TG_LAYER_DENSE, .in = 84, .out = 10}), &rng);
}

static tg_tensor *images(tg_ctx *c, int64_t n, uint64_t seed)
{
    tg_rng rng = tg_rng_seed(seed);
    return tg_tensor_rand(c, &rng, TG_F32, TG_SHAPE(n, 784), 0, 1);
}

/* A layer with a ReLU last and the max-pool layer after it run as one
 * tg_relu_max_pool2d: the model's loss and gradients are the bits of its
 * layers run one by one, in less step memory (no ReLU tensor) — for conv
 * layers with act = relu and for an activation layer before the pool. */
Test(nn_model, relu_before_max_pool_runs_fused_with_the_same_bits_in_less_memory)
{
    tg_rng rng = tg_rng_seed(9);
    tg_model *models[2] = {lenet(ctx, 16, 2), tg_model_new(ctx, TG_F32, TG_SHAPE(1, 28, 28), TG_LAYERS(
        {.kind = TG_LAYER_CONV2D, .in = 1, .out = 4, .kernel = 3, .init = TG_INIT_HE},
        {.kind = TG_LAYER_ACTIVATION, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 3, .stride = 2, .padding = 1},
        {.kind = TG_LAYER_FLATTEN},
        {.kind = TG_LAYER_DENSE, .in = 4 * 13 * 13, .out = 10}), &rng)};
    tg_tensor *x = images(ctx, 8, 3), *labels = tg_tensor_new(ctx, TG_F32, TG_SHAPE(8));
    for (int i = 0; i < 8; i++)
        tg_tensor_set(labels, i, i % 10);
    for (int mi = 0; mi < 2; mi++) {
        tg_model *m = models[mi];
        cr_assert_not_null(m, "%s", tg_ctx_error(ctx));
        tg_params p = tg_model_params(m);
        tg_tensor *loss[2], *grads[2][16];
        int64_t forward_bytes[2];
        for (int fused = 1; fused >= 0; fused--) {
            int64_t before = tg_ctx_step_bytes(ctx);
            tg_tensor *h = tg_reshape(x, TG_SHAPE(8, 1, 28, 28));
            if (fused)
                h = tg_model_forward(m, h);
            else
                for (int l = 0; l < tg_model_depth(m) && h; l++)
                    h = tg_module_forward(tg_model_module(m, l), h);
            forward_bytes[fused] = tg_ctx_step_bytes(ctx) - before;
            loss[fused] = tg_cross_entropy(h, labels);
            cr_assert_not_null(loss[fused], "%s", tg_ctx_error(ctx));
            cr_assert_eq(tg_grad(loss[fused], NULL, p.count, p.items, grads[fused], false), TG_OK, "%s",
                         tg_ctx_error(ctx));
        }
        cr_expect_eq(tg_tensor_get(loss[1], 0), tg_tensor_get(loss[0], 0), "model %d: the losses differ", mi);
        for (int i = 0; i < p.count; i++)
            cr_expect(!memcmp(tg_tensor_data(grads[1][i]), tg_tensor_data(grads[0][i]),
                              (size_t)tg_tensor_size(grads[0][i]) * sizeof(float)),
                      "model %d: the gradient of %s differs", mi, tg_tensor_name(p.items[i]));
        int64_t relu_bytes = 8 * 4 * 26 * 26 * 4; /* the smaller model's ReLU tensor */
        cr_expect(forward_bytes[1] + relu_bytes <= forward_bytes[0],
                  "model %d: the forward took %lld bytes fused, %lld layer by layer; expected a ReLU tensor less",
                  mi, (long long)forward_bytes[1], (long long)forward_bytes[0]);
        tg_tape_reset(ctx);
        tg_model_free(m);
    }
}

Test(nn_model, lenet_has_named_parameters_and_maps_flat_images_to_logits)
{
    tg_model *m = lenet(ctx, 16, 1);
    cr_assert_not_null(m, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_model_param_count(m), 61706);
    cr_expect_eq(tg_model_depth(m), 8);
    tg_params p = tg_model_params(m);
    cr_assert_eq(p.count, 10);
    const char *names[] = {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "dense1.weight",
                           "dense1.bias", "dense2.weight", "dense2.bias", "dense3.weight", "dense3.bias"};
    for (int i = 0; i < 10; i++) {
        cr_expect_str_eq(tg_tensor_name(p.items[i]), names[i]);
        cr_expect(tg_tensor_requires_grad(p.items[i]));
    }
    cr_expect_eq(tg_model_buffers(m).count, 0);
    cr_expect_not_null(tg_model_find(m, "maxpool2"));
    tg_tensor *y = tg_model_forward(m, images(ctx, 3, 2));
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_rank(y), 2);
    cr_expect_eq(tg_tensor_dim(y, 0), 3);
    cr_expect_eq(tg_tensor_dim(y, 1), 10);
    cr_assert_eq(tg_backward(tg_loss_softmax_ce(y, tg_tensor_from(ctx, TG_F32, TG_SHAPE(3), (double[]){1, 2, 3}))),
                 TG_OK, "%s", tg_ctx_error(ctx));
    for (int i = 0; i < 10; i++)
        cr_expect_not_null(tg_tensor_grad(p.items[i]), "%s has a gradient", names[i]);
    tg_model_free(m);
}

Test(nn_model, shapes_that_do_not_chain_are_refused_at_construction_naming_the_layer)
{
    tg_rng rng = tg_rng_seed(1);
    tg_model *m = tg_model_new(ctx, TG_F32, TG_SHAPE(1, 28, 28), TG_LAYERS(
        {.kind = TG_LAYER_CONV2D, .in = 1, .out = 4, .kernel = 5},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = TG_LAYER_FLATTEN},
        {.kind = TG_LAYER_DENSE, .in = 300, .out = 10}), &rng);
    cr_expect_null(m);
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    cr_expect(strstr(tg_ctx_error(ctx), "dense layer dense1") && strstr(tg_ctx_error(ctx), "[1, 576]") &&
                  strstr(tg_ctx_error(ctx), "[..., 300]"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    m = tg_model_new(ctx, TG_F32, 0, NULL, TG_LAYERS({.kind = TG_LAYER_FLATTEN, .name = "a"},
                                                    {.kind = TG_LAYER_FLATTEN, .name = "a"}), &rng);
    cr_expect_null(m);
    cr_expect(strstr(tg_ctx_error(ctx), "both named \"a\""), "%s", tg_ctx_error(ctx));
    cr_expect_null(tg_model_new(ctx, TG_F32, 0, NULL, 0, NULL, &rng));
    cr_expect_null(tg_model_forward(NULL, NULL));
    tg_model_free(NULL);
}

static tg_model *small_net(tg_ctx *c, double rate)
{
    tg_rng rng = tg_rng_seed(5);
    return tg_model_new(c, TG_F64, TG_SHAPE(2, 3, 3), TG_LAYERS(
        {.kind = TG_LAYER_CONV2D, .in = 2, .out = 3, .kernel = 3, .padding = 1},
        {.kind = TG_LAYER_BATCH_NORM, .in = 3},
        {.kind = TG_LAYER_ACTIVATION, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_AVG_POOL2D, .kernel = 3},
        {.kind = TG_LAYER_FLATTEN},
        {.kind = TG_LAYER_DROPOUT, .rate = rate, .seed = 3},
        {.kind = TG_LAYER_DENSE, .in = 3, .out = 2}), &rng);
}

/* 64 samples of small_net's input (2×3×3, flat), two classes told apart by
 * the sign of the first channel's shift. */
static tg_dataset *two_class_images(tg_ctx *c, uint64_t seed)
{
    enum { N = 64 };
    double x[N * 18], y[N];
    tg_rng rng = tg_rng_seed(seed);
    for (int i = 0; i < N; i++) {
        y[i] = (double)(i % 2);
        for (int k = 0; k < 18; k++)
            x[i * 18 + k] = tg_rng_normal(&rng) + (k < 9 ? y[i] : -y[i]);
    }
    return tg_dataset_from_values(c, N, 18, x, 1, y, 2);
}

static tg_train_config small_net_config(tg_model *m, tg_optimizer *opt)
{
    tg_train_config cfg = tg_train_defaults();
    tg_train_use_model(&cfg, m);
    cfg.loss = tg_loss_softmax_ce;
    cfg.optimizer = opt;
    cfg.batch_size = 16;
    cfg.dtype = TG_F64;
    cfg.progress = 0;
    return cfg;
}

Test(nn_model, running_stats_are_buffers_and_eval_mode_reaches_every_layer)
{
    tg_model *m = small_net(ctx, 0.5);
    cr_assert_not_null(m, "%s", tg_ctx_error(ctx));
    tg_params p = tg_model_params(m), b = tg_model_buffers(m), all = tg_model_tensors(m);
    cr_expect_eq(p.count, 6);
    cr_expect_eq(b.count, 2);
    cr_expect_eq(all.count, 8);
    cr_expect_str_eq(tg_tensor_name(b.items[0]), "batchnorm1.running_mean");
    cr_expect_str_eq(tg_tensor_name(b.items[1]), "batchnorm1.running_var");
    for (int i = 0; i < p.count; i++)
        cr_expect_neq(p.items[i], b.items[0]);
    cr_expect(tg_model_training(m));
    tg_rng rng = tg_rng_seed(2);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(4, 18), 0, 1);
    cr_assert_not_null(tg_model_forward(m, x), "%s", tg_ctx_error(ctx));
    double mean_after_train = tg_tensor_get(b.items[0], 0);
    cr_expect_neq(mean_after_train, 0, "training updates the running mean");
    tg_model_set_training(m, false);
    cr_expect_not(tg_model_training(m));
    tg_tensor *y1 = tg_model_forward(m, x), *y2 = tg_model_forward(m, x);
    cr_assert_not_null(y2);
    for (int i = 0; i < 8; i++)
        cr_expect_eq(tg_tensor_get(y1, i), tg_tensor_get(y2, i), "eval mode is deterministic (no dropout)");
    cr_expect_eq(tg_tensor_get(b.items[0], 0), mean_after_train, "eval mode leaves the running mean alone");
    tg_model_free(m);
}

Test(nn_model, summary_lists_every_layer_and_the_total)
{
    tg_model *m = lenet(ctx, 16, 1);
    FILE *f = tmpfile();
    tg_model_print(m, f);
    char *text = slurp(f);
    cr_assert_not_null(text);
    const char *want[] = {"conv1", "conv2d", "1->6, 5x5, stride 1, pad 2, relu", "[6, 28, 28]", "maxpool2",
                          "[16, 5, 5]", "flatten1", "[400]", "dense3", "[10, 84] [10]", "total parameters: 61,706"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_expect(strstr(text, want[i]), "\"%s\" not in:\n%s", want[i], text);
    free(text);
    tg_model_free(m);
}

Test(nn_model, a_clone_in_another_context_computes_the_same_outputs)
{
    tg_model *m = small_net(ctx, 0);
    tg_model_set_training(m, false);
    tg_ctx *other = tg_ctx_new(1);
    tg_model *copy = tg_model_clone_fn(m, other);
    cr_assert_not_null(copy);
    cr_expect_eq(tg_model_params_fn(copy).count, 6);
    cr_expect_eq(tg_model_buffers_fn(copy).count, 2);
    cr_expect_eq(tg_tensor_ctx(tg_model_params(copy).items[0]), other);
    cr_expect_not(tg_model_training(copy));
    tg_rng rng = tg_rng_seed(2);
    double xv[36];
    for (int i = 0; i < 36; i++)
        xv[i] = tg_rng_normal(&rng);
    tg_tensor *y = tg_model_forward_fn(m, tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 18), xv));
    tg_tensor *z = tg_model_forward(copy, tg_tensor_from(other, TG_F64, TG_SHAPE(2, 18), xv));
    cr_assert(y && z);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(tg_tensor_get(y, i), tg_tensor_get(z, i));
    char diff[200];
    cr_expect_not(tg_model_spec_diff(m, copy, diff, sizeof diff), "%s", diff);
    tg_model_free_fn(copy);
    tg_ctx_free(other);
    tg_model_free(m);
}

Test(nn_model, spec_text_round_trips_and_bad_text_names_the_line)
{
    tg_model *m = small_net(ctx, 0.25);
    char *text = tg_model_spec_text(m);
    cr_assert_not_null(text);
    cr_expect(strstr(text, "layer dropout name=dropout1"), "%s", text);
    tg_model *again = tg_model_from_spec_text(ctx, text, NULL);
    cr_assert_not_null(again, "%s", tg_ctx_error(ctx));
    char diff[200];
    cr_expect_not(tg_model_spec_diff(m, again, diff, sizeof diff), "%s", diff);
    cr_expect_null(tg_model_from_spec_text(ctx, "tapegrad-model 1\ndtype f32\nlayer dense in=3 out=x\n", NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "line 3"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_model_from_spec_text(ctx, "tapegrad-model 1\ndtype f32\nlayer teleport\n", NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "unknown layer kind \"teleport\""), "%s", tg_ctx_error(ctx));
    free(text);
    tg_model_free(again);
    tg_model_free(m);
}

/* The child process builds and saves a model and writes its outputs for a
 * fixed input; this process rebuilds the model from the file alone. */
Test(nn_model, a_model_saved_by_one_process_is_rebuilt_by_another_from_the_file)
{
    char path[128], out_path[128];
    snprintf(path, sizeof path, "%s/net.ckpt", dir);
    snprintf(out_path, sizeof out_path, "%s/outputs.bin", dir);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        tg_ctx *c = tg_ctx_new(1);
        tg_model *m = lenet(c, 16, 42);
        tg_model_set_training(m, false);
        tg_tensor *y = tg_model_forward(m, images(c, 2, 7));
        FILE *f = fopen(out_path, "wb");
        bool ok = y && f && fwrite(tg_tensor_data(y), sizeof(float), 20, f) == 20;
        ok = f && fclose(f) == 0 && ok;
        ok = ok && tg_model_save(m, path, NULL, 3) == TG_OK;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child could not save");
    int64_t epoch = 0;
    tg_model *m = tg_model_load(ctx, path, &epoch);
    cr_assert_not_null(m, "%s", tg_ctx_error(ctx));
    cr_expect_eq(epoch, 3);
    cr_expect_eq(tg_model_param_count(m), 61706);
    tg_model_set_training(m, false);
    tg_tensor *y = tg_model_forward(m, images(ctx, 2, 7));
    float want[20];
    FILE *f = fopen(out_path, "rb");
    cr_assert(f && fread(want, sizeof(float), 20, f) == 20);
    fclose(f);
    cr_assert_not_null(y);
    for (int i = 0; i < 20; i++)
        cr_expect_eq(((float *)tg_tensor_data(y))[i], want[i], "output %d", i);
    tg_model_free(m);
}

Test(nn_model, a_checkpoint_of_another_architecture_is_refused_naming_the_first_difference)
{
    char path[128];
    snprintf(path, sizeof path, "%s/lenet.ckpt", dir);
    tg_model *saved = lenet(ctx, 16, 1), *wider = lenet(ctx, 32, 2);
    cr_assert(saved && wider);
    cr_assert_eq(tg_model_save(saved, path, NULL, 1), TG_OK, "%s", tg_ctx_error(ctx));
    float before = ((float *)tg_tensor_data(tg_model_params(wider).items[0]))[0];
    cr_expect_eq(tg_model_load_into(wider, path, NULL, NULL), TG_ERR_FORMAT);
    cr_expect(strstr(tg_ctx_error(ctx), "another architecture") &&
                  strstr(tg_ctx_error(ctx), "layer 3 (conv2): out is 16 in the file; out is 32 in the model"),
              "%s", tg_ctx_error(ctx));
    cr_expect_eq(((float *)tg_tensor_data(tg_model_params(wider).items[0]))[0], before, "the model is untouched");
    tg_ctx_clear_error(ctx);
    /* the same architecture loads, with its optimizer state */
    tg_model *same = lenet(ctx, 16, 9);
    cr_expect_eq(tg_model_load_into(same, path, NULL, NULL), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_get(tg_model_params(same).items[0], 0), tg_tensor_get(tg_model_params(saved).items[0], 0));
    tg_model_free(same);
    tg_model_free(saved);
    tg_model_free(wider);
}

static const char *golden_path(const char *name, char *buf, size_t size)
{
    const char *file = __FILE__, *slash = strrchr(file, '/');
    if (slash)
        snprintf(buf, size, "%.*s/golden/%s", (int)(slash - file), file, name);
    else
        snprintf(buf, size, "golden/%s", name);
    return buf;
}

/* tests/golden/checkpoint_v1_mlp_2_3_1.tgckpt was written by the version-1
 * writer: an MLP 2-3-1 (tanh) in float64, epoch 7. */
Test(nn_model, a_version_1_checkpoint_still_loads)
{
    char path[512];
    golden_path("checkpoint_v1_mlp_2_3_1.tgckpt", path, sizeof path);
    tg_rng rng = tg_rng_seed(1);
    tg_model *m = tg_model_new(ctx, TG_F64, 0, NULL, TG_LAYERS(
        {.kind = TG_LAYER_DENSE, .name = "layer1", .in = 2, .out = 3, .act = TG_ACT_TANH},
        {.kind = TG_LAYER_DENSE, .name = "layer2", .in = 3, .out = 1}), &rng);
    int64_t epoch = 0;
    cr_assert_eq(tg_model_load_into(m, path, NULL, &epoch), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_eq(epoch, 7);
    tg_params p = tg_model_params(m);
    cr_expect_eq(tg_tensor_get(p.items[0], 0), -0.91171055105473064);
    cr_expect_eq(tg_tensor_get(p.items[1], 2), 0.75);
    cr_expect_eq(tg_tensor_get(p.items[3], 0), -0.5);
    /* the plain loader reads it too, and tg_model_load says what is missing */
    tg_mlp *mlp = tg_mlp_new(ctx, TG_F64, 2, (const int64_t[]){2, 3, 1},
                             (const tg_activation[]){TG_ACT_TANH, TG_ACT_NONE}, TG_INIT_ZEROS, &rng);
    cr_expect_eq(tg_checkpoint_load(ctx, path, tg_mlp_params(mlp), NULL, NULL), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_get(tg_layer_bias(tg_mlp_layer(mlp, 0)), 0), 0.25);
    cr_expect_null(tg_model_load(ctx, path, NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "no model spec"), "%s", tg_ctx_error(ctx));
    tg_mlp_free(mlp);
    tg_model_free(m);
}

/* The message starts with "name: " and holds every fragment. */
static void expect_message(const char *name, const char *fragment, const char *also)
{
    const char *e = tg_ctx_error(ctx);
    cr_expect(strncmp(e, name, strlen(name)) == 0 && e[strlen(name)] == ':', "\"%s\" does not start with %s:", e,
              name);
    cr_expect(strstr(e, fragment) && strstr(e, also), "\"%s\" lacks \"%s\" or \"%s\"", e, fragment, also);
    tg_ctx_clear_error(ctx);
}

/* A user who called tg_model_load (or _into, or _save) reads that name in
 * the error, with the detail of the step that failed inside it: reading the
 * file, parsing its spec, building its layers, loading its tensors. The
 * functions it runs keep their own names when called directly. */
Test(nn_model, errors_name_the_public_function_called)
{
    char missing[128], bad_kind[128], bad_names[128], no_tensors[128], saved[128];
    snprintf(missing, sizeof missing, "%s/missing.tgckpt", dir);
    snprintf(bad_kind, sizeof bad_kind, "%s/bad_kind.tgckpt", dir);
    snprintf(bad_names, sizeof bad_names, "%s/bad_names.tgckpt", dir);
    snprintf(no_tensors, sizeof no_tensors, "%s/no_tensors.tgckpt", dir);
    snprintf(saved, sizeof saved, "%s/saved.tgckpt", dir);
    tg_params none = {0, NULL};
    cr_assert_eq(tg_checkpoint_save_spec(ctx, bad_kind, "tapegrad-model 1\ndtype f32\nlayer teleport\n", none, NULL, 0),
                 TG_OK, "%s", tg_ctx_error(ctx));
    static const char two_named_a[] = "tapegrad-model 1\ndtype f32\nlayer dense name=a in=3 out=2\n"
                                      "layer dense name=a in=2 out=1\n";
    static const char dense_3_2[] = "tapegrad-model 1\ndtype f32\nlayer dense in=3 out=2\n";
    cr_assert_eq(tg_checkpoint_save_spec(ctx, bad_names, two_named_a, none, NULL, 0), TG_OK, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_checkpoint_save_spec(ctx, no_tensors, dense_3_2, none, NULL, 0), TG_OK, "%s", tg_ctx_error(ctx));

    cr_expect_null(tg_model_load(ctx, missing, NULL));
    expect_message("tg_model_load", "cannot open", missing);
    cr_expect_null(tg_model_load(ctx, NULL, NULL));
    expect_message("tg_model_load", "path is NULL", "");
    cr_expect_null(tg_model_load(ctx, bad_kind, NULL));
    expect_message("tg_model_load", "spec line 3", "unknown layer kind \"teleport\"");
    cr_expect_null(tg_model_load(ctx, bad_names, NULL));
    expect_message("tg_model_load", "both named \"a\"", "");
    cr_expect_null(tg_model_load(ctx, no_tensors, NULL));
    expect_message("tg_model_load", no_tensors, "0 parameter tensors in the file");

    tg_model *m = small_net(ctx, 0.1);
    cr_assert_eq(tg_model_save(m, saved, NULL, 1), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_model_load_into(m, missing, NULL, NULL), TG_ERR_IO);
    expect_message("tg_model_load_into", "cannot open", missing);
    cr_expect_neq(tg_model_load_into(m, bad_kind, NULL, NULL), TG_OK);
    expect_message("tg_model_load_into", "spec line 3", "teleport");
    cr_expect_neq(tg_model_save(m, dir, NULL, 1), TG_OK, "a directory is no file");
    expect_message("tg_model_save", dir, "");

    /* called directly, each keeps its own name; the entry ends with the call */
    cr_expect_eq(tg_checkpoint_read_spec(ctx, missing, &(char *){NULL}), TG_ERR_IO);
    expect_message("tg_checkpoint_read_spec", "cannot open", missing);
    cr_expect_eq(tg_checkpoint_load(ctx, missing, tg_model_params(m), NULL, NULL), TG_ERR_IO);
    expect_message("tg_checkpoint_load", "cannot open", missing);
    cr_expect_null(tg_model_from_spec_text(ctx, "tapegrad-model 1\ndtype f32\nlayer teleport\n", NULL));
    expect_message("tg_model_from_spec_text", "spec line 3", "teleport");
    cr_expect_null(tg_model_from_spec_text(ctx, two_named_a, NULL));
    expect_message("tg_model_from_spec_text", "both named \"a\"", "");
    cr_expect_null(tg_reshape(tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(2, 3)), TG_SHAPE(4, 2)));
    cr_expect(strncmp(tg_ctx_error(ctx), "reshape", 7) == 0, "%s", tg_ctx_error(ctx));
    tg_model_free(m);
}

Test(nn_model, inspect_lists_the_spec_and_tensors_and_reports_crc_damage)
{
    char path[128];
    snprintf(path, sizeof path, "%s/net.ckpt", dir);
    tg_model *m = small_net(ctx, 0.1);
    tg_optimizer *opt = tg_optim_adamw_new(tg_model_params(m), 1e-3, 0.9, 0.999, 1e-8, 0.01);
    cr_assert_eq(tg_model_save(m, path, opt, 4), TG_OK, "%s", tg_ctx_error(ctx));
    tg_checkpoint_info info;
    cr_assert_eq(tg_checkpoint_inspect(ctx, path, &info), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_eq(info.version, 2);
    cr_expect_eq(info.epoch, 4);
    cr_expect(info.has_optimizer);
    cr_expect_eq(info.crc_stored, info.crc_computed);
    cr_expect_eq(info.n_params, 8, "parameters and buffers");
    cr_expect_eq(info.n_state, 12);
    cr_expect_str_eq(tg_tensor_name(info.tensors[7]), "batchnorm1.running_var");
    cr_expect_eq(tg_tensor_get(info.tensors[7], 0), 1);
    cr_assert_not_null(info.spec);
    cr_expect(strstr(info.spec, "layer batch_norm name=batchnorm1"), "%s", info.spec);
    tg_checkpoint_info_free(&info);
    /* flip one byte of the last value: the CRC says so, the rest still reads */
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    fseek(f, -5, SEEK_END);
    int byte = fgetc(f);
    fseek(f, -5, SEEK_END);
    fputc(byte ^ 0x40, f);
    fclose(f);
    cr_assert_eq(tg_checkpoint_inspect(ctx, path, &info), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_neq(info.crc_stored, info.crc_computed);
    tg_checkpoint_info_free(&info);
    cr_expect_null(tg_model_load(ctx, path, NULL), "a damaged file does not build a model");
    tg_optim_free(opt);
    tg_model_free(m);
}

Test(nn_model, the_diagram_has_one_cluster_per_layer)
{
    char path[128];
    snprintf(path, sizeof path, "%s/net.dot", dir);
    tg_model *m = lenet(ctx, 16, 1);
    cr_assert_eq(tg_model_dot_save(m, images(ctx, 1, 3), path, NULL), TG_OK, "%s", tg_ctx_error(ctx));
    char *text = read_text_file(path);
    cr_assert_not_null(text);
    const char *layers[] = {"conv1", "maxpool1", "conv2", "maxpool2", "flatten1", "dense1", "dense2", "dense3"};
    for (int i = 0; i < 8; i++)
        cr_expect(strstr(text, layers[i]), "no cluster %s", layers[i]);
    int clusters = 0;
    for (const char *p = text; (p = strstr(p, "subgraph cluster")) != NULL; p++)
        clusters++;
    cr_expect_eq(clusters, 8);
    free(text);
    tg_tape_reset(ctx);
    tg_model_free(m);
}

/* ---- learning ---- */

Test(nn_model, lenet_learns_fashion_mnist_on_a_subset)
{
    tg_dataset *train = tg_dataset_load_mnist(ctx, "/usr/share/datasets/fashion-mnist", "train");
    tg_dataset *test = train ? tg_dataset_load_mnist(ctx, "/usr/share/datasets/fashion-mnist", "t10k") : NULL;
    if (!train || !test) {
        tg_dataset_free(train);
        cr_skip("Fashion-MNIST is not installed (dataset-fashion-mnist)");
    }
    tg_dataset *part = tg_dataset_view(ctx, train, 0, 5000), *test_part = tg_dataset_view(ctx, test, 0, 1000);
    tg_model *m = lenet(ctx, 16, 1);
    tg_optimizer *opt = tg_optim_adam_new(tg_model_params(m), 2e-3, 0.9, 0.999, 1e-8);
    tg_train_config cfg = tg_train_defaults();
    cfg.forward = tg_model_forward_fn;
    cfg.model = m;
    cfg.loss = tg_loss_softmax_ce;
    cfg.optimizer = opt;
    cfg.epochs = 1;
    cfg.progress = 0;
    cfg.test = test_part;
    tg_history h = {0};
    cr_assert_eq(tg_train(ctx, part, &cfg, &h), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_gt(h.test_acc[0], 0.70, "test accuracy %.3f after one epoch on 5000 images", h.test_acc[0]);
    tg_history_free(&h);
    tg_optim_free(opt);
    tg_model_free(m);
    tg_dataset_free(part);
    tg_dataset_free(test_part);
    tg_dataset_free(test);
    tg_dataset_free(train);
}

Test(nn_model, an_lstm_beats_the_unigram_baseline_on_a_small_text)
{
    const char *text = "the cat sat on the mat. the dog sat on the log. ";
    int64_t len = (int64_t)strlen(text), vocab = 0;
    int index_of[256];
    double count[256] = {0};
    for (int i = 0; i < 256; i++)
        index_of[i] = -1;
    for (int64_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (index_of[ch] < 0)
            index_of[ch] = (int)vocab++;
        count[index_of[ch]]++;
    }
    double baseline = 0; /* unigram entropy: the loss of predicting letter frequencies */
    for (int v = 0; v < vocab; v++)
        baseline -= count[v] / (double)len * log(count[v] / (double)len);
    tg_rng rng = tg_rng_seed(3);
    tg_model *m = tg_model_new(ctx, TG_F32, 0, NULL, TG_LAYERS(
        {.kind = TG_LAYER_EMBEDDING, .in = vocab, .out = 8, .init = TG_INIT_NORMAL},
        {.kind = TG_LAYER_LSTM, .in = 8, .out = 32},
        {.kind = TG_LAYER_DENSE, .in = 32, .out = vocab}), &rng);
    cr_assert_not_null(m, "%s", tg_ctx_error(ctx));
    tg_optimizer *opt = tg_optim_adam_new(tg_model_params(m), 0.02, 0.9, 0.999, 1e-8);
    enum { T = 12, B = 8 };
    tg_tensor *x = tg_tensor_new(ctx, TG_F32, TG_SHAPE(T, B)), *y = tg_tensor_new(ctx, TG_F32, TG_SHAPE(T * B));
    double last = INFINITY;
    for (int step = 0; step < 150; step++) {
        for (int b = 0; b < B; b++) {
            int64_t start = (int64_t)tg_rng_below(&rng, (uint64_t)len);
            for (int t = 0; t < T; t++) {
                tg_tensor_set(x, t * B + b, index_of[(unsigned char)text[(start + t) % len]]);
                tg_tensor_set(y, t * B + b, index_of[(unsigned char)text[(start + t + 1) % len]]);
            }
        }
        tg_tensor *logits = tg_reshape(tg_model_forward(m, x), TG_SHAPE(T * B, vocab));
        tg_tensor *loss = tg_cross_entropy(logits, y);
        tg_optim_zero_grad(opt);
        cr_assert_eq(tg_backward(loss), TG_OK, "%s", tg_ctx_error(ctx));
        tg_clip_grad_norm(tg_model_params(m), 1.0);
        tg_optim_step(opt);
        last = tg_tensor_item(loss);
        tg_tape_reset(ctx);
    }
    cr_expect_lt(last, 0.5 * baseline, "loss %.3f; the unigram baseline is %.3f", last, baseline);
    tg_optim_free(opt);
    tg_model_free(m);
}

Test(nn_model, null_arguments_give_the_documented_error_values)
{
    tg_rng rng = tg_rng_seed(1);
    cr_expect_null(tg_model_new(NULL, TG_F32, 0, NULL, TG_LAYERS({.kind = TG_LAYER_FLATTEN}), &rng));
    cr_expect_null(tg_model_new(ctx, TG_F32, 0, NULL, TG_LAYERS({.kind = TG_LAYER_FLATTEN}), NULL));
    cr_expect_null(tg_model_new(ctx, TG_F32, 2, NULL, TG_LAYERS({.kind = TG_LAYER_FLATTEN}), &rng));
    cr_expect_eq(tg_model_params(NULL).count, 0);
    cr_expect_eq(tg_model_buffers(NULL).count, 0);
    cr_expect_eq(tg_model_tensors(NULL).count, 0);
    cr_expect_eq(tg_model_param_count(NULL), 0);
    cr_expect_eq(tg_model_depth(NULL), 0);
    cr_expect_null(tg_model_module(NULL, 0));
    cr_expect_null(tg_model_find(NULL, "conv1"));
    cr_expect_null(tg_model_ctx(NULL));
    cr_expect_eq(tg_model_input_shape(NULL, NULL), 0);
    cr_expect_not(tg_model_training(NULL));
    tg_model_set_training(NULL, false);
    tg_model_print(NULL, NULL);
    cr_expect_null(tg_model_clone(NULL, ctx));
    cr_expect_null(tg_model_clone_fn(NULL, ctx));
    cr_expect_null(tg_model_forward_fn(NULL, NULL));
    tg_model_free_fn(NULL);
    cr_expect_eq(tg_model_params_fn(NULL).count, 0);
    cr_expect_eq(tg_model_buffers_fn(NULL).count, 0);
    cr_expect_eq(tg_model_dot_save(NULL, NULL, NULL, NULL), TG_ERR_ARG);
    cr_expect_null(tg_model_spec_text(NULL));
    cr_expect_null(tg_model_from_spec_text(NULL, "tapegrad-model 1", NULL));
    cr_expect_null(tg_model_from_spec_text(ctx, NULL, NULL));
    char buf[8];
    cr_expect_not(tg_model_spec_diff(NULL, NULL, buf, sizeof buf));
    cr_expect_eq(tg_model_save(NULL, "x", NULL, 0), TG_ERR_ARG);
    cr_expect_null(tg_model_load(NULL, "x", NULL));
    cr_expect_null(tg_model_load(ctx, NULL, NULL));
    cr_expect_eq(tg_model_load_into(NULL, "x", NULL, NULL), TG_ERR_ARG);
    cr_expect_null(tg_recurrent_step(NULL, NULL, NULL, NULL, NULL));
    cr_expect_null(tg_recurrent_unroll(NULL, NULL, NULL, NULL, NULL, NULL));
    cr_expect_null(tg_module_spec(NULL));
    tg_module_set_training(NULL, true);
    cr_expect_eq(tg_module_buffers(NULL).count, 0);
    char *spec = (char *)"untouched";
    cr_expect_eq(tg_checkpoint_read_spec(NULL, "x", &spec), TG_ERR_ARG);
    cr_expect_null(spec);
    cr_expect_eq(tg_checkpoint_read_spec(ctx, NULL, &spec), TG_ERR_ARG);
    cr_expect_eq(tg_checkpoint_save_spec(NULL, "x", "s", (tg_params){0, NULL}, NULL, 0), TG_ERR_ARG);
    cr_expect_eq(tg_checkpoint_save_spec(ctx, "x", NULL, (tg_params){0, NULL}, NULL, 0), TG_ERR_ARG);
    tg_checkpoint_info info;
    cr_expect_eq(tg_checkpoint_inspect(NULL, "x", &info), TG_ERR_ARG);
    cr_expect_eq(tg_checkpoint_inspect(ctx, NULL, &info), TG_ERR_ARG);
    tg_checkpoint_info_free(NULL);
    cr_expect_null(tg_optim_adamw_new((tg_params){0, NULL}, 0.1, 0.9, 0.999, 1e-8, 0.1));
    cr_expect_eq(tg_clip_grad_norm((tg_params){0, NULL}, 0), -1);
    cr_expect_eq(tg_clip_grad_norm((tg_params){1, (tg_tensor *[]){NULL}}, 1), -1);
    tg_model_reseed(NULL, 1);
    cr_expect_not(tg_model_set_training_fn(NULL, true));
}

Test(nn_model, a_model_trains_data_parallel_on_two_threads_with_its_buffers)
{
    tg_ctx *two = tg_ctx_new(2);
    tg_ctx_set_error_handler(two, NULL, NULL);
    tg_model *m = small_net(two, 0);
    cr_assert_not_null(m);
    tg_dataset *data = two_class_images(two, 4);
    cr_assert_not_null(data, "%s", tg_ctx_error(two));
    tg_optimizer *opt = tg_optim_adam_new(tg_model_params(m), 0.01, 0.9, 0.999, 1e-8);
    tg_train_config cfg = small_net_config(m, opt);
    cr_expect_eq(cfg.buffers_of, tg_model_buffers_fn);
    cfg.epochs = 3;
    cfg.threads = 2;
    tg_history h = {0};
    cr_assert_eq(tg_train(two, data, &cfg, &h), TG_OK, "%s", tg_ctx_error(two));
    cr_expect_lt(h.train_loss[2], h.train_loss[0], "the loss falls: %g -> %g", h.train_loss[0], h.train_loss[2]);
    cr_expect_neq(tg_tensor_get(tg_model_buffers(m).items[0], 0), 0, "the running mean came back from the workers");
    tg_history_free(&h);
    tg_optim_free(opt);
    tg_dataset_free(data);
    tg_model_free(m);
    tg_ctx_free(two);
}

Test(nn_model, tg_train_steps_in_training_mode_and_evaluates_in_eval_mode)
{
    tg_model *m = small_net(ctx, 0.5);
    tg_dataset *data = two_class_images(ctx, 4);
    cr_assert(m && data, "%s", tg_ctx_error(ctx));
    tg_optimizer *opt = tg_optim_adam_new(tg_model_params(m), 0.01, 0.9, 0.999, 1e-8);
    tg_train_config cfg = small_net_config(m, opt);
    cr_expect_eq(cfg.set_training, tg_model_set_training_fn);
    cfg.epochs = 2;
    cfg.test = data;
    cfg.eval_batch_size = 64;
    tg_model_set_training(m, false); /* tg_train switches it on for the steps */
    tg_history h = {0};
    cr_assert_eq(tg_train(ctx, data, &cfg, &h), TG_OK, "%s", tg_ctx_error(ctx));
    tg_tensor *running_mean = tg_model_buffers(m).items[0];
    cr_expect_neq(tg_tensor_get(running_mean, 0), 0, "the steps ran in training mode (running mean updated)");
    cr_expect_not(tg_model_training(m), "tg_train gave the model its eval mode back");

    tg_model_set_training(m, true);
    double mean_before = tg_tensor_get(running_mean, 0);
    tg_evaluation whole = {0}, again = {0}, one_by_one = {0};
    cr_assert_eq(tg_evaluate(ctx, &cfg, data, &whole), TG_OK, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_evaluate(ctx, &cfg, data, &again), TG_OK);
    cfg.eval_batch_size = 1;
    cr_assert_eq(tg_evaluate(ctx, &cfg, data, &one_by_one), TG_OK);
    cr_expect_eq(whole.loss, again.loss, "no dropout in evaluation: %.17g then %.17g", whole.loss, again.loss);
    cr_expect_float_eq(whole.loss, one_by_one.loss, 1e-12,
                       "batch norm on running statistics: batches of 64 %.17g, of 1 %.17g", whole.loss,
                       one_by_one.loss);
    cr_expect_eq(h.test_acc[1], whole.accuracy, "the per-epoch test ran in eval mode too");
    cr_expect_eq(tg_tensor_get(running_mean, 0), mean_before, "evaluation leaves the running mean alone");
    cr_expect(tg_model_training(m), "tg_evaluate gave the model its training mode back");
    tg_evaluation_free(&whole);
    tg_evaluation_free(&again);
    tg_evaluation_free(&one_by_one);
    tg_history_free(&h);
    tg_optim_free(opt);
    tg_dataset_free(data);
    tg_model_free(m);
}

/* The output on ones [1, 256] of a clone of m (so its dropout mask),
 * reseeded with stream first (0: not reseeded). */
static void dropout_masks(tg_model *m, uint64_t stream, double mask[256])
{
    tg_model *copy = tg_model_clone(m, ctx);
    cr_assert_not_null(copy);
    if (stream)
        tg_model_reseed(copy, stream);
    tg_tensor *y = tg_model_forward(copy, tg_tensor_full(ctx, TG_F64, TG_SHAPE(1, 256), 1));
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    for (int i = 0; i < 256; i++)
        mask[i] = tg_tensor_get(y, i);
    tg_model_free(copy);
}

static int masks_differing(const double *a, const double *b)
{
    int count = 0;
    for (int i = 0; i < 256; i++)
        count += a[i] != b[i];
    return count;
}

Test(nn_model, reseeded_clones_draw_their_own_dropout_masks_the_same_on_every_run)
{
    tg_rng rng = tg_rng_seed(1);
    tg_model *m = tg_model_new(ctx, TG_F64, 0, NULL, TG_LAYERS({.kind = TG_LAYER_DROPOUT, .rate = 0.5, .seed = 7}),
                               &rng);
    cr_assert_not_null(m);
    double model[256], clone[256], worker1[256], worker1_again[256], worker2[256];
    dropout_masks(m, 0, clone);
    dropout_masks(m, 1, worker1);
    dropout_masks(m, 1, worker1_again);
    dropout_masks(m, 2, worker2);
    tg_tensor *y = tg_model_forward(m, tg_tensor_full(ctx, TG_F64, TG_SHAPE(1, 256), 1));
    cr_assert_not_null(y);
    for (int i = 0; i < 256; i++)
        model[i] = tg_tensor_get(y, i);
    cr_expect_eq(masks_differing(model, clone), 0, "a clone copies the model's stream");
    cr_expect_eq(masks_differing(worker1, worker1_again), 0, "one worker index, one stream");
    cr_expect_gt(masks_differing(model, worker1), 64, "worker 1's masks are not the model's");
    cr_expect_gt(masks_differing(worker1, worker2), 64, "nor worker 2's");
    tg_model_free(m);
}

static int reseeded_workers[8], reseed_calls;
static void record_reseed(void *replica, int worker)
{
    if (reseed_calls < 8)
        reseeded_workers[reseed_calls++] = worker;
    tg_model_reseed_fn(replica, worker);
}

/* small_net with dropout trained for one epoch on `threads` workers; its parameters out. */
static void train_small_net_with_dropout(tg_ctx *c, int threads, double *values, int64_t count)
{
    tg_model *m = small_net(c, 0.5);
    tg_dataset *data = two_class_images(c, 4);
    cr_assert(m && data, "%s", tg_ctx_error(c));
    tg_optimizer *opt = tg_optim_sgd_new(tg_model_params(m), 0.1);
    tg_train_config cfg = small_net_config(m, opt);
    cr_expect_eq(cfg.reseed, tg_model_reseed_fn);
    cfg.reseed = record_reseed;
    cfg.threads = threads;
    cr_assert_eq(tg_train(c, data, &cfg, NULL), TG_OK, "%s", tg_ctx_error(c));
    tg_params p = tg_model_params(m);
    int64_t at = 0;
    for (int i = 0; i < p.count; i++)
        for (int64_t j = 0; j < tg_tensor_size(p.items[i]) && at < count; j++)
            values[at++] = tg_tensor_get(p.items[i], j);
    tg_optim_free(opt);
    tg_dataset_free(data);
    tg_model_free(m);
}

Test(nn_model, data_parallel_workers_get_their_own_dropout_streams_and_runs_repeat)
{
    tg_ctx *three = tg_ctx_new(3);
    tg_ctx_set_error_handler(three, NULL, NULL);
    double first[64], second[64];
    reseed_calls = 0;
    train_small_net_with_dropout(three, 3, first, 64);
    cr_expect_eq(reseed_calls, 2, "replicas 1 and 2 are reseeded, the model is not");
    cr_expect_eq(reseeded_workers[0], 1);
    cr_expect_eq(reseeded_workers[1], 2);
    train_small_net_with_dropout(three, 3, second, 64);
    for (int i = 0; i < 64; i++)
        cr_expect_eq(first[i], second[i], "value %d: %.17g then %.17g with the same thread count", i, first[i],
                     second[i]);
    tg_ctx_free(three);
}

/* A sequence classifier as a plain layer list: embedding, an LSTM that
 * outputs its last state, dense. The class of a sequence is its first token,
 * so the last state must carry it through every step. */
Test(nn_model, a_recurrent_layer_with_last_state_makes_a_sequence_classifier)
{
    enum { T = 6, B = 32, VOCAB = 4 };
    tg_rng rng = tg_rng_seed(8);
    tg_model *m = tg_model_new(ctx, TG_F32, 0, NULL, TG_LAYERS(
        {.kind = TG_LAYER_EMBEDDING, .in = VOCAB, .out = 4, .init = TG_INIT_NORMAL},
        {.kind = TG_LAYER_LSTM, .in = 4, .out = 16, .last_state = true},
        {.kind = TG_LAYER_DENSE, .in = 16, .out = 2}), &rng);
    cr_assert_not_null(m, "%s", tg_ctx_error(ctx));
    tg_tensor *x = tg_tensor_new(ctx, TG_F32, TG_SHAPE(B, T)), *y = tg_tensor_new(ctx, TG_F32, TG_SHAPE(B));
    for (int b = 0; b < B; b++) { /* batch-first tokens [B, T]; the class is the first token */
        for (int t = 0; t < T; t++)
            tg_tensor_set(x, b * T + t, (double)tg_rng_below(&rng, VOCAB));
        tg_tensor_set(x, b * T, (double)(b % 2));
        tg_tensor_set(y, b, (double)(b % 2));
    }

    /* the layer's output is the (time-major) unroll's final state, bit for bit */
    tg_module *lstm = tg_model_module(m, 1);
    tg_tensor *embedded = tg_module_forward(tg_model_module(m, 0), x), *h_last = NULL; /* [B, T, 4] */
    tg_tensor *last = tg_module_forward(lstm, embedded);
    cr_assert_not_null(tg_recurrent_unroll(lstm, tg_transpose(embedded, 0, 1), NULL, NULL, &h_last, NULL));
    cr_assert_not_null(last, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_tensor_rank(last), 2);
    cr_expect_eq(tg_tensor_dim(last, 0), B);
    cr_expect_eq(tg_tensor_dim(last, 1), 16);
    for (int i = 0; i < B * 16; i++)
        cr_expect_eq(tg_tensor_get(last, i), tg_tensor_get(h_last, i), "entry %d", i);
    tg_tape_reset(ctx);

    tg_optimizer *opt = tg_optim_adam_new(tg_model_params(m), 0.05, 0.9, 0.999, 1e-8);
    double first = NAN, final = NAN;
    for (int step = 0; step < 60; step++) {
        tg_tensor *logits = tg_model_forward(m, x);
        cr_assert_not_null(logits, "%s", tg_ctx_error(ctx));
        cr_assert_eq(tg_tensor_rank(logits), 2, "[B, classes], no time axis");
        tg_tensor *loss = tg_loss_softmax_ce(logits, y);
        tg_optim_zero_grad(opt);
        cr_assert_eq(tg_backward(loss), TG_OK, "%s", tg_ctx_error(ctx));
        tg_optim_step(opt);
        final = tg_tensor_item(loss);
        first = step == 0 ? final : first;
        tg_tape_reset(ctx);
    }
    cr_expect_lt(final, 0.1 * first, "the first token is remembered: loss %.4f -> %.4f", first, final);

    /* the flag is architecture: kept by spec text, named by the diff */
    char *text = tg_model_spec_text(m);
    cr_assert_not_null(text);
    cr_expect_not_null(strstr(text, "layer lstm name=lstm1 in=4 out=16"));
    cr_expect_not_null(strstr(text, "last_state=1\n"));
    tg_model *back = tg_model_from_spec_text(ctx, text, NULL);
    cr_assert_not_null(back, "%s", tg_ctx_error(ctx));
    cr_expect(tg_module_spec(tg_model_module(back, 1))->last_state);
    tg_model *every = tg_model_new(ctx, TG_F32, 0, NULL, TG_LAYERS(
        {.kind = TG_LAYER_EMBEDDING, .in = VOCAB, .out = 4},
        {.kind = TG_LAYER_LSTM, .in = 4, .out = 16},
        {.kind = TG_LAYER_DENSE, .in = 16, .out = 2}), &rng);
    char diff[256];
    cr_assert(tg_model_spec_diff(every, back, diff, sizeof diff));
    cr_expect_str_eq(diff, "layer 2 (lstm1): output is every state in the first; "
                           "output is the last state in the second");
    free(text);
    tg_model_free(every);
    tg_model_free(back);
    tg_optim_free(opt);
    tg_model_free(m);
}

/* a time-major sequence [T, B, in] as the layer kit reads it: batch-first [B, T, in] */
#define SEQUENCE_IN_LAYER_LAYOUT(s) tg_transpose((s), 0, 1)

/* tests/golden/model_v2_cnn.tgckpt and model_v2_lstm.tgckpt were written by
 * tg_model_save before layers had descriptors (commit 09b1276), by this
 * program's lines:
 *   cnn: tg_rng_seed(2026); input (1, 4, 4); conv2d 1->2 k3 pad 1 relu,
 *        batch_norm 2, max_pool2d 2, flatten, dense 8->3 tanh, layer_norm 3,
 *        dense 3->2; one training forward of x[i] = ((7i) mod 11)/5 - 1
 *        [3, 16], then saved at epoch 5; the eval-mode outputs below;
 *   lstm: the same rng next; lstm 2->3 last_state, dense 3->2, no input
 *        shape; s[i] = ((5i) mod 7)/3 - 1 read as [T 4, B 2, 2]; epoch 9.
 * Both must load, values and outputs as they were. */
Test(nn_model, checkpoints_written_before_layer_descriptors_still_load)
{
    char path[512];
    int64_t epoch = 0;
    tg_model *m = tg_model_load(ctx, golden_path("model_v2_cnn.tgckpt", path, sizeof path), &epoch);
    cr_assert_not_null(m, "%s", tg_ctx_error(ctx));
    cr_expect_eq(epoch, 5);
    cr_expect_eq(tg_model_depth(m), 7);
    cr_expect_eq(tg_tensor_get(tg_model_params(m).items[0], 0), -0.20394896073277588);
    tg_params buffers = tg_model_buffers(m);
    cr_assert_eq(buffers.count, 2);
    cr_expect_eq(tg_tensor_get(buffers.items[0], 0), 0.016741120432181185);
    cr_expect_eq(tg_tensor_get(buffers.items[1], 0), 0.90465079798083148);
    cr_expect_str_eq(tg_tensor_name(tg_model_params(m).items[8]), "dense2.weight");
    cr_expect_eq(tg_tensor_get(tg_model_params(m).items[8], 0), 0.1883603965421391);
    tg_tensor *x = tg_tensor_new(ctx, TG_F64, TG_SHAPE(3, 16));
    for (int i = 0; i < 48; i++)
        tg_tensor_set(x, i, (double)((i * 7) % 11) / 5.0 - 1.0);
    tg_model_set_training(m, false);
    tg_tensor *y = tg_model_forward(m, x);
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    const double want[6] = {-1.4218566238279506, 0.21067369569735686, -1.7776581149203727,
                            0.1866622953548161, -0.91602697675297395, 0.1937192299156256};
    for (int i = 0; i < 6; i++)
        cr_expect_float_eq(tg_tensor_get(y, i), want[i], 1e-12, "output %d", i);
    tg_tape_reset(ctx);
    tg_model_free(m);

    tg_model *r = tg_model_load(ctx, golden_path("model_v2_lstm.tgckpt", path, sizeof path), &epoch);
    cr_assert_not_null(r, "%s", tg_ctx_error(ctx));
    cr_expect_eq(epoch, 9);
    tg_params p = tg_model_params(r);
    cr_assert_eq(p.count, 6);
    cr_expect_eq(tg_tensor_get(p.items[0], 1), -0.71471381720462634);
    cr_expect_eq(tg_tensor_get(p.items[1], 1), -0.5438498105913816);
    cr_expect_eq(tg_tensor_get(p.items[4], 1), 0.94877487345227851);
    /* the file's sequence was time-major [T 4, B 2, 2]; fed in the layer kit's layout */
    tg_tensor *s = tg_tensor_new(ctx, TG_F64, TG_SHAPE(4, 2, 2));
    for (int i = 0; i < 16; i++)
        tg_tensor_set(s, i, (double)((i * 5) % 7) / 3.0 - 1.0);
    tg_tensor *z = tg_model_forward(r, SEQUENCE_IN_LAYER_LAYOUT(s));
    cr_assert_not_null(z, "%s", tg_ctx_error(ctx));
    const double want_lstm[4] = {-0.065547251497942258, 0.0055699563486202881, 0.20573707725044624,
                                 0.11606652285765207};
    for (int i = 0; i < 4; i++)
        cr_expect_float_eq(tg_tensor_get(z, i), want_lstm[i], 1e-12, "output %d", i);
    tg_tape_reset(ctx);
    tg_tensor_free(s);
    tg_tensor_free(x);
    tg_model_free(r);
}
