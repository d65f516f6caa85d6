/* The thread pool (autograd/threads.h): persistent pthreads.
 *
 * A run is published by storing `state` = (generation << 32 | next task).
 * Its first `homes` tasks are cut into contiguous blocks, block t offered to
 * worker t, its home: `home[t]` holds (generation << 32 | front << 16 | back)
 * and is claimed with a CAS that checks the generation, by its owner from the
 * front and by the others from the back. So a run repeated with the same
 * tasks (the workers of a data-parallel step, the row chunks of its weights)
 * puts each task on the same thread every time, and its data stays in that
 * core's cache, while a thread that is late or slow this time loses the end
 * of its block to the others. The tasks beyond the homes are claimed with a
 * CAS on `state`, which also checks the generation. Once those are gone, a
 * worker takes from the back of any block still unfinished, and everyone
 * counts finished tasks in `done`; the caller returns once done == n_tasks.
 * So the caller never waits for a worker that has not started (an asleep or
 * descheduled worker simply gets no task).
 *
 * A late worker may still read run g's job while the caller already sets up
 * the next run, so jobs alternate between two slots (job[g & 1]): slot g is
 * only rewritten for run g + 2, and by then every CAS that checks for
 * generation g fails, so a stale read is always thrown away.
 *
 * Idle workers spin a little (cheap back-to-back runs, like the many small
 * GEMMs of a training step) and then sleep on a condvar; runs are published
 * under the mutex so a sleeper can't miss a wake-up.
 */
#define _DEFAULT_SOURCE /* sysconf(_SC_NPROCESSORS_ONLN) */
#include "autograd/threads.h"

#ifndef TG_NO_THREADS
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ~50-100 µs of PAUSEs before a worker sleeps or the caller yields; a
 * block's front and back are 16 bits */
enum { TG_POOL_SPIN = 1 << 12, TG_POOL_MAX_THREADS = 1024, TG_POOL_MAX_HOMES = 0xffff };

/* One cache line per worker: scratch pointers are written by their own worker. */
typedef struct {
    _Alignas(64) void *ptr;
    size_t cap;
} tg_scratch;

typedef struct {
    tg_pool *pool;
    int index;
} tg_worker_arg;

/* One cache line per home block: generation << 32 | front << 16 | back. */
typedef struct {
    _Alignas(64) _Atomic uint64_t tag;
} tg_home;

/* Atomics, release/acquire: a late worker may read a slot while it is being
 * rewritten, and if it sees a newer value it must also see that newer run's
 * generation, so that its CAS fails. */
typedef struct {
    _Atomic(tg_pool_fn) fn;
    _Atomic(void *) arg;
    atomic_int n_tasks;
    atomic_uint fp_mode; /* the caller's MXCSR: workers compute in the caller's mode */
} tg_job;

struct tg_pool {
    int n;              /* threads including the caller */
    uint32_t gen;       /* last published generation (caller only) */
    pthread_t *threads; /* n - 1 */
    tg_worker_arg *wargs;
    tg_scratch *scratch; /* n */
    tg_home *home;       /* n: worker t's block of home tasks, what is left of it */
    pthread_mutex_t mu;
    pthread_cond_t cv;

    tg_job job[2]; /* run g uses job[g & 1] */
    atomic_bool stop;
    atomic_bool running; /* a run is in progress: a task's own run is done inline */

    _Alignas(64) _Atomic uint64_t state; /* gen << 32 | next task */
    _Alignas(64) atomic_int done;        /* tasks finished in this run */
};

/* The floating-point mode (flush-to-zero, denormals-are-zero, rounding) is
 * per thread. A run carries its caller's, so that a result never depends on
 * which thread computed it, and a mode the caller set (tg_fp_flush_subnormals
 * in tg_train) reaches the pool's threads too. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <xmmintrin.h>
static inline unsigned tg_fp_mode_get(void) { return _mm_getcsr(); }
static inline void tg_fp_mode_set(unsigned mode)
{
    if (_mm_getcsr() != mode)
        _mm_setcsr(mode);
}
#else
static inline unsigned tg_fp_mode_get(void) { return 0; }
static inline void tg_fp_mode_set(unsigned mode) { (void)mode; }
#endif

static inline void tg_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Claims a task of worker t's block in run gen, the first one left for its
 * owner, the last one for the others; -1 when the block is empty or the run
 * is over. */
