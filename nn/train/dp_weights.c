/* The product sink of data-parallel training (ops/product_sink.h, which
 * ops/ owns; this file implements it): weight gradients taken off the
 * workers' tapes and made once over the batch, by row chunks, each chunk's
 * rows updated on the thread that made them; and the lead weight, whose
 * forward product is made for the whole batch before the workers run
 * (nn/train/data_parallel_internal.h). */
#include "nn/train/data_parallel_internal.h"

#include <stdlib.h>
#include <string.h>

/* The tape's offer of a weight's gradient product (ops/product_sink.h):
 * taken for a parameter's first use over the share's samples, one row each
 * (the stacks hold batch_size rows); a second use, or a product over rows
 * of another count (a model that reshapes its batch), stays on the tape. */
bool tg_dp_take_weight_grad(void *user, int i, tg_tensor *left, tg_tensor *right)
{
    dp_worker *w = user;
    const tg_data_parallel *dp = w->dp;
    if (w->left[i] || tg_tensor_dim(left, 0) != w->count || tg_tensor_dim(right, 0) != w->count)
        return false;
    w->left[i] = left;
    w->right[i] = right;
    if (w->index == 0 && right == w->x && dp->lead.found < 0) /* right is the input: x·Wᵀ */
        ((tg_data_parallel *)dp)->lead.found = i;
    if (dp->take.stack_left[i]) /* this worker's rows of the stacks, while the parts are in its cache */
        tg_weight_grad_stack(left, right, dp->weights[w->index], w->begin, dp->take.stack_left[i], dp->take.stack_right[i]);
    return true;
}

/* A worker's x·Wᵀ of the lead weight: its rows of the batch's product. */
bool tg_dp_give_product(void *user, const tg_tensor *a, const tg_tensor *b, bool trans_a, bool trans_b, tg_tensor *c)
{
    const dp_worker *w = user;
    const tg_data_parallel *dp = w->dp;
    if (!dp->lead.leading || a != w->x || b != w->params.items[dp->lead.index] || trans_a || !trans_b)
        return false;
    int64_t out = tg_tensor_dim(b, 0);
    size_t es = dp->dtype == TG_F32 ? 4 : 8;
    memcpy(tg_tensor_data(c), (const char *)dp->lead.out + (size_t)(w->begin * out) * es, (size_t)(w->count * out) * es);
    return true;
}

/* Reads rows [r0, r1) of a row-major array, bytes [b0, b1) of each: one
 * sequential stream the prefetchers follow. Rows another core has just
 * written, read by a GEMM in the order of its panels, cost a cross-core
 * round trip per line instead (measured: a 64×64 by 64×256 weight-gradient
 * chunk 21 µs with the other worker's half of its stacks in place, 13 µs
 * after 2 µs of pulling them). */
static void pull_rows(const void *base, size_t row_bytes, int64_t r0, int64_t r1, size_t b0, size_t b1)
{
    uint64_t sink = 0;
    for (int64_t r = r0; r < r1; r++)
        for (size_t o = b0; o < b1; o += 64)
            sink += *(const volatile unsigned char *)((const char *)base + (size_t)r * row_bytes + o);
    (void)sink;
}

/* Chunk `c` of a taken weight's rows: the product of every share's parts
 * (added to the tapes' sum where there is one), then the update of those
 * rows, while they are in this core's cache. */
