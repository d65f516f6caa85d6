/* Reading safetensors files (the format is described in
 * tapegrad/safetensors.h; writing is safetensors_save.c).
 *
 * Open reads the 8-byte length and the header only, checks the length
 * against the file before allocating for it, parses the JSON with the
 * schema-driven parser of json.c, and checks every entry (dtype, shape,
 * offsets against the dtype and shape, then all offsets together: sorted,
 * they must tile the data section exactly). Values are read on demand, in
 * chunks, and converted element by element from little-endian bytes, so
 * nothing depends on the host's byte order. */
#define _POSIX_C_SOURCE 200809L
#include "tapegrad/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/io/json.h"
#include "nn/io/bytes.h"

#define MAX_INTEGER ((uint64_t)1 << 53) /* dims and offsets: exact in every JSON reader */
#define CHUNK (1 << 16)                 /* bytes read at a time from a file */
#define SHOWN 160                       /* bytes of a name shown in a message */

/* The format's dtypes, in the reference's order. */
enum {
    ST_BOOL, ST_U8, ST_I8, ST_F8_E5M2, ST_F8_E4M3, ST_I16, ST_U16, ST_F16, ST_BF16,
    ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64, ST_DTYPES
};

static const struct {
    const char *name;
    uint8_t bytes;
} dtypes[ST_DTYPES] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1}, [ST_I8] = {"I8", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
    [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_I16] = {"I16", 2}, [ST_U16] = {"U16", 2}, [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2}, [ST_I32] = {"I32", 4}, [ST_U32] = {"U32", 4}, [ST_F32] = {"F32", 4},
    [ST_F64] = {"F64", 8}, [ST_I64] = {"I64", 8}, [ST_U64] = {"U64", 8},
};

static bool is_float(int dt) { return dt == ST_F16 || dt == ST_BF16 || dt == ST_F32 || dt == ST_F64; }

typedef struct {
    const char *name;
    uint64_t begin, end; /* in the data section, end exclusive */
    int64_t shape[TG_SAFETENSORS_MAX_RANK];
    uint8_t dtype, rank;
} entry;

struct tg_safetensors {
    tg_ctx *ctx;
    char *what;                /* the path or the caller's label, for messages */
    int fd;                    /* -1 for a file in memory */
    const uint8_t *mem;        /* the file in memory, or NULL */
    uint64_t data_start;       /* 8 + header length */
    uint64_t data_size;
    entry *entries;            /* header order */
    int count;
    int *by_name;              /* entry indices sorted by name (find) */
    const char **meta;         /* key, value, key, value, ... in file order */
    int meta_count;
    char *strings;             /* every decoded name, key and value */
};

static float float_of_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* IEEE half (1 sign, 5 exponent, 10 fraction bits) to float, exactly:
 * subnormal halves (exponent 0) become normal floats, Inf and NaN stay. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
    if (exp == 0x1f)
        return float_of_bits(sign | 0x7f800000u | frac << 13);
    if (exp == 0) {
        if (frac == 0)
            return float_of_bits(sign);
        int e = -14; /* value = frac · 2^-24 = 1.f · 2^e after normalizing */
        while (!(frac & 0x400))
            frac <<= 1, e--;
        return float_of_bits(sign | (uint32_t)(e + 127) << 23 | (frac & 0x3ff) << 13);
    }
    return float_of_bits(sign | (exp - 15 + 127) << 23 | frac << 13);
}

/* Element i of src (dtype dt, a float dtype) as a double: exact. */
static double float_at(const uint8_t *src, int dt, size_t i)
{
    switch (dt) {
    case ST_F16: return half_to_float((uint16_t)tg_le_get(src + 2 * i, 2));
    case ST_BF16: return float_of_bits((uint32_t)tg_le_get(src + 2 * i, 2) << 16); /* bfloat16: float's top half */
    case ST_F32: return float_of_bits((uint32_t)tg_le_get(src + 4 * i, 4));
    default: {
        uint64_t bits = tg_le_get(src + 8 * i, 8);
        double d;
        memcpy(&d, &bits, 8);
        return d;
    }
    }
}

/* count elements of src (file dtype dt) into dst (tapegrad dtype) from
 * element offset at on. The pairs were checked: float into f32/f64, I64 into
 * i64. The same width is copied bit for bit (a NaN keeps its payload); a
 * double rounds to float once (F64 into f32); the rest is exact. */
