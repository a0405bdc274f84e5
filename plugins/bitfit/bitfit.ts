/**
 * BitFit (Ben Zaken, Ravfogel & Goldberg 2022, "BitFit: Simple Parameter-efficient Fine-tuning for
 * Transformer-based Masked Language-models", arXiv 2106.10199): train only the bias terms.
 *
 * T5 has no biases, so this plugin ADDS one, initialised to zero, to every target Linear and trains only
 * those: a parallel hook  y = W·x + b  (Δ(x) = b broadcast over (…, out)). A target Linear that already has
 * a bias (not in T5) has that bias trained instead (ctx.trainBase). Biases are stored as `<linear>.bias`,
 * the name the weight would have in an HF state dict with bias=True.
 *
 * Targets (default): every attention and FFN Linear and lm_head (`q k v o wi wi_0 wi_1 wo lm_head`),
 * following the BitFit baseline of the Compacter authors' T5 code (rabeehk/compacter, configs/bitfit.json:
 * `bitfit` adds biases to q, k, v, o, wi, wo and lm_head; `freeze_bitfit_lm_head` keeps the lm_head weight
 * frozen but its bias trained). lm_head's bias is V values (32128 for T5) — the largest single bias, and the
 * one that shifts the label words' prior directly; leave it out with
 * `targets: { regex: ".*\\.(q|k|v|o|wi|wi_0|wi_1|wo)" }`. Their code also adds a bias to each block's
 * layer norm; that one is not added here: every consumer of a block's normed state is a biased Linear
 * (q, k, v, or wi), so a layer-norm bias β only reparametrises their biases (W·(n + β) + b = W·n + b′).
 *
 * `trainLayerNorms` (default false) also trains T5's RMS-norm weights (every `layer_norm` and
 * `final_layer_norm` scale) through ctx.trainBase; BitFit proper trains biases only (T5's norms have none).
 * Not mergeable: T5's Linears have no bias slot to fold b into.
 *
 * Parameters: Σ over target Linears out_features (+ Σ RMS-norm sizes with trainLayerNorms).
 */
import * as v from "valibot";
import { matchTargets } from "../../core/hooks/peft-model.ts";
import { type InjectContext, type PeftPlugin, type TargetSpec, targetFields, targetsSchema } from "../../core/hooks/plugin.ts";
import type { T5ForConditionalGeneration } from "../../core/models/t5/model.ts";
import { Linear, RMSNorm } from "../../core/nn/layers.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";

/** A regex, so that it fits v1.0 (wi) and gated v1.1 (wi_0, wi_1) checkpoints alike. */
export const BITFIT_DEFAULT_TARGETS = { regex: ".*\\.(q|k|v|o|wi|wi_0|wi_1|wo)|lm_head" } as const;

export interface BitFitConfig extends TargetSpec {
  /** also train every RMS-norm weight of the model */
  readonly trainLayerNorms: boolean;
}

const targetEntries = targetFields([]);

const schema: v.GenericSchema<unknown, BitFitConfig> = v.object({
  targets: v.optional(targetsSchema, () => ({ ...BITFIT_DEFAULT_TARGETS })),
  layers: targetEntries.layers,
  stacks: targetEntries.stacks,
  /** also train every RMS-norm weight of the model */
  trainLayerNorms: v.optional(v.boolean(), false),
});

/** The distinct RMS-norm weights of the model. */
function layerNormWeights(model: T5ForConditionalGeneration): Tensor[] {
  const out = new Set<Tensor>();
  for (const [, m] of model.namedModules()) if (m instanceof RMSNorm) out.add(m.parameter("weight"));
  return [...out];
}

export const bitfit: PeftPlugin<BitFitConfig> = {
  name: "bitfit",
  description: "BitFit: train only biases (added at zero to T5's bias-free Linears), optionally the layer norms",
  schema,
  parameterFormula: "Σ over target Linears out_features (+ Σ RMS-norm sizes with trainLayerNorms)",
  inject(ctx: InjectContext<BitFitConfig>) {
    const { config } = ctx;
    for (const { path, module } of ctx.targets(config, "linear")) {
      if (module.hasParameter("bias")) {
        ctx.trainBase(module.parameter("bias"));
        continue;
      }
      const bias = ctx.zeros(`${path}.bias`, [module.outFeatures]); // (out)
      ctx.parallel(module, () => bias); // y = W·x + b, b broadcast over (…, out)
    }
    if (config.trainLayerNorms) for (const w of layerNormWeights(ctx.model)) ctx.trainBase(w);
  },
  countParameters(model: T5ForConditionalGeneration, config) {
    const biases = matchTargets(model, config, "linear", "bitfit").reduce((acc, { module }) => acc + (module as Linear).outFeatures, 0);
    const norms = config.trainLayerNorms ? layerNormWeights(model).reduce((acc, t) => acc + t.size, 0) : 0;
    return biases + norms;
  },
};
