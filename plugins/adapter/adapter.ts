/**
 * Bottleneck adapters: a small two-layer network  adapter(h) = up(act(down(h)))  with down: D → M and
 * up: M → D (both with bias, weights in Linear's (out, in) layout), placed at T5's blocks. Three variants:
 *
 *   houlsby   Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP" (arXiv 1902.00751):
 *             sequential after the attention block and after the FFN block,  h ← h + s·adapter(h).
 *   pfeiffer  Pfeiffer et al. 2021, "AdapterFusion" (arXiv 2005.00247): sequential after the FFN block only.
 *   parallel  He et al. 2022, "Towards a Unified View of Parameter-Efficient Transfer Learning"
 *             (arXiv 2110.04366): beside the FFN block,  y = FFN(x) + s·adapter(x),  x = the block's input
 *             (the normed hidden state); s = 4, the paper's scaled parallel adapter (AdapterHub's ParBnConfig
 *             also defaults to scaling 4.0).
 *
 * "After a block" is the block's output before dropout and the residual add (hooks.ts), as in Houlsby's
 * figure 2 and the Compacter authors' T5 code (rabeehk/compacter, T5LayerSelfAttention / T5LayerFF).
 *
 * Placement defaults (variant → targets): houlsby → SelfAttention + DenseReluDense, pfeiffer and parallel →
 * DenseReluDense. Houlsby's paper has one attention sub-layer per layer (BERT); for T5's decoder neither
 * AdapterHub (`cross_adapter = False`) nor the Compacter authors' T5 code put an adapter after cross-attention,
 * so EncDecAttention is opt-in: `targets: ["SelfAttention", "EncDecAttention", "DenseReluDense"]`. Any target
 * list of block names (or a regex over block paths) works with every variant; the variant sets the default
 * targets, the hook kind (sequential or parallel) and the default scale and activation.
 *
 * Bottleneck M = `bottleneck`, else ⌊D / reductionFactor⌋ (AdapterHub's rule; default factor 16).
 * Activation defaults as AdapterHub's configs: houlsby swish (x·σ(x)), pfeiffer relu, parallel relu.
 * Initialisation: down.weight ~ N(0, 0.01²) (Houlsby's σ = 1e-2, untruncated), down.bias, up.weight and
 * up.bias zero (He et al.'s / AdapterHub's "mam_adapter"-style zero up projection), so adapter(h) = 0 and
 * the model starts exactly as the base. Not mergeable (the activation sits between the projections).
 *
 * Parameters: Σ over adapted blocks 2·D·M + M + D.
 * Shape legend: B batch, L length, D d_model, M bottleneck.
 */
import * as v from "valibot";
import type { InjectContext, PeftPlugin } from "../../core/peft/plugin.ts";
import { type TargetSpec, matchTargets, targetFields, targetsSchema } from "../../core/peft/targets.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";
import { type Activation, ACTIVATIONS, activate, adapterParameters, bottleneckSize } from "../shared/bottleneck.ts";

/** The hook points bottleneck adapters sit at. */
const BLOCKS = ["attention", "feed-forward"] as const;

// Activations and the bottleneck size are shared with plugins/compacter (plugins/shared/bottleneck.ts).
export { ACTIVATIONS, type Activation, activate, adapterParameters, bottleneckSize } from "../shared/bottleneck.ts";

const FFN_BLOCK = "DenseReluDense";

const VARIANTS = ["houlsby", "pfeiffer", "parallel"] as const;
export type AdapterVariant = (typeof VARIANTS)[number];

const targetEntries = targetFields([]);

/**
 * TargetSpec entries whose `targets` has no default (the default depends on the variant), validated as
 * targetFields validates them.
 */
const targetEntriesWithoutDefault = {
  targets: v.optional(targetsSchema),
  layers: targetEntries.layers,
  stacks: targetEntries.stacks,
} as const;

