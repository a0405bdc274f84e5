/**
 * The `webpeft` command tree, the same on Node and Deno (runners/node/cli.ts and runners/deno/cli.ts run
 * it with the host's platform layer):
 *   train    fine-tune T5 on a GLUE task with a PEFT method (no arguments: the embedded demo)
 *   eval     metrics and a predictions file for a model (+ adapter) on a task split
 *   merge    fold a mergeable adapter into the base weights and write an HF checkpoint
 *   info     the compute backend, its limits and a self-check; or a model's config and parameter counts
 *   methods  the PEFT methods and their parameter formulas
 *   sweep    a GLUE sweep (tasks × methods × seeds) on Effect's cluster; `sweep status` shows its runs
 *   worker   a cluster runner that trains a sweep's runs (one per GPU host)
 */
import { Console, Effect, Option } from "effect";
import { Argument, Command, Flag } from "effect/cli";
import type { Backend } from "../../core/backend/backend.ts";
import type { WebGPUBackend } from "../../core/backend/webgpu/webgpu-backend.ts";
import { detectRuntime } from "../../core/runtime.ts";
import { createBackend } from "../host.ts";
import { selfCheck } from "../self-check.ts";
import { defaultCacheDir, loadT5 } from "../api.ts";
import { hostFiles } from "../host-files.ts";
import { trainCommand, evalCommand, mergeCommand } from "./train-commands.ts";
import { sweepCommand, workerCommand } from "../sweep/commands.ts";
import { resolveModelDir } from "../../core/io/hub.ts";
import { readT5Config } from "../../core/io/t5-config.ts";
import { t5Skeleton } from "../../core/models/t5/load.ts";
import { getPlugin, parsePluginConfig, registeredPlugins } from "../../core/peft/plugin.ts";
import "../../plugins/mod.ts";
import { backendFlag, jsonFlag } from "./flags.ts";
import type { T5ForConditionalGeneration } from "../../core/models/t5/model.ts";

const LIMITS = ["maxBufferSize", "maxStorageBufferBindingSize", "maxComputeWorkgroupStorageSize", "maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupsPerDimension"] as const;

interface BackendDescription {
  readonly backend: string;
  readonly adapter?: Readonly<Record<string, string>>;
  /** 0 when the kernels run without subgroup operations */
  readonly subgroupSize?: number;
  readonly limits?: Readonly<Record<string, number>>;
}

function describe(backend: Backend): BackendDescription {
  const gpu = backend as Partial<WebGPUBackend>;
  if (!gpu.device) return { backend: backend.name };
  const limits = Object.fromEntries(LIMITS.map((k) => [k, gpu.device!.limits[k]]));
  return { backend: backend.name, adapter: gpu.adapterInfo ?? {}, subgroupSize: gpu.features?.subgroupSize ?? 0, limits };
}

const modelArgument = Argument.String("model").pipe(
  Argument.withDescription("A Hugging Face T5 directory or hub id (e.g. google-t5/t5-small): print its config and parameter counts"),
  Argument.optional,
);

/** Config summary and parameter counts of a loaded T5, grouped by top-level part. */
function modelReport(source: string, model: T5ForConditionalGeneration) {
  const c = model.config;
  const groups: Record<string, number> = {};
  for (const [name, t] of model.uniqueParameters()) {
    const group = name.startsWith("shared") ? "shared embedding" : name.startsWith("lm_head") ? "lm_head" : name.split(".")[0]!;
    groups[group] = (groups[group] ?? 0) + t.size;
  }
  return {
    source,
    config: {
      vocabSize: c.vocabSize, dModel: c.dModel, dKv: c.dKv, dFf: c.dFf, numHeads: c.numHeads,
      numLayers: c.numLayers, numDecoderLayers: c.numDecoderLayers, feedForwardProj: c.feedForwardProj,
      tieWordEmbeddings: c.tieWordEmbeddings, relativeAttention: `${c.relativeAttentionNumBuckets} buckets, max distance ${c.relativeAttentionMaxDistance}`,
    },
    parameters: { total: model.parameterCount(), ...groups },
  };
}

const methodFlag = Flag.String("method").pipe(
  Flag.withDescription("With a model: count the trainable parameters this PEFT method adds (see `webpeft methods`)"),
  Flag.optional,
);
const configFlag = Flag.String("config").pipe(
  Flag.withDescription('The method\'s config as JSON, e.g. \'{"r": 8, "targets": ["q", "v"]}\' (defaults otherwise)'),
  Flag.withDefault("{}"),
);

/** Trainable parameters of a PEFT method on a model, from its config.json alone (no weights loaded). */
async function methodReport(source: string, method: string, rawConfig: string) {
  const fs = await hostFiles();
  const dir = await resolveModelDir(fs, source, { cacheDir: defaultCacheDir() });
  const model = t5Skeleton(await readT5Config(fs, fs.join(dir, "config.json")));
  const plugin = getPlugin(method);
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawConfig);
  } catch (e) {
    throw new Error(`--config is not valid JSON: ${(e as Error).message}`);
  }
  const config = parsePluginConfig(plugin, parsed);
  const trainable = plugin.countParameters(model, config);
  const base = model.parameterCount();
  return { source, method, config, formula: plugin.parameterFormula, trainable, base, percentOfBase: (100 * trainable) / base };
}

