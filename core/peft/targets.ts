/**
 * Target matching: which hook points of a model a plugin attaches to. Targets are written the way HF PEFT
 * users write `target_modules`: names matched exactly or as a dotted suffix (`["q", "v"]` hits every
 * `…SelfAttention.q` and `…EncDecAttention.q`), or `{ regex }` matched against the whole dotted path;
 * optionally only some block indices (`block.N`) and stacks (the path's first name).
 *
 * The matcher knows no model class: it walks the module tree and reads each module's declared `hookPoint`
 * (core/nn/hooks.ts), so a plugin asks for kinds ("linear", "attention", "feed-forward", "layer-norm",
 * "embedding"; several at once) and gets each target typed by its kind (HookPointModules).
 */
import * as v from "valibot";
import type { HookPointKind, HookPointModules } from "../nn/hooks.ts";
import type { Module } from "../nn/module.ts";
import { PluginConfigError } from "./errors.ts";

/** The hook-point kinds a plugin can target (core/nn/hooks.ts). */
export type TargetKind = HookPointKind;
/** "ffn": the old name of "feed-forward", still accepted. */
export type LegacyTargetKind = "ffn";

/** Which modules a plugin applies to (see the file comment). */
export interface TargetSpec {
  readonly targets: readonly string[] | { readonly regex: string };
  readonly layers?: readonly number[];
  readonly stacks?: readonly ("encoder" | "decoder")[];
}

/** One matched hook point: its HF dotted path, its kind, and the module typed by that kind. */
export type HookTarget<K extends TargetKind = TargetKind> = {
  readonly [P in K]: { readonly path: string; readonly kind: P; readonly module: HookPointModules[P] };
}[K];

