/* A strict, bounded JSON pull parser (see json.h): no tree, no recursion,
 * the depth, string lengths and integers bounded by the caller. */
#include "nn/io/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void tg_json_init(tg_json *j, const void *text, size_t n, int max_depth)
{
    j->start = j->p = text;
    j->end = j->start + n;
    j->depth = 0;
    j->max_depth = max_depth < 1 ? 1 : max_depth > TG_JSON_MAX_DEPTH ? TG_JSON_MAX_DEPTH : max_depth;
    j->first = 0;
    j->error[0] = '\0';
}

size_t tg_json_offset(const tg_json *j) { return (size_t)(j->p - j->start); }

bool tg_json_fail(tg_json *j, const char *fmt, ...)
{
    if (j->error[0])
        return false;
    int at = snprintf(j->error, sizeof j->error, "at byte %zu: ", tg_json_offset(j));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->error + at, sizeof j->error - (size_t)at, fmt, ap);
    va_end(ap);
    return false;
}

static void skip_space(tg_json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

const char *tg_json_next_kind(tg_json *j)
{
    skip_space(j);
    if (j->p == j->end)
        return "the end of the text";
    switch (*j->p) {
    case '{': return "an object";
    case '[': return "an array";
    case '"': return "a string";
    case 't': return "true";
    case 'f': return "false";
    case 'n': return "null";
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
            return "a number";
    }
    /* a printable byte is shown, another by its code */
    if (*j->p >= 0x20 && *j->p < 0x7f)
        snprintf(j->found, sizeof j->found, "a '%c'", *j->p);
    else
        snprintf(j->found, sizeof j->found, "byte 0x%02x", *j->p);
    return j->found;
}

/* Reads c after optional whitespace, or fails saying what was expected. */
static bool expect(tg_json *j, char c, const char *what)
{
    if (j->error[0])
        return false;
    skip_space(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return true;
    }
    const char *found = tg_json_next_kind(j);
    return tg_json_fail(j, "expected %s, found %s", what, found);
}

static bool open_container(tg_json *j, char c, const char *what)
{
    if (!expect(j, c, what))
        return false;
    if (j->depth >= j->max_depth) {
        j->p--;
        return tg_json_fail(j, "nesting deeper than %d levels", j->max_depth);
    }
    j->first |= (uint64_t)1 << j->depth;
    j->depth++;
    return true;
}

bool tg_json_object_begin(tg_json *j) { return open_container(j, '{', "an object"); }
bool tg_json_array_begin(tg_json *j) { return open_container(j, '[', "an array"); }

/* 1: an element follows; 0: the container closed with close; -1: error. */
static int next_element(tg_json *j, char close, const char *what)
{
    if (j->error[0] || j->depth == 0)
        return j->error[0] ? -1 : (tg_json_fail(j, "no open %s", what), -1);
    skip_space(j);
    uint64_t bit = (uint64_t)1 << (j->depth - 1);
    bool first = j->first & bit;
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return 0;
    }
    if (!first) {
        char expected[48];
        snprintf(expected, sizeof expected, "',' or '%c' after %s element", close, what);
        if (!expect(j, ',', expected))
            return -1;
        skip_space(j);
        if (j->p < j->end && *j->p == close)
            return tg_json_fail(j, "a trailing ',' before '%c'", close), -1;
    }
    j->first &= ~bit;
    return 1;
}

int tg_json_array_next(tg_json *j) { return next_element(j, ']', "an array"); }

/* The length of the valid UTF-8 sequence at p (before end), or 0. */
static size_t utf8_sequence(const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n == 0 || (size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) || /* overlong; surrogates */
        (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))   /* overlong; above U+10FFFF */
        return 0;
    return n;
}

bool tg_utf8_valid(const void *text, size_t n, size_t *bad_at)
{
    const uint8_t *s = text, *p = s, *end = s + n;
    while (p < end) {
        size_t k = utf8_sequence(p, end);
        if (k == 0) {
            if (bad_at)
                *bad_at = (size_t)(p - s);
            return false;
        }
        p += k;
    }
    return true;
}

static int hex4(const uint8_t *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Appends code point cp as UTF-8 to out (*len bytes so far); false when
 * that would pass max_len bytes. */
static bool put_code_point(uint32_t cp, char *out, size_t max_len, size_t *len)
{
    uint8_t b[4];
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (n == 1)
        b[0] = (uint8_t)cp;
    else if (n == 2)
        b[0] = (uint8_t)(0xc0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3f));
    else if (n == 3)
        b[0] = (uint8_t)(0xe0 | cp >> 12), b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)),
        b[2] = (uint8_t)(0x80 | (cp & 0x3f));
    else
        b[0] = (uint8_t)(0xf0 | cp >> 18), b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f)),
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (uint8_t)(0x80 | (cp & 0x3f));
    if (*len + n > max_len)
        return false; /* the caller reports it */
    memcpy(out + *len, b, n);
    *len += n;
    return true;
}

