/* Modules: one layer made from a tg_layer_spec. This file holds what every
 * kind shares (defaults, checks, tensors, shape rules, dispatch) and the
 * small layers: dense, activation, flatten, dropout, embedding. Conv and
 * pooling live in conv_layers.c, the norms in norm.c, the recurrent cells in
 * recurrent.c. Every forward is made of public ops. */
#include "nn/layers/module_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"dense",      "conv2d",     "max_pool2d", "avg_pool2d", "flatten",
                                         "activation", "dropout",    "batch_norm", "layer_norm", "embedding",
                                         "rnn",        "lstm",       "gru"};

static bool kind_ok(tg_layer_kind kind) { return kind >= TG_LAYER_DENSE && kind <= TG_LAYER_GRU; }

const char *tg_layer_kind_name(tg_layer_kind kind) { return kind_ok(kind) ? kind_names[kind] : "?"; }

const char *tg_module_who(const tg_module *m, char *buf, size_t size)
{
    snprintf(buf, size, "%s layer %s", tg_layer_kind_name(m->spec.kind), m->name);
    return buf;
}

static bool is_recurrent(tg_layer_kind kind)
{
    return kind == TG_LAYER_RNN || kind == TG_LAYER_LSTM || kind == TG_LAYER_GRU;
}

/* Gate blocks stacked in a recurrent layer's weights. */
static int64_t gates(tg_layer_kind kind) { return kind == TG_LAYER_LSTM ? 4 : kind == TG_LAYER_GRU ? 3 : 1; }

/* ---- construction ---- */

/* Fills w by init with the given fans (a conv weight's fan_in is in·k·k). */
static void fill_weight(tg_tensor *w, tg_init init, double fan_in, double fan_out, tg_rng *rng)
{
    double limit = sqrt(6.0 / (fan_in + fan_out)); /* Glorot: Var = 2/(in + out) */
    double he_std = sqrt(2.0 / fan_in);            /* He: Var = 2/in */
    for (int64_t i = 0, n = tg_tensor_size(w); i < n; i++) {
        double v = 0;
        switch (init) {
        case TG_INIT_XAVIER: v = limit * (2 * tg_rng_uniform(rng) - 1); break;
        case TG_INIT_HE: v = he_std * tg_rng_normal(rng); break;
        case TG_INIT_ZEROS: v = 0; break;
        case TG_INIT_NORMAL: v = tg_rng_normal(rng); break;
        }
        tg_tensor_set(w, i, v);
    }
}

