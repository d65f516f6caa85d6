/* docs/tutorial.md §5: the perceptron rule as SGD on the perceptron loss, on
 * the tape; the course's table and its homework variant (M2 at iteration 5)
 * side by side. The lines between the tutorial markers are the page's code
 * block (tests/tutorial_examples.sh checks it, and that the output is the
 * page's). */
#include <stdio.h>
#include "tapegrad.h"
#include "examples/perceptron_loss.h"

/* "(3,3)", "−1": integers with a real minus sign, as the course prints them */
static const char *num(double v, char *buf, size_t size)
{
    snprintf(buf, size, v < 0 ? "\u2212%g" : "%g", v < 0 ? -v : v);
    return buf;
}

static void print_cell(const perceptron_row *r, bool gradient)
{
    static const char *const names[] = {"M1", "M2", "M3"};
    char a[16], c[16], d[16];
    printf(" %s%s|", r->point >= 0 ? names[r->point] : r->iteration > 0 ? "none" : "", r->iteration ? " " : "");
    if (gradient)
        printf(r->point >= 0 ? " (%s,%s), %s |" : " |", num(r->dw[0], a, sizeof a), num(r->dw[1], c, sizeof c),
               num(r->db, d, sizeof d));
    printf(" (%s,%s) | %s |", num(r->w[0], a, sizeof a), num(r->w[1], c, sizeof c), num(r->b, d, sizeof d));
}

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    /* tutorial: begin */
perceptron_row course[PERCEPTRON_MAX_ROWS], homework[PERCEPTRON_MAX_ROWS];
int n = perceptron_by_loss(ctx, 0, 0, course, PERCEPTRON_MAX_ROWS);   /* first misclassified */
int m = perceptron_by_loss(ctx, 5, 1, homework, PERCEPTRON_MAX_ROWS); /* M2 at iteration 5 */
printf("| it. | point | ∂L/∂w, ∂L/∂b | w | b | point (M2 at 5) | w | b |\n");
printf("|---|---|---|---|---|---|---|---|\n");
for (int i = 0; i < (n > m ? n : m); i++) {
    printf("| %d |", i);
    if (i < n) print_cell(&course[i], true); else printf(" | | | |");
    if (i < m) print_cell(&homework[i], false); else printf(" | | |");
    printf("\n");
}
    /* tutorial: end */
    tg_ctx_free(ctx);
    return n < 0 || m < 0;
}
