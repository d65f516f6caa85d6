/* Sequential models: modules made from an array of layer specs, applied in
 * order. The model lists its tensors (parameters, then buffers) in layer
 * order, checks the layers' shapes against each other when it knows one
 * sample's input shape, prints a summary, clones itself into another context,
 * and writes and reads its spec as text (model_file.c puts that text in
 * checkpoints). */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include "nn/layers/module_internal.h"
#include "autograd/entry.h"
#include "autograd/internal.h" /* tg_ctx_adopt, tg_ctx_disown */
#include "tapegrad/op.h"

#include <stdlib.h>
#include <string.h>

struct tg_model {
    tg_ctx *ctx;
    tg_dtype dtype;
    int input_rank;
    int64_t input_shape[TG_MAX_RANK];
    int n_layers;
    tg_module **modules;
    int n_params, n_buffers;
    tg_tensor **tensors; /* [n_params + n_buffers]: parameters then buffers, layer by layer */
    bool training;
    /* one sample's output shape after each layer (rank -1: unknown) */
    int *out_rank;
    int64_t (*out_shape)[TG_MAX_RANK];
};

/* The prefix of default names: conv1, maxpool1, dense2, relu1, ... */
static const char *default_prefix(const tg_layer_spec *s)
{
    const tg_layer_kind_def *def = tg_layer_kind_def_of((int)s->kind);
    if (!def)
        return "layer";
    return def->prefix ? def->prefix(s) : def->short_name ? def->short_name : def->name;
}

void tg_model_free(tg_model *model)
{
    if (!model)
        return;
    tg_ctx_disown(model->ctx, model);
    for (int l = 0; l < model->n_layers; l++)
        tg_module_free(model->modules[l]);
    free(model->modules);
    free(model->tensors);
    free(model->out_rank);
    free(model->out_shape);
    free(model);
}

/* Weight tying: m's parameter 0 becomes the parameter 0 of the earlier layer
 * spec.tie names (one tensor, so its gradient sums both uses). */
static tg_status model_tie(tg_model *model, tg_module *m)
{
    char who[96];
    tg_module *owner = NULL;
    for (int k = 0; k < model->n_layers - 1 && !owner; k++)
        if (!strcmp(model->modules[k]->name, m->spec.tie))
            owner = model->modules[k];
    if (!owner || owner->n_params < 1 || m->n_params < 1)
        return tg_ctx_fail(model->ctx, TG_ERR_ARG, "tg_model_new: %s: tie \"%s\"; expected the name of an earlier "
                           "layer with a weight", tg_module_who(m, who, sizeof who), m->spec.tie);
    tg_tensor *own = m->params[0], *shared = owner->params[0];
    int rank = tg_tensor_rank(own);
    if (rank != tg_tensor_rank(shared) ||
        memcmp(tg_tensor_shape(own), tg_tensor_shape(shared), (size_t)rank * sizeof(int64_t)) != 0) {
        char a[64], b[64];
        return tg_ctx_fail(model->ctx, TG_ERR_SHAPE, "tg_model_new: %s: tie to %s: %s has shape %s, %s has shape %s; "
                           "expected equal shapes", tg_module_who(m, who, sizeof who), owner->name,
                           tg_tensor_name(own), tg_shape_str(rank, tg_tensor_shape(own), a, sizeof a),
                           tg_tensor_name(shared),
                           tg_shape_str(tg_tensor_rank(shared), tg_tensor_shape(shared), b, sizeof b));
    }
    tg_tensor_free(own);
    m->params[0] = shared;
    m->tied = true;
    return TG_OK;
}

