/* The step-through page of a backward pass (tg_backward_page_save): it holds
 * the values the tape recorded, it refuses a graph with no recorded backward,
 * it falls back to the per-layer view for thousands of ops, it reports a
 * missing Graphviz and keeps the .dot file, and in a real headless browser
 * (Debian's chromium) three steps highlight the tape's node and show the
 * tape's δ, and the screenshot is not blank. */
#define _POSIX_C_SOURCE 200809L /* setenv, mkdtemp */

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"
#include "tests/support.h"
#include "examples/alice_course.h"
#include "examples/elman_graph.h"
#include "examples/xor_course.h"

static bool have_program(const char *name)
{
    char command[128];
    snprintf(command, sizeof command, "command -v %s > /dev/null 2>&1", name);
    return system(command) == 0;
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* A recorded backward of Alice's graph, written as dir/alice.html; with
 * course set, in the course's notation (examples/alice_course.h). */
static alice_graph recorded_alice(tg_ctx *ctx, const char *dir, char *path, size_t size, alice_course *course)
{
    alice_graph g = alice(ctx);
    if (course)
        alice_course_view(&g, course);
    cr_assert_not(tg_backward_set_recording(ctx, true), "recording is off by default");
    cr_assert_eq(tg_backward(g.loss), TG_OK);
    cr_assert(tg_backward_set_recording(ctx, false));
    snprintf(path, size, "%s/alice.html", dir);
    tg_page_options opts = {.diagram = {.title = ALICE_COURSE_TITLE}};
    if (course) {
        opts.notes = course->notes;
        opts.n_notes = course->n;
        opts.glossary = ALICE_GLOSSARY;
    }
    cr_assert_eq(tg_backward_page_save(path, g.loss, &opts), TG_OK, "%s", tg_ctx_error(ctx));
    return g;
}

/* The tape entry that made t's input `input` (t made by an op). */
static int64_t creator_of_input(tg_ctx *ctx, const tg_tensor *t, int input, tg_tensor **in)
{
    tg_tape_entry e;
    cr_assert(tg_tape_entry_at(ctx, tg_tensor_creator(t), &e));
    *in = e.inputs[input];
    return tg_tensor_creator(*in);
}

static void format4(char *buf, size_t size, double v) { snprintf(buf, size, "%.4g", v); }

Test(page, holds_the_deltas_and_contributions_the_tape_recorded)
{
    if (!have_program("dot"))
        cr_skip_test("Graphviz's dot is not installed (apt-get install graphviz)");
    char dir[64];
    cr_assert_not_null(make_scratch_dir(dir, sizeof dir, "tg_page_"));
    tg_ctx *ctx = tg_ctx_new(1);
    char path[128];
    alice_graph g = recorded_alice(ctx, dir, path, sizeof path, NULL);
    char *html = read_text_file(path);
    cr_assert_not_null(html);
    cr_expect_not_null(strstr(html, "<svg"), "the graph is inline SVG");
    cr_expect_null(strstr(html, "http://") ? strstr(strstr(html, "</svg>"), "src=\"http") : NULL,
                   "nothing is loaded from the network");
    cr_expect_eq(count(html, "{\"index\": "), 16, "one step per tape entry of the 16 ops");
    /* step 1: the loss's own δ = 1; step 2: δ at o1 = ∂L/∂o1 = -2(1 - o1) */
    cr_expect_not_null(strstr(html, "{\"index\": 15, \"node\": \"op15\", \"out\": \"t15\", \"op\": \"mse_loss\", "
                                    "\"name\": \"L\", \"delta\": \"1\""));
    char expected[256], number[32];
    format4(number, sizeof number, -2 * (1 - tg_tensor_item(g.o1)));
    snprintf(expected, sizeof expected, "\"op\": \"sigmoid\", \"name\": \"o1\", \"delta\": \"%s\"", number);
    cr_expect_not_null(strstr(html, expected), "%s", expected);
    /* w1's one contribution completes its gradient: the tape's .grad */
    format4(number, sizeof number, tg_tensor_item(tg_tensor_grad(g.w[0])));
    snprintf(expected, sizeof expected, "\"name\": \"w1\", \"vjp\": \"⊙x1\", \"local\": \"-2\", \"sent\": \"%s\", "
                                        "\"total\": \"%s\", \"leaf\": true, \"done\": true", number, number);
    cr_expect_not_null(strstr(html, expected), "%s", expected);
    cr_expect_eq(count(html, "\"done\": true"), 9, "nine parameters complete, once each");
    char dot_path[128];
    snprintf(dot_path, sizeof dot_path, "%s/alice.dot", dir);
    char *dot = read_text_file(dot_path);
    cr_expect_not_null(dot, "the .dot file is kept beside the page");
    free(dot);
    free(html);
    alice_free(&g);
    tg_ctx_free(ctx);
    remove_scratch_dir(dir);
}

Test(page, a_graph_with_no_recorded_backward_is_a_clear_error)
{
    tg_ctx *ctx = quiet_ctx();
    alice_graph g = alice(ctx);
    cr_expect_eq(tg_backward_page_save("/tmp/tg_unused.html", g.loss, NULL), TG_ERR_GRAD);
    cr_expect_not_null(strstr(tg_ctx_error(ctx), "no backward of \"L\" was recorded"), "%s", tg_ctx_error(ctx));
    cr_expect_not_null(strstr(tg_ctx_error(ctx), "tg_backward_set_recording(ctx, true)"));
    tg_ctx_clear_error(ctx);
    cr_assert_eq(tg_backward_retain(g.loss, NULL), TG_OK); /* not recorded; the next pass walks the same tape */
    cr_expect_eq(tg_backward_page_save("/tmp/tg_unused.html", g.loss, NULL), TG_ERR_GRAD);
    tg_ctx_clear_error(ctx);
    tg_backward_set_recording(ctx, true);
    cr_assert_eq(tg_backward(g.loss), TG_OK);
    cr_expect_eq(tg_backward_page_save("/tmp/tg_unused.html", g.o1, NULL), TG_ERR_GRAD, "o1's backward was not run");
    tg_ctx_clear_error(ctx);
    tg_tensor *grads[1];
    cr_assert_eq(tg_grad(g.o1, NULL, 1, &g.w[0], grads, false), TG_OK);
    cr_expect_eq(tg_backward_page_save("/tmp/tg_unused.html", g.o1, NULL), TG_ERR_GRAD, "tg_grad is never recorded");
    tg_ctx_clear_error(ctx);
    alice_free(&g);
    tg_tape_reset(ctx);
    g = alice(ctx);
    cr_expect_eq(tg_backward_page_save("/tmp/tg_unused.html", g.loss, NULL), TG_ERR_GRAD, "a new step, no record");
    tg_ctx_clear_error(ctx);
    /* NULL arguments */
    cr_expect_eq(tg_backward_page_save("/tmp/tg_unused.html", NULL, NULL), TG_ERR_ARG);
    cr_expect_eq(tg_backward_page_save(NULL, g.loss, NULL), TG_ERR_ARG);
    cr_expect_not(tg_backward_set_recording(NULL, true));
    tg_ctx_clear_error(ctx);
    alice_free(&g);
    tg_ctx_free(ctx);
}

Test(page, missing_graphviz_is_a_clear_error_and_the_dot_file_is_written)
{
    char dir[64];
    cr_assert_not_null(make_scratch_dir(dir, sizeof dir, "tg_page_"));
    const char *old = getenv("PATH");
    char *saved = old ? strdup(old) : NULL;
    tg_ctx *ctx = quiet_ctx();
    alice_graph g = alice(ctx);
    tg_backward_set_recording(ctx, true);
    cr_assert_eq(tg_backward(g.loss), TG_OK);
    char path[128], dot_path[128];
    snprintf(path, sizeof path, "%s/page.html", dir);
    snprintf(dot_path, sizeof dot_path, "%s/page.dot", dir);
    setenv("PATH", dir, 1); /* an empty directory: no dot on PATH */
    tg_status status = tg_backward_page_save(path, g.loss, NULL);
    if (saved)
        setenv("PATH", saved, 1);
    free(saved);
    cr_expect_eq(status, TG_ERR_IO);
    cr_expect_not_null(strstr(tg_ctx_error(ctx), "Graphviz's dot is not on PATH"), "%s", tg_ctx_error(ctx));
    cr_expect_not_null(strstr(tg_ctx_error(ctx), dot_path), "the message names the .dot file");
    char *dot = read_text_file(dot_path);
    cr_expect(dot && !strncmp(dot, "digraph tapegrad {", 18), "the .dot file is written all the same");
    free(dot);
    char *html = read_text_file(path);
    cr_expect_null(html, "no page without a picture");
    free(html);
    alice_free(&g);
    tg_ctx_free(ctx);
    remove_scratch_dir(dir);
}

Test(page, thousands_of_ops_fall_back_to_the_per_layer_view_and_say_so)
{
    if (!have_program("dot"))
        cr_skip_test("Graphviz's dot is not installed (apt-get install graphviz)");
    enum { LAYERS = 400 }; /* 3 ops each: 1200 tape entries, and a loss */
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(5);
    tg_tensor *weights[LAYERS], *biases[LAYERS];
    tg_tensor *h = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(2, 3), 0, 1); /* step tensors: freed with the context */
    for (int i = 0; i < LAYERS; i++) {
        char name[32];
        weights[i] = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(3, 3), 0, 0.5);
        biases[i] = tg_tensor_rand(ctx, &rng, TG_F64, TG_SHAPE(3), -0.1, 0.1);
        snprintf(name, sizeof name, "block%d.weight", i);
        tg_tensor_set_name(weights[i], name);
        snprintf(name, sizeof name, "block%d.bias", i);
        tg_tensor_set_name(biases[i], name);
        tg_tensor_set_requires_grad(weights[i], true);
        tg_tensor_set_requires_grad(biases[i], true);
    }
    for (int i = 0; i < LAYERS; i++)
        h = tg_tanh(tg_add(tg_matmul(h, weights[i]), biases[i]));
    tg_tensor *loss = tg_mean(h);
    tg_backward_set_recording(ctx, true);
    cr_assert_eq(tg_backward(loss), TG_OK);
    char dir[64], path[128];
    cr_assert_not_null(make_scratch_dir(dir, sizeof dir, "tg_page_"));
    snprintf(path, sizeof path, "%s/big.html", dir);
    cr_assert_eq(tg_backward_page_save(path, loss, NULL), TG_OK, "%s", tg_ctx_error(ctx));
    char *html = read_text_file(path);
    cr_assert_not_null(html);
    cr_expect_not_null(strstr(html, "<p id=\"fallback\">This backward pass ran 1201 tape entries, too many to step "
                                    "through one at a time: this is the per-layer view"));
    cr_expect_null(strstr(html, "id=\"tape\""), "no steps");
    cr_expect_not_null(strstr(html, "<title>layer399</title>"), "one node per block");
    cr_expect_null(strstr(html, "<title>layer400</title>"));
    cr_expect_eq(count(html, "<title>op"), count(html, "<title>op1200"), "every op is inside a block, but the loss");
    cr_expect_not_null(strstr(html, "<title>op1200</title>"), "the loss (the mean, op 1200) is drawn outside");
    cr_expect_not_null(strstr(html, ">mean</text>"), "the loss op stays out, drawn as an op");
    cr_expect_not_null(strstr(html, "‖grad‖"), "with gradient norms");
    free(html);
    tg_ctx_free(ctx);
    remove_scratch_dir(dir);
}

