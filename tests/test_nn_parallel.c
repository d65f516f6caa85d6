/* Data-parallel training (tg_train's threads and reduce): the summed gradient
 * of N workers equals the one-thread gradient of the whole batch up to
 * rounding (1e-6 relative in float32, 1e-12 in float64), including batches
 * that do not split evenly and more workers than samples; the same bits on
 * every run with one thread count; the reduce seam (a callback standing in
 * for other processes); errors (missing callbacks, a replica of another
 * shape, a failing reduce); the caller's floating-point mode is given back. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "tapegrad.h"

static tg_ctx *ctx;

static void setup(void)
{
    ctx = tg_ctx_new(2);
    tg_ctx_set_error_handler(ctx, NULL, NULL);
}

static void teardown(void) { tg_ctx_free(ctx); }

TestSuite(nn_parallel, .init = setup, .fini = teardown);

/* n samples of 12 random features in 5 classes. */
static tg_dataset *random_data(int64_t n, uint64_t seed)
{
    tg_rng rng = tg_rng_seed(seed);
    double *x = malloc(sizeof(double) * (size_t)n * 12), *y = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n * 12; i++)
        x[i] = tg_rng_normal(&rng);
    for (int64_t i = 0; i < n; i++)
        y[i] = (double)tg_rng_below(&rng, 5);
    tg_dataset *d = tg_dataset_from_values(ctx, n, 12, x, 1, y, 5);
    free(x);
    free(y);
    cr_assert_not_null(d);
    return d;
}

/* 12-hidden-8-5, tanh then ReLU. */
static tg_mlp *model_of_width(tg_dtype dtype, int64_t hidden)
{
    tg_rng rng = tg_rng_seed(3);
    const int64_t widths[] = {12, hidden, 8, 5};
    const tg_activation acts[] = {TG_ACT_TANH, TG_ACT_RELU, TG_ACT_NONE};
    tg_mlp *mlp = tg_mlp_new(ctx, dtype, 3, widths, acts, TG_INIT_HE, &rng);
    cr_assert_not_null(mlp);
    return mlp;
}

static tg_mlp *model(tg_dtype dtype) { return model_of_width(dtype, 16); }

/* The model's callbacks are the caller's to set (tg_train_use_mlp for an MLP). */
static tg_train_config config_for(tg_optimizer *opt, int64_t batch, int threads, tg_dtype dtype)
{
    tg_train_config c = tg_train_defaults();
    c.loss = tg_loss_softmax_ce;
    c.optimizer = opt;
    c.batch_size = batch;
    c.dtype = dtype;
    c.shuffle = false;
    c.progress = 0;
    c.threads = threads;
    return c;
}

static tg_train_config config(tg_mlp *mlp, tg_optimizer *opt, int64_t batch, int threads, tg_dtype dtype)
{
    tg_train_config c = config_for(opt, batch, threads, dtype);
    tg_train_use_mlp(&c, mlp);
    return c;
}

/* All values of the listed tensors' gradients (or values), end to end, as doubles. */
static double *flatten(tg_params p, bool grads)
{
    double *v = malloc(sizeof(double) * (size_t)tg_params_count(p));
    int64_t at = 0;
    for (int i = 0; i < p.count; i++) {
        tg_tensor *t = grads ? tg_tensor_grad(p.items[i]) : p.items[i];
        cr_assert_not_null(t, "tensor %d has no gradient", i);
        for (int64_t j = 0; j < tg_tensor_size(t); j++)
            v[at++] = tg_tensor_get(t, j);
    }
    return v;
}

/* ‖a - b‖ / ‖b‖ over n values (b not all zero). */
static double relative_error(const double *a, const double *b, int64_t n)
{
    double diff = 0, norm = 0;
    for (int64_t i = 0; i < n; i++) {
        diff += (a[i] - b[i]) * (a[i] - b[i]);
        norm += b[i] * b[i];
    }
    cr_assert_gt(norm, 0, "the reference gradient is all zero: the check would pass trivially");
    return sqrt(diff / norm);
}

/* Two steps of batch samples on `threads` workers, with a learning rate of 0
 * so that both see the same parameters: the model's gradient afterwards (the
 * second step's summed gradient; the first step takes another path, through
 * .grad) against the one-thread gradient. */
/* c (lr 0) trained on one thread, then from the same start on `threads`:
 * the model's gradients after the last step must agree. */
