/* Diagrams of the tape (tapegrad/dot.h): Graphviz parses them, the 2-2-1 graph
 * matches its golden file, labels are escaped, node names are stable, big
 * graphs are written fast, and the edge labels of Alice's graph multiply out
 * to the gradient along each path (seed case 3: ∂L/∂w1 = 0.0214695). */
#define _POSIX_C_SOURCE 200809L /* popen, getpid */

#include <criterion/criterion.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapegrad.h"
#include "tests/support.h"
#include "examples/alice_graph.h" /* the graphs the diagrams example draws */
#include "examples/elman_graph.h"

/* The golden files sit in tests/golden/ beside this file (or in
 * TAPEGRAD_GOLDEN_DIR when the build defines it). */
static const char *golden_path(const char *name, char *buf, size_t size)
{
#ifdef TAPEGRAD_GOLDEN_DIR
    snprintf(buf, size, "%s/%s", TAPEGRAD_GOLDEN_DIR, name);
#else
    const char *file = __FILE__, *slash = strrchr(file, '/');
    if (slash)
        snprintf(buf, size, "%.*s/golden/%s", (int)(slash - file), file, name);
    else
        snprintf(buf, size, "golden/%s", name);
#endif
    return buf;
}

/* The text tg_dot_write produces (caller frees). */
static char *dot_text(int n, tg_tensor *const *outputs, const tg_dot_options *opts, tg_status *status)
{
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    *status = tg_dot_write(f, n, outputs, opts);
    char *text = slurp(f);
    cr_assert_not_null(text);
    return text;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* Graphviz accepts the text without a warning. program: "dot" lays it out,
 * "nop" only parses. */
static void expect_graphviz_accepts(const char *text, const char *program, const char *what)
{
    static int serial;
    char dot_path[64];
    /* the pid too: Criterion runs tests in parallel processes */
    snprintf(dot_path, sizeof dot_path, "test_dot_%ld_%d.dot", (long)getpid(), ++serial);
    char err_path[96];
    snprintf(err_path, sizeof err_path, "%s.err", dot_path);
    write_file(dot_path, text);
    char command[256];
    snprintf(command, sizeof command, "%s %s %s > /dev/null 2> %s", program,
             strcmp(program, "dot") ? "" : "-Tsvg", dot_path, err_path);
    int rc = system(command);
    char *err = read_text_file(err_path);
    cr_expect_eq(rc, 0, "%s: `%s` failed (is Graphviz installed? apt-get install graphviz): %s", what, command,
                 err ? err : "");
    cr_expect(err && err[0] == '\0', "%s: Graphviz complained: %s", what, err ? err : "");
    free(err);
    remove(dot_path);
    remove(err_path);
}

/* The id of the node whose label starts with the bold name. */
static void node_id(const char *text, const char *name, char *id, size_t size)
{
    char needle[64];
    snprintf(needle, sizeof needle, "label=<<b>%s</b>", name);
    const char *hit = strstr(text, needle);
    cr_assert_not_null(hit, "no node named %s", name);
    const char *line = hit;
    while (line > text && line[-1] != '\n')
        line--;
    while (*line == ' ')
        line++;
    size_t n = strcspn(line, " ");
    cr_assert_lt(n, size);
    memcpy(id, line, n);
    id[n] = '\0';
}

/* The edge "from -> opK [..., label=<v>]": returns v and sets op to K. */
static double edge_label(const char *text, const char *from, int *op)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\n  %s -> op", from);
    const char *hit = strstr(text, needle);
    cr_assert_not_null(hit, "no edge from %s", from);
    hit += strlen(needle);
    *op = atoi(hit);
    const char *end = strchr(hit, '\n');
    const char *label = strstr(hit, "label=<");
    cr_assert(label && label < end, "the edge from %s has no derivative label", from);
    return atof(label + strlen("label=<"));
}

/* ---- the chain rule, visible ---- */

Test(dot, alice_edge_labels_multiply_to_dL_dw1)
{
    tg_ctx *ctx = tg_ctx_new(1);
    alice_graph g = alice(ctx);
    cr_assert_eq(tg_backward(g.loss), TG_OK);
    tg_status status;
    char *text = dot_text(1, &g.loss, &(tg_dot_options){.edge_derivatives = true, .precision = 9}, &status);
    cr_assert_eq(status, TG_OK, "%s", tg_ctx_error(ctx));

    /* Follow the only path w1 -> mul -> add -> add -> sigmoid (h1) -> mul ->
     * add -> add -> sigmoid (o1) -> mse_loss (L), multiplying edge labels. */
    char id[32];
    node_id(text, "w1", id, sizeof id);
    double product = 1, labels[12];
    int n = 0, op = -1;
    while (n < 12) {
        labels[n] = edge_label(text, id, &op);
        product *= labels[n++];
        snprintf(id, sizeof id, "t%d", op);
        char needle[64];
        snprintf(needle, sizeof needle, "\n  %s -> op", id);
        if (!strstr(text, needle))
            break; /* t<op> is L */
    }
    cr_assert_eq(n, 9, "nine edges from w1 to L");
    /* x1, then the adds, σ'(z1), w5, the adds, σ'(z3), ∂L/∂o1 */
    double s1 = 1 / (1 + exp(3.0)), o1 = tg_tensor_item(g.o1);
    double expected[9] = {-2, 1, 1, s1 * (1 - s1), 1, 1, 1, o1 * (1 - o1), -2 * (1 - o1)};
    for (int i = 0; i < n; i++)
        cr_expect_float_eq(labels[i], expected[i], 1e-8, "edge %d: %.9g, expected %.9g", i, labels[i], expected[i]);
    /* the textbook's numbers, rounded as in seed case 3 */
    cr_expect_float_eq(labels[8], -0.952, 1e-3, "∂L/∂o1 = -2(y - o1)");
    cr_expect_float_eq(labels[7], 0.249, 1e-3, "∂o1/∂z = o1(1 - o1)");
    cr_expect_float_eq(labels[3] * labels[0], -0.0904, 1e-4, "∂h1/∂w1 = h1(1 - h1)·x1");
    cr_expect_float_eq(product, 0.0214695, 1e-7);
    cr_expect_float_eq(product, tg_tensor_item(tg_tensor_grad(g.w[0])), 1e-9);
    free(text);
    tg_ctx_free(ctx);
}

