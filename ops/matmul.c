/* Matrix product, with either operand read transposed in place: backward
 * needs dA = dC·Bᵀ and dB = Aᵀ·dC, and the GEMM packs the transposes for
 * free. Batched over any leading dims with numpy broadcasting: C[i] =
 * op(A[i])·op(B[i]) for every index i of the broadcast batch shape, an
 * operand with a dim of 1 (or none) there shared along it. A stack times
 * one matrix ([B,T,D]·[D,E]) runs as one GEMM of B·T rows. */
#include "autograd/internal.h"
#include "ops/gemm.h"
#include "ops/product_sink.h"

#include <stdio.h>
#include <string.h>

/* The batch walk: output matrix i of `count` sits at i·m·n; its operands at
 * offsets found by splitting i over dims (0 strides on broadcast dims). */
typedef struct {
    int rank;                     /* batch dims */
    int64_t dims[TG_MAX_RANK];
    int64_t stride_a[TG_MAX_RANK], stride_b[TG_MAX_RANK]; /* in matrices */
    int64_t count;
} batch_walk;

static void batch_offsets(const batch_walk *w, int64_t i, int64_t *at_a, int64_t *at_b)
{
    int64_t oa = 0, ob = 0;
    for (int d = w->rank - 1; d >= 0; d--) {
        int64_t c = i % w->dims[d];
        i /= w->dims[d];
        oa += c * w->stride_a[d];
        ob += c * w->stride_b[d];
    }
    *at_a = oa, *at_b = ob;
}

typedef struct {
    const tg_tensor *a, *b;
    tg_tensor *c;
    const batch_walk *walk;
    bool trans_a, trans_b;
    int64_t m, n, k, lda, ldb;
    tg_pool *pool;
    int n_tasks;
} batch_job;

static void product(const batch_job *job, int worker, int64_t i)
{
    int64_t at_a, at_b, m = job->m, n = job->n, k = job->k;
    batch_offsets(job->walk, i, &at_a, &at_b);
    if (job->a->dtype == TG_F32) {
        const float *a = (const float *)job->a->data + at_a * m * k, *b = (const float *)job->b->data + at_b * k * n;
        float *c = (float *)job->c->data + i * m * n;
        if (worker < 0)
            tg_gemm_f32(job->pool, job->trans_a, job->trans_b, m, n, k, 1, a, job->lda, b, job->ldb, 0, c, n);
        else
            tg_gemm_f32_worker(job->pool, worker, job->trans_a, job->trans_b, m, n, k, 1, a, job->lda, b, job->ldb,
                               0, c, n);
    } else {
        const double *a = (const double *)job->a->data + at_a * m * k,
                     *b = (const double *)job->b->data + at_b * k * n;
        double *c = (double *)job->c->data + i * m * n;
        if (worker < 0)
            tg_gemm_f64(job->pool, job->trans_a, job->trans_b, m, n, k, 1, a, job->lda, b, job->ldb, 0, c, n);
        else
            tg_gemm_f64_worker(job->pool, worker, job->trans_a, job->trans_b, m, n, k, 1, a, job->lda, b, job->ldb,
                               0, c, n);
    }
}

/* Task t of n_tasks: a contiguous share of the batch, one matrix at a time
 * on this thread. */
static void batch_share(void *arg, int task, int n_tasks, int worker)
{
    const batch_job *job = arg;
    int64_t count = job->walk->count;
    for (int64_t i = count * task / n_tasks; i < count * (task + 1) / n_tasks; i++)
        product(job, worker, i);
}

