/* Numeric CSV with an optional header line. The result is built aside and
 * handed over only when every line checked out. */
#include "tapegrad/data.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- CSV ------------------------------------------------------------------- */

/* Parses one field [s, e) as a number; spaces around it are allowed. */
static bool parse_number(const char *s, const char *e, double *v)
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (s == e || e - s > 100)
        return false;
    char tmp[101];
    memcpy(tmp, s, (size_t)(e - s));
    tmp[e - s] = 0;
    char *end;
    errno = 0;
    *v = strtod(tmp, &end);
    if (end != tmp + (e - s))
        return false;
    return !(errno == ERANGE && isinf(*v)); /* overflow is an error; underflow to 0 is fine */
}

/* Splits line [s, e) at commas into fields; returns the number of fields. */
static int64_t split(const char *s, const char *e, const char **starts, const char **ends, int64_t max)
{
    int64_t n = 0;
    for (const char *p = s;; p++) {
        if (p == e || *p == ',') {
            if (n < max)
                starts[n] = s, ends[n] = p;
            n++;
            s = p + 1;
            if (p == e)
                return n;
        }
    }
}

static bool blank(const char *s, const char *e)
{
    for (; s < e; s++)
        if (*s != ' ' && *s != '\t')
            return false;
    return true;
}

void tg_csv_free(tg_csv *csv)
{
    if (!csv)
        return;
    if (csv->names)
        for (int64_t i = 0; i < csv->cols; i++)
            free(csv->names[i]);
    free(csv->names);
    free(csv->values);
    memset(csv, 0, sizeof *csv);
}

tg_status tg_csv_read(tg_ctx *ctx, const char *path, tg_csv_header header, tg_csv *out)
{
    if (!path || !out)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_csv_read: NULL %s", !path ? "path" : "output");
    if (header != TG_CSV_HEADER_AUTO && header != TG_CSV_HEADER_YES && header != TG_CSV_HEADER_NO)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_csv_read: %s: header mode %d; expected TG_CSV_HEADER_AUTO, _YES or _NO",
                           path, (int)header);
    uint8_t *buf;
    size_t n;
    tg_status status = tg_file_read(ctx, path, &buf, &n);
    if (status != TG_OK)
        return status;
    const char *text = (const char *)buf, *end = text + n;
    tg_csv csv = {0};
    int64_t cap = 0, line_no = 0, cols = -1;
    const char **starts = NULL, **ends = NULL;
    char detail[256] = "";
    status = TG_ERR_FORMAT;
    for (const char *line = text; line < end && !detail[0];) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        const char *next = eol ? eol + 1 : end;
        eol = eol ? eol : end;
        if (eol > line && eol[-1] == '\r')
            eol--;
        line_no++;
        if (memchr(line, 0, (size_t)(eol - line))) {
            snprintf(detail, sizeof detail, "line %lld holds a NUL byte; expected text", (long long)line_no);
            break;
        }
        if (blank(line, eol)) {
            line = next;
            continue;
        }
        if (cols < 0) { /* the first line fixes the number of columns */
            cols = split(line, eol, NULL, NULL, 0);
            starts = malloc(sizeof *starts * (size_t)cols);
            ends = malloc(sizeof *ends * (size_t)cols);
            if (!starts || !ends) {
                status = TG_ERR_NOMEM;
                snprintf(detail, sizeof detail, "out of memory");
                break;
            }
            split(line, eol, starts, ends, cols);
            bool is_header = header == TG_CSV_HEADER_YES;
            for (int64_t c = 0; c < cols && header == TG_CSV_HEADER_AUTO && !is_header; c++) {
                double v;
                is_header = !parse_number(starts[c], ends[c], &v);
            }
            if (is_header) {
                csv.names = calloc((size_t)cols, sizeof *csv.names);
                for (int64_t c = 0; csv.names && c < cols; c++) {
                    const char *s = starts[c], *e = ends[c];
                    while (s < e && (*s == ' ' || *s == '\t'))
                        s++;
                    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                        e--;
                    if (e - s >= 2 && *s == '"' && e[-1] == '"')
                        s++, e--;
                    if (!(csv.names[c] = malloc((size_t)(e - s) + 1)))
                        break;
                    memcpy(csv.names[c], s, (size_t)(e - s));
                    csv.names[c][e - s] = 0;
                }
                csv.cols = cols;
                if (!csv.names || !csv.names[cols - 1]) {
                    status = TG_ERR_NOMEM;
                    snprintf(detail, sizeof detail, "out of memory");
                }
                line = next;
                continue;
            }
            csv.cols = cols;
        }
        int64_t fields = split(line, eol, starts, ends, cols);
        if (fields != cols) {
            snprintf(detail, sizeof detail, "line %lld has %lld fields; expected %lld like the first line",
                     (long long)line_no, (long long)fields, (long long)cols);
            break;
        }
        if ((csv.rows + 1) * cols > cap) {
            int64_t want = cap ? cap * 2 : cols * 64;
            double *v = realloc(csv.values, sizeof(double) * (size_t)want);
            if (!v) {
                status = TG_ERR_NOMEM;
                snprintf(detail, sizeof detail, "out of memory at line %lld", (long long)line_no);
                break;
            }
            csv.values = v, cap = want;
        }
        for (int64_t c = 0; c < cols; c++)
            if (!parse_number(starts[c], ends[c], &csv.values[csv.rows * cols + c])) {
                int len = (int)(ends[c] - starts[c]);
                snprintf(detail, sizeof detail, "line %lld, column %lld%s%s%s: \"%.*s\" is not a number",
                         (long long)line_no, (long long)c + 1, csv.names ? " (" : "", csv.names ? csv.names[c] : "",
                         csv.names ? ")" : "", len > 40 ? 40 : len, starts[c]);
                break;
            }
        csv.rows++;
        line = next;
    }
    if (!detail[0] && csv.rows == 0)
        snprintf(detail, sizeof detail, "no data rows%s", csv.names ? " after the header" : " (empty file)");
    free(starts);
    free(ends);
    free(buf);
    if (detail[0]) {
        tg_csv_free(&csv);
        return tg_ctx_fail(ctx, status, "tg_csv_read: %s: %s", path, detail);
    }
    double *fit = realloc(csv.values, sizeof(double) * (size_t)(csv.rows * cols));
    csv.values = fit ? fit : csv.values;
    *out = csv;
    return TG_OK;
}