Test(dot, gradient_is_sum_over_paths_of_edge_products)
{
    /* L = a·σ(a): two paths from a. dL/da = σ(a) + a·σ(a)(1 - σ(a)). */
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *a = scalar(ctx, "a", 0.7, true);
    tg_tensor *u = tg_sigmoid(a);
    tg_tensor *loss = tg_mul(a, u);
    cr_assert_eq(tg_backward(loss), TG_OK);
    tg_status status;
    char *text = dot_text(1, &loss, &(tg_dot_options){.edge_derivatives = true, .precision = 12}, &status);
    cr_assert_eq(status, TG_OK);
    cr_expect_not_null(strstr(text, "  leaf0 -> op0 [fontcolor=\"#1f5fa0\", label=<"), "a -> sigmoid");
    const char *direct = strstr(text, "  leaf0 -> op1 [");
    const char *through = strstr(text, "  t0 -> op1 [");
    const char *sig = strstr(text, "  leaf0 -> op0 [");
    cr_assert(direct && through && sig);
    double l_direct = atof(strstr(direct, "label=<") + 7), l_u = atof(strstr(through, "label=<") + 7),
           l_sig = atof(strstr(sig, "label=<") + 7);
    double grad = tg_tensor_item(tg_tensor_grad(a));
    cr_expect_float_eq(l_direct + l_u * l_sig, grad, 1e-10);
    double s = 1 / (1 + exp(-0.7));
    cr_expect_float_eq(grad, s + 0.7 * s * (1 - s), 1e-12);
    free(text);
    tg_ctx_free(ctx);
}

Test(dot, grads_of_shows_every_tensor_gradient_and_leaves_no_trace)
{
    tg_ctx *ctx = tg_ctx_new(1);
    alice_graph g = alice(ctx);
    int64_t tape = tg_tape_length(ctx);
    tg_status status;
    char *text = dot_text(1, &g.loss, &(tg_dot_options){.grads_of = g.loss, .precision = 6}, &status);
    cr_assert_eq(status, TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tape_length(ctx), tape, "nothing recorded");
    cr_expect_null(tg_tensor_grad(g.w[0]), "no .grad touched: no backward ran");
    /* ∂L/∂o1 = -2(1 - o1) = -0.952610; ∂L/∂h1 = -0.237561; ∂L/∂w1 = 0.0214695 */
    cr_expect_not_null(strstr(text, "<b>o1</b><br/>0.523695<br/>"
                                    "<font color=\"#b03a2e\">grad -0.95261</font>"),
                       "%s", text);
    cr_expect_not_null(strstr(text, "<b>h1</b><br/>0.0474259<br/>"));
    cr_expect_not_null(strstr(text, "<b>w1</b><br/>1<br/>"
                                    "<font color=\"#b03a2e\">grad 0.0214695</font>"));
    cr_expect_null(strstr(text, "<b>x1</b><br/>-2<br/><font"),
                   "an input shows no gradient");
    free(text);
    tg_ctx_free(ctx);
}

static tg_tensor *counting_hook(tg_tensor *t, tg_tensor *grad, void *user)
{
    (void)t, (void)grad;
    ++*(int *)user;
    return NULL;
}

Test(dot, grads_of_does_not_run_user_hooks)
{
    tg_ctx *ctx = tg_ctx_new(1);
    alice_graph g = alice(ctx);
    int calls = 0;
    tg_tensor_set_hook(g.h1, counting_hook, &calls);
    tg_tensor_set_hook(g.w[0], counting_hook, &calls);
    tg_status status;
    free(dot_text(1, &g.loss, &(tg_dot_options){.grads_of = g.loss}, &status));
    cr_assert_eq(status, TG_OK);
    cr_expect_eq(calls, 0);
    cr_assert_eq(tg_backward(g.loss), TG_OK);
    cr_expect_eq(calls, 2, "the hooks are back in place");
    tg_ctx_free(ctx);
}

Test(dot, leaves_show_their_grad_after_backward)
{
    tg_ctx *ctx = tg_ctx_new(1);
    alice_graph g = alice(ctx);
    tg_status status;
    char *before = dot_text(1, &g.loss, NULL, &status);
    cr_assert_eq(tg_backward(g.loss), TG_OK);
    char *after = dot_text(1, &g.loss, NULL, &status);
    cr_expect_null(strstr(before, ">grad "));
    cr_expect_not_null(strstr(after, "<b>w1</b><br/>1<br/>"
                                     "<font color=\"#b03a2e\">grad 0.02147</font>"));
    char *hidden = dot_text(1, &g.loss, &(tg_dot_options){.hide_grads = true}, &status);
    cr_expect_null(strstr(hidden, ">grad "));
    free(before);
    free(after);
    free(hidden);
    tg_ctx_free(ctx);
}

/* ---- golden file and Graphviz ---- */

Test(dot, alice_221_graph_matches_golden_file_and_parses)
{
    tg_ctx *ctx = tg_ctx_new(1);
    alice_graph g = alice(ctx);
    tg_status status;
    tg_dot_options opts = {.grads_of = g.loss, .edge_derivatives = true, .title = "Alice: L = (y_true − o1)²"};
    char *text = dot_text(1, &g.loss, &opts, &status);
    cr_assert_eq(status, TG_OK);
    char path[1024];
    golden_path("alice_221.dot", path, sizeof path);
    if (getenv("TAPEGRAD_UPDATE_GOLDEN"))
        write_file(path, text);
    char *golden = read_text_file(path);
    cr_assert_not_null(golden, "missing golden file %s (regenerate with TAPEGRAD_UPDATE_GOLDEN=1)", path);
    cr_expect_str_eq(text, golden, "diagram differs from %s; if the change is intended, rerun with "
                                   "TAPEGRAD_UPDATE_GOLDEN=1 and review the diff",
                     path);
    expect_graphviz_accepts(text, "dot", "Alice's graph");
    free(golden);
    free(text);
    tg_ctx_free(ctx);
}

Test(dot, node_names_do_not_depend_on_pointers_or_earlier_tape)
{
    tg_ctx *a = tg_ctx_new(1), *b = tg_ctx_new(1);
    /* b has unrelated ops on its tape first, and tensors at other addresses */
    tg_tensor *junk = scalar(b, "junk", 3, true);
    for (int i = 0; i < 5; i++)
        junk = tg_mul(junk, junk);
    alice_graph ga = alice(a), gb = alice(b);
    tg_status sa, sb;
    char *ta = dot_text(1, &ga.loss, &(tg_dot_options){.edge_derivatives = true}, &sa);
    char *tb = dot_text(1, &gb.loss, &(tg_dot_options){.edge_derivatives = true}, &sb);
    cr_expect_str_eq(ta, tb);
    cr_expect_null(strstr(tb, "junk"), "only the subgraph reaching the output is drawn");
    free(ta);
    free(tb);
    tg_ctx_free(a);
    tg_ctx_free(b);
}

Test(dot, labels_are_escaped_and_utf8_is_kept)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *t = scalar(ctx, "a\"b\\c<d>&e\nf δ→\x01\xff", 1, true);
    tg_tensor *y = tg_mul_scalar(t, 2);
    tg_tensor_set_name(y, "layer'1.out");
    tg_status status;
    tg_dot_options opts = {.title = "title with \"quotes\" & <tags>", .group_separator = '.'};
    char *text = dot_text(1, &y, &opts, &status);
    cr_assert_eq(status, TG_OK);
    cr_expect_not_null(strstr(text, "<b>a&quot;b&#92;c&lt;d&gt;&amp;e<br/>f δ→?" "?</b>"), "%s", text);
    cr_expect_not_null(strstr(text, "label=<title with &quot;quotes&quot; &amp; &lt;tags&gt;>;"));
    cr_expect_not_null(strstr(text, "<b>layer&#39;1.out</b>"));
    expect_graphviz_accepts(text, "dot", "escaped labels");
    free(text);
    tg_ctx_free(ctx);
}

