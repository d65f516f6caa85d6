/* Optimizers: update rules as plain loops over each parameter's buffer and its
 * gradient (an update rule is not backprop, so no tape). State tensors are
 * persistent and made with the optimizer; a step allocates nothing. */
#include "nn/train/optim_internal.h"

#include <float.h>
#include <tgmath.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KIND_SGD, KIND_MOMENTUM, KIND_ADAM } optim_kind;

struct tg_optimizer {
    tg_ctx *ctx;
    optim_kind kind;
    int n_params;
    tg_tensor **params;
    int n_state;         /* momentum: n_params; Adam: 2·n_params */
    tg_tensor **state;   /* momentum: v of each parameter; Adam: m₀, v₀, m₁, v₁, ... */
    double lr, momentum, beta1, beta2, eps;
    tg_decay decay;
    double lambda;
    int64_t steps;
    /* parameter groups: group_of[i] for each parameter (0: the optimizer's lr
     * and λ on rank >= 2); group g >= 1 has lr_scale[g]·lr and λ group_decay[g] */
    int *group_of;
    int n_groups;
    double *lr_scale, *group_decay;
};

static tg_optimizer *optim_make(tg_params params, const char *who, optim_kind kind, double lr, int states_per_param,
                                const char *const *suffixes)
{
    tg_ctx *ctx = NULL;
    for (int i = 0; i < params.count && !ctx; i++)
        if (params.items && params.items[i])
            ctx = tg_tensor_ctx(params.items[i]);
    if (!ctx)
        return NULL; /* no tensor: no context to report to */
    for (int i = 0; i < params.count; i++) {
        if (!params.items[i])
            return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: parameter %d is NULL", who, i), NULL;
        if (tg_tensor_ctx(params.items[i]) != ctx)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: parameter %d belongs to another context", who, i), NULL;
    }
    if (!(lr >= 0))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: learning rate is %g; expected >= 0", who, lr), NULL;
    tg_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: out of memory", who), NULL;
    *opt = (tg_optimizer){.ctx = ctx, .kind = kind, .n_params = params.count, .lr = lr};
    opt->params = malloc((size_t)params.count * sizeof *opt->params);
    opt->n_state = params.count * states_per_param;
    opt->state = opt->n_state ? calloc((size_t)opt->n_state, sizeof *opt->state) : NULL;
    if (!opt->params || (opt->n_state && !opt->state)) {
        tg_optim_free(opt);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "%s: out of memory", who), NULL;
    }
    memcpy(opt->params, params.items, (size_t)params.count * sizeof *opt->params);
    for (int i = 0; i < params.count; i++)
        for (int k = 0; k < states_per_param; k++) {
            tg_tensor *p = params.items[i];
            tg_tensor *s = tg_tensor_new(ctx, tg_tensor_dtype(p), tg_tensor_rank(p), tg_tensor_shape(p));
            if (!s) {
                tg_optim_free(opt);
                return NULL;
            }
            char name[128];
            const char *base = tg_tensor_name(p);
            if (base)
                snprintf(name, sizeof name, "%s.%s", base, suffixes[k]);
            else
                snprintf(name, sizeof name, "param%d.%s", i, suffixes[k]);
            tg_tensor_set_name(s, name);
            opt->state[i * states_per_param + k] = s;
        }
    return opt;
}

tg_optimizer *tg_optim_sgd_new(tg_params params, double lr)
{
    return optim_make(params, "tg_optim_sgd_new", KIND_SGD, lr, 0, NULL);
}

tg_optimizer *tg_optim_momentum_new(tg_params params, double lr, double momentum)
{
    static const char *const suffixes[] = {"velocity"};
    if (!(momentum >= 0 && momentum < 1)) {
        if (params.count > 0 && params.items && params.items[0])
            tg_ctx_fail(tg_tensor_ctx(params.items[0]), TG_ERR_ARG,
                        "tg_optim_momentum_new: momentum is %g; expected 0 <= momentum < 1", momentum);
        return NULL;
    }
    tg_optimizer *opt = optim_make(params, "tg_optim_momentum_new", KIND_MOMENTUM, lr, 1, suffixes);
    if (opt)
        opt->momentum = momentum;
    return opt;
}

