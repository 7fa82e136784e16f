#!/usr/bin/env python3
"""NF4 with double quantization in numpy, step for step as bitsandbytes does it for
`load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True`, and the fixture
Finch's `BlockNF4` test compares against (Tests/FinchModelsTests/Fixtures/nf4/nf4_fixture.bin).

Followed from bitsandbytes 0.50.2.dev0 (github.com/bitsandbytes-foundation/bitsandbytes @ 95f9af3):
- functional.get_4bit_type("nf4"): the 16 code values below, verbatim.
- backends/default/ops.py `quantize_4bit`: blocks of 64 over the flattened tensor, absmax per block,
  scaled = clamp(A * (1 / absmax.clamp(min=1e-38)), -1, 1) in f32, code index = bucketize(scaled,
  midpoints of the sorted code) (a value on a midpoint takes the lower code), two indices per byte,
  the even element in the high nibble.
- functional.quantize_4bit(compress_statistics=True): offset = absmax.mean(); the absmax values
  minus offset are quantized by quantize_blockwise(blocksize=256) with create_dynamic_map(signed=True):
  per 256 absmax values an f32 absmax2 and 8-bit codes (bucketize on the map's midpoints; a last
  partial group divides instead of multiplying by the reciprocal, as ops.py does).
- functional.dequantize_4bit: absmax = dynamic[qabsmax] * absmax2[group] + offset (f32), then
  value = NF4[index] * absmax (f32).
Two places where torch is emulated rather than called (no torch here): torch.linspace in f32 (the
scalar formula: start + step·i below the midpoint, end − step·(n−1−i) above; torch's vectorised CPU
path can differ in the last bit of a few entries of the 8-bit map), and absmax.mean() (here the
exact mean rounded to f32; torch's f32 reduction is within an ulp). Both move only the last bit of a
block's scale, never a 4-bit code except at an exact tie.
bitsandbytes' CUDA kernel (kQuantizeBlockwise, what load_in_4bit runs on a GPU) agrees except at two
edges: its NF4 thresholds are the f64 midpoints rounded to f32 (the default backend's are f32 sums
halved; a value exactly between the two takes the other code), and an all-zero block scales by
1/0 (0·inf = NaN, code 0) where the default backend clamps absmax to 1e-38 (code 7, the zero).
This reference and Finch follow the default backend.

Usage: python3 scripts/reference/nf4_reference.py  (writes the fixture; seed and versions in its header)
"""
import math
import os
import sys

import numpy as np

f32 = np.float32

NF4 = np.array([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
], dtype=f32)


def linspace_f32(start, end, steps):
    """torch.linspace(start, end, steps, dtype=float32) on the CPU (scalar formula)."""
    start, end = f32(start), f32(end)
    step = (end - start) / f32(steps - 1)
    half = steps // 2
    return np.array([start + step * f32(i) if i < half else end - step * f32(steps - i - 1) for i in range(steps)], dtype=f32)


def dynamic_map():
    """create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256 sorted f32 values."""
    data = []
    for i in range(7):
        fraction_items = 2 ** i + 1
        b = linspace_f32(0.1, 1, fraction_items)
        means = (b[:-1] + b[1:]) / f32(2.0)
        scale = f32(10 ** (-6 + i))
        data += list(scale * means)
        data += list(f32(-(10 ** (-6 + i))) * means)
    data += [f32(0), f32(1.0)]
    assert len(data) == 256
    return np.sort(np.array(data, dtype=f32))


def bucketize(x, code):
    bounds = (code[:-1] + code[1:]) / f32(2)
    return np.searchsorted(bounds, x, side="left").astype(np.uint8)


