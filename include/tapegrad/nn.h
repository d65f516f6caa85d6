/* tapegrad/nn.h: networks built from the ops (no hand-written backprop).
 *
 * Convention: a dense layer computes z = x·Wᵀ + b with x [n, in], W [out, in]
 * (the textbook's Θ, as in PyTorch's Linear), b [out]; activations follow.
 */
#ifndef TAPEGRAD_NN_H
#define TAPEGRAD_NN_H

#include <stdio.h>

#include "tapegrad/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A list of parameter tensors (names via tg_tensor_name). The list does not
 * own the tensors. */
typedef struct {
    int count;
    tg_tensor **items;
} tg_params;

/* An optimizer over a tg_params list. */
typedef struct tg_optimizer tg_optimizer;

/* The optimizer's state for checkpoints: its state tensors (created with the
 * optimizer, in a fixed order) and its step count. */
tg_params tg_optim_state(const tg_optimizer *opt);
int64_t tg_optim_steps(const tg_optimizer *opt);
void tg_optim_set_steps(tg_optimizer *opt, int64_t steps);

#ifdef __cplusplus
}
#endif
#endif
