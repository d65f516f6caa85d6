/* Checkpoints: parameters and optimizer state in a versioned binary file
 * (the format is documented in tapegrad/checkpoint.h).
 *
 * Save builds the whole file in memory, writes it to a temporary file beside
 * the target, fsyncs, renames over the target and fsyncs the directory.
 * Load reads the whole file and checks magic, version, length, CRC32 and every
 * record against the tensors given before it copies one value. */
#define _POSIX_C_SOURCE 200809L
#include "tapegrad/checkpoint.h"
#include "tapegrad/data.h" /* tg_crc32, tg_file_read */
#include "nn/io/atomic_file.h"
#include "nn/io/bytes.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "TGCKPT\r\n"
#define VERSION 1u       /* what tg_checkpoint_save writes: no spec */
#define VERSION_SPEC 2u  /* what tg_checkpoint_save_spec writes: version 1 and a spec block */
#define HEADER_BYTES 48
#define MAX_NAME 1024
#define MAX_SPEC (1u << 20)
#define FLAG_OPTIMIZER 1u
#define FLAG_SPEC 2u     /* version 2: the payload opens with u32 length and the spec text */

/* ---- little-endian encoding ------------------------------------------------ */

static void put(uint8_t **p, uint64_t v, int bytes)
{
    tg_le_put(*p, v, bytes);
    *p += bytes;
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

/* ---- save ------------------------------------------------------------------ */

static tg_status check_list(tg_ctx *ctx, const char *who, const char *path, tg_params list, const char *what)
{
    if (list.count < 0 || (list.count > 0 && !list.items))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: %s: %s list with count %d and %s items", who, path, what,
                           list.count, list.items ? "" : "NULL");
    for (int i = 0; i < list.count; i++) {
        if (!list.items[i])
            return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: %s: %s %d is NULL", who, path, what, i);
        if (!tg_tensor_data_const(list.items[i])) /* freed or stale: reported as such */
            return tg_ctx_status(ctx) != TG_OK ? tg_ctx_status(ctx)
                                               : tg_ctx_fail(ctx, TG_ERR_FREED, "%s: %s: %s %d was freed", who,
                                                             path, what, i);
        if (strlen(name_of(list.items[i])) > MAX_NAME)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: %s: %s %d has a name of %zu bytes; expected <= %d",
                               who, path, what, i, strlen(name_of(list.items[i])), MAX_NAME);
    }
    return TG_OK;
}

/* The path, the parameters and the optimizer's state (into *state), checked
 * before any file is touched. */
static tg_status check_lists(tg_ctx *ctx, const char *who, const char *path, tg_params params,
                             const tg_optimizer *opt, tg_params *state)
{
    if (!path)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: NULL path", who);
    *state = opt ? tg_optim_state(opt) : (tg_params){0, NULL};
    tg_status status = check_list(ctx, who, path, params, "parameter");
    return status == TG_OK ? check_list(ctx, who, path, *state, "optimizer state tensor") : status;
}

