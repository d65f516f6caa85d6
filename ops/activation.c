/* Activations and elementwise maps: forward kernel, backward rule and formula
 * side by side. Backward rules are written with ops, so they differentiate
 * again under create_graph. The activations' derivatives are fused ops of
 * their own (one pass instead of three), differentiable in turn.
 *
 * f32 sigmoid, tanh, exp, silu, the GELUs and the fused derivatives of
 * softplus, silu and the GELUs run the vectorised kernels of ops/vecmath.h
 * (AVX-512 / AVX2 / portable, within a few ulps, the same cost for every
 * value); f64 tensors run the libm expression written beside them. */
#include "ops/binary.h"
#include "ops/vecmath.h"

#include <stdio.h>
#include <tgmath.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define SQRT_HALF 0.70710678118654752440          /* 1/√2 */
#define INV_SQRT_2PI 0.39894228040143267794       /* φ(0) = 1/√(2π) */
#define GELU_TANH_C 0.79788456080286535588        /* √(2/π) */
#define GELU_TANH_K 0.044715

/* ---- f32 through the vector kernels ---- */

typedef struct {
    const float *x, *g; /* g: NULL for a map */
    float *y;
    tg_vec_unary_fn *map;
    tg_vec_binary_fn *fused;
} vec_job;

static void vec_range(void *arg, int64_t begin, int64_t end)
{
    const vec_job *job = arg;
    if (job->fused)
        job->fused(job->g + begin, job->x + begin, job->y + begin, end - begin);
    else
        job->map(job->x + begin, job->y + begin, end - begin);
}

/* y = f(x): f32 by the kernel set's f32, other dtypes by map (MAP_KERNEL's). */
static tg_tensor *vec_map(const char *op, tg_tensor *x, tg_vec_unary_fn *f32,
                          tg_tensor *(*map)(tg_tensor *, double, double))
{
    if (!tg_check_live(op, x))
        return NULL;
    if (x->dtype != TG_F32)
        return map(x, 0, 0);
    tg_tensor *y = tg_step_like(x, false);
    if (y)
        tg_parallel_range(x->ctx, x->size, vec_range, &(vec_job){.x = x->data, .y = y->data, .map = f32});
    return y;
}

static bool same_shape(const tg_tensor *a, const tg_tensor *b)
{
    if (a->rank != b->rank)
        return false;
    for (int d = 0; d < a->rank; d++)
        if (a->shape[d] != b->shape[d])
            return false;
    return true;
}

/* out = g·f'(x): f32 by the fused kernel, f64 by binary (BINARY_KERNEL's).
 * f32 operands that broadcast take f'(x) from the kernel (g = 1) first, then
 * the broadcast product, so every f32 result has the kernel's accuracy. */
static tg_tensor *vec_fused(const char *op, tg_tensor *g, tg_tensor *x, tg_vec_binary_fn *f32,
                            tg_tensor *(*binary)(tg_tensor *, tg_tensor *, double))
{
    if (!tg_check_pair(op, g, x))
        return NULL;
    if (g->dtype != TG_F32 || x->dtype != TG_F32)
        return binary(g, x, 0);
    tg_broadcast bc;
    tg_tensor *out = tg_binary_output(op, g, x, &bc);
    if (!out)
        return NULL;
    if (same_shape(g, x)) {
        vec_job job = {.x = x->data, .g = g->data, .y = out->data, .fused = f32};
        tg_parallel_range(g->ctx, out->size, vec_range, &job);
        return out;
    }
    tg_tensor *slope = tg_step_like(x, false); /* f'(x), x's shape: ones, then g·f'(x) in place */
    if (!slope)
        return NULL;
    float *d = slope->data;
    for (int64_t i = 0; i < x->size; i++)
        d[i] = 1;
    tg_parallel_range(g->ctx, x->size, vec_range, &(vec_job){.x = x->data, .g = d, .y = d, .fused = f32});
    BROADCAST_LOOP(&bc, out, g, slope, x * y);
    return out;
}

