/* The conv2d layer kind over NCHW images: y = f(x ⋆ W + b), W [out, in, k, k],
 * b [out] (PyTorch's Conv2d: "weight", "bias"), a thin wrapper of the conv2d
 * op that owns the weights and names the layer in errors. The pooling kinds,
 * which share its window arithmetic, are in pool.c. */
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

static tg_tensor *conv_forward(tg_module *m, tg_tensor *x)
{
    const tg_layer_spec *s = &m->spec;
    return tg_activate(tg_conv2d(x, m->params[0], m->params[1], s->stride, s->padding, 1, 1), s->act);
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

const tg_layer_kind_def tg_layer_kind_conv2d = {
    .name = "conv2d",
    .short_name = "conv",
    .fields = TG_LAYER_USES_IN | TG_LAYER_USES_OUT | TG_LAYER_USES_WINDOW | TG_LAYER_USES_ACT | TG_LAYER_USES_INIT,
    .check = conv_check,
    .make = conv_make,
    .shape = conv_shape,
    .forward = conv_forward,
    .describe = conv_describe,
    .torch_names = (const char *const[]){"weight", "bias"},
    .sample_input = conv_sample,
};
