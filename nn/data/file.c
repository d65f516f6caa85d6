/* Whole files into memory, gzip decoded in process (nn/data/inflate.c). */
#define _POSIX_C_SOURCE 200809L
#include "tapegrad/data.h"

#include <errno.h>
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
