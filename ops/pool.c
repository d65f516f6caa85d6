/* Pooling over the last two dims of [N, C, H, W]: max and average over
 * kernel×kernel windows, and their backward ops (differentiable again).
 *
 * Max: each window's maximum; padding never wins (it counts as -∞), and
 * padding ≤ kernel/2 keeps a real element in every window. Ties go to the
 * first maximum in row-major order within the window (as in PyTorch), and
 * a NaN wins over any number (it propagates). The gradient flows to that
 * one element only:
 *   max_pool2d            y = x[argmax]                 dx = max_pool2d_backward(dy, x)
 *   max_pool2d_backward   dx = scatter dy to argmax(x)  dg = max_pool2d_gather(G, x)
 *   max_pool2d_gather     y = g[argmax(x)]              dg = max_pool2d_backward(G, x)
 * x only says where the maxima are: no gradient flows to it through the two
 * backward ops (argmax is piecewise constant).
 *
 * relu_max_pool2d(x) = max_pool2d(relu(x)) in one pass, without relu(x)'s
 * tensor: each window's maximum of relu(x) (NaN and -0 read as +0, as relu
 * gives them). Where that maximum is 0 the composition's gradient is 0
 * (relu'(x) = 0 for x <= 0), so the window keeps no argmax (-1) and the
 * backward ops write, and read, nothing there:
 *   relu_max_pool2d       y = max(0, x[argmax])         dx = max_pool2d_backward of its argmax
 *
 * Average: the window's sum over kernel² — padded positions count as zeros
 * in the divisor (PyTorch's default, count_include_pad=True), so every
 * output divides by the same kernel², and the op is linear:
 *   avg_pool2d            y = Σ window / k²             dx = avg_pool2d_backward(dy)
 *   avg_pool2d_backward   dx = spread dy/k² over window dg = avg_pool2d(G) */
#include "autograd/internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int64_t kernel, stride, padding;
    int64_t in_h, in_w;     /* the input's size */
    const int32_t *argmax;  /* max pooling: per output, the plane index (iy·W + ix) of its maximum, -1 for none */
    bool relu;              /* relu_max_pool2d: the maxima are relu(x)'s */
} pool_attr;

typedef struct {
    int64_t planes, h, w, oh, ow; /* N·C planes of H×W to OH×OW */
    int64_t k, s, p;
} pool_geom;

/* The input rows (or columns) [lo, hi) of output position o's window,
 * clipped to the n real ones: padding is never read. */
static inline void pool_window(const pool_geom *g, int64_t o, int64_t n, int64_t *lo, int64_t *hi)
{
    int64_t start = o * g->s - g->p, end = start + g->k;
    *lo = start < 0 ? 0 : start;
    *hi = end > n ? n : end;
}

static bool check_pool_args(tg_ctx *ctx, const char *op, int64_t h, int64_t w, int64_t k, int64_t s, int64_t p,
                            const tg_tensor *x)
{
    if (k < 1 || s < 1 || p < 0)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: kernel %lld, stride %lld, padding %lld; expected kernel >= 1, "
                           "stride >= 1 and padding >= 0", op, (long long)k, (long long)s, (long long)p), false;
    if (2 * p > k)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: padding %lld with kernel %lld; expected padding <= kernel/2 (a "
                           "window of padding alone has nothing to pool)", op, (long long)p, (long long)k), false;
    if (k > h + 2 * p || k > w + 2 * p)
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: kernel %lld is larger than the padded input %s (%lldx%lld + "
                           "2x%lld); expected a kernel that fits", op, (long long)k, tg_shape_of(x).s, (long long)h,
                           (long long)w, (long long)p), false;
    return true;
}

/* The pooled geometry of input x, or false with the context's error set. */
static bool pool_geometry(const char *op, const tg_tensor *x, int64_t k, int64_t s, int64_t p, pool_geom *g)
{
    if (x->rank != 4)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: input has shape %s; expected rank 4 [batch, channels, height, "
                           "width]", op, tg_shape_of(x).s), false;
    if (!check_pool_args(x->ctx, op, x->shape[2], x->shape[3], k, s, p, x))
        return false;
    if (x->shape[2] * x->shape[3] > INT32_MAX) /* argmax keeps 32-bit plane indices */
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: input %s has planes of more than 2^31 elements; expected "
                           "smaller planes", op, tg_shape_of(x).s), false;
    *g = (pool_geom){x->shape[0] * x->shape[1], x->shape[2], x->shape[3], (x->shape[2] + 2 * p - k) / s + 1,
                     (x->shape[3] + 2 * p - k) / s + 1, k, s, p};
    return true;
}

static bool check_same_shape(const char *op, const char *what, const tg_tensor *t, int rank, const int64_t *shape)
{
    bool same = t->rank == rank;
    for (int d = 0; same && d < rank; d++)
        same = t->shape[d] == shape[d];
    char want[64];
    if (!same)
        tg_ctx_fail(t->ctx, TG_ERR_SHAPE, "%s: %s has shape %s; expected %s", op, what, tg_shape_of(t).s,
                    tg_shape_str(rank, shape, want, sizeof want));
    return same;
}

