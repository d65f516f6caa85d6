/* autograd/threads.h: a small persistent pthreads pool for data-parallel kernels
 * (the context owns one; pooling, the op, is ops/pool.c).
 *
 * One pool is driven by one thread at a time (the "caller"), which takes part
 * in every tg_pool_run as worker 0; the pool's own threads are workers
 * 1 .. tg_pool_size()-1.  Different pools may be used concurrently from
 * different threads.  No global state.  Link with -pthread.
 */
#ifndef TAPEGRAD_AUTOGRAD_THREADS_H
#define TAPEGRAD_AUTOGRAD_THREADS_H

#include <stddef.h>

typedef struct tg_pool tg_pool;

/* A task: called once per task index in [0, n_tasks).  `worker` is the index
 * of the thread running it, in [0, tg_pool_size(pool)); use it to pick
 * tg_pool_scratch(pool, worker, ...). */
typedef void (*tg_pool_fn)(void *arg, int task, int n_tasks, int worker);

/* n_threads counts the caller.  <= 0 means the number of online CPUs; 1 starts
 * no thread.  Returns NULL on failure. */
tg_pool *tg_pool_new(int n_threads);

/* Joins the threads and frees the scratch buffers.  NULL is ok. */
void tg_pool_free(tg_pool *pool);

/* Threads a run started now would get, including the caller: the pool's
 * size, but 1 inside a task of a run (its own runs are inline). NULL counts
 * as 1. Kernels size their splits with it. */
int tg_pool_threads(const tg_pool *pool);
/* Threads of the pool including the caller, whatever is running; NULL: 1. */
int tg_pool_size(const tg_pool *pool);

/* Runs fn(arg, task, n_tasks, worker) for every task in [0, n_tasks) and
 * returns when all are done.  The caller runs tasks too.  Task t below the
 * thread count is offered first to worker t (the caller is worker 0), so a
 * repeated run keeps each task's data in one core's cache; the other tasks
 * are handed out first come, first served.  A worker with nothing left takes
 * any task not yet started: the caller never waits for a worker that is
 * asleep or descheduled, it just does that worker's share (so a task must
 * never wait for another, and may run on any worker).  Does not allocate.  A task that calls tg_pool_run on the
 * same pool gets its tasks run inline on its own thread, as worker 0 (the
 * threads are all taken by the outer run).  Tasks run in the caller's
 * floating-point mode (MXCSR on x86).  Workers spin for
 * ~0.1 ms after a run before sleeping, so back-to-back runs start in well
 * under a µs.  pool == NULL runs every task on the caller. */
void tg_pool_run(tg_pool *pool, int n_tasks, tg_pool_fn fn, void *arg);

/* tg_pool_run with the first `homes` tasks (at most 65535) in contiguous
 * blocks, one per thread: worker t's is [t·homes/threads, (t+1)·homes/threads),
 * run front to back by worker t, while a worker that has run out of other
 * tasks takes them from the back. Repeated runs with the same blocks keep
 * each block's data in one core's cache, and a worker that is slow or
 * descheduled for a moment loses only the end of its block. tg_pool_run is
 * homes = min(n_tasks, threads): one task per block. */
void tg_pool_run_homes(tg_pool *pool, int n_tasks, int homes, tg_pool_fn fn, void *arg);

/* Per-worker scratch: at least `bytes` bytes, 64-byte aligned, grown on demand
 * and kept until tg_pool_free (contents are not preserved when it grows).
 * Inside a task, call it only with the task's own `worker`; outside
 * tg_pool_run the caller may touch any worker's buffer (e.g. to reserve memory
 * before a run so that tasks never allocate).  Returns NULL if worker is out
 * of range or memory runs out. */
void *tg_pool_scratch(tg_pool *pool, int worker, size_t bytes);

#endif
