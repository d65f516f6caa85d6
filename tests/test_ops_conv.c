/* Convolution and pooling: forward values against a direct convolution
 * written here as plain loops, in f32 and f64, on shapes that reach the
 * GEMM's blocking edges; pooling against hand-computed values; each bad
 * input is an error naming the op, the shapes and what was expected. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "ops/conv.h" /* tg_conv_lanes_batch: which shapes take the image-lane kernels */
#include "tapegrad.h"
#include "tests/support.h"

static tg_ctx *ctx;
static void setup(void) { ctx = tg_ctx_new(2); }
static void teardown(void) { tg_ctx_free(ctx); }
TestSuite(ops_conv, .init = setup, .fini = teardown);

typedef struct {
    int64_t n, c, h, w, o, kh, kw;
    int stride, padding, dilation, groups;
    bool bias;
} conv_shape;

static int64_t out_dim(int64_t in, int64_t k, const conv_shape *s)
{
    return (in + 2 * s->padding - s->dilation * (k - 1) - 1) / s->stride + 1;
}

/* On an AVX-512 CPU the image-lane kernels take `expected` images of shape i. */
static void expect_lanes_take(size_t i, int64_t taken, int64_t expected)
{
    if (tg_conv_avx512())
        cr_assert_eq(taken, expected, "shape %zu: the lane kernels take %lld images, expected %lld", i,
                     (long long)taken, (long long)expected);
}

/* The geometry ops/conv.c makes of shape s, for the kernels' predicates. */
static conv_geom geom_of(const conv_shape *s)
{
    int64_t oh = out_dim(s->h, s->kh, s), ow = out_dim(s->w, s->kw, s), cg = s->c / s->groups;
    return (conv_geom){s->n, s->c, s->h, s->w, s->o, s->kh, s->kw, oh, ow, s->stride, s->stride, s->padding,
                       s->padding, s->dilation, s->dilation, s->groups, cg, s->o / s->groups, cg * s->kh * s->kw,
                       oh * ow};
}

/* The textbook sum, in double: y[n,o,i,j] = b[o] + Σ W[o,c,u,v]·x[n, g·C/G + c, ...] */
static double direct_conv(const conv_shape *s, const tg_tensor *x, const tg_tensor *w, const tg_tensor *b, int64_t n,
                          int64_t o, int64_t i, int64_t j)
{
    int64_t cg = s->c / s->groups, og = s->o / s->groups, group = o / og;
    double total = b ? tg_tensor_get(b, o) : 0;
    for (int64_t c = 0; c < cg; c++)
        for (int64_t u = 0; u < s->kh; u++)
            for (int64_t v = 0; v < s->kw; v++) {
                int64_t iy = i * s->stride - s->padding + u * s->dilation;
                int64_t ix = j * s->stride - s->padding + v * s->dilation;
                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                    continue;
                int64_t xc = group * cg + c;
                total += tg_tensor_get(w, ((o * cg + c) * s->kh + u) * s->kw + v) *
                         tg_tensor_get(x, ((n * s->c + xc) * s->h + iy) * s->w + ix);
            }
    return total;
}

static void expect_conv_matches_direct(tg_dtype dt, conv_shape s, uint64_t seed)
{
    tg_rng rng = tg_rng_seed(seed);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, dt, TG_SHAPE(s.n, s.c, s.h, s.w), 0, 1);
    tg_tensor *w = tg_tensor_randn(ctx, &rng, dt, TG_SHAPE(s.o, s.c / s.groups, s.kh, s.kw), 0, 1);
    tg_tensor *b = s.bias ? tg_tensor_randn(ctx, &rng, dt, TG_SHAPE(s.o), 0, 1) : NULL;
    tg_tensor *y = tg_conv2d(x, w, b, s.stride, s.padding, s.dilation, s.groups);
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    int64_t oh = out_dim(s.h, s.kh, &s), ow = out_dim(s.w, s.kw, &s);
    cr_assert_eq(tg_tensor_rank(y), 4);
    const int64_t *ys = tg_tensor_shape(y);
    cr_assert(ys[0] == s.n && ys[1] == s.o && ys[2] == oh && ys[3] == ow);
    double tol = dt == TG_F32 ? 1e-4 * sqrt((double)(s.c * s.kh * s.kw)) : 1e-11;
    for (int64_t n = 0; n < s.n; n++)
        for (int64_t o = 0; o < s.o; o++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    double want = direct_conv(&s, x, w, b, n, o, i, j);
                    double got = tg_tensor_get(y, ((n * s.o + o) * oh + i) * ow + j);
                    cr_assert(fabs(got - want) <= tol * (1 + fabs(want)), "%s y[%lld,%lld,%lld,%lld] = %.9g, expected %.9g",
                              tg_dtype_name(dt), (long long)n, (long long)o, (long long)i, (long long)j, got, want);
                }
    tg_tensor_free(x);
    tg_tensor_free(w);
    tg_tensor_free(b);
    tg_tape_reset(ctx);
}

