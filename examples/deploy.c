/* Train in C, hand the weights to PyTorch, and put the network in a program
 * of its own: LeNet-5 trained on Fashion-MNIST, saved as safetensors under
 * PyTorch's names (lenet.safetensors loads into torch.nn.Sequential with
 * strict=True), and exported as C twice, float weights (lenet.h, lenet.c)
 * and int8 weights (lenet_int8.h, lenet_int8.c). A small program that
 * includes lenet.h (written to the output directory as main.c, the use of
 * the exported file) is compiled with cc and run: it scores the test set
 * and times one image at a time; the library's own eval forward is timed
 * beside it at batch 1.
 *
 *     deploy [--epochs 1] [--limit N] [--threads 1] [--data DIR] [--out deploy_out]
 *
 * The data comes from Debian's package dataset-fashion-mnist
 * (/usr/share/datasets/fashion-mnist). Without it the program says so and
 * exits with 77; without cc it stops after the export, saying so.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, mkdir */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tapegrad.h"
#include "examples/fashion_data.h"

#define DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

/* The use of the exported model: scores the test set, then times single images. */
static const char program[] =
    "/* Uses the exported model NAME: no tapegrad, only libm. */\n"
    "#define _POSIX_C_SOURCE 200809L\n"
    "#include <stdio.h>\n"
    "#include <time.h>\n"
    "#include \"%s.h\"\n"
    "\n"
    "int main(void)\n"
    "{\n"
    "    static float images[10000][%s_INPUT_SIZE], out[%s_OUTPUT_SIZE];\n"
    "    unsigned char labels[10000];\n"
    "    FILE *x = fopen(\"test_x.f32\", \"rb\"), *y = fopen(\"test_y.u8\", \"rb\");\n"
    "    if (!x || !y)\n"
    "        return 1;\n"
    "    size_t n = fread(images, sizeof images[0], 10000, x);\n"
    "    if (fread(labels, 1, n, y) != n)\n"
    "        return 1;\n"
    "    long correct = 0;\n"
    "    for (size_t i = 0; i < n; i++) {\n"
    "        %s_forward(images[i], out);\n"
    "        int best = 0;\n"
    "        for (int k = 1; k < %s_OUTPUT_SIZE; k++)\n"
    "            if (out[k] > out[best])\n"
    "                best = k;\n"
    "        correct += best == labels[i];\n"
    "    }\n"
    "    double fastest = 1e30;\n"
    "    for (int round = 0; round < 5; round++) { /* the fastest of 5 rounds of 1000 images */\n"
    "        struct timespec t0, t1;\n"
    "        clock_gettime(CLOCK_MONOTONIC, &t0);\n"
    "        for (int i = 0; i < 1000; i++)\n"
    "            %s_forward(images[i %% n], out);\n"
    "        clock_gettime(CLOCK_MONOTONIC, &t1);\n"
    "        double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / 1000;\n"
    "        fastest = us < fastest ? us : fastest;\n"
    "    }\n"
    "    printf(\"%%.2f%%%% test accuracy, %%.1f us per image\\n\", 100.0 * (double)correct / (double)n, fastest);\n"
    "    return 0;\n"
    "}\n";

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The library's eval forward, one image at a time: microseconds per image (fastest of 5 rounds). */
static double library_us_per_image(tg_ctx *ctx, tg_model *model, const tg_dataset *test)
{
    bool grad = tg_grad_set_enabled(ctx, false);
    double fastest = 1e30;
    for (int round = 0; round < 5; round++) {
        double t0 = seconds();
        for (int i = 0; i < 1000; i++) {
            tg_tensor *image = tg_tensor_temp(ctx, TG_F32, TG_SHAPE(1, 784));
            float *v = tg_tensor_data(image);
            for (int k = 0; k < 784; k++)
                v[k] = (float)(test->bytes[(int64_t)(i % test->count) * 784 + k] * test->byte_scale);
            tg_model_forward(model, image);
            tg_tape_reset(ctx);
        }
        double us = (seconds() - t0) * 1e6 / 1000;
        fastest = us < fastest ? us : fastest;
    }
    tg_grad_set_enabled(ctx, grad);
    return fastest;
}

static bool write_test_set(const tg_dataset *test, const char *out_dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/test_x.f32", out_dir);
    FILE *x = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/test_y.u8", out_dir);
    FILE *y = fopen(path, "wb");
    bool ok = x && y;
    for (int64_t i = 0; ok && i < test->count; i++) {
        float image[784];
        for (int k = 0; k < 784; k++)
            image[k] = (float)(test->bytes[i * 784 + k] * test->byte_scale + test->byte_shift);
        ok = fwrite(image, sizeof image, 1, x) == 1 && fputc((int)test->targets[i], y) != EOF;
    }
    if (x)
        ok = fclose(x) == 0 && ok;
    if (y)
        ok = fclose(y) == 0 && ok;
    return ok;
}

