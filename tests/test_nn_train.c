/* The training loop on small synthetic data: minibatch, full-batch and
 * one-sample modes learn three Gaussian blobs; seed case §4 (the 2-2-1 network
 * on Alice, Bob, Charlie, Diana, MSE, one sample at a time, lr 0.1) through
 * tg_train; an interrupted run resumed from a checkpoint ends bit-identical to
 * an uninterrupted one; history, evaluation and the confusion matrix; errors
 * (missing callbacks, NaN loss, a stopping epoch callback). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tapegrad.h"
#include "tests/support.h"

static tg_ctx *ctx;
static char dir[64];

static void setup(void) { cr_assert_not_null(ctx = scratch_fixture_setup(dir, sizeof dir, "tg_train_")); }
static void teardown(void) { cr_expect_eq(scratch_fixture_teardown(ctx, dir), 0); }

TestSuite(nn_train, .init = setup, .fini = teardown);

static tg_tensor *forward(void *model, tg_tensor *x) { return tg_mlp_forward(model, x); }
static tg_tensor *forward_nan(void *model, tg_tensor *x) { return tg_add_scalar(tg_mlp_forward(model, x), NAN); }

/* n points in three Gaussian blobs (sd 0.7) around (0, 3), (3, -2), (-3, -2). */
static tg_dataset *blobs(int64_t n, uint64_t seed)
{
    static const double centers[3][2] = {{0, 3}, {3, -2}, {-3, -2}};
    tg_rng rng = tg_rng_seed(seed);
    double *x = malloc(sizeof(double) * (size_t)n * 2), *y = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(i % 3);
        x[2 * i] = centers[c][0] + 0.7 * tg_rng_normal(&rng);
        x[2 * i + 1] = centers[c][1] + 0.7 * tg_rng_normal(&rng);
        y[i] = c;
    }
    tg_dataset *d = tg_dataset_from_values(ctx, n, 2, x, 1, y, 3);
    free(x);
    free(y);
    cr_assert_not_null(d);
    return d;
}

static tg_mlp *classifier(uint64_t seed, tg_dtype dtype)
{
    tg_rng rng = tg_rng_seed(seed);
    const int64_t widths[] = {2, 16, 3};
    const tg_activation acts[] = {TG_ACT_RELU, TG_ACT_NONE};
    tg_mlp *m = tg_mlp_new(ctx, dtype, 2, widths, acts, TG_INIT_HE, &rng);
    cr_assert_not_null(m);
    return m;
}

static tg_train_config config(tg_mlp *m, tg_optimizer *opt, int epochs, int64_t batch)
{
    tg_train_config c = tg_train_defaults();
    c.forward = forward;
    c.model = m;
    c.loss = tg_loss_softmax_ce;
    c.optimizer = opt;
    c.epochs = epochs;
    c.batch_size = batch;
    c.progress = 0;
    return c;
}

static void learns_blobs(int64_t batch, int epochs, double lr)
{
    tg_dataset *train = blobs(300, 1), *test = blobs(150, 2);
    tg_mlp *m = classifier(3, TG_F32);
    tg_optimizer *opt = tg_optim_momentum_new(tg_mlp_params(m), lr, 0.9);
    tg_train_config c = config(m, opt, epochs, batch);
    c.test = test;
    tg_history h = {0};
    cr_assert_eq(tg_train(ctx, train, &c, &h), TG_OK, "%s", tg_ctx_error(ctx));
    cr_assert_eq(h.count, epochs);
    for (int i = 0; i < epochs; i++) {
        cr_expect_eq(h.epochs[i], i + 1);
        cr_expect(h.seconds[i] >= 0 && isfinite(h.train_loss[i]));
    }
    cr_expect_lt(h.train_loss[epochs - 1], h.train_loss[0] * 0.5, "batch %lld: loss %g -> %g", (long long)batch,
                 h.train_loss[0], h.train_loss[epochs - 1]);
    cr_expect_gt(h.train_acc[epochs - 1], 0.95, "batch %lld", (long long)batch);
    cr_expect_gt(h.test_acc[epochs - 1], 0.95, "batch %lld: test accuracy %g", (long long)batch,
                 h.test_acc[epochs - 1]);
    tg_history_free(&h);
    tg_optim_free(opt);
    tg_mlp_free(m);
    tg_dataset_free(train);
    tg_dataset_free(test);
}

