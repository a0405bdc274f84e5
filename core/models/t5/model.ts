/**
 * T5 (Raffel et al. 2020) as HF's `T5ForConditionalGeneration` computes it, as a module tree with HF's
 * dotted names (`encoder.block.0.layer.0.SelfAttention.q`, `decoder.block.3.layer.1.EncDecAttention.k`,
 * `decoder.block.0.layer.2.DenseReluDense.wi_0`, …) so HF checkpoints load by name.
 * Port of the semantics of transformers/models/t5/modeling_t5.py (v4.x):
 *  - pre-norm residual blocks with RMS norm (no mean, no bias, ε = layer_norm_epsilon);
 *  - attention without the 1/√d_k scaling (folded into the initialisation);
 *  - relative position bias computed by block 0 of each stack (bidirectional buckets in the encoder,
 *    causal in the decoder), reused with the mask added by every later block; none in cross-attention;
 *  - masks are additive: 0 where allowed, float32's lowest value where not (as HF: rows that mask every
 *    key then attend uniformly instead of producing NaN);
 *  - FFN: wo(act(wi x)) for v1.0 (relu), wo(act(wi_0 x) ⊙ wi_1 x) for gated variants (v1.1: gelu_new);
 *  - tied embeddings: the decoder output is scaled by d_model^-½ before lm_head = shared;
 *  - decoder inputs = labels shifted right (decoder_start_token_id first, −100 → pad); loss =
 *    cross-entropy over the vocabulary ignoring −100.
 * Shape legend: B batch, S source length, T target length, L query length, K key length, D d_model,
 * H heads, Dk d_kv, I = H·Dk, F d_ff, V vocabulary.
 */
import type { Backend } from "../../backend/backend.ts";
import { BackendMismatchError, DTypeError, IndexOutOfRangeError, InvalidArgumentError, ShapeError, SizeLimitError } from "../../errors.ts";
import { suggestName, unknownNameMessage } from "../../suggest.ts";
import type { T5Config } from "../../io/t5-config.ts";
import { Module } from "../../nn/module.ts";
import { Dropout, Embedding, Linear, RMSNorm } from "../../nn/layers.ts";
import { checkpoint } from "../../tensor/checkpoint.ts";
import { tensor } from "../../tensor/create.ts";
import { biasedSoftmax } from "../../tensor/ops/biased-softmax.ts";
import { crossEntropy } from "../../tensor/ops/cross-entropy.ts";
import { batchedMatmul } from "../../tensor/ops/matmul.ts";
import { concat } from "../../tensor/ops/views.ts";
import { where } from "../../tensor/ops/elementwise.ts";
import { full } from "../../tensor/ops/fill.ts";
import { keep, tidy } from "../../tensor/scope.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { type FloatDType, isFloat } from "../../tensor/dtype.ts";
import { type GenerateOptions, generateGreedy } from "./generate.ts";
import { relativePositionBuckets } from "./position-bias.ts";
import { acceptsResidual, runHooked } from "../../nn/hooks.ts";

/** float32's lowest finite value: HF's additive mask value (torch.finfo(torch.float32).min). */
export const MASK_VALUE = -3.4028234663852886e38;

/** Token ids or masks: a device tensor, nested rows, or flat int32 data with its (rows, columns) shape. */
export type IntMatrix = Tensor | readonly (readonly number[])[] | { readonly data: Int32Array; readonly shape: readonly [number, number] };

/** Host view of an IntMatrix: flat row-major data and shape. */
export interface HostMatrix {
  readonly data: Int32Array;
  readonly rows: number;
  readonly cols: number;
}

/**
 * What the values of a matrix must be: token ids 0…vocabSize−1, labels (ids or −100, the ignored
 * position), a 0/1 mask, or any int32 (no check beyond being an integer).
 */
export type MatrixValues =
  | { readonly kind: "ids"; readonly vocabSize: number }
  | { readonly kind: "labels"; readonly vocabSize: number }
  | { readonly kind: "mask" }
  | { readonly kind: "int32" };

/** Where a validation error comes from: the entry point (`T5.forward`, `T5.generate`, …). */
const INT32: MatrixValues = { kind: "int32" };

