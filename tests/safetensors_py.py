"""safetensors files in plain Python (struct and json: Debian has no
safetensors package), for the tests that trade files with PyTorch."""
import json
import struct

import torch

ST_DTYPE = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.bfloat16: "BF16",
            torch.float16: "F16"}
TORCH_DTYPE = {v: k for k, v in ST_DTYPE.items()}
INT_OF_WIDTH = {2: "<i2", 4: "<i4", 8: "<i8"}


def tensor_bytes(t):
    """The tensor's values, little-endian, row-major, bit for bit."""
    width = t.element_size()
    bits = t.detach().contiguous().reshape(-1).view({2: torch.int16, 4: torch.int32, 8: torch.int64}[width])
    return bits.numpy().astype(INT_OF_WIDTH[width]).tobytes()


def write(path, tensors, metadata=None):
    """Writes name -> tensor with the header padded to 8 bytes."""
    header, data = {"__metadata__": metadata if metadata is not None else {"format": "pt"}}, b""
    for name, t in tensors.items():
        raw = tensor_bytes(t)
        header[name] = {"dtype": ST_DTYPE[t.dtype], "shape": list(t.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def read(path):
    """(header length, header without metadata, data bytes, metadata, name -> tensor)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        dtype = TORCH_DTYPE[e["dtype"]]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(e["shape"])
    return n, header, data, metadata, tensors
