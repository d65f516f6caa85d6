/* tapegrad/nn.h: networks built from the ops (no hand-written backprop).
 *
 * Convention: a dense layer computes z = x·Wᵀ + b with x [n, in], W [out, in]
 * (the textbook's Θ, as in PyTorch's Linear), b [out]; activations follow.
 *
 * Every forward function and every loss here is a composition of public ops,
 * so its gradient comes from the tape. Parameters and optimizer state are
 * persistent tensors; a training loop makes step tensors only, and calls
 * tg_tape_reset once per step:
 *
 *     tg_params params = tg_mlp_params(mlp);
 *     tg_optimizer *opt = tg_optim_sgd_new(params, 0.1);
 *     for (int step = 0; step < steps; step++) {
 *         tg_tensor *loss = tg_loss_mse(tg_mlp_forward(mlp, x), y);
 *         tg_params_zero_grad(params);
 *         tg_backward(loss);
 *         tg_optim_step(opt);
 *         tg_tape_reset(ctx);
 *     }
 *
 * Weights versus biases: a parameter of rank 2 or more is a weight (W [out, in]);
 * a parameter of rank 0 or 1 is a bias. Weight decay and the L2 penalty touch
 * weights only.
 */
#ifndef TAPEGRAD_NN_H
#define TAPEGRAD_NN_H

#include <stdio.h>

#include "tapegrad/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A list of parameter tensors (names via tg_tensor_name). The list does not
 * own the tensors. */
typedef struct {
    int count;
    tg_tensor **items;
} tg_params;

/* Number of scalars in all the listed tensors (Σ sizes). */
TG_API int64_t tg_params_count(tg_params params);
/* Sets every listed tensor's gradient to zero (tensors without one yet are skipped). */
TG_API void tg_params_zero_grad(tg_params params);

/* ---- activations ------------------------------------------------------ */

typedef enum {
    TG_ACT_NONE,    /* a = z */
    TG_ACT_SIGMOID, /* a = 1/(1+exp(-z)) */
    TG_ACT_TANH,    /* a = tanh z */
    TG_ACT_RELU,    /* a = max(z, 0) */
    TG_ACT_LEAKY_RELU, /* a = z if z > 0 else 0.01·z (tg_leaky_relu) */
    TG_ACT_ELU,        /* a = z if z > 0 else eᶻ - 1 (tg_elu, alpha 1) */
    TG_ACT_SOFTPLUS,   /* a = ln(1 + eᶻ) */
    TG_ACT_SILU,       /* a = z·σ(z) */
    TG_ACT_GELU,       /* a = z·Φ(z), exact (erf) form */
    TG_ACT_GELU_TANH,  /* a = GELU's tanh approximation */
} tg_activation;

/* f(x) for the activation, as an op (TG_ACT_NONE returns x itself). NULL when
 * x is NULL or act is unknown (TG_ERR_ARG). */
TG_API tg_tensor *tg_activate(tg_tensor *x, tg_activation act);
/* "none", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "silu",
 * "gelu", "gelu_tanh"; "?" for an unknown value. */
TG_API const char *tg_activation_name(tg_activation act);

/* ---- initializers ------------------------------------------------------ */

typedef enum {
    TG_INIT_XAVIER, /* Glorot uniform: W ~ U(-a, a), a = sqrt(6/(in + out)) */
    TG_INIT_HE,     /* He normal: W ~ N(0, 2/in) */
    TG_INIT_ZEROS,  /* W = 0 */
    TG_INIT_NORMAL, /* W ~ N(0, stddev²); stddev 1 where no stddev is given */
} tg_init;

/* Fills a weight W [out, in] (fan_in = in, fan_out = out; a rank-1 tensor [n]
 * counts as [1, n]) from rng by init; stddev is used by TG_INIT_NORMAL only.
 * rng may be NULL for TG_INIT_ZEROS. Errors: NULL w, NULL rng for any other
 * init (TG_ERR_ARG), rank 0 or > 2 (TG_ERR_SHAPE), unknown
 * init, stddev < 0 (TG_ERR_ARG). */
TG_API tg_status tg_init_fill(tg_tensor *w, tg_init init, double stddev, tg_rng *rng);
/* The one initializer of every layer: fills w (any shape) by init with the
 * fans given (a conv weight [out, in, k, k]: fan_in = in·k·k, fan_out =
 * out·k·k). Errors: NULL w, NULL rng for an init that draws, an unknown init,
 * stddev < 0, a fan <= 0 (TG_ERR_ARG). */
