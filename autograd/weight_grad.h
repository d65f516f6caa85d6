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

#include "autograd/threads.h"
#include "tapegrad/core.h"

/* Offered, during a tg_grad_reached pass, each product that would be a
 * rank-2 input's whole gradient contribution leftᵀ·right (left [n, rows],
 * right [n, cols], rows × cols the input's shape; `input` its index in the
 * pass's inputs). true: the hook keeps left and right (step tensors, alive
 * until the tape is reset) and the pass leaves that contribution out. */
typedef bool (*tg_weight_grad_fn)(void *user, int input, tg_tensor *left, tg_tensor *right);
void tg_ctx_set_weight_grad_hook(tg_ctx *ctx, tg_weight_grad_fn fn, void *user);

/* tg_grad without its zeros: an input the pass did not reach gets NULL. */
tg_status tg_grad_reached(tg_tensor *output, int n_inputs, tg_tensor *const *inputs, tg_tensor **grads);

tg_pool *tg_ctx_pool(const tg_ctx *ctx);

/* The product is one GEMM over the batch: each share's parts are stacked,
 * in batch order, into stack_left [batch, rows] (scaled by the share's
 * weight) and stack_right [batch, cols]. This copies a share's parts (left
 * [n, rows], right [n, cols]) into rows [row, row + n) of the stacks. */
void tg_weight_grad_stack(const tg_tensor *left, const tg_tensor *right, double weight, int64_t row,
                          void *stack_left, void *stack_right);
/* Rows [r0, r1) of alpha · leftᵀ·right (left [batch, rows], right [batch,
 * cols], of dtype), added to dst [rows, cols] (accumulate) or written over
 * it. On the calling thread, packing into pool worker `worker`'s scratch:
 * call it from a tg_pool_run task as that worker. */
void tg_weight_grad_product(tg_pool *pool, int worker, tg_dtype dtype, int64_t rows, int64_t cols, int64_t batch,
                            double alpha, const void *left, const void *right, int64_t r0, int64_t r1, void *dst,
                            bool accumulate);

/* The forward's side, for the step's lead weight (the first layer's W of
 * y = x·Wᵀ, x the step's input batch): the whole batch's product is made
 * before the workers run, by rows of W, each block on the core that owns
 * those rows (it also makes their gradient and update), and a worker's
 * matmul is given its rows of it. Asked in tg_matmul_t for every product
 * of two matrices; true: c holds op(a)·op(b) and no GEMM runs. */
typedef bool (*tg_input_product_fn)(void *user, const tg_tensor *a, const tg_tensor *b, bool trans_a, bool trans_b,
                                    tg_tensor *c);
void tg_ctx_set_input_product_hook(tg_ctx *ctx, tg_input_product_fn fn, void *user);
/* Columns [r0, r1) of out [batch, rows] = x [batch, cols] · wᵀ (w [rows,
 * cols]): rows r0..r1 of w, on the calling thread as pool worker `worker`. */
void tg_weight_input_product(tg_pool *pool, int worker, tg_dtype dtype, int64_t batch, int64_t rows, int64_t cols,
                             const void *x, const void *w, int64_t r0, int64_t r1, void *out);
/* Points t's values at data (a buffer of t's size: another tensor's, so that
 * both share one array) and returns the buffer t had, which the caller gives
 * back before t is freed. */
void *tg_tensor_share_data(tg_tensor *t, void *data);

#endif
