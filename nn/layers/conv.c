/* The conv2d layer kind over NCHW images: y = f(x ⋆ W + b), W [out, in, k, k],
 * b [out] (PyTorch's Conv2d: "weight", "bias"), a thin wrapper of the conv2d
 * op that owns the weights and names the layer in errors. The pooling kinds,
 * which share its window arithmetic, are in pool.c. */
#include "nn/io/export_c_writer.h"
#include "nn/layers/module_internal.h"

/* The window rule of conv and pooling layers: [n, c, h, w] -> [n, c', h', w'],
 * h' = (h + 2·padding - kernel)/stride + 1 (the caller checked the channels). */
tg_status tg_window_shape(const tg_module *m, int rank, const int64_t *shape, int64_t out_shape[TG_MAX_RANK]);
tg_status tg_window_shape(const tg_module *m, int rank, const int64_t *shape, int64_t out_shape[TG_MAX_RANK])
{
    const tg_layer_spec *s = &m->spec;
    for (int a = 2; a < rank; a++) {
        int64_t padded = shape[a] + 2 * (int64_t)s->padding;
        if (padded < s->kernel) {
            char want[96];
            snprintf(want, sizeof want, "h and w + 2·padding (%d) >= kernel %d", s->padding, s->kernel);
            return tg_module_shape_error(m, rank, shape, want);
        }
        out_shape[a] = (padded - s->kernel) / s->stride + 1;
    }
    return TG_OK;
}

static bool conv_check(tg_layer_spec *s, char *why, size_t size)
{
    (void)why, (void)size;
    if (s->stride == 0)
        s->stride = 1;
    return true;
}

static tg_status conv_make(tg_module *m, tg_rng *rng)
{
    int64_t in = m->spec.in, out = m->spec.out, k = m->spec.kernel;
    tg_tensor *w = tg_module_add_tensor(m, "weight", true, TG_SHAPE(out, in, k, k));
    if (!w || !tg_module_add_tensor(m, "bias", true, TG_SHAPE(out)))
        return TG_ERR_NOMEM;
    return tg_init_fill_fans(w, m->spec.init, (double)(in * k * k), (double)(out * k * k), 1, rng);
}

static tg_status conv_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                            int64_t out_shape[TG_MAX_RANK])
{
    (void)out_rank;
    const tg_layer_spec *s = &m->spec;
    if (rank != 4 || shape[1] != s->in) {
        char want[128];
        snprintf(want, sizeof want, "[n, %lld, h, w] (rank 4, NCHW, %lld input channels%s)", (long long)s->in,
                 (long long)s->in, rank == 4 ? "; the channels do not match the weight" : "");
        return tg_module_shape_error(m, rank, shape, want);
    }
    out_shape[1] = s->out;
    return tg_window_shape(m, rank, shape, out_shape);
}

static tg_tensor *conv_pre_activation(tg_module *m, tg_tensor *x)
{
    const tg_layer_spec *s = &m->spec;
    return tg_conv2d(x, m->params[0], m->params[1], s->stride, s->padding, 1, 1);
}

static tg_tensor *conv_forward(tg_module *m, tg_tensor *x)
{
    return tg_activate(conv_pre_activation(m, x), m->spec.act);
}

static void conv_describe(const tg_layer_spec *s, char *buf, size_t size)
{
    const char *act = s->act != TG_ACT_NONE ? tg_activation_name(s->act) : NULL;
    snprintf(buf, size, "%lld->%lld, %dx%d, stride %d, pad %d%s%s", (long long)s->in, (long long)s->out, s->kernel,
             s->kernel, s->stride, s->padding, act ? ", " : "", act ? act : "");
}

static int conv_sample(const tg_layer_spec *s, int64_t shape[TG_MAX_RANK])
{
    shape[0] = 2, shape[1] = s->in, shape[2] = shape[3] = s->kernel + 3;
    return 4;
}

/* C export: the input unrolled into columns (scratch), then a multiply-add
 * per weight. */
/* The input is unrolled once into columns [c·k·k, oh·ow] (each row one
 * weight's view of the input, zeros where the window hangs over the border),
 * then each filter's plane is b + Σ_r W[f, r]·columns[r]: runs of oh·ow
 * contiguous multiply-adds, written eight at a time so that -O2 keeps them in
 * vector registers. */