/* ---- the elementwise maps: y[i] = f(x[i]) ---- */

/* y = 1/(1+e^(-x)); exp overflowing to inf still gives y = 0, not NaN. */
MAP_KERNEL(sigmoid, 1 / (1 + exp(-v)))
tg_tensor *tg_sigmoid(tg_tensor *x)
{
    return tg_record1(&tg_op_sigmoid, vec_map("sigmoid", x, tg_vsigmoid_f32, sigmoid_map), x);
}

/* y = tanh x */
MAP_KERNEL(tanh, tanh(v))
tg_tensor *tg_tanh(tg_tensor *x) { return tg_record1(&tg_op_tanh, vec_map("tanh", x, tg_vtanh_f32, tanh_map), x); }

/* y = 1 if x > 0 else 0 */
MAP_KERNEL(step, v > 0 ? 1 : 0)
tg_tensor *tg_step(tg_tensor *x) { return tg_record1(&tg_op_step, step_map(x, 0, 0), x); }

/* y = eˣ */
MAP_KERNEL(exp, exp(v))
tg_tensor *tg_exp(tg_tensor *x) { return tg_record1(&tg_op_exp, vec_map("exp", x, tg_vexp_f32, exp_map), x); }

/* y = ln x */
MAP_KERNEL(log, log(v))
tg_tensor *tg_log(tg_tensor *x) { return tg_record1(&tg_op_log, log_map(x, 0, 0), x); }

/* relu and relu_backward in f32 take 16 lanes a step under AVX-512 (they are
 * a tenth of a LeNet step, and the portable loops vectorise only to SSE2):
 * the same v > 0 test, masked, so NaN and -0 still give +0. */
#if defined(__x86_64__)
#define TG_RELU_AVX512 __attribute__((target("avx512f")))

/* y = g where s > 0, else +0; relu is g = s. */
TG_RELU_AVX512 static void relu_mask_f32_avx512(const float *g, const float *s, float *y, int64_t n)
{
    const __m512 zero = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __mmask16 pos = _mm512_cmp_ps_mask(_mm512_loadu_ps(s + i), zero, _CMP_GT_OQ);
        _mm512_storeu_ps(y + i, _mm512_maskz_loadu_ps(pos, g + i));
    }
    if (i < n) {
        __mmask16 tail = (__mmask16)((1u << (n - i)) - 1);
        __mmask16 pos = _mm512_mask_cmp_ps_mask(tail, _mm512_maskz_loadu_ps(tail, s + i), zero, _CMP_GT_OQ);
        _mm512_mask_storeu_ps(y + i, tail, _mm512_maskz_loadu_ps(pos, g + i));
    }
}

static bool relu_avx512(const tg_tensor *t) { return t->dtype == TG_F32 && __builtin_cpu_supports("avx512f"); }
#endif

typedef struct {
    const tg_tensor *g, *s; /* y = g where s > 0 (relu: g = s) */
    tg_tensor *y;
} relu_job;

static void relu_mask_range(void *arg, int64_t begin, int64_t end)
{
    const relu_job *job = arg;
#if defined(__x86_64__)
    if (relu_avx512(job->y)) {
        const float *g = job->g->data, *s = job->s->data;
        relu_mask_f32_avx512(g + begin, s + begin, (float *)job->y->data + begin, end - begin);
        return;
    }
#endif
    TG_TYPED(job->y->dtype, T, {
        const T *g = job->g->data, *s = job->s->data;
        T *y = job->y->data;
        for (int64_t i = begin; i < end; i++)
            y[i] = s[i] > 0 ? g[i] : 0;
    });
}

tg_tensor *tg_relu(tg_tensor *x)
{
    tg_tensor *y = tg_check_live("relu", x) ? tg_step_like(x, false) : NULL;
    if (y)
        tg_parallel_range(x->ctx, x->size, relu_mask_range, &(relu_job){x, x, y});
    return tg_record1(&tg_op_relu, y, x);
}

/* dy/dx = y(1 - y) */
static void sigmoid_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_sigmoid_backward(dy, n->out);
}

