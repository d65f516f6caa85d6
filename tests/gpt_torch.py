"""A 1-block GPT in float64: tapegrad's loss and gradients against PyTorch's.

tests/gpt_torch_interop prints its model's state_dict (PyTorch keys: the
layer name, then the kind's torch_names), a batch, its loss and every
parameter's gradient. This script builds the same network from torch.nn
modules (minGPT's naming: wte, wpe, block1.ln_1, block1.attn.c_attn, ...,
ln_f, lm_head tied to wte), loads that state_dict strictly, and checks that
the loss and each gradient agree to 1e-10 relative (whole-tensor norm) and
that no gradient is zero.

    python3 tests/gpt_torch.py INTEROP_BINARY
"""
import math
import subprocess
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)
        causal = torch.ones(t, t, dtype=torch.bool).triu(1)
        weights = F.softmax(scores.masked_fill(causal, float("-inf")), dim=-1)
        y = (weights @ v).transpose(1, 2).contiguous().view(b, t, d)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.c_fc = nn.Linear(d, hidden)
        self.c_proj = nn.Linear(hidden, d)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, d, heads, hidden):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = SelfAttention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = MLP(d, hidden)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab, t, d, heads, hidden):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(t, d)
        self.block1 = Block(d, heads, hidden)
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab)
        self.lm_head.weight = self.wte.weight  # tied

    def forward(self, idx):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t))
        return self.lm_head(self.ln_f(self.block1(x)))


def main():
    out = subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout
    state, grads = {}, {}
    for line in out.splitlines():
        word, *rest = line.split()
        if word == "config":
            vocab, t, d, heads, hidden, b = map(int, rest)
        elif word in ("tokens", "targets"):
            values = torch.tensor([int(float.fromhex(v)) for v in rest]).view(b, t)
            if word == "tokens":
                tokens = values
            else:
                targets = values
        elif word == "tensor":
            key, rank = rest[0], int(rest[1])
            shape = [int(v) for v in rest[2:2 + rank]]
            state[key] = torch.tensor([float.fromhex(v) for v in rest[2 + rank:]], dtype=torch.float64).view(shape)
        elif word == "loss":
            loss_tg = float.fromhex(rest[0])
        elif word == "grad":
            grads[rest[0]] = torch.tensor([float.fromhex(v) for v in rest[1:]], dtype=torch.float64)

    model = GPT(vocab, t, d, heads, hidden).double()
    model.load_state_dict(state, strict=True)
    logits = model(tokens)
    loss = F.cross_entropy(logits.view(-1, vocab), targets.view(-1))
    loss.backward()

    failures = []
    rel = abs(loss.item() - loss_tg) / abs(loss.item())
    print(f"loss: tapegrad {loss_tg!r}, PyTorch {loss.item()!r}, relative error {rel:.2e}")
    if not rel <= 1e-10:
        failures.append("loss")
    names = dict(model.named_parameters())  # the tied weight once, as wte.weight
    if sorted(names) != sorted(grads):
        failures.append(f"parameters differ: PyTorch {sorted(names)}, tapegrad {sorted(grads)}")
    worst = 0.0
    for key, param in names.items():
        if key not in grads:
            continue
        want = param.grad.reshape(-1)
        err = (grads[key] - want).norm().item() / want.norm().item() if want.norm() > 0 else math.inf
        worst = max(worst, err)
        if not err <= 1e-10 or grads[key].abs().max() == 0:
            failures.append(f"{key}: relative error {err:.2e}")
    print(f"{len(names)} gradients, largest whole-tensor relative error {worst:.2e}")
    if failures:
        print("FAILED: " + "; ".join(failures))
        sys.exit(1)
    print("1 passed, 0 failed")


main()
