/* tg_inspect: what a tapegrad checkpoint holds, read without the program that
 * wrote it. Prints the header (format version, epoch, optimizer steps), the
 * CRC status, the model spec and summary when the file has one, and every
 * tensor's name, shape, dtype and statistics; --dot writes the model's
 * diagram (one forward pass of a zero input, one cluster per layer).
 *
 *     tg_inspect CHECKPOINT [--dot PATH]
 *
 * Exit status: 0 when the file is intact, 1 when it cannot be read or its
 * CRC does not match, 2 on bad usage. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tapegrad.h"

static void print_stats(const tg_tensor *t)
{
    char shape[64];
    int64_t n = tg_tensor_size(t);
    double lo = INFINITY, hi = -INFINITY, sum = 0, sq = 0;
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = tg_tensor_get(t, i);
        if (!isfinite(v)) {
            bad++;
            continue;
        }
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
        sq += v * v;
    }
    int64_t good = n - bad;
    double mean = good ? sum / (double)good : NAN;
    double sd = good ? sqrt(fmax(sq / (double)good - mean * mean, 0)) : NAN;
    printf("  %-28s %-16s %-4s %10lld %11.4g %11.4g %11.4g %11.4g", tg_tensor_name(t) ? tg_tensor_name(t) : "",
           tg_shape_str(tg_tensor_rank(t), tg_tensor_shape(t), shape, sizeof shape), tg_dtype_name(tg_tensor_dtype(t)),
           (long long)n, good ? lo : NAN, good ? hi : NAN, mean, sd);
    if (bad)
        printf("  (%lld NaN/Inf)", (long long)bad);
    printf("\n");
}

/* A zero input that fits the model's first layer, for the diagram. */
static tg_tensor *zero_input(tg_model *model)
{
    tg_ctx *ctx = tg_model_ctx(model);
    int64_t shape[TG_MAX_RANK + 1] = {1};
    int rank = tg_model_input_shape(model, shape + 1);
    if (rank > 0)
        return tg_tensor_temp(ctx, tg_model_dtype(model), rank + 1, shape);
    /* the first layer's kind knows a small batch it accepts (its descriptor's sample input) */
    const tg_layer_spec *first = tg_module_spec(tg_model_module(model, 0));
    const tg_layer_kind_def *kind = tg_layer_kind_def_of((int)first->kind);
    int64_t sample[TG_MAX_RANK];
    int sample_rank = kind && kind->sample_input ? kind->sample_input(first, sample) : 0;
    if (sample_rank > 0)
        return tg_tensor_temp(ctx, tg_model_dtype(model), sample_rank, sample);
    tg_ctx_fail(ctx, TG_ERR_ARG, "the spec gives no input shape and the first layer (%s) does not imply one",
                tg_layer_kind_name(first->kind));
    return NULL;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *dot = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dot") && i + 1 < argc)
            dot = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else {
            fprintf(stderr, "usage: %s CHECKPOINT [--dot PATH]\n", argv[0]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: %s CHECKPOINT [--dot PATH]\n", argv[0]);
        return 2;
    }
    tg_ctx *ctx = tg_ctx_new(1);
    if (!ctx)
        return 1;
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    tg_checkpoint_info info;
    if (tg_checkpoint_inspect(ctx, path, &info) != TG_OK) {
        fprintf(stderr, "tg_inspect: %s\n", tg_ctx_error(ctx));
        tg_ctx_free(ctx);
        return 1;
    }
    bool intact = info.crc_stored == info.crc_computed;
    printf("%s: tapegrad checkpoint, format version %u\n", path, info.version);
    printf("epoch %lld, optimizer %s", (long long)info.epoch, info.has_optimizer ? "state present" : "none");
    if (info.has_optimizer)
        printf(", %lld steps", (long long)info.steps);
    printf("\nCRC32 stored %08x, computed %08x: %s\n", info.crc_stored, info.crc_computed,
           intact ? "OK" : "MISMATCH (the contents were changed or damaged after writing)");

    tg_model *model = NULL;
    if (info.spec) {
        printf("\nspec:\n");
        for (const char *line = info.spec; *line;) {
            const char *end = strchr(line, '\n');
            int len = end ? (int)(end - line) : (int)strlen(line);
            printf("  %.*s\n", len, line);
            line += len + (end ? 1 : 0);
        }
        if (intact && (model = tg_model_load(ctx, path, NULL)) != NULL) {
            printf("\n");
            tg_model_print(model, stdout);
        } else if (intact)
            printf("\nthe spec does not build a model: %s\n", tg_ctx_error(ctx));
    } else
        printf("\nno model spec (a checkpoint of bare tensors, format version 1)\n");

    printf("\n%d parameter tensor%s, %d optimizer state tensor%s\n", info.n_params, info.n_params == 1 ? "" : "s",
           info.n_state, info.n_state == 1 ? "" : "s");
    printf("  %-28s %-16s %-4s %10s %11s %11s %11s %11s\n", "name", "shape", "type", "values", "min", "max", "mean",
           "std");
    for (int i = 0; i < info.n_params + info.n_state; i++) {
        if (i == info.n_params && info.n_state)
            printf("  optimizer state:\n");
        print_stats(info.tensors[i]);
    }
    int status = intact ? 0 : 1;
    if (dot) {
        tg_tensor *x = model ? zero_input(model) : NULL;
        if (!model && !info.spec)
            fprintf(stderr, "tg_inspect: --dot needs a checkpoint with a model spec\n"), status = 1;
        else if (!x || tg_model_dot_save(model, x, dot, NULL) != TG_OK)
            fprintf(stderr, "tg_inspect: diagram: %s\n", tg_ctx_error(ctx)), status = 1;
        else
            printf("\ndiagram: %s (dot -Tsvg %s -o model.svg)\n", dot, dot);
        tg_tape_reset(ctx);
    }
    tg_model_free(model);
    tg_checkpoint_info_free(&info);
    tg_ctx_free(ctx);
    return status;
}
