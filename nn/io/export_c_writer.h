/* What a layer kind gives tg_model_export_c (nn/io/export_c.c), and the
 * writing helpers it uses. A built-in kind's descriptor points to one
 * (tg_layer_kind_def.c_export), defined in the kind's own file of
 * nn/layers/ beside its forward: the C text of its kernel, the constants and
 * scratch it writes before the forward function, and the call it writes in
 * it. The driver knows no kind: it sizes the buffers, writes the shared
 * kernels and the activations, and asks each layer's piece for the rest.
 * A kind whose c_export is NULL is refused by name. Not installed. */
#ifndef TAPEGRAD_NN_IO_EXPORT_C_WRITER_H
#define TAPEGRAD_NN_IO_EXPORT_C_WRITER_H

#include "nn/layers/module_internal.h"

/* The generated .c file being written (nn/io/export_c.c). */
typedef struct tg_c_file tg_c_file;

/* One layer as the export sees it: its module and one sample's shapes (no
 * batch axis). Its constants are named after cname ("l3": l3_w, l3_scale). */
typedef struct {
    const tg_module *m;
    char cname[16];
    int in_rank, out_rank;
    int64_t in_shape[TG_MAX_RANK], out_shape[TG_MAX_RANK];
    int64_t in_size, out_size;
} tg_c_layer;

/* Kernels several kinds call (nn/io/export_c_kernels.h), written once each
 * in this order, each before the first kind's kernel (in table order) that can
 * call it. */
enum {
    TG_C_WEIGHTS = 1 << 0,   /* the weights struct: float w, or int8 q with a scale per row */
    TG_C_MATVEC = 1 << 1,    /* y = W·x + b (needs TG_C_WEIGHTS) */
    TG_C_WINDOW = 1 << 2,    /* the part of a pooling window inside the input */
    TG_C_SIGMOID = 1 << 3,   /* σ(z) of one float */
    TG_C_RECURRENT = 1 << 4, /* the recurrent struct and keep_state (needs TG_C_MATVEC) */
};

typedef struct tg_layer_c_export tg_layer_c_export;
struct tg_layer_c_export {
    /* The kind's C function(s), written once when a layer of the kind is
     * code; NULL: none. */
    const char *kernel;
    unsigned calls; /* the TG_C_... kernels its kernel or call uses */
    /* Why this layer cannot be exported (a setting the C has no code for);
     * NULL, or a NULL function: it can. */
    const char *(*refuses)(const tg_module *m);
    /* The layer's constants and scratch under L->cname; false when out of
     * memory. NULL: none. */
    bool (*write_data)(tg_c_file *c, const tg_c_layer *L);
    /* The statement(s) reading x and writing y (both L's sizes). NULL: the
     * layer is no code, its output is its input (flatten, dropout). */
    void (*write_call)(tg_c_file *c, const tg_c_layer *L, const char *x, const char *y);
    /* True when this layer of a kind that has a call is no code after all
     * (an activation layer of none). NULL: never. */
    bool (*passes_through)(const tg_module *m);
};

/* Text into the file (a failed write is reported once, at the end). */
void tg_c_put(tg_c_file *c, const char *text);
void tg_c_putf(tg_c_file *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* "static const float <cname>[n] = { /+ what +/ ...};" with each value a
 * float literal that reads back as the same float. */
void tg_c_put_array(tg_c_file *c, const char *cname, const char *what, const double *values, int64_t n);
/* A tensor as the float array cname; false when out of memory. */
bool tg_c_put_tensor(tg_c_file *c, const char *cname, const tg_tensor *t);
/* Matrix w [rows, ...] and bias b (NULL: none) as <cname>_w and <cname>_b,
 * int8 with a scale per row in an int8 export, and the initializer of their
 * weights struct into init; false when out of memory. */
bool tg_c_put_weights(tg_c_file *c, const char *cname, const tg_tensor *w, const tg_tensor *b, char *init,
                      size_t size);

#endif
