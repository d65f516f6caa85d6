/* Math ops: abs, sqrt, powers, clamp, elementwise maximum and minimum, where,
 * log1p, expm1, erf, sin and cos. Forward kernel, backward rule (made of ops,
 * so it differentiates again under create_graph) and label side by side.
 *
 * Kinks. The piecewise-linear ops (abs, clamp, maximum, minimum) multiply the
 * incoming gradient by a weight tensor computed from their inputs: sign(x),
 * the in-range mask, each operand's share of a maximum. The weights are
 * piecewise constant, so they have no gradient of their own and are not
 * recorded; the product with the gradient is, so second derivatives through
 * these ops are right (and zero where the op is linear). */
#include "ops/binary.h"
#include "ops/vecmath.h"

#include <stdio.h>
#include <tgmath.h>

#define TWO_OVER_SQRT_PI 1.12837916709551257390 /* erf'(x) = (2/√π)·e^(−x²) */

/* ---- unary maps ---- */

MAP_KERNEL(abs, fabs(v))
MAP_KERNEL(sqrt, sqrt(v))
MAP_KERNEL(log1p, log1p(v))
MAP_KERNEL(expm1, expm1(v))
MAP_KERNEL(erf, erf(v))
MAP_KERNEL(sin, sin(v))
MAP_KERNEL(cos, cos(v))
/* x^p; the common squares skip the library call. */
MAP_KERNEL(pow_scalar, p == 2 ? v * v : pow(v, p))
/* NaN stays NaN: both comparisons are false. */
MAP_KERNEL(clamp, v < p ? p : v > q ? q : v)

/* Gradient weights (not recorded): abs' = sign(x), 0 at the kink x = 0;
 * clamp' = 1 on the closed interval [low, high], 0 outside. */
MAP_KERNEL(abs_slope, (v > 0) - (v < 0))
MAP_KERNEL(clamp_slope, v >= p && v <= q)

tg_tensor *tg_abs(tg_tensor *x) { return tg_record1(&tg_op_abs, abs_map(x, 0, 0), x); }
tg_tensor *tg_sqrt(tg_tensor *x) { return tg_record1(&tg_op_sqrt, sqrt_map(x, 0, 0), x); }
tg_tensor *tg_log1p(tg_tensor *x) { return tg_record1(&tg_op_log1p, log1p_map(x, 0, 0), x); }
tg_tensor *tg_expm1(tg_tensor *x) { return tg_record1(&tg_op_expm1, expm1_map(x, 0, 0), x); }
/* erf: f32 by the vector kernel of ops/vecmath.h (at most 2 ulp, the same
 * cost for every value), f64 by libm. */
typedef struct {
    const float *x;
    float *y;
} erf_job;

static void erf_f32_range(void *arg, int64_t begin, int64_t end)
{
    const erf_job *job = arg;
    tg_verf_f32(job->x + begin, job->y + begin, end - begin);
}

tg_tensor *tg_erf(tg_tensor *x)
{
    if (!tg_check_live("erf", x) || x->dtype != TG_F32)
        return tg_record1(&tg_op_erf, erf_map(x, 0, 0), x);
    tg_tensor *y = tg_step_like(x, false);
    if (y)
        tg_parallel_range(x->ctx, x->size, erf_f32_range, &(erf_job){x->data, y->data});
    return tg_record1(&tg_op_erf, y, x);
}
tg_tensor *tg_sin(tg_tensor *x) { return tg_record1(&tg_op_sin, sin_map(x, 0, 0), x); }
tg_tensor *tg_cos(tg_tensor *x) { return tg_record1(&tg_op_cos, cos_map(x, 0, 0), x); }

tg_tensor *tg_pow_scalar(tg_tensor *x, double p)
{
    return tg_record(&tg_op_pow_scalar, pow_scalar_map(x, p, 0), 1, &x, (tg_attr){.scalar = p});
}

