/* tapegrad internal — the vector math algorithms, written once over lane
 * operations. Included by vecmath.c (portable, one lane), vecmath_avx2.c (8
 * lanes) and vecmath_avx512.c (16 lanes), each of which first defines:
 *
 *   vf, vi, vm          float lanes, int32 lanes, a lane mask
 *   VM_LANES            lanes per vector
 *   VM_FN               "static inline" plus the set's target attribute
 *   VM_TARGET           the target attribute alone (for the array loops)
 *   VM_SET              the name of the tg_vecmath_kernels to define
 *   v_set v_load v_store v_add v_sub v_mul v_div v_fma (a·b + c, one rounding)
 *   v_min(a, b) = a < b ? a : b   v_max(a, b) = a > b ? a : b  (x86 minps/maxps)
 *   v_lt v_isnan v_sel(m, a, b) = m ? a : b
 *   v_bits v_from_bits v_iset v_iadd v_isub v_ishl v_isra v_isrl v_iand v_ior
 *   v_imin v_imax v_ilt v_isel v_i2f (exact int32 → float) v_f2i (truncating;
 *   only ever given integral values below 2^24)
 *   v_lookup(table16, vi idx) = table[idx] (idx in 0..7)
 *
 * Every lane runs every step: each function computes all of its cases and
 * blends, so the cost never depends on the values. Clamps come first, so NaN
 * lanes carry a harmless constant through the integer steps and get their
 * NaN back by the last blend. No step takes or makes a subnormal: inputs
 * below 2^-30 (or so) are clamped or flushed for the arithmetic, and results
 * below 2^-126 are made by rounding their scaled value to an integer, the
 * subnormal's bit pattern (vm_scale, vm_tiny_linear). */

#define VM_MAGIC 0x1.8p23f /* x + 1.5·2^23 rounds x to an integer in its low bits */
#define VM_LOG2E 0x1.715476p+0f
#define VM_LN2_HI 0x1.62e43p-1f /* ln 2 = HI + LO */
#define VM_LN2_LO -0x1.05c61p-29f
#define VM_TWO_OVER_SQRT_PI_HI 0x1.20dd76p+0f /* 2/√π = HI + LO */
#define VM_TWO_OVER_SQRT_PI_LO -0x1.f7ac92p-25f
#define VM_INV_SQRT2 0x1.6a09e6p-1f
#define VM_INV_SQRT_2PI 0x1.988454p-2f /* φ(0) = 1/√(2π) */
#define VM_GT_A_HI 0x1.988454p+0f /* 2√(2/π) = A_HI + A_LO */
#define VM_GT_A_LO -0x1.857936p-25f
#define VM_GT_B_HI 0x1.2444f2p-4f /* 2√(2/π)·0.044715 = B_HI + B_LO */
#define VM_GT_B_LO 0x1.49b16ap-29f
#define VM_GT_3B_HI 0x1.b6676cp-3f /* 3·B = 3B_HI + 3B_LO */
#define VM_GT_3B_LO -0x1.175e2p-32f
/* erf by its series below 0.5 and by 1 - erfc above, where erfc < ½ (its
 * error halves in erf); erfc by 1 - erf below 0.46875, where erf < ½, and by
 * its tail above. Φ splits at 0.46875·√2. */
#define VM_ERF_SPLIT 0.5f
#define VM_ERFC_SPLIT 0.46875f
#define VM_PHI_SPLIT 0x1.536948p-1f
#define VM_TINY_BITS 0x30800000  /* 2^-30: below it, inputs are clamped or flushed */
#define VM_SIGN_BITS (-0x7fffffff - 1)

#define v_max_i(a, c) v_imax(a, v_iset(c))
#define v_min_i(a, c) v_imin(a, v_iset(c))

/* Polynomials: Chebyshev interpolants fitted in long double, coefficients
 * rounded to float, evaluated by Horner with fma. */

/* (e^r - 1 - r)/r² on |r| <= 0.35 */
static const float vm_exp_poly[6] = {0x1p-1f,         0x1.555556p-3f, 0x1.5554e4p-5f,
                                     0x1.1110ep-7f,   0x1.6d491p-10f, 0x1.a12a34p-13f};
/* (tanh x - x)/x³ as a polynomial in w = x², x <= 0.55 */
static const float vm_tanh_poly[5] = {-0x1.555554p-2f, 0x1.110feap-3f, -0x1.b9a044p-5f,
                                      0x1.5d220ep-6f,  -0x1.b13538p-8f};
