/* Attention, fused: scaled_dot_product_attention on heads [B, H, T, d] and
 * multi_head_attention on the packed projection qkv [B, T, 3·H·d]. Both run
 * the same kernels: per (batch, head) the scores q·kᵀ and the output P·v go
 * through the blocked GEMM on the tensors' own buffers, a head's rows read
 * with their leading dimension (d in [B, H, T, d], 3·H·d in the packed qkv),
 * so no head is split out or copied; the mask, causality and softmax run in
 * one pass per row, dropout on the probabilities.
 *
 *   q [B, H, T, d], k [B, H, S, d], v [B, H, S, dv]        (shapes, per head)
 *   Z = q·kᵀ/√d + M                 [B, H, T, S]  M: the mask, −∞ where masked
 *   P = softmax(Z) along S          [B, H, T, S]  a fully masked row is zeros
 *   P' = P ⊙ K/(1 - p)              dropout, K ~ Bernoulli(1 - p) per element
 *   y = P'·v                        [B, H, T, dv]
 *
 * Backward (as llm.c's attention_backward, with the softmax's VJP in O(S) per
 * row instead of a T×T loop, and GEMMs for the products):
 *   dv = P'ᵀ·dy,  dP' = dy·vᵀ,  dP = dP' ⊙ K/(1 - p),
 *   dZ = P ⊙ (dP - Σ_S dP⊙P),  dq = dZ·k/√d,  dk = dZᵀ·q/√d,  dM = dZ
 * The forward keeps P. A plain backward runs these per (batch, head) with
 * the same strided GEMMs, writing dq, dk, dv straight into their places (the
 * thirds of d(qkv) for the packed op). Under create_graph the rule is written
 * with ops, recomputing P with softmax_masked so that it is a function of q
 * and k on the tape, and differentiates again. */
#include "autograd/internal.h"
#include "ops/binary.h"
#include "ops/gemm.h"
#include "ops/masked.h"

#include <stdio.h>
#include <tgmath.h>

typedef struct {
    double scale, dropout_p;
    bool causal, has_mask;
    int heads;        /* multi_head_attention: H */
    tg_tensor *probs; /* P [B, H, T, S], before dropout */
    tg_tensor *keep;  /* K/(1 - p), or NULL without dropout */
} attention_attr;

static const char *const sdpa_name = "scaled_dot_product_attention";
static const char *const mha_name = "multi_head_attention";

/* ---- the kernels ---- */

/* Where the matrix of (batch b, head h) starts, data + b·batch + h·head
 * elements, and its row stride (the GEMM's leading dimension). */
typedef struct {
    char *data;
    int64_t batch, head, row;
} heads_view;

typedef enum { PASS_SCORES, PASS_VALUES, PASS_BACKWARD } attention_pass;

typedef struct {
    heads_view q, k, v, y;    /* y: the output; in the backward, dy */
    heads_view dq, dk, dv;    /* backward: NULL data for a gradient not wanted */
    tg_tensor *probs;         /* P [B, H, T, S] */
    const tg_tensor *weights; /* forward: P' = P⊙K/(1-p) with dropout, else P */
    const tg_tensor *keep;    /* backward: K/(1-p) or NULL */
    tg_tensor *dz;            /* backward: dZ [B, H, T, S], unscaled */
    int64_t heads, t, s, d, dv_dim;
    double scale;
    size_t es;
    bool f32;
    tg_pool *pool;
    bool split;               /* (b, h) pairs run as pool tasks */
    bool causal;              /* key j unseen by query i < j: those products skipped */
    attention_pass pass;
} attention_job;

static void gemm(const attention_job *job, int worker, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                 double alpha, const void *a, int64_t lda, const void *b, int64_t ldb, void *c, int64_t ldc)
{
    if (job->f32) {
        if (job->split)
            tg_gemm_f32_worker(job->pool, worker, trans_a, trans_b, m, n, k, (float)alpha, a, lda, b, ldb, 0, c, ldc);
        else
            tg_gemm_f32(job->pool, trans_a, trans_b, m, n, k, (float)alpha, a, lda, b, ldb, 0, c, ldc);
    } else if (job->split) {
        tg_gemm_f64_worker(job->pool, worker, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, 0, c, ldc);
    } else {
        tg_gemm_f64(job->pool, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, 0, c, ldc);
    }
}