static void threads_match_one_thread(tg_train_config *c, const tg_dataset *data, int threads, double tolerance,
                                     const char *what)
{
    tg_params params = c->params_of(c->model);
    double *start = flatten(params, false);
    c->threads = 1;
    cr_assert_eq(tg_train(ctx, data, c, NULL), TG_OK, "%s", tg_ctx_error(ctx));
    double *reference = flatten(params, true);
    for (int i = 0, at = 0; i < params.count; i++) /* back to the start */
        for (int64_t j = 0; j < tg_tensor_size(params.items[i]); j++)
            tg_tensor_set(params.items[i], j, start[at++]);
    c->threads = threads;
    cr_assert_eq(tg_train(ctx, data, c, NULL), TG_OK, "%s", tg_ctx_error(ctx));
    double *summed = flatten(params, true);
    double error = relative_error(summed, reference, tg_params_count(params));
    cr_expect_leq(error, tolerance, "%s, %s on %d threads: relative error %g > %g", what,
                  c->dtype == TG_F32 ? "f32" : "f64", threads, error, tolerance);
    free(start);
    free(reference);
    free(summed);
}

static void gradient_matches(tg_dtype dtype, int64_t batch, int threads, double tolerance)
{
    tg_dataset *data = random_data(2 * batch, 11);
    tg_mlp *mlp = model(dtype);
    tg_optimizer *opt = tg_optim_sgd_new(tg_mlp_params(mlp), 0);
    tg_train_config c = config(mlp, opt, batch, threads, dtype);
    threads_match_one_thread(&c, data, threads, tolerance, "MLP");
    tg_optim_free(opt);
    tg_mlp_free(mlp);
    tg_dataset_free(data);
}

/* A net whose weight W [H, H] is used twice: h = tanh(x·Uᵀ), z = tanh(h·Wᵀ),
 * logits = tanh(z·W)·Vᵀ. A data-parallel step takes each weight's first
 * product off the tapes and computes it over the whole batch at once, W's
 * in two chunks of rows (it has over 2^17 values); W's second product stays
 * on the tape, and the two must still add up. Four steps: the first runs
 * tg_backward, the second adds the shares' products one by one, the others have
 * the workers stack them as the tape offers them. */
enum { TIED_H = 384 };
typedef struct {
    tg_tensor *items[3]; /* U [H, 12], W [H, H], V [5, H] */
} tied_net;

static bool tied_reshapes; /* the first product runs over two rows per sample: x [n, 12] as [2n, 6] */
static bool tied_square;   /* U is also read by the forward elsewhere: z = tanh(h·Wᵀ + 0.1·Σ_j U[:, j]) */

static tg_tensor *tied_forward(void *model, tg_tensor *x)
{
    tied_net *n = model;
    tg_tensor *h = NULL;
    if (tied_reshapes) {
        int64_t rows = tg_tensor_dim(x, 0);
        tg_tensor *half = tg_matmul_t(tg_reshape(x, TG_SHAPE(2 * rows, 6)), n->items[0], false, true);
        h = tg_tanh(tg_reshape(half, TG_SHAPE(rows, 2 * TIED_H)));
        h = tg_add(tg_slice(h, 1, 0, TIED_H, 1), tg_slice(h, 1, TIED_H, 2 * TIED_H, 1));
    } else {
        h = tg_tanh(tg_matmul_t(x, n->items[0], false, true));
    }
    tg_tensor *hw = tg_matmul_t(h, n->items[1], false, true);
    if (tied_square)
        hw = tg_add(hw, tg_mul_scalar(tg_sum_axis(n->items[0], 1, false), 0.1));
    tg_tensor *z = tg_tanh(hw);
    return tg_matmul_t(tg_tanh(tg_matmul(z, n->items[1])), n->items[2], false, true);
}

static tied_net *tied_new(tg_ctx *c, tg_dtype dtype, const tied_net *from)
{
    tied_net *n = calloc(1, sizeof *n);
    const int64_t shapes[3][2] = {{TIED_H, tied_reshapes ? 6 : 12}, {TIED_H, TIED_H}, {5, TIED_H}};
    tg_rng rng = tg_rng_seed(5);
    for (int i = 0; i < 3; i++) {
        tg_tensor *t = n->items[i] = tg_tensor_new(c, dtype, TG_SHAPE(shapes[i][0], shapes[i][1]));
        for (int64_t j = 0; j < tg_tensor_size(t); j++)
            tg_tensor_set(t, j, from ? tg_tensor_get(from->items[i], j) : 0.15 * tg_rng_normal(&rng));
        tg_tensor_set_requires_grad(t, true);
    }
    return n;
}