/* The JSON object of the edge from input `name` that carries `field`, as text
 * up to its closing brace: "" when none. */
static void edge_with(const char *html, const char *name, int nth, char *buf, size_t size)
{
    char needle[96];
    snprintf(needle, sizeof needle, "{\"from\": \"%s\"", name);
    const char *hit = strstr(html, needle);
    for (int k = 0; hit && k < nth; k++)
        hit = strstr(hit + 1, needle);
    buf[0] = '\0';
    if (!hit)
        return;
    const char *end = strchr(hit, '}');
    size_t n = (size_t)(end - hit) < size ? (size_t)(end - hit) : size - 1;
    memcpy(buf, hit, n);
    buf[n] = '\0';
}

/* The page of loss, recorded, in dir/name; its text. */
static char *recorded_page(tg_tensor *loss, const char *dir, const char *name, int max_values)
{
    tg_ctx *ctx = tg_tensor_ctx(loss);
    tg_backward_set_recording(ctx, true);
    cr_assert_eq(tg_backward(loss), TG_OK);
    tg_backward_set_recording(ctx, false);
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    tg_page_options opts = {.diagram = {.max_values = max_values}};
    cr_assert_eq(tg_backward_page_save(path, loss, &opts), TG_OK, "%s", tg_ctx_error(ctx));
    return read_text_file(path);
}

