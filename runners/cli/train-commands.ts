/**
 * `webpeft train`, `webpeft eval` and `webpeft merge`. `train` runs the loop of core/train as an Effect
 * program with this host's services: the backend of `--backend`, the host's files, and a progress sink
 * (a live bar on a terminal, plain lines otherwise, JSON lines with `--json`).
 */
import { Effect, Option } from "effect";
import { Command, Flag } from "effect/cli";
import type { Backend } from "../../core/backend/backend.ts";
import type { FileAccess } from "../../core/io/files.ts";
import { resolveModelDir } from "../../core/io/hub.ts";
import { readT5Config } from "../../core/io/t5-config.ts";
import { t5Skeleton } from "../../core/models/t5/load.ts";
import { formatForPeftType, getPlugin } from "../../core/peft/plugin.ts";
import { PeftModel } from "../../core/peft/peft-model.ts";
import { loadAdapter } from "../../core/peft/adapter-files.ts";
import { loadT5, saveT5 } from "../../core/models/t5/load.ts";
import { TRAINER_STATE } from "../../core/train/checkpoint.ts";
import { type TrainConfigInput, parseTrainConfig } from "../../core/train/config.ts";
import { TrainConfigError } from "../../core/train/errors.ts";
import type { TrainEvent } from "../../core/train/events.ts";
import { trainProgram } from "../../core/train/loop.ts";
import { createProgressPrinter } from "../../core/train/progress.ts";
import { resultsTable } from "../../core/train/report.ts";
import { trainServices } from "../../core/train/services.ts";
import { evaluateWith } from "../../core/train/api.ts";
import { demoModelDir, demoTrainConfig, prepareDemoData } from "../demo/demo.ts";
import { defaultCacheDir } from "../api.ts";
import { type BackendName, createBackend } from "../host.ts";
import { hostFiles } from "../host-files.ts";
import { hostOutput } from "../host-output.ts";
import { backendFlag, jsonFlag } from "./flags.ts";

const optionalString = (name: string, description: string) => Flag.String(name).pipe(Flag.withDescription(description), Flag.optional);
const optionalInt = (name: string, description: string) => Flag.Int(name).pipe(Flag.withDescription(description), Flag.optional);
const optionalNumber = (name: string, description: string) => Flag.Finite(name).pipe(Flag.withDescription(description), Flag.optional);

const trainFlags = {
  model: optionalString("model", "A Hugging Face T5 directory or hub id (default: the small T5 shipped with webpeft)"),
  task: optionalString("task", "GLUE task: cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli (with --data; neither: the demo)"),
  data: optionalString("data", "Folder of GLUE task folders (SST-2/train.tsv, …) or HF parquet/JSONL files"),
  method: optionalString("method", "PEFT method (see `webpeft methods`; default krona)"),
  methodConfig: optionalString("method-config", "The method's config: JSON, a JSON file, or an HF PEFT adapter_config.json (LoRA, LoKr) or its folder"),
  epochs: optionalNumber("epochs", "Passes over the training split (default 3; ignored with --max-steps)"),
  maxSteps: optionalInt("max-steps", "Optimizer steps to run (overrides --epochs)"),
  batchSize: optionalInt("batch-size", "Examples per micro-batch (default 16)"),
  gradientAccumulation: optionalInt("gradient-accumulation", "Micro-batches per optimizer step (default 1)"),
  lr: optionalNumber("lr", "Peak learning rate of AdamW (default 1e-3)"),
  schedule: Flag.Literals("schedule", ["linear", "constant"]).pipe(Flag.withDescription("Learning-rate schedule after warm-up (default linear decay to 0)"), Flag.optional),
  warmup: optionalNumber("warmup", "Warm-up: a fraction of the steps when < 1, else a number of steps (default 0)"),
  weightDecay: optionalNumber("weight-decay", "AdamW's decoupled weight decay (default 0)"),
  maxGradNorm: optionalNumber("max-grad-norm", "Clip the global gradient norm to this (default 1; 0: no clipping)"),
  padToMultipleOf: optionalInt("pad-to-multiple-of", "Pad training batches' lengths to a multiple of this: fewer batch shapes, more replayed steps (default 1: the longest sequence; try 8 on a real GPU)"),
  captureSteps: optionalInt("capture-steps", "Steps kept for replay on WebGPU, one per batch shape (default 4; 0: run every step as written)"),
  seed: optionalInt("seed", "Seed of the data order, adapter initialisation and dropout (default 42)"),
  evalEvery: optionalInt("eval-every", "Evaluate every N steps and at the end (default: 5 times per run; 0: only at the end)"),
  checkpointEvery: optionalInt("checkpoint-every", "Write a resumable checkpoint every N steps (default: at each evaluation)"),
  earlyStopping: optionalInt("early-stopping", "Stop after N evaluations without improvement of the task's main metric"),
  maxTrainExamples: optionalInt("max-train-examples", "Use only the first N training examples"),
  maxEvalExamples: optionalInt("max-eval-examples", "Evaluate on the first N examples of the eval split"),
  evalBatchSize: optionalInt("eval-batch-size", "Examples per decoding batch (default 64)"),
  out: optionalString("out", "Output folder (default runs/<task>-<method>-<time>)"),
  backend: backendFlag,
  resume: Flag.Boolean("resume").pipe(Flag.withDescription("Continue the run in --out from its checkpoint"), Flag.withDefault(false)),
  json: jsonFlag,
};

