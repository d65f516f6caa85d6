"""Models between PyTorch and tapegrad under PyTorch's state_dict names, both
ways, with plain Python for the files (struct and json: Debian has no
safetensors package).

PyTorch -> tapegrad: LeNet-5, an MLP (batch norm with running statistics,
dropout, layer norm), an LSTM classifier over embeddings and a GRU/RNN model
with named layers get random weights here and are saved; tapegrad loads them
(tests/model_interop.c) and its eval-mode logits agree with PyTorch's to 1e-5.

tapegrad -> PyTorch: the same four models with tapegrad's random weights load
into PyTorch with load_state_dict(strict=True) and agree to 1e-5.

Fashion-MNIST (where /usr/share/datasets/fashion-mnist is installed):
tapegrad trains LeNet-5 for one epoch on the 60000 training images and saves
it; PyTorch loads it and counts the same test accuracy to 0.01 points (one
image in 10000). The model exported as C, float and int8 weights, is compiled
with cc -std=c99 -Wall -Wextra -Werror -O2 and scored on the test set too:
float as tapegrad's, int8 within one point; the sizes are printed.

    python3 tests/model_torch.py INTEROP_BINARY WORK_DIR [DATA_DIR]

(SKIP_FASHION=1 in the environment skips the Fashion-MNIST part, half a minute.)
"""
import gzip
import os
import struct
import subprocess
import sys

import torch

from safetensors_py import read, write as save

interop, work = sys.argv[1], sys.argv[2]
data_dir = sys.argv[3] if len(sys.argv) > 3 else "/usr/share/datasets/fashion-mnist"
failures = []


def check(ok, what):
    print(("ok:   " if ok else "FAIL: ") + what)
    if not ok:
        failures.append(what)


def load(path):
    return read(path)[4]


# ---- the models, as tests/model_interop.c builds them -------------------------------------------

def lenet():
    n = torch.nn
    return n.Sequential(n.Conv2d(1, 6, 5, padding=2), n.ReLU(), n.MaxPool2d(2), n.Conv2d(6, 16, 5), n.ReLU(),
                        n.MaxPool2d(2), n.Flatten(), n.Linear(400, 120), n.ReLU(), n.Linear(120, 84), n.ReLU(),
                        n.Linear(84, 10))


def mlp():
    n = torch.nn
    return n.Sequential(n.Linear(20, 32), n.ReLU(), n.BatchNorm1d(32), n.Dropout(0.2), n.Linear(32, 16), n.Tanh(),
                        n.LayerNorm(16), n.Linear(16, 5))


class LSTMClassifier(torch.nn.Sequential):
    """Embedding, LSTM, Linear numbered as a Sequential; the class reads the LSTM's last state."""

    def __init__(self):
        super().__init__(torch.nn.Embedding(50, 16), torch.nn.LSTM(16, 32, batch_first=True), torch.nn.Linear(32, 4))

    def forward(self, tokens):
        _, (h, _) = self[1](self[0](tokens.long()))
        return self[2](h[-1])


class GRUModel(torch.nn.Module):
    """Named layers: encoder.weight_ih_l0, summary.weight_hh_l0, head.weight, ..."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.GRU(5, 8, batch_first=True)
        self.summary = torch.nn.RNN(8, 8, batch_first=True)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x):
        y, _ = self.encoder(x)
        _, h = self.summary(y)
        return self.head(h[-1])


def sample_input(kind, generator):
    if kind == "lenet":
        return torch.rand(4, 1, 28, 28, generator=generator)
    if kind == "mlp":
        return torch.randn(6, 20, generator=generator)
    if kind == "lstm":
        return torch.randint(0, 50, (5, 12), generator=generator).to(torch.float32)
    return torch.randn(5, 6, 5, generator=generator)


def torch_model(kind):
    return {"lenet": lenet, "mlp": mlp, "lstm": LSTMClassifier, "gru": GRUModel}[kind]()


def randomized(model, generator):
    """PyTorch's random initialization, and every tensor moved off it a little: biases, running statistics and
    norms' gamma and beta (1 and 0 at the start) too."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(7)
            elif name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=generator))
            else:
                t.add_(0.1 * torch.randn(t.shape, generator=generator))
    return model


def max_difference(a, b):
    return (a - b).abs().max().item()


generator = torch.Generator().manual_seed(0)
for kind in ["lenet", "mlp", "lstm", "gru"]:
    x = sample_input(kind, generator)
    save(f"{work}/{kind}_x.safetensors", {"x": x})

    # PyTorch -> tapegrad
    model = randomized(torch_model(kind), generator).eval()
    save(f"{work}/{kind}_torch.safetensors", model.state_dict())
    run = subprocess.run([interop, "logits", kind, f"{work}/{kind}_torch.safetensors", f"{work}/{kind}_x.safetensors",
                          f"{work}/{kind}_logits.safetensors"], capture_output=True, text=True)
    check(run.returncode == 0, f"{kind}: tapegrad loads PyTorch's state_dict {run.stderr.strip()}")
    if run.returncode == 0:
        with torch.no_grad():
            expected = model(x)
        got = load(f"{work}/{kind}_logits.safetensors")["logits"]
        check(got.shape == expected.shape and max_difference(got, expected) < 1e-5,
              f"{kind}: PyTorch -> tapegrad logits {list(got.shape)} (up to {expected.abs().max().item():.3g}) differ "
              f"by {max_difference(got, expected) if got.shape == expected.shape else 'shape'} (< 1e-5)")

    # tapegrad -> PyTorch
    run = subprocess.run([interop, "save", kind, f"{work}/{kind}_tapegrad.safetensors", f"{work}/{kind}_x.safetensors",
                          f"{work}/{kind}_tapegrad_logits.safetensors"], capture_output=True, text=True)
    check(run.returncode == 0, f"{kind}: tapegrad saves {run.stderr.strip()}")
    if run.returncode == 0:
        model = torch_model(kind)
        state = load(f"{work}/{kind}_tapegrad.safetensors")
        model.load_state_dict(state, strict=True)
        model.eval()
        with torch.no_grad():
            got = model(x)
        expected = load(f"{work}/{kind}_tapegrad_logits.safetensors")["logits"]
        check(max_difference(got, expected) < 1e-5, f"{kind}: tapegrad -> PyTorch (strict load of {len(state)} "
              f"entries) logits differ by {max_difference(got, expected):.3g} (< 1e-5)")


