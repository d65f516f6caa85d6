/* Convolution: conv2d (conv1d is conv2d over a height of 1) and its two
 * backward ops, all routed through the blocked GEMM of ops/gemm.c.
 *
 * Per image and group, with P = OH·OW output positions and K = C/g·KH·KW
 * taps, the three products are (col = the image's patches, [K, P]):
 *   forward          y[O/g, P]  = W[O/g, K] · col[K, P]        (+ bias)
 *   backward_input   dcol[K, P] = Wᵀ[K, O/g] · dy[O/g, P],  dx = col2im(dcol)
 *   backward_weight  dW[O/g, K] += dy[O/g, P] · colᵀ[P, K]
 * Each backward op is the adjoint of the forward in one argument, so the
 * three close under differentiation (second derivatives are made of them).
 * f32 products with stride 1 and few channels run on the direct kernels of
 * ops/conv_direct.c instead (no patches, no packing), and the forward and
 * backward input of 16 images at a time on those of ops/conv_lanes.c, and
 * the backward weight on those of ops/conv_lanes_weight.c. */
#include "autograd/internal.h"
#include "ops/conv.h"
#include "ops/gemm.h"

#include <stdio.h>
#include <string.h>

/* ---- geometry ---- */

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d)
{
    return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

static conv_geom make_geom(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kh, int64_t kw,
                           const tg_conv_attr *a)
{
    conv_geom g = {n, c, h, w, o, kh, kw, 0, 0, a->stride[0], a->stride[1], a->padding[0], a->padding[1],
                   a->dilation[0], a->dilation[1], a->groups, c / a->groups, o / a->groups, 0, 0};
    g.oh = out_size(h, kh, g.sh, g.ph, g.dh);
    g.ow = out_size(w, kw, g.sw, g.pw, g.dw);
    g.k = g.cg * kh * kw;
    g.p = g.oh * g.ow;
    return g;
}

/* ---- kernels ----
 * The batch is split across the context's pool, one image per task (the
 * per-image products are too small to split well, and images need no
 * synchronisation); each task runs its GEMMs on its own thread with its
 * worker's packing scratch and its worker's slice of a patch buffer taken
 * from step memory before the run. With one thread, or fewer images than
 * threads, the images run in turn and each GEMM may split itself. */

/* First and one-past-last output index whose tap at offset `off` (= j·d - pad)
 * lands inside [0, in): o·s + off in [0, in). */
static void valid_range(int64_t out, int64_t in, int64_t s, int64_t off, int64_t *lo, int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = in - off <= 0 ? 0 : (in - off - 1) / s + 1;
    *lo = a < out ? a : out;
    *hi = b < out ? b : out;
    if (*hi < *lo)
        *hi = *lo;
}

/* col[K, P] from one group's channels x [C/g, H, W]: row (c, i, j), column
 * (oy, ox) holds x[c, oy·sh - ph + i·dh, ox·sw - pw + j·dw], 0 outside.
 * col2im is its adjoint: dx[C/g, H, W] += col2im(dcol[K, P]). */
#define IM2COL(T, ATTR, SUFFIX)                                                                        \
    ATTR static void im2col_##SUFFIX(const conv_geom *g, const T *x, T *col)                           \
    {                                                                                                  \
        const int64_t ow = g->ow, P = g->p, sw = g->sw;                                                \
        for (int64_t i = 0; i < g->kh; i++)                                                            \
            for (int64_t j = 0; j < g->kw; j++) {                                                      \
                int64_t oy0, oy1, ox0, ox1, offy = i * g->dh - g->ph, offx = j * g->dw - g->pw;        \
                valid_range(g->oh, g->h, g->sh, offy, &oy0, &oy1);                                     \
                valid_range(ow, g->w, sw, offx, &ox0, &ox1);                                           \
                for (int64_t c = 0; c < g->cg; c++) {                                                  \
                    T *row = col + ((c * g->kh + i) * g->kw + j) * P;                                  \
                    const T *plane = x + c * g->h * g->w;                                              \
                    for (int64_t q = 0; q < oy0 * ow; q++)                                             \
                        row[q] = 0;                                                                    \
                    for (int64_t oy = oy0; oy < oy1; oy++) {                                           \
                        T *restrict dst = row + oy * ow;                                               \
                        const T *restrict src = plane + (oy * g->sh + offy) * g->w + offx;             \
                        for (int64_t ox = 0; ox < ox0; ox++)                                           \
                            dst[ox] = 0;                                                               \
                        if (sw == 1)                                                                   \
                            for (int64_t ox = ox0; ox < ox1; ox++)                                     \
                                dst[ox] = src[ox];                                                     \
                        else                                                                           \
                            for (int64_t ox = ox0; ox < ox1; ox++)                                     \
                                dst[ox] = src[ox * sw];                                                \
                        for (int64_t ox = ox1; ox < ow; ox++)                                          \
                            dst[ox] = 0;                                                               \
                    }                                                                                  \
                    for (int64_t q = oy1 * ow; q < P; q++)                                             \
                        row[q] = 0;                                                                    \
                }                                                                                      \
            }                                                                                          \
    }                                                                                                  \
    ATTR static void col2im_##SUFFIX(const conv_geom *g, const T *col, T *dx)                          \
    {                                                                                                  \
        const int64_t ow = g->ow, P = g->p, sw = g->sw;                                                \
        for (int64_t i = 0; i < g->kh; i++)                                                            \
            for (int64_t j = 0; j < g->kw; j++) {                                                      \
                int64_t oy0, oy1, ox0, ox1, offy = i * g->dh - g->ph, offx = j * g->dw - g->pw;        \
                valid_range(g->oh, g->h, g->sh, offy, &oy0, &oy1);                                     \
                valid_range(ow, g->w, sw, offx, &ox0, &ox1);                                           \
                for (int64_t c = 0; c < g->cg; c++) {                                                  \
                    const T *row = col + ((c * g->kh + i) * g->kw + j) * P;                            \
                    T *plane = dx + c * g->h * g->w;                                                   \
                    for (int64_t oy = oy0; oy < oy1; oy++) {                                           \
                        const T *restrict src = row + oy * ow;                                         \
                        T *restrict dst = plane + (oy * g->sh + offy) * g->w + offx;                   \
                        if (sw == 1)                                                                   \
                            for (int64_t ox = ox0; ox < ox1; ox++)                                     \
                                dst[ox] += src[ox];                                                    \
                        else                                                                           \
                            for (int64_t ox = ox0; ox < ox1; ox++)                                     \
                                dst[ox * sw] += src[ox];                                               \
                    }                                                                                  \
                }                                                                                      \
            }                                                                                          \
    }
IM2COL(float, , float)
IM2COL(double, , double)
/* The rows are short (OW values): wide vectors and masked tails pay, so the
 * copies also come compiled for AVX-512 and picked at run time. */
#if defined(__x86_64__) && defined(__GNUC__)
IM2COL(float, TG_CONV_AVX512, float_avx512)
IM2COL(double, TG_CONV_AVX512, double_avx512)
bool tg_conv_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
}
#else
#define im2col_float_avx512 im2col_float
#define im2col_double_avx512 im2col_double
#define col2im_float_avx512 col2im_float
#define col2im_double_avx512 col2im_double
bool tg_conv_avx512(void) { return false; }
#endif

