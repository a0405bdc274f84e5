/**
 * webpeft/testing: the plugin conformance kit. Any PEFT plugin — built in, or written in a user's own
 * project — runs the invariants every method must satisfy (HF PEFT's test matrix, DESIGN.md principle 6)
 * with one call, on any backend and runtime:
 *
 *   await checkPlugin(myPlugin, { configs: { "default": {}, "r=2 on q": { r: 2, targets: ["q"] } } });
 *
 * For each config, on a tiny random T5 (d_model 16, 4 heads of 4, d_ff 24, 2 + 3 layers, vocab 96):
 *   - output at init equals the base model's;
 *   - the trainable-parameter count equals the plugin's countParameters (its formula);
 *   - a few AdamW steps move every adapter parameter and no frozen base weight;
 *   - disabled equals the base (with the base weights the adapter trained, for full fine-tuning);
 *   - merged equals unmerged, and unmerging restores it (mergeable adapters);
 *   - save → load into a fresh model gives bit-identical logits;
 *   - on the float64 CPU reference, the adapter's gradients equal central finite differences.
 * A failed check throws a PluginConformanceError naming the plugin, the config and the check.
 *
 * `conformanceCases` gives the same checks as separate named cases, for a test runner (uvu, node:test,
 * Deno's test runner) to register one test each. Files go to an in-memory FileAccess: nothing touches the disk.
 */
import type { Backend } from "../backend/backend.ts";
import { createCpuBackend } from "../backend/cpu/cpu-backend.ts";
import { taggedError, type TaggedErrorClass } from "../errors.ts";
import { memoryFiles } from "../io/memory-files.ts";
import { parseT5Config } from "../io/t5-config.ts";
import { createT5 } from "../models/t5/load.ts";
import type { T5ForConditionalGeneration, T5Inputs } from "../models/t5/model.ts";
import { AdamW } from "../optim/adamw.ts";
import { loadAdapter, saveAdapter } from "../peft/adapter-files.ts";
import { PeftModel } from "../peft/peft-model.ts";
import { type PeftPlugin, registerPlugin } from "../peft/plugin.ts";
import { noGrad } from "../tensor/autograd.ts";
import type { FloatDType } from "../tensor/dtype.ts";
import { Generator } from "../tensor/random.ts";
import { tidy } from "../tensor/scope.ts";

interface PluginConformanceErrorFields {
  readonly plugin: string;
  readonly check: string;
  readonly message: string;
}
const PluginConformanceErrorBase: TaggedErrorClass<"PluginConformanceError", PluginConformanceErrorFields> = taggedError("PluginConformanceError");
/** A plugin that breaks one of the kit's invariants. */
export class PluginConformanceError extends PluginConformanceErrorBase {
  static of(plugin: string, check: string, problem: string): PluginConformanceError {
    return new PluginConformanceError({ plugin, check, message: `${plugin}: ${check}: ${problem}` });
  }
}

/** The tiny T5 the kit adapts (HF config.json fields). Its weights are HF's random initialisation, seeded. */
export const TINY_T5_CONFIG: Readonly<Record<string, unknown>> = {
  model_type: "t5",
  vocab_size: 96,
  d_model: 16,
  d_kv: 4,
  d_ff: 24,
  num_layers: 2,
  num_decoder_layers: 3,
  num_heads: 4,
  relative_attention_num_buckets: 8,
  relative_attention_max_distance: 20,
  dropout_rate: 0.1,
  layer_norm_epsilon: 1e-6,
  initializer_factor: 1.0,
  feed_forward_proj: "relu",
  tie_word_embeddings: true,
  pad_token_id: 0,
  eos_token_id: 1,
  decoder_start_token_id: 0,
};

/** The batch every check runs (ids < 96; the second row padded; one label ignored). */
export const CONFORMANCE_BATCH: T5Inputs = {
  inputIds: [[58, 89, 61, 50, 23, 68, 1], [49, 6, 24, 24, 1, 0, 0]],
  attentionMask: [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]],
  labels: [[68, 88, 11, 1], [36, 51, 1, -100]],
};

export interface ConformanceOptions {
  /** Configs to check, by label (default `{ default: {} }`: the plugin's defaults). */
  readonly configs?: Readonly<Record<string, unknown>>;
  /** Backends for the float32 checks, by name (default a CPU backend). Gradients are always checked on float64 CPU. */
  readonly backends?: readonly { readonly name: string; readonly backend: Backend }[];
  /** HF config.json fields of the model to adapt (default TINY_T5_CONFIG). */
  readonly modelConfig?: Readonly<Record<string, unknown>>;
  /** AdamW steps before the "training" checks (default 3). */
  readonly steps?: number;
  /** Check gradients against finite differences (default true). */
  readonly gradients?: boolean;
  /** Relative/absolute tolerance of "equals the base" and "merged = unmerged" on float32 (default 1e-5). */
  readonly tolerance?: number;
}

