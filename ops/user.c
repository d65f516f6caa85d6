/* Ops defined by users (tapegrad/op.h). Registering one copies its
 * definition into the context and builds a descriptor whose backward and
 * label call the user's; the tape then holds that descriptor like any
 * built-in's, so backward, tg_grad, gradcheck, anomaly mode and diagrams
 * need no case of their own. Applying one checks the inputs, asks the shape,
 * runs the user's kernel on a zeroed output followed by a guard block, and
 * records it. */
#include "autograd/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    ATTR_MAX = 4096,
    NAME_MAX_BYTES = 63,
    GUARD_BYTES = 64, /* after every buffer a user kernel writes: an overrun shows here */
    GUARD_BYTE = 0xA5,
    FEW_INPUTS = 8,
};

/* ---- buffers for user kernels ---- */

static const unsigned char guard_pattern[GUARD_BYTES] = {
#define G4 GUARD_BYTE, GUARD_BYTE, GUARD_BYTE, GUARD_BYTE
    G4, G4, G4, G4, G4, G4, G4, G4, G4, G4, G4, G4, G4, G4, G4, G4,
#undef G4
};

/* A zeroed step tensor followed by GUARD_BYTES of a known pattern. */
static tg_tensor *guarded_tensor(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape)
{
    tg_tensor *t = tg_step_tensor_slack(ctx, dtype, rank, shape, true, GUARD_BYTES);
    if (t)
        memcpy((unsigned char *)t->data + (size_t)t->size * tg_dtype_size(dtype), guard_pattern, GUARD_BYTES);
    return t;
}

static bool guard_intact(const tg_tensor *t)
{
    const unsigned char *guard = (const unsigned char *)t->data + (size_t)t->size * tg_dtype_size(t->dtype);
    return !memcmp(guard, guard_pattern, GUARD_BYTES);
}

/* "[2, 3], [3]": the inputs' shapes, for messages. */
static const char *shapes_text(int n, tg_tensor *const *inputs, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used + 1 < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", tg_shape_of(inputs[i]).s);
        used += w > 0 ? (size_t)w : 0;
    }
    return buf;
}

static tg_op_call call_of(const tg_node *n)
{
    const tg_op *op = n->op->user;
    return (tg_op_call){&op->def, n->n_in, n->in, n->out, n->attr.data};
}

/* ---- the descriptors' rules ---- */

/* The raw kernel's gradients are plain numbers: recorded (under create_graph)
 * as this op's outputs, whose own backward refuses, so a second derivative
 * through a first-order rule is an error instead of a silent zero. */
static void refuse_second_derivative(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    (void)dx;
    const tg_op *op = n->op->user;
    tg_ctx_fail(dy->ctx, TG_ERR_GRAD, "%s: its backward is a raw C kernel (backward_raw), first order only: "
                "its gradient cannot be differentiated again (create_graph); give the op a backward made of "
                "ops (.backward) for second derivatives", op->name);
}

static tg_status run_raw_backward(const tg_op *op, const tg_node *n, const tg_op_call *call, tg_tensor *dy,
                                  tg_tensor **dx)
{
    tg_ctx *ctx = dy->ctx;
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i]->requires_grad &&
            !(dx[i] = guarded_tensor(ctx, (tg_dtype)n->in[i]->dtype, n->in[i]->rank, n->in[i]->shape)))
            return ctx->status;
    bool grad_was = tg_grad_set_enabled(ctx, false);
    tg_status status = op->def.backward_raw(call, dy, dx);
    tg_grad_set_enabled(ctx, grad_was);
    if (status != TG_OK)
        return status;
    for (int i = 0; i < n->n_in; i++)
        if (dx[i] && !guard_intact(dx[i]))
            return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: its raw backward wrote past the end of the gradient of "
                               "input %d, which has input %d's shape %s", op->name, i, i, tg_shape_of(dx[i]).s);
    /* Inputs of the recorded gradient: dy, then the op's inputs. */
    tg_tensor *few[FEW_INPUTS];
    tg_tensor **from = n->n_in + 1 <= FEW_INPUTS ? few : tg_arena_alloc(ctx, (size_t)(n->n_in + 1) * sizeof *from,
                                                                    sizeof *from);
    if (!from)
        return ctx->status;
    from[0] = dy;
    memcpy(from + 1, n->in, (size_t)n->n_in * sizeof *from);
    for (int i = 0; i < n->n_in; i++)
        if (dx[i] && !(dx[i] = tg_record(&op->raw_grad, dx[i], n->n_in + 1, from, n->attr)))
            return ctx->status; /* anomaly mode found a NaN in it */
    return TG_OK;
}

static void user_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    const tg_op *op = n->op->user;
    tg_op_call call = call_of(n);
    tg_status status = op->def.backward ? op->def.backward(&call, dy, dx) : run_raw_backward(op, n, &call, dy, dx);
    if (status != TG_OK)
        tg_ctx_fail(dy->ctx, status, "%s: its backward failed (%s)", op->name, tg_status_name(status));
}