/* Checks spec and writes it with defaults filled in; TG_OK or the error on ctx. */
static tg_status spec_normalize(tg_ctx *ctx, const tg_layer_spec *spec, tg_layer_spec *out)
{
    const char *kind = tg_layer_kind_name(spec->kind);
    if (!kind_ok(spec->kind))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: unknown layer kind %d; expected a TG_LAYER_ value",
                           (int)spec->kind);
    const char *name = spec->name ? spec->name : "";
    if (strlen(name) >= MODULE_NAME_MAX || strchr(name, ' ') || strchr(name, '\n') || strchr(name, '='))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer name \"%s\"; expected fewer than %d bytes "
                           "and no space, newline or '='", kind, name, MODULE_NAME_MAX);
    if (!strcmp(tg_activation_name(spec->act), "?"))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: unknown activation %d", kind, name,
                           (int)spec->act);
    if (spec->init < TG_INIT_XAVIER || spec->init > TG_INIT_NORMAL)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: unknown init %d", kind, name,
                           (int)spec->init);
    *out = *spec;
    bool needs_in = spec->kind == TG_LAYER_DENSE || spec->kind == TG_LAYER_CONV2D ||
                    spec->kind == TG_LAYER_BATCH_NORM || spec->kind == TG_LAYER_LAYER_NORM ||
                    spec->kind == TG_LAYER_EMBEDDING || is_recurrent(spec->kind);
    bool needs_out = spec->kind == TG_LAYER_DENSE || spec->kind == TG_LAYER_CONV2D ||
                     spec->kind == TG_LAYER_EMBEDDING || is_recurrent(spec->kind);
    bool windowed = spec->kind == TG_LAYER_CONV2D || spec->kind == TG_LAYER_MAX_POOL2D ||
                    spec->kind == TG_LAYER_AVG_POOL2D;
    if ((needs_in && spec->in < 1) || (needs_out && spec->out < 1))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: in = %lld, out = %lld; expected %s >= 1",
                           kind, name, (long long)spec->in, (long long)spec->out,
                           needs_out ? "both" : "in");
    if (!needs_in)
        out->in = 0;
    if (!needs_out)
        out->out = 0;
    if (windowed) {
        if (spec->kernel < 1 || spec->stride < 0 || spec->padding < 0)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: kernel %d, stride %d, padding %d; "
                               "expected kernel >= 1, stride >= 0 (0: default) and padding >= 0", kind, name,
                               spec->kernel, spec->stride, spec->padding);
        if (spec->stride == 0)
            out->stride = spec->kind == TG_LAYER_CONV2D ? 1 : spec->kernel;
    } else
        out->kernel = out->stride = out->padding = 0;
    if (spec->kind != TG_LAYER_DENSE && spec->kind != TG_LAYER_CONV2D && spec->kind != TG_LAYER_ACTIVATION)
        out->act = TG_ACT_NONE;
    if (spec->kind == TG_LAYER_DROPOUT) {
        if (!(spec->rate >= 0 && spec->rate < 1))
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: dropout layer %s: rate %g; expected 0 <= p < 1",
                               name, spec->rate);
    } else
        out->rate = 0, out->seed = 0;
    if (!is_recurrent(spec->kind))
        out->last_state = false;
    bool norm = spec->kind == TG_LAYER_BATCH_NORM || spec->kind == TG_LAYER_LAYER_NORM;
    if (norm) {
        if (!(spec->eps >= 0) || !(spec->momentum >= 0 && spec->momentum <= 1))
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s layer %s: eps %g, momentum %g; expected eps >= 0 "
                               "and momentum in [0, 1]", kind, name, spec->eps, spec->momentum);
        if (spec->eps == 0)
            out->eps = 1e-5;
        if (spec->momentum == 0)
            out->momentum = spec->kind == TG_LAYER_BATCH_NORM ? 0.1 : 0;
    } else
        out->eps = out->momentum = 0;
    bool has_weights = spec->kind == TG_LAYER_DENSE || spec->kind == TG_LAYER_CONV2D ||
                       spec->kind == TG_LAYER_EMBEDDING || is_recurrent(spec->kind);
    if (!has_weights)
        out->init = TG_INIT_XAVIER;
    return TG_OK;
}

/* A persistent tensor named "<module>.<what>", requiring a gradient when it is
 * a parameter. */
