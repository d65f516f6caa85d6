/* The dense-layer pieces that linear (linear.c) shares with the dense ops
 * fused with what feeds them (fused_linear.c): y = a·Wᵀ + b over the rows of
 * an input x [..., in], where a is x itself or a value made from x of x's
 * shape. Internal to ops/. */
#ifndef TG_OPS_LINEAR_H
#define TG_OPS_LINEAR_H

#include "autograd/internal.h"

/* x [..., in] (not a scalar), W [out, in], b [out] or NULL; errors name op. */
bool tg_linear_check(const char *op, tg_tensor *x, tg_tensor *w, tg_tensor *b);
/* The output y [..., out] for x, uninitialised; NULL (error set) if out of memory. */
tg_tensor *tg_linear_output(tg_tensor *x, tg_tensor *w);
/* y = a·Wᵀ + b, a the rows [rows, in] of a tensor of x's shape (at a's data). */
void tg_linear_gemm(tg_tensor *y, const tg_tensor *a, tg_tensor *w, tg_tensor *b);
/* Given the upstream dy of y = a·Wᵀ + b: dW and db into *dw and *db when
 * W and b require them and dw, db are not NULL (dW offered to the context's product sink first);
 * returns da = dy·W, shaped as a, when want_da (else NULL). Made of ops. */
tg_tensor *tg_linear_vjp(tg_tensor *dy, tg_tensor *a, tg_tensor *w, tg_tensor *b, bool want_da, tg_tensor **dw,
                         tg_tensor **db);

#endif
