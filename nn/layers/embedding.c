/* The embedding layer kind: indices [...] (i64, or whole numbers in the
 * layer's dtype) -> rows of W [in, out]: [..., out] (PyTorch's Embedding:
 * "weight"). */
#include "nn/io/export_c_writer.h"
#include "nn/layers/module_internal.h"

#include <math.h>
#include <string.h>

static tg_status embedding_make(tg_module *m, tg_rng *rng)
{
    tg_tensor *w = tg_module_add_tensor(m, "weight", true, TG_SHAPE(m->spec.in, m->spec.out));
    if (!w)
        return TG_ERR_NOMEM;
    return tg_init_fill_fans(w, m->spec.init, (double)m->spec.in, (double)m->spec.out, 1, rng);
}

static tg_status embedding_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                                 int64_t out_shape[TG_MAX_RANK])
{
    if (rank >= TG_MAX_RANK) {
        char want[64];
        snprintf(want, sizeof want, "indices of rank < %d", TG_MAX_RANK);
        return tg_module_shape_error(m, rank, shape, want);
    }
    *out_rank = rank + 1;
    out_shape[rank] = m->spec.out;
    return TG_OK;
}

/* out[..., :] = W[index[...], :] */
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

static void embedding_describe(const tg_layer_spec *s, char *buf, size_t size)
{
    snprintf(buf, size, "%lld x %lld", (long long)s->in, (long long)s->out);
}

static int embedding_sample(const tg_layer_spec *s, int64_t shape[TG_MAX_RANK])
{
    (void)s;
    shape[0] = 2, shape[1] = 3;
    return 2;
}

/* C export: rows of the table, -1 from the forward for a bad index. */
static const char embedding_c_kernel[] =
    "/* indices x [n] -> y [n, dim]: row x[i] of W [vocab, dim]; -1 for an index that is not a whole number in\n"
    " * [0, vocab) */\n"
    "static int embedding(const float *x, long n, const float *table, int vocab, int dim, float *y)\n"
    "{\n"
    "    for (long i = 0; i < n; i++) {\n"
    "        if (!(x[i] >= 0.0f && x[i] < (float)vocab && x[i] == floorf(x[i])))\n"
    "            return -1;\n"
    "        const float *row = table + (long)x[i] * dim;\n"
    "        for (int d = 0; d < dim; d++)\n"
    "            y[i * dim + d] = row[d];\n"
    "    }\n"
    "    return 0;\n"
    "}\n\n";

static bool embedding_c_data(tg_c_file *c, const tg_c_layer *L)
{
    char name[48];
    snprintf(name, sizeof name, "%s_table", L->cname);
    bool ok = tg_c_put_tensor(c, name, L->m->params[0]);
    tg_c_put(c, "\n");
    return ok;
}

static void embedding_c_call(tg_c_file *c, const tg_c_layer *L, const char *x, const char *y)
{
    const tg_layer_spec *s = &L->m->spec;
    tg_c_putf(c, "    if (embedding(%s, %lld, %s_table, %lld, %lld, %s) != 0)\n        return -1;\n", x,
              (long long)L->in_size, L->cname, (long long)s->in, (long long)s->out, y);
}

static const tg_layer_c_export embedding_c_export = {
    .kernel = embedding_c_kernel,
    .write_data = embedding_c_data,
    .write_call = embedding_c_call,
};

const tg_layer_kind_def tg_layer_kind_embedding = {
    .name = "embedding",
    .fields = TG_LAYER_USES_IN | TG_LAYER_USES_OUT | TG_LAYER_USES_INIT | TG_LAYER_TAKES_INDICES,
    .make = embedding_make,
    .shape = embedding_shape,
    .forward = embedding_forward,
    .describe = embedding_describe,
    .torch_names = (const char *const[]){"weight"},
    .sample_input = embedding_sample,
    .c_export = &embedding_c_export,
};

/* ---- the position_embedding layer kind ----
 * Learned positions added to a sequence: x [..., T, out] -> x + W[0:T],
 * W [in, out] with in the longest sequence the table holds (GPT's "wpe",
 * PyTorch's Embedding over arange(T): "weight"). */

static tg_status position_make(tg_module *m, tg_rng *rng)
{
    return embedding_make(m, rng);
}

static tg_status position_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                                int64_t out_shape[TG_MAX_RANK])
{
    (void)out_rank, (void)out_shape;
    long long positions = (long long)m->spec.in, d = (long long)m->spec.out;
    char want[256];
    if (rank < 2 || shape[rank - 1] != m->spec.out) {
        snprintf(want, sizeof want, "[..., T, %lld] (a sequence of out = %lld features)", d, d);
        return tg_module_shape_error(m, rank, shape, want);
    }
    if (shape[rank - 2] > m->spec.in) {
        snprintf(want, sizeof want, "a sequence of at most %lld positions (the position table %s.weight is "
                 "[%lld, %lld]); T = %lld is longer", positions, m->name, positions, d, (long long)shape[rank - 2]);
        return tg_module_shape_error(m, rank, shape, want);
    }
    return TG_OK;
}

/* out[..., t, :] = x[..., t, :] + W[t, :] */
static tg_tensor *position_forward(tg_module *m, tg_tensor *x)
{
    int64_t t = tg_tensor_dim(x, -2);
    return tg_add(x, tg_slice(m->params[0], 0, 0, t, 1));
}

static void position_describe(const tg_layer_spec *s, char *buf, size_t size)
{
    snprintf(buf, size, "%lld positions x %lld", (long long)s->in, (long long)s->out);
}

static int position_sample(const tg_layer_spec *s, int64_t shape[TG_MAX_RANK])
{
    shape[0] = 2, shape[1] = s->in < 3 ? s->in : 3, shape[2] = s->out;
    return 3;
}

const tg_layer_kind_def tg_layer_kind_position_embedding = {
    .name = "position_embedding",
    .short_name = "pos",
    .fields = TG_LAYER_USES_IN | TG_LAYER_USES_OUT | TG_LAYER_USES_INIT,
    .make = position_make,
    .shape = position_shape,
    .forward = position_forward,
    .describe = position_describe,
    .torch_names = (const char *const[]){"weight"},
    .sample_input = position_sample,
};
