/* Data-parallel training step: a minibatch split into shares, one worker per
 * share, gradients summed in a fixed order, one optimizer step. This file
 * makes and frees the workers and runs a step phase by phase; the phases
 * live beside it (nn/train/data_parallel_internal.h): a worker's pass in
 * dp_workers.c, the sum and update in dp_sum.c, the weight products that
 * matmul hands over through its product sink (ops/product_sink.h) in
 * dp_weights.c. */
#include "nn/train/data_parallel_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- setup ------------------------------------------------------------------ */

static bool same_shape(const tg_tensor *a, const tg_tensor *b)
{
    return tg_tensor_rank(a) == tg_tensor_rank(b) && tg_tensor_dtype(a) == tg_tensor_dtype(b) &&
           !memcmp(tg_tensor_shape(a), tg_tensor_shape(b), sizeof(int64_t) * (size_t)tg_tensor_rank(a));
}

/* Checks that a replica's list matches the model's, tensor by tensor. */
static bool lists_match(tg_ctx *ctx, const char *what, int worker, tg_params model, tg_params replica)
{
    if (replica.count != model.count)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: worker %d's replica has %d %s; the model %d (clone and %s_of "
                           "must agree)", worker, replica.count, what, model.count, what), false;
    for (int i = 0; i < model.count; i++) {
        const tg_tensor *a = model.items[i], *b = replica.items[i];
        if (!a || !b || !same_shape(a, b)) {
            char sa[64] = "NULL", sb[64] = "NULL";
            if (a)
                tg_shape_str(tg_tensor_rank(a), tg_tensor_shape(a), sa, sizeof sa);
            if (b)
                tg_shape_str(tg_tensor_rank(b), tg_tensor_shape(b), sb, sizeof sb);
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: %s %d (%s) is %s in the model and %s in worker %d's "
                               "replica; expected equal shapes and dtypes", what, i,
                               a && tg_tensor_name(a) ? tg_tensor_name(a) : "unnamed", sa, sb, worker), false;
        }
    }
    return true;
}

static tg_params buffers_of(const tg_train_config *c, const void *model)
{
    return c->buffers_of ? c->buffers_of(model) : (tg_params){0, NULL};
}