static tg_tensor *module_tensor(tg_module *m, const char *what, bool param, int rank, const int64_t *shape)
{
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

static bool make_tensors(tg_module *m, tg_rng *rng)
{
    const tg_layer_spec *s = &m->spec;
    int64_t in = s->in, out = s->out;
    switch (s->kind) {
    case TG_LAYER_DENSE: {
        tg_tensor *w = module_tensor(m, "weight", true, TG_SHAPE(out, in));
        if (!w || !module_tensor(m, "bias", true, TG_SHAPE(out)))
            return false;
        fill_weight(w, s->init, (double)in, (double)out, rng);
        return true;
    }
    case TG_LAYER_CONV2D: {
        int64_t k = s->kernel;
        tg_tensor *w = module_tensor(m, "weight", true, TG_SHAPE(out, in, k, k));
        if (!w || !module_tensor(m, "bias", true, TG_SHAPE(out)))
            return false;
        fill_weight(w, s->init, (double)(in * k * k), (double)(out * k * k), rng);
        return true;
    }
    case TG_LAYER_BATCH_NORM:
    case TG_LAYER_LAYER_NORM: {
        tg_tensor *gamma = module_tensor(m, "weight", true, TG_SHAPE(in));
        if (!gamma || !module_tensor(m, "bias", true, TG_SHAPE(in)))
            return false;
        tg_tensor_fill(gamma, 1);
        if (s->kind == TG_LAYER_LAYER_NORM)
            return true;
        tg_tensor *var = NULL;
        if (!module_tensor(m, "running_mean", false, TG_SHAPE(in)) ||
            !(var = module_tensor(m, "running_var", false, TG_SHAPE(in))))
            return false;
        tg_tensor_fill(var, 1);
        return true;
    }
    case TG_LAYER_EMBEDDING: {
        tg_tensor *w = module_tensor(m, "weight", true, TG_SHAPE(in, out));
        if (!w)
            return false;
        fill_weight(w, s->init, (double)in, (double)out, rng);
        return true;
    }
    case TG_LAYER_RNN:
    case TG_LAYER_LSTM:
    case TG_LAYER_GRU: {
        int64_t g = gates(s->kind);
        tg_tensor *w_ih = module_tensor(m, "weight_ih", true, TG_SHAPE(g * out, in));
        tg_tensor *w_hh = w_ih ? module_tensor(m, "weight_hh", true, TG_SHAPE(g * out, out)) : NULL;
        tg_tensor *b_ih = w_hh ? module_tensor(m, "bias_ih", true, TG_SHAPE(g * out)) : NULL;
        if (!b_ih || !module_tensor(m, "bias_hh", true, TG_SHAPE(g * out)))
            return false;
        fill_weight(w_ih, s->init, (double)in, (double)out, rng);
        fill_weight(w_hh, s->init, (double)out, (double)out, rng);
        if (s->kind == TG_LAYER_LSTM) /* forget gate open at the start: gradients flow through c */
            for (int64_t i = out; i < 2 * out; i++)
                tg_tensor_set(b_ih, i, 1);
        return true;
    }
    default: return true;
    }
}

tg_module *tg_module_new(tg_ctx *ctx, tg_dtype dtype, const tg_layer_spec *spec, tg_rng *rng)
{
    if (!ctx)
        return NULL;
    if (!spec || !rng)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: %s is NULL", spec ? "rng" : "spec"), NULL;
    if (dtype != TG_F32 && dtype != TG_F64)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_module_new: dtype %s; expected f32 or f64", tg_dtype_name(dtype)),
               NULL;
    tg_layer_spec s;
    if (spec_normalize(ctx, spec, &s) != TG_OK)
        return NULL;
    tg_module *m = calloc(1, sizeof *m);
    if (!m)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_module_new: out of memory"), NULL;
    *m = (tg_module){.ctx = ctx, .dtype = dtype, .spec = s, .training = true};
    if (spec->name && spec->name[0])
        snprintf(m->name, sizeof m->name, "%s", spec->name);
    else
        snprintf(m->name, sizeof m->name, "%s", s.kind == TG_LAYER_CONV2D ? "conv" : tg_layer_kind_name(s.kind));
    m->spec.name = m->name;
    /* Dropout draws from its own stream: seeded, or from the model's rng. */
    m->rng = tg_rng_seed(s.kind == TG_LAYER_DROPOUT && s.seed ? s.seed : tg_rng_next(rng));
    if (!make_tensors(m, rng)) {
        tg_module_free(m);
        return NULL;
    }
    return m;
}

void tg_module_free(tg_module *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_params; i++)
        tg_tensor_free(m->params[i]);
    for (int i = 0; i < m->n_buffers; i++)
        tg_tensor_free(m->buffers[i]);
    free(m);
}

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

/* ---- shapes ---- */

static tg_status shape_fail(const tg_module *m, int rank, const int64_t *shape, const char *expected)
{
    char who[96], buf[64];
    return tg_ctx_fail(m->ctx, TG_ERR_SHAPE, "%s: input has shape %s; expected %s", tg_module_who(m, who, sizeof who),
                       tg_shape_str(rank, shape, buf, sizeof buf), expected);
}

