/* tapegrad — blocked GEMM (GotoBLAS/BLIS scheme), row-major.
 *
 *   C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C
 *
 * Blocking (one task's sub-block of C; loops outermost first):
 *
 *   jc: n in steps of NC         B block  Bp[KC×NC]  packed, lives in L2/L3
 *    pc: k in steps of KC        (beta applies on the first pc only)
 *      pack op(B)[pc.., jc..] → NR-wide panels: panel j holds, for each p,
 *                                 NR consecutive columns (zero padded)
 *      ic: m in steps of MC      A block  Ap[MC×KC]  packed, lives in L2
 *        pack op(A)[ic.., pc..] → MR-tall panels: for each p, MR rows
 *        jr: NR-wide B panel      (KC×NR, stays in L1 across ir)
 *          ir: MR-tall A panel    (streams from L2)
 *            micro-kernel: C[MR×NR] (+)= Ap_panel · Bp_panel, accumulated in
 *            registers: per p, NR/VL vector loads of B, MR broadcasts of A,
 *            MR·NR/VL FMAs.
 *
 * Packing absorbs the transposes: op(A) rows come either from strided rows
 * (no trans: a transposing pack) or contiguous rows (trans: a plain copy), and
 * the same for op(B) with the roles swapped, so every layout costs one pass.
 * Block sizes are balanced (k = 784 with KC = 384 gives 3 blocks of 262, not
 * 384+384+16), and edges are handled inside the kernels (masks or a register
 * tile copied out), never by padding C.
 *
 * Threads: C is cut into tm×tn rectangles, one task each; every task packs
 * its own A and B slices into its worker's scratch (no barriers, a little
 * redundant packing, which is cheap next to the O(mnk) work).  Small products
 * stay on the calling thread.
 *
 * Kernel sets, picked per call with __builtin_cpu_supports (no global state):
 *   AVX-512  f32 MR×NR = 12×32, f64 12×16  (24 zmm accumulators)
 *   AVX2+FMA f32 6×16,          f64 6×8    (12 ymm accumulators)
 *   generic  f32 4×16,          f64 4×8    (plain C, auto-vectorised)
 * Everything above the kernels (driver, threading) is type-agnostic: it moves
 * bytes and calls per-type pack/kernel function pointers.
 */
#include "gemm.h"

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

/* Below this many multiply-adds a product runs on one thread: a pool hand-off
 * costs a few µs. */
#define TG_GEMM_MT_MIN (96.0 * 96 * 96)

/* ---------------------------------------------------------------------------
 * Kernel-set descriptor
 * ------------------------------------------------------------------------- */

/* Packs w (≤ round_up(w, R)) panel rows × kc steps into R-wide panels, each
 * kc×R, zero padded.  Element (r, p) is src[p*ld + r] if `copy` (rows are
 * contiguous in memory), else src[r*ld + p]. */
typedef void (*tg_pack_fn)(void *dst, const void *src, int64_t ld, bool copy, int64_t w,
                           int64_t kc, int r);
/* C[mr×nr] = alpha · Ap·Bp + beta · C  (beta == 0: C not read); mr ≤ MR, nr ≤ NR. */
typedef void (*tg_kern_fn)(int64_t kc, const void *pa, const void *pb, void *c, int64_t ldc,
                           double alpha, double beta, int mr, int nr);
/* C = beta · C (beta == 0: zero fill) */
typedef void (*tg_scale_fn)(void *c, int64_t ldc, int64_t m, int64_t n, double beta);

typedef struct {
    int es;             /* element size in bytes */
    int mr, nr;         /* register tile */
    int mc, kc, nc;     /* cache blocks (mc multiple of mr, nc of nr) */
    tg_pack_fn pack_a;  /* R = mr */
    tg_pack_fn pack_b;  /* R = nr */
    tg_kern_fn kern;
    tg_scale_fn scale;
} tg_gemm_impl;

static inline int64_t tg_min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t tg_cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t tg_rup(int64_t a, int64_t b) { return tg_cdiv(a, b) * b; }

/* ---------------------------------------------------------------------------
 * Generic C: packing, kernel, scaling and an unblocked fallback, per type.
 * ------------------------------------------------------------------------- */

