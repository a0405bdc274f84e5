#!/usr/bin/python3
"""PyTorch CPU side of `npm run bench -- step` (bench/step.ts spawns it once per bench run).

The same training step as the TypeScript bench: forward with loss, backward, AdamW update, gradients
cleared, on the same T5 architecture and the same batch (bench/step.ts sends the config and the token
ids), for the same PEFT methods on the same target Linears, in float32, in eval mode (no dropout).

The model is scripts/goldens/t5_reference.py's T5Ref (plain PyTorch written from the semantics of HF's
T5ForConditionalGeneration, independent of HF's code and of ours), imported through sys.path and run in
float32 (`ref.DT`). The adapters are attached by routing the reference's own `linear(x, w)` through a
wrapper that adds the adapter branch for the target weights (see `adapted_linear`), so the forward is the
reference's code unchanged, with HF PEFT's parallel adapter path y = W·x + Δ(x) beside each target:

  krona  Δ(x) = s·(A ⊗ B)·x, A (a1, a2) zeros, B (b1, b2) U(±1/√b2), a1·b1 = out, a2·b2 = in; factor
         shapes from HF PEFT LoKr's rule (t5_reference.factorization, as plugins/shared/kronecker.ts) or
         a1/a2 when given; s = `scale` (default 1); applied without forming A ⊗ B, in the cheaper of the
         two arrangements (as kronApply in plugins/shared/kronecker.ts).
  lora   Δ(x) = (alpha/r)·B·A·x, A (r, in) U(±1/√in), B (out, r) zeros (plugins/lora/lora.ts, HF PEFT).

Base weights: HF's T5 initialisation (T5PreTrainedModel._init_weights, as core/models/t5/init.ts) from a
seeded torch generator (not our RNG: the values differ from the TS model's, the shapes and scales do
not), frozen. Optimiser: torch.optim.AdamW (torch's defaults: betas (0.9, 0.999), eps 1e-8, weight
decay 0.01, the same as core/optim/adamw.ts) over the adapter parameters only, lr 1e-3.

Input (stdin, one JSON object):
  {"models": [{"name": "small", "config": {HF config.json}, "inputIds": [[…]], "attentionMask": [[…]],
               "labels": [[…]]}, …],
   "methods": [{"method": "krona", "config": {…, "targets": ["q", "v"]}}, …],
   "warmup": 3, "rounds": 5, "seed": 1}
Arguments: --threads N (default: the CPUs this process may run on).
Output (stdout): one JSON line per model and method:
  {"kind": "torch-step", "model", "method", "batch": [B, S, T], "trainable", "targets", "stepMs": [per timed
   step], "warmupMs": […], "loss": [first, last step's], "torch": version, "threads"}
or, when torch cannot be imported, one line {"kind": "torch-unavailable", "reason": …} and exit status 3.
Progress goes to stderr.

Timing: per model, `warmup` steps of each method, then `rounds` rounds of one step per method, the order
rotated every round (as bench/plugins.ts interleaved()), so drifting machine load spreads over both methods.
"""
import argparse
import json
import math
import os
import sys
import time


def emit(obj):
    """One JSON line on stdout, flushed at once (the TypeScript side reads the pipe)."""
    print(json.dumps(obj, separators=(",", ":")), flush=True)


def log(*parts):
    print("[torch_step]", *parts, file=sys.stderr, flush=True)


try:
    import torch
except Exception as error:  # ImportError, or a broken install (missing shared library, …)
    emit({"kind": "torch-unavailable", "reason": f"import torch failed in {sys.executable}: {type(error).__name__}: {error}"})
    sys.exit(3)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "goldens"))
import t5_reference as ref  # noqa: E402

ref.DT = torch.float32  # the reference's dtype for masks and biases (float64 for goldens); float32 like ours


# ------------------------------------------------------------------------------------ base weights
def init_std(c, name):
    """HF's init std of `name` (None: a layer norm, set to the factor), as core/models/t5/init.ts initStd."""
    f = c["initializer_factor"]
    D, Dk, H, F = c["d_model"], c["d_kv"], c["num_heads"], c["d_ff"]
    if name.endswith("layer_norm.weight"):
        return None
    if name in ("shared.weight", "lm_head.weight"):
        return f
    if name.endswith(".q.weight"):
        return f * (D * Dk) ** -0.5
    if name.endswith(".k.weight") or name.endswith(".v.weight"):
        return f * D ** -0.5
    if name.endswith(".o.weight"):
        return f * (H * Dk) ** -0.5
    if name.endswith("relative_attention_bias.weight"):
        return f * D ** -0.5
    if name.endswith(".wi.weight") or name.endswith(".wi_0.weight") or name.endswith(".wi_1.weight"):
        return f * D ** -0.5
    if name.endswith(".wo.weight"):
        return f * F ** -0.5
    raise ValueError(f"no init rule for {name}")