static void weight_chunk(const tg_data_parallel *dp, int c, int worker)
{
    int i = dp->take.chunk[c][0];
    int64_t r0 = dp->take.chunk[c][1], r1 = dp->take.chunk[c][2];
    int64_t cols = tg_tensor_dim(dp->workers[0].params.items[i], 1);
    tg_pool *pool = tg_ctx_pool(dp->ctx);
    int64_t rows = tg_tensor_dim(dp->workers[0].params.items[i], 0), batch = 0;
    for (int k = 0; k < dp->n; k++)
        batch += dp->workers[k].count;
    if (dp->take.stacked[i]) {
        size_t es = dp->dtype == TG_F32 ? 4 : 8;
        for (int k = 0; k < dp->n; k++) { /* the other workers' rows (the lead's inputs are read by its product) */
            const dp_worker *w = &dp->workers[k];
            if (k == worker)
                continue;
            pull_rows(dp->take.stack_left[i], (size_t)rows * es, w->begin, w->begin + w->count, (size_t)r0 * es,
                      (size_t)r1 * es);
            if (i != dp->lead.index)
                pull_rows(dp->take.stack_right[i], (size_t)cols * es, w->begin, w->begin + w->count, 0, (size_t)cols * es);
        }
        tg_weight_grad_product(pool, worker, dp->dtype, rows, cols, batch, 1, dp->take.stack_left[i], dp->take.stack_right[i],
                               r0, r1, dp->dst[i], dp->take.reached[i]);
    } else { /* a first step, or a worker that did not offer its parts: the parts one by one */
        bool accumulate = dp->take.reached[i];
        for (int k = 0; k < dp->n; k++) {
            const dp_worker *w = &dp->workers[k];
            if (!w->left[i] || !w->count)
                continue;
            tg_weight_grad_product(pool, worker, dp->dtype, rows, cols, w->count, dp->weights[k],
                                   tg_tensor_data(w->left[i]), tg_tensor_data(w->right[i]), r0, r1, dp->dst[i],
                                   accumulate);
            accumulate = true;
        }
    }
    tg_dp_update_and_broadcast(dp, worker, i, r0 * cols, r1 * cols);
}

/* Without a reduce callback, after the workers: the chunks of taken weights
 * first, then the slices of the tapes' sums (all of the sums first, in a run
 * of their own, when a weight has both). The first chunks are the first
 * weight's, offered to the same threads every step (tg_pool_run's home
 * tasks), so that their rows, their gradient and optimizer state stay in
 * one core's cache; the rest go to whichever thread is free. */
typedef struct {
    const tg_data_parallel *dp;
    bool sums, chunks;
} finish_job;

static void finish_task(void *arg, int task, int n_tasks, int worker)
{
    (void)n_tasks;
    const finish_job *job = arg;
    int chunks = job->chunks ? job->dp->take.chunks : 0;
    if (task < chunks)
        weight_chunk(job->dp, task, worker);
    else if (job->sums)
        tg_dp_sum_task((void *)job->dp, task - chunks);
}


/* Row chunks of taken weight i, at most TG_DP_CHUNK values each: *count of
 * them, and the rows per chunk. A weight of TG_DP_SLICE_MIN values or more
 * is cut into a multiple of the thread count, each thread a block of it
 * (in_blocks), so that no thread waits while another does a whole weight
 * alone; the lead weight into TG_DP_LEAD_BLOCK chunks per thread at least,
 * so that a thread the host stalls for a moment loses the end of its block
 * to the others instead of holding them up. */
static int64_t chunk_rows(const tg_data_parallel *dp, int i, int64_t *count)
{
    const tg_tensor *p = dp->workers[0].params.items[i];
    int64_t rows = tg_tensor_dim(p, 0), values = rows * tg_tensor_dim(p, 1), threads = tg_ctx_threads(dp->ctx);
    int64_t pieces = (values + TG_DP_CHUNK - 1) / TG_DP_CHUNK;
    if (values >= TG_DP_SLICE_MIN) {
        int64_t per_thread = (pieces + threads - 1) / threads;
        if (i == dp->lead.index && per_thread < TG_DP_LEAD_BLOCK)
            per_thread = TG_DP_LEAD_BLOCK;
        pieces = per_thread * threads;
    }
    int64_t step = (rows + (pieces < rows ? pieces : rows) - 1) / (pieces < rows ? pieces : rows);
    *count = (rows + step - 1) / step;
    return step;
}

static bool in_blocks(const tg_data_parallel *dp, int i, int64_t count)
{
    const tg_tensor *p = dp->workers[0].params.items[i];
    return tg_tensor_size(p) >= TG_DP_SLICE_MIN && count % tg_ctx_threads(dp->ctx) == 0;
}

/* This step's chunks of the taken weights' rows: first one block per thread,
 * thread t's share of every weight cut into blocks (the lead's first: the
 * rows whose product it made), so that each chunk's rows, gradient and
 * optimizer state stay in one core's cache from step to step; then the
 * chunks of small weights, for whichever thread is free. */
