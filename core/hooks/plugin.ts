/**
 * The plugin interface: a PEFT method is one object (one folder in plugins/) with a name, a valibot
 * config schema with defaults, `inject` that creates its parameters and attaches hooks through an
 * InjectContext, the parameter-count formula, and optionally HF PEFT adapter-file formats. A user's own
 * plugin is written the same way outside this repository and registered with one call.
 */
import * as v from "valibot";
import type { Backend } from "../backend/backend.ts";
import type { T5ForConditionalGeneration } from "../models/t5/model.ts";
import type { Module } from "../nn/module.ts";
import type { Linear } from "../nn/layers.ts";
import type { FloatDType } from "../tensor/dtype.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { HookEntry } from "./hooks.ts";
import { PluginConfigError } from "./errors.ts";
import { unknownNameMessage } from "../suggest.ts";

/** The module kinds hooks attach to in T5 (see hooks.ts). */
export type TargetKind = "linear" | "ffn" | "attention";

/**
 * Which modules a plugin applies to, written the way HF PEFT users write `target_modules`: names matched
 * exactly or as a dotted suffix (`["q", "v"]` hits every `…SelfAttention.q` and `…EncDecAttention.q`), or
 * `{ regex }` matched against the whole dotted path; optionally only some block indices and stacks.
 */
export interface TargetSpec {
  readonly targets: readonly string[] | { readonly regex: string };
  readonly layers?: readonly number[];
  readonly stacks?: readonly ("encoder" | "decoder")[];
}

/** The `targets` value: names (exact or dotted suffix) or `{ regex }` on the full path. */
export const targetsSchema: v.GenericSchema<unknown, string[] | { regex: string }> = v.union([
  v.pipe(v.array(v.pipe(v.string(), v.minLength(1))), v.minLength(1, "targets must name at least one module (e.g. [\"q\", \"v\"])")),
  v.object({
    regex: v.pipe(
      v.string(),
      v.minLength(1),
      v.check((source) => regexError(source) === null, (issue) => `regex does not compile: ${regexError(issue.input as string)}`),
    ),
  }),
]);

