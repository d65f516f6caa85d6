/* tapegrad/op.h: ops you define yourself.
 *
 * Describe an op once in a tg_op_def (a name, a forward kernel in plain C, a
 * backward rule, optional attributes and label), register it in a context,
 * and apply it like any built-in op. It is recorded on the tape under its own
 * name, and backward, tg_grad, gradcheck, anomaly mode and diagrams treat it
 * as they treat sigmoid.
 *
 *     static tg_status square_forward(const tg_op_call *c)      // y = x²
 *     {
 *         const double *x = tg_tensor_data_const(c->inputs[0]);
 *         double *y = tg_tensor_data(c->output);
 *         for (int64_t i = 0; i < tg_tensor_size(c->output); i++)
 *             y[i] = x[i] * x[i];
 *         return TG_OK;
 *     }
 *     static tg_status square_backward(const tg_op_call *c, tg_tensor *dy, tg_tensor **dx)
 *     {
 *         dx[0] = tg_mul(dy, tg_mul_scalar(c->inputs[0], 2));  // dy·2x, with ops
 *         return TG_OK;
 *     }
 *     static const tg_op_def square = {.name = "square", .n_inputs = 1,
 *                                      .forward = square_forward, .backward = square_backward};
 *
 *     const tg_op *op = tg_op_register(ctx, &square);           // once per context
 *     tg_tensor *y = tg_op_apply(op, 1, &x, NULL);              // every step
 *
 * The backward rule comes in one of two forms:
 *  - .backward, written with tapegrad ops: it is recorded under create_graph,
 *    so the op differentiates again (second derivatives, tg_gradgradcheck);
 *  - .backward_raw, a C kernel writing each input's gradient into a zeroed
 *    buffer: first order only. Differentiating its result again (through
 *    tg_grad with create_graph, or tg_jvp, which differentiates the backward)
 *    fails with TG_ERR_GRAD naming the op, never with a silently wrong
 *    second derivative.
 *
 * Registration copies the definition into the context, once: applying the op
 * allocates only step memory, like a built-in. There is no global registry:
 * register the op in every context that uses it (two threads with two
 * contexts register and apply at will). A name is unique per context.
 */
#ifndef TAPEGRAD_OP_H
#define TAPEGRAD_OP_H

#include "tapegrad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A registered op (owned by its context, valid until tg_ctx_free). */
typedef struct tg_op tg_op;
typedef struct tg_op_def tg_op_def;

/* What every callback of a user op sees: one application of the op. */
typedef struct {
    const tg_op_def *def;      /* the op's definition (the context's copy) */
    int n_inputs;
    tg_tensor *const *inputs;  /* as passed to tg_op_apply */
    tg_tensor *output;         /* NULL in the shape function */
    const void *attr;          /* this call's attribute block (a copy), NULL without one */
} tg_op_call;

/* The output shape for these inputs: writes up to TG_MAX_RANK dims into shape
 * and returns the rank (0 to TG_MAX_RANK), or -1 when the inputs do not fit
 * (after tg_ctx_fail with the reason, or a generic shape error is raised). */
typedef int (*tg_op_shape_fn)(const tg_op_call *call, int64_t shape[TG_MAX_RANK]);
/* Writes every element of call->output (zeroed beforehand) from the inputs.
 * Returns TG_OK, or an error status (after tg_ctx_fail with the reason, or a
 * generic error naming the op is raised). */
typedef tg_status (*tg_op_forward_fn)(const tg_op_call *call);
/* Backward with ops: sets dx[i] = ∂L/∂inputs[i] from dy = ∂L/∂output, for
 * the inputs that require a gradient (tg_tensor_requires_grad); dx[i] left
 * NULL means zero. Each dx[i] must have its input's shape and dtype. */
typedef tg_status (*tg_op_backward_fn)(const tg_op_call *call, tg_tensor *dy, tg_tensor **dx);
/* Backward as a C kernel: dx[i] is a zeroed buffer of inputs[i]'s shape and
 * dtype for each input that requires a gradient, NULL for the others. */
typedef tg_status (*tg_op_backward_raw_fn)(const tg_op_call *call, const tg_tensor *dy, tg_tensor *const *dx);
/* Text for diagrams and tg_tape_entry_label, shown as "name(text)": the
 * attributes, or a formula ("2·x + 3·y"). */
typedef void (*tg_op_label_fn)(const tg_op_call *call, char *buf, size_t size);
/* The local derivative of edge `input` for diagrams and the step-through
 * page: the vector-Jacobian product as a short formula applied to the
 * upstream δ ("⊙2x", "·Wᵀ", "Σ over batch"); see tg_tape_entry_vjp_label. */
typedef void (*tg_op_vjp_label_fn)(const tg_op_call *call, int input, char *buf, size_t size);

/* An op's description. Zero fields are defaults; name, forward and exactly
 * one of backward and backward_raw are required. */
struct tg_op_def {
    const char *name;               /* 1 to 63 bytes, no spaces or control characters */
    int n_inputs;                   /* inputs per call; 0: any number >= 1 */
    tg_op_shape_fn shape;           /* NULL: the output has input 0's shape */
    tg_op_forward_fn forward;
    tg_op_backward_fn backward;     /* ops form: differentiable again */
    tg_op_backward_raw_fn backward_raw; /* kernel form: first order only */
    size_t attr_size;               /* bytes of attributes per call (at most 4096); 0: none */
    tg_op_label_fn label;           /* NULL: the diagram shows the name */
    tg_op_vjp_label_fn vjp_label;   /* NULL: edges read "∂/∂x<i>" */
};

/* Registers def in ctx (copied: def and its name need not outlive the call)
 * and returns the op to apply. NULL with TG_ERR_ARG for a NULL def, a missing
 * name, forward or backward, both backward forms, a bad name, n_inputs < 0 or
 * attr_size > 4096, and for a name already registered in ctx or taken by a
 * built-in op; TG_ERR_NOMEM. NULL ctx: NULL. */
TG_API const tg_op *tg_op_register(tg_ctx *ctx, const tg_op_def *def);
/* The op registered in ctx under name, NULL if none (not an error). */
TG_API const tg_op *tg_op_find(const tg_ctx *ctx, const char *name);
/* The name an op was registered under; NULL for NULL. */
TG_API const char *tg_op_name_of(const tg_op *op);
/* The op's definition (the context's copy: register it in another context
 * with tg_op_register); NULL for NULL. */
TG_API const tg_op_def *tg_op_def_of(const tg_op *op);

/* Applies op to inputs[0..n_inputs) and returns the output, a new step tensor
 * recorded on the tape like a built-in op's. Input 0 is f32 or f64 and gives
 * the output's dtype; every other input has that dtype or is TG_I64 (never
 * differentiated). attr points at def.attr_size bytes, copied onto the tape
 * (ignored when attr_size is 0). NULL on error, with the context's error set:
 * TG_ERR_ARG for a NULL op, the wrong number of inputs, inputs of another
 * context than the op's, mixed dtypes, a missing attr; TG_ERR_SHAPE when the
 * shape function refuses the inputs or returns a bad rank or dim; the
 * forward's own status when it fails; TG_ERR_SHAPE when it writes past the
 * end of its output. A NULL input returns NULL (an earlier op failed). */
TG_API tg_tensor *tg_op_apply(const tg_op *op, int n_inputs, tg_tensor *const *inputs, const void *attr);

#ifdef __cplusplus
}
#endif
#endif
