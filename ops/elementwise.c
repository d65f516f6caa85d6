/* Elementwise arithmetic with numpy broadcasting, the scalar ops, and the two
 * ops that move between broadcast shapes: expand (stretch) and sum_to (its
 * adjoint, which every broadcasting backward uses). */
#include "ops/axis.h"
#include "ops/binary.h"

#include <stdio.h>
#include <string.h>

bool tg_broadcast_shapes(int rank_a, const int64_t *shape_a, int rank_b, const int64_t *shape_b,
                         tg_broadcast *bc)
{
    int rank = rank_a > rank_b ? rank_a : rank_b;
    bc->rank = rank;
    bc->too_many_runs = false;
    /* Walk dims, innermost first: the last two dims stay as they are (row
     * kernels read them); above them, dims of size 1 are dropped and
     * neighbours with the same pattern (full or broadcast, per operand)
     * merged, which keeps the flat order. Rank <= 4 keeps every dim. */
    int64_t run[TG_MAX_RANK], run_a[TG_MAX_RANK], run_b[TG_MAX_RANK];
    int runs = 0;
    for (int d = rank - 1; d >= 0; d--) {
        int ia = d - (rank - rank_a), ib = d - (rank - rank_b);
        int64_t pa = ia >= 0 ? shape_a[ia] : 1, pb = ib >= 0 ? shape_b[ib] : 1;
        if (pa != pb && pa != 1 && pb != 1)
            return false;
        int64_t dim = pa > pb ? pa : pb;
        bc->shape[d] = dim;
        bool kept = rank <= TG_WALK_RANK || d >= rank - 2;
        if (!kept && dim == 1)
            continue;
        if (!kept && runs > 2 && (run_a[runs - 1] == 1) == (pa == 1) && (run_b[runs - 1] == 1) == (pb == 1)) {
            run[runs - 1] *= dim, run_a[runs - 1] *= pa, run_b[runs - 1] *= pb;
        } else {
            run[runs] = dim, run_a[runs] = pa, run_b[runs] = pb;
            runs++;
        }
    }
    if (runs > TG_WALK_RANK)
        return bc->too_many_runs = true, false;
    int64_t sa = 1, sb = 1;
    for (int w = TG_WALK_RANK - 1, r = 0; w >= 0; w--, r++) {
        bc->dims[w] = r < runs ? run[r] : 1;
        bc->stride_a[w] = r < runs && run_a[r] != 1 ? sa : 0;
        bc->stride_b[w] = r < runs && run_b[r] != 1 ? sb : 0;
        if (r < runs)
            sa *= run_a[r], sb *= run_b[r];
    }
    return true;
}

/* The error of a failed tg_broadcast_shapes. */
void tg_broadcast_fail(tg_ctx *ctx, const char *op, const tg_broadcast *bc, int rank_a, const int64_t *a, int rank_b,
                       const int64_t *b)
{
    char sa[96], sb[96];
    tg_shape_str(rank_a, a, sa, sizeof sa);
    tg_shape_str(rank_b, b, sb, sizeof sb);
    if (bc->too_many_runs)
        tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: shapes %s and %s broadcast in more than %d alternating runs of dims; "
                    "expected at most %d (reshape to merge neighbouring dims)", op, sa, sb, TG_WALK_RANK, TG_WALK_RANK);
    else
        tg_ctx_fail(ctx, TG_ERR_SHAPE, "%s: shapes %s and %s do not broadcast (aligned on the right, each pair of "
                    "dims must be equal or one of them 1)", op, sa, sb);
}

tg_tensor *tg_binary_output(const char *op, tg_tensor *a, tg_tensor *b, tg_broadcast *bc)
{
    if (!tg_check_pair(op, a, b))
        return NULL;
    if (tg_shape_equal(a->rank, a->shape, b->rank, b->shape))
        return tg_step_like(a, false); /* same shapes: the flat loop, bc is not needed */
    if (!tg_broadcast_shapes(a->rank, a->shape, b->rank, b->shape, bc))
        return tg_broadcast_fail(a->ctx, op, bc, a->rank, a->shape, b->rank, b->shape), NULL;
    return tg_step_tensor(a->ctx, (tg_dtype)a->dtype, bc->rank, bc->shape, false);
}

