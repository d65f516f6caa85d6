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
    X(MATMUL, matmul) X(LINEAR, linear)                                    \
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
    X(MSE_LOSS, mse_loss) X(CROSS_ENTROPY, cross_entropy)                  \
    X(SLICE, slice) X(PAD, pad) X(INDEX_SELECT, index_select)              \
    X(INDEX_ADD, index_add) X(GATHER, gather) X(SCATTER_ADD, scatter_add)  \
    X(CONCAT, concat) X(STACK, stack)                                      \
    X(CONV2D, conv2d) X(CONV2D_BACKWARD_INPUT, conv2d_backward_input)      \
    X(CONV2D_BACKWARD_WEIGHT, conv2d_backward_weight)                      \
    X(MAX_POOL2D, max_pool2d) X(MAX_POOL2D_BACKWARD, max_pool2d_backward)  \
    X(MAX_POOL2D_GATHER, max_pool2d_gather)                                \
    X(RELU_MAX_POOL2D, relu_max_pool2d)                                    \
    X(AVG_POOL2D, avg_pool2d) X(AVG_POOL2D_BACKWARD, avg_pool2d_backward)  \
    X(MAX_AXIS, max_axis) X(MIN_AXIS, min_axis) X(LOGSUMEXP, logsumexp)  \
    X(LAYER_NORM, layer_norm) X(RMS_NORM, rms_norm)                        \
    X(LAYER_NORM_BACKWARD, layer_norm_backward)                            \
    X(RMS_NORM_BACKWARD, rms_norm_backward)                                \
    X(MASKED_FILL, masked_fill) X(SOFTMAX_MASKED, softmax_masked)         \
    X(SCALED_DOT_PRODUCT_ATTENTION, scaled_dot_product_attention)         \
    X(MULTI_HEAD_ATTENTION, multi_head_attention)                         \
    X(PERMUTE, permute) X(GELU_LINEAR, gelu_linear)                        \
    X(LAYER_NORM_LINEAR, layer_norm_linear)

typedef enum {
    TG_OP_USER = -1, /* an op defined by a user (not in the list) */
#define TG_OP_ENUM(NAME, name) TG_OP_##NAME,
    TG_OP_LIST(TG_OP_ENUM)
#undef TG_OP_ENUM
    TG_OP_COUNT
} tg_op_kind;

TG_API const char *tg_op_name(tg_op_kind op); /* "matmul", "sigmoid", ... */

/* ---- linear algebra ---- */
/* C = A·B, A [m,k], B [k,n] -> [m,n].  dA = dC·Bᵀ, dB = Aᵀ·dC
 * Batched over any leading dims, broadcast by numpy's rules: [..., m, k] ·
 * [..., k, n] -> [broadcast(...), m, n] ([B,H,T,d]·[B,H,d,T] -> [B,H,T,T]);
 * an operand with fewer (or size-1) leading dims is shared by every matrix
 * of the other's stack ([B,T,D]·[D,E] -> [B,T,E], run as one GEMM) and its
 * gradient sums over them. Both operands rank >= 2. */
TG_API tg_tensor *tg_matmul(tg_tensor *a, tg_tensor *b);
/* C = op(A)·op(B), op(X) = Xᵀ when its flag is set; no transposed copy is made. */
TG_API tg_tensor *tg_matmul_t(tg_tensor *a, tg_tensor *b, bool trans_a, bool trans_b);
/* y = x·Wᵀ + b (PyTorch's F.linear): x [..., in], W [out, in], b [out] or
 * NULL (no bias) -> y [..., out]; x's leading axes are rows (x of rank >= 1).
 * One GEMM writes y over the bias rows.  Over the rows (g = dy [rows, out]):
 * dx = g·W, dW = gᵀ·x, db = Σ_rows g. */
TG_API tg_tensor *tg_linear(tg_tensor *x, tg_tensor *w, tg_tensor *b);

