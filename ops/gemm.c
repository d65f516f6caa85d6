/* tapegrad — blocked GEMM (GotoBLAS/BLIS scheme), row-major.
 *
 *   C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C
 *
 * Blocking, for one task's block of C (loops outermost first):
 *
 *   jc: n in steps of NC          Bp[KC×NC]  packed B block (L2/L3)
 *    pc: k in steps of KC         beta is applied on the first pc only
 *      pack op(B)[pc.., jc..] into NR-wide panels: for each p, NR columns
 *      ic: m in steps of MC       Ap[MC×KC]  packed A block (L2)
 *        pack op(A)[ic.., pc..] into MR-tall panels: for each p, MR rows
 *        jr: one B panel [KC×NR]  stays in L1 while ...
 *          ir: ... the A panels [MR×KC] stream past it from L2
 *            micro-kernel: C[MR×NR] (+)= A panel · B panel in registers;
 *            per p: NR/VL vector loads of B, MR broadcasts of A, MR·NR/VL FMAs
 *
 *   AVX-512 f32: MR×NR = 12×32 (24 zmm accumulators), KC = 256 (B panel
 *   32 KiB of the 48 KiB L1), MC = 144 (Ap 144 KiB of the 1 MiB L2), NC = 4096.
 *
 * Packing absorbs the transposes: the panel rows of op(A) and op(B) are
 * either contiguous in memory (a plain copy) or strided (a transposing pack,
 * 8×8 in registers), so every layout costs one pass over each operand.
 * Block steps are balanced (k = 784 runs as 4×196, not 256+256+256+16).
 * Edges never pad C: AVX-512 kernels have an unrolled instance per (rows,
 * vectors) edge shape with a masked last vector, and edge panels are packed
 * only as wide as needed (n = 10 → one masked 16-lane vector per row); the
 * other kernel sets compute a full tile and copy the valid part out.
 * Small m (≤ 96 rows per task): B, if not transposed, is read in place
 * instead of packed, since each B panel would only feed a few micro-kernels;
 * if transposed (x·Wᵀ, W stored [out, in]), AVX-512 f32 computes dot
 * products of A's and B's rows in place (tg_dot_zs) and packs nothing.
 *
 * Threads: C is cut into tm×tn rectangles, one pool task each; every task
 * packs its own slices into its worker's scratch (no barriers; the redundant
 * packing is small next to the O(mnk) work).  Products under ~96³
 * multiply-adds stay on the calling thread.
 *
 * Kernel sets, picked on each call with __builtin_cpu_supports:
 *   AVX-512  f32 12×32, f64 12×16     AVX2+FMA f32 6×16, f64 6×8
 *   generic  f32 4×8,   f64 4×4 (plain C, vectorised by the compiler)
 * Everything above the kernels (driver, threading) is type-agnostic: it moves
 * bytes and calls a kernel set's pack/kernel function pointers.
 */
#include "ops/gemm.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#if defined(__clang__)
#define TG_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define TG_UNROLL _Pragma("GCC unroll 32")
#else
#define TG_UNROLL
#endif
#define TG_INLINE static inline __attribute__((always_inline))

/* Below this many multiply-adds a product runs on one thread. Alone, a
 * product of 96³ already gains from a second thread; inside a training step
 * each product's operands and result then cross between cores. Data-parallel
 * training (the MLP, the CNNs) runs its products on the workers unsplit
 * anyway; a model trained on a context's threads splits them: GPT small
 * (products of 2-8M multiply-adds) on 2 threads ran 176 steps/s with 256³
 * here, 245 with 128³ (medium, MLP unchanged), on this project's 2-core machine. */
#define TG_GEMM_MT_MIN (128.0 * 128 * 128)
/* Up to this many rows per task, an untransposed B is read in place. */
#define TG_DIRECT_B_M 96

/* ---------------------------------------------------------------------------
 * Kernel-set descriptor
 * ------------------------------------------------------------------------- */

/* Packs w (≤ round_up(w, R)) panel rows × kc steps into R-wide panels, each
 * kc×R, zero padded.  Element (r, p) is src[p*ld + r] if `copy` (rows are
 * contiguous in memory), else src[r*ld + p]. */
typedef void (*tg_pack_fn)(void *dst, const void *src, int64_t ld, bool copy, int64_t w, int64_t kc, int R);
/* C[mr×nr] = alpha · Ap·Bp + beta · C  (beta == 0: C not read); mr ≤ MR, nr ≤ NR.
 * ldpb: B panel row stride (its packed width, or ldb when B is read in place;
 * only kernels with direct_b use it, the others assume NR). */
typedef void (*tg_kern_fn)(int64_t kc, const void *pa, const void *pb, int64_t ldpb, void *c, int64_t ldc, double alpha,
                           double beta, int mr, int nr);
/* C = beta · C (beta == 0: zero fill) */
typedef void (*tg_scale_fn)(void *c, int64_t ldc, int64_t m, int64_t n, double beta);
typedef void (*tg_kern_bias_fn)(int64_t kc, const void *pa, const void *pb, int64_t ldpb, void *c, int64_t ldc,
                                double alpha, double beta, const void *bias, int mr, int nr);
/* C[i, j] += bias[j] over m rows of n (a tile just written, in L1) */
typedef void (*tg_bias_fn)(void *c, int64_t ldc, const void *bias, int64_t m, int64_t n);

typedef struct {
    int es;             /* element size in bytes */
    int mr, nr;         /* register tile */
    int mc, kc, nc;     /* cache blocks (mc multiple of mr, nc of nr) */
    int tail_a, tail_b; /* a last, partial panel is packed this-multiple wide
                           (kernels with tail < mr/nr step through it with
                           the narrower stride) */
    bool direct_b;      /* kernel can read an unpacked, untransposed B */
    /* C = alpha · A·Bᵀ + beta · C with A (m×k) and B (n×k) read in place;
     * NULL: the set has none and packs. */
    void (*dot)(int64_t m, int64_t n, int64_t k, double alpha, const void *a, int64_t lda, const void *b,
                int64_t ldb, double beta, void *c, int64_t ldc);
    tg_pack_fn pack_a;  /* R = mr */
    tg_pack_fn pack_b;  /* R = nr */
    tg_kern_fn kern;
    tg_scale_fn scale;
    tg_bias_fn add_bias;
    tg_kern_bias_fn kern_bias; /* kern adding a bias row as it stores; NULL: add_bias after */
} tg_gemm_impl;

static inline int64_t tg_min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t tg_cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t tg_rup(int64_t a, int64_t b) { return tg_cdiv(a, b) * b; }
/* Splits len into ceil(len/max) nearly equal steps, rounded up to `mult`. */
static int64_t tg_step(int64_t len, int64_t max, int64_t mult) { return tg_rup(tg_cdiv(len, tg_cdiv(len, max)), mult); }

/* ---------------------------------------------------------------------------
 * Generic C: packing, kernel, scaling and an unblocked fallback, per type.
 * ------------------------------------------------------------------------- */

