/* Backward's recycled memory (see tg_recycler in internal.h): blocks of
 * step memory with a header in front of the data and a count of the pending
 * sums that hold each; a free list served best fit, a block bigger than the
 * request split in two and neighbours that are both free merged again; a
 * list of candidates swept after every tape entry. Nothing here calls
 * malloc: blocks are cut from the arena, so once a training loop is warm the
 * pass reuses the same bytes step after step. */
#include "autograd/internal.h"

static void unlink_free(tg_recycler *r, tg_block *b)
{
    for (tg_block **at = &r->free; *at; at = &(*at)->next_free)
        if (*at == b) {
            *at = b->next_free;
            return;
        }
}

/* Merges b with its free neighbour after it: b grows over it. Only a block
 * off the candidates list merges away, so that no list points into the
 * middle of a block. */
static void absorb_after(tg_recycler *r, tg_block *b)
{
    tg_block *next = b->after;
    if (!next || !next->idle || next->listed)
        return;
    unlink_free(r, next);
    b->bytes += TG_BLOCK_HEADER + next->bytes;
    b->after = next->after;
    if (b->after)
        b->after->before = b;
}

static void free_block(tg_recycler *r, tg_block *b)
{
    b->idle = true;
    if (!b->listed) {
        absorb_after(r, b);
        tg_block *prev = b->before;
        if (prev && prev->idle && !prev->listed) { /* b merges into the free block before it */
            absorb_after(r, prev);
            return;
        }
    }
    b->next_free = r->free;
    r->free = b;
}

/* b's room beyond bytes as a free block of its own, when it is worth one. */
static void split(tg_recycler *r, tg_block *b, size_t bytes)
{
    if (b->bytes < bytes + TG_BLOCK_HEADER + TG_RECYCLE_MIN_BYTES)
        return;
    tg_block *rest = (tg_block *)(void *)((unsigned char *)b + TG_BLOCK_HEADER + bytes);
    *rest = (tg_block){.bytes = b->bytes - bytes - TG_BLOCK_HEADER, .before = b, .after = b->after};
    if (rest->after)
        rest->after->before = rest;
    b->after = rest;
    b->bytes = bytes;
    free_block(r, rest);
}

void *tg_recycle_take(tg_ctx *ctx, size_t bytes)
{
    tg_recycler *r = &ctx->recycler;
    bytes = (bytes + 63) & ~(size_t)63;
    tg_block *b = NULL;
    for (tg_block *f = r->free; f; f = f->next_free) /* best fit */
        if (f->bytes >= bytes && (!b || f->bytes < b->bytes))
            b = f;
    if (b) {
        unlink_free(r, b);
        b->idle = false;
        split(r, b, bytes);
    } else {
        _Static_assert(sizeof(tg_block) <= TG_BLOCK_HEADER, "the header fits in front of the data");
        /* a sixteenth more than asked: room for the headers when the block
         * is split later into pieces that add up to its size */
        size_t room = (bytes + bytes / 16 + 63) & ~(size_t)63;
        unsigned char *raw = tg_arena_alloc(ctx, TG_BLOCK_HEADER + room, 64);
        if (!raw)
            return NULL;
        b = (tg_block *)(void *)raw;
        *b = (tg_block){.bytes = room};
    }
    b->holds = 0;
    b->pinned = false;
    if (!b->listed) { /* a temporary until a pending sum holds it */
        b->next_candidate = r->candidates;
        b->listed = true;
        r->candidates = b;
    }
    return (unsigned char *)b + TG_BLOCK_HEADER;
}

void tg_recycle_release(tg_ctx *ctx, tg_tensor *t)
{
    tg_block *b = tg_block_of(t);
    if (!b || --b->holds > 0 || b->listed || b->idle)
        return;
    b->next_candidate = ctx->recycler.candidates;
    b->listed = true;
    ctx->recycler.candidates = b;
}

void tg_recycle_drop(tg_tensor *t)
{
    tg_block *b = t ? tg_block_of(t) : NULL;
    tg_recycler *r = b ? &t->ctx->recycler : NULL;
    if (r && r->on && b->holds <= 0 && !b->pinned && !b->idle)
        free_block(r, b);
}

void tg_recycle_sweep(tg_ctx *ctx)
{
    tg_recycler *r = &ctx->recycler;
    tg_block *b = r->candidates;
    r->candidates = NULL;
    while (b) {
        tg_block *next = b->next_candidate;
        b->listed = false;
        if (b->idle) { /* dropped while listed: now it may merge */
            unlink_free(r, b);
            free_block(r, b);
        } else if (b->holds <= 0 && !b->pinned) { /* a held block comes back with its last release */
            free_block(r, b);
        }
        b = next;
    }
}

void tg_recycle_start(tg_ctx *ctx)
{
    ctx->recycler = (tg_recycler){.on = true};
}

/* The blocks stay where they are, as arena memory, until the reset. */
void tg_recycle_stop(tg_ctx *ctx)
{
    ctx->recycler = (tg_recycler){.on = false};
}
