/* Forward mode as the VJP of a VJP (tapegrad/jvp.h).
 *
 * With u shaped like the output and marked as requiring a gradient,
 * tg_grad(output, upstream = u, create_graph) records gᵢ(u) = Jᵢᵀu: the
 * backward rules are made of ops and linear in their upstream, so gᵢ is a
 * linear function of u on the tape. Then s = Σᵢ ⟨gᵢ(u), vᵢ⟩ = ⟨u, Σᵢ Jᵢvᵢ⟩,
 * and ∂s/∂u = Σᵢ Jᵢvᵢ is the JVP. Two reverse passes, no forward-mode rule
 * per op: every op (user ops included) that differentiates twice works. */
#include "autograd/internal.h"
#include "tapegrad/jvp.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    tg_tensor *t;
    tg_hook_fn fn;
    void *user;
} saved_hook;

/* Clears the hooks of every tensor up to output's tape entry into saved
 * (malloc'd, *n of them); the JVP's inner passes must not run user hooks. */
static saved_hook *hooks_aside(tg_ctx *ctx, tg_tensor *output, int64_t *n)
{
    int64_t reach = output->creator, cap = 4 * (reach + 1) + 1;
    saved_hook *saved = malloc((size_t)cap * sizeof *saved);
    *n = 0;
    if (!saved)
        return NULL;
    for (int64_t i = 0; i <= reach; i++) {
        const tg_node *node = &ctx->tape[i];
        for (int j = -1; j < node->n_in; j++) {
            tg_tensor *t = j < 0 ? node->out : node->in[j];
            if (!tg_hook_of(t))
                continue;
            if (*n == cap) {
                saved_hook *grown = realloc(saved, (size_t)(cap *= 2) * sizeof *saved);
                if (!grown)
                    break; /* the rest keep their hooks: NOMEM below */
                saved = grown;
            }
            saved[(*n)++] = (saved_hook){t, t->extra->hook, t->extra->hook_user};
            t->extra->hook = NULL;
        }
    }
    return saved;
}

static void hooks_back(saved_hook *saved, int64_t n)
{
    while (n-- > 0) { /* reverse order: a tensor seen twice gets its own hook back */
        saved[n].t->extra->hook = saved[n].fn;
        saved[n].t->extra->hook_user = saved[n].user;
    }
    free(saved);
}

tg_status tg_jvp(tg_tensor *output, int n_inputs, tg_tensor *const *inputs, tg_tensor *const *vectors,
                 tg_tensor **jvp)
{
    if (jvp)
        *jvp = NULL;
    if (!tg_check_live("tg_jvp", output))
        return output ? output->ctx->status : TG_ERR_ARG;
    tg_ctx *ctx = output->ctx;
    if (!jvp || !inputs || !vectors || n_inputs < 1)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_jvp: %s", !jvp ? "the result pointer is NULL"
                                                          : n_inputs < 1 ? "no inputs (n_inputs < 1)"
                                                                         : "inputs or vectors is NULL");
    for (int i = 0; i < n_inputs; i++) {
        if (!tg_check_live("tg_jvp (input)", inputs[i]) || !tg_check_live("tg_jvp (vector)", vectors[i]))
            return ctx->status ? ctx->status : TG_ERR_ARG;
        if (inputs[i]->ctx != ctx || vectors[i]->ctx != ctx)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_jvp: input or vector %d belongs to another context", i);
        const tg_tensor *x = inputs[i], *v = vectors[i];
        if (v->dtype != x->dtype || v->rank != x->rank || memcmp(v->shape, x->shape, sizeof(int64_t) * x->rank))
            return tg_ctx_fail(ctx, TG_ERR_SHAPE, "tg_jvp: vector %d is %s %s; expected input %d's %s %s", i,
                               tg_dtype_name((tg_dtype)v->dtype), tg_shape_of(v).s, i,
                               tg_dtype_name((tg_dtype)x->dtype), tg_shape_of(x).s);
    }
    if (!output->requires_grad)
        return tg_ctx_fail(ctx, TG_ERR_GRAD, "tg_jvp: the output does not require a gradient (no input reaching it "
                                             "requires one, or grad mode was off)");

    tg_tensor *result = tg_step_like(output, true); /* kept: made before the mark */
    if (!result)
        return ctx->status;
    tg_tensor **grads = malloc((size_t)n_inputs * sizeof *grads);
    int64_t n_hooks = 0;
    saved_hook *hooks = grads ? hooks_aside(ctx, output, &n_hooks) : NULL;
    if (!grads || !hooks) {
        free(grads);
        hooks_back(hooks, n_hooks);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_jvp: out of memory");
    }
    tg_arena_mark mark = tg_arena_get_mark(ctx);
    bool grad_was = tg_grad_set_enabled(ctx, true);
    tg_tensor *u = tg_step_like(output, true);
    if (u)
        u->requires_grad = true;
    tg_status status = u ? tg_grad(output, u, n_inputs, inputs, grads, true) : ctx->status;
    tg_tensor *s = NULL;
    for (int i = 0; i < n_inputs && status == TG_OK; i++) {
        if (!grads[i]->requires_grad)
            continue; /* no path from input i: J_i = 0 */
        tg_tensor *term = tg_sum(tg_mul(grads[i], vectors[i]));
        s = s ? tg_add(s, term) : term;
        status = ctx->status;
    }
    tg_tensor *du = NULL;
    if (status == TG_OK && s)
        status = tg_grad(s, NULL, 1, &u, &du, false);
    if (status == TG_OK && du)
        memcpy(result->data, du->data, (size_t)result->size * tg_dtype_size(result->dtype));
    tg_grad_set_enabled(ctx, grad_was);
    tg_arena_rewind(ctx, mark); /* the recorded backward ops and u go */
    hooks_back(hooks, n_hooks);
    free(grads);
    if (status == TG_OK)
        *jvp = result;
    return status;
}
