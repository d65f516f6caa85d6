/* Every public function, given NULL for each of its pointer arguments in
 * turn (and for all of them at once), returns its documented error value and
 * does not crash. The same table walks a stale step tensor through every
 * function that takes a tensor: in checked mode each returns its error value
 * (TG_ERR_FREED); in the default mode, after a later step wrote over the
 * stale tensor's memory, none crashes (the handle reads as a live tensor of
 * that step, as core.h documents). One table line per function; the test fails when a function
 * that tools/check_api_docs.sh --list finds in the headers has no line.
 *
 * A line is X(name, CHECK(call)):
 *  - call is the function called with the fixtures below, each pointer
 *    argument wrapped in P(...): P(e) is NULL in the walk that picks it and e
 *    otherwise. Arguments documented as optional ("may be NULL") are left
 *    unwrapped, since NULL is a valid value for them.
 *  - CHECK says what the error value is: IS_NULL, IS_ERROR (a status other
 *    than TG_OK), IS_NAN, IS_NEG (-1 and the like), IS_FALSE, IS(value), or
 *    NO_CRASH for void functions and ones whose NULL is a documented no-op.
 *  - A function with no pointer argument is NOPTR(name): listed, not called.
 * Each line is its own Criterion test (its own process), so a crash names
 * the function. The walks of one line: first every P at once, which also
 * counts them, then each P alone. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"
#include "tapegrad/op.h"

/* ---- fixtures: one valid value of every argument type ---- */

static tg_ctx *ctx;
static tg_tensor *x, *outs[2], *xs[2];
static tg_tensor *slots[2]; /* where a call writes tensors */
static tg_tensor **items;
static const int64_t shape[2] = {2, 2};
static const int axes[2] = {1, 0};
static double vals[4] = {1, -1, 1, -1};
static char buf[64] = "s";
static const char *path = "/nonexistent/tapegrad_null_walk";
static tg_rng rng;
static tg_layer *layer;
static tg_mlp *mlp;
static tg_optimizer *opt;
static tg_dataset *data;
static tg_loader *loader;
static tg_history hist;
static tg_train_config cfg;
static tg_evaluation eval;
static tg_curves curves;
static tg_idx idx;
static tg_csv csv;
static tg_gradcheck_report report;
static tg_tape_entry entry;
static tg_op_def op_def;
static const tg_op *op;
static tg_activation acts[1] = {TG_ACT_NONE};
static uint8_t *bytes;
static size_t nbytes;
static double number;
static int64_t counts[4];
static tg_model *model;
static tg_module *cell;
static tg_checkpoint_info info;
static tg_safetensors *st;
static uint8_t st_bytes[8 + 64 + 32] = "\x40\0\0\0\0\0\0\0{\"a\":{\"dtype\":\"F64\",\"shape\":[2,2],\"data_offsets\":[0,32]}}       ";
static tg_named_tensor named[1];
static char *text;
static int64_t model_shape[TG_MAX_RANK];
static const int64_t sample_shape[1] = {2};
static const tg_layer_spec dense_spec[1] = {{.kind = TG_LAYER_DENSE, .in = 2, .out = 2}};
static const tg_layer_spec rnn_spec = {.kind = TG_LAYER_RNN, .in = 2, .out = 2};
static const tg_layer_kind_def walk_kind = {.name = "walk"}; /* never registered: only the NULL walks call */

static tg_tensor *identity(tg_tensor *const *inputs, void *user) { return (void)user, inputs[0]; }
static tg_tensor *model_forward(void *model, tg_tensor *in) { return tg_mlp_forward(model, in); }
static void no_task(void *arg, int task) { (void)arg, (void)task; }
static void no_row(const tg_perceptron_row *row, void *user) { (void)row, (void)user; }
static tg_tensor *no_hook(tg_tensor *t, tg_tensor *grad, void *user) { return (void)t, (void)user, grad; }
static void no_error(void *user, tg_status status, const char *message) { (void)user, (void)status, (void)message; }

static void setup(void)
{
    ctx = tg_ctx_new(1);
    tg_ctx_set_error_handler(ctx, NULL, NULL);
    rng = tg_rng_seed(1);
    x = tg_tensor_from(ctx, TG_F64, 2, shape, vals);
    tg_tensor_set_requires_grad(x, true);
    outs[0] = outs[1] = xs[0] = xs[1] = x;
    layer = tg_layer_new(ctx, TG_F64, 2, 2, TG_ACT_NONE, TG_INIT_XAVIER, &rng);
    mlp = tg_mlp_new(ctx, TG_F64, 1, shape, acts, TG_INIT_XAVIER, &rng);
    opt = tg_optim_sgd_new(tg_mlp_params(mlp), 0.1);
    items = tg_mlp_params(mlp).items;
    double y[2] = {0, 1};
    data = tg_dataset_from_values(ctx, 2, 2, vals, 1, y, 2);
    loader = tg_loader_new(ctx, data, 1, TG_F64);
    cfg = tg_train_defaults();
    cfg.progress = 0;
    cfg.forward = model_forward;
    cfg.model = mlp;
    cfg.loss = tg_loss_softmax_ce;
    cfg.optimizer = opt;
    curves = (tg_curves){.count = 2, .train_loss = vals};
    model = tg_model_new(ctx, TG_F64, 1, sample_shape, 1, dense_spec, &rng);
    cell = tg_module_new(ctx, TG_F64, &rnn_spec, &rng);
    st = tg_safetensors_open_memory(ctx, st_bytes, sizeof st_bytes, "null walk");
    named[0] = (tg_named_tensor){"a", x};
    cr_assert(x && layer && mlp && opt && data && loader && model && cell && st, "fixtures: %s", tg_ctx_error(ctx));
}

static void teardown(void)
{
    tg_safetensors_close(st);
    tg_module_free(cell);
    tg_model_free(model);
    tg_loader_free(loader);
    tg_dataset_free(data);
    tg_optim_free(opt);
    tg_mlp_free(mlp);
    tg_layer_free(layer);
    tg_ctx_free(ctx);
}

/* ---- the walk ---- */

typedef struct {
    int null_at;       /* the P that gives NULL; -1: every P; NO_NULL: none */
    int seen;          /* P's evaluated so far in this call */
    bool took_tensor;  /* the call read the tensor fixtures x, xs or outs */
} walk;
static walk w;
enum { NO_NULL = -2 };

/* A function call, not an expression with side effects, so that the P's of
 * one call are indeterminately sequenced rather than unsequenced. */
static bool null_here(void)
{
    int i = w.seen++;
    return w.null_at == -1 || w.null_at == i;
}
static void took_tensor(void) { w.took_tensor = true; }