static const conv_shape shapes[] = {
    /*n  c  h   w   o  kh kw  s  p  d  g  bias */
    {1, 1, 5, 5, 1, 3, 3, 1, 0, 1, 1, false},
    {3, 2, 7, 6, 4, 3, 3, 1, 1, 1, 1, true},
    {2, 3, 9, 8, 5, 3, 2, 2, 1, 1, 1, true},   /* stride 2, non-square kernel */
    {1, 4, 9, 9, 2, 3, 3, 1, 2, 2, 1, false},  /* dilation 2 */
    {2, 4, 6, 5, 6, 3, 3, 1, 1, 1, 2, true},   /* groups 2 */
    {1, 6, 5, 5, 6, 3, 3, 1, 1, 1, 6, false},  /* depthwise */
    {3, 5, 4, 3, 7, 1, 1, 1, 0, 1, 1, true},   /* 1x1 */
    {1, 5, 7, 7, 3, 1, 1, 2, 0, 1, 1, false},  /* 1x1 stride 2 */
    {2, 17, 13, 11, 19, 3, 3, 1, 1, 1, 1, true}, /* edges of the GEMM blocks */
    {1, 17, 13, 11, 33, 5, 4, 2, 2, 1, 1, true},
    {64, 1, 28, 28, 6, 5, 5, 1, 2, 1, 1, true},  /* LeNet-5 conv 1 */
    {2, 32, 13, 13, 64, 3, 3, 1, 0, 1, 1, true}, /* the wider CNN's conv 2 */
    /* f32 stride 1 with few channels takes ops/conv.c's direct kernels
     * (AVX-512): tiles of 2, 3 or 4 output channels, the backward weight's
     * 1, 2, 3, 4 or 6, images in chunks of 8 split over two workers */
    {64, 6, 14, 14, 16, 5, 5, 1, 0, 1, 1, true}, /* LeNet-5 conv 2 */
    {11, 3, 9, 7, 6, 3, 4, 1, 1, 1, 1, true},    /* 6 channels: tiles of 3, weight tiles of 6 */
    {2, 4, 11, 10, 5, 3, 3, 1, 2, 2, 1, true},   /* dilation 2, odd channels (weight tiles of 1) */
    {2, 4, 8, 9, 8, 3, 3, 1, 1, 1, 2, true},     /* groups 2 */
    {2, 2, 6, 6, 4, 3, 3, 1, 3, 1, 1, false},    /* padding past the kernel's reach */
    {2, 2, 31, 33, 8, 5, 5, 1, 2, 1, 1, true},   /* rows of many vectors, odd sizes */
    {1, 3, 10, 10, 3, 3, 3, 1, 1, 1, 1, false},  /* 3 channels */
    {9, 2, 12, 12, 2, 5, 5, 1, 2, 1, 1, true},   /* 2 channels, a chunk of 8 and one of 1 */
    {3, 1, 7, 20, 12, 1, 17, 1, 8, 1, 1, true},  /* a 1×17 kernel (taps from one row) */
    /* backward weight with 16 output channels in the lanes (3 or 5 columns) */
    {2, 4, 9, 8, 32, 3, 3, 1, 1, 1, 2, true},    /* groups of 16: 6 kernel rows, a tile of 7 cut short */
    {2, 2, 9, 12, 16, 4, 5, 1, 1, 1, 1, true},   /* 4×5: 8 kernel rows, tiles of 5 and 3 */
    {2, 2, 7, 7, 32, 3, 3, 1, 1, 1, 1, false},   /* two blocks of 16 channels */
    {3, 3, 8, 9, 16, 5, 5, 1, 2, 1, 1, true},    /* 15 kernel rows: three whole tiles */
    {1, 2, 7, 30, 16, 3, 3, 1, 1, 1, 1, true},   /* forward in lanes: odd rows, rows of 3 tiles */
    /* backward weight over compact patches (fewer taps than output channels) */
    {9, 1, 28, 28, 32, 3, 3, 1, 0, 1, 1, true},  /* the wider CNN's conv 1: 8×3 tiles, a chunk of 8 and one of 1 */
    {3, 1, 9, 7, 24, 3, 3, 1, 1, 1, 1, false},   /* padding, rows shorter than a vector, 63 positions */
    {2, 2, 7, 11, 32, 2, 2, 1, 0, 1, 2, true},   /* groups 2 of 1 channel */
    {2, 1, 10, 9, 12, 3, 2, 1, 1, 2, 1, true},   /* dilation 2 */
    {2, 1, 6, 5, 17, 2, 2, 1, 0, 1, 1, true},    /* odd output channels: tiles of 1 */
    /* forward and backward weight over column-shifted planes */
    {1, 1, 28, 28, 6, 5, 5, 1, 2, 1, 1, true},    /* batch 1, LeNet conv 1: 49 whole vectors, tiles of 3 and 4 */
    {17, 2, 20, 21, 6, 5, 5, 1, 2, 1, 1, false},  /* 420 positions (a tail of 4), chunks of 8, 8, 1 on two workers */
    {2, 3, 5, 37, 4, 3, 3, 1, 0, 1, 1, true},     /* rows of 35 (3 vectors), no padding: overruns into the next plane */
    {2, 1, 12, 10, 32, 3, 3, 1, 0, 1, 1, true},   /* 32 channels, 9 taps: planes, not lanes; weight tiles 8×3 */
    {3, 2, 9, 9, 16, 3, 2, 1, 1, 1, 1, false},    /* 16 channels, 12 taps: planes, not lanes */
    {2, 2, 7, 9, 6, 2, 3, 1, 1, 2, 1, true},      /* dilation 2, rows of 7 (a vector spans three rows) */
    {5, 2, 11, 13, 2, 4, 3, 1, 2, 1, 1, true},    /* 2 channels: forward tiles of up to 10 vectors */
    {2, 3, 8, 8, 6, 3, 3, 1, 1, 1, 1, true},      /* 27 taps: weight tiles 6×4 and a 6×3 */
    {2, 1, 9, 12, 8, 1, 7, 1, 0, 1, 1, false},    /* 7 taps: weight tiles 8×3 and an 8×1 */
    /* backward input of one channel per tile by rows (5-row kernels) */
    {3, 1, 9, 13, 4, 5, 5, 1, 1, 1, 1, true},    /* one tile of 9 rows, one vector per row */
    {2, 5, 30, 20, 3, 5, 3, 1, 2, 1, 1, false},  /* 5 channels, tiles of 10 rows of two vectors */
    {2, 2, 12, 12, 4, 5, 5, 1, 0, 1, 2, true},   /* groups of 1 channel, no padding */
    /* the GEMM path with patches built and scattered a row of dx at a time
     * (stride 1, no padding) or by the compiled loops */
    {18, 20, 9, 8, 18, 3, 3, 1, 0, 1, 1, true},  /* rows of 7 and 8, 42 positions */
    {17, 3, 11, 10, 8, 3, 3, 2, 1, 1, 1, false}, /* stride 2: the compiled patches */
    {3, 40, 9, 9, 40, 3, 2, 1, 0, 2, 2, true},   /* dilation 2, groups 2 */
    {2, 20, 5, 37, 20, 2, 3, 1, 0, 1, 1, true},  /* rows of dx wider than a vector */
};

Test(ops_conv, conv2d_matches_a_direct_convolution_in_f32_and_f64)
{
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        expect_conv_matches_direct(TG_F32, shapes[i], 10 + i);
        expect_conv_matches_direct(TG_F64, shapes[i], 10 + i);
    }
}

/* The backward ops against the direct sums their definitions state:
 *   dx[n,c,y,x] = Σ dy[n,o,i,j]·W[o,c',u,v] over taps that read (y, x),
 *   dW[o,c,u,v] = Σ dy[n,o,i,j]·x[n, ..., i·s-p+u·d, j·s-p+v·d]. */
