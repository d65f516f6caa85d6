/* Shapes without copies and matmul over heads: reshape views and their
 * lifetime, -1, permute, arange, rank 6, batched matmul with broadcasting
 * (values against plain loops), and the dense layer on [B, T, D] input. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tapegrad.h"
#include "tapegrad/op.h"
#include "tests/support.h"

static tg_ctx *ctx;
static void setup(void) { ctx = quiet_ctx(); }
static void teardown(void) { tg_ctx_free(ctx); }
TestSuite(ops_views, .init = setup, .fini = teardown);

/* A step tensor of shape holding 0, 1, 2, ... */
static tg_tensor *iota(tg_dtype dtype, int rank, const int64_t *shape)
{
    tg_tensor *t = tg_tensor_temp(ctx, dtype, rank, shape);
    for (int64_t i = 0; t && i < tg_tensor_size(t); i++)
        tg_tensor_set(t, i, (double)i);
    return t;
}

static void expect_shape(const tg_tensor *t, int rank, const int64_t *shape)
{
    cr_assert_not_null(t, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_tensor_rank(t), rank);
    for (int d = 0; d < rank; d++)
        cr_expect_eq(tg_tensor_shape(t)[d], shape[d], "dim %d: %lld, expected %lld", d,
                     (long long)tg_tensor_shape(t)[d], (long long)shape[d]);
}

Test(ops_views, reshape_of_a_step_tensor_shares_its_buffer_and_infers_minus_one)
{
    tg_tensor *x = iota(TG_F32, TG_SHAPE(4, 6));
    tg_tensor *y = tg_reshape(x, TG_SHAPE(2, -1, 3));
    expect_shape(y, TG_SHAPE(2, 4, 3));
    cr_expect_eq(tg_tensor_data(y), tg_tensor_data(x), "no copy: the view reads x's buffer");
    tg_tensor_set(x, 5, 100);
    cr_expect_eq(tg_tensor_get(y, 5), 100, "a write into x shows in the view");
    expect_shape(tg_reshape(x, TG_SHAPE(-1)), TG_SHAPE(24));
    expect_shape(tg_reshape(x, TG_SHAPE(24, -1)), TG_SHAPE(24, 1));
}

Test(ops_views, reshape_of_a_persistent_tensor_is_a_copy_that_outlives_it)
{
    tg_tensor *w = tg_tensor_ones(ctx, TG_F64, TG_SHAPE(2, 3));
    tg_tensor *y = tg_reshape(w, TG_SHAPE(-1));
    expect_shape(y, TG_SHAPE(6));
    cr_expect_neq(tg_tensor_data(y), tg_tensor_data(w));
    tg_tensor_free(w);
    cr_expect_eq(tg_tensor_get(y, 5), 1, "the step's copy is still readable");
}

Test(ops_views, a_view_of_an_earlier_step_is_reported_as_stale)
{
    tg_ctx_set_checked(ctx, true);
    tg_tensor *y = tg_reshape(iota(TG_F64, TG_SHAPE(2, 2)), TG_SHAPE(4));
    cr_assert_not_null(y);
    tg_tape_reset(ctx);
    cr_expect(isnan(tg_tensor_get(y, 0)));
    expect_error(ctx, TG_ERR_FREED, FRAGMENTS(NULL));
}

Test(ops_views, reshape_errors_name_the_shapes)
{
    tg_tensor *x = iota(TG_F64, TG_SHAPE(4, 6));
    cr_expect_null(tg_reshape(x, TG_SHAPE(5, -1)));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("reshape", "[4, 6]", "24 elements", "not a multiple of the 5", "[5, -1]"));
    cr_expect_null(tg_reshape(x, TG_SHAPE(-1, -1)));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("reshape", "[-1, -1]", "below 1"));
    cr_expect_null(tg_reshape(x, TG_SHAPE(5, 5)));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("reshape", "24 elements", "[5, 5] has 25"));
    cr_expect_null(tg_reshape(x, 7, (const int64_t[]){1, 1, 1, 1, 1, 4, 6}));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("reshape", "rank 7", "0 to 6"));
}