#define P(e) (null_here() ? NULL : (e))
#define PARAMS(n) ((tg_params){(n), P(items)})
#define IS_NULL(call) ((call) == NULL)
#define IS_ERROR(call) ((call) != TG_OK)
#define IS_NAN(call) (isnan(call))
#define IS_NEG(call) ((call) < 0)
#define IS_FALSE(call) (!(call))
#define IS(call, value) ((call) == (value))
#define NO_CRASH(call) ((void)(call), true)

#define API_NULL_WALKS(X, NOPTR) \
    /* core.h */ \
    X(tg_ctx_free, NO_CRASH(tg_ctx_free(P(NULL)))) \
    NOPTR(tg_ctx_new) \
    NOPTR(tg_dtype_name) \
    X(tg_ctx_threads, IS(tg_ctx_threads(P(ctx)), 0)) \
    X(tg_ctx_step_bytes, IS_NEG(tg_ctx_step_bytes(P(ctx)))) \
    X(tg_ctx_set_checked, IS_FALSE(tg_ctx_set_checked(P(ctx), true))) \
    X(tg_ctx_run_tasks, IS_ERROR(tg_ctx_run_tasks(P(ctx), 1, P(no_task), NULL))) \
    NOPTR(tg_fp_flush_subnormals) \
    NOPTR(tg_fp_mode_restore) \
    X(tg_tape_reset, NO_CRASH(tg_tape_reset(P(ctx)))) \
    X(tg_tape_length, IS_NEG(tg_tape_length(P(ctx)))) \
    X(tg_grad_set_enabled, IS_FALSE(tg_grad_set_enabled(P(ctx), true))) \
    X(tg_grad_enabled, IS_FALSE(tg_grad_enabled(P(ctx)))) \
    X(tg_anomaly_set_enabled, NO_CRASH(tg_anomaly_set_enabled(P(ctx), true))) \
    X(tg_ctx_status, IS_ERROR(tg_ctx_status(P(ctx)))) \
    X(tg_ctx_error, IS(strcmp(tg_ctx_error(P(ctx)), "NULL context"), 0)) \
    X(tg_ctx_clear_error, NO_CRASH(tg_ctx_clear_error(P(ctx)))) \
    X(tg_ctx_set_error_handler, NO_CRASH(tg_ctx_set_error_handler(P(ctx), no_error, NULL))) \
    X(tg_error_print_default, NO_CRASH(tg_error_print_default(NULL, TG_ERR_ARG, P("walk")))) \
    NOPTR(tg_status_name) \
    X(tg_ctx_fail, IS(tg_ctx_fail(P(ctx), TG_ERR_ARG, P("walk")), TG_ERR_ARG)) \
    NOPTR(tg_rng_seed) \
    X(tg_rng_next, IS(tg_rng_next(P(&rng)), 0)) \
    X(tg_rng_uniform, IS_NAN(tg_rng_uniform(P(&rng)))) \
    X(tg_rng_normal, IS_NAN(tg_rng_normal(P(&rng)))) \
    X(tg_rng_below, IS(tg_rng_below(P(&rng), 10), 0)) \
    X(tg_tensor_new, IS_NULL(tg_tensor_new(P(ctx), TG_F64, 2, P(shape)))) \
    X(tg_tensor_zeros, IS_NULL(tg_tensor_zeros(P(ctx), TG_F64, 2, P(shape)))) \
    X(tg_tensor_ones, IS_NULL(tg_tensor_ones(P(ctx), TG_F64, 2, P(shape)))) \
    X(tg_tensor_full, IS_NULL(tg_tensor_full(P(ctx), TG_F64, 2, P(shape), 1.0))) \
    X(tg_tensor_from, IS_NULL(tg_tensor_from(P(ctx), TG_F64, 2, P(shape), P(vals)))) \
    X(tg_tensor_scalar, IS_NULL(tg_tensor_scalar(P(ctx), TG_F64, 1.0))) \
    X(tg_tensor_rand, IS_NULL(tg_tensor_rand(P(ctx), P(&rng), TG_F64, 2, P(shape), 0.0, 1.0))) \
    X(tg_tensor_randn, IS_NULL(tg_tensor_randn(P(ctx), P(&rng), TG_F64, 2, P(shape), 0.0, 1.0))) \
    X(tg_tensor_temp, IS_NULL(tg_tensor_temp(P(ctx), TG_F64, 2, P(shape)))) \
    X(tg_arange, IS_NULL(tg_arange(P(ctx), TG_F64, 0.0, 4.0, 1.0))) \
    X(tg_tensor_clone, IS_NULL(tg_tensor_clone(P(x)))) \
    X(tg_tensor_free, NO_CRASH(tg_tensor_free(P(NULL)))) \
    X(tg_tensor_ctx, IS_NULL(tg_tensor_ctx(P(x)))) \
    X(tg_tensor_dtype, IS(tg_tensor_dtype(P(x)), (tg_dtype)-1)) \
    X(tg_tensor_rank, IS_NEG(tg_tensor_rank(P(x)))) \
    X(tg_tensor_shape, IS_NULL(tg_tensor_shape(P(x)))) \
    X(tg_tensor_dim, IS_NEG(tg_tensor_dim(P(x), 1))) \
    X(tg_tensor_size, IS_NEG(tg_tensor_size(P(x)))) \
    X(tg_tensor_data, IS_NULL(tg_tensor_data(P(x)))) \
    X(tg_tensor_data_const, IS_NULL(tg_tensor_data_const(P(x)))) \
    X(tg_tensor_get, IS_NAN(tg_tensor_get(P(x), 1))) \
    X(tg_tensor_set, NO_CRASH(tg_tensor_set(P(x), 1, 1.0))) \
    X(tg_tensor_item, IS_NAN(tg_tensor_item(P(x)))) \
    X(tg_tensor_copy, IS_ERROR(tg_tensor_copy(P(x), P(x)))) \
    X(tg_tensor_fill, NO_CRASH(tg_tensor_fill(P(x), 1.0))) \
    X(tg_shape_str, NO_CRASH(tg_shape_str(2, P(shape), P(buf), sizeof buf))) \
    X(tg_tensor_set_name, NO_CRASH(tg_tensor_set_name(P(x), "x"))) \
    X(tg_tensor_name, IS_NULL(tg_tensor_name(P(x)))) \
    X(tg_tensor_set_requires_grad, NO_CRASH(tg_tensor_set_requires_grad(P(x), true))) \
    X(tg_tensor_requires_grad, IS_FALSE(tg_tensor_requires_grad(P(x)))) \
    X(tg_tensor_is_recorded, IS_FALSE(tg_tensor_is_recorded(P(x)))) \
    X(tg_tensor_grad, IS_NULL(tg_tensor_grad(P(x)))) \
    X(tg_tensor_zero_grad, NO_CRASH(tg_tensor_zero_grad(P(x)))) \
    X(tg_backward, IS_ERROR(tg_backward(P(x)))) \
    X(tg_backward_with, IS_ERROR(tg_backward_with(P(x), x))) \
    X(tg_backward_retain, IS_ERROR(tg_backward_retain(P(x), x))) \
    X(tg_grad, IS_ERROR(tg_grad(P(x), x, 1, P(xs), P(outs), false))) \
    X(tg_tensor_set_hook, NO_CRASH(tg_tensor_set_hook(P(x), no_hook, NULL))) \
    /* data.h */ \
    X(tg_crc32, IS(tg_crc32(0, P(buf), 4), 0)) \
    X(tg_gzip_decode, IS_ERROR(tg_gzip_decode(P(ctx), P(buf), sizeof buf, NULL, P(&bytes), P(&nbytes)))) \
    X(tg_gzip_decode_max, IS_ERROR(tg_gzip_decode_max(P(ctx), P(buf), sizeof buf, NULL, 0, P(&bytes), P(&nbytes)))) \
    NOPTR(tg_gzip_default_max) \
    X(tg_file_read, IS_ERROR(tg_file_read(P(ctx), P(path), P(&bytes), P(&nbytes)))) \
    X(tg_file_read_max, IS_ERROR(tg_file_read_max(P(ctx), P(path), 0, P(&bytes), P(&nbytes)))) \
    X(tg_idx_read, IS_ERROR(tg_idx_read(P(ctx), P(path), P(&idx)))) \
    X(tg_idx_write, IS_ERROR(tg_idx_write(P(ctx), P(path), P(&idx)))) \
    X(tg_idx_free, NO_CRASH(tg_idx_free(P(&idx)))) \
    NOPTR(tg_idx_type_size) \
    X(tg_csv_read, IS_ERROR(tg_csv_read(P(ctx), P(path), TG_CSV_HEADER_AUTO, P(&csv)))) \
    X(tg_csv_parse, IS_ERROR(tg_csv_parse(P(ctx), P("a,b\n"), 4, NULL, TG_CSV_HEADER_AUTO, P(&csv)))) \
    X(tg_csv_free, NO_CRASH(tg_csv_free(P(&csv)))) \
    X(tg_dataset_from_idx, IS_NULL(tg_dataset_from_idx(P(ctx), P(path), P(path)))) \
    X(tg_dataset_load_mnist, IS_NULL(tg_dataset_load_mnist(P(ctx), P(path), P("train")))) \
    X(tg_dataset_from_values, IS_NULL(tg_dataset_from_values(P(ctx), 2, 2, P(vals), 1, P(vals), 0))) \
    X(tg_dataset_view, IS_NULL(tg_dataset_view(P(ctx), P(data), 0, 1))) \
    X(tg_dataset_free, NO_CRASH(tg_dataset_free(P(NULL)))) \
    X(tg_loader_new, IS_NULL(tg_loader_new(P(ctx), P(data), 1, TG_F64))) \
    X(tg_loader_free, NO_CRASH(tg_loader_free(P(NULL)))) \
    X(tg_loader_start, NO_CRASH(tg_loader_start(P(loader), &rng))) \
    X(tg_loader_next, IS_FALSE(tg_loader_next(P(loader), P(&slots[0]), P(&slots[1])))) \
    X(tg_loader_batches, IS(tg_loader_batches(P(loader)), 0)) \
    X(tg_loader_batch_size, IS(tg_loader_batch_size(P(loader)), 0)) \
    X(tg_loader_set_label_dtype, IS(tg_loader_set_label_dtype(P(loader), TG_I64), TG_ERR_ARG)) \
    X(tg_loader_label_dtype, IS(tg_loader_label_dtype(P(loader)), TG_F32)) \
    X(tg_history_append, IS_ERROR(tg_history_append(P(&hist), 1, 1.0, 1.0, 1.0, 1.0))) \
    X(tg_history_free, NO_CRASH(tg_history_free(P(&hist)))) \
    X(tg_history_save_csv, IS_ERROR(tg_history_save_csv(P(ctx), P(&hist), P(path)))) \
    X(tg_train_use_mlp, NO_CRASH(tg_train_use_mlp(P(&cfg), P(mlp)))) \
    X(tg_train_use_model, NO_CRASH(tg_train_use_model(P(&cfg), P(model)))) \
    NOPTR(tg_train_defaults) \
    X(tg_train, IS_ERROR(tg_train(P(ctx), P(data), P(&cfg), NULL))) \
    X(tg_evaluate, IS_ERROR(tg_evaluate(P(ctx), P(&cfg), P(data), P(&eval)))) \
    X(tg_evaluation_free, NO_CRASH(tg_evaluation_free(P(&eval)))) \
    X(tg_confusion_print, NO_CRASH(tg_confusion_print(P(&eval), NULL, stderr))) \
    X(tg_checkpoint_save, IS_ERROR(tg_checkpoint_save(P(ctx), P(path), PARAMS(2), NULL, 0))) \
    X(tg_checkpoint_load, IS_ERROR(tg_checkpoint_load(P(ctx), P(path), PARAMS(2), NULL, NULL))) \
    X(tg_checkpoint_save_spec, IS(tg_checkpoint_save_spec(P(ctx), P(path), P("spec"), PARAMS(2), NULL, 0), TG_ERR_ARG)) \
    X(tg_checkpoint_read_spec, IS(tg_checkpoint_read_spec(P(ctx), P(path), P(&text)), TG_ERR_ARG)) \
    X(tg_checkpoint_inspect, IS(tg_checkpoint_inspect(P(ctx), P(path), P(&info)), TG_ERR_ARG)) \
    X(tg_checkpoint_info_free, NO_CRASH(tg_checkpoint_info_free(P(&info)))) \
    /* safetensors.h */ \
    X(tg_safetensors_open, IS_NULL(tg_safetensors_open(P(ctx), P(path)))) \
    X(tg_safetensors_open_memory, IS_NULL(tg_safetensors_open_memory(P(ctx), P(st_bytes), sizeof st_bytes, NULL))) \
    X(tg_safetensors_close, NO_CRASH(tg_safetensors_close(P(NULL)))) \
    X(tg_safetensors_count, IS_NEG(tg_safetensors_count(P(st)))) \
    X(tg_safetensors_name, IS_NULL(tg_safetensors_name(P(st), 0))) \
    X(tg_safetensors_dtype, IS_NULL(tg_safetensors_dtype(P(st), 0))) \
    X(tg_safetensors_rank, IS_NEG(tg_safetensors_rank(P(st), 0))) \
    X(tg_safetensors_shape, IS_NULL(tg_safetensors_shape(P(st), 0))) \
    X(tg_safetensors_find, IS_NEG(tg_safetensors_find(P(st), P("a")))) \
    X(tg_safetensors_metadata_count, IS_NEG(tg_safetensors_metadata_count(P(st)))) \
    X(tg_safetensors_metadata_key, IS_NULL(tg_safetensors_metadata_key(P(st), 0))) \
    X(tg_safetensors_metadata_value, IS_NULL(tg_safetensors_metadata_value(P(st), 0))) \
    X(tg_safetensors_metadata, IS_NULL(tg_safetensors_metadata(P(st), P("k")))) \
    X(tg_safetensors_read, IS_NULL(tg_safetensors_read(P(st), P("a"), TG_F64))) \
    X(tg_safetensors_read_into, IS_ERROR(tg_safetensors_read_into(P(st), P("a"), P(x)))) \
    X(tg_safetensors_check, IS_ERROR(tg_safetensors_check(P(st), P("a"), P(x)))) \
    X(tg_safetensors_load, IS_ERROR(tg_safetensors_load(P(st), 1, P(named)))) \
    X(tg_safetensors_save, IS_ERROR(tg_safetensors_save(P(ctx), P(path), 1, P(named), 0, NULL))) \
    /* dot.h */ \
    X(tg_dot_write, IS_ERROR(tg_dot_write(P(stderr), 1, P(outs), NULL))) \
    X(tg_dot_save, IS_ERROR(tg_dot_save(P(path), 1, P(outs), NULL))) \
    X(tg_backward_set_recording, IS_FALSE(tg_backward_set_recording(P(ctx), true))) \
    X(tg_backward_page_save, IS_ERROR(tg_backward_page_save(P(path), P(x), NULL))) \
    /* gradcheck.h */ \
    X(tg_gradcheck, IS_ERROR(tg_gradcheck(P(ctx), P(identity), NULL, 1, P(xs), NULL, P(&report)))) \
    X(tg_gradgradcheck, IS_ERROR(tg_gradgradcheck(P(ctx), P(identity), NULL, 1, P(xs), NULL, P(&report)))) \
    X(tg_gradcheck_print, NO_CRASH(tg_gradcheck_print(P(&report), NULL))) \
    X(tg_gradcheck_report_free, NO_CRASH(tg_gradcheck_report_free(P(&report)))) \
    /* jvp.h */ \
    X(tg_jvp, IS_ERROR(tg_jvp(P(x), 1, P(xs), P(xs), P(&slots[0])))) \
    /* nn.h */ \
    X(tg_params_count, IS_NEG(tg_params_count(PARAMS(2)))) \
    X(tg_params_zero_grad, NO_CRASH(tg_params_zero_grad(PARAMS(2)))) \
    X(tg_activate, IS_NULL(tg_activate(P(x), TG_ACT_RELU))) \
    NOPTR(tg_activation_name) \
    X(tg_init_fill_fans, IS_ERROR(tg_init_fill_fans(P(x), TG_INIT_XAVIER, 1, 1, 1, P(&rng)))) \
    X(tg_init_fill, IS_ERROR(tg_init_fill(P(x), TG_INIT_XAVIER, 1.0, P(&rng)))) \
    NOPTR(tg_init_name) \
    X(tg_layer_new, IS_NULL(tg_layer_new(P(ctx), TG_F64, 2, 2, TG_ACT_NONE, TG_INIT_XAVIER, P(&rng)))) \
    X(tg_layer_free, NO_CRASH(tg_layer_free(P(NULL)))) \
    X(tg_layer_linear, IS_NULL(tg_layer_linear(P(layer), P(x)))) \
    X(tg_layer_forward, IS_NULL(tg_layer_forward(P(layer), P(x)))) \
    X(tg_layer_weight, IS_NULL(tg_layer_weight(P(layer)))) \
    X(tg_layer_bias, IS_NULL(tg_layer_bias(P(layer)))) \
    X(tg_layer_activation, IS(tg_layer_activation(P(layer)), (tg_activation)-1)) \
    X(tg_layer_in, IS_NEG(tg_layer_in(P(layer)))) \
    X(tg_layer_out, IS_NEG(tg_layer_out(P(layer)))) \
    X(tg_layer_params, IS(tg_layer_params(P(layer)).count, 0)) \
    X(tg_mlp_new, IS_NULL(tg_mlp_new(P(ctx), TG_F64, 1, P(shape), P(acts), TG_INIT_XAVIER, P(&rng)))) \
    X(tg_mlp_free, NO_CRASH(tg_mlp_free(P(NULL)))) \
    X(tg_mlp_model, IS_NULL(tg_mlp_model(P(mlp)))) \
    X(tg_mlp_clone, IS_NULL(tg_mlp_clone(P(mlp), P(ctx)))) \
    X(tg_mlp_init, IS_ERROR(tg_mlp_init(P(mlp), TG_INIT_XAVIER, 1.0, P(&rng)))) \
    X(tg_mlp_forward, IS_NULL(tg_mlp_forward(P(mlp), P(x)))) \
    X(tg_mlp_depth, IS_NEG(tg_mlp_depth(P(mlp)))) \
    X(tg_mlp_layer, IS_NULL(tg_mlp_layer(P(mlp), 1))) \
    X(tg_mlp_params, IS(tg_mlp_params(P(mlp)).count, 0)) \
    X(tg_mlp_param_count, IS_NEG(tg_mlp_param_count(P(mlp)))) \
    X(tg_mlp_print, NO_CRASH(tg_mlp_print(P(mlp), stderr))) \
    X(tg_loss_mse, IS_NULL(tg_loss_mse(P(x), P(x)))) \
    X(tg_loss_half_sse, IS_NULL(tg_loss_half_sse(P(x), P(x)))) \
    X(tg_loss_bce, IS_NULL(tg_loss_bce(P(x), P(x), TG_REDUCE_MEAN))) \
    X(tg_loss_bce_logits, IS_NULL(tg_loss_bce_logits(P(x), P(x), TG_REDUCE_MEAN))) \
    X(tg_loss_softmax_ce, IS_NULL(tg_loss_softmax_ce(P(x), P(x)))) \
    X(tg_loss_l2, IS_NULL(tg_loss_l2(PARAMS(2), 1.0))) \
    X(tg_optim_sgd_new, IS_NULL(tg_optim_sgd_new(PARAMS(2), 0.1))) \
    X(tg_optim_momentum_new, IS_NULL(tg_optim_momentum_new(PARAMS(2), 0.1, 0.9))) \
    X(tg_optim_adam_new, IS_NULL(tg_optim_adam_new(PARAMS(2), 0.1, 0.9, 0.999, 1e-8))) \
    X(tg_optim_adamw_new, IS_NULL(tg_optim_adamw_new(PARAMS(2), 0.1, 0.9, 0.999, 1e-8, 0.01))) \
    X(tg_optim_free, NO_CRASH(tg_optim_free(P(NULL)))) \
    X(tg_optim_step, IS_ERROR(tg_optim_step(P(opt)))) \
    X(tg_optim_zero_grad, NO_CRASH(tg_optim_zero_grad(P(opt)))) \
    X(tg_optim_lr, IS_NAN(tg_optim_lr(P(opt)))) \
    X(tg_optim_set_lr, NO_CRASH(tg_optim_set_lr(P(opt), 0.1))) \
    X(tg_optim_set_weight_decay, IS_ERROR(tg_optim_set_weight_decay(P(opt), TG_DECAY_L2, 0.1))) \
    X(tg_optim_add_group, IS_NEG(tg_optim_add_group(P(opt), PARAMS(2), 1.0, 0.0))) \
    X(tg_optim_group_of, IS_NEG(tg_optim_group_of(P(opt), P(items[0])))) \
    X(tg_optim_state, IS(tg_optim_state(P(opt)).count, 0)) \
    X(tg_optim_steps, IS_NEG(tg_optim_steps(P(opt)))) \
    X(tg_optim_set_steps, NO_CRASH(tg_optim_set_steps(P(opt), 1))) \
    X(tg_clip_grad_norm, IS(tg_clip_grad_norm(PARAMS(2), 1.0), -1)) \
    NOPTR(tg_lr_step) \
    NOPTR(tg_lr_cosine) \
    X(tg_perceptron_train, IS_ERROR(tg_perceptron_train(P(x), P(&number), P(x), P(outs[1]), 1.0, 1, no_row, NULL, NULL))) \
    X(tg_perceptron_misclassified, IS_NEG(tg_perceptron_misclassified(P(x), 0.0, P(x), P(x), counts))) \
    X(tg_perceptron_update, IS_ERROR(tg_perceptron_update(P(x), P(&number), P(x), P(x), 1.0, 0))) \
    X(tg_perceptron_predict, IS_NULL(tg_perceptron_predict(P(x), 0.0, P(x)))) \
    X(tg_logistic_fit, IS_ERROR(tg_logistic_fit(P(layer), P(x), P(x), 0.1, 1, NULL))) \
    /* model.h */ \
    NOPTR(tg_layer_kind_name) \
    NOPTR(tg_layer_kind_def_of) \
    X(tg_layer_kind_find, IS_NEG(tg_layer_kind_find(P("dense")))) \
    X(tg_layer_kind_register, IS_NEG(tg_layer_kind_register(ctx, P(&walk_kind)))) \
    X(tg_module_add_tensor, IS_NULL(tg_module_add_tensor(P(cell), P("extra"), false, 1, P(sample_shape)))) \
    X(tg_module_shape_error, IS_ERROR(tg_module_shape_error(P(cell), 1, P(sample_shape), P("[n, 2]")))) \
    X(tg_module_ctx, IS_NULL(tg_module_ctx(P(cell)))) \
    X(tg_module_dtype, IS(tg_module_dtype(P(cell)), TG_F32)) \
    X(tg_module_training, IS_FALSE(tg_module_training(P(cell)))) \
    X(tg_module_rng, IS_NULL(tg_module_rng(P(cell)))) \
    X(tg_module_torch_name, IS_NULL(tg_module_torch_name(P(cell), 0))) \
    X(tg_module_new, IS_NULL(tg_module_new(P(ctx), TG_F64, P(&rnn_spec), P(&rng)))) \
    X(tg_module_free, NO_CRASH(tg_module_free(P(NULL)))) \
    X(tg_module_forward, IS_NULL(tg_module_forward(P(cell), P(x)))) \
    X(tg_module_params, IS(tg_module_params(P(cell)).count, 0)) \
    X(tg_module_buffers, IS(tg_module_buffers(P(cell)).count, 0)) \
    X(tg_module_set_training, NO_CRASH(tg_module_set_training(P(cell), false))) \
    X(tg_module_spec, IS_NULL(tg_module_spec(P(cell)))) \
    X(tg_recurrent_step, IS_NULL(tg_recurrent_step(P(cell), P(x), NULL, NULL, NULL))) \
    X(tg_recurrent_unroll, IS_NULL(tg_recurrent_unroll(P(cell), P(x), NULL, NULL, NULL, NULL))) \
    X(tg_model_new, IS_NULL(tg_model_new(P(ctx), TG_F64, 1, sample_shape, 1, P(dense_spec), P(&rng)))) \
    X(tg_model_free, NO_CRASH(tg_model_free(P(NULL)))) \
    X(tg_model_forward, IS_NULL(tg_model_forward(P(model), P(x)))) \
    X(tg_model_params, IS(tg_model_params(P(model)).count, 0)) \
    X(tg_model_buffers, IS(tg_model_buffers(P(model)).count, 0)) \
    X(tg_model_tensors, IS(tg_model_tensors(P(model)).count, 0)) \
    X(tg_model_param_count, IS(tg_model_param_count(P(model)), 0)) \
    X(tg_model_depth, IS(tg_model_depth(P(model)), 0)) \
    X(tg_model_module, IS_NULL(tg_model_module(P(model), 0))) \
    X(tg_model_find, IS_NULL(tg_model_find(P(model), P("dense1")))) \
    X(tg_model_dtype, IS(tg_model_dtype(P(model)), TG_F32)) \
    X(tg_model_ctx, IS_NULL(tg_model_ctx(P(model)))) \
    X(tg_model_input_shape, IS(tg_model_input_shape(P(model), model_shape), 0)) \
    X(tg_model_set_training, NO_CRASH(tg_model_set_training(P(model), false))) \
    X(tg_model_reseed, NO_CRASH(tg_model_reseed(P(model), 1))) \
    X(tg_model_training, IS_FALSE(tg_model_training(P(model)))) \
    X(tg_model_print, NO_CRASH(tg_model_print(P(model), stderr))) \
    X(tg_model_clone, IS_NULL(tg_model_clone(P(model), P(ctx)))) \
    X(tg_model_forward_fn, IS_NULL(tg_model_forward_fn(P(model), P(x)))) \
    X(tg_model_clone_fn, IS_NULL(tg_model_clone_fn(P(model), P(ctx)))) \
    X(tg_model_free_fn, NO_CRASH(tg_model_free_fn(P(NULL)))) \
    X(tg_model_params_fn, IS(tg_model_params_fn(P(model)).count, 0)) \
    X(tg_model_buffers_fn, IS(tg_model_buffers_fn(P(model)).count, 0)) \
    X(tg_model_reseed_fn, NO_CRASH(tg_model_reseed_fn(P(model), 1))) \
    X(tg_model_set_training_fn, IS_FALSE(tg_model_set_training_fn(P(model), true))) \
    X(tg_model_dot_save, IS_ERROR(tg_model_dot_save(P(model), P(x), P(path), NULL))) \
    X(tg_model_spec_text, IS_NULL(tg_model_spec_text(P(model)))) \
    X(tg_model_from_spec_text, IS_NULL(tg_model_from_spec_text(P(ctx), P("tapegrad-model 1\n"), NULL))) \
    X(tg_model_spec_diff, IS_FALSE(tg_model_spec_diff(P(model), P(model), P(buf), sizeof buf))) \
    X(tg_model_save, IS(tg_model_save(P(model), P(path), NULL, 0), TG_ERR_ARG)) \
    X(tg_model_load, IS_NULL(tg_model_load(P(ctx), P(path), NULL))) \
    X(tg_model_load_into, IS(tg_model_load_into(P(model), P(path), NULL, NULL), TG_ERR_ARG)) \
    X(tg_model_torch_name, IS_NULL(tg_model_torch_name(P(model), 0, P(buf), sizeof buf))) \
    X(tg_model_save_safetensors, IS_ERROR(tg_model_save_safetensors(P(model), P(path)))) \
    X(tg_model_load_safetensors, IS_ERROR(tg_model_load_safetensors(P(model), P(path), NULL, NULL))) \
    X(tg_model_export_c, IS_ERROR(tg_model_export_c(P(model), P("m"), P(path)))) \
    X(tg_model_export_c_int8, IS_ERROR(tg_model_export_c_int8(P(model), P("m"), P(path)))) \
    /* op.h */ \
    X(tg_op_register, IS_NULL(tg_op_register(P(ctx), P(&op_def)))) \
    X(tg_op_find, IS_NULL(tg_op_find(P(ctx), P("none")))) \
    X(tg_op_name_of, IS_NULL(tg_op_name_of(P(op)))) \
    X(tg_op_def_of, IS_NULL(tg_op_def_of(P(op)))) \
    X(tg_op_apply, IS_NULL(tg_op_apply(P(op), 1, P(xs), NULL))) \
    /* ops.h */ \
    NOPTR(tg_op_name) \
    X(tg_matmul, IS_NULL(tg_matmul(P(x), P(x)))) \
    X(tg_matmul_t, IS_NULL(tg_matmul_t(P(x), P(x), false, true))) \
    X(tg_linear, IS_NULL(tg_linear(P(x), P(x), NULL))) \
    X(tg_add, IS_NULL(tg_add(P(x), P(x)))) \
    X(tg_sub, IS_NULL(tg_sub(P(x), P(x)))) \
    X(tg_mul, IS_NULL(tg_mul(P(x), P(x)))) \
    X(tg_div, IS_NULL(tg_div(P(x), P(x)))) \
    X(tg_neg, IS_NULL(tg_neg(P(x)))) \
    X(tg_add_scalar, IS_NULL(tg_add_scalar(P(x), 1.0))) \
    X(tg_mul_scalar, IS_NULL(tg_mul_scalar(P(x), 1.0))) \
    X(tg_sigmoid, IS_NULL(tg_sigmoid(P(x)))) \
    X(tg_tanh, IS_NULL(tg_tanh(P(x)))) \
    X(tg_relu, IS_NULL(tg_relu(P(x)))) \
    X(tg_step, IS_NULL(tg_step(P(x)))) \
    X(tg_exp, IS_NULL(tg_exp(P(x)))) \
    X(tg_log, IS_NULL(tg_log(P(x)))) \
    X(tg_sigmoid_backward, IS_NULL(tg_sigmoid_backward(P(x), P(x)))) \
    X(tg_tanh_backward, IS_NULL(tg_tanh_backward(P(x), P(x)))) \
    X(tg_relu_backward, IS_NULL(tg_relu_backward(P(x), P(x)))) \
    X(tg_leaky_relu, IS_NULL(tg_leaky_relu(P(x), 0.1))) \
    X(tg_elu, IS_NULL(tg_elu(P(x), 1.0))) \
    X(tg_softplus, IS_NULL(tg_softplus(P(x)))) \
    X(tg_silu, IS_NULL(tg_silu(P(x)))) \
    X(tg_gelu, IS_NULL(tg_gelu(P(x)))) \
    X(tg_gelu_tanh, IS_NULL(tg_gelu_tanh(P(x)))) \
    X(tg_leaky_relu_backward, IS_NULL(tg_leaky_relu_backward(P(x), P(x), 0.1))) \
    X(tg_elu_backward, IS_NULL(tg_elu_backward(P(x), P(x), 1.0))) \
    X(tg_softplus_backward, IS_NULL(tg_softplus_backward(P(x), P(x)))) \
    X(tg_silu_backward, IS_NULL(tg_silu_backward(P(x), P(x)))) \
    X(tg_gelu_backward, IS_NULL(tg_gelu_backward(P(x), P(x)))) \
    X(tg_gelu_tanh_backward, IS_NULL(tg_gelu_tanh_backward(P(x), P(x)))) \
    X(tg_softmax, IS_NULL(tg_softmax(P(x)))) \
    X(tg_log_softmax, IS_NULL(tg_log_softmax(P(x)))) \
    X(tg_softmax_masked, IS_NULL(tg_softmax_masked(P(x), 1.0, NULL, false))) \
    X(tg_scaled_dot_product_attention, IS_NULL(tg_scaled_dot_product_attention(P(x), P(x), P(x), NULL, false, 0.0, NULL))) \
    X(tg_multi_head_attention, IS_NULL(tg_multi_head_attention(P(x), 1, NULL, false, 0.0, NULL))) \
    X(tg_gelu_linear, IS_NULL(tg_gelu_linear(P(x), P(x), NULL))) \
    X(tg_layer_norm_linear, IS_NULL(tg_layer_norm_linear(P(x), NULL, NULL, 1e-5, P(x), NULL))) \
    X(tg_layer_norm, IS_NULL(tg_layer_norm(P(x), NULL, NULL, 1e-5))) \
    X(tg_rms_norm, IS_NULL(tg_rms_norm(P(x), NULL, 1e-5))) \
    X(tg_layer_norm_backward, IS_NULL(tg_layer_norm_backward(P(x), P(x), 1e-5))) \
    X(tg_rms_norm_backward, IS_NULL(tg_rms_norm_backward(P(x), P(x), 1e-5))) \
    X(tg_abs, IS_NULL(tg_abs(P(x)))) \
    X(tg_sqrt, IS_NULL(tg_sqrt(P(x)))) \
    X(tg_log1p, IS_NULL(tg_log1p(P(x)))) \
    X(tg_expm1, IS_NULL(tg_expm1(P(x)))) \
    X(tg_erf, IS_NULL(tg_erf(P(x)))) \
    X(tg_sin, IS_NULL(tg_sin(P(x)))) \
    X(tg_cos, IS_NULL(tg_cos(P(x)))) \
    X(tg_pow_scalar, IS_NULL(tg_pow_scalar(P(x), 2.0))) \
    X(tg_pow, IS_NULL(tg_pow(P(x), P(x)))) \
    X(tg_clamp, IS_NULL(tg_clamp(P(x), 0.0, 1.0))) \
    X(tg_maximum, IS_NULL(tg_maximum(P(x), P(x)))) \
    X(tg_minimum, IS_NULL(tg_minimum(P(x), P(x)))) \
    X(tg_where, IS_NULL(tg_where(P(x), P(x), P(x)))) \
    X(tg_masked_fill, IS_NULL(tg_masked_fill(P(x), P(x), -INFINITY))) \
    X(tg_sum, IS_NULL(tg_sum(P(x)))) \
    X(tg_mean, IS_NULL(tg_mean(P(x)))) \
    X(tg_sum_axis, IS_NULL(tg_sum_axis(P(x), 1, false))) \
    X(tg_mean_axis, IS_NULL(tg_mean_axis(P(x), 1, false))) \
    X(tg_max_axis, IS_NULL(tg_max_axis(P(x), 1, false, NULL))) \
    X(tg_min_axis, IS_NULL(tg_min_axis(P(x), 1, false, NULL))) \
    X(tg_argmax, IS_NULL(tg_argmax(P(x), 1, false))) \
    X(tg_argmin, IS_NULL(tg_argmin(P(x), 1, false))) \
    X(tg_logsumexp, IS_NULL(tg_logsumexp(P(x), 1, false))) \
    X(tg_reshape, IS_NULL(tg_reshape(P(x), 2, P(shape)))) \
    X(tg_transpose, IS_NULL(tg_transpose(P(x), 0, 1))) \
    X(tg_permute, IS_NULL(tg_permute(P(x), P(axes)))) \
    X(tg_expand, IS_NULL(tg_expand(P(x), 2, P(shape)))) \
    X(tg_sum_to, IS_NULL(tg_sum_to(P(x), 2, P(shape)))) \
    X(tg_slice, IS_NULL(tg_slice(P(x), 0, 0, 1, 1))) \
    X(tg_index_select, IS_NULL(tg_index_select(P(x), 0, P(x)))) \
    X(tg_index_add, IS_NULL(tg_index_add(P(x), 0, P(x), 2))) \
    X(tg_gather, IS_NULL(tg_gather(P(x), 0, P(x)))) \
    X(tg_scatter_add, IS_NULL(tg_scatter_add(P(x), 0, P(x), 2, P(shape)))) \
    X(tg_concat, IS_NULL(tg_concat(2, P(xs), 0))) \
    X(tg_stack, IS_NULL(tg_stack(2, P(xs), 0))) \
    X(tg_pad, IS_NULL(tg_pad(P(x), P(shape), P(shape), 0.0))) \
    X(tg_detach, IS_NULL(tg_detach(P(x)))) \
    X(tg_mse_loss, IS_NULL(tg_mse_loss(P(x), P(x)))) \
    X(tg_cross_entropy, IS_NULL(tg_cross_entropy(P(x), P(x)))) \
    X(tg_cross_entropy_ex, IS_NULL(tg_cross_entropy_ex(P(x), P(x), NULL))) \
    X(tg_conv2d, IS_NULL(tg_conv2d(P(x), P(x), P(x), 1, 1, 0, 0))) \
    X(tg_conv1d, IS_NULL(tg_conv1d(P(x), P(x), P(x), 1, 0, 1, 1))) \
    X(tg_conv2d_backward_input, IS_NULL(tg_conv2d_backward_input(P(x), P(x), 1, 1, 0, 0, 2, 2))) \
    X(tg_conv2d_backward_weight, IS_NULL(tg_conv2d_backward_weight(P(x), P(x), 1, 1, 0, 0, 1, 1))) \
    X(tg_max_pool2d, IS_NULL(tg_max_pool2d(P(x), 2, 2, 0))) \
    X(tg_max_pool2d_backward, IS_NULL(tg_max_pool2d_backward(P(x), P(x), 2, 2, 0))) \
    X(tg_max_pool2d_gather, IS_NULL(tg_max_pool2d_gather(P(x), P(x), 2, 2, 0))) \
    X(tg_relu_max_pool2d, IS_NULL(tg_relu_max_pool2d(P(x), 2, 2, 0))) \
    X(tg_avg_pool2d, IS_NULL(tg_avg_pool2d(P(x), 2, 2, 0))) \
    X(tg_avg_pool2d_backward, IS_NULL(tg_avg_pool2d_backward(P(x), 2, 2, 2, 2, 0))) \
    X(tg_global_avg_pool2d, IS_NULL(tg_global_avg_pool2d(P(x)))) \
    X(tg_tape_entry_at, IS_FALSE(tg_tape_entry_at(P(ctx), 0, P(&entry)))) \
    X(tg_tape_entry_label, NO_CRASH(tg_tape_entry_label(P(ctx), 0, P(buf), sizeof buf))) \
    X(tg_tape_entry_vjp_label, NO_CRASH(tg_tape_entry_vjp_label(P(ctx), 0, 0, P(buf), sizeof buf))) \
    X(tg_tensor_creator, IS_NEG(tg_tensor_creator(P(x)))) \
    /* plot.h */ \
    X(tg_curves_write_svg, IS_ERROR(tg_curves_write_svg(P(ctx), P(&curves), P(stderr)))) \
    X(tg_curves_save_svg, IS_ERROR(tg_curves_save_svg(P(ctx), P(&curves), P(path)))) \
    X(tg_curves_save_csv, IS_ERROR(tg_curves_save_csv(P(ctx), P(&curves), P(path)))) \
    X(tg_history_save_svg, IS_ERROR(tg_history_save_svg(P(ctx), P(&hist), P(path))))

