/* Direct convolution kernels: f32, AVX-512, stride 1, few channels.
 *
 * With a few channels (LeNet: 1→6, 6→16) the GEMM's panels are mostly
 * empty and building, packing and scattering patches costs more than the
 * products, so these kernels read copies of the image laid out so that
 * every tap t = (c, i, j) reads one contiguous run, with output positions
 * in the vector lanes.
 *   forward, backward_weight: column-shifted planes (shift_planes),
 *     S[c, j][y·OW + x] = x padded [c, y, x + j·dw], Hp rows of OW: over the
 *     real positions q = oy·OW + ox (y's and dy's own layout)
 *       y[o, q] = Σ_t w[o, t] · S[q + off_t],   off_t = (c·KW + j)·Hp·OW + i·dh·OW
 *       dW[o, t] = Σ_n Σ_q dy[o, q] · S[q + off_t]
 *     KW copies of the input, no dropped lanes, and y written in place.
 *   backward_input: dy zero-padded by (dh(KH-1) - ph, dw(KW-1) - pw) to
 *     [O, Hp, Wp], flattened positions q = oy·Wp + ox,
 *       dx[c, q] = Σ_t w[c, t] · in[q + off_t],   off_t = o·Hp·Wp + i·dh·Wp + j·dw,
 *     w[c, (o, i, j)] = W[o, c, KH-1-i, KW-1-j] (flipped, transposed); the
 *     columns ox ≥ W of each Wp-wide row are computed and dropped (cheaper
 *     than breaking the run at every row end).
 * When the output channels come in sixteens (LeNet's conv2) the forward and
 * the weight gradient put them in the lanes instead (direct_fwd16,
 * direct_wgrad16): one broadcast input value per FMA, real positions only;
 * the backward input of one channel per tile with a 5-row kernel runs by
 * rows (direct_bwi). All are sums of the same products as the GEMM path's,
 * in another order. The file also holds vector copies of conv.c's im2col
 * and col2im for stride 1 without padding. */
#include "autograd/internal.h"
#include "ops/conv.h"

#include <string.h>

/* One direct product's layout: the padded input and the flattened output. */
typedef struct {
    int64_t in_c, hp, wp;  /* padded input [in_c, hp, wp] */
    int64_t out_c, oh, ow; /* output [out_c, oh, ow]: the first ow columns of oh wp-wide rows */
    int64_t taps;          /* in_c·kh·kw */
    int64_t qv;            /* 16-lane vectors covering q = oh·wp positions */
    int64_t row;           /* floats per output channel: 16·qv and 16 of slack */
    int64_t in_len;        /* floats of the padded input, with slack for the last vectors' reads */
    int64_t top, in_rows;  /* rows [top, top + in_rows) of the padded input hold data, the rest zeros */
    int64_t kh, kw, dh;
    bool by_rows;          /* forward, backward input: tiles of whole rows (direct_choose_tiling) */
} flat_geom;

static flat_geom flat_geometry(const conv_geom *g, conv_pass pass)
{
    flat_geom f;
    if (pass == CONV_BACKWARD_INPUT) { /* dx = conv(dy padded, flipped w) */
        f.in_c = g->og, f.out_c = g->cg, f.oh = g->h, f.ow = g->w;
        f.hp = g->oh + 2 * (g->dh * (g->kh - 1) - g->ph);
        f.wp = g->ow + 2 * (g->dw * (g->kw - 1) - g->pw);
        f.taps = g->og * g->kh * g->kw;
        f.top = g->dh * (g->kh - 1) - g->ph, f.in_rows = g->oh;
    } else {
        f.in_c = g->cg, f.out_c = g->og, f.oh = g->oh, f.ow = g->ow;
        f.hp = g->h + 2 * g->ph, f.wp = g->w + 2 * g->pw;
        f.taps = g->k;
        f.top = g->ph, f.in_rows = g->h;
    }
    f.kh = g->kh, f.kw = g->kw, f.dh = g->dh;
    f.by_rows = false;
    int64_t q = f.oh * f.wp;
    f.qv = (q + 15) / 16;
    f.row = 16 * f.qv + 16;
    /* the last tap reads up to in_c·hp·wp - q + dw(kw-1) + 16·qv; the
     * copies write up to 16 past a row (direct_copy_rows) */
    f.in_len = (f.in_c * f.hp * f.wp + 16 * f.qv - q + g->dw * (g->kw - 1) + 16 + 15) & ~(int64_t)15;
    return f;
}

/* Output channels per tile: the first of 6, 4, 3, 2 that divides n (6 → 6,
 * 16 → 4), else 1. Each input vector loaded feeds that many FMAs. */
static int direct_rows(int64_t n)
{
    static const int rows[] = {6, 4, 3, 2};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        if (n % rows[i] == 0)
            return rows[i];
    return 1;
}

static bool direct_bwi_fits(const conv_geom *g);

/* The products that take the direct kernels: f32 on AVX-512, stride 1,
 * few channels (the wide CNN's 32→64 keeps the GEMM, which wins there; the
 * bound is measured, see bench_cnn --layers), and a backward-input padding
 * no wider than the kernel's reach. */
bool tg_conv_direct_path(const conv_geom *g, tg_dtype dt, conv_pass pass)
{
    if (dt != TG_F32 || g->sh != 1 || g->sw != 1 || g->cg * g->og > 256 || !tg_conv_avx512())
        return false;
    if (pass == CONV_BACKWARD_INPUT && (g->ph > g->dh * (g->kh - 1) || g->pw > g->dw * (g->kw - 1)))
        return false;
    flat_geom f = flat_geometry(g, pass);
    /* With few taps per output (the wide CNN's 1→32 3×3) the backward input's
     * writing dx twice, flattened and then compacted, costs more than the
     * GEMM's patches. */
    if (pass == CONV_BACKWARD_INPUT && f.taps < 16)
        return false;
    /* one output channel per tile leaves the loads, not the FMAs, to decide
     * (but for the backward input's rows kernel) */
    if (pass != CONV_BACKWARD_WEIGHT && direct_rows(f.out_c) == 1 && !(pass == CONV_BACKWARD_INPUT && direct_bwi_fits(g)))
        return false;
    /* int32 tap offsets */
    int64_t planes = g->cg * g->kw * (g->h + 2 * g->ph) * g->ow;
    return f.in_len < ((int64_t)1 << 28) && (pass == CONV_BACKWARD_INPUT || planes < ((int64_t)1 << 28)) &&
           f.taps <= 4096;
}

#define DIRECT_CHUNK 8 /* images per backward-weight pass: their sums share one reduction */

typedef void (*direct_wgrad_fn)(const float *, int64_t, const float *, int64_t, int64_t, int64_t, int64_t,
                                const int32_t *, float *, int64_t);
typedef void (*direct_wgrad16_fn)(const float *const *, const float *, int64_t, int64_t, int64_t, float *);
typedef void (*direct_fwd16_fn)(const float *, const float *, const int32_t *, int64_t, const float *, float *);
#define DIRECT_FWD16_NP 12 /* positions per row in a tile: 2 rows × 12 accumulators */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Without this GCC folds each input load into every FMA that reads it
 * (OB loads instead of one), and the misaligned loads become the bottleneck. */
#define IN_REGISTER(v) __asm__("" : "+v"(v))

/* dst[y·dst_step + x] = src[y·src_step + x] (+ add) for x < w, y < rows:
 * rows of 10 to 28 values, too short for memcpy calls to pay. Every row but
 * the last is stored as whole vectors, zeros (+ add) past w: masked stores
 * are slow here, and what lies past a row is padding that stays zero or the
 * next row, written after it. */