#define TG_GENERIC(T, S, MR, NR)                                                                                       \
    static void tg_pack_##S(void *dst_, const void *src_, int64_t ld, bool copy, int64_t w, int64_t kc, int R)         \
    {                                                                                                                  \
        T *dst = dst_;                                                                                                 \
        const T *src = src_;                                                                                           \
        for (int64_t r0 = 0; r0 < w; r0 += R, dst += kc * R) {                                                         \
            int rw = (int)tg_min64(R, w - r0);                                                                         \
            if (copy) {                                                                                                \
                for (int64_t p = 0; p < kc; p++) {                                                                     \
                    const T *s = src + p * ld + r0;                                                                    \
                    T *d = dst + p * R;                                                                                \
                    for (int r = 0; r < rw; r++)                                                                       \
                        d[r] = s[r];                                                                                   \
                    for (int r = rw; r < R; r++)                                                                       \
                        d[r] = 0;                                                                                      \
                }                                                                                                      \
            } else {                                                                                                   \
                for (int r = 0; r < rw; r++) {                                                                         \
                    const T *s = src + (r0 + r) * ld;                                                                  \
                    for (int64_t p = 0; p < kc; p++)                                                                   \
                        dst[p * R + r] = s[p];                                                                         \
                }                                                                                                      \
                for (int r = rw; r < R; r++)                                                                           \
                    for (int64_t p = 0; p < kc; p++)                                                                   \
                        dst[p * R + r] = 0;                                                                            \
            }                                                                                                          \
        }                                                                                                              \
    }                                                                                                                  \
    /* Writes an mr×nr register tile t (row stride ld_t) to C. */                                                     \
    static inline void tg_store_##S(const T *t, int64_t ld_t, T *c, int64_t ldc, T alpha, T beta, int mr, int nr)      \
    {                                                                                                                  \
        for (int i = 0; i < mr; i++)                                                                                   \
            for (int j = 0; j < nr; j++)                                                                               \
                c[i * ldc + j] =                                                                                       \
                    beta == 0 ? alpha * t[i * ld_t + j] : alpha * t[i * ld_t + j] + beta * c[i * ldc + j];             \
    }                                                                                                                  \
    static void tg_kern_##S(int64_t kc, const void *pa_, const void *pb_, int64_t ldpb, void *c, int64_t ldc,          \
                            double alpha, double beta, int mr, int nr)                                                 \
    {                                                                                                                  \
        const T *pa = pa_, *pb = pb_;                                                                                  \
        (void)ldpb;                                                                                                    \
        T acc[MR][NR] = {{0}};                                                                                         \
        for (int64_t p = 0; p < kc; p++, pa += MR, pb += NR) { /* unrolled: acc in registers */                        \
            TG_UNROLL                                                                                                  \
            for (int i = 0; i < MR; i++) {                                                                             \
                TG_UNROLL                                                                                              \
                for (int j = 0; j < NR; j++) {                                                                         \
                    acc[i][j] += pa[i] * pb[j];                                                                        \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
        tg_store_##S(&acc[0][0], NR, c, ldc, (T)alpha, (T)beta, mr, nr);                                               \
    }                                                                                                                  \
    static void tg_scale_##S(void *c_, int64_t ldc, int64_t m, int64_t n, double beta)                                 \
    {                                                                                                                  \
        T *c = c_;                                                                                                     \
        for (int64_t i = 0; i < m; i++)                                                                                \
            for (int64_t j = 0; j < n; j++)                                                                            \
                c[i * ldc + j] = beta == 0 ? (T)0 : (T)beta * c[i * ldc + j];                                          \
    }                                                                                                                  \
    /* Last resort when no packing memory can be had. */                                                               \
    static void tg_unblocked_##S(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T *a, int64_t lda,  \
                                 const T *b, int64_t ldb, T beta, T *c, int64_t ldc)                                   \
    {                                                                                                                  \
        for (int64_t i = 0; i < m; i++)                                                                                \
            for (int64_t j = 0; j < n; j++) {                                                                          \
                T s = 0;                                                                                               \
                for (int64_t p = 0; p < k; p++)                                                                        \
                    s += (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);              \
                tg_store_##S(&s, 0, c + i * ldc + j, ldc, alpha, beta, 1, 1);                                          \
            }                                                                                                          \
    }

/* 4×8 f32 / 4×4 f64: eight 128-bit accumulators, so baseline x86-64 SSE2 keeps
 * them in registers */
#define TG_G_MR 4
#define TG_GS_NR 8
#define TG_GD_NR 4
TG_GENERIC(float, s, TG_G_MR, TG_GS_NR)
TG_GENERIC(double, d, TG_G_MR, TG_GD_NR)

/* Rows [0, m) of C plus the bias row, or set to it (fill), portable. */
static void tg_bias_rows_s(float *restrict c, int64_t ldc, const float *restrict bias, int64_t m, int64_t n, bool fill)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            c[i * ldc + j] = fill ? bias[j] : c[i * ldc + j] + bias[j];
}
static void tg_bias_rows_d(double *restrict c, int64_t ldc, const double *restrict bias, int64_t m, int64_t n,
                           bool fill)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            c[i * ldc + j] = fill ? bias[j] : c[i * ldc + j] + bias[j];
}
static void tg_bias_s(void *c, int64_t ldc, const void *bias, int64_t m, int64_t n)
{
    tg_bias_rows_s(c, ldc, bias, m, n, false);
}
static void tg_bias_d(void *c, int64_t ldc, const void *bias, int64_t m, int64_t n)
{
    tg_bias_rows_d(c, ldc, bias, m, n, false);
}

/* clang-format off */
static const tg_gemm_impl tg_impl_generic_s = {
    .es = 4, .mr = TG_G_MR, .nr = TG_GS_NR, .mc = 128, .kc = 256, .nc = 2048,
    .tail_a = TG_G_MR, .tail_b = TG_GS_NR, .direct_b = false,
    .pack_a = tg_pack_s, .pack_b = tg_pack_s, .kern = tg_kern_s, .scale = tg_scale_s,
    .add_bias = tg_bias_s};
static const tg_gemm_impl tg_impl_generic_d = {
    .es = 8, .mr = TG_G_MR, .nr = TG_GD_NR, .mc = 128, .kc = 256, .nc = 2048,
    .tail_a = TG_G_MR, .tail_b = TG_GD_NR, .direct_b = false,
    .pack_a = tg_pack_d, .pack_b = tg_pack_d, .kern = tg_kern_d, .scale = tg_scale_d,
    .add_bias = tg_bias_d};
/* clang-format on */

/* ---------------------------------------------------------------------------
 * x86 kernels (compiled with per-function target attributes, so the library
 * needs no -mavx flags and still runs on any x86-64).
 * ------------------------------------------------------------------------- */
#if defined(__x86_64__)

#define TG_AVX2 __attribute__((target("avx2,fma")))
#define TG_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))

/* ---- AVX2 + FMA: MR×NR = 6×16 (f32) / 6×8 (f64); edges go through a
 *      register tile in memory. ---- */