/* (erf x)/x in w = x², x <= 0.5 (the constant term is 2/√π, split) */
static const float vm_erf_poly[6] = {0x1.20dd76p+0f, -0x1.812746p-2f, 0x1.ce2ef2p-4f,
                                     -0x1.b8203p-6f, 0x1.54d076p-8f,  -0x1.936a4ap-11f};
/* (Φ(x) - ½)/x in w = x², x <= 0.6629 */
static const float vm_phi_poly[6] = {0x1.988454p-2f,   -0x1.105838p-4f, 0x1.46d02ep-7f,
                                     -0x1.373a16p-10f, 0x1.e2771ap-14f, -0x1.20e568p-17f};

/* erfcx(a) = e^(a²)·erfc(a) on 0.4375 <= a <= 16, degree 8 on six pieces
 * picked by a's binade: [0.4375, 0.5), [0.5, 1), [1, 2) in v = a - mid, and
 * [2, 4), [4, 8), [8, 16) in v = 1/a - mid. Row k holds coefficient k of
 * each piece (16 wide for the AVX-512 lookup). */
static const float vm_erfcx_mid[16] = {0.46875f, 0.75f, 1.5f, 0.375f, 0.1875f, 0.09375f, 0.09375f, 0.09375f};
static const float vm_erfcx_poly[9][16] = {
    {0x1.439ea4p-1f, 0x1.038d54p-1f, 0x1.494dbp-2f, 0x1.97b364p-3f, 0x1.aa0d18p-4f, 0x1.af6b04p-5f},
    {-0x1.12563p-1f, -0x1.78cdd6p-2f, -0x1.4f1986p-3f, 0x1.e56464p-2f, 0x1.12d3f8p-1f, 0x1.1d2354p-1f},
    {0x1.860c7ap-2f, 0x1.d90094p-3f, 0x1.37ea26p-4f, -0x1.7d2246p-3f, -0x1.1497b4p-3f, -0x1.37517ep-4f},
    {-0x1.e7c8b6p-3f, -0x1.09e78cp-3f, -0x1.0dc64ap-5f, -0x1.a2d7cp-6f, -0x1.5995dp-3f, -0x1.fb0544p-3f},
    {0x1.13b96ep-3f, 0x1.1193p-4f, 0x1.b65abep-7f, 0x1.11bd88p-3f, 0x1.d526f8p-3f, 0x1.5e01ccp-3f},
    {-0x1.1ed4a2p-4f, -0x1.054038p-5f, -0x1.50b8p-8f, -0x1.0b57fp-3f, 0x1.0546cap-9f, 0x1.098cfep-2f},
    {0x1.15ff72p-5f, 0x1.d42706p-7f, 0x1.edc71ep-10f, 0x1.25331p-5f, -0x1.6e5c7ep-2f, -0x1.f0c266p-2f},
    {-0x1.fae0f2p-7f, -0x1.9559ap-8f, -0x1.71433ep-11f, 0x1.b6f166p-4f, 0x1.b02cb2p-2f, -0x1.cd1364p-3f},
    {0x1.b5671cp-8f, 0x1.45f89ep-9f, 0x1.f0399cp-13f, -0x1.a4d796p-3f, 0x1.937fbp-3f, 0x1.821f56p+0f},
};

VM_FN vf vm_poly(vf x, const float *c, int degree)
{
    vf r = v_set(c[degree]);
    for (int k = degree - 1; k >= 0; k--)
        r = v_fma(r, x, v_set(c[k]));
    return r;
}

VM_FN vf vm_abs(vf x) { return v_from_bits(v_iand(v_bits(x), v_iset(0x7fffffff))); }
/* |y| with x's sign (y >= 0) */
VM_FN vf vm_with_sign(vf y, vf x) { return v_from_bits(v_ior(v_bits(y), v_iand(v_bits(x), v_iset(VM_SIGN_BITS)))); }
VM_FN vm vm_negative(vf x) { return v_ilt(v_bits(x), v_iset(0)); } /* sign bit set, -0 included */
/* |x| < 2^-30, by the bit pattern (no arithmetic on a subnormal) */
VM_FN vm vm_tiny(vf x) { return v_ilt(v_bits(vm_abs(x)), v_iset(VM_TINY_BITS)); }
/* The NaN x quietened: set the quiet bit, no arithmetic. */
VM_FN vf vm_quiet(vf x) { return v_from_bits(v_ior(v_bits(x), v_iset(0x00400000))); }
/* 2^k for k in [-126, 127] */
VM_FN vf vm_pow2(vi k) { return v_from_bits(v_ishl(v_iadd(k, v_iset(127)), 23)); }

