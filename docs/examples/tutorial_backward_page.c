/* docs/tutorial.md, "Watching the chain rule run, step by step": the whole
 * program of the page's block, between the tutorial markers (checked by
 * tests/tutorial_examples.sh). It writes backward-alice.html; it needs
 * Graphviz's dot, and prints nothing. */
/* tutorial: begin */
#include "tapegrad.h"
#include "examples/alice_course.h"  /* Alice's graph of scalars, as above, and
                                       the course's names and formulas for it */
int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    alice_graph g = alice(ctx);
    alice_course course;
    alice_course_view(&g, &course);        /* names z⁽ˡ⁾, a⁽ˡ⁾; a note per node */
    tg_backward_set_recording(ctx, true);  /* log every δ and every contribution */
    tg_backward(g.loss);
    tg_page_options opts = {.diagram = {.title = ALICE_COURSE_TITLE},
                            .notes = course.notes, .n_notes = course.n,
                            .glossary = ALICE_GLOSSARY};
    tg_status status = tg_backward_page_save("backward-alice.html", g.loss, &opts);
    alice_free(&g);
    tg_ctx_free(ctx);
    return status != TG_OK;
}
/* tutorial: end */
