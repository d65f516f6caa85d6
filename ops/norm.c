/* Layer and RMS normalisation over the last axis, fused: one kernel for
 * y = x̂·γ + β where each row of x [..., C] is normalised to x̂, and the VJP of
 * the normalisation x -> x̂ as an op of its own (layer_norm_backward,
 * rms_norm_backward), whose backward rule is made of ops again, so the pair
 * differentiates to any order.
 *
 * Per row of C values, with ε > 0 keeping σ finite for a constant row:
 *   layer norm:  μ = mean(x), r = (mean((x-μ)²) + ε)^(-1/2), x̂ = (x - μ)·r
 *   rms norm:             r = (mean(x²) + ε)^(-1/2),       x̂ = x·r
 * The Jacobian J = ∂x̂/∂x is symmetric in both cases:
 *   layer norm:  J = r(I - 11ᵀ/C - x̂x̂ᵀ/C)     rms norm:  J = r(I - x̂x̂ᵀ/C)
 * so the VJP N(g, x) = J·g is one op:
 *   layer norm:  N = r(g - mean(g) - x̂·mean(g⊙x̂))
 *   rms norm:    N = r(g - x̂·mean(g⊙x̂)) */
#include "ops/norm.h"
#include "ops/binary.h"
#include "ops/rows.h"

#include <stdio.h>
#include <tgmath.h>

typedef struct {
    double eps;
    bool has_gamma, has_beta;
} norm_attr;

/* ---- kernels ---- */

typedef struct {
    const tg_tensor *x, *gamma, *beta, *g; /* g: the backward op's upstream (NULL in forward) */
    tg_tensor *y;
    int64_t cols;
    double eps;
    bool center; /* layer norm; rms norm does not subtract the mean */
} norm_job;

/* The row reductions add into NORM_LANES independent partial sums, lane l
 * taking elements l, l + NORM_LANES, ...: written as a loop over a lane
 * array, which gcc and clang turn into vector adds without reassociating
 * anything themselves (a plain float sum is one dependency chain, 4 cycles an
 * element). The lanes are then added pairwise. Each partial sum holds
 * C/NORM_LANES terms, so the rounding error is no worse than the one chain's. */
#define NORM_LANES 16

/* Σ f over j in [0, cols), f an expression in the index j, into total. */
#define NORM_ROW_SUM(T, cols, total, f)                                    \
    do {                                                                   \
        T lane_[NORM_LANES] = {0};                                         \
        int64_t full_ = (cols) / NORM_LANES * NORM_LANES;                  \
        for (int64_t base_ = 0; base_ < full_; base_ += NORM_LANES)        \
            for (int l_ = 0; l_ < NORM_LANES; l_++) {                      \
                int64_t j = base_ + l_;                                    \
                lane_[l_] += (f);                                          \
            }                                                              \
        for (int64_t j = full_; j < (cols); j++)                           \
            lane_[j - full_] += (f);                                       \
        for (int w_ = NORM_LANES / 2; w_ > 0; w_ /= 2)                     \
            for (int l_ = 0; l_ < w_; l_++)                                \
                lane_[l_] += lane_[l_ + w_];                               \
        (total) = lane_[0];                                                \
    } while (0)

/* The row's mean μ (0 for rms norm) and r. Two passes over a row that sits
 * in L1: the centred variance is exact where Σx² - Cμ² would cancel. */
#define NORM_ROW_STATS(T, row, cols, center, eps, mu, r)                   \
    do {                                                                   \
        T total_ = 0, squares_;                                            \
        if (center) {                                                      \
            NORM_ROW_SUM(T, cols, total_, (row)[j]);                       \
            (mu) = total_ / (T)(cols);                                     \
        }                                                                  \
        T mu_ = (mu);                                                      \
        NORM_ROW_SUM(T, cols, squares_, ((row)[j] - mu_) * ((row)[j] - mu_)); \
        (r) = 1 / sqrt(squares_ / (T)(cols) + (T)(eps));                   \
    } while (0)