/* m rounded to the nearest integer (ties to even), for 0 <= m < 2^24 */
VM_FN vi vm_round_small(vf m)
{
    vf r = v_sub(v_add(m, v_set(0x1p23f)), v_set(0x1p23f)); /* exact below 2^23; above, m is already integral */
    return v_f2i(v_sel(v_lt(m, v_set(0x1p23f)), r, m));
}

/* q·2^n for 2^-30 <= |q| <= 2^30, -200 <= n <= 200, correctly rounded from q.
 * Normal results: two exact multiplications by powers of two (overflow gives
 * ±Inf). Subnormal results: |q|·2^(n+149) rounded to an integer is the
 * result's bit pattern, so no multiplication makes a subnormal. */
VM_FN vf vm_scale(vf q, vi n)
{
    vf a = vm_abs(q);
    vi e = v_iadd(n, v_isub(v_isrl(v_bits(a), 23), v_iset(127))); /* the result's exponent */
    vm sub = v_ilt(e, v_iset(-126));
    vi nn = v_isel(sub, v_iset(0), n);
    vi n1 = v_isra(nn, 1);
    vf normal = v_mul(v_mul(q, vm_pow2(n1)), vm_pow2(v_isub(nn, n1)));
    vf m = v_mul(a, vm_pow2(v_isel(sub, v_iadd(n, v_iset(149)), v_iset(0))));
    vf subnormal = vm_with_sign(v_from_bits(vm_round_small(v_sel(sub, m, v_set(0)))), q);
    return v_sel(sub, subnormal, normal);
}

/* c·x for |x| < 2^-12 or so, where that is f(x) to float precision, and x may
 * be subnormal: bits(|x|)·c rounded to an integer is the result's pattern
 * while |x| < 2^-125 (2^-126 if c > 1), a plain product above. */
VM_FN vf vm_tiny_linear(vf x, float c)
{
    int32_t below = c > 1 ? 0x00800000 : 0x01000000;
    vi b = v_bits(vm_abs(x));
    vm sub = v_ilt(b, v_iset(below));
    vf m = v_mul(v_i2f(v_isel(sub, b, v_iset(0))), v_set(c));
    vf subnormal = v_from_bits(vm_round_small(m));
    vf normal = v_mul(v_max(vm_abs(x), v_from_bits(v_iset(below))), v_set(c));
    return vm_with_sign(v_sel(sub, subnormal, normal), x);
}

/* e^(x + xlo) = p·2^n with p in [0.7, 1.42], for -180 <= x <= 100 and
 * |xlo| <= 2^-20·|x| (a low part, for arguments known to more than float
 * precision). n = round(x/ln 2), r = x - n·ln 2 exactly by fma (Cody and
 * Waite's two-part ln 2), e^r by its polynomial. */
VM_FN vf vm_exp_reduce(vf x, vf xlo, vi *n)
{
    vf t = v_fma(x, v_set(VM_LOG2E), v_set(VM_MAGIC));
    vf nf = v_sub(t, v_set(VM_MAGIC));
    *n = v_isub(v_bits(t), v_bits(v_set(VM_MAGIC)));
    vf r = v_fma(nf, v_set(-VM_LN2_HI), x);
    r = v_add(v_fma(nf, v_set(-VM_LN2_LO), r), xlo);
    return v_add(v_set(1), v_fma(v_mul(r, r), vm_poly(r, vm_exp_poly, 5), r));
}

VM_FN vf vm_exp(vf x)
{
    vf xc = v_min(v_max(x, v_set(-104)), v_set(100)); /* NaN → -104 */
    xc = v_sel(vm_tiny(x), v_set(0), xc);
    vi n;
    vf p = vm_exp_reduce(xc, v_set(0), &n);
    return v_sel(v_isnan(x), vm_quiet(x), vm_scale(p, n));
}

/* e = e^-|x| = p·2^n and d = 1 + e, for the sigmoid family: σ(|x|) = 1/d,
 * σ(-|x|) = e/d. |x| is clamped to 120 (σ(-104) and 120·σ(-120) are 0 in f32). */
typedef struct {
    vf p, d;
    vi n;
} vm_logistic;

VM_FN vm_logistic vm_logistic_of(vf x)
{
    vm_logistic s;
    vf a = v_max(v_from_bits(v_ior(v_bits(x), v_iset(VM_SIGN_BITS))), v_set(-120)); /* -|x| */
    a = v_sel(vm_tiny(x), v_set(0), a);
    s.p = vm_exp_reduce(a, v_set(0), &s.n);
    /* below 2^-40, e no longer changes 1 + e */
    s.d = v_add(v_set(1), v_mul(s.p, vm_pow2(v_max_i(s.n, -40))));
    return s;
}

