/* Backward: walk the tape from the output's entry down to the first, handing
 * each op's output gradient to its backward rule and summing what comes back
 * into its inputs. A loop over the tape, no recursion: graph depth is free. */
#include "autograd/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    tg_tensor *dst;
    const tg_tensor *src;
} accumulate_job;

static void accumulate_range(void *arg, int64_t begin, int64_t end)
{
    const accumulate_job *job = arg;
    TG_TYPED(job->dst->dtype, T, {
        T *d = job->dst->data;
        const T *s = job->src->data;
        for (int64_t i = begin; i < end; i++)
            d[i] += s[i];
    });
}

/* In parallel ranges when big, as tg_add would be: the sums of a weight
 * shared across many steps (an RNN's) are made here. */
void tg_accumulate(tg_tensor *dst, const tg_tensor *src)
{
    tg_parallel_range(dst->ctx, dst->size, accumulate_range, &(accumulate_job){dst, src});
}

static bool push_leaf(tg_ctx *ctx, tg_tensor *t)
{
    if (ctx->scratch_len == ctx->scratch_cap) {
        int64_t cap = ctx->scratch_cap ? ctx->scratch_cap * 2 : 64;
        tg_tensor **grown = realloc(ctx->scratch, (size_t)cap * sizeof *grown);
        if (!grown)
            return tg_ctx_fail(ctx, TG_ERR_NOMEM, "backward: out of memory"), false;
        ctx->scratch = grown;
        ctx->scratch_cap = cap;
    }
    ctx->scratch[ctx->scratch_len++] = t;
    return true;
}

/* A parameter (a persistent leaf) whose .grad is logically zero
 * (tg_tensor_zero_grad, or no .grad yet) sums its gradient in the .grad
 * buffer itself, in a plain pass without a hook on it: no pending copy of
 * every parameter's gradient until the pass ends. grad_zeroed stays set
 * until the pass succeeds, so after an error .grad is still zero, as if the
 * pass had never reached it. The buffer to sum in, or NULL. */
static tg_tensor *grad_to_sum_in(tg_tensor *t, const tg_tensor *g)
{
    if (!t->ctx->recycler.on || t->lifetime != TG_LIFE_PERSISTENT || !t->extra || t->extra->hook)
        return NULL;
    tg_tensor *grad = t->extra->grad;
    if (!grad) {
        if (!(grad = t->extra->grad = tg_tensor_new(t->ctx, (tg_dtype)t->dtype, t->rank, t->shape)))
            return NULL;
        t->grad_zeroed = true;
    }
    return t->grad_zeroed && grad != g && grad->size == g->size && grad->dtype == g->dtype ? grad : NULL;
}

/* Adds one contribution to t's pending gradient. A contribution may be
 * another tensor's gradient too (add passes dy on), so the first sum is a new
 * tensor; later contributions go into that sum in place while no rule has
 * seen it (grad_sum). Not under create_graph (the sum is an op on the tape)
 * nor in anomaly mode (tg_add checks each sum). */
static inline bool add_pending(tg_tensor *t, tg_tensor *g)
{
    tg_tensor *sum = t->pending;
    if (!sum) {
        tg_tensor *grad = t->creator < 0 ? grad_to_sum_in(t, g) : NULL;
        if (grad) {
            memcpy(grad->data, g->data, (size_t)g->size * tg_dtype_size(g->dtype));
            grad->grad_sum = true;
            t->pending = grad;
            return push_leaf(t->ctx, t);
        }
        t->pending = g;
        tg_recycle_hold(g);
        return t->creator >= 0 || push_leaf(t->ctx, t);
    }
    if (sum->grad_sum) {
        tg_accumulate(sum, g);
        return true;
    }
    tg_ctx *ctx = t->ctx;
    tg_tensor *had = sum;
    if (!(sum = tg_add(sum, g)))
        return t->pending = NULL, false;
    sum->grad_sum = !ctx->grad_enabled && !ctx->anomaly;
    t->pending = sum;
    tg_recycle_hold(sum);
    if (ctx->recycler.on)
        tg_recycle_release(ctx, had);
    return true;
}

/* Takes t's pending gradient out for a rule, a hook or the caller: from now
 * on others may hold it, so it is no longer summed into in place. */
