/* A model's tensors in and out of safetensors files under PyTorch's
 * state_dict names, so that a torch.nn.Sequential of the same layers loads
 * tapegrad's file with load_state_dict(strict=True) and tapegrad loads
 * PyTorch's.
 *
 * The names: PyTorch numbers the modules of an nn.Sequential, and a tapegrad
 * dense or conv layer with an activation is two of them (Linear, then ReLU),
 * so LeNet's conv layers are "0" and "3". A layer keeps its number unless
 * the user named it (tg_layer_spec.name), then its name is the prefix
 * ("conv1.weight", as a Sequential built from an OrderedDict). After the
 * prefix comes the kind's torch_names entry ("weight", "bias_hh_l0",
 * "running_var"). Batch norm adds PyTorch's "num_batches_tracked", an I64
 * scalar tapegrad does not keep (its momentum is never None): written as 0,
 * and checked but not read on the way in. */
#include "nn/layers/module_internal.h"
#include "tapegrad/safetensors.h"

#include <stdlib.h>
#include <string.h>

#define TORCH_NAME_MAX (MODULE_NAME_MAX + 48)
#define SHOWN_ENTRIES 6 /* file entries listed in a "no such entry" message */
#define MAPPED_NAME_MAX 1024 /* bytes of a name a name map gives ("model.encoder.layers.3. ...") */

typedef char torch_name[TORCH_NAME_MAX];
typedef char mapped_name[MAPPED_NAME_MAX];

static bool is_batch_norm(const tg_module *m) { return m->kind == &tg_layer_kind_batch_norm; }

/* The model's default-name prefix of a layer, as tg_model_new gives it. */
static const char *default_prefix(const tg_module *m)
{
    const tg_layer_kind_def *def = m->kind;
    return def->prefix ? def->prefix(&m->spec) : def->short_name ? def->short_name : def->name;
}

/* The state_dict prefix of every layer ("0", "3", or the user's name) into
 * prefix[n_layers]. A layer is numbered when its name is the default
 * tg_model_new would give it (its prefix and count among the numbered layers
 * before it); its number is its position in the equivalent nn.Sequential,
 * where an activation fused into a dense or conv layer takes a slot. */
static void layer_prefixes(const tg_model *model, torch_name *prefix)
{
    int n = tg_model_depth(model), slot = 0;
    bool *numbered = calloc((size_t)n, sizeof *numbered);
    for (int l = 0; l < n; l++) {
        const tg_module *m = tg_model_module(model, l);
        const char *kind_prefix = default_prefix(m);
        int count = 1;
        for (int k = 0; numbered && k < l; k++)
            count += numbered[k] && !strcmp(default_prefix(tg_model_module(model, k)), kind_prefix);
        char expected[MODULE_NAME_MAX + 16];
        snprintf(expected, sizeof expected, "%.40s%d", kind_prefix, count);
        bool by_number = !strcmp(m->name, expected);
        if (numbered)
            numbered[l] = by_number;
        if (by_number)
            snprintf(prefix[l], sizeof prefix[l], "%d", slot);
        else
            snprintf(prefix[l], sizeof prefix[l], "%s", m->name);
        bool separate_activation = (m->kind->fields & TG_LAYER_USES_ACT) && m->kind != &tg_layer_kind_activation &&
                                   m->spec.act != TG_ACT_NONE;
        slot += 1 + separate_activation;
    }
    free(numbered);
}

/* Tensor i of tg_model_tensors (parameters of every layer, then buffers):
 * its module and its index among the module's tensors (parameters then
 * buffers); false when i is out of range. */
static bool locate(const tg_model *model, int i, int *layer, int *local)
{
    int n_params = tg_model_params(model).count;
    bool buffer = i >= n_params;
    int rest = buffer ? i - n_params : i;
    for (int l = 0; l < tg_model_depth(model); l++) {
        const tg_module *m = tg_model_module(model, l);
        int here = buffer ? m->n_buffers : m->n_params;
        if (rest < here) {
            *layer = l;
            *local = buffer ? m->n_params + rest : rest;
            return true;
        }
        rest -= here;
    }
    return false;
}

const char *tg_model_torch_name(const tg_model *model, int i, char *buf, size_t size)
{
    int layer, local;
    if (!model || !buf || size == 0 || i < 0 || !locate(model, i, &layer, &local))
        return NULL;
    torch_name *prefix = malloc((size_t)tg_model_depth(model) * sizeof *prefix);
    if (!prefix)
        return tg_ctx_fail(tg_model_ctx(model), TG_ERR_NOMEM, "tg_model_torch_name: out of memory"), NULL;
    layer_prefixes(model, prefix);
    snprintf(buf, size, "%s.%s", prefix[layer], tg_module_torch_name(tg_model_module(model, layer), local));
    free(prefix);
    return buf;
}

/* ---- saving ---- */

