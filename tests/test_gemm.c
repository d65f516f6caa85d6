/* Criterion tests for tg_gemm_f32/f64 and the thread pool.
 *
 * Every product is checked element-wise against a naive long-double triple
 * loop, with the classic error bound |Δ| ≤ c·(k+2)·eps·(|alpha|·Σ|a||b| +
 * |beta·c0|).  Each shape runs on every kernel set this CPU has (generic C,
 * AVX2, AVX-512), all four transpose combinations, padded leading dims, and
 * pool NULL / 1 thread / 2 threads.  The padding of C past n is filled with a
 * sentinel that must survive.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/threads.h"
#include "ops/gemm.h"
#include "ops/product_sink.h"

#define SENTINEL 12345.0

/* xorshift64*: deterministic data in [-1, 1) */
static double rnd(uint64_t *s)
{
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return (double)((*s * 2685821657736338717ull) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

typedef struct {
    bool f64, ta, tb;
    int64_t m, n, k;
    double alpha, beta;
    int pad;    /* extra elements per row in lda, ldb, ldc */
    bool nan_c; /* fill C with NaN (only meaningful with beta == 0) */
    tg_gemm_isa isa;
    tg_pool *pool;
} gcase;

/* Runs one case; returns the number of elements checked (all must pass). */
static int64_t check(const gcase *t)
{
    int64_t m = t->m, n = t->n, k = t->k;
    int64_t ar = t->ta ? k : m, ac = t->ta ? m : k; /* stored shapes */
    int64_t br = t->tb ? n : k, bc = t->tb ? k : n;
    int64_t lda = ac + t->pad, ldb = bc + t->pad, ldc = n + t->pad;
    double *a = malloc(sizeof(double) * (size_t)(ar * lda));
    double *b = malloc(sizeof(double) * (size_t)(br * ldb));
    double *c = malloc(sizeof(double) * (size_t)(m * ldc));
    double *c0 = malloc(sizeof(double) * (size_t)(m * ldc));
    cr_assert(a && b && c && c0);
    uint64_t s = 0x9E3779B97F4A7C15ull ^ (uint64_t)(m * 1000003 + n * 1009 + k);
    for (int64_t i = 0; i < ar * lda; i++)
        a[i] = rnd(&s);
    for (int64_t i = 0; i < br * ldb; i++)
        b[i] = rnd(&s);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++)
            c0[i * ldc + j] = j >= n ? SENTINEL : t->nan_c ? NAN : rnd(&s);
    if (!t->f64) { /* the reference sees exactly the floats the kernel sees */
        for (int64_t i = 0; i < ar * lda; i++)
            a[i] = (float)a[i];
        for (int64_t i = 0; i < br * ldb; i++)
            b[i] = (float)b[i];
        for (int64_t i = 0; i < m * ldc; i++)
            c0[i] = (float)c0[i];
    }

    if (t->f64) {
        memcpy(c, c0, sizeof(double) * (size_t)(m * ldc));
        tg_gemm_f64_isa(t->isa, t->pool, t->ta, t->tb, m, n, k, t->alpha, a, lda, b, ldb, t->beta, c, ldc);
    } else {
        float *af = malloc(sizeof(float) * (size_t)(ar * lda));
        float *bf = malloc(sizeof(float) * (size_t)(br * ldb));
        float *cf = malloc(sizeof(float) * (size_t)(m * ldc));
        cr_assert(af && bf && cf);
        for (int64_t i = 0; i < ar * lda; i++)
            af[i] = (float)a[i];
        for (int64_t i = 0; i < br * ldb; i++)
            bf[i] = (float)b[i];
        for (int64_t i = 0; i < m * ldc; i++)
            cf[i] = (float)c0[i];
        tg_gemm_f32_isa(t->isa, t->pool, t->ta, t->tb, m, n, k, (float)t->alpha, af, lda, bf, ldb, (float)t->beta, cf,
                        ldc);
        for (int64_t i = 0; i < m * ldc; i++)
            c[i] = cf[i];
        free(af), free(bf), free(cf);
    }

    /* op(A) rows and op(B) columns, both contiguous in p, for the reference */
    double *ar_ = malloc(sizeof(double) * (size_t)(m * k + 1)), *bc_ = malloc(sizeof(double) * (size_t)(n * k + 1));
    cr_assert(ar_ && bc_);
    for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < k; p++)
            ar_[i * k + p] = t->ta ? a[p * lda + i] : a[i * lda + p];
    for (int64_t j = 0; j < n; j++)
        for (int64_t p = 0; p < k; p++)
            bc_[j * k + p] = t->tb ? b[j * ldb + p] : b[p * ldb + j];

    double eps = t->f64 ? 0x1p-52 : 0x1p-23;
    int64_t checked = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++) {
            double got = c[i * ldc + j];
            if (j >= n) {
                cr_assert_eq(got, SENTINEL, "C padding overwritten at (%lld,%lld)", (long long)i, (long long)j);
                continue;
            }
            const double *x = ar_ + i * k, *y = bc_ + j * k;
            long double sum = 0;
            double mag = 0;
            for (int64_t p = 0; p < k; p++) {
                sum += (long double)x[p] * y[p];
                mag += fabs(x[p] * y[p]);
            }
            double want = (double)(t->alpha * sum), bound = fabs(t->alpha) * mag;
            if (t->beta != 0) {
                want += t->beta * c0[i * ldc + j];
                bound += fabs(t->beta * c0[i * ldc + j]);
            }
            double tol = 2.0 * (double)(k + 2) * eps * bound + 1e-300;
            cr_assert(isfinite(got) && fabs(got - want) <= tol,
                      "%s isa=%s ta=%d tb=%d m=%lld n=%lld k=%lld alpha=%g beta=%g pad=%d pool=%d: "
                      "C(%lld,%lld) = %.17g, want %.17g (tol %.3g)",
                      t->f64 ? "f64" : "f32", tg_gemm_isa_name(t->isa), t->ta, t->tb, (long long)m, (long long)n,
                      (long long)k, t->alpha, t->beta, t->pad, t->pool ? tg_pool_threads(t->pool) : 0, (long long)i,
                      (long long)j, got, want, tol);
            checked++;
        }
    free(ar_), free(bc_);
    free(a), free(b), free(c), free(c0);
    return checked;
}