/* dy/dx = 1 - y² */
static void tanh_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { dx[0] = tg_tanh_backward(dy, n->out); }

/* dy/dx = step(x); at the kink x = 0 we take 0, as PyTorch does. */
static void relu_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { dx[0] = tg_relu_backward(dy, n->in[0]); }

/* Zero almost everywhere, undefined at 0: no gradient flows. */
static void step_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { (void)n, (void)dy, (void)dx; }

/* dy/dx = y */
static void exp_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { dx[0] = tg_mul(dy, n->out); }

/* dy/dx = 1/x */
static void log_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { dx[0] = tg_div(dy, n->in[0]); }

/* VJP labels: "⊙f'(z)" with z the input's short name. */
TG_VJP_MAP_LABEL(sigmoid, "⊙σ(%s)(1−σ(%s))")
TG_VJP_MAP_LABEL(tanh, "⊙(1−tanh²(%s))%.0s")
TG_VJP_MAP_LABEL(relu, "⊙[%s>0]%.0s")
TG_VJP_MAP_LABEL(exp, "⊙exp(%s)%.0s")
TG_VJP_MAP_LABEL(log, "⊘%s%.0s")
static void step_vjp_label(const tg_node *n, int input, char *buf, size_t size) { (void)n, (void)input; snprintf(buf, size, "0 (no gradient)"); }

const tg_op_desc tg_op_sigmoid = {.kind = TG_OP_SIGMOID, .name = "sigmoid", .backward = sigmoid_backward, .vjp_label = sigmoid_vjp_label};
const tg_op_desc tg_op_tanh = {.kind = TG_OP_TANH, .name = "tanh", .backward = tanh_backward, .vjp_label = tanh_vjp_label};
const tg_op_desc tg_op_relu = {.kind = TG_OP_RELU, .name = "relu", .backward = relu_backward, .vjp_label = relu_vjp_label};
const tg_op_desc tg_op_step = {.kind = TG_OP_STEP, .name = "step", .backward = step_backward, .vjp_label = step_vjp_label};
const tg_op_desc tg_op_exp = {.kind = TG_OP_EXP, .name = "exp", .backward = exp_backward, .vjp_label = exp_vjp_label};
const tg_op_desc tg_op_log = {.kind = TG_OP_LOG, .name = "log", .backward = log_backward, .vjp_label = log_vjp_label};

/* ---- the activations' derivatives, fused: out = g·f'(s) ---- */

BINARY_OP(tg_sigmoid_backward, &tg_op_sigmoid_backward, x * y * (1 - y)) /* g·y(1-y), y = σ(x) */
BINARY_OP(tg_tanh_backward, &tg_op_tanh_backward, x * (1 - y * y))       /* g·(1-y²), y = tanh x */

/* g·step(x), the mask loop above when g and x have the same shape */
tg_tensor *tg_relu_backward(tg_tensor *g, tg_tensor *x)
{
    tg_broadcast bc;
    tg_tensor *out = tg_binary_output("relu_backward", g, x, &bc);
    if (!out)
        return NULL;
    if (g->size == out->size && x->size == out->size)
        tg_parallel_range(g->ctx, out->size, relu_mask_range, &(relu_job){g, x, out});
    else
        BROADCAST_LOOP(&bc, out, g, x, y > 0 ? x : 0);
    return tg_record2(&tg_op_relu_backward, out, g, x);
}

/* out = g·y(1-y): dg = G·y(1-y), dy = G·g·(1-2y) */
static void sigmoid_backward_backward(const tg_node *n, tg_tensor *dout, tg_tensor **dx)
{
    tg_tensor *g = n->in[0], *y = n->in[1];
    if (g->requires_grad)
        dx[0] = tg_reduce_to(tg_sigmoid_backward(dout, y), g);
    if (y->requires_grad)
        dx[1] = tg_reduce_to(tg_mul(tg_mul(dout, g), tg_add_scalar(tg_mul_scalar(y, -2), 1)), y);
}

