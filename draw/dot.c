/* The tape as Graphviz dot text (tapegrad/dot.h).
 *
 * Four passes over the tape, none recursive:
 *  1. mark the ops that reach the outputs (one backward sweep over indices);
 *  2. number them in tape order (op<k>, t<k> for its result) and number the
 *     leaves in order of first use (leaf<k>): names never depend on pointers;
 *  3. optional annotations: ∂L/∂t for every tensor (one tg_grad), and the local
 *     derivative of each one-element op (its backward rule with upstream 1),
 *     skipped when the context holds an error or a drawn leaf was freed;
 *  4. write nodes cluster by cluster, then edges.
 * Annotations live in step memory that is given back before returning. */
#include "draw/draw.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void put_number(FILE *f, double v, int precision)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.*g", precision, v == 0 ? 0.0 : v); /* no "-0" */
    fputs(buf, f);
}

/* Values as "0.5", "[1, 2]" or "[[1, 2],<br/>[3, 4]]" (rows on their own lines). */
static void put_values(FILE *f, const tg_tensor *t, int precision)
{
    if (t->size == 1) {
        put_number(f, tg_tensor_get(t, 0), precision);
        return;
    }
    int64_t cols = t->rank ? t->shape[t->rank - 1] : 1;
    bool rows = t->rank >= 2 && t->size > cols;
    if (rows)
        fputc('[', f);
    for (int64_t i = 0; i < t->size; i++) {
        if (i % cols == 0)
            fputs(i == 0 ? "[" : "],<br/>[", f);
        else
            fputs(", ", f);
        put_number(f, tg_tensor_get(t, i), precision);
    }
    fputs(rows ? "]]" : "]", f);
}

static double norm(const tg_tensor *t)
{
    double s = 0;
    for (int64_t i = 0; i < t->size; i++) {
        double v = tg_tensor_get(t, i);
        s += v * v;
    }
    return sqrt(s);
}

/* ---- pass 1 and 2: what is drawn ---- */

static bool add_leaf(tg_dot_writer *w, tg_tensor *t)
{
    size_t slot = tg_ptr_map_slot(&w->leaf_ids, t);
    if (w->leaf_ids.keys[slot])
        return false;
    w->leaf_ids.keys[slot] = t;
    w->leaf_ids.values[slot] = w->n_leaves;
    w->leaves[w->n_leaves++] = t;
    return true;
}

/* Pass 1 and 2. */
static tg_status collect(tg_dot_writer *w, int n_outputs, tg_tensor *const *outputs)
{
    tg_ctx *ctx = w->ctx;
    int64_t tape_len = ctx->tape_len;
    w->op_id = malloc((size_t)(tape_len ? tape_len : 1) * sizeof *w->op_id);
    if (!w->op_id)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    for (int64_t i = 0; i < tape_len; i++)
        w->op_id[i] = -1;
    int64_t top = -1, n_edges = 0;
    for (int i = 0; i < n_outputs; i++) {
        int64_t c = outputs[i]->creator;
        if (c >= 0 && c < tape_len) {
            w->op_id[c] = 0;
            top = c > top ? c : top;
        }
    }
    for (int64_t i = top; i >= 0; i--) {
        if (w->op_id[i] < 0)
            continue;
        w->n_ops++;
        const tg_node *n = &ctx->tape[i];
        n_edges += n->n_in;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k]->creator >= 0)
                w->op_id[n->in[k]->creator] = 0;
    }
    size_t n_ops = (size_t)w->n_ops, max_leaves = (size_t)n_edges + (size_t)n_outputs;
    w->op_tape = malloc((n_ops ? n_ops : 1) * sizeof *w->op_tape);
    w->leaves = malloc(max_leaves * sizeof *w->leaves);
    w->op_is_output = calloc(n_ops ? n_ops : 1, sizeof *w->op_is_output);
    w->op_grad = calloc(n_ops ? n_ops : 1, sizeof *w->op_grad);
    w->edge_base = malloc((n_ops + 1) * sizeof *w->edge_base);
    w->edge_derivative = calloc(n_edges ? (size_t)n_edges : 1, sizeof *w->edge_derivative);
    w->op_group = malloc((n_ops ? n_ops : 1) * sizeof *w->op_group);
    if (!w->op_tape || !w->leaves || !w->op_is_output || !w->op_grad || !w->edge_base || !w->edge_derivative || !w->op_group ||
        !tg_ptr_map_init(&w->leaf_ids, max_leaves))
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");

    int64_t k = 0, edge = 0;
    for (int64_t i = 0; i <= top; i++) {
        if (w->op_id[i] < 0)
            continue;
        const tg_node *n = &ctx->tape[i];
        w->op_tape[k] = i;
        w->edge_base[k] = edge;
        edge += n->n_in;
        w->op_id[i] = k++;
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j]->creator < 0)
                add_leaf(w, n->in[j]);
    }
    w->edge_base[k] = edge;
    for (int i = 0; i < n_outputs; i++)
        if (outputs[i]->creator < 0)
            add_leaf(w, outputs[i]);
    for (int64_t j = 0; j < w->n_leaves; j++)
        w->has_freed |= w->leaves[j]->lifetime == TG_LIFE_FREED;
    w->leaf_is_output = calloc((size_t)w->n_leaves + 1, sizeof *w->leaf_is_output);
    w->leaf_grad = calloc((size_t)w->n_leaves + 1, sizeof *w->leaf_grad);
    w->leaf_group = malloc(((size_t)w->n_leaves + 1) * sizeof *w->leaf_group);
    if (!w->leaf_is_output || !w->leaf_grad || !w->leaf_group)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    for (int i = 0; i < n_outputs; i++) {
        if (outputs[i]->creator >= 0)
            w->op_is_output[w->op_id[outputs[i]->creator]] = true;
        else
            w->leaf_is_output[tg_dot_leaf_id(w, outputs[i])] = true;
    }
    return TG_OK;
}

