/* Internal to nn/: the minibatch loader's steps taken apart, for the
 * data-parallel trainer, whose workers convert their shares of a batch at
 * once (nn/data/loader.c). Not installed. */
#ifndef TAPEGRAD_NN_LOADER_INTERNAL_H
#define TAPEGRAD_NN_LOADER_INTERNAL_H

#include "tapegrad/data.h"

/* The next batch's samples (advances like tg_loader_next, without
 * converting them): order[0..n) of the loader's data; false at the end of
 * the epoch. */
bool tg_loader_next_samples(tg_loader *loader, const int64_t **order, int64_t *n);
/* The conversion of samples order[0..n) into x [n, features] and y ([n] or
 * [n, outputs]) of the loader's dtype. Reads the loader only, so workers
 * fill their shares at once. */
void tg_loader_fill(const tg_loader *loader, const int64_t *order, int64_t n, tg_tensor *x, tg_tensor *y);

#endif
