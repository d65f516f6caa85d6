/* Gradient-check cases of the selecting and joining ops (ops/select.c,
 * ops/join.c) and the reductions along an axis (ops/extrema.c). The data-
 * moving ops are linear, so their second derivatives are checked through a
 * square: d²(y⊙y) runs each backward rule (pad, index_add, scatter_add,
 * slice) recorded under create_graph. Index tensors are made inside each
 * function (a step tensor per call). */
#ifndef TAPEGRAD_TESTS_OP_CASES_SELECT_H
#define TAPEGRAD_TESTS_OP_CASES_SELECT_H

#include "tests/op_cases.h"

static tg_tensor *select_indices(const tg_tensor *like, int rank, const int64_t *shape, const double *values)
{
    tg_tensor *index = tg_tensor_temp(tg_tensor_ctx(like), TG_I64, rank, shape);
    for (int64_t i = 0; index && i < tg_tensor_size(index); i++)
        tg_tensor_set(index, i, values[i]);
    return index;
}

static tg_tensor *f_slice_cols(tg_tensor *const *in, void *u) { (void)u; return tg_slice(in[0], 1, 1, 4, 1); }
static tg_tensor *f_slice_rows_step2(tg_tensor *const *in, void *u) { (void)u; return tg_slice(in[0], 0, 0, 4, 2); }
static tg_tensor *f_slice_negative(tg_tensor *const *in, void *u) { (void)u; return tg_slice(in[0], -1, -4, -1, 1); }
static tg_tensor *f_slice_stride3_clamped(tg_tensor *const *in, void *u) { (void)u; return tg_slice(in[0], 1, 1, 100, 3); }
static tg_tensor *f_slice_sq(tg_tensor *const *in, void *u) { (void)u; return squared(tg_slice(in[0], 0, 1, 3, 1)); }
static tg_tensor *f_slice_step_sq(tg_tensor *const *in, void *u) { (void)u; return squared(tg_slice(in[0], -1, 0, 5, 2)); }

static tg_tensor *f_pad(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_pad(in[0], (const int64_t[]){1, 0}, (const int64_t[]){0, 2}, 0.5);
}
static tg_tensor *f_pad_rank3(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_pad(in[0], (const int64_t[]){0, 2, 1}, (const int64_t[]){1, 0, 1}, 0);
}
static tg_tensor *f_pad_sq(tg_tensor *const *in, void *u)
{
    (void)u;
    return squared(tg_pad(in[0], (const int64_t[]){2, 1}, (const int64_t[]){0, 1}, -1));
}

static tg_tensor *f_index_select_rows(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_index_select(in[0], 0, select_indices(in[0], TG_SHAPE(4), (double[]){2, 0, 2, 3}));
}
static tg_tensor *f_index_select_mid(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_index_select(in[0], 1, select_indices(in[0], TG_SHAPE(2), (double[]){1, 1}));
}
static tg_tensor *f_index_select_sq(tg_tensor *const *in, void *u)
{
    (void)u;
    return squared(tg_index_select(in[0], -1, select_indices(in[0], TG_SHAPE(3), (double[]){0, 2, 0})));
}
static tg_tensor *f_index_add(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_index_add(in[0], 0, select_indices(in[0], TG_SHAPE(3), (double[]){1, 1, 0}), 4);
}
static tg_tensor *f_index_add_sq(tg_tensor *const *in, void *u)
{
    (void)u;
    return squared(tg_index_add(in[0], 1, select_indices(in[0], TG_SHAPE(2), (double[]){2, 2}), 3));
}

