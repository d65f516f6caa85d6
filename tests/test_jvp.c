/* Forward mode (tg_jvp): J·v agrees with central finite differences along v,
 * equals vᵀ·∇ for a scalar output (reverse mode's gradient), is linear in v,
 * adds nothing for inputs without a path, leaves the tape, .grad and hooks as
 * they were, and reports bad arguments. */
#include <criterion/criterion.h>
#include <math.h>

#include "tapegrad.h"
#include "tests/support.h"

/* y = tanh(x·W + b) ⊙ sigmoid(x·W): a vector output [3, 2] of three inputs. */
static tg_tensor *layer(tg_tensor *const *in)
{
    tg_tensor *z = tg_matmul(in[0], in[1]);
    return tg_mul(tg_tanh(tg_add(z, in[2])), tg_sigmoid(z));
}

enum { N_IN = 3 };

static void make_inputs(tg_ctx *ctx, tg_rng *rng, tg_tensor **in, tg_tensor **v)
{
    const int64_t shapes[N_IN][2] = {{3, 4}, {4, 2}, {2, 0}};
    for (int i = 0; i < N_IN; i++) {
        int rank = shapes[i][1] ? 2 : 1;
        in[i] = tg_tensor_randn(ctx, rng, TG_F64, rank, shapes[i], 0, 1);
        v[i] = tg_tensor_randn(ctx, rng, TG_F64, rank, shapes[i], 0, 1);
        tg_tensor_set_requires_grad(in[i], true);
    }
}

Test(jvp, matches_central_differences_along_v_for_a_vector_output)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(11);
    tg_tensor *in[N_IN], *v[N_IN];
    make_inputs(ctx, &rng, in, v);
    tg_tensor *y = layer(in);
    tg_tensor *jv;
    cr_assert_eq(tg_jvp(y, N_IN, in, v, &jv), TG_OK, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_tensor_size(jv), 6);
    /* (f(x + h·v) - f(x - h·v)) / 2h, every input moved at once */
    const double h = 1e-6;
    tg_tensor *plus[N_IN], *minus[N_IN];
    bool was = tg_grad_set_enabled(ctx, false);
    for (int i = 0; i < N_IN; i++) {
        plus[i] = tg_tensor_clone(in[i]);
        minus[i] = tg_tensor_clone(in[i]);
        for (int64_t k = 0; k < tg_tensor_size(in[i]); k++) {
            tg_tensor_set(plus[i], k, tg_tensor_get(in[i], k) + h * tg_tensor_get(v[i], k));
            tg_tensor_set(minus[i], k, tg_tensor_get(in[i], k) - h * tg_tensor_get(v[i], k));
        }
    }
    tg_tensor *fp = layer(plus), *fm = layer(minus);
    tg_grad_set_enabled(ctx, was);
    double largest = 0;
    for (int64_t k = 0; k < 6; k++) {
        double fd = (tg_tensor_get(fp, k) - tg_tensor_get(fm, k)) / (2 * h);
        cr_expect_float_eq(tg_tensor_get(jv, k), fd, 1e-7 + 1e-6 * fabs(fd), "element %lld: jvp %.10g, fd %.10g",
                           (long long)k, tg_tensor_get(jv, k), fd);
        largest = fmax(largest, fabs(fd));
    }
    cr_expect_gt(largest, 1e-3, "not a vacuous check");
    for (int i = 0; i < N_IN; i++) {
        tg_tensor_free(plus[i]);
        tg_tensor_free(minus[i]);
    }
    tg_ctx_free(ctx);
}

Test(jvp, of_a_scalar_output_equals_v_dot_the_reverse_mode_gradient)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(12);
    tg_tensor *in[N_IN], *v[N_IN];
    make_inputs(ctx, &rng, in, v);
    tg_tensor *loss = tg_mean(tg_mul(layer(in), layer(in)));
    tg_tensor *jv;
    cr_assert_eq(tg_jvp(loss, N_IN, in, v, &jv), TG_OK, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_backward(loss), TG_OK);
    double dot = 0;
    for (int i = 0; i < N_IN; i++)
        for (int64_t k = 0; k < tg_tensor_size(in[i]); k++)
            dot += tg_tensor_get(v[i], k) * tg_tensor_get(tg_tensor_grad(in[i]), k);
    cr_expect_float_eq(tg_tensor_item(jv), dot, 1e-12 * (1 + fabs(dot)), "jvp %.15g, vᵀ∇ %.15g",
                       tg_tensor_item(jv), dot);
    cr_expect_gt(fabs(dot), 1e-3);
    tg_ctx_free(ctx);
}