TG_API tg_status tg_init_fill_fans(tg_tensor *w, tg_init init, double fan_in, double fan_out, double stddev,
                                   tg_rng *rng);
/* "xavier", "he", "zeros", "normal"; "?" for an unknown value. */
TG_API const char *tg_init_name(tg_init init);

/* ---- dense layer ------------------------------------------------------- */

/* a = f(x·Wᵀ + b): W [out, in], b [out], persistent, requiring gradients.
 * A dense module of the layer kit (tapegrad/model.h) under its textbook name;
 * its context owns it (tg_ctx_free frees it if tg_layer_free did not). */
typedef struct tg_layer tg_layer;

/* A layer with W filled by init from rng (TG_INIT_NORMAL: stddev 1) and b = 0.
 * rng may be NULL for TG_INIT_ZEROS. Names "weight" and "bias". NULL on
 * error: ctx NULL, rng NULL for an init that draws, in or out < 1,
 * unknown activation or init (TG_ERR_ARG), out of memory (TG_ERR_NOMEM). */
TG_API tg_layer *tg_layer_new(tg_ctx *ctx, tg_dtype dtype, int64_t in, int64_t out, tg_activation act,
                       tg_init init, tg_rng *rng);
/* Frees the layer and its two tensors. NULL is fine. */
TG_API void tg_layer_free(tg_layer *layer);
/* z = x·Wᵀ + b for x [n, in] -> [n, out] (one matmul, no transposed copy).
 * NULL with TG_ERR_SHAPE when x is not [n, in]; NULL when x is NULL. */
TG_API tg_tensor *tg_layer_linear(tg_layer *layer, tg_tensor *x);
/* a = f(x·Wᵀ + b) -> [n, out]; errors as tg_layer_linear. */
TG_API tg_tensor *tg_layer_forward(tg_layer *layer, tg_tensor *x);
TG_API tg_tensor *tg_layer_weight(const tg_layer *layer); /* W [out, in] */
TG_API tg_tensor *tg_layer_bias(const tg_layer *layer);   /* b [out] */
TG_API tg_activation tg_layer_activation(const tg_layer *layer);
TG_API int64_t tg_layer_in(const tg_layer *layer);
TG_API int64_t tg_layer_out(const tg_layer *layer);
/* W and b, in that order (a view into the layer: valid while it lives). */
TG_API tg_params tg_layer_params(const tg_layer *layer);

/* ---- multi-layer perceptron -------------------------------------------- */

/* A stack of dense layers: a⁽ˡ⁾ = f⁽ˡ⁾(a⁽ˡ⁻¹⁾·W⁽ˡ⁾ᵀ + b⁽ˡ⁾), a⁽⁰⁾ = x. A thin
 * wrapper of a sequential model (tapegrad/model.h) of TG_LAYER_DENSE layers
 * named layer1, layer2, ...: the same tensors, initializer and forward as any
 * model's dense layers, and a tg_layer is one of them (a dense module). The
 * context owns it as it owns the model (tg_ctx_free frees what tg_mlp_free
 * did not). */
typedef struct tg_mlp tg_mlp;
typedef struct tg_model tg_model;

/* n_layers dense layers; layer l (1-based) maps widths[l-1] -> widths[l] with
 * activation acts[l-1]. Weights by init from rng (TG_INIT_NORMAL: stddev 1;
 * rng may be NULL for TG_INIT_ZEROS), biases 0, named "layer1.weight", "layer1.bias", ... NULL on error: n_layers
 * < 1, NULL arrays, a width < 1, an unknown activation or init (TG_ERR_ARG),
 * out of memory (TG_ERR_NOMEM). */
TG_API tg_mlp *tg_mlp_new(tg_ctx *ctx, tg_dtype dtype, int n_layers, const int64_t *widths,
                   const tg_activation *acts, tg_init init, tg_rng *rng);
/* Frees the MLP and all its tensors. NULL is fine. */
TG_API void tg_mlp_free(tg_mlp *mlp);
/* The model the MLP wraps (owned by the MLP: print, save, draw or train it
 * with the tg_model_ functions); NULL for NULL. */
TG_API tg_model *tg_mlp_model(const tg_mlp *mlp);
/* A copy of mlp whose tensors live in ctx (the same or another context): the
 * same widths, activations, names and parameter values, no gradients (a
 * data-parallel worker's replica). NULL when mlp or ctx is NULL, or out of
 * memory (TG_ERR_NOMEM on ctx). */
