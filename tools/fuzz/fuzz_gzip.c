/* libFuzzer harness: tg_gzip_decode_max on any bytes, with a cap of 1 MiB;
 * a success must stay under the cap. The same bytes go through
 * tg_file_read (gzip found by its magic, default cap). */
#include "tools/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tg_ctx *ctx = fuzz_ctx();
    uint8_t *out;
    size_t n;
    if (tg_gzip_decode_max(ctx, data, size, "fuzz", 1 << 20, &out, &n) == TG_OK) {
        if (n > 1 << 20 || !out)
            abort();
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < n; i++)
            sink ^= out[i];
        free(out);
    } else if (tg_ctx_status(ctx) == TG_OK)
        abort();
    tg_ctx_clear_error(ctx);
    if (tg_file_read(ctx, fuzz_file("in.gz", data, size), &out, &n) == TG_OK) {
        if (n > tg_gzip_default_max(size))
            abort();
        free(out);
    }
    return 0;
}