/* ---- elementwise, broadcasting ---- */
TG_API tg_tensor *tg_add(tg_tensor *a, tg_tensor *b); /* a + b;  da = dy, db = dy (summed over broadcast dims) */
TG_API tg_tensor *tg_sub(tg_tensor *a, tg_tensor *b); /* a - b;  da = dy, db = -dy */
TG_API tg_tensor *tg_mul(tg_tensor *a, tg_tensor *b); /* a * b;  da = dy·b, db = dy·a */
TG_API tg_tensor *tg_div(tg_tensor *a, tg_tensor *b); /* a / b;  da = dy/b, db = -dy·a/b² */
TG_API tg_tensor *tg_neg(tg_tensor *x);                      /* -x */
TG_API tg_tensor *tg_add_scalar(tg_tensor *x, double c);     /* x + c */
TG_API tg_tensor *tg_mul_scalar(tg_tensor *x, double c);     /* x · c */

/* ---- attention ----
 * q [B, H, T, d], k [B, H, S, d], v [B, H, S, dv] -> y [B, H, T, dv]:
 *   Z = q·kᵀ/√d + M,  P = softmax(Z) along S,  P' = P⊙K/(1-p),  y = P'·v
 * per (batch, head) through the blocked GEMM, on the tensors' own buffers.
 * M: mask as tg_softmax_masked's (NULL; i64 boolean, nonzero masked out; or
 * additive in q's dtype), broadcasting to [B, H, T, S]; causal masks key j
 * for query i when j > i. A query with every key masked gets y = 0 (and no
 * gradient), never NaN. Dropout: each element of P kept with probability
 * 1 - dropout_p (drawn from rng, which may be NULL when dropout_p is 0) and
 * scaled by 1/(1 - p); pass 0 for inference.
 *   dv = P'ᵀ·dy,  dP = (dy·vᵀ)⊙K/(1-p),  dZ = P⊙(dP - Σ dP⊙P),
 *   dq = dZ·k/√d,  dk = dZᵀ·q/√d,  dM = dZ (summed to an additive mask's shape) */
TG_API tg_tensor *tg_scaled_dot_product_attention(tg_tensor *q, tg_tensor *k, tg_tensor *v, tg_tensor *mask,
                                                  bool causal, double dropout_p, tg_rng *rng);
/* The same attention on H heads read straight out of the packed projection
 * qkv = x·W_qkvᵀ + b_qkv [B, T, 3·D], D = H·dh (q | k | v side by side, as
 * PyTorch's in_proj packs them): head h's q_h, k_h, v_h [T, dh] are columns
 * h·dh .. (h+1)·dh of the first, second and third D columns.
 *   y[b, :, h·dh:(h+1)·dh] = softmax(q_h·k_hᵀ/√dh + M)·v_h  ->  y [B, T, D]
 * (the heads side by side, ready for the output projection). No head is
 * copied: the per-head GEMMs read qkv with its row stride 3·D and write y
 * with D. mask broadcasts to the scores [B, H, T, T]; mask, causal, dropout
 * and rng as tg_scaled_dot_product_attention's. The gradient d(qkv) holds
 * dq_h = dZ·k_h/√dh, dk_h = dZᵀ·q_h/√dh, dv_h = P'ᵀ·dy_h in the places of
 * q_h, k_h, v_h. */
TG_API tg_tensor *tg_multi_head_attention(tg_tensor *qkv, int heads, tg_tensor *mask, bool causal,
                                          double dropout_p, tg_rng *rng);

/* ---- activations and maps ---- */
TG_API tg_tensor *tg_sigmoid(tg_tensor *x); /* y = 1/(1+exp(-x));  dy/dx = y(1-y) */
TG_API tg_tensor *tg_tanh(tg_tensor *x);    /* y = tanh x;         dy/dx = 1 - y² */
TG_API tg_tensor *tg_relu(tg_tensor *x);    /* y = max(x, 0);      dy/dx = step(x) (0 at x = 0) */
TG_API tg_tensor *tg_step(tg_tensor *x);    /* y = 1 if x > 0 else 0; no gradient flows through it */
TG_API tg_tensor *tg_exp(tg_tensor *x);     /* y = exp x;          dy/dx = y */
TG_API tg_tensor *tg_log(tg_tensor *x);     /* y = ln x;           dy/dx = 1/x */

