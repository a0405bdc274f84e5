#!/usr/bin/python3
"""Independent reference for webpeft's T5: golden losses, logits, gradients, position buckets and greedy
generations, written from the semantics of Hugging Face's T5ForConditionalGeneration (transformers'
modeling_t5.py, v4.x) in plain PyTorch, evaluated in float64.

Run offline with Debian's PyTorch (apt-get install python3-torch; use /usr/bin/python3, not a pyenv one):

    /usr/bin/python3 scripts/goldens/t5_reference.py [--shared-data ../shared/data]

It writes, under test/goldens/t5/:
  <name>/config.json, <name>/model.safetensors   two tiny random checkpoints (v1.0 relu + tied; v1.1 gated-gelu,
                                                 untied, standard 32 buckets / 128 distance) in HF layout
  <name>/golden.json                             inputs (with padding), loss, logits, every parameter's gradient,
                                                 greedy generation
  tiny-random-t5.golden.json                     the same for the real hf-internal-testing/tiny-random-t5
                                                 (weights read from ../shared/data, not copied)
  buckets.json                                   relative position bucket tables
  adapters/lora-q-v/, adapters/lokr-q-v/         HF PEFT adapter files (LORA and LOKR layout) for the tiny
                                                 v1.0 checkpoint, each with golden.json: the loss with the
                                                 adapter applied
Nothing here imports transformers: the point is an implementation independent of both HF's code and ours.
"""
import argparse
import json
import math
import os
import struct

import numpy as np
import torch

torch.set_grad_enabled(True)
DT = torch.float64
MASK = -3.4028234663852886e38  # float32's lowest value, HF's additive mask
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "..", "test", "goldens", "t5"))


# ---------------------------------------------------------------------------------------------- model
def bucket(rel, bidirectional, num_buckets, max_distance):
    """HF's _relative_position_bucket: rel = key - query (LongTensor); log part in float32 as HF does."""
    ret = torch.zeros_like(rel)
    n = num_buckets
    if bidirectional:
        n //= 2
        ret += (rel > 0).to(torch.long) * n
        d = torch.abs(rel)
    else:
        d = -torch.min(rel, torch.zeros_like(rel))
    max_exact = n // 2
    small = d < max_exact
    large = max_exact + (
        torch.log(d.float() / max_exact) / math.log(max_distance / max_exact) * (n - max_exact)
    ).to(torch.long)
    large = torch.min(large, torch.full_like(large, n - 1))
    return ret + torch.where(small, d, large)


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def linear(x, w):
    return x @ w.t()