/* Runs body over the planes [0, planes), split across the context's pool
 * when the planes hold enough values to pay for waking the threads (the
 * planes are few and big, so tg_parallel_range's count would not split). */
typedef struct {
    tg_range_fn body;
    void *arg;
    int64_t planes;
} planes_job;

static void planes_task(void *arg, int task, int n_tasks, int worker)
{
    (void)worker;
    const planes_job *job = arg;
    int64_t begin = job->planes * task / n_tasks, end = job->planes * (task + 1) / n_tasks;
    if (begin < end)
        job->body(job->arg, begin, end);
}

static void for_planes(tg_ctx *ctx, int64_t planes, int64_t values, tg_range_fn body, void *arg)
{
    int threads = tg_pool_threads(ctx->pool);
    if (threads < 2 || planes < 2 || values < (1 << 16)) {
        body(arg, 0, planes);
        return;
    }
    tg_pool_run(ctx->pool, threads, planes_task, &(planes_job){body, arg, planes});
}

/* ---- max ---- */

typedef struct {
    const pool_geom *g;
    const tg_tensor *x;
    tg_tensor *y;      /* may be NULL: argmax only */
    int32_t *argmax;
    bool relu;         /* pool relu(x): windows whose maximum is 0 get argmax -1 */
} max_job;

/* Replaces the running maximum v (at best) by u (at i) when u is larger or
 * NaN; a NaN, once taken, stays. Strict >: the first of tied maxima wins. */
#define TAKE_MAX(v, best, u, i)                        \
    do {                                               \
        bool take_ = (v) == (v) && !((u) <= (v));      \
        (v) = take_ ? (u) : (v);                       \
        (best) = take_ ? (i) : (best);                 \
    } while (0)

#if defined(__x86_64__)
#include <immintrin.h>
#define TG_POOL_AVX512 __attribute__((target("avx512f")))

/* relu(v): v where v > 0, else +0 (NaN and -0 included) */
TG_POOL_AVX512 static inline __m512 relu_ps(__m512 v)
{
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v);
}

/* Under relu, argmax -1 where the maximum is 0 (after any offset is added). */
TG_POOL_AVX512 static inline __m512i relu_argmax(__m512i best, __m512 v, bool relu)
{
    __mmask16 zero = relu ? _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_EQ_OQ) : 0;
    return _mm512_mask_mov_epi32(best, zero, _mm512_set1_epi32(-1));
}

/* 2×2 windows, stride 2, f32: 16 outputs per step. Lanes take the same
 * TAKE_MAX rule as the scalar code (first maximum wins, NaN sticks); under
 * relu they read relu(x). */
TG_POOL_AVX512 static void max2x2_plane_avx512(const float *xp, int64_t W, int64_t oh, int64_t ow, float *yp,
                                                int32_t *am, bool relu)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int64_t oy = 0; oy < oh; oy++) {
        const float *r0 = xp + 2 * oy * W, *r1 = r0 + W;
        for (int64_t ox = 0; ox < ow; ox += 16) {
            int64_t n = ow - ox < 16 ? ow - ox : 16;
            __mmask16 out = (__mmask16)((1u << n) - 1);
            __mmask16 lo = (__mmask16)(2 * n >= 16 ? 0xFFFF : (1u << (2 * n)) - 1);
            __mmask16 hi = (__mmask16)(2 * n <= 16 ? 0 : (1u << (2 * n - 16)) - 1);
            __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * ox), a1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * ox + 16);
            __m512 b0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * ox), b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * ox + 16);
            if (relu)
                a0 = relu_ps(a0), a1 = relu_ps(a1), b0 = relu_ps(b0), b1 = relu_ps(b1);
            __m512i i00 = _mm512_add_epi32(even, _mm512_set1_epi32((int)(2 * oy * W + 2 * ox)));
            __m512 v = _mm512_permutex2var_ps(a0, even, a1);
            __m512i best = i00;
            __m512 u[3] = {_mm512_permutex2var_ps(a0, odd, a1), _mm512_permutex2var_ps(b0, even, b1),
                           _mm512_permutex2var_ps(b0, odd, b1)};
            int offset[3] = {1, (int)W, (int)W + 1};
            for (int t = 0; t < 3; t++) {
                __mmask16 take = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q) & _mm512_cmp_ps_mask(u[t], v, _CMP_NLE_UQ);
                v = _mm512_mask_mov_ps(v, take, u[t]);
                best = _mm512_mask_mov_epi32(best, take, _mm512_add_epi32(i00, _mm512_set1_epi32(offset[t])));
            }
            if (yp)
                _mm512_mask_storeu_ps(yp + oy * ow + ox, out, v);
            _mm512_mask_storeu_epi32(am + oy * ow + ox, out, relu_argmax(best, v, relu));
        }
    }
}

static inline __mmask16 first_lanes(int64_t n) { return (__mmask16)(n <= 0 ? 0 : n >= 16 ? 0xFFFF : (1u << n) - 1); }