static const int64_t shapes[][3] = {
    {1, 1, 1},    {7, 13, 5},    {33, 17, 65},   {129, 67, 300},  {2, 3, 1000},  {12, 32, 1},
    {11, 31, 2},  {13, 33, 3},   {6, 16, 8},     {5, 15, 9},      {24, 64, 384}, {25, 65, 385},
    {4, 8, 257},  {145, 40, 20}, {97, 49, 11},   {64, 10, 128},   {64, 256, 70}, {1, 300, 50},
    {300, 1, 50}, {3, 4100, 5},  {289, 33, 520}, {150, 130, 100}, {40, 300, 17},
    {40, 1500, 300}, /* few rows, split across threads: the A·Bᵀ dot-product path in tasks */
};
#define N_SHAPES (int)(sizeof shapes / sizeof shapes[0])
static const double ab[][2] = {{1, 0}, {0.5, -1.5}, {-2, 1}};
static const tg_gemm_isa isas[] = {TG_GEMM_GENERIC, TG_GEMM_AVX2, TG_GEMM_AVX512};

/* All shapes × isas × transposes × alpha/beta (big shapes: one alpha/beta per
 * transpose, rotating); pool and padding rotate. */
static void sweep(bool f64)
{
    tg_pool *pools[3] = {NULL, tg_pool_new(1), tg_pool_new(2)};
    cr_assert(pools[1] && pools[2]);
    int64_t checked = 0;
    int rot = 0;
    for (int si = 0; si < N_SHAPES; si++) {
        bool big = shapes[si][0] * shapes[si][1] * shapes[si][2] > 200000;
        for (int ii = 0; ii < 3; ii++)
            for (int tr = 0; tr < 4; tr++)
                for (int x = 0; x < 3; x++) {
                    if (big && x != (si + ii + tr) % 3)
                        continue;
                    rot++;
                    gcase t = {f64,      tr & 1,   tr >> 1,       shapes[si][0], shapes[si][1], shapes[si][2],
                               ab[x][0], ab[x][1], (rot % 2) * 3, false,         isas[ii],      pools[rot % 3]};
                    checked += check(&t);
                }
    }
    tg_pool_free(pools[1]);
    tg_pool_free(pools[2]);
    cr_assert_gt(checked, 100000);
}