/* out = g·(1-y²): dg = G·(1-y²), dy = -2·G·g·y */
static void tanh_backward_backward(const tg_node *n, tg_tensor *dout, tg_tensor **dx)
{
    tg_tensor *g = n->in[0], *y = n->in[1];
    if (g->requires_grad)
        dx[0] = tg_reduce_to(tg_tanh_backward(dout, y), g);
    if (y->requires_grad)
        dx[1] = tg_reduce_to(tg_mul(tg_mul(dout, g), tg_mul_scalar(y, -2)), y);
}

/* out = g·step(x): dg = G·step(x); no gradient flows to x */
static void relu_backward_backward(const tg_node *n, tg_tensor *dout, tg_tensor **dx)
{
    if (n->in[0]->requires_grad)
        dx[0] = tg_reduce_to(tg_relu_backward(dout, n->in[1]), n->in[0]);
}

/* out = g·f'(s): the g edge carries f'(s), the other edge g·f''(s). */
static void sigmoid_backward_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    const char *y = tg_vjp_name(n->in[1], "y");
    if (input == 0)
        snprintf(buf, size, "⊙%s(1−%s)", y, y);
    else
        snprintf(buf, size, "⊙%s(1−2%s)", tg_vjp_name(n->in[0], "g"), y);
}

static void tanh_backward_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    const char *y = tg_vjp_name(n->in[1], "y");
    if (input == 0)
        snprintf(buf, size, "⊙(1−%s²)", y);
    else
        snprintf(buf, size, "⊙(−2%s%s)", tg_vjp_name(n->in[0], "g"), y);
}

static void relu_backward_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    if (input == 0)
        snprintf(buf, size, "⊙[%s>0]", tg_vjp_name(n->in[1], "x"));
    else
        snprintf(buf, size, "0 (no gradient)");
}

const tg_op_desc tg_op_sigmoid_backward = {.kind = TG_OP_SIGMOID_BACKWARD, .name = "sigmoid_backward", .backward = sigmoid_backward_backward,
                                           .vjp_label = sigmoid_backward_vjp_label};
const tg_op_desc tg_op_tanh_backward = {.kind = TG_OP_TANH_BACKWARD, .name = "tanh_backward", .backward = tanh_backward_backward,
                                        .vjp_label = tanh_backward_vjp_label};
const tg_op_desc tg_op_relu_backward = {.kind = TG_OP_RELU_BACKWARD, .name = "relu_backward", .backward = relu_backward_backward,
                                        .vjp_label = relu_backward_vjp_label};

/* ---- more activations (nn's TG_ACT_LEAKY_RELU ... TG_ACT_GELU_TANH) ---- */

MAP_KERNEL(leaky_relu, v > 0 ? v : p * v)
/* expm1 keeps α(eˣ - 1) exact near 0 */
MAP_KERNEL(elu, v > 0 ? v : p * expm1(v))
/* max(x, 0) + ln(1 + e^-|x|): no overflow, no cancellation, for any x */
MAP_KERNEL(softplus, (v > 0 ? v : 0) + log1p(exp(-fabs(v))))
/* x/(1 + e^-x): e^-x = Inf gives -0, not NaN */
MAP_KERNEL(silu, v / (1 + exp(-v)))
/* Φ(x) = ½erfc(-x/√2): erfc keeps the left tail, where 1 + erf cancels */
MAP_KERNEL(gelu, (T)0.5 * v * erfc(-v * (T)SQRT_HALF))
/* ½x(1 + tanh u) = x·σ(2u): no cancellation in the left tail, where 1 + tanh u
 * loses every digit; exp overflowing to Inf gives -0, not NaN. */
MAP_KERNEL(gelu_tanh, v / (1 + exp((T)(-2 * GELU_TANH_C) * (v + (T)GELU_TANH_K * v * v * v))))

