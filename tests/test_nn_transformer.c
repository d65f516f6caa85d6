/* Transformer layers (tapegrad/model.h): self-attention, the pre-LN block,
 * learned positions and weight tying. Each layer's gradient, and a whole tied
 * GPT's, matches central finite differences in float64 (every parameter,
 * none vacuous); causal attention at position t does not read later
 * positions; a tied weight's gradient is the sum of both uses; a GPT saves
 * and reloads through tg_model_load with its tie; tg_train's data-parallel
 * step (clones rebuild the tie) gives one thread's result; safetensors carry
 * it under PyTorch's names; and each bad input of
 * issue 19 (heads that do not divide d_model, a mask of the wrong shape, a
 * sequence longer than the position table, a tie between different shapes)
 * is an error naming the tensors, the shapes and what was expected. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tapegrad.h"
#include "tests/support.h"

static tg_ctx *ctx;
static char dir[64];

static void setup(void) { cr_assert_not_null(ctx = scratch_fixture_setup(dir, sizeof dir, "tg_gpt_")); }
static void teardown(void) { cr_expect_eq(scratch_fixture_teardown(ctx, dir), 0); }

TestSuite(nn_transformer, .init = setup, .fini = teardown);

enum { VOCAB = 7, T = 4, D = 4, HEADS = 2 };

/* A 1-block GPT with the LM head tied to the token embedding. */
static tg_model *gpt(bool tied, uint64_t seed)
{
    tg_rng rng = tg_rng_seed(seed);
    tg_model *m = tg_model_new(ctx, TG_F64, TG_SHAPE(T), TG_LAYERS(
        {.kind = TG_LAYER_EMBEDDING, .name = "wte", .in = VOCAB, .out = D},
        {.kind = TG_LAYER_POSITION_EMBEDDING, .name = "wpe", .in = T, .out = D},
        {.kind = TG_LAYER_TRANSFORMER_BLOCK, .in = D, .out = 4 * D, .heads = HEADS, .causal = true},
        {.kind = TG_LAYER_LAYER_NORM, .name = "ln_f", .in = D},
        {.kind = TG_LAYER_DENSE, .name = "lm_head", .in = D, .out = VOCAB, .tie = tied ? "wte" : NULL}), &rng);
    cr_assert_not_null(m, "%s", tg_ctx_error(ctx));
    return m;
}

static tg_tensor *tokens(const double *v, int64_t b)
{
    return tg_tensor_from(ctx, TG_I64, TG_SHAPE(b, T), v);
}

static const double inputs_2x4[8] = {1, 5, 2, 6, 0, 3, 3, 4}, targets_2x4[8] = {5, 2, 6, 0, 3, 3, 4, 1};

typedef struct {
    tg_model *model;
    tg_tensor *x, *y;
} lm_case;

static tg_tensor *lm_loss(tg_tensor *const *inputs, void *user)
{
    (void)inputs; /* the model's own parameters */
    lm_case *c = user;
    return tg_cross_entropy(tg_model_forward(c->model, c->x), c->y);
}

static tg_tensor *module_fn(tg_tensor *const *inputs, void *user) { return tg_module_forward(user, inputs[0]); }

static void check_gradients(tg_fn f, void *user, int n, tg_tensor **inputs, const char *what)
{
    tg_gradcheck_options opts = {.step = 1e-6, .abs_tol = 1e-7, .rel_tol = 1e-5, .seed = 3};
    tg_gradcheck_report report;
    cr_assert_eq(tg_gradcheck(ctx, f, user, n, inputs, &opts, &report), TG_OK, "%s: %s", what, tg_ctx_error(ctx));
    for (int i = 0; i < report.n_inputs; i++) {
        cr_expect(report.inputs[i].passed, "%s input %d (%s): abs error %g", what, i, tg_tensor_name(inputs[i]),
                  report.inputs[i].max_abs_error);
        cr_expect_gt(report.inputs[i].max_abs_grad, 0, "%s input %d (%s): the gradient is zero", what, i,
                     tg_tensor_name(inputs[i]));
    }
    tg_gradcheck_report_free(&report);
    tg_tape_reset(ctx);
}

