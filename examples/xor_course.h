/* One sample of the XOR network (examples/xor_net.h), layer by layer, in the
 * course's notation: the step-through page shows the course's
 * δ⁽ˡ⁾ = (Θ⁽ˡ⁺¹⁾ᵀδ⁽ˡ⁺¹⁾) ⊙ f′(z⁽ˡ⁾) as a small matrix–vector product with its
 * numbers, beside the tape's ∂L/∂z⁽ˡ⁾ (= 2·δ⁽ˡ⁾, since L = (y − a⁽³⁾)² = 2E).
 * tapegrad stores a sample as a row and a dense layer computes
 * z = x·Wᵀ + b, W [out, in] being the course's Θ: the edge labelled ·W sends
 * δ·W back, which on a row vector is the course's Θᵀδ on a column.
 * Shared by examples/backward_page.c and tests/test_page.c. */
#ifndef TAPEGRAD_EXAMPLES_XOR_COURSE_H
#define TAPEGRAD_EXAMPLES_XOR_COURSE_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "examples/xor_net.h"

enum { XOR_NOTES = 12, XOR_NOTE_SIZE = 640, XOR_HIDDEN = 4 };

typedef struct {
    tg_tensor *x, *y;                    /* the sample (persistent) */
    tg_tensor *z2, *a2, *z3, *a3, *loss; /* step tensors */
    tg_page_note notes[XOR_NOTES];
    char text[XOR_NOTES][XOR_NOTE_SIZE];
    int n;
} xor_sample;

static const char XOR_GLOSSARY[] =
    "∂L/∂t: the tape's δ of a node t, with L = (y − a⁽³⁾)² for this one sample; the course's δ⁽ˡ⁾ = ∂E/∂z⁽ˡ⁾ with "
    "E = ½(y − a⁽³⁾)², so the tape's ∂L/∂z⁽ˡ⁾ = 2·δ⁽ˡ⁾. 残差 λ⁽ˡ⁾ is δ⁽ˡ⁾; 敏感度 is −δ⁽ˡ⁾.\n"
    "Layers as the course numbers them: a⁽¹⁾ = x, a⁽²⁾ = tanh(z⁽²⁾) the hidden layer (4 units), a⁽³⁾ = σ(z⁽³⁾) the "
    "output. tapegrad's layer1.weight [4, 2] is the course's Θ⁽²⁾, layer2.weight [1, 4] its Θ⁽³⁾.\n"
    "Rows against columns: tapegrad writes a sample as a row, z = x·Wᵀ + b. The edge labelled ·W sends δ·W back: on a "
    "row vector that is the course's Θᵀδ on a column, (δ·W)ᵀ = Wᵀδᵀ. The weight edge's δᵀ·x is the course's δaᵀ. "
    "No transpose is missing.\n"
    "Direction: arrows point forward; backward runs against them, from L back to the weights.";

