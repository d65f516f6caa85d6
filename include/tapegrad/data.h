/* tapegrad/data.h: datasets, minibatches, checkpoints and a training loop.
 *
 * Reading data:
 *  - IDX files (MNIST, Fashion-MNIST): tg_idx_read. Gzipped files (.gz, found by
 *    their magic bytes 1f 8b, not their name) are decoded in process by a small
 *    self-contained inflate (RFC 1951 deflate inside RFC 1952 gzip, CRC32 and
 *    length checked): no zlib, no external program. tg_gzip_decode is public.
 *  - numeric CSV with an optional header line: tg_csv_read.
 * A reader either succeeds or returns an error status (TG_ERR_IO when the file
 * cannot be read, TG_ERR_FORMAT when its content is wrong, with the file, the
 * offset/row/column and what was expected in the message) and leaves the
 * caller's output untouched.
 *
 * Datasets keep images as bytes (60000 Fashion-MNIST images: 47 MB) and
 * convert only the current minibatch, into a persistent batch tensor
 * (tg_loader: no allocation per batch, seeded shuffling).
 *
 *     tg_dataset *train = tg_dataset_load_mnist(ctx, "/usr/share/datasets/fashion-mnist", "train");
 *     tg_train_config cfg = tg_train_defaults();
 *     cfg.forward = my_forward; cfg.model = mlp; cfg.loss = tg_loss_softmax_ce;
 *     cfg.optimizer = opt; cfg.epochs = 10; cfg.batch_size = 64; cfg.test = test;
 *     tg_history history = {0};
 *     tg_train(ctx, train, &cfg, &history);
 *
 * Checkpoint file format, version 1 (all integers little-endian, floats IEEE 754
 * little-endian, so files move between machines):
 *
 *     offset  size  field
 *     0       8     magic "TGCKPT\r\n"
 *     8       4     u32 version = 1
 *     12      4     u32 flags: bit 0 = optimizer state present; other bits 0
 *     16      4     u32 n_params: parameter tensors
 *     20      4     u32 n_state: optimizer state tensors (0 without optimizer)
 *     24      8     i64 epoch: epochs completed (the caller's counter)
 *     32      8     i64 optimizer steps (0 without optimizer)
 *     40      8     u64 payload bytes: the length of the records below
 *     48      ...   n_params + n_state records, parameters first, each:
 *                     u16 name length L (<= 1024), L bytes name (UTF-8, no NUL),
 *                     u8 dtype (0 = float32, 1 = float64), u8 rank (0..4),
 *                     rank × i64 dims, size × (4 or 8) bytes data (row-major)
 *     48+payload 4  u32 CRC32 (IEEE 802.3, as gzip) of every byte before it
 *
 * Version 2 is version 1 with one more flag: bit 1 = a spec block opens the
 * payload, u32 length S (<= 1 MiB) and S bytes of text (UTF-8, no NUL)
 * describing the model the tensors belong to (tapegrad/model.h), so the file
 * rebuilds its model alone. tg_checkpoint_save writes version 1 (no spec),
 * tg_checkpoint_save_spec version 2; a load reads both.
 *
 * A save writes a temporary file <path>.tmp.<pid>.XXXXXX in the target's
 * directory, fsyncs it, renames it over the target and fsyncs the directory: a
 * crash or a failed write leaves the previous checkpoint whole. A temporary
 * left by a killed save is removed by the next save or load of the same path
 * once its pid is gone (only that path's temporaries, only dead pids). Every
 * count in a header is checked against the file's size before anything is
 * allocated for it. A load reads and validates the whole file
 * (magic, version, lengths, CRC, then every record's name, dtype and shape
 * against the tensors given) before it writes a single value, so a bad file
 * leaves the model untouched.
 */
#ifndef TAPEGRAD_DATA_H
#define TAPEGRAD_DATA_H

#include <stdio.h>

#include "tapegrad/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- checksums and gzip ------------------------------------------------ */

/* CRC32 (IEEE 802.3, reflected 0xEDB88320) of n bytes continuing crc (start
 * with 0): tg_crc32(0, "123456789", 9) = 0xCBF43926. NULL data: crc. */
TG_API uint32_t tg_crc32(uint32_t crc, const void *data, size_t n);