/* Pass 3a: ∂L/∂t for every tensor drawn that requires a gradient, by one
 * tg_grad with every user hook set aside. */
static tg_status gradients_of(tg_dot_writer *w, tg_tensor *loss)
{
    tg_ctx *ctx = w->ctx;
    int64_t n = 0, n_hooked = 0, reach = loss->creator;
    tg_tensor **inputs = malloc(((size_t)(w->n_ops + w->n_leaves) + 1) * sizeof *inputs);
    tg_tensor **grads = malloc(((size_t)(w->n_ops + w->n_leaves) + 1) * sizeof *grads);
    /* Hooks of every tensor the walk can reach: op results up to loss and their inputs. */
    struct saved_hook { tg_tensor *t; tg_hook_fn fn; void *user; } *hooks =
        malloc(((size_t)(reach + 1) * 4 + 1) * sizeof *hooks);
    tg_status status = TG_OK;
    if (!inputs || !grads || !hooks) {
        status = tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
        goto done;
    }
    for (int64_t k = 0; k < w->n_ops; k++)
        inputs[n++] = ctx->tape[w->op_tape[k]].out;
    for (int64_t k = 0; k < w->n_leaves; k++)
        if (w->leaves[k]->requires_grad)
            inputs[n++] = w->leaves[k];
    for (int64_t i = 0; i <= reach; i++) {
        const tg_node *node = &ctx->tape[i];
        for (int j = -1; j < node->n_in; j++) {
            tg_tensor *t = j < 0 ? node->out : node->in[j];
            if (tg_hook_of(t)) {
                hooks[n_hooked++] = (struct saved_hook){t, t->extra->hook, t->extra->hook_user};
                t->extra->hook = NULL;
            }
        }
    }
    if (tg_hook_of(loss)) {
        hooks[n_hooked++] = (struct saved_hook){loss, loss->extra->hook, loss->extra->hook_user};
        loss->extra->hook = NULL;
    }
    if (n > INT32_MAX) {
        status = tg_ctx_fail(ctx, TG_ERR_ARG, "tg_dot_write: too many tensors for grads_of");
        goto done;
    }
    status = tg_grad(loss, NULL, (int)n, inputs, grads, false);
    while (n_hooked > 0) {
        n_hooked--;
        hooks[n_hooked].t->extra->hook = hooks[n_hooked].fn;
        hooks[n_hooked].t->extra->hook_user = hooks[n_hooked].user;
    }
    if (status != TG_OK)
        goto done;
    /* Only tensors loss depends on get a gradient: the others' zeros would
     * read as "no effect" where there is simply no path. */
    bool *reached = calloc((size_t)(reach + 2), sizeof *reached);
    bool *leaf_reached = calloc((size_t)w->n_leaves + 1, sizeof *leaf_reached);
    if (!reached || !leaf_reached) {
        free(reached);
        free(leaf_reached);
        status = tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
        goto done;
    }
    if (reach >= 0)
        reached[reach] = true;
    else if (w->leaf_ids.keys[tg_ptr_map_slot(&w->leaf_ids, loss)]) /* a leaf: ∂L/∂L = 1 */
        leaf_reached[tg_dot_leaf_id(w, loss)] = true;
    for (int64_t i = reach; i >= 0; i--) {
        if (!reached[i])
            continue;
        const tg_node *node = &ctx->tape[i];
        for (int j = 0; j < node->n_in; j++) {
            const tg_tensor *in = node->in[j];
            if (in->creator >= 0) {
                reached[in->creator] = true;
            } else {
                size_t slot = tg_ptr_map_slot(&w->leaf_ids, in);
                if (w->leaf_ids.keys[slot])
                    leaf_reached[w->leaf_ids.values[slot]] = true;
            }
        }
    }
    n = 0;
    for (int64_t k = 0; k < w->n_ops; k++, n++)
        if (w->op_tape[k] <= reach && reached[w->op_tape[k]])
            w->op_grad[k] = grads[n];
    for (int64_t k = 0; k < w->n_leaves; k++)
        if (w->leaves[k]->requires_grad && leaf_reached[k])
            w->leaf_grad[k] = grads[n++];
        else if (w->leaves[k]->requires_grad)
            n++;
    free(reached);
    free(leaf_reached);
done:
    free(inputs);
    free(grads);
    free(hooks);
    return status;
}

/* Pass 3e (after the layout decided the copies): a parameter drawn once per
 * use gets each use's contribution to its gradient, the backward rule of the
 * op using it run on that op's ∂L/∂out. The sum over its uses is the total. */
