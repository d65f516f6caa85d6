/* A model's tensors in safetensors files under PyTorch's state_dict names
 * (tg_model_save_safetensors, tg_model_load_safetensors, tg_model_torch_name):
 * the names torch.nn.Sequential gives, a round trip, all-or-nothing loading,
 * errors that name both sides, name maps, and hostile files. The PyTorch side
 * of the round trip is tests/model_torch.py. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <math.h>

#include "tests/support.h"

static char dir[64];
static tg_ctx *ctx;

static void setup(void) { ctx = scratch_fixture_setup(dir, sizeof dir, "tg_model_st_"); }
static void teardown(void) { scratch_fixture_teardown(ctx, dir); }

TestSuite(model_safetensors, .init = setup, .fini = teardown);

static const char *in_dir(const char *name)
{
    static char path[2][128];
    static int turn;
    turn ^= 1;
    snprintf(path[turn], sizeof path[turn], "%s/%s", dir, name);
    return path[turn];
}

static tg_model *lenet(uint64_t seed)
{
    tg_rng rng = tg_rng_seed(seed);
    return tg_model_new(ctx, TG_F32, TG_SHAPE(1, 28, 28), TG_LAYERS(
        {.kind = TG_LAYER_CONV2D, .in = 1, .out = 6, .kernel = 5, .padding = 2, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = TG_LAYER_CONV2D, .in = 6, .out = 16, .kernel = 5, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = TG_LAYER_FLATTEN},
        {.kind = TG_LAYER_DENSE, .in = 400, .out = 120, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_DENSE, .in = 120, .out = 84, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_DENSE, .in = 84, .out = 10}), &rng);
}

/* dense, batch norm, dropout, an activation layer, embedding-free LSTM and GRU */
static tg_model *mixed(uint64_t seed)
{
    tg_rng rng = tg_rng_seed(seed);
    return tg_model_new(ctx, TG_F32, TG_SHAPE(5, 3), TG_LAYERS(
        {.kind = TG_LAYER_LSTM, .in = 3, .out = 4},
        {.kind = TG_LAYER_GRU, .name = "encoder", .in = 4, .out = 4, .last_state = true},
        {.kind = TG_LAYER_BATCH_NORM, .in = 4},
        {.kind = TG_LAYER_DROPOUT, .rate = 0.1},
        {.kind = TG_LAYER_ACTIVATION, .act = TG_ACT_TANH},
        {.kind = TG_LAYER_DENSE, .in = 4, .out = 2}), &rng);
}

static bool same_tensors(const tg_model *a, const tg_model *b)
{
    tg_params x = tg_model_tensors(a), y = tg_model_tensors(b);
    if (x.count != y.count)
        return false;
    for (int i = 0; i < x.count; i++)
        for (int64_t k = 0; k < tg_tensor_size(x.items[i]); k++)
            if (tg_tensor_get(x.items[i], k) != tg_tensor_get(y.items[i], k))
                return false;
    return true;
}

Test(model_safetensors, lenet_gets_the_names_of_the_equivalent_torch_sequential)
{
    tg_model *model = lenet(1);
    /* nn.Sequential(Conv2d, ReLU, MaxPool2d, Conv2d, ReLU, MaxPool2d, Flatten, Linear, ReLU, Linear, ReLU, Linear) */
    const char *expected[] = {"0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias",
                              "9.weight", "9.bias", "11.weight", "11.bias"};
    cr_assert_eq(tg_model_tensors(model).count, 10);
    for (int i = 0; i < 10; i++) {
        char buf[64];
        cr_expect_str_eq(tg_model_torch_name(model, i, buf, sizeof buf), expected[i]);
    }
    char buf[64];
    cr_expect_null(tg_model_torch_name(model, 10, buf, sizeof buf));
    cr_expect_null(tg_model_torch_name(model, -1, buf, sizeof buf));
}