/* Decodes a gzip image (one or more members) into a new malloc'd buffer
 * (*out, *out_size; free it with free(); never NULL, even for empty output).
 * what names the data in messages (a file name). The output is capped at
 * tg_gzip_default_max(size) bytes, so a small file cannot inflate to
 * gigabytes. Errors (TG_ERR_FORMAT, outputs untouched): not gzip, an
 * unsupported method or flag, a bad block type, an invalid Huffman code or
 * distance, a truncated stream, a CRC32 or length mismatch, trailing garbage,
 * output beyond the cap; TG_ERR_NOMEM; TG_ERR_ARG for NULL arguments. */
TG_API tg_status tg_gzip_decode(tg_ctx *ctx, const void *data, size_t size, const char *what, uint8_t **out,
                         size_t *out_size);
/* tg_gzip_decode with the output capped at max_out bytes (0: the default
 * cap); decoding stops as soon as the output would pass it. Errors: those of
 * tg_gzip_decode. */
TG_API tg_status tg_gzip_decode_max(tg_ctx *ctx, const void *data, size_t size, const char *what, size_t max_out,
                             uint8_t **out, size_t *out_size);
/* The default output cap for input_size bytes of gzip:
 * TG_GZIP_DEFAULT_RATIO · input_size + 1 MiB. Real data (images, numeric
 * text) compresses 2-10x; deflate's own limit is 1032x. */
#define TG_GZIP_DEFAULT_RATIO 64
TG_API size_t tg_gzip_default_max(size_t input_size);

/* Reads a whole file into a malloc'd buffer, decoding it when it starts with
 * the gzip magic (output capped at tg_gzip_default_max of the file's size).
 * Errors: TG_ERR_ARG (NULL path or outputs), TG_ERR_IO (cannot open/read),
 * those of tg_gzip_decode; outputs untouched on error. */
TG_API tg_status tg_file_read(tg_ctx *ctx, const char *path, uint8_t **out, size_t *out_size);
/* tg_file_read refusing more than max_bytes of content, before or after
 * decoding (0: no cap on plain files, the default cap on gzip). Errors: those
 * of tg_file_read; TG_ERR_FORMAT for content beyond max_bytes. */
TG_API tg_status tg_file_read_max(tg_ctx *ctx, const char *path, size_t max_bytes, uint8_t **out, size_t *out_size);

/* ---- IDX files ----------------------------------------------------------
 * magic: two zero bytes, a type code, the rank; rank × u32 big-endian dims;
 * the values, big-endian, row-major. */

typedef enum {
    TG_IDX_U8 = 0x08,
    TG_IDX_I8 = 0x09,
    TG_IDX_I16 = 0x0B,
    TG_IDX_I32 = 0x0C,
    TG_IDX_F32 = 0x0D,
    TG_IDX_F64 = 0x0E,
} tg_idx_type;

#define TG_IDX_MAX_RANK 8

typedef struct {
    tg_idx_type type;
    int rank;
    int64_t shape[TG_IDX_MAX_RANK];
    int64_t count; /* number of values: the product of the dims */
    void *data;    /* count values of the type, in host byte order (malloc'd) */
} tg_idx;

/* Reads an IDX file (gzipped or not) into *out. Errors (TG_ERR_FORMAT, *out
 * untouched): bad magic, unknown type code, rank 0 or > 8, a zero dim, data
 * shorter (truncated) or longer than the dims say; TG_ERR_IO; TG_ERR_NOMEM. */
TG_API tg_status tg_idx_read(tg_ctx *ctx, const char *path, tg_idx *out);
/* Writes idx uncompressed (big-endian). Errors: TG_ERR_IO, TG_ERR_ARG (bad
 * type, rank or count). */
TG_API tg_status tg_idx_write(tg_ctx *ctx, const char *path, const tg_idx *idx);
/* Frees the values and zeroes *idx. NULL is fine. */
TG_API void tg_idx_free(tg_idx *idx);
/* Bytes per value of type (0 for an unknown type). */
TG_API size_t tg_idx_type_size(tg_idx_type type);

/* ---- CSV files ------------------------------------------------------------
 * Comma-separated numbers, one row per line (\n or \r\n), every row with the
 * same number of fields; blank lines are skipped; fields may be padded with
 * spaces; "nan" and "inf" are accepted as strtod reads them. */

typedef enum {
    TG_CSV_HEADER_AUTO, /* the first line is a header when a field of it is not a number */
    TG_CSV_HEADER_YES,  /* the first line is a header */
    TG_CSV_HEADER_NO,   /* every line is data */
} tg_csv_header;

