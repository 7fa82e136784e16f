#!/usr/bin/env python3
"""The peer for `finch bench decode`: llama.cpp (llama-cpp-python) on the same GGUF, the same thread count.
Measures what ../shared/bench/llamacpp_cpu.py measures (the reference peer), in the same words as Finch's line.

Prefill: a fresh context evaluates P prompt tokens in one call.
Decode: after the prompt is in the KV cache, greedy generation of N tokens. `generate(..., reset=True)` reuses the
cached prompt (longest-prefix match) and re-evaluates only its last token. (Before 2026-12 this script called
`generate(ids)` with reset off, which evaluated the whole prompt again inside the decode timing: llama.cpp's decode
looked 2x slower than it is.) The context length is asserted afterwards so that mistake fails loudly.
Two decode contexts: a short prompt (16 tokens) and a long one (P tokens). Also decode tokens per second of
process CPU time (all threads, spinning included), which swings less than wall-clock rates on a loaded machine.

Usage: python scripts/bench/llamacpp_bench.py MODEL.gguf [prompt_tokens=256] [decode_tokens=64] [threads=2]
"""
import sys, time
from llama_cpp import Llama

path = sys.argv[1]
P = int(sys.argv[2]) if len(sys.argv) > 2 else 256
N = int(sys.argv[3]) if len(sys.argv) > 3 else 64
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
llm = Llama(model_path=path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, n_batch=512, verbose=False, seed=0)
text = "The quick brown fox jumps over the lazy dog while the small bird sings in the old oak tree. " * 40
ids = llm.tokenize(text.encode(), add_bos=False)[:P]
assert len(ids) == P, "prompt text too short"
med = lambda xs: sorted(xs)[len(xs) // 2]


def prefill():
    llm.reset(); t = time.perf_counter(); llm.eval(ids); return P / (time.perf_counter() - t)


def decode(prompt):
    llm.reset(); llm.eval(prompt)
    n = 0; t = time.perf_counter(); c = time.process_time()
    for _ in llm.generate(prompt, temp=0.0, reset=True):
        n += 1
        if n == N: break
    dt = time.perf_counter() - t; cpu = time.process_time() - c
    # prompt + the N-1 sampled tokens fed back; more means the prompt was evaluated again inside the timing
    assert llm.n_tokens <= len(prompt) + N, f"decode re-evaluated the prompt ({llm.n_tokens} tokens in context)"
    return N / dt, N / cpu


prefill(); decode(ids[:16])               # warm-up
pf = [prefill() for _ in range(3)]
d16, c16 = zip(*[decode(ids[:16]) for _ in range(3)])
dP, cP = zip(*[decode(ids) for _ in range(3)])
fmt = lambda xs: " ".join(f"{x:.1f}" for x in xs)
print(f"llama.cpp: prefill {P} tokens {med(pf):.1f} tokens/s ({fmt(pf)}); decode {N} tokens after 16: {med(d16):.1f} "
      f"tokens/s ({fmt(d16)}); after {P}: {med(dP):.1f} tokens/s ({fmt(dP)}); per CPU-second: {med(c16):.1f} / {med(cP):.1f}")