#define TG_A2_MR 6

TG_AVX2 static void tg_kern_a2s(int64_t kc, const void *pa_, const void *pb_, int64_t ldpb, void *c_, int64_t ldc,
                                double alpha, double beta, int mr, int nr)
{
    const float *pa = pa_, *pb = pb_;
    (void)ldpb;
    __m256 acc[TG_A2_MR][2];
    TG_UNROLL
    for (int i = 0; i < TG_A2_MR; i++) {
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    }
    for (int64_t p = 0; p < kc; p++, pa += TG_A2_MR, pb += 16) {
        __m256 b0 = _mm256_load_ps(pb), b1 = _mm256_load_ps(pb + 8);
        TG_UNROLL
        for (int i = 0; i < TG_A2_MR; i++) {
            __m256 ai = _mm256_broadcast_ss(pa + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    float *c = c_;
    if (mr == TG_A2_MR && nr == 16) {
        __m256 va = _mm256_set1_ps((float)alpha), vb = _mm256_set1_ps((float)beta);
        TG_UNROLL
        for (int i = 0; i < TG_A2_MR; i++) {
            float *ci = c + i * ldc;
            __m256 r0 = _mm256_mul_ps(va, acc[i][0]), r1 = _mm256_mul_ps(va, acc[i][1]);
            if (beta != 0) {
                r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), r0);
                r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), r1);
            }
            _mm256_storeu_ps(ci, r0);
            _mm256_storeu_ps(ci + 8, r1);
        }
    } else {
        _Alignas(32) float t[TG_A2_MR][16];
        TG_UNROLL
        for (int i = 0; i < TG_A2_MR; i++) {
            _mm256_store_ps(t[i], acc[i][0]);
            _mm256_store_ps(t[i] + 8, acc[i][1]);
        }
        tg_store_s(&t[0][0], 16, c, ldc, (float)alpha, (float)beta, mr, nr);
    }
}

