/* The loss ops (mse_loss, cross_entropy), fused: one op each, so the forward
 * pass is a single kernel and the diagram shows one node. Their backward rules
 * are ops as everywhere else. (Losses composed of ops, for training, sit with
 * the training code, above ops/.) */
#include "autograd/internal.h"

#include <string.h>
#include <stdio.h>
#include <tgmath.h>

/* L = (1/N) Σ (a - b)², the op mse_loss */
tg_tensor *tg_loss_mse(tg_tensor *a, tg_tensor *b)
{
    if (!tg_check_pair("tg_loss_mse (op mse_loss)", a, b))
        return NULL;
    if (a->rank != b->rank || memcmp(a->shape, b->shape, sizeof(int64_t) * a->rank))
        return tg_ctx_fail(a->ctx, TG_ERR_SHAPE, "tg_loss_mse (op mse_loss): prediction %s and target %s; expected equal shapes",
                       tg_shape_of(a).s, tg_shape_of(b).s), NULL;
    tg_tensor *y = tg_step_tensor(a->ctx, (tg_dtype)a->dtype, 0, NULL, false);
    if (!y)
        return NULL;
    TG_TYPED(a->dtype, T, {
        const T *A = a->data, *B = b->data;
        double total = 0;
        for (int64_t i = 0; i < a->size; i++)
            total += (double)(A[i] - B[i]) * (double)(A[i] - B[i]);
        *(T *)y->data = (T)(total / (double)a->size);
    });
    return tg_record2(&tg_op_mse_loss, y, a, b);
}

/* L = Σ(a - b)²/n: da = 2(a - b)/n · dy, db = -da */
static void mse_loss_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    tg_tensor *a = n->in[0], *b = n->in[1];
    tg_tensor *da = tg_mul_scalar(tg_mul(tg_sub(a, b), dy), 2.0 / (double)a->size);
    if (a->requires_grad)
        dx[0] = da;
    if (b->requires_grad)
        dx[1] = tg_neg(da);
}

static void mse_loss_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    const char *a = tg_vjp_name(n->in[0], "a"), *b = tg_vjp_name(n->in[1], "b");
    snprintf(buf, size, "·%s2(%s−%s)/%lld", input ? "−" : "", a, b, (long long)n->in[0]->size);
}

const tg_op_desc tg_op_mse_loss = {.kind = TG_OP_MSE_LOSS, .name = "mse_loss", .backward = mse_loss_backward, .vjp_label = mse_loss_vjp_label};

/* Deprecated: the name tg_loss_mse had before the two were one. */
tg_tensor *tg_mse_loss(tg_tensor *a, tg_tensor *b) { return tg_loss_mse(a, b); }

/* ---- softmax cross-entropy ---- */

static bool index_targets(const tg_tensor *z, const tg_tensor *t) { return t->rank == 1 && z->shape[0] == t->shape[0]; }

/* Class indices of either kind: TG_I64, or whole numbers in z's float dtype. */
static bool check_targets(tg_tensor *z, tg_tensor *t)
{
    if (!tg_check_live("cross_entropy", z) || !tg_check_tensor("cross_entropy", t))
        return false;
    if (t->dtype != TG_I64)
        return tg_check_pair("cross_entropy", z, t);
    if (t->ctx != z->ctx)
        return tg_ctx_fail(z->ctx, TG_ERR_ARG, "cross_entropy: inputs belong to different contexts"), false;
    if (z->rank == 2 && !index_targets(z, t))
        return tg_ctx_fail(z->ctx, TG_ERR_SHAPE, "cross_entropy: logits %s with i64 targets %s; expected class "
                           "indices [%lld]", tg_shape_of(z).s, tg_shape_of(t).s, (long long)z->shape[0]), false;
    return true;
}

