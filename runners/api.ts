/**
 * The host-level API: the core functions that touch files, with this host's file access (and cache
 * directory) filled in. `webpeft/node` and the Deno entry re-export it; browsers pass their own
 * FileAccess to the core functions.
 */
import type { Backend } from "../core/backend/backend.ts";
import type { FileAccess } from "../core/io/files.ts";
import type { HubOptions } from "../core/io/hub.ts";
import { openSafetensors, writeSafetensors, type SafetensorsWriteDType } from "../core/io/safetensors.ts";
import { type T5Tokenizer, loadTokenizer as loadTokenizerWith } from "../core/io/tokenizer.ts";
import { loadT5 as loadT5With, saveT5 as saveT5With } from "../core/models/t5/load.ts";
import type { T5ForConditionalGeneration } from "../core/models/t5/model.ts";
import { defaultBackend, tensor } from "../core/tensor/create.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import type { Tensor } from "../core/tensor/tensor.ts";
import { hostFiles } from "./host-files.ts";
import { type LoadAdapterOptions, type SaveAdapterOptions, loadAdapter as loadAdapterWith, saveAdapter as saveAdapterWith } from "../core/peft/adapter-files.ts";
import type { AdapterState, PeftModel } from "../core/peft/peft-model.ts";
import type { TrainConfigInput } from "../core/train/config.ts";
import type { TrainEvent } from "../core/train/events.ts";
import type { TrainResult } from "../core/train/loop.ts";
import { type EvaluateOptions, type EvaluateResult, evaluateWith, trainWith } from "../core/train/api.ts";
import { type BackendName, createBackend } from "./host.ts";
import { demoModelDir, prepareDemoData } from "./demo/demo.ts";

export interface HostOptions {
  /** Default: this host's file system. */
  readonly fs?: FileAccess;
}

/** ~/.cache/webpeft/hub (or $WEBPEFT_CACHE, or $XDG_CACHE_HOME/webpeft/hub). */
export function defaultCacheDir(): string {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
  if (env.WEBPEFT_CACHE) return env.WEBPEFT_CACHE;
  const base = env.XDG_CACHE_HOME ?? `${env.HOME ?? env.USERPROFILE ?? "."}/.cache`;
  return `${base}/webpeft/hub`;
}

export interface LoadT5HostOptions extends HostOptions, HubOptions {
  /** Default: the default backend (see setDefaultBackend). */
  readonly backend?: Backend;
  readonly requiresGrad?: boolean;
}

/** `loadT5("path/to/hf-dir" | "google-t5/t5-small", { backend })`. */
export async function loadT5(pathOrHubId: string, options: LoadT5HostOptions = {}): Promise<T5ForConditionalGeneration> {
  const fs = options.fs ?? (await hostFiles());
  return loadT5With(pathOrHubId, { cacheDir: defaultCacheDir(), ...options, fs, backend: options.backend ?? defaultBackend() });
}

/** Writes `dir/config.json` + `dir/model.safetensors` in HF's layout. */
export async function saveT5(model: T5ForConditionalGeneration, dir: string, options: HostOptions = {}): Promise<void> {
  await saveT5With(model, dir, options.fs ?? (await hostFiles()));
}

/** A T5 tokenizer from a directory holding tokenizer.json (or the file itself). */
export async function loadTokenizer(path: string, options: HostOptions = {}): Promise<T5Tokenizer> {
  return loadTokenizerWith(options.fs ?? (await hostFiles()), path);
}

/** Writes tensors (read back from their device) to a safetensors file, atomically. */
export async function saveSafetensors(
  path: string,
  tensors: Readonly<Record<string, Tensor>>,
  options: HostOptions & { readonly dtype?: Exclude<SafetensorsWriteDType, "I32">; readonly metadata?: Readonly<Record<string, string>> } = {},
): Promise<void> {
  const out: Record<string, { dtype: SafetensorsWriteDType; shape: readonly number[]; data: Float32Array | Int32Array }> = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype === "float64") throw InvalidArgumentError.of("saveSafetensors", name, "float64 tensors are not written; convert to float32");
    const data = await t.data();
    out[name] = t.dtype === "int32" ? { dtype: "I32", shape: t.shape, data: data as Int32Array } : { dtype: options.dtype ?? "F32", shape: t.shape, data: data as Float32Array };
  }
  await writeSafetensors(options.fs ?? (await hostFiles()), path, out, options.metadata);
}

