/* Whole files into memory, gzip decoded in process (nn/data/inflate.c), with
 * a cap on how much a file may make us allocate. */
#define _POSIX_C_SOURCE 200809L
#include "nn/data/reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

tg_status tg_file_read_raw(tg_ctx *ctx, const char *who, const char *path, size_t max_bytes, uint8_t **out,
                           size_t *out_size)
{
    if (!path || !out || !out_size)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: NULL %s", who, !path ? "path" : "output");
    FILE *f = fopen(path, "rb");
    if (!f)
        return tg_ctx_fail(ctx, TG_ERR_IO, "%s: cannot open %s: %s", who, path, strerror(errno));
    size_t limit = max_bytes ? max_bytes : SIZE_MAX - 1;
    struct stat st;
    bool regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
    if (regular && (uint64_t)st.st_size > limit) {
        fclose(f);
        return tg_ctx_fail(ctx, TG_ERR_FORMAT, "%s: %s: %lld bytes; the cap is %zu", who, path,
                           (long long)st.st_size, limit);
    }
    /* A regular file is read in one block of its size (+1 to see the end). */
    size_t cap = regular ? (size_t)st.st_size + 1 : 1 << 16;
    cap = cap > limit + 1 ? limit + 1 : cap;
    size_t n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            return tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: %s: out of memory (%zu bytes)", who, path, cap);
        }
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        if (n > limit) {
            fclose(f);
            free(buf);
            return tg_ctx_fail(ctx, TG_ERR_FORMAT, "%s: %s: more than %zu bytes, the cap", who, path, limit);
        }
        size_t bigger_cap = cap > (limit + 1) / 2 ? limit + 1 : cap * 2;
        uint8_t *bigger = realloc(buf, bigger_cap);
        if (!bigger)
            free(buf);
        buf = bigger;
        cap = bigger_cap;
    }
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        free(buf);
        return tg_ctx_fail(ctx, TG_ERR_IO, "%s: error reading %s: %s", who, path, strerror(e));
    }
    fclose(f);
    *out = buf;
    *out_size = n;
    return TG_OK;
}

tg_status tg_file_read_max(tg_ctx *ctx, const char *path, size_t max_bytes, uint8_t **out, size_t *out_size)
{
    uint8_t *buf;
    size_t n;
    /* gzip of incompressible data is a little longer than the data. */
    size_t raw_max = max_bytes && max_bytes < SIZE_MAX / 2 ? max_bytes + max_bytes / 8 + 1024 : 0;
    tg_status status = tg_file_read_raw(ctx, "tg_file_read", path, raw_max, &buf, &n);
    if (status != TG_OK)
        return status;
    if (!tg_is_gzip(buf, n)) {
        if (max_bytes && n > max_bytes) {
            free(buf);
            return tg_ctx_fail(ctx, TG_ERR_FORMAT, "tg_file_read: %s: %zu bytes; the cap is %zu", path, n, max_bytes);
        }
        *out = buf, *out_size = n;
        return TG_OK;
    }
    uint8_t *plain;
    size_t plain_size;
    char reason[160];
    tg_inflate_limits limits = {.max_out = max_bytes ? max_bytes : tg_gzip_default_max(n), .max_reason = reason};
    if (max_bytes)
        snprintf(reason, sizeof reason, "the cap given to tg_file_read_max");
    else
        snprintf(reason, sizeof reason, "the default cap of %d times the file plus 1 MiB (see tg_file_read_max)",
                 TG_GZIP_DEFAULT_RATIO);
    status = tg_gzip_decode_limited(ctx, buf, n, path, "tg_file_read", &limits, &plain, &plain_size);
    free(buf);
    if (status != TG_OK)
        return status;
    *out = plain;
    *out_size = plain_size;
    return TG_OK;
}

tg_status tg_file_read(tg_ctx *ctx, const char *path, uint8_t **out, size_t *out_size)
{
    return tg_file_read_max(ctx, path, 0, out, out_size);
}
