/* docs/tutorial.md, "The gradient is on the tape too": d/dx tanh x recorded
 * with create_graph, drawn with its gradient ops orange, and differentiated
 * again. The lines between the tutorial markers are the page's code block,
 * word for word (tests/tutorial_examples.sh checks it, and that the output is
 * the page's). */
#include <stdio.h>
#include "tapegrad.h"

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *x = tg_tensor_scalar(ctx, TG_F64, 0.5);
    tg_tensor_set_name(x, "x");
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *dydx = NULL, *d2ydx2 = NULL;

    /* tutorial: begin */
tg_tensor *y = tg_tanh(x);
int64_t forward_ops = tg_tape_length(ctx);
tg_grad(y, NULL, 1, &x, &dydx, true);          /* dy/dx = 1 − y², recorded */
tg_dot_save("second_order.dot", 1, &dydx,
            &(tg_dot_options){.gradient_ops_from = forward_ops,
                              .edge_derivatives = true, .grads_of = dydx});
tg_grad(dydx, NULL, 1, &x, &d2ydx2, false);    /* d²y/dx² = −2y(1 − y²) */
printf("y = %.4f, dy/dx = %.4f, d²y/dx² = %.4f\n", tg_tensor_item(y), tg_tensor_item(dydx),
       tg_tensor_item(d2ydx2));
    /* tutorial: end */

    int status = tg_ctx_status(ctx) != TG_OK;
    if (status)
        fprintf(stderr, "%s\n", tg_ctx_error(ctx));
    tg_tensor_free(x);
    tg_ctx_free(ctx);
    return status;
}
