#!/usr/bin/python3
"""PyTorch CPU reference for bench/bench_mlp.c: the same Fashion-MNIST MLP
(784-256-128-10, ReLU, softmax cross-entropy, plain SGD lr 0.1, batch 64,
float32, shuffled), the same timing (data loading excluded, 50 untimed
warm-up steps, then one epoch: batch gather + conversion, forward, loss,
backward, step).

    /usr/bin/python3 bench/pytorch_mlp.py [--threads N] [--epochs N] [--samples N] [--data DIR]

--threads is torch.set_num_threads. bench/run_mlp.sh runs it through
bench/peer_config.py, which picks PyTorch's best OpenBLAS core and thread
setting on the machine at hand (OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS); --samples cuts the timed epoch short, for its short trials.
Prints a line with the figures, a line with the configuration it ran with (as
torch and OpenBLAS report it: core, threads, the CPU), then "PEER <that
configuration in a few words>" and one "RESULT pytorch threads=N
samples_per_s=X samples_per_cpu_s=C peak_rss_mb=Y test_acc=Z" line.
"""
import argparse
import gzip
import os
import resource
import time

import numpy as np
import torch

import peer_config


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def find(directory, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            return path
    raise SystemExit(f"pytorch_mlp: {directory}/{name}[.gz] not found "
                     "(install Debian's package dataset-fashion-mnist)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--samples", type=int, default=0, help="timed samples per epoch (default: all)")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)

    # Bytes stay bytes until a batch needs them, as in tapegrad.
    train_x = torch.from_numpy(read_idx(find(args.data, "train-images-idx3-ubyte")).reshape(-1, 784).copy())
    train_y = torch.from_numpy(read_idx(find(args.data, "train-labels-idx1-ubyte")).astype(np.int64))
    test_x = torch.from_numpy(read_idx(find(args.data, "t10k-images-idx3-ubyte")).reshape(-1, 784).copy())
    test_y = torch.from_numpy(read_idx(find(args.data, "t10k-labels-idx1-ubyte")).astype(np.int64))

    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    batch = 64
    n = min(args.samples, train_x.shape[0]) if args.samples > 0 else train_x.shape[0]

    def epoch(count):
        order = torch.randperm(n)[:count]
        total = 0.0
        for start in range(0, count, batch):
            idx = order[start:start + batch]
            x = train_x[idx].float().div_(255)
            y = train_y[idx]
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        return total / count

    epoch(args.warmup * batch)  # untimed warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(args.epochs):
        loss = epoch(n)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    rate, cpu_rate = n * args.epochs / seconds, n * args.epochs / cpu
    with torch.no_grad():
        acc = (model(test_x.float() / 255).argmax(1) == test_y).float().mean().item()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    threads = peer_config.threads_label(args.threads)
    print(f"pytorch   MLP 784-256-128-10 SGD batch 64, {threads} thread{'s' if threads > 1 else ''}: "
          f"{args.epochs} epoch{'s' if args.epochs > 1 else ''} in {seconds:.3f} s = {rate:.0f} samples/s, "
          f"{cpu_rate:.0f} per CPU-second; "
          f"train loss {loss:.4f}, test acc {100 * acc:.2f}%; peak RSS {rss:.1f} MB")
    print(f"  configuration: {peer_config.config_line(torch)}")
    print(f"PEER {peer_config.config_short(torch)}")
    print(f"RESULT pytorch threads={threads} samples_per_s={rate:.0f} samples_per_cpu_s={cpu_rate:.0f} "
          f"peak_rss_mb={rss:.1f} test_acc={acc:.4f}")


if __name__ == "__main__":
    main()