TG_CONV_AVX512 static void direct_copy_rows(const float *src, int64_t src_step, float *dst, int64_t dst_step,
                                            int64_t rows, int64_t w, const float *add)
{
    __m512 a = _mm512_set1_ps(add ? *add : 0);
    for (int64_t y = 0; y < rows; y++, src += src_step, dst += dst_step)
        for (int64_t x = 0; x < w; x += 16) {
            __mmask16 m = (__mmask16)(w - x >= 16 ? 0xFFFF : (1u << (w - x)) - 1);
            __m512 v = _mm512_maskz_loadu_ps(m, src + x);
            v = add ? _mm512_add_ps(v, a) : v;
            if (y + 1 < rows)
                _mm512_storeu_ps(dst + x, v);
            else
                _mm512_mask_storeu_ps(dst + x, m, v);
        }
}

/* Column-shifted planes of one image's cg channels (one group):
 *   planes[(c·KW + j)·Hp·OW + y·OW + x] = x padded [c, y, x + j·dw]
 * for the KW column shifts j, Hp = H + 2·ph rows of OW. Tap (c, i, j) then
 * reads the run planes + (c·KW + j)·Hp·OW + i·dh·OW at the output position
 * oy·OW + ox: the products run over the real positions only, and their
 * outputs are y's own layout. The rows of padding are zeroed once per call
 * and never written. Rows are stored as whole vectors, zeros past OW: one
 * column of vectors at a time, the last first, so a row's overrun lands in
 * the next row's first vector (written after), or in padding or slack. */
TG_CONV_AVX512 static void shift_planes(const conv_geom *g, const float *restrict x, float *restrict planes)
{
    const int64_t h = g->h, w = g->w, hp = h + 2 * g->ph, ow = g->ow;
    for (int64_t c = 0; c < g->cg; c++)
        for (int64_t j = 0; j < g->kw; j++) {
            int64_t shift = j * g->dw - g->pw; /* the x column of output column 0 */
            float *plane = planes + ((c * g->kw + j) * hp + g->ph) * ow;
            const float *src = x + c * h * w + shift;
            for (int64_t x0 = (ow - 1) / 16 * 16; x0 >= 0; x0 -= 16) {
                /* lanes whose column x0 + l < OW reads inside the row */
                int64_t lo = -shift - x0, hi = w - shift - x0;
                lo = lo < 0 ? 0 : lo;
                hi = hi > 16 ? 16 : hi;
                hi = hi > ow - x0 ? ow - x0 : hi;
                __mmask16 m = lo < hi ? (__mmask16)((0xFFFFu >> (16 - (hi - lo))) << lo) : 0;
                for (int64_t y = 0; y < h; y++)
                    _mm512_storeu_ps(plane + y * ow + x0, _mm512_maskz_loadu_ps(m, src + y * w + x0));
            }
        }
}

/* out[r, v·step + l] = init[r] + Σ_t w[r·w_step + t]·in[v·step + l + off_t]
 * for OB channels r, NV vectors v and lanes l (init NULL: 0): OB·NV
 * accumulators; per tap NV loads feed OB·NV FMAs. step 16: consecutive
 * positions; step Wp: one per row. The last vector stores the lanes of
 * `last` only (the end of a channel's positions). */
#define DIRECT_TILE(OB, NV)                                                                                     \
    TG_CONV_AVX512 static void direct_tile_##OB##_##NV(const float *in, int64_t step, const int32_t *off,        \
                                                       int64_t taps, const float *w, int64_t w_step,            \
                                                       const float *init, float *out, int64_t out_step,         \
                                                       __mmask16 last)                                          \
    {                                                                                                           \
        __m512 acc[OB][NV];                                                                                     \
        _Pragma("GCC unroll 6") for (int r = 0; r < OB; r++)                                                    \
            _Pragma("GCC unroll 10") for (int v = 0; v < NV; v++)                                               \
                acc[r][v] = init ? _mm512_set1_ps(init[r]) : _mm512_setzero_ps();                               \
        for (int64_t t = 0; t < taps; t++) {                                                                    \
            const float *p = in + off[t];                                                                       \
            __m512 x[NV];                                                                                       \
            for (int v = 0; v < NV; v++) {                                                                      \
                x[v] = _mm512_loadu_ps(p + step * v);                                                           \
                IN_REGISTER(x[v]);                                                                              \
            }                                                                                                   \
            for (int r = 0; r < OB; r++) {                                                                      \
                __m512 b = _mm512_set1_ps(w[r * w_step + t]);                                                   \
                for (int v = 0; v < NV; v++)                                                                    \
                    acc[r][v] = _mm512_fmadd_ps(b, x[v], acc[r][v]);                                            \
            }                                                                                                   \
        }                                                                                                       \
        _Pragma("GCC unroll 6") for (int r = 0; r < OB; r++) /* unrolled, else acc lives on the stack */        \
            _Pragma("GCC unroll 10") for (int v = 0; v < NV; v++) {                                             \
                if (v < NV - 1 || last == 0xFFFF) /* masked stores are slow here */                            \
                    _mm512_storeu_ps(out + r * out_step + step * v, acc[r][v]);                                 \
                else                                                                                            \
                    _mm512_mask_storeu_ps(out + r * out_step + step * v, last, acc[r][v]);                      \
            }                                                                                                   \
    }
#define DIRECT_TILES_TO_6(OB)                                                                                   \
    DIRECT_TILE(OB, 1) DIRECT_TILE(OB, 2) DIRECT_TILE(OB, 3) DIRECT_TILE(OB, 4) DIRECT_TILE(OB, 5)              \
    DIRECT_TILE(OB, 6)
DIRECT_TILES_TO_6(2)
DIRECT_TILE(2, 7)
DIRECT_TILE(2, 8)
DIRECT_TILE(2, 9)
DIRECT_TILE(2, 10)
DIRECT_TILES_TO_6(3)
DIRECT_TILE(3, 7)
DIRECT_TILES_TO_6(4)
DIRECT_TILE(6, 1)
DIRECT_TILE(6, 2)
DIRECT_TILE(6, 3)
DIRECT_TILE(6, 4)
typedef void (*direct_tile_fn)(const float *, int64_t, const int32_t *, int64_t, const float *, int64_t,
                               const float *, float *, int64_t, __mmask16);
#define DIRECT_NV 10 /* most vectors in a tile (2 channels × 10) */
/* [OB][NV]: the widest tile of each row count holds OB·NV accumulators and
 * NV input vectors in the 32 registers, with one left for the broadcast */
static const direct_tile_fn direct_tiles[7][DIRECT_NV + 1] = {
    {NULL},
    {NULL}, /* one channel per tile keeps the GEMM (tg_conv_direct_path) */
    {NULL, direct_tile_2_1, direct_tile_2_2, direct_tile_2_3, direct_tile_2_4, direct_tile_2_5, direct_tile_2_6,
     direct_tile_2_7, direct_tile_2_8, direct_tile_2_9, direct_tile_2_10},
    {NULL, direct_tile_3_1, direct_tile_3_2, direct_tile_3_3, direct_tile_3_4, direct_tile_3_5, direct_tile_3_6,
     direct_tile_3_7},
    {NULL, direct_tile_4_1, direct_tile_4_2, direct_tile_4_3, direct_tile_4_4, direct_tile_4_5, direct_tile_4_6},
    {NULL},
    {NULL, direct_tile_6_1, direct_tile_6_2, direct_tile_6_3, direct_tile_6_4},
};
static const int direct_max_nv[7] = {0, 0, 10, 7, 6, 0, 4};

/* The run [t0, t1) of taps that can read data for output rows [y0, y1]:
 * taps are ordered by kernel row i, and a row whose input rows y + i·dh are
 * all padding adds only zeros (the transposed conv's input is mostly padding). */
static void tap_run(const flat_geom *f, int64_t y0, int64_t y1, int64_t *t0, int64_t *t1)
{
    int64_t lo = f->top - y1 <= 0 ? 0 : (f->top - y1 + f->dh - 1) / f->dh;
    int64_t last = f->top + f->in_rows - 1 - y0, hi = last < 0 ? -1 : last / f->dh;
    hi = hi < f->kh - 1 ? hi : f->kh - 1;
    int64_t per_row = f->taps / f->kh;
    *t0 = lo <= hi ? lo * per_row : 0;
    *t1 = lo <= hi ? (hi + 1) * per_row : 0;
}

