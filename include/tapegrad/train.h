/* tapegrad/train.h: the training loop (nn/train/): tg_train and its
 * configuration, evaluation, and the history of a run.
 *
 *     tg_dataset *train = tg_dataset_load_mnist(ctx, "/usr/share/datasets/fashion-mnist", "train");
 *     tg_train_config cfg = tg_train_defaults();
 *     cfg.forward = my_forward; cfg.model = mlp; cfg.loss = tg_loss_softmax_ce;
 *     cfg.optimizer = opt; cfg.epochs = 10; cfg.batch_size = 64; cfg.test = test;
 *     tg_history history = {0};
 *     tg_train(ctx, train, &cfg, &history);
 *
 * With threads > 1 (or a reduce function) each step is data-parallel: the
 * batch is split over replicas of the model, one per thread, and their
 * gradients summed before the optimizer's update. The results are written
 * out by nn/io/ (tg_history_save_csv, tg_confusion_print) and drawn by
 * tapegrad/plot.h.
 */
#ifndef TAPEGRAD_TRAIN_H
#define TAPEGRAD_TRAIN_H

#include <stdio.h>

#include "tapegrad/data.h"
#include "tapegrad/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- training ---------------------------------------------------------- */

/* The model's output for a batch x [n, features]: logits [n, classes] for
 * classification (or [n, 1] probabilities for two classes), [n, outputs] for
 * regression. A step tensor; NULL on error. */
typedef tg_tensor *(*tg_forward_fn)(void *model, tg_tensor *x);
/* A scalar loss of the output and the batch targets (tg_loss_softmax_ce,
 * tg_loss_mse, ...). */
typedef tg_tensor *(*tg_loss_fn)(tg_tensor *output, tg_tensor *target);

typedef struct {
    int count;          /* epochs recorded */
    int capacity;
    int *epochs;        /* epoch numbers, 1-based */
    double *train_loss; /* mean loss over the epoch's samples */
    double *train_acc;  /* fraction right during the epoch (NaN without classes) */
    double *test_acc;   /* fraction right on the test set after it (NaN without one) */
    double *seconds;    /* wall time of the epoch, evaluation included */
} tg_history;

/* Appends one epoch's numbers (grows the arrays). Errors: TG_ERR_NOMEM. */
TG_API tg_status tg_history_append(tg_history *h, int epoch, double train_loss, double train_acc, double test_acc,
                            double seconds);
/* Frees the arrays and zeroes *h. NULL is fine. */
TG_API void tg_history_free(tg_history *h);
/* Writes "epoch,train_loss,train_acc,test_acc,seconds" and one row per epoch.
 * Errors: TG_ERR_IO naming the file. */
TG_API tg_status tg_history_save_csv(tg_ctx *ctx, const tg_history *h, const char *path);

/* The seam between data-parallel training and whatever sums gradients across
 * processes (MPI, NCCL, a parameter server): sums buffer [count] of dtype
 * element-wise over every process of the run, in place, so that each process
 * ends with the same sum; TG_OK or an error (which stops training). tg_train
 * calls it once per step on the process's gradient, already summed over its
 * threads: the gradients of all parameters (params_of order) end to end, each
 * weighted by the process's samples in the step, then that sample count as
 * the last value. After the sum tg_train divides by the summed count, which
 * gives every process the gradient of the whole global batch. Every process
 * must run the same number of steps. See examples/mpi_data_parallel.c. */
typedef tg_status (*tg_reduce_fn)(tg_ctx *ctx, void *buffer, int64_t count, tg_dtype dtype, void *user);

struct tg_train_config;
/* Called after every epoch (e.g. to save a checkpoint); a status other than
 * TG_OK stops training and is returned by tg_train. */
typedef tg_status (*tg_epoch_fn)(const struct tg_train_config *config, int epoch, const tg_history *h,
                                 void *user);

