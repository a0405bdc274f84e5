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
 * `targets: { regex: ".*\\.(q|k|v|o|wi|wi_0|wi_1|wo)" }`.
 *
 * `layerNormBiases` (default false) adds and trains a bias on every layer norm too, as BitFit trains
 * LayerNorm's β (and the Compacter authors' T5 code adds one to each block's layer norm): a parallel hook
 * on each layer-norm hook point, y = w ⊙ x/rms(x) + β, β (D) at zero, stored as `<layer norm>.bias`.
 * (Where every consumer of the normed state is a biased target Linear, β only reparametrises their biases,
 * W·(n + β) + b = W·n + b′; it is not redundant for the final layer norms, nor when targets are narrowed.)
 * Default false so that adapter files saved before the option existed still load.
 *
 * `trainLayerNorms` (default false) also trains T5's RMS-norm weights (every `layer_norm` and
 * `final_layer_norm` scale) through ctx.trainBase. Not mergeable: T5's Linears have no bias slot to fold
 * b into.
 *
 * Parameters: Σ over target Linears out_features (+ Σ layer-norm sizes with layerNormBiases, + Σ RMS-norm
 * sizes with trainLayerNorms).
 */
import * as v from "valibot";
import type { InjectContext, PeftBaseModel, PeftPlugin } from "../../core/peft/plugin.ts";
import { type TargetSpec, hookPoints, matchTargets, targetFields, targetsSchema } from "../../core/peft/targets.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";

/** A regex, so that it fits v1.0 (wi) and gated v1.1 (wi_0, wi_1) checkpoints alike. */
export const BITFIT_DEFAULT_TARGETS = { regex: ".*\\.(q|k|v|o|wi|wi_0|wi_1|wo)|lm_head" } as const;

export interface BitFitConfig extends TargetSpec {
  /** add and train a bias on every layer norm (BitFit's LayerNorm β) */
  readonly layerNormBiases: boolean;
  /** also train every RMS-norm weight of the model */
  readonly trainLayerNorms: boolean;
}

const targetEntries = targetFields([]);

const schema: v.GenericSchema<unknown, BitFitConfig> = v.object({
  targets: v.optional(targetsSchema, () => ({ ...BITFIT_DEFAULT_TARGETS })),
  layers: targetEntries.layers,
  stacks: targetEntries.stacks,
  /** add and train a bias on every layer norm (BitFit's LayerNorm β) */
  layerNormBiases: v.optional(v.boolean(), false),
  /** also train every RMS-norm weight of the model */
  trainLayerNorms: v.optional(v.boolean(), false),
});

/** The distinct layer-norm weights of the model. */
function layerNormWeights(model: PeftBaseModel): Tensor[] {
  return [...new Set(hookPoints(model, "layer-norm").map(({ module }) => module.weight))];
}

export const bitfit: PeftPlugin<BitFitConfig> = {
  name: "bitfit",
  description: "BitFit: train only biases (added at zero to T5's bias-free Linears), optionally the layer norms",
  schema,
  parameterFormula: "Σ over target Linears out_features (+ Σ layer-norm sizes with layerNormBiases, + Σ RMS-norm sizes with trainLayerNorms)",
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
    if (config.layerNormBiases) {
      for (const { path, module } of hookPoints(ctx.model, "layer-norm")) {
        const beta = ctx.zeros(`${path}.bias`, [module.features]); // (D)
        ctx.parallel(module, () => beta); // y = w ⊙ x/rms(x) + β
      }
    }
    if (config.trainLayerNorms) for (const w of layerNormWeights(ctx.model)) ctx.trainBase(w);
  },
  countParameters(model, config) {
    const biases = matchTargets(model, config, "linear", "bitfit").reduce((acc, { module }) => acc + module.outFeatures, 0);
    const normBiases = config.layerNormBiases ? hookPoints(model, "layer-norm").reduce((acc, { module }) => acc + module.features, 0) : 0;
    const norms = config.trainLayerNorms ? layerNormWeights(model).reduce((acc, t) => acc + t.size, 0) : 0;
    return biases + normBiases + norms;
  },
};