/* ---- big graphs ---- */

static const char *layer_of(const tg_tensor *t, void *user)
{
    (void)user;
    const char *name = tg_tensor_name(t);
    return name && !strncmp(name, "in", 2) ? "inputs" : NULL;
}

/* An MLP 4-8-8-3 with named parameters, softmax cross-entropy on top. */
static tg_tensor *mlp_loss(tg_ctx *ctx, tg_rng *rng)
{
    static const char *const names[3][2] = {{"layer1.weight", "layer1.bias"},
                                            {"layer2.weight", "layer2.bias"},
                                            {"layer3.weight", "layer3.bias"}};
    static const int sizes[4] = {4, 8, 8, 3};
    tg_tensor *x = tg_tensor_randn(ctx, rng, TG_F64, TG_SHAPE(5, 4), 0, 1);
    tg_tensor_set_name(x, "input");
    tg_tensor *h = x;
    for (int l = 0; l < 3; l++) {
        tg_tensor *w = tg_tensor_randn(ctx, rng, TG_F64, TG_SHAPE(sizes[l + 1], sizes[l]), 0, 0.5);
        tg_tensor *b = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(sizes[l + 1]));
        tg_tensor_set_name(w, names[l][0]);
        tg_tensor_set_name(b, names[l][1]);
        tg_tensor_set_requires_grad(w, true);
        tg_tensor_set_requires_grad(b, true);
        tg_tensor *z = tg_matmul_t(h, w, false, true);
        z = tg_add(z, b);
        h = l < 2 ? tg_tanh(z) : z;
    }
    tg_tensor *targets = tg_tensor_from(ctx, TG_F64, TG_SHAPE(5), (double[]){0, 1, 2, 1, 0});
    tg_tensor *loss = tg_cross_entropy(h, targets);
    tg_tensor_set_name(loss, "loss");
    return loss;
}

Test(dot, mlp_is_drawn_in_one_cluster_per_layer)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(7);
    tg_tensor *loss = mlp_loss(ctx, &rng);
    cr_assert_eq(tg_backward(loss), TG_OK);
    tg_status status;
    char *text = dot_text(1, &loss, &(tg_dot_options){.group_separator = '.'}, &status);
    cr_assert_eq(status, TG_OK);
    for (int l = 0; l < 3; l++) {
        char head[64];
        snprintf(head, sizeof head, "subgraph cluster_%d {", l);
        const char *start = strstr(text, head);
        cr_assert_not_null(start, "%s", text);
        const char *end = strstr(start, "\n  }\n");
        char label[32];
        snprintf(label, sizeof label, "label=<<b>layer%d</b>>", l + 1);
        const char *in = strstr(start, label);
        cr_expect(in && in < end, "cluster %d is layer%d", l, l + 1);
        const char *op = strstr(start, l < 2 ? "label=<tanh>" : "label=<add>");
        cr_expect(op && op < end, "layer%d's activation is inside its cluster", l + 1);
    }
    cr_expect_null(strstr(text, "cluster_3"));
    const char *loss_node = strstr(text, "<b>loss</b>");
    cr_assert_not_null(loss_node);
    for (const char *c = strstr(text, "subgraph cluster_"); c; c = strstr(c + 1, "subgraph cluster_")) {
        const char *end = strstr(c, "\n  }\n");
        cr_expect(loss_node < c || loss_node > end, "the output is drawn outside the clusters");
        const char *loss_op = strstr(c, "label=<cross_entropy>");
        cr_expect(!loss_op || loss_op > end, "the loss op is not inside a layer's cluster");
    }
    expect_graphviz_accepts(text, "dot", "MLP");
    free(text);

    /* a user-supplied grouping instead of names */
    text = dot_text(1, &loss, &(tg_dot_options){.group = layer_of}, &status);
    cr_expect_not_null(strstr(text, "subgraph cluster_0 {"));
    cr_expect_not_null(strstr(text, "label=<<b>inputs</b>>"));
    cr_expect_null(strstr(text, "cluster_1"));
    free(text);
    tg_ctx_free(ctx);
}

Test(dot, large_tensors_show_shape_and_gradient_norm_only)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(7);
    tg_tensor *loss = mlp_loss(ctx, &rng);
    cr_assert_eq(tg_backward(loss), TG_OK);
    tg_status status;
    char *text = dot_text(1, &loss, &(tg_dot_options){.max_values = 4}, &status);
    cr_expect_not_null(strstr(text, "<b>layer1.weight</b><br/><font point-size=\"9\">[8, 4]</font><br/>"
                                    "<font color=\"#b03a2e\">grad ‖·‖ "));
    cr_expect_not_null(strstr(text, "<b>layer3.bias</b><br/><font point-size=\"9\">[3]</font><br/>[0, 0, 0]<br/>"
                                    "<font color=\"#b03a2e\">grad ["));
    free(text);
    tg_ctx_free(ctx);
}

/* A long chain of vector ops; every fourth op brings in a fresh parameter (no
 * hub node with thousands of edges, which Graphviz lays out slowly). */
static tg_tensor *long_graph(tg_ctx *ctx, int n_ops)
{
    tg_tensor *h = tg_tensor_full(ctx, TG_F64, TG_SHAPE(3), 0.5);
    tg_tensor_set_name(h, "w");
    tg_tensor_set_requires_grad(h, true);
    for (int i = 0; i < n_ops - 1; i++) {
        switch (i % 4) {
        case 0: h = tg_tanh(h); break;
        case 1: h = tg_add(h, tg_tensor_temp(ctx, TG_F64, TG_SHAPE(3))); break;
        case 2: h = tg_mul_scalar(h, 0.9); break;
        default: h = tg_mul(h, h); break;
        }
    }
    return tg_sum(h);
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    size_t length = strlen(needle);
    for (const char *p = text; *p; p++) /* not strstr: sanitizers rescan the text on every call */
        n += !strncmp(p, needle, length);
    return n;
}

Test(dot, ten_thousand_ops_are_written_quickly)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *loss = long_graph(ctx, 10000);
    cr_assert_eq(tg_tape_length(ctx), 10000);
    tg_status status;
    clock_t start = clock();
    char *text = dot_text(1, &loss, &(tg_dot_options){.grads_of = loss, .edge_derivatives = true}, &status);
    double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
    cr_assert_eq(status, TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_lt(seconds, 3.0, "10000 ops took %.2f s", seconds);
    cr_expect_eq(count(text, " [shape=ellipse"), 10000);
    cr_expect_eq(count(text, " -> "), 10000 + 10000 + 10000 / 4 * 2 - 1);
    cr_expect_eq(tg_tape_length(ctx), 10000);
    expect_graphviz_accepts(text, "nop", "10000 ops (parse only)");
    free(text);
    tg_ctx_free(ctx);

    ctx = tg_ctx_new(1); /* a smaller one goes through the layout too */
    loss = long_graph(ctx, 200);
    text = dot_text(1, &loss, &(tg_dot_options){.edge_derivatives = true}, &status);
    cr_assert_eq(status, TG_OK);
    expect_graphviz_accepts(text, "dot", "200 ops");
    free(text);
    tg_ctx_free(ctx);
}

