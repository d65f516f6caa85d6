/* Data-parallel training step: a minibatch split into shares, one worker per
 * share, gradients summed in a fixed order, one optimizer step (by the caller).
 *
 * Worker 0 runs the caller's model on the caller's context; worker k > 0 runs
 * a replica (config->clone) in a context of its own, with its own tape, step
 * memory and one thread: a parameter's header is written during backward
 * (pending and accumulated gradients), so two workers cannot share one
 * context's tensors. The workers run as tasks on the caller's context's pool;
 * a worker's own GEMMs then run on its thread alone (the pool runs nested work
 * inline), so two levels of threads never oversubscribe the cores.
 *
 * Per step: each replica copies the model's parameter values (a memory pass,
 * done by its own worker in parallel), every worker runs forward, loss and
 * backward on its share, then the gradients are summed slice by slice across
 * the pool: g = Σ_k (n_k/N)·g_k in worker order (k = 0, 1, ...), into the
 * model's own gradient. With a reduce callback (MPI) the sum goes into a flat
 * buffer weighted by n_k with the sample count at its end, the callback sums
 * it across processes, and each process divides by the global count. */
#include "nn/train/data_parallel.h"

#include "autograd/weight_grad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    TG_DP_MAX_THREADS = 256,
    TG_DP_SLICE_MIN = 1 << 14, /* values per reduce task at least */
    TG_DP_CHUNK = 1 << 17,     /* values per chunk of a taken weight's rows, at most (smaller ones measured slower) */
    TG_DP_LEAD_BLOCK = 2       /* the lead weight's chunks per thread, at least */
};

typedef struct tg_data_parallel tg_data_parallel;

typedef struct {
    tg_data_parallel *dp;
    int index;
    tg_ctx *ctx;       /* worker 0: the caller's */
    void *model;       /* worker 0: config->model */
    tg_params params, buffers;
    void **grad;       /* [n_params]: this step's gradient data, NULL where none */
    tg_tensor **grads; /* [n_params]: tg_grad's results */
    tg_tensor **left, **right; /* [n_params]: weight gradients taken off the tape, leftᵀ·right; NULL where none */
    tg_tensor *x, *y;  /* its share of a full batch, converted; in its context */
    int64_t begin, count; /* its share of the batch: rows [begin, begin + count) */
    double loss;
    int64_t correct;
    tg_status status;
} dp_worker;

struct tg_data_parallel {
    tg_ctx *ctx;
    const tg_train_config *c;
    int classes;
    int n;               /* workers */
    dp_worker *workers;  /* [n] */
    int n_params;
    tg_dtype dtype;      /* of every parameter */
    int64_t total;       /* Σ parameter sizes */
    int64_t *offsets;    /* [n_params + 1]: where each parameter starts in the flat order */
    void *flat;          /* [total + 1] for config->reduce, else NULL */
    double *weights;     /* [n]: this step's weight of each worker's gradient */
    int tasks;           /* reduce tasks per step */
    const tg_loader *loader; /* this step's batch: samples order[0..batch) of its data */
    const int64_t *order;
    int64_t features, outputs;
    int classes_of_data;
    double divide_by;    /* unpacking the flat buffer: 1 / global sample count */
    bool fused;          /* the optimizer's parameters are params_of's: update slice by slice */
    void **dst;          /* [n_params]: the model's .grad data, where the sum goes; NULL: not reached */
    bool warm;           /* a first step ran tg_backward: the model's reached parameters have a .grad */
    bool replicas_current; /* the replicas hold the model's values */
    bool take_weights;   /* weight gradients are taken off the workers' tapes (autograd/weight_grad.h) */
    bool *taken, *reached; /* [n_params]: this step, some worker's weight gradient was taken / on its tape */
    bool mixed;          /* some parameter has both: its tape part is summed before its products are added */
    /* A taken weight's parts, stacked by the workers as they are offered
     * (sample rows in batch order, left scaled by the share's weight), so
     * that its product is one GEMM over the batch: [batch_size, rows] and
     * [batch_size, cols] per parameter, made after its first taken step. */
    void **stack_left, **stack_right; /* [n_params] */
    bool *stacked;       /* [n_params]: this step, every worker's parts are in the stacks */
    int chunks;          /* this step's row chunks of taken weights: tasks claimed by whichever thread is free */
    int (*chunk)[3];     /* [chunk]: parameter, first row, end row */
    int chunk_cap;
    int homes;           /* the first chunks, in blocks by thread (plan_chunks) */
    /* The lead weight (autograd/weight_grad.h): W of x·Wᵀ with x a worker's
     * input, found at a taken step; from the next step on its rows are
     * owned. Per full batch the workers' shares are converted into one
     * array, X·Wᵀ of the whole batch is made by the row blocks of W's
     * chunks, each on the thread that makes those rows' gradient and update,
     * and each worker's matmul is given its rows. W's values are one array
     * that every replica shares, written and read by one core per block:
     * nothing is pushed for it. */
    int lead, lead_found;  /* parameter index; -1: none */
    bool leading;          /* this step's product was made before the workers */
    void *batch_x;         /* [batch_size, features]: the workers' x are views of it; W's right stack */
    void *lead_out;        /* [batch_size, W's rows]: X·Wᵀ */
    void **x_had, **w_had; /* [n]: each worker's own buffers of x and of W, given back at the end */
};