/* Planes up to 32 wide (LeNet's 28 and 10) go faster as m = min(16/ow, 32/W)
 * row pairs (at most 64 contiguous floats, four registers) a step, each lane
 * picking its window's four elements out of them: narrow rows no longer leave
 * most lanes idle (10-wide: 3 row pairs, 15 outputs a step instead of 5), and
 * the lookup tables are built once per range of planes. The same TAKE_MAX
 * order as above; argmax results identical. */
static int64_t rows_per_step(int64_t W, int64_t ow)
{
    int64_t by_out = 16 / ow, by_in = 32 / W;
    return by_out < by_in ? by_out : by_in;
}

/* element idx (0..63) of the 64 floats z[0..3] */
TG_POOL_AVX512 static inline __m512 pick64(const __m512 *z, __m512i idx)
{
    __mmask16 upper = _mm512_cmpge_epi32_mask(idx, _mm512_set1_epi32(32));
    return _mm512_mask_blend_ps(upper, _mm512_permutex2var_ps(z[0], idx, z[1]),
                                _mm512_permutex2var_ps(z[2], idx, z[3]));
}

TG_POOL_AVX512 static void max2x2_rows_avx512(const float *X, int64_t planes, int64_t H, int64_t W, int64_t oh,
                                              int64_t ow, float *Y, int32_t *AM, bool relu)
{
    const int64_t m = rows_per_step(W, ow);
    int32_t first[16]; /* lane l = (j, c): its window's first element, j·2W + 2c */
    for (int l = 0; l < 16; l++)
        first[l] = l < m * ow ? (int32_t)(l / ow * 2 * W + l % ow * 2) : 0;
    const __m512i p00 = _mm512_loadu_si512(first);
    const __m512i p01 = _mm512_add_epi32(p00, _mm512_set1_epi32(1));
    const __m512i p10 = _mm512_add_epi32(p00, _mm512_set1_epi32((int)W));
    const __m512i p11 = _mm512_add_epi32(p00, _mm512_set1_epi32((int)W + 1));
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = X + pl * H * W;
        float *yp = Y ? Y + pl * oh * ow : NULL;
        int32_t *am = AM + pl * oh * ow;
        for (int64_t oy = 0; oy < oh; oy += m) {
            int64_t rows = oh - oy < m ? oh - oy : m, n_in = rows * 2 * W, n_out = rows * ow;
            const float *src = xp + 2 * oy * W;
            __m512 z[4];
            for (int q = 0; q < 4; q++) {
                z[q] = _mm512_maskz_loadu_ps(first_lanes(n_in - 16 * q), src + 16 * q);
                z[q] = relu ? relu_ps(z[q]) : z[q];
            }
            __m512 v = pick64(z, p00), u[3] = {pick64(z, p01), pick64(z, p10), pick64(z, p11)};
            const __m512i at[3] = {p01, p10, p11};
            __m512i best = p00;
            for (int t = 0; t < 3; t++) {
                __mmask16 take = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q) & _mm512_cmp_ps_mask(u[t], v, _CMP_NLE_UQ);
                v = _mm512_mask_mov_ps(v, take, u[t]);
                best = _mm512_mask_mov_epi32(best, take, at[t]);
            }
            __mmask16 out = first_lanes(n_out);
            if (yp)
                _mm512_mask_storeu_ps(yp + oy * ow, out, v);
            best = _mm512_add_epi32(best, _mm512_set1_epi32((int)(2 * oy * W)));
            _mm512_mask_storeu_epi32(am + oy * ow, out, relu_argmax(best, v, relu));
        }
    }
}

/* The backward of max2x2_rows_avx512: each of the (up to) 64 input
 * positions of a step takes its window's dy when it is that window's argmax,
 * else 0 (argmax -1 matches no position); an odd last column or row, in no
 * window, 0. */
TG_POOL_AVX512 static void unpool2x2_rows_avx512(const float *G, const int32_t *AM, int64_t planes, int64_t H,
                                                 int64_t W, int64_t oh, int64_t ow, float *D)
{
    const int64_t m = rows_per_step(W, ow);
    int32_t owner[64]; /* position p: the lane of its window, or -1 */
    for (int p = 0; p < 64; p++) {
        int64_t j = p / (2 * W), col = p % W;
        owner[p] = j < m && col < 2 * ow ? (int32_t)(j * ow + col / 2) : -1;
    }
    __m512i lane[4], position[4];
    __mmask16 covered[4];
    for (int q = 0; q < 4; q++) {
        __m512i o = _mm512_loadu_si512(owner + 16 * q);
        covered[q] = _mm512_cmpge_epi32_mask(o, _mm512_setzero_si512());
        lane[q] = _mm512_max_epi32(o, _mm512_setzero_si512());
        position[q] = _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                       _mm512_set1_epi32(16 * q));
    }
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *gp = G + pl * oh * ow;
        const int32_t *am = AM + pl * oh * ow;
        float *dp = D + pl * H * W;
        for (int64_t oy = 0; oy < oh; oy += m) {
            int64_t rows = oh - oy < m ? oh - oy : m, n_in = rows * 2 * W, n_out = rows * ow;
            __m512 g = _mm512_maskz_loadu_ps(first_lanes(n_out), gp + oy * ow);
            __m512i a = _mm512_maskz_loadu_epi32(first_lanes(n_out), am + oy * ow);
            __m512i origin = _mm512_set1_epi32((int)(2 * oy * W));
            for (int q = 0; q < 4 && 16 * q < n_in; q++) {
                __mmask16 mine = _mm512_mask_cmpeq_epi32_mask(covered[q], _mm512_permutexvar_epi32(lane[q], a),
                                                              _mm512_add_epi32(position[q], origin));
                _mm512_mask_storeu_ps(dp + 2 * oy * W + 16 * q, first_lanes(n_in - 16 * q),
                                      _mm512_maskz_mov_ps(mine, _mm512_permutexvar_ps(lane[q], g)));
            }
        }
        for (int64_t q = 2 * oh * W; q < H * W; q++) /* an odd last row belongs to no window */
            dp[q] = 0;
    }
}

