/* Gradient-check cases of the fused transformer ops (ops/norm.c,
 * ops/masked.c, ops/attention.c, cross_entropy over [..., c] in ops/loss.c),
 * for tests/test_ops_grad.c.
 *
 * Masks are fixed inside each case (no gradient goes to a boolean mask);
 * additive masks that take a gradient are inputs. Linear paths (β, a mask
 * added) go through squared() so their second derivative is not zero. */
#ifndef TAPEGRAD_TESTS_OP_CASES_FUSED_H
#define TAPEGRAD_TESTS_OP_CASES_FUSED_H

#include <math.h>

#include "tests/op_cases.h"

/* An i64 mask of the given shape, set where pattern[i % n] is nonzero. */
static tg_tensor *ff_mask(tg_tensor *like, int rank, const int64_t *shape, const int *pattern, int n)
{
    tg_tensor *mask = tg_tensor_temp(tg_tensor_ctx(like), TG_I64, rank, shape);
    for (int64_t i = 0; i < tg_tensor_size(mask); i++)
        tg_tensor_set(mask, i, pattern[i % n]);
    return mask;
}

static tg_tensor *ff_layer_norm_affine(tg_tensor *const *in, void *u) { (void)u; return squared(tg_layer_norm(in[0], in[1], in[2], 1e-5)); }
static tg_tensor *ff_layer_norm_plain(tg_tensor *const *in, void *u) { (void)u; return tg_layer_norm(in[0], NULL, NULL, 1e-3); }
static tg_tensor *ff_layer_norm_gamma(tg_tensor *const *in, void *u) { (void)u; return tg_layer_norm(in[0], in[1], NULL, 0.1); }
static tg_tensor *ff_rms_norm_gamma(tg_tensor *const *in, void *u) { (void)u; return tg_rms_norm(in[0], in[1], 1e-5); }
static tg_tensor *ff_rms_norm_plain(tg_tensor *const *in, void *u) { (void)u; return tg_rms_norm(in[0], NULL, 0.01); }
static tg_tensor *ff_layer_norm_backward(tg_tensor *const *in, void *u) { (void)u; return tg_layer_norm_backward(in[0], in[1], 1e-4); }
static tg_tensor *ff_rms_norm_backward(tg_tensor *const *in, void *u) { (void)u; return tg_rms_norm_backward(in[0], in[1], 1e-4); }

/* [3, 4]: no row fully masked */
static const int ff_pattern[] = {0, 1, 0, 0, 1, 0, 0, 1, 0};
static tg_tensor *ff_masked_fill_softmax(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_softmax(tg_masked_fill(in[0], ff_mask(in[0], TG_SHAPE(3, 4), ff_pattern, 9), -INFINITY));
}
static tg_tensor *ff_masked_fill_row_mask(tg_tensor *const *in, void *u)
{
    (void)u;
    return squared(tg_masked_fill(in[0], ff_mask(in[0], TG_SHAPE(4), (const int[]){1, 0, 0, 1}, 4), 2.5));
}
static tg_tensor *ff_softmax_masked_plain(tg_tensor *const *in, void *u) { (void)u; return tg_softmax_masked(in[0], 0.7, NULL, false); }
static tg_tensor *ff_softmax_masked_causal_bool(tg_tensor *const *in, void *u)
{
    (void)u; /* scores [2, 2, 4, 4], a mask [4] over the keys on top of causality: row 0 keeps only key 0 */
    return tg_softmax_masked(in[0], 0.5, ff_mask(in[0], TG_SHAPE(4), (const int[]){0, 0, 1, 0}, 4), true);
}
static tg_tensor *ff_softmax_masked_additive(tg_tensor *const *in, void *u) { (void)u; return squared(tg_softmax_masked(in[0], 1.3, in[1], false)); }
static tg_tensor *ff_softmax_masked_all_masked_row(tg_tensor *const *in, void *u)
{
    (void)u; /* [3, 4] with row 1 fully masked: zeros, and no gradient through it */
    const int rows[] = {0, 0, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0};
    return tg_softmax_masked(in[0], 1.0, ff_mask(in[0], TG_SHAPE(3, 4), rows, 12), false);
}

/* Class indices [2, 3] for logits [2, 3, 5]; -1 marks the ignored rows. */
static tg_tensor *ff_targets(tg_tensor *like)
{
    tg_tensor *t = tg_tensor_temp(tg_tensor_ctx(like), TG_I64, TG_SHAPE(2, 3));
    const double classes[] = {4, -1, 0, 2, 1, -1};
    for (int i = 0; i < 6; i++)
        tg_tensor_set(t, i, classes[i]);
    return t;
}
static tg_tensor *ff_cross_entropy_ignore(tg_tensor *const *in, void *u)
{
    (void)u;
    tg_cross_entropy_options opts = {.ignore = true, .ignore_index = -1};
    return tg_cross_entropy_ex(in[0], ff_targets(in[0]), &opts);
}
static tg_tensor *ff_cross_entropy_sum_probabilities(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_cross_entropy_ex(in[0], in[1], &(tg_cross_entropy_options){.sum = true});
}

