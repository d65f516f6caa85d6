/* tg_model_export_c: the exported file compiles warning-free as C99 with
 * the system's cc and gives the library's eval-mode outputs, for every
 * built-in layer kind; layers it cannot hold are refused and listed. Skipped
 * where no cc is installed. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, popen */
#include <math.h>

#include "tests/support.h"

/* A driver for the exported model NAME: reads samples as hex floats on
 * stdin, prints each output as hex floats, one line a sample ("error" when
 * the forward refuses the sample). */
static const char driver[] =
    "#include <stdio.h>\n"
    "#include \"%s.h\"\n"
    "int main(void)\n"
    "{\n"
    "    static float in[%s_INPUT_SIZE], out[%s_OUTPUT_SIZE];\n"
    "    for (;;) {\n"
    "        for (int i = 0; i < %s_INPUT_SIZE; i++)\n"
    "            if (scanf(\"%%a\", &in[i]) != 1)\n"
    "                return 0;\n"
    "        if (%s_forward(in, out) != 0) {\n"
    "            puts(\"error\");\n"
    "            continue;\n"
    "        }\n"
    "        for (int o = 0; o < %s_OUTPUT_SIZE; o++)\n"
    "            printf(\"%%a \", (double)out[o]);\n"
    "        puts(\"\");\n"
    "    }\n"
    "}\n";

static bool have_cc(void) { return system("command -v cc > /dev/null 2>&1") == 0; }

typedef struct {
    double max_error;  /* the largest |exported - library| */
    double largest;    /* the largest |library| */
    int refused;       /* samples the exported forward returned -1 for */
} comparison;

/* Exports model (in eval mode) as name into a scratch directory, compiles
 * it with the house's C99 flags and runs it on n samples x [n, input...];
 * compares with tg_model_forward. */
static comparison export_and_run(tg_model *model, const char *name, tg_tensor *x, bool int8)
{
    comparison result = {0, 0, 0};
    tg_ctx *ctx = tg_model_ctx(model);
    char dir[64], path[160], cmd[768];
    cr_assert(make_scratch_dir(dir, sizeof dir, "tg_export_"));
    tg_model_set_training(model, false);
    tg_status status = int8 ? tg_model_export_c_int8(model, name, dir) : tg_model_export_c(model, name, dir);
    cr_assert_eq(status, TG_OK, "%s", tg_ctx_error(ctx));

    char upper[64];
    for (size_t i = 0; i <= strlen(name); i++)
        upper[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    snprintf(path, sizeof path, "%s/main.c", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, driver, name, upper, upper, upper, name, upper);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cc -std=c99 -Wall -Wextra -Wpedantic -Werror -O2 -o %s/run %s/main.c %s/%s.c -lm "
             "> %s/cc.txt 2>&1", dir, dir, dir, name, dir);
    int rc = system(cmd);
    snprintf(path, sizeof path, "%s/cc.txt", dir);
    char *said = read_text_file(path);
    cr_assert_eq(rc, 0, "cc failed on %s.c:\n%s", name, said ? said : "");
    cr_expect(said && said[0] == 0, "cc warned:\n%s", said ? said : "");
    free(said);

    /* no warning at -O3 either (its loop analysis warns where -O2 does not), nor from clang */
    snprintf(cmd, sizeof cmd, "cc -std=c99 -Wall -Wextra -Wpedantic -Werror -O3 -c -o %s/o3.o %s/%s.c > %s/cc.txt "
             "2>&1 && { ! command -v clang > /dev/null || clang -std=c99 -Wall -Wextra -Wpedantic -Werror -O2 -c "
             "-o %s/clang.o %s/%s.c >> %s/cc.txt 2>&1; }", dir, dir, name, dir, dir, dir, name, dir);
    rc = system(cmd);
    said = read_text_file(path);
    cr_expect_eq(rc, 0, "cc -O3 or clang failed on %s.c:\n%s", name, said ? said : "");
    free(said);

    int64_t n = tg_tensor_dim(x, 0), per = tg_tensor_size(x) / n;
    snprintf(path, sizeof path, "%s/in.txt", dir);
    f = fopen(path, "w");
    cr_assert(f);
    for (int64_t i = 0; i < tg_tensor_size(x); i++)
        fprintf(f, "%a%c", (double)(float)tg_tensor_get(x, i), (i + 1) % per ? ' ' : '\n');
    fclose(f);
    tg_tensor *y = tg_model_forward(model, x);
    cr_assert(y, "%s", tg_ctx_error(ctx));
    int64_t outputs = tg_tensor_size(y) / n;
    snprintf(cmd, sizeof cmd, "%s/run < %s/in.txt", dir, dir);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    for (int64_t s = 0; s < n; s++) {
        char word[64];
        for (int64_t o = 0; o < outputs; o++) {
            cr_assert_eq(fscanf(p, "%63s", word), 1, "sample %lld: the exported program stopped", (long long)s);
            if (strcmp(word, "error") == 0) {
                result.refused++;
                break;
            }
            double got = strtod(word, NULL), want = tg_tensor_get(y, s * outputs + o);
            result.max_error = fmax(result.max_error, fabs(got - want));
            result.largest = fmax(result.largest, fabs(want));
        }
    }
    pclose(p);
    cr_expect_eq(remove_scratch_dir(dir), 0);
    return result;
}