static tg_status use_contributions(tg_dot_writer *w)
{
    tg_ctx *ctx = w->ctx;
    int64_t n_edges = w->edge_base[w->n_ops], n_leaves = w->n_leaves;
    int64_t *uses = calloc((size_t)n_leaves + 1, 2 * sizeof *uses), *copies = uses ? uses + n_leaves + 1 : NULL;
    w->leaf_first_edge = malloc(((size_t)n_leaves + 1) * sizeof *w->leaf_first_edge);
    if (!uses || !w->leaf_first_edge) {
        free(uses);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    }
    for (int64_t l = 0; l < n_leaves; l++)
        w->leaf_first_edge[l] = -1;
    for (int64_t k = 0; k < w->n_ops; k++) {
        const tg_node *node = &ctx->tape[w->op_tape[k]];
        for (int j = 0; j < node->n_in; j++) {
            if (node->in[j]->creator >= 0)
                continue;
            int64_t l = tg_dot_leaf_id(w, node->in[j]), e = w->edge_base[k] + j;
            uses[l]++;
            copies[l] = w->edge_copy[e] + 1 > copies[l] ? w->edge_copy[e] + 1 : copies[l];
            if (w->edge_copy[e] == 0 && w->leaf_first_edge[l] < 0)
                w->leaf_first_edge[l] = e;
        }
    }
    bool any = false;
    for (int64_t l = 0; l < n_leaves; l++) {
        bool per_use = uses[l] > 1 && copies[l] == uses[l] && w->leaf_grad[l];
        if (!per_use)
            w->leaf_first_edge[l] = -1;
        any |= per_use;
    }
    free(uses);
    if (!any)
        return TG_OK;
    if (!(w->edge_contribution = calloc((size_t)n_edges + 1, sizeof *w->edge_contribution)))
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    bool grad_was = tg_grad_set_enabled(ctx, false);
    for (int64_t k = 0; k < w->n_ops && ctx->status == TG_OK; k++) {
        tg_node node = ctx->tape[w->op_tape[k]];
        bool wanted = false;
        for (int j = 0; j < node.n_in; j++)
            wanted |= node.in[j]->creator < 0 && w->leaf_first_edge[tg_dot_leaf_id(w, node.in[j])] >= 0;
        if (!wanted || !w->op_grad[k])
            continue;
        tg_tensor *dx_few[4] = {NULL, NULL, NULL, NULL}, **dx = dx_few;
        if (node.n_in > 4) {
            if (!(dx = tg_arena_alloc(ctx, (size_t)node.n_in * sizeof *dx, sizeof *dx)))
                break;
            memset(dx, 0, (size_t)node.n_in * sizeof *dx);
        }
        ctx->backward_node = w->op_tape[k];
        node.op->backward(&node, w->op_grad[k], dx);
        ctx->backward_node = -1;
        for (int j = 0; j < node.n_in; j++)
            if (node.in[j]->creator < 0 && w->leaf_first_edge[tg_dot_leaf_id(w, node.in[j])] >= 0)
                w->edge_contribution[w->edge_base[k] + j] = dx[j];
    }
    tg_grad_set_enabled(ctx, grad_was);
    return ctx->status;
}

/* Pass 3b: for each op with a one-element output, its backward rule with
 * upstream 1 gives ∂out/∂in for every input that requires a gradient. */
static tg_status local_derivatives(tg_dot_writer *w)
{
    tg_ctx *ctx = w->ctx;
    bool grad_was = tg_grad_set_enabled(ctx, false);
    for (int64_t k = 0; k < w->n_ops && ctx->status == TG_OK; k++) {
        tg_node node = ctx->tape[w->op_tape[k]];
        if (node.out->size != 1 || node.n_in > 3) /* numbers are drawn for up to 3 inputs */
            continue;
        tg_tensor *one = tg_step_like(node.out, false);
        if (!one)
            break;
        tg_tensor_fill(one, 1.0);
        tg_tensor **dx = w->edge_derivative + w->edge_base[k];
        ctx->backward_node = w->op_tape[k];
        node.op->backward(&node, one, dx);
        ctx->backward_node = -1;
        for (int j = 0; j < node.n_in; j++) {
            if (!node.in[j]->requires_grad) {
                dx[j] = NULL; /* only edges that carry a gradient are labelled */
                continue;
            }
            if (!dx[j] && !(dx[j] = tg_step_like(node.in[j], true)))
                break;
        }
    }
    tg_grad_set_enabled(ctx, grad_was);
    return ctx->status;
}

/* ---- pass 4: writing ---- */

static const char *const COLOR_INPUT = "#e8e8e8";
static const char *const COLOR_PARAMETER = "#cfe2ff";
static const char *const COLOR_INTERMEDIATE = "#ffffff";
static const char *const COLOR_OUTPUT = "#f8d7da";
static const char *const COLOR_OP = "#fff3cd";
static const char *const COLOR_GRADIENT_OP = "#fdd5b1";
static const char *const COLOR_GRAD_TEXT = "#b03a2e";
static const char *const COLOR_DERIVATIVE_TEXT = "#1f5fa0";

