/* tapegrad/safetensors.h: tensors in and out of safetensors files, the format
 * PyTorch and Hugging Face models are shared in. No dependency: the JSON
 * header is read by a strict, bounded parser of the library's own.
 *
 *     tg_safetensors *st = tg_safetensors_open(ctx, "model.safetensors");
 *     for (int i = 0; i < tg_safetensors_count(st); i++)
 *         printf("%s %s\n", tg_safetensors_name(st, i), tg_safetensors_dtype(st, i));
 *     tg_tensor *w = tg_safetensors_read(st, "0.weight", TG_F32);   // a new tensor
 *     tg_safetensors_close(st);
 *
 *     tg_named_tensor items[] = {{"0.weight", w}, {"0.bias", b}};
 *     tg_safetensors_meta meta[] = {{"format", "pt"}};
 *     tg_safetensors_save(ctx, "out.safetensors", 2, items, 1, meta);
 *
 * The format: 8 bytes, the header's length N (u64, little-endian); N bytes of
 * JSON, an object mapping each tensor's name to {"dtype": "F32", "shape":
 * [2, 3], "data_offsets": [begin, end]} (byte offsets into the data section,
 * end exclusive), plus an optional "__metadata__" object of strings; then the
 * data section, every tensor's values row-major and little-endian.
 *
 * Reading is strict, as the reference implementation's rules say and a
 * little more: a header of at most TG_SAFETENSORS_MAX_HEADER bytes that fits
 * in the file, valid UTF-8 starting with '{', only the JSON grammar (spaces
 * may pad it), no duplicate name, every entry with exactly dtype, shape and
 * data_offsets, a known dtype, at most TG_SAFETENSORS_MAX_RANK dims, offsets
 * that hold exactly size(shape) × the dtype's bytes, and entries that tile
 * the data section from its first byte to the file's last, without gap or
 * overlap. Everything is checked when the file is opened, before a value is
 * read; a file that fails is refused with TG_ERR_FORMAT and a message naming
 * the file, the entry and what is wrong. Opening reads the header only; the
 * values are read when asked for, so listing a file of gigabytes costs its
 * header. Memory stays within a few times the header's size (itself bounded
 * by the file's), plus the tensors asked for.
 *
 * Values convert on the way in: F32, F64, BF16 and F16 entries into f32 or
 * f64 tensors (exactly, except F64 into f32, which rounds to nearest); I64
 * entries into TG_I64 tensors. Other dtypes of the format (BOOL, U8, I8,
 * I16, U16, I32, U32, U64, F8_E5M2, F8_E4M3) are listed but not read.
 * Writing stores f32 tensors as F32, f64 as F64 and TG_I64 as I64.
 */
#ifndef TAPEGRAD_SAFETENSORS_H
#define TAPEGRAD_SAFETENSORS_H

#include "tapegrad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_SAFETENSORS_MAX_HEADER 100000000 /* bytes of JSON, as the reference reader */
#define TG_SAFETENSORS_MAX_NAME 4096        /* bytes in a tensor name or a metadata key */
#define TG_SAFETENSORS_MAX_VALUE (1 << 20)  /* bytes in a metadata value */
#define TG_SAFETENSORS_MAX_RANK 8           /* dims of an entry (tapegrad tensors take 4) */

/* An open file: its index (names, dtypes, shapes, metadata) and a way to its values. */
typedef struct tg_safetensors tg_safetensors;

/* A tensor and the name it has in a file (NULL: the tensor's own name,
 * tg_tensor_name). The list does not own the tensors. */
typedef struct {
    const char *name;
    tg_tensor *tensor;
} tg_named_tensor;

/* One "__metadata__" pair: free text, as PyTorch writes {"format": "pt"}. */
typedef struct {
    const char *key;
    const char *value;
} tg_safetensors_meta;

/* ---- reading ----------------------------------------------------------- */

/* Opens path and checks its whole header (see above); the values are read
 * later. The file stays open until tg_safetensors_close. Errors (NULL):
 * TG_ERR_ARG (NULL path), TG_ERR_IO (cannot open or read, not a regular
 * file), TG_ERR_FORMAT (what is wrong, where), TG_ERR_NOMEM. */
TG_API tg_safetensors *tg_safetensors_open(tg_ctx *ctx, const char *path);
/* The same for a file image in memory: size bytes at data, which must stay
 * valid and unchanged until tg_safetensors_close (nothing is copied). what
 * names it in messages (NULL: "(memory)"). Errors: those of
 * tg_safetensors_open. */
TG_API tg_safetensors *tg_safetensors_open_memory(tg_ctx *ctx, const void *data, size_t size, const char *what);
/* Closes the file and frees the index (names and shapes given out die with
 * it). NULL is fine. */