static tg_tensor *take_pending(tg_tensor *t)
{
    tg_tensor *g = t->pending;
    t->pending = NULL;
    if (g) {
        g->grad_sum = false;
        if (t->ctx->recycler.on)
            tg_recycle_release(t->ctx, g);
    }
    return g;
}

static tg_tensor *run_hook(tg_tensor *t, tg_tensor *g)
{
    tg_hook_fn hook = tg_hook_of(t);
    if (!hook)
        return g;
    tg_tensor *replaced = hook(t, g, t->extra->hook_user);
    tg_block *seen = tg_block_of(g); /* the hook may keep g: never reused */
    if (seen)
        seen->pinned = true;
    if (!replaced)
        return g;
    if (!tg_check_live("gradient hook", replaced))
        return NULL;
    if ((seen = tg_block_of(replaced)))
        seen->pinned = true;
    if (replaced->size != g->size || replaced->dtype != g->dtype) {
        tg_ctx_fail(t->ctx, TG_ERR_SHAPE, "gradient hook of %s returned %s; expected the gradient's shape %s",
                tg_name_of(t) ? tg_name_of(t) : "a tensor", tg_shape_of(replaced).s, tg_shape_of(g).s);
        return NULL;
    }
    return replaced;
}

static bool same_shape(const tg_tensor *a, const tg_tensor *b)
{
    return tg_shape_equal(a->rank, a->shape, b->rank, b->shape);
}

/* Every rule's results are checked here, built-in or user-defined: a
 * gradient of the wrong shape or dtype would otherwise be summed into the
 * input's as garbage or read out of bounds, and a stale one read freed
 * memory. The usual case is decided inline in a few compares: one context,
 * rank and dtype equal, the six dims equal (dims past the rank are 0 in
 * every header), and d alive (as tg_tensor_usable). */
static inline bool gradient_fits(const tg_tensor *d, const tg_tensor *x, const tg_ctx *ctx)
{
    _Static_assert(TG_MAX_RANK == 6, "one XOR per dim");
    uint64_t dims = (uint64_t)(d->shape[0] ^ x->shape[0]) | (uint64_t)(d->shape[1] ^ x->shape[1]) |
                    (uint64_t)(d->shape[2] ^ x->shape[2]) | (uint64_t)(d->shape[3] ^ x->shape[3]) |
                    (uint64_t)(d->shape[4] ^ x->shape[4]) | (uint64_t)(d->shape[5] ^ x->shape[5]);
    return d->ctx == ctx && dims == 0 && d->rank == x->rank && d->dtype == x->dtype &&
           (d->lifetime == TG_LIFE_STEP ? d->epoch == ctx->epoch : d->lifetime == TG_LIFE_PERSISTENT);
}

/* The error gradient_fits found in the gradient d for input k of tape entry
 * `entry`; false. */
static bool gradient_misfit(const tg_node *node, int64_t entry, int k, const tg_tensor *d)
{
    tg_ctx *ctx = node->out->ctx;
    const tg_tensor *x = node->in[k];
    if (!tg_check_tensor(node->op->name, d))
        return false;
    if (d->ctx != ctx)
        return tg_ctx_fail(ctx, TG_ERR_GRAD, "%s: its backward (tape entry %lld) returned a gradient for "
                           "input %d from another context", node->op->name, (long long)entry, k), false;
    return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: its backward (tape entry %lld) returned a %s %s gradient "
                       "for input %d; expected the input's %s %s", node->op->name, (long long)entry,
                       tg_dtype_name((tg_dtype)d->dtype), tg_shape_of(d).s, k,
                       tg_dtype_name((tg_dtype)x->dtype), tg_shape_of(x).s), false;
}

/* ---- recording (for the step-through page) ---- */

void tg_backward_record_free(tg_backward_record *record)
{
    if (!record)
        return;
    free(record->steps);
    free(record->edges);
    free(record->values);
    free(record);
}

bool tg_backward_set_recording(tg_ctx *ctx, bool enabled)
{
    if (!ctx)
        return false;
    bool was = ctx->recording;
    ctx->recording = enabled;
    return was;
}

