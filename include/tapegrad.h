/* tapegrad: tape-based reverse-mode automatic differentiation in C11.
 *
 * Ops run at once and are recorded on a tape; tg_backward walks the tape in
 * reverse and the chain rule does the rest:
 *
 *     tg_ctx *ctx = tg_ctx_new(1);
 *     tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){2, 3});
 *     tg_tensor *w = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){0, 1});
 *     tg_tensor_set_requires_grad(w, true);
 *     tg_tensor *y = tg_sigmoid(tg_add_scalar(tg_sum(tg_mul(w, x)), 4)); // σ(w·x + 4)
 *     tg_backward(y);                            // dy/dw = σ'(7)·x
 *     printf("%g %g\n", tg_tensor_item(y), tg_tensor_get(tg_tensor_grad(w), 0));
 *     tg_tape_reset(ctx);                        // frees the step's intermediates
 *     tg_ctx_free(ctx);
 *
 * One header per concern, each the public face of one folder:
 *   core.h       contexts, tensors, the tape, backward          autograd/
 *   ops.h        the built-in ops                               ops/
 *   op.h         ops you define yourself (forward, backward)    ops/user.c
 *   jvp.h        forward mode: Jacobian-vector products         autograd/jvp.c
 *   gradcheck.h  finite differences against the tape            check/gradcheck.c
 *   nn.h         layers, MLPs, perceptron, losses, optimizers   nn/layers/, nn/train/
 *   model.h      conv, pooling, norm, dropout, embedding and recurrent
 *                layers, and models built from layer specs      nn/layers/
 *   data.h       IDX and CSV files, gzip, datasets, minibatches nn/data/
 *   train.h      the training loop, evaluation, histories       nn/train/
 *   checkpoint.h checkpoints of parameters and optimizer state  nn/io/
 *   safetensors.h tensors in and out of safetensors files     nn/io/
 *   dot.h        diagrams of the tape, the backward page        draw/
 *   plot.h       training curves as SVG and CSV                 draw/plot.c
 * This header includes them all.
 */
#ifndef TAPEGRAD_H
#define TAPEGRAD_H

#include "tapegrad/core.h"
#include "tapegrad/ops.h"
#include "tapegrad/op.h"
#include "tapegrad/gradcheck.h"
#include "tapegrad/jvp.h"
#include "tapegrad/nn.h"
#include "tapegrad/model.h"
#include "tapegrad/data.h"
#include "tapegrad/train.h"
#include "tapegrad/checkpoint.h"
#include "tapegrad/safetensors.h"
#include "tapegrad/dot.h"
#include "tapegrad/plot.h"

#endif
