/* The context: step memory (an arena kept across resets), the tape, modes and
 * errors. */
#include "autograd/internal.h"
#include "autograd/entry.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TG_ARENA_MIN_CHUNK = 1 << 20, TG_ALIGN = 64 };

void tg_error_print_default(void *user, tg_status status, const char *message)
{
    (void)user;
    fprintf(stderr, "tapegrad: %s: %s\n", tg_status_name(status), message ? message : "");
}

tg_ctx *tg_ctx_new(int n_threads)
{
    tg_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->pool = tg_pool_new(n_threads);
    if (!ctx->pool) {
        free(ctx);
        return NULL;
    }
    ctx->persistent.extra = &ctx->persistent_links;
    ctx->persistent_links.next = ctx->persistent_links.prev = &ctx->persistent;
    ctx->grad_enabled = true;
    ctx->backward_node = -1;
    ctx->epoch = 1;
    ctx->on_error = tg_error_print_default;
    return ctx;
}

void tg_ctx_free(tg_ctx *ctx)
{
    if (!ctx)
        return;
    while (ctx->owned) { /* off the list first: free_fn disowns, and may free other owned objects */
        tg_owned *o = ctx->owned;
        ctx->owned = o->next;
        void *obj = o->obj;
        void (*free_fn)(void *) = o->free_fn;
        free(o);
        free_fn(obj);
    }
    while (ctx->persistent_links.next != &ctx->persistent)
        tg_tensor_free(ctx->persistent_links.next);
    for (tg_tensor *t = ctx->freed, *next; t; t = next) {
        next = t->extra->next;
        free(t);
    }
    for (tg_tensor *t = ctx->retired_headers, *next; t; t = next) {
        next = t->extra->next;
        free(t);
    }
    tg_arena_chunk *lists[] = {ctx->memory.chunks, ctx->memory.retired, ctx->headers.chunks, ctx->headers.retired};
    for (size_t l = 0; l < sizeof lists / sizeof *lists; l++)
        for (tg_arena_chunk *c = lists[l], *next; c; c = next) {
            next = c->next;
            free(c);
        }
    for (tg_op *op = ctx->user_ops, *next; op; op = next) {
        next = op->next;
        free(op);
    }
    tg_pool_free(ctx->pool);
    free(ctx->tape);
    free(ctx->scratch);
    tg_backward_record_free(ctx->record);
    free(ctx);
}

tg_status tg_ctx_adopt(tg_ctx *ctx, void *obj, void (*free_fn)(void *obj))
{
    tg_owned *o = malloc(sizeof *o);
    if (!o)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "out of memory");
    *o = (tg_owned){.next = ctx->owned, .obj = obj, .free_fn = free_fn};
    ctx->owned = o;
    return TG_OK;
}

void tg_ctx_disown(tg_ctx *ctx, const void *obj)
{
    for (tg_owned **p = &ctx->owned; *p; p = &(*p)->next)
        if ((*p)->obj == obj) {
            tg_owned *o = *p;
            *p = o->next;
            free(o);
            return;
        }
}

int tg_ctx_threads(const tg_ctx *ctx) { return ctx ? tg_pool_size(ctx->pool) : 0; }

/* The chunks up to the current one are the step's (those past it are kept
 * for later steps). */
static int64_t arena_bytes(const tg_arena *arena)
{
    int64_t bytes = 0;
    for (const tg_arena_chunk *c = arena->chunks; c; c = c->next) {
        bytes += (int64_t)c->used;
        if (c == arena->current)
            break;
    }
    return arena->current ? bytes : 0;
}

int64_t tg_ctx_step_bytes(const tg_ctx *ctx)
{
    return ctx ? arena_bytes(&ctx->memory) + arena_bytes(&ctx->headers) : -1;
}

tg_pool *tg_ctx_pool(const tg_ctx *ctx) { return ctx ? ctx->pool : NULL; }

void *tg_tensor_share_data(tg_tensor *t, void *data)
{
    void *had = t->data;
    t->data = data;
    return had;
}

bool tg_ctx_set_checked(tg_ctx *ctx, bool checked)
{
    if (!ctx)
        return false;
    bool previous = ctx->checked;
    ctx->checked = checked;
    return previous;
}

typedef struct {
    void (*fn)(void *arg, int task);
    void *arg;
} task_job;

static void run_task(void *p, int task, int n_tasks, int worker)
{
    (void)n_tasks, (void)worker;
    const task_job *job = p;
    job->fn(job->arg, task);
}

