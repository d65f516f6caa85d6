/* Diagrams of the seed cases: the chain rule, drawn from the tape.
 *
 *     diagrams [OUTPUT_DIR]      (default out/diagrams)
 *
 * Writes one SVG per graph when Graphviz's `dot` is on PATH (the .dot file it
 * renders from is removed after, so a tracked folder such as docs/images gets
 * only the SVGs it tracks; --keep-dot keeps them), or the .dot files when
 * Graphviz is missing (the library itself never runs a program):
 *   one_neuron      §1  σ(w·x + b) = σ(7), with ∂y/∂w and ∂y/∂b
 *   alice_221       §3  the 2-2-1 network, one scalar per weight: the blue edge
 *                       labels are local derivatives, the red numbers ∂L/∂t;
 *                       ∂L/∂w1 = 0.0214695 is the product along its path
 *   alice_221_layers    the same network as a tg_mlp, one cluster per layer;
 *                       vector edges carry VJP formulas (·W, δᵀ·x, Σ over batch)
 *   train_221_curves §4 loss and accuracy while SGD trains the 2-2-1 network
 *   xor_mlp             the XOR MLP 2-4-1 (examples/xor_net.h) early in
 *                       training, and its training curves (xor_curves.svg; with --keep-dot also
 *                       xor_curves.csv)
 *   softmax_ce      §7  softmax cross-entropy: ∂Loss/∂f = softmax(f) − p
 *   second_order        d/dx tanh x recorded with create_graph: the
 *                       gradient computation is on the tape too
 *   elman_rnn           an Elman RNN unrolled over 3 time steps, drawn with
 *                       no layout options: top to bottom (it is deeper than
 *                       wide), the shared weights beside each step, VJP
 *                       formulas on the vector edges
 * It also prints every δ of Alice's backward pass as it flows, with hooks. */
#define _POSIX_C_SOURCE 200809L /* mkdir */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tapegrad.h"
#include "tapegrad/plot.h"

#include "examples/alice_graph.h"
#include "examples/elman_graph.h"
#include "examples/xor_net.h"

static const char *out_dir = "out/diagrams";
static bool render;   /* dot is on PATH */
static bool keep_dot; /* --keep-dot: keep the .dot files (and the CSV) beside the SVGs */

/* mkdir -p */
static int make_dirs(const char *path)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = c;
            if (!c)
                return 0;
        }
    }
}

/* Writes NAME.dot and, with Graphviz, NAME.svg. */
static int draw(const char *name, int n, tg_tensor *const *outputs, const tg_dot_options *opts)
{
    char dot_path[1100], svg_path[1100];
    snprintf(dot_path, sizeof dot_path, "%s/%s.dot", out_dir, name);
    snprintf(svg_path, sizeof svg_path, "%s/%s.svg", out_dir, name);
    if (tg_dot_save(dot_path, n, outputs, opts) != TG_OK) {
        fprintf(stderr, "diagrams: %s\n", tg_ctx_error(tg_tensor_ctx(outputs[0])));
        return 1;
    }
    if (render) {
        char command[2400];
        snprintf(command, sizeof command, "dot -Tsvg '%s' -o '%s'", dot_path, svg_path);
        if (system(command) != 0) {
            fprintf(stderr, "diagrams: `%s` failed\n", command);
            return 1;
        }
        if (!keep_dot)
            remove(dot_path);
        printf("wrote %s%s%s\n", svg_path, keep_dot ? " and " : "", keep_dot ? dot_path : "");
    } else {
        printf("wrote %s\n", dot_path);
    }
    return 0;
}