Test(ops_views, shape_ops_move_i64_values)
{
    tg_tensor *x = iota(TG_I64, TG_SHAPE(2, 3));
    tg_tensor *r = tg_reshape(x, TG_SHAPE(3, -1));
    tg_tensor *t = tg_transpose(x, 0, 1);
    tg_tensor *p = tg_permute(x, (const int[]){1, 0});
    tg_tensor *e = tg_expand(tg_reshape(x, TG_SHAPE(1, 2, 3)), TG_SHAPE(2, 2, 3));
    cr_assert(r && t && p && e, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_dtype(t), TG_I64);
    for (int i = 0; i < 12; i++)
        cr_expect_eq(((const int64_t *)tg_tensor_data(e))[i], i % 6);
    const int64_t want_t[] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < 6; i++) {
        cr_expect_eq(((const int64_t *)tg_tensor_data(r))[i], i);
        cr_expect_eq(((const int64_t *)tg_tensor_data(t))[i], want_t[i]);
        cr_expect_eq(((const int64_t *)tg_tensor_data(p))[i], want_t[i]);
    }
}

/* y[i0..i3] = x[j] with j[perm[d]] = i_d, by plain index arithmetic */
static void expect_permuted(const tg_tensor *x, const tg_tensor *y, const int *perm)
{
    const int64_t *xs = tg_tensor_shape(x);
    int64_t stride[4], s = 1;
    for (int d = 3; d >= 0; d--)
        stride[d] = s, s *= xs[d];
    const int64_t *ys = tg_tensor_shape(y);
    int64_t k = 0;
    for (int64_t a = 0; a < ys[0]; a++)
        for (int64_t b = 0; b < ys[1]; b++)
            for (int64_t c = 0; c < ys[2]; c++)
                for (int64_t d = 0; d < ys[3]; d++, k++) {
                    int64_t i[4] = {a, b, c, d}, at = 0;
                    for (int e = 0; e < 4; e++)
                        at += i[e] * stride[perm[e]];
                    cr_assert_eq(tg_tensor_get(y, k), tg_tensor_get(x, at), "element %lld", (long long)k);
                }
}

Test(ops_views, permute_moves_every_value_where_torch_does)
{
    static const int perms[][4] = {{0, 2, 1, 3}, {0, 2, 3, 1}, {3, 2, 1, 0}, {1, 0, 3, 2}, {0, 1, 2, 3}};
    for (int dt = TG_F32; dt <= TG_I64; dt++) {
        tg_tensor *x = iota((tg_dtype)dt, TG_SHAPE(2, 5, 3, 4));
        for (size_t p = 0; p < sizeof perms / sizeof *perms; p++) {
            tg_tensor *y = tg_permute(x, perms[p]);
            cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
            expect_permuted(x, y, perms[p]);
        }
    }
}

Test(ops_views, permute_errors_name_the_axis)
{
    tg_tensor *x = iota(TG_F64, TG_SHAPE(2, 3, 4));
    cr_expect_null(tg_permute(x, (const int[]){0, 1, 1}));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("permute", "axis 1 (entry 2)", "[2, 3, 4]", "repeated"));
    cr_expect_null(tg_permute(x, (const int[]){0, 3, 1}));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("permute", "axis 3 (entry 1)", "out of range"));
    cr_expect_null(tg_permute(x, NULL));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("permute", "axes is NULL"));
}