/* ---- the gradient computation is on the tape too ---- */

Test(dot, gradient_computation_recorded_with_create_graph_is_drawn)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *x = scalar(ctx, "x", 0.5, true);
    tg_tensor *y = tg_tanh(x);
    tg_tensor_set_name(y, "y");
    int64_t forward = tg_tape_length(ctx);
    tg_tensor *dydx;
    cr_assert_eq(tg_grad(y, NULL, 1, &x, &dydx, true), TG_OK);
    tg_tensor_set_name(dydx, "dy/dx");
    tg_status status;
    char *text = dot_text(1, &dydx, &(tg_dot_options){.gradient_ops_from = forward, .edge_derivatives = true}, &status);
    cr_assert_eq(status, TG_OK);
    cr_expect_eq(count(text, "fillcolor=\"#fff3cd\", label=<tanh>"), 1, "the forward op");
    cr_expect_eq(count(text, "fillcolor=\"#fdd5b1\", label=<tanh_backward>"), 1, "the op of dy·(1 - y²): %s", text);
    cr_expect_not_null(strstr(text, "<b>dy/dx</b>"));
    expect_graphviz_accepts(text, "dot", "gradient graph");
    free(text);
    tg_ctx_free(ctx);
}

/* ---- errors ---- */

Test(dot, errors_are_reported)
{
    tg_ctx *ctx = quiet_ctx();
    tg_tensor *a = scalar(ctx, "a", 1, true);
    tg_tensor *v = tg_tensor_ones(ctx, TG_F64, TG_SHAPE(2));
    tg_tensor_set_requires_grad(v, true);
    tg_tensor *y = tg_mul(v, a);
    cr_expect_eq(tg_dot_write(stdout, 0, &y, NULL), TG_ERR_ARG);
    cr_expect_eq(tg_dot_write(stdout, 1, (tg_tensor *[]){NULL}, NULL), TG_ERR_ARG);
    cr_expect_eq(tg_dot_write(NULL, 1, &y, NULL), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_dot_write(stdout, 1, &y, &(tg_dot_options){.grads_of = y}), TG_ERR_GRAD);
    cr_expect_not_null(strstr(tg_ctx_error(ctx), "grads_of has shape [2]"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_dot_save("/nonexistent-dir/x.dot", 1, &y, NULL), TG_ERR_IO);
    cr_expect_not_null(strstr(tg_ctx_error(ctx), "/nonexistent-dir/x.dot"));
    tg_ctx_clear_error(ctx);
    tg_tape_reset(ctx);
    cr_expect_eq(tg_dot_write(stdout, 1, &y, NULL), TG_ERR_FREED, "y was freed by the reset");
    tg_ctx_clear_error(ctx);
    tg_ctx *other = quiet_ctx();
    tg_tensor *b = scalar(other, "b", 1, true);
    cr_expect_eq(tg_dot_write(stdout, 2, (tg_tensor *[]){a, b}, NULL), TG_ERR_ARG);
    tg_ctx_free(other);
    tg_ctx_free(ctx);
}

Test(dot, save_writes_a_file)
{
    tg_ctx *ctx = tg_ctx_new(1);
    alice_graph g = alice(ctx);
    char path[64];
    snprintf(path, sizeof path, "test_dot_save_%ld.dot", (long)getpid());
    cr_assert_eq(tg_dot_save(path, 2, (tg_tensor *[]){g.h1, g.loss}, NULL), TG_OK);
    char *text = read_text_file(path);
    cr_assert_not_null(text);
    cr_expect_eq(strncmp(text, "digraph tapegrad {", 18), 0);
    cr_expect_eq(count(text, "peripheries=2"), 2, "both outputs are marked");
    free(text);
    remove(path);
    tg_ctx_free(ctx);
}

Test(dot, grads_of_marks_only_tensors_the_loss_depends_on)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *a = scalar(ctx, "a", 2, true), *b = scalar(ctx, "b", 3, true);
    tg_tensor *loss = tg_mul(a, a);
    tg_tensor_set_name(loss, "loss");
    tg_tensor *other = tg_mul_scalar(b, -1);
    tg_tensor_set_name(other, "other");
    tg_status status;
    char *text = dot_text(2, (tg_tensor *[]){loss, other}, &(tg_dot_options){.grads_of = loss}, &status);
    cr_assert_eq(status, TG_OK);
    cr_expect_not_null(strstr(text, "<b>a</b><br/>2<br/>"
                                    "<font color=\"#b03a2e\">grad 4</font>"));
    cr_expect_not_null(strstr(text, "<b>b</b><br/>3>];"),
                       "no path from b to loss: no gradient shown");
    cr_expect_not_null(strstr(text, "<b>other</b><br/>-3>];"));
    free(text);
    /* a leaf as grads_of: ∂a/∂a = 1 */
    text = dot_text(1, &loss, &(tg_dot_options){.grads_of = a}, &status);
    cr_assert_eq(status, TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_not_null(strstr(text, "<b>a</b><br/>2<br/>"
                                    "<font color=\"#b03a2e\">grad 1</font>"));
    cr_expect_not_null(strstr(text, "<b>loss</b><br/>4>];"));
    free(text);
    tg_ctx_free(ctx);
}

Test(dot, structure_is_drawn_even_after_an_error_or_a_freed_leaf)
{
    tg_ctx *ctx = quiet_ctx();
    alice_graph g = alice(ctx);
    tg_tensor_item(g.w[0]); /* fine */
    tg_ctx_fail(ctx, TG_ERR_SHAPE, "an earlier failure");
    tg_status status;
    char *text = dot_text(1, &g.loss, &(tg_dot_options){.grads_of = g.loss, .edge_derivatives = true}, &status);
    cr_expect_eq(status, TG_OK, "the diagram of a failed step is still written");
    cr_expect_eq(count(text, " [shape=ellipse"), 16);
    cr_expect_null(strstr(text, ">grad "), "no annotations while the context holds an error");
    cr_expect_str_eq(tg_ctx_error(ctx), "an earlier failure", "the first error stays");
    free(text);
    tg_ctx_clear_error(ctx);

    tg_tensor_free(g.w[0]);
    text = dot_text(1, &g.loss, &(tg_dot_options){.grads_of = g.loss, .edge_derivatives = true}, &status);
    cr_expect_eq(status, TG_OK);
    cr_expect_not_null(strstr(text, "leaf0 [shape=box, style=dashed, label=<<i>freed</i>>];"), "%s", text);
    expect_graphviz_accepts(text, "dot", "freed leaf");
    free(text);
    tg_ctx_free(ctx);
}

Test(dot, layout_and_number_options)
{
    tg_ctx *ctx = tg_ctx_new(1);
    alice_graph g = alice(ctx);
    tg_status status;
    char *text = dot_text(1, &g.loss, &(tg_dot_options){.top_to_bottom = true, .max_values = -1, .precision = 2},
                          &status);
    cr_assert_eq(status, TG_OK);
    cr_expect_not_null(strstr(text, "rankdir=TB;"));
    cr_expect_not_null(strstr(text, "<b>h1</b>>];"), "no values");
    free(text);
    text = dot_text(1, &g.loss, &(tg_dot_options){.precision = 3}, &status);
    cr_expect_not_null(strstr(text, "<b>h1</b><br/>0.0474>];"));
    free(text);
    tg_ctx_free(ctx);
}

/* ---- local derivatives on tensor edges (VJP labels) ---- */

#include "autograd/internal.h" /* the op descriptors, to list the built-in ops */

Test(dot, every_builtin_op_has_a_vjp_label)
{
    char missing[1024] = "";
#define TG_OP_CHECK_LABEL(NAME, name)                                   \
    if (!tg_op_##name.vjp_label)                                        \
        snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s", #name);
    TG_OP_LIST(TG_OP_CHECK_LABEL)
#undef TG_OP_CHECK_LABEL
    cr_expect_str_eq(missing, "", "built-in ops without a vjp_label in their descriptor:%s", missing);
}

/* The edge label from the tensor drawn as node `from` into an op. */
static const char *edge_text(const char *text, const char *from, char *buf, size_t size)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\n  %s -> op", from);
    const char *hit = strstr(text, needle);
    cr_assert_not_null(hit, "no edge from %s", from);
    const char *end = strchr(hit + 1, '\n');
    const char *label = strstr(hit, "label=<");
    cr_assert(label && label < end, "the edge from %s has no label", from);
    label += strlen("label=<");
    size_t n = (size_t)(strstr(label, ">]") - label);
    cr_assert_lt(n, size);
    memcpy(buf, label, n);
    buf[n] = '\0';
    return buf;
}

Test(dot, vector_edges_of_a_layered_mlp_carry_vjp_formulas)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(1);
    const int64_t widths[] = {2, 2, 1};
    const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_SIGMOID};
    tg_mlp *net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_XAVIER, &rng);
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3, 2), (double[]){-2, -1, 1, 2, 0, 1});
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3, 1), (double[]){1, 0, 1});
    tg_tensor_set_name(x, "x");
    tg_tensor *loss = tg_loss_mse(tg_mlp_forward(net, x), y);
    cr_assert_eq(tg_backward(loss), TG_OK);
    tg_status status;
    char *text = dot_text(1, &loss, &(tg_dot_options){.edge_derivatives = true}, &status);
    cr_assert_eq(status, TG_OK, "%s", tg_ctx_error(ctx));
    char id[32], label[128];
    node_id(text, "layer1.weight", id, sizeof id);
    cr_expect_str_eq(edge_text(text, id, label, sizeof label), "δᵀ·x", "z = x·Wᵀ: dW = δᵀ·x");
    node_id(text, "layer1.bias", id, sizeof id);
    cr_expect_str_eq(edge_text(text, id, label, sizeof label), "Σ over batch");
    /* the linear op's result into the sigmoid */
    cr_expect_not_null(strstr(text, "label=<⊙σ(z)(1−σ(z))>]"), "%s", text);
    cr_expect_not_null(strstr(text, "label=<·W>]"), "layer 2's input: dX = δ·W");
    expect_graphviz_accepts(text, "dot", "VJP labels");
    free(text);
    /* without edge_derivatives, no labels */
    text = dot_text(1, &loss, NULL, &status);
    cr_expect_null(strstr(text, "label=<·W>"));
    free(text);
    tg_tensor_free(x);
    tg_tensor_free(y);
    tg_tape_reset(ctx);
    tg_mlp_free(net);
    tg_ctx_free(ctx);
}

