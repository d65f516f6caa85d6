/* Training curves (tapegrad/plot.h): a two-panel SVG line chart and CSV.
 * Plain C and printf: no plotting library, output any browser shows. */
#include "tapegrad/plot.h"

#include "draw/draw.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* Layout, in SVG user units. */
enum { WIDTH = 640, HEIGHT = 480, LEFT = 70, RIGHT = 20, TOP = 40, BOTTOM = 50, GAP = 50 };

static const char *const COLOR_TRAIN = "#1f77b4";
static const char *const COLOR_TEST = "#ff7f0e";

typedef struct {
    double lo, hi, step; /* axis range and tick spacing */
} axis;

/* A "nice" step (1, 2 or 5 times a power of ten) giving about `ticks` ticks. */
static double nice_step(double range, int ticks)
{
    double raw = range / ticks, power = pow(10, floor(log10(raw))), f = raw / power;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * power;
}

static axis make_axis(double lo, double hi, int ticks, bool integer)
{
    if (!(lo <= hi)) { /* no finite value */
        lo = 0;
        hi = 1;
    }
    if (hi - lo < 1e-12 * (fabs(lo) + fabs(hi)) || hi == lo) {
        double pad = lo == 0 ? 0.5 : fabs(lo) * 0.1;
        lo -= pad;
        hi += pad;
    }
    double step = nice_step(hi - lo, ticks);
    if (integer && step < 1)
        step = 1;
    return (axis){floor(lo / step + 1e-9) * step, ceil(hi / step - 1e-9) * step, step};
}

static void range_of(const double *v, int n, double *lo, double *hi)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) {
            *lo = v[i] < *lo ? v[i] : *lo;
            *hi = v[i] > *hi ? v[i] : *hi;
        }
}

/* Tick labels: "0.25", "10", "1e-05", never "-0". */
static void tick_text(double v, double step, char *buf, size_t size)
{
    if (fabs(v) < step * 1e-9)
        v = 0;
    snprintf(buf, size, "%.6g", v);
}

typedef struct {
    FILE *f;
    const tg_curves *c;
    axis x;
    double x0, x1; /* pixel extent of the plot area */
} chart;

static double epoch_at(const tg_curves *c, int i) { return c->epochs ? c->epochs[i] : i + 1; }

static double px(const chart *ch, double epoch)
{
    return ch->x0 + (epoch - ch->x.lo) / (ch->x.hi - ch->x.lo) * (ch->x1 - ch->x0);
}

/* One series as polylines, broken at non-finite values. */
static void series(const chart *ch, const double *v, axis y, double y0, double y1, const char *color,
                   bool dashed, const char *name)
{
    FILE *f = ch->f;
    const tg_curves *c = ch->c;
    fprintf(f, "<g class=\"series\" data-name=\"%s\">\n", name);
    bool open = false;
    for (int i = 0; i < c->count; i++) {
        if (!isfinite(v[i])) {
            if (open)
                fputs("\"/>\n", f);
            open = false;
            continue;
        }
        if (!open)
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", color,
                    dashed ? " stroke-dasharray=\"6 3\"" : "");
        double yy = y1 - (v[i] - y.lo) / (y.hi - y.lo) * (y1 - y0);
        fprintf(f, "%s%.2f,%.2f", open ? " " : "", px(ch, epoch_at(c, i)), yy);
        open = true;
    }
    if (open)
        fputs("\"/>\n", f);
    if (c->count <= 60) /* markers while they do not crowd */
        for (int i = 0; i < c->count; i++)
            if (isfinite(v[i]))
                fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.5\" fill=\"%s\"/>\n", px(ch, epoch_at(c, i)),
                        y1 - (v[i] - y.lo) / (y.hi - y.lo) * (y1 - y0), color);
    fputs("</g>\n", f);
}

