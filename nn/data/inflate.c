/* gzip (RFC 1952) and deflate (RFC 1951) decoding, self-contained: no zlib.
 *
 * The datasets tapegrad reads (Fashion-MNIST in Debian's dataset-fashion-mnist)
 * ship gzipped. Decoding them here, rather than through zlib or a `gzip -dc`
 * pipe, keeps the library at libc + libm + pthreads and works wherever a
 * file can be read.
 *
 * Deflate is a sequence of blocks: stored (raw bytes), or Huffman-coded with
 * the fixed code of the RFC or a dynamic code sent in the block header. A
 * Huffman code here is a lookup table indexed by the next max_bits input bits
 * (LSB first, so codes are stored bit-reversed): entry = symbol << 4 | length,
 * 0 for a bit pattern no code starts with. One table lookup decodes a symbol.
 * The input is read through a 64-bit bit buffer refilled a byte at a time;
 * running past the end feeds zero bytes and counts them, which is how a
 * truncated stream is caught without a bounds check per symbol.
 */
#include "nn/data/reader.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- CRC32 ---------------------------------------------------------------- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

uint32_t tg_crc32(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init); /* contexts may live in several threads */
    const uint8_t *p = data;
    crc = ~crc;
    while (n >= 8) { /* slicing by 8 */
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        crc = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^ crc_table[5][(lo >> 16) & 0xFF] ^
              crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
              crc_table[0][p[7]];
        p += 8, n -= 8;
    }
    while (n--)
        crc = crc_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ---- bit input ------------------------------------------------------------ */

typedef struct {
    const uint8_t *in;
    size_t size, pos; /* pos may pass size: the bytes past it read as zeros */
    uint64_t bits;    /* the next count input bits, LSB first */
    int count;
    uint8_t *out;     /* the whole output so far: the window for back-references */
    size_t out_len, out_cap;
    const char *error; /* first error, NULL while all is well */
    bool nomem;
    tg_inflate_limits *limits; /* the output cap and the caller's probe */
    char detail[200];          /* the probe's or the cap's message */
    uint16_t lit[1 << 15], dist[1 << 15]; /* the current block's decoding tables */
    int lit_bits, dist_bits;
} inflater;

static inline void refill(inflater *s)
{
    if (s->pos + 8 <= s->size) { /* the fast path: one 8-byte load, whole bytes taken */
        const uint8_t *p = s->in + s->pos;
        uint64_t word = 0;
        for (int i = 0; i < 8; i++) /* compilers turn this into one load on little-endian hosts */
            word |= (uint64_t)p[i] << (8 * i);
        s->bits |= word << s->count;
        s->pos += (size_t)(63 - s->count) >> 3;
        s->count |= 56;
        return;
    }
    while (s->count <= 56) {
        uint64_t byte = s->pos < s->size ? s->in[s->pos] : 0;
        s->pos++;
        s->bits |= byte << s->count;
        s->count += 8;
    }
}

/* Bits consumed past the end of the input (> 0: the stream is truncated). */
static inline bool overran(const inflater *s) { return (s->pos - (size_t)s->count / 8) > s->size; }

static inline uint32_t take(inflater *s, int n) /* n <= count */
{
    uint32_t v = (uint32_t)(s->bits & ((1u << n) - 1));
    s->bits >>= n;
    s->count -= n;
    return v;
}

/* Room for extra more output bytes. The cap is enforced here, never per
 * byte: the buffer is never larger than the cap, so a literal that finds it
 * full comes here and is refused. While a probe waits for its bytes, the
 * buffer stops at the probe point, so the probe runs as soon as they exist. */
