/* The tape and backward: accumulation, fan-out, modes, memory, errors,
 * anomaly mode, hooks and second derivatives. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd/internal.h" /* white-box checks of memory reuse */
#include "tapegrad.h"
#include "tests/support.h"

static tg_tensor *param(tg_ctx *ctx, int rank, const int64_t *shape, const double *values)
{
    tg_tensor *t = tg_tensor_from(ctx, TG_F64, rank, shape, values);
    tg_tensor_set_requires_grad(t, true);
    return t;
}

Test(autograd, readme_example_gives_sigmoid_derivative)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *x = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){2, 3});
    tg_tensor *w = param(ctx, TG_SHAPE(2), (double[]){0, 1});
    tg_tensor *y = tg_sigmoid(tg_add_scalar(tg_sum(tg_mul(w, x)), 4));
    cr_assert_eq(tg_backward(y), TG_OK);
    double s = 1 / (1 + exp(-7.0));
    cr_expect_float_eq(tg_tensor_item(y), 0.9990889, 1e-7);
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(w), 0), s * (1 - s) * 2, 1e-15);
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(w), 1), s * (1 - s) * 3, 1e-15);
    cr_expect_null(tg_tensor_grad(x), "x does not require a gradient");
    tg_ctx_free(ctx);
}

Test(autograd, fan_out_sums_every_use)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *x = param(ctx, TG_SHAPE(1), (double[]){3});
    /* y = x·x + x·x·x + x: dy/dx = 2x + 3x² + 1 = 34 */
    tg_tensor *xx = tg_mul(x, x);
    tg_tensor *y = tg_add(tg_add(xx, tg_mul(xx, x)), x);
    cr_assert_eq(tg_backward(y), TG_OK);
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(x), 0), 34.0, 1e-12);
    tg_ctx_free(ctx);
}

/* backward sums a tensor's contributions in place once it has made the sum
 * itself; a contribution that add hands to both its inputs is one tensor,
 * so neither input's sum may be the other's. */
Test(autograd, summing_in_place_never_changes_a_gradient_shared_by_two_inputs)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *p = param(ctx, TG_SHAPE(2), (double[]){1, 2});
    tg_tensor *q = param(ctx, TG_SHAPE(2), (double[]){3, 4});
    /* t's gradient is a sum of three (made by backward), then add hands that
     * one tensor to p and to q as their first contribution; p gets one more
     * afterwards, from z (recorded before t, so differentiated after it).
     * y = Σ(3t + z), t = p + q, z = p + 1: dy/dp = 3 + 1, dy/dq = 3 */
    tg_tensor *z = tg_add_scalar(p, 1);
    tg_tensor *t = tg_add(p, q);
    tg_tensor *y = tg_sum(tg_add(tg_add(tg_add(t, t), t), z));
    cr_assert_eq(tg_backward(y), TG_OK, "%s", tg_ctx_error(ctx));
    for (int i = 0; i < 2; i++) {
        cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(p), i), 4.0, 1e-12, "dp[%d]", i);
        cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(q), i), 3.0, 1e-12, "dq[%d]", i);
    }
    /* the same under tg_grad, where the sums are handed back, and with
     * create_graph, where they are ops on the tape */
    for (int create_graph = 0; create_graph < 2; create_graph++) {
        tg_tensor *grads[2] = {NULL, NULL};
        cr_assert_eq(tg_grad(y, NULL, 2, (tg_tensor *[]){p, q}, grads, create_graph), TG_OK, "%s",
                     tg_ctx_error(ctx));
        for (int i = 0; i < 2; i++) {
            cr_expect_float_eq(tg_tensor_get(grads[0], i), 4.0, 1e-12);
            cr_expect_float_eq(tg_tensor_get(grads[1], i), 3.0, 1e-12);
        }
    }
    tg_ctx_free(ctx);
}

/* Many contributions into one leaf, summed in place after the first sum, give
 * the same as summing them one op at a time. */
Test(autograd, a_leaf_used_by_many_ops_gets_every_contribution)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *w = param(ctx, TG_SHAPE(3), (double[]){0.5, -1, 2});
    tg_tensor *x = param(ctx, TG_SHAPE(3), (double[]){1, 2, 3});
    /* y = Σ over 100 uses of (h·w + x), h the running value: dy/dw and dy/dx by
     * the chain rule, compared with the same graph differentiated with sums
     * forced out of place (anomaly mode makes every sum a checked op). */
    tg_tensor *grads[2][2];
    for (int anomaly = 0; anomaly < 2; anomaly++) {
        tg_anomaly_set_enabled(ctx, anomaly);
        tg_tensor *h = x;
        for (int k = 0; k < 100; k++)
            h = tg_mul_scalar(tg_add(tg_mul(h, w), x), 0.5);
        cr_assert_eq(tg_grad(tg_sum(h), NULL, 2, (tg_tensor *[]){w, x}, grads[anomaly], false), TG_OK, "%s",
                     tg_ctx_error(ctx));
    }
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 3; i++) {
            double in_place = tg_tensor_get(grads[0][j], i), apart = tg_tensor_get(grads[1][j], i);
            cr_expect_neq(apart, 0.0);
            cr_expect_eq(in_place, apart, "input %d [%d]: %.17g in place, %.17g apart", j, i, in_place, apart);
        }
    tg_ctx_free(ctx);
}

