/* Scaled dot-product attention on [B, H, T, d], fused: per (batch, head) the
 * scores q·kᵀ and the output P·v run through the blocked GEMM on the
 * tensors' own buffers (no head-splitting copies), the mask, causality and
 * softmax in one pass per row, dropout on the probabilities.
 *
 *   q [B, H, T, d], k [B, H, S, d], v [B, H, S, dv]        (shapes)
 *   Z = q·kᵀ/√d + M                 [B, H, T, S]  M: the mask, −∞ where masked
 *   P = softmax(Z) along S          [B, H, T, S]  a fully masked row is zeros
 *   P' = P ⊙ K/(1 - p)              dropout, K ~ Bernoulli(1 - p) per element
 *   y = P'·v                        [B, H, T, dv]
 *
 * Backward (as llm.c's attention_backward, with the softmax's VJP in O(S) per
 * row instead of a T×T loop, and GEMMs for the products):
 *   dv = P'ᵀ·dy,  dP' = dy·vᵀ,  dP = dP' ⊙ K/(1 - p),
 *   dZ = P ⊙ (dP - Σ_S dP⊙P),  dq = dZ·k/√d,  dk = dZᵀ·q/√d,  dM = dZ
 * written with ops so it differentiates again. The forward keeps P for a
 * plain backward; under create_graph the rule recomputes it with
 * softmax_masked so that it is a function of q and k on the tape. */
#include "autograd/internal.h"
#include "ops/binary.h"
#include "ops/gemm.h"
#include "ops/masked.h"

#include <stdio.h>
#include <tgmath.h>

typedef struct {
    double scale, dropout_p;
    bool causal, has_mask;
    tg_tensor *probs; /* P, before dropout */
    tg_tensor *keep;  /* K/(1 - p), or NULL without dropout */
} attention_attr;

static const char *const op_name = "scaled_dot_product_attention";

/* ---- the kernel ---- */

typedef struct {
    const tg_tensor *q, *k, *v;
    tg_tensor *probs, *out;
    const tg_tensor *weights; /* P' = P⊙K/(1-p) with dropout, else P */
    int64_t t, s, d, dv;
    double scale;
    tg_pool *pool;
    bool split;               /* (b, h) pairs run as pool tasks */
    bool scores;              /* this pass: Z = scale·q·kᵀ, else y = P'·v */
} attention_job;

static void gemm(const attention_job *job, int worker, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                 const void *a, const void *b, void *c)
{
    int64_t lda = k, ldb = trans_b ? k : n, ldc = n;
    if (job->q->dtype == TG_F32) {
        if (job->split)
            tg_gemm_f32_worker(job->pool, worker, false, trans_b, m, n, k, (float)alpha, a, lda, b, ldb, 0, c, ldc);
        else
            tg_gemm_f32(job->pool, false, trans_b, m, n, k, (float)alpha, a, lda, b, ldb, 0, c, ldc);
    } else if (job->split) {
        tg_gemm_f64_worker(job->pool, worker, false, trans_b, m, n, k, alpha, a, lda, b, ldb, 0, c, ldc);
    } else {
        tg_gemm_f64(job->pool, false, trans_b, m, n, k, alpha, a, lda, b, ldb, 0, c, ldc);
    }
}

/* One (batch, head) pair: its matrices are contiguous blocks of q, k, v, P, y. */
static void attention_head(void *arg, int bh, int n_tasks, int worker)
{
    (void)n_tasks;
    const attention_job *job = arg;
    size_t es = tg_dtype_size((tg_dtype)job->q->dtype);
    const char *q = (const char *)job->q->data + (size_t)(bh * job->t * job->d) * es;
    const char *k = (const char *)job->k->data + (size_t)(bh * job->s * job->d) * es;
    const char *v = (const char *)job->v->data + (size_t)(bh * job->s * job->dv) * es;
    if (job->scores) /* Z = scale·q·kᵀ  [T, S] */
        gemm(job, worker, true, job->t, job->s, job->d, job->scale, q, k,
             (char *)job->probs->data + (size_t)(bh * job->t * job->s) * es);
    else /* y = P'·v  [T, dv] */
        gemm(job, worker, false, job->t, job->dv, job->s, 1,
             (const char *)job->weights->data + (size_t)(bh * job->t * job->s) * es, v,
             (char *)job->out->data + (size_t)(bh * job->t * job->dv) * es);
}

static void run_heads(attention_job *job, int64_t pairs)
{
    if (job->split)
        tg_pool_run(job->pool, (int)pairs, attention_head, job);
    else
        for (int64_t bh = 0; bh < pairs; bh++)
            attention_head(job, (int)bh, (int)pairs, 0);
}

/* ---- checks ---- */

