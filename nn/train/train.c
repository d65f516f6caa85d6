/* The training loop, evaluation with a confusion matrix, the per-epoch
 * history, and the adapters that fill a configuration for an MLP or a model
 * (writing the history and printing the matrix: nn/io/report.c). One step: zero-grad, forward, loss, backward, optimizer step,
 * tg_tape_reset; the batch tensors are the loader's persistent ones and the
 * step tensors reuse the context's arena, so a warm loop allocates nothing. */
#define _POSIX_C_SOURCE 200809L
#include "nn/data/loader_internal.h"
#include "nn/train/data_parallel.h"
#include "nn/train/train_internal.h"
#include "tapegrad/model.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- history ---------------------------------------------------------------- */

tg_status tg_history_append(tg_history *h, int epoch, double train_loss, double train_acc, double test_acc,
                            double seconds)
{
    if (!h)
        return TG_ERR_ARG;
    if (h->count == h->capacity) {
        int cap = h->capacity ? h->capacity * 2 : 16;
        int *e = realloc(h->epochs, sizeof(int) * (size_t)cap);
        if (e)
            h->epochs = e;
        double **cols[4] = {&h->train_loss, &h->train_acc, &h->test_acc, &h->seconds};
        bool ok = e != NULL;
        for (int i = 0; i < 4 && ok; i++) {
            double *d = realloc(*cols[i], sizeof(double) * (size_t)cap);
            if (d)
                *cols[i] = d;
            ok = d != NULL;
        }
        if (!ok)
            return TG_ERR_NOMEM; /* the arrays that grew are still valid at the old count */
        h->capacity = cap;
    }
    int i = h->count++;
    h->epochs[i] = epoch;
    h->train_loss[i] = train_loss;
    h->train_acc[i] = train_acc;
    h->test_acc[i] = test_acc;
    h->seconds[i] = seconds;
    return TG_OK;
}

void tg_history_free(tg_history *h)
{
    if (!h)
        return;
    free(h->epochs);
    free(h->train_loss);
    free(h->train_acc);
    free(h->test_acc);
    free(h->seconds);
    memset(h, 0, sizeof *h);
}

/* ---- predictions ------------------------------------------------------------ */

/* Predicted class of row r of out [n, k]: the largest entry, or for one column
 * (two classes) whether the probability passes 0.5. */
static int predict(const tg_tensor *out, int64_t r)
{
    int64_t k = tg_tensor_rank(out) == 2 ? tg_tensor_dim(out, 1) : 1;
    if (k == 1)
        return tg_tensor_get(out, r) > 0.5;
    int best = 0;
    if (tg_tensor_dtype(out) == TG_F32) {
        const float *v = (const float *)tg_tensor_data_const(out) + r * k;
        for (int64_t j = 1; j < k; j++)
            best = v[j] > v[best] ? (int)j : best;
    } else {
        const double *v = (const double *)tg_tensor_data_const(out) + r * k;
        for (int64_t j = 1; j < k; j++)
            best = v[j] > v[best] ? (int)j : best;
    }
    return best;
}

/* Checks a classification output [n, classes] (or [n, 1] / [n] for two classes). */
static bool output_fits(const tg_tensor *out, int64_t n, int classes)
{
    int rank = tg_tensor_rank(out);
    if (rank < 1 || rank > 2 || tg_tensor_dim(out, 0) != n)
        return false;
    int64_t k = rank == 2 ? tg_tensor_dim(out, 1) : 1;
    return k == classes || (k == 1 && classes == 2);
}

int64_t tg_count_correct(const tg_tensor *out, const tg_tensor *y, int classes)
{
    int64_t n = tg_tensor_dim(y, 0), correct = 0;
    if (classes > 0 && output_fits(out, n, classes))
        for (int64_t r = 0; r < n; r++)
            correct += predict(out, r) == (int)tg_tensor_get(y, r);
    return correct;
}

/* ---- evaluation ---------------------------------------------------------------- */

void tg_evaluation_free(tg_evaluation *e)
{
    if (!e)
        return;
    free(e->confusion);
    memset(e, 0, sizeof *e);
}

static tg_status check_config(tg_ctx *ctx, const char *fn, const tg_train_config *c, const tg_dataset *data,
                              bool training)
{
    if (!ctx || !c || !data)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: NULL %s", fn, !c ? "config" : !data ? "dataset" : "context");
    if (!c->forward || (training && (!c->loss || !c->optimizer)))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: config without %s; set it before training", fn,
                           !c->forward ? "a forward function" : !c->loss ? "a loss function" : "an optimizer");
    if (c->dtype != TG_F32 && c->dtype != TG_F64)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "%s: dtype %d; expected TG_F32 or TG_F64", fn, (int)c->dtype);
    return TG_OK;
}