/* A big tensor used many times on a context with threads: its sums go into
 * place in parallel ranges, and every element gets every contribution. */
Test(autograd, a_big_tensor_used_many_times_sums_every_use_on_two_threads)
{
    tg_ctx *ctx = tg_ctx_new(2);
    enum { N = 100000 }; /* above the size where work is split across threads */
    tg_tensor *x = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(N));
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = NULL;
    for (int k = 1; k <= 5; k++) { /* y = Σ_k k·x: dy/dx = 15 everywhere */
        tg_tensor *term = tg_mul_scalar(x, k);
        y = y ? tg_add(y, term) : term;
    }
    cr_assert_eq(tg_backward_with(y, tg_tensor_ones(ctx, TG_F32, TG_SHAPE(N))), TG_OK, "%s", tg_ctx_error(ctx));
    int64_t wrong = 0;
    for (int64_t i = 0; i < N; i++)
        wrong += tg_tensor_get(tg_tensor_grad(x), i) != 15.0;
    cr_expect_eq(wrong, 0, "%lld of %d elements lack a contribution", (long long)wrong, (int)N);
    tg_ctx_free(ctx);
}

Test(autograd, gradients_accumulate_across_backwards_until_zeroed)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *w = param(ctx, TG_SHAPE(2), (double[]){1, 2});
    for (int step = 0; step < 3; step++) {
        cr_assert_eq(tg_backward(tg_sum(tg_mul_scalar(w, 5))), TG_OK);
        tg_tape_reset(ctx);
    }
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(w), 1), 15.0, 1e-12);
    tg_tensor_zero_grad(w);
    cr_expect_eq(tg_tensor_get(tg_tensor_grad(w), 1), 0.0);
    /* after zeroing, the next backward writes the gradient afresh */
    cr_assert_eq(tg_backward(tg_sum(tg_mul_scalar(w, 5))), TG_OK);
    tg_tensor_zero_grad(w);
    cr_assert_eq(tg_backward(tg_sum(tg_mul_scalar(w, 7))), TG_OK);
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(w), 0), 7.0, 1e-12);
    tg_ctx_free(ctx);
}

Test(autograd, a_second_backward_over_the_same_tape_is_refused_and_changes_no_gradient)
{
    tg_ctx *ctx = quiet_ctx();
    tg_tensor *w = param(ctx, TG_SHAPE(2), (double[]){1, 2});
    tg_tensor *loss = tg_sum(tg_mul(w, w)); /* dL/dw = 2w */
    cr_assert_eq(tg_backward(loss), TG_OK);
    cr_assert_eq(tg_backward(loss), TG_ERR_GRAD, "a second pass would double .grad");
    cr_expect_not_null(strstr(tg_ctx_error(ctx), "already walked"), "%s", tg_ctx_error(ctx));
    cr_expect_not_null(strstr(tg_ctx_error(ctx), "tg_backward_retain"), "%s", tg_ctx_error(ctx));
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(w), 1), 4.0, 1e-12, "the refused pass added nothing");
    tg_ctx_clear_error(ctx);
    /* a loss sharing part of the graph is refused too: its pass meets a walked entry */
    tg_tensor *sq = tg_mul(w, w);
    cr_assert_eq(tg_backward(tg_sum(sq)), TG_OK);
    cr_expect_eq(tg_backward(tg_mean(sq)), TG_ERR_GRAD);
    tg_ctx_clear_error(ctx);
    /* after a reset the same forward runs and backpropagates again */
    tg_tape_reset(ctx);
    tg_tensor_zero_grad(w);
    cr_assert_eq(tg_backward(tg_sum(tg_mul(w, w))), TG_OK);
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(w), 1), 4.0, 1e-12);
    tg_ctx_free(ctx);
}

Test(autograd, retain_asks_for_a_second_pass_that_accumulates)
{
    tg_ctx *ctx = quiet_ctx();
    tg_tensor *w = param(ctx, TG_SHAPE(2), (double[]){1, 2});
    tg_tensor *sq = tg_mul(w, w);
    cr_assert_eq(tg_backward_retain(tg_sum(sq), NULL), TG_OK); /* 2w */
    cr_assert_eq(tg_backward(tg_mean(sq)), TG_OK);             /* + w: two losses over one graph */
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(w), 1), 6.0, 1e-12);
    cr_expect_eq(tg_backward(tg_sum(sq)), TG_ERR_GRAD, "the last pass was not retained");
    tg_ctx_free(ctx);
}

Test(autograd, two_losses_whose_graphs_do_not_meet_each_run_their_own_pass)
{
    tg_ctx *ctx = quiet_ctx();
    tg_tensor *a = param(ctx, TG_SHAPE(1), (double[]){3});
    tg_tensor *b = param(ctx, TG_SHAPE(1), (double[]){5});
    tg_tensor *la = tg_sum(tg_mul(a, a)), *lb = tg_sum(tg_mul(b, b));
    cr_assert_eq(tg_backward(la), TG_OK);
    cr_assert_eq(tg_backward(lb), TG_OK);
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(a), 0), 6.0, 1e-12);
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(b), 0), 10.0, 1e-12);
    /* tg_grad touches no .grad, so it may walk a graph as often as asked */
    tg_tensor *g[1];
    cr_assert_eq(tg_grad(la, NULL, 1, &a, g, false), TG_OK);
    cr_assert_eq(tg_grad(la, NULL, 1, &a, g, false), TG_OK);
    cr_expect_float_eq(tg_tensor_get(g[0], 0), 6.0, 1e-12);
    tg_ctx_free(ctx);
}