tg_tensor *tg_matmul_t(tg_tensor *a, tg_tensor *b, bool trans_a, bool trans_b)
{
    if (!tg_check_pair("matmul", a, b))
        return NULL;
    if (a->rank < 2 || b->rank < 2)
        return tg_ctx_fail(a->ctx, TG_ERR_SHAPE, "matmul: inputs have shapes %s and %s; expected matrices (rank 2) "
                           "or stacks of matrices (rank 3 to %d, leading dims broadcast)", tg_shape_of(a).s,
                           tg_shape_of(b).s, TG_MAX_RANK), NULL;
    const int64_t *sa = a->shape + a->rank - 2, *sb = b->shape + b->rank - 2; /* the matrix dims */
    int64_t m = sa[trans_a], k = sa[!trans_a];
    int64_t kb = sb[trans_b], n = sb[!trans_b];
    /* the batch dims, aligned on the right as numpy does */
    batch_walk walk = {.rank = (a->rank > b->rank ? a->rank : b->rank) - 2, .count = 1};
    bool batch_ok = true;
    int64_t step_a = 1, step_b = 1;
    for (int d = walk.rank - 1; d >= 0; d--) {
        int ia = d - (walk.rank - (a->rank - 2)), ib = d - (walk.rank - (b->rank - 2));
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        batch_ok &= da == db || da == 1 || db == 1;
        walk.dims[d] = da > db ? da : db;
        walk.stride_a[d] = da == 1 ? 0 : step_a;
        walk.stride_b[d] = db == 1 ? 0 : step_b;
        step_a *= da, step_b *= db;
        walk.count *= walk.dims[d];
    }
    int64_t batch_b = step_b; /* b's matrices */
    if (k != kb || !batch_ok)
        return tg_ctx_fail(a->ctx, TG_ERR_SHAPE, "matmul: %s%s · %s%s: %s; expected [..., m, k] · [..., k, n] with "
                           "leading dims that broadcast (equal or 1)", tg_shape_of(a).s, trans_a ? "ᵀ" : "",
                           tg_shape_of(b).s, trans_b ? "ᵀ" : "", k != kb ? "inner dims differ" : "batch dims differ"),
               NULL;
    int64_t shape[TG_MAX_RANK];
    memcpy(shape, walk.dims, (size_t)walk.rank * sizeof *shape);
    shape[walk.rank] = m, shape[walk.rank + 1] = n;
    tg_tensor *c = tg_step_tensor(a->ctx, (tg_dtype)a->dtype, walk.rank + 2, shape, false);
    if (!c)
        return NULL;
    tg_pool *pool = a->ctx->pool;
    const tg_product_sink *sink = a->ctx->product_sink; /* may give the product (ops/product_sink.h) */
    bool given = walk.rank == 0 && sink && sink->give_product &&
                 sink->give_product(sink->user, a, b, trans_a, trans_b, c);
    batch_job job = {.a = a, .b = b, .c = c, .walk = &walk, .trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n,
                     .k = k, .lda = sa[1], .ldb = sb[1], .pool = pool};
    if (given) {
    } else if (batch_b == 1 && !trans_a) {
        /* one matrix for every matrix of a's stack: its rows are one [count·m, k] matrix */
        walk.rank = 0, job.m = m * walk.count, walk.count = 1;
        product(&job, -1, 0);
    } else {
        /* Products under ~96³ multiply-adds run on one thread in the GEMM;
         * a batch of them is shared out over the threads when together they
         * are worth waking them: the small attention (32 products of
         * 32³, 2 MFLOP) ran 1.6x slower shared on 2 threads than on one,
         * each wake costing ~35 µs on a loaded 2-vCPU machine. */
        int threads = tg_pool_threads(pool);
        bool share = threads > 1 && walk.count >= threads && (double)m * (double)n * (double)k < 96.0 * 96 * 96 &&
                     2.0 * (double)walk.count * (double)(m * n * k) >= 2e7;
        if (share) /* shares of a few products each: a thread the machine delays holds up little */
            tg_pool_run(pool, (int)(walk.count < 4 * threads ? walk.count : 4 * threads), batch_share, &job);
        else
            for (int64_t i = 0; i < walk.count; i++)
                product(&job, -1, i);
    }
    tg_attr attr = {.matmul = {trans_a, trans_b}};
    return tg_record(&tg_op_matmul, c, 2, (tg_tensor *[]){a, b}, attr);
}

tg_tensor *tg_matmul(tg_tensor *a, tg_tensor *b) { return tg_matmul_t(a, b, false, false); }

void tg_ctx_set_product_sink(tg_ctx *ctx, const tg_product_sink *sink)
{
    if (ctx)
        ctx->product_sink = sink;
}

/* The context's product sink may take a weight's gradient off the tape
 * (ops/product_sink.h). Not in anomaly mode, whose checks name the rule that
 * made a bad gradient. */
bool tg_weight_grad_offer(tg_tensor *w, tg_tensor *left, tg_tensor *right)
{
    const tg_ctx *ctx = w->ctx;
    const tg_product_sink *sink = ctx->product_sink;
    if (!sink || !sink->take_weight_grad || ctx->grad_enabled || ctx->anomaly || !w->wanted || w->rank != 2 ||
        left->rank != 2 || right->rank != 2 || (w->extra && w->extra->hook))
        return false;
    return sink->take_weight_grad(sink->user, w->wanted - 1, left, right);
}

/* B of a plain A·B or A·Bᵀ gets Aᵀ·dC or dCᵀ·A, leftᵀ·right over the batch
 * rows (a and dc: A and dC with their leading dims folded into rows). */
static bool weight_grad_taken(const tg_node *n, tg_tensor *a, tg_tensor *dc)
{
    if (n->attr.matmul.trans_a)
        return false;
    bool tb = n->attr.matmul.trans_b;
    return tg_weight_grad_offer(n->in[1], tb ? dc : a, tb ? a : dc);
}

void tg_weight_grad_stack(const tg_tensor *left, const tg_tensor *right, double weight, int64_t row,
                          void *stack_left, void *stack_right)
{
    int64_t n = left->shape[0], rows = left->shape[1], cols = right->shape[1];
    TG_TYPED(left->dtype, T, {
        T *l = (T *)stack_left + row * rows;
        const T *src = left->data, a = (T)weight;
        for (int64_t j = 0; j < n * rows; j++)
            l[j] = a * src[j];
        if ((T *)stack_right + row * cols != right->data) /* else right is a view of the stack already */
            memcpy((T *)stack_right + row * cols, right->data, (size_t)(n * cols) * sizeof(T));
    });
}