Test(page, a_value_used_twice_shows_its_gradient_growing_to_the_sum_the_tape_holds)
{
    if (!have_program("dot"))
        cr_skip_test("Graphviz's dot is not installed (apt-get install graphviz)");
    char dir[64];
    cr_assert_not_null(make_scratch_dir(dir, sizeof dir, "tg_page_"));
    tg_ctx *ctx = tg_ctx_new(1);
    /* micrograd's b = a + a: one op, both edges from a: 1, then 1 + 1 = 2 */
    tg_tensor *a = tg_tensor_scalar(ctx, TG_F64, 3);
    tg_tensor_set_name(a, "a");
    tg_tensor_set_requires_grad(a, true);
    tg_tensor *b = tg_add(a, a);
    char *html = recorded_page(b, dir, "twice.html", 0);
    cr_assert_not_null(html);
    char edge[512];
    edge_with(html, "leaf0", 0, edge, sizeof edge);
    cr_expect_not_null(strstr(edge, "\"sent\": \"1\", \"total\": \"1\""), "the first use alone: %s", edge);
    edge_with(html, "leaf0", 1, edge, sizeof edge);
    cr_expect_not_null(strstr(edge, "\"sent\": \"1\", \"before\": \"1\", \"total\": \"2\""), "1 + 1 = 2: %s", edge);
    cr_expect_eq(tg_tensor_item(tg_tensor_grad(a)), 2.0, "the tape's gradient is the sum shown");
    cr_expect_eq(count(html, "\"done\": true"), 1, "a completes once, at its last contribution");
    free(html);
    tg_tape_reset(ctx);

    /* L = a·σ(a): ∂L/∂a = σ(a) + a·σ′(a), two contributions on two steps */
    tg_tensor_zero_grad(a);
    tg_tensor *loss = tg_mul(a, tg_sigmoid(a));
    html = recorded_page(loss, dir, "product.html", 0);
    cr_assert_not_null(html);
    double s = 1 / (1 + exp(-3.0)), first = s, second = 3 * s * (1 - s);
    char want[256], n1[32], n2[32], total[32];
    format4(n1, sizeof n1, first);
    format4(n2, sizeof n2, second);
    format4(total, sizeof total, tg_tensor_item(tg_tensor_grad(a)));
    cr_expect(fabs(tg_tensor_item(tg_tensor_grad(a)) - (first + second)) < 1e-12);
    snprintf(want, sizeof want, "\"sent\": \"%s\", \"before\": \"%s\", \"total\": \"%s\"", n2, n1, total);
    cr_expect_not_null(strstr(html, want), "%s", want);
    free(html);
    tg_tape_reset(ctx);
    tg_tensor_free(a);

    /* an Elman RNN over 3 steps: W_hh is used at steps 2 and 3; the second
     * use shows the first's contribution, its own and the tape's .grad */
    elman_graph g = elman(ctx, 3);
    html = recorded_page(g.loss, dir, "rnn.html", 9);
    cr_assert_not_null(html);
    const char *hh = strstr(html, "\"name\": \"W_hh\"");
    cr_assert_not_null(hh);
    const char *second_use = strstr(hh + 1, "\"name\": \"W_hh\"");
    cr_assert_not_null(second_use, "W_hh has an edge per use");
    cr_expect_not_null(strstr(second_use, "\"before\": \"[["), "the second use shows the sum so far");
    const tg_tensor *grad = tg_tensor_grad(g.w_hh);
    char number[32];
    format4(number, sizeof number, tg_tensor_get(grad, 0));
    snprintf(want, sizeof want, "\"total\": \"[[%s, ", number);
    const char *end = strchr(second_use, '}');
    const char *found = strstr(second_use, want);
    cr_expect(found && found < end, "its total is the tape's W_hh.grad (%s)", want);
    cr_expect_null(strstr(end, "\"name\": \"W_hh\""), "no third use: h_0 = 0 needs no W_hh");
    free(html);
    elman_free(&g);
    tg_ctx_free(ctx);
    remove_scratch_dir(dir);
}

