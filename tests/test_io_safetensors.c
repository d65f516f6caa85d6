/* safetensors: bit-exact round trips of f32, f64 and i64 tensors with
 * metadata, the header and data laid out as the reference writer does;
 * BF16 and F16 entries written byte by byte and read into f32 and f64
 * exactly (subnormals, infinities, NaN, signed zero); conversions between
 * float dtypes and the ones refused; a load of many tensors that writes
 * nothing when one entry does not match, with both shapes in the message;
 * and every kind of hostile file refused with TG_ERR_FORMAT and a message
 * naming the problem: every truncation, a header length beyond the file or
 * absurd, overlapping, out-of-range, gapped or mis-sized offsets, duplicate
 * names, keys and fields, unknown dtypes and fields, JSON bombs (deep
 * nesting, huge strings, huge arrays), bad UTF-8 and escapes, a header that
 * is not an object, trailing garbage. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tapegrad.h"
#include "tests/support.h"

static tg_ctx *ctx;
static char dir[64];
static char path[128];

static void setup(void)
{
    cr_assert_not_null(ctx = scratch_fixture_setup(dir, sizeof dir, "tg_safetensors_"));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
}

static void teardown(void) { cr_expect_eq(scratch_fixture_teardown(ctx, dir), 0); }

TestSuite(io_safetensors, .init = setup, .fini = teardown);

/* ---- helpers ------------------------------------------------------------ */

/* A file image: the header's length (8 bytes, little-endian), the header
 * text, then data_n bytes of data. */
typedef struct {
    uint8_t *bytes;
    size_t size;
} image;

static image make_image(const char *header, const void *data, size_t data_n)
{
    size_t h = strlen(header);
    image im = {malloc(8 + h + data_n + 1), 8 + h + data_n};
    cr_assert_not_null(im.bytes);
    for (int i = 0; i < 8; i++)
        im.bytes[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(im.bytes + 8, header, h);
    if (data_n)
        memcpy(im.bytes + 8 + h, data, data_n);
    return im;
}

static void write_file(const char *p, const uint8_t *bytes, size_t n)
{
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(bytes, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

static uint8_t *read_file(const char *p, size_t *n)
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

/* Opening header + data (from memory) must fail with TG_ERR_FORMAT and a
 * message holding every one of the NULL-terminated phrases. */
static void refused(const char *header, const void *data, size_t data_n, ...)
{
    image im = make_image(header, data, data_n);
    tg_ctx_clear_error(ctx);
    tg_safetensors *st = tg_safetensors_open_memory(ctx, im.bytes, im.size, "bad.safetensors");
    cr_expect_null(st, "accepted: %s", header);
    tg_safetensors_close(st);
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_FORMAT, "%s -> %s", header, tg_ctx_error(ctx));
    cr_expect(strstr(tg_ctx_error(ctx), "bad.safetensors"), "%s", tg_ctx_error(ctx));
    va_list ap;
    va_start(ap, data_n);
    for (const char *phrase; (phrase = va_arg(ap, const char *)) != NULL;)
        cr_expect(strstr(tg_ctx_error(ctx), phrase), "\"%s\" not in: %s", phrase, tg_ctx_error(ctx));
    va_end(ap);
    tg_ctx_clear_error(ctx);
    free(im.bytes);
}

static tg_safetensors *open_ok(const char *header, const void *data, size_t data_n, image *keep)
{
    *keep = make_image(header, data, data_n);
    tg_safetensors *st = tg_safetensors_open_memory(ctx, keep->bytes, keep->size, "ok.safetensors");
    cr_assert_not_null(st, "%s: %s", header, tg_ctx_error(ctx));
    return st;
}

static bool same_bits(const tg_tensor *a, const tg_tensor *b)
{
    size_t n = (size_t)tg_tensor_size(a) * (tg_tensor_dtype(a) == TG_F32 ? 4 : 8);
    return tg_tensor_dtype(a) == tg_tensor_dtype(b) && tg_tensor_size(a) == tg_tensor_size(b) &&
           memcmp(tg_tensor_data_const(a), tg_tensor_data_const(b), n) == 0;
}

/* ---- round trips ---------------------------------------------------------- */

Test(io_safetensors, round_trip_is_bit_exact_for_f32_f64_i64_with_metadata)
{
    tg_rng rng = tg_rng_seed(7);
    tg_tensor *w = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(3, 5), 0, 1);
    tg_tensor *b = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(5), 0, 1e-300); /* subnormal and tiny values */
    tg_tensor *idx = tg_tensor_new(ctx, TG_I64, TG_SHAPE(2, 2));
    int64_t *iv = tg_tensor_data(idx);
    iv[0] = -1, iv[1] = INT64_MAX, iv[2] = INT64_MIN, iv[3] = (int64_t)1 << 60;
    tg_tensor *s = tg_tensor_scalar(ctx, TG_F32, -0.0);
    tg_tensor *r4 = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(2, 1, 3, 2), 0, 1);
    ((float *)tg_tensor_data(r4))[0] = INFINITY, ((float *)tg_tensor_data(r4))[1] = NAN;
    tg_named_tensor items[] = {{"0.weight", w}, {"0.bias", b}, {"idx", idx}, {"scale", s}, {"conv.w \"q\"\\é", r4}};
    tg_safetensors_meta meta[] = {{"format", "pt"}, {"note", "line\nbreak \"quoted\" \x01"}};
    cr_assert_eq(tg_safetensors_save(ctx, path, 5, items, 2, meta), TG_OK, "%s", tg_ctx_error(ctx));

    tg_safetensors *st = tg_safetensors_open(ctx, path);
    cr_assert_not_null(st, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_safetensors_count(st), 5);
    for (int i = 0; i < 5; i++) { /* header order is the order given */
        cr_expect_str_eq(tg_safetensors_name(st, i), items[i].name);
        cr_expect_eq(tg_safetensors_find(st, items[i].name), i);
        cr_expect_eq(tg_safetensors_rank(st, i), tg_tensor_rank(items[i].tensor));
        for (int d = 0; d < tg_tensor_rank(items[i].tensor); d++)
            cr_expect_eq(tg_safetensors_shape(st, i)[d], tg_tensor_shape(items[i].tensor)[d]);
        tg_tensor *back = tg_safetensors_read(st, items[i].name, tg_tensor_dtype(items[i].tensor));
        cr_assert_not_null(back, "%s", tg_ctx_error(ctx));
        cr_expect(same_bits(back, items[i].tensor), "entry %s", items[i].name);
        cr_expect_str_eq(tg_tensor_name(back), items[i].name);
        tg_tensor_free(back);
    }
    cr_expect_str_eq(tg_safetensors_dtype(st, 0), "F32");
    cr_expect_str_eq(tg_safetensors_dtype(st, 1), "F64");
    cr_expect_str_eq(tg_safetensors_dtype(st, 2), "I64");
    cr_expect_null(tg_safetensors_shape(st, 3)); /* rank 0 */
    cr_expect_eq(tg_safetensors_find(st, "missing"), -1);
    cr_expect_eq(tg_safetensors_metadata_count(st), 2);
    cr_expect_str_eq(tg_safetensors_metadata_key(st, 1), "note");
    cr_expect_str_eq(tg_safetensors_metadata_value(st, 1), meta[1].value);
    cr_expect_str_eq(tg_safetensors_metadata(st, "format"), "pt");
    cr_expect_null(tg_safetensors_metadata(st, "absent"));
    tg_safetensors_close(st);
    cr_expect_eq(tg_ctx_status(ctx), TG_OK, "%s", tg_ctx_error(ctx));
}