tg_model *tg_model_new(tg_ctx *ctx, tg_dtype dtype, int input_rank, const int64_t *input_shape, int n_layers,
                       const tg_layer_spec *layers, tg_rng *rng)
{
    if (!ctx)
        return NULL;
    if (n_layers < 1 || !layers || !rng)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_model_new: n_layers = %d, layers %s, rng %s; expected n_layers >= 1 "
                           "and both given", n_layers, layers ? "given" : "NULL", rng ? "given" : "NULL"), NULL;
    if (input_rank < 0 || input_rank >= TG_MAX_RANK || (input_rank > 0 && !input_shape))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_model_new: input rank %d%s; expected 0..%d dims without the batch "
                           "axis", input_rank, input_rank > 0 && !input_shape ? " with a NULL shape" : "",
                           TG_MAX_RANK - 1), NULL;
    for (int a = 0; a < input_rank; a++)
        if (input_shape[a] < 1)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_model_new: input dim %d is %lld; expected >= 1", a,
                               (long long)input_shape[a]), NULL;
    tg_model *model = calloc(1, sizeof *model);
    if (!model)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_model_new: out of memory"), NULL;
    *model = (tg_model){.ctx = ctx, .dtype = dtype, .input_rank = input_rank, .training = true};
    if (tg_ctx_adopt(ctx, model, (void (*)(void *))tg_model_free) != TG_OK) {
        free(model);
        return NULL;
    }
    if (input_rank)
        memcpy(model->input_shape, input_shape, (size_t)input_rank * sizeof *input_shape);
    model->modules = calloc((size_t)n_layers, sizeof *model->modules);
    model->out_rank = calloc((size_t)n_layers, sizeof *model->out_rank);
    model->out_shape = calloc((size_t)n_layers, sizeof *model->out_shape);
    if (!model->modules || !model->out_rank || !model->out_shape) {
        tg_model_free(model);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_model_new: out of memory"), NULL;
    }
    for (int l = 0; l < n_layers; l++) {
        tg_layer_spec spec = layers[l];
        char name[MODULE_NAME_MAX];
        if (!spec.name || !spec.name[0]) { /* the prefix and how many unnamed layers before had it */
            const char *prefix = default_prefix(&spec);
            int count = 1;
            for (int k = 0; k < l; k++)
                count += (!layers[k].name || !layers[k].name[0]) && !strcmp(default_prefix(&layers[k]), prefix);
            snprintf(name, sizeof name, "%.40s%d", prefix, count);
            spec.name = name;
        }
        for (int k = 0; k < l; k++)
            if (strcmp(model->modules[k]->name, spec.name) == 0) {
                tg_ctx_fail(ctx, TG_ERR_ARG, "tg_model_new: layers %d and %d are both named \"%s\"; expected "
                            "distinct names", k + 1, l + 1, spec.name);
                tg_model_free(model);
                return NULL;
            }
        tg_module *m = tg_module_new_for_model(ctx, dtype, &spec, rng);
        if (!m) {
            tg_model_free(model);
            return NULL;
        }
        model->modules[model->n_layers++] = m;
        if (m->spec.tie && model_tie(model, m) != TG_OK) {
            tg_model_free(model);
            return NULL;
        }
        model->n_params += m->n_params - m->tied;
        model->n_buffers += m->n_buffers;
    }
    /* Shapes: one sample (batch 1) through every layer's shape rule. */
    int rank = input_rank ? input_rank + 1 : -1;
    int64_t shape[TG_MAX_RANK] = {1};
    if (input_rank)
        memcpy(shape + 1, input_shape, (size_t)input_rank * sizeof *shape);
    for (int l = 0; l < model->n_layers; l++) {
        model->out_rank[l] = -1;
        if (rank < 0)
            continue;
        int64_t next[TG_MAX_RANK];
        if (tg_module_shape(model->modules[l], rank, shape, &rank, next) != TG_OK) {
            tg_model_free(model);
            return NULL;
        }
        memcpy(shape, next, sizeof shape);
        model->out_rank[l] = rank;
        memcpy(model->out_shape[l], shape, sizeof shape);
    }
    model->tensors = malloc(((size_t)model->n_params + (size_t)model->n_buffers + 1) * sizeof *model->tensors);
    if (!model->tensors) {
        tg_model_free(model);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_model_new: out of memory"), NULL;
    }
    int p = 0, b = model->n_params;
    for (int l = 0; l < model->n_layers; l++) {
        tg_module *m = model->modules[l];
        for (int i = m->tied; i < m->n_params; i++) /* a tied weight is listed once, by its owner */
            model->tensors[p++] = m->params[i];
        for (int i = 0; i < m->n_buffers; i++)
            model->tensors[b++] = m->buffers[i];
    }
    return model;
}

