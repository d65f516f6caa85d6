/* The loss ops (mse_loss, cross_entropy), fused: one op each, so the forward
 * pass is a single kernel and the diagram shows one node. Their backward rules
 * are ops as everywhere else. (Losses composed of ops, for training, sit with
 * the training code, above ops/.) */
#include "autograd/internal.h"
#include "ops/rows.h"

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
    const char *a = tg_vjp_name(n->in[0], "a"), *b = tg_vjp_name(n->in[1], "y"); /* y: the target, as the course writes it */
    snprintf(buf, size, "·%s2(%s−%s)/%lld", input ? "−" : "", a, b, (long long)n->in[0]->size);
}

const tg_op_desc tg_op_mse_loss = {.kind = TG_OP_MSE_LOSS, .name = "mse_loss", .backward = mse_loss_backward, .vjp_label = mse_loss_vjp_label};

/* Deprecated: the name tg_loss_mse had before the two were one. */
tg_tensor *tg_mse_loss(tg_tensor *a, tg_tensor *b) { return tg_loss_mse(a, b); }

/* ---- softmax cross-entropy over [..., c] ----
 * Rows are the positions of the leading axes; each takes class indices (one
 * per row, TG_I64 or whole numbers in the logits' dtype) or a probability
 * row. The loss is the sum over counted rows divided by their count (mean) or
 * by 1 (sum); a row whose index equals an ignore_index is not counted. */

typedef struct {
    double denominator;    /* counted rows (mean, at least 1) or 1 (sum) */
    int64_t ignore_index;
    bool ignore, indices;
} cross_entropy_attr;

/* targets t are class indices for logits z: one per row */
static bool index_targets(const tg_tensor *z, const tg_tensor *t)
{
    return t->rank == z->rank - 1 && tg_shape_equal(t->rank, t->shape, z->rank - 1, z->shape);
}

static tg_shape_text leading_shape(const tg_tensor *z)
{
    tg_shape_text text;
    tg_shape_str(z->rank - 1, z->shape, text.s, sizeof text.s);
    return text;
}

static bool check_targets(tg_tensor *z, tg_tensor *t)
{
    if (!tg_check_live("cross_entropy", z) || !tg_check_tensor("cross_entropy", t))
        return false;
    if (t->dtype != TG_I64 && !tg_check_pair("cross_entropy", z, t))
        return false;
    if (t->ctx != z->ctx)
        return tg_ctx_fail(z->ctx, TG_ERR_ARG, "cross_entropy: inputs belong to different contexts"), false;
    if (z->rank == 0)
        return tg_ctx_fail(z->ctx, TG_ERR_SHAPE, "cross_entropy: logits have shape %s; expected [..., classes]",
                           tg_shape_of(z).s), false;
    if (t->dtype == TG_I64 && !index_targets(z, t))
        return tg_ctx_fail(z->ctx, TG_ERR_SHAPE, "cross_entropy: logits %s with i64 targets %s; expected class "
                           "indices %s", tg_shape_of(z).s, tg_shape_of(t).s, leading_shape(z).s), false;
    if (!index_targets(z, t) && !tg_shape_equal(t->rank, t->shape, z->rank, z->shape))
        return tg_ctx_fail(z->ctx, TG_ERR_SHAPE, "cross_entropy: logits %s with targets %s; expected targets %s "
                           "(class indices) or %s (probabilities)", tg_shape_of(z).s, tg_shape_of(t).s,
                           leading_shape(z).s, tg_shape_of(z).s), false;
    if (index_targets(z, t) && t->requires_grad)
        return tg_ctx_fail(z->ctx, TG_ERR_GRAD, "cross_entropy: class-index targets cannot require a gradient"), false;
    return true;
}

/* Row r's class as a number (any value: checked by the caller). */
static double target_of(const tg_tensor *t, int64_t r)
{
    return t->dtype == TG_I64 ? (double)((const int64_t *)t->data)[r] : tg_tensor_get(t, r);
}