/* One panel: frame, grid, ticks, label, the two series and their legend. */
static void panel(const chart *ch, double y0, double y1, const char *label, const double *train, const double *test,
                  const char *train_name, const char *test_name, bool show_x_labels)
{
    FILE *f = ch->f;
    double lo = INFINITY, hi = -INFINITY;
    range_of(train, ch->c->count, &lo, &hi);
    range_of(test, ch->c->count, &lo, &hi);
    axis y = make_axis(lo, hi, 5, false);
    char text[64];

    fprintf(f, "<g class=\"panel\" data-name=\"%s\">\n", label);
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#ffffff\" stroke=\"#333333\"/>\n",
            ch->x0, y0, ch->x1 - ch->x0, y1 - y0);
    for (int k = 0;; k++) { /* y ticks and grid */
        double v = y.lo + k * y.step;
        if (v > y.hi + y.step * 1e-6)
            break;
        double yy = y1 - (v - y.lo) / (y.hi - y.lo) * (y1 - y0);
        tick_text(v, y.step, text, sizeof text);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e5e5e5\"/>\n", ch->x0, yy, ch->x1,
                yy);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333333\"/>\n", ch->x0 - 5, yy,
                ch->x0, yy);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n", ch->x0 - 8, yy + 4, text);
    }
    for (int k = 0;; k++) { /* x ticks */
        double v = ch->x.lo + k * ch->x.step;
        if (v > ch->x.hi + ch->x.step * 1e-6)
            break;
        double xx = px(ch, v);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333333\"/>\n", xx, y1, xx, y1 + 5);
        if (show_x_labels) {
            tick_text(v, ch->x.step, text, sizeof text);
            fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n", xx, y1 + 18, text);
        }
    }
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" transform=\"rotate(-90 %.2f %.2f)\">%s</text>\n",
            18.0, (y0 + y1) / 2, 18.0, (y0 + y1) / 2, label);
    if (train)
        series(ch, train, y, y0, y1, COLOR_TRAIN, false, train_name);
    if (test)
        series(ch, test, y, y0, y1, COLOR_TEST, true, test_name);

    /* legend at the right, in the corner (top or bottom) the curves leave free */
    int rows = (train != NULL) + (test != NULL), row = 0;
    double high = 0, n_right = 0;
    for (int s = 0; s < 2; s++) {
        const double *v = s ? test : train;
        for (int i = 0; v && i < ch->c->count; i++)
            if (isfinite(v[i]) && px(ch, epoch_at(ch->c, i)) > ch->x1 - 180) {
                high += (v[i] - y.lo) / (y.hi - y.lo) > 0.5;
                n_right++;
            }
    }
    double lx = ch->x1 - 130, ly = high > n_right / 2 ? y1 - 16 - 16 * rows : y0 + 8;
    if (rows)
        fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"122\" height=\"%d\" fill=\"#ffffff\" fill-opacity=\"0.85\" "
                   "stroke=\"#bbbbbb\"/>\n",
                lx, ly, 8 + 16 * rows);
    for (int s = 0; s < 2; s++) {
        const double *v = s ? test : train;
        if (!v)
            continue;
        double yy = ly + 12 + 16 * row++;
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
                lx + 8, yy, lx + 32, yy, s ? COLOR_TEST : COLOR_TRAIN, s ? " stroke-dasharray=\"6 3\"" : "");
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\">%s</text>\n", lx + 38, yy + 4, s ? test_name : train_name);
    }
    fputs("</g>\n", f);
}

/* v, or NULL when it holds no finite value. */
static const double *measured(const double *v, int n)
{
    for (int i = 0; v && i < n; i++)
        if (isfinite(v[i]))
            return v;
    return NULL;
}

static tg_status check_args(tg_ctx *ctx, const char *who, const tg_curves *c)
{
    if (!ctx)
        return TG_ERR_ARG;
    if (!c)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: curves is NULL", who);
    if (c->count < 0)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: count is %d", who, c->count);
    if (!c->train_loss && !c->test_loss && !c->train_accuracy && !c->test_accuracy)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: no curve given (every array is NULL)", who);
    return TG_OK;
}

