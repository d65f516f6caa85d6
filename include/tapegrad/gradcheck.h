/* tapegrad/gradcheck.h: checking the tape against central finite differences.
 *
 * Like torch.autograd.gradcheck: f maps inputs to an output of any shape; the
 * check contracts the output with fixed random weights r (a vector-Jacobian
 * product), takes d(Σ r⊙f)/dx from the tape, and compares each element with
 * (F(x + h) - F(x - h)) / 2h. Use float64 inputs: float32 round-off swamps
 * any useful tolerance.
 */
#ifndef TAPEGRAD_GRADCHECK_H
#define TAPEGRAD_GRADCHECK_H

#include "tapegrad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Builds the output from the inputs with ops; NULL on error. */
typedef tg_tensor *(*tg_fn)(tg_tensor *const *inputs, void *user);

typedef struct {
    double step;    /* finite-difference step h; 0 means 1e-6 */
    double abs_tol; /* an element passes when |tape - fd| <= abs_tol + rel_tol·|fd| */
    double rel_tol; /* 0 and 0 mean 1e-7 and 1e-7 */
    uint64_t seed;  /* for the contraction weights r */
} tg_gradcheck_options;

typedef struct {
    double max_abs_error;  /* worst |tape - fd| over the input's elements */
    double max_rel_error;  /* worst |tape - fd| / max(|tape|, |fd|) */
    int64_t worst_index;   /* flat index of the worst element, -1 if none */
    double max_abs_grad;   /* largest |tape gradient|: 0 means the check is vacuous */
    int64_t checked;       /* elements checked */
    bool passed;
} tg_gradcheck_input_report;

#define TG_GRADCHECK_MAX_INPUTS 8

typedef struct {
    int n_inputs;
    tg_gradcheck_input_report inputs[TG_GRADCHECK_MAX_INPUTS];
    bool passed;
} tg_gradcheck_report;

/* Checks every input that requires a gradient. Inputs must be float64 and are
 * restored bit for bit afterwards. Returns TG_OK when the check ran (read
 * report->passed for its verdict), an error when f failed. opts may be NULL. */
TG_API tg_status tg_gradcheck(tg_ctx *ctx, tg_fn f, void *user, int n_inputs, tg_tensor *const *inputs,
                       const tg_gradcheck_options *opts, tg_gradcheck_report *report);

/* Second derivatives: checks the tape's create_graph gradient of Σ r⊙f against
 * finite differences of that gradient (a gradcheck of the gradient). */
TG_API tg_status tg_gradgradcheck(tg_ctx *ctx, tg_fn f, void *user, int n_inputs, tg_tensor *const *inputs,
                           const tg_gradcheck_options *opts, tg_gradcheck_report *report);

/* Prints one line per input: worst absolute and relative error, verdict. */
TG_API void tg_gradcheck_print(const tg_gradcheck_report *report, const char *title);

#ifdef __cplusplus
}
#endif
#endif