/* Whether layer m with a ReLU last and the max-pool layer after it run as
 * m's pre-activation and one tg_relu_max_pool2d. */
static bool relu_before_max_pool(const tg_module *m, const tg_module *next)
{
    return next && next->kind == &tg_layer_kind_max_pool2d && m->kind->pre_activation &&
           (m->kind->fields & TG_LAYER_USES_ACT) && m->spec.act == TG_ACT_RELU;
}

tg_tensor *tg_model_forward(tg_model *model, tg_tensor *x)
{
    if (!model || !x)
        return NULL;
    /* A flat batch [n, Π input] becomes [n, input...]. */
    if (model->input_rank > 1 && tg_tensor_rank(x) == 2) {
        int64_t size = 1, shape[TG_MAX_RANK] = {tg_tensor_dim(x, 0)};
        for (int a = 0; a < model->input_rank; a++)
            size *= shape[a + 1] = model->input_shape[a];
        if (tg_tensor_dim(x, 1) == size)
            x = tg_reshape(x, model->input_rank + 1, shape);
    }
    for (int l = 0; l < model->n_layers && x; l++) {
        tg_module *m = model->modules[l], *next = l + 1 < model->n_layers ? model->modules[l + 1] : NULL;
        if (!relu_before_max_pool(m, next)) {
            x = tg_module_forward(m, x);
            continue;
        }
        tg_tensor *z = tg_module_accepts(m, x) ? m->kind->pre_activation(m, x) : NULL;
        x = z && tg_module_accepts(next, z)
                ? tg_relu_max_pool2d(z, next->spec.kernel, next->spec.stride, next->spec.padding)
                : NULL;
        l++;
    }
    return x;
}

tg_params tg_model_params(const tg_model *model)
{
    return model ? (tg_params){model->n_params, model->tensors} : (tg_params){0, NULL};
}

tg_params tg_model_buffers(const tg_model *model)
{
    return model ? (tg_params){model->n_buffers, model->tensors + model->n_params} : (tg_params){0, NULL};
}

tg_params tg_model_tensors(const tg_model *model)
{
    return model ? (tg_params){model->n_params + model->n_buffers, model->tensors} : (tg_params){0, NULL};
}

int64_t tg_model_param_count(const tg_model *model) { return tg_params_count(tg_model_params(model)); }
int tg_model_depth(const tg_model *model) { return model ? model->n_layers : 0; }
tg_dtype tg_model_dtype(const tg_model *model) { return model ? model->dtype : TG_F32; }
tg_ctx *tg_model_ctx(const tg_model *model) { return model ? model->ctx : NULL; }

tg_module *tg_model_module(const tg_model *model, int index)
{
    return model && index >= 0 && index < model->n_layers ? model->modules[index] : NULL;
}

tg_module *tg_model_find(const tg_model *model, const char *name)
{
    for (int l = 0; model && name && l < model->n_layers; l++)
        if (strcmp(model->modules[l]->name, name) == 0)
            return model->modules[l];
    return NULL;
}

int tg_model_input_shape(const tg_model *model, int64_t shape[TG_MAX_RANK])
{
    if (!model)
        return 0;
    if (shape)
        memcpy(shape, model->input_shape, sizeof model->input_shape);
    return model->input_rank;
}

void tg_model_set_training(tg_model *model, bool training)
{
    if (!model)
        return;
    model->training = training;
    for (int l = 0; l < model->n_layers; l++)
        tg_module_set_training(model->modules[l], training);
}

bool tg_model_training(const tg_model *model) { return model && model->training; }

void tg_model_reseed(tg_model *model, uint64_t stream)
{
    for (int l = 0; model && l < model->n_layers; l++) {
        tg_rng *rng = &model->modules[l]->rng;
        *rng = tg_rng_seed(tg_rng_next(rng) ^ (stream * 0x9E3779B97F4A7C15ull)); /* k·2⁶⁴/φ spreads the streams */
    }
}

/* ---- summary ---- */

