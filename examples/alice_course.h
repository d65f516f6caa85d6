/* Alice's 2-2-1 network (seed case 3) in the course's notation, for the
 * step-through page: the course's names on the intermediates (z⁽ˡ⁾, a⁽ˡ⁾,
 * layer 1 the input, as the course numbers layers), and at each step the
 * course's formula with its numbers beside the tape's ∂L/∂t.
 *
 * The course's numbers are computed here from the forward values by the
 * course's own formulas (δ⁽³⁾ = −(y − a⁽³⁾) f′(z⁽³⁾), δ⁽²⁾ = (Θ⁽³⁾ᵀδ⁽³⁾) ⊙
 * f′(z⁽²⁾), ∇Θ = δ aᵀ), not read from the tape: the page shows two
 * computations agreeing, with the factor 2 between them said out loud
 * (L = (y − o1)² is twice the course's E = ½(y − a)²).
 * Shared by examples/backward_page.c and tests/test_page.c. */
#ifndef TAPEGRAD_EXAMPLES_ALICE_COURSE_H
#define TAPEGRAD_EXAMPLES_ALICE_COURSE_H

#include <stdarg.h>
#include <stdio.h>

#include "examples/alice_graph.h"

enum { ALICE_NOTES = 26, ALICE_NOTE_SIZE = 320 };

typedef struct {
    tg_page_note notes[ALICE_NOTES];
    char text[ALICE_NOTES][ALICE_NOTE_SIZE];
    int n;
} alice_course;

static const char ALICE_COURSE_TITLE[] =
    "Alice through the 2-2-1 network: how L = (y − a⁽³⁾)² sends its gradient back to every weight";

/* One paragraph a line. */
static const char ALICE_GLOSSARY[] =
    "∂L/∂t: what the tape calls the δ of a node t, for every node, with L = (y − a⁽³⁾)² the loss of Alice's "
    "sample. A negative ∂L/∂w means a larger w lowers L; gradient descent w ← w − η·∂L/∂w raises such a w.\n"
    "δ⁽ˡ⁾ (the course's BP derivation): ∂E/∂z⁽ˡ⁾, taken at z, before the activation, with E = ½(y − a⁽³⁾)². "
    "Since L = 2E, at every z⁽ˡ⁾ node the tape's ∂L/∂z⁽ˡ⁾ = 2·δ⁽ˡ⁾.\n"
    "残差 (residual) λ⁽ˡ⁾ = ∂J/∂z⁽ˡ⁾: the same quantity as δ⁽ˡ⁾, same sign. "
    "敏感度 (sensitivity) = −∂J/∂z⁽ˡ⁾: the same size, the opposite sign.\n"
    "Layers as the course numbers them: layer 1 is the input a⁽¹⁾ = x = (x1, x2) = (−2, −1); layer 2 the hidden "
    "a⁽²⁾ = (h1, h2); layer 3 the output a⁽³⁾ = o1. Weights: Θ⁽²⁾ = [[w1, w2], [w3, w4]], b⁽²⁾ = (b1, b2), "
    "Θ⁽³⁾ = [w5, w6], b⁽³⁾ = b3; z⁽ˡ⁾ = Θ⁽ˡ⁾a⁽ˡ⁻¹⁾ + b⁽ˡ⁾, a⁽ˡ⁾ = f(z⁽ˡ⁾) with f = σ, f′(z) = a(1 − a).\n"
    "Direction: arrows point forward, from the leaves to L; backward runs against them, from L back to the "
    "leaves, one op at a time.";

