/* The C text of the kernels an exported model calls (nn/io/export_c.c
 * copies those its layers use into the generated file, so that it compiles
 * with -Wall -Wextra -Werror: no unused static function). Plain C99 over
 * one sample, float, libm only; each mirrors the library's op:
 *   matvec      y = W·x + b, W [rows, cols] float, or int8 q with w = scale[row]·q
 *   conv2d      y[f] = b[f] + Σ_{c,u,v} W[f,c,u,v]·x[c, i·s+u-p, j·s+v-p] (zeros outside),
 *               over the input unrolled into columns
 *   max_pool2d  the window's maximum (padding never wins; NaN propagates)
 *   avg_pool2d  the window's sum / k² (padding counts as zeros, PyTorch's default)
 *   channel_affine  y = x·scale[c] + shift[c] (batch norm folded: scale = γ/√(σ²+ε),
 *                   shift = β - μ·scale)
 *   layer_norm  (x - μ)/√(σ² + ε)·γ + β over each row
 *   embedding   rows of W picked by whole-number indices (-1 for one out of range)
 *   rnn, lstm, gru  PyTorch's cells (gate order i, f, g, o and r, z, n) over the steps
 * Not installed. */
#ifndef TAPEGRAD_NN_IO_EXPORT_C_KERNELS_H
#define TAPEGRAD_NN_IO_EXPORT_C_KERNELS_H

static const char kernel_weights[] =
    "/* A weight matrix: float w, or int8 q with one scale per row (w = scale[row]*q). */\n"
    "typedef struct {\n"
    "    const float *w;\n"
    "    const signed char *q;\n"
    "    const float *scale;\n"
    "    const float *b;\n"
    "} weights;\n\n";

/* Eight partial sums: the compiler may keep them in one vector register
 * (a single sum is a chain it must not reorder). */
static const char kernel_matvec[] =
    "/* y[r] = b[r] + sum_k W[r][k] x[k] */\n"
    "static void matvec(const weights *m, const float *x, float *y, int rows, int cols)\n"
    "{\n"
    "    for (int r = 0; r < rows; r++) {\n"
    "        float part[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f}, sum = 0.0f;\n"
    "        int k = 0;\n"
    "        if (m->q) {\n"
    "            const signed char *row = m->q + (long)r * cols;\n"
    "            for (; k + 8 <= cols; k += 8)\n"
    "                for (int l = 0; l < 8; l++)\n"
    "                    part[l] += (float)row[k + l] * x[k + l];\n"
    "            for (; k < cols; k++)\n"
    "                sum += (float)row[k] * x[k];\n"
    "        } else {\n"
    "            const float *row = m->w + (long)r * cols;\n"
    "            for (; k + 8 <= cols; k += 8)\n"
    "                for (int l = 0; l < 8; l++)\n"
    "                    part[l] += row[k + l] * x[k + l];\n"
    "            for (; k < cols; k++)\n"
    "                sum += row[k] * x[k];\n"
    "        }\n"
    "        sum += ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));\n"
    "        y[r] = (m->b ? m->b[r] : 0.0f) + (m->q ? sum * m->scale[r] : sum);\n"
    "    }\n"
    "}\n\n";

static const char kernel_dense[] =
    "/* x [rows, in] -> y [rows, out] = x W^T + b */\n"
    "static void dense(const weights *m, const float *x, float *y, int rows, int in, int out)\n"
    "{\n"
    "    for (int r = 0; r < rows; r++)\n"
    "        matvec(m, x + (long)r * in, y + (long)r * out, out, in);\n"
    "}\n\n";

/* The input is unrolled once into columns [c·k·k, oh·ow] (each row one
 * weight's view of the input, zeros where the window hangs over the border),
 * then each filter's plane is b + Σ_r W[f, r]·columns[r]: runs of oh·ow
 * contiguous multiply-adds, written eight at a time so that -O2 keeps them in
 * vector registers. */