tg_optimizer *tg_optim_adam_new(tg_params params, double lr, double beta1, double beta2, double eps)
{
    static const char *const suffixes[] = {"m", "v"};
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps > 0)) {
        if (params.count > 0 && params.items && params.items[0])
            tg_ctx_fail(tg_tensor_ctx(params.items[0]), TG_ERR_ARG,
                        "tg_optim_adam_new: beta1 = %g, beta2 = %g, eps = %g; expected betas in [0, 1) and eps > 0",
                        beta1, beta2, eps);
        return NULL;
    }
    tg_optimizer *opt = optim_make(params, "tg_optim_adam_new", KIND_ADAM, lr, 2, suffixes);
    if (opt) {
        opt->beta1 = beta1;
        opt->beta2 = beta2;
        opt->eps = eps;
    }
    return opt;
}

tg_optimizer *tg_optim_adamw_new(tg_params params, double lr, double beta1, double beta2, double eps,
                                 double weight_decay)
{
    tg_optimizer *opt = tg_optim_adam_new(params, lr, beta1, beta2, eps);
    if (opt && tg_optim_set_weight_decay(opt, TG_DECAY_DECOUPLED, weight_decay) != TG_OK) {
        tg_optim_free(opt);
        return NULL;
    }
    return opt;
}

void tg_optim_free(tg_optimizer *opt)
{
    if (!opt)
        return;
    if (opt->state)
        for (int i = 0; i < opt->n_state; i++)
            tg_tensor_free(opt->state[i]);
    free(opt->state);
    free(opt->params);
    free(opt->group_of);
    free(opt->lr_scale);
    free(opt->group_decay);
    free(opt);
}

/* One parameter's update, for T = float or double. w [n], g = dw [n]; s0, s1
 * the state buffers (NULL when the rule has none). bc1, bc2: Adam's 1 - βᵗ.
 * One loop per rule, in T: the compiler vectorizes each. Decay: with L2,
 * dW ← dW + λW; decoupled, W ← W - lr·λ·W (shrink).
 *
 * Subnormals: a moment whose gradient stays exactly zero (a dead ReLU unit,
 * an always-black border pixel) decays geometrically, and after some
 * thousand steps would sit in the subnormal range, where x86 arithmetic takes
 * a slow path on every step (Adam measured 3.7x slower per step). So a moment
 * below the smallest normal number (TINY: FLT_MIN, DBL_MIN) is stored as
 * exactly zero; its update is then exactly zero too, as it already was to
 * within 1e-38. No floating-point mode is touched. */
#define TG_UPDATE_RULE(T, TINY, SUFFIX, ATTR)                                                     \
    ATTR static void update_##T##SUFFIX(const tg_optimizer *opt, double lr_, double lambda, int64_t n, \
                                        T *restrict w, const T *restrict g, T *restrict s0,      \
                                        T *restrict s1, double bc1, double bc2)                  \
    {                                                                                            \
        const T lr = (T)lr_, tiny = TINY;                                                        \
        const T l2 = (T)(opt->decay == TG_DECAY_L2 ? lambda : 0);                                \
        const T shrink = (T)(opt->decay == TG_DECAY_DECOUPLED ? 1 - lr_ * lambda : 1);           \
        switch (opt->kind) {                                                                     \
        case KIND_SGD: /* w ← w - lr·dw */                                                       \
            for (int64_t i = 0; i < n; i++)                                                      \
                w[i] = w[i] * shrink - lr * (g[i] + l2 * w[i]);                                  \
            break;                                                                               \
        case KIND_MOMENTUM: { /* v ← μv + dw; w ← w - lr·v */                                    \
            const T mu = (T)opt->momentum;                                                       \
            for (int64_t i = 0; i < n; i++) {                                                    \
                T v = mu * s0[i] + (g[i] + l2 * w[i]);                                           \
                v = fabs(v) < tiny ? 0 : v;                                                      \
                s0[i] = v;                                                                       \
                w[i] = w[i] * shrink - lr * v;                                                   \
            }                                                                                    \
            break;                                                                               \
        }                                                                                        \
        case KIND_ADAM: { /* m ← β₁m + (1-β₁)dw; v ← β₂v + (1-β₂)dw²; w ← w - lr·m̂/(√v̂ + ε) */  \
            const T b1 = (T)opt->beta1, b2 = (T)opt->beta2, eps = (T)opt->eps;                   \
            const T step = (T)(lr_ / bc1), inv_bc2 = (T)(1 / bc2);                               \
            for (int64_t i = 0; i < n; i++) {                                                    \
                T gi = g[i] + l2 * w[i];                                                         \
                T m = b1 * s0[i] + (1 - b1) * gi;                                                \
                T v = b2 * s1[i] + (1 - b2) * gi * gi;                                           \
                m = fabs(m) < tiny ? 0 : m;                                                      \
                v = v < tiny ? 0 : v;                                                            \
                s0[i] = m;                                                                       \
                s1[i] = v;                                                                       \
                w[i] = w[i] * shrink - step * m / (sqrt(v * inv_bc2) + eps);                     \
            }                                                                                    \
            break;                                                                               \
        }                                                                                        \
        }                                                                                        \
    }

