/* What the layer files (module.c, conv_layers.c, norm.c, recurrent.c,
 * model.c) share about a module. Not installed. */
#ifndef TAPEGRAD_NN_MODULE_INTERNAL_H
#define TAPEGRAD_NN_MODULE_INTERNAL_H

#include "tapegrad/model.h"

#define MODULE_MAX_PARAMS 4
#define MODULE_NAME_MAX 64

struct tg_module {
    tg_ctx *ctx;
    tg_dtype dtype;
    tg_layer_spec spec;               /* defaults filled in; spec.name points to name */
    char name[MODULE_NAME_MAX];
    bool training;
    tg_rng rng;                       /* dropout masks */
    int n_params, n_buffers;
    tg_tensor *params[MODULE_MAX_PARAMS];
    tg_tensor *buffers[2];            /* batch norm: running mean [in], running variance [in] */
};

/* Checks an input shape against the layer and computes the output shape;
 * TG_OK, or the error raised on the module's context naming the layer, the
 * shape and what was expected. */
tg_status tg_module_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                          int64_t out_shape[TG_MAX_RANK]);

/* The forwards of each family, called after tg_module_shape accepted x. */
tg_tensor *tg_conv_layer_forward(tg_module *m, tg_tensor *x);        /* conv_layers.c */
tg_tensor *tg_norm_layer_forward(tg_module *m, tg_tensor *x);        /* norm.c */
tg_tensor *tg_recurrent_layer_forward(tg_module *m, tg_tensor *x);   /* recurrent.c */

/* "dense layer dense1" for messages. */
const char *tg_module_who(const tg_module *m, char *buf, size_t size);

/* The first architectural difference between two models, with labels for
 * each ("in the file", "in the model"); false when none (model.c). */
bool tg_model_spec_diff_labelled(const tg_model *a, const tg_model *b, const char *la, const char *lb, char *buf,
                                 size_t size);

#endif
