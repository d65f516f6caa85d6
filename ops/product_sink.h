/* Internal: the product sink, an interface that ops/ owns and a layer above
 * implements. Not installed.
 *
 * Matrix products are the bulk of a training step. A caller that can make
 * some of them another way (data-parallel training, which makes a whole
 * batch's products once, by rows, on the cores that own those rows) installs a sink on a context, and matmul offers it its
 * products. matmul calls only through this table; it knows nothing of who
 * implements it. With no sink installed (ctx->product_sink NULL, the default)
 * matmul runs its GEMM and records its gradients as usual.
 *
 * The backward side: a weight W of y = x·Wᵀ (or y = x·W) gets dW = dyᵀ·x (or
 * xᵀ·dy), a product over the batch, dW = leftᵀ·right with left and right
 * [batch, ·]. Split over workers, each would write a whole dW for its share
 * of the batch and a second pass would sum the shares, reading each
 * weight-sized gradient from memory another core wrote. Taken by a sink
 * instead, the products of all shares are made once, by rows, by whoever
 * owns those rows:
 *
 *   dW[r0:r1] = Σ_k weight_k · left_k[:, r0:r1]ᵀ · right_k
 *
 * with the shares' batch dimension as the inner one (the whole batch's K,
 * as on one thread). The kernels for that are below, defined in ops/matmul.c
 * beside the GEMM calls they share. */
#ifndef TAPEGRAD_OPS_PRODUCT_SINK_H
#define TAPEGRAD_OPS_PRODUCT_SINK_H

#include "autograd/internal.h"
#include "autograd/threads.h"

struct tg_product_sink {
    /* Forward: asked in tg_matmul_t for every product of two matrices
     * c = op(a)·op(b) (c allocated, not filled). true: the sink wrote c and
     * no GEMM runs; false: matmul computes it. NULL: never asked. */
    bool (*give_product)(void *user, const tg_tensor *a, const tg_tensor *b, bool trans_a, bool trans_b, tg_tensor *c);
    /* Backward, in a tg_grad_reached pass without create_graph and outside
     * anomaly mode: offered each product that would be a rank-2 input's
     * whole gradient contribution leftᵀ·right (left [n, rows], right
     * [n, cols], rows × cols the input's shape; `input` its index in the
     * pass's inputs; the input has no hook). true: the sink keeps left and
     * right (step tensors, alive until the tape is reset) and the pass leaves
     * that contribution out. NULL: never offered. */
    bool (*take_weight_grad)(void *user, int input, tg_tensor *left, tg_tensor *right);
    void *user; /* passed to both */
};

/* Installs sink on ctx (NULL removes it); the caller keeps *sink alive
 * while it is installed. */
void tg_ctx_set_product_sink(tg_ctx *ctx, const tg_product_sink *sink);

/* Offers the sink the gradient of weight w (rank 2) as leftᵀ·right, in a
 * backward pass as take_weight_grad describes: true when it took them and
 * the caller records no gradient for w. matmul and linear ask it. */
bool tg_weight_grad_offer(tg_tensor *w, tg_tensor *left, tg_tensor *right);

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
/* The forward's side, for a sink that gives products: columns [r0, r1) of
 * out [batch, rows] = x [batch, cols] · wᵀ (w [rows, cols]): rows r0..r1 of
 * w, on the calling thread as pool worker `worker`. */
void tg_weight_input_product(tg_pool *pool, int worker, tg_dtype dtype, int64_t batch, int64_t rows, int64_t cols,
                             const void *x, const void *w, int64_t r0, int64_t r1, void *out);

#endif