/* The activations' derivatives as fused ops (their backward rules use them;
 * they are differentiable again, for second derivatives). Broadcasting. */
TG_API tg_tensor *tg_sigmoid_backward(tg_tensor *g, tg_tensor *y); /* g·y(1-y), y = sigmoid(x) */
TG_API tg_tensor *tg_tanh_backward(tg_tensor *g, tg_tensor *y);    /* g·(1-y²), y = tanh(x) */
TG_API tg_tensor *tg_relu_backward(tg_tensor *g, tg_tensor *x);    /* g where x > 0, else 0 */

/* More activations. Kinks: the gradient at x = 0 is the left side's (slope
 * for leaky_relu, alpha for elu), as PyTorch. Φ is the standard normal CDF,
 * φ its density. */
TG_API tg_tensor *tg_leaky_relu(tg_tensor *x, double slope); /* y = x if x > 0 else slope·x;  dy/dx = 1 or slope */
TG_API tg_tensor *tg_elu(tg_tensor *x, double alpha);  /* y = x if x > 0 else α(eˣ - 1);  dy/dx = 1 or α·eˣ */
/* y = ln(1 + eˣ), computed as max(x, 0) + ln(1 + e^-|x|): exact for any x;
 * dy/dx = sigmoid(x) */
TG_API tg_tensor *tg_softplus(tg_tensor *x);
TG_API tg_tensor *tg_silu(tg_tensor *x);      /* y = x·σ(x);  dy/dx = σ(x)(1 + x(1 - σ(x))) */
TG_API tg_tensor *tg_gelu(tg_tensor *x);      /* y = x·Φ(x) = ½x·erfc(-x/√2);  dy/dx = Φ(x) + x·φ(x) */
/* y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³), computed as x·σ(2u);
 * dy/dx = ½(1 + tanh u) + ½x(1 - tanh² u)·√(2/π)(1 + 3·0.044715x²) */
TG_API tg_tensor *tg_gelu_tanh(tg_tensor *x);

/* Their derivatives, fused as above: g·f'(x), differentiable in g and x
 * (leaky_relu's in g only: its f'' is 0). Broadcasting. */
TG_API tg_tensor *tg_leaky_relu_backward(tg_tensor *g, tg_tensor *x, double slope); /* g·(x > 0 ? 1 : slope) */
TG_API tg_tensor *tg_elu_backward(tg_tensor *g, tg_tensor *x, double alpha);        /* g·(x > 0 ? 1 : α·eˣ) */
TG_API tg_tensor *tg_softplus_backward(tg_tensor *g, tg_tensor *x);  /* g·σ(x);  d/dx: g·σ(x)(1 - σ(x)) */
TG_API tg_tensor *tg_silu_backward(tg_tensor *g, tg_tensor *x);      /* g·silu'(x);  silu'' = σ(1-σ)(2 + x(1-2σ)) */
TG_API tg_tensor *tg_gelu_backward(tg_tensor *g, tg_tensor *x);      /* g·gelu'(x);  gelu'' = φ(x)(2 - x²) */
TG_API tg_tensor *tg_gelu_tanh_backward(tg_tensor *g, tg_tensor *x); /* g·gelu_tanh'(x) */

/* Along the last axis; stable for any finite logits (the row max is subtracted). */
TG_API tg_tensor *tg_softmax(tg_tensor *x);     /* y = exp(x)/Σexp(x);  dx = y ⊙ (dy - Σ dy⊙y) */
TG_API tg_tensor *tg_log_softmax(tg_tensor *x); /* y = x - log Σexp(x); dx = dy - softmax(x)·Σdy */

/* softmax(scale·x + M) along the last axis, M a mask: NULL (none); TG_I64,
 * boolean (nonzero: masked out, as masked_fill); or x's float dtype, additive
 * (numbers or -INFINITY, never +Inf or NaN). The mask broadcasts to x's shape
 * (e.g. [T, S] for scores [B, H, T, S]). causal (x of rank >= 2) also masks
 * position j of every row i along the next-to-last axis where j > i
 * (top-left aligned, as PyTorch's is_causal). A masked position's y is 0
 * (finite: no anomaly); a row with every position masked is all zeros, and
 * so is its gradient.  dz = y ⊙ (dy - Σ dy⊙y), dx = scale·dz, d(additive
 * mask) = dz summed to its shape; a boolean mask gets none. */