static const char kernel_conv2d[] =
    "/* out[i] += a x[i] for i < n */\n"
    "static void axpy(float a, const float *restrict x, float *restrict out, long n)\n"
    "{\n"
    "    long blocks = n / 8;\n"
    "    for (long b = 0; b < blocks; b++)\n"
    "        for (int l = 0; l < 8; l++)\n"
    "            out[8 * b + l] += a * x[8 * b + l];\n"
    "    for (long i = 8 * blocks; i < n; i++)\n"
    "        out[i] += a * x[i];\n"
    "}\n\n"
    "/* x [c, h, w] -> y [o, oh, ow]: W [o, c, k, k], stride s, zero padding p; columns [c k k, oh ow] is scratch */\n"
    "static void conv2d(const weights *m, const float *x, int c, int h, int w, float *y, int o, int oh, int ow,\n"
    "                   int k, int s, int p, float *columns)\n"
    "{\n"
    "    long positions = (long)oh * ow, r = 0;\n"
    "    for (int ch = 0; ch < c; ch++)\n"
    "        for (int u = 0; u < k; u++)\n"
    "            for (int v = 0; v < k; v++, r++) {\n"
    "                /* output columns j whose input column j s + v - p is inside [0, w): first..end-1 */\n"
    "                int first = p > v ? (p - v + s - 1) / s : 0, last = w - 1 + p - v;\n"
    "                int end = last < 0 ? 0 : last / s + 1 < ow ? last / s + 1 : ow;\n"
    "                if (first > end)\n"
    "                    first = end;\n"
    "                for (int i = 0; i < oh; i++) {\n"
    "                    float *out = columns + r * positions + (long)i * ow;\n"
    "                    int row = i * s + u - p, j = 0;\n"
    "                    if (row >= 0 && row < h) {\n"
    "                        const float *line = x + ((long)ch * h + row) * w;\n"
    "                        for (; j < first; j++)\n"
    "                            out[j] = 0.0f;\n"
    "                        for (; j < end; j++)\n"
    "                            out[j] = line[j * s + v - p];\n"
    "                    }\n"
    "                    for (; j < ow; j++)\n"
    "                        out[j] = 0.0f;\n"
    "                }\n"
    "            }\n"
    "    for (int f = 0; f < o; f++) {\n"
    "        float *plane = y + (long)f * positions;\n"
    "        for (long i = 0; i < positions; i++)\n"
    "            plane[i] = m->b[f];\n"
    "        for (r = 0; r < (long)c * k * k; r++) {\n"
    "            long at = (long)f * c * k * k + r;\n"
    "            axpy(m->q ? (float)m->q[at] * m->scale[f] : m->w[at], columns + r * positions, plane, positions);\n"
    "        }\n"
    "    }\n"
    "}\n\n";

/* The window's rows [u0, u1) and columns [v0, v1) that lie inside the input. */
static const char kernel_window[] =
    "/* The part of the k x k window at (i, j) inside the h x w input: rows u0..u1-1, columns v0..v1-1 of it */\n"
    "static void window(int i, int j, int h, int w, int k, int s, int p, int *u0, int *u1, int *v0, int *v1)\n"
    "{\n"
    "    int top = i * s - p, left = j * s - p;\n"
    "    *u0 = top < 0 ? -top : 0;\n"
    "    *u1 = top + k > h ? h - top : k;\n"
    "    *v0 = left < 0 ? -left : 0;\n"
    "    *v1 = left + k > w ? w - left : k;\n"
    "}\n\n";

static const char kernel_max_pool2d[] =
    "/* x [c, h, w] -> y [c, oh, ow]: the maximum of each k x k window (padding never wins; NaN wins) */\n"
    "static void max_pool2d(const float *x, int c, int h, int w, float *y, int oh, int ow, int k, int s, int p)\n"
    "{\n"
    "    for (int ch = 0; ch < c; ch++)\n"
    "        for (int i = 0; i < oh; i++)\n"
    "            for (int j = 0; j < ow; j++) {\n"
    "                int u0, u1, v0, v1;\n"
    "                window(i, j, h, w, k, s, p, &u0, &u1, &v0, &v1);\n"
    "                float best = -INFINITY;\n"
    "                for (int u = u0; u < u1; u++) {\n"
    "                    const float *line = x + ((long)ch * h + i * s - p + u) * w + j * s - p + v0;\n"
    "                    for (int v = 0; v < v1 - v0; v++)\n"
    "                        if (line[v] > best || line[v] != line[v])\n"
    "                            best = line[v];\n"
    "                }\n"
    "                y[((long)ch * oh + i) * ow + j] = best;\n"
    "            }\n"
    "}\n\n";