static bool plan_chunks(tg_data_parallel *dp)
{
    int threads = tg_ctx_threads(dp->ctx);
    dp->take.chunks = dp->take.homes = 0;
    for (int pass = 0; pass < 2; pass++) {
        int count = 0;
        for (int blocked = 1; blocked >= 0; blocked--) {
            for (int t = 0; t < (blocked ? threads : 1); t++)
                for (int q = -1; q < dp->n_params; q++) {
                    int i = q < 0 ? dp->lead.index : q;
                    if (i < 0 || (q >= 0 && i == dp->lead.index) || !dp->take.taken[i] || !dp->dst[i])
                        continue;
                    int64_t n, rows = tg_tensor_dim(dp->workers[0].params.items[i], 0), step = chunk_rows(dp, i, &n);
                    if (in_blocks(dp, i, n) != (bool)blocked)
                        continue;
                    for (int64_t c = blocked ? n * t / threads : 0; c < (blocked ? n * (t + 1) / threads : n);
                         c++, count++)
                        if (pass)
                            dp->take.chunk[count][0] = i, dp->take.chunk[count][1] = (int)(c * step),
                            dp->take.chunk[count][2] = (int)((c + 1) * step < rows ? (c + 1) * step : rows);
                }
            if (blocked)
                dp->take.homes = count;
        }
        if (!pass && count > dp->take.chunk_cap) {
            int (*grown)[3] = realloc(dp->take.chunk, (size_t)count * sizeof *grown);
            if (!grown)
                return false;
            dp->take.chunk = grown;
            dp->take.chunk_cap = count;
        }
        dp->take.chunks = count;
    }
    return true;
}

/* Before the workers of a full batch with a lead weight: each worker's share
 * converted into batch_x (its x is a view), then X·Wᵀ by W's chunks. */
static void fill_task(void *arg, int k)
{
    const tg_data_parallel *dp = arg;
    const dp_worker *w = &dp->workers[k];
    tg_loader_fill(dp->loader, dp->order + w->begin, w->count, w->x, w->y);
}

static void lead_task(void *arg, int task, int n_tasks, int worker)
{
    (void)n_tasks;
    const tg_data_parallel *dp = arg;
    const tg_tensor *p = dp->workers[0].params.items[dp->lead.index];
    int64_t count, rows = tg_tensor_dim(p, 0), step = chunk_rows(dp, dp->lead.index, &count), r0 = task * step;
    int64_t r1 = r0 + step < rows ? r0 + step : rows;
    const void *w = tg_tensor_data_const(p);
    if (w) /* else freed: the workers' matmuls report it */
        tg_weight_input_product(tg_ctx_pool(dp->ctx), worker, dp->dtype, dp->c->batch_size, rows,
                                tg_tensor_dim(p, 1), dp->lead.batch_x, w, r0, r1, dp->lead.out);
}

/* Before the workers: with a lead weight and a full batch (full shares only:
 * the workers' x are views of batch_x), each share converted into batch_x and
 * X·Wᵀ made by W's row chunks, each on the thread that owns those rows. */
void tg_dp_lead_product(tg_data_parallel *dp, int64_t batch)
{
    tg_ctx *ctx = dp->ctx;
    dp->lead.leading = dp->lead.index >= 0 && batch == dp->c->batch_size;
    if (dp->lead.leading) {
        tg_ctx_run_tasks(ctx, dp->n, fill_task, dp);
        int64_t chunks;
        chunk_rows(dp, dp->lead.index, &chunks);
        tg_pool_run_homes(tg_ctx_pool(ctx), (int)chunks, (int)chunks, lead_task, dp);
    }
}

/* After the workers: which parameters some worker's tape reached, which had
 * their gradient taken, and which are whole in the stacks. */
void tg_dp_note_parts(tg_data_parallel *dp)
{
    dp->take.mixed = false;
    for (int i = 0; i < dp->n_params; i++) {
        dp->take.taken[i] = dp->take.reached[i] = false;
        bool all = true; /* every worker with samples put its parts in the stacks */
        for (int k = 0; k < dp->n; k++) {
            dp->take.taken[i] |= dp->workers[k].left[i] != NULL;
            dp->take.reached[i] |= dp->workers[k].grad[i] != NULL;
            all &= !dp->workers[k].count || dp->workers[k].left[i] != NULL;
        }
        dp->take.mixed |= dp->take.taken[i] && dp->take.reached[i];
        if (dp->take.stacked)
            dp->take.stacked[i] = dp->take.taken[i] && all && dp->take.stack_left[i];
    }
}

