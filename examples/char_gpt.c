/* A character-level GPT trained in C: token and learned position embeddings,
 * pre-LN transformer blocks (causal multi-head self-attention and a GELU MLP),
 * a final layer norm and an LM head tied to the token embedding, trained with
 * AdamW whose weight decay spares biases, norms and embeddings (a parameter
 * group) and gradient-norm clipping.
 *
 * The text is examples/data/tiny_shakespeare.txt: the first 1,000,000 bytes
 * of the "tiny Shakespeare" corpus of Karpathy's char-rnn (plays by William
 * Shakespeare, public domain; the selection is from the char-rnn repository,
 * MIT licence), cut at a blank line. The last 10% is held out. It prints the
 * unigram baseline (the held-out loss of the training text's letter
 * frequencies), the held-out loss as it falls and their ratio, the training
 * time, a sample generated with temperature and top-k, and writes a diagram
 * of one block (render: dot -Tsvg char_gpt_block.dot). The checkpoint it saves
 * reloads through tg_model_load with no code of this file.
 *
 *     char_gpt [--steps 6000] [--seconds 300] [--batch 16] [--context 32] [--d 64]
 *              [--heads 2] [--blocks 2] [--lr 0.003] [--seed 1] [--text PATH]
 *              [--sample 300] [--temperature 0.8] [--top-k 10] [--max-ratio R]
 *              [--diagram char_gpt_block.dot|none] [--checkpoint char_gpt.tgc|none]
 *
 * --max-ratio R exits 1 when the held-out loss is above R times the baseline.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapegrad.h"

enum { MAX_BLOCKS = 16 };

/* The text as letter indices, and its alphabet (index <-> byte). */
typedef struct {
    int64_t *letters, length;
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
    unsigned char *bytes = n > 0 ? malloc((size_t)n) : NULL;
    c->length = bytes && fread(bytes, 1, (size_t)n, f) == (size_t)n ? n : 0;
    fclose(f);
    c->letters = c->length ? malloc((size_t)c->length * sizeof *c->letters) : NULL;
    if (!c->letters) {
        free(bytes);
        return false;
    }
    bool seen[256] = {false};
    for (int64_t i = 0; i < c->length; i++)
        seen[bytes[i]] = true;
    for (int b = 0; b < 256; b++) /* the alphabet in byte order */
        if ((c->index_of[b] = seen[b] ? c->vocab : -1) >= 0)
            c->byte_of[c->vocab++] = (unsigned char)b;
    for (int64_t i = 0; i < c->length; i++)
        c->letters[i] = c->index_of[bytes[i]];
    free(bytes);
    return true;
}

/* The unigram baseline: the held-out text's cross-entropy under the training
 * text's letter frequencies (add-one smoothed), in nats per letter. */
static double unigram_loss(const int64_t *train, int64_t n_train, const int64_t *held, int64_t n_held, int vocab)
{
    double count[256] = {0}, loss = 0;
    for (int64_t i = 0; i < n_train; i++)
        count[train[i]]++;
    for (int64_t i = 0; i < n_held; i++)
        loss -= log((count[held[i]] + 1) / (double)(n_train + vocab));
    return loss / (double)n_held;
}

/* x [B, T] random windows of text and y the letters that follow each. */
static void draw_batch(tg_tensor *x, tg_tensor *y, const int64_t *text, int64_t length, tg_rng *rng)
{
    int64_t b = tg_tensor_dim(x, 0), t = tg_tensor_dim(x, 1);
    int64_t *xs = tg_tensor_data(x), *ys = tg_tensor_data(y);
    for (int64_t r = 0; r < b; r++) {
        int64_t start = (int64_t)(tg_rng_uniform(rng) * (double)(length - t - 1));
        memcpy(xs + r * t, text + start, (size_t)t * sizeof *xs);
        memcpy(ys + r * t, text + start + 1, (size_t)t * sizeof *ys);
    }
}

/* The mean loss over every whole window of T letters of text (at most
 * max_windows of them, spread evenly), in eval mode without recording. */
