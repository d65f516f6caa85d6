/* Data loading: the self-contained gzip decoder (embedded streams with stored,
 * fixed and dynamic blocks; files made by the gzip program at test time when
 * it is installed; every prefix and every flipped byte of a small stream),
 * IDX round trips of every value type (plain and gzipped), IDX and CSV errors
 * that must leave the caller's output untouched, the real Fashion-MNIST files
 * when the Debian package is installed, datasets, views and minibatch loaders. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tapegrad.h"
#include "tests/support.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static tg_ctx *ctx;
static char dir[64];

static void setup(void)
{
    ctx = tg_ctx_new(1);
    tg_ctx_set_error_handler(ctx, NULL, NULL); /* the error cases below are expected */
    cr_assert_not_null(make_scratch_dir(dir, sizeof dir, "tg_data_"));
}

static void teardown(void)
{
    cr_expect_eq(remove_scratch_dir(dir), 0);
    tg_ctx_free(ctx);
}

TestSuite(nn_data, .init = setup, .fini = teardown);

/* dir/name in a static buffer (one at a time). */
static const char *in_dir(const char *name)
{
    static char path[2][256];
    static int which;
    which ^= 1;
    snprintf(path[which], sizeof path[which], "%s/%s", dir, name);
    return path[which];
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

static void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

static bool have_gzip(void) { return system("gzip --version >/dev/null 2>&1") == 0; }

/* ---- embedded gzip streams (made with Python's gzip module, mtime 0) ---- */

/* IDX u8 [2, 3] = 1 2 3 4 5 250, fixed Huffman block */
static const uint8_t idx_u8_2x3_gz[35] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x63, 0x60, 0xe0, 0x60, 0x62, 0x60,
    0x60, 0x00, 0x61, 0x66, 0x46, 0x26, 0x66, 0x16, 0xd6, 0x5f, 0x00, 0x7f, 0x2a, 0x35, 0x51, 0x12,
    0x00, 0x00, 0x00,
};
static const char text[] = "tapegrad tapegrad tapegrad: tape-based reverse-mode autograd\n";
static const uint8_t text_gz[61] = { /* fixed Huffman with back-references */
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x2b, 0x49, 0x2c, 0x48, 0x4d, 0x2f,
    0x4a, 0x4c, 0x51, 0x28, 0x41, 0x67, 0x58, 0x81, 0x59, 0xba, 0x49, 0x89, 0xc5, 0xa9, 0x29, 0x0a,
    0x45, 0xa9, 0x65, 0xa9, 0x45, 0xc5, 0xa9, 0xba, 0xb9, 0xf9, 0x29, 0xa9, 0x0a, 0x89, 0xa5, 0x25,
    0xf9, 0x20, 0x15, 0x5c, 0x00, 0x05, 0x9f, 0xe0, 0x20, 0x3d, 0x00, 0x00, 0x00,
};
/* "0 squared is 0; 1 squared is 1; ... 39 squared is 1521; " (744 bytes), dynamic Huffman */
static const uint8_t dynamic_gz[223] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x5d, 0x92, 0x31, 0x0e, 0x43, 0x31,
    0x08, 0x43, 0xaf, 0xc2, 0x11, 0x02, 0x24, 0x24, 0x51, 0x4e, 0x53, 0xa9, 0x1d, 0x3a, 0xb6, 0x55,
    0xef, 0x5f, 0xfc, 0x27, 0xdc, 0x31, 0x08, 0xd9, 0xcf, 0x26, 0x4d, 0x3e, 0xaf, 0xef, 0xed, 0xfd,
    0xb8, 0xcb, 0xf3, 0x23, 0xed, 0x88, 0xd6, 0xb7, 0x1e, 0xb1, 0xfa, 0xee, 0x47, 0xbc, 0xbe, 0xf7,
    0x91, 0x4e, 0xfb, 0x71, 0x64, 0xd4, 0x81, 0x8d, 0x23, 0x51, 0x07, 0x9e, 0x1b, 0x93, 0x24, 0x53,
    0x63, 0xd5, 0x41, 0xa4, 0xc9, 0xae, 0x83, 0x95, 0x14, 0xda, 0xc8, 0xa6, 0x01, 0x94, 0x49, 0x0d,
    0x5b, 0x04, 0xab, 0x3d, 0x95, 0xd4, 0x99, 0x2f, 0xdd, 0x94, 0x91, 0x77, 0x12, 0x29, 0x43, 0x83,
    0x5a, 0x83, 0x73, 0x60, 0x8b, 0xc0, 0x6d, 0x41, 0x8b, 0xd0, 0xdd, 0xe0, 0xb8, 0x39, 0x2f, 0x3a,
    0x24, 0xfa, 0x0e, 0x7a, 0x23, 0xfa, 0xde, 0xb1, 0xc5, 0x55, 0xaf, 0xd4, 0x32, 0xa2, 0x1f, 0x96,
    0x8e, 0x46, 0xf4, 0x63, 0x26, 0x97, 0x11, 0x7d, 0x80, 0xde, 0x88, 0x3e, 0xae, 0x2d, 0xa2, 0x9f,
    0x97, 0x16, 0xd1, 0xcf, 0xcb, 0x91, 0xab, 0x07, 0x97, 0x13, 0xfd, 0x06, 0xbd, 0x13, 0xfd, 0x46,
    0x46, 0xe7, 0xee, 0x1b, 0xaa, 0x70, 0x2e, 0xbf, 0xa1, 0x31, 0xe7, 0xf6, 0x15, 0xc5, 0xfa, 0xe0,
    0x53, 0x22, 0x81, 0x07, 0xcf, 0x70, 0x26, 0xa7, 0x08, 0xea, 0xb8, 0xa6, 0xaf, 0xbf, 0x9b, 0xc3,
    0x97, 0x42, 0xe8, 0xc0, 0xdf, 0xf8, 0x01, 0xc8, 0xfb, 0x55, 0xaa, 0xe8, 0x02, 0x00, 0x00,
};
static const uint8_t stored_gz[35] = { /* "stored block", one stored block */
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x03, 0x01, 0x0c, 0x00, 0xf3, 0xff, 0x73,
    0x74, 0x6f, 0x72, 0x65, 0x64, 0x20, 0x62, 0x6c, 0x6f, 0x63, 0x6b, 0x94, 0xa3, 0x24, 0x3d, 0x0c,
    0x00, 0x00, 0x00,
};