/** One named check, for a test runner. */
export interface ConformanceCase {
  readonly name: string;
  run(): Promise<void>;
}

function tinyModel(options: ConformanceOptions, backend: Backend, dtype: FloatDType): T5ForConditionalGeneration {
  const config = parseT5Config({ ...(options.modelConfig ?? TINY_T5_CONFIG) }, "webpeft/testing model config");
  return createT5(config, { backend, dtype, seed: 1234 }).eval();
}

async function logitsOf(model: { forward: T5ForConditionalGeneration["forward"] }): Promise<Float64Array> {
  const t = noGrad(() => tidy(() => model.forward(CONFORMANCE_BATCH).logits));
  const data = Float64Array.from(await t.data());
  t.dispose();
  return data;
}

async function snapshot(tensors: Iterable<[string, { data(): Promise<ArrayLike<number>> }]>): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [k, t] of tensors) out.set(k, Array.from(await t.data()));
  return out;
}

/** Throws unless |a − b| ≤ atol + rtol·|b| everywhere. */
function expectClose(fail: (problem: string) => never, actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  if (actual.length !== expected.length) fail(`${what}: ${actual.length} values vs ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const b = expected[i]!;
    if (!(Math.abs(a - b) <= tolerance + tolerance * Math.abs(b))) fail(`${what}: value ${i} is ${a}, expected ${b} (tolerance ${tolerance})`);
  }
}

/** The checks on one backend: init, count, training, disabled, merge, save/load. */
async function behaviourChecks(plugin: PeftPlugin<never>, label: string, config: unknown, backend: Backend, options: ConformanceOptions): Promise<void> {
  const title = `${plugin.name} (${label})`;
  const failAt = (check: string) => (problem: string): never => {
    throw PluginConformanceError.of(title, check, problem);
  };
  const tolerance = options.tolerance ?? 1e-5;
  const base = tinyModel(options, backend, "float32");
  const reference = tinyModel(options, backend, "float32");
  const peft = new PeftModel(base);
  let optimizer: AdamW | null = null;
  try {
    const baseLogits = await logitsOf(base);
    const baseWeights = await snapshot(base.uniqueParameters());
    const adapter = peft.addAdapter("conformance", plugin, config, { seed: 1 });
    expectClose(failAt("output at init = base"), await logitsOf(peft), baseLogits, tolerance, "logits");

    const counted = plugin.countParameters(base, adapter.config as never);
    const trainable = peft.parameterCounts().trainable;
    if (trainable !== counted) failAt("parameter count = formula")(`${trainable} trainable parameters, countParameters says ${counted}`);

    const before = await snapshot(adapter.parameters);
    optimizer = new AdamW(peft.trainableParameters().map(([, t]) => t), { lr: 1e-2, weightDecay: 0 });
    peft.train();
    for (let step = 0; step < (options.steps ?? 3); step++) {
      tidy(() => peft.forward(CONFORMANCE_BATCH).loss!.backward());
      optimizer.step();
      optimizer.zeroGrad();
    }
    peft.eval();
    for (const [path, values] of await snapshot(adapter.parameters)) {
      const old = before.get(path)!;
      if (!values.some((x, i) => x !== old[i])) failAt("training moves every adapter parameter")(`${path} did not change in ${options.steps ?? 3} AdamW steps (no gradient reaches it?)`);
    }
    const trainedBase = new Set(adapter.trainedBase);
    for (const [path, t] of base.uniqueParameters()) {
      if (trainedBase.has(t)) continue;
      const now = Array.from(await t.data());
      if (now.some((x, i) => x !== baseWeights.get(path)![i])) failAt("training leaves frozen weights alone")(`base weight ${path} changed`);
    }
    const trainedLogits = await logitsOf(peft);

    peft.disable();
    const referenceParameters = new Map(reference.uniqueParameters());
    for (const [path, t] of base.uniqueParameters()) {
      if (trainedBase.has(t)) backend.upload(referenceParameters.get(path)!.bufferFor("webpeft/testing"), await t.data());
    }
    expectClose(failAt("disabled = base"), await logitsOf(peft), await logitsOf(reference), tolerance, "logits");
    peft.enable();
    expectClose(failAt("enabled again = trained"), await logitsOf(peft), trainedLogits, tolerance, "logits");

    if (adapter.mergeable) {
      peft.merge();
      expectClose(failAt("merged = unmerged"), await logitsOf(peft), trainedLogits, tolerance, "logits");
      peft.unmerge();
      expectClose(failAt("unmerge restores"), await logitsOf(peft), trainedLogits, tolerance, "logits");
    }

    const fs = memoryFiles();
    await saveAdapter(peft, "/adapter", { fs, adapter: "conformance" });
    const fresh = new PeftModel(tinyModel(options, backend, "float32"));
    try {
      await loadAdapter(fresh, "/adapter", { fs, name: "conformance", plugin });
      const loaded = await logitsOf(fresh);
      const i = loaded.findIndex((x, k) => x !== trainedLogits[k]);
      if (i >= 0) failAt("save → load is bit-identical")(`logit ${i} is ${loaded[i]} after loading, ${trainedLogits[i]} before saving`);
    } finally {
      fresh.dispose();
      fresh.base.dispose();
    }
  } finally {
    optimizer?.dispose();
    peft.dispose();
    base.dispose();
    reference.dispose();
  }
}

/** ∂loss/∂p of the adapter's parameters (and base weights it trains) against central differences, float64. */
async function gradientCheck(plugin: PeftPlugin<never>, label: string, config: unknown, options: ConformanceOptions): Promise<void> {
  const title = `${plugin.name} (${label})`;
  const backend = createCpuBackend({ float64: true });
  const model = tinyModel(options, backend, "float64");
  const peft = new PeftModel(model);
  try {
    const adapter = peft.addAdapter("conformance", plugin, config, { seed: 2 });
    // random adapter values, so that no gradient is trivially zero (B = 0 at init would hide A's)
    const g = new Generator(3);
    for (const [, t] of adapter.parameters) backend.upload(t.bufferFor("webpeft/testing"), Float64Array.from({ length: t.size }, () => 0.3 * g.normal()));
    const lossOf = () => noGrad(() => tidy(() => peft.forward(CONFORMANCE_BATCH).loss!));
    const loss = tidy(() => peft.forward(CONFORMANCE_BATCH).loss!);
    loss.backward();
    loss.dispose();
    const pick = new Generator(5);
    const checked = [...adapter.parameters, ...model.uniqueParameters().filter(([, p]) => adapter.trainedBase.has(p))].slice(0, 12);
    for (const [path, t] of checked) {
      if (!t.grad) throw PluginConformanceError.of(title, "gradients = finite differences", `${path} got no gradient`);
      const values = Float64Array.from(await t.data());
      const grad = await t.grad.data();
      for (let sample = 0; sample < 3; sample++) {
        const k = Math.floor(pick.uniform() * values.length);
        const eps = 1e-6;
        const bump = (delta: number) => {
          const copy = Float64Array.from(values);
          copy[k] = values[k]! + delta;
          backend.upload(t.bufferFor("webpeft/testing"), copy);
        };
        bump(eps);
        const up = lossOf();
        const upValue = await up.item();
        up.dispose();
        bump(-eps);
        const down = lossOf();
        const downValue = await down.item();
        down.dispose();
        bump(0);
        const numeric = (upValue - downValue) / (2 * eps);
        if (!(Math.abs(numeric - grad[k]!) <= 1e-6 + 1e-5 * Math.abs(numeric))) {
          throw PluginConformanceError.of(title, "gradients = finite differences", `d loss / d ${path}[${k}] = ${grad[k]}, finite difference ${numeric}`);
        }
      }
    }
  } finally {
    peft.dispose();
    model.dispose();
  }
}

/**
 * The kit's checks as named cases: per config, one behaviour case per backend and one gradient case.
 * The plugin is registered (adapter files name it), so a case can load what it saved.
 */
export function conformanceCases<C>(plugin: PeftPlugin<C>, options: ConformanceOptions = {}): ConformanceCase[] {
  const p = registerPlugin(plugin) as unknown as PeftPlugin<never>;
  const configs = options.configs ?? { default: {} };
  const backends = options.backends ?? [{ name: "cpu", backend: createCpuBackend() }];
  const cases: ConformanceCase[] = [];
  for (const [label, config] of Object.entries(configs)) {
    for (const { name, backend } of backends) {
      cases.push({
        name: `${plugin.name} (${label}) on ${name}: init = base, count = formula, training moves only the adapter, disabled = base, merge, save/load`,
        run: () => behaviourChecks(p, label, config, backend, options),
      });
    }
    if (options.gradients ?? true) {
      cases.push({ name: `${plugin.name} (${label}): gradients = finite differences (float64 CPU)`, run: () => gradientCheck(p, label, config, options) });
    }
  }
  return cases;
}

export interface ConformanceReport {
  /** Names of the cases that ran, all passed. */
  readonly passed: readonly string[];
  readonly seconds: number;
}

/** Runs every conformance case of `plugin`; throws the first PluginConformanceError (or plugin error). */
export async function checkPlugin<C>(plugin: PeftPlugin<C>, options: ConformanceOptions = {}): Promise<ConformanceReport> {
  const started = performance.now();
  const passed: string[] = [];
  for (const c of conformanceCases(plugin, options)) {
    await c.run();
    passed.push(c.name);
  }
  return { passed, seconds: (performance.now() - started) / 1000 };
}

export { memoryFiles };
