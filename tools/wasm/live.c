/* The live page's engine (docs/live.html): a small language of scalar
 * expressions, built as a graph of tapegrad tensors, run forward and
 * backward by the library itself, and handed to the page as JSON.
 *
 * Built to WebAssembly by tools/wasm/build.sh (the page calls live_run on
 * every change) and natively by tests/test_live.c, which checks the parser,
 * the errors and the layout without a browser. The language and its
 * parser are in live_parse.c; this file runs a program and writes the JSON. */
#include "tools/wasm/live.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/internal.h"
#include "tools/wasm/layered_layout.h"
#include "tools/wasm/live_internal.h"

/* Every library error passes here as it is raised: during backward, the
 * entry whose rule was running says which node it concerns. */
static void on_library_error(void *user, tg_status status, const char *message)
{
    (void)status, (void)message;
    builder *b = user;
    if (b->backward_entry < 0)
        b->backward_entry = b->ctx->backward_node;
}

/* ---- JSON ---- */

typedef struct {
    char *text;
    size_t len, cap;
    bool out_of_memory;
} json;

static void put(json *j, const char *fmt, ...)
{
    if (j->out_of_memory)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(j->text + j->len, j->cap - j->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            j->out_of_memory = true;
            return;
        }
        if ((size_t)n < j->cap - j->len) {
            j->len += (size_t)n;
            return;
        }
        size_t cap = (j->cap + (size_t)n + 1) * 2;
        char *grown = realloc(j->text, cap);
        if (!grown) {
            j->out_of_memory = true;
            return;
        }
        j->text = grown;
        j->cap = cap;
    }
}

static void put_string(json *j, const char *s, int length)
{
    put(j, "\"");
    for (int i = 0; length < 0 ? s[i] != '\0' : i < length; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            put(j, "\\%c", c);
        else if (c < 0x20)
            put(j, "\\u%04x", c);
        else
            put(j, "%c", c);
    }
    put(j, "\"");
}