Test(autograd, upstream_gradient_for_non_scalar_outputs)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *x = param(ctx, TG_SHAPE(3), (double[]){1, 2, 3});
    tg_tensor *y = tg_mul(x, x);
    tg_tensor *dy = tg_tensor_from(ctx, TG_F64, TG_SHAPE(3), (double[]){1, 10, 100});
    cr_assert_eq(tg_backward_with(y, dy), TG_OK);
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(x), 2), 600.0, 1e-12);
    tg_ctx_free(ctx);
}

Test(autograd, no_grad_mode_records_nothing)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *w = param(ctx, TG_SHAPE(2), (double[]){1, 2});
    bool was = tg_grad_set_enabled(ctx, false);
    cr_expect(was);
    tg_tensor *y = tg_sum(tg_sigmoid(w));
    cr_expect_eq(tg_tape_length(ctx), 0);
    cr_expect_not(tg_tensor_requires_grad(y));
    tg_grad_set_enabled(ctx, true);
    tg_sum(tg_sigmoid(w));
    cr_expect_eq(tg_tape_length(ctx), 2);
    tg_ctx_free(ctx);
}

Test(autograd, tape_reset_keeps_parameters_and_frees_intermediates)
{
    tg_ctx *ctx = quiet_ctx();
    tg_tensor *w = param(ctx, TG_SHAPE(2), (double[]){1, 2});
    tg_tensor *h = tg_relu(w);
    tg_tape_reset(ctx);
    cr_expect_eq(tg_tape_length(ctx), 0);
    cr_expect_float_eq(tg_tensor_get(w, 1), 2.0, 0);
    cr_expect_null(tg_sum(h), "an intermediate of an earlier step is freed");
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_FREED);
    cr_expect(strstr(tg_ctx_error(ctx), "sum") && strstr(tg_ctx_error(ctx), "tg_tape_reset"), "%s", tg_ctx_error(ctx));
    tg_ctx_free(ctx);
}

Test(autograd, a_training_step_allocates_nothing_once_warm)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(1);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(16, 8), 0, 1);
    tg_tensor *w = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(4, 8), 0, 1);
    tg_tensor *b = tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(4));
    tg_tensor *labels = tg_tensor_from(ctx, TG_F32, TG_SHAPE(16), (double[16]){0, 1, 2, 3, 0, 1, 2, 3});
    tg_tensor_set_requires_grad(w, true);
    tg_tensor_set_requires_grad(b, true);
    size_t chunks = 0;
    int64_t tape_cap = 0, scratch_cap = 0;
    for (int step = 0; step < 20; step++) {
        tg_tensor *loss = tg_cross_entropy(tg_relu(tg_add(tg_matmul_t(x, w, false, true), b)), labels);
        cr_assert_eq(tg_backward(loss), TG_OK);
        tg_tape_reset(ctx);
        size_t n = 0;
        for (tg_arena_chunk *c = ctx->memory.chunks; c; c = c->next)
            n++; /* a chunk starts with its next pointer */
        if (step == 1) {
            chunks = n;
            tape_cap = ctx->tape_cap;
            scratch_cap = ctx->scratch_cap;
        } else if (step > 1) {
            cr_expect_eq(n, chunks, "step %d grew the step memory", step);
            cr_expect_eq(ctx->tape_cap, tape_cap);
            cr_expect_eq(ctx->scratch_cap, scratch_cap);
        }
    }
    tg_ctx_free(ctx);
}

/* A chain of 100 tanh on 128 KB tensors: the forward keeps 100 values, the
 * backward needs a few gradients at a time, however long the chain. */
Test(autograd, backward_frees_each_gradient_once_read_so_a_long_chain_needs_a_few)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(3);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(128, 128), 0, 1);
    tg_tensor_set_requires_grad(x, true);
    int64_t bytes = 128 * 128 * 8;
    for (int step = 0; step < 2; step++) { /* the second step reuses the first one's chunks */
        tg_tensor *y = x;
        for (int i = 0; i < 100; i++)
            y = tg_tanh(tg_mul_scalar(y, 0.99));
        tg_tensor *loss = tg_sum(y);
        int64_t forward = tg_ctx_step_bytes(ctx);
        cr_expect_gt(forward, 200 * bytes);
        tg_tensor *by_grad;
        cr_assert_eq(tg_grad(loss, NULL, 1, &x, &by_grad, false), TG_OK); /* keeps everything */
        int64_t after_grad = tg_ctx_step_bytes(ctx);
        cr_expect_gt(after_grad - forward, 200 * bytes, "tg_grad hands out its gradients: nothing reused");
        tg_tensor_zero_grad(x);
        cr_assert_eq(tg_backward(loss), TG_OK);
        int64_t backward = tg_ctx_step_bytes(ctx) - after_grad;
        cr_expect_lt(backward, 6 * bytes, "backward took %lld bytes, %.1f tensors", (long long)backward,
                     (double)backward / (double)bytes);
        cr_expect_eq(memcmp(tg_tensor_data(tg_tensor_grad(x)), tg_tensor_data(by_grad), (size_t)bytes), 0,
                     "the recycling pass gives tg_grad's numbers, bit for bit");
        tg_tape_reset(ctx);
    }
    tg_ctx_free(ctx);
}