Test(nn_train, minibatches_learn_three_blobs) { learns_blobs(16, 10, 0.05); }
Test(nn_train, full_batch_learns_three_blobs) { learns_blobs(0, 60, 0.1); }
Test(nn_train, one_sample_at_a_time_learns_three_blobs) { learns_blobs(1, 3, 0.01); }

/* Seed case §4: SGD one sample at a time, MSE, lr 0.1, 1000 epochs, in order. */
Test(nn_train, seed_case_4_gender_network)
{
    const double x[] = {-2, -1, 25, 6, 17, 4, -15, -6}, y[] = {1, 0, 0, 1};
    tg_dataset *people = tg_dataset_from_values(ctx, 4, 2, x, 1, y, 0);
    cr_assert_not_null(people);
    tg_rng rng = tg_rng_seed(1);
    const int64_t widths[] = {2, 2, 1};
    const tg_activation acts[] = {TG_ACT_SIGMOID, TG_ACT_SIGMOID};
    tg_mlp *m = tg_mlp_new(ctx, TG_F64, 2, widths, acts, TG_INIT_NORMAL, &rng);
    tg_optimizer *opt = tg_optim_sgd_new(tg_mlp_params(m), 0.1);
    tg_train_config c = config(m, opt, 1000, 1);
    c.loss = tg_loss_mse;
    c.dtype = TG_F64;
    c.shuffle = false;
    tg_history h = {0};
    cr_assert_eq(tg_train(ctx, people, &c, &h), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect(isnan(h.train_acc[0]), "regression has no accuracy");
    cr_expect_lt(h.train_loss[999], h.train_loss[0]);
    cr_expect_lt(h.train_loss[999], 0.01);
    tg_tensor *who = tg_tensor_from(ctx, TG_F64, TG_SHAPE(2, 2), (double[]){-7, -3, 20, 2});
    tg_tensor *p = tg_mlp_forward(m, who);
    cr_expect_gt(tg_tensor_get(p, 0), 0.9, "Emily %g", tg_tensor_get(p, 0));
    cr_expect_lt(tg_tensor_get(p, 1), 0.1, "Frank %g", tg_tensor_get(p, 1));
    tg_tape_reset(ctx);
    tg_tensor_free(who);
    tg_history_free(&h);
    tg_optim_free(opt);
    tg_mlp_free(m);
    tg_dataset_free(people);
}

typedef struct {
    tg_mlp *m;
    tg_optimizer *opt;
    const char *path;
    int stop_after;
} saver;

static tg_status save_and_maybe_stop(const tg_train_config *c, int epoch, const tg_history *h, void *user)
{
    (void)c, (void)h;
    saver *s = user;
    tg_status st = tg_checkpoint_save(ctx, s->path, tg_mlp_params(s->m), s->opt, epoch);
    if (st == TG_OK && epoch == s->stop_after)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "stopped after epoch %d (a simulated crash)", epoch);
    return st;
}