static inline void xor_note(xor_sample *s, const tg_tensor *t, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static inline void xor_note(xor_sample *s, const tg_tensor *t, const char *format, ...)
{
    if (s->n >= XOR_NOTES)
        return;
    va_list args;
    va_start(args, format);
    vsnprintf(s->text[s->n], XOR_NOTE_SIZE, format, args);
    va_end(args);
    s->notes[s->n] = (tg_page_note){.tensor = t, .text = s->text[s->n]};
    s->n++;
}

/* "[a, b, c, d]" with 4 significant digits */
static inline const char *xor_vector(char *buf, size_t size, const double *v, int n)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%.4g", i ? ", " : "", v[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

/* Forward of the sample (x1, x2) -> y through n's layers, one op per
 * statement, the intermediates named as the course names them; then the
 * notes, from the forward values and the weights by the course's formulas. */
static inline void xor_sample_forward(xor_sample *out, tg_ctx *ctx, xor_net *net, double x1, double x2, double y)
{
    /* filled in place: the notes point into out->text, so the struct must not be copied */
    *out = (xor_sample){0};
    out->x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 2), (double[]){x1, x2});
    out->y = tg_tensor_from(ctx, TG_F64, TG_SHAPE(1, 1), (double[]){y});
    tg_tensor_set_name(out->x, "a⁽¹⁾ = x");
    tg_tensor_set_name(out->y, "y");
    tg_layer *layer1 = tg_mlp_layer(net->net, 0), *layer2 = tg_mlp_layer(net->net, 1);
    out->z2 = tg_layer_linear(layer1, out->x);
    out->a2 = tg_tanh(out->z2);
    out->z3 = tg_layer_linear(layer2, out->a2);
    out->a3 = tg_sigmoid(out->z3);
    out->loss = tg_loss_mse(out->a3, out->y);
    if (!out->loss)
        return;
    tg_tensor_set_name(out->z2, "z⁽²⁾");
    tg_tensor_set_name(out->a2, "a⁽²⁾");
    tg_tensor_set_name(out->z3, "z⁽³⁾");
    tg_tensor_set_name(out->a3, "a⁽³⁾");
    tg_tensor_set_name(out->loss, "L");

    const tg_tensor *theta3 = tg_layer_weight(layer2);
    double a3 = tg_tensor_item(out->a3), a2[XOR_HIDDEN], th[XOR_HIDDEN], back[XOR_HIDDEN], fp[XOR_HIDDEN];
    double delta2[XOR_HIDDEN], twice[XOR_HIDDEN], grad3[XOR_HIDDEN];
    double delta3 = -(y - a3) * a3 * (1 - a3);
    for (int i = 0; i < XOR_HIDDEN; i++) {
        a2[i] = tg_tensor_get(out->a2, i);
        th[i] = tg_tensor_get(theta3, i);
        back[i] = th[i] * delta3;      /* (Θ⁽³⁾ᵀδ⁽³⁾)ᵢ */
        fp[i] = 1 - a2[i] * a2[i];     /* tanh′(z) = 1 − a² */
        delta2[i] = back[i] * fp[i];
        twice[i] = 2 * delta2[i];
        grad3[i] = 2 * delta3 * a2[i];
    }
    char v1[96], v2[96], v3[96], v4[96];
    xor_note(out, out->loss, "L = (y − a⁽³⁾)² = (%g − %.4g)² = %.4g = 2E, E = ½(y − a⁽³⁾)² the course's loss.", y, a3,
             (y - a3) * (y - a3));
    xor_note(out, out->a3, "∂L/∂a⁽³⁾ = −2(y − a⁽³⁾) = −2 × (%g − %.4g) = %.4g.", y, a3, -2 * (y - a3));
    xor_note(out, out->z3, "∂L/∂z⁽³⁾ = 2·δ⁽³⁾ = %.4g, where the course's δ⁽³⁾ = −(y − a⁽³⁾) f′(z⁽³⁾) = −(%g − %.4g) × "
                       "%.4g = %.4g.", 2 * delta3, y, a3, a3 * (1 - a3), delta3);
    xor_note(out, out->a2, "∂L/∂a⁽²⁾ = ∂L/∂z⁽³⁾·W: the ·W edge is the course's Θ⁽³⁾ᵀ on a column. Θ⁽³⁾ᵀ(2δ⁽³⁾) = "
                       "%sᵀ × %.4g = %s; the course's Θ⁽³⁾ᵀδ⁽³⁾ = %s.",
             xor_vector(v1, sizeof v1, th, XOR_HIDDEN), 2 * delta3,
             xor_vector(v2, sizeof v2, (double[]){2 * back[0], 2 * back[1], 2 * back[2], 2 * back[3]}, XOR_HIDDEN),
             xor_vector(v3, sizeof v3, back, XOR_HIDDEN));
    xor_note(out, out->z2, "δ⁽²⁾ = (Θ⁽³⁾ᵀδ⁽³⁾) ⊙ f′(z⁽²⁾) = %s ⊙ %s = %s, with f′(z) = 1 − tanh²(z) = 1 − (a⁽²⁾)²; the "
                       "tape's ∂L/∂z⁽²⁾ = 2·δ⁽²⁾ = %s.",
             xor_vector(v1, sizeof v1, back, XOR_HIDDEN), xor_vector(v2, sizeof v2, fp, XOR_HIDDEN),
             xor_vector(v3, sizeof v3, delta2, XOR_HIDDEN), xor_vector(v4, sizeof v4, twice, XOR_HIDDEN));
    xor_note(out, tg_layer_weight(layer2), "∇Θ⁽³⁾ = δ⁽³⁾(a⁽²⁾)ᵀ, doubled: 2 × %.4g × %s = %s (the edge's δᵀ·x).",
             delta3, xor_vector(v1, sizeof v1, a2, XOR_HIDDEN), xor_vector(v2, sizeof v2, grad3, XOR_HIDDEN));
    xor_note(out, tg_layer_bias(layer2), "∇b⁽³⁾ = δ⁽³⁾, doubled: %.4g.", 2 * delta3);
    xor_note(out, tg_layer_weight(layer1), "∇Θ⁽²⁾ = δ⁽²⁾(a⁽¹⁾)ᵀ, doubled: the column 2·δ⁽²⁾ = %s times the row "
                                          "x = [%g, %g], a 4 × 2 matrix.",
             xor_vector(v1, sizeof v1, twice, XOR_HIDDEN), x1, x2);
    xor_note(out, tg_layer_bias(layer1), "∇b⁽²⁾ = δ⁽²⁾, doubled: %s.", xor_vector(v1, sizeof v1, twice, XOR_HIDDEN));
}

static inline void xor_sample_free(xor_sample *s)
{
    tg_tensor_free(s->x);
    tg_tensor_free(s->y);
}

#endif
