/**
 * Hugging Face T5 `config.json` ↔ T5Config. Defaults are those of transformers' `T5Config.__init__`
 * (configuration_t5.py), so a config that leaves a field out means what it means to HF.
 *
 * The feed-forward activation follows HF (transformers 4.x):
 *   feed_forward_proj is "ACT" or "gated-ACT" (anything else is an error there and here);
 *   is_gated_act = the "gated-" prefix; dense_act_fn = ACT, except "gated-gelu" → "gelu_new" (tanh GELU),
 *   kept for backwards compatibility with the v1.1 checkpoints.
 *   When config.json also carries `dense_act_fn` / `is_gated_act` (every config saved by transformers
 *   ≥ 4.21 does), HF uses those stored values even if they disagree with feed_forward_proj:
 *   T5Config.__init__ derives them first and PretrainedConfig.__init__ then sets the leftover keyword
 *   arguments, the stored ones, as attributes. This parser does the same.
 */
import * as v from "valibot";
import { type TaggedErrorClass, taggedError } from "../errors.ts";
import type { FileAccess } from "./files.ts";

export type T5Activation = "relu" | "gelu_new" | "gelu" | "silu";

export interface T5Config {
  readonly vocabSize: number;
  readonly dModel: number;
  readonly dKv: number;
  readonly dFf: number;
  readonly numLayers: number;
  readonly numDecoderLayers: number;
  readonly numHeads: number;
  readonly relativeAttentionNumBuckets: number;
  readonly relativeAttentionMaxDistance: number;
  readonly dropoutRate: number;
  readonly layerNormEpsilon: number;
  readonly initializerFactor: number;
  readonly feedForwardProj: string;
  readonly isGatedAct: boolean;
  readonly denseActFn: T5Activation;
  readonly tieWordEmbeddings: boolean;
  readonly padTokenId: number;
  readonly eosTokenId: number;
  readonly decoderStartTokenId: number;
}

/** A config.json that is not a T5 config webpeft can build: names the file, the field and the value. */
interface ConfigErrorFields {
  readonly path: string;
  readonly field: string;
  readonly message: string;
}
const ConfigErrorBase: TaggedErrorClass<"ConfigError", ConfigErrorFields> = taggedError("ConfigError");
export class ConfigError extends ConfigErrorBase {
  static of(path: string, field: string, problem: string): ConfigError {
    return new ConfigError({ path, field, message: `${path}: field "${field}": ${problem}` });
  }
}

export const T5_MODEL_TYPE = "t5";
/** Architectures whose config and weights have the T5 layout. "T5WithLMHeadModel" is the name
 * T5ForConditionalGeneration had in early transformers releases; old hub configs still say it. */
export const T5_ARCHITECTURES: readonly string[] = ["T5ForConditionalGeneration", "T5Model", "T5WithLMHeadModel"];

/** HF activation names (transformers' ACT2FN) that map onto the four T5 activations. */
const ACTIVATIONS: Readonly<Record<string, T5Activation>> = {
  relu: "relu",
  gelu: "gelu",
  gelu_new: "gelu_new",
  // The same tanh approximation as gelu_new, under PyTorch's name.
  gelu_pytorch_tanh: "gelu_new",
  silu: "silu",
  swish: "silu",
};

/** Most blocks per stack (the same bound as MAX_T5_LAYERS in model.ts). */
const MAX_LAYERS = 1024;

const positiveInt = v.pipe(v.number(), v.safeInteger(), v.minValue(1));
const nonNegativeInt = v.pipe(v.number(), v.safeInteger(), v.minValue(0));

// The fields webpeft reads, with HF's defaults. Other keys (torch_dtype, task_specific_params, …) are kept
// out of T5Config but allowed: looseObject.
const ConfigSchema = v.looseObject({
  model_type: v.optional(v.string()),
  architectures: v.nullish(v.array(v.string())),
  vocab_size: v.optional(positiveInt, 32128),
  d_model: v.optional(positiveInt, 512),
  d_kv: v.optional(positiveInt, 64),
  d_ff: v.optional(positiveInt, 2048),
  num_layers: v.optional(positiveInt, 6),
  // null or absent: as many decoder layers as encoder layers.
  num_decoder_layers: v.nullish(positiveInt),
  num_heads: v.optional(positiveInt, 8),
  relative_attention_num_buckets: v.optional(positiveInt, 32),
  relative_attention_max_distance: v.optional(positiveInt, 128),
  dropout_rate: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1)), 0.1),
  layer_norm_epsilon: v.optional(v.pipe(v.number(), v.gtValue(0)), 1e-6),
  initializer_factor: v.optional(v.pipe(v.number(), v.finite()), 1.0),
  feed_forward_proj: v.optional(v.string(), "relu"),
  dense_act_fn: v.optional(v.string()),
  is_gated_act: v.optional(v.boolean()),
  tie_word_embeddings: v.optional(v.boolean(), true),
  pad_token_id: v.optional(nonNegativeInt, 0),
  eos_token_id: v.optional(nonNegativeInt, 1),
  decoder_start_token_id: v.optional(nonNegativeInt, 0),
});

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function activation(source: string, field: string, name: string): T5Activation {
  const act = ACTIVATIONS[name];
  if (act === undefined) {
    throw ConfigError.of(source, field, `activation ${show(name)} is not supported (supported: ${Object.keys(ACTIVATIONS).join(", ")})`);
  }
  return act;
}