tg_tensor *tg_softplus(tg_tensor *x) { return tg_record1(&tg_op_softplus, softplus_map(x, 0, 0), x); }
tg_tensor *tg_silu(tg_tensor *x) { return tg_record1(&tg_op_silu, vec_map("silu", x, tg_vsilu_f32, silu_map), x); }
tg_tensor *tg_gelu(tg_tensor *x) { return tg_record1(&tg_op_gelu, vec_map("gelu", x, tg_vgelu_f32, gelu_map), x); }
tg_tensor *tg_gelu_tanh(tg_tensor *x)
{
    return tg_record1(&tg_op_gelu_tanh, vec_map("gelu_tanh", x, tg_vgelu_tanh_f32, gelu_tanh_map), x);
}

static bool finite_attr(const char *op, const char *what, tg_tensor *x, double value)
{
    if (isfinite(value))
        return true;
    return tg_ctx_fail(x->ctx, TG_ERR_ARG, "%s: %s is %g; expected a finite number", op, what, value), false;
}

tg_tensor *tg_leaky_relu(tg_tensor *x, double slope)
{
    if (!tg_check_live("leaky_relu", x) || !finite_attr("leaky_relu", "slope", x, slope))
        return NULL;
    return tg_record(&tg_op_leaky_relu, leaky_relu_map(x, slope, 0), 1, &x, (tg_attr){.scalar = slope});
}

tg_tensor *tg_elu(tg_tensor *x, double alpha)
{
    if (!tg_check_live("elu", x) || !finite_attr("elu", "alpha", x, alpha))
        return NULL;
    return tg_record(&tg_op_elu, elu_map(x, alpha, 0), 1, &x, (tg_attr){.scalar = alpha});
}

/* dy/dx = 1 if x > 0 else slope (slope at the kink x = 0, as PyTorch) */
static void leaky_relu_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_leaky_relu_backward(dy, n->in[0], n->attr.scalar);
}

/* dy/dx = 1 if x > 0 else α·eˣ (α at x = 0) */
static void elu_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_elu_backward(dy, n->in[0], n->attr.scalar);
}

/* dy/dx = σ(x) */
static void softplus_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { dx[0] = tg_softplus_backward(dy, n->in[0]); }
/* dy/dx = σ(x)(1 + x(1 - σ(x))) */
static void silu_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { dx[0] = tg_silu_backward(dy, n->in[0]); }
/* dy/dx = Φ(x) + x·φ(x) */
static void gelu_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { dx[0] = tg_gelu_backward(dy, n->in[0]); }
static void gelu_tanh_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_gelu_tanh_backward(dy, n->in[0]);
}

static void leaky_relu_label(const tg_node *n, char *buf, size_t size)
{
    snprintf(buf, size, "%s(%g)", n->op->name, n->attr.scalar);
}

static void elu_label(const tg_node *n, char *buf, size_t size) { snprintf(buf, size, "%s(α=%g)", n->op->name, n->attr.scalar); }

static void leaky_relu_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    snprintf(buf, size, "⊙(1 if %s>0 else %g)", tg_vjp_name(n->in[input], "z"), n->attr.scalar);
}

const tg_op_desc tg_op_leaky_relu = {.kind = TG_OP_LEAKY_RELU, .name = "leaky_relu", .backward = leaky_relu_backward,
                                     .label = leaky_relu_label,
    .vjp_label = leaky_relu_vjp_label};
static void elu_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    const char *z = tg_vjp_name(n->in[input], "z");
    snprintf(buf, size, "⊙(1 if %s>0 else %g·exp(%s))", z, n->attr.scalar, z);
}

const tg_op_desc tg_op_elu = {.kind = TG_OP_ELU, .name = "elu", .backward = elu_backward, .label = elu_label,
    .vjp_label = elu_vjp_label};
TG_VJP_MAP_LABEL(softplus, "⊙σ(%s)%.0s")

const tg_op_desc tg_op_softplus = {.kind = TG_OP_SOFTPLUS, .name = "softplus", .backward = softplus_backward,
    .vjp_label = softplus_vjp_label};
TG_VJP_MAP_LABEL(silu, "⊙σ(%s)(1+%s(1−σ))")

