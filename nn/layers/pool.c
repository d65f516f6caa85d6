/* The pooling layer kinds over NCHW images, max and average over k×k
 * windows (PyTorch's MaxPool2d, AvgPool2d: no tensors). The stride defaults
 * to the kernel; padding adds cells the window ignores. */
#include "nn/io/export_c_writer.h"
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

/* C export: a loop over the windows, each clipped to the input (window). */
static const char max_pool_c_kernel[] =
    "/* x [c, h, w] -> y [c, oh, ow]: the maximum of each k x k window (padding never wins; NaN wins) */\n"
    "static void max_pool2d(const float *x, int c, int h, int w, float *y, int oh, int ow, int k, int s, int p)\n"
    "{\n"
    "    for (int ch = 0; ch < c; ch++)\n"
    "        for (int i = 0; i < oh; i++)\n"
    "            for (int j = 0; j < ow; j++) {\n"
    "                int u0, u1, v0, v1;\n"
    "                window(i, j, h, w, k, s, p, &u0, &u1, &v0, &v1);\n"
    "                float best = -INFINITY;\n"
    "                for (int u = u0; u < u1; u++) {\n"
    "                    const float *line = x + ((long)ch * h + i * s - p + u) * w + j * s - p + v0;\n"
    "                    for (int v = 0; v < v1 - v0; v++)\n"
    "                        if (line[v] > best || line[v] != line[v])\n"
    "                            best = line[v];\n"
    "                }\n"
    "                y[((long)ch * oh + i) * ow + j] = best;\n"
    "            }\n"
    "}\n\n";

static const char avg_pool_c_kernel[] =
    "/* x [c, h, w] -> y [c, oh, ow]: each k x k window's sum / k^2 (padding counts as zeros) */\n"
    "static void avg_pool2d(const float *x, int c, int h, int w, float *y, int oh, int ow, int k, int s, int p)\n"
    "{\n"
    "    for (int ch = 0; ch < c; ch++)\n"
    "        for (int i = 0; i < oh; i++)\n"
    "            for (int j = 0; j < ow; j++) {\n"
    "                int u0, u1, v0, v1;\n"
    "                window(i, j, h, w, k, s, p, &u0, &u1, &v0, &v1);\n"
    "                float sum = 0.0f;\n"
    "                for (int u = u0; u < u1; u++) {\n"
    "                    const float *line = x + ((long)ch * h + i * s - p + u) * w + j * s - p + v0;\n"
    "                    for (int v = 0; v < v1 - v0; v++)\n"
    "                        sum += line[v];\n"
    "                }\n"
    "                y[((long)ch * oh + i) * ow + j] = sum / (float)(k * k);\n"
    "            }\n"
    "}\n\n";

static void pool_c_call(tg_c_file *c, const tg_c_layer *L, const char *x, const char *y)
{
    const tg_layer_spec *s = &L->m->spec;
    tg_c_putf(c, "    %s(%s, %lld, %lld, %lld, %s, %lld, %lld, %d, %d, %d);\n", L->m->kind->name, x,
              (long long)L->in_shape[0], (long long)L->in_shape[1], (long long)L->in_shape[2], y,
              (long long)L->out_shape[1], (long long)L->out_shape[2], s->kernel, s->stride, s->padding);
}

static const tg_layer_c_export max_pool_c_export = {
    .kernel = max_pool_c_kernel,
    .calls = TG_C_WINDOW,
    .write_call = pool_c_call,
};

static const tg_layer_c_export avg_pool_c_export = {
    .kernel = avg_pool_c_kernel,
    .calls = TG_C_WINDOW,
    .write_call = pool_c_call,
};

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
    .c_export = &max_pool_c_export,
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
    .c_export = &avg_pool_c_export,
};
