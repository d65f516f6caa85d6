/* Gradient-check cases of the convolution and pooling ops (ops/conv.c,
 * ops/pool.c), for tests/test_ops_grad.c. Cases with a bias or of a linear
 * op skip the second-order check (its result is zero there); a "squared"
 * case makes it non-zero so that every backward rule is differentiated. */
#ifndef TAPEGRAD_TESTS_OP_CASES_CONV_H
#define TAPEGRAD_TESTS_OP_CASES_CONV_H

#include "tests/op_cases.h"

static tg_tensor *f_conv(tg_tensor *const *in, void *u) { (void)u; return tg_conv2d(in[0], in[1], in[2], 1, 0, 1, 1); }
static tg_tensor *f_conv_nobias(tg_tensor *const *in, void *u) { (void)u; return tg_conv2d(in[0], in[1], NULL, 1, 0, 1, 1); }
static tg_tensor *f_conv_bias_squared(tg_tensor *const *in, void *u) { (void)u; return squared(tg_conv2d(in[0], in[1], in[2], 1, 1, 1, 1)); }
static tg_tensor *f_conv_s2p1(tg_tensor *const *in, void *u) { (void)u; return tg_conv2d(in[0], in[1], NULL, 2, 1, 1, 1); }
static tg_tensor *f_conv_d2p2(tg_tensor *const *in, void *u) { (void)u; return tg_conv2d(in[0], in[1], NULL, 1, 2, 2, 1); }
static tg_tensor *f_conv_g2(tg_tensor *const *in, void *u) { (void)u; return tg_conv2d(in[0], in[1], NULL, 1, 1, 1, 2); }
static tg_tensor *f_conv_g2_bias(tg_tensor *const *in, void *u) { (void)u; return tg_conv2d(in[0], in[1], in[2], 2, 0, 1, 2); }
static tg_tensor *f_conv_1x1_s2(tg_tensor *const *in, void *u) { (void)u; return tg_conv2d(in[0], in[1], NULL, 2, 0, 1, 1); }
static tg_tensor *f_conv1d(tg_tensor *const *in, void *u) { (void)u; return tg_conv1d(in[0], in[1], in[2], 2, 1, 1, 1); }
static tg_tensor *f_conv1d_d2g2(tg_tensor *const *in, void *u) { (void)u; return tg_conv1d(in[0], in[1], NULL, 1, 2, 2, 2); }
static tg_tensor *f_conv_bwd_input(tg_tensor *const *in, void *u) { (void)u; return tg_conv2d_backward_input(in[0], in[1], 5, 6, 2, 1, 1, 1); }
static tg_tensor *f_conv_bwd_input_g2d2(tg_tensor *const *in, void *u) { (void)u; return tg_conv2d_backward_input(in[0], in[1], 6, 5, 1, 0, 2, 2); }
static tg_tensor *f_conv_bwd_weight(tg_tensor *const *in, void *u) { (void)u; return tg_conv2d_backward_weight(in[0], in[1], 3, 3, 2, 1, 1, 1); }
static tg_tensor *f_conv_bwd_weight_g2d2(tg_tensor *const *in, void *u) { (void)u; return tg_conv2d_backward_weight(in[0], in[1], 2, 2, 1, 0, 2, 2); }
static tg_tensor *f_max_pool(tg_tensor *const *in, void *u) { (void)u; return tg_max_pool2d(in[0], 2, 2, 0); }
static tg_tensor *f_max_pool_k3s2p1(tg_tensor *const *in, void *u) { (void)u; return tg_max_pool2d(in[0], 3, 2, 1); }
static tg_tensor *f_max_pool_squared(tg_tensor *const *in, void *u) { (void)u; return squared(tg_max_pool2d(in[0], 3, 2, 1)); }
static tg_tensor *f_max_pool_bwd(tg_tensor *const *in, void *u) { (void)u; return tg_max_pool2d_backward(in[0], in[1], 3, 2, 1); }
static tg_tensor *f_max_pool_bwd_squared(tg_tensor *const *in, void *u) { (void)u; return squared(tg_max_pool2d_backward(in[0], in[1], 2, 2, 0)); }
static tg_tensor *f_max_pool_gather(tg_tensor *const *in, void *u) { (void)u; return tg_max_pool2d_gather(in[0], in[1], 2, 1, 0); }
static tg_tensor *f_relu_max_pool(tg_tensor *const *in, void *u) { (void)u; return tg_relu_max_pool2d(in[0], 2, 2, 0); }
static tg_tensor *f_relu_max_pool_k3s2p1(tg_tensor *const *in, void *u) { (void)u; return tg_relu_max_pool2d(in[0], 3, 2, 1); }
static tg_tensor *f_relu_max_pool_squared(tg_tensor *const *in, void *u) { (void)u; return squared(tg_relu_max_pool2d(in[0], 2, 2, 0)); }
static tg_tensor *f_max_pool_gather_squared(tg_tensor *const *in, void *u) { (void)u; return squared(tg_max_pool2d_gather(in[0], in[1], 3, 2, 1)); }
static tg_tensor *f_avg_pool(tg_tensor *const *in, void *u) { (void)u; return tg_avg_pool2d(in[0], 2, 2, 0); }
static tg_tensor *f_avg_pool_k3s2p1_squared(tg_tensor *const *in, void *u) { (void)u; return squared(tg_avg_pool2d(in[0], 3, 2, 1)); }
static tg_tensor *f_avg_pool_bwd(tg_tensor *const *in, void *u) { (void)u; return tg_avg_pool2d_backward(in[0], 5, 6, 3, 2, 1); }
static tg_tensor *f_avg_pool_bwd_squared(tg_tensor *const *in, void *u) { (void)u; return squared(tg_avg_pool2d_backward(in[0], 4, 4, 2, 2, 0)); }
static tg_tensor *f_global_avg_pool(tg_tensor *const *in, void *u) { (void)u; return tg_global_avg_pool2d(in[0]); }
static tg_tensor *f_global_avg_pool_squared(tg_tensor *const *in, void *u) { (void)u; return squared(tg_global_avg_pool2d(in[0])); }

