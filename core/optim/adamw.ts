/**
 * AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization") as torch.optim.AdamW computes
 * it (its single-tensor path), updating parameters in place. For a parameter p with gradient g that has
 * received k updates including this one:
 *   p ← p · (1 − lr·λ)                                   decoupled weight decay
 *   m ← β1·m + (1 − β1)·g          v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1ᵏ)) · m / (√v / √(1 − β2ᵏ) + ε)
 * The kernels evaluate these in torch's order (p·(1 − lr·λ), not p − lr·λ·p; √v / √c2, not √(v / c2)) so
 * that the float64 reference agrees with torch to the last few bits (test/goldens/optim, ~1e-15).
 *
 * Like torch, k counts the updates of *that* parameter (torch's per-parameter state["step"]): a parameter
 * that gets its first gradient at optimizer step 100 takes a full-size first step, not one shrunk by a
 * bias correction of step 100. Parameters without a gradient are skipped entirely (no decay, no moment
 * update). State exists only for the tensors given, so frozen weights cost nothing.
 *
 * Layout and launches: the moments of all parameters live in one flat M and one flat V (a "bank"), the
 * parameter i's m and v at elements [offset_i, offset_i + numel_i), in the order the parameters were given;
 * the parameters themselves stay where they are. One launch updates a group of tensors (the ones with a
 * gradient, in order): it binds G0..G(k−1) and P0..P(k−1) (each tensor's gradient and parameter, with their
 * element offsets) plus the bank's M and V, 2k + 2 storage buffers. k is the most the backend's
 * maxStorageBuffersPerLaunch allows, at most ADAMW_MAX_GROUP: 3 on a WebGPU device with the guaranteed
 * minimum of 8 storage buffers per shader stage, 7 on lavapipe (16), 8 on the CPU. So 72 adapter tensors
 * take 11 launches per step on lavapipe instead of 72. Consecutive parameters share a bank unless their backend or dtype differ
 * or the bank would outgrow the backend's largest buffer (full fine-tuning of a large model); a group never
 * spans two banks, nor binds one buffer writable twice (parameters that are views of one storage). M and V
 * of a bank are allocated (zeros) at the first update of one of its parameters; a parameter's segment stays
 * zero until its own first update, as torch's lazily created state would.
 *
 * Checkpoints: `stateDict()` copies the state to the host, per parameter, and `loadStateDict` restores it
 * into a fresh optimizer over the same parameters; continuing then is bit-identical on the CPU backend to
 * never having stopped (same kernels, same m, v, k and hyper-parameters).
 */
import type { Backend, BufferHandle } from "../backend/backend.ts";
import { type Kernel, ParamLayout, entryBuiltins, linearWorkgroupIndex, spreadWorkgroups, storage, uniformParams } from "../backend/kernel.ts";
import { InvalidArgumentError } from "../errors.ts";
import { tensor } from "../tensor/create.ts";
import { type DType, type FloatArray, type FloatDType, bytesPerElement } from "../tensor/dtype.ts";
import { full } from "../tensor/ops/fill.ts";
import { keep } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";

/** Tensors one launch updates at most: 3 × (G, P) + M + V = 8 storage buffers (WebGPU's guaranteed minimum). */
/** Most tensors one launch updates (the WGSL picks its tensor with an if-chain over the group). */
const ADAMW_MAX_GROUP = 8;

/** Tensors per launch on `backend`: 2k + 2 storage buffers must fit its limit. */
export function adamwGroupSize(backend: Backend): number {
  return Math.max(1, Math.min(ADAMW_MAX_GROUP, Math.floor((backend.capabilities.maxStorageBuffersPerLaunch - 2) / 2)));
}

/** One tensor of a launch. */
interface AdamWSegment {
  readonly n: number;
  /** element offsets of p and g in their buffers, and of this tensor's m and v in the flat M and V */
  readonly pOffset: number;
  readonly gOffset: number;
  readonly mOffset: number;
  /** lr / (1 − β1ᵏ), with this tensor's own k */
  readonly stepSize: number;
  /** √(1 − β2ᵏ) */
  readonly sqrtCorrection2: number;
}

interface AdamWParams {
  /** 1 − lr·λ */
  readonly decay: number;
  readonly beta1: number;
  readonly beta2: number;
  /** 1 − β1 and 1 − β2, computed on the host in float64 (in WGSL 1.0 − f32(β) would lose digits) */
  readonly oneMinusBeta1: number;
  readonly oneMinusBeta2: number;
  readonly eps: number;
  /** 1 to ADAMW_MAX_GROUP tensors; buffers are bound G0..G(k−1), P0..P(k−1), M, V */
  readonly tensors: readonly AdamWSegment[];
}