static void convert(void *dst, tg_dtype dtype, size_t at, const uint8_t *src, int dt, size_t count)
{
    if (dtype == TG_I64 || (dtype == TG_F64 && dt == ST_F64)) {
        uint8_t *d = (uint8_t *)dst + 8 * at; /* two's complement or IEEE bits, as the file's */
        for (size_t i = 0; i < count; i++) {
            uint64_t bits = tg_le_get(src + 8 * i, 8);
            memcpy(d + 8 * i, &bits, 8);
        }
    } else if (dtype == TG_F32 && dt == ST_F32) {
        uint8_t *d = (uint8_t *)dst + 4 * at;
        for (size_t i = 0; i < count; i++) {
            uint32_t bits = (uint32_t)tg_le_get(src + 4 * i, 4);
            memcpy(d + 4 * i, &bits, 4);
        }
    } else if (dtype == TG_F32) {
        float *d = (float *)dst + at;
        for (size_t i = 0; i < count; i++)
            d[i] = (float)float_at(src, dt, i);
    } else {
        double *d = (double *)dst + at;
        for (size_t i = 0; i < count; i++)
            d[i] = float_at(src, dt, i);
    }
}

/* ---- messages ---------------------------------------------------------- */

/* "[2, 3]" for any rank up to TG_SAFETENSORS_MAX_RANK. */
static const char *shape_text(int rank, const int64_t *shape, char *buf, size_t size)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (at < size)
        snprintf(buf + at, size - at, "]");
    return buf;
}

static int shown_len(const char *name) { return (int)strnlen(name, SHOWN); }

/* ---- the index --------------------------------------------------------- */

static int compare_names(const void *a, const void *b)
{
    return strcmp((*(const entry *const *)a)->name, (*(const entry *const *)b)->name);
}