/** Every tensor of a safetensors file on `backend` (float types as float32, I32/I64 as int32). */
export async function readSafetensors(path: string, options: HostOptions & { readonly backend?: Backend } = {}): Promise<Record<string, Tensor>> {
  const reader = await openSafetensors(options.fs ?? (await hostFiles()), path);
  const backend = options.backend ?? defaultBackend();
  const out: Record<string, Tensor> = {};
  try {
    for (const name of reader.names()) {
      const info = reader.info(name);
      const isInt = info.dtype.startsWith("I") || info.dtype.startsWith("U");
      const data = isInt ? await reader.readI32(name) : await reader.readF32(name);
      out[name] = tensor(data, { backend, shape: info.shape });
    }
  } finally {
    await reader.close();
  }
  return out;
}

/** Writes an adapter as `dir/adapter_config.json` + `dir/adapter_model.safetensors` (HF PEFT layout). */
export async function saveAdapter(peft: PeftModel, dir: string, options: HostOptions & Omit<SaveAdapterOptions, "fs"> = {}): Promise<void> {
  await saveAdapterWith(peft, dir, { ...options, fs: options.fs ?? (await hostFiles()) });
}

/** Adds the adapter stored in `dir` (webpeft's or HF PEFT's LORA / LOKR files) to `peft`. */
export async function loadAdapter(peft: PeftModel, dir: string, options: HostOptions & Omit<LoadAdapterOptions, "fs"> = {}): Promise<AdapterState> {
  return loadAdapterWith(peft, dir, { ...options, fs: options.fs ?? (await hostFiles()) });
}

// ---------------------------------------------------------------------------------------------------------
// Fine-tuning and evaluation (the loop is core/train; this fills in the host's files, backend and cache)

export interface TrainOptions extends TrainConfigInput, HostOptions {
  /** A backend, or the name of one to create for this run (default "webgpu"). */
  readonly backend?: Backend | BackendName;
  /** Every event of the run (start, step, eval, checkpoint, log, end) as it happens. */
  readonly onEvent?: (event: TrainEvent) => void;
  /** Aborting stops after the current step, writes a checkpoint, and resolves with reason "aborted". */
  readonly signal?: AbortSignal;
}

async function withBackend<T>(choice: Backend | BackendName | undefined, use: (backend: Backend) => Promise<T>): Promise<T> {
  if (typeof choice === "object") return use(choice);
  const backend = await createBackend(choice ?? "webgpu");
  try {
    return await use(backend);
  } finally {
    backend.dispose();
  }
}

/**
 * Fine-tunes T5 on a GLUE task with a PEFT method and writes the adapter, metrics.jsonl, run.json and
 * report.html to `out`:
 *
 *   const result = await train({ model: "path/to/t5", task: "sst2", data: "path/to/glue", out: "runs/sst2",
 *                                method: "krona", maxSteps: 200, onEvent: (e) => console.log(e) });
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const { backend, onEvent, signal, fs, ...config } = options;
  const files = fs ?? (await hostFiles());
  return withBackend(backend, (b) => trainWith(config, { backend: b, fs: files, hub: { cacheDir: defaultCacheDir() }, ...(onEvent ? { onEvent } : {}), ...(signal ? { signal } : {}) }));
}

export interface HostEvaluateOptions extends EvaluateOptions, HostOptions {
  readonly backend?: Backend | BackendName;
}

/** Scores a model (and an adapter folder) on a GLUE split: `{ metrics, predictions, … }`. */
export async function evaluate(options: HostEvaluateOptions): Promise<EvaluateResult> {
  const { backend, fs, ...rest } = options;
  const files = fs ?? (await hostFiles());
  return withBackend(backend, (b) => evaluateWith(rest, { backend: b, fs: files, hub: { cacheDir: defaultCacheDir() } }));
}

/** The folder of the small pretrained T5 that ships with webpeft (what `webpeft train` uses by default). */
export async function shippedModelDir(options: HostOptions = {}): Promise<string> {
  return demoModelDir(options.fs ?? (await hostFiles()));
}

/** Writes the demo's synthetic sentiment task in SST-2's file layout under `dir` (`dir/SST-2/*.tsv`); returns `dir`. */
export async function writeDemoData(dir: string, options: HostOptions = {}): Promise<string> {
  return prepareDemoData(options.fs ?? (await hostFiles()), dir);
}
