/* docs/tutorial.md, "A small GPT": the transformer layer kinds in a
 * sequential model (token and position embeddings, a causal pre-LN block, a
 * final layer norm, an LM head tied to the token embedding), trained with
 * AdamW whose weight decay spares biases, norms and embeddings (a parameter
 * group), on every window of a short text; it then continues a prompt
 * greedily. The lines between the tutorial markers are the page's code block,
 * word for word (tests/tutorial_examples.sh checks it, and that the output
 * is the page's). */
#include <stdio.h>
#include <string.h>
#include <tapegrad.h>

enum { T = 8 };

static const char text[] = "the tape records, the tape replays. the tape records, the tape replays. ";

static int letter_of(char c, const char *alphabet) { return (int)(strchr(alphabet, c) - alphabet); }

int main(void)
{
    char alphabet[32] = ""; /* the text's letters, in order of appearance */
    for (const char *c = text; *c; c++)
        if (!strchr(alphabet, *c))
            alphabet[strlen(alphabet)] = *c;
    int vocab = (int)strlen(alphabet);
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(1);
    /* tutorial: begin */
    tg_model *gpt = tg_model_new(ctx, TG_F64, TG_SHAPE(T), TG_LAYERS(
        {.kind = TG_LAYER_EMBEDDING, .name = "wte", .in = vocab, .out = 16},
        {.kind = TG_LAYER_POSITION_EMBEDDING, .name = "wpe", .in = T, .out = 16},
        {.kind = TG_LAYER_TRANSFORMER_BLOCK, .in = 16, .out = 64, .heads = 2, .causal = true},
        {.kind = TG_LAYER_LAYER_NORM, .name = "ln_f", .in = 16},
        {.kind = TG_LAYER_DENSE, .name = "lm_head", .in = 16, .out = vocab, .tie = "wte"}), &rng);
    tg_params params = tg_model_params(gpt);
    tg_optimizer *opt = tg_optim_adamw_new(params, 1e-2, 0.9, 0.99, 1e-8, 0.1);
    tg_tensor *spared[16]; /* no decay on biases, norms (rank 1) and the embeddings */
    int n_spared = 0;
    for (int i = 0; i < params.count; i++) {
        const char *name = tg_tensor_name(params.items[i]);
        if (tg_tensor_rank(params.items[i]) == 1 || !strncmp(name, "wte.", 4) || !strncmp(name, "wpe.", 4))
            spared[n_spared++] = params.items[i];
    }
    tg_optim_add_group(opt, (tg_params){n_spared, spared}, 1.0, 0.0);
    /* tutorial: end */
    int64_t windows = (int64_t)strlen(text) - T - 1;
    tg_tensor *x = tg_tensor_new(ctx, TG_I64, TG_SHAPE(windows, T));
    tg_tensor *y = tg_tensor_new(ctx, TG_I64, TG_SHAPE(windows, T));
    for (int64_t w = 0; w < windows; w++)
        for (int t = 0; t < T; t++) {
            tg_tensor_set(x, w * T + t, letter_of(text[w + t], alphabet));
            tg_tensor_set(y, w * T + t, letter_of(text[w + t + 1], alphabet));
        }
    printf("%lld parameters; %lld windows of %d letters\n", (long long)tg_model_param_count(gpt), (long long)windows,
           T);
    /* tutorial: begin */
    for (int step = 0; step < 150; step++) {
        tg_optim_zero_grad(opt);
        tg_tensor *loss = tg_cross_entropy(tg_model_forward(gpt, x), y); /* [B, T, V] against [B, T] */
        tg_backward(loss);
        if (step % 50 == 0)
            printf("step %3d: loss %.2f\n", step, tg_tensor_get(loss, 0));
        tg_optim_step(opt);
        tg_tape_reset(ctx);
    }
    /* tutorial: end */
    char out[T + 24] = "the tape";
    tg_grad_set_enabled(ctx, false);
    for (int n = T; n < T + 16; n++) { /* greedy: the likeliest next letter */
        tg_tensor *window = tg_tensor_temp(ctx, TG_I64, TG_SHAPE(1, T));
        for (int t = 0; t < T; t++)
            tg_tensor_set(window, t, letter_of(out[n - T + t], alphabet));
        tg_tensor *next = tg_argmax(tg_slice(tg_model_forward(gpt, window), 1, T - 1, T, 1), -1, false);
        out[n] = alphabet[(int)tg_tensor_get(next, 0)];
        out[n + 1] = '\0';
        tg_tape_reset(ctx);
    }
    printf("\"the tape\" continues: \"%s\"\n", out);
    tg_optim_free(opt);
    tg_ctx_free(ctx);
    return 0;
}