tg_status tg_model_save_safetensors(const tg_model *model, const char *path)
{
    if (!model || !path)
        return tg_ctx_fail(tg_model_ctx(model), TG_ERR_ARG, "tg_model_save_safetensors: NULL %s",
                           model ? "path" : "model");
    tg_ctx *ctx = tg_model_ctx(model);
    int n_layers = tg_model_depth(model), n_items = 0, capacity = tg_model_tensors(model).count;
    for (int l = 0; l < n_layers; l++)
        capacity += is_batch_norm(tg_model_module(model, l));
    torch_name *prefix = malloc((size_t)n_layers * sizeof *prefix);
    torch_name *names = malloc((size_t)(capacity + 1) * sizeof *names);
    tg_named_tensor *items = malloc((size_t)(capacity + 1) * sizeof *items);
    tg_tensor *zero = tg_tensor_new(ctx, TG_I64, 0, NULL); /* num_batches_tracked */
    char *spec = tg_model_spec_text(model);
    tg_status status = TG_OK;
    if (!prefix || !names || !items || !zero || !spec) {
        status = tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_model_save_safetensors: out of memory");
        goto done;
    }
    layer_prefixes(model, prefix);
    /* layer by layer, as a state_dict: weight, bias, running_mean, running_var, num_batches_tracked */
    for (int l = 0; l < n_layers; l++) {
        tg_module *m = tg_model_module(model, l);
        for (int i = 0; i < m->n_params + m->n_buffers; i++) {
            snprintf(names[n_items], sizeof names[n_items], "%s.%s", prefix[l], tg_module_torch_name(m, i));
            items[n_items].name = names[n_items];
            items[n_items++].tensor = i < m->n_params ? m->params[i] : m->buffers[i - m->n_params];
        }
        if (is_batch_norm(m)) {
            snprintf(names[n_items], sizeof names[n_items], "%s.num_batches_tracked", prefix[l]);
            items[n_items].name = names[n_items];
            items[n_items++].tensor = zero;
        }
    }
    /* the spec rides along, so a tapegrad reader knows the architecture */
    tg_safetensors_meta meta[] = {{"format", "pt"}, {"tapegrad_model", spec}};
    status = tg_safetensors_save(ctx, path, n_items, items, 2, meta);
done:
    free(spec);
    tg_tensor_free(zero);
    free(items);
    free(names);
    free(prefix);
    return status;
}

/* ---- loading ---- */

static const char *float_dtypes[] = {"F32", "F64", "BF16", "F16"};

static bool is_float_entry(const char *dtype)
{
    for (size_t k = 0; k < sizeof float_dtypes / sizeof *float_dtypes; k++)
        if (!strcmp(dtype, float_dtypes[k]))
            return true;
    return false;
}

/* "[120, 400]" */
static const char *dims_text(int rank, const int64_t *shape, char *buf, size_t size)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < rank && at < size; d++)
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (at < size)
        snprintf(buf + at, size - at, "]");
    return buf;
}

/* The first few entry names of the file, for a message. */
static const char *entries_text(const tg_safetensors *st, char *buf, size_t size)
{
    int n = tg_safetensors_count(st);
    size_t at = 0;
    buf[0] = 0;
    for (int j = 0; j < n && j < SHOWN_ENTRIES && at < size; j++)
        at += (size_t)snprintf(buf + at, size - at, "%s\"%.60s\"", j ? ", " : "", tg_safetensors_name(st, j));
    if (n > SHOWN_ENTRIES && at < size)
        snprintf(buf + at, size - at, ", ... (%d in all)", n);
    return buf;
}

/* Whether entry file_name fits tensor t of the model (named torch_name
 * there); otherwise the error is raised naming both sides. */
static bool entry_fits(tg_ctx *ctx, tg_safetensors *st, const char *path, const char *file_name, const tg_tensor *t,
                       const char *tensor_name)
{
    const char *who = "tg_model_load_safetensors";
    char dims[160], file_dims[160], listed[512];
    int j = tg_safetensors_find(st, file_name);
    if (j < 0)
        return tg_ctx_fail(ctx, TG_ERR_FORMAT, "%s: %s: no entry \"%.160s\" for %s %s (%s); the file has %s", who,
                           path, file_name, tensor_name, dims_text(tg_tensor_rank(t), tg_tensor_shape(t), dims,
                                                                   sizeof dims),
                           tg_dtype_name(tg_tensor_dtype(t)), entries_text(st, listed, sizeof listed)), false;
    const char *dtype = tg_safetensors_dtype(st, j);
    int rank = tg_safetensors_rank(st, j);
    const int64_t *shape = tg_safetensors_shape(st, j);
    bool same = rank == tg_tensor_rank(t) && is_float_entry(dtype);
    for (int d = 0; same && d < rank; d++)
        same = shape[d] == tg_tensor_dim(t, d);
    if (!same)
        return tg_ctx_fail(ctx, TG_ERR_FORMAT, "%s: %s: entry \"%.160s\" is %s %s in the file; the model's %s is %s %s",
                           who, path, file_name, dtype, dims_text(rank, shape, file_dims, sizeof file_dims),
                           tensor_name, tg_dtype_name(tg_tensor_dtype(t)),
                           dims_text(tg_tensor_rank(t), tg_tensor_shape(t), dims, sizeof dims)), false;
    return true;
}

