/* tapegrad/checkpoint.h: checkpoints (nn/io/): parameters, optimizer state
 * and the epoch in one file, saved atomically, loaded after every check.
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
#ifndef TAPEGRAD_CHECKPOINT_H
#define TAPEGRAD_CHECKPOINT_H

#include "tapegrad/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

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