static char *head_at(const heads_view *view, int64_t b, int64_t h, size_t es)
{
    return view->data + (size_t)(b * view->batch + h * view->head) * es;
}

/* dZ = P ⊙ (dP - Σ dP⊙P) per row, dP = D⊙K/(1-p) (D = dP' on entry), in
 * place, over rows [begin, end) of a [T, S] block. Causal: row i reads keys
 * 0..i only (dP' is not computed past them) and its dZ is 0 past them. */
static void softmax_backward_rows(const attention_job *job, int64_t begin, int64_t end, char *d, const char *p,
                                  const char *keep)
{
    int64_t cols = job->s;
    TG_TYPED(job->f32 ? TG_F32 : TG_F64, T, {
        for (int64_t i = begin; i < end; i++) {
            T *D = (T *)d + i * cols;
            const T *P = (const T *)p + i * cols, *K = keep ? (const T *)keep + i * cols : NULL;
            int64_t seen = job->causal && i + 1 < cols ? i + 1 : cols;
            T dot = 0;
            for (int64_t j = 0; j < seen; j++) {
                if (K)
                    D[j] *= K[j];
                dot += D[j] * P[j];
            }
            for (int64_t j = 0; j < seen; j++)
                D[j] = P[j] * (D[j] - dot);
            for (int64_t j = seen; j < cols; j++)
                D[j] = 0;
        }
    });
}

/* P' = P⊙K into out, one (batch, head) block. */
static void dropped_block(const attention_job *job, char *out, const char *p, const char *keep)
{
    int64_t n = job->t * job->s;
    TG_TYPED(job->f32 ? TG_F32 : TG_F64, T, {
        T *W = (T *)out;
        const T *P = (const T *)p, *K = (const T *)keep;
        for (int64_t i = 0; i < n; i++)
            W[i] = P[i] * K[i];
    });
}

/* Causal attention runs its products in blocks of this many queries (or
 * keys) and skips the scores past the diagonal, all zeros in P: about half
 * the multiply-adds at T = 128. */
enum { CAUSAL_BLOCK = 32 };

/* One (batch, head) pair: one pass of the forward, or the whole backward.
 * Rows [i0, i1) of the queries see keys [0, seen) (all S without causality);
 * keys [j0, j1) are seen by queries [from, T) (all T without). */