VM_FN vf vm_sigmoid(vf x)
{
    vm_logistic s = vm_logistic_of(x);
    vf pos = v_div(v_set(1), s.d);
    vf neg = vm_scale(v_div(s.p, s.d), s.n);
    return v_sel(v_isnan(x), vm_quiet(x), v_sel(vm_negative(x), neg, pos));
}

/* x·σ(x): x >= 0: x/d; x < 0: x·e/d with the rounding of d = 1 + e taken back
 * (d's low part e - (d - 1) is exact): 3.39 ulps without, 2.85 with */
VM_FN vf vm_silu(vf x)
{
    vm_logistic s = vm_logistic_of(x);
    vf xt = vm_with_sign(v_max(vm_abs(x), v_from_bits(v_iset(VM_TINY_BITS))), x); /* NaN → 2^-30 */
    vf pos = v_div(xt, s.d);
    vf e = v_mul(s.p, vm_pow2(v_max_i(s.n, -40)));
    vf q = v_div(v_mul(v_max(xt, v_set(-120)), s.p), s.d);
    vf neg = vm_scale(v_fma(v_sub(v_set(0), q), v_div(v_sub(e, v_sub(s.d, v_set(1))), s.d), q), s.n);
    vf y = v_sel(vm_negative(x), neg, pos);
    y = v_sel(vm_tiny(x), vm_tiny_linear(x, 0.5f), y);
    return v_sel(v_isnan(x), vm_quiet(x), y);
}

/* silu' = σ(x)(1 + x(1 - σ(x))), a = |x|:
 *   x >= 0: (1/d)(1 + a·e/d)     x < 0: e·(1 + e - a)/d²
 * For x < 0 the terms cancel (silu' = 0 at x ≈ -1.2785); 1 - a is exact from
 * a = 0.5 up, so the difference costs one rounding, and d² = 1 + e(e + 2)
 * one more (two reciprocals of d cost up to 5 ulps at x ≈ -7.6). */
VM_FN vf vm_silu_derivative(vf x)
{
    vm_logistic s = vm_logistic_of(x);
    vf a = v_min(v_max(vm_abs(x), v_from_bits(v_iset(VM_TINY_BITS))), v_set(120));
    vf inv_d = v_div(v_set(1), s.d);
    vf e = v_mul(s.p, vm_pow2(v_max_i(s.n, -40)));
    vf pos = v_mul(inv_d, v_fma(v_mul(a, e), inv_d, v_set(1)));
    vf num = v_add(v_sub(v_set(1), a), e);
    vf dd = v_fma(e, v_add(e, v_set(2)), v_set(1));
    vf neg = vm_scale(v_div(v_mul(s.p, num), dd), s.n);
    return v_sel(v_isnan(x), vm_quiet(x), v_sel(vm_negative(x), neg, pos));
}

/* tanh: x + x³·Q(x²) below 0.55, (1 - e)/(1 + e) with e = e^-2|x| above,
 * x itself below 2^-12 (tanh x = x(1 - x²/3) rounds to x there). */
VM_FN vf vm_tanh(vf x)
{
    vf a = vm_abs(x);
    vf as = v_max(a, v_set(0x1p-12f));
    vf w = v_mul(as, as);
    vf small = v_fma(v_mul(as, w), vm_poly(w, vm_tanh_poly, 4), as);
    vi n;
    vf al = v_sel(vm_tiny(x), v_set(0), v_min(a, v_set(9.5f))); /* NaN → 9.5 */
    vf p = vm_exp_reduce(v_mul(al, v_set(-2)), v_set(0), &n);
    vf e = v_mul(p, vm_pow2(n));                                                /* >= 5.6e-9 */
    vf large = v_div(v_sub(v_set(1), e), v_add(v_set(1), e));
    vf y = v_sel(v_lt(a, v_set(0.55f)), small, large);
    y = vm_with_sign(v_sel(v_lt(a, v_set(0x1p-12f)), a, y), x);
    return v_sel(v_isnan(x), vm_quiet(x), y);
}

/* erfcx(a) = e^(a²)·erfc(a), for 0.4375 <= a <= 16 */
VM_FN vf vm_erfcx(vf a)
{
    vi piece = v_isub(v_isrl(v_bits(a), 23), v_iset(125)); /* binade: [0.25, 0.5) → 0 */
    piece = v_min_i(v_max_i(piece, 0), 5);
    vf v = v_sub(v_sel(v_lt(a, v_set(2)), a, v_div(v_set(1), a)), v_lookup(vm_erfcx_mid, piece));
    vf r = v_lookup(vm_erfcx_poly[8], piece);
    for (int k = 7; k >= 0; k--)
        r = v_fma(r, v, v_lookup(vm_erfcx_poly[k], piece));
    return r;
}