/* Grows *items to hold n more of size bytes each; false (error set) if out of memory. */
static bool reserve(tg_ctx *ctx, void **items, int64_t *cap, int64_t len, int64_t n, size_t size)
{
    if (len + n <= *cap)
        return true;
    int64_t grown_cap = *cap ? *cap : 64;
    while (grown_cap < len + n)
        grown_cap *= 2;
    void *grown = realloc(*items, (size_t)grown_cap * size);
    if (!grown)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "backward: out of memory recording the pass"), false;
    *items = grown;
    *cap = grown_cap;
    return true;
}

/* Copies t's values into the record; their offset, or -1 (error set). */
static int64_t record_values(tg_backward_record *r, tg_ctx *ctx, const tg_tensor *t)
{
    if (!t || !reserve(ctx, (void **)&r->values, &r->cap_values, r->n_values, t->size, sizeof *r->values))
        return -1;
    int64_t at = r->n_values;
    for (int64_t i = 0; i < t->size; i++)
        r->values[at + i] = tg_tensor_get(t, i);
    r->n_values += t->size;
    return at;
}

static tg_backward_record *record_begin(tg_ctx *ctx, const tg_tensor *y)
{
    tg_backward_record *r = ctx->record;
    if (!r && !(r = ctx->record = calloc(1, sizeof *r))) {
        tg_ctx_fail(ctx, TG_ERR_NOMEM, "backward: out of memory recording the pass");
        return NULL;
    }
    r->output = y;
    r->epoch = ctx->epoch;
    r->complete = false;
    r->n_steps = r->n_edges = r->n_values = 0;
    return r;
}

/* One tape entry: the δ g that arrived, what dx sent down each edge and the
 * inputs' pending sums after it. */
static void record_step(tg_backward_record *r, tg_ctx *ctx, int64_t i, const tg_node *node, const tg_tensor *g,
                        tg_tensor *const *dx)
{
    if (!reserve(ctx, (void **)&r->steps, &r->cap_steps, r->n_steps, 1, sizeof *r->steps) ||
        !reserve(ctx, (void **)&r->edges, &r->cap_edges, r->n_edges, node->n_in, sizeof *r->edges))
        return;
    tg_record_step *step = &r->steps[r->n_steps++];
    *step = (tg_record_step){.tape_index = i, .upstream = record_values(r, ctx, g), .first_edge = r->n_edges,
                             .n_in = node->n_in};
    for (int k = 0; k < node->n_in; k++) {
        tg_tensor *in = node->in[k];
        bool sent = dx[k] && in->requires_grad;
        r->edges[r->n_edges++] = (tg_record_edge){.sent = sent ? record_values(r, ctx, dx[k]) : -1,
                                                  .total = sent ? record_values(r, ctx, in->pending) : -1};
    }
}

typedef struct {
    int n;
    tg_tensor *const *inputs;
    tg_tensor **grads;   /* tg_grad's results, or NULL for tg_backward */
    bool create_graph;
    bool retain;         /* tg_backward_retain: leave the entries open for another pass */
} backward_request;

/* A second tg_backward through an entry would add its gradients to .grad
 * once more, silently doubling them: refused, as PyTorch refuses it, unless
 * the pass before was tg_backward_retain. Nothing has reached .grad yet. */
static bool walked_before(tg_ctx *ctx, const char *who, const tg_node *node, int64_t entry)
{
    tg_ctx_fail(ctx, TG_ERR_GRAD, "%s: tape entry %lld (%s, output %s) was already walked by a tg_backward since "
                "tg_tape_reset; another pass would add the same gradients to .grad again. Reset and run the "
                "forward again, or make the first pass tg_backward_retain to ask for the accumulation",
                who, (long long)entry, node->op->name, tg_shape_of(node->out).s);
    return true;
}