Test(ops_views, arange_follows_torch)
{
    tg_tensor *a = tg_arange(ctx, TG_F64, 0, 1, 0.3); /* torch.arange(0, 1, 0.3): 0, 0.3, 0.6, 0.9 */
    expect_shape(a, TG_SHAPE(4));
    for (int i = 0; i < 4; i++)
        cr_expect_eq(tg_tensor_get(a, i), 0.3 * i);
    tg_tensor *down = tg_arange(ctx, TG_I64, 5, -2, -3); /* 5, 2, -1 */
    expect_shape(down, TG_SHAPE(3));
    cr_expect_eq(tg_tensor_dtype(down), TG_I64);
    cr_expect(tg_tensor_get(down, 0) == 5 && tg_tensor_get(down, 1) == 2 && tg_tensor_get(down, 2) == -1);
    tg_tensor *f = tg_arange(ctx, TG_F32, 1, 2.5, 0.5); /* 1, 1.5, 2 */
    expect_shape(f, TG_SHAPE(3));
    cr_expect_eq(tg_tensor_get(f, 2), 2);
    cr_expect_null(tg_arange(ctx, TG_F64, 0, 1, 0));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("tg_arange", "step 0"));
    cr_expect_null(tg_arange(ctx, TG_F64, 0, 5, -1));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("tg_arange", "[0, 5) by -1", "0 elements"));
    cr_expect_null(tg_arange(ctx, TG_I64, 0, 5, 0.5));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("tg_arange", "step is 0.5", "whole number"));
    cr_expect_null(tg_arange(ctx, TG_F64, 0, NAN, 1));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("tg_arange", "finite"));
    cr_expect_null(tg_arange(ctx, TG_F64, 0, 1e300, 1));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("tg_arange", "2^40"));
    cr_expect_null(tg_arange(NULL, TG_F64, 0, 1, 1));
}

Test(ops_views, rank_six_is_the_limit)
{
    const int64_t six[6] = {1, 2, 1, 2, 1, 2}, seven[7] = {1, 1, 2, 1, 2, 1, 2};
    tg_tensor *x = tg_tensor_ones(ctx, TG_F32, 6, six);
    cr_assert_not_null(x, "%s", tg_ctx_error(ctx));
    cr_expect_null(tg_tensor_ones(ctx, TG_F32, 7, seven));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("rank 7", "0 to 6"));
    cr_expect_null(tg_stack(1, &x, 0));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("stack", "maximum rank 6"));
    tg_tensor *s = tg_sum(tg_add(x, tg_reshape(x, TG_SHAPE(2, 2, 2))));
    cr_assert_not_null(s, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_item(s), 32, "[1, 2, 1, 2, 2, 2] twos");
}

Test(ops_views, a_broadcast_in_too_many_runs_says_so)
{
    tg_tensor *a = tg_tensor_ones(ctx, TG_F32, 5, (const int64_t[]){2, 1, 2, 3, 3});
    tg_tensor *b = tg_tensor_ones(ctx, TG_F32, 5, (const int64_t[]){1, 2, 1, 3, 3});
    cr_expect_null(tg_add(a, b));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("add", "[2, 1, 2, 3, 3]", "[1, 2, 1, 3, 3]", "alternating runs"));
    tg_tensor *c = tg_tensor_ones(ctx, TG_F32, 5, (const int64_t[]){2, 2, 1, 3, 3});
    tg_tensor *y = tg_add(c, tg_reshape(b, TG_SHAPE(2, 3, 3)));
    cr_assert_not_null(y, "two runs walk: %s", tg_ctx_error(ctx));
    expect_shape(y, 5, (const int64_t[]){2, 2, 2, 3, 3});
}