static void im2col(tg_dtype dt, const conv_geom *g, const void *x, void *col)
{
    if (dt == TG_F32 && tg_conv_im2col_f32(g, x, col))
        return;
    bool wide = tg_conv_avx512();
    if (dt == TG_F32)
        (wide ? im2col_float_avx512 : im2col_float)(g, x, col);
    else
        (wide ? im2col_double_avx512 : im2col_double)(g, x, col);
}

static void col2im(tg_dtype dt, const conv_geom *g, const void *col, void *dx)
{
    bool wide = tg_conv_avx512();
    if (dt == TG_F32)
        (wide ? col2im_float_avx512 : col2im_float)(g, col, dx);
    else
        (wide ? col2im_double_avx512 : col2im_double)(g, col, dx);
}

/* A 1×1 kernel with stride 1 and no padding reads the image itself as col. */
static bool col_is_image(const conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

typedef struct {
    const conv_geom *g;
    conv_pass pass;
    tg_dtype dt;
    tg_pool *pool;
    bool split;           /* images run as pool tasks (each GEMM on one thread) */
    const char *x, *w, *bias, *dy; /* as the pass needs */
    char *out;            /* y, dx or dw */
    char *col;            /* per worker: col_bytes of patches */
    size_t col_bytes;
    char *partial;        /* backward weight with several workers: a dw per worker */
    char *cache;          /* every image's and group's patches (col_bytes each), or NULL */
    bool cached;          /* cache holds them already (backward weight after forward) */
    char *dwT;            /* backward weight as dwᵀ (wgrad_transposed): per worker [groups][K][O/g] */
} conv_job;

/* Whether the backward weight runs as dwᵀ[K, O/g] += col·dyᵀ: with few
 * output channels (≤ 96) dw = dy·colᵀ is a GEMM of few rows times a
 * transposed operand, which tg_gemm computes as dot products of rows
 * reduced once per image (over only P positions); with K > 96 rows
 * the transposed product takes the packed, blocked kernels. */
static bool wgrad_transposed(const conv_geom *g) { return g->og <= 96 && g->k > 96; }

static void gemm(const conv_job *job, int worker, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void *a,
                 int64_t lda, const void *b, int64_t ldb, double beta, void *c, int64_t ldc)
{
    if (!job->split) { /* the GEMM may split itself */
        if (job->dt == TG_F32)
            tg_gemm_f32(job->pool, ta, tb, m, n, k, 1, a, lda, b, ldb, (float)beta, c, ldc);
        else
            tg_gemm_f64(job->pool, ta, tb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc);
    } else if (job->dt == TG_F32) {
        tg_gemm_f32_worker(job->pool, worker, ta, tb, m, n, k, 1, a, lda, b, ldb, (float)beta, c, ldc);
    } else {
        tg_gemm_f64_worker(job->pool, worker, ta, tb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc);
    }
}

/* One image b, every group, on `worker`. */
static void conv_image(void *arg, int b, int n_tasks, int worker)
{
    (void)n_tasks;
    const conv_job *job = arg;
    const conv_geom *g = job->g;
    const int64_t es = (int64_t)tg_dtype_size(job->dt), plane = g->h * g->w;
    bool direct = col_is_image(g);
    for (int64_t gr = 0; gr < g->groups; gr++) {
        void *col = job->cache ? job->cache + (size_t)(b * g->groups + gr) * job->col_bytes
                               : job->col + (size_t)worker * job->col_bytes;
        int64_t x_off = ((b * g->c + gr * g->cg) * plane) * es, y_off = ((b * g->o + gr * g->og) * g->p) * es;
        const char *wg = job->w + (gr * g->og * g->k) * es;
        switch (job->pass) {
        case CONV_FORWARD: { /* y = W·col + bias */
            const char *xg = job->x + x_off;
            char *yg = job->out + y_off;
            if (!direct)
                im2col(job->dt, g, xg, col);
            gemm(job, worker, false, false, g->og, g->p, g->k, wg, g->k, direct ? xg : col, g->p, 0, yg, g->p);
            if (job->bias)
                TG_TYPED(job->dt, T, {
                    const T *bias = (const T *)job->bias + gr * g->og;
                    T *y = (T *)yg;
                    for (int64_t o = 0; o < g->og; o++)
                        for (int64_t q = 0; q < g->p; q++)
                            y[o * g->p + q] += bias[o];
                });
            break;
        }
        case CONV_BACKWARD_INPUT: { /* dcol = Wᵀ·dy, dx = col2im(dcol) */
            char *dxg = job->out + x_off;
            const char *dyg = job->dy + y_off;
            if (direct) {
                gemm(job, worker, true, false, g->k, g->p, g->og, wg, g->k, dyg, g->p, 0, dxg, g->p);
                break;
            }
            gemm(job, worker, true, false, g->k, g->p, g->og, wg, g->k, dyg, g->p, 0, col, g->p);
            if (job->dt == TG_F32 && tg_conv_col2im_f32(g, col, (float *)dxg))
                break;
            memset(dxg, 0, (size_t)(g->cg * plane * es));
            col2im(job->dt, g, col, dxg);
            break;
        }
        case CONV_BACKWARD_WEIGHT: { /* dw += dy·colᵀ */
            const char *xg = job->x + x_off, *dyg = job->dy + y_off;
            char *dw = (job->partial ? job->partial + (size_t)worker * (size_t)(g->o * g->k * es) : job->out);
            if (!direct && !job->cached)
                im2col(job->dt, g, xg, col);
            if (job->dwT) /* dwᵀ[K, O/g] += col·dyᵀ */
                gemm(job, worker, false, true, g->k, g->og, g->p, direct ? xg : col, g->p, dyg, g->p, 1,
                     job->dwT + ((size_t)worker * (size_t)(g->o * g->k) + (size_t)(gr * g->og * g->k)) * es, g->og);
            else
                gemm(job, worker, false, true, g->og, g->k, g->p, dyg, g->p, direct ? xg : col, g->p, 1,
                     dw + (gr * g->og * g->k) * es, g->k);
            break;
        }
        }
    }
}

/* Bytes of one image's and group's patches (0: the image is its own col). */
static size_t col_size(const conv_geom *g, tg_dtype dt)
{
    return col_is_image(g) ? 0 : ((size_t)(g->k * g->p) * tg_dtype_size(dt) + 63) & ~(size_t)63;
}

/* Runs pass over the batch; false (error set) when step memory runs out.
 * cache: every image's patches, written by the forward pass, read by the
 * backward weight pass when `cached`. */
static bool conv_run(tg_ctx *ctx, const conv_geom *g, conv_pass pass, tg_dtype dt, const void *x, const void *w,
                     const void *bias, const void *dy, void *out, void *cache, bool cached)
{
    /* (a forward asked to keep patches for the weight gradient builds them) */
    int64_t lanes = cache ? 0 : tg_conv_lanes_batch(g, dt, pass);
    if (lanes > 0) { /* 16 images at a time, the rest below */
        bool fwd = pass == CONV_FORWARD;
        const void *in = fwd ? x : dy;
        if (!tg_conv_lanes_run(ctx, g, pass, lanes, in, w, bias, out))
            return false;
        if (lanes == g->n)
            return true;
        conv_geom rest = *g;
        rest.n -= lanes;
        size_t es = tg_dtype_size(dt), x_size = (size_t)(g->c * g->h * g->w) * es, y_size = (size_t)(g->o * g->p) * es;
        in = (const char *)in + (size_t)lanes * (fwd ? x_size : y_size);
        return conv_run(ctx, &rest, pass, dt, fwd ? in : x, w, bias, fwd ? dy : in,
                        (char *)out + (size_t)lanes * (fwd ? y_size : x_size), NULL, false);
    }
    int64_t lanes_w = pass == CONV_BACKWARD_WEIGHT && !cached ? tg_conv_lanes_weight_batch(g, dt) : 0;
    if (lanes_w > 0) { /* 16 images at a time, the rest's dW added */
        if (!tg_conv_lanes_weight_run(ctx, g, lanes_w, x, dy, out))
            return false;
        if (lanes_w == g->n)
            return true;
        conv_geom rest = *g;
        rest.n -= lanes_w;
        size_t dw_len = (size_t)(g->o * g->k);
        float *rest_dw = tg_arena_alloc(ctx, dw_len * sizeof *rest_dw, 64);
        if (!rest_dw || !conv_run(ctx, &rest, pass, dt, (const float *)x + lanes_w * g->c * g->h * g->w, w, bias,
                                  (const float *)dy + lanes_w * g->o * g->p, rest_dw, NULL, false))
            return false;
        for (size_t q = 0; q < dw_len; q++)
            ((float *)out)[q] += rest_dw[q];
        return true;
    }
    if (tg_conv_direct_path(g, dt, pass))
        return tg_conv_direct_run(ctx, g, pass, x, w, bias, dy, out);
    tg_pool *pool = ctx->pool;
    int threads = tg_pool_threads(pool);
    /* below ~1 MFLOP per image a task is too short to share */
    bool split = threads > 1 && g->n >= threads && 2.0 * (double)(g->o * g->k * g->p) >= 1e6 / 8;
    int workers = split ? threads : 1;
    size_t es = tg_dtype_size(dt), col_bytes = col_size(g, dt);
    conv_job job = {g, pass, dt, pool, split, x, w, bias, dy, out, NULL, col_bytes, NULL, cache, cached && cache, NULL};
    if (col_bytes && !cache && !(job.col = tg_arena_alloc(ctx, col_bytes * (size_t)workers, 64)))
        return false;
    if (pass == CONV_BACKWARD_WEIGHT && wgrad_transposed(g)) {
        size_t dw_bytes = (size_t)(g->o * g->k) * es;
        if (!(job.dwT = tg_arena_alloc(ctx, dw_bytes * (size_t)workers, 64)))
            return false;
        memset(job.dwT, 0, dw_bytes * (size_t)workers);
    } else if (pass == CONV_BACKWARD_WEIGHT) {
        size_t dw_bytes = (size_t)(g->o * g->k) * es;
        if (workers > 1 && !(job.partial = tg_arena_alloc(ctx, dw_bytes * (size_t)workers, 64)))
            return false;
        memset(job.partial ? (void *)job.partial : out, 0, dw_bytes * (size_t)workers);
    }
    if (split)
        tg_pool_run(pool, (int)g->n, conv_image, &job);
    else
        for (int64_t b = 0; b < g->n; b++)
            conv_image(&job, (int)b, (int)g->n, 0);
    if (job.dwT) /* dw[gr·og + o][t] = Σ workers' dwᵀ[gr][t][o] */
        TG_TYPED(dt, T, {
            T *dw = out;
            const T *part = (const T *)job.dwT;
            int64_t size = g->o * g->k;
            for (int64_t gr = 0; gr < g->groups; gr++)
                for (int64_t t = 0; t < g->k; t++)
                    for (int64_t o = 0; o < g->og; o++) {
                        T total = 0;
                        for (int k = 0; k < workers; k++)
                            total += part[k * size + (gr * g->k + t) * g->og + o];
                        dw[(gr * g->og + o) * g->k + t] = total;
                    }
        });
    if (job.partial) /* dw = Σ workers' sums */
        TG_TYPED(dt, T, {
            T *dw = out;
            const T *part = (const T *)job.partial;
            int64_t size = g->o * g->k;
            for (int64_t i = 0; i < size; i++) {
                T total = 0;
                for (int t = 0; t < workers; t++)
                    total += part[t * size + i];
                dw[i] = total;
            }
        });
    return true;
}

/* ---- argument checks ---- */

static char *attr_text(const tg_conv_attr *a, char *buf, size_t size)
{
    snprintf(buf, size, "stride %lldx%lld, padding %lldx%lld, dilation %lldx%lld, groups %lld",
             (long long)a->stride[0], (long long)a->stride[1], (long long)a->padding[0], (long long)a->padding[1],
             (long long)a->dilation[0], (long long)a->dilation[1], (long long)a->groups);
    return buf;
}

static bool check_attr(tg_ctx *ctx, const char *op, const tg_conv_attr *a)
{
    for (int d = 0; d < 2; d++) {
        if (a->stride[d] < 1)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: stride %lld; expected a stride of 1 or more", op,
                               (long long)a->stride[d]), false;
        if (a->dilation[d] < 1)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: dilation %lld; expected a dilation of 1 or more", op,
                               (long long)a->dilation[d]), false;
        if (a->padding[d] < 0)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: padding %lld; expected a padding of 0 or more", op,
                               (long long)a->padding[d]), false;
    }
    if (a->groups < 1)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: groups %lld; expected 1 or more", op, (long long)a->groups), false;
    return true;
}