static inline void alice_course_add(alice_course *c, const tg_tensor *t, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static inline void alice_course_add(alice_course *c, const tg_tensor *t, const char *format, ...)
{
    if (c->n >= ALICE_NOTES)
        return;
    va_list args;
    va_start(args, format);
    vsnprintf(c->text[c->n], ALICE_NOTE_SIZE, format, args);
    va_end(args);
    c->notes[c->n] = (tg_page_note){.tensor = t, .text = c->text[c->n]};
    c->n++;
}

/* Names g's intermediates as the course does and writes the notes, from
 * g's forward values. Call after alice(), before or after tg_backward. */
static inline void alice_course_view(alice_graph *g, alice_course *c)
{
    static const char *const z_names[3] = {"z⁽²⁾₁", "z⁽²⁾₂", "z⁽³⁾"};
    static const char *const sum_names[3] = {"(Θ⁽²⁾x)₁", "(Θ⁽²⁾x)₂", "Θ⁽³⁾a⁽²⁾"};
    static const char *const product_names[3][2] = {{"w1·x1", "w2·x2"}, {"w3·x1", "w4·x2"},
                                                    {"w5·a⁽²⁾₁", "w6·a⁽²⁾₂"}};
    tg_tensor_set_name(g->h1, "a⁽²⁾₁");
    tg_tensor_set_name(g->h2, "a⁽²⁾₂");
    tg_tensor_set_name(g->o1, "a⁽³⁾");
    tg_tensor_set_name(g->y, "y");
    for (int k = 0; k < 3; k++) {
        tg_tensor_set_name(g->neurons[k].z, z_names[k]);
        tg_tensor_set_name(g->neurons[k].sum, sum_names[k]);
        tg_tensor_set_name(g->neurons[k].products[0], product_names[k][0]);
        tg_tensor_set_name(g->neurons[k].products[1], product_names[k][1]);
    }

    double y = tg_tensor_item(g->y), a3 = tg_tensor_item(g->o1);
    double a2[2] = {tg_tensor_item(g->h1), tg_tensor_item(g->h2)};
    double x[2] = {tg_tensor_item(g->x[0]), tg_tensor_item(g->x[1])};
    double theta3[2] = {tg_tensor_item(g->w[4]), tg_tensor_item(g->w[5])};
    double E = 0.5 * (y - a3) * (y - a3), f3 = a3 * (1 - a3);
    double dL_da3 = -2 * (y - a3), delta3 = -(y - a3) * f3;

    c->n = 0;
    alice_course_add(c, g->loss, "L = (y − a⁽³⁾)² = (%.4g − %.4g)² = %.4g, twice the course's E = ½(y − a⁽³⁾)² = "
                                 "%.4g: every ∂L/∂t on this page is 2 × the course's ∂E/∂t.",
                     y, a3, 2 * E, E);
    alice_course_add(c, g->o1, "∂L/∂a⁽³⁾ = −2(y − a⁽³⁾) = −2 × (%.4g − %.4g) = %.4g; the course's ∂E/∂a⁽³⁾ = "
                               "−(y − a⁽³⁾) = %.4g.",
                     y, a3, dL_da3, -(y - a3));
    alice_course_add(c, g->neurons[2].z, "∂L/∂z⁽³⁾ = %.4g × %.4g × %.4g = %.4g = 2·δ⁽³⁾, where the course's "
                                         "δ⁽³⁾ = −(y − a⁽³⁾) f′(z⁽³⁾) = %.4g × %.4g = %.4g.",
                     dL_da3, a3, 1 - a3, dL_da3 * f3, -(y - a3), f3, delta3);
    alice_course_add(c, g->neurons[2].sum, "An add passes its δ on unchanged to each input: ∂L/∂(Θ⁽³⁾a⁽²⁾) = "
                                           "∂L/∂z⁽³⁾ = %.4g = 2·δ⁽³⁾.",
                     2 * delta3);
    for (int i = 0; i < 2; i++) {
        double f2 = a2[i] * (1 - a2[i]), delta2 = theta3[i] * delta3 * f2;
        alice_course_add(c, g->neurons[2].products[i], "w%d·a⁽²⁾%s is one term of z⁽³⁾: its δ is z⁽³⁾'s, %.4g.",
                         5 + i, i ? "₂" : "₁", 2 * delta3);
        alice_course_add(c, i ? g->h2 : g->h1, "∂L/∂a⁽²⁾%s = Θ⁽³⁾%s · ∂L/∂z⁽³⁾ = %.4g × %.4g = %.4g; the course's "
                                               "(Θ⁽³⁾ᵀδ⁽³⁾)%s = %.4g × %.4g = %.4g (half of it).",
                         i ? "₂" : "₁", i ? "₂" : "₁", theta3[i], 2 * delta3, 2 * theta3[i] * delta3, i ? "₂" : "₁",
                         theta3[i], delta3, theta3[i] * delta3);
        alice_course_add(c, g->neurons[i].z, "∂L/∂z⁽²⁾%s = %.4g × %.4g × %.4g = %.4g = 2·δ⁽²⁾%s, where the course's "
                                             "δ⁽²⁾%s = (Θ⁽³⁾ᵀδ⁽³⁾)%s f′(z⁽²⁾%s) = %.4g × %.4g = %.4g.",
                         i ? "₂" : "₁", 2 * theta3[i] * delta3, a2[i], 1 - a2[i], 2 * delta2, i ? "₂" : "₁",
                         i ? "₂" : "₁", i ? "₂" : "₁", i ? "₂" : "₁", theta3[i] * delta3, f2, delta2);
        alice_course_add(c, g->neurons[i].sum, "An add passes its δ on unchanged: ∂L/∂(Θ⁽²⁾x)%s = ∂L/∂z⁽²⁾%s = %.4g.",
                         i ? "₂" : "₁", i ? "₂" : "₁", 2 * delta2);
        for (int j = 0; j < 2; j++)
            alice_course_add(c, g->w[2 * i + j], "∂L/∂w%d = 2·δ⁽²⁾%s · x%d = %.4g × %.4g = %.4g: entry (%d, %d) of the "
                                                 "course's ∇Θ⁽²⁾ = δ⁽²⁾(a⁽¹⁾)ᵀ, doubled.",
                             2 * i + j + 1, i ? "₂" : "₁", j + 1, 2 * delta2, x[j], 2 * delta2 * x[j], i + 1, j + 1);
        alice_course_add(c, g->b[i], "∂L/∂b%d = 2·δ⁽²⁾%s = %.4g: the course's ∇b⁽²⁾ = δ⁽²⁾, doubled.", i + 1,
                         i ? "₂" : "₁", 2 * delta2);
        alice_course_add(c, g->w[4 + i], "∂L/∂w%d = 2·δ⁽³⁾ · a⁽²⁾%s = %.4g × %.4g = %.4g: the course's ∇Θ⁽³⁾ = "
                                         "δ⁽³⁾(a⁽²⁾)ᵀ, doubled.",
                         5 + i, i ? "₂" : "₁", 2 * delta3, a2[i], 2 * delta3 * a2[i]);
    }
    alice_course_add(c, g->b[2], "∂L/∂b3 = 2·δ⁽³⁾ = %.4g: the course's ∇b⁽³⁾ = δ⁽³⁾, doubled.", 2 * delta3);
}

#endif
