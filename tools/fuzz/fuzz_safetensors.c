/* libFuzzer harness: tg_safetensors_open_memory, or tg_safetensors_open on a
 * file (bit 0 of the last input byte, the mode), on any bytes. An index that
 * opens must answer for every entry (name, dtype, shape, find), read every
 * entry tapegrad can hold, and survive a round trip: its tensors and
 * metadata saved with tg_safetensors_save and opened again come back with
 * the same names, order, shapes, metadata and bits. tg_safetensors_load into
 * a fixed pair of tensors ("a" f32 [2, 3], "b" f64 [4]) must write both or
 * neither, and so must tg_model_load_safetensors into a small model (dense,
 * batch norm with PyTorch's num_batches_tracked, LSTM: the seed model_torch),
 * with and without a name map. */
#include "tools/fuzz/fuzz.h"

static uint64_t checksum(const tg_tensor *t, uint64_t h)
{
    const uint8_t *b = tg_tensor_data_const(t);
    size_t n = (size_t)tg_tensor_size(t) * (tg_tensor_dtype(t) == TG_F32 ? 4 : 8);
    for (size_t k = 0; k < n; k++)
        h = (h ^ b[k]) * 1099511628211ull;
    return h;
}

/* The dtype an entry reads into without loss, or -1 when tapegrad cannot
 * hold it. */
static int natural_dtype(const tg_safetensors *st, int i)
{
    const char *dt = tg_safetensors_dtype(st, i);
    int rank = tg_safetensors_rank(st, i);
    const int64_t *shape = tg_safetensors_shape(st, i);
    if (rank > TG_MAX_RANK)
        return -1;
    for (int d = 0; d < rank; d++)
        if (shape[d] < 1)
            return -1;
    if (strcmp(dt, "F64") == 0)
        return TG_F64;
    if (strcmp(dt, "I64") == 0)
        return TG_I64;
    return strcmp(dt, "F32") == 0 || strcmp(dt, "F16") == 0 || strcmp(dt, "BF16") == 0 ? TG_F32 : -1;
}

/* Saves what st holds and checks that it comes back the same. */
static void round_trip(tg_ctx *ctx, tg_safetensors *st, tg_named_tensor *items, int n)
{
    int n_meta = tg_safetensors_metadata_count(st);
    tg_safetensors_meta *meta = malloc(sizeof *meta * ((size_t)n_meta + 1));
    for (int i = 0; i < n_meta; i++)
        meta[i] = (tg_safetensors_meta){tg_safetensors_metadata_key(st, i), tg_safetensors_metadata_value(st, i)};
    const char *path = fuzz_file("out.safetensors", (const uint8_t *)"", 0);
    if (tg_safetensors_save(ctx, path, n, items, n_meta, meta) != TG_OK)
        abort(); /* every name of a valid file is a valid name to save */
    tg_safetensors *back = tg_safetensors_open(ctx, path);
    if (!back || tg_safetensors_count(back) != n || tg_safetensors_metadata_count(back) != n_meta)
        abort();
    for (int i = 0; i < n_meta; i++)
        if (strcmp(tg_safetensors_metadata_key(back, i), meta[i].key) != 0 ||
            strcmp(tg_safetensors_metadata_value(back, i), meta[i].value) != 0)
            abort();
    for (int i = 0; i < n; i++) {
        if (strcmp(tg_safetensors_name(back, i), items[i].name) != 0)
            abort();
        tg_tensor *t = tg_safetensors_read(back, items[i].name, tg_tensor_dtype(items[i].tensor));
        if (!t || tg_tensor_rank(t) != tg_tensor_rank(items[i].tensor) ||
            checksum(t, 1) != checksum(items[i].tensor, 1))
            abort();
        for (int d = 0; d < tg_tensor_rank(t); d++)
            if (tg_tensor_shape(t)[d] != tg_tensor_shape(items[i].tensor)[d])
                abort();
        tg_tensor_free(t);
    }
    tg_safetensors_close(back);
    free(meta);
}

static uint64_t model_checksum(const tg_model *model)
{
    tg_params all = tg_model_tensors(model);
    uint64_t h = 1;
    for (int i = 0; i < all.count; i++)
        h = checksum(all.items[i], h);
    return h;
}

