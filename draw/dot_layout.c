/* The diagram's layout (pass 3 of dot.c, after the numbers): which cluster
 * each op and leaf sits in, the direction of the drawing, heavy edges along
 * the longest path, and where a tensor used far apart is drawn again. It
 * decides; dot.c writes. */
#include "draw/draw.h"

#include <stdlib.h>
#include <string.h>

static tg_name_ref tensor_group(const tg_dot_writer *w, const tg_tensor *t)
{
    tg_name_ref r = {NULL, 0};
    if (w->o->group) {
        r.name = w->o->group(t, w->o->group_user);
        r.length = r.name ? strlen(r.name) : 0;
    } else if (w->separator && tg_name_of(t)) {
        const char *cut = strrchr(tg_name_of(t), w->separator);
        if (cut)
            r = (tg_name_ref){tg_name_of(t), (size_t)(cut - tg_name_of(t))};
    }
    return r;
}

/* Pass 3c: clusters. */
tg_status tg_dot_assign_groups(tg_dot_writer *w)
{
    if (!tg_name_table_init(&w->groups, (size_t)(w->n_ops + w->n_leaves)))
        return tg_ctx_fail(w->ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    /* No grouping asked for: names like "layer1.weight" give clusters anyway. */
    w->separator = w->o->group_separator;
    for (int64_t k = 0; k < w->n_leaves && !w->o->group && !w->separator && !w->o->no_clusters; k++)
        if (w->leaves[k]->lifetime != TG_LIFE_FREED && tg_name_of(w->leaves[k]) && strchr(tg_name_of(w->leaves[k]), '.'))
            w->separator = '.';
    bool grouping = w->o->group || w->separator;
    w->consumers = calloc((size_t)w->n_ops + 1, sizeof *w->consumers);
    if (!w->consumers)
        return tg_ctx_fail(w->ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    for (int64_t k = 0; k < w->n_ops; k++) {
        const tg_node *node = &w->ctx->tape[w->op_tape[k]];
        for (int j = 0; j < node->n_in; j++)
            if (node->in[j]->creator >= 0)
                w->consumers[w->op_id[node->in[j]->creator]]++;
    }
    for (int64_t k = 0; k < w->n_leaves; k++)
        w->leaf_group[k] = grouping && !w->leaf_is_output[k] ? tg_name_table_index(&w->groups, tensor_group(w, w->leaves[k]))
                                                             : -1;
    for (int64_t k = 0; k < w->n_ops; k++) {
        w->op_group[k] = -1;
        if (!grouping)
            continue;
        const tg_node *node = &w->ctx->tape[w->op_tape[k]];
        int64_t g = tg_name_table_index(&w->groups, tensor_group(w, node->out));
        for (int j = 0; j < node->n_in && g < 0; j++) /* a parameter's cluster */
            if (node->in[j]->creator < 0 && node->in[j]->requires_grad)
                g = w->leaf_group[tg_dot_leaf_id(w, node->in[j])];
        /* A one-element result computed from a layer's output, with no
         * parameter of its own, is a loss (or a metric), not part of the
         * layer: it stays out of the "head" cluster, and so do the ops after it. */
        bool loss_like = g < 0 && node->out->size == 1;
        for (int j = 0; j < node->n_in && g < 0 && !loss_like; j++) { /* an input's cluster, unless the input fans out */
            tg_tensor *in = node->in[j];
            if (in->creator < 0)
                g = w->leaf_group[tg_dot_leaf_id(w, in)];
            else if (w->consumers[w->op_id[in->creator]] == 1) /* (a time step's slice of a sequence stays out) */
                g = w->op_group[w->op_id[in->creator]];
        }
        w->op_group[k] = g;
    }
    return TG_OK;
}

/* Pass 3d: layout. rankdir: left to right unless the graph is much deeper
 * than it is wide, where top to bottom keeps it within a screen's width.
 * Long edges: a leaf used far apart (in several clusters, or several ranks
 * apart) is drawn once per use site, so a shared weight does not pull edges
 * across the whole picture. */
enum { LAYOUT_WIDTH_PT = 660, RANK_PT_LR = 120, NODE_PT_TB = 110, COPY_SPAN_RANKS = 3 };

tg_status tg_dot_plan_layout(tg_dot_writer *w)
{
    tg_ctx *ctx = w->ctx;
    int64_t n_ops = w->n_ops, n_edges = w->edge_base[n_ops];
    int64_t *rank = malloc(((size_t)n_ops + 1) * sizeof *rank);
    w->spine_input = malloc(((size_t)n_ops + 1) * sizeof *w->spine_input);
    if (!rank || !w->spine_input) {
        free(rank);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    }
    int64_t depth = 0;
    for (int64_t k = 0; k < n_ops; k++) { /* tape order is a topological order */
        const tg_node *node = &ctx->tape[w->op_tape[k]];
        rank[k] = 0;
        w->spine_input[k] = -1;
        for (int j = 0; j < node->n_in; j++)
            if (node->in[j]->creator >= 0 && rank[w->op_id[node->in[j]->creator]] + 1 > rank[k]) {
                rank[k] = rank[w->op_id[node->in[j]->creator]] + 1;
                w->spine_input[k] = j;
            }
        depth = rank[k] + 1 > depth ? rank[k] + 1 : depth;
    }
    /* As late as possible: depth - 1 - the longest path down to an output.
     * A leaf's uses far apart in this rank (x_t·W_xh of an unrolled RNN sits
     * next to step t's add, wherever the data allows it) are drawn apart. */
    int64_t *late = malloc(((size_t)n_ops + 1) * sizeof *late);
    if (!late) {
        free(rank);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    }
    for (int64_t k = 0; k < n_ops; k++)
        late[k] = 0; /* height: longest path to an output */
    for (int64_t k = n_ops - 1; k >= 0; k--) {
        const tg_node *node = &ctx->tape[w->op_tape[k]];
        for (int j = 0; j < node->n_in; j++)
            if (node->in[j]->creator >= 0) {
                int64_t c = w->op_id[node->in[j]->creator];
                late[c] = late[k] + 1 > late[c] ? late[k] + 1 : late[c];
            }
    }
    for (int64_t k = 0; k < n_ops; k++)
        late[k] = depth - 1 - late[k];
    w->edge_copy = calloc((size_t)n_edges + 1, sizeof *w->edge_copy);
    w->edge_writes_copy = calloc((size_t)n_edges + 1, sizeof *w->edge_writes_copy);
    int64_t *per_rank = calloc((size_t)depth + 1, sizeof *per_rank);
    int64_t *first_use = malloc(((size_t)w->n_leaves + 1) * sizeof *first_use);
    int64_t *lo = malloc(((size_t)w->n_leaves + 1) * 2 * sizeof *lo), *hi = lo ? lo + w->n_leaves + 1 : NULL;
    if (!w->edge_copy || !w->edge_writes_copy || !per_rank || !first_use || !lo) {
        free(rank);
        free(late);
        free(per_rank);
        free(first_use);
        free(lo);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    }
    /* span of each leaf's uses, in op ranks and in clusters */
    bool grouping = w->o->group || w->separator;
    for (int64_t l = 0; l < w->n_leaves; l++) {
        lo[l] = INT64_MAX;
        hi[l] = -1;
        first_use[l] = -1;
    }
    bool *split = calloc((size_t)w->n_leaves + 1, sizeof *split);
    if (!split) {
        free(rank), free(late), free(per_rank), free(first_use), free(lo);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    }
    for (int64_t k = 0; k < n_ops; k++) {
        const tg_node *node = &ctx->tape[w->op_tape[k]];
        per_rank[rank[k]]++;
        for (int j = 0; j < node->n_in; j++) {
            if (node->in[j]->creator >= 0)
                continue;
            int64_t l = tg_dot_leaf_id(w, node->in[j]);
            lo[l] = late[k] < lo[l] ? late[k] : lo[l];
            hi[l] = late[k] > hi[l] ? late[k] : hi[l];
            if (first_use[l] < 0)
                first_use[l] = k;
            else if (grouping && w->op_group[k] != w->op_group[first_use[l]])
                split[l] = true;
        }
    }
    /* far apart in rank: a copy per use; in several clusters: a copy per cluster */
    bool *per_use = calloc((size_t)w->n_leaves + 1, sizeof *per_use);
    if (!per_use) {
        free(rank), free(late), free(per_rank), free(first_use), free(lo), free(split);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    }
    for (int64_t l = 0; l < w->n_leaves; l++) {
        per_use[l] = !w->leaf_is_output[l] && hi[l] - lo[l] > COPY_SPAN_RANKS;
        split[l] = !w->leaf_is_output[l] && (split[l] || per_use[l]);
    }
    /* A cluster whose parameters are used far apart is a recurrent layer
     * unrolled in time: one box around every time step would pull them all
     * together, so its ops and leaves are drawn unclustered, like an RNN
     * built by hand (the per-layer view keeps it). */
    if (grouping && !w->o->per_layer) {
        bool *dissolve = calloc((size_t)w->groups.count + 1, sizeof *dissolve);
        if (!dissolve) {
            free(rank), free(late), free(per_rank), free(first_use), free(lo), free(split), free(per_use);
            return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
        }
        for (int64_t l = 0; l < w->n_leaves; l++)
            if (per_use[l] && w->leaf_group[l] >= 0)
                dissolve[w->leaf_group[l]] = true;
        for (int64_t l = 0; l < w->n_leaves; l++)
            if (w->leaf_group[l] >= 0 && dissolve[w->leaf_group[l]])
                w->leaf_group[l] = -1;
        for (int64_t k = 0; k < n_ops; k++)
            if (w->op_group[k] >= 0 && dissolve[w->op_group[k]])
                w->op_group[k] = -1;
        free(dissolve);
    }
    for (int64_t l = 0; l < w->n_leaves; l++)
        if (split[l] && grouping) /* the leaf's own drawing sits where it is first used */
            w->leaf_group[l] = w->op_group[first_use[l]];
    /* copies: one per cluster (grouping) or per use (no clusters) */
    int32_t *n_copies = calloc((size_t)w->n_leaves + 1, sizeof *n_copies);
    if (!n_copies) {
        free(rank), free(late), free(per_rank), free(first_use), free(lo), free(split), free(per_use);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    }
    for (int64_t l = 0; l < w->n_leaves; l++)
        n_copies[l] = 1;
    /* (leaf, cluster) -> copy, open addressing */
    size_t pair_mask = 15;
    while (pair_mask + 1 < 2 * (size_t)n_edges + 2)
        pair_mask = pair_mask * 2 + 1;
    int64_t *pair_keys = malloc((pair_mask + 1) * sizeof *pair_keys);
    int32_t *pair_copy = malloc((pair_mask + 1) * sizeof *pair_copy);
    if (!pair_keys || !pair_copy) {
        free(rank), free(late), free(per_rank), free(first_use), free(lo), free(split), free(n_copies), free(pair_keys), free(pair_copy);
        free(per_use);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    }
    memset(pair_keys, 0xFF, (pair_mask + 1) * sizeof *pair_keys); /* -1: empty */
    for (int64_t k = 0; k < n_ops; k++) {
        const tg_node *node = &ctx->tape[w->op_tape[k]];
        for (int j = 0; j < node->n_in; j++) {
            int64_t e = w->edge_base[k] + j;
            if (node->in[j]->creator >= 0)
                continue;
            int64_t l = tg_dot_leaf_id(w, node->in[j]);
            if (!split[l] || k == first_use[l])
                continue;
            if (per_use[l]) {
                w->edge_copy[e] = n_copies[l]++;
                w->edge_writes_copy[e] = true;
                continue;
            }
            if (w->op_group[k] == w->op_group[first_use[l]])
                continue; /* the leaf's own drawing is in this cluster */
            /* the first edge of this leaf into this cluster makes the copy */
            int64_t key = l * (w->groups.count + 2) + w->op_group[k] + 1;
            size_t slot = (size_t)key * 0x9E3779B97F4A7C15ULL & pair_mask;
            while (pair_keys[slot] >= 0 && pair_keys[slot] != key)
                slot = (slot + 1) & pair_mask;
            if (pair_keys[slot] == key) {
                w->edge_copy[e] = pair_copy[slot];
            } else {
                pair_keys[slot] = key;
                pair_copy[slot] = w->edge_copy[e] = n_copies[l]++;
                w->edge_writes_copy[e] = true;
            }
        }
    }
    /* op results used far apart (a sequence sliced into time steps, each
     * step's output collected at the end): drawn again, dashed, beside each
     * far use. Reuses lo, hi and first_use, sized for n_ops here. */
    int64_t *res_lo = malloc(((size_t)n_ops + 1) * 3 * sizeof *res_lo);
    int32_t *res_copies = malloc(((size_t)n_ops + 1) * sizeof *res_copies);
    if (!res_lo || !res_copies) {
        free(rank), free(late), free(per_rank), free(first_use), free(lo), free(split), free(n_copies);
        free(pair_keys), free(pair_copy), free(per_use), free(res_lo), free(res_copies);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    }
    int64_t *res_hi = res_lo + n_ops + 1, *res_first = res_hi + n_ops + 1;
    for (int64_t c = 0; c < n_ops; c++) {
        res_lo[c] = INT64_MAX;
        res_hi[c] = res_first[c] = -1;
        res_copies[c] = 1;
    }
    for (int64_t k = 0; k < n_ops; k++) {
        const tg_node *node = &ctx->tape[w->op_tape[k]];
        for (int j = 0; j < node->n_in; j++) {
            if (node->in[j]->creator < 0)
                continue;
            int64_t c = w->op_id[node->in[j]->creator];
            res_lo[c] = late[k] < res_lo[c] ? late[k] : res_lo[c];
            res_hi[c] = late[k] > res_hi[c] ? late[k] : res_hi[c];
            if (res_first[c] < 0)
                res_first[c] = k;
        }
    }
    for (int64_t k = 0; k < n_ops; k++) {
        const tg_node *node = &ctx->tape[w->op_tape[k]];
        for (int j = 0; j < node->n_in; j++) {
            if (node->in[j]->creator < 0)
                continue;
            int64_t c = w->op_id[node->in[j]->creator], e = w->edge_base[k] + j;
            if (!w->op_is_output[c] && res_hi[c] - res_lo[c] > COPY_SPAN_RANKS && k != res_first[c]) {
                w->edge_copy[e] = res_copies[c]++;
                w->edge_writes_copy[e] = true;
            }
        }
    }
    free(res_lo);
    free(res_copies);
    int64_t breadth = 1;
    for (int64_t r = 0; r < depth; r++)
        breadth = per_rank[r] > breadth ? per_rank[r] : breadth;
    /* an LR column holds an op and its result: two ranks per op rank */
    int64_t lr_width = 2 * depth * RANK_PT_LR, tb_width = 2 * breadth * NODE_PT_TB;
    w->top_to_bottom = w->o->top_to_bottom ||
                       (!w->o->left_to_right && lr_width > LAYOUT_WIDTH_PT && tb_width < lr_width);
    free(rank);
    free(late);
    free(per_rank);
    free(first_use);
    free(lo);
    free(split);
    free(n_copies);
    free(pair_keys);
    free(pair_copy);
    free(per_use);
    /* results feeding another cluster sit between the clusters, so that
     * consecutive layers stack instead of overlapping in rank */
    w->boundary = calloc((size_t)n_ops + 1, sizeof *w->boundary);
    if (!w->boundary)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dot_write: out of memory");
    for (int64_t k = 0; k < n_ops; k++) {
        const tg_node *node = &ctx->tape[w->op_tape[k]];
        for (int j = 0; j < node->n_in; j++)
            if (node->in[j]->creator >= 0) {
                int64_t c = w->op_id[node->in[j]->creator];
                w->boundary[c] |= w->op_group[c] >= 0 && w->op_group[c] != w->op_group[k];
            }
    }
    return TG_OK;
}