static void expect_backward_ops_match_direct(tg_dtype dt, conv_shape s, uint64_t seed)
{
    tg_rng rng = tg_rng_seed(seed);
    int64_t oh = out_dim(s.h, s.kh, &s), ow = out_dim(s.w, s.kw, &s), cg = s.c / s.groups, og = s.o / s.groups;
    tg_tensor *x = tg_tensor_randn(ctx, &rng, dt, TG_SHAPE(s.n, s.c, s.h, s.w), 0, 1);
    tg_tensor *w = tg_tensor_randn(ctx, &rng, dt, TG_SHAPE(s.o, cg, s.kh, s.kw), 0, 1);
    tg_tensor *dy = tg_tensor_randn(ctx, &rng, dt, TG_SHAPE(s.n, s.o, oh, ow), 0, 1);
    tg_tensor *dx = tg_conv2d_backward_input(dy, w, s.h, s.w, s.stride, s.padding, s.dilation, s.groups);
    tg_tensor *dw = tg_conv2d_backward_weight(x, dy, s.kh, s.kw, s.stride, s.padding, s.dilation, s.groups);
    cr_assert(dx && dw, "%s", tg_ctx_error(ctx));
    double *want_dx = calloc((size_t)tg_tensor_size(x), sizeof(double));
    double *want_dw = calloc((size_t)tg_tensor_size(w), sizeof(double));
    for (int64_t n = 0; n < s.n; n++)
        for (int64_t o = 0; o < s.o; o++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    double g = tg_tensor_get(dy, ((n * s.o + o) * oh + i) * ow + j);
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t u = 0; u < s.kh; u++)
                            for (int64_t v = 0; v < s.kw; v++) {
                                int64_t iy = i * s.stride - s.padding + u * s.dilation;
                                int64_t ix = j * s.stride - s.padding + v * s.dilation;
                                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w)
                                    continue;
                                int64_t xi = ((n * s.c + o / og * cg + c) * s.h + iy) * s.w + ix;
                                int64_t wi = ((o * cg + c) * s.kh + u) * s.kw + v;
                                want_dx[xi] += g * tg_tensor_get(w, wi);
                                want_dw[wi] += g * tg_tensor_get(x, xi);
                            }
                }
    double tol = dt == TG_F32 ? 1e-4 : 1e-11;
    for (int64_t i = 0; i < tg_tensor_size(x); i++)
        cr_assert(fabs(tg_tensor_get(dx, i) - want_dx[i]) <= tol * (1 + fabs(want_dx[i])) * 10, "%s dx[%lld] = %.9g, expected %.9g",
                  tg_dtype_name(dt), (long long)i, tg_tensor_get(dx, i), want_dx[i]);
    for (int64_t i = 0; i < tg_tensor_size(w); i++)
        cr_assert(fabs(tg_tensor_get(dw, i) - want_dw[i]) <= tol * (1 + fabs(want_dw[i])) * 10, "%s dw[%lld] = %.9g, expected %.9g",
                  tg_dtype_name(dt), (long long)i, tg_tensor_get(dw, i), want_dw[i]);
    free(want_dx);
    free(want_dw);
    tg_tensor_free(x);
    tg_tensor_free(w);
    tg_tensor_free(dy);
    tg_tape_reset(ctx);
}

Test(ops_conv, backward_ops_match_direct_sums_in_f32_and_f64)
{
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        expect_backward_ops_match_direct(TG_F32, shapes[i], 40 + i);
        expect_backward_ops_match_direct(TG_F64, shapes[i], 40 + i);
    }
}

/* The backward input with 16 images in the vector lanes (ops/conv_lanes.c):
 * whole packs of 16, a last pack of 10 or more with zero lanes, fewer left to
 * the other paths; tiles of 6, 5, 4, 3 or 2 channels and up to 8 positions
 * whose kernel columns reach dy's zero columns. `lanes` is how many images
 * the pack kernels take (on AVX-512). */
static const struct {
    conv_shape s;
    int64_t lanes;
} lanes_shapes[] = {
    /*n   c   h   w   o  kh kw  s  p  d  g  bias     lanes */
    {{16, 6, 14, 14, 16, 5, 5, 1, 0, 1, 1, false}, 16}, /* LeNet-5 conv 2: 6 channels x 4 positions */
    {{32, 6, 14, 14, 16, 5, 5, 1, 0, 1, 1, false}, 32}, /* two packs, one per worker */
    {{17, 6, 14, 14, 16, 5, 5, 1, 0, 1, 1, false}, 16}, /* one image left to the direct kernels */
    {{5, 6, 14, 14, 16, 5, 5, 1, 0, 1, 1, false}, 0},   /* too few images for a pack */
    {{44, 3, 9, 7, 6, 3, 4, 1, 1, 1, 1, false}, 44},    /* a last pack of 12 images, 3x4 kernel */
    {{25, 3, 9, 7, 6, 3, 4, 1, 1, 1, 1, false}, 16},    /* 9 images left to the direct kernels */
    {{16, 4, 11, 10, 8, 3, 3, 1, 1, 1, 1, false}, 16},  /* 4 channels x 5 positions */
    {{16, 16, 8, 9, 16, 3, 3, 1, 1, 1, 1, false}, 16},  /* blocks of 6, 5 and 5 channels */
    {{26, 8, 7, 7, 8, 3, 3, 1, 1, 1, 2, false}, 26},    /* groups 2, a last pack of 10 */
    {{16, 3, 11, 10, 5, 3, 3, 1, 2, 2, 1, false}, 16},  /* dilation 2 */
    {{16, 2, 6, 6, 4, 3, 3, 1, 3, 1, 1, false}, 16},    /* padding past the kernel's reach */
    {{20, 2, 5, 37, 8, 3, 5, 1, 2, 1, 1, false}, 16},   /* rows of 5 tiles of 7 and 8 positions */
    {{16, 3, 1, 20, 16, 1, 5, 1, 2, 1, 1, false}, 16},  /* one row (conv1d) */
    {{16, 32, 13, 13, 64, 3, 3, 1, 0, 1, 1, false}, 16}, /* the wider CNN's conv 2: 6 blocks of 5 and 6 channels */
    {{16, 2, 3, 3, 8, 3, 3, 1, 0, 1, 1, false}, 16},    /* dy of one position, read by every output */
    {{18, 4, 6, 6, 4, 3, 3, 1, 1, 1, 2, false}, 16},    /* groups of 2 channels, 2 images left */
};

Test(ops_conv, backward_input_with_16_images_in_the_lanes_matches_direct_sums)
{
    for (size_t i = 0; i < sizeof lanes_shapes / sizeof *lanes_shapes; i++) {
        conv_shape s = lanes_shapes[i].s;
        conv_geom g = geom_of(&s);
        int64_t lanes = tg_conv_lanes_batch(&g, TG_F32, CONV_BACKWARD_INPUT);
        expect_lanes_take(i, lanes, lanes_shapes[i].lanes);
        cr_assert_eq(tg_conv_lanes_batch(&g, TG_F64, CONV_BACKWARD_INPUT), 0);
        expect_backward_ops_match_direct(TG_F32, s, 90 + i);
        expect_backward_ops_match_direct(TG_F64, s, 90 + i);
    }
}

/* The weight gradient with 16 images in the vector lanes
 * (ops/conv_lanes_weight.c): whole packs of 16, a last pack of 12 or more
 * with zero lanes, fewer left to the other paths and their dW added; tiles
 * of 2 to 6 output channels × 3 or 4 taps, run by two workers (packs
 * shared, or one pack's tap blocks split) and by one. */
