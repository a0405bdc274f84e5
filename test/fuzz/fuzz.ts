/**
 * Seeded fuzz of every public entry point that takes user values or files (issue 10: "bad input never
 * yields a wrong result"). Each entry point has a fast-check generator of *bad* inputs: a valid call with
 * one thing broken (an id out of the vocabulary, a float, a string, a ragged row, a batch mismatch, a
 * size of 1e9, a gap in a safetensors file, a duplicate tokenizer piece, …). Every case is run and its
 * outcome classified:
 *
 *   typed     an Error with a string `_tag` whose message names what was wrong (the case's `names`)
 *   unclear   a typed error whose message lacks one of the names (the argument, field or file)
 *   raw       an Error without `_tag` (TypeError, SyntaxError, RangeError …)
 *   crash     a thrown non-Error, a stack overflow, an out-of-memory RangeError
 *   hang      took longer than the per-case budget (a slow synchronous case is measured after it ends;
 *             an asynchronous one is cut at the budget)
 *   accepted  returned normally: bad input accepted, the failure this suite exists to catch
 *
 * Only `typed` passes. Generators draw from bounded values, so an accepted case cannot allocate much.
 */
import fc from "fast-check";
import type { Backend } from "../../core/backend/backend.ts";
import { parseT5Config } from "../../core/io/t5-config.ts";
import { openSafetensors, writeSafetensors } from "../../core/io/safetensors.ts";
import { loadTokenizer } from "../../core/io/tokenizer.ts";
import { createT5, loadT5, saveT5 } from "../../core/models/t5/load.ts";
import { MAX_NEW_TOKENS } from "../../core/models/t5/generate.ts";
import { type T5ForConditionalGeneration, labelledBatchTensors } from "../../core/models/t5/model.ts";
import { captureStep } from "../../core/tensor/capture.ts";
import { PeftModel } from "../../core/peft/peft-model.ts";
import { loadAdapter } from "../../core/peft/adapter-files.ts";
import { tensor } from "../../core/tensor/create.ts";
import { loadGlue } from "../../datasets/glue/read.ts";
import "../../plugins/mod.ts";
import { memoryFiles } from "./memory-files.ts";

export type Outcome = "typed" | "unclear" | "raw" | "crash" | "hang" | "accepted";
export const OUTCOMES: readonly Outcome[] = ["typed", "unclear", "raw", "crash", "hang", "accepted"];

/** One generated bad call: what it breaks, the words its error must contain, and the call. */
export interface Case {
  readonly label: string;
  readonly names: readonly string[];
  readonly run: () => unknown;
}

export interface EntryPoint {
  readonly name: string;
  /** Needs a backend (model entry points run once per backend); file readers run once. */
  readonly usesBackend: boolean;
  readonly cases: (ctx: FuzzContext) => fc.Arbitrary<Case>;
}

export interface FuzzContext {
  readonly backend: Backend;
  readonly model: T5ForConditionalGeneration;
  readonly peft: PeftModel;
  /** A valid tokenizer.json (object) to break. */
  readonly tokenizerJson: Record<string, unknown>;
  /** Valid saved model files (config.json + model.safetensors) of a 2-block model. */
  readonly savedModel: { readonly config: Record<string, unknown>; readonly weights: Uint8Array };
}

export interface Failure {
  readonly entry: string;
  readonly outcome: Outcome;
  readonly label: string;
  readonly detail: string;
}

export interface FuzzReport {
  readonly seed: number;
  readonly counts: Record<string, Record<Outcome, number>>;
  readonly failures: Failure[];
  readonly ms: number;
}

// ---------------------------------------------------------------------------------------------------------
// The tiny model every model entry point uses (vocabulary 0..95, as in the example).

export const V = 96;
export const TINY_CONFIG: Record<string, unknown> = {
  model_type: "t5",
  vocab_size: V,
  d_model: 8,
  d_kv: 4,
  num_heads: 2,
  d_ff: 16,
  num_layers: 1,
  num_decoder_layers: 1,
  relative_attention_num_buckets: 8,
  relative_attention_max_distance: 16,
  dropout_rate: 0,
  feed_forward_proj: "relu",
  tie_word_embeddings: true,
  pad_token_id: 0,
  eos_token_id: 1,
  decoder_start_token_id: 0,
};

/** A small SentencePiece-Unigram tokenizer.json in T5's layout. */
export function tinyTokenizerJson(): Record<string, unknown> {
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const pieces: [string, number][] = [["<pad>", 0], ["</s>", 0], ["<unk>", 0], ["\u2581", -2]];
  for (const c of "abcdefghijklmnopqrstuvwxyz") pieces.push([c, -3], [`\u2581${c}`, -3.5]);
  pieces.push(["\u2581the", -2.5], ["ing", -3]);
  const metaspace = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always", split: true };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(0, "<pad>"), special(1, "</s>"), special(2, "<unk>")],
    normalizer: null,
    pre_tokenizer: metaspace,
    post_processor: null,
    decoder: metaspace,
    model: { type: "Unigram", unk_id: 2, vocab: pieces, byte_fallback: false },
  };
}

export async function makeContext(backend: Backend): Promise<FuzzContext> {
  const model = createT5(parseT5Config(TINY_CONFIG, "fuzz config"), { backend, seed: 0 });
  const peft = new PeftModel(model);
  const fs = memoryFiles();
  const twoBlocks = { ...TINY_CONFIG, num_layers: 2, num_decoder_layers: 2 };
  const saved = createT5(parseT5Config(twoBlocks, "fuzz config"), { backend, seed: 1 });
  await saveT5(saved, "/m", fs);
  saved.dispose();
  return { backend, model, peft, tokenizerJson: tinyTokenizerJson(), savedModel: { config: twoBlocks, weights: fs.files.get("/m/model.safetensors")! } };
}

// ---------------------------------------------------------------------------------------------------------
// Value generators

/** Anything that is not an int32 integer: what must never be coerced into an id. */
const notInteger: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(NaN, Infinity, -Infinity, null, undefined, "5", "0", "", 5.5, 0.5, -0.5, 2 ** 32 + 5, 2 ** 31, -(2 ** 31) - 1, true, false, [1], [], {}, 5n),
  fc.double({ noInteger: true, noDefaultInfinity: true, noNaN: true }),
  fc.integer({ min: 0, max: 9 }).map((n) => String(n)),
);