static int compare_offsets(const void *a, const void *b)
{
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What the parse keeps: the strings pool (every decoded string fits, as
 * none decodes longer than its JSON text) and growing arrays. */
typedef struct {
    tg_json json;
    tg_safetensors *st;
    size_t pool_used, pool_size;
    int entry_cap, meta_cap;
    char *detail;
    size_t detail_size;
} parser;

/* The pool's free space for a string of at most limit bytes. */
static char *pool_at(parser *ps, size_t limit, size_t *max_len)
{
    size_t room = ps->pool_size - ps->pool_used - 1;
    *max_len = room < limit ? room : limit;
    return ps->st->strings + ps->pool_used;
}

/* A string value or key into the pool, kept (the pool moves past it). */
static const char *pool_string(parser *ps, size_t limit, bool key)
{
    size_t max_len, len;
    char *s = pool_at(ps, limit, &max_len);
    bool ok = key ? tg_json_object_next(&ps->json, s, max_len, &len) == 1 : tg_json_string(&ps->json, s, max_len, &len);
    if (!ok)
        return NULL;
    ps->pool_used += len + 1;
    return s;
}

static bool parse_metadata(parser *ps)
{
    tg_safetensors *st = ps->st;
    tg_json *j = &ps->json;
    if (!tg_json_object_begin(j))
        return false;
    for (;;) {
        size_t max_len, len;
        char *key = pool_at(ps, TG_SAFETENSORS_MAX_NAME, &max_len);
        int more = tg_json_object_next(j, key, max_len, &len);
        if (more <= 0)
            return more == 0;
        ps->pool_used += len + 1;
        const char *value = NULL;
        if (strcmp(tg_json_next_kind(j), "a string") != 0) {
            const char *found = tg_json_next_kind(j);
            return tg_json_fail(j, "__metadata__ \"%.*s\" is %s; its values must be strings", shown_len(key), key,
                                found);
        }
        if (!(value = pool_string(ps, TG_SAFETENSORS_MAX_VALUE, false)))
            return false;
        if (st->meta_count == ps->meta_cap) {
            int cap = ps->meta_cap ? 2 * ps->meta_cap : 8;
            const char **grown = cap > INT_MAX / 4 ? NULL : realloc(st->meta, sizeof *grown * 2 * (size_t)cap);
            if (!grown)
                return tg_json_fail(j, "out of memory");
            st->meta = grown;
            ps->meta_cap = cap;
        }
        st->meta[2 * st->meta_count] = key;
        st->meta[2 * st->meta_count + 1] = value;
        st->meta_count++;
    }
}

/* An array of non-negative integers into v (at most max of them). */
static bool parse_integers(tg_json *j, const char *entry_name, const char *field, uint64_t *v, int max, int *n)
{
    if (strcmp(tg_json_next_kind(j), "an array") != 0) {
        const char *found = tg_json_next_kind(j);
        return tg_json_fail(j, "entry \"%.*s\": \"%s\" is %s; expected an array of integers", shown_len(entry_name),
                            entry_name, field, found);
    }
    if (!tg_json_array_begin(j))
        return false;
    int more;
    for (*n = 0; (more = tg_json_array_next(j)) == 1; (*n)++) {
        if (*n == max)
            return tg_json_fail(j, "entry \"%.*s\": \"%s\" has more than %d numbers", shown_len(entry_name),
                                entry_name, field, max);
        if (!tg_json_uint(j, MAX_INTEGER, &v[*n]))
            return false;
    }
    return more == 0;
}

static bool parse_entry(parser *ps, const char *name)
{
    tg_safetensors *st = ps->st;
    tg_json *j = &ps->json;
    int shown = shown_len(name);
    if (strcmp(tg_json_next_kind(j), "an object") != 0) {
        const char *found = tg_json_next_kind(j);
        return tg_json_fail(j, "entry \"%.*s\" is %s; expected an object with dtype, shape and data_offsets", shown,
                            name, found);
    }
    if (!tg_json_object_begin(j))
        return false;
    entry e = {.name = name};
    unsigned seen = 0;
    for (;;) {
        size_t max_len, len;
        char *field = pool_at(ps, TG_SAFETENSORS_MAX_NAME, &max_len); /* not kept */
        int more = tg_json_object_next(j, field, max_len, &len);
        if (more < 0)
            return false;
        if (more == 0)
            break;
        unsigned bit = strcmp(field, "dtype") == 0 ? 1 : strcmp(field, "shape") == 0 ? 2
                     : strcmp(field, "data_offsets") == 0 ? 4 : 0;
        if (!bit)
            return tg_json_fail(j, "entry \"%.*s\" has a field \"%.*s\"; expected only dtype, shape and data_offsets",
                                shown, name, shown_len(field), field);
        if (seen & bit)
            return tg_json_fail(j, "entry \"%.*s\" has \"%s\" twice", shown, name, field);
        seen |= bit;
        if (bit == 1) {
            if (strcmp(tg_json_next_kind(j), "a string") != 0) {
                const char *found = tg_json_next_kind(j);
                return tg_json_fail(j, "entry \"%.*s\": dtype is %s; expected a string such as \"F32\"", shown, name,
                                    found);
            }
            char *dtype = pool_at(ps, TG_SAFETENSORS_MAX_NAME, &max_len); /* not kept */
            if (!tg_json_string(j, dtype, max_len, &len))
                return false;
            int dt = 0;
            while (dt < ST_DTYPES && strcmp(dtypes[dt].name, dtype) != 0)
                dt++;
            if (dt == ST_DTYPES)
                return tg_json_fail(j, "entry \"%.*s\": dtype \"%.*s\" is not a safetensors dtype (BOOL, U8, I8, "
                                    "F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64)", shown, name,
                                    shown_len(dtype), dtype);
            e.dtype = (uint8_t)dt;
        } else if (bit == 2) {
            uint64_t dims[TG_SAFETENSORS_MAX_RANK];
            int rank;
            if (!parse_integers(j, name, "shape", dims, TG_SAFETENSORS_MAX_RANK, &rank))
                return false;
            e.rank = (uint8_t)rank;
            for (int i = 0; i < rank; i++)
                e.shape[i] = (int64_t)dims[i];
        } else {
            uint64_t offsets[2];
            int n;
            if (!parse_integers(j, name, "data_offsets", offsets, 2, &n))
                return false;
            if (n != 2)
                return tg_json_fail(j, "entry \"%.*s\": data_offsets has %d numbers; expected 2 (begin, end)", shown,
                                    name, n);
            e.begin = offsets[0], e.end = offsets[1];
        }
    }
    if (seen != 7)
        return tg_json_fail(j, "entry \"%.*s\" has no %s", shown, name,
                            !(seen & 1) ? "dtype" : !(seen & 2) ? "shape" : "data_offsets");
    if (st->count == ps->entry_cap) {
        int cap = ps->entry_cap ? 2 * ps->entry_cap : 16;
        entry *grown = cap > INT_MAX / 2 ? NULL : realloc(st->entries, sizeof *grown * (size_t)cap);
        if (!grown)
            return tg_json_fail(j, "out of memory");
        st->entries = grown;
        ps->entry_cap = cap;
    }
    st->entries[st->count++] = e;
    return true;
}

/* The header's JSON: an object of entries and at most one __metadata__. */
static bool parse_header(parser *ps)
{
    tg_json *j = &ps->json;
    bool have_metadata = false;
    if (!tg_json_object_begin(j))
        return false;
    for (;;) {
        const char *name = pool_string(ps, TG_SAFETENSORS_MAX_NAME, true);
        if (!name)
            return !ps->json.error[0] && tg_json_end(j); /* 0: the object closed */
        if (strcmp(name, "__metadata__") == 0) {
            if (have_metadata)
                return tg_json_fail(j, "\"__metadata__\" appears twice");
            have_metadata = true;
            if (strcmp(tg_json_next_kind(j), "an object") != 0) {
                const char *found = tg_json_next_kind(j);
                return tg_json_fail(j, "__metadata__ is %s; expected an object of strings", found);
            }
            if (!parse_metadata(ps))
                return false;
        } else if (!parse_entry(ps, name))
            return false;
    }
}

/* Every entry's dtype, shape and offsets, then all offsets together.
 * Returns NULL, or what is wrong (in detail). */
static const char *check_entries(tg_safetensors *st, const entry **sorted, const char **keys, char *detail,
                                 size_t size)
{
    char dims[160];
    for (int i = 0; i < st->count; i++) {
        const entry *e = &st->entries[i];
        int shown = shown_len(e->name);
        uint64_t elements = 1;
        bool empty = false;
        for (int d = 0; d < e->rank; d++)
            empty |= e->shape[d] == 0;
        for (int d = 0; d < e->rank && !empty; d++) {
            uint64_t dim = (uint64_t)e->shape[d];
            if (elements > st->data_size / dim)
                return tg_say(detail, size, "entry \"%.*s\": shape %s holds more values than the %llu bytes of the "
                              "data section", shown, e->name, shape_text(e->rank, e->shape, dims, sizeof dims),
                              (unsigned long long)st->data_size);
            elements *= dim;
        }
        uint64_t bytes = empty ? 0 : elements * dtypes[e->dtype].bytes;
        if (e->end < e->begin)
            return tg_say(detail, size, "entry \"%.*s\": data_offsets [%llu, %llu] end before they begin", shown,
                          e->name, (unsigned long long)e->begin, (unsigned long long)e->end);
        if (e->end > st->data_size)
            return tg_say(detail, size, "entry \"%.*s\": data_offsets [%llu, %llu] run past the data section's %llu "
                          "bytes (truncated?)", shown, e->name, (unsigned long long)e->begin,
                          (unsigned long long)e->end, (unsigned long long)st->data_size);
        if (e->end - e->begin != bytes)
            return tg_say(detail, size, "entry \"%.*s\": data_offsets [%llu, %llu] hold %llu bytes; %s %s takes %llu",
                          shown, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                          (unsigned long long)(e->end - e->begin), dtypes[e->dtype].name,
                          shape_text(e->rank, e->shape, dims, sizeof dims), (unsigned long long)bytes);
        sorted[i] = e;
    }
    qsort(sorted, (size_t)st->count, sizeof *sorted, compare_offsets);
    uint64_t at = 0;
    for (int i = 0; i < st->count; i++) {
        const entry *e = sorted[i];
        if (e->begin > at)
            return tg_say(detail, size, "%llu bytes at data offset %llu belong to no entry (before \"%.*s\"); entries "
                          "must follow one another", (unsigned long long)(e->begin - at), (unsigned long long)at,
                          shown_len(e->name), e->name);
        if (e->begin < at) {
            const entry *p = sorted[i - 1];
            return tg_say(detail, size, "entries \"%.*s\" [%llu, %llu] and \"%.*s\" [%llu, %llu] overlap",
                          shown_len(p->name), p->name, (unsigned long long)p->begin, (unsigned long long)p->end,
                          shown_len(e->name), e->name, (unsigned long long)e->begin, (unsigned long long)e->end);
        }
        at = e->end;
    }
    if (at != st->data_size)
        return tg_say(detail, size, "%llu bytes after the last entry's data (the entries end at data offset %llu; "
                      "the file holds %llu)", (unsigned long long)(st->data_size - at), (unsigned long long)at,
                      (unsigned long long)st->data_size);
    /* names: sorted once more, for duplicates and for find */
    for (int i = 0; i < st->count; i++)
        sorted[i] = &st->entries[i];
    qsort(sorted, (size_t)st->count, sizeof *sorted, compare_names);
    for (int i = 0; i < st->count; i++) {
        if (i > 0 && strcmp(sorted[i]->name, sorted[i - 1]->name) == 0)
            return tg_say(detail, size, "two entries are named \"%.*s\"", shown_len(sorted[i]->name), sorted[i]->name);
        st->by_name[i] = (int)(sorted[i] - st->entries);
    }
    for (int i = 0; i < st->meta_count; i++)
        keys[i] = st->meta[2 * i];
    qsort(keys, (size_t)st->meta_count, sizeof *keys, compare_keys);
    for (int i = 1; i < st->meta_count; i++)
        if (strcmp(keys[i], keys[i - 1]) == 0)
            return tg_say(detail, size, "__metadata__ has the key \"%.*s\" twice", shown_len(keys[i]), keys[i]);
    return NULL;
}

/* Reads n bytes at offset of the file (or the image) into buf; false with
 * errno (0: the file ended) when it cannot. */
static bool read_at(const tg_safetensors *st, uint64_t offset, void *buf, size_t n)
{
    if (st->mem) {
        memcpy(buf, st->mem + offset, n);
        return true;
    }
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = pread(st->fd, p, n, (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got == 0)
                errno = 0;
            return false;
        }
        p += got, n -= (size_t)got, offset += (uint64_t)got;
    }
    return true;
}