/* The XOR network early in training, one sample layer by layer: at z⁽²⁾'s
 * step the course's δ⁽²⁾ = (Θ⁽³⁾ᵀδ⁽³⁾) ⊙ f′(z⁽²⁾) is written as a product of
 * vectors, and twice it is the tape's ∂L/∂z⁽²⁾, the δ the step shows. */
Test(page, the_xor_layer_page_shows_the_course_delta_as_a_matrix_vector_product_beside_the_tapes)
{
    if (!have_program("dot"))
        cr_skip_test("Graphviz's dot is not installed (apt-get install graphviz)");
    char dir[64], path[128];
    cr_assert_not_null(make_scratch_dir(dir, sizeof dir, "tg_page_"));
    tg_ctx *ctx = tg_ctx_new(1);
    xor_net net = xor_net_new(ctx);
    cr_assert_eq(xor_net_train(&net, ctx, XOR_EARLY_STEPS, NULL, NULL), 0);
    tg_optim_zero_grad(net.adam);
    xor_sample sample;
    xor_sample_forward(&sample, ctx, &net, 1, 0, 1);
    cr_assert_not_null(sample.loss, "%s", tg_ctx_error(ctx));
    tg_backward_set_recording(ctx, true);
    cr_assert_eq(tg_backward(sample.loss), TG_OK);
    snprintf(path, sizeof path, "%s/xor.html", dir);
    tg_page_options opts = {.notes = sample.notes, .n_notes = sample.n, .glossary = XOR_GLOSSARY};
    cr_assert_eq(tg_backward_page_save(path, sample.loss, &opts), TG_OK, "%s", tg_ctx_error(ctx));
    char *html = read_text_file(path);
    cr_assert_not_null(html);
    const char *step = strstr(html, "\"name\": \"z⁽²⁾\", \"note\": \"");
    cr_assert_not_null(step, "z⁽²⁾'s step carries a note");
    const char *delta = strstr(step, "\"delta\": \"");
    cr_assert_not_null(delta);
    char tape_delta[256], want[320];
    sscanf(delta + strlen("\"delta\": \""), "%255[^\"]", tape_delta);
    snprintf(want, sizeof want, "the tape's ∂L/∂z⁽²⁾ = 2·δ⁽²⁾ = %s.", tape_delta);
    const char *note_end = strstr(step, "\", \"delta\"");
    const char *found = strstr(step, want);
    cr_expect(found && found < note_end, "the note ends with the tape's δ %s", tape_delta);
    found = strstr(step, "δ⁽²⁾ = (Θ⁽³⁾ᵀδ⁽³⁾) ⊙ f′(z⁽²⁾) = [");
    cr_expect(found && found < note_end, "the course's formula as a product of vectors");
    cr_expect_not_null(strstr(html, "The edge labelled ·W sends δ·W back: on a row vector that is the course"),
                       "the page says ·W is the course's Θᵀ");
    free(html);
    tg_backward_set_recording(ctx, false);
    tg_tape_reset(ctx);
    xor_sample_free(&sample);
    xor_net_free(&net);
    tg_ctx_free(ctx);
    remove_scratch_dir(dir);
}

