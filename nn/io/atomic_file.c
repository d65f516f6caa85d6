/* Writing a file atomically: a temporary beside the target, fsync, rename,
 * fsync of the directory (see atomic_file.h). */
#define _POSIX_C_SOURCE 200809L
#include "nn/io/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* name is <base>.tmp.<pid>.<6 letters or digits> and pid is gone: a
 * temporary a killed writer left (this process's own pid never matches, as
 * another thread may be writing). */
static bool stale_temp(const char *name, const char *base, size_t base_len)
{
    if (strncmp(name, base, base_len) != 0 || strncmp(name + base_len, ".tmp.", 5) != 0)
        return false;
    const char *p = name + base_len + 5;
    long pid = 0;
    for (; *p >= '0' && *p <= '9' && pid < 1L << 30; p++)
        pid = pid * 10 + (*p - '0');
    if (pid <= 0 || *p != '.' || strlen(p + 1) != 6)
        return false;
    for (const char *q = p + 1; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9')))
            return false;
    return (pid_t)pid != getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* The directory part of path ("." when there is none), malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) + 1 : 0;
    char *dir = malloc(n + 2);
    if (dir) {
        memcpy(dir, path, n);
        strcpy(dir + n, n ? "" : ".");
    }
    return dir;
}

void tg_atomic_remove_stale(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0, base_len = strlen(base);
    char *dir = dir_of(path), *victim = malloc(strlen(path) + 300);
    DIR *d = dir && victim && base_len > 0 ? opendir(dir) : NULL;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        if (strlen(e->d_name) < base_len + 256 && stale_temp(e->d_name, base, base_len)) {
            memcpy(victim, path, dir_len);
            strcpy(victim + dir_len, e->d_name);
            unlink(victim);
        }
    if (d)
        closedir(d);
    free(dir);
    free(victim);
}

bool tg_atomic_open(tg_atomic_file *f, const char *path)
{
    f->fd = -1;
    f->path = path;
    f->used = 0;
    f->err = 0;
    f->step = "malloc";
    size_t len = strlen(path);
    if (!(f->tmp = malloc(len + 40))) {
        f->err = ENOMEM;
        return false;
    }
    tg_atomic_remove_stale(path);
    snprintf(f->tmp, len + 40, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
    f->step = "mkstemp";
    if ((f->fd = mkstemp(f->tmp)) < 0) {
        f->err = errno;
        free(f->tmp);
        f->tmp = NULL;
        return false;
    }
    fchmod(f->fd, 0644); /* mkstemp makes 0600; the result is an ordinary file */
    return true;
}

static bool write_all(tg_atomic_file *f, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            f->step = "write";
            f->err = w == 0 ? EIO : errno;
            return false;
        }
        p += w, n -= (size_t)w;
    }
    return true;
}

bool tg_atomic_write(tg_atomic_file *f, const void *data, size_t n)
{
    const uint8_t *p = data;
    if (f->used + n > sizeof f->buf) {
        if (!write_all(f, f->buf, f->used))
            return false;
        f->used = 0;
        if (n >= sizeof f->buf)
            return write_all(f, p, n);
    }
    memcpy(f->buf + f->used, p, n);
    f->used += n;
    return true;
}

void tg_atomic_abandon(tg_atomic_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp)
        unlink(f->tmp);
    free(f->tmp);
    f->tmp = NULL;
}

bool tg_atomic_commit(tg_atomic_file *f)
{
    bool ok = write_all(f, f->buf, f->used);
    if (ok && fsync(f->fd) != 0)
        ok = false, f->step = "fsync", f->err = errno;
    int fd = f->fd;
    f->fd = -1;
    if (close(fd) != 0 && ok)
        ok = false, f->step = "close", f->err = errno;
    if (ok && rename(f->tmp, f->path) != 0)
        ok = false, f->step = "rename", f->err = errno;
    if (!ok) { /* the temporary goes; its name stays for the message until tg_atomic_abandon */
        unlink(f->tmp);
        return false;
    }
    char *dir = dir_of(f->path);
    int dfd = dir ? open(dir, O_RDONLY) : -1;
    if (dfd >= 0) { /* make the rename itself durable */
        fsync(dfd);
        close(dfd);
    }
    free(dir);
    free(f->tmp);
    f->tmp = NULL;
    return true;
}