/* Tile u of n over `units` (vectors, or rows when by_rows): [u0, u1), the
 * output rows it covers, and its taps. */
static void direct_tile_span(const flat_geom *f, bool by_rows, int64_t units, int64_t u, int64_t n, int64_t *u0,
                             int64_t *u1, int64_t *t0, int64_t *t1)
{
    *u0 = units * u / n, *u1 = units * (u + 1) / n;
    int64_t q_end = 16 * *u1 < f->oh * f->wp ? 16 * *u1 : f->oh * f->wp;
    int64_t y0 = by_rows ? *u0 : 16 * *u0 / f->wp, y1 = by_rows ? *u1 - 1 : (q_end - 1) / f->wp;
    tap_run(f, y0, y1, t0, t1);
}

/* Vector-taps of a tiling: its cost. */
static int64_t direct_tiling_work(const flat_geom *f, bool by_rows, int nv)
{
    int64_t units = by_rows ? f->oh : f->qv, n = (units + nv - 1) / nv, work = 0;
    for (int64_t u = 0; u < n; u++) {
        int64_t u0, u1, t0, t1;
        direct_tile_span(f, by_rows, units, u, n, &u0, &u1, &t0, &t1);
        work += (u1 - u0) * (t1 - t0);
    }
    return work;
}

/* Tiles are even runs of vectors over the flattened positions or, with rows
 * of 16 outputs or fewer, of rows one vector each (a tile of fewer rows
 * skips more padding taps): whichever does less work. Once per call. */
static void direct_choose_tiling(flat_geom *f)
{
    int nv = direct_max_nv[direct_rows(f->out_c)];
    f->by_rows = f->ow <= 16 && direct_tiling_work(f, true, nv) < direct_tiling_work(f, false, nv);
}

/* out[o, q] = Σ_t w[o, t]·in[q + off_t] for every output channel, OB at a
 * time, in the tiles direct_choose_tiling picked. */
static void direct_correlate(const flat_geom *f, const float *in, const int32_t *off, const float *w, float *out)
{
    int ob = direct_rows(f->out_c), nv = direct_max_nv[ob];
    bool by_rows = f->by_rows;
    int64_t units = by_rows ? f->oh : f->qv, step = by_rows ? f->wp : 16, n = (units + nv - 1) / nv;
    for (int64_t o = 0; o < f->out_c; o += ob)
        for (int64_t u = 0; u < n; u++) {
            int64_t u0, u1, t0, t1;
            direct_tile_span(f, by_rows, units, u, n, &u0, &u1, &t0, &t1);
            direct_tiles[ob][u1 - u0](in + step * u0, step, off + t0, t1 - t0, w + o * f->taps + t0, f->taps, NULL,
                                      out + o * f->row + step * u0, f->row, 0xFFFF);
        }
}

/* Forward of one image and group over its column-shifted planes:
 *   y[o, q] = bias[o] + Σ_t w[o, t]·planes[q + off_t]
 * over the OH·OW positions q, OB channels × NV vectors per tile, written
 * into y in place (w in the weight's own tap order). */
static void direct_forward_planes(const conv_geom *g, const float *planes, const int32_t *off, const float *w,
                                  const float *bias, float *y)
{
    int ob = direct_rows(g->og), nv = direct_max_nv[ob];
    int64_t pv = (g->p + 15) / 16, n = (pv + nv - 1) / nv;
    __mmask16 last = (__mmask16)(g->p % 16 ? (1u << (g->p % 16)) - 1 : 0xFFFF);
    for (int64_t o = 0; o < g->og; o += ob)
        for (int64_t u = 0; u < n; u++) {
            int64_t u0 = pv * u / n, u1 = pv * (u + 1) / n;
            direct_tiles[ob][u1 - u0](planes + 16 * u0, 16, off, g->k, w + o * g->k, g->k, bias ? bias + o : NULL,
                                      y + o * g->p + 16 * u0, g->p, u1 == pv ? last : 0xFFFF);
        }
}

/* dw[r·dw_row + u] += Σ over n_img images and the P positions of
 * dz[r]·in[off_u], for OB channels r and TB taps u (OB·TB = 24, 16 with
 * one channel), the lanes added up once per call; per vector OB + TB loads
 * feed OB·TB FMAs. The whole vectors run unmasked; the last P % 16
 * positions of each image are loaded with the lanes past P zeroed in both
 * operands (masked loads are slow here, and masked FMAs cost 5% on every
 * vector): what lies there (the next rows, or past the end of dy) must not
 * reach the sums, where 0·∞ would be NaN. HOLD_IN: the TB input
 * vectors stay in registers and the OB dz vectors stream past them (8
 * channels held would leave no register for the input). */
#define DIRECT_WGRAD_LOADU(p, m) _mm512_loadu_ps(p)
#define DIRECT_WGRAD_LOADZ(p, m) _mm512_maskz_loadu_ps(m, p)
/* One vector v of dz[r] · x[off_u] into acc, loading with LOAD (mask m). */
#define DIRECT_WGRAD_STEP(OB, TB, HOLD_IN, LOAD)                                                                \
    do {                                                                                                        \
        if (HOLD_IN) {                                                                                          \
            __m512 xv[TB];                                                                                      \
            for (int u = 0; u < TB; u++) {                                                                      \
                xv[u] = LOAD(x + off[u] + 16 * v, m);                                                           \
                IN_REGISTER(xv[u]);                                                                             \
            }                                                                                                   \
            for (int r = 0; r < OB; r++) {                                                                      \
                __m512 g = LOAD(d + r * dz_row + 16 * v, m);                                                    \
                IN_REGISTER(g);                                                                                 \
                for (int u = 0; u < TB; u++)                                                                    \
                    acc[r][u] = _mm512_fmadd_ps(g, xv[u], acc[r][u]);                                           \
            }                                                                                                   \
        } else {                                                                                                \
            __m512 g[OB];                                                                                       \
            for (int r = 0; r < OB; r++) {                                                                      \
                g[r] = LOAD(d + r * dz_row + 16 * v, m);                                                        \
                IN_REGISTER(g[r]);                                                                              \
            }                                                                                                   \
            for (int u = 0; u < TB; u++) {                                                                      \
                __m512 xv = LOAD(x + off[u] + 16 * v, m);                                                       \
                IN_REGISTER(xv);                                                                                \
                for (int r = 0; r < OB; r++)                                                                    \
                    acc[r][u] = _mm512_fmadd_ps(g[r], xv, acc[r][u]);                                           \
            }                                                                                                   \
        }                                                                                                       \
    } while (0)
#define DIRECT_WGRAD_TILE(OB, TB, HOLD_IN)                                                                      \
    TG_CONV_AVX512 static void direct_wgrad_##OB##_##TB(const float *in, int64_t in_step, const float *dz,       \
                                                        int64_t dz_row, int64_t dz_step, int64_t n_img,         \
                                                        int64_t p, const int32_t *off, float *dw, int64_t dw_row) \
    {                                                                                                           \
        __m512 acc[OB][TB];                                                                                     \
        _Pragma("GCC unroll 8") for (int r = 0; r < OB; r++)                                                    \
            _Pragma("GCC unroll 16") for (int u = 0; u < TB; u++)                                               \
                acc[r][u] = _mm512_setzero_ps();                                                                \
        int64_t whole = p / 16;                                                                                 \
        __mmask16 m = (__mmask16)((1u << (p % 16)) - 1);                                                        \
        for (int64_t n = 0; n < n_img; n++) {                                                                   \
            const float *x = in + n * in_step, *d = dz + n * dz_step;                                           \
            int64_t v = 0;                                                                                      \
            for (; v < whole; v++)                                                                              \
                DIRECT_WGRAD_STEP(OB, TB, HOLD_IN, DIRECT_WGRAD_LOADU);                                         \
            if (m)                                                                                              \
                DIRECT_WGRAD_STEP(OB, TB, HOLD_IN, DIRECT_WGRAD_LOADZ);                                         \
        }                                                                                                       \
        _Pragma("GCC unroll 8") for (int r = 0; r < OB; r++) /* unrolled, else acc lives on the stack */        \
            _Pragma("GCC unroll 16") for (int u = 0; u < TB; u++)                                               \
                dw[r * dw_row + u] += _mm512_reduce_add_ps(acc[r][u]);                                          \
    }