static const char conv2d_c_kernel[] =
    "/* out[i] += a x[i] for i < n */\n"
    "static void axpy(float a, const float *restrict x, float *restrict out, long n)\n"
    "{\n"
    "    long blocks = n / 8;\n"
    "    for (long b = 0; b < blocks; b++)\n"
    "        for (int l = 0; l < 8; l++)\n"
    "            out[8 * b + l] += a * x[8 * b + l];\n"
    "    for (long i = 8 * blocks; i < n; i++)\n"
    "        out[i] += a * x[i];\n"
    "}\n\n"
    "/* x [c, h, w] -> y [o, oh, ow]: W [o, c, k, k], stride s, zero padding p; columns [c k k, oh ow] is scratch */\n"
    "static void conv2d(const weights *m, const float *x, int c, int h, int w, float *y, int o, int oh, int ow,\n"
    "                   int k, int s, int p, float *columns)\n"
    "{\n"
    "    long positions = (long)oh * ow, r = 0;\n"
    "    for (int ch = 0; ch < c; ch++)\n"
    "        for (int u = 0; u < k; u++)\n"
    "            for (int v = 0; v < k; v++, r++) {\n"
    "                /* output columns j whose input column j s + v - p is inside [0, w): first..end-1 */\n"
    "                int first = p > v ? (p - v + s - 1) / s : 0, last = w - 1 + p - v;\n"
    "                int end = last < 0 ? 0 : last / s + 1 < ow ? last / s + 1 : ow;\n"
    "                if (first > end)\n"
    "                    first = end;\n"
    "                for (int i = 0; i < oh; i++) {\n"
    "                    float *out = columns + r * positions + (long)i * ow;\n"
    "                    int row = i * s + u - p, j = 0;\n"
    "                    if (row >= 0 && row < h) {\n"
    "                        const float *line = x + ((long)ch * h + row) * w;\n"
    "                        for (; j < first; j++)\n"
    "                            out[j] = 0.0f;\n"
    "                        for (; j < end; j++)\n"
    "                            out[j] = line[j * s + v - p];\n"
    "                    }\n"
    "                    for (; j < ow; j++)\n"
    "                        out[j] = 0.0f;\n"
    "                }\n"
    "            }\n"
    "    for (int f = 0; f < o; f++) {\n"
    "        float *plane = y + (long)f * positions;\n"
    "        for (long i = 0; i < positions; i++)\n"
    "            plane[i] = m->b[f];\n"
    "        for (r = 0; r < (long)c * k * k; r++) {\n"
    "            long at = (long)f * c * k * k + r;\n"
    "            axpy(m->q ? (float)m->q[at] * m->scale[f] : m->w[at], columns + r * positions, plane, positions);\n"
    "        }\n"
    "    }\n"
    "}\n\n";

static bool conv_c_data(tg_c_file *c, const tg_c_layer *L)
{
    const tg_layer_spec *s = &L->m->spec;
    char init[160];
    if (!tg_c_put_weights(c, L->cname, L->m->params[0], L->m->params[1], init, sizeof init))
        return false;
    tg_c_putf(c, "static const weights %s = %s;\n", L->cname, init);
    /* the input unrolled: [in·k·k, oh·ow] */
    tg_c_putf(c, "static float %s_columns[%lld];\n\n", L->cname,
              (long long)(s->in * s->kernel * s->kernel * L->out_size / s->out));
    return true;
}

static void conv_c_call(tg_c_file *c, const tg_c_layer *L, const char *x, const char *y)
{
    const tg_layer_spec *s = &L->m->spec;
    tg_c_putf(c, "    conv2d(&%s, %s, %lld, %lld, %lld, %s, %lld, %lld, %lld, %d, %d, %d, %s_columns);\n", L->cname, x,
              (long long)L->in_shape[0], (long long)L->in_shape[1], (long long)L->in_shape[2], y,
              (long long)L->out_shape[0], (long long)L->out_shape[1], (long long)L->out_shape[2], s->kernel,
              s->stride, s->padding, L->cname);
}

static const tg_layer_c_export conv_c_export = {
    .kernel = conv2d_c_kernel,
    .calls = TG_C_WEIGHTS,
    .write_data = conv_c_data,
    .write_call = conv_c_call,
};

const tg_layer_kind_def tg_layer_kind_conv2d = {
    .name = "conv2d",
    .short_name = "conv",
    .fields = TG_LAYER_USES_IN | TG_LAYER_USES_OUT | TG_LAYER_USES_WINDOW | TG_LAYER_USES_ACT | TG_LAYER_USES_INIT,
    .check = conv_check,
    .make = conv_make,
    .shape = conv_shape,
    .forward = conv_forward,
    .pre_activation = conv_pre_activation,
    .describe = conv_describe,
    .torch_names = (const char *const[]){"weight", "bias"},
    .sample_input = conv_sample,
    .c_export = &conv_c_export,
};
