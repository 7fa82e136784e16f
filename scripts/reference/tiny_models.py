#!/usr/bin/env python3
"""Reference fixtures for Finch's architecture and LoRA tests (never run in CI).

Builds tiny random Llama-3-style (GQA, llama3 rope scaling, untied embeddings, bf16 weights) and
Qwen2-style (q/k/v biases, tied embeddings) models with transformers, with a fixed seed, and writes:
  tiny/<name>.json: config (Hugging Face names), every weight (flat f32 lists, values exactly
  representable in the checkpoint dtype), input ids and the f32 logits transformers computes;
  tiny/<name>-lora.json: a PEFT LoRA adapter on all seven projections (A and B random, so the
  adapter matters), the batch, the summed cross-entropy and the gradient of every LoRA tensor.
  tiny/<name>/: the same model saved by transformers (config.json + model.safetensors) for the
  Hugging Face folder path.

Usage: /path/to/venv/bin/python scripts/reference/tiny_models.py Tests/FinchModelsTests/Fixtures/tiny
"""
import json, os, sys
import torch
import transformers
import peft
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

SEED = 1234
out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)
torch.set_num_threads(1)


def header():
    return {"generator": "scripts/reference/tiny_models.py", "torch": torch.__version__,
            "transformers": transformers.__version__, "peft": peft.__version__, "seed": SEED}


def make(name):
    torch.manual_seed(SEED)
    common = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                  rms_norm_eps=1e-5, attn_implementation="eager")
    if name == "tiny-llama3":
        cfg = LlamaConfig(**common, rope_theta=500000.0, tie_word_embeddings=False,
                          rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                        "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
                          bos_token_id=1, eos_token_id=2)
        model = LlamaForCausalLM(cfg)
        dtype = torch.bfloat16
    else:
        cfg = Qwen2Config(**common, rope_theta=1000000.0, tie_word_embeddings=True, bos_token_id=None, eos_token_id=2)
        model = Qwen2ForCausalLM(cfg)
        dtype = torch.float32
    # Larger-than-default init so the test exercises real numeric ranges.
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "norm" in n:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))
    # Round weights (not buffers such as rotary inv_freq) to the checkpoint dtype, compute in f32.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float32))
    model.eval()
    return cfg, model, dtype


for name in ["tiny-llama3", "tiny-qwen2"]:
    cfg, model, dtype = make(name)
    g = torch.Generator().manual_seed(SEED + 1)
    ids = torch.randint(0, cfg.vocab_size, (2, 9), generator=g)
    with torch.no_grad():
        logits = model(ids).logits
    weights = {n: {"shape": list(t.shape), "data": t.detach().flatten().tolist()} for n, t in model.state_dict().items()}
    doc = {"header": header(), "config": json.loads(cfg.to_json_string()), "weights": weights,
           "input_ids": ids.tolist(), "logits": logits.flatten().tolist(), "logits_shape": list(logits.shape)}
    with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
        json.dump(doc, f)
    folder = os.path.join(out_dir, name)
    sd = {k: v.to(dtype) for k, v in model.state_dict().items()}
    model.save_pretrained(folder, state_dict=sd, safe_serialization=True)

    # LoRA gradients with PEFT.
    torch.manual_seed(SEED + 2)
    lcfg = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                           target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    pm = peft.get_peft_model(model, lcfg)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_" in n:
                p.copy_(0.2 * torch.randn_like(p))
    labels = ids.clone()
    labels[0, :3] = -100   # a masked prompt
    labels[1, 6:] = -100   # padding at the end
    out = pm(input_ids=ids)
    logits = out.logits.float()
    # Causal-LM shift, summed over counted tokens (Finch normalises itself).
    shift_logits = logits[:, :-1, :].reshape(-1, cfg.vocab_size)
    shift_labels = labels[:, 1:].reshape(-1)
    loss_sum = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="sum")
    loss_sum.backward()
    lora = {}
    for n, p in pm.named_parameters():
        if "lora_" in n:
            lora[n] = {"shape": list(p.shape), "data": p.detach().flatten().tolist(), "grad": p.grad.flatten().tolist()}
    doc = {"header": header(), "r": 4, "alpha": 8, "input_ids": ids.tolist(), "labels": labels.tolist(),
           "loss_sum": loss_sum.item(), "count": int((shift_labels != -100).sum()),
           "logits": logits.flatten().tolist(), "lora": lora}
    with open(os.path.join(out_dir, f"{name}-lora.json"), "w") as f:
        json.dump(doc, f)
    print(name, "ok", loss_sum.item())
