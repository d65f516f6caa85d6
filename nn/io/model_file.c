/* Self-describing model checkpoints: the model's spec text (model.c) goes
 * into the checkpoint's spec block (checkpoint.c, format version 2) beside
 * its parameters and buffers, so a file rebuilds its model without the code
 * that built it, and a file of another architecture is refused with the first
 * difference named before anything is written. Errors name the function the
 * user called (tg_model_load, not the tg_checkpoint_read_spec it runs). */
#include "autograd/entry.h"
#include "nn/layers/module_internal.h"
#include "tapegrad/checkpoint.h"

#include <stdlib.h>

static tg_status model_save(const tg_model *model, const char *path, const tg_optimizer *opt, int64_t epoch)
{
    if (!model)
        return TG_ERR_ARG;
    tg_ctx *ctx = tg_model_ctx(model);
    char *spec = tg_model_spec_text(model);
    if (!spec)
        return TG_ERR_NOMEM;
    tg_status status = tg_checkpoint_save_spec(ctx, path, spec, tg_model_tensors(model), opt, epoch);
    free(spec);
    return status;
}

static tg_model *model_load(tg_ctx *ctx, const char *path, int64_t *epoch)
{
    if (!ctx)
        return NULL;
    char *spec = NULL;
    if (tg_checkpoint_read_spec(ctx, path, &spec) != TG_OK)
        return NULL;
    if (!spec)
        return tg_ctx_fail(ctx, TG_ERR_FORMAT, "tg_model_load: %s holds no model spec (a version-1 checkpoint of "
                           "bare tensors); load it into a model built in code with tg_model_load_into", path), NULL;
    tg_model *model = tg_model_from_spec_text(ctx, spec, NULL);
    free(spec);
    if (model && tg_checkpoint_load(ctx, path, tg_model_tensors(model), NULL, epoch) != TG_OK) {
        tg_model_free(model);
        model = NULL;
    }
    return model;
}

static tg_status model_load_into(tg_model *model, const char *path, tg_optimizer *opt, int64_t *epoch)
{
    if (!model)
        return TG_ERR_ARG;
    tg_params tensors = tg_model_tensors(model);
    tg_ctx *ctx = tg_model_ctx(model);
    char *spec = NULL;
    tg_status status = tg_checkpoint_read_spec(ctx, path, &spec);
    if (status != TG_OK)
        return status;
    if (spec) { /* compare architectures before the tensors are looked at */
        tg_model *saved = tg_model_from_spec_text(ctx, spec, NULL);
        free(spec);
        if (!saved)
            return tg_ctx_status(ctx) ? tg_ctx_status(ctx) : TG_ERR_FORMAT;
        char diff[400];
        bool differ = tg_model_spec_diff_labelled(saved, model, "in the file", "in the model", diff, sizeof diff);
        tg_model_free(saved);
        if (differ)
            return tg_ctx_fail(ctx, TG_ERR_FORMAT, "tg_model_load_into: %s holds another architecture: %s", path,
                               diff);
    }
    return tg_checkpoint_load(ctx, path, tensors, opt, epoch);
}

tg_status tg_model_save(const tg_model *model, const char *path, const tg_optimizer *opt, int64_t epoch)
{
    tg_ctx *ctx = model ? tg_model_ctx(model) : NULL;
    const char *outer = tg_ctx_enter(ctx, "tg_model_save");
    tg_status status = model_save(model, path, opt, epoch);
    tg_ctx_leave(ctx, outer);
    return status;
}

tg_model *tg_model_load(tg_ctx *ctx, const char *path, int64_t *epoch)
{
    const char *outer = tg_ctx_enter(ctx, "tg_model_load");
    tg_model *model = model_load(ctx, path, epoch);
    tg_ctx_leave(ctx, outer);
    return model;
}

tg_status tg_model_load_into(tg_model *model, const char *path, tg_optimizer *opt, int64_t *epoch)
{
    tg_ctx *ctx = model ? tg_model_ctx(model) : NULL;
    const char *outer = tg_ctx_enter(ctx, "tg_model_load_into");
    tg_status status = model_load_into(model, path, opt, epoch);
    tg_ctx_leave(ctx, outer);
    return status;
}
