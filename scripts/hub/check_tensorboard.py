#!/usr/bin/env python3
"""Outside CI: check Finch's run folder with independent readers.

Runs the Swift test that writes a run (FINCH_HUB_RUN_OUT keeps it), then
  * reads the TensorBoard event file with tensorboard's EventAccumulator,
  * decodes loss.png with zlib (and checks every chunk CRC) and compares pixels against the raster size,
  * parses loss.svg as XML.
Usage: /work/venv-hub/bin/python scripts/hub/check_tensorboard.py
"""
import glob, json, os, struct, subprocess, sys, tempfile, zlib
import xml.etree.ElementTree as ET

repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = tempfile.mkdtemp(prefix="finch-tb-")
env = dict(os.environ, FINCH_HUB_RUN_OUT=out)
subprocess.run(["swift", "test", "--filter", "FinchHubTests.TrackingTests/runFolderHasMetricsEventsAndCurves"],
               cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
run = os.path.join(out, "medical-sft", "lora-r16")
events = glob.glob(os.path.join(run, "events.out.tfevents.*"))
assert len(events) == 1, events

from tensorboard.backend.event_processing import event_accumulator
acc = event_accumulator.EventAccumulator(run)
acc.Reload()
tags = acc.Tags()["scalars"]
print("tensorboard", __import__("tensorboard").__version__, "scalar tags:", sorted(tags))
loss = acc.Scalars("loss")
ev = acc.Scalars("eval_loss")
print(f"loss: {len(loss)} points, step {loss[0].step}..{loss[-1].step}, first {loss[0].value:.6f}, last {loss[-1].value:.6f}")
print(f"eval_loss: {len(ev)} points at steps {[e.step for e in ev]}")
metrics = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
for e in loss:
    m = next(m for m in metrics if m["step"] == e.step)
    assert abs(m["loss"] - e.value) < 1e-6 * max(1, abs(m["loss"])), (m, e)
    assert abs(m["wall_time"] - e.wall_time) < 1e-3
assert len(loss) == 50 and len(ev) == 5 and sorted(tags) == ["eval_loss", "loss", "lr"]
print("metrics.jsonl agrees with the event file (float32 tolerance)")

data = open(os.path.join(run, "loss.png"), "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    (length,) = struct.unpack(">I", data[pos:pos + 4]); ctype = data[pos + 4:pos + 8]
    body = data[pos + 8:pos + 8 + length]; (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
    assert zlib.crc32(ctype + body) == crc, ctype
    if ctype == b"IHDR": ihdr = struct.unpack(">IIBBBBB", body)
    if ctype == b"IDAT": idat += body
    pos += 12 + length
w, h = ihdr[0], ihdr[1]
raw = zlib.decompress(idat)   # checks the Adler-32 too
assert len(raw) == h * (3 * w + 1), (len(raw), w, h)
colours = {raw[y * (3 * w + 1) + 1 + 3 * x: y * (3 * w + 1) + 4 + 3 * x] for y in range(h) for x in range(w)}
print(f"loss.png: {w}x{h}, {len(data)} bytes, zlib OK, {len(colours)} distinct colours,",
      "has loss blue" if b"\x1f\x77\xb4" in colours else "NO LOSS COLOUR")
assert b"\x1f\x77\xb4" in colours and b"\xff\x7f\x0e" in colours
svg = ET.parse(os.path.join(run, "loss.svg")).getroot()
print("loss.svg: root", svg.tag, "series", [p.get("data-name") for p in svg.iter("{http://www.w3.org/2000/svg}polyline") if p.get("data-name")])
print("OK")
