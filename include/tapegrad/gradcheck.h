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
    /* worst |tape - fd| / max(|tape|, |fd|) over the elements whose gradient
     * is not negligible (max(|tape|, |fd|) > abs_tol); an element whose true
     * gradient is zero has no relative error and is judged by abs_tol alone */
    double max_rel_error;
    /* the element furthest outside its tolerance, the one that decides the
     * verdict: largest |tape - fd| / (abs_tol + rel_tol·|fd|); -1 if none */
    int64_t worst_index;
    double worst_tape, worst_fd; /* the two gradients at worst_index */
    double max_abs_grad;   /* largest |tape gradient| */
    int64_t checked;       /* elements checked */
    bool passed;
    /* every tape gradient and every finite difference of the input is zero:
     * the check passed but proves nothing about the backward rule */
    bool vacuous;
} tg_gradcheck_input_report;

/* A check's verdict and one report per input (inputs[i] for inputs[i] of the
 * call; checked == 0 for an input that does not require a gradient). The
 * array is the library's: free it with tg_gradcheck_report_free. */
typedef struct {
    int n_inputs;
    tg_gradcheck_input_report *inputs;
    bool passed;
    bool vacuous; /* passed, and every checked input was vacuous */
} tg_gradcheck_report;

/* Checks every input that requires a gradient (any number of inputs).
 * Inputs must be float64 and are restored bit for bit afterwards. Returns
 * TG_OK when the check ran (read report->passed for its verdict and
 * report->vacuous for whether it proved anything), an error when f failed;
 * report is written in both cases (free it with tg_gradcheck_report_free).
 * opts may be NULL. */
TG_API tg_status tg_gradcheck(tg_ctx *ctx, tg_fn f, void *user, int n_inputs, tg_tensor *const *inputs,
                       const tg_gradcheck_options *opts, tg_gradcheck_report *report);

/* Second derivatives: checks the tape's create_graph gradient of Σ r⊙f against
 * finite differences of that gradient (a gradcheck of the gradient). */
TG_API tg_status tg_gradgradcheck(tg_ctx *ctx, tg_fn f, void *user, int n_inputs, tg_tensor *const *inputs,
                           const tg_gradcheck_options *opts, tg_gradcheck_report *report);

/* Prints the verdict ("passed", "vacuous" or "FAILED") and one line per
 * input: largest gradient, worst absolute and relative error, the worst
 * element with both its gradients. */
TG_API void tg_gradcheck_print(const tg_gradcheck_report *report, const char *title);
/* Frees the report's per-input array and zeroes it. NULL is fine. */
TG_API void tg_gradcheck_report_free(tg_gradcheck_report *report);

#ifdef __cplusplus
}
#endif
#endif