#define TG_GENERIC(T, S, MR, NR)                                                                \
    static void tg_pack_##S(void *dst_, const void *src_, int64_t ld, bool copy, int64_t w,     \
                            int64_t kc, int R) {                                                \
        T *dst = dst_;                                                                          \
        const T *src = src_;                                                                    \
        for (int64_t r0 = 0; r0 < w; r0 += R, dst += kc * R) {                                  \
            int rw = (int)tg_min64(R, w - r0);                                                  \
            if (copy) {                                                                         \
                for (int64_t p = 0; p < kc; p++) {                                              \
                    const T *s = src + p * ld + r0;                                             \
                    T *d = dst + p * R;                                                         \
                    for (int r = 0; r < rw; r++) d[r] = s[r];                                   \
                    for (int r = rw; r < R; r++) d[r] = 0;                                      \
                }                                                                               \
            } else {                                                                            \
                for (int r = 0; r < rw; r++) {                                                  \
                    const T *s = src + (r0 + r) * ld;                                           \
                    for (int64_t p = 0; p < kc; p++) dst[p * R + r] = s[p];                     \
                }                                                                               \
                for (int r = rw; r < R; r++)                                                    \
                    for (int64_t p = 0; p < kc; p++) dst[p * R + r] = 0;                        \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
    /* Writes an mr×nr register tile t (row stride ld_t) to C. */                              \
    static inline void tg_store_##S(const T *t, int64_t ld_t, T *c, int64_t ldc, T alpha,       \
                                    T beta, int mr, int nr) {                                   \
        for (int i = 0; i < mr; i++)                                                            \
            for (int j = 0; j < nr; j++)                                                        \
                c[i * ldc + j] = beta == 0 ? alpha * t[i * ld_t + j]                            \
                                           : alpha * t[i * ld_t + j] + beta * c[i * ldc + j];   \
    }                                                                                           \
    static void tg_kern_##S(int64_t kc, const void *pa_, const void *pb_, void *c, int64_t ldc, \
                            double alpha, double beta, int mr, int nr) {                        \
        const T *pa = pa_, *pb = pb_;                                                           \
        T acc[MR][NR] = {{0}};                                                                  \
        for (int64_t p = 0; p < kc; p++, pa += MR, pb += NR)                                    \
            for (int i = 0; i < MR; i++)                                                        \
                for (int j = 0; j < NR; j++) acc[i][j] += pa[i] * pb[j];                        \
        tg_store_##S(&acc[0][0], NR, c, ldc, (T)alpha, (T)beta, mr, nr);                        \
    }                                                                                           \
    static void tg_scale_##S(void *c_, int64_t ldc, int64_t m, int64_t n, double beta) {        \
        T *c = c_;                                                                              \
        for (int64_t i = 0; i < m; i++)                                                         \
            for (int64_t j = 0; j < n; j++)                                                     \
                c[i * ldc + j] = beta == 0 ? (T)0 : (T)beta * c[i * ldc + j];                   \
    }                                                                                           \
    /* Last resort when no packing memory can be had. */                                       \
    static void tg_unblocked_##S(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha,    \
                                 const T *a, int64_t lda, const T *b, int64_t ldb, T beta,      \
                                 T *c, int64_t ldc) {                                           \
        for (int64_t i = 0; i < m; i++)                                                         \
            for (int64_t j = 0; j < n; j++) {                                                   \
                T s = 0;                                                                        \
                for (int64_t p = 0; p < k; p++)                                                 \
                    s += (ta ? a[p * lda + i] : a[i * lda + p]) *                               \
                         (tb ? b[j * ldb + p] : b[p * ldb + j]);                                \
                tg_store_##S(&s, 0, c + i * ldc + j, ldc, alpha, beta, 1, 1);                   \
            }                                                                                   \
    }                                                                                           \
    static const tg_gemm_impl tg_impl_generic_##S = {                                           \
        sizeof(T), MR, NR, 128, 256, 2048, tg_pack_##S, tg_pack_##S, tg_kern_##S, tg_scale_##S};

TG_GENERIC(float, s, 4, 16)
TG_GENERIC(double, d, 4, 8)

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

