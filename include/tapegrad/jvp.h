/* tapegrad/jvp.h: forward mode, a Jacobian-vector product from the tape.
 *
 * Reverse mode (tg_backward, tg_grad) gives uᵀ·J for an output weight u: one
 * pass gets the gradient of one loss with respect to every parameter. Forward
 * mode gives J·v for an input direction v: one pass gets the derivative of
 * every output along one direction. tg_jvp computes it as the VJP of a VJP on
 * the tape (no second set of derivative rules): with u a stand-in for the
 * upstream gradient, g(u) = Jᵀu is recorded with create_graph, and
 * ∂⟨g(u), v⟩/∂u = J·v (g is linear in u, so u's value does not matter).
 *
 *     tg_tensor *dy;                    // dy = ∂y/∂w · v, shaped like y
 *     tg_jvp(y, 1, &w, &v, &dy);
 */
#ifndef TAPEGRAD_JVP_H
#define TAPEGRAD_JVP_H

#include "tapegrad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* *jvp = Σᵢ ∂output/∂inputs[i] · vectors[i], a new step tensor shaped like
 * output (vectors[i] shaped like inputs[i]; an input output does not depend
 * on adds nothing). output must be on the tape (recorded by ops). The tape,
 * leaves' .grad and hooks are left as they were: the ops recorded on the way
 * are rolled back and hooks do not run. Errors (also set on output's context):
 * TG_ERR_ARG for NULL arguments, n_inputs < 1, tensors of another context or
 * an input given twice; TG_ERR_FREED; TG_ERR_SHAPE when a vector's shape or
 * dtype differs from its input's; TG_ERR_GRAD when output requires no
 * gradient. *jvp is NULL on error. */
TG_API tg_status tg_jvp(tg_tensor *output, int n_inputs, tg_tensor *const *inputs, tg_tensor *const *vectors,
                 tg_tensor **jvp);

#ifdef __cplusplus
}
#endif
#endif