/** A short, exact rendering of a value a user passed (for messages). */
export function showValue(value: unknown): string {
  if (typeof value === "number" || typeof value === "boolean" || value === undefined || value === null) return String(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  return text === undefined ? Object.prototype.toString.call(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function expectedValues(values: MatrixValues): string {
  switch (values.kind) {
    case "ids":
      return `a token id 0..${values.vocabSize - 1}`;
    case "labels":
      return `a token id 0..${values.vocabSize - 1} or -100 (ignored)`;
    case "mask":
      return "0 or 1";
    case "int32":
      return "an int32 integer";
  }
  return values satisfies never;
}

/** The first value of `data` that `values` does not allow, as an error naming `what[row][col]`; else null. */
function checkValues(data: ArrayLike<number>, cols: number, what: string, values: MatrixValues, op: string): Error | null {
  const n = data.length;
  let bad = -1;
  switch (values.kind) {
    case "ids": {
      const v = values.vocabSize;
      for (let i = 0; i < n; i++) {
        const x = data[i]!;
        if (!(x >= 0 && x < v)) {
          bad = i;
          break;
        }
      }
      break;
    }
    case "labels": {
      const v = values.vocabSize;
      for (let i = 0; i < n; i++) {
        const x = data[i]!;
        if (!((x >= 0 && x < v) || x === -100)) {
          bad = i;
          break;
        }
      }
      break;
    }
    case "mask":
      for (let i = 0; i < n; i++) {
        const x = data[i]!;
        if (x !== 0 && x !== 1) {
          bad = i;
          break;
        }
      }
      break;
    case "int32":
      break;
  }
  if (bad < 0) return null;
  const at = `${what}[${Math.floor(bad / cols)}][${bad % cols}] = ${data[bad]}`;
  if (values.kind === "mask" || values.kind === "int32") return InvalidArgumentError.of(op, what, `${at} is not ${expectedValues(values)}`);
  return new IndexOutOfRangeError({
    op,
    index: data[bad]!,
    size: values.vocabSize,
    message: `${op}: ${at} is outside the vocabulary 0..${values.vocabSize - 1}${values.kind === "labels" ? " (or -100, ignored)" : ""}`,
  });
}

const MATRIX_FORMS = "a (batch, length) int32 tensor, nested arrays of integers, or { data: Int32Array, shape: [rows, cols] }";

/**
 * Checks host token ids or masks once, at the boundary, and returns them as flat int32 data; a device
 * tensor returns null (its values stay on the device: see `toIdsTensor`). Nested rows must be non-empty,
 * rectangular and hold integers that `values` allows: nothing is coerced (`"5"`, `5.5`, `2**32+5`, NaN,
 * null are errors naming the position). Cost: one pass over B·L numbers per argument per call.
 */
export function hostMatrix(m: IntMatrix, what: string, values: MatrixValues = INT32, op = "T5.forward"): HostMatrix | null {
  if (isTensor(m)) return null;
  if (typeof m !== "object" || m === null) throw InvalidArgumentError.of(op, what, `expected ${MATRIX_FORMS}, got ${showValue(m)}`);
  if (!Array.isArray(m)) {
    const { data, shape } = m as { data?: unknown; shape?: unknown };
    if (!(data instanceof Int32Array)) {
      throw InvalidArgumentError.of(op, what, `${what}.data must be an Int32Array, got ${showValue(data)} (expected ${MATRIX_FORMS})`);
    }
    if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
      throw InvalidArgumentError.of(op, what, `${what}.shape must be [rows, cols] of positive integers, got ${showValue(shape)}`);
    }
    const [rows, cols] = shape as [number, number];
    if (rows * cols !== data.length) throw ShapeError.of(op, [[rows, cols]], `${what}: ${data.length} values do not fill the shape`);
    const error = checkValues(data, cols, what, values, op);
    if (error) throw error;
    return { data, rows, cols };
  }
  const nested = m as readonly unknown[];
  const rows = nested.length;
  if (rows === 0) throw InvalidArgumentError.of(op, what, `${what} is empty: expected at least one row`);
  const first = nested[0];
  if (!Array.isArray(first)) throw InvalidArgumentError.of(op, what, `${what}[0] must be an array of integers, got ${showValue(first)}`);
  const cols = first.length;
  if (cols === 0) throw InvalidArgumentError.of(op, what, `${what}[0] is empty: expected at least one value per row`);
  const data = new Int32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = nested[r];
    if (!Array.isArray(row)) throw InvalidArgumentError.of(op, what, `${what}[${r}] must be an array of integers, got ${showValue(row)}`);
    if (row.length !== cols) throw ShapeError.of(op, [[rows, cols]], `${what}: row ${r} has ${row.length} values, expected ${cols} (rows must have equal lengths)`);
    const base = r * cols;
    for (let c = 0; c < cols; c++) {
      const x = row[c] as unknown;
      // typeof + integer + int32 range: rejects "5", 5.5, NaN, ±Infinity, null, nested arrays, 2**32+5
      if (typeof x !== "number" || (x | 0) !== x) {
        throw InvalidArgumentError.of(op, what, `${what}[${r}][${c}] = ${showValue(x)} is not an integer (expected ${expectedValues(values)})`);
      }
      data[base + c] = x;
    }
  }
  const error = checkValues(data, cols, what, values, op);
  if (error) throw error;
  return { data, rows, cols };
}

function isTensor(m: unknown): m is Tensor {
  return typeof m === "object" && m !== null && "backend" in m && "shape" in m && "strides" in m;
}

/**
 * A (B, L) int32 tensor of ids on `backend`: host data is checked by `hostMatrix`; a device tensor is
 * checked for rank, dtype, backend and non-empty shape (its values are not read back: that would cost a
 * sync per call; the gather kernels range-check on the CPU backend).
 */
export function toIdsTensor(m: IntMatrix, backend: Backend, what: string, values: MatrixValues = INT32, op = "T5.forward"): Tensor {
  if (isTensor(m)) {
    tensorDims(m, backend, what, op);
    return m.retainHandle();
  }
  return hostTensor(hostMatrix(m, what, values, op)!, backend);
}

/** (rows, cols) of a device ids tensor, after checking its rank, dtype, backend and non-empty shape. */
function tensorDims(m: Tensor, backend: Backend, what: string, op: string): { rows: number; cols: number } {
  if (m.rank !== 2) throw ShapeError.of(op, [m.shape], `${what}: expected a (batch, length) tensor`);
  if (m.dtype !== "int32") throw DTypeError.of(`${op} ${what}`, "int32", m.dtype);
  if (m.shape[0]! < 1 || m.shape[1]! < 1) throw ShapeError.of(op, [m.shape], `${what}: expected at least one row and one column`);
  if (m.backend !== backend) {
    throw new BackendMismatchError({ op, message: `${op}: ${what} is on backend "${m.backend.name}", the model on "${backend.name}"` });
  }
  return { rows: m.shape[0]!, cols: m.shape[1]! };
}

function hostTensor(h: HostMatrix, backend: Backend): Tensor {
  return tensor(h.data, { backend, shape: [h.rows, h.cols], dtype: "int32" });
}

/** Checks that `m` is (rows, cols) as `ref` names it. */
function sameShape(op: string, what: string, m: { readonly rows: number; readonly cols: number }, refWhat: string, rows: number, cols: number): void {
  if (m.rows !== rows || m.cols !== cols) {
    throw ShapeError.of(op, [[rows, cols], [m.rows, m.cols]], `${what} is (${m.rows}, ${m.cols}) but ${refWhat} is (${rows}, ${cols}); they must match`);
  }
}

const INPUT_KEYS: readonly string[] = ["inputIds", "attentionMask", "labels", "decoderInputIds", "decoderAttentionMask"];

/** `inputs` must be an object of known keys (a typo would otherwise be ignored silently). */
function checkInputsObject(inputs: unknown, op: string): void {
  if (typeof inputs !== "object" || inputs === null || Array.isArray(inputs)) {
    throw InvalidArgumentError.of(op, "inputs", `expected an object { inputIds, attentionMask?, labels?, decoderInputIds?, decoderAttentionMask? }, got ${showValue(inputs)}`);
  }
  // Other fields may ride along (a batch object with its examples, a golden file with its loss); a key
  // that is a misspelling of an input (attention_mask, labelz) would silently change the result: refused.
  for (const key of Object.keys(inputs)) {
    if (!INPUT_KEYS.includes(key) && (inputs as Record<string, unknown>)[key] !== undefined && suggestName(key, INPUT_KEYS) !== undefined) {
      throw InvalidArgumentError.of(op, key, unknownNameMessage(key, INPUT_KEYS, "input"));
    }
  }
  if ((inputs as { inputIds?: unknown }).inputIds === undefined) throw InvalidArgumentError.of(op, "inputIds", "missing: give the source token ids (B, S)");
}

const DTYPE_BYTES: Readonly<Record<FloatDType, number>> = { float32: 4, float64: 8 };

/** Refuses a buffer of `elements` × dtype bytes larger than the backend's maxBufferBytes, before allocating. */
export function checkBufferSize(backend: Backend, dtype: FloatDType, op: string, field: string, name: string, shape: readonly number[]): void {
  let elements = 1;
  for (const d of shape) elements *= d;
  const bytes = elements * DTYPE_BYTES[dtype];
  const limit = backend.capabilities.maxBufferBytes;
  if (!(bytes <= limit)) {
    throw SizeLimitError.of(op, field, `${name} [${shape.join(", ")}] in ${dtype}`, bytes, `${backend.name} backend's largest buffer (maxBufferBytes)`, limit);
  }
}

/** Most blocks per stack: T5-XXL has 24; a bound that keeps a mistyped config from building forever. */
export const MAX_T5_LAYERS = 1024;

/**
 * Checks a T5Config (which code may build without parseT5Config) before anything is allocated: positive
 * integer sizes, ids inside the vocabulary, at most MAX_T5_LAYERS blocks per stack, and every weight
 * within the backend's largest buffer.
 */
export function checkT5Config(config: T5Config, backend: Backend, dtype: FloatDType): void {
  const op = "T5 config";
  if (typeof config !== "object" || config === null) throw InvalidArgumentError.of(op, "config", `expected a T5Config object, got ${showValue(config)}`);
  const sizes: [keyof T5Config, string][] = [
    ["vocabSize", "vocab_size"], ["dModel", "d_model"], ["dKv", "d_kv"], ["dFf", "d_ff"], ["numLayers", "num_layers"],
    ["numDecoderLayers", "num_decoder_layers"], ["numHeads", "num_heads"], ["relativeAttentionNumBuckets", "relative_attention_num_buckets"],
    ["relativeAttentionMaxDistance", "relative_attention_max_distance"],
  ];
  for (const [key, field] of sizes) {
    const value = config[key] as unknown;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
      throw InvalidArgumentError.of(op, field, `${field} (${key}) = ${showValue(value)}: expected a positive integer`);
    }
  }
  for (const [key, field] of [["numLayers", "num_layers"], ["numDecoderLayers", "num_decoder_layers"]] as const) {
    if (config[key] > MAX_T5_LAYERS) {
      throw InvalidArgumentError.of(op, field, `${field} = ${config[key]} blocks exceeds the bound of ${MAX_T5_LAYERS} blocks per stack`);
    }
  }
  for (const [key, field] of [["padTokenId", "pad_token_id"], ["eosTokenId", "eos_token_id"], ["decoderStartTokenId", "decoder_start_token_id"]] as const) {
    const id = config[key] as unknown;
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= config.vocabSize) {
      throw InvalidArgumentError.of(op, field, `${field} = ${showValue(id)} is outside the vocabulary 0..${config.vocabSize - 1}`);
    }
  }
  const { vocabSize: V, dModel: D, dFf: F, numHeads: H, dKv: Dk, relativeAttentionNumBuckets: NB } = config;
  checkBufferSize(backend, dtype, op, "vocab_size × d_model", "shared.weight", [V, D]);
  checkBufferSize(backend, dtype, op, "num_heads × d_kv × d_model", "SelfAttention.q.weight", [H * Dk, D]);
  checkBufferSize(backend, dtype, op, "d_ff × d_model", "DenseReluDense.wi.weight", [F, D]);
  checkBufferSize(backend, dtype, op, "relative_attention_num_buckets × num_heads", "relative_attention_bias.weight", [NB, H]);
}

