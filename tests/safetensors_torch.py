"""safetensors between PyTorch and tapegrad, both ways, with plain Python
(struct and json: Debian has no safetensors package).

PyTorch -> tapegrad: torch tensors (f32, f64, i64, bf16 and f16 with
subnormals, infinities and NaN, a scalar, an nn.Linear's state_dict) written
as a safetensors file; tapegrad must read every value exactly (bf16 and f16
widen exactly) and compute the Linear's logits as torch does.

tapegrad -> PyTorch: a file tapegrad wrote is parsed here, its layout checked
(header padded to 8 bytes, every tensor aligned to its element size, entries
tiling the data), its values compared exactly, and its "0.weight"/"0.bias"
loaded into torch.nn.Sequential(torch.nn.Linear(3, 4)) with strict=True.

    python3 tests/safetensors_torch.py INTEROP_BINARY WORK_DIR
"""
import math
import subprocess
import sys

import torch

from safetensors_py import ST_DTYPE, read as load, write as save

interop, work = sys.argv[1], sys.argv[2]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what)


def same_value(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


# ---- PyTorch -> tapegrad -------------------------------------------------------
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(3, 4))
tensors = {
    "f32": torch.randn(3, 4),
    "f64": torch.randn(5, dtype=torch.float64),
    "i64": torch.tensor([-(2 ** 62), -1, 0, 2 ** 53 + 1, 2 ** 63 - 1], dtype=torch.int64),
    "bf16": torch.tensor([1.0, -3.0, 1e-39, 2 ** -133, float("inf"), float("-inf"), float("nan"), 3.14159, -0.0],
                         dtype=torch.bfloat16),
    "f16": torch.tensor([0.0, -0.0, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, float("-inf"), float("nan"), 1 / 3],
                        dtype=torch.float16),
    "scalar": torch.tensor(2.5),
    "conv": torch.randn(2, 1, 3, 3),
}
tensors.update({k: v.detach() for k, v in model.state_dict().items()})
source = f"{work}/from_torch.safetensors"
save(source, tensors, {"format": "pt", "made by": "torch " + torch.__version__})

out = subprocess.run([interop, "dump", source], capture_output=True, text=True)
check(out.returncode == 0, f"tapegrad dump failed: {out.stderr}")
seen_meta, seen = {}, {}
for line in out.stdout.splitlines():
    parts = line.split("\t")
    if parts[0] == "meta":
        seen_meta[parts[1]] = parts[2]
    else:
        _, name, dtype, shape, values = parts
        seen[name] = (dtype, [int(d) for d in shape.split(",")] if shape else [], values.split(" ") if values else [])
check(seen_meta == {"format": "pt", "made by": "torch " + torch.__version__}, f"metadata read as {seen_meta}")
check(list(seen) == list(tensors), f"entries read in the order {list(seen)}")
for name, t in tensors.items():
    dtype, shape, values = seen[name]
    check(dtype == ST_DTYPE[t.dtype] and shape == list(t.shape), f"{name}: {dtype} {shape}")
    flat = t.reshape(-1)
    expected = flat.tolist() if t.dtype == torch.int64 else flat.to(torch.float64).tolist()
    got = [int(v) for v in values] if t.dtype == torch.int64 else [float.fromhex(v) for v in values]
    check(len(got) == len(expected) and all(
        (a == b) if t.dtype == torch.int64 else same_value(a, b) for a, b in zip(got, expected)),
        f"{name}: tapegrad read {got}, torch holds {expected}")

out = subprocess.run([interop, "linear", source], capture_output=True, text=True)
check(out.returncode == 0, f"tapegrad linear failed: {out.stderr}")
x = torch.tensor([[0.5, -1, 2], [1.5, 0.25, -0.75]])
with torch.no_grad():
    logits = model(x).reshape(-1).tolist()
got = [float.fromhex(v) for v in out.stdout.split()]
check(len(got) == 8 and max(abs(a - b) for a, b in zip(got, logits)) < 1e-6,
      f"Linear logits: tapegrad {got}, torch {logits}")

# ---- tapegrad -> PyTorch -------------------------------------------------------
target = f"{work}/from_tapegrad.safetensors"
out = subprocess.run([interop, "write", target], capture_output=True, text=True)
check(out.returncode == 0, f"tapegrad write failed: {out.stderr}")
n, header, data, metadata, back = load(target)
check(n % 8 == 0, f"header of {n} bytes is not padded to 8")
check(metadata == {"format": "pt", "writer": "tapegrad"}, f"metadata {metadata}")
check(list(back) == ["0.weight", "0.bias", "thirds", "idx", "zero"], f"entries in the order {list(back)}")
spans = sorted((e["data_offsets"][0], e["data_offsets"][1], e["dtype"]) for e in header.values())
check(spans[0][0] == 0 and spans[-1][1] == len(data) and all(a[1] == b[0] for a, b in zip(spans, spans[1:])),
      f"entries do not tile the data: {spans}")
check(all(begin % {"F32": 4, "F64": 8, "I64": 8}[dt] == 0 for begin, _, dt in spans), f"misaligned: {spans}")
k = torch.arange(12)
check(back["0.weight"].dtype == torch.float32 and torch.equal(back["0.weight"],
      ((k * 7 % 13 - 6).to(torch.float32) / 8).reshape(4, 3)), f"0.weight {back['0.weight']}")
check(torch.equal(back["0.bias"], (torch.arange(4, dtype=torch.float32) - 1.5) / 4), f"0.bias {back['0.bias']}")
check(back["thirds"].dtype == torch.float64 and
      back["thirds"].reshape(-1).tolist() == [(i + 1) / 3.0 for i in range(6)], f"thirds {back['thirds']}")
check(back["idx"].tolist() == [-(2 ** 63), -1, 0, 2 ** 53 + 1, 2 ** 63 - 1], f"idx {back['idx']}")
check(back["zero"].shape == torch.Size([]) and math.copysign(1, back["zero"].item()) == -1, f"zero {back['zero']}")
linear = torch.nn.Sequential(torch.nn.Linear(3, 4))
linear.load_state_dict({k: v for k, v in back.items() if k.startswith("0.")}, strict=True)
with torch.no_grad():
    y = linear(x)
expected = x @ back["0.weight"].T + back["0.bias"]
check(torch.allclose(y, expected, atol=0, rtol=0), f"Linear with tapegrad's weights: {y} vs {expected}")

if failures:
    print(f"safetensors_torch: {len(failures)} failures")
    sys.exit(1)
print(f"safetensors_torch: torch {torch.__version__}: {len(tensors)} tensors from PyTorch read exactly, "
      f"Linear logits agree; {len(back)} tensors from tapegrad parsed and loaded into torch.nn.Linear")