static char *squares_text(size_t *n)
{
    char *s = malloc(1024);
    size_t at = 0;
    for (int i = 0; i < 40; i++)
        at += (size_t)sprintf(s + at, "%d squared is %d; ", i, i * i);
    *n = at;
    return s;
}

Test(nn_data, crc32_check_value)
{
    cr_expect_eq(tg_crc32(0, "123456789", 9), 0xCBF43926u);
    cr_expect_eq(tg_crc32(0, "", 0), 0u);
    /* continuing a CRC over pieces gives the CRC of the whole */
    cr_expect_eq(tg_crc32(tg_crc32(0, "12345", 5), "6789", 4), 0xCBF43926u);
}

static void expect_decodes(const uint8_t *gz, size_t n, const void *want, size_t want_n)
{
    uint8_t *out = NULL;
    size_t out_n = 0;
    cr_assert_eq(tg_gzip_decode(ctx, gz, n, "test", &out, &out_n), TG_OK, "%s", tg_ctx_error(ctx));
    cr_assert_eq(out_n, want_n);
    cr_expect_eq(memcmp(out, want, want_n), 0);
    free(out);
}

Test(nn_data, gzip_decodes_stored_fixed_and_dynamic_blocks)
{
    expect_decodes(stored_gz, sizeof stored_gz, "stored block", 12);
    expect_decodes(text_gz, sizeof text_gz, text, strlen(text));
    size_t n;
    char *squares = squares_text(&n);
    cr_assert_eq(n, 744);
    expect_decodes(dynamic_gz, sizeof dynamic_gz, squares, n);
    free(squares);
}

Test(nn_data, gzip_concatenated_members_decode_as_one)
{
    uint8_t both[sizeof stored_gz + sizeof text_gz];
    memcpy(both, stored_gz, sizeof stored_gz);
    memcpy(both + sizeof stored_gz, text_gz, sizeof text_gz);
    char want[200];
    snprintf(want, sizeof want, "stored block%s", text);
    expect_decodes(both, sizeof both, want, strlen(want));
}

Test(nn_data, gzip_every_prefix_is_an_error_and_output_untouched)
{
    const uint8_t *streams[] = {stored_gz, text_gz, dynamic_gz};
    size_t sizes[] = {sizeof stored_gz, sizeof text_gz, sizeof dynamic_gz};
    for (int s = 0; s < 3; s++)
        for (size_t len = 0; len < sizes[s]; len++) {
            uint8_t *out = (uint8_t *)0x1;
            size_t out_n = 77;
            tg_status st = tg_gzip_decode(ctx, streams[s], len, "prefix", &out, &out_n);
            cr_assert_eq(st, TG_ERR_FORMAT, "stream %d, prefix %zu of %zu decoded", s, len, sizes[s]);
            cr_assert(out == (uint8_t *)0x1 && out_n == 77);
            tg_ctx_clear_error(ctx);
        }
}

Test(nn_data, gzip_every_flipped_byte_is_caught_or_harmless)
{
    /* No flip may decode to other data: it is an error (CRC32, length or a
     * structural check) or harmless (the header's FTEXT hint, MTIME, XFL and
     * OS bytes, the padding bits after the last block). */
    size_t n;
    char *squares = squares_text(&n);
    uint8_t copy[sizeof dynamic_gz];
    int harmless = 0;
    for (size_t i = 0; i < sizeof dynamic_gz; i++)
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(copy, dynamic_gz, sizeof copy);
            copy[i] ^= (uint8_t)(1u << bit);
            uint8_t *out = NULL;
            size_t out_n = 0;
            tg_status st = tg_gzip_decode(ctx, copy, sizeof copy, "flip", &out, &out_n);
            if (st == TG_OK) {
                cr_assert(out_n == n && memcmp(out, squares, n) == 0, "flip at byte %zu bit %d changed the data", i,
                          bit);
                cr_assert((i >= 3 && i < 10) || i == sizeof dynamic_gz - 9, "flip at byte %zu bit %d went unnoticed",
                          i, bit);
                harmless++;
                free(out);
            } else
                cr_assert(st == TG_ERR_FORMAT, "byte %zu: %s", i, tg_ctx_error(ctx));
            tg_ctx_clear_error(ctx);
        }
    cr_expect_gt(harmless, 0);
    free(squares);
}

Test(nn_data, gzip_rejects_bad_magic_method_and_trailing_garbage)
{
    uint8_t bad[sizeof text_gz + 3];
    uint8_t *out;
    size_t n;
    memcpy(bad, text_gz, sizeof text_gz);
    bad[1] = 0x8c;
    cr_expect_eq(tg_gzip_decode(ctx, bad, sizeof text_gz, "x.gz", &out, &n), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("x.gz", "magic"));
    memcpy(bad, text_gz, sizeof text_gz);
    bad[2] = 7;
    cr_expect_eq(tg_gzip_decode(ctx, bad, sizeof text_gz, "x.gz", &out, &n), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("method 7"));
    memcpy(bad, text_gz, sizeof text_gz);
    memcpy(bad + sizeof text_gz, "xyz", 3);
    cr_expect_eq(tg_gzip_decode(ctx, bad, sizeof bad, "x.gz", &out, &n), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("trailing garbage"));
    memcpy(bad, text_gz, sizeof text_gz);
    bad[sizeof text_gz - 8] ^= 1; /* CRC32 */
    cr_expect_eq(tg_gzip_decode(ctx, bad, sizeof text_gz, "x.gz", &out, &n), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("CRC32"));
    memcpy(bad, text_gz, sizeof text_gz);
    bad[sizeof text_gz - 4] ^= 1; /* ISIZE */
    cr_expect_eq(tg_gzip_decode(ctx, bad, sizeof text_gz, "x.gz", &out, &n), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("trailer says"));
}

