/* The tapegrad side of the PyTorch round trip (tests/safetensors_torch.py):
 *
 *   safetensors_interop dump FILE     every metadata pair and entry of FILE, values in
 *                                     hex floats (%a) or integers, one line each
 *   safetensors_interop linear FILE   the logits of the linear layer "0.weight" [4, 3],
 *                                     "0.bias" [4] of FILE on a fixed input x [2, 3]:
 *                                     y = x Wᵀ + b, as torch.nn.Linear computes them
 *   safetensors_interop write FILE    tensors whose values both sides compute exactly
 *                                     (dyadic fractions, thirds, big integers), with metadata
 *
 * Exit status 0, or 1 with the library's error on stderr. */
#include <stdio.h>
#include <string.h>

#include "tapegrad.h"

static int fail(tg_ctx *ctx)
{
    fprintf(stderr, "%s\n", tg_ctx_error(ctx));
    tg_ctx_free(ctx);
    return 1;
}

static int dump(tg_ctx *ctx, const char *path)
{
    tg_safetensors *st = tg_safetensors_open(ctx, path);
    if (!st)
        return fail(ctx);
    for (int i = 0; i < tg_safetensors_metadata_count(st); i++)
        printf("meta\t%s\t%s\n", tg_safetensors_metadata_key(st, i), tg_safetensors_metadata_value(st, i));
    for (int i = 0; i < tg_safetensors_count(st); i++) {
        const char *name = tg_safetensors_name(st, i), *dtype = tg_safetensors_dtype(st, i);
        bool integer = strcmp(dtype, "I64") == 0;
        tg_tensor *t = tg_safetensors_read(st, name, integer ? TG_I64 : TG_F64);
        if (!t)
            return fail(ctx);
        printf("entry\t%s\t%s\t", name, dtype);
        for (int d = 0; d < tg_safetensors_rank(st, i); d++)
            printf("%s%lld", d ? "," : "", (long long)tg_safetensors_shape(st, i)[d]);
        printf("\t");
        for (int64_t k = 0; k < tg_tensor_size(t); k++) {
            if (integer)
                printf("%s%lld", k ? " " : "", (long long)((const int64_t *)tg_tensor_data_const(t))[k]);
            else
                printf("%s%a", k ? " " : "", ((const double *)tg_tensor_data_const(t))[k]);
        }
        printf("\n");
        tg_tensor_free(t);
    }
    tg_safetensors_close(st);
    return 0;
}

static int linear(tg_ctx *ctx, const char *path)
{
    tg_safetensors *st = tg_safetensors_open(ctx, path);
    tg_tensor *w = tg_tensor_new(ctx, TG_F32, TG_SHAPE(4, 3)), *b = tg_tensor_new(ctx, TG_F32, TG_SHAPE(4));
    tg_named_tensor items[] = {{"0.weight", w}, {"0.bias", b}};
    if (!st || tg_safetensors_load(st, 2, items) != TG_OK)
        return fail(ctx);
    tg_safetensors_close(st);
    tg_tensor *x = tg_tensor_from(ctx, TG_F32, TG_SHAPE(2, 3), (double[]){0.5, -1, 2, 1.5, 0.25, -0.75});
    tg_tensor *y = tg_add(tg_matmul(x, tg_transpose(w, 0, 1)), b);
    if (!y)
        return fail(ctx);
    for (int64_t k = 0; k < tg_tensor_size(y); k++)
        printf("%s%a", k ? " " : "", tg_tensor_get(y, k));
    printf("\n");
    return 0;
}

static int write_file(tg_ctx *ctx, const char *path)
{
    tg_tensor *w = tg_tensor_new(ctx, TG_F32, TG_SHAPE(4, 3)), *b = tg_tensor_new(ctx, TG_F32, TG_SHAPE(4));
    tg_tensor *thirds = tg_tensor_new(ctx, TG_F64, TG_SHAPE(2, 3)), *idx = tg_tensor_new(ctx, TG_I64, TG_SHAPE(5));
    tg_tensor *s = tg_tensor_scalar(ctx, TG_F32, -0.0);
    for (int k = 0; k < 12; k++)
        tg_tensor_set(w, k, (double)(k * 7 % 13 - 6) / 8);
    for (int k = 0; k < 4; k++)
        tg_tensor_set(b, k, (k - 1.5) / 4);
    for (int k = 0; k < 6; k++)
        tg_tensor_set(thirds, k, (k + 1) / 3.0);
    const int64_t ints[5] = {INT64_MIN, -1, 0, ((int64_t)1 << 53) + 1, INT64_MAX};
    memcpy(tg_tensor_data(idx), ints, sizeof ints);
    tg_named_tensor items[] = {{"0.weight", w}, {"0.bias", b}, {"thirds", thirds}, {"idx", idx}, {"zero", s}};
    tg_safetensors_meta meta[] = {{"format", "pt"}, {"writer", "tapegrad"}};
    return tg_safetensors_save(ctx, path, 5, items, 2, meta) == TG_OK ? 0 : fail(ctx);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s dump|linear|write FILE\n", argv[0]);
        return 2;
    }
    tg_ctx *ctx = tg_ctx_new(1);
    int status = strcmp(argv[1], "dump") == 0     ? dump(ctx, argv[2])
                 : strcmp(argv[1], "linear") == 0 ? linear(ctx, argv[2])
                 : strcmp(argv[1], "write") == 0  ? write_file(ctx, argv[2])
                                                  : 2;
    if (status != 1)
        tg_ctx_free(ctx);
    return status;
}
