/* libFuzzer harness: tg_checkpoint_load on any bytes into the model the
 * seeds were saved from (an MLP 3-4-2 with Adam, float32 or float64), with and
 * without the optimizer. The last input byte is a mode: bit 0 set makes the
 * harness fix the payload length and CRC32 first, so the fuzzer reaches the
 * records instead of stopping at the checksum; bit 1 picks float64. A failed
 * load must leave the model untouched. */
#include "tools/fuzz/fuzz.h"

typedef struct {
    tg_mlp *mlp;
    tg_optimizer *opt;
} model;

static model fuzz_model(tg_ctx *ctx, tg_dtype dtype)
{
    static model models[2];
    model *m = &models[dtype == TG_F64];
    if (!m->mlp) {
        tg_rng rng = tg_rng_seed(1);
        const int64_t widths[] = {3, 4, 2};
        const tg_activation acts[] = {TG_ACT_TANH, TG_ACT_NONE};
        m->mlp = tg_mlp_new(ctx, dtype, 2, widths, acts, TG_INIT_XAVIER, &rng);
        m->opt = tg_optim_adam_new(tg_mlp_params(m->mlp), 0.01, 0.9, 0.999, 1e-8);
        if (!m->mlp || !m->opt)
            abort();
    }
    return *m;
}

static uint64_t checksum(tg_params p)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < p.count; i++) {
        const uint8_t *b = tg_tensor_data_const(p.items[i]);
        size_t n = (size_t)tg_tensor_size(p.items[i]) * (tg_tensor_dtype(p.items[i]) == TG_F32 ? 4 : 8);
        for (size_t k = 0; k < n; k++)
            h = (h ^ b[k]) * 1099511628211ull;
    }
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    tg_ctx *ctx = fuzz_ctx();
    uint8_t mode = data[--size];
    uint8_t *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    if ((mode & 1) && size >= 52) {
        uint64_t payload = size - 52;
        for (int i = 0; i < 8; i++)
            buf[40 + i] = (uint8_t)(payload >> (8 * i));
        uint32_t crc = tg_crc32(0, buf, size - 4);
        for (int i = 0; i < 4; i++)
            buf[size - 4 + i] = (uint8_t)(crc >> (8 * i));
    }
    model m = fuzz_model(ctx, mode & 2 ? TG_F64 : TG_F32);
    const char *path = fuzz_file("in.ckpt", buf, size);
    free(buf);
    tg_params params = tg_mlp_params(m.mlp), state = tg_optim_state(m.opt);
    for (int with_opt = 0; with_opt < 2; with_opt++) {
        uint64_t before = checksum(params) ^ checksum(state);
        int64_t epoch = -1;
        if (tg_checkpoint_load(ctx, path, params, with_opt ? m.opt : NULL, &epoch) != TG_OK) {
            if (tg_ctx_status(ctx) == TG_OK || (checksum(params) ^ checksum(state)) != before || epoch != -1)
                abort(); /* a failed load touched the model */
        }
        tg_ctx_clear_error(ctx);
    }
    return 0;
}