/* ---- §1 one neuron ---- */
static int one_neuron(tg_ctx *ctx)
{
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){2, 3});
    tg_tensor *w = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){0, 1});
    tg_tensor *b = scalar(ctx, "b", 4, true);
    tg_tensor_set_name(x, "x");
    tg_tensor_set_name(w, "w");
    tg_tensor_set_requires_grad(w, true);
    tg_tensor *wx = tg_mul(w, x);
    tg_tensor *dot = tg_sum(wx);
    tg_tensor *z = tg_add(dot, b);
    tg_tensor *y = tg_sigmoid(z);
    tg_tensor_set_name(z, "z");
    tg_tensor_set_name(y, "y");
    if (tg_backward(y) != TG_OK)
        return 1;
    printf("§1 one neuron: y = σ(w·x + b) = σ(7) = %.7f (textbook 0.9990889)\n", tg_tensor_item(y));
    int rc = draw("one_neuron", 1, &y,
                  &(tg_dot_options){.grads_of = y, .edge_derivatives = true, .title = "§1 one neuron: y = σ(w·x + b)"});
    tg_tensor_free(x);
    tg_tensor_free(w);
    tg_tensor_free(b);
    tg_tape_reset(ctx);
    return rc;
}

/* ---- §3 Alice, one scalar per weight (examples/alice_graph.h) ---- */

/* A hook sees each tensor's full gradient δ = ∂L/∂t as backward reaches it. */
static tg_tensor *print_delta(tg_tensor *t, tg_tensor *grad, void *user)
{
    (void)user;
    printf("  δ %-3s = ∂L/∂%-3s = %+.7f\n", tg_tensor_name(t), tg_tensor_name(t), tg_tensor_item(grad));
    return NULL; /* keep the gradient as it is */
}

static int alice_221(tg_ctx *ctx)
{
    alice_graph g = alice(ctx);
    tg_tensor *watched[] = {g.loss, g.o1, g.h1, g.h2, g.w[0], g.w[4]};
    for (int i = 0; i < 6; i++)
        tg_tensor_set_hook(watched[i], print_delta, NULL);
    printf("§3 Alice: h1 = %.7f, o1 = %.7f; backward, in the order δ arrives:\n", tg_tensor_item(g.h1),
           tg_tensor_item(g.o1));
    if (tg_backward(g.loss) != TG_OK)
        return 1;
    printf("  ∂L/∂w1 = %.7f (textbook 0.0214695)\n", tg_tensor_item(tg_tensor_grad(g.w[0])));
    int rc = draw("alice_221", 1, &g.loss,
                  &(tg_dot_options){.grads_of = g.loss,
                                    .edge_derivatives = true,
                                    .title = "§3 Alice: L = (y_true − o1)². Blue: local derivatives ∂out/∂in. "
                                             "Red: ∂L/∂t. ∂L/∂w1 = −0.9526 × 0.2494 × 1 × 0.04518 × −2 = 0.02147"});
    alice_free(&g);
    tg_tape_reset(ctx);
    return rc;
}

/* ---- the same network as layers ---- */
static int alice_221_layers(tg_ctx *ctx)
{
    tg_rng rng = tg_rng_seed(1);
    const int64_t widths[] = {2, 2, 1};
    const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_SIGMOID};
    tg_mlp *net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_ZEROS, &rng);
    if (!net)
        return 1;
    tg_params params = tg_mlp_params(net);
    tg_tensor_fill(params.items[0], 1); /* layer1.weight = w1..w4 */
    tg_tensor_fill(params.items[2], 1); /* layer2.weight = w5, w6 */
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){-2, -1});
    tg_tensor *y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 1), (double[]){1});
    tg_tensor_set_name(x, "x");
    tg_tensor_set_name(y, "y_true");
    tg_tensor *loss = tg_loss_mse(tg_mlp_forward(net, x), y);
    tg_tensor_set_name(loss, "L");
    int rc = !loss || tg_backward(loss) != TG_OK;
    if (!rc)
        rc = draw("alice_221_layers", 1, &loss,
                  &(tg_dot_options){.grads_of = loss,
                                    .group_separator = '.',
                                    .edge_derivatives = true,
                                    .title = "§3 as layers: z = x·Wᵀ + b, a = σ(z); one cluster per layer. Blue: "
                                             "each edge's local derivative, as the VJP applied to the δ from below"});
    tg_tensor_free(x);
    tg_tensor_free(y);
    tg_tape_reset(ctx);
    tg_mlp_free(net);
    return rc;
}

