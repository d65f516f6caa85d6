/* An Elman RNN over a [T, B, F] sequence tensor, and the task it learns:
 * count the ones in a sequence of T random bits (classes 0..T). Shared by
 * examples/elman_rnn.c and tests/test_ops_select.c, so the test checks the
 * very model the example trains.
 *
 *   h_0 = 0;  h_t = tanh(x_t·W_xh + h_{t-1}·W_hh + b_h);  logits = h_T·W_hy + b_y
 *
 * x_t is tg_slice(sequence, 0, t, t + 1, 1) reshaped to [B, F]; backward
 * carries the gradient of every step back into its slice of the sequence. */
#ifndef TAPEGRAD_EXAMPLES_ELMAN_RNN_H
#define TAPEGRAD_EXAMPLES_ELMAN_RNN_H

#include <math.h>

#include "tapegrad.h"

enum { ELMAN_FEATURES = 2 }; /* bit b as one-hot [1 - b, b] */

typedef struct {
    tg_tensor *w_xh, *w_hh, *b_h, *w_hy, *b_y; /* [F, H], [H, H], [H], [H, C], [C] */
    tg_tensor *items[5];
    tg_params params;
} elman_rnn;

static inline tg_tensor *elman_param(tg_ctx *ctx, const char *name, int64_t rows, int64_t cols, double scale,
                                     tg_rng *rng)
{
    tg_tensor *t = cols ? tg_tensor_randn(ctx, rng, TG_F32, TG_SHAPE(rows, cols), 0, scale)
                        : tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(rows));
    tg_tensor_set_name(t, name);
    tg_tensor_set_requires_grad(t, true);
    return t;
}

static inline void elman_init(elman_rnn *m, tg_ctx *ctx, int64_t hidden, int64_t classes, tg_rng *rng)
{
    m->w_xh = elman_param(ctx, "rnn.w_xh", ELMAN_FEATURES, hidden, 1.0, rng);
    m->w_hh = elman_param(ctx, "rnn.w_hh", hidden, hidden, 1.0 / sqrt((double)hidden), rng);
    m->b_h = elman_param(ctx, "rnn.b_h", hidden, 0, 0, rng);
    m->w_hy = elman_param(ctx, "rnn.w_hy", hidden, classes, 1.0 / sqrt((double)hidden), rng);
    m->b_y = elman_param(ctx, "rnn.b_y", classes, 0, 0, rng);
    tg_tensor *items[5] = {m->w_xh, m->w_hh, m->b_h, m->w_hy, m->b_y};
    for (int i = 0; i < 5; i++)
        m->items[i] = items[i];
    m->params = (tg_params){5, m->items};
}

/* logits [B, C] for sequence [T, B, F] */
static inline tg_tensor *elman_forward(const elman_rnn *m, tg_tensor *sequence)
{
    int64_t steps = tg_tensor_dim(sequence, 0), batch = tg_tensor_dim(sequence, 1);
    int64_t hidden = tg_tensor_dim(m->w_hh, 0);
    tg_tensor *h = tg_tensor_temp(tg_tensor_ctx(sequence), TG_F32, TG_SHAPE(batch, hidden));
    for (int64_t t = 0; t < steps; t++) {
        tg_tensor *x_t = tg_reshape(tg_slice(sequence, 0, t, t + 1, 1), TG_SHAPE(batch, ELMAN_FEATURES));
        h = tg_tanh(tg_add(tg_add(tg_matmul(x_t, m->w_xh), tg_matmul(h, m->w_hh)), m->b_h));
    }
    return tg_add(tg_matmul(h, m->w_hy), m->b_y);
}

/* B random bit sequences into sequence [T, B, F] (persistent, f32) and
 * their counts of ones into labels [B] (i64). */
static inline void elman_sample(tg_tensor *sequence, tg_tensor *labels, tg_rng *rng)
{
    int64_t steps = tg_tensor_dim(sequence, 0), batch = tg_tensor_dim(sequence, 1);
    float *x = tg_tensor_data(sequence);
    int64_t *count = tg_tensor_data(labels);
    for (int64_t b = 0; b < batch; b++)
        count[b] = 0;
    for (int64_t t = 0; t < steps; t++)
        for (int64_t b = 0; b < batch; b++) {
            int bit = (int)tg_rng_below(rng, 2);
            x[(t * batch + b) * ELMAN_FEATURES] = (float)(1 - bit);
            x[(t * batch + b) * ELMAN_FEATURES + 1] = (float)bit;
            count[b] += bit;
        }
}

/* The fraction of rows whose argmax of logits is their label. */
static inline double elman_accuracy(tg_tensor *logits, const tg_tensor *labels)
{
    tg_tensor *predicted = tg_argmax(logits, 1, false);
    if (!predicted)
        return -1;
    const int64_t *p = tg_tensor_data_const(predicted), *y = tg_tensor_data_const(labels);
    int64_t right = 0, n = tg_tensor_size(labels);
    for (int64_t i = 0; i < n; i++)
        right += p[i] == y[i];
    return (double)right / (double)n;
}

/* Accuracy of the model on a fixed test set, without recording. */
static inline double elman_evaluate(const elman_rnn *m, tg_tensor *sequence, const tg_tensor *labels)
{
    tg_ctx *ctx = tg_tensor_ctx(sequence);
    bool was = tg_grad_set_enabled(ctx, false);
    double accuracy = elman_accuracy(elman_forward(m, sequence), labels);
    tg_grad_set_enabled(ctx, was);
    tg_tape_reset(ctx);
    return accuracy;
}

/* steps of Adam on fresh batches; returns the last batch's loss (NaN on error). */
static inline double elman_train(elman_rnn *m, int64_t seq_len, int64_t batch, int steps, double lr, tg_rng *rng)
{
    tg_ctx *ctx = tg_tensor_ctx(m->w_xh);
    tg_tensor *sequence = tg_tensor_new(ctx, TG_F32, TG_SHAPE(seq_len, batch, ELMAN_FEATURES));
    tg_tensor *labels = tg_tensor_new(ctx, TG_I64, TG_SHAPE(batch));
    tg_optimizer *opt = tg_optim_adam_new(m->params, lr, 0.9, 0.999, 1e-8);
    double loss = NAN;
    for (int s = 0; s < steps && opt; s++) {
        elman_sample(sequence, labels, rng);
        tg_optim_zero_grad(opt);
        tg_tensor *l = tg_cross_entropy(elman_forward(m, sequence), labels);
        if (!l || tg_backward(l) != TG_OK || tg_optim_step(opt) != TG_OK) {
            loss = NAN;
            break;
        }
        loss = tg_tensor_item(l);
        tg_tape_reset(ctx);
    }
    tg_optim_free(opt);
    tg_tensor_free(sequence);
    tg_tensor_free(labels);
    return loss;
}

#endif
