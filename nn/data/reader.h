/* nn/data/reader.h: bounded reading of files and gzip, for the readers of nn/data/.
 *
 * The public tg_gzip_decode_max caps the output at a byte count. A reader that
 * knows its format can do better: a probe looks at the first bytes out (a
 * magic, a header) and may reject them at once or say exactly how many bytes
 * the whole output must have, so a bad or oversized file is refused after a
 * few bytes of inflation instead of after all of them. */
#ifndef TAPEGRAD_NN_DATA_READER_H
#define TAPEGRAD_NN_DATA_READER_H

#include "tapegrad/data.h"

#include <stdio.h>

typedef struct tg_inflate_limits {
    size_t max_out; /* refuse output beyond this many bytes */
    /* Called once at least probe_at bytes are out (and again while it moves
     * probe_at further): returns an error message (written into detail) to
     * stop, or NULL; may lower max_out to the exact size the format needs and
     * set probe_at to SIZE_MAX when it has seen enough. NULL: no probe. */
    const char *(*probe)(struct tg_inflate_limits *limits, const uint8_t *out, size_t len, char *detail,
                         size_t detail_size);
    size_t probe_at;
    void *user;
    const char *max_reason; /* why max_out is what it is, for the message */
} tg_inflate_limits;

/* tg_gzip_decode under limits; who prefixes error messages ("tg_idx_read"). */
tg_status tg_gzip_decode_limited(tg_ctx *ctx, const void *data, size_t size, const char *what, const char *who,
                                 tg_inflate_limits *limits, uint8_t **out, size_t *out_size);

/* The most bytes a deflate stream of n input bytes can decode to: one
 * 258-byte match per 2 bits at best (RFC 1951), so 1032 per byte, plus the
 * slack of a block header. No real gzip file exceeds it. */
static inline size_t tg_inflate_ceiling(size_t n)
{
    return n > (SIZE_MAX - 1024) / 1032 ? SIZE_MAX : n * 1032 + 1024;
}

/* The bytes of a file as they are (no decoding), refusing more than
 * max_bytes (0: any size) before reading them. who prefixes messages. */
tg_status tg_file_read_raw(tg_ctx *ctx, const char *who, const char *path, size_t max_bytes, uint8_t **out,
                           size_t *out_size);

static inline bool tg_is_gzip(const uint8_t *buf, size_t n) { return n >= 2 && buf[0] == 0x1F && buf[1] == 0x8B; }

#endif