/** Validates a parsed config.json (`source` names it in errors) and applies HF's defaults. */
export function parseT5Config(json: unknown, source: string): T5Config {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw ConfigError.of(source, "(root)", `a config must be a JSON object, got ${show(json)}`);
  }
  const result = v.safeParse(ConfigSchema, json);
  if (!result.success) {
    const issue = result.issues[0];
    const field = issue.path?.map((p) => String(p.key)).join(".") ?? "(root)";
    const expected = issue.type === "safe_integer" ? "an integer" : (issue.expected ?? issue.type);
    throw ConfigError.of(source, field, `expected ${expected}, got ${show(issue.input)}`);
  }
  const c = result.output;

  if (c.model_type !== undefined && c.model_type !== T5_MODEL_TYPE) {
    throw ConfigError.of(source, "model_type", `${show(c.model_type)} is not a T5 model (expected "${T5_MODEL_TYPE}")`);
  }
  for (const [i, arch] of (c.architectures ?? []).entries()) {
    if (!T5_ARCHITECTURES.includes(arch)) {
      throw ConfigError.of(source, `architectures.${i}`, `${show(arch)} is not a T5 architecture (accepted: ${T5_ARCHITECTURES.join(", ")})`);
    }
  }
  if (c.model_type === undefined && (c.architectures ?? []).length === 0) {
    throw ConfigError.of(source, "model_type", `missing: neither "model_type" nor "architectures" says this is a T5 model`);
  }

  const parts = c.feed_forward_proj.split("-");
  if ((parts.length > 1 && parts[0] !== "gated") || parts.length > 2) {
    throw ConfigError.of(source, "feed_forward_proj", `${show(c.feed_forward_proj)} is neither "ACT" nor "gated-ACT" (e.g. "relu", "gated-gelu")`);
  }
  const derivedAct = c.feed_forward_proj === "gated-gelu" ? "gelu_new" : parts[parts.length - 1]!;
  const denseActFn =
    c.dense_act_fn !== undefined ? activation(source, "dense_act_fn", c.dense_act_fn) : activation(source, "feed_forward_proj", derivedAct);

  // Structural bound: a mistyped num_layers (1e9) would otherwise build modules forever. The sizes of the
  // weights are checked against the backend's limits when a model is built (checkT5Config in model.ts).
  for (const [field, value] of [["num_layers", c.num_layers], ["num_decoder_layers", c.num_decoder_layers]] as const) {
    if (value !== undefined && value !== null && value > MAX_LAYERS) {
      throw ConfigError.of(source, field, `${value} blocks exceeds the bound of ${MAX_LAYERS} blocks per stack (T5-XXL has 24)`);
    }
  }
  // Ids the model feeds itself must be rows of the embedding.
  for (const [field, value] of [["pad_token_id", c.pad_token_id], ["eos_token_id", c.eos_token_id], ["decoder_start_token_id", c.decoder_start_token_id]] as const) {
    if (value >= c.vocab_size) throw ConfigError.of(source, field, `${value} is outside the vocabulary 0..${c.vocab_size - 1} (vocab_size ${c.vocab_size})`);
  }

  // d_model ≠ num_heads·d_kv is allowed (HF's attention projections are d_model × num_heads·d_kv).
  return {
    vocabSize: c.vocab_size,
    dModel: c.d_model,
    dKv: c.d_kv,
    dFf: c.d_ff,
    numLayers: c.num_layers,
    numDecoderLayers: c.num_decoder_layers ?? c.num_layers,
    numHeads: c.num_heads,
    relativeAttentionNumBuckets: c.relative_attention_num_buckets,
    relativeAttentionMaxDistance: c.relative_attention_max_distance,
    dropoutRate: c.dropout_rate,
    layerNormEpsilon: c.layer_norm_epsilon,
    initializerFactor: c.initializer_factor,
    feedForwardProj: c.feed_forward_proj,
    isGatedAct: c.is_gated_act ?? parts[0] === "gated",
    denseActFn,
    tieWordEmbeddings: c.tie_word_embeddings,
    padTokenId: c.pad_token_id,
    eosTokenId: c.eos_token_id,
    decoderStartTokenId: c.decoder_start_token_id,
  };
}

/** Reads and parses `path` (a config.json, or a directory holding one). */
export async function readT5Config(fs: FileAccess, path: string): Promise<T5Config> {
  const stat = await fs.stat(path);
  const file = stat?.isDirectory ? fs.join(path, "config.json") : path;
  const text = await fs.readText(file);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw ConfigError.of(file, "(root)", `not valid JSON: ${(e as Error).message}`);
  }
  return parseT5Config(json, file);
}

/** The config in HF's config.json layout (what transformers writes for a T5ForConditionalGeneration). */
export function t5ConfigToJson(config: T5Config): Record<string, unknown> {
  return {
    architectures: ["T5ForConditionalGeneration"],
    d_ff: config.dFf,
    d_kv: config.dKv,
    d_model: config.dModel,
    decoder_start_token_id: config.decoderStartTokenId,
    dense_act_fn: config.denseActFn,
    dropout_rate: config.dropoutRate,
    eos_token_id: config.eosTokenId,
    feed_forward_proj: config.feedForwardProj,
    initializer_factor: config.initializerFactor,
    is_encoder_decoder: true,
    is_gated_act: config.isGatedAct,
    layer_norm_epsilon: config.layerNormEpsilon,
    model_type: T5_MODEL_TYPE,
    num_decoder_layers: config.numDecoderLayers,
    num_heads: config.numHeads,
    num_layers: config.numLayers,
    pad_token_id: config.padTokenId,
    relative_attention_max_distance: config.relativeAttentionMaxDistance,
    relative_attention_num_buckets: config.relativeAttentionNumBuckets,
    tie_word_embeddings: config.tieWordEmbeddings,
    vocab_size: config.vocabSize,
  };
}
