"""The same measurements with Hugging Face `tokenizers` (Rust), single thread. Outside CI."""
import sys, time, os
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import tokenizers
from tokenizers import Tokenizer
path, corpus = sys.argv[1], sys.argv[2]
text = open(corpus, encoding="utf-8", newline="").read()
lines = [l for l in text.split("\n") if l]
t0 = time.perf_counter(); tok = Tokenizer.from_file(path); load = time.perf_counter() - t0
t0 = time.perf_counter(); ids = tok.encode(text, add_special_tokens=False).ids; cold = time.perf_counter() - t0
t0 = time.perf_counter(); ids = tok.encode(text, add_special_tokens=False).ids; warm = time.perf_counter() - t0
t0 = time.perf_counter(); n = sum(len(tok.encode(l, add_special_tokens=False).ids) for l in lines); per_line = time.perf_counter() - t0
t0 = time.perf_counter(); dec = tok.decode(ids, skip_special_tokens=False); d = time.perf_counter() - t0
mb = len(text.encode()) / 1e6
checksum = 0
for k, i in enumerate(ids):
    checksum = (checksum * 1_000_003 + i + k) % (1 << 64)
print(f"tokenizers  ids checksum {checksum % 1_000_000_007}")
print(f"tokenizers {tokenizers.__version__}  load {load:.3f} s | encode whole text: {len(ids)} tokens, cold {cold:.3f} s ({len(ids)/cold:.0f} tok/s, {mb/cold:.2f} MB/s), warm {warm:.3f} s ({len(ids)/warm:.0f} tok/s)")
print(f"tokenizers  encode {len(lines)} lines one by one: {n} tokens, {per_line:.3f} s ({n/per_line:.0f} tok/s) | decode {d:.3f} s | round trip {'exact' if dec == text else 'DIFFERS'}")
