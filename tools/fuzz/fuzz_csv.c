/* libFuzzer harness: tg_csv_parse on any bytes, in each header mode. A
 * success must have rows x cols values and, with a header, cols names. */
#include "tools/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tg_ctx *ctx = fuzz_ctx();
    const tg_csv_header modes[3] = {TG_CSV_HEADER_AUTO, TG_CSV_HEADER_YES, TG_CSV_HEADER_NO};
    for (int m = 0; m < 3; m++) {
        tg_csv csv;
        /* a private copy of exactly size bytes: reading past it is caught */
        char *text = malloc(size ? size : 1);
        memcpy(text, data, size);
        if (tg_csv_parse(ctx, text, size, "fuzz", modes[m], &csv) == TG_OK) {
            volatile double sink = 0;
            for (int64_t i = 0; i < csv.rows * csv.cols; i++)
                sink += csv.values[i];
            for (int64_t c = 0; csv.names && c < csv.cols; c++)
                sink += (double)strlen(csv.names[c]);
            if (csv.rows < 1 || csv.cols < 1 || (m == 1 && !csv.names) || (m == 2 && csv.names))
                abort();
            tg_csv_free(&csv);
        } else if (tg_ctx_status(ctx) == TG_OK)
            abort();
        free(text);
        tg_ctx_clear_error(ctx);
    }
    return 0;
}