/* ---- setup ------------------------------------------------------------------ */

static bool same_shape(const tg_tensor *a, const tg_tensor *b)
{
    return tg_tensor_rank(a) == tg_tensor_rank(b) && tg_tensor_dtype(a) == tg_tensor_dtype(b) &&
           !memcmp(tg_tensor_shape(a), tg_tensor_shape(b), sizeof(int64_t) * (size_t)tg_tensor_rank(a));
}

/* Checks that a replica's list matches the model's, tensor by tensor. */
static bool lists_match(tg_ctx *ctx, const char *what, int worker, tg_params model, tg_params replica)
{
    if (replica.count != model.count)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: worker %d's replica has %d %s; the model %d (clone and %s_of "
                           "must agree)", worker, replica.count, what, model.count, what), false;
    for (int i = 0; i < model.count; i++) {
        const tg_tensor *a = model.items[i], *b = replica.items[i];
        if (!a || !b || !same_shape(a, b)) {
            char sa[64] = "NULL", sb[64] = "NULL";
            if (a)
                tg_shape_str(tg_tensor_rank(a), tg_tensor_shape(a), sa, sizeof sa);
            if (b)
                tg_shape_str(tg_tensor_rank(b), tg_tensor_shape(b), sb, sizeof sb);
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: %s %d (%s) is %s in the model and %s in worker %d's "
                               "replica; expected equal shapes and dtypes", what, i,
                               a && tg_tensor_name(a) ? tg_tensor_name(a) : "unnamed", sa, sb, worker), false;
        }
    }
    return true;
}

static tg_params buffers_of(const tg_train_config *c, const void *model)
{
    return c->buffers_of ? c->buffers_of(model) : (tg_params){0, NULL};
}