/* The backward of max2x2_plane_avx512: each input element written once, dy
 * where it is its window's argmax and 0 elsewhere (no zero fill, no scatter). */
TG_POOL_AVX512 static void unpool2x2_plane_avx512(const float *gp, const int32_t *am, int64_t H, int64_t W,
                                                  int64_t oh, int64_t ow, float *dp)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i low = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i high = _mm512_add_epi32(low, _mm512_set1_epi32(8));
    const __m512i one = _mm512_set1_epi32(1), down = _mm512_set1_epi32((int)W), diag = _mm512_set1_epi32((int)W + 1);
    for (int64_t oy = 0; oy < oh; oy++) {
        float *r0 = dp + 2 * oy * W, *r1 = r0 + W;
        for (int64_t ox = 0; ox < ow; ox += 16) {
            int64_t n = ow - ox < 16 ? ow - ox : 16;
            __mmask16 out = (__mmask16)((1u << n) - 1);
            __mmask16 lo = (__mmask16)(2 * n >= 16 ? 0xFFFF : (1u << (2 * n)) - 1);
            __mmask16 hi = (__mmask16)(2 * n <= 16 ? 0 : (1u << (2 * n - 16)) - 1);
            __m512 g = _mm512_maskz_loadu_ps(out, gp + oy * ow + ox);
            /* the argmax's offset in its window: 0, 1, W or W + 1 */
            __m512i at = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(out, am + oy * ow + ox),
                                          _mm512_add_epi32(even, _mm512_set1_epi32((int)(2 * oy * W + 2 * ox))));
            __m512 g00 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, _mm512_setzero_si512()), g);
            __m512 g01 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, one), g);
            __m512 g10 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, down), g);
            __m512 g11 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(at, diag), g);
            _mm512_mask_storeu_ps(r0 + 2 * ox, lo, _mm512_permutex2var_ps(g00, low, g01));
            _mm512_mask_storeu_ps(r0 + 2 * ox + 16, hi, _mm512_permutex2var_ps(g00, high, g01));
            _mm512_mask_storeu_ps(r1 + 2 * ox, lo, _mm512_permutex2var_ps(g10, low, g11));
            _mm512_mask_storeu_ps(r1 + 2 * ox + 16, hi, _mm512_permutex2var_ps(g10, high, g11));
        }
        if (W > 2 * ow) /* an odd last column belongs to no window */
            r0[W - 1] = r1[W - 1] = 0;
    }
    for (int64_t q = 2 * oh * W; q < H * W; q++) /* and an odd last row */
        dp[q] = 0;
}

static bool have_avx512(void) { return __builtin_cpu_supports("avx512f"); }
#endif

static void max_range(void *arg, int64_t begin, int64_t end)
{
    const max_job *job = arg;
    const pool_geom *g = job->g;
    const int64_t W = g->w, per = g->oh * g->ow;
#if defined(__x86_64__)
    if (g->k == 2 && g->s == 2 && g->p == 0 && job->x->dtype == TG_F32 && have_avx512()) {
        const float *X = job->x->data;
        float *Y = job->y ? job->y->data : NULL;
        if (W <= 32)
            max2x2_rows_avx512(X + begin * g->h * W, end - begin, g->h, W, g->oh, g->ow, Y ? Y + begin * per : NULL,
                               job->argmax + begin * per, job->relu);
        else
            for (int64_t pl = begin; pl < end; pl++)
                max2x2_plane_avx512(X + pl * g->h * W, W, g->oh, g->ow, Y ? Y + pl * per : NULL,
                                    job->argmax + pl * per, job->relu);
        return;
    }
#endif
    const bool relu = job->relu;
    /* x read as relu(x) under relu: +0 unless x > 0 */
#define POOLED(v) (relu && !((v) > 0) ? 0 : (v))
    TG_TYPED(job->x->dtype, T, {
        const T *X = job->x->data;
        T *Y = job->y ? job->y->data : NULL;
        for (int64_t pl = begin; pl < end; pl++) {
            const T *xp = X + pl * g->h * W;
            int32_t *am = job->argmax + pl * per;
            T *yp = Y ? Y + pl * per : NULL;
            if (g->k == 2 && g->s == 2 && g->p == 0) { /* the common case, unrolled */
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    const T *r0 = xp + 2 * oy * W, *r1 = r0 + W;
                    for (int64_t ox = 0; ox < g->ow; ox++) {
                        int64_t i = 2 * oy * W + 2 * ox, best = i;
                        T v = POOLED(r0[2 * ox]);
                        TAKE_MAX(v, best, POOLED(r0[2 * ox + 1]), i + 1);
                        TAKE_MAX(v, best, POOLED(r1[2 * ox]), i + W);
                        TAKE_MAX(v, best, POOLED(r1[2 * ox + 1]), i + W + 1);
                        am[oy * g->ow + ox] = relu && v == 0 ? -1 : (int32_t)best;
                        if (yp)
                            yp[oy * g->ow + ox] = v;
                    }
                }
                continue;
            }
            for (int64_t oy = 0; oy < g->oh; oy++) {
                int64_t y0, y1;
                pool_window(g, oy, g->h, &y0, &y1);
                for (int64_t ox = 0; ox < g->ow; ox++) {
                    int64_t x0, x1;
                    pool_window(g, ox, W, &x0, &x1);
                    int64_t best = y0 * W + x0;
                    T v = POOLED(xp[best]);
                    for (int64_t iy = y0; iy < y1; iy++)
                        for (int64_t ix = x0; ix < x1; ix++)
                            TAKE_MAX(v, best, POOLED(xp[iy * W + ix]), iy * W + ix);
                    am[oy * g->ow + ox] = relu && v == 0 ? -1 : (int32_t)best;
                    if (yp)
                        yp[oy * g->ow + ox] = v;
                }
            }
        }
    });
