/* tapegrad/core.h: contexts, tensors, the tape and backward.
 *
 * State lives in an explicit context (tg_ctx): its tape, its memory, its error,
 * its grad mode and its thread pool. There is no global mutable state, so two
 * threads may train two models at once, each with its own context. One context
 * must not be used by two threads at the same time.
 *
 * Tensors come in two lifetimes:
 *  - persistent: made by tg_tensor_new/zeros/ones/full/from/rand/randn; they live
 *    until tg_tensor_free or tg_ctx_free (parameters, datasets, batch buffers);
 *  - step: every op result and every tg_tensor_temp; they live in the context's
 *    arena until tg_tape_reset, which frees them all at once and keeps the memory
 *    for the next step (no malloc per op once a training loop is warm).
 *
 * Using a tensor after it is freed is reported (TG_ERR_FREED), and no use of
 * a stale handle crashes, in any mode. A freed persistent header is kept by
 * the context and caught until a new persistent tensor reuses it; a step
 * tensor from an earlier step is caught until a later step makes as many
 * tensors as came before it in its own step. Past that point the stale
 * pointer reads as the later step's tensor that took its header's place (an
 * alias, as in any C allocator, but never garbage: headers have memory of
 * their own, which values never overwrite). So drop pointers to step tensors
 * at tg_tape_reset. To find such a use, run in checked mode
 * (tg_ctx_set_checked): nothing is reused, so every stale use is reported.
 *
 * Every function given NULL for a pointer argument returns its documented
 * error value (NULL, NaN, -1, false, a status) and never crashes; a call that
 * has a context records the error there.
 */
#ifndef TAPEGRAD_CORE_H
#define TAPEGRAD_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's API: the shared library is built with hidden
 * visibility and exports the functions declared with TG_API, no others
 * (a test compares its symbol table with these headers). */
#if defined(__GNUC__)
#define TG_API __attribute__((visibility("default")))
#else
#define TG_API
#endif

#define TG_MAX_RANK 6

typedef struct tg_ctx tg_ctx;
typedef struct tg_tensor tg_tensor;

/* Element types. TG_I64 holds indices and class labels: ops that compute
 * take f32 or f64, index ops and losses take TG_I64 where they need
 * indices, and an integer tensor never requires a gradient. */
typedef enum { TG_F32, TG_F64, TG_I64 } tg_dtype;
TG_API const char *tg_dtype_name(tg_dtype dtype); /* "f32", "f64", "i64" */

typedef enum {
    TG_OK = 0,
    TG_ERR_SHAPE,   /* shapes do not fit the op */
    TG_ERR_ARG,     /* a bad argument: NULL, axis out of range, mixed dtypes, ... */
    TG_ERR_FREED,   /* a tensor used after tg_tensor_free or tg_tape_reset */
    TG_ERR_GRAD,    /* backward misuse: no gradient to seed, nothing recorded, ... */
    TG_ERR_ANOMALY, /* anomaly mode found a NaN or Inf */
    TG_ERR_NOMEM,
    TG_ERR_IO,      /* a file could not be read or written */
    TG_ERR_FORMAT,  /* a file is corrupt, truncated or does not match */
} tg_status;

/* Shape literal for the calls that take (rank, shape): TG_SHAPE(64, 784). */
#define TG_SHAPE(...) \
    (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__}

/* ---- context ---------------------------------------------------------- */

/* A context with n_threads worker threads for big kernels (<= 0: one per CPU).
 * NULL only when out of memory. */
TG_API tg_ctx *tg_ctx_new(int n_threads);
/* Frees the context and every tensor it owns. NULL is fine. */
TG_API void tg_ctx_free(tg_ctx *ctx);
TG_API int tg_ctx_threads(const tg_ctx *ctx); /* 0 for NULL */
/* Bytes of step memory (values, saved attributes, headers) the step has taken
 * since the last tg_tape_reset: its high-water mark, since a backward pass
 * reuses the memory it frees without giving it back. -1 for NULL. */
