/* The tapegrad side of the GPT gradient test against PyTorch
 * (tests/gpt_torch.py): a 1-block GPT in float64 (token and position
 * embeddings, a causal pre-LN transformer block, a final layer norm, an LM
 * head tied to the token embedding) on a fixed batch. Prints, one per line,
 * with values as hex floats (%a) so that nothing is lost:
 *
 *   config VOCAB T D HEADS HIDDEN B
 *   tokens  x... (B·T class indices)      targets y...
 *   tensor KEY RANK DIMS... VALUES...     every state_dict entry, PyTorch's key
 *   loss VALUE                            the mean cross-entropy
 *   grad KEY VALUES...                    every parameter's gradient (a tied one once)
 *
 * Exit status 0, or 1 with the library's error on stderr. */
#include <stdio.h>

#include "tapegrad.h"

enum { VOCAB = 11, T = 8, D = 16, HEADS = 2, HIDDEN = 4 * D, B = 3 };

static void print_values(const tg_tensor *t)
{
    for (int64_t i = 0; i < tg_tensor_size(t); i++)
        printf(" %a", tg_tensor_get(t, i));
    printf("\n");
}

int main(void)
{
    tg_ctx *ctx = tg_ctx_new(1);
    tg_rng rng = tg_rng_seed(19);
    tg_model *gpt = tg_model_new(ctx, TG_F64, TG_SHAPE(T), TG_LAYERS(
        {.kind = TG_LAYER_EMBEDDING, .name = "wte", .in = VOCAB, .out = D},
        {.kind = TG_LAYER_POSITION_EMBEDDING, .name = "wpe", .in = T, .out = D},
        {.kind = TG_LAYER_TRANSFORMER_BLOCK, .name = "block1", .in = D, .out = HIDDEN, .heads = HEADS, .causal = true},
        {.kind = TG_LAYER_LAYER_NORM, .name = "ln_f", .in = D},
        {.kind = TG_LAYER_DENSE, .name = "lm_head", .in = D, .out = VOCAB, .tie = "wte"}), &rng);
    if (!gpt) {
        fprintf(stderr, "%s\n", tg_ctx_error(ctx));
        return 1;
    }
    /* Norms and biases away from 1 and 0, so that their gradients are tested too. */
    tg_params params = tg_model_params(gpt);
    for (int i = 0; i < params.count; i++)
        if (tg_tensor_rank(params.items[i]) == 1)
            for (int64_t k = 0; k < tg_tensor_size(params.items[i]); k++)
                tg_tensor_set(params.items[i], k, tg_tensor_get(params.items[i], k) + 0.1 * tg_rng_normal(&rng));
    tg_tensor *x = tg_tensor_new(ctx, TG_I64, TG_SHAPE(B, T)), *y = tg_tensor_new(ctx, TG_I64, TG_SHAPE(B, T));
    for (int64_t i = 0; i < B * T; i++) {
        tg_tensor_set(x, i, (double)tg_rng_below(&rng, VOCAB));
        tg_tensor_set(y, i, (double)tg_rng_below(&rng, VOCAB));
    }
    printf("config %d %d %d %d %d %d\n", VOCAB, T, D, HEADS, HIDDEN, B);
    printf("tokens");
    print_values(x);
    printf("targets");
    print_values(y);
    for (int l = 0; l < tg_model_depth(gpt); l++) {
        tg_module *m = tg_model_module(gpt, l);
        tg_params p = tg_module_params(m);
        for (int i = 0; i < p.count; i++) {
            printf("tensor %s.%s %d", tg_module_spec(m)->name, tg_module_torch_name(m, i), tg_tensor_rank(p.items[i]));
            for (int a = 0; a < tg_tensor_rank(p.items[i]); a++)
                printf(" %lld", (long long)tg_tensor_dim(p.items[i], a));
            print_values(p.items[i]);
        }
    }
    tg_tensor *loss = tg_cross_entropy(tg_model_forward(gpt, x), y);
    if (!loss || tg_backward(loss) != TG_OK) {
        fprintf(stderr, "%s\n", tg_ctx_error(ctx));
        return 1;
    }
    printf("loss %a\n", tg_tensor_get(loss, 0));
    for (int l = 0; l < tg_model_depth(gpt); l++) {
        tg_module *m = tg_model_module(gpt, l);
        tg_params p = tg_module_params(m);
        for (int i = 0; i < p.count; i++) {
            if (tg_module_spec(m)->tie && i == 0)
                continue; /* the tied weight: wte's, printed there */
            printf("grad %s.%s", tg_module_spec(m)->name, tg_module_torch_name(m, i));
            print_values(tg_tensor_grad(p.items[i]));
        }
    }
    tg_ctx_free(ctx);
    return 0;
}