/**
 * Refuses a batch whose activations would not fit one buffer of the backend, before anything runs: the
 * attention scores (B, H, L, K) of each stack and the logits (B, T, V).
 */
function checkActivationSizes(model: T5ForConditionalGeneration, B: number, S: number, T: number): void {
  const { backend, dtype, config } = model;
  const H = config.numHeads;
  const op = "T5.forward";
  checkBufferSize(backend, dtype, op, `inputIds (B, S) = (${B}, ${S})`, "encoder attention scores (B, H, S, S)", [B, H, S, S]);
  checkBufferSize(backend, dtype, op, `inputIds (B, S) = (${B}, ${S}) and decoder length T = ${T}`, "cross-attention scores (B, H, T, S)", [B, H, T, S]);
  checkBufferSize(backend, dtype, op, `decoder inputs (B, T) = (${B}, ${T})`, "decoder attention scores (B, H, T, T)", [B, H, T, T]);
  checkBufferSize(backend, dtype, op, `decoder inputs (B, T) = (${B}, ${T})`, "logits (B, T, V)", [B, T, config.vocabSize]);
}

/** Additive (B, 1, 1, K) mask from a 0/1 attention mask: 0 where 1, MASK_VALUE where 0. */
function keyMaskBias(mask: HostMatrix, backend: Backend, dtype: FloatDType, onDevice?: Tensor): Tensor {
  const bias = new Float64Array(mask.data.length);
  mask.data.forEach((v, i) => (bias[i] = v ? 0 : MASK_VALUE));
  const hostBias = tensor(bias, { backend, shape: [mask.rows, 1, 1, mask.cols], dtype });
  return onDevice ? maskOnDevice(hostBias, onDevice) : hostBias;
}

