#!/usr/bin/env python3
"""Writes Tests/FinchModelsTests/Fixtures/tiny.gguf (gguf-py's GGUFWriter) and tiny_gguf.json
(expected values) for the GGUF reader tests, plus the numpy Q/K un-permutation reference.

Metadata covers every value type, including nested arrays; tensors cover F32, F16, Q8_0, Q4_1 and
Q4_K with a non-default alignment of 64. Run outside CI:
    /work/venv/bin/python scripts/reference/gguf_fixture.py
"""
import base64, json, sys
from importlib.metadata import version
from pathlib import Path
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T, GGUFValueType as V
from gguf.quants import quantize, dequantize

SEED = 1125
rng = np.random.default_rng(SEED)
fixtures = Path(__file__).resolve().parents[2] / "Tests/FinchModelsTests/Fixtures"
b64 = lambda a: base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()

w = gguf.GGUFWriter(str(fixtures / "tiny.gguf"), arch="llama")
w.add_custom_alignment(64)
w.add_uint8("test.u8", 200)
w.add_int8("test.i8", -100)
w.add_uint16("test.u16", 60000)
w.add_int16("test.i16", -30000)
w.add_uint32("test.u32", 4000000000)
w.add_int32("test.i32", -2000000000)
w.add_float32("test.f32", 0.1)
w.add_uint64("test.u64", 2**63 + 5)
w.add_int64("test.i64", -(2**62))
w.add_float64("test.f64", 3.141592653589793)
w.add_bool("test.bool", True)
w.add_string("test.string", "héllo ✓ 🦜")
w.add_key_value("test.strings", ["a", "", "ΣΩ"], V.ARRAY, sub_type=V.STRING)
w.add_key_value("test.f32s", [1.5, -2.25, 1e-8], V.ARRAY, sub_type=V.FLOAT32)
w.add_key_value("test.i32s", [1, -2, 3], V.ARRAY, sub_type=V.INT32)
w.add_key_value("test.u64s", [7, 2**40], V.ARRAY, sub_type=V.UINT64)
w.add_key_value("test.bools", [True, False, True], V.ARRAY, sub_type=V.BOOL)
w.add_key_value("test.nested", [[1, 2], [3]], V.ARRAY)   # array of arrays of int32
w.add_block_count(2)
w.add_head_count(4)

tensors = {}
f32 = rng.normal(size=(3, 5)).astype(np.float32)
w.add_tensor("f32.weight", f32); tensors["f32.weight"] = ("f32", f32)
f16 = rng.normal(size=(2, 8)).astype(np.float16)
w.add_tensor("f16.weight", f16); tensors["f16.weight"] = ("f16", f16.astype(np.float32))
for name, qt, shape in [("q8.weight", T.Q8_0, (4, 64)), ("q41.weight", T.Q4_1, (3, 64))]:
    x = rng.normal(size=shape).astype(np.float32)
    q = quantize(x, qt)
    w.add_tensor(name, q, raw_dtype=qt)
    tensors[name] = (qt.name.lower(), dequantize(q, qt))
# Q4_K: gguf-py cannot quantize it, so store random valid blocks (finite scales).
qk = rng.integers(0, 256, size=(2, 144), dtype=np.uint8)
qk[:, 0:2] = np.float16(0.01).reshape(1, 1).view(np.uint8); qk[:, 2:4] = np.float16(0.002).reshape(1, 1).view(np.uint8)
w.add_tensor("q4k.weight", qk, raw_dtype=T.Q4_K)
tensors["q4k.weight"] = ("q4_K", dequantize(qk, T.Q4_K))

w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

# Q/K un-permutation reference: GGUF rows → HF rows, numpy formula (2 heads of head size 4, 3 columns).
n_head, hd, cols = 2, 4, 3
gguf_rows = (np.arange(n_head * hd)[:, None] * 10 + np.arange(cols)[None, :]).astype(np.float32)
hf = gguf_rows.reshape(n_head, hd // 2, 2, cols).swapaxes(1, 2).reshape(n_head * hd, cols)

out = {
    "generator": "scripts/reference/gguf_fixture.py",
    "versions": {"gguf": version("gguf"), "numpy": np.__version__, "python": sys.version.split()[0]},
    "seed": SEED,
    "tensors": {k: {"dtype": d, "shape": list(v.shape), "f32": b64(v.astype(np.float32))} for k, (d, v) in tensors.items()},
    "permutation": {"heads": n_head, "head_dim": hd, "cols": cols,
                    "gguf": gguf_rows.reshape(-1).tolist(), "hf": hf.reshape(-1).tolist()},
}
(fixtures / "tiny_gguf.json").write_text(json.dumps(out, indent=1) + "\n")
print("wrote", fixtures / "tiny.gguf", (fixtures / "tiny.gguf").stat().st_size, "bytes")
print("hf row order:", (hf[:, 0] / 10).astype(int).tolist())