TG_API tg_mlp *tg_mlp_clone(const tg_mlp *mlp, tg_ctx *ctx);
/* Refills every weight by init (stddev for TG_INIT_NORMAL) and zeroes every bias. */
TG_API tg_status tg_mlp_init(tg_mlp *mlp, tg_init init, double stddev, tg_rng *rng);
/* The network's output for x [n, widths[0]] -> [n, widths[n_layers]]; NULL on a
 * shape mismatch (TG_ERR_SHAPE, naming the layer) or a NULL x. */
TG_API tg_tensor *tg_mlp_forward(tg_mlp *mlp, tg_tensor *x);
TG_API int tg_mlp_depth(const tg_mlp *mlp);                 /* number of layers */
TG_API tg_layer *tg_mlp_layer(const tg_mlp *mlp, int index); /* 0-based; NULL when out of range */
/* All parameters: layer1.weight, layer1.bias, layer2.weight, ... (a view into
 * the MLP: valid while it lives). */
TG_API tg_params tg_mlp_params(const tg_mlp *mlp);
/* Σ over layers of out·in + out (784-256-128-10: 235,146). */
TG_API int64_t tg_mlp_param_count(const tg_mlp *mlp);
/* Prints one line per layer (name, W and b shapes, activation, parameters)
 * and the total. out NULL means stdout. */
TG_API void tg_mlp_print(const tg_mlp *mlp, FILE *out);

/* ---- losses (scalar step tensors, compositions of ops) ------------------ */

typedef enum {
    TG_REDUCE_MEAN, /* (1/N) Σ over the N elements */
    TG_REDUCE_SUM,  /* Σ over the elements */
} tg_reduction;

/* Mean squared error: tg_loss_mse (tapegrad/ops.h), a fused op. */
/* Half sum of squares E = ½ Σ (pred - target)² = ½‖y - a‖² (seed case §6):
 * dE/dpred = pred - target, with no 2 and no 1/N. Errors: shapes differ. */
TG_API tg_tensor *tg_loss_half_sse(tg_tensor *pred, tg_tensor *target);
/* Binary cross-entropy from probabilities p ∈ (0, 1):
 * L = -reduce[y ln(p + ε) + (1 - y) ln(1 - p + ε)], ε = 1e-12 in float64 and
 * 1e-7 in float32 (keeps p = 0 or 1 finite; shifts the loss by about ε/p). Prefer tg_loss_bce_logits when the logits exist. Errors: shapes differ. */
TG_API tg_tensor *tg_loss_bce(tg_tensor *prob, tg_tensor *target, tg_reduction reduction);
/* Binary cross-entropy from logits z, p = σ(z), stable for any finite z:
 * the two-class softmax cross-entropy of [0, z] against [1 - y, y], so
 * dL/dz = σ(z) - y (/N for the mean) exactly, even at z = ±1000.
 * Errors: shapes differ (TG_ERR_SHAPE). */
TG_API tg_tensor *tg_loss_bce_logits(tg_tensor *logits, tg_tensor *target, tg_reduction reduction);
/* Softmax cross-entropy of logits [n, c], mean over rows (tg_cross_entropy):
 * L = -(1/n) Σᵢ Σⱼ pᵢⱼ log softmax(zᵢ)ⱼ; dL/dz = (softmax(z) - p)/n. targets are
 * class indices [n] or probability rows [n, c]. */
TG_API tg_tensor *tg_loss_softmax_ce(tg_tensor *logits, tg_tensor *targets);
/* L2 penalty (λ/2) Σ_W ‖W‖² over the weights (rank ≥ 2) in params; biases are
 * skipped, so dW gains λW and db nothing. NULL with TG_ERR_ARG when params holds
 * no weight or λ < 0. */
TG_API tg_tensor *tg_loss_l2(tg_params params, double lambda);

/* ---- optimizers --------------------------------------------------------
 * w ← update(w, dw) over each listed tensor's .grad, as plain loops (an update
 * rule is not backprop). A tensor whose gradient is NULL (never reached by a
 * backward) is skipped. */

/* An optimizer over a tg_params list. */
typedef struct tg_optimizer tg_optimizer;

typedef enum {
    TG_DECAY_NONE,      /* no weight decay */
    TG_DECAY_L2,        /* dW ← dW + λW before the update rule (as the L2 penalty) */
    TG_DECAY_DECOUPLED, /* W ← W - lr·λ·W beside the update rule (AdamW) */
} tg_decay;

/* Plain SGD: w ← w - lr·dw. No state. NULL when params is empty or holds a
 * NULL tensor (TG_ERR_ARG where a context is known), lr < 0 (TG_ERR_ARG). */