/* 61706 -> "61,706" */
static const char *with_commas(int64_t n, char *buf, size_t size)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", (long long)n);
    size_t j = 0;
    for (int i = 0; i < len && j + 2 < size; i++) {
        if (i > 0 && digits[i - 1] != '-' && (len - i) % 3 == 0)
            buf[j++] = ',';
        buf[j++] = digits[i];
    }
    buf[j] = '\0';
    return buf;
}

void tg_model_print(const tg_model *model, FILE *out)
{
    if (!model)
        return;
    if (!out)
        out = stdout;
    char num[32], buf[96];
    fprintf(out, "Model: %d layers, %s, input %s\n", model->n_layers, tg_dtype_name(model->dtype),
            model->input_rank ? tg_shape_str(model->input_rank, model->input_shape, buf, sizeof buf) : "not given");
    fprintf(out, "  %-12s %-11s %-34s %-14s %-34s %10s\n", "layer", "kind", "settings", "output", "tensors",
            "parameters");
    for (int l = 0; l < model->n_layers; l++) {
        const tg_module *m = model->modules[l];
        char shape[48] = "-", tensors[128] = "", set[96];
        if (model->out_rank[l] > 0)
            tg_shape_str(model->out_rank[l] - 1, model->out_shape[l] + 1, shape, sizeof shape);
        size_t used = 0;
        for (int i = 0; i < m->n_params && used < sizeof tensors; i++) {
            char s[48];
            tg_shape_str(tg_tensor_rank(m->params[i]), tg_tensor_shape(m->params[i]), s, sizeof s);
            used += (size_t)snprintf(tensors + used, sizeof tensors - used, "%s%s", i ? " " : "", s);
        }
        tg_module_describe(m, set, sizeof set);
        if (m->tied)
            snprintf(set + strlen(set), sizeof set - strlen(set), ", weight of %s", m->spec.tie);
        int64_t own = tg_params_count(tg_module_params(m)) - (m->tied ? tg_tensor_size(m->params[0]) : 0);
        fprintf(out, "  %-12s %-11s %-34s %-14s %-34s %10s\n", m->name, m->kind->name, set, shape, tensors,
                with_commas(own, num, sizeof num));
    }
    fprintf(out, "  total parameters: %s", with_commas(tg_model_param_count(model), num, sizeof num));
    if (model->n_buffers)
        fprintf(out, " (and %s buffer values)",
                with_commas(tg_params_count(tg_model_buffers(model)), num, sizeof num));
    fprintf(out, "\n");
}

/* ---- clones ---- */

tg_model *tg_model_clone(const tg_model *model, tg_ctx *ctx)
{
    if (!model || !ctx)
        return NULL;
    for (int l = 0; l < model->n_layers; l++) { /* an activation by a user op: the op in ctx too */
        const tg_module *m = model->modules[l];
        if (m->user_op && !tg_op_find(ctx, m->spec.op) && !tg_op_register(ctx, tg_op_def_of(m->user_op)))
            return NULL;
    }
    tg_layer_spec *specs = malloc((size_t)model->n_layers * sizeof *specs);
    if (!specs)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_model_clone: out of memory"), NULL;
    for (int l = 0; l < model->n_layers; l++)
        specs[l] = model->modules[l]->spec;
    tg_rng rng = tg_rng_seed(1);
    tg_model *copy = tg_model_new(ctx, model->dtype, model->input_rank, model->input_shape, model->n_layers, specs,
                                  &rng);
    free(specs);
    if (!copy)
        return NULL;
    for (int i = 0; i < model->n_params + model->n_buffers; i++)
        tg_tensor_copy(copy->tensors[i], model->tensors[i]);
    for (int l = 0; l < model->n_layers; l++)
        copy->modules[l]->rng = model->modules[l]->rng;
    tg_model_set_training(copy, model->training);
    return copy;
}

tg_tensor *tg_model_forward_fn(void *model, tg_tensor *x) { return tg_model_forward(model, x); }
void *tg_model_clone_fn(const void *model, tg_ctx *ctx) { return tg_model_clone(model, ctx); }
void tg_model_free_fn(void *model) { tg_model_free(model); }
tg_params tg_model_params_fn(const void *model) { return tg_model_params(model); }
tg_params tg_model_buffers_fn(const void *model) { return tg_model_buffers(model); }
void tg_model_reseed_fn(void *model, int worker) { tg_model_reseed(model, (uint64_t)worker); }