/* Evaluates with an existing loader (grad mode off, one tape reset per batch). */
static tg_status evaluate(tg_ctx *ctx, const tg_train_config *c, tg_loader *loader, const tg_dataset *data,
                          tg_evaluation *out)
{
    int classes = data->classes;
    tg_evaluation e = {.classes = classes, .loss = c->loss ? 0 : NAN, .accuracy = NAN};
    if (classes > 0 && !(e.confusion = calloc((size_t)classes * (size_t)classes, sizeof(int64_t))))
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_evaluate: out of memory");
    bool grad = tg_grad_set_enabled(ctx, false);
    bool training = c->set_training && c->set_training(c->model, false);
    tg_status status = TG_OK;
    tg_tensor *x, *y;
    double loss_sum = 0;
    tg_loader_start(loader, NULL);
    while (status == TG_OK && tg_loader_next(loader, &x, &y)) {
        int64_t n = tg_tensor_dim(x, 0);
        tg_tensor *o = c->forward(c->model, x);
        tg_tensor *l = o && c->loss ? c->loss(o, y) : NULL;
        if (!o || (c->loss && !l)) {
            status = tg_ctx_status(ctx) != TG_OK ? tg_ctx_status(ctx)
                                                 : tg_ctx_fail(ctx, TG_ERR_ARG, "tg_evaluate: the %s returned NULL",
                                                               o ? "loss function" : "forward function");
        } else if (classes > 0 && !output_fits(o, n, classes)) {
            char shape[64];
            status = tg_ctx_fail(ctx, TG_ERR_SHAPE, "tg_evaluate: model output %s for %lld samples of %d classes; "
                                 "expected [%lld, %d]", tg_shape_str(tg_tensor_rank(o), tg_tensor_shape(o), shape,
                                 sizeof shape), (long long)n, classes, (long long)n, classes);
        } else {
            if (l)
                loss_sum += tg_tensor_item(l) * (double)n;
            for (int64_t r = 0; r < n && classes > 0; r++) {
                int truth = (int)tg_tensor_get(y, r), guess = predict(o, r);
                e.confusion[truth * classes + guess]++;
                e.correct += truth == guess;
            }
            e.count += n;
        }
        tg_tape_reset(ctx);
    }
    tg_grad_set_enabled(ctx, grad);
    if (c->set_training)
        c->set_training(c->model, training);
    if (status != TG_OK) {
        tg_evaluation_free(&e);
        return status;
    }
    if (c->loss)
        e.loss = loss_sum / (double)e.count;
    if (classes > 0)
        e.accuracy = (double)e.correct / (double)e.count;
    *out = e;
    return TG_OK;
}

tg_status tg_evaluate(tg_ctx *ctx, const tg_train_config *config, const tg_dataset *data, tg_evaluation *out)
{
    tg_status status = check_config(ctx, "tg_evaluate", config, data, false);
    if (status != TG_OK)
        return status;
    if (!out)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_evaluate: NULL output");
    tg_loader *loader = tg_loader_new(ctx, data, config->eval_batch_size > 0 ? config->eval_batch_size : 1000,
                                      config->dtype);
    if (!loader)
        return tg_ctx_status(ctx);
    status = evaluate(ctx, config, loader, data, out);
    tg_loader_free(loader);
    return status;
}

/* ---- training ------------------------------------------------------------------ */

static tg_tensor *mlp_forward(void *model, tg_tensor *x) { return tg_mlp_forward(model, x); }
static void *mlp_clone(const void *model, tg_ctx *ctx) { return tg_mlp_clone(model, ctx); }
static void mlp_free(void *model) { tg_mlp_free(model); }
static tg_params mlp_params(const void *model) { return tg_mlp_params(model); }

void tg_train_use_mlp(tg_train_config *config, tg_mlp *mlp)
{
    if (!config || !mlp)
        return;
    config->forward = mlp_forward;
    config->model = mlp;
    config->clone = mlp_clone;
    config->free_model = mlp_free;
    config->params_of = mlp_params;
}

void tg_train_use_model(tg_train_config *config, tg_model *model)
{
    if (!config || !model)
        return;
    config->forward = tg_model_forward_fn;
    config->model = model;
    config->clone = tg_model_clone_fn;
    config->free_model = tg_model_free_fn;
    config->params_of = tg_model_params_fn;
    config->buffers_of = tg_model_buffers_fn;
    config->set_training = tg_model_set_training_fn;
    config->reseed = tg_model_reseed_fn;
}

