/* Masks: masked_fill, and softmax with a scale, a mask and a causal flag,
 * fused into one pass per row.
 *
 * Masked positions are intended, not anomalies. softmax_masked never holds
 * −∞ (a masked position's probability is 0) and a row with every position
 * masked is all zeros, gradient included, never NaN. masked_fill's output
 * holds the fill value where the mask is set; when that value is ±∞ the op
 * asked for it, and anomaly mode lets it pass there (and only there: a
 * non-finite x at an unmasked position is still reported). */
#include "autograd/internal.h"
#include "ops/binary.h"
#include "ops/masked.h"
#include "ops/rows.h"

#include <stdio.h>
#include <tgmath.h>

/* ---- masked_fill ---- */

/* The mask's strides in x's index space (padded to 4 dims, 0 on broadcast
 * dims); false when the mask does not broadcast to x's shape itself. */
static bool mask_strides(const tg_tensor *mask, const tg_tensor *x, tg_broadcast *bc)
{
    return tg_broadcast_shapes(mask->rank, mask->shape, x->rank, x->shape, bc) &&
           tg_shape_equal(bc->rank, bc->shape, x->rank, x->shape);
}

/* Bool-like: any dtype, nonzero (NaN included) is set. */
static bool mask_set(const tg_tensor *mask, int64_t at)
{
    switch (mask->dtype) {
    case TG_F32: return ((const float *)mask->data)[at] != 0;
    case TG_F64: return ((const double *)mask->data)[at] != 0;
    default: return ((const int64_t *)mask->data)[at] != 0;
    }
}

#define FILL_LOOP(M, mask, x, y, bc, value)                                        \
    TG_TYPED((x)->dtype, T, {                                                      \
        const M *MK = (mask)->data;                                                \
        const T *X = (x)->data;                                                    \
        T *Y = (y)->data, fill = (T)(value);                                       \
        const int64_t *d = (bc).dims, *sm = (bc).stride_a;                         \
        FOR_EACH_ROW(d, k) {                                                       \
            const M *rm = MK + ROW_OFFSET(sm);                                     \
            for (int64_t j = 0; j < d[3]; j++)                                     \
                Y[k + j] = rm[sm[3] * j] != 0 ? fill : X[k + j];                   \
        }                                                                          \
    })

static bool check_mask_arg(const char *op, const tg_tensor *x, const tg_tensor *mask)
{
    if (!tg_check_tensor(op, mask))
        return false;
    if (mask->ctx != x->ctx)
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "%s: the mask and x belong to different contexts", op), false;
    return true;
}

tg_tensor *tg_masked_fill(tg_tensor *x, tg_tensor *mask, double value)
{
    if (!tg_check_live("masked_fill", x) || !check_mask_arg("masked_fill", x, mask))
        return NULL;
    if (isnan(value))
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "masked_fill: value is NaN; expected a number or ±INFINITY"), NULL;
    tg_broadcast bc;
    if (!mask_strides(mask, x, &bc))
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "masked_fill: mask %s does not broadcast to x %s; expected a mask "
                           "whose dims, aligned on the right, equal x's or are 1", tg_shape_of(mask).s,
                           tg_shape_of(x).s), NULL;
    tg_tensor *y = tg_step_like(x, false);
    if (!y)
        return NULL;
    if (mask->dtype == TG_F32)
        FILL_LOOP(float, mask, x, y, bc, value);
    else if (mask->dtype == TG_F64)
        FILL_LOOP(double, mask, x, y, bc, value);
    else
        FILL_LOOP(int64_t, mask, x, y, bc, value);
    return tg_record(&tg_op_masked_fill, y, 2, (tg_tensor *[]){x, mask}, (tg_attr){.scalar = value});
}

/* dx = masked_fill(dy, mask, 0); the mask gets none */
static void masked_fill_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    if (n->in[0]->requires_grad)
        dx[0] = tg_masked_fill(dy, n->in[1], 0);
}

/* Anomaly mode: a ±∞ the op was asked to put at a masked position */
static bool masked_fill_anomaly_allows(const tg_node *n, int64_t index)
{
    const tg_tensor *x = n->in[0], *mask = n->in[1];
    if (isnan(n->attr.scalar) || isfinite(n->attr.scalar))
        return false;
    tg_broadcast bc;
    mask_strides(mask, x, &bc);
    int64_t at = 0, rest = index;
    for (int d = 3; d >= 0; d--) {
        at += (rest % bc.dims[d]) * bc.stride_a[d];
        rest /= bc.dims[d];
    }
    return mask_set(mask, at);
}

