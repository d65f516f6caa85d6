/* A data-parallel worker (nn/train/data_parallel_internal.h): worker 0 runs
 * the caller's model on the caller's context; worker k > 0 runs a replica
 * (config->clone) in a context of its own, with its own tape, step memory
 * and one thread: a parameter's header is written during backward (pending
 * and accumulated gradients), so two workers cannot share one context's
 * tensors. The workers run as tasks on the caller's context's pool; a
 * worker's own GEMMs then run on its thread alone (the pool runs nested work
 * inline), so two levels of threads never oversubscribe the cores.
 *
 * Each worker refreshes its replica (a memory pass, done by its own worker
 * in parallel), converts its share of the batch, and runs forward, loss and
 * backward on it. Its matmuls talk to dp_weights.c through the product sink
 * it installs on its context (ops/product_sink.h). */
#include "nn/train/data_parallel_internal.h"

#include <math.h>
#include <string.h>

static tg_status worker_fail(dp_worker *w, tg_status status, const char *fmt, double value)
{
    if (tg_ctx_status(w->ctx) != TG_OK)
        return tg_ctx_status(w->ctx);
    return tg_ctx_fail(w->ctx, status, fmt, value);
}

/* Worker k: refresh the replica, then forward, loss and backward on its share. */
void tg_dp_run_worker(void *arg, int k)
{
    tg_data_parallel *dp = arg;
    const tg_train_config *c = dp->c;
    dp_worker *w = &dp->workers[k];
    w->loss = 0;
    w->correct = 0;
    w->status = TG_OK;
    for (int i = 0; i < dp->n_params; i++)
        w->left[i] = w->right[i] = NULL;
    if (w->count == 0)
        return; /* more workers than samples: this one sits the step out */
    if (k > 0) {
        const dp_worker *m = &dp->workers[0];
        for (int i = 0; i < dp->n_params && !dp->replicas_current; i++)
            if (tg_tensor_data(w->params.items[i]) != tg_tensor_data(m->params.items[i])) /* else shared: the lead */
                memcpy(tg_tensor_data(w->params.items[i]), tg_tensor_data_const(m->params.items[i]),
                       (size_t)tg_tensor_size(m->params.items[i]) * (dp->dtype == TG_F32 ? 4 : 8));
        for (int i = 0; i < m->buffers.count; i++)
            tg_tensor_copy(w->buffers.items[i], m->buffers.items[i]);
    }

    /* its share of the batch, converted here: every worker at once, into
     * tensors of its own kept for the usual share size (a step tensor would
     * be zero-filled first), step tensors for another size */
    int64_t full = c->batch_size / dp->n + (k < c->batch_size % dp->n); /* its share of a full batch */
    if (!w->x && w->count == full) {
        w->x = tg_tensor_new(w->ctx, dp->c->dtype, 2, (int64_t[]){w->count, dp->features});
        w->y = dp->classes_of_data > 0 ? tg_tensor_new(w->ctx, dp->c->dtype, 1, (int64_t[]){w->count})
                                       : tg_tensor_new(w->ctx, dp->c->dtype, 2, (int64_t[]){w->count, dp->outputs});
    }
    bool own = w->x && w->y && w->count == full;
    tg_tensor *x = own ? w->x : tg_tensor_temp(w->ctx, dp->c->dtype, 2, (int64_t[]){w->count, dp->features});
    tg_tensor *y = own ? w->y
                 : dp->classes_of_data > 0 ? tg_tensor_temp(w->ctx, dp->c->dtype, 1, (int64_t[]){w->count})
                                           : tg_tensor_temp(w->ctx, dp->c->dtype, 2, (int64_t[]){w->count, dp->outputs});
    if (x && y && !dp->lead.leading) /* else tg_dp_lead_product did */
        tg_loader_fill(dp->loader, dp->order + w->begin, w->count, x, y);
    /* the lead weight's product is given (ops/product_sink.h): its rows of the batch's */
    tg_product_sink giver = {.give_product = tg_dp_give_product, .user = w};
    tg_ctx_set_product_sink(w->ctx, dp->lead.leading ? &giver : NULL);
    tg_tensor *out = y ? c->forward(w->model, x) : NULL;
    tg_ctx_set_product_sink(w->ctx, NULL);
    tg_tensor *loss = out ? c->loss(out, y) : NULL;
    if (!loss) {
        w->status = worker_fail(w, TG_ERR_ARG, "the forward or loss function returned NULL%.0f", 0);
    } else {
        double value = tg_tensor_item(loss);
        if (!isfinite(value))
            w->status = worker_fail(w, TG_ERR_ANOMALY, "the loss is %g; lower the learning rate or look for bad "
                                    "inputs (tg_anomaly_set_enabled)", value);
        else if (!dp->warm && k == 0) { /* the first step: the model's .grad, made here, tells which parameters the
                                            loss reaches; the replicas' gradients are step tensors from the start
                                            (.grad of their own, and products on their tapes, would be fresh
                                            memory used once: on this project's VMs a page faults in for 14 µs) */
            tg_params_zero_grad(w->params);
            if ((w->status = tg_backward(loss)) == TG_OK)
                for (int i = 0; i < dp->n_params; i++) {
                    tg_tensor *g = tg_tensor_grad(w->params.items[i]);
                    w->grad[i] = g ? tg_tensor_data(g) : NULL;
                }
        } else {
            /* the gradients as step tensors: no copy into .grad, the sum reads them where they are */
            /* and weight gradients taken off the tape (ops/product_sink.h): dp_weights.c makes them */
            tg_product_sink taker = {.take_weight_grad = tg_dp_take_weight_grad, .user = w};
            tg_ctx_set_product_sink(w->ctx, dp->take.on ? &taker : NULL);
            w->status = tg_grad_reached(loss, dp->n_params, w->params.items, w->grads);
            tg_ctx_set_product_sink(w->ctx, NULL);
            for (int i = 0; i < dp->n_params && w->status == TG_OK; i++)
                w->grad[i] = (dp->dst[i] || !dp->warm) && w->grads[i] ? tg_tensor_data(w->grads[i]) : NULL;
        }
        if (w->status == TG_OK) {
            w->loss = value;
            w->correct = dp->classes > 0 ? tg_count_correct(out, y, dp->classes) : 0;
        }
    }
}

/* The first failed worker's error on the caller's context, naming the worker
 * and its samples (worker 0's is there already); the other workers' errors
 * are echoes or their own: dropped. */
tg_status tg_dp_worker_errors(tg_data_parallel *dp, int epoch, int64_t step)
{
    tg_ctx *ctx = dp->ctx;
    for (int k = 0; k < dp->n; k++) {
        dp_worker *w = &dp->workers[k];
        if (w->status == TG_OK)
            continue;
        tg_status status = w->status;
        if (k > 0) {
            tg_ctx_fail(ctx, status, "tg_train: epoch %d step %lld: worker %d of %d (samples %lld to %lld of the "
                        "batch): %s", epoch, (long long)step, k, dp->n, (long long)w->begin,
                        (long long)(w->begin + w->count - 1), tg_ctx_error(w->ctx));
            tg_ctx_clear_error(w->ctx);
        } else if (tg_ctx_status(ctx) == TG_OK) {
            tg_ctx_fail(ctx, status, "tg_train: epoch %d step %lld: worker 0 failed", epoch, (long long)step);
        }
        for (int j = 1; j < dp->n; j++) /* the other workers' errors are echoes or their own: drop them */
            tg_ctx_clear_error(dp->workers[j].ctx);
        return tg_ctx_status(ctx);
    }
    return TG_OK;
}
