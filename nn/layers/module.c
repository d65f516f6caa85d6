/* Modules: one layer made from a tg_layer_spec. What every kind shares lives
 * here: the table of built-in kinds and the registry of user kinds, the
 * spec's checks and defaults (driven by each kind's fields), the module's
 * tensors, and the dispatch of shape and forward to the kind's descriptor.
 * The kinds themselves are one file each, or one file a family (dense.c,
 * conv.c, pool.c, flatten.c, activation.c with dropout, norm.c, embedding.c,
 * recurrent.c): see TG_LAYER_LIST in module_internal.h. */
#include "nn/layers/module_internal.h"
#include "autograd/internal.h" /* tg_ctx_adopt, tg_ctx_disown */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- the kinds: built-in table and user registry ---- */

static const struct {
    int kind;
    const tg_layer_kind_def *def;
} builtin[] = {
#define TG_LAYER_ENTRY(KIND, name) {KIND, &tg_layer_kind_##name},
    TG_LAYER_LIST(TG_LAYER_ENTRY)
#undef TG_LAYER_ENTRY
};
enum { N_BUILTIN = sizeof builtin / sizeof builtin[0], MAX_USER_KINDS = 64, KIND_NAME_MAX = 31 };

/* User kinds: appended under the lock, never removed; a reader that sees
 * n_user (read under the lock) sees the entries below it. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static tg_layer_kind_def user_kinds[MAX_USER_KINDS];
static char user_names[MAX_USER_KINDS][KIND_NAME_MAX + 1];
static int n_user;

static int user_count(void)
{
    pthread_mutex_lock(&registry_lock);
    int n = n_user;
    pthread_mutex_unlock(&registry_lock);
    return n;
}

const tg_layer_kind_def *tg_layer_kind_def_of(int kind)
{
    for (int i = 0; i < N_BUILTIN; i++)
        if (builtin[i].kind == kind)
            return builtin[i].def;
    int user = kind - TG_LAYER_USER;
    return user >= 0 && user < user_count() ? &user_kinds[user] : NULL;
}

int tg_layer_kind_of(const tg_layer_kind_def *def)
{
    for (int i = 0; i < N_BUILTIN; i++)
        if (builtin[i].def == def)
            return builtin[i].kind;
    return def >= user_kinds && def < user_kinds + MAX_USER_KINDS ? TG_LAYER_USER + (int)(def - user_kinds) : -1;
}

const char *tg_layer_kind_name(tg_layer_kind kind)
{
    const tg_layer_kind_def *def = tg_layer_kind_def_of((int)kind);
    return def ? def->name : "?";
}

int tg_layer_kind_find(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < N_BUILTIN; i++)
        if (!strcmp(builtin[i].def->name, name))
            return builtin[i].kind;
    for (int i = 0, n = user_count(); i < n; i++)
        if (!strcmp(user_kinds[i].name, name))
            return TG_LAYER_USER + i;
    return -1;
}

static bool kind_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > KIND_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
            return false;
    return true;
}

static int register_fail(tg_ctx *ctx, const char *fmt, const char *name)
{
    if (ctx)
        tg_ctx_fail(ctx, TG_ERR_ARG, fmt, name);
    return -1;
}

int tg_layer_kind_register(tg_ctx *ctx, const tg_layer_kind_def *def)
{
    if (!def)
        return register_fail(ctx, "tg_layer_kind_register: def is NULL%s", "");
    if (!def->name || !kind_name_ok(def->name))
        return register_fail(ctx, "tg_layer_kind_register: kind name \"%s\"; expected 1 to 31 of a-z, 0-9 and '_'",
                             def->name ? def->name : "(NULL)");
    if (!def->shape || !def->forward || !def->describe)
        return register_fail(ctx, "tg_layer_kind_register: layer kind %s lacks shape, forward or describe; all "
                             "three are required", def->name);
    for (int i = 0; i < N_BUILTIN; i++)
        if (!strcmp(builtin[i].def->name, def->name))
            return register_fail(ctx, "tg_layer_kind_register: %s is a built-in layer kind", def->name);
    pthread_mutex_lock(&registry_lock);
    int kind = -1;
    for (int i = 0; i < n_user && kind < 0; i++)
        if (!strcmp(user_kinds[i].name, def->name)) {
            const tg_layer_kind_def *u = &user_kinds[i];
            bool same = u->shape == def->shape && u->forward == def->forward && u->make == def->make &&
                        u->check == def->check && u->describe == def->describe && u->fields == def->fields;
            kind = same ? TG_LAYER_USER + i : -2;
        }
    if (kind == -1 && n_user < MAX_USER_KINDS) {
        snprintf(user_names[n_user], sizeof user_names[n_user], "%s", def->name);
        user_kinds[n_user] = *def;
        user_kinds[n_user].name = user_names[n_user];
        user_kinds[n_user].c_export = NULL; /* its C would be the exporter's guess: refused instead */
        kind = TG_LAYER_USER + n_user++;
    }
    pthread_mutex_unlock(&registry_lock);
    if (kind == -2)
        return register_fail(ctx, "tg_layer_kind_register: a layer kind named %s is already registered with other "
                             "callbacks; kind names are unique in a process", def->name);
    if (kind < 0)
        return register_fail(ctx, "tg_layer_kind_register: layer kind %s: the registry is full (64 kinds)",
                             def->name);
    return kind;
}

