/* libFuzzer harness: tg_idx_read on any bytes, plain or gzipped (the
 * gzipped path checks the magic on the first bytes out and stops at the size
 * the header gives). A success must hand back values that fill the dims. */
#include "tools/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tg_ctx *ctx = fuzz_ctx();
    tg_idx idx;
    if (tg_idx_read(ctx, fuzz_file("in.idx", data, size), &idx) == TG_OK) {
        int64_t count = 1;
        for (int i = 0; i < idx.rank; i++)
            count *= idx.shape[i];
        if (count != idx.count)
            abort();
        volatile uint8_t sink = 0;
        const uint8_t *v = idx.data;
        for (size_t i = 0; i < (size_t)idx.count * tg_idx_type_size(idx.type); i++)
            sink ^= v[i]; /* every byte readable */
        tg_idx_free(&idx);
    } else if (tg_ctx_status(ctx) == TG_OK)
        abort(); /* an error without a status */
    return 0;
}