/** A matched module of any type (the shape before hook-point kinds were typed; HookTarget is assignable). */
export interface Target<M extends Module = Module> {
  /** HF dotted path, e.g. encoder.block.0.layer.0.SelfAttention.q */
  readonly path: string;
  readonly module: M;
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
export function targetFields(defaultTargets: readonly string[] | { readonly regex: string }): TargetFieldSchemas {
  const copy = () => (Array.isArray(defaultTargets) ? [...(defaultTargets as readonly string[])] : { regex: (defaultTargets as { regex: string }).regex });
  return { targets: v.optional(targetsSchema, copy), layers: layersSchema, stacks: stacksSchema };
}

const KIND_NAMES: Record<TargetKind | "other", string> = {
  linear: "a Linear layer",
  attention: 'an attention block (hook point "attention")',
  "feed-forward": 'a feed-forward block (hook point "feed-forward")',
  "layer-norm": "a layer norm",
  embedding: "an embedding",
  other: "a container module",
};

const canonical = (kind: TargetKind | LegacyTargetKind): TargetKind => (kind === "ffn" ? "feed-forward" : kind);

/** Whether `path` lies in the spec's `layers` (block indices) and `stacks`. */
export function inScope(path: string, spec: Pick<TargetSpec, "layers" | "stacks">): boolean {
  const block = /\.block\.(\d+)\./.exec(`${path}.`);
  if (spec.layers && (!block || !spec.layers.includes(Number(block[1])))) return false;
  const stack = path.split(".")[0] as "encoder" | "decoder";
  return !spec.stacks || spec.stacks.includes(stack);
}

function checkSpec(spec: TargetSpec, plugin: string): void {
  // The schema checks these; a plugin may also call ctx.targets with a spec of its own making.
  const targets = spec?.targets as unknown;
  if (Array.isArray(targets)) {
    if (targets.length === 0) throw PluginConfigError.of(plugin, "targets", `[] names no module: give at least one name (e.g. ["q", "v"]) or { regex }`);
    const bad = targets.findIndex((t) => typeof t !== "string" || t === "");
    if (bad >= 0) throw PluginConfigError.of(plugin, `targets.${bad}`, `expected a non-empty module name, got ${JSON.stringify(targets[bad]) ?? String(targets[bad])}`);
  } else if (typeof targets !== "object" || targets === null || typeof (targets as { regex?: unknown }).regex !== "string") {
    throw PluginConfigError.of(plugin, "targets", `expected an array of module names or { regex: string }, got ${JSON.stringify(targets) ?? String(targets)}`);
  } else {
    const problem = regexError((targets as { regex: string }).regex);
    if (problem !== null) throw PluginConfigError.of(plugin, "targets.regex", `${JSON.stringify((targets as { regex: string }).regex)} does not compile: ${problem}`);
  }
}

/**
 * The hook points of `model` that `spec` names, in module-tree order, each of one of `kinds`. A name that
 * matches nothing, a regex that matches nothing, or a matched module of another kind is a PluginConfigError
 * naming `plugin`.
 */
export function matchTargets<K extends TargetKind>(model: Module, spec: TargetSpec, kinds: K | readonly K[], plugin: string): HookTarget<K>[];
/** @deprecated "ffn" is "feed-forward". */
export function matchTargets(model: Module, spec: TargetSpec, kinds: LegacyTargetKind, plugin: string): HookTarget<"feed-forward">[];
export function matchTargets(model: Module, spec: TargetSpec, kinds: TargetKind | LegacyTargetKind | readonly TargetKind[], plugin: string): HookTarget[] {
  checkSpec(spec, plugin);
  const wanted: TargetKind[] = (typeof kinds === "string" ? [kinds] : [...kinds]).map(canonical);
  const regex = Array.isArray(spec.targets) ? null : new RegExp(`^(?:${(spec.targets as { regex: string }).regex})$`);
  const names = Array.isArray(spec.targets) ? (spec.targets as readonly string[]) : [];
  const hits: HookTarget[] = [];
  const unmatched = new Set(names);
  for (const [path, module] of model.namedModules()) {
    if (!path) continue;
    const name = names.find((n) => path === n || path.endsWith(`.${n}`));
    if (regex ? !regex.test(path) : !name) continue;
    if (!inScope(path, spec)) continue;
    if (name) unmatched.delete(name);
    const actual = module.hookPoint;
    if (actual === null || !wanted.includes(actual)) {
      throw PluginConfigError.of(plugin, "targets", `${path} is ${KIND_NAMES[actual ?? "other"]}, but this plugin attaches to ${wanted.map((k) => KIND_NAMES[k]).join(" or ")}`);
    }
    hits.push({ path, kind: actual, module } as HookTarget);
  }
  const filters = `${spec.layers ? ` in layers [${spec.layers.join(", ")}]` : ""}${spec.stacks ? ` of the ${spec.stacks.join("/")}` : ""}`;
  if (unmatched.size > 0) {
    throw PluginConfigError.of(plugin, "targets", `${[...unmatched].map((n) => `"${n}"`).join(", ")} matches no module${filters} (${hookPointNames(model, wanted)})`);
  }
  if (hits.length === 0) throw PluginConfigError.of(plugin, "targets", `regex /${regex!.source}/ matches no module${filters}`);
  return hits;
}

/** "names of <kinds> here: q, k, …": the last names of the model's hook points of these kinds. */
function hookPointNames(model: Module, kinds: readonly TargetKind[]): string {
  const names = new Set<string>();
  for (const [path, m] of model.namedModules()) if (m.hookPoint && kinds.includes(m.hookPoint)) names.add(path.split(".").at(-1)!);
  const kindText = kinds.map((k) => KIND_NAMES[k].replace(/^an? /, "").replace(/ \(.*\)$/, "")).join(" / ");
  return names.size > 0 ? `${kindText} names in this model: ${[...names].filter((n) => !/^\d+$/.test(n)).join(", ")}` : `this model has no ${kindText} hook point`;
}

/** Every hook point of `model` of these kinds, in module-tree order (no spec: e.g. "every layer norm"). */
export function hookPoints<K extends TargetKind>(model: Module, kinds: K | readonly K[]): HookTarget<K>[] {
  const wanted: readonly TargetKind[] = typeof kinds === "string" ? [kinds] : kinds;
  const out: HookTarget<K>[] = [];
  for (const [path, module] of model.namedModules()) {
    if (path && module.hookPoint && wanted.includes(module.hookPoint)) out.push({ path, kind: module.hookPoint, module } as HookTarget<K>);
  }
  return out;
}