static bool grow(inflater *s, size_t extra)
{
    tg_inflate_limits *l = s->limits;
    while (l->probe && l->probe_at != SIZE_MAX && s->out_len >= l->probe_at) {
        size_t before = l->probe_at;
        const char *e = l->probe(l, s->out, s->out_len, s->detail, sizeof s->detail);
        if (e)
            return s->error = e, false;
        if (l->probe_at <= before) /* a probe that does not move on is done */
            l->probe_at = SIZE_MAX;
    }
    if (s->out_cap - s->out_len >= extra)
        return true;
    if (extra > l->max_out || s->out_len > l->max_out - extra) {
        snprintf(s->detail, sizeof s->detail, "the data decodes to more than %zu bytes, %s", l->max_out,
                 l->max_reason ? l->max_reason : "the cap");
        return s->error = s->detail, false;
    }
    size_t need = s->out_len + extra;
    size_t cap = s->out_cap ? s->out_cap : 1 << 16;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > l->max_out)
        cap = l->max_out;
    if (l->probe && l->probe_at != SIZE_MAX && cap > need && cap > l->probe_at)
        cap = need > l->probe_at ? need : l->probe_at;
    uint8_t *p = realloc(s->out, cap);
    if (!p) {
        s->nomem = true;
        return false;
    }
    s->out = p;
    s->out_cap = cap;
    return true;
}

/* ---- Huffman tables ------------------------------------------------------- */

/* Builds the table of a canonical code from its code lengths (0: unused).
 * Returns false for an over-subscribed code (more codes than bit patterns);
 * an incomplete code is accepted and its unused patterns decode as errors. */
static bool build(uint16_t *table, int *table_bits, const uint8_t *lengths, int n)
{
    int count[16] = {0};
    for (int i = 0; i < n; i++)
        count[lengths[i]]++;
    count[0] = 0;
    int max = 0, left = 1;
    for (int len = 1; len < 16; len++) {
        left = left * 2 - count[len];
        if (left < 0)
            return false;
        if (count[len])
            max = len;
    }
    if (max == 0) { /* no codes at all: every lookup is an error */
        *table_bits = 1;
        table[0] = table[1] = 0;
        return true;
    }
    int next[16], code = 0; /* first code of each length (RFC 1951 3.2.2) */
    for (int len = 1; len < 16; len++) {
        code = (code + count[len - 1]) << 1;
        next[len] = code;
    }
    memset(table, 0, sizeof(uint16_t) << max);
    for (int sym = 0; sym < n; sym++) {
        int len = lengths[sym];
        if (!len)
            continue;
        int c = next[len]++, reversed = 0;
        for (int b = 0; b < len; b++)
            reversed |= ((c >> b) & 1) << (len - 1 - b);
        for (int i = reversed; i < 1 << max; i += 1 << len)
            table[i] = (uint16_t)(sym << 4 | len);
    }
    *table_bits = max;
    return true;
}

/* Next symbol of a table; -1 for an invalid code. Needs count >= 15. */
static inline int decode(inflater *s, const uint16_t *table, int table_bits)
{
    uint16_t e = table[s->bits & ((1u << table_bits) - 1)];
    if (!(e & 15))
        return -1;
    take(s, e & 15);
    return e >> 4;
}

static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                                       193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* ---- blocks --------------------------------------------------------------- */

/* Decodes literal/length and distance symbols until end of block (256). */
static bool codes(inflater *s)
{
    for (;;) {
        refill(s); /* 57+ bits: a length code with its extra bits and a distance with its extra bits */
        if (overran(s))
            return s->error = "the stream ends in the middle of a block (truncated)", false;
        int sym = decode(s, s->lit, s->lit_bits);
        if (sym < 0)
            return s->error = "invalid literal/length code", false;
        if (sym < 256) {
            if (s->out_len == s->out_cap && !grow(s, 1))
                return false;
            s->out[s->out_len++] = (uint8_t)sym;
            continue;
        }
        if (sym == 256)
            return true;
        sym -= 257;
        if (sym >= 29)
            return s->error = "invalid length symbol (286 or 287)", false;
        size_t len = len_base[sym] + take(s, len_extra[sym]);
        int d = decode(s, s->dist, s->dist_bits);
        if (d < 0)
            return s->error = "invalid distance code", false;
        if (d >= 30)
            return s->error = "invalid distance symbol (30 or 31)", false;
        size_t dist = dist_base[d] + take(s, dist_extra[d]);
        if (dist > s->out_len)
            return s->error = "a distance reaches back before the start of the output", false;
        if (!grow(s, len))
            return false;
        uint8_t *dst = s->out + s->out_len;
        const uint8_t *src = dst - dist;
        if (dist >= len)
            memcpy(dst, src, len);
        else
            for (size_t i = 0; i < len; i++) /* overlapping: a run that repeats itself */
                dst[i] = src[i];
        s->out_len += len;
    }
}

