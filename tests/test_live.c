/* The live page's engine (tools/wasm/live.c) and its layout
 * (tools/wasm/layered_layout.c), built natively: the expression language,
 * its errors at their character, the node limit, the library's numbers in
 * its JSON, and a layout whose layers go forward and whose boxes never
 * overlap. The page itself is tested in chromium by tests/live_page.sh. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tapegrad.h"
#include "tools/wasm/layered_layout.h"
#include "tools/wasm/live.h"

static const char *run(const char *program, const char *values)
{
    snprintf(live_program_buffer(), (size_t)live_text_max() + 1, "%s", program);
    snprintf(live_values_buffer(), (size_t)live_text_max() + 1, "%s", values);
    return live_run();
}

/* The number after "key": in the JSON, starting the search at from. */
static double number_after(const char *from, const char *key)
{
    const char *at = strstr(from, key);
    cr_assert_not_null(at, "no %s in %.200s", key, from);
    return strtod(at + strlen(key), NULL);
}

/* The JSON object of the node or edge with this "key". */
static const char *object_with_key(const char *json, const char *key)
{
    char needle[160];
    snprintf(needle, sizeof needle, "\"key\": \"%s\"", key);
    const char *at = strstr(json, needle);
    cr_assert_not_null(at, "no object with key %s", key);
    return at;
}

Test(live, one_neuron_gives_sigma_of_7)
{
    const char *json = run("y = sigmoid(w1*x1 + w2*x2 + b)", "x1=2\nx2=3\nw1=0\nw2=1\nb=4");
    cr_assert_not_null(strstr(json, "\"ok\": true"), "%s", json);
    double y = number_after(object_with_key(json, "y"), "\"value\": ");
    cr_expect_float_eq(y, 1 / (1 + exp(-7.0)), 1e-15);
    cr_expect_float_eq(y, 0.9990889, 5e-8, "the textbook's σ(7)");
}

Test(live, alice_gives_the_textbook_gradient_and_each_uses_delta)
{
    const char *json = run("h1 = sigmoid(w1*x1 + w2*x2 + b1)\nh2 = sigmoid(w3*x1 + w4*x2 + b2)\n"
                           "o1 = sigmoid(w5*h1 + w6*h2 + b3)\nL = (y - o1)^2",
                           "w1=1\nw2=1\nw3=1\nw4=1\nw5=1\nw6=1\nb1=0\nb2=0\nb3=0\nx1=-2\nx2=-1\ny=1");
    cr_assert_not_null(strstr(json, "\"ok\": true"), "%s", json);
    double dw1 = number_after(object_with_key(json, "w1"), "\"grad\": ");
    cr_expect_float_eq(dw1, 0.0214695, 5e-8, "∂L/∂w1, the textbook's");
    /* x1 feeds two ops: each edge carries its own δ, and they sum to .grad */
    double first = number_after(object_with_key(json, "x1->w1*x1"), "\"delta\": ");
    double second = number_after(object_with_key(json, "x1->w3*x1"), "\"delta\": ");
    double total = number_after(object_with_key(json, "x1"), "\"grad\": ");
    cr_expect_neq(first, 0.0, "a contribution that is not zero");
    cr_expect_float_eq(first + second, total, 1e-15);
    /* the local derivative of w1·x1 with respect to x1 is w1 */
    cr_expect_float_eq(number_after(object_with_key(json, "x1->w1*x1"), "\"local\": "), 1.0, 0);
}

/* error_at(program, values, expected position, a part of the message) */
static void expect_error(const char *program, const char *values, int pos, const char *part)
{
    const char *json = run(program, values);
    cr_assert_not_null(strstr(json, "\"ok\": false"), "%s: %s", program, json);
    cr_expect_eq((int)number_after(json, "\"pos\": "), pos, "%s: %s", program, json);
    cr_expect_not_null(strstr(json, part), "%s: expected \"%s\" in %s", program, part, json);
}

Test(live, parse_errors_point_at_their_character)
{
    expect_error("L = (a + b", "", 10, "expected ')' to close the '(' at character 5");
    expect_error("L = a * foo(b)", "", 8, "unknown function 'foo'");
    expect_error("L = a +", "", 7, "expected a number, a name or '('");
    expect_error("L = a b", "", 6, "unexpected 'b'");
    expect_error("x = a\nx = b", "", 6, "'x' is already defined");
    expect_error("", "", 0, "the program is empty");
    expect_error("L = a ∂ b", "", 6, "unexpected '∂'");
}

