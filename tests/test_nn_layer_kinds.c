/* Layer kinds (tapegrad/model.h): every built-in kind has every piece of its
 * descriptor, and each piece works (a module from a sample spec, shape
 * inference that agrees with the forward, a print row, tensor names for
 * PyTorch, spec text that round-trips, a diagram cluster, a C export unless
 * the kind is refused by design); a kind without a case here fails. User-registered kinds work like built-ins: in a model,
 * tg_train on one thread and data-parallel, checkpoints; a file naming a kind
 * this process has not registered is refused naming it. A user op is an
 * activation layer. A recurrent layer in a model reads batch-first
 * sequences: the issue-20 classifier trains through tg_train to 90%. The
 * context frees modules, models and MLPs nobody freed. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tapegrad.h"
#include "tapegrad/op.h"
#include "tests/support.h"

static tg_ctx *ctx;
static char dir[64];

static void setup(void) { cr_assert_not_null(ctx = scratch_fixture_setup(dir, sizeof dir, "tg_kinds_")); }
static void teardown(void) { cr_expect_eq(scratch_fixture_teardown(ctx, dir), 0); }

TestSuite(nn_layer_kinds, .init = setup, .fini = teardown);

/* ---- every built-in kind, every piece ---- */

/* One case per built-in kind, as the op tests keep one gradcheck case per op. */
static const tg_layer_spec kind_cases[] = {
    {.kind = TG_LAYER_DENSE, .in = 3, .out = 2, .act = TG_ACT_TANH},
    {.kind = TG_LAYER_CONV2D, .in = 2, .out = 3, .kernel = 3, .padding = 1},
    {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
    {.kind = TG_LAYER_AVG_POOL2D, .kernel = 2},
    {.kind = TG_LAYER_FLATTEN},
    {.kind = TG_LAYER_ACTIVATION, .act = TG_ACT_RELU},
    {.kind = TG_LAYER_DROPOUT, .rate = 0.5, .seed = 7},
    {.kind = TG_LAYER_BATCH_NORM, .in = 3},
    {.kind = TG_LAYER_LAYER_NORM, .in = 3},
    {.kind = TG_LAYER_EMBEDDING, .in = 5, .out = 3},
    {.kind = TG_LAYER_RNN, .in = 3, .out = 2},
    {.kind = TG_LAYER_LSTM, .in = 3, .out = 2, .last_state = true},
    {.kind = TG_LAYER_GRU, .in = 3, .out = 2},
    {.kind = TG_LAYER_SELF_ATTENTION, .in = 4, .heads = 2, .causal = true},
    {.kind = TG_LAYER_TRANSFORMER_BLOCK, .in = 4, .out = 8, .heads = 2, .causal = true},
    {.kind = TG_LAYER_POSITION_EMBEDDING, .in = 5, .out = 3},
};
enum { N_CASES = sizeof kind_cases / sizeof kind_cases[0] };

/* Built-in kinds that tg_model_export_c refuses by design: their C would be a
 * whole attention (softmax over a sequence, heads) or a sequence-position add
 * the exported single-sample forward has no kernel for yet. Every other
 * built-in kind must carry a c_export piece. */
static const tg_layer_kind refused_by_c_export[] = {
    TG_LAYER_SELF_ATTENTION,     /* attention over the sequence: no C kernel yet */
    TG_LAYER_TRANSFORMER_BLOCK,  /* attention and an MLP: no C kernel yet */
    TG_LAYER_POSITION_EMBEDDING, /* learned positions: no C kernel yet */
};

static bool refused_by_design(int kind)
{
    for (size_t i = 0; i < sizeof refused_by_c_export / sizeof *refused_by_c_export; i++)
        if ((int)refused_by_c_export[i] == kind)
            return true;
    return false;
}

static const tg_layer_spec *case_of(int kind)
{
    for (int i = 0; i < N_CASES; i++)
        if ((int)kind_cases[i].kind == kind)
            return &kind_cases[i];
    return NULL;
}

Test(nn_layer_kinds, every_built_in_kind_has_every_descriptor_piece_and_each_works)
{
    int kinds = 0;
    for (int kind = 0; kind < TG_LAYER_USER; kind++) {
        const tg_layer_kind_def *def = tg_layer_kind_def_of(kind);
        if (!def)
            continue;
        kinds++;
        const char *name = def->name;
        cr_expect_str_eq(tg_layer_kind_name((tg_layer_kind)kind), name);
        cr_expect_eq(tg_layer_kind_find(name), kind, "%s: found by its name", name);
        cr_expect(def->make || (def->torch_names && !def->torch_names[0]),
                  "%s: a kind with tensors (PyTorch names) has no make", name);
        cr_expect_not_null(def->shape, "%s has no shape rule", name);
        cr_expect_not_null(def->forward, "%s has no forward", name);
        cr_expect_not_null(def->describe, "%s has no describe (print row, diagram cluster)", name);
        cr_expect_not_null(def->torch_names, "%s has no PyTorch names", name);
        cr_expect_not_null(def->sample_input, "%s has no sample input", name);
        const tg_layer_spec *spec = case_of(kind);
        cr_expect_not_null(spec, "layer kind %s has no case in kind_cases", name);
        if (!spec || !def->shape || !def->forward || !def->describe || !def->torch_names || !def->sample_input)
            continue;

        /* a model of the one layer, with the sample's per-sample shape as input */
        int64_t sample[TG_MAX_RANK];
        int rank = def->sample_input(spec, sample);
        cr_assert(rank >= 1 && rank <= TG_MAX_RANK, "%s: sample rank %d", name, rank);
        tg_rng rng = tg_rng_seed((uint64_t)kind + 1);
        tg_model *m = tg_model_new(ctx, TG_F64, rank - 1, sample + 1, 1, spec, &rng);
        cr_assert_not_null(m, "%s: %s", name, tg_ctx_error(ctx));
        tg_module *module = tg_model_module(m, 0);

        /* forward: the output has the shape the shape rule gave when the model was made */
        tg_tensor *x = tg_tensor_new(ctx, TG_F64, rank, sample);
        for (int64_t i = 0; i < tg_tensor_size(x); i++)
            tg_tensor_set(x, i, (def->fields & TG_LAYER_TAKES_INDICES) ? (double)(i % 2) : sin((double)i));
        /* recorded even for a layer without parameters (the diagram draws the tape) */
        tg_tensor_set_requires_grad(x, !(def->fields & TG_LAYER_TAKES_INDICES));
        tg_tensor *y = tg_model_forward(m, x);
        cr_assert_not_null(y, "%s: %s", name, tg_ctx_error(ctx));
        char printed[4096] = "";
        FILE *out = fmemopen(printed, sizeof printed - 1, "w");
        tg_model_print(m, out);
        fclose(out);
        char shape[64];
        tg_shape_str(tg_tensor_rank(y) - 1, tg_tensor_shape(y) + 1, shape, sizeof shape);
        cr_expect(strstr(printed, shape), "%s: output %s not in the print:\n%s", name, shape, printed);
        cr_expect(strstr(printed, name), "%s: the kind is not in the print:\n%s", name, printed);

        /* a PyTorch name for every tensor */
        tg_params params = tg_module_params(module), buffers = tg_module_buffers(module);
        for (int i = 0; i < params.count + buffers.count; i++)
            cr_expect(def->torch_names[i] && def->torch_names[i][0] && tg_module_torch_name(module, i),
                      "%s: tensor %d has no PyTorch name", name, i);
        cr_expect_null(tg_module_torch_name(module, params.count + buffers.count));

        /* the spec text round-trips to the same architecture */
        char *text = tg_model_spec_text(m);
        cr_assert_not_null(text);
        char line[64];
        snprintf(line, sizeof line, "layer %s ", name);
        cr_expect(strstr(text, line), "%s: %s", name, text);
        tg_model *back = tg_model_from_spec_text(ctx, text, NULL);
        cr_assert_not_null(back, "%s: %s", name, tg_ctx_error(ctx));
        char diff[256];
        cr_expect_not(tg_model_spec_diff(m, back, diff, sizeof diff), "%s: %s", name, diff);
        free(text);
        tg_model_free(back);

        /* the C export: the kind's piece writes the one-layer model, or the
         * kind is refused by design and the export says so, naming it */
        tg_ctx_clear_error(ctx);
        if (refused_by_design(kind)) {
            cr_expect_null(def->c_export, "%s has a c_export: take it off refused_by_c_export", name);
            cr_expect_eq(tg_model_export_c(m, "one_layer", dir), TG_ERR_ARG, "%s: exported", name);
            cr_expect(strstr(tg_ctx_error(ctx), name), "%s: the refusal does not name it: %s", name,
                      tg_ctx_error(ctx));
            tg_ctx_clear_error(ctx);
        } else {
            cr_expect_not_null(def->c_export, "%s has no c_export (C export) and is not refused by design", name);
            cr_expect_eq(tg_model_export_c(m, "one_layer", dir), TG_OK, "%s: %s", name, tg_ctx_error(ctx));
            tg_ctx_clear_error(ctx);
        }

        /* the diagram has the layer's cluster, labelled by name and kind */
        char path[128], label[96];
        snprintf(path, sizeof path, "%s/%s.dot", dir, name);
        cr_expect_eq(tg_model_dot_save(m, x, path, NULL), TG_OK, "%s: %s", name, tg_ctx_error(ctx));
        char *dot = read_text_file(path);
        cr_assert_not_null(dot);
        snprintf(label, sizeof label, "%s (%s", tg_module_spec(module)->name, name);
        cr_expect(strstr(dot, label), "%s: no cluster labelled \"%s\"", name, label);
        free(dot);
        tg_tape_reset(ctx);
        tg_tensor_free(x);
        tg_model_free(m);
    }
    cr_expect_eq(kinds, N_CASES, "built-in kinds found: %d; cases: %d", kinds, N_CASES);
}

Test(nn_layer_kinds, recurrent_weights_have_pytorch_names_and_gate_layout)
{
    tg_rng rng = tg_rng_seed(1);
    tg_module *lstm = tg_module_new(ctx, TG_F32, &(tg_layer_spec){.kind = TG_LAYER_LSTM, .in = 3, .out = 5}, &rng);
    cr_assert_not_null(lstm, "%s", tg_ctx_error(ctx));
    const char *want[] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"};
    for (int i = 0; i < 4; i++)
        cr_expect_str_eq(tg_module_torch_name(lstm, i), want[i]);
    /* PyTorch: weight_ih_l0 [4·hidden, in], gates stacked i, f, g, o */
    tg_tensor *w = tg_module_params(lstm).items[0];
    cr_expect_eq(tg_tensor_dim(w, 0), 20);
    cr_expect_eq(tg_tensor_dim(w, 1), 3);
    /* the forget block (rows 5..9) of b_ih starts at 1, the others at 0 */
    tg_tensor *b = tg_module_params(lstm).items[2];
    cr_expect_eq(tg_tensor_get(b, 4), 0);
    cr_expect_eq(tg_tensor_get(b, 5), 1);
    cr_expect_eq(tg_tensor_get(b, 10), 0);
    tg_module *bn = tg_module_new(ctx, TG_F32, &(tg_layer_spec){.kind = TG_LAYER_BATCH_NORM, .in = 3}, &rng);
    cr_expect_str_eq(tg_module_torch_name(bn, 3), "running_var");
    tg_module_free(bn);
    tg_module_free(lstm);
}

/* ---- a recurrent classifier in a sequential model (issue 20, item 1) ---- */

enum { SEQ_T = 10 };

/* n sequences of SEQ_T values ~ N(0, 1); class 1 when their sum is positive. */
static tg_dataset *sign_of_sum(tg_ctx *c, int n, uint64_t seed)
{
    double *x = malloc((size_t)n * SEQ_T * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    tg_rng rng = tg_rng_seed(seed);
    for (int i = 0; i < n; i++) {
        double sum = 0;
        for (int t = 0; t < SEQ_T; t++)
            sum += x[i * SEQ_T + t] = tg_rng_normal(&rng);
        y[i] = sum > 0;
    }
    tg_dataset *data = tg_dataset_from_values(c, n, SEQ_T, x, 1, y, 2);
    free(x);
    free(y);
    return data;
}

static tg_model *rnn_classifier(tg_ctx *c)
{
    tg_rng rng = tg_rng_seed(20);
    return tg_model_new(c, TG_F32, TG_SHAPE(SEQ_T, 1), TG_LAYERS(
        {.kind = TG_LAYER_RNN, .in = 1, .out = 16, .last_state = true},
        {.kind = TG_LAYER_DENSE, .in = 16, .out = 2}), &rng);
}

Test(nn_layer_kinds, an_rnn_model_reads_a_flat_batch_as_batch_first_sequences)
{
    tg_model *m = rnn_classifier(ctx);
    cr_assert_not_null(m, "%s", tg_ctx_error(ctx));
    tg_rng rng = tg_rng_seed(3);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(3, SEQ_T), 0, 1);
    tg_tensor *y = tg_model_forward(m, x);
    cr_assert_not_null(y, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_tensor_rank(y), 2);
    cr_expect_eq(tg_tensor_dim(y, 0), 3, "one row per sequence, not per time step");
    cr_expect_eq(tg_tensor_dim(y, 1), 2);
    /* row 1 is the model applied to sequence 1 alone */
    tg_tensor *one = tg_model_forward(m, tg_slice(x, 0, 1, 2, 1));
    for (int k = 0; k < 2; k++)
        cr_expect_float_eq(tg_tensor_get(y, 2 + k), tg_tensor_get(one, k), 1e-6);
    char printed[2048] = "";
    FILE *out = fmemopen(printed, sizeof printed - 1, "w");
    tg_model_print(m, out);
    fclose(out);
    cr_expect(strstr(printed, "input [10, 1]"), "%s", printed);
    const char *rnn_row = strstr(printed, "rnn1"), *dense_row = strstr(printed, "dense1");
    cr_assert(rnn_row && dense_row, "%s", printed);
    cr_expect(strstr(rnn_row, "1->16, last state") && strstr(rnn_row, "[16]") < dense_row, "%s", printed);
    cr_expect(strstr(dense_row, "[2]"), "%s", printed);
    tg_tape_reset(ctx);
    tg_model_free(m);
}

Test(nn_layer_kinds, the_issue_20_rnn_classifier_trains_through_tg_train_to_90_percent)
{
    tg_model *m = rnn_classifier(ctx);
    cr_assert_not_null(m, "%s", tg_ctx_error(ctx));
    tg_dataset *train = sign_of_sum(ctx, 2048, 1), *test = sign_of_sum(ctx, 512, 2);
    cr_assert(train && test, "%s", tg_ctx_error(ctx));
    tg_optimizer *opt = tg_optim_adam_new(tg_model_params(m), 0.01, 0.9, 0.999, 1e-8);
    tg_train_config cfg = tg_train_defaults();
    tg_train_use_model(&cfg, m);
    cfg.loss = tg_loss_softmax_ce;
    cfg.optimizer = opt;
    cfg.batch_size = 64;
    cfg.epochs = 8;
    cfg.progress = 0;
    cfg.test = test;
    tg_history h = {0};
    cr_assert_eq(tg_train(ctx, train, &cfg, &h), TG_OK, "%s", tg_ctx_error(ctx));
    tg_evaluation e = {0};
    cr_assert_eq(tg_evaluate(ctx, &cfg, test, &e), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect_geq(e.accuracy, 0.90, "test accuracy %.3f", e.accuracy);
    cr_expect_eq(e.count, 512);
    tg_evaluation_free(&e);
    tg_history_free(&h);
    tg_optim_free(opt);
    tg_dataset_free(test);
    tg_dataset_free(train);
    tg_model_free(m);
}

/* ---- a layer kind of one's own ---- */

/* "residual": y = x + f(x·Wᵀ + b), W [in, in], b [in]. */
static tg_status residual_make(tg_module *m, tg_rng *rng)
{
    const tg_layer_spec *s = tg_module_spec(m);
    tg_tensor *w = tg_module_add_tensor(m, "weight", true, TG_SHAPE(s->in, s->in));
    if (!w || !tg_module_add_tensor(m, "bias", true, TG_SHAPE(s->in)))
        return TG_ERR_NOMEM;
    return tg_init_fill_fans(w, s->init, (double)s->in, (double)s->in, 1, rng);
}

static tg_status residual_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                                int64_t out_shape[TG_MAX_RANK])
{
    (void)out_rank, (void)out_shape;
    if (rank != 2 || shape[1] != tg_module_spec(m)->in)
        return tg_module_shape_error(m, rank, shape, "[n, in]");
    return TG_OK;
}

static tg_tensor *residual_forward(tg_module *m, tg_tensor *x)
{
    tg_params p = tg_module_params(m);
    tg_tensor *z = tg_add(tg_matmul_t(x, p.items[0], false, true), p.items[1]);
    return tg_add(x, tg_activate(z, tg_module_spec(m)->act));
}

static tg_tensor *residual_forward_again(tg_module *m, tg_tensor *x) { return residual_forward(m, x); }

static void residual_describe(const tg_layer_spec *s, char *buf, size_t size)
{
    snprintf(buf, size, "%lld + %s", (long long)s->in, tg_activation_name(s->act));
}

static const tg_layer_kind_def residual_kind = {
    .name = "residual",
    .fields = TG_LAYER_USES_IN | TG_LAYER_USES_ACT | TG_LAYER_USES_INIT,
    .make = residual_make,
    .shape = residual_shape,
    .forward = residual_forward,
    .describe = residual_describe,
};

/* 256 points in 4 dimensions; class 1 when x0 + x1 > x2 + x3. */
static tg_dataset *four_d(tg_ctx *c, uint64_t seed)
{
    enum { N = 256 };
    double x[N * 4], y[N];
    tg_rng rng = tg_rng_seed(seed);
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 4; k++)
            x[i * 4 + k] = tg_rng_normal(&rng);
        y[i] = x[i * 4] + x[i * 4 + 1] > x[i * 4 + 2] + x[i * 4 + 3];
    }
    return tg_dataset_from_values(c, N, 4, x, 1, y, 2);
}