static const struct {
    conv_shape s;
    int64_t lanes;
} lanes_weight_shapes[] = {
    /*n   c   h   w   o  kh kw  s  p  d  g  bias     lanes */
    {{16, 32, 13, 13, 64, 3, 3, 1, 0, 1, 1, false}, 16}, /* the wider CNN's conv 2: blocks of 5 and 6 x 4 taps */
    {{32, 32, 13, 13, 64, 3, 3, 1, 0, 1, 1, false}, 32}, /* two packs, one per worker */
    {{16, 1, 12, 12, 6, 5, 5, 1, 2, 1, 1, false}, 0},   /* one input channel (LeNet conv1): the planes, not the lanes */
    {{17, 6, 14, 14, 16, 5, 5, 1, 0, 1, 1, false}, 16},  /* LeNet-5 conv 2, one image left; 150 taps: 3 and 4 */
    {{31, 3, 9, 7, 6, 3, 4, 1, 1, 1, 1, false}, 31},    /* a last pack of 15, 3x4 kernel, one block of 6 */
    {{44, 8, 7, 7, 8, 3, 3, 1, 1, 1, 2, false}, 44},    /* groups 2, a last pack of 12 */
    {{32, 2, 11, 10, 5, 3, 3, 1, 2, 2, 1, false}, 32},  /* dilation 2, padding 2, 18 taps: blocks of 3 and 4 */
    {{16, 7, 6, 6, 2, 5, 5, 1, 2, 1, 1, false}, 16},    /* 2 output channels */
    {{18, 5, 9, 9, 7, 5, 3, 1, 1, 1, 1, false}, 16},    /* blocks of 3 and 4 channels, 2 images left */
    {{16, 4, 1, 20, 16, 1, 5, 1, 2, 1, 1, false}, 16},  /* one row (conv1d) */
    {{16, 2, 6, 6, 4, 3, 3, 1, 3, 1, 1, false}, 16},    /* padding past the kernel's reach */
    {{5, 6, 14, 14, 16, 5, 5, 1, 0, 1, 1, false}, 0},   /* too few images for a pack */
    {{27, 6, 14, 14, 16, 5, 5, 1, 0, 1, 1, false}, 16}, /* a last pack of 11 left to the other paths */
    {{16, 4, 9, 9, 8, 3, 3, 2, 1, 1, 1, false}, 0},     /* stride 2 */
    {{16, 6, 8, 8, 1, 3, 3, 1, 1, 1, 1, false}, 0},     /* one output channel */
    {{16, 1, 8, 8, 8, 3, 3, 1, 1, 1, 1, false}, 0},     /* 9 taps */
};

Test(ops_conv, backward_weight_with_16_images_in_the_lanes_matches_direct_sums)
{
    tg_ctx *two_threads = ctx;
    for (int threads = 2; threads >= 1; threads--) {
        ctx = threads == 2 ? two_threads : tg_ctx_new(1);
        for (size_t i = 0; i < sizeof lanes_weight_shapes / sizeof *lanes_weight_shapes; i++) {
            conv_shape s = lanes_weight_shapes[i].s;
            conv_geom g = geom_of(&s);
            int64_t lanes = tg_conv_lanes_weight_batch(&g, TG_F32);
            expect_lanes_take(i, lanes, lanes_weight_shapes[i].lanes);
            cr_assert_eq(tg_conv_lanes_weight_batch(&g, TG_F64), 0);
            expect_backward_ops_match_direct(TG_F32, s, 150 + i);
        }
        if (threads == 1)
            tg_ctx_free(ctx);
    }
    ctx = two_threads;
}

/* The forward with 16 images in the lanes: run as the backward input of a
 * convolution reading x (C and O swapped, the kernel flipped), the bias as
 * the accumulators' start; 2 input channels or more, a last pack of 15. */
static const struct {
    conv_shape s;
    int64_t lanes;
} lanes_forward_shapes[] = {
    /*n   c   h   w   o  kh kw  s  p  d  g  bias     lanes */
    {{16, 1, 28, 28, 6, 5, 5, 1, 2, 1, 1, true}, 0},    /* LeNet-5 conv 1: one input channel keeps the planes */
    {{31, 6, 14, 14, 16, 5, 5, 1, 0, 1, 1, true}, 31},  /* LeNet-5 conv 2, a last pack of 15 */
    {{30, 2, 12, 12, 6, 5, 5, 1, 2, 1, 1, false}, 16},  /* padding 2, 14 images left to the direct kernels */
    {{16, 4, 9, 8, 8, 3, 3, 1, 1, 1, 2, true}, 16},     /* groups 2 */
    {{16, 2, 11, 10, 5, 3, 3, 1, 2, 2, 1, true}, 16},   /* dilation 2 */
    {{16, 2, 5, 37, 8, 3, 5, 1, 2, 1, 1, true}, 16},    /* rows of many tiles */
    {{16, 32, 13, 13, 64, 3, 3, 1, 0, 1, 1, true}, 16}, /* the wider CNN's conv 2 */
    {{16, 2, 6, 6, 4, 3, 3, 1, 3, 1, 1, true}, 0},      /* padding past the kernel's reach: not as a backward input */
};

Test(ops_conv, conv2d_with_16_images_in_the_lanes_matches_a_direct_convolution)
{
    for (size_t i = 0; i < sizeof lanes_forward_shapes / sizeof *lanes_forward_shapes; i++) {
        conv_shape s = lanes_forward_shapes[i].s;
        conv_geom g = geom_of(&s);
        int64_t lanes = tg_conv_lanes_batch(&g, TG_F32, CONV_FORWARD);
        expect_lanes_take(i, lanes, lanes_forward_shapes[i].lanes);
        cr_assert_eq(tg_conv_lanes_batch(&g, TG_F32, CONV_BACKWARD_WEIGHT), 0);
        expect_conv_matches_direct(TG_F32, s, 120 + i);
        expect_conv_matches_direct(TG_F64, s, 120 + i);
    }
}

/* The direct kernels compute outputs past each row's end and drop them: an
 * infinity that only such a dropped output reads must not reach the
 * weight gradient as 0·∞ = NaN. x[0, 0, 0, 7] = ∞ is read by the valid
 * output (0, 5) through tap (0, 2) only. */
Test(ops_conv, an_infinite_input_at_a_row_end_reaches_only_the_taps_that_read_it)
{
    tg_rng rng = tg_rng_seed(8);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(1, 2, 8, 8), 0, 1);
    tg_tensor *dy = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(1, 4, 6, 6), 0, 1);
    tg_tensor_set(x, 7, INFINITY);
    tg_tensor *dw = tg_conv2d_backward_weight(x, dy, 3, 3, 1, 0, 1, 1);
    cr_assert_not_null(dw, "%s", tg_ctx_error(ctx));
    for (int64_t o = 0; o < 4; o++)
        for (int64_t c = 0; c < 2; c++)
            for (int64_t u = 0; u < 3; u++)
                for (int64_t v = 0; v < 3; v++) {
                    double want = 0;
                    for (int64_t i = 0; i < 6; i++)
                        for (int64_t j = 0; j < 6; j++)
                            want += tg_tensor_get(dy, (o * 6 + i) * 6 + j) *
                                    tg_tensor_get(x, (c * 8 + i + u) * 8 + j + v);
                    double got = tg_tensor_get(dw, ((o * 2 + c) * 3 + u) * 3 + v);
                    if (isinf(want))
                        cr_assert(got == want, "dw[%lld,%lld,%lld,%lld] = %g, expected %g", (long long)o, (long long)c,
                                  (long long)u, (long long)v, got, want);
                    else
                        cr_assert(fabs(got - want) <= 1e-4 * (1 + fabs(want)), "dw[%lld,%lld,%lld,%lld] = %g, expected %g",
                                  (long long)o, (long long)c, (long long)u, (long long)v, got, want);
                }
    tg_tensor_free(x);
    tg_tensor_free(dy);
    tg_tape_reset(ctx);
}