const tg_op_desc tg_op_silu = {.kind = TG_OP_SILU, .name = "silu", .backward = silu_backward,
    .vjp_label = silu_vjp_label};
TG_VJP_MAP_LABEL(gelu, "⊙(Φ(%s)+%s·φ)")

const tg_op_desc tg_op_gelu = {.kind = TG_OP_GELU, .name = "gelu", .backward = gelu_backward,
    .vjp_label = gelu_vjp_label};
TG_VJP_MAP_LABEL(gelu_tanh, "⊙gelu_tanh′(%s)%.0s")

const tg_op_desc tg_op_gelu_tanh = {.kind = TG_OP_GELU_TANH, .name = "gelu_tanh", .backward = gelu_tanh_backward,
    .vjp_label = gelu_tanh_vjp_label};

/* ---- their derivatives, fused: out = g·f'(x), x and y naming g and x ---- */

BINARY_KERNEL(leaky_relu_backward, y > 0 ? x : p * x)
BINARY_KERNEL(elu_backward, y > 0 ? x : x * p * exp(y))
/* g·σ(x) */
BINARY_KERNEL(softplus_backward, x / (1 + exp(-y)))
/* g·s(1 + x(1 - s)), s = σ(x): finite at both ends (s = 0 or 1) */
BINARY_KERNEL(silu_backward, x * (1 / (1 + exp(-y))) * (1 + y * (1 - 1 / (1 + exp(-y)))))
/* g·(½erfc(-x/√2) + x·φ(x)) */
BINARY_KERNEL(gelu_backward, x * ((T)0.5 * erfc(-y * (T)SQRT_HALF) + y * (T)INV_SQRT_2PI * exp((T)-0.5 * y * y)))
/* With s = σ(2u) = ½(1 + tanh u): f' = s + 2x·s(1 - s)·u', u' = c(1 + 3kx²).
 * Beyond |x| = 1e10, s is exactly 0 or 1 and f' is 0 or 1; the guard keeps
 * 0·Inf (x² overflowing) from making NaN. */
#define GELU_TANH_S(y) (1 / (1 + exp((T)(-2 * GELU_TANH_C) * ((y) + (T)GELU_TANH_K * (y) * (y) * (y)))))
BINARY_KERNEL(gelu_tanh_backward, x * (fabs(y) > (T)1e10 ? (T)(y > 0)
                                 : GELU_TANH_S(y) + 2 * y * GELU_TANH_S(y) * (1 - GELU_TANH_S(y)) *
                                                        (T)GELU_TANH_C * (1 + 3 * (T)GELU_TANH_K * y * y)))

tg_tensor *tg_softplus_backward(tg_tensor *g, tg_tensor *x)
{
    tg_tensor *out = vec_fused("softplus_backward", g, x, tg_vsigmoid_mul_f32, softplus_backward_binary);
    return tg_record2(&tg_op_softplus_backward, out, g, x);
}

tg_tensor *tg_silu_backward(tg_tensor *g, tg_tensor *x)
{
    tg_tensor *out = vec_fused("silu_backward", g, x, tg_vsilu_backward_f32, silu_backward_binary);
    return tg_record2(&tg_op_silu_backward, out, g, x);
}

tg_tensor *tg_gelu_backward(tg_tensor *g, tg_tensor *x)
{
    tg_tensor *out = vec_fused("gelu_backward", g, x, tg_vgelu_backward_f32, gelu_backward_binary);
    return tg_record2(&tg_op_gelu_backward, out, g, x);
}

tg_tensor *tg_gelu_tanh_backward(tg_tensor *g, tg_tensor *x)
{
    tg_tensor *out = vec_fused("gelu_tanh_backward", g, x, tg_vgelu_tanh_backward_f32, gelu_tanh_backward_binary);
    return tg_record2(&tg_op_gelu_tanh_backward, out, g, x);
}