tg_status tg_ctx_run_tasks(tg_ctx *ctx, int n_tasks, void (*fn)(void *arg, int task), void *arg)
{
    if (!ctx || !fn)
        return ctx ? tg_ctx_fail(ctx, TG_ERR_ARG, "tg_ctx_run_tasks: NULL function") : TG_ERR_ARG;
    task_job job = {fn, arg};
    tg_pool_run(ctx->pool, n_tasks, run_task, &job);
    return TG_OK;
}

/* ---- floating-point mode ---- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <xmmintrin.h>
enum { TG_MXCSR_DAZ = 1 << 6, TG_MXCSR_FTZ = 1 << 15 };

tg_fp_mode tg_fp_flush_subnormals(void)
{
    tg_fp_mode previous = {_mm_getcsr()};
    _mm_setcsr(previous.bits | TG_MXCSR_DAZ | TG_MXCSR_FTZ);
    return previous;
}

void tg_fp_mode_restore(tg_fp_mode mode) { _mm_setcsr(mode.bits); }
#else
tg_fp_mode tg_fp_flush_subnormals(void) { return (tg_fp_mode){0}; }
void tg_fp_mode_restore(tg_fp_mode mode) { (void)mode; }
#endif

/* ---- step memory ---- */

void *tg_arena_alloc_slow(tg_ctx *ctx, tg_arena *arena, size_t bytes, size_t align)
{
    tg_arena_chunk *c = arena->current, *last = NULL;
    size_t start = 0;
    /* Walk the kept chunks before asking malloc: after the first step, every
     * request of a same-shaped step is served from memory already held. */
    while (c) {
        start = (c->used + align - 1) & ~(align - 1);
        if (start + bytes <= c->size)
            break;
        last = c;
        c = c->next;
        if (c)
            c->used = 0;
    }
    if (!c) {
        size_t size = last && last->size * 2 > TG_ARENA_MIN_CHUNK ? last->size * 2 : TG_ARENA_MIN_CHUNK;
        if (size < bytes)
            size = bytes;
        c = aligned_alloc(TG_ALIGN, (sizeof *c + size + TG_ALIGN - 1) & ~(size_t)(TG_ALIGN - 1));
        if (!c) {
            tg_ctx_fail(ctx, TG_ERR_NOMEM, "out of memory allocating %zu bytes of step memory", bytes);
            return NULL;
        }
        *c = (tg_arena_chunk){.size = size};
        if (last)
            last->next = c;
        else
            arena->chunks = c;
        start = 0;
    }
    arena->current = c;
    c->used = start + bytes;
    return c->bytes + start;
}

/* A new step in arena: its chunks reused from the start, or (checked mode)
 * set aside with every header of the step keeping its epoch, so that every
 * later use of it is reported. */
static void arena_reset(tg_arena *arena, bool checked)
{
    if (checked && arena->chunks) {
        tg_arena_chunk *last = arena->chunks;
        while (last->next)
            last = last->next;
        last->next = arena->retired;
        arena->retired = arena->chunks;
        arena->chunks = NULL;
    }
    arena->current = arena->chunks;
    if (arena->current)
        arena->current->used = 0;
}

void tg_tape_reset(tg_ctx *ctx)
{
    if (!ctx)
        return;
    ctx->tape_len = 0;
    if (++ctx->epoch == 0) /* 0 never names a live step */
        ctx->epoch = 1;
    arena_reset(&ctx->memory, ctx->checked);
    arena_reset(&ctx->headers, ctx->checked);
}

tg_arena_mark tg_arena_get_mark(const tg_ctx *ctx)
{
    const tg_arena_chunk *c = ctx->memory.current, *h = ctx->headers.current;
    return (tg_arena_mark){ctx->memory.current, ctx->headers.current, c ? c->used : 0, h ? h->used : 0,
                           ctx->tape_len};
}

static void arena_rewind(tg_arena *arena, tg_arena_chunk *chunk, size_t used)
{
    arena->current = chunk ? chunk : arena->chunks;
    if (arena->current)
        arena->current->used = used;
}

void tg_arena_rewind(tg_ctx *ctx, tg_arena_mark mark)
{
    arena_rewind(&ctx->memory, mark.chunk, mark.used);
    arena_rewind(&ctx->headers, mark.header_chunk, mark.header_used);
    ctx->tape_len = mark.tape_len;
}

int64_t tg_tape_length(const tg_ctx *ctx) { return ctx ? ctx->tape_len : -1; }

