/* The perceptron's pieces its training loop (nn/train/perceptron_train.c) shares
 * with nn/layers/perceptron.c. Not installed. */
#ifndef TAPEGRAD_NN_PERCEPTRON_INTERNAL_H
#define TAPEGRAD_NN_PERCEPTRON_INTERNAL_H

#include "tapegrad/nn.h"

/* w, x, y given, shapes that fit, labels ±1: TG_OK or the error, naming who. */
tg_status tg_perceptron_check(const char *who, tg_tensor *w, const tg_tensor *x, const tg_tensor *y);
/* The points with yᵢ(w·xᵢ + b) <= 0 in row order into out; their count (first: stop at the first). */
int64_t tg_perceptron_find_misclassified(const tg_tensor *w, double b, const tg_tensor *x, const tg_tensor *y,
                                         int64_t *out, bool first);
/* w ← w + η·yᵢ·xᵢ;  b ← b + η·yᵢ (arguments checked). */
void tg_perceptron_step(tg_tensor *w, double *b, const tg_tensor *x, const tg_tensor *y, double eta, int64_t i);

#endif
