/* A sequential model exported as one dependency-free C file: <name>.h
 * declares int <name>_forward(const float *in, float *out), <name>.c holds
 * the weights as const arrays, static scratch buffers and the kernels its
 * layers use (nn/io/export_c_kernels.h), in eval mode: batch norm folded into
 * a per-channel scale and shift, dropout gone.
 *
 * Activations flow between two static buffers as large as the largest
 * layer's output (one sample: the model's input shape). Each layer reads the
 * current buffer and writes the other; flatten and dropout are no code at
 * all. Both files go through a temporary renamed over the target, so a
 * failed export leaves the previous files whole.
 *
 * Unlike the rest of the layer code, this file has a case per built-in kind:
 * what it writes is C text (a kernel and the call of it), which a kind's
 * descriptor, made of ops, does not give. A kind without a case here is
 * refused by name, so a new kind cannot export wrongly, only not at all. */
#include "nn/io/atomic_file.h"
#include "nn/layers/module_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "nn/io/export_c_kernels.h"

#define NAME_MAX_EXPORT 64
#define ARRAY_MAX 0x7fffffffLL /* elements of one C array the generated code indexes with int */

/* The generated text, written through a temporary file. */
typedef struct {
    tg_atomic_file file;
    bool failed;
} sink;

static void put(sink *s, const char *text)
{
    if (!s->failed && !tg_atomic_write(&s->file, text, strlen(text)))
        s->failed = true;
}

static void putf(sink *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void putf(sink *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof line) /* only names could be that long, and they are bounded */
        s->failed = true;
    put(s, line);
}

/* One value as a C float literal that reads back as the same float. */
static void put_float(sink *s, double value)
{
    float f = (float)value;
    if (isnan(f))
        put(s, "NAN");
    else if (isinf(f))
        put(s, f > 0 ? "INFINITY" : "-INFINITY");
    else { /* 9 digits read back as the same float; "2" needs ".0" to be a float literal */
        char text[32];
        snprintf(text, sizeof text, "%.9g", (double)f);
        putf(s, "%s%sf", text, strpbrk(text, ".e") ? "" : ".0");
    }
}

static void put_array(sink *s, const char *cname, const char *what, const double *values, int64_t n)
{
    putf(s, "static const float %s[%lld] = { /* %s */\n", cname, (long long)n, what);
    for (int64_t i = 0; i < n; i++) {
        put(s, i % 8 == 0 ? "    " : " ");
        put_float(s, values[i]);
        put(s, i + 1 == n ? "\n" : i % 8 == 7 ? ",\n" : ",");
    }
    put(s, "};\n");
}

static double *values_of(const tg_tensor *t)
{
    int64_t n = tg_tensor_size(t);
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (int64_t i = 0; v && i < n; i++)
        v[i] = tg_tensor_get(t, i);
    return v;
}

/* A tensor as a float array cname; false when out of memory. */
static bool put_tensor(sink *s, const char *cname, const tg_tensor *t)
{
    double *v = values_of(t);
    if (!v)
        return false;
    put_array(s, cname, tg_tensor_name(t) ? tg_tensor_name(t) : "", v, tg_tensor_size(t));
    free(v);
    return true;
}

/* A weight matrix [rows, ...] as int8 with a scale per row: q = round(w/scale),
 * scale = max|w|/127 (1 for a row of zeros). */
static bool put_tensor_int8(sink *s, const char *cname, const tg_tensor *t)
{
    int64_t rows = tg_tensor_dim(t, 0), cols = tg_tensor_size(t) / (rows > 0 ? rows : 1);
    double *v = values_of(t), *scale = malloc((size_t)(rows > 0 ? rows : 1) * sizeof *scale);
    if (!v || !scale) {
        free(v), free(scale);
        return false;
    }
    putf(s, "static const signed char %s_q[%lld] = { /* %s, int8 */\n", cname, (long long)(rows * cols),
         tg_tensor_name(t) ? tg_tensor_name(t) : "");
    for (int64_t r = 0; r < rows; r++) {
        double largest = 0;
        for (int64_t k = 0; k < cols; k++)
            largest = fmax(largest, fabs(v[r * cols + k]));
        scale[r] = largest > 0 ? largest / 127 : 1;
        for (int64_t k = 0; k < cols; k++) {
            int64_t i = r * cols + k;
            put(s, i % 16 == 0 ? "    " : " ");
            putf(s, "%d", (int)lround(v[i] / scale[r]));
            put(s, i + 1 == rows * cols ? "\n" : i % 16 == 15 ? ",\n" : ",");
        }
    }
    put(s, "};\n");
    char scale_name[48];
    snprintf(scale_name, sizeof scale_name, "%.24s_scale", cname);
    put_array(s, scale_name, "a scale per row", scale, rows);
    free(v), free(scale);
    return true;
}