static void *tied_clone(const void *model, tg_ctx *c)
{
    const tied_net *m = model;
    return tied_new(c, tg_tensor_dtype(m->items[0]), m);
}

static void tied_free(void *model)
{
    tied_net *n = model;
    for (int i = 0; i < 3; i++)
        tg_tensor_free(n->items[i]);
    free(n);
}

static tg_params tied_params(const void *model)
{
    tied_net *n = (tied_net *)model;
    return (tg_params){3, n->items};
}

static void tied_gradient_matches(tg_dtype dtype, double tolerance)
{
    tg_dataset *data = random_data(4 * 48, 12);
    tied_net *net = tied_new(ctx, dtype, NULL);
    tg_optimizer *opt = tg_optim_sgd_new(tied_params(net), 0);
    tg_train_config c = config_for(opt, 48, 2, dtype);
    c.model = net;
    c.forward = tied_forward;
    c.clone = tied_clone;
    c.free_model = tied_free;
    c.params_of = tied_params;
    threads_match_one_thread(&c, data, 2, tolerance, "tied net");
    tg_optim_free(opt);
    tied_free(net);
    tg_dataset_free(data);
}

Test(nn_parallel, a_weight_used_twice_gets_both_products_on_two_threads_f32) { tied_gradient_matches(TG_F32, 1e-6); }
Test(nn_parallel, a_weight_used_twice_gets_both_products_on_two_threads_f64) { tied_gradient_matches(TG_F64, 1e-12); }
Test(nn_parallel, a_product_over_two_rows_per_sample_stays_on_the_tape_and_sums_right)
{
    tied_reshapes = true; /* U's product has 2n rows on a share of n: not stacked */
    tied_gradient_matches(TG_F64, 1e-12);
    tied_reshapes = false;
}

/* Training, not one gradient: three epochs (five full batches of 48 and a
 * short one) with momentum on 2 threads, against one thread from the same
 * start. From the third step the first weight is the lead: its product is
 * made before the workers by the rows each thread owns and its values are
 * one array for every replica, so a stale value, a missed update or a wrong
 * row block shows here, where a gradient at lr 0 would not. */
static double *trained(tg_train_config c, tg_params params, const tg_dataset *data, int threads)
{
    tg_optimizer *opt = tg_optim_momentum_new(params, 0.05, 0.9);
    c.optimizer = opt;
    c.threads = threads;
    c.epochs = 3;
    cr_assert_eq(tg_train(ctx, data, &c, NULL), TG_OK, "%s", tg_ctx_error(ctx));
    tg_optim_free(opt);
    return flatten(params, false);
}

static void training_matches(tg_dtype dtype, bool tied, double tolerance)
{
    tg_dataset *data = random_data(5 * 48 + 17, 13);
    double *values[2];
    int64_t n = 0;
    for (int r = 0; r < 2; r++) {
        tg_train_config c = config_for(NULL, 48, 1, dtype);
        tg_mlp *mlp = tied ? NULL : model_of_width(dtype, 1400); /* W1 over 2^14 values: a block per thread */
        tied_net *net = tied ? tied_new(ctx, dtype, NULL) : NULL;
        if (tied) {
            c.model = net;
            c.forward = tied_forward;
            c.clone = tied_clone;
            c.free_model = tied_free;
            c.params_of = tied_params;
        } else {
            tg_train_use_mlp(&c, mlp);
        }
        tg_params params = c.params_of(c.model);
        n = tg_params_count(params);
        values[r] = trained(c, params, data, r == 0 ? 1 : 2);
        if (tied)
            tied_free(net);
        else
            tg_mlp_free(mlp);
    }
    double error = relative_error(values[1], values[0], n);
    cr_expect_leq(error, tolerance, "%s %s on 2 threads: parameters %g from one thread's (> %g)",
                  tied ? "tied net" : "MLP", dtype == TG_F32 ? "f32" : "f64", error, tolerance);
    free(values[0]);
    free(values[1]);
    tg_dataset_free(data);
}

Test(nn_parallel, two_threads_train_to_the_one_thread_parameters_f32) { training_matches(TG_F32, false, 1e-5); }
Test(nn_parallel, two_threads_train_to_the_one_thread_parameters_f64) { training_matches(TG_F64, false, 1e-12); }
/* U is the lead and is used again (h·Uᵀ's second use stays on the tape):
 * the replicas read the one array that the owners update. */