static bool check_inputs(tg_tensor *q, tg_tensor *k, tg_tensor *v, double dropout_p, const tg_rng *rng)
{
    if (!tg_check_pair(op_name, q, k) || !tg_check_pair(op_name, q, v))
        return false;
    tg_tensor *const all[3] = {q, k, v};
    const char *names[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++)
        if (all[i]->rank != 4)
            return tg_ctx_fail(q->ctx, TG_ERR_SHAPE, "%s: %s %s; expected rank 4, [batch, heads, %s, %s]", op_name,
                               names[i], tg_shape_of(all[i]).s, i ? "keys" : "queries",
                               i == 2 ? "value dim" : "head dim"), false;
    for (int i = 1; i < 3; i++)
        if (all[i]->shape[0] != q->shape[0] || all[i]->shape[1] != q->shape[1])
            return tg_ctx_fail(q->ctx, TG_ERR_SHAPE, "%s: q %s and %s %s; expected the same batch (%lld) and heads "
                               "(%lld) in dims 0 and 1", op_name, tg_shape_of(q).s, names[i],
                               tg_shape_of(all[i]).s, (long long)q->shape[0], (long long)q->shape[1]), false;
    if (k->shape[3] != q->shape[3])
        return tg_ctx_fail(q->ctx, TG_ERR_SHAPE, "%s: q %s and k %s; expected the same head dim (dim 3: %lld)",
                           op_name, tg_shape_of(q).s, tg_shape_of(k).s, (long long)q->shape[3]), false;
    if (v->shape[2] != k->shape[2])
        return tg_ctx_fail(q->ctx, TG_ERR_SHAPE, "%s: k %s and v %s; expected as many values as keys (dim 2: %lld)",
                           op_name, tg_shape_of(k).s, tg_shape_of(v).s, (long long)k->shape[2]), false;
    if (!(dropout_p >= 0 && dropout_p < 1))
        return tg_ctx_fail(q->ctx, TG_ERR_ARG, "%s: dropout_p is %g; expected 0 <= p < 1", op_name, dropout_p),
               false;
    if (dropout_p > 0 && !rng)
        return tg_ctx_fail(q->ctx, TG_ERR_ARG, "%s: dropout_p is %g and rng is NULL; expected an rng to draw the "
                           "dropout mask", op_name, dropout_p), false;
    return true;
}

/* ---- forward ---- */

tg_tensor *tg_scaled_dot_product_attention(tg_tensor *q, tg_tensor *k, tg_tensor *v, tg_tensor *mask, bool causal,
                                           double dropout_p, tg_rng *rng)
{
    if (!check_inputs(q, k, v, dropout_p, rng))
        return NULL;
    tg_ctx *ctx = q->ctx;
    int64_t batch = q->shape[0], heads = q->shape[1], t = q->shape[2], d = q->shape[3];
    int64_t s = k->shape[2], dv = v->shape[3], pairs = batch * heads;
    tg_tensor *probs = tg_step_tensor(ctx, (tg_dtype)q->dtype, 4, (int64_t[]){batch, heads, t, s}, false);
    if (!probs)
        return NULL;
    tg_broadcast bc;
    if (!tg_check_softmax_mask(op_name, probs, mask, &bc))
        return NULL;
    tg_tensor *out = tg_step_tensor(ctx, (tg_dtype)q->dtype, 4, (int64_t[]){batch, heads, t, dv}, d == 0 || s == 0);
    if (!out)
        return NULL;
    double scale = d ? 1 / sqrt((double)d) : 1;
    /* a pair's two products below ~1 MFLOP are too short to share: the GEMM
     * splits big ones itself */
    int threads = tg_pool_threads(ctx->pool);
    bool split = threads > 1 && pairs >= threads && 2.0 * (double)(t * s * (d + dv)) >= 1e6 / 8;
    attention_job job = {.q = q, .k = k, .v = v, .probs = probs, .out = out, .weights = probs, .t = t, .s = s,
                         .d = d, .dv = dv, .scale = scale, .pool = ctx->pool, .split = split, .scores = true};
    if (probs->size > 0 && d > 0) {
        run_heads(&job, pairs);
        tg_softmax_masked_kernel(probs, mask, &bc, 1, causal, probs); /* in place: Z -> P */
    } else if (probs->size > 0) { /* no head dim: every score is 0 */
        tg_tensor *zeros = tg_step_like(probs, true);
        if (!zeros)
            return NULL;
        tg_softmax_masked_kernel(zeros, mask, &bc, 1, causal, probs);
    }
    tg_tensor *keep = NULL;
    if (dropout_p > 0 && probs->size > 0) {
        keep = tg_step_like(probs, false);
        tg_tensor *dropped = tg_step_like(probs, false);
        if (!keep || !dropped)
            return NULL;
        TG_TYPED(q->dtype, T, {
            T *K = keep->data, *W = dropped->data;
            const T *P = probs->data, kept = (T)(1 / (1 - dropout_p));
            for (int64_t i = 0; i < probs->size; i++) {
                K[i] = tg_rng_uniform(rng) < dropout_p ? 0 : kept;
                W[i] = P[i] * K[i];
            }
        });
        job.weights = dropped;
    }
    if (s > 0 && dv > 0 && t > 0) {
        job.scores = false;
        run_heads(&job, pairs);
    }
    tg_tensor *in[4] = {q, k, v, mask};
    int n_in = mask ? 4 : 3;
    if (!tg_record_needed(out, n_in, in))
        return out;
    attention_attr attr = {.scale = scale, .dropout_p = dropout_p, .causal = causal, .has_mask = mask != NULL,
                           .probs = probs, .keep = keep};
    const void *stored = tg_attr_store(ctx, &attr, sizeof attr);
    return stored ? tg_record(&tg_op_scaled_dot_product_attention, out, n_in, in, (tg_attr){.data = stored}) : NULL;
}

