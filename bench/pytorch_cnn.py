#!/usr/bin/python3
"""PyTorch CPU reference for bench/bench_cnn.c: the same two CNNs on random
28x28 images, batch 64, plain SGD lr 0.01, float32, softmax cross-entropy,
the same timing (untimed warm-up steps, then R rounds of N steps: forward,
loss, backward, step; the median round is reported with the rounds' spread).

    /usr/bin/python3 bench/pytorch_cnn.py [--model lenet|wide] [--threads N] [--steps N] [--warmup N] [--rounds R]

  lenet: conv 5x5 1->6 pad 2, ReLU, maxpool 2; conv 5x5 6->16, ReLU, maxpool 2; dense 400-120-84-10
  wide:  conv 3x3 1->32, ReLU, maxpool 2; conv 3x3 32->64, ReLU, maxpool 2; dense 1600-128-10

--threads is torch.set_num_threads. bench/run_cnn.sh runs it through
bench/peer_config.py, which picks PyTorch's best OpenBLAS core and thread
setting on the machine at hand (OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS). Prints a line with the figures, a line with the
configuration it ran with (as torch and OpenBLAS report it: core, threads,
whether the convolutions ran through oneDNN, the CPU), then "PEER <that
configuration in a few words>" and one "RESULT pytorch model=M threads=N
samples_per_s=X samples_per_cpu_s=C spread=S peak_rss_mb=Y" line.
"""
import argparse
import resource
import time

import torch
import torch.nn as nn

import peer_config

BATCH = 64
N_BATCHES = 16


def model_for(name):
    if name == "lenet":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["lenet", "wide"], default="lenet")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    model = model_for(args.model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    images = [torch.rand(BATCH, 1, 28, 28) for _ in range(N_BATCHES)]
    labels = [torch.randint(0, 10, (BATCH,)) for _ in range(N_BATCHES)]
    step = 0
    rates, cpu_rates = [], []
    loss = None
    for r in range(-1, args.rounds):
        n = args.warmup if r < 0 else args.steps
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            b = step % N_BATCHES
            opt.zero_grad()
            loss = loss_fn(model(images[b]), labels[b])
            loss.backward()
            opt.step()
            step += 1
        last = loss.item()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        if r >= 0:
            rates.append(n * BATCH / seconds)
            cpu_rates.append(n * BATCH / cpu)
    with torch.autograd.profiler.profile() as prof:  # which convolution kernels ran
        loss_fn(model(images[0]), labels[0]).backward()
    onednn_conv = any(e.name == "aten::mkldnn_convolution" for e in prof.function_events)
    rates.sort()
    cpu_rates.sort()
    median = rates[len(rates) // 2]
    spread = (rates[-1] - rates[0]) / median
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = peer_config.threads_label(args.threads)
    print(f"pytorch   {args.model:5s} batch {BATCH} SGD, {t} thread{'s' if t > 1 else ''}: {median:.0f} samples/s "
          f"(median of {args.rounds} rounds of {args.steps} steps, min {rates[0]:.0f}, max {rates[-1]:.0f}: "
          f"spread {100 * spread:.0f}%); {cpu_rates[len(cpu_rates) // 2]:.0f} per CPU-second; last loss {last:.3f}; "
          f"peak RSS {rss:.1f} MB")
    print(f"  configuration: {peer_config.config_line(torch, onednn_conv)}")
    print(f"PEER {peer_config.config_short(torch, onednn_conv)}")
    print(f"RESULT pytorch model={args.model} threads={t} samples_per_s={median:.0f} "
          f"samples_per_cpu_s={cpu_rates[len(cpu_rates) // 2]:.0f} spread={spread:.3f} peak_rss_mb={rss:.1f}")


if __name__ == "__main__":
    main()
