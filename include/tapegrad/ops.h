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
    X(ABS, abs) X(SQRT, sqrt) X(POW_SCALAR, pow_scalar) X(POW, pow)        \
    X(CLAMP, clamp) X(MAXIMUM, maximum) X(MINIMUM, minimum) X(WHERE, where) \
    X(LOG1P, log1p) X(EXPM1, expm1) X(ERF, erf) X(SIN, sin) X(COS, cos)    \
    X(LEAKY_RELU, leaky_relu) X(ELU, elu) X(SOFTPLUS, softplus)            \
    X(SILU, silu) X(GELU, gelu) X(GELU_TANH, gelu_tanh)                    \
    X(LEAKY_RELU_BACKWARD, leaky_relu_backward) X(ELU_BACKWARD, elu_backward) \
    X(SOFTPLUS_BACKWARD, softplus_backward) X(SILU_BACKWARD, silu_backward) \
    X(GELU_BACKWARD, gelu_backward) X(GELU_TANH_BACKWARD, gelu_tanh_backward) \
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

/* More activations. Kinks: the gradient at x = 0 is the left side's (slope
 * for leaky_relu, alpha for elu), as PyTorch. Φ is the standard normal CDF,
 * φ its density. */
tg_tensor *tg_leaky_relu(tg_tensor *x, double slope); /* y = x if x > 0 else slope·x;  dy/dx = 1 or slope */
tg_tensor *tg_elu(tg_tensor *x, double alpha);  /* y = x if x > 0 else α(eˣ - 1);  dy/dx = 1 or α·eˣ */
/* y = ln(1 + eˣ), computed as max(x, 0) + ln(1 + e^-|x|): exact for any x;
 * dy/dx = sigmoid(x) */
tg_tensor *tg_softplus(tg_tensor *x);
tg_tensor *tg_silu(tg_tensor *x);      /* y = x·σ(x);  dy/dx = σ(x)(1 + x(1 - σ(x))) */
tg_tensor *tg_gelu(tg_tensor *x);      /* y = x·Φ(x) = ½x·erfc(-x/√2);  dy/dx = Φ(x) + x·φ(x) */
/* y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³), computed as x·σ(2u);
 * dy/dx = ½(1 + tanh u) + ½x(1 - tanh² u)·√(2/π)(1 + 3·0.044715x²) */
tg_tensor *tg_gelu_tanh(tg_tensor *x);

/* Their derivatives, fused as above: g·f'(x), differentiable in g and x
 * (leaky_relu's in g only: its f'' is 0). Broadcasting. */
tg_tensor *tg_leaky_relu_backward(tg_tensor *g, tg_tensor *x, double slope); /* g·(x > 0 ? 1 : slope) */
tg_tensor *tg_elu_backward(tg_tensor *g, tg_tensor *x, double alpha);        /* g·(x > 0 ? 1 : α·eˣ) */
tg_tensor *tg_softplus_backward(tg_tensor *g, tg_tensor *x);  /* g·σ(x);  d/dx: g·σ(x)(1 - σ(x)) */
tg_tensor *tg_silu_backward(tg_tensor *g, tg_tensor *x);      /* g·silu'(x);  silu'' = σ(1-σ)(2 + x(1-2σ)) */
tg_tensor *tg_gelu_backward(tg_tensor *g, tg_tensor *x);      /* g·gelu'(x);  gelu'' = φ(x)(2 - x²) */
tg_tensor *tg_gelu_tanh_backward(tg_tensor *g, tg_tensor *x); /* g·gelu_tanh'(x) */

/* Along the last axis; stable for any finite logits (the row max is subtracted). */
tg_tensor *tg_softmax(tg_tensor *x);     /* y = exp(x)/Σexp(x);  dx = y ⊙ (dy - Σ dy⊙y) */
tg_tensor *tg_log_softmax(tg_tensor *x); /* y = x - log Σexp(x); dx = dy - softmax(x)·Σdy */

/* ---- math ---- */
tg_tensor *tg_abs(tg_tensor *x);   /* y = |x|;        dy/dx = sign(x), 0 at x = 0 */
/* y = √x;  dy/dx = 1/(2y): +Inf at x = 0; x < 0 gives NaN, as libm */
tg_tensor *tg_sqrt(tg_tensor *x);
tg_tensor *tg_log1p(tg_tensor *x); /* y = ln(1 + x);  dy/dx = 1/(1 + x) */
tg_tensor *tg_expm1(tg_tensor *x); /* y = eˣ - 1;     dy/dx = y + 1 */
tg_tensor *tg_erf(tg_tensor *x);   /* y = erf x;      dy/dx = (2/√π)·e^(-x²) */
tg_tensor *tg_sin(tg_tensor *x);   /* y = sin x;      dy/dx = cos x */
tg_tensor *tg_cos(tg_tensor *x);   /* y = cos x;      dy/dx = -sin x */
/* y = x^p for a constant p;  dy/dx = p·x^(p-1) (none for p = 0). Any sign of
 * x: a negative x with a non-integer p gives NaN, as libm's pow. */
tg_tensor *tg_pow_scalar(tg_tensor *x, double p);
/* y = base^exponent elementwise, broadcasting; every base must be > 0 (else
 * TG_ERR_ARG, naming the first bad element).
 * d/dbase = exponent·y/base, d/dexponent = y·ln(base) */
tg_tensor *tg_pow(tg_tensor *base, tg_tensor *exponent);
/* y = min(max(x, low), high);  dy/dx = 1 on [low, high], bounds included, 0
 * outside. low <= high (else TG_ERR_ARG); ±INFINITY for one side. */
tg_tensor *tg_clamp(tg_tensor *x, double low, double high);
/* y = max(a, b) elementwise, broadcasting; NaN if either is NaN.
 * da = dy where a > b, db = dy where b > a; a tie gives each dy/2. */
tg_tensor *tg_maximum(tg_tensor *a, tg_tensor *b);
tg_tensor *tg_minimum(tg_tensor *a, tg_tensor *b); /* min(a, b); ties split as tg_maximum */
/* y = mask != 0 ? a : b elementwise; the three shapes broadcast together.
 * mask: any dtype (f32, f64 or i64; NaN counts as nonzero), gets no gradient.
 * da = where(mask, dy, 0), db = where(mask, 0, dy) */
tg_tensor *tg_where(tg_tensor *mask, tg_tensor *a, tg_tensor *b);

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
 * "x·0.5", "matmul(Aᵀ·B)"). Returns buf. */
char *tg_tape_entry_label(const tg_ctx *ctx, int64_t i, char *buf, size_t size);
/* Tape index of the op that made t, -1 for leaves and unrecorded tensors. */
int64_t tg_tensor_creator(const tg_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
