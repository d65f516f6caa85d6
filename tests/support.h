/* Helpers the test suites share: a quiet context, the check of an expected
 * error, scratch directories, and files or streams read back as text.
 * Header-only (static inline, so a suite may use any subset). Suites that
 * make directories define _POSIX_C_SOURCE first. */
#ifndef TAPEGRAD_TEST_SUPPORT_H
#define TAPEGRAD_TEST_SUPPORT_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"

/* A one-thread context whose errors are returned, not printed (the suites
 * provoke them). */
static inline tg_ctx *quiet_ctx(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    if (ctx)
        tg_ctx_set_error_handler(ctx, NULL, NULL);
    return ctx;
}

/* A NULL-terminated list of message fragments: FRAGMENTS("conv2d", "[3, 8]"). */
#define FRAGMENTS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Expects ctx to hold status, with every one of fragments (a NULL-terminated
 * list, FRAGMENTS(...)) in its message; then clears the error, so the suite
 * carries on with a working context. */
static inline void expect_error(tg_ctx *ctx, tg_status status, const char *const *fragments)
{
    cr_expect_eq(tg_ctx_status(ctx), status, "status %s, expected %s: %s", tg_status_name(tg_ctx_status(ctx)),
                 tg_status_name(status), tg_ctx_error(ctx));
    for (; fragments && *fragments; fragments++)
        cr_expect(strstr(tg_ctx_error(ctx), *fragments), "message \"%s\" lacks \"%s\"", tg_ctx_error(ctx), *fragments);
    tg_ctx_clear_error(ctx);
}

/* All of f from its start as a NUL-terminated string (caller frees), and f
 * closed; NULL when it cannot be read. */
static inline char *slurp(FILE *f)
{
    if (!f || fseek(f, 0, SEEK_END) != 0) {
        if (f)
            fclose(f);
        return NULL;
    }
    long size = ftell(f);
    rewind(f);
    char *text = size >= 0 ? calloc((size_t)size + 1, 1) : NULL;
    if (text && fread(text, 1, (size_t)size, f) != (size_t)size) {
        free(text);
        text = NULL;
    }
    fclose(f);
    return text;
}

/* The file at path as text (caller frees); NULL when it cannot be read. */
static inline char *read_text_file(const char *path) { return slurp(fopen(path, "rb")); }

#if defined(_POSIX_C_SOURCE) && _POSIX_C_SOURCE >= 200809L
#include <sys/resource.h>

/* The peak resident memory of this process so far, in MiB (Criterion runs
 * every test in a process of its own, so this is the test's peak). */
static inline double peak_rss_mib(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

/* Under AddressSanitizer the resident size measures ASan (freed blocks wait
 * in its quarantine, its shadow adds an eighth), not the library: the bound
 * is checked in the release and clang builds only. */
#if defined(__SANITIZE_ADDRESS__)
#define TG_TEST_RSS_IS_MEANINGFUL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_TEST_RSS_IS_MEANINGFUL 0
#endif
#endif
#ifndef TG_TEST_RSS_IS_MEANINGFUL
#define TG_TEST_RSS_IS_MEANINGFUL 1
#endif

/* A fresh directory /tmp/<prefix>XXXXXX, its path written into dir. */
static inline char *make_scratch_dir(char *dir, size_t size, const char *prefix)
{
    snprintf(dir, size, "/tmp/%sXXXXXX", prefix);
    return mkdtemp(dir);
}

/* Removes dir and everything in it; 0 on success. */
static inline int remove_scratch_dir(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

/* The fixture of suites that write files: a one-thread context whose errors
 * are returned, not printed (the suites provoke them), and a fresh scratch
 * directory /tmp/<prefix>XXXXXX in dir. NULL when either cannot be made. */
static inline tg_ctx *scratch_fixture_setup(char *dir, size_t size, const char *prefix)
{
    tg_ctx *ctx = quiet_ctx();
    if (!ctx)
        return NULL;
    if (!make_scratch_dir(dir, size, prefix)) {
        tg_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Removes the fixture's directory and frees its context; 0 on success. */
static inline int scratch_fixture_teardown(tg_ctx *ctx, const char *dir)
{
    tg_ctx_free(ctx);
    return remove_scratch_dir(dir);
}
#endif

#endif
