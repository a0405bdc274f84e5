/**
 * The built-in PEFT methods, each in its own folder, registered on import (one call each). Each entry
 * also lists the small configs the shared plugin test matrix (test/plugins/matrix.test.ts) runs on a
 * tiny T5 (d_model 16, d_kv 4, 4 heads, d_ff 24, 2 + 3 layers).
 */
import { type PeftPlugin, registerPlugin } from "../core/hooks/plugin.ts";
import { krona } from "./krona/krona.ts";
import { kronab } from "./kronab/kronab.ts";
import { lora } from "./lora/lora.ts";
import { adapter } from "./adapter/adapter.ts";
import { compacter } from "./compacter/compacter.ts";
import { bitfit } from "./bitfit/bitfit.ts";
import { full } from "./full/full.ts";

export interface BuiltinPlugin {
  readonly plugin: PeftPlugin<never>;
  /** Configs for the test matrix on the tiny T5, by label. */
  readonly matrixConfigs: Readonly<Record<string, unknown>>;
}

export const builtinPlugins: readonly BuiltinPlugin[] = [
  { plugin: lora as PeftPlugin<never>, matrixConfigs: { "q,v r=4": { r: 4, alpha: 8 }, "all linears rsLoRA": { targets: { regex: ".*\\.(q|k|v|o|wi|wo)" }, r: 2, alpha: 4, useRslora: true } } },
  { plugin: adapter as PeftPlugin<never>, matrixConfigs: { "houlsby m=4 +cross-attn": { variant: "houlsby", bottleneck: 4, targets: ["SelfAttention", "EncDecAttention", "DenseReluDense"] }, "parallel swish decoder": { variant: "parallel", reductionFactor: 4, activation: "swish", stacks: ["decoder"] } } },
  { plugin: compacter as PeftPlugin<never>, matrixConfigs: { "n=4 m=8": { reductionFactor: 2 }, "compacter++ n=2 r=2": { variant: "compacter++", phmDim: 2, phmRank: 2, bottleneck: 4, phmInitStd: 0.1 } } },
  { plugin: bitfit as PeftPlugin<never>, matrixConfigs: { "default targets": {}, "q,v + layer norms": { targets: ["q", "v"], trainLayerNorms: true } } },
  { plugin: full as PeftPlugin<never>, matrixConfigs: { "all weights": {}, "frozen embeddings": { freezeEmbeddings: true } } },
  {
    plugin: krona as PeftPlugin<never>,
    matrixConfigs: {
      "q,v automatic (4,4)x(4,4)": {},
      "all linears a=(2,2) s=0.5": { targets: { regex: ".*\\.(q|k|v|o|wi|wo)" }, a1: 2, a2: 2, scale: 0.5 },
    },
  },
  {
    plugin: kronab as PeftPlugin<never>,
    matrixConfigs: {
      "FFN automatic": {},
      "FFN+attention res a=(2,8)": { alsoAttention: true, residual: true, a1: 2, a2: 8, scale: 2, dropout: 0.1 },
    },
  },
];

for (const { plugin } of builtinPlugins) registerPlugin(plugin);

export { lora, adapter, compacter, bitfit, full, krona, kronab };