class T5Ref:
    def __init__(self, cfg, params):
        self.c = cfg
        self.p = params  # name -> float64 leaf tensor (tied names share one tensor)

    def attention(self, pre, x, kv, bias):
        c = self.c
        B, L, _ = x.shape
        H, dk = c["num_heads"], c["d_kv"]
        q = linear(x, self.p[pre + ".q.weight"]).view(B, L, H, dk).transpose(1, 2)
        src = x if kv is None else kv
        K = src.shape[1]
        k = linear(src, self.p[pre + ".k.weight"]).view(B, K, H, dk).transpose(1, 2)
        v = linear(src, self.p[pre + ".v.weight"]).view(B, K, H, dk).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) + bias  # no 1/sqrt(dk)
        w = torch.softmax(scores, dim=-1)
        ctx = (w @ v).transpose(1, 2).reshape(B, L, H * dk)
        return linear(ctx, self.p[pre + ".o.weight"])

    def position_bias(self, stack, qlen, klen, bidirectional, offset=0):
        qpos = torch.arange(offset, offset + qlen)[:, None]
        kpos = torch.arange(klen)[None, :]
        b = bucket(kpos - qpos, bidirectional, self.c["relative_attention_num_buckets"], self.c["relative_attention_max_distance"])
        table = self.p[f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
        return table[b].permute(2, 0, 1).unsqueeze(0)  # (1, H, q, k)

    def ff(self, pre, x):
        c = self.c
        if c["is_gated_act"]:
            h = gelu_new(linear(x, self.p[pre + ".wi_0.weight"])) * linear(x, self.p[pre + ".wi_1.weight"])
        else:
            h = torch.relu(linear(x, self.p[pre + ".wi.weight"]))
        return linear(h, self.p[pre + ".wo.weight"])

    def stack(self, name, ids, self_bias, enc=None, enc_bias=None):
        c = self.c
        eps = c["layer_norm_epsilon"]
        h = self.p["shared.weight"][ids]
        n = c["num_decoder_layers"] if name == "decoder" else c["num_layers"]
        for i in range(n):
            pre = f"{name}.block.{i}.layer"
            h = h + self.attention(f"{pre}.0.SelfAttention", rms_norm(h, self.p[f"{pre}.0.layer_norm.weight"], eps), None, self_bias)
            if name == "decoder":
                h = h + self.attention(f"{pre}.1.EncDecAttention", rms_norm(h, self.p[f"{pre}.1.layer_norm.weight"], eps), enc, enc_bias)
            f = 2 if name == "decoder" else 1
            h = h + self.ff(f"{pre}.{f}.DenseReluDense", rms_norm(h, self.p[f"{pre}.{f}.layer_norm.weight"], eps))
        return rms_norm(h, self.p[f"{name}.final_layer_norm.weight"], eps)

    def encode(self, ids, mask):
        key_bias = (1.0 - mask.to(DT))[:, None, None, :] * MASK
        S = ids.shape[1]
        bias = self.position_bias("encoder", S, S, True) + key_bias
        return self.stack("encoder", ids, bias), key_bias

    def head(self, h):
        if self.c["tie_word_embeddings"]:
            return linear(h * self.c["d_model"] ** -0.5, self.p["shared.weight"])
        return linear(h, self.p["lm_head.weight"])

    def forward(self, ids, mask, labels):
        c = self.c
        enc, key_bias = self.encode(ids, mask)
        dec_in = torch.cat([torch.full_like(labels[:, :1], c["decoder_start_token_id"]), labels[:, :-1]], dim=1)
        dec_in = torch.where(dec_in == -100, torch.full_like(dec_in, c["pad_token_id"]), dec_in)
        T = dec_in.shape[1]
        causal = torch.tril(torch.ones(T, T, dtype=DT))[None, None]
        self_bias = self.position_bias("decoder", T, T, False) + (1.0 - causal) * MASK
        h = self.stack("decoder", dec_in, self_bias, enc, key_bias)
        logits = self.head(h)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        return loss, logits

    @torch.no_grad()
    def generate(self, ids, mask, max_new_tokens):
        """Greedy decoding by re-running the full decoder each step (no cache: a different route than ours)."""
        c = self.c
        enc, key_bias = self.encode(ids, mask)
        B = ids.shape[0]
        seq = torch.full((B, 1), c["decoder_start_token_id"], dtype=torch.long)
        done = torch.zeros(B, dtype=torch.bool)
        for _ in range(max_new_tokens):
            T = seq.shape[1]
            causal = torch.tril(torch.ones(T, T, dtype=DT))[None, None]
            self_bias = self.position_bias("decoder", T, T, False) + (1.0 - causal) * MASK
            h = self.stack("decoder", seq, self_bias, enc, key_bias)
            nxt = self.head(h)[:, -1].argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, c["pad_token_id"]), nxt)
            seq = torch.cat([seq, nxt[:, None]], dim=1)
            done = done | (nxt == c["eos_token_id"])
            if bool(done.all()):
                break
        return seq[:, 1:].tolist()


