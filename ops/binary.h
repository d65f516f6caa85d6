/* Internal to ops/: the broadcasting binary-op machinery shared by the
 * arithmetic ops (elementwise.c) and the fused gradient ops (activation.c). */
#ifndef TAPEGRAD_OPS_BINARY_H
#define TAPEGRAD_OPS_BINARY_H

#include "autograd/internal.h"

#include <float.h>
#include <math.h>

/* The output of binary op `op` on a and b: checked, broadcast (bc), made. */
tg_tensor *tg_binary_output(const char *op, tg_tensor *a, tg_tensor *b, tg_broadcast *bc);
/* The gradient dy of a broadcast output, summed back to input t's shape. */
tg_tensor *tg_reduce_to(tg_tensor *dy, const tg_tensor *t);

/* Walks the rows of a 4-D index space (dims d, innermost last): k is the
 * row's offset in a full-size contiguous tensor, ROW_OFFSET(s) its offset
 * under strides s (0 on broadcast dims). */
#define FOR_EACH_ROW(d, k)                                    \
    for (int64_t i0 = 0, k = 0; i0 < (d)[0]; i0++)            \
        for (int64_t i1 = 0; i1 < (d)[1]; i1++)               \
            for (int64_t i2 = 0; i2 < (d)[2]; i2++, k += (d)[3])
#define ROW_OFFSET(s) (i0 * (s)[0] + i1 * (s)[1] + i2 * (s)[2])

/* Y[k] = EXPR over the broadcast index space, with x and y naming the two
 * operands. The innermost dim runs as a plain loop for the compiler to
 * vectorize. */
#define BROADCAST_LOOP(bc, out, a, b, EXPR)                                                   \
    TG_TYPED((out)->dtype, T, {                                                               \
        const T *A = (a)->data, *B = (b)->data;                                               \
        T *Y = (out)->data;                                                                   \
        const int64_t *d = (bc)->dims, *sa = (bc)->stride_a, *sb = (bc)->stride_b;            \
        FOR_EACH_ROW(d, k) {                                                                  \
            const T *ra = A + ROW_OFFSET(sa), *rb = B + ROW_OFFSET(sb);                       \
            T *ry = Y + k;                                                                    \
            if (sa[3] && sb[3])                                                               \
                for (int64_t j = 0; j < d[3]; j++) {                                          \
                    T x = ra[j], y = rb[j];                                                   \
                    ry[j] = (EXPR);                                                           \
                }                                                                             \
            else if (sa[3])                                                                   \
                for (int64_t j = 0; j < d[3]; j++) {                                          \
                    T x = ra[j], y = rb[0];                                                   \
                    ry[j] = (EXPR);                                                           \
                }                                                                             \
            else                                                                              \
                for (int64_t j = 0; j < d[3]; j++) {                                          \
                    T x = ra[0], y = rb[sb[3] * j];                                           \
                    ry[j] = (EXPR);                                                           \
                }                                                                             \
        }                                                                                     \
    })

typedef struct {
    const tg_tensor *a, *b;
    tg_tensor *out;
} binary_job;

/* FN(a, b), the public op FN recorded as KIND, with out = EXPR where x and y
 * name a's and b's elements: BINARY_OP(tg_add, &tg_op_add, x + y) defines
 * tg_add. Same shapes take one flat loop, in parallel ranges when big;
 * errors name the op by its descriptor's name. */