static const char kernel_avg_pool2d[] =
    "/* x [c, h, w] -> y [c, oh, ow]: each k x k window's sum / k^2 (padding counts as zeros) */\n"
    "static void avg_pool2d(const float *x, int c, int h, int w, float *y, int oh, int ow, int k, int s, int p)\n"
    "{\n"
    "    for (int ch = 0; ch < c; ch++)\n"
    "        for (int i = 0; i < oh; i++)\n"
    "            for (int j = 0; j < ow; j++) {\n"
    "                int u0, u1, v0, v1;\n"
    "                window(i, j, h, w, k, s, p, &u0, &u1, &v0, &v1);\n"
    "                float sum = 0.0f;\n"
    "                for (int u = u0; u < u1; u++) {\n"
    "                    const float *line = x + ((long)ch * h + i * s - p + u) * w + j * s - p + v0;\n"
    "                    for (int v = 0; v < v1 - v0; v++)\n"
    "                        sum += line[v];\n"
    "                }\n"
    "                y[((long)ch * oh + i) * ow + j] = sum / (float)(k * k);\n"
    "            }\n"
    "}\n\n";

static const char kernel_channel_affine[] =
    "/* x [c, positions] -> y = x scale[c] + shift[c] (batch norm in eval mode, folded) */\n"
    "static void channel_affine(const float *x, float *y, const float *scale, const float *shift, int c,\n"
    "                           long positions)\n"
    "{\n"
    "    for (int ch = 0; ch < c; ch++)\n"
    "        for (long i = 0; i < positions; i++)\n"
    "            y[ch * positions + i] = x[ch * positions + i] * scale[ch] + shift[ch];\n"
    "}\n\n";

static const char kernel_layer_norm[] =
    "/* x [rows, n] -> (x - mean)/sqrt(var + eps) gamma + beta over each row (biased var) */\n"
    "static void layer_norm(const float *x, float *y, const float *gamma, const float *beta, float eps, long rows,\n"
    "                       int n)\n"
    "{\n"
    "    for (long r = 0; r < rows; r++) {\n"
    "        const float *row = x + r * n;\n"
    "        float mean = 0.0f, var = 0.0f;\n"
    "        for (int i = 0; i < n; i++)\n"
    "            mean += row[i];\n"
    "        mean /= (float)n;\n"
    "        for (int i = 0; i < n; i++)\n"
    "            var += (row[i] - mean) * (row[i] - mean);\n"
    "        float inv_std = 1.0f / sqrtf(var / (float)n + eps);\n"
    "        for (int i = 0; i < n; i++)\n"
    "            y[r * n + i] = (row[i] - mean) * inv_std * gamma[i] + beta[i];\n"
    "    }\n"
    "}\n\n";

static const char kernel_embedding[] =
    "/* indices x [n] -> y [n, dim]: row x[i] of W [vocab, dim]; -1 for an index that is not a whole number in\n"
    " * [0, vocab) */\n"
    "static int embedding(const float *x, long n, const float *table, int vocab, int dim, float *y)\n"
    "{\n"
    "    for (long i = 0; i < n; i++) {\n"
    "        if (!(x[i] >= 0.0f && x[i] < (float)vocab && x[i] == floorf(x[i])))\n"
    "            return -1;\n"
    "        const float *row = table + (long)x[i] * dim;\n"
    "        for (int d = 0; d < dim; d++)\n"
    "            y[i * dim + d] = row[d];\n"
    "    }\n"
    "    return 0;\n"
    "}\n\n";

static const char kernel_sigmoid[] = "static float sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }\n\n";

/* A recurrent layer's state and gate buffers: gi = W_ih x + b_ih, gh = W_hh h + b_hh [G·H]. */
static const char kernel_recurrent_state[] =
    "/* A recurrent layer's weights and scratch: gi = W_ih x + b_ih, gh = W_hh h + b_hh [gates * hidden] */\n"
    "typedef struct {\n"
    "    weights ih, hh;\n"
    "    float *gi, *gh, *h, *c;\n"
    "} recurrent;\n\n"
    "/* Copies h (hidden) to step t of y, or to y itself when only the last state is kept. */\n"
    "static void keep_state(const float *h, float *y, int t, int steps, int hidden, int last_only)\n"
    "{\n"
    "    if (last_only && t < steps - 1)\n"
    "        return;\n"
    "    float *to = last_only ? y : y + (long)t * hidden;\n"
    "    for (int j = 0; j < hidden; j++)\n"
    "        to[j] = h[j];\n"
    "}\n\n";

static const char kernel_rnn[] =
    "/* x [steps, in] -> y [steps, hidden] (or [hidden]): h' = tanh(gi + gh) */\n"
    "static void rnn(const recurrent *r, const float *x, float *y, int steps, int in, int hidden, int last_only)\n"
    "{\n"
    "    for (int j = 0; j < hidden; j++)\n"
    "        r->h[j] = 0.0f;\n"
    "    for (int t = 0; t < steps; t++) {\n"
    "        matvec(&r->ih, x + (long)t * in, r->gi, hidden, in);\n"
    "        matvec(&r->hh, r->h, r->gh, hidden, hidden);\n"
    "        for (int j = 0; j < hidden; j++)\n"
    "            r->h[j] = tanhf(r->gi[j] + r->gh[j]);\n"
    "        keep_state(r->h, y, t, steps, hidden, last_only);\n"
    "    }\n"
    "}\n\n";