Test(io_safetensors, layout_pads_the_header_and_aligns_every_tensor)
{
    tg_tensor *a = tg_tensor_full(ctx, TG_F32, TG_SHAPE(3), 1.5); /* 12 bytes: would misalign what follows */
    tg_tensor *b = tg_tensor_full(ctx, TG_F64, TG_SHAPE(2), -2.25);
    tg_tensor *c = tg_tensor_full(ctx, TG_F32, TG_SHAPE(1), 4);
    tg_named_tensor items[] = {{"a", a}, {"b", b}, {"c", c}};
    cr_assert_eq(tg_safetensors_save(ctx, path, 3, items, 0, NULL), TG_OK, "%s", tg_ctx_error(ctx));
    size_t n;
    uint8_t *bytes = read_file(path, &n);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h |= (uint64_t)bytes[i] << (8 * i);
    cr_expect_eq(h % 8, 0, "header of %llu bytes", (unsigned long long)h);
    cr_expect_eq(bytes[8], '{');
    cr_expect_eq(n, 8 + h + 12 + 16 + 4);
    /* the 8-byte tensor first; then the 4-byte ones in the order given */
    char *text = strndup((const char *)bytes + 8, (size_t)h);
    cr_expect(strstr(text, "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}"), "%s", text);
    cr_expect(strstr(text, "\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[16,28]}"), "%s", text);
    cr_expect(strstr(text, "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[28,32]}"), "%s", text);
    cr_expect(strstr(text, "\"a\"") < strstr(text, "\"b\""), "header order is the order given: %s", text);
    /* little-endian values: -2.25 is 0xC002000000000000, 1.5f is 0x3FC00000 */
    const uint8_t *data = bytes + 8 + h;
    cr_expect(data[7] == 0xc0 && data[6] == 0x02 && data[0] == 0);
    cr_expect(data[19] == 0x3f && data[18] == 0xc0 && data[16] == 0);
    free(text);
    free(bytes);
}