#define BINARY_OP(FN, KIND, EXPR)                                         \
    static void FN##_flat(void *arg, int64_t begin, int64_t end)          \
    {                                                                     \
        const binary_job *job = arg;                                      \
        TG_TYPED(job->out->dtype, T, {                                    \
            const T *A = job->a->data, *B = job->b->data;                 \
            T *Y = job->out->data;                                        \
            for (int64_t k = begin; k < end; k++) {                       \
                T x = A[k], y = B[k];                                     \
                Y[k] = (EXPR);                                            \
            }                                                             \
        });                                                               \
    }                                                                     \
    tg_tensor *FN(tg_tensor *a, tg_tensor *b)                             \
    {                                                                     \
        tg_broadcast bc;                                                  \
        tg_tensor *out = tg_binary_output((KIND)->name, a, b, &bc);       \
        if (!out)                                                         \
            return NULL;                                                  \
        if (a->size == out->size && b->size == out->size)                 \
            tg_parallel_range(a->ctx, out->size, FN##_flat, &(binary_job){a, b, out}); \
        else                                                              \
            BROADCAST_LOOP(&bc, out, a, b, EXPR);                         \
        return tg_record2(KIND, out, a, b);                               \
    }

/* ---- kernels with scalar attributes, not yet recorded ----
 * The ops with attributes (pow_scalar, clamp, leaky_relu, ...) and the
 * constant masks that piecewise-linear ops multiply their gradient by use
 * these; the caller records the result with its attributes. */

typedef struct {
    const tg_tensor *x;
    tg_tensor *y;
    double p, q; /* the op's scalars, seen as T p, q by EXPR */
} map_job;

/* A double attribute as T: beyond float's range it saturates to ±Inf (a
 * plain conversion would be undefined behaviour). */
static inline float tg_float_saturate(double v)
{
    return v > FLT_MAX ? INFINITY : v < -FLT_MAX ? -INFINITY : (float)v;
}
#define TG_SCALAR_AS(T, v) (sizeof(T) == sizeof(float) ? (T)tg_float_saturate(v) : (T)(v))

/* name##_map(x, p, q): y[i] = EXPR with v naming x[i], checked and filled
 * (NULL with the error set), in parallel ranges when big. */
#define MAP_KERNEL(name, EXPR)                                                    \
    static void name##_range(void *arg, int64_t begin, int64_t end)               \
    {                                                                             \
        const map_job *job = arg;                                                 \
        TG_TYPED(job->x->dtype, T, {                                              \
            const T *x = job->x->data;                                            \
            T *y = job->y->data;                                                  \
            const T p = TG_SCALAR_AS(T, job->p), q = TG_SCALAR_AS(T, job->q);     \
            (void)p, (void)q;                                                     \
            for (int64_t i = begin; i < end; i++) {                               \
                T v = x[i];                                                       \
                y[i] = (T)(EXPR);                                                 \
            }                                                                     \
        });                                                                       \
    }                                                                             \
    static tg_tensor *name##_map(tg_tensor *x, double p, double q)                \
    {                                                                             \
        tg_tensor *y = tg_check_live(#name, x) ? tg_step_like(x, false) : NULL;   \
        if (y)                                                                    \
            tg_parallel_range(x->ctx, x->size, name##_range, &(map_job){x, y, p, q}); \
        return y;                                                                 \
    }

typedef struct {
    const tg_tensor *a, *b;
    tg_tensor *out;
    double p;
} binary_scalar_job;

/* name##_binary(a, b, p): out = EXPR with x, y naming a's and b's elements
 * and p the scalar (as T), broadcasting; checked (errors name the op
 * `name`) and filled, not recorded. */
#define BINARY_KERNEL(name, EXPR)                                                 \
    static void name##_flat(void *arg, int64_t begin, int64_t end)                \
    {                                                                             \
        const binary_scalar_job *job = arg;                                       \
        TG_TYPED(job->out->dtype, T, {                                            \
            const T *A = job->a->data, *B = job->b->data;                         \
            T *Y = job->out->data;                                                \
            const T p = TG_SCALAR_AS(T, job->p);                                  \
            (void)p;                                                              \
            for (int64_t k = begin; k < end; k++) {                               \
                T x = A[k], y = B[k];                                             \
                Y[k] = (T)(EXPR);                                                 \
            }                                                                     \
        });                                                                       \
    }                                                                             \
    static tg_tensor *name##_binary(tg_tensor *a, tg_tensor *b, double p)         \
    {                                                                             \
        tg_broadcast bc;                                                          \
        tg_tensor *out = tg_binary_output(#name, a, b, &bc);                      \
        (void)p;                                                                  \
        if (!out)                                                                 \
            return NULL;                                                          \
        if (a->size == out->size && b->size == out->size)                         \
            tg_parallel_range(a->ctx, out->size, name##_flat, &(binary_scalar_job){a, b, out, p}); \
        else                                                                      \
            BROADCAST_LOOP(&bc, out, a, b, (T)(EXPR)); /* p: a double here */ \
        return out;                                                               \
    }

#endif