static tg_tensor *ff_attention(tg_tensor *const *in, void *u) { (void)u; return tg_scaled_dot_product_attention(in[0], in[1], in[2], NULL, false, 0, NULL); }
static tg_tensor *ff_attention_causal_key_mask(tg_tensor *const *in, void *u)
{
    (void)u; /* a key mask [B, 1, 1, S] on top of causality: query 0 of batch 1 sees no key */
    tg_tensor *mask = ff_mask(in[0], TG_SHAPE(2, 1, 1, 4), (const int[]){0, 0, 0, 1, 1, 0, 0, 0}, 8);
    return tg_scaled_dot_product_attention(in[0], in[1], in[2], mask, true, 0, NULL);
}
/* an additive mask [T, S] that takes a gradient; v fixed */
static tg_tensor *ff_attention_additive(tg_tensor *const *in, void *u)
{
    (void)u;
    tg_tensor *v = tg_tensor_temp(tg_tensor_ctx(in[0]), TG_F64, TG_SHAPE(1, 2, 5, 2));
    for (int64_t i = 0; i < 20; i++)
        tg_tensor_set(v, i, sin((double)i));
    return squared(tg_scaled_dot_product_attention(in[0], in[1], v, in[2], false, 0, NULL));
}
static tg_tensor *ff_attention_dropout(tg_tensor *const *in, void *u)
{
    (void)u; /* the same mask on every call: the rng is seeded here */
    tg_rng rng = tg_rng_seed(99);
    return tg_scaled_dot_product_attention(in[0], in[1], in[2], NULL, true, 0.3, &rng);
}

/* multi_head_attention on the packed qkv [B, T, 3·D] */
static tg_tensor *ff_mha(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_multi_head_attention(in[0], 2, NULL, false, 0, NULL);
}
static tg_tensor *ff_mha_one_head_causal(tg_tensor *const *in, void *u)
{
    (void)u;
    return tg_multi_head_attention(in[0], 1, NULL, true, 0, NULL);
}
static tg_tensor *ff_mha_causal_key_mask(tg_tensor *const *in, void *u)
{
    (void)u; /* a key mask [B, 1, 1, T] on top of causality: query 0 of batch 1 sees no key */
    tg_tensor *mask = ff_mask(in[0], TG_SHAPE(2, 1, 1, 4), (const int[]){0, 0, 0, 1, 1, 0, 0, 0}, 8);
    return tg_multi_head_attention(in[0], 2, mask, true, 0, NULL);
}
/* an additive mask [T, T] that takes a gradient, 3 heads */
static tg_tensor *ff_mha_additive(tg_tensor *const *in, void *u)
{
    (void)u;
    return squared(tg_multi_head_attention(in[0], 3, in[1], false, 0, NULL));
}
static tg_tensor *ff_mha_dropout(tg_tensor *const *in, void *u)
{
    (void)u; /* the same mask on every call: the rng is seeded here */
    tg_rng rng = tg_rng_seed(98);
    return tg_multi_head_attention(in[0], 2, NULL, true, 0.3, &rng);
}
static tg_tensor *ff_gelu_linear(tg_tensor *const *in, void *u) { (void)u; return squared(tg_gelu_linear(in[0], in[1], in[2])); }
static tg_tensor *ff_gelu_linear_no_bias(tg_tensor *const *in, void *u) { (void)u; return squared(tg_gelu_linear(in[0], in[1], NULL)); }

static tg_tensor *ff_layer_norm_linear_plain(tg_tensor *const *in, void *u) { (void)u; return squared(tg_layer_norm_linear(in[0], NULL, NULL, 1e-3, in[1], NULL)); }
static tg_tensor *ff_layer_norm_linear_gamma(tg_tensor *const *in, void *u) { (void)u; return squared(tg_layer_norm_linear(in[0], in[2], NULL, 0.1, in[1], NULL)); }