Test(io_safetensors, float_entries_convert_between_f32_and_f64)
{
    tg_tensor *d = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3), (double[]){0.1, 1e300, -1.0 / 3});
    tg_tensor *f = tg_tensor_from(ctx, TG_F32, TG_SHAPE(2), (double[]){0.1, -7});
    tg_named_tensor items[] = {{"d", d}, {"f", f}};
    cr_assert_eq(tg_safetensors_save(ctx, path, 2, items, 0, NULL), TG_OK);
    tg_safetensors *st = tg_safetensors_open(ctx, path);
    cr_assert_not_null(st);
    tg_tensor *d32 = tg_safetensors_read(st, "d", TG_F32);
    cr_assert_not_null(d32, "%s", tg_ctx_error(ctx));
    const float *v = tg_tensor_data(d32);
    cr_expect_eq(v[0], 0.1f);  /* rounded to nearest */
    cr_expect(isinf(v[1]) && v[1] > 0);
    cr_expect_eq(v[2], (float)(-1.0 / 3));
    tg_tensor *f64 = tg_safetensors_read(st, "f", TG_F64);
    cr_assert_not_null(f64);
    cr_expect_eq(((double *)tg_tensor_data(f64))[0], (double)0.1f); /* exact */
    /* floats do not become integers, nor the reverse */
    cr_expect_null(tg_safetensors_read(st, "f", TG_I64));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_FORMAT);
    cr_expect(strstr(tg_ctx_error(ctx), "entry \"f\" is F32; it does not convert to i64"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_safetensors_read(st, "nope", TG_F32));
    cr_expect(strstr(tg_ctx_error(ctx), "no entry \"nope\" (the file holds 2 entries)"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    tg_safetensors_close(st);
}

/* ---- BF16 and F16, written byte by byte ---------------------------------- */

Test(io_safetensors, f16_and_bf16_convert_exactly_with_subnormals_inf_and_nan)
{
    static const uint16_t half[] = {0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400,
                                    0x7c00, 0xfc00, 0x7e00, 0x3555, 0x8001};
    const double half_value[] = {0, -0.0, 1, -2, 65504, ldexp(1, -24), ldexp(1023, -24), ldexp(1, -14),
                                 INFINITY, -INFINITY, NAN, 0.333251953125, -ldexp(1, -24)};
    static const uint16_t brain[] = {0x3f80, 0xc040, 0x0001, 0x007f, 0x0080, 0x7f80, 0xff80, 0x7fc0, 0x4049, 0x7f7f};
    const double brain_value[] = {1, -3, ldexp(1, -133), ldexp(127, -133), ldexp(1, -126), INFINITY, -INFINITY,
                                  NAN, 3.140625, ldexp(255, 120)};
    uint8_t data[64];
    size_t at = 0;
    for (size_t i = 0; i < 13; i++, at += 2)
        data[at] = (uint8_t)half[i], data[at + 1] = (uint8_t)(half[i] >> 8);
    for (size_t i = 0; i < 10; i++, at += 2)
        data[at] = (uint8_t)brain[i], data[at + 1] = (uint8_t)(brain[i] >> 8);
    image keep;
    tg_safetensors *st = open_ok("{\"h\":{\"dtype\":\"F16\",\"shape\":[13],\"data_offsets\":[0,26]},"
                                 "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,5],\"data_offsets\":[26,46]}}",
                                 data, at, &keep);
    cr_expect_str_eq(tg_safetensors_dtype(st, 0), "F16");
    cr_expect_str_eq(tg_safetensors_dtype(st, 1), "BF16");
    for (int f64 = 0; f64 < 2; f64++) {
        tg_dtype dt = f64 ? TG_F64 : TG_F32;
        tg_tensor *h = tg_safetensors_read(st, "h", dt), *b = tg_safetensors_read(st, "b", dt);
        cr_assert(h && b, "%s", tg_ctx_error(ctx));
        cr_expect_eq(tg_tensor_rank(b), 2);
        for (int i = 0; i < 13; i++) {
            double v = tg_tensor_get(h, i);
            if (isnan(half_value[i]))
                cr_expect(isnan(v), "half %d", i);
            else
                cr_expect(v == half_value[i] && signbit(v) == signbit(half_value[i]), "half %04x: %a, expected %a",
                          half[i], v, half_value[i]);
        }
        for (int i = 0; i < 10; i++) {
            double v = tg_tensor_get(b, i);
            if (isnan(brain_value[i]))
                cr_expect(isnan(v), "bf16 %d", i);
            else
                cr_expect_eq(v, brain_value[i], "bf16 %04x: %a, expected %a", brain[i], v, brain_value[i]);
        }
        tg_tensor_free(h);
        tg_tensor_free(b);
    }
    tg_safetensors_close(st);
    free(keep.bytes);
}

Test(io_safetensors, json_spacing_escapes_and_unicode_names_are_read)
{
    /* spaces and newlines between tokens, a padded end, escapes and a
     * surrogate pair in names: what Python's json.dumps writes */
    const char *header = "{ \"__metadata__\" : { \"format\" : \"pt\" } ,\n"
                         "  \"caf\\u00e9.w\\\"\\\\\\/\\ud83d\\ude00\": {\"dtype\": \"I64\", \"shape\": [ ],"
                         " \"data_offsets\": [0, 8]},\n  \"e\": {\"dtype\": \"F32\", \"shape\": [0, 3],"
                         " \"data_offsets\": [8, 8]} }   \n\t ";
    uint8_t data[8] = {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}; /* -2 */
    image keep;
    tg_safetensors *st = open_ok(header, data, 8, &keep);
    const char *name = "caf\xc3\xa9.w\"\\/\xf0\x9f\x98\x80";
    cr_expect_str_eq(tg_safetensors_name(st, 0), name);
    tg_tensor *t = tg_safetensors_read(st, name, TG_I64);
    cr_assert_not_null(t, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_rank(t), 0);
    cr_expect_eq(((int64_t *)tg_tensor_data(t))[0], -2);
    /* an empty tensor is a valid entry, but no tapegrad tensor */
    cr_expect_eq(tg_safetensors_rank(st, 1), 2);
    cr_expect_null(tg_safetensors_read(st, "e", TG_F32));
    cr_expect(strstr(tg_ctx_error(ctx), "entry \"e\" has shape [0, 3]; a tapegrad tensor has at most 6 dims, each at "
                                        "least 1"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_str_eq(tg_safetensors_metadata(st, "format"), "pt");
    tg_safetensors_close(st);
    free(keep.bytes);
}

Test(io_safetensors, other_dtypes_and_ranks_are_listed_but_not_read)
{
    uint8_t data[40] = {0};
    image keep;
    tg_safetensors *st = open_ok("{\"i\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                 "\"r\":{\"dtype\":\"U8\",\"shape\":[1,1,1,2,1,1,1,1],\"data_offsets\":[8,10]},"
                                 "\"p\":{\"dtype\":\"F8_E4M3\",\"shape\":[30],\"data_offsets\":[10,40]}}",
                                 data, 40, &keep);
    cr_expect_eq(tg_safetensors_count(st), 3);
    cr_expect_eq(tg_safetensors_rank(st, 1), 8);
    cr_expect_null(tg_safetensors_read(st, "i", TG_F32));
    cr_expect(strstr(tg_ctx_error(ctx), "entry \"i\" is I32; tapegrad reads F32, F64, BF16, F16"), "%s",
              tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_safetensors_name(st, 3));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);
    tg_safetensors_close(st);
    free(keep.bytes);
}

/* ---- loading many: all or nothing ------------------------------------------ */

Test(io_safetensors, load_writes_nothing_when_one_entry_does_not_match)
{
    tg_rng rng = tg_rng_seed(3);
    tg_tensor *w = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(4, 3), 0, 1);
    tg_tensor *b = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(4), 0, 1);
    tg_named_tensor saved[] = {{"0.weight", w}, {"0.bias", b}};
    cr_assert_eq(tg_safetensors_save(ctx, path, 2, saved, 0, NULL), TG_OK);

    tg_tensor *w2 = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(4, 3));
    tg_tensor *b2 = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(4));
    tg_tensor *wrong = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(3, 4));
    tg_tensor_set_name(b2, "0.bias");
    tg_safetensors *st = tg_safetensors_open(ctx, path);
    cr_assert_not_null(st);
    /* the bias would load, the weight does not: neither is written */
    tg_named_tensor bad[] = {{NULL, b2}, {"0.weight", wrong}};
    cr_expect_eq(tg_safetensors_load(st, 2, bad), TG_ERR_FORMAT);
    cr_expect(strstr(tg_ctx_error(ctx), "model.safetensors: entry \"0.weight\" is F32 [4, 3] in the file; the tensor "
                                        "is f64 [3, 4]"), "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_get(b2, 0), 0);
    tg_ctx_clear_error(ctx);
    tg_named_tensor missing[] = {{"0.bias", b2}, {"1.weight", w2}};
    cr_expect_eq(tg_safetensors_load(st, 2, missing), TG_ERR_FORMAT);
    cr_expect(strstr(tg_ctx_error(ctx), "no entry \"1.weight\""), "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_get(b2, 0), 0);
    tg_ctx_clear_error(ctx);
    tg_named_tensor unnamed[] = {{NULL, w2}};
    cr_expect_eq(tg_safetensors_load(st, 1, unnamed), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_safetensors_check(st, "0.weight", wrong), TG_ERR_FORMAT);
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_safetensors_check(st, "0.weight", w2), TG_OK);

    /* all match: all are written, converted to f64 */
    tg_named_tensor good[] = {{"0.weight", w2}, {NULL, b2}};
    cr_expect_eq(tg_safetensors_load(st, 2, good), TG_OK, "%s", tg_ctx_error(ctx));
    for (int i = 0; i < 12; i++)
        cr_expect_eq(tg_tensor_get(w2, i), tg_tensor_get(w, i));
    for (int i = 0; i < 4; i++)
        cr_expect_eq(tg_tensor_get(b2, i), tg_tensor_get(b, i));
    /* read_into: the same checks, one tensor */
    tg_tensor *w3 = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(4, 3));
    cr_expect_eq(tg_safetensors_read_into(st, "0.weight", w3), TG_OK);
    cr_expect(same_bits(w3, w));
    cr_expect_eq(tg_safetensors_read_into(st, "0.weight", wrong), TG_ERR_FORMAT);
    tg_ctx_clear_error(ctx);
    tg_safetensors_close(st);
}