static tg_model *residual_model(tg_ctx *c, int kind)
{
    tg_rng rng = tg_rng_seed(4);
    return tg_model_new(c, TG_F64, TG_SHAPE(4), TG_LAYERS(
        {.kind = (tg_layer_kind)kind, .in = 4, .act = TG_ACT_TANH},
        {.kind = TG_LAYER_DENSE, .in = 4, .out = 2}), &rng);
}

/* Trains m on four_d with threads workers; the final epoch's test accuracy. */
static double train_four_d(tg_ctx *c, tg_model *m, int threads)
{
    tg_dataset *train = four_d(c, 1), *test = four_d(c, 2);
    tg_optimizer *opt = tg_optim_adam_new(tg_model_params(m), 0.05, 0.9, 0.999, 1e-8);
    tg_train_config cfg = tg_train_defaults();
    tg_train_use_model(&cfg, m);
    cfg.loss = tg_loss_softmax_ce;
    cfg.optimizer = opt;
    cfg.batch_size = 32;
    cfg.epochs = 10;
    cfg.dtype = TG_F64;
    cfg.progress = 0;
    cfg.test = test;
    cfg.threads = threads;
    tg_history h = {0};
    tg_status status = tg_train(c, train, &cfg, &h);
    cr_expect_eq(status, TG_OK, "%s", tg_ctx_error(c));
    double accuracy = status == TG_OK ? h.test_acc[h.count - 1] : 0;
    tg_history_free(&h);
    tg_optim_free(opt);
    tg_dataset_free(test);
    tg_dataset_free(train);
    return accuracy;
}