static const op_case conv_cases[] = {
    {"conv2d with bias", f_conv, 3, {4, 4, 1}, {S(2, 3, 5, 5), S(4, 3, 3, 3), S(4)}, -1, 1, false, true, 0},
    {"conv2d no bias, batch 3", f_conv_nobias, 2, {4, 4}, {S(3, 2, 4, 5), S(3, 2, 2, 3)}, -1, 1, false, false, 0},
    {"conv2d batch 1, bias, squared", f_conv_bias_squared, 3, {4, 4, 1}, {S(1, 2, 4, 4), S(3, 2, 3, 3), S(3)}, -1, 1, false, false, 0},
    {"conv2d stride 2 padding 1", f_conv_s2p1, 2, {4, 4}, {S(2, 2, 6, 5), S(3, 2, 3, 3)}, -1, 1, false, false, 0},
    {"conv2d dilation 2 padding 2", f_conv_d2p2, 2, {4, 4}, {S(1, 2, 5, 6), S(2, 2, 3, 2)}, -1, 1, false, false, 0},
    {"conv2d groups 2", f_conv_g2, 2, {4, 4}, {S(2, 4, 4, 4), S(6, 2, 3, 2)}, -1, 1, false, false, 0},
    {"conv2d groups 2 stride 2 bias", f_conv_g2_bias, 3, {4, 4, 1}, {S(1, 4, 5, 5), S(4, 2, 2, 2), S(4)}, -1, 1, false, true, 0},
    {"conv2d 1x1", f_conv_nobias, 2, {4, 4}, {S(3, 4, 3, 2), S(5, 4, 1, 1)}, -1, 1, false, false, 0},
    {"conv2d 1x1 stride 2", f_conv_1x1_s2, 2, {4, 4}, {S(1, 3, 5, 5), S(2, 3, 1, 1)}, -1, 1, false, false, 0},
    {"conv2d kernel as large as the image", f_conv_nobias, 2, {4, 4}, {S(2, 2, 3, 3), S(2, 2, 3, 3)}, -1, 1, false, false, 0},
    {"conv1d stride 2 padding 1 bias", f_conv1d, 3, {3, 3, 1}, {S(2, 3, 7), S(4, 3, 3), S(4)}, -1, 1, false, true, 0},
    {"conv1d dilation 2 groups 2", f_conv1d_d2g2, 2, {3, 3}, {S(1, 4, 9), S(2, 2, 3)}, -1, 1, false, false, 0},
    {"conv2d_backward_input stride 2 padding 1", f_conv_bwd_input, 2, {4, 4}, {S(2, 4, 3, 3), S(4, 2, 3, 3)}, -1, 1, false, false, 0},
    {"conv2d_backward_input groups 2 dilation 2", f_conv_bwd_input_g2d2, 2, {4, 4}, {S(1, 4, 4, 3), S(4, 1, 2, 2)}, -1, 1, false, false, 0},
    {"conv2d_backward_weight stride 2 padding 1", f_conv_bwd_weight, 2, {4, 4}, {S(2, 3, 5, 5), S(2, 4, 3, 3)}, -1, 1, false, false, 0},
    {"conv2d_backward_weight groups 2 dilation 2", f_conv_bwd_weight_g2d2, 2, {4, 4}, {S(1, 4, 6, 5), S(1, 2, 4, 3)}, -1, 1, false, false, 0},
    {"max_pool2d 2x2", f_max_pool, 1, {4}, {S(2, 3, 4, 6)}, -1, 1, false, true, 0},
    {"max_pool2d 2x2, odd sizes leave a row and a column out", f_max_pool, 1, {4}, {S(1, 2, 5, 7)}, -1, 1, false, true, 0},
    {"max_pool2d 3x3 stride 2 padding 1", f_max_pool_k3s2p1, 1, {4}, {S(1, 2, 5, 5)}, -1, 1, false, true, 0},
    {"max_pool2d squared", f_max_pool_squared, 1, {4}, {S(2, 1, 5, 4)}, -1, 1, false, false, 0},
    {"relu_max_pool2d 2x2 (windows of negatives give 0)", f_relu_max_pool, 1, {4}, {S(2, 3, 4, 6)}, -1, 1, true, true, 0},
    {"relu_max_pool2d 3x3 stride 2 padding 1", f_relu_max_pool_k3s2p1, 1, {4}, {S(1, 2, 5, 7)}, -1, 1, true, true, 0},
    {"relu_max_pool2d squared", f_relu_max_pool_squared, 1, {4}, {S(2, 1, 5, 4)}, -1, 1, true, false, 0},
    {"relu_max_pool2d squared, planes wider than 32", f_relu_max_pool_squared, 1, {4}, {S(1, 2, 4, 36)}, -1, 1, true, false, 0},
    {"max_pool2d_backward", f_max_pool_bwd, 2, {4, 4}, {S(1, 2, 3, 3), S(1, 2, 5, 5)}, -1, 1, false, true, 2},
    {"max_pool2d_backward squared", f_max_pool_bwd_squared, 2, {4, 4}, {S(2, 1, 2, 3), S(2, 1, 4, 6)}, -1, 1, false, false, 2},
    {"max_pool2d_gather overlapping", f_max_pool_gather, 2, {4, 4}, {S(1, 2, 3, 4), S(1, 2, 3, 4)}, -1, 1, false, true, 2},
    {"max_pool2d_gather squared", f_max_pool_gather_squared, 2, {4, 4}, {S(1, 2, 5, 5), S(1, 2, 5, 5)}, -1, 1, false, false, 2},
    {"avg_pool2d 2x2", f_avg_pool, 1, {4}, {S(2, 3, 4, 5)}, -1, 1, false, true, 0},
    {"avg_pool2d 3x3 stride 2 padding 1 squared", f_avg_pool_k3s2p1_squared, 1, {4}, {S(1, 2, 5, 6)}, -1, 1, false, false, 0},
    {"avg_pool2d_backward", f_avg_pool_bwd, 1, {4}, {S(2, 1, 3, 3)}, -1, 1, false, true, 0},
    {"avg_pool2d_backward squared", f_avg_pool_bwd_squared, 1, {4}, {S(1, 2, 2, 2)}, -1, 1, false, false, 0},
    {"global_avg_pool2d", f_global_avg_pool, 1, {4}, {S(2, 3, 2, 3)}, -1, 1, false, true, 0},
    {"global_avg_pool2d squared", f_global_avg_pool_squared, 1, {4}, {S(1, 2, 3, 1)}, -1, 1, false, false, 0},
};

#endif
