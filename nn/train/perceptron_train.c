/* Training loops of the one-neuron models: Rosenblatt's perceptron rule
 * (nn/layers/perceptron.c holds its search and update) and logistic
 * regression by full-batch gradient descent through the tape. */
#include "nn/layers/perceptron_internal.h"

tg_status tg_perceptron_train(tg_tensor *w, double *b, const tg_tensor *x, const tg_tensor *y, double eta,
                              int64_t max_updates, tg_perceptron_fn fn, void *user, tg_perceptron_result *result)
{
    tg_status status = tg_perceptron_check("tg_perceptron_train", w, x, y);
    if (status != TG_OK)
        return status;
    tg_ctx *ctx = tg_tensor_ctx(w);
    if (!b)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_perceptron_train: NULL b");
    if (!(eta > 0))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_perceptron_train: eta is %g; expected > 0", eta);
    tg_perceptron_result res = {0, false};
    tg_perceptron_row row = {.iteration = 0, .misclassified = -1, .w = w, .b = *b};
    if (fn)
        fn(&row, user);
    /* Step k (k = 1, 2, ...) looks for the first misclassified point: it
     * makes the k-th update, or finds none and is the final row. */
    for (int64_t step = 1;; step++) {
        int64_t wrong;
        if (tg_perceptron_find_misclassified(w, *b, x, y, &wrong, true) == 0) {
            res.converged = true;
            row = (tg_perceptron_row){step, -1, true, w, *b};
            if (fn)
                fn(&row, user);
            break;
        }
        if (res.updates >= max_updates)
            break;
        tg_perceptron_step(w, b, x, y, eta, wrong);
        res.updates++;
        row = (tg_perceptron_row){step, wrong, false, w, *b};
        if (fn)
            fn(&row, user);
    }
    if (result)
        *result = res;
    return TG_OK;
}

/* J = -(1/n) Σ [y ln σ(z) + (1 - y) ln(1 - σ(z))], z = x·wᵀ + b; w ← w - lr·dJ/dw */
tg_status tg_logistic_fit(tg_layer *neuron, tg_tensor *x, tg_tensor *y, double lr, int64_t epochs,
                          double *final_loss)
{
    if (!neuron)
        return TG_ERR_ARG;
    tg_ctx *ctx = tg_tensor_ctx(tg_layer_weight(neuron));
    if (!x || !y)
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_logistic_fit: x and y must not be NULL");
    if (!(lr > 0))
        return tg_ctx_fail(ctx, TG_ERR_ARG, "tg_logistic_fit: lr is %g; expected > 0", lr);
    int64_t n = tg_tensor_rank(x) >= 1 ? tg_tensor_dim(x, 0) : 0;
    if (tg_layer_out(neuron) != 1 || tg_tensor_rank(x) != 2 || tg_tensor_size(y) != n ||
        tg_tensor_rank(y) < 1 || tg_tensor_rank(y) > 2 || tg_tensor_dim(y, 0) != n)
        return tg_ctx_fail(ctx, TG_ERR_SHAPE, "tg_logistic_fit: neuron [%lld -> %lld], x rank %d, y of %lld "
                           "elements; expected a neuron [in -> 1], x [n, in], y [n] or [n, 1]",
                           (long long)tg_layer_in(neuron), (long long)tg_layer_out(neuron), tg_tensor_rank(x),
                           (long long)tg_tensor_size(y));
    tg_params params = tg_layer_params(neuron);
    tg_optimizer *opt = tg_optim_sgd_new(params, lr);
    if (!opt)
        return tg_ctx_status(ctx);
    tg_status status = TG_OK;
    for (int64_t epoch = 0; epoch < epochs && status == TG_OK; epoch++) {
        tg_tensor *logits = tg_layer_linear(neuron, x);                          /* [n, 1] */
        tg_tensor *target = tg_reshape(y, TG_SHAPE(n, 1));
        tg_tensor *loss = tg_loss_bce_logits(logits, target, TG_REDUCE_MEAN);
        if (!loss) {
            status = tg_ctx_status(ctx);
            break;
        }
        if (final_loss)
            *final_loss = tg_tensor_item(loss);
        tg_params_zero_grad(params);
        status = tg_backward(loss);
        if (status == TG_OK)
            status = tg_optim_step(opt);
        tg_tape_reset(ctx);
    }
    tg_optim_free(opt);
    return status;
}