/* Pseudo-random data with structure at several scales: text-like runs,
 * repeats at long distances and incompressible stretches (stored blocks). */
static uint8_t *mixed_data(size_t n)
{
    uint8_t *d = malloc(n);
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        size_t region = (i / 40000) % 3;
        if (region == 0)
            d[i] = (uint8_t)("abcdefgh  \n"[s % 11]);
        else if (region == 1 && i >= 30000)
            d[i] = d[i - 30000 + (s % 3 == 0)]; /* far back-references */
        else
            d[i] = (uint8_t)s;
    }
    return d;
}

Test(nn_data, gzip_program_output_at_every_level_decodes)
{
    if (!have_gzip())
        cr_skip_test("the gzip program is not installed");
    size_t n = 300000;
    uint8_t *data = mixed_data(n);
    write_bytes(in_dir("mixed"), data, n);
    for (int level = 1; level <= 9; level += 4) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "gzip -%d -c '%s' > '%s.gz'", level, in_dir("mixed"), in_dir("mixed"));
        cr_assert_eq(system(cmd), 0);
        uint8_t *out;
        size_t out_n;
        cr_assert_eq(tg_file_read(ctx, in_dir("mixed.gz"), &out, &out_n), TG_OK, "%s", tg_ctx_error(ctx));
        cr_assert_eq(out_n, n, "level %d", level);
        cr_expect_eq(memcmp(out, data, n), 0, "level %d", level);
        free(out);
    }
    free(data);
}

Test(nn_data, file_read_reports_missing_file)
{
    uint8_t *out = (uint8_t *)0x1;
    size_t n = 5;
    cr_expect_eq(tg_file_read(ctx, in_dir("nope.bin"), &out, &n), TG_ERR_IO);
    cr_expect(out == (uint8_t *)0x1 && n == 5);
    expect_error(ctx, TG_ERR_IO, FRAGMENTS("nope.bin", "No such file"));
}

/* ---- IDX ---- */

Test(nn_data, idx_round_trip_every_type)
{
    const tg_idx_type types[] = {TG_IDX_U8, TG_IDX_I8, TG_IDX_I16, TG_IDX_I32, TG_IDX_F32, TG_IDX_F64};
    for (int t = 0; t < 6; t++) {
        size_t w = tg_idx_type_size(types[t]);
        tg_idx idx = {.type = types[t], .rank = 3, .shape = {2, 3, 5}, .count = 30};
        uint8_t *values = malloc(30 * w);
        for (int i = 0; i < 30; i++) {
            switch (types[t]) {
            case TG_IDX_U8: values[i] = (uint8_t)(i * 8 + 3); break;
            case TG_IDX_I8: ((int8_t *)values)[i] = (int8_t)(i * 5 - 70); break;
            case TG_IDX_I16: ((int16_t *)values)[i] = (int16_t)(i * 1000 - 15000); break;
            case TG_IDX_I32: ((int32_t *)values)[i] = (int32_t)((int64_t)i * 100000007 - 1500000000); break;
            case TG_IDX_F32: ((float *)values)[i] = (float)(i * 0.37 - 5); break;
            case TG_IDX_F64: ((double *)values)[i] = i * 1e-3 - 1.0 / 3; break;
            }
        }
        idx.data = values;
        cr_assert_eq(tg_idx_write(ctx, in_dir("t.idx"), &idx), TG_OK, "%s", tg_ctx_error(ctx));
        tg_idx back;
        cr_assert_eq(tg_idx_read(ctx, in_dir("t.idx"), &back), TG_OK, "%s", tg_ctx_error(ctx));
        cr_expect_eq(back.type, types[t]);
        cr_expect_eq(back.rank, 3);
        cr_expect(back.shape[0] == 2 && back.shape[1] == 3 && back.shape[2] == 5 && back.count == 30);
        cr_expect_eq(memcmp(back.data, values, 30 * w), 0, "type 0x%02x", types[t]);
        tg_idx_free(&back);
        cr_expect_null(back.data);
        if (have_gzip()) { /* the same file gzipped reads the same */
            char cmd[256];
            snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s.gz'", in_dir("t.idx"), in_dir("t.idx"));
            cr_assert_eq(system(cmd), 0);
            cr_assert_eq(tg_idx_read(ctx, in_dir("t.idx.gz"), &back), TG_OK, "%s", tg_ctx_error(ctx));
            cr_expect_eq(memcmp(back.data, values, 30 * w), 0);
            tg_idx_free(&back);
        }
        free(values);
    }
}

Test(nn_data, idx_reads_embedded_gzip)
{
    write_bytes(in_dir("small.idx.gz"), idx_u8_2x3_gz, sizeof idx_u8_2x3_gz);
    tg_idx idx;
    cr_assert_eq(tg_idx_read(ctx, in_dir("small.idx.gz"), &idx), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect(idx.type == TG_IDX_U8 && idx.rank == 2 && idx.shape[0] == 2 && idx.shape[1] == 3);
    cr_expect_eq(memcmp(idx.data, (uint8_t[]){1, 2, 3, 4, 5, 250}, 6), 0);
    tg_idx_free(&idx);
}

static void expect_idx_fails(const char *name, const void *bytes, size_t n, const char *fragment)
{
    write_bytes(in_dir(name), bytes, n);
    tg_idx idx, sentinel;
    memset(&idx, 0xA5, sizeof idx);
    memcpy(&sentinel, &idx, sizeof idx);
    cr_expect_eq(tg_idx_read(ctx, in_dir(name), &idx), TG_ERR_FORMAT, "%s read", name);
    cr_expect_eq(memcmp(&idx, &sentinel, sizeof idx), 0, "%s: output touched", name);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS(name, fragment));
}