/** Integers outside 0..V−1. */
const outOfVocab: fc.Arbitrary<number> = fc.oneof(fc.integer({ min: V, max: 2 ** 31 - 1 }), fc.integer({ min: -(2 ** 31), max: -1 }), fc.constant(V));
/** Bad labels: outside 0..V−1 and not −100. */
const badLabel: fc.Arbitrary<unknown> = fc.oneof(outOfVocab.filter((x) => x !== -100), fc.constantFrom(-99, -101), notInteger);
const badId: fc.Arbitrary<unknown> = fc.oneof(outOfVocab, notInteger);
const badMask: fc.Arbitrary<unknown> = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).filter((x) => x !== 0 && x !== 1), notInteger);
/** Sizes no model or adapter can have. */
const hugeSize: fc.Arbitrary<number> = fc.constantFrom(1e9, 2 ** 31, 1e12, 2 ** 40, Number.MAX_SAFE_INTEGER);

interface Batch {
  readonly B: number;
  readonly S: number;
  readonly T: number;
  readonly ids: number[][];
  readonly mask: number[][];
  readonly labels: number[][];
}

const batch: fc.Arbitrary<Batch> = fc
  .record({ B: fc.integer({ min: 1, max: 3 }), S: fc.integer({ min: 1, max: 6 }), T: fc.integer({ min: 1, max: 4 }), seed: fc.integer() })
  .map(({ B, S, T, seed }) => {
    let s = seed >>> 0;
    const next = (n: number) => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s % n);
    return {
      B,
      S,
      T,
      ids: Array.from({ length: B }, () => Array.from({ length: S }, () => next(V))),
      mask: Array.from({ length: B }, () => Array.from({ length: S }, () => next(2))),
      labels: Array.from({ length: B }, () => Array.from({ length: T }, () => (next(5) === 0 ? -100 : next(V)))),
    };
  });

/** A copy of `m` with `value` at a generated position; returns the matrix and the position's name. */
function poke(what: string, m: number[][], value: unknown, r: number, c: number): [unknown[][], string] {
  const copy: unknown[][] = m.map((row) => [...row]);
  const row = r % copy.length;
  const col = c % copy[row]!.length;
  copy[row]![col] = value;
  return [copy, `${what}[${row}][${col}]`];
}

const position = fc.tuple(fc.nat(), fc.nat());

/** Values that are not an IntMatrix at all. */
const notMatrix: fc.Arbitrary<unknown> = fc.constantFrom<unknown>(
  5, "abc", null, true, {}, [], [[]], [[], []], [1, 2, 3], [[1], 2], ["1"], { data: [1, 2], shape: [1, 2] },
  { data: new Float32Array(2), shape: [1, 2] }, { data: new Int32Array(3), shape: [1, 2] }, { data: new Int32Array(2), shape: [1, 2, 1] },
  { data: new Int32Array(0), shape: [0, 0] }, { data: new Int32Array(2), shape: [2, 1.5] }, { data: new Int32Array(2) }, { shape: [1, 2] },
);

// ---------------------------------------------------------------------------------------------------------
// Entry points

/** Cases shared by forward/encode/generate: the encoder's ids and mask. */
function encoderCases(call: (ids: unknown, mask: unknown) => unknown): fc.Arbitrary<Case> {
  return fc.oneof(
    fc.tuple(batch, badId, position).map(([b, v, [r, c]]): Case => {
      const [ids, at] = poke("inputIds", b.ids, v, r, c);
      return { label: `${at} = ${String(v)}`, names: [at], run: () => call(ids, b.mask) };
    }),
    fc.tuple(batch, badMask, position).map(([b, v, [r, c]]): Case => {
      const [mask, at] = poke("attentionMask", b.mask, v, r, c);
      return { label: `${at} = ${String(v)}`, names: [at], run: () => call(b.ids, mask) };
    }),
    fc.tuple(batch, fc.integer({ min: 1, max: 3 }), fc.boolean()).map(([b, k, rows]): Case => {
      const mask = rows ? [...b.mask, ...b.mask.slice(0, 1).concat(b.mask).slice(0, k)] : b.mask.map((r) => [...r, ...new Array<number>(k).fill(1)]);
      return { label: `attentionMask shape off by ${k} ${rows ? "rows" : "columns"}`, names: ["attentionMask"], run: () => call(b.ids, mask) };
    }),
    fc.tuple(batch.filter((b) => b.B > 1), fc.nat(), fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0)).map(([b, r, d]): Case => {
      const ids = b.ids.map((row) => [...row]);
      const row = 1 + (r % (b.B - 1));
      ids[row] = d > 0 ? [...ids[row]!, ...new Array<number>(d).fill(3)] : ids[row]!.slice(0, Math.max(0, ids[row]!.length + d));
      return { label: `ragged inputIds row ${row}`, names: ["inputIds"], run: () => call(ids, undefined) };
    }),
    notMatrix.map((m): Case => ({ label: `inputIds = ${describe(m)}`, names: ["inputIds"], run: () => call(m, undefined) })),
    notMatrix.filter((m) => m !== undefined).map((m): Case => ({ label: `attentionMask = ${describe(m)}`, names: ["attentionMask"], run: () => call([[1, 2]], m) })),
    fc.tuple(outOfVocab, fc.integer({ min: 1, max: 4 })).map(([v, S]): Case => {
      const data = new Int32Array(S).fill(3);
      data[S - 1] = v;
      return { label: `flat inputIds with ${v}`, names: [`inputIds[0][${S - 1}]`], run: () => call({ data, shape: [1, S] }, undefined) };
    }),
    fc.integer({ min: 40_000, max: 60_000 }).map((S): Case => ({
      label: `inputIds of length ${S} (activations past the backend's limit)`,
      names: ["inputIds", "bytes"],
      run: () => call([new Array<number>(S).fill(3)], undefined),
    })),
  );
}

