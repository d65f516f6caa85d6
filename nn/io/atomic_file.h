/* nn/io/atomic_file.h: writing a file so that readers see the old one or the
 * whole new one, never a part. Internal: not part of the public API.
 *
 * tg_atomic_open makes <path>.tmp.<pid>.XXXXXX beside path (rename is atomic
 * within one file system); tg_atomic_write appends through a buffer;
 * tg_atomic_commit flushes, fsyncs, closes and renames it over path, then
 * fsyncs the directory so that the rename itself survives a crash. After a failure, step
 * names the call that failed and err its errno. The name pattern is the
 * checkpoint writer's, and tg_atomic_open removes temporaries of this path
 * whose writer process is gone (killed mid-save), no other file. */
#ifndef TAPEGRAD_NN_IO_ATOMIC_FILE_H
#define TAPEGRAD_NN_IO_ATOMIC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int fd;
    char *tmp;         /* the temporary's path */
    const char *path;  /* the target (the caller's string) */
    const char *step;  /* what failed: "mkstemp", "write", "fsync", "close", "rename" */
    int err;           /* its errno */
    size_t used;
    uint8_t buf[1 << 16];
} tg_atomic_file;

/* Removes the temporaries of path that a writer killed mid-save left (its
 * process gone); tg_atomic_open does it too. */
void tg_atomic_remove_stale(const char *path);
/* false on failure (step, err set; nothing to abandon). */
bool tg_atomic_open(tg_atomic_file *f, const char *path);
bool tg_atomic_write(tg_atomic_file *f, const void *data, size_t n);
/* false on failure: the temporary is removed (tmp still names it) and path
 * is untouched; call tg_atomic_abandon then. */
bool tg_atomic_commit(tg_atomic_file *f);
/* Closes and removes the temporary and frees its name: after a failed
 * write or commit, or for a write that is given up. */
void tg_atomic_abandon(tg_atomic_file *f);

#endif