/* e^-(a²·scale) = p·2^n for a >= 0 (scale 1 or ½, exact), with a² kept to
 * twice float precision (hi + lo by fma): rounding a² to float would cost
 * a²·2^-24 in the exponent, ~100 ulps at a = 10. */
VM_FN vf vm_exp_minus_square(vf a, float scale, vi *n)
{
    vf hi = v_mul(a, a);
    vf lo = v_fma(a, a, v_sub(v_set(0), hi));
    return vm_exp_reduce(v_mul(hi, v_set(-scale)), v_mul(lo, v_set(-scale)), n);
}

/* erf(a) below VM_ERF_SPLIT, for 0 <= a: a·P(a²) with P's constant 2/√π
 * kept to twice float precision; c·a below 2^-13, subnormal a included. */
VM_FN vf vm_erf_small(vf a)
{
    vf as = v_max(a, v_set(0x1p-13f));
    vf w = v_mul(as, as);
    vf tail = v_fma(w, vm_poly(w, vm_erf_poly + 1, 4), v_set(VM_TWO_OVER_SQRT_PI_LO));
    vf small = v_fma(as, v_set(VM_TWO_OVER_SQRT_PI_HI), v_mul(as, tail));
    return v_sel(v_lt(a, v_set(0x1p-13f)), vm_tiny_linear(a, VM_TWO_OVER_SQRT_PI_HI), small);
}

/* erfc(a) = p·R·2^n for a >= split (a clamped to [split, 10.5]; erfc(10.5) is 0 in f32) */
typedef struct {
    vf q; /* p·erfcx(a) */
    vi n;
} vm_tail;

VM_FN vm_tail vm_erfc_tail(vf a, float split)
{
    vm_tail t;
    vf ac = v_min(v_max(a, v_set(split)), v_set(10.5f)); /* NaN → split */
    vf p = vm_exp_minus_square(ac, 1, &t.n);
    t.q = v_mul(p, vm_erfcx(ac));
    return t;
}

VM_FN vf vm_erf(vf x)
{
    vf a = vm_abs(x);
    vm_tail t = vm_erfc_tail(a, VM_ERF_SPLIT);
    vf large = v_sub(v_set(1), v_mul(t.q, vm_pow2(v_max_i(t.n, -60))));
    vf y = vm_with_sign(v_sel(v_lt(a, v_set(VM_ERF_SPLIT)), vm_erf_small(a), large), x);
    return v_sel(v_isnan(x), vm_quiet(x), y);
}

VM_FN vf vm_erfc(vf x)
{
    vf a = vm_abs(x);
    vm_tail t = vm_erfc_tail(a, VM_ERFC_SPLIT);
    vf small = v_sel(vm_tiny(x), v_set(0), vm_erf_small(a)); /* 1 ± erf(a) is 1 there */
    vf right = vm_scale(t.q, t.n);                                        /* erfc(a), maybe subnormal */
    vf left = v_sub(v_set(2), v_mul(t.q, vm_pow2(v_max_i(t.n, -60)))); /* erfc(-a) = 2 - erfc(a) */
    vm neg = vm_negative(x);
    vf y_small = v_sel(neg, v_add(v_set(1), small), v_sub(v_set(1), small));
    vf y = v_sel(v_lt(a, v_set(VM_ERFC_SPLIT)), y_small, v_sel(neg, left, right));
    return v_sel(v_isnan(x), vm_quiet(x), y);
}

/* The pieces of Φ(x) for the GELUs, a = |x|:
 *   small  Φ(x) = ½ + x·Q(x²)                      a < VM_PHI_SPLIT
 *   tail   Φ(-a) = ½·e^(-a²/2)·erfcx(a/√2) = ½·q·2^n  a >= VM_PHI_SPLIT
 * e^(-a²/2) = p·2^n is taken for all a (clamped to 15; Φ(-15)·15 is 0 in f32),
 * as φ(x) = p·2^n/√(2π) serves gelu'. xs is x with |x| clamped to [2^-30, 15],
 * xt with |x| only raised to 2^-30. */
typedef struct {
    vf xs, xt, a, small, r, q, p; /* r = erfcx(a/√2), q = p·r */
    vi n;
} vm_phi;