static tg_tensor *big(tg_ctx *ctx, tg_rng *rng)
{
    tg_tensor *t = tg_tensor_randn(ctx, rng, TG_F64, TG_SHAPE(24, 40), 0, 1);
    tg_tensor_set_requires_grad(t, true);
    return t;
}

/* Gradients that are passed on (add), shared by two inputs, viewed
 * (reshape), summed from several uses and broadcast: a pass that frees
 * memory gives exactly the numbers of one that keeps all of it. */
Test(autograd, recycled_backward_memory_never_holds_a_gradient_still_pending)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(4);
    tg_tensor *a = big(ctx, &rng), *b = big(ctx, &rng), *c = big(ctx, &rng);
    tg_tensor *row = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(40), 0, 1);
    tg_tensor_set_requires_grad(row, true);
    tg_tensor *s = tg_add(a, b);                       /* dy goes to a and b alike */
    tg_tensor *t = tg_mul(tg_tanh(s), tg_add(c, row)); /* row broadcast */
    tg_tensor *u = tg_reshape(tg_sigmoid(t), TG_SHAPE(40, 24));
    tg_tensor *v = tg_add(tg_reshape(u, TG_SHAPE(24, 40)), tg_mul(s, t)); /* s and t used twice */
    tg_tensor *w = tg_matmul(v, tg_transpose(tg_add(a, c), 0, 1));
    tg_tensor *loss = tg_add(tg_sum(tg_mul(w, w)), tg_sum(tg_exp(tg_mul_scalar(s, 0.1))));
    tg_tensor *inputs[4] = {a, b, c, row}, *kept[4];
    cr_assert_eq(tg_grad(loss, NULL, 4, inputs, kept, false), TG_OK);
    cr_assert_eq(tg_backward(loss), TG_OK);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(memcmp(tg_tensor_data(tg_tensor_grad(inputs[i])), tg_tensor_data(kept[i]),
                            (size_t)tg_tensor_size(kept[i]) * 8), 0, "input %d", i);
    tg_ctx_free(ctx);
}

/* Random graphs whose gradients come in many sizes (slices, concats,
 * reductions and broadcasts of [64, 96] f64 values: 48 KB down to 512 B), so
 * that the recycler splits, reuses and merges blocks of every size: the pass
 * that frees memory gives the numbers of one that keeps it all, bit for bit. */
Test(autograd, recycled_blocks_of_every_size_give_tg_grads_numbers_on_random_graphs)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(6);
    for (int graph = 0; graph < 20; graph++) {
        tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(64, 96), 0, 1);
        tg_tensor_set_requires_grad(x, true);
        tg_tensor *pool[24] = {x};
        int n = 1;
        for (int step = 0; step < 40; step++) {
            tg_tensor *a = pool[tg_rng_below(&rng, (uint64_t)n)], *b = pool[tg_rng_below(&rng, (uint64_t)n)], *y;
            switch (tg_rng_below(&rng, 6)) {
            case 0: y = tg_tanh(tg_add(a, b)); break;
            case 1: y = tg_mul(a, tg_sigmoid(b)); break;
            case 2: /* halves swapped: two slices and a concat */
                y = tg_concat(2, (tg_tensor *[]){tg_slice(a, 1, 48, 96, 1), tg_slice(b, 1, 0, 48, 1)}, 1);
                break;
            case 3: y = tg_add(a, tg_expand(tg_sum_axis(b, 0, true), TG_SHAPE(64, 96))); break; /* [1, 96] */
            case 4: y = tg_mul(a, tg_expand(tg_mean_axis(b, 1, true), TG_SHAPE(64, 96))); break; /* [64, 1] */
            default: y = tg_reshape(tg_mul_scalar(tg_reshape(a, TG_SHAPE(96, 64)), 0.5), TG_SHAPE(64, 96)); break;
            }
            cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
            pool[n < 24 ? n++ : (int)tg_rng_below(&rng, 23) + 1] = y;
        }
        tg_tensor *loss = tg_sum(tg_mul(pool[n - 1], pool[n / 2])), *kept;
        cr_assert_eq(tg_grad(loss, NULL, 1, &x, &kept, false), TG_OK, "%s", tg_ctx_error(ctx));
        tg_tensor_zero_grad(x);
        cr_assert_eq(tg_backward(loss), TG_OK, "%s", tg_ctx_error(ctx));
        cr_expect_eq(memcmp(tg_tensor_data(tg_tensor_grad(x)), tg_tensor_data(kept), 64 * 96 * 8), 0, "graph %d", graph);
        tg_tape_reset(ctx);
        tg_tensor_free(x);
    }
    tg_ctx_free(ctx);
}

static tg_tensor *kept_by_hook;
static tg_tensor *keep_gradient(tg_tensor *t, tg_tensor *grad, void *user)
{
    (void)t, (void)user;
    kept_by_hook = grad;
    return NULL;
}