/* "target 1 is 3" for rank-1 targets, "target [0, 1] is 3" otherwise */
static void bad_target(const tg_tensor *z, const tg_tensor *t, int64_t r, double label, int64_t classes)
{
    char where[96];
    if (t->rank == 1) {
        snprintf(where, sizeof where, "%lld", (long long)r);
    } else {
        int64_t coords[TG_MAX_RANK];
        for (int d = t->rank - 1; d >= 0; d--) {
            coords[d] = r % t->shape[d];
            r /= t->shape[d];
        }
        tg_shape_str(t->rank, coords, where, sizeof where);
    }
    tg_ctx_fail(z->ctx, TG_ERR_ARG, "cross_entropy: target %s is %g; expected a class index 0 to %lld", where,
                label, (long long)classes - 1);
}

typedef struct {
    const tg_tensor *z, *t;
    double *row_loss; /* [rows]: -Σⱼ pⱼ log softmax(z)ⱼ, 0 for ignored rows */
    int64_t classes;
    bool indices;
    const cross_entropy_attr *attr;
} cross_entropy_job;

/* Each row's loss; the caller sums them in order (the same bits on any
 * number of threads). Targets are checked before. */
static void cross_entropy_rows(void *arg, int64_t begin, int64_t end)
{
    const cross_entropy_job *job = arg;
    int64_t classes = job->classes;
    TG_TYPED(job->z->dtype, T, {
        for (int64_t r = begin; r < end; r++) {
            const T *row = (const T *)job->z->data + r * classes;
            if (job->indices) {
                double label = target_of(job->t, r);
                if (job->attr->ignore && label == (double)job->attr->ignore_index) {
                    job->row_loss[r] = 0;
                    continue;
                }
            }
            T max = row[0], sum = 0;
            for (int64_t j = 1; j < classes; j++)
                max = row[j] > max ? row[j] : max;
            for (int64_t j = 0; j < classes; j++)
                sum += exp(row[j] - max);
            T log_norm = max + log(sum); /* log Σ exp(z): -log softmax(z)ⱼ = log_norm - zⱼ */
            if (job->indices) {
                job->row_loss[r] = (double)(log_norm - row[(int64_t)target_of(job->t, r)]);
            } else {
                const T *p = (const T *)job->t->data + r * classes;
                double total = 0;
                for (int64_t j = 0; j < classes; j++)
                    if (p[j] != 0)
                        total += (double)(p[j] * (log_norm - row[j]));
                job->row_loss[r] = total;
            }
        }
    });
}

tg_tensor *tg_cross_entropy_ex(tg_tensor *z, tg_tensor *t, const tg_cross_entropy_options *options)
{
    if (!check_targets(z, t))
        return NULL;
    tg_cross_entropy_options opts = options ? *options : (tg_cross_entropy_options){0};
    int64_t classes = z->shape[z->rank - 1], rows = classes ? z->size / classes : 0;
    bool indices = index_targets(z, t);
    if (opts.ignore && !indices)
        return tg_ctx_fail(z->ctx, TG_ERR_ARG, "cross_entropy: an ignore_index with probability targets %s; it "
                           "applies to class indices %s", tg_shape_of(t).s, leading_shape(z).s), NULL;
    if (classes == 0)
        return tg_ctx_fail(z->ctx, TG_ERR_SHAPE, "cross_entropy: logits %s have no classes", tg_shape_of(z).s), NULL;
    int64_t counted = 0;
    if (indices)
        for (int64_t r = 0; r < rows; r++) {
            double label = target_of(t, r);
            if (opts.ignore && label == (double)opts.ignore_index)
                continue;
            if (!(label >= 0 && label < (double)classes && label == floor(label)))
                return bad_target(z, t, r, label, classes), NULL;
            counted++;
        }
    else
        counted = rows;
    tg_tensor *y = tg_step_tensor(z->ctx, (tg_dtype)z->dtype, 0, NULL, false);
    double *row_loss = tg_arena_alloc(z->ctx, (size_t)(rows ? rows : 1) * sizeof *row_loss, 64);
    if (!y || !row_loss)
        return NULL;
    cross_entropy_attr attr = {.denominator = opts.sum || counted == 0 ? 1 : (double)counted,
                               .ignore_index = opts.ignore_index, .ignore = opts.ignore, .indices = indices};
    cross_entropy_job job = {.z = z, .t = t, .row_loss = row_loss, .classes = classes, .indices = indices,
                             .attr = &attr};
    tg_parallel_rows(z->ctx, rows, classes, cross_entropy_rows, &job);
    double total = 0;
    for (int64_t r = 0; r < rows; r++)
        total += row_loss[r];
    TG_TYPED(z->dtype, T, { *(T *)y->data = (T)(total / attr.denominator); });
    if (!tg_record_needed(y, 2, (tg_tensor *[]){z, t}))
        return y;
    const void *stored = tg_attr_store(z->ctx, &attr, sizeof attr);
    return stored ? tg_record(&tg_op_cross_entropy, y, 2, (tg_tensor *[]){z, t}, (tg_attr){.data = stored}) : NULL;
}