function describe(v: unknown): string {
  if (typeof v === "bigint") return `${v}n`;
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  try {
    return JSON.stringify(v, (_k, x) => (ArrayBuffer.isView(x) ? x.constructor.name : typeof x === "bigint" ? `${x}n` : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

const forwardEntry: EntryPoint = {
  name: "T5.forward",
  usesBackend: true,
  cases: ({ model, backend }) => {
    const forward = (inputs: unknown) => {
      const out = model.forward(inputs as never);
      out.loss?.dispose();
      out.logits.dispose();
      return out;
    };
    return fc.oneof(
      encoderCases((ids, mask) => forward({ inputIds: ids, attentionMask: mask, labels: [[1]].concat(new Array(Array.isArray(ids) ? Math.max(0, ids.length - 1) : 0).fill([1])) })),
      fc.tuple(batch, badLabel, position).map(([b, v, [r, c]]): Case => {
        const [labels, at] = poke("labels", b.labels, v, r, c);
        return { label: `${at} = ${String(v)}`, names: [at], run: () => forward({ inputIds: b.ids, labels }) };
      }),
      fc.tuple(batch, badId, position).map(([b, v, [r, c]]): Case => {
        const [dec, at] = poke("decoderInputIds", b.labels.map((row) => row.map((x) => (x < 0 ? 0 : x))), v, r, c);
        return { label: `${at} = ${String(v)}`, names: [at], run: () => forward({ inputIds: b.ids, decoderInputIds: dec }) };
      }),
      fc.tuple(batch, badMask, position).map(([b, v, [r, c]]): Case => {
        const [mask, at] = poke("decoderAttentionMask", b.labels.map((row) => row.map(() => 1)), v, r, c);
        return { label: `${at} = ${String(v)}`, names: [at], run: () => forward({ inputIds: b.ids, labels: b.labels, decoderAttentionMask: mask }) };
      }),
      fc.tuple(batch, fc.integer({ min: 1, max: 3 }), fc.constantFrom("labels", "decoderInputIds")).map(([b, k, which]): Case => {
        const clean = b.labels.map((row) => row.map((x) => (x < 0 ? 2 : x)));
        const labels = [...clean, ...Array.from({ length: k }, () => clean[0]!)];
        return { label: `${which} with batch ${b.B + k} against inputIds batch ${b.B}`, names: [which, "batch"], run: () => forward({ inputIds: b.ids, [which]: labels }) };
      }),
      fc.tuple(batch, fc.integer({ min: 1, max: 3 })).map(([b, k]): Case => ({
        label: `labels (B, T+${k}) against decoderInputIds (B, T)`,
        names: ["labels", "decoderInputIds"],
        run: () => forward({ inputIds: b.ids, decoderInputIds: b.ids, labels: b.ids.map((r) => [...r, ...new Array<number>(k).fill(2)]) }),
      })),
      fc.tuple(batch, fc.integer({ min: 1, max: 3 })).map(([b, k]): Case => ({
        label: `decoderAttentionMask (B, T+${k})`,
        names: ["decoderAttentionMask"],
        run: () => forward({ inputIds: b.ids, labels: b.labels, decoderAttentionMask: b.labels.map((r) => [...r.map(() => 1), ...new Array<number>(k).fill(1)]) }),
      })),
      fc.constantFrom<[string, unknown, string]>(
        ["inputs = null", null, "inputs"],
        ["inputs = 5", 5, "inputs"],
        ["inputs = []", [], "inputs"],
        ["input_ids (HF spelling)", { input_ids: [[1, 2]], labels: [[1]] }, "input_ids"],
        ["inputIds missing", { labels: [[1]] }, "inputIds"],
        ["no labels and no decoderInputIds", { inputIds: [[1, 2]] }, "decoderInputIds"],
        ["labelz typo", { inputIds: [[1, 2]], labelz: [[1]] }, "labelz"],
      ).map(([label, inputs, name]): Case => ({ label, names: [name], run: () => forward(inputs) })),
      fc.constantFrom<[string, () => unknown, string]>(
        ["float32 tensor as inputIds", () => tensor(new Float32Array([1, 2]), { backend, shape: [1, 2] }), "int32"],
        ["rank-1 tensor as inputIds", () => tensor(new Int32Array([1, 2]), { backend, shape: [2], dtype: "int32" }), "inputIds"],
        ["rank-3 tensor as inputIds", () => tensor(new Int32Array([1, 2]), { backend, shape: [1, 1, 2], dtype: "int32" }), "inputIds"],
      ).map(([label, make, name]): Case => ({
        label,
        names: [name],
        run: () => {
          const t = make() as { dispose(): void };
          try {
            return forward({ inputIds: t, labels: [[1]] });
          } finally {
            t.dispose();
          }
        },
      })),
    );
  },
};

const encodeEntry: EntryPoint = {
  name: "T5.encode",
  usesBackend: true,
  cases: ({ model }) =>
    encoderCases((ids, mask) => {
      const out = model.encode(ids as never, mask as never);
      out.hidden.dispose();
      out.bias.dispose();
      return out;
    }),
};

const badMaxNewTokens: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(Infinity, 1e9, MAX_NEW_TOKENS + 1, -1, 0, NaN, 1.5, "3", null, true, [], {}, 2n),
  fc.integer({ min: MAX_NEW_TOKENS + 1 }),
  fc.integer({ max: 0 }),
  fc.double({ noInteger: true }),
);

const generateEntry: EntryPoint = {
  name: "T5.generate",
  usesBackend: true,
  cases: ({ model }) =>
    fc.oneof(
      { weight: 2, arbitrary: encoderCases((ids, mask) => model.generate(ids as never, mask as never, { maxNewTokens: 2 })) },
      badMaxNewTokens.map((v): Case => ({ label: `maxNewTokens = ${describe(v)}`, names: ["maxNewTokens"], run: () => model.generate([[3, 4]], undefined, { maxNewTokens: v as number }) })),
      fc.constantFrom<[string, unknown, string]>(
        ["options = null", null, "options"],
        ["options = 3", 3, "options"],
        ["options = \"x\"", "x", "options"],
        ["options = []", [], "options"],
        ["max_new_tokens (HF spelling)", { max_new_tokens: 3 }, "max_new_tokens"],
        ["maxNewToken typo", { maxNewToken: 3 }, "maxNewToken"],
      ).map(([label, options, name]): Case => ({ label, names: [name], run: () => model.generate([[3, 4]], undefined, options as never) })),
    ),
};

/** Config fields with values that are wrong for them, and the sizes nothing can allocate. */
const configCases: fc.Arbitrary<Case> = (() => {
  const sizeFields = ["vocab_size", "d_model", "d_kv", "d_ff", "num_heads", "relative_attention_num_buckets"];
  const layerFields = ["num_layers", "num_decoder_layers"];
  const intFields = [...sizeFields, ...layerFields, "relative_attention_max_distance"];
  const idFields = ["pad_token_id", "eos_token_id", "decoder_start_token_id"];
  const notPositiveInt = fc.oneof(fc.constantFrom<unknown>(0, -1, 1.5, "8", null, true, NaN, Infinity, [], {}), fc.integer({ max: 0 }));
  const build = (json: Record<string, unknown>) => (backend: Backend) => {
    const model = createT5(parseT5Config(json, "fuzz/config.json"), { backend, seed: 0 });
    model.dispose();
    return model;
  };
  return fc.oneof(
    fc.tuple(fc.constantFrom(...sizeFields), hugeSize).map(([f, v]) => ({ f, v, names: [f, "bytes"] })),
    fc.tuple(fc.constantFrom(...layerFields), fc.oneof(hugeSize, fc.integer({ min: 1025, max: 1e7 }))).map(([f, v]) => ({ f, v, names: [f] })),
    // (num_decoder_layers: null is HF's "as many as num_layers", so it is not a bad value)
    fc.tuple(fc.constantFrom(...intFields), notPositiveInt).filter(([f, v]) => !(f === "num_decoder_layers" && v === null)).map(([f, v]) => ({ f, v, names: [f] })),
    fc.tuple(fc.constantFrom(...idFields), fc.oneof(fc.integer({ min: V, max: 1e9 }), fc.constantFrom<unknown>(-1, 1.5, "0", null))).map(([f, v]) => ({ f, v, names: [f] })),
    fc.constantFrom<[string, unknown]>(["model_type", "bert"], ["feed_forward_proj", "gated-gated-gelu"], ["feed_forward_proj", "tanh"], ["dropout_rate", 2], ["dropout_rate", -0.1], ["layer_norm_epsilon", 0], ["dense_act_fn", "swish2"], ["tie_word_embeddings", "yes"]).map(([f, v]) => ({ f, v, names: [f] })),
  ).map(({ f, v, names }): Case => ({
    label: `config ${f} = ${describe(v)}`,
    names: ["fuzz/config.json", ...names].filter((n) => n !== "fuzz/config.json" || !(["vocab_size", "d_model", "d_kv", "d_ff", "num_heads", "relative_attention_num_buckets"].includes(f) && typeof v === "number" && v >= 1e9)),
    run: () => build({ ...TINY_CONFIG, [f]: v }),
  }));
})();

const configEntry: EntryPoint = {
  name: "config → createT5",
  usesBackend: true,
  cases: ({ backend }) => configCases.map((c) => ({ ...c, run: () => (c.run() as (b: Backend) => unknown)(backend) })),
};

const loadT5Entry: EntryPoint = {
  name: "loadT5",
  usesBackend: true,
  cases: ({ backend, savedModel }) => {
    const load = (config: Record<string, unknown>, weights: Uint8Array, strict = true) => async () => {
      const fs = memoryFiles({ "/m/config.json": JSON.stringify(config), "/m/model.safetensors": weights });
      const warnings: string[] = [];
      const model = await loadT5("/m", { backend, fs, strict, onWarning: (m) => warnings.push(m) });
      model.dispose();
      return model;
    };
    return fc.oneof(
      fc.constantFrom<[string, Record<string, unknown>, string[]]>(
        ["checkpoint has more blocks than num_layers (strict)", { ...savedModel.config, num_layers: 1 }, ["encoder.block.1"]],
        ["checkpoint has more decoder blocks (strict)", { ...savedModel.config, num_decoder_layers: 1 }, ["decoder.block.1"]],
        ["untied config for a tied checkpoint", { ...savedModel.config, tie_word_embeddings: false }, ["lm_head.weight"]],
        ["gated config for a relu checkpoint", { ...savedModel.config, feed_forward_proj: "gated-gelu" }, ["wi_0"]],
      ).map(([label, config, names]): Case => ({ label, names, run: load(config, savedModel.weights) })),
      fc.tuple(fc.constantFrom("pad_token_id", "eos_token_id", "decoder_start_token_id"), fc.integer({ min: V, max: 1e6 })).map(([f, v]): Case => ({
        label: `config.json ${f} = ${v}`,
        names: [f, "config.json", String(v)],
        run: load({ ...savedModel.config, [f]: v }, savedModel.weights),
      })),
      fc.tuple(fc.constantFrom("d_model", "d_ff", "vocab_size"), fc.integer({ min: 2, max: 64 })).map(([f, v]): Case => ({
        label: `config.json ${f} = ${v} against the checkpoint`,
        names: ["model.safetensors", "shape"],
        run: load({ ...savedModel.config, [f]: v === savedModel.config[f] ? v + 1 : v }, savedModel.weights),
      })),
      fc.constantFrom(1e9, 2 ** 31, 1e12).map((v): Case => ({ label: `config.json d_model = ${v}`, names: ["d_model", "bytes"], run: load({ ...savedModel.config, d_model: v }, savedModel.weights) })),
    );
  },
};

// --- safetensors

interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
}

/** Bytes of a safetensors file whose header text and data region are given as is. */
function safetensorsFile(headerText: string, dataBytes: number, headerLength?: bigint): Uint8Array {
  const header = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + header.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(header.byteLength), true);
  out.set(header, 8);
  return out;
}

function layout(tensors: RawTensor[]): { header: Record<string, unknown>; size: number } {
  const header: Record<string, unknown> = {};
  let at = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.bytes] };
    at += t.bytes;
  }
  return { header, size: at };
}