static void attention_head(void *arg, int bh, int n_tasks, int worker)
{
    (void)n_tasks;
    const attention_job *job = arg;
    int64_t b = bh / job->heads, h = bh % job->heads, t = job->t, s = job->s, d = job->d, dv = job->dv_dim;
    size_t es = job->es, block = (size_t)(bh * t * s) * es; /* this pair's [T, S] in P, K, dZ */
    const char *q = head_at(&job->q, b, h, es), *k = head_at(&job->k, b, h, es), *v = head_at(&job->v, b, h, es);
    char *y = head_at(&job->y, b, h, es), *p = (char *)job->probs->data + block;
    int64_t step = job->causal ? CAUSAL_BLOCK : (t > s ? t : s);
#define AT(base, view_row, i) ((base) + (size_t)((i) * (view_row)) * es)
    if (job->pass != PASS_BACKWARD) {
        const char *weights = (const char *)job->weights->data + block;
        for (int64_t i0 = 0; i0 < t; i0 += step) {
            int64_t i1 = i0 + step < t ? i0 + step : t, seen = job->causal && i1 < s ? i1 : s;
            if (job->pass == PASS_SCORES) /* Z = scale·q·kᵀ  [T, S] */
                gemm(job, worker, false, true, i1 - i0, seen, d, job->scale, AT(q, job->q.row, i0), job->q.row, k,
                     job->k.row, AT(p, s, i0), s);
            else /* y = P'·v  [T, dv] */
                gemm(job, worker, false, false, i1 - i0, dv, seen, 1, AT(weights, s, i0), s, v, job->v.row,
                     AT(y, job->y.row, i0), job->y.row);
        }
        return;
    }
    const char *keep = job->keep ? (const char *)job->keep->data + block : NULL;
    char *dz = job->dz ? (char *)job->dz->data + block : NULL;
    char *dq = job->dq.data ? head_at(&job->dq, b, h, es) : NULL, *dk = job->dk.data ? head_at(&job->dk, b, h, es) : NULL;
    char *dvh = job->dv.data ? head_at(&job->dv, b, h, es) : NULL;
    const char *weights = p;
    if (dvh && keep) /* P' built in dZ's block, free until dP' below */
        dropped_block(job, dz, p, keep), weights = dz;
    for (int64_t j0 = 0; dvh && j0 < s; j0 += step) { /* dv = P'ᵀ·dy  [S, dv] */
        int64_t j1 = j0 + step < s ? j0 + step : s, from = job->causal ? (j0 < t ? j0 : t) : 0;
        gemm(job, worker, true, false, j1 - j0, dv, t - from, 1, AT(weights, s, from) + (size_t)j0 * es, s,
             AT(y, job->y.row, from), job->y.row, AT(dvh, job->dv.row, j0), job->dv.row);
    }
    if (!dz)
        return;
    for (int64_t i0 = 0; i0 < t; i0 += step) {
        int64_t i1 = i0 + step < t ? i0 + step : t, seen = job->causal && i1 < s ? i1 : s;
        gemm(job, worker, false, true, i1 - i0, seen, dv, 1, AT(y, job->y.row, i0), job->y.row, v, job->v.row,
             AT(dz, s, i0), s); /* dP' = dy·vᵀ */
        softmax_backward_rows(job, i0, i1, dz, p, keep);
        if (dq) /* dq = dZ·k/√d  [T, d] */
            gemm(job, worker, false, false, i1 - i0, d, seen, job->scale, AT(dz, s, i0), s, k, job->k.row,
                 AT(dq, job->dq.row, i0), job->dq.row);
    }
    for (int64_t j0 = 0; dk && j0 < s; j0 += step) { /* dk = dZᵀ·q/√d  [S, d] */
        int64_t j1 = j0 + step < s ? j0 + step : s, from = job->causal ? (j0 < t ? j0 : t) : 0;
        gemm(job, worker, true, false, j1 - j0, d, t - from, job->scale, AT(dz, s, from) + (size_t)j0 * es, s,
             AT(q, job->q.row, from), job->q.row, AT(dk, job->dk.row, j0), job->dk.row);
    }
#undef AT
}

static void run_heads(attention_job *job, attention_pass pass, int64_t pairs)
{
    job->pass = pass;
    if (job->split)
        tg_pool_run(job->pool, (int)pairs, attention_head, job);
    else
        for (int64_t bh = 0; bh < pairs; bh++)
            attention_head(job, (int)bh, (int)pairs, 0);
}

/* A pair's products below ~1 MFLOP are too short to share: the GEMM splits
 * big ones itself. */
static bool split_pairs(tg_pool *pool, int64_t pairs, int64_t t, int64_t s, int64_t d, int64_t dv)
{
    int threads = tg_pool_threads(pool);
    return threads > 1 && pairs >= threads && 2.0 * (double)(t * s * (d + dv)) >= 1e6 / 8;
}

/* The forward of both ops into job->y (allocated by the caller, zeros when
 * d or s is 0). Makes P (and K with dropout), checks the mask against the
 * scores [B, H, T, S]; false on error. */