tg_tensor *tg_cross_entropy(tg_tensor *z, tg_tensor *t) { return tg_cross_entropy_ex(z, t, NULL); }

/* Index targets as one-hot rows scaled by w, and w itself per row [..., 1]:
 * constants, not part of the graph. w is 1/denominator for a counted row and
 * 0 for an ignored one. */
static void one_hot_rows(const tg_tensor *z, const tg_tensor *t, const cross_entropy_attr *a, tg_tensor **one_hot,
                         tg_tensor **weight)
{
    int64_t classes = z->shape[z->rank - 1], rows = z->size / classes;
    int64_t shape[TG_MAX_RANK];
    for (int d = 0; d < z->rank; d++)
        shape[d] = z->shape[d];
    shape[z->rank - 1] = 1;
    tg_tensor *p = tg_step_like(z, true), *w = tg_step_tensor(z->ctx, (tg_dtype)z->dtype, z->rank, shape, false);
    *one_hot = p, *weight = w;
    if (!p || !w)
        return;
    for (int64_t r = 0; r < rows; r++) {
        double label = target_of(t, r);
        bool ignored = a->ignore && label == (double)a->ignore_index;
        tg_tensor_set(w, r, ignored ? 0 : 1 / a->denominator);
        if (!ignored)
            tg_tensor_set(p, r * classes + (int64_t)label, 1.0);
    }
}

/* dz = (softmax(z)·Σⱼpⱼ - p)·w · dy, where Σⱼpⱼ = 1 for indices (w: 1/count
 * or 0 for an ignored row) and w = 1/rows for probability rows;
 * dp = -log_softmax(z)·w · dy */
static void cross_entropy_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    const cross_entropy_attr *a = n->attr.data;
    tg_tensor *z = n->in[0], *t = n->in[1];
    if (a->indices) {
        tg_tensor *p, *w;
        one_hot_rows(z, t, a, &p, &w);
        if (z->requires_grad)
            dx[0] = tg_mul(tg_mul(tg_sub(tg_softmax(z), p), w), dy);
        return;
    }
    tg_tensor *scale = tg_mul_scalar(dy, 1.0 / a->denominator);
    if (z->requires_grad)
        dx[0] = tg_mul(tg_sub(tg_mul(tg_softmax(z), tg_sum_axis(t, -1, true)), t), scale);
    if (t->requires_grad)
        dx[1] = tg_mul(tg_neg(tg_log_softmax(z)), scale);
}

static void cross_entropy_label(const tg_node *n, char *buf, size_t size)
{
    const cross_entropy_attr *a = n->attr.data;
    if (a->ignore)
        snprintf(buf, size, "cross_entropy(ignore %lld)", (long long)a->ignore_index);
    else
        snprintf(buf, size, "cross_entropy");
}

static void cross_entropy_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    const cross_entropy_attr *a = n->attr.data;
    if (input == 0)
        snprintf(buf, size, "·(softmax(z) − p)/%g", a->denominator);
    else
        snprintf(buf, size, "·(−log softmax(z))/%g", a->denominator);
}

const tg_op_desc tg_op_cross_entropy = {.kind = TG_OP_CROSS_ENTROPY, .name = "cross_entropy", .backward = cross_entropy_backward,
                                        .label = cross_entropy_label, .vjp_label = cross_entropy_vjp_label};