/* One function per line: returns the line's check, under the current walk. */
#define DEFINE_WALK(name, check) \
    static bool walk_##name(void) { return check; }
#define DEFINE_NONE(name)
/* Inside the table the tensor fixtures note that they were read (a macro
 * does not expand itself again, so the inner name is the variable). */
#define x (took_tensor(), x)
#define xs (took_tensor(), xs)
#define outs (took_tensor(), outs)
API_NULL_WALKS(DEFINE_WALK, DEFINE_NONE)
#undef x
#undef xs
#undef outs

typedef struct {
    const char *name;
    bool (*call)(void); /* NULL: no pointer argument */
} walk_entry;

#define ENTRY(name, check) {#name, walk_##name},
#define ENTRY_NONE(name) {#name, NULL},
static const walk_entry table[] = {API_NULL_WALKS(ENTRY, ENTRY_NONE)};
enum { TABLE_SIZE = sizeof table / sizeof *table };

static struct criterion_test_params entries(void)
{
    static size_t index[TABLE_SIZE];
    for (size_t i = 0; i < TABLE_SIZE; i++)
        index[i] = i;
    return cr_make_param_array(size_t, index, TABLE_SIZE);
}

ParameterizedTestParameters(api_null, every_pointer_argument) { return entries(); }

ParameterizedTest(size_t *i, api_null, every_pointer_argument, .init = setup, .fini = teardown)
{
    const walk_entry *e = &table[*i];
    cr_log_info("walking %s", e->name); /* shown with --verbose: names a crash */
    if (!e->call)
        return; /* no pointer argument: nothing to walk */
    w = (walk){.null_at = -1};
    cr_expect(e->call(), "%s with every pointer argument NULL: not its error value", e->name);
    int n = w.seen;
    cr_assert_gt(n, 0, "%s: its table line marks no argument with P()", e->name);
    for (int k = 0; k < n; k++) {
        tg_ctx_clear_error(ctx);
        w = (walk){.null_at = k};
        cr_expect(e->call(), "%s with pointer argument %d of %d NULL: not its error value", e->name, k + 1, n);
    }
}

