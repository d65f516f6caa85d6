/* tools/wasm/layered_layout.h: a layered (Sugiyama-style) drawing of a small
 * DAG, left to right, computed in C so that the live page needs no Graphviz.
 *
 *   1. layers: ops as early as their inputs allow, or as late as their
 *      consumers allow (whichever draws with fewer crossings and bends); a
 *      source (a leaf) just before its nearest consumer;
 *   2. an edge spanning several layers gets a bend point per layer crossed;
 *   3. the order within each layer: barycenter sweeps and swaps of
 *      neighbours, keeping the order with the fewest crossings seen;
 *   4. heights: each node pulled towards its neighbours' mean, the layer's
 *      order and a minimum gap kept.
 * Not part of the library: the page's builder (tools/wasm/live.c) uses it. */
#ifndef TAPEGRAD_TOOLS_WASM_LAYERED_LAYOUT_H
#define TAPEGRAD_TOOLS_WASM_LAYERED_LAYOUT_H

#include <stdbool.h>

enum { LIVE_LAYOUT_MAX_NODES = 256 }; /* nodes and bend points together */

typedef struct {
    int n_nodes;
    int n_edges;
    const int *edge_from, *edge_to; /* [n_edges], a DAG: from is computed before to */
} live_graph;

typedef struct {
    int layer[LIVE_LAYOUT_MAX_NODES];            /* per node, 0 = leftmost */
    double x[LIVE_LAYOUT_MAX_NODES], y[LIVE_LAYOUT_MAX_NODES]; /* node centres */
    /* edge e bends at points [point_start[e], point_start[e + 1]) */
    int point_start[LIVE_LAYOUT_MAX_NODES + 1];
    double point_x[LIVE_LAYOUT_MAX_NODES], point_y[LIVE_LAYOUT_MAX_NODES];
    int n_layers;
    int crossings;                               /* edge crossings left */
    double width, height;
} live_layout;

/* Lays g out with layers layer_gap apart and rows at least row_gap apart.
 * false when g has more nodes and bend points than LIVE_LAYOUT_MAX_NODES
 * or an edge that does not go forward (from >= to). */
bool live_layout_compute(const live_graph *g, double layer_gap, double row_gap, live_layout *out);

#endif
