/* Matmul benchmark: GFLOP/s of tg_gemm_f32 on square sizes and on the MLP
 * (784-256-128-10, batch 64) forward/backward products, with 1 and 2 threads.
 *
 *   bench_matmul [auto|generic|avx2|avx512] [f64]
 *
 * Each cell repeats the product in trials of >= 20 ms until >= 0.25 s have
 * passed and prints the best trial (median in parentheses).  Built with
 * -DBENCH_OPENBLAS (and -lopenblas) it adds OpenBLAS columns; run those with
 * OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for a fair comparison:
 *   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ./bench_matmul
 */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/threads.h"
#include "ops/gemm.h"
#include "bench.h"

#ifdef BENCH_OPENBLAS
#include <cblas.h> /* OpenBLAS's: declares openblas_set_num_threads */
#endif

typedef struct {
    const char *name;
    bool ta, tb;
    int64_t m, n, k;
} shape;

static const shape shapes[] = {
    {"square 64", false, false, 64, 64, 64},
    {"square 256", false, false, 256, 256, 256},
    {"square 512", false, false, 512, 512, 512},
    {"square 1024", false, false, 1024, 1024, 1024},
    {"mlp1 fwd  X·W       64x784·784x256", false, false, 64, 256, 784},
    {"mlp1 dX   g·Wᵀ      64x256·(784x256)ᵀ", false, true, 64, 784, 256},
    {"mlp1 dW   Xᵀ·g      (64x784)ᵀ·64x256", true, false, 784, 256, 64},
    {"mlp2 fwd            64x256·256x128", false, false, 64, 128, 256},
    {"mlp2 dX             64x128·(256x128)ᵀ", false, true, 64, 256, 128},
    {"mlp2 dW             (64x256)ᵀ·64x128", true, false, 256, 128, 64},
    {"mlp3 fwd            64x128·128x10", false, false, 64, 10, 128},
    {"mlp3 dX             64x10·(128x10)ᵀ", false, true, 64, 128, 10},
    {"mlp3 dW             (64x128)ᵀ·64x10", true, false, 128, 10, 64},
    /* tg_layer's layout: W stored [out, in], z = x·Wᵀ, dW = dzᵀ·x */
    {"dense fwd x·Wᵀ      64x784·(256x784)ᵀ", false, true, 64, 256, 784},
    {"dense fwd x·Wᵀ      32x784·(256x784)ᵀ", false, true, 32, 256, 784},
    {"dense dW  dzᵀ·x     (64x256)ᵀ·64x784", true, false, 256, 784, 64},
    {"dense dW  dzᵀ·x     (32x256)ᵀ·32x784", true, false, 256, 784, 32},
    {"dense dx  dz·W      32x256·256x784", false, false, 32, 784, 256},
    {"dense fwd x·Wᵀ      32x256·(128x256)ᵀ", false, true, 32, 128, 256},
    {"dense fwd x·Wᵀ      32x128·(10x128)ᵀ", false, true, 32, 10, 128},
    {"dense dW half rows  (64x128)ᵀ·64x784", true, false, 128, 784, 64},
    {"dense dW2 half rows (64x64)ᵀ·64x256", true, false, 64, 256, 64},
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const shape *s;
    bool f64;
    int impl; /* 0: tapegrad, 1: OpenBLAS */
    tg_gemm_isa isa;
    tg_pool *pool;
    void *a, *b, *c;
} run;

static void once(const run *r)
{
    const shape *s = r->s;
    int64_t lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n, ldc = s->n;
#ifdef BENCH_OPENBLAS
    if (r->impl == 1) {
        enum CBLAS_TRANSPOSE ta = s->ta ? CblasTrans : CblasNoTrans;
        enum CBLAS_TRANSPOSE tb = s->tb ? CblasTrans : CblasNoTrans;
        if (r->f64)
            cblas_dgemm(CblasRowMajor, ta, tb, (int)s->m, (int)s->n, (int)s->k, 1.0, r->a, (int)lda, r->b, (int)ldb,
                        0.0, r->c, (int)ldc);
        else
            cblas_sgemm(CblasRowMajor, ta, tb, (int)s->m, (int)s->n, (int)s->k, 1.0f, r->a, (int)lda, r->b, (int)ldb,
                        0.0f, r->c, (int)ldc);
        return;
    }
#endif
    if (r->f64)
        tg_gemm_f64_isa(r->isa, r->pool, s->ta, s->tb, s->m, s->n, s->k, 1.0, r->a, lda, r->b, ldb, 0.0, r->c, ldc);
    else
        tg_gemm_f32_isa(r->isa, r->pool, s->ta, s->tb, s->m, s->n, s->k, 1.0f, r->a, lda, r->b, ldb, 0.0f, r->c, ldc);
}