/* A tensor's box; a copy (the same tensor drawn again beside a far use) is dashed. */
static void write_tensor(const tg_dot_writer *w, const tg_tensor *t, const char *id, bool is_output, const tg_tensor *grad,
                         bool copy, const tg_tensor *contribution)
{
    FILE *f = w->f;
    const char *fill = is_output ? COLOR_OUTPUT
                       : t->creator >= 0 ? COLOR_INTERMEDIATE
                       : t->requires_grad ? COLOR_PARAMETER
                                          : COLOR_INPUT;
    if (t->lifetime == TG_LIFE_FREED) { /* its values and name are gone */
        fprintf(f, "  %s [shape=box, style=dashed, label=<<i>freed</i>>];\n", id);
        return;
    }
    fprintf(f, "  %s [shape=box, fillcolor=\"%s\"%s%s, label=<", id, fill, is_output ? ", peripheries=2" : "",
            copy ? ", style=\"filled,dashed\"" : "");
    /* name, shape, values: one line each. A scalar's shape says nothing its
     * single value does not; it is left out unless nothing else would show. */
    bool named = tg_name_of(t) && tg_name_of(t)[0];
    bool small = w->max_values >= 0 && t->size <= w->max_values;
    if (named) {
        fputs("<b>", f);
        tg_markup_put_str(f, tg_name_of(t), TG_MARKUP_GRAPHVIZ);
        fputs("</b>", f);
    }
    if (t->rank > 0 || !(named || small)) {
        char shape[96] = "scalar";
        if (t->rank > 0)
            tg_shape_str(t->rank, t->shape, shape, sizeof shape);
        fputs(named ? "<br/><font point-size=\"9\">" : "<font point-size=\"9\">", f);
        tg_markup_put_str(f, shape, TG_MARKUP_GRAPHVIZ);
        fputs("</font>", f);
        named = true; /* something is on the line above the values */
    }
    if (small) {
        if (named)
            fputs("<br/>", f);
        put_values(f, t, w->precision);
    }
    if (contribution && !w->o->hide_grads) { /* one use of a leaf drawn per use */
        fprintf(f, "<br/><font color=\"%s\">this use ", COLOR_GRAD_TEXT);
        if (small) {
            put_values(f, contribution, w->precision);
        } else {
            fputs("‖·‖ ", f);
            put_number(f, norm(contribution), w->precision);
        }
        fputs("</font>", f);
        if (copy) /* the total is shown once, on the leaf's own drawing */
            grad = NULL;
    }
    if (grad && !w->o->hide_grads) {
        fprintf(f, "<br/><font color=\"%s\">%s ", COLOR_GRAD_TEXT, contribution ? "total grad" : "grad");
        if (small) {
            put_values(f, grad, w->precision);
        } else {
            fputs("‖·‖ ", f);
            put_number(f, norm(grad), w->precision);
        }
        fputs("</font>", f);
    }
    fputs(">];\n", f);
}

static void write_op(const tg_dot_writer *w, int64_t k)
{
    char label[128];
    int64_t i = w->op_tape[k];
    tg_tape_entry_label(w->ctx, i, label, sizeof label);
    bool gradient_op = w->o->gradient_ops_from > 0 && i >= w->o->gradient_ops_from;
    fprintf(w->f, "  op%lld [shape=ellipse, fillcolor=\"%s\", label=<", (long long)k,
            gradient_op ? COLOR_GRADIENT_OP : COLOR_OP);
    tg_markup_put_str(w->f, label, TG_MARKUP_GRAPHVIZ);
    fputs(">];\n", w->f);
}

/* The tensor op k made. */
static void write_result_copy(const tg_dot_writer *w, int64_t k, int32_t copy)
{
    const tg_tensor *out = w->ctx->tape[w->op_tape[k]].out;
    char id[48];
    if (copy)
        snprintf(id, sizeof id, "t%lld_u%d", (long long)k, copy);
    else
        snprintf(id, sizeof id, "t%lld", (long long)k);
    const tg_tensor *grad = w->o->grads_of ? w->op_grad[k] : NULL;
    write_tensor(w, out, id, w->op_is_output[k] && !copy, grad, copy > 0, NULL);
}

static void write_result(const tg_dot_writer *w, int64_t k) { write_result_copy(w, k, 0); }

/* Leaf k, or its copy-th extra drawing (a shared leaf drawn beside each use),
 * which starts edge `edge` (-1: not known). */
static void write_leaf(const tg_dot_writer *w, int64_t k, int32_t copy, int64_t edge)
{
    char id[48];
    if (copy)
        snprintf(id, sizeof id, "leaf%lld_u%d", (long long)k, copy);
    else
        snprintf(id, sizeof id, "leaf%lld", (long long)k);
    const tg_tensor *t = w->leaves[k];
    const tg_tensor *grad = w->o->grads_of ? w->leaf_grad[k] : t->requires_grad ? tg_tensor_grad(t) : NULL;
    if (copy == 0 && w->leaf_first_edge)
        edge = w->leaf_first_edge[k];
    const tg_tensor *contribution = w->edge_contribution && edge >= 0 ? w->edge_contribution[edge] : NULL;
    write_tensor(w, t, id, w->leaf_is_output[k], grad, copy > 0, contribution);
}

