/* Convolution: conv2d (conv1d is conv2d over a height of 1) and its two
 * backward ops, all routed through the blocked GEMM of ops/gemm.c.
 *
 * Per image and group, with P = OH·OW output positions and K = C/g·KH·KW
 * taps, the three products are (col = the image's patches, [K, P]):
 *   forward          y[O/g, P]  = W[O/g, K] · col[K, P]        (+ bias)
 *   backward_input   dcol[K, P] = Wᵀ[K, O/g] · dy[O/g, P],  dx = col2im(dcol)
 *   backward_weight  dW[O/g, K] += dy[O/g, P] · colᵀ[P, K]
 * Each backward op is the adjoint of the forward in one argument, so the
 * three close under differentiation (second derivatives are made of them). */
#include "autograd/internal.h"
#include "ops/conv.h"
#include "ops/gemm.h"

#include <stdio.h>
#include <string.h>

/* ---- geometry ---- */

typedef struct {
    int64_t n, c, h, w;     /* input [N, C, H, W] */
    int64_t o, kh, kw;      /* weight [O, C/groups, KH, KW] */
    int64_t oh, ow;         /* output [N, O, OH, OW] */
    int64_t sh, sw, ph, pw, dh, dw, groups;
    int64_t cg, og;         /* channels per group: in, out */
    int64_t k, p;           /* taps per group (C/g·KH·KW), output positions (OH·OW) */
} conv_geom;

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
#define TG_CONV_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
IM2COL(float, TG_CONV_AVX512, float_avx512)
IM2COL(double, TG_CONV_AVX512, double_avx512)
static bool conv_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
}
#else
#define im2col_float_avx512 im2col_float
#define im2col_double_avx512 im2col_double
#define col2im_float_avx512 col2im_float
#define col2im_double_avx512 col2im_double
static bool conv_avx512(void) { return false; }
#endif

static void im2col(tg_dtype dt, const conv_geom *g, const void *x, void *col)
{
    bool wide = conv_avx512();
    if (dt == TG_F32)
        (wide ? im2col_float_avx512 : im2col_float)(g, x, col);
    else
        (wide ? im2col_double_avx512 : im2col_double)(g, x, col);
}