tg_data_parallel *tg_data_parallel_new(tg_ctx *ctx, const tg_train_config *c, const tg_dataset *data)
{
    int classes = data->classes;
    int n = c->threads > 1 ? c->threads : 1;
    if (n > TG_DP_MAX_THREADS)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: threads = %d; expected at most %d", c->threads,
                           TG_DP_MAX_THREADS), NULL;
    if (!c->params_of || (n > 1 && (!c->clone || !c->free_model)))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: %s needs the config's %s (tg_train_use_mlp sets them for an "
                           "MLP)", n > 1 ? "threads > 1" : "a reduce callback",
                           n > 1 ? "clone, free_model and params_of" : "params_of"), NULL;
    tg_params master = c->params_of(c->model);
    if (master.count < 1 || !master.items || !master.items[0])
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: params_of gave no parameters (count %d)", master.count), NULL;
    tg_dtype dtype = tg_tensor_dtype(master.items[0]);
    for (int i = 0; i < master.count; i++)
        if (!master.items[i] || tg_tensor_dtype(master.items[i]) != dtype)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: parameter %d is %s; data-parallel training needs one "
                               "dtype for all", i, !master.items[i] ? "NULL" : "of another dtype"), NULL;

    tg_data_parallel *dp = calloc(1, sizeof *dp);
    if (!dp)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_train: out of memory"), NULL;
    *dp = (tg_data_parallel){.ctx = ctx, .c = c, .classes = classes, .n = n, .n_params = master.count,
                             .dtype = dtype, .features = data->features, .outputs = data->outputs,
                             .classes_of_data = data->classes, .lead = -1, .lead_found = -1};
    dp->workers = calloc((size_t)n, sizeof *dp->workers);
    dp->offsets = calloc((size_t)master.count + 1, sizeof *dp->offsets);
    dp->weights = calloc((size_t)n, sizeof *dp->weights);
    bool ok = dp->workers && dp->offsets && dp->weights;
    for (int i = 0; ok && i < master.count; i++)
        dp->offsets[i + 1] = dp->offsets[i] + tg_tensor_size(master.items[i]);
    dp->total = ok ? dp->offsets[master.count] : 0;
    if (ok && c->reduce) {
        size_t bytes = ((size_t)dp->total + 1) * (dtype == TG_F32 ? 4 : 8);
        ok = (dp->flat = aligned_alloc(64, (bytes + 63) & ~(size_t)63)) != NULL;
    }
    for (int k = 0; ok && k < n; k++)
        ok = (dp->workers[k].grad = calloc((size_t)master.count, sizeof(void *))) != NULL &&
             (dp->workers[k].grads = calloc((size_t)master.count, sizeof(tg_tensor *))) != NULL &&
             (dp->workers[k].left = calloc((size_t)master.count, sizeof(tg_tensor *))) != NULL &&
             (dp->workers[k].right = calloc((size_t)master.count, sizeof(tg_tensor *))) != NULL;
    ok = ok && (dp->taken = calloc((size_t)master.count, sizeof(bool))) != NULL &&
         (dp->reached = calloc((size_t)master.count, sizeof(bool))) != NULL;
    ok = ok && (dp->dst = calloc((size_t)master.count, sizeof(void *))) != NULL;
    if (!ok) {
        tg_data_parallel_free(dp);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_train: out of memory for %d workers", n), NULL;
    }
    for (int k = 0; k < n; k++) {
        dp->workers[k].dp = dp;
        dp->workers[k].index = k;
    }
    dp->workers[0].ctx = ctx;
    dp->workers[0].model = c->model;
    dp->workers[0].params = master;
    dp->workers[0].buffers = buffers_of(c, c->model);
    for (int k = 1; k < n; k++) {
        dp_worker *w = &dp->workers[k];
        if (!(w->ctx = tg_ctx_new(1))) {
            tg_data_parallel_free(dp);
            return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_train: out of memory for worker %d's context", k), NULL;
        }
        tg_ctx_set_error_handler(w->ctx, NULL, NULL); /* re-raised on the caller's context, once */
        w->model = c->clone(c->model, w->ctx);
        if (!w->model) {
            tg_ctx_fail(ctx, tg_ctx_status(w->ctx) != TG_OK ? tg_ctx_status(w->ctx) : TG_ERR_ARG,
                        "tg_train: clone failed for worker %d: %s", k,
                        tg_ctx_error(w->ctx)[0] ? tg_ctx_error(w->ctx) : "it returned NULL");
            tg_data_parallel_free(dp);
            return NULL;
        }
        if (c->reseed) /* a clone draws the model's dropout masks until it gets streams of its own */
            c->reseed(w->model, k);
        w->params = c->params_of(w->model);
        w->buffers = buffers_of(c, w->model);
        if (!lists_match(ctx, "params", k, master, w->params) ||
            !lists_match(ctx, "buffers", k, dp->workers[0].buffers, w->buffers)) {
            tg_data_parallel_free(dp);
            return NULL;
        }
    }
    dp->fused = tg_optim_updates_exactly(c->optimizer, master);
    dp->replicas_current = true; /* clones */
    int threads = tg_ctx_threads(ctx);
    int64_t slices = (dp->total + TG_DP_SLICE_MIN - 1) / TG_DP_SLICE_MIN;
    dp->tasks = (int)(slices < threads ? slices : threads);
    /* threads only: a reduce callback sums flat buffers of whole gradients */
    dp->take_weights = dp->fused && !c->reduce && n > 1 && tg_ctx_pool(ctx);
    if (dp->take_weights && (!(dp->stack_left = calloc((size_t)master.count, sizeof(void *))) ||
                             !(dp->stack_right = calloc((size_t)master.count, sizeof(void *))) ||
                             !(dp->stacked = calloc((size_t)master.count, sizeof(bool))))) {
        tg_data_parallel_free(dp);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_train: out of memory for %d workers", n), NULL;
    }
    return dp;
}

void tg_data_parallel_free(tg_data_parallel *dp)
{
    if (!dp)
        return;
    for (int k = 0; dp->lead >= 0 && k < dp->n; k++) { /* the workers' own buffers back, before they are freed */
        tg_tensor_share_data(dp->workers[k].x, dp->x_had[k]);
        if (k > 0)
            tg_tensor_share_data(dp->workers[k].params.items[dp->lead], dp->w_had[k]);
    }
    if (dp->lead >= 0) /* the lead's right stack is batch_x */
        dp->stack_right[dp->lead] = NULL;
    for (int k = 0; dp->workers && k < dp->n; k++) {
        dp_worker *w = &dp->workers[k];
        if (k > 0) {
            if (w->model)
                dp->c->free_model(w->model);
            tg_ctx_free(w->ctx);
        } else {
            tg_tensor_free(w->x);
            tg_tensor_free(w->y);
        }
        free(w->grad);
        free(w->grads);
        free(w->left);
        free(w->right);
    }
    free(dp->taken);
    free(dp->reached);
    for (int i = 0; dp->stack_left && i < dp->n_params; i++) {
        free(dp->stack_left[i]);
        free(dp->stack_right[i]);
    }
    free(dp->stack_left);
    free(dp->stack_right);
    free(dp->stacked);
    free(dp->chunk);
    free(dp->batch_x);
    free(dp->lead_out);
    free(dp->x_had);
    free(dp->dst);
    free(dp->workers);
    free(dp->offsets);
    free(dp->weights);
    free(dp->flat);
    free(dp);
}