/* Writes the program using NAME, compiles it with the exported file and runs it. */
static void compile_and_run(const char *out_dir, const char *name)
{
    char upper[32], path[4200], command[8600];
    for (size_t i = 0; i <= strlen(name) && i < sizeof upper; i++)
        upper[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 'a' + 'A' : name[i]);
    snprintf(path, sizeof path, "%s/main_%s.c", out_dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, program, name, upper, upper, name, upper, name);
    fclose(f);
    snprintf(command, sizeof command, "cd '%s' && cc -std=c99 -Wall -Wextra -Werror -O2 -o run_%s main_%s.c %s.c -lm "
             "&& ./run_%s", out_dir, name, name, name, name);
    printf("%-11s ", name);
    fflush(stdout);
    if (system(command) != 0)
        printf("(failed: %s)\n", command);
}

static long file_size(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat s;
    return stat(path, &s) == 0 ? (long)s.st_size : -1;
}

int main(int argc, char **argv)
{
    const char *data_dir = DEFAULT_DIR, *out_dir = "deploy_out";
    int epochs = 1, threads = 1;
    int64_t limit = 0;
    for (int i = 1; i < argc; i += 2) { /* --option value pairs */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && !strcmp(a, "--epochs"))
            epochs = atoi(v);
        else if (v && !strcmp(a, "--limit"))
            limit = atoll(v);
        else if (v && !strcmp(a, "--threads"))
            threads = atoi(v);
        else if (v && !strcmp(a, "--data"))
            data_dir = v;
        else if (v && !strcmp(a, "--out"))
            out_dir = v;
        else {
            fprintf(stderr, "usage: %s [--epochs N] [--limit N] [--threads N] [--data DIR] [--out DIR]\n", argv[0]);
            return 2;
        }
    }
    tg_ctx *ctx = tg_ctx_new(threads);
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    tg_dataset *train, *test;
    if (!fashion_load(ctx, "deploy", data_dir, &train, &test)) {
        tg_ctx_free(ctx);
        return 77;
    }
    tg_dataset *part = limit > 0 && limit < train->count ? tg_dataset_view(ctx, train, 0, limit) : NULL;
    fashion_print_sets(ctx, part ? part : train, test);

    /* train */
    tg_rng rng = tg_rng_seed(1);
    tg_model *model = tg_model_new(ctx, TG_F32, TG_SHAPE(1, 28, 28), TG_LAYERS(
        {.kind = TG_LAYER_CONV2D, .in = 1, .out = 6, .kernel = 5, .padding = 2, .act = TG_ACT_RELU, .init = TG_INIT_HE},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = TG_LAYER_CONV2D, .in = 6, .out = 16, .kernel = 5, .act = TG_ACT_RELU, .init = TG_INIT_HE},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = TG_LAYER_FLATTEN},
        {.kind = TG_LAYER_DENSE, .in = 400, .out = 120, .act = TG_ACT_RELU, .init = TG_INIT_HE},
        {.kind = TG_LAYER_DENSE, .in = 120, .out = 84, .act = TG_ACT_RELU, .init = TG_INIT_HE},
        {.kind = TG_LAYER_DENSE, .in = 84, .out = 10}), &rng);
    tg_optimizer *adam = model ? tg_optim_adam_new(tg_model_params(model), 2e-3, 0.9, 0.999, 1e-8) : NULL;
    tg_train_config cfg = tg_train_defaults();
    tg_train_use_model(&cfg, model);
    cfg.loss = tg_loss_softmax_ce;
    cfg.optimizer = adam;
    cfg.epochs = epochs;
    cfg.threads = threads;
    cfg.progress = 0;
    tg_evaluation eval = {0};
    if (!adam || tg_train(ctx, part ? part : train, &cfg, NULL) != TG_OK ||
        (tg_model_set_training(model, false), tg_evaluate(ctx, &cfg, test, &eval)) != TG_OK) {
        fprintf(stderr, "deploy: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    printf("LeNet-5 after %d epoch%s: %.2f%% test accuracy in tapegrad\n", epochs, epochs == 1 ? "" : "s",
           100 * eval.accuracy);
    tg_evaluation_free(&eval);

    /* train -> safetensors for PyTorch; train -> C */
    mkdir(out_dir, 0755);
    char weights[4200];
    snprintf(weights, sizeof weights, "%s/lenet.safetensors", out_dir);
    if (tg_model_save_safetensors(model, weights) != TG_OK || tg_model_export_c(model, "lenet", out_dir) != TG_OK ||
        tg_model_export_c_int8(model, "lenet_int8", out_dir) != TG_OK || !write_test_set(test, out_dir)) {
        fprintf(stderr, "deploy: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    printf("wrote %s/: lenet.safetensors (%ld bytes, PyTorch's names), lenet.c (%ld bytes), lenet_int8.c (%ld "
           "bytes)\n", out_dir, file_size(out_dir, "lenet.safetensors"), file_size(out_dir, "lenet.c"),
           file_size(out_dir, "lenet_int8.c"));
    printf("tapegrad    eval forward at batch 1: %.1f us per image\n", library_us_per_image(ctx, model, test));
    if (system("command -v cc > /dev/null 2>&1") != 0)
        printf("no cc here: compile %s/lenet.c with cc -std=c99 -O2 -c lenet.c\n", out_dir);
    else {
        compile_and_run(out_dir, "lenet");
        compile_and_run(out_dir, "lenet_int8");
    }
    tg_optim_free(adam);
    tg_dataset_free(part);
    tg_dataset_free(train);
    tg_dataset_free(test);
    tg_ctx_free(ctx);
    return 0;
}