/* x [N, C, H, W] (or its shape alone when x is NULL) against weight
 * [O, C/g, KH, KW]; fills g. `what` names the image tensor in messages. */
static bool check_geometry(tg_ctx *ctx, const char *op, const int64_t *xs, const char *what, const tg_tensor *w,
                           const tg_conv_attr *a, conv_geom *g)
{
    if (w->rank != 4)
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: weight has shape %s; expected rank 4 [out_channels, "
                           "in_channels/groups, kernel_h, kernel_w]", op, tg_shape_of(w).s), false;
    int64_t c = xs[1], o = w->shape[0];
    if (c % a->groups || o % a->groups)
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: groups %lld do not divide the %lld input channels and %lld output "
                           "channels (weight %s); expected both divisible by groups", op, (long long)a->groups,
                           (long long)c, (long long)o, tg_shape_of(w).s), false;
    if (w->shape[1] * a->groups != c)
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: %s has %lld channels but weight %s takes %lld per group x %lld "
                           "groups; expected weight dim 1 = channels/groups = %lld", op, what, (long long)c,
                           tg_shape_of(w).s, (long long)w->shape[1], (long long)a->groups,
                           (long long)(c / a->groups)), false;
    for (int d = 0; d < 2; d++) {
        int64_t in = xs[2 + d], k = w->shape[2 + d], span = a->dilation[d] * (k - 1) + 1;
        if (span > in + 2 * a->padding[d])
            return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: kernel %s spans %lld %s with dilation %lld, more than the "
                               "padded %s %s (%lld + 2x%lld); expected a kernel that fits", op, tg_shape_of(w).s,
                               (long long)span, d ? "columns" : "rows", (long long)a->dilation[d], what,
                               d ? "width" : "height", (long long)in, (long long)a->padding[d]), false;
    }
    *g = make_geom(xs[0], c, xs[2], xs[3], o, w->shape[2], w->shape[3], a);
    return true;
}

