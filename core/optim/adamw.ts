/**
 * AdamW (Loshchilov & Hutter 2019, decoupled weight decay) as torch.optim.AdamW computes it, updating
 * parameters in place with one kernel launch per tensor:
 *   p ← p − lr·λ·p
 *   m ← β1·m + (1 − β1)·g          v ← β2·v + (1 − β2)·g²
 *   p ← p − lr · (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε)
 * State (m, v) exists only for the tensors given, so frozen weights cost nothing.
 */
import { type Kernel, ParamLayout, entryBuiltins, linearWorkgroupIndex, spreadWorkgroups, storage, uniformParams } from "../backend/kernel.ts";
import { InvalidArgumentError } from "../errors.ts";
import { full } from "../tensor/create.ts";
import { keep } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";

interface AdamWParams {
  readonly n: number;
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** 1 − β1ᵗ and 1 − β2ᵗ */
  readonly correction1: number;
  readonly correction2: number;
  /** element offsets of p and g (m and v are fresh, offset 0) */
  readonly pOffset: number;
  readonly gOffset: number;
}

const layout = new ParamLayout(
  [["n", "u32"], ["lr", "f32"], ["beta1", "f32"], ["beta2", "f32"], ["eps", "f32"], ["wd", "f32"], ["c1", "f32"], ["c2", "f32"], ["poff", "u32"], ["goff", "u32"]] as const,
);
const WG = 64;

export const adamwKernel: Kernel<AdamWParams> = {
  name: "adamw",
  cpu([g, p, m, v], q) {
    for (let i = 0; i < q.n; i++) {
      const gi = g![q.gOffset + i]!;
      let pi = p![q.pOffset + i]!;
      pi -= q.lr * q.weightDecay * pi;
      const mi = q.beta1 * m![i]! + (1 - q.beta1) * gi;
      const vi = q.beta2 * v![i]! + (1 - q.beta2) * gi * gi;
      m![i] = mi;
      v![i] = vi;
      p![q.pOffset + i] = pi - (q.lr * (mi / q.correction1)) / (Math.sqrt(vi / q.correction2) + q.eps);
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
  var p = PARAM[P.poff + i];
  p = p - P.lr * P.wd * p;
  let m = P.beta1 * M[i] + (1.0 - P.beta1) * g;
  let v = P.beta2 * V[i] + (1.0 - P.beta2) * g * g;
  M[i] = m;
  V[i] = v;
  PARAM[P.poff + i] = p - P.lr * (m / P.c1) / (sqrt(v / P.c2) + P.eps);
}`,
    uniforms: layout.pack({ n: q.n, lr: q.lr, beta1: q.beta1, beta2: q.beta2, eps: q.eps, wd: q.weightDecay, c1: q.correction1, c2: q.correction2, poff: q.pOffset, goff: q.gOffset }),
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

export class AdamW {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private t = 0;
  private readonly state = new Map<Tensor, { m: Tensor; v: Tensor }>();

  constructor(
    readonly parameters: readonly Tensor[],
    options: AdamWOptions = {},
  ) {
    this.lr = options.lr ?? 1e-3;
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    for (const [what, value, ok] of [
      ["lr", this.lr, this.lr >= 0],
      ["beta1", this.beta1, this.beta1 >= 0 && this.beta1 < 1],
      ["beta2", this.beta2, this.beta2 >= 0 && this.beta2 < 1],
      ["eps", this.eps, this.eps >= 0],
      ["weightDecay", this.weightDecay, this.weightDecay >= 0],
    ] as const) {
      if (!ok) throw InvalidArgumentError.of("AdamW", what, `${value} is out of range`);
    }
    for (const p of parameters) {
      if (!p.isContiguous) throw InvalidArgumentError.of("AdamW", "parameters", `a parameter of shape [${p.shape.join(", ")}] is a non-contiguous view`);
    }
  }

  /** One update of every parameter that has a gradient (others are skipped, like torch). `lr` overrides for a schedule. */
  step(lr = this.lr): void {
    this.t++;
    const correction1 = 1 - this.beta1 ** this.t;
    const correction2 = 1 - this.beta2 ** this.t;
    for (const p of this.parameters) {
      const g = p.grad;
      if (!g) continue;
      let s = this.state.get(p);
      if (!s) {
        // kept: optimizer state outlives the tidy scope of the step that created it
        s = { m: keep(full(p.shape, 0, { backend: p.backend, dtype: p.dtype })), v: keep(full(p.shape, 0, { backend: p.backend, dtype: p.dtype })) };
        this.state.set(p, s);
      }
      p.backend.dispatch(
        adamwKernel,
        { n: p.size, lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, correction1, correction2, pOffset: p.offset, gOffset: g.offset },
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

  dispose(): void {
    for (const s of this.state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.state.clear();
  }
}