Test(nn_data, idx_errors_name_the_problem_and_leave_output_untouched)
{
    const uint8_t good[] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
    uint8_t bad[sizeof good + 1];
    memcpy(bad, good, sizeof good);
    bad[0] = 1;
    expect_idx_fails("magic.idx", bad, sizeof good, "magic 01 00 08 02");
    memcpy(bad, good, sizeof good);
    bad[2] = 0x0A;
    expect_idx_fails("type.idx", bad, sizeof good, "magic");
    memcpy(bad, good, sizeof good);
    bad[3] = 0;
    expect_idx_fails("rank0.idx", bad, sizeof good, "rank 0");
    memcpy(bad, good, sizeof good);
    bad[7] = 0;
    expect_idx_fails("zerodim.idx", bad, sizeof good, "dim 0 is 0");
    memcpy(bad, good, sizeof good);
    bad[sizeof good] = 7;
    expect_idx_fails("long.idx", bad, sizeof good + 1, "extra bytes");
    expect_idx_fails("short.idx", good, sizeof good - 1, "truncated");
    /* every prefix of the file is an error */
    for (size_t len = 0; len < sizeof good; len++)
        expect_idx_fails("prefix.idx", good, len, "truncated");
}

Test(nn_data, idx_dims_that_overflow_are_rejected)
{
    const uint8_t huge[] = {0, 0, 0x0E, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1};
    expect_idx_fails("huge.idx", huge, sizeof huge, "overflow");
}

Test(nn_data, fashion_mnist_headers_when_installed)
{
    if (access(FASHION_DIR "/t10k-labels-idx1-ubyte.gz", R_OK) != 0)
        cr_skip_test("Fashion-MNIST not installed (Debian package dataset-fashion-mnist)");
    tg_idx labels;
    cr_assert_eq(tg_idx_read(ctx, FASHION_DIR "/t10k-labels-idx1-ubyte.gz", &labels), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect(labels.type == TG_IDX_U8 && labels.rank == 1 && labels.shape[0] == 10000);
    int per_class[10] = {0};
    for (int64_t i = 0; i < labels.count; i++) {
        uint8_t l = ((uint8_t *)labels.data)[i];
        cr_assert_lt(l, 10);
        per_class[l]++;
    }
    for (int c = 0; c < 10; c++)
        cr_expect_eq(per_class[c], 1000, "class %d", c); /* the test set is balanced */
    tg_idx_free(&labels);

    tg_dataset *test = tg_dataset_load_mnist(ctx, FASHION_DIR, "t10k");
    cr_assert_not_null(test, "%s", tg_ctx_error(ctx));
    cr_expect(test->count == 10000 && test->features == 784 && test->classes == 10 && test->outputs == 1);
    cr_expect(test->sample_rank == 2 && test->sample_shape[0] == 28 && test->sample_shape[1] == 28);
    cr_expect_eq(test->targets[0], 9); /* the first test image is an ankle boot */
    uint8_t max = 0;
    for (int64_t i = 0; i < 784; i++)
        max = test->bytes[i] > max ? test->bytes[i] : max;
    cr_expect_gt(max, 200);
    tg_dataset_free(test);
}

Test(nn_data, load_mnist_says_what_is_missing)
{
    cr_expect_null(tg_dataset_load_mnist(ctx, dir, "train"));
    expect_error(ctx, TG_ERR_IO, FRAGMENTS("train-images-idx3-ubyte", "not found"));
}

Test(nn_data, dataset_from_idx_checks_counts)
{
    tg_idx images = {.type = TG_IDX_U8, .rank = 3, .shape = {4, 2, 2}, .count = 16};
    uint8_t pixels[16], labels_v[3] = {0, 2, 1};
    for (int i = 0; i < 16; i++)
        pixels[i] = (uint8_t)(i * 17);
    images.data = pixels;
    tg_idx labels = {.type = TG_IDX_U8, .rank = 1, .shape = {3}, .count = 3, .data = labels_v};
    cr_assert_eq(tg_idx_write(ctx, in_dir("img"), &images), TG_OK);
    cr_assert_eq(tg_idx_write(ctx, in_dir("lab"), &labels), TG_OK);
    cr_expect_null(tg_dataset_from_idx(ctx, in_dir("img"), in_dir("lab")));
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("4 images but 3 labels"));
    images.shape[0] = 3, images.count = 12;
    cr_assert_eq(tg_idx_write(ctx, in_dir("img"), &images), TG_OK);
    tg_dataset *d = tg_dataset_from_idx(ctx, in_dir("img"), in_dir("lab"));
    cr_assert_not_null(d, "%s", tg_ctx_error(ctx));
    cr_expect(d->count == 3 && d->features == 4 && d->classes == 3);
    cr_expect_eq(d->bytes[5], 85);
    cr_expect_eq(d->targets[1], 2);
    tg_dataset_free(d);
}

/* ---- CSV ---- */

