/* The chain rule, step by step: web pages of real backward passes.
 *
 *     backward_page [OUTPUT_DIR]      (default out/pages)
 *
 * Writes, with Graphviz's dot on PATH (the page call runs it):
 *   backward-alice.html  seed case 3: the 2-2-1 network, one scalar per weight,
 *                        in the course's notation (z⁽ˡ⁾, a⁽ˡ⁾, δ⁽ˡ⁾ beside the
 *                        tape's ∂L/∂t, a glossary)
 *   backward-fanout.html a value used more than once: b = a + a, L = b·σ(a);
 *                        a's gradient grows one contribution at a time
 *   backward-rnn.html    an Elman RNN over 3 time steps: W_hh's gradient is
 *                        the sum of its uses at steps 2 and 3
 *   backward-xor.html    the XOR MLP 2-4-1 early in training, one sample, layer
 *                        by layer: δ⁽²⁾ = (Θ⁽³⁾ᵀδ⁽³⁾) ⊙ f′(z⁽²⁾) with its numbers
 * Open one in a browser and press → to watch δ arrive at each node, be
 * multiplied by each edge's local derivative and sent down, until the
 * weights' gradients are complete. docs/ holds the two pages this wrote. */
#define _POSIX_C_SOURCE 200809L /* mkdir */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tapegrad.h"

#include "examples/alice_course.h"
#include "examples/elman_graph.h"
#include "examples/xor_course.h"

static int save_with(const char *dir, const char *name, tg_tensor *loss, const tg_page_options *opts)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (tg_backward_page_save(path, loss, opts) != TG_OK) {
        fprintf(stderr, "backward_page: %s\n", tg_ctx_error(tg_tensor_ctx(loss)));
        return 1;
    }
    printf("wrote %s\n", path);
    return 0;
}

static int save(const char *dir, const char *name, tg_tensor *loss, const char *title)
{
    return save_with(dir, name, loss, &(tg_page_options){.diagram = {.title = title}});
}

static int alice_page(tg_ctx *ctx, const char *dir)
{
    alice_graph g = alice(ctx);
    alice_course course;
    alice_course_view(&g, &course);
    tg_backward_set_recording(ctx, true);
    tg_page_options opts = {.diagram = {.title = ALICE_COURSE_TITLE}, .notes = course.notes, .n_notes = course.n,
                            .glossary = ALICE_GLOSSARY};
    int rc = tg_backward(g.loss) != TG_OK || save_with(dir, "backward-alice.html", g.loss, &opts);
    tg_backward_set_recording(ctx, false);
    alice_free(&g);
    tg_tape_reset(ctx);
    return rc;
}

/* b = a + a, L = b·σ(a) at a = 0.5: a reaches L along three edges, and
 * the page shows its gradient growing from the first contribution to the
 * sum, 2σ(a) + 2a·σ′(a). */
static int fanout_page(tg_ctx *ctx, const char *dir)
{
    tg_tensor *a = tg_tensor_scalar(ctx, TG_F64, 0.5);
    tg_tensor_set_name(a, "a");
    tg_tensor_set_requires_grad(a, true);
    tg_tensor *b = tg_add(a, a);
    tg_tensor_set_name(b, "b");
    tg_tensor *s = tg_sigmoid(a);
    tg_tensor_set_name(s, "σ(a)");
    tg_tensor *loss = tg_mul(b, s);
    tg_tensor_set_name(loss, "L");
    tg_backward_set_recording(ctx, true);
    int rc = tg_backward(loss) != TG_OK ||
             save(dir, "backward-fanout.html", loss, "A value used three times: b = a + a, L = b·σ(a); "
                                                    "∂L/∂a is the sum of what each use sends back");
    tg_backward_set_recording(ctx, false);
    tg_tensor_free(a);
    tg_tape_reset(ctx);
    return rc;
}

/* The Elman RNN of the diagrams over 3 steps: W_hh is used at steps 2 and 3
 * (h_0 = 0 needs none), and its gradient is the sum of the two uses. */
static int rnn_page(tg_ctx *ctx, const char *dir)
{
    elman_graph g = elman(ctx, 3);
    tg_backward_set_recording(ctx, true);
    tg_page_options opts = {.diagram = {.title = "An Elman RNN over 3 time steps: the shared W_hh collects one "
                                                 "contribution per step that uses it",
                                        .max_values = 9}};
    int rc = tg_backward(g.loss) != TG_OK || save_with(dir, "backward-rnn.html", g.loss, &opts);
    tg_backward_set_recording(ctx, false);
    elman_free(&g);
    tg_tape_reset(ctx);
    return rc;
}

/* The XOR network (examples/xor_net.h) after XOR_EARLY_STEPS Adam steps,
 * while it is still learning, backward for one sample, (1, 0) -> 1, layer by
 * layer: the course's δ⁽²⁾ = (Θ⁽³⁾ᵀδ⁽³⁾) ⊙ f′(z⁽²⁾) as a small matrix–vector
 * product beside the tape's numbers (examples/xor_course.h). */
static int xor_page(tg_ctx *ctx, const char *dir)
{
    xor_net net = xor_net_new(ctx);
    int rc = xor_net_train(&net, ctx, XOR_EARLY_STEPS, NULL, NULL);
    if (!rc) {
        tg_optim_zero_grad(net.adam);
        xor_sample sample;
        xor_sample_forward(&sample, ctx, &net, 1, 0, 1);
        tg_backward_set_recording(ctx, true);
        char title[160];
        snprintf(title, sizeof title, "XOR, MLP 2-4-1 (tanh, sigmoid) after %d of %d Adam steps, still learning: "
                                      "one sample, (1, 0) → 1, layer by layer", XOR_EARLY_STEPS, XOR_STEPS);
        tg_page_options opts = {.diagram = {.title = title}, .notes = sample.notes, .n_notes = sample.n,
                                .glossary = XOR_GLOSSARY};
        rc = !sample.loss || tg_backward(sample.loss) != TG_OK || save_with(dir, "backward-xor.html", sample.loss, &opts);
        tg_backward_set_recording(ctx, false);
        tg_tape_reset(ctx);
        xor_sample_free(&sample);
    }
    xor_net_free(&net);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))) {
        fprintf(stderr, "usage: %s [OUTPUT_DIR]   (default out/pages)\n", argv[0]);
        return 2;
    }
    const char *dir = argc == 2 ? argv[1] : "out/pages";
    if (argc < 2 && (mkdir("out", 0777) != 0 && errno != EEXIST))
        return 1;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "backward_page: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    tg_ctx *ctx = tg_ctx_new(1);
    if (!ctx)
        return 1;
    int rc = alice_page(ctx, dir) || fanout_page(ctx, dir) || rnn_page(ctx, dir) || xor_page(ctx, dir);
    tg_ctx_free(ctx);
    return rc;
}