bool tg_model_set_training_fn(void *model, bool training)
{
    bool was = tg_model_training(model);
    tg_model_set_training(model, training);
    return was;
}

/* ---- spec text ---- */

char *tg_model_spec_text(const tg_model *model)
{
    if (!model)
        return NULL;
    size_t size = 128 + (size_t)model->n_layers * (3 * MODULE_NAME_MAX + 360), used = 0;
    char *text = malloc(size);
    if (!text)
        return tg_ctx_fail(model->ctx, TG_ERR_NOMEM, "tg_model_spec_text: out of memory"), NULL;
    used += (size_t)snprintf(text + used, size - used, "tapegrad-model 1\ndtype %s\ninput",
                             tg_dtype_name(model->dtype));
    for (int a = 0; a < model->input_rank; a++)
        used += (size_t)snprintf(text + used, size - used, " %lld", (long long)model->input_shape[a]);
    used += (size_t)snprintf(text + used, size - used, "\n");
    for (int l = 0; l < model->n_layers; l++) {
        const tg_layer_spec *s = &model->modules[l]->spec;
        used += (size_t)snprintf(text + used, size - used,
                                 "layer %s name=%s in=%lld out=%lld kernel=%d stride=%d padding=%d act=%s init=%s "
                                 "rate=%.17g eps=%.17g momentum=%.17g seed=%llu%s%s%s",
                                 model->modules[l]->kind->name, s->name, (long long)s->in, (long long)s->out,
                                 s->kernel, s->stride, s->padding, tg_activation_name(s->act), tg_init_name(s->init),
                                 s->rate, s->eps, s->momentum, (unsigned long long)s->seed,
                                 /* only when set: older readers read the rest */
                                 s->last_state ? " last_state=1" : "", s->op ? " op=" : "", s->op ? s->op : "");
        if (s->heads)
            used += (size_t)snprintf(text + used, size - used, " heads=%d causal=%d", s->heads, s->causal ? 1 : 0);
        if (s->tie)
            used += (size_t)snprintf(text + used, size - used, " tie=%s", s->tie);
        used += (size_t)snprintf(text + used, size - used, "\n");
    }
    return text;
}

static int lookup(const char *word, const char *(*name_of)(int), int count)
{
    for (int i = 0; i < count; i++)
        if (strcmp(word, name_of(i)) == 0)
            return i;
    return -1;
}
static const char *act_name_int(int i) { return tg_activation_name((tg_activation)i); }
static const char *init_name_int(int i) { return tg_init_name((tg_init)i); }

/* Reads one "key=value" of a layer line into spec; false when it cannot. */
static bool read_field(char *token, tg_layer_spec *s)
{
    char *eq = strchr(token, '=');
    if (!eq)
        return false;
    *eq = '\0';
    const char *key = token, *value = eq + 1;
    char *end = NULL;
    if (!strcmp(key, "name"))
        s->name = value;
    else if (!strcmp(key, "act")) {
        int act = strcmp(value, "?") ? lookup(value, act_name_int, 32) : -1; /* every tg_activation */
        s->act = (tg_activation)(act < 0 ? 0 : act);
        return act >= 0;
    } else if (!strcmp(key, "init")) {
        int init = lookup(value, init_name_int, TG_INIT_NORMAL + 1);
        s->init = (tg_init)(init < 0 ? 0 : init);
        return init >= 0;
    }
    else if (!strcmp(key, "in"))
        s->in = strtoll(value, &end, 10);
    else if (!strcmp(key, "out"))
        s->out = strtoll(value, &end, 10);
    else if (!strcmp(key, "kernel"))
        s->kernel = (int)strtol(value, &end, 10);
    else if (!strcmp(key, "stride"))
        s->stride = (int)strtol(value, &end, 10);
    else if (!strcmp(key, "padding"))
        s->padding = (int)strtol(value, &end, 10);
    else if (!strcmp(key, "rate"))
        s->rate = strtod(value, &end);
    else if (!strcmp(key, "eps"))
        s->eps = strtod(value, &end);
    else if (!strcmp(key, "momentum"))
        s->momentum = strtod(value, &end);
    else if (!strcmp(key, "seed"))
        s->seed = strtoull(value, &end, 10);
    else if (!strcmp(key, "op"))
        s->op = value;
    else if (!strcmp(key, "tie"))
        s->tie = value;
    else if (!strcmp(key, "heads"))
        s->heads = (int)strtol(value, &end, 10);
    else if (!strcmp(key, "causal")) {
        s->causal = !strcmp(value, "1");
        return s->causal || !strcmp(value, "0");
    }
    else if (!strcmp(key, "last_state")) {
        s->last_state = !strcmp(value, "1");
        return s->last_state || !strcmp(value, "0");
    }
    else
        return false;
    return !end || (end != value && *end == '\0');
}