Test(nn_data, csv_with_header_spaces_crlf_and_blank_lines)
{
    write_text(in_dir("a.csv"), "weight, height ,gender\r\n-2,-1,1\r\n\r\n 25 , 6,0\r\n17,4,0\n-15,-6,1e0\n1.5e2,nan,-inf");
    tg_csv csv;
    cr_assert_eq(tg_csv_read(ctx, in_dir("a.csv"), TG_CSV_HEADER_AUTO, &csv), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_eq(csv.rows, 5);
    cr_expect_eq(csv.cols, 3);
    cr_assert_not_null(csv.names);
    cr_expect_str_eq(csv.names[1], "height");
    cr_expect_eq(csv.values[3], 25);
    cr_expect_eq(csv.values[11], 1);
    cr_expect_eq(csv.values[12], 150);
    cr_expect(isnan(csv.values[13]) && isinf(csv.values[14]) && csv.values[14] < 0);
    tg_csv_free(&csv);
    cr_expect_null(csv.values);
}

Test(nn_data, csv_without_header)
{
    write_text(in_dir("b.csv"), "1,2\n3,4\n");
    tg_csv csv;
    cr_assert_eq(tg_csv_read(ctx, in_dir("b.csv"), TG_CSV_HEADER_AUTO, &csv), TG_OK);
    cr_expect(csv.rows == 2 && csv.cols == 2 && !csv.names && csv.values[3] == 4);
    tg_csv_free(&csv);
    /* forced header: the first line becomes names */
    cr_assert_eq(tg_csv_read(ctx, in_dir("b.csv"), TG_CSV_HEADER_YES, &csv), TG_OK);
    cr_expect(csv.rows == 1 && csv.names && strcmp(csv.names[0], "1") == 0);
    tg_csv_free(&csv);
}

static void expect_csv_fails(const char *content, tg_csv_header mode, const char *fragment1, const char *fragment2)
{
    write_text(in_dir("bad.csv"), content);
    tg_csv csv, sentinel;
    memset(&csv, 0x5A, sizeof csv);
    memcpy(&sentinel, &csv, sizeof csv);
    cr_expect_eq(tg_csv_read(ctx, in_dir("bad.csv"), mode, &csv), TG_ERR_FORMAT, "read \"%s\"", content);
    cr_expect_eq(memcmp(&csv, &sentinel, sizeof csv), 0, "output touched");
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS(fragment1, fragment2));
}

Test(nn_data, csv_errors_name_line_and_column)
{
    expect_csv_fails("a,b,c\n1,2,3\n4,x5,6\n", TG_CSV_HEADER_AUTO, "line 3, column 2 (b)", "\"x5\"");
    expect_csv_fails("1,2,3\n4,5\n", TG_CSV_HEADER_AUTO, "line 2 has 2 fields", "expected 3");
    expect_csv_fails("1,2\n3,,4\n", TG_CSV_HEADER_AUTO, "line 2 has 3 fields", NULL);
    expect_csv_fails("1,2\n3,\n", TG_CSV_HEADER_AUTO, "line 2, column 2", NULL);
    expect_csv_fails("", TG_CSV_HEADER_AUTO, "no data rows", NULL);
    expect_csv_fails("x,y\n\n", TG_CSV_HEADER_AUTO, "no data rows after the header", NULL);
    expect_csv_fails("x,y\n1,2\n", TG_CSV_HEADER_NO, "line 1, column 1", "\"x\"");
    expect_csv_fails("1,1e999\n", TG_CSV_HEADER_NO, "column 2", "not a number");
}

/* ---- datasets and loaders ---- */

static tg_dataset *counting_dataset(int64_t n)
{
    double *x = malloc(sizeof(double) * (size_t)n * 2), *y = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        x[2 * i] = (double)i, x[2 * i + 1] = -(double)i, y[i] = (double)(i % 3);
    tg_dataset *d = tg_dataset_from_values(ctx, n, 2, x, 1, y, 3);
    free(x);
    free(y);
    cr_assert_not_null(d, "%s", tg_ctx_error(ctx));
    return d;
}

Test(nn_data, loader_visits_every_sample_once_per_epoch)
{
    tg_dataset *d = counting_dataset(10);
    tg_loader *l = tg_loader_new(ctx, d, 3, TG_F64);
    cr_assert_not_null(l);
    cr_expect_eq(tg_loader_batches(l), 4);
    tg_rng rng = tg_rng_seed(7);
    for (int epoch = 0; epoch < 3; epoch++) {
        tg_loader_start(l, epoch ? &rng : NULL);
        int seen[10] = {0}, batches = 0, order[10], at = 0;
        tg_tensor *x, *y, *first_x = NULL;
        while (tg_loader_next(l, &x, &y)) {
            int64_t n = tg_tensor_dim(x, 0);
            cr_expect_eq(n, batches < 3 ? 3 : 1);
            if (batches == 0)
                first_x = x;
            else if (batches < 3)
                cr_expect_eq(x, first_x, "full batches reuse one tensor");
            cr_expect_eq(tg_tensor_rank(y), 1);
            for (int64_t r = 0; r < n; r++) {
                int i = (int)tg_tensor_get(x, 2 * r);
                cr_expect_eq(tg_tensor_get(x, 2 * r + 1), -i);
                cr_expect_eq(tg_tensor_get(y, r), i % 3);
                seen[i]++;
                order[at++] = i;
            }
            batches++;
        }
        cr_expect_eq(batches, 4);
        for (int i = 0; i < 10; i++)
            cr_expect_eq(seen[i], 1, "epoch %d sample %d", epoch, i);
        bool in_order = true;
        for (int i = 0; i < 10; i++)
            in_order &= order[i] == i;
        cr_expect_eq(in_order, epoch == 0, "epoch %d", epoch);
    }
    tg_loader_free(l);
    tg_dataset_free(d);
}

Test(nn_data, loader_shuffle_is_seeded)
{
    tg_dataset *d = counting_dataset(50);
    tg_loader *l = tg_loader_new(ctx, d, 50, TG_F32);
    int orders[3][50];
    uint64_t seeds[3] = {3, 3, 4};
    for (int k = 0; k < 3; k++) {
        tg_rng rng = tg_rng_seed(seeds[k]);
        tg_loader_start(l, &rng);
        tg_tensor *x, *y;
        cr_assert(tg_loader_next(l, &x, &y));
        cr_expect_eq(tg_tensor_dtype(x), TG_F32);
        for (int i = 0; i < 50; i++)
            orders[k][i] = (int)tg_tensor_get(x, 2 * i);
        cr_expect_not(tg_loader_next(l, &x, &y));
    }
    cr_expect_eq(memcmp(orders[0], orders[1], sizeof orders[0]), 0);
    cr_expect_neq(memcmp(orders[0], orders[2], sizeof orders[0]), 0);
    tg_loader_free(l);
    tg_dataset_free(d);
}