const rawTensors: fc.Arbitrary<RawTensor[]> = fc
  .uniqueArray(fc.record({ name: fc.constantFrom("a", "b", "c", "w.weight", "x.bias", "shared.weight"), rows: fc.integer({ min: 1, max: 4 }), cols: fc.integer({ min: 1, max: 4 }) }), {
    minLength: 2,
    maxLength: 4,
    selector: (t) => t.name,
  })
  .map((ts) => ts.map((t) => ({ name: t.name, dtype: "F32", shape: [t.rows, t.cols], bytes: t.rows * t.cols * 4 })));

const safetensorsEntry: EntryPoint = {
  name: "openSafetensors",
  usesBackend: false,
  cases: () => {
    const open = (bytes: Uint8Array) => async () => {
      const fs = memoryFiles({ "/f.safetensors": bytes });
      const reader = await openSafetensors(fs, "/f.safetensors");
      try {
        for (const name of reader.names()) await reader.readBytes(name);
      } finally {
        await reader.close();
      }
      return reader;
    };
    const P = "/f.safetensors";
    return fc.oneof(
      fc.tuple(rawTensors, fc.integer({ min: 1, max: 64 })).map(([ts, gap]): Case => {
        const { header, size } = layout(ts);
        for (const t of ts.slice(1)) (header[t.name] as { data_offsets: number[] }).data_offsets = (header[t.name] as { data_offsets: number[] }).data_offsets.map((o) => o + gap);
        return { label: `a gap of ${gap} bytes before "${ts[1]!.name}"`, names: [P, ts[1]!.name, "gap"], run: open(safetensorsFile(JSON.stringify(header), size + gap)) };
      }),
      fc.tuple(rawTensors, fc.integer({ min: 1, max: 64 })).map(([ts, extra]): Case => {
        const { header, size } = layout(ts);
        return { label: `${extra} trailing bytes`, names: [P, "unreferenced"], run: open(safetensorsFile(JSON.stringify(header), size + extra)) };
      }),
      rawTensors.map((ts): Case => {
        const { header, size } = layout(ts);
        const text = JSON.stringify(header);
        const first = ts[0]!.name;
        const entry = JSON.stringify(header[first]);
        const dup = `${text.slice(0, -1)},${JSON.stringify(first)}:${entry}}`;
        return { label: `duplicate key "${first}"`, names: [P, first, "twice"], run: open(safetensorsFile(dup, size)) };
      }),
      rawTensors.map((ts): Case => {
        const { header, size } = layout(ts);
        (header[ts[1]!.name] as { data_offsets: number[] }).data_offsets = [0, ts[1]!.bytes];
        (header[ts[0]!.name] as { data_offsets: number[] }).data_offsets = [0, ts[0]!.bytes];
        return { label: "overlapping tensors", names: [P, "overlap"], run: open(safetensorsFile(JSON.stringify(header), Math.max(size, ts[0]!.bytes))) };
      }),
      fc.tuple(fc.constantFrom<unknown>("F33", "float32", 5, null, "f32"), fc.constantFrom("t", "u")).map(([dtype, name]): Case => ({
        label: `tensor "${name}" dtype ${describe(dtype)}`,
        names: [P, name, "dtype"],
        run: open(withHeaderFixed((h) => ((h[name] as { dtype: unknown }).dtype = dtype))),
      })),
      fc.constantFrom<[string, unknown]>(["negative dim", [-1, 4]], ["float dim", [1.5, 2]], ["string dim", ["2", 2]], ["shape not array", "2x2"], ["huge dims", [2 ** 40, 2 ** 40]]).map(([label, shape]): Case => ({
        label,
        names: [P, "shape"],
        run: open(withHeaderFixed((h) => ((h.t as { shape: unknown }).shape = shape))),
      })),
      fc.constantFrom<[string, unknown]>(["offsets past the end", [0, 4096]], ["offsets reversed", [16, 0]], ["offsets not numbers", ["0", "16"]], ["one offset", [0]], ["length mismatch", [0, 12]]).map(([label, offsets]): Case => ({
        label,
        names: [P, "data_offsets"],
        run: open(withHeaderFixed((h) => ((h.t as { data_offsets: unknown }).data_offsets = offsets))),
      })),
      fc.constantFrom<[string, Uint8Array, string]>(
        ["header length past the file", safetensorsFile("{}", 0, 1000n), "header length"],
        ["header length 2^63", safetensorsFile("{}", 0, 2n ** 63n), "header length"],
        ["header not JSON", safetensorsFile("{not json", 0), "JSON"],
        ["header an array", safetensorsFile("[1,2]", 0), "object"],
        ["header a number", safetensorsFile("42", 0), "object"],
        ["header not UTF-8", (() => { const f = safetensorsFile("{\"a\":1}", 0); f[10] = 0xff; return f; })(), "UTF-8"],
        ["metadata not strings", safetensorsFile(JSON.stringify({ __metadata__: { a: 1 } }), 0), "__metadata__"],
        ["truncated to 5 bytes", new Uint8Array(5), "truncated"],
        ["entry not an object", safetensorsFile(JSON.stringify({ t: [1, 2] }), 0), "t"],
      ).map(([label, bytes, name]): Case => ({ label, names: [P, name], run: open(bytes) })),
    );
  },
};

