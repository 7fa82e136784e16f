#!/usr/bin/env python3
"""The peer for `finch bench train --device cuda --shape llama8b`: transformers + PEFT on one GPU.

Llama-3.1-8B's shape (hidden 4096, 32 layers, 32/8 heads, FFN 14336, vocabulary 128,256, llama3 rope
scaling) with random bf16 weights made on the GPU, LoRA r 16 / alpha 16 on all seven projections,
AdamW (lr 1e-4), gradient checkpointing, batch B x T random tokens, one warm-up step, then timed
steps (synchronised). Prints tokens/s and peak GPU memory (torch.cuda.max_memory_allocated).

Usage: python scripts/bench/peft_train_cuda.py [batch] [seq] [steps]     (never run in CI)
"""
import sys, time
import torch, transformers, peft

batch = int(sys.argv[1]) if len(sys.argv) > 1 else 2
seq = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
torch.manual_seed(0)
cfg = transformers.LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                               num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=131072,
                               rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=False,
                               rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                             "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
with torch.device("cuda"):
    model = transformers.LlamaForCausalLM(cfg).to(torch.bfloat16)
model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
model.enable_input_require_grads()
lc = peft.LoraConfig(r=16, lora_alpha=16, lora_dropout=0.0, task_type="CAUSAL_LM",
                     target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
model = peft.get_peft_model(model, lc)
for p in model.parameters():
    if p.requires_grad: p.data = p.data.float()   # LoRA weights and AdamW state in f32, as Finch keeps them
model.train()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4)
torch.cuda.reset_peak_memory_stats()
times = []
for i in range(steps + 1):
    ids = torch.randint(0, cfg.vocab_size, (batch, seq), device="cuda")
    torch.cuda.synchronize(); t0 = time.perf_counter()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step(); opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize(); times.append(time.perf_counter() - t0)
timed = times[1:]
print(f"transformers {transformers.__version__} + peft {peft.__version__} (torch {torch.__version__}, {torch.cuda.get_device_name()}): "
      f"{batch * seq * len(timed) / sum(timed):.1f} tokens/s (steps {' '.join(f'{t:.2f}' for t in timed)} s), "
      f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB, loss {out.loss.item():.3f}")
