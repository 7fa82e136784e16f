#!/usr/bin/env python3
"""The peer for `finch bench train`: LoRA training tokens/s of transformers + PEFT on CPU.

Same setting as Finch's benchmark: SmolLM2-135M (the embedded GGUF, dequantized to f32 by
transformers), batch 4 x 256 random tokens, LoRA r 16 / alpha 16 on all seven projections,
AdamW (lr 1e-4), 2 threads, one warm-up step, then timed steps. Prints tokens/s and peak RSS.

Usage: python scripts/bench/peft_train.py models/SmolLM2-135M-Instruct.Q4_1.gguf [steps] [batch] [seq_len]
(needs torch, transformers, peft, gguf; never run in CI). `finch bench train --peer PYTHON` runs it with its own
batch, sequence length, steps and thread count (THREADS) between two Finch runs.
"""
import os, resource, sys, time
import torch
import transformers, peft

path = sys.argv[1]
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 4
seq = int(sys.argv[4]) if len(sys.argv) > 4 else 256
torch.set_num_threads(int(os.environ.get("THREADS", "2")))
torch.manual_seed(0)
model = transformers.AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                                          dtype=torch.float32)
cfg = peft.LoraConfig(r=16, lora_alpha=16, lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
model = peft.get_peft_model(model, cfg)
model.train()
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
times = []
for i in range(steps + 1):
    ids = torch.randint(0, model.config.vocab_size, (batch, seq))
    t0 = time.perf_counter()
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    opt.step()
    opt.zero_grad()
    times.append(time.perf_counter() - t0)
timed = times[1:]
tps = batch * seq * len(timed) / sum(timed)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(f"transformers {transformers.__version__} + peft {peft.__version__} (torch {torch.__version__}): "
      f"{tps:.1f} tokens/s (steps {' '.join(f'{t:.2f}' for t in timed)} s), peak RSS {rss / 2**30:.2f} GiB")
