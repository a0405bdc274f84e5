/**
 * Layer hooks: how plugins change what a module computes without editing the model. A hook is attached to
 * a module at one of three points (DESIGN.md):
 *   parallel    out = base(x) + Δ(x)          LoRA and KronA on a Linear; KronA^B, the parallel adapter on a block
 *   sequential  out = f(base(x))               Houlsby / Pfeiffer adapters, Compacter: f(h) = h + adapter(h)
 *   replace     out = g(x, base)               anything else (g may call base)
 * Hooks compose in attachment order: the (last active) replace hook, then every parallel Δ, then every
 * sequential f. Each hook belongs to a named adapter and runs only while that adapter is active.
 *
 * Hook points: a module that runs its computation through `runHooked` declares itself a hook point of one
 * kind (`hookPoint`, see HookPointModules): the layers here do (Linear "linear", RMSNorm "layer-norm",
 * Embedding "embedding"), and a model declares its blocks ("attention", "feed-forward"; T5's in
 * core/models/t5/model.ts: every `…SelfAttention` / `…EncDecAttention` and `…DenseReluDense`, input = the
 * normed hidden state, output before the residual). core/peft matches targets over these declarations
 * only, so a second architecture declares its own and needs nothing in core/peft.
 */
import type { Tensor } from "../tensor/tensor.ts";
import type { Embedding, Linear } from "./layers.ts";
import type { Module } from "./module.ts";

export type HookKind = "parallel" | "sequential" | "replace";

export interface HookEntry {
  readonly adapter: string;
  readonly kind: HookKind;
  /** parallel: x → Δ(x); sequential: out → out'; replace: (x, base) → out */
  readonly fn: (x: Tensor, base: (x: Tensor) => Tensor) => Tensor;
  /** Whether the hook runs now (its adapter is active, not disabled, not merged into the weights). */
  readonly active: () => boolean;
  /**
   * parallel only, optional: out + Δ(x) computed in fewer kernel launches than `out.add(fn(x))` (e.g. the
   * add fused into Δ's last op). Must equal that sum up to float rounding; runHooked prefers it.
   */
  readonly addTo?: (x: Tensor, out: Tensor) => Tensor;
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
    if (h.kind === "parallel" && h.active()) out = h.addTo ? h.addTo(x, out) : out.add(h.fn(x, base));
  }
  for (const h of hooks) {
    if (h.kind === "sequential" && h.active()) out = h.fn(out, base);
  }
  return out;
}

/**
 * Whether r + hooked(x) may be computed as hooked(x) with r added inside the base computation (fused into
 * its last kernel): true when every active hook is parallel, since those only add to the base output. A
 * sequential or replace hook would see base(x) + r instead of base(x).
 */
export function acceptsResidual(module: Hookable): boolean {
  return module.hooks.every((h) => h.kind === "parallel" || !h.active());
}

/** Whether any hook of the module runs now. */
export function hasActiveHooks(module: Hookable): boolean {
  return module.hooks.some((h) => h.active());
}

/** The kinds of hook point a module can declare. */
export const HOOK_POINT_KINDS = ["linear", "attention", "feed-forward", "layer-norm", "embedding"] as const;
export type HookPointKind = (typeof HOOK_POINT_KINDS)[number];

/** An attention or feed-forward block: (…, features) → (…, features) (T5: features = d_model). */
export interface BlockModule extends Module {
  readonly hookPoint: "attention" | "feed-forward";
  /** Width of the block's input and output. */
  readonly features: number;
}

/** A layer norm: (…, features) → (…, features), scaled by `weight` (features). */
export interface NormModule extends Module {
  readonly hookPoint: "layer-norm";
  readonly features: number;
  readonly weight: Tensor;
}

/** The module type behind each hook-point kind: what a plugin gets for a target of that kind. */
export interface HookPointModules {
  linear: Linear;
  attention: BlockModule;
  "feed-forward": BlockModule;
  "layer-norm": NormModule;
  embedding: Embedding;
}