Test(ops_conv, conv1d_is_conv2d_over_a_height_of_one)
{
    tg_rng rng = tg_rng_seed(3);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(2, 4, 11), 0, 1);
    tg_tensor *w = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(6, 2, 3), 0, 1);
    tg_tensor *b = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(6), 0, 1);
    tg_tensor *y = tg_conv1d(x, w, b, 2, 1, 2, 2);
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    /* (11 + 2 - 2·2 - 1)/2 + 1 = 5 */
    cr_assert(tg_tensor_rank(y) == 3 && tg_tensor_dim(y, 0) == 2 && tg_tensor_dim(y, 1) == 6 && tg_tensor_dim(y, 2) == 5);
    for (int64_t n = 0; n < 2; n++)
        for (int64_t o = 0; o < 6; o++)
            for (int64_t j = 0; j < 5; j++) {
                double want = tg_tensor_get(b, o);
                for (int64_t c = 0; c < 2; c++)
                    for (int64_t v = 0; v < 3; v++) {
                        int64_t ix = j * 2 - 1 + v * 2;
                        if (ix >= 0 && ix < 11)
                            want += tg_tensor_get(w, (o * 2 + c) * 3 + v) * tg_tensor_get(x, (n * 4 + o / 3 * 2 + c) * 11 + ix);
                    }
                cr_expect(fabs(tg_tensor_get(y, (n * 6 + o) * 5 + j) - want) < 1e-12);
            }
}

/* ---- pooling ---- */

static void expect_values(const tg_tensor *t, int rank, const int64_t *shape, const double *want, double tol)
{
    cr_assert_not_null(t, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_tensor_rank(t), rank);
    for (int d = 0; d < rank; d++)
        cr_assert_eq(tg_tensor_shape(t)[d], shape[d], "dim %d", d);
    for (int64_t i = 0; i < tg_tensor_size(t); i++)
        cr_expect(fabs(tg_tensor_get(t, i) - want[i]) <= tol, "element %lld: %.9g, expected %.9g", (long long)i,
                  tg_tensor_get(t, i), want[i]);
}

#define BOTH_DTYPES for (tg_dtype dt = TG_F32; dt <= TG_F64; dt++)

Test(ops_conv, max_pool_takes_window_maxima_and_routes_the_gradient_to_the_first_of_ties)
{
    BOTH_DTYPES {
        /* 4×4 image; the top-left window holds a tie (5 at (0,1) and (1,0)) */
        double img[] = {1, 5, 2, 0,
                        5, 3, 7, 1,
                        0, 2, 4, 4,
                        9, 1, 4, 6};
        tg_tensor *x = tg_tensor_from(ctx, dt, TG_SHAPE(1, 1, 4, 4), img);
        tg_tensor_set_requires_grad(x, true);
        tg_tensor *y = tg_max_pool2d(x, 2, 2, 0);
        expect_values(y, TG_SHAPE(1, 1, 2, 2), (double[]){5, 7, 9, 6}, 0);
        cr_assert_eq(tg_backward_with(y, tg_tensor_from(ctx, dt, TG_SHAPE(1, 1, 2, 2), (double[]){10, 20, 30, 40})), TG_OK);
        expect_values(tg_tensor_grad(x), TG_SHAPE(1, 1, 4, 4),
                      (double[]){0, 10, 0, 0, /* the first 5 in row-major order takes it */
                                 0, 0, 20, 0,
                                 0, 0, 0, 0,
                                 30, 0, 0, 40}, 0);
        tg_tensor_free(x);
        tg_tape_reset(ctx);
    }
}

Test(ops_conv, max_pool_padding_never_wins_and_overlapping_windows_add_up)
{
    BOTH_DTYPES {
        double img[] = {-1, -2, -3,
                        -4, -5, -6,
                        -7, -8, -9};
        tg_tensor *x = tg_tensor_from(ctx, dt, TG_SHAPE(1, 1, 3, 3), img);
        tg_tensor_set_requires_grad(x, true);
        /* windows at rows/cols -1..1 and 1..3: all negative, padding (-inf) loses */
        tg_tensor *y = tg_max_pool2d(x, 3, 2, 1);
        expect_values(y, TG_SHAPE(1, 1, 2, 2), (double[]){-1, -2, -4, -5}, 0);
        /* stride 1: (0,0) is the maximum of all four windows around it -> gradient 4 */
        tg_tensor *z = tg_max_pool2d(x, 2, 1, 0);
        expect_values(z, TG_SHAPE(1, 1, 2, 2), (double[]){-1, -2, -4, -5}, 0);
        cr_assert_eq(tg_backward(tg_sum(z)), TG_OK);
        expect_values(tg_tensor_grad(x), TG_SHAPE(1, 1, 3, 3), (double[]){1, 1, 0, 1, 1, 0, 0, 0, 0}, 0);
        tg_tensor_free(x);
        tg_tape_reset(ctx);
    }
}

Test(ops_conv, max_pool_propagates_nan)
{
    tg_tensor *x = tg_tensor_from(ctx, TG_F32, TG_SHAPE(1, 1, 2, 2), (double[]){1, NAN, 3, 2});
    tg_tensor *y = tg_max_pool2d(x, 2, 2, 0);
    cr_assert_not_null(y);
    cr_expect(isnan(tg_tensor_get(y, 0)));
}

Test(ops_conv, avg_pool_divides_by_the_full_window_padding_included)
{
    BOTH_DTYPES {
        double img[] = {1, 2, 3, 4,
                        5, 6, 7, 8,
                        9, 10, 11, 12};
        tg_tensor *x = tg_tensor_from(ctx, dt, TG_SHAPE(1, 1, 3, 4), img);
        expect_values(tg_avg_pool2d(x, 2, 2, 0), TG_SHAPE(1, 1, 1, 2), (double[]){3.5, 5.5}, 1e-6);
        /* padding 1, kernel 2, stride 2: corner window holds 1 real value of 4 */
        expect_values(tg_avg_pool2d(x, 2, 2, 1), TG_SHAPE(1, 1, 2, 3),
                      (double[]){1 / 4.0, (2 + 3) / 4.0, 4 / 4.0, (5 + 9) / 4.0, (6 + 7 + 10 + 11) / 4.0, (8 + 12) / 4.0},
                      1e-6);
        tg_tensor *dx = tg_avg_pool2d_backward(tg_tensor_from(ctx, dt, TG_SHAPE(1, 1, 1, 2), (double[]){4, 8}), 3, 4, 2, 2, 0);
        expect_values(dx, TG_SHAPE(1, 1, 3, 4), (double[]){1, 1, 2, 2, 1, 1, 2, 2, 0, 0, 0, 0}, 1e-6);
        expect_values(tg_global_avg_pool2d(x), TG_SHAPE(1, 1), (double[]){6.5}, 1e-6);
        tg_tensor_free(x);
    }
}

