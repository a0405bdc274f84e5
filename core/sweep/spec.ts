/**
 * A sweep: GLUE tasks × PEFT methods × learning rates × seeds, each combination one fine-tuning run of
 * the ordinary training loop (core/train). This file validates a sweep file's contents (JSON or YAML,
 * parsed by the caller) and expands it into runs with stable ids. Every error names the field, with its
 * path inside the file (`methods[2].config`, `train.lr`), and what was expected.
 *
 *   name: glue-small                     # [A-Za-z0-9._-]+
 *   model: runners/demo/t5-mini          # what `webpeft train --model` takes
 *   data: ../shared/data/glue            # GLUE folders (SST-2/, CoLA/, …)
 *   tasks: [sst2, cola, mrpc, rte, stsb]
 *   methods:                             # a method name, or { name, method, config, lr, train }
 *     - krona
 *     - { name: lora-r8, method: lora, config: { r: 8 } }
 *   lr: [5e-3]                           # default learning rates (a method's own `lr` replaces them)
 *   seeds: [1, 2, 3]
 *   train: { maxSteps: 200, maxTrainExamples: 4000, maxEvalExamples: 400 }   # the budget (any train option)
 *   perTask: { stsb: { maxTargetLength: 6 } }                                # per-task train options
 *   maxAttempts: 3                       # a run that fails this often is marked failed
 */
import * as v from "valibot";
import { GLUE_TASK_NAMES, glueTask } from "../../datasets/glue/tasks.ts";
import { type TaggedErrorClass, taggedError } from "../errors.ts";
import { unknownNameMessage } from "../suggest.ts";
import { PluginConfigError } from "../peft/errors.ts";
import { getPlugin, parsePluginConfig } from "../peft/plugin.ts";
import { type TrainConfig, type TrainConfigInput, TRAIN_CONFIG_KEYS, parseTrainConfig } from "../train/config.ts";
import { TrainConfigError } from "../train/errors.ts";

interface SweepFileErrorFields {
  /** The sweep file (or "(sweep)" when it came from code). */
  readonly file: string;
  /** Path of the offending field inside the file, e.g. `methods[1].lr[0]`. */
  readonly field: string;
  readonly message: string;
}
const SweepFileErrorBase: TaggedErrorClass<"SweepFileError", SweepFileErrorFields> = taggedError("SweepFileError");
/** A sweep file that cannot be run: unreadable, not JSON/YAML, or a field missing, unknown or out of range. */
export class SweepFileError extends SweepFileErrorBase {
  static of(file: string, field: string, problem: string): SweepFileError {
    return new SweepFileError({ file, field, message: `${file}: ${field === "" ? "" : `${field}: `}${problem}` });
  }
}

/** Train options a sweep decides itself (per run), so they cannot appear in `train` or `perTask`. */
const SWEEP_OWNED_KEYS = ["model", "tokenizer", "task", "data", "method", "methodConfig", "seed", "lr", "out", "resume"] as const;
const TRAIN_KEYS_IN_SWEEP = TRAIN_CONFIG_KEYS.filter((k) => !(SWEEP_OWNED_KEYS as readonly string[]).includes(k));

const name = v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]+$/, "use letters, digits, '.', '_' and '-' only"), v.maxLength(80));
const learningRates = v.pipe(v.array(v.pipe(v.number(), v.finite(), v.gtValue(0))), v.minLength(1, "give at least one learning rate"));
const trainOptions = v.record(v.string(), v.unknown());

const methodObject = v.strictObject({
  /** Label in run ids and the table (default: the method); two entries may share a method with different configs. */
  name: v.optional(name),
  method: v.pipe(v.string(), v.minLength(1)),
  config: v.optional(v.record(v.string(), v.unknown())),
  lr: v.optional(learningRates),
  /** Train options for this method only (e.g. a larger batch for `full`). */
  train: v.optional(trainOptions),
});

const sweepSchema = v.strictObject({
  name,
  model: v.pipe(v.string(), v.minLength(1)),
  tokenizer: v.optional(v.pipe(v.string(), v.minLength(1))),
  data: v.pipe(v.string(), v.minLength(1)),
  tasks: v.pipe(v.array(v.pipe(v.string(), v.minLength(1))), v.minLength(1, "name at least one GLUE task")),
  methods: v.pipe(v.array(v.union([v.pipe(v.string(), v.minLength(1)), methodObject], "expected a method name or { name?, method, config?, lr?, train? }")), v.minLength(1, "name at least one method")),
  lr: v.optional(learningRates),
  seeds: v.pipe(v.array(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffffffff))), v.minLength(1, "give at least one seed")),
  train: v.optional(trainOptions),
  perTask: v.optional(v.record(v.string(), trainOptions)),
  maxAttempts: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100)), 3),
  /** Output folder of the sweep (default chosen by the caller, e.g. `sweeps/<name>`). */
  out: v.optional(v.pipe(v.string(), v.minLength(1))),
});
const SWEEP_KEYS = Object.keys(sweepSchema.entries);
const METHOD_KEYS = Object.keys(methodObject.entries);

