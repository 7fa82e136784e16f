#!/usr/bin/env python3
"""Checks that a merged GGUF Finch exported loads in llama.cpp (llama-cpp-python) and greedy-decodes like
Finch. Outside CI. Usage: python scripts/reference/check_gguf_llamacpp.py outputs/medical-cot.gguf finch_gguf_gen.json
finch_gguf_gen.json holds {"prompt_ids": [...], "text": "<Finch's greedy continuation>"} written by Finch."""
import json, sys
from llama_cpp import Llama

path, ref = sys.argv[1], json.load(open(sys.argv[2]))
llm = Llama(model_path=path, n_ctx=512, n_threads=2, verbose=False)
out = []
for tok in llm.generate(ref["prompt_ids"], temp=0.0):
    if tok == llm.token_eos() or len(out) >= 24:
        break
    out.append(tok)
text = llm.detokenize(out).decode("utf-8", errors="replace")
print("llama.cpp:", repr(text))
print("finch:    ", repr(ref["text"]))
print("identical:", text == ref["text"])