static const op_case fused_cases[] = {
    {"layer_norm [3,5] with γ and β, squared", ff_layer_norm_affine, 3, {2, 1, 1}, {S(3, 5), S(5), S(5)}, -2, 2, false, false, 0},
    {"layer_norm rank 4, no γ or β", ff_layer_norm_plain, 1, {4}, {S(2, 1, 3, 4)}, -2, 2, false, false, 0},
    {"layer_norm rank 3, γ only", ff_layer_norm_gamma, 2, {3, 1}, {S(2, 3, 4), S(4)}, -2, 2, false, false, 0},
    {"rms_norm [4,6] with γ", ff_rms_norm_gamma, 2, {2, 1}, {S(4, 6), S(6)}, -2, 2, false, false, 0},
    {"rms_norm rank 1, no γ", ff_rms_norm_plain, 1, {1}, {S(5)}, -2, 2, false, false, 0},
    {"layer_norm_backward [3,5]", ff_layer_norm_backward, 2, {2, 2}, {S(3, 5), S(3, 5)}, -2, 2, false, false, 0},
    {"rms_norm_backward rank 3", ff_rms_norm_backward, 2, {3, 3}, {S(2, 2, 4), S(2, 2, 4)}, -2, 2, false, false, 0},
    {"softmax of masked_fill(-inf)", ff_masked_fill_softmax, 1, {2}, {S(3, 4)}, -2, 2, false, false, 0},
    {"masked_fill with a row mask [4], squared", ff_masked_fill_row_mask, 1, {2}, {S(3, 4)}, -2, 2, false, false, 0},
    {"softmax_masked, scale only", ff_softmax_masked_plain, 1, {2}, {S(3, 5)}, -2, 2, false, false, 0},
    {"softmax_masked causal with a key mask, rank 4", ff_softmax_masked_causal_bool, 1, {4}, {S(2, 2, 4, 4)}, -2, 2, false, false, 0},
    {"softmax_masked additive mask [3,4] on [2,3,4], squared", ff_softmax_masked_additive, 2, {3, 2}, {S(2, 3, 4), S(3, 4)}, -2, 2, false, false, 0},
    {"softmax_masked with a fully masked row", ff_softmax_masked_all_masked_row, 1, {2}, {S(3, 4)}, -2, 2, false, false, 0},
    {"cross_entropy [2,3,5] with i64 targets [2,3], ignore_index", ff_cross_entropy_ignore, 1, {3}, {S(2, 3, 5)}, -3, 3, false, false, 0},
    {"cross_entropy summed, probabilities [2,2,4]", ff_cross_entropy_sum_probabilities, 2, {3, 3}, {S(2, 2, 4), S(2, 2, 4)}, 0.1, 1, false, false, 0},
    {"attention [1,2,3,4]", ff_attention, 3, {4, 4, 4}, {S(1, 2, 3, 4), S(1, 2, 3, 4), S(1, 2, 3, 4)}, -1, 1, false, false, 0},
    {"attention cross, T=2 S=5, dv=3", ff_attention, 3, {4, 4, 4}, {S(2, 1, 2, 4), S(2, 1, 5, 4), S(2, 1, 5, 3)}, -1, 1, false, false, 0},
    {"attention causal with a key mask, a query with no key", ff_attention_causal_key_mask, 3, {4, 4, 4}, {S(2, 2, 4, 3), S(2, 2, 4, 3), S(2, 2, 4, 2)}, -1, 1, false, false, 0},
    {"attention additive mask [3,5] with a gradient, squared", ff_attention_additive, 3, {4, 4, 2}, {S(1, 2, 3, 2), S(1, 2, 5, 2), S(3, 5)}, -1, 1, false, false, 0},
    {"attention causal with dropout 0.3", ff_attention_dropout, 3, {4, 4, 4}, {S(1, 2, 4, 3), S(1, 2, 4, 3), S(1, 2, 4, 3)}, -1, 1, false, false, 0},
    {"multi_head_attention qkv [1,3,12], 2 heads", ff_mha, 1, {3}, {S(1, 3, 12)}, -1, 1, false, false, 0},
    {"multi_head_attention qkv [2,4,6], 1 head, causal", ff_mha_one_head_causal, 1, {3}, {S(2, 4, 6)}, -1, 1, false, false, 0},
    {"multi_head_attention causal with a key mask, a query with no key", ff_mha_causal_key_mask, 1, {3}, {S(2, 4, 12)}, -1, 1, false, false, 0},
    {"multi_head_attention additive mask [3,3] with a gradient, 3 heads, squared", ff_mha_additive, 2, {3, 2}, {S(1, 3, 18), S(3, 3)}, -1, 1, false, false, 0},
    {"multi_head_attention causal with dropout 0.3", ff_mha_dropout, 1, {3}, {S(1, 4, 12)}, -1, 1, false, false, 0},
    {"multi_head_attention causal, T = 35: two blocks of queries", ff_mha_one_head_causal, 1, {3}, {S(1, 35, 6)}, -1, 1, false, false, 0},
    {"gelu_linear [4,5]·[3,5]ᵀ + b, squared", ff_gelu_linear, 3, {2, 2, 1}, {S(4, 5), S(3, 5), S(3)}, -2, 2, false, false, 0},
    {"gelu_linear rank 3 h, no bias, squared", ff_gelu_linear_no_bias, 2, {3, 2}, {S(2, 3, 4), S(6, 4)}, -2, 2, false, false, 0},
    {"gelu_linear rank 1 h, squared", ff_gelu_linear, 3, {1, 2, 1}, {S(3), S(2, 3), S(2)}, -2, 2, false, false, 0},
    {"layer_norm_linear rank 3, plain", ff_layer_norm_linear_plain, 2, {3, 2}, {S(2, 3, 4), S(3, 4)}, -2, 2, false, false, 0},
    {"layer_norm_linear with γ, no bias", ff_layer_norm_linear_gamma, 3, {2, 2, 1}, {S(4, 5), S(3, 5), S(5)}, -2, 2, false, false, 0},
};

#endif
