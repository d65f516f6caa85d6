/* Next-character prediction with an LSTM: embedding (V x 16) -> LSTM (16 -> 64)
 * -> dense (64 -> V) on a small text shipped beside this file
 * (examples/data/tiny_text.txt). Trained on random windows of T characters,
 * batch B, with Adam and gradient-norm clipping. It prints the trivial
 * baseline (the loss of always predicting the text's letter frequencies, the
 * unigram entropy), the loss as it falls well below it, a sample generated
 * one character at a time, and writes an unrolled diagram of a short sequence
 * with one cluster per time step (render: dot -Tsvg sequence_lstm.dot).
 *
 *     sequence_lstm [--steps 400] [--seq 24] [--batch 32] [--hidden 64] [--lr 0.01]
 *                   [--seed 1] [--text PATH] [--diagram sequence_lstm.dot|none]
 *                   [--checkpoint sequence_lstm.ckpt|none] [--sample 200]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"

/* The text: every byte, and the alphabet it uses (index <-> byte). */
typedef struct {
    unsigned char *bytes;
    int64_t length;
    int vocab;
    int index_of[256];
    unsigned char byte_of[256];
} corpus;

static bool corpus_read(corpus *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    c->bytes = n > 0 ? malloc((size_t)n) : NULL;
    c->length = c->bytes && fread(c->bytes, 1, (size_t)n, f) == (size_t)n ? n : 0;
    fclose(f);
    if (c->length < 3)
        return false;
    for (int b = 0; b < 256; b++)
        c->index_of[b] = -1;
    c->vocab = 0;
    for (int64_t i = 0; i < c->length; i++)
        if (c->index_of[c->bytes[i]] < 0) {
            c->index_of[c->bytes[i]] = c->vocab;
            c->byte_of[c->vocab++] = c->bytes[i];
        }
    return true;
}

/* The trivial baseline: H = -Σ p log p over the letter frequencies (nats). */
static double unigram_entropy(const corpus *c)
{
    double count[256] = {0}, h = 0;
    for (int64_t i = 0; i < c->length; i++)
        count[c->index_of[c->bytes[i]]]++;
    for (int v = 0; v < c->vocab; v++)
        h -= count[v] / (double)c->length * log(count[v] / (double)c->length);
    return h;
}

/* B random windows: x [B, T] letter indices (batch-first, as the layer kit
 * reads sequences), y [B·T] the next letter of each. */
static void fill_batch(const corpus *c, tg_rng *rng, tg_tensor *x, tg_tensor *y, int64_t steps, int64_t batch)
{
    for (int64_t b = 0; b < batch; b++) {
        int64_t start = (int64_t)tg_rng_below(rng, (uint64_t)(c->length - steps - 1));
        for (int64_t t = 0; t < steps; t++) {
            tg_tensor_set(x, b * steps + t, c->index_of[c->bytes[start + t]]);
            tg_tensor_set(y, b * steps + t, c->index_of[c->bytes[start + t + 1]]);
        }
    }
}

/* The mean cross-entropy of the model's next-letter logits [B, T, V]. */
static tg_tensor *sequence_loss(tg_model *model, tg_tensor *x, tg_tensor *y, int vocab)
{
    tg_tensor *logits = tg_model_forward(model, x);
    return tg_cross_entropy(tg_reshape(logits, TG_SHAPE(tg_tensor_size(y), vocab)), y);
}

/* Time-step clusters for the diagram: the tape index where each part ends. */
typedef struct {
    int64_t embed_end, steps_end[64], n_steps;
    char names[64][32];
} step_map;

static const char *cluster_of(const tg_tensor *t, void *user)
{
    const step_map *map = user;
    int64_t op = tg_tensor_creator(t);
    if (op < 0)
        return NULL; /* parameters and inputs stay outside */
    if (op < map->embed_end)
        return "embedding";
    for (int64_t s = 0; s < map->n_steps; s++)
        if (op < map->steps_end[s])
            return map->names[s];
    return "output";
}