typedef struct {
    int64_t rows, cols;
    double *values; /* [rows, cols], row-major (malloc'd) */
    char **names;   /* cols column names from the header, NULL without one (one
                       block with the names: free it with tg_csv_free only) */
} tg_csv;

/* Reads a numeric CSV file into *out. Errors (TG_ERR_FORMAT naming the line
 * and column, *out untouched): a field that is not a number, a row with
 * another number of fields than the first, no data rows; TG_ERR_IO;
 * TG_ERR_NOMEM. */
TG_API tg_status tg_csv_read(tg_ctx *ctx, const char *path, tg_csv_header header, tg_csv *out);
/* The same for n bytes of text in memory (what names it in messages; NULL:
 * "(memory)"). Memory stays within a few times n (about 4n for the values at
 * most). Errors: those of tg_csv_read; TG_ERR_ARG for NULL text or out. */
TG_API tg_status tg_csv_parse(tg_ctx *ctx, const char *text, size_t n, const char *what, tg_csv_header header,
                       tg_csv *out);
/* Frees the values and names and zeroes *csv. NULL is fine. */
TG_API void tg_csv_free(tg_csv *csv);

/* ---- datasets ---------------------------------------------------------------
 * count samples of features inputs and outputs targets each. Inputs are stored
 * either as bytes, converted per batch to x = byte·byte_scale + byte_shift, or
 * as doubles. With classes > 0 the single target is a class index 0..classes-1
 * (batches give a [n] tensor of indices); otherwise batches give [n, outputs]. */
typedef struct {
    int64_t count;
    int64_t features;
    int64_t outputs;
    int classes;
    int sample_rank;            /* shape of one sample, e.g. 2 and [28, 28] */
    int64_t sample_shape[3];
    const uint8_t *bytes;       /* [count, features], or NULL */
    double byte_scale, byte_shift;
    const double *values;       /* [count, features] when bytes is NULL */
    const double *targets;      /* [count, outputs] */
    void *owned_;               /* storage freed by tg_dataset_free; NULL for views */
} tg_dataset;

/* A dataset from images [count, ...] of bytes (rank 2 or more) and labels
 * [count] of bytes, both IDX files; x = byte/255, classes = max label + 1.
 * NULL on error: the reader's errors, or files of other types or ranks or
 * counts (TG_ERR_FORMAT, naming both files). */
TG_API tg_dataset *tg_dataset_from_idx(tg_ctx *ctx, const char *images_path, const char *labels_path);
/* MNIST-layout directory: dir/<split>-images-idx3-ubyte[.gz] and
 * dir/<split>-labels-idx1-ubyte[.gz], split "train" or "t10k". NULL on error
 * (TG_ERR_IO when neither name exists, naming what was looked for). */
TG_API tg_dataset *tg_dataset_load_mnist(tg_ctx *ctx, const char *dir, const char *split);
/* A dataset copying x [count, features] and y [count, outputs] doubles
 * (classes > 0: outputs must be 1 and every y a class index). NULL on error
 * (TG_ERR_ARG naming the bad value). */
TG_API tg_dataset *tg_dataset_from_values(tg_ctx *ctx, int64_t count, int64_t features, const double *x,
                                   int64_t outputs, const double *y, int classes);
/* A view of samples [start, start + count) sharing data's storage (free the
 * view before data). NULL on a range outside data (TG_ERR_ARG). */
TG_API tg_dataset *tg_dataset_view(tg_ctx *ctx, const tg_dataset *data, int64_t start, int64_t count);
/* Frees a dataset (its storage unless it is a view). NULL is fine. */
TG_API void tg_dataset_free(tg_dataset *data);

/* The ten Fashion-MNIST class names, "T-shirt/top" ... "Ankle boot". */
extern const char *const tg_fashion_mnist_classes[10];

/* ---- minibatches ------------------------------------------------------- */

typedef struct tg_loader tg_loader;

/* Minibatches of batch_size samples (<= 0 or > count: the whole set, one
 * batch; 1: one sample at a time) converted to dtype into persistent tensors
 * made once here (the last, smaller batch of an epoch gets its own pair). The
 * dataset must outlive the loader. NULL on error (TG_ERR_ARG, TG_ERR_NOMEM). */
