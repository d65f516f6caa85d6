/* The built-in ops by kind, for tg_op_name. The tape holds descriptor
 * pointers, so dispatch needs no lookup here (and user ops, which have no
 * kind, work the same way). Adding an op: its file, and one X(...) line in
 * TG_OP_LIST (tapegrad/ops.h). */
#include "autograd/internal.h"

static const tg_op_desc *const registry[TG_OP_COUNT] = {
#define TG_OP_ENTRY(NAME, name) [TG_OP_##NAME] = &tg_op_##name,
    TG_OP_LIST(TG_OP_ENTRY)
#undef TG_OP_ENTRY
};

const char *tg_op_name(tg_op_kind op)
{
    if (op == TG_OP_USER)
        return "user op";
    return (unsigned)op < TG_OP_COUNT ? registry[op]->name : "unknown";
}