TG_API tg_optimizer *tg_optim_sgd_new(tg_params params, double lr);
/* SGD with momentum (PyTorch's form): v ← μ·v + dw; w ← w - lr·v.
 * State: one velocity per parameter ("<name>.velocity"), zero at the start.
 * Errors as tg_optim_sgd_new, and μ outside [0, 1). */
TG_API tg_optimizer *tg_optim_momentum_new(tg_params params, double lr, double momentum);
/* Adam with bias correction, at step t = 1, 2, ...:
 * m ← β₁m + (1-β₁)dw;  v ← β₂v + (1-β₂)dw²;  m̂ = m/(1-β₁ᵗ);  v̂ = v/(1-β₂ᵗ);
 * w ← w - lr·m̂/(√v̂ + ε). State: m and v per parameter ("<name>.m", "<name>.v").
 * Typical: β₁ 0.9, β₂ 0.999, ε 1e-8. Errors as tg_optim_sgd_new, and β outside
 * [0, 1) or ε <= 0. */
TG_API tg_optimizer *tg_optim_adam_new(tg_params params, double lr, double beta1, double beta2, double eps);
/* AdamW: Adam with decoupled weight decay λ on the weights (rank >= 2), as
 * tg_optim_adam_new followed by tg_optim_set_weight_decay(TG_DECAY_DECOUPLED, λ):
 * w ← w - lr·λ·w beside the Adam update. Typical λ: 0.01. Errors as
 * tg_optim_adam_new, and λ < 0. */
TG_API tg_optimizer *tg_optim_adamw_new(tg_params params, double lr, double beta1, double beta2, double eps,
                                 double weight_decay);
/* Frees the optimizer and its state tensors (not the parameters). NULL is fine. */
TG_API void tg_optim_free(tg_optimizer *opt);
/* Applies one update to every parameter with a gradient and counts the step.
 * Errors: a parameter freed or its gradient of another shape (TG_ERR_ARG). */
TG_API tg_status tg_optim_step(tg_optimizer *opt);
/* Zeroes the gradients of the optimizer's parameters. */
TG_API void tg_optim_zero_grad(tg_optimizer *opt);
TG_API double tg_optim_lr(const tg_optimizer *opt);
TG_API void tg_optim_set_lr(tg_optimizer *opt, double lr);
/* Weight decay λ on the weights (rank ≥ 2) only; biases are never decayed.
 * Errors: λ < 0 or an unknown kind (TG_ERR_ARG). */
TG_API tg_status tg_optim_set_weight_decay(tg_optimizer *opt, tg_decay kind, double lambda);

/* Parameter groups (PyTorch's param_groups, with the learning rate as a
 * factor): the members, each one of opt's parameters, move to a new group
 * whose learning rate is lr_scale times the optimizer's (so tg_optim_set_lr
 * and schedules move every group alike) and whose weight decay λ (of the
 * optimizer's decay kind) falls on every member whatever its rank. Group 0
 * holds the others: the optimizer's lr and its λ on weights of rank >= 2.
 * AdamW that spares biases, norms and embeddings:
 *     tg_optim_add_group(opt, no_decay_params, 1.0, 0.0);
 * A tensor in two groups belongs to the later one. Returns the group's number
 * (>= 1); -1 on error (TG_ERR_ARG): lr_scale or weight_decay < 0 or NaN, a
 * member that is not one of opt's parameters, weight_decay > 0 on an
 * optimizer without a decay kind; NULL opt. */
TG_API int tg_optim_add_group(tg_optimizer *opt, tg_params members, double lr_scale, double weight_decay);
/* The group of one of opt's parameters (0 when in none); -1 when it is not
 * one of them or for NULL. */
TG_API int tg_optim_group_of(const tg_optimizer *opt, const tg_tensor *param);

/* The optimizer's state for checkpoints: its state tensors (created with the
 * optimizer, in a fixed order) and its step count. */
TG_API tg_params tg_optim_state(const tg_optimizer *opt);
TG_API int64_t tg_optim_steps(const tg_optimizer *opt);
TG_API void tg_optim_set_steps(tg_optimizer *opt, int64_t steps);

/* Gradient-norm clipping: with N = √(Σ over the listed tensors' gradients of
 * Σ g²), scales every gradient by max_norm/N when N > max_norm (so the norm
 * becomes max_norm) and leaves them alone otherwise. Tensors without a
 * gradient are skipped. Returns N before clipping (NaN or Inf when a
 * gradient holds one; the gradients are then left alone); -1 on error:
 * max_norm <= 0 or NaN, a NULL tensor (TG_ERR_ARG). */
TG_API double tg_clip_grad_norm(tg_params params, double max_norm);

