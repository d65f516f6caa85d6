/* f32 AVX-512 conv products with 16 images in the vector lanes.
 *
 * The backward input of a stride-1 convolution with few channels (LeNet's
 * conv2, 6→16 5×5: dy [16, 10, 10] read by 14×14 outputs) wastes most of
 * the direct kernels' lanes when positions fill them: 14 of 16 lanes hold
 * an output, and only (10/14)² of the taps read inside dy. With 16 images
 * in the lanes every lane is real and a tile runs only the taps that read
 * inside dy:
 *   dx[c, y, x] = Σ_{o, i, j} W[o, c, i, j] · dy[o, y + ph - i·dh, x + pw - j·dw]
 * (each term a 16-image vector), over the kernel rows i whose dy row lies
 * in [0, OH) (exact) and the kernel columns j that put at least one of the
 * tile's positions inside [0, OW) (dy's rows carry zero columns for the
 * others). Per 16 images (a "pack") and group:
 *   dyT[o][oy][left + ox][16]  = dy of the pack, transposed 16×16 at a time
 *   dxT[c][y][x][16]           = tiles of CB channels × NP positions of one
 *                                row: CB·NP accumulators, per tap CB weight
 *                                broadcasts and NP loads of dyT
 *   dx[n, c, y, x]             = dxT transposed back
 * The forward runs as such a backward input (lanes_as_backward_input),
 * with x for dy, y for dx and the bias as the accumulators' start.
 * A batch's last pack may hold fewer than 16 images (zero lanes); below
 * LANES_MIN_LAST_* images conv.c runs them on the other paths. The sums
 * are those of the other paths in another order. */
#include "autograd/internal.h"
#include "ops/conv.h"
#include "ops/conv_lanes.h"

#include <string.h>

#define LANES_MAX_CB 6    /* channels per tile */
#define LANES_MAX_NP 8    /* positions per tile */
#define LANES_ACC 24      /* CB·NP accumulators at most (with NP loads and a broadcast: 29 registers) */
/* Images a last pack needs to be worth 16 lanes (bench_cnn --layer-batch):
 * LeNet's conv2 runs a backward-input pack in 80 µs, an image on the direct
 * kernels in 8.7; its forward a pack at 106 GFLOP/s, the direct kernels
 * 93-101. */
#define LANES_MIN_LAST_BACKWARD_INPUT 10
#define LANES_MIN_LAST_FORWARD 15

/* The tiling of one call: channel blocks of cb or cb - 1 channels, column
 * tiles of up to np_max positions (lanes_columns). */
typedef struct {
    int64_t owp, left; /* dyT rows: owp vectors, dy's column ox at left + ox */
    int64_t dyT_len, dxT_len;   /* floats per worker */
    int64_t n_cb, cb;  /* channel blocks, the widest block's channels */
    int64_t np_max;    /* positions per column tile, the most */
} lanes_geom;

/* The forward as a backward input (stride 1): y = conv(x, W) is the
 * backward input of a convolution that reads x as its dy, with O and C
 * swapped, padding dh(KH-1) - ph, and W flipped and transposed:
 *   y[o, oy, ox] = Σ W[o, c, KH-1-i, KW-1-j] · x[c, oy + (dh(KH-1) - ph) - i·dh, ...] */
static conv_geom lanes_as_backward_input(const conv_geom *g, conv_pass pass)
{
    if (pass != CONV_FORWARD)
        return *g;
    conv_geom t = *g;
    t.c = g->o, t.h = g->oh, t.w = g->ow, t.o = g->c, t.oh = g->h, t.ow = g->w;
    t.ph = g->dh * (g->kh - 1) - g->ph, t.pw = g->dw * (g->kw - 1) - g->pw;
    t.cg = g->og, t.og = g->cg, t.k = g->og * g->kh * g->kw, t.p = g->h * g->w;
    return t;
}