/* ---- conv2d ---- */

/* Records one of the three conv ops with its attributes copied to step memory. */
static tg_tensor *record_conv(const tg_op_desc *op, tg_tensor *out, int n_in, tg_tensor *const *in,
                              const tg_conv_attr *attr)
{
    const void *stored = tg_attr_store(out->ctx, attr, sizeof *attr);
    return stored ? tg_record(op, out, n_in, in, (tg_attr){.data = stored}) : NULL;
}

tg_tensor *tg_conv2d_attr(tg_tensor *x, tg_tensor *weight, tg_tensor *bias, const tg_conv_attr *attr, const char *op)
{
    if (!tg_check_pair(op, x, weight) || (bias && !tg_check_pair(op, x, bias)))
        return NULL;
    tg_ctx *ctx = x->ctx;
    if (!check_attr(ctx, op, attr))
        return NULL;
    if (x->rank != 4)
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: input has shape %s; expected rank 4 [batch, channels, height, "
                           "width]", op, tg_shape_of(x).s), NULL;
    conv_geom g;
    if (!check_geometry(ctx, op, x->shape, "input", weight, attr, &g))
        return NULL;
    if (bias && (bias->rank != 1 || bias->shape[0] != g.o))
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: bias has shape %s; expected [%lld], one per output channel of "
                           "weight %s", op, tg_shape_of(bias).s, (long long)g.o, tg_shape_of(weight).s), NULL;
    tg_tensor *y = tg_step_tensor(ctx, (tg_dtype)x->dtype, 4, (int64_t[]){g.n, g.o, g.oh, g.ow}, false);
    if (!y)
        return NULL;
    /* The weight's gradient will need every image's patches again: keep
     * them (step memory) rather than build them twice, unless the forward
     * runs without patches (16 images in the lanes: the weight gradient then
     * builds them, which costs less than the GEMM forward saves) or the
     * weight gradient reads none (direct kernels, 16 images in the lanes). */
    size_t cache_bytes = (size_t)(g.n * g.groups) * col_size(&g, (tg_dtype)x->dtype);
    void *cache = NULL;
    if (cache_bytes && ctx->grad_enabled && weight->requires_grad &&
        !tg_conv_direct_path(&g, (tg_dtype)x->dtype, CONV_BACKWARD_WEIGHT) &&
        tg_conv_lanes_weight_batch(&g, (tg_dtype)x->dtype) == 0 &&
        tg_conv_lanes_batch(&g, (tg_dtype)x->dtype, CONV_FORWARD) == 0 && !(cache = tg_arena_alloc(ctx, cache_bytes, 64)))
        return NULL;
    if (!conv_run(ctx, &g, CONV_FORWARD, (tg_dtype)x->dtype, x->data, weight->data, bias ? bias->data : NULL, NULL,
                  y->data, cache, false))
        return NULL;
    tg_conv_attr a = *attr;
    a.in_h = g.h, a.in_w = g.w;
    a.patches = cache, a.patches_of = cache ? x : NULL;
    tg_tensor *in[3] = {x, weight, bias};
    return record_conv(&tg_op_conv2d, y, bias ? 3 : 2, in, &a);
}

