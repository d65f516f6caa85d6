/* tapegrad/dot.h: the tape as a Graphviz diagram.
 *
 * The writer walks the tape back from the outputs you name and writes the
 * subgraph that reaches them as dot text. Render it with Graphviz:
 * `dot -Tsvg graph.dot -o graph.svg` (the library never runs a program).
 *
 *     tg_backward(loss);
 *     tg_dot_options opts = {.grads_of = loss, .edge_derivatives = true};
 *     tg_dot_save("loss.dot", 1, &loss, &opts);
 *
 * What the diagram shows:
 *  - one node per op (yellow ellipse, its label from the op registry:
 *    "sigmoid", "x·0.5", "matmul(A·Bᵀ)") and one per tensor (a box with its
 *    name, shape, values when small and gradient when known);
 *  - tensors by role: inputs (grey: leaves that need no gradient), parameters
 *    (blue: leaves that require one), intermediates (white), the outputs
 *    drawn (red, double border); ops of a gradient computation recorded with
 *    tg_grad(..., create_graph = true) can be shaded orange (gradient_ops_from);
 *  - with edge_derivatives, each edge into an op whose output has one element
 *    carries the op's local derivative ∂out/∂in at the current values (the
 *    op's own backward rule run with upstream 1, so no op is special-cased).
 *    In a scalar graph the gradient at any node is then the sum over the paths
 *    to the output of the products of the edge labels: the chain rule, drawn.
 *
 * Node names are stable (op0, op1, ... in tape order within the subgraph;
 * leaf0, leaf1, ... in order of first use), so diagrams of the same program
 * diff cleanly. Labels are escaped (quotes, backslashes, <, >, &, newlines);
 * UTF-8 is kept.
 */
#ifndef TAPEGRAD_DOT_H
#define TAPEGRAD_DOT_H

#include <stdio.h>

#include "tapegrad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Names the cluster a tensor is drawn in (NULL: none decided). The returned
 * string must stay valid until the writer returns. */
typedef const char *(*tg_dot_group_fn)(const tg_tensor *t, void *user);

/* Every field's zero value is its default, so {0} or NULL options work:
 * values of tensors with up to 8 elements, leaves' .grad when they have one,
 * 4 significant digits, clusters from names with a '.', left to right unless
 * the graph is much deeper than wide. A leaf used far apart (a weight shared
 * by several clusters or time steps) is drawn once beside each use site, so
 * its edges stay short; with grads_of, each drawing of a leaf drawn per use
 * shows what that use adds to its gradient ("this use"), and the first one
 * also the total. Captions wrap at 84 characters a line. */
typedef struct {
    const char *title;       /* a caption under the diagram; NULL: none */
    int max_values;          /* show values of tensors with at most this many elements;
                                0: 8; negative: never */
    int precision;           /* significant digits of numbers; 0: 4 */
    bool hide_grads;         /* do not show gradients */
    /* A one-element tensor L: every tensor node shows ∂L/∂t, intermediates too,
     * computed for the diagram by tg_grad (no .grad is touched, hooks do not run,
     * step memory used is given back). NULL: leaves show their .grad. */
    tg_tensor *grads_of;
    bool edge_derivatives;   /* label edges with local derivatives (see above) */
    /* Ops at tape index >= this are drawn as the gradient computation (take
     * tg_tape_length before calling tg_grad with create_graph); 0: none. */
    int64_t gradient_ops_from;
    /* Clusters: a tensor named "layer1.weight" goes in cluster "layer1" when
     * group_separator is '.'; group, when set, decides instead. An op joins the
     * cluster of its named output, else of its first parameter input, else of
     * its first input in a cluster; its output follows it. The drawn outputs stay
     * outside. */
    char group_separator;
    tg_dot_group_fn group;
    void *group_user;
    /* Layout: left to right, unless the graph is much deeper than wide (an
     * unrolled RNN, a deep chain), where top to bottom keeps it within a
     * screen's width. These force one or the other. */
    bool top_to_bottom;
    bool left_to_right;
    /* Without group or group_separator, tensor names with a '.' give clusters
     * ("layer1.weight" -> "layer1"); this turns that off. */
    bool no_clusters;
    /* One node per cluster (layer) instead of one per op and tensor: the
     * layer's parameters with their shapes and gradient norms, and the shape
     * of what it outputs. For big models. Ops outside any cluster stay ops. */
    bool per_layer;
} tg_dot_options;