/* Whether the pack kernels take conv products of geometry g: the forward
 * and backward input of f32 stride-1 convolutions on AVX-512 whose output
 * has 2 channels or more per group (the backward input of LeNet's conv1,
 * one channel, keeps the rows kernel of conv_direct.c: with one channel per
 * tile the loads, not the FMAs, decide), read by 16 taps or more, while a
 * pack's dyT and dxT fit a worker's L2 (the wide CNN's conv2, 32→64 3×3
 * over 13×13, just does: 1,022 KB for its backward input). A forward needs
 * its padding within the kernel's reach (no negative padding as a backward
 * input) and 2 input channels or more per group: LeNet's conv1 (1→6) runs
 * faster over conv_direct.c's column-shifted planes (97 GFLOP/s against
 * 91). The backward weight has its own (ops/conv_lanes_weight.c). */
static bool lanes_fit(const conv_geom *g, tg_dtype dt, conv_pass pass)
{
    if (pass == CONV_BACKWARD_WEIGHT || dt != TG_F32 || g->sh != 1 || g->sw != 1 || !tg_conv_avx512())
        return false;
    if (pass == CONV_FORWARD && (g->cg < 2 || g->ph > g->dh * (g->kh - 1) || g->pw > g->dw * (g->kw - 1)))
        return false;
    conv_geom t = lanes_as_backward_input(g, pass);
    if (t.cg < 2 || t.og * t.kh * t.kw < 16)
        return false;
    /* dyT and dxT within 1 MB (the offsets then fit int32) */
    int64_t owp = t.w + t.dw * (t.kw - 1);
    return t.og * t.oh * owp * LANES + t.cg * t.h * t.w * LANES <= ((int64_t)1 << 18);
}

int64_t tg_conv_lanes_batch(const conv_geom *g, tg_dtype dt, conv_pass pass)
{
    if (!lanes_fit(g, dt, pass))
        return 0;
    int64_t last = g->n % LANES;
    int64_t min_last = pass == CONV_FORWARD ? LANES_MIN_LAST_FORWARD : LANES_MIN_LAST_BACKWARD_INPUT;
    return g->n - last + (last >= min_last ? last : 0);
}

#if defined(__x86_64__) && defined(__GNUC__)

static lanes_geom lanes_geometry(const conv_geom *g)
{
    lanes_geom L;
    /* reads reach ox = x + pw - j·dw for x in [0, W), j in [0, KW) */
    L.left = g->dw * (g->kw - 1) - g->pw > 0 ? g->dw * (g->kw - 1) - g->pw : 0;
    int64_t right = g->w - 1 + g->pw - (g->ow - 1);
    L.owp = L.left + g->ow + (right > 0 ? right : 0);
    L.dyT_len = g->og * g->oh * L.owp * LANES;
    L.dxT_len = (g->cg * g->h * g->w + LANES) * LANES; /* a pack of vectors of slack: the transposes read whole packs */
    L.n_cb = (g->cg + LANES_MAX_CB - 1) / LANES_MAX_CB;
    L.cb = (g->cg + L.n_cb - 1) / L.n_cb;
    L.np_max = LANES_ACC / L.cb < LANES_MAX_NP ? LANES_ACC / L.cb : LANES_MAX_NP;
    return L;
}

/* One column tile of a row of dx: positions x0 .. x0 + np - 1, and the
 * kernel columns j0 .. j1 - 1 that put one of them inside dy's [0, OW):
 * x + pw - j·dw in [0, OW) for some x. */
typedef struct {
    int64_t x0, np, j0, j1;
} lanes_column;

static lanes_column lanes_column_at(const conv_geom *g, int64_t x0, int64_t np)
{
    int64_t lo = x0 + g->pw - (g->ow - 1), hi = x0 + np - 1 + g->pw;
    int64_t j0 = lo > 0 ? (lo + g->dw - 1) / g->dw : 0, j1 = hi / g->dw + 1 < g->kw ? hi / g->dw + 1 : g->kw;
    return (lanes_column){x0, np, j0, j1 > j0 ? j1 : j0};
}

