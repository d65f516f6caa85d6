/* Gradient-check cases of the shape ops without copies and the batched
 * matmul (ops/shape.c, ops/matmul.c): reshape views with an inferred -1,
 * permute, matmul over leading dims that broadcast, and ops at rank 5 and 6.
 * The shape ops are linear, so their second derivatives are checked through
 * a square: d²(y⊙y) runs each backward rule recorded under create_graph. */
#ifndef TAPEGRAD_TESTS_OP_CASES_VIEWS_H
#define TAPEGRAD_TESTS_OP_CASES_VIEWS_H

#include "tests/op_cases.h"

/* a view of a view, then a product, so the shared buffer is read twice */
static tg_tensor *f_reshape_infer_sq(tg_tensor *const *in, void *u)
{
    (void)u;
    tg_tensor *h = tg_mul_scalar(in[0], 1.5); /* a step tensor: reshape shares its buffer */
    return squared(tg_reshape(tg_reshape(h, TG_SHAPE(-1, 4)), TG_SHAPE(2, 2, -1)));
}
static tg_tensor *f_reshape_leaf_sq(tg_tensor *const *in, void *u)
{
    (void)u;
    return squared(tg_reshape(in[0], TG_SHAPE(3, -1))); /* a persistent leaf: copied */
}
static tg_tensor *f_permute_heads(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_permute(in[0], (const int[]){0, 2, 1, 3});
}
static tg_tensor *f_permute_heads_sq(tg_tensor *const *in, void *u)
{
    (void)u;
    return squared(tg_permute(in[0], (const int[]){0, 2, 1, 3}));
}
static tg_tensor *f_permute_cycle_sq(tg_tensor *const *in, void *u)
{
    (void)u;
    return squared(tg_permute(in[0], (const int[]){2, -1, 0, 1}));
}
static tg_tensor *f_transpose_rank5_sq(tg_tensor *const *in, void *u)
{
    (void)u;
    return squared(tg_transpose(in[0], 1, -1));
}
static tg_tensor *f_bmm(tg_tensor *const *in, void *u) { (void)u; return tg_matmul(in[0], in[1]); }
static tg_tensor *f_bmm_tb(tg_tensor *const *in, void *u) { (void)u; return tg_matmul_t(in[0], in[1], false, true); }
static tg_tensor *f_bmm_ta(tg_tensor *const *in, void *u) { (void)u; return tg_matmul_t(in[0], in[1], true, false); }
static tg_tensor *f_bmm_tt(tg_tensor *const *in, void *u) { (void)u; return tg_matmul_t(in[0], in[1], true, true); }
/* attention's two products over [B, H, T, d] heads split from [B, T, H·d] */
static tg_tensor *f_heads_attention(tg_tensor *const *in, void *u)
{
    (void)u;
    tg_tensor *q = tg_permute(tg_reshape(in[0], TG_SHAPE(2, 3, 2, -1)), (const int[]){0, 2, 1, 3});
    tg_tensor *k = tg_permute(tg_reshape(in[1], TG_SHAPE(2, 3, 2, -1)), (const int[]){0, 2, 1, 3});
    tg_tensor *scores = tg_softmax(tg_matmul_t(q, k, false, true));
    tg_tensor *y = tg_matmul(scores, k);
    return tg_reshape(tg_permute(y, (const int[]){0, 2, 1, 3}), TG_SHAPE(2, 3, -1));
}
static tg_tensor *f_add_rank6(tg_tensor *const *in, void *u) { (void)u; return tg_mul(in[0], in[1]); }
static tg_tensor *f_sum_axis_rank6(tg_tensor *const *in, void *u) { (void)u; return squared(tg_sum_axis(in[0], 3, false)); }
static tg_tensor *f_concat_rank5_sq(tg_tensor *const *in, void *u)
{
    (void)u;
    return squared(tg_concat(2, (tg_tensor *[]){in[0], in[1]}, 4));
}

static const op_case views_cases[] = {
    {"reshape view with -1, twice", f_reshape_infer_sq, 1, {2}, {S(4, 3)}, -1, 1, false, false, 0},
    {"reshape of a leaf with -1", f_reshape_leaf_sq, 1, {3}, {S(2, 3, 2)}, -1, 1, false, false, 0},
    {"permute [B,T,H,d] to [B,H,T,d]", f_permute_heads, 1, {4}, {S(2, 3, 2, 2)}, -1, 1, false, true, 0},
    {"permute squared", f_permute_heads_sq, 1, {4}, {S(2, 3, 2, 2)}, -1, 1, false, false, 0},
    {"permute with a negative axis", f_permute_cycle_sq, 1, {4}, {S(2, 3, 2, 2)}, -1, 1, false, false, 0},
    {"transpose at rank 5", f_transpose_rank5_sq, 1, {5}, {S(2, 1, 2, 3, 2)}, -1, 1, false, false, 0},
    {"matmul [B,H,T,d]·[B,H,d,T]", f_bmm, 2, {4, 4}, {S(2, 2, 3, 2), S(2, 2, 2, 3)}, -1, 1, false, false, 0},
    {"matmul [B,H,T,d]·[B,H,T,d]ᵀ", f_bmm_tb, 2, {4, 4}, {S(2, 2, 3, 2), S(2, 2, 4, 2)}, -1, 1, false, false, 0},
    {"matmul broadcast [B,1,m,k]ᵀ·[H,k,n]", f_bmm_ta, 2, {4, 3}, {S(2, 1, 3, 2), S(3, 3, 2)}, -1, 1, false, false, 0},
    {"matmul [B,T,D]·[D,E] as one GEMM", f_bmm, 2, {3, 2}, {S(2, 3, 4), S(4, 2)}, -1, 1, false, false, 0},
    {"matmul [B,T,D]·[E,D]ᵀ as one GEMM", f_bmm_tb, 2, {3, 2}, {S(2, 3, 4), S(5, 4)}, -1, 1, false, false, 0},
    {"matmul [m,k]ᵀ·[B,H,k,n]ᵀ shared left", f_bmm_tt, 2, {2, 4}, {S(3, 2), S(2, 2, 4, 3)}, -1, 1, false, false, 0},
    {"matmul at rank 6", f_bmm, 2, {6, 5}, {S(1, 2, 1, 2, 2, 3), S(2, 1, 2, 3, 2)}, -1, 1, false, false, 0},
    {"heads split, attention, heads merged", f_heads_attention, 2, {3, 3}, {S(2, 3, 4), S(2, 3, 4)}, -1, 1, false, false, 0},
    {"mul broadcast at rank 6", f_add_rank6, 2, {6, 4}, {S(2, 3, 2, 1, 2, 3), S(2, 1, 1, 3)}, -1, 1, false, false, 0},
    {"sum_axis at rank 6", f_sum_axis_rank6, 1, {6}, {S(2, 1, 2, 3, 1, 2)}, -1, 1, false, false, 0},
    {"concat at rank 5", f_concat_rank5_sq, 2, {5, 5}, {S(1, 2, 1, 2, 2), S(1, 2, 1, 2, 3)}, -1, 1, false, false, 0},
};

#endif
