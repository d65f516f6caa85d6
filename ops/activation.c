/* Activations and elementwise maps: forward kernel, backward rule and formula
 * side by side. Backward rules are written with ops, so they differentiate
 * again under create_graph. The activations' derivatives are fused ops of
 * their own (one pass instead of three), differentiable in turn. */
#include "ops/binary.h"

#include <stdio.h>
#include <tgmath.h>

typedef struct {
    const tg_tensor *x;
    tg_tensor *y;
} map_job;

/* y[i] = EXPR with v naming x[i], over [begin, end); big maps run in
 * parallel ranges. */
#define MAP_OP(name, KIND, EXPR)                                        \
    static void name##_range(void *arg, int64_t begin, int64_t end)     \
    {                                                                   \
        const map_job *job = arg;                                       \
        TG_TYPED(job->x->dtype, T, {                                    \
            const T *x = job->x->data;                                  \
            T *y = job->y->data;                                        \
            for (int64_t i = begin; i < end; i++) {                     \
                T v = x[i];                                             \
                y[i] = (T)(EXPR);                                       \
            }                                                           \
        });                                                             \
    }                                                                   \
    tg_tensor *tg_##name(tg_tensor *x)                                  \
    {                                                                   \
        tg_tensor *y = tg_check_live(#name, x) ? tg_step_like(x, false) : NULL; \
        if (!y)                                                         \
            return NULL;                                                \
        tg_parallel_range(x->ctx, x->size, name##_range, &(map_job){x, y}); \
        return tg_record1(KIND, y, x);                                  \
    }

/* y = 1/(1+e^(-x)); exp overflowing to inf still gives y = 0, not NaN. */
MAP_OP(sigmoid, &tg_op_sigmoid, 1 / (1 + exp(-v)))
MAP_OP(tanh, &tg_op_tanh, tanh(v))
MAP_OP(relu, &tg_op_relu, v > 0 ? v : 0)
MAP_OP(step, &tg_op_step, v > 0 ? 1 : 0)
MAP_OP(exp, &tg_op_exp, exp(v))
MAP_OP(log, &tg_op_log, log(v))

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
#define MAP_VJP_LABEL(name, FORMAT)                                                       \
    static void name##_vjp_label(const tg_node *n, int input, char *buf, size_t size)    \
    {                                                                                   \
        const char *z = tg_vjp_name(n->in[input], "z");                                 \
        snprintf(buf, size, FORMAT, z, z);                                              \
    }
MAP_VJP_LABEL(sigmoid, "⊙σ(%s)(1−σ(%s))")
MAP_VJP_LABEL(tanh, "⊙(1−tanh²(%s))%.0s")
MAP_VJP_LABEL(relu, "⊙[%s>0]%.0s")
MAP_VJP_LABEL(exp, "⊙exp(%s)%.0s")
MAP_VJP_LABEL(log, "⊘%s%.0s")
static void step_vjp_label(const tg_node *n, int input, char *buf, size_t size) { (void)n, (void)input; snprintf(buf, size, "0 (no gradient)"); }

const tg_op_desc tg_op_sigmoid = {.kind = TG_OP_SIGMOID, .name = "sigmoid", .backward = sigmoid_backward, .vjp_label = sigmoid_vjp_label};
const tg_op_desc tg_op_tanh = {.kind = TG_OP_TANH, .name = "tanh", .backward = tanh_backward, .vjp_label = tanh_vjp_label};
const tg_op_desc tg_op_relu = {.kind = TG_OP_RELU, .name = "relu", .backward = relu_backward, .vjp_label = relu_vjp_label};
const tg_op_desc tg_op_step = {.kind = TG_OP_STEP, .name = "step", .backward = step_backward, .vjp_label = step_vjp_label};
const tg_op_desc tg_op_exp = {.kind = TG_OP_EXP, .name = "exp", .backward = exp_backward, .vjp_label = exp_vjp_label};
const tg_op_desc tg_op_log = {.kind = TG_OP_LOG, .name = "log", .backward = log_backward, .vjp_label = log_vjp_label};

/* ---- the activations' derivatives, fused: out = g·f'(s) ---- */

BINARY_OP(sigmoid_backward, &tg_op_sigmoid_backward, x * y * (1 - y)) /* g·y(1-y), y = σ(x) */
BINARY_OP(tanh_backward, &tg_op_tanh_backward, x * (1 - y * y))       /* g·(1-y²), y = tanh x */
BINARY_OP(relu_backward, &tg_op_relu_backward, y > 0 ? x : 0)         /* g·step(x) */

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