/* ---- the stale walks ---- */

static tg_tensor *stale;
static tg_tensor *stale_x2, *stale_w;

/* The program: a step tensor kept across tg_tape_reset, then a
 * step of the same ops (in the default mode its memory now holds that step's
 * tensors). */
static void make_stale(bool checked)
{
    setup();
    tg_ctx_set_checked(ctx, checked);
    stale_x2 = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(64, 32), 0, 1);
    stale_w = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(32, 32), 0, 1);
    tg_tensor_set_requires_grad(stale_w, true);
    stale = tg_tanh(tg_matmul_t(stale_x2, stale_w, false, true));
    cr_assert_not_null(stale, "%s", tg_ctx_error(ctx));
    tg_tape_reset(ctx);
    (void)tg_mul_scalar(stale_x2, 100.0);
    cr_assert_not_null(tg_tanh(tg_matmul_t(stale_x2, stale_w, false, true)), "%s", tg_ctx_error(ctx));
    x = outs[0] = outs[1] = xs[0] = xs[1] = stale;
}
static void setup_stale_checked(void) { make_stale(true); }
static void setup_stale_reused(void) { make_stale(false); }

ParameterizedTestParameters(api_null, a_stale_step_tensor_is_reported_in_checked_mode) { return entries(); }

ParameterizedTest(size_t *i, api_null, a_stale_step_tensor_is_reported_in_checked_mode, .init = setup_stale_checked,
                  .fini = teardown)
{
    const walk_entry *e = &table[*i];
    cr_log_info("walking %s", e->name);
    if (!e->call)
        return;
    w = (walk){.null_at = NO_NULL};
    bool returned_error_value = e->call();
    if (!w.took_tensor)
        return; /* no tensor argument */
    cr_expect(returned_error_value, "%s given a stale step tensor: not its error value", e->name);
    tg_tensor *again = tg_add(stale_x2, stale_x2);
    cr_expect_not_null(again, "%s given a stale step tensor left the context unusable: %s", e->name,
                       tg_ctx_error(ctx));
}

