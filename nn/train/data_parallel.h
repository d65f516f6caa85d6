/* Internal to nn/: the data-parallel training step behind tg_train's
 * `threads` and `reduce` (nn/train/data_parallel.c). Not installed. */
#ifndef TAPEGRAD_NN_DATA_PARALLEL_H
#define TAPEGRAD_NN_DATA_PARALLEL_H

#include "tapegrad/train.h"

typedef struct tg_data_parallel tg_data_parallel;

/* The workers of config (threads, clone, params_of, ...): replicas in their
 * own contexts and every buffer a step needs. NULL with ctx's error set on a
 * config that does not fit (naming the missing callback or the replica that
 * differs) or out of memory. */
tg_data_parallel *tg_data_parallel_new(tg_ctx *ctx, const tg_train_config *config, const tg_dataset *data);
void tg_data_parallel_free(tg_data_parallel *dp);
/* One step on the batch of the n samples order[0..n) of loader's data: each
 * worker converts its share itself (tg_loader_fill); forward and backward on the
 * workers, the gradient summed into the model's (and across processes by
 * config->reduce), and the optimizer's update. *loss: the batch's mean loss;
 * *correct: samples classified right. The caller resets ctx's tape afterwards. */
tg_status tg_data_parallel_step(tg_data_parallel *dp, const tg_loader *loader, const int64_t *order, int64_t n,
                                int64_t step, int epoch, double *loss, int64_t *correct);

/* From nn/data/loader.c: the next batch's samples (advances like
 * tg_loader_next, without converting them), and the conversion of samples
 * order[0..n) into x [n, features] and y ([n] or [n, outputs]) of the
 * loader's dtype (reads the loader only: workers fill their shares at once). */
bool tg_loader_next_samples(tg_loader *loader, const int64_t **order, int64_t *n);
void tg_loader_fill(const tg_loader *loader, const int64_t *order, int64_t n, tg_tensor *x, tg_tensor *y);

/* The model's values may have changed outside the step (an epoch callback
 * loading a checkpoint): the next step copies them into the replicas. */
void tg_data_parallel_resync(tg_data_parallel *dp);

/* From nn/train/optim.c, for the fused update: whether opt's parameters are exactly
 * params (the same tensors in the same order), and the update of values
 * [begin, end) of parameter i from grad (its whole gradient's data) as step
 * tg_optim_steps(opt) + 1 would make it, with opt's state. values: the
 * parameter's data, or a replica's of the same shape and equal values. The
 * caller counts the step (tg_optim_set_steps) once every slice is done. */
bool tg_optim_updates_exactly(const tg_optimizer *opt, tg_params params);
void tg_optim_update_slice(const tg_optimizer *opt, int i, int64_t begin, int64_t end, const void *grad,
                           void *values);

/* Samples of out [n, classes] (or [n, 1] for two classes) whose prediction is
 * y's class; 0 when out does not fit (nn/train/train.c). */
int64_t tg_count_correct(const tg_tensor *out, const tg_tensor *y, int classes);

#endif
