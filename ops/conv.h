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

/* One convolution's sizes (per group: cg input and og output channels). */
typedef struct {
    int64_t n, c, h, w;     /* input [N, C, H, W] */
    int64_t o, kh, kw;      /* weight [O, C/groups, KH, KW] */
    int64_t oh, ow;         /* output [N, O, OH, OW] */
    int64_t sh, sw, ph, pw, dh, dw, groups;
    int64_t cg, og;         /* channels per group: in, out */
    int64_t k, p;           /* taps per group (C/g·KH·KW), output positions (OH·OW) */
} conv_geom;

typedef enum { CONV_FORWARD, CONV_BACKWARD_INPUT, CONV_BACKWARD_WEIGHT } conv_pass;

#if defined(__x86_64__) && defined(__GNUC__)
#define TG_CONV_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#endif
/* Whether this CPU runs the AVX-512 copies of the conv kernels. */
bool tg_conv_avx512(void);

/* ops/conv_direct.c: whether the direct kernels take pass (f32, stride 1,
 * few channels, AVX-512), and the pass run with them over the batch; false
 * (error set) when step memory runs out. */
bool tg_conv_direct_path(const conv_geom *g, tg_dtype dt, conv_pass pass);
bool tg_conv_direct_run(tg_ctx *ctx, const conv_geom *g, conv_pass pass, const float *x, const float *w,
                        const float *bias, const float *dy, float *out);

/* ops/conv_lanes.c: how many of the batch's first images the kernels with
 * 16 images in the vector lanes take for pass (0: none; f32 forward or
 * backward input, stride 1, AVX-512, see lanes_fit), and that pass run
 * over them (in: x or dy, out: y or dx; bias: forward, or NULL); false
 * (error set) when step memory runs out. conv.c runs the rest of the batch
 * on the other paths. */
int64_t tg_conv_lanes_batch(const conv_geom *g, tg_dtype dt, conv_pass pass);
bool tg_conv_lanes_run(tg_ctx *ctx, const conv_geom *g, conv_pass pass, int64_t images, const float *in,
                       const float *w, const float *bias, float *out);

/* ops/conv_lanes_weight.c: how many of the batch's first images the
 * weight-gradient kernels with 16 images in the lanes take (0: none; f32,
 * stride 1, AVX-512, see lanesw_fit), and their dW written to dw (not
 * added); false (error set) when step memory runs out. */
int64_t tg_conv_lanes_weight_batch(const conv_geom *g, tg_dtype dt);
bool tg_conv_lanes_weight_run(tg_ctx *ctx, const conv_geom *g, int64_t images, const float *x, const float *dy,
                              float *dw);

/* ops/conv_direct.c: f32 AVX-512 copies of conv.c's im2col and col2im.
 * One group's patches col[K, P] of x [C/g, H, W] with stride 1 and no
 * padding (f32, AVX-512; false, nothing written, otherwise). */
bool tg_conv_im2col_f32(const conv_geom *g, const float *x, float *col);
/* Its adjoint under the same conditions, writing dx [C/g, H, W] (not adding). */
bool tg_conv_col2im_f32(const conv_geom *g, const float *dcol, float *dx);

#endif
