/* Internal: weight gradients taken off the tape, for the data-parallel step
 * (nn/train/data_parallel.c). Not installed.
 *
 * A weight W of y = x·Wᵀ (or y = x·W) gets dW = dyᵀ·x (or xᵀ·dy): a product
 * over the batch, dW = leftᵀ·right with left and right [batch, ·]. Split
 * over workers, each would write a whole dW for its share of the batch and a
 * second pass would sum the shares, reading each weight-sized gradient from
 * memory that another core wrote. Taken off the tape instead, the products
 * of all shares are computed once, by rows, by whoever owns those rows:
 *
 *   dW[r0:r1] = Σ_k weight_k · left_k[:, r0:r1]ᵀ · right_k
 *
 * with the shares' batch dimension as the inner one (the whole batch's K,
 * as on one thread). */
#ifndef TAPEGRAD_AUTOGRAD_WEIGHT_GRAD_H
#define TAPEGRAD_AUTOGRAD_WEIGHT_GRAD_H

#include "autograd/pool.h"
#include "tapegrad/core.h"

/* Offered, during a backward pass without create_graph, each product that
 * would be a rank-2 weight's whole gradient contribution leftᵀ·right
 * (left [n, rows], right [n, cols], rows × cols the weight's shape). true:
 * the hook keeps left and right (step tensors, alive until the tape is
 * reset) and the pass leaves that contribution out. */
typedef bool (*tg_weight_grad_fn)(void *user, const tg_tensor *weight, tg_tensor *left, tg_tensor *right);
void tg_ctx_set_weight_grad_hook(tg_ctx *ctx, tg_weight_grad_fn fn, void *user);

/* tg_grad without its zeros: an input the pass did not reach gets NULL. */
tg_status tg_grad_reached(tg_tensor *output, int n_inputs, tg_tensor *const *inputs, tg_tensor **grads);

tg_pool *tg_ctx_pool(const tg_ctx *ctx);

/* Rows [r0, r1) of Σ_k weight[k] · left[k]ᵀ·right[k] over the n parts,
 * added to dst (accumulate) or written over it; dst is [rows, cols] of the
 * parts' dtype. The parts are stacked into scratch (of
 * tg_weight_grad_scratch bytes, 64-byte aligned) so that the product runs
 * over the whole batch at once. On the calling thread, packing into pool
 * worker `worker`'s scratch (call it from a tg_pool_run task as that worker). */
size_t tg_weight_grad_scratch(int n, tg_tensor *const *left, tg_tensor *const *right, int64_t r0, int64_t r1);
void tg_weight_grad_rows(tg_pool *pool, int worker, int n, tg_tensor *const *left, tg_tensor *const *right,
                         const double *weight, int64_t r0, int64_t r1, void *dst, bool accumulate, void *scratch);

#endif
