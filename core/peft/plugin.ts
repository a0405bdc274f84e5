/**
 * The plugin interface: a PEFT method is one object (one folder in plugins/) with a name, a valibot
 * config schema with defaults, `inject` that creates its parameters and attaches hooks through an
 * InjectContext, the parameter-count formula, and optionally HF PEFT adapter-file formats. A user's own
 * plugin is written the same way outside this repository and registered with one call.
 */
import * as v from "valibot";
import type { Backend } from "../backend/backend.ts";
import type { Module } from "../nn/module.ts";
import type { Linear } from "../nn/layers.ts";
import type { FloatDType } from "../tensor/dtype.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { HookEntry } from "../nn/hooks.ts";
import type { HookTarget, LegacyTargetKind, TargetKind, TargetSpec } from "./targets.ts";
import { PluginConfigError } from "./errors.ts";
import { unknownNameMessage } from "../suggest.ts";

/**
 * What a plugin may assume of the model it adapts: a module tree with declared hook points (core/nn),
 * its backend and dtype, and its width. T5ForConditionalGeneration is one; plugins should need no more.
 */
export interface PeftBaseModel extends Module {
  readonly backend: Backend;
  readonly dtype: FloatDType;
  readonly config: { readonly dModel: number };
}

/** Everything a plugin's inject() needs; parameters it creates are owned by the adapter. */
export interface InjectContext<C> {
  readonly model: PeftBaseModel;
  readonly config: C;
  /** Adapter name (several adapters of one plugin can live on a model). */
  readonly adapter: string;
  readonly backend: Backend;
  readonly dtype: FloatDType;
  /**
   * Hook points matching `spec` that are of `kind` (or of one of several kinds), typed by kind: a "linear"
   * target's module is a Linear, a "layer-norm" one's a NormModule… (core/nn/hooks.ts). A spec matching
   * nothing, or a matched module of another kind, is a PluginConfigError (matchTargets in targets.ts).
   */
  targets<K extends TargetKind>(spec: TargetSpec, kinds: K | readonly K[]): HookTarget<K>[];
  /** @deprecated "ffn" is "feed-forward". */
  targets(spec: TargetSpec, kinds: LegacyTargetKind): HookTarget<"feed-forward">[];
  /** Registers a trainable adapter parameter under a full dotted path (`<module path>.<name>`). */
  parameter(path: string, tensor: Tensor): Tensor;
  /** Seeded initialisers (deterministic per adapter seed and parameter path). */
  zeros(path: string, shape: readonly number[]): Tensor;
  full(path: string, shape: readonly number[], value: number): Tensor;
  normal(path: string, shape: readonly number[], std: number): Tensor;
  uniform(path: string, shape: readonly number[], bound: number): Tensor;
  /** PyTorch's kaiming_uniform_(a=√5) for a (rows, fan_in) matrix: U(−1/√fan_in, 1/√fan_in). */
  kaimingUniform(path: string, shape: readonly [number, number]): Tensor;
  /**
   * Hooks (see hooks.ts); they run while this adapter is active. A parallel hook may also give `addTo`:
   * out + delta(x) in fewer kernel launches (the add fused into delta's last op), used in its place.
   */
  parallel(module: Module, delta: (x: Tensor) => Tensor, addTo?: (x: Tensor, out: Tensor) => Tensor): void;
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
  toAdapterConfig(config: C, model: PeftBaseModel): Record<string, unknown>;
  /** The plugin config (raw, validated by the schema afterwards) that an adapter_config.json describes. */
  fromAdapterConfig(json: Record<string, unknown>, model: PeftBaseModel): unknown;
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
  /**
   * Trainable parameters `config` creates on `model`, computed from the formula (no tensors made);
   * matchTargets(model, config, kinds, name) gives the same typed targets inject sees.
   */
  countParameters(model: PeftBaseModel, config: C): number;
  /** Adapter-file formats besides the native one; the first is the default when saving. */
  readonly formats?: readonly AdapterFormat<C>[];
}

const registry = new Map<string, PeftPlugin<never>>();
const aliases = new Map<string, string>();

/** Makes a plugin available by name (to PeftModel.addAdapter, adapter files and the CLI). */
export function registerPlugin<C>(plugin: PeftPlugin<C>): PeftPlugin<C> {
  registry.set(plugin.name, plugin as unknown as PeftPlugin<never>);
  return plugin;
}

/**
 * Another name for a registered plugin in `addAdapter`, configs and the CLI (e.g. "bottleneck" for
 * "adapter"); the plugin keeps its name in adapter files.
 */
export function registerPluginAlias(alias: string, name: string): void {
  aliases.set(alias, name);
}

export function getPlugin(name: string): PeftPlugin<unknown> {
  const p = registry.get(name) ?? registry.get(aliases.get(name) ?? "");
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
export { type HookTarget, type LegacyTargetKind, type Target, type TargetKind, type TargetSpec, type TargetFieldSchemas, layersSchema, regexError, stacksSchema, targetFields, targetsSchema } from "./targets.ts";