const info = Command.make(
  "info",
  { backend: backendFlag, json: jsonFlag, model: modelArgument, method: methodFlag, config: configFlag },
  Effect.fn(function* ({ backend: name, json, model: modelSource, method, config }) {
    if (Option.isSome(method)) {
      if (Option.isNone(modelSource)) return yield* Effect.fail(new Error("--method needs a model (a directory or hub id) to count on"));
      const report = yield* Effect.tryPromise({ try: () => methodReport(modelSource.value, method.value, config), catch: (e) => e as Error });
      if (json) return yield* Console.log(JSON.stringify(report));
      yield* Console.log(`model        ${report.source}`);
      yield* Console.log(`method       ${report.method}  ${JSON.stringify(report.config)}`);
      yield* Console.log(`formula      ${report.formula}`);
      yield* Console.log(`trainable    ${report.trainable.toLocaleString("en-US")} parameters = ${report.percentOfBase.toPrecision(3)} % of the base model's ${report.base.toLocaleString("en-US")}`);
      return;
    }
    const backend = yield* Effect.tryPromise({ try: () => createBackend(name), catch: (e) => e as Error });
    if (Option.isSome(modelSource)) {
      const source = modelSource.value;
      const model = yield* Effect.tryPromise({
        try: () =>
          loadT5(source, {
            backend,
            onProgress: (file, received, total) => {
              if (!json) process.stderr.write(`\rdownloading ${file}: ${(received / 2 ** 20).toFixed(1)}${total ? ` / ${(total / 2 ** 20).toFixed(1)}` : ""} MiB`);
            },
          }),
        catch: (e) => e as Error,
      });
      const report = modelReport(source, model);
      model.dispose();
      backend.dispose();
      if (json) return yield* Console.log(JSON.stringify(report));
      yield* Console.log(`model        ${report.source}`);
      for (const [k, v] of Object.entries(report.config)) yield* Console.log(`  ${k.padEnd(20)} ${v}`);
      yield* Console.log("parameters");
      for (const [k, v] of Object.entries(report.parameters)) yield* Console.log(`  ${k.padEnd(20)} ${v.toLocaleString("en-US")}`);
      return;
    }
    const check = yield* Effect.tryPromise({ try: () => selfCheck(backend), catch: (e) => e as Error });
    const d = describe(backend);
    backend.dispose();
    const report = { runtime: detectRuntime(), node: process.versions.node, ...d, selfCheck: check };
    if (json) return yield* Console.log(JSON.stringify(report));
    yield* Console.log(`runtime      ${report.runtime} ${report.node}`);
    yield* Console.log(`backend      ${report.backend}`);
    if (d.adapter) yield* Console.log(`adapter      ${Object.values(d.adapter).join(" / ")}`);
    if (d.adapter) yield* Console.log(`subgroups    ${d.subgroupSize ? `size ${d.subgroupSize} (subgroup matmul kernels)` : "not used (fallback kernels)"}`);
    for (const [k, v] of Object.entries(d.limits ?? {})) yield* Console.log(`  ${k.padEnd(36)} ${v}`);
    yield* Console.log(
      `self-check   loss ${check.loss.toFixed(6)}, max relative error vs float64 ${check.maxRelativeError.toExponential(2)}, ${check.milliseconds.toFixed(0)} ms`,
    );
  }),
).pipe(Command.withDescription("Show the compute backend, its limits, and check it against the CPU reference"));

const methods = Command.make(
  "methods",
  { json: jsonFlag },
  Effect.fn(function* ({ json }) {
    const list = registeredPlugins().map((p) => ({ name: p.name, description: p.description, formula: p.parameterFormula, formats: (p.formats ?? []).map((f) => f.peftType) }));
    if (json) return yield* Console.log(JSON.stringify(list));
    for (const p of list) {
      yield* Console.log(`${p.name.padEnd(10)} ${p.description}`);
      yield* Console.log(`${"".padEnd(10)} parameters: ${p.formula}${p.formats.length ? `; adapter files: ${p.formats.join(", ")}` : ""}`);
    }
  }),
).pipe(Command.withDescription("List the PEFT methods (plugins) and their trainable-parameter formulas"));

export const webpeft = Command.make("webpeft").pipe(
  Command.withDescription("Parameter-efficient fine-tuning of T5 on WebGPU (KronA, LoRA, adapters, Compacter, BitFit)"),
  Command.withSubcommands([trainCommand, evalCommand, mergeCommand, info, methods, sweepCommand, workerCommand]),
);

/** Runs the command line (`args` without the runtime and script) and sets the exit code on failure. */
export const runWebpeft = (version: string) =>
  webpeft.pipe(
    Command.run({ version }),
    // Typed engine errors carry a complete message (what failed, and what to do): print it, exit 1.
    Effect.catch((e) =>
      Effect.sync(() => {
        // effect/cli has already printed usage errors together with the help text
        if ((e as { _tag?: string })._tag !== "ShowHelp") console.error(`webpeft: ${(e as Error).message ?? String(e)}`);
        (globalThis as { process?: { exitCode?: number } }).process!.exitCode = 1;
      }),
    ),
  );
