/* The perceptron (Rosenblatt's rule: an error-driven update, not gradient
 * descent): its prediction, the search for misclassified points and one
 * update. The training loops (the perceptron's and logistic regression's)
 * are in nn/train/perceptron_train.c. */
#include "nn/layers/perceptron_internal.h"

static bool perceptron_shapes_ok(const char *who, tg_tensor *w, const tg_tensor *x, const tg_tensor *y)
{
    int64_t d = tg_tensor_size(w);
    bool ok = tg_tensor_rank(w) == 1 && tg_tensor_rank(x) == 2 && tg_tensor_dim(x, 1) == d &&
              (!y || (tg_tensor_rank(y) == 1 && tg_tensor_dim(y, 0) == tg_tensor_dim(x, 0)));
    if (!ok) {
        char sw[64], sx[64], sy[64] = "-";
        tg_ctx_fail(tg_tensor_ctx(w), TG_ERR_SHAPE, "%s: w %s, x %s, y %s; expected w [d], x [n, d], y [n]", who,
                    tg_shape_str(tg_tensor_rank(w), tg_tensor_shape(w), sw, sizeof sw),
                    tg_shape_str(tg_tensor_rank(x), tg_tensor_shape(x), sx, sizeof sx),
                    y ? tg_shape_str(tg_tensor_rank(y), tg_tensor_shape(y), sy, sizeof sy) : sy);
    }
    return ok;
}

/* Arguments shared by the perceptron's functions: w, x, y given, shapes that
 * fit, labels ±1. */
tg_status tg_perceptron_check(const char *who, tg_tensor *w, const tg_tensor *x, const tg_tensor *y)
{
    if (!w)
        return TG_ERR_ARG;
    tg_ctx *ctx = tg_tensor_ctx(w);
    if (!ctx)
        return TG_ERR_ARG; /* a freed w */
    if (!x || !y)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: NULL %s", who, !x ? "x" : "y");
    if (!perceptron_shapes_ok(who, w, x, y))
        return TG_ERR_SHAPE;
    for (int64_t i = 0, n = tg_tensor_dim(x, 0); i < n; i++) {
        double label = tg_tensor_get(y, i);
        if (label != 1 && label != -1)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: y[%lld] is %g; expected +1 or -1", who, (long long)i, label);
    }
    return TG_OK;
}

/* The points with yᵢ(w·xᵢ + b) <= 0, in row order; their count. With first
 * set, stops at the first. */
int64_t tg_perceptron_find_misclassified(const tg_tensor *w, double b, const tg_tensor *x, const tg_tensor *y,
                                  int64_t *out, bool first)
{
    int64_t n = tg_tensor_dim(x, 0), d = tg_tensor_size(w), count = 0;
    for (int64_t i = 0; i < n; i++) {
        double z = b;
        for (int64_t j = 0; j < d; j++)
            z += tg_tensor_get(w, j) * tg_tensor_get(x, i * d + j);
        if (tg_tensor_get(y, i) * z <= 0) {
            if (out)
                out[count] = i;
            if (++count == 1 && first)
                break;
        }
    }
    return count;
}

/* w ← w + η·yᵢ·xᵢ;  b ← b + η·yᵢ */
void tg_perceptron_step(tg_tensor *w, double *b, const tg_tensor *x, const tg_tensor *y, double eta, int64_t i)
{
    int64_t d = tg_tensor_size(w);
    double label = tg_tensor_get(y, i);
    for (int64_t j = 0; j < d; j++)
        tg_tensor_set(w, j, tg_tensor_get(w, j) + eta * label * tg_tensor_get(x, i * d + j));
    *b += eta * label;
}

int64_t tg_perceptron_misclassified(tg_tensor *w, double b, const tg_tensor *x, const tg_tensor *y,
                                    int64_t *misclassified)
{
    if (tg_perceptron_check("tg_perceptron_misclassified", w, x, y) != TG_OK)
        return -1;
    return tg_perceptron_find_misclassified(w, b, x, y, misclassified, false);
}

tg_status tg_perceptron_update(tg_tensor *w, double *b, const tg_tensor *x, const tg_tensor *y, double eta,
                               int64_t i)
{
    tg_status status = tg_perceptron_check("tg_perceptron_update", w, x, y);
    if (status != TG_OK)
        return status;
    tg_ctx *ctx = tg_tensor_ctx(w);
    if (!b)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_perceptron_update: NULL b");
    if (!(eta > 0))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_perceptron_update: eta is %g; expected > 0", eta);
    if (i < 0 || i >= tg_tensor_dim(x, 0))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_perceptron_update: point %lld of %lld; expected 0 to %lld",
                           (long long)i, (long long)tg_tensor_dim(x, 0), (long long)tg_tensor_dim(x, 0) - 1);
    tg_perceptron_step(w, b, x, y, eta, i);
    return TG_OK;
}

/* sign(x·w + b) = 2·step(x·w + b) - 1 */
tg_tensor *tg_perceptron_predict(tg_tensor *w, double b, tg_tensor *x)
{
    if (!w || !x || !perceptron_shapes_ok("tg_perceptron_predict", w, x, NULL))
        return NULL;
    int64_t n = tg_tensor_dim(x, 0), d = tg_tensor_size(w);
    tg_tensor *z = tg_add_scalar(tg_matmul(x, tg_reshape(w, TG_SHAPE(d, 1))), b); /* [n, 1] */
    return tg_reshape(tg_add_scalar(tg_mul_scalar(tg_step(z), 2), -1), TG_SHAPE(n));
}