/* C = op(A)·op(B) by plain loops over broadcast leading dims (rank 4 here) */
static void expect_bmm(const tg_tensor *a, const tg_tensor *b, bool ta, bool tb, const tg_tensor *c, double tol)
{
    cr_assert_not_null(c, "%s", tg_ctx_error(ctx));
    const int64_t *sa = tg_tensor_shape(a), *sb = tg_tensor_shape(b), *sc = tg_tensor_shape(c);
    int ra = tg_tensor_rank(a), rb = tg_tensor_rank(b), rc = tg_tensor_rank(c);
    int64_t m = sc[rc - 2], n = sc[rc - 1], k = sa[ra - 1 - ta];
    int64_t batch = tg_tensor_size(c) / (m * n);
    for (int64_t i = 0; i < batch; i++) {
        /* i's coordinates in c's batch dims, mapped into a's and b's */
        int64_t rest = i, at_a = 0, at_b = 0, step_a = 1, step_b = 1;
        for (int d = rc - 3; d >= 0; d--) {
            int64_t coord = rest % sc[d];
            rest /= sc[d];
            int ia = d - (rc - ra), ib = d - (rc - rb);
            if (ia >= 0) {
                at_a += (sa[ia] == 1 ? 0 : coord) * step_a;
                step_a *= sa[ia];
            }
            if (ib >= 0) {
                at_b += (sb[ib] == 1 ? 0 : coord) * step_b;
                step_b *= sb[ib];
            }
        }
        for (int64_t r = 0; r < m; r++)
            for (int64_t col = 0; col < n; col++) {
                double want = 0;
                for (int64_t j = 0; j < k; j++)
                    want += tg_tensor_get(a, at_a * m * k + (ta ? j * m + r : r * k + j)) *
                            tg_tensor_get(b, at_b * k * n + (tb ? col * k + j : j * n + col));
                double got = tg_tensor_get(c, (i * m + r) * n + col);
                cr_assert(fabs(got - want) <= tol * (1 + fabs(want)), "matrix %lld (%lld, %lld): %.9g, expected %.9g",
                          (long long)i, (long long)r, (long long)col, got, want);
            }
    }
}

Test(ops_views, matmul_over_heads_and_broadcast_batches_matches_plain_loops)
{
    for (int dt = TG_F32; dt <= TG_F64; dt++) {
        double tol = dt == TG_F32 ? 1e-5 : 1e-12;
        tg_rng rng = tg_rng_seed(7);
        tg_tensor *q = tg_tensor_randn(ctx, &rng, (tg_dtype)dt, TG_SHAPE(3, 2, 5, 4), 0, 1);
        tg_tensor *k = tg_tensor_randn(ctx, &rng, (tg_dtype)dt, TG_SHAPE(3, 2, 6, 4), 0, 1);
        tg_tensor *kt = tg_tensor_randn(ctx, &rng, (tg_dtype)dt, TG_SHAPE(3, 2, 4, 6), 0, 1);
        tg_tensor *w = tg_tensor_randn(ctx, &rng, (tg_dtype)dt, TG_SHAPE(4, 7), 0, 1);
        tg_tensor *per_head = tg_tensor_randn(ctx, &rng, (tg_dtype)dt, TG_SHAPE(1, 2, 4, 3), 0, 1);
        expect_bmm(q, k, false, true, tg_matmul_t(q, k, false, true), tol);     /* q·kᵀ */
        expect_bmm(q, kt, false, false, tg_matmul(q, kt), tol);                 /* [B,H,T,d]·[B,H,d,T] */
        expect_bmm(q, w, false, false, tg_matmul(q, w), tol);                  /* one GEMM of all rows */
        expect_bmm(k, k, true, false, tg_matmul_t(k, k, true, false), tol);     /* kᵀ·k */
        expect_bmm(q, per_head, false, false, tg_matmul(q, per_head), tol);    /* [1,2,4,3]: per head, shared over B */
        expect_shape(tg_matmul(q, per_head), TG_SHAPE(3, 2, 5, 3));
    }
    tg_tensor *a = tg_tensor_ones(ctx, TG_F32, TG_SHAPE(3, 2, 5, 4)), *b = tg_tensor_ones(ctx, TG_F32, TG_SHAPE(3, 4, 5));
    cr_expect_null(tg_matmul(a, b));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("matmul", "[3, 2, 5, 4]", "[3, 4, 5]", "batch dims differ"));
    cr_expect_null(tg_matmul(a, tg_tensor_ones(ctx, TG_F32, TG_SHAPE(4))));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("matmul", "[4]", "rank 2"));
}

/* The batch shared out over two threads (64 products of 64³, 34 MFLOP in
 * all) gives the products of plain loops. */
