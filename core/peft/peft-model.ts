/**
 * PeftModel: a base T5 plus named adapters. Each adapter is a plugin instance with its own parameters and
 * hooks; any set of them can be active at once (`setActive`), all can be switched off (`disable`), and
 * mergeable ones folded into the base weights (`merge` / `unmerge` / `mergeAndUnload`).
 *
 * Freezing: only the active adapters' parameters (and base parameters a plugin asked to train) require
 * gradients; every other base weight is frozen, so autograd records nothing for it and it gets no gradient
 * buffer (and an optimizer built from `trainableParameters()` keeps no state for it).
 */
import { T5ForConditionalGeneration, type IntMatrix, type T5Inputs, type T5Outputs, checkBufferSize } from "../models/t5/model.ts";
import type { GenerateOptions } from "../models/t5/generate.ts";
import type { T5Config } from "../io/t5-config.ts";
import type { Linear } from "../nn/layers.ts";
import type { Module } from "../nn/module.ts";
import { noGrad } from "../tensor/autograd.ts";
import { full, randn, rand } from "../tensor/create.ts";
import { launchElementwise } from "../tensor/ops/elementwise.ts";
import { keep, tidy } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { AdapterError, PluginConfigError } from "./errors.ts";
import type { HookEntry } from "../nn/hooks.ts";
import { type InjectContext, type PeftPlugin, getPlugin, parsePluginConfig } from "./plugin.ts";
import { type TargetKind, type TargetSpec, matchTargets } from "./targets.ts";

interface MergeEntry {
  readonly linear: Linear;
  readonly deltaWeight: () => Tensor;
}

/** One adapter on a PeftModel. */
export interface AdapterState {
  readonly name: string;
  readonly plugin: PeftPlugin<unknown>;
  readonly config: unknown;
  /** Trainable adapter parameters by full dotted path. */
  readonly parameters: ReadonlyMap<string, Tensor>;
  /** Base parameters the adapter trains as well. */
  readonly trainedBase: ReadonlySet<Tensor>;
  readonly mergeable: boolean;
  readonly merged: boolean;
}

interface AdapterInternal extends AdapterState {
  readonly parameters: Map<string, Tensor>;
  readonly trainedBase: Set<Tensor>;
  readonly hooks: { module: Module; entry: HookEntry }[];
  readonly merges: MergeEntry[];
  merged: boolean;
  mergeable: boolean;
}

function hashSeed(seed: number, text: string): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h;
}

export interface AddAdapterOptions {
  /** Seed of the adapter's random initialisation (default 0). */
  readonly seed?: number;
  /** Make it the only active adapter (default true). */
  readonly activate?: boolean;
}

export class PeftModel {
  private readonly adapters = new Map<string, AdapterInternal>();
  private readonly activeNames = new Set<string>();
  private disabled = false;

  constructor(readonly base: T5ForConditionalGeneration) {
    this.refreshTrainable();
  }

  get config(): T5Config {
    return this.base.config;
  }

  /** Names of the active adapters, in the order they were added. */
  get active(): string[] {
    return [...this.adapters.keys()].filter((n) => this.activeNames.has(n));
  }

  adapter(name: string): AdapterState {
    const a = this.adapters.get(name);
    if (!a) throw AdapterError.of(name, `no such adapter (adapters: ${[...this.adapters.keys()].join(", ") || "none"})`);
    return a;
  }

  adapterNames(): string[] {
    return [...this.adapters.keys()];
  }