tg_data_parallel *tg_data_parallel_new(tg_ctx *ctx, const tg_train_config *c, const tg_dataset *data)
{
    int classes = data->classes;
    int n = c->threads > 1 ? c->threads : 1;
    if (n > TG_DP_MAX_THREADS)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: threads = %d; expected at most %d", c->threads,
                           TG_DP_MAX_THREADS), NULL;
    if (!c->params_of || (n > 1 && (!c->clone || !c->free_model)))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: %s needs the config's %s (tg_train_use_mlp sets them for an "
                           "MLP)", n > 1 ? "threads > 1" : "a reduce callback",
                           n > 1 ? "clone, free_model and params_of" : "params_of"), NULL;
    tg_params master = c->params_of(c->model);
    if (master.count < 1 || !master.items || !master.items[0])
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: params_of gave no parameters (count %d)", master.count), NULL;
    tg_dtype dtype = tg_tensor_dtype(master.items[0]);
    for (int i = 0; i < master.count; i++)
        if (!master.items[i] || tg_tensor_dtype(master.items[i]) != dtype)
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: parameter %d is %s; data-parallel training needs one "
                               "dtype for all", i, !master.items[i] ? "NULL" : "of another dtype"), NULL;

    tg_data_parallel *dp = calloc(1, sizeof *dp);
    if (!dp)
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_train: out of memory"), NULL;
    *dp = (tg_data_parallel){.ctx = ctx, .c = c, .classes = classes, .n = n, .n_params = master.count,
                             .dtype = dtype, .features = data->features, .outputs = data->outputs,
                             .classes_of_data = data->classes, .lead = {.index = -1, .found = -1}};
    dp->workers = calloc((size_t)n, sizeof *dp->workers);
    dp->sum.offsets = calloc((size_t)master.count + 1, sizeof *dp->sum.offsets);
    dp->weights = calloc((size_t)n, sizeof *dp->weights);
    bool ok = dp->workers && dp->sum.offsets && dp->weights;
    for (int i = 0; ok && i < master.count; i++)
        dp->sum.offsets[i + 1] = dp->sum.offsets[i] + tg_tensor_size(master.items[i]);
    dp->sum.total = ok ? dp->sum.offsets[master.count] : 0;
    if (ok && c->reduce) {
        size_t bytes = ((size_t)dp->sum.total + 1) * (dtype == TG_F32 ? 4 : 8);
        ok = (dp->sum.flat = aligned_alloc(64, (bytes + 63) & ~(size_t)63)) != NULL;
    }
    for (int k = 0; ok && k < n; k++)
        ok = (dp->workers[k].grad = calloc((size_t)master.count, sizeof(void *))) != NULL &&
             (dp->workers[k].grads = calloc((size_t)master.count, sizeof(tg_tensor *))) != NULL &&
             (dp->workers[k].left = calloc((size_t)master.count, sizeof(tg_tensor *))) != NULL &&
             (dp->workers[k].right = calloc((size_t)master.count, sizeof(tg_tensor *))) != NULL;
    ok = ok && (dp->take.taken = calloc((size_t)master.count, sizeof(bool))) != NULL &&
         (dp->take.reached = calloc((size_t)master.count, sizeof(bool))) != NULL;
    ok = ok && (dp->dst = calloc((size_t)master.count, sizeof(void *))) != NULL;
    if (!ok) {
        tg_data_parallel_free(dp);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_train: out of memory for %d workers", n), NULL;
    }
    for (int k = 0; k < n; k++) {
        dp->workers[k].dp = dp;
        dp->workers[k].index = k;
    }
    dp->workers[0].ctx = ctx;
    dp->workers[0].model = c->model;
    dp->workers[0].params = master;
    dp->workers[0].buffers = buffers_of(c, c->model);
    for (int k = 1; k < n; k++) {
        dp_worker *w = &dp->workers[k];
        if (!(w->ctx = tg_ctx_new(1))) {
            tg_data_parallel_free(dp);
            return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_train: out of memory for worker %d's context", k), NULL;
        }
        tg_ctx_set_error_handler(w->ctx, NULL, NULL); /* re-raised on the caller's context, once */
        w->model = c->clone(c->model, w->ctx);
        if (!w->model) {
            tg_ctx_fail(ctx, tg_ctx_status(w->ctx) != TG_OK ? tg_ctx_status(w->ctx) : TG_ERR_ARG,
                        "tg_train: clone failed for worker %d: %s", k,
                        tg_ctx_error(w->ctx)[0] ? tg_ctx_error(w->ctx) : "it returned NULL");
            tg_data_parallel_free(dp);
            return NULL;
        }
        if (c->reseed) /* a clone draws the model's dropout masks until it gets streams of its own */
            c->reseed(w->model, k);
        w->params = c->params_of(w->model);
        w->buffers = buffers_of(c, w->model);
        if (!lists_match(ctx, "params", k, master, w->params) ||
            !lists_match(ctx, "buffers", k, dp->workers[0].buffers, w->buffers)) {
            tg_data_parallel_free(dp);
            return NULL;
        }
    }
    dp->sum.fused = tg_optim_updates_exactly(c->optimizer, master);
    dp->replicas_current = true; /* clones */
    int threads = tg_ctx_threads(ctx);
    int64_t slices = (dp->sum.total + TG_DP_SLICE_MIN - 1) / TG_DP_SLICE_MIN;
    dp->sum.tasks = (int)(slices < threads ? slices : threads);
    /* threads only: a reduce callback sums flat buffers of whole gradients */
    dp->take.on = dp->sum.fused && !c->reduce && n > 1 && tg_ctx_pool(ctx);
    if (dp->take.on && (!(dp->take.stack_left = calloc((size_t)master.count, sizeof(void *))) ||
                             !(dp->take.stack_right = calloc((size_t)master.count, sizeof(void *))) ||
                             !(dp->take.stacked = calloc((size_t)master.count, sizeof(bool))))) {
        tg_data_parallel_free(dp);
        return tg_ctx_fail(ctx, TG_ERR_NOMEM, "tg_train: out of memory for %d workers", n), NULL;
    }
    return dp;
}

void tg_data_parallel_free(tg_data_parallel *dp)
{
    if (!dp)
        return;
    for (int k = 0; dp->lead.index >= 0 && k < dp->n; k++) { /* the workers' own buffers back, before they are freed */
        tg_tensor_share_data(dp->workers[k].x, dp->lead.x_had[k]);
        if (k > 0)
            tg_tensor_share_data(dp->workers[k].params.items[dp->lead.index], dp->lead.w_had[k]);
    }
    if (dp->lead.index >= 0) /* the lead's right stack is batch_x */
        dp->take.stack_right[dp->lead.index] = NULL;
    for (int k = 0; dp->workers && k < dp->n; k++) {
        dp_worker *w = &dp->workers[k];
        if (k > 0) {
            if (w->model)
                dp->c->free_model(w->model);
            tg_ctx_free(w->ctx);
        } else {
            tg_tensor_free(w->x);
            tg_tensor_free(w->y);
        }
        free(w->grad);
        free(w->grads);
        free(w->left);
        free(w->right);
    }
    free(dp->take.taken);
    free(dp->take.reached);
    for (int i = 0; dp->take.stack_left && i < dp->n_params; i++) {
        free(dp->take.stack_left[i]);
        free(dp->take.stack_right[i]);
    }
    free(dp->take.stack_left);
    free(dp->take.stack_right);
    free(dp->take.stacked);
    free(dp->take.chunk);
    free(dp->lead.batch_x);
    free(dp->lead.out);
    free(dp->lead.x_had);
    free(dp->dst);
    free(dp->workers);
    free(dp->sum.offsets);
    free(dp->weights);
    free(dp->sum.flat);
    free(dp);
}

