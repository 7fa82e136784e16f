#!/usr/bin/env python3
"""Checks scripts/reference/nf4_reference.py against bitsandbytes itself (CPU): 4-bit codes, 8-bit absmax
codes, offset and dequantized values on random tensors. Needs torch and bitsandbytes (a venv; never CI).
Usage: python3 scripts/reference/nf4_check_bitsandbytes.py   (from the repository root)
"""
import sys, numpy as np, torch
sys.path.insert(0, "scripts/reference")
import nf4_reference as ref
import bitsandbytes.functional as F
rng = np.random.default_rng(7)
worst = 0; mism = 0; amism = 0; total = 0
for shape in [(64, 64), (300, 128), (7, 1024), (33, 64 * 5), (512, 576)]:
    a = (rng.standard_normal(shape) * rng.uniform(0.01, 2)).astype(np.float32)
    packed, qabsmax, absmax2, offset = ref.quantize_nf4(a.reshape(-1))[:4]
    q, st = F.quantize_4bit(torch.from_numpy(a), blocksize=64, compress_statistics=True, quant_type="nf4")
    bp = q.numpy().reshape(-1)
    total += packed.size; mism += int((bp[:packed.size] != packed.reshape(-1)).sum())
    amism += int((st.absmax.numpy().reshape(-1) != qabsmax).sum())
    dq_b = F.dequantize_4bit(q, st).numpy().reshape(-1)
    dq_r = ref.dequantize_nf4(packed, qabsmax, absmax2, offset)[0]
    worst = max(worst, float(np.abs(dq_b - dq_r).max() / np.abs(a).max()))
    print(shape, "code bytes differ:", int((bp[:packed.size] != packed.reshape(-1)).sum()), "of", packed.size,
          "absmax codes differ:", int((st.absmax.numpy().reshape(-1) != qabsmax).sum()), "offset", float(st.offset) - float(offset), "max rel dequant diff", float(np.abs(dq_b - dq_r).max() / np.abs(a).max()))
print("bitsandbytes", __import__("bitsandbytes").__version__, "torch", torch.__version__, "4-bit code bytes differing", mism, "of", total, "; absmax codes differing", amism, "; worst relative dequant diff", worst)
# The 4-bit codes must agree exactly; bitsandbytes' native CPU (and CUDA) 8-bit blockwise quantizer picks
# the nearest map entry by its own search, which breaks near-ties differently from the default backend's
# bucketize that the reference follows: a few absmax codes differ by one step.
assert mism == 0 and amism * 200 < total * 2 // 64