/**
 * Uniforms of a launch over k tensors. The invocations cover the tensors' elements one after another:
 * tensor s owns invocations [end(s−1), end(s)) (end(−1) = 0), element j = i − end(s−1) of it.
 */
const layouts = Array.from({ length: ADAMW_MAX_GROUP }, (_, k) =>
  new ParamLayout<string>([
    ["decay", "f32"],
    ["beta1", "f32"],
    ["beta2", "f32"],
    ["omb1", "f32"],
    ["omb2", "f32"],
    ["eps", "f32"],
    ...Array.from({ length: k + 1 }, (_, s) =>
      [
        [`end${s}`, "u32"],
        [`poff${s}`, "u32"],
        [`goff${s}`, "u32"],
        [`moff${s}`, "u32"],
        [`step_size${s}`, "f32"],
        [`sqrt_c2_${s}`, "f32"],
      ] as const,
    ).flat(),
  ]),
);
const WG = 64;

export const adamwKernel: Kernel<AdamWParams> = {
  name: "adamw",
  cpu(buffers, q) {
    const k = q.tensors.length;
    const [m, v] = [buffers[2 * k]!, buffers[2 * k + 1]!];
    q.tensors.forEach((t, s) => {
      const [g, p] = [buffers[s]!, buffers[k + s]!];
      for (let i = 0; i < t.n; i++) {
        const gi = g[t.gOffset + i]!;
        const pi = p[t.pOffset + i]! * q.decay;
        // torch: exp_avg.mul_(β1).add_(g, alpha=1−β1); exp_avg_sq.mul_(β2).addcmul_(g, g, value=1−β2)
        const mi = q.beta1 * m[t.mOffset + i]! + q.oneMinusBeta1 * gi;
        const vi = q.beta2 * v[t.mOffset + i]! + q.oneMinusBeta2 * gi * gi;
        m[t.mOffset + i] = mi;
        v[t.mOffset + i] = vi;
        // torch: denom = √v / √c2 + ε; p.addcdiv_(m, denom, value=−stepSize), i.e. p + (−stepSize·m) / denom
        p[t.pOffset + i] = pi + (-t.stepSize * mi) / (Math.sqrt(vi) / t.sqrtCorrection2 + q.eps);
      }
    });
  },
  gpu: (q) => {
    const k = q.tensors.length;
    const layout = layouts[k - 1]!;
    const tensors = [...q.tensors.keys()];
    let end = 0;
    const uniforms: Record<string, number> = {
      decay: q.decay,
      beta1: q.beta1,
      beta2: q.beta2,
      omb1: q.oneMinusBeta1,
      omb2: q.oneMinusBeta2,
      eps: q.eps,
    };
    q.tensors.forEach((t, s) => {
      end += t.n;
      Object.assign(uniforms, {
        [`end${s}`]: end,
        [`poff${s}`]: t.pOffset,
        [`goff${s}`]: t.gOffset,
        [`moff${s}`]: t.mOffset,
        [`step_size${s}`]: t.stepSize,
        [`sqrt_c2_${s}`]: t.sqrtCorrection2,
      });
    });
    // Tensor s's branch: invocations past the last end match none (the bounds check).
    const branch = (s: number) => `if (i < P.end${s}) {
    let j = i${s === 0 ? "" : ` - P.end${s - 1}`};
    PARAM${s}[P.poff${s} + j] = update(G${s}[P.goff${s} + j], PARAM${s}[P.poff${s} + j], P.moff${s} + j, P.step_size${s}, P.sqrt_c2_${s});
  }`;
    return {
      key: `adamw:${k}`,
      source: () => `
${tensors.map((s) => storage(s, `G${s}`, "f32", "read")).join("\n")}
${tensors.map((s) => storage(k + s, `PARAM${s}`, "f32", "read_write")).join("\n")}
${storage(2 * k, "M", "f32", "read_write")}
${storage(2 * k + 1, "V", "f32", "read_write")}
${uniformParams(2 * k + 2, layout)}

// One element: stores m and v at M[mi], V[mi] and returns the new parameter value (torch's order, above).
fn update(g: f32, p_old: f32, mi: u32, step_size: f32, sqrt_c2: f32) -> f32 {
  let p = p_old * P.decay;
  let m = P.beta1 * M[mi] + P.omb1 * g;
  let v = P.beta2 * V[mi] + P.omb2 * g * g;
  M[mi] = m;
  V[mi] = v;
  return p + (-step_size * m) / (sqrt(v) / sqrt_c2 + P.eps);
}

@compute @workgroup_size(${WG})
fn main(${entryBuiltins}) {
  let i = ${linearWorkgroupIndex} * ${WG}u + lid;
  ${tensors.map(branch).join(" else ")}
}`,
      uniforms: layout.pack(uniforms),
      workgroups: spreadWorkgroups(Math.ceil(end / WG)),
    };
  },
};

