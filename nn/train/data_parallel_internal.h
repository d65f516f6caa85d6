/* Internal to nn/train/: how the data-parallel step is built, shared by its
 * files. Not installed.
 *
 *   data_parallel.c  the step, phase by phase; making and freeing the workers
 *   dp_workers.c     a worker: refresh its replica, forward, loss and
 *                    backward on its share of the batch
 *   dp_sum.c         the workers' gradients summed into the model's, slice by
 *                    slice, each slice updated by the optimizer where it was
 *                    summed; across processes through config->reduce
 *   dp_weights.c     the product sink (ops/product_sink.h): weight gradients
 *                    taken off the workers' tapes and made once over the
 *                    batch by row chunks, and the lead weight's forward
 *                    product made before the workers
 *
 * A step: the shares are cut (data_parallel.c); the lead weight's product is
 * made for the whole batch (dp_weights.c, from the second step on); the
 * workers run, matmul giving them their rows of it and offering them its
 * weight products (dp_workers.c, through the sink); the tapes' gradients are
 * summed and the taken weights' products made, each slice or row chunk
 * updated where it was made (dp_sum.c, dp_weights.c); the optimizer's step
 * is counted and the buffers averaged (data_parallel.c). */
#ifndef TAPEGRAD_NN_DATA_PARALLEL_INTERNAL_H
#define TAPEGRAD_NN_DATA_PARALLEL_INTERNAL_H

#include "nn/data/loader_internal.h"
#include "nn/train/data_parallel.h"
#include "nn/train/optim_internal.h"
#include "nn/train/train_internal.h"
#include "ops/product_sink.h"

enum {
    TG_DP_MAX_THREADS = 256,
    TG_DP_SLICE_MIN = 1 << 14, /* values per reduce task at least */
    TG_DP_CHUNK = 1 << 17,     /* values per chunk of a taken weight's rows, at most (smaller ones measured slower) */
    TG_DP_LEAD_BLOCK = 2       /* the lead weight's chunks per thread, at least */
};

/* One worker: a share of the batch, the model (worker 0) or a replica in a
 * context of its own, and what its pass left for the sum. */
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

/* Summing the workers' gradients (dp_sum.c). */
typedef struct {
    int64_t total;       /* Σ parameter sizes */
    int64_t *offsets;    /* [n_params + 1]: where each parameter starts in the flat order */
    void *flat;          /* [total + 1] for config->reduce, else NULL */
    int tasks;           /* reduce tasks per step */
    double divide_by;    /* unpacking the flat buffer: 1 / global sample count */
    bool fused;          /* the optimizer's parameters are params_of's: update slice by slice */
} dp_sum;

/* Weight gradients taken off the workers' tapes (dp_weights.c). */
typedef struct {
    bool on;             /* taking is on: threads, no reduce callback, a fused update */
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
} dp_taken;

/* The lead weight (dp_weights.c): W of x·Wᵀ with x a worker's input, found
 * at a taken step; from the next step on its rows are owned. Per full batch
 * the workers' shares are converted into one array, X·Wᵀ of the whole batch
 * is made by the row blocks of W's chunks, each on the thread that makes
 * those rows' gradient and update, and each worker's matmul is given its
 * rows. W's values are one array that every replica shares, written and read
 * by one core per block: nothing is pushed for it. */
typedef struct {
    int index, found;      /* parameter index; -1: none */
    bool leading;          /* this step's product was made before the workers */
    void *batch_x;         /* [batch_size, features]: the workers' x are views of it; W's right stack */
    void *out;             /* [batch_size, W's rows]: X·Wᵀ */
    void **x_had, **w_had; /* [n]: each worker's own buffers of x and of W, given back at the end */
} dp_lead;

struct tg_data_parallel {
    tg_ctx *ctx;
    const tg_train_config *c;
    int classes;
    int n;               /* workers */
    dp_worker *workers;  /* [n] */
    int n_params;
    tg_dtype dtype;      /* of every parameter */
    const tg_loader *loader; /* this step's batch: samples order[0..batch) of its data */
    const int64_t *order;
    int64_t features, outputs;
    int classes_of_data;
    double *weights;     /* [n]: this step's weight of each worker's gradient */
    void **dst;          /* [n_params]: the model's .grad data, where the sum goes; NULL: not reached */
    bool warm;           /* a first step ran tg_backward: the model's reached parameters have a .grad */
    bool replicas_current; /* the replicas hold the model's values */
    dp_sum sum;
    dp_taken take;
    dp_lead lead;
};

static inline size_t tg_dp_element_size(const tg_data_parallel *dp) { return dp->dtype == TG_F32 ? 4 : 8; }

/* ---- dp_workers.c ---- */
/* Worker k's pass: a tg_ctx_run_tasks task over the workers. */
void tg_dp_run_worker(void *arg, int k);
/* The first worker's error, if any, raised on the caller's context naming
 * the worker and its samples; the other workers' errors dropped. */
tg_status tg_dp_worker_errors(tg_data_parallel *dp, int epoch, int64_t step);

/* ---- dp_sum.c ---- */
/* Slice `task` of the tapes' sum: into the model's gradient (updated there)
 * or into the flat buffer. A tg_ctx_run_tasks task. */
void tg_dp_sum_task(void *arg, int task);
/* The optimizer's update of values [lo, hi) of parameter i, made by
 * worker/slice `task`, pushed into every replica. */
void tg_dp_update_and_broadcast(const tg_data_parallel *dp, int task, int i, int64_t lo, int64_t hi);
/* With config->reduce: the sum into the flat buffer, the callback, then the
 * global mean into the model's gradient and the update. */
tg_status tg_dp_sum_across_processes(tg_data_parallel *dp, int64_t batch, int epoch, int64_t step);

/* ---- dp_weights.c: the product sink's implementation ---- */
bool tg_dp_take_weight_grad(void *user, int i, tg_tensor *left, tg_tensor *right);
bool tg_dp_give_product(void *user, const tg_tensor *a, const tg_tensor *b, bool trans_a, bool trans_b, tg_tensor *c);
/* Before the workers: with a lead weight and a full batch, the shares
 * converted into batch_x and X·Wᵀ made by W's row chunks. */
void tg_dp_lead_product(tg_data_parallel *dp, int64_t batch);
/* After the workers: which parameters were taken, reached, stacked. */
void tg_dp_note_parts(tg_data_parallel *dp);
/* Without a reduce callback: the tapes' sums and the taken weights'
 * products, each slice and chunk updated where it was made; stacks for the
 * weights taken without one. TG_ERR_NOMEM (on the caller's context). */
tg_status tg_dp_sum_and_take(tg_data_parallel *dp);
/* After a step that found a lead weight with its stacks: the lead from the
 * next step on (nothing changes without memory). */
void tg_dp_start_lead(tg_data_parallel *dp);

#endif
