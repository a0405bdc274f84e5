/**
 * AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization") as torch.optim.AdamW computes
 * it (its single-tensor path), updating parameters in place with one kernel launch per tensor. For a
 * parameter p with gradient g that has received k updates including this one:
 *   p ← p · (1 − lr·λ)                                   decoupled weight decay
 *   m ← β1·m + (1 − β1)·g          v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1ᵏ)) · m / (√v / √(1 − β2ᵏ) + ε)
 * The kernels evaluate these in torch's order (p·(1 − lr·λ), not p − lr·λ·p; √v / √c2, not √(v / c2)) so
 * that the float64 reference agrees with torch to the last few bits (test/goldens/optim, ~1e-15).
 *
 * Like torch, k counts the updates of *that* parameter (torch's per-parameter state["step"]): a parameter
 * that gets its first gradient at optimizer step 100 takes a full-size first step, not one shrunk by a
 * bias correction of step 100. Parameters without a gradient are skipped entirely (no decay, no moment
 * update). State (m, v) exists only for the tensors given, so frozen weights cost nothing.
 *
 * Checkpoints: `stateDict()` copies the state to the host and `loadStateDict` restores it into a fresh
 * optimizer over the same parameters; continuing then is bit-identical on the CPU backend to never having
 * stopped (same kernels, same m, v, k and hyper-parameters).
 */
import { type Kernel, ParamLayout, entryBuiltins, linearWorkgroupIndex, spreadWorkgroups, storage, uniformParams } from "../backend/kernel.ts";
import { InvalidArgumentError } from "../errors.ts";
import { tensor } from "../tensor/create.ts";
import type { FloatArray, FloatDType } from "../tensor/dtype.ts";
import { full } from "../tensor/ops/fill.ts";
import { keep } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";

interface AdamWParams {
  readonly n: number;
  /** 1 − lr·λ */
  readonly decay: number;
  readonly beta1: number;
  readonly beta2: number;
  /** 1 − β1 and 1 − β2, computed on the host in float64 (in WGSL 1.0 − f32(β) would lose digits) */
  readonly oneMinusBeta1: number;
  readonly oneMinusBeta2: number;
  /** lr / (1 − β1ᵏ) */
  readonly stepSize: number;
  /** √(1 − β2ᵏ) */
  readonly sqrtCorrection2: number;
  readonly eps: number;
  /** element offsets of p and g (m and v are their own contiguous tensors, offset 0) */
  readonly pOffset: number;
  readonly gOffset: number;
}

const layout = new ParamLayout(
  [
    ["n", "u32"],
    ["decay", "f32"],
    ["beta1", "f32"],
    ["beta2", "f32"],
    ["omb1", "f32"],
    ["omb2", "f32"],
    ["step_size", "f32"],
    ["sqrt_c2", "f32"],
    ["eps", "f32"],
    ["poff", "u32"],
    ["goff", "u32"],
  ] as const,
);
const WG = 64;

export const adamwKernel: Kernel<AdamWParams> = {
  name: "adamw",
  cpu([g, p, m, v], q) {
    for (let i = 0; i < q.n; i++) {
      const gi = g![q.gOffset + i]!;
      const pi = p![q.pOffset + i]! * q.decay;
      // torch: exp_avg.mul_(β1).add_(g, alpha=1−β1); exp_avg_sq.mul_(β2).addcmul_(g, g, value=1−β2)
      const mi = q.beta1 * m![i]! + q.oneMinusBeta1 * gi;
      const vi = q.beta2 * v![i]! + q.oneMinusBeta2 * gi * gi;
      m![i] = mi;
      v![i] = vi;
      // torch: denom = √v / √c2 + ε; p.addcdiv_(m, denom, value=−stepSize), i.e. p + (−stepSize·m) / denom
      p![q.pOffset + i] = pi + (-q.stepSize * mi) / (Math.sqrt(vi) / q.sqrtCorrection2 + q.eps);
    }
  },
  gpu: (q) => ({
    key: "adamw",
    source: () => `
${storage(0, "G", "f32", "read")}
${storage(1, "PARAM", "f32", "read_write")}
${storage(2, "M", "f32", "read_write")}
${storage(3, "V", "f32", "read_write")}
${uniformParams(4, layout)}
@compute @workgroup_size(${WG})
fn main(${entryBuiltins}) {
  let i = ${linearWorkgroupIndex} * ${WG}u + lid;
  if (i >= P.n) { return; }
  let g = G[P.goff + i];
  let p = PARAM[P.poff + i] * P.decay;
  let m = P.beta1 * M[i] + P.omb1 * g;
  let v = P.beta2 * V[i] + P.omb2 * g * g;
  M[i] = m;
  V[i] = v;
  PARAM[P.poff + i] = p + (-P.step_size * m) / (sqrt(v) / P.sqrt_c2 + P.eps);
}`,
    uniforms: layout.pack({
      n: q.n,
      decay: q.decay,
      beta1: q.beta1,
      beta2: q.beta2,
      omb1: q.oneMinusBeta1,
      omb2: q.oneMinusBeta2,
      step_size: q.stepSize,
      sqrt_c2: q.sqrtCorrection2,
      eps: q.eps,
      poff: q.pOffset,
      goff: q.gOffset,
    }),
    workgroups: spreadWorkgroups(Math.ceil(q.n / WG)),
  }),
};