/* ---- one step -------------------------------------------------------------- */

static tg_status worker_fail(dp_worker *w, tg_status status, const char *fmt, double value)
{
    if (tg_ctx_status(w->ctx) != TG_OK)
        return tg_ctx_status(w->ctx);
    return tg_ctx_fail(w->ctx, status, fmt, value);
}

/* The tape's offer of a weight's gradient product (autograd/weight_grad.h):
 * taken for a parameter's first use over the share's samples, one row each
 * (the stacks hold batch_size rows); a second use, or a product over rows
 * of another count (a model that reshapes its batch), stays on the tape. */
static bool take_weight_grad(void *user, int i, tg_tensor *left, tg_tensor *right)
{
    dp_worker *w = user;
    const tg_data_parallel *dp = w->dp;
    if (w->left[i] || tg_tensor_dim(left, 0) != w->count || tg_tensor_dim(right, 0) != w->count)
        return false;
    w->left[i] = left;
    w->right[i] = right;
    if (w->index == 0 && right == w->x && dp->lead_found < 0) /* right is the input: x·Wᵀ */
        ((tg_data_parallel *)dp)->lead_found = i;
    if (dp->stack_left[i]) /* this worker's rows of the stacks, while the parts are in its cache */
        tg_weight_grad_stack(left, right, dp->weights[w->index], w->begin, dp->stack_left[i], dp->stack_right[i]);
    return true;
}

/* A worker's x·Wᵀ of the lead weight: its rows of the batch's product. */
static bool give_product(void *user, const tg_tensor *a, const tg_tensor *b, bool trans_a, bool trans_b, tg_tensor *c)
{
    const dp_worker *w = user;
    const tg_data_parallel *dp = w->dp;
    if (!dp->leading || a != w->x || b != w->params.items[dp->lead] || trans_a || !trans_b)
        return false;
    int64_t out = tg_tensor_dim(b, 0);
    size_t es = dp->dtype == TG_F32 ? 4 : 8;
    memcpy(tg_tensor_data(c), (const char *)dp->lead_out + (size_t)(w->begin * out) * es, (size_t)(w->count * out) * es);
    return true;
}

