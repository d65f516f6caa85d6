/* The live page's language (tools/wasm/live.c runs it): a program of
 * scalar expressions, parsed and built on the tape as it is read.
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
#include "tools/wasm/live_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ---- */

int live_fail_at(builder *b, const char *stage, int pos, int end, const char *fmt, ...)
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
        return live_fail_at(b, "size", pos, end,
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
        live_fail_at(b, "forward", pos, end, "%s", tg_ctx_error(b->ctx));
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
        return live_fail_at(b, "parse", b->at, b->at + 1, "expected '%c' %s, found %s%.*s%s", c, what,
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
    live_fail_at(b, "parse", b->at, b->at + 1, "the expression nests more than %d deep here", MAX_DEPTH);
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
            return live_fail_at(b, "parse", pos, pos + 1, "a number cannot start with '%c'", c);
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
            return live_fail_at(b, "parse", pos, pos + 1, "expected a number, a name or '(' before the end of the %s",
                           c == '\0' ? "text" : "statement");
        return live_fail_at(b, "parse", pos, pos + char_length(b->src + pos),
                       "unexpected '%.*s': expected a number, a name or '('", char_length(b->src + pos), b->src + pos);
    }
    if (len >= NAME_MAX_LEN)
        return live_fail_at(b, "parse", pos, pos + len, "the name is %d characters long; names have at most %d", len,
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
        return live_fail_at(b, "parse", pos, pos + len,
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
                return live_fail_at(b, "parse", pos, pos + len, "the name is %d characters long; names have at most %d",
                               len, NAME_MAX_LEN - 1);
            for (int i = 0; i < b->n_defined; i++)
                if (strcmp(b->defined[i].name, name) == 0)
                    return live_fail_at(b, "parse", pos, pos + len, "'%s' is already defined (at character %d)", name,
                                   b->defined[i].pos + 1);
            for (int k = 0; k < b->n_nodes; k++)
                if (b->nodes[k].kind == NODE_VARIABLE && strcmp(b->nodes[k].name, name) == 0)
                    return live_fail_at(b, "parse", pos, pos + len,
                                   "'%s' is used as a variable above; define it before its first use", name);
            b->at = after + 1;
            int k = parse_expr(b);
            if (k < 0)
                return -1;
            if (b->n_defined >= LIVE_MAX_NODES)
                return live_fail_at(b, "size", pos, pos + len, "too many statements");
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

int live_parse_program(builder *b)
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
            return live_fail_at(b, "parse", b->at, b->at + char_length(b->src + b->at),
                           "unexpected '%.*s' after a complete expression", char_length(b->src + b->at),
                           b->src + b->at);
    }
    if (last < 0)
        return live_fail_at(b, "parse", 0, 1, "the program is empty: type an expression such as L = (y - sigmoid(w*x + b))^2");
    return last;
}

/* ---- keys: the names the page finds nodes and edges by ---- */

void live_make_keys(builder *b)
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
