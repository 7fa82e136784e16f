#!/usr/bin/env python3
"""Round-trip check of Finch's saved files with the Python stack (outside CI):
  1. the PEFT adapter Finch saved loads with PeftModel.from_pretrained on the GGUF base (dequantized
     by transformers) and gives the logprobs Finch computes with the same adapter;
  2. the merged folder Finch saved loads with AutoModelForCausalLM and gives the same logprobs.
Usage: python scripts/reference/check_peft_roundtrip.py models/SmolLM2-135M-Instruct.Q4_1.gguf \
          notebooks/outputs/medical-cot-lora notebooks/outputs/medical-cot-merged finch_logprobs.json
finch_logprobs.json: {"text": ..., "ids": [...], "adapter": [...], "merged": [...]} written by Finch.
"""
import json, os, sys
import torch, transformers, peft

gguf, adapter, merged, finch = sys.argv[1:5]
ref = json.load(open(finch))
ids = torch.tensor([ref["ids"]])

def logprobs(model):
    with torch.no_grad():
        lsm = torch.log_softmax(model(ids).logits[0].float(), -1)
    return [lsm[i, ref["ids"][i + 1]].item() for i in range(len(ref["ids"]) - 1)]

base = transformers.AutoModelForCausalLM.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf), dtype=torch.float32)
pm = peft.PeftModel.from_pretrained(base, adapter)
pm.eval()
lp = logprobs(pm)
d1 = max(abs(a - b) for a, b in zip(lp, ref["adapter"]))
print(f"PEFT adapter: max |Δ logprob| vs Finch = {d1:.2e} over {len(lp)} tokens")
m = transformers.AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)
m.eval()
lp2 = logprobs(m)
d2 = max(abs(a - b) for a, b in zip(lp2, ref["merged"]))
print(f"merged bf16 folder: max |Δ logprob| vs Finch = {d2:.2e}")
tok = transformers.AutoTokenizer.from_pretrained(merged)
same = tok(ref["text"], add_special_tokens=False)["input_ids"] == ref["ids"]
print("merged folder tokenizer gives Finch's ids:", same)
