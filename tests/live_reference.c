/* The native library's numbers for the live page's test (tests/live_page.sh):
 * the same graphs as docs/live.html, built here with the public API, with
 * the values given as name=value arguments.
 *
 *   live_reference alice [name=value ...]   Alice's 2-2-1 network, L = (y - o1)²
 *   live_reference shared [name=value ...]  L = (y - σ(w1 x1 + w2 x2 + b))² + 0.1·w1²
 *
 * Prints "name number" lines, 17 digits. What backward sends down one edge
 * is measured without the page's bookkeeping: the input is split into one
 * leaf per use (x1 into x1a for h1 and x1b for h2; w1 into w1a for the
 * neuron and w1b for the penalty), and each
 * leaf's .grad is then the δ of its edge alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"
#include "examples/alice_graph.h"

static double arg_value(int argc, char **argv, const char *name, double fallback)
{
    size_t len = strlen(name);
    for (int i = 2; i < argc; i++)
        if (strncmp(argv[i], name, len) == 0 && argv[i][len] == '=')
            return strtod(argv[i] + len + 1, NULL);
    return fallback;
}

static tg_tensor *leaf(tg_ctx *ctx, int argc, char **argv, const char *name, const char *value_of, double fallback)
{
    return scalar(ctx, name, arg_value(argc, argv, value_of, fallback), true);
}

static int alice_case(tg_ctx *ctx, int argc, char **argv)
{
    static const char *const w_names[6] = {"w1", "w2", "w3", "w4", "w5", "w6"}, *const b_names[3] = {"b1", "b2", "b3"};
    tg_tensor *w[6], *b[3];
    for (int i = 0; i < 6; i++)
        w[i] = leaf(ctx, argc, argv, w_names[i], w_names[i], 1);
    for (int i = 0; i < 3; i++)
        b[i] = leaf(ctx, argc, argv, b_names[i], b_names[i], 0);
    tg_tensor *x1a = leaf(ctx, argc, argv, "x1a", "x1", -2), *x1b = leaf(ctx, argc, argv, "x1b", "x1", -2);
    tg_tensor *x2 = leaf(ctx, argc, argv, "x2", "x2", -1), *y = leaf(ctx, argc, argv, "y", "y", 1);
    alice_neuron parts[3];
    tg_tensor *h1 = neuron(w[0], x1a, w[1], x2, b[0], "h1", &parts[0]);
    tg_tensor *h2 = neuron(w[2], x1b, w[3], x2, b[1], "h2", &parts[1]);
    tg_tensor *o1 = neuron(w[4], h1, w[5], h2, b[2], "o1", &parts[2]);
    tg_tensor *loss = tg_loss_mse(o1, y); /* (y - o1)² for one element */
    tg_tensor *dh1 = NULL;
    /* h1 feeds one op (w5·h1): ∂L/∂h1 is the δ on that edge */
    if (!loss || tg_grad(loss, NULL, 1, &h1, &dh1, false) != TG_OK || tg_backward(loss) != TG_OK) {
        fprintf(stderr, "live_reference: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    printf("L %.17g\n", tg_tensor_item(loss));
    printf("dL/dw1 %.17g\n", tg_tensor_item(tg_tensor_grad(w[0])));
    printf("delta x1->w1*x1 %.17g\n", tg_tensor_item(tg_tensor_grad(x1a)));
    printf("delta x1->w3*x1 %.17g\n", tg_tensor_item(tg_tensor_grad(x1b)));
    printf("delta h1->w5*h1 %.17g\n", tg_tensor_item(dh1));
    return 0;
}

static int shared_case(tg_ctx *ctx, int argc, char **argv)
{
    tg_tensor *y = leaf(ctx, argc, argv, "y", "y", 1), *w1a = leaf(ctx, argc, argv, "w1a", "w1", 0.5);
    tg_tensor *w1b = leaf(ctx, argc, argv, "w1b", "w1", 0.5), *x1 = leaf(ctx, argc, argv, "x1", "x1", 2);
    tg_tensor *w2 = leaf(ctx, argc, argv, "w2", "w2", -1), *x2 = leaf(ctx, argc, argv, "x2", "x2", 1);
    tg_tensor *b = leaf(ctx, argc, argv, "b", "b", 0.1);
    tg_tensor *z = tg_add(tg_add(tg_mul(w1a, x1), tg_mul(w2, x2)), b);
    tg_tensor *penalty = tg_mul_scalar(tg_pow_scalar(w1b, 2), 0.1);
    tg_tensor *loss = tg_add(tg_pow_scalar(tg_sub(y, tg_sigmoid(z)), 2), penalty);
    if (!loss || tg_backward(loss) != TG_OK) {
        fprintf(stderr, "live_reference: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    double by_neuron = tg_tensor_item(tg_tensor_grad(w1a)), by_penalty = tg_tensor_item(tg_tensor_grad(w1b));
    printf("L %.17g\n", tg_tensor_item(loss));
    printf("delta w1->w1*x1 %.17g\n", by_neuron);
    printf("delta w1->w1^2 %.17g\n", by_penalty);
    printf("dL/dw1 %.17g\n", by_neuron + by_penalty);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "alice") != 0 && strcmp(argv[1], "shared") != 0)) {
        fprintf(stderr, "usage: live_reference alice|shared [name=value ...]\n");
        return 2;
    }
    tg_ctx *ctx = tg_ctx_new(1);
    int rc = strcmp(argv[1], "alice") == 0 ? alice_case(ctx, argc, argv) : shared_case(ctx, argc, argv);
    tg_ctx_free(ctx);
    return rc;
}