VM_FN vm_phi vm_phi_of(vf x)
{
    vm_phi f;
    f.a = v_min(v_max(vm_abs(x), v_from_bits(v_iset(VM_TINY_BITS))), v_set(15)); /* NaN → 2^-30 */
    f.xs = vm_with_sign(f.a, x);
    f.p = vm_exp_minus_square(f.a, 0.5f, &f.n);
    vf as = v_min(f.a, v_set(VM_PHI_SPLIT));
    vf xsmall = vm_with_sign(as, x);
    f.small = v_fma(xsmall, vm_poly(v_mul(as, as), vm_phi_poly, 5), v_set(0.5f));
    vf z = v_mul(v_max(f.a, v_set(VM_PHI_SPLIT)), v_set(VM_INV_SQRT2));
    f.r = vm_erfcx(z);
    f.q = v_mul(f.p, f.r);
    f.xt = vm_with_sign(v_max(vm_abs(x), v_from_bits(v_iset(VM_TINY_BITS))), x); /* unbounded, for x >= 0 */
    return f;
}

/* gelu(x) = x·Φ(x): x < 0 in the tail: -a·½q·2^n (maybe subnormal), x >= 0 in
 * the tail: x(1 - ½q·2^n); ½x below 2^-30. */
VM_FN vf vm_gelu_of(vf x, const vm_phi *f)
{
    vf half_q = v_mul(f->q, v_set(0.5f));
    vf left = vm_scale(v_mul(f->xs, half_q), f->n);
    vf right = v_mul(f->xt, v_sub(v_set(1), v_mul(half_q, vm_pow2(v_max_i(f->n, -60)))));
    vf y = v_sel(v_lt(f->a, v_set(VM_PHI_SPLIT)), v_mul(f->xs, f->small), v_sel(vm_negative(x), left, right));
    y = v_sel(vm_tiny(x), vm_tiny_linear(x, 0.5f), y);
    return v_sel(v_isnan(x), vm_quiet(x), y);
}

VM_FN vf vm_gelu(vf x)
{
    vm_phi f = vm_phi_of(x);
    return vm_gelu_of(x, &f);
}

/* gelu'(x) = Φ(x) + x·φ(x); with E = e^(-x²/2) = p·2^n, in the tail:
 *   x < 0:  E·(½erfcx(a/√2) - a/√(2π))     x >= 0:  1 + E·(a/√(2π) - ½erfcx(a/√2)) */
VM_FN vf vm_gelu_derivative_of(vf x, const vm_phi *f)
{
    vf half_r = v_mul(f->r, v_set(0.5f)); /* ½erfcx(a/√2) */
    vf slope = v_mul(f->a, v_set(VM_INV_SQRT_2PI));
    vf e = v_mul(f->p, vm_pow2(v_max_i(f->n, -60)));
    vf small = v_fma(v_mul(f->xs, e), v_set(VM_INV_SQRT_2PI), f->small);
    vf left = vm_scale(v_mul(f->p, v_sub(half_r, slope)), f->n);
    vf right = v_fma(e, v_sub(slope, half_r), v_set(1));
    vf y = v_sel(v_lt(f->a, v_set(VM_PHI_SPLIT)), small, v_sel(vm_negative(x), left, right));
    return v_sel(v_isnan(x), vm_quiet(x), y);
}

VM_FN vf vm_gelu_derivative(vf x)
{
    vm_phi f = vm_phi_of(x);
    return vm_gelu_derivative_of(x, &f);
}

/* The tanh GELU's logistic: 2u = A·x + B·x³ to twice float precision (in
 * the left tail σ(2u) ≈ e^(2u) with 2u up to -130, and 2u rounded to float
 * would cost up to 2u·2^-24 there), then e = e^-|2u| = p·2^n, d = 1 + e.
 * xs is x with |x| clamped to [2^-30, 20] (beyond 20 the result is x or 0). */
typedef struct {
    vf xs, xt, p, d; /* xt: |x| only raised to 2^-30 */
    vf kh, kl;        /* |x|·2u' = |x|(A + 3B·x²) = kh + kl, for the derivative */
    vi n;
} vm_gelu_tanh_parts;

