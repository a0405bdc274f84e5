/**
 * KronA (Edalati et al. 2022, "KronA: Parameter Efficient Tuning with Kronecker Adapter",
 * https://arxiv.org/abs/2212.10650): parallel to each target Linear,
 *
 *   y = W·x + s·(A ⊗ B)·dropout(x),   A (a1, a2), B (b1, b2),   a1·b1 = out, a2·b2 = in.
 *
 * The update has rank rank(A)·rank(B), full rank for the parameter budget a1·a2 + b1·b2 that a rank-1…2
 * LoRA spends. A starts at zero and B Kaiming-uniform (the factor that HF PEFT's LoKr zeroes is its w1,
 * the left factor = A), so the model starts unchanged and A's gradient is nonzero from the first step.
 * Mergeable: ΔW = s·kron(A, B) (materialised for merge only). Parameters: Σ over targets a1·a2 + b1·b2.
 *
 * Factor shapes: `a1, a2` given (b1 = out/a1, b2 = in/a2), or automatic with HF PEFT LoKr's rule
 * (`factorization` below, peft/tuners/lokr/layer.py, from LyCORIS), so a default KronA adapter is a
 * LoKr adapter with full factors and exports to HF PEFT's LOKR files (the default format here).
 *
 * Forward without materialising A ⊗ B: with row-major X = reshape(x, (a2, b2)) per token,
 * (A ⊗ B)·x = vec(A·X·Bᵀ) — see kronApply for the arrangement. Shape legend: N tokens (all leading axes),
 * a1, a2, b1, b2 the factor sizes, out = a1·b1, in = a2·b2.
 */
import * as v from "valibot";
import type { Linear } from "../../core/nn/layers.ts";
import { type AdapterFormat, type PeftBaseModel, type PeftPlugin, parsePluginConfig } from "../../core/peft/plugin.ts";
import { type TargetSpec, matchTargets, targetFields } from "../../core/peft/targets.ts";
import { type FactorFields, type KronShape, checkFactorFields, factorFields, kron, kronApply, kronShape } from "../shared/kronecker.ts";
import { createLokrFormat } from "./lokr.ts";

// The Kronecker building blocks live in plugins/shared/kronecker.ts; re-exported for existing imports.
export * from "../shared/kronecker.ts";

// ---- the plugin ------------------------------------------------------------------------------------

/** KronA's config. */
export interface KronaConfig extends TargetSpec, FactorFields {
  readonly targets: string[] | { regex: string };
  /** s in ΔW = s·(A ⊗ B) */
  readonly scale: number;
  /** dropout on the adapter's input */
  readonly dropout: number;
}

const schema: v.GenericSchema<unknown, KronaConfig> = v.object({
  ...targetFields(["q", "v"]),
  ...factorFields,
  /**
   * s. The KronA paper writes ΔW = s·(A ⊗ B); default 1 (ΔW = A ⊗ B, LoKr's alpha = r): the paper's own
   * value for T5 could not be checked here, so the neutral one is the default.
   */
  scale: v.optional(v.pipe(v.number(), v.gtValue(0), v.finite()), 1),
  /** dropout on the adapter's input */
  dropout: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(0.999)), 0),
});

export const PARAM_A = "krona_A";
export const PARAM_B = "krona_B";

export interface TargetShape extends KronShape {
  readonly path: string;
  readonly outFeatures: number;
  readonly inFeatures: number;
}

/** The target Linears of a config with their factor shapes. */
export function targetShapes(model: PeftBaseModel, config: KronaConfig): (TargetShape & { module: Linear })[] {
  checkFactorFields("krona", config);
  return matchTargets(model, config, "linear", "krona").map(({ path, module }) => ({
    path,
    module,
    outFeatures: module.outFeatures,
    inFeatures: module.inFeatures,
    ...kronShape("krona", config, module.outFeatures, module.inFeatures, path),
  }));
}


/** HF PEFT's LOKR adapter files for KronA (plugins/krona/lokr.ts). */
export const lokrFormat: AdapterFormat<KronaConfig> = createLokrFormat((raw) => parsePluginConfig(krona, raw));

export const krona: PeftPlugin<KronaConfig> = {
  name: "krona",
  description: "KronA: y = Wx + s·(A ⊗ B)·x beside each target Linear (mergeable; exports to HF PEFT LoKr)",
  schema,
  parameterFormula: "Σ over target Linears a1·a2 + b1·b2 (a1·b1 = out, a2·b2 = in)",
  inject(ctx) {
    const { config } = ctx;
    for (const { path, module, a1, a2, b1, b2 } of targetShapes(ctx.model, config)) {
      const A = ctx.zeros(`${path}.${PARAM_A}`, [a1, a2]); // (a1, a2), zero: the model starts unchanged
      const B = ctx.kaimingUniform(`${path}.${PARAM_B}`, [b1, b2]); // (b1, b2), U(±1/√b2)
      ctx.parallel(
        module,
        (x) => kronApply(ctx.dropout(x, config.dropout), A, B, { scale: config.scale }), // (…, in) → (…, out)
        (x, out) => kronApply(ctx.dropout(x, config.dropout), A, B, { scale: config.scale, addTo: out }), // out + update, one launch fewer
      );
      ctx.mergeable(module, () => (config.scale === 1 ? kron(A, B) : kron(A, B).mul(config.scale))); // (out, in)
    }
  },
  countParameters(model, config) {
    return targetShapes(model, config).reduce((acc, s) => acc + s.a1 * s.a2 + s.b1 * s.b2, 0);
  },
  formats: [lokrFormat],
};

