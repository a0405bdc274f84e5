#!/usr/bin/python3
"""Independent reference for webpeft's optimisation pieces: torch.optim.AdamW over 10 steps, Hugging Face's
linear warm-up/decay learning rate, and torch.nn.utils.clip_grad_norm_, all in float64.

Run offline with Debian's PyTorch (apt-get install python3-torch; use /usr/bin/python3, not a pyenv one):

    /usr/bin/python3 scripts/goldens/optim_reference.py

It writes test/goldens/optim/adamw.json (read by test/unit/optim.test.ts; CI never runs this script):
  params          a few small tensors (a matrix, a vector, a 0-d scalar, a 3-d block, and "late", a vector
                  that gets no gradient before step 3 nor at step 6) with their initial values
  grads[s][i]     the gradient of parameter i given to step s (null: `.grad` is None, the step skips it);
                  each step's gradients are scaled by a different factor so that clipping is active on
                  some steps and not others
  cases           per optimizer configuration: the options, the learning rate of each step, the parameters
                  after each step; "clip" also the total norm clip_grad_norm_ returned and the clipped
                  gradients of each step

"late" checks torch's per-parameter step count: its bias corrections use the number of updates *it*
received, not the number of optimizer steps.

The learning-rate schedule is written out from transformers.get_linear_schedule_with_warmup's lambda
(without importing transformers) and set as param_group["lr"] before each step, as LambdaLR would.
torch's single-tensor (foreach=False) AdamW is used; the values are float64 on the CPU.
"""
import json
import os

import torch

DT = torch.float64
STEPS = 10
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "..", "test", "goldens", "optim"))

PARAMS = [("weight", [3, 4]), ("bias", [4]), ("scale", []), ("block", [2, 3, 2]), ("late", [5])]
LATE = 4
LATE_STEPS_WITHOUT_GRAD = {0, 1, 2, 6}
# per-step gradient scale: the global norm swings around max_norm = 1 of the "clip" case
GRAD_SCALE = [0.05, 0.5, 0.01, 1.5, 0.15, 0.08, 0.3, 0.02, 0.7, 0.12]


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def make_data():
    gen = torch.Generator().manual_seed(20240601)
    init = [torch.randn(shape, generator=gen, dtype=DT) for _, shape in PARAMS]
    grads = []
    for s in range(STEPS):
        row = []
        for i, (_, shape) in enumerate(PARAMS):
            g = torch.randn(shape, generator=gen, dtype=DT) * GRAD_SCALE[s]
            row.append(None if (i == LATE and s in LATE_STEPS_WITHOUT_GRAD) else g)
        grads.append(row)
    return init, grads


def hf_linear_with_warmup(warmup, total):
    """transformers.optimization.get_linear_schedule_with_warmup's lr_lambda (0-based step)."""
    def lam(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        return max(0.0, float(total - step) / float(max(1, total - warmup)))
    return lam


def run(init, grads, lr, betas, eps, weight_decay, lrs=None, max_norm=None):
    params = [p.clone().requires_grad_(True) for p in init]
    opt = torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=False)
    out = {"params": [], "lrs": []}
    if max_norm is not None:
        out["totalNorms"] = []
        out["clippedGrads"] = []
    for s in range(STEPS):
        for p, g in zip(params, grads[s]):
            p.grad = None if g is None else g.clone()
        if max_norm is not None:
            total = torch.nn.utils.clip_grad_norm_(params, max_norm)
            out["totalNorms"].append(float(total))
            out["clippedGrads"].append([None if p.grad is None else flat(p.grad) for p in params])
        step_lr = lr if lrs is None else lrs[s]
        for group in opt.param_groups:
            group["lr"] = step_lr
        opt.step()
        out["lrs"].append(step_lr)
        out["params"].append([flat(p) for p in params])
    return out


def main():
    torch.set_default_dtype(DT)
    init, grads = make_data()
    schedule = {"lr": 1e-2, "warmupSteps": 3, "totalSteps": STEPS}
    lam = hf_linear_with_warmup(schedule["warmupSteps"], schedule["totalSteps"])
    sched_lrs = [schedule["lr"] * lam(s) for s in range(STEPS)]
    cases = {}
    opts = {"lr": 1e-2, "betas": [0.9, 0.999], "eps": 1e-8, "weightDecay": 0.01}
    cases["default"] = {"options": opts, **run(init, grads, 1e-2, (0.9, 0.999), 1e-8, 0.01)}
    opts = {"lr": 1e-2, "betas": [0.9, 0.999], "eps": 1e-6, "weightDecay": 0.1}
    cases["schedule"] = {"options": opts, "schedule": schedule, **run(init, grads, 1e-2, (0.9, 0.999), 1e-6, 0.1, lrs=sched_lrs)}
    opts = {"lr": 2e-2, "betas": [0.8, 0.99], "eps": 1e-8, "weightDecay": 0.0}
    cases["clip"] = {"options": opts, "maxNorm": 1.0, **run(init, grads, 2e-2, (0.8, 0.99), 1e-8, 0.0, max_norm=1.0)}
    golden = {
        "torch": torch.__version__,
        "steps": STEPS,
        "params": [{"name": n, "shape": shape, "init": flat(t)} for (n, shape), t in zip(PARAMS, init)],
        "grads": [[None if g is None else flat(g) for g in row] for row in grads],
        "cases": cases,
    }
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "adamw.json")
    with open(path, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    clipped = sum(1 for n in cases["clip"]["totalNorms"] if n > 1.0)
    print(f"wrote {path} (torch {torch.__version__}; clipping active on {clipped}/{STEPS} steps)")


if __name__ == "__main__":
    main()