static int tg_pool_claim_home(tg_pool *p, uint32_t gen, int t, bool owner)
{
    uint64_t tag = atomic_load_explicit(&p->home[t].tag, memory_order_relaxed);
    for (;;) {
        unsigned front = (unsigned)(tag >> 16) & 0xffff, back = (unsigned)tag & 0xffff;
        if ((uint32_t)(tag >> 32) != gen || front >= back)
            return -1;
        uint64_t next = owner ? tag + (1u << 16) : tag - 1;
        if (atomic_compare_exchange_weak_explicit(&p->home[t].tag, &tag, next, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return owner ? (int)front : (int)back - 1;
    }
}

static void tg_pool_do(tg_pool *p, tg_pool_fn fn, void *arg, int task, int n_tasks, int worker)
{
    fn(arg, task, n_tasks, worker);
    atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
}

/* Claims and runs tasks of generation `gen` until none are left: its home
 * block, the shared ones beyond the homes, then the ends of the others'. */
static void tg_pool_work(tg_pool *p, uint32_t gen, int worker)
{
    tg_job *job = &p->job[gen & 1];
    tg_pool_fn fn = atomic_load_explicit(&job->fn, memory_order_acquire);
    void *arg = atomic_load_explicit(&job->arg, memory_order_acquire);
    int n_tasks = atomic_load_explicit(&job->n_tasks, memory_order_acquire);
    if (worker != 0)
        tg_fp_mode_set(atomic_load_explicit(&job->fp_mode, memory_order_acquire));
    uint64_t st = atomic_load_explicit(&p->state, memory_order_acquire);
    if ((uint32_t)(st >> 32) != gen)
        return;
    for (int t; (t = tg_pool_claim_home(p, gen, worker, true)) >= 0;)
        tg_pool_do(p, fn, arg, t, n_tasks, worker);
    for (st = atomic_load_explicit(&p->state, memory_order_acquire);;) {
        if ((uint32_t)(st >> 32) != gen)
            return;
        if ((int64_t)(uint32_t)st >= n_tasks)
            break;
        if (!atomic_compare_exchange_weak_explicit(&p->state, &st, st + 1, memory_order_acq_rel, memory_order_acquire))
            continue; /* st was reloaded */
        tg_pool_do(p, fn, arg, (int)(uint32_t)st, n_tasks, worker);
        st = atomic_load_explicit(&p->state, memory_order_acquire);
    }
    for (int i = 1; i < p->n; i++) /* the ends of blocks whose workers are asleep, late or slow */
        for (int t; (t = tg_pool_claim_home(p, gen, (worker + i) % p->n, false)) >= 0;)
            tg_pool_do(p, fn, arg, t, n_tasks, worker);
}

static void *tg_pool_main(void *varg)
{
    tg_worker_arg *wa = varg;
    tg_pool *p = wa->pool;
    uint32_t seen = 0;
    for (;;) {
        uint32_t g = (uint32_t)(atomic_load_explicit(&p->state, memory_order_acquire) >> 32);
        for (int s = 0; g == seen && s < TG_POOL_SPIN; s++) {
            tg_cpu_relax();
            g = (uint32_t)(atomic_load_explicit(&p->state, memory_order_acquire) >> 32);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = (uint32_t)(atomic_load_explicit(&p->state, memory_order_acquire) >> 32)) == seen)
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        seen = g;
        if (atomic_load_explicit(&p->stop, memory_order_relaxed))
            break;
        tg_pool_work(p, g, wa->index);
    }
    return NULL;
}

/* Publishes a job as the next generation and wakes the workers. */
static uint32_t tg_pool_publish(tg_pool *p, tg_pool_fn fn, void *arg, int n_tasks, int homes)
{
    uint32_t gen = ++p->gen;
    tg_job *job = &p->job[gen & 1];
    atomic_store_explicit(&job->fn, fn, memory_order_release);
    atomic_store_explicit(&job->arg, arg, memory_order_release);
    atomic_store_explicit(&job->n_tasks, n_tasks, memory_order_release);
    atomic_store_explicit(&job->fp_mode, tg_fp_mode_get(), memory_order_release);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    for (int t = 0; t < p->n; t++) {
        uint64_t front = (uint64_t)((int64_t)homes * t / p->n), back = (uint64_t)((int64_t)homes * (t + 1) / p->n);
        atomic_store_explicit(&p->home[t].tag, (uint64_t)gen << 32 | front << 16 | back, memory_order_relaxed);
    }
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->state, (uint64_t)gen << 32 | (uint32_t)homes, memory_order_release);
    pthread_mutex_unlock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    return gen;
}