ParameterizedTestParameters(api_null, a_stale_step_tensor_overwritten_by_a_later_step_crashes_no_function)
{
    return entries();
}

ParameterizedTest(size_t *i, api_null, a_stale_step_tensor_overwritten_by_a_later_step_crashes_no_function,
                  .init = setup_stale_reused, .fini = teardown)
{
    const walk_entry *e = &table[*i];
    cr_log_info("walking %s", e->name);
    if (!e->call)
        return;
    w = (walk){.null_at = NO_NULL};
    (void)e->call(); /* a crash fails the test: each runs in its own process */
    if (!w.took_tensor)
        return;
    tg_ctx_clear_error(ctx);
    tg_tensor *again = tg_add(stale_x2, stale_x2);
    cr_expect_not_null(again, "%s given a stale step tensor left the context unusable: %s", e->name,
                       tg_ctx_error(ctx));
}

/* The table lists every public function, and only those. */
Test(api_null, the_table_lists_every_public_function)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh '%s/tools/check_api_docs.sh' --list '%s'", TAPEGRAD_SOURCE_DIR, TAPEGRAD_SOURCE_DIR);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[512];
    int declared = 0, missing = 0;
    bool listed[TABLE_SIZE] = {0};
    while (fgets(line, sizeof line, p)) {
        char *name = strchr(line, '\t');
        if (!name)
            continue;
        name++;
        name[strcspn(name, "\r\n")] = 0;
        declared++;
        bool found = false;
        for (size_t i = 0; i < TABLE_SIZE && !found; i++)
            if (strcmp(table[i].name, name) == 0)
                found = listed[i] = true;
        if (!found) {
            missing++;
            cr_expect(found, "%s has no line in tests/test_api_null.c: add X(%s, CHECK(%s(P(...), ...))) or "
                      "NOPTR(%s)", name, name, name, name);
        }
    }
    cr_assert_eq(pclose(p), 0, "tools/check_api_docs.sh --list failed");
    cr_assert_gt(declared, 100, "the header scan found only %d functions", declared);
    for (size_t i = 0; i < TABLE_SIZE; i++)
        cr_expect(listed[i], "%s is in the table but no header declares it (renamed or removed?)", table[i].name);
    cr_expect_eq(missing, 0);
}
