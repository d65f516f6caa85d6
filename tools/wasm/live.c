/* The live page's engine (docs/live.html): a small language of scalar
 * expressions, built as a graph of tapegrad tensors, run forward and
 * backward by the library itself, and handed to the page as JSON.
 *
 * Built to WebAssembly by tools/wasm/build.sh (the page calls live_run on
 * every change) and natively by tests/test_live.c, which checks the parser,
 * the errors and the layout without a browser.
 *
 * The language, one statement per line or per ';':
 *     statement := [name '='] expr
 *     expr      := term (('+' | '-') term)*
 *     term      := unary (('*' | '/') unary)*
 *     unary     := '-' unary | power
 *     power     := primary ['^' unary]           (right associative)
 *     primary   := number | name | name '(' expr ')' | '(' expr ')'
 * A name that no statement defines is a variable (a leaf that requires a
 * gradient; its value comes from the values text, "name=value" lines, 1 when
 * missing). A name a statement defines is that statement's result. The last
 * statement's result is the output: backward runs from it.
 * Functions: sigmoid, tanh, relu, exp, log, sqrt, abs, sin, cos.
 * x^c with a number c is tg_pow_scalar; any other exponent is tg_pow. */
#include "tools/wasm/live.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/internal.h"
#include "tools/wasm/layered_layout.h"

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

/* ---- errors ---- */