static bool stored(inflater *s)
{
    take(s, s->count & 7); /* to a byte boundary */
    size_t pos = s->pos - (size_t)s->count / 8; /* the next unread byte */
    s->bits = 0, s->count = 0;
    if (pos + 4 > s->size)
        return s->error = "a stored block's header is cut off (truncated)", false;
    size_t len = s->in[pos] | (size_t)s->in[pos + 1] << 8;
    size_t nlen = s->in[pos + 2] | (size_t)s->in[pos + 3] << 8;
    if (len != (~nlen & 0xFFFF))
        return s->error = "a stored block's length does not match its complement", false;
    pos += 4;
    if (len > s->size - pos)
        return s->error = "a stored block runs past the end of the data (truncated)", false;
    if (!grow(s, len))
        return false;
    memcpy(s->out + s->out_len, s->in + pos, len);
    s->out_len += len;
    s->pos = pos + len;
    return true;
}

static bool fixed(inflater *s)
{
    uint8_t lengths[288];
    memset(lengths, 8, 144);
    memset(lengths + 144, 9, 112);
    memset(lengths + 256, 7, 24);
    memset(lengths + 280, 8, 8);
    build(s->lit, &s->lit_bits, lengths, 288);
    memset(lengths, 5, 30);
    build(s->dist, &s->dist_bits, lengths, 30);
    return codes(s);
}

static bool dynamic(inflater *s)
{
    static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    refill(s);
    int nlit = (int)take(s, 5) + 257, ndist = (int)take(s, 5) + 1, ncode = (int)take(s, 4) + 4;
    if (nlit > 286 || ndist > 30)
        return s->error = "a dynamic block declares too many length or distance codes", false;
    uint8_t lengths[320] = {0};
    for (int i = 0; i < ncode; i++) {
        refill(s);
        lengths[order[i]] = (uint8_t)take(s, 3);
    }
    if (!build(s->lit, &s->lit_bits, lengths, 19))
        return s->error = "a dynamic block's code-length code is over-subscribed", false;
    memset(lengths, 0, sizeof lengths);
    for (int i = 0; i < nlit + ndist;) {
        refill(s);
        if (overran(s))
            return s->error = "the stream ends in a block header (truncated)", false;
        int sym = decode(s, s->lit, s->lit_bits);
        if (sym < 0)
            return s->error = "invalid code-length code", false;
        if (sym < 16) {
            lengths[i++] = (uint8_t)sym;
            continue;
        }
        int repeat, value = 0;
        if (sym == 16) {
            if (i == 0)
                return s->error = "a code-length repeat with no previous length", false;
            value = lengths[i - 1];
            repeat = 3 + (int)take(s, 2);
        } else if (sym == 17)
            repeat = 3 + (int)take(s, 3);
        else
            repeat = 11 + (int)take(s, 7);
        if (i + repeat > nlit + ndist)
            return s->error = "code-length repeats run past the declared codes", false;
        while (repeat--)
            lengths[i++] = (uint8_t)value;
    }
    if (lengths[256] == 0)
        return s->error = "a dynamic block has no end-of-block code", false;
    if (!build(s->lit, &s->lit_bits, lengths, nlit))
        return s->error = "a dynamic block's literal/length code is over-subscribed", false;
    if (!build(s->dist, &s->dist_bits, lengths + nlit, ndist))
        return s->error = "a dynamic block's distance code is over-subscribed", false;
    return codes(s);
}

