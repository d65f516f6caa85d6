/* Internal to nn/train/: the optimizer's update of a slice of one
 * parameter, for the data-parallel step, which updates each slice of the
 * summed gradient on the core that summed it (nn/train/optim.c). Not
 * installed. */
#ifndef TAPEGRAD_NN_OPTIM_INTERNAL_H
#define TAPEGRAD_NN_OPTIM_INTERNAL_H

#include "tapegrad/nn.h"

/* Whether opt's parameters are exactly params (the same tensors in the same
 * order): then its update can be fused, slice by slice. */
bool tg_optim_updates_exactly(const tg_optimizer *opt, tg_params params);
/* The update of values [begin, end) of parameter i from grad (its whole
 * gradient's data) as step tg_optim_steps(opt) + 1 would make it, with opt's
 * state. values: the parameter's data, or a replica's of the same shape and
 * equal values. The caller counts the step (tg_optim_set_steps) once every
 * slice is done. */
void tg_optim_update_slice(const tg_optimizer *opt, int i, int64_t begin, int64_t end, const void *grad,
                           void *values);

#endif