TG_API int64_t tg_ctx_step_bytes(const tg_ctx *ctx);
/* Checked mode, for debugging stale pointers: tg_tape_reset sets the step's
 * memory aside instead of reusing it, and tg_tensor_free never hands a header
 * out again, so every use of a step tensor of an earlier step and of a freed
 * tensor is reported (TG_ERR_FREED), however late. Memory then grows with
 * every step until tg_ctx_free: a debugging mode, not for long runs. Off by
 * default; the fast path pays nothing for it (one test per reset). A
 * context option rather than a build option, so that a test or a debugger
 * session can turn it on for one context of an ordinary build. Returns the
 * previous mode (false for NULL). */
TG_API bool tg_ctx_set_checked(tg_ctx *ctx, bool checked);
/* Runs fn(arg, task) for every task in [0, n_tasks) on the context's threads
 * (the caller's included) and returns when all are done. Task t below the
 * thread count goes first to thread t (the caller is thread 0), so repeated
 * runs keep a task's data in one core's cache; a thread with nothing left
 * takes any task not yet started, so a task must never wait for another; a
 * task's own big kernels on this context then run on its thread alone. Tasks
 * run in the caller's floating-point mode. Errors: NULL ctx or fn (TG_ERR_ARG). */
TG_API tg_status tg_ctx_run_tasks(tg_ctx *ctx, int n_tasks, void (*fn)(void *arg, int task), void *arg);

/* Subnormal floats (below 1.2e-38 in float32) take a slow path in x86
 * arithmetic, often 10-100x. tg_train computes with them flushed to zero (the
 * x86 FTZ and DAZ bits, on its own thread and the pool's) and restores the
 * caller's mode before it returns; tg_optim_step does the same around its
 * update, and stores tiny moments as zero. These two calls do the same for a loop of one's own: the
 * previous mode is returned for tg_fp_mode_restore. No-ops off x86. */
typedef struct { unsigned bits; } tg_fp_mode;
TG_API tg_fp_mode tg_fp_flush_subnormals(void);
TG_API void tg_fp_mode_restore(tg_fp_mode mode);

/* Frees every step tensor and clears the tape; persistent tensors live on.
 * Memory is kept for the next step. */
TG_API void tg_tape_reset(tg_ctx *ctx);
/* Number of ops recorded on the tape since the last reset (-1 for NULL). */
TG_API int64_t tg_tape_length(const tg_ctx *ctx);

/* Grad mode: when off, ops record nothing (inference). Returns the previous mode. */
TG_API bool tg_grad_set_enabled(tg_ctx *ctx, bool enabled);
TG_API bool tg_grad_enabled(const tg_ctx *ctx);

/* Anomaly mode: every op output and every gradient is scanned; the first NaN
 * or Inf is an error naming the op, its shape and the first bad index. */
TG_API void tg_anomaly_set_enabled(tg_ctx *ctx, bool enabled);

/* ---- errors ------------------------------------------------------------
 * A failing call sets the context's error (the first one sticks until cleared)
 * and returns NULL or a status; an op given a NULL input returns NULL, so a
 * chain of ops can be checked once at its end. */
TG_API tg_status tg_ctx_status(const tg_ctx *ctx);  /* TG_ERR_ARG for NULL */
TG_API const char *tg_ctx_error(const tg_ctx *ctx); /* "" when no error; "NULL context" for NULL */
TG_API void tg_ctx_clear_error(tg_ctx *ctx);
/* Called with every error as it is raised; the default is
 * tg_error_print_default. NULL makes errors silent (they are still stored);
 * tg_ctx_set_error_handler(ctx, tg_error_print_default, NULL) restores the
 * default after that. */
typedef void (*tg_error_fn)(void *user, tg_status status, const char *message);
TG_API void tg_ctx_set_error_handler(tg_ctx *ctx, tg_error_fn fn, void *user);
/* The default handler: prints "tapegrad: <status name>: <message>" to stderr
 * (user is unused; a NULL message prints as ""). A handler of your own may
 * call it to print as well. */
TG_API void tg_error_print_default(void *user, tg_status status, const char *message);
TG_API const char *tg_status_name(tg_status status);
/* Raises an error on ctx (for code built on tapegrad: layers, loaders, ...):
 * stored if it is the first, passed to the handler. Returns status (also for
 * a NULL ctx, which stores nothing). */