TG_AVX2 static void tg_kern_a2d(int64_t kc, const void *pa_, const void *pb_, int64_t ldpb, void *c_, int64_t ldc,
                                double alpha, double beta, int mr, int nr)
{
    const double *pa = pa_, *pb = pb_;
    (void)ldpb;
    __m256d acc[TG_A2_MR][2];
    TG_UNROLL
    for (int i = 0; i < TG_A2_MR; i++) {
        acc[i][0] = acc[i][1] = _mm256_setzero_pd();
    }
    for (int64_t p = 0; p < kc; p++, pa += TG_A2_MR, pb += 8) {
        __m256d b0 = _mm256_load_pd(pb), b1 = _mm256_load_pd(pb + 4);
        TG_UNROLL
        for (int i = 0; i < TG_A2_MR; i++) {
            __m256d ai = _mm256_broadcast_sd(pa + i);
            acc[i][0] = _mm256_fmadd_pd(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_pd(ai, b1, acc[i][1]);
        }
    }
    double *c = c_;
    if (mr == TG_A2_MR && nr == 8) {
        __m256d va = _mm256_set1_pd(alpha), vb = _mm256_set1_pd(beta);
        TG_UNROLL
        for (int i = 0; i < TG_A2_MR; i++) {
            double *ci = c + i * ldc;
            __m256d r0 = _mm256_mul_pd(va, acc[i][0]), r1 = _mm256_mul_pd(va, acc[i][1]);
            if (beta != 0) {
                r0 = _mm256_fmadd_pd(vb, _mm256_loadu_pd(ci), r0);
                r1 = _mm256_fmadd_pd(vb, _mm256_loadu_pd(ci + 4), r1);
            }
            _mm256_storeu_pd(ci, r0);
            _mm256_storeu_pd(ci + 4, r1);
        }
    } else {
        _Alignas(32) double t[TG_A2_MR][8];
        TG_UNROLL
        for (int i = 0; i < TG_A2_MR; i++) {
            _mm256_store_pd(t[i], acc[i][0]);
            _mm256_store_pd(t[i] + 4, acc[i][1]);
        }
        tg_store_d(&t[0][0], 8, c, ldc, alpha, beta, mr, nr);
    }
}

/* clang-format off */
static const tg_gemm_impl tg_impl_avx2_s = {
    .es = 4, .mr = TG_A2_MR, .nr = 16, .mc = 144, .kc = 256, .nc = 4096,
    .tail_a = TG_A2_MR, .tail_b = 16, .direct_b = false,
    .pack_a = tg_pack_s, .pack_b = tg_pack_s, .kern = tg_kern_a2s, .scale = tg_scale_s,
    .add_bias = tg_bias_s};
static const tg_gemm_impl tg_impl_avx2_d = {
    .es = 8, .mr = TG_A2_MR, .nr = 8, .mc = 96, .kc = 256, .nc = 2048,
    .tail_a = TG_A2_MR, .tail_b = 8, .direct_b = false,
    .pack_a = tg_pack_d, .pack_b = tg_pack_d, .kern = tg_kern_a2d, .scale = tg_scale_d,
    .add_bias = tg_bias_d};
/* clang-format on */

/* ---- AVX-512: MR×NR = 12×32 (f32) / 12×16 (f64).  Every (mr, nv) edge
 *      shape gets its own unrolled instance, the last vector column is
 *      masked, so n = 10 costs one masked vector per row, not a 32-wide
 *      tile. ---- */

#define TG_Z_MR 12
#define TG_ZS_NR 32 /* 2 × 16 floats */
#define TG_ZD_NR 16 /* 2 × 8 doubles */

/* MRK×NVK instance; `last` masks the NVK-th vector column.  Panels are
 * MRK tall and NVK vectors wide (edge panels are packed narrow).  One body
 * for both precisions: V is the vector type, SUF the intrinsics' suffix (ps
 * or pd), LANES the elements per vector. */
#define TG_Z_BODY(NAME, T, V, MASK, LANES, SUF)                                                              \
    TG_INLINE TG_AVX512 void NAME(const int MRK, const int NVK, int64_t kc, const T *pa, const T *pb,         \
                                  int64_t ldpb, T *c, int64_t ldc, T alpha, T beta, const T *bias, MASK last) \
    {                                                                                                        \
        V acc[TG_Z_MR][2];                                                                                   \
        TG_UNROLL                                                                                            \
        for (int i = 0; i < MRK; i++) {                                                                      \
            TG_UNROLL                                                                                        \
            for (int v = 0; v < NVK; v++)                                                                    \
                acc[i][v] = _mm512_setzero_##SUF();                                                          \
        }                                                                                                    \
        for (int64_t p = 0; p < kc; p++, pa += MRK, pb += ldpb) {                                            \
            V bv[2];                                                                                         \
            TG_UNROLL                                                                                        \
            for (int v = 0; v < NVK; v++)                                                                    \
                bv[v] = v < NVK - 1 ? _mm512_loadu_##SUF(pb + LANES * v)                                     \
                                    : _mm512_maskz_loadu_##SUF(last, pb + LANES * v);                        \
            TG_UNROLL                                                                                        \
            for (int i = 0; i < MRK; i++) {                                                                  \
                V ai = _mm512_set1_##SUF(pa[i]);                                                             \
                TG_UNROLL                                                                                    \
                for (int v = 0; v < NVK; v++)                                                                \
                    acc[i][v] = _mm512_fmadd_##SUF(ai, bv[v], acc[i][v]);                                    \
            }                                                                                                \
        }                                                                                                    \
        V va = _mm512_set1_##SUF(alpha), vb = _mm512_set1_##SUF(beta);                                       \
        TG_UNROLL                                                                                            \
        for (int i = 0; i < MRK; i++) {                                                                      \
            TG_UNROLL                                                                                        \
            for (int v = 0; v < NVK; v++) {                                                                  \
                T *cv = c + i * ldc + LANES * v;                                                             \
                MASK mk = v < NVK - 1 ? (MASK)((1u << LANES) - 1) : last;                                    \
                V r = _mm512_mul_##SUF(va, acc[i][v]);                                                       \
                if (beta != 0)                                                                               \
                    r = _mm512_fmadd_##SUF(vb, _mm512_maskz_loadu_##SUF(mk, cv), r);                         \
                if (bias) /* added last, as an add after the product would */                                \
                    r = _mm512_add_##SUF(r, _mm512_maskz_loadu_##SUF(mk, bias + LANES * v));                 \
                _mm512_mask_storeu_##SUF(cv, mk, r);                                                         \
            }                                                                                                \
        }                                                                                                    \
    }
TG_Z_BODY(tg_zs_body, float, __m512, __mmask16, 16, ps)
TG_Z_BODY(tg_zd_body, double, __m512d, __mmask8, 8, pd)
#undef TG_Z_BODY

/* One unrolled instance per edge shape: mr rows × nv vectors. */
/* clang-format off */
#define TG_Z_CASE(M, BODY, ...)                                         \
    case M:                                                             \
        if (nv == 1) BODY(M, 1, __VA_ARGS__);                           \
        else BODY(M, 2, __VA_ARGS__);                                   \
        break;
#define TG_Z_SWITCH(BODY, ...)                                          \
    switch (mr) {                                                       \
        TG_Z_CASE(1, BODY, __VA_ARGS__)  TG_Z_CASE(2, BODY, __VA_ARGS__)  \
        TG_Z_CASE(3, BODY, __VA_ARGS__)  TG_Z_CASE(4, BODY, __VA_ARGS__)  \
        TG_Z_CASE(5, BODY, __VA_ARGS__)  TG_Z_CASE(6, BODY, __VA_ARGS__)  \
        TG_Z_CASE(7, BODY, __VA_ARGS__)  TG_Z_CASE(8, BODY, __VA_ARGS__)  \
        TG_Z_CASE(9, BODY, __VA_ARGS__)  TG_Z_CASE(10, BODY, __VA_ARGS__) \
        TG_Z_CASE(11, BODY, __VA_ARGS__) TG_Z_CASE(12, BODY, __VA_ARGS__) \
        default: break;                                                 \
    }
/* clang-format on */
_Static_assert(TG_Z_MR == 12, "TG_Z_SWITCH lists 12 cases");

TG_AVX512 static void tg_kern_zs(int64_t kc, const void *pa, const void *pb, int64_t ldpb, void *c, int64_t ldc,
                                 double alpha, double beta, int mr, int nr)
{
    int nv = (nr + 15) / 16;
    __mmask16 last = (__mmask16)(0xFFFFu >> (16 * nv - nr));
    TG_Z_SWITCH(tg_zs_body, kc, pa, pb, ldpb, c, ldc, (float)alpha, (float)beta, NULL, last)
}

/* The same, with the bias row added to the tile as it is stored. */
TG_AVX512 static void tg_kern_bias_zs(int64_t kc, const void *pa, const void *pb, int64_t ldpb, void *c, int64_t ldc,
                                      double alpha, double beta, const void *bias, int mr, int nr)
{
    int nv = (nr + 15) / 16;
    __mmask16 last = (__mmask16)(0xFFFFu >> (16 * nv - nr));
    TG_Z_SWITCH(tg_zs_body, kc, pa, pb, ldpb, c, ldc, (float)alpha, (float)beta, bias, last)
}

TG_AVX512 static void tg_kern_zd(int64_t kc, const void *pa, const void *pb, int64_t ldpb, void *c, int64_t ldc,
                                 double alpha, double beta, int mr, int nr)
{
    int nv = (nr + 7) / 8;
    __mmask8 last = (__mmask8)(0xFFu >> (8 * nv - nr));
    TG_Z_SWITCH(tg_zd_body, kc, pa, pb, ldpb, c, ldc, alpha, beta, NULL, last)
}

TG_AVX512 static void tg_kern_bias_zd(int64_t kc, const void *pa, const void *pb, int64_t ldpb, void *c, int64_t ldc,
                                      double alpha, double beta, const void *bias, int mr, int nr)
{
    int nv = (nr + 7) / 8;
    __mmask8 last = (__mmask8)(0xFFu >> (8 * nv - nr));
    TG_Z_SWITCH(tg_zd_body, kc, pa, pb, ldpb, c, ldc, alpha, beta, bias, last)
}

/* d[p*R + j] = s[j*ld + p] for j < 8, p < k8 (a multiple of 8), rows j ≥ rows
 * read as zero; 8×8 in-register transposes (pairs, quads, 128-bit halves). */
TG_INLINE TG_AVX512 void tg_tr8_zs(const bool full, float *d, int R, const float *s, int64_t ld, int rows, int64_t k8,
                                   __mmask8 room)
{
    for (int64_t p = 0; p < k8; p += 8) {
        __m256 x[8];
        TG_UNROLL
        for (int j = 0; j < 8; j++) {
            x[j] = full || j < rows ? _mm256_loadu_ps(s + j * ld + p) : _mm256_setzero_ps();
        }
        __m256 t0 = _mm256_unpacklo_ps(x[0], x[1]), t1 = _mm256_unpackhi_ps(x[0], x[1]);
        __m256 t2 = _mm256_unpacklo_ps(x[2], x[3]), t3 = _mm256_unpackhi_ps(x[2], x[3]);
        __m256 t4 = _mm256_unpacklo_ps(x[4], x[5]), t5 = _mm256_unpackhi_ps(x[4], x[5]);
        __m256 t6 = _mm256_unpacklo_ps(x[6], x[7]), t7 = _mm256_unpackhi_ps(x[6], x[7]);
        __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
        __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
        __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
        __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
        float *o = d + p * R;
        _mm256_mask_storeu_ps(o + 0 * R, room, _mm256_permute2f128_ps(u0, u4, 0x20));
        _mm256_mask_storeu_ps(o + 1 * R, room, _mm256_permute2f128_ps(u1, u5, 0x20));
        _mm256_mask_storeu_ps(o + 2 * R, room, _mm256_permute2f128_ps(u2, u6, 0x20));
        _mm256_mask_storeu_ps(o + 3 * R, room, _mm256_permute2f128_ps(u3, u7, 0x20));
        _mm256_mask_storeu_ps(o + 4 * R, room, _mm256_permute2f128_ps(u0, u4, 0x31));
        _mm256_mask_storeu_ps(o + 5 * R, room, _mm256_permute2f128_ps(u1, u5, 0x31));
        _mm256_mask_storeu_ps(o + 6 * R, room, _mm256_permute2f128_ps(u2, u6, 0x31));
        _mm256_mask_storeu_ps(o + 7 * R, room, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
}

/* f32 packing with AVX-512: masked 16-wide copies, and 8×8 in-register
 * transposes for the strided orientation (A of A·W, B of g·Wᵀ).  R ≤ 64. */
TG_AVX512 static void tg_pack_zs(void *dst_, const void *src_, int64_t ld, bool copy, int64_t w, int64_t kc, int R)
{
    float *dst = dst_;
    const float *src = src_;
    for (int64_t r0 = 0; r0 < w; r0 += R, dst += kc * R) {
        int rw = (int)tg_min64(R, w - r0);
        if (copy) { /* per step: up to 4 masked 16-wide moves, masks fixed per panel */
            __mmask16 valid[4], room[4];
            int nq = (R + 15) / 16;
            for (int q = 0; q < nq; q++) {
                int v = rw - 16 * q, o = R - 16 * q;
                valid[q] = (__mmask16)(v <= 0 ? 0 : v >= 16 ? 0xFFFF : (1u << v) - 1);
                room[q] = (__mmask16)(o >= 16 ? 0xFFFF : (1u << o) - 1);
            }
            const float *s = src + r0;
            float *d = dst;
            if (nq == 1)
                for (int64_t p = 0; p < kc; p++, s += ld, d += R)
                    _mm512_mask_storeu_ps(d, room[0], _mm512_maskz_loadu_ps(valid[0], s));
            else
                for (int64_t p = 0; p < kc; p++, s += ld, d += R)
                    for (int q = 0; q < nq; q++)
                        _mm512_mask_storeu_ps(d + 16 * q, room[q], _mm512_maskz_loadu_ps(valid[q], s + 16 * q));
            continue;
        }
        /* strided: one 8-row group at a time, so each row is one sequential
         * stream the prefetchers can follow */
        const float *s = src + r0 * ld;
        int64_t k8 = kc / 8 * 8;
        for (int q = 0; q < R; q += 8) {
            /* masked: a last group narrower than 8 must not spill into the next step */
            __mmask8 room = (__mmask8)((1u << (R - q > 8 ? 8 : R - q)) - 1);
            if (rw - q >= 8)
                tg_tr8_zs(true, dst + q, R, s + q * ld, ld, 8, k8, room);
            else
                tg_tr8_zs(false, dst + q, R, s + q * ld, ld, rw - q, k8, room);
        }
        for (int64_t p = k8; p < kc; p++)
            for (int r = 0; r < R; r++)
                dst[p * R + r] = r < rw ? s[r * ld + p] : 0.0f;
    }
}

/* ---- A·Bᵀ with few rows, both operands read in place ----
 * C[i,j] = alpha · Σ_p A[i,p]·B[j,p] + beta · C[i,j]: both rows run along p,
 * so each C element is a dot product of two contiguous rows.  With few rows
 * of A (a batch times a weight matrix stored [out, in]) packing B would be a
 * transposing pass over the whole weight matrix for a handful of tiles; here
 * B is read once, its TG_DOT_NR rows held in L1 while every A row streams
 * past from L2.  Tile: TG_DOT_MR × TG_DOT_NR 16-lane partial sums, folded
 * into scalars at the end of each k block. */
#define TG_DOT_MR 4
#define TG_DOT_NR 6
#define TG_DOT_KC 1024 /* A block ≤ 96 × 1024 floats stays in L2 */

/* The sums of four vectors, as the four lanes of one: 128-bit halves added
 * across pairs of vectors, then within each 128-bit chunk. */
TG_INLINE TG_AVX512 __m128 tg_dot_fold4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
    __m512 x = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
    x = _mm512_add_ps(x, _mm512_permute_ps(x, 0x4E));
    x = _mm512_add_ps(x, _mm512_permute_ps(x, 0xB1));
    return _mm512_castps512_ps128(_mm512_maskz_compress_ps(0x1111, x));
}

/* c[0..nr) = alpha · (sum of s[j]) + beta · c[0..nr), four at a time. */
TG_INLINE TG_AVX512 void tg_dot_store(const int NRK, const __m512 *s, float *c, float alpha, float beta)
{
    const __m512 z = _mm512_setzero_ps();
    TG_UNROLL
    for (int j = 0; j < NRK; j += 4) {
        __m128 sum = tg_dot_fold4(s[j], j + 1 < NRK ? s[j + 1] : z, j + 2 < NRK ? s[j + 2] : z,
                                  j + 3 < NRK ? s[j + 3] : z);
        __mmask8 m = (__mmask8)((1u << (NRK - j < 4 ? NRK - j : 4)) - 1);
        __m128 r = _mm_mul_ps(_mm_set1_ps(alpha), sum);
        if (beta != 0)
            r = _mm_fmadd_ps(_mm_set1_ps(beta), _mm_maskz_loadu_ps(m, c + j), r);
        _mm_mask_storeu_ps(c + j, m, r);
    }
}

TG_INLINE TG_AVX512 void tg_dot_tile_zs(const int MRK, const int NRK, int64_t k, const float *a, int64_t lda,
                                        const float *b, int64_t ldb, float *c, int64_t ldc, float alpha, float beta,
                                        const float *pf, int pf_rows)
{
    __m512 acc[TG_DOT_MR][TG_DOT_NR];
    TG_UNROLL
    for (int i = 0; i < MRK; i++) {
        TG_UNROLL
        for (int j = 0; j < NRK; j++)
            acc[i][j] = _mm512_setzero_ps();
    }
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) {
        for (int r = 0; r < pf_rows; r++)
            _mm_prefetch((const char *)(pf + r * ldb + p), _MM_HINT_T0);
        __m512 av[TG_DOT_MR];
        TG_UNROLL
        for (int i = 0; i < MRK; i++)
            av[i] = _mm512_loadu_ps(a + i * lda + p);
        TG_UNROLL
        for (int j = 0; j < NRK; j++) {
            __m512 bj = _mm512_loadu_ps(b + j * ldb + p);
            TG_UNROLL
            for (int i = 0; i < MRK; i++)
                acc[i][j] = _mm512_fmadd_ps(av[i], bj, acc[i][j]);
        }
    }
    if (p < k) { /* masked lanes load as zero: no 0·∞ from past the rows */
        __mmask16 m = (__mmask16)((1u << (k - p)) - 1);
        __m512 av[TG_DOT_MR];
        TG_UNROLL
        for (int i = 0; i < MRK; i++)
            av[i] = _mm512_maskz_loadu_ps(m, a + i * lda + p);
        TG_UNROLL
        for (int j = 0; j < NRK; j++) {
            __m512 bj = _mm512_maskz_loadu_ps(m, b + j * ldb + p);
            TG_UNROLL
            for (int i = 0; i < MRK; i++)
                acc[i][j] = _mm512_fmadd_ps(av[i], bj, acc[i][j]);
        }
    }
    TG_UNROLL
    for (int i = 0; i < MRK; i++)
        tg_dot_store(NRK, acc[i], c + i * ldc, alpha, beta);
}

/* clang-format off */
#define TG_DOT_CASE(M, ...)                                                     \
    case M:                                                                     \
        switch (nr) {                                                           \
        case 1: tg_dot_tile_zs(M, 1, __VA_ARGS__); break;                       \
        case 2: tg_dot_tile_zs(M, 2, __VA_ARGS__); break;                       \
        case 3: tg_dot_tile_zs(M, 3, __VA_ARGS__); break;                       \
        case 4: tg_dot_tile_zs(M, 4, __VA_ARGS__); break;                       \
        case 5: tg_dot_tile_zs(M, 5, __VA_ARGS__); break;                       \
        default: tg_dot_tile_zs(M, 6, __VA_ARGS__); break;                      \
        }                                                                       \
        break;
/* clang-format on */
_Static_assert(TG_DOT_MR == 4 && TG_DOT_NR == 6, "tg_dot_zs lists 4 × 6 cases");

/* C[m×n] = alpha · A·Bᵀ + beta · C, A m×k and B n×k row-major, in place.
 * While the tiles of one group of B rows run (B from L1), they prefetch the
 * next group's rows, a share each: B is usually a weight matrix just
 * updated, whose lines come from L3 or another core's cache. */
TG_AVX512 static void tg_dot_zs(int64_t m, int64_t n, int64_t k, double alpha_, const void *a_, int64_t lda,
                                const void *b_, int64_t ldb, double beta_, void *c_, int64_t ldc)
{
    const float *a = a_, *b = b_;
    float *c = c_, alpha = (float)alpha_;
    int64_t kcs = tg_step(k, TG_DOT_KC, 16);
    for (int64_t pc = 0; pc < k; pc += kcs) {
        int64_t kc = tg_min64(kcs, k - pc);
        float beta = pc == 0 ? (float)beta_ : 1.0f;
        int64_t tiles = tg_cdiv(m, TG_DOT_MR);
        int share = (int)tg_cdiv(TG_DOT_NR, tiles); /* next-group rows each tile prefetches */
        for (int64_t j = 0; j < n; j += TG_DOT_NR) {
            int nr = (int)tg_min64(TG_DOT_NR, n - j);
            int64_t next_rows = tg_min64(TG_DOT_NR, n - j - nr);
            for (int64_t i = 0; i < m; i += TG_DOT_MR) {
                const float *ai = a + i * lda + pc, *bj = b + j * ldb + pc;
                float *cij = c + i * ldc + j;
                int64_t first = i / TG_DOT_MR * share;
                int pf_rows = (int)(first < next_rows ? tg_min64(share, next_rows - first) : 0);
                const float *pf = pf_rows ? bj + (nr + first) * ldb : bj;
                switch (tg_min64(TG_DOT_MR, m - i)) {
                    TG_DOT_CASE(1, kc, ai, lda, bj, ldb, cij, ldc, alpha, beta, pf, pf_rows)
                    TG_DOT_CASE(2, kc, ai, lda, bj, ldb, cij, ldc, alpha, beta, pf, pf_rows)
                    TG_DOT_CASE(3, kc, ai, lda, bj, ldb, cij, ldc, alpha, beta, pf, pf_rows)
                    TG_DOT_CASE(4, kc, ai, lda, bj, ldb, cij, ldc, alpha, beta, pf, pf_rows)
                default: break;
                }
            }
        }
    }
}
#undef TG_DOT_CASE

/* C[i, j] += bias[j], a column strip of 16 (8) lanes at a time: the bias
 * strip stays in a register while the tile's rows stream past. */
TG_AVX512 static void tg_bias_zs(void *c_, int64_t ldc, const void *bias_, int64_t m, int64_t n)
{
    float *c = c_;
    const float *bias = bias_;
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 lanes = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        __m512 b = _mm512_maskz_loadu_ps(lanes, bias + j);
        for (int64_t i = 0; i < m; i++)
            _mm512_mask_storeu_ps(c + i * ldc + j, lanes,
                                  _mm512_add_ps(_mm512_maskz_loadu_ps(lanes, c + i * ldc + j), b));
    }
}
TG_AVX512 static void tg_bias_zd(void *c_, int64_t ldc, const void *bias_, int64_t m, int64_t n)
{
    double *c = c_;
    const double *bias = bias_;
    for (int64_t j = 0; j < n; j += 8) {
        __mmask8 lanes = n - j >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (n - j)) - 1);
        __m512d b = _mm512_maskz_loadu_pd(lanes, bias + j);
        for (int64_t i = 0; i < m; i++)
            _mm512_mask_storeu_pd(c + i * ldc + j, lanes,
                                  _mm512_add_pd(_mm512_maskz_loadu_pd(lanes, c + i * ldc + j), b));
    }
}