bool tg_json_string(tg_json *j, char *out, size_t max_len, size_t *len)
{
    if (!expect(j, '"', "a string"))
        return false;
    const uint8_t *open = j->p - 1; /* a string too long is reported where it starts */
    size_t n = 0;
    while (j->p < j->end && *j->p != '"') {
        uint8_t c = *j->p;
        if (c < 0x20)
            return tg_json_fail(j, "control character 0x%02x inside a string (it must be escaped)", c);
        if (c != '\\') {
            size_t k = utf8_sequence(j->p, j->end);
            if (k == 0)
                return tg_json_fail(j, "invalid UTF-8 inside a string");
            if (n + k > max_len) {
                j->p = open;
                return tg_json_fail(j, "a string longer than %zu bytes", max_len);
            }
            memcpy(out + n, j->p, k);
            n += k, j->p += k;
            continue;
        }
        if (j->end - j->p < 2)
            break;
        char e = (char)j->p[1];
        const char *plain = strchr("\"\\/bfnrt", e);
        if (e != 0 && plain) {
            static const char decoded[] = "\"\\/\b\f\n\r\t";
            if (!put_code_point((uint8_t)decoded[plain - "\"\\/bfnrt"], out, max_len, &n))
                return j->p = open, tg_json_fail(j, "a string longer than %zu bytes", max_len);
            j->p += 2;
            continue;
        }
        if (e != 'u')
            return tg_json_fail(j, "invalid escape '\\%c' inside a string", e >= 0x20 && e < 0x7f ? e : '?');
        int hi = j->end - j->p >= 6 ? hex4(j->p + 2) : -1;
        if (hi < 0)
            return tg_json_fail(j, "a \\u escape without four hex digits");
        uint32_t cp = (uint32_t)hi;
        size_t used = 6;
        if (hi >= 0xdc00 && hi <= 0xdfff)
            return tg_json_fail(j, "a lone low surrogate \\u%04x", hi);
        if (hi >= 0xd800 && hi <= 0xdbff) {
            int lo = j->end - j->p >= 12 && j->p[6] == '\\' && j->p[7] == 'u' ? hex4(j->p + 8) : -1;
            if (lo < 0xdc00 || lo > 0xdfff)
                return tg_json_fail(j, "a high surrogate \\u%04x without its low surrogate", hi);
            cp = 0x10000 + (((uint32_t)hi - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
            used = 12;
        }
        if (cp == 0)
            return tg_json_fail(j, "a string holding \\u0000 (NUL)");
        if (!put_code_point(cp, out, max_len, &n))
            return j->p = open, tg_json_fail(j, "a string longer than %zu bytes", max_len);
        j->p += used;
    }
    if (j->p == j->end)
        return tg_json_fail(j, "a string not closed before the end of the text");
    j->p++; /* the closing quote */
    out[n] = '\0';
    if (len)
        *len = n;
    return true;
}

int tg_json_object_next(tg_json *j, char *key, size_t max_len, size_t *len)
{
    int more = next_element(j, '}', "an object");
    if (more != 1)
        return more;
    skip_space(j);
    if (j->p == j->end || *j->p != '"') {
        const char *found = tg_json_next_kind(j);
        return tg_json_fail(j, "expected a member name (a string), found %s", found), -1;
    }
    if (!tg_json_string(j, key, max_len, len) || !expect(j, ':', "':' after a member name"))
        return -1;
    return 1;
}

bool tg_json_uint(tg_json *j, uint64_t max, uint64_t *value)
{
    if (j->error[0])
        return false;
    skip_space(j);
    const uint8_t *s = j->p, *q = s;
    if (q < j->end && *q == '-')
        q++;
    while (q < j->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' ||
                          *q == '-'))
        q++;
    int shown = q - s > 24 ? 24 : (int)(q - s);
    if (q == s || !(*s == '-' || (*s >= '0' && *s <= '9'))) {
        const char *found = tg_json_next_kind(j);
        return tg_json_fail(j, "expected a non-negative integer, found %s", found);
    }
    if (*s == '-')
        return tg_json_fail(j, "expected a non-negative integer, found %.*s", shown, (const char *)s);
    uint64_t v = 0;
    const uint8_t *p = s;
    for (; p < q && *p >= '0' && *p <= '9'; p++) {
        uint64_t digit = (uint64_t)(*p - '0');
        if (p > s && *s == '0')
            return tg_json_fail(j, "a number with a leading zero: %.*s", shown, (const char *)s);
        if (digit > max || v > (max - digit) / 10) /* v·10 + digit > max */
            return tg_json_fail(j, "the integer %.*s%s exceeds %llu", shown, (const char *)s, q - s > 24 ? "..." : "",
                                (unsigned long long)max);
        v = v * 10 + digit;
    }
    if (p != q)
        return tg_json_fail(j, "expected an integer, found %.*s%s (a fraction, an exponent or a malformed number)",
                            shown, (const char *)s, q - s > 24 ? "..." : "");
    j->p = q;
    *value = v;
    return true;
}

bool tg_json_end(tg_json *j)
{
    if (j->error[0])
        return false;
    skip_space(j);
    if (j->p != j->end) {
        const char *found = tg_json_next_kind(j);
        return tg_json_fail(j, "%s after the end of the JSON value (trailing garbage)", found);
    }
    return true;
}