/* ---- §4 training the 2-2-1 network with SGD: its loss curve ---- */
static int train_221(tg_ctx *ctx)
{
    enum { PEOPLE = 4, EPOCHS = 1000 };
    tg_rng rng = tg_rng_seed(42); /* as examples/train_221.c */
    const int64_t widths[] = {2, 2, 1};
    const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_SIGMOID};
    tg_mlp *net = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_NORMAL, &rng);
    tg_optimizer *sgd = net ? tg_optim_sgd_new(tg_mlp_params(net), 0.1) : NULL;
    if (!sgd)
        return 1;
    /* (weight − 135, height − 66) -> 1 for F: Alice, Bob, Charlie, Diana */
    tg_tensor *all_x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4, 2), (double[]){-2, -1, 25, 6, 17, 4, -15, -6});
    tg_tensor *all_y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(4, 1), (double[]){1, 0, 0, 1});
    tg_tensor *x[PEOPLE], *y[PEOPLE];
    for (int i = 0; i < PEOPLE; i++) {
        x[i] = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){tg_tensor_get(all_x, 2 * i),
                                                                        tg_tensor_get(all_x, 2 * i + 1)});
        y[i] = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 1), (double[]){tg_tensor_get(all_y, i)});
    }
    static double loss_curve[EPOCHS], accuracy[EPOCHS];
    int rc = 0;
    for (int epoch = 0; epoch < EPOCHS && !rc; epoch++) {
        for (int i = 0; i < PEOPLE && !rc; i++) { /* one sample at a time */
            tg_optim_zero_grad(sgd);
            tg_tensor *loss = tg_loss_mse(tg_mlp_forward(net, x[i]), y[i]);
            rc = !loss || tg_backward(loss) != TG_OK || tg_optim_step(sgd) != TG_OK;
            tg_tape_reset(ctx);
        }
        bool was = tg_grad_set_enabled(ctx, false);
        tg_tensor *fit = tg_mlp_forward(net, all_x);
        tg_tensor *loss = tg_loss_mse(fit, all_y);
        rc = rc || !loss;
        if (!rc) {
            loss_curve[epoch] = tg_tensor_item(loss);
            int right = 0;
            for (int i = 0; i < PEOPLE; i++)
                right += (tg_tensor_get(fit, i) > 0.5) == (tg_tensor_get(all_y, i) > 0.5);
            accuracy[epoch] = right / (double)PEOPLE;
        }
        tg_grad_set_enabled(ctx, was);
        tg_tape_reset(ctx);
    }
    if (!rc) {
        printf("§4 2-2-1 with SGD: mean loss %.4f after epoch 1, %.6f after epoch %d\n", loss_curve[0],
               loss_curve[EPOCHS - 1], EPOCHS);
        tg_curves curves = {.count = EPOCHS,
                            .train_loss = loss_curve,
                            .train_accuracy = accuracy,
                            .title = "§4 the 2-2-1 network on Alice, Bob, Charlie, Diana: SGD, lr 0.1"};
        char path[1100];
        snprintf(path, sizeof path, "%s/train_221_curves.svg", out_dir);
        rc = tg_curves_save_svg(ctx, &curves, path) != TG_OK;
        if (!rc)
            printf("wrote %s\n", path);
    }
    for (int i = 0; i < PEOPLE; i++) {
        tg_tensor_free(x[i]);
        tg_tensor_free(y[i]);
    }
    tg_tensor_free(all_x);
    tg_tensor_free(all_y);
    tg_optim_free(sgd);
    tg_mlp_free(net);
    return rc;
}

/* ---- XOR: an MLP 2-4-1 learns what one perceptron cannot ---- */
/* The one XOR network (examples/xor_net.h), drawn after XOR_EARLY_STEPS of
 * its XOR_STEPS Adam steps: still learning, so its gradients are worth
 * reading (trained, they are about 1e-4); then its training curves. */
