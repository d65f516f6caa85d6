/* The vectorised f32 math (ops/vecmath.h): every kernel within its stated
 * ulp bound (tests/vecmath_reference.h) on a dense sample of f32 (every 257th
 * bit pattern, the special values, and every pattern near the points where
 * the kernels switch method or clamp); the AVX-512, AVX2 and portable sets
 * bit-identical; every tail length; in-place use; and the ops that run them
 * (f32 through the kernels, f64 still libm). The sweep over all 2^32 inputs
 * is bench/ulp_vecmath (its numbers are in docs/design.md). */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"
#include "tests/vecmath_reference.h"

/* ---- the sample: a stride through all bit patterns, then the specials ---- */

/* Where the kernels switch method, clamp, or their results leave the normal
 * range: every bit pattern within 2048 of these, both signs. */
static const float edges[] = {
    0x1p-126f, 0x1p-125f, 0x1p-30f, 0x1p-13f, 0x1p-12f, 0.4375f, 0.46875f, 0.5f, 0.55f, 0x1.536948p-1f, 0.7071068f,
    0.7517915f, 0.752461f, 1, 1.2784645f, 2, 4, 8, 9.5f, 10.5f, 15, 16, 20, 87.33655f, 88.72284f, 100, 103.97208f, 104,
    120, 0x1p23f, FLT_MAX,
};
enum { EDGE_SPAN = 2048 };
static const uint32_t specials[] = {
    0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x807fffff, 0x00800000, 0x80800000,
    0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0x7fbfffff,
    0xff800001, 0x7fffffff, 0x3f800000, 0xbf800000,
};

typedef struct {
    uint64_t stride, next; /* through the 2^32 patterns */
    size_t edge, special;
    int64_t offset;
    int sign;
} sampler;

/* Fills x with up to cap inputs; returns how many (0 at the end). */
static int64_t sample_next(sampler *s, float *x, int64_t cap)
{
    int64_t n = 0;
    for (; n < cap && s->next < (1ull << 32); n++, s->next += s->stride) {
        uint32_t b = (uint32_t)s->next;
        memcpy(&x[n], &b, sizeof b);
    }
    for (; n < cap && s->special < sizeof specials / sizeof *specials; n++, s->special++)
        memcpy(&x[n], &specials[s->special], sizeof(uint32_t));
    for (; n < cap && s->edge < sizeof edges / sizeof *edges; n++) {
        uint32_t b;
        float e = s->sign ? -edges[s->edge] : edges[s->edge];
        memcpy(&b, &e, sizeof b);
        b += (uint32_t)s->offset; /* wraps within the sign's half for these edges */
        memcpy(&x[n], &b, sizeof b);
        if (++s->offset > EDGE_SPAN) {
            s->offset = -EDGE_SPAN;
            if (++s->sign == 2)
                s->sign = 0, s->edge++;
        }
    }
    return n;
}

static sampler sample_start(uint64_t stride) { return (sampler){.stride = stride, .offset = -EDGE_SPAN}; }

enum { CHUNK = 1 << 14 };
static float xs[CHUNK], ys[3][CHUNK], ones[CHUNK];

static void run(const vmref_case *c, const tg_vecmath_kernels *k, const float *x, float *y, int64_t n)
{
    tg_vec_unary_fn *map;
    tg_vec_binary_fn *fused;
    vmref_kernel(c, k, &map, &fused);
    if (map)
        map(x, y, n);
    else
        fused(ones, x, y, n);
}

static void setup(void)
{
    for (int i = 0; i < CHUNK; i++)
        ones[i] = 1;
}

TestSuite(ops_vecmath, .init = setup);

/* Every kernel of the set this CPU picks, within its stated bound on the
 * sample; the worst input is reported. */