static const char kernel_lstm[] =
    "/* x [steps, in] -> y [steps, hidden] (or [hidden]): i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of the\n"
    " * blocks of gi + gh; c' = f c + i g; h' = o tanh(c') */\n"
    "static void lstm(const recurrent *r, const float *x, float *y, int steps, int in, int hidden, int last_only)\n"
    "{\n"
    "    for (int j = 0; j < hidden; j++)\n"
    "        r->h[j] = r->c[j] = 0.0f;\n"
    "    for (int t = 0; t < steps; t++) {\n"
    "        matvec(&r->ih, x + (long)t * in, r->gi, 4 * hidden, in);\n"
    "        matvec(&r->hh, r->h, r->gh, 4 * hidden, hidden);\n"
    "        for (int j = 0; j < hidden; j++) {\n"
    "            float in_gate = sigmoid(r->gi[j] + r->gh[j]);\n"
    "            float forget = sigmoid(r->gi[hidden + j] + r->gh[hidden + j]);\n"
    "            float cand = tanhf(r->gi[2 * hidden + j] + r->gh[2 * hidden + j]);\n"
    "            float out_gate = sigmoid(r->gi[3 * hidden + j] + r->gh[3 * hidden + j]);\n"
    "            r->c[j] = forget * r->c[j] + in_gate * cand;\n"
    "            r->h[j] = out_gate * tanhf(r->c[j]);\n"
    "        }\n"
    "        keep_state(r->h, y, t, steps, hidden, last_only);\n"
    "    }\n"
    "}\n\n";

static const char kernel_gru[] =
    "/* x [steps, in] -> y [steps, hidden] (or [hidden]): r, z = sigmoid of the first two blocks of gi + gh;\n"
    " * n = tanh(gi_n + r gh_n); h' = n + z (h - n) */\n"
    "static void gru(const recurrent *r, const float *x, float *y, int steps, int in, int hidden, int last_only)\n"
    "{\n"
    "    for (int j = 0; j < hidden; j++)\n"
    "        r->h[j] = 0.0f;\n"
    "    for (int t = 0; t < steps; t++) {\n"
    "        matvec(&r->ih, x + (long)t * in, r->gi, 3 * hidden, in);\n"
    "        matvec(&r->hh, r->h, r->gh, 3 * hidden, hidden);\n"
    "        for (int j = 0; j < hidden; j++) {\n"
    "            float reset = sigmoid(r->gi[j] + r->gh[j]);\n"
    "            float update = sigmoid(r->gi[hidden + j] + r->gh[hidden + j]);\n"
    "            float cand = tanhf(r->gi[2 * hidden + j] + reset * r->gh[2 * hidden + j]);\n"
    "            r->h[j] = cand + update * (r->h[j] - cand);\n"
    "        }\n"
    "        keep_state(r->h, y, t, steps, hidden, last_only);\n"
    "    }\n"
    "}\n\n";

/* One elementwise activation per tg_activation, as "static void act_<name>(float *v, long n)". */
static const char *const kernel_activation_body[] = {
    [TG_ACT_NONE] = NULL,
    [TG_ACT_SIGMOID] = "v[i] = sigmoid(v[i]);",
    [TG_ACT_TANH] = "v[i] = tanhf(v[i]);",
    [TG_ACT_RELU] = "v[i] = v[i] > 0.0f ? v[i] : 0.0f;",
    [TG_ACT_LEAKY_RELU] = "v[i] = v[i] > 0.0f ? v[i] : 0.01f * v[i];",
    [TG_ACT_ELU] = "v[i] = v[i] > 0.0f ? v[i] : expm1f(v[i]);",
    [TG_ACT_SOFTPLUS] = "v[i] = (v[i] > 0.0f ? v[i] : 0.0f) + log1pf(expf(-fabsf(v[i])));",
    [TG_ACT_SILU] = "v[i] = v[i] / (1.0f + expf(-v[i]));",
    [TG_ACT_GELU] = "v[i] = 0.5f * v[i] * erfcf(-v[i] * 0.70710678f);",
    [TG_ACT_GELU_TANH] = "v[i] = v[i] / (1.0f + expf(-2.0f * 0.79788456f * (v[i] + 0.044715f * v[i] * v[i] * v[i])));",
};

#endif
