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
 * This file knows no layer kind: each built-in kind's descriptor carries its
 * piece of the export (tg_layer_kind_def.c_export, nn/io/export_c_writer.h),
 * the C text of its kernel, its constants and its call, in the kind's own
 * file. A kind without one is refused by name, so a new kind cannot export
 * wrongly, only not at all. */
#include "nn/io/atomic_file.h"
#include "nn/io/export_c_writer.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "nn/io/export_c_kernels.h"

#define NAME_MAX_EXPORT 64
#define ARRAY_MAX 0x7fffffffLL /* elements of one C array the generated code indexes with int */

/* The generated text, written through a temporary file. */
struct tg_c_file {
    tg_atomic_file file;
    bool failed;
    bool int8; /* weight matrices as int8 with a scale per row */
};

void tg_c_put(tg_c_file *s, const char *text)
{
    if (!s->failed && !tg_atomic_write(&s->file, text, strlen(text)))
        s->failed = true;
}

void tg_c_putf(tg_c_file *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof line) /* only names could be that long, and they are bounded */
        s->failed = true;
    tg_c_put(s, line);
}

/* One value as a C float literal that reads back as the same float. */
static void put_float(tg_c_file *s, double value)
{
    float f = (float)value;
    if (isnan(f))
        tg_c_put(s, "NAN");
    else if (isinf(f))
        tg_c_put(s, f > 0 ? "INFINITY" : "-INFINITY");
    else { /* 9 digits read back as the same float; "2" needs ".0" to be a float literal */
        char text[32];
        snprintf(text, sizeof text, "%.9g", (double)f);
        tg_c_putf(s, "%s%sf", text, strpbrk(text, ".e") ? "" : ".0");
    }
}

void tg_c_put_array(tg_c_file *s, const char *cname, const char *what, const double *values, int64_t n)
{
    tg_c_putf(s, "static const float %s[%lld] = { /* %s */\n", cname, (long long)n, what);
    for (int64_t i = 0; i < n; i++) {
        tg_c_put(s, i % 8 == 0 ? "    " : " ");
        put_float(s, values[i]);
        tg_c_put(s, i + 1 == n ? "\n" : i % 8 == 7 ? ",\n" : ",");
    }
    tg_c_put(s, "};\n");
}

static double *values_of(const tg_tensor *t)
{
    int64_t n = tg_tensor_size(t);
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (int64_t i = 0; v && i < n; i++)
        v[i] = tg_tensor_get(t, i);
    return v;
}

bool tg_c_put_tensor(tg_c_file *s, const char *cname, const tg_tensor *t)
{
    double *v = values_of(t);
    if (!v)
        return false;
    tg_c_put_array(s, cname, tg_tensor_name(t) ? tg_tensor_name(t) : "", v, tg_tensor_size(t));
    free(v);
    return true;
}

/* A weight matrix [rows, ...] as int8 with a scale per row: q = round(w/scale),
 * scale = max|w|/127 (1 for a row of zeros). */
static bool put_tensor_int8(tg_c_file *s, const char *cname, const tg_tensor *t)
{
    int64_t rows = tg_tensor_dim(t, 0), cols = tg_tensor_size(t) / (rows > 0 ? rows : 1);
    double *v = values_of(t), *scale = malloc((size_t)(rows > 0 ? rows : 1) * sizeof *scale);
    if (!v || !scale) {
        free(v), free(scale);
        return false;
    }
    tg_c_putf(s, "static const signed char %s_q[%lld] = { /* %s, int8 */\n", cname, (long long)(rows * cols),
              tg_tensor_name(t) ? tg_tensor_name(t) : "");
    for (int64_t r = 0; r < rows; r++) {
        double largest = 0;
        for (int64_t k = 0; k < cols; k++)
            largest = fmax(largest, fabs(v[r * cols + k]));
        scale[r] = largest > 0 ? largest / 127 : 1;
        for (int64_t k = 0; k < cols; k++) {
            int64_t i = r * cols + k;
            tg_c_put(s, i % 16 == 0 ? "    " : " ");
            tg_c_putf(s, "%d", (int)lround(v[i] / scale[r]));
            tg_c_put(s, i + 1 == rows * cols ? "\n" : i % 16 == 15 ? ",\n" : ",");
        }
    }
    tg_c_put(s, "};\n");
    char scale_name[48];
    snprintf(scale_name, sizeof scale_name, "%.24s_scale", cname);
    tg_c_put_array(s, scale_name, "a scale per row", scale, rows);
    free(v), free(scale);
    return true;
}