/* Writes the file: version 1, or version 2 with a spec block when spec is not NULL. */
static tg_status save_file(tg_ctx *ctx, const char *who, const char *path, const char *spec, tg_params params,
                           const tg_optimizer *opt, int64_t epoch)
{
    tg_params state = {0, NULL};
    tg_status status = check_lists(ctx, who, path, params, opt, &state);
    if (status != TG_OK)
        return status;
    size_t spec_len = spec ? strlen(spec) : 0;
    if (spec_len > MAX_SPEC)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: %s: a spec of %zu bytes; expected <= %u", who, path, spec_len,
                           MAX_SPEC);

    size_t payload = spec ? 4 + spec_len : 0;
    for (int i = 0; i < params.count; i++)
        payload += record_bytes(params.items[i]);
    for (int i = 0; i < state.count; i++)
        payload += record_bytes(state.items[i]);
    size_t total = HEADER_BYTES + payload + 4;
    uint8_t *buf = malloc(total);
    if (!buf)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: %s: out of memory (%zu bytes)", who, path, total);
    uint8_t *p = buf;
    memcpy(p, MAGIC, 8);
    p += 8;
    put(&p, spec ? VERSION_SPEC : VERSION, 4);
    put(&p, (opt ? FLAG_OPTIMIZER : 0) | (spec ? FLAG_SPEC : 0), 4);
    put(&p, (uint64_t)params.count, 4);
    put(&p, (uint64_t)state.count, 4);
    put(&p, (uint64_t)epoch, 8);
    put(&p, opt ? (uint64_t)tg_optim_steps(opt) : 0, 8);
    put(&p, payload, 8);
    if (spec) {
        put(&p, spec_len, 4);
        memcpy(p, spec, spec_len);
        p += spec_len;
    }
    for (int i = 0; i < params.count; i++)
        p = put_record(p, params.items[i]);
    for (int i = 0; i < state.count; i++)
        p = put_record(p, state.items[i]);
    uint32_t crc = tg_crc32(0, buf, (size_t)(p - buf));
    put(&p, crc, 4);

    tg_atomic_file *file = malloc(sizeof *file); /* 64 KB of buffer: not on the stack */
    bool ok = file && tg_atomic_open(file, path) && tg_atomic_write(file, buf, total) && tg_atomic_commit(file);
    free(buf);
    if (!file)
        status = tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: %s: out of memory", who, path);
    else if (!ok) {
        status = tg_ctx_fail(ctx, TG_ERR_IO, "%s: %s: %s of %s failed: %s (the previous file, if any, is unchanged)",
                             who, path, file->step, file->tmp ? file->tmp : "a temporary file", strerror(file->err));
        tg_atomic_abandon(file);
    }
    free(file);
    return status;
}

tg_status tg_checkpoint_save(tg_ctx *ctx, const char *path, tg_params params, const tg_optimizer *opt,
                             int64_t epoch)
{
    return save_file(ctx, "tg_checkpoint_save", path, NULL, params, opt, epoch);
}

tg_status tg_checkpoint_save_spec(tg_ctx *ctx, const char *path, const char *spec, tg_params params,
                                  const tg_optimizer *opt, int64_t epoch)
{
    if (!ctx)
        return TG_ERR_ARG;
    if (!spec)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_checkpoint_save_spec: %s: spec is NULL", path ? path : "(NULL path)");
    return save_file(ctx, "tg_checkpoint_save_spec", path, spec, params, opt, epoch);
}

/* ---- load ------------------------------------------------------------------ */

typedef struct {
    const uint8_t *data; /* the record's values */
    uint8_t dtype;
    const char *name;    /* not NUL-terminated: name_len bytes */
    size_t name_len;
    int rank;
    int64_t shape[TG_MAX_RANK];
} record;

