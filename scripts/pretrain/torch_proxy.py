"""
A diagnostic, not part of the shipped model's recipe: trains the t5-mini architecture in PyTorch on exactly
the batches of one of our pretraining runs (dumped by dump-batches.ts) with the same initialisation scheme
(HF T5's), AdamW and linear schedule, and prints the loss every 10 steps. Compare it with the run's
log.jsonl: if PyTorch leaves the ~4.8 "unigram" plateau where our trainer does not, the trainer is at
fault; if both stay, it is the data and the budget.

    /usr/bin/python3 scripts/pretrain/torch_proxy.py [--batches .cache/pretrain/batches.bin] [--lr 6e-3] [--warmup 50]
        [--steps 400] [--threads 1]

The model is scripts/goldens/t5_reference.py's T5Ref (independent of HF's code and ours), run in float32
without dropout (compare with a --dropout 0 run of pretrain.ts).
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "goldens"))
import t5_reference as ref  # noqa: E402

ref.DT = torch.float32


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default=".cache/pretrain/batches.bin")
    ap.add_argument("--lr", type=float, default=6e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--steps", type=int, default=0, help="default: every dumped step")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    words = np.fromfile(a.batches, dtype="<i4")
    steps, B, S, T, V = (int(x) for x in words[:5])
    total = a.steps or steps
    per = B * (S + T)
    c = {"vocab_size": V, "d_model": 128, "d_kv": 32, "d_ff": 512, "num_layers": 4, "num_decoder_layers": 4, "num_heads": 4,
         "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128, "layer_norm_epsilon": 1e-6,
         "is_gated_act": False, "tie_word_embeddings": True, "decoder_start_token_id": 0, "pad_token_id": 0, "eos_token_id": 1}
    # HF T5's _init_weights (factor 1.0)
    g = torch.Generator().manual_seed(a.seed)
    D, H, dk, F = c["d_model"], c["num_heads"], c["d_kv"], c["d_ff"]
    params = {}
    for name, shape in ref.param_shapes(c).items():
        if name.endswith("layer_norm.weight"):
            t = torch.ones(shape)
        elif name == "shared.weight":
            t = torch.randn(shape, generator=g)
        elif name.endswith(".q.weight"):
            t = torch.randn(shape, generator=g) * (D * dk) ** -0.5
        elif name.endswith((".k.weight", ".v.weight", ".wi.weight")):
            t = torch.randn(shape, generator=g) * D ** -0.5
        elif name.endswith(".o.weight"):
            t = torch.randn(shape, generator=g) * (H * dk) ** -0.5
        elif name.endswith(".wo.weight"):
            t = torch.randn(shape, generator=g) * F ** -0.5
        elif name.endswith("relative_attention_bias.weight"):
            t = torch.randn(shape, generator=g) * D ** -0.5
        else:
            raise ValueError(name)
        params[name] = t.requires_grad_(True)
    leaves = list(params.values())
    for stack in ("encoder", "decoder"):
        params[f"{stack}.embed_tokens.weight"] = params["shared.weight"]
    model = ref.T5Ref(c, params)
    opt = torch.optim.AdamW(leaves, lr=a.lr, weight_decay=a.weight_decay)
    sched = lambda s: s / max(1, a.warmup) if s < a.warmup else max(0.0, (total - s) / max(1, total - a.warmup))  # noqa: E731
    window, t0 = [], time.time()
    for step in range(total):
        base = 5 + (step % steps) * per
        ids = torch.from_numpy(words[base : base + B * S].astype(np.int64)).view(B, S)
        labels = torch.from_numpy(words[base + B * S : base + per].astype(np.int64)).view(B, T)
        for group in opt.param_groups:
            group["lr"] = a.lr * sched(step)
        loss, _ = model.forward(ids, torch.ones(B, S), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        window.append(loss.item())
        if (step + 1) % 10 == 0:
            print(f"step {step + 1}/{total} loss {np.mean(window):.4f} lr {a.lr * sched(step):.3g} {(time.time() - t0) / (step + 1):.2f} s/step", flush=True)
            window = []


if __name__ == "__main__":
    main()