tg_status tg_curves_write_svg(tg_ctx *ctx, const tg_curves *c, FILE *f)
{
    tg_status status = check_args(ctx, "tg_curves_write_svg", c);
    if (status != TG_OK)
        return status;
    if (!f)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_curves_write_svg: the FILE is NULL");

    double x_lo = INFINITY, x_hi = -INFINITY;
    for (int i = 0; i < c->count; i++) {
        double e = epoch_at(c, i);
        x_lo = e < x_lo ? e : x_lo;
        x_hi = e > x_hi ? e : x_hi;
    }
    if (c->count == 0)
        x_lo = x_hi = 1;
    axis x = make_axis(x_lo, x_hi, 8, true);

    /* A curve with no finite value (e.g. accuracy of a regression) is not drawn. */
    tg_curves shown = *c;
    shown.train_loss = measured(c->train_loss, c->count);
    shown.test_loss = measured(c->test_loss, c->count);
    shown.train_accuracy = measured(c->train_accuracy, c->count);
    shown.test_accuracy = measured(c->test_accuracy, c->count);
    c = &shown;
    bool accuracy = c->train_accuracy || c->test_accuracy, loss = c->train_loss || c->test_loss || !accuracy;
    chart ch = {f, c, x, LEFT, WIDTH - RIGHT};
    double top = TOP, bottom = HEIGHT - BOTTOM;
    double split = loss && accuracy ? (top + bottom - GAP) / 2 : bottom;

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
            WIDTH, HEIGHT, WIDTH, HEIGHT);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", WIDTH, HEIGHT);
    if (c->title) {
        fprintf(f, "<text x=\"%d\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">", WIDTH / 2);
        tg_markup_put_str(f, c->title, TG_MARKUP_XML);
        fputs("</text>\n", f);
    }
    if (loss)
        panel(&ch, top, split, "loss", c->train_loss, c->test_loss, "train loss", "test loss", !accuracy);
    if (accuracy)
        panel(&ch, loss ? split + GAP : top, bottom, "accuracy", c->train_accuracy, c->test_accuracy,
              "train accuracy", "test accuracy", true);
    fprintf(f, "<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">epoch</text>\n", (ch.x0 + ch.x1) / 2, HEIGHT - 12);
    fputs("</svg>\n", f);
    if (fflush(f) != 0 || ferror(f))
        return tg_ctx_fail(ctx, TG_ERR_IO, "tg_curves_write_svg: writing failed: %s", strerror(errno));
    return TG_OK;
}

static FILE *open_for(tg_ctx *ctx, const char *who, const char *path)
{
    if (!path) {
        tg_ctx_fail(ctx, TG_ERR_ARG, "%s: the path is NULL", who);
        return NULL;
    }
    FILE *f = fopen(path, "w");
    if (!f)
        tg_ctx_fail(ctx, TG_ERR_IO, "%s: cannot open %s: %s", who, path, strerror(errno));
    return f;
}

static tg_status close_file(tg_ctx *ctx, const char *who, const char *path, FILE *f, tg_status status)
{
    if (fclose(f) != 0 && status == TG_OK)
        status = tg_ctx_fail(ctx, TG_ERR_IO, "%s: cannot write %s: %s", who, path, strerror(errno));
    return status;
}

tg_status tg_curves_save_svg(tg_ctx *ctx, const tg_curves *c, const char *path)
{
    tg_status status = check_args(ctx, "tg_curves_save_svg", c);
    if (status != TG_OK)
        return status;
    FILE *f = open_for(ctx, "tg_curves_save_svg", path);
    if (!f)
        return tg_ctx_status(ctx);
    return close_file(ctx, "tg_curves_save_svg", path, f, tg_curves_write_svg(ctx, c, f));
}

static void csv_value(FILE *f, const double *v, int i)
{
    if (!v)
        return;
    fputc(',', f);
    if (isfinite(v[i]))
        fprintf(f, "%.17g", v[i]);
}

tg_status tg_curves_save_csv(tg_ctx *ctx, const tg_curves *c, const char *path)
{
    tg_status status = check_args(ctx, "tg_curves_save_csv", c);
    if (status != TG_OK)
        return status;
    FILE *f = open_for(ctx, "tg_curves_save_csv", path);
    if (!f)
        return tg_ctx_status(ctx);
    fprintf(f, "epoch%s%s%s%s\n", c->train_loss ? ",train_loss" : "", c->test_loss ? ",test_loss" : "",
            c->train_accuracy ? ",train_accuracy" : "", c->test_accuracy ? ",test_accuracy" : "");
    for (int i = 0; i < c->count; i++) {
        fprintf(f, "%d", c->epochs ? c->epochs[i] : i + 1);
        csv_value(f, c->train_loss, i);
        csv_value(f, c->test_loss, i);
        csv_value(f, c->train_accuracy, i);
        csv_value(f, c->test_accuracy, i);
        fputc('\n', f);
    }
    if (fflush(f) != 0 || ferror(f))
        status = tg_ctx_fail(ctx, TG_ERR_IO, "tg_curves_save_csv: cannot write %s: %s", path, strerror(errno));
    return close_file(ctx, "tg_curves_save_csv", path, f, status);
}

tg_status tg_history_save_svg(tg_ctx *ctx, const tg_history *h, const char *path)
{
    if (!ctx)
        return TG_ERR_ARG;
    if (!h)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_history_save_svg: history is NULL");
    tg_curves c = {.count = h->count,
                   .epochs = h->epochs,
                   .train_loss = h->train_loss,
                   .train_accuracy = h->train_acc,
                   .test_accuracy = h->test_acc,
                   .title = "training history"};
    if (h->count == 0) /* an empty history still makes an (empty) chart */
        c.train_loss = (const double[]){0};
    return tg_curves_save_svg(ctx, &c, path);
}
