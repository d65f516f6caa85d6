/* Internal to the library: the structures behind the public handles and the
 * helpers every op file uses. Not installed. */
#ifndef TAPEGRAD_INTERNAL_H
#define TAPEGRAD_INTERNAL_H

#include "tapegrad/core.h"
#include "tapegrad/op.h"
#include "tapegrad/ops.h"
#include "autograd/threads.h"

#include <stdarg.h>
#include <stdio.h>

enum tg_lifetime { TG_LIFE_PERSISTENT, TG_LIFE_STEP, TG_LIFE_FREED };

/* What few tensors have: a gradient of their own (leaves), a name, a hook, and (persistent tensors) the links
 * of the context's list. Kept beside the header, so that the header of a step
 * tensor, made for every op of every step, stays small. Persistent tensors
 * carry theirs behind the header; a step tensor gets one from step memory
 * when it is first named or hooked. */
typedef struct {
    tg_tensor *grad;     /* accumulated gradient (leaves), same lifetime as the tensor */
    char *name;
    tg_hook_fn hook;
    void *hook_user;
    tg_tensor *next;     /* persistent: the context's list; freed: the free list */
    tg_tensor *prev;
} tg_tensor_extra;

/* 88 bytes: every op writes one per output and backward one per gradient, so
 * the tape's speed is mostly this header's size in memory traffic (a scalar
 * step tensor with its value: 96 bytes, 160 before the extra moved aside). */
struct tg_tensor {
    tg_ctx *ctx;
    void *data;
    tg_tensor *pending;  /* gradient being summed during one backward pass */
    tg_tensor_extra *extra; /* grad, name, hook, list links; NULL for most step tensors */
    int64_t size;
    int32_t creator;     /* tape index of the op that made it, -1 for leaves */
    uint32_t epoch;      /* step tensors: the tape epoch they belong to */
    int32_t wanted;      /* tg_grad: 1 + index in its inputs, 0 otherwise */
    uint8_t rank;
    uint8_t dtype;
    uint8_t lifetime;
    bool requires_grad : 1;
    bool grad_zeroed : 1; /* grad is logically zero; its buffer is stale */
    /* backward made it as the sum of a tensor's gradient contributions and it
     * is still that tensor's pending sum, seen by no rule yet: later
     * contributions may be added in place */
    bool grad_sum : 1;
    bool in_block : 1;    /* its data starts a block of backward's recycled memory (tg_recycler) */
    int64_t shape[TG_MAX_RANK];
};

static inline const char *tg_name_of(const tg_tensor *t) { return t->extra ? t->extra->name : NULL; }
static inline tg_tensor *tg_grad_of(const tg_tensor *t) { return t->extra ? t->extra->grad : NULL; }
/* t's extra, made in step memory on first use for a step tensor; NULL (and
 * the context's error) when out of memory. */
tg_tensor_extra *tg_extra_of(tg_tensor *t);
static inline tg_hook_fn tg_hook_of(const tg_tensor *t) { return t->extra ? t->extra->hook : NULL; }

typedef struct tg_node tg_node;
typedef struct tg_product_sink tg_product_sink; /* ops/product_sink.h */

/* Per-op attributes saved on the tape. Ops with more than fit here keep a
 * struct of their own in step memory (tg_attr_store) and point at it. */
typedef union {
    double scalar;                           /* ADD_SCALAR, MUL_SCALAR, POW_SCALAR, ... */
    struct { double low, high; } bounds;     /* CLAMP */
    struct { int axis; bool keepdim; } reduce; /* SUM_AXIS, MEAN_AXIS */
    struct { bool trans_a, trans_b; } matmul;
    struct { int axis0, axis1; } transpose;
    const void *data;                        /* a block from tg_attr_store */
} tg_attr;

/* An op's descriptor: what the tape needs to differentiate it and draw it.
 * backward sets dx[i] (NULL means zero) for the inputs that require a
 * gradient, using ops only, so that the same rule runs plain in backward and
 * is recorded under create_graph. Built-in ops define one each in their file
 * (listed in TG_OP_LIST); user ops get one from tg_op_define. */