static tg_conv_attr square_attr(int stride, int padding, int dilation, int groups)
{
    return (tg_conv_attr){{stride, stride}, {padding, padding}, {dilation, dilation}, groups, 0, 0, 0, 0, NULL, NULL};
}

tg_tensor *tg_conv2d(tg_tensor *x, tg_tensor *weight, tg_tensor *bias, int stride, int padding, int dilation,
                     int groups)
{
    tg_conv_attr a = square_attr(stride, padding, dilation, groups);
    return tg_conv2d_attr(x, weight, bias, &a, "conv2d");
}

/* y = conv(x, w) + b:  dx = conv_backward_input(dy, w), dw = conv_backward_weight(x, dy),
 * db = Σ over n, oy, ox of dy */
static void conv2d_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    const tg_conv_attr *a = n->attr.data;
    tg_tensor *x = n->in[0], *w = n->in[1];
    if (x->requires_grad)
        dx[0] = tg_conv2d_backward_input_attr(dy, w, a, "conv2d_backward_input");
    if (w->requires_grad) {
        tg_conv_attr aw = *a;
        aw.k_h = w->shape[2], aw.k_w = w->shape[3];
        dx[1] = tg_conv2d_backward_weight_attr(x, dy, &aw, "conv2d_backward_weight");
    }
    if (n->n_in > 2 && n->in[2]->requires_grad) {
        /* over the batch first (sum_axis adds whole C·OH·OW rows: vectorised),
         * then over each channel's OH·OW (a few thousand values) */
        tg_tensor *over_batch = tg_sum_axis(dy, 0, false);
        tg_tensor *db = tg_sum_to(over_batch, 3, (int64_t[]){dy->shape[1], 1, 1});
        dx[2] = tg_reshape(db, 1, n->in[2]->shape);
    }
}

