/* One sample at a time: a model exported by tg_model_export_c (float and
 * int8 weights) against the library's own eval forward, in one process.
 *
 *   bench_export_c [--rounds 15] [--calls 200] [--cflags "-O2"]
 *
 * For LeNet-5 (Fashion-MNIST's input), an MLP 784-256-128-10 and an LSTM
 * classifier (tokens [32] -> embedding 64 -> LSTM 128, last state -> 4), each
 * with random weights: the model is exported to a scratch directory, compiled
 * with cc -std=c99 <cflags> -shared -fPIC (default cflags -O2, the flags the
 * issue asks the file to compile with) and loaded with dlopen. Rounds
 * alternate between the three (library, exported float, exported int8), each
 * round timing `calls` forwards of batch 1 on the same inputs, so the noise of
 * a shared machine falls on all three alike; the medians and minima are
 * printed per call, with CPU time (clock) rather than wall time. The library
 * runs with one thread, gradients off, its tape reset after every call. The
 * outputs are compared too (float export: largest difference).
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "tapegrad.h"

#define MAX_ROUNDS 101

typedef int (*forward_fn)(const float *in, float *out);

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Exports model as name into dir, compiles it and returns its forward (NULL on failure). */
static forward_fn compiled(tg_model *model, const char *name, const char *dir, bool int8, const char *cflags)
{
    tg_status status = int8 ? tg_model_export_c_int8(model, name, dir) : tg_model_export_c(model, name, dir);
    if (status != TG_OK) {
        fprintf(stderr, "bench_export_c: %s\n", tg_ctx_error(tg_model_ctx(model)));
        return NULL;
    }
    char command[1024], library[512], symbol[128];
    snprintf(library, sizeof library, "%s/%s.so", dir, name);
    snprintf(command, sizeof command, "cc -std=c99 -Wall -Wextra -Werror %s -shared -fPIC -o %s %s/%s.c -lm", cflags,
             library, dir, name);
    if (system(command) != 0) {
        fprintf(stderr, "bench_export_c: failed: %s\n", command);
        return NULL;
    }
    void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    snprintf(symbol, sizeof symbol, "%s_forward", name);
    void *fn = handle ? dlsym(handle, symbol) : NULL;
    if (!fn)
        fprintf(stderr, "bench_export_c: %s\n", dlerror());
    forward_fn forward;
    memcpy(&forward, &fn, sizeof forward); /* object pointer to function pointer, as POSIX allows */
    return forward;
}

static void bench(tg_ctx *ctx, const char *label, tg_model *model, const float *inputs, int n_inputs, int rounds,
                  int calls, const char *dir, const char *cflags)
{
    char name[64];
    snprintf(name, sizeof name, "%s_f32", label);
    forward_fn exported = compiled(model, name, dir, false, cflags);
    snprintf(name, sizeof name, "%s_int8", label);
    forward_fn exported8 = compiled(model, name, dir, true, cflags);
    if (!exported || !exported8)
        return;
    int64_t shape[TG_MAX_RANK] = {1}, sample[TG_MAX_RANK];
    int rank = tg_model_input_shape(model, sample);
    memcpy(shape + 1, sample, (size_t)rank * sizeof *sample);
    int64_t in_size = 1;
    for (int d = 0; d < rank; d++)
        in_size *= sample[d];
    float out[4096];
    double times[3][MAX_ROUNDS], largest_difference = 0;
    tg_model_set_training(model, false);
    tg_grad_set_enabled(ctx, false);
    for (int r = 0; r < rounds; r++) {
        for (int who = 0; who < 3; who++) {
            double t0 = bench_seconds(CLOCK_PROCESS_CPUTIME_ID);
            for (int c = 0; c < calls; c++) {
                const float *in = inputs + (int64_t)(c % n_inputs) * in_size;
                if (who == 0) {
                    tg_tensor *x = tg_tensor_temp(ctx, TG_F32, rank + 1, shape);
                    memcpy(tg_tensor_data(x), in, (size_t)in_size * sizeof *in);
                    tg_tensor *y = tg_model_forward(model, x);
                    if (r == 0 && c < n_inputs) { /* the float export's outputs against the library's */
                        exported(in, out);
                        for (int64_t k = 0; y && k < tg_tensor_size(y); k++)
                            largest_difference = fmax(largest_difference, fabs(out[k] - tg_tensor_get(y, k)));
                    }
                    tg_tape_reset(ctx);
                } else
                    (who == 1 ? exported : exported8)(in, out);
            }
            times[who][r] = (bench_seconds(CLOCK_PROCESS_CPUTIME_ID) - t0) * 1e6 / calls;
        }
    }
    tg_grad_set_enabled(ctx, true);
    const char *who_name[3] = {"tapegrad forward", "exported float", "exported int8"};
    double median[3];
    for (int who = 0; who < 3; who++) {
        qsort(times[who], (size_t)rounds, sizeof times[who][0], by_value);
        median[who] = times[who][rounds / 2];
    }
    printf("%-7s (%lld parameters; float export differs by at most %.2g)\n", label,
           (long long)tg_model_param_count(model), largest_difference);
    for (int who = 0; who < 3; who++)
        printf("  %-17s median %8.1f us, min %8.1f us per sample  (%.2fx the library)\n", who_name[who], median[who],
               times[who][0], median[who] / median[0]);
}

