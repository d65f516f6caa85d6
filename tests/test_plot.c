/* Training curves (tapegrad/plot.h): the SVG is well-formed and holds one
 * polyline point per epoch where expected; the CSV holds the numbers. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"
#include "tapegrad/plot.h"
#include "tests/support.h"

static char *svg_text(tg_ctx *ctx, const tg_curves *c)
{
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    cr_assert_eq(tg_curves_write_svg(ctx, c, f), TG_OK, "%s", tg_ctx_error(ctx));
    char *text = slurp(f);
    cr_assert_not_null(text);
    return text;
}

static char *read_file(const char *path)
{
    char *text = read_text_file(path);
    cr_assert_not_null(text, "cannot read %s", path);
    return text;
}

/* A small XML checker: every element closes in order, attributes are quoted,
 * '&' starts an entity, and there is exactly one root element, <svg>. */
static void expect_well_formed(const char *text)
{
    char stack[64][32];
    int depth = 0, roots = 0;
    const char *p = text;
    if (!strncmp(p, "<?xml", 5)) {
        p = strstr(p, "?>");
        cr_assert_not_null(p, "unterminated XML declaration");
        p += 2;
    }
    while (*p) {
        if (*p == '&') {
            size_t n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz#0123456789");
            cr_assert(n > 0 && p[1 + n] == ';', "bare '&' at offset %ld", (long)(p - text));
            p += n + 2;
            continue;
        }
        if (*p != '<') {
            cr_assert(depth > 0 || *p == '\n' || *p == ' ', "text outside the root at offset %ld", (long)(p - text));
            p++;
            continue;
        }
        const char *end = p + 1;
        char quote = 0;
        for (; *end && (quote || *end != '>'); end++) {
            if (quote && *end == quote)
                quote = 0;
            else if (!quote && (*end == '"' || *end == '\''))
                quote = *end;
            else if (quote && *end == '<')
                cr_assert_fail("'<' inside an attribute at offset %ld", (long)(end - text));
        }
        cr_assert_eq(*end, '>', "unterminated tag at offset %ld", (long)(p - text));
        if (p[1] == '/') {
            size_t n = strcspn(p + 2, " >");
            cr_assert_gt(depth, 0, "closing tag with nothing open");
            depth--;
            cr_assert(strlen(stack[depth]) == n && !strncmp(stack[depth], p + 2, n), "</%.*s> closes <%s>", (int)n,
                      p + 2, stack[depth]);
        } else if (end[-1] != '/') {
            size_t n = strcspn(p + 1, " >/");
            cr_assert(n > 0 && n < 32 && depth < 64);
            if (depth == 0)
                roots++;
            memcpy(stack[depth], p + 1, n);
            stack[depth++][n] = '\0';
        } else if (depth == 0) {
            roots++;
        }
        p = end + 1;
    }
    cr_expect_eq(depth, 0, "%d elements left open", depth);
    cr_expect_eq(roots, 1);
    cr_expect_eq(strncmp(strstr(text, "<svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39), 0);
}

typedef struct {
    int n;
    double x[64], y[64];
} points;

/* The points of the k-th polyline (0-based) of the series named name. */
static points polyline(const char *text, const char *name, int k)
{
    char needle[96];
    snprintf(needle, sizeof needle, "<g class=\"series\" data-name=\"%s\">", name);
    const char *p = strstr(text, needle);
    cr_assert_not_null(p, "no series %s", name);
    const char *end = strstr(p, "</g>");
    for (int i = 0; i <= k; i++) {
        p = strstr(p + 1, "<polyline");
        cr_assert(p && p < end, "series %s has no polyline %d", name, k);
    }
    p = strstr(p, "points=\"") + 8;
    points pts = {0};
    while (*p != '"') {
        char *next;
        pts.x[pts.n] = strtod(p, &next);
        cr_assert_eq(*next, ',');
        pts.y[pts.n++] = strtod(next + 1, &next);
        p = next + (*next == ' ');
    }
    return pts;
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static const double LOSS[5] = {1.0, 0.6, 0.4, 0.3, 0.25};
static const double TEST_LOSS[5] = {1.1, 0.7, 0.5, 0.45, 0.44};
static const double TRAIN_ACC[5] = {0.5, 0.7, 0.8, 0.85, 0.9};
static const double TEST_ACC[5] = {0.45, 0.65, 0.75, 0.8, 0.82};

Test(plot, svg_is_well_formed_with_one_point_per_epoch)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_curves c = {.count = 5, .train_loss = LOSS, .test_loss = TEST_LOSS, .train_accuracy = TRAIN_ACC,
                   .test_accuracy = TEST_ACC, .title = "XOR <2-2-1> & \"friends\"' run\x01"};
    char *text = svg_text(ctx, &c);
    expect_well_formed(text);
    cr_expect_not_null(strstr(text, ">XOR &lt;2-2-1&gt; &amp; &quot;friends&quot;&#39; run</text>"),
                      "markup escaped, the control character (not allowed in XML) left out");
    cr_expect_eq(count(text, "<polyline"), 4);
    cr_expect_eq(count(text, "<g class=\"panel\""), 2, "loss and accuracy panels");
    const char *names[4] = {"train loss", "test loss", "train accuracy", "test accuracy"};
    const double *values[4] = {LOSS, TEST_LOSS, TRAIN_ACC, TEST_ACC};
    for (int s = 0; s < 4; s++) {
        points p = polyline(text, names[s], 0);
        cr_assert_eq(p.n, 5, "%s: %d points", names[s], p.n);
        /* epochs 1..5 span the plot area, x from 70 to 620 */
        cr_expect_float_eq(p.x[0], 70.0, 1e-9);
        cr_expect_float_eq(p.x[4], 620.0, 1e-9);
        for (int i = 1; i < 5; i++) {
            cr_expect_float_eq(p.x[i] - p.x[i - 1], 137.5, 1e-9, "equal epoch spacing");
            /* SVG y grows downwards: a larger value is higher up */
            cr_expect_eq(values[s][i] > values[s][i - 1], p.y[i] < p.y[i - 1], "%s point %d", names[s], i);
        }
        char legend[64];
        snprintf(legend, sizeof legend, ">%s</text>", names[s]);
        cr_expect_not_null(strstr(text, legend), "legend entry %s", names[s]);
    }
    /* the loss panel sits above the accuracy panel */
    cr_expect_lt(polyline(text, "train loss", 0).y[4], polyline(text, "train accuracy", 0).y[0]);
    cr_expect_not_null(strstr(text, ">epoch</text>"));
    cr_expect_not_null(strstr(text, ">loss</text>"));
    cr_expect_not_null(strstr(text, ">accuracy</text>"));
    free(text);
    tg_ctx_free(ctx);
}

Test(plot, accuracy_axis_spans_the_data_with_nice_ticks)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_curves c = {.count = 5, .train_accuracy = TRAIN_ACC};
    char *text = svg_text(ctx, &c);
    expect_well_formed(text);
    cr_expect_eq(count(text, "<g class=\"panel\""), 1, "accuracy only");
    /* 0.5 .. 0.9 in steps of 0.1: ticks 0.5, 0.6, ..., 0.9 */
    cr_expect_not_null(strstr(text, "text-anchor=\"end\">0.5</text>"));
    cr_expect_not_null(strstr(text, "text-anchor=\"end\">0.9</text>"));
    cr_expect_null(strstr(text, "text-anchor=\"end\">1</text>"));
    points p = polyline(text, "train accuracy", 0);
    cr_expect_float_eq(p.y[0], 430.0, 1e-9, "the lowest value sits on the bottom edge");
    cr_expect_float_eq(p.y[4], 40.0, 1e-9, "the highest on the top edge");
    free(text);
    tg_ctx_free(ctx);
}

Test(plot, nan_leaves_a_gap_and_unmeasured_curves_are_not_drawn)
{
    tg_ctx *ctx = tg_ctx_new(1);
    const double loss[5] = {1, 0.5, NAN, 0.3, 0.2};
    const double none[5] = {NAN, NAN, NAN, NAN, NAN};
    const int epochs[5] = {10, 20, 30, 40, 50};
    tg_curves c = {.count = 5, .epochs = epochs, .train_loss = loss, .train_accuracy = TRAIN_ACC,
                   .test_accuracy = none};
    char *text = svg_text(ctx, &c);
    expect_well_formed(text);
    cr_expect_eq(polyline(text, "train loss", 0).n, 2);
    cr_expect_eq(polyline(text, "train loss", 1).n, 2);
    cr_expect_null(strstr(text, "test accuracy"), "an all-NaN curve has no line and no legend");
    cr_expect_not_null(strstr(text, "text-anchor=\"middle\">50</text>"), "epochs from the array");
    free(text);
    tg_ctx_free(ctx);
}

Test(plot, csv_holds_the_given_columns)
{
    tg_ctx *ctx = tg_ctx_new(1);
    const double loss[3] = {0.5, NAN, 0.125};
    tg_curves c = {.count = 3, .train_loss = loss, .test_accuracy = TEST_ACC};
    cr_assert_eq(tg_curves_save_csv(ctx, &c, "test_plot.csv"), TG_OK);
    char *text = read_file("test_plot.csv");
    cr_expect_str_eq(text, "epoch,train_loss,test_accuracy\n1,0.5,0.45000000000000001\n2,,0.65000000000000002\n"
                           "3,0.125,0.75\n");
    free(text);
    remove("test_plot.csv");
    tg_ctx_free(ctx);
}

Test(plot, history_from_training_is_plotted)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_history h = {0};
    for (int e = 1; e <= 4; e++)
        cr_assert_eq(tg_history_append(&h, e, 1.0 / e, 0.5 + 0.1 * e, 0.4 + 0.1 * e, 0.01), TG_OK);
    cr_assert_eq(tg_history_save_svg(ctx, &h, "test_plot.svg"), TG_OK);
    char *text = read_file("test_plot.svg");
    expect_well_formed(text);
    cr_expect_eq(polyline(text, "train loss", 0).n, 4);
    cr_expect_eq(polyline(text, "test accuracy", 0).n, 4);
    free(text);
    remove("test_plot.svg");
    tg_history_free(&h);
    tg_ctx_free(ctx);
}

Test(plot, errors_are_reported)
{
    tg_ctx *ctx = quiet_ctx();
    cr_expect_eq(tg_curves_save_svg(ctx, NULL, "x.svg"), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_curves_save_svg(ctx, &(tg_curves){.count = 3}, "x.svg"), TG_ERR_ARG);
    cr_expect_not_null(strstr(tg_ctx_error(ctx), "no curve"));
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_curves_save_csv(ctx, &(tg_curves){.count = -1, .train_loss = LOSS}, "x.csv"), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_curves_save_svg(ctx, &(tg_curves){.count = 5, .train_loss = LOSS}, "/nonexistent-dir/x.svg"),
                 TG_ERR_IO);
    cr_expect_not_null(strstr(tg_ctx_error(ctx), "/nonexistent-dir/x.svg"));
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_curves_write_svg(ctx, &(tg_curves){.count = 5, .train_loss = LOSS}, NULL), TG_ERR_ARG);
    tg_ctx_free(ctx);
}

Test(plot, one_epoch_and_flat_curves_still_make_a_chart)
{
    tg_ctx *ctx = tg_ctx_new(1);
    const double flat[1] = {0.7};
    char *text = svg_text(ctx, &(tg_curves){.count = 1, .train_loss = flat, .train_accuracy = flat});
    expect_well_formed(text);
    cr_expect_eq(polyline(text, "train loss", 0).n, 1);
    cr_expect_null(strstr(text, "nan"));
    cr_expect_null(strstr(text, "inf"));
    free(text);
    tg_ctx_free(ctx);
}