static void user_label(const tg_node *n, char *buf, size_t size)
{
    const tg_op *op = n->op->user;
    char text[128] = "";
    tg_op_call call = call_of(n);
    op->def.label(&call, text, sizeof text);
    text[sizeof text - 1] = '\0';
    snprintf(buf, size, "%s(%s)", op->name, text);
}

static void user_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    const tg_op *op = n->op->user;
    tg_op_call call = call_of(n);
    op->def.vjp_label(&call, input, buf, size);
    buf[size - 1] = '\0';
}

/* ---- registering ---- */

/* Byte index of the first byte that may not be in a name, -1 if none; a
 * name longer than NAME_MAX_BYTES stops at NAME_MAX_BYTES + 1. */
static int bad_name_byte(const char *name, size_t *length)
{
    size_t i = 0;
    for (; name[i] && i <= NAME_MAX_BYTES; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c == 0x7F)
            return (int)i;
    }
    *length = i;
    return -1;
}

/* True when name is taken in ctx, by a user op or by the gradient op of a
 * raw one (both name tape entries). */
static bool name_taken(const tg_ctx *ctx, const char *name)
{
    for (int k = 0; k < TG_OP_COUNT; k++)
        if (!strcmp(tg_op_name((tg_op_kind)k), name))
            return true;
    for (const tg_op *o = ctx->user_ops; o; o = o->next)
        if (!strcmp(o->name, name) || (o->def.backward_raw && !strcmp(o->raw_grad_name, name)))
            return true;
    return false;
}

const tg_op *tg_op_register(tg_ctx *ctx, const tg_op_def *def)
{
    if (!ctx)
        return NULL;
    if (!def)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_op_register: def is NULL"), NULL;
    if (!def->name || !def->name[0])
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_op_register: the op has no name"), NULL;
    size_t length = 0;
    int bad = bad_name_byte(def->name, &length);
    if (bad >= 0)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_op_register: op name has a space or control character at byte %d; "
                           "names are shown in errors and diagrams", bad), NULL;
    if (length > NAME_MAX_BYTES)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_op_register: op name \"%.*s...\" is longer than %d bytes",
                           NAME_MAX_BYTES, def->name, NAME_MAX_BYTES), NULL;
    const char *name = def->name;
    if (!def->forward)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_op_register: op %s has no forward kernel", name), NULL;
    if (!def->backward && !def->backward_raw)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_op_register: op %s has no backward: give .backward (made of "
                           "ops) or .backward_raw (a C kernel)", name), NULL;
    if (def->backward && def->backward_raw)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_op_register: op %s has both .backward and .backward_raw; give one",
                           name), NULL;
    if (def->n_inputs < 0)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_op_register: op %s has n_inputs = %d; expected 0 (any) or more",
                           name, def->n_inputs), NULL;
    if (def->attr_size > ATTR_MAX)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_op_register: op %s has attr_size %zu; at most %d bytes are "
                           "copied per call (pass big data as input tensors)", name, def->attr_size, ATTR_MAX), NULL;

    tg_op *op = calloc(1, sizeof *op);
    if (!op)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_op_register: out of memory for op %s", name), NULL;
    memcpy(op->name, name, length);
    snprintf(op->raw_grad_name, sizeof op->raw_grad_name, "%s_backward", op->name);
    const char *clash = name_taken(ctx, op->name) ? op->name
                        : def->backward_raw && name_taken(ctx, op->raw_grad_name) ? op->raw_grad_name : NULL;
    if (clash) {
        tg_ctx_fail(ctx, TG_ERR_ARG, "tg_op_register: an op named %s is already registered in this context "
                    "(or is built in); op names are unique per context", clash);
        free(op);
        return NULL;
    }
    op->ctx = ctx;
    op->def = *def;
    op->def.name = op->name;
    op->desc = (tg_op_desc){.kind = TG_OP_USER, .name = op->name, .backward = user_backward,
                            .label = def->label ? user_label : NULL, .user = op,
                            .vjp_label = def->vjp_label ? user_vjp_label : NULL};
    op->raw_grad = (tg_op_desc){.kind = TG_OP_USER, .name = op->raw_grad_name,
                                .backward = refuse_second_derivative, .user = op};
    op->next = ctx->user_ops;
    ctx->user_ops = op;
    return op;
}

const tg_op *tg_op_find(const tg_ctx *ctx, const char *name)
{
    if (!ctx || !name)
        return NULL;
    for (const tg_op *o = ctx->user_ops; o; o = o->next)
        if (!strcmp(o->name, name))
            return o;
    return NULL;
}

const char *tg_op_name_of(const tg_op *op) { return op ? op->name : NULL; }

const tg_op_def *tg_op_def_of(const tg_op *op) { return op ? &op->def : NULL; }

/* ---- applying ---- */