void tg_safetensors_close(tg_safetensors *st)
{
    if (!st)
        return;
    if (st->fd >= 0)
        close(st->fd);
    free(st->what);
    free(st->entries);
    free(st->by_name);
    free(st->meta);
    free(st->strings);
    free(st);
}

/* The rest of open, for st with ctx, what, fd or mem set, from a file of
 * size bytes. Frees st on failure. */
static tg_safetensors *open_index(tg_safetensors *st, uint64_t size)
{
    const char *who = st->mem ? "tg_safetensors_open_memory" : "tg_safetensors_open";
    char detail[600] = "";
    const char *fail = NULL;
    tg_status status = TG_ERR_FORMAT;
    uint8_t head[8];
    uint8_t *owned = NULL;
    const uint8_t *text = NULL;
    uint64_t n = 0;
    const entry **sorted = NULL;
    if (size < 8)
        fail = tg_say(detail, sizeof detail, "%llu bytes, shorter than the 8-byte header length (truncated)",
                      (unsigned long long)size);
    else if (!read_at(st, 0, head, 8))
        fail = tg_say(detail, sizeof detail, "cannot read the header length: %s", errno ? strerror(errno) : "end of file"),
        status = TG_ERR_IO;
    else if ((n = tg_le_get(head, 8)) > TG_SAFETENSORS_MAX_HEADER)
        fail = tg_say(detail, sizeof detail, "the header length is %llu bytes, more than the %d this reader takes%s",
                      (unsigned long long)n, TG_SAFETENSORS_MAX_HEADER,
                      n > size - 8 ? " (and more than the file holds: not a safetensors file?)" : "");
    else if (n > size - 8)
        fail = tg_say(detail, sizeof detail, "the header length is %llu bytes, but the file holds %llu after it "
                      "(truncated, or not a safetensors file)", (unsigned long long)n, (unsigned long long)(size - 8));
    else if (n < 2)
        fail = tg_say(detail, sizeof detail, "a header of %llu bytes cannot hold a JSON object", (unsigned long long)n);
    if (!fail && st->mem)
        text = st->mem + 8;
    else if (!fail) { /* n was checked against the file's size: the allocation is bounded by it */
        if (!(owned = malloc((size_t)n)))
            fail = "out of memory", status = TG_ERR_NOMEM;
        else if (!read_at(st, 8, owned, (size_t)n))
            fail = tg_say(detail, sizeof detail, "cannot read the %llu-byte header: %s", (unsigned long long)n,
                          errno ? strerror(errno) : "the file shrank while being read"),
            status = TG_ERR_IO;
        text = owned;
    }
    size_t bad = 0;
    if (!fail && !tg_utf8_valid(text, (size_t)n, &bad))
        fail = tg_say(detail, sizeof detail, "the header is not valid UTF-8 (byte %zu of the header)", bad);
    else if (!fail && text[0] != '{')
        fail = tg_say(detail, sizeof detail, "the header starts with byte 0x%02x; a safetensors header starts with '{'",
                      text[0]);
    if (!fail && !(st->strings = malloc((size_t)n + 1)))
        fail = "out of memory", status = TG_ERR_NOMEM;
    if (!fail) {
        st->data_start = 8 + n;
        st->data_size = size - 8 - n;
        /* depth: the header object, an entry or __metadata__, a shape */
        parser ps = {.st = st, .pool_size = (size_t)n + 1};
        tg_json_init(&ps.json, text, (size_t)n, 3);
        if (!parse_header(&ps)) {
            fail = tg_say(detail, sizeof detail, "header %s", ps.json.error);
            if (strstr(ps.json.error, "out of memory"))
                status = TG_ERR_NOMEM;
        }
    }
    free(owned);
    const char **keys = NULL;
    if (!fail && (!(st->by_name = malloc(sizeof *st->by_name * ((size_t)st->count + 1))) ||
                  !(sorted = malloc(sizeof *sorted * ((size_t)st->count + 1))) ||
                  !(keys = malloc(sizeof *keys * ((size_t)st->meta_count + 1)))))
        fail = "out of memory", status = TG_ERR_NOMEM;
    if (!fail)
        fail = check_entries(st, sorted, keys, detail, sizeof detail);
    free(keys);
    free(sorted);
    if (fail) {
        tg_ctx_fail(st->ctx, status, "%s: %s: %s", who, st->what, fail);
        tg_safetensors_close(st);
        return NULL;
    }
    return st;
}

