/* Recurrent cells (RNN, LSTM, GRU) as compositions of ops, and the unrolling
 * of a cell over a sequence [T, B, in]. The gate blocks are stacked in one
 * weight per input, as in PyTorch: gᵢ = x·Wᵢₕᵀ + bᵢₕ and gₕ = h·Wₕₕᵀ + bₕₕ, each
 * [B, G·H] with G gate blocks of H columns, then
 *   RNN  (G = 1): h' = tanh(gᵢ + gₕ)
 *   LSTM (G = 4): i, f, g, o = σ, σ, tanh, σ of the blocks of gᵢ + gₕ;
 *                 c' = f⊙c + i⊙g;  h' = o⊙tanh(c')
 *   GRU  (G = 3): r, z = σ of the first two blocks of gᵢ + gₕ;
 *                 n = tanh(gᵢ,ₙ + r⊙gₕ,ₙ);  h' = (1 - z)⊙n + z⊙h = n + z⊙(h - n) */
#include "nn/layers/module_internal.h"

#include <stdlib.h>

static bool is_recurrent(const tg_module *m)
{
    return m->spec.kind == TG_LAYER_RNN || m->spec.kind == TG_LAYER_LSTM || m->spec.kind == TG_LAYER_GRU;
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
    switch (m->spec.kind) {
    case TG_LAYER_RNN: return tg_tanh(tg_add(gi, gh));
    case TG_LAYER_LSTM: {
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
    default: { /* GRU */
        tg_tensor *reset = tg_sigmoid(tg_add(block(gi, 0, hidden), block(gh, 0, hidden)));
        tg_tensor *update = tg_sigmoid(tg_add(block(gi, 1, hidden), block(gh, 1, hidden)));
        tg_tensor *cand = tg_tanh(tg_add(block(gi, 2, hidden), tg_mul(reset, block(gh, 2, hidden))));
        return tg_add(cand, tg_mul(update, tg_sub(h, cand)));
    }
    }
}

/* The cell over every step of seq; returns the stacked states [T, B, H], or,
 * when !stack, the last state alone (a layer that keeps only h_T need not
 * copy every step's state into one tensor). */
static tg_tensor *unroll(tg_module *m, tg_tensor *seq, tg_tensor *h0, tg_tensor *c0, tg_tensor **h_last,
                         tg_tensor **c_last, bool stack)
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
    int out_rank;
    int64_t out_shape[TG_MAX_RANK];
    if (tg_module_shape(m, tg_tensor_rank(seq), tg_tensor_shape(seq), &out_rank, out_shape) != TG_OK)
        return NULL;
    int64_t steps = tg_tensor_dim(seq, 0), batch = tg_tensor_dim(seq, 1);
    tg_tensor *local[256];
    tg_tensor **hs = steps <= 256 ? local : malloc((size_t)steps * sizeof *hs);
    if (!hs)
        return tg_ctx_fail(m->ctx, TG_ERR_NOMEM, "tg_recurrent_unroll: out of memory"), NULL;
    tg_tensor *h = h0, *c = c0, *out = NULL;
    int64_t t = 0;
    for (; t < steps; t++) {
        tg_tensor *x = tg_reshape(tg_slice(seq, 0, t, t + 1, 1), TG_SHAPE(batch, m->spec.in));
        tg_tensor *c2 = NULL;
        h = tg_recurrent_step(m, x, h, c, &c2);
        if (!h)
            break;
        c = c2;
        hs[t] = h;
    }
    if (t == steps) {
        out = stack ? tg_stack((int)steps, hs, 0) /* [T, B, H] */ : h;
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
    return unroll(m, seq, h0, c0, h_last, c_last, true);
}

tg_tensor *tg_recurrent_layer_forward(tg_module *m, tg_tensor *x)
{
    return unroll(m, x, NULL, NULL, NULL, NULL, !m->spec.last_state);
}
