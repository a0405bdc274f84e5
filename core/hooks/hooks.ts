/**
 * Layer hooks: how plugins change what a module computes without editing the model. A hook is attached to
 * a module at one of three points (DESIGN.md):
 *   parallel    out = base(x) + Δ(x)          LoRA and KronA on a Linear; KronA^B, the parallel adapter on a block
 *   sequential  out = f(base(x))               Houlsby / Pfeiffer adapters, Compacter: f(h) = h + adapter(h)
 *   replace     out = g(x, base)               anything else (g may call base)
 * Hooks compose in attachment order: the (last active) replace hook, then every parallel Δ, then every
 * sequential f. Each hook belongs to a named adapter and runs only while that adapter is active.
 *
 * Hookable points in T5: every Linear (q, k, v, o, wi, wi_0, wi_1, wo, lm_head), every FFN block
 * (`…DenseReluDense`, input = normed hidden state) and every attention block (`…SelfAttention`,
 * `…EncDecAttention`, input = normed hidden state, output before the residual).
 */
import type { Tensor } from "../tensor/tensor.ts";

export type HookKind = "parallel" | "sequential" | "replace";

export interface HookEntry {
  readonly adapter: string;
  readonly kind: HookKind;
  /** parallel: x → Δ(x); sequential: out → out'; replace: (x, base) → out */
  readonly fn: (x: Tensor, base: (x: Tensor) => Tensor) => Tensor;
  /** Whether the hook runs now (its adapter is active, not disabled, not merged into the weights). */
  readonly active: () => boolean;
}

/** Anything that can carry hooks (every Module does). */
export interface Hookable {
  readonly hooks: HookEntry[];
}

/** Runs `base` on `x` with the module's active hooks applied (see the file comment for the order). */
export function runHooked(module: Hookable, x: Tensor, base: (x: Tensor) => Tensor): Tensor {
  const hooks = module.hooks;
  if (hooks.length === 0) return base(x);
  let replace: HookEntry | undefined;
  for (const h of hooks) if (h.kind === "replace" && h.active()) replace = h;
  let out = replace ? replace.fn(x, base) : base(x);
  for (const h of hooks) {
    if (h.kind === "parallel" && h.active()) out = out.add(h.fn(x, base));
  }
  for (const h of hooks) {
    if (h.kind === "sequential" && h.active()) out = h.fn(out, base);
  }
  return out;
}