/* ---- learning-rate schedules (pure functions of the epoch or step t) ---- */

/* Step decay: lr = base·gamma^⌊t/period⌋ (period < 1 counts as 1). */
TG_API double tg_lr_step(double base, double gamma, int64_t period, int64_t t);
/* Cosine annealing: lr = min + ½(base - min)(1 + cos(π·t/total)) for t in
 * [0, total]; min after total (total < 1: min). */
TG_API double tg_lr_cosine(double base, double min, int64_t total, int64_t t);

/* ---- perceptron and logistic regression -------------------------------- */

/* One row of the perceptron's table, passed to a callback. */
typedef struct {
    int64_t iteration;     /* 0: the initial weights; k >= 1: step k, one search
                              for a misclassified point, which made the k-th
                              update or (the final row) found none */
    int64_t misclassified; /* index of the point that caused this update; -1 on
                              row 0 and on the final row of a converged run */
    bool converged;        /* true on the final row: no point is misclassified */
    tg_tensor *w;          /* [d], the weights after this row (the callback may
                              change them: training goes on from there) */
    double b;              /* the bias after this row */
} tg_perceptron_row;
typedef void (*tg_perceptron_fn)(const tg_perceptron_row *row, void *user);

typedef struct {
    int64_t updates; /* updates made */
    bool converged;  /* true when a full pass found no misclassified point */
} tg_perceptron_result;

/* Rosenblatt's rule (not gradient descent): f(x) = sign(w·x + b). Repeatedly
 * takes the first point (in row order) with yᵢ(w·xᵢ + b) <= 0 and sets
 * w ← w + η·yᵢ·xᵢ, b ← b + η·yᵢ; stops when none is left (converged) or after
 * max_updates updates (not converged). x [n, d], y [n] of ±1, w [d] persistent
 * (updated in place), *b the bias. fn (may be NULL) sees row 0, every update
 * and, when converged, a final row numbered updates + 1 (the course's table:
 * 7 updates, then row 8 finds no point). To choose another point at some
 * step, loop over tg_perceptron_misclassified and tg_perceptron_update
 * instead. Errors: NULL arguments, a label not ±1, η <= 0 (TG_ERR_ARG);
 * shapes that do not fit (TG_ERR_SHAPE). */
TG_API tg_status tg_perceptron_train(tg_tensor *w, double *b, const tg_tensor *x, const tg_tensor *y, double eta,
                              int64_t max_updates, tg_perceptron_fn fn, void *user,
                              tg_perceptron_result *result);
/* The indices of the points with yᵢ(w·xᵢ + b) <= 0, in row order, written to
 * misclassified (room for n; may be NULL to count only). Returns their count
 * (0: every point is classified right), -1 on error (as tg_perceptron_train). */
TG_API int64_t tg_perceptron_misclassified(tg_tensor *w, double b, const tg_tensor *x, const tg_tensor *y,
                                    int64_t *misclassified);
/* One update of Rosenblatt's rule with point i, whichever it is:
 * w ← w + η·yᵢ·xᵢ, b ← b + η·yᵢ. Errors: those of tg_perceptron_train, i
 * outside 0..n-1 (TG_ERR_ARG). */
TG_API tg_status tg_perceptron_update(tg_tensor *w, double *b, const tg_tensor *x, const tg_tensor *y, double eta,
                               int64_t i);
/* sign(w·x + b) for each row of x [n, d] -> [n] step tensor of ±1 (0 counts as -1):
 * 2·step(x·w + b) - 1. NULL on a shape mismatch (TG_ERR_SHAPE). */
TG_API tg_tensor *tg_perceptron_predict(tg_tensor *w, double b, tg_tensor *x);

/* Logistic regression / one sigmoid neuron p = σ(x·wᵀ + b) trained by full-batch
 * gradient descent through the tape on the mean binary cross-entropy
 * J = -(1/n) Σ [y ln p + (1 - y) ln(1 - p)] (dJ/dw = (1/n) Σ (p - y)x).
 * neuron: a layer with out = 1 (its activation is not used in training; the loss
 * takes the logits). x [n, in], y [n] or [n, 1] of 0/1, both persistent: the
 * tape is reset after each epoch. *final_loss (may be NULL) gets J before the last update. Errors:
 * out != 1 or shapes that do not fit (TG_ERR_SHAPE), lr <= 0 (TG_ERR_ARG). */
TG_API tg_status tg_logistic_fit(tg_layer *neuron, tg_tensor *x, tg_tensor *y, double lr, int64_t epochs,
                          double *final_loss);

#ifdef __cplusplus
}
#endif
#endif