static tg_tensor *f_gather_cols(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_gather(in[0], 1, select_indices(in[0], TG_SHAPE(3, 2), (double[]){3, 0, 1, 1, 2, 0}));
}
static tg_tensor *f_gather_rows_repeated(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_gather(in[0], 0, select_indices(in[0], TG_SHAPE(4, 2), (double[]){0, 2, 2, 2, 1, 0, 0, 1}));
}
static tg_tensor *f_gather_smaller_sq(tg_tensor *const *in, void *u)
{
    (void)u;
    return squared(tg_gather(in[0], 2, select_indices(in[0], TG_SHAPE(2, 1, 2), (double[]){1, 0, 2, 2})));
}
static tg_tensor *f_scatter_add(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_scatter_add(in[0], 1, select_indices(in[0], TG_SHAPE(3, 2), (double[]){3, 3, 0, 1, 2, 3}),
                          TG_SHAPE(3, 4));
}
static tg_tensor *f_scatter_add_sq(tg_tensor *const *in, void *u)
{
    (void)u;
    return squared(tg_scatter_add(in[0], 0, select_indices(in[0], TG_SHAPE(2, 2), (double[]){1, 0, 1, 1}),
                                  TG_SHAPE(3, 3)));
}

static tg_tensor *f_concat_axis1(tg_tensor *const *in, void *u) { (void)u; return tg_concat(3, in, 1); }
static tg_tensor *f_concat_axis0(tg_tensor *const *in, void *u) { (void)u; return tg_concat(2, in, 0); }
static tg_tensor *f_concat_sq(tg_tensor *const *in, void *u) { (void)u; return squared(tg_concat(3, in, -1)); }
static tg_tensor *f_stack_axis0(tg_tensor *const *in, void *u) { (void)u; return tg_stack(3, in, 0); }
static tg_tensor *f_stack_last(tg_tensor *const *in, void *u) { (void)u; return tg_stack(2, in, -1); }
static tg_tensor *f_stack_sq(tg_tensor *const *in, void *u) { (void)u; return squared(tg_stack(2, in, 1)); }

/* max/min: uniform random inputs have no ties (those are tested by value in
 * test_ops_select); the kink between two near-equal elements is out of the
 * finite differences' reach at this step. */
static tg_tensor *f_max_axis1(tg_tensor *const *in, void *u) { (void)u; return tg_max_axis(in[0], 1, false, NULL); }
static tg_tensor *f_max_axis0_keep(tg_tensor *const *in, void *u) { (void)u; return tg_max_axis(in[0], 0, true, NULL); }
static tg_tensor *f_min_last(tg_tensor *const *in, void *u) { (void)u; return tg_min_axis(in[0], -1, false, NULL); }
static tg_tensor *f_max_sq(tg_tensor *const *in, void *u) { (void)u; return squared(tg_max_axis(in[0], -1, false, NULL)); }
static tg_tensor *f_min_sq(tg_tensor *const *in, void *u) { (void)u; return squared(tg_min_axis(in[0], 1, true, NULL)); }
static tg_tensor *f_logsumexp_last(tg_tensor *const *in, void *u) { (void)u; return tg_logsumexp(in[0], -1, false); }
static tg_tensor *f_logsumexp_axis0_keep(tg_tensor *const *in, void *u) { (void)u; return tg_logsumexp(in[0], 0, true); }
static tg_tensor *f_logsumexp_mid(tg_tensor *const *in, void *u) { (void)u; return tg_logsumexp(in[0], 1, false); }

static tg_tensor *f_cross_entropy_i64(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_cross_entropy(in[0], select_indices(in[0], TG_SHAPE(3), (double[]){1, 0, 1}));
}