static double held_out_loss(tg_model *model, const int64_t *text, int64_t length, int64_t t, int64_t max_windows)
{
    tg_ctx *ctx = tg_model_ctx(model);
    bool was_training = tg_model_training(model), was_recording = tg_grad_set_enabled(ctx, false);
    tg_model_set_training(model, false);
    int64_t windows = (length - 1) / t, stride = windows > max_windows ? windows / max_windows : 1, batch = 64;
    double total = 0;
    int64_t counted = 0;
    for (int64_t w = 0; w < windows && counted < max_windows;) {
        int64_t b = 0;
        tg_tensor *x = tg_tensor_temp(ctx, TG_I64, TG_SHAPE(batch, t));
        tg_tensor *y = tg_tensor_temp(ctx, TG_I64, TG_SHAPE(batch, t));
        for (; b < batch && w < windows && counted + b < max_windows; b++, w += stride) {
            memcpy((int64_t *)tg_tensor_data(x) + b * t, text + w * t, (size_t)t * sizeof(int64_t));
            memcpy((int64_t *)tg_tensor_data(y) + b * t, text + w * t + 1, (size_t)t * sizeof(int64_t));
        }
        if (b < batch) { /* the last, partial batch */
            x = tg_slice(x, 0, 0, b, 1);
            y = tg_slice(y, 0, 0, b, 1);
        }
        tg_tensor *loss = tg_cross_entropy(tg_model_forward(model, x), y);
        if (!loss)
            break;
        total += tg_tensor_get(loss, 0) * (double)b;
        counted += b;
        tg_tape_reset(ctx);
    }
    tg_grad_set_enabled(ctx, was_recording);
    tg_model_set_training(model, was_training);
    return counted ? total / (double)counted : NAN;
}

/* A letter drawn from softmax(logits/temperature) over the top_k largest. */
static int sample_letter(const tg_tensor *logits, int64_t offset, int vocab, double temperature, int top_k,
                         tg_rng *rng)
{
    double z[256], p[256], total = 0;
    for (int v = 0; v < vocab; v++)
        z[v] = tg_tensor_get(logits, offset + v) / temperature;
    double kth = INFINITY; /* the k-th largest: letters below it are cut */
    for (int k = 0; k < top_k && k < vocab; k++) {
        double next = -INFINITY;
        for (int v = 0; v < vocab; v++)
            if (z[v] < kth && z[v] > next)
                next = z[v];
        kth = next;
    }
    for (int v = 0; v < vocab; v++)
        total += p[v] = z[v] >= kth ? exp(z[v] - kth) : 0;
    double r = tg_rng_uniform(rng) * total;
    int letter = 0;
    while (letter < vocab - 1 && (r -= p[letter]) > 0)
        letter++;
    return letter;
}

static void generate(tg_model *model, const corpus *c, int64_t context, const char *prompt, int n,
                     double temperature, int top_k, tg_rng *rng)
{
    tg_ctx *ctx = tg_model_ctx(model);
    bool was_recording = tg_grad_set_enabled(ctx, false);
    tg_model_set_training(model, false);
    int64_t len = (int64_t)strlen(prompt), *text = malloc((size_t)(len + n) * sizeof *text);
    for (int64_t i = 0; i < len; i++)
        text[i] = c->index_of[(unsigned char)prompt[i]] < 0 ? 0 : c->index_of[(unsigned char)prompt[i]];
    printf("sample (temperature %g, top-k %d):\n%s", temperature, top_k, prompt);
    for (int64_t i = len; i < len + n; i++) {
        int64_t t = i < context ? i : context; /* the last T letters at most */
        tg_tensor *x = tg_tensor_temp(ctx, TG_I64, TG_SHAPE(1, t));
        memcpy(tg_tensor_data(x), text + i - t, (size_t)t * sizeof *text);
        tg_tensor *logits = tg_model_forward(model, x); /* [1, t, V]: the last row predicts letter i */
        if (!logits)
            break;
        text[i] = sample_letter(logits, (t - 1) * c->vocab, c->vocab, temperature, top_k, rng);
        putchar(c->byte_of[text[i]]);
        tg_tape_reset(ctx);
    }
    printf("\n");
    free(text);
    tg_grad_set_enabled(ctx, was_recording);
    tg_model_set_training(model, true);
}

/* The text beside this source file, or in the working directory's examples/. */
static const char *default_text(char *buf, size_t size)
{
    const char *file = __FILE__, *slash = strrchr(file, '/');
    snprintf(buf, size, "%.*s/data/tiny_shakespeare.txt", slash ? (int)(slash - file) : 1, slash ? file : ".");
    FILE *f = fopen(buf, "rb");
    if (f) {
        fclose(f);
        return buf;
    }
    return "examples/data/tiny_shakespeare.txt";
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + 1e-9 * (double)(now.tv_nsec - start->tv_nsec);
}

