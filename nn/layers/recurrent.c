/* The recurrent layer kinds (RNN, LSTM, GRU): cells as compositions of ops,
 * and the unrolling of a cell over a sequence. A layer (in a module or a
 * model) reads batch-first sequences [B, T, in] and gives [B, T, out], or
 * h_T [B, out] with last_state, as PyTorch's batch_first=True;
 * tg_recurrent_unroll reads time-major [T, B, in]. The gate blocks are stacked in one
 * weight per input, as in PyTorch: gᵢ = x·Wᵢₕᵀ + bᵢₕ and gₕ = h·Wₕₕᵀ + bₕₕ, each
 * [B, G·H] with G gate blocks of H columns, then
 *   RNN  (G = 1): h' = tanh(gᵢ + gₕ)
 *   LSTM (G = 4): i, f, g, o = σ, σ, tanh, σ of the blocks of gᵢ + gₕ;
 *                 c' = f⊙c + i⊙g;  h' = o⊙tanh(c')
 *   GRU  (G = 3): r, z = σ of the first two blocks of gᵢ + gₕ;
 *                 n = tanh(gᵢ,ₙ + r⊙gₕ,ₙ);  h' = (1 - z)⊙n + z⊙h = n + z⊙(h - n) */
#include "nn/io/export_c_writer.h"
#include "nn/layers/module_internal.h"

#include <stdlib.h>

static bool is_recurrent(const tg_module *m)
{
    return m->kind == &tg_layer_kind_rnn || m->kind == &tg_layer_kind_lstm || m->kind == &tg_layer_kind_gru;
}

/* Columns [k·H, (k+1)·H) of a [B, G·H] gate tensor. */
static tg_tensor *block(tg_tensor *g, int64_t k, int64_t hidden)
{
    return tg_slice(g, 1, k * hidden, (k + 1) * hidden, 1);
}

static bool state_ok(tg_module *m, const char *what, tg_tensor *t, int64_t batch)
{
    if (!t)
        return true;
    if (tg_tensor_rank(t) == 2 && tg_tensor_dim(t, 0) == batch && tg_tensor_dim(t, 1) == m->spec.out &&
        tg_tensor_dtype(t) == m->dtype)
        return true;
    char who[96], buf[64];
    tg_ctx_fail(m->ctx, TG_ERR_SHAPE, "%s: state %s has shape %s (%s); expected [%lld, %lld] (%s)",
                tg_module_who(m, who, sizeof who), what,
                tg_shape_str(tg_tensor_rank(t), tg_tensor_shape(t), buf, sizeof buf),
                tg_dtype_name(tg_tensor_dtype(t)), (long long)batch, (long long)m->spec.out, tg_dtype_name(m->dtype));
    return false;
}

tg_tensor *tg_recurrent_step(tg_module *m, tg_tensor *x, tg_tensor *h, tg_tensor *c, tg_tensor **c_next)
{
    if (c_next)
        *c_next = NULL;
    if (!m || !x)
        return NULL;
    char who[96], buf[64];
    if (!is_recurrent(m))
        return tg_ctx_fail(m->ctx, TG_ERR_ARG, "tg_recurrent_step: %s is not an rnn, lstm or gru layer",
                           tg_module_who(m, who, sizeof who)), NULL;
    int64_t hidden = m->spec.out;
    if (tg_tensor_rank(x) != 2 || tg_tensor_dim(x, 1) != m->spec.in || tg_tensor_dtype(x) != m->dtype)
        return tg_ctx_fail(m->ctx, TG_ERR_SHAPE, "%s: step input has shape %s (%s); expected [B, %lld] (%s)",
                           tg_module_who(m, who, sizeof who),
                           tg_shape_str(tg_tensor_rank(x), tg_tensor_shape(x), buf, sizeof buf),
                           tg_dtype_name(tg_tensor_dtype(x)), (long long)m->spec.in, tg_dtype_name(m->dtype)), NULL;
    int64_t batch = tg_tensor_dim(x, 0);
    if (!state_ok(m, "h", h, batch) || !state_ok(m, "c", c, batch))
        return NULL;
    if (!h)
        h = tg_tensor_temp(m->ctx, m->dtype, TG_SHAPE(batch, hidden));
    tg_tensor *gi = tg_add(tg_matmul_t(x, m->params[0], false, true), m->params[2]); /* [B, G·H] */
    tg_tensor *gh = tg_add(tg_matmul_t(h, m->params[1], false, true), m->params[3]);
    if (m->kind == &tg_layer_kind_rnn)
        return tg_tanh(tg_add(gi, gh));
    if (m->kind == &tg_layer_kind_lstm) {
        if (!c)
            c = tg_tensor_temp(m->ctx, m->dtype, TG_SHAPE(batch, hidden));
        tg_tensor *g = tg_add(gi, gh);
        tg_tensor *in_gate = tg_sigmoid(block(g, 0, hidden)), *forget = tg_sigmoid(block(g, 1, hidden));
        tg_tensor *cand = tg_tanh(block(g, 2, hidden)), *out_gate = tg_sigmoid(block(g, 3, hidden));
        tg_tensor *c2 = tg_add(tg_mul(forget, c), tg_mul(in_gate, cand));
        if (c_next)
            *c_next = c2;
        return tg_mul(out_gate, tg_tanh(c2));
    }
    /* GRU */
    tg_tensor *reset = tg_sigmoid(tg_add(block(gi, 0, hidden), block(gh, 0, hidden)));
    tg_tensor *update = tg_sigmoid(tg_add(block(gi, 1, hidden), block(gh, 1, hidden)));
    tg_tensor *cand = tg_tanh(tg_add(block(gi, 2, hidden), tg_mul(reset, block(gh, 2, hidden))));
    return tg_add(cand, tg_mul(update, tg_sub(h, cand)));
}