DIRECT_WGRAD_TILE(1, 1, false) DIRECT_WGRAD_TILE(1, 2, false) DIRECT_WGRAD_TILE(1, 3, false)
DIRECT_WGRAD_TILE(1, 4, false) DIRECT_WGRAD_TILE(1, 5, false) DIRECT_WGRAD_TILE(1, 6, false)
DIRECT_WGRAD_TILE(1, 7, false) DIRECT_WGRAD_TILE(1, 8, false) DIRECT_WGRAD_TILE(1, 9, false)
DIRECT_WGRAD_TILE(1, 10, false) DIRECT_WGRAD_TILE(1, 11, false) DIRECT_WGRAD_TILE(1, 12, false)
DIRECT_WGRAD_TILE(1, 13, false) DIRECT_WGRAD_TILE(1, 14, false) DIRECT_WGRAD_TILE(1, 15, false)
DIRECT_WGRAD_TILE(1, 16, false)
DIRECT_WGRAD_TILE(2, 1, false) DIRECT_WGRAD_TILE(2, 2, false) DIRECT_WGRAD_TILE(2, 3, false)
DIRECT_WGRAD_TILE(2, 4, false) DIRECT_WGRAD_TILE(2, 5, false) DIRECT_WGRAD_TILE(2, 6, false)
DIRECT_WGRAD_TILE(2, 7, false) DIRECT_WGRAD_TILE(2, 8, false) DIRECT_WGRAD_TILE(2, 9, false)
DIRECT_WGRAD_TILE(2, 10, false) DIRECT_WGRAD_TILE(2, 11, false) DIRECT_WGRAD_TILE(2, 12, false)
DIRECT_WGRAD_TILE(3, 1, false) DIRECT_WGRAD_TILE(3, 2, false) DIRECT_WGRAD_TILE(3, 3, false)
DIRECT_WGRAD_TILE(3, 4, false) DIRECT_WGRAD_TILE(3, 5, false) DIRECT_WGRAD_TILE(3, 6, false)
DIRECT_WGRAD_TILE(3, 7, false) DIRECT_WGRAD_TILE(3, 8, false)
DIRECT_WGRAD_TILE(4, 1, false) DIRECT_WGRAD_TILE(4, 2, false) DIRECT_WGRAD_TILE(4, 3, false)
DIRECT_WGRAD_TILE(4, 4, false) DIRECT_WGRAD_TILE(4, 5, false) DIRECT_WGRAD_TILE(4, 6, false)
DIRECT_WGRAD_TILE(6, 1, false) DIRECT_WGRAD_TILE(6, 2, false) DIRECT_WGRAD_TILE(6, 3, false)
DIRECT_WGRAD_TILE(6, 4, false)
DIRECT_WGRAD_TILE(8, 1, true) DIRECT_WGRAD_TILE(8, 2, true) DIRECT_WGRAD_TILE(8, 3, true)
/* [OB][TB]: the widest tile of each channel count, and the narrower ones
 * for the taps left over */
static const direct_wgrad_fn direct_wgrads[9][17] = {
    [1] = {NULL, direct_wgrad_1_1, direct_wgrad_1_2, direct_wgrad_1_3, direct_wgrad_1_4, direct_wgrad_1_5,
           direct_wgrad_1_6, direct_wgrad_1_7, direct_wgrad_1_8, direct_wgrad_1_9, direct_wgrad_1_10,
           direct_wgrad_1_11, direct_wgrad_1_12, direct_wgrad_1_13, direct_wgrad_1_14, direct_wgrad_1_15,
           direct_wgrad_1_16},
    [2] = {NULL, direct_wgrad_2_1, direct_wgrad_2_2, direct_wgrad_2_3, direct_wgrad_2_4, direct_wgrad_2_5,
           direct_wgrad_2_6, direct_wgrad_2_7, direct_wgrad_2_8, direct_wgrad_2_9, direct_wgrad_2_10,
           direct_wgrad_2_11, direct_wgrad_2_12},
    [3] = {NULL, direct_wgrad_3_1, direct_wgrad_3_2, direct_wgrad_3_3, direct_wgrad_3_4, direct_wgrad_3_5,
           direct_wgrad_3_6, direct_wgrad_3_7, direct_wgrad_3_8},
    [4] = {NULL, direct_wgrad_4_1, direct_wgrad_4_2, direct_wgrad_4_3, direct_wgrad_4_4, direct_wgrad_4_5,
           direct_wgrad_4_6},
    [6] = {NULL, direct_wgrad_6_1, direct_wgrad_6_2, direct_wgrad_6_3, direct_wgrad_6_4},
    [8] = {NULL, direct_wgrad_8_1, direct_wgrad_8_2, direct_wgrad_8_3},
};

/* Backward weight with 16 output channels in the lanes (og a multiple of
 * 16, column dilation 1): over the real output positions only,
 *   dwT[(r, j)][o] += Σ_{oy, ox} dyT[oy·OW + ox][o] · row_r[oy·Wp + ox + j]
 * for R kernel rows r = (c, i) (row_r = in + c·Hp·Wp + i·dh·Wp) and the KW
 * columns j: R·KW accumulators, one broadcast per FMA, no dropped
 * positions and no horizontal sums. */
#define DIRECT_WGRAD16(KW, R)                                                                                   \
    TG_CONV_AVX512 static void direct_wgrad16_##KW(const float *const *rows, const float *dyT, int64_t oh,        \
                                                   int64_t ow, int64_t wp, float *dwT)                           \
    {                                                                                                           \
        __m512 acc[R][KW];                                                                                      \
        for (int r = 0; r < R; r++)                                                                             \
            for (int j = 0; j < KW; j++)                                                                        \
                acc[r][j] = _mm512_loadu_ps(dwT + (r * KW + j) * 16);                                           \
        const float *row[R];                                                                                    \
        for (int r = 0; r < R; r++)                                                                             \
            row[r] = rows[r];                                                                                   \
        for (int64_t oy = 0; oy < oh; oy++, dyT += 16 * ow)                                                     \
            for (int64_t ox = 0; ox < ow; ox++) {                                                               \
                __m512 g = _mm512_loadu_ps(dyT + 16 * ox);                                                      \
                int64_t q = oy * wp + ox;                                                                       \
                __asm__("" : "+r"(q)); /* else GCC carries loads over to the next ox, in spilled scalars */    \
                for (int r = 0; r < R; r++)                                                                     \
                    for (int j = 0; j < KW; j++)                                                                \
                        acc[r][j] = _mm512_fmadd_ps(g, _mm512_set1_ps(row[r][q + j]), acc[r][j]);               \
            }                                                                                                   \
        for (int r = 0; r < R; r++)                                                                             \
            for (int j = 0; j < KW; j++)                                                                        \
                _mm512_storeu_ps(dwT + (r * KW + j) * 16, acc[r][j]);                                           \
    }
DIRECT_WGRAD16(3, 7)
DIRECT_WGRAD16(5, 5)

/* Forward with 16 output channels in the lanes (og a multiple of 16):
 *   tmp[(a, x)][o] = Σ_t wT[t][o] · row_a[x + off_t]
 * for two output rows a (row_a = in + oy_a·Wp) and NP positions x of each:
 * 2·NP accumulators, one broadcast per FMA, no dropped positions. */