  /** Validates `config` with the plugin's schema, creates the adapter's parameters and hooks. */
  addAdapter(name: string, plugin: PeftPlugin<unknown> | string, rawConfig: unknown = {}, options: AddAdapterOptions = {}): AdapterState {
    if (this.adapters.has(name)) throw AdapterError.of(name, "an adapter of this name exists already");
    const p = typeof plugin === "string" ? getPlugin(plugin) : plugin;
    const config = parsePluginConfig(p, rawConfig);
    const state: AdapterInternal = { name, plugin: p, config, parameters: new Map(), trainedBase: new Set(), hooks: [], merges: [], merged: false, mergeable: false };
    const seed = options.seed ?? 0;
    const model = this.base;
    const backend = model.backend;
    const dtype = model.dtype;
    const isActive = () => !this.disabled && this.activeNames.has(name);
    const attach = (module: Module, kind: HookEntry["kind"], fn: HookEntry["fn"], active: () => boolean, addTo?: HookEntry["addTo"]) => {
      const entry: HookEntry = { adapter: name, kind, fn, active, ...(addTo ? { addTo } : {}) };
      module.hooks.push(entry);
      state.hooks.push({ module, entry });
    };
    const own = (path: string, t: Tensor) => {
      if (state.parameters.has(path)) throw PluginConfigError.of(p.name, "parameters", `${path} is created twice`);
      t.requiresGrad = true;
      state.parameters.set(path, keep(t));
      return t;
    };
    // Every parameter's size is checked against the backend before it is allocated: a config value of 1e9
    // (r, bottleneck size) is a typed error naming the parameter and the config, not a RangeError.
    const sized = (path: string, shape: readonly number[]): readonly number[] => {
      const configText = JSON.stringify(config)?.slice(0, 160) ?? "";
      for (const [axis, d] of shape.entries()) {
        if (!Number.isSafeInteger(d) || d < 0) {
          throw PluginConfigError.of(p.name, "parameters", `${path}: dimension ${axis} of shape [${shape.join(", ")}] is ${d}, not a non-negative integer (config ${configText})`);
        }
      }
      checkBufferSize(backend, dtype, `${p.name} adapter "${name}"`, `config ${configText}`, `parameter ${path}`, shape);
      return shape;
    };
    const ctx: InjectContext<unknown> = {
      model,
      config,
      adapter: name,
      backend,
      dtype,
      targets: ((spec: TargetSpec, kinds: TargetKind | readonly TargetKind[]) => matchTargets(model, spec, kinds, p.name)) as InjectContext<unknown>["targets"],
      parameter: own,
      zeros: (path, shape) => own(path, full(sized(path, shape), 0, { backend, dtype })),
      full: (path, shape, value) => own(path, full(sized(path, shape), value, { backend, dtype })),
      normal: (path, shape, std) => own(path, randn(sized(path, shape), { backend, dtype, std, seed: hashSeed(seed, `${name}/${path}`) })),
      uniform: (path, shape, bound) => own(path, rand(sized(path, shape), { backend, dtype, low: -bound, high: bound, seed: hashSeed(seed, `${name}/${path}`) })),
      kaimingUniform: (path, shape) => ctx.uniform(path, shape, 1 / Math.sqrt(shape[1])),
      parallel: (module, delta, addTo) => attach(module, "parallel", (x) => delta(x), () => isActive() && !state.merged, addTo),
      sequential: (module, after) => attach(module, "sequential", (out) => after(out), isActive),
      replace: (module, fn) => attach(module, "replace", fn, isActive),
      mergeable: (linear, deltaWeight) => {
        state.merges.push({ linear, deltaWeight });
        state.mergeable = true;
      },
      trainBase: (t) => void state.trainedBase.add(t),
      training: () => model.training,
      dropout: (x, p) => (p > 0 && model.training ? x.dropout(p) : x),
    };
    try {
      p.inject(ctx);
    } catch (e) {
      this.detach(state);
      throw e;
    }
    this.adapters.set(name, state);
    if (options.activate ?? true) {
      this.activeNames.clear();
      this.activeNames.add(name);
    }
    this.refreshTrainable();
    return state;
  }

  private detach(state: AdapterInternal): void {
    for (const { module, entry } of state.hooks) {
      const i = module.hooks.indexOf(entry);
      if (i >= 0) module.hooks.splice(i, 1);
    }
    for (const t of state.parameters.values()) {
      t.grad?.dispose();
      t.dispose();
    }
  }

  /** Removes an adapter (unmerging it first) and frees its parameters. */
  removeAdapter(name: string): void {
    const a = this.adapters.get(name);
    if (!a) throw AdapterError.of(name, "no such adapter");
    if (a.merged) this.unmerge(name);
    this.detach(a);
    this.adapters.delete(name);
    this.activeNames.delete(name);
    this.refreshTrainable();
  }

  /** Makes exactly these adapters active (several adapters compose). */
  setActive(...names: string[]): void {
    for (const n of names) this.adapter(n);
    this.activeNames.clear();
    for (const n of names) this.activeNames.add(n);
    this.disabled = false;
    this.refreshTrainable();
  }

