/**
 * The built-in PEFT methods, each in its own folder, registered on import (one call each). Shared code
 * (Kronecker products, bottleneck blocks) is in plugins/shared/.
 */
import { type PeftPlugin, registerPlugin, registerPluginAlias } from "../core/peft/plugin.ts";
import { krona } from "./krona/krona.ts";
import { kronab } from "./kronab/kronab.ts";
import { lora } from "./lora/lora.ts";
import { adapter } from "./adapter/adapter.ts";
import { compacter } from "./compacter/compacter.ts";
import { bitfit } from "./bitfit/bitfit.ts";
import { full } from "./full/full.ts";

export interface BuiltinPlugin {
  readonly plugin: PeftPlugin<never>;
}

/** Each plugin's conformance rows live in its folder's test file (CONFORMANCE_CONFIGS, run with webpeft/testing). */
export const builtinPlugins: readonly BuiltinPlugin[] = [lora, adapter, compacter, bitfit, full, krona, kronab].map((plugin) => ({ plugin: plugin as PeftPlugin<never> }));

for (const { plugin } of builtinPlugins) registerPlugin(plugin);
/** "adapter" is also the word for any PEFT module: the bottleneck-adapter plugin answers to "bottleneck" too. */
registerPluginAlias("bottleneck", "adapter");
registerPluginAlias("full-finetuning", "full");

export { lora, adapter, compacter, bitfit, full, krona, kronab };
// building blocks for methods of your own (plugins/README.md)
export * from "./shared/kronecker.ts";
export * from "./shared/bottleneck.ts";
/** Unambiguous names: `full` is also core's tensor constructor, `adapter` also the general word. */
export { full as fullFineTuning, adapter as bottleneckAdapter };