static const op_case select_cases[] = {
    {"slice columns", f_slice_cols, 1, {2}, {S(3, 5)}, -1, 1, false, true, 0},
    {"slice rows step 2", f_slice_rows_step2, 1, {2}, {S(4, 3)}, -1, 1, false, true, 0},
    {"slice negative bounds", f_slice_negative, 1, {2}, {S(2, 6)}, -1, 1, false, true, 0},
    {"slice step 3 stop clamped, size-1 dims", f_slice_stride3_clamped, 1, {3}, {S(1, 7, 1)}, -1, 1, false, true, 0},
    {"slice squared", f_slice_sq, 1, {3}, {S(3, 2, 2)}, -1, 1, false, false, 0},
    {"slice step 2 squared", f_slice_step_sq, 1, {2}, {S(2, 5)}, -1, 1, false, false, 0},
    {"pad", f_pad, 1, {2}, {S(2, 3)}, -1, 1, false, true, 0},
    {"pad rank 3 size-1 dims", f_pad_rank3, 1, {3}, {S(1, 2, 1)}, -1, 1, false, true, 0},
    {"pad squared", f_pad_sq, 1, {2}, {S(3, 2)}, -1, 1, false, false, 0},
    {"index_select rows repeated", f_index_select_rows, 1, {2}, {S(4, 3)}, -1, 1, false, true, 0},
    {"index_select middle axis", f_index_select_mid, 1, {3}, {S(2, 3, 2)}, -1, 1, false, true, 0},
    {"index_select squared size-1 dim", f_index_select_sq, 1, {2}, {S(1, 3)}, -1, 1, false, false, 0},
    {"index_add repeated", f_index_add, 1, {2}, {S(3, 2)}, -1, 1, false, true, 0},
    {"index_add squared", f_index_add_sq, 1, {3}, {S(2, 2, 1)}, -1, 1, false, false, 0},
    {"gather columns", f_gather_cols, 1, {2}, {S(3, 4)}, -1, 1, false, true, 0},
    {"gather rows repeated", f_gather_rows_repeated, 1, {2}, {S(3, 2)}, -1, 1, false, true, 0},
    {"gather smaller index squared", f_gather_smaller_sq, 1, {3}, {S(2, 2, 3)}, -1, 1, false, false, 0},
    {"scatter_add", f_scatter_add, 1, {2}, {S(3, 2)}, -1, 1, false, true, 0},
    {"scatter_add squared", f_scatter_add_sq, 1, {2}, {S(2, 2)}, -1, 1, false, false, 0},
    {"concat three along axis 1", f_concat_axis1, 3, {2, 2, 2}, {S(2, 1), S(2, 3), S(2, 2)}, -1, 1, false, true, 0},
    {"concat along axis 0", f_concat_axis0, 2, {3, 3}, {S(1, 2, 2), S(3, 2, 2)}, -1, 1, false, true, 0},
    {"concat squared", f_concat_sq, 3, {1, 1, 1}, {S(2), S(1), S(3)}, -1, 1, false, false, 0},
    {"stack axis 0", f_stack_axis0, 3, {2, 2, 2}, {S(2, 3), S(2, 3), S(2, 3)}, -1, 1, false, true, 0},
    {"stack last axis", f_stack_last, 2, {2, 2}, {S(1, 3), S(1, 3)}, -1, 1, false, true, 0},
    {"stack squared", f_stack_sq, 2, {2, 2}, {S(3, 1), S(3, 1)}, -1, 1, false, false, 0},
    {"max_axis 1", f_max_axis1, 1, {2}, {S(3, 4)}, -1, 1, false, true, 0},
    {"max_axis 0 keepdim size-1 dims", f_max_axis0_keep, 1, {3}, {S(3, 1, 2)}, -1, 1, false, true, 0},
    {"min_axis last", f_min_last, 1, {3}, {S(2, 3, 3)}, -1, 1, false, true, 0},
    {"max_axis of one element", f_max_axis1, 1, {2}, {S(3, 1)}, -1, 1, false, true, 0},
    {"max_axis squared", f_max_sq, 1, {2}, {S(2, 5)}, -1, 1, false, false, 0},
    {"min_axis squared keepdim", f_min_sq, 1, {3}, {S(2, 3, 2)}, -1, 1, false, false, 0},
    {"logsumexp last", f_logsumexp_last, 1, {2}, {S(3, 4)}, -2, 2, false, false, 0},
    {"logsumexp axis 0 keepdim", f_logsumexp_axis0_keep, 1, {2}, {S(3, 2)}, -2, 2, false, false, 0},
    {"logsumexp middle size-1 dims", f_logsumexp_mid, 1, {3}, {S(1, 4, 1)}, -2, 2, false, false, 0},
    {"logsumexp rank 1", f_logsumexp_last, 1, {1}, {S(5)}, -2, 2, false, false, 0},
    {"cross_entropy i64 class indices", f_cross_entropy_i64, 1, {2}, {S(3, 2)}, -3, 3, false, false, 0},
};

#endif
