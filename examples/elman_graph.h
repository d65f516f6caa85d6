/* An Elman RNN unrolled over time, built from plain ops and named as a
 * newcomer would name it (the parameters only, nothing per time step):
 *     h_t = tanh(x_t·W_xh + h_{t-1}·W_hh + b_h),  h_0 = 0
 *     y   = h_T·W_hy,  L = mean((y - target)²)
 * Shared by examples/diagrams.c and tests/test_dot.c, so the test checks the
 * graph the example draws. */
#ifndef TAPEGRAD_EXAMPLES_ELMAN_GRAPH_H
#define TAPEGRAD_EXAMPLES_ELMAN_GRAPH_H

#include <math.h>
#include <stdio.h>

#include "tapegrad.h"

enum { ELMAN_MAX_STEPS = 64, ELMAN_IN = 2, ELMAN_HIDDEN = 3 };

typedef struct {
    int steps;
    tg_tensor *w_xh, *w_hh, *b_h, *w_hy;      /* parameters (persistent) */
    tg_tensor *x[ELMAN_MAX_STEPS], *target;   /* inputs (persistent) */
    tg_tensor *h[ELMAN_MAX_STEPS], *y, *loss; /* step tensors */
} elman_graph;

/* A named persistent [rows, cols] tensor (rank 1 when rows is 0) with
 * smooth, deterministic values. */
static inline tg_tensor *elman_tensor(tg_ctx *ctx, const char *name, int rows, int cols, double phase, bool param)
{
    double values[ELMAN_HIDDEN * ELMAN_HIDDEN];
    int n = (rows ? rows : 1) * cols;
    for (int i = 0; i < n; i++)
        values[i] = 0.5 * sin(1.7 * i + phase);
    tg_tensor *t = rows ? tg_tensor_from(ctx, TG_F64, TG_SHAPE(rows, cols), values)
                        : tg_tensor_from(ctx, TG_F64, TG_SHAPE(cols), values);
    tg_tensor_set_name(t, name);
    tg_tensor_set_requires_grad(t, param);
    return t;
}

/* The graph unrolled over steps time steps (1 to ELMAN_MAX_STEPS). */
static inline elman_graph elman(tg_ctx *ctx, int steps)
{
    elman_graph g = {.steps = steps < 1 ? 1 : steps > ELMAN_MAX_STEPS ? ELMAN_MAX_STEPS : steps};
    g.w_xh = elman_tensor(ctx, "W_xh", ELMAN_IN, ELMAN_HIDDEN, 0.3, true);
    g.w_hh = elman_tensor(ctx, "W_hh", ELMAN_HIDDEN, ELMAN_HIDDEN, 1.1, true);
    g.b_h = elman_tensor(ctx, "b_h", 0, ELMAN_HIDDEN, 2.0, true);
    g.w_hy = elman_tensor(ctx, "W_hy", ELMAN_HIDDEN, 1, 0.7, true);
    g.target = elman_tensor(ctx, "target", 1, 1, 1.0, false);
    tg_tensor *h = NULL;
    for (int t = 0; t < g.steps; t++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", t + 1);
        g.x[t] = elman_tensor(ctx, name, 1, ELMAN_IN, 0.9 * t, false);
        tg_tensor *z = tg_matmul(g.x[t], g.w_xh);
        if (h)
            z = tg_add(z, tg_matmul(h, g.w_hh));
        h = g.h[t] = tg_tanh(tg_add(z, g.b_h));
    }
    g.y = tg_matmul(h, g.w_hy);
    g.loss = tg_loss_mse(g.y, g.target);
    tg_tensor_set_name(g.loss, "L");
    return g;
}

/* Frees the persistent tensors (the step tensors go with tg_tape_reset). */
static inline void elman_free(elman_graph *g)
{
    tg_tensor *owned[] = {g->w_xh, g->w_hh, g->b_h, g->w_hy, g->target};
    for (int i = 0; i < 5; i++)
        tg_tensor_free(owned[i]);
    for (int t = 0; t < g->steps; t++)
        tg_tensor_free(g->x[t]);
}

#endif