static void check_bound(const char *name)
{
    const vmref_case *c = NULL;
    for (int i = 0; i < VMREF_CASES; i++)
        if (!strcmp(vmref_cases[i].name, name))
            c = &vmref_cases[i];
    cr_assert_not_null(c, "no case %s", name);
    const tg_vecmath_kernels *k = tg_vecmath_pick(TG_VECMATH_AUTO);
    sampler s = sample_start(257);
    double worst = 0;
    float worst_x = 0;
    int64_t n, total = 0;
    while ((n = sample_next(&s, xs, CHUNK)) > 0) {
        run(c, k, xs, ys[0], n);
        for (int64_t i = 0; i < n; i++) {
            double err = vmref_ulp_error(ys[0][i], c->ref(xs[i]), c->terms ? c->terms(xs[i]) : 0);
            if (!(err <= worst))
                worst = err, worst_x = xs[i];
        }
        total += n;
    }
    cr_assert_gt(total, (int64_t)1 << 24, "the sample holds %lld inputs", (long long)total);
    cr_expect(worst <= c->max_ulp, "%s (%s): %.3f ulp at x = %a (%.9g); the stated bound is %.1f", name,
              tg_vecmath_isa_name(TG_VECMATH_AUTO), worst, worst_x, worst_x, c->max_ulp);
    cr_expect_gt(worst, 0.25, "%s: a max error of %.3f ulp on %lld inputs: is the reference the kernel itself?", name,
                 worst, (long long)total);
}

Test(ops_vecmath, exp_within_1_ulp) { check_bound("exp"); }
Test(ops_vecmath, sigmoid_within_its_bound) { check_bound("sigmoid"); }
Test(ops_vecmath, tanh_within_its_bound) { check_bound("tanh"); }
Test(ops_vecmath, erf_within_its_bound) { check_bound("erf"); }
Test(ops_vecmath, erfc_within_its_bound) { check_bound("erfc"); }
Test(ops_vecmath, gelu_within_its_bound) { check_bound("gelu"); }
Test(ops_vecmath, gelu_tanh_within_its_bound) { check_bound("gelu_tanh"); }
Test(ops_vecmath, silu_within_its_bound) { check_bound("silu"); }
Test(ops_vecmath, sigmoid_mul_within_its_bound) { check_bound("sigmoid_mul"); }
Test(ops_vecmath, silu_derivative_within_its_bound) { check_bound("silu_backward"); }
Test(ops_vecmath, gelu_derivative_within_its_bound) { check_bound("gelu_backward"); }
Test(ops_vecmath, gelu_tanh_derivative_within_its_bound) { check_bound("gelu_tanh_backward"); }

/* The three sets run one algorithm with the same fused multiply-adds: their
 * results agree bit for bit (NaN payloads included). On a CPU without
 * AVX-512 or AVX2 the request falls back and the test compares fewer sets. */
Test(ops_vecmath, avx512_avx2_and_portable_sets_agree_bit_for_bit)
{
    static const tg_vecmath_isa sets[3] = {TG_VECMATH_AVX512, TG_VECMATH_AVX2, TG_VECMATH_PORTABLE};
    cr_log_info("comparing %s, %s and %s", tg_vecmath_isa_name(sets[0]), tg_vecmath_isa_name(sets[1]),
                tg_vecmath_isa_name(sets[2]));
    cr_assert_str_eq(tg_vecmath_isa_name(TG_VECMATH_PORTABLE), "portable");
    for (int ci = 0; ci < VMREF_CASES; ci++) {
        const vmref_case *c = &vmref_cases[ci];
        sampler s = sample_start(1031);
        int64_t n;
        while ((n = sample_next(&s, xs, CHUNK)) > 0) {
            for (int k = 0; k < 3; k++)
                run(c, tg_vecmath_pick(sets[k]), xs, ys[k], n);
            for (int k = 1; k < 3; k++)
                if (memcmp(ys[0], ys[k], (size_t)n * sizeof(float))) {
                    int64_t i = 0;
                    while (!memcmp(&ys[0][i], &ys[k][i], sizeof(float)))
                        i++;
                    cr_assert_fail("%s: %s gives %a and %s %a at x = %a", c->name, tg_vecmath_isa_name(sets[0]),
                                   ys[0][i], tg_vecmath_isa_name(sets[k]), ys[k][i], xs[i]);
                }
        }
    }
}

/* Whole vectors and the tail through the lane buffer give the same values
 * for every length, write nothing past n, and may run in place. */