/* Edge panels: A exactly mr tall, B a whole number of vectors wide. */
/* clang-format off */
static const tg_gemm_impl tg_impl_avx512_s = {
    .es = 4, .mr = TG_Z_MR, .nr = TG_ZS_NR, .mc = 144, .kc = 256, .nc = 4096,
    .tail_a = 1, .tail_b = 16, .direct_b = true,
    .pack_a = tg_pack_zs, .pack_b = tg_pack_zs, .kern = tg_kern_zs, .scale = tg_scale_s, .dot = tg_dot_zs,
    .add_bias = tg_bias_zs, .kern_bias = tg_kern_bias_zs};
static const tg_gemm_impl tg_impl_avx512_d = {
    .es = 8, .mr = TG_Z_MR, .nr = TG_ZD_NR, .mc = 96, .kc = 256, .nc = 2048,
    .tail_a = 1, .tail_b = 8, .direct_b = true,
    .pack_a = tg_pack_d, .pack_b = tg_pack_d, .kern = tg_kern_zd, .scale = tg_scale_d,
    .add_bias = tg_bias_zd, .kern_bias = tg_kern_bias_zd};
/* clang-format on */

static tg_gemm_isa tg_cpu_isa(void)
{
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("fma"))
        return TG_GEMM_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return TG_GEMM_AVX2;
    return TG_GEMM_GENERIC;
}
#else
static tg_gemm_isa tg_cpu_isa(void) { return TG_GEMM_GENERIC; }
#endif /* __x86_64__ */