Test(gemm, f32_sweep, .timeout = 300) { sweep(false); }
Test(gemm, f64_sweep, .timeout = 300) { sweep(true); }

/* beta == 0 must not read C: NaN in C does not leak, for every path. */
Test(gemm, beta0_ignores_nan)
{
    tg_pool *pool = tg_pool_new(2);
    const int64_t sz[][3] = {{7, 13, 5}, {64, 10, 128}, {150, 130, 100}, {25, 65, 385}};
    for (int f = 0; f < 2; f++)
        for (int ii = 0; ii < 3; ii++)
            for (int s = 0; s < 4; s++)
                for (int tr = 0; tr < 4; tr++) {
                    gcase t = {f,   tr & 1, tr >> 1, sz[s][0], sz[s][1], sz[s][2],
                               1.5, 0.0,    2,       true,     isas[ii], tr & 1 ? pool : NULL};
                    check(&t);
                }
    tg_pool_free(pool);
}

/* Threaded splits: over n (wide C), over m (tall C), and uneven cuts. */
Test(gemm, threaded_splits)
{
    tg_pool *pool = tg_pool_new(2);
    tg_pool *pool3 = tg_pool_new(3);
    /* all above the threading threshold (256³ multiply-adds) */
    const int64_t sz[][3] = {{96, 800, 260}, {800, 260, 96}, {700, 10, 2500}, {257, 259, 263}, {20, 2100, 410}};
    for (int f = 0; f < 2; f++)
        for (int s = 0; s < 5; s++)
            for (int tr = 0; tr < 4; tr++) {
                gcase t = {f, tr & 1, tr >> 1, sz[s][0], sz[s][1],     sz[s][2],
                           1, 0.25,   1,       false,    TG_GEMM_AUTO, tr & 2 ? pool3 : pool};
                check(&t);
            }
    tg_pool_free(pool);
    tg_pool_free(pool3);
}

/* x·Wᵀ + b with the bias put in each tile by the GEMM: every path (dot
 * products of few rows, packed blocks over several k blocks, threaded
 * splits, k = 0) against a plain loop; C starts as NaN (it is not read) and
 * its padding past n survives. */
static void bias_product(bool f64, tg_pool *pool, int64_t m, int64_t n, int64_t k)
{
    int64_t ldc = n + 3;
    uint64_t s = 0x2545F4914F6CDD1Dull ^ (uint64_t)(m * 7919 + n * 31 + k);
    double *a = malloc(sizeof(double) * (size_t)(m * k + 1)), *w = malloc(sizeof(double) * (size_t)(n * k + 1));
    double *bias = malloc(sizeof(double) * (size_t)n), *c = malloc(sizeof(double) * (size_t)(m * ldc));
    float *af = malloc(sizeof(float) * (size_t)(m * k + 1)), *wf = malloc(sizeof(float) * (size_t)(n * k + 1));
    float *biasf = malloc(sizeof(float) * (size_t)n), *cf = malloc(sizeof(float) * (size_t)(m * ldc));
    cr_assert(a && w && bias && c && af && wf && biasf && cf);
    for (int64_t i = 0; i < m * k; i++)
        af[i] = (float)(a[i] = (float)rnd(&s));
    for (int64_t i = 0; i < n * k; i++)
        wf[i] = (float)(w[i] = (float)rnd(&s));
    for (int64_t j = 0; j < n; j++)
        biasf[j] = (float)(bias[j] = (float)(4 * rnd(&s)));
    for (int64_t i = 0; i < m * ldc; i++)
        c[i] = cf[i] = i % ldc >= n ? (float)SENTINEL : NAN;
    if (f64)
        tg_gemm_bias_f64(pool, m, n, k, a, k, w, k, bias, c, ldc);
    else
        tg_gemm_bias_f32(pool, m, n, k, af, k, wf, k, biasf, cf, ldc);
    double eps = f64 ? 0x1p-52 : 0x1p-23;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++) {
            double got = f64 ? c[i * ldc + j] : cf[i * ldc + j];
            if (j >= n) {
                cr_expect_eq(got, SENTINEL, "padding of C overwritten at %lld,%lld", (long long)i, (long long)j);
                continue;
            }
            long double want = bias[j], size = fabs(bias[j]);
            for (int64_t p = 0; p < k; p++)
                want += (long double)a[i * k + p] * w[j * k + p], size += fabs(a[i * k + p] * w[j * k + p]);
            cr_expect(fabsl(got - want) <= 2 * (k + 2) * eps * size, "%s %lldx%lldx%lld: C[%lld,%lld] = %.9g, want %.9Lg",
                      f64 ? "f64" : "f32", (long long)m, (long long)n, (long long)k, (long long)i, (long long)j, got,
                      want);
        }
    free(a), free(w), free(bias), free(c), free(af), free(wf), free(biasf), free(cf);
}