Test(ops_vecmath, every_tail_length_and_in_place)
{
    enum { LEN = 40 };
    float x[LEN], want[LEN], y[LEN + 1], inplace[LEN];
    for (int i = 0; i < LEN; i++)
        x[i] = (float)(i - 20) * 0.37f;
    for (int ci = 0; ci < VMREF_CASES; ci++) {
        const vmref_case *c = &vmref_cases[ci];
        for (tg_vecmath_isa isa = TG_VECMATH_PORTABLE; isa <= TG_VECMATH_AVX512; isa++) {
            const tg_vecmath_kernels *k = tg_vecmath_pick(isa);
            run(c, k, x, want, LEN);
            for (int n = 0; n <= LEN; n++) {
                for (int i = 0; i <= LEN; i++)
                    y[i] = -7;
                run(c, k, x, y, n);
                cr_assert(memcmp(y, want, (size_t)n * sizeof *y) == 0, "%s (%s): length %d differs", c->name,
                          tg_vecmath_isa_name(isa), n);
                for (int i = n; i <= LEN; i++)
                    cr_assert_eq(y[i], -7, "%s (%s): length %d wrote y[%d]", c->name, tg_vecmath_isa_name(isa), n, i);
            }
            if (!c->binary) {
                memcpy(inplace, x, sizeof inplace);
                run(c, k, inplace, inplace, LEN);
                cr_assert(memcmp(inplace, want, sizeof want) == 0, "%s (%s): in place differs", c->name,
                          tg_vecmath_isa_name(isa));
            }
        }
    }
}

/* gelu_pair gives the bits of gelu and of gelu_backward at once, on every
 * set, over the sample, for every tail length, with out written over g. */
Test(ops_vecmath, gelu_pair_gives_the_bits_of_gelu_and_its_derivative)
{
    static float g[CHUNK], y[CHUNK], out[CHUNK];
    for (tg_vecmath_isa isa = TG_VECMATH_PORTABLE; isa <= TG_VECMATH_AVX512; isa++) {
        const tg_vecmath_kernels *k = tg_vecmath_pick(isa);
        sampler s = sample_start(4099);
        int64_t n, total = 0;
        while ((n = sample_next(&s, xs, CHUNK)) > 0) {
            for (int64_t i = 0; i < n; i++)
                g[i] = (float)(i % 7) - 3.25f;
            k->gelu(xs, ys[0], n);
            k->gelu_backward(g, xs, ys[1], n);
            k->gelu_pair(g, xs, y, out, n);
            for (int64_t i = 0; i < n; i++) {
                cr_assert(!memcmp(&y[i], &ys[0][i], sizeof(float)), "%s: gelu_pair's gelu(%a) is %a, gelu's %a",
                          tg_vecmath_isa_name(isa), xs[i], y[i], ys[0][i]);
                cr_assert(!memcmp(&out[i], &ys[1][i], sizeof(float)), "%s: gelu_pair's g·gelu'(%a) is %a, gelu_backward's %a",
                          tg_vecmath_isa_name(isa), xs[i], out[i], ys[1][i]);
            }
            total += n;
        }
        cr_assert_gt(total, (int64_t)1 << 20);
        for (int n_tail = 0; n_tail <= 40; n_tail++) { /* in place over g, nothing written past n */
            for (int i = 0; i <= 40; i++)
                g[i] = (float)(i % 7) - 3.25f, y[i] = -7;
            k->gelu_pair(g, xs, y, g, n_tail);
            k->gelu(xs, ys[0], n_tail);
            for (int i = 0; i < n_tail; i++)
                out[i] = (float)(i % 7) - 3.25f;
            k->gelu_backward(out, xs, ys[1], n_tail);
            cr_assert(!memcmp(y, ys[0], (size_t)n_tail * sizeof(float)) &&
                          !memcmp(g, ys[1], (size_t)n_tail * sizeof(float)),
                      "%s: length %d differs", tg_vecmath_isa_name(isa), n_tail);
            cr_assert(y[n_tail] == -7 && g[n_tail] == (float)(n_tail % 7) - 3.25f, "%s: length %d wrote past n",
                      tg_vecmath_isa_name(isa), n_tail);
        }
    }
}

/* The derivative kernels multiply by g: out = g·f'(x) for any g. */
Test(ops_vecmath, derivative_kernels_scale_by_g)
{
    float x[37], g[37], fx[37], out[37];
    for (int i = 0; i < 37; i++)
        x[i] = (float)(i - 18) * 0.29f, g[i] = (float)(i % 5) - 2.5f;
    for (int ci = 0; ci < VMREF_CASES; ci++) {
        const vmref_case *c = &vmref_cases[ci];
        if (!c->binary)
            continue;
        tg_vec_unary_fn *map;
        tg_vec_binary_fn *fused;
        vmref_kernel(c, tg_vecmath_pick(TG_VECMATH_AUTO), &map, &fused);
        fused(ones, x, fx, 37);
        fused(g, x, out, 37);
        for (int i = 0; i < 37; i++)
            cr_assert_eq(out[i], g[i] * fx[i], "%s at x = %g, g = %g", c->name, x[i], g[i]);
    }
}

