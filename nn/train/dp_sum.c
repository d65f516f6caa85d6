/* The workers' gradients summed into the model's (nn/train/data_parallel_internal.h):
 * slice by slice across the pool, g = Σ_k (n_k/N)·g_k in worker order
 * (k = 0, 1, ...), each slice updated by the optimizer on the core that summed
 * it. With a reduce callback (MPI) the sum goes into a flat buffer weighted by
 * n_k with the sample count at its end, the callback sums it across
 * processes, and each process divides by the global count. */
#include "nn/train/data_parallel_internal.h"

#include <string.h>

/* dst[lo, hi) = Σ_k weight_k·g_k of parameter i, in worker order: the first
 * two workers in one pass, the others added one by one. */
#define TG_DP_SUM(T)                                                                                   \
    static void sum_##T(const tg_data_parallel *dp, int i, T *dst, int64_t lo, int64_t hi)             \
    {                                                                                                  \
        int first = 0; /* the first worker with a gradient overwrites, the others add */              \
        for (int k = 0; k < dp->n; k++) {                                                              \
            const T *g = dp->workers[k].grad[i];                                                       \
            const T a = (T)dp->weights[k];                                                             \
            if (!g || dp->workers[k].count == 0)                                                       \
                continue;                                                                              \
            const T *g2 = NULL;                                                                        \
            T a2 = 0;                                                                                  \
            if (!first && k + 1 < dp->n && dp->workers[k + 1].grad[i] && dp->workers[k + 1].count) {   \
                g2 = dp->workers[k + 1].grad[i];                                                       \
                a2 = (T)dp->weights[k + 1];                                                            \
            }                                                                                          \
            if (!first && g2) {                                                                        \
                for (int64_t j = lo; j < hi; j++)                                                      \
                    dst[j] = a * g[j] + a2 * g2[j];                                                    \
                k++;                                                                                   \
            } else if (!first) {                                                                       \
                for (int64_t j = lo; j < hi; j++)                                                      \
                    dst[j] = a * g[j];                                                                 \
            } else {                                                                                   \
                for (int64_t j = lo; j < hi; j++)                                                      \
                    dst[j] += a * g[j];                                                                \
            }                                                                                          \
            first = 1;                                                                                 \
        }                                                                                              \
        if (!first)                                                                                    \
            memset(dst + lo, 0, (size_t)(hi - lo) * sizeof(T));                                        \
    }                                                                                                  \
    static void scale_##T(T *dst, const T *src, double factor, int64_t lo, int64_t hi)                 \
    {                                                                                                  \
        const T f = (T)factor;                                                                         \
        for (int64_t j = lo; j < hi; j++)                                                              \
            dst[j] = src[j] * f;                                                                       \
    }
TG_DP_SUM(float)
TG_DP_SUM(double)
#undef TG_DP_SUM
/* Slice task of the flat range: whole cache lines, so no two tasks share one. */
static void slice(const tg_data_parallel *dp, int task, int64_t *begin, int64_t *end)
{
    int64_t chunk = ((dp->sum.total + dp->sum.tasks - 1) / dp->sum.tasks + 15) & ~(int64_t)15;
    *begin = task * chunk < dp->sum.total ? task * chunk : dp->sum.total;
    *end = *begin + chunk < dp->sum.total ? *begin + chunk : dp->sum.total;
}

/* Parameter i's part [*lo, *hi) of the flat range [begin, end); false if none. */
static bool overlap(const tg_data_parallel *dp, int i, int64_t begin, int64_t end, int64_t *lo, int64_t *hi)
{
    *lo = (begin > dp->sum.offsets[i] ? begin : dp->sum.offsets[i]) - dp->sum.offsets[i];
    *hi = (end < dp->sum.offsets[i + 1] ? end : dp->sum.offsets[i + 1]) - dp->sum.offsets[i];
    return *lo < *hi;
}

/* The end of a step for slice `task` of the model's gradient, while it is in
 * cache: the optimizer's update of the slice in the values of worker `task`
 * (its own replica, which runs on this thread: the lines are this core's and
 * no other core reads them), then the new values pushed into every other
 * worker's (so that the workers need no copy at the next step). Updating the
 * model's values here instead made the core of slice 1 write lines that
 * worker 0 had just read (measured 90-100 us against 40 us for the whole sum,
 * update and push of a 235k-value MLP in a two-thread micro-benchmark). */