/* A request resolves to the highest set that is both asked for and present. */
static tg_gemm_isa tg_resolve_isa(tg_gemm_isa want)
{
    tg_gemm_isa have = tg_cpu_isa();
    return want == TG_GEMM_AUTO || want > have ? have : want;
}

const char *tg_gemm_isa_name(tg_gemm_isa isa)
{
    switch (tg_resolve_isa(isa)) {
    case TG_GEMM_AVX512:
        return "avx512";
    case TG_GEMM_AVX2:
        return "avx2";
    default:
        return "generic";
    }
}

static const tg_gemm_impl *tg_pick_impl(tg_gemm_isa isa, bool f64)
{
    switch (tg_resolve_isa(isa)) {
#if defined(__x86_64__)
    case TG_GEMM_AVX512:
        return f64 ? &tg_impl_avx512_d : &tg_impl_avx512_s;
    case TG_GEMM_AVX2:
        return f64 ? &tg_impl_avx2_d : &tg_impl_avx2_s;
#endif
    default:
        return f64 ? &tg_impl_generic_d : &tg_impl_generic_s;
    }
}

/* ---------------------------------------------------------------------------
 * Driver (type-agnostic)
 * ------------------------------------------------------------------------- */

typedef struct {
    const tg_gemm_impl *im;
    tg_pool *pool;
    bool ta, tb;
    int64_t m, n, k;
    double alpha, beta;
    const char *a, *b;
    char *c;
    const char *bias;      /* NULL, or n values put in each row of C in place of beta·C */
    int64_t lda, ldb, ldc;
    int tm, tn;            /* task grid */
    bool direct_b;         /* kernels read B in place instead of packing it */
    bool dot;              /* A·Bᵀ of few rows: im->dot, nothing packed */
    int64_t mcs, kcs, ncs; /* balanced block steps */
    size_t scratch;        /* bytes per task */
} tg_gemm_job;