def quantize_blockwise(a, code, blocksize):
    """8-bit blockwise quantization (ops.py quantize_blockwise): codes and per-block absmax."""
    n = a.size
    full = n - n % blocksize
    codes = np.empty(n, dtype=np.uint8)
    absmax = []
    for s in range(0, full, blocksize):
        am = np.max(np.abs(a[s:s + blocksize]))
        scaled = np.clip(a[s:s + blocksize] * (f32(1) / max(am, f32(1e-38))), f32(-1), f32(1))
        codes[s:s + blocksize] = bucketize(scaled, code)
        absmax.append(am)
    if full < n:
        am = max(np.max(np.abs(a[full:])), f32(1e-38))
        codes[full:] = bucketize(np.clip(a[full:] / am, f32(-1), f32(1)), code)
        absmax.append(am)
    return codes, np.array(absmax, dtype=f32)


def quantize_nf4(a):
    """Flattened f32 tensor (a multiple of 64 elements) → packed codes, absmax codes, absmax2, offset."""
    a = a.astype(f32).reshape(-1)
    blocks = a.reshape(-1, 64)
    absmax = np.max(np.abs(blocks), axis=1).astype(f32)
    recip = f32(1) / np.maximum(absmax, f32(1e-38))
    scaled = np.clip(blocks * recip[:, None], f32(-1), f32(1)).reshape(-1)
    q = bucketize(scaled, NF4)
    packed = ((q[0::2] << 4) | q[1::2]).astype(np.uint8)
    offset = f32(math.fsum(float(v) for v in absmax) / absmax.size)
    qabsmax, absmax2 = quantize_blockwise((absmax - offset).astype(f32), dynamic_map(), 256)
    return packed, qabsmax, absmax2, offset


def dequantize_nf4(packed, qabsmax, absmax2, offset):
    dyn = dynamic_map()
    groups = np.arange(qabsmax.size) // 256
    absmax = (dyn[qabsmax] * absmax2[groups]).astype(f32) + offset
    q = np.empty(packed.size * 2, dtype=np.uint8)
    q[0::2], q[1::2] = packed >> 4, packed & 15
    return (NF4[q].reshape(-1, 64) * absmax[:, None]).astype(f32).reshape(-1), absmax


def to_bf16(x):
    """f32 → bf16 bits, round to nearest even (finite inputs)."""
    u = x.astype(f32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def main():
    seed, rows, cols = 1234, 36, 512          # 288 blocks: one full group of 256 absmax values and a partial one of 32
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((rows, cols)) * 0.02).astype(f32)
    w[3, 64:128] = 0                          # an all-zero block (absmax clamped to 1e-38)
    w[5, 7] = 0.5                             # an outlier: its block's scale is far above the mean
    w[9, 128:192] = NF4[np.arange(64) % 16] * f32(0.03)   # values on the code points
    bits = to_bf16(w)                         # the input as a bf16 checkpoint holds it
    x = (bits.astype(np.uint32) << 16).view(f32).reshape(-1)
    packed, qabsmax, absmax2, offset = quantize_nf4(x)
    values, absmax = dequantize_nf4(packed, qabsmax, absmax2, offset)
    assert np.all(np.abs(values - x) <= np.repeat(np.abs(absmax), 64) * 0.5 + 2e-3)
    out = os.path.join(os.path.dirname(__file__), "../../Tests/FinchModelsTests/Fixtures/nf4/nf4_fixture.bin")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    header = (f"finch nf4 fixture v1: scripts/reference/nf4_reference.py, numpy {np.__version__}, python "
              f"{sys.version.split()[0]}, following bitsandbytes 0.50.2.dev0 (95f9af3); seed {seed}; rows {rows} cols {cols}; "
              f"then little-endian: input bf16[{x.size}], codes u8[{packed.size}], absmax codes u8[{qabsmax.size}], "
              f"absmax2 f32[{absmax2.size}], offset f32[1], block absmax f32[{absmax.size}], dequantized f32[{values.size}]\n")
    with open(out, "wb") as f:
        f.write(header.encode())
        for arr in (bits, packed, qabsmax, absmax2, np.array([offset], dtype=f32), absmax, values):
            f.write(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
    print(f"wrote {os.path.normpath(out)}: {os.path.getsize(out)} bytes; offset {offset!r}, absmax2 {absmax2.tolist()}")


if __name__ == "__main__":
    main()