static void check_module(const tg_layer_spec *spec, tg_tensor *x, const char *what)
{
    tg_rng rng = tg_rng_seed(5);
    tg_module *m = tg_module_new(ctx, TG_F64, spec, &rng);
    cr_assert_not_null(m, "%s: %s", what, tg_ctx_error(ctx));
    tg_params p = tg_module_params(m);
    tg_tensor *inputs[20] = {x};
    for (int i = 0; i < p.count; i++)
        inputs[i + 1] = p.items[i];
    tg_tensor_set_requires_grad(x, true);
    check_gradients(module_fn, m, p.count + 1, inputs, what);
    tg_module_free(m);
}

Test(nn_transformer, attention_block_and_position_gradients_match_finite_differences)
{
    tg_rng rng = tg_rng_seed(9);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(2, 3, 4), 0, 1);
    check_module(&(tg_layer_spec){.kind = TG_LAYER_SELF_ATTENTION, .in = 4, .heads = 2}, x, "attention");
    check_module(&(tg_layer_spec){.kind = TG_LAYER_SELF_ATTENTION, .in = 4, .heads = 2, .causal = true}, x,
                 "causal attention");
    check_module(&(tg_layer_spec){.kind = TG_LAYER_TRANSFORMER_BLOCK, .in = 4, .out = 6, .heads = 2, .causal = true},
                 x, "transformer block");
    check_module(&(tg_layer_spec){.kind = TG_LAYER_POSITION_EMBEDDING, .in = 5, .out = 4}, x, "position embedding");
}

Test(nn_transformer, a_tied_gpt_gradients_match_finite_differences)
{
    lm_case c = {gpt(true, 1), tokens(inputs_2x4, 2), tokens(targets_2x4, 2)};
    tg_params p = tg_model_params(c.model);
    cr_assert_eq(p.count, 2 + 12 + 2 + 1, "wte, wpe, 12 block tensors, ln_f, lm_head.bias: the tied weight once");
    check_gradients(lm_loss, &c, p.count, p.items, "1-block GPT");
}

Test(nn_transformer, causal_attention_at_a_position_does_not_read_later_positions)
{
    tg_rng rng = tg_rng_seed(2);
    tg_module *attn = tg_module_new(ctx, TG_F64, &(tg_layer_spec){.kind = TG_LAYER_TRANSFORMER_BLOCK, .in = 4,
                                    .out = 8, .heads = 2, .causal = true}, &rng);
    tg_tensor *x = tg_tensor_randn(ctx, &rng, TG_F64, TG_SHAPE(1, 4, 4), 0, 1);
    tg_tensor *y = tg_tensor_clone(tg_module_forward(attn, x));
    for (int j = 0; j < 4; j++)
        tg_tensor_set(x, 3 * 4 + j, 100.0 + j); /* change only the last position */
    tg_tensor *y2 = tg_module_forward(attn, x);
    cr_assert_not_null(y2, "%s", tg_ctx_error(ctx));
    for (int i = 0; i < 3 * 4; i++)
        cr_expect_eq(tg_tensor_get(y, i), tg_tensor_get(y2, i), "position %d changed", i / 4);
    bool last_changed = false;
    for (int i = 12; i < 16; i++)
        last_changed |= tg_tensor_get(y, i) != tg_tensor_get(y2, i);
    cr_expect(last_changed, "the last position's output ignores its input");
    tg_tensor_free(y);
    tg_module_free(attn);
}