Test(io_safetensors, a_file_cut_after_open_is_an_io_error_and_load_writes_nothing)
{
    tg_rng rng = tg_rng_seed(5);
    tg_tensor *a = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(64), 0, 1);
    tg_tensor *b = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(50000), 0, 1); /* more than one read chunk */
    tg_named_tensor items[] = {{"a", a}, {"b", b}};
    cr_assert_eq(tg_safetensors_save(ctx, path, 2, items, 0, NULL), TG_OK);
    tg_safetensors *st = tg_safetensors_open(ctx, path);
    cr_assert_not_null(st);
    tg_tensor *a2 = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(64)), *b2 = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(50000));
    tg_named_tensor into[] = {{"a", a2}, {"b", b2}};
    cr_expect_eq(tg_safetensors_load(st, 2, into), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect(same_bits(a2, a) && same_bits(b2, b));
    tg_tensor_fill(a2, 0);
    tg_tensor_fill(b2, 0);
    struct stat s;
    cr_assert_eq(stat(path, &s), 0);
    cr_assert_eq(truncate(path, s.st_size - 100), 0);
    cr_expect_eq(tg_safetensors_load(st, 2, into), TG_ERR_IO);
    cr_expect(strstr(tg_ctx_error(ctx), "entry \"b\": cannot read its values: the file is shorter than when it was "
                                        "opened"), "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_get(a2, 0), 0); /* "a" read fine, but was not written */
    tg_ctx_clear_error(ctx);
    tg_safetensors_close(st);
}

/* ---- writing: refused before the file is touched -------------------------- */

Test(io_safetensors, save_refuses_bad_names_and_leaves_the_previous_file)
{
    tg_tensor *a = tg_tensor_full(ctx, TG_F32, TG_SHAPE(2), 1);
    tg_tensor *b = tg_tensor_full(ctx, TG_F32, TG_SHAPE(2), 2);
    tg_named_tensor good[] = {{"a", a}};
    cr_assert_eq(tg_safetensors_save(ctx, path, 1, good, 0, NULL), TG_OK);
    size_t before_n;
    uint8_t *before = read_file(path, &before_n);
    char longname[TG_SAFETENSORS_MAX_NAME + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    struct {
        tg_named_tensor items[2];
        int n;
        const char *phrase;
    } cases[] = {
        {{{"a", a}, {"a", b}}, 2, "two items are named \"a\""},
        {{{"a", a}, {"__metadata__", b}}, 2, "item 1 is named \"__metadata__\""},
        {{{"", a}}, 1, "the name of item 0 is empty"},
        {{{NULL, a}}, 1, "the name of item 0 is NULL (no name given, and the tensor's own)"},
        {{{"bad\xff", a}}, 1, "the name of item 0 is not valid UTF-8 (byte 3)"},
        {{{longname, a}}, 1, "has 4097 bytes; at most 4096"},
        {{{"a", NULL}}, 1, "item 0 has a NULL tensor"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cr_expect_eq(tg_safetensors_save(ctx, path, cases[c].n, cases[c].items, 0, NULL), TG_ERR_ARG, "case %zu", c);
        cr_expect(strstr(tg_ctx_error(ctx), cases[c].phrase), "case %zu: %s", c, tg_ctx_error(ctx));
        tg_ctx_clear_error(ctx);
    }
    tg_safetensors_meta dup[] = {{"k", "1"}, {"k", "2"}};
    cr_expect_eq(tg_safetensors_save(ctx, path, 1, good, 2, dup), TG_ERR_ARG);
    cr_expect(strstr(tg_ctx_error(ctx), "the metadata key \"k\" is given twice"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    tg_safetensors_meta null_value[] = {{"k", NULL}};
    cr_expect_eq(tg_safetensors_save(ctx, path, 1, good, 1, null_value), TG_ERR_ARG);
    cr_expect(strstr(tg_ctx_error(ctx), "the value of metadata pair 0 is NULL"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    /* a directory that does not exist: an I/O error, nothing left behind */
    char nowhere[160];
    snprintf(nowhere, sizeof nowhere, "%s/none/m.safetensors", dir);
    cr_expect_eq(tg_safetensors_save(ctx, nowhere, 1, good, 0, NULL), TG_ERR_IO);
    cr_expect(strstr(tg_ctx_error(ctx), "mkstemp"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    size_t after_n;
    uint8_t *after = read_file(path, &after_n);
    cr_expect(after_n == before_n && memcmp(before, after, before_n) == 0, "the previous file changed");
    char cmd[200];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir); /* no temporary left */
    cr_expect_eq(system(cmd), 0);
    free(before);
    free(after);
}

Test(io_safetensors, null_arguments_are_errors_not_crashes)
{
    cr_expect_null(tg_safetensors_open(NULL, path));
    cr_expect_null(tg_safetensors_open(ctx, NULL));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_safetensors_open_memory(ctx, NULL, 8, NULL));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_safetensors_open(ctx, dir)); /* a directory */
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_IO);
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_safetensors_open(ctx, "/nonexistent/x.safetensors"));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_IO);
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_safetensors_count(NULL), -1);
    cr_expect_null(tg_safetensors_name(NULL, 0));
    cr_expect_eq(tg_safetensors_find(NULL, "a"), -1);
    cr_expect_eq(tg_safetensors_metadata_count(NULL), -1);
    cr_expect_null(tg_safetensors_read(NULL, "a", TG_F32));
    cr_expect_eq(tg_safetensors_load(NULL, 0, NULL), TG_ERR_ARG);
    cr_expect_eq(tg_safetensors_save(NULL, path, 0, NULL, 0, NULL), TG_ERR_ARG);
    cr_expect_eq(tg_safetensors_save(ctx, path, 1, NULL, 0, NULL), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);
    tg_safetensors_close(NULL);
    /* an empty file set is a valid file: "{}" padded to 8 bytes */
    cr_expect_eq(tg_safetensors_save(ctx, path, 0, NULL, 0, NULL), TG_OK);
    tg_safetensors *st = tg_safetensors_open(ctx, path);
    cr_assert_not_null(st, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_safetensors_count(st), 0);
    cr_expect_eq(tg_safetensors_load(st, 0, NULL), TG_OK);
    tg_safetensors_close(st);
}

/* ---- hostile files ------------------------------------------------------------ */

Test(io_safetensors, every_truncation_of_a_valid_file_is_refused)
{
    tg_rng rng = tg_rng_seed(9);
    tg_tensor *a = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(3, 2), 0, 1);
    tg_tensor *b = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(2), 0, 1);
    tg_named_tensor items[] = {{"a", a}, {"b", b}};
    tg_safetensors_meta meta[] = {{"format", "pt"}};
    cr_assert_eq(tg_safetensors_save(ctx, path, 2, items, 1, meta), TG_OK);
    size_t n;
    uint8_t *bytes = read_file(path, &n);
    for (size_t cut = 0; cut < n; cut++) {
        tg_safetensors *st = tg_safetensors_open_memory(ctx, bytes, cut, "cut");
        cr_expect_null(st, "a file cut to %zu of %zu bytes was accepted", cut, n);
        cr_expect_eq(tg_ctx_status(ctx), TG_ERR_FORMAT, "cut %zu: %s", cut, tg_ctx_error(ctx));
        tg_ctx_clear_error(ctx);
        tg_safetensors_close(st);
    }
    write_file(path, bytes, 20);
    cr_expect_null(tg_safetensors_open(ctx, path));
    cr_expect(strstr(tg_ctx_error(ctx), "model.safetensors: the header length is"), "%s", tg_ctx_error(ctx));
    cr_expect(strstr(tg_ctx_error(ctx), "but the file holds 12 after it (truncated"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    write_file(path, bytes, 5);
    cr_expect_null(tg_safetensors_open(ctx, path));
    cr_expect(strstr(tg_ctx_error(ctx), "5 bytes, shorter than the 8-byte header length"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    free(bytes);
}

Test(io_safetensors, header_lengths_beyond_the_file_or_absurd_are_refused_before_allocating)
{
    uint8_t bytes[64] = "........{}";
    const uint64_t lengths[] = {UINT64_MAX, (uint64_t)1 << 40, TG_SAFETENSORS_MAX_HEADER + 1ull,
                                TG_SAFETENSORS_MAX_HEADER, 57, 1, 0};
    const char *phrases[] = {"more than the 100000000 this reader takes", "more than the 100000000",
                             "more than the 100000000", "but the file holds 56 after it",
                             "but the file holds 56 after it", "cannot hold a JSON object", "cannot hold a JSON object"};
    for (int c = 0; c < 7; c++) {
        for (int i = 0; i < 8; i++)
            bytes[i] = (uint8_t)(lengths[c] >> (8 * i));
        cr_expect_null(tg_safetensors_open_memory(ctx, bytes, 64, "big"));
        cr_expect_eq(tg_ctx_status(ctx), TG_ERR_FORMAT);
        cr_expect(strstr(tg_ctx_error(ctx), phrases[c]), "length %llu: %s", (unsigned long long)lengths[c],
                  tg_ctx_error(ctx));
        tg_ctx_clear_error(ctx);
    }
}

Test(io_safetensors, offsets_that_overlap_leave_gaps_run_past_or_miss_the_size_are_refused)
{
    uint8_t data[32] = {0};
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
            data, 12, "entries \"a\" [0, 8] and \"b\" [4, 12] overlap", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
            data, 8, "overlap", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
            data, 20, "4 bytes at data offset 8 belong to no entry (before \"b\")", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", data, 12,
            "4 bytes at data offset 0 belong to no entry", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", data, 12,
            "entry \"a\": data_offsets [0, 16] run past the data section's 12 bytes", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data, 12,
            "4 bytes after the last entry's data", NULL);
    refused("{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", data, 8,
            "entry \"a\": data_offsets [0, 8] hold 8 bytes; F64 [2] takes 16", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,4]}}", data, 8,
            "data_offsets [8, 4] end before they begin", NULL);
    refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", data, 8,
            "shape [4294967296, 4294967296] holds more values than the 8 bytes", NULL);
    refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[9007199254740993],\"data_offsets\":[0,8]}}", data, 8,
            "exceeds 9007199254740992", NULL);
    refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2,4]}}", data, 2,
            "\"data_offsets\" has more than 2 numbers", NULL);
    refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2]}}", data, 2,
            "data_offsets has 1 numbers; expected 2", NULL);
}

