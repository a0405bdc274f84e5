/**
 * Random T5 weights with HF's initialisation (T5PreTrainedModel._init_weights), for models trained from
 * scratch, tests and benchmarks. With factor = initializer_factor:
 *   layer norms 1·factor; shared and an untied lm_head N(0, factor);
 *   q N(0, factor/√(D·Dk)); k, v N(0, factor/√D); o N(0, factor/√(H·Dk)); relative_attention_bias N(0, factor/√D);
 *   wi, wi_0, wi_1 N(0, factor/√D); wo N(0, factor/√F).
 * Each tensor's values depend only on the seed and its name, not on creation order.
 */
import type { Backend } from "../../backend/backend.ts";
import type { T5Config } from "../../io/t5-config.ts";
import { full, randn } from "../../tensor/create.ts";
import type { FloatDType } from "../../tensor/dtype.ts";
import type { WeightSource } from "./model.ts";

function nameSeed(seed: number, name: string): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** Standard deviation HF gives the parameter `name` (null: a layer-norm weight, initialised to factor). */
export function initStd(config: T5Config, name: string): number | null {
  const f = config.initializerFactor;
  const { dModel: D, dKv: Dk, numHeads: H, dFf: F } = config;
  if (name.endsWith("layer_norm.weight")) return null;
  if (name === "shared.weight" || name === "lm_head.weight") return f;
  if (name.endsWith(".q.weight")) return f * (D * Dk) ** -0.5;
  if (name.endsWith(".k.weight") || name.endsWith(".v.weight")) return f * D ** -0.5;
  if (name.endsWith(".o.weight")) return f * (H * Dk) ** -0.5;
  if (name.endsWith("relative_attention_bias.weight")) return f * D ** -0.5;
  if (/\.wi(_0|_1)?\.weight$/.test(name)) return f * D ** -0.5;
  if (name.endsWith(".wo.weight")) return f * F ** -0.5;
  throw new Error(`initStd: no rule for parameter ${name}`);
}

export function randomT5Weights(config: T5Config, options: { readonly backend: Backend; readonly seed?: number; readonly dtype?: FloatDType }): WeightSource {
  const seed = options.seed ?? 0;
  return (name, shape) => {
    const std = initStd(config, name);
    const dtype = options.dtype ?? "float32";
    const t = std === null ? full(shape, config.initializerFactor, { backend: options.backend, dtype }) : randn(shape, { backend: options.backend, seed: nameSeed(seed, name), std, dtype });
    t.requiresGrad = true;
    return t;
  };
}
