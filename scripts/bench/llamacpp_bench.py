#!/usr/bin/env python3
"""The peer for `finch bench prefill/decode`: llama.cpp (llama-cpp-python) on the same GGUF, 2 threads,
the same prompt text cut to the same token count, greedy decoding. Never run in CI.

Usage: python scripts/bench/llamacpp_bench.py models/SmolLM2-135M-Instruct.Q4_1.gguf [prompt_tokens] [decode_tokens]
"""
import sys, time
from llama_cpp import Llama

path = sys.argv[1]
n_prompt = int(sys.argv[2]) if len(sys.argv) > 2 else 256
n_decode = int(sys.argv[3]) if len(sys.argv) > 3 else 128
llm = Llama(model_path=path, n_ctx=2048, n_threads=2, n_threads_batch=2, n_batch=512, verbose=False)
text = "The quick brown fox jumps over the lazy dog while the small bird sings in the old oak tree. " * 40
ids = llm.tokenize(text.encode(), add_bos=False)[:n_prompt]
pre, dec = [], []
for i in range(4):
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(ids)
    t1 = time.perf_counter()
    out = 0
    for tok in llm.generate(ids, temp=0.0, reset=False):
        out += 1
        if out >= n_decode:
            break
    t2 = time.perf_counter()
    if i > 0:
        pre.append(len(ids) / (t1 - t0))
        dec.append((out - 1) / (t2 - t1))
med = lambda xs: sorted(xs)[len(xs) // 2]
print(f"llama.cpp: prefill {len(ids)} tokens {med(pre):.1f} tokens/s, decode {n_decode} tokens {med(dec):.1f} tokens/s")