#undef POOLED
}

/* The argmax of every window of x, or of relu(x), in step memory (y filled
 * too when given). */
static int32_t *max_argmax(const tg_tensor *x, const pool_geom *g, tg_tensor *y, bool relu)
{
    int32_t *argmax = tg_arena_alloc(x->ctx, (size_t)(g->planes * g->oh * g->ow) * sizeof(int32_t), 64);
    if (argmax)
        for_planes(x->ctx, g->planes, g->planes * g->h * g->w, max_range, &(max_job){g, x, y, argmax, relu});
    return argmax;
}

static tg_tensor *record_pool(const tg_op_desc *op, tg_tensor *out, int n_in, tg_tensor *const *in,
                              const pool_attr *a)
{
    const void *stored = tg_attr_store(out->ctx, a, sizeof *a);
    return stored ? tg_record(op, out, n_in, in, (tg_attr){.data = stored}) : NULL;
}

static tg_tensor *max_pool(const tg_op_desc *op, tg_tensor *x, int kernel, int stride, int padding, bool relu)
{
    pool_geom g;
    if (!tg_check_live(op->name, x) || !pool_geometry(op->name, x, kernel, stride, padding, &g))
        return NULL;
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, 4, (int64_t[]){x->shape[0], x->shape[1], g.oh, g.ow},
                                  false);
    int32_t *argmax = y ? max_argmax(x, &g, y, relu) : NULL;
    if (!argmax)
        return NULL;
    pool_attr a = {kernel, stride, padding, g.h, g.w, argmax, relu};
    return record_pool(op, y, 1, &x, &a);
}

tg_tensor *tg_max_pool2d(tg_tensor *x, int kernel, int stride, int padding)
{
    return max_pool(&tg_op_max_pool2d, x, kernel, stride, padding, false);
}

tg_tensor *tg_relu_max_pool2d(tg_tensor *x, int kernel, int stride, int padding)
{
    return max_pool(&tg_op_relu_max_pool2d, x, kernel, stride, padding, true);
}

typedef struct {
    const pool_geom *g;
    const int32_t *argmax;
    const tg_tensor *dy;
    tg_tensor *dx;
    bool tiled;
} scatter_job;

/* dx[argmax] += dy over planes [begin, end): overlapping windows (stride <
 * kernel) may share a maximum. Windows that tile the plane (kernel = stride,
 * no padding) are written whole, one band of rows at a time: no zero fill
 * of the whole gradient first. */
static void scatter_range(void *arg, int64_t begin, int64_t end)
{
    const scatter_job *job = arg;
    const pool_geom *g = job->g;
    int64_t per = g->oh * g->ow, plane = g->h * g->w;
#if defined(__x86_64__)
    if (job->tiled && g->k == 2 && job->dy->dtype == TG_F32 && have_avx512()) {
        const float *G = job->dy->data;
        float *D = job->dx->data;
        if (g->w <= 32)
            unpool2x2_rows_avx512(G + begin * per, job->argmax + begin * per, end - begin, g->h, g->w, g->oh, g->ow,
                                  D + begin * plane);
        else
            for (int64_t pl = begin; pl < end; pl++)
                unpool2x2_plane_avx512(G + pl * per, job->argmax + pl * per, g->h, g->w, g->oh, g->ow,
                                       D + pl * plane);
        return;
    }
#endif
    TG_TYPED(job->dy->dtype, T, {
        const T *G = job->dy->data;
        T *D = job->dx->data;
        const int64_t k = g->k, W = g->w;
        for (int64_t pl = begin; pl < end; pl++) {
            T *dp = D + pl * plane;
            const T *gp = G + pl * per;
            const int32_t *am = job->argmax + pl * per;
            if (!job->tiled) {
                for (int64_t i = 0; i < per; i++)
                    if (am[i] >= 0)
                        dp[am[i]] += gp[i];
                continue;
            }
            for (int64_t oy = 0; oy < g->oh; oy++) {
                for (int64_t q = oy * k * W; q < (oy + 1) * k * W; q++)
                    dp[q] = 0;
                for (int64_t ox = 0; ox < g->ow; ox++)
                    if (am[oy * g->ow + ox] >= 0)
                        dp[am[oy * g->ow + ox]] = gp[oy * g->ow + ox];
            }
            for (int64_t q = g->oh * k * W; q < plane; q++)
                dp[q] = 0;
        }
    });
}

