/* Internal to nn/train/: the data-parallel training step behind tg_train's
 * `threads` and `reduce`, as the training loop (train.c) calls it. How it is
 * built: nn/train/data_parallel_internal.h. Not installed. */
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
/* The model's values may have changed outside the step (an epoch callback
 * loading a checkpoint): the next step copies them into the replicas. */
void tg_data_parallel_resync(tg_data_parallel *dp);

#endif
