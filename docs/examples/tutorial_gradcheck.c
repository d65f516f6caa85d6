/* docs/tutorial.md §3, "The same numbers from finite differences": tg_gradcheck
 * on Alice's 2-2-1 network as two layers (w = 1, b = 0, x = [-2, -1], y = 1).
 * The lines between the tutorial markers are the page's code block, word for
 * word, the pairs joined by "..." (tests/tutorial_examples.sh checks it, and
 * that the output is the page's). */
#include <stdio.h>
#include "tapegrad.h"

typedef struct {
    tg_layer *l1, *l2;
    tg_tensor *x, *y;
} net;

/* tutorial: begin */
static tg_tensor *alice_loss(tg_tensor *const *inputs, void *user)
{
    net *n = user;           /* the inputs are the layers' own parameters */
    (void)inputs;
    return tg_loss_mse(tg_layer_forward(n->l2, tg_layer_forward(n->l1, n->x)), n->y);
}
/* tutorial: end */

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    net n = {tg_layer_new(ctx, TG_F64, 2, 2, TG_ACT_SIGMOID, TG_INIT_ZEROS, NULL),
             tg_layer_new(ctx, TG_F64, 2, 1, TG_ACT_SIGMOID, TG_INIT_ZEROS, NULL),
             tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){-2, -1}),
             tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 1), (double[]){1})};
    tg_tensor *W1 = tg_layer_weight(n.l1), *b1 = tg_layer_bias(n.l1);
    tg_tensor *W2 = tg_layer_weight(n.l2), *b2 = tg_layer_bias(n.l2);
    tg_tensor_fill(W1, 1);
    tg_tensor_fill(W2, 1);

    /* tutorial: begin */
tg_tensor *params[4] = {W1, b1, W2, b2};
tg_gradcheck_report report;
tg_gradcheck(ctx, alice_loss, &n, 4, params, NULL, &report);
tg_gradcheck_print(&report, "Alice 2-2-1");
bool passed = report.passed;
tg_gradcheck_report_free(&report);
    /* tutorial: end */

    int status = tg_ctx_status(ctx) != TG_OK || !passed;
    if (tg_ctx_status(ctx) != TG_OK)
        fprintf(stderr, "%s\n", tg_ctx_error(ctx));
    tg_tensor_free(n.x);
    tg_tensor_free(n.y);
    tg_layer_free(n.l1);
    tg_layer_free(n.l2);
    tg_ctx_free(ctx);
    return status;
}
