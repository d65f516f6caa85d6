/* Internal to nn/: the data-parallel training step behind tg_train's
 * `threads` and `reduce` (nn/data_parallel.c). Not installed. */
#ifndef TAPEGRAD_NN_DATA_PARALLEL_H
#define TAPEGRAD_NN_DATA_PARALLEL_H

#include "tapegrad/data.h"

typedef struct tg_data_parallel tg_data_parallel;

/* The workers of config (threads, clone, params_of, ...): replicas in their
 * own contexts and every buffer a step needs. NULL with ctx's error set on a
 * config that does not fit (naming the missing callback or the replica that
 * differs) or out of memory. */
tg_data_parallel *tg_data_parallel_new(tg_ctx *ctx, const tg_train_config *config, int classes);
void tg_data_parallel_free(tg_data_parallel *dp);
/* One step on the batch x [n, ...], y: shares forward and backward on the
 * workers, the gradient summed into the model's (and across processes by
 * config->reduce), no optimizer step. *loss: the batch's mean loss; *correct:
 * samples classified right. The caller resets ctx's tape afterwards. */
tg_status tg_data_parallel_step(tg_data_parallel *dp, tg_tensor *x, tg_tensor *y, int64_t step, int epoch,
                                double *loss, int64_t *correct);

/* Samples of out [n, classes] (or [n, 1] for two classes) whose prediction is
 * y's class; 0 when out does not fit (nn/train.c). */
int64_t tg_count_correct(const tg_tensor *out, const tg_tensor *y, int classes);

#endif
