/* Seed corpora for the fuzz harnesses, written by tapegrad's own writers:
 * tg_idx_write (every value type, ranks 1 to 4), tg_history_save_csv and
 * tg_curves_save_csv, tg_checkpoint_save (with and without Adam state,
 * float32 and float64), and gzip members of those files built with stored
 * blocks and tg_crc32 (tools/fuzz/run.sh adds Huffman-coded ones when the
 * gzip program is installed), and safetensors files from tg_safetensors_save
 * (f32, f64, i64, metadata) and written byte by byte (BF16, F16, I32, an empty
 * tensor, escaped names).
 *
 *     make_seeds DIR    writes DIR/idx, DIR/csv, DIR/gzip, DIR/checkpoint, DIR/safetensors */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tapegrad.h"

static char root[1024];

static const char *path_of(const char *sub, const char *name)
{
    static char path[2048];
    snprintf(path, sizeof path, "%s/%s/%s", root, sub, name);
    return path;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        abort();
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    uint8_t *b = malloc(*n + 1);
    if (fread(b, 1, *n, f) != *n)
        abort();
    fclose(f);
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t n, const uint8_t *tail, size_t tail_n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || (tail_n && fwrite(tail, 1, tail_n, f) != tail_n) || fclose(f) != 0)
        abort();
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A gzip member of stored deflate blocks holding n bytes. */
static void write_stored_gzip(const char *path, const uint8_t *data, size_t n)
{
    size_t blocks = n / 65535 + 1, size = 10 + n + 5 * blocks + 8;
    uint8_t *g = malloc(size), *p = g;
    static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memcpy(p, header, 10);
    p += 10;
    for (size_t b = 0, at = 0; b < blocks; b++) {
        size_t len = n - at < 65535 ? n - at : 65535;
        *p++ = b == blocks - 1; /* BFINAL, BTYPE 00 */
        p[0] = (uint8_t)len, p[1] = (uint8_t)(len >> 8), p[2] = (uint8_t)~len, p[3] = (uint8_t)(~len >> 8);
        p += 4;
        memcpy(p, data + at, len);
        p += len, at += len;
    }
    put32(p, tg_crc32(0, data, n));
    put32(p + 4, (uint32_t)n);
    spit(path, g, size, NULL, 0);
    free(g);
}

static void idx_seeds(tg_ctx *ctx)
{
    const tg_idx_type types[] = {TG_IDX_U8, TG_IDX_I8, TG_IDX_I16, TG_IDX_I32, TG_IDX_F32, TG_IDX_F64};
    for (int t = 0; t < 6; t++)
        for (int rank = 1; rank <= 4; rank++) {
            tg_idx idx = {.type = types[t], .rank = rank, .count = 1};
            for (int i = 0; i < rank; i++)
                idx.count *= idx.shape[i] = 2 + (i + t) % 3;
            uint8_t *v = malloc((size_t)idx.count * tg_idx_type_size(types[t]));
            for (size_t i = 0; i < (size_t)idx.count * tg_idx_type_size(types[t]); i++)
                v[i] = (uint8_t)(i * 37 + (size_t)t);
            idx.data = v;
            char name[64];
            snprintf(name, sizeof name, "type%02x_rank%d.idx", types[t], rank);
            if (tg_idx_write(ctx, path_of("idx", name), &idx) != TG_OK)
                abort();
            size_t n;
            uint8_t *bytes = slurp(path_of("idx", name), &n);
            strcat(name, ".gz");
            write_stored_gzip(path_of("idx", name), bytes, n);
            write_stored_gzip(path_of("gzip", name), bytes, n);
            free(bytes);
            free(v);
        }
}

static void csv_seeds(tg_ctx *ctx)
{
    tg_history h = {0};
    for (int e = 1; e <= 3; e++)
        tg_history_append(&h, e, 1.0 / e, 0.5 + 0.1 * e, e == 2 ? NAN : 0.7, 1.5 * e);
    if (tg_history_save_csv(ctx, &h, path_of("csv", "history.csv")) != TG_OK)
        abort();
    tg_history_free(&h);
    double loss[4] = {2.3, 1.1, 0.7, 0.5}, acc[4] = {0.3, 0.6, 0.8, 0.85};
    tg_curves c = {.count = 4, .train_loss = loss, .test_accuracy = acc};
    if (tg_curves_save_csv(ctx, &c, path_of("csv", "curves.csv")) != TG_OK)
        abort();
    size_t n;
    uint8_t *bytes = slurp(path_of("csv", "history.csv"), &n);
    write_stored_gzip(path_of("gzip", "history.csv.gz"), bytes, n);
    free(bytes);
    write_stored_gzip(path_of("gzip", "empty.gz"), (const uint8_t *)"", 0);
}

/* The model of fuzz_checkpoint.c: an MLP 3-4-2 with Adam. The harness reads
 * the last byte as its mode (bit 0: fix length and CRC, bit 1: float64). */