/** Why `source` is not a JavaScript regular expression (as matchTargets compiles it), or null. */
export function regexError(source: string): string | null {
  try {
    new RegExp(`^(?:${source})$`);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}
/** Block indices (`block.N`) to restrict targets to. */
export const layersSchema: v.GenericSchema<unknown, number[] | undefined> = v.optional(v.array(v.pipe(v.number(), v.integer(), v.minValue(0))));
/** Stacks to restrict targets to. */
export const stacksSchema: v.GenericSchema<unknown, ("encoder" | "decoder")[] | undefined> = v.optional(v.array(v.picklist(["encoder", "decoder"])));

/** valibot object entries of a TargetSpec (spread them into a plugin's config schema). */
export interface TargetFieldSchemas {
  readonly targets: v.GenericSchema<unknown, string[] | { regex: string }>;
  readonly layers: v.GenericSchema<unknown, number[] | undefined>;
  readonly stacks: v.GenericSchema<unknown, ("encoder" | "decoder")[] | undefined>;
}

/** TargetSpec entries with plugin-specific default targets. */
export function targetFields(defaultTargets: readonly string[]): TargetFieldSchemas {
  return { targets: v.optional(targetsSchema, () => [...defaultTargets]), layers: layersSchema, stacks: stacksSchema };
}

export interface Target<M extends Module = Module> {
  /** HF dotted path, e.g. encoder.block.0.layer.0.SelfAttention.q */
  readonly path: string;
  readonly module: M;
}

/** Everything a plugin's inject() needs; parameters it creates are owned by the adapter. */
export interface InjectContext<C> {
  readonly model: T5ForConditionalGeneration;
  readonly config: C;
  /** Adapter name (several adapters of one plugin can live on a model). */
  readonly adapter: string;
  readonly backend: Backend;
  readonly dtype: FloatDType;
  /** Modules matching `spec` that are of `kind`; a spec matching nothing, or a module of another kind, is an error. */
  targets(spec: TargetSpec, kind: "linear"): Target<Linear>[];
  targets(spec: TargetSpec, kind: TargetKind): Target[];
  /** Registers a trainable adapter parameter under a full dotted path (`<module path>.<name>`). */
  parameter(path: string, tensor: Tensor): Tensor;
  /** Seeded initialisers (deterministic per adapter seed and parameter path). */
  zeros(path: string, shape: readonly number[]): Tensor;
  full(path: string, shape: readonly number[], value: number): Tensor;
  normal(path: string, shape: readonly number[], std: number): Tensor;
  uniform(path: string, shape: readonly number[], bound: number): Tensor;
  /** PyTorch's kaiming_uniform_(a=√5) for a (rows, fan_in) matrix: U(−1/√fan_in, 1/√fan_in). */
  kaimingUniform(path: string, shape: readonly [number, number]): Tensor;
  /** Hooks (see hooks.ts); they run while this adapter is active. */
  parallel(module: Module, delta: (x: Tensor) => Tensor): void;
  sequential(module: Module, after: (out: Tensor) => Tensor): void;
  replace(module: Module, fn: (x: Tensor, base: (x: Tensor) => Tensor) => Tensor): void;
  /**
   * Declares the parallel update of `linear` mergeable: `deltaWeight()` is ΔW (out, in) with
   * y = Wx + ΔW·x; merge() adds it to W and turns the parallel hook off.
   */
  mergeable(linear: Linear, deltaWeight: () => Tensor): void;
  /** Base-model parameters this adapter trains too (BitFit biases it adds, layer norms, full fine-tuning). */
  trainBase(parameter: Tensor): void;
  /** True while the model is in training mode. */
  training(): boolean;
  /** Inverted dropout with probability `p` while training; `x` itself otherwise (or when p = 0). */
  dropout(x: Tensor, p: number): Tensor;
}

/**
 * An adapter-file format of a plugin: how its config and tensor names map to an `adapter_config.json`
 * (`peft_type`) and `adapter_model.safetensors` keys, e.g. HF PEFT's LORA, or LOKR for KronA.
 */
export interface AdapterFormat<C> {
  readonly peftType: string;
  /** adapter_config.json contents for this config on this model. */
  toAdapterConfig(config: C, model: T5ForConditionalGeneration): Record<string, unknown>;
  /** The plugin config (raw, validated by the schema afterwards) that an adapter_config.json describes. */
  fromAdapterConfig(json: Record<string, unknown>, model: T5ForConditionalGeneration): unknown;
  /** File key of a parameter (default: `base_model.model.` + its path). */
  fileKey?(path: string): string;
  /** Converts a tensor on save/load when the file stores it differently (default: as is). */
  convert?: { save?(path: string, t: Tensor): Tensor; load?(path: string, t: Tensor): Tensor };
}

export interface PeftPlugin<C = unknown> {
  readonly name: string;
  readonly description: string;
  /** valibot schema: raw user config in, complete config (defaults filled) out. */
  readonly schema: v.GenericSchema<unknown, C>;
  /** The trainable-parameter formula, as documentation (e.g. "Σ over targets r·(in + out)"). */
  readonly parameterFormula: string;
  inject(ctx: InjectContext<C>): void;
  /** Trainable parameters `config` creates on `model`, computed from the formula (no tensors made). */
  countParameters(model: T5ForConditionalGeneration, config: C): number;
  /** Adapter-file formats besides the native one; the first is the default when saving. */
  readonly formats?: readonly AdapterFormat<C>[];
}

const registry = new Map<string, PeftPlugin<never>>();

/** Makes a plugin available by name (to PeftModel.addAdapter, adapter files and the CLI). */
export function registerPlugin<C>(plugin: PeftPlugin<C>): PeftPlugin<C> {
  registry.set(plugin.name, plugin as unknown as PeftPlugin<never>);
  return plugin;
}

export function getPlugin(name: string): PeftPlugin<unknown> {
  const p = registry.get(name);
  if (!p) throw PluginConfigError.of(name, "plugin", `no plugin named "${name}" is registered (registered: ${[...registry.keys()].join(", ") || "none"})`);
  return p as unknown as PeftPlugin<unknown>;
}

export function registeredPlugins(): PeftPlugin<unknown>[] {
  return [...registry.values()] as unknown as PeftPlugin<unknown>[];
}

/** The plugin and format that read adapter files of this `peft_type`. */
export function formatForPeftType(peftType: string): { plugin: PeftPlugin<unknown>; format: AdapterFormat<unknown> } | null {
  for (const plugin of registry.values()) {
    for (const format of plugin.formats ?? []) {
      if (format.peftType === peftType) return { plugin: plugin as unknown as PeftPlugin<unknown>, format: format as AdapterFormat<unknown> };
    }
  }
  return null;
}

/** Validates a raw config with the plugin's schema; issues become a PluginConfigError naming the field. */
export function parsePluginConfig<C>(plugin: PeftPlugin<C>, raw: unknown): C {
  rejectUnknownKeys(plugin, raw);
  const result = v.safeParse(plugin.schema, raw ?? {});
  if (result.success) return result.output;
  const issue = result.issues[0];
  const field = issue.path?.map((p) => String(p.key)).join(".") || "(config)";
  throw PluginConfigError.of(plugin.name, field, `${issue.message} (got ${JSON.stringify(issue.input)})`);
}

/** The field names of an object schema (through pipes), or null for other schemas. */
function objectKeys(schema: unknown): string[] | null {
  const s = schema as { type?: string; entries?: Record<string, unknown> };
  return s.type === "object" && s.entries ? Object.keys(s.entries) : null;
}

/**
 * valibot's `object` drops keys it does not know; a user who writes `lora_alpha` or `rank` would then
 * train with the default silently. Every key of a plain-object config must be a field of the schema.
 */
function rejectUnknownKeys(plugin: PeftPlugin<unknown>, raw: unknown): void {
  const known = objectKeys(plugin.schema);
  if (!known || raw === null || typeof raw !== "object" || Array.isArray(raw)) return;
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) throw PluginConfigError.of(plugin.name, key, unknownNameMessage(key, known, "config key"));
  }
}

export type { HookEntry };