static void conv_label(const char *name, const tg_node *n, char *buf, size_t size)
{
    const tg_conv_attr *a = n->attr.data;
    char at[128];
    snprintf(buf, size, "%s(%s)", name, attr_text(a, at, sizeof at));
}

static void conv2d_label(const tg_node *n, char *buf, size_t size) { conv_label("conv2d", n, buf, size); }

/* ---- conv2d_backward_input: the transposed convolution ---- */

tg_tensor *tg_conv2d_backward_input_attr(tg_tensor *dy, tg_tensor *weight, const tg_conv_attr *attr, const char *op)
{
    if (!tg_check_pair(op, dy, weight))
        return NULL;
    tg_ctx *ctx = dy->ctx;
    if (!check_attr(ctx, op, attr))
        return NULL;
    if (dy->rank != 4 || weight->rank != 4)
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: gradient %s and weight %s; expected rank 4 [batch, out_channels, "
                           "out_h, out_w] and [out_channels, in_channels/groups, kernel_h, kernel_w]", op,
                           tg_shape_of(dy).s, tg_shape_of(weight).s), NULL;
    if (attr->in_h < 1 || attr->in_w < 1)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: input size %lldx%lld; expected height and width of 1 or more", op,
                           (long long)attr->in_h, (long long)attr->in_w), NULL;
    if (dy->shape[1] != weight->shape[0])
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: gradient %s has %lld channels, weight %s has %lld output "
                           "channels; expected them equal", op, tg_shape_of(dy).s, (long long)dy->shape[1],
                           tg_shape_of(weight).s, (long long)weight->shape[0]), NULL;
    int64_t xs[4] = {dy->shape[0], weight->shape[1] * attr->groups, attr->in_h, attr->in_w};
    conv_geom g;
    if (!check_geometry(ctx, op, xs, "input", weight, attr, &g))
        return NULL;
    if (g.oh != dy->shape[2] || g.ow != dy->shape[3])
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: gradient %s; an input of %lldx%lld gives a %lldx%lld output with "
                           "weight %s; expected them equal", op, tg_shape_of(dy).s, (long long)g.h, (long long)g.w,
                           (long long)g.oh, (long long)g.ow, tg_shape_of(weight).s), NULL;
    tg_tensor *dx = tg_step_tensor(ctx, (tg_dtype)dy->dtype, 4, xs, false);
    if (!dx || !conv_run(ctx, &g, CONV_BACKWARD_INPUT, (tg_dtype)dy->dtype, NULL, weight->data, NULL, dy->data, dx->data, NULL,
                  false))
        return NULL;
    return record_conv(&tg_op_conv2d_backward_input, dx, 2, (tg_tensor *[]){dy, weight}, attr);
}