tg_status tg_module_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                          int64_t out_shape[TG_MAX_RANK])
{
    const tg_layer_spec *s = &m->spec;
    char want[160];
    if (rank < 0 || !shape) /* a freed or stale input: its accessor reported it */
        return tg_ctx_status(m->ctx) != TG_OK ? tg_ctx_status(m->ctx) : TG_ERR_FREED;
    *out_rank = rank;
    memcpy(out_shape, shape, (size_t)rank * sizeof *shape);
    switch (s->kind) {
    case TG_LAYER_DENSE:
    case TG_LAYER_LAYER_NORM:
        if (rank < 1 || shape[rank - 1] != s->in) {
            snprintf(want, sizeof want, "[..., %lld] (the last axis of size in = %lld)", (long long)s->in,
                     (long long)s->in);
            return shape_fail(m, rank, shape, want);
        }
        if (s->kind == TG_LAYER_DENSE)
            out_shape[rank - 1] = s->out;
        return TG_OK;
    case TG_LAYER_CONV2D:
    case TG_LAYER_MAX_POOL2D:
    case TG_LAYER_AVG_POOL2D: {
        bool conv = s->kind == TG_LAYER_CONV2D;
        if (rank != 4 || (conv && shape[1] != s->in)) {
            if (conv)
                snprintf(want, sizeof want, "[n, %lld, h, w] (rank 4, NCHW, %lld input channels%s)",
                         (long long)s->in, (long long)s->in,
                         rank == 4 ? "; the channels do not match the weight" : "");
            else
                snprintf(want, sizeof want, "[n, c, h, w] (rank 4, NCHW)");
            return shape_fail(m, rank, shape, want);
        }
        for (int a = 2; a < 4; a++) {
            int64_t padded = shape[a] + 2 * (int64_t)s->padding;
            if (padded < s->kernel) {
                snprintf(want, sizeof want, "h and w + 2·padding (%d) >= kernel %d", s->padding, s->kernel);
                return shape_fail(m, rank, shape, want);
            }
            out_shape[a] = (padded - s->kernel) / s->stride + 1;
        }
        if (conv)
            out_shape[1] = s->out;
        return TG_OK;
    }
    case TG_LAYER_FLATTEN: {
        if (rank < 1)
            return shape_fail(m, rank, shape, "[n, ...] (rank >= 1)");
        int64_t rest = 1;
        for (int a = 1; a < rank; a++)
            rest *= shape[a];
        *out_rank = 2;
        out_shape[1] = rest;
        return TG_OK;
    }
    case TG_LAYER_ACTIVATION:
    case TG_LAYER_DROPOUT: return TG_OK;
    case TG_LAYER_BATCH_NORM:
        if (rank < 2 || shape[1] != s->in) {
            snprintf(want, sizeof want, "[n, %lld] or [n, %lld, ...] (%lld features or channels on axis 1)",
                     (long long)s->in, (long long)s->in, (long long)s->in);
            return shape_fail(m, rank, shape, want);
        }
        return TG_OK;
    case TG_LAYER_EMBEDDING:
        if (rank >= TG_MAX_RANK) {
            snprintf(want, sizeof want, "indices of rank < %d", TG_MAX_RANK);
            return shape_fail(m, rank, shape, want);
        }
        *out_rank = rank + 1;
        out_shape[rank] = s->out;
        return TG_OK;
    case TG_LAYER_RNN:
    case TG_LAYER_LSTM:
    case TG_LAYER_GRU:
        if (rank != 3 || shape[2] != s->in) {
            snprintf(want, sizeof want, "a sequence [T, B, %lld] (rank 3: time, batch, %lld features)",
                     (long long)s->in, (long long)s->in);
            return shape_fail(m, rank, shape, want);
        }
        if (s->last_state) { /* h_T [B, out] */
            *out_rank = 2;
            out_shape[0] = shape[1];
            out_shape[1] = s->out;
        } else
            out_shape[2] = s->out;
        return TG_OK;
    }
    return tg_ctx_fail(m->ctx, TG_ERR_ARG, "tg_module_forward: unknown layer kind %d", (int)s->kind);
}

/* ---- the small layers ---- */

/* z = x·Wᵀ + b over the last axis; leading axes are folded into rows. */
static tg_tensor *dense_forward(tg_module *m, tg_tensor *x)
{
    int rank = tg_tensor_rank(x);
    const int64_t *shape = tg_tensor_shape(x);
    if (rank == 2)
        return tg_add(tg_matmul_t(x, m->params[0], false, true), m->params[1]);
    int64_t rows = tg_tensor_size(x) / m->spec.in, out_shape[TG_MAX_RANK];
    memcpy(out_shape, shape, (size_t)rank * sizeof *shape);
    out_shape[rank - 1] = m->spec.out;
    tg_tensor *x2 = tg_reshape(x, TG_SHAPE(rows, m->spec.in));
    tg_tensor *z = tg_add(tg_matmul_t(x2, m->params[0], false, true), m->params[1]);
    return tg_reshape(z, rank, out_shape);
}