Test(io_safetensors, duplicates_unknown_dtypes_and_fields_are_refused)
{
    uint8_t data[16] = {0};
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
            data, 8, "two entries are named \"a\"", NULL);
    refused("{\"__metadata__\":{},\"__metadata__\":{}}", data, 0, "\"__metadata__\" appears twice", NULL);
    refused("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", data, 0, "__metadata__ has the key \"k\" twice", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data, 4,
            "entry \"a\" has \"dtype\" twice", NULL);
    refused("{\"a\":{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}}", data, 4,
            "entry \"a\": dtype \"F99\" is not a safetensors dtype", NULL);
    refused("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data, 4, "dtype \"f32\"", NULL);
    refused("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", data, 4, "dtype is a number", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"offsets\":[0,4]}}", data, 4,
            "entry \"a\" has a field \"offsets\"; expected only dtype, shape and data_offsets", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", data, 4, "entry \"a\" has no data_offsets", NULL);
    refused("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", data, 4, "entry \"a\" has no dtype", NULL);
    refused("{\"a\":[1]}", data, 0, "entry \"a\" is an array; expected an object", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,4]}}", data, 4,
            "\"shape\" is a number; expected an array of integers", NULL);
    refused("{\"__metadata__\":{\"k\":1}}", data, 0, "__metadata__ \"k\" is a number; its values must be strings",
            NULL);
    refused("{\"__metadata__\":[]}", data, 0, "__metadata__ is an array; expected an object of strings", NULL);
}

