/* Internal to draw/: what the drawing tools share. Not installed.
 *
 * draw/ holds the tools that picture a graph or a run: the tape as Graphviz
 * dot text (dot.c, its layout planner dot_layout.c and hash maps maps.c),
 * the step-through page of a backward pass (page.c), and training curves
 * as SVG (plot.c). They read the tape through autograd/internal.h; nothing
 * in autograd/ calls them. */
#ifndef TAPEGRAD_DRAW_H
#define TAPEGRAD_DRAW_H

#include "autograd/internal.h"
#include "tapegrad/dot.h"

#include <stdio.h>

/* ---- markup (markup.c): the one escaper of every picture ---- */
typedef enum {
    /* Text of HTML or SVG: & < > " ' as entities; tab and newline kept;
     * other control characters, which XML forbids, left out. */
    TG_MARKUP_XML,
    /* A Graphviz HTML-like label: as XML, and a newline becomes <br/>, a tab
     * a space, a backslash &#92;, other control bytes and invalid UTF-8 '?'. */
    TG_MARKUP_GRAPHVIZ,
} tg_markup_style;
/* Writes text[0..length) escaped for style. */
void tg_markup_put(FILE *f, const char *text, size_t length, tg_markup_style style);
/* The same for a NUL-terminated string. */
void tg_markup_put_str(FILE *f, const char *text, tg_markup_style style);

/* ---- hash maps (maps.c) ---- */
/* Tensor pointer -> index, open addressing; sized for n keys, never grown. */
typedef struct {
    tg_tensor **keys;
    int64_t *values;
    size_t mask;
} tg_ptr_map;
bool tg_ptr_map_init(tg_ptr_map *m, size_t n);
void tg_ptr_map_free(tg_ptr_map *m);
/* The slot of key: where it is, or where it goes. */
static inline size_t tg_ptr_map_slot(const tg_ptr_map *m, const tg_tensor *key)
{
    uint64_t x = (uint64_t)(uintptr_t)key;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    size_t i = (size_t)x & m->mask;
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & m->mask;
    return i;
}

/* A cluster's name: a prefix of a tensor name, or a user string. */
typedef struct {
    const char *name; /* not NUL-terminated */
    size_t length;
} tg_name_ref;
/* Names -> index in order of first appearance; room for n names. */
typedef struct {
    tg_name_ref *items;
    int64_t count;
    int64_t *slots; /* hash of names -> index + 1 */
    size_t mask;
} tg_name_table;
bool tg_name_table_init(tg_name_table *g, size_t n);
void tg_name_table_free(tg_name_table *g);
/* Index of the name r, added if new; -1 when r is empty. */
int64_t tg_name_table_index(tg_name_table *g, tg_name_ref r);

/* ---- the diagram writer (dot.c, dot_layout.c) ---- */
typedef struct {
    tg_ctx *ctx;
    FILE *f;
    const tg_dot_options *o;
    int precision;
    int max_values;
    int64_t n_ops;       /* ops in the subgraph */
    int64_t *op_tape;    /* [n_ops] tape index of op k */
    int64_t *op_id;      /* [tape_len] k, or -1 outside the subgraph */
    tg_tensor **leaves;  /* [n_leaves] in order of first use */
    int64_t n_leaves;
    tg_ptr_map leaf_ids;
    bool *op_is_output;  /* [n_ops] */
    bool *leaf_is_output;
    tg_tensor **op_grad; /* [n_ops] ∂L/∂t of op k's result (grads_of) */
    tg_tensor **leaf_grad;
    tg_tensor **edge_derivative; /* [edges] ∂out/∂in[j] of op k at edge_base[k] + j */
    int64_t *op_group, *leaf_group; /* cluster index or -1 */
    tg_name_table groups;
    char separator;      /* group_separator, or '.' found in names */
    bool has_freed;      /* a leaf was freed after use: draw it, compute nothing */
    /* layout (plan_layout) */
    bool top_to_bottom;
    int *spine_input;    /* [n_ops] the input on op k's longest path back, -1: none (a heavy edge) */
    int64_t *consumers;  /* [n_ops] how many drawn edges start at op k's result */
    bool *boundary;      /* [n_ops] op k's result feeds another cluster: drawn between clusters */
    int64_t *edge_base;  /* [n_ops + 1] edges of op k: edge_base[k] + j */
    int32_t *edge_copy;  /* [edges] which drawing of a leaf input the edge starts at (0: the leaf's own) */
    bool *edge_writes_copy; /* [edges] this edge's copy is written beside op k */
    /* A leaf drawn once per use (a weight shared by time steps), with
     * grads_of: what each use contributes to its gradient, shown on that
     * use's drawing; the total is shown once, on the leaf's own drawing. */
    tg_tensor **edge_contribution; /* [edges] or NULL */
    int64_t *leaf_first_edge;      /* [n_leaves] the edge of copy 0, -1: not drawn per use */
} tg_dot_writer;
static inline int64_t tg_dot_leaf_id(const tg_dot_writer *w, const tg_tensor *t)
{
    return w->leaf_ids.values[tg_ptr_map_slot(&w->leaf_ids, t)];
}
/* Pass 3c: the cluster of every op and leaf (op_group, leaf_group, groups),
 * and consumers. */
tg_status tg_dot_assign_groups(tg_dot_writer *w);
/* Pass 3d: rankdir, heavy edges (spine_input), copies of tensors used far
 * apart (edge_copy, edge_writes_copy) and results between clusters (boundary). */
tg_status tg_dot_plan_layout(tg_dot_writer *w);

/* The node names a drawing chose: op k is "op<k>" and its result "t<k>", leaf
 * k is "leaf<k>" (copies of a shared parameter "leaf<k>_u<j>"). The page
 * (page.c) finds its steps in the picture by them. */
typedef struct {
    int64_t *op_id;           /* [tape_len] k, or -1 for entries not drawn */
    int64_t tape_len;
    tg_tensor **leaves;       /* [n_leaves] */
    int64_t n_leaves;
} tg_dot_names;
/* tg_dot_write, handing back the names in names (free with tg_dot_names_free). */
tg_status tg_dot_write_named(FILE *f, int n_outputs, tg_tensor *const *outputs, const tg_dot_options *opts,
                             tg_dot_names *names);
void tg_dot_names_free(tg_dot_names *names);

#endif