static tg_safetensors *new_index(tg_ctx *ctx, const char *who, const char *what)
{
    tg_safetensors *st = calloc(1, sizeof *st);
    char *copy = malloc(strlen(what) + 1);
    if (!st || !copy) {
        free(st);
        free(copy);
        tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: %s: out of memory", who, what);
        return NULL;
    }
    strcpy(copy, what);
    st->ctx = ctx;
    st->what = copy;
    st->fd = -1;
    return st;
}

tg_safetensors *tg_safetensors_open(tg_ctx *ctx, const char *path)
{
    if (!ctx)
        return NULL;
    if (!path)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_safetensors_open: NULL path"), NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tg_ctx_fail(ctx, TG_ERR_IO, "tg_safetensors_open: cannot open %s: %s", path, strerror(errno)), NULL;
    struct stat s;
    if (fstat(fd, &s) != 0 || !S_ISREG(s.st_mode)) {
        close(fd);
        return tg_ctx_fail(ctx, TG_ERR_IO, "tg_safetensors_open: %s is not a regular file", path), NULL;
    }
    tg_safetensors *st = new_index(ctx, "tg_safetensors_open", path);
    if (!st) {
        close(fd);
        return NULL;
    }
    st->fd = fd;
    return open_index(st, (uint64_t)s.st_size);
}