export interface AdamWOptions {
  readonly lr?: number;
  readonly betas?: readonly [number, number];
  readonly eps?: number;
  /** Decoupled weight decay λ (torch's default 0.01). */
  readonly weightDecay?: number;
  /** Most tensors per launch (1 to 8); default: what the backend's storage-buffer limit allows (adamwGroupSize). */
  readonly groupSize?: number;
}

/** One parameter's optimizer state, copied to the host. */
export interface AdamWParamState {
  /** Updates this parameter has received (torch's per-parameter state["step"]); its bias corrections use it. */
  readonly step: number;
  readonly shape: readonly number[];
  readonly dtype: FloatDType;
  /** First moment m, row-major, a copy. */
  readonly m: FloatArray;
  /** Second moment v, row-major, a copy. */
  readonly v: FloatArray;
}

/** Everything needed to continue training exactly where `stateDict()` was taken. */
export interface AdamWState {
  /** Optimizer steps taken (calls of `step`). */
  readonly t: number;
  readonly lr: number;
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  /** Per parameter, in the order the optimizer was given them; null where that parameter never had a gradient. */
  readonly parameters: readonly (AdamWParamState | null)[];
}

interface HyperParameters {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

function checkHyperParameters(op: string, h: HyperParameters): void {
  for (const [what, value, ok] of [
    ["lr", h.lr, h.lr >= 0 && Number.isFinite(h.lr)],
    ["beta1", h.beta1, h.beta1 >= 0 && h.beta1 < 1],
    ["beta2", h.beta2, h.beta2 >= 0 && h.beta2 < 1],
    ["eps", h.eps, h.eps >= 0 && Number.isFinite(h.eps)],
    ["weightDecay", h.weightDecay, h.weightDecay >= 0 && Number.isFinite(h.weightDecay)],
  ] as const) {
    if (!ok) throw InvalidArgumentError.of(op, what, `${value} is out of range`);
  }
}

/** A flat M and V holding the moments of consecutive parameters that share a backend and dtype. */
interface Bank {
  readonly backend: Backend;
  readonly dtype: DType;
  /** Σ numel of its parameters */
  length: number;
  /** allocated at the first update of one of its parameters, freed by dispose() */
  moments: { readonly m: Tensor; readonly v: Tensor } | null;
  /** tensors per launch on its backend */
  readonly groupSize: number;
}

/** Where one parameter's state lives. */
interface Slot {
  readonly bank: Bank;
  /** element offset of its m and v in the bank's M and V */
  readonly offset: number;
  /** updates received (k); 0: never had a gradient, no state (null in stateDict) */
  step: number;
}

const fmt = (shape: readonly number[]): string => `[${shape.join(", ")}]`;
const arrayTypeOf = (dtype: DType) => (dtype === "float64" ? Float64Array : Float32Array);

export class AdamW {
  private h: HyperParameters;
  private t = 0;
  private readonly banks: Bank[] = [];
  /** slots[i]: the state of parameters[i] */
  private readonly slots: Slot[] = [];

  constructor(
    readonly parameters: readonly Tensor[],
    options: AdamWOptions = {},
  ) {
    const [beta1, beta2] = options.betas ?? [0.9, 0.999];
    this.h = { lr: options.lr ?? 1e-3, beta1, beta2, eps: options.eps ?? 1e-8, weightDecay: options.weightDecay ?? 0.01 };
    checkHyperParameters("AdamW", this.h);
    const groupSize = options.groupSize;
    if (groupSize !== undefined && !(Number.isInteger(groupSize) && groupSize >= 1 && groupSize <= ADAMW_MAX_GROUP)) {
      throw InvalidArgumentError.of("AdamW", "groupSize", `${groupSize} is not an integer from 1 to ${ADAMW_MAX_GROUP}`);
    }
    const seen = new Set<Tensor>();
    for (const p of parameters) {
      if (!p.isContiguous) throw InvalidArgumentError.of("AdamW", "parameters", `a parameter of shape ${fmt(p.shape)} is a non-contiguous view`);
      // one launch writes a group's parameters concurrently: the same tensor twice would race with itself
      if (seen.has(p)) throw InvalidArgumentError.of("AdamW", "parameters", `a parameter of shape ${fmt(p.shape)} is given twice`);
      seen.add(p);
      const capacity = Math.floor(p.backend.capabilities.maxBufferBytes / bytesPerElement[p.dtype]);
      let bank = this.banks.at(-1);
      if (!bank || bank.backend !== p.backend || bank.dtype !== p.dtype || bank.length + p.size > capacity) {
        bank = { backend: p.backend, dtype: p.dtype, length: 0, moments: null, groupSize: groupSize ?? adamwGroupSize(p.backend) };
        this.banks.push(bank);
      }
      this.slots.push({ bank, offset: bank.length, step: 0 });
      bank.length += p.size;
    }
  }

