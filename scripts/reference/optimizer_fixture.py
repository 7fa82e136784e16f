#!/usr/bin/env python3
"""Writes Tests/FinchModelsTests/Fixtures/optimizers_torch.json: parameters after each step of
PyTorch's own AdamW and SGD (CPU, float32), for Finch's optimizer tests.

Each case: initial parameter values, per-step gradients and learning rates (the trainer changes the
lr every step through the schedule, as a PyTorch LR scheduler does), the hyper-parameters, and the
parameter values after every step. Run: python3 scripts/reference/optimizer_fixture.py
"""
import json
import os
import sys

import torch

SEED = 1234
torch.manual_seed(SEED)
N, STEPS = 37, 6


def run(make_opt, lrs):
    p = torch.nn.Parameter(torch.randn(N, dtype=torch.float32))
    init = p.detach().clone()
    opt = make_opt([p])
    grads, after = [], []
    for step in range(STEPS):
        g = torch.randn(N, dtype=torch.float32) * (0.1 if step % 2 else 2.0)
        g[step] = 0.0  # a zero gradient in one place
        for group in opt.param_groups:
            group["lr"] = lrs[step]
        p.grad = g.clone()
        opt.step()
        grads.append(g.tolist())
        after.append(p.detach().clone().tolist())
    return {"init": init.tolist(), "grads": grads, "lrs": lrs, "after": after}


lrs = [2e-4 * (s + 1) / 3 if s < 3 else 2e-4 * (STEPS - s) / (STEPS - 3) for s in range(STEPS)]
cases = {
    "adamw": dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                  **run(lambda ps: torch.optim.AdamW(ps, lr=1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01), [x * 500 for x in lrs])),
    "adamw_no_decay": dict(beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.0,
                           **run(lambda ps: torch.optim.AdamW(ps, lr=1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.0), lrs)),
    "sgd": dict(momentum=0.0, weight_decay=0.0,
                **run(lambda ps: torch.optim.SGD(ps, lr=1, momentum=0.0, weight_decay=0.0), [0.5] * STEPS)),
    "sgd_momentum_decay": dict(momentum=0.9, weight_decay=0.05,
                               **run(lambda ps: torch.optim.SGD(ps, lr=1, momentum=0.9, weight_decay=0.05), [0.1, 0.1, 0.05, 0.05, 0.02, 0.02])),
}
out = {
    "_header": f"Written by scripts/reference/optimizer_fixture.py with torch {torch.__version__}, "
               f"Python {sys.version.split()[0]}, seed {SEED}; float32 on the CPU.",
    **cases,
}
path = os.path.join(os.path.dirname(__file__), "../../Tests/FinchModelsTests/Fixtures/optimizers_torch.json")
with open(path, "w") as f:
    json.dump(out, f, indent=None, separators=(",", ":"))
    f.write("\n")
print("wrote", os.path.normpath(path))
