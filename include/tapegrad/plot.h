/* tapegrad/plot.h: training curves as CSV and as a small SVG chart.
 *
 * The input is plain arrays, so any loop can plot what it recorded:
 *
 *     double loss[3] = {0.9, 0.5, 0.3}, acc[3] = {0.6, 0.8, 0.9};
 *     tg_curves c = {.count = 3, .train_loss = loss, .test_accuracy = acc,
 *                    .title = "2-2-1 on Alice..Diana"};
 *     tg_curves_save_svg(ctx, &c, "curves.svg");
 *
 * or straight from tg_train's history: tg_history_save_svg(ctx, &history, path).
 * The SVG is self-contained (no scripts, no external fonts or styles): two
 * panels sharing the epoch axis, loss above and accuracy below, each with
 * axes, ticks, labels and a legend. Non-finite values (NaN for "not
 * measured") leave a gap in their line.
 */
#ifndef TAPEGRAD_PLOT_H
#define TAPEGRAD_PLOT_H

#include <stdio.h>

#include "tapegrad/core.h"
#include "tapegrad/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Curves over epochs; every array has count values or is NULL (not drawn). */
typedef struct {
    int count;
    const int *epochs;             /* x values; NULL: 1..count */
    const double *train_loss;
    const double *test_loss;
    const double *train_accuracy;  /* fractions in [0, 1] or percentages */
    const double *test_accuracy;
    const char *title;             /* NULL: none */
} tg_curves;

/* Writes the chart as SVG to f. Errors: TG_ERR_ARG for NULL arguments, a
 * negative count or no array at all; TG_ERR_IO when writing fails. */
TG_API tg_status tg_curves_write_svg(tg_ctx *ctx, const tg_curves *curves, FILE *f);
/* The same into the file at path; TG_ERR_IO naming it when it cannot be
 * opened or written. */
TG_API tg_status tg_curves_save_svg(tg_ctx *ctx, const tg_curves *curves, const char *path);
/* Writes "epoch,train_loss,test_loss,train_accuracy,test_accuracy" (only the
 * columns given) and one row per epoch; NaN is written as an empty field.
 * Errors as tg_curves_save_svg. */
TG_API tg_status tg_curves_save_csv(tg_ctx *ctx, const tg_curves *curves, const char *path);

/* tg_train's history (tapegrad/train.h) as the chart above: train loss, train
 * and test accuracy. Errors as tg_curves_save_svg. */
TG_API tg_status tg_history_save_svg(tg_ctx *ctx, const tg_history *history, const char *path);

#ifdef __cplusplus
}
#endif
#endif