Test(autograd, a_gradient_a_hook_kept_is_never_reused)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(5);
    tg_tensor *x = big(ctx, &rng);
    tg_tensor *h = tg_tanh(x);
    tg_tensor *y = h;
    for (int i = 0; i < 10; i++) /* gradients of h's size after h's: each could take its block */
        y = tg_sigmoid(tg_mul_scalar(y, 1.5));
    tg_tensor *loss = tg_sum(y), *dh;
    cr_assert_eq(tg_grad(loss, NULL, 1, &h, &dh, false), TG_OK);
    tg_tensor_set_hook(h, keep_gradient, NULL);
    cr_assert_eq(tg_backward(loss), TG_OK);
    cr_assert_not_null(kept_by_hook);
    cr_expect_eq(memcmp(tg_tensor_data(kept_by_hook), tg_tensor_data(dh), (size_t)tg_tensor_size(dh) * 8), 0,
                 "dL/dh as the hook saw it, read after the pass");
    tg_ctx_free(ctx);
}

Test(autograd, a_million_op_chain_backpropagates_without_recursion)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *x = param(ctx, TG_SHAPE(1), (double[]){1});
    tg_tensor *y = x;
    for (int i = 0; i < 1000000; i++)
        y = tg_mul_scalar(y, 1.0);
    cr_assert_eq(tg_tape_length(ctx), 1000000);
    cr_assert_eq(tg_backward(tg_sum(y)), TG_OK);
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(x), 0), 1.0, 0);
    tg_ctx_free(ctx);
}

Test(autograd, tg_grad_returns_gradients_without_touching_dot_grad)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *a = param(ctx, TG_SHAPE(2), (double[]){1, 2});
    tg_tensor *b = param(ctx, TG_SHAPE(2), (double[]){3, 4});
    tg_tensor *unused = param(ctx, TG_SHAPE(2), (double[]){5, 6});
    tg_tensor *h = tg_mul(a, b);
    tg_tensor *y = tg_sum(tg_mul(h, h));
    tg_tensor *g[3];
    tg_tensor *wrt[3] = {a, h, unused};
    cr_assert_eq(tg_grad(y, NULL, 3, wrt, g, false), TG_OK);
    /* y = Σ(ab)²: dy/da = 2ab·b, dy/dh = 2h */
    cr_expect_float_eq(tg_tensor_get(g[0], 1), 2 * 8 * 4.0, 1e-12);
    cr_expect_float_eq(tg_tensor_get(g[1], 0), 2 * 3.0, 1e-12);
    cr_expect_eq(tg_tensor_get(g[2], 0), 0.0, "an input the output does not reach has zero gradient");
    cr_expect_null(tg_tensor_grad(a));
    tg_ctx_free(ctx);
}

static double hook_seen[2];

static tg_tensor *record_and_double(tg_tensor *t, tg_tensor *grad, void *user)
{
    (void)t;
    *(int *)user += 1;
    for (int i = 0; i < 2; i++)
        hook_seen[i] = tg_tensor_get(grad, i);
    return tg_mul_scalar(grad, 2);
}

Test(autograd, hooks_see_the_summed_gradient_and_may_replace_it)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_tensor *x = param(ctx, TG_SHAPE(2), (double[]){1, -2});
    tg_tensor *h = tg_mul_scalar(x, 3);
    int calls = 0;
    tg_tensor_set_hook(h, record_and_double, &calls);
    /* h is used twice: the hook runs once, on the sum */
    tg_tensor *y = tg_add(tg_sum(h), tg_sum(tg_mul_scalar(h, 4)));
    cr_assert_eq(tg_backward(y), TG_OK);
    cr_expect_eq(calls, 1);
    cr_expect_float_eq(hook_seen[0], 5.0, 1e-12);
    cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(x), 0), 2 * 5.0 * 3, 1e-12);
    tg_ctx_free(ctx);
}

Test(autograd, float32_and_float64_agree)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(3);
    tg_tensor *x64 = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(5, 7), 0, 1);
    tg_tensor *w64 = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(3, 7), 0, 1);
    tg_tensor *x32 = tg_tensor_new(ctx, TG_F32, TG_SHAPE(5, 7));
    tg_tensor *w32 = tg_tensor_new(ctx, TG_F32, TG_SHAPE(3, 7));
    tg_tensor_copy(x32, x64);
    tg_tensor_copy(w32, w64);
    tg_tensor_set_requires_grad(w64, true);
    tg_tensor_set_requires_grad(w32, true);
    tg_tensor *labels = tg_tensor_from(ctx, TG_F64, TG_SHAPE(5), (double[]){0, 2, 1, 1, 0});
    tg_tensor *labels32 = tg_tensor_new(ctx, TG_F32, TG_SHAPE(5));
    tg_tensor_copy(labels32, labels);
    tg_tensor *l64 = tg_cross_entropy(tg_tanh(tg_matmul_t(x64, w64, false, true)), labels);
    tg_tensor *l32 = tg_cross_entropy(tg_tanh(tg_matmul_t(x32, w32, false, true)), labels32);
    cr_assert_eq(tg_backward(l64), TG_OK);
    cr_assert_eq(tg_backward(l32), TG_OK);
    cr_expect_float_eq(tg_tensor_item(l32), tg_tensor_item(l64), 1e-5);
    for (int64_t i = 0; i < 21; i++)
        cr_expect_float_eq(tg_tensor_get(tg_tensor_grad(w32), i), tg_tensor_get(tg_tensor_grad(w64), i), 1e-5);
    tg_ctx_free(ctx);
}