static bool attention_forward(const char *op, tg_ctx *ctx, tg_dtype dtype, attention_job *job, int64_t batch,
                              tg_tensor *mask, bool causal, double dropout_p, tg_rng *rng, tg_tensor **keep_out)
{
    int64_t heads = job->heads, t = job->t, s = job->s, pairs = batch * heads;
    tg_tensor *probs = tg_step_tensor(ctx, dtype, 4, (int64_t[]){batch, heads, t, s}, false);
    if (!probs)
        return false;
    tg_broadcast bc;
    if (!tg_check_softmax_mask(op, probs, mask, &bc))
        return false;
    job->probs = probs, job->weights = probs, job->causal = causal;
    job->es = tg_dtype_size(dtype), job->f32 = dtype == TG_F32, job->pool = ctx->pool;
    job->split = split_pairs(ctx->pool, pairs, t, s, job->d, job->dv_dim);
    if (probs->size > 0 && job->d > 0) {
        run_heads(job, PASS_SCORES, pairs);
        tg_softmax_masked_kernel(probs, mask, &bc, 1, causal, probs); /* in place: Z -> P */
    } else if (probs->size > 0) { /* no head dim: every score is 0 */
        tg_tensor *zeros = tg_step_like(probs, true);
        if (!zeros)
            return false;
        tg_softmax_masked_kernel(zeros, mask, &bc, 1, causal, probs);
    }
    *keep_out = NULL;
    if (dropout_p > 0 && probs->size > 0) {
        tg_tensor *keep = tg_step_like(probs, false), *dropped = tg_step_like(probs, false);
        if (!keep || !dropped)
            return false;
        TG_TYPED(dtype, T, {
            T *K = keep->data, *W = dropped->data;
            const T *P = probs->data, kept = (T)(1 / (1 - dropout_p));
            for (int64_t i = 0; i < probs->size; i++) {
                K[i] = tg_rng_uniform(rng) < dropout_p ? 0 : kept;
                W[i] = P[i] * K[i];
            }
        });
        job->weights = dropped, *keep_out = keep;
    }
    if (s > 0 && job->dv_dim > 0 && t > 0)
        run_heads(job, PASS_VALUES, pairs);
    return true;
}

/* The plain backward of both ops: job holds the views of q, k, v, dy and of
 * the gradients wanted (dq, dk, dv; NULL data for the others). dZ is made
 * when dq, dk or the mask's gradient needs it; returned (NULL if not made). */
static tg_tensor *attention_backward_kernel(attention_job *job, const attention_attr *a, tg_tensor *dy, bool want_dz)
{
    tg_tensor *probs = a->probs;
    job->probs = probs, job->keep = a->keep, job->scale = a->scale, job->causal = a->causal;
    job->es = tg_dtype_size((tg_dtype)probs->dtype), job->f32 = probs->dtype == TG_F32, job->pool = dy->ctx->pool;
    job->dz = NULL;
    if (want_dz || (a->keep && job->dv.data)) { /* dZ's blocks also hold P' for dv */
        job->dz = tg_step_like(probs, probs->size == 0);
        if (!job->dz)
            return NULL;
    }
    int64_t batch = probs->shape[0], pairs = batch * job->heads;
    job->split = split_pairs(job->pool, pairs, job->t, job->s, job->d, job->dv_dim);
    if (pairs > 0)
        run_heads(job, PASS_BACKWARD, pairs);
    return job->dz;
}

/* ---- the backward with ops, for create_graph ---- */

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

/* dq, dk, dv (heads [B, H, ·, ·]) and dM as ops of q, k, v and dy: into
 * dx[0..3], each only when its input requires a gradient. */