/* ---- what each layer needs ---- */

/* One layer as the export sees it: its module and one sample's shapes. */
typedef struct {
    const tg_module *m;
    int in_rank, out_rank; /* without the batch axis */
    int64_t in_shape[TG_MAX_RANK], out_shape[TG_MAX_RANK];
    int64_t in_size, out_size;
} layer;

static int64_t size_of(int rank, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= shape[d];
    return n;
}

/* Why the exported code cannot hold this layer, or NULL when it can. */
static const char *unsupported(const tg_module *m)
{
    int kind = tg_layer_kind_of(m->kind);
    if (kind >= TG_LAYER_USER || kind < 0)
        return "a kind of one's own (its code is not known to the exporter)";
    switch (kind) { /* the kinds put_layer_data and put_layer_call write C for */
    case TG_LAYER_DENSE: case TG_LAYER_CONV2D: case TG_LAYER_MAX_POOL2D: case TG_LAYER_AVG_POOL2D:
    case TG_LAYER_FLATTEN: case TG_LAYER_ACTIVATION: case TG_LAYER_DROPOUT: case TG_LAYER_BATCH_NORM:
    case TG_LAYER_LAYER_NORM: case TG_LAYER_EMBEDDING: case TG_LAYER_RNN: case TG_LAYER_LSTM: case TG_LAYER_GRU:
        break;
    default:
        return "a built-in kind the exporter has no C for yet (nn/io/export_c.c)";
    }
    if (kind == TG_LAYER_ACTIVATION && m->spec.op)
        return "an activation by a user op";
    if ((m->kind->fields & TG_LAYER_USES_ACT) && (m->spec.act < TG_ACT_NONE || m->spec.act > TG_ACT_GELU_TANH))
        return "an unknown activation";
    return NULL;
}

static bool quantized_kind(int kind)
{
    return kind == TG_LAYER_DENSE || kind == TG_LAYER_CONV2D || kind == TG_LAYER_RNN || kind == TG_LAYER_LSTM ||
           kind == TG_LAYER_GRU;
}

/* The arrays of matrix w and bias b (b may be NULL) under cname_w, cname_b,
 * and the initializer of their weights struct into init. */
static bool put_weights(sink *s, const char *cname, const tg_tensor *w, const tg_tensor *b, bool int8, char *init,
                        size_t size)
{
    char name[32], bias[32]; /* cname is short: "l12_ih" */
    snprintf(name, sizeof name, "%.24s_w", cname);
    snprintf(bias, sizeof bias, "%.24s_b", cname);
    if (!(int8 ? put_tensor_int8(s, name, w) : put_tensor(s, name, w)) || (b && !put_tensor(s, bias, b)))
        return false;
    if (int8)
        snprintf(init, size, "{0, %s_q, %s_scale, %s}", name, name, b ? bias : "0");
    else
        snprintf(init, size, "{%s, 0, 0, %s}", name, b ? bias : "0");
    return true;
}