Test(dot, vjp_labels_read_from_the_tape_and_fall_back_for_bad_indices)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *a = tg_tensor_ones(ctx, TG_F64, TG_SHAPE(2, 3));
    tg_tensor *w = tg_tensor_ones(ctx, TG_F64, TG_SHAPE(3, 4));
    tg_tensor_set_name(w, "W");
    tg_tensor_set_requires_grad(a, true);
    tg_tensor_set_requires_grad(w, true);
    tg_tensor *c = tg_matmul(a, w);
    int64_t i = tg_tensor_creator(c);
    char buf[64];
    cr_expect_str_eq(tg_tape_entry_vjp_label(ctx, i, 0, buf, sizeof buf), "·Wᵀ");
    cr_expect_str_eq(tg_tape_entry_vjp_label(ctx, i, 1, buf, sizeof buf), "Xᵀ·");
    cr_expect_str_eq(tg_tape_entry_vjp_label(ctx, i, 2, buf, sizeof buf), "?", "no input 2");
    cr_expect_str_eq(tg_tape_entry_vjp_label(ctx, i + 1, 0, buf, sizeof buf), "?", "no entry");
    cr_expect_str_eq(tg_tape_entry_vjp_label(NULL, 0, 0, buf, sizeof buf), "?");
    cr_expect_null(tg_tape_entry_vjp_label(ctx, i, 0, NULL, 8));
    tg_tensor *s = tg_mul_scalar(tg_sigmoid(c), 0.5);
    cr_expect_str_eq(tg_tape_entry_vjp_label(ctx, tg_tensor_creator(s), 0, buf, sizeof buf), "·0.5");
    tg_tensor_free(a);
    tg_tensor_free(w);
    tg_ctx_free(ctx);
}

Test(dot, a_label_buffer_too_small_is_cut_with_an_ellipsis_never_overflowed)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *z = tg_tensor_ones(ctx, TG_F64, TG_SHAPE(2));
    tg_tensor_set_requires_grad(z, true);
    tg_tensor *y = tg_sigmoid(z);
    int64_t i = tg_tensor_creator(y);
    char buf[32];
    for (size_t size = 1; size <= sizeof buf; size++) {
        memset(buf, '#', sizeof buf);
        tg_tape_entry_vjp_label(ctx, i, 0, buf, size);
        size_t n = strlen(buf);
        cr_assert_lt(n, size, "size %zu: %zu bytes written", size, n);
        for (size_t k = size; k < sizeof buf; k++)
            cr_assert_eq(buf[k], '#', "size %zu: byte %zu past the buffer was written", size, k);
        if (size > strlen("⊙σ(z)(1−σ(z))"))
            cr_expect_str_eq(buf, "⊙σ(z)(1−σ(z))");
        else if (size > strlen("…"))
            cr_expect(n >= 3 && !strcmp(buf + n - 3, "…"), "size %zu: \"%s\" ends in an ellipsis", size, buf);
    }
    tg_tape_entry_vjp_label(ctx, i, 0, buf, 9);
    cr_expect_str_eq(buf, "⊙σ…", "⊙ is 3 bytes, σ 2, … 3");
    tg_tape_entry_vjp_label(ctx, i, 0, buf, 8);
    cr_expect_str_eq(buf, "⊙…", "cut at a character boundary, not inside σ");
    tg_tape_entry_label(ctx, i, buf, 6);
    cr_expect_str_eq(buf, "si…", "op labels too");
    tg_tensor_free(z);
    tg_ctx_free(ctx);
}