/* ---- names and messages ---- */

const char *tg_module_who(const tg_module *m, char *buf, size_t size)
{
    snprintf(buf, size, "%s layer %s", m->kind->name, m->name);
    return buf;
}

const char *tg_module_describe(const tg_module *m, char *buf, size_t size)
{
    buf[0] = '\0';
    m->kind->describe(&m->spec, buf, size);
    return buf;
}

void tg_layer_describe_in_out(const tg_layer_spec *s, char *buf, size_t size)
{
    const char *act = s->act != TG_ACT_NONE ? tg_activation_name(s->act) : NULL;
    snprintf(buf, size, "%lld->%lld%s%s", (long long)s->in, (long long)s->out, act ? ", " : "", act ? act : "");
}

/* ---- construction ---- */

/* Checks spec against the fields its kind reads and writes it with defaults
 * filled in and unread fields zeroed; TG_OK or the error on ctx. */
static tg_status spec_normalize(tg_ctx *ctx, const tg_layer_kind_def *def, const tg_layer_spec *spec,
                                tg_layer_spec *out)
{
    const char *kind = def->name;
    unsigned uses = def->fields;
    const char *name = spec->name ? spec->name : "";
    if (strlen(name) >= MODULE_NAME_MAX || strchr(name, ' ') || strchr(name, '\n') || strchr(name, '='))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer name \"%s\"; expected fewer than %d bytes "
                           "and no space, newline or '='", kind, name, MODULE_NAME_MAX);
    if (!strcmp(tg_activation_name(spec->act), "?"))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: unknown activation %d", kind, name,
                           (int)spec->act);
    if (!strcmp(tg_init_name(spec->init), "?"))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: unknown init %d", kind, name,
                           (int)spec->init);
    *out = (tg_layer_spec){.kind = spec->kind, .name = spec->name};
    bool needs_in = uses & TG_LAYER_USES_IN, needs_out = uses & TG_LAYER_USES_OUT;
    if ((needs_in && spec->in < 1) || (needs_out && spec->out < 1))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: in = %lld, out = %lld; expected %s >= 1",
                           kind, name, (long long)spec->in, (long long)spec->out,
                           needs_in && needs_out ? "both" : needs_in ? "in" : "out");
    out->in = needs_in ? spec->in : 0;
    out->out = needs_out ? spec->out : 0;
    if (uses & TG_LAYER_USES_WINDOW) {
        if (spec->kernel < 1 || spec->stride < 0 || spec->padding < 0)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: kernel %d, stride %d, padding %d; "
                               "expected kernel >= 1, stride >= 0 (0: default) and padding >= 0", kind, name,
                               spec->kernel, spec->stride, spec->padding);
        out->kernel = spec->kernel, out->stride = spec->stride, out->padding = spec->padding;
    }
    if (uses & TG_LAYER_USES_ACT)
        out->act = spec->act;
    if (uses & TG_LAYER_USES_INIT)
        out->init = spec->init;
    if (uses & TG_LAYER_USES_RATE) {
        if (!(spec->rate >= 0 && spec->rate < 1))
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: rate %g; expected 0 <= p < 1", kind,
                               name, spec->rate);
        out->rate = spec->rate, out->seed = spec->seed;
    }
    if (uses & TG_LAYER_USES_NORM) {
        if (!(spec->eps >= 0) || !(spec->momentum >= 0 && spec->momentum <= 1))
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: eps %g, momentum %g; expected eps >= 0 "
                               "and momentum in [0, 1]", kind, name, spec->eps, spec->momentum);
        out->eps = spec->eps, out->momentum = spec->momentum;
    }
    if (uses & TG_LAYER_USES_LAST_STATE)
        out->last_state = spec->last_state;
    if ((uses & TG_LAYER_USES_OP) && spec->op && spec->op[0])
        out->op = spec->op;
    if (uses & TG_LAYER_USES_HEADS) {
        if (spec->heads < 1)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: heads = %d; expected >= 1", kind, name,
                               spec->heads);
        out->heads = spec->heads, out->causal = spec->causal;
    }
    if ((uses & TG_LAYER_USES_TIE) && spec->tie && spec->tie[0]) {
        if (strlen(spec->tie) >= MODULE_NAME_MAX || strchr(spec->tie, ' ') || strchr(spec->tie, '\n') ||
            strchr(spec->tie, '='))
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: tie \"%.80s\"; expected a layer name",
                               kind, name, spec->tie);
        out->tie = spec->tie;
    }
    char why[160] = "";
    if (def->check && !def->check(out, why, sizeof why))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: %s", kind, name, why);
    return TG_OK;
}

