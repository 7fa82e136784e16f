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
The 8-bit dynamic map is bitsandbytes' own table (DYNAMIC_MAP_BITS below). absmax.mean() is the
exact mean rounded to f32 (torch's f32 reduction is within an ulp of it). Checked against
bitsandbytes 0.50.2 (torch 2.15.0, CPU, its native library) with scripts/reference/nf4_check_bitsandbytes.py
on 5,549 random blocks: every 4-bit code equal; 9 of the 5,549 8-bit absmax codes one step apart (the
native quantize_blockwise breaks near-ties between map entries differently from the default backend's
bucketize), a block scale 0.5 % off in those blocks.
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


# bitsandbytes.functional.create_dynamic_map(signed=True) as f32 bit patterns, written by
# bitsandbytes 0.50.2 with torch 2.15.0 (its torch.linspace and f32 products round 42 of the 256
# entries differently from the plain f32 formula, so the table is taken from the library itself).
DYNAMIC_MAP_BITS = [
    0xbf7e3333, 0xbf7a999a, 0xbf770000, 0xbf736666, 0xbf6fcccd, 0xbf6c3333, 0xbf68999a, 0xbf650000,
    0xbf616666, 0xbf5dcccd, 0xbf5a3333, 0xbf56999a, 0xbf530000, 0xbf4f6666, 0xbf4bcccd, 0xbf483333,
    0xbf44999a, 0xbf410000, 0xbf3d6666, 0xbf39cccd, 0xbf363334, 0xbf32999a, 0xbf2f0000, 0xbf2b6666,
    0xbf27cccd, 0xbf243334, 0xbf20999a, 0xbf1d0000, 0xbf196666, 0xbf15cccd, 0xbf123334, 0xbf0e999a,
    0xbf0b0000, 0xbf076666, 0xbf03cccc, 0xbf003333, 0xbef93332, 0xbef20000, 0xbeeacccc, 0xbee3999a,
    0xbedc6666, 0xbed53333, 0xbece0000, 0xbec6cccc, 0xbebf999a, 0xbeb86666, 0xbeb13333, 0xbeaa0000,
    0xbea2cccc, 0xbe9b999a, 0xbe946666, 0xbe8d3334, 0xbe860000, 0xbe7d9999, 0xbe6f3333, 0xbe60cccd,
    0xbe526666, 0xbe440000, 0xbe35999a, 0xbe273333, 0xbe18cccd, 0xbe0a6666, 0xbdf80000, 0xbddb3334,
    0xbdc9eb85, 0xbdc428f7, 0xbdbe6667, 0xbdb8a3d7, 0xbdb2e148, 0xbdad1eb8, 0xbda75c2a, 0xbda1999a,
    0xbd9bd70a, 0xbd96147b, 0xbd9051eb, 0xbd8a8f5d, 0xbd84cccd, 0xbd7e147b, 0xbd728f5d, 0xbd670a3d,
    0xbd5b851f, 0xbd500000, 0xbd447ae1, 0xbd38f5c3, 0xbd2d70a3, 0xbd21eb85, 0xbd166667, 0xbd0ae148,
    0xbcfeb852, 0xbce7ae15, 0xbcd0a3d7, 0xbcb9999a, 0xbca28f5d, 0xbc8b851f, 0xbc68f5c3, 0xbc3ae148,
    0xbc1f3b64, 0xbc160418, 0xbc0ccccd, 0xbc039581, 0xbbf4bc6a, 0xbbe24dd3, 0xbbcfdf3b, 0xbbbd70a4,
    0xbbab020d, 0xbb989374, 0xbb8624dd, 0xbb676c8a, 0xbb428f5c, 0xbb1db22d, 0xbaf1a9fc, 0xbaa7ef9d,
    0xba7765ff, 0xba59e83e, 0xba3c6a80, 0xba1eecc1, 0xba016f01, 0xb9c7e283, 0xb98ce705, 0xb923d70b,
    0xb8ba1f4b, 0xb88aefb3, 0xb8378034, 0xb7b24206, 0xb70205ff, 0xb65a1a94, 0xb513a3b7, 0x00000000,
    0x3513a3b7, 0x365a1a94, 0x370205ff, 0x37b24206, 0x38378034, 0x388aefb3, 0x38ba1f4b, 0x3923d70b,
    0x398ce705, 0x39c7e283, 0x3a016f01, 0x3a1eecc1, 0x3a3c6a80, 0x3a59e83e, 0x3a7765ff, 0x3aa7ef9d,
    0x3af1a9fc, 0x3b1db22d, 0x3b428f5c, 0x3b676c8a, 0x3b8624dd, 0x3b989374, 0x3bab020d, 0x3bbd70a4,
    0x3bcfdf3b, 0x3be24dd3, 0x3bf4bc6a, 0x3c039581, 0x3c0ccccd, 0x3c160418, 0x3c1f3b64, 0x3c3ae148,
    0x3c68f5c3, 0x3c8b851f, 0x3ca28f5d, 0x3cb9999a, 0x3cd0a3d7, 0x3ce7ae15, 0x3cfeb852, 0x3d0ae148,
    0x3d166667, 0x3d21eb85, 0x3d2d70a3, 0x3d38f5c3, 0x3d447ae1, 0x3d500000, 0x3d5b851f, 0x3d670a3d,
    0x3d728f5d, 0x3d7e147b, 0x3d84cccd, 0x3d8a8f5d, 0x3d9051eb, 0x3d96147b, 0x3d9bd70a, 0x3da1999a,
    0x3da75c2a, 0x3dad1eb8, 0x3db2e148, 0x3db8a3d7, 0x3dbe6667, 0x3dc428f7, 0x3dc9eb85, 0x3ddb3334,
    0x3df80000, 0x3e0a6666, 0x3e18cccd, 0x3e273333, 0x3e35999a, 0x3e440000, 0x3e526666, 0x3e60cccd,
    0x3e6f3333, 0x3e7d9999, 0x3e860000, 0x3e8d3334, 0x3e946666, 0x3e9b999a, 0x3ea2cccc, 0x3eaa0000,
    0x3eb13333, 0x3eb86666, 0x3ebf999a, 0x3ec6cccc, 0x3ece0000, 0x3ed53333, 0x3edc6666, 0x3ee3999a,
    0x3eeacccc, 0x3ef20000, 0x3ef93332, 0x3f003333, 0x3f03cccc, 0x3f076666, 0x3f0b0000, 0x3f0e999a,
    0x3f123334, 0x3f15cccd, 0x3f196666, 0x3f1d0000, 0x3f20999a, 0x3f243334, 0x3f27cccd, 0x3f2b6666,
    0x3f2f0000, 0x3f32999a, 0x3f363334, 0x3f39cccd, 0x3f3d6666, 0x3f410000, 0x3f44999a, 0x3f483333,
    0x3f4bcccd, 0x3f4f6666, 0x3f530000, 0x3f56999a, 0x3f5a3333, 0x3f5dcccd, 0x3f616666, 0x3f650000,
    0x3f68999a, 0x3f6c3333, 0x3f6fcccd, 0x3f736666, 0x3f770000, 0x3f7a999a, 0x3f7e3333, 0x3f800000,
]


def dynamic_map():
    """create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256 sorted f32 values."""
    return np.array(DYNAMIC_MAP_BITS, dtype=np.uint32).view(f32)


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
