/**
 * Resumable training state in one file, `<out>/checkpoint/trainer_state.safetensors`, written atomically
 * (a crash or SIGKILL mid-write leaves the previous checkpoint whole). It holds everything the next step
 * depends on, so that a resumed run ends with the same adapter as an uninterrupted one (bit-identical on
 * the cpu backend):
 *   - every trainable tensor (`param/<dotted path>`), exactly as float32;
 *   - AdamW's first and second moments (`adam_m/<path>`, `adam_v/<path>`) and its step count;
 *   - the data position (micro-batches consumed; the batch order is a function of seed and epoch);
 *   - the global RNG state (dropout seeds), the best evaluation so far and the patience counter;
 *   - the step and eval events so far (metrics.jsonl and the report are rebuilt from them);
 *   - the options that decide the numbers, so a resume with different ones is refused.
 * The adapter files next to it (`adapter_config.json`, `adapter_model.safetensors`) are for people and
 * for HF PEFT; resuming reads only trainer_state.safetensors, which is written last.
 */
import type { FileAccess } from "../io/files.ts";
import { openSafetensors, writeSafetensors, type TensorToWrite } from "../io/safetensors.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { TrainCheckpointError } from "./errors.ts";
import type { EvalEvent, StepEvent } from "./events.ts";

export const TRAINER_STATE = "trainer_state.safetensors";
const METADATA_KEY = "webpeft_trainer_state";
const VERSION = 1;

export interface BestEvaluation {
  readonly step: number;
  readonly metric: string;
  readonly score: number;
  readonly metrics: Readonly<Record<string, number>>;
}

/** The host-side part of a checkpoint (everything but tensors). */
export interface TrainerStateInfo {
  readonly version: number;
  /** Optimizer steps done. */
  readonly step: number;
  /** Micro-batches consumed since the start of the run. */
  readonly microBatches: number;
  /** Global generator state after the last step (core/tensor/random.ts). */
  readonly rngState: number;
  /** AdamW's state except its moments (which are tensors in the file): see AdamWState. */
  readonly optimizer: {
    readonly t: number;
    readonly lr: number;
    readonly betas: readonly [number, number];
    readonly eps: number;
    readonly weightDecay: number;
    /** Updates each parameter received, by path (absent: never had a gradient). */
    readonly steps: Readonly<Record<string, number>>;
  };
  readonly best: BestEvaluation | null;
  readonly evalsWithoutImprovement: number;
  /** Options that decide the numbers; a resume must match them. */
  readonly fingerprint: Readonly<Record<string, unknown>>;
  readonly history: readonly (StepEvent | EvalEvent)[];
  /** Training and evaluation time spent before this checkpoint (ms). */
  readonly trainMs: number;
  readonly evalMs: number;
}

export interface TrainerStateTensors {
  readonly parameters: ReadonlyMap<string, Tensor>;
  /** AdamW moments per parameter path; absent for parameters that never had a gradient. */
  readonly moments: ReadonlyMap<string, { readonly m: Float32Array; readonly v: Float32Array }>;
}

export async function writeTrainerState(fs: FileAccess, dir: string, info: Omit<TrainerStateInfo, "version">, tensors: TrainerStateTensors): Promise<string> {
  const out: Record<string, TensorToWrite> = {};
  for (const [path, t] of tensors.parameters) out[`param/${path}`] = { dtype: "F32", shape: t.shape, data: Float32Array.from(await t.data()) };
  for (const [path, { m, v }] of tensors.moments) {
    const shape = tensors.parameters.get(path)?.shape ?? [m.length];
    out[`adam_m/${path}`] = { dtype: "F32", shape, data: m };
    out[`adam_v/${path}`] = { dtype: "F32", shape, data: v };
  }
  await fs.mkdirp(dir);
  const path = fs.join(dir, TRAINER_STATE);
  await writeSafetensors(fs, path, out, { [METADATA_KEY]: JSON.stringify({ version: VERSION, ...info }) });
  return path;
}

export interface LoadedTrainerState {
  readonly info: TrainerStateInfo;
  readonly parameters: ReadonlyMap<string, Float32Array>;
  readonly moments: ReadonlyMap<string, { readonly m: Float32Array; readonly v: Float32Array }>;
}

/** Reads a checkpoint; every parameter of `expected` (path → shape) must be there with its shape. */
export async function readTrainerState(fs: FileAccess, dir: string, expected: ReadonlyMap<string, readonly number[]>): Promise<LoadedTrainerState> {
  const path = fs.join(dir, TRAINER_STATE);
  if (!(await fs.exists(path))) throw TrainCheckpointError.of(path, "no checkpoint to resume from (run without --resume to start a new run)");
  const reader = await openSafetensors(fs, path);
  try {
    const raw = reader.metadata[METADATA_KEY];
    if (raw === undefined) throw TrainCheckpointError.of(path, "not a webpeft training checkpoint (no trainer state in its metadata)");
    let info: TrainerStateInfo;
    try {
      info = JSON.parse(raw) as TrainerStateInfo;
    } catch (e) {
      throw TrainCheckpointError.of(path, `the trainer state is not valid JSON (${(e as Error).message})`);
    }
    if (info.version !== VERSION) throw TrainCheckpointError.of(path, `checkpoint version ${info.version} is not supported (expected ${VERSION})`);
    for (const key of ["step", "microBatches", "rngState"] as const) {
      if (!Number.isInteger(info[key]) || info[key] < 0) throw TrainCheckpointError.of(path, `${key} is ${JSON.stringify(info[key])}, expected an integer ≥ 0`);
    }
    if (typeof info.optimizer !== "object" || info.optimizer === null || !Number.isInteger(info.optimizer.t)) throw TrainCheckpointError.of(path, "the optimizer state is missing or damaged");
    const parameters = new Map<string, Float32Array>();
    const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
    const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
    for (const [name, shape] of expected) {
      const key = `param/${name}`;
      if (!reader.has(key)) throw TrainCheckpointError.of(path, `parameter ${name} is missing: the checkpoint was written for another method or config`);
      const stored = reader.info(key).shape;
      if (!sameShape(stored, shape)) throw TrainCheckpointError.of(path, `parameter ${name} has shape [${stored.join(", ")}], the run has [${shape.join(", ")}]`);
      parameters.set(name, await reader.readF32(key));
      if (reader.has(`adam_m/${name}`)) moments.set(name, { m: await reader.readF32(`adam_m/${name}`), v: await reader.readF32(`adam_v/${name}`) });
    }
    const extra = reader.names().filter((n) => n.startsWith("param/") && !expected.has(n.slice("param/".length)));
    if (extra.length > 0) throw TrainCheckpointError.of(path, `holds parameters this run does not have (${extra.slice(0, 3).join(", ")}…): it was written for another method or config`);
    return { info, parameters, moments };
  } finally {
    await reader.close();
  }
}
