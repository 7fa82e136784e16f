#!/usr/bin/env python3
"""Writes safetensors fixtures with the reference implementation for Finch's reader/writer tests:
  Tests/FinchModelsTests/Fixtures/mixed.safetensors   every common dtype, a scalar, an empty tensor, a
                                                       unicode name; values are arange-based (no randomness)
  Tests/FinchModelsTests/Fixtures/sharded/             huggingface_hub.save_torch_state_dict with a small
                                                       max_shard_size (3 shards + index)
Run outside CI:  /work/venv/bin/python scripts/reference/safetensors_fixture.py
"""
import shutil
from importlib.metadata import version
from pathlib import Path
import numpy as np
import torch
from safetensors.numpy import save_file
from huggingface_hub import save_torch_state_dict

fixtures = Path(__file__).resolve().parents[2] / "Tests/FinchModelsTests/Fixtures"
print("safetensors", version("safetensors"), "huggingface_hub", version("huggingface_hub"),
      "torch", torch.__version__, "numpy", np.__version__)

a = np.arange(6)
tensors = {
    "f32": (a.reshape(1, 2, 3) * 0.5).astype(np.float32),
    "f64": (a * -0.25).astype(np.float64),
    "f16": (a * 1.5).astype(np.float16),
    "i64": (a - 3).astype(np.int64) * (1 << 40),
    "i32": (a - 3).astype(np.int32),
    "i16": (a - 3).astype(np.int16),
    "i8": (a - 3).astype(np.int8),
    "u8": (a * 40).astype(np.uint8),
    "bool": (a % 2 == 0),
    "scalar": np.array(7.0, dtype=np.float32),
    "empty": np.zeros((0, 3), dtype=np.float32),
    "ünï.weight": np.arange(4, dtype=np.float32),
}
save_file(tensors, str(fixtures / "mixed.safetensors"), metadata={"format": "pt"})

# bf16 only exists in torch: a separate file written through safetensors.torch.
from safetensors.torch import save_file as save_torch
save_torch({"bf16": torch.tensor([1.0, -2.5, 3.140625], dtype=torch.bfloat16)}, str(fixtures / "bf16.safetensors"), metadata={"format": "pt"})

shard_dir = fixtures / "sharded"
shutil.rmtree(shard_dir, ignore_errors=True)
shard_dir.mkdir()
state = {
    "model.embed.weight": torch.arange(32, dtype=torch.float32).reshape(8, 4),        # 128 bytes
    "model.layers.0.w": torch.arange(16, dtype=torch.float32) * -1,                   # 64
    "model.layers.1.w": torch.arange(16, dtype=torch.float32) * 2,                    # 64
    "model.norm.weight": torch.ones(4, dtype=torch.float32),                          # 16
}
save_torch_state_dict(state, shard_dir, max_shard_size=100)
print(sorted(p.name for p in shard_dir.iterdir()))
print((shard_dir / "model.safetensors.index.json").read_text())

# Newer dtypes and the writer's order for them: F8_E8M0 (after F8_E4M3) and C64 (between F32 and F64).
d = {"e8": torch.zeros(2, dtype=torch.float8_e8m0fnu), "c64": torch.zeros(1, dtype=torch.complex64), "f32": torch.zeros(1),
     "f64": torch.zeros(1, dtype=torch.float64), "u8": torch.zeros(1, dtype=torch.uint8),
     "e4": torch.zeros(1, dtype=torch.float8_e4m3fn), "i16": torch.zeros(1, dtype=torch.int16)}
save_torch(d, str(fixtures / "newer_dtypes.safetensors"))
