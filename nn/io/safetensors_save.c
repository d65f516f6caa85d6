/* Writing safetensors files (the format is described in
 * tapegrad/safetensors.h; reading is safetensors.c).
 *
 * Every tensor, name and metadata string is checked before the file is
 * touched. The header lists the entries in the order given; the data section
 * holds the 8-byte dtypes first so that every tensor starts at a multiple of
 * its element size, as the reference writer lays it out, the header being
 * padded with spaces to 8 bytes. Values are encoded little-endian byte by
 * byte, whatever the host's order, and written through a temporary file
 * that is fsynced and renamed over the target (atomic_file.c). */
#define _POSIX_C_SOURCE 200809L
#include "tapegrad/safetensors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/io/atomic_file.h"
#include "nn/io/bytes.h"
#include "nn/io/json.h"

#define SHOWN 160 /* bytes of a name shown in a message */

static int shown_len(const char *name) { return (int)strnlen(name, SHOWN); }

/* A growing text buffer for the header. */
typedef struct {
    char *text;
    size_t len, cap;
    bool failed;
} buffer;

static void append(buffer *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->text, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->text = grown;
        b->cap = cap;
    }
    memcpy(b->text + b->len, s, n);
    b->len += n;
}

static void append_text(buffer *b, const char *s) { append(b, s, strlen(s)); }

/* s as a JSON string: '"' and '\\' escaped, control characters as \u00XX,
 * the rest (UTF-8, checked before) as it is. */
static void append_string(buffer *b, const char *s)
{
    append(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        char esc[8];
        if (c == '"' || c == '\\')
            esc[0] = '\\', esc[1] = (char)c, append(b, esc, 2);
        else if (c < 0x20)
            append(b, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", c));
        else
            append(b, p, 1);
    }
    append(b, "\"", 1);
}

/* Checks a name or metadata string for save: NULL or what is wrong. */
static const char *bad_string(const char *s, size_t limit, bool need_text, char *detail, size_t size)
{
    if (!s)
        return "is NULL";
    size_t n = strlen(s), at = 0;
    if (need_text && n == 0)
        return "is empty";
    if (n > limit)
        return tg_say(detail, size, "has %zu bytes; at most %zu are allowed", n, limit);
    if (!tg_utf8_valid(s, n, &at))
        return tg_say(detail, size, "is not valid UTF-8 (byte %zu)", at);
    return NULL;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* An order of the items for the data section: 8-byte dtypes first, then
 * 4-byte ones, each in the order given, so every offset is a multiple of its
 * element size (the header is padded to 8 bytes). */
static void data_order(int n, const tg_named_tensor *items, int *order)
{
    int k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++)
            if ((tg_tensor_dtype(items[i].tensor) == TG_F32) == (pass == 1))
                order[k++] = i;
}

static const char *st_dtype_of(tg_dtype dtype) { return dtype == TG_F32 ? "F32" : dtype == TG_F64 ? "F64" : "I64"; }

/* The tensor's values, little-endian, through f. */
static bool write_values(tg_atomic_file *f, const tg_tensor *t)
{
    uint8_t chunk[4096];
    int size = tg_tensor_dtype(t) == TG_F32 ? 4 : 8;
    const uint8_t *v = tg_tensor_data_const(t);
    size_t n = (size_t)tg_tensor_size(t), per_chunk = sizeof chunk / (size_t)size;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < per_chunk ? n - done : per_chunk;
        for (size_t i = 0; i < k; i++) {
            uint64_t bits = 0;
            if (size == 4) {
                uint32_t b32;
                memcpy(&b32, v + 4 * (done + i), 4);
                bits = b32;
            } else
                memcpy(&bits, v + 8 * (done + i), 8);
            tg_le_put(chunk + (size_t)size * i, bits, size);
        }
        if (!tg_atomic_write(f, chunk, k * (size_t)size))
            return false;
        done += k;
    }
    return true;
}