/* Where the results are subnormal the kernels still round them correctly
 * (to within their bound), which the bit-pattern construction promises;
 * spot values against libm. */
Test(ops_vecmath, subnormal_results_are_rounded_not_flushed)
{
    float x[4] = {-100, -103, -95.5f, -88}, y[4];
    tg_vexp_f32(x, y, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert(y[i] > 0 && y[i] < FLT_MIN, "exp(%g) = %a", x[i], y[i]);
        cr_assert_leq(vmref_ulp_error(y[i], exp((double)x[i]), 0), 1.0, "exp(%g) = %a", x[i], y[i]);
    }
    float z[3] = {9.3f, 9.8f, 10.0f}, e[3];
    tg_verfc_f32(z, e, 3);
    for (int i = 0; i < 3; i++)
        cr_assert(e[i] > 0 && e[i] < FLT_MIN && vmref_ulp_error(e[i], erfc((double)z[i]), 0) <= 4, "erfc(%g) = %a",
                  z[i], e[i]);
    float t[2] = {0x1p-140f, -0x1p-149f}, te[2];
    tg_verf_f32(t, te, 2);
    cr_assert_eq(te[0], (float)(erf((double)t[0])), "erf of a subnormal: %a", te[0]);
    cr_assert_eq(te[1], -0x1p-149f, "erf of -min subnormal: %a", te[1]);
}

/* The ops: f32 through the kernels (the same values as the kernel on the
 * whole array), f64 through libm exactly as before. */
static tg_tensor *grid(tg_ctx *ctx, tg_dtype dt, int64_t n)
{
    tg_tensor *t = tg_tensor_new(ctx, dt, 1, &n);
    for (int64_t i = 0; i < n; i++)
        tg_tensor_set(t, i, -9 + 18.0 * (double)i / (double)(n - 1));
    return t;
}

Test(ops_vecmath, f32_ops_run_the_kernels_and_f64_ops_keep_libm)
{
    tg_ctx *ctx = tg_ctx_new(2);
    int64_t n = 1001;
    tg_tensor *x32 = grid(ctx, TG_F32, n), *x64 = grid(ctx, TG_F64, n), *g64 = grid(ctx, TG_F64, n);
    float *want = malloc((size_t)n * sizeof *want);
    cr_assert_not_null(want);
    const float *x = tg_tensor_data(x32);
    struct {
        tg_tensor *(*op)(tg_tensor *);
        tg_vec_unary_fn *kernel;
        double (*libm)(double);
    } maps[] = {
        {tg_exp, tg_vexp_f32, vmref_exp},   {tg_sigmoid, tg_vsigmoid_f32, NULL},     {tg_tanh, tg_vtanh_f32, vmref_tanh},
        {tg_erf, tg_verf_f32, vmref_erf},   {tg_gelu, tg_vgelu_f32, NULL},           {tg_silu, tg_vsilu_f32, NULL},
        {tg_gelu_tanh, tg_vgelu_tanh_f32, NULL},
    };
    for (size_t m = 0; m < sizeof maps / sizeof *maps; m++) {
        tg_tensor *y = maps[m].op(x32);
        cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
        maps[m].kernel(x, want, n);
        cr_assert(memcmp(tg_tensor_data(y), want, (size_t)n * sizeof *want) == 0, "map %zu", m);
        if (maps[m].libm) {
            tg_tensor *y64 = maps[m].op(x64);
            for (int64_t i = 0; i < n; i++)
                cr_assert_eq(tg_tensor_get(y64, i), maps[m].libm(tg_tensor_get(x64, i)), "map %zu f64", m);
        }
    }
    /* f64 gelu and its derivative: the libm formulas of ops/activation.c */
    tg_tensor *gelu64 = tg_gelu(x64), *dgelu64 = tg_gelu_backward(g64, x64);
    for (int64_t i = 0; i < n; i++) {
        double v = tg_tensor_get(x64, i), g = tg_tensor_get(g64, i);
        cr_assert_eq(tg_tensor_get(gelu64, i), 0.5 * v * erfc(-v * VMREF_SQRT_HALF));
        cr_assert_eq(tg_tensor_get(dgelu64, i),
                     g * (0.5 * erfc(-v * VMREF_SQRT_HALF) + v * VMREF_INV_SQRT_2PI * exp(-0.5 * v * v)));
    }
    /* the fused derivatives, through the kernel whether g has x's shape or broadcasts */
    tg_tensor *g32 = grid(ctx, TG_F32, n), *one = tg_tensor_ones(ctx, TG_F32, TG_SHAPE(1));
    struct {
        tg_tensor *(*op)(tg_tensor *, tg_tensor *);
        tg_vec_binary_fn *kernel;
        const char *name;
    } fused[] = {
        {tg_gelu_backward, tg_vgelu_backward_f32, "gelu_backward"},
        {tg_gelu_tanh_backward, tg_vgelu_tanh_backward_f32, "gelu_tanh_backward"},
        {tg_silu_backward, tg_vsilu_backward_f32, "silu_backward"},
        {tg_softplus_backward, tg_vsigmoid_mul_f32, "sigmoid_mul"},
    };
    for (size_t f = 0; f < sizeof fused / sizeof *fused; f++) {
        tg_tensor *out = fused[f].op(g32, x32);
        cr_assert_not_null(out, "%s", tg_ctx_error(ctx));
        fused[f].kernel(tg_tensor_data(g32), x, want, n);
        cr_assert(memcmp(tg_tensor_data(out), want, (size_t)n * sizeof *want) == 0, "%s", fused[f].name);
        tg_tensor *broadcast = fused[f].op(one, x32);
        cr_assert_not_null(broadcast, "%s", tg_ctx_error(ctx));
        const vmref_case *c = NULL;
        for (int i = 0; i < VMREF_CASES; i++)
            if (!strcmp(vmref_cases[i].name, fused[f].name))
                c = &vmref_cases[i];
        cr_assert_not_null(c);
        fused[f].kernel(ones, x, want, n);
        for (int64_t i = 0; i < n; i++) {
            double ref = c->ref(x[i]), scale = c->terms ? c->terms(x[i]) : 0;
            float got = ((const float *)tg_tensor_data(broadcast))[i];
            cr_assert_eq(got, want[i], "%s broadcast at %g", c->name, x[i]); /* g = 1: f'(x) from the kernel */
            cr_assert_leq(vmref_ulp_error(want[i], ref, scale), c->max_ulp, "%s kernel at %g", c->name, x[i]);
        }
    }
    free(want);
    tg_ctx_free(ctx);
}