/** `bias` with MASK_VALUE where the (B, K) device mask is 0, broadcast over (B, 1, Q, K). */
function maskOnDevice(bias: Tensor, mask: Tensor): Tensor {
  const [B, K] = mask.shape as [number, number];
  return where(mask.reshape([B, 1, 1, K]), bias, full(bias.backend, [], MASK_VALUE, bias.dtype));
}

/** A 0/1 mask given as an int32 device tensor: its dims, after checking it (and its values where known). */
function maskTensor(m: Tensor, backend: Backend, what: string, op: string): { mask: Tensor; rows: number; cols: number } {
  const dims = tensorDims(m, backend, what, op);
  const r = m.intRange;
  if (r && (r.min < 0 || r.max > 1)) throw InvalidArgumentError.of(op, what, `a mask holds 0 (padding) or 1 (token), this one values in [${r.min}, ${r.max}]`);
  return { mask: m, ...dims };
}

/** Additive (B, 1, T, T) causal mask combined with the decoder's own attention mask. */
function causalMaskBias(mask: HostMatrix, backend: Backend, dtype: FloatDType, onDevice?: Tensor): Tensor {
  const { rows: B, cols: T } = mask;
  const bias = new Float64Array(B * T * T);
  for (let b = 0; b < B; b++) {
    for (let q = 0; q < T; q++) {
      for (let k = 0; k < T; k++) bias[(b * T + q) * T + k] = k <= q && mask.data[b * T + k] ? 0 : MASK_VALUE;
    }
  }
  const hostBias = tensor(bias, { backend, shape: [B, 1, T, T], dtype });
  return onDevice ? maskOnDevice(hostBias, onDevice) : hostBias;
}

function onesMatrix(rows: number, cols: number): HostMatrix {
  return { data: new Int32Array(rows * cols).fill(1), rows, cols };
}

/** Parameter tensors by HF name, consumed as the modules are built. */
export type WeightSource = (name: string, shape: readonly number[]) => Tensor;

export class T5Attention extends Module {
  /** A hook point: hooks see the block's input (the normed hidden state) and its output before the residual. */
  override readonly hookPoint: "attention" = "attention";
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly relativeBias: Embedding | null;
  readonly dropout: Dropout;

  constructor(
    readonly config: T5Config,
    prefix: string,
    weight: WeightSource,
    hasRelativeBias: boolean,
    readonly bidirectional: boolean,
  ) {
    super();
    const inner = config.numHeads * config.dKv;
    this.q = this.registerModule("q", new Linear(weight(`${prefix}.q.weight`, [inner, config.dModel])));
    this.k = this.registerModule("k", new Linear(weight(`${prefix}.k.weight`, [inner, config.dModel])));
    this.v = this.registerModule("v", new Linear(weight(`${prefix}.v.weight`, [inner, config.dModel])));
    this.o = this.registerModule("o", new Linear(weight(`${prefix}.o.weight`, [config.dModel, inner])));
    this.relativeBias = hasRelativeBias
      ? this.registerModule(
          "relative_attention_bias",
          new Embedding(weight(`${prefix}.relative_attention_bias.weight`, [config.relativeAttentionNumBuckets, config.numHeads])),
        )
      : null;
    this.dropout = this.registerModule("dropout", new Dropout(config.dropoutRate));
  }

  /** Width of the block's input and output (d_model). */
  get features(): number {
    return this.config.dModel;
  }

  /** (B, L, D) → (B, H, L, Dk) */
  splitHeads(x: Tensor): Tensor {
    const [B, L] = x.shape as [number, number, number];
    return x.reshape([B, L, this.config.numHeads, this.config.dKv]).permute([0, 2, 1, 3]);
  }

  /**
   * Learned bias (1, H, L, K) for queries at positions offset…offset+L−1 and keys 0…K−1:
   * relative_attention_bias[bucket(k − q)] with the heads moved to axis 1.
   */
  positionBias(queryLength: number, keyLength: number, backend: Backend, queryOffset = 0): Tensor {
    if (!this.relativeBias) throw InvalidArgumentError.of("T5Attention.positionBias", "module", "this attention layer has no relative_attention_bias");
    const buckets = relativePositionBuckets(queryLength, keyLength, {
      bidirectional: this.bidirectional,
      numBuckets: this.config.relativeAttentionNumBuckets,
      maxDistance: this.config.relativeAttentionMaxDistance,
      queryOffset,
    });
    return tidy(() => {
      const ids = tensor(buckets, { backend, shape: [queryLength, keyLength], dtype: "int32" });
      return this.relativeBias!.forward(ids).permute([2, 0, 1]).unsqueeze(0); // (L, K, H) → (1, H, L, K)
    });
  }

  /**
   * softmax(q·kᵀ + bias)·v with q (B, H, L, Dk), k and v (B, H, K, Dk), bias broadcastable to (B, H, L, K);
   * returns o(…) of shape (B, L, D), plus `residual` (B, L, D) when given (added in o's product).
   */
  attend(q: Tensor, k: Tensor, v: Tensor, bias: Tensor, residual?: Tensor): Tensor {
    return tidy(() => {
      const scores = q.matmul(k.transpose()); // (B, H, L, K), no 1/√Dk in T5
      // softmax(scores + bias) in one launch (= scores.add(bias).softmax(-1)); bias is position bias + mask
      const weights = this.dropout.forward(biasedSoftmax(scores, bias));
      // (B, H, L, Dk), stored as (B, L, H, Dk): merging the heads below is then a view, not a copy
      const context = batchedMatmul(weights, v, { layout: [0, 2, 1, 3] });
      const [B, H, L, Dk] = context.shape as [number, number, number, number];
      return this.o.forward(context.permute([0, 2, 1, 3]).reshape([B, L, H * Dk]), residual);
    });
  }
}

/** layer.0 of every block: pre-norm self-attention with a residual. */
export class T5LayerSelfAttention extends Module {
  readonly SelfAttention: T5Attention;
  readonly layer_norm: RMSNorm;
  readonly dropout: Dropout;

