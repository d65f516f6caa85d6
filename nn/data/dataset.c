/* Reading data: whole files (gzip decoded in process), IDX, numeric CSV;
 * datasets that keep bytes as bytes; minibatch loaders with persistent batch
 * tensors. Every reader builds its result aside and hands it over only when
 * everything checked out, so a failure leaves the caller's output as it was. */
#define _POSIX_C_SOURCE 200809L
#include "tapegrad/data.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- whole files ---------------------------------------------------------- */

tg_status tg_file_read(tg_ctx *ctx, const char *path, uint8_t **out, size_t *out_size)
{
    if (!path || !out || !out_size)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_file_read: NULL %s", !path ? "path" : "output");
    FILE *f = fopen(path, "rb");
    if (!f)
        return tg_ctx_fail(ctx, TG_ERR_IO, "tg_file_read: cannot open %s: %s", path, strerror(errno));
    struct stat st;
    size_t cap = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 1 << 16;
    size_t n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_file_read: %s: out of memory (%zu bytes)", path, cap);
        }
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *bigger = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
        if (!bigger)
            free(buf);
        buf = bigger;
        cap *= 2;
    }
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        free(buf);
        return tg_ctx_fail(ctx, TG_ERR_IO, "tg_file_read: error reading %s: %s", path, strerror(e));
    }
    fclose(f);
    if (n >= 2 && buf[0] == 0x1F && buf[1] == 0x8B) {
        uint8_t *plain;
        size_t plain_size;
        tg_status status = tg_gzip_decode(ctx, buf, n, path, &plain, &plain_size);
        free(buf);
        if (status != TG_OK)
            return status;
        buf = plain, n = plain_size;
    }
    *out = buf;
    *out_size = n;
    return TG_OK;
}

/* ---- IDX ------------------------------------------------------------------- */