/* Packing buffers for one task: A block, then the B block 64-byte aligned. */
static size_t tg_ap_bytes(const tg_gemm_job *g) { return (size_t)tg_rup(g->mcs * g->kcs * g->im->es, 64); }

/* Packs w panel rows: full R-wide panels, then the rest into one panel
 * rounded up only to `tail` (less packing and no wasted lanes at edges). */
static void tg_pack_panels(tg_pack_fn pack, int64_t es, char *dst, const char *src, int64_t ld, bool copy, int64_t w,
                           int64_t kc, int R, int tail)
{
    int64_t full = w / R * R;
    if (full)
        pack(dst, src, ld, copy, full, kc, R);
    if (w > full)
        pack(dst + full * kc * es, src + (copy ? full : full * ld) * es, ld, copy, w - full, kc,
             (int)tg_rup(w - full, tail));
}

/* C[i0:i1, j0:j1] with the packing buffers in buf. */
static void tg_gemm_block(const tg_gemm_job *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1, char *buf)
{
    const tg_gemm_impl *im = g->im;
    const int64_t es = im->es, mr = im->mr, nr = im->nr;
    if (g->dot) {
        im->dot(i1 - i0, j1 - j0, g->k, g->alpha, g->a + i0 * g->lda * es, g->lda, g->b + j0 * g->ldb * es, g->ldb,
                g->beta, g->c + (i0 * g->ldc + j0) * es, g->ldc);
        if (g->bias) /* a few rows: their block of C is still in L2 */
            im->add_bias(g->c + (i0 * g->ldc + j0) * es, g->ldc, g->bias + j0 * es, i1 - i0, j1 - j0);
        return;
    }
    char *ap = buf, *bp = buf + tg_ap_bytes(g);
    for (int64_t jc = j0; jc < j1; jc += g->ncs) {
        int64_t nc = tg_min64(g->ncs, j1 - jc);
        for (int64_t pc = 0; pc < g->k; pc += g->kcs) {
            int64_t kc = tg_min64(g->kcs, g->k - pc);
            double beta = pc == 0 ? g->beta : 1.0;
            bool last = pc + kc >= g->k;
            /* op(B)[pc.., jc..]: element (p, j) */
            const char *bs = g->tb ? g->b + (jc * g->ldb + pc) * es : g->b + (pc * g->ldb + jc) * es;
            if (!g->direct_b)
                tg_pack_panels(im->pack_b, es, bp, bs, g->ldb, !g->tb, nc, kc, (int)nr, im->tail_b);
            for (int64_t ic = i0; ic < i1; ic += g->mcs) {
                int64_t mc = tg_min64(g->mcs, i1 - ic);
                const char *as = g->ta ? g->a + (pc * g->lda + ic) * es : g->a + (ic * g->lda + pc) * es;
                tg_pack_panels(im->pack_a, es, ap, as, g->lda, g->ta, mc, kc, (int)mr, im->tail_a);
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    int nrr = (int)tg_min64(nr, nc - jr);
                    const char *pb = g->direct_b ? bs + jr * es : bp + jr * kc * es;
                    int64_t ldpb = g->direct_b ? g->ldb : nrr == nr ? nr : tg_rup(nrr, im->tail_b);
                    for (int64_t ir = 0; ir < mc; ir += mr) {
                        char *cij = g->c + ((ic + ir) * g->ldc + jc + jr) * es;
                        if (last && g->bias && im->kern_bias) /* the bias added as the tile is stored */
                            im->kern_bias(kc, ap + ir * kc * es, pb, ldpb, cij, g->ldc, g->alpha, beta,
                                          g->bias + (jc + jr) * es, (int)tg_min64(mr, mc - ir), nrr);
                        else
                            im->kern(kc, ap + ir * kc * es, pb, ldpb, cij, g->ldc, g->alpha, beta,
                                     (int)tg_min64(mr, mc - ir), nrr);
                    }
                    /* else to the strip of finished tiles, mc × nr, mostly still in L1 */
                    if (last && g->bias && !im->kern_bias)
                        im->add_bias(g->c + (ic * g->ldc + jc + jr) * es, g->ldc, g->bias + (jc + jr) * es, mc, nrr);
                }
            }
        }
    }
}

/* Task t of the tm×tn grid; row/column cuts fall on MR/NR multiples. */
static void tg_task_range(int64_t len, int parts, int part, int64_t mult, int64_t *lo, int64_t *hi)
{
    int64_t units = tg_cdiv(len, mult);
    *lo = tg_min64(len, units * part / parts * mult);
    *hi = tg_min64(len, units * (part + 1) / parts * mult);
}

static void tg_gemm_task(void *arg, int task, int n_tasks, int worker)
{
    (void)n_tasks;
    const tg_gemm_job *g = arg;
    int64_t i0, i1, j0, j1;
    tg_task_range(g->m, g->tm, task / g->tn, g->im->mr, &i0, &i1);
    tg_task_range(g->n, g->tn, task % g->tn, g->im->nr, &j0, &j1);
    if (i0 < i1 && j0 < j1)
        tg_gemm_block(g, i0, i1, j0, j1, tg_pool_scratch(g->pool, worker, g->scratch));
}

/* Picks tm×tn ≤ threads minimising redundant packing (A is packed tn times,
 * B tm times) while every task still gets at least one register tile. */