tg_tensor *tg_conv2d_backward_input(tg_tensor *dy, tg_tensor *weight, int64_t height, int64_t width, int stride,
                                    int padding, int dilation, int groups)
{
    tg_conv_attr a = square_attr(stride, padding, dilation, groups);
    a.in_h = height, a.in_w = width;
    return tg_conv2d_backward_input_attr(dy, weight, &a, "conv2d_backward_input");
}

/* dx = T(g, w), the adjoint of x -> conv(x, w):  <G, T(g, w)> = <conv(G, w), g>
 *   dg = conv(G, w),  dw = conv_backward_weight(G, g) */
static void conv2d_backward_input_backward(const tg_node *n, tg_tensor *dout, tg_tensor **dx)
{
    const tg_conv_attr *a = n->attr.data;
    tg_tensor *g = n->in[0], *w = n->in[1];
    if (g->requires_grad)
        dx[0] = tg_conv2d_attr(dout, w, NULL, a, "conv2d");
    if (w->requires_grad) {
        tg_conv_attr aw = *a;
        aw.k_h = w->shape[2], aw.k_w = w->shape[3];
        dx[1] = tg_conv2d_backward_weight_attr(dout, g, &aw, "conv2d_backward_weight");
    }
}

static void conv2d_backward_input_label(const tg_node *n, char *buf, size_t size)
{
    conv_label("conv2d_backward_input", n, buf, size);
}

/* ---- conv2d_backward_weight ---- */

tg_tensor *tg_conv2d_backward_weight_attr(tg_tensor *x, tg_tensor *dy, const tg_conv_attr *attr, const char *op)
{
    if (!tg_check_pair(op, x, dy))
        return NULL;
    tg_ctx *ctx = x->ctx;
    if (!check_attr(ctx, op, attr))
        return NULL;
    if (x->rank != 4 || dy->rank != 4)
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: input %s and gradient %s; expected rank 4 [batch, channels, "
                           "height, width] and [batch, out_channels, out_h, out_w]", op, tg_shape_of(x).s,
                           tg_shape_of(dy).s), NULL;
    if (attr->k_h < 1 || attr->k_w < 1)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: kernel %lldx%lld; expected a kernel of 1x1 or more", op,
                           (long long)attr->k_h, (long long)attr->k_w), NULL;
    int64_t o = dy->shape[1], c = x->shape[1];
    if (dy->shape[0] != x->shape[0] || c % attr->groups || o % attr->groups)
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: input %s and gradient %s with groups %lld; expected equal batch "
                           "sizes and channels divisible by groups", op, tg_shape_of(x).s, tg_shape_of(dy).s,
                           (long long)attr->groups), NULL;
    int64_t ws[4] = {o, c / attr->groups, attr->k_h, attr->k_w};
    tg_tensor *dw = tg_step_tensor(ctx, (tg_dtype)x->dtype, 4, ws, false);
    if (!dw)
        return NULL;
    conv_geom g;
    if (!check_geometry(ctx, op, x->shape, "input", dw, attr, &g))
        return NULL;
    if (g.oh != dy->shape[2] || g.ow != dy->shape[3])
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: gradient %s; input %s with a %lldx%lld kernel gives a %lldx%lld "
                           "output; expected them equal", op, tg_shape_of(dy).s, tg_shape_of(x).s,
                           (long long)g.kh, (long long)g.kw, (long long)g.oh, (long long)g.ow), NULL;
    bool cached = attr->patches && attr->patches_of == x;
    if (!conv_run(ctx, &g, CONV_BACKWARD_WEIGHT, (tg_dtype)x->dtype, x->data, NULL, NULL, dy->data, dw->data,
                  cached ? attr->patches : NULL, cached))
        return NULL;
    return record_conv(&tg_op_conv2d_backward_weight, dw, 2, (tg_tensor *[]){x, dy}, attr);
}

