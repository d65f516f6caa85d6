/* The op registry: the only place ops are listed. Dispatch (backward), names
 * and diagram labels all read it. Adding an op: its file, and one X(...) line
 * in TG_OP_LIST (tapegrad/ops.h). */
#include "autograd/internal.h"

static const tg_op_desc *const registry[TG_OP_COUNT] = {
#define TG_OP_ENTRY(NAME, name) [TG_OP_##NAME] = &tg_op_##name,
    TG_OP_LIST(TG_OP_ENTRY)
#undef TG_OP_ENTRY
};

const tg_op_desc *tg_op_desc_of(tg_op_kind op) { return registry[op]; }

const char *tg_op_name(tg_op_kind op)
{
    return (unsigned)op < TG_OP_COUNT ? registry[op]->name : "unknown";
}