static tg_status read_file(tg_ctx *ctx, const char *who, const char *path, uint8_t **out, size_t *out_size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return tg_ctx_fail(ctx, TG_ERR_IO, "%s: cannot open %s: %s", who, path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return tg_ctx_fail(ctx, TG_ERR_IO, "%s: %s is not a regular file", who, path);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: %s: out of memory (%zu bytes)", who, path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int e = errno;
    bool err = ferror(f);
    fclose(f);
    if (err || got != n) {
        free(buf);
        return tg_ctx_fail(ctx, TG_ERR_IO, "%s: error reading %s: %s", who, path,
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
        return tg_say(detail, size, "%s %d: record cut off at its name length", what, index);
    size_t len = (size_t)tg_le_get(q, 2);
    q += 2;
    if (len > MAX_NAME || (size_t)(end - q) < len + 2)
        return tg_say(detail, size, "%s %d: name of %zu bytes %s", what, index, len,
                        len > MAX_NAME ? "exceeds 1024" : "runs past the payload");
    const char *name = (const char *)q;
    q += len;
    uint8_t dtype = q[0], rank = q[1];
    q += 2;
    if (dtype > TG_F64 || rank > TG_MAX_RANK)
        return tg_say(detail, size, "%s %d (\"%.*s\"): dtype code %u, rank %u; expected dtype 0 or 1 and rank <= %d",
                        what, index, (int)len, name, dtype, rank, TG_MAX_RANK);
    if ((size_t)(end - q) < 8 * (size_t)rank)
        return tg_say(detail, size, "%s %d: dims run past the payload", what, index);
    int64_t shape[TG_MAX_RANK], count = 1;
    for (int i = 0; i < rank; i++, q += 8) {
        uint64_t d = tg_le_get(q, 8);
        if (d > (uint64_t)INT32_MAX * 64 || (uint64_t)count > (uint64_t)INT64_MAX / 16 / (d ? d : 1))
            return tg_say(detail, size, "%s %d: dim %d is %llu; too large", what, index, i, (unsigned long long)d);
        shape[i] = (int64_t)d;
        count *= (int64_t)d;
    }
    size_t bytes = (size_t)count * (dtype == TG_F32 ? 4 : 8);
    if ((size_t)(end - q) < bytes)
        return tg_say(detail, size, "%s %d (\"%.*s\"): %zu bytes of values run past the payload", what, index,
                        (int)len, name, bytes);
    if (t) {
        char want[64], have[64];
        tg_shape_str(tg_tensor_rank(t), tg_tensor_shape(t), want, sizeof want);
        tg_shape_str(rank, shape, have, sizeof have);
        const char *tn = name_of(t);
        if (strlen(tn) != len || memcmp(tn, name, len) != 0 || (int)dtype != (int)tg_tensor_dtype(t) ||
            strcmp(want, have) != 0)
            return tg_say(detail, size, "%s %d is \"%.*s\" %s %s in the file; expected \"%s\" %s %s", what, index,
                            (int)len, name, have, dtype_name(dtype), tn, want, dtype_name(tg_tensor_dtype(t)));
    }
    rec->data = q;
    rec->dtype = dtype;
    rec->name = name;
    rec->name_len = len;
    rec->rank = rank;
    memcpy(rec->shape, shape, sizeof shape);
    *p = q + bytes;
    return NULL;
}

static uint32_t flags_allowed(uint32_t version)
{
    return version == VERSION_SPEC ? FLAG_OPTIMIZER | FLAG_SPEC : FLAG_OPTIMIZER;
}

/* Steps *p over the spec block (u32 length, text), giving the text and its
 * length when asked. Returns an error message in detail, or NULL. */
static const char *skip_spec(const uint8_t **p, const uint8_t *end, const char **text, size_t *len, char *detail,
                             size_t size)
{
    if (end - *p < 4)
        return tg_say(detail, size, "the spec block is cut off at its length");
    size_t n = (size_t)tg_le_get(*p, 4);
    if (n > MAX_SPEC || (size_t)(end - *p - 4) < n)
        return tg_say(detail, size, "a spec of %zu bytes %s", n,
                      n > MAX_SPEC ? "exceeds 1 MiB" : "runs past the payload");
    if (memchr(*p + 4, 0, n))
        return tg_say(detail, size, "the spec text holds a NUL byte");
    if (text)
        *text = (const char *)*p + 4;
    if (len)
        *len = n;
    *p += 4 + n;
    return NULL;
}

static void copy_record(tg_tensor *t, const record *r)
{
    int64_t n = tg_tensor_size(t);
    if (r->dtype == TG_F32) {
        float *v = tg_tensor_data(t);
        for (int64_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)tg_le_get(r->data + 4 * i, 4);
            memcpy(&v[i], &bits, 4);
        }
    } else {
        double *v = tg_tensor_data(t);
        for (int64_t i = 0; i < n; i++) {
            uint64_t bits = tg_le_get(r->data + 8 * i, 8);
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
    tg_atomic_remove_stale(path); /* what a save killed mid-way left */
    uint8_t *buf = NULL;
    size_t n = 0;
    if ((status = read_file(ctx, "tg_checkpoint_load", path, &buf, &n)) != TG_OK)
        return status;

    char detail[400] = "";
    const char *fail = NULL;
    record *recs = NULL;
    uint32_t n_params = 0, n_state = 0, flags = 0;
    if (n < 8 || memcmp(buf, MAGIC, 8) != 0)
        fail = n < 8 && memcmp(buf, MAGIC, n) == 0 ? "the file is shorter than its 8-byte magic (truncated)"
                                                    : "no \"TGCKPT\" magic: not a tapegrad checkpoint";
    else if (n < HEADER_BYTES + 4)
        fail = tg_say(detail, sizeof detail, "%zu bytes, shorter than the %d-byte header and checksum (truncated)", n,
                        HEADER_BYTES + 4);
    else if (tg_le_get(buf + 8, 4) != VERSION && tg_le_get(buf + 8, 4) != VERSION_SPEC)
        fail = tg_say(detail, sizeof detail, "format version %llu; this build reads versions %u and %u",
                        (unsigned long long)tg_le_get(buf + 8, 4), VERSION, VERSION_SPEC);
    else if ((flags = (uint32_t)tg_le_get(buf + 12, 4)) & ~flags_allowed((uint32_t)tg_le_get(buf + 8, 4)))
        fail = tg_say(detail, sizeof detail, "flags 0x%x; expected only bit 0 (optimizer state)%s", flags,
                      tg_le_get(buf + 8, 4) == VERSION_SPEC ? " and bit 1 (spec)" : "");
    else if (tg_le_get(buf + 40, 8) != n - HEADER_BYTES - 4)
        fail = tg_say(detail, sizeof detail, "the header says %llu payload bytes, so %llu bytes in all; the file has "
                        "%zu (%s)", (unsigned long long)tg_le_get(buf + 40, 8),
                        (unsigned long long)tg_le_get(buf + 40, 8) + HEADER_BYTES + 4, n,
                        tg_le_get(buf + 40, 8) > n - HEADER_BYTES - 4 ? "truncated" : "extra bytes");
    else if (tg_crc32(0, buf, n - 4) != tg_le_get(buf + n - 4, 4))
        fail = tg_say(detail, sizeof detail, "CRC32 of the contents is %08x; the file says %08llx (corrupt)",
                        tg_crc32(0, buf, n - 4), (unsigned long long)tg_le_get(buf + n - 4, 4));
    else if ((n_state = (uint32_t)tg_le_get(buf + 20, 4)) != 0 && !(flags & FLAG_OPTIMIZER))
        fail = tg_say(detail, sizeof detail, "%u optimizer state tensors but no optimizer flag; expected 0", n_state);
    else if (((uint64_t)(n_params = (uint32_t)tg_le_get(buf + 16, 4)) + n_state) * 4 > n - HEADER_BYTES - 4)
        /* Checked before anything is allocated for the records: a record
         * takes 4 bytes at least (name length, dtype, rank). */
        fail = tg_say(detail, sizeof detail, "%u + %u records cannot fit in %zu payload bytes (4 bytes each at least)",
                      n_params, n_state, n - HEADER_BYTES - 4);
    else {
        if (n_params != (uint32_t)params.count)
            fail = tg_say(detail, sizeof detail, "%u parameter tensors in the file; expected %d", n_params,
                            params.count);
        else if (opt && !(flags & FLAG_OPTIMIZER))
            fail = "the file holds no optimizer state; an optimizer was given to load it into";
        else if (opt && n_state != (uint32_t)state.count)
            fail = tg_say(detail, sizeof detail, "%u optimizer state tensors in the file; the optimizer has %d "
                            "(another kind of optimizer?)", n_state, state.count);
        else if (!(recs = malloc(sizeof *recs * ((size_t)n_params + n_state + 1))))
            fail = "out of memory";
    }
    const uint8_t *p = buf + HEADER_BYTES, *end = buf + n - 4;
    if (!fail && (flags & FLAG_SPEC))
        fail = skip_spec(&p, end, NULL, NULL, detail, sizeof detail);
    for (uint32_t i = 0; !fail && i < n_params; i++)
        fail = parse_record(&p, end, params.items[i], "parameter", (int)i, &recs[i], detail, sizeof detail);
    for (uint32_t i = 0; !fail && i < n_state; i++)
        fail = parse_record(&p, end, opt ? state.items[i] : NULL, "optimizer state tensor", (int)i,
                            &recs[n_params + i], detail, sizeof detail);
    if (!fail && p != end)
        fail = tg_say(detail, sizeof detail, "%zu bytes left after the last record", (size_t)(end - p));
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
        tg_optim_set_steps(opt, (int64_t)tg_le_get(buf + 32, 8));
    }
    if (epoch)
        *epoch = (int64_t)tg_le_get(buf + 24, 8);
    free(recs);
    free(buf);
    return TG_OK;
}

/* ---- reading a file without a model: its spec, its contents ---------------- */

/* Magic, version, flags and length of the file in buf; *crc_ok tells whether
 * the CRC32 matches (a mismatch is not a failure here). Returns an error
 * message in detail, or NULL. */
static const char *check_frame(const uint8_t *buf, size_t n, uint32_t *flags, bool *crc_ok, char *detail,
                               size_t size)
{
    if (n < 8 || memcmp(buf, MAGIC, 8) != 0)
        return "no \"TGCKPT\" magic: not a tapegrad checkpoint (or truncated)";
    if (n < HEADER_BYTES + 4)
        return tg_say(detail, size, "%zu bytes, shorter than the %d-byte header and checksum (truncated)", n,
                      HEADER_BYTES + 4);
    uint32_t version = (uint32_t)tg_le_get(buf + 8, 4);
    if (version != VERSION && version != VERSION_SPEC)
        return tg_say(detail, size, "format version %u; this build reads versions %u and %u", version, VERSION,
                      VERSION_SPEC);
    if ((*flags = (uint32_t)tg_le_get(buf + 12, 4)) & ~flags_allowed(version))
        return tg_say(detail, size, "flags 0x%x are not valid for version %u", *flags, version);
    if (tg_le_get(buf + 40, 8) != n - HEADER_BYTES - 4)
        return tg_say(detail, size, "the header says %llu payload bytes; the file holds %zu",
                      (unsigned long long)tg_le_get(buf + 40, 8), n - HEADER_BYTES - 4);
    *crc_ok = tg_crc32(0, buf, n - 4) == tg_le_get(buf + n - 4, 4);
    return NULL;
}

/* With flags' spec bit: the spec block at *p (advanced past it) as a new
 * NUL-terminated string in *spec; without: *spec stays NULL. NULL, or what is
 * wrong. */
static const char *read_spec_block(const uint8_t **p, const uint8_t *end, uint32_t flags, char **spec, char *detail,
                                   size_t size)
{
    const char *text = NULL;
    size_t len = 0;
    const char *fail = flags & FLAG_SPEC ? skip_spec(p, end, &text, &len, detail, size) : NULL;
    if (fail || !text)
        return fail;
    if (!(*spec = malloc(len + 1)))
        return "out of memory";
    memcpy(*spec, text, len);
    (*spec)[len] = '\0';
    return NULL;
}

tg_status tg_checkpoint_read_spec(tg_ctx *ctx, const char *path, char **spec)
{
    if (spec)
        *spec = NULL;
    if (!ctx)
        return TG_ERR_ARG;
    if (!path || !spec)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_checkpoint_read_spec: %s is NULL", path ? "spec" : "path");
    uint8_t *buf = NULL;
    size_t n = 0;
    tg_status status = read_file(ctx, "tg_checkpoint_read_spec", path, &buf, &n);
    if (status != TG_OK)
        return status;
    char detail[400];
    uint32_t flags = 0;
    bool crc_ok = false;
    const char *fail = check_frame(buf, n, &flags, &crc_ok, detail, sizeof detail);
    if (!fail && !crc_ok)
        fail = "the CRC32 of the contents does not match the file's (corrupt)";
    const uint8_t *p = buf + HEADER_BYTES;
    if (!fail)
        fail = read_spec_block(&p, buf + n - 4, flags, spec, detail, sizeof detail);
    free(buf);
    if (fail)
        return tg_ctx_fail(ctx, TG_ERR_FORMAT, "tg_checkpoint_read_spec: %s: %s", path, fail);
    return TG_OK;
}

void tg_checkpoint_info_free(tg_checkpoint_info *info)
{
    if (!info)
        return;
    for (int i = 0; info->tensors && i < info->n_params + info->n_state; i++)
        tg_tensor_free(info->tensors[i]);
    free(info->tensors);
    free(info->spec);
    *info = (tg_checkpoint_info){0};
}

tg_status tg_checkpoint_inspect(tg_ctx *ctx, const char *path, tg_checkpoint_info *info)
{
    if (!ctx)
        return TG_ERR_ARG;
    if (!path || !info)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_checkpoint_inspect: %s is NULL", path ? "info" : "path");
    *info = (tg_checkpoint_info){0};
    uint8_t *buf = NULL;
    size_t n = 0;
    tg_status status = read_file(ctx, "tg_checkpoint_inspect", path, &buf, &n);
    if (status != TG_OK)
        return status;
    char detail[400];
    uint32_t flags = 0;
    bool crc_ok = false;
    const char *fail = check_frame(buf, n, &flags, &crc_ok, detail, sizeof detail);
    const uint8_t *p = buf + HEADER_BYTES, *end = buf + n - 4;
    if (!fail) {
        info->version = (uint32_t)tg_le_get(buf + 8, 4);
        info->has_optimizer = flags & FLAG_OPTIMIZER;
        info->epoch = (int64_t)tg_le_get(buf + 24, 8);
        info->steps = (int64_t)tg_le_get(buf + 32, 8);
        info->crc_stored = (uint32_t)tg_le_get(buf + n - 4, 4);
        info->crc_computed = tg_crc32(0, buf, n - 4);
        uint64_t counts = tg_le_get(buf + 16, 4) + tg_le_get(buf + 20, 4);
        if (counts * 4 > (uint64_t)(end - p)) /* a record takes 4 bytes at least */
            fail = tg_say(detail, sizeof detail, "%llu records cannot fit in %zu payload bytes",
                          (unsigned long long)counts, (size_t)(end - p));
        else if (!(info->tensors = calloc((size_t)counts + 1, sizeof *info->tensors)))
            fail = "out of memory";
    }
    if (!fail)
        fail = read_spec_block(&p, end, flags, &info->spec, detail, sizeof detail);
    uint32_t n_params = fail ? 0 : (uint32_t)tg_le_get(buf + 16, 4);
    uint32_t n_state = fail ? 0 : (uint32_t)tg_le_get(buf + 20, 4);
    for (uint32_t i = 0; !fail && i < n_params + n_state; i++) {
        record rec;
        bool is_param = i < n_params;
        fail = parse_record(&p, end, NULL, is_param ? "parameter" : "optimizer state tensor",
                            (int)(is_param ? i : i - n_params), &rec, detail, sizeof detail);
        if (fail)
            break;
        tg_tensor *t = tg_tensor_new(ctx, rec.dtype == TG_F32 ? TG_F32 : TG_F64, rec.rank, rec.shape);
        char name[MAX_NAME + 1];
        if (!t) {
            fail = "a tensor could not be made (out of memory?)";
            break;
        }
        memcpy(name, rec.name, rec.name_len);
        name[rec.name_len] = '\0';
        tg_tensor_set_name(t, name);
        copy_record(t, &rec);
        info->tensors[i] = t;
        if (is_param)
            info->n_params++;
        else
            info->n_state++;
    }
    if (!fail && p != end)
        fail = tg_say(detail, sizeof detail, "%zu bytes left after the last record", (size_t)(end - p));
    free(buf);
    if (fail) {
        tg_checkpoint_info_free(info);
        return tg_ctx_fail(ctx, TG_ERR_FORMAT, "tg_checkpoint_inspect: %s: %s", path, fail);
    }
    return TG_OK;
}