Test(ops_views, matmul_threaded_over_the_batch_matches_plain_loops)
{
    tg_ctx *two = tg_ctx_new(2);
    tg_rng rng = tg_rng_seed(3);
    tg_tensor *a = tg_tensor_randn(two, &rng, TG_F32, TG_SHAPE(16, 4, 64, 64), 0, 1);
    tg_tensor *b = tg_tensor_randn(two, &rng, TG_F32, TG_SHAPE(16, 4, 64, 64), 0, 1);
    tg_tensor *c = tg_matmul_t(a, b, false, true);
    cr_assert_not_null(c, "%s", tg_ctx_error(two));
    const float *A = tg_tensor_data(a), *B = tg_tensor_data(b);
    for (int64_t i = 0; i < 64; i += 7) /* spot checks of matrices across the batch */
        for (int64_t r = 0; r < 64; r += 5)
            for (int64_t col = 0; col < 64; col += 3) {
                int64_t at = i * 64 * 64;
                double want = 0;
                for (int64_t j = 0; j < 64; j++)
                    want += (double)A[at + r * 64 + j] * B[at + col * 64 + j];
                cr_assert(fabs(tg_tensor_get(c, (i * 64 + r) * 64 + col) - want) <= 1e-4 * (1 + fabs(want)));
            }
    tg_ctx_free(two);
}

Test(ops_views, dense_module_on_a_sequence_records_no_reshape)
{
    tg_rng rng = tg_rng_seed(1);
    tg_module *dense = tg_module_new(ctx, TG_F64, &(tg_layer_spec){.kind = TG_LAYER_DENSE, .in = 4, .out = 3}, &rng);
    cr_assert_not_null(dense, "%s", tg_ctx_error(ctx));
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(2, 5, 4), 0, 1);
    tg_tensor_set_requires_grad(x, true);
    int64_t before = tg_tape_length(ctx);
    tg_tensor *y = tg_module_forward(dense, x);
    expect_shape(y, TG_SHAPE(2, 5, 3));
    cr_expect_eq(tg_tape_length(ctx) - before, 1, "one linear op, no reshape");
    tg_tensor *flat = tg_module_forward(dense, tg_reshape(x, TG_SHAPE(10, 4)));
    cr_assert_not_null(flat, "%s", tg_ctx_error(ctx));
    for (int64_t i = 0; i < 30; i++)
        cr_expect(fabs(tg_tensor_get(y, i) - tg_tensor_get(flat, i)) < 1e-12);
}

/* ---- a rule's gradient is checked in all six dims ---- */

static tg_status copy_forward(const tg_op_call *c)
{
    return tg_tensor_copy(c->output, c->inputs[0]);
}

/* the gradient of x [1, 1, 1, 1, 2, 3] as [1, 1, 1, 1, 3, 2]: same size, rank
 * and first four dims */
static tg_status transposed_gradient_backward(const tg_op_call *c, tg_tensor *dy, tg_tensor **dx)
{
    (void)c;
    dx[0] = tg_reshape(dy, 6, (const int64_t[]){1, 1, 1, 1, 3, 2});
    return TG_OK;
}

Test(ops_views, a_gradient_that_differs_in_its_fifth_or_sixth_dim_is_refused)
{
    const tg_op *op = tg_op_register(ctx, &(tg_op_def){.name = "misshaped", .forward = copy_forward,
                                                         .backward = transposed_gradient_backward});
    cr_assert_not_null(op, "%s", tg_ctx_error(ctx));
    const int64_t shape[6] = {1, 1, 1, 1, 2, 3};
    tg_tensor *x = tg_tensor_ones(ctx, TG_F64, 6, shape);
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = tg_op_apply(op, 1, &x, NULL);
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_backward(tg_sum(y)), TG_ERR_SHAPE);
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("misshaped", "[1, 1, 1, 1, 3, 2] gradient", "[1, 1, 1, 1, 2, 3]"));
    cr_expect_null(tg_tensor_grad(x));
}