TG_API tg_tensor *tg_softmax_masked(tg_tensor *x, double scale, tg_tensor *mask, bool causal);

/* A dense layer fed through GELU (a transformer MLP's second half), fused:
 *   y = gelu(h)·Wᵀ + b     h [..., in], W [out, in], b [out] or NULL -> y [..., out]
 * gelu(h) is not kept: backward makes it again from h.
 *   dW = gᵀ·gelu(h),  db = Σ_rows g,  dh = (g·W) ⊙ gelu'(h)   (over the rows of h and g) */
TG_API tg_tensor *tg_gelu_linear(tg_tensor *h, tg_tensor *w, tg_tensor *b);
/* A dense layer fed through a layer norm (a pre-LN transformer's projections), fused:
 *   y = LN(x)·Wᵀ + b      LN(x) = tg_layer_norm(x, gamma, beta, eps), W [out, in], b [out] or NULL
 * LN(x) is not kept: backward makes it again from x. With da = g·W:
 *   dW = gᵀ·LN(x),  db = Σ_rows g,  dx = N(da⊙γ, x),  dγ = Σ_rows da⊙x̂,  dβ = Σ_rows da */
TG_API tg_tensor *tg_layer_norm_linear(tg_tensor *x, tg_tensor *gamma, tg_tensor *beta, double eps, tg_tensor *w,
                                       tg_tensor *b);

/* ---- normalisation, over the last axis (C values a row) ----
 * layer norm:  x̂ = (x - μ)·r,  μ = mean(x),  r = (mean((x - μ)²) + eps)^(-1/2)
 * rms norm:    x̂ = x·r,        r = (mean(x²) + eps)^(-1/2)
 * y = x̂⊙γ + β; gamma and beta [C] or NULL (1 and 0); eps >= 0 and finite.
 *   dx = N(dy⊙γ, x) (below), dγ = Σ_rows dy⊙x̂, dβ = Σ_rows dy */
TG_API tg_tensor *tg_layer_norm(tg_tensor *x, tg_tensor *gamma, tg_tensor *beta, double eps);
TG_API tg_tensor *tg_rms_norm(tg_tensor *x, tg_tensor *gamma, double eps);
/* Their VJPs N(g, x) = (∂x̂/∂x)·g as fused ops (g and x of one shape),
 * differentiable again in g and x:
 *   layer norm:  N = r(g - mean(g) - x̂·mean(g⊙x̂))
 *   rms norm:    N = r(g - x̂·mean(g⊙x̂))
 * For upstream G:  dg = N(G, x),  dx = -r·mean(G⊙N)·x̂ - r·N(m·G + a·g, x),
 * m = mean(g⊙x̂), a = mean(G⊙x̂). */
TG_API tg_tensor *tg_layer_norm_backward(tg_tensor *g, tg_tensor *x, double eps);
TG_API tg_tensor *tg_rms_norm_backward(tg_tensor *g, tg_tensor *x, double eps);

/* ---- math ---- */
TG_API tg_tensor *tg_abs(tg_tensor *x);   /* y = |x|;        dy/dx = sign(x), 0 at x = 0 */
/* y = √x;  dy/dx = 1/(2y): +Inf at x = 0; x < 0 gives NaN, as libm */
TG_API tg_tensor *tg_sqrt(tg_tensor *x);
TG_API tg_tensor *tg_log1p(tg_tensor *x); /* y = ln(1 + x);  dy/dx = 1/(1 + x) */
TG_API tg_tensor *tg_expm1(tg_tensor *x); /* y = eˣ - 1;     dy/dx = y + 1 */
TG_API tg_tensor *tg_erf(tg_tensor *x);   /* y = erf x;      dy/dx = (2/√π)·e^(-x²) */
TG_API tg_tensor *tg_sin(tg_tensor *x);   /* y = sin x;      dy/dx = cos x */
TG_API tg_tensor *tg_cos(tg_tensor *x);   /* y = cos x;      dy/dx = -sin x */
/* y = x^p for a constant p;  dy/dx = p·x^(p-1) (none for p = 0). Any sign of
 * x: a negative x with a non-integer p gives NaN, as libm's pow. */