static tg_tensor *normal_batch(tg_ctx *ctx, tg_model *model, int64_t n, uint64_t seed)
{
    int64_t shape[TG_MAX_RANK] = {n}, sample[TG_MAX_RANK];
    int rank = tg_model_input_shape(model, sample);
    memcpy(shape + 1, sample, (size_t)rank * sizeof *sample);
    tg_rng rng = tg_rng_seed(seed);
    return tg_tensor_randn(ctx, &rng, tg_model_dtype(model), rank + 1, shape, 0, 1);
}

/* Running statistics away from 0 and 1, as after training, so that folding them is tested. */
static void randomize_running_stats(tg_model *model, uint64_t seed)
{
    tg_rng rng = tg_rng_seed(seed);
    tg_params b = tg_model_buffers(model);
    for (int i = 0; i < b.count; i++)
        for (int64_t k = 0; k < tg_tensor_size(b.items[i]); k++)
            tg_tensor_set(b.items[i], k, i % 2 ? 0.5 + tg_rng_uniform(&rng) : tg_rng_normal(&rng));
}

static void expect_close(comparison c, double tolerance, const char *what)
{
    cr_expect_eq(c.refused, 0, "%s: %d samples refused", what, c.refused);
    cr_expect(c.largest > 0, "%s: all outputs are zero, nothing was compared", what);
    cr_expect(c.max_error <= tolerance * fmax(1, c.largest), "%s: exported output differs by %g (outputs up to %g)",
              what, c.max_error, c.largest);
}

Test(export_c, lenet_with_batch_norm_and_avg_pool_gives_the_library_outputs_to_1e_5)
{
    if (!have_cc())
        cr_skip_test("no C compiler (cc) to compile the exported file");
    tg_ctx *ctx = quiet_ctx();
    tg_rng rng = tg_rng_seed(1);
    tg_model *lenet = tg_model_new(ctx, TG_F32, TG_SHAPE(1, 28, 28), TG_LAYERS(
        {.kind = TG_LAYER_CONV2D, .in = 1, .out = 6, .kernel = 5, .padding = 2, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = TG_LAYER_CONV2D, .in = 6, .out = 16, .kernel = 5},
        {.kind = TG_LAYER_BATCH_NORM, .in = 16},
        {.kind = TG_LAYER_ACTIVATION, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_AVG_POOL2D, .kernel = 3, .stride = 2, .padding = 1},
        {.kind = TG_LAYER_FLATTEN},
        {.kind = TG_LAYER_DENSE, .in = 400, .out = 120, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_DROPOUT, .rate = 0.5},
        {.kind = TG_LAYER_DENSE, .in = 120, .out = 84, .act = TG_ACT_GELU},
        {.kind = TG_LAYER_DENSE, .in = 84, .out = 10}), &rng);
    cr_assert(lenet, "%s", tg_ctx_error(ctx));
    randomize_running_stats(lenet, 2);
    expect_close(export_and_run(lenet, "lenet", normal_batch(ctx, lenet, 8, 3), false), 1e-5, "lenet");
    tg_ctx_free(ctx);
}