/** A validated sweep file. */
export interface SweepSpec {
  readonly name: string;
  readonly model: string;
  readonly tokenizer?: string | undefined;
  readonly data: string;
  /** Canonical GLUE names (sst2, cola, …). */
  readonly tasks: readonly string[];
  readonly methods: readonly SweepMethod[];
  readonly seeds: readonly number[];
  /** Train options per task (canonical task name), applied after the sweep's and the method's. */
  readonly perTask: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly maxAttempts: number;
  readonly out?: string | undefined;
}

export interface SweepMethod {
  /** Label (unique in the sweep). */
  readonly name: string;
  /** Registered plugin name. */
  readonly method: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly lr: readonly number[];
  /** Train options of every run of this method before per-task ones: sweep `train`, then the method's `train`. */
  readonly train: Readonly<Record<string, unknown>>;
}

/** One run of a sweep: its id, its coordinates and the complete options of `webpeft train` (out excluded). */
export interface SweepRun {
  /** `<task>.<method name>.lr<lr>.seed<seed>`, unique in the sweep and usable as a folder name. */
  readonly id: string;
  readonly task: string;
  readonly method: string;
  readonly lr: number;
  readonly seed: number;
  readonly config: Omit<TrainConfigInput, "out">;
}

const formatPath = (path: readonly (string | number)[]): string =>
  path.reduce<string>((s, key) => (typeof key === "number" ? `${s}[${key}]` : s === "" ? key : `${s}.${key}`), "");

function checkKnownKeys(file: string, object: unknown, known: readonly string[], path: string): void {
  if (object === null || typeof object !== "object" || Array.isArray(object)) return; // the schema reports the type
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) throw SweepFileError.of(file, path === "" ? key : `${path}.${key}`, unknownNameMessage(key, known));
  }
}

/** Checks a block of train options: known keys, none that the sweep sets itself. */
function checkTrainBlock(file: string, block: Record<string, unknown> | undefined, path: string): void {
  if (!block) return;
  for (const key of Object.keys(block)) {
    if ((SWEEP_OWNED_KEYS as readonly string[]).includes(key)) {
      const where = key === "lr" ? "the sweep's `lr` (or a method's `lr`)" : key === "seed" ? "the sweep's `seeds`" : key === "method" || key === "methodConfig" ? "`methods`" : key === "out" ? "the sweep's `out`" : key === "resume" ? "the sweep itself (runs resume from their checkpoints)" : `the sweep's \`${key}\``;
      throw SweepFileError.of(file, `${path}.${key}`, `is set by ${where}, not per run`);
    }
    if (!TRAIN_KEYS_IN_SWEEP.includes(key)) {
      // Suggest among all train options, so that `learning_rate` still points at `lr` (a sweep field here).
      const message = unknownNameMessage(key, TRAIN_CONFIG_KEYS);
      const owned = SWEEP_OWNED_KEYS.find((k) => message.includes(`"${k}"`));
      throw SweepFileError.of(file, `${path}.${key}`, owned ? `${message}; in a sweep, ${owned} is one of the sweep's own fields` : message);
    }
  }
}