TG_API tg_tensor *tg_pow_scalar(tg_tensor *x, double p);
/* y = base^exponent elementwise, broadcasting; every base must be > 0 (else
 * TG_ERR_ARG, naming the first bad element).
 * d/dbase = exponent·y/base, d/dexponent = y·ln(base) */
TG_API tg_tensor *tg_pow(tg_tensor *base, tg_tensor *exponent);
/* y = min(max(x, low), high);  dy/dx = 1 on [low, high], bounds included, 0
 * outside. low <= high (else TG_ERR_ARG); ±INFINITY for one side. */
TG_API tg_tensor *tg_clamp(tg_tensor *x, double low, double high);
/* y = max(a, b) elementwise, broadcasting; NaN if either is NaN.
 * da = dy where a > b, db = dy where b > a; a tie gives each dy/2. */
TG_API tg_tensor *tg_maximum(tg_tensor *a, tg_tensor *b);
TG_API tg_tensor *tg_minimum(tg_tensor *a, tg_tensor *b); /* min(a, b); ties split as tg_maximum */
/* y = mask != 0 ? a : b elementwise; the three shapes broadcast together.
 * mask: any dtype (f32, f64 or i64; NaN counts as nonzero), gets no gradient.
 * da = where(mask, dy, 0), db = where(mask, 0, dy) */
TG_API tg_tensor *tg_where(tg_tensor *mask, tg_tensor *a, tg_tensor *b);

/* y = value where mask != 0, else x. mask: any dtype (bool-like: nonzero and
 * NaN are set), broadcasting to x's shape; it gets no gradient. value may be
 * ±INFINITY (not NaN): anomaly mode then accepts it at the masked positions,
 * which the op was asked to fill, and still reports a NaN or Inf of x
 * anywhere else.  dx = masked_fill(dy, mask, 0) */
TG_API tg_tensor *tg_masked_fill(tg_tensor *x, tg_tensor *mask, double value);

/* ---- reductions ---- */
TG_API tg_tensor *tg_sum(tg_tensor *x);  /* scalar Σx;  dx = dy broadcast */
TG_API tg_tensor *tg_mean(tg_tensor *x); /* scalar Σx/n */
/* Along one axis (negative counts from the end); keepdim keeps it as size 1. */
TG_API tg_tensor *tg_sum_axis(tg_tensor *x, int axis, bool keepdim);
TG_API tg_tensor *tg_mean_axis(tg_tensor *x, int axis, bool keepdim);
/* y = max along axis; *argmax (if not NULL) gets the positions, TG_I64 of y's
 * shape. Ties: the first position wins; a NaN wins over numbers.
 * dx = dy at the chosen position, 0 elsewhere (scatter_add of dy). */
TG_API tg_tensor *tg_max_axis(tg_tensor *x, int axis, bool keepdim, tg_tensor **argmax);
TG_API tg_tensor *tg_min_axis(tg_tensor *x, int axis, bool keepdim, tg_tensor **argmin); /* as max_axis */
/* The positions of max_axis / min_axis alone (TG_I64, not recorded). */
TG_API tg_tensor *tg_argmax(tg_tensor *x, int axis, bool keepdim);
TG_API tg_tensor *tg_argmin(tg_tensor *x, int axis, bool keepdim);
/* y = m + log Σ exp(x - m) along axis, m the max (finite at ±1000; -inf for
 * a row of -inf).  dx = dy·exp(x - y) = dy·softmax(x) */
TG_API tg_tensor *tg_logsumexp(tg_tensor *x, int axis, bool keepdim);

/* ---- shapes ---- */
/* Shape ops move values, so they take any dtype, i64 included (not recorded).
 * y = x read with another shape of the same size; one dim of shape may be
 * -1, standing for the dim that fits (as in torch). No copy for a step
 * tensor: y shares x's buffer (both live until tg_tape_reset), so a write
 * into either (tg_tensor_set, tg_tensor_data) shows in both. A persistent x
 * (a parameter) is copied, since it may be freed while the step lives on:
 * an optimizer step after the reshape does not show in y. dx = reshape(dy). */