Test(export_c, mlp_with_every_activation_and_layer_norm_gives_the_library_outputs_to_1e_5)
{
    if (!have_cc())
        cr_skip_test("no C compiler (cc) to compile the exported file");
    tg_ctx *ctx = quiet_ctx();
    tg_rng rng = tg_rng_seed(4);
    tg_model *mlp = tg_model_new(ctx, TG_F32, TG_SHAPE(12), TG_LAYERS(
        {.kind = TG_LAYER_DENSE, .in = 12, .out = 16, .act = TG_ACT_SIGMOID},
        {.kind = TG_LAYER_DENSE, .in = 16, .out = 16, .act = TG_ACT_TANH},
        {.kind = TG_LAYER_DENSE, .in = 16, .out = 16, .act = TG_ACT_LEAKY_RELU},
        {.kind = TG_LAYER_ACTIVATION, .act = TG_ACT_ELU},
        {.kind = TG_LAYER_LAYER_NORM, .in = 16, .eps = 1e-3},
        {.kind = TG_LAYER_ACTIVATION, .act = TG_ACT_SOFTPLUS},
        {.kind = TG_LAYER_BATCH_NORM, .in = 16},
        {.kind = TG_LAYER_DENSE, .in = 16, .out = 16, .act = TG_ACT_SILU},
        {.kind = TG_LAYER_ACTIVATION, .act = TG_ACT_NONE},
        {.kind = TG_LAYER_DENSE, .in = 16, .out = 8, .act = TG_ACT_GELU_TANH},
        {.kind = TG_LAYER_DENSE, .in = 8, .out = 3}), &rng);
    cr_assert(mlp, "%s", tg_ctx_error(ctx));
    randomize_running_stats(mlp, 5);
    /* layer norm's γ and β away from 1 and 0 */
    tg_params p = tg_module_params(tg_model_module(mlp, 4));
    tg_tensor_copy(p.items[0], tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(16), 1, 0.5));
    tg_tensor_copy(p.items[1], tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(16), 0, 0.5));
    expect_close(export_and_run(mlp, "mlp", normal_batch(ctx, mlp, 16, 6), false), 1e-5, "mlp");
    tg_ctx_free(ctx);
}

Test(export_c, lstm_classifier_over_embeddings_gives_the_library_outputs_to_1e_5)
{
    if (!have_cc())
        cr_skip_test("no C compiler (cc) to compile the exported file");
    tg_ctx *ctx = quiet_ctx();
    tg_rng rng = tg_rng_seed(7);
    tg_model *classifier = tg_model_new(ctx, TG_F32, TG_SHAPE(10), TG_LAYERS(
        {.kind = TG_LAYER_EMBEDDING, .in = 20, .out = 8},
        {.kind = TG_LAYER_LSTM, .in = 8, .out = 16, .last_state = true},
        {.kind = TG_LAYER_DENSE, .in = 16, .out = 4}), &rng);
    cr_assert(classifier, "%s", tg_ctx_error(ctx));
    tg_tensor *tokens = tg_tensor_new(ctx, TG_F32, TG_SHAPE(6, 10));
    for (int64_t i = 0; i < tg_tensor_size(tokens); i++)
        tg_tensor_set(tokens, i, (double)((i * 7 + 3) % 20));
    expect_close(export_and_run(classifier, "sentiment", tokens, false), 1e-5, "lstm classifier");
    tg_ctx_free(ctx);
}

Test(export_c, rnn_and_gru_sequences_give_the_library_outputs_to_1e_5)
{
    if (!have_cc())
        cr_skip_test("no C compiler (cc) to compile the exported file");
    tg_ctx *ctx = quiet_ctx();
    tg_rng rng = tg_rng_seed(8);
    tg_model *model = tg_model_new(ctx, TG_F32, TG_SHAPE(7, 5), TG_LAYERS(
        {.kind = TG_LAYER_RNN, .in = 5, .out = 6},
        {.kind = TG_LAYER_GRU, .in = 6, .out = 9},
        {.kind = TG_LAYER_DENSE, .in = 9, .out = 2, .act = TG_ACT_TANH}), &rng);
    cr_assert(model, "%s", tg_ctx_error(ctx));
    expect_close(export_and_run(model, "seq", normal_batch(ctx, model, 5, 9), false), 1e-5, "rnn and gru");
    tg_ctx_free(ctx);
}

