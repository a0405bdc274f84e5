/**
 * Errors in plain words for the page: each typed error of webpeft (its `_tag`) gets a title that says what
 * went wrong and a hint that says what to do; the error's own message (which names the file, tensor or
 * option) is shown as it is.
 */
import type { ErrorReport } from "./protocol.ts";

const TITLES: Record<string, readonly [title: string, hint: string]> = {
  NoWebGPUAdapterError: ["WebGPU is not available in this browser", "Use a browser with WebGPU (Chrome or Edge 113 or newer, Safari 26, Firefox 141 on Windows), and check that hardware acceleration is on."],
  DeviceLostError: ["The GPU device was lost", "The browser or the driver reset the GPU. Press Resume to continue from the last checkpoint."],
  DeviceLostDuringTrainingError: ["The GPU device was lost during training", "The browser or the driver reset the GPU. Press Resume to continue from the last checkpoint."],
  OutOfMemoryError: ["The GPU ran out of memory", "Use a smaller batch size, shorter sequences, or a smaller model."],
  BufferLimitError: ["A tensor is larger than this GPU allows", "Use a smaller batch size, shorter sequences, or a smaller model."],
  FileNotFoundError: ["A file is missing", "A model folder needs config.json, model.safetensors and tokenizer.json; a GLUE folder needs the task's folder (e.g. SST-2/train.tsv)."],
  FileAccessError: ["A file could not be read or written", "Pick the folder again; if the page was reloaded, files picked before are gone."],
  ConfigError: ["The model's config.json is not valid", "Pick a Hugging Face T5 folder whose config.json is intact."],
  SafetensorsError: ["The model weights could not be read", "model.safetensors is damaged or not a safetensors file; download it again."],
  CheckpointError: ["The model weights do not fit the model's config", "config.json and model.safetensors must come from the same checkpoint."],
  TokenizerError: ["The tokenizer could not be read", "tokenizer.json is damaged or not a Hugging Face tokenizer file."],
  DownloadError: ["A download failed", "Check the hub id and your connection; a download resumes where it stopped."],
  GlueMissingFileError: ["A GLUE data file is missing", "Pick the folder that holds the task's folder (e.g. the folder containing SST-2/)."],
  GlueFormatError: ["The GLUE data file is not in GLUE's format", "Use the task's files as GLUE distributes them (TSV with a header row)."],
  GlueUsageError: ["The GLUE task or split is not valid", "Choose one of GLUE's tasks and a split it has."],
  TrainConfigError: ["A training setting is not valid", "Correct the setting named above."],
  PluginConfigError: ["A method setting is not valid", "Correct the method setting named above."],
  TrainCheckpointError: ["The checkpoint cannot be used", "Start a new run instead of resuming, or resume with the same settings."],
  NonFiniteLossError: ["The loss became infinite or NaN", "Lower the learning rate or enable gradient clipping; the last checkpoint is kept."],
  AdapterError: ["The adapter could not be applied", "Check the method's target modules against the model."],
  ShapeError: ["The model's shapes do not fit together", "Check that config.json matches the weights."],
};

/** The message of an error and of its causes, without repeats. */
function messages(e: unknown): string {
  const parts: string[] = [];
  for (let cur = e, depth = 0; cur !== undefined && cur !== null && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    const message = cur instanceof Error ? cur.message : typeof cur === "string" ? cur : JSON.stringify(cur);
    if (message && !parts.some((p) => p.includes(message))) parts.push(message);
  }
  return parts.join(" — ") || "unknown error";
}

/** The innermost typed error (an UnexpectedTrainError wraps untyped ones; typed ones pass through). */
function tagOf(e: unknown): string {
  for (let cur = e, depth = 0; cur && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    const tag = (cur as { _tag?: unknown })._tag;
    if (typeof tag === "string" && tag !== "UnexpectedTrainError") return tag;
  }
  return (e as { _tag?: string })?._tag ?? (e instanceof Error ? e.name : "Error");
}

export function describeError(e: unknown): ErrorReport {
  const tag = tagOf(e);
  const known = TITLES[tag];
  let message = messages(e).replace(/^unexpected error during training: /, "");
  if (tag === "SyntaxError" || /JSON/.test(tag)) message = `a file is not valid JSON: ${message}`;
  return {
    tag,
    title: known?.[0] ?? "Training stopped with an error",
    message,
    hint: known?.[1] ?? "The message above says where it happened. Reload the page to start over.",
  };
}