bool tg_grad_set_enabled(tg_ctx *ctx, bool enabled)
{
    if (!ctx)
        return false;
    bool previous = ctx->grad_enabled;
    ctx->grad_enabled = enabled;
    return previous;
}

bool tg_grad_enabled(const tg_ctx *ctx) { return ctx && ctx->grad_enabled; }

void tg_anomaly_set_enabled(tg_ctx *ctx, bool enabled)
{
    if (ctx)
        ctx->anomaly = enabled;
}

/* ---- large elementwise work on the pool ---- */


typedef struct {
    tg_range_fn body;
    void *arg;
    int64_t n;
} range_job;

static void run_range(void *p, int task, int n_tasks, int worker)
{
    (void)worker;
    const range_job *job = p;
    /* chunks of whole cache lines, so no two threads write one line */
    int64_t chunk = (job->n / n_tasks + 15) & ~(int64_t)15;
    int64_t begin = task * chunk, end = begin + chunk < job->n ? begin + chunk : job->n;
    if (begin < end)
        job->body(job->arg, begin, end);
}

void tg_parallel_range_pool(tg_ctx *ctx, int64_t n, tg_range_fn body, void *arg)
{
    int threads = n < TG_PARALLEL_MIN ? 1 : tg_pool_threads(ctx->pool);
    if (threads < 2) {
        body(arg, 0, n);
        return;
    }
    range_job job = {body, arg, n};
    tg_pool_run(ctx->pool, threads, run_range, &job);
}

/* ---- errors ---- */

const char *tg_status_name(tg_status status)
{
    static const char *const names[] = {
        [TG_OK] = "ok",
        [TG_ERR_SHAPE] = "shape error",
        [TG_ERR_ARG] = "bad argument",
        [TG_ERR_FREED] = "freed tensor",
        [TG_ERR_GRAD] = "gradient error",
        [TG_ERR_ANOMALY] = "anomaly",
        [TG_ERR_NOMEM] = "out of memory",
        [TG_ERR_IO] = "i/o error",
        [TG_ERR_FORMAT] = "format error",
    };
    return (unsigned)status < sizeof names / sizeof *names ? names[status] : "unknown error";
}

/* The message names the public function entered (autograd/entry.h): its
 * leading "tg_name: " replaced, or "entry: " put in front. */
static void name_the_entry(tg_ctx *ctx)
{
    size_t skip = 0;
    if (!strncmp(ctx->error, "tg_", 3)) {
        size_t n = 3;
        while (isalnum((unsigned char)ctx->error[n]) || ctx->error[n] == '_')
            n++;
        if (ctx->error[n] == ':' && ctx->error[n + 1] == ' ')
            skip = n + 2;
    }
    size_t name = strlen(ctx->api_entry), detail = strlen(ctx->error + skip);
    if (name + 2 >= sizeof ctx->error)
        return;
    if (detail > sizeof ctx->error - 1 - name - 2)
        detail = sizeof ctx->error - 1 - name - 2; /* the end of a long message goes */
    memmove(ctx->error + name + 2, ctx->error + skip, detail);
    ctx->error[name + 2 + detail] = '\0';
    memcpy(ctx->error, ctx->api_entry, name);
    memcpy(ctx->error + name, ": ", 2);
}

const char *tg_ctx_enter(tg_ctx *ctx, const char *entry)
{
    if (!ctx)
        return NULL;
    const char *outer = ctx->api_entry;
    if (!outer)
        ctx->api_entry = entry;
    return outer;
}

void tg_ctx_leave(tg_ctx *ctx, const char *outer)
{
    if (ctx)
        ctx->api_entry = outer;
}

tg_status tg_ctx_fail(tg_ctx *ctx, tg_status status, const char *fmt, ...)
{
    if (!ctx || !fmt) /* no context to hold it: the status alone */
        return ctx ? tg_ctx_fail(ctx, status, "(no message)") : status;
    if (ctx->status != TG_OK)
        return ctx->status; /* the first error is the cause; later ones are echoes */
    ctx->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
    va_end(ap);
    if (ctx->api_entry)
        name_the_entry(ctx);
    if (ctx->on_error)
        ctx->on_error(ctx->on_error_user, status, ctx->error);
    return status;
}

tg_status tg_ctx_status(const tg_ctx *ctx) { return ctx ? ctx->status : TG_ERR_ARG; }
const char *tg_ctx_error(const tg_ctx *ctx) { return ctx ? ctx->error : "NULL context"; }

void tg_ctx_clear_error(tg_ctx *ctx)
{
    if (!ctx)
        return;
    ctx->status = TG_OK;
    ctx->error[0] = '\0';
}

