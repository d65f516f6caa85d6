/* Checkpoints: parameters and optimizer state in a versioned binary file
 * (the format is documented in tapegrad/data.h).
 *
 * Save builds the whole file in memory, writes it to a temporary file beside
 * the target, fsyncs, renames over the target and fsyncs the directory.
 * Load reads the whole file and checks magic, version, length, CRC32 and every
 * record against the tensors given before it copies one value. */
#define _POSIX_C_SOURCE 200809L
#include "tapegrad/data.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "TGCKPT\r\n"
#define VERSION 1u
#define HEADER_BYTES 48
#define MAX_NAME 1024
#define FLAG_OPTIMIZER 1u

/* ---- little-endian encoding ------------------------------------------------ */

static void put(uint8_t **p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        (*p)[i] = (uint8_t)(v >> (8 * i));
    *p += bytes;
}

static uint64_t get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Formats a message into buf and returns buf. */
static const char *say(char *buf, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static const char *say(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return buf;
}

static const char *name_of(const tg_tensor *t)
{
    const char *n = tg_tensor_name(t);
    return n ? n : "";
}

static const char *dtype_name(int dtype) { return dtype == TG_F32 ? "f32" : dtype == TG_F64 ? "f64" : "?"; }

static size_t record_bytes(const tg_tensor *t)
{
    size_t w = tg_tensor_dtype(t) == TG_F32 ? 4 : 8;
    return 2 + strlen(name_of(t)) + 2 + 8 * (size_t)tg_tensor_rank(t) + w * (size_t)tg_tensor_size(t);
}

static uint8_t *put_record(uint8_t *p, const tg_tensor *t)
{
    const char *name = name_of(t);
    size_t len = strlen(name);
    put(&p, len, 2);
    memcpy(p, name, len);
    p += len;
    int rank = tg_tensor_rank(t);
    put(&p, (uint64_t)tg_tensor_dtype(t), 1);
    put(&p, (uint64_t)rank, 1);
    for (int i = 0; i < rank; i++)
        put(&p, (uint64_t)tg_tensor_shape(t)[i], 8);
    int64_t n = tg_tensor_size(t);
    if (tg_tensor_dtype(t) == TG_F32) {
        const float *v = tg_tensor_data_const(t);
        for (int64_t i = 0; i < n; i++) {
            uint32_t bits;
            memcpy(&bits, &v[i], 4);
            put(&p, bits, 4);
        }
    } else {
        const double *v = tg_tensor_data_const(t);
        for (int64_t i = 0; i < n; i++) {
            uint64_t bits;
            memcpy(&bits, &v[i], 8);
            put(&p, bits, 8);
        }
    }
    return p;
}

/* ---- temporaries ------------------------------------------------------------ */

/* A save writes <path>.tmp.<pid>.XXXXXX; a process killed mid-save leaves it
 * behind. The next save or load of the same path removes those whose
 * writer is gone: the exact name pattern of this target (so other targets'
 * files and other files are never touched) and a pid that no longer exists
 * (so a save running in another process is left alone; this process's own
 * pid too, as another thread may be saving). */
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

static void remove_stale_temps(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0, base_len = strlen(base);
    char *dir = malloc(dir_len + 2), *victim = malloc(strlen(path) + 300);
    DIR *d = NULL;
    if (dir && victim && base_len > 0) {
        memcpy(dir, path, dir_len);
        strcpy(dir + dir_len, dir_len ? "" : ".");
        d = opendir(dir);
    }
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

/* ---- save ------------------------------------------------------------------ */

static tg_status check_list(tg_ctx *ctx, const char *path, tg_params list, const char *what)
{
    if (list.count < 0 || (list.count > 0 && !list.items))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_checkpoint: %s: %s list with count %d and %s items", path, what,
                           list.count, list.items ? "" : "NULL");
    for (int i = 0; i < list.count; i++) {
        if (!list.items[i])
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_checkpoint: %s: %s %d is NULL", path, what, i);
        if (!tg_tensor_data_const(list.items[i])) /* freed or stale: reported as such */
            return tg_ctx_status(ctx) != TG_OK ? tg_ctx_status(ctx)
                                               : tg_ctx_fail(ctx, TG_ERR_FREED, "tg_checkpoint: %s: %s %d was freed",
                                                             path, what, i);
        if (strlen(name_of(list.items[i])) > MAX_NAME)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_checkpoint: %s: %s %d has a name of %zu bytes; expected <= %d",
                               path, what, i, strlen(name_of(list.items[i])), MAX_NAME);
    }
    return TG_OK;
}

