/* docs/tutorial.md §3, "Watching δ flow, with hooks": hooks print each δ of
 * Alice's graph of scalars as backward reaches it. The lines between the
 * tutorial markers are the page's code block, word for word, the pairs joined
 * by "..." (tests/tutorial_examples.sh checks it, and that the output is the
 * page's). */
#include <stdio.h>
#include "tapegrad.h"
#include "examples/alice_graph.h"

/* tutorial: begin */
static tg_tensor *print_delta(tg_tensor *t, tg_tensor *grad, void *user)
{
    (void)user;
    printf("δ %-3s = ∂L/∂%-3s = %+.7f\n", tg_tensor_name(t), tg_tensor_name(t),
           tg_tensor_item(grad));
    return NULL; /* keep the gradient as it is */
}
/* tutorial: end */

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    alice_graph g = alice(ctx); /* §3's graph, with L named "L" */
    tg_tensor *L = g.loss, *o1 = g.o1, *h1 = g.h1, *h2 = g.h2, *w1 = g.w[0], *w5 = g.w[4];

    /* tutorial: begin */
tg_tensor_set_hook(L, print_delta, NULL);
tg_tensor_set_hook(o1, print_delta, NULL);
tg_tensor_set_hook(h1, print_delta, NULL);
tg_tensor_set_hook(h2, print_delta, NULL);
tg_tensor_set_hook(w1, print_delta, NULL);
tg_tensor_set_hook(w5, print_delta, NULL);
tg_backward(L);
    /* tutorial: end */

    int status = tg_ctx_status(ctx) != TG_OK;
    if (status)
        fprintf(stderr, "%s\n", tg_ctx_error(ctx));
    alice_free(&g);
    tg_ctx_free(ctx);
    return status;
}