Test(nn_data, loader_full_batch_and_single_sample)
{
    tg_dataset *d = counting_dataset(7);
    tg_loader *full = tg_loader_new(ctx, d, 0, TG_F32), *one = tg_loader_new(ctx, d, 1, TG_F32);
    cr_expect_eq(tg_loader_batches(full), 1);
    cr_expect_eq(tg_loader_batch_size(full), 7);
    cr_expect_eq(tg_loader_batches(one), 7);
    tg_loader_free(full);
    tg_loader_free(one);
    tg_dataset_free(d);
}

Test(nn_data, loader_converts_bytes_with_scale)
{
    tg_idx images = {.type = TG_IDX_U8, .rank = 2, .shape = {2, 3}, .count = 6, .data = (uint8_t[]){0, 51, 255, 1, 2, 3}};
    tg_idx labels = {.type = TG_IDX_U8, .rank = 1, .shape = {2}, .count = 2, .data = (uint8_t[]){1, 0}};
    cr_assert_eq(tg_idx_write(ctx, in_dir("i"), &images), TG_OK);
    cr_assert_eq(tg_idx_write(ctx, in_dir("l"), &labels), TG_OK);
    tg_dataset *d = tg_dataset_from_idx(ctx, in_dir("i"), in_dir("l"));
    cr_assert_not_null(d);
    tg_loader *l = tg_loader_new(ctx, d, 2, TG_F32);
    tg_tensor *x, *y;
    cr_assert(tg_loader_next(l, &x, &y));
    cr_expect_float_eq(tg_tensor_get(x, 1), 0.2, 1e-7);
    cr_expect_float_eq(tg_tensor_get(x, 2), 1.0, 1e-7);
    cr_expect_eq(tg_tensor_get(y, 0), 1);
    tg_loader_free(l);
    tg_dataset_free(d);
}

Test(nn_data, dataset_view_and_bad_arguments)
{
    tg_dataset *d = counting_dataset(10);
    tg_dataset *v = tg_dataset_view(ctx, d, 4, 3);
    cr_assert_not_null(v);
    cr_expect(v->count == 3 && v->values[0] == 4 && v->targets[0] == 1);
    tg_dataset_free(v);
    cr_expect_null(tg_dataset_view(ctx, d, 8, 3));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("[8, 11)"));
    cr_expect_null(tg_dataset_from_values(ctx, 2, 1, (double[]){1, 2}, 1, (double[]){0, 3}, 3));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("y[1] is 3", "0 to 2"));
    cr_expect_null(tg_loader_new(ctx, NULL, 4, TG_F32));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("NULL dataset"));
    tg_dataset_free(d);
}

Test(nn_data, fashion_class_names)
{
    cr_expect_str_eq(tg_fashion_mnist_classes[0], "T-shirt/top");
    cr_expect_str_eq(tg_fashion_mnist_classes[9], "Ankle boot");
}

/* ---- hostile files: memory stays bounded ---- */

static void expect_peak_rss_below(double mib)
{
    if (TG_TEST_RSS_IS_MEANINGFUL)
        cr_expect_lt(peak_rss_mib(), mib, "peak RSS %.0f MiB", peak_rss_mib());
}

/* An LSB-first bit writer for deflate streams. */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    uint64_t bits;
    int count;
} bit_writer;

static void put_bits(bit_writer *w, uint32_t value, int n)
{
    w->bits |= (uint64_t)value << w->count;
    w->count += n;
    while (w->count >= 8) {
        if (w->len == w->cap)
            cr_assert_not_null(w->buf = realloc(w->buf, w->cap = w->cap ? w->cap * 2 : 4096));
        w->buf[w->len++] = (uint8_t)w->bits;
        w->bits >>= 8;
        w->count -= 8;
    }
}

/* A Huffman code is sent most significant bit first. */
static void put_code(bit_writer *w, uint32_t code, int n)
{
    uint32_t reversed = 0;
    for (int i = 0; i < n; i++)
        reversed |= ((code >> i) & 1) << (n - 1 - i);
    put_bits(w, reversed, n);
}

static void put_literal(bit_writer *w, uint8_t byte)
{
    if (byte < 144)
        put_code(w, 0x30 + byte, 8);
    else
        put_code(w, 0x190 + (byte - 144u), 9);
}

/* A gzip file (one fixed-Huffman block) that decodes to prefix, then one
 * zero byte, then `matches` copies of 258 zero bytes: 13 bits of input per
 * 258 bytes of output, a ratio of about 160. Its trailer says CRC 0 and
 * size 0: a decoder finds that out only after inflating all of it. */
static size_t write_zero_bomb(const char *path, const uint8_t *prefix, size_t prefix_len, size_t matches)
{
    bit_writer w = {0};
    static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    for (int i = 0; i < 10; i++)
        put_bits(&w, header[i], 8);
    put_bits(&w, 1, 1); /* the last block */
    put_bits(&w, 1, 2); /* fixed Huffman */
    for (size_t i = 0; i < prefix_len; i++)
        put_literal(&w, prefix[i]);
    put_literal(&w, 0);
    for (size_t i = 0; i < matches; i++) {
        put_code(&w, 0xC0 + 5, 8); /* length symbol 285: 258 bytes */
        put_code(&w, 0, 5);                            /* distance symbol 0: 1 byte back */
    }
    put_code(&w, 0, 7); /* end of block */
    put_bits(&w, 0, 7); /* to a byte boundary */
    for (int i = 0; i < 8; i++)
        put_bits(&w, 0, 8); /* CRC32 and ISIZE */
    write_bytes(path, w.buf, w.len);
    size_t n = w.len;
    free(w.buf);
    return n;
}