static tg_model *model_from_spec_text(tg_ctx *ctx, const char *text, tg_rng *rng)
{
    if (!ctx)
        return NULL;
    if (!text)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_model_from_spec_text: text is NULL"), NULL;
    char *copy = malloc(strlen(text) + 1);
    int capacity = 1;
    for (const char *p = text; *p; p++)
        capacity += *p == '\n';
    tg_layer_spec *specs = calloc((size_t)capacity, sizeof *specs);
    if (!copy || !specs) {
        free(copy), free(specs);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_model_from_spec_text: out of memory"), NULL;
    }
    strcpy(copy, text);
    int n_layers = 0, input_rank = 0, line_no = 0, dtype = -1;
    int64_t input[TG_MAX_RANK];
    const char *fail = NULL;
    char unknown[160];
    char *save_line = NULL;
    for (char *line = strtok_r(copy, "\n", &save_line); line && !fail; line = strtok_r(NULL, "\n", &save_line)) {
        line_no++;
        char *save = NULL, *word = strtok_r(line, " ", &save);
        if (line_no == 1) {
            char *version = strtok_r(NULL, " ", &save);
            if (!word || strcmp(word, "tapegrad-model") != 0 || !version || strcmp(version, "1") != 0)
                fail = "expected \"tapegrad-model 1\"";
        } else if (!word)
            continue;
        else if (!strcmp(word, "dtype")) {
            char *d = strtok_r(NULL, " ", &save);
            dtype = d && !strcmp(d, "f32") ? TG_F32 : d && !strcmp(d, "f64") ? TG_F64 : -1;
            if (dtype < 0)
                fail = "expected \"dtype f32\" or \"dtype f64\"";
        } else if (!strcmp(word, "input")) {
            for (char *d; (d = strtok_r(NULL, " ", &save)) && !fail;) {
                char *end;
                long long v = strtoll(d, &end, 10);
                if (*end || v < 1 || input_rank >= TG_MAX_RANK - 1)
                    fail = "expected up to 3 dims >= 1 after \"input\"";
                else
                    input[input_rank++] = v;
            }
        } else if (!strcmp(word, "layer")) {
            tg_layer_spec *s = &specs[n_layers];
            char *kind = strtok_r(NULL, " ", &save);
            int k = tg_layer_kind_find(kind);
            if (k < 0) {
                snprintf(unknown, sizeof unknown, "unknown layer kind \"%.40s\": neither built in nor registered (register "
                         "it with tg_layer_kind_register before loading)", kind ? kind : "");
                fail = unknown;
                break;
            }
            s->kind = (tg_layer_kind)k;
            for (char *token; (token = strtok_r(NULL, " ", &save)) && !fail;)
                if (!read_field(token, s))
                    fail = "a field that is not key=value with a known key and a valid value";
            n_layers++;
        } else
            fail = "expected a \"dtype\", \"input\" or \"layer\" line";
    }
    if (!fail && dtype < 0)
        fail = "no \"dtype\" line";
    tg_model *model = NULL;
    if (fail)
        tg_ctx_fail(ctx, TG_ERR_FORMAT, "tg_model_from_spec_text: spec line %d: %s", line_no, fail);
    else {
        tg_rng fallback = tg_rng_seed(1);
        model = tg_model_new(ctx, (tg_dtype)dtype, input_rank, input_rank ? input : NULL, n_layers, specs,
                             rng ? rng : &fallback);
    }
    free(specs);
    free(copy);
    return model;
}