Test(export_c, an_f64_model_exports_as_float_within_float_rounding)
{
    if (!have_cc())
        cr_skip_test("no C compiler (cc) to compile the exported file");
    tg_ctx *ctx = quiet_ctx();
    tg_rng rng = tg_rng_seed(10);
    tg_model *model = tg_model_new(ctx, TG_F64, TG_SHAPE(2, 9, 9), TG_LAYERS(
        {.kind = TG_LAYER_CONV2D, .in = 2, .out = 4, .kernel = 3, .stride = 2, .padding = 1, .act = TG_ACT_TANH},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 3, .stride = 1, .padding = 1},
        {.kind = TG_LAYER_FLATTEN},
        {.kind = TG_LAYER_DENSE, .in = 100, .out = 3}), &rng);
    cr_assert(model, "%s", tg_ctx_error(ctx));
    expect_close(export_and_run(model, "wide", normal_batch(ctx, model, 4, 11), false), 1e-5, "f64 conv");
    tg_ctx_free(ctx);
}

Test(export_c, int8_weights_stay_within_a_few_percent_of_float)
{
    if (!have_cc())
        cr_skip_test("no C compiler (cc) to compile the exported file");
    tg_ctx *ctx = quiet_ctx();
    tg_rng rng = tg_rng_seed(12);
    tg_model *model = tg_model_new(ctx, TG_F32, TG_SHAPE(1, 12, 12), TG_LAYERS(
        {.kind = TG_LAYER_CONV2D, .in = 1, .out = 4, .kernel = 3, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = TG_LAYER_FLATTEN},
        {.kind = TG_LAYER_DENSE, .in = 100, .out = 10}), &rng);
    cr_assert(model, "%s", tg_ctx_error(ctx));
    comparison c = export_and_run(model, "small", normal_batch(ctx, model, 8, 13), true);
    cr_expect_eq(c.refused, 0);
    cr_expect(c.max_error > 0, "int8 weights gave float's outputs exactly: were they quantized?");
    cr_expect(c.max_error < 0.05 * c.largest, "int8 output differs by %g (outputs up to %g)", c.max_error, c.largest);
    tg_ctx_free(ctx);
}

Test(export_c, an_embedding_index_out_of_range_makes_the_exported_forward_return_minus_1)
{
    if (!have_cc())
        cr_skip_test("no C compiler (cc) to compile the exported file");
    tg_ctx *ctx = quiet_ctx();
    tg_rng rng = tg_rng_seed(14);
    tg_model *model = tg_model_new(ctx, TG_F32, TG_SHAPE(3), TG_LAYERS(
        {.kind = TG_LAYER_EMBEDDING, .in = 5, .out = 2}, {.kind = TG_LAYER_FLATTEN}), &rng);
    cr_assert(model);
    /* the library refuses index 5 too; the exported code must say so instead of reading past the table */
    tg_tensor *bad = tg_tensor_from(ctx, TG_F32, TG_SHAPE(1, 3), (double[]){1, 5, 2});
    cr_expect_null(tg_model_forward(model, bad));
    tg_ctx_clear_error(ctx);
    tg_tensor *good = tg_tensor_from(ctx, TG_F32, TG_SHAPE(1, 3), (double[]){1, 4, 2});
    comparison c = export_and_run(model, "table", good, false);
    cr_expect_eq(c.refused, 0);
    cr_expect_eq(c.max_error, 0);
    /* now the same program on the bad sample: tg_model_forward would fail, so run it by hand */
    char dir[64], cmd[512];
    cr_assert(make_scratch_dir(dir, sizeof dir, "tg_export_"));
    cr_assert_eq(tg_model_export_c(model, "table", dir), TG_OK);
    snprintf(cmd, sizeof cmd, "cd %s && printf '#include <stdio.h>\\n#include \"table.h\"\\nint main(void) { float in[3] = "
             "{1, 5, 2}, out[TABLE_OUTPUT_SIZE]; return table_forward(in, out) == -1 ? 0 : 1; }\\n' > main.c && "
             "cc -std=c99 -Wall -Wextra -Werror -O2 -o run main.c table.c -lm && ./run", dir);
    cr_expect_eq(system(cmd), 0, "the exported forward did not return -1 for index 5 of a table of 5");
    cr_expect_eq(remove_scratch_dir(dir), 0);
    tg_ctx_free(ctx);
}

