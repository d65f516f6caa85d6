/* tapegrad/ops.h: the differentiable ops.
 *
 * Every op takes tensors of one dtype and returns a new step tensor (NULL on
 * error, with the context's error set). When grad mode is on and an input
 * requires a gradient, the op is recorded on the tape. Binary elementwise ops
 * broadcast by numpy's rules: shapes are aligned on the right and a dim of 1
 * stretches to the other's size.
 */
#ifndef TAPEGRAD_OPS_H
#define TAPEGRAD_OPS_H

#include "tapegrad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The op registry: one line per op. X(ENUM_NAME, name) */
#define TG_OP_LIST(X)                                                      \
    X(MATMUL, matmul)                                                      \
    X(ADD, add) X(SUB, sub) X(MUL, mul) X(DIV, div)                        \
    X(NEG, neg) X(ADD_SCALAR, add_scalar) X(MUL_SCALAR, mul_scalar)        \
    X(SIGMOID, sigmoid) X(TANH, tanh) X(RELU, relu) X(STEP, step)          \
    X(SIGMOID_BACKWARD, sigmoid_backward) X(TANH_BACKWARD, tanh_backward)  \
    X(RELU_BACKWARD, relu_backward)                                        \
    X(EXP, exp) X(LOG, log)                                                \
    X(SOFTMAX, softmax) X(LOG_SOFTMAX, log_softmax)                        \
    X(SUM, sum) X(MEAN, mean) X(SUM_AXIS, sum_axis) X(MEAN_AXIS, mean_axis) \
    X(RESHAPE, reshape) X(TRANSPOSE, transpose)                            \
    X(EXPAND, expand) X(SUM_TO, sum_to)                                    \
    X(MSE_LOSS, mse_loss) X(CROSS_ENTROPY, cross_entropy)

typedef enum {
    TG_OP_USER = -1, /* an op defined by a user (not in the list) */
#define TG_OP_ENUM(NAME, name) TG_OP_##NAME,
    TG_OP_LIST(TG_OP_ENUM)
#undef TG_OP_ENUM
    TG_OP_COUNT
} tg_op_kind;

const char *tg_op_name(tg_op_kind op); /* "matmul", "sigmoid", ... */

/* ---- linear algebra ---- */
/* C = A·B, A [m,k], B [k,n] -> [m,n].  dA = dC·Bᵀ, dB = Aᵀ·dC
 * Batched: [b,m,k]·[b,k,n] -> [b,m,n]; a rank-2 operand is shared by every
 * matrix of the other's stack ([b,m,k]·[k,n]) and its gradient sums over b. */
tg_tensor *tg_matmul(tg_tensor *a, tg_tensor *b);
/* C = op(A)·op(B), op(X) = Xᵀ when its flag is set; no transposed copy is made. */
tg_tensor *tg_matmul_t(tg_tensor *a, tg_tensor *b, bool trans_a, bool trans_b);

/* ---- elementwise, broadcasting ---- */
tg_tensor *tg_add(tg_tensor *a, tg_tensor *b); /* a + b;  da = dy, db = dy (summed over broadcast dims) */
tg_tensor *tg_sub(tg_tensor *a, tg_tensor *b); /* a - b;  da = dy, db = -dy */
tg_tensor *tg_mul(tg_tensor *a, tg_tensor *b); /* a * b;  da = dy·b, db = dy·a */
tg_tensor *tg_div(tg_tensor *a, tg_tensor *b); /* a / b;  da = dy/b, db = -dy·a/b² */
tg_tensor *tg_neg(tg_tensor *x);                      /* -x */
tg_tensor *tg_add_scalar(tg_tensor *x, double c);     /* x + c */
tg_tensor *tg_mul_scalar(tg_tensor *x, double c);     /* x · c */

/* ---- activations and maps ---- */
tg_tensor *tg_sigmoid(tg_tensor *x); /* y = 1/(1+exp(-x));  dy/dx = y(1-y) */
tg_tensor *tg_tanh(tg_tensor *x);    /* y = tanh x;         dy/dx = 1 - y² */
tg_tensor *tg_relu(tg_tensor *x);    /* y = max(x, 0);      dy/dx = step(x) (0 at x = 0) */
tg_tensor *tg_step(tg_tensor *x);    /* y = 1 if x > 0 else 0; no gradient flows through it */
tg_tensor *tg_exp(tg_tensor *x);     /* y = exp x;          dy/dx = y */
tg_tensor *tg_log(tg_tensor *x);     /* y = ln x;           dy/dx = 1/x */

