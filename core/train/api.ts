/**
 * The Promise API, for users who do not use Effect: `train(options)` runs the loop of loop.ts with
 * the services made from plain values, `evaluate(options)` scores a model (+ adapter) on a task split.
 * Host entry points (`webpeft/node`, the Deno entry) fill in the host's files and backend.
 */
import { Effect } from "effect";
import type { GlueTaskName } from "../../datasets/glue/tasks.ts";
import { glueTask } from "../../datasets/glue/tasks.ts";
import type { Backend } from "../backend/backend.ts";
import type { FileAccess } from "../io/files.ts";
import { type HubOptions, resolveModelDir } from "../io/hub.ts";
import { loadTokenizer } from "../io/tokenizer.ts";
import { loadAdapter } from "../peft/adapter-files.ts";
import { PeftModel } from "../peft/peft-model.ts";
import { loadT5 } from "../models/t5/load.ts";
import type { TrainConfigInput } from "./config.ts";
import { longestTarget, tokenizedSplit } from "./data.ts";
import { type SplitEvaluation, evaluateSplit } from "./evaluate.ts";
import type { TrainEvent } from "./events.ts";
import { type TrainResult, trainProgram } from "./loop.ts";
import { trainServices } from "./services.ts";

export interface TrainRunOptions {
  readonly backend: Backend;
  readonly fs: FileAccess;
  readonly hub?: HubOptions;
  /** Every event of the run (start, step, eval, checkpoint, log, end), as it happens. */
  readonly onEvent?: (event: TrainEvent) => void;
  /** Aborting stops the run after the current step, writes a checkpoint, and resolves with reason "aborted". */
  readonly signal?: AbortSignal;
}

/** Fine-tunes with `config` (see TrainConfig) and resolves with the run's result; rejects with a typed error. */
export function trainWith(config: TrainConfigInput, options: TrainRunOptions): Promise<TrainResult> {
  const program = trainProgram(config, options.signal ? { signal: options.signal } : {});
  return Effect.runPromise(Effect.provide(program, trainServices(options)));
}

export interface EvaluateOptions {
  /** Model directory or hub id. */
  readonly model: string;
  /** An adapter folder (adapter_config.json + adapter_model.safetensors: webpeft's or HF PEFT's); none: the base model. */
  readonly adapter?: string;
  readonly tokenizer?: string;
  readonly task: GlueTaskName | string;
  readonly data: string;
  readonly taskDir?: string;
  /** Default: the validation split (validation_matched for MNLI). */
  readonly split?: string;
  readonly batchSize?: number;
  readonly maxExamples?: number;
  readonly maxSourceLength?: number;
  /** Tokens to generate (default: the longest target of the split + 1, at least 8). */
  readonly maxNewTokens?: number;
}

export interface EvaluateResult extends SplitEvaluation {
  readonly task: string;
  readonly split: string;
  readonly examples: number;
  /** HF idx of each prediction (file order). */
  readonly idx: readonly number[];
}

/** Decodes a split with a model (and adapter) and scores it with the task's GLUE metrics. */
export async function evaluateWith(options: EvaluateOptions, host: { readonly backend: Backend; readonly fs: FileAccess; readonly hub?: HubOptions }): Promise<EvaluateResult> {
  const { fs, backend } = host;
  const task = glueTask(options.task);
  const split = options.split ?? (task.name === "mnli" ? "validation_matched" : "validation");
  const modelDir = await resolveModelDir(fs, options.model, host.hub ?? {});
  const model = await loadT5(modelDir, { backend, fs, requiresGrad: false, ...(host.hub ?? {}) });
  const peft = new PeftModel(model);
  try {
    if (options.adapter) await loadAdapter(peft, options.adapter, { fs });
    const tokenizer = await loadTokenizer(fs, options.tokenizer ?? modelDir);
    const data = await tokenizedSplit(fs, tokenizer, { task, split, data: options.data, ...(options.taskDir ? { taskDir: options.taskDir } : {}), ...(options.maxExamples ? { maxExamples: options.maxExamples } : {}) });
    const maxNewTokens = options.maxNewTokens ?? Math.max(8, longestTarget(data) + 1);
    const result = await evaluateSplit(peft, tokenizer, task, data, { batchSize: options.batchSize ?? 64, maxNewTokens, maxSourceLength: options.maxSourceLength ?? 512 });
    return { ...result, task: task.name, split, examples: data.size, idx: Array.from(data.idx) };
  } finally {
    peft.dispose();
    model.dispose();
  }
}