/** Validates a parsed sweep file (`file` names it in errors) and fills in defaults. */
export function parseSweep(raw: unknown, file = "(sweep)"): SweepSpec {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw SweepFileError.of(file, "", `expected an object with name, model, data, tasks, methods and seeds, got ${raw === null ? "null" : Array.isArray(raw) ? "an array" : typeof raw}`);
  }
  checkKnownKeys(file, raw, SWEEP_KEYS, "");
  const methodsRaw = (raw as { methods?: unknown }).methods;
  if (Array.isArray(methodsRaw)) methodsRaw.forEach((m, i) => checkKnownKeys(file, m, METHOD_KEYS, `methods[${i}]`));
  const result = v.safeParse(sweepSchema, raw);
  if (!result.success) {
    const issue = result.issues[0];
    const path = issue.path?.map((p) => p.key as string | number) ?? [];
    const got = issue.input === undefined ? "nothing" : JSON.stringify(issue.input);
    throw SweepFileError.of(file, formatPath(path) || "(sweep)", `${issue.message} (got ${got})`);
  }
  const spec = result.output;

  const tasks: string[] = spec.tasks.map((t, i) => {
    try {
      return glueTask(t).name;
    } catch {
      throw SweepFileError.of(file, `tasks[${i}]`, `unknown GLUE task "${t}"; the tasks are ${GLUE_TASK_NAMES.join(", ")}`);
    }
  });
  tasks.forEach((t, i) => {
    if (tasks.indexOf(t) !== i) throw SweepFileError.of(file, `tasks[${i}]`, `"${spec.tasks[i]}" is listed twice`);
  });
  checkTrainBlock(file, spec.train, "train");
  for (const [task, block] of Object.entries(spec.perTask ?? {})) {
    let canonical: string;
    try {
      canonical = glueTask(task).name;
    } catch {
      throw SweepFileError.of(file, `perTask.${task}`, `unknown GLUE task; the tasks are ${GLUE_TASK_NAMES.join(", ")}`);
    }
    if (!tasks.includes(canonical)) throw SweepFileError.of(file, `perTask.${task}`, `the task is not in \`tasks\` (${tasks.join(", ")})`);
    checkTrainBlock(file, block, `perTask.${task}`);
  }
  const seeds = spec.seeds;
  seeds.forEach((s, i) => {
    if (seeds.indexOf(s) !== i) throw SweepFileError.of(file, `seeds[${i}]`, `seed ${s} is listed twice`);
  });

  const methods = spec.methods.map((entry, i): SweepMethod => {
    const m = typeof entry === "string" ? { method: entry } : entry;
    const lr = m.lr ?? spec.lr;
    if (!lr) throw SweepFileError.of(file, `methods[${i}].lr`, "no learning rate: give the sweep an `lr` list or this method one");
    checkTrainBlock(file, m.train, `methods[${i}].train`);
    // The method must be registered (the CLI registers the built-in plugins) and its config valid.
    try {
      parsePluginConfig(getPlugin(m.method), m.config ?? {});
    } catch (e) {
      if (!(e instanceof PluginConfigError)) throw e;
      const field = e.field === "plugin" ? `methods[${i}].method` : `methods[${i}].config${e.field === "(config)" ? "" : `.${e.field}`}`;
      throw SweepFileError.of(file, field, e.message);
    }
    const label = m.name ?? m.method;
    if (!/^[A-Za-z0-9._-]+$/.test(label)) throw SweepFileError.of(file, `methods[${i}].method`, `"${label}" cannot label runs: give the entry a \`name\` of letters, digits, '.', '_' and '-'`);
    return { name: label, method: m.method, config: m.config ?? {}, lr, train: { ...(spec.train ?? {}), ...(m.train ?? {}) } };
  });
  methods.forEach((m, i) => {
    if (methods.findIndex((o) => o.name === m.name) !== i) throw SweepFileError.of(file, `methods[${i}]`, `two methods are named "${m.name}": give one a different \`name\``);
  });

  const perTask = Object.fromEntries(Object.entries(spec.perTask ?? {}).map(([t, block]) => [glueTask(t).name, block]));
  const sweep: SweepSpec = { name: spec.name, model: spec.model, ...(spec.tokenizer ? { tokenizer: spec.tokenizer } : {}), data: spec.data, tasks, methods, seeds, perTask, maxAttempts: spec.maxAttempts, ...(spec.out ? { out: spec.out } : {}) };
  // Every run's options must pass the trainer's own validation now, not hours later on a worker.
  for (const run of sweepRuns(sweep)) {
    try {
      parseTrainConfig({ ...run.config, out: "(sweep)" });
    } catch (e) {
      if (e instanceof TrainConfigError) {
        const methodIndex = methods.findIndex((m) => m.name === run.method);
        const entry = spec.methods[methodIndex];
        const methodTrain = typeof entry === "object" ? (entry.train ?? {}) : {};
        const where = e.field in (perTask[run.task] ?? {}) ? `perTask.${run.task}.${e.field}` : e.field in methodTrain ? `methods[${methodIndex}].train.${e.field}` : `train.${e.field}`;
        throw SweepFileError.of(file, where, e.message.replace(/^training option [^:]*: /, ""));
      }
      throw e;
    }
  }
  return sweep;
}

/** `5e-3` → "0.005"; ids keep the number's shortest exact spelling. */
const lrLabel = (lr: number): string => String(lr);

/** The runs of a sweep, in a stable order: task, method, learning rate, seed. */
export function sweepRuns(spec: SweepSpec): SweepRun[] {
  const runs: SweepRun[] = [];
  for (const task of spec.tasks) {
    for (const m of spec.methods) {
      for (const lr of m.lr) {
        for (const seed of spec.seeds) {
          const config: Omit<TrainConfigInput, "out"> = {
            ...(m.train as Partial<TrainConfig>),
            ...(spec.perTask[task] as Partial<TrainConfig> | undefined),
            model: spec.model,
            ...(spec.tokenizer ? { tokenizer: spec.tokenizer } : {}),
            task,
            data: spec.data,
            method: m.method,
            methodConfig: { ...m.config },
            lr,
            seed,
          };
          runs.push({ id: `${task}.${m.name}.lr${lrLabel(lr)}.seed${seed}`, task, method: m.name, lr, seed, config });
        }
      }
    }
  }
  return runs;
}

/**
 * A short stable fingerprint of a sweep's runs (FNV-1a, 2 × 32 bits, hex): it tells two sweeps with the
 * same name apart, so a changed file is never mistaken for the one whose results are stored.
 */
export function sweepFingerprint(spec: SweepSpec): string {
  const text = JSON.stringify({ name: spec.name, maxAttempts: spec.maxAttempts, runs: sweepRuns(spec) });
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
    h2 ^= h2 >>> 15;
  }
  return h1.toString(16).padStart(8, "0") + h2.toString(16).padStart(8, "0");
}