/* ---- one step -------------------------------------------------------------- */

/* Shares of batch/n samples, the first batch % n workers one more, and the
 * weight of each share's gradient in the sum. */
static void cut_shares(tg_data_parallel *dp, int64_t batch)
{
    int64_t begin = 0;
    for (int k = 0; k < dp->n; k++) {
        dp_worker *w = &dp->workers[k];
        w->begin = begin;
        w->count = batch / dp->n + (k < batch % dp->n);
        begin += w->count;
        dp->weights[k] = dp->sum.flat ? (double)w->count : (double)w->count / (double)batch;
    }
}

/* The workers' losses (summed over samples) and right answers. */
static void collect(tg_data_parallel *dp, double *loss_sum, int64_t *right)
{
    for (int k = 0; k < dp->n; k++) {
        dp_worker *w = &dp->workers[k];
        for (int i = 0; i < dp->n_params && !w->count; i++)
            w->grad[i] = NULL;
        *loss_sum += w->loss * (double)w->count;
        *right += w->correct;
    }
}

/* Non-trainable state: the share-weighted mean of the workers'. */
static void average_buffers(tg_data_parallel *dp, int64_t batch)
{
    const dp_worker *m = &dp->workers[0];
    for (int i = 0; i < m->buffers.count && dp->n > 1; i++) {
        tg_tensor *b = m->buffers.items[i];
        for (int64_t j = 0; j < tg_tensor_size(b); j++) {
            double v = 0;
            for (int k = 0; k < dp->n; k++)
                if (dp->workers[k].count)
                    v += (double)dp->workers[k].count / (double)batch * tg_tensor_get(dp->workers[k].buffers.items[i], j);
            tg_tensor_set(b, j, v);
        }
    }
}

void tg_data_parallel_resync(tg_data_parallel *dp) { dp->replicas_current = false; }

tg_status tg_data_parallel_step(tg_data_parallel *dp, const tg_loader *loader, const int64_t *order, int64_t batch,
                                int64_t step, int epoch, double *loss, int64_t *correct)
{
    tg_ctx *ctx = dp->ctx;
    dp->loader = loader;
    dp->order = order;
    cut_shares(dp, batch);
    if (batch > dp->c->batch_size) /* the stacks hold batch_size samples */
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: a batch of %lld samples; the config's batch_size is %lld",
                           (long long)batch, (long long)dp->c->batch_size);
    tg_dp_lead_product(dp, batch);                      /* dp_weights.c */
    tg_ctx_run_tasks(ctx, dp->n, tg_dp_run_worker, dp); /* dp_workers.c */

    tg_status status = tg_dp_worker_errors(dp, epoch, step);
    if (status != TG_OK)
        return status;

    double loss_sum = 0;
    int64_t right = 0;
    collect(dp, &loss_sum, &right);
    if (!dp->warm) { /* where the sums go: the model's .grad of the parameters the loss reached */
        for (int i = 0; i < dp->n_params; i++) {
            tg_tensor *g = tg_tensor_grad(dp->workers[0].params.items[i]);
            dp->dst[i] = g ? tg_tensor_data(g) : NULL;
        }
        dp->warm = true;
    }
    for (int i = 0; i < dp->n_params && dp->sum.fused; i++)
        if (!tg_tensor_data(dp->workers[0].params.items[i]))
            return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_train: parameter %d (%s) was freed", i,
                               tg_tensor_name(dp->workers[0].params.items[i]) ? tg_tensor_name(dp->workers[0].params.items[i])
                                                                              : "unnamed");
    tg_dp_note_parts(dp);                               /* dp_weights.c */
    status = dp->sum.flat ? tg_dp_sum_across_processes(dp, batch, epoch, step) /* dp_sum.c */
                          : tg_dp_sum_and_take(dp);                            /* dp_weights.c */
    if (status != TG_OK)
        return status;
    for (int k = 1; k < dp->n; k++) /* their gradients were step tensors, read by the sum */
        tg_tape_reset(dp->workers[k].ctx);
    status = TG_OK;
    if (dp->sum.fused)
        tg_optim_set_steps(dp->c->optimizer, tg_optim_steps(dp->c->optimizer) + 1);
    else
        status = tg_optim_step(dp->c->optimizer);
    dp->replicas_current = dp->sum.fused;
    if (status != TG_OK)
        return status;
    if (dp->take.on)
        tg_dp_start_lead(dp);
    average_buffers(dp, batch);
    *loss = loss_sum / (double)batch;
    *correct = right;
    return TG_OK;
}