TG_API tg_tensor *tg_reshape(tg_tensor *x, int rank, const int64_t *shape);
TG_API tg_tensor *tg_transpose(tg_tensor *x, int axis0, int axis1);         /* swaps two axes (copies) */
/* y's axis d is x's axis axes[d] (negative counts from the end; each axis
 * once): y[i_0, ..., i_{r-1}] = x[j] with j[axes[d]] = i_d (torch.permute).
 * Copies, in one pass over rows of the longest run that stays in order.
 * dx = permute(dy, inverse of axes). */
TG_API tg_tensor *tg_permute(tg_tensor *x, const int *axes);
TG_API tg_tensor *tg_expand(tg_tensor *x, int rank, const int64_t *shape);  /* broadcast to shape */
TG_API tg_tensor *tg_sum_to(tg_tensor *x, int rank, const int64_t *shape);  /* sums broadcast dims away */

/* ---- selecting and joining ----
 * Along one axis (negative counts from the end). Indices are TG_I64 tensors
 * (never differentiated). These ops only move values, so they also take i64
 * tensors (not recorded). */
/* y = x[start:stop:step] along axis; start/stop < 0 count from the end and
 * are clamped to [0, len] as in Python; step >= 1; at least one element.
 * dx = dy put back in place, zeros elsewhere (pad for step 1, else index_add). */
TG_API tg_tensor *tg_slice(tg_tensor *x, int axis, int64_t start, int64_t stop, int64_t step);
/* y[.., j, ..] = x[.., index[j], ..]; index [n], 0 <= index[j] < len(axis);
 * y's dim axis is n.  dx = index_add(dy, axis, index, len): repeats sum. */
TG_API tg_tensor *tg_index_select(tg_tensor *x, int axis, tg_tensor *index);
/* The adjoint of index_select: y = zeros with src's shape but len along axis,
 * y[.., index[j], ..] += src[.., j, ..]; index [src dim axis] in [0, len).
 * dsrc = index_select(dy, axis, index). */
TG_API tg_tensor *tg_index_add(tg_tensor *src, int axis, tg_tensor *index, int64_t len);
/* torch.gather: y[p] = x[p with coordinate axis replaced by index[p]]; index
 * has x's rank and no dim larger than x's off the axis; y has index's shape.
 * dx = scatter_add(dy, axis, index, x's shape): repeats sum. */
TG_API tg_tensor *tg_gather(tg_tensor *x, int axis, tg_tensor *index);
/* The adjoint of gather: y = zeros of shape; y[p with coordinate axis
 * replaced by index[p]] += src[p]; index and src of one shape.
 * dsrc = gather(dy, axis, index). */
TG_API tg_tensor *tg_scatter_add(tg_tensor *src, int axis, tg_tensor *index, int rank, const int64_t *shape);
/* xs[0..n) joined along an existing axis; equal shapes off the axis.
 * dxs[i] = slice(dy, axis, offset_i, offset_i + len_i, 1). */
TG_API tg_tensor *tg_concat(int n, tg_tensor *const *xs, int axis);
/* xs[0..n) of one shape joined along a new axis (0..rank; rank < 4).
 * dxs[i] = dy[i] along that axis. */
TG_API tg_tensor *tg_stack(int n, tg_tensor *const *xs, int axis);
/* Constant pad: before[d] and after[d] (>= 0) copies of value around axis d
 * (rank(x) entries each; i64 x: value a whole number).  dx = dy with the
 * padding sliced away. */
TG_API tg_tensor *tg_pad(tg_tensor *x, const int64_t *before, const int64_t *after, double value);
/* The same values in a new step tensor that is never recorded: no gradient
 * flows back through it (as torch's detach, but a copy). */
TG_API tg_tensor *tg_detach(tg_tensor *x);

/* ---- fused losses (scalar results) ---- */
/* Mean squared error L = (1/N) Σ (pred - target)² over all N elements (the op
 * mse_loss); dpred = 2(pred - target)/N · dy, dtarget = -dpred. With one
 * output this is the textbook's L = (y - o)² (seed case §3, §4). Errors:
 * shapes differ (TG_ERR_SHAPE). */
