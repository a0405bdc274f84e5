/**
 * The options of a fine-tuning run, validated once with valibot: defaults filled in, every key known
 * (a misspelt or Hugging Face-named key fails with a suggestion instead of being ignored), every number
 * in range. The defaults follow Hugging Face's Trainer where it has one (linear schedule, max_grad_norm 1,
 * weight decay 0, seed 42).
 */
import * as v from "valibot";
import { unknownNameMessage } from "../suggest.ts";
import { TrainConfigError } from "./errors.ts";

const positiveInt = v.pipe(v.number(), v.integer(), v.minValue(1));
const nonNegativeInt = v.pipe(v.number(), v.integer(), v.minValue(0));
const finiteNonNegative = v.pipe(v.number(), v.finite(), v.minValue(0));

const entries = {
  /** A Hugging Face T5 directory (config.json, model.safetensors, tokenizer.json) or a hub id. */
  model: v.pipe(v.string(), v.minLength(1)),
  /** tokenizer.json (or its folder); default: the model's folder. */
  tokenizer: v.optional(v.pipe(v.string(), v.minLength(1))),
  /** GLUE task name: cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli. */
  task: v.pipe(v.string(), v.minLength(1)),
  /** Folder holding the task folders (`SST-2/train.tsv`, …) or HF parquet/JSONL files. */
  data: v.pipe(v.string(), v.minLength(1)),
  /** Task folder name inside `data` when it is not GLUE's (e.g. "SST-2"). */
  taskDir: v.optional(v.pipe(v.string(), v.minLength(1))),
  /** PEFT method (a registered plugin name) and its config. */
  method: v.optional(v.pipe(v.string(), v.minLength(1)), "krona"),
  methodConfig: v.optional(v.record(v.string(), v.unknown()), () => ({})),
  /** Passes over the training split; ignored when maxSteps is set. */
  epochs: v.optional(v.pipe(v.number(), v.finite(), v.gtValue(0)), 3),
  /** Optimizer steps to run (overrides epochs, as HF's max_steps). */
  maxSteps: v.optional(positiveInt),
  batchSize: v.optional(positiveInt, 16),
  evalBatchSize: v.optional(positiveInt, 64),
  /** Micro-batches per optimizer step (the loss of each is scaled by 1/n, gradients summed). */
  gradientAccumulation: v.optional(positiveInt, 1),
  /** Peak learning rate of AdamW. */
  lr: v.optional(v.pipe(v.number(), v.finite(), v.gtValue(0)), 1e-3),
  schedule: v.optional(v.picklist(["linear", "constant"]), "linear"),
  /** Warm-up: a fraction of the steps when below 1 (HF's warmup_ratio), else a number of steps. */
  warmup: v.optional(finiteNonNegative, 0),
  weightDecay: v.optional(finiteNonNegative, 0),
  betas: v.optional(v.tuple([v.pipe(v.number(), v.minValue(0), v.maxValue(0.999999)), v.pipe(v.number(), v.minValue(0), v.maxValue(0.999999))]), () => [0.9, 0.999] as [number, number]),
  eps: v.optional(v.pipe(v.number(), v.finite(), v.gtValue(0)), 1e-8),
  /** Clip gradients to this global L2 norm (0: no clipping). */
  maxGradNorm: v.optional(finiteNonNegative, 1),
  /**
   * Captured steps kept for replay (core/tensor/capture.ts), one per batch shape: on WebGPU a step whose
   * batch shape was seen before replays its recorded launches without their JavaScript (the same numbers,
   * far less host time per step; each kept step holds its activations' memory). 0: every step runs as written.
   */
  captureSteps: v.optional(nonNegativeInt, 4),
  /** Seeds data order, adapter initialisation and dropout: the same seed gives the same run. */
  seed: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffffffff)), 42),
  /** Evaluate every N optimizer steps (and always at the end); 0: only at the end. Default: 5 times per run. */
  evalEvery: v.optional(nonNegativeInt),
  /** Write a resumable checkpoint every N steps (and at the end); default: at each evaluation. */
  checkpointEvery: v.optional(nonNegativeInt),
  /** Stop when the main metric has not improved for this many evaluations (default: never). */
  earlyStoppingPatience: v.optional(positiveInt),
  /** Use only the first N examples of a split (quick runs). */
  maxTrainExamples: v.optional(positiveInt),
  maxEvalExamples: v.optional(positiveInt),
  /** Token limits; longer sequences are cut keeping their </s>. */
  maxSourceLength: v.optional(positiveInt, 128),
  maxTargetLength: v.optional(positiveInt, 16),
  /**
   * Pad each training batch's lengths up to a multiple of this (HF's pad_to_multiple_of; default 1: the
   * longest sequence): fewer batch shapes, so more steps replay (captureSteps). On SST-2 (batch 16, 100
   * steps) 8 replayed 78 steps instead of 11, with losses equal to 1's to 6e-7 (masked positions add
   * exact zeros); but the padding is computed too: the demo trained 30% slower on lavapipe, where the
   * device and not the host bounds a step. Worth it where the host bounds the step (a real GPU).
   */
  padToMultipleOf: v.optional(positiveInt, 1),
  trainSplit: v.optional(v.pipe(v.string(), v.minLength(1)), "train"),
  /** Default: the task's validation split (validation_matched for MNLI). */
  evalSplit: v.optional(v.pipe(v.string(), v.minLength(1))),
  /** Output folder: adapter files, metrics.jsonl, run.json, report.html, checkpoint/, best/. */
  out: v.pipe(v.string(), v.minLength(1)),
  /** Continue from `out/checkpoint` (the same options must be given). */
  resume: v.optional(v.boolean(), false),
};