static int xor_mlp(tg_ctx *ctx)
{
    xor_net n = xor_net_new(ctx);
    double loss_curve[XOR_STEPS], accuracy[XOR_STEPS];
    int rc = xor_net_train(&n, ctx, XOR_EARLY_STEPS, loss_curve, accuracy);
    if (!rc) {
        tg_optim_zero_grad(n.adam);
        tg_tensor *p;
        tg_tensor *loss = xor_net_loss(&n, &p);
        rc = !loss || tg_backward(loss) != TG_OK;
        if (!rc) {
            printf("XOR after %d of %d steps: loss %.4f, outputs %.3f %.3f %.3f %.3f\n", XOR_EARLY_STEPS, XOR_STEPS,
                   tg_tensor_item(loss), tg_tensor_get(p, 0), tg_tensor_get(p, 1), tg_tensor_get(p, 2),
                   tg_tensor_get(p, 3));
            char title[160];
            snprintf(title, sizeof title, "XOR with an MLP 2-4-1 (tanh, sigmoid), after %d of %d Adam steps: "
                                          "still learning, so the gradients are worth reading", XOR_EARLY_STEPS, XOR_STEPS);
            rc = draw("xor_mlp", 1, &loss,
                      &(tg_dot_options){.grads_of = loss, .group_separator = '.', .edge_derivatives = true,
                                        .title = title});
        }
        tg_tape_reset(ctx);
    }
    rc = rc || xor_net_train(&n, ctx, XOR_STEPS - XOR_EARLY_STEPS, loss_curve + XOR_EARLY_STEPS,
                             accuracy + XOR_EARLY_STEPS);
    if (!rc) {
        printf("XOR after %d steps: loss %.5f\n", XOR_STEPS, loss_curve[XOR_STEPS - 1]);
        tg_curves curves = {.count = XOR_STEPS,
                            .train_loss = loss_curve,
                            .train_accuracy = accuracy,
                            .title = "XOR, MLP 2-4-1, Adam lr 0.05"};
        char path[1100];
        snprintf(path, sizeof path, "%s/xor_curves.svg", out_dir);
        rc = tg_curves_save_svg(ctx, &curves, path) != TG_OK;
        snprintf(path, sizeof path, "%s/xor_curves.csv", out_dir);
        if (keep_dot)
            rc = rc || tg_curves_save_csv(ctx, &curves, path) != TG_OK;
        if (!rc)
            printf("wrote %s/xor_curves.svg%s\n", out_dir, keep_dot ? " and .csv" : "");
    }
    xor_net_free(&n);
    return rc;
}

/* ---- §7 softmax cross-entropy, spelled out in ops ---- */
static int softmax_ce(tg_ctx *ctx)
{
    tg_tensor *f = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 3), (double[]){2, 1, 0.1});
    tg_tensor *p = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 3), (double[]){1, 0, 0});
    tg_tensor_set_name(f, "logits f");
    tg_tensor_set_name(p, "one-hot p");
    tg_tensor_set_requires_grad(f, true);
    /* Loss = −Σₖ pₖ log softmax(f)ₖ */
    tg_tensor *log_q = tg_log_softmax(f);
    tg_tensor *terms = tg_mul(p, log_q);
    tg_tensor *sum = tg_sum(terms);
    tg_tensor *loss = tg_neg(sum);
    tg_tensor_set_name(log_q, "log softmax(f)");
    tg_tensor_set_name(loss, "Loss");
    /* the fused op gives the same number */
    tg_tensor *fused = tg_cross_entropy(f, p);
    tg_tensor_set_name(fused, "cross_entropy(f, p)");
    int rc = !loss || !fused || tg_backward(loss) != TG_OK;
    if (!rc) {
        tg_tensor *g = tg_tensor_grad(f);
        printf("§7 softmax cross-entropy: Loss = %.6f (fused %.6f); ∂Loss/∂f = [%.4f, %.4f, %.4f] = softmax(f) − p\n",
               tg_tensor_item(loss), tg_tensor_item(fused), tg_tensor_get(g, 0), tg_tensor_get(g, 1),
               tg_tensor_get(g, 2));
        rc = draw("softmax_ce", 2, (tg_tensor *[]){loss, fused},
                  &(tg_dot_options){.grads_of = loss,
                                    .edge_derivatives = true,
                                    .title = "§7 softmax cross-entropy: ∂Loss/∂f = softmax(f) − p"});
    }
    tg_tensor_free(f);
    tg_tensor_free(p);
    tg_tape_reset(ctx);
    return rc;
}