tg_tensor *tg_reduce_to(tg_tensor *dy, const tg_tensor *t)
{
    if (dy && tg_tensor_usable(dy) && dy->dtype <= TG_F64 && tg_shape_equal(dy->rank, dy->shape, t->rank, t->shape))
        return dy; /* most gradients: nothing to sum, as in tg_sum_to */
    return tg_sum_to(dy, t->rank, t->shape);
}

BINARY_OP(tg_add, &tg_op_add, x + y)
BINARY_OP(tg_sub, &tg_op_sub, x - y)
BINARY_OP(tg_mul, &tg_op_mul, x * y)
BINARY_OP(tg_div, &tg_op_div, x / y)

static void add_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    if (n->in[0]->requires_grad)
        dx[0] = tg_reduce_to(dy, n->in[0]);
    if (n->in[1]->requires_grad)
        dx[1] = tg_reduce_to(dy, n->in[1]);
}

static void sub_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    if (n->in[0]->requires_grad)
        dx[0] = tg_reduce_to(dy, n->in[0]);
    if (n->in[1]->requires_grad)
        dx[1] = tg_reduce_to(tg_neg(dy), n->in[1]);
}

static void mul_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    if (n->in[0]->requires_grad)
        dx[0] = tg_reduce_to(tg_mul(dy, n->in[1]), n->in[0]);
    if (n->in[1]->requires_grad)
        dx[1] = tg_reduce_to(tg_mul(dy, n->in[0]), n->in[1]);
}

/* y = a/b: da = dy/b, db = -dy·a/b² = -dy·y/b */
static void div_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    if (n->in[0]->requires_grad)
        dx[0] = tg_reduce_to(tg_div(dy, n->in[1]), n->in[0]);
    if (n->in[1]->requires_grad)
        dx[1] = tg_reduce_to(tg_neg(tg_mul(dy, tg_div(n->out, n->in[1]))), n->in[1]);
}

static void add_vjp_label(const tg_node *n, int input, char *buf, size_t size) { tg_vjp_binary_label(n, input, "·1", buf, size); }

static void sub_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    tg_vjp_binary_label(n, input, input == 0 ? "·1" : "·(−1)", buf, size);
}

static void mul_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    char factor[32];
    snprintf(factor, sizeof factor, "⊙%s", tg_vjp_name(n->in[1 - input], input ? "a" : "b"));
    tg_vjp_binary_label(n, input, factor, buf, size);
}

static void div_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    const char *a = tg_vjp_name(n->in[0], "a"), *b = tg_vjp_name(n->in[1], "b");
    char factor[48];
    if (input == 0)
        snprintf(factor, sizeof factor, "⊘%s", b);
    else
        snprintf(factor, sizeof factor, "⊙(−%s/%s²)", a, b);
    tg_vjp_binary_label(n, input, factor, buf, size);
}

const tg_op_desc tg_op_add = {.kind = TG_OP_ADD, .name = "add", .backward = add_backward, .vjp_label = add_vjp_label};
const tg_op_desc tg_op_sub = {.kind = TG_OP_SUB, .name = "sub", .backward = sub_backward, .vjp_label = sub_vjp_label};
const tg_op_desc tg_op_mul = {.kind = TG_OP_MUL, .name = "mul", .backward = mul_backward, .vjp_label = mul_vjp_label};
const tg_op_desc tg_op_div = {.kind = TG_OP_DIV, .name = "div", .backward = div_backward, .vjp_label = div_vjp_label};

/* ---- scalar ops: y = scale·x + shift, one kernel for the three ---- */

static tg_tensor *affine(const tg_op_desc *kind, tg_tensor *x, double scale, double shift)
{
    const char *op = kind->name;
    if (!tg_check_live(op, x))
        return NULL;
    tg_tensor *y = tg_step_like(x, false);
    if (!y)
        return NULL;
    TG_TYPED(x->dtype, T, {
        const T *X = x->data;
        T *Y = y->data;
        T s = (T)scale, c = (T)shift;
        for (int64_t i = 0; i < x->size; i++)
            Y[i] = s * X[i] + c;
    });
    tg_attr attr = {.scalar = kind == &tg_op_mul_scalar ? scale : shift};
    return tg_record(kind, y, 1, (tg_tensor *[]){x}, attr);
}