/* The layer's constants (weights, folded statistics, recurrent scratch) under l<i>_... */
static bool put_layer_data(sink *s, const layer *L, int i, bool int8)
{
    const tg_module *m = L->m;
    int kind = tg_layer_kind_of(m->kind);
    char cname[32];
    snprintf(cname, sizeof cname, "l%d", i);
    if (kind != TG_LAYER_FLATTEN && kind != TG_LAYER_DROPOUT && kind != TG_LAYER_ACTIVATION &&
        kind != TG_LAYER_MAX_POOL2D && kind != TG_LAYER_AVG_POOL2D)
        putf(s, "/* layer %d: %s %s */\n", i + 1, m->kind->name, m->name);
    bool q = int8 && quantized_kind(kind);
    switch (kind) {
    case TG_LAYER_DENSE:
    case TG_LAYER_CONV2D: {
        char init[160];
        if (!put_weights(s, cname, m->params[0], m->params[1], q, init, sizeof init))
            return false;
        putf(s, "static const weights %s = %s;\n", cname, init);
        if (kind == TG_LAYER_CONV2D) /* the input unrolled: [in·k·k, oh·ow] */
            putf(s, "static float %s_columns[%lld];\n", cname,
                 (long long)(m->spec.in * m->spec.kernel * m->spec.kernel * L->out_size / m->spec.out));
        put(s, "\n");
        return true;
    }
    case TG_LAYER_BATCH_NORM: {
        int64_t c = m->spec.in;
        double *scale = malloc((size_t)c * sizeof *scale), *shift = malloc((size_t)c * sizeof *shift);
        if (!scale || !shift) {
            free(scale), free(shift);
            return false;
        }
        for (int64_t k = 0; k < c; k++) { /* γ/√(σ² + ε), β - μ·scale */
            scale[k] = tg_tensor_get(m->params[0], k) / sqrt(tg_tensor_get(m->buffers[1], k) + m->spec.eps);
            shift[k] = tg_tensor_get(m->params[1], k) - tg_tensor_get(m->buffers[0], k) * scale[k];
        }
        char name[48];
        snprintf(name, sizeof name, "%s_scale", cname);
        put_array(s, name, "gamma/sqrt(running_var + eps)", scale, c);
        snprintf(name, sizeof name, "%s_shift", cname);
        put_array(s, name, "beta - running_mean*scale", shift, c);
        put(s, "\n");
        free(scale), free(shift);
        return true;
    }
    case TG_LAYER_LAYER_NORM: {
        char name[48];
        snprintf(name, sizeof name, "%s_gamma", cname);
        bool ok = put_tensor(s, name, m->params[0]);
        snprintf(name, sizeof name, "%s_beta", cname);
        ok = ok && put_tensor(s, name, m->params[1]);
        put(s, "\n");
        return ok;
    }
    case TG_LAYER_EMBEDDING: {
        char name[48];
        snprintf(name, sizeof name, "%s_table", cname);
        bool ok = put_tensor(s, name, m->params[0]);
        put(s, "\n");
        return ok;
    }
    case TG_LAYER_RNN:
    case TG_LAYER_LSTM:
    case TG_LAYER_GRU: {
        char name[48], ih[160], hh[160];
        snprintf(name, sizeof name, "%s_ih", cname);
        if (!put_weights(s, name, m->params[0], m->params[2], q, ih, sizeof ih))
            return false;
        snprintf(name, sizeof name, "%s_hh", cname);
        if (!put_weights(s, name, m->params[1], m->params[3], q, hh, sizeof hh))
            return false;
        long long gates = kind == TG_LAYER_LSTM ? 4 : kind == TG_LAYER_GRU ? 3 : 1, hidden = m->spec.out;
        putf(s, "static float %s_gi[%lld], %s_gh[%lld], %s_h[%lld], %s_c[%lld];\n", cname, gates * hidden, cname,
             gates * hidden, cname, hidden, cname, kind == TG_LAYER_LSTM ? hidden : 1);
        putf(s, "static const recurrent %s = {%s, %s, %s_gi, %s_gh, %s_h, %s_c};\n\n", cname, ih, hh, cname, cname,
             cname, cname);
        return true;
    }
    default:
        return true;
    }
}

/* ---- the forward function ---- */