static void attention_backward_ops(const attention_attr *a, tg_tensor *q, tg_tensor *k, tg_tensor *v,
                                   tg_tensor *mask, tg_tensor *dy, tg_tensor **dx)
{
    tg_tensor *q3 = stack_of(q), *k3 = stack_of(k), *dy3 = stack_of(dy);
    /* P as a function of q and k */
    tg_tensor *probs = tg_softmax_masked(shaped_like(tg_matmul_t(q3, k3, false, true), a->probs), a->scale, mask,
                                         a->causal);
    tg_tensor *weights = a->keep ? tg_mul(probs, a->keep) : probs; /* P' */
    if (v->requires_grad)
        dx[2] = shaped_like(tg_matmul_t(stack_of(weights), dy3, true, false), v);
    bool mask_grad = mask && mask->requires_grad && mask->dtype != TG_I64;
    if (!q->requires_grad && !k->requires_grad && !mask_grad)
        return;
    tg_tensor *d_weights = shaped_like(tg_matmul_t(dy3, stack_of(v), false, true), a->probs); /* dP' */
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

/* ---- checks ---- */

static bool check_dropout(const char *op, tg_ctx *ctx, double dropout_p, const tg_rng *rng)
{
    if (!(dropout_p >= 0 && dropout_p < 1))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: dropout_p is %g; expected 0 <= p < 1", op, dropout_p), false;
    if (dropout_p > 0 && !rng)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: dropout_p is %g and rng is NULL; expected an rng to draw the "
                           "dropout mask", op, dropout_p), false;
    return true;
}

static bool check_heads(tg_tensor *q, tg_tensor *k, tg_tensor *v)
{
    const char *op = sdpa_name;
    if (!tg_check_pair(op, q, k) || !tg_check_pair(op, q, v))
        return false;
    tg_tensor *const all[3] = {q, k, v};
    const char *names[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++)
        if (all[i]->rank != 4)
            return tg_ctx_fail(q->ctx, TG_ERR_SHAPE, "%s: %s %s; expected rank 4, [batch, heads, %s, %s]", op,
                               names[i], tg_shape_of(all[i]).s, i ? "keys" : "queries",
                               i == 2 ? "value dim" : "head dim"), false;
    for (int i = 1; i < 3; i++)
        if (all[i]->shape[0] != q->shape[0] || all[i]->shape[1] != q->shape[1])
            return tg_ctx_fail(q->ctx, TG_ERR_SHAPE, "%s: q %s and %s %s; expected the same batch (%lld) and heads "
                               "(%lld) in dims 0 and 1", op, tg_shape_of(q).s, names[i],
                               tg_shape_of(all[i]).s, (long long)q->shape[0], (long long)q->shape[1]), false;
    if (k->shape[3] != q->shape[3])
        return tg_ctx_fail(q->ctx, TG_ERR_SHAPE, "%s: q %s and k %s; expected the same head dim (dim 3: %lld)",
                           op, tg_shape_of(q).s, tg_shape_of(k).s, (long long)q->shape[3]), false;
    if (v->shape[2] != k->shape[2])
        return tg_ctx_fail(q->ctx, TG_ERR_SHAPE, "%s: k %s and v %s; expected as many values as keys (dim 2: %lld)",
                           op, tg_shape_of(k).s, tg_shape_of(v).s, (long long)k->shape[2]), false;
    return true;
}

static bool check_packed(tg_tensor *qkv, int heads)
{
    const char *op = mha_name;
    if (!tg_check_live(op, qkv))
        return false;
    if (qkv->rank != 3)
        return tg_ctx_fail(qkv->ctx, TG_ERR_SHAPE, "%s: qkv %s; expected rank 3, [batch, sequence, 3·d_model] "
                           "(q, k, v side by side)", op, tg_shape_of(qkv).s), false;
    if (heads < 1)
        return tg_ctx_fail(qkv->ctx, TG_ERR_ARG, "%s: heads is %d; expected at least 1", op, heads), false;
    int64_t width = qkv->shape[2], per_head = 3 * (int64_t)heads;
    if (width == 0 || width % per_head != 0)
        return tg_ctx_fail(qkv->ctx, TG_ERR_SHAPE, "%s: qkv %s with %d heads; expected a last dim that is a "
                           "positive multiple of 3·heads = %lld (q, k and v of heads × head dim each)", op,
                           tg_shape_of(qkv).s, heads, (long long)per_head), false;
    return true;
}