tg_status tg_model_load_safetensors(tg_model *model, const char *path, tg_torch_name_fn map, void *user)
{
    const char *who = "tg_model_load_safetensors";
    if (!model || !path)
        return tg_ctx_fail(tg_model_ctx(model), TG_ERR_ARG, "%s: NULL %s", who, model ? "path" : "model");
    tg_ctx *ctx = tg_model_ctx(model);
    tg_safetensors *st = tg_safetensors_open(ctx, path);
    if (!st)
        return tg_ctx_status(ctx);
    int n_layers = tg_model_depth(model), n_items = 0, capacity = tg_model_tensors(model).count;
    int n_entries = tg_safetensors_count(st);
    torch_name *prefix = malloc((size_t)n_layers * sizeof *prefix);
    mapped_name *names = malloc((size_t)(capacity + 1) * sizeof *names);
    tg_named_tensor *items = malloc((size_t)(capacity + 1) * sizeof *items);
    bool *used = calloc((size_t)n_entries + 1, sizeof *used);
    tg_status status = TG_OK;
    if (!prefix || !names || !items || !used) {
        status = tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: out of memory", who);
        goto done;
    }
    layer_prefixes(model, prefix);
    /* 1. every tensor of the model against its entry: names, shapes, dtypes */
    for (int l = 0; l < n_layers && status == TG_OK; l++) {
        tg_module *m = tg_model_module(model, l);
        for (int i = 0; i < m->n_params + m->n_buffers && status == TG_OK; i++) {
            char own[TORCH_NAME_MAX], described[TORCH_NAME_MAX + MODULE_NAME_MAX + 16];
            snprintf(own, sizeof own, "%s.%s", prefix[l], tg_module_torch_name(m, i));
            const char *file_name = map ? map(own, user) : own;
            if (!file_name)
                continue; /* the map leaves this tensor as it is */
            if (strlen(file_name) >= sizeof names[n_items]) {
                status = tg_ctx_fail(ctx, TG_ERR_ARG, "%s: the name map gave a name of %zu bytes for \"%s\"; "
                                     "expected fewer than %d", who, strlen(file_name), own, MAPPED_NAME_MAX);
                break;
            }
            tg_tensor *t = i < m->n_params ? m->params[i] : m->buffers[i - m->n_params];
            snprintf(described, sizeof described, "%s (layer %s)", own, m->name);
            if (!entry_fits(ctx, st, path, file_name, t, described)) {
                status = tg_ctx_status(ctx);
                break;
            }
            used[tg_safetensors_find(st, file_name)] = true;
            snprintf(names[n_items], sizeof names[n_items], "%s", file_name);
            items[n_items].name = names[n_items];
            items[n_items++].tensor = t;
        }
        /* PyTorch's batch counter: checked when present, not read */
        char counter[TORCH_NAME_MAX + 32];
        snprintf(counter, sizeof counter, "%s.num_batches_tracked", prefix[l]);
        const char *file_counter = is_batch_norm(m) && status == TG_OK ? (map ? map(counter, user) : counter) : NULL;
        int j = file_counter ? tg_safetensors_find(st, file_counter) : -1;
        if (j >= 0) {
            if (strcmp(tg_safetensors_dtype(st, j), "I64") != 0 || tg_safetensors_rank(st, j) > 1) {
                char dims[160];
                status = tg_ctx_fail(ctx, TG_ERR_FORMAT, "%s: %s: entry \"%.160s\" is %s %s in the file; PyTorch's "
                                     "num_batches_tracked of layer %s is I64 []", who, path, file_counter,
                                     tg_safetensors_dtype(st, j), dims_text(tg_safetensors_rank(st, j),
                                                                            tg_safetensors_shape(st, j), dims,
                                                                            sizeof dims), m->name);
            }
            used[j] = true;
        }
    }
    /* 2. without a map, the file holds the model and nothing else (PyTorch's strict=True) */
    for (int j = 0; !map && j < n_entries && status == TG_OK; j++)
        if (!used[j]) {
            char rank_text[160];
            status = tg_ctx_fail(ctx, TG_ERR_FORMAT, "%s: %s: entry \"%.160s\" (%s %s) is no tensor of the model "
                                 "(%d tensors, the first \"%s\"); a name map can select the entries to read", who,
                                 path, tg_safetensors_name(st, j), tg_safetensors_dtype(st, j),
                                 dims_text(tg_safetensors_rank(st, j), tg_safetensors_shape(st, j), rank_text,
                                           sizeof rank_text), n_items, n_items ? items[0].name : "");
        }
    /* 3. all values, or none */
    if (status == TG_OK)
        status = tg_safetensors_load(st, n_items, items);
done:
    free(used);
    free(items);
    free(names);
    free(prefix);
    tg_safetensors_close(st);
    return status;
}