export interface AdamWOptions {
  readonly lr?: number;
  readonly betas?: readonly [number, number];
  readonly eps?: number;
  /** Decoupled weight decay λ (torch's default 0.01). */
  readonly weightDecay?: number;
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

interface ParamState {
  m: Tensor;
  v: Tensor;
  /** updates received (k) */
  step: number;
}

const fmt = (shape: readonly number[]): string => `[${shape.join(", ")}]`;

export class AdamW {
  private h: HyperParameters;
  private t = 0;
  private readonly state = new Map<Tensor, ParamState>();

  constructor(
    readonly parameters: readonly Tensor[],
    options: AdamWOptions = {},
  ) {
    const [beta1, beta2] = options.betas ?? [0.9, 0.999];
    this.h = { lr: options.lr ?? 1e-3, beta1, beta2, eps: options.eps ?? 1e-8, weightDecay: options.weightDecay ?? 0.01 };
    checkHyperParameters("AdamW", this.h);
    for (const p of parameters) {
      if (!p.isContiguous) throw InvalidArgumentError.of("AdamW", "parameters", `a parameter of shape ${fmt(p.shape)} is a non-contiguous view`);
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
   * Enqueues one kernel per parameter; nothing is read back.
   */
  step(lr: number = this.h.lr): void {
    if (!(lr >= 0) || !Number.isFinite(lr)) throw InvalidArgumentError.of("AdamW.step", "lr", `${lr} is not a finite learning rate ≥ 0`);
    const { beta1, beta2, eps, weightDecay } = this.h;
    this.t++;
    const decay = 1 - lr * weightDecay;
    for (const p of this.parameters) {
      const g = p.grad;
      if (!g) continue;
      let s = this.state.get(p);
      if (!s) {
        // kept: optimizer state outlives the tidy scope of the step that created it
        s = { m: keep(full(p.backend, p.shape, 0, p.dtype)), v: keep(full(p.backend, p.shape, 0, p.dtype)), step: 0 };
        this.state.set(p, s);
      }
      s.step++;
      const correction1 = 1 - beta1 ** s.step;
      const correction2 = 1 - beta2 ** s.step;
      p.backend.dispatch(
        adamwKernel,
        {
          n: p.size,
          decay,
          beta1,
          beta2,
          oneMinusBeta1: 1 - beta1,
          oneMinusBeta2: 1 - beta2,
          stepSize: lr / correction1,
          sqrtCorrection2: Math.sqrt(correction2),
          eps,
          pOffset: p.offset,
          gOffset: g.offset,
        },
        [g.bufferFor("AdamW"), p.bufferFor("AdamW"), s.m.bufferFor("AdamW"), s.v.bufferFor("AdamW")],
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
    // One read at a time: concurrent buffer mappings buy nothing (each read submits and waits anyway)
    // and keep fewer staging buffers alive at once.
    const parameters: (AdamWParamState | null)[] = [];
    for (const p of this.parameters) {
      const s = this.state.get(p);
      if (!s) {
        parameters.push(null);
        continue;
      }
      const m = await s.m.data();
      const v = await s.v.data();
      parameters.push({ step: s.step, shape: [...p.shape], dtype: p.dtype as FloatDType, m: m as FloatArray, v: v as FloatArray });
    }
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
      const arrayType = p.dtype === "float64" ? Float64Array : Float32Array;
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
    state.parameters.forEach((s, i) => {
      if (!s) return;
      const p = this.parameters[i]!;
      const upload = (a: FloatArray) => keep(tensor(a, { backend: p.backend, dtype: p.dtype, shape: p.shape }));
      this.state.set(p, { m: upload(s.m), v: upload(s.v), step: s.step });
    });
  }

  /** Frees the moments (the optimizer starts from scratch afterwards; the step count is kept). */
  dispose(): void {
    for (const s of this.state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.state.clear();
  }
}
