/* Internal to nn/train/: what the training loop shares with the
 * data-parallel step (nn/train/train.c). Not installed. */
#ifndef TAPEGRAD_NN_TRAIN_INTERNAL_H
#define TAPEGRAD_NN_TRAIN_INTERNAL_H

#include "tapegrad/core.h"

/* Samples of out [n, classes] (or [n, 1] for two classes) whose prediction is
 * y's class; 0 when out does not fit. */
int64_t tg_count_correct(const tg_tensor *out, const tg_tensor *y, int classes);

#endif
