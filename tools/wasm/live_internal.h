/* tools/wasm/live_internal.h: what the live page's parser (live_parse.c)
 * and its runner (live.c) share: the nodes of the graph being built and the
 * builder's state. Not part of the library. */
#ifndef TAPEGRAD_TOOLS_WASM_LIVE_INTERNAL_H
#define TAPEGRAD_TOOLS_WASM_LIVE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tapegrad.h"
#include "tools/wasm/live.h"

enum { NAME_MAX_LEN = 32, KEY_MAX_LEN = 96, MAX_BUILT = LIVE_MAX_NODES + 1, MAX_DEPTH = 64 };

typedef enum { NODE_VARIABLE, NODE_CONSTANT, NODE_OP, NODE_FAILED } node_kind;

typedef struct {
    node_kind kind;
    tg_tensor *t;           /* NULL for NODE_FAILED: the op the library refused */
    int pos, end;           /* its text in the program: [pos, end) */
    int inputs[2], n_inputs;
    char symbol[16];        /* as written: "*", "sigmoid", "^" */
    char name[NAME_MAX_LEN]; /* variable or statement name; "" for none */
    char key[KEY_MAX_LEN];  /* unique: the name, else the text as written */
} node;

typedef struct {
    const char *src;
    int at;
    const char *values;
    tg_ctx *ctx;
    node nodes[MAX_BUILT];
    int n_nodes;
    /* names a statement defined, and the node each stands for */
    struct { char name[NAME_MAX_LEN]; int node; int pos; } defined[LIVE_MAX_NODES];
    int n_defined;
    int depth; /* nesting of parentheses, signs and powers: bounded, so the stack is */
    /* the first error: where, at which stage, what */
    bool failed;
    const char *stage; /* "parse", "forward", "backward", "size" */
    int error_pos, error_end;
    char message[600];
    int64_t backward_entry; /* tape entry whose backward raised the error, -1 */
} builder;

/* Sets the first error: at [pos, end) of the program, at this stage
 * ("parse", "forward", "backward", "size"); later ones are dropped. -1. */
int live_fail_at(builder *b, const char *stage, int pos, int end, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
/* Parses b->src, building each op on b->ctx as it is read; the output's
 * node, or -1 with the error set. */
int live_parse_program(builder *b);
/* Gives every node its key: its name, else its text without spaces;
 * repeats get "#2", "#3". */
void live_make_keys(builder *b);

#endif