int main(int argc, char **argv)
{
    int rounds = 15, calls = 200;
    const char *cflags = "-O2";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rounds"))
            rounds = (int)bench_number(argv[0], "--rounds", argv[i + 1], 1, MAX_ROUNDS);
        else if (!strcmp(argv[i], "--calls"))
            calls = (int)bench_number(argv[0], "--calls", argv[i + 1], 1, 1000000);
        else if (!strcmp(argv[i], "--cflags"))
            cflags = argv[i + 1];
    }
    char dir[] = "/tmp/tg_bench_export_XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(1);
    printf("batch 1, one thread, cc -std=c99 %s, %d rounds of %d calls (CPU time)\n", cflags, rounds, calls);
    float *images = malloc(16 * 784 * sizeof *images), *tokens = malloc(16 * 32 * sizeof *tokens);
    for (int i = 0; i < 16 * 784; i++)
        images[i] = (float)tg_rng_uniform(&rng);
    for (int i = 0; i < 16 * 32; i++)
        tokens[i] = (float)(tg_rng_next(&rng) % 1000);
    tg_model *lenet = tg_model_new(ctx, TG_F32, TG_SHAPE(1, 28, 28), TG_LAYERS(
        {.kind = TG_LAYER_CONV2D, .in = 1, .out = 6, .kernel = 5, .padding = 2, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = TG_LAYER_CONV2D, .in = 6, .out = 16, .kernel = 5, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = TG_LAYER_FLATTEN},
        {.kind = TG_LAYER_DENSE, .in = 400, .out = 120, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_DENSE, .in = 120, .out = 84, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_DENSE, .in = 84, .out = 10}), &rng);
    tg_model *mlp = tg_model_new(ctx, TG_F32, TG_SHAPE(784), TG_LAYERS(
        {.kind = TG_LAYER_DENSE, .in = 784, .out = 256, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_DENSE, .in = 256, .out = 128, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_DENSE, .in = 128, .out = 10}), &rng);
    tg_model *lstm = tg_model_new(ctx, TG_F32, TG_SHAPE(32), TG_LAYERS(
        {.kind = TG_LAYER_EMBEDDING, .in = 1000, .out = 64},
        {.kind = TG_LAYER_LSTM, .in = 64, .out = 128, .last_state = true},
        {.kind = TG_LAYER_DENSE, .in = 128, .out = 4}), &rng);
    if (!lenet || !mlp || !lstm) {
        fprintf(stderr, "bench_export_c: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    bench(ctx, "lenet", lenet, images, 16, rounds, calls, dir, cflags);
    bench(ctx, "mlp", mlp, images, 16, rounds, calls, dir, cflags);
    bench(ctx, "lstm", lstm, tokens, 16, rounds, calls, dir, cflags);
    char command[128];
    snprintf(command, sizeof command, "rm -rf %s", dir);
    if (system(command) != 0)
        fprintf(stderr, "bench_export_c: could not remove %s\n", dir);
    free(images);
    free(tokens);
    tg_ctx_free(ctx);
    return 0;
}