tg_tensor *tg_clamp(tg_tensor *x, double low, double high)
{
    if (!tg_check_live("clamp", x))
        return NULL;
    if (!(low <= high)) /* also refuses NaN bounds */
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "clamp: bounds [%g, %g] for %s: expected low <= high (use "
                           "-INFINITY or INFINITY for a one-sided clamp)", low, high, tg_shape_of(x).s), NULL;
    tg_attr attr = {.bounds = {low, high}};
    return tg_record(&tg_op_clamp, clamp_map(x, low, high), 1, &x, attr);
}

/* dy/dx = sign(x), 0 at x = 0 (as PyTorch) */
static void abs_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_mul(dy, abs_slope_map(n->in[0], 0, 0));
}

/* dy/dx = 1/(2y); +Inf at x = 0 (NaN where dy is 0 there too) */
static void sqrt_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_div(dy, tg_mul_scalar(n->out, 2));
}

/* dy/dx = 1/(1 + x) */
static void log1p_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_div(dy, tg_add_scalar(n->in[0], 1));
}

/* dy/dx = eˣ = y + 1 */
static void expm1_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_mul(dy, tg_add_scalar(n->out, 1));
}

/* dy/dx = (2/√π)·e^(−x²) */
static void erf_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    tg_tensor *x = n->in[0];
    dx[0] = tg_mul(dy, tg_mul_scalar(tg_exp(tg_neg(tg_mul(x, x))), TWO_OVER_SQRT_PI));
}

static void sin_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { dx[0] = tg_mul(dy, tg_cos(n->in[0])); }
static void cos_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { dx[0] = tg_mul(dy, tg_neg(tg_sin(n->in[0]))); }

/* dy/dx = p·x^(p−1); p = 0 is a constant (no gradient, even at x = 0). */
static void pow_scalar_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    double p = n->attr.scalar;
    if (p == 1)
        dx[0] = dy;
    else if (p != 0)
        dx[0] = tg_mul(dy, tg_mul_scalar(tg_pow_scalar(n->in[0], p - 1), p));
}

/* dy/dx = 1 for low <= x <= high (the bounds included, as PyTorch), else 0 */
static void clamp_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_mul(dy, clamp_slope_map(n->in[0], n->attr.bounds.low, n->attr.bounds.high));
}

static void pow_scalar_label(const tg_node *n, char *buf, size_t size) { snprintf(buf, size, "^ %g", n->attr.scalar); }

static void clamp_label(const tg_node *n, char *buf, size_t size)
{
    snprintf(buf, size, "clamp [%g, %g]", n->attr.bounds.low, n->attr.bounds.high);
}

TG_VJP_MAP_LABEL(abs, "⊙sign(%s)%.0s")
TG_VJP_MAP_LABEL(sqrt, "⊘2√%s%.0s")
TG_VJP_MAP_LABEL(log1p, "⊘(1+%s)%.0s")
TG_VJP_MAP_LABEL(expm1, "⊙exp(%s)%.0s")
TG_VJP_MAP_LABEL(erf, "⊙(2/√π)exp(−%s²)%.0s")
TG_VJP_MAP_LABEL(sin, "⊙cos(%s)%.0s")
TG_VJP_MAP_LABEL(cos, "⊙(−sin(%s))%.0s")

static void pow_scalar_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    snprintf(buf, size, "⊙%g·%s^%g", n->attr.scalar, tg_vjp_name(n->in[input], "z"), n->attr.scalar - 1);
}

static void clamp_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    snprintf(buf, size, "⊙[%g≤%s≤%g]", n->attr.bounds.low, tg_vjp_name(n->in[input], "z"), n->attr.bounds.high);
}

const tg_op_desc tg_op_abs = {.kind = TG_OP_ABS, .name = "abs", .backward = abs_backward, .vjp_label = abs_vjp_label};
const tg_op_desc tg_op_sqrt = {.kind = TG_OP_SQRT, .name = "sqrt", .backward = sqrt_backward,
    .vjp_label = sqrt_vjp_label};
