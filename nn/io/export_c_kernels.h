/* The C text of the kernels that several layer kinds of an exported model
 * call (nn/io/export_c.c writes those its layers use into the generated
 * file, so that it compiles with -Wall -Wextra -Werror: no unused static
 * function), and of the activations. Each kind's own kernel (dense, conv2d,
 * pools, norms, embedding, rnn, lstm, gru) sits in its file of nn/layers/,
 * in the kind's c_export. Plain C99 over one sample, float, libm only:
 *   weights     a weight matrix: float, or int8 with a scale per row
 *   matvec      y = W·x + b, W [rows, cols] float, or int8 q with w = scale[row]·q
 *   window      the part of a k×k pooling window inside the input
 *   sigmoid     σ(z) = 1/(1 + e⁻ᶻ)
 *   recurrent   a recurrent layer's weights and gate scratch, and keep_state
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