/* The column tiles of least cost covering a row of W positions: near the
 * row's ends a narrow tile runs fewer kernel columns of padding. A tile
 * costs per kernel column its cb·np FMAs or 1.5 per load (cb broadcasts,
 * np vectors), whichever is more, and 6 more of loop per kernel row and
 * channel; weights fitted on LeNet's conv2 (14 positions reading 10 dy
 * columns: tiles of 2, 2, 4, 2, 2, 2 run 54 position-columns for 50 real,
 * 100.6 GFLOP/s; 3, 4, 3, 4 run 60, 91.7; 1, 1, 1, 1, 4, 2, 1, 1, 1, 1
 * run 50, 94.4). best[x]: least cost of [0, x); from[x]: where its last
 * tile starts. Returns the tiles' count. */
static int64_t lanes_columns(const conv_geom *g, const lanes_geom *L, double *best, int64_t *from, lanes_column *cols)
{
    best[0] = 0;
    for (int64_t x = 1; x <= g->w; x++) {
        best[x] = -1;
        for (int64_t np = 1; np <= L->np_max && np <= x; np++) {
            lanes_column t = lanes_column_at(g, x - np, np);
            double fma = (double)(L->cb * np), loads = 1.5 * (double)(L->cb + np);
            double cost = best[x - np] + (double)(t.j1 - t.j0) * (fma > loads ? fma : loads) + 6;
            if (best[x] < 0 || cost < best[x])
                best[x] = cost, from[x] = x - np;
        }
    }
    int64_t n = 0;
    for (int64_t x = g->w; x > 0; x = from[x])
        n++;
    int64_t k = n;
    for (int64_t x = g->w; x > 0; x = from[x])
        cols[--k] = lanes_column_at(g, from[x], x - from[x]);
    return n;
}

/* Without this GCC folds each broadcast into every FMA that reads it. */
#define IN_REGISTER(v) __asm__("" : "+v"(v))

/* dst[l·dst_step + q] = src[q·16 + l] for q < len, images l < count (src
 * is read to a whole 16 vectors past len). */
TG_CONV_AVX512 static void lanes_scatter(const float *src, int64_t len, float *dst, int64_t dst_step, int count)
{
    for (int64_t q = 0; q < len; q += 16) {
        __m512 r[16];
        for (int k = 0; k < 16; k++)
            r[k] = _mm512_load_ps(src + (q + k) * 16);
        transpose16(r);
        if (len - q >= 16)
            for (int l = 0; l < count; l++)
                _mm512_storeu_ps(dst + l * dst_step + q, r[l]);
        else
            for (int l = 0; l < count; l++)
                _mm512_mask_storeu_ps(dst + l * dst_step + q, lanes_mask(len - q), r[l]);
    }
}

/* One tile's loops: kernel rows, dy channels, kernel columns, with their steps in floats. */
typedef struct {
    const float *bias;          /* per channel c0 + c, or NULL (zeros) */
    const float *dy;            /* dyT at (kernel row, o, kernel column) = (first, 0, first) */
    int64_t dy_i, dy_o, dy_j;
    const float *w;             /* wl at the same, channel c0 */
    int64_t w_i, w_o, w_j;
    int64_t n_i, n_o, n_j;
    float *dx;                  /* dxT at (c0, y, x0) */
    int64_t dx_c;
} lanes_tile_args;

/* dxT[c0 + c][y][x0 + k] = Σ_{i, o, j} wl[i][o][j][c0 + c] · dyT[o][oy(i)][left + x0 + k + pw - j·dw]
 * for c < CB, k < NP: CB·NP accumulators; per tap NP loads and CB broadcasts. */