typedef struct tg_train_config {
    tg_forward_fn forward;
    void *model;
    tg_loss_fn loss;
    tg_optimizer *optimizer;
    int epochs;              /* epochs to run, counting those already done */
    int first_epoch;         /* epochs already done (resume): runs first_epoch+1 .. epochs */
    int64_t batch_size;      /* 1: one sample at a time; <= 0: full batch */
    int64_t eval_batch_size; /* for evaluation, 0: 1000 */
    tg_dtype dtype;          /* of the batch tensors */
    bool shuffle;            /* epoch e's order comes from seed + e, so a resumed run
                                sees the orders an uninterrupted one would */
    uint64_t seed;
    const tg_dataset *test;  /* evaluated after every epoch; NULL: none */
    int progress;            /* 0: quiet; 1: a progress line (see tg_train) */
    FILE *log;               /* where progress goes; NULL: stderr */
    tg_epoch_fn on_epoch;    /* may be NULL */
    void *user;
    /* Optional: puts the model in training (true) or eval mode (dropout off,
     * batch norm on its running statistics) and returns the mode it had.
     * tg_train runs its steps in training mode, tg_evaluate and the per-epoch
     * test in eval mode; each gives the model its mode back before it returns.
     * NULL: a model without modes. */
    bool (*set_training)(void *model, bool training);
    /* Data parallelism (threads > 1): each minibatch is split into `threads`
     * shares differing by at most one sample; worker 0 runs the model itself
     * on the caller's context, worker k its replica made by clone in a
     * context of its own (own tape and step memory, one thread). The
     * gradients are summed in worker order, weighted by share, into the
     * model's, and one optimizer step follows: the whole batch's gradient up
     * to rounding, and the same bits on every run with the same thread count.
     * The loss must be a mean over the batch's samples (tapegrad's losses
     * with TG_REDUCE_MEAN are). Workers run on the context's threads: make it
     * with tg_ctx_new(threads) or more. tg_train_use_mlp sets all of this but
     * threads for an MLP. */
    int threads;             /* 0 or 1: the whole batch on the caller's thread */
    void *(*clone)(const void *model, tg_ctx *ctx); /* a replica in ctx, equal values */
    void (*free_model)(void *model);                /* frees a replica */
    tg_params (*params_of)(const void *model);      /* trainable tensors, a fixed order */
    /* Optional: non-trainable state (batch-norm running statistics): after
     * each step the model's gets the share-weighted mean of the workers'
     * (within a process; across processes each keeps its own). */
    tg_params (*buffers_of)(const void *model);
    /* Optional: gives replica `worker` (1 .. threads-1) random streams of its
     * own (dropout masks), derived from the clone's and the worker index, so
     * that no two workers draw the same masks and a run repeats with the same
     * thread count. */
    void (*reseed)(void *replica, int worker);
    /* Optional: sums the gradient across processes (tg_reduce_fn); needs
     * params_of. NULL: this process alone. */
    tg_reduce_fn reduce;
    void *reduce_user;
} tg_train_config;

/* Sets config's forward, model, clone, free_model and params_of for mlp, so
 * that it trains with any thread count (the other fields are kept). Errors:
 * none; NULL arguments are ignored. */
TG_API void tg_train_use_mlp(tg_train_config *config, tg_mlp *mlp);
/* The same for a sequential model (tapegrad/model.h): forward, model, clone,
 * free_model, params_of, buffers_of (running statistics), set_training and
 * reseed (dropout streams). Errors: none;
 * NULL arguments are ignored. */
struct tg_model;
TG_API void tg_train_use_model(tg_train_config *config, struct tg_model *model);

/* Defaults: batch 64, eval batch 1000, float32, shuffled, seed 1, 1 epoch,
 * progress on; forward, loss and optimizer must be set. */
TG_API tg_train_config tg_train_defaults(void);

/* Runs epochs first_epoch+1 .. epochs over data: per batch zero-grad, forward,
 * loss, backward, optimizer step, tg_tape_reset. Appends one row per epoch to
 * history (may be NULL). The progress line (epoch, step, loss, accuracy,
 * samples/s, ETA) is redrawn in place (\r) when the log is a terminal;
 * otherwise it is one plain line per epoch, plus one every 10 s within long
 * epochs. Errors: TG_ERR_ARG (missing callbacks, a
 * test set of another width), any error of the model, loss, backward or
 * optimizer (training stops at the failing step), NaN loss (TG_ERR_ANOMALY),
 * the status of on_epoch. */
TG_API tg_status tg_train(tg_ctx *ctx, const tg_dataset *data, const tg_train_config *config, tg_history *history);

/* ---- evaluation -------------------------------------------------------- */

typedef struct {
    int64_t count;     /* samples */
    double loss;       /* mean loss (NaN without a loss function) */
    int64_t correct;   /* classification only */
    double accuracy;   /* correct / count (NaN without classes) */
    int classes;
    int64_t *confusion; /* [classes, classes]: row = true class, column = predicted */
} tg_evaluation;

/* Runs config's forward (grad mode off; eval mode with set_training) over data in batches of
 * eval_batch_size: mean loss, accuracy and confusion matrix. Like tg_train it
 * calls tg_tape_reset after every batch (the caller's step tensors go too). A one-column
 * output with two classes is read as a probability (> 0.5: class 1); wider
 * outputs by their largest entry. Errors: TG_ERR_ARG, the model's; *out is
 * untouched on error. */
TG_API tg_status tg_evaluate(tg_ctx *ctx, const tg_train_config *config, const tg_dataset *data, tg_evaluation *out);
TG_API void tg_evaluation_free(tg_evaluation *e); /* NULL is fine */
/* Prints the confusion matrix with class names (NULL: numbers) and each
 * class's recall. out NULL means stdout. */
TG_API void tg_confusion_print(const tg_evaluation *e, const char *const *class_names, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