const tg_op_desc tg_op_log1p = {.kind = TG_OP_LOG1P, .name = "log1p", .backward = log1p_backward,
    .vjp_label = log1p_vjp_label};
const tg_op_desc tg_op_expm1 = {.kind = TG_OP_EXPM1, .name = "expm1", .backward = expm1_backward,
    .vjp_label = expm1_vjp_label};
const tg_op_desc tg_op_erf = {.kind = TG_OP_ERF, .name = "erf", .backward = erf_backward, .vjp_label = erf_vjp_label};
const tg_op_desc tg_op_sin = {.kind = TG_OP_SIN, .name = "sin", .backward = sin_backward, .vjp_label = sin_vjp_label};
const tg_op_desc tg_op_cos = {.kind = TG_OP_COS, .name = "cos", .backward = cos_backward, .vjp_label = cos_vjp_label};
const tg_op_desc tg_op_pow_scalar = {.kind = TG_OP_POW_SCALAR, .name = "pow_scalar", .backward = pow_scalar_backward,
                                     .label = pow_scalar_label,
    .vjp_label = pow_scalar_vjp_label};
const tg_op_desc tg_op_clamp = {.kind = TG_OP_CLAMP, .name = "clamp", .backward = clamp_backward, .label = clamp_label,
    .vjp_label = clamp_vjp_label};

/* ---- binary, broadcasting ---- */

BINARY_KERNEL(pow, pow(x, y))
/* NaN in either operand gives NaN (x != x is the NaN test). */
BINARY_KERNEL(maximum, x != x ? x : x > y ? x : y)
BINARY_KERNEL(minimum, x != x ? x : x < y ? x : y)
/* The first operand's share of the gradient; ties split it equally, so
 * maximum(x, x) passes the whole gradient to x. */
BINARY_KERNEL(maximum_share, x > y ? 1 : x == y ? 0.5 : 0)
BINARY_KERNEL(minimum_share, x < y ? 1 : x == y ? 0.5 : 0)

/* b^e = exp(e·ln b): its gradient for e needs ln b, so tg_pow wants b > 0
 * and says which element is not (tg_pow_scalar takes any sign). */
static bool base_positive(const tg_tensor *base)
{
    int64_t bad = 0, first = -1;
    TG_TYPED(base->dtype, T, {
        const T *b = base->data;
        for (int64_t i = 0; i < base->size; i++)
            bad += b[i] <= 0;
        for (int64_t i = 0; bad && first < 0; i++)
            if (b[i] <= 0)
                first = i;
    });
    if (!bad)
        return true;
    return tg_ctx_fail(base->ctx, TG_ERR_ARG, "pow: base %s has %lld element(s) <= 0, the first %g at flat "
                       "index %lld; expected every base > 0 (tg_pow_scalar raises any sign to a constant power)",
                       tg_shape_of(base).s, (long long)bad,
                       tg_tensor_get(base, first), (long long)first), false;
}

tg_tensor *tg_pow(tg_tensor *base, tg_tensor *exponent)
{
    if (!tg_check_pair("pow", base, exponent) || !base_positive(base))
        return NULL;
    return tg_record2(&tg_op_pow, pow_binary(base, exponent, 0), base, exponent);
}

tg_tensor *tg_maximum(tg_tensor *a, tg_tensor *b) { return tg_record2(&tg_op_maximum, maximum_binary(a, b, 0), a, b); }
tg_tensor *tg_minimum(tg_tensor *a, tg_tensor *b) { return tg_record2(&tg_op_minimum, minimum_binary(a, b, 0), a, b); }