/* y = x̂·γ + β, rows [begin, end) of x [rows, cols] */
#define NORM_FORWARD_ROWS(T)                                                      \
    {                                                                             \
        int64_t cols = job->cols;                                                 \
        const T *gamma = job->gamma ? (const T *)job->gamma->data : NULL;         \
        const T *beta = job->beta ? (const T *)job->beta->data : NULL;            \
        for (int64_t i = begin; i < end; i++) {                                   \
            const T *x = (const T *)job->x->data + i * cols;                      \
            T *y = (T *)job->y->data + i * cols;                                  \
            T mu = 0, r;                                                          \
            NORM_ROW_STATS(T, x, cols, job->center, job->eps, mu, r);             \
            if (gamma && beta)                                                    \
                for (int64_t j = 0; j < cols; j++)                                \
                    y[j] = (x[j] - mu) * r * gamma[j] + beta[j];                  \
            else if (gamma)                                                       \
                for (int64_t j = 0; j < cols; j++)                                \
                    y[j] = (x[j] - mu) * r * gamma[j];                            \
            else if (beta)                                                        \
                for (int64_t j = 0; j < cols; j++)                                \
                    y[j] = (x[j] - mu) * r + beta[j];                             \
            else                                                                  \
                for (int64_t j = 0; j < cols; j++)                                \
                    y[j] = (x[j] - mu) * r;                                       \
        }                                                                         \
    }

/* dx = N(g, x) = r(g - [mean(g)] - x̂·mean(g⊙x̂)), rows [begin, end) */
#define NORM_BACKWARD_ROWS(T)                                                                         \
    {                                                                                                 \
        int64_t cols = job->cols;                                                                     \
        for (int64_t i = begin; i < end; i++) {                                                       \
            const T *x = (const T *)job->x->data + i * cols, *g = (const T *)job->g->data + i * cols; \
            T *dx = (T *)job->y->data + i * cols;                                                     \
            T mu = 0, r, g_total = 0, gx_total;                                                       \
            NORM_ROW_STATS(T, x, cols, job->center, job->eps, mu, r);                                 \
            if (job->center)                                                                          \
                NORM_ROW_SUM(T, cols, g_total, g[j]);                                                 \
            NORM_ROW_SUM(T, cols, gx_total, g[j] * ((x[j] - mu) * r));                                \
            T g_mean = g_total / (T)cols, gx_mean = gx_total / (T)cols;                               \
            for (int64_t j = 0; j < cols; j++)                                                        \
                dx[j] = r * (g[j] - g_mean - (x[j] - mu) * r * gx_mean);                              \
        }                                                                                             \
    }

/* One body, compiled for the baseline ISA and, on x86-64, again for
 * AVX-512 (16 floats a vector where SSE2 has 4), picked on each call. */
static void norm_forward_f32(const norm_job *job, int64_t begin, int64_t end) NORM_FORWARD_ROWS(float)
static void norm_forward_f64(const norm_job *job, int64_t begin, int64_t end) NORM_FORWARD_ROWS(double)
static void norm_backward_f32(const norm_job *job, int64_t begin, int64_t end) NORM_BACKWARD_ROWS(float)
static void norm_backward_f64(const norm_job *job, int64_t begin, int64_t end) NORM_BACKWARD_ROWS(double)
#if defined(__x86_64__) && defined(__GNUC__)
#define NORM_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx2")))
NORM_AVX512 static void norm_forward_f32_avx512(const norm_job *job, int64_t begin, int64_t end) NORM_FORWARD_ROWS(float)
NORM_AVX512 static void norm_forward_f64_avx512(const norm_job *job, int64_t begin, int64_t end) NORM_FORWARD_ROWS(double)
NORM_AVX512 static void norm_backward_f32_avx512(const norm_job *job, int64_t begin, int64_t end) NORM_BACKWARD_ROWS(float)
NORM_AVX512 static void norm_backward_f64_avx512(const norm_job *job, int64_t begin, int64_t end) NORM_BACKWARD_ROWS(double)
static bool norm_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
}
#endif

