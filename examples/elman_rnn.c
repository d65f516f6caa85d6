/* An Elman RNN learns to count: given T = 8 random bits as a [T, B, F]
 * sequence tensor, it reads one time step at a time with tg_slice and
 * predicts how many bits were 1 (classes 0..8), trained with softmax
 * cross-entropy on i64 labels and scored with tg_argmax. The baseline is the
 * best constant guess (always 4 ones: C(8,4)/2⁸ ≈ 27%). */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "examples/elman_rnn.h"

enum { STEPS = 8, HIDDEN = 24, BATCH = 64, TEST = 1024, TRAIN_STEPS = 800 };

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(2024);
    elman_rnn model;
    elman_init(&model, ctx, HIDDEN, STEPS + 1, &rng);

    tg_tensor *test_x = tg_tensor_new(ctx, TG_F32, TG_SHAPE(STEPS, TEST, ELMAN_FEATURES));
    tg_tensor *test_y = tg_tensor_new(ctx, TG_I64, TG_SHAPE(TEST));
    elman_sample(test_x, test_y, &rng);
    int64_t per_class[STEPS + 1] = {0}, best = 0;
    for (int64_t i = 0; i < TEST; i++)
        per_class[((const int64_t *)tg_tensor_data_const(test_y))[i]]++;
    for (int c = 0; c <= STEPS; c++)
        best = per_class[c] > best ? per_class[c] : best;

    printf("Elman RNN counting the ones in %d bits: [T, B, F] = [%d, %d, %d], %d hidden units\n", STEPS, STEPS,
           BATCH, ELMAN_FEATURES, HIDDEN);
    printf("baseline (always the most common count): %5.1f%% of %d test sequences\n", 100.0 * (double)best / TEST,
           TEST);
    printf("untrained model:                          %5.1f%%\n", 100 * elman_evaluate(&model, test_x, test_y));
    clock_t start = clock();
    double loss = elman_train(&model, STEPS, BATCH, TRAIN_STEPS, 0.01, &rng);
    double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
    double accuracy = elman_evaluate(&model, test_x, test_y);
    printf("after %d Adam steps (%.2f s): loss %.4f, test accuracy %5.1f%%\n", TRAIN_STEPS, seconds, loss,
           100 * accuracy);
    int status = tg_ctx_status(ctx) == TG_OK && accuracy > 0.9 ? 0 : 1;
    if (tg_ctx_status(ctx) != TG_OK)
        fprintf(stderr, "error: %s\n", tg_ctx_error(ctx));
    tg_ctx_free(ctx);
    return status;
}
