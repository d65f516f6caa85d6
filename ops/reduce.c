/* Reductions: the whole tensor to a scalar, or one axis away. */
#include "autograd/internal.h"
#include "ops/axis.h"

#include <stdio.h>

static tg_tensor *reduce_all(const tg_op_desc *kind, tg_tensor *x, bool average)
{
    const char *op = kind->name;
    if (!tg_check_live(op, x))
        return NULL;
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, 0, NULL, false);
    if (!y)
        return NULL;
    TG_TYPED(x->dtype, T, {
        const T *X = x->data;
        double total = 0; /* float32 sums too: round-off grows with n */
        for (int64_t i = 0; i < x->size; i++)
            total += X[i];
        *(T *)y->data = (T)(average ? total / (double)x->size : total);
    });
    return tg_record1(kind, y, x);
}

tg_tensor *tg_sum(tg_tensor *x) { return reduce_all(&tg_op_sum, x, false); }
tg_tensor *tg_mean(tg_tensor *x) { return reduce_all(&tg_op_mean, x, true); }

/* y = Σx: dx = dy broadcast to x */
static void sum_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_expand(dy, n->in[0]->rank, n->in[0]->shape);
}

/* y = Σx/n: dx = dy/n broadcast */
static void mean_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_mul_scalar(tg_expand(dy, n->in[0]->rank, n->in[0]->shape), 1.0 / (double)n->in[0]->size);
}

/* The scalar δ copied to every element (÷ n for the mean). */
static void sum_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    char shape[64];
    snprintf(buf, size, "copy to %s", tg_shape_str(n->in[input]->rank, n->in[input]->shape, shape, sizeof shape));
}

static void mean_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    char shape[64];
    snprintf(buf, size, "copy to %s, ÷%lld", tg_shape_str(n->in[input]->rank, n->in[input]->shape, shape, sizeof shape),
             (long long)n->in[input]->size);
}

const tg_op_desc tg_op_sum = {.kind = TG_OP_SUM, .name = "sum", .backward = sum_backward, .vjp_label = sum_vjp_label};
const tg_op_desc tg_op_mean = {.kind = TG_OP_MEAN, .name = "mean", .backward = mean_backward, .vjp_label = mean_vjp_label};

/* ---- along one axis: x viewed as [outer, len, inner] ---- */

#if defined(__x86_64__)
#include <immintrin.h>

/* y[i] = (Σ_j x[j][i])·scale over len rows of n floats, each sum in row order
 * from 0 as the portable loop adds (the same bits), but 128 columns at a time
 * in eight registers: no load and store of y per row (the conv bias gradient
 * sums a 64-image batch of [C, OH, OW] rows this way). */
__attribute__((target("avx512f"))) static void sum_rows_f32_avx512(const float *x, int64_t len, int64_t n,
                                                                   float scale, float *y)
{
    enum { LANES = 16, REGS = 8 };
    for (int64_t i0 = 0; i0 < n; i0 += LANES * REGS) {
        __mmask16 mask[REGS];
        __m512 acc[REGS];
        for (int r = 0; r < REGS; r++) {
            int64_t left = n - i0 - LANES * r;
            mask[r] = (__mmask16)(left <= 0 ? 0 : left >= LANES ? 0xFFFF : (1u << left) - 1);
            acc[r] = _mm512_setzero_ps();
        }
        for (int64_t j = 0; j < len; j++) {
            const float *row = x + j * n + i0;
            for (int r = 0; r < REGS; r++)
                acc[r] = _mm512_add_ps(acc[r], _mm512_maskz_loadu_ps(mask[r], row + LANES * r));
        }
        for (int r = 0; r < REGS; r++)
            _mm512_mask_storeu_ps(y + i0 + LANES * r, mask[r], _mm512_mul_ps(acc[r], _mm512_set1_ps(scale)));
    }
}
#endif

bool tg_sum_rows_f32(const float *x, int64_t len, int64_t n, float scale, float *y)
{
#if defined(__x86_64__)
    if (n >= 16 && __builtin_cpu_supports("avx512f")) {
        sum_rows_f32_avx512(x, len, n, scale, y);
        return true;
    }
#endif
    (void)x, (void)len, (void)n, (void)scale, (void)y;
    return false;
}