  constructor(config: T5Config, prefix: string, weight: WeightSource, hasRelativeBias: boolean, isDecoder: boolean) {
    super();
    this.SelfAttention = this.registerModule("SelfAttention", new T5Attention(config, `${prefix}.SelfAttention`, weight, hasRelativeBias, !isDecoder));
    this.layer_norm = this.registerModule("layer_norm", new RMSNorm(weight(`${prefix}.layer_norm.weight`, [config.dModel]), config.layerNormEpsilon));
    this.dropout = this.registerModule("dropout", new Dropout(config.dropoutRate));
  }

  /** h + dropout(attn(norm(h))); with `cache`, keys/values of earlier positions are prepended. */
  forward(h: Tensor, bias: Tensor, cache?: KeyValueCache): Tensor {
    return tidy(() => {
      const a = this.SelfAttention;
      const normed = this.layer_norm.forward(h);
      let k = a.splitHeads(a.k.forward(normed));
      let v = a.splitHeads(a.v.forward(normed));
      if (cache) {
        if (cache.k) {
          k = concat([cache.k, k], 2);
          v = concat([cache.v!, v], 2);
        }
        cache.replace(k, v);
      }
      // hooks on the attention block see its input (the normed hidden state) and its output; without
      // dropout, and with only parallel hooks on the block, the residual add is done in o's product
      const fused = !this.dropout.active && acceptsResidual(a);
      const attended = runHooked(a, normed, (x) => a.attend(a.splitHeads(a.q.forward(x)), k, v, bias, fused ? h : undefined));
      return fused ? attended : this.dropout.addTo(h, attended);
    });
  }
}

/** decoder layer.1: pre-norm cross-attention over the encoder output, with a residual. */
export class T5LayerCrossAttention extends Module {
  readonly EncDecAttention: T5Attention;
  readonly layer_norm: RMSNorm;
  readonly dropout: Dropout;

  constructor(config: T5Config, prefix: string, weight: WeightSource) {
    super();
    this.EncDecAttention = this.registerModule("EncDecAttention", new T5Attention(config, `${prefix}.EncDecAttention`, weight, false, true));
    this.layer_norm = this.registerModule("layer_norm", new RMSNorm(weight(`${prefix}.layer_norm.weight`, [config.dModel]), config.layerNormEpsilon));
    this.dropout = this.registerModule("dropout", new Dropout(config.dropoutRate));
  }

  /** Keys and values (B, H, S, Dk) of the encoder output; computed once per generation. */
  encoderKeyValues(encoderHidden: Tensor): [Tensor, Tensor] {
    const a = this.EncDecAttention;
    return tidy(() => [a.splitHeads(a.k.forward(encoderHidden)), a.splitHeads(a.v.forward(encoderHidden))]);
  }

  forward(h: Tensor, encoderHidden: Tensor, encoderBias: Tensor, cached?: [Tensor, Tensor]): Tensor {
    return tidy(() => {
      const a = this.EncDecAttention;
      const normed = this.layer_norm.forward(h);
      const [k, v] = cached ?? this.encoderKeyValues(encoderHidden);
      const fused = !this.dropout.active && acceptsResidual(a); // as in T5LayerSelfAttention
      const attended = runHooked(a, normed, (x) => a.attend(a.splitHeads(a.q.forward(x)), k, v, encoderBias, fused ? h : undefined));
      return fused ? attended : this.dropout.addTo(h, attended);
    });
  }
}

/** The feed-forward inside T5LayerFF, named DenseReluDense in every HF checkpoint. */
export class T5DenseActDense extends Module {
  /** A hook point: hooks see the block's input (the normed hidden state) and its output before the residual. */
  override readonly hookPoint: "feed-forward" = "feed-forward";
  readonly wi: Linear | null;
  readonly wi_0: Linear | null;
  readonly wi_1: Linear | null;
  readonly wo: Linear;
  readonly dropout: Dropout;

  constructor(
    readonly config: T5Config,
    prefix: string,
    weight: WeightSource,
  ) {
    super();
    const { dModel: D, dFf: F } = config;
    if (config.isGatedAct) {
      this.wi = null;
      this.wi_0 = this.registerModule("wi_0", new Linear(weight(`${prefix}.wi_0.weight`, [F, D])));
      this.wi_1 = this.registerModule("wi_1", new Linear(weight(`${prefix}.wi_1.weight`, [F, D])));
    } else {
      this.wi = this.registerModule("wi", new Linear(weight(`${prefix}.wi.weight`, [F, D])));
      this.wi_0 = null;
      this.wi_1 = null;
    }
    this.wo = this.registerModule("wo", new Linear(weight(`${prefix}.wo.weight`, [D, F])));
    this.dropout = this.registerModule("dropout", new Dropout(config.dropoutRate));
  }

  /** Width of the block's input and output (d_model). */
  get features(): number {
    return this.config.dModel;
  }

  private act(x: Tensor): Tensor {
    switch (this.config.denseActFn) {
      case "relu":
        return x.relu();
      case "gelu_new":
        return x.gelu();
      case "gelu":
        return x.geluErf();
      case "silu":
        return x.silu();
    }
    return this.config.denseActFn satisfies never;
  }

  /**
   * (B, L, D) → (B, L, D), with plugin hooks on the block (KronA^B, adapters) applied; plus `residual`
   * (B, L, D) when given, added in wo's product (callers pass one only when acceptsResidual(this)).
   */
  forward(x: Tensor, residual?: Tensor): Tensor {
    return tidy(() =>
      runHooked(this, x, (v) => {
        const hidden = !this.wi
          ? this.act(this.wi_0!.forward(v)).mul(this.wi_1!.forward(v))
          : this.config.denseActFn === "relu"
            ? this.wi.forwardRelu(v) // relu in wi's product when wi has no hooks
            : this.act(this.wi.forward(v)); // (B, L, F)
        return this.wo.forward(this.dropout.forward(hidden), residual);
      }),
    );
  }
}

export class T5LayerFF extends Module {
  readonly DenseReluDense: T5DenseActDense;
  readonly layer_norm: RMSNorm;
  readonly dropout: Dropout;

