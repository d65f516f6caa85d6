/* A layered drawing of a small DAG (tools/wasm/layered_layout.h). Graphs of
 * at most a few hundred vertices: the quadratic crossing count is cheap. */
#include "tools/wasm/layered_layout.h"

#include <string.h>

enum { MAX_V = LIVE_LAYOUT_MAX_NODES, SWEEPS = 12 };

/* Vertices are the nodes, then the bend points (dummies); a segment joins
 * vertices of adjacent layers. */
typedef struct {
    int n_vertices, n_segments, n_layers;
    int layer[MAX_V];
    int seg_left[2 * MAX_V], seg_right[2 * MAX_V];
    int order[MAX_V];  /* vertices sorted by (layer, position) */
    int first[MAX_V + 1]; /* layer l is order[first[l] .. first[l + 1]) */
    double pos[MAX_V]; /* position of a vertex within its layer */
    double y[MAX_V];
    int crossings;
} work;

static int crossings_between(const work *w, int left_layer)
{
    int count = 0;
    for (int a = 0; a < w->n_segments; a++) {
        if (w->layer[w->seg_left[a]] != left_layer)
            continue;
        for (int b = a + 1; b < w->n_segments; b++) {
            if (w->layer[w->seg_left[b]] != left_layer)
                continue;
            double dl = w->pos[w->seg_left[a]] - w->pos[w->seg_left[b]];
            double dr = w->pos[w->seg_right[a]] - w->pos[w->seg_right[b]];
            count += dl * dr < 0;
        }
    }
    return count;
}

static int crossings(const work *w)
{
    int count = 0;
    for (int l = 0; l + 1 < w->n_layers; l++)
        count += crossings_between(w, l);
    return count;
}