TG_API tg_tensor *tg_loss_mse(tg_tensor *pred, tg_tensor *target);
/* Deprecated name of tg_loss_mse, kept for programs that used it. */
TG_API tg_tensor *tg_mse_loss(tg_tensor *a, tg_tensor *b);
/* Softmax cross-entropy of logits [..., c], averaged over the rows (every
 * position of the leading axes): -(1/n) Σᵢ Σⱼ pᵢⱼ log softmax(zᵢ)ⱼ.
 * targets: [...] class indices 0..c-1 (TG_I64, or whole numbers in the
 * logits' dtype) or [..., c] probabilities / one-hot rows. For [n, c] logits:
 * [n] or [n, c] targets.
 * dz = (softmax(z) - p)/n · dy; finite for logits of any magnitude. */
TG_API tg_tensor *tg_cross_entropy(tg_tensor *logits, tg_tensor *targets);
/* tg_cross_entropy with options; NULL or all zeros is tg_cross_entropy. */
typedef struct {
    bool ignore;          /* class-index rows whose target is ignore_index count for nothing */
    int64_t ignore_index; /* e.g. -100 (PyTorch's default) or a padding token */
    bool sum;             /* sum over the counted rows instead of their mean */
} tg_cross_entropy_options;
/* The mean divides by the rows counted (not ignored); with every row ignored
 * the loss is 0 and so is its gradient (not NaN). An ignored row's logits
 * get no gradient.  dz = (softmax(z) - p)·w · dy, w = 1/count (mean), 1
 * (sum) or 0 (an ignored row). */
TG_API tg_tensor *tg_cross_entropy_ex(tg_tensor *logits, tg_tensor *targets, const tg_cross_entropy_options *options);

/* ---- convolution and pooling (NCHW) ----
 * conv2d: x [N, C, H, W], weight [O, C/groups, KH, KW], bias [O] or NULL ->
 * y [N, O, OH, OW], OH = (H + 2·padding - dilation·(KH-1) - 1)/stride + 1 (OW alike):
 *   y[n,o,i,j] = b[o] + Σ_{c,u,v} W[o,c,u,v] · x[n, g·C/groups + c, i·stride - padding + u·dilation,
 *                                               j·stride - padding + v·dilation]
 * for o in group g, x = 0 outside the image. Errors: ranks other than 4,
 * channels ≠ weight dim 1 × groups, groups not dividing C and O, a kernel
 * larger than the padded input, stride or dilation < 1, padding < 0.
 *   dx = conv2d_backward_input(dy, W), dW = conv2d_backward_weight(x, dy), db = Σ_{n,i,j} dy */
TG_API tg_tensor *tg_conv2d(tg_tensor *x, tg_tensor *weight, tg_tensor *bias,
                     int stride, int padding, int dilation, int groups);
/* x [N, C, L], weight [O, C/groups, K], bias [O] or NULL -> [N, O, OL]: conv2d over a height of 1. */
TG_API tg_tensor *tg_conv1d(tg_tensor *x, tg_tensor *weight, tg_tensor *bias,
                     int stride, int padding, int dilation, int groups);
/* The transposed convolution: the gradient of conv2d with respect to its input,
 * dy [N, O, OH, OW] -> dx [N, C, height, width] (height and width are those of
 * conv2d's input: strides make them ambiguous). Linear in dy and in weight:
 *   d(dy) = conv2d(G, W), dW = conv2d_backward_weight(G, dy). */
TG_API tg_tensor *tg_conv2d_backward_input(tg_tensor *dy, tg_tensor *weight, int64_t height, int64_t width,
                                    int stride, int padding, int dilation, int groups);
/* The gradient of conv2d with respect to its weight: x [N, C, H, W] and
 * dy [N, O, OH, OW] -> dW [O, C/groups, kernel_h, kernel_w], summed over the batch:
 *   dx = conv2d_backward_input(dy, G), d(dy) = conv2d(x, G). */