Test(model_safetensors, the_file_holds_pytorch_names_in_state_dict_order_with_num_batches_tracked)
{
    tg_model *model = mixed(2);
    cr_assert(model, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_model_save_safetensors(model, in_dir("mixed.safetensors")), TG_OK, "%s", tg_ctx_error(ctx));
    tg_safetensors *st = tg_safetensors_open(ctx, in_dir("mixed.safetensors"));
    cr_assert(st, "%s", tg_ctx_error(ctx));
    const char *expected[] = {"0.weight_ih_l0", "0.weight_hh_l0", "0.bias_ih_l0", "0.bias_hh_l0",
                              "encoder.weight_ih_l0", "encoder.weight_hh_l0", "encoder.bias_ih_l0",
                              "encoder.bias_hh_l0", "2.weight", "2.bias", "2.running_mean", "2.running_var",
                              "2.num_batches_tracked", "5.weight", "5.bias"};
    cr_assert_eq(tg_safetensors_count(st), 15);
    for (int i = 0; i < 15; i++)
        cr_expect_str_eq(tg_safetensors_name(st, i), expected[i]);
    int counter = tg_safetensors_find(st, "2.num_batches_tracked");
    cr_expect_str_eq(tg_safetensors_dtype(st, counter), "I64");
    cr_expect_eq(tg_safetensors_rank(st, counter), 0);
    cr_expect_eq(tg_safetensors_shape(st, 0)[0], 16); /* the LSTM's four gates × 4 */
    cr_expect_str_eq(tg_safetensors_metadata(st, "format"), "pt");
    cr_expect(strstr(tg_safetensors_metadata(st, "tapegrad_model"), "layer gru name=encoder"));
    tg_safetensors_close(st);
}

Test(model_safetensors, a_saved_model_loads_back_into_another_with_every_tensor_equal)
{
    tg_model *a = mixed(3), *b = mixed(4);
    /* running statistics that are not their start values */
    tg_params buffers = tg_model_buffers(a);
    for (int i = 0; i < buffers.count; i++)
        tg_tensor_fill(buffers.items[i], 0.25 + i);
    cr_assert(!same_tensors(a, b));
    cr_assert_eq(tg_model_save_safetensors(a, in_dir("a.safetensors")), TG_OK, "%s", tg_ctx_error(ctx));
    cr_assert_eq(tg_model_load_safetensors(b, in_dir("a.safetensors"), NULL, NULL), TG_OK, "%s", tg_ctx_error(ctx));
    cr_expect(same_tensors(a, b));
}

Test(model_safetensors, an_f64_model_saves_f64_and_loads_into_f32)
{
    tg_rng rng = tg_rng_seed(5);
    tg_model *wide = tg_model_new(ctx, TG_F64, TG_SHAPE(3), TG_LAYERS({.kind = TG_LAYER_DENSE, .in = 3, .out = 2}),
                                  &rng);
    tg_model *narrow = tg_model_new(ctx, TG_F32, TG_SHAPE(3), TG_LAYERS({.kind = TG_LAYER_DENSE, .in = 3, .out = 2}),
                                    &rng);
    cr_assert_eq(tg_model_save_safetensors(wide, in_dir("wide.safetensors")), TG_OK);
    tg_safetensors *st = tg_safetensors_open(ctx, in_dir("wide.safetensors"));
    cr_expect_str_eq(tg_safetensors_dtype(st, 0), "F64");
    tg_safetensors_close(st);
    cr_assert_eq(tg_model_load_safetensors(narrow, in_dir("wide.safetensors"), NULL, NULL), TG_OK);
    tg_tensor *w = tg_model_params(wide).items[0], *n = tg_model_params(narrow).items[0];
    for (int64_t k = 0; k < 6; k++)
        cr_expect_eq(tg_tensor_get(n, k), (double)(float)tg_tensor_get(w, k));
}

Test(model_safetensors, a_shape_mismatch_names_the_tensor_and_both_shapes_and_loads_nothing)
{
    tg_rng rng = tg_rng_seed(6);
    tg_model *small = tg_model_new(ctx, TG_F32, TG_SHAPE(4), TG_LAYERS(
        {.kind = TG_LAYER_DENSE, .in = 4, .out = 3, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_DENSE, .in = 3, .out = 2}), &rng);
    tg_model *other = tg_model_new(ctx, TG_F32, TG_SHAPE(4), TG_LAYERS(
        {.kind = TG_LAYER_DENSE, .in = 4, .out = 3, .act = TG_ACT_RELU},
        {.kind = TG_LAYER_DENSE, .in = 3, .out = 5}), &rng);
    tg_model *before = tg_model_clone(other, ctx);
    cr_assert_eq(tg_model_save_safetensors(small, in_dir("small.safetensors")), TG_OK);
    cr_expect_eq(tg_model_load_safetensors(other, in_dir("small.safetensors"), NULL, NULL), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("tg_model_load_safetensors", "small.safetensors", "\"2.weight\"",
                                               "F32 [2, 3] in the file", "layer dense2", "f32 [5, 3]"));
    cr_expect(same_tensors(other, before), "a failed load changed the model (the first layer fits)");
}