tg_tensor *tg_neg(tg_tensor *x) { return affine(&tg_op_neg, x, -1, 0); }
tg_tensor *tg_add_scalar(tg_tensor *x, double c) { return affine(&tg_op_add_scalar, x, 1, c); }
tg_tensor *tg_mul_scalar(tg_tensor *x, double c) { return affine(&tg_op_mul_scalar, x, c, 0); }

static void neg_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { (void)n; dx[0] = tg_neg(dy); }
static void add_scalar_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { (void)n; dx[0] = dy; }
static void mul_scalar_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_mul_scalar(dy, n->attr.scalar);
}

static void add_scalar_label(const tg_node *n, char *buf, size_t size)
{
    snprintf(buf, size, n->attr.scalar < 0 ? "- %g" : "+ %g", n->attr.scalar < 0 ? -n->attr.scalar : n->attr.scalar);
}

static void mul_scalar_label(const tg_node *n, char *buf, size_t size) { snprintf(buf, size, "× %g", n->attr.scalar); }

static void neg_vjp_label(const tg_node *n, int input, char *buf, size_t size) { (void)n, (void)input; snprintf(buf, size, "·(−1)"); }
static void add_scalar_vjp_label(const tg_node *n, int input, char *buf, size_t size) { (void)n, (void)input; snprintf(buf, size, "·1"); }
static void mul_scalar_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    (void)input;
    snprintf(buf, size, "·%g", n->attr.scalar);
}

const tg_op_desc tg_op_neg = {.kind = TG_OP_NEG, .name = "neg", .backward = neg_backward, .vjp_label = neg_vjp_label};
const tg_op_desc tg_op_add_scalar = {.kind = TG_OP_ADD_SCALAR, .name = "add_scalar", .backward = add_scalar_backward, .label = add_scalar_label,
                                     .vjp_label = add_scalar_vjp_label};
const tg_op_desc tg_op_mul_scalar = {.kind = TG_OP_MUL_SCALAR, .name = "mul_scalar", .backward = mul_scalar_backward, .label = mul_scalar_label,
                                     .vjp_label = mul_scalar_vjp_label};

/* ---- expand and sum_to ---- */

static bool shapes_equal(int rank_a, const int64_t *a, int rank_b, const int64_t *b)
{
    return tg_shape_equal(rank_a, a, rank_b, b);
}

/* x must broadcast to shape without changing shape: the strides of x in bc. */
static bool broadcast_to(const char *op, const tg_tensor *x, int rank, const int64_t *shape, tg_broadcast *bc)
{
    char want[96];
    if (rank < 0 || rank > TG_MAX_RANK || (rank && !shape))
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "%s: rank %d is out of range (0 to %d)", op, rank, TG_MAX_RANK), false;
    if (tg_broadcast_shapes(x->rank, x->shape, rank, shape, bc) && shapes_equal(bc->rank, bc->shape, rank, shape))
        return true;
    return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: %s does not broadcast to %s", op, tg_shape_of(x).s,
                   tg_shape_str(rank, shape, want, sizeof want)), false;
}

tg_tensor *tg_expand(tg_tensor *x, int rank, const int64_t *shape)
{
    tg_broadcast bc;
    if (!tg_check_tensor("expand", x) || !broadcast_to("expand", x, rank, shape, &bc) ||
        !tg_shape_size_ok(x->ctx, "expand", rank, shape))
        return NULL;
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, rank, shape, false);
    if (!y)
        return NULL;
    if (x->dtype == TG_I64) { /* values moved, not computed: indices too */
        const int64_t *X = x->data, *d = bc.dims, *sx = bc.stride_a;
        int64_t *Y = y->data;
        FOR_EACH_ROW(d, k) {
            const int64_t *row = X + ROW_OFFSET(sx);
            for (int64_t j = 0; j < d[3]; j++)
                Y[k + j] = row[sx[3] * j];
        }
        return y;
    }
    TG_TYPED(x->dtype, T, {
        const T *X = x->data;
        T *Y = y->data;
        const int64_t *d = bc.dims, *sx = bc.stride_a;
        FOR_EACH_ROW(d, k) {
            const T *row = X + ROW_OFFSET(sx);
            for (int64_t j = 0; j < d[3]; j++)
                Y[k + j] = row[sx[3] * j];
        }
    });
    return tg_record1(&tg_op_expand, y, x);
}