  constructor(config: T5Config, prefix: string, weight: WeightSource) {
    super();
    this.DenseReluDense = this.registerModule("DenseReluDense", new T5DenseActDense(config, `${prefix}.DenseReluDense`, weight));
    this.layer_norm = this.registerModule("layer_norm", new RMSNorm(weight(`${prefix}.layer_norm.weight`, [config.dModel]), config.layerNormEpsilon));
    this.dropout = this.registerModule("dropout", new Dropout(config.dropoutRate));
  }

  forward(h: Tensor): Tensor {
    return tidy(() => {
      const normed = this.layer_norm.forward(h);
      // without dropout and with only parallel hooks on the block, the residual add is done in wo's product
      if (!this.dropout.active && acceptsResidual(this.DenseReluDense)) return this.DenseReluDense.forward(normed, h);
      return this.dropout.addTo(h, this.DenseReluDense.forward(normed));
    });
  }
}

/** Keys/values of earlier decoder positions for incremental decoding. */
export class KeyValueCache {
  k: Tensor | null = null;
  v: Tensor | null = null;

  replace(k: Tensor, v: Tensor): void {
    this.k?.dispose();
    this.v?.dispose();
    // kept out of the step's tidy scope: the cache outlives the step that filled it
    this.k = keep(k.retainHandle());
    this.v = keep(v.retainHandle());
  }

  dispose(): void {
    this.k?.dispose();
    this.v?.dispose();
    this.k = this.v = null;
  }
}

/** HF's container module for a block's layers: `block.N.layer` with children "0", "1" (, "2"). */
class LayerList extends Module {
  add(index: number, layer: Module): void {
    this.registerModule(String(index), layer);
  }
}

export class T5Block extends Module {
  readonly selfAttention: T5LayerSelfAttention;
  readonly crossAttention: T5LayerCrossAttention | null;
  readonly ff: T5LayerFF;

  constructor(config: T5Config, prefix: string, weight: WeightSource, index: number, isDecoder: boolean) {
    super();
    const layers = this.registerModule("layer", new LayerList());
    this.selfAttention = new T5LayerSelfAttention(config, `${prefix}.layer.0`, weight, index === 0, isDecoder);
    layers.add(0, this.selfAttention);
    this.crossAttention = isDecoder ? new T5LayerCrossAttention(config, `${prefix}.layer.1`, weight) : null;
    if (this.crossAttention) layers.add(1, this.crossAttention);
    this.ff = new T5LayerFF(config, `${prefix}.layer.${isDecoder ? 2 : 1}`, weight);
    layers.add(isDecoder ? 2 : 1, this.ff);
  }

  forward(h: Tensor, bias: Tensor, encoder?: { hidden: Tensor; bias: Tensor; keyValues?: [Tensor, Tensor] }, cache?: KeyValueCache): Tensor {
    return tidy(() => {
      let x = this.selfAttention.forward(h, bias, cache);
      if (this.crossAttention && encoder) x = this.crossAttention.forward(x, encoder.hidden, encoder.bias, encoder.keyValues);
      return this.ff.forward(x);
    });
  }
}

class BlockList extends Module {
  readonly blocks: T5Block[] = [];
  add(block: T5Block): void {
    this.registerModule(String(this.blocks.length), block);
    this.blocks.push(block);
  }
}

export class T5Stack extends Module {
  readonly embed_tokens: Embedding;
  readonly block: BlockList;
  readonly final_layer_norm: RMSNorm;
  readonly dropout: Dropout;
  /** Recompute each block in backward instead of keeping its activations. */
  gradientCheckpointing = false;

  constructor(
    readonly config: T5Config,
    prefix: "encoder" | "decoder",
    weight: WeightSource,
    shared: Tensor,
    readonly isDecoder: boolean,
  ) {
    super();
    this.embed_tokens = this.registerModule("embed_tokens", new Embedding(shared));
    this.block = this.registerModule("block", new BlockList());
    const n = isDecoder ? config.numDecoderLayers : config.numLayers;
    for (let i = 0; i < n; i++) this.block.add(new T5Block(config, `${prefix}.block.${i}`, weight, i, isDecoder));
    this.final_layer_norm = this.registerModule("final_layer_norm", new RMSNorm(weight(`${prefix}.final_layer_norm.weight`, [config.dModel]), config.layerNormEpsilon));
    this.dropout = this.registerModule("dropout", new Dropout(config.dropoutRate));
  }

  /** Block 0's relative position bias (1, H, L, K). */
  positionBias(queryLength: number, keyLength: number, backend: Backend, queryOffset = 0): Tensor {
    return this.block.blocks[0]!.selfAttention.SelfAttention.positionBias(queryLength, keyLength, backend, queryOffset);
  }

  /**
   * ids (B, L) → hidden (B, L, D). `selfMaskBias` is the additive mask for self-attention (B, 1, 1|L, L);
   * the decoder also gets the encoder output and its mask bias.
   */
  forward(ids: Tensor, selfMaskBias: Tensor, encoder?: { hidden: Tensor; bias: Tensor }): Tensor {
    return tidy(() => {
      const L = ids.shape[1]!;
      const bias = this.positionBias(L, L, ids.backend).add(selfMaskBias); // (B, H, L, L), shared by all blocks
      let h = this.dropout.forward(this.embed_tokens.forward(ids));
      for (const block of this.block.blocks) {
        if (this.gradientCheckpointing && this.training) {
          h = encoder
            ? checkpoint((x, b, e, eb) => block.forward(x, b, { hidden: e, bias: eb }), [h, bias, encoder.hidden, encoder.bias])
            : checkpoint((x, b) => block.forward(x, b), [h, bias]);
        } else {
          h = block.forward(h, bias, encoder);
        }
      }
      return this.dropout.forward(this.final_layer_norm.forward(h));
    });
  }
}