/* The cell over every step of seq, time-major [T, B, in] or (batch_first)
 * [B, T, in]; returns the stacked states in the same layout ([T, B, H] or
 * [B, T, H]), or, when !stack, the last state alone (a layer that keeps only
 * h_T need not copy every step's state into one tensor). */
static tg_tensor *unroll(tg_module *m, tg_tensor *seq, tg_tensor *h0, tg_tensor *c0, tg_tensor **h_last,
                         tg_tensor **c_last, bool stack, bool batch_first)
{
    if (h_last)
        *h_last = NULL;
    if (c_last)
        *c_last = NULL;
    if (!m || !seq)
        return NULL;
    char who[96];
    if (!is_recurrent(m))
        return tg_ctx_fail(m->ctx, TG_ERR_ARG, "tg_recurrent_unroll: %s is not an rnn, lstm or gru layer",
                           tg_module_who(m, who, sizeof who)), NULL;
    if (tg_tensor_rank(seq) < 0) /* a freed or stale sequence: its accessor reported it */
        return NULL;
    if (tg_tensor_rank(seq) != 3 || tg_tensor_dim(seq, 2) != m->spec.in) {
        char want[96];
        snprintf(want, sizeof want, "a sequence %s (rank 3, %lld features)",
                 batch_first ? "[B, T, in] (batch-first)" : "[T, B, in] (time-major)", (long long)m->spec.in);
        return tg_module_shape_error(m, tg_tensor_rank(seq), tg_tensor_shape(seq), want), NULL;
    }
    int time_axis = batch_first ? 1 : 0;
    int64_t steps = tg_tensor_dim(seq, time_axis), batch = tg_tensor_dim(seq, 1 - time_axis);
    tg_tensor *local[256];
    tg_tensor **hs = steps <= 256 ? local : malloc((size_t)steps * sizeof *hs);
    if (!hs)
        return tg_ctx_fail(m->ctx, TG_ERR_NOMEM, "tg_recurrent_unroll: out of memory"), NULL;
    tg_tensor *h = h0, *c = c0, *out = NULL;
    int64_t t = 0;
    for (; t < steps; t++) {
        tg_tensor *x = tg_reshape(tg_slice(seq, time_axis, t, t + 1, 1), TG_SHAPE(batch, m->spec.in));
        tg_tensor *c2 = NULL;
        h = tg_recurrent_step(m, x, h, c, &c2);
        if (!h)
            break;
        c = c2;
        hs[t] = h;
    }
    if (t == steps) {
        out = stack ? tg_stack((int)steps, hs, time_axis) /* [T, B, H] or [B, T, H] */ : h;
        if (h_last)
            *h_last = h;
        if (c_last)
            *c_last = c;
    }
    if (hs != local)
        free(hs);
    return out;
}

tg_tensor *tg_recurrent_unroll(tg_module *m, tg_tensor *seq, tg_tensor *h0, tg_tensor *c0, tg_tensor **h_last,
                               tg_tensor **c_last)
{
    return unroll(m, seq, h0, c0, h_last, c_last, true, false);
}

/* ---- the layer kinds ---- */

/* Gate blocks stacked in a kind's weights: RNN 1, LSTM 4 (i, f, g, o), GRU 3 (r, z, n). */
static int64_t gates(const tg_module *m) { return m->kind == &tg_layer_kind_lstm ? 4 : m->kind == &tg_layer_kind_gru ? 3 : 1; }

/* W_ih [G·H, in], W_hh [G·H, H], b_ih, b_hh [G·H]: PyTorch's names and layout
 * for layer 0 of nn.RNN/LSTM/GRU (the same gate order, so weights copy over
 * as they are; PyTorch's own forget-gate bias starts at 0, not 1). */