def base_params(c, generator):
    """name -> frozen float32 tensor, in the reference's naming (embed_tokens tied to shared, as to_params)."""
    params = {}
    for name, shape in ref.param_shapes(c).items():
        std = init_std(c, name)
        if std is None:
            params[name] = torch.full(shape, float(c["initializer_factor"]))
        else:
            params[name] = torch.randn(shape, generator=generator) * std
    for stack in ("encoder", "decoder"):
        params[f"{stack}.embed_tokens.weight"] = params["shared.weight"]
    return params  # requires_grad False everywhere: the base is frozen


def reference_config(hf):
    """The keys T5Ref reads, from an HF config.json (bench/step.ts sends t5ConfigToJson's output)."""
    act = hf.get("dense_act_fn", "relu")
    gated = bool(hf.get("is_gated_act", False))
    # T5Ref.ff implements relu (ungated) and gelu_new (gated) only
    if (gated, act) not in ((False, "relu"), (True, "gelu_new")):
        raise ValueError(f"t5_reference supports relu and gated-gelu_new feed-forwards, not is_gated_act={gated} dense_act_fn={act}")
    keys = ["vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_heads", "relative_attention_num_buckets",
            "relative_attention_max_distance", "layer_norm_epsilon", "initializer_factor", "tie_word_embeddings",
            "pad_token_id", "eos_token_id", "decoder_start_token_id"]
    c = {k: hf[k] for k in keys}
    c["num_decoder_layers"] = hf.get("num_decoder_layers") or hf["num_layers"]
    c["is_gated_act"] = gated
    return c


# ------------------------------------------------------------------------------------------ adapters
# id(weight tensor) -> the adapter branch x (…, in) -> (…, out) of the active method; empty = no adapter
ACTIVE_BRANCHES = {}
_reference_linear = ref.linear


def adapted_linear(x, w):
    """The reference's linear(x, w) = x·wᵀ, plus the active adapter's branch when w is a target weight."""
    y = _reference_linear(x, w)
    branch = ACTIVE_BRANCHES.get(id(w))
    return y if branch is None else y + branch(x)


ref.linear = adapted_linear  # T5Ref.attention looks `linear` up in the module at call time


def target_paths(c, targets):
    """Dotted paths of the target Linears: names matched exactly or as a dotted suffix, as core/peft/targets.ts.
    Only attention projections (q, k, v, o) are supported here (what bench/step.ts targets)."""
    if not isinstance(targets, list) or not set(targets) <= {"q", "k", "v", "o"}:
        raise ValueError(f"torch_step.py supports attention targets q, k, v, o only, got {targets!r}")
    return ref.attention_paths(c, targets)


def kron_shape(config, out_features, in_features):
    """(a1, a2, b1, b2) as kronShape in plugins/shared/kronecker.ts: a1, a2 given, else LoKr's factorization."""
    if config.get("a1") is not None and config.get("a2") is not None:
        a1, a2 = config["a1"], config["a2"]
        return a1, a2, out_features // a1, in_features // a2
    factor = config.get("decomposeFactor", -1)
    a1, b1 = ref.factorization(out_features, factor)
    a2, b2 = ref.factorization(in_features, factor)
    return a1, a2, b1, b2


def krona_branch(A, B, scale):
    """s·(A ⊗ B)·x for x (…, a2·b2) -> (…, a1·b1) without forming A ⊗ B (kronApply's arrangements):
    per token y = vec(A·X·Bᵀ), X = reshape(x, (a2, b2)) row-major; the cheaper order by multiply-adds."""
    a1, a2 = A.shape
    b1, b2 = B.shape
    b_first = a2 * b2 * b1 + a1 * a2 * b1 <= a1 * a2 * b2 + a1 * b2 * b1

    def branch(x):
        lead = x.shape[:-1]
        As = A if scale == 1 else A * scale  # (a1, a2): scaling A is cheaper than scaling y
        if b_first:
            z = x.reshape(-1, b2) @ B.t()  # (N·a2, b2)·(b2, b1) -> (N·a2, b1)
            y3 = As @ z.reshape(-1, a2, b1)  # (a1, a2)·(N, a2, b1) -> (N, a1, b1), A broadcast over tokens
        else:
            t = As @ x.reshape(-1, a2, b2)  # (a1, a2)·(N, a2, b2) -> (N, a1, b2)
            y3 = t.reshape(-1, b2) @ B.t()  # (N·a1, b2)·(b2, b1) -> (N·a1, b1)
        return y3.reshape(*lead, a1 * b1)  # (…, out)

    return branch