#define DIRECT_FWD16(NP)                                                                                        \
    TG_CONV_AVX512 static void direct_fwd16_##NP(const float *row0, const float *row1, const int32_t *off,       \
                                                 int64_t taps, const float *wT, float *tmp)                     \
    {                                                                                                           \
        __m512 acc[2][NP];                                                                                      \
        for (int x = 0; x < NP; x++)                                                                            \
            acc[0][x] = acc[1][x] = _mm512_setzero_ps();                                                        \
        for (int64_t t = 0; t < taps; t++) {                                                                    \
            const float *p0 = row0 + off[t], *p1 = row1 + off[t];                                               \
            __m512 wv = _mm512_loadu_ps(wT + 16 * t);                                                           \
            for (int x = 0; x < NP; x++) {                                                                      \
                acc[0][x] = _mm512_fmadd_ps(wv, _mm512_set1_ps(p0[x]), acc[0][x]);                              \
                acc[1][x] = _mm512_fmadd_ps(wv, _mm512_set1_ps(p1[x]), acc[1][x]);                              \
            }                                                                                                   \
        }                                                                                                       \
        for (int a = 0; a < 2; a++)                                                                             \
            for (int x = 0; x < NP; x++)                                                                        \
                _mm512_storeu_ps(tmp + (a * NP + x) * 16, acc[a][x]);                                           \
    }
DIRECT_FWD16(1)
DIRECT_FWD16(2)
DIRECT_FWD16(3)
DIRECT_FWD16(4)
DIRECT_FWD16(5)
DIRECT_FWD16(6)
DIRECT_FWD16(7)
DIRECT_FWD16(8)
DIRECT_FWD16(9)
DIRECT_FWD16(10)
DIRECT_FWD16(11)
DIRECT_FWD16(12)
static const direct_fwd16_fn direct_fwd16s[DIRECT_FWD16_NP + 1] = {
    NULL, direct_fwd16_1, direct_fwd16_2, direct_fwd16_3, direct_fwd16_4, direct_fwd16_5, direct_fwd16_6,
    direct_fwd16_7, direct_fwd16_8, direct_fwd16_9, direct_fwd16_10, direct_fwd16_11, direct_fwd16_12};
/* [KW]: kernel rows per tile */
static const direct_wgrad16_fn direct_wgrad16s[6] = {NULL, NULL, NULL, direct_wgrad16_3, NULL, direct_wgrad16_5};
static const int direct_wgrad16_rows[6] = {0, 0, 0, 7, 0, 5};

/* Backward input of one output channel (the transposed conv of a 1-channel
 * input, LeNet's conv1) with a 5-row kernel, dilation 1:
 *   out[y, x] = Σ_{o, i, j} w[i·w_i + o·KW + j] · in[o, y + i, x + j]
 * for R rows y of NV vectors each. Each input row vector loaded feeds the
 * up to 5 output rows that read it (one FMA per kernel row, the 5 weights
 * of a column held in registers): 1 load per 5 FMAs, where the tiles of
 * direct_correlate with one channel would load once per FMA. */
#define DIRECT_BWI_KH 5
#define DIRECT_BWI_R 12 /* rows per tile, the most: 24 accumulators with NV = 2 */
#define DIRECT_BWI(NV, R)                                                                                       \
    TG_CONV_AVX512 static void direct_bwi_##NV##_##R(const float *in, int64_t plane, int64_t wp, int64_t n_in,  \
                                                     int64_t kw, const float *w, int64_t w_i, float *out,       \
                                                     int64_t out_w, __mmask16 last)                             \
    {                                                                                                           \
        __m512 acc[R][NV];                                                                                      \
        _Pragma("GCC unroll 16") for (int y = 0; y < R; y++)                                                    \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)                                                \
                acc[y][v] = _mm512_setzero_ps();                                                                \
        for (int64_t o = 0; o < n_in; o++)                                                                      \
            for (int64_t j = 0; j < kw; j++) {                                                                  \
                const float *p = in + o * plane + j, *wj = w + o * kw + j;                                      \
                __m512 wv[DIRECT_BWI_KH];                                                                       \
                _Pragma("GCC unroll 5") for (int i = 0; i < DIRECT_BWI_KH; i++)                                 \
                    wv[i] = _mm512_set1_ps(wj[i * w_i]);                                                        \
                _Pragma("GCC unroll 16") /* acc[r - i] must name registers */                                   \
                for (int r = 0; r < R + DIRECT_BWI_KH - 1; r++) {                                               \
                    __m512 x[NV];                                                                               \
                    _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) {                                      \
                        x[v] = _mm512_loadu_ps(p + r * wp + 16 * v);                                            \
                        IN_REGISTER(x[v]);                                                                      \
                    }                                                                                           \
                    _Pragma("GCC unroll 5")                                                                     \
                    for (int i = 0; i < DIRECT_BWI_KH; i++)                                                     \
                        if (r - i >= 0 && r - i < R)                                                            \
                            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)                                \
                                acc[r - i][v] = _mm512_fmadd_ps(x[v], wv[i], acc[r - i][v]);                    \
                }                                                                                               \
            }                                                                                                   \
        _Pragma("GCC unroll 16") for (int y = 0; y < R; y++)                                                    \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) {                                              \
                if (v < NV - 1)                                                                                 \
                    _mm512_storeu_ps(out + y * out_w + 16 * v, acc[y][v]);                                      \
                else                                                                                            \
                    _mm512_mask_storeu_ps(out + y * out_w + 16 * v, last, acc[y][v]);                           \
            }                                                                                                   \
    }
#define DIRECT_BWI_NV(NV)                                                                                       \
    DIRECT_BWI(NV, 1) DIRECT_BWI(NV, 2) DIRECT_BWI(NV, 3) DIRECT_BWI(NV, 4) DIRECT_BWI(NV, 5) DIRECT_BWI(NV, 6)  \
    DIRECT_BWI(NV, 7) DIRECT_BWI(NV, 8) DIRECT_BWI(NV, 9) DIRECT_BWI(NV, 10) DIRECT_BWI(NV, 11)                 \
    DIRECT_BWI(NV, 12)
DIRECT_BWI_NV(1)
DIRECT_BWI_NV(2)
typedef void (*direct_bwi_fn)(const float *, int64_t, int64_t, int64_t, int64_t, const float *, int64_t, float *,
                              int64_t, __mmask16);
/* [NV - 1][R] */
static const direct_bwi_fn direct_bwis[2][DIRECT_BWI_R + 1] = {
    {NULL, direct_bwi_1_1, direct_bwi_1_2, direct_bwi_1_3, direct_bwi_1_4, direct_bwi_1_5, direct_bwi_1_6,
     direct_bwi_1_7, direct_bwi_1_8, direct_bwi_1_9, direct_bwi_1_10, direct_bwi_1_11, direct_bwi_1_12},
    {NULL, direct_bwi_2_1, direct_bwi_2_2, direct_bwi_2_3, direct_bwi_2_4, direct_bwi_2_5, direct_bwi_2_6,
     direct_bwi_2_7, direct_bwi_2_8, direct_bwi_2_9, direct_bwi_2_10, direct_bwi_2_11, direct_bwi_2_12}};
#else
typedef void (*direct_bwi_fn)(const float *, int64_t, int64_t, int64_t, int64_t, const float *, int64_t, float *,
                              int64_t, uint16_t);
#define DIRECT_BWI_KH 5
#define DIRECT_BWI_R 12
static const direct_bwi_fn direct_bwis[2][DIRECT_BWI_R + 1] = {{NULL}};
static const direct_fwd16_fn direct_fwd16s[DIRECT_FWD16_NP + 1] = {NULL};
static const direct_wgrad16_fn direct_wgrad16s[6] = {NULL};
static const int direct_wgrad16_rows[6] = {0};
static const direct_wgrad_fn direct_wgrads[9][17] = {{NULL}};
static void direct_copy_rows(const float *src, int64_t src_step, float *dst, int64_t dst_step, int64_t rows, int64_t w,
                             const float *add)
{
    (void)src, (void)src_step, (void)dst, (void)dst_step, (void)rows, (void)w, (void)add;
}
static void direct_correlate(const flat_geom *f, const float *in, const int32_t *off, const float *w, float *out)
{
    (void)f, (void)in, (void)off, (void)w, (void)out;
}
static void direct_choose_tiling(flat_geom *f) { f->by_rows = false; }
static void shift_planes(const conv_geom *g, const float *x, float *planes) { (void)g, (void)x, (void)planes; }
static void direct_forward_planes(const conv_geom *g, const float *planes, const int32_t *off, const float *w,
                                  const float *bias, float *y)
{
    (void)g, (void)planes, (void)off, (void)w, (void)bias, (void)y;
}
#endif