static void masked_fill_label(const tg_node *n, char *buf, size_t size)
{
    snprintf(buf, size, "masked_fill(%g)", n->attr.scalar);
}

static void masked_fill_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    if (input == 1)
        snprintf(buf, size, "0 (no gradient)");
    else
        snprintf(buf, size, "⊙[¬%s]", tg_vjp_name(n->in[1], "mask"));
}

const tg_op_desc tg_op_masked_fill = {.kind = TG_OP_MASKED_FILL, .name = "masked_fill", .backward = masked_fill_backward,
                                      .label = masked_fill_label, .vjp_label = masked_fill_vjp_label,
                                      .anomaly_allows = masked_fill_anomaly_allows};

/* ---- softmax with scale, mask and causal flag ---- */

typedef struct {
    double scale;
    bool causal, has_mask;
} softmax_masked_attr;

typedef struct {
    const tg_tensor *x, *mask; /* mask NULL, i64 (boolean) or x's dtype (additive) */
    tg_tensor *y;
    tg_broadcast bc;           /* the mask's strides in x's index space */
    double scale;
    bool causal;
} softmax_job;

/* y = softmax(scale·x + M) along each row, M the additive mask (−∞ where a
 * boolean mask is set or, with causal, past the row's position along the
 * next-to-last axis); a row with no position left is zeros. */
static void softmax_masked_rows(void *arg, int64_t begin, int64_t end)
{
    const softmax_job *job = arg;
    const int64_t *d = job->bc.dims, *sm = job->bc.stride_a;
    int64_t cols = d[3];
    bool boolean = job->mask && job->mask->dtype == TG_I64;
    TG_TYPED(job->x->dtype, T, {
        T scale = (T)job->scale;
        for (int64_t r = begin; r < end; r++) {
            int64_t i2 = r % d[2], i1 = r / d[2] % d[1], i0 = r / d[2] / d[1];
            const T *x = (const T *)job->x->data + r * cols;
            T *y = (T *)job->y->data + r * cols;
            /* positions past `last` are masked by causality */
            int64_t last = job->causal ? (i2 < cols - 1 ? i2 : cols - 1) : cols - 1;
            T max = -INFINITY;
            if (!job->mask) {
                for (int64_t j = 0; j <= last; j++)
                    y[j] = scale * x[j];
            } else if (boolean) {
                const int64_t *m = (const int64_t *)job->mask->data + ROW_OFFSET(sm);
                for (int64_t j = 0; j <= last; j++)
                    y[j] = m[sm[3] * j] ? -INFINITY : scale * x[j];
            } else {
                const T *m = (const T *)job->mask->data + ROW_OFFSET(sm);
                for (int64_t j = 0; j <= last; j++)
                    y[j] = scale * x[j] + m[sm[3] * j];
            }
            for (int64_t j = 0; j <= last; j++)
                max = y[j] > max ? y[j] : max;
            if (max == -INFINITY) { /* every position masked */
                for (int64_t j = 0; j < cols; j++)
                    y[j] = 0;
                continue;
            }
            T total = 0;
            for (int64_t j = 0; j <= last; j++)
                total += (y[j] = exp(y[j] - max));
            T inverse = 1 / total;
            for (int64_t j = 0; j <= last; j++)
                y[j] *= inverse;
            for (int64_t j = last + 1; j < cols; j++)
                y[j] = 0;
        }
    });
}

/* An additive mask holds numbers or −∞: +∞ or NaN would make a row NaN. */
static bool check_additive_mask(const char *op, const tg_tensor *x, const tg_tensor *mask)
{
    int64_t bad = -1;
    double value = 0;
    TG_TYPED(mask->dtype, T, {
        const T *m = mask->data;
        for (int64_t i = 0; i < mask->size && bad < 0; i++)
            if (isnan(m[i]) || m[i] == INFINITY)
                bad = i, value = (double)m[i];
    });
    if (bad >= 0)
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "%s: additive mask %s holds %g at flat index %lld; expected finite "
                           "values or -INFINITY", op, tg_shape_of(mask).s, value, (long long)bad), false;
    return true;
}

/* Checks x and an optional mask for a masked softmax over x's last axis (op
 * names the caller); fills bc with the mask's strides in x's index space. */