/* Runs "the t" through the model step by step and draws the unrolled LSTM. */
static tg_status write_diagram(tg_model *model, const corpus *c, const char *path)
{
    tg_ctx *ctx = tg_model_ctx(model);
    const char *text = "the tape";
    step_map map = {.n_steps = (int64_t)strlen(text)};
    tg_tensor *x = tg_tensor_temp(ctx, TG_F32, TG_SHAPE(map.n_steps, 1));
    for (int64_t t = 0; t < map.n_steps; t++) {
        int idx = c->index_of[(unsigned char)text[t]];
        tg_tensor_set(x, t, idx < 0 ? 0 : idx);
    }
    tg_module *embed = tg_model_module(model, 0), *lstm = tg_model_module(model, 1);
    tg_module *dense = tg_model_module(model, 2);
    tg_tensor *e = tg_module_forward(embed, x); /* [T, 1, E] */
    map.embed_end = tg_tape_length(ctx);
    tg_tensor *h = NULL, *cell = NULL;
    for (int64_t t = 0; t < map.n_steps && e; t++) {
        tg_tensor *xt = tg_reshape(tg_slice(e, 0, t, t + 1, 1), TG_SHAPE(1, tg_tensor_dim(e, 2)));
        h = tg_recurrent_step(lstm, xt, h, cell, &cell);
        snprintf(map.names[t], sizeof map.names[t], "t = %lld '%c'", (long long)t + 1, text[t]);
        map.steps_end[t] = tg_tape_length(ctx);
    }
    tg_tensor *logits = tg_module_forward(dense, h);
    if (!logits)
        return tg_ctx_status(ctx);
    tg_tensor_set_name(logits, "next letter logits");
    tg_dot_options opts = {.title = "LSTM unrolled over \"the tape\": one cluster per time step",
                           .max_values = -1, .group = cluster_of, .group_user = &map};
    return tg_dot_save(path, 1, &logits, &opts);
}

/* Samples n letters after a prompt, one step at a time (temperature 0.8). */
static void generate(tg_model *model, const corpus *c, const char *prompt, int n, tg_rng *rng)
{
    tg_ctx *ctx = tg_model_ctx(model);
    bool was = tg_grad_set_enabled(ctx, false);
    tg_module *embed = tg_model_module(model, 0), *lstm = tg_model_module(model, 1);
    tg_module *dense = tg_model_module(model, 2);
    tg_tensor *h = NULL, *cell = NULL, *logits = NULL;
    tg_tensor *index = tg_tensor_temp(ctx, TG_F32, TG_SHAPE(1));
    printf("sample: %s", prompt);
    for (int i = 0, len = (int)strlen(prompt); i < len + n; i++) {
        int letter;
        if (i < len)
            letter = c->index_of[(unsigned char)prompt[i]] < 0 ? 0 : c->index_of[(unsigned char)prompt[i]];
        else { /* draw from softmax(logits / 0.8) */
            double p[256], total = 0, r;
            for (int v = 0; v < c->vocab; v++)
                total += p[v] = exp(tg_tensor_get(logits, v) / 0.8);
            r = tg_rng_uniform(rng) * total;
            for (letter = 0; letter < c->vocab - 1 && (r -= p[letter]) > 0; letter++) {
            }
            putchar(c->byte_of[letter]);
        }
        tg_tensor_set(index, 0, letter);
        h = tg_recurrent_step(lstm, tg_module_forward(embed, index), h, cell, &cell);
        logits = tg_module_forward(dense, h);
        if (!logits)
            break;
    }
    printf("\n");
    tg_grad_set_enabled(ctx, was);
}

/* The text beside this source file, or in the working directory's examples/. */
static const char *default_text(char *buf, size_t size)
{
    const char *file = __FILE__, *slash = strrchr(file, '/');
    snprintf(buf, size, "%.*s/data/tiny_text.txt", slash ? (int)(slash - file) : 1, slash ? file : ".");
    FILE *f = fopen(buf, "rb");
    if (f) {
        fclose(f);
        return buf;
    }
    return "examples/data/tiny_text.txt";
}