type Flags = { readonly [K in keyof typeof trainFlags]: (typeof trainFlags)[K] extends Flag.Flag<infer A> ? A : never };

const value = <A>(o: Option.Option<A>): A | undefined => (Option.isSome(o) ? o.value : undefined);

function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * `--method-config`: inline JSON, a JSON file, or an HF PEFT adapter_config.json (or its folder), whose
 * `peft_type` picks the method and whose HF field names (r, lora_alpha, target_modules…) are translated.
 */
export async function readMethodConfig(fs: FileAccess, raw: string, method: string | undefined, modelDir: string): Promise<{ method: string | undefined; config: Record<string, unknown> }> {
  let text = raw.trim();
  let source = "--method-config";
  if (!text.startsWith("{")) {
    const stat = await fs.stat(text);
    if (!stat) throw TrainConfigError.of("method-config", `"${raw}" is neither JSON (it does not start with "{") nor an existing file or folder`);
    const path = stat.isDirectory ? fs.join(text, "adapter_config.json") : text;
    source = path;
    text = await fs.readText(path);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw TrainConfigError.of("method-config", `${source} is not valid JSON: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw TrainConfigError.of("method-config", `${source} must hold a JSON object`);
  const object = json as Record<string, unknown>;
  if (typeof object.peft_type !== "string") return { method, config: object };
  // An HF PEFT adapter_config.json: its format (LORA → lora, LOKR → krona) translates the field names.
  const found = formatForPeftType(object.peft_type);
  if (!found) throw TrainConfigError.of("method-config", `${source}: peft_type "${object.peft_type}" is not one webpeft reads (LORA, LOKR)`);
  if (method !== undefined && method !== found.plugin.name) {
    throw TrainConfigError.of("method", `--method ${method} does not match ${source}, whose peft_type ${object.peft_type} is the ${found.plugin.name} method`);
  }
  const skeleton = t5Skeleton(await readT5Config(fs, fs.join(modelDir, "config.json")));
  return { method: found.plugin.name, config: found.format.fromAdapterConfig(object, skeleton) as Record<string, unknown> };
}

/** The run's options from the flags (the demo's when neither --task nor --data is given). */
async function trainOptions(flags: Flags, fs: FileAccess): Promise<{ config: TrainConfigInput; demo: boolean }> {
  const task = value(flags.task);
  const data = value(flags.data);
  const demo = task === undefined && data === undefined;
  if (!demo && (task === undefined || data === undefined)) {
    throw TrainConfigError.of(task === undefined ? "task" : "data", "give both --task and --data (or neither, for the demo on a synthetic sentiment task)");
  }
  const model = value(flags.model) ?? (await demoModelDir(fs));
  let out = value(flags.out);
  if (out === undefined) {
    if (flags.resume) throw TrainConfigError.of("out", "--resume needs --out: the folder of the run to continue");
    out = fs.join("runs", demo ? `demo-${timestamp()}` : `${task}-${value(flags.method) ?? "krona"}-${timestamp()}`);
  }
  const base: TrainConfigInput = demo ? demoTrainConfig(model, await prepareDemoData(fs, fs.join(out, "data")), out) : { model, task: task!, data: data!, out };
  const modelDir = await resolveModelDir(fs, model, { cacheDir: defaultCacheDir() });
  const methodConfig = value(flags.methodConfig);
  const method = value(flags.method);
  const parsed = methodConfig !== undefined ? await readMethodConfig(fs, methodConfig, method, modelDir) : { method, config: undefined };
  const config: TrainConfigInput = {
    ...base,
    model,
    ...(parsed.method !== undefined ? { method: parsed.method } : {}),
    ...(parsed.config !== undefined ? { methodConfig: parsed.config } : {}),
    epochs: value(flags.epochs),
    maxSteps: value(flags.maxSteps) ?? (value(flags.epochs) !== undefined ? undefined : base.maxSteps),
    batchSize: value(flags.batchSize) ?? base.batchSize,
    gradientAccumulation: value(flags.gradientAccumulation),
    lr: value(flags.lr) ?? base.lr,
    schedule: value(flags.schedule),
    warmup: value(flags.warmup) ?? base.warmup,
    weightDecay: value(flags.weightDecay),
    maxGradNorm: value(flags.maxGradNorm),
    captureSteps: value(flags.captureSteps),
    padToMultipleOf: value(flags.padToMultipleOf),
    seed: value(flags.seed) ?? base.seed,
    evalEvery: value(flags.evalEvery) ?? base.evalEvery,
    checkpointEvery: value(flags.checkpointEvery),
    earlyStoppingPatience: value(flags.earlyStopping),
    maxTrainExamples: value(flags.maxTrainExamples),
    maxEvalExamples: value(flags.maxEvalExamples),
    evalBatchSize: value(flags.evalBatchSize),
    resume: flags.resume,
  } as TrainConfigInput;
  parseTrainConfig(config); // every option checked before anything is loaded
  // Never overwrite a run: a folder with a checkpoint is continued with --resume or left alone.
  if (!flags.resume && (await fs.exists(fs.join(out, "checkpoint", TRAINER_STATE)))) {
    throw TrainConfigError.of("out", `${out} holds a run already (it has a checkpoint): pass --resume to continue it, or choose another --out`);
  }
  return { config, demo };
}

export const trainCommand = Command.make(
  "train",
  trainFlags,
  Effect.fn(function* (flags) {
    const output = hostOutput();
    const fs = yield* Effect.tryPromise({ try: () => hostFiles(), catch: (e) => e as Error });
    const { config, demo } = yield* Effect.tryPromise({ try: () => trainOptions(flags as Flags, fs), catch: (e) => e as Error });
    const backend: Backend = yield* Effect.tryPromise({ try: () => createBackend(flags.backend as BackendName), catch: (e) => e as Error });
    const mode = flags.json ? "json" : output.isTerminal ? "tty" : "lines";
    const print = createProgressPrinter({ mode, write: output.write, columns: output.columns });
    if (demo && !flags.json) {
      output.write(`webpeft demo: fine-tuning the shipped small T5 with KronA on a synthetic sentiment task (SST-2's file format), on ${backend.name}.\n`);
      output.write(`Your own run: webpeft train --model <dir|hub id> --task <glue task> --data <glue dir> --method <method>\n\n`);
    }
    const events: TrainEvent[] = [];
    const onEvent = (event: TrainEvent) => {
      events.push(event);
      print(event);
    };
    const result = yield* trainProgram(config).pipe(
      Effect.provide(trainServices({ backend, fs, hub: { cacheDir: defaultCacheDir() }, onEvent })),
      Effect.ensuring(Effect.sync(() => backend.dispose())),
    );
    if (!flags.json) {
      output.write(`\n${resultsTable(events)}\n`);
      output.write(`adapter      ${result.adapterDir}${result.bestDir ? `   (best: ${result.bestDir})` : ""}\n`);
      output.write(`report       ${fs.join(result.out, "report.html")}\n`);
      output.write(`resume with  --resume --out ${result.out}\n`);
    }
  }),
).pipe(Command.withDescription("Fine-tune T5 on a GLUE task with a PEFT method (no arguments: a demo that learns in a few minutes)"));