function withHeaderFixed(f: (h: Record<string, unknown>) => void): Uint8Array {
  const { header, size } = layout([{ name: "t", dtype: "F32", shape: [2, 2], bytes: 16 }, { name: "u", dtype: "F32", shape: [1], bytes: 4 }]);
  f(header);
  return safetensorsFile(JSON.stringify(header), size);
}

// --- tokenizer

const TOKENIZER = "/tok/tokenizer.json";

const tokenizerFileEntry: EntryPoint = {
  name: "loadTokenizer",
  usesBackend: false,
  cases: ({ tokenizerJson }) => {
    const load = (mutate: (j: Record<string, unknown> & { model: Record<string, unknown>; added_tokens: Record<string, unknown>[] }) => void, raw?: string) => async () => {
      const json = structuredClone(tokenizerJson) as Record<string, unknown> & { model: Record<string, unknown>; added_tokens: Record<string, unknown>[] };
      mutate(json);
      const fs = memoryFiles({ [TOKENIZER]: raw ?? JSON.stringify(json) });
      const tok = await loadTokenizer(fs, TOKENIZER);
      return tok.encode("the cat");
    };
    const pieces = (tokenizerJson.model as { vocab: unknown[] }).vocab.length;
    return fc.oneof(
      fc.oneof(fc.integer({ min: pieces, max: 2 ** 31 }), fc.integer({ max: -1 }), fc.constantFrom<unknown>(1.5, "2", true)).map((v): Case => ({
        label: `model.unk_id = ${describe(v)}`,
        names: [TOKENIZER, "unk_id"],
        run: load((j) => (j.model.unk_id = v)),
      })),
      fc.tuple(fc.oneof(fc.integer({ min: pieces + 1, max: 2 ** 31 }), fc.integer({ max: -1 }), fc.constantFrom<unknown>(1.5, "5", null)), fc.string({ minLength: 1, maxLength: 8 })).map(([id, content]): Case => ({
        label: `added token ${describe(content)} with id ${describe(id)}`,
        names: [TOKENIZER, "added_tokens[3]"],
        run: load((j) => j.added_tokens.push({ id, content: `<x${content}>`, special: true, single_word: false, lstrip: false, rstrip: false, normalized: false })),
      })),
      fc.integer({ min: 3, max: pieces - 1 }).map((id): Case => ({
        label: `added token naming vocab id ${id} with other content`,
        names: [TOKENIZER, `added_tokens[3]`, String(id)],
        run: load((j) => j.added_tokens.push({ id, content: "<not-the-piece>", special: true })),
      })),
      fc.integer({ min: 0, max: 2 }).map((id): Case => ({
        label: `added token id ${id} twice`,
        names: [TOKENIZER, "repeats the id"],
        run: load((j) => j.added_tokens.push({ ...j.added_tokens[id]! })),
      })),
      fc.tuple(fc.integer({ min: 0, max: pieces - 1 }), fc.integer({ min: 0, max: pieces - 1 })).filter(([a, b]) => a !== b).map(([a, b]): Case => {
        const hi = Math.max(a, b);
        return {
          label: `model.vocab[${hi}] duplicates model.vocab[${Math.min(a, b)}]`,
          names: [TOKENIZER, `model.vocab[${hi}]`],
          run: load((j) => {
            const v = j.model.vocab as [string, number][];
            v[hi] = [v[Math.min(a, b)]![0], v[hi]![1]];
          }),
        };
      }),
      fc.constantFrom<[string, (j: Record<string, unknown> & { model: Record<string, unknown> }) => void, string]>(
        ["model.type BPE", (j) => (j.model.type = "BPE"), "Unigram"],
        ["vocab empty", (j) => (j.model.vocab = []), "model.vocab"],
        ["vocab entry a string", (j) => ((j.model.vocab as unknown[])[4] = "a"), "model.vocab[4]"],
        ["vocab score a string", (j) => ((j.model.vocab as unknown[])[4] = ["a", "x"]), "model.vocab[4]"],
        ["added_tokens not an array", (j) => (j.added_tokens = { id: 0 }), "added_tokens"],
        ["added token without content", (j) => ((j.added_tokens as unknown[])[1] = { id: 1 }), "added_tokens[1]"],
      ).map(([label, f, name]): Case => ({ label, names: [TOKENIZER, name], run: load(f as never) })),
      fc.constantFrom("{", "[1,2", "not json", "").map((raw): Case => ({ label: `tokenizer.json ${describe(raw)}`, names: [TOKENIZER, "JSON"], run: load(() => {}, raw) })),
    );
  },
};

