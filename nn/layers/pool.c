/* The pooling layer kinds over NCHW images, max and average over k×k
 * windows (PyTorch's MaxPool2d, AvgPool2d: no tensors). The stride defaults
 * to the kernel; padding adds cells the window ignores. */
#include "nn/layers/module_internal.h"

tg_status tg_window_shape(const tg_module *m, int rank, const int64_t *shape, int64_t out_shape[TG_MAX_RANK]);

static bool pool_check(tg_layer_spec *s, char *why, size_t size)
{
    (void)why, (void)size;
    if (s->stride == 0)
        s->stride = s->kernel;
    return true;
}

static tg_status pool_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                            int64_t out_shape[TG_MAX_RANK])
{
    (void)out_rank;
    if (rank != 4)
        return tg_module_shape_error(m, rank, shape, "[n, c, h, w] (rank 4, NCHW)");
    return tg_window_shape(m, rank, shape, out_shape);
}

static tg_tensor *max_pool_forward(tg_module *m, tg_tensor *x)
{
    return tg_max_pool2d(x, m->spec.kernel, m->spec.stride, m->spec.padding);
}

static tg_tensor *avg_pool_forward(tg_module *m, tg_tensor *x)
{
    return tg_avg_pool2d(x, m->spec.kernel, m->spec.stride, m->spec.padding);
}

static void pool_describe(const tg_layer_spec *s, char *buf, size_t size)
{
    snprintf(buf, size, "%dx%d, stride %d, pad %d", s->kernel, s->kernel, s->stride, s->padding);
}

static int pool_sample(const tg_layer_spec *s, int64_t shape[TG_MAX_RANK])
{
    shape[0] = 2, shape[1] = 3, shape[2] = shape[3] = 2 * s->kernel + 1;
    return 4;
}

const tg_layer_kind_def tg_layer_kind_max_pool2d = {
    .name = "max_pool2d",
    .short_name = "maxpool",
    .fields = TG_LAYER_USES_WINDOW,
    .check = pool_check,
    .shape = pool_shape,
    .forward = max_pool_forward,
    .describe = pool_describe,
    .torch_names = (const char *const[]){NULL},
    .sample_input = pool_sample,
};

const tg_layer_kind_def tg_layer_kind_avg_pool2d = {
    .name = "avg_pool2d",
    .short_name = "avgpool",
    .fields = TG_LAYER_USES_WINDOW,
    .check = pool_check,
    .shape = pool_shape,
    .forward = avg_pool_forward,
    .describe = pool_describe,
    .torch_names = (const char *const[]){NULL},
    .sample_input = pool_sample,
};
