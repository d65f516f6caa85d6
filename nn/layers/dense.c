/* The dense layer kind: a = f(x·Wᵀ + b) over the last axis, W [out, in],
 * b [out] (PyTorch's Linear: "weight", "bias"). tg_dense_affine is the one
 * dense forward: this kind and tg_mlp (mlp.c, a model of dense layers) use it. */
#include "nn/io/export_c_writer.h"
#include "nn/layers/module_internal.h"

#include <string.h>

tg_tensor *tg_dense_affine(tg_tensor *x, tg_tensor *w, tg_tensor *b)
{
    if (!x || !w || !b) /* an op before failed: its error stands (a NULL b is not "no bias" here) */
        return NULL;
    return tg_linear(x, w, b); /* z [..., out] = x [..., in]·Wᵀ + b, one op over x's rows */
}

static tg_status dense_make(tg_module *m, tg_rng *rng)
{
    int64_t in = m->spec.in, out = m->spec.out;
    tg_tensor *w = tg_module_add_tensor(m, "weight", true, TG_SHAPE(out, in));
    if (!w || !tg_module_add_tensor(m, "bias", true, TG_SHAPE(out)))
        return TG_ERR_NOMEM;
    return tg_init_fill_fans(w, m->spec.init, (double)in, (double)out, 1, rng);
}

static tg_status dense_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                             int64_t out_shape[TG_MAX_RANK])
{
    (void)out_rank;
    if (rank < 1 || shape[rank - 1] != m->spec.in) {
        char want[96];
        snprintf(want, sizeof want, "[..., %lld] (the last axis of size in = %lld)", (long long)m->spec.in,
                 (long long)m->spec.in);
        return tg_module_shape_error(m, rank, shape, want);
    }
    out_shape[rank - 1] = m->spec.out;
    return TG_OK;
}

static tg_tensor *dense_forward(tg_module *m, tg_tensor *x)
{
    return tg_activate(tg_dense_affine(x, m->params[0], m->params[1]), m->spec.act);
}

static int dense_sample(const tg_layer_spec *s, int64_t shape[TG_MAX_RANK])
{
    shape[0] = 3, shape[1] = s->in;
    return 2;
}

/* C export: each row of x through matvec. */
static const char dense_c_kernel[] =
    "/* x [rows, in] -> y [rows, out] = x W^T + b */\n"
    "static void dense(const weights *m, const float *x, float *y, int rows, int in, int out)\n"
    "{\n"
    "    for (int r = 0; r < rows; r++)\n"
    "        matvec(m, x + (long)r * in, y + (long)r * out, out, in);\n"
    "}\n\n";

static bool dense_c_data(tg_c_file *c, const tg_c_layer *L)
{
    char init[160];
    if (!tg_c_put_weights(c, L->cname, L->m->params[0], L->m->params[1], init, sizeof init))
        return false;
    tg_c_putf(c, "static const weights %s = %s;\n\n", L->cname, init);
    return true;
}

static void dense_c_call(tg_c_file *c, const tg_c_layer *L, const char *x, const char *y)
{
    const tg_layer_spec *s = &L->m->spec;
    tg_c_putf(c, "    dense(&%s, %s, %s, %lld, %lld, %lld);\n", L->cname, x, y, (long long)(L->in_size / s->in),
              (long long)s->in, (long long)s->out);
}

static const tg_layer_c_export dense_c_export = {
    .kernel = dense_c_kernel,
    .calls = TG_C_MATVEC,
    .write_data = dense_c_data,
    .write_call = dense_c_call,
};

const tg_layer_kind_def tg_layer_kind_dense = {
    .name = "dense",
    .fields = TG_LAYER_USES_IN | TG_LAYER_USES_OUT | TG_LAYER_USES_ACT | TG_LAYER_USES_INIT | TG_LAYER_USES_TIE,
    .make = dense_make,
    .shape = dense_shape,
    .forward = dense_forward,
    .describe = tg_layer_describe_in_out,
    .torch_names = (const char *const[]){"weight", "bias"},
    .sample_input = dense_sample,
    .c_export = &dense_c_export,
};