const tokenizerCallEntry: EntryPoint = {
  name: "tokenizer encode/decode",
  usesBackend: false,
  cases: ({ tokenizerJson }) => {
    let tok: Promise<Awaited<ReturnType<typeof loadTokenizer>>> | null = null;
    const get = () => (tok ??= loadTokenizer(memoryFiles({ [TOKENIZER]: JSON.stringify(tokenizerJson) }), TOKENIZER));
    const badText = fc.constantFrom<unknown>(undefined, null, 5, {}, [], ["a"], true, 5n, NaN);
    return fc.oneof(
      badText.map((t): Case => ({ label: `encode(${describe(t)})`, names: ["text", TOKENIZER], run: async () => (await get()).encode(t as string) })),
      fc.tuple(fc.array(fc.constantFrom("a cat", "the"), { maxLength: 3 }), badText, fc.nat()).map(([texts, t, i]): Case => {
        const all: unknown[] = [...texts];
        const at = i % (all.length + 1);
        all.splice(at, 0, t);
        return { label: `encodeBatch with texts[${at}] = ${describe(t)}`, names: [`texts[${at}]`], run: async () => (await get()).encodeBatch(all as string[]) };
      }),
      badText.filter((t) => !Array.isArray(t)).map((t): Case => ({ label: `encodeBatch(${describe(t)})`, names: ["texts"], run: async () => (await get()).encodeBatch(t as string[]) })),
      fc.tuple(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 4 }), fc.oneof(fc.constantFrom<unknown>(-1, 1.5, NaN, Infinity, "3", null, undefined, [], 2 ** 53), fc.integer({ max: -1 }), fc.double({ noInteger: true })), fc.nat()).map(([ids, v, i]): Case => {
        const all: unknown[] = [...ids];
        const at = i % (all.length + 1);
        all.splice(at, 0, v);
        return { label: `decode with ids[${at}] = ${describe(v)}`, names: [`ids[${at}]`], run: async () => (await get()).decode(all as number[]) };
      }),
      fc.constantFrom<unknown>(null, 5, "1,2", {}).map((ids): Case => ({ label: `decode(${describe(ids)})`, names: ["ids"], run: async () => (await get()).decode(ids as number[]) })),
      fc.constantFrom<unknown>(0, -1, 1.5, NaN, "4", Infinity).map((m): Case => ({ label: `encode maxLength ${describe(m)}`, names: ["maxLength"], run: async () => (await get()).encode("a cat", { maxLength: m as number }) })),
      fc.constantFrom<unknown>(0, -1, 1.5, NaN, "4", "shortest").map((m): Case => ({ label: `encodeBatch padTo ${describe(m)}`, names: ["padTo"], run: async () => (await get()).encodeBatch(["a"], { padTo: m as number }) })),
    );
  },
};

// --- PEFT