Test(nn_train, resumed_run_matches_uninterrupted_run_bit_for_bit)
{
    tg_dataset *train = blobs(90, 1);
    char path[128];
    snprintf(path, sizeof path, "%s/run.ckpt", dir);

    /* uninterrupted: 4 epochs */
    tg_mlp *a = classifier(5, TG_F32);
    tg_optimizer *oa = tg_optim_adam_new(tg_mlp_params(a), 0.01, 0.9, 0.999, 1e-8);
    tg_train_config ca = config(a, oa, 4, 8);
    cr_assert_eq(tg_train(ctx, train, &ca, NULL), TG_OK);

    /* interrupted after epoch 2 (the epoch callback fails), then resumed in a fresh model */
    tg_mlp *b = classifier(5, TG_F32);
    tg_optimizer *ob = tg_optim_adam_new(tg_mlp_params(b), 0.01, 0.9, 0.999, 1e-8);
    saver s = {b, ob, path, 2};
    tg_train_config cb = config(b, ob, 4, 8);
    cb.on_epoch = save_and_maybe_stop;
    cb.user = &s;
    tg_history hb = {0};
    cr_assert_eq(tg_train(ctx, train, &cb, &hb), TG_ERR_ARG);
    cr_expect_eq(hb.count, 2);
    tg_ctx_clear_error(ctx);

    tg_mlp *r = classifier(99, TG_F32); /* other initial weights: the checkpoint must replace them all */
    tg_optimizer *orr = tg_optim_adam_new(tg_mlp_params(r), 0.01, 0.9, 0.999, 1e-8);
    int64_t done = 0;
    cr_assert_eq(tg_checkpoint_load(ctx, path, tg_mlp_params(r), orr, &done), TG_OK, "%s", tg_ctx_error(ctx));
    cr_assert_eq(done, 2);
    tg_train_config cr = config(r, orr, 4, 8);
    cr.first_epoch = (int)done;
    cr_assert_eq(tg_train(ctx, train, &cr, &hb), TG_OK);
    cr_expect_eq(hb.count, 4);
    cr_expect_eq(hb.epochs[3], 4);

    tg_params pa = tg_mlp_params(a), pr = tg_mlp_params(r);
    for (int i = 0; i < pa.count; i++)
        cr_expect_eq(memcmp(tg_tensor_data_const(pa.items[i]), tg_tensor_data_const(pr.items[i]),
                            4 * (size_t)tg_tensor_size(pa.items[i])), 0, "%s differs", tg_tensor_name(pa.items[i]));
    cr_expect_eq(tg_optim_steps(oa), tg_optim_steps(orr));
    tg_history_free(&hb);
    tg_optim_free(oa), tg_optim_free(ob), tg_optim_free(orr);
    tg_mlp_free(a), tg_mlp_free(b), tg_mlp_free(r);
    tg_dataset_free(train);
}

Test(nn_train, evaluation_and_confusion_matrix)
{
    tg_dataset *train = blobs(150, 1), *test = blobs(60, 2);
    tg_mlp *m = classifier(3, TG_F64);
    tg_optimizer *opt = tg_optim_adam_new(tg_mlp_params(m), 0.02, 0.9, 0.999, 1e-8);
    tg_train_config c = config(m, opt, 5, 10);
    c.dtype = TG_F64;
    c.eval_batch_size = 7; /* a last, smaller batch too */
    cr_assert_eq(tg_train(ctx, train, &c, NULL), TG_OK);
    tg_evaluation e;
    cr_assert_eq(tg_evaluate(ctx, &c, test, &e), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_eq(e.count, 60);
    cr_expect_eq(e.classes, 3);
    int64_t total = 0, diagonal = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            total += e.confusion[i * 3 + j];
            diagonal += i == j ? e.confusion[i * 3 + j] : 0;
        }
    cr_expect_eq(total, 60);
    cr_expect_eq(diagonal, e.correct);
    cr_expect_float_eq(e.accuracy, (double)e.correct / 60, 1e-12);
    cr_expect_gt(e.accuracy, 0.9);
    cr_expect(e.loss > 0 && e.loss < 0.5, "loss %g", e.loss);

    char text[4096] = "";
    FILE *f = tmpfile();
    const char *names[] = {"north", "east", "west"};
    tg_confusion_print(&e, names, f);
    rewind(f);
    size_t got = fread(text, 1, sizeof text - 1, f);
    text[got] = 0;
    fclose(f);
    cr_expect(strstr(text, "confusion matrix") && strstr(text, " 1 east") && strstr(text, "recall") &&
                  strstr(text, "accuracy"),
              "%s", text);
    tg_evaluation_free(&e);
    cr_expect_null(e.confusion);
    tg_optim_free(opt);
    tg_mlp_free(m);
    tg_dataset_free(train);
    tg_dataset_free(test);
}