static void norm_forward_rows(void *arg, int64_t begin, int64_t end)
{
    const norm_job *job = arg;
    bool f32 = job->x->dtype == TG_F32;
#if defined(__x86_64__) && defined(__GNUC__)
    if (norm_avx512()) {
        (f32 ? norm_forward_f32_avx512 : norm_forward_f64_avx512)(job, begin, end);
        return;
    }
#endif
    (f32 ? norm_forward_f32 : norm_forward_f64)(job, begin, end);
}

static void norm_backward_rows(void *arg, int64_t begin, int64_t end)
{
    const norm_job *job = arg;
    bool f32 = job->x->dtype == TG_F32;
#if defined(__x86_64__) && defined(__GNUC__)
    if (norm_avx512()) {
        (f32 ? norm_backward_f32_avx512 : norm_backward_f64_avx512)(job, begin, end);
        return;
    }
#endif
    (f32 ? norm_backward_f32 : norm_backward_f64)(job, begin, end);
}

/* ---- forward ---- */

static bool check_eps(const char *op, const tg_tensor *x, double eps)
{
    if (!(eps >= 0 && isfinite(eps)))
        return tg_ctx_fail(x->ctx, TG_ERR_ARG, "%s: eps is %g; expected a finite number >= 0", op, eps), false;
    return true;
}

/* gamma or beta (role): NULL, or a vector [C] matching x's last axis */
static bool check_affine(const char *op, const char *role, const tg_tensor *x, const tg_tensor *p)
{
    if (!p)
        return true;
    if (!tg_check_pair(op, x, p))
        return false;
    if (p->rank != 1 || p->shape[0] != x->shape[x->rank - 1])
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: x %s with %s %s; expected %s [%lld], the size of x's last axis",
                           op, tg_shape_of(x).s, role, tg_shape_of(p).s, role, (long long)x->shape[x->rank - 1]), false;
    return true;
}

bool tg_norm_check(const char *op, const tg_tensor *x, const tg_tensor *gamma, const tg_tensor *beta, double eps)
{
    return check_eps(op, x, eps) && check_affine(op, "gamma", x, gamma) && check_affine(op, "beta", x, beta);
}

static tg_tensor *norm_forward(const tg_op_desc *kind, tg_tensor *x, tg_tensor *gamma, tg_tensor *beta, double eps)
{
    const char *op = kind->name;
    bool center = kind == &tg_op_layer_norm;
    if (!tg_check_live(op, x))
        return NULL;
    if (x->rank == 0)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: x is a scalar; expected at least one axis to normalise over",
                           op), NULL;
    if (!tg_norm_check(op, x, gamma, beta, eps))
        return NULL;
    tg_tensor *y = tg_step_like(x, false);
    if (!y)
        return NULL;
    int64_t cols = x->shape[x->rank - 1];
    if (cols > 0) {
        norm_job job = {.x = x, .gamma = gamma, .beta = beta, .y = y, .cols = cols, .eps = eps, .center = center};
        tg_parallel_rows(x->ctx, x->size / cols, cols, norm_forward_rows, &job);
    }
    tg_tensor *in[3] = {x};
    int n_in = 1;
    if (gamma)
        in[n_in++] = gamma;
    if (beta)
        in[n_in++] = beta;
    if (!tg_record_needed(y, n_in, in))
        return y;
    norm_attr attr = {.eps = eps, .has_gamma = gamma != NULL, .has_beta = beta != NULL};
    const void *stored = tg_attr_store(x->ctx, &attr, sizeof attr);
    if (!stored)
        return NULL;
    return tg_record(kind, y, n_in, in, (tg_attr){.data = stored});
}

tg_tensor *tg_layer_norm(tg_tensor *x, tg_tensor *gamma, tg_tensor *beta, double eps)
{
    return norm_forward(&tg_op_layer_norm, x, gamma, beta, eps);
}

tg_tensor *tg_rms_norm(tg_tensor *x, tg_tensor *gamma, double eps)
{
    return norm_forward(&tg_op_rms_norm, x, gamma, NULL, eps);
}

/* ---- the VJP of the normalisation, as an op ---- */