static tg_tensor *max_scatter(tg_tensor *dy, tg_tensor *x, const pool_geom *g, const pool_attr *a)
{
    bool tiled = g->k == g->s && g->p == 0;
    tg_tensor *dx = tg_step_like(x, !tiled);
    if (!dx)
        return NULL;
    for_planes(x->ctx, g->planes, g->planes * g->h * g->w, scatter_range, &(scatter_job){g, a->argmax, dy, dx, tiled});
    return record_pool(&tg_op_max_pool2d_backward, dx, 2, (tg_tensor *[]){dy, x}, a);
}

/* y[i] = g[argmax[i]], 0 where there is none */
static tg_tensor *max_gather(tg_tensor *gx, tg_tensor *x, const pool_geom *g, const pool_attr *a)
{
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)gx->dtype, 4, (int64_t[]){x->shape[0], x->shape[1], g->oh, g->ow},
                                  false);
    if (!y)
        return NULL;
    int64_t per = g->oh * g->ow, plane = g->h * g->w;
    TG_TYPED(gx->dtype, T, {
        const T *G = gx->data;
        T *Y = y->data;
        for (int64_t pl = 0; pl < g->planes; pl++)
            for (int64_t i = 0; i < per; i++)
                Y[pl * per + i] = a->argmax[pl * per + i] < 0 ? 0 : G[pl * plane + a->argmax[pl * per + i]];
    });
    return record_pool(&tg_op_max_pool2d_gather, y, 2, (tg_tensor *[]){gx, x}, a);
}

static pool_geom attr_geom(const tg_tensor *x, const pool_attr *a)
{
    return (pool_geom){x->shape[0] * x->shape[1], x->shape[2], x->shape[3],
                       (x->shape[2] + 2 * a->padding - a->kernel) / a->stride + 1,
                       (x->shape[3] + 2 * a->padding - a->kernel) / a->stride + 1, a->kernel, a->stride, a->padding};
}

tg_tensor *tg_max_pool2d_backward(tg_tensor *dy, tg_tensor *x, int kernel, int stride, int padding)
{
    pool_geom g;
    const char *op = "max_pool2d_backward";
    if (!tg_check_pair(op, dy, x) || !pool_geometry(op, x, kernel, stride, padding, &g) ||
        !check_same_shape(op, "gradient", dy, 4, (int64_t[]){x->shape[0], x->shape[1], g.oh, g.ow}))
        return NULL;
    int32_t *argmax = max_argmax(x, &g, NULL, false);
    if (!argmax)
        return NULL;
    pool_attr a = {kernel, stride, padding, g.h, g.w, argmax, false};
    return max_scatter(dy, x, &g, &a);
}

tg_tensor *tg_max_pool2d_gather(tg_tensor *g, tg_tensor *x, int kernel, int stride, int padding)
{
    pool_geom geom;
    const char *op = "max_pool2d_gather";
    if (!tg_check_pair(op, g, x) || !pool_geometry(op, x, kernel, stride, padding, &geom) ||
        !check_same_shape(op, "g", g, x->rank, x->shape))
        return NULL;
    int32_t *argmax = max_argmax(x, &geom, NULL, false);
    if (!argmax)
        return NULL;
    pool_attr a = {kernel, stride, padding, geom.h, geom.w, argmax, false};
    return max_gather(g, x, &geom, &a);
}

static void max_pool2d_backward_rule(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    const pool_attr *a = n->attr.data;
    pool_geom g = attr_geom(n->in[0], a);
    dx[0] = max_scatter(dy, n->in[0], &g, a);
}

static void max_pool2d_backward_backward(const tg_node *n, tg_tensor *dout, tg_tensor **dx)
{
    const pool_attr *a = n->attr.data;
    pool_geom g = attr_geom(n->in[1], a);
    if (n->in[0]->requires_grad)
        dx[0] = max_gather(dout, n->in[1], &g, a);
}

static void max_pool2d_gather_backward(const tg_node *n, tg_tensor *dout, tg_tensor **dx)
{
    const pool_attr *a = n->attr.data;
    pool_geom g = attr_geom(n->in[1], a);
    if (n->in[0]->requires_grad)
        dx[0] = max_scatter(dout, n->in[1], &g, a);
}

/* ---- average ---- */

typedef struct {
    const pool_geom *g;
    const tg_tensor *in;
    tg_tensor *out;
} avg_job;

