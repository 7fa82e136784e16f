#!/usr/bin/env python3
"""The PEFT side of the tutorial's loss curve (outside CI): SmolLM2-135M-Instruct (GGUF dequantized to f32 by
transformers), the medical prompt style, the synthetic data's first `rows` rows (shuffled, 20 held out, as the
notebook does in spirit), LoRA r16/alpha16 on all seven projections, AdamW lr 2e-4, weight decay 0.01, linear
schedule with 5 warm-up steps, batch 2 × grad_accum 4, 60 steps, loss on the responses only, seed 3407.
Prints one line per step: step, train loss; and the held-out loss before and after.
Usage: python scripts/reference/peft_sft_curve.py models/SmolLM2-135M-Instruct.Q4_1.gguf [rows] [steps]
"""
import json, os, random, sys
import torch, transformers, peft

path = sys.argv[1]
rows = int(sys.argv[2]) if len(sys.argv) > 2 else 300
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 60
torch.manual_seed(3407); random.seed(3407); torch.set_num_threads(2)
d, f = os.path.dirname(path), os.path.basename(path)
tok = transformers.AutoTokenizer.from_pretrained(d, gguf_file=f)
model = transformers.AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
styles = open("stdlib/styles.fin").read()
prompt_t = styles.split('medical_prompt = """')[1].split('"""')[0]
resp_t = styles.split('medical_response = """')[1].split('"""')[0]
data = json.load(open("notebooks/data/medical_cot_synthetic.json"))[:rows]
random.shuffle(data)
held, train = data[-20:], data[:-20]
eos = tok.eos_token

def encode(row):
    p = prompt_t.replace("{Question}", row["Question"])
    r = resp_t.replace("{Complex_CoT}", row["Complex_CoT"]).replace("{Response}", row["Response"]) + eos
    pi, ri = tok(p, add_special_tokens=False)["input_ids"], tok(r, add_special_tokens=False)["input_ids"]
    return pi + ri, [-100] * len(pi) + ri

def batch(rs):
    enc = [encode(r) for r in rs]
    t = max(len(i) for i, _ in enc)
    ids = torch.tensor([i + [tok.eos_token_id] * (t - len(i)) for i, _ in enc])
    lab = torch.tensor([l + [-100] * (t - len(l)) for _, l in enc])
    return ids, lab

cfg = peft.LoraConfig(r=16, lora_alpha=16, lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
model = peft.get_peft_model(model, cfg)
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=2e-4, weight_decay=0.01)
sched = transformers.get_linear_schedule_with_warmup(opt, 5, steps)

def evaluate():
    model.eval(); tot = n = 0
    with torch.no_grad():
        for i in range(0, len(held), 2):
            ids, lab = batch(held[i:i + 2])
            logits = model(input_ids=ids).logits[:, :-1].float()
            l = lab[:, 1:]
            tot += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), l.reshape(-1), ignore_index=-100, reduction="sum").item()
            n += (l != -100).sum().item()
    model.train(); return tot / n

print(f"eval before {evaluate():.4f}", flush=True)
cursor = 0
for step in range(steps):
    micro = []
    for _ in range(4):
        if cursor + 2 > len(train): random.shuffle(train); cursor = 0
        micro.append(train[cursor:cursor + 2]); cursor += 2
    encs = [batch(m) for m in micro]
    total = sum((lab[:, 1:] != -100).sum().item() for _, lab in encs)
    loss_sum = 0.0
    for ids, lab in encs:
        logits = model(input_ids=ids).logits[:, :-1].float()
        l = lab[:, 1:]
        s = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), l.reshape(-1), ignore_index=-100, reduction="sum")
        (s / total).backward(); loss_sum += s.item()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step(); sched.step(); opt.zero_grad()
    print(f"step {step + 1} loss {loss_sum / total:.4f}", flush=True)
print(f"eval after {evaluate():.4f}", flush=True)
