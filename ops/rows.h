/* Internal to ops/: a kernel over the rows of a tensor's last axis, split
 * across the context's pool when the tensor is big enough to pay for waking
 * the threads (norm.c, masked.c, attention.c, loss.c). */
#ifndef TAPEGRAD_OPS_ROWS_H
#define TAPEGRAD_OPS_ROWS_H

#include "autograd/internal.h"

/* body(arg, first_row, end_row) over [0, rows) */
typedef struct {
    tg_range_fn body;
    void *arg;
    int64_t rows;
} tg_rows_job;

static inline void tg_rows_task(void *arg, int task, int n_tasks, int worker)
{
    (void)worker;
    const tg_rows_job *job = arg;
    int64_t begin = job->rows * task / n_tasks, end = job->rows * (task + 1) / n_tasks;
    if (begin < end)
        job->body(job->arg, begin, end);
}

/* rows · cols elements in all: below TG_PARALLEL_MIN (or one row, or one
 * thread) the body runs inline on every row. */
static inline void tg_parallel_rows(tg_ctx *ctx, int64_t rows, int64_t cols, tg_range_fn body, void *arg)
{
    int threads = rows < 2 || rows * cols < TG_PARALLEL_MIN ? 1 : tg_pool_threads(ctx->pool);
    if (threads < 2) {
        body(arg, 0, rows);
        return;
    }
    if (threads > rows)
        threads = (int)rows;
    tg_rows_job job = {body, arg, rows};
    tg_pool_run(ctx->pool, threads, tg_rows_task, &job);
}

#endif