/* Worker k: refresh the replica, then forward, loss and backward on its share. */
static void run_worker(void *arg, int k)
{
    tg_data_parallel *dp = arg;
    const tg_train_config *c = dp->c;
    dp_worker *w = &dp->workers[k];
    w->loss = 0;
    w->correct = 0;
    w->status = TG_OK;
    for (int i = 0; i < dp->n_params; i++)
        w->left[i] = w->right[i] = NULL;
    if (w->count == 0)
        return; /* more workers than samples: this one sits the step out */
    if (k > 0) {
        const dp_worker *m = &dp->workers[0];
        for (int i = 0; i < dp->n_params && !dp->replicas_current; i++)
            if (tg_tensor_data(w->params.items[i]) != tg_tensor_data(m->params.items[i])) /* else shared: the lead */
                memcpy(tg_tensor_data(w->params.items[i]), tg_tensor_data_const(m->params.items[i]),
                       (size_t)tg_tensor_size(m->params.items[i]) * (dp->dtype == TG_F32 ? 4 : 8));
        for (int i = 0; i < m->buffers.count; i++)
            tg_tensor_copy(w->buffers.items[i], m->buffers.items[i]);
    }

    /* its share of the batch, converted here: every worker at once, into
     * tensors of its own kept for the usual share size (a step tensor would
     * be zero-filled first), step tensors for another size */
    int64_t full = c->batch_size / dp->n + (k < c->batch_size % dp->n); /* its share of a full batch */
    if (!w->x && w->count == full) {
        w->x = tg_tensor_new(w->ctx, dp->c->dtype, 2, (int64_t[]){w->count, dp->features});
        w->y = dp->classes_of_data > 0 ? tg_tensor_new(w->ctx, dp->c->dtype, 1, (int64_t[]){w->count})
                                       : tg_tensor_new(w->ctx, dp->c->dtype, 2, (int64_t[]){w->count, dp->outputs});
    }
    bool own = w->x && w->y && w->count == full;
    tg_tensor *x = own ? w->x : tg_tensor_temp(w->ctx, dp->c->dtype, 2, (int64_t[]){w->count, dp->features});
    tg_tensor *y = own ? w->y
                 : dp->classes_of_data > 0 ? tg_tensor_temp(w->ctx, dp->c->dtype, 1, (int64_t[]){w->count})
                                           : tg_tensor_temp(w->ctx, dp->c->dtype, 2, (int64_t[]){w->count, dp->outputs});
    if (x && y && !dp->leading) /* else fill_task did */
        tg_loader_fill(dp->loader, dp->order + w->begin, w->count, x, y);
    tg_ctx_set_input_product_hook(w->ctx, dp->leading ? give_product : NULL, w);
    tg_tensor *out = y ? c->forward(w->model, x) : NULL;
    tg_ctx_set_input_product_hook(w->ctx, NULL, NULL);
    tg_tensor *loss = out ? c->loss(out, y) : NULL;
    if (!loss) {
        w->status = worker_fail(w, TG_ERR_ARG, "the forward or loss function returned NULL%.0f", 0);
    } else {
        double value = tg_tensor_item(loss);
        if (!isfinite(value))
            w->status = worker_fail(w, TG_ERR_ANOMALY, "the loss is %g; lower the learning rate or look for bad "
                                    "inputs (tg_anomaly_set_enabled)", value);
        else if (!dp->warm && k == 0) { /* the first step: the model's .grad, made here, tells which parameters the
                                            loss reaches; the replicas' gradients are step tensors from the start
                                            (.grad of their own, and products on their tapes, would be fresh
                                            memory used once: on this project's VMs a page faults in for 14 µs) */
            tg_params_zero_grad(w->params);
            if ((w->status = tg_backward(loss)) == TG_OK)
                for (int i = 0; i < dp->n_params; i++) {
                    tg_tensor *g = tg_tensor_grad(w->params.items[i]);
                    w->grad[i] = g ? tg_tensor_data(g) : NULL;
                }
        } else {
            /* the gradients as step tensors: no copy into .grad, the sum reads them where they are */
            tg_ctx_set_weight_grad_hook(w->ctx, dp->take_weights ? take_weight_grad : NULL, w);
            w->status = tg_grad_reached(loss, dp->n_params, w->params.items, w->grads);
            tg_ctx_set_weight_grad_hook(w->ctx, NULL, NULL);
            for (int i = 0; i < dp->n_params && w->status == TG_OK; i++)
                w->grad[i] = (dp->dst[i] || !dp->warm) && w->grads[i] ? tg_tensor_data(w->grads[i]) : NULL;
        }
        if (w->status == TG_OK) {
            w->loss = value;
            w->correct = dp->classes > 0 ? tg_count_correct(out, y, dp->classes) : 0;
        }
    }
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
    int64_t chunk = ((dp->total + dp->tasks - 1) / dp->tasks + 15) & ~(int64_t)15;
    *begin = task * chunk < dp->total ? task * chunk : dp->total;
    *end = *begin + chunk < dp->total ? *begin + chunk : dp->total;
}