static void write_node_id(FILE *f, const tg_dot_writer *w, const tg_tensor *t, int32_t copy)
{
    if (t->creator >= 0 && copy)
        fprintf(f, "t%lld_u%d", (long long)w->op_id[t->creator], copy);
    else if (t->creator >= 0)
        fprintf(f, "t%lld", (long long)w->op_id[t->creator]);
    else if (copy)
        fprintf(f, "leaf%lld_u%d", (long long)tg_dot_leaf_id(w, t), copy);
    else
        fprintf(f, "leaf%lld", (long long)tg_dot_leaf_id(w, t));
}

/* A caption of at most TITLE_LINE characters a line, broken at spaces: one
 * long line would set the width of the whole picture (a caption is drawn at
 * 14 pt, about 7 pt a character), and a diagram must fit a page's column. */
enum { TITLE_LINE = 84 };
static void put_wrapped(FILE *f, const char *text)
{
    const char *line = text;
    while (*line) {
        const char *end = line, *cut = NULL;
        int characters = 0;
        for (; *end && *end != '\n'; end++) {
            if ((*end & 0xC0) == 0x80)
                continue;
            if (*end == ' ')
                cut = end;
            if (++characters > TITLE_LINE && cut)
                break;
        }
        if (!*end || *end == '\n' || !cut)
            cut = end;
        tg_markup_put(f, line, (size_t)(cut - line), TG_MARKUP_GRAPHVIZ);
        line = *cut ? cut + 1 : cut;
        if (*line)
            fputs("<br/>", f);
    }
}

static void write_header(const tg_dot_writer *w)
{
    FILE *f = w->f;
    fputs("digraph tapegrad {\n", f);
    fprintf(f, "  rankdir=%s;\n", w->top_to_bottom ? "TB" : "LR");
    fputs("  fontname=\"Helvetica\";\n"
          "  node [style=filled, fontname=\"Helvetica\", fontsize=11];\n"
          "  edge [fontname=\"Helvetica\", fontsize=10, arrowsize=0.7];\n",
          f);
    if (w->o->title) {
        fputs("  labelloc=b;\n  label=<", f);
        put_wrapped(f, w->o->title);
        fputs(">;\n", f);
    }
}

static tg_status write_footer(const tg_dot_writer *w)
{
    fputs("}\n", w->f);
    if (fflush(w->f) != 0 || ferror(w->f))
        return tg_ctx_fail(w->ctx, TG_ERR_IO, "tg_dot_write: writing failed: %s", strerror(errno));
    return TG_OK;
}

static int compare_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The per-layer view: one box per cluster with its parameters (shape,
 * gradient norm) and its output's shape; leaves and ops outside clusters as
 * usual; one edge per pair of connected items. Items are numbered clusters
 * first, then leaves, then ops. */