/* The statement(s) of layer i reading x and writing y. */
static void put_layer_call(sink *s, const layer *L, int i, const char *x, const char *y)
{
    const tg_module *m = L->m;
    const tg_layer_spec *sp = &m->spec;
    int kind = tg_layer_kind_of(m->kind);
    putf(s, "    /* %s %s: ", m->kind->name, m->name);
    for (int d = 0; d < L->in_rank; d++)
        putf(s, "%s%lld", d ? "x" : "", (long long)L->in_shape[d]);
    put(s, " -> ");
    for (int d = 0; d < L->out_rank; d++)
        putf(s, "%s%lld", d ? "x" : "", (long long)L->out_shape[d]);
    put(s, " */\n");
    switch (kind) {
    case TG_LAYER_DENSE: {
        long long rows = (long long)(L->in_size / sp->in);
        putf(s, "    dense(&l%d, %s, %s, %lld, %lld, %lld);\n", i, x, y, rows, (long long)sp->in, (long long)sp->out);
        break;
    }
    case TG_LAYER_CONV2D:
        putf(s, "    conv2d(&l%d, %s, %lld, %lld, %lld, %s, %lld, %lld, %lld, %d, %d, %d, l%d_columns);\n", i,
             x, (long long)L->in_shape[0], (long long)L->in_shape[1], (long long)L->in_shape[2], y,
             (long long)L->out_shape[0], (long long)L->out_shape[1], (long long)L->out_shape[2], sp->kernel,
             sp->stride, sp->padding, i);
        break;
    case TG_LAYER_MAX_POOL2D:
    case TG_LAYER_AVG_POOL2D:
        putf(s, "    %s(%s, %lld, %lld, %lld, %s, %lld, %lld, %d, %d, %d);\n",
             kind == TG_LAYER_MAX_POOL2D ? "max_pool2d" : "avg_pool2d", x, (long long)L->in_shape[0],
             (long long)L->in_shape[1], (long long)L->in_shape[2], y, (long long)L->out_shape[1],
             (long long)L->out_shape[2], sp->kernel, sp->stride, sp->padding);
        break;
    case TG_LAYER_ACTIVATION:
        putf(s, "    copy(%s, %s, %lld);\n", x, y, (long long)L->in_size);
        break;
    case TG_LAYER_BATCH_NORM:
        putf(s, "    channel_affine(%s, %s, l%d_scale, l%d_shift, %lld, %lld);\n", x, y, i, i, (long long)sp->in,
             (long long)(L->in_size / sp->in));
        break;
    case TG_LAYER_LAYER_NORM:
        putf(s, "    layer_norm(%s, %s, l%d_gamma, l%d_beta, %.9gf, %lld, %lld);\n", x, y, i, i, (double)(float)sp->eps,
             (long long)(L->in_size / sp->in), (long long)sp->in);
        break;
    case TG_LAYER_EMBEDDING:
        putf(s, "    if (embedding(%s, %lld, l%d_table, %lld, %lld, %s) != 0)\n        return -1;\n", x,
             (long long)L->in_size, i, (long long)sp->in, (long long)sp->out, y);
        break;
    case TG_LAYER_RNN:
    case TG_LAYER_LSTM:
    case TG_LAYER_GRU:
        putf(s, "    %s(&l%d, %s, %s, %lld, %lld, %lld, %d);\n", m->kind->name, i, x, y, (long long)L->in_shape[0],
             (long long)sp->in, (long long)sp->out, sp->last_state ? 1 : 0);
        break;
    default:
        break;
    }
    if ((m->kind->fields & TG_LAYER_USES_ACT) && sp->act != TG_ACT_NONE)
        putf(s, "    act_%s(%s, %lld);\n", tg_activation_name(sp->act), y, (long long)L->out_size);
}

/* A layer that is no code: its output is its input. */
static bool passes_through(const tg_module *m)
{
    int kind = tg_layer_kind_of(m->kind);
    return kind == TG_LAYER_FLATTEN || kind == TG_LAYER_DROPOUT ||
           (kind == TG_LAYER_ACTIVATION && m->spec.act == TG_ACT_NONE);
}

static bool valid_c_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > NAME_MAX_EXPORT || !(isalpha((unsigned char)name[0]) || name[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)name[i]) || name[i] == '_'))
            return false;
    return true;
}

