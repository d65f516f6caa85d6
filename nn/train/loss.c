/* Losses as compositions of public ops: the tape differentiates them, so each
 * formula below is the whole implementation. All return scalar step tensors. */
#include "tapegrad/nn.h"

#include <string.h>

/* Losses compare elementwise: broadcasting would hide a wrong target shape. */
static bool same_shapes(const char *who, tg_tensor *a, tg_tensor *b)
{
    if (!a || !b)
        return false;
    int rank = tg_tensor_rank(a);
    if (rank < 0 || tg_tensor_rank(b) < 0)
        return false; /* freed or stale: reported by the accessor */
    if (rank == tg_tensor_rank(b) && !memcmp(tg_tensor_shape(a), tg_tensor_shape(b), sizeof(int64_t) * (size_t)rank))
        return true;
    char sa[64], sb[64];
    tg_ctx_fail(tg_tensor_ctx(a), TG_ERR_SHAPE, "%s: prediction %s and target %s; expected equal shapes", who,
                tg_shape_str(rank, tg_tensor_shape(a), sa, sizeof sa),
                tg_shape_str(tg_tensor_rank(b), tg_tensor_shape(b), sb, sizeof sb));
    return false;
}

static tg_tensor *reduce(tg_tensor *x, tg_reduction reduction, const char *who)
{
    if (!x)
        return NULL;
    switch (reduction) {
    case TG_REDUCE_MEAN: return tg_mean(x);
    case TG_REDUCE_SUM: return tg_sum(x);
    }
    tg_ctx_fail(tg_tensor_ctx(x), TG_ERR_ARG, "%s: unknown reduction %d; expected TG_REDUCE_MEAN or TG_REDUCE_SUM",
                who, (int)reduction);
    return NULL;
}

/* L = (1/N) Σ (pred - target)² (the fused op: one kernel, one tape entry) */
tg_tensor *tg_loss_mse(tg_tensor *pred, tg_tensor *target)
{
    return same_shapes("tg_loss_mse", pred, target) ? tg_mse_loss(pred, target) : NULL;
}

/* E = ½ Σ (pred - target)²;  dE/dpred = pred - target */
tg_tensor *tg_loss_half_sse(tg_tensor *pred, tg_tensor *target)
{
    if (!same_shapes("tg_loss_half_sse", pred, target))
        return NULL;
    tg_tensor *diff = tg_sub(pred, target);
    return tg_mul_scalar(tg_sum(tg_mul(diff, diff)), 0.5);
}

/* L = -reduce[y ln(p + ε) + (1 - y) ln(1 - p + ε)] */
tg_tensor *tg_loss_bce(tg_tensor *prob, tg_tensor *target, tg_reduction reduction)
{
    if (!same_shapes("tg_loss_bce", prob, target))
        return NULL;
    const double eps = tg_tensor_dtype(prob) == TG_F32 ? 1e-7 : 1e-12; /* 1 + ε must differ from 1 */
    tg_tensor *log_p = tg_log(tg_add_scalar(prob, eps));                  /* ln(p + ε) */
    tg_tensor *log_q = tg_log(tg_add_scalar(tg_neg(prob), 1 + eps));      /* ln(1 - p + ε) */
    tg_tensor *not_y = tg_add_scalar(tg_neg(target), 1);                  /* 1 - y */
    tg_tensor *ll = tg_add(tg_mul(target, log_p), tg_mul(not_y, log_q)); /* log-likelihood per element */
    return tg_neg(reduce(ll, reduction, "tg_loss_bce"));
}

/* σ(z) = softmax([0, z])₁ and 1 - σ(z) = softmax([0, z])₀, so the binary loss is
 * the two-class softmax cross-entropy of Z = [0, z] against T = [1 - y, y]:
 *   L = -[y log σ(z) + (1 - y) log(1 - σ(z))],  dL/dz = σ(z) - y,
 * with tg_cross_entropy's max-subtracted log-sum-exp keeping it finite. The two
 * columns are made by matmuls with constant rows: z·[0, 1] and y·[-1, 1] + [1, 0]. */
tg_tensor *tg_loss_bce_logits(tg_tensor *logits, tg_tensor *target, tg_reduction reduction)
{
    if (!same_shapes("tg_loss_bce_logits", logits, target))
        return NULL;
    if (reduction != TG_REDUCE_MEAN && reduction != TG_REDUCE_SUM)
        return reduce(logits, reduction, "tg_loss_bce_logits");
    tg_ctx *ctx = tg_tensor_ctx(logits);
    tg_dtype dtype = tg_tensor_dtype(logits);
    int64_t n = tg_tensor_size(logits);
    tg_tensor *pick = tg_tensor_temp(ctx, dtype, TG_SHAPE(1, 2));  /* [0, 1] */
    tg_tensor *flip = tg_tensor_temp(ctx, dtype, TG_SHAPE(1, 2));  /* [-1, 1] */
    tg_tensor *shift = tg_tensor_temp(ctx, dtype, TG_SHAPE(1, 2)); /* [1, 0] */
    if (!pick || !flip || !shift)
        return NULL;
    tg_tensor_set(pick, 1, 1);
    tg_tensor_set(flip, 0, -1);
    tg_tensor_set(flip, 1, 1);
    tg_tensor_set(shift, 0, 1);
    tg_tensor *z2 = tg_matmul(tg_reshape(logits, TG_SHAPE(n, 1)), pick);                  /* [n, 2] = [0, z] */
    tg_tensor *t2 = tg_add(tg_matmul(tg_reshape(target, TG_SHAPE(n, 1)), flip), shift); /* [n, 2] = [1-y, y] */
    tg_tensor *mean = tg_cross_entropy(z2, t2);
    return reduction == TG_REDUCE_MEAN ? mean : tg_mul_scalar(mean, (double)n);
}

/* L = -(1/n) Σᵢ Σⱼ pᵢⱼ log softmax(zᵢ)ⱼ */
tg_tensor *tg_loss_softmax_ce(tg_tensor *logits, tg_tensor *targets)
{
    return tg_cross_entropy(logits, targets);
}

/* L = (λ/2) Σ_W Σ W² over the weights (rank ≥ 2);  dL/dW = λW */
tg_tensor *tg_loss_l2(tg_params params, double lambda)
{
    tg_ctx *ctx = NULL;
    for (int i = 0; i < params.count && !ctx && params.items; i++)
        if (params.items[i])
            ctx = tg_tensor_ctx(params.items[i]);
    if (!ctx)
        return NULL;
    if (!(lambda >= 0))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_loss_l2: lambda is %g; expected >= 0", lambda), NULL;
    tg_tensor *total = NULL;
    for (int i = 0; i < params.count; i++) {
        tg_tensor *w = params.items[i];
        if (!w || tg_tensor_rank(w) < 2)
            continue; /* biases are not penalised */
        tg_tensor *square = tg_sum(tg_mul(w, w));
        if (!square)
            return NULL;
        total = total ? tg_add(total, square) : square;
    }
    if (!total)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_loss_l2: the %d parameters hold no weight (rank >= 2)",
                           params.count), NULL;
    return tg_mul_scalar(total, lambda / 2);
}