static tg_tensor *reduce_axis(const tg_op_desc *kind, tg_tensor *x, int axis, bool keepdim)
{
    const char *op = kind->name;
    if (!tg_check_live(op, x))
        return NULL;
    int a = axis < 0 ? axis + x->rank : axis;
    if (a < 0 || a >= x->rank)
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "%s: axis %d is out of range for shape %s", op, axis,
                       tg_shape_of(x).s), NULL;
    int64_t shape[TG_MAX_RANK], outer = 1, inner = 1, len = x->shape[a];
    int rank = 0;
    for (int d = 0; d < x->rank; d++) {
        if (d < a)
            outer *= x->shape[d];
        if (d > a)
            inner *= x->shape[d];
        if (d != a || keepdim)
            shape[rank++] = d == a ? 1 : x->shape[d];
    }
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, rank, shape, true);
    if (!y)
        return NULL;
    if (x->dtype == TG_F32 && inner >= 16) {
        float scale = kind == &tg_op_mean_axis ? 1.0f / (float)len : 1.0f;
        bool done = true;
        for (int64_t o = 0; o < outer && done; o++)
            done = tg_sum_rows_f32((const float *)x->data + o * len * inner, len, inner, scale,
                                   (float *)y->data + o * inner);
        if (done) {
            tg_attr attr = {.reduce = {a, keepdim}};
            return tg_record(kind, y, 1, (tg_tensor *[]){x}, attr);
        }
    }
    TG_TYPED(x->dtype, T, {
        const T *X = x->data;
        T *Y = y->data;
        T scale = kind == &tg_op_mean_axis ? (T)1 / (T)len : (T)1;
        for (int64_t o = 0; o < outer; o++) {
            T *row = Y + o * inner;
            for (int64_t j = 0; j < len; j++) /* row by row: unit stride in both */
                for (int64_t i = 0; i < inner; i++)
                    row[i] += X[(o * len + j) * inner + i];
            for (int64_t i = 0; i < inner; i++)
                row[i] *= scale;
        }
    });
    tg_attr attr = {.reduce = {a, keepdim}};
    return tg_record(kind, y, 1, (tg_tensor *[]){x}, attr);
}

tg_tensor *tg_sum_axis(tg_tensor *x, int axis, bool keepdim)
{
    return reduce_axis(&tg_op_sum_axis, x, axis, keepdim);
}

tg_tensor *tg_mean_axis(tg_tensor *x, int axis, bool keepdim)
{
    return reduce_axis(&tg_op_mean_axis, x, axis, keepdim);
}

/* dy with the reduced axis put back as size 1, then broadcast over it. */
static tg_tensor *spread(const tg_node *n, tg_tensor *dy)
{
    const tg_tensor *x = n->in[0];
    int64_t kept[TG_MAX_RANK];
    for (int d = 0; d < x->rank; d++)
        kept[d] = d == n->attr.reduce.axis ? 1 : x->shape[d];
    if (!n->attr.reduce.keepdim)
        dy = tg_reshape(dy, x->rank, kept);
    return tg_expand(dy, x->rank, x->shape);
}

static void sum_axis_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { dx[0] = spread(n, dy); }

static void mean_axis_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_mul_scalar(spread(n, dy), 1.0 / (double)n->in[0]->shape[n->attr.reduce.axis]);
}

static void sum_axis_label(const tg_node *n, char *buf, size_t size)
{
    snprintf(buf, size, "sum(axis=%d)", n->attr.reduce.axis);
}

static void mean_axis_label(const tg_node *n, char *buf, size_t size)
{
    snprintf(buf, size, "mean(axis=%d)", n->attr.reduce.axis);
}

static void sum_axis_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)input;
    snprintf(buf, size, "copy along axis %d", n->attr.reduce.axis);
}

static void mean_axis_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    snprintf(buf, size, "copy along axis %d, ÷%lld", n->attr.reduce.axis,
             (long long)n->in[input]->shape[n->attr.reduce.axis]);
}

const tg_op_desc tg_op_sum_axis = {.kind = TG_OP_SUM_AXIS, .name = "sum_axis", .backward = sum_axis_backward, .label = sum_axis_label,
                                   .vjp_label = sum_axis_vjp_label};
const tg_op_desc tg_op_mean_axis = {.kind = TG_OP_MEAN_AXIS, .name = "mean_axis", .backward = mean_axis_backward, .label = mean_axis_label,
                                    .vjp_label = mean_axis_vjp_label};
