/* Seed case 3 as a graph of scalars: one tensor per weight, so a diagram
 * shows each weight as its own node. Shared by examples/diagrams.c and
 * tests/test_dot.c, so the test checks the very graph the example draws. */
#ifndef TAPEGRAD_EXAMPLES_ALICE_GRAPH_H
#define TAPEGRAD_EXAMPLES_ALICE_GRAPH_H

#include "tapegrad.h"

/* A named float64 scalar leaf. */
static inline tg_tensor *scalar(tg_ctx *ctx, const char *name, double value, bool requires_grad)
{
    tg_tensor *t = tg_tensor_scalar(ctx, TG_F64, value);
    tg_tensor_set_name(t, name);
    tg_tensor_set_requires_grad(t, requires_grad);
    return t;
}

/* One neuron's intermediates: σ(z), z = s + bias, s = products[0] + products[1]. */
typedef struct {
    tg_tensor *products[2], *sum, *z;
} alice_neuron;

typedef struct {
    tg_tensor *w[6], *b[3], *x[2], *y; /* persistent leaves */
    tg_tensor *h1, *h2, *o1, *loss;    /* step tensors */
    alice_neuron neurons[3];           /* h1, h2, o1's intermediates (step tensors) */
} alice_graph;

/* σ(wa·a + wb·b + bias), one op per statement so the tape order does not
 * depend on the compiler's order of evaluating arguments. */
static inline tg_tensor *neuron(tg_tensor *wa, tg_tensor *a, tg_tensor *wb, tg_tensor *b, tg_tensor *bias,
                                const char *name, alice_neuron *parts)
{
    tg_tensor *p = tg_mul(wa, a);
    tg_tensor *q = tg_mul(wb, b);
    tg_tensor *s = tg_add(p, q);
    tg_tensor *z = tg_add(s, bias);
    tg_tensor *h = tg_sigmoid(z);
    tg_tensor_set_name(h, name);
    *parts = (alice_neuron){.products = {p, q}, .sum = s, .z = z};
    return h;
}

/* w1..w6 = 1, b1..b3 = 0, x = [-2, -1], y_true = 1, L = (y_true - o1)². */
static inline alice_graph alice(tg_ctx *ctx)
{
    alice_graph g;
    static const char *const wn[6] = {"w1", "w2", "w3", "w4", "w5", "w6"}, *const bn[3] = {"b1", "b2", "b3"};
    for (int i = 0; i < 6; i++)
        g.w[i] = scalar(ctx, wn[i], 1, true);
    for (int i = 0; i < 3; i++)
        g.b[i] = scalar(ctx, bn[i], 0, true);
    g.x[0] = scalar(ctx, "x1", -2, false);
    g.x[1] = scalar(ctx, "x2", -1, false);
    g.y = scalar(ctx, "y_true", 1, false);
    g.h1 = neuron(g.w[0], g.x[0], g.w[1], g.x[1], g.b[0], "h1", &g.neurons[0]);
    g.h2 = neuron(g.w[2], g.x[0], g.w[3], g.x[1], g.b[1], "h2", &g.neurons[1]);
    g.o1 = neuron(g.w[4], g.h1, g.w[5], g.h2, g.b[2], "o1", &g.neurons[2]);
    g.loss = tg_loss_mse(g.o1, g.y); /* (y_true - o1)² for one element */
    tg_tensor_set_name(g.loss, "L");
    return g;
}

/* Frees the leaves (the step tensors go with tg_tape_reset). */
static inline void alice_free(alice_graph *g)
{
    for (int i = 0; i < 6; i++)
        tg_tensor_free(g->w[i]);
    for (int i = 0; i < 3; i++)
        tg_tensor_free(g->b[i]);
    tg_tensor_free(g->x[0]);
    tg_tensor_free(g->x[1]);
    tg_tensor_free(g->y);
}

#endif
