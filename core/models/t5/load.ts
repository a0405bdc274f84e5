/**
 * Building T5 models: from a Hugging Face checkpoint directory (or hub id), from random weights, and
 * saving one back in HF's layout (config.json + model.safetensors).
 *
 * Tied weights: HF checkpoints may store the shared embedding as `shared.weight`, as
 * `encoder.embed_tokens.weight` or `decoder.embed_tokens.weight` (any subset), and `lm_head.weight` may
 * be present even when it is tied; all of these load. An untied checkpoint must have `lm_head.weight`.
 */
import type { Backend } from "../../backend/backend.ts";
import type { FileAccess } from "../../io/files.ts";
import { type HubOptions, resolveModelDir } from "../../io/hub.ts";
import { CheckpointError, openCheckpoint, writeSafetensors } from "../../io/safetensors.ts";
import { type T5Config, readT5Config, t5ConfigToJson } from "../../io/t5-config.ts";
import type { FloatDType } from "../../tensor/dtype.ts";
import { Tensor } from "../../tensor/tensor.ts";
import { createMetaBackend } from "../../backend/meta-backend.ts";
import { randomT5Weights } from "./init.ts";
import { T5ForConditionalGeneration } from "./model.ts";

/** Checkpoint names that may hold a parameter, in order of preference. */
function candidateNames(name: string): string[] {
  if (name === "shared.weight") return ["shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"];
  return [name];
}

export interface LoadT5Options extends Omit<HubOptions, "onProgress"> {
  readonly backend: Backend;
  readonly fs: FileAccess;
  /** Download progress for hub ids: (file, received bytes, total bytes). */
  readonly onProgress?: HubOptions["onProgress"];
  /** Trainable parameters (requiresGrad) after loading; default true. */
  readonly requiresGrad?: boolean;
  /** float32 (default), or float64 on the CPU reference backend (finite-difference checks). */
  readonly dtype?: FloatDType;
}

/**
 * Loads `T5ForConditionalGeneration` from a local HF model directory or a hub id (downloaded and cached),
 * in eval mode (dropout off) like HF's `from_pretrained`; call `model.train()` to fine-tune.
 */
export async function loadT5(pathOrHubId: string, options: LoadT5Options): Promise<T5ForConditionalGeneration> {
  const { backend, fs } = options;
  const dir = await resolveModelDir(fs, pathOrHubId, options);
  const config = await readT5Config(fs, fs.join(dir, "config.json"));
  const checkpoint = await openCheckpoint(fs, dir);
  // Build the tree with uninitialised parameters, then stream each tensor from disk into its buffer:
  // one tensor is on the host at a time.
  const model = new T5ForConditionalGeneration(config, backend, (_name, shape) => Tensor.empty(backend, shape, options.dtype ?? "float32"));
  try {
    for (const [name, param] of model.uniqueParameters()) {
      const source = candidateNames(name).find((n) => checkpoint.has(n));
      if (!source) {
        throw CheckpointError.missing(checkpoint.source, name, candidateNames(name));
      }
      const info = checkpoint.info(source);
      if (info.shape.length !== param.shape.length || info.shape.some((d, i) => d !== param.shape[i])) {
        throw CheckpointError.shape(checkpoint.source, source, param.shape, info.shape);
      }
      backend.upload(param.bufferFor("loadT5"), await checkpoint.readF32(source));
      param.requiresGrad = options.requiresGrad ?? true;
    }
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    await checkpoint.close();
  }
  // As HF's from_pretrained: a loaded model is for inference until someone calls train().
  return model.eval();
}

/** The module tree of a T5 config without weights (on the meta backend): for counts and targets. */
export function t5Skeleton(config: T5Config): T5ForConditionalGeneration {
  const meta = createMetaBackend();
  return new T5ForConditionalGeneration(config, meta, (_name, shape) => Tensor.empty(meta, shape, "float32"));
}

/** A T5 with HF's random initialisation (seeded). */
export function createT5(config: T5Config, options: { readonly backend: Backend; readonly seed?: number; readonly dtype?: FloatDType }): T5ForConditionalGeneration {
  return new T5ForConditionalGeneration(config, options.backend, randomT5Weights(config, options));
}

/**
 * Writes `dir/config.json` and `dir/model.safetensors` (each tied tensor once, under its first name, as
 * HF's safetensors serialisation does), atomically.
 */
export async function saveT5(model: T5ForConditionalGeneration, dir: string, fs: FileAccess): Promise<void> {
  await fs.mkdirp(dir);
  const tensors: Record<string, { dtype: "F32"; shape: readonly number[]; data: Float32Array }> = {};
  for (const [name, t] of model.uniqueParameters()) {
    tensors[name] = { dtype: "F32", shape: t.shape, data: (await t.data()) as Float32Array };
  }
  await writeSafetensors(fs, fs.join(dir, "model.safetensors"), tensors, { format: "pt" });
  const json = JSON.stringify(t5ConfigToJson(model.config), null, 2) + "\n";
  await fs.writeAtomic(fs.join(dir, "config.json"), [new TextEncoder().encode(json)]);
}