static void col2im(tg_dtype dt, const conv_geom *g, const void *col, void *dx)
{
    bool wide = conv_avx512();
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

typedef enum { CONV_FORWARD, CONV_BACKWARD_INPUT, CONV_BACKWARD_WEIGHT } conv_pass;

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
} conv_job;

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
            memset(dxg, 0, (size_t)(g->cg * plane * es));
            gemm(job, worker, true, false, g->k, g->p, g->og, wg, g->k, dyg, g->p, 0, col, g->p);
            col2im(job->dt, g, col, dxg);
            break;
        }
        case CONV_BACKWARD_WEIGHT: { /* dw += dy·colᵀ */
            const char *xg = job->x + x_off, *dyg = job->dy + y_off;
            char *dw = (job->partial ? job->partial + (size_t)worker * (size_t)(g->o * g->k * es) : job->out);
            if (!direct && !job->cached)
                im2col(job->dt, g, xg, col);
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

/* ---- direct kernels: f32, AVX-512, stride 1, few channels ----
 * With a few channels (LeNet: 1→6, 6→16) the GEMM's panels are mostly
 * empty and building, packing and scattering patches costs more than the
 * products, so these kernels read a zero-padded copy of the image instead.
 * With stride 1 and the input zero-padded to [C, Hp, Wp], output (oy, ox)
 * reads in[c, oy + i·dh, ox + j·dw]; over flattened positions q = oy·Wp + ox
 *   out[o, q] = Σ_t w[o, t] · in[q + off_t],   off_t = c·Hp·Wp + i·dh·Wp + j·dw
 * for every tap t = (c, i, j): one contiguous run of the input per tap. The
 * columns ox ≥ OW of each Wp-wide row are computed and dropped (cheaper than
 * breaking the run at every row end), and so are the positions past OH·Wp
 * up to a whole 16-lane vector.
 *   forward          in = x padded by (ph, pw) (x itself without padding)
 *   backward_input   in = dy padded by (dh(KH-1) - ph, dw(KW-1) - pw),
 *                    w[c, (o, i, j)] = W[o, c, KH-1-i, KW-1-j]  (flipped, transposed)
 *   backward_weight  dW[o, t] += Σ_q dz[o, q] · in[q + off_t], with in as the
 *                    forward's and dz = dy spread to Wp-wide rows, the dropped
 *                    positions masked off
 * When the output channels come in sixteens (LeNet's conv2) the forward and
 * the weight gradient put them in the lanes instead (direct_fwd16,
 * direct_wgrad16): one broadcast input value per FMA, real positions only.
 * All are sums of the same products as the GEMM path's, in another order. */

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

/* The products that take the direct kernels: f32 on AVX-512, stride 1,
 * few channels (the wide CNN's 32→64 keeps the GEMM, which wins there; the
 * bound is measured, see bench_cnn --layers), and a backward-input padding
 * no wider than the kernel's reach. */
static bool direct_path(const conv_geom *g, tg_dtype dt, conv_pass pass)
{
    if (dt != TG_F32 || g->sh != 1 || g->sw != 1 || g->cg * g->og > 256 || !conv_avx512())
        return false;
    if (pass == CONV_BACKWARD_INPUT && (g->ph > g->dh * (g->kh - 1) || g->pw > g->dw * (g->kw - 1)))
        return false;
    flat_geom f = flat_geometry(g, pass);
    /* With few taps per output (the wide CNN's 1→32 3×3) writing the outputs
     * twice, flattened and then compacted, costs more than the GEMM's patches. */
    if (pass != CONV_BACKWARD_WEIGHT && f.taps < 16)
        return false;
    /* one output channel per tile leaves the loads, not the FMAs, to decide */
    if (pass != CONV_BACKWARD_WEIGHT && direct_rows(f.out_c) == 1)
        return false;
    return f.in_len < ((int64_t)1 << 28) && f.taps <= 4096;
}

#define DIRECT_CHUNK 8 /* images per backward-weight pass: their sums share one reduction */

typedef void (*direct_wgrad_fn)(const float *, int64_t, const float *, int64_t, int64_t, int64_t, int64_t,
                                const uint16_t *, const int32_t *, float *);
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

/* out[r, v·step + l] = Σ_t w[r·w_step + t]·in[v·step + l + off_t] for OB
 * channels r, NV vectors v and lanes l: OB·NV accumulators; per tap NV loads
 * feed OB·NV FMAs. step 16: consecutive positions; step Wp: one per row. */
#define DIRECT_TILE(OB, NV)                                                                                     \
    TG_CONV_AVX512 static void direct_tile_##OB##_##NV(const float *in, int64_t step, const int32_t *off,        \
                                                       int64_t taps, const float *w, int64_t w_step,            \
                                                       float *out, int64_t out_step)                            \
    {                                                                                                           \
        __m512 acc[OB][NV];                                                                                     \
        for (int r = 0; r < OB; r++)                                                                            \
            for (int v = 0; v < NV; v++)                                                                        \
                acc[r][v] = _mm512_setzero_ps();                                                                \
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
        for (int r = 0; r < OB; r++)                                                                            \
            for (int v = 0; v < NV; v++)                                                                        \
                _mm512_storeu_ps(out + r * out_step + step * v, acc[r][v]);                                     \
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
typedef void (*direct_tile_fn)(const float *, int64_t, const int32_t *, int64_t, const float *, int64_t, float *,
                               int64_t);
#define DIRECT_NV 10 /* most vectors in a tile (2 channels × 10) */
/* [OB][NV]: the widest tile of each row count holds OB·NV accumulators and
 * NV input vectors in the 32 registers, with one left for the broadcast */
static const direct_tile_fn direct_tiles[7][DIRECT_NV + 1] = {
    {NULL},
    {NULL}, /* one channel per tile keeps the GEMM (direct_path) */
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
            direct_tiles[ob][u1 - u0](in + step * u0, step, off + t0, t1 - t0, w + o * f->taps + t0, f->taps,
                                      out + o * f->row + step * u0, f->row);
        }
}