Test(nn_layer_kinds, a_registered_kind_trains_on_one_and_two_threads_and_reloads_from_its_checkpoint)
{
    int kind = tg_layer_kind_register(ctx, &residual_kind);
    cr_assert_geq(kind, TG_LAYER_USER, "%s", tg_ctx_error(ctx));
    cr_expect_eq(tg_layer_kind_register(ctx, &residual_kind), kind, "registering again gives the same kind");
    cr_expect_eq(tg_layer_kind_find("residual"), kind);
    cr_expect_str_eq(tg_layer_kind_name((tg_layer_kind)kind), "residual");
    tg_layer_kind_def other = residual_kind;
    other.describe = NULL;
    cr_expect_eq(tg_layer_kind_register(ctx, &other), -1);
    cr_expect(strstr(tg_ctx_error(ctx), "residual") && strstr(tg_ctx_error(ctx), "describe"), "%s",
              tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    other = residual_kind;
    other.forward = residual_forward_again; /* another callback, same name */
    cr_expect_eq(tg_layer_kind_register(ctx, &other), -1);
    cr_expect(strstr(tg_ctx_error(ctx), "already registered"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    other = residual_kind;
    other.name = "dense";
    cr_expect_eq(tg_layer_kind_register(ctx, &other), -1);
    tg_ctx_clear_error(ctx);

    /* its gradient is the tape's: finite differences agree */
    tg_model *m = residual_model(ctx, kind);
    cr_assert_not_null(m, "%s", tg_ctx_error(ctx));
    cr_expect_str_eq(tg_module_spec(tg_model_module(m, 0))->name, "residual1");
    cr_expect_str_eq(tg_tensor_name(tg_model_params(m).items[0]), "residual1.weight");
    cr_expect_str_eq(tg_module_torch_name(tg_model_module(m, 0), 1), "bias");
    cr_expect_null(tg_model_forward(m, tg_tensor_new(ctx, TG_F64, TG_SHAPE(2, 3))));
    cr_expect(strstr(tg_ctx_error(ctx), "residual layer residual1") && strstr(tg_ctx_error(ctx), "[2, 3]"), "%s",
              tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);

    /* trains on one thread, and data-parallel on two (the workers' clones rebuild it from its spec) */
    cr_expect_geq(train_four_d(ctx, m, 1), 0.9);
    tg_ctx *two = tg_ctx_new(2);
    tg_ctx_set_error_handler(two, NULL, NULL);
    tg_model *m2 = residual_model(two, kind);
    cr_assert_not_null(m2, "%s", tg_ctx_error(two));
    cr_expect_geq(train_four_d(two, m2, 2), 0.9);

    /* a checkpoint names the kind and reloads the same model */
    char path[128];
    snprintf(path, sizeof path, "%s/residual.tgckpt", dir);
    cr_assert_eq(tg_model_save(m2, path, NULL, 10), TG_OK, "%s", tg_ctx_error(two));
    tg_model *back = tg_model_load(ctx, path, NULL);
    cr_assert_not_null(back, "%s", tg_ctx_error(ctx));
    char *text = tg_model_spec_text(back);
    cr_expect(strstr(text, "layer residual name=residual1 in=4 "), "%s", text);
    free(text);
    tg_model_set_training(m2, false);
    tg_model_set_training(back, false);
    tg_rng rng = tg_rng_seed(9);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(5, 4), 0, 1);
    tg_tensor *x2 = tg_tensor_new(two, TG_F64, TG_SHAPE(5, 4));
    tg_tensor_copy(x2, x);
    tg_tensor *a = tg_model_forward(m2, x2), *b = tg_model_forward(back, x);
    cr_assert(a && b);
    for (int i = 0; i < 10; i++)
        cr_expect_eq(tg_tensor_get(a, i), tg_tensor_get(b, i), "output %d", i);
    tg_model_free(back);
    tg_model_free(m2);
    tg_ctx_free(two);
    tg_model_free(m);
}

Test(nn_layer_kinds, a_file_naming_a_kind_this_process_never_registered_is_refused_naming_it)
{
    char path[128];
    snprintf(path, sizeof path, "%s/residual.tgckpt", dir);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) { /* another program: it registers the kind and saves a model of it */
        tg_ctx *c = tg_ctx_new(1);
        int kind = tg_layer_kind_register(c, &residual_kind);
        tg_model *m = kind >= 0 ? residual_model(c, kind) : NULL;
        int ok = m && tg_model_save(m, path, NULL, 1) == TG_OK;
        tg_ctx_free(c);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child could not save");
    cr_expect_eq(tg_layer_kind_find("residual"), -1, "this process never registered it");
    cr_expect_null(tg_model_load(ctx, path, NULL));
    cr_expect(strstr(tg_ctx_error(ctx), "unknown layer kind \"residual\"") &&
                  strstr(tg_ctx_error(ctx), "tg_layer_kind_register"), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    /* registered now, the same file loads */
    cr_assert_geq(tg_layer_kind_register(ctx, &residual_kind), TG_LAYER_USER);
    tg_model *m = tg_model_load(ctx, path, NULL);
    cr_expect_not_null(m, "%s", tg_ctx_error(ctx));
    tg_model_free(m);
}

/* ---- a user op as an activation layer ---- */

/* softsign: y = x/(1 + |x|); dy/dx = 1/(1 + |x|)² */
static tg_status softsign_forward(const tg_op_call *c)
{
    for (int64_t i = 0, n = tg_tensor_size(c->output); i < n; i++) {
        double x = tg_tensor_get(c->inputs[0], i);
        tg_tensor_set(c->output, i, x / (1 + fabs(x)));
    }
    return TG_OK;
}

static tg_status softsign_backward(const tg_op_call *c, tg_tensor *dy, tg_tensor **dx)
{
    tg_tensor *d = tg_add_scalar(tg_abs(c->inputs[0]), 1);
    dx[0] = tg_div(dy, tg_mul(d, d));
    return TG_OK;
}

static const tg_op_def softsign = {.name = "softsign", .n_inputs = 1, .forward = softsign_forward,
                                   .backward = softsign_backward};

static tg_model *softsign_model(tg_ctx *c)
{
    tg_rng rng = tg_rng_seed(6);
    return tg_model_new(c, TG_F64, TG_SHAPE(4), TG_LAYERS(
        {.kind = TG_LAYER_DENSE, .in = 4, .out = 8},
        {.kind = TG_LAYER_ACTIVATION, .op = "softsign"},
        {.kind = TG_LAYER_DENSE, .in = 8, .out = 2}), &rng);
}

Test(nn_layer_kinds, a_user_op_is_an_activation_layer_in_training_data_parallel_and_checkpoints)
{
    cr_expect_null(softsign_model(ctx), "the op is not registered yet");
    cr_expect(strstr(tg_ctx_error(ctx), "softsign") && strstr(tg_ctx_error(ctx), "not registered"), "%s",
              tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    tg_ctx *two = tg_ctx_new(2);
    tg_ctx_set_error_handler(two, NULL, NULL);
    cr_assert_not_null(tg_op_register(two, &softsign));
    tg_model *m = softsign_model(two);
    cr_assert_not_null(m, "%s", tg_ctx_error(two));
    cr_expect_str_eq(tg_module_spec(tg_model_module(m, 1))->name, "softsign1");
    cr_expect_geq(train_four_d(two, m, 2), 0.9, "the workers' contexts got the op with their clones");

    char path[128];
    snprintf(path, sizeof path, "%s/softsign.tgckpt", dir);
    cr_assert_eq(tg_model_save(m, path, NULL, 10), TG_OK, "%s", tg_ctx_error(two));
    cr_expect_null(tg_model_load(ctx, path, NULL), "ctx has no softsign op");
    cr_expect(strstr(tg_ctx_error(ctx), "op \"softsign\""), "%s", tg_ctx_error(ctx));
    tg_ctx_clear_error(ctx);
    cr_assert_not_null(tg_op_register(ctx, &softsign));
    tg_model *back = tg_model_load(ctx, path, NULL);
    cr_assert_not_null(back, "%s", tg_ctx_error(ctx));
    tg_rng rng = tg_rng_seed(2);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(3, 4), 0, 1);
    tg_tensor *x2 = tg_tensor_new(two, TG_F64, TG_SHAPE(3, 4));
    tg_tensor_copy(x2, x);
    tg_tensor *a = tg_model_forward(m, x2), *b = tg_model_forward(back, x);
    cr_assert(a && b);
    for (int i = 0; i < 6; i++)
        cr_expect_eq(tg_tensor_get(a, i), tg_tensor_get(b, i), "output %d", i);
    tg_model *same_op_other = tg_model_new(ctx, TG_F64, TG_SHAPE(4), TG_LAYERS(
        {.kind = TG_LAYER_DENSE, .in = 4, .out = 8},
        {.kind = TG_LAYER_ACTIVATION, .act = TG_ACT_TANH},
        {.kind = TG_LAYER_DENSE, .in = 8, .out = 2}), &rng);
    char diff[256];
    cr_expect(tg_model_spec_diff(back, same_op_other, diff, sizeof diff));
    cr_expect(strstr(diff, "layer 2") && strstr(diff, "softsign"), "%s", diff);
    tg_model_free(same_op_other);
    tg_model_free(back);
    tg_model_free(m);
    tg_ctx_free(two);
}

/* ---- who frees modules (issue 20, item 5) ---- */

/* Runs under ASan's leak checker (tools/test.sh) and valgrind: nothing here
 * is freed but the context. */
Test(nn_layer_kinds, the_context_frees_the_modules_models_and_mlps_nobody_freed)
{
    tg_ctx *c = tg_ctx_new(1);
    tg_ctx_set_error_handler(c, NULL, NULL);
    tg_rng rng = tg_rng_seed(1);
    for (int i = 0; i < 10; i++)
        cr_assert_not_null(tg_module_new(c, TG_F32, &(tg_layer_spec){.kind = TG_LAYER_LSTM, .in = 4, .out = 8},
                                         &rng));
    tg_module *freed = tg_module_new(c, TG_F32, &(tg_layer_spec){.kind = TG_LAYER_DENSE, .in = 2, .out = 2}, &rng);
    tg_module_free(freed); /* freed by its owner: taken off the context's list */
    tg_model *m = rnn_classifier(c);
    cr_assert_not_null(m);
    cr_assert_not_null(tg_model_clone(m, c));
    tg_model_free(tg_model_clone(m, c));
    cr_assert_not_null(tg_mlp_new(c, TG_F32, 2, (const int64_t[]){3, 4, 2},
                                  (const tg_activation[]){TG_ACT_RELU, TG_ACT_NONE}, TG_INIT_HE, &rng));
    cr_assert_not_null(tg_layer_new(c, TG_F32, 3, 2, TG_ACT_NONE, TG_INIT_ZEROS, NULL));
    cr_expect_not_null(tg_model_forward(m, tg_tensor_new(c, TG_F32, TG_SHAPE(2, SEQ_T))));
    tg_ctx_free(c); /* the modules, models, clone, MLP and layer go with it */
}
