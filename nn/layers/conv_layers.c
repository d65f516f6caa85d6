/* Convolution and pooling layers over NCHW images: thin wrappers of the
 * conv2d and pool ops that own the weights and name the layer in errors
 * (tg_module_shape has checked the input's rank, channels and size). */
#include "nn/layers/module_internal.h"

tg_tensor *tg_conv_layer_forward(tg_module *m, tg_tensor *x)
{
    const tg_layer_spec *s = &m->spec;
    switch (s->kind) {
    case TG_LAYER_CONV2D: /* y = f(x ⋆ W + b): W [out, in, k, k], b [out] */
        return tg_activate(tg_conv2d(x, m->params[0], m->params[1], s->stride, s->padding, 1, 1), s->act);
    case TG_LAYER_MAX_POOL2D: return tg_max_pool2d(x, s->kernel, s->stride, s->padding);
    case TG_LAYER_AVG_POOL2D: return tg_avg_pool2d(x, s->kernel, s->stride, s->padding);
    default: return NULL;
    }
}
