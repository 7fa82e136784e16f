#!/usr/bin/env python3
"""Writes Tests/FinchModelsTests/Fixtures/quant_blocks.json: random-but-valid GGUF blocks of every
format Finch decodes, with gguf-py's dequantized f32 (bit patterns), plus f32 rows quantized by
gguf-py's Q8_0/Q4_0/Q4_1 quantizers (which mirror llama.cpp's *_ref quantizers).

Run outside CI:  /work/venv/bin/python scripts/reference/quant_blocks.py
"""
import base64, json, sys
from pathlib import Path
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

SEED = 20261125
rng = np.random.default_rng(SEED)
b64 = lambda a: base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()

def half(values):
    return np.asarray(values, dtype=np.float16).view(np.uint8).reshape(-1, 2)

def blocks_for(qtype, n):
    size = gguf.GGML_QUANT_SIZES[qtype][1]
    raw = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
    d = half(rng.normal(0, 0.05, n))          # finite scales of both signs
    dmin = half(np.abs(rng.normal(0, 0.02, n)))
    if qtype in (T.Q4_0, T.Q5_0, T.Q8_0):
        raw[:, 0:2] = d
    elif qtype == T.Q4_1:
        raw[:, 0:2] = d; raw[:, 2:4] = half(rng.normal(0, 0.1, n))
    elif qtype in (T.Q4_K, T.Q5_K):
        raw[:, 0:2] = d; raw[:, 2:4] = dmin
    elif qtype == T.Q6_K:
        raw[:, 208:210] = d
    # edge cases in the first blocks: subnormal and zero scales
    raw[0, (208 if qtype == T.Q6_K else 0):(210 if qtype == T.Q6_K else 2)] = half([6.0e-6])[0]
    raw[1, (208 if qtype == T.Q6_K else 0):(210 if qtype == T.Q6_K else 2)] = half([0.0])[0]
    return raw

out = {
    "generator": "scripts/reference/quant_blocks.py",
    "versions": {"gguf": gguf.__version__ if hasattr(gguf, "__version__") else __import__("importlib.metadata").metadata.version("gguf"),
                 "numpy": np.__version__, "python": sys.version.split()[0]},
    "seed": SEED,
    "dequantize": [],
    "quantize": [],
}
for name, qtype in [("q4_0", T.Q4_0), ("q4_1", T.Q4_1), ("q5_0", T.Q5_0), ("q8_0", T.Q8_0),
                    ("q4_K", T.Q4_K), ("q5_K", T.Q5_K), ("q6_K", T.Q6_K)]:
    raw = blocks_for(qtype, 6)
    y = dequantize(raw.reshape(-1), qtype).astype(np.float32).reshape(-1)
    out["dequantize"].append({"dtype": name, "blocks": 6, "bytes": b64(raw), "f32": b64(y)})

def rows():
    x = rng.normal(0, 1, size=(8, 32)).astype(np.float32)
    x[0] = 0                                                    # all-zero block
    x[1] = -np.abs(x[1]); x[1, 5] = -3.0                        # largest magnitude negative
    x[2] = np.arange(-16, 16, dtype=np.float32) * 0.5           # exact halves after scaling
    x[3] = np.linspace(-127, 127, 32, dtype=np.float32)         # q8 ties
    x[4] = 1e-3 * x[4]                                          # small values
    x[5, :] = 7.0                                               # constant block (d = 0 for q4_1)
    x[6] = 1e4 * x[6]                                           # large values, f16 scale rounding
    return x.reshape(-1)

for name, qtype in [("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1)]:
    x = rows()
    q = quantize(x.reshape(-1, 32), qtype).reshape(-1)
    out["quantize"].append({"dtype": name, "f32": b64(x), "bytes": b64(q)})

path = Path(__file__).resolve().parents[2] / "Tests/FinchModelsTests/Fixtures/quant_blocks.json"
path.write_text(json.dumps(out, indent=1) + "\n")
print("wrote", path, path.stat().st_size, "bytes")