TG_API tg_loader *tg_loader_new(tg_ctx *ctx, const tg_dataset *data, int64_t batch_size, tg_dtype dtype);
TG_API void tg_loader_free(tg_loader *loader); /* NULL is fine */
/* Starts an epoch: samples in a random order drawn from rng, or in order when
 * rng is NULL. */
TG_API void tg_loader_start(tg_loader *loader, tg_rng *rng);
/* The next batch: *x [n, features] and *y ([n] class indices or [n, outputs]);
 * the tensors are the loader's and are overwritten by the next call. false at
 * the end of the epoch. */
TG_API bool tg_loader_next(tg_loader *loader, tg_tensor **x, tg_tensor **y);
/* Labels of another dtype than x: TG_I64 hands out class indices as integers
 * (for tg_cross_entropy and tg_index_select), TG_F32/TG_F64 as numbers (the
 * default: the loader's dtype). Takes effect from the next batch; tensors
 * returned before are freed. TG_ERR_ARG for i64 on a dataset without
 * classes or an unknown dtype; TG_ERR_ARG for a NULL loader (no context). */
TG_API tg_status tg_loader_set_label_dtype(tg_loader *loader, tg_dtype dtype);
TG_API tg_dtype tg_loader_label_dtype(const tg_loader *loader); /* TG_F32 for NULL */
TG_API int64_t tg_loader_batches(const tg_loader *loader); /* batches per epoch */
TG_API int64_t tg_loader_batch_size(const tg_loader *loader);

/* ---- training ---------------------------------------------------------- */

/* The model's output for a batch x [n, features]: logits [n, classes] for
 * classification (or [n, 1] probabilities for two classes), [n, outputs] for
 * regression. A step tensor; NULL on error. */
typedef tg_tensor *(*tg_forward_fn)(void *model, tg_tensor *x);
/* A scalar loss of the output and the batch targets (tg_loss_softmax_ce,
 * tg_loss_mse, ...). */
typedef tg_tensor *(*tg_loss_fn)(tg_tensor *output, tg_tensor *target);

typedef struct {
    int count;          /* epochs recorded */
    int capacity;
    int *epochs;        /* epoch numbers, 1-based */
    double *train_loss; /* mean loss over the epoch's samples */
    double *train_acc;  /* fraction right during the epoch (NaN without classes) */
    double *test_acc;   /* fraction right on the test set after it (NaN without one) */
    double *seconds;    /* wall time of the epoch, evaluation included */
} tg_history;

/* Appends one epoch's numbers (grows the arrays). Errors: TG_ERR_NOMEM. */
TG_API tg_status tg_history_append(tg_history *h, int epoch, double train_loss, double train_acc, double test_acc,
                            double seconds);
/* Frees the arrays and zeroes *h. NULL is fine. */
TG_API void tg_history_free(tg_history *h);
/* Writes "epoch,train_loss,train_acc,test_acc,seconds" and one row per epoch.
 * Errors: TG_ERR_IO naming the file. */
TG_API tg_status tg_history_save_csv(tg_ctx *ctx, const tg_history *h, const char *path);

/* The seam between data-parallel training and whatever sums gradients across
 * processes (MPI, NCCL, a parameter server): sums buffer [count] of dtype
 * element-wise over every process of the run, in place, so that each process
 * ends with the same sum; TG_OK or an error (which stops training). tg_train
 * calls it once per step on the process's gradient, already summed over its
 * threads: the gradients of all parameters (params_of order) end to end, each
 * weighted by the process's samples in the step, then that sample count as
 * the last value. After the sum tg_train divides by the summed count, which
 * gives every process the gradient of the whole global batch. Every process
 * must run the same number of steps. See examples/mpi_data_parallel.c. */
typedef tg_status (*tg_reduce_fn)(tg_ctx *ctx, void *buffer, int64_t count, tg_dtype dtype, void *user);

struct tg_train_config;
/* Called after every epoch (e.g. to save a checkpoint); a status other than
 * TG_OK stops training and is returned by tg_train. */
typedef tg_status (*tg_epoch_fn)(const struct tg_train_config *config, int epoch, const tg_history *h,
                                 void *user);