static int fail_at(builder *b, const char *stage, int pos, int end, const char *fmt, ...)
{
    if (b->failed)
        return -1;
    b->failed = true;
    b->stage = stage;
    b->error_pos = pos;
    b->error_end = end > pos ? end : pos + 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->message, sizeof b->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* Every library error passes here as it is raised: during backward, the
 * entry whose rule was running says which node it concerns. */
static void on_library_error(void *user, tg_status status, const char *message)
{
    (void)status, (void)message;
    builder *b = user;
    if (b->backward_entry < 0)
        b->backward_entry = b->ctx->backward_node;
}

/* ---- the text ---- */

static void skip_space(builder *b)
{
    while (b->src[b->at] == ' ' || b->src[b->at] == '\t' || b->src[b->at] == '\r')
        b->at++;
}

static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

/* The name at the cursor into buf (not consumed); its length, 0 if none. */
static int peek_name(const builder *b, char *buf)
{
    int n = 0;
    if (!is_name_start(b->src[b->at]))
        return 0;
    while (is_name_char(b->src[b->at + n]))
        n++;
    int kept = n < NAME_MAX_LEN ? n : NAME_MAX_LEN - 1;
    memcpy(buf, b->src + b->at, (size_t)kept);
    buf[kept] = '\0';
    return n;
}

/* The value of variable name in the values text ("name=value" lines), or 1. */
static double value_of(const builder *b, const char *name)
{
    size_t len = strlen(name);
    for (const char *line = b->values; line && *line;) {
        while (*line == ' ' || *line == '\n' || *line == '&' || *line == ';')
            line++;
        if (strncmp(line, name, len) == 0 && line[len] == '=')
            return strtod(line + len + 1, NULL);
        line += strcspn(line, "\n&;");
    }
    return 1.0;
}

/* ---- nodes ---- */

static int add_node(builder *b, node_kind kind, tg_tensor *t, int pos, int end)
{
    if (b->n_nodes >= LIVE_MAX_NODES)
        return fail_at(b, "size", pos, end,
                       "the graph has more than %d nodes (values and ops): the live page draws at most %d, so that "
                       "it stays readable; split the expression or draw it with tg_dot_save",
                       LIVE_MAX_NODES, LIVE_MAX_NODES);
    node *n = &b->nodes[b->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->t = t;
    n->pos = pos;
    n->end = end;
    return b->n_nodes++;
}

/* Records op node for t = the op applied to inputs; on a library error, a
 * NODE_FAILED in its place and the error at its text. */
static int add_op(builder *b, tg_tensor *t, const char *symbol, int pos, int end, int in0, int in1)
{
    if (b->failed)
        return -1;
    while (end > pos && (b->src[end - 1] == ' ' || b->src[end - 1] == '\t'))
        end--; /* the text as written, without the spaces after it */
    if (!t) {
        /* the refused op is drawn too, so the message sits where it belongs */
        int failed = b->n_nodes < LIVE_MAX_NODES ? add_node(b, NODE_FAILED, NULL, pos, end) : -1;
        if (failed >= 0) {
            node *n = &b->nodes[failed];
            snprintf(n->symbol, sizeof n->symbol, "%s", symbol);
            n->inputs[0] = in0;
            n->inputs[1] = in1;
            n->n_inputs = in1 >= 0 ? 2 : 1;
        }
        fail_at(b, "forward", pos, end, "%s", tg_ctx_error(b->ctx));
        return -1;
    }
    int k = add_node(b, NODE_OP, t, pos, end);
    if (k < 0)
        return -1;
    node *n = &b->nodes[k];
    snprintf(n->symbol, sizeof n->symbol, "%s", symbol);
    n->inputs[0] = in0;
    n->inputs[1] = in1;
    n->n_inputs = in1 >= 0 ? 2 : 1;
    return k;
}

static tg_tensor *tensor_of(const builder *b, int k) { return b->nodes[k].t; }

/* ---- the grammar ---- */

static int parse_expr(builder *b);
static int parse_unary(builder *b);

static const struct {
    const char *name;
    tg_tensor *(*fn)(tg_tensor *);
} FUNCTIONS[] = {
    {"sigmoid", tg_sigmoid}, {"tanh", tg_tanh}, {"relu", tg_relu}, {"exp", tg_exp}, {"log", tg_log},
    {"sqrt", tg_sqrt},       {"abs", tg_abs},   {"sin", tg_sin},   {"cos", tg_cos},
};

static int expect(builder *b, char c, const char *what)
{
    skip_space(b);
    if (b->src[b->at] != c)
        return fail_at(b, "parse", b->at, b->at + 1, "expected '%c' %s, found %s%.*s%s", c, what,
                       b->src[b->at] ? "'" : "the end of the line", b->src[b->at] && b->src[b->at] != '\n' ? 1 : 0,
                       b->src + b->at, b->src[b->at] ? "'" : "");
    b->at++;
    return 0;
}

static int variable(builder *b, const char *name, int pos, int end)
{
    for (int i = 0; i < b->n_defined; i++)
        if (strcmp(b->defined[i].name, name) == 0)
            return b->defined[i].node;
    for (int k = 0; k < b->n_nodes; k++)
        if (b->nodes[k].kind == NODE_VARIABLE && strcmp(b->nodes[k].name, name) == 0)
            return k; /* used again: one leaf, two edges */
    tg_tensor *t = tg_tensor_scalar(b->ctx, TG_F64, value_of(b, name));
    tg_tensor_set_name(t, name);
    tg_tensor_set_requires_grad(t, true);
    int k = add_node(b, NODE_VARIABLE, t, pos, end);
    if (k >= 0)
        snprintf(b->nodes[k].name, sizeof b->nodes[k].name, "%s", name);
    return k;
}

/* Enters one level of nesting; false (error set) past MAX_DEPTH. */
static bool nest(builder *b)
{
    if (++b->depth <= MAX_DEPTH)
        return true;
    fail_at(b, "parse", b->at, b->at + 1, "the expression nests more than %d deep here", MAX_DEPTH);
    return false;
}

/* The length of the UTF-8 character at s (1 for a stray byte). */
static int char_length(const char *s)
{
    unsigned char c = (unsigned char)*s;
    int n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    for (int i = 1; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            return 1;
    return n;
}

static int parse_primary(builder *b)
{
    skip_space(b);
    int pos = b->at;
    char c = b->src[pos];
    if ((c >= '0' && c <= '9') || c == '.') {
        char *stop;
        double v = strtod(b->src + pos, &stop);
        if (stop == b->src + pos)
            return fail_at(b, "parse", pos, pos + 1, "a number cannot start with '%c'", c);
        b->at = (int)(stop - b->src);
        int k = add_node(b, NODE_CONSTANT, tg_tensor_scalar(b->ctx, TG_F64, v), pos, b->at);
        if (k >= 0)
            snprintf(b->nodes[k].name, sizeof b->nodes[k].name, "%.*s", b->at - pos, b->src + pos);
        return k;
    }
    if (c == '(') {
        if (!nest(b))
            return -1;
        b->at++;
        int k = parse_expr(b);
        b->depth--;
        char what[64];
        snprintf(what, sizeof what, "to close the '(' at character %d", pos + 1);
        return k < 0 || expect(b, ')', what) < 0 ? -1 : k;
    }
    char name[NAME_MAX_LEN];
    int len = peek_name(b, name);
    if (len == 0) {
        if (c == '\0' || c == '\n' || c == ';')
            return fail_at(b, "parse", pos, pos + 1, "expected a number, a name or '(' before the end of the %s",
                           c == '\0' ? "text" : "statement");
        return fail_at(b, "parse", pos, pos + char_length(b->src + pos),
                       "unexpected '%.*s': expected a number, a name or '('", char_length(b->src + pos), b->src + pos);
    }
    if (len >= NAME_MAX_LEN)
        return fail_at(b, "parse", pos, pos + len, "the name is %d characters long; names have at most %d", len,
                       NAME_MAX_LEN - 1);
    b->at += len;
    skip_space(b);
    if (b->src[b->at] != '(')
        return variable(b, name, pos, pos + len);
    /* a call */
    size_t f = 0, n_functions = sizeof FUNCTIONS / sizeof FUNCTIONS[0];
    while (f < n_functions && strcmp(FUNCTIONS[f].name, name) != 0)
        f++;
    if (f == n_functions)
        return fail_at(b, "parse", pos, pos + len,
                       "unknown function '%s': the functions are sigmoid, tanh, relu, exp, log, sqrt, abs, sin, cos",
                       name);
    b->at++;
    if (!nest(b))
        return -1;
    int arg = parse_expr(b);
    b->depth--;
    if (arg < 0 || expect(b, ')', "to close the call") < 0)
        return -1;
    return add_op(b, FUNCTIONS[f].fn(tensor_of(b, arg)), name, pos, b->at, arg, -1);
}

static int parse_power(builder *b)
{
    int pos = (skip_space(b), b->at);
    int base = parse_primary(b);
    if (base < 0)
        return -1;
    skip_space(b);
    if (b->src[b->at] != '^')
        return base;
    b->at++;
    skip_space(b);
    /* a plain number as exponent: x^c, one input (x^2^3 is x^(2^3)) */
    const char *digits = b->src + b->at + (b->src[b->at] == '-');
    if ((*digits >= '0' && *digits <= '9') || *digits == '.') {
        char *stop;
        double c = strtod(b->src + b->at, &stop);
        const char *after = stop;
        while (*after == ' ' || *after == '\t')
            after++;
        if (stop == digits || *after == '^')
            goto general;
        b->at = (int)(stop - b->src);
        return add_op(b, tg_pow_scalar(tensor_of(b, base), c), "^", pos, b->at, base, -1);
    }
general:;
    if (!nest(b))
        return -1;
    int exponent = parse_unary(b);
    b->depth--;
    if (exponent < 0)
        return -1;
    return add_op(b, tg_pow(tensor_of(b, base), tensor_of(b, exponent)), "^", pos, b->at, base, exponent);
}

static int parse_unary(builder *b)
{
    skip_space(b);
    int pos = b->at;
    if (b->src[pos] != '-')
        return parse_power(b);
    if (!nest(b))
        return -1;
    b->at++;
    int x = parse_unary(b);
    b->depth--;
    if (x < 0)
        return -1;
    return add_op(b, tg_neg(tensor_of(b, x)), "-", pos, b->at, x, -1);
}

static int parse_term(builder *b)
{
    int pos = (skip_space(b), b->at);
    int left = parse_unary(b);
    for (;;) {
        if (left < 0)
            return -1;
        skip_space(b);
        char op = b->src[b->at];
        if (op != '*' && op != '/')
            return left;
        b->at++;
        int right = parse_unary(b);
        if (right < 0)
            return -1;
        tg_tensor *l = tensor_of(b, left), *r = tensor_of(b, right);
        left = add_op(b, op == '*' ? tg_mul(l, r) : tg_div(l, r), op == '*' ? "*" : "/", pos, b->at, left, right);
    }
}

static int parse_expr(builder *b)
{
    int pos = (skip_space(b), b->at);
    int left = parse_term(b);
    for (;;) {
        if (left < 0)
            return -1;
        skip_space(b);
        char op = b->src[b->at];
        if (op != '+' && op != '-')
            return left;
        b->at++;
        int right = parse_term(b);
        if (right < 0)
            return -1;
        tg_tensor *l = tensor_of(b, left), *r = tensor_of(b, right);
        left = add_op(b, op == '+' ? tg_add(l, r) : tg_sub(l, r), op == '+' ? "+" : "-", pos, b->at, left, right);
    }
}

/* statement := [name '='] expr; the node of its result, -1 on error. */
static int parse_statement(builder *b)
{
    skip_space(b);
    int pos = b->at;
    char name[NAME_MAX_LEN];
    int len = peek_name(b, name);
    if (len > 0) {
        int after = b->at + len;
        while (b->src[after] == ' ' || b->src[after] == '\t')
            after++;
        if (b->src[after] == '=') {
            if (len >= NAME_MAX_LEN)
                return fail_at(b, "parse", pos, pos + len, "the name is %d characters long; names have at most %d",
                               len, NAME_MAX_LEN - 1);
            for (int i = 0; i < b->n_defined; i++)
                if (strcmp(b->defined[i].name, name) == 0)
                    return fail_at(b, "parse", pos, pos + len, "'%s' is already defined (at character %d)", name,
                                   b->defined[i].pos + 1);
            for (int k = 0; k < b->n_nodes; k++)
                if (b->nodes[k].kind == NODE_VARIABLE && strcmp(b->nodes[k].name, name) == 0)
                    return fail_at(b, "parse", pos, pos + len,
                                   "'%s' is used as a variable above; define it before its first use", name);
            b->at = after + 1;
            int k = parse_expr(b);
            if (k < 0)
                return -1;
            if (b->n_defined >= LIVE_MAX_NODES)
                return fail_at(b, "size", pos, pos + len, "too many statements");
            b->defined[b->n_defined].node = k;
            b->defined[b->n_defined].pos = pos;
            snprintf(b->defined[b->n_defined++].name, NAME_MAX_LEN, "%s", name);
            if (b->nodes[k].kind == NODE_OP && b->nodes[k].name[0] == '\0') {
                snprintf(b->nodes[k].name, sizeof b->nodes[k].name, "%s", name);
                tg_tensor_set_name(b->nodes[k].t, name);
            }
            return k;
        }
    }
    return parse_expr(b);
}

static int parse_program(builder *b)
{
    int last = -1;
    for (;;) {
        skip_space(b);
        char c = b->src[b->at];
        if (c == '\0')
            break;
        if (c == '\n' || c == ';') {
            b->at++;
            continue;
        }
        if (c == '#') { /* a comment to the end of the line */
            b->at += (int)strcspn(b->src + b->at, "\n");
            continue;
        }
        last = parse_statement(b);
        if (last < 0)
            return -1;
        skip_space(b);
        c = b->src[b->at];
        if (c != '\0' && c != '\n' && c != ';' && c != '#')
            return fail_at(b, "parse", b->at, b->at + char_length(b->src + b->at),
                           "unexpected '%.*s' after a complete expression", char_length(b->src + b->at),
                           b->src + b->at);
    }
    if (last < 0)
        return fail_at(b, "parse", 0, 1, "the program is empty: type an expression such as L = (y - sigmoid(w*x + b))^2");
    return last;
}

/* ---- keys: the names the page finds nodes and edges by ---- */

static void make_keys(builder *b)
{
    for (int k = 0; k < b->n_nodes; k++) {
        node *n = &b->nodes[k];
        if (n->name[0])
            memcpy(n->key, n->name, strlen(n->name) + 1); /* names are shorter than keys */
        else { /* the text as written, without spaces */
            int len = 0;
            for (int i = n->pos; i < n->end && len < KEY_MAX_LEN - 1; i++)
                if (b->src[i] != ' ' && b->src[i] != '\t')
                    n->key[len++] = b->src[i];
            n->key[len] = '\0';
        }
        int copies = 1;
        for (int j = 0; j < k; j++)
            copies += strcmp(b->nodes[j].key, n->key) == 0 ||
                      (strncmp(b->nodes[j].key, n->key, strlen(n->key)) == 0 && b->nodes[j].key[strlen(n->key)] == '#');
        if (copies > 1) {
            size_t len = strlen(n->key);
            snprintf(n->key + (len < KEY_MAX_LEN - 12 ? len : KEY_MAX_LEN - 12), 12, "#%d", copies);
        }
    }
}

/* ---- JSON ---- */

typedef struct {
    char *text;
    size_t len, cap;
    bool out_of_memory;
} json;

static void put(json *j, const char *fmt, ...)
{
    if (j->out_of_memory)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(j->text + j->len, j->cap - j->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            j->out_of_memory = true;
            return;
        }
        if ((size_t)n < j->cap - j->len) {
            j->len += (size_t)n;
            return;
        }
        size_t cap = (j->cap + (size_t)n + 1) * 2;
        char *grown = realloc(j->text, cap);
        if (!grown) {
            j->out_of_memory = true;
            return;
        }
        j->text = grown;
        j->cap = cap;
    }
}

static void put_string(json *j, const char *s, int length)
{
    put(j, "\"");
    for (int i = 0; length < 0 ? s[i] != '\0' : i < length; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            put(j, "\\%c", c);
        else if (c < 0x20)
            put(j, "\\u%04x", c);
        else
            put(j, "%c", c);
    }
    put(j, "\"");
}

/* Numbers round-trip (17 digits); NaN and ±Inf as strings Number() reads. */
static void put_number(json *j, double v)
{
    if (isnan(v))
        put(j, "\"NaN\"");
    else if (isinf(v))
        put(j, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else
        put(j, "%.17g", v);
}

static const char *kind_name(node_kind kind)
{
    return kind == NODE_VARIABLE ? "variable" : kind == NODE_CONSTANT ? "constant" : kind == NODE_OP ? "op" : "failed";
}

/* ---- the run ---- */

static char program_text[LIVE_TEXT_MAX + 1], values_text[LIVE_TEXT_MAX + 1];
static json result;

char *live_program_buffer(void) { return program_text; }
char *live_values_buffer(void) { return values_text; }
int live_text_max(void) { return LIVE_TEXT_MAX; }

/* The node k's result t came from: the node whose tensor it is, -1. */
static int node_of_tensor(const builder *b, const tg_tensor *t)
{
    for (int k = 0; k < b->n_nodes; k++)
        if (b->nodes[k].t == t)
            return k;
    return -1;
}

static void write_graph(builder *b, json *j, int output)
{
    tg_ctx *ctx = b->ctx;
    const tg_backward_record *r = !b->failed || strcmp(b->stage, "backward") == 0 ? ctx->record : NULL;
    /* edges: one per input of each op node */
    int from[2 * LIVE_MAX_NODES], to[2 * LIVE_MAX_NODES], slot[2 * LIVE_MAX_NODES], n_edges = 0;
    for (int k = 0; k < b->n_nodes; k++)
        for (int i = 0; i < b->nodes[k].n_inputs; i++)
            if (b->nodes[k].kind != NODE_VARIABLE && b->nodes[k].kind != NODE_CONSTANT && b->nodes[k].inputs[i] >= 0) {
                from[n_edges] = b->nodes[k].inputs[i];
                to[n_edges] = k;
                slot[n_edges++] = i;
            }
    /* where each node's δ arrived, and each edge's share, from the record */
    double delta[MAX_BUILT], grad[MAX_BUILT], sent[2 * LIVE_MAX_NODES], total[2 * LIVE_MAX_NODES],
        local[2 * LIVE_MAX_NODES];
    bool has_delta[MAX_BUILT] = {false}, has_sent[2 * LIVE_MAX_NODES] = {false},
         has_local[2 * LIVE_MAX_NODES] = {false};
    int step_of_edge[2 * LIVE_MAX_NODES];
    for (int e = 0; e < n_edges; e++)
        step_of_edge[e] = -1;
    for (int64_t s = 0; r && s < r->n_steps; s++) {
        const tg_record_step *step = &r->steps[s];
        int k = node_of_tensor(b, ctx->tape[step->tape_index].out);
        if (k < 0)
            continue;
        delta[k] = r->values[step->upstream];
        has_delta[k] = true;
        for (int e = 0; e < n_edges; e++)
            if (to[e] == k && slot[e] < step->n_in) {
                const tg_record_edge *re = &r->edges[step->first_edge + slot[e]];
                step_of_edge[e] = (int)s;
                if (re->sent >= 0) {
                    sent[e] = r->values[re->sent];
                    total[e] = r->values[re->total];
                    has_sent[e] = true;
                }
            }
    }
    /* ∂out/∂in of each edge: the op's own backward rule with upstream 1, as
     * the diagrams label their edges */
    bool grad_was = tg_grad_set_enabled(ctx, false);
    for (int k = 0; k < b->n_nodes && ctx->status == TG_OK; k++) {
        if (b->nodes[k].kind != NODE_OP)
            continue;
        int64_t entry = tg_tensor_creator(b->nodes[k].t);
        if (entry < 0)
            continue;
        tg_node tape_node = ctx->tape[entry];
        tg_tensor *one = tg_step_like(tape_node.out, false), *dx[3] = {NULL, NULL, NULL};
        if (!one || tape_node.n_in > 2)
            continue;
        tg_tensor_fill(one, 1.0);
        ctx->backward_node = entry;
        tape_node.op->backward(&tape_node, one, dx);
        ctx->backward_node = -1;
        for (int e = 0; e < n_edges; e++)
            if (to[e] == k && dx[slot[e]]) {
                local[e] = tg_tensor_item(dx[slot[e]]);
                has_local[e] = true;
            }
    }
    tg_grad_set_enabled(ctx, grad_was);
    for (int k = 0; k < b->n_nodes; k++) {
        tg_tensor *g = b->nodes[k].kind == NODE_VARIABLE ? tg_tensor_grad(b->nodes[k].t) : NULL;
        grad[k] = g ? tg_tensor_item(g) : has_delta[k] ? delta[k] : NAN;
    }

    static live_layout layout;
    live_graph graph = {b->n_nodes, n_edges, from, to};
    bool laid_out = live_layout_compute(&graph, 1, 1, &layout);

    put(j, ",\n\"output\": %d, \"width\": %g, \"height\": %g, \"crossings\": %d,\n\"nodes\": [", output,
        laid_out ? layout.width : 0, laid_out ? layout.height : 0, laid_out ? layout.crossings : -1);
    for (int k = 0; k < b->n_nodes; k++) {
        node *n = &b->nodes[k];
        put(j, "%s\n{\"id\": %d, \"kind\": \"%s\", \"key\": ", k ? "," : "", k, kind_name(n->kind));
        put_string(j, n->key, -1);
        put(j, ", \"name\": ");
        put_string(j, n->name, -1);
        put(j, ", \"symbol\": ");
        put_string(j, n->symbol, -1);
        char label[128] = "";
        if (n->kind == NODE_OP)
            tg_tape_entry_label(ctx, tg_tensor_creator(n->t), label, sizeof label);
        put(j, ", \"op\": ");
        put_string(j, label, -1);
        put(j, ", \"text\": ");
        put_string(j, b->src + n->pos, n->end - n->pos);
        put(j, ", \"pos\": %d, \"end\": %d, \"value\": ", n->pos, n->end);
        put_number(j, n->t ? tg_tensor_item(n->t) : NAN);
        put(j, ", \"grad\": ");
        put_number(j, grad[k]);
        put(j, ", \"layer\": %d, \"x\": %g, \"y\": %g}", laid_out ? layout.layer[k] : 0, laid_out ? layout.x[k] : 0,
            laid_out ? layout.y[k] : 0);
    }
    put(j, "],\n\"edges\": [");
    for (int e = 0; e < n_edges; e++) {
        put(j, "%s\n{\"from\": %d, \"to\": %d, \"input\": %d, \"key\": ", e ? "," : "", from[e], to[e], slot[e]);
        char key[2 * KEY_MAX_LEN + 4];
        snprintf(key, sizeof key, "%s->%s", b->nodes[from[e]].key, b->nodes[to[e]].key);
        put_string(j, key, -1);
        char vjp[128] = "";
        if (b->nodes[to[e]].kind == NODE_OP)
            tg_tape_entry_vjp_label(ctx, tg_tensor_creator(b->nodes[to[e]].t), slot[e], vjp, sizeof vjp);
        put(j, ", \"vjp\": ");
        put_string(j, vjp, -1);
        put(j, ", \"local\": ");
        has_local[e] ? put_number(j, local[e]) : put(j, "null");
        put(j, ", \"delta\": ");
        has_sent[e] ? put_number(j, sent[e]) : put(j, "null");
        put(j, ", \"total\": ");
        has_sent[e] ? put_number(j, total[e]) : put(j, "null");
        put(j, ", \"step\": %d, \"points\": [", step_of_edge[e]);
        for (int p = laid_out ? layout.point_start[e] : 0; laid_out && p < layout.point_start[e + 1]; p++)
            put(j, "%s[%g, %g]", p > layout.point_start[e] ? ", " : "", layout.point_x[p], layout.point_y[p]);
        put(j, "]}");
    }
    put(j, "],\n\"steps\": [");
    for (int64_t s = 0; r && s < r->n_steps; s++) {
        const tg_record_step *step = &r->steps[s];
        int k = node_of_tensor(b, ctx->tape[step->tape_index].out);
        put(j, "%s\n{\"node\": %d, \"tape\": %lld, \"delta\": ", s ? "," : "", k, (long long)step->tape_index);
        put_number(j, r->values[step->upstream]);
        put(j, ", \"edges\": [");
        int written = 0;
        for (int e = 0; e < n_edges; e++)
            if (step_of_edge[e] == (int)s)
                put(j, "%s%d", written++ ? ", " : "", e);
        put(j, "]}");
    }
    put(j, "]");
}

const char *live_run(void)
{
    free(result.text);
    result = (json){0};
    builder *b = calloc(1, sizeof *b);
    tg_ctx *ctx = b ? tg_ctx_new(1) : NULL;
    if (!ctx) {
        free(b);
        return "{\"ok\": false, \"error\": {\"stage\": \"memory\", \"message\": \"out of memory\", \"pos\": 0, \"end\": 0}}";
    }
    b->src = program_text;
    b->values = values_text;
    b->ctx = ctx;
    b->backward_entry = -1;
    tg_ctx_set_error_handler(ctx, on_library_error, b); /* errors go to the page, not stderr */
    tg_anomaly_set_enabled(ctx, true);                  /* NaN and ±Inf are errors, named by op */
    int output = parse_program(b);
    if (output >= 0 && !b->failed) {
        b->backward_entry = -1;
        tg_backward_set_recording(ctx, true);
        if (tg_backward(tensor_of(b, output)) != TG_OK) {
            int k = b->backward_entry >= 0 ? node_of_tensor(b, ctx->tape[b->backward_entry].out) : output;
            node *n = &b->nodes[k >= 0 ? k : output];
            fail_at(b, "backward", n->pos, n->end, "%s", tg_ctx_error(ctx));
        }
    }
    make_keys(b);
    json *j = &result;
    put(j, "{\"ok\": %s", b->failed ? "false" : "true");
    if (b->failed) {
        put(j, ", \"error\": {\"stage\": \"%s\", \"pos\": %d, \"end\": %d, \"message\": ", b->stage, b->error_pos,
            b->error_end);
        put_string(j, b->message, -1);
        put(j, "}");
    }
    /* the graph as far as it was built: a parse error draws nothing, a
     * library error draws the graph with the refused op in place */
    if (!b->failed || strcmp(b->stage, "parse") != 0) {
        if (strcmp(b->stage ? b->stage : "", "size") == 0)
            b->n_nodes = 0;
        tg_ctx_clear_error(ctx);
        tg_anomaly_set_enabled(ctx, false); /* a local derivative may be ±Inf: shown, not an error */
        write_graph(b, j, b->failed ? -1 : output);
    }
    put(j, "}");
    tg_ctx_free(ctx);
    free(b);
    return j->out_of_memory ? "{\"ok\": false, \"error\": {\"stage\": \"memory\", \"message\": \"out of memory\", "
                              "\"pos\": 0, \"end\": 0}}"
                            : j->text;
}
