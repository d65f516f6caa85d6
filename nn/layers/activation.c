/* The elementwise layer kinds (no tensors, the shape unchanged) and
 * tg_activate: the activation kind applies f by a tg_activation, or a
 * one-input user op named in the spec (tapegrad/op.h), e.g. an activation of
 * your own with its backward; the dropout kind masks in training mode. */
#include "nn/io/export_c_writer.h"
#include "nn/layers/module_internal.h"
#include "tapegrad/op.h"

static bool activation_ok(tg_activation act) { return act >= TG_ACT_NONE && act <= TG_ACT_GELU_TANH; }

const char *tg_activation_name(tg_activation act)
{
    static const char *names[] = {"none", "sigmoid", "tanh", "relu", "leaky_relu",
                                  "elu", "softplus", "silu", "gelu", "gelu_tanh"};
    return activation_ok(act) ? names[act] : "?";
}

tg_tensor *tg_activate(tg_tensor *x, tg_activation act)
{
    if (!x)
        return NULL;
    switch (act) {
    case TG_ACT_NONE: return x;
    case TG_ACT_SIGMOID: return tg_sigmoid(x);
    case TG_ACT_TANH: return tg_tanh(x);
    case TG_ACT_RELU: return tg_relu(x);
    case TG_ACT_LEAKY_RELU: return tg_leaky_relu(x, 0.01);
    case TG_ACT_ELU: return tg_elu(x, 1);
    case TG_ACT_SOFTPLUS: return tg_softplus(x);
    case TG_ACT_SILU: return tg_silu(x);
    case TG_ACT_GELU: return tg_gelu(x);
    case TG_ACT_GELU_TANH: return tg_gelu_tanh(x);
    }
    tg_ctx_fail(tg_tensor_ctx(x), TG_ERR_ARG, "tg_activate: unknown activation %d; expected a TG_ACT_ value",
                (int)act);
    return NULL;
}

/* ---- the activation layer kind ---- */

static bool activation_check(tg_layer_spec *s, char *why, size_t size)
{
    if (s->op && s->act != TG_ACT_NONE) {
        snprintf(why, size, "both act %s and op %s; expected one", tg_activation_name(s->act), s->op);
        return false;
    }
    return true;
}

static tg_status same_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                            int64_t out_shape[TG_MAX_RANK])
{
    (void)m, (void)rank, (void)shape, (void)out_rank, (void)out_shape;
    return TG_OK;
}

static tg_tensor *activation_forward(tg_module *m, tg_tensor *x)
{
    if (m->user_op) /* the op was found in the module's context when the module was made */
        return tg_op_apply(m->user_op, 1, &x, NULL);
    return tg_activate(x, m->spec.act);
}

static void activation_describe(const tg_layer_spec *s, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", s->op ? "op " : "", s->op ? s->op : tg_activation_name(s->act));
}

static const char *activation_prefix(const tg_layer_spec *s)
{
    return s->op ? s->op : s->act == TG_ACT_NONE ? "identity" : tg_activation_name(s->act);
}

static int elementwise_sample(const tg_layer_spec *s, int64_t shape[TG_MAX_RANK])
{
    (void)s;
    shape[0] = 3, shape[1] = 5;
    return 2;
}

/* C export: a copy, then the generic act_<name> the exporter writes for every
 * layer with an activation; an activation of none is no code. */
static const char activation_c_kernel[] =
    "static void copy(const float *x, float *y, long n)\n{\n    for (long i = 0; i < n; i++)\n"
    "        y[i] = x[i];\n}\n\n";

static const char *activation_c_refuses(const tg_module *m)
{
    return m->spec.op ? "an activation by a user op" : NULL;
}

static void activation_c_call(tg_c_file *c, const tg_c_layer *L, const char *x, const char *y)
{
    tg_c_putf(c, "    copy(%s, %s, %lld);\n", x, y, (long long)L->in_size);
}

static bool activation_c_none(const tg_module *m) { return m->spec.act == TG_ACT_NONE; }

static const tg_layer_c_export activation_c_export = {
    .kernel = activation_c_kernel,
    .refuses = activation_c_refuses,
    .write_call = activation_c_call,
    .passes_through = activation_c_none,
};

const tg_layer_kind_def tg_layer_kind_activation = {
    .name = "activation",
    .fields = TG_LAYER_USES_ACT | TG_LAYER_USES_OP,
    .check = activation_check,
    .prefix = activation_prefix,
    .shape = same_shape,
    .forward = activation_forward,
    .pre_activation = tg_module_identity,
    .describe = activation_describe,
    .torch_names = (const char *const[]){NULL},
    .sample_input = elementwise_sample,
    .c_export = &activation_c_export,
};

/* ---- the dropout layer kind ---- */

/* y = x·mask, mask = 1/(1-p) with probability 1-p, else 0 (expectation x). */
tg_tensor *tg_module_dropout(tg_module *m, tg_tensor *x)
{
    double p = m->spec.rate;
    if (!x || !m->training || p == 0)
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

static void dropout_describe(const tg_layer_spec *s, char *buf, size_t size) { snprintf(buf, size, "p = %g", s->rate); }

/* C export (eval mode): no code. */
static const tg_layer_c_export dropout_c_export = {.kernel = NULL};

const tg_layer_kind_def tg_layer_kind_dropout = {
    .name = "dropout",
    .fields = TG_LAYER_USES_RATE,
    .shape = same_shape,
    .forward = tg_module_dropout,
    .describe = dropout_describe,
    .torch_names = (const char *const[]){NULL},
    .sample_input = elementwise_sample,
    .c_export = &dropout_c_export,
};