# ------------------------------------------------------------------------------------- checkpoints
def param_shapes(c):
    D, I, F, V = c["d_model"], c["num_heads"] * c["d_kv"], c["d_ff"], c["vocab_size"]
    shapes = {"shared.weight": (V, D)}
    for stack, n in (("encoder", c["num_layers"]), ("decoder", c["num_decoder_layers"])):
        for i in range(n):
            pre = f"{stack}.block.{i}.layer"
            atts = [("0", "SelfAttention")] + ([("1", "EncDecAttention")] if stack == "decoder" else [])
            for layer, kind in atts:
                for m in "qkv":
                    shapes[f"{pre}.{layer}.{kind}.{m}.weight"] = (I, D)
                shapes[f"{pre}.{layer}.{kind}.o.weight"] = (D, I)
                if i == 0 and kind == "SelfAttention":
                    shapes[f"{pre}.0.SelfAttention.relative_attention_bias.weight"] = (c["relative_attention_num_buckets"], c["num_heads"])
                shapes[f"{pre}.{layer}.layer_norm.weight"] = (D,)
            f = "2" if stack == "decoder" else "1"
            if c["is_gated_act"]:
                shapes[f"{pre}.{f}.DenseReluDense.wi_0.weight"] = (F, D)
                shapes[f"{pre}.{f}.DenseReluDense.wi_1.weight"] = (F, D)
            else:
                shapes[f"{pre}.{f}.DenseReluDense.wi.weight"] = (F, D)
            shapes[f"{pre}.{f}.DenseReluDense.wo.weight"] = (D, F)
            shapes[f"{pre}.{f}.layer_norm.weight"] = (D,)
        shapes[f"{stack}.final_layer_norm.weight"] = (D,)
    if not c["tie_word_embeddings"]:
        shapes["lm_head.weight"] = (V, D)
    return shapes