Test(autograd, random_streams_are_fixed_by_the_seed)
{
    tg_rng a = tg_rng_seed(2026), b = tg_rng_seed(2026);
    uint64_t first = tg_rng_next(&a);
    cr_expect_eq(first, tg_rng_next(&b));
    /* the stream is part of the contract: the same numbers on every platform */
    tg_rng c = tg_rng_seed(0);
    cr_expect_eq(tg_rng_next(&c), 0x99ec5f36cb75f2b4ull);
    double total = 0, squares = 0;
    for (int i = 0; i < 100000; i++) {
        double v = tg_rng_normal(&a);
        total += v;
        squares += v * v;
    }
    cr_expect(fabs(total / 1e5) < 0.02 && fabs(squares / 1e5 - 1) < 0.02);
    for (int i = 0; i < 1000; i++)
        cr_expect_lt(tg_rng_below(&a, 7), 7u);
}

/* ---- second derivatives ---- */

typedef struct { tg_tensor *x, *labels; } mlp_data;

/* A 3-4-2 tanh MLP with softmax cross-entropy; inputs are its parameters. */
static tg_tensor *mlp_loss(tg_tensor *const *p, void *user)
{
    mlp_data *d = user;
    tg_tensor *h = tg_tanh(tg_add(tg_matmul_t(d->x, p[0], false, true), p[1]));
    tg_tensor *z = tg_add(tg_matmul_t(h, p[2], false, true), p[3]);
    return tg_cross_entropy(z, d->labels);
}

Test(autograd, hessian_vector_products_of_an_mlp_match_finite_differences)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(11);
    mlp_data d = {tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(5, 3), 0, 1),
                  tg_tensor_from(ctx, TG_F64, TG_SHAPE(5), (double[]){0, 1, 1, 0, 1})};
    tg_tensor *p[4] = {
        tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(4, 3), 0, 0.8), tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(4), 0, 0.1),
        tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(2, 4), 0, 0.8), tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(2), 0, 0.1)};
    tg_tensor *v[4];
    for (int i = 0; i < 4; i++) {
        tg_tensor_set_requires_grad(p[i], true);
        v[i] = tg_tensor_randn(ctx, &rng, TG_F64, tg_tensor_rank(p[i]), tg_tensor_shape(p[i]), 0, 1);
    }
    /* Hv from the tape: g = ∇L (recorded), then ∇(g·v) */
    tg_tensor *g[4], *hv[4];
    cr_assert_eq(tg_grad(mlp_loss(p, &d), NULL, 4, p, g, true), TG_OK);
    tg_tensor *gv = NULL;
    for (int i = 0; i < 4; i++) {
        tg_tensor *term = tg_sum(tg_mul(g[i], v[i]));
        gv = gv ? tg_add(gv, term) : term;
    }
    cr_assert_eq(tg_grad(gv, NULL, 4, p, hv, false), TG_OK);
    /* Hv by finite differences of the gradient: (∇L(p + εv) - ∇L(p - εv)) / 2ε */
    const double eps = 1e-5;
    double *plus[4], *minus[4];
    for (int sign = 1; sign >= -1; sign -= 2) {
        for (int i = 0; i < 4; i++)
            for (int64_t k = 0; k < tg_tensor_size(p[i]); k++)
                tg_tensor_set(p[i], k, tg_tensor_get(p[i], k) + sign * eps * tg_tensor_get(v[i], k));
        tg_tensor *gs[4];
        cr_assert_eq(tg_grad(mlp_loss(p, &d), NULL, 4, p, gs, false), TG_OK);
        for (int i = 0; i < 4; i++)
            (sign > 0 ? plus : minus)[i] = tg_tensor_data(gs[i]);
        for (int i = 0; i < 4; i++)
            for (int64_t k = 0; k < tg_tensor_size(p[i]); k++)
                tg_tensor_set(p[i], k, tg_tensor_get(p[i], k) - sign * eps * tg_tensor_get(v[i], k));
    }
    double largest = 0;
    for (int i = 0; i < 4; i++)
        for (int64_t k = 0; k < tg_tensor_size(p[i]); k++) {
            double fd = (plus[i][k] - minus[i][k]) / (2 * eps);
            double tape = tg_tensor_get(hv[i], k);
            largest = fmax(largest, fabs(tape));
            cr_expect(fabs(tape - fd) < 1e-8 + 1e-6 * fabs(fd), "Hv[%d][%lld]: tape %.12g, fd %.12g", i, (long long)k,
                      tape, fd);
        }
    cr_expect_gt(largest, 1e-2, "the Hessian-vector product must not be zero");
    tg_gradcheck_report report;
    cr_assert_eq(tg_gradgradcheck(ctx, mlp_loss, &d, 4, p, &(tg_gradcheck_options){.step = 1e-5, .abs_tol = 1e-8, .rel_tol = 1e-6}, &report), TG_OK);
    cr_expect(report.passed);
    cr_expect_not(report.vacuous);
    tg_gradcheck_report_free(&report);
    tg_ctx_free(ctx);
}

/* ---- errors: named op, shapes, expectation; the program carries on ---- */