TG_API tg_tensor *tg_conv2d_backward_weight(tg_tensor *x, tg_tensor *dy, int64_t kernel_h, int64_t kernel_w,
                                     int stride, int padding, int dilation, int groups);
/* Max over kernel×kernel windows of [N, C, H, W]; padding (≤ kernel/2) never
 * wins. Ties: the first maximum in row-major window order; NaN propagates.
 *   dx = max_pool2d_backward(dy, x): dy flows to each window's maximum only. */
TG_API tg_tensor *tg_max_pool2d(tg_tensor *x, int kernel, int stride, int padding);
/* dx [N, C, H, W]: dy [N, C, OH, OW] added at the argmax of each window of x
 * (no gradient flows to x). d(dy) = max_pool2d_gather(G, x). */
TG_API tg_tensor *tg_max_pool2d_backward(tg_tensor *dy, tg_tensor *x, int kernel, int stride, int padding);
/* y [N, C, OH, OW] = g at the argmax of each window of x; g has x's shape
 * (max_pool2d(x) = max_pool2d_gather(x, x)). dg = max_pool2d_backward(G, x). */
TG_API tg_tensor *tg_max_pool2d_gather(tg_tensor *g, tg_tensor *x, int kernel, int stride, int padding);
/* max_pool2d(relu(x)) in one pass, without relu(x)'s tensor (a CNN's
 * conv -> ReLU -> max-pool: the pass and the memory of the full-size ReLU
 * output saved). NaN and -0 read as +0, as relu gives them. The gradient of
 * the composition: dy to each window's maximum where it is > 0, else 0. */
TG_API tg_tensor *tg_relu_max_pool2d(tg_tensor *x, int kernel, int stride, int padding);
/* Mean over kernel×kernel windows; padded positions count as zeros, so each
 * window divides by kernel² (PyTorch's count_include_pad=True). Linear:
 *   dx = avg_pool2d_backward(dy). */
TG_API tg_tensor *tg_avg_pool2d(tg_tensor *x, int kernel, int stride, int padding);
/* dx [N, C, height, width]: each dy/kernel² spread over its window.
 * d(dy) = avg_pool2d(G). */
TG_API tg_tensor *tg_avg_pool2d_backward(tg_tensor *dy, int64_t height, int64_t width, int kernel, int stride, int padding);
/* [N, C, H, W] -> [N, C], the mean of each plane. dx = dy/(H·W) broadcast. */
TG_API tg_tensor *tg_global_avg_pool2d(tg_tensor *x);

/* ---- reading the tape (for diagrams and tools) ---- */
typedef struct {
    tg_op_kind op;              /* TG_OP_USER for a user op */
    const char *name;           /* the op's name: "matmul", or a user op's own */
    int n_inputs;
    tg_tensor *const *inputs;   /* valid until tg_tape_reset */
    tg_tensor *output;
} tg_tape_entry;
/* Entry i of the tape (0 is the first op recorded); false when out of range. */
TG_API bool tg_tape_entry_at(const tg_ctx *ctx, int64_t i, tg_tape_entry *entry);
/* A short label for entry i: the op name with its attributes ("sum(axis=1)",
 * "x·0.5", "matmul(Aᵀ·B)"). Returns buf; a label longer than size ends in "…"
 * (cut at a character boundary); "?" for an i out of range. */
TG_API char *tg_tape_entry_label(const tg_ctx *ctx, int64_t i, char *buf, size_t size);
/* The local derivative on the edge from entry i's input `input` as a short
 * formula of the vector-Jacobian product, applied to the δ arriving at the
 * output: "·Wᵀ" and "Xᵀ·" for matmul, "⊙σ(z)(1−σ(z))" for sigmoid, "Σ over
 * batch" for a broadcast add. From the op's descriptor (user ops supply their
 * own); "∂/∂x<input>" when the op has none. Truncated like tg_tape_entry_label;
 * "?" for i or input out of range. Returns buf. */
TG_API char *tg_tape_entry_vjp_label(const tg_ctx *ctx, int64_t i, int input, char *buf, size_t size);
/* Tape index of the op that made t, -1 for leaves and unrecorded tensors. */
TG_API int64_t tg_tensor_creator(const tg_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