/* A user op supplies its own VJP label; without one, edges read "∂/∂x<i>". */
static tg_status square_forward(const tg_op_call *call)
{
    for (int64_t i = 0; i < tg_tensor_size(call->output); i++) {
        double v = tg_tensor_get(call->inputs[0], i);
        tg_tensor_set(call->output, i, v * v);
    }
    return TG_OK;
}

static tg_status square_backward(const tg_op_call *call, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_mul(dy, tg_mul_scalar(call->inputs[0], 2));
    return dx[0] ? TG_OK : TG_ERR_ARG;
}

static void square_vjp_label(const tg_op_call *call, int input, char *buf, size_t size)
{
    (void)call, (void)input;
    snprintf(buf, size, "⊙2x");
}

Test(dot, a_user_op_draws_its_own_vjp_label)
{
    tg_ctx *ctx = tg_ctx_new(1);
    const tg_op *square = tg_op_register(ctx, &(tg_op_def){.name = "square", .forward = square_forward,
                                                           .backward = square_backward, .vjp_label = square_vjp_label});
    const tg_op *plain = tg_op_register(ctx, &(tg_op_def){.name = "plain_square", .forward = square_forward,
                                                          .backward = square_backward});
    cr_assert(square && plain, "%s", tg_ctx_error(ctx));
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3), (double[]){1, 2, 3});
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = tg_op_apply(square, 1, &x, NULL);
    tg_tensor *z = tg_op_apply(plain, 1, &y, NULL);
    tg_tensor *loss = tg_sum(z);
    char buf[32];
    cr_expect_str_eq(tg_tape_entry_vjp_label(ctx, tg_tensor_creator(y), 0, buf, sizeof buf), "⊙2x");
    cr_expect_str_eq(tg_tape_entry_vjp_label(ctx, tg_tensor_creator(z), 0, buf, sizeof buf), "∂/∂x0");
    tg_status status;
    char *text = dot_text(1, &loss, &(tg_dot_options){.edge_derivatives = true}, &status);
    cr_assert_eq(status, TG_OK);
    cr_expect_not_null(strstr(text, "label=<⊙2x>]"), "%s", text);
    cr_expect_not_null(strstr(text, "label=<∂/∂x0>]"));
    free(text);
    tg_tensor_free(x);
    tg_ctx_free(ctx);
}

/* ---- diagrams that fit ---- */

/* Everything a pipe gives until it closes (caller frees); the pipe is closed. */
static char *slurp_pipe(FILE *p)
{
    size_t size = 0, cap = 1 << 16;
    char *text = malloc(cap);
    for (size_t n; text && (n = fread(text + size, 1, cap - size - 1, p)) > 0;) {
        size += n;
        if (cap - size < 2) {
            char *grown = realloc(text, cap *= 2);
            if (!grown)
                free(text);
            text = grown;
        }
    }
    pclose(p);
    if (text)
        text[size] = '\0';
    return text;
}

/* The width of text's layout by Graphviz's dot, in points (-1 when dot fails). */
static double layout_width_pt(const char *text)
{
    char path[64], command[128];
    snprintf(path, sizeof path, "test_dot_width_%ld.dot", (long)getpid()); /* parallel test processes */
    snprintf(command, sizeof command, "dot -Tsvg %s 2>/dev/null", path);
    write_file(path, text);
    FILE *p = popen(command, "r");
    cr_assert_not_null(p);
    char *svg = slurp_pipe(p);
    double width = -1;
    const char *at = svg ? strstr(svg, "<svg width=\"") : NULL;
    if (at)
        width = atof(at + strlen("<svg width=\""));
    free(svg);
    remove(path);
    return width;
}

/* 3 steps (the case), 8, and 50 (250 ops: a few hundred) */
Test(dot, an_unrolled_rnn_fits_1600_px_with_no_options)
{
    tg_ctx *ctx = tg_ctx_new(1);
    const int unrolled[] = {3, 8, 50};
    for (int i = 0; i < 3; i++) {
        int steps = unrolled[i];
        elman_graph g = elman(ctx, steps);
        cr_assert_eq(tg_backward(g.loss), TG_OK);
        tg_status status;
        char *text = dot_text(1, &g.loss, NULL, &status);
        cr_assert_eq(status, TG_OK);
        cr_expect_not_null(strstr(text, "rankdir=TB;"), "%d steps: deeper than wide, so top to bottom", steps);
        /* W_hh is drawn beside each step that uses it: its own node, and copies _u1, _u2, ... */
        char id[32];
        node_id(text, "W_hh", id, sizeof id);
        char copy[48];
        snprintf(copy, sizeof copy, "%s_u%d [", id, steps - 2);
        cr_expect_not_null(strstr(text, copy), "%d steps: W_hh drawn %d times", steps, steps - 1);
        double width = layout_width_pt(text);
        cr_expect(width > 0 && width <= 1200, "%d steps: %.0f pt wide; expected at most 1200 pt (1600 px)", steps, width);
        free(text);
        /* the same with VJP formulas on the edges */
        text = dot_text(1, &g.loss, &(tg_dot_options){.edge_derivatives = true}, &status);
        cr_expect_not_null(strstr(text, "label=<⊙(1−tanh²(z))>]"), "the recurrent chain carries labels");
        cr_expect_not_null(strstr(text, "label=<·W_hhᵀ>]"), "h_{t−1} gets δ·W_hhᵀ");
        cr_expect_not_null(strstr(text, "label=<Xᵀ·>]"), "W_hh gets h_{t−1}ᵀ·δ");
        width = layout_width_pt(text);
        cr_expect(width > 0 && width <= 1200, "%d steps with labels: %.0f pt wide", steps, width);
        free(text);
        elman_free(&g);
        tg_tape_reset(ctx);
    }
    tg_ctx_free(ctx);
}

Test(dot, rankdir_follows_the_graph_unless_forced)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *a = scalar(ctx, "a", 2, true);
    tg_tensor *y = tg_mul_scalar(tg_add_scalar(a, 1), 3); /* two ops: shallow */
    tg_status status;
    char *text = dot_text(1, &y, NULL, &status);
    cr_expect_not_null(strstr(text, "rankdir=LR;"), "a short graph reads left to right");
    free(text);
    alice_graph g = alice(ctx);
    text = dot_text(1, &g.loss, NULL, &status);
    cr_expect_not_null(strstr(text, "rankdir=TB;"), "Alice's graph is deeper than wide");
    free(text);
    text = dot_text(1, &g.loss, &(tg_dot_options){.left_to_right = true}, &status);
    cr_expect_not_null(strstr(text, "rankdir=LR;"));
    free(text);
    text = dot_text(1, &y, &(tg_dot_options){.top_to_bottom = true}, &status);
    cr_expect_not_null(strstr(text, "rankdir=TB;"));
    free(text);
    alice_free(&g);
    tg_tensor_free(a);
    tg_ctx_free(ctx);
}