TG_API tg_status tg_ctx_fail(tg_ctx *ctx, tg_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- random numbers --------------------------------------------------------
 * xoshiro256** seeded by splitmix64: the same stream on every platform. */
typedef struct { uint64_t s[4]; } tg_rng;
TG_API tg_rng tg_rng_seed(uint64_t seed);
TG_API uint64_t tg_rng_next(tg_rng *rng);
TG_API double tg_rng_uniform(tg_rng *rng);             /* [0, 1), 53 random bits */
TG_API double tg_rng_normal(tg_rng *rng);              /* mean 0, sd 1 (polar method) */
TG_API uint64_t tg_rng_below(tg_rng *rng, uint64_t n); /* uniform in [0, n), unbiased */

/* ---- tensors ----------------------------------------------------------
 * Row-major, contiguous, rank 0..6 (TG_MAX_RANK). Constructors return NULL on bad shapes. */
TG_API tg_tensor *tg_tensor_new(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape); /* zeros */
TG_API tg_tensor *tg_tensor_zeros(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape);
TG_API tg_tensor *tg_tensor_ones(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape);
TG_API tg_tensor *tg_tensor_full(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape, double value);
/* values: size(shape) doubles, converted to dtype (TG_I64: each must be a
 * whole number within ±2^53, else TG_ERR_ARG). */
TG_API tg_tensor *tg_tensor_from(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape, const double *values);
TG_API tg_tensor *tg_tensor_scalar(tg_ctx *ctx, tg_dtype dtype, double value);
TG_API tg_tensor *tg_tensor_rand(tg_ctx *ctx, tg_rng *rng, tg_dtype dtype, int rank, const int64_t *shape,
                          double low, double high);
TG_API tg_tensor *tg_tensor_randn(tg_ctx *ctx, tg_rng *rng, tg_dtype dtype, int rank, const int64_t *shape,
                           double mean, double stddev);
/* rand/randn: f32 or f64 only. A step tensor (zeros): lives until tg_tape_reset. */
TG_API tg_tensor *tg_tensor_temp(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape);
/* torch.arange: the step tensor [start, start + step, ...] of the values
 * below end (above it for a negative step), ceil((end - start) / step) of
 * them, each start + i·step computed in double then rounded to dtype. i64
 * takes whole numbers within ±2^53. Errors: TG_ERR_ARG (a NaN or infinite
 * bound, step 0, a fraction for i64), TG_ERR_SHAPE (no element, or more
 * than 2^40); NULL ctx returns NULL. */
TG_API tg_tensor *tg_arange(tg_ctx *ctx, tg_dtype dtype, double start, double end, double step);
/* A persistent copy of t's values (no gradient, no history). */
TG_API tg_tensor *tg_tensor_clone(const tg_tensor *t);
/* Frees a persistent tensor and its gradient. Step tensors are freed by
 * tg_tape_reset only; freeing one is an error. NULL is fine. */
TG_API void tg_tensor_free(tg_tensor *t);

/* Accessors. Given NULL they return NULL, (tg_dtype)-1, -1, NaN or do
 * nothing; given a freed or stale tensor (TG_ERR_FREED) or an index outside
 * the tensor (TG_ERR_ARG) they set the tensor's context's error and return
 * the same. */
TG_API tg_ctx *tg_tensor_ctx(const tg_tensor *t);
TG_API tg_dtype tg_tensor_dtype(const tg_tensor *t);
TG_API int tg_tensor_rank(const tg_tensor *t);
TG_API const int64_t *tg_tensor_shape(const tg_tensor *t);
/* axis < 0 counts from the end; -1 for an axis outside -rank..rank-1 (TG_ERR_ARG). */
TG_API int64_t tg_tensor_dim(const tg_tensor *t, int axis);
TG_API int64_t tg_tensor_size(const tg_tensor *t);          /* number of elements */
TG_API void *tg_tensor_data(tg_tensor *t);                  /* float*, double* or int64_t* by dtype */
TG_API const void *tg_tensor_data_const(const tg_tensor *t);
TG_API double tg_tensor_get(const tg_tensor *t, int64_t flat_index); /* as double; NaN on error */
TG_API void tg_tensor_set(tg_tensor *t, int64_t flat_index, double value);
TG_API double tg_tensor_item(const tg_tensor *t);           /* the value of a one-element tensor */
/* Copies values between tensors of the same size (dtypes may differ).
 * Errors: TG_ERR_ARG (NULL dst, or NULL src: in dst's context), TG_ERR_FREED,
 * TG_ERR_SHAPE. */
TG_API tg_status tg_tensor_copy(tg_tensor *dst, const tg_tensor *src);
TG_API void tg_tensor_fill(tg_tensor *t, double value);
/* Writes "[2, 3]" into buf; returns buf. */
TG_API char *tg_shape_str(int rank, const int64_t *shape, char *buf, size_t size);

/* Optional name, shown in errors and diagrams. The string is copied. */
TG_API void tg_tensor_set_name(tg_tensor *t, const char *name);
TG_API const char *tg_tensor_name(const tg_tensor *t);

/* ---- gradients -------------------------------------------------------- */

/* Marks a leaf as a parameter whose gradient backward accumulates. */
TG_API void tg_tensor_set_requires_grad(tg_tensor *t, bool requires_grad);
TG_API bool tg_tensor_requires_grad(const tg_tensor *t);
/* True for tensors made by a recorded op (they have a creator on the tape). */
TG_API bool tg_tensor_is_recorded(const tg_tensor *t);
/* The accumulated gradient (same shape and dtype and lifetime as t), NULL before
 * the first backward that reached t. */
TG_API tg_tensor *tg_tensor_grad(const tg_tensor *t);
TG_API void tg_tensor_zero_grad(tg_tensor *t);

/* Seeds d loss/d loss = 1 for a one-element loss and accumulates d loss/d leaf
 * into every leaf that requires a gradient, summing over every use.
 * One pass per tape entry: a second tg_backward that reaches an entry an
 * earlier one walked since tg_tape_reset is refused (TG_ERR_GRAD, naming the
 * entry; no .grad changes), since it would add the same gradients again and
 * silently double them, as PyTorch refuses a second backward. Two losses of
 * one step whose graphs do not meet may each run their own pass. */
TG_API tg_status tg_backward(tg_tensor *loss);
/* The same for any output, with an upstream gradient of its shape (NULL for a
 * one-element output). */
TG_API tg_status tg_backward_with(tg_tensor *output, tg_tensor *upstream);
/* tg_backward_with that leaves the entries it walks open for another pass,
 * which then adds its gradients to .grad once more (PyTorch's
 * retain_graph=True): for two losses that share part of a graph. */
TG_API tg_status tg_backward_retain(tg_tensor *output, tg_tensor *upstream);
/* Turns the backward log on or off for ctx: while on, each tg_backward and
 * tg_backward_with keeps a copy of every δ and every contribution (memory
 * grows with the graph; tg_grad is never logged), which
 * tg_backward_page_save (tapegrad/dot.h) shows step by step. Returns the previous
 * setting; false for a NULL ctx. */
TG_API bool tg_backward_set_recording(tg_ctx *ctx, bool enabled);

/* d output/d inputs[i] into grads[i] (step tensors; zeros where an input does
 * not reach output) without touching any .grad. With create_graph the gradient
 * computation is itself recorded, so grads can be differentiated again
 * (second derivatives, Hessian-vector products). upstream as in
 * tg_backward_with. */
TG_API tg_status tg_grad(tg_tensor *output, tg_tensor *upstream, int n_inputs, tg_tensor *const *inputs,
                  tg_tensor **grads, bool create_graph);

/* A hook sees a tensor's full gradient during backward, once it is summed over
 * all uses, and may return a replacement (a tensor of the same shape) or NULL
 * to keep it. One hook per tensor; fn NULL removes it. */
typedef tg_tensor *(*tg_hook_fn)(tg_tensor *t, tg_tensor *grad, void *user);
TG_API void tg_tensor_set_hook(tg_tensor *t, tg_hook_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