static tg_tensor *norm_vjp(const tg_op_desc *kind, tg_tensor *g, tg_tensor *x, double eps)
{
    const char *op = kind->name;
    if (!tg_check_pair(op, g, x) || !check_eps(op, x, eps))
        return NULL;
    if (x->rank == 0)
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: x is a scalar; expected at least one axis", op), NULL;
    if (!tg_shape_equal(g->rank, g->shape, x->rank, x->shape))
        return tg_ctx_fail(x->ctx, TG_ERR_SHAPE, "%s: gradient %s and x %s; expected equal shapes", op,
                           tg_shape_of(g).s, tg_shape_of(x).s), NULL;
    tg_tensor *dx = tg_step_like(x, false);
    if (!dx)
        return NULL;
    int64_t cols = x->shape[x->rank - 1];
    if (cols > 0) {
        norm_job job = {.x = x, .g = g, .y = dx, .cols = cols, .eps = eps,
                        .center = kind == &tg_op_layer_norm_backward};
        tg_parallel_rows(x->ctx, x->size / cols, cols, norm_backward_rows, &job);
    }
    return tg_record(kind, dx, 2, (tg_tensor *[]){g, x}, (tg_attr){.scalar = eps});
}

tg_tensor *tg_layer_norm_backward(tg_tensor *g, tg_tensor *x, double eps)
{
    return norm_vjp(&tg_op_layer_norm_backward, g, x, eps);
}

tg_tensor *tg_rms_norm_backward(tg_tensor *g, tg_tensor *x, double eps)
{
    return norm_vjp(&tg_op_rms_norm_backward, g, x, eps);
}

/* ---- backward rules ---- */

static const norm_attr *attr_of(const tg_node *n) { return n->attr.data; }

/* dx = N(dy⊙γ, x);  dγ = Σ_rows dy⊙x̂ (x̂ recomputed by the op itself, so it
 * stays a function of x under create_graph);  dβ = Σ_rows dy */
void tg_norm_vjp(tg_tensor *dy, tg_tensor *x, tg_tensor *gamma, tg_tensor *beta, double eps, bool center,
                 tg_tensor **dx, tg_tensor **dgamma, tg_tensor **dbeta)
{
    if (x->requires_grad) {
        tg_tensor *g = gamma ? tg_mul(dy, gamma) : dy;
        *dx = center ? tg_layer_norm_backward(g, x, eps) : tg_rms_norm_backward(g, x, eps);
    }
    if (gamma && gamma->requires_grad) {
        tg_tensor *x_hat = center ? tg_layer_norm(x, NULL, NULL, eps) : tg_rms_norm(x, NULL, eps);
        *dgamma = tg_reduce_to(tg_mul(dy, x_hat), gamma);
    }
    if (beta && beta->requires_grad)
        *dbeta = tg_reduce_to(dy, beta);
}

static void norm_backward(const tg_node *n, tg_tensor *dy, tg_tensor **dx)
{
    const norm_attr *a = attr_of(n);
    tg_tensor *gamma = a->has_gamma ? n->in[1] : NULL, *beta = a->has_beta ? n->in[1 + a->has_gamma] : NULL;
    tg_norm_vjp(dy, n->in[0], gamma, beta, a->eps, n->op == &tg_op_layer_norm, &dx[0], &dx[1],
                &dx[1 + a->has_gamma]);
}

/* r = (mean((x-μ)²) + ε)^(-1/2) (layer norm) or (mean(x²) + ε)^(-1/2), [..., 1],
 * made of ops: a function of x for the derivatives of the VJP. */
static tg_tensor *inverse_std(tg_tensor *x, double eps, bool center)
{
    tg_tensor *xc = center ? tg_sub(x, tg_mean_axis(x, -1, true)) : x;
    return tg_pow_scalar(tg_add_scalar(tg_mean_axis(tg_mul(xc, xc), -1, true), eps), -0.5);
}

/* The op is out = N(g, x) = J(x)·g, linear in g with J symmetric. For the
 * upstream G:
 *   dg = N(G, x)
 *   dx = -r·mean(G⊙out)·x̂ - r·N(m·G + a·g, x),  m = mean(g⊙x̂), a = mean(G⊙x̂)
 * (δ of r(g - [ḡ] - x̂m) with δr = -r²·mean(x̂⊙δx) and δx̂ = J·δx). */