Test(nn_transformer, a_tied_weight_gets_the_sum_of_both_uses_gradients)
{
    tg_model *tied = gpt(true, 4), *untied = gpt(false, 4);
    tg_params pt = tg_model_params(tied), pu = tg_model_params(untied);
    cr_assert_eq(pu.count, pt.count + 1);
    /* untied: the same values, the head's weight a copy of wte's */
    tg_module *head = tg_model_find(untied, "lm_head");
    for (int i = 0, k = 0; i < pu.count; i++)
        if (pu.items[i] != tg_module_params(head).items[0])
            tg_tensor_copy(pu.items[i], pt.items[k++]);
    tg_tensor_copy(tg_module_params(head).items[0], pt.items[0]);
    tg_tensor *x = tokens(inputs_2x4, 2), *y = tokens(targets_2x4, 2);
    cr_assert_eq(tg_backward(tg_cross_entropy(tg_model_forward(tied, x), y)), TG_OK, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_backward(tg_cross_entropy(tg_model_forward(untied, x), y)), TG_OK, "%s", tg_ctx_error(ctx));
    tg_tensor *g = tg_tensor_grad(pt.items[0]), *g_wte = tg_tensor_grad(pu.items[0]);
    tg_tensor *g_head = tg_tensor_grad(tg_module_params(head).items[0]);
    double largest = 0;
    for (int64_t i = 0; i < VOCAB * D; i++) {
        double sum = tg_tensor_get(g_wte, i) + tg_tensor_get(g_head, i);
        cr_expect(fabs(tg_tensor_get(g, i) - sum) <= 1e-12 * (1 + fabs(sum)), "element %lld: %g vs %g",
                  (long long)i, tg_tensor_get(g, i), sum);
        largest = fmax(largest, fabs(tg_tensor_get(g_head, i)));
    }
    cr_expect_gt(largest, 0, "the head's gradient is zero");
}

Test(nn_transformer, a_gpt_saves_and_reloads_through_tg_model_load_with_its_tie)
{
    tg_model *m = gpt(true, 6);
    char path[128];
    snprintf(path, sizeof path, "%s/gpt.tgc", dir);
    cr_assert_eq(tg_model_save(m, path, NULL, 3), TG_OK, "%s", tg_ctx_error(ctx));
    int64_t epoch = 0;
    tg_model *back = tg_model_load(ctx, path, &epoch);
    cr_assert_not_null(back, "%s", tg_ctx_error(ctx));
    cr_expect_eq(epoch, 3);
    char diff[256];
    cr_expect_not(tg_model_spec_diff(m, back, diff, sizeof diff), "%s", diff);
    cr_expect_eq(tg_model_param_count(back), tg_model_param_count(m));
    cr_expect_eq(tg_module_params(tg_model_find(back, "lm_head")).items[0],
                 tg_module_params(tg_model_find(back, "wte")).items[0], "the reloaded head shares wte's weight");
    tg_model_set_training(m, false);
    tg_model_set_training(back, false);
    tg_tensor *x = tokens(inputs_2x4, 2);
    tg_tensor *a = tg_model_forward(m, x), *b = tg_model_forward(back, x);
    cr_assert_not_null(b, "%s", tg_ctx_error(ctx));
    for (int64_t i = 0; i < tg_tensor_size(a); i++)
        cr_expect_eq(tg_tensor_get(a, i), tg_tensor_get(b, i));
    char *text = tg_model_spec_text(m);
    cr_expect(strstr(text, "heads=2 causal=1") && strstr(text, "tie=wte"), "%s", text);
    free(text);
    FILE *out = open_memstream(&text, &(size_t){0});
    tg_model_print(m, out);
    fclose(out);
    cr_expect(strstr(text, "weight of wte"), "%s", text);
    free(text);
}

/* ---- bad input (issue 19) ---- */

Test(nn_transformer, heads_that_do_not_divide_d_model_are_refused_naming_both)
{
    tg_rng rng = tg_rng_seed(1);
    cr_expect_null(tg_module_new(ctx, TG_F32, &(tg_layer_spec){.kind = TG_LAYER_SELF_ATTENTION, .name = "attn",
                                 .in = 64, .heads = 3}, &rng));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("self_attention layer attn", "heads = 3", "in (d_model) = 64"));
    cr_expect_null(tg_module_new(ctx, TG_F32, &(tg_layer_spec){.kind = TG_LAYER_TRANSFORMER_BLOCK, .in = 10,
                                 .out = 40, .heads = 4}, &rng));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("transformer_block", "heads = 4", "= 10"));
    cr_expect_null(tg_module_new(ctx, TG_F32, &(tg_layer_spec){.kind = TG_LAYER_SELF_ATTENTION, .in = 8}, &rng));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("heads = 0", "expected >= 1"));
}

