/* tapegrad — dense matrix multiply (BLIS-style blocked GEMM, no BLAS).
 *
 * Row-major:  C[m×n] = alpha · op(A) · op(B) + beta · C
 *   op(A) = A (m×k, leading dim lda)  or, if trans_a, Aᵀ with A stored k×m.
 *   op(B) = B (k×n, leading dim ldb)  or, if trans_b, Bᵀ with B stored n×k.
 * beta == 0: C is written without being read (NaN/Inf in C do not leak).
 * alpha == 0 or k == 0: A and B are not read; C = beta · C.
 * Leading dims are in elements and must be >= the stored row width.
 *
 * pool: products above ~96³ multiply-adds are split over the pool's threads;
 * packing buffers come from tg_pool_scratch (no malloc once warm).
 * pool == NULL runs on the calling thread and mallocs/frees its packing
 * buffers on each call (up to ~4.3 MiB).  Thread safety: no global mutable
 * state; concurrent calls are fine as long as each uses its own pool (or
 * NULL) -- a pool serves one caller at a time.  If memory runs out the product
 * is still computed, by a slow unblocked loop.
 */
#ifndef TG_GEMM_H
#define TG_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/threads.h"

void tg_gemm_f32(tg_pool *pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

void tg_gemm_f64(tg_pool *pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                 const double *a, int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc);

/* The same product on the calling thread alone, packing into worker
 * `worker`'s scratch of the pool: for kernels that split their own work
 * across the pool (conv: one image per task) and call the GEMM from inside
 * a tg_pool_run task, passing that task's worker. pool NULL (or scratch
 * that cannot grow) falls back to the slow unblocked loop. */
void tg_gemm_f32_worker(tg_pool *pool, int worker, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                        float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                        int64_t ldc);
void tg_gemm_f64_worker(tg_pool *pool, int worker, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                        double alpha, const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                        double *c, int64_t ldc);

/* C[m×n] = A·Bᵀ + bias, the bias [n] added to every row (B stored n×k, as
 * a weight [out, in] of x·Wᵀ + b); C is not read. The AVX-512 kernels add
 * the bias to a register tile as they store it (the others to each strip of
 * tiles they just wrote, in L1): no pass over C, and the bits of a GEMM then
 * an add. */
void tg_gemm_bias_f32(tg_pool *pool, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                      int64_t ldb, const float *bias, float *c, int64_t ldc);
void tg_gemm_bias_f64(tg_pool *pool, int64_t m, int64_t n, int64_t k, const double *a, int64_t lda, const double *b,
                      int64_t ldb, const double *bias, double *c, int64_t ldc);

/* Kernel sets.  TG_GEMM_AUTO picks the best one this CPU supports (checked on
 * every call; cheap).  The _isa variants exist so tests and benchmarks can
 * force a slower path; a set the CPU lacks falls back to the next lower one.
 * tg_gemm_isa_name() tells which set a request resolves to here. */
typedef enum { TG_GEMM_AUTO = 0, TG_GEMM_GENERIC, TG_GEMM_AVX2, TG_GEMM_AVX512 } tg_gemm_isa;

void tg_gemm_f32_isa(tg_gemm_isa isa, tg_pool *pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                     int64_t ldc);
void tg_gemm_f64_isa(tg_gemm_isa isa, tg_pool *pool, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                     double alpha, const double *a, int64_t lda, const double *b, int64_t ldb, double beta, double *c,
                     int64_t ldc);
const char *tg_gemm_isa_name(tg_gemm_isa isa);

#endif /* TG_GEMM_H */