export const evalCommand = Command.make(
  "eval",
  {
    model: optionalString("model", "A Hugging Face T5 directory or hub id (default: the shipped small T5)"),
    adapter: optionalString("adapter", "Adapter folder (adapter_config.json + adapter_model.safetensors; webpeft's or HF PEFT's)"),
    task: Flag.String("task").pipe(Flag.withDescription("GLUE task")),
    data: Flag.String("data").pipe(Flag.withDescription("Folder of GLUE task folders")),
    split: optionalString("split", "Split to score (default validation; validation_matched for MNLI)"),
    batchSize: optionalInt("batch-size", "Examples per decoding batch (default 64)"),
    maxExamples: optionalInt("max-examples", "Only the first N examples"),
    predictions: optionalString("predictions", "Write the predictions here (TSV: index, prediction)"),
    backend: backendFlag,
    json: jsonFlag,
  },
  Effect.fn(function* (flags) {
    const output = hostOutput();
    const fs = yield* Effect.tryPromise({ try: () => hostFiles(), catch: (e) => e as Error });
    const backend = yield* Effect.tryPromise({ try: () => createBackend(flags.backend as BackendName), catch: (e) => e as Error });
    const result = yield* Effect.tryPromise({
      try: async () => {
        const model = value(flags.model) ?? (await demoModelDir(fs));
        return evaluateWith(
          {
            model,
            task: flags.task,
            data: flags.data,
            ...(Option.isSome(flags.adapter) ? { adapter: flags.adapter.value } : {}),
            ...(Option.isSome(flags.split) ? { split: flags.split.value } : {}),
            ...(Option.isSome(flags.batchSize) ? { batchSize: flags.batchSize.value } : {}),
            ...(Option.isSome(flags.maxExamples) ? { maxExamples: flags.maxExamples.value } : {}),
          },
          { backend, fs, hub: { cacheDir: defaultCacheDir() } },
        );
      },
      catch: (e) => e as Error,
    }).pipe(Effect.ensuring(Effect.sync(() => backend.dispose())));
    if (Option.isSome(flags.predictions)) {
      const lines = ["index\tprediction", ...result.predictions.map((p, i) => `${result.idx[i]}\t${p.replace(/[\t\n]/g, " ")}`)];
      yield* Effect.tryPromise({ try: () => fs.writeAtomic(flags.predictions.pipe(Option.getOrThrow), [new TextEncoder().encode(lines.join("\n") + "\n")]), catch: (e) => e as Error });
    }
    const summary = { task: result.task, split: result.split, examples: result.examples, metrics: result.metrics, mainMetric: result.mainMetric, score: result.score };
    if (flags.json) return output.write(JSON.stringify(summary) + "\n");
    output.write(`task         ${result.task} (${result.split}, ${result.examples} examples)\n`);
    for (const [metric, v] of Object.entries(result.metrics)) output.write(`${metric.padEnd(12)} ${v.toFixed(4)}\n`);
    if (Option.isSome(flags.predictions)) output.write(`predictions  ${flags.predictions.value}\n`);
  }),
).pipe(Command.withDescription("Score a model (and an adapter) on a GLUE split and write its predictions"));