export interface T5Inputs {
  /** Source token ids (B, S). */
  readonly inputIds: IntMatrix;
  /** 1 for real tokens, 0 for padding (B, S): host data, or an int32 device tensor; default all ones. */
  readonly attentionMask?: IntMatrix;
  /** Target ids (B, T), −100 where no loss is wanted. */
  readonly labels?: IntMatrix;
  /** Decoder input ids (B, T); default: labels shifted right. */
  readonly decoderInputIds?: IntMatrix;
  /** (B, T), host data or an int32 device tensor; default all ones (the causal mask applies either way). */
  readonly decoderAttentionMask?: IntMatrix;
}

export interface T5Outputs {
  /** Mean cross-entropy over non-ignored label positions (present when labels were given). */
  readonly loss: Tensor | null;
  /** (B, T, V) */
  readonly logits: Tensor;
}

/** HF `_shift_right`: decoder_start_token_id, then labels without their last column; −100 → pad. */
export function shiftRight(labels: HostMatrix, startId: number, padId: number): HostMatrix {
  const { rows, cols } = labels;
  const out = new Int32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    out[r * cols] = startId;
    for (let c = 1; c < cols; c++) {
      const v = labels.data[r * cols + c - 1]!;
      out[r * cols + c] = v === -100 ? padId : v;
    }
  }
  return { data: out, rows, cols };
}

/**
 * A labelled host batch as device tensors, checked like `forward` checks host data: source ids, attention
 * mask (ones when absent), labels, and decoder input ids (labels shifted right), all int32 and made from
 * host data (so their value ranges are known). This is what a captured training step takes as its inputs
 * (core/tensor/capture.ts): `forward({ inputIds, attentionMask, labels, decoderInputIds })` of these
 * gives the same loss as `forward(inputs)`.
 */
export function labelledBatchTensors(inputs: T5Inputs, config: T5Config, backend: Backend, op = "labelledBatchTensors"): [Tensor, Tensor, Tensor, Tensor] {
  checkInputsObject(inputs, op);
  const vocabSize = config.vocabSize;
  const ids = hostMatrix(inputs.inputIds, "inputIds", { kind: "ids", vocabSize }, op);
  const labels = inputs.labels === undefined ? null : hostMatrix(inputs.labels, "labels", { kind: "labels", vocabSize }, op);
  if (!ids || !labels) throw InvalidArgumentError.of(op, ids ? "labels" : "inputIds", "expected host data (nested arrays or { data, shape })");
  const mask = inputs.attentionMask === undefined ? onesMatrix(ids.rows, ids.cols) : hostMatrix(inputs.attentionMask, "attentionMask", { kind: "mask" }, op);
  if (!mask) throw InvalidArgumentError.of(op, "attentionMask", "expected host data (nested arrays or { data, shape })");
  sameShape(op, "attentionMask", mask, "inputIds", ids.rows, ids.cols);
  if (labels.rows !== ids.rows) throw ShapeError.of(op, [[ids.rows, ids.cols], [labels.rows, labels.cols]], `labels has batch size ${labels.rows} but inputIds has ${ids.rows}; they must match`);
  const decoder = shiftRight(labels, config.decoderStartTokenId, config.padTokenId);
  return [hostTensor(ids, backend), hostTensor(mask, backend), hostTensor(labels, backend), hostTensor(decoder, backend)];
}

export class T5ForConditionalGeneration extends Module {
  readonly shared: Embedding;
  readonly encoder: T5Stack;
  readonly decoder: T5Stack;
  readonly lm_head: Linear;
  /** Element type of the weights and activations: float32, or float64 on the CPU reference backend. */
  readonly dtype: FloatDType;

  constructor(
    readonly config: T5Config,
    readonly backend: Backend,
    weight: WeightSource,
  ) {
    super();
    checkT5Config(config, backend, "float32");
    const shared = weight("shared.weight", [config.vocabSize, config.dModel]);
    if (!isFloat(shared.dtype)) throw InvalidArgumentError.of("T5", "weights", `shared.weight has dtype ${shared.dtype}`);
    this.dtype = shared.dtype;
    this.shared = this.registerModule("shared", new Embedding(shared));
    this.encoder = this.registerModule("encoder", new T5Stack(config, "encoder", weight, shared, false));
    this.decoder = this.registerModule("decoder", new T5Stack(config, "decoder", weight, shared, true));
    const head = config.tieWordEmbeddings ? shared : weight("lm_head.weight", [config.vocabSize, config.dModel]);
    this.lm_head = this.registerModule("lm_head", new Linear(head));
  }

  /** Greedy decoding (see generate.ts): generated ids per sequence, without the start token. */
  generate(inputIds: IntMatrix, attentionMask?: IntMatrix, options?: GenerateOptions): Promise<number[][]> {
    return generateGreedy(this, inputIds, attentionMask, options);
  }

  set gradientCheckpointing(flag: boolean) {
    this.encoder.gradientCheckpointing = flag;
    this.decoder.gradientCheckpointing = flag;
  }

  /**
   * Checks the encoder's arguments (once per call): ids in the vocabulary, a 0/1 mask of the same shape.
   * Returns the ids tensor and the host mask.
   */
  private encoderInputs(inputIds: IntMatrix, attentionMask: IntMatrix | undefined, op: string): { ids: Tensor; mask: HostMatrix } {
    const vocab: MatrixValues = { kind: "ids", vocabSize: this.config.vocabSize };
    const hostIds = hostMatrix(inputIds, "inputIds", vocab, op);
    let mask: HostMatrix | null = null;
    if (attentionMask !== undefined) {
      mask = hostMatrix(attentionMask, "attentionMask", { kind: "mask" }, op);
      if (!mask) throw InvalidArgumentError.of(op, "attentionMask", "pass the mask as host data (nested arrays or { data, shape }), not a tensor");
    }
    const ids = hostIds ? hostTensor(hostIds, this.backend) : toIdsTensor(inputIds, this.backend, "inputIds", vocab, op);
    const [B, S] = ids.shape as [number, number];
    if (mask) {
      try {
        sameShape(op, "attentionMask", mask, "inputIds", B, S);
      } catch (e) {
        ids.dispose();
        throw e;
      }
    }
    return { ids, mask: mask ?? onesMatrix(B, S) };
  }

