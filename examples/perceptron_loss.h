/* Seed case §5 the way the course derives it: the perceptron learning rule
 * is stochastic gradient descent on the perceptron loss
 *     L(w, b) = −Σ_{xᵢ∈M} yᵢ(w·xᵢ + b)      (M: the misclassified points)
 * one misclassified point at a time: ∂L/∂w = −yᵢxᵢ, ∂L/∂b = −yᵢ, so
 * w ← w − η∂L/∂w = w + ηyᵢxᵢ and b ← b + ηyᵢ. Here the gradient comes from
 * the tape (tg_backward of L), not from the rule written out.
 * Shared by examples/perceptron.c, docs/examples/tutorial_perceptron_loss.c
 * and tests/test_nn_seed_cases.c. */
#ifndef TAPEGRAD_EXAMPLES_PERCEPTRON_LOSS_H
#define TAPEGRAD_EXAMPLES_PERCEPTRON_LOSS_H

#include "tapegrad.h"

enum { PERCEPTRON_POINTS = 3, PERCEPTRON_MAX_ROWS = 32 };

/* M1(3,3), M2(4,3) positive; M3(1,1) negative. */
static const double perceptron_x[PERCEPTRON_POINTS][2] = {{3, 3}, {4, 3}, {1, 1}};
static const double perceptron_y[PERCEPTRON_POINTS] = {1, 1, -1};

typedef struct {
    int iteration;
    int point;          /* the misclassified point taken (0: M1), -1: none left (or row 0) */
    double dw[2], db;   /* the tape's ∂L/∂w, ∂L/∂b for that point */
    double w[2], b;     /* after the step */
} perceptron_row;

/* SGD with η = 1 from w = (0, 0), b = 0, taking the first misclassified
 * point in the order M1, M2, M3 (y(w·x + b) <= 0), except at iteration
 * `choose_at`, where point `choose` is taken if it is misclassified (the
 * course's homework: M2 at iteration 5; choose_at 0 for none). Fills rows
 * (row 0 the start) up to the first iteration with no misclassified point;
 * returns the number of rows, or -1 on an error (set on ctx). */
static inline int perceptron_by_loss(tg_ctx *ctx, int choose_at, int choose, perceptron_row *rows, int max_rows)
{
    tg_tensor *w = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2));
    tg_tensor *b = tg_tensor_scalar(ctx, TG_F64, 0);
    tg_tensor_set_requires_grad(w, true);
    tg_tensor_set_requires_grad(b, true);
    int n = 0;
    if (max_rows > 0)
        rows[n++] = (perceptron_row){.point = -1};
    for (int iteration = 1; n < max_rows; iteration++) {
        double wv[2] = {tg_tensor_get(w, 0), tg_tensor_get(w, 1)}, bv = tg_tensor_item(b);
        int taken = -1;
        for (int i = 0; i < PERCEPTRON_POINTS; i++) {
            bool wrong = perceptron_y[i] * (wv[0] * perceptron_x[i][0] + wv[1] * perceptron_x[i][1] + bv) <= 0;
            if (wrong && (taken < 0 || (iteration == choose_at && i == choose)))
                taken = i;
        }
        perceptron_row *row = &rows[n++];
        *row = (perceptron_row){.iteration = iteration, .point = taken, .w = {wv[0], wv[1]}, .b = bv};
        if (taken < 0)
            break;
        /* L = −yᵢ(w·xᵢ + b) on the tape */
        tg_tensor *xi = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), perceptron_x[taken]);
        tg_tensor *loss = tg_mul_scalar(tg_add(tg_sum(tg_mul(w, xi)), b), -perceptron_y[taken]);
        tg_tensor_zero_grad(w);
        tg_tensor_zero_grad(b);
        if (!loss || tg_backward(loss) != TG_OK) {
            tg_tensor_free(xi);
            n = -1;
            break;
        }
        const tg_tensor *dw = tg_tensor_grad(w), *db = tg_tensor_grad(b);
        row->dw[0] = tg_tensor_get(dw, 0);
        row->dw[1] = tg_tensor_get(dw, 1);
        row->db = tg_tensor_item(db);
        /* w ← w − η ∂L/∂w with η = 1 */
        row->w[0] = wv[0] - row->dw[0];
        row->w[1] = wv[1] - row->dw[1];
        row->b = bv - row->db;
        tg_tensor_set(w, 0, row->w[0]);
        tg_tensor_set(w, 1, row->w[1]);
        tg_tensor_set(b, 0, row->b);
        tg_tensor_free(xi);
        tg_tape_reset(ctx);
    }
    tg_tensor_free(w);
    tg_tensor_free(b);
    return n;
}

#endif