/* ---- in a real browser ---- */

/* Distinct RGB colours in a PNG screenshot (8-bit RGB or RGBA, as chromium
 * writes them), by python3's zlib; -1 when it cannot tell. */
static int png_colours(const char *png)
{
    char command[2048];
    snprintf(command, sizeof command,
             "python3 -c '\n"
             "import struct, sys, zlib\n"
             "d = open(sys.argv[1], \"rb\").read()\n"
             "pos, idat, w, h, ctype = 8, b\"\", 0, 0, 0\n"
             "while pos < len(d):\n"
             "    n, kind = struct.unpack(\">I4s\", d[pos:pos + 8])\n"
             "    body = d[pos + 8:pos + 8 + n]\n"
             "    if kind == b\"IHDR\": w, h, depth, ctype = struct.unpack(\">IIBB\", body[:10])\n"
             "    if kind == b\"IDAT\": idat += body\n"
             "    pos += 12 + n\n"
             "bpp = 4 if ctype == 6 else 3\n"
             "raw, stride, prev, seen = zlib.decompress(idat), w * bpp, bytearray(w * bpp), set()\n"
             "for y in range(h):\n"
             "    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])\n"
             "    for i in range(stride):\n"
             "        a = line[i - bpp] if i >= bpp else 0\n"
             "        b, c = prev[i], prev[i - bpp] if i >= bpp else 0\n"
             "        p = a + b - c\n"
             "        pr = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c\n"
             "        line[i] = (line[i] + [0, a, b, (a + b) // 2, pr][f]) & 255\n"
             "    for x in range(0, stride, bpp * 7): seen.add(bytes(line[x:x + 3]))\n"
             "    prev = line\n"
             "print(len(seen))' %s",
             png);
    FILE *p = popen(command, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static int run_chromium(const char *dir, const char *args, const char *url, const char *out)
{
    char command[2048];
    snprintf(command, sizeof command,
             "cd %s && timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
             "--disable-background-networking --disable-component-update --disable-sync "
             "--user-data-dir=%s/profile --window-size=1400,900 %s '%s' > %s 2> %s/chromium.log",
             dir, dir, args, url, out, dir);
    return system(command);
}

/* The text of the element with this id in the dumped DOM. */
static void element_text(const char *dom, const char *id, char *buf, size_t size)
{
    char needle[64];
    snprintf(needle, sizeof needle, "id=\"%s\"", id);
    const char *hit = strstr(dom, needle);
    cr_assert_not_null(hit, "no element #%s in the page", id);
    const char *start = strchr(hit, '>') + 1, *end = strchr(start, '<');
    size_t n = (size_t)(end - start) < size ? (size_t)(end - start) : size - 1;
    memcpy(buf, start, n);
    buf[n] = '\0';
}

Test(page, three_steps_in_headless_chromium_show_the_tapes_node_and_delta, .timeout = 300)
{
    if (!have_program("chromium"))
        cr_skip_test("chromium is not installed (apt-get install chromium; tools/setup.sh installs it): "
                     "the page is not tested in a browser");
    if (!have_program("dot"))
        cr_skip_test("Graphviz's dot is not installed (apt-get install graphviz)");
    char dir[64];
    cr_assert_not_null(make_scratch_dir(dir, sizeof dir, "tg_page_"));
    tg_ctx *ctx = tg_ctx_new(1);
    char path[128];
    alice_course course;
    alice_graph g = recorded_alice(ctx, dir, path, sizeof path, &course);
    /* Steps 1, 2, 3 run the tape's entries from the loss down: mse_loss,
     * the sigmoid making o1, then the add making its input z3. */
    tg_tensor *o1, *z3;
    cr_assert_eq(creator_of_input(ctx, g.loss, 0, &o1), tg_tensor_creator(g.o1));
    int64_t third = creator_of_input(ctx, g.o1, 0, &z3);
    tg_tensor *dz3;
    cr_assert_eq(tg_grad(g.loss, NULL, 1, &z3, &dz3, false), TG_OK);
    char want_node[32], want_delta[32];
    snprintf(want_node, sizeof want_node, "op%lld", (long long)third); /* every entry is drawn: op k = entry k */
    format4(want_delta, sizeof want_delta, tg_tensor_item(dz3));

    char url[256], dom_path[128], png_path[128];
    snprintf(url, sizeof url, "file://%s#step=3&path=leaf0", path); /* leaf0: w1, the first leaf used */
    snprintf(dom_path, sizeof dom_path, "%s/dom.html", dir);
    snprintf(png_path, sizeof png_path, "%s/shot.png", dir);
    cr_assert_eq(run_chromium(dir, "--dump-dom", url, dom_path), 0, "chromium failed; see %s/chromium.log", dir);
    char *dom = read_text_file(dom_path);
    cr_assert_not_null(dom);
    char text[128], number[32];
    element_text(dom, "counter", text, sizeof text);
    cr_expect_str_eq(text, "step 3 of 16", "three clicks on next");
    element_text(dom, "current-node", text, sizeof text);
    cr_expect_str_eq(text, want_node, "the highlighted node is the tape's third entry");
    element_text(dom, "delta", text, sizeof text);
    cr_expect_str_eq(text, want_delta, "the δ shown is the tape's ∂L/∂z3");
    cr_expect_eq(count(dom, "class=\"node current\""), 2, "the op and its result are highlighted");
    cr_expect_not_null(strstr(dom, "<td>b3</td><td class=\"num\">"), "b3's gradient is complete after step 3");
    cr_expect_null(strstr(dom, "<td>w1</td>"), "w1's is not yet");
    /* the course view: the course's names on the graph, and at step 3 the
     * course's δ⁽³⁾ = −(y − a) f′(z) = −0.1188 (seed case 3) beside the
     * tape's ∂L/∂z⁽³⁾ = 2·δ⁽³⁾ */
    cr_expect_not_null(strstr(dom, "font-weight=\"bold\" font-size=\"11.00\">z⁽³⁾</text>"), "z⁽³⁾ is named on the graph");
    cr_expect_not_null(strstr(dom, "font-weight=\"bold\" font-size=\"11.00\">a⁽³⁾</text>"), "a⁽³⁾ is named on the graph");
    element_text(dom, "current-op", text, sizeof text);
    cr_expect_not_null(strstr(text, "→ z⁽³⁾"), "the panel names the node z⁽³⁾: %s", text);
    double o = tg_tensor_item(g.o1), course_delta = -(1 - o) * o * (1 - o);
    char delta3[32];
    format4(delta3, sizeof delta3, course_delta);
    cr_expect_str_eq(delta3, "-0.1188", "the course's δ⁽³⁾ (seed case 3 numbers)");
    cr_expect(fabs(2 * course_delta - tg_tensor_item(dz3)) < 1e-12, "the tape's ∂L/∂z⁽³⁾ is 2·δ⁽³⁾");
    char note[1024], expected[256];
    element_text(dom, "note", note, sizeof note);
    snprintf(expected, sizeof expected, "= %s = 2·δ⁽³⁾", want_delta);
    cr_expect_not_null(strstr(note, expected), "the tape's %s beside the course's formula: %s", want_delta, note);
    snprintf(expected, sizeof expected, "δ⁽³⁾ = −(y − a⁽³⁾) f′(z⁽³⁾) = -0.4763 × 0.2494 = %s.", delta3);
    cr_expect_not_null(strstr(note, expected), "the course's δ⁽³⁾ with its numbers: %s", note);
    cr_expect_not_null(strstr(dom, "<h4>Glossary</h4>"));
    cr_expect(strstr(dom, "残差") && strstr(dom, "敏感度"), "the glossary maps the course's other names");
    cr_expect_null(strstr(dom, "sends the product down"), "no direction word against the picture");
    /* #path=leaf0 (what a click on w1 does): its path from L, with the running
     * product, ending at the tape's ∂L/∂w1 = 0.02147 (seed case 3) */
    char path_text[2048], want_grad[64];
    element_text(dom, "path", path_text, sizeof path_text);
    format4(number, sizeof number, tg_tensor_item(tg_tensor_grad(g.w[0])));
    cr_expect_str_eq(number, "0.02147");
    snprintf(want_grad, sizeof want_grad, "∂/∂w1 = %s", number);
    cr_expect_not_null(strstr(path_text, want_grad), "%s", path_text);
    snprintf(expected, sizeof expected, "→ z⁽³⁾ (%s)", want_delta);
    cr_expect_not_null(strstr(path_text, expected), "the running product at z⁽³⁾ is its δ: %s", path_text);
    free(dom);

    char shot_arg[160];
    snprintf(shot_arg, sizeof shot_arg, "--screenshot=%s", png_path);
    cr_assert_eq(run_chromium(dir, shot_arg, url, "/dev/null"), 0, "chromium failed; see %s/chromium.log", dir);
    if (!have_program("python3"))
        cr_skip_test("python3 is not installed: the screenshot was taken but its colours are not counted");
    int colours = png_colours(png_path);
    cr_expect_gt(colours, 8, "the screenshot shows the graph and the highlight, not a blank page (%d colours)", colours);
    alice_free(&g);
    tg_ctx_free(ctx);
    remove_scratch_dir(dir);
}

/* In a browser, the fan-out page's last step shows a's gradient as the sum
 * of two contributions, "earlier + this = total", the total being the tape's. */
Test(page, the_fan_out_page_in_headless_chromium_shows_the_sum_of_contributions, .timeout = 300)
{
    if (!have_program("chromium"))
        cr_skip_test("chromium is not installed (apt-get install chromium; tools/setup.sh installs it)");
    if (!have_program("dot"))
        cr_skip_test("Graphviz's dot is not installed (apt-get install graphviz)");
    char dir[64];
    cr_assert_not_null(make_scratch_dir(dir, sizeof dir, "tg_page_"));
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *a = tg_tensor_scalar(ctx, TG_F64, 0.5);
    tg_tensor_set_name(a, "a");
    tg_tensor_set_requires_grad(a, true);
    tg_tensor *b = tg_add(a, a); /* b = a + a, L = b·σ(a), in this order, as backward-fanout.html */
    tg_tensor *sigma = tg_sigmoid(a);
    tg_tensor *loss = tg_mul(b, sigma);
    char *html = recorded_page(loss, dir, "fanout.html", 0);
    cr_assert_not_null(html);
    free(html);
    double s = 1 / (1 + exp(-0.5)), first = 0.5 * 2 * s * (1 - s) /* σ's edge: b·σ′(a), b = 1 */, use = s;
    char url[256], dom_path[128], want[128], n1[32], n2[32], n3[32];
    snprintf(url, sizeof url, "file://%s/fanout.html#step=3", dir);
    snprintf(dom_path, sizeof dom_path, "%s/dom.html", dir);
    cr_assert_eq(run_chromium(dir, "--dump-dom", url, dom_path), 0, "chromium failed; see %s/chromium.log", dir);
    char *dom = read_text_file(dom_path);
    cr_assert_not_null(dom);
    format4(n1, sizeof n1, first + use);
    format4(n2, sizeof n2, use);
    format4(n3, sizeof n3, tg_tensor_item(tg_tensor_grad(a)));
    cr_expect(fabs(first + 2 * use - tg_tensor_item(tg_tensor_grad(a))) < 1e-12, "the tape's ∂L/∂a");
    snprintf(want, sizeof want, "<td class=\"num\">%s + %s = %s</td>", n1, n2, n3);
    cr_expect_not_null(strstr(dom, want), "%s", want);
    free(dom);
    tg_tape_reset(ctx);
    tg_tensor_free(a);
    tg_ctx_free(ctx);
    remove_scratch_dir(dir);
}