/* y = Σ window / k² */
static void avg_range(void *arg, int64_t begin, int64_t end)
{
    const avg_job *job = arg;
    const pool_geom *g = job->g;
    TG_TYPED(job->in->dtype, T, {
        const T *X = job->in->data;
        T *Y = job->out->data;
        T scale = (T)1 / (T)(g->k * g->k);
        for (int64_t pl = begin; pl < end; pl++) {
            const T *xp = X + pl * g->h * g->w;
            T *yp = Y + pl * g->oh * g->ow;
            for (int64_t oy = 0; oy < g->oh; oy++) {
                int64_t y0, y1;
                pool_window(g, oy, g->h, &y0, &y1);
                for (int64_t ox = 0; ox < g->ow; ox++) {
                    int64_t x0, x1;
                    pool_window(g, ox, g->w, &x0, &x1);
                    T total = 0;
                    for (int64_t iy = y0; iy < y1; iy++)
                        for (int64_t ix = x0; ix < x1; ix++)
                            total += xp[iy * g->w + ix];
                    yp[oy * g->ow + ox] = total * scale;
                }
            }
        }
    });
}

/* dx[window] += dy / k² */
static void avg_spread_range(void *arg, int64_t begin, int64_t end)
{
    const avg_job *job = arg;
    const pool_geom *g = job->g;
    TG_TYPED(job->in->dtype, T, {
        const T *G = job->in->data;
        T *D = job->out->data;
        T scale = (T)1 / (T)(g->k * g->k);
        for (int64_t pl = begin; pl < end; pl++) {
            const T *gp = G + pl * g->oh * g->ow;
            T *dp = D + pl * g->h * g->w;
            for (int64_t oy = 0; oy < g->oh; oy++) {
                int64_t y0, y1;
                pool_window(g, oy, g->h, &y0, &y1);
                for (int64_t ox = 0; ox < g->ow; ox++) {
                    int64_t x0, x1;
                    pool_window(g, ox, g->w, &x0, &x1);
                    T v = gp[oy * g->ow + ox] * scale;
                    for (int64_t iy = y0; iy < y1; iy++)
                        for (int64_t ix = x0; ix < x1; ix++)
                            dp[iy * g->w + ix] += v;
                }
            }
        }
    });
}

tg_tensor *tg_avg_pool2d(tg_tensor *x, int kernel, int stride, int padding)
{
    pool_geom g;
    if (!tg_check_live("avg_pool2d", x) || !pool_geometry("avg_pool2d", x, kernel, stride, padding, &g))
        return NULL;
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, 4, (int64_t[]){x->shape[0], x->shape[1], g.oh, g.ow},
                                  false);
    if (!y)
        return NULL;
    for_planes(x->ctx, g.planes, g.planes * g.h * g.w, avg_range, &(avg_job){&g, x, y});
    pool_attr a = {kernel, stride, padding, g.h, g.w, NULL, false};
    return record_pool(&tg_op_avg_pool2d, y, 1, &x, &a);
}

tg_tensor *tg_avg_pool2d_backward(tg_tensor *dy, int64_t height, int64_t width, int kernel, int stride, int padding)
{
    const char *op = "avg_pool2d_backward";
    if (!tg_check_live(op, dy))
        return NULL;
    if (dy->rank != 4)
        return tg_ctx_fail(dy->ctx, TG_ERR_SHAPE, "%s: gradient has shape %s; expected rank 4 [batch, channels, "
                           "out_h, out_w]", op, tg_shape_of(dy).s), NULL;
    if (height < 1 || width < 1)
        return tg_ctx_fail(dy->ctx, TG_ERR_ARG, "%s: input size %lldx%lld; expected height and width of 1 or more",
                           op, (long long)height, (long long)width), NULL;
    if (!check_pool_args(dy->ctx, op, height, width, kernel, stride, padding, dy))
        return NULL;
    pool_geom g = {dy->shape[0] * dy->shape[1], height, width, (height + 2 * padding - kernel) / stride + 1,
                   (width + 2 * padding - kernel) / stride + 1, kernel, stride, padding};
    if (!check_same_shape(op, "gradient", dy, 4, (int64_t[]){dy->shape[0], dy->shape[1], g.oh, g.ow}))
        return NULL;
    tg_tensor *dx = tg_step_tensor(dy->ctx, (tg_dtype)dy->dtype, 4, (int64_t[]){dy->shape[0], dy->shape[1], height,
                                   width}, true);
    if (!dx)
        return NULL;
    for_planes(dy->ctx, g.planes, g.planes * g.h * g.w, avg_spread_range, &(avg_job){&g, dy, dx});
    pool_attr a = {kernel, stride, padding, height, width, NULL, false};
    return record_pool(&tg_op_avg_pool2d_backward, dx, 1, &dy, &a);
}

static void avg_pool2d_backward_rule(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    const pool_attr *a = n->attr.data;
    dx[0] = tg_avg_pool2d_backward(dy, a->in_h, a->in_w, (int)a->kernel, (int)a->stride, (int)a->padding);
}