/* A layer kind of the user's own: y = 2x. */
static tg_status same_shape(const tg_module *m, int rank, const int64_t *shape, int *out_rank,
                            int64_t out_shape[TG_MAX_RANK])
{
    (void)m, (void)rank, (void)shape, (void)out_rank, (void)out_shape;
    return TG_OK;
}
static tg_tensor *twice_forward(tg_module *m, tg_tensor *x)
{
    (void)m;
    return tg_mul_scalar(x, 2);
}
static void twice_describe(const tg_layer_spec *s, char *buf, size_t size)
{
    (void)s;
    snprintf(buf, size, "2x");
}

static tg_status halve_forward(const tg_op_call *call)
{
    for (int64_t i = 0; i < tg_tensor_size(call->output); i++)
        tg_tensor_set(call->output, i, tg_tensor_get(call->inputs[0], i) / 2);
    return TG_OK;
}

static tg_status halve_backward(const tg_op_call *call, tg_tensor *dy, tg_tensor **dx)
{
    (void)call;
    dx[0] = tg_mul_scalar(dy, 0.5);
    return TG_OK;
}

Test(export_c, layers_it_cannot_hold_are_refused_all_listed_and_nothing_is_written)
{
    tg_ctx *ctx = quiet_ctx();
    tg_rng rng = tg_rng_seed(15);
    tg_layer_kind_def twice = {.name = "twice", .shape = same_shape, .forward = twice_forward,
                               .describe = twice_describe};
    int kind = tg_layer_kind_register(ctx, &twice);
    cr_assert_geq(kind, TG_LAYER_USER, "%s", tg_ctx_error(ctx));
    tg_op_def halve = {.name = "halve", .n_inputs = 1, .forward = halve_forward, .backward = halve_backward};
    cr_assert(tg_op_register(ctx, &halve), "%s", tg_ctx_error(ctx));
    tg_model *model = tg_model_new(ctx, TG_F32, TG_SHAPE(4), TG_LAYERS(
        {.kind = TG_LAYER_DENSE, .in = 4, .out = 4},
        {.kind = kind},
        {.kind = TG_LAYER_ACTIVATION, .op = "halve"},
        {.kind = TG_LAYER_DENSE, .in = 4, .out = 2}), &rng);
    cr_assert(model, "%s", tg_ctx_error(ctx));
    char dir[64], path[128];
    cr_assert(make_scratch_dir(dir, sizeof dir, "tg_export_"));
    cr_expect_eq(tg_model_export_c(model, "mixed", dir), TG_ERR_ARG);
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("tg_model_export_c", "layers 2 (twice1: twice", "3 (halve1: activation",
                                            "user op"));
    snprintf(path, sizeof path, "%s/mixed.c", dir);
    cr_expect_null(fopen(path, "r"), "a refused export wrote %s", path);
    cr_expect_eq(remove_scratch_dir(dir), 0);
    tg_ctx_free(ctx);
}

Test(export_c, bad_names_no_input_shape_and_unwritable_directories_are_errors)
{
    tg_ctx *ctx = quiet_ctx();
    tg_rng rng = tg_rng_seed(16);
    tg_model *model = tg_model_new(ctx, TG_F32, TG_SHAPE(4), TG_LAYERS({.kind = TG_LAYER_DENSE, .in = 4, .out = 2}),
                                   &rng);
    cr_expect_eq(tg_model_export_c(model, "9lives", "/tmp"), TG_ERR_ARG);
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("\"9lives\"", "C identifier"));
    cr_expect_eq(tg_model_export_c(model, "a-b", "/tmp"), TG_ERR_ARG);
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("\"a-b\""));
    cr_expect_eq(tg_model_export_c(model, "ok", "/nonexistent/dir"), TG_ERR_IO);
    expect_error(ctx, TG_ERR_IO, FRAGMENTS("/nonexistent/dir/ok."));
    tg_model *shapeless = tg_model_new(ctx, TG_F32, 0, NULL, TG_LAYERS({.kind = TG_LAYER_DENSE, .in = 4, .out = 2}),
                                       &rng);
    cr_assert(shapeless);
    cr_expect_eq(tg_model_export_c(shapeless, "ok", "/tmp"), TG_ERR_ARG);
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("no input shape"));
    cr_expect_eq(tg_model_export_c_int8(NULL, "ok", "/tmp"), TG_ERR_ARG);
    tg_ctx_free(ctx);
}