Test(gemm, bias_rows_are_added_by_every_path)
{
    tg_pool *pool = tg_pool_new(2);
    /* few rows (dot products), one k block, several k blocks, threaded, k = 0 */
    const int64_t sz[][3] = {{5, 37, 300}, {150, 70, 100}, {150, 70, 600}, {300, 260, 300}, {4, 9, 0}};
    for (int f = 0; f < 2; f++)
        for (int z = 0; z < 5; z++) {
            bias_product(f, NULL, sz[z][0], sz[z][1], sz[z][2]);
            bias_product(f, pool, sz[z][0], sz[z][1], sz[z][2]);
        }
    tg_pool_free(pool);
}

/* tg_gemm_*_worker from inside pool tasks: each task's product runs on its
 * own thread with its worker's scratch and matches a plain loop. */
typedef struct {
    tg_pool *pool;
    const float *a, *b;
    float *c; /* one 37×45 result per task */
} worker_job;

static void worker_task(void *arg, int task, int n_tasks, int worker)
{
    (void)n_tasks;
    const worker_job *j = arg;
    /* [37, 53]·[53, 45], B transposed for odd tasks */
    tg_gemm_f32_worker(j->pool, worker, false, task & 1, 37, 45, 53, 1, j->a, 53, j->b, task & 1 ? 53 : 45, 0,
                       j->c + task * 37 * 45, 45);
}

Test(gemm, worker_calls_inside_pool_tasks)
{
    tg_pool *pool = tg_pool_new(2);
    uint64_t s = 7;
    float a[37 * 53], b[53 * 45], c[8 * 37 * 45];
    for (int i = 0; i < 37 * 53; i++)
        a[i] = (float)rnd(&s);
    for (int i = 0; i < 53 * 45; i++)
        b[i] = (float)rnd(&s);
    worker_job job = {pool, a, b, c};
    tg_pool_run(pool, 8, worker_task, &job);
    for (int t = 0; t < 8; t++)
        for (int i = 0; i < 37; i++)
            for (int j = 0; j < 45; j++) {
                double want = 0;
                for (int p = 0; p < 53; p++)
                    want += (double)a[i * 53 + p] * (t & 1 ? b[j * 53 + p] : b[p * 45 + j]);
                cr_assert(fabs(c[t * 37 * 45 + i * 45 + j] - want) < 1e-4, "task %d c[%d,%d]", t, i, j);
            }
    tg_pool_free(pool);
}

