/**
 * KronA^B and KronA^B_res (Edalati et al. 2022, "KronA: Parameter Efficient Tuning with Kronecker Adapter",
 * https://arxiv.org/abs/2212.10650): a Kronecker adapter parallel to a whole block rather than to one Linear.
 * Beside each FFN block (`…DenseReluDense`, input = the normed hidden state h, shape (B, L, D)):
 *
 *   KronA^B       out = FFN(h) + s·(A ⊗ B)·dropout(h)                 A ⊗ B of shape (D, D)
 *   KronA^B_res   out = FFN(h) + s·(A ⊗ B)·dropout(h) + s_res·h        s_res a trainable scalar per block
 *
 * `alsoAttention` puts the same module beside every attention block (`…SelfAttention`, `…EncDecAttention`,
 * same input and output sizes). A starts at zero and B Kaiming-uniform as in KronA; s_res starts at
 * `residualInit` (default 0, so the model starts unchanged: the paper's own initial value could not be
 * checked here; with 0 the scalar still learns, its gradient Σ⟨dOut, h⟩ is nonzero from the first step).
 * Not mergeable: the block it sits beside is non-linear. Parameters: Σ over blocks a1·a2 + b1·b2 (+ 1).
 * Factor shapes and the product without materialising A ⊗ B are KronA's (plugins/krona/krona.ts).
 */
import * as v from "valibot";
import type { PeftBaseModel, PeftPlugin } from "../../core/peft/plugin.ts";
import { type HookTarget, type TargetSpec, matchTargets, targetFields } from "../../core/peft/targets.ts";
import { type FactorFields, type KronShape, checkFactorFields, factorFields, kronApply, kronShape } from "../shared/kronecker.ts";

/** KronA^B's config. */
export interface KronabConfig extends TargetSpec, FactorFields {
  readonly targets: string[] | { regex: string };
  /** also beside every SelfAttention / EncDecAttention block (in the same layers and stacks) */
  readonly alsoAttention: boolean;
  /** KronA^B_res: add s_res·h with a trainable scalar s_res per block */
  readonly residual: boolean;
  /** initial s_res */
  readonly residualInit: number;
  /** s in s·(A ⊗ B)·h */
  readonly scale: number;
  /** dropout on the Kronecker branch's input */
  readonly dropout: number;
}

const schema: v.GenericSchema<unknown, KronabConfig> = v.object({
  ...targetFields(["DenseReluDense"]),
  ...factorFields,
  alsoAttention: v.optional(v.boolean(), false),
  residual: v.optional(v.boolean(), false),
  /** default 0: the model starts unchanged */
  residualInit: v.optional(v.pipe(v.number(), v.finite()), 0),
  /** default 1, as KronA */
  scale: v.optional(v.pipe(v.number(), v.gtValue(0), v.finite()), 1),
  dropout: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(0.999)), 0),
});

const ATTENTION_BLOCKS = { regex: ".*\\.(SelfAttention|EncDecAttention)" };

/** The blocks a config attaches to (FFN blocks, then attention blocks), with their factor shapes. */
function blocks(model: PeftBaseModel, config: KronabConfig): (HookTarget<"attention" | "feed-forward"> & KronShape)[] {
  checkFactorFields("kronab", config);
  const found: HookTarget<"attention" | "feed-forward">[] = matchTargets(model, config, "feed-forward", "kronab");
  if (config.alsoAttention) {
    found.push(...matchTargets(model, { targets: ATTENTION_BLOCKS, layers: config.layers, stacks: config.stacks }, "attention", "kronab"));
  }
  const D = model.config.dModel;
  return found.map((t) => ({ ...t, ...kronShape("kronab", config, D, D, t.path) }));
}

export const kronab: PeftPlugin<KronabConfig> = {
  name: "kronab",
  description: "KronA^B(_res): out = block(h) + s·(A ⊗ B)·h (+ s_res·h) beside each FFN (and attention) block",
  schema,
  parameterFormula: "Σ over blocks a1·a2 + b1·b2 (+ 1 for s_res with residual), a1·b1 = a2·b2 = d_model",
  inject(ctx) {
    const { config } = ctx;
    for (const { path, module, a1, a2, b1, b2 } of blocks(ctx.model, config)) {
      const A = ctx.zeros(`${path}.kronab_A`, [a1, a2]); // (a1, a2)
      const B = ctx.kaimingUniform(`${path}.kronab_B`, [b1, b2]); // (b1, b2)
      const sRes = config.residual ? ctx.full(`${path}.kronab_res`, [1], config.residualInit) : null; // (1)
      ctx.parallel(module, (h) => {
        const input = ctx.dropout(h, config.dropout);
        const delta = kronApply(input, A, B, { scale: config.scale }); // (B, L, D)
        return sRes ? delta.add(h.mul(sRes)) : delta;
      });
    }
  },
  countParameters(model, config) {
    return blocks(model, config).reduce((acc, s) => acc + s.a1 * s.a2 + s.b1 * s.b2 + (config.residual ? 1 : 0), 0);
  },
};