TG_API void tg_safetensors_close(tg_safetensors *st);

/* Entries in the file's header order (-1 for NULL). */
TG_API int tg_safetensors_count(const tg_safetensors *st);
/* Entry i's name, its dtype as the file spells it ("F32", "BF16", ...), its
 * rank and shape (rank dims; NULL for rank 0). NULL or -1 for a NULL st or
 * an i outside 0..count-1 (TG_ERR_ARG). */
TG_API const char *tg_safetensors_name(const tg_safetensors *st, int i);
TG_API const char *tg_safetensors_dtype(const tg_safetensors *st, int i);
TG_API int tg_safetensors_rank(const tg_safetensors *st, int i);
TG_API const int64_t *tg_safetensors_shape(const tg_safetensors *st, int i);
/* The index of the entry called name, or -1 when there is none (not an
 * error; -1 for NULL arguments too). */
TG_API int tg_safetensors_find(const tg_safetensors *st, const char *name);

/* The "__metadata__" pairs, in the file's order: their count (0 without
 * metadata, -1 for NULL), the key and value of pair i (NULL outside
 * 0..count-1, TG_ERR_ARG), and the value of key (NULL when absent). */
TG_API int tg_safetensors_metadata_count(const tg_safetensors *st);
TG_API const char *tg_safetensors_metadata_key(const tg_safetensors *st, int i);
TG_API const char *tg_safetensors_metadata_value(const tg_safetensors *st, int i);
TG_API const char *tg_safetensors_metadata(const tg_safetensors *st, const char *key);

/* Entry name as a new persistent tensor of dtype (TG_F32 or TG_F64 for
 * float entries, TG_I64 for I64 ones), named name. Errors (NULL):
 * TG_ERR_ARG (NULL argument), TG_ERR_FORMAT (no such entry; a dtype that
 * does not convert to dtype; a shape tapegrad cannot hold: rank above 4 or
 * an empty dim), TG_ERR_IO (the file shrank or failed since it was opened),
 * TG_ERR_NOMEM. */
TG_API tg_tensor *tg_safetensors_read(tg_safetensors *st, const char *name, tg_dtype dtype);
/* Entry name into an existing tensor of the same shape, converted to its
 * dtype. Errors: those of tg_safetensors_check; TG_ERR_IO; the tensor is
 * untouched on every error. */
TG_API tg_status tg_safetensors_read_into(tg_safetensors *st, const char *name, tg_tensor *dst);
/* Whether entry name would read into dst, without reading it. Errors:
 * TG_ERR_ARG (NULL argument), TG_ERR_FREED, TG_ERR_FORMAT naming the file,
 * the entry, and both shapes and dtypes ("entry \"0.weight\" is F32 [4, 3]
 * in the file; the tensor is f32 [3, 4]"), or saying that there is no entry
 * of that name. */
TG_API tg_status tg_safetensors_check(tg_safetensors *st, const char *name, const tg_tensor *dst);
/* Reads n entries into n tensors, all or nothing: every name, shape and
 * dtype is checked first (as tg_safetensors_check), then every value is
 * read into memory of the loader's own, and only when all of it succeeded
 * are the tensors written. Entries of the file not listed are left alone
 * (compare n with tg_safetensors_count to refuse them). Errors: those of
 * tg_safetensors_check for the first item that fails, naming it; TG_ERR_IO;
 * TG_ERR_NOMEM; TG_ERR_ARG for n < 0 or NULL items. */
TG_API tg_status tg_safetensors_load(tg_safetensors *st, int n, const tg_named_tensor *items);

/* ---- writing ----------------------------------------------------------- */

/* Writes n tensors and n_meta metadata pairs (meta may be NULL when n_meta
 * is 0) to path: the header lists the entries in the order given, padded
 * with spaces to a multiple of 8 bytes; the data section holds the 8-byte
 * dtypes first, so every tensor's values start at a multiple of their size,
 * as the reference writer lays them out. The file is written to a temporary
 * beside path, fsynced and renamed over it, so a failed save leaves the
 * previous file whole. Errors (nothing written): TG_ERR_ARG (NULL path,
 * n < 0, NULL tensors, a name that is NULL, empty, not UTF-8, longer than
 * TG_SAFETENSORS_MAX_NAME or "__metadata__", a metadata key or value that is
 * NULL, not UTF-8 or too long, a name or a key given twice), TG_ERR_FREED,
 * TG_ERR_IO, TG_ERR_NOMEM. */
TG_API tg_status tg_safetensors_save(tg_ctx *ctx, const char *path, int n, const tg_named_tensor *items, int n_meta,
                                     const tg_safetensors_meta *meta);

#ifdef __cplusplus
}
#endif
#endif