tg_tensor *tg_cross_entropy(tg_tensor *z, tg_tensor *t)
{
    if (!check_targets(z, t))
        return NULL;
    if (z->rank != 2)
        return tg_ctx_fail(z->ctx, TG_ERR_SHAPE, "cross_entropy: logits have shape %s; expected [n, classes]",
                       tg_shape_of(z).s), NULL;
    int64_t rows = z->shape[0], classes = z->shape[1];
    bool indices = index_targets(z, t);
    if (!indices && (t->rank != 2 || t->shape[0] != rows || t->shape[1] != classes))
        return tg_ctx_fail(z->ctx, TG_ERR_SHAPE, "cross_entropy: logits %s with targets %s; expected targets [%lld] "
                       "(class indices) or [%lld, %lld] (probabilities)", tg_shape_of(z).s, tg_shape_of(t).s,
                       (long long)rows, (long long)rows, (long long)classes), NULL;
    if (indices && t->requires_grad)
        return tg_ctx_fail(z->ctx, TG_ERR_GRAD, "cross_entropy: class-index targets cannot require a gradient"), NULL;
    tg_tensor *y = tg_step_tensor(z->ctx, (tg_dtype)z->dtype, 0, NULL, false);
    if (!y)
        return NULL;
    bool bad = false;
    TG_TYPED(z->dtype, T, {
        const T *Z = z->data, *P = t->data;
        double total = 0;
        for (int64_t r = 0; r < rows && !bad; r++) {
            const T *row = Z + r * classes;
            T max = row[0], sum = 0;
            for (int64_t j = 1; j < classes; j++)
                max = row[j] > max ? row[j] : max;
            for (int64_t j = 0; j < classes; j++)
                sum += exp(row[j] - max);
            T log_norm = max + log(sum); /* log Σ exp(z): -log softmax(z)ⱼ = log_norm - zⱼ */
            if (indices && t->dtype == TG_I64) {
                int64_t label = ((const int64_t *)t->data)[r];
                if (label < 0 || label >= classes) {
                    tg_ctx_fail(z->ctx, TG_ERR_ARG, "cross_entropy: target %lld is %lld; expected a class index "
                            "0 to %lld", (long long)r, (long long)label, (long long)classes - 1);
                    bad = true;
                }
                else
                    total += log_norm - row[label];
            } else if (indices) {
                T label = P[r];
                if (!(label >= 0 && label < (T)classes && label == floor(label))) {
                    tg_ctx_fail(z->ctx, TG_ERR_ARG, "cross_entropy: target %lld is %g; expected a class index "
                            "0 to %lld", (long long)r, (double)label, (long long)classes - 1);
                    bad = true;
                }
                else
                    total += log_norm - row[(int64_t)label];
            } else {
                for (int64_t j = 0; j < classes; j++)
                    if (P[r * classes + j] != 0)
                        total += P[r * classes + j] * (log_norm - row[j]);
            }
        }
        *(T *)y->data = (T)(total / (double)rows);
    });
    return bad ? NULL : tg_record2(&tg_op_cross_entropy, y, z, t);
}

/* Index targets as one-hot rows: a constant, not part of the graph. */
static tg_tensor *one_hot(const tg_tensor *z, const tg_tensor *t)
{
    tg_tensor *p = tg_step_like(z, true);
    if (p)
        for (int64_t r = 0; r < z->shape[0]; r++)
            tg_tensor_set(p, r * z->shape[1] + (int64_t)tg_tensor_get(t, r), 1.0);
    return p;
}

/* dz = (softmax(z)·Σⱼpⱼ - p)/n · dy, where Σⱼpⱼ = 1 for indices and one-hot
 * rows;  dp = -log_softmax(z)/n · dy */
static void cross_entropy_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    tg_tensor *z = n->in[0], *t = n->in[1];
    tg_tensor *scale = tg_mul_scalar(dy, 1.0 / (double)z->shape[0]);
    if (z->requires_grad && index_targets(z, t))
        dx[0] = tg_mul(tg_sub(tg_softmax(z), one_hot(z, t)), scale);
    else if (z->requires_grad)
        dx[0] = tg_mul(tg_sub(tg_mul(tg_softmax(z), tg_sum_axis(t, -1, true)), t), scale);
    if (t->requires_grad)
        dx[1] = tg_mul(tg_neg(tg_log_softmax(z)), scale);
}

static void cross_entropy_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    long long rows = (long long)n->in[0]->shape[0];
    if (input == 0)
        snprintf(buf, size, "·(softmax(z) − p)/%lld", rows);
    else
        snprintf(buf, size, "·(−log softmax(z))/%lld", rows);
}

const tg_op_desc tg_op_cross_entropy = {.kind = TG_OP_CROSS_ENTROPY, .name = "cross_entropy", .backward = cross_entropy_backward,
                                        .vjp_label = cross_entropy_vjp_label};