/* Whether the backward input runs direct_bwi: output channels that give
 * tiles of one channel (1, 5, 7, ...), a 5-row kernel, dilation 1, rows of
 * dx no wider than two vectors. */
static bool direct_bwi_fits(const conv_geom *g)
{
    return direct_rows(g->cg) == 1 && g->kh == DIRECT_BWI_KH && g->dh == 1 && g->dw == 1 && g->w <= 32 &&
           direct_bwis[0][1];
}

/* dst[c, top + y, left + x] = src[c, y, x]; the rest of dst (the zero
 * padding and slack) is zeroed once per call and never written. */
static void pad_planes(const float *src, int64_t c, int64_t h, int64_t w, int64_t top, int64_t left,
                       const flat_geom *f, float *dst)
{
    for (int64_t ch = 0; ch < c; ch++)
        direct_copy_rows(src + ch * h * w, w, dst + (ch * f->hp + top) * f->wp + left, f->wp, h, w, NULL);
}

/* Backward-weight tiles: OB channels × TB taps (24 accumulators, 16 with
 * one channel), the taps left over in a narrower tile. A tile of n taps
 * costs max(OB·n FMAs, OB + n loads) per vector; the shape with the least
 * cost over og channels and k taps, then the fewest loads: LeNet's conv1
 * (6 channels, 25 taps) runs 6×4 tiles and a 6×1, the wide CNN's conv1
 * (32, 9) 8×3. */
static void direct_wgrad_tile(int64_t og, int64_t k, int *ob, int *tb)
{
    static const int shapes[][2] = {{6, 4}, {4, 6}, {3, 8}, {2, 12}, {8, 3}, {1, 16}};
    int64_t best = -1, best_loads = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        int o = shapes[i][0], t = shapes[i][1];
        if (og % o)
            continue;
        int64_t r = k % t, whole = k / t;
        int64_t cost = og / o * (whole * (o * t > o + t ? o * t : o + t) + (r ? (o * r > o + r ? o * r : o + r) : 0));
        int64_t loads = og / o * (whole * (o + t) + (r ? o + r : 0));
        if (best < 0 || cost < best || (cost == best && loads < best_loads))
            best = cost, best_loads = loads, *ob = o, *tb = t;
    }
}

typedef struct {
    const conv_geom *g;
    flat_geom f;
    conv_pass pass;
    const float *x, *w, *bias, *dy;
    float *out;           /* y, dx or dw */
    const int32_t *off;   /* per tap */
    int64_t planes_len;   /* forward, backward weight: floats of one image's planes (shift_planes) */
    const float *wtap;    /* forward, backward input: the weights in tap order, [groups][out_c][taps] */
    const float *wT16;    /* forward with channels in lanes: [groups][og/16][taps][16] */
    float *scratch;       /* per worker: scratch_len floats */
    int64_t scratch_len;
    float *partial;       /* backward weight with several workers: a dw per worker */
} direct_job;

/* The padded input of image b, group gr, for direct_fwd16 and
 * direct_wgrad16: without padding, the image itself, as long as the reads
 * past its end stay inside x; else copied into `scratch` (NULL: only asks,
 * returns NULL). */
static const float *direct_input(const direct_job *job, int64_t b, int64_t gr, float *scratch)
{
    const conv_geom *g = job->g;
    int64_t base = (b * g->c + gr * g->cg) * g->h * g->w;
    if (g->ph == 0 && g->pw == 0 && base + job->f.in_len <= g->n * g->c * g->h * g->w)
        return job->x + base;
    if (scratch)
        pad_planes(job->x + base, g->cg, g->h, g->w, g->ph, g->pw, &job->f, scratch);
    return scratch;
}

/* Forward of image b over its planes, every group. */
static void direct_forward_image(void *arg, int b, int n_tasks, int worker)
{
    (void)n_tasks;
    const direct_job *job = arg;
    const conv_geom *g = job->g;
    float *planes = job->scratch + (int64_t)worker * job->scratch_len;
    for (int64_t gr = 0; gr < g->groups; gr++) {
        shift_planes(g, job->x + (b * g->c + gr * g->cg) * g->h * g->w, planes);
        const float *bias = job->bias ? job->bias + gr * g->og : NULL;
        direct_forward_planes(g, planes, job->off, job->w + gr * g->og * g->k, bias,
                              job->out + (b * g->o + gr * g->og) * g->p);
    }
}

/* Forward with direct_fwd16 or backward input of one image, every group. */
static void direct_image(void *arg, int b, int n_tasks, int worker)
{
    (void)n_tasks;
    const direct_job *job = arg;
    const conv_geom *g = job->g;
    const flat_geom *f = &job->f;
    float *in = job->scratch + (int64_t)worker * job->scratch_len, *res = in + f->in_len;
    int64_t row = f->row;
    for (int64_t gr = 0; gr < g->groups; gr++) {
        float *out;
        const float *src = in;
        if (job->pass == CONV_FORWARD) {
            src = direct_input(job, b, gr, in);
            out = job->out + (b * g->o + gr * g->og) * g->p;
        } else {
            int64_t eh = g->dh * (g->kh - 1) - g->ph, ew = g->dw * (g->kw - 1) - g->pw;
            pad_planes(job->dy + (b * g->o + gr * g->og) * g->p, g->og, g->oh, g->ow, eh, ew, f, in);
            out = job->out + (b * g->c + gr * g->cg) * g->h * g->w;
        }
        if (job->pass == CONV_BACKWARD_INPUT && direct_bwi_fits(g)) { /* rows of dx, one channel at a time */
            int64_t nv = (g->w + 15) / 16, n_tiles = (g->h + DIRECT_BWI_R - 1) / DIRECT_BWI_R;
            uint16_t last = (uint16_t)(g->w - 16 * (nv - 1) >= 16 ? 0xFFFF : (1u << (g->w - 16 * (nv - 1))) - 1);
            for (int64_t c = 0; c < f->out_c; c++)
                for (int64_t u = 0; u < n_tiles; u++) {
                    int64_t y0 = g->h * u / n_tiles, rows = g->h * (u + 1) / n_tiles - y0;
                    direct_bwis[nv - 1][rows](in + y0 * f->wp, f->hp * f->wp, f->wp, f->in_c, g->kw,
                                              job->wtap + (gr * f->out_c + c) * f->taps, f->in_c * g->kw,
                                              out + (c * g->h + y0) * g->w, g->w, last);
                }
            continue;
        }
        if (job->wT16) { /* 16 channels in lanes: outputs transposed out of tmp (+ bias) */
            for (int64_t ob = 0; ob < g->og; ob += 16) {
                const float *wT = job->wT16 + (gr * g->og + ob) * f->taps;
                int64_t n_x = (g->ow + DIRECT_FWD16_NP - 1) / DIRECT_FWD16_NP;
                for (int64_t oy = 0; oy < g->oh; oy += 2)
                    for (int64_t u = 0; u < n_x; u++) {
                        int64_t x0 = g->ow * u / n_x, np = g->ow * (u + 1) / n_x - x0, rows = oy + 1 < g->oh ? 2 : 1;
                        const float *r0 = src + oy * f->wp + x0;
                        direct_fwd16s[np](r0, rows == 2 ? r0 + f->wp : r0, job->off, f->taps, wT, res);
                        for (int l = 0; l < 16; l++) {
                            float add = job->bias ? job->bias[gr * g->og + ob + l] : 0;
                            for (int64_t a = 0; a < rows; a++) {
                                float *dst = out + (ob + l) * g->p + (oy + a) * g->ow + x0;
                                for (int64_t x = 0; x < np; x++)
                                    dst[x] = job->bias ? res[(a * np + x) * 16 + l] + add : res[(a * np + x) * 16 + l];
                            }
                        }
                    }
            }
            continue;
        }
        const float *w = job->wtap + gr * f->out_c * f->taps;
        direct_correlate(f, src, job->off, w, res);
        /* keep the first ow of every wp columns (+ bias) */
        for (int64_t o = 0; o < f->out_c; o++)
            direct_copy_rows(res + o * row, f->wp, out + o * f->oh * f->ow, f->ow, f->oh, f->ow,
                             job->bias ? job->bias + gr * g->og + o : NULL);
    }
}

