/**
 * LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"), as HF PEFT implements it:
 * parallel to each target Linear,  y = W·x + s·B·A·dropout(x),  A (r, in), B (out, r),
 * s = α/r (or α/√r with rsLoRA, Kalajdzievski 2023). A starts Kaiming-uniform, B at zero, so the model
 * starts unchanged. Mergeable: ΔW = s·B·A. Parameters: Σ over targets r·(in + out).
 * Adapter files are HF PEFT's LORA layout, so adapters move both ways between webpeft and PEFT.
 */
import * as v from "valibot";
import { PluginConfigError } from "../../core/peft/errors.ts";
import type { AdapterFormat, PeftPlugin } from "../../core/peft/plugin.ts";
import { type TargetSpec, matchTargets, targetFields } from "../../core/peft/targets.ts";
import { addScaled } from "../../core/tensor/ops/elementwise.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";

/** LoRA's config (HF PEFT's names in parentheses). */
export interface LoraConfig extends TargetSpec {
  readonly targets: string[] | { regex: string };
  /** rank (r) */
  readonly r: number;
  /** α (lora_alpha) */
  readonly alpha: number;
  /** dropout on the adapter's input (lora_dropout) */
  readonly dropout: number;
  /** rsLoRA: scale α/√r instead of α/r (use_rslora) */
  readonly useRslora: boolean;
}

const schema: v.GenericSchema<unknown, LoraConfig> = v.object({
  ...targetFields(["q", "v"]),
  /** rank */
  r: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 8),
  /** lora_alpha */
  alpha: v.optional(v.pipe(v.number(), v.gtValue(0)), 8),
  dropout: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(0.999)), 0),
  /** rsLoRA: scale α/√r instead of α/r */
  useRslora: v.optional(v.boolean(), false),
});


export const loraScale = (c: LoraConfig): number => (c.useRslora ? c.alpha / Math.sqrt(c.r) : c.alpha / c.r);

/** HF PEFT's adapter_config.json for LoRA. */
const peftLora: AdapterFormat<LoraConfig> = {
  peftType: "LORA",
  toAdapterConfig: (c) => ({
    peft_type: "LORA",
    task_type: "SEQ_2_SEQ_LM",
    r: c.r,
    lora_alpha: c.alpha,
    lora_dropout: c.dropout,
    use_rslora: c.useRslora,
    target_modules: Array.isArray(c.targets) ? c.targets : (c.targets as { regex: string }).regex,
    layers_to_transform: c.layers ?? null,
    layers_pattern: c.layers ? "block" : null,
    bias: "none",
    fan_in_fan_out: false,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: null,
    rank_pattern: {},
    alpha_pattern: {},
    base_model_name_or_path: null,
    revision: null,
  }),
  fromAdapterConfig: (json) => {
    for (const unsupported of ["rank_pattern", "alpha_pattern"] as const) {
      const value = json[unsupported];
      if (value && typeof value === "object" && Object.keys(value).length > 0) {
        throw PluginConfigError.of("lora", unsupported, "per-module ranks/alphas are not supported yet");
      }
    }
    if (json.bias && json.bias !== "none") throw PluginConfigError.of("lora", "bias", `"${json.bias}" is not supported (only "none")`);
    if (json.use_dora) throw PluginConfigError.of("lora", "use_dora", "DoRA adapters are not supported");
    const targets = json.target_modules;
    const layers = json.layers_to_transform;
    return {
      targets: typeof targets === "string" ? { regex: targets } : targets,
      r: json.r,
      alpha: json.lora_alpha,
      dropout: json.lora_dropout ?? 0,
      useRslora: json.use_rslora ?? false,
      ...(layers === null || layers === undefined ? {} : { layers: typeof layers === "number" ? [layers] : layers }),
    };
  },
};

export const lora: PeftPlugin<LoraConfig> = {
  name: "lora",
  description: "LoRA: y = Wx + (α/r)·B·A·x beside each target Linear (mergeable)",
  schema,
  parameterFormula: "Σ over target Linears r·(in + out)",
  inject(ctx) {
    const { config } = ctx;
    const scale = loraScale(config);
    for (const { path, module } of ctx.targets(config, "linear")) {
      const A = ctx.kaimingUniform(`${path}.lora_A.weight`, [config.r, module.inFeatures]); // (r, in)
      const B = ctx.zeros(`${path}.lora_B.weight`, [module.outFeatures, config.r]); // (out, r)
      // (…, in) → (…, r) → (…, out), scaled
      const update = (x: Tensor) => ctx.dropout(x, config.dropout).matmul(A.transpose()).matmul(B.transpose());
      ctx.parallel(
        module,
        (x) => update(x).mul(scale),
        (x, out) => addScaled(out, update(x), scale), // out + scale·update in one launch
      );
      ctx.mergeable(module, () => B.matmul(A).mul(scale)); // (out, in)
    }
  },
  countParameters(model, config) {
    return matchTargets(model, config, "linear", "lora").reduce((acc, { module }) => acc + config.r * (module.inFeatures + module.outFeatures), 0);
  },
  formats: [peftLora],
};