static void checkpoint_seeds(tg_ctx *ctx)
{
    for (int f64 = 0; f64 < 2; f64++) {
        tg_rng rng = tg_rng_seed(1);
        const int64_t widths[] = {3, 4, 2};
        const tg_activation acts[] = {TG_ACT_TANH, TG_ACT_NONE};
        tg_mlp *mlp = tg_mlp_new(ctx, f64 ? TG_F64 : TG_F32, 2, widths, acts, TG_INIT_XAVIER, &rng);
        tg_optimizer *opt = tg_optim_adam_new(tg_mlp_params(mlp), 0.01, 0.9, 0.999, 1e-8);
        for (int with_opt = 0; with_opt < 2; with_opt++) {
            char name[64];
            snprintf(name, sizeof name, "mlp_%s_%s.ckpt", f64 ? "f64" : "f32", with_opt ? "adam" : "params");
            if (tg_checkpoint_save(ctx, path_of("checkpoint", name), tg_mlp_params(mlp), with_opt ? opt : NULL, 3) !=
                TG_OK)
                abort();
            size_t n;
            uint8_t *bytes = slurp(path_of("checkpoint", name), &n);
            for (uint8_t fix = 0; fix < 2; fix++) {
                uint8_t mode = (uint8_t)(fix | f64 << 1);
                char seed[80];
                snprintf(seed, sizeof seed, "%s.mode%u", name, mode);
                spit(path_of("checkpoint", seed), bytes, n, &mode, 1);
            }
            free(bytes);
            remove(path_of("checkpoint", name));
        }
        tg_optim_free(opt);
        tg_mlp_free(mlp);
    }
}

/* The harness reads the last byte as its mode (bit 0: through a file). */
static void safetensors_seed(const char *name, const uint8_t *bytes, size_t n)
{
    for (uint8_t mode = 0; mode < 2; mode++) {
        char seed[80];
        snprintf(seed, sizeof seed, "%s.mode%u", name, mode);
        spit(path_of("safetensors", seed), bytes, n, &mode, 1);
    }
}

/* A file of header and data_n bytes of data, written byte by byte. */
static void safetensors_handmade(const char *name, const char *header, const uint8_t *data, size_t data_n)
{
    size_t h = strlen(header);
    uint8_t *b = malloc(8 + h + data_n);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    memcpy(b + 8 + h, data, data_n);
    safetensors_seed(name, b, 8 + h + data_n);
    free(b);
}

static void safetensors_seeds(tg_ctx *ctx)
{
    tg_rng rng = tg_rng_seed(2);
    tg_tensor *w = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(4, 3), 0, 1);
    tg_tensor *b = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(4), 0, 1);
    tg_tensor *d = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(2, 1, 2), 0, 1);
    tg_tensor *i = tg_tensor_from(ctx, TG_I64, TG_SHAPE(3), (double[]){-1, 0, 9007199254740992.0});
    tg_tensor *s = tg_tensor_scalar(ctx, TG_F32, 2.5);
    tg_named_tensor mlp[] = {{"0.weight", w}, {"0.bias", b}}, mixed[] = {{"a", w}, {"b", d}, {"idx", i}, {"s", s}};
    tg_safetensors_meta meta[] = {{"format", "pt"}, {"note", "tapegrad \"seed\"\n"}};
    const struct {
        const char *name;
        int n, n_meta;
        const tg_named_tensor *items;
    } saved[] = {{"mlp_f32", 2, 1, mlp}, {"mixed", 4, 2, mixed}, {"empty", 0, 0, NULL}, {"meta_only", 0, 2, NULL}};
    for (int k = 0; k < 4; k++) {
        char file[2048];
        snprintf(file, sizeof file, "%s", path_of("safetensors", saved[k].name));
        if (tg_safetensors_save(ctx, file, saved[k].n, saved[k].items, saved[k].n_meta, meta) != TG_OK)
            abort();
        size_t n;
        uint8_t *bytes = slurp(file, &n);
        safetensors_seed(saved[k].name, bytes, n);
        free(bytes);
        remove(file);
    }
    /* the model of the harness's tg_model_load_safetensors, under PyTorch's names */
    tg_model *model = tg_model_new(ctx, TG_F32, 0, NULL, TG_LAYERS(
        {.kind = TG_LAYER_DENSE, .in = 2, .out = 3, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_BATCH_NORM, .in = 3},
        {.kind = TG_LAYER_LSTM, .in = 3, .out = 2}), &rng);
    char file[2048];
    snprintf(file, sizeof file, "%s", path_of("safetensors", "model_torch"));
    if (!model || tg_model_save_safetensors(model, file) != TG_OK)
        abort();
    size_t model_n;
    uint8_t *model_bytes = slurp(file, &model_n);
    safetensors_seed("model_torch", model_bytes, model_n);
    free(model_bytes);
    remove(file);
    tg_model_free(model);
    uint8_t data[64];
    for (int k = 0; k < 64; k++)
        data[k] = (uint8_t)(k * 29 + 0x3c);
    safetensors_handmade("half", "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
                         "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[12,20]}}  ", data, 20);
    safetensors_handmade("other_dtypes", "{\"__metadata__\":{\"k\":\"v\"},"
                         "\"i\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[8,8]},"
                         "\"u\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,2],\"data_offsets\":[8,10]}}", data, 10);
    safetensors_handmade("escapes", "{ \"caf\\u00e9 \\\"q\\\" \\ud83d\\ude00\" : { \"dtype\" : \"F64\" ,"
                         " \"shape\" : [ 1 ] , \"data_offsets\" : [ 0 , 8 ] } }\n", data, 8);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    snprintf(root, sizeof root, "%s", argv[1]);
    mkdir(root, 0755);
    const char *subs[] = {"idx", "csv", "gzip", "checkpoint", "safetensors"};
    for (int i = 0; i < 5; i++) {
        char d[1100];
        snprintf(d, sizeof d, "%s/%s", root, subs[i]);
        mkdir(d, 0755);
    }
    tg_ctx *ctx = tg_ctx_new(1);
    idx_seeds(ctx);
    csv_seeds(ctx);
    checkpoint_seeds(ctx);
    safetensors_seeds(ctx);
    tg_status status = tg_ctx_status(ctx);
    if (status != TG_OK)
        fprintf(stderr, "%s\n", tg_ctx_error(ctx));
    tg_ctx_free(ctx);
    return status != TG_OK;
}
