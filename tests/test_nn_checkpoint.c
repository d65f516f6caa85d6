/* Checkpoints: bit-exact round trips (float32 and float64, with Adam and
 * momentum state, step count and epoch); every prefix of a file, every
 * flipped byte, a wrong magic, version, count, name, dtype or shape, and a
 * missing or different optimizer state are rejected with the model and the
 * optimizer untouched; a save that fails (file size limit hit mid-write, a
 * directory that does not exist) leaves the previous checkpoint whole and no
 * temporary file behind; a header whose counts cannot fit in the file is
 * refused before anything is allocated; temporaries left by a killed save are
 * removed by the next save or load of the same file, and nothing else is. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tapegrad.h"
#include "tests/support.h"

static tg_ctx *ctx;
static char dir[64];
static char path[128];

static void setup(void)
{
    cr_assert_not_null(ctx = scratch_fixture_setup(dir, sizeof dir, "tg_ckpt_"));
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
}

static void teardown(void) { cr_expect_eq(scratch_fixture_teardown(ctx, dir), 0); }

TestSuite(nn_checkpoint, .init = setup, .fini = teardown);

typedef struct {
    tg_mlp *mlp;
    tg_optimizer *opt;
} model;

/* An MLP with widths w0-w1-w2, trained a few Adam (or momentum) steps on
 * random data so that the parameters and the state are all non-trivial. */
static model make_model(tg_dtype dtype, int64_t w0, int64_t w1, int64_t w2, uint64_t seed, bool adam, int steps)
{
    tg_rng rng = tg_rng_seed(seed);
    const int64_t widths[] = {w0, w1, w2};
    const tg_activation acts[] = {TG_ACT_TANH, TG_ACT_NONE};
    model m;
    m.mlp = tg_mlp_new(ctx, dtype, 2, widths, acts, TG_INIT_XAVIER, &rng);
    cr_assert_not_null(m.mlp);
    tg_params p = tg_mlp_params(m.mlp);
    m.opt = adam ? tg_optim_adam_new(p, 0.01, 0.9, 0.999, 1e-8) : tg_optim_momentum_new(p, 0.01, 0.9);
    cr_assert_not_null(m.opt);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, dtype, TG_SHAPE(5, w0), 0, 1);
    tg_tensor *y = tg_tensor_randn(ctx, &rng, dtype, TG_SHAPE(5, w2), 0, 1);
    for (int s = 0; s < steps; s++) {
        tg_optim_zero_grad(m.opt);
        cr_assert_eq(tg_backward(tg_loss_mse(tg_mlp_forward(m.mlp, x), y)), TG_OK);
        cr_assert_eq(tg_optim_step(m.opt), TG_OK);
        tg_tape_reset(ctx);
    }
    tg_tensor_free(x);
    tg_tensor_free(y);
    return m;
}

static void free_model(model m)
{
    tg_optim_free(m.opt);
    tg_mlp_free(m.mlp);
}

/* A byte image of every parameter and state value and the step count. */
typedef struct {
    uint8_t *bytes;
    size_t n;
} snapshot;

static snapshot take_snapshot(model m)
{
    tg_params lists[2] = {tg_mlp_params(m.mlp), tg_optim_state(m.opt)};
    size_t n = sizeof(int64_t);
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < lists[l].count; i++)
            n += (size_t)tg_tensor_size(lists[l].items[i]) * (tg_tensor_dtype(lists[l].items[i]) == TG_F32 ? 4 : 8);
    snapshot s = {malloc(n), n};
    int64_t steps = tg_optim_steps(m.opt);
    memcpy(s.bytes, &steps, sizeof steps);
    size_t at = sizeof steps;
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < lists[l].count; i++) {
            tg_tensor *t = lists[l].items[i];
            size_t b = (size_t)tg_tensor_size(t) * (tg_tensor_dtype(t) == TG_F32 ? 4 : 8);
            memcpy(s.bytes + at, tg_tensor_data_const(t), b);
            at += b;
        }
    return s;
}

static bool same(snapshot a, snapshot b) { return a.n == b.n && memcmp(a.bytes, b.bytes, a.n) == 0; }