VM_FN vm_gelu_tanh_parts vm_gelu_tanh_of(vf x)
{
    vm_gelu_tanh_parts g;
    vf a = v_min(v_max(vm_abs(x), v_from_bits(v_iset(VM_TINY_BITS))), v_set(20)); /* NaN → 2^-30 */
    g.xs = vm_with_sign(a, x);
    vf w = v_mul(a, a), w_lo = v_fma(a, a, v_sub(v_set(0), w));
    /* P = A + B·w, double-float */
    vf bw = v_mul(v_set(VM_GT_B_HI), w);
    vf bw_lo = v_add(v_fma(v_set(VM_GT_B_HI), w, v_sub(v_set(0), bw)),
                     v_fma(v_set(VM_GT_B_HI), w_lo, v_mul(v_set(VM_GT_B_LO), w)));
    vf ph = v_add(v_set(VM_GT_A_HI), bw); /* 2Sum: A_HI + bw = ph + err exactly */
    vf bb = v_sub(ph, v_set(VM_GT_A_HI));
    vf err = v_add(v_sub(v_set(VM_GT_A_HI), v_sub(ph, bb)), v_sub(bw, bb));
    vf pl = v_add(err, v_add(bw_lo, v_set(VM_GT_A_LO)));
    /* |2u| = a·P, double-float; e^-|2u| */
    vf uh = v_mul(a, ph);
    vf ul = v_fma(a, pl, v_fma(a, ph, v_sub(v_set(0), uh)));
    vm far = v_lt(v_set(130), uh);
    vf arg = v_sel(far, v_set(-130), v_sub(v_set(0), uh));
    vf arg_lo = v_sel(far, v_set(0), v_sub(v_set(0), ul));
    g.p = vm_exp_reduce(arg, arg_lo, &g.n);
    g.d = v_add(v_set(1), v_mul(g.p, vm_pow2(v_max_i(g.n, -40))));
    /* 2u' = A + 3B·w and |x|·2u', double-float as P above: gelu_tanh' cancels
     * 1 against |x|·2u'·(1 - s) for x < 0, which magnifies their error */
    vf tw = v_mul(v_set(VM_GT_3B_HI), w);
    vf tw_lo = v_add(v_fma(v_set(VM_GT_3B_HI), w, v_sub(v_set(0), tw)),
                     v_fma(v_set(VM_GT_3B_HI), w_lo, v_mul(v_set(VM_GT_3B_LO), w)));
    vf sh = v_add(v_set(VM_GT_A_HI), tw);
    vf sb = v_sub(sh, v_set(VM_GT_A_HI));
    vf serr = v_add(v_sub(v_set(VM_GT_A_HI), v_sub(sh, sb)), v_sub(tw, sb));
    vf sl = v_add(serr, v_add(tw_lo, v_set(VM_GT_A_LO)));
    g.kh = v_mul(a, sh);
    g.kl = v_fma(a, sl, v_fma(a, sh, v_sub(v_set(0), g.kh)));
    g.xt = vm_with_sign(v_max(vm_abs(x), v_from_bits(v_iset(VM_TINY_BITS))), x);
    return g;
}

/* x·σ(2u): x >= 0: x/d; x < 0: x·e/d (maybe subnormal), with the rounding of
 * d = 1 + e taken back as in vm_silu: 3.40 ulps without, 2.87 with */
VM_FN vf vm_gelu_tanh(vf x)
{
    vm_gelu_tanh_parts g = vm_gelu_tanh_of(x);
    vf e = v_mul(g.p, vm_pow2(v_max_i(g.n, -40)));
    vf q = v_div(v_mul(g.xs, g.p), g.d);
    vf left = vm_scale(v_fma(v_sub(v_set(0), q), v_div(v_sub(e, v_sub(g.d, v_set(1))), g.d), q), g.n);
    vf y = v_sel(vm_negative(x), left, v_div(g.xt, g.d));
    y = v_sel(vm_tiny(x), vm_tiny_linear(x, 0.5f), y);
    return v_sel(v_isnan(x), vm_quiet(x), y);
}

/* f' = s + x·2u'·s(1 - s), s(1 - s) = e/d², k = |x|·2u':
 *   x >= 0: (1/d)(1 + k·e/d)     x < 0: e·(1 + e - k)/d²
 * For x < 0 the two terms cancel (f' = 0 at x ≈ -0.7522); 1 - kh is exact
 * from kh = 0.5 up, so the difference costs one rounding, and d² =
 * 1 + e(e + 2) one more. */
VM_FN vf vm_gelu_tanh_derivative(vf x)
{
    vm_gelu_tanh_parts g = vm_gelu_tanh_of(x);
    vf inv_d = v_div(v_set(1), g.d);
    vf e = v_mul(g.p, vm_pow2(v_max_i(g.n, -40)));
    vf right = v_mul(inv_d, v_fma(v_mul(v_add(g.kh, g.kl), e), inv_d, v_set(1)));
    vf num = v_add(v_sub(v_set(1), g.kh), v_sub(e, g.kl));
    vf dd = v_fma(e, v_add(e, v_set(2)), v_set(1));
    vf left = vm_scale(v_div(v_mul(g.p, num), dd), g.n);
    vf y = v_sel(vm_negative(x), left, right);
    return v_sel(v_isnan(x), vm_quiet(x), y);
}

/* ---- array loops: whole vectors, then the tail through a lane buffer ---- */

