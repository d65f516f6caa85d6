/* Shared by the libFuzzer harnesses of tools/fuzz: a context that keeps
 * errors quiet, a scratch directory for readers that take a path, and a
 * main() that replays files when the harness is built without libFuzzer
 * (the fuzz_regressions ctest: every seed and every input that ever failed,
 * run under the normal and sanitizer builds). */
#ifndef TAPEGRAD_FUZZ_H
#define TAPEGRAD_FUZZ_H

#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tapegrad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline tg_ctx *fuzz_ctx(void)
{
    static tg_ctx *ctx;
    if (!ctx) {
        ctx = tg_ctx_new(1);
        tg_ctx_set_error_handler(ctx, NULL, NULL);
    }
    tg_ctx_clear_error(ctx);
    return ctx;
}

/* A file of this process in a private directory holding data; its path. */
static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
    static char dir[64], path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/tg_fuzz_XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(dir))
            abort();
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    return path;
}

#ifdef TAPEGRAD_FUZZ_REPLAY
/* Replays every file named, or every file in every directory named. */
static int replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "cannot stat %s\n", path);
        return 1;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        int failures = 0;
        for (struct dirent *e; d && (e = readdir(d)) != NULL;)
            if (e->d_name[0] != '.') {
                char sub[4096];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                failures += replay_path(sub);
            }
        if (d)
            closedir(d);
        return failures;
    }
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    size_t n = f && buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    if (f)
        fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int failures = 0;
    for (int i = 1; i < argc; i++)
        failures += replay_path(argv[i]);
    tg_ctx_free(fuzz_ctx());
    printf("%s: replayed %d paths, %d missing\n", argv[0], argc - 1, failures);
    return failures != 0;
}
#endif

#endif