/* Reads "model.<name>" for every tensor but the LSTM's hidden-to-hidden bias. */
static const char *prefixed(const char *torch_name, void *user)
{
    char *buf = user;
    if (strstr(torch_name, "bias_hh"))
        return NULL;
    snprintf(buf, 128, "model.%s", torch_name);
    return buf;
}

/* The whole file loaded into the model, all or nothing, with and without a map. */
static void model_load(tg_ctx *ctx, const char *path)
{
    static tg_model *model;
    if (!model) {
        tg_rng rng = tg_rng_seed(3);
        model = tg_model_new(ctx, TG_F32, 0, NULL, TG_LAYERS(
            {.kind = TG_LAYER_DENSE, .in = 2, .out = 3, .act = TG_ACT_RELU},
            {.kind = TG_LAYER_BATCH_NORM, .in = 3},
            {.kind = TG_LAYER_LSTM, .in = 3, .out = 2}), &rng);
        if (!model)
            abort();
    }
    char buf[128];
    for (int mapped = 0; mapped < 2; mapped++) {
        tg_model *copy = tg_model_clone(model, ctx);
        uint64_t before = model_checksum(copy);
        tg_status status = tg_model_load_safetensors(copy, path, mapped ? prefixed : NULL, buf);
        if (status != TG_OK && (model_checksum(copy) != before || tg_ctx_status(ctx) == TG_OK))
            abort(); /* a failed load wrote something, or failed without a reason */
        tg_ctx_clear_error(ctx);
        tg_model_free(copy);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    tg_ctx *ctx = fuzz_ctx();
    uint8_t mode = data[--size];
    if (mode & 1)
        model_load(ctx, fuzz_file("in.safetensors", data, size));
    tg_safetensors *st = mode & 1 ? tg_safetensors_open(ctx, fuzz_file("in.safetensors", data, size))
                                  : tg_safetensors_open_memory(ctx, data, size, "fuzz");
    if (!st) {
        if (tg_ctx_status(ctx) == TG_OK)
            abort(); /* refused without a reason */
        return 0;
    }
    int n = tg_safetensors_count(st);
    tg_named_tensor *items = calloc((size_t)n + 1, sizeof *items);
    bool all = true;
    for (int i = 0; i < n; i++) {
        const char *name = tg_safetensors_name(st, i);
        int rank = tg_safetensors_rank(st, i);
        if (!name || !tg_safetensors_dtype(st, i) || rank < 0 || rank > TG_SAFETENSORS_MAX_RANK ||
            tg_safetensors_find(st, name) != i)
            abort();
        int dtype = natural_dtype(st, i);
        all = all && dtype >= 0 && name[0] != '\0';
        if (dtype < 0)
            continue;
        tg_tensor *t = tg_safetensors_read(st, name, (tg_dtype)dtype);
        if (!t)
            abort(); /* an entry of a valid index that tapegrad can hold reads */
        fuzz_sink += tg_tensor_get(t, 0);
        items[i] = (tg_named_tensor){name, t};
        if (dtype != TG_I64) { /* and converts to the other float dtype */
            tg_tensor *other = tg_safetensors_read(st, name, dtype == TG_F32 ? TG_F64 : TG_F32);
            if (!other)
                abort();
            tg_tensor_free(other);
        }
    }
    for (int i = 0; i < tg_safetensors_metadata_count(st); i++)
        if (tg_safetensors_metadata(st, tg_safetensors_metadata_key(st, i)) == NULL)
            abort();
    if (all)
        round_trip(ctx, st, items, n);

    /* all or nothing */
    static tg_tensor *a, *b;
    if (!a) {
        a = tg_tensor_full(ctx, TG_F32, TG_SHAPE(2, 3), 0.5);
        b = tg_tensor_full(ctx, TG_F64, TG_SHAPE(4), -0.5);
    }
    tg_named_tensor pair[] = {{"a", a}, {"b", b}};
    uint64_t before_a = checksum(a, 1), before_b = checksum(b, 1);
    if (tg_safetensors_load(st, 2, pair) != TG_OK) {
        if (checksum(a, 1) != before_a || checksum(b, 1) != before_b)
            abort(); /* a failed load wrote something */
    } else {
        tg_tensor_fill(a, 0.5);
        tg_tensor_fill(b, -0.5);
    }
    for (int i = 0; i < n; i++)
        tg_tensor_free(items[i].tensor);
    free(items);
    tg_safetensors_close(st);
    tg_ctx_clear_error(ctx);
    return 0;
}