Test(nn_parallel, a_lead_weight_used_again_trains_to_the_one_thread_parameters)
{
    tied_square = true;
    training_matches(TG_F64, true, 1e-12);
    tied_square = false;
}

Test(nn_parallel, two_threads_sum_to_the_whole_batch_gradient_f32) { gradient_matches(TG_F32, 64, 2, 1e-6); }
Test(nn_parallel, two_threads_sum_to_the_whole_batch_gradient_f64) { gradient_matches(TG_F64, 64, 2, 1e-12); }
Test(nn_parallel, four_threads_sum_to_the_whole_batch_gradient_f32) { gradient_matches(TG_F32, 64, 4, 1e-6); }
Test(nn_parallel, four_threads_sum_to_the_whole_batch_gradient_f64) { gradient_matches(TG_F64, 64, 4, 1e-12); }

/* 10 samples on 4 workers: shares 3, 3, 2, 2. */
Test(nn_parallel, uneven_shares_differ_by_one_sample_and_still_sum_right)
{
    gradient_matches(TG_F32, 10, 4, 1e-6);
    gradient_matches(TG_F64, 10, 3, 1e-12);
}

/* 5 samples on 8 workers: five of one sample, three idle. */
Test(nn_parallel, more_threads_than_samples_leave_workers_idle)
{
    gradient_matches(TG_F32, 5, 8, 1e-6);
    gradient_matches(TG_F64, 5, 8, 1e-12);
}

/* Several epochs of shuffled minibatches (with a smaller last batch) with
 * Adam: two runs on 3 threads end bit-identical, and close to one thread. */
Test(nn_parallel, same_thread_count_gives_the_same_bits)
{
    tg_dataset *data = random_data(100, 5);
    double *result[3];
    int threads[3] = {3, 3, 1};
    for (int r = 0; r < 3; r++) {
        tg_mlp *mlp = model(TG_F32);
        tg_optimizer *opt = tg_optim_adam_new(tg_mlp_params(mlp), 1e-2, 0.9, 0.999, 1e-8);
        tg_train_config c = config(mlp, opt, 16, threads[r], TG_F32);
        c.epochs = 3;
        c.shuffle = true;
        cr_assert_eq(tg_train(ctx, data, &c, NULL), TG_OK, "%s", tg_ctx_error(ctx));
        result[r] = flatten(tg_mlp_params(mlp), false);
        tg_optim_free(opt);
        tg_mlp_free(mlp);
    }
    int64_t n = 12 * 16 + 16 + 16 * 8 + 8 + 8 * 5 + 5;
    cr_expect_eq(memcmp(result[0], result[1], sizeof(double) * (size_t)n), 0, "two runs on 3 threads differ");
    cr_expect_leq(relative_error(result[0], result[2], n), 1e-4, "3 threads drift away from 1 thread");
    for (int r = 0; r < 3; r++)
        free(result[r]);
    tg_dataset_free(data);
}

/* A first layer wide enough for the lead's row blocks, the others' blocks
 * and the stealing of their ends between threads: whichever thread runs a
 * chunk, two runs end bit-identical. */
Test(nn_parallel, a_wide_lead_in_blocks_stolen_or_not_gives_the_same_bits)
{
    tg_dataset *data = random_data(5 * 48 + 17, 21);
    double *values[2];
    int64_t n = 0;
    for (int r = 0; r < 2; r++) {
        tg_train_config c = config_for(NULL, 48, 2, TG_F32);
        tg_mlp *mlp = model_of_width(TG_F32, 1400);
        tg_train_use_mlp(&c, mlp);
        n = tg_params_count(c.params_of(c.model));
        values[r] = trained(c, c.params_of(c.model), data, 2);
        tg_mlp_free(mlp);
    }
    cr_expect_eq(memcmp(values[0], values[1], sizeof(double) * (size_t)n), 0, "two runs on 2 threads differ");
    free(values[0]);
    free(values[1]);
    tg_dataset_free(data);
}

/* A reduce callback standing in for a second, identical process: it doubles
 * every value (gradient and sample count), so the divided gradient is the
 * same as this process's alone. */