Test(dot, dotted_names_give_clusters_without_options)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(7);
    tg_tensor *loss = mlp_loss(ctx, &rng);
    tg_status status;
    char *text = dot_text(1, &loss, NULL, &status);
    cr_expect_not_null(strstr(text, "label=<<b>layer1</b>>"), "layer1.weight gives cluster layer1");
    cr_expect_not_null(strstr(text, "subgraph cluster_2 {"));
    free(text);
    text = dot_text(1, &loss, &(tg_dot_options){.no_clusters = true}, &status);
    cr_expect_null(strstr(text, "subgraph cluster_"));
    free(text);
    tg_ctx_free(ctx);
}

Test(dot, per_layer_view_has_one_node_per_layer_with_shapes_and_gradient_norms)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(7);
    tg_tensor *loss = mlp_loss(ctx, &rng);
    cr_assert_eq(tg_backward(loss), TG_OK);
    tg_status status;
    char *text = dot_text(1, &loss, &(tg_dot_options){.per_layer = true}, &status);
    cr_assert_eq(status, TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_eq(count(text, "[shape=box, style=\"rounded,filled\""), 3, "%s", text);
    cr_expect_null(strstr(text, "label=<matmul"), "no op inside a layer is drawn");
    cr_expect_not_null(strstr(text, "<b>layer1</b><br/>weight <font point-size=\"9\">["));
    cr_expect_not_null(strstr(text, "‖grad‖ "));
    cr_expect_not_null(strstr(text, "layer0 -> layer1;"));
    cr_expect_not_null(strstr(text, "layer1 -> layer2;"));
    expect_graphviz_accepts(text, "dot", "per-layer view");
    free(text);
    tg_ctx_free(ctx);
}

/* The CNN and LSTM of tapegrad/model.h draw within 1600 px with no layout
 * options: LeNet stacks its layer clusters; the LSTM, whose weights are used
 * at every time step, is drawn unclustered like a hand-built RNN, with its
 * sequence's slices and outputs drawn again (dashed) beside each step. */
Test(dot, lenet_and_an_lstm_model_fit_1600_px_with_no_options)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(1);
    tg_model *lenet = tg_model_new(ctx, TG_F32, TG_SHAPE(1, 28, 28), TG_LAYERS(
        {.kind = TG_LAYER_CONV2D, .in = 1, .out = 6, .kernel = 5, .padding = 2, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = TG_LAYER_CONV2D, .in = 6, .out = 16, .kernel = 5, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = TG_LAYER_FLATTEN},
        {.kind = TG_LAYER_DENSE, .in = 400, .out = 120, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_DENSE, .in = 120, .out = 84, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_DENSE, .in = 84, .out = 10}), &rng);
    tg_model *lstm = tg_model_new(ctx, TG_F32, 0, NULL, TG_LAYERS(
        {.kind = TG_LAYER_EMBEDDING, .in = 20, .out = 8, .init = TG_INIT_NORMAL},
        {.kind = TG_LAYER_LSTM, .in = 8, .out = 16},
        {.kind = TG_LAYER_DENSE, .in = 16, .out = 20}), &rng);
    cr_assert(lenet && lstm, "%s", tg_ctx_error(ctx));
    tg_tensor *image = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(2, 1, 28, 28), 0, 1);
    tg_tensor *tokens = tg_tensor_new(ctx, TG_F32, TG_SHAPE(1, 6)); /* one sequence of 6 steps, batch-first */
    for (int i = 0; i < 6; i++)
        tg_tensor_set(tokens, i, i + 1);
    tg_tensor *logits[2] = {tg_model_forward(lenet, image), tg_model_forward(lstm, tokens)};
    for (int m = 0; m < 2; m++) {
        cr_assert_not_null(logits[m], "%s", tg_ctx_error(ctx));
        tg_tensor *loss = tg_mean(tg_mul(logits[m], logits[m]));
        cr_assert_eq(tg_backward(loss), TG_OK);
        tg_status status;
        char *text = dot_text(1, &loss, NULL, &status);
        cr_assert_eq(status, TG_OK);
        double width = layout_width_pt(text);
        cr_expect(width > 0 && width <= 1200, "%s: %.0f pt wide; expected at most 1200 pt (1600 px)",
                  m ? "LSTM" : "LeNet", width);
        if (m == 0)
            cr_expect_not_null(strstr(text, "label=<<b>conv2</b>>"), "LeNet keeps its layer clusters");
        else
            cr_expect_not_null(strstr(text, "style=\"filled,dashed\""), "the LSTM's shared tensors drawn again");
        free(text);
    }
    tg_tensor_free(tokens);
    tg_model_free(lenet);
    tg_model_free(lstm);
    tg_ctx_free(ctx);
}

/* ---- fitting a page: an 880 px column, labels at least 10 px high ---- */

/* The SVG Graphviz's dot draws from text (NULL when dot fails). */
static char *svg_of(const char *text)
{
    char path[64], command[128];
    snprintf(path, sizeof path, "test_dot_svg_%ld.dot", (long)getpid());
    snprintf(command, sizeof command, "dot -Tsvg %s 2>/dev/null", path);
    write_file(path, text);
    FILE *p = popen(command, "r");
    cr_assert_not_null(p);
    char *svg = slurp_pipe(p);
    remove(path);
    return svg;
}

/* The height in px of the smallest label of svg shown in a column 880 px
 * wide: at its natural size (1 pt = 4/3 px) when it fits, else scaled down
 * to the column's width. 0 when svg has no size or no text. */
static double smallest_label_px(const char *svg, double *width_pt)
{
    const char *at = svg ? strstr(svg, "<svg width=\"") : NULL;
    *width_pt = at ? atof(at + strlen("<svg width=\"")) : 0;
    double smallest = 0;
    for (const char *f = svg ? strstr(svg, "font-size=\"") : NULL; f; f = strstr(f + 1, "font-size=\"")) {
        double size = atof(f + strlen("font-size=\""));
        smallest = smallest == 0 || size < smallest ? size : smallest;
    }
    if (*width_pt <= 0)
        return 0;
    double px_per_pt = 880 / *width_pt < 4.0 / 3 ? 880 / *width_pt : 4.0 / 3;
    return smallest * px_per_pt;
}

/* The vertical centre (SVG y, down is larger) of node id in svg; NAN if absent. */
static double node_y(const char *svg, const char *id)
{
    char title[48];
    snprintf(title, sizeof title, "<title>%s</title>", id);
    const char *at = strstr(svg, title);
    const char *cy = at ? strstr(at, " cy=\"") : NULL;
    return cy ? atof(cy + strlen(" cy=\"")) : NAN;
}