int main(int argc, char **argv)
{
    char text_buf[1024];
    const char *text_path = default_text(text_buf, sizeof text_buf), *diagram = "char_gpt_block.dot";
    const char *checkpoint = "char_gpt.tgc";
    int64_t steps = 6000, batch = 16, context = 32, d = 64, heads = 2, blocks = 2, sample = 300, top_k = 10;
    double lr = 3e-3, seconds = 300, temperature = 0.8, max_ratio = 0;
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        int64_t *integer = !strcmp(a, "--steps") ? &steps : !strcmp(a, "--batch") ? &batch
                           : !strcmp(a, "--context") ? &context : !strcmp(a, "--d") ? &d
                           : !strcmp(a, "--heads") ? &heads : !strcmp(a, "--blocks") ? &blocks
                           : !strcmp(a, "--sample") ? &sample : !strcmp(a, "--top-k") ? &top_k : NULL;
        double *real = !strcmp(a, "--lr") ? &lr : !strcmp(a, "--seconds") ? &seconds
                       : !strcmp(a, "--temperature") ? &temperature : !strcmp(a, "--max-ratio") ? &max_ratio : NULL;
        if (integer)
            *integer = atoll(v);
        else if (real)
            *real = atof(v);
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--text"))
            text_path = v;
        else if (!strcmp(a, "--diagram"))
            diagram = strcmp(v, "none") ? v : NULL;
        else if (!strcmp(a, "--checkpoint"))
            checkpoint = strcmp(v, "none") ? v : NULL;
        else {
            fprintf(stderr, "char_gpt: unknown option %s\n", a);
            return 2;
        }
    }
    if (blocks < 1 || blocks > MAX_BLOCKS || context < 2 || batch < 1 || top_k < 1 || !(temperature > 0)) {
        fprintf(stderr, "char_gpt: expected 1 to %d blocks, context >= 2, batch >= 1, top-k >= 1, temperature > 0\n",
                MAX_BLOCKS);
        return 2;
    }
    corpus c = {0};
    if (!corpus_read(&c, text_path) || c.length < 20 * (context + 1)) {
        fprintf(stderr, "char_gpt: cannot read a text of at least %lld bytes from %s\n",
                (long long)(20 * (context + 1)), text_path);
        return 1;
    }
    int64_t n_train = c.length * 9 / 10, n_held = c.length - n_train;
    const int64_t *train = c.letters, *held = c.letters + n_train;

    /* The GPT: one spec line per layer. */
    tg_layer_spec layers[MAX_BLOCKS + 4];
    int n = 0;
    layers[n++] = (tg_layer_spec){.kind = TG_LAYER_EMBEDDING, .name = "wte", .in = c.vocab, .out = d};
    layers[n++] = (tg_layer_spec){.kind = TG_LAYER_POSITION_EMBEDDING, .name = "wpe", .in = context, .out = d};
    for (int64_t b = 0; b < blocks; b++)
        layers[n++] = (tg_layer_spec){.kind = TG_LAYER_TRANSFORMER_BLOCK, .in = d, .out = 4 * d, .heads = (int)heads,
                                      .causal = true};
    layers[n++] = (tg_layer_spec){.kind = TG_LAYER_LAYER_NORM, .name = "ln_f", .in = d};
    layers[n++] = (tg_layer_spec){.kind = TG_LAYER_DENSE, .name = "lm_head", .in = d, .out = c.vocab, .tie = "wte"};

    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(seed);
    tg_model *model = tg_model_new(ctx, TG_F32, TG_SHAPE(context), n, layers, &rng);
    tg_optimizer *opt = model ? tg_optim_adamw_new(tg_model_params(model), lr, 0.9, 0.99, 1e-8, 0.1) : NULL;
    /* No decay on biases, norms (rank 1) and the embeddings (wte, also the head, and wpe). */
    tg_params params = tg_model_params(model);
    tg_tensor *spared[64];
    int n_spared = 0;
    for (int i = 0; opt && i < params.count && n_spared < 64; i++) {
        const char *name = tg_tensor_name(params.items[i]);
        if (tg_tensor_rank(params.items[i]) < 2 || !strncmp(name, "wte.", 4) || !strncmp(name, "wpe.", 4))
            spared[n_spared++] = params.items[i];
    }
    if (!opt || tg_optim_add_group(opt, (tg_params){n_spared, spared}, 1.0, 0.0) < 0) {
        fprintf(stderr, "char_gpt: %s\n", tg_ctx_error(ctx));
        return 1;
    }
    printf("text: %s, %lld characters, %d distinct; %lld to train, %lld held out\n", text_path, (long long)c.length,
           c.vocab, (long long)n_train, (long long)n_held);
    tg_model_print(model, stdout);
    double baseline = unigram_loss(train, n_train, held, n_held, c.vocab);
    printf("unigram baseline (held-out loss of the letter frequencies): %.4f nats per letter\n", baseline);

    tg_tensor *x = tg_tensor_new(ctx, TG_I64, TG_SHAPE(batch, context));
    tg_tensor *y = tg_tensor_new(ctx, TG_I64, TG_SHAPE(batch, context));
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    double eval_seconds = 0, loss_sum = 0; /* evaluation does not count as training time */
    int64_t step = 0, warmup = 200;
    for (; step < steps && seconds_since(&start) - eval_seconds < seconds; step++) {
        /* linear warmup, then cosine decay to lr/10 over the planned steps */
        tg_optim_set_lr(opt, step < warmup ? lr * (double)(step + 1) / (double)warmup
                                           : tg_lr_cosine(lr, lr / 10, steps - warmup, step - warmup));
        draw_batch(x, y, train, n_train, &rng);
        tg_optim_zero_grad(opt);
        tg_tensor *loss = tg_cross_entropy(tg_model_forward(model, x), y); /* logits [B, T, V], targets [B, T] */
        if (!loss || tg_backward(loss) != TG_OK) {
            fprintf(stderr, "char_gpt: step %lld: %s\n", (long long)step, tg_ctx_error(ctx));
            return 1;
        }
        loss_sum += tg_tensor_get(loss, 0);
        tg_clip_grad_norm(params, 1.0);
        tg_optim_step(opt);
        tg_tape_reset(ctx);
        if ((step + 1) % 500 == 0) {
            double elapsed = seconds_since(&start) - eval_seconds;
            double sampled = held_out_loss(model, held, n_held, context, 256);
            printf("step %5lld  %6.1f s  %5.1f steps/s  train %.4f  held-out %.4f (256 windows)\n",
                   (long long)step + 1, elapsed, (double)(step + 1) / elapsed, loss_sum / 500, sampled);
            fflush(stdout);
            loss_sum = 0;
            eval_seconds = seconds_since(&start) - elapsed;
        }
    }
    double train_seconds = seconds_since(&start) - eval_seconds;
    double held_loss = held_out_loss(model, held, n_held, context, INT64_MAX);
    printf("trained %lld steps (batch %lld x %lld letters) in %.1f s on 1 thread: %.1f steps/s\n", (long long)step,
           (long long)batch, (long long)context, train_seconds, (double)step / train_seconds);
    printf("held-out loss %.4f nats per letter = %.3f x the unigram baseline %.4f\n", held_loss, held_loss / baseline,
           baseline);
    generate(model, &c, context, "ROMEO:\n", (int)sample, temperature, (int)top_k, &rng);

    if (diagram) { /* one block alone, on a sequence of 6 positions */
        tg_layer_spec block = *tg_module_spec(tg_model_module(model, 2));
        tg_model *one = tg_model_new(ctx, TG_F32, TG_SHAPE(6, d), 1, &block, &rng);
        tg_tensor *h = tg_tensor_randn(ctx, &rng, TG_F32, TG_SHAPE(1, 6, d), 0, 1);
        tg_dot_options opts = {.title = "One pre-LN transformer block: LN, causal multi-head attention, residual; "
                                        "LN, GELU MLP, residual"};
        if (!one || tg_model_dot_save(one, h, diagram, &opts) != TG_OK)
            fprintf(stderr, "char_gpt: diagram: %s\n", tg_ctx_error(ctx));
        else
            printf("diagram of one block: %s (dot -Tsvg %s)\n", diagram, diagram);
        tg_tape_reset(ctx);
        tg_model_free(one);
    }
    if (checkpoint) { /* saved, and reloaded from the file alone */
        tg_model *back = NULL;
        if (tg_model_save(model, checkpoint, opt, step) != TG_OK || !(back = tg_model_load(ctx, checkpoint, NULL))) {
            fprintf(stderr, "char_gpt: checkpoint: %s\n", tg_ctx_error(ctx));
            return 1;
        }
        printf("checkpoint %s reloaded: held-out loss %.4f on its first 256 windows (the model: %.4f)\n", checkpoint,
               held_out_loss(back, held, n_held, context, 256), held_out_loss(model, held, n_held, context, 256));
    }
    tg_optim_free(opt);
    tg_ctx_free(ctx);
    free(c.letters);
    if (max_ratio > 0 && !(held_loss <= max_ratio * baseline)) {
        fprintf(stderr, "char_gpt: held-out loss %.4f is above %.2f x the baseline %.4f\n", held_loss, max_ratio,
                baseline);
        return 1;
    }
    return 0;
}
