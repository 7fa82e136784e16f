#!/usr/bin/env python3
"""A 3.2M-parameter random Llama (2 layers, hidden 64, bf16 safetensors) carrying SmolLM2-135M-Instruct's
tokenizer and chat template, for running the tutorial notebook on a GPU machine that the 94 MiB GGUF cannot
travel to (the device machine takes at most 64 MiB a call). Written with transformers 5.x and gguf 0.x,
torch seed 0. Never run in CI.

Usage: python scripts/gpu/make_tinychat.py [models-dir] [out-dir]
  then, on the GPU machine: FINCH_DEVICE=cuda ./finch run notebooks/medical_cot.cell \\
      -p model_id='"<out-dir>"' -p steps=30 -p rows=100
"""
import os, sys
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

models = sys.argv[1] if len(sys.argv) > 1 else "models"
out = sys.argv[2] if len(sys.argv) > 2 else ".devcarry/tinychat"
tok = AutoTokenizer.from_pretrained(models, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
tok.save_pretrained(out)
torch.manual_seed(0)
cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=192, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048, rms_norm_eps=1e-5,
                  tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
model = LlamaForCausalLM(cfg).to(torch.bfloat16)
model.save_pretrained(out, safe_serialization=True)
print(out, sorted(os.listdir(out)), sum(p.numel() for p in model.parameters()), "parameters")