static tg_status walk(tg_tensor *y, tg_tensor *dy, const char *who, backward_request req)
{
    tg_ctx *ctx = y->ctx;
    if (!y->requires_grad)
        return tg_ctx_fail(ctx, TG_ERR_GRAD, "%s: the output does not require a gradient "
                       "(no input reaching it requires one, or grad mode was off)", who);
    if (dy) {
        /* Checked before dy is looked at further: its errors belong here,
         * in the output's context, not in dy's. */
        if (dy->ctx != ctx)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: the upstream gradient %s belongs to another context than the "
                               "output %s", who, tg_shape_of(dy).s, tg_shape_of(y).s);
        if (!tg_check_live(who, dy))
            return ctx->status;
        if (!same_shape(dy, y) || dy->dtype != y->dtype)
            return tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: upstream gradient has shape %s (%s); expected the output's %s (%s)",
                           who, tg_shape_of(dy).s, tg_dtype_name((tg_dtype)dy->dtype), tg_shape_of(y).s,
                           tg_dtype_name((tg_dtype)y->dtype));
    } else {
        if (y->size != 1)
            return tg_ctx_fail(ctx, TG_ERR_GRAD, "%s: the output has shape %s; a gradient can be seeded only for "
                           "one element, so pass an upstream gradient of shape %s", who, tg_shape_of(y).s,
                           tg_shape_of(y).s);
        if (!(dy = tg_step_like(y, false)))
            return ctx->status;
        tg_tensor_fill(dy, 1.0);
    }

    bool grad_was = tg_grad_set_enabled(ctx, req.create_graph);
    for (int i = 0; i < req.n; i++)
        req.inputs[i]->wanted = i + 1;
    ctx->scratch_len = 0;
    tg_status status = add_pending(y, dy) ? TG_OK : ctx->status;
    /* tg_backward only: tg_grad runs inside tools (diagrams) and must not
     * replace the pass the user recorded */
    tg_backward_record *record = ctx->recording && !req.grads && status == TG_OK ? record_begin(ctx, y) : NULL;
    if (!req.grads && !req.create_graph && !record && !ctx->checked)
        tg_recycle_start(ctx);

    int64_t i = y->creator;
    for (; i >= 0 && status == TG_OK; i--) {
        /* A copy: under create_graph the rule records ops and the tape may move. */
        tg_node node = ctx->tape[i];
        tg_tensor *g = take_pending(node.out);
        if (!g)
            continue;
        if (node.out->extra && !(g = run_hook(node.out, g)))
            break;
        if (!req.grads && node.walked && walked_before(ctx, who, &node, i))
            break;
        if (node.out->wanted && req.grads)
            req.grads[node.out->wanted - 1] = g;
        tg_tensor *dx_few[4] = {NULL, NULL, NULL, NULL}, **dx = dx_few;
        if (node.n_in > 4) {
            if (!(dx = tg_arena_alloc(ctx, (size_t)node.n_in * sizeof *dx, sizeof *dx)))
                break;
            memset(dx, 0, (size_t)node.n_in * sizeof *dx);
        }
        ctx->backward_node = i;
        node.op->backward(&node, g, dx);
        ctx->backward_node = -1;
        if (ctx->status != TG_OK)
            break;
        /* Each result checked, then summed into its input's pending
         * gradient; the pass stops at the first error and drops every
         * pending sum (below), so no half-summed gradient survives it. */
        for (int k = 0; k < node.n_in; k++) {
            tg_tensor *x = node.in[k], *d = dx[k];
            if (!d || !x->requires_grad)
                continue;
            if (!gradient_fits(d, x, ctx)) {
                gradient_misfit(&node, i, k, d);
                break;
            }
            if (!add_pending(x, d))
                break;
        }
        if (record && ctx->status == TG_OK)
            record_step(record, ctx, i, &node, g, dx);
        if (!req.grads && !req.retain)
            ctx->tape[i].walked = true;
        if (ctx->recycler.on)
            tg_recycle_sweep(ctx);
        status = ctx->status;
    }
    tg_recycle_stop(ctx);
    for (; i >= 0; i--) /* after an error: leave no pending gradient behind */
        take_pending(ctx->tape[i].out);

    for (int64_t k = 0; k < ctx->scratch_len; k++) {
        tg_tensor *leaf = ctx->scratch[k];
        tg_tensor *g = take_pending(leaf);
        if (ctx->status != TG_OK || !(g = run_hook(leaf, g)))
            continue;
        if (req.grads) {
            if (leaf->wanted)
                req.grads[leaf->wanted - 1] = g;
        } else if (g == tg_grad_of(leaf)) { /* summed in place (grad_to_sum_in) */
            leaf->grad_zeroed = false;
        } else if (tg_grad_of(leaf) && !leaf->grad_zeroed) {
            tg_accumulate(tg_grad_of(leaf), g);
        } else { /* the first gradient since zero_grad, or ever: written, not added */
            tg_tensor_extra *e = tg_extra_of(leaf);
            if (e && !e->grad)
                e->grad = leaf->lifetime == TG_LIFE_STEP
                              ? tg_step_like(leaf, false)
                              : tg_tensor_new(ctx, (tg_dtype)leaf->dtype, leaf->rank, leaf->shape);
            if (e && e->grad) {
                memcpy(e->grad->data, g->data, (size_t)g->size * tg_dtype_size(g->dtype));
                leaf->grad_zeroed = false;
            }
        }
    }
    ctx->scratch_len = 0;
    if (record)
        record->complete = ctx->status == TG_OK;
    for (int k = 0; k < req.n; k++)
        req.inputs[k]->wanted = 0;
    tg_grad_set_enabled(ctx, grad_was);
    return ctx->status;
}