/* The same loops compiled three times: baseline x86-64 (SSE2) or the host's
 * default, AVX2 and AVX-512, picked at run time as the GEMM does. Without
 * contraction (ISO C mode) the three give bit-identical results: the rules use
 * +, ×, ÷ and √ only, all correctly rounded. Adam is bound by its √ and ÷:
 * AVX-512 runs it about twice as fast as SSE2. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TG_OPTIM_X86 1
#define TG_AVX2 __attribute__((target("avx2")))
#define TG_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx2")))
TG_UPDATE_RULE(float, FLT_MIN, _avx2, TG_AVX2)
TG_UPDATE_RULE(double, DBL_MIN, _avx2, TG_AVX2)
TG_UPDATE_RULE(float, FLT_MIN, _avx512, TG_AVX512)
TG_UPDATE_RULE(double, DBL_MIN, _avx512, TG_AVX512)
#endif
TG_UPDATE_RULE(float, FLT_MIN, , )
TG_UPDATE_RULE(double, DBL_MIN, , )
#undef TG_UPDATE_RULE

typedef void (*update_float_fn)(const tg_optimizer *, double, double, int64_t, float *, const float *, float *,
                                float *, double, double);
typedef void (*update_double_fn)(const tg_optimizer *, double, double, int64_t, double *, const double *, double *,
                                 double *, double, double);

/* Parameter i's learning rate and weight decay λ (0: none), from its group. */
static void rate_of(const tg_optimizer *opt, int i, double *lr, double *lambda)
{
    int g = opt->group_of ? opt->group_of[i] : 0;
    *lr = g ? opt->lr * opt->lr_scale[g] : opt->lr;
    *lambda = opt->decay == TG_DECAY_NONE ? 0 : g ? opt->group_decay[g]
              : tg_tensor_rank(opt->params[i]) >= 2 ? opt->lambda : 0; /* group 0: weights only */
}

static void pick_update(update_float_fn *f, update_double_fn *d)
{
    *f = update_float;
    *d = update_double;
#ifdef TG_OPTIM_X86
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq")) {
        *f = update_float_avx512;
        *d = update_double_avx512;
    } else if (__builtin_cpu_supports("avx2")) {
        *f = update_float_avx2;
        *d = update_double_avx2;
    }
#endif
}

bool tg_optim_updates_exactly(const tg_optimizer *opt, tg_params params)
{
    return opt && params.count == opt->n_params && params.items &&
           !memcmp(params.items, opt->params, (size_t)opt->n_params * sizeof *opt->params);
}

