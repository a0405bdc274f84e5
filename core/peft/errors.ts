/** Errors of the plugin framework: each names the plugin, the field or module, and the problem. */
import { type TaggedErrorClass, taggedError } from "../errors.ts";

interface PluginConfigErrorFields {
  readonly plugin: string;
  readonly field: string;
  readonly message: string;
}
const PluginConfigErrorBase: TaggedErrorClass<"PluginConfigError", PluginConfigErrorFields> = taggedError("PluginConfigError");
/** A plugin config that cannot be applied: bad value, factor shapes that don't fit a module, no matching target. */
export class PluginConfigError extends PluginConfigErrorBase {
  static of(plugin: string, field: string, problem: string): PluginConfigError {
    return new PluginConfigError({ plugin, field, message: `${plugin}: ${field}: ${problem}` });
  }
}

interface AdapterErrorFields {
  readonly adapter: string;
  readonly message: string;
}
const AdapterErrorBase: TaggedErrorClass<"AdapterError", AdapterErrorFields> = taggedError("AdapterError");
/** Misuse of adapters on a PeftModel (unknown name, merging a non-mergeable adapter, bad adapter file). */
export class AdapterError extends AdapterErrorBase {
  static of(adapter: string, problem: string): AdapterError {
    return new AdapterError({ adapter, message: `adapter "${adapter}": ${problem}` });
  }
}
