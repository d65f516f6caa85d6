/* The backward pass, one tape entry at a time, as a single HTML page
 * (tg_backward_page_save, tapegrad/dot.h).
 *
 * The numbers come from the log backward.c keeps while recording is on: per
 * entry, the δ that arrived, what was sent back along each edge and each input's
 * gradient summed so far. The picture is the dot diagram of the same graph,
 * rendered to SVG by Graphviz's `dot` (run here, for this call only); a few
 * lines of inline script highlight the nodes of step N and show its numbers.
 * The page needs no network: everything is inline. */
#define _POSIX_C_SOURCE 200809L /* posix_spawnp, waitpid */

#include "draw/draw.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

enum { DEFAULT_MAX_STEPS = 500 };

/* ---- text helpers ---- */

/* s as a JSON string; <, > and & escaped too, so the JSON can sit inside a
 * <script> element without closing it. */
static void put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == '<' || *p == '>' || *p == '&')
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static size_t put_number(char *buf, size_t size, double v, int precision)
{
    int n = snprintf(buf, size, "%.*g", precision, v == 0 ? 0.0 : v); /* no "-0" */
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

/* v[0..count) of a tensor shaped like t as "0.5", "[1, 2]" or "[[1, 2], [3, 4]]";
 * more than max_values numbers as "‖·‖ 3.2, [64, 10]". */
static void format_values(char *buf, size_t size, const double *v, const tg_tensor *t, int precision, int max_values)
{
    size_t used = 0;
    if (t->size == 1) {
        put_number(buf, size, v[0], precision);
        return;
    }
    if (max_values < 0 || t->size > max_values) {
        double s = 0;
        for (int64_t i = 0; i < t->size; i++)
            s += v[i] * v[i];
        char shape[96];
        used = (size_t)snprintf(buf, size, "‖·‖ ");
        used += put_number(buf + used, size - used, sqrt(s), precision);
        snprintf(buf + used, size - used, ", %s", tg_shape_str(t->rank, t->shape, shape, sizeof shape));
        return;
    }
    int64_t cols = t->rank ? t->shape[t->rank - 1] : 1;
    bool rows = t->rank >= 2 && t->size > cols;
    for (int64_t i = 0; i < t->size && used + 32 < size; i++) {
        const char *sep = i == 0 ? (rows ? "[[" : "[") : i % cols == 0 ? "], [" : ", ";
        used += (size_t)snprintf(buf + used, size - used, "%s", sep);
        used += put_number(buf + used, size - used, v[i], precision);
    }
    snprintf(buf + used, size - used, "%s", rows ? "]]" : "]");
}

/* ---- running Graphviz ---- */

/* `dot -Tsvg dot_path -o svg_path`, waited for. */
static tg_status run_dot(tg_ctx *ctx, const char *dot_path, const char *svg_path)
{
    char *argv[] = {"dot", "-Tsvg", (char *)dot_path, "-o", (char *)svg_path, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "dot", NULL, NULL, argv, environ);
    int status = 0;
    if (rc == 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    bool missing = rc == ENOENT || (rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 127);
    if (missing)
        return tg_ctx_fail(ctx, TG_ERR_IO, "tg_backward_page_save: Graphviz's dot is not on PATH, so the graph "
                                           "cannot be drawn (apt-get install graphviz); its dot text is in %s", dot_path);
    if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return tg_ctx_fail(ctx, TG_ERR_IO, "tg_backward_page_save: `dot -Tsvg %s` failed (%s)", dot_path,
                           rc ? strerror(rc) : "non-zero exit");
    return TG_OK;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        rewind(f);
        text = size >= 0 ? calloc((size_t)size + 1, 1) : NULL;
        if (text && fread(text, 1, (size_t)size, f) != (size_t)size) {
            free(text);
            text = NULL;
        }
    }
    fclose(f);
    return text;
}

/* ---- the page ---- */

typedef struct {
    tg_ctx *ctx;
    FILE *f;
    const tg_backward_record *record;
    const tg_dot_names *names;
    int precision, max_values;
    const tg_page_options *opts;
} page;

/* The reader's note for tensor t, or NULL. */
static const char *note_of(const page *p, const tg_tensor *t)
{
    for (int k = 0; p->opts->notes && k < p->opts->n_notes; k++)
        if (p->opts->notes[k].tensor == t && p->opts->notes[k].text)
            return p->opts->notes[k].text;
    return NULL;
}

/* A fan-out made visible: an input's gradient so far, summed edge by edge in
 * the order backward sent the contributions (the record keeps only the sum
 * after each whole entry, which hides b = a + a). Tensors bigger than this
 * show the recorded sum alone. */
enum { RUNNING_MAX = 4096 };
typedef struct {
    const tg_tensor *input;
    double *sum;     /* input->size values: the gradient after this edge */
    int count;       /* contributions so far, this one included */
} running_sum;

/* The node name of tensor t in the drawing ("t3", "leaf2"), and its leaf
 * index (-1 for op results); false if not drawn. */
static bool node_name(const page *p, const tg_tensor *t, char *buf, size_t size, int64_t *leaf)
{
    *leaf = -1;
    if (t->creator >= 0) {
        if (t->creator >= p->names->tape_len || p->names->op_id[t->creator] < 0)
            return false;
        snprintf(buf, size, "t%lld", (long long)p->names->op_id[t->creator]);
        return true;
    }
    for (int64_t k = 0; k < p->names->n_leaves; k++)
        if (p->names->leaves[k] == t) {
            snprintf(buf, size, "leaf%lld", (long long)k);
            *leaf = k;
            return true;
        }
    return false;
}

/* ∂out/∂in[j] of a one-element op: its backward rule with upstream 1, as in
 * the diagrams; NULL entries where no gradient flows. */
static void local_derivatives(tg_ctx *ctx, int64_t i, tg_tensor **local, int n)
{
    for (int j = 0; j < n; j++)
        local[j] = NULL;
    tg_node node = ctx->tape[i];
    if (node.out->size != 1 || node.n_in > 3 || ctx->status != TG_OK)
        return;
    tg_tensor *one = tg_step_like(node.out, false);
    if (!one)
        return;
    tg_tensor_fill(one, 1.0);
    tg_tensor *dx[3] = {NULL, NULL, NULL};
    bool grad_was = tg_grad_set_enabled(ctx, false);
    ctx->backward_node = i;
    node.op->backward(&node, one, dx);
    ctx->backward_node = -1;
    tg_grad_set_enabled(ctx, grad_was);
    for (int j = 0; j < node.n_in && j < n; j++)
        local[j] = node.in[j]->requires_grad ? dx[j] : NULL;
}

static void write_steps(const page *p)
{
    tg_ctx *ctx = p->ctx;
    FILE *f = p->f;
    const tg_backward_record *r = p->record;
    /* the edge by which each leaf receives its last contribution */
    int64_t *last = malloc(((size_t)p->names->n_leaves + 1) * sizeof *last);
    if (!last) {
        tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_backward_page_save: out of memory");
        return;
    }
    for (int64_t k = 0; k < p->names->n_leaves; k++)
        last[k] = -1;
    for (int64_t s = 0; s < r->n_steps; s++) {
        const tg_node *node = &ctx->tape[r->steps[s].tape_index];
        for (int j = 0; j < node->n_in; j++) {
            char id[32];
            int64_t leaf;
            if (r->edges[r->steps[s].first_edge + j].sent >= 0 && node_name(p, node->in[j], id, sizeof id, &leaf) &&
                leaf >= 0)
                last[leaf] = r->steps[s].first_edge + j;
        }
    }
    running_sum *running = calloc((size_t)r->n_edges + 1, sizeof *running);
    if (!running) {
        free(last);
        tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_backward_page_save: out of memory");
        return;
    }
    char text[2048];
    fputs("{\"steps\": [", f);
    for (int64_t s = 0; s < r->n_steps; s++) {
        const tg_record_step *step = &r->steps[s];
        int64_t i = step->tape_index;
        const tg_node *node = &ctx->tape[i];
        int64_t k = p->names->op_id[i];
        fprintf(f, "%s\n{\"index\": %lld, \"node\": \"op%lld\", \"out\": \"t%lld\", \"op\": ", s ? "," : "",
                (long long)i, (long long)k, (long long)k);
        tg_tape_entry_label(ctx, i, text, sizeof text);
        put_json_string(f, text);
        fputs(", \"name\": ", f);
        put_json_string(f, tg_name_of(node->out) ? tg_name_of(node->out) : "");
        if (note_of(p, node->out)) {
            fputs(", \"note\": ", f);
            put_json_string(f, note_of(p, node->out));
        }
        format_values(text, sizeof text, r->values + step->upstream, node->out, p->precision, p->max_values);
        fputs(", \"delta\": ", f);
        put_json_string(f, text);
        fputs(", \"edges\": [", f);
        tg_arena_mark mark = tg_arena_get_mark(ctx);
        tg_tensor *local[3];
        local_derivatives(ctx, i, local, 3);
        for (int j = 0; j < node->n_in; j++) {
            const tg_tensor *in = node->in[j];
            const tg_record_edge *e = &r->edges[step->first_edge + j];
            char id[32] = "";
            int64_t leaf = -1;
            bool drawn = node_name(p, in, id, sizeof id, &leaf);
            fprintf(f, "%s{\"from\": ", j ? ", " : "");
            put_json_string(f, drawn ? id : "");
            fputs(", \"name\": ", f);
            put_json_string(f, tg_name_of(in) ? tg_name_of(in) : "");
            tg_tape_entry_vjp_label(ctx, i, j, text, sizeof text);
            fputs(", \"vjp\": ", f);
            put_json_string(f, text);
            if (j < 3 && local[j] && local[j]->size == 1) {
                format_values(text, sizeof text, (double[]){tg_tensor_get(local[j], 0)}, local[j], p->precision,
                              p->max_values);
                fputs(", \"local\": ", f);
                put_json_string(f, text);
            }
            if (e->sent >= 0) {
                format_values(text, sizeof text, r->values + e->sent, in, p->precision, p->max_values);
                fputs(", \"sent\": ", f);
                put_json_string(f, text);
                int64_t edge = step->first_edge + j;
                const running_sum *before = NULL;
                for (int64_t k = edge - 1; k >= 0 && !before; k--)
                    if (running[k].input == in)
                        before = &running[k];
                running_sum *now = &running[edge];
                *now = (running_sum){.input = in, .count = before ? before->count + 1 : 1};
                const double *total = r->values + e->total;
                if (in->size <= RUNNING_MAX && (now->sum = malloc((size_t)in->size * sizeof *now->sum))) {
                    for (int64_t v = 0; v < in->size; v++)
                        now->sum[v] = r->values[e->sent + v] + (before && before->sum ? before->sum[v] : 0);
                    total = now->sum;
                }
                if (before && before->sum) {
                    format_values(text, sizeof text, before->sum, in, p->precision, p->max_values);
                    fputs(", \"before\": ", f);
                    put_json_string(f, text);
                }
                format_values(text, sizeof text, total, in, p->precision, p->max_values);
                fputs(", \"total\": ", f);
                put_json_string(f, text);
            }
            bool done = leaf >= 0 && e->sent >= 0 && last[leaf] == step->first_edge + j;
            fprintf(f, ", \"leaf\": %s, \"done\": %s", leaf >= 0 ? "true" : "false", done ? "true" : "false");
            if (e->sent >= 0)
                fprintf(f, ", \"count\": %d", running[step->first_edge + j].count);
            if (j < 3 && local[j] && local[j]->size == 1) /* full precision, for the path's running product */
                fprintf(f, ", \"local_value\": %.17g", tg_tensor_get(local[j], 0));
            if (done && note_of(p, in)) {
                fputs(", \"note\": ", f);
                put_json_string(f, note_of(p, in));
            }
            fputs("}", f);
        }
        tg_arena_rewind(ctx, mark);
        fputs("]}", f);
    }
    fputs("\n]}", f);
    for (int64_t k = 0; k < r->n_edges; k++)
        free(running[k].sum);
    free(running);
    free(last);
}

static const char PAGE_STYLE[] =
    "body{font-family:Helvetica,Arial,sans-serif;margin:0;display:flex;flex-direction:column;height:100vh}\n"
    "header{padding:8px 12px;background:#f4f4f4;border-bottom:1px solid #ccc}\n"
    "#main{display:flex;flex:1;min-height:0}\n"
    "#graph{flex:3;overflow:auto;padding:8px}\n"
    "#graph svg{max-width:100%;height:auto}\n"
    "#panel{flex:2;overflow:auto;padding:8px 12px;border-left:1px solid #ccc;font-size:14px}\n"
    ".num{font-family:monospace;white-space:pre-wrap}\n"
    ".vjp{color:#1f5fa0}.sent{color:#b03a2e}.note{color:#555;font-size:13px}\n"
    ".course{color:#4a148c}#glossary p{font-size:13px;margin:4px 0}\n"
    "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}\n";

/* One string per line (C limits a literal's length). Step N shows tape entry N-1 of the log: the op whose output's δ just
 * arrived is highlighted (orange), ops already done are shaded, leaves turn
 * green with their gradient once their last contribution is in. Step 0 is
 * the forward graph before backward. #step=N opens step N by pressing
 * "next" N times, the handler a click runs. */
static const char *const PAGE_SCRIPT[] = {
    "'use strict';\n",
    "const tape = JSON.parse(document.getElementById('tape').textContent);\n",
    /* room above the top row for the gradients written over the leaves */
    "const svg = document.querySelector('#graph svg');\n",
    "if (svg && svg.viewBox.baseVal) {\n",
    "  const vb = svg.viewBox.baseVal;\n",
    "  svg.setAttribute('viewBox', vb.x + ' ' + (vb.y - 14) + ' ' + vb.width + ' ' + (vb.height + 14));\n",
    "  svg.setAttribute('height', (parseFloat(svg.getAttribute('height')) + 14) + 'pt');\n",
    "}\n",
    "const nodes = {};\n",
    "for (const g of document.querySelectorAll('#graph g.node')) {\n",
    "  const id = g.querySelector('title').textContent.replace(/_u\\d+$/, '');\n",
    "  (nodes[id] = nodes[id] || []).push(g);\n",
    "  for (const s of g.querySelectorAll('ellipse, polygon')) s.dataset.fill = s.getAttribute('fill');\n",
    "}\n",
    "const edgeGroups = {};\n",
    "for (const g of document.querySelectorAll('#graph g.edge')) {\n",
    "  const id = g.querySelector('title').textContent.replace(/_u\\d+(?=-)/, '').replace('>', '');\n",
    "  (edgeGroups[id] = edgeGroups[id] || []).push(g);\n",
    "  for (const s of g.querySelectorAll('path, polygon')) s.dataset.stroke = s.getAttribute('stroke');\n",
    "}\n",
    "function paintEdge(id, color) {\n",
    "  for (const g of edgeGroups[id] || [])\n",
    "    for (const s of g.querySelectorAll('path, polygon')) {\n",
    "      s.setAttribute('stroke', color || s.dataset.stroke);\n",
    "      s.setAttribute('stroke-width', color ? '2.5' : '1');\n",
    "    }\n",
    "}\n",
    "function paint(id, fill, current) {\n",
    "  for (const g of nodes[id] || []) {\n",
    "    g.classList.toggle('current', !!current);\n",
    "    for (const s of g.querySelectorAll('ellipse, polygon')) {\n",
    "      s.setAttribute('fill', fill || s.dataset.fill);\n",
    "      s.setAttribute('stroke-width', current ? '3' : '1');\n",
    "    }\n",
    "  }\n",
    "}\n",
    "function gradText(id, text) {\n",
    "  for (const g of nodes[id] || []) {\n",
    "    let t = g.querySelector('text.grad');\n",
    "    if (!t) {\n",
    "      const box = g.getBBox();\n",
    "      t = document.createElementNS('http://www.w3.org/2000/svg', 'text');\n",
    "      t.setAttribute('class', 'grad');\n",
    "      t.setAttribute('x', box.x + box.width / 2);\n",
    /* above the box: a leaf's edges leave from below it in a top-to-bottom
     * drawing and would strike through a label placed there */
    "      t.setAttribute('y', box.y - 3);\n",
    "      t.setAttribute('text-anchor', 'middle');\n",
    "      t.setAttribute('font-size', '10');\n",
    "      t.setAttribute('fill', '#1b5e20');\n",
    "      g.appendChild(t);\n",
    "    }\n",
    "    t.textContent = text;\n",
    "  }\n",
    "}\n",
    "const $ = id => document.getElementById(id);\n",
    "function cell(row, text, cls) { const c = row.insertCell(); c.textContent = text; if (cls) c.className = cls; }\n",
    "let step = 0;\n",
    "function show(n) {\n",
    "  step = Math.max(0, Math.min(tape.steps.length, n));\n",
    "  for (const id in nodes) paint(id);\n",
    "  for (const id in edgeGroups) paintEdge(id);\n",
    "  for (const t of document.querySelectorAll('#graph text.grad')) t.textContent = '';\n",
    "  const leaves = $('leaves');\n",
    "  leaves.innerHTML = '<tr><th>leaf</th><th>gradient</th><th></th></tr>';\n",
    "  for (let s = 0; s < step; s++) {\n",
    "    const st = tape.steps[s];\n",
    "    paint(st.node, s === step - 1 ? '#ffb74d' : '#eeeeee', s === step - 1);\n",
    "    paint(st.out, s === step - 1 ? '#ffe0b2' : undefined, s === step - 1);\n",
    "    for (const e of st.edges) if (e.leaf && e.done) {\n",
    "      paint(e.from, '#c8e6c9');\n",
    "      gradText(e.from, 'grad ' + e.total);\n",
    "      const row = leaves.insertRow();\n",
    "      cell(row, e.name || e.from);\n",
    "      cell(row, e.total, 'num');\n",
    "      cell(row, e.note || '', 'course');\n",
    "    }\n",
    "  }\n",
    "  const st = tape.steps[step - 1];\n",
    "  if (st) {\n",
    "    for (const e of st.edges) if (e.sent !== undefined) paintEdge(e.from + '-' + st.node, '#b03a2e');\n",
    "    for (const g of nodes[st.node] || []) g.scrollIntoView({block: 'center', inline: 'center'});\n",
    "  }\n",
    "  $('counter').textContent = 'step ' + step + ' of ' + tape.steps.length;\n",
    "  $('current-node').textContent = st ? st.node : '';\n",
    "  $('current-op').textContent = st ? st.op + (st.name ? ' → ' + st.name : '') + ' (tape entry ' + st.index + ')' : '';\n",
    "  $('delta').textContent = st ? st.delta : '';\n",
    "  $('note').textContent = st && st.note ? st.note : '';\n",
    "  $('step-text').textContent = st ? 'The δ of ' + (st.name || st.out) + ' (∂L/∂' + (st.name || st.out) + ') has arrived. '\n",
    "    + 'Each edge into the op multiplies it by its local derivative and sends the product back to its input: '\n",
    "    + 'against the arrow, from the output towards the leaves.' : 'Press next (or →) to start backward from the output.';\n",
    "  const edges = $('edges');\n",
    "  edges.innerHTML = st ? '<tr><th>input</th><th>local derivative</th><th>sent back</th><th>its gradient so far</th></tr>' : '';\n",
    "  for (const e of st ? st.edges : []) {\n",
    "    const row = edges.insertRow();\n",
    "    cell(row, e.name || e.from);\n",
    "    cell(row, e.vjp + (e.local !== undefined ? ' = ' + e.local : ''), 'vjp');\n",
    "    cell(row, e.sent !== undefined ? e.sent : 'nothing (no gradient needed)', 'num sent');\n",
    "    cell(row, e.total === undefined ? '' : e.before !== undefined ? e.before + ' + ' + e.sent + ' = ' + e.total\n",
    "      : e.count > 1 ? e.total + ' (sum of ' + e.count + ' contributions)' : e.total, 'num');\n",
    "  }\n",
    "}\n",
    /* Clicking a leaf lists its paths to the output, each with the running
     * product of the edges' local derivatives: the chain rule, one path at a
     * time (scalar graphs; edges without a number show their VJP formula). */
    "const uses = {}, names = {};\n",
    "for (const st of tape.steps) {\n",
    "  names[st.out] = st.name || st.out;\n",
    "  for (const e of st.edges) if (e.sent !== undefined) {\n",
    "    (uses[e.from] = uses[e.from] || []).push({st, e});\n",
    "    names[e.from] = e.name || e.from;\n",
    "  }\n",
    "}\n",
    "function showPath(id) {\n",
    "  const found = [];\n",
    "  const walk = (at, path) => {\n",
    "    if (found.length >= 16 || path.length > 64) return;\n",
    "    if (!uses[at]) { if (path.length) found.push(path); return; }\n",
    "    for (const u of uses[at]) walk(u.st.out, path.concat([u]));\n",
    "  };\n",
    "  walk(id, []);\n",
    "  for (const e in edgeGroups) paintEdge(e);\n",
    "  const lines = [];\n",
    "  let sum = 0, numeric = true;\n",
    "  for (const path of found) {\n",
    "    let product = 1, text = names[path[path.length - 1].st.out] + ' (1)';\n",
    "    for (let k = path.length - 1; k >= 0; k--) {\n",
    "      const u = path[k];\n",
    "      paintEdge(u.e.from + '-' + u.st.node, '#6a1b9a');\n",
    "      paintEdge(u.st.node + '-' + u.st.out, '#6a1b9a');\n",
    "      if (u.e.local_value === undefined) { numeric = false; text += ' → ' + names[u.e.from] + ' (' + u.e.vjp + ')'; continue; }\n",
    "      product *= u.e.local_value;\n",
    "      text += ' → ×' + u.e.local + ' → ' + names[u.e.from] + ' (' + (numeric ? product.toPrecision(4) : '…') + ')';\n",
    "    }\n",
    "    sum += product;\n",
    "    lines.push(text);\n",
    "  }\n",
    "  $('path').textContent = found.length ? 'Paths from ' + names[id] + ' to the output, running product of the local '\n",
    "    + 'derivatives read from the output back: ' + lines.join(';  ') + (numeric ? '.  ∂/∂' + names[id] + ' = '\n",
    "    + (found.length > 1 ? 'the sum over the paths = ' : '') + sum.toPrecision(4) : '') : names[id] + ' reaches no output.';\n",
    "}\n",
    "for (const id in nodes) if (id.startsWith('leaf') && uses[id])\n",
    "  for (const g of nodes[id]) { g.style.cursor = 'pointer'; g.addEventListener('click', () => showPath(id)); }\n",
    "$('next').addEventListener('click', () => show(step + 1));\n",
    "$('back').addEventListener('click', () => show(step - 1));\n",
    "document.addEventListener('keydown', e => {\n",
    "  if (e.key === 'ArrowRight') $('next').click();\n",
    "  if (e.key === 'ArrowLeft') $('back').click();\n",
    "});\n",
    "show(0);\n",
    "const wanted = /step=(\\d+)/.exec(location.hash);\n",
    "for (let k = 0; wanted && k < +wanted[1]; k++) $('next').click();\n",
    "const pathOf = /path=(leaf\\d+)/.exec(location.hash);\n",
    "if (pathOf) showPath(pathOf[1]);\n",
    NULL,
};

static void write_page(const page *p, const char *title, const char *svg, int64_t n_entries, int64_t max_steps,
                       bool per_layer)
{
    FILE *f = p->f;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
    tg_markup_put_str(f, title, TG_MARKUP_XML);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<header><b>", PAGE_STYLE);
    tg_markup_put_str(f, title, TG_MARKUP_XML);
    if (per_layer) {
        if (max_steps >= DEFAULT_MAX_STEPS)
            fprintf(f, "</b><p id=\"fallback\">This backward pass ran %lld tape entries, too many to step through one at "
                       "a time: this is the per-layer view instead", (long long)n_entries);
        else /* asked for: max_steps set below the pass's length */
            fprintf(f, "</b><p id=\"fallback\">This backward pass ran %lld tape entries, drawn in the per-layer view "
                       "(the page was asked to step through at most %lld)", (long long)n_entries, (long long)max_steps);
        fputs(" (one node per layer, with its shapes and gradient norms). Name tensors \"layer.weight\" to group "
              "them.</p></header>\n<div id=\"main\"><div id=\"graph\">\n",
              f);
    } else {
        fputs("</b> — backward, one tape entry at a time. "
              "<button id=\"back\">◀ back</button> <button id=\"next\">next ▶</button> "
              "<span id=\"counter\"></span> <span class=\"note\">(keys ← →; #step=N in the address opens step "
              "N, #path=leafK shows leaf K's paths)</span></header>\n<div id=\"main\"><div id=\"graph\">\n",
              f);
    }
    const char *start = strstr(svg, "<svg");
    fputs(start ? start : svg, f);
    fputs("</div>\n<div id=\"panel\">\n", f);
    if (!per_layer) {
        fputs("<p id=\"step-text\"></p>\n"
              "<p>Node whose δ just arrived: <b id=\"current-node\"></b> <span id=\"current-op\"></span></p>\n"
              "<p>δ arriving (the tape's ∂L/∂t): <span id=\"delta\" class=\"num\"></span></p>\n"
              "<p id=\"note\" class=\"course\"></p>\n"
              "<table id=\"edges\"></table>\n<h4>Leaves, as their gradients complete</h4>\n"
              "<table id=\"leaves\"></table>\n"
              "<p id=\"path\" class=\"course\">Click a leaf to see its paths to the output, with the running "
              "product.</p>\n"
              "<p class=\"note\">Every number is from the tape, recorded while tg_backward ran; blue: the local "
              "derivative (vector-Jacobian product) of each edge; red: upstream δ × local derivative, what the edge "
              "sends back to its input. An input used twice shows its gradient so far as a sum: earlier + this "
              "contribution = total.</p>\n",
              f);
        if (p->opts->glossary) {
            fputs("<div id=\"glossary\"><h4>Glossary</h4>\n<p>", f);
            for (const char *c = p->opts->glossary; *c; c++) {
                if (*c == '\n')
                    fputs(c[1] ? "</p>\n<p>" : "", f);
                else
                    tg_markup_put(f, c, 1, TG_MARKUP_XML);
            }
            fputs("</p></div>\n", f);
        }
        fputs("</div></div>\n<script type=\"application/json\" id=\"tape\">", f);
        write_steps(p);
        fputs("</script>\n<script>\n", f);
        for (const char *const *line = PAGE_SCRIPT; *line; line++)
            fputs(*line, f);
        fputs("</script>\n", f);
    } else {
        fputs("</div></div>\n", f);
    }
    fputs("</body>\n</html>\n", f);
}

tg_status tg_backward_page_save(const char *path, tg_tensor *output, const tg_page_options *opts)
{
    if (!tg_check_live("tg_backward_page_save", output))
        return output ? output->ctx->status : TG_ERR_ARG;
    tg_ctx *ctx = output->ctx;
    if (!path)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_backward_page_save: the path is NULL");
    const tg_backward_record *r = ctx->record;
    if (!r || r->output != output || r->epoch != ctx->epoch || !r->complete)
        return tg_ctx_fail(ctx, TG_ERR_GRAD, "tg_backward_page_save: no backward of %s%s%s was recorded in this step; "
                                             "call tg_backward_set_recording(ctx, true) before tg_backward",
                           tg_name_of(output) ? "\"" : "this tensor", tg_name_of(output) ? tg_name_of(output) : "",
                           tg_name_of(output) ? "\"" : "");
    tg_page_options defaults = {0};
    const tg_page_options *o = opts ? opts : &defaults;
    int64_t max_steps = o->max_steps > 0 ? o->max_steps : DEFAULT_MAX_STEPS;
    bool per_layer = r->n_steps > max_steps;
    const char *title = o->diagram.title ? o->diagram.title : "tapegrad: the chain rule, step by step";

    /* NAME.html -> NAME.dot and NAME.svg (the SVG is inlined, then removed) */
    size_t n = strlen(path);
    size_t stem = n > 5 && !strcmp(path + n - 5, ".html") ? n - 5 : n;
    char *dot_path = malloc(stem + 8), *svg_path = malloc(stem + 8);
    if (!dot_path || !svg_path) {
        free(dot_path);
        free(svg_path);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_backward_page_save: out of memory");
    }
    snprintf(dot_path, stem + 8, "%.*s.dot", (int)stem, path);
    snprintf(svg_path, stem + 8, "%.*s.svg", (int)stem, path);

    tg_dot_options diagram = o->diagram;
    diagram.title = NULL; /* the page has its own */
    diagram.grads_of = NULL;
    diagram.hide_grads = !per_layer; /* leaves fill in as the steps go */
    diagram.edge_derivatives = !per_layer;
    diagram.per_layer = per_layer;
    tg_dot_names names = {0};
    tg_status status = TG_OK;
    char *svg = NULL;
    FILE *f = fopen(dot_path, "w");
    if (!f) {
        status = tg_ctx_fail(ctx, TG_ERR_IO, "tg_backward_page_save: cannot open %s: %s", dot_path, strerror(errno));
        goto done;
    }
    status = tg_dot_write_named(f, 1, &output, &diagram, &names);
    if (fclose(f) != 0 && status == TG_OK)
        status = tg_ctx_fail(ctx, TG_ERR_IO, "tg_backward_page_save: cannot write %s: %s", dot_path, strerror(errno));
    if (status == TG_OK)
        status = run_dot(ctx, dot_path, svg_path);
    if (status == TG_OK && !(svg = read_all(svg_path)))
        status = tg_ctx_fail(ctx, TG_ERR_IO, "tg_backward_page_save: cannot read %s", svg_path);
    remove(svg_path);
    if (status != TG_OK)
        goto done;
    if (!(f = fopen(path, "w"))) {
        status = tg_ctx_fail(ctx, TG_ERR_IO, "tg_backward_page_save: cannot open %s: %s", path, strerror(errno));
        goto done;
    }
    page p = {.ctx = ctx, .f = f, .record = r, .names = &names, .opts = o,
              .precision = o->diagram.precision > 0 ? (o->diagram.precision < 17 ? o->diagram.precision : 17) : 4,
              .max_values = o->diagram.max_values == 0 ? 8 : o->diagram.max_values};
    write_page(&p, title, svg, r->n_steps, max_steps, per_layer);
    status = ctx->status;
    if ((ferror(f) | fclose(f)) != 0 && status == TG_OK)
        status = tg_ctx_fail(ctx, TG_ERR_IO, "tg_backward_page_save: cannot write %s: %s", path, strerror(errno));
done:
    tg_dot_names_free(&names);
    free(svg);
    free(dot_path);
    free(svg_path);
    return status;
}