#define LANES_TILE(CB, NP)                                                                                         \
    TG_CONV_AVX512 static void lanes_tile_##CB##_##NP(const lanes_tile_args *a)                                 \
    {                                                                                                          \
        __m512 acc[CB][NP];                                                                                    \
        _Pragma("GCC unroll 8") for (int c = 0; c < CB; c++)                                                   \
            _Pragma("GCC unroll 8") for (int k = 0; k < NP; k++)                                               \
                acc[c][k] = a->bias ? _mm512_set1_ps(a->bias[c]) : _mm512_setzero_ps();                        \
        for (int64_t i = 0; i < a->n_i; i++)                                                                   \
            for (int64_t o = 0; o < a->n_o; o++) {                                                             \
                const float *d = a->dy + i * a->dy_i + o * a->dy_o, *w = a->w + i * a->w_i + o * a->w_o;       \
                for (int64_t j = 0; j < a->n_j; j++, d += a->dy_j, w += a->w_j) {                              \
                    __m512 v[NP];                                                                              \
                    _Pragma("GCC unroll 8") for (int k = 0; k < NP; k++)                                       \
                        v[k] = _mm512_load_ps(d + 16 * k);                                                     \
                    _Pragma("GCC unroll 8") for (int c = 0; c < CB; c++) {                                     \
                        __m512 b = _mm512_set1_ps(w[c]);                                                       \
                        IN_REGISTER(b);                                                                        \
                        _Pragma("GCC unroll 8") for (int k = 0; k < NP; k++)                                   \
                            acc[c][k] = _mm512_fmadd_ps(b, v[k], acc[c][k]);                                   \
                    }                                                                                          \
                }                                                                                              \
            }                                                                                                  \
        _Pragma("GCC unroll 8") for (int c = 0; c < CB; c++)                                                   \
            _Pragma("GCC unroll 8") for (int k = 0; k < NP; k++)                                               \
                _mm512_store_ps(a->dx + c * a->dx_c + 16 * k, acc[c][k]);                                      \
    }
#define LANES_TILES_UP_TO_4(CB) LANES_TILE(CB, 1) LANES_TILE(CB, 2) LANES_TILE(CB, 3) LANES_TILE(CB, 4)
#define LANES_TILES_UP_TO_8(CB) \
    LANES_TILES_UP_TO_4(CB) LANES_TILE(CB, 5) LANES_TILE(CB, 6) LANES_TILE(CB, 7) LANES_TILE(CB, 8)
LANES_TILES_UP_TO_8(2)
LANES_TILES_UP_TO_8(3)
LANES_TILES_UP_TO_4(4)
LANES_TILE(4, 5) LANES_TILE(4, 6)
LANES_TILES_UP_TO_4(5)
LANES_TILES_UP_TO_4(6)

typedef void (*lanes_tile_fn)(const lanes_tile_args *);
/* [CB][NP], CB·NP ≤ 24; blocks have 2 channels or more (lanes_fit: 2 or
 * more per group, split into blocks of at most 6 as evenly as can be) */
static const lanes_tile_fn lanes_tiles[LANES_MAX_CB + 1][LANES_MAX_NP + 1] = {
    {NULL},
    {NULL},
    {NULL, lanes_tile_2_1, lanes_tile_2_2, lanes_tile_2_3, lanes_tile_2_4, lanes_tile_2_5, lanes_tile_2_6,
     lanes_tile_2_7, lanes_tile_2_8},
    {NULL, lanes_tile_3_1, lanes_tile_3_2, lanes_tile_3_3, lanes_tile_3_4, lanes_tile_3_5, lanes_tile_3_6,
     lanes_tile_3_7, lanes_tile_3_8},
    {NULL, lanes_tile_4_1, lanes_tile_4_2, lanes_tile_4_3, lanes_tile_4_4, lanes_tile_4_5, lanes_tile_4_6},
    {NULL, lanes_tile_5_1, lanes_tile_5_2, lanes_tile_5_3, lanes_tile_5_4},
    {NULL, lanes_tile_6_1, lanes_tile_6_2, lanes_tile_6_3, lanes_tile_6_4},
};

typedef struct {
    conv_geom g;           /* as a backward input (lanes_as_backward_input) */
    lanes_geom L;
    const float *bias;     /* forward: per output channel, or NULL */
    const float *dy, *wl;  /* wl: the weights as [groups][KH][O/g][KW][C/g] */
    float *dx;
    const int32_t *dy_at;  /* per position (o, oy, ox) of a group's dy: its vector in dyT */
    const lanes_column *cols; /* the column tiles of every row */
    int64_t n_cols;
    int64_t parts;         /* tasks per pack, each a range of dx's rows */
    int64_t images;        /* the first `images` of the batch */
    float *scratch;        /* per worker: dyT then dxT */
    int64_t scratch_len;
} lanes_job;