static void norm_vjp_backward(const tg_node *n, tg_tensor *G, tg_tensor **dx)
{
    bool center = n->op == &tg_op_layer_norm_backward;
    double eps = n->attr.scalar;
    tg_tensor *g = n->in[0], *x = n->in[1];
    tg_tensor *(*vjp)(tg_tensor *, tg_tensor *, double) = center ? tg_layer_norm_backward : tg_rms_norm_backward;
    if (g->requires_grad)
        dx[0] = vjp(G, x, eps);
    if (x->requires_grad) {
        tg_tensor *x_hat = center ? tg_layer_norm(x, NULL, NULL, eps) : tg_rms_norm(x, NULL, eps);
        tg_tensor *r = inverse_std(x, eps, center);
        tg_tensor *m = tg_mean_axis(tg_mul(g, x_hat), -1, true), *a = tg_mean_axis(tg_mul(G, x_hat), -1, true);
        tg_tensor *first = tg_mul(tg_mul(r, tg_mean_axis(tg_mul(G, n->out), -1, true)), x_hat);
        tg_tensor *second = tg_mul(r, vjp(tg_add(tg_mul(m, G), tg_mul(a, g)), x, eps));
        dx[1] = tg_neg(tg_add(first, second));
    }
}

/* ---- labels ---- */

static void norm_label(const tg_node *n, char *buf, size_t size)
{
    const norm_attr *a = attr_of(n);
    snprintf(buf, size, "%s(ε=%g%s%s)", n->op->name, a->eps, a->has_gamma ? ", γ" : "", a->has_beta ? ", β" : "");
}

static void norm_vjp_op_label(const tg_node *n, char *buf, size_t size)
{
    snprintf(buf, size, "%s(ε=%g)", n->op->name, n->attr.scalar);
}

static void norm_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    const norm_attr *a = attr_of(n);
    bool center = n->op == &tg_op_layer_norm;
    const char *gamma = a->has_gamma ? tg_vjp_name(n->in[1], "γ") : NULL;
    if (input == 0 && center)
        snprintf(buf, size, "δ'=δ%s%s → r(δ' − mean δ' − x̂·mean(δ'⊙x̂))", gamma ? "⊙" : "", gamma ? gamma : "");
    else if (input == 0)
        snprintf(buf, size, "δ'=δ%s%s → r(δ' − x̂·mean(δ'⊙x̂))", gamma ? "⊙" : "", gamma ? gamma : "");
    else if (input == 1 && gamma)
        snprintf(buf, size, "⊙x̂, Σ over rows");
    else
        snprintf(buf, size, "Σ over rows");
}

static void norm_vjp_vjp_label(const tg_node *n, int input, char *buf, size_t size)
{
    bool center = n->op == &tg_op_layer_norm_backward;
    if (input == 0)
        snprintf(buf, size, "%s", center ? "r(δ − mean δ − x̂·mean(δ⊙x̂))" : "r(δ − x̂·mean(δ⊙x̂))");
    else
        snprintf(buf, size, "−r·mean(δ⊙y)·x̂ − r·N(mδ + a·g)");
}

const tg_op_desc tg_op_layer_norm = {.kind = TG_OP_LAYER_NORM, .name = "layer_norm", .backward = norm_backward,
                                     .label = norm_label, .vjp_label = norm_vjp_label};
const tg_op_desc tg_op_rms_norm = {.kind = TG_OP_RMS_NORM, .name = "rms_norm", .backward = norm_backward,
                                   .label = norm_label, .vjp_label = norm_vjp_label};
const tg_op_desc tg_op_layer_norm_backward = {.kind = TG_OP_LAYER_NORM_BACKWARD, .name = "layer_norm_backward",
                                              .backward = norm_vjp_backward, .label = norm_vjp_op_label,
                                              .vjp_label = norm_vjp_vjp_label};
const tg_op_desc tg_op_rms_norm_backward = {.kind = TG_OP_RMS_NORM_BACKWARD, .name = "rms_norm_backward",
                                            .backward = norm_vjp_backward, .label = norm_vjp_op_label,
                                            .vjp_label = norm_vjp_vjp_label};
