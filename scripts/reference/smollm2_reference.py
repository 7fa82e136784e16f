#!/usr/bin/env python3
"""Reference logprobs and greedy generations of the embedded SmolLM2-135M-Instruct GGUF, computed by
transformers (GGUF loaded with gguf_file=, dequantized to f32). Never run in CI.

Usage: python scripts/reference/smollm2_reference.py models/SmolLM2-135M-Instruct.Q4_1.gguf \
           Tests/FinchModelsTests/Fixtures/smollm2_reference.json
"""
import json, os, sys
import torch, transformers

path, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
torch.set_num_threads(2)
d, f = os.path.dirname(path), os.path.basename(path)
tok = transformers.AutoTokenizer.from_pretrained(d, gguf_file=f)
model = transformers.AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32, attn_implementation="eager")
model.eval()

texts = [
    "The capital of France is Paris. It is known for the Eiffel Tower and fine food.",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "A 61-year-old woman with a long history of involuntary urine loss during activities like coughing or sneezing.",
]
chat = [{"role": "user", "content": "What is the boiling point of water at sea level?"}]
texts.append(tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) + "Water boils at 100 degrees Celsius at sea level.")

logprob_cases = []
for t in texts:
    ids = tok(t, add_special_tokens=True)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    lsm = torch.log_softmax(logits, dim=-1)
    lp = [lsm[i, ids[i + 1]].item() for i in range(len(ids) - 1)]
    logprob_cases.append({"text": t, "ids": ids, "logprobs": lp})

prompts = [
    [{"role": "user", "content": "Write a haiku about the sea."}],
    [{"role": "system", "content": "You are a concise assistant."}, {"role": "user", "content": "Name three primary colors."}],
    [{"role": "user", "content": "What is 12 times 7?"}],
]
gen_cases = []
for msgs in prompts:
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    ids = tok(text, add_special_tokens=True)["input_ids"]
    with torch.no_grad():
        g = model.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False)
    gen_cases.append({"messages": msgs, "template": text, "prompt_ids": ids, "generated": g[0, len(ids):].tolist()})

doc = {"header": {"generator": "scripts/reference/smollm2_reference.py", "torch": torch.__version__,
                  "transformers": transformers.__version__, "model": f, "seed": 0},
       "logprobs": logprob_cases, "greedy": gen_cases}
with open(out, "w") as fh:
    json.dump(doc, fh, indent=1)
print("wrote", out)