  /** Encoder output (B, S, D) and the additive key mask (B, 1, 1, S) the decoder needs with it. */
  encode(inputIds: IntMatrix, attentionMask?: IntMatrix, op = "T5.encode"): { hidden: Tensor; bias: Tensor } {
    return tidy(() => {
      const { ids, mask } = this.encoderInputs(inputIds, attentionMask, op);
      const [B, S] = ids.shape as [number, number];
      checkBufferSize(this.backend, this.dtype, op, `inputIds (B, S) = (${B}, ${S})`, "encoder attention scores (B, H, S, S)", [B, this.config.numHeads, S, S]);
      const bias = keyMaskBias(mask, this.backend, this.dtype);
      return { hidden: this.encoder.forward(ids, bias), bias };
    });
  }

  /** Decoder hidden (B, T, D) → logits (B, T, V). */
  private head(hidden: Tensor): Tensor {
    return tidy(() => this.lm_head.forward(this.config.tieWordEmbeddings ? hidden.mul(this.config.dModel ** -0.5) : hidden));
  }

  /**
   * Every argument is checked before anything runs, once per call (see hostMatrix): ids within the
   * vocabulary, labels within it or −100, masks of 0/1, and one batch size and length per stack.
   */
  forward(inputs: T5Inputs): T5Outputs {
    const op = "T5.forward";
    checkInputsObject(inputs, op);
    const vocabSize = this.config.vocabSize;
    const ids: MatrixValues = { kind: "ids", vocabSize };
    // Host arguments: checked up front, before any device work.
    const source = hostMatrix(inputs.inputIds, "inputIds", ids, op);
    const sourceMask = inputs.attentionMask !== undefined ? hostMatrix(inputs.attentionMask, "attentionMask", { kind: "mask" }, op) : null;
    const labels = inputs.labels !== undefined ? hostMatrix(inputs.labels, "labels", { kind: "labels", vocabSize }, op) : null;
    const decoderHost = inputs.decoderInputIds !== undefined ? hostMatrix(inputs.decoderInputIds, "decoderInputIds", ids, op) : null;
    const decoderMask = inputs.decoderAttentionMask !== undefined ? hostMatrix(inputs.decoderAttentionMask, "decoderAttentionMask", { kind: "mask" }, op) : null;
    // Masks given as device tensors (a captured training step's inputs, core/tensor/capture.ts)
    const sourceMaskTensor = inputs.attentionMask !== undefined && !sourceMask ? maskTensor(inputs.attentionMask as Tensor, this.backend, "attentionMask", op) : null;
    const decoderMaskTensor = inputs.decoderAttentionMask !== undefined && !decoderMask ? maskTensor(inputs.decoderAttentionMask as Tensor, this.backend, "decoderAttentionMask", op) : null;
    if (inputs.decoderInputIds === undefined && inputs.labels === undefined) {
      throw InvalidArgumentError.of(op, "decoderInputIds", "missing: give labels (shifted right to make the decoder inputs) or decoderInputIds");
    }
    if (inputs.decoderInputIds === undefined && !labels) {
      throw InvalidArgumentError.of(op, "decoderInputIds", "give labels as host data (to shift right) or pass decoderInputIds");
    }
    // Shapes: (B, S) for the encoder, (B, T) for everything on the decoder side.
    const src = source ?? tensorDims(inputs.inputIds as Tensor, this.backend, "inputIds", op);
    const B = src.rows;
    const S = src.cols;
    if (sourceMask) sameShape(op, "attentionMask", sourceMask, "inputIds", B, S);
    if (sourceMaskTensor) sameShape(op, "attentionMask", sourceMaskTensor, "inputIds", B, S);
    const dec = decoderHost ?? (inputs.decoderInputIds !== undefined ? tensorDims(inputs.decoderInputIds as Tensor, this.backend, "decoderInputIds", op) : labels!);
    const decName = inputs.decoderInputIds !== undefined ? "decoderInputIds" : "labels";
    if (dec.rows !== B) {
      throw ShapeError.of(op, [[B, S], [dec.rows, dec.cols]], `${decName} has batch size ${dec.rows} but inputIds has ${B}; they must match`);
    }
    const T = dec.cols;
    if (labels && decName !== "labels") sameShape(op, "labels", labels, decName, B, T);
    if (inputs.labels !== undefined && !labels) {
      const l = tensorDims(inputs.labels as Tensor, this.backend, "labels", op);
      sameShape(op, "labels", l, decName, B, T);
    }
    if (decoderMask) sameShape(op, "decoderAttentionMask", decoderMask, decName, B, T);
    if (decoderMaskTensor) sameShape(op, "decoderAttentionMask", decoderMaskTensor, decName, B, T);
    checkActivationSizes(this, B, S, T);
    return tidy(() => {
      const sourceIds = source ? hostTensor(source, this.backend) : toIdsTensor(inputs.inputIds, this.backend, "inputIds", ids, op);
      const bias = keyMaskBias(sourceMask ?? onesMatrix(B, S), this.backend, this.dtype, sourceMaskTensor?.mask);
      const encoded = { hidden: this.encoder.forward(sourceIds, bias), bias };
      const decoderIds = decoderHost
        ? hostTensor(decoderHost, this.backend)
        : inputs.decoderInputIds !== undefined
          ? toIdsTensor(inputs.decoderInputIds, this.backend, "decoderInputIds", ids, op)
          : hostTensor(shiftRight(labels!, this.config.decoderStartTokenId, this.config.padTokenId), this.backend);
      const hidden = this.decoder.forward(decoderIds, causalMaskBias(decoderMask ?? onesMatrix(B, T), this.backend, this.dtype, decoderMaskTensor?.mask), encoded);
      const logits = this.head(hidden);
      let loss: Tensor | null = null;
      if (inputs.labels !== undefined) {
        const target = labels ? hostTensor(labels, this.backend) : toIdsTensor(inputs.labels, this.backend, "labels", { kind: "labels", vocabSize }, op);
        loss = crossEntropy(logits.reshape([B * T, vocabSize]), target.reshape([B * T]));
      }
      return { loss, logits };
    });
  }
}