tg_tensor *tg_module_add_tensor(tg_module *m, const char *what, bool param, int rank, const int64_t *shape)
{
    if (!m)
        return NULL;
    char who[96];
    if (!what || (param ? m->n_params >= MODULE_MAX_PARAMS : m->n_buffers >= MODULE_MAX_BUFFERS))
        return tg_ctx_fail(m->ctx, TG_ERR_ARG, "tg_module_add_tensor: %s: %s; expected a name and at most %d "
                           "parameters and %d buffers", tg_module_who(m, who, sizeof who),
                           what ? "too many tensors" : "the tensor has no name", MODULE_MAX_PARAMS,
                           MODULE_MAX_BUFFERS), NULL;
    tg_tensor *t = tg_tensor_new(m->ctx, m->dtype, rank, shape);
    if (!t)
        return NULL;
    char name[MODULE_NAME_MAX + 32];
    snprintf(name, sizeof name, "%s.%s", m->name, what);
    tg_tensor_set_name(t, name);
    if (param) {
        tg_tensor_set_requires_grad(t, true);
        m->params[m->n_params++] = t;
    } else
        m->buffers[m->n_buffers++] = t;
    return t;
}

static tg_module *module_make(tg_ctx *ctx, tg_dtype dtype, const tg_layer_spec *spec, tg_rng *rng, bool for_model)
{
    if (!ctx)
        return NULL;
    if (!spec || !rng)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s is NULL", spec ? "rng" : "spec"), NULL;
    if (dtype != TG_F32 && dtype != TG_F64)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: dtype %s; expected f32 or f64", tg_dtype_name(dtype)),
               NULL;
    const tg_layer_kind_def *def = tg_layer_kind_def_of((int)spec->kind);
    if (!def)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: unknown layer kind %d; expected a TG_LAYER_ value or "
                           "a kind from tg_layer_kind_register", (int)spec->kind), NULL;
    tg_layer_spec s;
    if (spec_normalize(ctx, def, spec, &s) != TG_OK)
        return NULL;
    if (s.tie && !for_model)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: tie \"%s\" names another layer; a tie "
                           "works in a model (tg_model_new), where that layer is", def->name,
                           spec->name ? spec->name : "", s.tie), NULL;
    const tg_op *op = NULL;
    if (s.op && !(op = tg_op_find(ctx, s.op)))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: op \"%s\" is not registered in this "
                           "context; register it with tg_op_register first", def->name,
                           spec->name ? spec->name : "", s.op), NULL;
    tg_module *m = calloc(1, sizeof *m);
    if (!m)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_module_new: out of memory"), NULL;
    *m = (tg_module){.ctx = ctx, .dtype = dtype, .kind = def, .spec = s, .training = true, .user_op = op,
                     .owned_by_model = for_model};
    snprintf(m->name, sizeof m->name, "%s",
             spec->name && spec->name[0] ? spec->name : def->short_name ? def->short_name : def->name);
    m->spec.name = m->name;
    if (s.op) {
        snprintf(m->op, sizeof m->op, "%s", s.op);
        m->spec.op = m->op;
    }
    if (s.tie) {
        snprintf(m->tie, sizeof m->tie, "%s", s.tie);
        m->spec.tie = m->tie;
    }
    /* Dropout draws from its own stream: seeded, or from the model's rng. */
    m->rng = tg_rng_seed((def->fields & TG_LAYER_USES_RATE) && s.seed ? s.seed : tg_rng_next(rng));
    if ((!for_model && tg_ctx_adopt(ctx, m, (void (*)(void *))tg_module_free) != TG_OK) ||
        (def->make && def->make(m, rng) != TG_OK)) {
        tg_module_free(m);
        return NULL;
    }
    return m;
}

tg_module *tg_module_new(tg_ctx *ctx, tg_dtype dtype, const tg_layer_spec *spec, tg_rng *rng)
{
    return module_make(ctx, dtype, spec, rng, false);
}

tg_module *tg_module_new_for_model(tg_ctx *ctx, tg_dtype dtype, const tg_layer_spec *spec, tg_rng *rng)
{
    return module_make(ctx, dtype, spec, rng, true);
}