static tg_status export_c(const tg_model *model, const char *name, const char *dir, bool int8, const char *who)
{
    if (!model || !name || !dir)
        return tg_ctx_fail(tg_model_ctx(model), TG_ERR_ARG, "%s: NULL %s", who,
                           !model ? "model" : !name ? "name" : "dir");
    tg_ctx *ctx = tg_model_ctx(model);
    if (!valid_c_name(name))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: name \"%.80s\"; expected a C identifier of 1 to %d letters, digits "
                           "and '_', not starting with a digit", who, name, NAME_MAX_EXPORT);
    int n = tg_model_depth(model);
    layer *layers = calloc((size_t)n, sizeof *layers);
    if (!layers)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: out of memory", who);
    /* 1. every layer exportable? The message lists all that are not. */
    char refused[1024] = "";
    size_t at = 0;
    int n_refused = 0;
    for (int l = 0; l < n; l++) {
        const tg_module *m = tg_model_module(model, l);
        const char *why = unsupported(m);
        if (why && at < sizeof refused) {
            at += (size_t)snprintf(refused + at, sizeof refused - at, "%s%d (%s: %s %s)", n_refused ? ", " : "",
                                   l + 1, m->name, m->kind->name, why);
            n_refused++;
        }
    }
    if (n_refused) {
        free(layers);
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: %s cannot be exported as C: layer%s %s", who, name,
                           n_refused > 1 ? "s" : "", refused);
    }
    /* 2. one sample's shapes through the layers */
    int64_t shape[TG_MAX_RANK] = {1}, input[TG_MAX_RANK];
    int rank = tg_model_input_shape(model, input);
    memcpy(shape + 1, input, (size_t)(rank < TG_MAX_RANK ? rank : TG_MAX_RANK - 1) * sizeof *input);
    if (rank == 0) {
        free(layers);
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: the model has no input shape; expected one (tg_model_new's "
                           "input_shape) to size the exported buffers", who);
    }
    rank += 1;
    int64_t input_size = size_of(rank - 1, shape + 1), largest = input_size;
    for (int l = 0; l < n; l++) {
        layer *L = &layers[l];
        L->m = tg_model_module(model, l);
        L->in_rank = rank - 1;
        memcpy(L->in_shape, shape + 1, (size_t)(rank - 1) * sizeof *shape);
        int64_t next[TG_MAX_RANK];
        if (tg_module_shape(L->m, rank, shape, &rank, next) != TG_OK) {
            free(layers);
            return tg_ctx_status(ctx);
        }
        memcpy(shape, next, sizeof shape);
        L->out_rank = rank - 1;
        memcpy(L->out_shape, shape + 1, (size_t)(rank - 1) * sizeof *shape);
        L->in_size = size_of(L->in_rank, L->in_shape);
        L->out_size = size_of(L->out_rank, L->out_shape);
        if (L->out_size > largest)
            largest = L->out_size;
    }
    if (largest > ARRAY_MAX) {
        free(layers);
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: a layer output of %lld values; expected at most %lld", who,
                           (long long)largest, ARRAY_MAX);
    }
    int64_t output_size = n ? layers[n - 1].out_size : input_size;
    /* 3. which kernels the file needs */
    bool uses[TG_LAYER_USER] = {0}, acts[TG_ACT_GELU_TANH + 1] = {0}, copies = false;
    for (int l = 0; l < n; l++) {
        const tg_module *m = layers[l].m;
        uses[tg_layer_kind_of(m->kind)] = true;
        if (m->kind->fields & TG_LAYER_USES_ACT)
            acts[m->spec.act] = true;
        copies |= tg_layer_kind_of(m->kind) == TG_LAYER_ACTIVATION && m->spec.act != TG_ACT_NONE;
    }
    bool recurrent = uses[TG_LAYER_RNN] || uses[TG_LAYER_LSTM] || uses[TG_LAYER_GRU];
    bool matvec = uses[TG_LAYER_DENSE] || recurrent;
    bool sigmoid = acts[TG_ACT_SIGMOID] || uses[TG_LAYER_LSTM] || uses[TG_LAYER_GRU];
    char upper[NAME_MAX_EXPORT + 1];
    for (size_t i = 0; i <= strlen(name); i++)
        upper[i] = (char)toupper((unsigned char)name[i]);

    /* 4. the files */
    size_t dir_len = strlen(dir);
    char *h_path = malloc(dir_len + NAME_MAX_EXPORT + 4), *c_path = malloc(dir_len + NAME_MAX_EXPORT + 4);
    sink h = {0}, c = {0};
    bool h_open = false, c_open = false, ok = h_path && c_path;
    if (ok) {
        sprintf(h_path, "%s/%s.h", dir, name);
        sprintf(c_path, "%s/%s.c", dir, name);
        ok = (h_open = tg_atomic_open(&h.file, h_path)) && (c_open = tg_atomic_open(&c.file, c_path));
    }
    if (ok) {
        putf(&h, "/* %s.h: a %d-layer tapegrad model as C (written by tg_model_export_c%s): one sample in,\n"
                 " * its output out, in eval mode. No allocation, no dependency but libm; not reentrant\n"
                 " * (static scratch buffers). */\n", name, n, int8 ? "_int8, int8 weights" : "");
        putf(&h, "#ifndef %s_H\n#define %s_H\n\n", upper, upper);
        putf(&h, "#define %s_INPUT_SIZE %lld  /* floats: one sample,", upper, (long long)input_size);
        for (int d = 0; d < layers[0].in_rank; d++)
            putf(&h, " %s%lld", d ? "x " : "", (long long)layers[0].in_shape[d]);
        putf(&h, " */\n#define %s_OUTPUT_SIZE %lld\n\n", upper, (long long)output_size);
        putf(&h, "/* Writes the model's output for in to out; 0, or -1 for an embedding index that is not a whole\n"
                 " * number in range. */\nint %s_forward(const float *in, float *out);\n\n#endif\n", name);

        putf(&c, "/* %s.c: written by tapegrad's tg_model_export_c%s. */\n#include \"%s.h\"\n\n#include <math.h>\n\n",
             name, int8 ? "_int8" : "", name);
        if (matvec || uses[TG_LAYER_CONV2D])
            put(&c, kernel_weights);
        if (matvec)
            put(&c, kernel_matvec);
        if (uses[TG_LAYER_DENSE])
            put(&c, kernel_dense);
        if (uses[TG_LAYER_CONV2D])
            put(&c, kernel_conv2d);
        if (uses[TG_LAYER_MAX_POOL2D] || uses[TG_LAYER_AVG_POOL2D])
            put(&c, kernel_window);
        if (uses[TG_LAYER_MAX_POOL2D])
            put(&c, kernel_max_pool2d);
        if (uses[TG_LAYER_AVG_POOL2D])
            put(&c, kernel_avg_pool2d);
        if (uses[TG_LAYER_BATCH_NORM])
            put(&c, kernel_channel_affine);
        if (uses[TG_LAYER_LAYER_NORM])
            put(&c, kernel_layer_norm);
        if (uses[TG_LAYER_EMBEDDING])
            put(&c, kernel_embedding);
        if (sigmoid)
            put(&c, kernel_sigmoid);
        if (recurrent)
            put(&c, kernel_recurrent_state);
        if (uses[TG_LAYER_RNN])
            put(&c, kernel_rnn);
        if (uses[TG_LAYER_LSTM])
            put(&c, kernel_lstm);
        if (uses[TG_LAYER_GRU])
            put(&c, kernel_gru);
        if (copies)
            put(&c, "static void copy(const float *x, float *y, long n)\n{\n    for (long i = 0; i < n; i++)\n"
                    "        y[i] = x[i];\n}\n\n");
        for (int a = TG_ACT_NONE + 1; a <= TG_ACT_GELU_TANH; a++)
            if (acts[a])
                putf(&c, "static void act_%s(float *v, long n)\n{\n    for (long i = 0; i < n; i++)\n        %s\n}\n\n",
                     tg_activation_name((tg_activation)a), kernel_activation_body[a]);
        int steps = 0; /* layers that are code: they alternate between the two buffers */
        for (int l = 0; l < n; l++)
            steps += !passes_through(layers[l].m);
        if (steps > 0)
            putf(&c, "static float buffer0[%lld];\n", (long long)largest);
        if (steps > 1)
            putf(&c, "static float buffer1[%lld];\n", (long long)largest);
        put(&c, "\n");
        for (int l = 0; l < n && ok; l++)
            ok = put_layer_data(&c, &layers[l], l, int8);
        putf(&c, "int %s_forward(const float *in, float *out)\n{\n", name);
        const char *x = "in";
        for (int l = 0; l < n; l++) {
            if (passes_through(layers[l].m))
                continue;
            const char *y = strcmp(x, "buffer0") == 0 ? "buffer1" : "buffer0";
            put_layer_call(&c, &layers[l], l, x, y);
            x = y;
        }
        putf(&c, "    for (long i = 0; i < %lld; i++)\n        out[i] = %s[i];\n    return 0;\n}\n",
             (long long)output_size, x);
    }
    tg_status status = TG_OK;
    bool c_done = false;
    if (!h_path || !c_path)
        status = tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: out of memory", who);
    else if (!h_open || !c_open)
        status = tg_ctx_fail(ctx, TG_ERR_IO, "%s: cannot write %s: %s failed", who, h_open ? c_path : h_path,
                             h_open ? c.file.step : h.file.step);
    else if (!ok)
        status = tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: out of memory", who);
    else if (h.failed || c.failed || !(c_done = tg_atomic_commit(&c.file)) || !tg_atomic_commit(&h.file))
        status = tg_ctx_fail(ctx, TG_ERR_IO, "%s: cannot write %s: %s failed", who,
                             c.failed || (!h.failed && !c_done) ? c_path : h_path,
                             c.failed || (!h.failed && !c_done) ? c.file.step : h.file.step);
    if (status != TG_OK) {
        if (h_open)
            tg_atomic_abandon(&h.file);
        if (c_open && !c_done)
            tg_atomic_abandon(&c.file);
    }
    free(h_path);
    free(c_path);
    free(layers);
    return status;
}

tg_status tg_model_export_c(const tg_model *model, const char *name, const char *dir)
{
    return export_c(model, name, dir, false, "tg_model_export_c");
}

tg_status tg_model_export_c_int8(const tg_model *model, const char *name, const char *dir)
{
    return export_c(model, name, dir, true, "tg_model_export_c_int8");
}