export const mergeCommand = Command.make(
  "merge",
  {
    model: optionalString("model", "The base model the adapter was trained on (default: the shipped small T5)"),
    adapter: Flag.String("adapter").pipe(Flag.withDescription("Adapter folder of a mergeable method (KronA, LoRA)")),
    out: Flag.String("out").pipe(Flag.withDescription("Folder for the merged HF checkpoint (config.json, model.safetensors, tokenizer files)")),
    backend: backendFlag,
  },
  Effect.fn(function* (flags) {
    const output = hostOutput();
    yield* Effect.tryPromise({
      try: async () => {
        const fs = await hostFiles();
        const backend = await createBackend(flags.backend as BackendName);
        try {
          const model = value(flags.model) ?? (await demoModelDir(fs));
          const modelDir = await resolveModelDir(fs, model, { cacheDir: defaultCacheDir() });
          const base = await loadT5(modelDir, { backend, fs, cacheDir: defaultCacheDir() });
          const peft = new PeftModel(base);
          const adapter = await loadAdapter(peft, flags.adapter, { fs });
          if (!adapter.mergeable) throw TrainConfigError.of("adapter", `${flags.adapter} is a ${adapter.plugin.name} adapter, which cannot be merged into the weights (KronA and LoRA can)`);
          const merged = peft.mergeAndUnload();
          await saveT5(merged, flags.out, fs);
          // The tokenizer travels with the weights, so the merged folder is a complete model.
          for (const file of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "spiece.model"]) {
            const from = fs.join(modelDir, file);
            if (!(await fs.exists(from))) continue;
            const f = await fs.open(from);
            try {
              await fs.writeAtomic(fs.join(flags.out, file), [await f.read(0, f.size)]);
            } finally {
              await f.close();
            }
          }
          merged.dispose();
          output.write(`merged ${adapter.plugin.name} adapter ${flags.adapter} into ${modelDir}: ${flags.out}\n`);
        } finally {
          backend.dispose();
        }
      },
      catch: (e) => e as Error,
    });
  }),
).pipe(Command.withDescription("Merge a KronA or LoRA adapter into the base weights and write an HF checkpoint"));

export { getPlugin };