/* ---- bad input: each an error naming the op, the shapes and what was expected ---- */

static tg_tensor *zeros(int rank, const int64_t *shape) { return tg_tensor_temp(ctx, TG_F32, rank, shape); }

Test(ops_conv, input_not_rank_4_is_an_error)
{
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    cr_expect_null(tg_conv2d(zeros(TG_SHAPE(3, 8, 8)), zeros(TG_SHAPE(4, 3, 3, 3)), NULL, 1, 0, 1, 1));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("conv2d", "[3, 8, 8]", "expected rank 4"));
    cr_expect_null(tg_max_pool2d(zeros(TG_SHAPE(8, 8)), 2, 2, 0));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("max_pool2d", "[8, 8]", "expected rank 4"));
    cr_expect_null(tg_avg_pool2d(zeros(TG_SHAPE(1, 8, 8)), 2, 2, 0));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("avg_pool2d", "[1, 8, 8]", "expected rank 4"));
    cr_expect_null(tg_global_avg_pool2d(zeros(TG_SHAPE(2, 3))));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("global_avg_pool2d", "[2, 3]", "expected rank 4"));
    cr_expect_null(tg_conv1d(zeros(TG_SHAPE(2, 3, 8, 8)), zeros(TG_SHAPE(4, 3, 3)), NULL, 1, 0, 1, 1));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("conv1d", "[2, 3, 8, 8]", "expected rank 3"));
}

Test(ops_conv, channels_that_do_not_match_the_weight_are_an_error)
{
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    cr_expect_null(tg_conv2d(zeros(TG_SHAPE(2, 3, 8, 8)), zeros(TG_SHAPE(4, 5, 3, 3)), NULL, 1, 0, 1, 1));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("conv2d", "3 channels", "[4, 5, 3, 3]", "expected weight dim 1 = channels/groups = 3"));
    cr_expect_null(tg_conv2d(zeros(TG_SHAPE(2, 3, 8, 8)), zeros(TG_SHAPE(4, 3, 3, 3)), zeros(TG_SHAPE(5)), 1, 0, 1, 1));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("conv2d", "bias", "[5]", "expected [4]"));
}

Test(ops_conv, a_kernel_larger_than_the_padded_input_is_an_error)
{
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    cr_expect_null(tg_conv2d(zeros(TG_SHAPE(1, 1, 4, 8)), zeros(TG_SHAPE(2, 1, 7, 3)), NULL, 1, 1, 1, 1));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("conv2d", "[2, 1, 7, 3]", "padded input height (4 + 2x1)", "expected a kernel that fits"));
    /* dilation widens the kernel: 3 taps at dilation 3 span 7 columns */
    cr_expect_null(tg_conv2d(zeros(TG_SHAPE(1, 1, 8, 6)), zeros(TG_SHAPE(2, 1, 3, 3)), NULL, 1, 0, 3, 1));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("conv2d", "spans 7 columns", "width (6 + 2x0)"));
    cr_expect_null(tg_max_pool2d(zeros(TG_SHAPE(1, 1, 3, 3)), 5, 1, 0));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("max_pool2d", "kernel 5", "[1, 1, 3, 3]", "expected a kernel that fits"));
}

Test(ops_conv, stride_0_is_an_error)
{
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    cr_expect_null(tg_conv2d(zeros(TG_SHAPE(1, 1, 4, 4)), zeros(TG_SHAPE(2, 1, 3, 3)), NULL, 0, 0, 1, 1));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("conv2d", "stride 0", "expected a stride of 1 or more"));
    cr_expect_null(tg_conv2d(zeros(TG_SHAPE(1, 1, 4, 4)), zeros(TG_SHAPE(2, 1, 3, 3)), NULL, 1, 0, 0, 1));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("conv2d", "dilation 0"));
    cr_expect_null(tg_conv2d(zeros(TG_SHAPE(1, 1, 4, 4)), zeros(TG_SHAPE(2, 1, 3, 3)), NULL, 1, -1, 1, 1));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("conv2d", "padding -1"));
    cr_expect_null(tg_max_pool2d(zeros(TG_SHAPE(1, 1, 4, 4)), 2, 0, 0));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("max_pool2d", "stride 0", "expected kernel >= 1, stride >= 1"));
    cr_expect_null(tg_avg_pool2d(zeros(TG_SHAPE(1, 1, 4, 4)), 2, 2, 2));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("avg_pool2d", "padding 2 with kernel 2", "expected padding <= kernel/2"));
}

Test(ops_conv, groups_that_do_not_divide_the_channels_are_an_error)
{
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    cr_expect_null(tg_conv2d(zeros(TG_SHAPE(1, 6, 4, 4)), zeros(TG_SHAPE(4, 1, 3, 3)), NULL, 1, 0, 1, 4));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("conv2d", "groups 4", "6 input channels", "expected both divisible by groups"));
    cr_expect_null(tg_conv2d(zeros(TG_SHAPE(1, 6, 4, 4)), zeros(TG_SHAPE(5, 3, 3, 3)), NULL, 1, 0, 1, 2));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("conv2d", "5 output channels", "[5, 3, 3, 3]"));
    cr_expect_null(tg_conv2d(zeros(TG_SHAPE(1, 6, 4, 4)), zeros(TG_SHAPE(4, 6, 3, 3)), NULL, 1, 0, 1, 0));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("conv2d", "groups 0", "expected 1 or more"));
}