const DEFAULTS: Record<AdapterVariant, { targets: readonly string[]; activation: Activation; scaling: number }> = {
  houlsby: { targets: ["SelfAttention", FFN_BLOCK], activation: "swish", scaling: 1 },
  pfeiffer: { targets: [FFN_BLOCK], activation: "relu", scaling: 1 },
  parallel: { targets: [FFN_BLOCK], activation: "relu", scaling: 4 },
};

export interface AdapterConfig extends TargetSpec {
  readonly variant: AdapterVariant;
  /** M = ⌊D / reductionFactor⌋ unless `bottleneck` is given */
  readonly reductionFactor: number;
  readonly bottleneck?: number | undefined;
  readonly activation: Activation;
  /** s in h + s·adapter(h) (sequential) or FFN(x) + s·adapter(x) (parallel) */
  readonly scaling: number;
  /** std of down.weight's normal initialisation */
  readonly initStd: number;
}

const schema: v.GenericSchema<unknown, AdapterConfig> = v.pipe(
  v.object({
    variant: v.optional(v.picklist(VARIANTS), "houlsby"),
    /** `targets`: block names (SelfAttention, EncDecAttention, DenseReluDense, dotted suffixes) or { regex } */
    ...targetEntriesWithoutDefault,
    /** M = ⌊D / reductionFactor⌋ unless `bottleneck` is given */
    reductionFactor: v.optional(v.pipe(v.number(), v.gtValue(0)), 16),
    bottleneck: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
    activation: v.optional(v.picklist(ACTIVATIONS)),
    /** s in h + s·adapter(h) (sequential) or FFN(x) + s·adapter(x) (parallel) */
    scaling: v.optional(v.pipe(v.number(), v.finite())),
    /** std of down.weight's normal initialisation */
    initStd: v.optional(v.pipe(v.number(), v.minValue(0)), 1e-2),
  }),
  v.transform((c) => {
    const d = DEFAULTS[c.variant];
    return { ...c, targets: c.targets ?? [...d.targets], activation: c.activation ?? d.activation, scaling: c.scaling ?? d.scaling };
  }),
);

export const adapter: PeftPlugin<AdapterConfig> = {
  name: "adapter",
  description: "bottleneck adapters h + s·up(act(down(h))): Houlsby (after attention and FFN), Pfeiffer (after FFN), parallel (beside FFN)",
  schema,
  parameterFormula: "Σ over adapted blocks 2·D·M + M + D  (M = bottleneck or ⌊D / reductionFactor⌋)",
  inject(ctx: InjectContext<AdapterConfig>) {
    const { config } = ctx;
    const D = ctx.model.config.dModel;
    const M = bottleneckSize("adapter", D, config);
    const { activation, scaling } = config;
    for (const { path, module } of ctx.targets(config, BLOCKS)) {
      const downW = ctx.normal(`${path}.adapter_down.weight`, [M, D], config.initStd); // (M, D)
      const downB = ctx.zeros(`${path}.adapter_down.bias`, [M]);
      const upW = ctx.zeros(`${path}.adapter_up.weight`, [D, M]); // (D, M)
      const upB = ctx.zeros(`${path}.adapter_up.bias`, [D]);
      // (B, L, D) → (B, L, M) → (B, L, D)
      const bottleneck = (h: Tensor): Tensor => {
        const z = activate(h.matmul(downW.transpose()).add(downB), activation);
        const y = z.matmul(upW.transpose()).add(upB);
        return scaling === 1 ? y : y.mul(scaling);
      };
      if (config.variant === "parallel") ctx.parallel(module, bottleneck);
      else ctx.sequential(module, (h) => h.add(bottleneck(h)));
    }
  },
  countParameters(model, config) {
    const D = model.config.dModel;
    const M = bottleneckSize("adapter", D, config);
    return matchTargets(model, config, BLOCKS, "adapter").length * adapterParameters(D, M);
  },
};