static void avg_pool2d_backward_backward(const tg_node *n, tg_tensor *dout, tg_tensor **dx)
{
    const pool_attr *a = n->attr.data;
    dx[0] = tg_avg_pool2d(dout, (int)a->kernel, (int)a->stride, (int)a->padding);
}

/* mean over each H×W plane: [N, C, H, W] -> [N, C] */
tg_tensor *tg_global_avg_pool2d(tg_tensor *x)
{
    if (!tg_check_live("global_avg_pool2d", x))
        return NULL;
    if (x->rank != 4)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "global_avg_pool2d: input has shape %s; expected rank 4 [batch, "
                           "channels, height, width]", tg_shape_of(x).s), NULL;
    tg_tensor *planes = tg_reshape(x, 3, (int64_t[]){x->shape[0], x->shape[1], x->shape[2] * x->shape[3]});
    return tg_mean_axis(planes, -1, false);
}

/* "max_pool2d_backward(relu, k=2, s=2, p=0)" for relu_max_pool2d's backward ops */
static void pool_label(const char *name, const tg_node *n, char *buf, size_t size)
{
    const pool_attr *a = n->attr.data;
    bool relu_mark = a->relu && n->op != &tg_op_relu_max_pool2d;
    snprintf(buf, size, "%s(%sk=%lld, s=%lld, p=%lld)", name, relu_mark ? "relu, " : "", (long long)a->kernel,
             (long long)a->stride, (long long)a->padding);
}

static void max_pool2d_label(const tg_node *n, char *buf, size_t size) { pool_label("max_pool2d", n, buf, size); }
static void relu_max_pool2d_label(const tg_node *n, char *buf, size_t size)
{
    pool_label("relu_max_pool2d", n, buf, size);
}
static void max_pool2d_backward_label(const tg_node *n, char *buf, size_t size)
{
    pool_label("max_pool2d_backward", n, buf, size);
}
static void max_pool2d_gather_label(const tg_node *n, char *buf, size_t size)
{
    pool_label("max_pool2d_gather", n, buf, size);
}
static void avg_pool2d_label(const tg_node *n, char *buf, size_t size) { pool_label("avg_pool2d", n, buf, size); }
static void avg_pool2d_backward_label(const tg_node *n, char *buf, size_t size)
{
    pool_label("avg_pool2d_backward", n, buf, size);
}

/* max: δ goes to each window's argmax; average: δ/k² to every element */
static void max_pool2d_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)n, (void)input;
    snprintf(buf, size, "δ to each window's max");
}

static void relu_max_pool2d_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)n, (void)input;
    snprintf(buf, size, "δ to each window's max if > 0");
}

static void max_pool2d_backward_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)n;
    snprintf(buf, size, input == 0 ? "δ at each window's max" : "0 (no gradient)");
}

static void max_pool2d_gather_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)n;
    snprintf(buf, size, input == 0 ? "δ to each window's max" : "0 (no gradient)");
}

static void avg_pool2d_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)input;
    long long k = ((const pool_attr *)n->attr.data)->kernel;
    snprintf(buf, size, "δ/%lld spread over each window", k * k);
}

static void avg_pool2d_backward_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)input;
    long long k = ((const pool_attr *)n->attr.data)->kernel;
    snprintf(buf, size, "window sums of δ, /%lld", k * k);
}

const tg_op_desc tg_op_max_pool2d = {.kind = TG_OP_MAX_POOL2D, .name = "max_pool2d",
                                     .backward = max_pool2d_backward_rule, .label = max_pool2d_label,
    .vjp_label = max_pool2d_vjp_label};
const tg_op_desc tg_op_relu_max_pool2d = {.kind = TG_OP_RELU_MAX_POOL2D, .name = "relu_max_pool2d",
                                          .backward = max_pool2d_backward_rule, .label = relu_max_pool2d_label,
                                          .vjp_label = relu_max_pool2d_vjp_label};
const tg_op_desc tg_op_max_pool2d_backward = {.kind = TG_OP_MAX_POOL2D_BACKWARD, .name = "max_pool2d_backward",
                                              .backward = max_pool2d_backward_backward,
                                              .label = max_pool2d_backward_label,
    .vjp_label = max_pool2d_backward_vjp_label};
const tg_op_desc tg_op_max_pool2d_gather = {.kind = TG_OP_MAX_POOL2D_GATHER, .name = "max_pool2d_gather",
                                            .backward = max_pool2d_gather_backward, .label = max_pool2d_gather_label,
    .vjp_label = max_pool2d_gather_vjp_label};
const tg_op_desc tg_op_avg_pool2d = {.kind = TG_OP_AVG_POOL2D, .name = "avg_pool2d",
                                     .backward = avg_pool2d_backward_rule, .label = avg_pool2d_label,
    .vjp_label = avg_pool2d_vjp_label};
const tg_op_desc tg_op_avg_pool2d_backward = {.kind = TG_OP_AVG_POOL2D_BACKWARD, .name = "avg_pool2d_backward",
                                              .backward = avg_pool2d_backward_backward,
                                              .label = avg_pool2d_backward_label,
    .vjp_label = avg_pool2d_backward_vjp_label};
