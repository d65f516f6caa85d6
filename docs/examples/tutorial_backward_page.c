/* docs/tutorial.md, "Watching the chain rule run, step by step": the whole
 * program of the page's block, between the tutorial markers (checked by
 * tests/tutorial_examples.sh). It writes backward-alice.html; it needs
 * Graphviz's dot, and prints nothing. */
/* tutorial: begin */
#include "tapegrad.h"
#include "examples/alice_graph.h"  /* Alice's graph of scalars, as above */

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    alice_graph g = alice(ctx);
    tg_backward_set_recording(ctx, true);  /* log every δ and every contribution */
    tg_backward(g.loss);
    tg_status status = tg_backward_page_save("backward-alice.html", g.loss, NULL);
    alice_free(&g);
    tg_ctx_free(ctx);
    return status != TG_OK;
}
/* tutorial: end */