TG_AVX2 static void tg_kern_a2s(int64_t kc, const void *pa_, const void *pb_, void *c_,
                                int64_t ldc, double alpha, double beta, int mr, int nr) {
    const float *pa = pa_, *pb = pb_;
    __m256 acc[TG_A2_MR][2];
    TG_UNROLL for (int i = 0; i < TG_A2_MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t p = 0; p < kc; p++, pa += TG_A2_MR, pb += 16) {
        __m256 b0 = _mm256_load_ps(pb), b1 = _mm256_load_ps(pb + 8);
        TG_UNROLL for (int i = 0; i < TG_A2_MR; i++) {
            __m256 ai = _mm256_broadcast_ss(pa + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    float *c = c_;
    if (mr == TG_A2_MR && nr == 16) {
        __m256 va = _mm256_set1_ps((float)alpha), vb = _mm256_set1_ps((float)beta);
        TG_UNROLL for (int i = 0; i < TG_A2_MR; i++) {
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
        TG_UNROLL for (int i = 0; i < TG_A2_MR; i++) {
            _mm256_store_ps(t[i], acc[i][0]);
            _mm256_store_ps(t[i] + 8, acc[i][1]);
        }
        tg_store_s(&t[0][0], 16, c, ldc, (float)alpha, (float)beta, mr, nr);
    }
}

TG_AVX2 static void tg_kern_a2d(int64_t kc, const void *pa_, const void *pb_, void *c_,
                                int64_t ldc, double alpha, double beta, int mr, int nr) {
    const double *pa = pa_, *pb = pb_;
    __m256d acc[TG_A2_MR][2];
    TG_UNROLL for (int i = 0; i < TG_A2_MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_pd();
    for (int64_t p = 0; p < kc; p++, pa += TG_A2_MR, pb += 8) {
        __m256d b0 = _mm256_load_pd(pb), b1 = _mm256_load_pd(pb + 4);
        TG_UNROLL for (int i = 0; i < TG_A2_MR; i++) {
            __m256d ai = _mm256_broadcast_sd(pa + i);
            acc[i][0] = _mm256_fmadd_pd(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_pd(ai, b1, acc[i][1]);
        }
    }
    double *c = c_;
    if (mr == TG_A2_MR && nr == 8) {
        __m256d va = _mm256_set1_pd(alpha), vb = _mm256_set1_pd(beta);
        TG_UNROLL for (int i = 0; i < TG_A2_MR; i++) {
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
        TG_UNROLL for (int i = 0; i < TG_A2_MR; i++) {
            _mm256_store_pd(t[i], acc[i][0]);
            _mm256_store_pd(t[i] + 4, acc[i][1]);
        }
        tg_store_d(&t[0][0], 8, c, ldc, alpha, beta, mr, nr);
    }
}

static const tg_gemm_impl tg_impl_avx2_s = {4,   TG_A2_MR,  16,        144,       256,
                                            4096, tg_pack_s, tg_pack_s, tg_kern_a2s, tg_scale_s};
static const tg_gemm_impl tg_impl_avx2_d = {8,   TG_A2_MR,  8,         96,        256,
                                            2048, tg_pack_d, tg_pack_d, tg_kern_a2d, tg_scale_d};

/* ---- AVX-512: MR×NR = 12×32 (f32) / 12×16 (f64).  Every (mr, nv) edge
 *      shape gets its own unrolled instance, the last vector column is
 *      masked, so n = 10 costs one masked vector per row, not a 32-wide
 *      tile. ---- */

#define TG_Z_MR 12
#define TG_ZS_NR 32 /* 2 × 16 floats */
#define TG_ZD_NR 16 /* 2 × 8 doubles */

/* MRK×NVK instance; `last` masks the NVK-th vector column. */
TG_INLINE TG_AVX512 void tg_zs_body(const int MRK, const int NVK, int64_t kc, const float *pa,
                                     const float *pb, float *c, int64_t ldc, float alpha,
                                     float beta, __mmask16 last) {
    __m512 acc[TG_Z_MR][2];
    TG_UNROLL for (int i = 0; i < MRK; i++) TG_UNROLL for (int v = 0; v < NVK; v++)
        acc[i][v] = _mm512_setzero_ps();
    for (int64_t p = 0; p < kc; p++, pa += TG_Z_MR, pb += TG_ZS_NR) {
        __m512 bv[2];
        TG_UNROLL for (int v = 0; v < NVK; v++) bv[v] = _mm512_load_ps(pb + 16 * v);
        TG_UNROLL for (int i = 0; i < MRK; i++) {
            __m512 ai = _mm512_set1_ps(pa[i]);
            TG_UNROLL for (int v = 0; v < NVK; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
        }
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    TG_UNROLL for (int i = 0; i < MRK; i++) TG_UNROLL for (int v = 0; v < NVK; v++) {
        float *cv = c + i * ldc + 16 * v;
        __mmask16 mk = v == NVK - 1 ? last : (__mmask16)0xFFFF;
        __m512 r = _mm512_mul_ps(va, acc[i][v]);
        if (beta != 0) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mk, cv), r);
        _mm512_mask_storeu_ps(cv, mk, r);
    }
}

TG_INLINE TG_AVX512 void tg_zd_body(const int MRK, const int NVK, int64_t kc, const double *pa,
                                     const double *pb, double *c, int64_t ldc, double alpha,
                                     double beta, __mmask8 last) {
    __m512d acc[TG_Z_MR][2];
    TG_UNROLL for (int i = 0; i < MRK; i++) TG_UNROLL for (int v = 0; v < NVK; v++)
        acc[i][v] = _mm512_setzero_pd();
    for (int64_t p = 0; p < kc; p++, pa += TG_Z_MR, pb += TG_ZD_NR) {
        __m512d bv[2];
        TG_UNROLL for (int v = 0; v < NVK; v++) bv[v] = _mm512_load_pd(pb + 8 * v);
        TG_UNROLL for (int i = 0; i < MRK; i++) {
            __m512d ai = _mm512_set1_pd(pa[i]);
            TG_UNROLL for (int v = 0; v < NVK; v++) acc[i][v] = _mm512_fmadd_pd(ai, bv[v], acc[i][v]);
        }
    }
    __m512d va = _mm512_set1_pd(alpha), vb = _mm512_set1_pd(beta);
    TG_UNROLL for (int i = 0; i < MRK; i++) TG_UNROLL for (int v = 0; v < NVK; v++) {
        double *cv = c + i * ldc + 8 * v;
        __mmask8 mk = v == NVK - 1 ? last : (__mmask8)0xFF;
        __m512d r = _mm512_mul_pd(va, acc[i][v]);
        if (beta != 0) r = _mm512_fmadd_pd(vb, _mm512_maskz_loadu_pd(mk, cv), r);
        _mm512_mask_storeu_pd(cv, mk, r);
    }
}

/* case M: one instance per vector count, for both element types */
#define TG_Z_CASE(M, BODY, ...)                                 \
    case M:                                                     \
        if (nv == 1) BODY(M, 1, __VA_ARGS__);                   \
        else BODY(M, 2, __VA_ARGS__);                           \
        break;
#define TG_Z_SWITCH(BODY, ...)                                                              \
    switch (mr) {                                                                           \
        TG_Z_CASE(1, BODY, __VA_ARGS__) TG_Z_CASE(2, BODY, __VA_ARGS__)                     \
        TG_Z_CASE(3, BODY, __VA_ARGS__) TG_Z_CASE(4, BODY, __VA_ARGS__)                     \
        TG_Z_CASE(5, BODY, __VA_ARGS__) TG_Z_CASE(6, BODY, __VA_ARGS__)                     \
        TG_Z_CASE(7, BODY, __VA_ARGS__) TG_Z_CASE(8, BODY, __VA_ARGS__)                     \
        TG_Z_CASE(9, BODY, __VA_ARGS__) TG_Z_CASE(10, BODY, __VA_ARGS__)                    \
        TG_Z_CASE(11, BODY, __VA_ARGS__) TG_Z_CASE(12, BODY, __VA_ARGS__)                   \
    default: break;                                                                         \
    }
_Static_assert(TG_Z_MR == 12, "TG_Z_SWITCH lists 12 cases");

TG_AVX512 static void tg_kern_zs(int64_t kc, const void *pa, const void *pb, void *c, int64_t ldc,
                                 double alpha, double beta, int mr, int nr) {
    int nv = (nr + 15) / 16;
    __mmask16 last = (__mmask16)(0xFFFFu >> (16 * nv - nr));
    TG_Z_SWITCH(tg_zs_body, kc, pa, pb, c, ldc, (float)alpha, (float)beta, last)
}

TG_AVX512 static void tg_kern_zd(int64_t kc, const void *pa, const void *pb, void *c, int64_t ldc,
                                 double alpha, double beta, int mr, int nr) {
    int nv = (nr + 7) / 8;
    __mmask8 last = (__mmask8)(0xFFu >> (8 * nv - nr));
    TG_Z_SWITCH(tg_zd_body, kc, pa, pb, c, ldc, alpha, beta, last)
}

/* f32 packing with AVX-512VL: masked 8-wide copies, and 8×8 in-register
 * transposes for the strided orientation (the common A·W and g·Wᵀ cases). */
TG_AVX512 static void tg_pack_zs(void *dst_, const void *src_, int64_t ld, bool copy, int64_t w,
                                 int64_t kc, int R) {
    float *dst = dst_;
    const float *src = src_;
    for (int64_t r0 = 0; r0 < w; r0 += R, dst += kc * R) {
        int rw = (int)tg_min64(R, w - r0);
        if (copy) {
            for (int64_t p = 0; p < kc; p++) {
                const float *s = src + p * ld + r0;
                float *d = dst + p * R;
                for (int q = 0; q < R; q += 8) {
                    int valid = rw - q < 0 ? 0 : rw - q > 8 ? 8 : rw - q;
                    int room = R - q > 8 ? 8 : R - q;
                    __m256 x = _mm256_maskz_loadu_ps((__mmask8)((1u << valid) - 1), s + q);
                    _mm256_mask_storeu_ps(d + q, (__mmask8)((1u << room) - 1), x);
                }
            }
            continue;
        }
        /* strided: rows r0+q .. r0+q+7, columns p .. p+7 → 8 packed steps */
        const float *s = src + r0 * ld;
        int64_t p = 0;
        for (; p + 8 <= kc; p += 8) {
            for (int q = 0; q < R; q += 8) {
                __m256 x[8];
                for (int j = 0; j < 8; j++)
                    x[j] = q + j < rw ? _mm256_loadu_ps(s + (q + j) * ld + p) : _mm256_setzero_ps();
                /* 8×8 transpose: pairs, then quads, then 128-bit halves */
                __m256 t0 = _mm256_unpacklo_ps(x[0], x[1]), t1 = _mm256_unpackhi_ps(x[0], x[1]);
                __m256 t2 = _mm256_unpacklo_ps(x[2], x[3]), t3 = _mm256_unpackhi_ps(x[2], x[3]);
                __m256 t4 = _mm256_unpacklo_ps(x[4], x[5]), t5 = _mm256_unpackhi_ps(x[4], x[5]);
                __m256 t6 = _mm256_unpacklo_ps(x[6], x[7]), t7 = _mm256_unpackhi_ps(x[6], x[7]);
                __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
                __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
                __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
                __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
                __m256 y[8] = {
                    _mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
                    _mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
                    _mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
                    _mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31)};
                /* masked: a last group narrower than 8 must not spill into the next step */
                __mmask8 room = (__mmask8)((1u << (R - q > 8 ? 8 : R - q)) - 1);
                for (int j = 0; j < 8; j++) _mm256_mask_storeu_ps(dst + (p + j) * R + q, room, y[j]);
            }
        }
        for (; p < kc; p++)
            for (int r = 0; r < R; r++) dst[p * R + r] = r < rw ? s[r * ld + p] : 0.0f;
    }
}

static const tg_gemm_impl tg_impl_avx512_s = {4,    TG_Z_MR,    TG_ZS_NR,   144,        384,
                                              4096, tg_pack_zs, tg_pack_zs, tg_kern_zs, tg_scale_s};
static const tg_gemm_impl tg_impl_avx512_d = {8,    TG_Z_MR,   TG_ZD_NR,  96,         256,
                                              2048, tg_pack_d, tg_pack_d, tg_kern_zd, tg_scale_d};

static tg_gemm_isa tg_cpu_isa(void) {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma"))
        return TG_GEMM_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return TG_GEMM_AVX2;
    return TG_GEMM_GENERIC;
}
#else
static tg_gemm_isa tg_cpu_isa(void) { return TG_GEMM_GENERIC; }
#endif /* __x86_64__ */

/* A request resolves to the highest set that is both asked for and present. */
static tg_gemm_isa tg_resolve_isa(tg_gemm_isa want) {
    tg_gemm_isa have = tg_cpu_isa();
    return want == TG_GEMM_AUTO || want > have ? have : want;
}

const char *tg_gemm_isa_name(tg_gemm_isa isa) {
    switch (tg_resolve_isa(isa)) {
    case TG_GEMM_AVX512: return "avx512";
    case TG_GEMM_AVX2: return "avx2";
    default: return "generic";
    }
}

static const tg_gemm_impl *tg_pick_impl(tg_gemm_isa isa, bool f64) {
    switch (tg_resolve_isa(isa)) {
#if defined(__x86_64__)
    case TG_GEMM_AVX512: return f64 ? &tg_impl_avx512_d : &tg_impl_avx512_s;
    case TG_GEMM_AVX2: return f64 ? &tg_impl_avx2_d : &tg_impl_avx2_s;
#endif
    default: return f64 ? &tg_impl_generic_d : &tg_impl_generic_s;
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
    int64_t lda, ldb, ldc;
    int tm, tn;            /* task grid */
    int64_t mcs, kcs, ncs; /* balanced block steps */
    size_t scratch;        /* bytes per task */
} tg_gemm_job;

/* Splits len into ceil(len/max) nearly equal steps, rounded up to `mult`. */
static int64_t tg_step(int64_t len, int64_t max, int64_t mult) {
    return tg_rup(tg_cdiv(len, tg_cdiv(len, max)), mult);
}

/* Packing buffers for one task: A block, then the B block 64-byte aligned. */
static size_t tg_ap_bytes(const tg_gemm_job *g) {
    return (size_t)tg_rup(g->mcs * g->kcs * g->im->es, 64);
}

/* C[i0:i1, j0:j1] with the packing buffers in buf. */
static void tg_gemm_block(const tg_gemm_job *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                          char *buf) {
    const tg_gemm_impl *im = g->im;
    const int64_t es = im->es, mr = im->mr, nr = im->nr;
    char *ap = buf, *bp = buf + tg_ap_bytes(g);
    for (int64_t jc = j0; jc < j1; jc += g->ncs) {
        int64_t nc = tg_min64(g->ncs, j1 - jc);
        for (int64_t pc = 0; pc < g->k; pc += g->kcs) {
            int64_t kc = tg_min64(g->kcs, g->k - pc);
            double beta = pc == 0 ? g->beta : 1.0;
            /* op(B)[pc.., jc..]: element (p, j) */
            const char *bs = g->tb ? g->b + (jc * g->ldb + pc) * es : g->b + (pc * g->ldb + jc) * es;
            im->pack_b(bp, bs, g->ldb, !g->tb, nc, kc, (int)nr);
            for (int64_t ic = i0; ic < i1; ic += g->mcs) {
                int64_t mc = tg_min64(g->mcs, i1 - ic);
                const char *as =
                    g->ta ? g->a + (pc * g->lda + ic) * es : g->a + (ic * g->lda + pc) * es;
                im->pack_a(ap, as, g->lda, g->ta, mc, kc, (int)mr);
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    const char *pb = bp + jr * kc * es;
                    int nrr = (int)tg_min64(nr, nc - jr);
                    for (int64_t ir = 0; ir < mc; ir += mr) {
                        char *cij = g->c + ((ic + ir) * g->ldc + jc + jr) * es;
                        im->kern(kc, ap + ir * kc * es, pb, cij, g->ldc, g->alpha, beta,
                                 (int)tg_min64(mr, mc - ir), nrr);
                    }
                }
            }
        }
    }
}

/* Task t of the tm×tn grid; row/column cuts fall on MR/NR multiples. */
static void tg_task_range(int64_t len, int parts, int part, int64_t mult, int64_t *lo,
                          int64_t *hi) {
    int64_t units = tg_cdiv(len, mult);
    *lo = tg_min64(len, units * part / parts * mult);
    *hi = tg_min64(len, units * (part + 1) / parts * mult);
}

static void tg_gemm_task(void *arg, int task, int n_tasks, int worker) {
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
static void tg_grid(tg_gemm_job *g, int threads) {
    int64_t mu = tg_cdiv(g->m, g->im->mr), nu = tg_cdiv(g->n, g->im->nr);
    g->tm = g->tn = 1;
    for (int t = threads; t > 1; t--) {
        double best = -1;
        for (int tn = 1; tn <= t; tn++) {
            int tm = t / tn;
            if (tm * tn != t || tm > mu || tn > nu) continue;
            double cost = (double)tn * (double)g->m + (double)tm * (double)g->n;
            if (best < 0 || cost < best) best = cost, g->tm = tm, g->tn = tn;
        }
        if (best >= 0) return;
    }
}

static void tg_gemm(tg_gemm_isa isa, bool f64, tg_pool *pool, bool ta, bool tb, int64_t m,
                    int64_t n, int64_t k, double alpha, const void *a, int64_t lda, const void *b,
                    int64_t ldb, double beta, void *c, int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    const tg_gemm_impl *im = tg_pick_impl(isa, f64);
    if (k <= 0 || alpha == 0) {
        im->scale(c, ldc, m, n, beta);
        return;
    }
    tg_gemm_job g = {im, pool, ta, tb, m, n, k, alpha, beta, a, b, c, lda, ldb, ldc,
                     1, 1, 0, 0, 0, 0};
    int threads = tg_pool_threads(pool);
    if ((double)m * (double)n * (double)k >= TG_GEMM_MT_MIN && threads > 1) tg_grid(&g, threads);
    /* widest task (see tg_task_range), then balanced blocks within it */
    int64_t mt = tg_cdiv(tg_cdiv(m, im->mr), g.tm) * im->mr;
    int64_t nt = tg_cdiv(tg_cdiv(n, im->nr), g.tn) * im->nr;
    g.kcs = tg_step(k, im->kc, 1);
    g.mcs = tg_step(mt, im->mc, im->mr);
    g.ncs = tg_step(nt, im->nc, im->nr);
    g.scratch = tg_ap_bytes(&g) + (size_t)(g.kcs * g.ncs * im->es);
    int tasks = g.tm * g.tn;

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
    void *buf = ok && pool ? tg_pool_scratch(pool, 0, g.scratch)
                           : aligned_alloc(64, (g.scratch + 63) & ~(size_t)63);
    if (buf) {
        tg_gemm_block(&g, 0, m, 0, n, buf);
        if (!pool || !ok) free(buf);
        return;
    }
    if (f64)
        tg_unblocked_d(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        tg_unblocked_s(ta, tb, m, n, k, (float)alpha, a, lda, b, ldb, (float)beta, c, ldc);
}

void tg_gemm_f32_isa(tg_gemm_isa isa, tg_pool *pool, bool trans_a, bool trans_b, int64_t m,
                     int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                     const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    tg_gemm(isa, false, pool, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void tg_gemm_f64_isa(tg_gemm_isa isa, tg_pool *pool, bool trans_a, bool trans_b, int64_t m,
                     int64_t n, int64_t k, double alpha, const double *a, int64_t lda,
                     const double *b, int64_t ldb, double beta, double *c, int64_t ldc) {
    tg_gemm(isa, true, pool, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void tg_gemm_f32(tg_pool *pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                 float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                 float beta, float *c, int64_t ldc) {
    tg_gemm(TG_GEMM_AUTO, false, pool, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
            ldc);
}

void tg_gemm_f64(tg_pool *pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                 double alpha, const double *a, int64_t lda, const double *b, int64_t ldb,
                 double beta, double *c, int64_t ldc) {
    tg_gemm(TG_GEMM_AUTO, true, pool, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
            ldc);
}