tg_tensor *tg_leaky_relu_backward(tg_tensor *g, tg_tensor *x, double slope)
{
    if (!tg_check_pair("leaky_relu_backward", g, x) || !finite_attr("leaky_relu_backward", "slope", g, slope))
        return NULL;
    return tg_record(&tg_op_leaky_relu_backward, leaky_relu_backward_binary(g, x, slope), 2, (tg_tensor *[]){g, x},
                     (tg_attr){.scalar = slope});
}

tg_tensor *tg_elu_backward(tg_tensor *g, tg_tensor *x, double alpha)
{
    if (!tg_check_pair("elu_backward", g, x) || !finite_attr("elu_backward", "alpha", g, alpha))
        return NULL;
    return tg_record(&tg_op_elu_backward, elu_backward_binary(g, x, alpha), 2, (tg_tensor *[]){g, x},
                     (tg_attr){.scalar = alpha});
}

/* Each fused derivative out = g·f'(x) differentiates as dg = G·f'(x) (the
 * op itself) and dx = G·g·f''(x), with f'' written in ops. */

/* f'' = 0 almost everywhere: dg only */
static void leaky_relu_backward_backward(const tg_node *n, tg_tensor *dout, tg_tensor **dx)
{
    if (n->in[0]->requires_grad)
        dx[0] = tg_reduce_to(tg_leaky_relu_backward(dout, n->in[1], n->attr.scalar), n->in[0]);
}

/* f'' = α·eˣ for x <= 0, 0 for x > 0: elu'(x) - step(x), both as ops */
static void elu_backward_backward(const tg_node *n, tg_tensor *dout, tg_tensor **dx)
{
    tg_tensor *g = n->in[0], *x = n->in[1];
    if (g->requires_grad)
        dx[0] = tg_reduce_to(tg_elu_backward(dout, x, n->attr.scalar), g);
    if (x->requires_grad) {
        tg_tensor *h = tg_mul(dout, g);
        dx[1] = tg_reduce_to(tg_sub(tg_elu_backward(h, x, n->attr.scalar), tg_relu_backward(h, x)), x);
    }
}

/* f'' = σ(1 - σ) */
static void softplus_backward_backward(const tg_node *n, tg_tensor *dout, tg_tensor **dx)
{
    tg_tensor *g = n->in[0], *x = n->in[1];
    if (g->requires_grad)
        dx[0] = tg_reduce_to(tg_softplus_backward(dout, x), g);
    if (x->requires_grad)
        dx[1] = tg_reduce_to(tg_sigmoid_backward(tg_mul(dout, g), tg_sigmoid(x)), x);
}

/* f'' = σ(1 - σ)(2 + x(1 - 2σ)) */
static void silu_backward_backward(const tg_node *n, tg_tensor *dout, tg_tensor **dx)
{
    tg_tensor *g = n->in[0], *x = n->in[1];
    if (g->requires_grad)
        dx[0] = tg_reduce_to(tg_silu_backward(dout, x), g);
    if (x->requires_grad) {
        tg_tensor *s = tg_sigmoid(x);
        tg_tensor *factor = tg_add_scalar(tg_mul(x, tg_add_scalar(tg_mul_scalar(s, -2), 1)), 2);
        dx[1] = tg_reduce_to(tg_sigmoid_backward(tg_mul(tg_mul(dout, g), factor), s), x);
    }
}

/* f'' = φ(x)(2 - x²) */
static void gelu_backward_backward(const tg_node *n, tg_tensor *dout, tg_tensor **dx)
{
    tg_tensor *g = n->in[0], *x = n->in[1];
    if (g->requires_grad)
        dx[0] = tg_reduce_to(tg_gelu_backward(dout, x), g);
    if (x->requires_grad) {
        tg_tensor *x2 = tg_mul(x, x);
        tg_tensor *phi = tg_mul_scalar(tg_exp(tg_mul_scalar(x2, -0.5)), INV_SQRT_2PI);
        dx[1] = tg_reduce_to(tg_mul(tg_mul(dout, g), tg_mul(phi, tg_add_scalar(tg_neg(x2), 2))), x);
    }
}