/* 1 GiB of zeros in a 6.7 MB file: read as IDX it fails on the magic in the
 * first 4 bytes out (before: all 1 GiB was inflated first). */
Test(nn_data, gzip_bomb_with_a_bad_idx_magic_fails_after_four_bytes)
{
    size_t size = write_zero_bomb(in_dir("bomb.gz"), NULL, 0, (1u << 30) / 258);
    cr_assert_lt(size, 8u << 20);
    tg_idx idx;
    memset(&idx, 0x5A, sizeof idx);
    cr_expect_eq(tg_idx_read(ctx, in_dir("bomb.gz"), &idx), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("magic 00 00 00 00", "bomb.gz"));
    cr_expect_eq(idx.rank, 0x5A5A5A5A);
    expect_peak_rss_below(100.0);
}

/* A valid header for 1000 bytes followed by 1 GiB: inflation stops once the
 * 1008 bytes the header asks for are out. */
Test(nn_data, gzip_idx_stops_at_the_size_its_header_gives)
{
    static const uint8_t header[8] = {0, 0, 0x08, 1, 0, 0, 0x03, 0xE8};
    write_zero_bomb(in_dir("long.gz"), header, sizeof header, (1u << 30) / 258);
    tg_idx idx;
    cr_expect_eq(tg_idx_read(ctx, in_dir("long.gz"), &idx), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("more than 1008 bytes", "IDX header"));
    expect_peak_rss_below(100.0);
    /* a header that asks for more than the file can hold fails at once */
    static const uint8_t huge[12] = {0, 0, 0x08, 2, 0, 1, 0, 0, 0, 1, 0, 0}; /* 65536 x 65536 */
    write_zero_bomb(in_dir("huge.gz"), huge, sizeof huge, 1000);
    cr_expect_eq(tg_idx_read(ctx, in_dir("huge.gz"), &idx), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("decodes to at most"));
}

/* Any gzip data is capped: by default at 64 times its size plus 1 MiB, or at
 * what the caller says. */
Test(nn_data, gzip_output_is_capped_by_default_and_on_request)
{
    size_t matches = (128u << 20) / 258; /* 128 MiB from 0.85 MB */
    size_t size = write_zero_bomb(in_dir("zeros.gz"), NULL, 0, matches);
    uint8_t *out = NULL;
    size_t n = 0;
    cr_expect_eq(tg_file_read(ctx, in_dir("zeros.gz"), &out, &n), TG_ERR_FORMAT);
    char want[64];
    snprintf(want, sizeof want, "more than %zu bytes", tg_gzip_default_max(size));
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS(want, "default cap"));
    cr_expect_null(out);
    cr_expect_eq(tg_gzip_default_max(size), 64 * size + (1u << 20));
    cr_expect_eq(tg_file_read_max(ctx, in_dir("zeros.gz"), 10u << 20, &out, &n), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("more than 10485760 bytes", "tg_file_read_max"));
    /* a plain file past the cap is refused before it is read */
    write_text(in_dir("plain.txt"), "0123456789");
    cr_expect_eq(tg_file_read_max(ctx, in_dir("plain.txt"), 9, &out, &n), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("10 bytes", "cap is 9"));
    cr_assert_eq(tg_file_read_max(ctx, in_dir("plain.txt"), 10, &out, &n), TG_OK);
    cr_expect(n == 10 && memcmp(out, "0123456789", 10) == 0);
    free(out);
    expect_peak_rss_below(100.0);
    /* under the cap the same data decodes */
    uint8_t *small = malloc(1 << 20);
    size_t small_size = write_zero_bomb(in_dir("small.gz"), NULL, 0, 1000);
    FILE *f = fopen(in_dir("small.gz"), "rb");
    cr_assert_eq(fread(small, 1, small_size, f), small_size);
    fclose(f);
    cr_expect_eq(tg_gzip_decode_max(ctx, small, small_size, "small", 258001, &out, &n), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("CRC32")); /* all 258001 bytes out: the cap was not hit */
    cr_expect_eq(tg_gzip_decode_max(ctx, small, small_size, "small", 258000, &out, &n), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("more than 258000 bytes", "tg_gzip_decode_max"));
    free(small);
}

/* gzip </dev/null: a valid stream of no bytes (undefined behaviour before:
 * a NULL buffer was offset and copied from). */
static const uint8_t empty_gz[20] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0};

Test(nn_data, gzip_of_nothing_decodes_to_an_empty_buffer)
{
    uint8_t *out = NULL;
    size_t n = 7;
    cr_assert_eq(tg_gzip_decode(ctx, empty_gz, sizeof empty_gz, "empty", &out, &n), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_eq(n, 0);
    cr_expect_not_null(out);
    free(out);
    write_bytes(in_dir("empty.gz"), empty_gz, sizeof empty_gz);
    tg_idx idx;
    cr_expect_eq(tg_idx_read(ctx, in_dir("empty.gz"), &idx), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("0 bytes", "truncated"));
    tg_csv csv;
    cr_expect_eq(tg_csv_read(ctx, in_dir("empty.gz"), TG_CSV_HEADER_AUTO, &csv), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("no data rows"));
    /* two empty members, and an empty member after data */
    uint8_t two[40];
    memcpy(two, empty_gz, 20), memcpy(two + 20, empty_gz, 20);
    cr_assert_eq(tg_gzip_decode(ctx, two, 40, "two", &out, &n), TG_OK);
    cr_expect_eq(n, 0);
    free(out);
}

/* n bytes of text: pattern repeated, then tail. */
static void write_repeated(const char *path, const char *pattern, size_t n, const char *tail)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    size_t len = strlen(pattern);
    char chunk[1 << 16];
    size_t per = sizeof chunk / len * len;
    for (size_t i = 0; i < per; i++)
        chunk[i] = pattern[i % len];
    for (size_t done = 0; done < n; done += per)
        cr_assert_eq(fwrite(chunk, 1, n - done < per ? n - done : per, f), n - done < per ? n - done : per);
    fputs(tail, f);
    cr_assert_eq(fclose(f), 0);
}