bool tg_check_softmax_mask(const char *op, const tg_tensor *x, const tg_tensor *mask, tg_broadcast *bc)
{
    if (!mask) {
        tg_broadcast_shapes(0, NULL, x->rank, x->shape, bc);
        return true;
    }
    if (!check_mask_arg(op, x, mask))
        return false;
    if (mask->dtype != TG_I64 && mask->dtype != x->dtype)
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "%s: mask %s is %s and the scores %s; expected an i64 mask "
                           "(nonzero: masked out) or an additive one of the scores' dtype", op, tg_shape_of(mask).s,
                           tg_dtype_name((tg_dtype)mask->dtype), tg_dtype_name((tg_dtype)x->dtype)), false;
    if (!mask_strides(mask, x, bc))
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: mask %s does not broadcast to the scores %s; expected dims, "
                           "aligned on the right, equal to the scores' or 1", op, tg_shape_of(mask).s,
                           tg_shape_of(x).s), false;
    return mask->dtype == TG_I64 || check_additive_mask(op, x, mask);
}

/* The kernel of softmax_masked into y (x's shape), for attention too. */
void tg_softmax_masked_kernel(const tg_tensor *x, const tg_tensor *mask, const tg_broadcast *bc, double scale,
                              bool causal, tg_tensor *y)
{
    int64_t cols = x->shape[x->rank - 1];
    if (cols == 0)
        return;
    softmax_job job = {.x = x, .mask = mask, .y = y, .bc = *bc, .scale = scale, .causal = causal};
    tg_parallel_rows(x->ctx, x->size / cols, cols, softmax_masked_rows, &job);
}

tg_tensor *tg_softmax_masked(tg_tensor *x, double scale, tg_tensor *mask, bool causal)
{
    const char *op = "softmax_masked";
    if (!tg_check_live(op, x))
        return NULL;
    if (x->rank == 0)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: x is a scalar; expected at least one axis", op), NULL;
    if (!isfinite(scale))
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "%s: scale is %g; expected a finite number", op, scale), NULL;
    if (causal && x->rank < 2)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: causal with x %s; expected scores [..., T, S] of rank 2 or "
                           "more", op, tg_shape_of(x).s), NULL;
    tg_broadcast bc;
    if (!tg_check_softmax_mask(op, x, mask, &bc))
        return NULL;
    tg_tensor *y = tg_step_like(x, false);
    if (!y)
        return NULL;
    tg_softmax_masked_kernel(x, mask, &bc, scale, causal, y);
    tg_tensor *in[2] = {x, mask};
    int n_in = mask ? 2 : 1;
    if (!tg_record_needed(y, n_in, in))
        return y;
    softmax_masked_attr attr = {.scale = scale, .causal = causal, .has_mask = mask != NULL};
    const void *stored = tg_attr_store(x->ctx, &attr, sizeof attr);
    return stored ? tg_record(&tg_op_softmax_masked, y, n_in, in, (tg_attr){.data = stored}) : NULL;
}

/* z = scale·x + M, y = softmax(z):  dz = y ⊙ (dy - Σ dy⊙y),  dx = scale·dz,
 * dM = dz summed to the additive mask's shape (a boolean mask gets none). A
 * masked position has y = 0, so neither x nor M gets a gradient there. */
static void softmax_masked_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    const softmax_masked_attr *a = n->attr.data;
    tg_tensor *y = n->out, *x = n->in[0], *mask = a->has_mask ? n->in[1] : NULL;
    tg_tensor *dz = tg_mul(y, tg_sub(dy, tg_sum_axis(tg_mul(dy, y), -1, true)));
    if (x->requires_grad)
        dx[0] = tg_mul_scalar(dz, a->scale);
    if (mask && mask->requires_grad && mask->dtype != TG_I64)
        dx[1] = tg_reduce_to(dz, mask);
}

static void softmax_masked_label(const tg_node *n, char *buf, size_t size)
{
    const softmax_masked_attr *a = n->attr.data;
    const char *mask = !a->has_mask ? "" : n->in[1]->dtype == TG_I64 ? ", mask" : ", +mask";
    snprintf(buf, size, "softmax(%g·x%s%s)", a->scale, mask, a->causal ? ", causal" : "");
}

static void softmax_masked_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    const softmax_masked_attr *a = n->attr.data;
    if (input == 0)
        snprintf(buf, size, "%g·y⊙(δ − Σ δ⊙y)", a->scale);
    else if (n->in[1]->dtype == TG_I64)
        snprintf(buf, size, "0 (no gradient)");
    else
        snprintf(buf, size, "y⊙(δ − Σ δ⊙y), Σ to the mask's shape");
}

const tg_op_desc tg_op_softmax_masked = {.kind = TG_OP_SOFTMAX_MASKED, .name = "softmax_masked",
                                         .backward = softmax_masked_backward, .label = softmax_masked_label,
                                         .vjp_label = softmax_masked_vjp_label};