/* Matrix w and bias b (b may be NULL) under cname_w, cname_b, and the
 * initializer of their weights struct into init. */
bool tg_c_put_weights(tg_c_file *s, const char *cname, const tg_tensor *w, const tg_tensor *b, char *init,
                      size_t size)
{
    char name[32], bias[32]; /* cname is short: "l12_ih" */
    snprintf(name, sizeof name, "%.24s_w", cname);
    snprintf(bias, sizeof bias, "%.24s_b", cname);
    bool ok = s->int8 ? put_tensor_int8(s, name, w) : tg_c_put_tensor(s, name, w);
    if (!ok || (b && !tg_c_put_tensor(s, bias, b)))
        return false;
    if (s->int8)
        snprintf(init, size, "{0, %s_q, %s_scale, %s}", name, name, b ? bias : "0");
    else
        snprintf(init, size, "{%s, 0, 0, %s}", name, b ? bias : "0");
    return true;
}

/* ---- the driver ---- */

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
    const tg_layer_c_export *piece = m->kind->c_export;
    if (!piece)
        return "a built-in kind the exporter has no C for (its descriptor has no c_export)";
    const char *why = piece->refuses ? piece->refuses(m) : NULL;
    if (why)
        return why;
    if ((m->kind->fields & TG_LAYER_USES_ACT) && (m->spec.act < TG_ACT_NONE || m->spec.act > TG_ACT_GELU_TANH))
        return "an unknown activation";
    return NULL;
}

/* A layer that is no code: its output is its input. */
static bool passes_through(const tg_module *m)
{
    const tg_layer_c_export *piece = m->kind->c_export;
    return !piece->write_call || (piece->passes_through && piece->passes_through(m));
}

/* The statement(s) of layer L reading x and writing y, after a comment with
 * its shapes, then its activation if it has one. */
static void put_layer_call(tg_c_file *s, const tg_c_layer *L, const char *x, const char *y)
{
    const tg_module *m = L->m;
    tg_c_putf(s, "    /* %s %s: ", m->kind->name, m->name);
    for (int d = 0; d < L->in_rank; d++)
        tg_c_putf(s, "%s%lld", d ? "x" : "", (long long)L->in_shape[d]);
    tg_c_put(s, " -> ");
    for (int d = 0; d < L->out_rank; d++)
        tg_c_putf(s, "%s%lld", d ? "x" : "", (long long)L->out_shape[d]);
    tg_c_put(s, " */\n");
    m->kind->c_export->write_call(s, L, x, y);
    if ((m->kind->fields & TG_LAYER_USES_ACT) && m->spec.act != TG_ACT_NONE)
        tg_c_putf(s, "    act_%s(%s, %lld);\n", tg_activation_name(m->spec.act), y, (long long)L->out_size);
}

/* The shared kernels of bits (TG_C_...) with those they call. */
static unsigned with_callees(unsigned bits)
{
    if (bits & TG_C_RECURRENT)
        bits |= TG_C_MATVEC;
    if (bits & TG_C_MATVEC)
        bits |= TG_C_WEIGHTS;
    return bits;
}

/* Writes, in their order, the shared kernels of needed not yet written up to
 * the last of reach (all when reach is ~0u), so that each comes before the
 * first kind's kernel that can call it. */