/* The backward input of pack p = task / parts (images 16p .. 16p + 15),
 * rows [y0, y1) of part task % parts, every group. */
TG_CONV_AVX512 static void lanes_pack(void *arg, int task, int n_tasks, int worker)
{
    (void)n_tasks;
    const lanes_job *job = arg;
    const conv_geom *g = &job->g;
    const lanes_geom *L = &job->L;
    float *dyT = job->scratch + (int64_t)worker * job->scratch_len, *dxT = dyT + L->dyT_len;
    int64_t p = task / job->parts, part = task % job->parts, n0 = p * LANES, hw = g->h * g->w;
    int64_t y0 = g->h * part / job->parts, y1 = g->h * (part + 1) / job->parts;
    int count = job->images - n0 < LANES ? (int)(job->images - n0) : LANES;
    for (int64_t gr = 0; gr < g->groups; gr++) {
        lanes_gather(job->dy + (n0 * g->o + gr * g->og) * g->p, g->o * g->p, count, g->og * g->p, job->dy_at, dyT);
        const float *wl = job->wl + gr * g->kh * g->og * g->kw * g->cg;
        for (int64_t y = y0; y < y1; y++) {
            /* kernel rows whose dy row y + ph - i·dh lies in [0, OH) */
            int64_t top = y + g->ph, i0 = top - (g->oh - 1) > 0 ? (top - (g->oh - 1) + g->dh - 1) / g->dh : 0;
            int64_t i1 = top / g->dh + 1 < g->kh ? top / g->dh + 1 : g->kh;
            for (int64_t u = 0; u < job->n_cols; u++) {
                int64_t x0 = job->cols[u].x0, np = job->cols[u].np, j0 = job->cols[u].j0, j1 = job->cols[u].j1;
                for (int64_t b = 0; b < L->n_cb; b++) {
                    int64_t c0 = g->cg * b / L->n_cb, cb = g->cg * (b + 1) / L->n_cb - c0;
                    float *out = dxT + ((c0 * g->h + y) * g->w + x0) * LANES;
                    const float *bias = job->bias ? job->bias + gr * g->cg + c0 : NULL;
                    if (i0 >= i1 || j0 >= j1) { /* no tap reads inside dy */
                        for (int64_t c = 0; c < cb; c++)
                            for (int64_t k = 0; k < np * LANES; k++)
                                out[c * hw * LANES + k] = bias ? bias[c] : 0;
                        continue;
                    }
                    int64_t oy0 = top - i0 * g->dh;
                    lanes_tile_args a = {.bias = bias,
                        .dy = dyT + (oy0 * L->owp + L->left + x0 + g->pw - j0 * g->dw) * LANES,
                        .dy_i = -g->dh * L->owp * LANES, .dy_o = g->oh * L->owp * LANES, .dy_j = -g->dw * LANES,
                        .w = wl + ((i0 * g->og) * g->kw + j0) * g->cg + c0,
                        .w_i = g->og * g->kw * g->cg, .w_o = g->kw * g->cg, .w_j = g->cg,
                        .n_i = i1 - i0, .n_o = g->og, .n_j = j1 - j0,
                        .dx = out, .dx_c = hw * LANES};
                    lanes_tiles[cb][np](&a);
                }
            }
        }
        float *dx = job->dx + (n0 * g->c + gr * g->cg) * hw;
        if (job->parts == 1)
            lanes_scatter(dxT, g->cg * hw, dx, g->c * hw, count);
        else
            for (int64_t c = 0; c < g->cg; c++)
                lanes_scatter(dxT + (c * hw + y0 * g->w) * LANES, (y1 - y0) * g->w, dx + c * hw + y0 * g->w, g->c * hw,
                              count);
    }
}