/* Numbers round-trip (17 digits); NaN and ±Inf as strings Number() reads. */
static void put_number(json *j, double v)
{
    if (isnan(v))
        put(j, "\"NaN\"");
    else if (isinf(v))
        put(j, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else
        put(j, "%.17g", v);
}

static const char *kind_name(node_kind kind)
{
    return kind == NODE_VARIABLE ? "variable" : kind == NODE_CONSTANT ? "constant" : kind == NODE_OP ? "op" : "failed";
}

/* ---- the run ---- */

static char program_text[LIVE_TEXT_MAX + 1], values_text[LIVE_TEXT_MAX + 1];
static json result;

char *live_program_buffer(void) { return program_text; }
char *live_values_buffer(void) { return values_text; }
int live_text_max(void) { return LIVE_TEXT_MAX; }

/* The node k's result t came from: the node whose tensor it is, -1. */
static int node_of_tensor(const builder *b, const tg_tensor *t)
{
    for (int k = 0; k < b->n_nodes; k++)
        if (b->nodes[k].t == t)
            return k;
    return -1;
}

static void write_graph(builder *b, json *j, int output)
{
    tg_ctx *ctx = b->ctx;
    const tg_backward_record *r = !b->failed || strcmp(b->stage, "backward") == 0 ? ctx->record : NULL;
    /* edges: one per input of each op node */
    int from[2 * LIVE_MAX_NODES], to[2 * LIVE_MAX_NODES], slot[2 * LIVE_MAX_NODES], n_edges = 0;
    for (int k = 0; k < b->n_nodes; k++)
        for (int i = 0; i < b->nodes[k].n_inputs; i++)
            if (b->nodes[k].kind != NODE_VARIABLE && b->nodes[k].kind != NODE_CONSTANT && b->nodes[k].inputs[i] >= 0) {
                from[n_edges] = b->nodes[k].inputs[i];
                to[n_edges] = k;
                slot[n_edges++] = i;
            }
    /* where each node's δ arrived, and each edge's share, from the record */
    double delta[MAX_BUILT], grad[MAX_BUILT], sent[2 * LIVE_MAX_NODES], total[2 * LIVE_MAX_NODES],
        local[2 * LIVE_MAX_NODES];
    bool has_delta[MAX_BUILT] = {false}, has_sent[2 * LIVE_MAX_NODES] = {false},
         has_local[2 * LIVE_MAX_NODES] = {false};
    int step_of_edge[2 * LIVE_MAX_NODES];
    for (int e = 0; e < n_edges; e++)
        step_of_edge[e] = -1;
    for (int64_t s = 0; r && s < r->n_steps; s++) {
        const tg_record_step *step = &r->steps[s];
        int k = node_of_tensor(b, ctx->tape[step->tape_index].out);
        if (k < 0)
            continue;
        delta[k] = r->values[step->upstream];
        has_delta[k] = true;
        for (int e = 0; e < n_edges; e++)
            if (to[e] == k && slot[e] < step->n_in) {
                const tg_record_edge *re = &r->edges[step->first_edge + slot[e]];
                step_of_edge[e] = (int)s;
                if (re->sent >= 0) {
                    sent[e] = r->values[re->sent];
                    total[e] = r->values[re->total];
                    has_sent[e] = true;
                }
            }
    }
    /* ∂out/∂in of each edge: the op's own backward rule with upstream 1, as
     * the diagrams label their edges */
    bool grad_was = tg_grad_set_enabled(ctx, false);
    for (int k = 0; k < b->n_nodes && ctx->status == TG_OK; k++) {
        if (b->nodes[k].kind != NODE_OP)
            continue;
        int64_t entry = tg_tensor_creator(b->nodes[k].t);
        if (entry < 0)
            continue;
        tg_node tape_node = ctx->tape[entry];
        tg_tensor *one = tg_step_like(tape_node.out, false), *dx[3] = {NULL, NULL, NULL};
        if (!one || tape_node.n_in > 2)
            continue;
        tg_tensor_fill(one, 1.0);
        ctx->backward_node = entry;
        tape_node.op->backward(&tape_node, one, dx);
        ctx->backward_node = -1;
        for (int e = 0; e < n_edges; e++)
            if (to[e] == k && dx[slot[e]]) {
                local[e] = tg_tensor_item(dx[slot[e]]);
                has_local[e] = true;
            }
    }
    tg_grad_set_enabled(ctx, grad_was);
    for (int k = 0; k < b->n_nodes; k++) {
        tg_tensor *g = b->nodes[k].kind == NODE_VARIABLE ? tg_tensor_grad(b->nodes[k].t) : NULL;
        grad[k] = g ? tg_tensor_item(g) : has_delta[k] ? delta[k] : NAN;
    }

    static live_layout layout;
    live_graph graph = {b->n_nodes, n_edges, from, to};
    bool laid_out = live_layout_compute(&graph, 1, 1, &layout);

    put(j, ",\n\"output\": %d, \"width\": %g, \"height\": %g, \"crossings\": %d,\n\"nodes\": [", output,
        laid_out ? layout.width : 0, laid_out ? layout.height : 0, laid_out ? layout.crossings : -1);
    for (int k = 0; k < b->n_nodes; k++) {
        node *n = &b->nodes[k];
        put(j, "%s\n{\"id\": %d, \"kind\": \"%s\", \"key\": ", k ? "," : "", k, kind_name(n->kind));
        put_string(j, n->key, -1);
        put(j, ", \"name\": ");
        put_string(j, n->name, -1);
        put(j, ", \"symbol\": ");
        put_string(j, n->symbol, -1);
        char label[128] = "";
        if (n->kind == NODE_OP)
            tg_tape_entry_label(ctx, tg_tensor_creator(n->t), label, sizeof label);
        put(j, ", \"op\": ");
        put_string(j, label, -1);
        put(j, ", \"text\": ");
        put_string(j, b->src + n->pos, n->end - n->pos);
        put(j, ", \"pos\": %d, \"end\": %d, \"value\": ", n->pos, n->end);
        put_number(j, n->t ? tg_tensor_item(n->t) : NAN);
        put(j, ", \"grad\": ");
        put_number(j, grad[k]);
        put(j, ", \"layer\": %d, \"x\": %g, \"y\": %g}", laid_out ? layout.layer[k] : 0, laid_out ? layout.x[k] : 0,
            laid_out ? layout.y[k] : 0);
    }
    put(j, "],\n\"edges\": [");
    for (int e = 0; e < n_edges; e++) {
        put(j, "%s\n{\"from\": %d, \"to\": %d, \"input\": %d, \"key\": ", e ? "," : "", from[e], to[e], slot[e]);
        char key[2 * KEY_MAX_LEN + 4];
        snprintf(key, sizeof key, "%s->%s", b->nodes[from[e]].key, b->nodes[to[e]].key);
        put_string(j, key, -1);
        char vjp[128] = "";
        if (b->nodes[to[e]].kind == NODE_OP)
            tg_tape_entry_vjp_label(ctx, tg_tensor_creator(b->nodes[to[e]].t), slot[e], vjp, sizeof vjp);
        put(j, ", \"vjp\": ");
        put_string(j, vjp, -1);
        put(j, ", \"local\": ");
        has_local[e] ? put_number(j, local[e]) : put(j, "null");
        put(j, ", \"delta\": ");
        has_sent[e] ? put_number(j, sent[e]) : put(j, "null");
        put(j, ", \"total\": ");
        has_sent[e] ? put_number(j, total[e]) : put(j, "null");
        put(j, ", \"step\": %d, \"points\": [", step_of_edge[e]);
        for (int p = laid_out ? layout.point_start[e] : 0; laid_out && p < layout.point_start[e + 1]; p++)
            put(j, "%s[%g, %g]", p > layout.point_start[e] ? ", " : "", layout.point_x[p], layout.point_y[p]);
        put(j, "]}");
    }
    put(j, "],\n\"steps\": [");
    for (int64_t s = 0; r && s < r->n_steps; s++) {
        const tg_record_step *step = &r->steps[s];
        int k = node_of_tensor(b, ctx->tape[step->tape_index].out);
        put(j, "%s\n{\"node\": %d, \"tape\": %lld, \"delta\": ", s ? "," : "", k, (long long)step->tape_index);
        put_number(j, r->values[step->upstream]);
        put(j, ", \"edges\": [");
        int written = 0;
        for (int e = 0; e < n_edges; e++)
            if (step_of_edge[e] == (int)s)
                put(j, "%s%d", written++ ? ", " : "", e);
        put(j, "]}");
    }
    put(j, "]");
}

const char *live_run(void)
{
    free(result.text);
    result = (json){0};
    builder *b = calloc(1, sizeof *b);
    tg_ctx *ctx = b ? tg_ctx_new(1) : NULL;
    if (!ctx) {
        free(b);
        return "{\"ok\": false, \"error\": {\"stage\": \"memory\", \"message\": \"out of memory\", \"pos\": 0, \"end\": 0}}";
    }
    b->src = program_text;
    b->values = values_text;
    b->ctx = ctx;
    b->backward_entry = -1;
    tg_ctx_set_error_handler(ctx, on_library_error, b); /* errors go to the page, not stderr */
    tg_anomaly_set_enabled(ctx, true);                  /* NaN and ±Inf are errors, named by op */
    int output = live_parse_program(b);
    if (output >= 0 && !b->failed) {
        b->backward_entry = -1;
        tg_backward_set_recording(ctx, true);
        if (tg_backward(b->nodes[output].t) != TG_OK) {
            int k = b->backward_entry >= 0 ? node_of_tensor(b, ctx->tape[b->backward_entry].out) : output;
            node *n = &b->nodes[k >= 0 ? k : output];
            live_fail_at(b, "backward", n->pos, n->end, "%s", tg_ctx_error(ctx));
        }
    }
    live_make_keys(b);
    json *j = &result;
    put(j, "{\"ok\": %s", b->failed ? "false" : "true");
    if (b->failed) {
        put(j, ", \"error\": {\"stage\": \"%s\", \"pos\": %d, \"end\": %d, \"message\": ", b->stage, b->error_pos,
            b->error_end);
        put_string(j, b->message, -1);
        put(j, "}");
    }
    /* the graph as far as it was built: a parse error draws nothing, a
     * library error draws the graph with the refused op in place */
    if (!b->failed || strcmp(b->stage, "parse") != 0) {
        if (strcmp(b->stage ? b->stage : "", "size") == 0)
            b->n_nodes = 0;
        tg_ctx_clear_error(ctx);
        tg_anomaly_set_enabled(ctx, false); /* a local derivative may be ±Inf: shown, not an error */
        write_graph(b, j, b->failed ? -1 : output);
    }
    put(j, "}");
    tg_ctx_free(ctx);
    free(b);
    return j->out_of_memory ? "{\"ok\": false, \"error\": {\"stage\": \"memory\", \"message\": \"out of memory\", "
                              "\"pos\": 0, \"end\": 0}}"
                            : j->text;
}