static uint8_t *read_all(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    uint8_t *b = malloc(*n + 1);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void write_all(const char *p, const uint8_t *b, size_t n)
{
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* Expects loading p into m to fail with status and the message fragment,
 * leaving m exactly as it was. */
static void expect_rejected(const char *p, model m, tg_status status, const char *fragment)
{
    snapshot before = take_snapshot(m);
    int64_t epoch = -7;
    tg_status st = tg_checkpoint_load(ctx, p, tg_mlp_params(m.mlp), m.opt, &epoch);
    cr_assert_eq(st, status, "status %s, expected %s: %s", tg_status_name(st), tg_status_name(status),
                 tg_ctx_error(ctx));
    if (fragment)
        cr_expect(strstr(tg_ctx_error(ctx), fragment), "message \"%s\" lacks \"%s\"", tg_ctx_error(ctx), fragment);
    snapshot after = take_snapshot(m);
    cr_assert(same(before, after), "a failed load changed the model (%s)", tg_ctx_error(ctx));
    cr_assert_eq(epoch, -7);
    free(before.bytes);
    free(after.bytes);
    tg_ctx_clear_error(ctx);
}

static void round_trip(tg_dtype dtype, bool adam)
{
    model a = make_model(dtype, 7, 5, 3, 1, adam, 4), b = make_model(dtype, 7, 5, 3, 2, adam, 1);
    snapshot sa = take_snapshot(a), sb = take_snapshot(b);
    cr_assert_not(same(sa, sb));
    cr_assert_eq(tg_checkpoint_save(ctx, path, tg_mlp_params(a.mlp), a.opt, 12), TG_OK, "%s", tg_ctx_error(ctx));
    int64_t epoch = 0;
    cr_assert_eq(tg_checkpoint_load(ctx, path, tg_mlp_params(b.mlp), b.opt, &epoch), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_eq(epoch, 12);
    cr_expect_eq(tg_optim_steps(b.opt), 4);
    snapshot sb2 = take_snapshot(b);
    cr_expect(same(sa, sb2), "round trip is not bit-exact");
    /* both models now take the same next step */
    free(sa.bytes), free(sb.bytes), free(sb2.bytes);
    free_model(a);
    free_model(b);
}

Test(nn_checkpoint, round_trip_f32_adam_bit_exact) { round_trip(TG_F32, true); }
Test(nn_checkpoint, round_trip_f64_adam_bit_exact) { round_trip(TG_F64, true); }
Test(nn_checkpoint, round_trip_f64_momentum_bit_exact) { round_trip(TG_F64, false); }

Test(nn_checkpoint, parameters_only_save_and_load)
{
    model a = make_model(TG_F32, 4, 3, 2, 1, true, 2), b = make_model(TG_F32, 4, 3, 2, 2, true, 0);
    cr_assert_eq(tg_checkpoint_save(ctx, path, tg_mlp_params(a.mlp), NULL, 0), TG_OK);
    /* weights alone load into weights alone */
    cr_assert_eq(tg_checkpoint_load(ctx, path, tg_mlp_params(b.mlp), NULL, NULL), TG_OK, "%s", tg_ctx_error(ctx));
    tg_params pa = tg_mlp_params(a.mlp), pb = tg_mlp_params(b.mlp);
    for (int i = 0; i < pa.count; i++)
        cr_expect_eq(memcmp(tg_tensor_data_const(pa.items[i]), tg_tensor_data_const(pb.items[i]),
                            4 * (size_t)tg_tensor_size(pa.items[i])), 0);
    /* but cannot fill an optimizer */
    expect_rejected(path, b, TG_ERR_FORMAT, "no optimizer state");
    /* a file with state loads into parameters alone (inference) */
    cr_assert_eq(tg_checkpoint_save(ctx, path, tg_mlp_params(a.mlp), a.opt, 3), TG_OK);
    cr_assert_eq(tg_checkpoint_load(ctx, path, tg_mlp_params(b.mlp), NULL, NULL), TG_OK, "%s", tg_ctx_error(ctx));
    free_model(a);
    free_model(b);
}

Test(nn_checkpoint, every_prefix_is_rejected_and_model_untouched)
{
    model a = make_model(TG_F32, 3, 2, 2, 1, true, 2), b = make_model(TG_F32, 3, 2, 2, 5, true, 1);
    cr_assert_eq(tg_checkpoint_save(ctx, path, tg_mlp_params(a.mlp), a.opt, 1), TG_OK);
    size_t n;
    uint8_t *bytes = read_all(path, &n);
    char cut[160];
    snprintf(cut, sizeof cut, "%s/cut.ckpt", dir);
    for (size_t len = 0; len < n; len++) {
        write_all(cut, bytes, len);
        expect_rejected(cut, b, TG_ERR_FORMAT, len >= 8 && len >= 52 ? "truncated" : NULL);
    }
    /* and a byte too many */
    bytes[n] = 0;
    write_all(cut, bytes, n + 1);
    expect_rejected(cut, b, TG_ERR_FORMAT, "extra bytes");
    free(bytes);
    free_model(a);
    free_model(b);
}

Test(nn_checkpoint, every_flipped_byte_is_rejected_and_model_untouched)
{
    model a = make_model(TG_F64, 3, 2, 2, 1, false, 2), b = make_model(TG_F64, 3, 2, 2, 5, false, 1);
    cr_assert_eq(tg_checkpoint_save(ctx, path, tg_mlp_params(a.mlp), a.opt, 1), TG_OK);
    size_t n;
    uint8_t *bytes = read_all(path, &n);
    char bad[160];
    snprintf(bad, sizeof bad, "%s/flip.ckpt", dir);
    for (size_t i = 0; i < n; i++) {
        bytes[i] ^= 0x10;
        write_all(bad, bytes, n);
        expect_rejected(bad, b, TG_ERR_FORMAT, NULL);
        bytes[i] ^= 0x10;
    }
    free(bytes);
    free_model(a);
    free_model(b);
}

/* Rewrites the CRC after a deliberate edit, so the check under test is the
 * structural one and not the checksum. */
static void fix_crc(uint8_t *b, size_t n)
{
    uint32_t crc = tg_crc32(0, b, n - 4);
    for (int i = 0; i < 4; i++)
        b[n - 4 + i] = (uint8_t)(crc >> (8 * i));
}

Test(nn_checkpoint, wrong_magic_version_and_flags)
{
    model a = make_model(TG_F32, 3, 2, 2, 1, true, 1);
    cr_assert_eq(tg_checkpoint_save(ctx, path, tg_mlp_params(a.mlp), a.opt, 1), TG_OK);
    size_t n;
    uint8_t *bytes = read_all(path, &n);
    cr_expect_eq(memcmp(bytes, "TGCKPT\r\n", 8), 0);
    bytes[0] = 'X';
    write_all(path, bytes, n);
    expect_rejected(path, a, TG_ERR_FORMAT, "not a tapegrad checkpoint");
    bytes[0] = 'T';
    bytes[8] = 3; /* version 3 */
    fix_crc(bytes, n);
    write_all(path, bytes, n);
    expect_rejected(path, a, TG_ERR_FORMAT, "version 3");
    bytes[8] = 1;
    bytes[12] = 3; /* unknown flag */
    fix_crc(bytes, n);
    write_all(path, bytes, n);
    expect_rejected(path, a, TG_ERR_FORMAT, "flags 0x3");
    bytes[12] = 1;
    bytes[n - 1] ^= 1;
    write_all(path, bytes, n);
    expect_rejected(path, a, TG_ERR_FORMAT, "CRC32");
    free(bytes);
    free_model(a);
}

Test(nn_checkpoint, wrong_shape_count_dtype_name_and_optimizer_rejected)
{
    model a = make_model(TG_F32, 4, 3, 2, 1, true, 1);
    cr_assert_eq(tg_checkpoint_save(ctx, path, tg_mlp_params(a.mlp), a.opt, 1), TG_OK);

    model wide = make_model(TG_F32, 4, 5, 2, 1, true, 0);
    expect_rejected(path, wide, TG_ERR_FORMAT, "\"layer1.weight\" [3, 4] f32 in the file; expected \"layer1.weight\" [5, 4]");
    free_model(wide);

    model f64 = make_model(TG_F64, 4, 3, 2, 1, true, 0);
    expect_rejected(path, f64, TG_ERR_FORMAT, "f32 in the file; expected \"layer1.weight\" [3, 4] f64");
    free_model(f64);

    model momentum = make_model(TG_F32, 4, 3, 2, 1, false, 0);
    expect_rejected(path, momentum, TG_ERR_FORMAT, "optimizer state tensors in the file; the optimizer has 4");
    free_model(momentum);

    /* fewer parameters: a one-layer list */
    model b = make_model(TG_F32, 4, 3, 2, 2, true, 0);
    tg_params all = tg_mlp_params(b.mlp), two = {2, all.items};
    snapshot before = take_snapshot(b);
    cr_expect_eq(tg_checkpoint_load(ctx, path, two, NULL, NULL), TG_ERR_FORMAT);
    cr_expect(strstr(tg_ctx_error(ctx), "4 parameter tensors in the file; expected 2"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    snapshot after = take_snapshot(b);
    cr_expect(same(before, after));
    free(before.bytes), free(after.bytes);

    /* a renamed parameter */
    tg_tensor_set_name(all.items[2], "head.weight");
    expect_rejected(path, b, TG_ERR_FORMAT, "expected \"head.weight\"");
    free_model(b);
    free_model(a);
}

Test(nn_checkpoint, missing_file_is_an_io_error)
{
    model a = make_model(TG_F32, 3, 2, 2, 1, true, 0);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope.ckpt", dir);
    expect_rejected(missing, a, TG_ERR_IO, "nope.ckpt");
    free_model(a);
}

/* Names of the files in dir, for spotting a leftover temporary file. */
static int count_files(void)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

Test(nn_checkpoint, failed_write_keeps_the_previous_file)
{
    model small = make_model(TG_F32, 3, 2, 2, 1, true, 1);
    cr_assert_eq(tg_checkpoint_save(ctx, path, tg_mlp_params(small.mlp), small.opt, 1), TG_OK);
    size_t n_old;
    uint8_t *old = read_all(path, &n_old);
    cr_assert_eq(count_files(), 1);

    /* A file size limit below the new checkpoint's size: write() fails with
     * EFBIG half-way through, as a full disk would. */
    model big = make_model(TG_F32, 64, 32, 10, 2, true, 1);
    struct rlimit saved, limit;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    limit = saved;
    limit.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    tg_status st = tg_checkpoint_save(ctx, path, tg_mlp_params(big.mlp), big.opt, 2);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
    cr_assert_eq(st, TG_ERR_IO);
    cr_expect(strstr(tg_ctx_error(ctx), "write"), "%s", tg_ctx_error(ctx));
    cr_expect(strstr(tg_ctx_error(ctx), "unchanged"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);

    size_t n_now;
    uint8_t *now = read_all(path, &n_now);
    cr_expect(n_now == n_old && memcmp(old, now, n_old) == 0, "the previous checkpoint was damaged");
    cr_expect_eq(count_files(), 1, "a temporary file was left behind");
    /* and it still loads */
    model again = make_model(TG_F32, 3, 2, 2, 9, true, 0);
    int64_t epoch = 0;
    cr_expect_eq(tg_checkpoint_load(ctx, path, tg_mlp_params(again.mlp), again.opt, &epoch), TG_OK);
    cr_expect_eq(epoch, 1);

    /* a directory that does not exist: nothing is created */
    char nowhere[192];
    snprintf(nowhere, sizeof nowhere, "%s/no/such/dir/x.ckpt", dir);
    cr_expect_eq(tg_checkpoint_save(ctx, nowhere, tg_mlp_params(small.mlp), NULL, 0), TG_ERR_IO);
    cr_expect(strstr(tg_ctx_error(ctx), "mkstemp"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);

    /* overwriting works once the disk has room again */
    cr_expect_eq(tg_checkpoint_save(ctx, path, tg_mlp_params(big.mlp), big.opt, 2), TG_OK);
    cr_expect_eq(count_files(), 1);
    free(old), free(now);
    free_model(again);
    free_model(big);
    free_model(small);
}

Test(nn_checkpoint, unwritable_directory_keeps_the_previous_file)
{
    if (geteuid() == 0) {
        remove_scratch_dir(dir); /* a skipped test gets no teardown */
        cr_skip_test("running as root: directory permissions do not stop writes");
    }
    model a = make_model(TG_F32, 3, 2, 2, 1, true, 1);
    cr_assert_eq(tg_checkpoint_save(ctx, path, tg_mlp_params(a.mlp), a.opt, 1), TG_OK);
    size_t n_old;
    uint8_t *old = read_all(path, &n_old);
    cr_assert_eq(chmod(dir, 0500), 0);
    cr_expect_eq(tg_checkpoint_save(ctx, path, tg_mlp_params(a.mlp), a.opt, 2), TG_ERR_IO);
    tg_ctx_clear_error(ctx);
    cr_assert_eq(chmod(dir, 0700), 0);
    size_t n_now;
    uint8_t *now = read_all(path, &n_now);
    cr_expect(n_now == n_old && memcmp(old, now, n_old) == 0);
    free(old), free(now);
    free_model(a);
}

Test(nn_checkpoint, format_header_fields)
{
    model a = make_model(TG_F32, 3, 2, 2, 1, true, 3);
    cr_assert_eq(tg_checkpoint_save(ctx, path, tg_mlp_params(a.mlp), a.opt, 42), TG_OK);
    size_t n;
    uint8_t *b = read_all(path, &n);
    cr_expect_eq(b[8], 1);   /* version */
    cr_expect_eq(b[12], 1);  /* optimizer state present */
    cr_expect_eq(b[16], 4);  /* 4 parameters */
    cr_expect_eq(b[20], 8);  /* Adam: m and v per parameter */
    cr_expect_eq(b[24], 42); /* epoch */
    cr_expect_eq(b[32], 3);  /* optimizer steps */
    uint64_t payload = 0;
    for (int i = 0; i < 8; i++)
        payload |= (uint64_t)b[40 + i] << (8 * i);
    cr_expect_eq(payload + 52, n);
    /* the first record: "layer1.weight", f32, [2, 3] */
    cr_expect(b[48] == 13 && b[49] == 0 && memcmp(b + 50, "layer1.weight", 13) == 0);
    cr_expect(b[63] == 0 && b[64] == 2 && b[65] == 2 && b[73] == 3);
    free(b);
    free_model(a);
}

/* A 52-byte file with a valid CRC whose header claims n_params and n_state
 * records (flags as given) and holds none. */
static void write_header_only(const char *p, uint32_t flags, uint32_t n_params, uint32_t n_state, size_t extra)
{
    size_t n = 52 + extra;
    uint8_t *b = calloc(n, 1);
    memcpy(b, "TGCKPT\r\n", 8);
    b[8] = 1;
    for (int i = 0; i < 4; i++) {
        b[12 + i] = (uint8_t)(flags >> (8 * i));
        b[16 + i] = (uint8_t)(n_params >> (8 * i));
        b[20 + i] = (uint8_t)(n_state >> (8 * i));
    }
    for (int i = 0; i < 8; i++)
        b[40 + i] = (uint8_t)((uint64_t)extra >> (8 * i));
    uint32_t crc = tg_crc32(0, b, n - 4);
    for (int i = 0; i < 4; i++)
        b[n - 4 + i] = (uint8_t)(crc >> (8 * i));
    write_all(p, b, n);
    free(b);
}

/* The fuzzer's 133-byte file: 4 billion optimizer state records with the
 * optimizer flag 0 made the loader malloc 64 GiB for the record table. */
Test(nn_checkpoint, counts_that_cannot_fit_are_refused_before_allocating)
{
    model a = make_model(TG_F32, 3, 2, 2, 1, true, 1);
    tg_params none = {0, NULL};
    write_header_only(path, 0, 0, UINT32_MAX, 81);
    cr_expect_eq(tg_checkpoint_load(ctx, path, none, NULL, NULL), TG_ERR_FORMAT);
    cr_expect(strstr(tg_ctx_error(ctx), "no optimizer flag"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    write_header_only(path, 1, 0, UINT32_MAX, 81);
    cr_expect_eq(tg_checkpoint_load(ctx, path, none, NULL, NULL), TG_ERR_FORMAT);
    cr_expect(strstr(tg_ctx_error(ctx), "cannot fit in 81 payload bytes"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    write_header_only(path, 1, UINT32_MAX, UINT32_MAX, 81);
    expect_rejected(path, a, TG_ERR_FORMAT, "cannot fit");
    write_header_only(path, 0, 21, 0, 81); /* 21 x 4 bytes > 81 */
    cr_expect_eq(tg_checkpoint_load(ctx, path, none, NULL, NULL), TG_ERR_FORMAT);
    tg_ctx_clear_error(ctx);
    if (TG_TEST_RSS_IS_MEANINGFUL)
        cr_expect_lt(peak_rss_mib(), 100.0, "peak RSS %.0f MiB", peak_rss_mib());
    free_model(a);
}

static int count_entries(const char *prefix)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static void touch(const char *name)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    write_all(p, (const uint8_t *)"x", 1);
}

static bool exists(const char *name)
{
    char p[256];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

/* The pid of a process that has exited and been reaped. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(0);
    cr_assert_eq(waitpid(pid, NULL, 0), pid);
    return pid;
}

Test(nn_checkpoint, stale_temporaries_of_this_file_are_removed_and_no_others)
{
    model a = make_model(TG_F32, 3, 2, 2, 1, true, 1);
    char name[128];
    pid_t dead = dead_pid();
    snprintf(name, sizeof name, "model.ckpt.tmp.%ld.aB3xYz", (long)dead);
    touch(name); /* stale: removed */
    char live[128], other[128];
    snprintf(live, sizeof live, "model.ckpt.tmp.%ld.aB3xYz", (long)getppid());
    touch(live); /* a save running in a live process: kept */
    snprintf(other, sizeof other, "other.ckpt.tmp.%ld.aB3xYz", (long)dead);
    touch(other);                        /* another file's temporary: kept */
    touch("model.ckpt.tmp.Qw12er");      /* no pid (not ours to judge): kept */
    touch("model.ckpt.tmp.1.short");     /* not the pattern: kept */
    touch("model.ckpt.backup");
    cr_assert_eq(tg_checkpoint_save(ctx, path, tg_mlp_params(a.mlp), a.opt, 1), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_not(exists(name));
    cr_expect(exists(live) && exists(other) && exists("model.ckpt.tmp.Qw12er") && exists("model.ckpt.tmp.1.short") &&
              exists("model.ckpt.backup"));
    /* a load cleans up too */
    snprintf(name, sizeof name, "model.ckpt.tmp.%ld.Zz9Zz9", (long)dead_pid());
    touch(name);
    cr_assert_eq(tg_checkpoint_load(ctx, path, tg_mlp_params(a.mlp), a.opt, NULL), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_not(exists(name));
    free_model(a);
}

/* Saves killed with SIGKILL at random points leave temporaries; one load
 * afterwards leaves none, and the file it loads is whole. */
Test(nn_checkpoint, kill_9_during_saves_leaves_nothing_after_the_next_load)
{
    model a = make_model(TG_F64, 200, 100, 10, 1, true, 1);
    cr_assert_eq(tg_checkpoint_save(ctx, path, tg_mlp_params(a.mlp), a.opt, 0), TG_OK);
    for (int k = 0; k < 20; k++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            for (int64_t e = 1;; e++)
                tg_checkpoint_save(ctx, path, tg_mlp_params(a.mlp), a.opt, e);
        }
        nanosleep(&(struct timespec){0, 1000000L + 500000L * k}, NULL);
        kill(pid, SIGKILL);
        cr_assert_eq(waitpid(pid, NULL, 0), pid);
    }
    int64_t epoch = -1;
    cr_assert_eq(tg_checkpoint_load(ctx, path, tg_mlp_params(a.mlp), a.opt, &epoch), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_geq(epoch, 0);
    cr_expect_eq(count_entries("model.ckpt.tmp."), 0);
    free_model(a);
}
