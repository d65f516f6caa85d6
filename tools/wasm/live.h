/* tools/wasm/live.h: the C side of the live page (docs/live.html), exported
 * from the WebAssembly module tools/wasm/build.sh makes.
 *
 * The page writes a program (tools/wasm/live_parse.c explains the language) into
 * live_program_buffer() and "name=value" lines into live_values_buffer(),
 * both NUL-terminated and at most live_text_max() bytes, then calls
 * live_run(), which builds the graph with tapegrad, runs forward and
 * backward with the backward log on, lays the graph out and returns JSON:
 *   {"ok", "error": {"stage", "pos", "end", "message"} when not ok,
 *    "output", "width", "height", "crossings",
 *    "nodes": [{"id", "kind", "key", "name", "symbol", "op", "text", "pos",
 *               "end", "value", "grad", "layer", "x", "y"}],
 *    "edges": [{"from", "to", "input", "key", "vjp", "local", "delta",
 *               "total", "step", "points"}],
 *    "steps": [{"node", "tape", "delta", "edges"}]}
 * "delta" on an edge is what backward sent down it, "total" the input's
 * gradient summed so far, "local" ∂to/∂from: all the library's numbers.
 * "x" is a node's layer and "y" its place across the layers, in units of
 * the layer and row gaps (the page picks the gaps and the direction);
 * "points" are an edge's bend points in the same units.
 * The JSON stays valid until the next live_run. */
#ifndef TAPEGRAD_TOOLS_WASM_LIVE_H
#define TAPEGRAD_TOOLS_WASM_LIVE_H

enum {
    LIVE_MAX_NODES = 40,   /* values and ops; more is refused with a message */
    LIVE_TEXT_MAX = 4096,  /* bytes of program and of values */
};

char *live_program_buffer(void);
char *live_values_buffer(void);
int live_text_max(void);
const char *live_run(void);

#endif
