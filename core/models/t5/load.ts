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
import { T5ForConditionalGeneration, checkT5Config } from "./model.ts";

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
  /**
   * Tensors in the checkpoint that the model does not use (e.g. more blocks than config.json says) are an
   * error (CheckpointError naming them) instead of a warning. Default false, like HF, which warns.
   */
  readonly strict?: boolean;
  /** Receives the unused-tensors warning (default: console.warn). */
  readonly onWarning?: (message: string) => void;
}

/** Names a T5 checkpoint may hold that no parameter needs but that are not a sign of a wrong config. */
function isKnownExtra(name: string, config: T5Config): boolean {
  // Tied copies of the shared embedding, and lm_head stored although tied (HF saves it in some versions).
  if (name === "encoder.embed_tokens.weight" || name === "decoder.embed_tokens.weight") return true;
  if (name === "lm_head.weight" && config.tieWordEmbeddings) return true;
  return false;
}

/**
 * Loads `T5ForConditionalGeneration` from a local HF model directory or a hub id (downloaded and cached),
 * in eval mode (dropout off) like HF's `from_pretrained`; call `model.train()` to fine-tune.
 */
export async function loadT5(pathOrHubId: string, options: LoadT5Options): Promise<T5ForConditionalGeneration> {
  const { backend, fs } = options;
  const dir = await resolveModelDir(fs, pathOrHubId, options);
  const config = await readT5Config(fs, fs.join(dir, "config.json"));
  checkT5Config(config, backend, options.dtype ?? "float32"); // sizes against the backend, before allocating
  const checkpoint = await openCheckpoint(fs, dir);
  // Build the tree with uninitialised parameters, then stream each tensor from disk into its buffer:
  // one tensor is on the host at a time.
  const model = new T5ForConditionalGeneration(config, backend, (_name, shape) => Tensor.empty(backend, shape, options.dtype ?? "float32"));
  try {
    const used = new Set<string>();
    for (const [name] of model.uniqueParameters()) {
      const source = candidateNames(name).find((n) => checkpoint.has(n));
      if (!source) throw CheckpointError.missing(checkpoint.source, name, candidateNames(name));
      used.add(source);
    }
    const unused = checkpoint.names().filter((n) => !used.has(n) && !isKnownExtra(n, config));
    if (unused.length > 0) {
      const listed = `${unused.slice(0, 8).map((n) => `"${n}"`).join(", ")}${unused.length > 8 ? `, … (${unused.length} in all)` : ""}`;
      const problem =
        `holds ${unused.length} tensor${unused.length === 1 ? "" : "s"} that the model built from config.json does not use: ${listed}` +
        ` (config: num_layers ${config.numLayers}, num_decoder_layers ${config.numDecoderLayers}, feed_forward_proj "${config.feedForwardProj}", tie_word_embeddings ${config.tieWordEmbeddings})`;
      if (options.strict) throw CheckpointError.of(checkpoint.source, unused[0], `${problem}; strict loading refuses it`);
      (options.onWarning ?? ((m: string) => console.warn(m)))(`webpeft: ${checkpoint.source}: ${problem}; they were ignored (pass strict: true to refuse)`);
    }
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
  checkT5Config(config, options.backend, options.dtype ?? "float32");
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
