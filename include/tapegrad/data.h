/* tapegrad/data.h: reading data (nn/data/): files, IDX, CSV, gzip, datasets
 * and minibatches.
 *
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
 * (tg_loader: no allocation per batch, seeded shuffling):
 *
 *     tg_dataset *train = tg_dataset_load_mnist(ctx, "/usr/share/datasets/fashion-mnist", "train");
 *     tg_loader *batches = tg_loader_new(ctx, train, 64, TG_F32);
 *     tg_tensor *x, *y;
 *     tg_loader_start(batches, &rng);
 *     while (tg_loader_next(batches, &x, &y)) { ... }
 *
 * Training on a dataset: tapegrad/train.h. Checkpoints: tapegrad/checkpoint.h.
 */
#ifndef TAPEGRAD_DATA_H
#define TAPEGRAD_DATA_H

#include "tapegrad/core.h"

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

#ifdef __cplusplus
}
#endif
#endif