/* Writes the subgraph reaching outputs[0..n_outputs) as dot text to f.
 * opts may be NULL. Errors (also set on the outputs' context): TG_ERR_ARG for
 * NULL f, no outputs, a NULL output or outputs of two contexts; TG_ERR_FREED for
 * a freed output; TG_ERR_GRAD when grads_of has more than one element or does
 * not require a gradient; TG_ERR_IO when writing fails; TG_ERR_NOMEM. */
TG_API tg_status tg_dot_write(FILE *f, int n_outputs, tg_tensor *const *outputs, const tg_dot_options *opts);
/* The same into the file at path (created or truncated); TG_ERR_IO when it
 * cannot be opened or written. */
TG_API tg_status tg_dot_save(const char *path, int n_outputs, tg_tensor *const *outputs, const tg_dot_options *opts);

/* ---- the backward pass, step by step, as a web page ----
 *
 *     tg_backward_set_recording(ctx, true);
 *     tg_backward(loss);
 *     tg_backward_page_save("backward.html", loss, NULL);
 *
 * The page is one self-contained HTML file (no network needed to view it): the
 * graph as SVG and a few lines of script. The reader steps through backward
 * one tape entry at a time, forward and back (buttons, arrow keys, or
 * #step=N in the address): the op whose output's δ just arrived is
 * highlighted, the panel shows that δ, each input edge's local derivative
 * (its VJP formula, and its value for a one-element output) and the product
 * sent back along the edge to its input; an input used more than once (a
 * fan-out: b = a + a, a weight shared by time steps) shows its gradient so
 * far as the sum it is, "earlier + this contribution = total"; leaves turn
 * green and show their gradient once their last contribution is in. Every number is the tape's, logged while
 * tg_backward ran, not recomputed in the page.
 *
 * To draw the SVG the call runs Graphviz's `dot` (posix_spawnp, searched on
 * PATH, waited for): the only place the library runs a program. The log is
 * kept by tg_backward while tg_backward_set_recording (tapegrad/core.h) is on. */

/* A line of the reader's own notation, shown in the panel at the step where
 * tensor's δ arrives (the step that runs the op which made it), or beside a
 * leaf's gradient once it is complete: the course's formula with its
 * numbers, say, beside the tape's value. The text is plain UTF-8 (escaped by
 * the page); it must stay valid until tg_backward_page_save returns. */
typedef struct {
    const tg_tensor *tensor;
    const char *text;
} tg_page_note;

typedef struct {
    /* The drawing: title, clusters, layout, number format (grads_of,
     * hide_grads, edge_derivatives and per_layer are set by the page). */
    tg_dot_options diagram;
    /* More tape entries than this are not stepped through: the page shows the
     * per-layer view and says so. 0: 500. */
    int64_t max_steps;
    /* notes[0..n_notes): the reader's notation beside the tape's numbers (see
     * tg_page_note); NULL entries and notes for tensors not drawn are skipped. */
    const tg_page_note *notes;
    int n_notes;
    /* A glossary shown under the panel, plain UTF-8, one paragraph per line:
     * what the page's symbols mean in the reader's course. NULL: none. */
    const char *glossary;
} tg_page_options;

/* Writes the step-through page of the last recorded backward from output to
 * path (NAME.html; NAME.dot is written beside it and kept). opts may be NULL.
 * Errors (also set on output's context): TG_ERR_ARG for a NULL output or
 * path; TG_ERR_FREED for a freed output; TG_ERR_GRAD when no backward from
 * output was recorded since the last tg_tape_reset (or it failed); TG_ERR_IO
 * when a file cannot be written, or when Graphviz's dot is not on PATH or
 * fails (the .dot file is written all the same); TG_ERR_NOMEM. */
TG_API tg_status tg_backward_page_save(const char *path, tg_tensor *output, const tg_page_options *opts);

#ifdef __cplusplus
}
#endif
#endif