Test(io_safetensors, headers_that_are_no_json_object_are_refused)
{
    refused("[]", NULL, 0, "the header starts with byte 0x5b", NULL);
    refused("\"x\"", NULL, 0, "starts with byte 0x22", NULL);
    refused(" {}", NULL, 0, "starts with byte 0x20", NULL);
    refused("{}x", NULL, 0, "a 'x' after the end of the JSON value (trailing garbage)", NULL);
    refused("{}{}", NULL, 0, "trailing garbage", NULL);
    refused("{ ", NULL, 0, "expected a member name (a string), found the end of the text", NULL);
    refused("{\"a\"}", NULL, 0, "expected ':' after a member name, found a '}'", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],}}", "abcd", 4,
            "a trailing ',' before '}'", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,],\"data_offsets\":[0,4]}}", "abcd", 4,
            "a trailing ',' before ']'", NULL);
    refused("{'a':{}}", NULL, 0, "expected a member name (a string), found a '''", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", "abcd", 4, "leading zero: 01", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "abcd", 4,
            "expected a non-negative integer, found -1", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", "abcd", 4,
            "found 1.0 (a fraction, an exponent", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", "abcd", 4, "found 1e0", NULL);
    refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[+1],\"data_offsets\":[0,4]}}", "abcd", 4,
            "expected a non-negative integer, found a '+'", NULL);
}