/* ---- the gradient computation, on the tape ---- */
static int second_order(tg_ctx *ctx)
{
    tg_tensor *x = scalar(ctx, "x", 0.5, true);
    tg_tensor *y = tg_tanh(x);
    tg_tensor_set_name(y, "y = tanh x");
    int64_t forward_ops = tg_tape_length(ctx);
    tg_tensor *dydx = NULL, *d2ydx2 = NULL;
    int rc = tg_grad(y, NULL, 1, &x, &dydx, true) != TG_OK; /* recorded: 1 − y² */
    tg_tensor_set_name(dydx, "dy/dx");
    rc = rc || tg_grad(dydx, NULL, 1, &x, &d2ydx2, false) != TG_OK;
    if (!rc) {
        printf("d/dx tanh x at 0.5 = %.7f, second derivative %.7f\n", tg_tensor_item(dydx), tg_tensor_item(d2ydx2));
        rc = draw("second_order", 1, &dydx,
                  &(tg_dot_options){.gradient_ops_from = forward_ops,
                                    .edge_derivatives = true,
                                    .grads_of = dydx,
                                    .title = "tg_grad(y, x, create_graph = true): the orange ops compute dy/dx = "
                                             "1 − y², and can be differentiated again"});
    }
    tg_tensor_free(x);
    tg_tape_reset(ctx);
    return rc;
}

/* ---- backprop through time: an Elman RNN unrolled over 3 steps ---- */
static int elman_rnn(tg_ctx *ctx)
{
    elman_graph g = elman(ctx, 3);
    int rc = !g.loss || tg_backward(g.loss) != TG_OK;
    if (!rc) {
        const tg_tensor *d = tg_tensor_grad(g.w_hh);
        double norm = 0;
        for (int64_t i = 0; i < tg_tensor_size(d); i++)
            norm += tg_tensor_get(d, i) * tg_tensor_get(d, i);
        printf("Elman RNN, 3 steps: L = %.6f, ‖∂L/∂W_hh‖ = %.6f (summed over the steps that share W_hh)\n",
               tg_tensor_item(g.loss), sqrt(norm));
        rc = draw("elman_rnn", 1, &g.loss,
                  &(tg_dot_options){.edge_derivatives = true,
                                    .grads_of = g.loss,
                                    .title = "An Elman RNN unrolled over 3 steps: h_t = tanh(x_t·W_xh + h_{t−1}·W_hh + b_h). "
                                             "Blue: each edge's VJP applied to the δ arriving from below. A shared weight "
                                             "is drawn beside each use with what that use adds to its gradient; its total "
                                             "is on its first drawing"});
    }
    elman_free(&g);
    tg_tape_reset(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    int arg = 1;
    if (argc > 1 && !strcmp(argv[1], "--keep-dot"))
        keep_dot = true, arg++;
    if (argc > arg + 1 || (argc == arg + 1 && (!strcmp(argv[arg], "-h") || !strcmp(argv[arg], "--help")))) {
        fprintf(stderr, "usage: %s [--keep-dot] [OUTPUT_DIR]   (default out/diagrams)\n", argv[0]);
        return 2;
    }
    if (argc == arg + 1)
        out_dir = argv[arg];
    if (strchr(out_dir, '\'')) {
        fprintf(stderr, "diagrams: the output directory must not contain a quote\n");
        return 2;
    }
    if (make_dirs(out_dir) != 0) {
        fprintf(stderr, "diagrams: cannot create %s: %s\n", out_dir, strerror(errno));
        return 1;
    }
    render = system("command -v dot > /dev/null 2>&1") == 0;
    if (!render)
        printf("Graphviz's dot is not on PATH: writing .dot files only (apt-get install graphviz)\n");

    tg_ctx *ctx = tg_ctx_new(1);
    if (!ctx)
        return 1;
    int rc = one_neuron(ctx) || alice_221(ctx) || alice_221_layers(ctx) || train_221(ctx) || xor_mlp(ctx) || softmax_ce(ctx) ||
             second_order(ctx) || elman_rnn(ctx);
    if (rc)
        fprintf(stderr, "diagrams: %s\n", tg_ctx_error(ctx));
    tg_ctx_free(ctx);
    return rc;
}
