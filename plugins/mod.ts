/**
 * The built-in PEFT methods, each in its own folder, registered on import (one call each). Each entry
 * also lists the small configs the shared plugin test matrix (test/plugins/matrix.test.ts) runs on a
 * tiny T5 (d_model 16, d_kv 4, 4 heads, d_ff 24, 2 + 3 layers).
 */
import { type PeftPlugin, registerPlugin } from "../core/hooks/plugin.ts";
import { lora } from "./lora/lora.ts";

export interface BuiltinPlugin {
  readonly plugin: PeftPlugin<never>;
  /** Configs for the test matrix on the tiny T5, by label. */
  readonly matrixConfigs: Readonly<Record<string, unknown>>;
}

export const builtinPlugins: readonly BuiltinPlugin[] = [
  { plugin: lora as PeftPlugin<never>, matrixConfigs: { "q,v r=4": { r: 4, alpha: 8 }, "all linears rsLoRA": { targets: { regex: ".*\\.(q|k|v|o|wi|wo)" }, r: 2, alpha: 4, useRslora: true } } },
];

for (const { plugin } of builtinPlugins) registerPlugin(plugin);

export { lora };