const peftEntry: EntryPoint = {
  name: "PeftModel.addAdapter",
  usesBackend: true,
  cases: ({ peft }) => {
    let n = 0;
    const add = (plugin: string, config: unknown) => () => {
      const name = `fuzz${n++}`;
      const state = peft.addAdapter(name, plugin, config);
      peft.removeAdapter(name);
      return state;
    };
    const badRegex = fc.constantFrom("(", "[", "*", "a{2,1}", "(?<", "\\", "q)(", "+v");
    return fc.oneof(
      fc.constantFrom("lora", "adapter", "krona", "bitfit").map((p): Case => ({ label: `${p} targets []`, names: ["targets"], run: add(p, { targets: [] }) })),
      fc.tuple(fc.constantFrom("lora", "krona", "bitfit"), badRegex).map(([p, r]): Case => ({ label: `${p} targets regex ${r}`, names: ["targets", "regex"], run: add(p, { targets: { regex: r } }) })),
      fc.tuple(fc.constantFrom("lora", "bitfit"), fc.constantFrom<unknown>([""], [5], [null], "q", 5, null, { regex: 5 }, { regex: "" }, ["q", 1])).map(([p, t]): Case => ({ label: `${p} targets ${describe(t)}`, names: ["targets"], run: add(p, { targets: t }) })),
      hugeSize.map((r): Case => ({ label: `lora r = ${r}`, names: ["lora", "bytes", `${r}`.slice(0, 6)], run: add("lora", { r, targets: ["q"] }) })),
      hugeSize.map((b): Case => ({ label: `adapter bottleneck = ${b}`, names: ["adapter", "bytes"], run: add("adapter", { bottleneck: b }) })),
      fc.constantFrom<[string, Record<string, unknown>, string]>(
        ["lora lora_alpha (HF spelling)", { lora_alpha: 16 }, "lora_alpha"],
        ["lora rank", { rank: 4 }, "rank"],
        ["lora r 0", { r: 0 }, "r"],
        ["lora r 1.5", { r: 1.5 }, "r"],
        ["lora r \"8\"", { r: "8" }, "r"],
      ).map(([label, config, name]): Case => ({ label, names: [name], run: add("lora", config) })),
      fc.constantFrom("lora", "nope", "LoRA").filter((p) => p !== "lora").map((p): Case => ({ label: `plugin ${p}`, names: [p], run: add(p, {}) })),
    );
  },
};

const loadAdapterEntry: EntryPoint = {
  name: "loadAdapter",
  usesBackend: true,
  cases: ({ peft }) => {
    let n = 0;
    const load = (configText: string) => async () => {
      const fs = memoryFiles({ "/a/adapter_config.json": configText });
      return loadAdapter(peft, "/a", { fs, name: `fuzzload${n++}` });
    };
    return fc.oneof(
      fc.constantFrom("{", "not json", "", "{\"peft_type\": \"LORA\",}", "[1,").map((t): Case => ({ label: `adapter_config.json ${describe(t)}`, names: ["/a/adapter_config.json", "JSON"], run: load(t) })),
      fc.constantFrom("[]", "5", "\"LORA\"", "null", "true").map((t): Case => ({ label: `adapter_config.json = ${t}`, names: ["/a/adapter_config.json", "object"], run: load(t) })),
      fc.constantFrom("NOPE", "", "lora").map((t): Case => ({ label: `peft_type ${describe(t)}`, names: ["/a/adapter_config.json", "peft_type"], run: load(JSON.stringify({ peft_type: t })) })),
      fc.constant<Case>({ label: "LORA config, no weights file", names: ["adapter_model.safetensors"], run: load(JSON.stringify({ peft_type: "LORA", r: 2, lora_alpha: 2, target_modules: ["q"] })) }),
    );
  },
};

// --- GLUE

const glueEntry: EntryPoint = {
  name: "readGlue/loadGlue",
  usesBackend: false,
  cases: () => {
    const read = (path: string, body: string, extra: Record<string, unknown> = {}) => async () => {
      const fs = memoryFiles({ [path]: body });
      return (await loadGlue(fs, { task: "sst2", split: "train", files: [path], ...extra } as never)).examples;
    };
    const good = "sentence\tlabel\na fine film\t1\n";
    return fc.oneof(
      fc.constantFrom("/g/train.tsv", "/g/train.jsonl").map((p): Case => ({ label: `empty ${p}`, names: [p, "empty"], run: read(p, "") })),
      fc.constantFrom("\n", "\n\n", "  \n").map((body): Case => ({ label: `blank-only ${describe(body)}`, names: ["/g/train.jsonl", "empty"], run: read("/g/train.jsonl", body) })),
      fc.oneof(fc.constantFrom<unknown>(0, -1, 1.5, NaN, "8", Infinity, null), fc.integer({ max: 0 })).map((c): Case => ({ label: `chunkSize ${describe(c)}`, names: ["chunkSize"], run: read("/g/train.tsv", good, { chunkSize: c }) })),
      fc.constantFrom("x", "2", "-1", "1.0", "positive").map((l): Case => ({ label: `label ${describe(l)}`, names: ["/g/train.tsv:2", "label"], run: read("/g/train.tsv", `sentence\tlabel\nsome text\t${l}\n`) })),
      fc.constantFrom("sentence\n", "text\tlabel\n").map((h): Case => ({ label: `header ${describe(h)}`, names: ["/g/train.tsv:1", "header"], run: read("/g/train.tsv", `${h}x\t1\n`) })),
    );
  },
};