#define VM_UNARY_LOOP(name, lane)                                                  \
    VM_TARGET static void name(const float *x, float *y, int64_t n)               \
    {                                                                              \
        int64_t i = 0;                                                             \
        for (; i + VM_LANES <= n; i += VM_LANES)                                   \
            v_store(y + i, lane(v_load(x + i)));                                   \
        if (i < n) {                                                               \
            float bx[VM_LANES] = {0}, by[VM_LANES];                                \
            memcpy(bx, x + i, (size_t)(n - i) * sizeof *bx);                       \
            v_store(by, lane(v_load(bx)));                                         \
            memcpy(y + i, by, (size_t)(n - i) * sizeof *by);                       \
        }                                                                          \
    }

#define VM_BINARY_LOOP(name, lane)                                                 \
    VM_TARGET static void name(const float *g, const float *x, float *out, int64_t n) \
    {                                                                              \
        int64_t i = 0;                                                             \
        for (; i + VM_LANES <= n; i += VM_LANES)                                   \
            v_store(out + i, v_mul(v_load(g + i), lane(v_load(x + i))));           \
        if (i < n) {                                                               \
            float bg[VM_LANES] = {0}, bx[VM_LANES] = {0}, by[VM_LANES];            \
            memcpy(bg, g + i, (size_t)(n - i) * sizeof *bg);                       \
            memcpy(bx, x + i, (size_t)(n - i) * sizeof *bx);                       \
            v_store(by, v_mul(v_load(bg), lane(v_load(bx))));                      \
            memcpy(out + i, by, (size_t)(n - i) * sizeof *by);                     \
        }                                                                          \
    }

/* y = gelu(x) and out = g·gelu'(x) from one evaluation of Φ: the same bits
 * as the gelu and gelu_backward loops. */
VM_TARGET static void vm_gelu_pair_array(const float *g, const float *x, float *y, float *out, int64_t n)
{
    int64_t i = 0;
    for (; i + VM_LANES <= n; i += VM_LANES) {
        vf xv = v_load(x + i);
        vm_phi f = vm_phi_of(xv);
        vf gv = v_load(g + i);
        v_store(y + i, vm_gelu_of(xv, &f));
        v_store(out + i, v_mul(gv, vm_gelu_derivative_of(xv, &f)));
    }
    if (i < n) {
        float bg[VM_LANES] = {0}, bx[VM_LANES] = {0}, by[VM_LANES], bo[VM_LANES];
        memcpy(bg, g + i, (size_t)(n - i) * sizeof *bg);
        memcpy(bx, x + i, (size_t)(n - i) * sizeof *bx);
        vf xv = v_load(bx);
        vm_phi f = vm_phi_of(xv);
        v_store(by, vm_gelu_of(xv, &f));
        v_store(bo, v_mul(v_load(bg), vm_gelu_derivative_of(xv, &f)));
        memcpy(y + i, by, (size_t)(n - i) * sizeof *by);
        memcpy(out + i, bo, (size_t)(n - i) * sizeof *bo);
    }
}

VM_UNARY_LOOP(vm_exp_array, vm_exp)
VM_UNARY_LOOP(vm_sigmoid_array, vm_sigmoid)
VM_UNARY_LOOP(vm_tanh_array, vm_tanh)
VM_UNARY_LOOP(vm_erf_array, vm_erf)
VM_UNARY_LOOP(vm_erfc_array, vm_erfc)
VM_UNARY_LOOP(vm_gelu_array, vm_gelu)
VM_UNARY_LOOP(vm_gelu_tanh_array, vm_gelu_tanh)
VM_UNARY_LOOP(vm_silu_array, vm_silu)
VM_BINARY_LOOP(vm_sigmoid_mul_array, vm_sigmoid)
VM_BINARY_LOOP(vm_silu_backward_array, vm_silu_derivative)
VM_BINARY_LOOP(vm_gelu_backward_array, vm_gelu_derivative)
VM_BINARY_LOOP(vm_gelu_tanh_backward_array, vm_gelu_tanh_derivative)

const tg_vecmath_kernels VM_SET = {
    .exp = vm_exp_array,
    .sigmoid = vm_sigmoid_array,
    .tanh = vm_tanh_array,
    .erf = vm_erf_array,
    .erfc = vm_erfc_array,
    .gelu = vm_gelu_array,
    .gelu_tanh = vm_gelu_tanh_array,
    .silu = vm_silu_array,
    .sigmoid_mul = vm_sigmoid_mul_array,
    .silu_backward = vm_silu_backward_array,
    .gelu_backward = vm_gelu_backward_array,
    .gelu_tanh_backward = vm_gelu_tanh_backward_array,
    .gelu_pair = vm_gelu_pair_array,
};