typedef struct tg_op_desc {
    tg_op_kind kind;   /* TG_OP_USER for user ops */
    const char *name;
    void (*backward)(const tg_node *node, tg_tensor *dy, tg_tensor **dx);
    /* Optional label with attributes for diagrams; NULL uses name. */
    void (*label)(const tg_node *node, char *buf, size_t size);
    const void *user;  /* user ops: their definition */
    /* Optional: the vector-Jacobian product of edge `input` as a short formula
     * applied to the upstream δ ("·Wᵀ", "⊙σ(z)(1−σ(z))", "Σ over batch"),
     * for diagrams; NULL draws "∂/∂x<i>". */
    void (*vjp_label)(const tg_node *node, int input, char *buf, size_t size);
    /* Optional, for anomaly mode: true when the NaN or Inf at flat index
     * `index` of the output is what the op was asked for (masked_fill's −∞
     * at a masked position), not an anomaly; NULL: every one is reported. */
    bool (*anomaly_allows)(const tg_node *node, int64_t index);
} tg_op_desc;

/* One tape entry. in points into step memory, so a copy of the node stays
 * valid while the tape itself grows (backward rules record ops). */
struct tg_node {
    const tg_op_desc *op;
    int n_in;
    /* a tg_backward pass went through it: another would add the same
     * gradients to .grad again (tg_backward_retain leaves it false) */
    bool walked;
    tg_tensor **in;
    tg_tensor *out;
    tg_attr attr;
};

#define TG_OP_DECLARE(NAME, name) extern const tg_op_desc tg_op_##name;
TG_OP_LIST(TG_OP_DECLARE)
#undef TG_OP_DECLARE

/* An op defined by a user (tapegrad/op.h, ops/user.c): one malloc at
 * registration, on its context's list until tg_ctx_free. */
struct tg_op {
    tg_op *next;
    tg_ctx *ctx;
    tg_op_def def;         /* the caller's, copied; def.name points at name */
    tg_op_desc desc;       /* on the tape for every call */
    tg_op_desc raw_grad;   /* backward_raw only: the op that records its results */
    char name[64];
    char raw_grad_name[80]; /* name + "_backward" */
};

/* Objects the layers above build in a context (modules, models) and the
 * context frees in tg_ctx_free when their owner did not: newest first, before
 * any tensor is freed, so free_fn may free the object's tensors. */
typedef struct tg_owned {
    struct tg_owned *next;
    void *obj;
    void (*free_fn)(void *obj);
} tg_owned;
/* Puts obj on ctx's list; TG_ERR_NOMEM (on ctx) when the entry cannot be made. */
tg_status tg_ctx_adopt(tg_ctx *ctx, void *obj, void (*free_fn)(void *obj));
/* Takes obj off ctx's list (its owner frees it); a no-op when it is not on it. */
void tg_ctx_disown(tg_ctx *ctx, const void *obj);

typedef struct tg_arena_chunk tg_arena_chunk;
struct tg_arena_chunk {
    tg_arena_chunk *next;
    size_t size, used;
    _Alignas(64) unsigned char bytes[];
};

/* Step memory: chunks kept across resets (no malloc once a loop is warm). */
typedef struct {
    tg_arena_chunk *chunks;
    tg_arena_chunk *current;
    tg_arena_chunk *retired; /* checked mode: earlier steps' chunks, freed with the context */
} tg_arena;

/* Backward's recycled memory. A plain tg_backward frees what it made as it
 * goes: a gradient once its tensor's rule has read it and no pending sum
 * holds it, a rule's temporaries once the rule is done. Big step tensors
 * made during the pass live in blocks; a freed block serves a later request
 * of the same pass (best fit), and the arena takes every block back at
 * tg_tape_reset. Forward values are never recycled: they stay readable until
 * the reset, as documented. Off under create_graph, tg_grad, recording and
 * checked mode, where gradients outlive the rule that read them. */
typedef struct tg_block tg_block;
struct tg_block {
    tg_block *next_free;      /* on the free list */
    tg_block *next_candidate; /* on the candidates list */
    tg_block *before, *after; /* the blocks split off the same piece of arena, in address order */
    size_t bytes;        /* room for data, which follows the header; a multiple of 64 */
    int32_t holds;       /* pending sums whose data is this block */
    bool listed;         /* on the candidates list */
    bool idle;           /* on the free list */
    bool pinned;         /* a gradient hook saw it: the user may keep it */
};
typedef struct {
    bool on;
    tg_block *free;        /* blocks to reuse */
    tg_block *candidates;  /* made or let go since the last sweep */
} tg_recycler;
enum { TG_BLOCK_HEADER = 64, TG_RECYCLE_MIN_BYTES = 4096 };