/* One deflate stream starting at byte s->pos; leaves s->pos at the byte after it. */
static bool inflate_stream(inflater *s)
{
    s->bits = 0, s->count = 0;
    for (bool last = false; !last;) {
        refill(s);
        if (overran(s))
            return s->error = "the stream ends before its last block (truncated)", false;
        last = take(s, 1);
        int type = (int)take(s, 2);
        bool ok = type == 0 ? stored(s) : type == 1 ? fixed(s) : type == 2 ? dynamic(s)
                                                                            : (s->error = "invalid block type 3", false);
        if (!ok)
            return false;
    }
    if (overran(s))
        return s->error = "the stream ends in its last block (truncated)", false;
    s->pos -= (size_t)s->count / 8; /* give back the whole bytes read ahead */
    s->bits = 0, s->count = 0;
    return true;
}

/* ---- gzip ----------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

tg_status tg_gzip_decode_limited(tg_ctx *ctx, const void *data, size_t size, const char *what, const char *who,
                                 tg_inflate_limits *limits, uint8_t **out, size_t *out_size)
{
    if (!data || !out || !out_size)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: NULL %s", who, !data ? "data" : "output");
    what = what ? what : "(memory)";
    const uint8_t *in = data;
    if (size < 18 || in[0] != 0x1F || in[1] != 0x8B)
        return tg_ctx_fail(ctx, TG_ERR_FORMAT, "%s: %s: %s; expected a gzip file (magic 1f 8b)", who, what,
                           size < 18 ? "too short for a gzip member (18 bytes at least)" : "no gzip magic");
    inflater *s = malloc(sizeof *s);
    if (!s)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: %s: out of memory", who, what);
    memset(s, 0, offsetof(inflater, lit));
    s->in = in, s->size = size;
    s->limits = limits;
    /* The last member's ISIZE (size mod 2^32) is a good first guess of the
     * output size; a wrong guess only costs a realloc. The buffer always
     * exists, so empty output is an empty buffer, not NULL. */
    size_t guess = le32(in + size - 4);
    if (guess == 0 || guess / 256 > size)
        guess = 1;
    if (guess > limits->max_out)
        guess = limits->max_out ? limits->max_out : 1;
    if (limits->probe && guess > limits->probe_at)
        guess = limits->probe_at ? limits->probe_at : 1;
    if (!(s->out = malloc(guess))) {
        free(s);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: %s: out of memory (%zu bytes)", who, what, guess);
    }
    s->out_cap = guess;

    size_t pos = 0, member = 0;
    tg_status status = TG_OK;
    char detail[160] = "";
    while (pos < size) {
        const uint8_t *h = in + pos;
        size_t left = size - pos, start = s->out_len;
        if (member > 0 && (left < 2 || h[0] != 0x1F || h[1] != 0x8B)) {
            snprintf(detail, sizeof detail, "%zu bytes of trailing garbage at offset %zu", left, pos);
            break;
        }
        if (left < 18) {
            snprintf(detail, sizeof detail, "member %zu at offset %zu is cut off (%zu bytes; truncated)", member, pos, left);
            break;
        }
        if (h[2] != 8 || (h[3] & 0xE0)) {
            snprintf(detail, sizeof detail, "%s %u at offset %zu; expected method 8 (deflate) and flags < 32",
                     h[2] != 8 ? "compression method" : "flags", h[2] != 8 ? h[2] : h[3], pos + 2 + (h[2] == 8));
            break;
        }
        uint8_t flags = h[3];
        size_t p = pos + 10;
        if (flags & 4) { /* FEXTRA */
            if (p + 2 > size || (p += 2 + (in[p] | (size_t)in[p + 1] << 8)) > size) {
                snprintf(detail, sizeof detail, "the header's extra field runs past the end (truncated)");
                break;
            }
        }
        for (int z = 0; z < 2; z++) /* FNAME, FCOMMENT: zero-terminated */
            if (flags & (8 << z)) {
                while (p < size && in[p])
                    p++;
                p++;
            }
        if (flags & 2) { /* FHCRC: low 16 bits of the header's CRC32 */
            if (p + 2 <= size && (tg_crc32(0, h, p - pos) & 0xFFFF) != (in[p] | (uint32_t)in[p + 1] << 8)) {
                snprintf(detail, sizeof detail, "header CRC16 mismatch at offset %zu", p);
                break;
            }
            p += 2;
        }
        if (p >= size) {
            snprintf(detail, sizeof detail, "the header runs past the end (truncated)");
            break;
        }
        s->pos = p;
        if (!inflate_stream(s)) {
            if (s->nomem)
                status = TG_ERR_NOMEM;
            snprintf(detail, sizeof detail, "%s (member %zu, input offset about %zu)",
                     s->nomem ? "out of memory" : s->error, member, s->pos < size ? s->pos : size);
            break;
        }
        if (s->pos + 8 > size) {
            snprintf(detail, sizeof detail, "the CRC32/length trailer is cut off (truncated)");
            break;
        }
        uint32_t crc = tg_crc32(0, s->out + start, s->out_len - start), want = le32(in + s->pos);
        uint32_t length = le32(in + s->pos + 4);
        if (crc != want) {
            snprintf(detail, sizeof detail, "CRC32 of the data is %08x; the trailer says %08x (corrupt)", crc, want);
            break;
        }
        if (length != (uint32_t)(s->out_len - start)) {
            snprintf(detail, sizeof detail, "decoded %zu bytes; the trailer says %u (mod 2^32)", s->out_len - start,
                     length);
            break;
        }
        pos = s->pos + 8;
        member++;
    }
    if (detail[0]) {
        free(s->out);
        free(s);
        if (status == TG_OK)
            status = TG_ERR_FORMAT;
        return tg_ctx_fail(ctx, status, "%s: %s: %s", who, what, detail);
    }
    uint8_t *result = s->out;
    size_t n = s->out_len;
    if (n < s->out_cap && n > 0) { /* a right guess needs no shrinking */
        uint8_t *exact = realloc(result, n);
        result = exact ? exact : result;
    }
    free(s);
    *out = result;
    *out_size = n;
    return TG_OK;
}

