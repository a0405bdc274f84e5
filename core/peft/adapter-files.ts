/**
 * Adapter files: `adapter_config.json` + `adapter_model.safetensors`, HF PEFT's layout. Tensor keys are
 * `base_model.model.<parameter path>` (e.g. `base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight`)
 * unless a format maps them otherwise (LoKr: `….q.lokr_w1`).
 *
 * Formats: a plugin's own (`formats` in its definition, e.g. HF PEFT's LORA, or LOKR for KronA), or the
 * native one every plugin has: `peft_type` "WEBPEFT" with the plugin name and its config, for methods HF
 * PEFT does not know.
 */
import type { FileAccess } from "../io/files.ts";
import { CheckpointError, openSafetensors, writeSafetensors } from "../io/safetensors.ts";
import { tensor } from "../tensor/create.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { AdapterError } from "./errors.ts";
import type { AdapterState, PeftModel } from "./peft-model.ts";
import { type AdapterFormat, type PeftPlugin, formatForPeftType, getPlugin } from "./plugin.ts";

export const ADAPTER_CONFIG = "adapter_config.json";
export const ADAPTER_WEIGHTS = "adapter_model.safetensors";
export const NATIVE_PEFT_TYPE = "WEBPEFT";
const KEY_PREFIX = "base_model.model.";

const nativeFormat: AdapterFormat<unknown> = {
  peftType: NATIVE_PEFT_TYPE,
  toAdapterConfig: () => ({}),
  fromAdapterConfig: (json) => json.webpeft_config,
};

function keyOf(format: AdapterFormat<unknown>, path: string): string {
  return format.fileKey ? format.fileKey(path) : KEY_PREFIX + path;
}

/**
 * What an adapter file holds: the adapter's parameters and the base parameters it trains (BitFit's
 * layer norms, full fine-tuning), all under their dotted paths.
 */
function adapterTensors(peft: PeftModel, a: AdapterState): [string, Tensor][] {
  const out: [string, Tensor][] = [...a.parameters];
  if (a.trainedBase.size > 0) {
    for (const [path, t] of peft.base.uniqueParameters()) if (a.trainedBase.has(t)) out.push([path, t]);
  }
  return out;
}

export interface SaveAdapterOptions {
  readonly fs: FileAccess;
  /** Which adapter (default: the only active one). */
  readonly adapter?: string;
  /** `peft_type` to write: one of the plugin's formats (default its first) or "WEBPEFT". */
  readonly format?: string;
}

function chooseFormat(a: AdapterState, requested?: string): AdapterFormat<unknown> {
  const formats = (a.plugin.formats ?? []) as readonly AdapterFormat<unknown>[];
  if (!requested) return formats[0] ?? nativeFormat;
  if (requested === NATIVE_PEFT_TYPE) return nativeFormat;
  const f = formats.find((x) => x.peftType === requested);
  if (!f) throw AdapterError.of(a.name, `${a.plugin.name} cannot be written as ${requested} (formats: ${[...formats.map((x) => x.peftType), NATIVE_PEFT_TYPE].join(", ")})`);
  return f;
}

/** Writes `dir/adapter_config.json` and `dir/adapter_model.safetensors` (atomically). */
export async function saveAdapter(peft: PeftModel, dir: string, options: SaveAdapterOptions): Promise<void> {
  const { fs } = options;
  const name = options.adapter ?? (peft.active.length === 1 ? peft.active[0]! : undefined);
  if (!name) throw AdapterError.of("(none)", `name the adapter to save (active: ${peft.active.join(", ") || "none"})`);
  const a = peft.adapter(name);
  const format = chooseFormat(a, options.format);
  const json =
    format === nativeFormat
      ? { peft_type: NATIVE_PEFT_TYPE, task_type: "SEQ_2_SEQ_LM", webpeft_plugin: a.plugin.name, webpeft_config: a.config }
      : format.toAdapterConfig(a.config, peft.base);
  const tensors: Record<string, { dtype: "F32"; shape: readonly number[]; data: Float32Array }> = {};
  for (const [path, t] of adapterTensors(peft, a)) {
    const stored = format.convert?.save ? format.convert.save(path, t) : t;
    tensors[keyOf(format, path)] = { dtype: "F32", shape: stored.shape, data: Float32Array.from(await stored.data()) };
    if (stored !== t) stored.dispose();
  }
  await fs.mkdirp(dir);
  await writeSafetensors(fs, fs.join(dir, ADAPTER_WEIGHTS), tensors, { format: "pt" });
  await fs.writeAtomic(fs.join(dir, ADAPTER_CONFIG), [new TextEncoder().encode(JSON.stringify(json, null, 2) + "\n")]);
}