tg_safetensors *tg_safetensors_open_memory(tg_ctx *ctx, const void *data, size_t size, const char *what)
{
    if (!ctx)
        return NULL;
    if (!what)
        what = "(memory)";
    if (!data)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_safetensors_open_memory: %s: NULL data", what), NULL;
    tg_safetensors *st = new_index(ctx, "tg_safetensors_open_memory", what);
    if (!st)
        return NULL;
    st->mem = data;
    return open_index(st, size);
}

int tg_safetensors_count(const tg_safetensors *st) { return st ? st->count : -1; }

static const entry *entry_at(const tg_safetensors *st, int i, const char *who)
{
    if (!st)
        return NULL;
    if (i < 0 || i >= st->count)
        return tg_ctx_fail(st->ctx, TG_ERR_ARG, "%s: %s: entry %d of %d", who, st->what, i, st->count), NULL;
    return &st->entries[i];
}

const char *tg_safetensors_name(const tg_safetensors *st, int i)
{
    const entry *e = entry_at(st, i, "tg_safetensors_name");
    return e ? e->name : NULL;
}

const char *tg_safetensors_dtype(const tg_safetensors *st, int i)
{
    const entry *e = entry_at(st, i, "tg_safetensors_dtype");
    return e ? dtypes[e->dtype].name : NULL;
}

int tg_safetensors_rank(const tg_safetensors *st, int i)
{
    const entry *e = entry_at(st, i, "tg_safetensors_rank");
    return e ? e->rank : -1;
}

const int64_t *tg_safetensors_shape(const tg_safetensors *st, int i)
{
    const entry *e = entry_at(st, i, "tg_safetensors_shape");
    return e && e->rank ? e->shape : NULL;
}