/* ---- the ops ---- */

/* [B, H, n, m] contiguous, head by head */
static heads_view contiguous_heads(const tg_tensor *x)
{
    if (!x)
        return (heads_view){0};
    int64_t n = x->shape[2], m = x->shape[3];
    return (heads_view){.data = x->data, .batch = x->shape[1] * n * m, .head = n * m, .row = m};
}

tg_tensor *tg_scaled_dot_product_attention(tg_tensor *q, tg_tensor *k, tg_tensor *v, tg_tensor *mask, bool causal,
                                           double dropout_p, tg_rng *rng)
{
    if (!check_heads(q, k, v) || !check_dropout(sdpa_name, q->ctx, dropout_p, rng))
        return NULL;
    tg_ctx *ctx = q->ctx;
    int64_t batch = q->shape[0], heads = q->shape[1], t = q->shape[2], d = q->shape[3];
    int64_t s = k->shape[2], dv = v->shape[3];
    tg_tensor *out = tg_step_tensor(ctx, (tg_dtype)q->dtype, 4, (int64_t[]){batch, heads, t, dv}, d == 0 || s == 0);
    if (!out)
        return NULL;
    double scale = d ? 1 / sqrt((double)d) : 1;
    attention_job job = {.q = contiguous_heads(q), .k = contiguous_heads(k), .v = contiguous_heads(v),
                         .y = contiguous_heads(out), .heads = heads, .t = t, .s = s, .d = d, .dv_dim = dv,
                         .scale = scale};
    tg_tensor *keep;
    if (!attention_forward(sdpa_name, ctx, (tg_dtype)q->dtype, &job, batch, mask, causal, dropout_p, rng, &keep))
        return NULL;
    tg_tensor *in[4] = {q, k, v, mask};
    int n_in = mask ? 4 : 3;
    if (!tg_record_needed(out, n_in, in))
        return out;
    attention_attr attr = {.scale = scale, .dropout_p = dropout_p, .causal = causal, .has_mask = mask != NULL,
                           .heads = (int)heads, .probs = job.probs, .keep = keep};
    const void *stored = tg_attr_store(ctx, &attr, sizeof attr);
    return stored ? tg_record(&tg_op_scaled_dot_product_attention, out, n_in, in, (tg_attr){.data = stored}) : NULL;
}

static void sdpa_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    const attention_attr *a = n->attr.data;
    tg_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2], *mask = a->has_mask ? n->in[3] : NULL;
    if (tg_grad_enabled(dy->ctx)) {
        attention_backward_ops(a, q, k, v, mask, dy, dx);
        return;
    }
    bool mask_grad = mask && mask->requires_grad && mask->dtype != TG_I64;
    for (int i = 0; i < 3; i++)
        if (n->in[i]->requires_grad && !(dx[i] = tg_step_like(n->in[i], false)))
            return;
    attention_job job = {.q = contiguous_heads(q), .k = contiguous_heads(k), .v = contiguous_heads(v),
                         .y = contiguous_heads(dy), .dq = contiguous_heads(dx[0]), .dk = contiguous_heads(dx[1]),
                         .dv = contiguous_heads(dx[2]), .heads = q->shape[1], .t = q->shape[2], .s = k->shape[2],
                         .d = q->shape[3], .dv_dim = v->shape[3]};
    tg_tensor *dz = attention_backward_kernel(&job, a, dy, dx[0] || dx[1] || mask_grad);
    if (mask_grad && dz)
        dx[3] = tg_reduce_to(dz, mask);
}

/* The view of part (0 q, 1 k, 2 v) of qkv [B, T, 3·H·dh] as heads: head h of
 * a part is its columns h·dh .. (h+1)·dh, a row every 3·H·dh values. */