  /** The learning rate `step()` uses when given none. */
  get lr(): number {
    return this.h.lr;
  }
  get beta1(): number {
    return this.h.beta1;
  }
  get beta2(): number {
    return this.h.beta2;
  }
  get eps(): number {
    return this.h.eps;
  }
  get weightDecay(): number {
    return this.h.weightDecay;
  }

  /**
   * One update of every parameter that has a gradient (others are skipped, like torch). `lr` overrides the
   * learning rate for this step only (a schedule's value, as torch's param_group["lr"]).
   * Enqueues one kernel per group of parameters with gradients (see the file comment); nothing is read back.
   */
  step(lr: number = this.h.lr): void {
    if (!(lr >= 0) || !Number.isFinite(lr)) throw InvalidArgumentError.of("AdamW.step", "lr", `${lr} is not a finite learning rate ≥ 0`);
    const { beta1, beta2, eps, weightDecay } = this.h;
    this.t++;
    // The parameters with a gradient, in order, up to the bank's groupSize per launch, within one bank. A
    // tensor whose parameter or gradient shares a buffer with a parameter already in the group (views of
    // one storage) starts a new group: WebGPU rejects a writable binding that aliases another binding.
    const groups: { bank: Bank; members: number[]; grads: BufferHandle[]; params: BufferHandle[] }[] = [];
    this.parameters.forEach((p, i) => {
      if (!p.grad) return;
      const { bank } = this.slots[i]!;
      const [g, q] = [p.grad.bufferFor("AdamW"), p.bufferFor("AdamW")];
      const last = groups.at(-1);
      if (last && last.bank === bank && last.members.length < bank.groupSize && !last.params.includes(q) && !last.params.includes(g) && !last.grads.includes(q)) {
        last.members.push(i);
        last.grads.push(g);
        last.params.push(q);
      } else {
        groups.push({ bank, members: [i], grads: [g], params: [q] });
      }
    });
    for (const { bank, members, grads, params } of groups) {
      // kept: optimizer state outlives the tidy scope of the step that created it
      const zeros = () => keep(full(bank.backend, [bank.length], 0, bank.dtype));
      const { m, v } = (bank.moments ??= { m: zeros(), v: zeros() });
      const tensors = members.map((i): AdamWSegment => {
        const p = this.parameters[i]!;
        const slot = this.slots[i]!;
        slot.step++;
        const correction1 = 1 - beta1 ** slot.step;
        const correction2 = 1 - beta2 ** slot.step;
        return { n: p.size, pOffset: p.offset, gOffset: p.grad!.offset, mOffset: slot.offset, stepSize: lr / correction1, sqrtCorrection2: Math.sqrt(correction2) };
      });
      bank.backend.dispatch(
        adamwKernel,
        { decay: 1 - lr * weightDecay, beta1, beta2, oneMinusBeta1: 1 - beta1, oneMinusBeta2: 1 - beta2, eps, tensors },
        [...grads, ...params, m.bufferFor("AdamW"), v.bufferFor("AdamW")],
      );
    }
  }