Test(io_safetensors, the_empty_padded_header_is_valid)
{
    image keep;
    tg_safetensors *st = open_ok("{}      ", NULL, 0, &keep);
    cr_expect_eq(tg_safetensors_count(st), 0);
    cr_expect_eq(tg_safetensors_metadata_count(st), 0);
    tg_safetensors_close(st);
    free(keep.bytes);
}

Test(io_safetensors, bad_utf8_escapes_and_control_characters_are_refused)
{
    refused("{\"a\xff\":{}}", NULL, 0, "the header is not valid UTF-8 (byte 3 of the header)", NULL);
    refused("{\"\xc0\xaf\":{}}", NULL, 0, "not valid UTF-8", NULL);          /* overlong '/' */
    refused("{\"\xed\xa0\x80\":{}}", NULL, 0, "not valid UTF-8", NULL);      /* a surrogate */
    refused("{\"\xf4\x90\x80\x80\":{}}", NULL, 0, "not valid UTF-8", NULL);  /* above U+10FFFF */
    refused("{\"a\\x\":{}}", NULL, 0, "invalid escape '\\x' inside a string", NULL);
    refused("{\"a\\u12\":{}}", NULL, 0, "a \\u escape without four hex digits", NULL);
    refused("{\"a\\ud800\":{}}", NULL, 0, "a high surrogate \\ud800 without its low surrogate", NULL);
    refused("{\"a\\udc00\":{}}", NULL, 0, "a lone low surrogate \\udc00", NULL);
    refused("{\"a\\u0000\":{}}", NULL, 0, "a string holding \\u0000 (NUL)", NULL);
    refused("{\"a\tb\":{}}", NULL, 0, "control character 0x09 inside a string (it must be escaped)", NULL);
    refused("{\"abc", NULL, 0, "a string not closed before the end of the text", NULL);
}