void tg_optim_update_slice(const tg_optimizer *opt, int i, int64_t begin, int64_t end, const void *grad, void *values)
{
    int64_t t = opt->steps + 1;
    double bc1 = opt->kind == KIND_ADAM ? 1 - pow(opt->beta1, (double)t) : 1;
    double bc2 = opt->kind == KIND_ADAM ? 1 - pow(opt->beta2, (double)t) : 1;
    int per = opt->n_params ? opt->n_state / opt->n_params : 0;
    tg_tensor *p = opt->params[i];
    double lr, lambda;
    rate_of(opt, i, &lr, &lambda);
    update_float_fn update_f;
    update_double_fn update_d;
    pick_update(&update_f, &update_d);
    if (tg_tensor_dtype(p) == TG_F32) {
        float *s0 = per > 0 ? (float *)tg_tensor_data(opt->state[i * per]) + begin : NULL;
        float *s1 = per > 1 ? (float *)tg_tensor_data(opt->state[i * per + 1]) + begin : NULL;
        update_f(opt, lr, lambda, end - begin, (float *)values + begin, (const float *)grad + begin, s0, s1, bc1, bc2);
    } else {
        double *s0 = per > 0 ? (double *)tg_tensor_data(opt->state[i * per]) + begin : NULL;
        double *s1 = per > 1 ? (double *)tg_tensor_data(opt->state[i * per + 1]) + begin : NULL;
        update_d(opt, lr, lambda, end - begin, (double *)values + begin, (const double *)grad + begin, s0, s1, bc1,
                 bc2);
    }
}

tg_status tg_optim_step(tg_optimizer *opt)
{
    if (!opt)
        return TG_ERR_ARG;
    int64_t t = opt->steps + 1; /* Adam's bias correction counts steps from 1 */
    double bc1 = opt->kind == KIND_ADAM ? 1 - pow(opt->beta1, (double)t) : 1;
    double bc2 = opt->kind == KIND_ADAM ? 1 - pow(opt->beta2, (double)t) : 1;
    int per = opt->n_params ? opt->n_state / opt->n_params : 0;
    update_float_fn update_f;
    update_double_fn update_d;
    pick_update(&update_f, &update_d);
    /* A gradient of 1e-20 squares to a subnormal before the moment is snapped
     * to zero: the update computes with subnormals flushed, in a loop of the
     * caller's own as inside tg_train (4x faster on such gradients), and gives
     * the caller's mode back. */
    tg_fp_mode caller = tg_fp_flush_subnormals();
    for (int i = 0; i < opt->n_params; i++) {
        tg_tensor *p = opt->params[i];
        void *w = tg_tensor_data(p);
        if (!w) {
            tg_fp_mode_restore(caller);
            return tg_ctx_fail(opt->ctx, TG_ERR_ARG, "tg_optim_step: parameter %d (%s) was freed", i,
                               tg_tensor_name(p) ? tg_tensor_name(p) : "unnamed");
        }
        tg_tensor *grad = tg_tensor_grad(p);
        if (!grad)
            continue; /* not reached by backward: no update, no state change */
        double lr, lambda;
        rate_of(opt, i, &lr, &lambda);
        void *s0 = per > 0 ? tg_tensor_data(opt->state[i * per]) : NULL;
        void *s1 = per > 1 ? tg_tensor_data(opt->state[i * per + 1]) : NULL;
        if (tg_tensor_dtype(p) == TG_F32)
            update_f(opt, lr, lambda, tg_tensor_size(p), w, tg_tensor_data(grad), s0, s1, bc1, bc2);
        else
            update_d(opt, lr, lambda, tg_tensor_size(p), w, tg_tensor_data(grad), s0, s1, bc1, bc2);
    }
    tg_fp_mode_restore(caller);
    opt->steps = t;
    return TG_OK;
}

void tg_optim_zero_grad(tg_optimizer *opt)
{
    if (opt)
        tg_params_zero_grad((tg_params){opt->n_params, opt->params});
}

double tg_optim_lr(const tg_optimizer *opt) { return opt ? opt->lr : NAN; }
void tg_optim_set_lr(tg_optimizer *opt, double lr)
{
    if (opt)
        opt->lr = lr;
}

tg_status tg_optim_set_weight_decay(tg_optimizer *opt, tg_decay kind, double lambda)
{
    if (!opt)
        return TG_ERR_ARG;
    if (kind < TG_DECAY_NONE || kind > TG_DECAY_DECOUPLED || !(lambda >= 0))
        return tg_ctx_fail(opt->ctx, TG_ERR_ARG, "tg_optim_set_weight_decay: kind %d, lambda %g; expected a TG_DECAY_ "
                           "value and lambda >= 0", (int)kind, lambda);
    opt->decay = kind;
    opt->lambda = lambda;
    return TG_OK;
}

