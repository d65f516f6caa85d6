/* The two hash maps of the diagram writer (draw/draw.h): tensor pointer ->
 * leaf index, and cluster name -> cluster index. Open addressing, sized
 * once for the largest count a drawing can need, never grown. */
#include "draw/draw.h"

#include <stdlib.h>
#include <string.h>

bool tg_ptr_map_init(tg_ptr_map *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    m->keys = calloc(cap, sizeof *m->keys);
    m->values = malloc(cap * sizeof *m->values);
    m->mask = cap - 1;
    return m->keys && m->values;
}

void tg_ptr_map_free(tg_ptr_map *m)
{
    free(m->keys);
    free(m->values);
}

static size_t str_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return (size_t)h;
}

bool tg_name_table_init(tg_name_table *g, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 2)
        cap *= 2;
    g->items = malloc((n + 1) * sizeof *g->items);
    g->slots = calloc(cap, sizeof *g->slots);
    g->count = 0;
    g->mask = cap - 1;
    return g->items && g->slots;
}

void tg_name_table_free(tg_name_table *g)
{
    free(g->items);
    free(g->slots);
}

int64_t tg_name_table_index(tg_name_table *g, tg_name_ref r)
{
    if (!r.name || !r.length)
        return -1;
    size_t i = str_hash(r.name, r.length) & g->mask;
    for (; g->slots[i]; i = (i + 1) & g->mask) {
        tg_name_ref *o = &g->items[g->slots[i] - 1];
        if (o->length == r.length && !memcmp(o->name, r.name, r.length))
            return g->slots[i] - 1;
    }
    g->items[g->count] = r;
    g->slots[i] = ++g->count;
    return g->count - 1;
}