/* Writes all of buf to fd; false with errno set on failure. */
static bool write_all(int fd, const uint8_t *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return false;
        }
        buf += w, n -= (size_t)w;
    }
    return true;
}

/* The path, the parameters and the optimizer's state (into *state), checked
 * before any file is touched. */
static tg_status check_lists(tg_ctx *ctx, const char *who, const char *path, tg_params params,
                             const tg_optimizer *opt, tg_params *state)
{
    if (!path)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: NULL path", who);
    *state = opt ? tg_optim_state(opt) : (tg_params){0, NULL};
    tg_status status = check_list(ctx, path, params, "parameter");
    return status == TG_OK ? check_list(ctx, path, *state, "optimizer state tensor") : status;
}

tg_status tg_checkpoint_save(tg_ctx *ctx, const char *path, tg_params params, const tg_optimizer *opt,
                             int64_t epoch)
{
    tg_params state = {0, NULL};
    tg_status status = check_lists(ctx, "tg_checkpoint_save", path, params, opt, &state);
    if (status != TG_OK)
        return status;
    remove_stale_temps(path);

    size_t payload = 0;
    for (int i = 0; i < params.count; i++)
        payload += record_bytes(params.items[i]);
    for (int i = 0; i < state.count; i++)
        payload += record_bytes(state.items[i]);
    size_t total = HEADER_BYTES + payload + 4;
    uint8_t *buf = malloc(total);
    if (!buf)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_checkpoint_save: %s: out of memory (%zu bytes)", path, total);
    uint8_t *p = buf;
    memcpy(p, MAGIC, 8);
    p += 8;
    put(&p, VERSION, 4);
    put(&p, opt ? FLAG_OPTIMIZER : 0, 4);
    put(&p, (uint64_t)params.count, 4);
    put(&p, (uint64_t)state.count, 4);
    put(&p, (uint64_t)epoch, 8);
    put(&p, opt ? (uint64_t)tg_optim_steps(opt) : 0, 8);
    put(&p, payload, 8);
    for (int i = 0; i < params.count; i++)
        p = put_record(p, params.items[i]);
    for (int i = 0; i < state.count; i++)
        p = put_record(p, state.items[i]);
    uint32_t crc = tg_crc32(0, buf, (size_t)(p - buf));
    put(&p, crc, 4);

    /* Temporary file in the same directory (rename is atomic within a file system). */
    size_t len = strlen(path);
    char *tmp = malloc(len + 40), *dir = malloc(len + 2);
    if (!tmp || !dir) {
        free(buf), free(tmp), free(dir);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_checkpoint_save: %s: out of memory", path);
    }
    snprintf(tmp, len + 40, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
    const char *slash = strrchr(path, '/');
    if (slash) {
        memcpy(dir, path, (size_t)(slash - path) + 1);
        dir[slash - path + 1] = 0;
    } else
        strcpy(dir, ".");

    const char *step = "mkstemp";
    int fd = mkstemp(tmp), e = 0;
    bool ok = fd >= 0;
    if (ok) {
        fchmod(fd, 0644); /* mkstemp makes 0600; a checkpoint is an ordinary file */
        if (!(ok = write_all(fd, buf, total)))
            step = "write";
        else if (!(ok = fsync(fd) == 0))
            step = "fsync";
        e = errno;
        if (close(fd) != 0 && ok)
            ok = false, step = "close", e = errno;
        if (ok && !(ok = rename(tmp, path) == 0))
            step = "rename", e = errno;
        if (!ok)
            unlink(tmp);
    } else
        e = errno;
    if (ok) { /* make the rename itself durable */
        int dfd = open(dir, O_RDONLY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    free(buf);
    free(dir);
    if (!ok) {
        status = tg_ctx_fail(ctx, TG_ERR_IO, "tg_checkpoint_save: %s: %s of %s failed: %s (the previous file, if "
                             "any, is unchanged)", path, step, tmp, strerror(e));
    }
    free(tmp);
    return status;
}

/* ---- load ------------------------------------------------------------------ */

typedef struct {
    const uint8_t *data; /* the record's values */
    uint8_t dtype;
} record;

static tg_status read_file(tg_ctx *ctx, const char *path, uint8_t **out, size_t *out_size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return tg_ctx_fail(ctx, TG_ERR_IO, "tg_checkpoint_load: cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return tg_ctx_fail(ctx, TG_ERR_IO, "tg_checkpoint_load: %s is not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_checkpoint_load: %s: out of memory (%zu bytes)", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int e = errno;
    bool err = ferror(f);
    fclose(f);
    if (err || got != n) {
        free(buf);
        return tg_ctx_fail(ctx, TG_ERR_IO, "tg_checkpoint_load: error reading %s: %s", path,
                           err ? strerror(e) : "the file shrank while being read");
    }
    *out = buf;
    *out_size = n;
    return TG_OK;
}

/* Parses the record at *p (before end) and checks it against t (NULL: any
 * record is fine, it is skipped). Returns an error message in detail, or NULL. */
static const char *parse_record(const uint8_t **p, const uint8_t *end, const tg_tensor *t, const char *what, int index,
                                record *rec, char *detail, size_t size)
{
    const uint8_t *q = *p;
    if (end - q < 2)
        return say(detail, size, "%s %d: record cut off at its name length", what, index);
    size_t len = (size_t)get(q, 2);
    q += 2;
    if (len > MAX_NAME || (size_t)(end - q) < len + 2)
        return say(detail, size, "%s %d: name of %zu bytes %s", what, index, len,
                        len > MAX_NAME ? "exceeds 1024" : "runs past the payload");
    const char *name = (const char *)q;
    q += len;
    uint8_t dtype = q[0], rank = q[1];
    q += 2;
    if (dtype > TG_F64 || rank > TG_MAX_RANK)
        return say(detail, size, "%s %d (\"%.*s\"): dtype code %u, rank %u; expected dtype 0 or 1 and rank <= %d",
                        what, index, (int)len, name, dtype, rank, TG_MAX_RANK);
    if ((size_t)(end - q) < 8 * (size_t)rank)
        return say(detail, size, "%s %d: dims run past the payload", what, index);
    int64_t shape[TG_MAX_RANK], count = 1;
    for (int i = 0; i < rank; i++, q += 8) {
        uint64_t d = get(q, 8);
        if (d > (uint64_t)INT32_MAX * 64 || (uint64_t)count > (uint64_t)INT64_MAX / 16 / (d ? d : 1))
            return say(detail, size, "%s %d: dim %d is %llu; too large", what, index, i, (unsigned long long)d);
        shape[i] = (int64_t)d;
        count *= (int64_t)d;
    }
    size_t bytes = (size_t)count * (dtype == TG_F32 ? 4 : 8);
    if ((size_t)(end - q) < bytes)
        return say(detail, size, "%s %d (\"%.*s\"): %zu bytes of values run past the payload", what, index,
                        (int)len, name, bytes);
    if (t) {
        char want[64], have[64];
        tg_shape_str(tg_tensor_rank(t), tg_tensor_shape(t), want, sizeof want);
        tg_shape_str(rank, shape, have, sizeof have);
        const char *tn = name_of(t);
        if (strlen(tn) != len || memcmp(tn, name, len) != 0 || (int)dtype != (int)tg_tensor_dtype(t) ||
            strcmp(want, have) != 0)
            return say(detail, size, "%s %d is \"%.*s\" %s %s in the file; expected \"%s\" %s %s", what, index,
                            (int)len, name, have, dtype_name(dtype), tn, want, dtype_name(tg_tensor_dtype(t)));
    }
    rec->data = q;
    rec->dtype = dtype;
    *p = q + bytes;
    return NULL;
}

static void copy_record(tg_tensor *t, const record *r)
{
    int64_t n = tg_tensor_size(t);
    if (r->dtype == TG_F32) {
        float *v = tg_tensor_data(t);
        for (int64_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)get(r->data + 4 * i, 4);
            memcpy(&v[i], &bits, 4);
        }
    } else {
        double *v = tg_tensor_data(t);
        for (int64_t i = 0; i < n; i++) {
            uint64_t bits = get(r->data + 8 * i, 8);
            memcpy(&v[i], &bits, 8);
        }
    }
}

tg_status tg_checkpoint_load(tg_ctx *ctx, const char *path, tg_params params, tg_optimizer *opt, int64_t *epoch)
{
    tg_params state = {0, NULL};
    tg_status status = check_lists(ctx, "tg_checkpoint_load", path, params, opt, &state);
    if (status != TG_OK)
        return status;
    remove_stale_temps(path);
    uint8_t *buf = NULL;
    size_t n = 0;
    if ((status = read_file(ctx, path, &buf, &n)) != TG_OK)
        return status;

    char detail[400] = "";
    const char *fail = NULL;
    record *recs = NULL;
    uint32_t n_params = 0, n_state = 0, flags = 0;
    if (n < 8 || memcmp(buf, MAGIC, 8) != 0)
        fail = n < 8 && memcmp(buf, MAGIC, n) == 0 ? "the file is shorter than its 8-byte magic (truncated)"
                                                    : "no \"TGCKPT\" magic: not a tapegrad checkpoint";
    else if (n < HEADER_BYTES + 4)
        fail = say(detail, sizeof detail, "%zu bytes, shorter than the %d-byte header and checksum (truncated)", n,
                        HEADER_BYTES + 4);
    else if (get(buf + 8, 4) != VERSION)
        fail = say(detail, sizeof detail, "format version %llu; this build reads version %u",
                        (unsigned long long)get(buf + 8, 4), VERSION);
    else if ((flags = (uint32_t)get(buf + 12, 4)) & ~FLAG_OPTIMIZER)
        fail = say(detail, sizeof detail, "flags 0x%x; expected only bit 0 (optimizer state)", flags);
    else if (get(buf + 40, 8) != n - HEADER_BYTES - 4)
        fail = say(detail, sizeof detail, "the header says %llu payload bytes, so %llu bytes in all; the file has "
                        "%zu (%s)", (unsigned long long)get(buf + 40, 8),
                        (unsigned long long)get(buf + 40, 8) + HEADER_BYTES + 4, n,
                        get(buf + 40, 8) > n - HEADER_BYTES - 4 ? "truncated" : "extra bytes");
    else if (tg_crc32(0, buf, n - 4) != get(buf + n - 4, 4))
        fail = say(detail, sizeof detail, "CRC32 of the contents is %08x; the file says %08llx (corrupt)",
                        tg_crc32(0, buf, n - 4), (unsigned long long)get(buf + n - 4, 4));
    else if ((n_state = (uint32_t)get(buf + 20, 4)) != 0 && !(flags & FLAG_OPTIMIZER))
        fail = say(detail, sizeof detail, "%u optimizer state tensors but no optimizer flag; expected 0", n_state);
    else if (((uint64_t)(n_params = (uint32_t)get(buf + 16, 4)) + n_state) * 4 > n - HEADER_BYTES - 4)
        /* Checked before anything is allocated for the records: a record
         * takes 4 bytes at least (name length, dtype, rank). */
        fail = say(detail, sizeof detail, "%u + %u records cannot fit in %zu payload bytes (4 bytes each at least)",
                   n_params, n_state, n - HEADER_BYTES - 4);
    else {
        if (n_params != (uint32_t)params.count)
            fail = say(detail, sizeof detail, "%u parameter tensors in the file; expected %d", n_params,
                            params.count);
        else if (opt && !(flags & FLAG_OPTIMIZER))
            fail = "the file holds no optimizer state; an optimizer was given to load it into";
        else if (opt && n_state != (uint32_t)state.count)
            fail = say(detail, sizeof detail, "%u optimizer state tensors in the file; the optimizer has %d "
                            "(another kind of optimizer?)", n_state, state.count);
        else if (!(recs = malloc(sizeof *recs * ((size_t)n_params + n_state + 1))))
            fail = "out of memory";
    }
    const uint8_t *p = buf + HEADER_BYTES, *end = buf + n - 4;
    for (uint32_t i = 0; !fail && i < n_params; i++)
        fail = parse_record(&p, end, params.items[i], "parameter", (int)i, &recs[i], detail, sizeof detail);
    for (uint32_t i = 0; !fail && i < n_state; i++)
        fail = parse_record(&p, end, opt ? state.items[i] : NULL, "optimizer state tensor", (int)i,
                            &recs[n_params + i], detail, sizeof detail);
    if (!fail && p != end)
        fail = say(detail, sizeof detail, "%zu bytes left after the last record", (size_t)(end - p));
    if (fail) {
        free(recs);
        free(buf);
        return tg_ctx_fail(ctx, strcmp(fail, "out of memory") == 0 ? TG_ERR_NOMEM : TG_ERR_FORMAT,
                           "tg_checkpoint_load: %s: %s", path, fail);
    }
    /* Everything checked: now, and only now, write. */
    for (uint32_t i = 0; i < n_params; i++)
        copy_record(params.items[i], &recs[i]);
    if (opt) {
        for (uint32_t i = 0; i < n_state; i++)
            copy_record(state.items[i], &recs[n_params + i]);
        tg_optim_set_steps(opt, (int64_t)get(buf + 32, 8));
    }
    if (epoch)
        *epoch = (int64_t)get(buf + 24, 8);
    free(recs);
    free(buf);
    return TG_OK;
}
