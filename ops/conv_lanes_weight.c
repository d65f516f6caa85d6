/* The f32 AVX-512 weight gradient of a stride-1 convolution with 16 images
 * in the vector lanes (ops/conv_lanes.c runs its forward and backward
 * input so):
 *   dW[o, c, i, j] = Σ_n Σ_{oy, ox} dy[n, o, oy, ox] · x[n, c, oy - ph + i·dh, ox - pw + j·dw]
 * Per 16 images (a "pack") and group:
 *   xT[c][Hp][Wp][16]  = x of the pack with ph rows and pw columns of zeros
 *                        around, transposed 16×16 at a time
 *   dyT[o][OH·OW][16]  = dy of the pack, transposed
 *   tiles of OB output channels × TB taps (t = (c·KH + i)·KW + j, in a row
 *   of dW): OB·TB accumulators of 16 images each, summed over every output
 *   position with per position OB loads of dyT and TB of xT; the 16 lanes
 *   are then added into the worker's dW.
 * The GEMM path builds patches (im2col) for every image and runs
 * dWᵀ[K, O/g] += col·dyᵀ; here a pack's xT and dyT are one pass each, and
 * the FMAs read them in place. The sums are those of the other paths in
 * another order. */
#include "autograd/internal.h"
#include "ops/conv.h"
#include "ops/conv_lanes.h"

#include <string.h>

#define LANESW_MAX_OB 6 /* output channels per tile */
#define LANESW_MAX_TB 4 /* taps per tile (OB·TB accumulators, TB loads and one: 29 registers) */
/* Images a last pack needs to be worth 16 lanes; fewer run on the other
 * paths (their dW added). */
#define LANESW_MIN_LAST 12

/* Whether the pack kernels take the weight gradient of g: f32, stride 1,
 * AVX-512, 2 or more input and output channels per group, 16 taps or more,
 * while a pack's xT and dyT fit a worker's L2 (the wide CNN's conv2, 32→64
 * 3×3 over 13×13: 842 KB). One input channel (LeNet's conv1) runs faster
 * over conv_direct.c's column-shifted planes: 95.6 GFLOP/s against 88. */
static bool lanesw_fit(const conv_geom *g, tg_dtype dt)
{
    if (dt != TG_F32 || g->sh != 1 || g->sw != 1 || !tg_conv_avx512() || g->cg < 2 || g->og < 2 ||
        g->k < 16)
        return false;
    int64_t hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;
    return (g->cg * hp * wp + g->og * g->p) * LANES <= ((int64_t)1 << 18);
}

int64_t tg_conv_lanes_weight_batch(const conv_geom *g, tg_dtype dt)
{
    if (!lanesw_fit(g, dt))
        return 0;
    int64_t last = g->n % LANES;
    return g->n - last + (last >= LANESW_MIN_LAST ? last : 0);
}

#if defined(__x86_64__) && defined(__GNUC__)

/* One tile: OB rows of dW (channels of dyT at dy, dy_o apart) × TB taps
 * (their xT vectors at x + off[t] for the position (0, 0)). */
typedef struct {
    const float *dy, *x;
    int64_t dy_o;
    const int64_t *off;
    int64_t oh, ow, wp;     /* positions: OH rows of OW; xT rows wp vectors apart */
    float *dw;              /* the worker's dW at (o0, t0) */
    int64_t dw_o;
} lanesw_tile_args;

/* dw[t] += Σ_lanes a_t for t < n (≤ 4): pairs of rows added across
 * unpacked halves, then 128-bit quarters (13 operations for 4 sums). */
TG_CONV_AVX512 static inline void lanesw_add4(float *dw, int64_t n, __m512 a0, __m512 a1, __m512 a2, __m512 a3)
{
    __m512 s01 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1)); /* a0 a1 a0 a1 per quarter */
    __m512 s23 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
    __m512 s = _mm512_add_ps(_mm512_shuffle_ps(s01, s23, 0x44), _mm512_shuffle_ps(s01, s23, 0xEE)); /* a0 a1 a2 a3 */
    s = _mm512_add_ps(s, _mm512_shuffle_f32x4(s, s, 0x4E));
    s = _mm512_add_ps(s, _mm512_shuffle_f32x4(s, s, 0xB1));
    __mmask8 m = (__mmask8)((1u << n) - 1);
    _mm_mask_storeu_ps(dw, m, _mm_add_ps(_mm_maskz_loadu_ps(m, dw), _mm512_castps512_ps128(s)));
}