tg_train_config tg_train_defaults(void)
{
    return (tg_train_config){
        .epochs = 1,
        .batch_size = 64,
        .eval_batch_size = 1000,
        .dtype = TG_F32,
        .shuffle = true,
        .seed = 1,
        .progress = 1,
    };
}

typedef struct {
    FILE *f;
    bool tty;
    double last;      /* when a line was last drawn */
    double train_seconds; /* training time so far (evaluation excluded), for the ETA */
    int64_t steps_done, steps_total;
    int64_t samples_done;
} progress;

static void format_duration(double s, char *buf, size_t size)
{
    long t = s > 0 && s < 1e8 ? (long)(s + 0.5) : 0;
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

static void draw(progress *p, const tg_train_config *c, int epoch, int64_t step, int64_t steps, double loss,
                 double acc, double rate)
{
    char eta[32];
    double remaining_steps = (double)(p->steps_total - p->steps_done);
    double step_seconds = p->steps_done ? p->train_seconds / (double)p->steps_done : 0;
    format_duration(remaining_steps * step_seconds, eta, sizeof eta);
    fprintf(p->f, "%sepoch %d/%d  step %lld/%lld  loss %.4f", p->tty ? "\r" : "", epoch, c->epochs, (long long)step,
            (long long)steps, loss);
    if (!isnan(acc))
        fprintf(p->f, "  acc %.2f%%", 100 * acc);
    fprintf(p->f, "  %.0f samples/s  ETA %s%s", rate, eta, p->tty ? "\033[K" : "\n");
    fflush(p->f);
}

static tg_status train(tg_ctx *ctx, const tg_dataset *data, const tg_train_config *c, tg_history *history,
                       tg_fp_mode caller);

/* Computes with subnormals flushed to zero (see tg_fp_flush_subnormals) and
 * in training mode, and gives the caller back their floating-point and the
 * model's mode. */
tg_status tg_train(tg_ctx *ctx, const tg_dataset *data, const tg_train_config *c, tg_history *history)
{
    tg_fp_mode mode = tg_fp_flush_subnormals();
    bool (*set_training)(void *, bool) = c ? c->set_training : NULL;
    bool training = set_training && set_training(c->model, true); /* before the replicas are cloned */
    tg_status status = train(ctx, data, c, history, mode);
    if (set_training)
        set_training(c->model, training);
    tg_fp_mode_restore(mode);
    return status;
}

/* One step on the calling thread: forward, loss, backward, update; the
 * batch's mean loss and correct predictions. The caller resets the tape. */
static tg_status serial_step(tg_ctx *ctx, const tg_train_config *c, tg_tensor *x, tg_tensor *y, int classes, int epoch,
                             int64_t step, double *value, int64_t *right)
{
    tg_optim_zero_grad(c->optimizer);
    tg_tensor *out = c->forward(c->model, x);
    tg_tensor *loss = out ? c->loss(out, y) : NULL;
    if (!loss)
        return tg_ctx_status(ctx) != TG_OK ? tg_ctx_status(ctx)
                                           : tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: epoch %d step %lld: the %s "
                                                         "returned NULL", epoch, (long long)step,
                                                         out ? "loss function" : "forward function");
    *value = tg_tensor_item(loss);
    if (!isfinite(*value))
        return tg_ctx_fail(ctx, TG_ERR_ANOMALY, "tg_train: epoch %d step %lld: the loss is %g; lower the learning "
                           "rate or look for bad inputs (tg_anomaly_set_enabled)", epoch, (long long)step, *value);
    tg_status status = tg_backward(loss);
    if (status == TG_OK)
        status = tg_optim_step(c->optimizer);
    int64_t n = tg_tensor_dim(x, 0);
    if (status == TG_OK && classes > 0 && output_fits(out, n, classes))
        for (int64_t r = 0; r < n; r++)
            *right += predict(out, r) == (int)tg_tensor_get(y, r);
    return status;
}