/* Without a reduce callback, after the workers: the tapes' sums and the
 * taken weights' products in one run of the pool (two when a weight has
 * both), then stacks for the weights taken without one, from the next step
 * on. */
tg_status tg_dp_sum_and_take(tg_data_parallel *dp)
{
    tg_ctx *ctx = dp->ctx;
    if (!plan_chunks(dp))
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_train: out of memory");
    tg_pool *pool = tg_ctx_pool(ctx);
    int homes = dp->take.homes ? dp->take.homes : tg_ctx_threads(ctx);
    if (dp->take.mixed) { /* the tapes' parts are summed everywhere before products are added to them */
        tg_pool_run(pool, dp->sum.tasks, finish_task, &(finish_job){dp, true, false});
        tg_pool_run_homes(pool, dp->take.chunks, homes, finish_task, &(finish_job){dp, false, true});
    } else {
        tg_pool_run_homes(pool, dp->sum.tasks + dp->take.chunks, homes, finish_task, &(finish_job){dp, true, true});
    }
    /* stacks for the weights taken without one, from the next step on */
    for (int i = 0; i < dp->n_params && dp->take.stack_left; i++)
        if (dp->take.taken[i] && !dp->take.stack_left[i]) {
            const tg_tensor *p = dp->workers[0].params.items[i];
            size_t es = dp->dtype == TG_F32 ? 4 : 8, n = (size_t)dp->c->batch_size;
            dp->take.stack_left[i] = malloc(n * (size_t)tg_tensor_dim(p, 0) * es);
            dp->take.stack_right[i] = malloc(n * (size_t)tg_tensor_dim(p, 1) * es);
            if (!dp->take.stack_left[i] || !dp->take.stack_right[i]) { /* then the unstacked way */
                free(dp->take.stack_left[i]);
                free(dp->take.stack_right[i]);
                dp->take.stack_left[i] = dp->take.stack_right[i] = NULL;
            }
        }
    return TG_OK;
}

/* After a step that found a lead weight with its stacks: every worker has
 * its own x of a full share (views into batch_x from now on) and every
 * replica's W becomes the model's array. Without memory it stays as it was. */
void tg_dp_start_lead(tg_data_parallel *dp)
{
    int i = dp->lead.found;
    if (dp->lead.index >= 0 || i < 0 || !dp->take.stacked[i])
        return;
    for (int k = 0; k < dp->n; k++)
        if (!dp->workers[k].x)
            return;
    const tg_tensor *p = dp->workers[0].params.items[i];
    size_t es = dp->dtype == TG_F32 ? 4 : 8, batch = (size_t)dp->c->batch_size;
    size_t x_bytes = batch * (size_t)dp->features * es, out_bytes = batch * (size_t)tg_tensor_dim(p, 0) * es;
    dp->lead.batch_x = aligned_alloc(64, (x_bytes + 63) & ~(size_t)63);
    dp->lead.out = aligned_alloc(64, (out_bytes + 63) & ~(size_t)63);
    dp->lead.x_had = calloc(2 * (size_t)dp->n, sizeof(void *));
    if (!dp->lead.batch_x || !dp->lead.out || !dp->lead.x_had) {
        free(dp->lead.batch_x);
        free(dp->lead.out);
        free(dp->lead.x_had);
        dp->lead.batch_x = dp->lead.out = NULL;
        dp->lead.x_had = NULL;
        return;
    }
    dp->lead.w_had = dp->lead.x_had + dp->n;
    free(dp->take.stack_right[i]);
    dp->take.stack_right[i] = dp->lead.batch_x;
    int64_t row = 0;
    for (int k = 0; k < dp->n; k++) {
        dp_worker *w = &dp->workers[k];
        dp->lead.x_had[k] = tg_tensor_share_data(w->x, (char *)dp->lead.batch_x + (size_t)(row * dp->features) * es);
        row += tg_tensor_dim(w->x, 0);
        if (k > 0)
            dp->lead.w_had[k] = tg_tensor_share_data(w->params.items[i], tg_tensor_data(dp->workers[0].params.items[i]));
    }
    dp->lead.index = i;
}