size_t tg_idx_type_size(tg_idx_type type)
{
    switch (type) {
    case TG_IDX_U8: case TG_IDX_I8: return 1;
    case TG_IDX_I16: return 2;
    case TG_IDX_I32: case TG_IDX_F32: return 4;
    case TG_IDX_F64: return 8;
    }
    return 0;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static bool host_is_little(void) { return *(const uint8_t *)&(const uint16_t){1} == 1; }

/* Reverses the bytes of each of count values of width w in place (big-endian <-> host). */
static void swap_values(uint8_t *p, int64_t count, size_t w)
{
    if (w == 1 || !host_is_little())
        return;
    for (int64_t i = 0; i < count; i++, p += w)
        for (size_t a = 0, b = w - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

tg_status tg_idx_read(tg_ctx *ctx, const char *path, tg_idx *out)
{
    if (!path || !out)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_idx_read: NULL %s", !path ? "path" : "output");
    uint8_t *buf;
    size_t n;
    tg_status status = tg_file_read(ctx, path, &buf, &n);
    if (status != TG_OK)
        return status;
    const char *fail = NULL;
    char detail[200];
    tg_idx idx = {0};
    size_t width = 0, header = 0;
    if (n < 4) {
        snprintf(detail, sizeof detail, "%zu bytes, too short for the 4-byte magic (truncated)", n);
        fail = detail;
    } else if (buf[0] != 0 || buf[1] != 0 || !(width = tg_idx_type_size((tg_idx_type)buf[2]))) {
        snprintf(detail, sizeof detail, "magic %02x %02x %02x %02x; expected 00 00 <type 08 09 0b 0c 0d 0e> <rank>",
                 buf[0], buf[1], buf[2], buf[3]);
        fail = detail;
    } else if (buf[3] == 0 || buf[3] > TG_IDX_MAX_RANK) {
        snprintf(detail, sizeof detail, "rank %u; expected 1 to %d", buf[3], TG_IDX_MAX_RANK);
        fail = detail;
    } else {
        idx.type = (tg_idx_type)buf[2];
        idx.rank = buf[3];
        header = 4 + 4 * (size_t)idx.rank;
        if (n < header) {
            snprintf(detail, sizeof detail, "%zu bytes, too short for the %zu-byte header of rank %d (truncated)", n,
                     header, idx.rank);
            fail = detail;
        } else {
            idx.count = 1;
            for (int i = 0; i < idx.rank && !fail; i++) {
                idx.shape[i] = be32(buf + 4 + 4 * i);
                if (idx.shape[i] == 0) {
                    snprintf(detail, sizeof detail, "dim %d is 0; expected every dim >= 1", i);
                    fail = detail;
                } else if (idx.count > (INT64_MAX / 8) / idx.shape[i]) {
                    snprintf(detail, sizeof detail, "the dims overflow a 64-bit size");
                    fail = detail;
                } else
                    idx.count *= idx.shape[i];
            }
            if (!fail && (uint64_t)idx.count * width != n - header) {
                char dims[120];
                int at = 0;
                for (int i = 0; i < idx.rank && at < (int)sizeof dims - 24; i++)
                    at += snprintf(dims + at, sizeof dims - (size_t)at, "%s%lld", i ? " x " : "", (long long)idx.shape[i]);
                snprintf(detail, sizeof detail, "dims %s need %llu bytes of data; the file has %zu%s", dims,
                         (unsigned long long)idx.count * width, n - header,
                         (uint64_t)idx.count * width > n - header ? " (truncated)" : " (extra bytes at the end)");
                fail = detail;
            }
        }
    }
    if (fail) {
        free(buf);
        return tg_ctx_fail(ctx, TG_ERR_FORMAT, "tg_idx_read: %s: %s", path, fail);
    }
    /* Move the values to the start of the block (aligned for any type) and to host order. */
    memmove(buf, buf + header, n - header);
    size_t bytes = n - header;
    uint8_t *data = realloc(buf, bytes ? bytes : 1);
    data = data ? data : buf;
    swap_values(data, idx.count, width);
    idx.data = data;
    *out = idx;
    return TG_OK;
}

tg_status tg_idx_write(tg_ctx *ctx, const char *path, const tg_idx *idx)
{
    if (!path || !idx || (!idx->data && idx->count))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_idx_write: NULL %s", !path ? "path" : "idx or data");
    size_t width = tg_idx_type_size(idx->type);
    int64_t count = 1;
    for (int i = 0; i < idx->rank && idx->rank <= TG_IDX_MAX_RANK; i++)
        count *= idx->shape[i] > 0 && idx->shape[i] <= UINT32_MAX ? idx->shape[i] : -1;
    if (!width || idx->rank < 1 || idx->rank > TG_IDX_MAX_RANK || count != idx->count)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_idx_write: %s: type 0x%02x, rank %d, count %lld; expected a known "
                           "type, rank 1 to %d and count = the product of dims in 1..2^32-1", path, (unsigned)idx->type,
                           idx->rank, (long long)idx->count, TG_IDX_MAX_RANK);
    FILE *f = fopen(path, "wb");
    if (!f)
        return tg_ctx_fail(ctx, TG_ERR_IO, "tg_idx_write: cannot create %s: %s", path, strerror(errno));
    uint8_t header[4 + 4 * TG_IDX_MAX_RANK] = {0, 0, (uint8_t)idx->type, (uint8_t)idx->rank};
    for (int i = 0; i < idx->rank; i++)
        for (int b = 0; b < 4; b++)
            header[4 + 4 * i + b] = (uint8_t)((uint64_t)idx->shape[i] >> (24 - 8 * b));
    bool ok = fwrite(header, 1, 4 + 4 * (size_t)idx->rank, f) == 4 + 4 * (size_t)idx->rank;
    const uint8_t *p = idx->data;
    uint8_t chunk[4096];
    for (int64_t i = 0; ok && i < count;) { /* big-endian, a chunk at a time */
        int64_t m = (int64_t)(sizeof chunk / width);
        m = m < count - i ? m : count - i;
        memcpy(chunk, p + (size_t)i * width, (size_t)m * width);
        swap_values(chunk, m, width);
        ok = fwrite(chunk, width, (size_t)m, f) == (size_t)m;
        i += m;
    }
    int e = errno;
    if (fclose(f) != 0 && ok)
        ok = false, e = errno;
    if (!ok)
        return tg_ctx_fail(ctx, TG_ERR_IO, "tg_idx_write: error writing %s: %s", path, strerror(e));
    return TG_OK;
}

void tg_idx_free(tg_idx *idx)
{
    if (!idx)
        return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}

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

/* ---- datasets ------------------------------------------------------------- */

typedef struct {
    void *bytes, *values, *targets;
} storage;

void tg_dataset_free(tg_dataset *data)
{
    if (!data)
        return;
    storage *s = data->owned_;
    if (s) {
        free(s->bytes);
        free(s->values);
        free(s->targets);
        free(s);
    }
    free(data);
}

static tg_dataset *dataset_alloc(tg_ctx *ctx, const char *fn)
{
    tg_dataset *d = calloc(1, sizeof *d);
    storage *s = calloc(1, sizeof *s);
    if (!d || !s) {
        free(d);
        free(s);
        tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    d->owned_ = s;
    d->byte_scale = 1;
    return d;
}

tg_dataset *tg_dataset_from_idx(tg_ctx *ctx, const char *images_path, const char *labels_path)
{
    tg_idx images, labels;
    if (tg_idx_read(ctx, images_path, &images) != TG_OK)
        return NULL;
    if (tg_idx_read(ctx, labels_path, &labels) != TG_OK) {
        tg_idx_free(&images);
        return NULL;
    }
    const char *fail = NULL;
    char detail[160];
    if (images.type != TG_IDX_U8 || images.rank < 2 || images.rank > 4)
        fail = "the images are not unsigned bytes of rank 2 to 4 ([count, rows, cols])";
    else if (labels.type != TG_IDX_U8 || labels.rank != 1)
        fail = "the labels are not unsigned bytes of rank 1 ([count])";
    else if (labels.shape[0] != images.shape[0]) {
        snprintf(detail, sizeof detail, "%lld images but %lld labels", (long long)images.shape[0],
                 (long long)labels.shape[0]);
        fail = detail;
    }
    if (fail) {
        tg_idx_free(&images);
        tg_idx_free(&labels);
        tg_ctx_fail(ctx, TG_ERR_FORMAT, "tg_dataset_from_idx: %s and %s: %s", images_path, labels_path, fail);
        return NULL;
    }
    tg_dataset *d = dataset_alloc(ctx, "tg_dataset_from_idx");
    double *targets = malloc(sizeof(double) * (size_t)labels.count);
    if (!d || !targets) {
        tg_dataset_free(d);
        free(targets);
        tg_idx_free(&images);
        tg_idx_free(&labels);
        if (d)
            tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dataset_from_idx: out of memory");
        return NULL;
    }
    const uint8_t *l = labels.data;
    int max = 0;
    for (int64_t i = 0; i < labels.count; i++) {
        targets[i] = l[i];
        max = l[i] > max ? l[i] : max;
    }
    storage *s = d->owned_;
    s->bytes = images.data;
    s->targets = targets;
    d->count = images.shape[0];
    d->features = images.count / images.shape[0];
    d->outputs = 1;
    d->classes = max + 1;
    d->sample_rank = images.rank - 1;
    for (int i = 1; i < images.rank; i++)
        d->sample_shape[i - 1] = images.shape[i];
    d->bytes = images.data;
    d->byte_scale = 1.0 / 255.0;
    d->byte_shift = 0;
    d->targets = targets;
    tg_idx_free(&labels);
    return d;
}

/* path = dir/name or dir/name.gz, whichever exists (the plain name first). */
static bool find_file(const char *dir, const char *name, char *path, size_t size)
{
    struct stat st;
    snprintf(path, size, "%s/%s", dir, name);
    if (stat(path, &st) == 0)
        return true;
    snprintf(path, size, "%s/%s.gz", dir, name);
    return stat(path, &st) == 0;
}

tg_dataset *tg_dataset_load_mnist(tg_ctx *ctx, const char *dir, const char *split_name)
{
    if (!dir || !split_name) {
        tg_ctx_fail(ctx, TG_ERR_ARG, "tg_dataset_load_mnist: NULL %s", !dir ? "dir" : "split");
        return NULL;
    }
    char images[4096], labels[4096], name[256];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", split_name);
    bool have_images = find_file(dir, name, images, sizeof images);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", split_name);
    bool have_labels = find_file(dir, name, labels, sizeof labels);
    if (!have_images || !have_labels) {
        tg_ctx_fail(ctx, TG_ERR_IO, "tg_dataset_load_mnist: %s/%s-%s-idx%d-ubyte[.gz] not found", dir, split_name,
                    have_images ? "labels" : "images", have_images ? 1 : 3);
        return NULL;
    }
    return tg_dataset_from_idx(ctx, images, labels);
}

tg_dataset *tg_dataset_from_values(tg_ctx *ctx, int64_t count, int64_t features, const double *x, int64_t outputs,
                                   const double *y, int classes)
{
    const char *fn = "tg_dataset_from_values";
    if (count < 1 || features < 1 || outputs < 1 || !x || !y || classes < 0 || (classes > 0 && outputs != 1)) {
        tg_ctx_fail(ctx, TG_ERR_ARG, "%s: count %lld, features %lld, outputs %lld, classes %d%s; expected counts >= 1, "
                    "x and y given, and outputs 1 when classes > 0", fn, (long long)count, (long long)features,
                    (long long)outputs, classes, !x || !y ? ", NULL x or y" : "");
        return NULL;
    }
    if (count > INT64_MAX / 8 / features || count > INT64_MAX / 8 / outputs) {
        tg_ctx_fail(ctx, TG_ERR_ARG, "%s: %lld x %lld values overflow", fn, (long long)count, (long long)features);
        return NULL;
    }
    for (int64_t i = 0; i < count && classes > 0; i++)
        if (!(y[i] >= 0 && y[i] < classes && y[i] == floor(y[i]))) {
            tg_ctx_fail(ctx, TG_ERR_ARG, "%s: y[%lld] is %g; expected a class index 0 to %d", fn, (long long)i, y[i],
                        classes - 1);
            return NULL;
        }
    tg_dataset *d = dataset_alloc(ctx, fn);
    if (!d)
        return NULL;
    storage *s = d->owned_;
    s->values = malloc(sizeof(double) * (size_t)(count * features));
    s->targets = malloc(sizeof(double) * (size_t)(count * outputs));
    if (!s->values || !s->targets) {
        tg_dataset_free(d);
        tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    memcpy(s->values, x, sizeof(double) * (size_t)(count * features));
    memcpy(s->targets, y, sizeof(double) * (size_t)(count * outputs));
    d->count = count;
    d->features = features;
    d->outputs = outputs;
    d->classes = classes;
    d->sample_rank = 1;
    d->sample_shape[0] = features;
    d->values = s->values;
    d->targets = s->targets;
    return d;
}

tg_dataset *tg_dataset_view(tg_ctx *ctx, const tg_dataset *data, int64_t start, int64_t count)
{
    if (!data || start < 0 || count < 1 || start > data->count - count) {
        tg_ctx_fail(ctx, TG_ERR_ARG, "tg_dataset_view: samples [%lld, %lld) of %s%lld; expected a non-empty range "
                    "inside the dataset", (long long)start, (long long)start + count, data ? "" : "NULL dataset ",
                    data ? (long long)data->count : 0LL);
        return NULL;
    }
    tg_dataset *v = malloc(sizeof *v);
    if (!v) {
        tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_dataset_view: out of memory");
        return NULL;
    }
    *v = *data;
    v->owned_ = NULL;
    v->count = count;
    if (v->bytes)
        v->bytes += start * data->features;
    if (v->values)
        v->values += start * data->features;
    v->targets += start * data->outputs;
    return v;
}

const char *const tg_fashion_mnist_classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* ---- minibatches ------------------------------------------------------------ */

struct tg_loader {
    tg_ctx *ctx;
    const tg_dataset *data;
    int64_t batch, batches, next;
    tg_dtype dtype;
    int64_t *order;            /* [count]: the epoch's sample order */
    tg_tensor *x, *y;          /* [batch, features], [batch] or [batch, outputs] */
    tg_tensor *x_tail, *y_tail; /* the same for the last, smaller batch; NULL when it divides */
    float scale32, shift32;    /* byte_scale and byte_shift as floats */
};

static bool batch_pair(tg_loader *l, int64_t n, tg_tensor **x, tg_tensor **y)
{
    const tg_dataset *d = l->data;
    *x = tg_tensor_new(l->ctx, l->dtype, 2, (int64_t[]){n, d->features});
    *y = d->classes > 0 ? tg_tensor_new(l->ctx, l->dtype, 1, (int64_t[]){n})
                        : tg_tensor_new(l->ctx, l->dtype, 2, (int64_t[]){n, d->outputs});
    if (*x)
        tg_tensor_set_name(*x, "batch.x");
    if (*y)
        tg_tensor_set_name(*y, "batch.y");
    return *x && *y;
}

void tg_loader_free(tg_loader *l)
{
    if (!l)
        return;
    tg_tensor_free(l->x);
    tg_tensor_free(l->y);
    tg_tensor_free(l->x_tail);
    tg_tensor_free(l->y_tail);
    free(l->order);
    free(l);
}

tg_loader *tg_loader_new(tg_ctx *ctx, const tg_dataset *data, int64_t batch_size, tg_dtype dtype)
{
    if (!ctx || !data || data->count < 1 || (dtype != TG_F32 && dtype != TG_F64)) {
        tg_ctx_fail(ctx, TG_ERR_ARG, "tg_loader_new: %s; expected a context, a non-empty dataset and TG_F32 or TG_F64",
                    !data ? "NULL dataset" : !ctx ? "NULL context" : data->count < 1 ? "empty dataset" : "bad dtype");
        return NULL;
    }
    tg_loader *l = calloc(1, sizeof *l);
    if (!l || !(l->order = malloc(sizeof(int64_t) * (size_t)data->count))) {
        free(l);
        tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_loader_new: out of memory");
        return NULL;
    }
    l->ctx = ctx;
    l->data = data;
    l->dtype = dtype;
    l->batch = batch_size <= 0 || batch_size > data->count ? data->count : batch_size;
    l->batches = (data->count + l->batch - 1) / l->batch;
    int64_t tail = data->count % l->batch;
    if (!batch_pair(l, l->batch, &l->x, &l->y) || (tail && !batch_pair(l, tail, &l->x_tail, &l->y_tail))) {
        tg_loader_free(l);
        return NULL;
    }
    l->scale32 = (float)data->byte_scale;
    l->shift32 = (float)data->byte_shift;
    tg_loader_start(l, NULL);
    return l;
}

void tg_loader_start(tg_loader *l, tg_rng *rng)
{
    if (!l)
        return;
    int64_t n = l->data->count;
    for (int64_t i = 0; i < n; i++)
        l->order[i] = i;
    for (int64_t i = n - 1; rng && i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)tg_rng_below(rng, (uint64_t)i + 1);
        int64_t t = l->order[i];
        l->order[i] = l->order[j];
        l->order[j] = t;
    }
    l->next = 0;
}

bool tg_loader_next(tg_loader *l, tg_tensor **x_out, tg_tensor **y_out)
{
    if (!l || l->next >= l->data->count)
        return false;
    const tg_dataset *d = l->data;
    int64_t n = d->count - l->next < l->batch ? d->count - l->next : l->batch;
    tg_tensor *x = n == l->batch ? l->x : l->x_tail, *y = n == l->batch ? l->y : l->y_tail;
    const int64_t *order = l->order + l->next, f = d->features, o = d->outputs;
    void *xd = tg_tensor_data(x), *yd = tg_tensor_data(y);
    for (int64_t r = 0; r < n; r++) {
        int64_t s = order[r];
        if (l->dtype == TG_F32) {
            float *dst = (float *)xd + r * f, *ty = (float *)yd + r * o;
            if (d->bytes) { /* x = byte·scale + shift: a loop the compiler vectorizes */
                const uint8_t *src = d->bytes + s * f;
                const float scale = l->scale32, shift = l->shift32;
                for (int64_t c = 0; c < f; c++)
                    dst[c] = (float)src[c] * scale + shift;
            } else
                for (int64_t c = 0; c < f; c++)
                    dst[c] = (float)d->values[s * f + c];
            for (int64_t c = 0; c < o; c++)
                ty[c] = (float)d->targets[s * o + c];
        } else {
            double *dst = (double *)xd + r * f, *ty = (double *)yd + r * o;
            if (d->bytes) {
                const uint8_t *src = d->bytes + s * f;
                const double scale = d->byte_scale, shift = d->byte_shift;
                for (int64_t c = 0; c < f; c++)
                    dst[c] = (double)src[c] * scale + shift;
            } else
                memcpy(dst, d->values + s * f, sizeof(double) * (size_t)f);
            memcpy(ty, d->targets + s * o, sizeof(double) * (size_t)o);
        }
    }
    l->next += n;
    *x_out = x;
    *y_out = y;
    return true;
}

int64_t tg_loader_batches(const tg_loader *l) { return l ? l->batches : 0; }
int64_t tg_loader_batch_size(const tg_loader *l) { return l ? l->batch : 0; }