/** A run's options with every default filled in (see the schema's entries above for each one's meaning). */
export interface TrainConfig {
  readonly model: string;
  readonly tokenizer?: string | undefined;
  readonly task: string;
  readonly data: string;
  readonly taskDir?: string | undefined;
  readonly method: string;
  readonly methodConfig: Record<string, unknown>;
  readonly epochs: number;
  readonly maxSteps?: number | undefined;
  readonly batchSize: number;
  readonly evalBatchSize: number;
  readonly gradientAccumulation: number;
  readonly lr: number;
  readonly schedule: "linear" | "constant";
  readonly warmup: number;
  readonly weightDecay: number;
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly maxGradNorm: number;
  readonly captureSteps: number;
  readonly seed: number;
  readonly evalEvery?: number | undefined;
  readonly checkpointEvery?: number | undefined;
  readonly earlyStoppingPatience?: number | undefined;
  readonly maxTrainExamples?: number | undefined;
  readonly maxEvalExamples?: number | undefined;
  readonly maxSourceLength: number;
  readonly maxTargetLength: number;
  readonly padToMultipleOf: number;
  readonly trainSplit: string;
  readonly evalSplit?: string | undefined;
  readonly out: string;
  readonly resume: boolean;
}

type WithDefaults = "method" | "methodConfig" | "epochs" | "batchSize" | "evalBatchSize" | "gradientAccumulation" | "lr" | "schedule" | "warmup" | "weightDecay" | "betas" | "eps" | "maxGradNorm" | "captureSteps" | "seed" | "maxSourceLength" | "maxTargetLength" | "padToMultipleOf" | "trainSplit" | "resume";

/** What a caller passes: only model, task, data and out are required; the rest have defaults. */
export type TrainConfigInput = Omit<TrainConfig, WithDefaults> & { readonly [K in WithDefaults]?: TrainConfig[K] | undefined };

const schemaObject = v.object(entries);
export const trainConfigSchema: v.GenericSchema<unknown, TrainConfig> = schemaObject;

// The interface must stay what the schema produces, both ways: this fails to compile when they drift apart.
const _schemaMatchesInterface: [(o: v.InferOutput<typeof schemaObject>) => TrainConfig, (c: TrainConfig) => Omit<v.InferOutput<typeof schemaObject>, "betas">] = [(o) => o, (c) => c];
void _schemaMatchesInterface;

export const TRAIN_CONFIG_KEYS: readonly string[] = Object.keys(entries);

/** Validates and completes a run's options; the error names the option and what was expected. */
export function parseTrainConfig(raw: unknown): TrainConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw TrainConfigError.of("(options)", `expected an object of options, got ${raw === null ? "null" : Array.isArray(raw) ? "an array" : typeof raw}`);
  for (const key of Object.keys(raw)) {
    if (!TRAIN_CONFIG_KEYS.includes(key)) throw TrainConfigError.of(key, unknownNameMessage(key, TRAIN_CONFIG_KEYS));
  }
  // Options left undefined (e.g. an absent CLI flag) mean "the default".
  const defined = Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== undefined));
  const result = v.safeParse(trainConfigSchema, defined);
  if (!result.success) {
    const issue = result.issues[0];
    const field = issue.path?.map((p) => String(p.key)).join(".") || "(options)";
    throw TrainConfigError.of(field, `${issue.message} (got ${JSON.stringify(issue.input)})`);
  }
  return result.output;
}

/** Warm-up steps for a run of `totalSteps`: `warmup` below 1 is a ratio (rounded up, as HF's Trainer). */
export function warmupSteps(config: Pick<TrainConfig, "warmup">, totalSteps: number): number {
  return config.warmup < 1 ? Math.ceil(config.warmup * totalSteps) : Math.min(Math.round(config.warmup), totalSteps);
}
