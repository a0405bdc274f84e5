/**
 * Bottleneck-adapter building blocks shared by plugins/adapter (Houlsby, Pfeiffer, parallel) and
 * plugins/compacter: the activations, the bottleneck size rule (AdapterHub's) and the parameter count of
 * one adapter. Shape legend: D d_model, M bottleneck.
 */
import { PluginConfigError } from "../../core/peft/errors.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";

export const ACTIVATIONS = ["relu", "gelu_new", "swish"] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/**
 * relu; gelu_new (tanh approximation, HF's name); swish(x) = x·σ(x) (Ramachandran et al. 2017, = SiLU),
 * with σ(x) = ½·(1 + tanh(x/2)) so it is a composition of existing primitives (and their backward rules).
 */
export function activate(x: Tensor, activation: Activation): Tensor {
  switch (activation) {
    case "relu":
      return x.relu();
    case "gelu_new":
      return x.gelu();
    case "swish":
      return x.mul(x.mul(0.5).tanh().add(1).mul(0.5));
  }
  return activation satisfies never;
}

/** M = `bottleneck`, else ⌊D / reductionFactor⌋, which must be ≥ 1. */
export function bottleneckSize(plugin: string, dModel: number, c: { readonly bottleneck?: number | undefined; readonly reductionFactor: number }): number {
  if (c.bottleneck !== undefined) return c.bottleneck;
  const m = Math.floor(dModel / c.reductionFactor);
  if (m < 1) throw PluginConfigError.of(plugin, "reductionFactor", `d_model ${dModel} / reductionFactor ${c.reductionFactor} leaves no bottleneck unit (set a smaller factor or an explicit bottleneck)`);
  return m;
}


/** Trainable parameters of one bottleneck adapter: down (M·D + M) and up (D·M + D). */
export const adapterParameters = (d: number, m: number): number => 2 * d * m + m + d;
