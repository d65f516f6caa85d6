/* One gradient-check case of tests/test_ops_grad.c: an op applied to random
 * float64 inputs of given shapes, checked to first and second order. */
#ifndef TAPEGRAD_TESTS_OP_CASES_H
#define TAPEGRAD_TESTS_OP_CASES_H

#include <stdbool.h>
#include <stdint.h>

#include "tapegrad.h"

typedef struct {
    const char *name;
    tg_tensor *(*fn)(tg_tensor *const *in, void *user);
    int n_inputs;
    int rank[3];
    int64_t shape[3][TG_MAX_RANK];
    double low, high;   /* inputs drawn uniformly from [low, high] */
    bool away_from_zero; /* kinks at 0 (relu): keep |x| >= 0.1 */
    bool skip_second;    /* second derivative is zero or undefined */
    int constant_input;  /* 1 + index of an input used as a constant (a mask), 0 for none */
} op_case;

#define S(...) {__VA_ARGS__}

/* y², applied to a linear op's output so that its second derivative is not
 * zero and every backward rule gets differentiated. */
static inline tg_tensor *squared(tg_tensor *y) { return tg_mul(y, y); }

#endif