/* With t = tanh u, u' = c(1 + 3kx²), u'' = 6ckx:
 * f'' = (1 - t²)·(u' + ½x(u'' - 2t·u'²)) */
static void gelu_tanh_backward_backward(const tg_node *n, tg_tensor *dout, tg_tensor **dx)
{
    tg_tensor *g = n->in[0], *x = n->in[1];
    if (g->requires_grad)
        dx[0] = tg_reduce_to(tg_gelu_tanh_backward(dout, x), g);
    if (x->requires_grad) {
        tg_tensor *x2 = tg_mul(x, x);
        tg_tensor *t = tg_tanh(tg_mul_scalar(tg_add(x, tg_mul_scalar(tg_mul(x2, x), GELU_TANH_K)), GELU_TANH_C));
        tg_tensor *du = tg_mul_scalar(tg_add_scalar(tg_mul_scalar(x2, 3 * GELU_TANH_K), 1), GELU_TANH_C);
        tg_tensor *ddu = tg_mul_scalar(x, 6 * GELU_TANH_C * GELU_TANH_K);
        tg_tensor *curve = tg_sub(ddu, tg_mul(tg_mul_scalar(t, 2), tg_mul(du, du)));
        tg_tensor *bracket = tg_add(du, tg_mul(tg_mul_scalar(x, 0.5), curve));
        dx[1] = tg_reduce_to(tg_tanh_backward(tg_mul(tg_mul(dout, g), bracket), t), x);
    }
}

/* out = g·f'(x): the g edge carries f'(x), the x edge g·f''(x). */
static void fused_vjp_label(const tg_node *n, int input, const char *f, char *buf, size_t size)
{
    const char *x = tg_vjp_name(n->in[1], "x");
    if (input == 0)
        snprintf(buf, size, "⊙%s′(%s)", f, x);
    else
        snprintf(buf, size, "⊙%s·%s″(%s)", tg_vjp_name(n->in[0], "g"), f, x);
}

static void leaky_relu_backward_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    fused_vjp_label(n, input, "leaky_relu", buf, size);
}

const tg_op_desc tg_op_leaky_relu_backward = {.kind = TG_OP_LEAKY_RELU_BACKWARD, .name = "leaky_relu_backward",
                                              .backward = leaky_relu_backward_backward, .label = leaky_relu_label,
    .vjp_label = leaky_relu_backward_vjp_label};
static void elu_backward_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    fused_vjp_label(n, input, "elu", buf, size);
}

const tg_op_desc tg_op_elu_backward = {.kind = TG_OP_ELU_BACKWARD, .name = "elu_backward",
                                       .backward = elu_backward_backward, .label = elu_label,
    .vjp_label = elu_backward_vjp_label};
static void softplus_backward_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    fused_vjp_label(n, input, "softplus", buf, size);
}

const tg_op_desc tg_op_softplus_backward = {.kind = TG_OP_SOFTPLUS_BACKWARD, .name = "softplus_backward",
                                            .backward = softplus_backward_backward,
    .vjp_label = softplus_backward_vjp_label};
static void silu_backward_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    fused_vjp_label(n, input, "silu", buf, size);
}

const tg_op_desc tg_op_silu_backward = {.kind = TG_OP_SILU_BACKWARD, .name = "silu_backward",
                                        .backward = silu_backward_backward,
    .vjp_label = silu_backward_vjp_label};
static void gelu_backward_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    fused_vjp_label(n, input, "gelu", buf, size);
}

const tg_op_desc tg_op_gelu_backward = {.kind = TG_OP_GELU_BACKWARD, .name = "gelu_backward",
                                        .backward = gelu_backward_backward,
    .vjp_label = gelu_backward_vjp_label};
static void gelu_tanh_backward_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    fused_vjp_label(n, input, "gelu_tanh", buf, size);
}

const tg_op_desc tg_op_gelu_tanh_backward = {.kind = TG_OP_GELU_TANH_BACKWARD, .name = "gelu_tanh_backward",
                                             .backward = gelu_tanh_backward_backward,
    .vjp_label = gelu_tanh_backward_vjp_label};