/* The activations' derivatives as fused ops (their backward rules use them;
 * they are differentiable again, for second derivatives). Broadcasting. */
tg_tensor *tg_sigmoid_backward(tg_tensor *g, tg_tensor *y); /* g·y(1-y), y = sigmoid(x) */
tg_tensor *tg_tanh_backward(tg_tensor *g, tg_tensor *y);    /* g·(1-y²), y = tanh(x) */
tg_tensor *tg_relu_backward(tg_tensor *g, tg_tensor *x);    /* g where x > 0, else 0 */

/* Along the last axis; stable for any finite logits (the row max is subtracted). */
tg_tensor *tg_softmax(tg_tensor *x);     /* y = exp(x)/Σexp(x);  dx = y ⊙ (dy - Σ dy⊙y) */
tg_tensor *tg_log_softmax(tg_tensor *x); /* y = x - log Σexp(x); dx = dy - softmax(x)·Σdy */

/* ---- reductions ---- */
tg_tensor *tg_sum(tg_tensor *x);  /* scalar Σx;  dx = dy broadcast */
tg_tensor *tg_mean(tg_tensor *x); /* scalar Σx/n */
/* Along one axis (negative counts from the end); keepdim keeps it as size 1. */
tg_tensor *tg_sum_axis(tg_tensor *x, int axis, bool keepdim);
tg_tensor *tg_mean_axis(tg_tensor *x, int axis, bool keepdim);

/* ---- shapes ---- */
tg_tensor *tg_reshape(tg_tensor *x, int rank, const int64_t *shape); /* same size; copies */
tg_tensor *tg_transpose(tg_tensor *x, int axis0, int axis1);         /* swaps two axes */
tg_tensor *tg_expand(tg_tensor *x, int rank, const int64_t *shape);  /* broadcast to shape */
tg_tensor *tg_sum_to(tg_tensor *x, int rank, const int64_t *shape);  /* sums broadcast dims away */

/* ---- fused losses (scalar results) ---- */
/* mean((a - b)²) over all elements; da = 2(a - b)/n · dy, db = -da */
tg_tensor *tg_mse_loss(tg_tensor *a, tg_tensor *b);
/* Softmax cross-entropy of logits [n, c], averaged over the n rows:
 * -(1/n) Σᵢ Σⱼ pᵢⱼ log softmax(zᵢ)ⱼ.  targets: [n] class indices (stored as
 * numbers 0..c-1) or [n, c] probabilities / one-hot rows.
 * dz = (softmax(z) - p)/n · dy; finite for logits of any magnitude. */
tg_tensor *tg_cross_entropy(tg_tensor *logits, tg_tensor *targets);

/* ---- reading the tape (for diagrams and tools) ---- */
typedef struct {
    tg_op_kind op;              /* TG_OP_USER for a user op */
    const char *name;           /* the op's name: "matmul", or a user op's own */
    int n_inputs;
    tg_tensor *const *inputs;   /* valid until tg_tape_reset */
    tg_tensor *output;
} tg_tape_entry;
/* Entry i of the tape (0 is the first op recorded); false when out of range. */
bool tg_tape_entry_at(const tg_ctx *ctx, int64_t i, tg_tape_entry *entry);
/* A short label for entry i: the op name with its attributes ("sum(axis=1)",
 * "x·0.5", "matmul(Aᵀ·B)"). Returns buf; a label longer than size ends in "…"
 * (cut at a character boundary); "?" for an i out of range. */
char *tg_tape_entry_label(const tg_ctx *ctx, int64_t i, char *buf, size_t size);
/* The local derivative on the edge from entry i's input `input` as a short
 * formula of the vector-Jacobian product, applied to the δ arriving at the
 * output: "·Wᵀ" and "Xᵀ·" for matmul, "⊙σ(z)(1−σ(z))" for sigmoid, "Σ over
 * batch" for a broadcast add. From the op's descriptor (user ops supply their
 * own); "∂/∂x<input>" when the op has none. Truncated like tg_tape_entry_label;
 * "?" for i or input out of range. Returns buf. */
char *tg_tape_entry_vjp_label(const tg_ctx *ctx, int64_t i, int input, char *buf, size_t size);
/* Tape index of the op that made t, -1 for leaves and unrecorded tensors. */
int64_t tg_tensor_creator(const tg_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