Test(model_safetensors, missing_and_extra_entries_and_integer_dtypes_are_errors)
{
    tg_rng rng = tg_rng_seed(7);
    tg_model *model = tg_model_new(ctx, TG_F32, TG_SHAPE(2), TG_LAYERS({.kind = TG_LAYER_DENSE, .in = 2, .out = 2}),
                                   &rng);
    tg_tensor *w = tg_tensor_new(ctx, TG_F32, TG_SHAPE(2, 2)), *b = tg_tensor_new(ctx, TG_F32, TG_SHAPE(2));
    tg_tensor *extra = tg_tensor_new(ctx, TG_F32, TG_SHAPE(3)), *ints = tg_tensor_new(ctx, TG_I64, TG_SHAPE(2));

    tg_named_tensor only_weight[] = {{"0.weight", w}};
    tg_safetensors_save(ctx, in_dir("missing.safetensors"), 1, only_weight, 0, NULL);
    cr_expect_eq(tg_model_load_safetensors(model, in_dir("missing.safetensors"), NULL, NULL), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("no entry \"0.bias\"", "the file has \"0.weight\""));

    tg_named_tensor with_extra[] = {{"0.weight", w}, {"0.bias", b}, {"1.weight", extra}};
    tg_safetensors_save(ctx, in_dir("extra.safetensors"), 3, with_extra, 0, NULL);
    cr_expect_eq(tg_model_load_safetensors(model, in_dir("extra.safetensors"), NULL, NULL), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("entry \"1.weight\" (F32 [3]) is no tensor of the model"));

    tg_named_tensor integer_bias[] = {{"0.weight", w}, {"0.bias", ints}};
    tg_safetensors_save(ctx, in_dir("ints.safetensors"), 2, integer_bias, 0, NULL);
    cr_expect_eq(tg_model_load_safetensors(model, in_dir("ints.safetensors"), NULL, NULL), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("\"0.bias\" is I64 [2] in the file", "f32 [2]"));
}

Test(model_safetensors, num_batches_tracked_of_another_dtype_is_refused)
{
    tg_rng rng = tg_rng_seed(8);
    tg_model *model = tg_model_new(ctx, TG_F32, TG_SHAPE(2), TG_LAYERS({.kind = TG_LAYER_BATCH_NORM, .in = 2}), &rng);
    tg_params all = tg_model_tensors(model);
    tg_tensor *counter = tg_tensor_new(ctx, TG_F32, TG_SHAPE(1));
    tg_named_tensor items[] = {{"0.weight", all.items[0]}, {"0.bias", all.items[1]},
                               {"0.running_mean", all.items[2]}, {"0.running_var", all.items[3]},
                               {"0.num_batches_tracked", counter}};
    tg_safetensors_save(ctx, in_dir("bn.safetensors"), 5, items, 0, NULL);
    cr_expect_eq(tg_model_load_safetensors(model, in_dir("bn.safetensors"), NULL, NULL), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("\"0.num_batches_tracked\" is F32 [1]", "I64 []"));
    /* without it, as a file from an older PyTorch: loads */
    cr_expect_eq(tg_safetensors_save(ctx, in_dir("bn4.safetensors"), 4, items, 0, NULL), TG_OK);
    cr_expect_eq(tg_model_load_safetensors(model, in_dir("bn4.safetensors"), NULL, NULL), TG_OK, "%s",
                 tg_ctx_error(ctx));
}

/* "features.<name>" for the layers, "classifier.weight" for the last. */
static const char *timm_style(const char *torch_name, void *user)
{
    char *buf = user;
    if (!strncmp(torch_name, "11.", 3))
        snprintf(buf, 64, "classifier.%.40s", torch_name + 3);
    else
        snprintf(buf, 64, "features.%.40s", torch_name);
    return buf;
}

static const char *skip_last_layer(const char *torch_name, void *user)
{
    (void)user;
    return strncmp(torch_name, "11.", 3) ? torch_name : NULL;
}