/* Best and median GFLOP/s over trials. */
static void measure(const run *r, double *best, double *median)
{
    double flop = 2.0 * (double)r->s->m * (double)r->s->n * (double)r->s->k;
    once(r); /* warm caches, scratch, threads */
    int reps = 1;
    for (;;) { /* calibrate a trial to >= 20 ms */
        double t0 = bench_seconds(CLOCK_MONOTONIC);
        for (int i = 0; i < reps; i++)
            once(r);
        if (bench_seconds(CLOCK_MONOTONIC) - t0 >= 0.02)
            break;
        reps *= 2;
    }
    double rates[256];
    int n = 0;
    double start = bench_seconds(CLOCK_MONOTONIC);
    while (n < 256 && (n < 5 || bench_seconds(CLOCK_MONOTONIC) - start < 0.25)) {
        double t0 = bench_seconds(CLOCK_MONOTONIC);
        for (int i = 0; i < reps; i++)
            once(r);
        rates[n++] = flop * reps / (bench_seconds(CLOCK_MONOTONIC) - t0) * 1e-9;
    }
    qsort(rates, (size_t)n, sizeof *rates, cmp_double);
    *best = rates[n - 1];
    *median = rates[n / 2];
}

int main(int argc, char **argv)
{
    tg_gemm_isa isa = TG_GEMM_AUTO;
    bool f64 = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "generic"))
            isa = TG_GEMM_GENERIC;
        else if (!strcmp(argv[i], "avx2"))
            isa = TG_GEMM_AVX2;
        else if (!strcmp(argv[i], "avx512"))
            isa = TG_GEMM_AVX512;
        else if (!strcmp(argv[i], "f64"))
            f64 = true;
        else if (strcmp(argv[i], "auto")) {
            fprintf(stderr, "usage: %s [auto|generic|avx2|avx512] [f64]\n", argv[0]);
            return 2;
        }
    }
    size_t es = f64 ? sizeof(double) : sizeof(float);
    size_t cap = 1024 * 1024;
    char *a = malloc(cap * es), *b = malloc(cap * es), *c = malloc(cap * es);
    if (!a || !b || !c)
        return 1;
    for (size_t i = 0; i < cap; i++) {
        double v = (double)((i * 7919) % 2003) / 2003.0 - 0.5;
        if (f64)
            ((double *)a)[i] = v, ((double *)b)[i] = -v;
        else
            ((float *)a)[i] = (float)v, ((float *)b)[i] = (float)-v;
    }
    tg_pool *pools[2] = {tg_pool_new(1), tg_pool_new(2)};
    if (!pools[0] || !pools[1])
        return 1;

    printf("tapegrad gemm %s, kernels: %s; GFLOP/s best (median)\n", f64 ? "f64" : "f32", tg_gemm_isa_name(isa));
#ifdef BENCH_OPENBLAS
    if (getenv("OPENBLAS_CORETYPE") || getenv("OPENBLAS_L2_SIZE"))
        printf("note: OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are set; OpenBLAS numbers are not "
               "its best\n");
    printf("%-40s %16s %16s %16s %16s\n", "shape (m×n×k)", "tg 1 thr", "tg 2 thr", "openblas 1", "openblas 2");
#else
    printf("%-40s %16s %16s\n", "shape (m×n×k)", "tg 1 thr", "tg 2 thr");
#endif
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        /* UTF-8 names: pad by hand so columns line up */
        const char *name = shapes[si].name;
        int cols = 0;
        for (const char *p = name; *p; p++)
            cols += ((unsigned char)*p & 0xC0) != 0x80;
        printf("%s%*s", name, 40 - cols, "");
        for (int impl = 0; impl < 2; impl++) {
#ifndef BENCH_OPENBLAS
            if (impl == 1)
                break;
#endif
            for (int t = 0; t < 2; t++) {
                run r = {&shapes[si], f64, impl, isa, pools[t], a, b, c};
#ifdef BENCH_OPENBLAS
                if (impl == 1)
                    openblas_set_num_threads(t + 1);
#endif
                double best, median;
                measure(&r, &best, &median);
                printf(" %7.1f (%6.1f)", best, median);
                fflush(stdout);
            }
        }
        printf("\n");
    }
    tg_pool_free(pools[0]);
    tg_pool_free(pools[1]);
    free(a), free(b), free(c);
    return 0;
}