Test(ops_conv, backward_ops_check_their_shapes_and_null_arguments)
{
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    /* input 5x5, 3x3 kernel, stride 1 -> 3x3, not 4x4 */
    cr_expect_null(tg_conv2d_backward_input(zeros(TG_SHAPE(1, 2, 4, 4)), zeros(TG_SHAPE(2, 1, 3, 3)), 5, 5, 1, 0, 1, 1));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("conv2d_backward_input", "[1, 2, 4, 4]", "3x3 output", "expected them equal"));
    cr_expect_null(tg_conv2d_backward_weight(zeros(TG_SHAPE(1, 1, 5, 5)), zeros(TG_SHAPE(1, 2, 4, 4)), 3, 3, 1, 0, 1, 1));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("conv2d_backward_weight", "[1, 2, 4, 4]", "3x3 output"));
    cr_expect_null(tg_max_pool2d_backward(zeros(TG_SHAPE(1, 1, 3, 3)), zeros(TG_SHAPE(1, 1, 4, 4)), 2, 2, 0));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("max_pool2d_backward", "gradient has shape [1, 1, 3, 3]", "expected [1, 1, 2, 2]"));
    cr_expect_null(tg_max_pool2d_gather(zeros(TG_SHAPE(1, 1, 3, 3)), zeros(TG_SHAPE(1, 1, 4, 4)), 2, 2, 0));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("max_pool2d_gather", "[1, 1, 3, 3]", "expected [1, 1, 4, 4]"));
    cr_expect_null(tg_avg_pool2d_backward(zeros(TG_SHAPE(1, 1, 3, 3)), 4, 4, 2, 2, 0));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("avg_pool2d_backward", "expected [1, 1, 2, 2]"));
    /* NULL arguments (an earlier op failed): NULL back, quietly, as every op */
    cr_expect_null(tg_conv2d(NULL, NULL, NULL, 1, 0, 1, 1));
    cr_expect_null(tg_conv1d(NULL, NULL, NULL, 1, 0, 1, 1));
    cr_expect_null(tg_conv2d_backward_input(NULL, NULL, 1, 1, 1, 0, 1, 1));
    cr_expect_null(tg_conv2d_backward_weight(NULL, NULL, 1, 1, 1, 0, 1, 1));
    cr_expect_null(tg_max_pool2d(NULL, 2, 2, 0));
    cr_expect_null(tg_max_pool2d_backward(NULL, NULL, 2, 2, 0));
    cr_expect_null(tg_max_pool2d_gather(NULL, NULL, 2, 2, 0));
    cr_expect_null(tg_avg_pool2d(NULL, 2, 2, 0));
    cr_expect_null(tg_avg_pool2d_backward(NULL, 2, 2, 2, 2, 0));
    cr_expect_null(tg_global_avg_pool2d(NULL));
    cr_expect_null(tg_conv2d(zeros(TG_SHAPE(1, 1, 4, 4)), NULL, NULL, 1, 0, 1, 1));
}

Test(ops_conv, repeated_steps_in_reused_step_memory_give_identical_gradients)
{
    /* From the second step on, conv and pool scratch comes from memory the
     * first step left in the arena: stale contents must not leak in. */
    tg_rng rng = tg_rng_seed(9);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(4, 3, 12, 12), 0, 1);
    tg_tensor *w = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(8, 3, 3, 3), 0, 0.3);
    tg_tensor *b = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(8));
    tg_tensor_set_requires_grad(w, true);
    tg_tensor_set_requires_grad(b, true);
    double first = 0;
    for (int step = 0; step < 3; step++) {
        tg_tensor_zero_grad(w);
        tg_tensor *loss = tg_mean(tg_max_pool2d(tg_relu(tg_conv2d(x, w, b, 1, 1, 1, 1)), 2, 2, 0));
        cr_assert_eq(tg_backward(loss), TG_OK, "%s", tg_ctx_error(ctx));
        double g = tg_tensor_get(tg_tensor_grad(w), 5);
        if (step == 0)
            first = g;
        cr_expect_eq(g, first, "step %d gives another gradient", step);
        tg_tape_reset(ctx);
    }
}

/* Big enough to be split across the two threads: the same values and
 * gradients as one thread computes. */
/* 2×2 stride-2 max pooling's gradient (the tiled scatter, written band by
 * band without a zero fill), against the rule written out: each window's
 * first maximum gets its dy, every other element (and the odd last row or
 * column no window covers) 0; odd widths and heights, wide rows. */
Test(ops_conv, max_pool_2x2_gradient_goes_to_each_window_first_maximum)
{
    static const int64_t shapes[][4] = {{2, 3, 7, 9}, {1, 2, 6, 40}, {1, 1, 33, 35}, {3, 2, 4, 4}, {2, 1, 5, 2}, {1, 2, 10, 65}};
    BOTH_DTYPES {
        tg_rng rng = tg_rng_seed(21);
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
            const int64_t *sh = shapes[si], oh = sh[2] / 2, ow = sh[3] / 2;
            tg_tensor *x = tg_tensor_randn(ctx, &rng, dt, TG_SHAPE(sh[0], sh[1], sh[2], sh[3]), 0, 1);
            for (int64_t i = 0; i < tg_tensor_size(x); i += 7) /* ties: the first maximum wins */
                tg_tensor_set(x, i, tg_tensor_get(x, i + 1 < tg_tensor_size(x) ? i + 1 : i));
            tg_tensor *dy = tg_tensor_randn(ctx, &rng, dt, TG_SHAPE(sh[0], sh[1], oh, ow), 0, 1);
            tg_tensor *dx = tg_max_pool2d_backward(dy, x, 2, 2, 0);
            cr_assert_not_null(dx, "%s", tg_ctx_error(ctx));
            for (int64_t pl = 0; pl < sh[0] * sh[1]; pl++)
                for (int64_t r = 0; r < sh[2]; r++)
                    for (int64_t c = 0; c < sh[3]; c++) {
                        double want = 0;
                        int64_t oy = r / 2, ox = c / 2;
                        if (oy < oh && ox < ow) {
                            int64_t best = -1;
                            double top = 0;
                            for (int64_t a = 0; a < 2; a++)
                                for (int64_t b = 0; b < 2; b++) {
                                    double v = tg_tensor_get(x, (pl * sh[2] + 2 * oy + a) * sh[3] + 2 * ox + b);
                                    if (best < 0 || v > top)
                                        best = a * 2 + b, top = v;
                                }
                            if (best == (r - 2 * oy) * 2 + (c - 2 * ox))
                                want = tg_tensor_get(dy, (pl * oh + oy) * ow + ox);
                        }
                        double got = tg_tensor_get(dx, (pl * sh[2] + r) * sh[3] + c);
                        cr_assert(got == want, "%s shape %zu dx[%lld, %lld, %lld] = %g, expected %g", tg_dtype_name(dt), si,
                                  (long long)pl, (long long)r, (long long)c, got, want);
                    }
            tg_tensor_free(x);
            tg_tensor_free(dy);
            tg_tape_reset(ctx);
        }
    }
}

/* f32 2×2 max pooling has its own AVX-512 kernels (several row pairs a step
 * up to 32 wide, one row pair beyond): values, argmax choice (first of ties,
 * NaN wins) and gradient as the f64 path gives, on every height 2..11 and
 * width 2..36 (odd ones leave a row or column in no window). */
