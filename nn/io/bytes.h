/* nn/io/bytes.h: what the file formats of nn/io share: little-endian
 * integers (checkpoints and safetensors are little-endian whatever the
 * host) and messages formatted into a caller's buffer. Internal. */
#ifndef TAPEGRAD_NN_IO_BYTES_H
#define TAPEGRAD_NN_IO_BYTES_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The low `bytes` bytes of v at p, least significant first. */
static inline void tg_le_put(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The integer of the `bytes` bytes at p, least significant first. */
static inline uint64_t tg_le_get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Formats a message into buf and returns buf. */
static inline const char *tg_say(char *buf, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static inline const char *tg_say(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return buf;
}

#endif
