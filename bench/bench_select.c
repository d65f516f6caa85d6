/* Data-moving ops against memcpy of the same bytes: each op's best time of
 * many runs (minimum: a micro-benchmark), and the ratio to a plain memcpy of
 * its output's size. 1.0 is as fast as copying can be.
 *   build/bench_select [repeats] */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapegrad.h"
#include "bench.h"

typedef tg_tensor *(*op_fn)(tg_tensor *x, void *user);

static tg_tensor *slice_outer(tg_tensor *x, void *u) { (void)u; return tg_slice(x, 0, 64, 192, 1); }
static tg_tensor *slice_inner(tg_tensor *x, void *u) { (void)u; return tg_slice(x, -1, 16, 48, 1); }
static tg_tensor *slice_inner_step2(tg_tensor *x, void *u) { (void)u; return tg_slice(x, -1, 0, 64, 2); }
static tg_tensor *concat_outer(tg_tensor *x, void *u) { (void)u; return tg_concat(2, (tg_tensor *[]){x, x}, 0); }
static tg_tensor *concat_inner(tg_tensor *x, void *u) { (void)u; return tg_concat(2, (tg_tensor *[]){x, x}, -1); }
static tg_tensor *stack_middle(tg_tensor *x, void *u) { (void)u; return tg_stack(2, (tg_tensor *[]){x, x}, 1); }
static tg_tensor *pad_inner(tg_tensor *x, void *u)
{
    (void)u;
    return tg_pad(x, (int64_t[]){0, 0, 2}, (int64_t[]){0, 0, 2}, 0);
}
static tg_tensor *index_select_rows(tg_tensor *x, void *u) { return tg_index_select(x, 0, u); }
static tg_tensor *gather_inner(tg_tensor *x, void *u) { return tg_gather(x, -1, u); }

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s [repeats]\n", argv[0]);
        return 2;
    }
    int repeats = argc > 1 ? (int)bench_number(argv[0], "repeats", argv[1], 1, 1000000) : 200;
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(1);
    /* [256, 64, 64] f32: 4 MiB, past L2 */
    tg_tensor *x = tg_tensor_rand(ctx, &rng, TG_F32, TG_SHAPE(256, 64, 64), -1, 1);
    tg_tensor *rows = tg_tensor_new(ctx, TG_I64, TG_SHAPE(256));
    tg_tensor *cols = tg_tensor_new(ctx, TG_I64, TG_SHAPE(256, 64, 64));
    for (int64_t i = 0; i < 256; i++)
        ((int64_t *)tg_tensor_data(rows))[i] = (int64_t)tg_rng_below(&rng, 256);
    for (int64_t i = 0; i < tg_tensor_size(cols); i++)
        ((int64_t *)tg_tensor_data(cols))[i] = (int64_t)tg_rng_below(&rng, 64);
    struct {
        const char *name;
        op_fn fn;
        void *user;
    } ops[] = {
        {"slice axis 0 [64:192]", slice_outer, NULL},
        {"slice last axis [16:48]", slice_inner, NULL},
        {"slice last axis [0:64:2]", slice_inner_step2, NULL},
        {"concat two along axis 0", concat_outer, NULL},
        {"concat two along last axis", concat_inner, NULL},
        {"stack two along axis 1", stack_middle, NULL},
        {"pad last axis by 2 and 2", pad_inner, NULL},
        {"index_select 256 rows", index_select_rows, rows},
        {"gather last axis (i64 index)", gather_inner, cols},
    };
    printf("op (f32 input [256, 64, 64])          output MiB   best µs   memcpy µs   ratio\n");
    size_t cap = 64u << 20;
    char *src = malloc(cap), *dst = malloc(cap);
    memset(src, 1, cap);
    memset(dst, 0, cap);
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
        double best = 1e30, best_copy = 1e30;
        size_t bytes = 0;
        for (int r = 0; r < repeats; r++) {
            double t0 = bench_seconds(CLOCK_MONOTONIC);
            tg_tensor *y = ops[k].fn(x, ops[k].user);
            double t1 = bench_seconds(CLOCK_MONOTONIC);
            if (!y)
                return fprintf(stderr, "%s\n", tg_ctx_error(ctx)), 1;
            bytes = (size_t)tg_tensor_size(y) * 4;
            tg_tape_reset(ctx);
            double t2 = bench_seconds(CLOCK_MONOTONIC);
            memcpy(dst, src, bytes);
            double t3 = bench_seconds(CLOCK_MONOTONIC);
            best = t1 - t0 < best ? t1 - t0 : best;
            best_copy = t3 - t2 < best_copy ? t3 - t2 : best_copy;
        }
        printf("%-36s %10.2f %9.1f %11.1f %7.2f\n", ops[k].name, (double)bytes / (1 << 20), 1e6 * best,
               1e6 * best_copy, best / best_copy);
    }
    printf("(%d runs each; dst[0] = %d)\n", repeats, dst[0]);
    free(src);
    free(dst);
    tg_ctx_free(ctx);
    return 0;
}