/* sums[r·TB + u] = Σ over n_img images and qv vectors of dz[r]·in[off_u]
 * for OB channels r and TB = 24/OB taps u: 24 accumulators, reduced once per
 * call; per vector OB + TB loads feed OB·TB FMAs. The lanes of dropped
 * columns are masked off (keep[v]), not just zero in dz: 0·∞ would be NaN
 * where the sum has no such term. */
#define DIRECT_WGRAD_TILE(OB, TB)                                                                               \
    TG_CONV_AVX512 static void direct_wgrad_##OB(const float *in, int64_t in_step, const float *dz,              \
                                                 int64_t dz_row, int64_t dz_step, int64_t n_img, int64_t qv,    \
                                                 const uint16_t *keep, const int32_t *off, float *sums)         \
    {                                                                                                           \
        __m512 acc[OB][TB];                                                                                     \
        for (int r = 0; r < OB; r++)                                                                            \
            for (int u = 0; u < TB; u++)                                                                        \
                acc[r][u] = _mm512_setzero_ps();                                                                \
        for (int64_t n = 0; n < n_img; n++) {                                                                   \
            const float *x = in + n * in_step, *d = dz + n * dz_step;                                           \
            for (int64_t v = 0; v < qv; v++) {                                                                  \
                __mmask16 m = (__mmask16)keep[v];                                                               \
                __m512 g[OB];                                                                                   \
                for (int r = 0; r < OB; r++) {                                                                  \
                    g[r] = _mm512_loadu_ps(d + r * dz_row + 16 * v);                                            \
                    IN_REGISTER(g[r]);                                                                          \
                }                                                                                               \
                for (int u = 0; u < TB; u++) {                                                                  \
                    __m512 xv = _mm512_loadu_ps(x + off[u] + 16 * v);                                           \
                    IN_REGISTER(xv);                                                                            \
                    for (int r = 0; r < OB; r++)                                                                \
                        acc[r][u] = _mm512_mask3_fmadd_ps(g[r], xv, acc[r][u], m);                              \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
        for (int r = 0; r < OB; r++)                                                                            \
            for (int u = 0; u < TB; u++)                                                                        \
                sums[r * TB + u] = _mm512_reduce_add_ps(acc[r][u]);                                             \
    }
DIRECT_WGRAD_TILE(1, 16)
DIRECT_WGRAD_TILE(2, 12)
DIRECT_WGRAD_TILE(3, 8)
DIRECT_WGRAD_TILE(4, 6)
DIRECT_WGRAD_TILE(6, 4)
static const direct_wgrad_fn direct_wgrads[7] = {NULL, direct_wgrad_1, direct_wgrad_2, direct_wgrad_3,
                                                 direct_wgrad_4, NULL, direct_wgrad_6};

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
#else
static const direct_fwd16_fn direct_fwd16s[DIRECT_FWD16_NP + 1] = {NULL};
static const direct_wgrad16_fn direct_wgrad16s[6] = {NULL};
static const int direct_wgrad16_rows[6] = {0};
static const direct_wgrad_fn direct_wgrads[7] = {NULL};
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
#endif

/* dst[c, top + y, left + x] = src[c, y, x]; the rest of dst (the zero
 * padding and slack) is zeroed once per call and never written. */
static void pad_planes(const float *src, int64_t c, int64_t h, int64_t w, int64_t top, int64_t left,
                       const flat_geom *f, float *dst)
{
    for (int64_t ch = 0; ch < c; ch++)
        direct_copy_rows(src + ch * h * w, w, dst + (ch * f->hp + top) * f->wp + left, f->wp, h, w, NULL);
}

/* Taps per backward-weight tile for OB channels. */
static int direct_wgrad_taps(int ob) { return ob == 1 ? 16 : 24 / ob; }

typedef struct {
    const conv_geom *g;
    flat_geom f;
    conv_pass pass;
    const float *x, *w, *bias, *dy;
    float *out;           /* y, dx or dw */
    const int32_t *off;   /* per tap */
    const uint16_t *keep; /* backward weight: per 16 positions, the lanes of kept columns */
    const float *wtap;    /* forward, backward input: the weights in tap order, [groups][out_c][taps] */
    const float *wT16;    /* forward with channels in lanes: [groups][og/16][taps][16] */
    float *scratch;       /* per worker: scratch_len floats */
    int64_t scratch_len;
    float *partial;       /* backward weight with several workers: a dw per worker */
} direct_job;

/* The padded input of image b, group gr, for the forward and backward
 * weight: without padding, the image itself, as long as the reads past its
 * end (the dropped positions') stay inside x; else copied into `scratch`
 * (NULL: only asks, returns NULL). */
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

/* Forward or backward input of one image, every group. */
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
 * group, into the worker's dw. */
static void direct_wgrad_chunk(void *arg, int chunk, int n_tasks, int worker)
{
    (void)n_tasks;
    const direct_job *job = arg;
    const conv_geom *g = job->g;
    const flat_geom *f = &job->f;
    int64_t b0 = (int64_t)chunk * DIRECT_CHUNK, n_img = g->n - b0 < DIRECT_CHUNK ? g->n - b0 : DIRECT_CHUNK;
    int64_t row = 16 * f->qv, dz_step = g->og * row;
    float *in = job->scratch + (int64_t)worker * job->scratch_len, *dz = in + DIRECT_CHUNK * f->in_len;
    float *dw = job->partial ? job->partial + (int64_t)worker * g->o * g->k : job->out;
    for (int64_t gr = 0; gr < g->groups; gr++) {
        /* the images themselves when direct_input reads the last one in place (then all are) */
        const float *src = direct_input(job, b0 + n_img - 1, gr, NULL) ? job->x + (b0 * g->c + gr * g->cg) * g->h * g->w
                                                                       : in;
        int64_t in_step = src == in ? f->in_len : g->c * g->h * g->w;
        for (int64_t n = 0; n < n_img; n++) {
            int64_t b = b0 + n;
            if (src == in)
                pad_planes(job->x + (b * g->c + gr * g->cg) * g->h * g->w, g->cg, g->h, g->w, g->ph, g->pw, f,
                           in + n * f->in_len);
            for (int64_t o = 0; o < g->og; o++) /* dz's dropped columns and tail stay zero */
                direct_copy_rows(job->dy + (b * g->o + gr * g->og + o) * g->p, g->ow, dz + n * dz_step + o * row,
                                 f->wp, g->oh, g->ow, NULL);
        }
        /* channels in blocks of ob (6, 4, 3, 2 or 1), taps in blocks of tb */
        int ob = direct_rows(g->og), tb = direct_wgrad_taps(ob);
        float *dwg = dw + gr * g->og * g->k;
        for (int64_t o = 0; o < g->og; o += ob)
            for (int64_t t = 0; t < g->k; t += tb) {
                int32_t off[16];
                for (int u = 0; u < tb; u++) /* taps past the last read the last one; their sums are dropped */
                    off[u] = job->off[t + u < g->k ? t + u : g->k - 1];
                float sums[24];
                direct_wgrads[ob](src, in_step, dz + o * row, row, dz_step, n_img, f->qv, job->keep, off, sums);
                for (int r = 0; r < ob; r++)
                    for (int u = 0; u < tb && t + u < g->k; u++)
                        dwg[(o + r) * g->k + t + u] += sums[r * tb + u];
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

/* Runs pass with the direct kernels; false (error set) when step memory runs out. */
static bool direct_run(tg_ctx *ctx, const conv_geom *g, conv_pass pass, const float *x, const float *w,
                       const float *bias, const float *dy, float *out)
{
    tg_pool *pool = ctx->pool;
    int threads = tg_pool_threads(pool);
    direct_job job = {g, flat_geometry(g, pass), pass, x, w, bias, dy, out, NULL, NULL, NULL, NULL, NULL, 0, NULL};
    const flat_geom *f = &job.f;
    bool lanes16 = pass == CONV_BACKWARD_WEIGHT && direct_wgrad16_fits(g);
    int n_tasks = pass == CONV_BACKWARD_WEIGHT && !lanes16 ? (int)((g->n + DIRECT_CHUNK - 1) / DIRECT_CHUNK) : (int)g->n;
    bool split = threads > 1 && n_tasks >= threads && 2.0 * (double)(g->o * g->k * g->p) >= 1e6 / 8;
    int workers = split ? threads : 1;
    job.scratch_len = lanes16 ? f->in_len + g->og * g->p + g->o * g->k + DIRECT_WGRAD16_SPARE
                      : pass == CONV_BACKWARD_WEIGHT ? DIRECT_CHUNK * (f->in_len + g->og * 16 * f->qv)
                                                     : f->in_len + f->out_c * f->row;
    job.scratch_len = (job.scratch_len + 15) & ~(int64_t)15;
    int32_t *off = tg_arena_alloc(ctx, (size_t)f->taps * sizeof *off, 64);
    job.scratch = tg_arena_alloc(ctx, (size_t)(job.scratch_len * workers) * sizeof(float), 64);
    if (!off || !job.scratch)
        return false;
    /* padding, slack and dz's dropped columns: zero for every image of the call */
    memset(job.scratch, 0, (size_t)(job.scratch_len * workers) * sizeof(float));
    /* taps (c, i, j) over the input's channels c: the weight's order for the
     * backward weight; kernel row first, (i, c, j), for the other two, whose
     * tiles skip whole kernel rows of padding (tap_run) */
    int64_t t = 0, plane = f->hp * f->wp, kk = g->kh * g->kw;
    for (int64_t a = 0; a < (pass == CONV_BACKWARD_WEIGHT ? f->in_c : g->kh); a++)
        for (int64_t b = 0; b < (pass == CONV_BACKWARD_WEIGHT ? g->kh : f->in_c); b++)
            for (int64_t j = 0; j < g->kw; j++) {
                int64_t c = pass == CONV_BACKWARD_WEIGHT ? a : b, i = pass == CONV_BACKWARD_WEIGHT ? b : a;
                off[t++] = (int32_t)(c * plane + i * g->dh * f->wp + j * g->dw);
            }
    job.off = off;
    if (pass != CONV_BACKWARD_WEIGHT) {
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
        if (pass == CONV_FORWARD && g->og % 16 == 0 && direct_fwd16s[1]) {
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
        if (split)
            tg_pool_run(pool, n_tasks, direct_image, &job);
        else
            for (int b = 0; b < n_tasks; b++)
                direct_image(&job, b, n_tasks, 0);
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
    uint16_t *keep = tg_arena_alloc(ctx, (size_t)f->qv * sizeof *keep, 64);
    if (!keep)
        return false;
    for (int64_t v = 0; v < f->qv; v++) {
        keep[v] = 0;
        for (int64_t lane = 0, q = 16 * v; lane < 16; lane++, q++)
            if (q < f->oh * f->wp && q % f->wp < f->ow)
                keep[v] |= (uint16_t)(1u << lane);
    }
    job.keep = keep;
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

/* Runs pass over the batch; false (error set) when step memory runs out.
 * cache: every image's patches, written by the forward pass, read by the
 * backward weight pass when `cached`. */
static bool conv_run(tg_ctx *ctx, const conv_geom *g, conv_pass pass, tg_dtype dt, const void *x, const void *w,
                     const void *bias, const void *dy, void *out, void *cache, bool cached)
{
    if (direct_path(g, dt, pass))
        return direct_run(ctx, g, pass, x, w, bias, dy, out);
    tg_pool *pool = ctx->pool;
    int threads = tg_pool_threads(pool);
    /* below ~1 MFLOP per image a task is too short to share */
    bool split = threads > 1 && g->n >= threads && 2.0 * (double)(g->o * g->k * g->p) >= 1e6 / 8;
    int workers = split ? threads : 1;
    size_t es = tg_dtype_size(dt), col_bytes = col_size(g, dt);
    conv_job job = {g, pass, dt, pool, split, x, w, bias, dy, out, NULL, col_bytes, NULL, cache, cached && cache};
    if (col_bytes && !cache && !(job.col = tg_arena_alloc(ctx, col_bytes * (size_t)workers, 64)))
        return false;
    if (pass == CONV_BACKWARD_WEIGHT) {
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
     * them (step memory) rather than build them twice. */
    size_t cache_bytes = (size_t)(g.n * g.groups) * col_size(&g, (tg_dtype)x->dtype);
    void *cache = NULL;
    if (cache_bytes && ctx->grad_enabled && weight->requires_grad &&
        !direct_path(&g, (tg_dtype)x->dtype, CONV_BACKWARD_WEIGHT) && !(cache = tg_arena_alloc(ctx, cache_bytes, 64)))
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