static tg_status recurrent_make(tg_module *m, tg_rng *rng)
{
    int64_t g = gates(m), in = m->spec.in, out = m->spec.out;
    tg_tensor *w_ih = tg_module_add_tensor(m, "weight_ih", true, TG_SHAPE(g * out, in));
    tg_tensor *w_hh = w_ih ? tg_module_add_tensor(m, "weight_hh", true, TG_SHAPE(g * out, out)) : NULL;
    tg_tensor *b_ih = w_hh ? tg_module_add_tensor(m, "bias_ih", true, TG_SHAPE(g * out)) : NULL;
    if (!b_ih || !tg_module_add_tensor(m, "bias_hh", true, TG_SHAPE(g * out)))
        return TG_ERR_NOMEM;
    tg_status status = tg_init_fill_fans(w_ih, m->spec.init, (double)in, (double)out, 1, rng);
    if (status == TG_OK)
        status = tg_init_fill_fans(w_hh, m->spec.init, (double)out, (double)out, 1, rng);
    if (m->kind == &tg_layer_kind_lstm) /* forget gate open at the start: gradients flow through c */
        for (int64_t i = out; i < 2 * out; i++)
            tg_tensor_set(b_ih, i, 1);
    return status;
}

static tg_status recurrent_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                                 int64_t out_shape[TG_MAX_RANK])
{
    const tg_layer_spec *s = &m->spec;
    if (rank != 3 || shape[2] != s->in) {
        char want[128];
        snprintf(want, sizeof want, "a sequence [B, T, %lld] (rank 3, batch-first: batch, time, %lld features)",
                 (long long)s->in, (long long)s->in);
        return tg_module_shape_error(m, rank, shape, want);
    }
    if (s->last_state) { /* h_T [B, out] */
        *out_rank = 2;
        out_shape[1] = s->out;
    } else
        out_shape[2] = s->out;
    return TG_OK;
}

static tg_tensor *recurrent_forward(tg_module *m, tg_tensor *x)
{
    return unroll(m, x, NULL, NULL, NULL, NULL, !m->spec.last_state, true);
}

static void recurrent_describe(const tg_layer_spec *s, char *buf, size_t size)
{
    snprintf(buf, size, "%lld->%lld%s", (long long)s->in, (long long)s->out, s->last_state ? ", last state" : "");
}

static int recurrent_sample(const tg_layer_spec *s, int64_t shape[TG_MAX_RANK])
{
    shape[0] = 2, shape[1] = 3, shape[2] = s->in; /* [B, T, in] */
    return 3;
}

/* C export: the weights of both inputs, gate and state scratch, and the
 * cell's loop over the steps (one kernel per cell). */
static const char rnn_c_kernel[] =
    "/* x [steps, in] -> y [steps, hidden] (or [hidden]): h' = tanh(gi + gh) */\n"
    "static void rnn(const recurrent *r, const float *x, float *y, int steps, int in, int hidden, int last_only)\n"
    "{\n"
    "    for (int j = 0; j < hidden; j++)\n"
    "        r->h[j] = 0.0f;\n"
    "    for (int t = 0; t < steps; t++) {\n"
    "        matvec(&r->ih, x + (long)t * in, r->gi, hidden, in);\n"
    "        matvec(&r->hh, r->h, r->gh, hidden, hidden);\n"
    "        for (int j = 0; j < hidden; j++)\n"
    "            r->h[j] = tanhf(r->gi[j] + r->gh[j]);\n"
    "        keep_state(r->h, y, t, steps, hidden, last_only);\n"
    "    }\n"
    "}\n\n";

static const char lstm_c_kernel[] =
    "/* x [steps, in] -> y [steps, hidden] (or [hidden]): i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of the\n"
    " * blocks of gi + gh; c' = f c + i g; h' = o tanh(c') */\n"
    "static void lstm(const recurrent *r, const float *x, float *y, int steps, int in, int hidden, int last_only)\n"
    "{\n"
    "    for (int j = 0; j < hidden; j++)\n"
    "        r->h[j] = r->c[j] = 0.0f;\n"
    "    for (int t = 0; t < steps; t++) {\n"
    "        matvec(&r->ih, x + (long)t * in, r->gi, 4 * hidden, in);\n"
    "        matvec(&r->hh, r->h, r->gh, 4 * hidden, hidden);\n"
    "        for (int j = 0; j < hidden; j++) {\n"
    "            float in_gate = sigmoid(r->gi[j] + r->gh[j]);\n"
    "            float forget = sigmoid(r->gi[hidden + j] + r->gh[hidden + j]);\n"
    "            float cand = tanhf(r->gi[2 * hidden + j] + r->gh[2 * hidden + j]);\n"
    "            float out_gate = sigmoid(r->gi[3 * hidden + j] + r->gh[3 * hidden + j]);\n"
    "            r->c[j] = forget * r->c[j] + in_gate * cand;\n"
    "            r->h[j] = out_gate * tanhf(r->c[j]);\n"
    "        }\n"
    "        keep_state(r->h, y, t, steps, hidden, last_only);\n"
    "    }\n"
    "}\n\n";

