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
 * 4 significant digits, left to right, no clusters. */
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
    bool top_to_bottom;      /* rankdir TB instead of LR */
} tg_dot_options;

/* Writes the subgraph reaching outputs[0..n_outputs) as dot text to f.
 * opts may be NULL. Errors (also set on the outputs' context): TG_ERR_ARG for
 * NULL f, no outputs, a NULL output or outputs of two contexts; TG_ERR_FREED for
 * a freed output; TG_ERR_GRAD when grads_of has more than one element or does
 * not require a gradient; TG_ERR_IO when writing fails; TG_ERR_NOMEM. */
tg_status tg_dot_write(FILE *f, int n_outputs, tg_tensor *const *outputs, const tg_dot_options *opts);
/* The same into the file at path (created or truncated); TG_ERR_IO when it
 * cannot be opened or written. */
tg_status tg_dot_save(const char *path, int n_outputs, tg_tensor *const *outputs, const tg_dot_options *opts);

#ifdef __cplusplus
}
#endif
#endif