/* alpha == 0 and k == 0: C = beta·C, A/B never read (NULL is fine). */
Test(gemm, alpha0_and_k0)
{
    float c[6] = {1, 2, 3, 4, NAN, 6};
    tg_gemm_f32(NULL, false, false, 2, 3, 4, 0.0f, NULL, 4, NULL, 3, 2.0f, c, 3);
    cr_assert_eq(c[0], 2.0f);
    cr_assert_eq(c[3], 8.0f);
    cr_assert(isnan(c[4]));
    tg_gemm_f32(NULL, false, false, 2, 3, 0, 1.0f, NULL, 1, NULL, 3, 0.0f, c, 3);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(c[i], 0.0f);
    double d[4] = {1, 2, 3, 4};
    tg_gemm_f64(NULL, true, true, 2, 2, 0, 1.0, NULL, 2, NULL, 1, -1.0, d, 2);
    cr_assert_eq(d[3], -4.0);
    /* m == 0 or n == 0: nothing touched */
    tg_gemm_f64(NULL, false, false, 0, 2, 3, 1.0, NULL, 3, NULL, 2, 0.0, d, 2);
    cr_assert_eq(d[0], -1.0);
}

/* A small exact example so a sign or transpose slip can't hide in tolerances. */
Test(gemm, exact_2x3x2)
{
    const float a[6] = {1, 2, 3, 4, 5, 6};    /* A 2×3 */
    const float b[6] = {7, 8, 9, 10, 11, 12}; /* B 3×2 */
    float c[4] = {1, 1, 1, 1};
    tg_gemm_f32(NULL, false, false, 2, 2, 3, 1.0f, a, 3, b, 2, 10.0f, c, 2);
    cr_assert_eq(c[0], 58 + 10.0f);
    cr_assert_eq(c[1], 64 + 10.0f);
    cr_assert_eq(c[2], 139 + 10.0f);
    cr_assert_eq(c[3], 154 + 10.0f);
    /* Aᵀ(3×2 view of a 2×3 store)·Bᵀ(2×3 view of 3×2 store) = 3×3, (AᵀBᵀ)[0][0] = 1·7+4·8 */
    double ad[6] = {1, 2, 3, 4, 5, 6}, bd[6] = {7, 8, 9, 10, 11, 12}, cd[9];
    tg_gemm_f64(NULL, true, true, 3, 3, 2, 1.0, ad, 3, bd, 2, 0.0, cd, 3);
    cr_assert_eq(cd[0], 39.0);
    cr_assert_eq(cd[1], 1 * 9 + 4 * 10.0);
    cr_assert_eq(cd[8], 3 * 11 + 6 * 12.0);
}

/* Two threads, each with its own pool (or none), multiplying at once. */
typedef struct {
    int threads; /* 0: pool NULL */
    int64_t ok;
} conc_arg;

static void *conc_main(void *p)
{
    conc_arg *c = p;
    tg_pool *pool = c->threads ? tg_pool_new(c->threads) : NULL;
    for (int r = 0; r < 4; r++) {
        gcase t = {r & 1, r & 1, r >> 1, 120, 140, 160, 1, 0.5, 1, false, TG_GEMM_AUTO, pool};
        c->ok += check(&t);
    }
    tg_pool_free(pool);
    return NULL;
}