/* ---- backward, with ops ---- */

/* [B, H, m, n] as [B·H, m, n] */
static tg_tensor *stack_of(tg_tensor *x)
{
    if (!x)
        return NULL;
    const int64_t *s = tg_tensor_shape(x);
    return tg_reshape(x, 3, (int64_t[]){s[0] * s[1], s[2], s[3]});
}

static tg_tensor *shaped_like(tg_tensor *x, const tg_tensor *like)
{
    return tg_reshape(x, like->rank, like->shape);
}

static void attention_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    const attention_attr *a = n->attr.data;
    tg_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2], *mask = a->has_mask ? n->in[3] : NULL;
    tg_tensor *q3 = stack_of(q), *k3 = stack_of(k), *dy3 = stack_of(dy);
    tg_tensor *probs = a->probs;
    if (tg_grad_enabled(dy->ctx)) /* create_graph: P as a function of q and k */
        probs = tg_softmax_masked(shaped_like(tg_matmul_t(q3, k3, false, true), a->probs), a->scale, mask, a->causal);
    tg_tensor *weights = a->keep ? tg_mul(probs, a->keep) : probs; /* P' */
    if (v->requires_grad)
        dx[2] = shaped_like(tg_matmul_t(stack_of(weights), dy3, true, false), v);
    bool mask_grad = mask && mask->requires_grad && mask->dtype != TG_I64;
    if (!q->requires_grad && !k->requires_grad && !mask_grad)
        return;
    tg_tensor *d_weights = shaped_like(tg_matmul_t(dy3, stack_of(v), false, true), probs); /* dP' */
    tg_tensor *d_probs = a->keep ? tg_mul(d_weights, a->keep) : d_weights;
    tg_tensor *dz = tg_mul(probs, tg_sub(d_probs, tg_sum_axis(tg_mul(d_probs, probs), -1, true)));
    tg_tensor *ds3 = stack_of(tg_mul_scalar(dz, a->scale));
    if (q->requires_grad)
        dx[0] = shaped_like(tg_matmul(ds3, k3), q);
    if (k->requires_grad)
        dx[1] = shaped_like(tg_matmul_t(ds3, q3, true, false), k);
    if (mask_grad)
        dx[3] = tg_reduce_to(dz, mask);
}

/* ---- labels ---- */

static void attention_label(const tg_node *n, char *buf, size_t size)
{
    const attention_attr *a = n->attr.data;
    char dropout[32] = "";
    if (a->dropout_p > 0)
        snprintf(dropout, sizeof dropout, ", dropout %g", a->dropout_p);
    const char *mask = !a->has_mask ? "" : n->in[3]->dtype == TG_I64 ? ", mask" : ", +mask";
    snprintf(buf, size, "attention(softmax(q·kᵀ/√%lld%s%s)·v%s)", (long long)n->in[0]->shape[3], mask,
             a->causal ? ", causal" : "", dropout);
}

static void attention_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)n;
    static const char *const labels[] = {"dZ·k/√d, dZ = P⊙(dP − Σ dP⊙P), dP = δ·vᵀ", "dZᵀ·q/√d", "P'ᵀ·δ",
                                         "dZ, Σ to the mask's shape"};
    snprintf(buf, size, "%s", input >= 0 && input < 4 ? labels[input] : "?");
}

const tg_op_desc tg_op_scaled_dot_product_attention = {.kind = TG_OP_SCALED_DOT_PRODUCT_ATTENTION,
                                                       .name = "scaled_dot_product_attention",
                                                       .backward = attention_backward, .label = attention_label,
                                                       .vjp_label = attention_vjp_label};
