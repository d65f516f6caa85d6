/* Backward's recycled memory (see tg_recycler in internal.h): blocks of
 * step memory with a header in front of the data, a count of the pending
 * sums that hold each, a free list served best fit, and a list of candidates
 * swept after every tape entry. Nothing here calls malloc: blocks are cut
 * from the arena, so once a training loop is warm the pass reuses the same
 * bytes step after step. */
#include "autograd/internal.h"

void *tg_recycle_take(tg_ctx *ctx, size_t bytes)
{
    tg_recycler *r = &ctx->recycler;
    tg_block **best = NULL;
    /* Best fit, but not over twice the request: a small tensor must not sit
     * on a big block that a big one of the same pass is about to ask for. */
    for (tg_block **at = &r->free; *at; at = &(*at)->next)
        if ((*at)->bytes >= bytes && (*at)->bytes / 2 <= bytes && (!best || (*at)->bytes < (*best)->bytes))
            best = at;
    tg_block *b;
    if (best) {
        b = *best;
        *best = b->next;
    } else {
        _Static_assert(sizeof(tg_block) <= TG_BLOCK_HEADER, "the header fits in front of the data");
        unsigned char *raw = tg_arena_alloc(ctx, TG_BLOCK_HEADER + bytes, 64);
        if (!raw)
            return NULL;
        b = (tg_block *)(void *)raw;
        b->bytes = bytes;
    }
    b->holds = 0;
    b->idle = b->pinned = false;
    b->next = r->candidates; /* a temporary until a pending sum holds it */
    b->listed = true;
    r->candidates = b;
    return (unsigned char *)b + TG_BLOCK_HEADER;
}

void tg_recycle_release(tg_ctx *ctx, tg_tensor *t)
{
    tg_block *b = tg_block_of(t);
    if (!b || --b->holds > 0 || b->listed || b->idle)
        return;
    b->next = ctx->recycler.candidates;
    b->listed = true;
    ctx->recycler.candidates = b;
}

void tg_recycle_sweep(tg_ctx *ctx)
{
    tg_recycler *r = &ctx->recycler;
    tg_block *b = r->candidates;
    r->candidates = NULL;
    while (b) {
        tg_block *next = b->next;
        b->listed = false;
        if (b->holds <= 0 && !b->pinned && !b->idle) { /* a held block comes back with its last release */
            b->idle = true;
            b->next = r->free;
            r->free = b;
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