/* softmax in f32 takes its exponentials from the kernel: rows sum to 1 and
 * match the f64 softmax to float precision, with logits of ±1000. */
Test(ops_vecmath, f32_softmax_uses_the_kernel_and_stays_exact)
{
    tg_ctx *ctx = tg_ctx_new(1);
    double z[2 * 37];
    for (int i = 0; i < 2 * 37; i++)
        z[i] = (float)(i < 37 ? (i - 18) * 0.731 : (i % 2 ? 1000 : -1000) + i); /* both dtypes see the same logits */
    tg_tensor *s32 = tg_softmax(tg_tensor_from(ctx, TG_F32, TG_SHAPE(2, 37), z));
    tg_tensor *s64 = tg_softmax(tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 37), z));
    tg_tensor *l32 = tg_log_softmax(tg_tensor_from(ctx, TG_F32, TG_SHAPE(2, 37), z));
    tg_tensor *l64 = tg_log_softmax(tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 37), z));
    cr_assert(s32 && s64 && l32 && l64, "%s", tg_ctx_error(ctx));
    for (int r = 0; r < 2; r++) {
        double total = 0, max = -INFINITY;
        for (int j = 0; j < 37; j++)
            max = fmax(max, z[r * 37 + j]);
        for (int j = 0; j < 37; j++) {
            double a = tg_tensor_get(s32, r * 37 + j), b = tg_tensor_get(s64, r * 37 + j);
            /* z - max rounds to f32 first: e^(z - max) moves by |z - max|·2^-24 relative */
            double rel = 4e-7 + fabs(z[r * 37 + j] - max) * 0x1p-24;
            total += a;
            cr_assert_leq(fabs(a - b), rel * b + 1e-37, "softmax[%d][%d] = %g, f64 %g", r, j, a, b);
            double la = tg_tensor_get(l32, r * 37 + j), lb = tg_tensor_get(l64, r * 37 + j);
            cr_assert_leq(fabs(la - lb), 4e-7 * fabs(lb) + 1e-6, "log_softmax[%d][%d] = %g, f64 %g", r, j, la, lb);
        }
        cr_assert_leq(fabs(total - 1), 1e-6, "row %d sums to %.9g", r, total);
    }
    tg_ctx_free(ctx);
}