tg_status tg_gzip_decode_max(tg_ctx *ctx, const void *data, size_t size, const char *what, size_t max_out,
                             uint8_t **out, size_t *out_size)
{
    char reason[96];
    tg_inflate_limits limits = {.max_out = max_out, .max_reason = "the cap given to tg_gzip_decode_max"};
    if (max_out == 0) {
        limits.max_out = tg_gzip_default_max(size);
        snprintf(reason, sizeof reason, "the default cap of %d times the input plus 1 MiB (see tg_gzip_decode_max)",
                 TG_GZIP_DEFAULT_RATIO);
        limits.max_reason = reason;
    }
    return tg_gzip_decode_limited(ctx, data, size, what, "tg_gzip_decode", &limits, out, out_size);
}

tg_status tg_gzip_decode(tg_ctx *ctx, const void *data, size_t size, const char *what, uint8_t **out,
                         size_t *out_size)
{
    return tg_gzip_decode_max(ctx, data, size, what, 0, out, out_size);
}

size_t tg_gzip_default_max(size_t input_size)
{
    size_t floor = (size_t)1 << 20;
    return input_size > (SIZE_MAX - floor) / TG_GZIP_DEFAULT_RATIO ? SIZE_MAX
                                                                    : input_size * TG_GZIP_DEFAULT_RATIO + floor;
}