void tg_weight_grad_product(tg_pool *pool, int worker, tg_dtype dtype, int64_t rows, int64_t cols, int64_t batch,
                            double alpha, const void *left, const void *right, int64_t r0, int64_t r1, void *dst,
                            bool accumulate)
{
    if (r0 >= r1)
        return;
    if (dtype == TG_F32)
        tg_gemm_f32_worker(pool, worker, true, false, r1 - r0, cols, batch, (float)alpha, (const float *)left + r0,
                           rows, right, cols, accumulate ? 1.0f : 0.0f, (float *)dst + r0 * cols, cols);
    else
        tg_gemm_f64_worker(pool, worker, true, false, r1 - r0, cols, batch, alpha, (const double *)left + r0, rows,
                           right, cols, accumulate ? 1.0 : 0.0, (double *)dst + r0 * cols, cols);
}

void tg_weight_input_product(tg_pool *pool, int worker, tg_dtype dtype, int64_t batch, int64_t rows, int64_t cols,
                             const void *x, const void *w, int64_t r0, int64_t r1, void *out)
{
    if (r0 >= r1)
        return;
    if (dtype == TG_F32)
        tg_gemm_f32_worker(pool, worker, false, true, batch, r1 - r0, cols, 1, x, cols, (const float *)w + r0 * cols,
                           cols, 0, (float *)out + r0, rows);
    else
        tg_gemm_f64_worker(pool, worker, false, true, batch, r1 - r0, cols, 1, x, cols, (const double *)w + r0 * cols,
                           cols, 0, (double *)out + r0, rows);
}

/* C = A'B' with A' = op(A), B' = op(B): dA' = dC·B'ᵀ, dB' = A'ᵀ·dC; a
 * transposed operand takes the transpose of its gradient. */
static void matmul_backward(const tg_node *n, tg_tensor *dc, tg_tensor **dx)
{
    tg_tensor *a = n->in[0], *b = n->in[1];
    bool ta = n->attr.matmul.trans_a, tb = n->attr.matmul.trans_b;
    /* a matrix shared by a stack gets the sum of the stack's gradients */
    if (a->requires_grad)
        dx[0] = tg_sum_to(ta ? tg_matmul_t(b, dc, tb, true) : tg_matmul_t(dc, b, false, !tb), a->rank, a->shape);
    if (!b->requires_grad)
        return;
    if (b->rank == 2 && a->rank > 2 && !ta) {
        /* B shared by a stack of A: the sum over the stack is one product
         * of A's and dC's rows (reshapes of step tensors are views) */
        int64_t k = a->shape[a->rank - 1], cols = dc->shape[dc->rank - 1];
        tg_tensor *rows_a = tg_reshape(a, TG_SHAPE(-1, k)), *rows_dc = tg_reshape(dc, TG_SHAPE(-1, cols));
        if (rows_a && rows_dc && !weight_grad_taken(n, rows_a, rows_dc))
            dx[1] = tb ? tg_matmul_t(rows_dc, rows_a, true, false) : tg_matmul_t(rows_a, rows_dc, true, false);
        return;
    }
    if (!weight_grad_taken(n, a, dc))
        dx[1] = tg_sum_to(tb ? tg_matmul_t(dc, a, true, ta) : tg_matmul_t(a, dc, !ta, false), b->rank, b->shape);
}

static void matmul_label(const tg_node *n, char *buf, size_t size)
{
    bool ta = n->attr.matmul.trans_a, tb = n->attr.matmul.trans_b;
    snprintf(buf, size, ta || tb ? "matmul(A%s·B%s)" : "matmul", ta ? "ᵀ" : "", tb ? "ᵀ" : "");
}

/* C = A'·B' (A' = op(A)): δ·B'ᵀ to A', A'ᵀ·δ to B'; a transposed operand
 * takes the transpose. Named X and W unless they have short names. */
static void matmul_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    const char *a = tg_vjp_name(n->in[0], "X"), *b = tg_vjp_name(n->in[1], "W");
    bool ta = n->attr.matmul.trans_a, tb = n->attr.matmul.trans_b;
    if (input == 0 && !ta)
        snprintf(buf, size, "·%s%s", b, tb ? "" : "ᵀ");      /* δ·Bᵀ, or δ·B for A·Bᵀ */
    else if (input == 0)
        snprintf(buf, size, "%s%s·δᵀ", b, tb ? "ᵀ" : "");    /* (δ·B'ᵀ)ᵀ */
    else if (!tb)
        snprintf(buf, size, "%s%s·", a, ta ? "" : "ᵀ");      /* Aᵀ·δ, or A·δ for Aᵀ·B */
    else
        snprintf(buf, size, "δᵀ·%s%s", a, ta ? "ᵀ" : "");    /* (A'ᵀ·δ)ᵀ */
}

const tg_op_desc tg_op_matmul = {.kind = TG_OP_MATMUL, .name = "matmul", .backward = matmul_backward, .label = matmul_label,
                                 .vjp_label = matmul_vjp_label};