Test(gemm, concurrent_callers)
{
    conc_arg args[3] = {{2, 0}, {0, 0}, {1, 0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, conc_main, &args[i]), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(args[i].ok, 4 * 120 * 140);
}

/* ---- pool ---- */

typedef struct {
    int hits[1000];
    int bad_worker;
    int threads;
} pool_arg;

static void count_task(void *arg, int task, int n_tasks, int worker)
{
    pool_arg *p = arg;
    (void)n_tasks;
    __atomic_fetch_add(&p->hits[task], 1, __ATOMIC_RELAXED);
    if (worker < 0 || worker >= p->threads)
        __atomic_store_n(&p->bad_worker, 1, __ATOMIC_RELAXED);
}

/* Exactly-once execution, with task counts that change every run (a late
 * worker must never run a task of the next run with the previous job). */
Test(pool, runs_every_task_once, .timeout = 60)
{
    static pool_arg p; /* same address every run, like a caller's stack frame */
    for (int nt = 1; nt <= 4; nt++) {
        tg_pool *pool = tg_pool_new(nt);
        cr_assert_not_null(pool);
        cr_assert_eq(tg_pool_threads(pool), nt);
        for (int rep = 0; rep < 3000; rep++) {
            memset(&p, 0, sizeof p);
            p.threads = nt;
            int n_tasks = 1 + (rep * 37) % (rep % 2 ? 7 : 1000);
            int homes = rep % 3 == 0 ? -1 : rep % 3 == 1 ? n_tasks / 2 : (rep * 13) % 1200; /* -1: tg_pool_run */
            if (homes < 0)
                tg_pool_run(pool, n_tasks, count_task, &p);
            else
                tg_pool_run_homes(pool, n_tasks, homes, count_task, &p);
            int wrong = 0;
            for (int t = 0; t < 1000; t++)
                wrong += p.hits[t] != (t < n_tasks);
            cr_assert_eq(wrong, 0, "threads %d, run %d, %d tasks, homes %d: %d wrong counts", nt, rep, n_tasks, homes,
                         wrong);
            cr_assert_eq(p.bad_worker, 0);
        }
        tg_pool_run(pool, 0, count_task, NULL); /* no tasks: no call */
        tg_pool_free(pool);
    }
    memset(&p, 0, sizeof p);
    p.threads = 1;
    tg_pool_run(NULL, 3, count_task, &p); /* no pool: all on the caller */
    cr_assert_eq(p.hits[2], 1);
    tg_pool_free(NULL);
}

typedef struct {
    int worker[64], order[64]; /* who ran each task, and when (a ticket) */
    int ticket;
} block_arg;

static void block_task(void *arg, int task, int n_tasks, int worker)
{
    block_arg *b = arg;
    (void)n_tasks;
    b->worker[task] = worker;
    b->order[task] = __atomic_fetch_add(&b->ticket, 1, __ATOMIC_RELAXED);
    for (volatile int spin = 0; spin < 2000 * (task % 5); spin++) /* uneven tasks: blocks get stolen from */
        ;
}

/* Worker t's block is run by t from its front, in order; any other worker
 * takes only tasks from its back, so the owner's share is a prefix. */
Test(pool, home_blocks_run_front_to_back_by_their_owner_and_lose_only_their_end, .timeout = 60)
{
    enum { THREADS = 3, TASKS = 64, HOMES = 48 };
    tg_pool *pool = tg_pool_new(THREADS);
    cr_assert_not_null(pool);
    for (int rep = 0; rep < 500; rep++) {
        block_arg b = {{0}, {0}, 0};
        tg_pool_run_homes(pool, TASKS, HOMES, block_task, &b);
        cr_assert_eq(b.ticket, TASKS);
        for (int t = 0; t < THREADS; t++) {
            int lo = HOMES * t / THREADS, hi = HOMES * (t + 1) / THREADS, own = lo;
            while (own < hi && b.worker[own] == t)
                own++;
            for (int i = own; i < hi; i++)
                cr_assert_neq(b.worker[i], t, "run %d: block %d's task %d ran on its owner after task %d ran elsewhere",
                              rep, t, i, own);
            for (int i = lo + 1; i < own; i++)
                cr_assert_gt(b.order[i], b.order[i - 1], "run %d: block %d ran out of order at task %d", rep, t, i);
        }
    }
    tg_pool_free(pool);
}

typedef struct {
    tg_pool *pool;
    int seen[4]; /* tg_pool_threads inside each task */
} threads_arg;

static void threads_task(void *arg, int task, int n_tasks, int worker)
{
    threads_arg *t = arg;
    (void)n_tasks, (void)worker;
    t->seen[task] = tg_pool_threads(t->pool);
}

/* A task's own runs are inline, so kernels asking how many threads they may
 * split over (a data-parallel worker's GEMMs) must hear 1, not the pool's size. */
Test(pool, a_task_sees_one_thread_and_the_size_stays)
{
    tg_pool *pool = tg_pool_new(3);
    threads_arg t = {pool, {0}};
    tg_pool_run(pool, 4, threads_task, &t);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(t.seen[i], 1, "task %d saw %d threads", i, t.seen[i]);
    cr_expect_eq(tg_pool_threads(pool), 3, "outside a run the pool has its 3 threads");
    cr_expect_eq(tg_pool_size(pool), 3);
    cr_expect_eq(tg_pool_size(NULL), 1);
    tg_pool_free(pool);
}

Test(pool, default_thread_count)
{
    tg_pool *pool = tg_pool_new(0);
    cr_assert_not_null(pool);
    cr_assert_geq(tg_pool_threads(pool), 1);
    tg_pool_free(pool);
}

Test(pool, scratch_is_aligned_and_kept)
{
    tg_pool *pool = tg_pool_new(2);
    void *p = tg_pool_scratch(pool, 1, 100);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % 64, 0);
    memset(p, 1, 100);
    cr_assert_eq(tg_pool_scratch(pool, 1, 50), p); /* smaller: same buffer */
    void *q = tg_pool_scratch(pool, 1, 1 << 20);
    cr_assert_not_null(q);
    cr_assert_eq((uintptr_t)q % 64, 0);
    memset(q, 2, 1 << 20);
    cr_assert_eq(tg_pool_scratch(pool, 1, 1 << 20), q);
    cr_assert_null(tg_pool_scratch(pool, 2, 8)); /* out of range */
    cr_assert_null(tg_pool_scratch(pool, -1, 8));
    tg_pool_free(pool);
}