/* A backward pass as it ran, kept while recording is on
 * (tg_backward_set_recording) for the step-through page: per tape entry
 * reached, the δ that arrived and, per input edge, what was sent down and the
 * input's gradient summed so far. Values are copied (as doubles, in values[]),
 * so the log never points at step memory. */
typedef struct {
    int64_t tape_index;
    int64_t upstream;    /* offset in values of the δ that arrived (out->size numbers) */
    int64_t first_edge;  /* its edges: edges[first_edge .. first_edge + n_in) */
    int n_in;
} tg_record_step;
typedef struct {
    int64_t sent;        /* offset in values of the contribution, -1: none sent */
    int64_t total;       /* offset of the input's gradient summed so far, -1: none */
} tg_record_edge;
typedef struct {
    const tg_tensor *output; /* the tensor backward ran from, in epoch */
    uint32_t epoch;
    bool complete;           /* the pass ended without error */
    tg_record_step *steps;
    int64_t n_steps, cap_steps;
    tg_record_edge *edges;
    int64_t n_edges, cap_edges;
    double *values;
    int64_t n_values, cap_values;
} tg_backward_record;
void tg_backward_record_free(tg_backward_record *record);

struct tg_ctx {
    tg_arena memory;         /* step memory: data, tape inputs, attributes */
    /* Step tensor headers and nothing else, each chunk an array of
     * tg_tensor: a stale step pointer always lands on a header, either its
     * own (an earlier epoch: reported) or a later step's (the documented
     * alias); never on data that a later step wrote over it. */
    tg_arena headers;
    tg_node *tape;
    int64_t tape_len, tape_cap;
    tg_tensor **scratch;     /* backward's list of leaves reached */
    int64_t scratch_len, scratch_cap;
    tg_tensor persistent;    /* sentinel of the persistent tensors' list */
    tg_tensor_extra persistent_links; /* the sentinel's links */
    tg_tensor *freed;        /* headers of freed tensors, reused */
    tg_pool *pool;
    tg_op *user_ops;         /* registered user ops, newest first */
    struct tg_owned *owned;  /* objects built above the core (tg_ctx_adopt), newest first */
    uint32_t epoch;
    bool checked;            /* tg_ctx_set_checked: nothing of a step is reused */
    tg_tensor *retired_headers; /* checked mode: freed persistent headers, never reused */
    bool grad_enabled;
    bool anomaly;
    bool recording;          /* tg_backward logs into record */
    tg_backward_record *record;
    int64_t backward_node;   /* tape entry whose backward rule is running, -1 */
    tg_recycler recycler;
    /* matmul's extension slot (ops/product_sink.h): a sink that makes or
     * takes its products; NULL, the default: none */
    const tg_product_sink *product_sink;
    tg_status status;
    char error[512];
    const char *api_entry; /* the public function the user called, while it runs others (autograd/entry.h) */
    tg_error_fn on_error;
    void *on_error_user;
};

/* ---- dtype-generic kernels ----
 * TG_TYPED runs its body once with T = float or T = double; with <tgmath.h>,
 * exp/log/tanh then pick the precision of T. */
#define TG_TYPED(dtype, T, ...)        \
    do {                               \
        if ((dtype) == TG_F32) {       \
            typedef float T;           \
            __VA_ARGS__                \
        } else {                       \
            typedef double T;          \
            __VA_ARGS__                \
        }                              \
    } while (0)

/* Runs body(arg, begin, end) over [0, n): split across the context's pool
 * when n is large enough to pay for waking the threads, else inline. */
typedef void (*tg_range_fn)(void *arg, int64_t begin, int64_t end);
void tg_parallel_range_pool(tg_ctx *ctx, int64_t n, tg_range_fn body, void *arg);
enum { TG_PARALLEL_MIN = 1 << 16 }; /* below this, waking threads costs more than it saves */
static inline void tg_parallel_range(tg_ctx *ctx, int64_t n, tg_range_fn body, void *arg)
{
    if (n < TG_PARALLEL_MIN)
        body(arg, 0, n);
    else
        tg_parallel_range_pool(ctx, n, body, arg);
}