static int reduce_calls;
static tg_status twin_process(tg_ctx *c, void *buffer, int64_t count, tg_dtype dtype, void *user)
{
    (void)c;
    cr_assert_eq(*(int64_t *)user, count, "flat buffer of %lld values; expected the parameters and the count",
                 (long long)count);
    cr_assert_eq(dtype, TG_F32);
    float *v = buffer;
    cr_assert_eq(v[count - 1], 64.0f, "the last value is the sample count");
    for (int64_t i = 0; i < count; i++)
        v[i] *= 2;
    reduce_calls++;
    return TG_OK;
}

Test(nn_parallel, reduce_callback_sees_the_flat_gradient_and_the_sample_count)
{
    tg_dataset *data = random_data(64, 11);
    tg_mlp *mlp = model(TG_F32);
    tg_params params = tg_mlp_params(mlp);
    double *start = flatten(params, false);
    tg_optimizer *opt = tg_optim_sgd_new(params, 0.1);
    tg_train_config one = config(mlp, opt, 64, 1, TG_F32);
    cr_assert_eq(tg_train(ctx, data, &one, NULL), TG_OK);
    double *reference = flatten(params, true);
    for (int i = 0, at = 0; i < params.count; i++)
        for (int64_t j = 0; j < tg_tensor_size(params.items[i]); j++)
            tg_tensor_set(params.items[i], j, start[at++]);
    int64_t count = tg_params_count(params) + 1;
    tg_train_config twin = config(mlp, opt, 64, 2, TG_F32);
    twin.reduce = twin_process;
    twin.reduce_user = &count;
    reduce_calls = 0;
    cr_assert_eq(tg_train(ctx, data, &twin, NULL), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_eq(reduce_calls, 1);
    double *summed = flatten(params, true);
    cr_expect_leq(relative_error(summed, reference, count - 1), 1e-6);
    free(start);
    free(reference);
    free(summed);
    tg_optim_free(opt);
    tg_mlp_free(mlp);
    tg_dataset_free(data);
}

static tg_status failing_reduce(tg_ctx *c, void *buffer, int64_t count, tg_dtype dtype, void *user)
{
    (void)buffer, (void)count, (void)dtype, (void)user;
    return tg_ctx_fail(c, TG_ERR_IO, "the other processes went away");
}

static void *clone_wider(const void *m, tg_ctx *c)
{
    (void)m;
    tg_rng rng = tg_rng_seed(1);
    const int64_t widths[] = {12, 17, 8, 5};
    const tg_activation acts[] = {TG_ACT_TANH, TG_ACT_RELU, TG_ACT_NONE};
    return tg_mlp_new(c, TG_F32, 3, widths, acts, TG_INIT_HE, &rng);
}

Test(nn_parallel, errors_are_reported)
{
    tg_dataset *data = random_data(32, 2);
    tg_mlp *mlp = model(TG_F32);
    tg_optimizer *opt = tg_optim_sgd_new(tg_mlp_params(mlp), 0.1);

    tg_train_config c = config(mlp, opt, 16, 2, TG_F32);
    c.clone = NULL;
    cr_expect_eq(tg_train(ctx, data, &c, NULL), TG_ERR_ARG);
    cr_expect(strstr(tg_ctx_error(ctx), "clone"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);

    c = config(mlp, opt, 16, 2, TG_F32);
    c.clone = clone_wider;
    cr_expect_eq(tg_train(ctx, data, &c, NULL), TG_ERR_ARG);
    cr_expect(strstr(tg_ctx_error(ctx), "layer1.weight") && strstr(tg_ctx_error(ctx), "[17, 12]"), "%s",
              tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);

    c = config(mlp, opt, 16, 2, TG_F32);
    c.reduce = failing_reduce;
    cr_expect_eq(tg_train(ctx, data, &c, NULL), TG_ERR_IO);
    cr_expect(strstr(tg_ctx_error(ctx), "went away"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);

    c = config(mlp, opt, 16, 100000, TG_F32);
    cr_expect_eq(tg_train(ctx, data, &c, NULL), TG_ERR_ARG);
    cr_expect(strstr(tg_ctx_error(ctx), "threads = 100000"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);

    tg_optim_free(opt);
    tg_mlp_free(mlp);
    tg_dataset_free(data);
}

static tg_tensor *forward_nan_on_worker_1(void *model, tg_tensor *x)
{
    tg_tensor *out = tg_mlp_forward(model, x);
    return tg_tensor_ctx(x) == ctx ? out : tg_add_scalar(out, NAN);
}

Test(nn_parallel, a_worker_error_names_the_worker_and_its_samples)
{
    tg_dataset *data = random_data(32, 2);
    tg_mlp *mlp = model(TG_F32);
    tg_optimizer *opt = tg_optim_sgd_new(tg_mlp_params(mlp), 0.1);
    tg_train_config c = config(mlp, opt, 16, 2, TG_F32);
    c.forward = forward_nan_on_worker_1;
    cr_expect_eq(tg_train(ctx, data, &c, NULL), TG_ERR_ANOMALY);
    cr_expect(strstr(tg_ctx_error(ctx), "worker 1 of 2 (samples 8 to 15"), "%s", tg_ctx_error(ctx));
    tg_optim_free(opt);
    tg_mlp_free(mlp);
    tg_dataset_free(data);
}

Test(nn_parallel, mlp_clone_copies_values_into_another_context)
{
    tg_ctx *other = tg_ctx_new(1);
    tg_mlp *mlp = model(TG_F64);
    tg_mlp *copy = tg_mlp_clone(mlp, other);
    cr_assert_not_null(copy);
    tg_params a = tg_mlp_params(mlp), b = tg_mlp_params(copy);
    cr_assert_eq(a.count, b.count);
    for (int i = 0; i < a.count; i++) {
        cr_expect_eq(tg_tensor_ctx(b.items[i]), other);
        cr_expect_str_eq(tg_tensor_name(a.items[i]), tg_tensor_name(b.items[i]));
        cr_expect(tg_tensor_requires_grad(b.items[i]));
        cr_expect_null(tg_tensor_grad(b.items[i]));
        cr_expect_eq(memcmp(tg_tensor_data(a.items[i]), tg_tensor_data(b.items[i]),
                            8 * (size_t)tg_tensor_size(a.items[i])), 0);
    }
    cr_expect_null(tg_mlp_clone(NULL, other));
    cr_expect_null(tg_mlp_clone(mlp, NULL));
    tg_mlp_free(copy);
    tg_mlp_free(mlp);
    tg_ctx_free(other);
}

#if defined(__x86_64__)
static unsigned mode_in_callback;
static tg_status read_mode(const tg_train_config *c, int epoch, const tg_history *h, void *user)
{
    (void)c, (void)epoch, (void)h, (void)user;
    mode_in_callback = _mm_getcsr();
    return TG_OK;
}

Test(nn_parallel, callers_floating_point_mode_is_given_back)
{
    tg_dataset *data = random_data(32, 2);
    tg_mlp *mlp = model(TG_F32);
    tg_optimizer *opt = tg_optim_sgd_new(tg_mlp_params(mlp), 0.1);
    tg_train_config c = config(mlp, opt, 16, 2, TG_F32);
    c.on_epoch = read_mode;
    unsigned before = _mm_getcsr();
    cr_assert_eq(before & 0x8040, 0, "the test runs in IEEE mode");
    cr_assert_eq(tg_train(ctx, data, &c, NULL), TG_OK);
    cr_expect_eq(_mm_getcsr(), before);
    cr_expect_eq(mode_in_callback, before, "on_epoch runs in the caller's mode");
    tg_fp_mode saved = tg_fp_flush_subnormals();
    volatile float tiny = 1e-30f;
    cr_expect_eq(tiny * 1e-10f, 0.0f, "flushed: a subnormal result is zero");
    tg_fp_mode_restore(saved);
    cr_expect_eq(_mm_getcsr(), before);
    cr_expect_gt(tiny * 1e-10f, 0.0f, "restored: a subnormal result again");
    tg_optim_free(opt);
    tg_mlp_free(mlp);
    tg_dataset_free(data);
}
#endif

static void count_task(void *arg, int task)
{
    __atomic_fetch_add((int *)arg + task, 1, __ATOMIC_RELAXED);
}

Test(nn_parallel, run_tasks_runs_each_task_once)
{
    int seen[37] = {0};
    cr_assert_eq(tg_ctx_run_tasks(ctx, 37, count_task, seen), TG_OK);
    for (int i = 0; i < 37; i++)
        cr_expect_eq(seen[i], 1, "task %d ran %d times", i, seen[i]);
    cr_expect_eq(tg_ctx_run_tasks(NULL, 1, count_task, seen), TG_ERR_ARG);
    cr_expect_eq(tg_ctx_run_tasks(ctx, 1, NULL, seen), TG_ERR_ARG);
}