tg_status tg_safetensors_save(tg_ctx *ctx, const char *path, int n, const tg_named_tensor *items, int n_meta,
                              const tg_safetensors_meta *meta)
{
    const char *who = "tg_safetensors_save";
    if (!ctx)
        return TG_ERR_ARG;
    if (!path)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: NULL path", who);
    if (n < 0 || n_meta < 0 || (n > 0 && !items) || (n_meta > 0 && !meta))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: %s: %d items and %d metadata pairs, with %s", who, path, n, n_meta,
                           n < 0 || n_meta < 0 ? "a negative count" : "a NULL list");
    char detail[200];
    const char **names = malloc(sizeof *names * ((size_t)(n > n_meta ? n : n_meta) + 1));
    int *order = malloc(sizeof *order * ((size_t)n + 1));
    buffer h = {0};
    tg_status status = names && order ? TG_OK : tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: %s: out of memory", who, path);
    /* every tensor, name and metadata string, before the file is touched */
    for (int i = 0; status == TG_OK && i < n; i++) {
        const tg_tensor *t = items[i].tensor;
        const char *name = items[i].name ? items[i].name : t ? tg_tensor_name(t) : NULL, *bad;
        if (!t)
            status = tg_ctx_fail(ctx, TG_ERR_ARG, "%s: %s: item %d has a NULL tensor", who, path, i);
        else if (!tg_tensor_data_const(t))
            status = tg_ctx_status(ctx) != TG_OK
                         ? tg_ctx_status(ctx)
                         : tg_ctx_fail(ctx, TG_ERR_FREED, "%s: %s: item %d's tensor was freed", who, path, i);
        else if ((bad = bad_string(name, TG_SAFETENSORS_MAX_NAME, true, detail, sizeof detail)) != NULL)
            status = tg_ctx_fail(ctx, TG_ERR_ARG, "%s: %s: the name of item %d %s%s", who, path, i, bad,
                                 items[i].name ? "" : " (no name given, and the tensor's own)");
        else if (strcmp(name, "__metadata__") == 0)
            status = tg_ctx_fail(ctx, TG_ERR_ARG, "%s: %s: item %d is named \"__metadata__\", the format's key for "
                                 "metadata", who, path, i);
        else
            names[i] = name;
    }
    if (status == TG_OK) {
        qsort(names, (size_t)n, sizeof *names, compare_strings);
        for (int i = 1; status == TG_OK && i < n; i++)
            if (strcmp(names[i], names[i - 1]) == 0)
                status = tg_ctx_fail(ctx, TG_ERR_ARG, "%s: %s: two items are named \"%.*s\"", who, path,
                                     shown_len(names[i]), names[i]);
    }
    for (int i = 0; status == TG_OK && i < n_meta; i++) {
        const char *what = "key", *bad = bad_string(meta[i].key, TG_SAFETENSORS_MAX_NAME, false, detail, sizeof detail);
        if (!bad)
            what = "value", bad = bad_string(meta[i].value, TG_SAFETENSORS_MAX_VALUE, false, detail, sizeof detail);
        if (bad)
            status = tg_ctx_fail(ctx, TG_ERR_ARG, "%s: %s: the %s of metadata pair %d %s", who, path, what, i, bad);
        else
            names[i] = meta[i].key;
    }
    if (status == TG_OK) {
        qsort(names, (size_t)n_meta, sizeof *names, compare_strings);
        for (int i = 1; status == TG_OK && i < n_meta; i++)
            if (strcmp(names[i], names[i - 1]) == 0)
                status = tg_ctx_fail(ctx, TG_ERR_ARG, "%s: %s: the metadata key \"%.*s\" is given twice", who, path,
                                     shown_len(names[i]), names[i]);
    }
    /* the header: metadata first, then the entries in the order given */
    if (status == TG_OK) {
        data_order(n, items, order);
        uint64_t *begin = (uint64_t *)calloc((size_t)n + 1, sizeof *begin);
        uint64_t at = 0;
        for (int k = 0; begin && k < n; k++) {
            const tg_tensor *t = items[order[k]].tensor;
            begin[order[k]] = at;
            at += (uint64_t)tg_tensor_size(t) * (tg_tensor_dtype(t) == TG_F32 ? 4 : 8);
        }
        append_text(&h, "{");
        if (n_meta > 0) {
            append_text(&h, "\"__metadata__\":{");
            for (int i = 0; i < n_meta; i++) {
                append_text(&h, i ? "," : "");
                append_string(&h, meta[i].key);
                append_text(&h, ":");
                append_string(&h, meta[i].value);
            }
            append_text(&h, n > 0 ? "}," : "}");
        }
        for (int i = 0; begin && i < n; i++) {
            const tg_tensor *t = items[i].tensor;
            char num[64];
            append_string(&h, items[i].name ? items[i].name : tg_tensor_name(t));
            append_text(&h, ":{\"dtype\":\"");
            append_text(&h, st_dtype_of(tg_tensor_dtype(t)));
            append_text(&h, "\",\"shape\":[");
            for (int d = 0; d < tg_tensor_rank(t); d++)
                append(&h, num, (size_t)snprintf(num, sizeof num, "%s%lld", d ? "," : "",
                                                 (long long)tg_tensor_shape(t)[d]));
            uint64_t end = begin[i] + (uint64_t)tg_tensor_size(t) * (tg_tensor_dtype(t) == TG_F32 ? 4 : 8);
            append(&h, num, (size_t)snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}%s",
                                             (unsigned long long)begin[i], (unsigned long long)end,
                                             i + 1 < n ? "," : ""));
        }
        append_text(&h, "}");
        while (!h.failed && h.len % 8 != 0)
            append_text(&h, " ");
        if (!begin || h.failed)
            status = tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: %s: out of memory for the header", who, path);
        else if (h.len > TG_SAFETENSORS_MAX_HEADER)
            status = tg_ctx_fail(ctx, TG_ERR_ARG, "%s: %s: a header of %zu bytes; readers take at most %d", who, path,
                                 h.len, TG_SAFETENSORS_MAX_HEADER);
        free(begin);
    }
    /* the file: length, header, values, through a temporary renamed over path */
    tg_atomic_file *f = status == TG_OK ? malloc(sizeof *f) : NULL;
    if (status == TG_OK && !f)
        status = tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: %s: out of memory", who, path);
    if (status == TG_OK) {
        uint8_t head[8];
        tg_le_put(head, h.len, 8);
        bool ok = tg_atomic_open(f, path);
        if (ok) {
            ok = tg_atomic_write(f, head, 8) && tg_atomic_write(f, h.text, h.len);
            for (int k = 0; ok && k < n; k++)
                ok = write_values(f, items[order[k]].tensor);
            ok = ok && tg_atomic_commit(f);
        }
        if (!ok) {
            status = tg_ctx_fail(ctx, TG_ERR_IO, "%s: %s: %s%s%s failed: %s (the previous file, if any, is unchanged)",
                                 who, path, f->step, f->tmp ? " of " : "", f->tmp ? f->tmp : "", strerror(f->err));
            tg_atomic_abandon(f);
        }
    }
    free(f);
    free(h.text);
    free(order);
    free(names);
    return status;
}