/* y = b^e: db = dy·e·b^(e−1) = dy·y·e/b, de = dy·y·ln b */
static void pow_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    tg_tensor *b = n->in[0], *e = n->in[1], *dy_y = tg_mul(dy, n->out);
    if (b->requires_grad)
        dx[0] = tg_reduce_to(tg_mul(dy_y, tg_div(e, b)), b);
    if (e->requires_grad)
        dx[1] = tg_reduce_to(tg_mul(dy_y, tg_log(b)), e);
}

/* da = dy where a > b, db = dy where b > a; a tie gives each dy/2. */
static void maximum_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    tg_tensor *a = n->in[0], *b = n->in[1];
    if (a->requires_grad)
        dx[0] = tg_reduce_to(tg_mul(dy, maximum_share_binary(a, b, 0)), a);
    if (b->requires_grad)
        dx[1] = tg_reduce_to(tg_mul(dy, maximum_share_binary(b, a, 0)), b);
}

static void minimum_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    tg_tensor *a = n->in[0], *b = n->in[1];
    if (a->requires_grad)
        dx[0] = tg_reduce_to(tg_mul(dy, minimum_share_binary(a, b, 0)), a);
    if (b->requires_grad)
        dx[1] = tg_reduce_to(tg_mul(dy, minimum_share_binary(b, a, 0)), b);
}

/* y = bᵉ: e·b^(e−1) to the base, bᵉ·ln b to the exponent */
static void pow_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    const char *b = tg_vjp_name(n->in[0], "b"), *e = tg_vjp_name(n->in[1], "e");
    char factor[64];
    if (input == 0)
        snprintf(factor, sizeof factor, "⊙%s·%s^(%s−1)", e, b, e);
    else
        snprintf(factor, sizeof factor, "⊙%s^%s·ln %s", b, e, b);
    tg_vjp_binary_label(n, input, factor, buf, size);
}

/* δ goes to the larger (smaller) input, half each at a tie */
static void extremum_vjp_label(const tg_node *n, int input, const char *relation, char *buf, size_t size)
{
    const char *a = tg_vjp_name(n->in[0], "a"), *b = tg_vjp_name(n->in[1], "b");
    char factor[64];
    snprintf(factor, sizeof factor, "⊙[%s%s%s]", input ? b : a, relation, input ? a : b);
    tg_vjp_binary_label(n, input, factor, buf, size);
}

static void maximum_vjp_label(const tg_node *n, int input, char *buf, size_t size) { extremum_vjp_label(n, input, ">", buf, size); }
static void minimum_vjp_label(const tg_node *n, int input, char *buf, size_t size) { extremum_vjp_label(n, input, "<", buf, size); }

const tg_op_desc tg_op_pow = {.kind = TG_OP_POW, .name = "pow", .backward = pow_backward, .vjp_label = pow_vjp_label};
const tg_op_desc tg_op_maximum = {.kind = TG_OP_MAXIMUM, .name = "maximum", .backward = maximum_backward,
    .vjp_label = maximum_vjp_label};
const tg_op_desc tg_op_minimum = {.kind = TG_OP_MINIMUM, .name = "minimum", .backward = minimum_backward,
    .vjp_label = minimum_vjp_label};

/* ---- where(mask, a, b): three shapes broadcast together ---- */

/* y = mask != 0 ? a : b over the broadcast index space, for mask element type M. */
#define WHERE_LOOP(M, mask, a, b, out, full, sm, sa, sb)                                    \
    TG_TYPED((out)->dtype, T, {                                                           \
        const M *MK = (mask)->data;                                                       \
        const T *A = (a)->data, *B = (b)->data;                                           \
        T *Y = (out)->data;                                                               \
        const int64_t *d = (full).dims;                                                   \
        FOR_EACH_ROW(d, k) {                                                              \
            const M *rm = MK + ROW_OFFSET(sm);                                            \
            const T *ra = A + ROW_OFFSET(sa), *rb = B + ROW_OFFSET(sb);                   \
            for (int64_t j = 0; j < d[3]; j++)                                            \
                Y[k + j] = rm[(sm)[3] * j] != 0 ? ra[(sa)[3] * j] : rb[(sb)[3] * j];      \
        }                                                                                 \
    })