bool tg_conv_lanes_run(tg_ctx *ctx, const conv_geom *g_pass, conv_pass pass, int64_t images, const float *in,
                       const float *w, const float *bias, float *out)
{
    tg_pool *pool = ctx->pool;
    int threads = tg_pool_threads(pool);
    lanes_job job = {.g = lanes_as_backward_input(g_pass, pass), .bias = bias, .dy = in, .dx = out, .images = images};
    const conv_geom *g = &job.g;
    job.L = lanes_geometry(g);
    int64_t packs = (images + LANES - 1) / LANES;
    /* packs that do not share out evenly are split by rows (each part
     * transposes the whole of its pack's dy again: ~5% of a pack) */
    int64_t parts = threads > 1 && packs % threads ? (threads < g->h ? threads : g->h) : 1;
    int n_tasks = (int)(packs * parts);
    bool split = threads > 1 && n_tasks > 1;
    job.parts = parts;
    const lanes_geom *L = &job.L;
    job.scratch_len = L->dyT_len + L->dxT_len;
    float *wl = tg_arena_alloc(ctx, (size_t)(g->o * g->k) * sizeof *wl, 64);
    int32_t *at = tg_arena_alloc(ctx, (size_t)(g->og * g->p) * sizeof *at, 64);
    job.scratch = tg_arena_alloc(ctx, (size_t)(job.scratch_len * threads) * sizeof(float), 64);
    double *best = tg_arena_alloc(ctx, (size_t)(g->w + 1) * sizeof *best, 64);
    int64_t *from = tg_arena_alloc(ctx, (size_t)(g->w + 1) * sizeof *from, 64);
    lanes_column *cols = tg_arena_alloc(ctx, (size_t)g->w * sizeof *cols, 64);
    if (!wl || !at || !job.scratch || !best || !from || !cols)
        return false;
    job.n_cols = lanes_columns(g, L, best, from, cols);
    job.cols = cols;
    /* dyT's columns of padding stay zero (the packs write only dy's), and
     * so does dxT's slack, which the transposes read and drop */
    int64_t right = L->owp - L->left - g->ow;
    for (int k = 0; k < threads; k++) {
        float *dyT = job.scratch + k * job.scratch_len;
        for (int64_t r = 0; r < g->og * g->oh; r++) {
            memset(dyT + r * L->owp * LANES, 0, (size_t)(L->left * LANES) * sizeof(float));
            memset(dyT + (r * L->owp + L->left + g->ow) * LANES, 0, (size_t)(right * LANES) * sizeof(float));
        }
        memset(dyT + L->dyT_len + g->cg * g->h * g->w * LANES, 0, (size_t)(LANES * LANES) * sizeof(float));
    }
    /* wl[gr][i][o][j][c] = W[gr·og + o][c][i][j] (backward input),
     * W[gr·cg + c][o][KH-1-i][KW-1-j] (forward: og and cg swapped) */
    for (int64_t gr = 0; gr < g->groups; gr++)
        for (int64_t o = 0; o < g->og; o++)
            for (int64_t c = 0; c < g->cg; c++)
                for (int64_t i = 0; i < g->kh; i++)
                    for (int64_t j = 0; j < g->kw; j++)
                        wl[(((gr * g->kh + i) * g->og + o) * g->kw + j) * g->cg + c] =
                            pass == CONV_FORWARD
                                ? w[(((gr * g->cg + c) * g->og + o) * g->kh + g->kh - 1 - i) * g->kw + g->kw - 1 - j]
                                : w[(((gr * g->og + o) * g->cg + c) * g->kh + i) * g->kw + j];
    for (int64_t o = 0; o < g->og; o++)
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++)
                at[(o * g->oh + oy) * g->ow + ox] = (int32_t)((o * g->oh + oy) * L->owp + L->left + ox);
    job.wl = wl, job.dy_at = at;
    if (split)
        tg_pool_run(pool, n_tasks, lanes_pack, &job);
    else
        for (int t = 0; t < n_tasks; t++)
            lanes_pack(&job, t, n_tasks, 0);
    return true;
}

#else
bool tg_conv_lanes_run(tg_ctx *ctx, const conv_geom *g, conv_pass pass, int64_t images, const float *in,
                       const float *w, const float *bias, float *out)
{
    (void)g, (void)pass, (void)images, (void)in, (void)w, (void)bias, (void)out;
    return tg_ctx_fail(ctx, TG_ERR_ARG, "conv2d_backward_input: the image-lane kernels need x86-64 AVX-512"), false;
}
#endif
