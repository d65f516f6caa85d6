/* Internal to ops/: convolution with separate height and width attributes
 * (conv1d runs as conv2d over a height of 1). The public tg_conv2d* calls
 * take one value for both directions and come here. */
#ifndef TAPEGRAD_OPS_CONV_H
#define TAPEGRAD_OPS_CONV_H

#include "autograd/internal.h"

/* A conv op's attributes, stored on the tape (tg_attr.data); index 0 is the
 * height, 1 the width. */
typedef struct {
    int64_t stride[2], padding[2], dilation[2];
    int64_t groups;
    int64_t in_h, in_w; /* the input's size (backward_input needs it: strides lose it) */
    int64_t k_h, k_w;   /* the kernel's size (backward_weight) */
    /* conv2d's patches of every image (im2col, step memory), kept by the
     * forward for the weight gradient: backward_weight reads them instead of
     * building them again when its input is patches_of. */
    void *patches;
    const tg_tensor *patches_of;
} tg_conv_attr;

/* `op` names the public call in error messages ("conv2d", "conv1d"). */
tg_tensor *tg_conv2d_attr(tg_tensor *x, tg_tensor *weight, tg_tensor *bias, const tg_conv_attr *attr, const char *op);
tg_tensor *tg_conv2d_backward_input_attr(tg_tensor *dy, tg_tensor *weight, const tg_conv_attr *attr, const char *op);
tg_tensor *tg_conv2d_backward_weight_attr(tg_tensor *x, tg_tensor *dy, const tg_conv_attr *attr, const char *op);

#endif