/* dW[o0 + o][t0 + t] += Σ_lanes Σ_{oy, ox} dyT[o0 + o][oy·OW + ox] · xT[off[t] + oy·Wp + ox] */
#define LANESW_TILE(OB, TB)                                                                                    \
    TG_CONV_AVX512 static void lanesw_tile_##OB##_##TB(const lanesw_tile_args *a)                           \
    {                                                                                                          \
        __m512 acc[OB][TB];                                                                                    \
        _Pragma("GCC unroll 8") for (int o = 0; o < OB; o++)                                                   \
            _Pragma("GCC unroll 8") for (int t = 0; t < TB; t++)                                               \
                acc[o][t] = _mm512_setzero_ps();                                                               \
        const float *xt[TB];                                                                                   \
        _Pragma("GCC unroll 8") for (int t = 0; t < TB; t++)                                                   \
            xt[t] = a->x + a->off[t];                                                                          \
        for (int64_t oy = 0; oy < a->oh; oy++) {                                                               \
            const float *d = a->dy + oy * a->ow * LANES;                                                       \
            int64_t xrow = oy * a->wp * LANES;                                                                 \
            for (int64_t ox = 0; ox < a->ow * LANES; ox += LANES) {                                            \
                __m512 v[TB];                                                                                  \
                _Pragma("GCC unroll 8") for (int t = 0; t < TB; t++)                                           \
                    v[t] = _mm512_load_ps(xt[t] + xrow + ox);                                                  \
                _Pragma("GCC unroll 8") for (int o = 0; o < OB; o++) {                                         \
                    __m512 e = _mm512_load_ps(d + o * a->dy_o + ox);                                           \
                    _Pragma("GCC unroll 8") for (int t = 0; t < TB; t++)                                       \
                        acc[o][t] = _mm512_fmadd_ps(e, v[t], acc[o][t]);                                       \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
        _Pragma("GCC unroll 8") for (int o = 0; o < OB; o++)                                                   \
            _Pragma("GCC unroll 8") for (int t = 0; t < TB; t += 4)                                            \
                lanesw_add4(a->dw + o * a->dw_o + t, TB - t, acc[o][t], TB - t > 1 ? acc[o][t + 1] : acc[o][t], \
                            TB - t > 2 ? acc[o][t + 2] : acc[o][t], TB - t > 3 ? acc[o][t + 3] : acc[o][t]);   \
    }
#define LANESW_TILES(OB) LANESW_TILE(OB, 3) LANESW_TILE(OB, 4)
LANESW_TILES(2)
LANESW_TILES(3)
LANESW_TILES(4)
LANESW_TILES(5)
LANESW_TILES(6)

typedef void (*lanesw_tile_fn)(const lanesw_tile_args *);
#define LANESW_ROW(OB) {NULL, NULL, NULL, lanesw_tile_##OB##_3, lanesw_tile_##OB##_4}
/* [OB][TB]: 2 output channels or more and 16 taps or more (lanesw_fit),
 * split into blocks of at most 6 and 4 as evenly as can be, give blocks of
 * 2 to 6 channels and 3 or 4 taps */
static const lanesw_tile_fn lanesw_tiles[LANESW_MAX_OB + 1][LANESW_MAX_TB + 1] = {
    {NULL}, {NULL}, LANESW_ROW(2), LANESW_ROW(3), LANESW_ROW(4), LANESW_ROW(5), LANESW_ROW(6),
};

typedef struct {
    const conv_geom *g;
    const float *x, *dy;
    int64_t hp, wp;
    int64_t n_ob, n_tb;     /* output-channel and tap blocks */
    int64_t parts;          /* tasks per pack, each a range of tap blocks */
    int64_t images;         /* the first `images` of the batch */
    const int32_t *x_at, *dy_at; /* per position of a group's x and dy: its vector in xT, dyT */
    const int64_t *off;     /* per tap t: its xT vector at the position (0, 0), in floats */
    float *scratch;         /* per worker: xT, dyT, then dW [O, K] */
    int64_t scratch_len, xT_len, dyT_len;
} lanesw_job;

/* The weight gradient of pack p = task / parts (images 16p .. 16p + 15),
 * tap blocks of part task % parts, every group, added to the worker's dW. */
TG_CONV_AVX512 static void lanesw_pack(void *arg, int task, int n_tasks, int worker)
{
    (void)n_tasks;
    const lanesw_job *job = arg;
    const conv_geom *g = job->g;
    float *xT = job->scratch + (int64_t)worker * job->scratch_len, *dyT = xT + job->xT_len, *dw = dyT + job->dyT_len;
    int64_t p = task / job->parts, part = task % job->parts, n0 = p * LANES, hw = g->h * g->w;
    int64_t b0 = job->n_tb * part / job->parts, b1 = job->n_tb * (part + 1) / job->parts;
    int count = job->images - n0 < LANES ? (int)(job->images - n0) : LANES;
    for (int64_t gr = 0; gr < g->groups; gr++) {
        lanes_gather(job->x + (n0 * g->c + gr * g->cg) * hw, g->c * hw, count, g->cg * hw, job->x_at, xT);
        lanes_gather(job->dy + (n0 * g->o + gr * g->og) * g->p, g->o * g->p, count, g->og * g->p, job->dy_at, dyT);
        /* channel blocks outer (measured 1% faster than tap blocks outer on the wide CNN conv2) */
        for (int64_t q = 0; q < job->n_ob; q++) {
            int64_t o0 = g->og * q / job->n_ob, ob = g->og * (q + 1) / job->n_ob - o0;
            for (int64_t b = b0; b < b1; b++) {
                int64_t t0 = g->k * b / job->n_tb, tb = g->k * (b + 1) / job->n_tb - t0;
                lanesw_tile_args a = {.dy = dyT + o0 * g->p * LANES, .x = xT, .dy_o = g->p * LANES,
                                      .off = job->off + t0, .oh = g->oh, .ow = g->ow, .wp = job->wp,
                                      .dw = dw + (gr * g->og + o0) * g->k + t0, .dw_o = g->k};
                lanesw_tiles[ob][tb](&a);
            }
        }
    }
}

bool tg_conv_lanes_weight_run(tg_ctx *ctx, const conv_geom *g, int64_t images, const float *x, const float *dy,
                              float *dw)
{
    tg_pool *pool = ctx->pool;
    int threads = tg_pool_threads(pool);
    int64_t hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;
    lanesw_job job = {.g = g, .x = x, .dy = dy, .hp = hp, .wp = wp, .images = images};
    job.n_ob = (g->og + LANESW_MAX_OB - 1) / LANESW_MAX_OB;
    job.n_tb = (g->k + LANESW_MAX_TB - 1) / LANESW_MAX_TB;
    int64_t packs = (images + LANES - 1) / LANES;
    /* packs that do not share out evenly are split by tap blocks (each
     * part transposes the whole of its pack again) */
    job.parts = threads > 1 && packs % threads ? (threads < job.n_tb ? threads : job.n_tb) : 1;
    int n_tasks = (int)(packs * job.parts);
    bool split = threads > 1 && n_tasks > 1;
    int workers = split ? threads : 1;
    /* xT and dyT get a pack of vectors of slack: the gathers write whole packs */
    job.xT_len = (g->cg * hp * wp + LANES) * LANES, job.dyT_len = (g->og * g->p + LANES) * LANES;
    job.scratch_len = job.xT_len + job.dyT_len + ((g->o * g->k + LANES - 1) / LANES) * LANES;
    int32_t *x_at = tg_arena_alloc(ctx, (size_t)(g->cg * g->h * g->w) * sizeof *x_at, 64);
    int32_t *dy_at = tg_arena_alloc(ctx, (size_t)(g->og * g->p) * sizeof *dy_at, 64);
    int64_t *off = tg_arena_alloc(ctx, (size_t)g->k * sizeof *off, 64);
    job.scratch = tg_arena_alloc(ctx, (size_t)(job.scratch_len * workers) * sizeof(float), 64);
    if (!x_at || !dy_at || !off || !job.scratch)
        return false;
    for (int64_t c = 0; c < g->cg; c++)
        for (int64_t y = 0; y < g->h; y++)
            for (int64_t xx = 0; xx < g->w; xx++)
                x_at[(c * g->h + y) * g->w + xx] = (int32_t)((c * hp + y + g->ph) * wp + xx + g->pw);
    for (int64_t q = 0; q < g->og * g->p; q++)
        dy_at[q] = (int32_t)q;
    for (int64_t c = 0; c < g->cg; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++)
                off[(c * g->kh + i) * g->kw + j] = ((c * hp + i * g->dh) * wp + j * g->dw) * LANES;
    /* xT's border of padding stays zero (the gathers write inside it); dW starts at zero */
    for (int k = 0; k < workers; k++) {
        float *s = job.scratch + k * job.scratch_len;
        memset(s, 0, (size_t)job.xT_len * sizeof(float));
        memset(s + job.xT_len + job.dyT_len, 0, (size_t)(g->o * g->k) * sizeof(float));
    }
    job.x_at = x_at, job.dy_at = dy_at, job.off = off;
    if (split)
        tg_pool_run(pool, n_tasks, lanesw_pack, &job);
    else
        for (int t = 0; t < n_tasks; t++)
            lanesw_pack(&job, t, n_tasks, 0);
    /* dW = Σ workers' dW */
    for (int64_t q = 0; q < g->o * g->k; q++) {
        float total = 0;
        for (int k = 0; k < workers; k++)
            total += job.scratch[k * job.scratch_len + job.xT_len + job.dyT_len + q];
        dw[q] = total;
    }
    return true;
}

#else
bool tg_conv_lanes_weight_run(tg_ctx *ctx, const conv_geom *g, int64_t images, const float *x, const float *dy,
                              float *dw)
{
    (void)g, (void)images, (void)x, (void)dy, (void)dw;
    return tg_ctx_fail(ctx, TG_ERR_ARG, "conv2d_backward_weight: the image-lane kernels need x86-64 AVX-512"), false;
}
#endif