def lora_branch(A, B, scale):
    """(alpha/r)·B·A·x for x (…, in): (…, in)·Aᵀ -> (…, r), ·Bᵀ -> (…, out), as plugins/lora/lora.ts."""
    return lambda x: (x @ A.t()) @ B.t() * scale


def build_adapter(method, config, c, params, generator):
    """Adapter parameters (leaf tensors, requires_grad) and {id(target weight): branch} for one method."""
    branches, trainable = {}, []
    for path in target_paths(c, config.get("targets", ["q", "v"])):
        W = params[f"{path}.weight"]  # (out, in), frozen
        out_features, in_features = W.shape
        if method == "krona":
            a1, a2, b1, b2 = kron_shape(config, out_features, in_features)
            A = torch.zeros(a1, a2)  # zero: the model starts unchanged, as the plugin
            B = (torch.rand(b1, b2, generator=generator) * 2 - 1) / math.sqrt(b2)  # Kaiming-uniform U(±1/√b2)
            branch = krona_branch(A, B, float(config.get("scale", 1.0)))
        elif method == "lora":
            r = int(config.get("r", 8))
            alpha = float(config.get("alpha", 8))
            scale = alpha / math.sqrt(r) if config.get("useRslora", False) else alpha / r
            A = (torch.rand(r, in_features, generator=generator) * 2 - 1) / math.sqrt(in_features)  # (r, in)
            B = torch.zeros(out_features, r)  # (out, r)
            branch = lora_branch(A, B, scale)
        else:
            raise ValueError(f"torch_step.py knows krona and lora, not {method!r}")
        if config.get("dropout", 0):
            raise ValueError("adapter dropout is not modelled here (the bench runs in eval mode)")
        A.requires_grad_(True)
        B.requires_grad_(True)
        trainable += [A, B]
        branches[id(W)] = branch
    return trainable, branches


# ------------------------------------------------------------------------------------------ the bench
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=default_threads, help="torch.set_num_threads (default: usable CPUs)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    job = json.load(sys.stdin)
    warmup, rounds, seed = int(job.get("warmup", 3)), int(job["rounds"]), int(job.get("seed", 1))
    torch.manual_seed(seed)
    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {warmup} warm-up steps and {rounds} rounds per method")

    for model_job in job["models"]:
        c = reference_config(model_job["config"])
        generator = torch.Generator().manual_seed(seed)
        params = base_params(c, generator)
        model = ref.T5Ref(c, params)
        ids = torch.tensor(model_job["inputIds"], dtype=torch.long)  # (B, S)
        mask = torch.tensor(model_job["attentionMask"], dtype=torch.long)  # (B, S)
        labels = torch.tensor(model_job["labels"], dtype=torch.long)  # (B, T)
        variants = []
        for entry in job["methods"]:
            trainable, branches = build_adapter(entry["method"], entry["config"], c, params, generator)
            variants.append({
                "method": entry["method"],
                "branches": branches,
                "optimizer": torch.optim.AdamW(trainable, lr=1e-3),
                "trainable": sum(p.numel() for p in trainable),
                "targets": len(branches),
                "warmupMs": [],
                "stepMs": [],
                "losses": [],
            })

        def step(v):
            """One training step of variant v; returns its wall ms (CPU torch is synchronous; .item() as ours)."""
            ACTIVE_BRANCHES.clear()
            ACTIVE_BRANCHES.update(v["branches"])
            start = time.perf_counter()
            loss, _ = model.forward(ids, mask, labels)
            loss.backward()
            v["optimizer"].step()
            v["optimizer"].zero_grad(set_to_none=True)  # grads dropped, as our zeroGrad (torch ≥ 2.0's default)
            value = loss.item()
            elapsed = (time.perf_counter() - start) * 1000
            v["losses"].append(value)
            return elapsed

        for v in variants:
            for _ in range(warmup):
                v["warmupMs"].append(step(v))
        for round_index in range(rounds):
            for i in range(len(variants)):
                v = variants[(i + round_index) % len(variants)]
                v["stepMs"].append(step(v))
        for v in variants:
            emit({
                "kind": "torch-step",
                "model": model_job["name"],
                "method": v["method"],
                "batch": list(ids.shape) + [labels.shape[1]],
                "trainable": v["trainable"],
                "targets": v["targets"],
                "stepMs": v["stepMs"],
                "warmupMs": v["warmupMs"],
                "loss": [v["losses"][0], v["losses"][-1]],  # first and last step's loss: a sanity check (finite, moving)
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            })
        ACTIVE_BRANCHES.clear()


if __name__ == "__main__":
    main()