static void tg_pool_stop(tg_pool *p, int started)
{
    atomic_store_explicit(&p->stop, true, memory_order_relaxed);
    tg_pool_publish(p, NULL, NULL, 0, 0);
    for (int i = 0; i < started; i++)
        pthread_join(p->threads[i], NULL);
}

tg_pool *tg_pool_new(int n_threads)
{
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)(c < TG_POOL_MAX_THREADS ? c : TG_POOL_MAX_THREADS) : 1;
    }
    if (n_threads > TG_POOL_MAX_THREADS)
        n_threads = TG_POOL_MAX_THREADS;

    /* over-aligned types: calloc only guarantees 16 bytes */
    tg_pool *p = aligned_alloc(64, sizeof *p);
    if (!p)
        return NULL;
    memset(p, 0, sizeof *p);
    p->n = n_threads;
    p->scratch = aligned_alloc(64, (size_t)n_threads * sizeof *p->scratch);
    p->home = aligned_alloc(64, (size_t)n_threads * sizeof *p->home);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    p->wargs = calloc((size_t)n_threads, sizeof *p->wargs);
    for (int i = 0; i < 2; i++) {
        atomic_init(&p->job[i].fn, NULL);
        atomic_init(&p->job[i].arg, NULL);
        atomic_init(&p->job[i].n_tasks, 0);
        atomic_init(&p->job[i].fp_mode, 0);
    }
    atomic_init(&p->stop, false);
    atomic_init(&p->running, false);
    atomic_init(&p->state, 0);
    atomic_init(&p->done, 0);
    if (!p->scratch || !p->home || !p->threads || !p->wargs)
        goto fail_mem;
    for (int t = 0; t < n_threads; t++)
        atomic_init(&p->home[t].tag, 0); /* empty: generation 0 is never run */
    memset(p->scratch, 0, (size_t)n_threads * sizeof *p->scratch);
    if (pthread_mutex_init(&p->mu, NULL))
        goto fail_mem;
    if (pthread_cond_init(&p->cv, NULL)) {
        pthread_mutex_destroy(&p->mu);
        goto fail_mem;
    }
    for (int i = 0; i < n_threads - 1; i++) {
        p->wargs[i] = (tg_worker_arg){p, i + 1};
        if (pthread_create(&p->threads[i], NULL, tg_pool_main, &p->wargs[i])) {
            tg_pool_stop(p, i);
            pthread_cond_destroy(&p->cv);
            pthread_mutex_destroy(&p->mu);
            goto fail_mem;
        }
    }
    return p;

fail_mem:
    free(p->scratch);
    free(p->home);
    free(p->threads);
    free(p->wargs);
    free(p);
    return NULL;
}

void tg_pool_free(tg_pool *pool)
{
    if (!pool)
        return;
    tg_pool_stop(pool, pool->n - 1);
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    for (int i = 0; i < pool->n; i++)
        free(pool->scratch[i].ptr);
    free(pool->scratch);
    free(pool->home);
    free(pool->threads);
    free(pool->wargs);
    free(pool);
}

/* Inside a task every nested run is inline: planning a split for more
 * threads than that would only add work (a GEMM packing twice, a conv
 * summing per-thread partial gradients) on the one thread that runs it. */
int tg_pool_threads(const tg_pool *pool)
{
    return pool && !atomic_load_explicit(&((tg_pool *)pool)->running, memory_order_relaxed) ? pool->n : 1;
}

int tg_pool_size(const tg_pool *pool) { return pool ? pool->n : 1; }

