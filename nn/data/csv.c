/* Numeric CSV with an optional header line. The result is built aside and
 * handed over only when every line checked out. */
#include "tapegrad/data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
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

/* The number of comma-separated fields of line [s, e). */
static int64_t count_fields(const char *s, const char *e)
{
    int64_t n = 1;
    for (const char *p = s; (p = memchr(p, ',', (size_t)(e - p))) != NULL; p++)
        n++;
    return n;
}

/* The end of the field starting at s on a line ending at e. */
static const char *field_end(const char *s, const char *e)
{
    const char *comma = memchr(s, ',', (size_t)(e - s));
    return comma ? comma : e;
}

/* Field c of line [s, e), trimmed of spaces and of one pair of quotes (a
 * header name). */
static void header_name(const char *s, const char *e, int64_t c, const char **name_start, const char **name_end)
{
    for (; c > 0; c--)
        s = field_end(s, e) + 1;
    e = field_end(s, e);
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (e - s >= 2 && *s == '"' && e[-1] == '"')
        s++, e--;
    *name_start = s, *name_end = e;
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
    free(csv->names); /* one block: the pointers, then the names they point to */
    free(csv->values);
    memset(csv, 0, sizeof *csv);
}

/* cols names from the header line [s, e) in one block: cols pointers, then
 * the names, each NUL-terminated. NULL when out of memory. */
static char **names_block(const char *s, const char *e, int64_t cols)
{
    size_t pointers = sizeof(char *) * (size_t)cols, bytes = pointers + (size_t)(e - s) + 1;
    char **names = malloc(bytes);
    if (!names)
        return NULL;
    char *at = (char *)names + pointers;
    const char *field = s;
    for (int64_t c = 0; c < cols; c++) {
        const char *ns, *ne;
        header_name(field, e, 0, &ns, &ne);
        memcpy(at, ns, (size_t)(ne - ns));
        names[c] = at;
        at += ne - ns;
        *at++ = 0;
        field = field_end(field, e) + 1;
    }
    return names;
}

/* Memory stays within a small multiple of the text's size: nothing is
 * allocated per field or per column but the values (8 bytes for every field,
 * and a field takes 2 bytes of text at least) and, at the end, one block of
 * header names; a header with no data after it allocates nothing. */
tg_status tg_csv_parse(tg_ctx *ctx, const char *text, size_t n, const char *what, tg_csv_header header,
                       tg_csv *out)
{
    if (!text || !out)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_csv_parse: NULL %s", !text ? "text" : "output");
    what = what ? what : "(memory)";
    if (header != TG_CSV_HEADER_AUTO && header != TG_CSV_HEADER_YES && header != TG_CSV_HEADER_NO)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_csv_read: %s: header mode %d; expected TG_CSV_HEADER_AUTO, _YES or _NO",
                           what, (int)header);
    const char *end = text + n;
    const char *header_start = NULL, *header_end = NULL;
    tg_csv csv = {0};
    int64_t cap = 0, line_no = 0, cols = -1;
    char detail[256] = "";
    tg_status status = TG_ERR_FORMAT;
    for (const char *line = text; line < end && !detail[0];) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        const char *next = eol ? eol + 1 : end;
        eol = eol ? eol : end;
        if (eol > line && eol[-1] == '\r')
            eol--;
        line_no++;
        if (eol > line && memchr(line, 0, (size_t)(eol - line))) {
            snprintf(detail, sizeof detail, "line %lld holds a NUL byte; expected text", (long long)line_no);
            break;
        }
        if (blank(line, eol)) {
            line = next;
            continue;
        }
        int64_t fields = count_fields(line, eol);
        if (cols < 0) { /* the first line fixes the number of columns */
            cols = csv.cols = fields;
            bool is_header = header == TG_CSV_HEADER_YES;
            for (const char *f = line; header == TG_CSV_HEADER_AUTO && !is_header && f <= eol;) {
                const char *fe = field_end(f, eol);
                double v;
                is_header = !parse_number(f, fe, &v);
                f = fe + 1;
            }
            if (is_header) {
                header_start = line, header_end = eol;
                line = next;
                continue;
            }
        }
        if (fields != cols) {
            snprintf(detail, sizeof detail, "line %lld has %lld fields; expected %lld like the first line",
                     (long long)line_no, (long long)fields, (long long)cols);
            break;
        }
        if ((csv.rows + 1) * cols > cap) {
            /* Rows left are at most the bytes left over the 2·cols - 1 bytes
             * a row takes at least, so the array never outgrows the text. */
            int64_t most = (csv.rows + 1 + (int64_t)((size_t)(end - next) / (size_t)(2 * cols - 1))) * cols;
            int64_t want = cap ? cap * 2 : cols * 64;
            want = want < most ? want : most;
            double *v = realloc(csv.values, sizeof(double) * (size_t)want);
            if (!v) {
                status = TG_ERR_NOMEM;
                snprintf(detail, sizeof detail, "out of memory at line %lld", (long long)line_no);
                break;
            }
            csv.values = v, cap = want;
        }
        const char *f = line;
        for (int64_t c = 0; c < cols; c++) {
            const char *fe = field_end(f, eol);
            if (!parse_number(f, fe, &csv.values[csv.rows * cols + c])) {
                const char *ns = "", *ne = ns;
                if (header_start)
                    header_name(header_start, header_end, c, &ns, &ne);
                int len = (int)(fe - f), name_len = (int)(ne - ns);
                snprintf(detail, sizeof detail, "line %lld, column %lld%s%.*s%s: \"%.*s\" is not a number",
                         (long long)line_no, (long long)c + 1, header_start ? " (" : "", name_len > 40 ? 40 : name_len,
                         ns, header_start ? ")" : "", len > 40 ? 40 : len, f);
                break;
            }
            f = fe + 1;
        }
        csv.rows++;
        line = next;
    }
    if (!detail[0] && csv.rows == 0)
        snprintf(detail, sizeof detail, "no data rows%s", header_start ? " after the header" : " (empty file)");
    if (!detail[0] && header_start && !(csv.names = names_block(header_start, header_end, cols))) {
        status = TG_ERR_NOMEM;
        snprintf(detail, sizeof detail, "out of memory for %lld column names", (long long)cols);
    }
    if (detail[0]) {
        tg_csv_free(&csv);
        return tg_ctx_fail(ctx, status, "tg_csv_read: %s: %s", what, detail);
    }
    double *fit = realloc(csv.values, sizeof(double) * (size_t)(csv.rows * cols));
    csv.values = fit ? fit : csv.values;
    *out = csv;
    return TG_OK;
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
    status = tg_csv_parse(ctx, (const char *)buf, n, path, header, out);
    free(buf);
    return status;
}
