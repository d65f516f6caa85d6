/* nn/io/json.h: a strict, bounded pull parser for JSON text (RFC 8259), for
 * the file formats of nn/io (the safetensors header). Internal: not part of
 * the public API.
 *
 * The caller walks the text in the shape it expects (an object, then its
 * members, then each value), so a reader accepts exactly its schema and
 * nothing is built that the schema does not hold: there is no tree, no
 * recursion, and memory is the caller's. Every call that fails returns false
 * (or -1) and leaves a message in j->error naming the byte offset and what
 * was expected; the first failure sticks and every later call fails too.
 *
 * Strict: only the JSON grammar (no comments, trailing commas, single quotes,
 * NaN, leading zeros, leading '+'); strings are valid UTF-8 with every control
 * character escaped, \u escapes pair their surrogates, and a decoded NUL is
 * refused (the strings become C strings). Bounded: nesting deeper than
 * max_depth, a string longer than the caller's limit and an integer above the
 * caller's maximum are errors, each found before anything is stored. */
#ifndef TAPEGRAD_NN_IO_JSON_H
#define TAPEGRAD_NN_IO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_JSON_MAX_DEPTH 64

typedef struct {
    const uint8_t *start, *p, *end;
    int depth, max_depth;      /* containers open now; the most allowed (<= TG_JSON_MAX_DEPTH) */
    uint64_t first;            /* bit d: the container at depth d has had no element yet */
    char error[512];           /* "" while all is well */
    char found[16];            /* what tg_json_next_kind saw, when it is no value */
} tg_json;

/* Starts reading n bytes of text. max_depth is capped at TG_JSON_MAX_DEPTH. */
void tg_json_init(tg_json *j, const void *text, size_t n, int max_depth);
/* The byte offset of the parser in the text. */
size_t tg_json_offset(const tg_json *j);
/* What the next value is, for messages: "an object", "an array", "a string",
 * "a number", "true", "false", "null", "the end of the text" or "a 'c'". */
const char *tg_json_next_kind(tg_json *j);
/* Records a failure of the caller's schema at the current offset (printf
 * format); returns false. The first failure sticks. */
bool tg_json_fail(tg_json *j, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* '{': opens an object. */
bool tg_json_object_begin(tg_json *j);
/* The next member of the open object: 1 with its key decoded into key (at
 * most max_len bytes, NUL-terminated; key has max_len + 1 bytes) and the ':'
 * read, so the value comes next; 0 at the closing '}' (read); -1 on error. */
int tg_json_object_next(tg_json *j, char *key, size_t max_len, size_t *len);
/* '[': opens an array. */
bool tg_json_array_begin(tg_json *j);
/* 1 when another element follows (its value comes next), 0 at the closing
 * ']' (read), -1 on error. */
int tg_json_array_next(tg_json *j);
/* A string value decoded into out (at most max_len bytes, NUL-terminated;
 * out has max_len + 1 bytes), its length in *len. */
bool tg_json_string(tg_json *j, char *out, size_t max_len, size_t *len);
/* A non-negative integer value, exact, at most max (<= 2^63); "1.0", "1e3",
 * "-1" and anything above max are errors naming the number. */
bool tg_json_uint(tg_json *j, uint64_t max, uint64_t *value);
/* Only whitespace is left after the value read. */
bool tg_json_end(tg_json *j);

/* True when n bytes are valid UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF); otherwise false with the offset of the first bad
 * byte in *bad_at. */
bool tg_utf8_valid(const void *text, size_t n, size_t *bad_at);

#endif
