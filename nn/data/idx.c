/* IDX files (MNIST, Fashion-MNIST): magic, big-endian dims, big-endian
 * values. A reader builds its result aside and hands it over only when
 * everything checked out, so a failure leaves the caller's output as it was. */
#include "nn/data/reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* Parses the header at the start of buf (n bytes so far). Returns 1 when
 * it is whole and valid (*idx's type, rank, shape and count set, *header its
 * length, *total the bytes the whole file must have), 0 when more bytes are
 * needed to tell (*header: how many), -1 when it is bad (detail says why). */
static int parse_header(const uint8_t *buf, size_t n, tg_idx *idx, size_t *header, uint64_t *total, char *detail,
                        size_t size)
{
    size_t width;
    if (n < 4) {
        *header = 4;
        return 0;
    }
    if (buf[0] != 0 || buf[1] != 0 || !(width = tg_idx_type_size((tg_idx_type)buf[2]))) {
        snprintf(detail, size, "magic %02x %02x %02x %02x; expected 00 00 <type 08 09 0b 0c 0d 0e> <rank>", buf[0],
                 buf[1], buf[2], buf[3]);
        return -1;
    }
    if (buf[3] == 0 || buf[3] > TG_IDX_MAX_RANK) {
        snprintf(detail, size, "rank %u; expected 1 to %d", buf[3], TG_IDX_MAX_RANK);
        return -1;
    }
    idx->type = (tg_idx_type)buf[2];
    idx->rank = buf[3];
    *header = 4 + 4 * (size_t)idx->rank;
    if (n < *header)
        return 0;
    idx->count = 1;
    for (int i = 0; i < idx->rank; i++) {
        idx->shape[i] = be32(buf + 4 + 4 * i);
        if (idx->shape[i] == 0) {
            snprintf(detail, size, "dim %d is 0; expected every dim >= 1", i);
            return -1;
        }
        if (idx->count > (INT64_MAX / 8) / idx->shape[i]) {
            snprintf(detail, size, "the dims overflow a 64-bit size");
            return -1;
        }
        idx->count *= idx->shape[i];
    }
    *total = *header + (uint64_t)idx->count * width;
    return 1;
}

static void dims_text(const tg_idx *idx, char *dims, size_t size)
{
    int at = 0;
    for (int i = 0; i < idx->rank && at < (int)size - 24; i++)
        at += snprintf(dims + at, size - (size_t)at, "%s%lld", i ? " x " : "", (long long)idx->shape[i]);
}

/* The probe that watches a gzipped IDX file inflate: the magic is checked on
 * the first 4 bytes out, and once the dims are out the output is capped at
 * the exact size they give. */
static const char *idx_probe(tg_inflate_limits *limits, const uint8_t *out, size_t len, char *detail, size_t size)
{
    tg_idx idx = {0};
    size_t header;
    uint64_t total;
    int r = parse_header(out, len, &idx, &header, &total, detail, size);
    if (r < 0)
        return detail;
    if (r == 0) {
        limits->probe_at = header;
        return NULL;
    }
    if (total > limits->max_out) {
        char dims[120];
        dims_text(&idx, dims, sizeof dims);
        snprintf(detail, size, "dims %s need %llu bytes; a gzip file of this size decodes to at most %zu", dims,
                 (unsigned long long)total, limits->max_out);
        return detail;
    }
    limits->max_out = (size_t)total;
    limits->max_reason = "the size the IDX header gives (extra bytes at the end)";
    limits->probe_at = SIZE_MAX;
    return NULL;
}

tg_status tg_idx_read(tg_ctx *ctx, const char *path, tg_idx *out)
{
    if (!path || !out)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_idx_read: NULL %s", !path ? "path" : "output");
    uint8_t *buf;
    size_t n;
    tg_status status = tg_file_read_raw(ctx, "tg_idx_read", path, 0, &buf, &n);
    if (status != TG_OK)
        return status;
    if (tg_is_gzip(buf, n)) {
        uint8_t *plain;
        size_t plain_size;
        tg_inflate_limits limits = {.max_out = tg_inflate_ceiling(n), .probe = idx_probe, .probe_at = 4,
                                    .max_reason = "the most a gzip file of this size can hold"};
        status = tg_gzip_decode_limited(ctx, buf, n, path, "tg_idx_read", &limits, &plain, &plain_size);
        free(buf);
        if (status != TG_OK)
            return status;
        buf = plain, n = plain_size;
    }
    char detail[200];
    tg_idx idx = {0};
    size_t header = 0;
    uint64_t total = 0;
    int r = parse_header(buf, n, &idx, &header, &total, detail, sizeof detail);
    if (r == 0)
        snprintf(detail, sizeof detail, "%zu bytes, too short for the %zu-byte %s (truncated)", n, header,
                 header == 4 ? "magic" : "header");
    else if (r > 0 && total != n) {
        char dims[120];
        dims_text(&idx, dims, sizeof dims);
        snprintf(detail, sizeof detail, "dims %s need %llu bytes of data; the file has %zu%s", dims,
                 (unsigned long long)(total - header), n - header, total > n ? " (truncated)" : " (extra bytes at the end)");
        r = -1;
    }
    if (r <= 0) {
        free(buf);
        return tg_ctx_fail(ctx, TG_ERR_FORMAT, "tg_idx_read: %s: %s", path, detail);
    }
    /* Move the values to the start of the block (aligned for any type) and to host order. */
    size_t bytes = n - header;
    memmove(buf, buf + header, bytes);
    uint8_t *data = realloc(buf, bytes ? bytes : 1);
    data = data ? data : buf;
    swap_values(data, idx.count, tg_idx_type_size(idx.type));
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