typedef struct tg_train_config {
    tg_forward_fn forward;
    void *model;
    tg_loss_fn loss;
    tg_optimizer *optimizer;
    int epochs;              /* epochs to run, counting those already done */
    int first_epoch;         /* epochs already done (resume): runs first_epoch+1 .. epochs */
    int64_t batch_size;      /* 1: one sample at a time; <= 0: full batch */
    int64_t eval_batch_size; /* for evaluation, 0: 1000 */
    tg_dtype dtype;          /* of the batch tensors */
    bool shuffle;            /* epoch e's order comes from seed + e, so a resumed run
                                sees the orders an uninterrupted one would */
    uint64_t seed;
    const tg_dataset *test;  /* evaluated after every epoch; NULL: none */
    int progress;            /* 0: quiet; 1: a progress line (see tg_train) */
    FILE *log;               /* where progress goes; NULL: stderr */
    tg_epoch_fn on_epoch;    /* may be NULL */
    void *user;
    /* Optional: puts the model in training (true) or eval mode (dropout off,
     * batch norm on its running statistics) and returns the mode it had.
     * tg_train runs its steps in training mode, tg_evaluate and the per-epoch
     * test in eval mode; each gives the model its mode back before it returns.
     * NULL: a model without modes. */
    bool (*set_training)(void *model, bool training);
    /* Data parallelism (threads > 1): each minibatch is split into `threads`
     * shares differing by at most one sample; worker 0 runs the model itself
     * on the caller's context, worker k its replica made by clone in a
     * context of its own (own tape and step memory, one thread). The
     * gradients are summed in worker order, weighted by share, into the
     * model's, and one optimizer step follows: the whole batch's gradient up
     * to rounding, and the same bits on every run with the same thread count.
     * The loss must be a mean over the batch's samples (tapegrad's losses
     * with TG_REDUCE_MEAN are). Workers run on the context's threads: make it
     * with tg_ctx_new(threads) or more. tg_train_use_mlp sets all of this but
     * threads for an MLP. */
    int threads;             /* 0 or 1: the whole batch on the caller's thread */
    void *(*clone)(const void *model, tg_ctx *ctx); /* a replica in ctx, equal values */
    void (*free_model)(void *model);                /* frees a replica */
    tg_params (*params_of)(const void *model);      /* trainable tensors, a fixed order */
    /* Optional: non-trainable state (batch-norm running statistics): after
     * each step the model's gets the share-weighted mean of the workers'
     * (within a process; across processes each keeps its own). */
    tg_params (*buffers_of)(const void *model);
    /* Optional: gives replica `worker` (1 .. threads-1) random streams of its
     * own (dropout masks), derived from the clone's and the worker index, so
     * that no two workers draw the same masks and a run repeats with the same
     * thread count. */
    void (*reseed)(void *replica, int worker);
    /* Optional: sums the gradient across processes (tg_reduce_fn); needs
     * params_of. NULL: this process alone. */
    tg_reduce_fn reduce;
    void *reduce_user;
} tg_train_config;

/* Sets config's forward, model, clone, free_model and params_of for mlp, so
 * that it trains with any thread count (the other fields are kept). Errors:
 * none; NULL arguments are ignored. */
TG_API void tg_train_use_mlp(tg_train_config *config, tg_mlp *mlp);
/* The same for a sequential model (tapegrad/model.h): forward, model, clone,
 * free_model, params_of, buffers_of (running statistics), set_training and
 * reseed (dropout streams). Errors: none;
 * NULL arguments are ignored. */
struct tg_model;
TG_API void tg_train_use_model(tg_train_config *config, struct tg_model *model);

/* Defaults: batch 64, eval batch 1000, float32, shuffled, seed 1, 1 epoch,
 * progress on; forward, loss and optimizer must be set. */
TG_API tg_train_config tg_train_defaults(void);

/* Runs epochs first_epoch+1 .. epochs over data: per batch zero-grad, forward,
 * loss, backward, optimizer step, tg_tape_reset. Appends one row per epoch to
 * history (may be NULL). The progress line (epoch, step, loss, accuracy,
 * samples/s, ETA) is redrawn in place (\r) when the log is a terminal;
 * otherwise it is one plain line per epoch, plus one every 10 s within long
 * epochs. Errors: TG_ERR_ARG (missing callbacks, a
 * test set of another width), any error of the model, loss, backward or
 * optimizer (training stops at the failing step), NaN loss (TG_ERR_ANOMALY),
 * the status of on_epoch. */
TG_API tg_status tg_train(tg_ctx *ctx, const tg_dataset *data, const tg_train_config *config, tg_history *history);

