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
 * core.h: contexts, tensors, backward.  ops.h: the ops.  op.h: ops you define
 * yourself, with their own forward and backward.  gradcheck.h: finite
 * differences.  nn.h: layers, losses, optimizers, perceptron.  model.h: conv,
 * pooling, norm, dropout, embedding and recurrent layers, and models built
 * from layer specs.  data.h: IDX and CSV files, datasets, checkpoints, the
 * training loop.  safetensors.h: tensors in and out of safetensors files
 * (PyTorch's and Hugging Face's format).  dot.h: diagrams of the tape.
 * plot.h: training curves as SVG.
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
#include "tapegrad/safetensors.h"
#include "tapegrad/dot.h"
#include "tapegrad/plot.h"

#endif