/* Parameter i's part [*lo, *hi) of the flat range [begin, end); false if none. */
static bool overlap(const tg_data_parallel *dp, int i, int64_t begin, int64_t end, int64_t *lo, int64_t *hi)
{
    *lo = (begin > dp->offsets[i] ? begin : dp->offsets[i]) - dp->offsets[i];
    *hi = (end < dp->offsets[i + 1] ? end : dp->offsets[i + 1]) - dp->offsets[i];
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
static void update_and_broadcast(const tg_data_parallel *dp, int task, int i, int64_t lo, int64_t hi)
{
    if (!dp->fused || !dp->dst[i])
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
static void sum_task(void *arg, int task)
{
    const tg_data_parallel *dp = arg;
    int64_t begin, end, lo, hi;
    slice(dp, task, &begin, &end);
    for (int i = 0; i < dp->n_params; i++) {
        void *dst = dp->flat ? (char *)dp->flat + (size_t)dp->offsets[i] * (dp->dtype == TG_F32 ? 4 : 8)
                             : dp->dst[i];
        if (!overlap(dp, i, begin, end, &lo, &hi) || !dst)
            continue; /* no gradient on worker 0: not reached, the optimizer skips it */
        if (dp->taken[i] && !dp->reached[i])
            continue; /* all of it is products: weight_task */
        if (dp->dtype == TG_F32)
            sum_float(dp, i, dst, lo, hi);
        else
            sum_double(dp, i, dst, lo, hi);
        if (!dp->flat && !dp->taken[i])
            update_and_broadcast(dp, task, i, lo, hi);
    }
}

/* Chunk `c` of a taken weight's rows: the product of every share's parts
 * (added to the tapes' sum where there is one), then the update of those
 * rows, while they are in this core's cache. */
static void weight_chunk(const tg_data_parallel *dp, int c, int worker)
{
    int i = dp->chunk[c][0];
    int64_t r0 = dp->chunk[c][1], r1 = dp->chunk[c][2];
    int64_t cols = tg_tensor_dim(dp->workers[0].params.items[i], 1);
    tg_pool *pool = tg_ctx_pool(dp->ctx);
    int64_t rows = tg_tensor_dim(dp->workers[0].params.items[i], 0), batch = 0;
    for (int k = 0; k < dp->n; k++)
        batch += dp->workers[k].count;
    if (dp->stacked[i]) {
        size_t es = dp->dtype == TG_F32 ? 4 : 8;
        for (int k = 0; k < dp->n; k++) { /* the other workers' rows (the lead's inputs are read by its product) */
            const dp_worker *w = &dp->workers[k];
            if (k == worker)
                continue;
            pull_rows(dp->stack_left[i], (size_t)rows * es, w->begin, w->begin + w->count, (size_t)r0 * es,
                      (size_t)r1 * es);
            if (i != dp->lead)
                pull_rows(dp->stack_right[i], (size_t)cols * es, w->begin, w->begin + w->count, 0, (size_t)cols * es);
        }
        tg_weight_grad_product(pool, worker, dp->dtype, rows, cols, batch, 1, dp->stack_left[i], dp->stack_right[i],
                               r0, r1, dp->dst[i], dp->reached[i]);
    } else { /* a first step, or a worker that did not offer its parts: the parts one by one */
        bool accumulate = dp->reached[i];
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
    update_and_broadcast(dp, worker, i, r0 * cols, r1 * cols);
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
    int chunks = job->chunks ? job->dp->chunks : 0;
    if (task < chunks)
        weight_chunk(job->dp, task, worker);
    else if (job->sums)
        sum_task((void *)job->dp, task - chunks);
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
        if (i == dp->lead && per_thread < TG_DP_LEAD_BLOCK)
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
    dp->chunks = dp->homes = 0;
    for (int pass = 0; pass < 2; pass++) {
        int count = 0;
        for (int blocked = 1; blocked >= 0; blocked--) {
            for (int t = 0; t < (blocked ? threads : 1); t++)
                for (int q = -1; q < dp->n_params; q++) {
                    int i = q < 0 ? dp->lead : q;
                    if (i < 0 || (q >= 0 && i == dp->lead) || !dp->taken[i] || !dp->dst[i])
                        continue;
                    int64_t n, rows = tg_tensor_dim(dp->workers[0].params.items[i], 0), step = chunk_rows(dp, i, &n);
                    if (in_blocks(dp, i, n) != (bool)blocked)
                        continue;
                    for (int64_t c = blocked ? n * t / threads : 0; c < (blocked ? n * (t + 1) / threads : n);
                         c++, count++)
                        if (pass)
                            dp->chunk[count][0] = i, dp->chunk[count][1] = (int)(c * step),
                            dp->chunk[count][2] = (int)((c + 1) * step < rows ? (c + 1) * step : rows);
                }
            if (blocked)
                dp->homes = count;
        }
        if (!pass && count > dp->chunk_cap) {
            int (*grown)[3] = realloc(dp->chunk, (size_t)count * sizeof *grown);
            if (!grown)
                return false;
            dp->chunk = grown;
            dp->chunk_cap = count;
        }
        dp->chunks = count;
    }
    return true;
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
            scale_float(dst, (const float *)dp->flat + dp->offsets[i], dp->divide_by, lo, hi);
        else
            scale_double(dst, (const double *)dp->flat + dp->offsets[i], dp->divide_by, lo, hi);
        update_and_broadcast(dp, task, i, lo, hi);
    }
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
    const tg_tensor *p = dp->workers[0].params.items[dp->lead];
    int64_t count, rows = tg_tensor_dim(p, 0), step = chunk_rows(dp, dp->lead, &count), r0 = task * step;
    int64_t r1 = r0 + step < rows ? r0 + step : rows;
    const void *w = tg_tensor_data_const(p);
    if (w) /* else freed: the workers' matmuls report it */
        tg_weight_input_product(tg_ctx_pool(dp->ctx), worker, dp->dtype, dp->c->batch_size, rows,
                                tg_tensor_dim(p, 1), dp->batch_x, w, r0, r1, dp->lead_out);
}

/* After a step that found a lead weight with its stacks: every worker has
 * its own x of a full share (views into batch_x from now on) and every
 * replica's W becomes the model's array. Without memory it stays as it was. */
static void start_lead(tg_data_parallel *dp)
{
    int i = dp->lead_found;
    if (dp->lead >= 0 || i < 0 || !dp->stacked[i])
        return;
    for (int k = 0; k < dp->n; k++)
        if (!dp->workers[k].x)
            return;
    const tg_tensor *p = dp->workers[0].params.items[i];
    size_t es = dp->dtype == TG_F32 ? 4 : 8, batch = (size_t)dp->c->batch_size;
    size_t x_bytes = batch * (size_t)dp->features * es, out_bytes = batch * (size_t)tg_tensor_dim(p, 0) * es;
    dp->batch_x = aligned_alloc(64, (x_bytes + 63) & ~(size_t)63);
    dp->lead_out = aligned_alloc(64, (out_bytes + 63) & ~(size_t)63);
    dp->x_had = calloc(2 * (size_t)dp->n, sizeof(void *));
    if (!dp->batch_x || !dp->lead_out || !dp->x_had) {
        free(dp->batch_x);
        free(dp->lead_out);
        free(dp->x_had);
        dp->batch_x = dp->lead_out = NULL;
        dp->x_had = NULL;
        return;
    }
    dp->w_had = dp->x_had + dp->n;
    free(dp->stack_right[i]);
    dp->stack_right[i] = dp->batch_x;
    int64_t row = 0;
    for (int k = 0; k < dp->n; k++) {
        dp_worker *w = &dp->workers[k];
        dp->x_had[k] = tg_tensor_share_data(w->x, (char *)dp->batch_x + (size_t)(row * dp->features) * es);
        row += tg_tensor_dim(w->x, 0);
        if (k > 0)
            dp->w_had[k] = tg_tensor_share_data(w->params.items[i], tg_tensor_data(dp->workers[0].params.items[i]));
    }
    dp->lead = i;
}

void tg_data_parallel_resync(tg_data_parallel *dp) { dp->replicas_current = false; }

tg_status tg_data_parallel_step(tg_data_parallel *dp, const tg_loader *loader, const int64_t *order, int64_t batch,
                                int64_t step, int epoch, double *loss, int64_t *correct)
{
    tg_ctx *ctx = dp->ctx;
    dp->loader = loader;
    dp->order = order;
    /* shares of batch/n samples, the first batch % n workers one more */
    int64_t begin = 0;
    for (int k = 0; k < dp->n; k++) {
        dp_worker *w = &dp->workers[k];
        w->begin = begin;
        w->count = batch / dp->n + (k < batch % dp->n);
        begin += w->count;
        dp->weights[k] = dp->flat ? (double)w->count : (double)w->count / (double)batch;
    }
    if (batch > dp->c->batch_size) /* the stacks hold batch_size samples */
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: a batch of %lld samples; the config's batch_size is %lld",
                           (long long)batch, (long long)dp->c->batch_size);
    /* full shares only: the workers' x are views of batch_x */
    dp->leading = dp->lead >= 0 && batch == dp->c->batch_size;
    if (dp->leading) {
        tg_ctx_run_tasks(ctx, dp->n, fill_task, dp);
        int64_t chunks;
        chunk_rows(dp, dp->lead, &chunks);
        tg_pool_run_homes(tg_ctx_pool(ctx), (int)chunks, (int)chunks, lead_task, dp);
    }
    tg_ctx_run_tasks(ctx, dp->n, run_worker, dp);

    for (int k = 0; k < dp->n; k++) {
        dp_worker *w = &dp->workers[k];
        if (w->status == TG_OK)
            continue;
        tg_status status = w->status;
        if (k > 0) {
            tg_ctx_fail(ctx, status, "tg_train: epoch %d step %lld: worker %d of %d (samples %lld to %lld of the "
                        "batch): %s", epoch, (long long)step, k, dp->n, (long long)w->begin,
                        (long long)(w->begin + w->count - 1), tg_ctx_error(w->ctx));
            tg_ctx_clear_error(w->ctx);
        } else if (tg_ctx_status(ctx) == TG_OK) {
            tg_ctx_fail(ctx, status, "tg_train: epoch %d step %lld: worker 0 failed", epoch, (long long)step);
        }
        for (int j = 1; j < dp->n; j++) /* the other workers' errors are echoes or their own: drop them */
            tg_ctx_clear_error(dp->workers[j].ctx);
        return tg_ctx_status(ctx);
    }

    double loss_sum = 0;
    int64_t right = 0;
    for (int k = 0; k < dp->n; k++) {
        dp_worker *w = &dp->workers[k];
        for (int i = 0; i < dp->n_params && !w->count; i++)
            w->grad[i] = NULL;
        loss_sum += w->loss * (double)w->count;
        right += w->correct;
    }
    if (!dp->warm) { /* where the sums go: the model's .grad of the parameters the loss reached */
        for (int i = 0; i < dp->n_params; i++) {
            tg_tensor *g = tg_tensor_grad(dp->workers[0].params.items[i]);
            dp->dst[i] = g ? tg_tensor_data(g) : NULL;
        }
        dp->warm = true;
    }
    for (int i = 0; i < dp->n_params && dp->fused; i++)
        if (!tg_tensor_data(dp->workers[0].params.items[i]))
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: parameter %d (%s) was freed", i,
                               tg_tensor_name(dp->workers[0].params.items[i]) ? tg_tensor_name(dp->workers[0].params.items[i])
                                                                              : "unnamed");
    dp->mixed = false;
    for (int i = 0; i < dp->n_params; i++) {
        dp->taken[i] = dp->reached[i] = false;
        bool all = true; /* every worker with samples put its parts in the stacks */
        for (int k = 0; k < dp->n; k++) {
            dp->taken[i] |= dp->workers[k].left[i] != NULL;
            dp->reached[i] |= dp->workers[k].grad[i] != NULL;
            all &= !dp->workers[k].count || dp->workers[k].left[i] != NULL;
        }
        dp->mixed |= dp->taken[i] && dp->reached[i];
        if (dp->stacked)
            dp->stacked[i] = dp->taken[i] && all && dp->stack_left[i];
    }
    if (dp->flat) {
        tg_ctx_run_tasks(ctx, dp->tasks, sum_task, dp);
    } else {
        if (!plan_chunks(dp))
            return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_train: out of memory");
        tg_pool *pool = tg_ctx_pool(ctx);
        int homes = dp->homes ? dp->homes : tg_ctx_threads(ctx);
        if (dp->mixed) { /* the tapes' parts are summed everywhere before products are added to them */
            tg_pool_run(pool, dp->tasks, finish_task, &(finish_job){dp, true, false});
            tg_pool_run_homes(pool, dp->chunks, homes, finish_task, &(finish_job){dp, false, true});
        } else {
            tg_pool_run_homes(pool, dp->tasks + dp->chunks, homes, finish_task, &(finish_job){dp, true, true});
        }
        /* stacks for the weights taken without one, from the next step on */
        for (int i = 0; i < dp->n_params && dp->stack_left; i++)
            if (dp->taken[i] && !dp->stack_left[i]) {
                const tg_tensor *p = dp->workers[0].params.items[i];
                size_t es = dp->dtype == TG_F32 ? 4 : 8, n = (size_t)dp->c->batch_size;
                dp->stack_left[i] = malloc(n * (size_t)tg_tensor_dim(p, 0) * es);
                dp->stack_right[i] = malloc(n * (size_t)tg_tensor_dim(p, 1) * es);
                if (!dp->stack_left[i] || !dp->stack_right[i]) { /* then the unstacked way */
                    free(dp->stack_left[i]);
                    free(dp->stack_right[i]);
                    dp->stack_left[i] = dp->stack_right[i] = NULL;
                }
            }
    }
    if (dp->flat) {
        if (dp->dtype == TG_F32)
            ((float *)dp->flat)[dp->total] = (float)batch;
        else
            ((double *)dp->flat)[dp->total] = (double)batch;
        tg_status status = dp->c->reduce(ctx, dp->flat, dp->total + 1, dp->dtype, dp->c->reduce_user);
        if (status != TG_OK)
            return tg_ctx_status(ctx) != TG_OK ? tg_ctx_status(ctx)
                                               : tg_ctx_fail(ctx, status, "tg_train: epoch %d step %lld: the reduce "
                                                             "callback failed", epoch, (long long)step);
        double samples = dp->dtype == TG_F32 ? ((float *)dp->flat)[dp->total] : ((double *)dp->flat)[dp->total];
        if (!(samples >= (double)batch))
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: epoch %d step %lld: after the reduce callback the "
                               "sample count is %g, below this process's %lld; the callback must sum every value",
                               epoch, (long long)step, samples, (long long)batch);
        dp->divide_by = 1 / samples;
        tg_ctx_run_tasks(ctx, dp->tasks, unpack_task, dp);
    }
    for (int k = 1; k < dp->n; k++) /* their gradients were step tensors, read by the sum */
        tg_tape_reset(dp->workers[k].ctx);
    tg_status status = TG_OK;
    if (dp->fused)
        tg_optim_set_steps(dp->c->optimizer, tg_optim_steps(dp->c->optimizer) + 1);
    else
        status = tg_optim_step(dp->c->optimizer);
    dp->replicas_current = dp->fused;
    if (status != TG_OK)
        return status;
    if (dp->take_weights)
        start_lead(dp);
    /* non-trainable state: the share-weighted mean of the workers' */
    const dp_worker *m = &dp->workers[0];
    for (int i = 0; i < m->buffers.count && dp->n > 1; i++) {
        tg_tensor *b = m->buffers.items[i];
        for (int64_t j = 0; j < tg_tensor_size(b); j++) {
            double v = 0;
            for (int k = 0; k < dp->n; k++)
                if (dp->workers[k].count)
                    v += (double)dp->workers[k].count / (double)batch * tg_tensor_get(dp->workers[k].buffers.items[i], j);
            tg_tensor_set(b, j, v);
        }
    }
    *loss = loss_sum / (double)batch;
    *correct = right;
    return TG_OK;
}