/** labelledBatchTensors (a captured step's inputs) and captureStep's run: the same checks as forward's host data. */
const labelledBatchEntry: EntryPoint = {
  name: "labelledBatchTensors / captureStep",
  usesBackend: true,
  cases: ({ model, backend }) => {
    const make = (inputs: unknown) => {
      const made = labelledBatchTensors(inputs as never, model.config, backend);
      for (const t of made) t.dispose();
      return made;
    };
    const step = captureStep((inputs) => [inputs[0]!.add(0)]);
    return fc.oneof(
      // (the encoder cases but the long input: making a long batch is fine, forward refuses it)
      fc.tuple(batch, badId, position).map(([b, v, [r, c]]): Case => {
        const [ids, at] = poke("inputIds", b.ids, v, r, c);
        return { label: `${at} = ${String(v)}`, names: [at], run: () => make({ inputIds: ids, attentionMask: b.mask, labels: b.labels }) };
      }),
      fc.tuple(batch, badMask, position).map(([b, v, [r, c]]): Case => {
        const [mask, at] = poke("attentionMask", b.mask, v, r, c);
        return { label: `${at} = ${String(v)}`, names: [at], run: () => make({ inputIds: b.ids, attentionMask: mask, labels: b.labels }) };
      }),
      fc.tuple(batch, fc.integer({ min: 1, max: 3 })).map(([b, k]): Case => ({
        label: `attentionMask with ${k} more columns`,
        names: ["attentionMask"],
        run: () => make({ inputIds: b.ids, attentionMask: b.mask.map((r) => [...r, ...new Array<number>(k).fill(1)]), labels: b.labels }),
      })),
      notMatrix.map((m): Case => ({ label: `inputIds = ${describe(m)}`, names: ["inputIds"], run: () => make({ inputIds: m, labels: [[1]] }) })),
      fc.tuple(batch, badLabel, position).map(([b, v, [r, c]]): Case => {
        const [labels, at] = poke("labels", b.labels, v, r, c);
        return { label: `${at} = ${String(v)}`, names: [at], run: () => make({ inputIds: b.ids, labels }) };
      }),
      fc.tuple(batch, fc.integer({ min: 1, max: 3 })).map(([b, k]): Case => ({
        label: `labels with batch ${b.B + k} against inputIds batch ${b.B}`,
        names: ["labels", "batch"],
        run: () => make({ inputIds: b.ids, labels: [...b.labels, ...Array.from({ length: k }, () => b.labels[0]!.map((x) => (x < 0 ? 2 : x)))] }),
      })),
      fc.constantFrom<[string, unknown, string]>(
        ["inputs = null", null, "inputs"],
        ["labels missing", { inputIds: [[1, 2]] }, "labels"],
        ["labelz typo", { inputIds: [[1, 2]], labelz: [[1]] }, "labelz"],
      ).map(([label, inputs, name]): Case => ({ label, names: [name], run: () => make(inputs) })),
      fc.constantFrom<[string, () => unknown[], string]>(
        ["captureStep.run with a number among its inputs", () => [5], "inputs[0]"],
        ["captureStep.run with null among its inputs", () => [tensor(new Int32Array([1]), { backend, shape: [1], dtype: "int32" }), null], "inputs[1]"],
      ).map(([label, inputs, name]): Case => ({
        label,
        names: [name],
        run: () => {
          const given = inputs();
          try {
            return step.run(given as never);
          } finally {
            for (const t of given) (t as { dispose?: () => void } | null)?.dispose?.();
          }
        },
      })),
    );
  },
};

export const ENTRY_POINTS: readonly EntryPoint[] = [
  forwardEntry,
  labelledBatchEntry,
  encodeEntry,
  generateEntry,
  configEntry,
  loadT5Entry,
  peftEntry,
  loadAdapterEntry,
  safetensorsEntry,
  tokenizerFileEntry,
  tokenizerCallEntry,
  glueEntry,
];

// ---------------------------------------------------------------------------------------------------------
// Running and classifying

function classify(error: unknown, names: readonly string[]): [Outcome, string] {
  if (!(error instanceof Error)) return ["crash", `threw a non-Error: ${describe(error)}`];
  const message = error.message;
  if (error instanceof RangeError && /call stack|memory|Array buffer allocation/i.test(message)) return ["crash", `${error.name}: ${message}`];
  const tag = (error as { _tag?: unknown })._tag;
  if (typeof tag !== "string") return ["raw", `${error.name}: ${message}`];
  const missing = names.filter((n) => !message.includes(n));
  if (missing.length > 0) return ["unclear", `${tag}: ${message} (does not name ${missing.map((m) => JSON.stringify(m)).join(", ")})`];
  return ["typed", `${tag}: ${message}`];
}

export async function runCase(c: Case, timeoutMs: number): Promise<[Outcome, string]> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const result = await Promise.race([
      Promise.resolve().then(() => c.run()),
      new Promise((_, reject) => (timer = setTimeout(() => reject(HANG), timeoutMs))),
    ]);
    const ms = performance.now() - started;
    if (ms > timeoutMs) return ["hang", `returned after ${ms.toFixed(0)} ms`];
    return ["accepted", `returned ${describe(result)?.slice(0, 80)}`];
  } catch (e) {
    const ms = performance.now() - started;
    if (e === HANG || ms > timeoutMs) return ["hang", `no answer within ${timeoutMs} ms`];
    return classify(e, c.names);
  } finally {
    clearTimeout(timer);
  }
}
const HANG = Symbol("hang");

export interface FuzzOptions {
  readonly seed: number;
  /** Cases per entry point. */
  readonly cases: number;
  readonly backend: Backend;
  /** Run the entry points that do not use a backend (file readers, tokenizer) too. */
  readonly fileEntryPoints?: boolean;
  readonly timeoutMs?: number;
  readonly only?: readonly string[];
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = performance.now();
  const ctx = await makeContext(options.backend);
  const counts: Record<string, Record<Outcome, number>> = {};
  const failures: Failure[] = [];
  try {
    for (const [i, entry] of ENTRY_POINTS.entries()) {
      if (!entry.usesBackend && options.fileEntryPoints === false) continue;
      if (options.only && !options.only.some((w) => entry.name.toLowerCase().includes(w.toLowerCase()))) continue;
      const row = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
      counts[entry.name] = row;
      const cases = fc.sample(entry.cases(ctx), { seed: options.seed + i * 7919, numRuns: options.cases });
      for (const c of cases) {
        const [outcome, detail] = await runCase(c, options.timeoutMs ?? 10_000);
        row[outcome]++;
        if (outcome !== "typed") failures.push({ entry: entry.name, outcome, label: c.label, detail });
      }
    }
  } finally {
    ctx.model.dispose();
  }
  return { seed: options.seed, counts, failures, ms: performance.now() - started };
}

export function formatReport(report: FuzzReport, title: string): string {
  const lines = [`${title} (seed ${report.seed}, ${(report.ms / 1000).toFixed(1)} s)`, `  ${"entry point".padEnd(26)}${OUTCOMES.map((o) => o.padStart(9)).join("")}`];
  for (const [name, row] of Object.entries(report.counts)) lines.push(`  ${name.padEnd(26)}${OUTCOMES.map((o) => String(row[o]).padStart(9)).join("")}`);
  for (const f of report.failures.slice(0, 30)) lines.push(`  ✗ ${f.entry}: ${f.outcome}: ${f.label}: ${f.detail}`);
  if (report.failures.length > 30) lines.push(`  … ${report.failures.length - 30} more failures`);
  return lines.join("\n");
}
