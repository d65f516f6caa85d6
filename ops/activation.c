/* Activations and elementwise maps: forward kernel, backward rule and formula
 * side by side. Backward rules are written with ops, so they differentiate
 * again under create_graph. */
#include "autograd/internal.h"

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
MAP_OP(sigmoid, TG_OP_SIGMOID, 1 / (1 + exp(-v)))
MAP_OP(tanh, TG_OP_TANH, tanh(v))
MAP_OP(relu, TG_OP_RELU, v > 0 ? v : 0)
MAP_OP(step, TG_OP_STEP, v > 0 ? 1 : 0)
MAP_OP(exp, TG_OP_EXP, exp(v))
MAP_OP(log, TG_OP_LOG, log(v))

/* dy/dx = y(1 - y) = y - y² */
static void sigmoid_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    tg_tensor *y = n->out;
    dx[0] = tg_mul(dy, tg_sub(y, tg_mul(y, y)));
}

/* dy/dx = 1 - y² */
static void tanh_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    tg_tensor *y = n->out;
    dx[0] = tg_sub(dy, tg_mul(dy, tg_mul(y, y)));
}

/* dy/dx = step(x); at the kink x = 0 we take 0, as PyTorch does. */
static void relu_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { dx[0] = tg_mul(dy, tg_step(n->in[0])); }

/* Zero almost everywhere, undefined at 0: no gradient flows. */
static void step_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { (void)n, (void)dy, (void)dx; }

/* dy/dx = y */
static void exp_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { dx[0] = tg_mul(dy, n->out); }

/* dy/dx = 1/x */
static void log_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { dx[0] = tg_div(dy, n->in[0]); }

const tg_op_desc tg_op_sigmoid = {"sigmoid", sigmoid_backward, NULL};
const tg_op_desc tg_op_tanh = {"tanh", tanh_backward, NULL};
const tg_op_desc tg_op_relu = {"relu", relu_backward, NULL};
const tg_op_desc tg_op_step = {"step", step_backward, NULL};
const tg_op_desc tg_op_exp = {"exp", exp_backward, NULL};
const tg_op_desc tg_op_log = {"log", log_backward, NULL};