int tg_optim_add_group(tg_optimizer *opt, tg_params members, double lr_scale, double weight_decay)
{
    if (!opt)
        return -1;
    if (!(lr_scale >= 0) || !(weight_decay >= 0) || (members.count > 0 && !members.items) || members.count < 0)
        return tg_ctx_fail(opt->ctx, TG_ERR_ARG, "tg_optim_add_group: lr_scale %g, weight_decay %g, %d members; "
                           "expected both >= 0 and a list of tensors", lr_scale, weight_decay, members.count), -1;
    if (weight_decay > 0 && opt->decay == TG_DECAY_NONE)
        return tg_ctx_fail(opt->ctx, TG_ERR_ARG, "tg_optim_add_group: weight_decay %g, but the optimizer has no decay "
                           "kind; expected tg_optim_adamw_new or tg_optim_set_weight_decay first", weight_decay), -1;
    int *group_of = opt->group_of ? opt->group_of : calloc((size_t)opt->n_params + 1, sizeof *group_of);
    opt->group_of = group_of;
    if (!group_of)
        return tg_ctx_fail(opt->ctx, TG_ERR_NOMEM, "tg_optim_add_group: out of memory"), -1;
    int *slots = malloc(((size_t)members.count + 1) * sizeof *slots);
    if (!slots)
        return tg_ctx_fail(opt->ctx, TG_ERR_NOMEM, "tg_optim_add_group: out of memory"), -1;
    for (int k = 0; k < members.count; k++) { /* every member is one of the optimizer's parameters */
        slots[k] = -1;
        for (int i = 0; i < opt->n_params && slots[k] < 0; i++)
            if (opt->params[i] == members.items[k])
                slots[k] = i;
        if (slots[k] < 0) {
            const char *name = members.items[k] ? tg_tensor_name(members.items[k]) : NULL;
            free(slots);
            return tg_ctx_fail(opt->ctx, TG_ERR_ARG, "tg_optim_add_group: member %d (%s) is not one of the "
                               "optimizer's %d parameters", k, members.items[k] ? name ? name : "unnamed" : "NULL",
                               opt->n_params), -1;
        }
    }
    int g = opt->n_groups ? opt->n_groups : 1; /* group 0 is the optimizer's own */
    double *scale = realloc(opt->lr_scale, (size_t)(g + 1) * sizeof *scale);
    if (scale)
        opt->lr_scale = scale;
    double *decay = scale ? realloc(opt->group_decay, (size_t)(g + 1) * sizeof *decay) : NULL;
    if (decay)
        opt->group_decay = decay;
    if (!scale || !decay) {
        free(slots);
        return tg_ctx_fail(opt->ctx, TG_ERR_NOMEM, "tg_optim_add_group: out of memory"), -1;
    }
    scale[0] = 1, decay[0] = 0;
    scale[g] = lr_scale, decay[g] = weight_decay;
    opt->n_groups = g + 1;
    for (int k = 0; k < members.count; k++)
        group_of[slots[k]] = g;
    free(slots);
    return g;
}

int tg_optim_group_of(const tg_optimizer *opt, const tg_tensor *param)
{
    for (int i = 0; opt && i < opt->n_params; i++)
        if (opt->params[i] == param)
            return opt->group_of ? opt->group_of[i] : 0;
    return -1;
}

tg_params tg_optim_state(const tg_optimizer *opt)
{
    return opt ? (tg_params){opt->n_state, opt->state} : (tg_params){0, NULL};
}
int64_t tg_optim_steps(const tg_optimizer *opt) { return opt ? opt->steps : -1; }
void tg_optim_set_steps(tg_optimizer *opt, int64_t steps)
{
    if (opt)
        opt->steps = steps;
}

/* ---- learning-rate schedules ---- */

/* lr = base·gamma^⌊t/period⌋ */
double tg_lr_step(double base, double gamma, int64_t period, int64_t t)
{
    if (period < 1)
        period = 1;
    if (t < 0)
        t = 0;
    return base * pow(gamma, (double)(t / period));
}

/* lr = min + ½(base - min)(1 + cos(π·t/total)) */
double tg_lr_cosine(double base, double min, int64_t total, int64_t t)
{
    if (total < 1 || t >= total)
        return min;
    if (t < 0)
        t = 0;
    const double pi = 3.14159265358979323846;
    return min + 0.5 * (base - min) * (1 + cos(pi * (double)t / (double)total));
}