static bool inputs_fit(const tg_op *op, int n, tg_tensor *const *inputs)
{
    tg_ctx *ctx = op->ctx;
    if (!inputs || n < 1 || (op->def.n_inputs && n != op->def.n_inputs)) {
        if (op->def.n_inputs)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: called with %d inputs%s; expected %d", op->name, n,
                               inputs ? "" : " (NULL array)", op->def.n_inputs), false;
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: called with %d inputs%s; expected at least 1", op->name, n,
                           inputs ? "" : " (NULL array)"), false;
    }
    for (int i = 0; i < n; i++) {
        const tg_tensor *x = inputs[i];
        if (!tg_check_tensor(op->name, x))
            return false;
        if (x->ctx != ctx)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: input %d belongs to another context than the op; register "
                               "the op in each context that uses it", op->name, i), false;
        if (i == 0 && !tg_check_live(op->name, x))
            return false;
        if (i > 0 && x->dtype != inputs[0]->dtype && x->dtype != TG_I64)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: input %d is %s and input 0 is %s; expected input 0's dtype "
                               "or i64", op->name, i, tg_dtype_name((tg_dtype)x->dtype),
                               tg_dtype_name((tg_dtype)inputs[0]->dtype)), false;
    }
    return true;
}

/* The output's rank and shape, from the user's function or input 0. */
static int output_shape(const tg_op *op, const tg_op_call *call, int64_t shape[TG_MAX_RANK])
{
    tg_ctx *ctx = op->ctx;
    const tg_tensor *x = call->inputs[0];
    if (!op->def.shape) {
        memcpy(shape, x->shape, sizeof x->shape);
        return x->rank;
    }
    for (int d = 0; d < TG_MAX_RANK; d++)
        shape[d] = 0;
    char inputs[160];
    int rank = op->def.shape(call, shape);
    if (rank == -1) {
        tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: its shape function refused inputs of shapes %s", op->name,
                    shapes_text(call->n_inputs, call->inputs, inputs, sizeof inputs));
        return -1;
    }
    if (rank < 0 || rank > TG_MAX_RANK) {
        tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: its shape function returned rank %d for inputs of shapes %s; expected "
                    "0 to %d (or -1 to refuse them)", op->name, rank,
                    shapes_text(call->n_inputs, call->inputs, inputs, sizeof inputs), TG_MAX_RANK);
        return -1;
    }
    for (int d = 0; d < rank; d++)
        if (shape[d] < 1 || shape[d] > ((int64_t)1 << 40)) {
            char out[96];
            tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: its shape function returned shape %s for inputs of shapes %s; "
                        "dim %d is out of range (1 to 2^40)", op->name, tg_shape_str(rank, shape, out, sizeof out),
                        shapes_text(call->n_inputs, call->inputs, inputs, sizeof inputs), d);
            return -1;
        }
    return rank;
}

tg_tensor *tg_op_apply(const tg_op *op, int n_inputs, tg_tensor *const *inputs, const void *attr)
{
    if (!op) {
        if (n_inputs > 0 && inputs && tg_check_tensor("tg_op_apply", inputs[0]))
            tg_ctx_fail(inputs[0]->ctx, TG_ERR_ARG, "tg_op_apply: op is NULL (did tg_op_register fail?)");
        return NULL;
    }
    tg_ctx *ctx = op->ctx;
    if (!inputs_fit(op, n_inputs, inputs))
        return NULL;
    const void *attr_copy = NULL;
    if (op->def.attr_size) {
        if (!attr)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: attr is NULL; expected a block of %zu bytes", op->name,
                               op->def.attr_size), NULL;
        if (!(attr_copy = tg_attr_store(ctx, attr, op->def.attr_size)))
            return NULL;
    }
    /* The user's callbacks run with grad mode off: the op is one tape entry,
     * whatever its kernel calls. */
    bool grad_was = tg_grad_set_enabled(ctx, false);
    tg_op_call call = {&op->def, n_inputs, inputs, NULL, attr_copy};
    int64_t shape[TG_MAX_RANK];
    int rank = output_shape(op, &call, shape);
    tg_tensor *y = rank >= 0 ? guarded_tensor(ctx, (tg_dtype)inputs[0]->dtype, rank, shape) : NULL;
    tg_status status = TG_OK, before = ctx->status;
    if (y) {
        call.output = y;
        status = op->def.forward(&call);
    }
    tg_grad_set_enabled(ctx, grad_was);
    if (!y)
        return NULL;
    if (status != TG_OK)
        return tg_ctx_fail(ctx, status, "%s: its forward failed (%s)", op->name, tg_status_name(status)), NULL;
    if (before == TG_OK && ctx->status != TG_OK)
        return NULL; /* an op the kernel called failed: its error names it */
    if (!guard_intact(y))
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: its forward wrote past the end of its output of shape %s "
                           "(%lld elements, from %s)", op->name, tg_shape_of(y).s, (long long)y->size,
                           op->def.shape ? "its shape function" : "input 0's shape"), NULL;
    return tg_record(&op->desc, y, n_inputs, inputs, (tg_attr){.data = attr_copy});
}