static void tg_grid(tg_gemm_job *g, int threads)
{
    int64_t mu = tg_cdiv(g->m, g->im->mr), nu = tg_cdiv(g->n, g->im->nr);
    g->tm = g->tn = 1;
    for (int t = threads; t > 1; t--) {
        double best = -1;
        for (int tn = 1; tn <= t; tn++) {
            int tm = t / tn;
            if (tm * tn != t || tm > mu || tn > nu)
                continue;
            double cost = (double)tn * (double)g->m + (double)tm * (double)g->n;
            if (best < 0 || cost < best)
                best = cost, g->tm = tm, g->tn = tn;
        }
        if (best >= 0)
            return;
    }
}

/* Without packing buffers: the slow loop, over the bias rows if any. */
static void tg_unblocked(const tg_gemm_job *g)
{
    double beta = g->bias ? 1 : g->beta;
    if (g->bias && g->im->es == 8)
        tg_bias_rows_d((double *)g->c, g->ldc, (const double *)g->bias, g->m, g->n, true);
    else if (g->bias)
        tg_bias_rows_s((float *)g->c, g->ldc, (const float *)g->bias, g->m, g->n, true);
    if (g->im->es == 8)
        tg_unblocked_d(g->ta, g->tb, g->m, g->n, g->k, g->alpha, (const double *)g->a, g->lda, (const double *)g->b,
                       g->ldb, beta, (double *)g->c, g->ldc);
    else
        tg_unblocked_s(g->ta, g->tb, g->m, g->n, g->k, (float)g->alpha, (const float *)g->a, g->lda,
                       (const float *)g->b, g->ldb, (float)beta, (float *)g->c, g->ldc);
}

/* worker >= 0: one task on the calling thread, packing into that worker's
 * scratch (the caller is inside a tg_pool_run task running as `worker`). */
static void tg_gemm(tg_gemm_isa isa, bool f64, tg_pool *pool, int worker, bool ta, bool tb, int64_t m, int64_t n,
                    int64_t k, double alpha, const void *a, int64_t lda, const void *b, int64_t ldb, double beta,
                    const void *bias, void *c, int64_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    const tg_gemm_impl *im = tg_pick_impl(isa, f64);
    if (k <= 0 || alpha == 0) {
        if (bias && f64)
            tg_bias_rows_d(c, ldc, bias, m, n, true);
        else if (bias)
            tg_bias_rows_s(c, ldc, bias, m, n, true);
        else
            im->scale(c, ldc, m, n, beta);
        return;
    }
    tg_gemm_job g = {im, pool, ta, tb, m, n, k, alpha, beta, a, b, c, bias, lda, ldb, ldc, 1, 1, false, false, 0, 0, 0,
                     0};
    int threads = tg_pool_threads(pool);
    if ((double)m * (double)n * (double)k >= TG_GEMM_MT_MIN && threads > 1 && worker < 0)
        tg_grid(&g, threads);
    /* widest task (see tg_task_range), then balanced blocks within it */
    int64_t mt = tg_cdiv(tg_cdiv(m, im->mr), g.tm) * im->mr;
    int64_t nt = tg_cdiv(tg_cdiv(n, im->nr), g.tn) * im->nr;
    g.kcs = tg_step(k, im->kc, 1);
    g.mcs = tg_step(mt, im->mc, im->mr);
    g.ncs = tg_step(nt, im->nc, im->nr);
    /* Few rows: each B panel would serve only a handful of micro-kernels,
     * so packing it costs more than reading it in place. */
    g.direct_b = im->direct_b && !tb && mt <= TG_DIRECT_B_M;
    /* Few rows times a transposed B (x·Wᵀ): dot products of rows in place. */
    g.dot = im->dot && !ta && tb && mt <= TG_DIRECT_B_M;
    g.scratch = g.dot ? 0 : tg_ap_bytes(&g) + (g.direct_b ? 0 : (size_t)(g.kcs * g.ncs * im->es));
    int tasks = g.tm * g.tn;
    if (g.dot && (tasks == 1 || worker >= 0)) {
        tg_gemm_block(&g, 0, m, 0, n, NULL);
        return;
    }

    if (worker >= 0) {
        void *buf = pool ? tg_pool_scratch(pool, worker, g.scratch) : NULL;
        if (buf)
            tg_gemm_block(&g, 0, m, 0, n, buf);
        else
            tg_unblocked(&g);
        return;
    }
    /* Reserve every worker's scratch up front: tasks then never allocate. */
    bool ok = true;
    if (pool)
        for (int w = 0; w < (tasks > 1 ? threads : 1); w++)
            ok = ok && tg_pool_scratch(pool, w, g.scratch) != NULL;
    if (ok && tasks > 1) {
        tg_pool_run(pool, tasks, tg_gemm_task, &g);
        return;
    }
    /* single task: worker 0's scratch, or malloc when there is no pool */
    void *buf = ok && pool ? tg_pool_scratch(pool, 0, g.scratch) : aligned_alloc(64, (g.scratch + 63) & ~(size_t)63);
    if (buf) {
        tg_gemm_block(&g, 0, m, 0, n, buf);
        if (!pool || !ok)
            free(buf);
        return;
    }
    tg_unblocked(&g);
}

void tg_gemm_f32_isa(tg_gemm_isa isa, tg_pool *pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                     int64_t ldc)
{
    tg_gemm(isa, false, pool, -1, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, NULL, c, ldc);
}

void tg_gemm_f64_isa(tg_gemm_isa isa, tg_pool *pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                     double alpha, const double *a, int64_t lda, const double *b, int64_t ldb, double beta, double *c,
                     int64_t ldc)
{
    tg_gemm(isa, true, pool, -1, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, NULL, c, ldc);
}

void tg_gemm_f32(tg_pool *pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    tg_gemm(TG_GEMM_AUTO, false, pool, -1, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, NULL, c, ldc);
}

void tg_gemm_f64(tg_pool *pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                 const double *a, int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc)
{
    tg_gemm(TG_GEMM_AUTO, true, pool, -1, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, NULL, c, ldc);
}

void tg_gemm_f32_worker(tg_pool *pool, int worker, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                        float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                        int64_t ldc)
{
    tg_gemm(TG_GEMM_AUTO, false, pool, worker < 0 ? 0 : worker, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb,
            beta, NULL, c, ldc);
}

void tg_gemm_f64_worker(tg_pool *pool, int worker, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                        double alpha, const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                        double *c, int64_t ldc)
{
    tg_gemm(TG_GEMM_AUTO, true, pool, worker < 0 ? 0 : worker, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb,
            beta, NULL, c, ldc);
}

void tg_gemm_bias_f32(tg_pool *pool, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                      int64_t ldb, const float *bias, float *c, int64_t ldc)
{
    tg_gemm(TG_GEMM_AUTO, false, pool, -1, false, true, m, n, k, 1, a, lda, b, ldb, 0, bias, c, ldc);
}

void tg_gemm_bias_f64(tg_pool *pool, int64_t m, int64_t n, int64_t k, const double *a, int64_t lda, const double *b,
                      int64_t ldb, const double *bias, double *c, int64_t ldc)
{
    tg_gemm(TG_GEMM_AUTO, true, pool, -1, false, true, m, n, k, 1, a, lda, b, ldb, 0, bias, c, ldc);
}