def write_safetensors(path, arrays):
    header, blobs, offset = {}, [], 0
    for name in sorted(arrays):
        data = np.ascontiguousarray(arrays[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arrays[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def random_checkpoint(c, seed):
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, shape in param_shapes(c).items():
        if name.endswith("layer_norm.weight"):
            # not all ones, so that a missing norm weight would show in the goldens
            arrays[name] = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        else:
            arrays[name] = (0.5 * rng.standard_normal(shape)).astype(np.float32)
    return arrays


def hf_config(c):
    out = dict(c)
    out.update({"architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "is_encoder_decoder": True})
    return out


def to_params(c, arrays):
    params = {n: torch.tensor(a, dtype=DT, requires_grad=True) for n, a in arrays.items() if n in param_shapes(c)}
    for stack in ("encoder", "decoder"):
        params[f"{stack}.embed_tokens.weight"] = params["shared.weight"]
    return params


def golden(c, arrays, ids, mask, labels, max_new_tokens):
    model = T5Ref(c, to_params(c, arrays))
    ids_t, mask_t, labels_t = torch.tensor(ids), torch.tensor(mask), torch.tensor(labels)
    loss, logits = model.forward(ids_t, mask_t, labels_t)
    loss.backward()
    grads = {}
    for name in param_shapes(c):
        g = model.p[name].grad
        grads[name] = [float(v) for v in g.reshape(-1).tolist()]
    return {
        "inputIds": ids, "attentionMask": mask, "labels": labels,
        "loss": float(loss), "logitsShape": list(logits.shape),
        "logits": [float(v) for v in logits.detach().reshape(-1).tolist()],
        "grads": grads,
        "generate": {"maxNewTokens": max_new_tokens, "ids": model.generate(ids_t, mask_t, max_new_tokens)},
    }


def compact(obj):
    """Floats with 10 significant digits: ample for 1e-4 comparisons, a third of the size."""
    if isinstance(obj, float):
        return float("%.10g" % obj)
    if isinstance(obj, list):
        return [compact(v) for v in obj]
    if isinstance(obj, dict):
        return {k: compact(v) for k, v in obj.items()}
    return obj


def save_json(path, obj):
    with open(path, "w") as f:
        json.dump(compact(obj), f, separators=(",", ":"))
        f.write("\n")


TINY_V10 = {
    "vocab_size": 96, "d_model": 16, "d_kv": 4, "d_ff": 24, "num_layers": 2, "num_decoder_layers": 3, "num_heads": 4,
    "relative_attention_num_buckets": 8, "relative_attention_max_distance": 20, "dropout_rate": 0.1,
    "layer_norm_epsilon": 1e-6, "initializer_factor": 1.0, "feed_forward_proj": "relu", "is_gated_act": False,
    "dense_act_fn": "relu", "tie_word_embeddings": True, "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0,
}
TINY_V11 = {
    "vocab_size": 80, "d_model": 16, "d_kv": 6, "d_ff": 20, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 2,
    "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128, "dropout_rate": 0.1,
    "layer_norm_epsilon": 1e-6, "initializer_factor": 1.0, "feed_forward_proj": "gated-gelu", "is_gated_act": True,
    "dense_act_fn": "gelu_new", "tie_word_embeddings": False, "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0,
}


def batch(vocab, seed):
    """3 sources of length 7 with 0/2/4 padding positions; targets of length 5 with -100 tails."""
    rng = np.random.default_rng(seed)
    ids, mask = [], []
    for pad in (0, 2, 4):
        row = [int(v) for v in rng.integers(2, vocab, 7 - pad)]
        row[-1] = 1  # </s>
        ids.append(row + [0] * pad)
        mask.append([1] * (7 - pad) + [0] * pad)
    labels = []
    for ignored in (0, 1, 3):
        row = [int(v) for v in rng.integers(2, vocab, 5 - ignored)]
        row[-1] = 1
        labels.append(row + [-100] * ignored)
    return ids, mask, labels


# ------------------------------------------------------------------------------------ PEFT adapters
def factorization(dimension, factor=-1):
    """LyCORIS/HF PEFT's LoKr factor split: (m, n), m <= n, m*n = dimension, m near sqrt (or = factor)."""
    if factor > 0 and dimension % factor == 0:
        return factor, dimension // factor
    if factor == -1:
        factor = dimension
    m, n = 1, dimension
    length = m + n
    while m < n:
        new_m = m + 1
        while dimension % new_m != 0:
            new_m += 1
        new_n = dimension // new_m
        if new_m + new_n > length or new_m > factor:
            break
        m, n = new_m, new_n
    if m > n:
        n, m = m, n
    return m, n


def attention_paths(c, names):
    paths = []
    for stack, n in (("encoder", c["num_layers"]), ("decoder", c["num_decoder_layers"])):
        for i in range(n):
            kinds = [("0", "SelfAttention")] + ([("1", "EncDecAttention")] if stack == "decoder" else [])
            for layer, kind in kinds:
                for m in names:
                    paths.append(f"{stack}.block.{i}.layer.{layer}.{kind}.{m}")
    return paths


def write_adapter(directory, config, tensors):
    os.makedirs(directory, exist_ok=True)
    write_safetensors(os.path.join(directory, "adapter_model.safetensors"), tensors)
    with open(os.path.join(directory, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


def adapter_goldens(c, arrays, name):
    """LoRA and LoKr on q and v of every attention block, in HF PEFT's file layout, and the loss with each."""
    rng = np.random.default_rng(42)
    ids, mask, labels = batch(c["vocab_size"], 200)
    D = c["d_model"]
    I = c["num_heads"] * c["d_kv"]
    out = {}
    # LoRA: delta W = (alpha / r) B A, A (r, in), B (out, r); B nonzero so the adapter matters
    r, alpha = 4, 8.0
    lora, deltas = {}, {}
    for path in attention_paths(c, ["q", "v"]):
        A = (rng.standard_normal((r, D)) / math.sqrt(D)).astype(np.float32)
        B = (0.3 * rng.standard_normal((I, r))).astype(np.float32)
        lora[f"base_model.model.{path}.lora_A.weight"] = A
        lora[f"base_model.model.{path}.lora_B.weight"] = B
        deltas[path] = (alpha / r) * (B.astype(np.float64) @ A.astype(np.float64))
    lora_config = {
        "peft_type": "LORA", "task_type": "SEQ_2_SEQ_LM", "base_model_name_or_path": name, "revision": None,
        "r": r, "lora_alpha": alpha, "lora_dropout": 0.0, "target_modules": ["q", "v"], "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "modules_to_save": None,
        "layers_to_transform": None, "layers_pattern": None, "rank_pattern": {}, "alpha_pattern": {},
        "use_rslora": False, "use_dora": False,
    }
    out["lora-q-v"] = (lora_config, lora, deltas)
    # LoKr: delta W = (alpha / r) kron(w1, w2), w1 (out_l, in_m), w2 (out_k, in_n), both full
    out_l, out_k = factorization(I)
    in_m, in_n = factorization(D)
    r = max(out_k, in_n)  # r >= max(out_k, in_n) / 2 keeps w2 full in PEFT
    alpha = 0.5 * r
    lokr, deltas = {}, {}
    for path in attention_paths(c, ["q", "v"]):
        w1 = (0.5 * rng.standard_normal((out_l, in_m))).astype(np.float32)
        w2 = (0.5 * rng.standard_normal((out_k, in_n))).astype(np.float32)
        lokr[f"base_model.model.{path}.lokr_w1"] = w1
        lokr[f"base_model.model.{path}.lokr_w2"] = w2
        deltas[path] = (alpha / r) * np.kron(w1.astype(np.float64), w2.astype(np.float64))
    lokr_config = {
        "peft_type": "LOKR", "task_type": "SEQ_2_SEQ_LM", "base_model_name_or_path": name, "revision": None,
        "r": r, "alpha": alpha, "rank_dropout": 0.0, "module_dropout": 0.0, "use_effective_conv2d": False,
        "decompose_both": False, "decompose_factor": -1, "target_modules": ["q", "v"], "init_weights": True,
        "inference_mode": True, "layers_to_transform": None, "layers_pattern": None, "rank_pattern": {},
        "alpha_pattern": {}, "modules_to_save": None, "rank_dropout_scale": False,
    }
    out["lokr-q-v"] = (lokr_config, lokr, deltas)
    for adapter, (config, tensors, deltas) in out.items():
        directory = os.path.join(OUT, "adapters", adapter)
        write_adapter(directory, config, tensors)
        merged = dict(arrays)
        for path, delta in deltas.items():
            merged[f"{path}.weight"] = arrays[f"{path}.weight"].astype(np.float64) + delta
        model = T5Ref(c, {n: torch.tensor(np.asarray(a, dtype=np.float64)) for n, a in merged.items()} | {
            "encoder.embed_tokens.weight": torch.tensor(arrays["shared.weight"], dtype=DT),
            "decoder.embed_tokens.weight": torch.tensor(arrays["shared.weight"], dtype=DT)})
        with torch.no_grad():
            loss, _ = model.forward(torch.tensor(ids), torch.tensor(mask), torch.tensor(labels))
        save_json(os.path.join(directory, "golden.json"), {"inputIds": ids, "attentionMask": mask, "labels": labels, "loss": float(loss)})
        print("wrote", directory)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared-data", default=os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data")))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    for name, c, seed in (("tiny-v1_0-relu-tied", TINY_V10, 10), ("tiny-v1_1-gated-gelu", TINY_V11, 11)):
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        arrays = random_checkpoint(c, seed)
        write_safetensors(os.path.join(d, "model.safetensors"), arrays)
        save_json(os.path.join(d, "config.json"), hf_config(c))
        ids, mask, labels = batch(c["vocab_size"], seed + 100)
        save_json(os.path.join(d, "golden.json"), golden(c, arrays, ids, mask, labels, 6))
        print("wrote", d)
        if name == "tiny-v1_0-relu-tied":
            adapter_goldens(c, arrays, name)

    # the real HF test checkpoint, read from its original pytorch_model.bin
    real = os.path.join(args.shared_data, "tiny-random-t5")
    with open(os.path.join(real, "config.json")) as f:
        rc = json.load(f)
    c = {k: rc[k] for k in TINY_V10 if k in rc}
    c.setdefault("tie_word_embeddings", True)
    c["num_decoder_layers"] = rc.get("num_decoder_layers") or rc["num_layers"]
    state = torch.load(os.path.join(real, "pytorch_model.bin"), map_location="cpu")
    arrays = {n: t.numpy().astype(np.float32) for n, t in state.items()}
    ids, mask, labels = batch(c["vocab_size"], 7)
    out = golden(c, arrays, ids, mask, labels, 8)
    # the real model's gradients are large (shared alone is 1302x32): keep two representative ones
    keep = ["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", "decoder.block.4.layer.2.DenseReluDense.wo.weight"]
    out["grads"] = {k: out["grads"][k] for k in keep}
    save_json(os.path.join(OUT, "tiny-random-t5.golden.json"), out)
    print("wrote tiny-random-t5.golden.json")

    tables = []
    for nb, md in ((32, 128), (8, 20), (8, 128)):
        for bidirectional in (True, False):
            rel = torch.arange(-300, 301)
            tables.append({"numBuckets": nb, "maxDistance": md, "bidirectional": bidirectional, "from": -300,
                           "buckets": bucket(rel, bidirectional, nb, md).tolist()})
    save_json(os.path.join(OUT, "buckets.json"), tables)
    print("wrote buckets.json")


if __name__ == "__main__":
    main()