/* tg_model_new's errors (a layer the spec describes badly) name this function. */
tg_model *tg_model_from_spec_text(tg_ctx *ctx, const char *text, tg_rng *rng)
{
    const char *outer = tg_ctx_enter(ctx, "tg_model_from_spec_text");
    tg_model *model = model_from_spec_text(ctx, text, rng);
    tg_ctx_leave(ctx, outer);
    return model;
}

/* The first architectural difference between a and b, labelled (e.g. "in the
 * file", "in the model"); false when none. Init and seed do not count. */
bool tg_model_spec_diff_labelled(const tg_model *a, const tg_model *b, const char *la, const char *lb, char *buf,
                                 size_t size)
{
    char sa[64], sb[64];
    if (a->dtype != b->dtype)
        return snprintf(buf, size, "dtype is %s %s; %s %s", tg_dtype_name(a->dtype), la, tg_dtype_name(b->dtype), lb),
               true;
    if (a->input_rank != b->input_rank ||
        memcmp(a->input_shape, b->input_shape, (size_t)a->input_rank * sizeof *a->input_shape) != 0)
        return snprintf(buf, size, "input shape is %s %s; %s %s",
                        a->input_rank ? tg_shape_str(a->input_rank, a->input_shape, sa, sizeof sa) : "not given", la,
                        b->input_rank ? tg_shape_str(b->input_rank, b->input_shape, sb, sizeof sb) : "not given", lb),
               true;
    for (int l = 0; l < a->n_layers && l < b->n_layers; l++) {
        const tg_layer_spec *x = &a->modules[l]->spec, *y = &b->modules[l]->spec;
#define DIFF(cond, fmt, va, vb)                                                                                   \
    if (cond)                                                                                                      \
        return snprintf(buf, size, "layer %d (%s): " fmt " %s; " fmt " %s", l + 1, y->name, va, la, vb, lb), true;
        DIFF(x->kind != y->kind, "kind %s", a->modules[l]->kind->name, b->modules[l]->kind->name)
        DIFF(strcmp(x->name, y->name) != 0, "name %s", x->name, y->name)
        DIFF(x->in != y->in, "in is %lld", (long long)x->in, (long long)y->in)
        DIFF(x->out != y->out, "out is %lld", (long long)x->out, (long long)y->out)
        DIFF(x->kernel != y->kernel, "kernel is %d", x->kernel, y->kernel)
        DIFF(x->stride != y->stride, "stride is %d", x->stride, y->stride)
        DIFF(x->padding != y->padding, "padding is %d", x->padding, y->padding)
        DIFF(x->act != y->act, "activation %s", tg_activation_name(x->act), tg_activation_name(y->act))
        DIFF(x->rate != y->rate, "rate is %g", x->rate, y->rate)
        DIFF(x->eps != y->eps, "eps is %g", x->eps, y->eps)
        DIFF(x->momentum != y->momentum, "momentum is %g", x->momentum, y->momentum)
        DIFF(strcmp(x->op ? x->op : "-", y->op ? y->op : "-") != 0, "op %s", x->op ? x->op : "none",
             y->op ? y->op : "none")
        DIFF(x->heads != y->heads, "heads is %d", x->heads, y->heads)
        DIFF(x->causal != y->causal, "attention is %s", x->causal ? "causal" : "not causal",
             y->causal ? "causal" : "not causal")
        DIFF(strcmp(x->tie ? x->tie : "-", y->tie ? y->tie : "-") != 0, "tie %s", x->tie ? x->tie : "none",
             y->tie ? y->tie : "none")
        DIFF(x->last_state != y->last_state, "output is %s", x->last_state ? "the last state" : "every state",
             y->last_state ? "the last state" : "every state")
#undef DIFF
    }
    if (a->n_layers != b->n_layers)
        return snprintf(buf, size, "%d layers %s; %d %s", a->n_layers, la, b->n_layers, lb), true;
    return false;
}

bool tg_model_spec_diff(const tg_model *a, const tg_model *b, char *buf, size_t size)
{
    if (!a || !b || !buf || size == 0)
        return false;
    return tg_model_spec_diff_labelled(a, b, "in the first", "in the second", buf, size);
}