/* Backward weight over images [chunk·DIRECT_CHUNK, +DIRECT_CHUNK), every
 * group, into the worker's dw: the chunk's planes one image after another,
 * dy read in place, and per tile of OB channels × TB taps one pass over the
 * chunk (its lane sums added up once). */
static void direct_wgrad_chunk(void *arg, int chunk, int n_tasks, int worker)
{
    (void)n_tasks;
    const direct_job *job = arg;
    const conv_geom *g = job->g;
    int64_t b0 = (int64_t)chunk * DIRECT_CHUNK, n_img = g->n - b0 < DIRECT_CHUNK ? g->n - b0 : DIRECT_CHUNK;
    float *planes = job->scratch + (int64_t)worker * job->scratch_len;
    float *dw = job->partial ? job->partial + (int64_t)worker * g->o * g->k : job->out;
    int ob = 1, tb = 16; /* direct_wgrad_tile sets both: 1×16 fits every count */
    direct_wgrad_tile(g->og, g->k, &ob, &tb);
    for (int64_t gr = 0; gr < g->groups; gr++) {
        for (int64_t n = 0; n < n_img; n++)
            shift_planes(g, job->x + ((b0 + n) * g->c + gr * g->cg) * g->h * g->w, planes + n * job->planes_len);
        const float *dy = job->dy + (b0 * g->o + gr * g->og) * g->p;
        float *dwg = dw + gr * g->og * g->k;
        for (int64_t o = 0; o < g->og; o += ob)
            for (int64_t t = 0; t < g->k; t += tb) {
                int n_t = g->k - t < tb ? (int)(g->k - t) : tb; /* the last tile: the taps left */
                direct_wgrads[ob][n_t](planes, job->planes_len, dy + o * g->p, g->p, g->o * g->p, n_img, g->p,
                                       job->off + t, dwg + o * g->k + t, g->k);
            }
    }
}

/* Floats of a tile's sums (R·KW·16, 5·5·16 the most) when it runs past the last kernel row. */
#define DIRECT_WGRAD16_SPARE (25 * 16)

/* Whether the backward weight takes direct_wgrad16 (output channels in lanes). */
static bool direct_wgrad16_fits(const conv_geom *g)
{
    if (g->og % 16 || g->dw != 1 || g->kw >= 6 || !direct_wgrad16s[g->kw])
        return false;
    /* tiles of R kernel rows: at most a quarter of their rows idle (the
     * wide CNN's 1→32 3×3 has 3 rows for tiles of 7, and keeps the other kernel) */
    int64_t rows = g->cg * g->kh, R = direct_wgrad16_rows[g->kw], tiles = (rows + R - 1) / R;
    return 4 * rows >= 3 * tiles * R;
}

/* Backward weight of image b with direct_wgrad16, every group, into the
 * worker's dwT [groups][og/16][K][16] (its scratch after in and dyT). */
static void direct_wgrad16_image(void *arg, int b, int n_tasks, int worker)
{
    (void)n_tasks;
    const direct_job *job = arg;
    const conv_geom *g = job->g;
    const flat_geom *f = &job->f;
    int R = direct_wgrad16_rows[g->kw], n_rows = (int)(g->cg * g->kh);
    float *in = job->scratch + (int64_t)worker * job->scratch_len, *dyT = in + f->in_len;
    float *dwT = dyT + g->og * g->p, *spare = dwT + g->o * g->k; /* spare: sums of rows past the last */
    for (int64_t gr = 0; gr < g->groups; gr++) {
        const float *src = direct_input(job, b, gr, in);
        for (int64_t ob = 0; ob < g->og; ob += 16) {
            /* dyT[p][l] = dy[b, gr·og + ob + l, p] */
            const float *dy = job->dy + (b * g->o + gr * g->og + ob) * g->p;
            for (int64_t p = 0; p < g->p; p++)
                for (int l = 0; l < 16; l++)
                    dyT[p * 16 + l] = dy[l * g->p + p];
            float *dwTb = dwT + (gr * g->og + ob) * g->k;
            for (int r0 = 0; r0 < n_rows; r0 += R) {
                const float *rows[8];
                for (int r = 0; r < R; r++) { /* rows past the last repeat row 0 into spare */
                    int rr = r0 + r < n_rows ? r0 + r : 0;
                    rows[r] = src + (rr / g->kh) * f->hp * f->wp + (rr % g->kh) * g->dh * f->wp;
                }
                bool whole = r0 + R <= n_rows;
                float *target = whole ? dwTb + (int64_t)r0 * g->kw * 16 : spare;
                if (!whole) /* start from the real rows' sums */
                    memcpy(spare, dwTb + (int64_t)r0 * g->kw * 16, (size_t)((n_rows - r0) * g->kw * 16) * sizeof *spare);
                direct_wgrad16s[g->kw](rows, dyT, g->oh, g->ow, f->wp, target);
                if (!whole)
                    memcpy(dwTb + (int64_t)r0 * g->kw * 16, spare, (size_t)((n_rows - r0) * g->kw * 16) * sizeof *spare);
            }
        }
    }
}

/* Whether the forward takes direct_fwd16 (output channels in lanes): with
 * few taps (the wide CNN's 1→32 3×3: 9) its scatter of the outputs out of
 * the lanes outweighs the products (30 GFLOP/s against the planes' 88). */
static bool direct_fwd16_fits(const conv_geom *g) { return g->og % 16 == 0 && g->k >= 16 && direct_fwd16s[1]; }