Test(nn_transformer, a_sequence_longer_than_the_position_table_is_refused)
{
    tg_model *m = gpt(true, 1);
    tg_tensor *x = tg_tensor_zeros(ctx, TG_I64, TG_SHAPE(2, T + 2));
    cr_expect_null(tg_model_forward(m, x));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("position_embedding layer wpe", "[2, 6, 4]", "at most 4 positions",
                                             "wpe.weight is [4, 4]"));
    tg_rng rng = tg_rng_seed(1);
    cr_expect_null(tg_model_new(ctx, TG_F64, TG_SHAPE(9), TG_LAYERS(
        {.kind = TG_LAYER_EMBEDDING, .in = VOCAB, .out = D},
        {.kind = TG_LAYER_POSITION_EMBEDDING, .name = "wpe", .in = 8, .out = D}), &rng));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("wpe", "T = 9"));
}

Test(nn_transformer, a_tie_between_different_shapes_or_to_no_layer_is_refused)
{
    tg_rng rng = tg_rng_seed(1);
    cr_expect_null(tg_model_new(ctx, TG_F32, TG_SHAPE(T), TG_LAYERS(
        {.kind = TG_LAYER_EMBEDDING, .name = "wte", .in = VOCAB, .out = D},
        {.kind = TG_LAYER_DENSE, .name = "head", .in = D, .out = VOCAB + 1, .tie = "wte"}), &rng));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("dense layer head", "head.weight has shape [8, 4]",
                                             "wte.weight has shape [7, 4]", "expected equal shapes"));
    cr_expect_null(tg_model_new(ctx, TG_F32, TG_SHAPE(T), TG_LAYERS(
        {.kind = TG_LAYER_EMBEDDING, .name = "wte", .in = VOCAB, .out = D},
        {.kind = TG_LAYER_DENSE, .name = "head", .in = D, .out = VOCAB, .tie = "nowhere"}), &rng));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("dense layer head", "tie \"nowhere\"", "earlier layer"));
    cr_expect_null(tg_module_new(ctx, TG_F32, &(tg_layer_spec){.kind = TG_LAYER_DENSE, .in = D, .out = VOCAB,
                                 .tie = "wte"}, &rng));
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("tie \"wte\"", "in a model"));
}

Test(nn_transformer, a_mask_or_an_input_of_the_wrong_shape_is_refused_naming_the_shapes)
{
    tg_rng rng = tg_rng_seed(1);
    tg_tensor *q = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(2, 2, 3, 4), 0, 1);
    tg_tensor *mask = tg_tensor_zeros(ctx, TG_I64, TG_SHAPE(3, 5));
    tg_tensor_set_name(mask, "pad_mask");
    cr_expect_null(tg_scaled_dot_product_attention(q, q, q, mask, false, 0, NULL));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("pad_mask", "[3, 5]", "[2, 2, 3, 3]"));
    tg_module *attn = tg_module_new(ctx, TG_F32, &(tg_layer_spec){.kind = TG_LAYER_SELF_ATTENTION, .name = "attn",
                                    .in = 8, .heads = 2}, &rng);
    cr_expect_null(tg_module_forward(attn, tg_tensor_zeros(ctx, TG_F32, TG_SHAPE(3, 6))));
    expect_error(ctx, TG_ERR_SHAPE, FRAGMENTS("self_attention layer attn", "[3, 6]", "[B, T, 8]"));
}

/* ---- training ---- */

/* One epoch of full-batch SGD through tg_train, on `threads` data-parallel
 * workers: returns the model (its parameters after the step). */