static heads_view packed_heads(const tg_tensor *qkv, int part, int64_t heads)
{
    if (!qkv)
        return (heads_view){0};
    int64_t t = qkv->shape[1], width = qkv->shape[2], dh = width / 3 / heads;
    size_t offset = (size_t)(part * heads * dh) * tg_dtype_size((tg_dtype)qkv->dtype);
    return (heads_view){.data = (char *)qkv->data + offset, .batch = t * width, .head = dh, .row = width};
}

/* y [B, T, H·dh], the heads side by side */
static heads_view side_by_side(const tg_tensor *y, int64_t heads)
{
    int64_t t = y->shape[1], width = y->shape[2];
    return (heads_view){.data = y->data, .batch = t * width, .head = width / heads, .row = width};
}

tg_tensor *tg_multi_head_attention(tg_tensor *qkv, int heads, tg_tensor *mask, bool causal, double dropout_p,
                                   tg_rng *rng)
{
    if (!check_packed(qkv, heads) || !check_dropout(mha_name, qkv->ctx, dropout_p, rng))
        return NULL;
    tg_ctx *ctx = qkv->ctx;
    int64_t batch = qkv->shape[0], t = qkv->shape[1], d_model = qkv->shape[2] / 3, dh = d_model / heads;
    tg_tensor *out = tg_step_tensor(ctx, (tg_dtype)qkv->dtype, 3, (int64_t[]){batch, t, d_model}, t == 0);
    if (!out)
        return NULL;
    double scale = 1 / sqrt((double)dh);
    attention_job job = {.q = packed_heads(qkv, 0, heads), .k = packed_heads(qkv, 1, heads),
                         .v = packed_heads(qkv, 2, heads), .y = side_by_side(out, heads), .heads = heads, .t = t,
                         .s = t, .d = dh, .dv_dim = dh, .scale = scale};
    tg_tensor *keep;
    if (!attention_forward(mha_name, ctx, (tg_dtype)qkv->dtype, &job, batch, mask, causal, dropout_p, rng, &keep))
        return NULL;
    tg_tensor *in[2] = {qkv, mask};
    int n_in = mask ? 2 : 1;
    if (!tg_record_needed(out, n_in, in))
        return out;
    attention_attr attr = {.scale = scale, .dropout_p = dropout_p, .causal = causal, .has_mask = mask != NULL,
                           .heads = heads, .probs = job.probs, .keep = keep};
    const void *stored = tg_attr_store(ctx, &attr, sizeof attr);
    return stored ? tg_record(&tg_op_multi_head_attention, out, n_in, in, (tg_attr){.data = stored}) : NULL;
}

/* [B, T, H·dh] as heads [B, H, T, dh] (a copy) */
static tg_tensor *split_heads(tg_tensor *x, int heads)
{
    if (!x)
        return NULL;
    const int64_t *s = tg_tensor_shape(x);
    return tg_permute(tg_reshape(x, TG_SHAPE(s[0], s[1], heads, -1)), (const int[]){0, 2, 1, 3});
}

/* heads [B, H, T, dh] side by side again: [B, T, H·dh] */
static tg_tensor *join_heads(tg_tensor *x)
{
    if (!x)
        return NULL;
    const int64_t *s = tg_tensor_shape(x);
    return tg_reshape(tg_permute(x, (const int[]){0, 2, 1, 3}), TG_SHAPE(s[0], s[2], s[1] * s[3]));
}