# ---- Fashion-MNIST: trained in tapegrad, scored in PyTorch and as exported C ---------------------

def idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = struct.unpack(f">{dims}I", raw[4:4 + 4 * dims])
    return torch.frombuffer(bytearray(raw[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


DRIVER = """#include <stdio.h>
#include MODEL_HEADER
/* The exported model over the test set: prints how many it gets right. */
int main(int argc, char **argv)
{
    static float in[784], out[10];
    FILE *images = fopen(argv[1], "rb"), *labels = fopen(argv[2], "rb");
    long correct = 0, total = 0;
    int label;
    (void)argc;
    if (!images || !labels)
        return 1;
    while (fread(in, sizeof in, 1, images) == 1 && (label = fgetc(labels)) != EOF) {
        int best = 0;
        if (FORWARD(in, out) != 0)
            return 1;
        for (int k = 1; k < 10; k++)
            if (out[k] > out[best])
                best = k;
        correct += best == label;
        total++;
    }
    printf("%ld %ld\\n", correct, total);
    return 0;
}
"""

if os.environ.get("SKIP_FASHION") or not os.path.exists(f"{data_dir}/t10k-images-idx3-ubyte.gz"):
    print(f"Fashion-MNIST part skipped: no {data_dir}/t10k-images-idx3-ubyte.gz (apt-get install dataset-fashion-mnist)")
else:
    weights = f"{work}/lenet_fashion.safetensors"
    run = subprocess.run([interop, "train", data_dir, weights], capture_output=True, text=True)
    check(run.returncode == 0, f"tapegrad trains LeNet-5 for an epoch {run.stderr.strip()}")
    if run.returncode == 0:
        _, correct, _, total = run.stdout.split()
        tapegrad_correct, total = int(correct), int(total)
        images = idx(f"{data_dir}/t10k-images-idx3-ubyte.gz").to(torch.float32) / 255
        labels = idx(f"{data_dir}/t10k-labels-idx1-ubyte.gz").to(torch.int64)
        model = lenet()
        model.load_state_dict(load(weights), strict=True)
        model.eval()
        with torch.no_grad():
            torch_correct = int((model(images.reshape(-1, 1, 28, 28)).argmax(1) == labels).sum())
        check(abs(torch_correct - tapegrad_correct) <= total // 10000,
              f"LeNet-5 trained by tapegrad for one epoch: test accuracy {100 * tapegrad_correct / total:.2f}% in "
              f"tapegrad, {100 * torch_correct / total:.2f}% in PyTorch (torch {torch.__version__}; to 0.01 points)")

        run = subprocess.run([interop, "export", weights, data_dir, work], capture_output=True, text=True)
        check(run.returncode == 0, f"tapegrad exports LeNet-5 as C {run.stderr.strip()}")
        with open(f"{work}/driver.c", "w") as f:
            f.write(DRIVER)
        for variant in ["f32", "int8"]:
            name = f"lenet_{variant}"
            flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]
            obj = subprocess.run(["cc", *flags, "-c", "-o", f"{work}/{name}.o", f"{work}/{name}.c"],
                                 capture_output=True, text=True)
            check(obj.returncode == 0 and obj.stderr == "", f"{name}.c compiles with cc {' '.join(flags)} "
                  f"{obj.stderr.strip()}")
            exe = subprocess.run(["cc", *flags, f'-DMODEL_HEADER="{name}.h"', f"-DFORWARD={name}_forward",
                                  f"-I{work}", "-o", f"{work}/{name}_run", f"{work}/driver.c", f"{work}/{name}.o",
                                  "-lm"], capture_output=True, text=True)
            check(exe.returncode == 0, f"{name}: the driver links {exe.stderr.strip()}")
            if obj.returncode or exe.returncode:
                continue
            scored = subprocess.run([f"{work}/{name}_run", f"{work}/test_x.f32", f"{work}/test_y.u8"],
                                    capture_output=True, text=True)
            c_correct, c_total = (int(v) for v in scored.stdout.split())
            size = subprocess.run(["size", f"{work}/{name}.o"], capture_output=True, text=True).stdout.split("\n")[1]
            text_bytes, data_bytes, bss_bytes = (int(v) for v in size.split()[:3])
            limit = total // 10000 if variant == "f32" else total // 100
            check(c_total == total and abs(c_correct - tapegrad_correct) <= limit,
                  f"exported {name}: test accuracy {100 * c_correct / c_total:.2f}% (tapegrad "
                  f"{100 * tapegrad_correct / total:.2f}%; within {100 * limit / total:.2f} points); object file: "
                  f"{text_bytes + data_bytes} bytes of code and constants, {bss_bytes} of scratch, "
                  f"{os.path.getsize(f'{work}/{name}.c')} bytes of C")

if failures:
    print(f"model_torch: {len(failures)} failures")
    sys.exit(1)
print(f"model_torch: torch {torch.__version__}: LeNet-5, MLP, LSTM classifier and GRU model agree both ways")