/* Stable insertion sort of layer l's vertices by key (few per layer). */
static void sort_layer(work *w, int l, const double *key)
{
    int *v = w->order + w->first[l], n = w->first[l + 1] - w->first[l];
    for (int i = 1; i < n; i++) {
        int x = v[i], j = i;
        while (j > 0 && key[v[j - 1]] > key[x]) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    for (int i = 0; i < n; i++)
        w->pos[v[i]] = i;
}

/* Layer l reordered by the mean position of its neighbours in layer
 * l - 1 (from_left) or l + 1; a vertex with none keeps its place. */
static void barycenter(work *w, int l, bool from_left)
{
    double sum[MAX_V], key[MAX_V];
    int n[MAX_V];
    for (int i = w->first[l]; i < w->first[l + 1]; i++)
        sum[w->order[i]] = 0, n[w->order[i]] = 0;
    for (int s = 0; s < w->n_segments; s++) {
        int mine = from_left ? w->seg_right[s] : w->seg_left[s], other = from_left ? w->seg_left[s] : w->seg_right[s];
        if (w->layer[mine] == l) {
            sum[mine] += w->pos[other];
            n[mine]++;
        }
    }
    for (int i = w->first[l]; i < w->first[l + 1]; i++) {
        int v = w->order[i];
        key[v] = n[v] ? sum[v] / n[v] : w->pos[v];
    }
    sort_layer(w, l, key);
}

/* Swaps neighbours within layers while a swap removes crossings with the
 * layers on both sides (the barycenter's ties and near misses). */
static void transpose(work *w)
{
    for (int round = 0, improved = 1; improved && round < 8; round++) {
        improved = 0;
        for (int l = 0; l < w->n_layers; l++)
            for (int i = w->first[l]; i + 1 < w->first[l + 1]; i++) {
                int a = w->order[i], b = w->order[i + 1];
                int before = (l > 0 ? crossings_between(w, l - 1) : 0) + crossings_between(w, l);
                w->pos[a] += 1, w->pos[b] -= 1;
                int after = (l > 0 ? crossings_between(w, l - 1) : 0) + crossings_between(w, l);
                if (after < before) {
                    w->order[i] = b, w->order[i + 1] = a;
                    improved = 1;
                } else {
                    w->pos[a] -= 1, w->pos[b] += 1;
                }
            }
    }
}

/* Heights: each vertex pulled to its neighbours' mean height, then the
 * layer's order restored with gaps of at least gap, centred on where the
 * pulls wanted the layer to be. */
static void place_heights(work *w, double gap)
{
    for (int v = 0; v < w->n_vertices; v++)
        w->y[v] = w->pos[v] * gap;
    for (int round = 0; round < 24; round++) {
        double want[MAX_V], sum[MAX_V];
        int n[MAX_V];
        for (int v = 0; v < w->n_vertices; v++)
            sum[v] = 0, n[v] = 0;
        for (int s = 0; s < w->n_segments; s++) {
            int a = w->seg_left[s], b = w->seg_right[s];
            sum[a] += w->y[b], n[a]++;
            sum[b] += w->y[a], n[b]++;
        }
        for (int v = 0; v < w->n_vertices; v++)
            want[v] = n[v] ? sum[v] / n[v] : w->y[v];
        for (int l = 0; l < w->n_layers; l++) {
            const int *v = w->order + w->first[l];
            int count = w->first[l + 1] - w->first[l];
            if (count == 0)
                continue;
            /* top down, no closer than gap; then shift the layer so that
             * its mean stays where the pulls put it */
            double placed[MAX_V], mean_want = 0, mean_placed = 0;
            for (int i = 0; i < count; i++) {
                placed[i] = i == 0 || want[v[i]] > placed[i - 1] + gap ? want[v[i]] : placed[i - 1] + gap;
                mean_want += want[v[i]];
                mean_placed += placed[i];
            }
            double shift = (mean_want - mean_placed) / count;
            for (int i = 0; i < count; i++)
                w->y[v[i]] = placed[i] + shift;
        }
    }
}

/* Steps 1 to 3 with ops as early (longest path from the sources) or as late
 * as their consumers allow; sources always just before their nearest
 * consumer. False when the bend points do not fit. */
static bool arrange(const live_graph *g, bool as_late_as_possible, work *w, int *point_start)
{
    memset(w, 0, sizeof *w);
    int n = g->n_nodes;
    /* 1. layers: the longest path from the sources ... */
    for (int v = 0; v < n; v++) /* edges go forward, so node order is a topological order */
        for (int e = 0; e < g->n_edges; e++)
            if (g->edge_to[e] == v && w->layer[g->edge_from[e]] + 1 > w->layer[v])
                w->layer[v] = w->layer[g->edge_from[e]] + 1;
    /* ... then each node one before its nearest consumer (every node when
     * as late as possible, else the sources), the nodes nobody uses in the
     * last layer; in reverse node order, a reverse topological order */
    bool has_input[MAX_V] = {false};
    for (int e = 0; e < g->n_edges; e++)
        has_input[g->edge_to[e]] = true;
    int last = 0;
    for (int v = 0; v < n; v++)
        last = w->layer[v] > last ? w->layer[v] : last;
    for (int v = n - 1; v >= 0; v--) {
        if (has_input[v] && !as_late_as_possible)
            continue;
        int nearest = -1;
        for (int e = 0; e < g->n_edges; e++)
            if (g->edge_from[e] == v && (nearest < 0 || w->layer[g->edge_to[e]] < nearest))
                nearest = w->layer[g->edge_to[e]];
        w->layer[v] = nearest >= 1 ? nearest - 1 : last; /* a consumer is in layer 1 or later */
    }
    for (int v = 0; v < n; v++)
        if (w->layer[v] + 1 > w->n_layers)
            w->n_layers = w->layer[v] + 1;

    /* 2. segments, with a bend point in every layer an edge crosses */
    w->n_vertices = n;
    for (int e = 0; e < g->n_edges; e++) {
        int prev = g->edge_from[e], to = g->edge_to[e];
        point_start[e] = w->n_vertices - n;
        for (int l = w->layer[prev] + 1; l <= w->layer[to]; l++) {
            int next = to;
            if (l < w->layer[to]) {
                if (w->n_vertices >= MAX_V)
                    return false;
                next = w->n_vertices++;
                w->layer[next] = l;
            }
            w->seg_left[w->n_segments] = prev;
            w->seg_right[w->n_segments++] = next;
            prev = next;
        }
    }
    point_start[g->n_edges] = w->n_vertices - n;

    /* 3. order within layers: first come, then barycenter sweeps, each
     * followed by swaps of neighbours; the order with fewest crossings kept */
    int at = 0;
    for (int l = 0; l < w->n_layers; l++) {
        w->first[l] = at;
        int i = 0;
        for (int v = 0; v < w->n_vertices; v++)
            if (w->layer[v] == l) {
                w->order[at++] = v;
                w->pos[v] = i++;
            }
    }
    w->first[w->n_layers] = at;
    int best = crossings(w);
    double best_pos[MAX_V];
    memcpy(best_pos, w->pos, sizeof best_pos);
    for (int sweep = 0; sweep < SWEEPS && best > 0; sweep++) {
        if (sweep % 2 == 0)
            for (int l = 1; l < w->n_layers; l++)
                barycenter(w, l, true);
        else
            for (int l = w->n_layers - 2; l >= 0; l--)
                barycenter(w, l, false);
        transpose(w);
        int c = crossings(w);
        if (c < best) {
            best = c;
            memcpy(best_pos, w->pos, sizeof best_pos);
        }
    }
    memcpy(w->pos, best_pos, sizeof best_pos);
    for (int l = 0; l < w->n_layers; l++)
        sort_layer(w, l, best_pos);
    w->crossings = best;
    return true;
}

bool live_layout_compute(const live_graph *g, double layer_gap, double row_gap, live_layout *out)
{
    /* large; one layout at a time (the page is single-threaded) */
    static work early, late;
    static int early_points[MAX_V + 1];
    memset(out, 0, sizeof *out);
    int n = g->n_nodes;
    if (n < 0 || n > MAX_V || g->n_edges < 0 || g->n_edges > MAX_V)
        return false;
    for (int e = 0; e < g->n_edges; e++)
        if (g->edge_from[e] < 0 || g->edge_to[e] >= n || g->edge_from[e] >= g->edge_to[e])
            return false;
    /* Ops as early as possible keep a shared input's edges short; as late as
     * possible keeps a side branch (a penalty term added at the end) next to
     * where it is used. Whichever has fewer crossings, then fewer bends. */
    bool early_ok = arrange(g, false, &early, early_points), late_ok = arrange(g, true, &late, out->point_start);
    if (!early_ok && !late_ok)
        return false;
    work *w = &late;
    if (early_ok && (!late_ok || early.crossings * 4 + early.n_vertices < late.crossings * 4 + late.n_vertices)) {
        w = &early;
        memcpy(out->point_start, early_points, sizeof early_points);
    }
    out->crossings = w->crossings;

    /* 4. heights, then everything moved into view */
    place_heights(w, row_gap);
    double top = 0, bottom = 0;
    for (int v = 0; v < w->n_vertices; v++) {
        if (v == 0 || w->y[v] < top)
            top = w->y[v];
        if (v == 0 || w->y[v] > bottom)
            bottom = w->y[v];
    }
    for (int v = 0; v < w->n_vertices; v++) {
        double x = w->layer[v] * layer_gap, y = w->y[v] - top;
        if (v < n) {
            out->layer[v] = w->layer[v];
            out->x[v] = x;
            out->y[v] = y;
        } else {
            out->point_x[v - n] = x;
            out->point_y[v - n] = y;
        }
    }
    out->n_layers = w->n_layers;
    out->width = (w->n_layers > 0 ? w->n_layers - 1 : 0) * layer_gap;
    out->height = bottom - top;
    return true;
}