Test(io_safetensors, json_bombs_are_refused_at_once)
{
    /* deep nesting: a million '[' */
    size_t deep = 1000000;
    char *bomb = malloc(deep + 16);
    strcpy(bomb, "{\"a\":");
    memset(bomb + 5, '[', deep);
    bomb[5 + deep] = '\0';
    refused(bomb, NULL, 0, "at byte 5: entry \"a\" is an array", NULL);
    memcpy(bomb, "{\"a\":{\"shape\":", 14);
    memset(bomb + 14, '[', deep - 9);
    refused(bomb, NULL, 0, "at byte 15: expected a non-negative integer, found an array", NULL);
    memcpy(bomb, "{\"__metadata__\":", 16);
    memset(bomb + 16, '{', deep - 11);
    refused(bomb, NULL, 0, "expected a member name (a string), found an object", NULL);
    /* huge strings: a name and a metadata value past their limits */
    memset(bomb, 'x', deep);
    bomb[0] = '{', bomb[1] = '"', bomb[deep - 3] = '"', bomb[deep - 2] = ':', bomb[deep - 1] = '\0';
    refused(bomb, NULL, 0, "at byte 1: a string longer than 4096 bytes", NULL);
    char *value = malloc(TG_SAFETENSORS_MAX_VALUE + 64);
    strcpy(value, "{\"__metadata__\":{\"k\":\"");
    size_t at = strlen(value);
    memset(value + at, 'v', TG_SAFETENSORS_MAX_VALUE + 1);
    strcpy(value + at + TG_SAFETENSORS_MAX_VALUE + 1, "\"}}");
    refused(value, NULL, 0, "a string longer than 1048576 bytes", NULL);
    /* huge arrays: a shape of a million dims */
    strcpy(bomb, "{\"a\":{\"dtype\":\"U8\",\"shape\":[");
    at = strlen(bomb);
    for (size_t i = 0; i < 400000; i++)
        memcpy(bomb + at + 2 * i, "1,", 2);
    strcpy(bomb + at + 800000 - 1, "]}}");
    refused(bomb, NULL, 0, "entry \"a\": \"shape\" has more than 8 numbers", NULL);
    free(value);
    free(bomb);
}

Test(io_safetensors, names_in_messages_are_cut_to_a_readable_length)
{
    char header[9000];
    snprintf(header, sizeof header, "{\"%04000d\":{\"dtype\":\"F99\",\"shape\":[],\"data_offsets\":[0,4]}}", 7);
    image im = make_image(header, "abcd", 4);
    cr_expect_null(tg_safetensors_open_memory(ctx, im.bytes, im.size, "long"));
    cr_expect_lt(strlen(tg_ctx_error(ctx)), 800, "%zu bytes of message", strlen(tg_ctx_error(ctx)));
    cr_expect(strstr(tg_ctx_error(ctx), "dtype \"F99\""), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    free(im.bytes);
}
