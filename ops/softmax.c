/* Softmax and log-softmax along the last axis. Both subtract the row max
 * first, so logits of ±1000 give finite results. f32 rows take their
 * exponentials from the vector kernel of ops/vecmath.h (at most 1 ulp). */
#include "autograd/internal.h"
#include "ops/vecmath.h"

#include <stdio.h>
#include <tgmath.h>

static tg_tensor *softmax_rows(const tg_op_desc *kind, tg_tensor *x)
{
    const char *op = kind->name;
    if (!tg_check_live(op, x))
        return NULL;
    if (x->rank == 0)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: input is a scalar; expected at least one axis", op), NULL;
    tg_tensor *y = tg_step_like(x, false);
    if (!y)
        return NULL;
    int64_t cols = x->shape[x->rank - 1], rows = x->size / cols;
    TG_TYPED(x->dtype, T, {
        for (int64_t r = 0; r < rows; r++) {
            const T *z = (const T *)x->data + r * cols;
            T *out = (T *)y->data + r * cols;
            T max = z[0], total = 0;
            for (int64_t j = 1; j < cols; j++)
                max = z[j] > max ? z[j] : max;
            if (x->dtype == TG_F32) {
                for (int64_t j = 0; j < cols; j++)
                    out[j] = (T)(z[j] - max);
                tg_vexp_f32((const float *)out, (float *)out, cols);
                for (int64_t j = 0; j < cols; j++)
                    total += out[j];
            } else {
                for (int64_t j = 0; j < cols; j++)
                    total += (out[j] = exp(z[j] - max));
            }
            if (kind == &tg_op_softmax) {
                for (int64_t j = 0; j < cols; j++)
                    out[j] /= total;
            } else {
                /* (z - max) - log Σ, not z - (max + log Σ): with z near
                 * ±1e38 in f32, max + log Σ rounds back to max. */
                T log_total = log(total);
                for (int64_t j = 0; j < cols; j++)
                    out[j] = (z[j] - max) - log_total;
            }
        }
    });
    return tg_record1(kind, y, x);
}

tg_tensor *tg_softmax(tg_tensor *x) { return softmax_rows(&tg_op_softmax, x); }
tg_tensor *tg_log_softmax(tg_tensor *x) { return softmax_rows(&tg_op_log_softmax, x); }

/* dx = y ⊙ (dy - Σⱼ dyⱼ yⱼ) */
static void softmax_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    tg_tensor *y = n->out;
    dx[0] = tg_mul(y, tg_sub(dy, tg_sum_axis(tg_mul(dy, y), -1, true)));
}

/* dx = dy - softmax(x) Σⱼ dyⱼ, with softmax(x) = exp(y) */
static void log_softmax_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_sub(dy, tg_mul(tg_exp(n->out), tg_sum_axis(dy, -1, true)));
}

static void softmax_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)n, (void)input;
    snprintf(buf, size, "y⊙(δ − Σ δ⊙y)");
}

static void log_softmax_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)n, (void)input;
    snprintf(buf, size, "δ − softmax·Σδ");
}

const tg_op_desc tg_op_softmax = {.kind = TG_OP_SOFTMAX, .name = "softmax", .backward = softmax_backward, .vjp_label = softmax_vjp_label};
const tg_op_desc tg_op_log_softmax = {.kind = TG_OP_LOG_SOFTMAX, .name = "log_softmax", .backward = log_softmax_backward,
                                      .vjp_label = log_softmax_vjp_label};