static inline size_t tg_dtype_size(tg_dtype dtype) { return dtype == TG_F32 ? 4 : 8; }
static inline bool tg_dtype_is_float(tg_dtype dtype) { return dtype == TG_F32 || dtype == TG_F64; }

/* ---- errors (raised with the public tg_ctx_fail) ---- */
/* t as "W1 [5, 3]" (named) or "[5, 3]" in a small buffer, for messages. */
typedef struct { char s[112]; } tg_shape_text;
tg_shape_text tg_shape_of(const tg_tensor *t);

/* Checks t is usable by op: not NULL, not freed. NULL t returns false quietly
 * when the context already holds an error (the chain stops there). */
bool tg_check_tensor_report(const char *op, const tg_tensor *t);
bool tg_check_live_report(const char *op, const tg_tensor *t);
/* The checks run on every input of every op: the test is inline, the
 * reporting (and any unusual case) out of line. */
static inline bool tg_tensor_usable(const tg_tensor *t)
{
    return t && (t->lifetime == TG_LIFE_PERSISTENT || (t->lifetime == TG_LIFE_STEP && t->epoch == t->ctx->epoch));
}
static inline bool tg_check_tensor(const char *op, const tg_tensor *t)
{
    return tg_tensor_usable(t) || tg_check_tensor_report(op, t);
}
/* tg_check_tensor, and t holds floating values (the ops that compute). */
static inline bool tg_check_live(const char *op, const tg_tensor *t)
{
    return (tg_tensor_usable(t) && t->dtype <= TG_F64) || tg_check_live_report(op, t);
}
/* Checks a and b are live floating tensors of one context and one dtype. */
bool tg_check_pair_report(const char *op, const tg_tensor *a, const tg_tensor *b);
static inline bool tg_check_pair(const char *op, const tg_tensor *a, const tg_tensor *b)
{
    return (tg_tensor_usable(a) && tg_tensor_usable(b) && a->ctx == b->ctx && a->dtype == b->dtype &&
            a->dtype <= TG_F64) || tg_check_pair_report(op, a, b);
}
/* Equal ranks and dims (a loop: the ranks are at most 6, a memcmp call costs more). */
static inline bool tg_shape_equal(int rank_a, const int64_t *a, int rank_b, const int64_t *b)
{
    if (rank_a != rank_b)
        return false;
    for (int i = 0; i < rank_a; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

/* ---- memory ---- */
/* align: a power of two up to 64. NULL + error (on ctx) when out of memory. */
void *tg_arena_alloc_slow(tg_ctx *ctx, tg_arena *arena, size_t bytes, size_t align);
static inline void *tg_arena_take(tg_ctx *ctx, tg_arena *arena, size_t bytes, size_t align)
{
    tg_arena_chunk *c = arena->current;
    if (c) { /* the common case: room in the current chunk */
        size_t start = (c->used + align - 1) & ~(align - 1);
        if (start + bytes <= c->size) {
            c->used = start + bytes;
            return c->bytes + start;
        }
    }
    return tg_arena_alloc_slow(ctx, arena, bytes, align);
}
/* Step memory for anything but a tensor header. */
static inline void *tg_arena_alloc(tg_ctx *ctx, size_t bytes, size_t align)
{
    return tg_arena_take(ctx, &ctx->memory, bytes, align);
}
/* One step tensor header (uninitialised). */
static inline tg_tensor *tg_header_alloc(tg_ctx *ctx)
{
    _Static_assert(sizeof(tg_tensor) % 8 == 0, "headers tile their chunks");
    return tg_arena_take(ctx, &ctx->headers, sizeof(tg_tensor), 8);
}
/* Data for a step tensor of `bytes` from the recycler (recycler.on), or
 * NULL (error set) when out of memory. */
void *tg_recycle_take(tg_ctx *ctx, size_t bytes);
static inline tg_block *tg_block_of(const tg_tensor *t)
{
    return t->in_block ? (tg_block *)(void *)((char *)t->data - TG_BLOCK_HEADER) : NULL;
}
/* A pending sum took t (hold) or let it go (release). */
static inline void tg_recycle_hold(tg_tensor *t)
{
    tg_block *b = tg_block_of(t);
    if (b)
        b->holds++;
}
void tg_recycle_release(tg_ctx *ctx, tg_tensor *t);
/* Frees every candidate block that nothing holds. */
void tg_recycle_sweep(tg_ctx *ctx);
/* A rule's temporary t, read for the last time: its block is free at once
 * (when recycling, and nothing holds or pinned it). Never for a tensor the
 * rule returns or passes on. */
void tg_recycle_drop(tg_tensor *t);
void tg_recycle_start(tg_ctx *ctx);
void tg_recycle_stop(tg_ctx *ctx);
/* A step tensor; data zeroed only when zero is set. */
tg_tensor *tg_step_tensor(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape, bool zero);
/* The same with slack bytes of room behind the data (user ops put a guard
 * pattern there to catch a kernel writing past the end). */
tg_tensor *tg_step_tensor_slack(tg_ctx *ctx, tg_dtype dtype, int rank, const int64_t *shape, bool zero, size_t slack);
/* A step tensor of the given shape (x's size; checked by the caller) whose
 * values are x's buffer, shared: for x a step tensor of the current step,
 * which lives exactly as long. Writes through either show in both, so only
 * the caller's own fresh results may be written after it is made. */
tg_tensor *tg_step_view(tg_tensor *x, int rank, const int64_t *shape);
/* Same shape and dtype as t. */
tg_tensor *tg_step_like(const tg_tensor *t, bool zero);
/* The most elements a tensor may have: 2^40, so that every element and byte
 * count (x 8) fits in int64_t and size_t with room to spare. */
#define TG_MAX_ELEMENTS ((int64_t)1 << 40)
/* Elements of a shape, multiplied with overflow checks: -1 when a dim is
 * negative or the product passes TG_MAX_ELEMENTS. */
static inline int64_t tg_shape_size_checked(int rank, const int64_t *shape)
{
    int64_t size = 1;
    for (int i = 0; i < rank; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(size, shape[i], &size) || size > TG_MAX_ELEMENTS)
            return -1;
    return size;
}
/* tg_shape_size_checked, and the context's TG_ERR_SHAPE naming who when it
 * fails. */
bool tg_shape_size_ok(tg_ctx *ctx, const char *who, int rank, const int64_t *shape);
static inline int64_t tg_shape_size(int rank, const int64_t *shape)
{
    int64_t size = 1;
    for (int i = 0; i < rank; i++)
        size *= shape[i];
    return size;
}
/* A point in the step memory and the tape to roll back to: tools that run a
 * graph many times (gradcheck) free each run's tensors without touching the
 * user's step. */
typedef struct {
    tg_arena_chunk *chunk, *header_chunk;
    size_t used, header_used;
    int64_t tape_len;
} tg_arena_mark;
tg_arena_mark tg_arena_get_mark(const tg_ctx *ctx);
void tg_arena_rewind(tg_ctx *ctx, tg_arena_mark mark);

/* ---- the tape ---- */
/* Records op on the tape when grad mode is on and an input requires a
 * gradient; runs the anomaly check; returns out (NULL if either failed).
 * Any number of inputs; they are copied to step memory. */
/* tg_record's out-of-line part: anomaly mode, or grad mode on and an input
 * requiring a gradient (checked by the caller). */
tg_tensor *tg_record_entry(const tg_op_desc *op, tg_tensor *out, int n_in, tg_tensor *const *in, const tg_attr *attr);
/* Every op ends here: the cases with nothing to record or check (backward
 * without create_graph, no-grad mode, no input requiring a gradient) are
 * decided inline, where n_in is mostly a constant. */
static inline bool tg_record_needed(const tg_tensor *out, int n_in, tg_tensor *const *in)
{
    const tg_ctx *ctx = out->ctx;
    if (ctx->anomaly)
        return true; /* the result is checked even when nothing is recorded */
    if (!ctx->grad_enabled)
        return false;
    bool needed = false;
    for (int i = 0; i < n_in; i++)
        needed |= in[i]->requires_grad;
    return needed;
}
static inline tg_tensor *tg_record(const tg_op_desc *op, tg_tensor *out, int n_in, tg_tensor *const *in, tg_attr attr)
{
    return out && tg_record_needed(out, n_in, in) ? tg_record_entry(op, out, n_in, in, &attr) : out;
}
/* Convenience for the common cases. */
static inline tg_tensor *tg_record1(const tg_op_desc *op, tg_tensor *out, tg_tensor *x)
{
    return out && tg_record_needed(out, 1, &x) ? tg_record_entry(op, out, 1, &x, NULL) : out;
}
static inline tg_tensor *tg_record2(const tg_op_desc *op, tg_tensor *out, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[2] = {a, b};
    return out && tg_record_needed(out, 2, in) ? tg_record_entry(op, out, 2, in, NULL) : out;
}
/* A copy of an op's attribute block in step memory, for tg_attr.data (NULL
 * with the context's error set when out of memory). */
const void *tg_attr_store(tg_ctx *ctx, const void *attr, size_t size);

/* ---- VJP labels (tg_op_desc.vjp_label) ---- */
/* A tensor's name for a formula: its name, or its last '.'-part, when short
 * enough to read in a formula ("W", "h1", "x_t"); else fallback. */
const char *tg_vjp_name(const tg_tensor *t, const char *fallback);
/* ", Σ over batch" (or ", Σ over axes 0, 2") when input `in` was broadcast to
 * out and its gradient is summed back; "" when the shapes match. Returns buf. */
const char *tg_vjp_sum_note(const tg_tensor *in, const tg_tensor *out, char *buf, size_t size);
/* A broadcasting op's label: factor ("⊙b"), then the sum note when input was
 * broadcast ("⊙b, Σ over batch"; a factor of "·1" is then left out). */
void tg_vjp_binary_label(const tg_node *node, int input, const char *factor, char *buf, size_t size);
/* Defines NAME_vjp_label for a one-input elementwise op: FORMAT takes the
 * input's short name twice (use %.0s to skip the second): "⊙cos(%s)%.0s". */
#define TG_VJP_MAP_LABEL(NAME, FORMAT)                                                  \
    static void NAME##_vjp_label(const tg_node *n, int input, char *buf, size_t size)  \
    {                                                                                 \
        const char *z = tg_vjp_name(n->in[input], "z");                               \
        snprintf(buf, size, FORMAT, z, z);                                            \
    }

/* ---- for code that runs tapes side by side (data-parallel training) ---- */
/* tg_grad without its zeros: an input the pass did not reach gets NULL. */
tg_status tg_grad_reached(tg_tensor *output, int n_inputs, tg_tensor *const *inputs, tg_tensor **grads);
/* The context's thread pool (NULL for a NULL ctx). */
tg_pool *tg_ctx_pool(const tg_ctx *ctx);
/* Points t's values at data (a buffer of t's size: another tensor's, so that
 * both share one array) and returns the buffer t had, which the caller gives
 * back before t is freed. */
void *tg_tensor_share_data(tg_tensor *t, void *data);

/* In-place accumulate: dst += src, same size and dtype (no recording). */
void tg_accumulate(tg_tensor *dst, const tg_tensor *src);

/* Numpy broadcasting of two shapes. Kernels walk it as TG_WALK_RANK dims
 * (padded with 1s on the left): neighbouring dims that both operands hold in
 * full, or that one of them broadcasts alike, are merged, which keeps the
 * flat order, so any broadcast of rank <= 4 and most beyond walk in 4 loops.
 * One that needs more runs is refused (too_many_runs). */
#define TG_WALK_RANK 4
typedef struct {
    int rank;
    bool too_many_runs;                   /* why tg_broadcast_shapes failed, for the message */
    int64_t shape[TG_MAX_RANK];           /* output shape (rank dims) */
    int64_t dims[TG_WALK_RANK];           /* the walk's dims, merged and padded to 4 */
    int64_t stride_a[TG_WALK_RANK], stride_b[TG_WALK_RANK]; /* 0 on broadcast dims */
} tg_broadcast;
bool tg_broadcast_shapes(int rank_a, const int64_t *shape_a, int rank_b, const int64_t *shape_b,
                         tg_broadcast *out);
/* The error (on ctx, naming op and both shapes) of a failed tg_broadcast_shapes. */
void tg_broadcast_fail(tg_ctx *ctx, const char *op, const tg_broadcast *bc, int rank_a, const int64_t *a, int rank_b,
                       const int64_t *b);

#endif