Test(nn_train, history_csv_reads_back)
{
    tg_history h = {0};
    for (int i = 1; i <= 20; i++) /* past the first capacity */
        cr_assert_eq(tg_history_append(&h, i, 1.0 / i, 0.5 + i / 100.0, NAN, 0.25 * i), TG_OK);
    char path[128];
    snprintf(path, sizeof path, "%s/history.csv", dir);
    cr_assert_eq(tg_history_save_csv(ctx, &h, path), TG_OK);
    tg_csv csv;
    cr_assert_eq(tg_csv_read(ctx, path, TG_CSV_HEADER_AUTO, &csv), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_eq(csv.rows, 20);
    cr_expect_eq(csv.cols, 5);
    cr_expect_str_eq(csv.names[1], "train_loss");
    cr_expect_float_eq(csv.values[5 * 3 + 1], 0.25, 1e-9);
    cr_expect(isnan(csv.values[5 * 3 + 3]));
    cr_expect_float_eq(csv.values[5 * 19 + 4], 5.0, 1e-9);
    tg_csv_free(&csv);
    tg_history_free(&h);
    cr_expect_eq(h.count, 0);
    snprintf(path, sizeof path, "%s/no/such/dir/h.csv", dir);
    cr_expect_eq(tg_history_save_csv(ctx, &h, path), TG_ERR_IO);
    tg_ctx_clear_error(ctx);
}

Test(nn_train, errors_are_reported)
{
    tg_dataset *train = blobs(30, 1);
    tg_mlp *m = classifier(3, TG_F32);
    tg_optimizer *opt = tg_optim_sgd_new(tg_mlp_params(m), 0.1);
    tg_train_config c = config(m, opt, 1, 8);
    c.loss = NULL;
    cr_expect_eq(tg_train(ctx, train, &c, NULL), TG_ERR_ARG);
    cr_expect(strstr(tg_ctx_error(ctx), "loss function"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);

    /* a test set of another width */
    tg_dataset *wide = tg_dataset_from_values(ctx, 1, 3, (double[]){1, 2, 3}, 1, (double[]){0}, 3);
    c = config(m, opt, 1, 8);
    c.test = wide;
    cr_expect_eq(tg_train(ctx, train, &c, NULL), TG_ERR_ARG);
    tg_ctx_clear_error(ctx);

    /* a model that does not fit the data: the op's error comes back */
    tg_dataset *three = tg_dataset_from_values(ctx, 1, 3, (double[]){1, 2, 3}, 1, (double[]){0}, 3);
    c = config(m, opt, 1, 8);
    cr_expect_eq(tg_train(ctx, three, &c, NULL), TG_ERR_SHAPE);
    tg_ctx_clear_error(ctx);

    /* a NaN output makes a NaN loss: training stops with an anomaly */
    c.forward = forward_nan;
    cr_expect_eq(tg_train(ctx, train, &c, NULL), TG_ERR_ANOMALY);
    cr_expect(strstr(tg_ctx_error(ctx), "epoch 1 step 1"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_expect_eq(tg_tape_length(ctx), 0, "the tape is reset after a failed step");

    tg_dataset_free(three);
    tg_dataset_free(wide);
    tg_optim_free(opt);
    tg_mlp_free(m);
    tg_dataset_free(train);
}

Test(nn_train, progress_lines_when_not_a_terminal)
{
    /* a log file is not a terminal: plain lines, one per epoch, no \r */
    tg_dataset *train = blobs(30, 1);
    tg_mlp *m = classifier(3, TG_F32);
    tg_optimizer *opt = tg_optim_sgd_new(tg_mlp_params(m), 0.1);
    tg_train_config c = config(m, opt, 3, 8);
    c.progress = 1;
    c.log = tmpfile();
    cr_assert_not_null(c.log);
    cr_assert_eq(tg_train(ctx, train, &c, NULL), TG_OK);
    rewind(c.log);
    char line[256];
    int lines = 0;
    while (fgets(line, sizeof line, c.log)) {
        cr_expect(strstr(line, "epoch") && strstr(line, "loss") && strstr(line, "acc") && !strchr(line, '\r'), "%s",
                  line);
        lines++;
    }
    fclose(c.log);
    cr_expect_eq(lines, 3);
    tg_optim_free(opt);
    tg_mlp_free(m);
    tg_dataset_free(train);
}