static void put_shared_kernels(tg_c_file *c, unsigned needed, unsigned *written, unsigned reach)
{
    static const char *const text[] = {kernel_weights, kernel_matvec, kernel_window, kernel_sigmoid,
                                       kernel_recurrent_state};
    for (size_t k = 0; k < sizeof text / sizeof *text && (1u << k) <= reach; k++)
        if ((needed & ~*written) & (1u << k)) {
            tg_c_put(c, text[k]);
            *written |= 1u << k;
        }
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
    tg_c_layer *layers = calloc((size_t)n, sizeof *layers);
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
        tg_c_layer *L = &layers[l];
        L->m = tg_model_module(model, l);
        snprintf(L->cname, sizeof L->cname, "l%d", l);
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
    /* 3. which kernels the file needs: those of the kinds of the layers that are code */
    bool acts[TG_ACT_GELU_TANH + 1] = {0};
    unsigned shared = 0;
    for (int l = 0; l < n; l++) {
        const tg_module *m = layers[l].m;
        if (m->kind->fields & TG_LAYER_USES_ACT)
            acts[m->spec.act] = true;
        if (!passes_through(m))
            shared |= m->kind->c_export->calls;
    }
    if (acts[TG_ACT_SIGMOID])
        shared |= TG_C_SIGMOID;
    shared = with_callees(shared);
    char upper[NAME_MAX_EXPORT + 1];
    for (size_t i = 0; i <= strlen(name); i++)
        upper[i] = (char)toupper((unsigned char)name[i]);

    /* 4. the files */
    size_t dir_len = strlen(dir);
    char *h_path = malloc(dir_len + NAME_MAX_EXPORT + 4), *c_path = malloc(dir_len + NAME_MAX_EXPORT + 4);
    tg_c_file h = {0}, c = {.int8 = int8};
    bool h_open = false, c_open = false, ok = h_path && c_path;
    if (ok) {
        sprintf(h_path, "%s/%s.h", dir, name);
        sprintf(c_path, "%s/%s.c", dir, name);
        ok = (h_open = tg_atomic_open(&h.file, h_path)) && (c_open = tg_atomic_open(&c.file, c_path));
    }
    if (ok) {
        tg_c_putf(&h, "/* %s.h: a %d-layer tapegrad model as C (written by tg_model_export_c%s): one sample in,\n"
                      " * its output out, in eval mode. No allocation, no dependency but libm; not reentrant\n"
                      " * (static scratch buffers). */\n", name, n, int8 ? "_int8, int8 weights" : "");
        tg_c_putf(&h, "#ifndef %s_H\n#define %s_H\n\n", upper, upper);
        tg_c_putf(&h, "#define %s_INPUT_SIZE %lld  /* floats: one sample,", upper, (long long)input_size);
        for (int d = 0; d < layers[0].in_rank; d++)
            tg_c_putf(&h, " %s%lld", d ? "x " : "", (long long)layers[0].in_shape[d]);
        tg_c_putf(&h, " */\n#define %s_OUTPUT_SIZE %lld\n\n", upper, (long long)output_size);
        tg_c_putf(&h, "/* Writes the model's output for in to out; 0, or -1 for an embedding index that is not a "
                      "whole\n * number in range. */\nint %s_forward(const float *in, float *out);\n\n#endif\n",
                  name);

        tg_c_putf(&c, "/* %s.c: written by tapegrad's tg_model_export_c%s. */\n#include \"%s.h\"\n\n"
                      "#include <math.h>\n\n", name, int8 ? "_int8" : "", name);
        /* the kinds' own kernels once each, in table order, the shared ones they can call before them */
        unsigned written = 0;
        for (int kind = 0; kind < TG_LAYER_USER; kind++) {
            const tg_layer_kind_def *def = tg_layer_kind_def_of(kind);
            if (!def || !def->c_export)
                continue;
            put_shared_kernels(&c, shared, &written, with_callees(def->c_export->calls));
            bool used = false;
            for (int l = 0; l < n && !used; l++)
                used = layers[l].m->kind == def && !passes_through(layers[l].m);
            if (used && def->c_export->kernel)
                tg_c_put(&c, def->c_export->kernel);
        }
        put_shared_kernels(&c, shared, &written, ~0u); /* σ for activations alone */
        for (int a = TG_ACT_NONE + 1; a <= TG_ACT_GELU_TANH; a++)
            if (acts[a])
                tg_c_putf(&c, "static void act_%s(float *v, long n)\n{\n    for (long i = 0; i < n; i++)\n"
                              "        %s\n}\n\n", tg_activation_name((tg_activation)a), kernel_activation_body[a]);
        int steps = 0; /* layers that are code: they alternate between the two buffers */
        for (int l = 0; l < n; l++)
            steps += !passes_through(layers[l].m);
        if (steps > 0)
            tg_c_putf(&c, "static float buffer0[%lld];\n", (long long)largest);
        if (steps > 1)
            tg_c_putf(&c, "static float buffer1[%lld];\n", (long long)largest);
        tg_c_put(&c, "\n");
        for (int l = 0; l < n && ok; l++) {
            const tg_c_layer *L = &layers[l];
            if (!L->m->kind->c_export->write_data)
                continue;
            tg_c_putf(&c, "/* layer %d: %s %s */\n", l + 1, L->m->kind->name, L->m->name);
            ok = L->m->kind->c_export->write_data(&c, L);
        }
        tg_c_putf(&c, "int %s_forward(const float *in, float *out)\n{\n", name);
        const char *x = "in";
        for (int l = 0; l < n; l++) {
            if (passes_through(layers[l].m))
                continue;
            const char *y = strcmp(x, "buffer0") == 0 ? "buffer1" : "buffer0";
            put_layer_call(&c, &layers[l], x, y);
            x = y;
        }
        tg_c_putf(&c, "    for (long i = 0; i < %lld; i++)\n        out[i] = %s[i];\n    return 0;\n}\n",
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