/* y = x·mask, mask = 1/(1-p) with probability 1-p, else 0 (expectation x). */
static tg_tensor *dropout_forward(tg_module *m, tg_tensor *x)
{
    double p = m->spec.rate;
    if (!m->training || p == 0)
        return x;
    tg_tensor *mask = tg_tensor_temp(m->ctx, tg_tensor_dtype(x), tg_tensor_rank(x), tg_tensor_shape(x));
    if (!mask)
        return NULL;
    double keep = 1 / (1 - p);
    int64_t n = tg_tensor_size(mask);
    if (tg_tensor_dtype(mask) == TG_F32) {
        float *v = tg_tensor_data(mask);
        for (int64_t i = 0; i < n; i++)
            v[i] = tg_rng_uniform(&m->rng) < p ? 0.0f : (float)keep;
    } else {
        double *v = tg_tensor_data(mask);
        for (int64_t i = 0; i < n; i++)
            v[i] = tg_rng_uniform(&m->rng) < p ? 0.0 : keep;
    }
    return tg_mul(x, mask);
}

/* Rows of W [in, out] picked by the indices: out[..., :] = W[index[...], :]. */
static tg_tensor *embedding_forward(tg_module *m, tg_tensor *x)
{
    int64_t n = tg_tensor_size(x);
    tg_tensor *index = tg_tensor_temp(m->ctx, TG_I64, TG_SHAPE(n));
    if (!index)
        return NULL;
    int64_t *idx = tg_tensor_data(index);
    for (int64_t i = 0; i < n; i++) {
        double v = tg_tensor_get(x, i);
        if (!(v >= 0 && v < (double)m->spec.in && v == floor(v))) {
            char who[96], buf[64];
            return tg_ctx_fail(m->ctx, TG_ERR_ARG, "%s: index %g at flat position %lld of the input %s; expected "
                               "a whole number in [0, %lld)", tg_module_who(m, who, sizeof who), v, (long long)i,
                               tg_shape_str(tg_tensor_rank(x), tg_tensor_shape(x), buf, sizeof buf),
                               (long long)m->spec.in), NULL;
        }
        idx[i] = (int64_t)v;
    }
    int rank = tg_tensor_rank(x);
    int64_t shape[TG_MAX_RANK];
    memcpy(shape, tg_tensor_shape(x), (size_t)rank * sizeof *shape);
    shape[rank] = m->spec.out;
    return tg_reshape(tg_index_select(m->params[0], 0, index), rank + 1, shape);
}

tg_tensor *tg_module_forward(tg_module *m, tg_tensor *x)
{
    if (!m || !x)
        return NULL;
    int out_rank;
    int64_t out_shape[TG_MAX_RANK];
    if (tg_module_shape(m, tg_tensor_rank(x), tg_tensor_shape(x), &out_rank, out_shape) != TG_OK)
        return NULL;
    if (m->spec.kind != TG_LAYER_EMBEDDING && tg_tensor_dtype(x) != m->dtype) {
        char who[96];
        return tg_ctx_fail(m->ctx, TG_ERR_ARG, "%s: input is %s; expected %s like the layer's tensors",
                           tg_module_who(m, who, sizeof who), tg_dtype_name(tg_tensor_dtype(x)),
                           tg_dtype_name(m->dtype)), NULL;
    }
    switch (m->spec.kind) {
    case TG_LAYER_DENSE: return tg_activate(dense_forward(m, x), m->spec.act);
    case TG_LAYER_CONV2D:
    case TG_LAYER_MAX_POOL2D:
    case TG_LAYER_AVG_POOL2D: return tg_conv_layer_forward(m, x);
    case TG_LAYER_FLATTEN: return tg_reshape(x, out_rank, out_shape);
    case TG_LAYER_ACTIVATION: return tg_activate(x, m->spec.act);
    case TG_LAYER_DROPOUT: return dropout_forward(m, x);
    case TG_LAYER_BATCH_NORM:
    case TG_LAYER_LAYER_NORM: return tg_norm_layer_forward(m, x);
    case TG_LAYER_EMBEDDING: return embedding_forward(m, x);
    case TG_LAYER_RNN:
    case TG_LAYER_LSTM:
    case TG_LAYER_GRU: return tg_recurrent_layer_forward(m, x);
    }
    return NULL;
}