static tg_status write_per_layer(tg_dot_writer *w)
{
    FILE *f = w->f;
    tg_ctx *ctx = w->ctx;
    int64_t n_groups = w->groups.count, n_items = n_groups + w->n_leaves + w->n_ops;
    int64_t *last_op = malloc(((size_t)n_groups + 1) * sizeof *last_op);
    int64_t *ops_in = calloc((size_t)n_groups + 1, sizeof *ops_in);
    int64_t *pairs = malloc(((size_t)w->edge_base[w->n_ops] + (size_t)w->n_ops + 1) * sizeof *pairs);
    if (!last_op || !ops_in || !pairs) {
        free(last_op), free(ops_in), free(pairs);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    }
    write_header(w);
    for (int64_t k = 0; k < w->n_ops; k++)
        if (w->op_group[k] >= 0) {
            last_op[w->op_group[k]] = k;
            ops_in[w->op_group[k]]++;
        }
    for (int64_t g = 0; g < n_groups; g++) {
        const tg_name_ref *name = &w->groups.items[g];
        fprintf(f, "  layer%lld [shape=box, style=\"rounded,filled\", fillcolor=\"%s\", label=<<b>", (long long)g,
                COLOR_PARAMETER);
        tg_markup_put(f, name->name, name->length, TG_MARKUP_GRAPHVIZ);
        fputs("</b>", f);
        for (int64_t l = 0; l < w->n_leaves; l++) {
            const tg_tensor *t = w->leaves[l];
            if (w->leaf_group[l] != g || !t->requires_grad || t->lifetime == TG_LIFE_FREED)
                continue;
            const char *full = tg_name_of(t), *short_name = full ? full : "parameter";
            if (full && !strncmp(full, name->name, name->length) && full[name->length])
                short_name = full + name->length + 1;
            char shape[96] = "scalar";
            if (t->rank > 0)
                tg_shape_str(t->rank, t->shape, shape, sizeof shape);
            fputs("<br/>", f);
            tg_markup_put_str(f, short_name, TG_MARKUP_GRAPHVIZ);
            fputs(" <font point-size=\"9\">", f);
            tg_markup_put_str(f, shape, TG_MARKUP_GRAPHVIZ);
            fputs("</font>", f);
            const tg_tensor *grad = w->o->grads_of ? w->leaf_grad[l] : tg_tensor_grad(t);
            if (grad && !w->o->hide_grads) {
                fprintf(f, " <font color=\"%s\">‖grad‖ ", COLOR_GRAD_TEXT);
                put_number(f, norm(grad), w->precision);
                fputs("</font>", f);
            }
        }
        if (ops_in[g]) {
            const tg_tensor *out = ctx->tape[w->op_tape[last_op[g]]].out;
            char shape[96] = "scalar";
            if (out->rank > 0)
                tg_shape_str(out->rank, out->shape, shape, sizeof shape);
            fprintf(f, "<br/><font point-size=\"9\">%lld op%s → %s</font>", (long long)ops_in[g], ops_in[g] == 1 ? "" : "s",
                    shape);
        }
        fputs(">];\n", f);
    }
    /* Inputs that are one sequence sliced per time step (unnamed, no
     * gradient, one shape, all into the same item) are drawn as one node:
     * 50 boxes fanning into a recurrent layer would set the picture's width. */
    int64_t *bundle = malloc(((size_t)w->n_leaves + 1) * 3 * sizeof *bundle);
    if (!bundle) {
        free(last_op), free(ops_in), free(pairs);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    }
    int64_t *leaf_dst = bundle + w->n_leaves + 1, *bundled = leaf_dst + w->n_leaves + 1;
    for (int64_t l = 0; l < w->n_leaves; l++) {
        bundle[l] = l;
        leaf_dst[l] = -1;
        bundled[l] = 1;
    }
    for (int64_t k = 0; k < w->n_ops; k++) {
        const tg_node *node = &ctx->tape[w->op_tape[k]];
        int64_t dst = w->op_group[k] >= 0 ? w->op_group[k] : n_groups + w->n_leaves + k;
        for (int j = 0; j < node->n_in; j++)
            if (node->in[j]->creator < 0) {
                int64_t l = tg_dot_leaf_id(w, node->in[j]);
                leaf_dst[l] = leaf_dst[l] == -1 || leaf_dst[l] == dst ? dst : -2;
            }
    }
    for (int64_t l = 0; l < w->n_leaves; l++) {
        const tg_tensor *t = w->leaves[l];
        if (w->leaf_group[l] >= 0 || t->requires_grad || tg_name_of(t) || leaf_dst[l] < 0 || bundle[l] != l)
            continue;
        for (int64_t m = l + 1; m < w->n_leaves; m++) {
            const tg_tensor *u = w->leaves[m];
            if (w->leaf_group[m] < 0 && !u->requires_grad && !tg_name_of(u) && leaf_dst[m] == leaf_dst[l] &&
                u->rank == t->rank && !memcmp(u->shape, t->shape, (size_t)t->rank * sizeof *t->shape)) {
                bundle[m] = l;
                bundled[l]++;
            }
        }
        if (bundled[l] < 3) { /* two inputs are drawn as they are */
            for (int64_t m = l + 1; m < w->n_leaves; m++)
                if (bundle[m] == l)
                    bundle[m] = m;
            bundled[l] = 1;
        }
    }
    for (int64_t l = 0; l < w->n_leaves; l++) {
        if (w->leaf_group[l] >= 0 || bundle[l] != l)
            continue;
        if (bundled[l] < 3) {
            write_leaf(w, l, 0, -1);
            continue;
        }
        char shape[96] = "scalar";
        const tg_tensor *t = w->leaves[l];
        if (t->rank > 0)
            tg_shape_str(t->rank, t->shape, shape, sizeof shape);
        fprintf(f, "  leaf%lld [shape=box3d, fillcolor=\"%s\", label=<%lld inputs<br/><font point-size=\"9\">%s each"
                   "</font>>];\n", (long long)l, COLOR_INPUT, (long long)bundled[l], shape);
    }
    for (int64_t k = 0; k < w->n_ops; k++) {
        if (w->op_group[k] < 0)
            write_op(w, k);
        if (w->op_is_output[k])
            write_result(w, k);
    }
    int64_t n_pairs = 0;
    for (int64_t k = 0; k < w->n_ops; k++) {
        const tg_node *node = &ctx->tape[w->op_tape[k]];
        int64_t dst = w->op_group[k] >= 0 ? w->op_group[k] : n_groups + w->n_leaves + k;
        for (int j = 0; j < node->n_in; j++) {
            const tg_tensor *in = node->in[j];
            int64_t src;
            if (in->creator >= 0) {
                int64_t c = w->op_id[in->creator];
                src = w->op_group[c] >= 0 ? w->op_group[c] : n_groups + w->n_leaves + c;
            } else {
                int64_t l = bundle[tg_dot_leaf_id(w, in)];
                src = w->leaf_group[l] >= 0 ? w->leaf_group[l] : n_groups + l;
            }
            if (src != dst)
                pairs[n_pairs++] = src * n_items + dst;
        }
    }
    qsort(pairs, (size_t)n_pairs, sizeof *pairs, compare_int64);
    for (int64_t i = 0; i < n_pairs; i++) {
        if (i > 0 && pairs[i] == pairs[i - 1])
            continue;
        int64_t ends[2] = {pairs[i] / n_items, pairs[i] % n_items};
        fputs("  ", f);
        for (int e = 0; e < 2; e++) {
            int64_t item = ends[e];
            if (item < n_groups)
                fprintf(f, "layer%lld", (long long)item);
            else if (item < n_groups + w->n_leaves)
                fprintf(f, "leaf%lld", (long long)(item - n_groups));
            else
                fprintf(f, "op%lld", (long long)(item - n_groups - w->n_leaves));
            fputs(e ? ";\n" : " -> ", f);
        }
    }
    for (int64_t k = 0; k < w->n_ops; k++)
        if (w->op_is_output[k]) {
            if (w->op_group[k] >= 0)
                fprintf(f, "  layer%lld -> t%lld;\n", (long long)w->op_group[k], (long long)k);
            else
                fprintf(f, "  op%lld -> t%lld;\n", (long long)k, (long long)k);
        }
    free(last_op);
    free(ops_in);
    free(pairs);
    free(bundle);
    return write_footer(w);
}