void tg_pool_run(tg_pool *pool, int n_tasks, tg_pool_fn fn, void *arg)
{
    int threads = tg_pool_size(pool);
    tg_pool_run_homes(pool, n_tasks, n_tasks < threads ? n_tasks : threads, fn, arg);
}

void tg_pool_run_homes(tg_pool *pool, int n_tasks, int homes, tg_pool_fn fn, void *arg)
{
    if (n_tasks <= 0)
        return;
    /* Nothing to share, or a task asking for threads that are all taken by
     * the run it belongs to (data-parallel workers running GEMMs): inline. */
    if (!pool || pool->n == 1 || n_tasks == 1 ||
        atomic_exchange_explicit(&pool->running, true, memory_order_acquire)) {
        for (int t = 0; t < n_tasks; t++)
            fn(arg, t, n_tasks, 0);
        return;
    }
    homes = homes < 0 ? 0 : homes > n_tasks ? n_tasks : homes;
    uint32_t gen = tg_pool_publish(pool, fn, arg, n_tasks, homes < TG_POOL_MAX_HOMES ? homes : TG_POOL_MAX_HOMES);

    tg_pool_work(pool, gen, 0);
    /* Tasks still running elsewhere: spin (they are usually almost done),
     * then be polite to an oversubscribed machine. */
    for (unsigned s = 0; atomic_load_explicit(&pool->done, memory_order_acquire) != n_tasks; s++) {
        if (s < TG_POOL_SPIN)
            tg_cpu_relax();
        else
            sched_yield();
    }
    atomic_store_explicit(&pool->running, false, memory_order_release);
}

void *tg_pool_scratch(tg_pool *pool, int worker, size_t bytes)
{
    if (!pool || worker < 0 || worker >= pool->n)
        return NULL;
    tg_scratch *s = &pool->scratch[worker];
    if (s->cap < bytes || !s->ptr) {
        /* aligned_alloc wants a multiple of the alignment; round to 4 KiB so
         * small growth steps don't reallocate every call */
        if (bytes > SIZE_MAX - 4096)
            return NULL;
        size_t cap = (bytes + 4095) & ~(size_t)4095;
        if (cap == 0)
            cap = 4096;
        free(s->ptr);
        s->ptr = aligned_alloc(64, cap);
        s->cap = s->ptr ? cap : 0;
    }
    return s->ptr;
}

#else /* TG_NO_THREADS */

/* Builds without threads (the WebAssembly build, tools/wasm/build.sh): a pool
 * of one, the caller, which runs every task inline; the scratch buffer is
 * the one thing it keeps. */
#include <stdint.h>
#include <stdlib.h>

struct tg_pool {
    void *scratch;
    size_t cap;
};

tg_pool *tg_pool_new(int n_threads)
{
    (void)n_threads; /* always one: there is no other thread to start */
    return calloc(1, sizeof(tg_pool));
}

void tg_pool_free(tg_pool *pool)
{
    if (!pool)
        return;
    free(pool->scratch);
    free(pool);
}

int tg_pool_threads(const tg_pool *pool) { return (void)pool, 1; }
int tg_pool_size(const tg_pool *pool) { return (void)pool, 1; }

void tg_pool_run(tg_pool *pool, int n_tasks, tg_pool_fn fn, void *arg) { tg_pool_run_homes(pool, n_tasks, 1, fn, arg); }

void tg_pool_run_homes(tg_pool *pool, int n_tasks, int homes, tg_pool_fn fn, void *arg)
{
    (void)pool, (void)homes;
    for (int t = 0; t < n_tasks; t++)
        fn(arg, t, n_tasks, 0);
}

void *tg_pool_scratch(tg_pool *pool, int worker, size_t bytes)
{
    if (!pool || worker != 0 || bytes > SIZE_MAX - 4096)
        return NULL;
    if (pool->cap < bytes || !pool->scratch) {
        size_t cap = (bytes + 4095) & ~(size_t)4095;
        free(pool->scratch);
        pool->scratch = aligned_alloc(64, cap ? cap : 4096);
        pool->cap = pool->scratch ? (cap ? cap : 4096) : 0;
    }
    return pool->scratch;
}

#endif /* TG_NO_THREADS */
