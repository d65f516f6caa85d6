/* Internal to ops/: the masked softmax's checks and kernel, shared by
 * softmax_masked (masked.c) and scaled_dot_product_attention (attention.c). */
#ifndef TAPEGRAD_OPS_MASKED_H
#define TAPEGRAD_OPS_MASKED_H

#include "autograd/internal.h"

/* Checks an optional mask for scores x (op names the caller in errors): i64
 * (nonzero: masked out) or additive in x's dtype (numbers or −∞), broadcasting
 * to x's shape; fills bc with its strides in x's index space. */
bool tg_check_softmax_mask(const char *op, const tg_tensor *x, const tg_tensor *mask, tg_broadcast *bc);
/* y = softmax(scale·x + M) along x's last axis, M from the mask and the
 * causal flag (position j of row i along the next-to-last axis masked for
 * j > i); a row with every position masked is zeros. y has x's shape. */
void tg_softmax_masked_kernel(const tg_tensor *x, const tg_tensor *mask, const tg_broadcast *bc, double scale,
                              bool causal, tg_tensor *y);

#endif