Test(errors, shape_mismatch_names_the_op_and_shapes_and_the_context_recovers)
{
    tg_ctx *ctx = quiet_ctx();
    tg_tensor *a = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 3));
    tg_tensor *b = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(4, 5));
    cr_expect_null(tg_matmul(a, b));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_SHAPE);
    cr_expect(strstr(tg_ctx_error(ctx), "matmul") && strstr(tg_ctx_error(ctx), "[2, 3]") &&
              strstr(tg_ctx_error(ctx), "[4, 5]") && strstr(tg_ctx_error(ctx), "expected"), "%s", tg_ctx_error(ctx));
    /* a chain of ops after a failure returns NULL and keeps the first error */
    cr_expect_null(tg_sum(tg_relu(tg_matmul(a, b))));
    cr_expect(strstr(tg_ctx_error(ctx), "matmul"));
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_ctx_status(ctx), TG_OK);
    cr_expect_not_null(tg_matmul_t(a, a, false, true), "the context works after the error");
    tg_ctx_free(ctx);
}

static int handler_calls;
static void count_errors(void *user, tg_status status, const char *message)
{
    (void)user, (void)status, (void)message;
    handler_calls++;
}

Test(errors, each_kind_of_misuse_is_reported)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_ctx_set_error_handler(ctx, count_errors, NULL);
    tg_tensor *a = param(ctx, TG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
    int n = 0;
#define EXPECT_ERROR(expr, w1, w2, w3)                                          \
    do {                                                                        \
        tg_ctx_clear_error(ctx);                                                \
        cr_expect_null(expr, #expr);                                            \
        const char *e = tg_ctx_error(ctx);                                      \
        cr_expect(strstr(e, w1) && strstr(e, w2) && strstr(e, w3), "%s: %s", #expr, e); \
        n++;                                                                    \
    } while (0)
    EXPECT_ERROR(tg_add(a, tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(3, 2))), "add", "[2, 3]", "[3, 2]");
    EXPECT_ERROR(tg_sum_axis(a, 2, false), "sum_axis", "axis 2", "[2, 3]");
    EXPECT_ERROR(tg_reshape(a, TG_SHAPE(4, 2)), "reshape", "6 elements", "[4, 2]");
    EXPECT_ERROR(tg_mul(a, tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(2, 3))), "mul", "f64", "f32");
    EXPECT_ERROR(tg_cross_entropy(a, tg_tensor_from(ctx, TG_F64, TG_SHAPE(2), (double[]){0, 3})), "cross_entropy", "3", "0 to 2");
    EXPECT_ERROR(tg_loss_mse(a, tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(3))), "mse_loss", "[2, 3]", "[3]");
    EXPECT_ERROR(tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2, 0)), "tg_tensor_zeros", "[2, 0]", "range");
    cr_expect_eq(handler_calls, n, "the handler sees every error");

    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_backward(tg_mul(a, a)), TG_ERR_GRAD, "backward of a non-scalar needs an upstream gradient");
    cr_expect(strstr(tg_ctx_error(ctx), "[2, 3]") && strstr(tg_ctx_error(ctx), "upstream"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_backward_with(tg_mul(a, a), tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(3))), TG_ERR_SHAPE);
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_backward(tg_sum(tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(3)))), TG_ERR_GRAD,
                 "nothing requiring a gradient reaches the output");

    tg_ctx_clear_error(ctx);
    tg_tensor *freed = tg_tensor_zeros(ctx, TG_F64, TG_SHAPE(2));
    tg_tensor_set_name(freed, "weights");
    tg_tensor_free(freed);
    cr_expect_null(tg_exp(freed));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_FREED);
    cr_expect(strstr(tg_ctx_error(ctx), "exp") && strstr(tg_ctx_error(ctx), "freed"), "%s", tg_ctx_error(ctx));
    tg_ctx_free(ctx);
}

Test(errors, anomaly_mode_names_op_shape_and_first_bad_index)
{
    tg_ctx *ctx = quiet_ctx();
    tg_tensor *x = param(ctx, TG_SHAPE(2, 3), (double[]){1, 2, 3, 4, -5, 6});
    cr_expect_not_null(tg_log(x), "without anomaly mode NaN passes silently, as in every framework");
    tg_anomaly_set_enabled(ctx, true);
    cr_expect_null(tg_log(x));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ANOMALY);
    cr_expect(strstr(tg_ctx_error(ctx), "log produced NaN at index [1, 1] of its [2, 3] output"), "%s",
              tg_ctx_error(ctx));

    tg_ctx_clear_error(ctx);
    tg_tensor *z = param(ctx, TG_SHAPE(3), (double[]){1, 0, 2});
    cr_expect_null(tg_log(tg_mul(z, z)));
    cr_expect(strstr(tg_ctx_error(ctx), "log produced -Inf at index [1] of its [3] output"), "%s", tg_ctx_error(ctx));

    /* In backward the report names the op whose gradient went bad. */
    tg_ctx_clear_error(ctx);
    tg_tensor *y = tg_sum(tg_mul(z, z));
    cr_assert_not_null(y);
    tg_tensor *g;
    cr_expect_eq(tg_grad(y, tg_tensor_scalar(ctx, TG_F64, INFINITY), 1, &z, &g, false), TG_ERR_ANOMALY);
    cr_expect(strstr(tg_ctx_error(ctx), "expand produced +Inf at index [0] of its [3] output in the backward of sum"),
              "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_backward(tg_sum(tg_mul(z, z))), TG_OK, "the tape is usable after the report");
    tg_ctx_free(ctx);
}

