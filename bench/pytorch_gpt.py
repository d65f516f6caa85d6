#!/usr/bin/python3
"""PyTorch CPU reference for bench/bench_gpt.c: the same character-level GPT
(vocabulary 65, token and learned position embeddings, pre-LN blocks with
causal multi-head attention and a GELU MLP of 4d, final layer norm, LM head
tied to the token embedding; minGPT's structure), float32, AdamW (lr 3e-4,
betas 0.9/0.99, weight decay 0.1 on the matrices, none on biases, norms and
embeddings), gradient-norm clipping at 1, random token windows, initialised
as tapegrad initialises it (Glorot uniform weights, zero biases); the same
timing (untimed warm-up steps, then timed steps: batch, forward, loss,
backward, clipping, step).

    /usr/bin/python3 bench/pytorch_gpt.py [--config small|medium] [--threads N]
                                          [--steps N] [--warmup N] [--samples N]

--threads is torch.set_num_threads; bench/run_gpt.sh runs it through
bench/peer_config.py, which picks PyTorch's best OpenBLAS core and thread
setting (--samples, which its short trials pass, is taken as a step count).
Prints a line with the figures, the configuration it ran with, "PEER ..."
and "RESULT pytorch threads=N samples_per_s=STEPS_PER_S samples_per_cpu_s=C
peak_rss_mb=Y params=P".
"""
import argparse
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import peer_config

VOCAB = 65


class SelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)

    def forward(self, x, causal):
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)
        weights = F.softmax(scores.masked_fill(causal[:t, :t], float("-inf")), dim=-1)
        return self.c_proj((weights @ v).transpose(1, 2).contiguous().view(b, t, d))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = SelfAttention(d, heads)
        self.c_fc, self.c_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, causal):
        x = x + self.attn(self.ln_1(x), causal)
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, t, d, heads, blocks):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, d), nn.Embedding(t, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(blocks))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, VOCAB)
        self.lm_head.weight = self.wte.weight
        self.register_buffer("causal", torch.ones(t, t, dtype=torch.bool).triu(1))

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x, self.causal)
        return self.lm_head(self.ln_f(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="small", choices=("small", "medium"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=-1)
    ap.add_argument("--samples", type=int, default=0, help="peer_config's trials: timed steps")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    small = args.config == "small"
    t, d, heads, blocks, batch = (32, 64, 2, 2, 16) if small else (128, 256, 4, 4, 8)
    steps = args.steps or args.samples or (400 if small else 40)
    warmup = args.warmup if args.warmup >= 0 else (30 if small else 5)

    model = GPT(t, d, heads, blocks)
    # tapegrad's default initialisation, so that both sides train the same
    # model from the same kind of start (PyTorch's N(0, 1) embedding, tied to
    # the head, would start at a loss of ~12 instead of ~4.2)
    for p in model.parameters():
        if p.dim() >= 2:
            nn.init.xavier_uniform_(p)
        elif p is not model.ln_f.weight and not any(p is b.ln_1.weight or p is b.ln_2.weight for b in model.blocks):
            nn.init.zeros_(p)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith(("wte.", "wpe."))]
    spared = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and not n.startswith(("wte.", "wpe.")))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": spared, "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.99), eps=1e-8)
    params = list(model.parameters())
    count = sum(p.numel() for p in params)

    def step():
        x = torch.randint(VOCAB, (batch, t))
        y = torch.randint(VOCAB, (batch, t))
        opt.zero_grad()
        loss = F.cross_entropy(model(x).view(-1, VOCAB), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    for _ in range(warmup):
        step()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss = step()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    rate, cpu_rate = steps / seconds, steps / cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    threads = peer_config.threads_label(args.threads)
    print(f"pytorch   GPT {args.config} (T {t}, d {d}, {heads} heads, {blocks} blocks, batch {batch}; {count} "
          f"parameters), {threads} thread{'s' if threads > 1 else ''}: {steps} steps in {seconds:.3f} s = "
          f"{rate:.2f} steps/s, {cpu_rate:.2f} per CPU-second; loss {loss:.4f}; peak RSS {rss:.1f} MB")
    print(f"  configuration: {peer_config.config_line(torch)}")
    print(f"PEER {peer_config.config_short(torch)}")
    print(f"RESULT pytorch threads={threads} samples_per_s={rate:.2f} samples_per_cpu_s={cpu_rate:.2f} "
          f"peak_rss_mb={rss:.1f} params={count}")


if __name__ == "__main__":
    main()
