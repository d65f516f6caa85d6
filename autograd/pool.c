/* tapegrad — persistent pthreads pool.
 *
 * A run is published by bumping `gen` (release); workers that see a new
 * generation (acquire) read the job fields, pull task indices from `next`
 * and finally decrement `busy`.  The caller works as worker 0 and then waits
 * for busy == 0, so the job fields are never rewritten while a worker still
 * reads them.  Idle workers spin a little (cheap back-to-back runs, e.g. the
 * many small GEMMs of a training step) and then sleep on a condvar; `gen`
 * is bumped under the mutex so a sleeper can't miss a wake-up.
 */
#define _DEFAULT_SOURCE /* sysconf(_SC_NPROCESSORS_ONLN) */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { TG_POOL_SPIN = 1 << 14, TG_POOL_MAX_THREADS = 1024 };

/* One cache line per worker: scratch pointers are written by their own worker. */
typedef struct {
    _Alignas(64) void *ptr;
    size_t cap;
} tg_scratch;

typedef struct {
    tg_pool *pool;
    int index;
} tg_worker_arg;

struct tg_pool {
    int n;              /* threads including the caller */
    pthread_t *threads; /* n - 1 */
    tg_worker_arg *wargs;
    pthread_mutex_t mu;
    pthread_cond_t cv;

    /* the current job, published by `gen` */
    tg_pool_fn fn;
    void *arg;
    int n_tasks;
    bool stop;

    _Alignas(64) atomic_uint gen;
    _Alignas(64) atomic_int next;
    _Alignas(64) atomic_int busy;
    tg_scratch *scratch; /* n */
};

static inline void tg_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void tg_pool_work(tg_pool *p, int worker) {
    int n_tasks = p->n_tasks;
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= n_tasks) break;
        p->fn(p->arg, t, n_tasks, worker);
    }
}

static void *tg_pool_main(void *varg) {
    tg_worker_arg *wa = varg;
    tg_pool *p = wa->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        for (int s = 0; g == seen && s < TG_POOL_SPIN; s++) {
            tg_cpu_relax();
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen)
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        seen = g;
        if (p->stop) break;
        tg_pool_work(p, wa->index);
        atomic_fetch_sub_explicit(&p->busy, 1, memory_order_release);
    }
    return NULL;
}

/* Publishes the job fields already stored in p and wakes everybody. */
static void tg_pool_publish(tg_pool *p) {
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_mutex_unlock(&p->mu);
    pthread_cond_broadcast(&p->cv);
}

static void tg_pool_stop(tg_pool *p, int started) {
    p->stop = true;
    tg_pool_publish(p);
    for (int i = 0; i < started; i++) pthread_join(p->threads[i], NULL);
}

tg_pool *tg_pool_new(int n_threads) {
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)(c < TG_POOL_MAX_THREADS ? c : TG_POOL_MAX_THREADS) : 1;
    }
    if (n_threads > TG_POOL_MAX_THREADS) n_threads = TG_POOL_MAX_THREADS;

    /* Over-aligned types: calloc only guarantees 16 bytes. */
    tg_pool *p = aligned_alloc(64, sizeof *p);
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    p->n = n_threads;
    p->scratch = aligned_alloc(64, (size_t)n_threads * sizeof *p->scratch);
    if (p->scratch) memset(p->scratch, 0, (size_t)n_threads * sizeof *p->scratch);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    p->wargs = calloc((size_t)n_threads, sizeof *p->wargs);
    atomic_init(&p->gen, 0);
    atomic_init(&p->next, 0);
    atomic_init(&p->busy, 0);
    if (!p->scratch || !p->threads || !p->wargs) goto fail_mem;
    if (pthread_mutex_init(&p->mu, NULL)) goto fail_mem;
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
    free(p->threads);
    free(p->wargs);
    free(p);
    return NULL;
}

void tg_pool_free(tg_pool *pool) {
    if (!pool) return;
    tg_pool_stop(pool, pool->n - 1);
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    for (int i = 0; i < pool->n; i++) free(pool->scratch[i].ptr);
    free(pool->scratch);
    free(pool->threads);
    free(pool->wargs);
    free(pool);
}

int tg_pool_threads(const tg_pool *pool) { return pool ? pool->n : 1; }

void tg_pool_run(tg_pool *pool, int n_tasks, tg_pool_fn fn, void *arg) {
    if (n_tasks <= 0) return;
    if (pool->n == 1 || n_tasks == 1) { /* nothing to share: skip the hand-off */
        for (int t = 0; t < n_tasks; t++) fn(arg, t, n_tasks, 0);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    pool->n_tasks = n_tasks;
    atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->busy, pool->n - 1, memory_order_relaxed);
    tg_pool_publish(pool);

    tg_pool_work(pool, 0);
    /* Spin first (a worker is usually almost done), then be polite to
     * oversubscribed machines. */
    for (unsigned s = 0; atomic_load_explicit(&pool->busy, memory_order_acquire) != 0; s++) {
        if (s < TG_POOL_SPIN) tg_cpu_relax();
        else sched_yield();
    }
}

void *tg_pool_scratch(tg_pool *pool, int worker, size_t bytes) {
    if (!pool || worker < 0 || worker >= pool->n) return NULL;
    tg_scratch *s = &pool->scratch[worker];
    if (s->cap < bytes || !s->ptr) {
        /* aligned_alloc wants a multiple of the alignment; round to 4 KiB so
         * small growth steps don't reallocate every call. */
        if (bytes > SIZE_MAX - 4096) return NULL;
        size_t cap = (bytes + 4095) & ~(size_t)4095;
        if (cap == 0) cap = 4096;
        free(s->ptr);
        s->ptr = aligned_alloc(64, cap);
        s->cap = s->ptr ? cap : 0;
    }
    return s->ptr;
}