  /** Runs the base model alone (adapters stay attached; merged adapters are unmerged). */
  disable(): void {
    for (const a of this.adapters.values()) if (a.merged) this.unmerge(a.name);
    this.disabled = true;
    this.refreshTrainable();
  }

  enable(): void {
    this.disabled = false;
    this.refreshTrainable();
  }

  get isDisabled(): boolean {
    return this.disabled;
  }

  /** W ← W + ΔW for every mergeable update of the adapter (default: every active one); its hooks stop. */
  merge(name?: string): void {
    for (const a of this.selected(name)) {
      if (!a.mergeable) throw AdapterError.of(a.name, `${a.plugin.name} adapters are not mergeable`);
      if (a.merged) continue;
      this.applyDeltas(a, +1);
      a.merged = true;
    }
  }

  /** W ← W − ΔW: the exact inverse of merge up to float32 rounding. */
  unmerge(name?: string): void {
    for (const a of name ? [this.adapter(name) as AdapterInternal] : [...this.adapters.values()]) {
      if (!a.merged) continue;
      this.applyDeltas(a, -1);
      a.merged = false;
    }
  }

  private selected(name?: string): AdapterInternal[] {
    if (name) return [this.adapter(name) as AdapterInternal];
    return this.active.map((n) => this.adapters.get(n)!);
  }

  /** In place, so tied weights and optimizer state keep pointing at the same tensor. */
  private applyDeltas(a: AdapterInternal, sign: 1 | -1): void {
    noGrad(() =>
      tidy(() => {
        for (const { linear, deltaWeight } of a.merges) {
          const w = linear.weight;
          const updated = sign > 0 ? w.add(deltaWeight()) : w.sub(deltaWeight());
          launchElementwise("copy", w, [updated]);
        }
      }),
    );
  }

  /**
   * Merges every mergeable active adapter into the base weights, removes all adapters and returns the
   * plain base model (save it with saveT5 as a normal HF checkpoint). Non-mergeable active adapters are
   * an error: their effect cannot live in a plain T5.
   */
  mergeAndUnload(): T5ForConditionalGeneration {
    for (const a of this.selected()) {
      if (!a.mergeable) throw AdapterError.of(a.name, `${a.plugin.name} adapters cannot be merged into a plain T5; save the adapter instead`);
    }
    this.merge();
    for (const a of this.adapters.values()) {
      a.merged = false; // their deltas stay in the weights
      this.detach(a);
    }
    this.adapters.clear();
    this.activeNames.clear();
    this.base.requireGrad(true);
    return this.base;
  }

  /** requiresGrad: active adapters' parameters and the base parameters they train; nothing else. */
  private refreshTrainable(): void {
    const trained = new Set<Tensor>();
    for (const a of this.adapters.values()) {
      const on = !this.disabled && this.activeNames.has(a.name);
      for (const t of a.parameters.values()) t.requiresGrad = on;
      if (on) for (const t of a.trainedBase) trained.add(t);
    }
    for (const [, t] of this.base.uniqueParameters()) t.requiresGrad = trained.has(t);
  }

  /** What an optimizer should update: every tensor that requires grad, with its path. */
  trainableParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const a of this.adapters.values()) for (const [path, t] of a.parameters) if (t.requiresGrad) out.push([path, t]);
    for (const [path, t] of this.base.uniqueParameters()) if (t.requiresGrad) out.push([path, t]);
    return out;
  }

  /** Trainable and total parameter counts (base + adapters), and the trainable percentage. */
  parameterCounts(): { readonly trainable: number; readonly total: number; readonly percent: number } {
    const trainable = this.trainableParameters().reduce((acc, [, t]) => acc + t.size, 0);
    let total = this.base.parameterCount();
    for (const a of this.adapters.values()) for (const t of a.parameters.values()) total += t.size;
    return { trainable, total, percent: (100 * trainable) / total };
  }

  forward(inputs: T5Inputs): T5Outputs {
    return this.base.forward(inputs);
  }

  generate(inputIds: IntMatrix, attentionMask?: IntMatrix, options?: GenerateOptions): Promise<number[][]> {
    return this.base.generate(inputIds, attentionMask, options);
  }

  train(flag = true): this {
    this.base.train(flag);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Frees the adapters' parameters (the base model stays). */
  dispose(): void {
    for (const a of this.adapters.values()) this.detach(a);
    this.adapters.clear();
  }
}

export { T5ForConditionalGeneration, matchTargets };