void tg_ctx_set_error_handler(tg_ctx *ctx, tg_error_fn fn, void *user)
{
    if (!ctx)
        return;
    ctx->on_error = fn;
    ctx->on_error_user = user;
}

char *tg_shape_str(int rank, const int64_t *shape, char *buf, size_t size)
{
    if (!buf || size == 0)
        return buf;
    if ((rank > 0 && !shape) || rank < 0 || rank > TG_MAX_RANK) {
        snprintf(buf, size, "[?]");
        return buf;
    }
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

tg_shape_text tg_shape_of(const tg_tensor *t)
{
    /* "W1 [5, 3]" for a named tensor, "[5, 3]" otherwise: every message that
     * shows a tensor's shape names it too. */
    tg_shape_text text;
    const char *name = tg_name_of(t);
    int at = name ? snprintf(text.s, sizeof text.s, "%.40s ", name) : 0;
    tg_shape_str(t->rank, t->shape, text.s + at, sizeof text.s - (size_t)at);
    return text;
}

bool tg_check_tensor_report(const char *op, const tg_tensor *t)
{
    if (!t)
        return false; /* an earlier op failed and set the error */
    if (t->lifetime == TG_LIFE_FREED ||
        (t->lifetime == TG_LIFE_STEP && t->epoch != t->ctx->epoch)) {
        tg_ctx_fail(t->ctx, TG_ERR_FREED, "%s: input %s was freed%s", op,
                tg_name_of(t) ? tg_name_of(t) : "tensor",
                t->lifetime == TG_LIFE_STEP ? " by tg_tape_reset (it belongs to an earlier step)" : "");
        return false;
    }
    return true;
}

bool tg_check_live_report(const char *op, const tg_tensor *t)
{
    if (!tg_check_tensor(op, t))
        return false;
    if (!tg_dtype_is_float((tg_dtype)t->dtype)) {
        return tg_ctx_fail(t->ctx, TG_ERR_ARG, "%s: input %s is %s; expected f32 or f64", op, tg_shape_of(t).s,
                           tg_dtype_name((tg_dtype)t->dtype)), false;
    }
    return true;
}

bool tg_check_pair_report(const char *op, const tg_tensor *a, const tg_tensor *b)
{
    if (!tg_check_live(op, a) || !tg_check_live(op, b))
        return false;
    if (a->ctx != b->ctx)
        return tg_ctx_fail(a->ctx, TG_ERR_ARG, "%s: inputs belong to different contexts", op), false;
    if (a->dtype != b->dtype)
        return tg_ctx_fail(a->ctx, TG_ERR_ARG, "%s: inputs have different dtypes (%s and %s); convert with tg_tensor_copy",
                       op, tg_dtype_name((tg_dtype)a->dtype), tg_dtype_name((tg_dtype)b->dtype)), false;
    return true;
}

/* ---- the tape ---- */

/* First NaN or Inf in t at or after from, -1 if none. */
static int64_t first_nonfinite(const tg_tensor *t, int64_t from)
{
    int64_t bad = -1;
    TG_TYPED(t->dtype, T, {
        const T *x = t->data;
        for (int64_t i = from; i < t->size; i++)
            if (!isfinite(x[i])) {
                bad = i;
                break;
            }
    });
    return bad;
}

static void report_anomaly(tg_ctx *ctx, const tg_op_desc *op, const tg_tensor *out, int64_t flat)
{
    char index[64], during[96] = "";
    double value = tg_tensor_get(out, flat);
    int64_t coords[TG_MAX_RANK];
    for (int d = out->rank - 1; d >= 0; d--) {
        coords[d] = flat % out->shape[d];
        flat /= out->shape[d];
    }
    tg_shape_str(out->rank, coords, index, sizeof index);
    if (ctx->backward_node >= 0)
        snprintf(during, sizeof during, " in the backward of %s (tape entry %lld)",
                 ctx->tape[ctx->backward_node].op->name, (long long)ctx->backward_node);
    tg_ctx_fail(ctx, TG_ERR_ANOMALY, "%s produced %s at index %s of its %s output%s", op->name,
            isnan(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf", index, tg_shape_of(out).s, during);
}

/* The tape entry for out, or NULL when nothing needs recording (or on error,
 * with the context's error set and out set to NULL). */
static tg_node *append(const tg_op_desc *op, tg_tensor **out, int n_in, tg_tensor *const *in, const tg_attr *attr)
{
    tg_tensor *t = *out;
    if (!t)
        return NULL;
    tg_ctx *ctx = t->ctx;
    if (ctx->anomaly && tg_dtype_is_float((tg_dtype)t->dtype)) {
        int64_t bad = first_nonfinite(t, 0);
        if (bad >= 0 && op->anomaly_allows) { /* the op may have been asked for some */
            tg_node asked = {.op = op, .n_in = n_in, .in = (tg_tensor **)in, .out = t};
            if (attr)
                asked.attr = *attr;
            while (bad >= 0 && op->anomaly_allows(&asked, bad))
                bad = first_nonfinite(t, bad + 1);
        }
        if (bad >= 0) {
            report_anomaly(ctx, op, t, bad);
            *out = NULL;
            return NULL;
        }
    }
    bool needed = false;
    for (int i = 0; i < n_in; i++)
        needed |= in[i]->requires_grad;
    if (!needed || !ctx->grad_enabled)
        return NULL;
    if (ctx->tape_len == ctx->tape_cap) {
        if (ctx->tape_cap >= ((int64_t)1 << 31)) { /* a tensor's creator is 32 bits */
            tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: the tape is full (2^31 entries); call tg_tape_reset between steps",
                        op->name);
            *out = NULL;
            return NULL;
        }
        int64_t cap = ctx->tape_cap ? ctx->tape_cap * 2 : 1024;
        tg_node *tape = realloc(ctx->tape, (size_t)cap * sizeof *tape);
        if (!tape) {
            tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: out of memory growing the tape to %lld entries", op->name,
                        (long long)cap);
            *out = NULL;
            return NULL;
        }
        ctx->tape = tape;
        ctx->tape_cap = cap;
    }
    tg_tensor **inputs = tg_arena_alloc(ctx, (size_t)n_in * sizeof *inputs, sizeof *inputs);
    if (!inputs) {
        *out = NULL;
        return NULL;
    }
    for (int i = 0; i < n_in; i++) /* mostly 1 or 2: a loop, not a memcpy call */
        inputs[i] = in[i];
    t->requires_grad = true;
    t->creator = (int32_t)ctx->tape_len;
    tg_node *node = &ctx->tape[ctx->tape_len++];
    *node = (tg_node){.op = op, .n_in = n_in, .in = inputs, .out = t};
    return node;
}

/* tg_record_entry's general case: anomaly mode, a full tape or chunk. */
static __attribute__((noinline)) tg_tensor *record_slow(const tg_op_desc *op, tg_tensor *out, int n_in,
                                                        tg_tensor *const *in, const tg_attr *attr)
{
    tg_node *node = append(op, &out, n_in, in, attr);
    if (node && attr)
        node->attr = *attr;
    return out;
}

tg_tensor *tg_record_entry(const tg_op_desc *op, tg_tensor *out, int n_in, tg_tensor *const *in, const tg_attr *attr)
{
    /* The usual case inline, every other one a tail call (no registers to
     * save): no anomaly mode, room on the tape and in the step memory. */
    if (!out)
        return NULL;
    tg_ctx *ctx = out->ctx;
    tg_arena_chunk *c = ctx->memory.current;
    if (ctx->anomaly || ctx->tape_len == ctx->tape_cap || !c)
        return record_slow(op, out, n_in, in, attr);
    /* here grad mode is on and an input requires a gradient (tg_record_needed) */
    size_t start = (c->used + 7) & ~(size_t)7, end = start + (size_t)n_in * sizeof(tg_tensor *);
    if (end > c->size)
        return record_slow(op, out, n_in, in, attr);
    c->used = end;
    tg_tensor **inputs = (tg_tensor **)(c->bytes + start);
    for (int i = 0; i < n_in; i++)
        inputs[i] = in[i];
    out->requires_grad = true;
    out->creator = (int32_t)ctx->tape_len;
    tg_node *node = &ctx->tape[ctx->tape_len++];
    node->op = op;
    node->n_in = n_in;
    node->walked = false;
    node->in = inputs;
    node->out = out;
    static const tg_attr no_attr; /* all bytes zero */
    node->attr = attr ? *attr : no_attr;
    return out;
}

const void *tg_attr_store(tg_ctx *ctx, const void *attr, size_t size)
{
    void *copy = tg_arena_alloc(ctx, size, 16);
    if (copy)
        memcpy(copy, attr, size);
    return copy;
}

bool tg_tape_entry_at(const tg_ctx *ctx, int64_t i, tg_tape_entry *entry)
{
    if (!ctx || !entry || i < 0 || i >= ctx->tape_len)
        return false;
    const tg_node *n = &ctx->tape[i];
    *entry = (tg_tape_entry){.op = n->op->kind, .name = n->op->name, .n_inputs = n->n_in,
                             .inputs = n->in, .output = n->out};
    return true;
}

/* Copies text into buf; when it does not fit, cuts at a UTF-8 character
 * boundary and ends with "…" (or as many dots as fit), never past size. */
static void fit_label(char *buf, size_t size, const char *text)
{
    size_t n = strlen(text);
    if (n < size) {
        memcpy(buf, text, n + 1);
        return;
    }
    static const char ellipsis[] = "…";
    size_t mark = sizeof ellipsis - 1; /* 3 bytes of UTF-8 */
    if (size <= mark) { /* no room for "…": dots */
        memset(buf, '.', size - 1);
        buf[size - 1] = '\0';
        return;
    }
    size_t keep = size - 1 - mark;
    while (keep > 0 && ((unsigned char)text[keep] & 0xC0) == 0x80)
        keep--; /* do not split a character */
    memcpy(buf, text, keep);
    memcpy(buf + keep, ellipsis, mark + 1);
}

char *tg_tape_entry_label(const tg_ctx *ctx, int64_t i, char *buf, size_t size)
{
    if (!buf || size == 0)
        return buf;
    if (!ctx || i < 0 || i >= ctx->tape_len) {
        fit_label(buf, size, "?");
        return buf;
    }
    const tg_node *n = &ctx->tape[i];
    char text[256];
    if (n->op->label)
        n->op->label(n, text, sizeof text);
    else
        snprintf(text, sizeof text, "%s", n->op->name ? n->op->name : "?");
    fit_label(buf, size, text);
    return buf;
}

char *tg_tape_entry_vjp_label(const tg_ctx *ctx, int64_t i, int input, char *buf, size_t size)
{
    if (!buf || size == 0)
        return buf;
    if (!ctx || i < 0 || i >= ctx->tape_len || input < 0 || input >= ctx->tape[i].n_in) {
        fit_label(buf, size, "?");
        return buf;
    }
    const tg_node *n = &ctx->tape[i];
    char text[256];
    if (n->op->vjp_label)
        n->op->vjp_label(n, input, text, sizeof text);
    else
        snprintf(text, sizeof text, "∂/∂x%d", input);
    fit_label(buf, size, text);
    return buf;
}

const char *tg_vjp_name(const tg_tensor *t, const char *fallback)
{
    const char *full = tg_name_of(t);
    if (!full)
        return fallback;
    const char *dot = strrchr(full, '.');
    const char *name = dot ? dot + 1 : full;
    /* short enough to sit in an edge label: at most 5 characters (UTF-8 code
     * points, so a course name such as "a⁽²⁾₁" counts as what it looks like) */
    int characters = 0;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        characters += (*c & 0xC0) != 0x80;
    return name[0] && characters <= 5 ? name : fallback;
}

void tg_vjp_binary_label(const tg_node *n, int input, const char *factor, char *buf, size_t size)
{
    char note[64];
    tg_vjp_sum_note(n->in[input], n->out, note, sizeof note);
    if (!note[0])
        snprintf(buf, size, "%s", factor);
    else if (!strcmp(factor, "·1"))
        snprintf(buf, size, "%s", note);
    else
        snprintf(buf, size, "%s, %s", factor, note);
}

const char *tg_vjp_sum_note(const tg_tensor *in, const tg_tensor *out, char *buf, size_t size)
{
    buf[0] = '\0';
    if (in->size == out->size)
        return buf;
    int axes[TG_MAX_RANK], n = 0;
    for (int d = 0; d < out->rank; d++) {
        int k = d - (out->rank - in->rank); /* in's dim aligned on the right */
        if (out->shape[d] > 1 && (k < 0 || in->shape[k] == 1))
            axes[n++] = d;
    }
    if (n == 1 && axes[0] == 0 && out->rank >= 2) {
        snprintf(buf, size, "Σ over batch");
        return buf;
    }
    size_t used = (size_t)snprintf(buf, size, "Σ over axis%s", n > 1 ? "es" : "");
    for (int j = 0; j < n && used < size; j++)
        used += (size_t)snprintf(buf + used, size - used, "%s%d", j ? ", " : " ", axes[j]);
    return buf;
}

int64_t tg_tensor_creator(const tg_tensor *t) { return tg_check_tensor("tg_tensor_creator", t) ? t->creator : -1; }