/* The data-parallel step cuts a weight's products into row chunks whose
 * bounds depend on the thread count (nn/train/data_parallel.c): a row's
 * values must not depend on where the rows are cut, to the bit, so that a
 * chunk gives the rows of the one-call product. */
static void products_by_pieces(tg_dtype dtype)
{
    enum { BATCH = 64, ROWS = 256, COLS = 784 };
    size_t es = dtype == TG_F32 ? 4 : 8;
    void *x = malloc(es * BATCH * COLS), *w = malloc(es * ROWS * COLS), *d = malloc(es * BATCH * ROWS);
    void *whole[2] = {malloc(es * BATCH * ROWS), malloc(es * ROWS * COLS)};
    void *cut[2] = {malloc(es * BATCH * ROWS), malloc(es * ROWS * COLS)};
    uint64_t seed = 7;
    struct { void *p; size_t n; } fill[3] = {{x, BATCH * COLS}, {w, ROWS * COLS}, {d, BATCH * ROWS}};
    for (int f = 0; f < 3; f++)
        for (size_t i = 0; i < fill[f].n; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            double v = (double)(seed >> 11) / 9007199254740992.0 - 0.5;
            if (dtype == TG_F32)
                ((float *)fill[f].p)[i] = (float)v;
            else
                ((double *)fill[f].p)[i] = v;
        }
    tg_pool *pool = tg_pool_new(1);
    tg_weight_input_product(pool, 0, dtype, BATCH, ROWS, COLS, x, w, 0, ROWS, whole[0]);
    tg_weight_grad_product(pool, 0, dtype, ROWS, COLS, BATCH, 0.5, d, x, 0, ROWS, whole[1], false);
    for (int trial = 0; trial < 20; trial++) {
        for (int64_t r0 = 0, r1; r0 < ROWS; r0 = r1) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            r1 = r0 + 1 + (int64_t)((seed >> 33) % 100); /* 1 to 100 rows: tiles of every shape */
            r1 = r1 > ROWS ? ROWS : r1;
            tg_weight_input_product(pool, 0, dtype, BATCH, ROWS, COLS, x, w, r0, r1, cut[0]);
            tg_weight_grad_product(pool, 0, dtype, ROWS, COLS, BATCH, 0.5, d, x, r0, r1, cut[1], false);
        }
        cr_assert_eq(memcmp(whole[0], cut[0], es * BATCH * ROWS), 0, "trial %d: x·Wᵀ depends on the cuts", trial);
        cr_assert_eq(memcmp(whole[1], cut[1], es * ROWS * COLS), 0, "trial %d: dᵀ·x depends on the cuts", trial);
    }
    tg_pool_free(pool);
    free(x), free(w), free(d);
    for (int i = 0; i < 2; i++)
        free(whole[i]), free(cut[i]);
}

Test(gemm, weight_products_cut_into_row_chunks_give_the_same_bits_f32) { products_by_pieces(TG_F32); }
Test(gemm, weight_products_cut_into_row_chunks_give_the_same_bits_f64) { products_by_pieces(TG_F64); }