/* Runs pass with the direct kernels; false (error set) when step memory runs out. */
bool tg_conv_direct_run(tg_ctx *ctx, const conv_geom *g, conv_pass pass, const float *x, const float *w,
                       const float *bias, const float *dy, float *out)
{
    tg_pool *pool = ctx->pool;
    int threads = tg_pool_threads(pool);
    direct_job job = {.g = g, .f = flat_geometry(g, pass), .pass = pass, .x = x, .w = w, .bias = bias, .dy = dy,
                      .out = out};
    const flat_geom *f = &job.f;
    bool lanes16 = pass == CONV_BACKWARD_WEIGHT && direct_wgrad16_fits(g);
    bool fwd16 = pass == CONV_FORWARD && direct_fwd16_fits(g);
    /* the forward and backward weight over column-shifted planes (shift_planes) */
    bool planes = (pass == CONV_FORWARD && !fwd16) || (pass == CONV_BACKWARD_WEIGHT && !lanes16);
    int64_t hp = g->h + 2 * g->ph;
    job.planes_len = (g->cg * g->kw * hp * g->ow + 16 + 15) & ~(int64_t)15; /* 16 of slack for the last reads */
    int n_tasks = pass == CONV_BACKWARD_WEIGHT && !lanes16 ? (int)((g->n + DIRECT_CHUNK - 1) / DIRECT_CHUNK) : (int)g->n;
    bool split = threads > 1 && n_tasks >= threads && 2.0 * (double)(g->o * g->k * g->p) >= 1e6 / 8;
    int workers = split ? threads : 1;
    job.scratch_len = lanes16                        ? f->in_len + g->og * g->p + g->o * g->k + DIRECT_WGRAD16_SPARE
                      : pass == CONV_BACKWARD_WEIGHT ? DIRECT_CHUNK * job.planes_len
                      : planes                       ? job.planes_len
                                                     : f->in_len + f->out_c * f->row;
    job.scratch_len = (job.scratch_len + 15) & ~(int64_t)15;
    int32_t *off = tg_arena_alloc(ctx, (size_t)f->taps * sizeof *off, 64);
    job.scratch = tg_arena_alloc(ctx, (size_t)(job.scratch_len * workers) * sizeof(float), 64);
    if (!off || !job.scratch)
        return false;
    /* padding and slack: zero for every image of the call */
    memset(job.scratch, 0, (size_t)(job.scratch_len * workers) * sizeof(float));
    /* taps (c, i, j) over the input's channels c: the weight's order over the
     * planes; kernel row first, (i, c, j), over a padded input, whose tiles
     * skip whole kernel rows of padding (tap_run) */
    int64_t t = 0, plane = f->hp * f->wp, kk = g->kh * g->kw;
    if (planes)
        for (int64_t c = 0; c < g->cg; c++)
            for (int64_t i = 0; i < g->kh; i++)
                for (int64_t j = 0; j < g->kw; j++)
                    off[t++] = (int32_t)(((c * g->kw + j) * hp + i * g->dh) * g->ow);
    else
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t c = 0; c < f->in_c; c++)
                for (int64_t j = 0; j < g->kw; j++)
                    off[t++] = (int32_t)(c * plane + i * g->dh * f->wp + j * g->dw);
    job.off = off;
    if (pass != CONV_BACKWARD_WEIGHT && !planes) { /* the weights reordered for a padded input */
        if (!(pass == CONV_BACKWARD_INPUT && direct_bwi_fits(g))) /* the rows kernel has its own tiles */
            direct_choose_tiling(&job.f);
        /* weights in tap order, wt[gr][r][(i, c, j)] for output channel r:
         *   forward         w[gr·og + r][c][i][j]
         *   backward input  w[gr·og + c][r][kh-1-i][kw-1-j]  (flipped, transposed) */
        float *wt = tg_arena_alloc(ctx, (size_t)(g->o * g->k) * sizeof *wt, 64);
        if (!wt)
            return false;
        for (int64_t gr = 0; gr < g->groups; gr++)
            for (int64_t r = 0; r < f->out_c; r++)
                for (int64_t i = 0; i < g->kh; i++)
                    for (int64_t c = 0; c < f->in_c; c++)
                        for (int64_t j = 0; j < g->kw; j++)
                            wt[(gr * f->out_c + r) * f->taps + (i * f->in_c + c) * g->kw + j] =
                                pass == CONV_FORWARD
                                    ? w[(gr * g->og + r) * g->k + c * kk + i * g->kw + j]
                                    : w[(gr * g->og + c) * g->k + r * kk + (g->kh - 1 - i) * g->kw + g->kw - 1 - j];
        job.wtap = wt;
        if (fwd16) {
            /* wT16[gr][ob][t][l] = wt[gr][ob + l][t] */
            float *w16 = tg_arena_alloc(ctx, (size_t)(g->o * g->k) * sizeof *w16, 64);
            if (!w16)
                return false;
            for (int64_t o = 0; o < g->o; o++)
                for (int64_t t2 = 0; t2 < g->k; t2++)
                    w16[((o / 16) * g->k + t2) * 16 + o % 16] = wt[o * g->k + t2];
            job.wT16 = w16;
        }
    }
    if (pass != CONV_BACKWARD_WEIGHT) {
        void (*image)(void *, int, int, int) = planes ? direct_forward_image : direct_image;
        if (split)
            tg_pool_run(pool, n_tasks, image, &job);
        else
            for (int b = 0; b < n_tasks; b++)
                image(&job, b, n_tasks, 0);
        return true;
    }
    if (lanes16) { /* the scratch (dwT included) is zero; dw[o][t] = Σ workers' dwT[o/16][t][o%16] */
        if (split)
            tg_pool_run(pool, n_tasks, direct_wgrad16_image, &job);
        else
            for (int b = 0; b < n_tasks; b++)
                direct_wgrad16_image(&job, b, n_tasks, 0);
        int64_t dwT_at = f->in_len + g->og * g->p;
        for (int64_t o = 0; o < g->o; o++)
            for (int64_t t = 0; t < g->k; t++) {
                float total = 0;
                for (int k = 0; k < workers; k++)
                    total += job.scratch[k * job.scratch_len + dwT_at + ((o / 16) * g->k + t) * 16 + o % 16];
                out[o * g->k + t] = total;
            }
        return true;
    }
    size_t dw_size = (size_t)(g->o * g->k);
    if (workers > 1 && !(job.partial = tg_arena_alloc(ctx, dw_size * (size_t)workers * sizeof(float), 64)))
        return false;
    memset(job.partial ? job.partial : out, 0, dw_size * (size_t)workers * sizeof(float));
    if (split)
        tg_pool_run(pool, n_tasks, direct_wgrad_chunk, &job);
    else
        for (int c = 0; c < n_tasks; c++)
            direct_wgrad_chunk(&job, c, n_tasks, 0);
    if (job.partial) /* dw = Σ workers' sums */
        for (size_t i = 0; i < dw_size; i++) {
            float total = 0;
            for (int k = 0; k < workers; k++)
                total += job.partial[(size_t)k * dw_size + i];
            out[i] = total;
        }
    return true;
}

/* col[(c, i, j)][oy·OW + ox] = x[c, oy + i·dh, ox + j·dw] for stride 1 and
 * no padding (false otherwise, col untouched): rows of OW values copied as
 * whole vectors (direct_copy_rows), where the compiled im2col loop pays a
 * remainder per row of 11. */
bool tg_conv_im2col_f32(const conv_geom *g, const float *x, float *col)
{
    if (g->sh != 1 || g->sw != 1 || g->ph || g->pw || !tg_conv_avx512() || !direct_wgrads[1][16])
        return false;
    for (int64_t c = 0; c < g->cg; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++)
                direct_copy_rows(x + (c * g->h + i * g->dh) * g->w + j * g->dw, g->w,
                                 col + ((c * g->kh + i) * g->kw + j) * g->p, g->ow, g->oh, g->ow, NULL);
    return true;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* dx[c, y, x] = Σ_{i, j} dcol[(c, i, j)][(y - i·dh)·OW + x - j·dw] over the
 * taps whose position is inside, for stride 1 and no padding: each row of
 * dx summed in registers from masked loads of the dcol rows that reach it
 * and stored once, where col2im's loop adds every dcol row into dx (load,
 * add, store per row of OW values). dx is written, not added to. */
TG_CONV_AVX512 static void col2im_rows(const conv_geom *g, const float *dcol, float *dx)
{
    for (int64_t c = 0; c < g->cg; c++)
        for (int64_t y = 0; y < g->h; y++)
            for (int64_t x0 = 0; x0 < g->w; x0 += 16) {
                __m512 acc = _mm512_setzero_ps();
                for (int64_t i = 0; i < g->kh; i++) {
                    int64_t oy = y - i * g->dh;
                    if (oy < 0 || oy >= g->oh)
                        continue;
                    for (int64_t j = 0; j < g->kw; j++) {
                        /* lanes l with ox = x0 + l - j·dw in [0, OW) */
                        int64_t lo = j * g->dw - x0, hi = lo + g->ow;
                        lo = lo < 0 ? 0 : lo, hi = hi > 16 ? 16 : hi;
                        if (lo >= hi)
                            continue;
                        __mmask16 m = (__mmask16)(((1u << (hi - lo)) - 1) << lo);
                        const float *row = dcol + ((c * g->kh + i) * g->kw + j) * g->p + oy * g->ow + x0 - j * g->dw;
                        acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, row));
                    }
                }
                int64_t n = g->w - x0;
                _mm512_mask_storeu_ps(dx + (c * g->h + y) * g->w + x0, (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1),
                                      acc);
            }
}
#endif

/* col2im for stride 1 and no padding (f32, AVX-512) writing dx; false,
 * nothing written, otherwise. */
bool tg_conv_col2im_f32(const conv_geom *g, const float *dcol, float *dx)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (g->sh != 1 || g->sw != 1 || g->ph || g->pw || !tg_conv_avx512())
        return false;
    col2im_rows(g, dcol, dx);
    return true;
#else
    (void)g, (void)dcol, (void)dx;
    return false;
#endif
}