/* A NULL output has no context to report to. It is almost always the
 * result of an op that failed earlier in the chain, whose error the context
 * holds: say so, on stderr, rather than fail silently. */
static tg_status null_output(const char *who)
{
    fprintf(stderr, "tapegrad: %s: the output is NULL: an op before it failed (or was given NULL); the first "
                    "error is stored in the context: see tg_ctx_error(ctx)\n", who);
    return TG_ERR_ARG;
}

static tg_status backward_pass(const char *who, tg_tensor *output, tg_tensor *upstream, bool retain)
{
    if (!output)
        return null_output(who);
    if (!tg_check_live(who, output))
        return output->ctx->status;
    return walk(output, upstream, who, (backward_request){.retain = retain});
}

tg_status tg_backward_with(tg_tensor *output, tg_tensor *upstream)
{
    return backward_pass("tg_backward", output, upstream, false);
}

tg_status tg_backward_retain(tg_tensor *output, tg_tensor *upstream)
{
    return backward_pass("tg_backward_retain", output, upstream, true);
}

tg_status tg_backward(tg_tensor *loss) { return tg_backward_with(loss, NULL); }

/* tg_grad's pass; an input it did not reach keeps NULL. */
static tg_status grad_pass(tg_tensor *output, tg_tensor *upstream, int n_inputs, tg_tensor *const *inputs,
                           tg_tensor **grads, bool create_graph)
{
    if (!output)
        return null_output("tg_grad");
    if (!tg_check_live("tg_grad", output))
        return output->ctx->status;
    tg_ctx *ctx = output->ctx;
    if (n_inputs < 1 || !inputs || !grads)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_grad: %d inputs, inputs %s, grads %s; expected n_inputs >= 1 and "
                           "both arrays", n_inputs, inputs ? "given" : "NULL", grads ? "given" : "NULL");
    for (int i = 0; i < n_inputs; i++)
        grads[i] = NULL;
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i])
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_grad: input %d is NULL", i);
        if (!tg_check_live("tg_grad", inputs[i]))
            return ctx->status;
        if (inputs[i]->ctx != ctx)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_grad: input %d belongs to another context", i);
        for (int j = 0; j < i; j++)
            if (inputs[j] == inputs[i])
                return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_grad: inputs %d and %d are the same tensor", j, i);
    }
    return walk(output, upstream, "tg_grad", (backward_request){.n = n_inputs, .inputs = inputs, .grads = grads, .create_graph = create_graph});
}

tg_status tg_grad_reached(tg_tensor *output, int n_inputs, tg_tensor *const *inputs, tg_tensor **grads)
{
    return grad_pass(output, NULL, n_inputs, inputs, grads, false);
}

tg_status tg_grad(tg_tensor *output, tg_tensor *upstream, int n_inputs, tg_tensor *const *inputs,
                  tg_tensor **grads, bool create_graph)
{
    tg_status status = grad_pass(output, upstream, n_inputs, inputs, grads, create_graph);
    for (int i = 0; i < n_inputs && status == TG_OK; i++)
        if (!grads[i] && !(grads[i] = tg_step_like(inputs[i], true)))
            status = inputs[i]->ctx->status;
    return status;
}