/* 40 MB of commas: 40 million empty header names (before: 40 bytes of
 * allocations each, 1.6 GB). No data follows, so nothing is allocated. */
Test(nn_data, csv_of_commas_fails_in_bounded_memory)
{
    write_repeated(in_dir("commas.csv"), ",", 40u << 20, "");
    tg_csv csv;
    cr_expect_eq(tg_csv_read(ctx, in_dir("commas.csv"), TG_CSV_HEADER_AUTO, &csv), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("no data rows after the header"));
    expect_peak_rss_below(100.0);
}

/* A 40 MB line of "1,": 20 million fields, the last empty, so it is a header
 * (before: 64 rows of 20 million doubles were asked for, 10 GB). */
Test(nn_data, csv_line_of_ones_fails_in_bounded_memory)
{
    write_repeated(in_dir("ones.csv"), "1,", 40u << 20, "");
    tg_csv csv;
    cr_expect_eq(tg_csv_read(ctx, in_dir("ones.csv"), TG_CSV_HEADER_AUTO, &csv), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("no data rows after the header"));
    expect_peak_rss_below(100.0);
    /* the same as data (no header) fails at its last, empty field */
    cr_expect_eq(tg_csv_read(ctx, in_dir("ones.csv"), TG_CSV_HEADER_NO, &csv), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("column 20971521", "not a number"));
    expect_peak_rss_below(100.0 + 8 * 40);
}

/* A wide CSV that is valid: the values take 8 bytes per field of at least
 * 2 bytes, so memory stays within a few times the file. */
Test(nn_data, csv_memory_is_a_small_multiple_of_the_file)
{
    size_t bytes = 8u << 20;
    write_repeated(in_dir("wide.csv"), "1,", bytes - 2, "1\n");
    FILE *f = fopen(in_dir("wide.csv"), "ab");
    cr_assert_not_null(f);
    fclose(f);
    tg_csv csv;
    double before = peak_rss_mib();
    cr_assert_eq(tg_csv_read(ctx, in_dir("wide.csv"), TG_CSV_HEADER_NO, &csv), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_eq(csv.rows, 1);
    cr_expect_eq(csv.cols, (int64_t)bytes / 2);
    double grown = peak_rss_mib() - before, file_mib = (double)bytes / (1 << 20);
    if (TG_TEST_RSS_IS_MEANINGFUL)
        cr_expect_lt(grown, 6 * file_mib, "grew %.0f MiB for a %.0f MiB file", grown, file_mib);
    tg_csv_free(&csv);
    /* the same line as a header over one data row: names in one block */
    char *text = malloc(2 * bytes);
    for (size_t i = 0; i < bytes - 1; i++)
        text[i] = i % 2 ? ',' : 'a';
    text[bytes - 1] = '\n';
    for (size_t i = 0; i < bytes - 1; i++)
        text[bytes + i] = i % 2 ? ',' : '2';
    text[2 * bytes - 1] = '\n';
    cr_assert_eq(tg_csv_parse(ctx, text, 2 * bytes, "memory", TG_CSV_HEADER_AUTO, &csv), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect(csv.rows == 1 && csv.cols == (int64_t)bytes / 2 && csv.names);
    cr_expect_str_eq(csv.names[csv.cols - 1], "a");
    cr_expect_eq(csv.values[csv.cols - 1], 2);
    tg_csv_free(&csv);
    free(text);
}

Test(nn_data, loader_hands_out_i64_class_labels_on_request)
{
    tg_dataset *d = counting_dataset(10); /* sample i has class i % 3 */
    tg_loader *l = tg_loader_new(ctx, d, 4, TG_F32);
    cr_assert_not_null(l);
    cr_expect_eq(tg_loader_label_dtype(l), TG_F32, "labels default to the loader's dtype");
    cr_assert_eq(tg_loader_set_label_dtype(l, TG_I64), TG_OK, "%s", tg_ctx_error(ctx));
    tg_tensor *x, *y;
    int batches = 0;
    while (tg_loader_next(l, &x, &y)) {
        cr_expect_eq(tg_tensor_dtype(x), TG_F32);
        cr_expect_eq(tg_tensor_dtype(y), TG_I64);
        cr_expect_eq(tg_tensor_dim(y, 0), tg_tensor_dim(x, 0));
        const int64_t *labels = tg_tensor_data_const(y);
        for (int64_t r = 0; r < tg_tensor_dim(x, 0); r++)
            cr_expect_eq(labels[r], (int64_t)tg_tensor_get(x, 2 * r) % 3);
        batches++;
    }
    cr_expect_eq(batches, 3, "the smaller last batch has i64 labels too");
    /* regression targets have no integer form */
    double xs[4] = {1, 2, 3, 4}, ys[4] = {0.5, 1.5, 2.5, 3.5};
    tg_dataset *r = tg_dataset_from_values(ctx, 4, 1, xs, 1, ys, 0);
    tg_loader *lr = tg_loader_new(ctx, r, 2, TG_F64);
    cr_expect_eq(tg_loader_set_label_dtype(lr, TG_I64), TG_ERR_ARG);
    cr_expect(strstr(tg_ctx_error(ctx), "class-index targets"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_loader_set_label_dtype(NULL, TG_I64), TG_ERR_ARG);
    tg_loader_free(lr);
    tg_dataset_free(r);
    tg_loader_free(l);
    tg_dataset_free(d);
}
