/* tapegrad internal — errors name the function the user called.
 *
 * A public function that runs other public functions (tg_model_load reads
 * the spec with tg_checkpoint_read_spec, builds with tg_model_from_spec_text,
 * ...) brackets them, so an error they raise names it, with their detail:
 *
 *     const char *outer = tg_ctx_enter(ctx, "tg_model_load");
 *     ...
 *     tg_ctx_leave(ctx, outer);
 *
 * While entered, tg_ctx_fail turns a message's leading "tg_name: " into
 * "tg_model_load: ", and puts "tg_model_load: " before any other message.
 * Entries nest: the outermost one, the function the user called, names. */
#ifndef TG_AUTOGRAD_ENTRY_H
#define TG_AUTOGRAD_ENTRY_H

#include "tapegrad/core.h"

/* Returns the entry already in force (NULL at the outermost call), for tg_ctx_leave. */
const char *tg_ctx_enter(tg_ctx *ctx, const char *entry);
void tg_ctx_leave(tg_ctx *ctx, const char *outer);

#endif /* TG_AUTOGRAD_ENTRY_H */