static const char gru_c_kernel[] =
    "/* x [steps, in] -> y [steps, hidden] (or [hidden]): r, z = sigmoid of the first two blocks of gi + gh;\n"
    " * n = tanh(gi_n + r gh_n); h' = n + z (h - n) */\n"
    "static void gru(const recurrent *r, const float *x, float *y, int steps, int in, int hidden, int last_only)\n"
    "{\n"
    "    for (int j = 0; j < hidden; j++)\n"
    "        r->h[j] = 0.0f;\n"
    "    for (int t = 0; t < steps; t++) {\n"
    "        matvec(&r->ih, x + (long)t * in, r->gi, 3 * hidden, in);\n"
    "        matvec(&r->hh, r->h, r->gh, 3 * hidden, hidden);\n"
    "        for (int j = 0; j < hidden; j++) {\n"
    "            float reset = sigmoid(r->gi[j] + r->gh[j]);\n"
    "            float update = sigmoid(r->gi[hidden + j] + r->gh[hidden + j]);\n"
    "            float cand = tanhf(r->gi[2 * hidden + j] + reset * r->gh[2 * hidden + j]);\n"
    "            r->h[j] = cand + update * (r->h[j] - cand);\n"
    "        }\n"
    "        keep_state(r->h, y, t, steps, hidden, last_only);\n"
    "    }\n"
    "}\n\n";

static bool recurrent_c_data(tg_c_file *c, const tg_c_layer *L)
{
    const tg_module *m = L->m;
    char name[48], ih[160], hh[160];
    snprintf(name, sizeof name, "%s_ih", L->cname);
    if (!tg_c_put_weights(c, name, m->params[0], m->params[2], ih, sizeof ih))
        return false;
    snprintf(name, sizeof name, "%s_hh", L->cname);
    if (!tg_c_put_weights(c, name, m->params[1], m->params[3], hh, sizeof hh))
        return false;
    const char *l = L->cname;
    long long g = gates(m), hidden = m->spec.out, cell = m->kind == &tg_layer_kind_lstm ? hidden : 1;
    tg_c_putf(c, "static float %s_gi[%lld], %s_gh[%lld], %s_h[%lld], %s_c[%lld];\n", l, g * hidden, l, g * hidden, l,
              hidden, l, cell);
    tg_c_putf(c, "static const recurrent %s = {%s, %s, %s_gi, %s_gh, %s_h, %s_c};\n\n", l, ih, hh, l, l, l, l);
    return true;
}

static void recurrent_c_call(tg_c_file *c, const tg_c_layer *L, const char *x, const char *y)
{
    const tg_layer_spec *s = &L->m->spec;
    tg_c_putf(c, "    %s(&%s, %s, %s, %lld, %lld, %lld, %d);\n", L->m->kind->name, L->cname, x, y,
              (long long)L->in_shape[0], (long long)s->in, (long long)s->out, s->last_state ? 1 : 0);
}

#define RECURRENT_C_EXPORT(KERNEL, CALLS) \
    {.kernel = KERNEL, .calls = CALLS, .write_data = recurrent_c_data, .write_call = recurrent_c_call}
static const tg_layer_c_export rnn_c_export = RECURRENT_C_EXPORT(rnn_c_kernel, TG_C_RECURRENT);
static const tg_layer_c_export lstm_c_export = RECURRENT_C_EXPORT(lstm_c_kernel, TG_C_RECURRENT | TG_C_SIGMOID);
static const tg_layer_c_export gru_c_export = RECURRENT_C_EXPORT(gru_c_kernel, TG_C_RECURRENT | TG_C_SIGMOID);

#define RECURRENT_FIELDS (TG_LAYER_USES_IN | TG_LAYER_USES_OUT | TG_LAYER_USES_INIT | TG_LAYER_USES_LAST_STATE)
#define RECURRENT_KIND(NAME, C_EXPORT)                                                                     \
    {                                                                                                      \
        .name = NAME, .fields = RECURRENT_FIELDS, .make = recurrent_make, .shape = recurrent_shape,        \
        .forward = recurrent_forward, .describe = recurrent_describe,                                      \
        .torch_names = (const char *const[]){"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}, \
        .sample_input = recurrent_sample, .c_export = C_EXPORT,                                            \
    }

const tg_layer_kind_def tg_layer_kind_rnn = RECURRENT_KIND("rnn", &rnn_c_export);
const tg_layer_kind_def tg_layer_kind_lstm = RECURRENT_KIND("lstm", &lstm_c_export);
const tg_layer_kind_def tg_layer_kind_gru = RECURRENT_KIND("gru", &gru_c_export);