/* The adjoint of expand: out[broadcast index] += x[k]. */
tg_tensor *tg_sum_to(tg_tensor *x, int rank, const int64_t *shape)
{
    if (!tg_check_live("sum_to", x))
        return NULL;
    if (rank < 0 || rank > TG_MAX_RANK || (rank && !shape))
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "sum_to: rank %d is out of range (0 to %d)", rank, TG_MAX_RANK), NULL;
    if (shapes_equal(rank, shape, x->rank, x->shape))
        return x; /* nothing to sum: the identity, not an op */
    tg_broadcast bc;
    char want[96];
    if (!tg_broadcast_shapes(rank, shape, x->rank, x->shape, &bc) || !shapes_equal(bc.rank, bc.shape, x->rank, x->shape))
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "sum_to: %s cannot be summed to %s (the target must broadcast to it)",
                       tg_shape_of(x).s, tg_shape_str(rank, shape, want, sizeof want)), NULL;
    tg_tensor *y = tg_step_tensor(x->ctx, (tg_dtype)x->dtype, rank, shape, true);
    if (!y)
        return NULL;
    /* the common case, a bias's gradient: x [..., n] summed over its rows
     * into [n] (or [1, ..., n]), a block of columns at a time */
    int lead = 0;
    while (lead < rank && shape[lead] == 1)
        lead++;
    bool rows = rank - lead <= x->rank && y->size > 0;
    for (int d = lead; d < rank && rows; d++)
        rows = shape[d] == x->shape[x->rank - rank + d];
    if (rows && x->dtype == TG_F32 && tg_sum_rows_f32(x->data, x->size / y->size, y->size, 1, y->data))
        return tg_record1(&tg_op_sum_to, y, x);
    TG_TYPED(x->dtype, T, {
        const T *X = x->data;
        T *Y = y->data;
        const int64_t *d = bc.dims, *so = bc.stride_a;
        FOR_EACH_ROW(d, k) {
            T *row = Y + ROW_OFFSET(so);
            if (so[3]) {
                for (int64_t j = 0; j < d[3]; j++)
                    row[j] += X[k + j];
            } else {
                T total = 0;
                for (int64_t j = 0; j < d[3]; j++)
                    total += X[k + j];
                row[0] += total;
            }
        }
    });
    return tg_record1(&tg_op_sum_to, y, x);
}

static void expand_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx) { dx[0] = tg_reduce_to(dy, n->in[0]); }

static void sum_to_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    dx[0] = tg_expand(dy, n->in[0]->rank, n->in[0]->shape);
}

static void shape_label(const char *name, const tg_node *n, char *buf, size_t size)
{
    char shape[64];
    snprintf(buf, size, "%s %s", name, tg_shape_str(n->out->rank, n->out->shape, shape, sizeof shape));
}

static void expand_label(const tg_node *n, char *buf, size_t size) { shape_label("expand to", n, buf, size); }
static void sum_to_label(const tg_node *n, char *buf, size_t size) { shape_label("sum to", n, buf, size); }

static void expand_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    tg_vjp_sum_note(n->in[input], n->out, buf, size);
}

static void sum_to_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    char shape[64];
    snprintf(buf, size, "copy to %s", tg_shape_str(n->in[input]->rank, n->in[input]->shape, shape, sizeof shape));
}

const tg_op_desc tg_op_expand = {.kind = TG_OP_EXPAND, .name = "expand", .backward = expand_backward, .label = expand_label,
                                 .vjp_label = expand_vjp_label};
const tg_op_desc tg_op_sum_to = {.kind = TG_OP_SUM_TO, .name = "sum_to", .backward = sum_to_backward, .label = sum_to_label,
                                 .vjp_label = sum_to_vjp_label};