void tg_dp_update_and_broadcast(const tg_data_parallel *dp, int task, int i, int64_t lo, int64_t hi)
{
    if (!dp->sum.fused || !dp->dst[i])
        return;
    int owner = task < dp->n ? task : 0;
    size_t es = dp->dtype == TG_F32 ? 4 : 8;
    char *w = (char *)tg_tensor_data(dp->workers[owner].params.items[i]);
    tg_optim_update_slice(dp->c->optimizer, i, lo, hi, dp->dst[i], w);
    for (int k = 0; k < dp->n; k++)
        if (k != owner && tg_tensor_data(dp->workers[k].params.items[i]) != w) /* else shared: the lead */
            memcpy((char *)tg_tensor_data(dp->workers[k].params.items[i]) + (size_t)lo * es, w + (size_t)lo * es,
                   (size_t)(hi - lo) * es);
}

/* Without a reduce callback: sum straight into the model's gradient, update. */
void tg_dp_sum_task(void *arg, int task)
{
    const tg_data_parallel *dp = arg;
    int64_t begin, end, lo, hi;
    slice(dp, task, &begin, &end);
    for (int i = 0; i < dp->n_params; i++) {
        void *dst = dp->sum.flat ? (char *)dp->sum.flat + (size_t)dp->sum.offsets[i] * (dp->dtype == TG_F32 ? 4 : 8)
                             : dp->dst[i];
        if (!overlap(dp, i, begin, end, &lo, &hi) || !dst)
            continue; /* no gradient on worker 0: not reached, the optimizer skips it */
        if (dp->take.taken[i] && !dp->take.reached[i])
            continue; /* all of it is products: dp_weights.c */
        if (dp->dtype == TG_F32)
            sum_float(dp, i, dst, lo, hi);
        else
            sum_double(dp, i, dst, lo, hi);
        if (!dp->sum.flat && !dp->take.taken[i])
            tg_dp_update_and_broadcast(dp, task, i, lo, hi);
    }
}

/* After the reduce callback: the flat sum divided by the global count into
 * the model's gradient, update. */
static void unpack_task(void *arg, int task)
{
    const tg_data_parallel *dp = arg;
    int64_t begin, end, lo, hi;
    slice(dp, task, &begin, &end);
    for (int i = 0; i < dp->n_params; i++) {
        void *dst = dp->dst[i];
        if (!overlap(dp, i, begin, end, &lo, &hi) || !dst)
            continue;
        if (dp->dtype == TG_F32)
            scale_float(dst, (const float *)dp->sum.flat + dp->sum.offsets[i], dp->sum.divide_by, lo, hi);
        else
            scale_double(dst, (const double *)dp->sum.flat + dp->sum.offsets[i], dp->sum.divide_by, lo, hi);
        tg_dp_update_and_broadcast(dp, task, i, lo, hi);
    }
}

/* With a reduce callback: the sum weighted by sample counts into the flat
 * buffer with this process's count at its end; the callback sums it across
 * processes; the global mean into the model's gradient, updated. */
tg_status tg_dp_sum_across_processes(tg_data_parallel *dp, int64_t batch, int epoch, int64_t step)
{
    tg_ctx *ctx = dp->ctx;
    tg_ctx_run_tasks(ctx, dp->sum.tasks, tg_dp_sum_task, dp);
    if (dp->dtype == TG_F32)
        ((float *)dp->sum.flat)[dp->sum.total] = (float)batch;
    else
        ((double *)dp->sum.flat)[dp->sum.total] = (double)batch;
    tg_status status = dp->c->reduce(ctx, dp->sum.flat, dp->sum.total + 1, dp->dtype, dp->c->reduce_user);
    if (status != TG_OK)
        return tg_ctx_status(ctx) != TG_OK ? tg_ctx_status(ctx)
                                           : tg_ctx_fail(ctx, status, "tg_train: epoch %d step %lld: the reduce "
                                                         "callback failed", epoch, (long long)step);
    double samples = dp->dtype == TG_F32 ? ((float *)dp->sum.flat)[dp->sum.total] : ((double *)dp->sum.flat)[dp->sum.total];
    if (!(samples >= (double)batch))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: epoch %d step %lld: after the reduce callback the "
                           "sample count is %g, below this process's %lld; the callback must sum every value",
                           epoch, (long long)step, samples, (long long)batch);
    dp->sum.divide_by = 1 / samples;
    tg_ctx_run_tasks(ctx, dp->sum.tasks, unpack_task, dp);
    return TG_OK;
}