export interface LoadAdapterOptions {
  readonly fs: FileAccess;
  /** Name of the new adapter (default "default", HF PEFT's). */
  readonly name?: string;
  readonly activate?: boolean;
  /**
   * Read the file with this plugin (or registered name) instead of the one registered for its peft_type:
   * for a plugin of your own that writes a format another plugin also reads (e.g. LOKR).
   */
  readonly plugin?: PeftPlugin<unknown> | string;
}

/**
 * Adds the adapter stored in `dir` to `peft`: its plugin and config come from adapter_config.json, its
 * weights from adapter_model.safetensors. Every parameter must be in the file with its shape, and every
 * tensor in the file must be used.
 */
export async function loadAdapter(peft: PeftModel, dir: string, options: LoadAdapterOptions): Promise<AdapterState> {
  const { fs } = options;
  const configPath = fs.join(dir, ADAPTER_CONFIG);
  const text = await fs.readText(configPath);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw AdapterError.of(options.name ?? "default", `${configPath}: not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw AdapterError.of(options.name ?? "default", `${configPath}: must be a JSON object with "peft_type", got ${JSON.stringify(parsed)?.slice(0, 60)}`);
  }
  const json = parsed as Record<string, unknown>;
  const peftType = String(json.peft_type ?? "");
  let plugin;
  let format: AdapterFormat<unknown>;
  if (options.plugin !== undefined) {
    plugin = typeof options.plugin === "string" ? getPlugin(options.plugin) : options.plugin;
    const own = peftType === NATIVE_PEFT_TYPE ? nativeFormat : (plugin.formats ?? []).find((f) => f.peftType === peftType);
    if (!own) throw AdapterError.of(options.name ?? "default", `${configPath}: peft_type "${peftType}" is not a format of the ${plugin.name} plugin`);
    format = own as AdapterFormat<unknown>;
  } else if (peftType === NATIVE_PEFT_TYPE) {
    plugin = getPlugin(String(json.webpeft_plugin));
    format = nativeFormat;
  } else {
    const found = formatForPeftType(peftType);
    if (!found) throw AdapterError.of(options.name ?? "default", `${configPath}: peft_type "${peftType}" is not supported by any registered plugin`);
    ({ plugin, format } = found);
  }
  const name = options.name ?? "default";
  const state = peft.addAdapter(name, plugin, format.fromAdapterConfig(json, peft.base), { activate: options.activate ?? true });
  const weightsPath = fs.join(dir, ADAPTER_WEIGHTS);
  const reader = await openSafetensors(fs, weightsPath);
  try {
    const used = new Set<string>();
    for (const [path, param] of adapterTensors(peft, state)) {
      const key = keyOf(format, path);
      if (!reader.has(key)) throw CheckpointError.missing(weightsPath, key);
      used.add(key);
      const info = reader.info(key);
      const raw = tensor(await reader.readF32(key), { backend: param.backend, shape: info.shape, dtype: param.dtype });
      const value = format.convert?.load ? format.convert.load(path, raw) : raw;
      if (value.shape.length !== param.shape.length || value.shape.some((d, i) => d !== param.shape[i])) {
        throw CheckpointError.shape(weightsPath, key, param.shape, info.shape);
      }
      param.backend.upload(param.bufferFor("loadAdapter"), await value.data());
      if (value !== raw) value.dispose();
      raw.dispose();
    }
    const unused = reader.names().filter((k) => !used.has(k));
    if (unused.length > 0) {
      throw CheckpointError.of(weightsPath, unused[0], `holds tensors this ${plugin.name} adapter does not have: ${unused.slice(0, 5).join(", ")}${unused.length > 5 ? ", …" : ""}`);
    }
  } catch (e) {
    peft.removeAdapter(name);
    throw e;
  } finally {
    await reader.close();
  }
  return state;
}