static tg_model *train_one_step(tg_ctx *c, int threads)
{
    tg_rng rng = tg_rng_seed(8);
    tg_model *m = tg_model_new(c, TG_F64, TG_SHAPE(T), TG_LAYERS(
        {.kind = TG_LAYER_EMBEDDING, .name = "wte", .in = VOCAB, .out = D},
        {.kind = TG_LAYER_POSITION_EMBEDDING, .name = "wpe", .in = T, .out = D},
        {.kind = TG_LAYER_TRANSFORMER_BLOCK, .in = D, .out = 4 * D, .heads = HEADS, .causal = true},
        {.kind = TG_LAYER_LAYER_NORM, .name = "ln_f", .in = D},
        {.kind = TG_LAYER_DENSE, .name = "lm_head", .in = D, .out = VOCAB, .tie = "wte"}), &rng);
    cr_assert_not_null(m, "%s", tg_ctx_error(c));
    double x[6 * T], y[6 * T];
    for (int i = 0; i < 6 * T; i++)
        x[i] = (i * 5 + 1) % VOCAB, y[i] = (i * 3 + 2) % VOCAB;
    tg_dataset *data = tg_dataset_from_values(c, 6, T, x, T, y, 0); /* targets [n, T]: indices */
    tg_optimizer *opt = tg_optim_sgd_new(tg_model_params(m), 0.5);
    tg_train_config cfg = tg_train_defaults();
    cfg.forward = tg_model_forward_fn, cfg.model = m, cfg.loss = tg_cross_entropy, cfg.optimizer = opt;
    cfg.epochs = 1, cfg.batch_size = 6, cfg.dtype = TG_F64, cfg.threads = threads;
    cfg.clone = tg_model_clone_fn, cfg.free_model = tg_model_free_fn, cfg.params_of = tg_model_params_fn;
    cfg.set_training = tg_model_set_training_fn, cfg.progress = 0;
    tg_history h = {0};
    cr_assert_eq(tg_train(c, data, &cfg, &h), TG_OK, "%s", tg_ctx_error(c));
    tg_history_free(&h);
    tg_optim_free(opt);
    tg_dataset_free(data);
    return m;
}

Test(nn_transformer, a_tied_gpt_trains_through_tg_train_alike_on_one_and_two_threads)
{
    tg_ctx *one = quiet_ctx(), *two = tg_ctx_new(2); /* two threads: two workers */
    tg_model *a = train_one_step(one, 1), *b = train_one_step(two, 2);
    tg_params pa = tg_model_params(a), pb = tg_model_params(b);
    cr_assert_eq(pa.count, pb.count);
    tg_model *untrained = gpt(true, 8); /* the same specs and seed: the values before the step */
    double moved = 0;
    for (int i = 0; i < pa.count; i++)
        for (int64_t k = 0; k < tg_tensor_size(pa.items[i]); k++) {
            double u = tg_tensor_get(pa.items[i], k), v = tg_tensor_get(pb.items[i], k);
            cr_expect(fabs(u - v) <= 1e-12 * (1 + fabs(u)), "%s[%lld]: %.17g on 1 thread, %.17g on 2",
                      tg_tensor_name(pa.items[i]), (long long)k, u, v);
            moved = fmax(moved, fabs(u - tg_tensor_get(tg_model_params(untrained).items[i], k)));
        }
    cr_expect_gt(moved, 1e-3, "the step moved no parameter");
    tg_ctx_free(one);
    tg_ctx_free(two);
}

Test(nn_transformer, a_tied_gpt_goes_through_safetensors_under_pytorch_names)
{
    tg_model *a = gpt(true, 3), *b = gpt(true, 4);
    char path[128];
    snprintf(path, sizeof path, "%s/gpt.safetensors", dir);
    cr_assert_eq(tg_model_save_safetensors(a, path), TG_OK, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_model_load_safetensors(b, path, NULL, NULL), TG_OK, "%s", tg_ctx_error(ctx));
    tg_safetensors *st = tg_safetensors_open(ctx, path);
    cr_assert_not_null(st, "%s", tg_ctx_error(ctx));
    const char *names[] = {"wte.weight", "2.attn.c_attn.weight", "2.mlp.c_proj.bias", "lm_head.weight"};
    for (int i = 0; i < 4; i++) /* the unnamed block is module 2 of the Sequential; the tie is saved twice, as in
                                   PyTorch's state_dict */
        cr_expect_geq(tg_safetensors_find(st, names[i]), 0, "%s not in the file", names[i]);
    tg_safetensors_close(st);
    tg_tensor *x = tokens(inputs_2x4, 2);
    tg_tensor *ya = tg_model_forward(a, x), *yb = tg_model_forward(b, x);
    cr_assert_not_null(yb, "%s", tg_ctx_error(ctx));
    for (int64_t i = 0; i < tg_tensor_size(ya); i++)
        cr_expect_eq(tg_tensor_get(ya, i), tg_tensor_get(yb, i));
}