/* ---- evaluation -------------------------------------------------------- */

typedef struct {
    int64_t count;     /* samples */
    double loss;       /* mean loss (NaN without a loss function) */
    int64_t correct;   /* classification only */
    double accuracy;   /* correct / count (NaN without classes) */
    int classes;
    int64_t *confusion; /* [classes, classes]: row = true class, column = predicted */
} tg_evaluation;

/* Runs config's forward (grad mode off; eval mode with set_training) over data in batches of
 * eval_batch_size: mean loss, accuracy and confusion matrix. Like tg_train it
 * calls tg_tape_reset after every batch (the caller's step tensors go too). A one-column
 * output with two classes is read as a probability (> 0.5: class 1); wider
 * outputs by their largest entry. Errors: TG_ERR_ARG, the model's; *out is
 * untouched on error. */
TG_API tg_status tg_evaluate(tg_ctx *ctx, const tg_train_config *config, const tg_dataset *data, tg_evaluation *out);
TG_API void tg_evaluation_free(tg_evaluation *e); /* NULL is fine */
/* Prints the confusion matrix with class names (NULL: numbers) and each
 * class's recall. out NULL means stdout. */
TG_API void tg_confusion_print(const tg_evaluation *e, const char *const *class_names, FILE *out);

/* ---- checkpoints ------------------------------------------------------- */

/* Saves params (and opt's state and step count when opt is not NULL) and
 * epoch to path atomically (see the format above). Errors: TG_ERR_ARG (NULL
 * tensors, a name longer than 1024 bytes), TG_ERR_FREED (a freed tensor), TG_ERR_IO naming the file and
 * the failing call (the previous file at path is then intact). */
TG_API tg_status tg_checkpoint_save(tg_ctx *ctx, const char *path, tg_params params, const tg_optimizer *opt,
                             int64_t epoch);
/* Loads path into params (and opt's state and step count when opt is not NULL;
 * a file with optimizer state loads into params alone when opt is NULL) and
 * sets *epoch (may be NULL). Errors (nothing is written on any error):
 * TG_ERR_IO; TG_ERR_FORMAT for a bad magic or version, a truncated or longer
 * file, a CRC mismatch, a count, name, dtype or shape that differs from the
 * tensors given, no optimizer state when opt is given. */
TG_API tg_status tg_checkpoint_load(tg_ctx *ctx, const char *path, tg_params params, tg_optimizer *opt,
                             int64_t *epoch);
/* tg_checkpoint_save with spec text stored beside the tensors (version 2).
 * Errors as tg_checkpoint_save, and a NULL spec or one over 1 MiB (TG_ERR_ARG). */
TG_API tg_status tg_checkpoint_save_spec(tg_ctx *ctx, const char *path, const char *spec, tg_params params,
                                  const tg_optimizer *opt, int64_t epoch);
/* The spec text of the checkpoint at path into *spec (malloc'd, the caller
 * frees; NULL for a file without one) after checking the file's magic,
 * version, length and CRC. Errors: NULL arguments (TG_ERR_ARG), TG_ERR_IO,
 * TG_ERR_FORMAT (*spec stays NULL). */
TG_API tg_status tg_checkpoint_read_spec(tg_ctx *ctx, const char *path, char **spec);

/* What a checkpoint holds, read without the model it belongs to. */
typedef struct {
    uint32_t version;
    bool has_optimizer;
    int64_t epoch, steps;
    uint32_t crc_stored, crc_computed; /* equal when the file is intact */
    char *spec;                        /* NULL: none */
    int n_params, n_state;
    tg_tensor **tensors;               /* n_params then n_state persistent tensors, named as in the file */
} tg_checkpoint_info;
/* Reads every record of the file at path into info (tensors made in ctx). A
 * CRC mismatch is reported in info, not as an error, so a damaged file can be
 * examined. Errors: NULL arguments (TG_ERR_ARG), TG_ERR_IO, TG_ERR_FORMAT for a
 * file whose structure cannot be read (info is then empty). */
TG_API tg_status tg_checkpoint_inspect(tg_ctx *ctx, const char *path, tg_checkpoint_info *info);
/* Frees info's tensors and text and zeroes it. NULL is fine. */
TG_API void tg_checkpoint_info_free(tg_checkpoint_info *info);

#ifdef __cplusplus
}
#endif
#endif