static tg_status write_all(tg_dot_writer *w)
{
    FILE *f = w->f;
    write_header(w);
    /* Nodes bucketed by cluster: -1 first, outside any cluster. A tensor made
     * by an op sits in the op's cluster. */
    int64_t n_groups = w->groups.count;
    int64_t *first = malloc(((size_t)n_groups + 1) * 2 * sizeof *first);
    int64_t *next = malloc(((size_t)(w->n_ops + w->n_leaves) + 1) * sizeof *next);
    if (!first || !next) {
        free(first);
        free(next);
        return tg_ctx_fail(w->ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    }
    int64_t *last = first + n_groups + 1;
    for (int64_t g = 0; g <= n_groups; g++)
        first[g] = last[g] = -1;
    /* items: 0..n_leaves-1 leaves, then ops */
    for (int64_t item = 0; item < w->n_leaves + w->n_ops; item++) {
        int64_t g = 1 + (item < w->n_leaves ? w->leaf_group[item] : w->op_group[item - w->n_leaves]);
        next[item] = -1;
        if (last[g] < 0)
            first[g] = item;
        else
            next[last[g]] = item;
        last[g] = item;
    }
    for (int64_t g = 0; g <= n_groups; g++) {
        if (g > 0) {
            fprintf(f, "  subgraph cluster_%lld {\n  style=\"rounded,filled\"; fillcolor=\"#f7f7f7\"; color=\"#999999\"; "
                       "label=<<b>",
                    (long long)(g - 1));
            tg_markup_put(f, w->groups.items[g - 1].name, w->groups.items[g - 1].length, TG_MARKUP_GRAPHVIZ);
            fputs("</b>>;\n", f);
        }
        for (int64_t item = first[g]; item >= 0; item = next[item]) {
            if (item < w->n_leaves) {
                write_leaf(w, item, 0, -1);
            } else {
                int64_t k = item - w->n_leaves;
                write_op(w, k);
                const tg_node *node = &w->ctx->tape[w->op_tape[k]];
                for (int j = 0; j < node->n_in; j++) { /* tensors used far apart, drawn again beside this use */
                    int64_t e = w->edge_base[k] + j;
                    if (!w->edge_writes_copy[e])
                        continue;
                    if (node->in[j]->creator >= 0)
                        write_result_copy(w, w->op_id[node->in[j]->creator], w->edge_copy[e]);
                    else
                        write_leaf(w, tg_dot_leaf_id(w, node->in[j]), w->edge_copy[e], e);
                }
                if ((!w->op_is_output[k] && !w->boundary[k]) || g == 0) /* outputs and boundaries: outside */
                    write_result(w, k);
            }
        }
        if (g > 0)
            fputs("  }\n", f);
    }
    for (int64_t k = 0; k < w->n_ops; k++)
        if ((w->op_is_output[k] || w->boundary[k]) && w->op_group[k] >= 0)
            write_result(w, k);
    free(first);
    free(next);

    for (int64_t k = 0; k < w->n_ops; k++) {
        const tg_node *node = &w->ctx->tape[w->op_tape[k]];
        for (int j = 0; j < node->n_in; j++) {
            fputs("  ", f);
            write_node_id(f, w, node->in[j], w->edge_copy[w->edge_base[k] + j]);
            fprintf(f, " -> op%lld", (long long)k);
            const tg_tensor *d = w->edge_derivative[w->edge_base[k] + j];
            /* the longest path through the graph (the recurrent chain of an
             * RNN, the layers of an MLP) is kept straight by heavy edges;
             * side branches and leaves hang beside it */
            bool chain = node->in[j]->creator >= 0 && w->consumers[w->op_id[node->in[j]->creator]] == 1;
            /* a side chain (x_t·W_xh of step t) hangs by a heavier edge at its
             * consumer than at a fan-out above it, so it sinks next to its step */
            const char *weight = !chain ? "" : j == w->spine_input[k] ? "weight=8" : "weight=3";
            if (d && (d->size == 1 || (w->max_values >= 0 && d->size <= w->max_values))) {
                fprintf(f, " [%s%sfontcolor=\"%s\", label=<", weight, *weight ? ", " : "", COLOR_DERIVATIVE_TEXT);
                put_values(f, d, w->precision);
                fputs(">]", f);
            } else if (w->o->edge_derivatives && node->out->size > 1 && node->in[j]->requires_grad) {
                /* a vector edge: the VJP as a formula applied to δ */
                char vjp[128];
                tg_tape_entry_vjp_label(w->ctx, w->op_tape[k], j, vjp, sizeof vjp);
                fprintf(f, " [%s%sfontcolor=\"%s\", label=<", weight, *weight ? ", " : "", COLOR_DERIVATIVE_TEXT);
                tg_markup_put_str(f, vjp, TG_MARKUP_GRAPHVIZ);
                fputs(">]", f);
            } else if (*weight) {
                fprintf(f, " [%s]", weight);
            }
            fputs(";\n", f);
        }
        fprintf(f, "  op%lld -> t%lld [weight=8];\n", (long long)k, (long long)k);
    }
    return write_footer(w);
}

tg_status tg_dot_write(FILE *f, int n_outputs, tg_tensor *const *outputs, const tg_dot_options *opts)
{
    return tg_dot_write_named(f, n_outputs, outputs, opts, NULL);
}

void tg_dot_names_free(tg_dot_names *names)
{
    free(names->op_id);
    free(names->leaves);
    *names = (tg_dot_names){0};
}

tg_status tg_dot_write_named(FILE *f, int n_outputs, tg_tensor *const *outputs, const tg_dot_options *opts,
                             tg_dot_names *names)
{
    if (names)
        *names = (tg_dot_names){0};
    if (n_outputs <= 0 || !outputs || !outputs[0])
        return TG_ERR_ARG; /* no context to report on */
    tg_ctx *ctx = outputs[0]->ctx;
    for (int i = 0; i < n_outputs; i++) {
        if (!outputs[i])
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_dot_write: output %d is NULL", i);
        if (outputs[i]->ctx != ctx)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_dot_write: output %d belongs to another context", i);
        if (!tg_check_live("tg_dot_write", outputs[i]))
            return TG_ERR_FREED;
    }
    if (!f)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_dot_write: the FILE is NULL");
    tg_dot_options defaults = {0};
    const tg_dot_options *o = opts ? opts : &defaults;
    tg_tensor *loss = o->grads_of;
    if (loss) {
        if (loss->ctx != ctx)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_dot_write: grads_of belongs to another context");
        if (!tg_check_live("tg_dot_write (grads_of)", loss))
            return TG_ERR_FREED;
        if (loss->size != 1 || !loss->requires_grad)
            return tg_ctx_fail(ctx, TG_ERR_GRAD, "tg_dot_write: grads_of has shape %s%s; expected one element that "
                                                 "requires a gradient",
                               tg_shape_of(loss).s, loss->requires_grad ? "" : " and requires no gradient");
    }

    tg_dot_writer w = {.ctx = ctx, .f = f, .o = o};
    w.precision = o->precision > 0 ? (o->precision < 17 ? o->precision : 17) : 4;
    w.max_values = o->max_values == 0 ? 8 : o->max_values;
    tg_arena_mark mark = tg_arena_get_mark(ctx);
    tg_status status = collect(&w, n_outputs, outputs);
    /* Annotations are computed only while the context is free of errors: the
     * diagram of a failed step still shows its structure. */
    bool healthy = ctx->status == TG_OK && !w.has_freed;
    if (status == TG_OK && healthy && loss)
        status = gradients_of(&w, loss);
    if (status == TG_OK && healthy && o->edge_derivatives)
        status = local_derivatives(&w);
    if (status == TG_OK)
        status = tg_dot_assign_groups(&w);
    if (status == TG_OK)
        status = tg_dot_plan_layout(&w);
    if (status == TG_OK && healthy && loss && !o->per_layer)
        status = use_contributions(&w);
    if (status == TG_OK)
        status = o->per_layer ? write_per_layer(&w) : write_all(&w);
    tg_arena_rewind(ctx, mark);

    if (names && status == TG_OK) { /* handed over, not freed */
        *names = (tg_dot_names){.op_id = w.op_id, .tape_len = ctx->tape_len, .leaves = w.leaves, .n_leaves = w.n_leaves};
        w.op_id = NULL;
        w.leaves = NULL;
    }
    free(w.op_tape);
    free(w.op_id);
    free(w.leaves);
    tg_ptr_map_free(&w.leaf_ids);
    free(w.op_is_output);
    free(w.leaf_is_output);
    free(w.op_grad);
    free(w.leaf_grad);
    free(w.edge_derivative);
    free(w.op_group);
    free(w.leaf_group);
    tg_name_table_free(&w.groups);
    free(w.edge_base);
    free(w.edge_copy);
    free(w.edge_writes_copy);
    free(w.edge_contribution);
    free(w.leaf_first_edge);
    free(w.spine_input);
    free(w.consumers);
    free(w.boundary);
    return status;
}

tg_status tg_dot_save(const char *path, int n_outputs, tg_tensor *const *outputs, const tg_dot_options *opts)
{
    if (n_outputs <= 0 || !outputs || !outputs[0])
        return TG_ERR_ARG;
    tg_ctx *ctx = outputs[0]->ctx;
    if (!path)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_dot_save: the path is NULL");
    FILE *f = fopen(path, "w");
    if (!f)
        return tg_ctx_fail(ctx, TG_ERR_IO, "tg_dot_save: cannot open %s: %s", path, strerror(errno));
    tg_status status = tg_dot_write(f, n_outputs, outputs, opts);
    if (fclose(f) != 0 && status == TG_OK)
        status = tg_ctx_fail(ctx, TG_ERR_IO, "tg_dot_save: cannot write %s: %s", path, strerror(errno));
    return status;
}