/* ---- no global state: two threads, two contexts, two models ---- */

typedef struct {
    uint64_t seed;
    double final_loss;
} training_run;

static void *train_small_model(void *arg)
{
    training_run *run = arg;
    tg_ctx *ctx = tg_ctx_new(2);
    tg_rng rng = tg_rng_seed(run->seed);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(32, 20), 0, 1);
    tg_tensor *w1 = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(128, 20), 0, 0.3);
    tg_tensor *w2 = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(4, 128), 0, 0.3);
    tg_tensor *labels = tg_tensor_new(ctx, TG_F32, TG_SHAPE(32));
    for (int i = 0; i < 32; i++)
        tg_tensor_set(labels, i, (double)tg_rng_below(&rng, 4));
    tg_tensor_set_requires_grad(w1, true);
    tg_tensor_set_requires_grad(w2, true);
    for (int step = 0; step < 200; step++) {
        tg_tensor *h = tg_tanh(tg_matmul_t(x, w1, false, true));
        tg_tensor *loss = tg_cross_entropy(tg_matmul_t(h, w2, false, true), labels);
        run->final_loss = tg_tensor_item(loss);
        tg_tensor_zero_grad(w1);
        tg_tensor_zero_grad(w2);
        tg_backward(loss);
        for (tg_tensor *w = w1; w; w = w == w1 ? w2 : NULL) {
            float *v = tg_tensor_data(w);
            const float *g = tg_tensor_data(tg_tensor_grad(w));
            for (int64_t i = 0; i < tg_tensor_size(w); i++)
                v[i] -= 0.5f * g[i];
        }
        tg_tape_reset(ctx);
    }
    tg_ctx_free(ctx);
    return NULL;
}

Test(autograd, two_threads_train_two_models_at_once_as_if_alone)
{
    training_run alone[2] = {{1, 0}, {2, 0}}, together[2] = {{1, 0}, {2, 0}};
    for (int i = 0; i < 2; i++)
        train_small_model(&alone[i]);
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, train_small_model, &together[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < 2; i++) {
        cr_expect_lt(alone[i].final_loss, 1.0, "the model learns");
        cr_expect_eq(together[i].final_loss, alone[i].final_loss, "run %d: %.9g concurrent vs %.9g alone", i,
                     together[i].final_loss, alone[i].final_loss);
    }
}

Test(dtype, integer_tensors_hold_whole_numbers_and_never_require_a_gradient)
{
    tg_ctx *ctx = quiet_ctx();
    tg_tensor *labels = tg_tensor_from(ctx, TG_I64, TG_SHAPE(3), (double[]){2, 0, 9007199254740992.0});
    cr_assert_not_null(labels);
    cr_expect_eq(tg_tensor_dtype(labels), TG_I64);
    cr_expect_eq(((const int64_t *)tg_tensor_data_const(labels))[2], (int64_t)1 << 53);
    cr_expect_eq(tg_tensor_get(labels, 0), 2.0);
    tg_tensor_set(labels, 1, -7.9); /* truncated toward zero */
    cr_expect_eq(tg_tensor_get(labels, 1), -7.0);
    tg_tensor_set(labels, 1, NAN); /* no undefined conversion */
    cr_expect_eq(tg_tensor_get(labels, 1), 0.0);

    tg_tensor_set_requires_grad(labels, true);
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_GRAD);
    cr_expect(strstr(tg_ctx_error(ctx), "i64"), "%s", tg_ctx_error(ctx));
    cr_expect_not(tg_tensor_requires_grad(labels));
    tg_ctx_clear_error(ctx);

    cr_expect_null(tg_tensor_from(ctx, TG_I64, TG_SHAPE(2), (double[]){1, 2.5}));
    cr_expect(strstr(tg_ctx_error(ctx), "values[1] = 2.5"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    tg_rng rng = tg_rng_seed(1);
    cr_expect_null(tg_tensor_randn(ctx, &rng, TG_I64, TG_SHAPE(2), 0, 1));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);

    /* converted both ways by copy */
    tg_tensor *f = tg_tensor_new(ctx, TG_F32, TG_SHAPE(3));
    cr_expect_eq(tg_tensor_copy(f, labels), TG_OK);
    cr_expect_eq(tg_tensor_get(f, 0), 2.0);
    tg_ctx_free(ctx);
}

Test(dtype, an_op_that_computes_names_the_integer_input_it_refuses)
{
    tg_ctx *ctx = quiet_ctx();
    tg_tensor *idx = tg_tensor_from(ctx, TG_I64, TG_SHAPE(2), (double[]){1, 2});
    tg_tensor_set_name(idx, "labels");
    tg_tensor *x = tg_tensor_ones(ctx, TG_F32, TG_SHAPE(2));
    cr_expect_null(tg_sigmoid(idx));
    cr_expect_eq(tg_ctx_status(ctx), TG_ERR_ARG);
    cr_expect(strstr(tg_ctx_error(ctx), "sigmoid: input labels [2] is i64; expected f32 or f64"), "%s",
              tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_null(tg_add(x, idx));
    cr_expect(strstr(tg_ctx_error(ctx), "add:"), "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tape_length(ctx), 0);
    tg_ctx_free(ctx);
}