tg_tensor *tg_conv2d_backward_weight(tg_tensor *x, tg_tensor *dy, int64_t kernel_h, int64_t kernel_w, int stride,
                                     int padding, int dilation, int groups)
{
    tg_conv_attr a = square_attr(stride, padding, dilation, groups);
    a.k_h = kernel_h, a.k_w = kernel_w;
    return tg_conv2d_backward_weight_attr(x, dy, &a, "conv2d_backward_weight");
}

/* dw = U(x, g) with <V, U(x, g)> = <conv(x, V), g>:
 *   dx = conv_backward_input(g, V),  dg = conv(x, V) */
static void conv2d_backward_weight_backward(const tg_node *n, tg_tensor *dout, tg_tensor **dx)
{
    tg_conv_attr a = *(const tg_conv_attr *)n->attr.data;
    tg_tensor *x = n->in[0], *g = n->in[1];
    a.in_h = x->shape[2], a.in_w = x->shape[3];
    if (x->requires_grad)
        dx[0] = tg_conv2d_backward_input_attr(g, dout, &a, "conv2d_backward_input");
    if (g->requires_grad)
        dx[1] = tg_conv2d_attr(x, dout, NULL, &a, "conv2d");
}

static void conv2d_backward_weight_label(const tg_node *n, char *buf, size_t size)
{
    conv_label("conv2d_backward_weight", n, buf, size);
}

/* ---- conv1d: conv2d over a height of 1 ---- */

tg_tensor *tg_conv1d(tg_tensor *x, tg_tensor *weight, tg_tensor *bias, int stride, int padding, int dilation,
                     int groups)
{
    if (!tg_check_pair("conv1d", x, weight) || (bias && !tg_check_pair("conv1d", x, bias)))
        return NULL;
    if (x->rank != 3 || weight->rank != 3)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "conv1d: input %s and weight %s; expected rank 3 [batch, channels, "
                           "length] and [out_channels, in_channels/groups, kernel]", tg_shape_of(x).s,
                           tg_shape_of(weight).s), NULL;
    tg_conv_attr a = {{1, stride}, {0, padding}, {1, dilation}, groups, 0, 0, 0, 0, NULL, NULL};
    tg_tensor *x4 = tg_reshape(x, 4, (int64_t[]){x->shape[0], x->shape[1], 1, x->shape[2]});
    tg_tensor *w4 = tg_reshape(weight, 4, (int64_t[]){weight->shape[0], weight->shape[1], 1, weight->shape[2]});
    tg_tensor *y = tg_conv2d_attr(x4, w4, bias, &a, "conv1d");
    return y ? tg_reshape(y, 3, (int64_t[]){y->shape[0], y->shape[1], y->shape[3]}) : NULL;
}

/* x: δ through the transposed convolution; W: x correlated with δ; b: δ summed */
static void conv2d_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    const char *w = tg_vjp_name(n->in[1], "W"), *x = tg_vjp_name(n->in[0], "x");
    if (input == 0)
        snprintf(buf, size, "conv_transpose(δ, %s)", w);
    else if (input == 1)
        snprintf(buf, size, "correlate(%s, δ)", x);
    else
        snprintf(buf, size, "Σ over N, H, W");
}

static void conv2d_backward_input_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    if (input == 0)
        snprintf(buf, size, "conv(δ, %s)", tg_vjp_name(n->in[1], "W"));
    else
        snprintf(buf, size, "correlate(δ, %s)", tg_vjp_name(n->in[0], "g"));
}

static void conv2d_backward_weight_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    if (input == 0)
        snprintf(buf, size, "conv_transpose(%s, δ)", tg_vjp_name(n->in[1], "g"));
    else
        snprintf(buf, size, "conv(%s, δ)", tg_vjp_name(n->in[0], "x"));
}

const tg_op_desc tg_op_conv2d = {.kind = TG_OP_CONV2D, .name = "conv2d", .backward = conv2d_backward, .label = conv2d_label,
    .vjp_label = conv2d_vjp_label};
const tg_op_desc tg_op_conv2d_backward_input = {.kind = TG_OP_CONV2D_BACKWARD_INPUT, .name = "conv2d_backward_input",
                                                .backward = conv2d_backward_input_backward,
                                                .label = conv2d_backward_input_label,
    .vjp_label = conv2d_backward_input_vjp_label};
const tg_op_desc tg_op_conv2d_backward_weight = {.kind = TG_OP_CONV2D_BACKWARD_WEIGHT,
                                                 .name = "conv2d_backward_weight",
                                                 .backward = conv2d_backward_weight_backward,
                                                 .label = conv2d_backward_weight_label,
    .vjp_label = conv2d_backward_weight_vjp_label};