  /** Drops every parameter's gradient (the next backward starts from zero). */
  zeroGrad(): void {
    for (const p of this.parameters) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  get stepCount(): number {
    return this.t;
  }

  /** A host copy of the optimizer's state (waits for queued device work). */
  async stateDict(): Promise<AdamWState> {
    // Each bank's M and V are read whole, one read at a time (concurrent buffer mappings buy nothing: each
    // read submits and waits anyway), then cut into per-parameter copies.
    const host = new Map<Bank, { m: FloatArray; v: FloatArray }>();
    for (const bank of this.banks) {
      if (bank.moments) host.set(bank, { m: (await bank.moments.m.data()) as FloatArray, v: (await bank.moments.v.data()) as FloatArray });
    }
    const parameters = this.parameters.map((p, i): AdamWParamState | null => {
      const { bank, offset, step } = this.slots[i]!;
      if (step === 0) return null;
      // a parameter that has been updated has its bank's moments
      const { m, v } = host.get(bank)!;
      return { step, shape: [...p.shape], dtype: p.dtype as FloatDType, m: m.slice(offset, offset + p.size), v: v.slice(offset, offset + p.size) };
    });
    const { lr, beta1, beta2, eps, weightDecay } = this.h;
    return { t: this.t, lr, betas: [beta1, beta2], eps, weightDecay, parameters };
  }

  /**
   * Restores `state` (from `stateDict()` of an optimizer over parameters of the same shapes and dtypes, in
   * the same order), hyper-parameters included, as torch's load_state_dict does. Everything is validated
   * before anything changes; a mismatch is an InvalidArgumentError naming the entry. The arrays are copied.
   */
  loadStateDict(state: AdamWState): void {
    const op = "AdamW.loadStateDict";
    if (!Number.isInteger(state.t) || state.t < 0) throw InvalidArgumentError.of(op, "t", `${state.t} is not an integer ≥ 0`);
    if (!Array.isArray(state.betas as unknown) || state.betas.length !== 2) throw InvalidArgumentError.of(op, "betas", "expected [beta1, beta2]");
    if (!Array.isArray(state.parameters as unknown)) throw InvalidArgumentError.of(op, "parameters", "expected an array (one entry or null per parameter)");
    const [beta1, beta2] = state.betas;
    const h: HyperParameters = { lr: state.lr, beta1, beta2, eps: state.eps, weightDecay: state.weightDecay };
    checkHyperParameters(op, h);
    if (state.parameters.length !== this.parameters.length) {
      throw InvalidArgumentError.of(op, "parameters", `the state holds ${state.parameters.length} parameters, this optimizer has ${this.parameters.length}`);
    }
    state.parameters.forEach((s, i) => {
      if (!s) return;
      const p = this.parameters[i]!;
      const at = `parameters[${i}]`;
      if (!Number.isInteger(s.step) || s.step < 1 || s.step > state.t) {
        throw InvalidArgumentError.of(op, `${at}.step`, `${s.step} is not an integer in [1, t = ${state.t}]`);
      }
      if (s.shape.length !== p.shape.length || s.shape.some((d, k) => d !== p.shape[k])) {
        throw InvalidArgumentError.of(op, `${at}.shape`, `the state's shape ${fmt(s.shape)} differs from the parameter's ${fmt(p.shape)}`);
      }
      if (s.dtype !== p.dtype) throw InvalidArgumentError.of(op, `${at}.dtype`, `the state's dtype ${s.dtype} differs from the parameter's ${p.dtype}`);
      const arrayType = arrayTypeOf(p.dtype);
      for (const [name, a] of [["m", s.m], ["v", s.v]] as const) {
        if (!(a instanceof arrayType)) {
          throw InvalidArgumentError.of(op, `${at}.${name}`, `expected a ${arrayType.name} for a ${p.dtype} parameter, got ${(a as object)?.constructor?.name ?? typeof a}`);
        }
        if (a.length !== p.size) throw InvalidArgumentError.of(op, `${at}.${name}`, `has ${a.length} elements, the parameter ${p.size}`);
      }
    });
    this.dispose();
    this.h = h;
    this.t = state.t;
    // Each bank holding a restored parameter gets its M and V assembled on the host (zeros in the segments
    // of parameters without state) and uploaded once.
    const assembled = new Map<Bank, { m: FloatArray; v: FloatArray }>();
    state.parameters.forEach((s, i) => {
      if (!s) return;
      const slot = this.slots[i]!;
      slot.step = s.step;
      let bank = assembled.get(slot.bank);
      if (!bank) {
        const ArrayType = arrayTypeOf(slot.bank.dtype);
        bank = { m: new ArrayType(slot.bank.length), v: new ArrayType(slot.bank.length) };
        assembled.set(slot.bank, bank);
      }
      bank.m.set(s.m, slot.offset);
      bank.v.set(s.v, slot.offset);
    });
    for (const [bank, { m, v }] of assembled) {
      const upload = (a: FloatArray) => keep(tensor(a, { backend: bank.backend, dtype: bank.dtype, shape: [bank.length] }));
      bank.moments = { m: upload(m), v: upload(v) };
    }
  }

  /** Frees the moments (the optimizer starts from scratch afterwards; the step count is kept). */
  dispose(): void {
    for (const bank of this.banks) {
      bank.moments?.m.dispose();
      bank.moments?.v.dispose();
      bank.moments = null;
    }
    for (const slot of this.slots) slot.step = 0;
  }
}