static void mha_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    const attention_attr *a = n->attr.data;
    tg_tensor *qkv = n->in[0], *mask = a->has_mask ? n->in[1] : NULL;
    bool mask_grad = mask && mask->requires_grad && mask->dtype != TG_I64;
    if (tg_grad_enabled(dy->ctx)) { /* create_graph: unpacked with copies, then the ops of sdpa's rule */
        int64_t d_model = qkv->shape[2] / 3;
        tg_tensor *parts[3], *grads[4] = {0};
        for (int i = 0; i < 3; i++)
            parts[i] = split_heads(tg_slice(qkv, 2, i * d_model, (i + 1) * d_model, 1), a->heads);
        attention_backward_ops(a, parts[0], parts[1], parts[2], mask, split_heads(dy, a->heads), grads);
        if (qkv->requires_grad) {
            tg_tensor *joined[3] = {join_heads(grads[0]), join_heads(grads[1]), join_heads(grads[2])};
            dx[0] = tg_concat(3, joined, 2);
        }
        if (mask_grad)
            dx[1] = grads[3];
        return;
    }
    tg_tensor *dqkv = NULL;
    if (qkv->requires_grad && !(dqkv = tg_step_like(qkv, false)))
        return;
    int64_t dh = qkv->shape[2] / 3 / a->heads;
    attention_job job = {.q = packed_heads(qkv, 0, a->heads), .k = packed_heads(qkv, 1, a->heads),
                         .v = packed_heads(qkv, 2, a->heads), .y = side_by_side(dy, a->heads),
                         .dq = packed_heads(dqkv, 0, a->heads), .dk = packed_heads(dqkv, 1, a->heads),
                         .dv = packed_heads(dqkv, 2, a->heads), .heads = a->heads, .t = qkv->shape[1],
                         .s = qkv->shape[1], .d = dh, .dv_dim = dh};
    tg_tensor *dz = attention_backward_kernel(&job, a, dy, dqkv || mask_grad);
    dx[0] = dqkv;
    if (mask_grad && dz)
        dx[1] = tg_reduce_to(dz, mask);
}

/* ---- labels ---- */

static const char *mask_label(const tg_tensor *mask)
{
    return !mask ? "" : mask->dtype == TG_I64 ? ", mask" : ", +mask";
}

static void sdpa_label(const tg_node *n, char *buf, size_t size)
{
    const attention_attr *a = n->attr.data;
    char dropout[32] = "";
    if (a->dropout_p > 0)
        snprintf(dropout, sizeof dropout, ", dropout %g", a->dropout_p);
    snprintf(buf, size, "attention(softmax(q·kᵀ/√%lld%s%s)·v%s)", (long long)n->in[0]->shape[3],
             mask_label(a->has_mask ? n->in[3] : NULL), a->causal ? ", causal" : "", dropout);
}

static void sdpa_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)n;
    static const char *const labels[] = {"dZ·k/√d, dZ = P⊙(dP − Σ dP⊙P), dP = δ·vᵀ", "dZᵀ·q/√d", "P'ᵀ·δ",
                                         "dZ, Σ to the mask's shape"};
    snprintf(buf, size, "%s", input >= 0 && input < 4 ? labels[input] : "?");
}

static void mha_label(const tg_node *n, char *buf, size_t size)
{
    const attention_attr *a = n->attr.data;
    char dropout[32] = "";
    if (a->dropout_p > 0)
        snprintf(dropout, sizeof dropout, ", dropout %g", a->dropout_p);
    snprintf(buf, size, "%d-head attention(softmax(q·kᵀ/√%lld%s%s)·v%s)", a->heads,
             (long long)(n->in[0]->shape[2] / 3 / a->heads), mask_label(a->has_mask ? n->in[1] : NULL),
             a->causal ? ", causal" : "", dropout);
}

static void mha_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)n;
    static const char *const labels[] = {"dq|dk|dv per head: dZ·k/√d | dZᵀ·q/√d | P'ᵀ·δ", "dZ, Σ to the mask's shape"};
    snprintf(buf, size, "%s", input >= 0 && input < 2 ? labels[input] : "?");
}

const tg_op_desc tg_op_scaled_dot_product_attention = {.kind = TG_OP_SCALED_DOT_PRODUCT_ATTENTION,
                                                       .name = "scaled_dot_product_attention",
                                                       .backward = sdpa_backward, .label = sdpa_label,
                                                       .vjp_label = sdpa_vjp_label};

const tg_op_desc tg_op_multi_head_attention = {.kind = TG_OP_MULTI_HEAD_ATTENTION, .name = "multi_head_attention",
                                               .backward = mha_backward, .label = mha_label,
                                               .vjp_label = mha_vjp_label};