Test(live, deep_nesting_is_an_error_not_a_stack_overflow)
{
    static char program[LIVE_TEXT_MAX];
    strcpy(program, "L = ");
    for (int i = 0; i < 2000; i++)
        strcat(program, "(");
    strcat(program, "a");
    expect_error(program, "", 4 + 64, "nests more than 64 deep");
    strcpy(program, "L = ");
    for (int i = 0; i < 2000; i++)
        strcat(program, "-");
    strcat(program, "a");
    expect_error(program, "", 4 + 64, "nests more than 64 deep");
}

Test(live, library_errors_are_shown_at_the_op_they_concern)
{
    expect_error("L = a * log(b)", "b=-1", 8, "log produced NaN");
    expect_error("L = a / (b - 1)", "b=1", 4, "div produced +Inf");
    /* sqrt(0) is fine forward; its derivative 1/(2·0) is not */
    expect_error("L = 2 * sqrt(b)", "b=0", 8, "in the backward of sqrt");
    /* the graph up to the refused op is still drawn, the op marked */
    const char *json = run("L = a * log(b)", "b=-1");
    cr_expect_not_null(strstr(json, "\"kind\": \"failed\""), "%s", json);
}

Test(live, a_graph_over_forty_nodes_is_refused)
{
    char program[512] = "L = a";
    for (int i = 0; i < 40; i++)
        strcat(program, " * a");
    expect_error(program, "", 4, "more than 40 nodes");
    program[strlen("L = a") + 4 * 38] = '\0'; /* 1 leaf + 38 ops: fits */
    cr_expect_not_null(strstr(run(program, ""), "\"ok\": true"));
}

Test(live, a_variable_used_twice_is_one_node_with_two_edges)
{
    const char *json = run("L = a * a", "a=3");
    cr_expect_float_eq(number_after(object_with_key(json, "a"), "\"grad\": "), 6.0, 1e-15);
    const char *edge = object_with_key(json, "a->L");
    cr_expect_float_eq(number_after(edge, "\"delta\": "), 3.0, 1e-15, "one contribution, a·1");
    cr_expect_not_null(strstr(edge + 1, "\"key\": \"a->L\""), "the second edge between the same nodes");
}

/* ---- the layout ---- */

Test(live_layout, layers_go_forward_and_boxes_in_a_layer_keep_their_gap)
{
    /* Alice's network as the builder numbers it: leaves before their ops */
    const char *json = run("h1 = sigmoid(w1*x1 + w2*x2 + b1)\nh2 = sigmoid(w3*x1 + w4*x2 + b2)\n"
                           "o1 = sigmoid(w5*h1 + w6*h2 + b3)\nL = (y - o1)^2",
                           "");
    int n = 0;
    double x[64], y[64];
    for (const char *at = strstr(json, "\"nodes\""); (at = strstr(at, "\"layer\": ")) && n < 64; at++, n++) {
        x[n] = number_after(at, "\"x\": ");
        y[n] = number_after(at, "\"y\": ");
    }
    cr_assert_eq(n, 29, "12 leaves and 17 ops");
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
            if (x[a] == x[b])
                cr_expect_geq(fabs(y[a] - y[b]), 1.0 - 1e-9, "nodes %d and %d overlap", a, b);
    /* edges go from a layer to a later one */
    for (const char *at = strstr(json, "\"edges\""); (at = strstr(at, "\"from\": ")); at++) {
        int from = (int)number_after(at, "\"from\": "), to = (int)number_after(at, "\"to\": ");
        cr_expect_lt(x[from], x[to], "edge %d -> %d goes backwards", from, to);
    }
}

Test(live_layout, a_chain_has_no_crossings_and_bad_input_is_refused)
{
    int from[] = {0, 1, 2}, to[] = {1, 2, 3};
    live_graph chain = {4, 3, from, to};
    static live_layout layout;
    cr_assert(live_layout_compute(&chain, 1, 1, &layout));
    cr_expect_eq(layout.crossings, 0);
    cr_expect_eq(layout.n_layers, 4);
    int back_from[] = {2}, back_to[] = {1};
    live_graph backwards = {3, 1, back_from, back_to};
    cr_expect_not(live_layout_compute(&backwards, 1, 1, &layout), "an edge must go forward");
}

Test(live_layout, crossing_edges_are_uncrossed)
{
    /* leaves 0, 1; node 2 uses leaf 1 first, node 3 leaf 0: drawn in first
     * come order the edges cross, the sweeps swap them */
    int from[] = {1, 0, 2, 3}, to[] = {2, 3, 4, 4};
    live_graph g = {5, 4, from, to};
    static live_layout layout;
    cr_assert(live_layout_compute(&g, 1, 1, &layout));
    cr_expect_eq(layout.crossings, 0);
}