void tg_module_free(tg_module *m)
{
    if (!m)
        return;
    if (!m->owned_by_model)
        tg_ctx_disown(m->ctx, m);
    for (int i = m->tied ? 1 : 0; i < m->n_params; i++)
        tg_tensor_free(m->params[i]);
    for (int i = 0; i < m->n_buffers; i++)
        tg_tensor_free(m->buffers[i]);
    free(m);
}

/* ---- accessors ---- */

tg_params tg_module_params(const tg_module *m)
{
    return m ? (tg_params){m->n_params, (tg_tensor **)m->params} : (tg_params){0, NULL};
}

tg_params tg_module_buffers(const tg_module *m)
{
    return m ? (tg_params){m->n_buffers, (tg_tensor **)m->buffers} : (tg_params){0, NULL};
}

void tg_module_set_training(tg_module *m, bool training)
{
    if (m)
        m->training = training;
}

const tg_layer_spec *tg_module_spec(const tg_module *m) { return m ? &m->spec : NULL; }
tg_ctx *tg_module_ctx(const tg_module *m) { return m ? m->ctx : NULL; }
tg_dtype tg_module_dtype(const tg_module *m) { return m ? m->dtype : TG_F32; }
bool tg_module_training(const tg_module *m) { return m && m->training; }
tg_rng *tg_module_rng(tg_module *m) { return m ? &m->rng : NULL; }

const char *tg_module_torch_name(const tg_module *m, int i)
{
    if (!m || i < 0 || i >= m->n_params + m->n_buffers)
        return NULL;
    if (m->kind->torch_names)
        return m->kind->torch_names[i];
    const char *name = tg_tensor_name(i < m->n_params ? m->params[i] : m->buffers[i - m->n_params]);
    size_t prefix = strlen(m->name);
    return name && !strncmp(name, m->name, prefix) && name[prefix] == '.' ? name + prefix + 1 : name;
}

/* ---- shapes and forward ---- */

tg_status tg_module_shape_error(const tg_module *m, int rank, const int64_t *shape, const char *expected)
{
    if (!m)
        return TG_ERR_ARG;
    char who[96], buf[64];
    return tg_ctx_fail(m->ctx, TG_ERR_SHAPE, "%s: input has shape %s; expected %s", tg_module_who(m, who, sizeof who),
                       rank >= 0 && (shape || rank == 0) ? tg_shape_str(rank, shape, buf, sizeof buf) : "?",
                       expected ? expected : "another shape");
}

tg_status tg_module_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                          int64_t out_shape[TG_MAX_RANK])
{
    if (rank < 0 || !shape) /* a freed or stale input: its accessor reported it */
        return tg_ctx_status(m->ctx) != TG_OK ? tg_ctx_status(m->ctx) : TG_ERR_FREED;
    *out_rank = rank;
    memcpy(out_shape, shape, (size_t)rank * sizeof *shape);
    tg_status status = m->kind->shape(m, rank, shape, out_rank, out_shape);
    if (status == TG_OK && (*out_rank < 0 || *out_rank > TG_MAX_RANK)) {
        char who[96];
        return tg_ctx_fail(m->ctx, TG_ERR_SHAPE, "%s: its shape rule gave rank %d; expected 0 to %d",
                           tg_module_who(m, who, sizeof who), *out_rank, TG_MAX_RANK);
    }
    if (status != TG_OK && tg_ctx_status(m->ctx) == TG_OK)
        return tg_module_shape_error(m, rank, shape, "a shape the layer's rule accepts");
    return status;
}

bool tg_module_accepts(tg_module *m, const tg_tensor *x)
{
    int out_rank;
    int64_t out_shape[TG_MAX_RANK];
    if (tg_module_shape(m, tg_tensor_rank(x), tg_tensor_shape(x), &out_rank, out_shape) != TG_OK)
        return false;
    if (!(m->kind->fields & TG_LAYER_TAKES_INDICES) && tg_tensor_dtype(x) != m->dtype) {
        char who[96];
        return tg_ctx_fail(m->ctx, TG_ERR_ARG, "%s: input is %s; expected %s like the layer's tensors",
                           tg_module_who(m, who, sizeof who), tg_dtype_name(tg_tensor_dtype(x)),
                           tg_dtype_name(m->dtype)), false;
    }
    return true;
}

tg_tensor *tg_module_identity(tg_module *m, tg_tensor *x)
{
    (void)m;
    return x;
}

tg_tensor *tg_module_forward(tg_module *m, tg_tensor *x)
{
    if (!m || !x || !tg_module_accepts(m, x))
        return NULL;
    return m->kind->forward(m, x);
}