tg_tensor *tg_where(tg_tensor *mask, tg_tensor *a, tg_tensor *b)
{
    if (!tg_check_tensor("where", mask) || !tg_check_pair("where", a, b))
        return NULL;
    if (mask->ctx != a->ctx)
        return tg_ctx_fail(a->ctx, TG_ERR_ARG, "where: the mask and the values belong to different contexts"), NULL;
    tg_broadcast ab, full, to_a, to_b;
    if (!tg_broadcast_shapes(a->rank, a->shape, b->rank, b->shape, &ab) ||
        !tg_broadcast_shapes(mask->rank, mask->shape, ab.rank, ab.shape, &full))
        return tg_ctx_fail(a->ctx, TG_ERR_SHAPE, "where: mask %s, a %s and b %s do not broadcast to one shape "
                           "(aligned on the right, each dim equal or 1)", tg_shape_of(mask).s, tg_shape_of(a).s,
                           tg_shape_of(b).s), NULL;
    tg_tensor *out = tg_step_tensor(a->ctx, (tg_dtype)a->dtype, full.rank, full.shape, false);
    if (!out)
        return NULL;
    /* each operand's strides in the output's index space (0 on broadcast dims) */
    tg_broadcast_shapes(a->rank, a->shape, full.rank, full.shape, &to_a);
    tg_broadcast_shapes(b->rank, b->shape, full.rank, full.shape, &to_b);
    /* above rank 4 the three walks merge dims by their own patterns: they
     * must agree */
    for (int w = 0; w < TG_WALK_RANK; w++)
        if (to_a.dims[w] != full.dims[w] || to_b.dims[w] != full.dims[w])
            return tg_ctx_fail(a->ctx, TG_ERR_SHAPE, "where: mask %s, a %s and b %s broadcast in more than %d "
                               "alternating runs of dims; expected at most %d (reshape to merge neighbouring dims)",
                               tg_shape_of(mask).s, tg_shape_of(a).s, tg_shape_of(b).s, TG_WALK_RANK,
                               TG_WALK_RANK), NULL;
    const int64_t *sm = full.stride_a, *sa = to_a.stride_a, *sb = to_b.stride_a;
    if (mask->dtype == TG_F32)
        WHERE_LOOP(float, mask, a, b, out, full, sm, sa, sb);
    else if (mask->dtype == TG_F64)
        WHERE_LOOP(double, mask, a, b, out, full, sm, sa, sb);
    else
        WHERE_LOOP(int64_t, mask, a, b, out, full, sm, sa, sb);
    return tg_record(&tg_op_where, out, 3, (tg_tensor *[]){mask, a, b}, (tg_attr){0});
}

/* da = where(mask, dy, 0), db = where(mask, 0, dy); the mask gets none. */
static void where_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    tg_tensor *mask = n->in[0], *a = n->in[1], *b = n->in[2];
    tg_tensor *zero = tg_step_tensor(dy->ctx, (tg_dtype)dy->dtype, 0, NULL, true);
    if (a->requires_grad)
        dx[1] = tg_reduce_to(tg_where(mask, dy, zero), a);
    if (b->requires_grad)
        dx[2] = tg_reduce_to(tg_where(mask, zero, dy), b);
}

static void where_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    const char *mask = tg_vjp_name(n->in[0], "mask");
    char factor[48];
    if (input == 0) {
        snprintf(buf, size, "0 (no gradient)");
        return;
    }
    snprintf(factor, sizeof factor, "⊙[%s%s]", input == 1 ? "" : "¬", mask);
    tg_vjp_binary_label(n, input, factor, buf, size);
}

const tg_op_desc tg_op_where = {.kind = TG_OP_WHERE, .name = "where", .backward = where_backward,
    .vjp_label = where_vjp_label};