int main(int argc, char **argv)
{
    char text_buf[1024];
    const char *text_path = default_text(text_buf, sizeof text_buf), *diagram = "sequence_lstm.dot";
    const char *checkpoint = "sequence_lstm.ckpt";
    int64_t steps = 400, seq = 24, batch = 32, hidden = 64, sample = 200;
    double lr = 0.01;
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--steps"))
            steps = atoll(v);
        else if (!strcmp(a, "--seq"))
            seq = atoll(v);
        else if (!strcmp(a, "--batch"))
            batch = atoll(v);
        else if (!strcmp(a, "--hidden"))
            hidden = atoll(v);
        else if (!strcmp(a, "--lr"))
            lr = atof(v);
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--text"))
            text_path = v;
        else if (!strcmp(a, "--diagram"))
            diagram = strcmp(v, "none") ? v : NULL;
        else if (!strcmp(a, "--checkpoint"))
            checkpoint = strcmp(v, "none") ? v : NULL;
        else if (!strcmp(a, "--sample"))
            sample = atoll(v);
        else {
            fprintf(stderr, "sequence_lstm: unknown option %s\n", a);
            return 2;
        }
    }
    corpus c = {0};
    if (!corpus_read(&c, text_path) || c.length < seq + 2) {
        fprintf(stderr, "sequence_lstm: cannot read a text of more than %lld bytes from %s\n", (long long)seq + 1,
                text_path);
        return 1;
    }
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(seed);
    tg_model *model = tg_model_new(ctx, TG_F32, 0, NULL, TG_LAYERS(
        {.kind = TG_LAYER_EMBEDDING, .in = c.vocab, .out = 16, .init = TG_INIT_NORMAL},
        {.kind = TG_LAYER_LSTM, .in = 16, .out = hidden},
        {.kind = TG_LAYER_DENSE, .in = hidden, .out = c.vocab}), &rng);
    tg_optimizer *opt = model ? tg_optim_adam_new(tg_model_params(model), lr, 0.9, 0.999, 1e-8) : NULL;
    if (!opt) {
        fprintf(stderr, "sequence_lstm: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    printf("text: %s, %lld characters, %d distinct\n", text_path, (long long)c.length, c.vocab);
    tg_model_print(model, stdout);
    double baseline = unigram_entropy(&c);
    printf("trivial baseline (letter frequencies, unigram entropy): %.4f nats per character\n", baseline);
    printf("uniform guess: %.4f nats per character\n", log((double)c.vocab));

    tg_tensor *x = tg_tensor_new(ctx, TG_F32, TG_SHAPE(batch, seq));
    tg_tensor *y = tg_tensor_new(ctx, TG_F32, TG_SHAPE(batch * seq));
    double smooth = NAN;
    int status = 0;
    for (int64_t step = 1; step <= steps; step++) {
        fill_batch(&c, &rng, x, y, seq, batch);
        tg_tensor *loss = sequence_loss(model, x, y, c.vocab);
        tg_optim_zero_grad(opt);
        if (!loss || tg_backward(loss) != TG_OK) {
            fprintf(stderr, "sequence_lstm: %s\n", tg_ctx_error(ctx));
            status = 1;
            break;
        }
        tg_clip_grad_norm(tg_model_params(model), 1.0);
        tg_optim_step(opt);
        double l = tg_tensor_item(loss);
        smooth = isnan(smooth) ? l : 0.9 * smooth + 0.1 * l;
        tg_tape_reset(ctx);
        if (step % 50 == 0 || step == steps)
            printf("step %4lld  loss %.4f  (baseline %.4f)\n", (long long)step, smooth, baseline);
    }
    if (status == 0) {
        printf("final loss %.4f nats per character: %.0f%% of the baseline\n", smooth, 100 * smooth / baseline);
        generate(model, &c, "the ", (int)sample, &rng);
        tg_tape_reset(ctx);
        if (diagram) {
            if (write_diagram(model, &c, diagram) == TG_OK)
                printf("diagram: %s (dot -Tsvg %s -o sequence_lstm.svg)\n", diagram, diagram);
            else
                fprintf(stderr, "sequence_lstm: diagram: %s\n", tg_ctx_error(ctx));
            tg_tape_reset(ctx);
        }
        if (checkpoint && tg_model_save(model, checkpoint, opt, steps) == TG_OK)
            printf("checkpoint: %s (tg_inspect %s)\n", checkpoint, checkpoint);
        if (!(smooth < 0.75 * baseline))
            status = 1;
    }
    tg_optim_free(opt);
    tg_model_free(model);
    tg_ctx_free(ctx);
    free(c.bytes);
    return status;
}