Test(ops_conv, max_pool_2x2_f32_kernels_match_f64_on_every_narrow_shape)
{
    tg_rng rng = tg_rng_seed(5);
    for (int64_t h = 2; h <= 11; h++)
        for (int64_t w = 2; w <= 36; w++) {
            tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(2, 3, h, w), 0, 1);
            int64_t size = tg_tensor_size(x);
            for (int64_t i = 0; i < size; i += 5) /* ties */
                tg_tensor_set(x, i, tg_tensor_get(x, i + 1 < size ? i + 1 : i));
            for (int64_t i = 3; i < size; i += 37)
                tg_tensor_set(x, i, NAN);
            tg_tensor *dy = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(2, 3, h / 2, w / 2), 0, 1);
            tg_tensor *x64 = tg_tensor_new(ctx, TG_F64, TG_SHAPE(2, 3, h, w));
            tg_tensor *dy64 = tg_tensor_new(ctx, TG_F64, TG_SHAPE(2, 3, h / 2, w / 2));
            tg_tensor_copy(x64, x);
            tg_tensor_copy(dy64, dy);
            tg_tensor *y = tg_max_pool2d(x, 2, 2, 0), *y64 = tg_max_pool2d(x64, 2, 2, 0);
            tg_tensor *dx = tg_max_pool2d_backward(dy, x, 2, 2, 0), *dx64 = tg_max_pool2d_backward(dy64, x64, 2, 2, 0);
            cr_assert(y && y64 && dx && dx64, "%s", tg_ctx_error(ctx));
            for (int64_t i = 0; i < tg_tensor_size(y); i++) {
                double got = tg_tensor_get(y, i), want = tg_tensor_get(y64, i);
                cr_assert(got == want || (isnan(got) && isnan(want)), "%lldx%lld y[%lld] = %g, expected %g",
                          (long long)h, (long long)w, (long long)i, got, want);
            }
            for (int64_t i = 0; i < size; i++)
                cr_assert_eq(tg_tensor_get(dx, i), tg_tensor_get(dx64, i), "%lldx%lld dx[%lld]", (long long)h,
                             (long long)w, (long long)i);
            tg_tensor_free(x);
            tg_tensor_free(dy);
            tg_tensor_free(x64);
            tg_tensor_free(dy64);
            tg_tape_reset(ctx);
        }
}

/* relu_max_pool2d gives max_pool2d(relu(x))'s bits, values and gradients,
 * in f32 (the AVX-512 kernels, narrow and wide planes) and f64, with ties,
 * NaN, -0 and windows of negatives (maximum 0, no gradient) among the inputs,
 * for 2x2 windows and for overlapping padded ones. */
Test(ops_conv, relu_max_pool_equals_max_pool_of_relu_in_values_and_gradients)
{
    static const int64_t shapes[][4] = {{2, 3, 7, 9}, {1, 2, 6, 40}, {2, 2, 28, 28}, {1, 1, 33, 35}, {2, 1, 5, 2},
                                        {64, 4, 26, 26}};
    static const int windows[][3] = {{2, 2, 0}, {3, 2, 1}, {2, 1, 0}};
    tg_rng rng = tg_rng_seed(8);
    for (int dt = 0; dt < 2; dt++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
            for (int wi = 0; wi < 3; wi++) {
                const int64_t *sh = shapes[si];
                int k = windows[wi][0], st = windows[wi][1], pad = windows[wi][2];
                tg_tensor *x = tg_tensor_randn(ctx, &rng, dt ? TG_F64 : TG_F32, 4, sh, 0, 1);
                int64_t size = tg_tensor_size(x);
                for (int64_t i = 0; i < size; i += 5) /* ties */
                    tg_tensor_set(x, i, tg_tensor_get(x, i + 1 < size ? i + 1 : i));
                for (int64_t i = 0; i < size && i < 4 * sh[3]; i++) /* the first rows all negative */
                    tg_tensor_set(x, i, -1 - (double)(i % 3));
                for (int64_t i = 7; i < size; i += 41)
                    tg_tensor_set(x, i, NAN);
                for (int64_t i = 11; i < size; i += 43)
                    tg_tensor_set(x, i, -0.0);
                tg_tensor_set_requires_grad(x, true);
                tg_tensor *fused = tg_relu_max_pool2d(x, k, st, pad), *plain = tg_max_pool2d(tg_relu(x), k, st, pad);
                cr_assert(fused && plain, "%s", tg_ctx_error(ctx));
                tg_tensor *dy = tg_tensor_randn(ctx, &rng, dt ? TG_F64 : TG_F32, 4, tg_tensor_shape(plain), 0, 1);
                size_t es = dt ? sizeof(double) : sizeof(float);
                cr_assert(!memcmp(tg_tensor_data(fused), tg_tensor_data(plain), (size_t)tg_tensor_size(plain) * es),
                          "%s, %lldx%lld, window %d: values differ", dt ? "f64" : "f32", (long long)sh[2],
                          (long long)sh[3], wi);
                tg_tensor *g_fused, *g_plain;
                cr_assert_eq(tg_grad(tg_sum(tg_mul(fused, dy)), NULL, 1, &x, &g_fused, false), TG_OK, "%s",
                             tg_ctx_error(ctx));
                cr_assert_eq(tg_grad(tg_sum(tg_mul(plain, dy)), NULL, 1, &x, &g_plain, false), TG_OK, "%s",
                             tg_ctx_error(ctx));
                cr_assert(!memcmp(tg_tensor_data(g_fused), tg_tensor_data(g_plain), (size_t)size * es),
                          "%s, %lldx%lld, window %d: gradients differ", dt ? "f64" : "f32", (long long)sh[2],
                          (long long)sh[3], wi);
                tg_tensor_free(x);
                tg_tensor_free(dy);
                tg_tape_reset(ctx);
            }
}

Test(ops_conv, pooling_split_across_threads_matches_one_thread)
{
    tg_ctx *one = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(11);
    for (int kind = 0; kind < 3; kind++) {
        tg_tensor *x2 = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(8, 16, 27, 26), 0, 1);
        tg_tensor *x1 = tg_tensor_new(one, TG_F32, TG_SHAPE(8, 16, 27, 26));
        tg_tensor_copy(x1, x2);
        tg_tensor *xs[2] = {x1, x2}, *ys[2], *gs[2];
        for (int c = 0; c < 2; c++) {
            tg_tensor_set_requires_grad(xs[c], true);
            ys[c] = kind == 0 ? tg_max_pool2d(xs[c], 2, 2, 0) : kind == 1 ? tg_max_pool2d(xs[c], 3, 2, 1)
                                                                          : tg_avg_pool2d(xs[c], 3, 2, 1);
            cr_assert_not_null(ys[c]);
            cr_assert_eq(tg_backward(tg_sum(tg_mul(ys[c], ys[c]))), TG_OK);
            gs[c] = tg_tensor_grad(xs[c]);
        }
        cr_assert_eq(tg_tensor_size(ys[0]), tg_tensor_size(ys[1]));
        for (int64_t i = 0; i < tg_tensor_size(ys[0]); i++)
            cr_assert_eq(tg_tensor_get(ys[0], i), tg_tensor_get(ys[1], i), "kind %d y[%lld]", kind, (long long)i);
        for (int64_t i = 0; i < tg_tensor_size(x1); i++)
            cr_assert_eq(tg_tensor_get(gs[0], i), tg_tensor_get(gs[1], i), "kind %d dx[%lld]", kind, (long long)i);
        tg_tensor_free(x1);
        tg_tensor_free(x2);
        tg_tape_reset(ctx);
        tg_tape_reset(one);
    }
    tg_ctx_free(one);
}