int tg_safetensors_find(const tg_safetensors *st, const char *name)
{
    if (!st || !name)
        return -1;
    int lo = 0, hi = st->count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(st->entries[st->by_name[mid]].name, name);
        if (c == 0)
            return st->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

int tg_safetensors_metadata_count(const tg_safetensors *st) { return st ? st->meta_count : -1; }

static const char *meta_at(const tg_safetensors *st, int i, int which, const char *who)
{
    if (!st)
        return NULL;
    if (i < 0 || i >= st->meta_count)
        return tg_ctx_fail(st->ctx, TG_ERR_ARG, "%s: %s: metadata pair %d of %d", who, st->what, i, st->meta_count),
               NULL;
    return st->meta[2 * i + which];
}

const char *tg_safetensors_metadata_key(const tg_safetensors *st, int i)
{
    return meta_at(st, i, 0, "tg_safetensors_metadata_key");
}

const char *tg_safetensors_metadata_value(const tg_safetensors *st, int i)
{
    return meta_at(st, i, 1, "tg_safetensors_metadata_value");
}

const char *tg_safetensors_metadata(const tg_safetensors *st, const char *key)
{
    for (int i = 0; st && key && i < st->meta_count; i++)
        if (strcmp(st->meta[2 * i], key) == 0)
            return st->meta[2 * i + 1];
    return NULL;
}

/* ---- reading values ---------------------------------------------------- */

/* The entry called name, readable as a tapegrad tensor of dtype: NULL with
 * an error raised (naming who, the file, the entry) when it is not. */
static const entry *readable(tg_safetensors *st, const char *who, const char *name, tg_dtype dtype)
{
    int i = tg_safetensors_find(st, name);
    if (i < 0)
        return tg_ctx_fail(st->ctx, TG_ERR_FORMAT, "%s: %s: no entry \"%.*s\" (the file holds %d entries)", who,
                           st->what, shown_len(name), name, st->count), NULL;
    const entry *e = &st->entries[i];
    char dims[160];
    const char *dt = dtypes[e->dtype].name;
    if (dtype != TG_F32 && dtype != TG_F64 && dtype != TG_I64)
        return tg_ctx_fail(st->ctx, TG_ERR_ARG, "%s: %s: entry \"%.*s\": dtype %d is not a tapegrad dtype", who,
                           st->what, shown_len(name), name, (int)dtype), NULL;
    if (!is_float(e->dtype) && e->dtype != ST_I64)
        return tg_ctx_fail(st->ctx, TG_ERR_FORMAT, "%s: %s: entry \"%.*s\" is %s; tapegrad reads F32, F64, BF16, F16 "
                           "(into f32 or f64) and I64 (into i64)", who, st->what, shown_len(name), name, dt), NULL;
    if ((dtype == TG_I64) != (e->dtype == ST_I64))
        return tg_ctx_fail(st->ctx, TG_ERR_FORMAT, "%s: %s: entry \"%.*s\" is %s; it does not convert to %s (%s)", who,
                           st->what, shown_len(name), name, dt, tg_dtype_name(dtype),
                           dtype == TG_I64 ? "i64 takes I64 entries" : "an I64 entry reads into i64 only"), NULL;
    bool empty = false;
    for (int d = 0; d < e->rank; d++)
        empty |= e->shape[d] == 0;
    if (e->rank > TG_MAX_RANK || empty)
        return tg_ctx_fail(st->ctx, TG_ERR_FORMAT, "%s: %s: entry \"%.*s\" has shape %s; a tapegrad tensor has at "
                           "most %d dims, each at least 1", who, st->what, shown_len(name), name,
                           shape_text(e->rank, e->shape, dims, sizeof dims), TG_MAX_RANK), NULL;
    return e;
}

/* Entry e's values converted into dst (dtype, as many elements), from the
 * image or in chunks from the file. */
static tg_status read_values(tg_safetensors *st, const char *who, const entry *e, tg_dtype dtype, void *dst)
{
    int size = dtypes[e->dtype].bytes;
    uint64_t count = (e->end - e->begin) / (uint64_t)size, offset = st->data_start + e->begin;
    if (st->mem) {
        convert(dst, dtype, 0, st->mem + offset, e->dtype, (size_t)count);
        return TG_OK;
    }
    uint8_t *chunk = malloc(CHUNK);
    if (!chunk)
        return tg_ctx_fail(st->ctx, TG_ERR_NOMEM, "%s: %s: out of memory", who, st->what);
    size_t per_chunk = CHUNK / (size_t)size;
    for (uint64_t done = 0; done < count;) {
        size_t n = count - done < per_chunk ? (size_t)(count - done) : per_chunk;
        if (!read_at(st, offset + done * (uint64_t)size, chunk, n * (size_t)size)) {
            int e_no = errno;
            free(chunk);
            return tg_ctx_fail(st->ctx, TG_ERR_IO, "%s: %s: entry \"%.*s\": cannot read its values: %s", who,
                               st->what, shown_len(e->name), e->name,
                               e_no ? strerror(e_no) : "the file is shorter than when it was opened");
        }
        convert(dst, dtype, (size_t)done, chunk, e->dtype, n);
        done += n;
    }
    free(chunk);
    return TG_OK;
}

tg_tensor *tg_safetensors_read(tg_safetensors *st, const char *name, tg_dtype dtype)
{
    if (!st)
        return NULL;
    if (!name)
        return tg_ctx_fail(st->ctx, TG_ERR_ARG, "tg_safetensors_read: %s: NULL name", st->what), NULL;
    const entry *e = readable(st, "tg_safetensors_read", name, dtype);
    if (!e)
        return NULL;
    tg_tensor *t = tg_tensor_new(st->ctx, dtype, e->rank, e->shape);
    if (!t)
        return NULL;
    if (read_values(st, "tg_safetensors_read", e, dtype, tg_tensor_data(t)) != TG_OK) {
        tg_tensor_free(t);
        return NULL;
    }
    tg_tensor_set_name(t, name);
    return t;
}

/* Checks name against dst for who; the entry, or NULL with the error raised. */
static const entry *check(tg_safetensors *st, const char *who, const char *name, const tg_tensor *dst)
{
    if (!name || !dst)
        return tg_ctx_fail(st->ctx, TG_ERR_ARG, "%s: %s: NULL %s", who, st->what, name ? "tensor" : "name"), NULL;
    if (!tg_tensor_data_const(dst)) /* freed or stale: reported as such */
        return tg_ctx_status(st->ctx) == TG_OK
                   ? (tg_ctx_fail(st->ctx, TG_ERR_FREED, "%s: %s: the tensor for \"%.*s\" was freed", who, st->what,
                                  shown_len(name), name), NULL)
                   : NULL;
    tg_dtype dtype = tg_tensor_dtype(dst);
    const entry *e = readable(st, who, name, dtype);
    if (!e)
        return NULL;
    int rank = tg_tensor_rank(dst);
    const int64_t *shape = tg_tensor_shape(dst);
    bool same = rank == e->rank;
    for (int d = 0; same && d < rank; d++)
        same = shape[d] == e->shape[d];
    if (!same) {
        char file_dims[160], dims[160];
        return tg_ctx_fail(st->ctx, TG_ERR_FORMAT, "%s: %s: entry \"%.*s\" is %s %s in the file; the tensor is %s %s",
                           who, st->what, shown_len(name), name, dtypes[e->dtype].name,
                           shape_text(e->rank, e->shape, file_dims, sizeof file_dims), tg_dtype_name(dtype),
                           shape_text(rank, shape, dims, sizeof dims)), NULL;
    }
    return e;
}

tg_status tg_safetensors_check(tg_safetensors *st, const char *name, const tg_tensor *dst)
{
    if (!st)
        return TG_ERR_ARG;
    return check(st, "tg_safetensors_check", name, dst) ? TG_OK : tg_ctx_status(st->ctx);
}

tg_status tg_safetensors_read_into(tg_safetensors *st, const char *name, tg_tensor *dst)
{
    if (!st)
        return TG_ERR_ARG;
    const entry *e = check(st, "tg_safetensors_read_into", name, dst);
    if (!e)
        return tg_ctx_status(st->ctx);
    if (st->mem) /* nothing can fail any more: straight in */
        return read_values(st, "tg_safetensors_read_into", e, tg_tensor_dtype(dst), tg_tensor_data(dst));
    size_t bytes = (size_t)tg_tensor_size(dst) * (tg_tensor_dtype(dst) == TG_F32 ? 4 : 8);
    void *staged = malloc(bytes);
    if (!staged)
        return tg_ctx_fail(st->ctx, TG_ERR_NOMEM, "tg_safetensors_read_into: %s: out of memory (%zu bytes)",
                           st->what, bytes);
    tg_status status = read_values(st, "tg_safetensors_read_into", e, tg_tensor_dtype(dst), staged);
    if (status == TG_OK)
        memcpy(tg_tensor_data(dst), staged, bytes);
    free(staged);
    return status;
}

tg_status tg_safetensors_load(tg_safetensors *st, int n, const tg_named_tensor *items)
{
    const char *who = "tg_safetensors_load";
    if (!st)
        return TG_ERR_ARG;
    if (n < 0 || (n > 0 && !items))
        return tg_ctx_fail(st->ctx, TG_ERR_ARG, "%s: %s: %d items%s", who, st->what, n,
                           n < 0 ? "" : " and a NULL list");
    const entry **found = malloc(sizeof *found * ((size_t)n + 1));
    void **staged = calloc((size_t)n + 1, sizeof *staged);
    tg_status status = found && staged ? TG_OK
                                       : tg_ctx_fail(st->ctx, TG_ERR_NOMEM, "%s: %s: out of memory", who, st->what);
    /* 1. every name, shape and dtype */
    for (int i = 0; status == TG_OK && i < n; i++) {
        const char *name = items[i].name ? items[i].name : tg_tensor_name(items[i].tensor);
        if (!items[i].tensor || !name)
            status = tg_ctx_fail(st->ctx, TG_ERR_ARG, "%s: %s: item %d has no %s", who, st->what, i,
                                 items[i].tensor ? "name (NULL, and the tensor has none)" : "tensor (NULL)");
        else if (!(found[i] = check(st, who, name, items[i].tensor)))
            status = tg_ctx_status(st->ctx);
    }
    /* 2. every value, into memory of our own unless the file is in memory */
    for (int i = 0; status == TG_OK && !st->mem && i < n; i++) {
        tg_tensor *t = items[i].tensor;
        size_t bytes = (size_t)tg_tensor_size(t) * (tg_tensor_dtype(t) == TG_F32 ? 4 : 8);
        if (!(staged[i] = malloc(bytes)))
            status = tg_ctx_fail(st->ctx, TG_ERR_NOMEM, "%s: %s: out of memory (%zu bytes for item %d)", who,
                                 st->what, bytes, i);
        else
            status = read_values(st, who, found[i], tg_tensor_dtype(t), staged[i]);
    }
    /* 3. all of it succeeded: now, and only now, write */
    for (int i = 0; status == TG_OK && i < n; i++) {
        tg_tensor *t = items[i].tensor;
        if (st->mem)
            read_values(st, who, found[i], tg_tensor_dtype(t), tg_tensor_data(t));
        else
            memcpy(tg_tensor_data(t), staged[i],
                   (size_t)tg_tensor_size(t) * (tg_tensor_dtype(t) == TG_F32 ? 4 : 8));
    }
    for (int i = 0; staged && i < n; i++)
        free(staged[i]);
    free(staged);
    free(found);
    return status;
}