Test(model_safetensors, a_name_map_reads_other_layouts_and_can_leave_tensors_alone)
{
    tg_model *source = lenet(9), *target = lenet(10), *untouched = lenet(10);
    tg_params p = tg_model_tensors(source);
    tg_named_tensor items[10];
    char names[10][64];
    for (int i = 0; i < p.count; i++) {
        char torch_name[64];
        tg_model_torch_name(source, i, torch_name, sizeof torch_name);
        timm_style(torch_name, names[i]);
        items[i] = (tg_named_tensor){names[i], p.items[i]};
    }
    tg_safetensors_save(ctx, in_dir("timm.safetensors"), p.count, items, 0, NULL);
    /* without the map: nothing matches */
    cr_expect_eq(tg_model_load_safetensors(target, in_dir("timm.safetensors"), NULL, NULL), TG_ERR_FORMAT);
    expect_error(ctx, TG_ERR_FORMAT, FRAGMENTS("no entry \"0.weight\"", "\"features.0.weight\""));
    char buf[64];
    cr_assert_eq(tg_model_load_safetensors(target, in_dir("timm.safetensors"), timm_style, buf), TG_OK, "%s",
                 tg_ctx_error(ctx));
    cr_expect(same_tensors(source, target));

    /* a map that leaves the classifier out: its tensors keep their values */
    cr_assert_eq(tg_model_save_safetensors(source, in_dir("plain.safetensors")), TG_OK);
    cr_assert_eq(tg_model_load_safetensors(untouched, in_dir("plain.safetensors"), skip_last_layer, NULL), TG_OK);
    tg_tensor *kept = tg_model_params(untouched).items[9], *fresh = tg_model_params(lenet(10)).items[9];
    for (int64_t k = 0; k < tg_tensor_size(kept); k++)
        cr_expect_eq(tg_tensor_get(kept, k), tg_tensor_get(fresh, k));
    cr_expect_eq(tg_tensor_get(tg_model_params(untouched).items[0], 0),
                 tg_tensor_get(tg_model_params(source).items[0], 0));
}

Test(model_safetensors, every_truncation_and_a_flipped_byte_of_a_saved_file_fail_cleanly_or_load_whole)
{
    tg_model *model = mixed(11), *target = mixed(12), *before = tg_model_clone(target, ctx);
    cr_assert_eq(tg_model_save_safetensors(model, in_dir("whole.safetensors")), TG_OK);
    FILE *f = fopen(in_dir("whole.safetensors"), "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    unsigned char *bytes = malloc((size_t)size);
    cr_assert_eq(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    int refused = 0;
    for (long cut = 0; cut < size; cut += 1 + cut / 16) {
        FILE *g = fopen(in_dir("cut.safetensors"), "wb");
        fwrite(bytes, 1, (size_t)cut, g);
        fclose(g);
        tg_status status = tg_model_load_safetensors(target, in_dir("cut.safetensors"), NULL, NULL);
        cr_expect_neq(status, TG_OK, "a file cut at %ld of %ld bytes loaded", cut, size);
        cr_expect(strlen(tg_ctx_error(ctx)) > 0);
        tg_ctx_clear_error(ctx);
        refused++;
    }
    cr_expect(same_tensors(target, before), "a refused file changed the model");
    /* a flipped byte in every position of the header: refused, or read whole */
    uint64_t header = 0;
    for (int i = 0; i < 8; i++)
        header |= (uint64_t)bytes[i] << (8 * i);
    for (long at = 0; at < 8 + (long)header; at += 7) {
        bytes[at] ^= 0x5a;
        FILE *g = fopen(in_dir("flip.safetensors"), "wb");
        fwrite(bytes, 1, (size_t)size, g);
        fclose(g);
        bytes[at] ^= 0x5a;
        tg_model *victim = tg_model_clone(target, ctx);
        if (tg_model_load_safetensors(victim, in_dir("flip.safetensors"), NULL, NULL) != TG_OK)
            cr_expect(same_tensors(victim, before), "a refused file (byte %ld flipped) changed the model", at);
        tg_ctx_clear_error(ctx);
        tg_model_free(victim);
    }
    cr_expect_gt(refused, 10);
    free(bytes);
}

Test(model_safetensors, null_arguments_and_files_that_are_not_there_are_errors)
{
    tg_model *model = lenet(13);
    cr_expect_eq(tg_model_save_safetensors(NULL, in_dir("x")), TG_ERR_ARG);
    cr_expect_eq(tg_model_save_safetensors(model, NULL), TG_ERR_ARG);
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("tg_model_save_safetensors", "NULL path"));
    cr_expect_eq(tg_model_load_safetensors(model, NULL, NULL, NULL), TG_ERR_ARG);
    expect_error(ctx, TG_ERR_ARG, FRAGMENTS("tg_model_load_safetensors", "NULL path"));
    cr_expect_eq(tg_model_load_safetensors(model, in_dir("absent.safetensors"), NULL, NULL), TG_ERR_IO);
    expect_error(ctx, TG_ERR_IO, FRAGMENTS("absent.safetensors"));
    cr_expect_eq(tg_model_save_safetensors(model, "/nonexistent/dir/x.safetensors"), TG_ERR_IO);
    tg_ctx_clear_error(ctx);
    char buf[8];
    cr_expect_null(tg_model_torch_name(NULL, 0, buf, sizeof buf));
    cr_expect_null(tg_model_torch_name(model, 0, NULL, 8));
}
