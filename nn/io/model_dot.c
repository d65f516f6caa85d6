/* A model's diagram: the tape of one forward pass written as dot with one
 * cluster per layer. The layers run one by one and the tape length after each
 * marks its ops, so every op (activation and pooling included) lands in the
 * layer that made it, whatever its inputs. */
#include "nn/layers/module_internal.h"
#include "tapegrad/dot.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const tg_model *model;
    int64_t *ends;     /* [depth]: tape length after layer l */
    char (*labels)[256]; /* [depth]: "conv1 (conv2d 1->6, 5x5, ...)", the kind's describe */
} layer_map;

static const char *layer_of(const tg_tensor *t, void *user)
{
    const layer_map *map = user;
    int64_t op = tg_tensor_creator(t);
    if (op < 0) { /* a leaf: the layer whose tensor it is */
        for (int l = 0; l < tg_model_depth(map->model); l++) {
            tg_params p = tg_module_params(tg_model_module(map->model, l));
            for (int i = 0; i < p.count; i++)
                if (p.items[i] == t)
                    return map->labels[l];
        }
        return NULL;
    }
    for (int l = 0; l < tg_model_depth(map->model); l++)
        if (op < map->ends[l])
            return map->labels[l];
    return NULL;
}

tg_status tg_model_dot_save(tg_model *model, tg_tensor *x, const char *path, const tg_dot_options *opts)
{
    if (!model)
        return TG_ERR_ARG;
    tg_ctx *ctx = tg_model_ctx(model);
    if (!x)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_model_dot_save: x is NULL");
    int depth = tg_model_depth(model);
    layer_map map = {model, malloc((size_t)depth * sizeof *map.ends), malloc((size_t)depth * sizeof *map.labels)};
    if (!map.ends || !map.labels) {
        free(map.ends), free(map.labels);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_model_dot_save: out of memory");
    }
    for (int l = 0; l < depth; l++) { /* the cluster label: the layer's name, kind and settings */
        const tg_module *m = tg_model_module(model, l);
        char set[128];
        tg_module_describe(m, set, sizeof set);
        snprintf(map.labels[l], sizeof map.labels[l], "%.63s (%.31s%s%.127s)", m->name, m->kind->name, set[0] ? " " : "", set);
    }
    bool was = tg_grad_set_enabled(ctx, true);
    /* The flat-input reshape of tg_model_forward, then the layers one by one. */
    int64_t in_shape[TG_MAX_RANK];
    int in_rank = tg_model_input_shape(model, in_shape);
    if (in_rank > 1 && tg_tensor_rank(x) == 2) {
        int64_t size = 1, shape[TG_MAX_RANK] = {tg_tensor_dim(x, 0)};
        for (int a = 0; a < in_rank; a++)
            size *= shape[a + 1] = in_shape[a];
        if (tg_tensor_dim(x, 1) == size)
            x = tg_reshape(x, in_rank + 1, shape);
    }
    for (int l = 0; l < depth && x; l++) {
        x = tg_module_forward(tg_model_module(model, l), x);
        map.ends[l] = tg_tape_length(ctx);
    }
    tg_grad_set_enabled(ctx, was);
    tg_status status = TG_ERR_SHAPE;
    if (x) {
        tg_dot_options o = opts ? *opts : (tg_dot_options){0};
        o.group = layer_of;
        o.group_user = &map;
        o.group_separator = 0;
        if (!o.max_values)
            o.max_values = -1;
        status = tg_dot_save(path, 1, &x, &o);
    } else if (tg_ctx_status(ctx) != TG_OK)
        status = tg_ctx_status(ctx);
    free(map.ends);
    free(map.labels);
    return status;
}