Test(jvp, is_linear_in_v_and_adds_nothing_for_an_input_without_a_path)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(13);
    tg_tensor *in[N_IN], *v[N_IN];
    make_inputs(ctx, &rng, in, v);
    tg_tensor *y = layer(in);
    tg_tensor *unused = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(5), 0, 1);
    tg_tensor_set_requires_grad(unused, true);
    tg_tensor *jv, *jv_each[N_IN], *jv_more;
    cr_assert_eq(tg_jvp(y, N_IN, in, v, &jv), TG_OK);
    for (int i = 0; i < N_IN; i++)
        cr_assert_eq(tg_jvp(y, 1, &in[i], &v[i], &jv_each[i]), TG_OK);
    cr_assert_eq(tg_jvp(y, 2, (tg_tensor *[]){in[0], unused}, (tg_tensor *[]){v[0], unused}, &jv_more), TG_OK);
    for (int64_t k = 0; k < 6; k++) {
        double sum = tg_tensor_get(jv_each[0], k) + tg_tensor_get(jv_each[1], k) + tg_tensor_get(jv_each[2], k);
        cr_expect_float_eq(tg_tensor_get(jv, k), sum, 1e-12, "J·v = Σ Jᵢ·vᵢ");
        cr_expect_float_eq(tg_tensor_get(jv_more, k), tg_tensor_get(jv_each[0], k), 1e-15, "no path, no term");
    }
    tg_ctx_free(ctx);
}

static int hook_calls;
static tg_tensor *count_calls(tg_tensor *t, tg_tensor *grad, void *user)
{
    (void)t, (void)user;
    hook_calls++;
    return grad;
}

Test(jvp, leaves_the_tape_grads_and_hooks_as_they_were)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(14);
    tg_tensor *in[N_IN], *v[N_IN];
    make_inputs(ctx, &rng, in, v);
    tg_tensor *y = layer(in);
    tg_tensor_set_hook(y, count_calls, NULL);
    tg_tensor_set_hook(in[0], count_calls, NULL);
    int64_t length = tg_tape_length(ctx);
    tg_tensor *jv;
    cr_assert_eq(tg_jvp(y, N_IN, in, v, &jv), TG_OK);
    cr_expect_eq(tg_tape_length(ctx), length, "the ops recorded for the JVP are rolled back");
    cr_expect_eq(hook_calls, 0, "hooks do not run");
    for (int i = 0; i < N_IN; i++)
        cr_expect_null(tg_tensor_grad(in[i]), "no .grad written");
    /* the graph still runs backward, hooks and all */
    tg_tensor *loss = tg_sum(y);
    cr_assert_eq(tg_backward(loss), TG_OK);
    cr_expect_eq(hook_calls, 2);
    cr_expect_not_null(tg_tensor_grad(in[0]));
    tg_ctx_free(ctx);
}

Test(jvp, bad_arguments_are_reported)
{
    tg_ctx *ctx = quiet_ctx();
    tg_rng rng = tg_rng_seed(15);
    tg_tensor *in[N_IN], *v[N_IN];
    make_inputs(ctx, &rng, in, v);
    tg_tensor *y = layer(in), *jv = (tg_tensor *)1;
    cr_expect_eq(tg_jvp(NULL, 1, in, v, &jv), TG_ERR_ARG);
    cr_expect_null(jv);
    cr_expect_eq(tg_jvp(y, 1, in, v, NULL), TG_ERR_ARG);
    cr_expect_eq(tg_jvp(y, 0, in, v, &jv), TG_ERR_ARG);
    cr_expect_eq(tg_jvp(y, 1, NULL, v, &jv), TG_ERR_ARG);
    cr_expect_eq(tg_jvp(y, 1, in, NULL, &jv), TG_ERR_ARG);
    cr_expect_eq(tg_jvp(y, 1, (tg_tensor *[]){NULL}, v, &jv), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_jvp(y, 1, &in[0], &v[1], &jv), TG_ERR_SHAPE);
    cr_expect_str_eq(tg_ctx_error(ctx), "tg_jvp: vector 0 is f64 [4, 2]; expected input 0's f64 [3, 4]");
    tg_ctx_clear_error(ctx);
    tg_tensor *constant = tg_tensor_ones(ctx, TG_F64, TG_SHAPE(2));
    tg_tensor *c2 = tg_mul_scalar(constant, 2);
    cr_expect_eq(tg_jvp(c2, 1, &constant, &constant, &jv), TG_ERR_GRAD);
    tg_ctx_clear_error(ctx);
    tg_tensor_free(constant);
    cr_expect_eq(tg_jvp(y, 1, &constant, &v[0], &jv), TG_ERR_FREED);
    tg_ctx_clear_error(ctx);
    tg_ctx *other = quiet_ctx();
    tg_tensor *foreign = tg_tensor_ones(other, TG_F64, TG_SHAPE(3, 4));
    cr_expect_eq(tg_jvp(y, 1, &in[0], &foreign, &jv), TG_ERR_ARG);
    tg_ctx_free(other);
    tg_ctx_free(ctx);
}