static tg_status train(tg_ctx *ctx, const tg_dataset *data, const tg_train_config *c, tg_history *history,
                       tg_fp_mode caller)
{
    tg_status status = check_config(ctx, "tg_train", c, data, true);
    if (status != TG_OK)
        return status;
    if (c->test && (c->test->features != data->features || c->test->classes != data->classes ||
                    c->test->outputs != data->outputs))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: test set has %lld features, %lld outputs, %d classes; the "
                           "training set %lld, %lld, %d", (long long)c->test->features, (long long)c->test->outputs,
                           c->test->classes, (long long)data->features, (long long)data->outputs, data->classes);
    if (c->first_epoch < 0 || c->epochs < c->first_epoch)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: epochs %d, first_epoch %d; expected 0 <= first_epoch <= epochs",
                           c->epochs, c->first_epoch);
    tg_loader *loader = tg_loader_new(ctx, data, c->batch_size, c->dtype);
    tg_loader *test_loader = loader && c->test ? tg_loader_new(ctx, c->test, c->eval_batch_size > 0 ? c->eval_batch_size
                                                                                                 : 1000, c->dtype)
                                               : NULL;
    if (!loader || (c->test && !test_loader)) {
        tg_loader_free(loader);
        return tg_ctx_status(ctx);
    }
    tg_data_parallel *dp = NULL;
    if ((c->threads > 1 || c->reduce) && !(dp = tg_data_parallel_new(ctx, c, data))) {
        tg_loader_free(test_loader);
        tg_loader_free(loader);
        return tg_ctx_status(ctx);
    }
    int64_t steps = tg_loader_batches(loader);
    FILE *log = c->log ? c->log : stderr;
    progress p = {.f = log, .tty = isatty(fileno(log)) == 1, .steps_total = steps * (c->epochs - c->first_epoch)};
    int classes = data->classes;

    for (int epoch = c->first_epoch + 1; status == TG_OK && epoch <= c->epochs; epoch++) {
        double start = now();
        tg_rng rng = tg_rng_seed(c->seed + (uint64_t)epoch);
        tg_loader_start(loader, c->shuffle ? &rng : NULL);
        if (dp)
            tg_data_parallel_resync(dp);
        double loss_sum = 0, epoch_train = 0;
        int64_t correct = 0, seen = 0, step = 0;
        tg_tensor *x, *y;
        p.last = start;
        const int64_t *order = NULL;
        int64_t n = 0;
        /* data-parallel workers convert their own shares: the loader only hands out sample indices */
        while (dp ? tg_loader_next_samples(loader, &order, &n) : tg_loader_next(loader, &x, &y)) {
            double t0 = now();
            n = dp ? n : tg_tensor_dim(x, 0);
            step++;
            double value = 0;
            int64_t right = 0;
            /* data-parallel: it writes the summed gradient over the model's .grad, no zeroing needed */
            status = dp ? tg_data_parallel_step(dp, loader, order, n, step, epoch, &value, &right)
                        : serial_step(ctx, c, x, y, classes, epoch, step, &value, &right);
            tg_tape_reset(ctx);
            if (status != TG_OK)
                break;
            loss_sum += value * (double)n;
            correct += right;
            seen += n;
            double t1 = now();
            epoch_train += t1 - t0;
            p.train_seconds += t1 - t0;
            p.steps_done++;
            p.samples_done += n;
            /* a terminal: redraw 10 times a second; a log: a line every 10 s */
            if (c->progress && step < steps && t1 - p.last >= (p.tty ? 0.1 : 10.0)) {
                draw(&p, c, epoch, step, steps, loss_sum / (double)seen,
                     classes > 0 ? (double)correct / (double)seen : NAN, (double)seen / epoch_train);
                p.last = t1;
            }
        }
        if (status != TG_OK)
            break;
        tg_evaluation test = {.accuracy = NAN};
        if (test_loader && (status = evaluate(ctx, c, test_loader, c->test, &test)) != TG_OK)
            break;
        double seconds = now() - start;
        double loss = loss_sum / (double)seen, acc = classes > 0 ? (double)correct / (double)seen : NAN;
        if (c->progress) {
            fprintf(p.f, "%sepoch %d/%d  loss %.4f", p.tty ? "\r" : "", epoch, c->epochs, loss);
            if (!isnan(acc))
                fprintf(p.f, "  acc %.2f%%", 100 * acc);
            if (!isnan(test.accuracy))
                fprintf(p.f, "  test %.2f%%", 100 * test.accuracy);
            fprintf(p.f, "  %.1f s  %.0f samples/s%s\n", seconds, (double)seen / epoch_train, p.tty ? "\033[K" : "");
            fflush(p.f);
        }
        double test_acc = test.accuracy;
        tg_evaluation_free(&test);
        if (history && tg_history_append(history, epoch, loss, acc, test_acc, seconds) != TG_OK) {
            status = tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_train: out of memory for the history");
            break;
        }
        if (c->on_epoch) { /* the user's code, in the user's floating-point mode */
            tg_fp_mode_restore(caller);
            status = c->on_epoch(c, epoch, history, c->user);
            tg_fp_flush_subnormals();
            if (status != TG_OK)
                break;
        }
    }
    tg_data_parallel_free(dp);
    tg_loader_free(test_loader);
    tg_loader_free(loader);
    return status;
}
