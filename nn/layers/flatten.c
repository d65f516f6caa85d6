/* The flatten layer kind: [n, ...] -> [n, Π ...] (PyTorch's Flatten; no tensors). */
#include "nn/io/export_c_writer.h"
#include "nn/layers/module_internal.h"

static tg_status flatten_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                               int64_t out_shape[TG_MAX_RANK])
{
    if (rank < 1)
        return tg_module_shape_error(m, rank, shape, "[n, ...] (rank >= 1)");
    int64_t rest = 1;
    for (int a = 1; a < rank; a++)
        rest *= shape[a];
    *out_rank = 2;
    out_shape[1] = rest;
    return TG_OK;
}

static tg_tensor *flatten_forward(tg_module *m, tg_tensor *x)
{
    (void)m;
    int64_t n = tg_tensor_rank(x) ? tg_tensor_dim(x, 0) : 1;
    return tg_reshape(x, TG_SHAPE(n, n ? tg_tensor_size(x) / n : 0));
}

static void flatten_describe(const tg_layer_spec *s, char *buf, size_t size)
{
    (void)s;
    snprintf(buf, size, "%s", "");
}

static int flatten_sample(const tg_layer_spec *s, int64_t shape[TG_MAX_RANK])
{
    (void)s;
    shape[0] = 2, shape[1] = 3, shape[2] = 4;
    return 3;
}

/* C export: no code, the buffer is already flat. */
static const tg_layer_c_export flatten_c_export = {.kernel = NULL};

const tg_layer_kind_def tg_layer_kind_flatten = {
    .name = "flatten",
    .fields = 0,
    .shape = flatten_shape,
    .forward = flatten_forward,
    .describe = flatten_describe,
    .torch_names = (const char *const[]){NULL},
    .sample_input = flatten_sample,
    .c_export = &flatten_c_export,
};