/* Issue 20's sequential RNN classifier (RNN 1 -> 16, last state, dense 16 ->
 * 2) at T = 3, 6, 10, 20 and 50 steps, with default options: the whole graph
 * and the per-layer view fit an 880 px column with labels of 10 px or more
 * (the tutorial's claim), step t + 1 is drawn below step t, and the loss op
 * is not inside the head's cluster. */
Test(dot, a_sequential_rnn_model_fits_an_880_px_column_at_every_length, .timeout = 120)
{
    if (system("command -v dot > /dev/null 2>&1") != 0)
        cr_skip_test("Graphviz's dot is not installed (apt-get install graphviz)");
    const int lengths[] = {3, 6, 10, 20, 50};
    for (int i = 0; i < 5; i++) {
        int steps = lengths[i];
        tg_ctx *ctx = tg_ctx_new(1);
        tg_rng rng = tg_rng_seed(1);
        tg_model *model = tg_model_new(ctx, TG_F32, TG_SHAPE(steps, 1), TG_LAYERS(
            {.kind = TG_LAYER_RNN, .in = 1, .out = 16, .last_state = true},
            {.kind = TG_LAYER_DENSE, .in = 16, .out = 2}), &rng);
        cr_assert_not_null(model, "%s", tg_ctx_error(ctx));
        tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(4, steps, 1), 0, 1);
        tg_tensor *labels = tg_tensor_from(ctx, TG_F32, TG_SHAPE(4), (double[]){0, 1, 1, 0});
        tg_tensor *loss = tg_cross_entropy(tg_model_forward(model, x), labels);
        cr_assert_not_null(loss, "%s", tg_ctx_error(ctx));
        cr_assert_eq(tg_backward(loss), TG_OK);
        for (int view = 0; view < 2; view++) {
            tg_status status;
            char *text = dot_text(1, &loss, &(tg_dot_options){.per_layer = view == 1}, &status);
            cr_assert_eq(status, TG_OK);
            char *svg = svg_of(text);
            double width;
            double label_px = smallest_label_px(svg, &width);
            cr_expect(label_px >= 10, "T = %d%s: %.0f pt wide, smallest label %.1f px in an 880 px column", steps,
                      view ? " (per layer)" : "", width, label_px);
            cr_expect(width * 4 / 3 < 1000, "T = %d%s: %.0f px wide; the tutorial says under 1000 px", steps,
                      view ? " (per layer)" : "", width * 4 / 3);
            if (view == 0) {
                /* the tanh of each step, in tape order, lower on the page than the one before */
                double previous = -INFINITY;
                int seen = 0;
                for (const char *op = strstr(text, "[shape=ellipse"); op; op = strstr(op + 1, "[shape=ellipse")) {
                    const char *line = op;
                    while (line > text && line[-1] != '\n')
                        line--;
                    const char *label = strstr(op, "label=<");
                    if (!label || strncmp(label, "label=<tanh>", 12) != 0 || label > strchr(op, '\n'))
                        continue;
                    char id[32];
                    sscanf(line, " %31[a-z0-9_]", id);
                    double y = node_y(svg, id);
                    cr_expect(y > previous, "T = %d: the tanh of step %d (%s) is drawn above step %d's", steps,
                              seen + 1, id, seen);
                    previous = y;
                    seen++;
                }
                cr_expect_eq(seen, steps, "one tanh per step");
                for (const char *c = strstr(text, "subgraph cluster_"); c; c = strstr(c + 1, "subgraph cluster_")) {
                    const char *end = strstr(c, "\n  }\n"), *ce = strstr(c, "label=<cross_entropy>");
                    cr_expect(!ce || ce > end, "T = %d: the loss op sits inside a layer's cluster", steps);
                }
            } else {
                char bundle[48];
                snprintf(bundle, sizeof bundle, "label=<%d inputs<br/>", steps);
                cr_expect_not_null(strstr(text, bundle), "T = %d: the time steps' inputs are one node", steps);
            }
            free(svg);
            free(text);
        }
        /* the model's own diagram (tg_model_dot_save), whole and per layer */
        for (int view = 0; view < 2; view++) {
            char path[64];
            snprintf(path, sizeof path, "test_dot_model_%ld.dot", (long)getpid());
            cr_assert_eq(tg_model_dot_save(model, x, path, &(tg_dot_options){.per_layer = view == 1}), TG_OK, "%s",
                         tg_ctx_error(ctx));
            char *text = read_text_file(path);
            remove(path);
            cr_assert_not_null(text);
            char *svg = svg_of(text);
            double width;
            double label_px = smallest_label_px(svg, &width);
            cr_expect(label_px >= 10 && width * 4 / 3 < 1000, "T = %d, tg_model_dot_save%s: %.0f pt wide, smallest "
                      "label %.1f px", steps, view ? " (per layer)" : "", width, label_px);
            free(svg);
            free(text);
        }
        tg_tensor_free(x);
        tg_tensor_free(labels);
        tg_model_free(model);
        tg_ctx_free(ctx);
    }
}

/* A weight shared by time steps is drawn beside each use: each drawing shows
 * what that use adds to its gradient, the contributions sum to the tape's
 * gradient, and the total is shown once. */
Test(dot, each_drawing_of_a_shared_weight_shows_its_own_contribution_and_the_total_once)
{
    tg_ctx *ctx = tg_ctx_new(1);
    elman_graph g = elman(ctx, 3);
    cr_assert_eq(tg_backward(g.loss), TG_OK);
    tg_status status;
    char *text = dot_text(1, &g.loss, &(tg_dot_options){.grads_of = g.loss}, &status);
    cr_assert_eq(status, TG_OK, "%s", tg_ctx_error(ctx));
    double sum[ELMAN_HIDDEN] = {0};
    int drawings = 0, totals = 0;
    for (const char *at = strstr(text, "<b>b_h</b>"); at; at = strstr(at + 1, "<b>b_h</b>")) {
        const char *end = strchr(at, '\n');
        const char *use = strstr(at, "this use [");
        cr_assert(use && use < end, "every drawing of b_h shows its use's contribution");
        double v[ELMAN_HIDDEN];
        cr_assert_eq(sscanf(use, "this use [%lf, %lf, %lf]", &v[0], &v[1], &v[2]), 3);
        for (int i = 0; i < ELMAN_HIDDEN; i++)
            sum[i] += v[i];
        const char *total = strstr(at, "total grad [");
        totals += total && total < end;
        drawings++;
    }
    cr_expect_eq(drawings, 3, "b_h is drawn beside each of its 3 uses");
    cr_expect_eq(totals, 1, "the total is shown once");
    const tg_tensor *grad = tg_tensor_grad(g.b_h);
    for (int i = 0; i < ELMAN_HIDDEN; i++)
        cr_expect(fabs(sum[i] - tg_tensor_get(grad, i)) < 1e-3 * fabs(tg_tensor_get(grad, i)) + 1e-6,
                  "b_h[%d]: the uses sum to %g; the tape's gradient is %g", i, sum[i], tg_tensor_get(grad, i));
    free(text);
    elman_free(&g);
    tg_ctx_free(ctx);
}
