/**
 * The T5 tokenizer: Hugging Face `tokenizer.json` (either dialect: the classic WhitespaceSplit + Metaspace
 * pre-tokenizer, or the tokenizers ≥ 0.14 Metaspace(prepend_scheme) one) run by `@huggingface/tokenizers`,
 * with the Unigram segmentation replaced by one that reproduces SentencePiece's ids exactly.
 *
 * Why the segmentation is replaced: several segmentations of a word can score the same (e.g. "----" as
 * "---" + "-" or "-" + "---"; "......." as "......" + "." or "." + "......"). SentencePiece's optimized
 * Viterbi (unigram_model.cc, EncodeOptimized, v0.1.9x–0.2.x) decides those ties through float32
 * arithmetic: the best score at each position is stored as a float32, while a candidate (piece score +
 * best score where the piece starts) is formed and compared in double precision (the piece score is a
 * double there because of the `length * max_score_ - 0.1` branch of a conditional). tokenizers.js keeps
 * float64 throughout, and on such inputs picks the other segmentation (about 2% of punctuation-heavy
 * random strings; none of the GLUE sentences checked). The Viterbi below follows SentencePiece's order
 * and precision: start positions ascending, candidates compared with `>` in float64, best scores stored
 * in a Float32Array, unknown characters scored min_score − 10 in float32; the running best score carries
 * from one pre-token to the next, as SentencePiece runs one Viterbi over the whole normalized string.
 *
 * Normalization (the precompiled NFKC charsmap), whitespace handling, added/special tokens and decoding
 * stay with the library. Ids end with </s> like HF's T5Tokenizer. Text that spells an added token
 * (e.g. "<extra_id_0>") becomes that token's id, as in HF, where raw SentencePiece would spell it out.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { type TaggedErrorClass, taggedError } from "../errors.ts";
import { type FileAccess, parentOf } from "./files.ts";

/** A tokenizer file that cannot be loaded, or an argument the tokenizer cannot honour. */
interface TokenizerErrorFields {
  readonly path: string;
  readonly message: string;
}
const TokenizerErrorBase: TaggedErrorClass<"TokenizerError", TokenizerErrorFields> = taggedError("TokenizerError");
export class TokenizerError extends TokenizerErrorBase {
  static of(path: string, problem: string): TokenizerError {
    return new TokenizerError({ path, message: `${path}: ${problem}` });
  }
}

export interface EncodeOptions {
  /** At most this many ids; longer inputs are cut and keep </s> as their last id. */
  readonly maxLength?: number;
}

export interface BatchEncoding {
  /** (B, L) ids, right-padded with padId. */
  readonly inputIds: number[][];
  /** (B, L) 1 for real tokens, 0 for padding. */
  readonly attentionMask: number[][];
}

export interface BatchEncodeOptions extends EncodeOptions {
  /** "longest" (default): pad to the longest row. A number: pad every row to it, cutting longer rows
   * to it (still ending with </s>). */
  readonly padTo?: "longest" | number;
}

export interface T5Tokenizer {
  /** Number of ids the tokenizer can produce (largest id + 1, added tokens included). */
  readonly vocabSize: number;
  readonly padId: number;
  readonly eosId: number;
  readonly unkId: number;
  /** Ids of `text`, ending with </s> (id 1 for T5). */
  encode(text: string, options?: EncodeOptions): number[];
  encodeBatch(texts: readonly string[], options?: BatchEncodeOptions): BatchEncoding;
  decode(ids: readonly number[], options?: { readonly skipSpecialTokens?: boolean }): string;
}

// ---------------------------------------------------------------------------------------------------------
// SentencePiece-exact Unigram segmentation

interface TrieNode {
  /** Vocabulary id of the piece that ends here, or -1. */
  id: number;
  readonly children: Map<number, TrieNode>;
}

interface UnigramVocab {
  readonly root: TrieNode;
  /** Piece scores as float32, as SentencePiece stores them. */
  readonly scores: Float32Array;
  readonly unkId: number;
  readonly unkScore: number;
}

function buildVocab(pieces: readonly (readonly [string, number])[], unkId: number, excluded: ReadonlySet<number>): UnigramVocab {
  const scores = new Float32Array(pieces.length);
  const root: TrieNode = { id: -1, children: new Map() };
  let minScore = Infinity;
  pieces.forEach(([piece, score], id) => {
    scores[id] = score;
    // Control and unknown pieces (<pad>, </s>, <unk>, <extra_id_*>) are not matched inside text by
    // SentencePiece; the library matches them as added tokens before segmentation anyway.
    if (id === unkId || excluded.has(id) || piece.length === 0) return;
    minScore = Math.min(minScore, scores[id]!);
    let node = root;
    for (let i = 0; i < piece.length; i++) {
      const unit = piece.charCodeAt(i);
      let next = node.children.get(unit);
      if (!next) {
        next = { id: -1, children: new Map() };
        node.children.set(unit, next);
      }
      node = next;
    }
    node.id = id;
  });
  return { root, scores, unkId, unkScore: Math.fround(minScore - 10) };
}

/**
 * Best segmentation of one pre-token, starting from the running best score `carry` (float32); returns
 * the pieces and the best score at the end. Positions are UTF-16 code units; a segment always starts
 * and ends on a code point boundary (a surrogate pair is one character, as in SentencePiece's UTF-8).
 */
function segment(vocab: UnigramVocab, text: string, carry: number): [pieces: string[], score: number] {
  const size = text.length;
  const bestScore = new Float32Array(size + 1);
  const bestStart = new Int32Array(size + 1).fill(-1);
  bestScore[0] = carry;
  for (let start = 0; start < size; ) {
    const here = bestScore[start]!;
    const unit = text.charCodeAt(start);
    const charLength = unit >= 0xd800 && unit < 0xdc00 && start + 1 < size ? 2 : 1;
    let hasSingleCharPiece = false;
    let node: TrieNode | undefined = vocab.root;
    for (let end = start + 1; end <= size; end++) {
      node = node.children.get(text.charCodeAt(end - 1));
      if (!node) break;
      if (node.id < 0) continue;
      const candidate = vocab.scores[node.id]! + here; // float64, compared before rounding (see top)
      if (bestStart[end] === -1 || candidate > bestScore[end]!) {
        bestScore[end] = candidate; // stored as float32
        bestStart[end] = start;
      }
      if (end - start === charLength) hasSingleCharPiece = true;
    }
    if (!hasSingleCharPiece) {
      const end = start + charLength;
      const candidate = Math.fround(vocab.unkScore + here); // float32 + float32 in SentencePiece
      if (bestStart[end] === -1 || candidate > bestScore[end]!) {
        bestScore[end] = candidate;
        bestStart[end] = start;
      }
    }
    start += charLength;
  }
  const pieces: string[] = [];
  for (let end = size; end > 0; end = bestStart[end]!) pieces.push(text.slice(bestStart[end]!, end));
  pieces.reverse();
  return [pieces, bestScore[size]!];
}

// ---------------------------------------------------------------------------------------------------------
// Loading

interface TokenizerJson {
  readonly model?: { readonly type?: string; readonly vocab?: unknown; readonly unk_id?: unknown };
  readonly added_tokens?: readonly { readonly id: number; readonly content: string; readonly special?: boolean }[];
}

function tokenName(value: unknown, fallback: string): string {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null && typeof (value as { content?: unknown }).content === "string") {
    return (value as { content: string }).content;
  }
  return fallback;
}

function describe(value: unknown): string {
  if (typeof value === "number" || value === undefined || value === null || typeof value === "boolean") return String(value);
  if (typeof value === "string") return JSON.stringify(value.slice(0, 40));
  if (Array.isArray(value)) return `an array of ${value.length}`;
  const text = (() => { try { return JSON.stringify(value); } catch { return undefined; } })();
  return text === undefined ? typeof value : text.slice(0, 60);
}

async function readJson(fs: FileAccess, path: string): Promise<unknown> {
  const text = await fs.readText(path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw TokenizerError.of(path, `not valid JSON: ${(e as Error).message}`);
  }
}

function checkVocab(path: string, vocab: unknown): [string, number][] {
  if (!Array.isArray(vocab) || vocab.length === 0) throw TokenizerError.of(path, `model.vocab must be a non-empty array of [piece, score]`);
  const seen = new Map<string, number>();
  for (const [i, entry] of vocab.entries()) {
    if (!Array.isArray(entry) || typeof entry[0] !== "string" || typeof entry[1] !== "number") {
      throw TokenizerError.of(path, `model.vocab[${i}] must be [piece, score], got ${JSON.stringify(entry)?.slice(0, 60)}`);
    }
    const before = seen.get(entry[0]);
    if (before !== undefined) {
      throw TokenizerError.of(path, `model.vocab[${i}] repeats the piece ${JSON.stringify(entry[0])} of model.vocab[${before}]: pieces must be unique`);
    }
    seen.set(entry[0], i);
  }
  return vocab as [string, number][];
}

interface AddedToken {
  readonly id: number;
  readonly content: string;
  readonly special: boolean;
}

/**
 * added_tokens: each an integer id with its content. An id inside model.vocab must name that piece (as in
 * every HF T5 file); ids past it extend the vocabulary contiguously (no gaps), and no id or content twice.
 */
function checkAddedTokens(path: string, raw: unknown, pieces: readonly (readonly [string, number])[]): AddedToken[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw TokenizerError.of(path, `added_tokens must be an array, got ${JSON.stringify(raw)?.slice(0, 60)}`);
  const out: AddedToken[] = [];
  const ids = new Map<number, string>();
  const limit = pieces.length + raw.length; // every id past the pieces is one added token: no gaps
  for (const [i, t] of raw.entries()) {
    const where = `added_tokens[${i}]`;
    if (typeof t !== "object" || t === null || typeof t.content !== "string") {
      throw TokenizerError.of(path, `${where} must be { id, content, … }, got ${JSON.stringify(t)?.slice(0, 60)}`);
    }
    const { id, content } = t as { id: unknown; content: string };
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= limit) {
      throw TokenizerError.of(path, `${where} (${JSON.stringify(content)}) has id ${JSON.stringify(id)}, outside 0..${limit - 1} (the ${pieces.length} pieces of model.vocab, then one id per added token)`);
    }
    if (id < pieces.length && pieces[id]![0] !== content) {
      throw TokenizerError.of(path, `${where} gives ${JSON.stringify(content)} the id ${id}, which model.vocab gives to ${JSON.stringify(pieces[id]![0])}`);
    }
    const other = ids.get(id);
    if (other !== undefined) throw TokenizerError.of(path, `${where} repeats the id ${id} (already ${JSON.stringify(other)})`);
    ids.set(id, content);
    out.push({ id, content, special: (t as { special?: unknown }).special === true });
  }
  // Ids past the pieces must be pieces.length, pieces.length + 1, …: a gap would make ids that no token has.
  const beyond = out.filter((t) => t.id >= pieces.length).sort((a, b) => a.id - b.id);
  for (const [k, t] of beyond.entries()) {
    if (t.id !== pieces.length + k) {
      const i = out.indexOf(t);
      throw TokenizerError.of(path, `added_tokens[${i}] (${JSON.stringify(t.content)}) has id ${t.id}, but the next free id after the ${pieces.length} pieces of model.vocab${k > 0 ? " and the added tokens before it" : ""} is ${pieces.length + k}: added ids must follow the vocabulary without gaps`);
    }
  }
  return out;
}

/**
 * Loads a T5 tokenizer from a directory holding tokenizer.json (and, optionally, tokenizer_config.json)
 * or from the tokenizer.json file itself.
 */
export async function loadTokenizer(fs: FileAccess, path: string): Promise<T5Tokenizer> {
  const stat = await fs.stat(path);
  const isDir = stat?.isDirectory ?? false;
  const file = isDir ? fs.join(path, "tokenizer.json") : path;
  const dir = isDir ? path : parentOf(file);
  if (!(await fs.exists(file))) {
    const spiece = isDir && (await fs.exists(fs.join(path, "spiece.model")));
    throw TokenizerError.of(
      file,
      `not found${spiece ? "; the directory has only spiece.model: webpeft reads the tokenizer.json form (transformers' T5TokenizerFast saves it)" : ""}`,
    );
  }
  const json = (await readJson(fs, file)) as TokenizerJson;
  if (typeof json !== "object" || json === null || json.model?.type !== "Unigram") {
    throw TokenizerError.of(file, `model.type is ${JSON.stringify(json?.model?.type)}; a T5 tokenizer is a SentencePiece "Unigram" model`);
  }
  const pieces = checkVocab(file, json.model.vocab);
  const added = checkAddedTokens(file, json.added_tokens, pieces);
  const configPath = fs.join(dir, "tokenizer_config.json");
  const config = (await fs.exists(configPath)) ? ((await readJson(fs, configPath)) as Record<string, unknown>) : {};

  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (e) {
    throw TokenizerError.of(file, `cannot be loaded: ${(e as Error).message}`);
  }
  const model = tokenizer.model;
  if (!model) throw TokenizerError.of(file, "has no model");

  const idOf = (token: string, what: string): number => {
    const id = tokenizer.token_to_id(token);
    if (id === undefined) throw TokenizerError.of(file, `the ${what} token ${JSON.stringify(token)} is not in the vocabulary`);
    return id;
  };
  const vocabSize = Math.max(pieces.length, ...added.map((t) => t.id + 1));
  const rawUnk = json.model.unk_id;
  if (rawUnk !== undefined && rawUnk !== null && (typeof rawUnk !== "number" || !Number.isInteger(rawUnk) || rawUnk < 0 || rawUnk >= pieces.length)) {
    throw TokenizerError.of(file, `model.unk_id = ${JSON.stringify(rawUnk)} is outside the vocabulary 0..${pieces.length - 1}`);
  }
  const unkId = typeof rawUnk === "number" ? rawUnk : idOf(tokenName(config.unk_token, "<unk>"), "unknown");
  const padId = idOf(tokenName(config.pad_token, "<pad>"), "padding");
  const eosId = idOf(tokenName(config.eos_token, "</s>"), "end-of-sequence");
  for (const [what, id] of [["unknown", unkId], ["padding", padId], ["end-of-sequence", eosId]] as const) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw TokenizerError.of(file, `the ${what} token's id ${id} is outside the vocabulary 0..${vocabSize - 1}`);
  }
  const special = new Set(added.filter((t) => t.special).map((t) => t.id));

  const vocab = buildVocab(pieces, unkId, special);
  // The library calls model(preTokens) → encode(preTokens), then fuses runs of unknown pieces into one
  // (SentencePiece does the same).
  model.encode = (preTokens: string[]): string[] => {
    const out: string[] = [];
    let carry = 0;
    for (const preToken of preTokens) {
      const [segmented, score] = segment(vocab, preToken, carry);
      for (const piece of segmented) out.push(piece);
      carry = score;
    }
    return out;
  };

  const encode = (text: string, options: EncodeOptions = {}, what = "encode: text"): number[] => {
    if (typeof text !== "string") throw TokenizerError.of(file, `${what} must be a string, got ${describe(text)}`);
    if (typeof options !== "object" || options === null) throw TokenizerError.of(file, `encode: options must be an object, got ${describe(options)}`);
    const maxLength = options.maxLength;
    if (maxLength !== undefined && (!Number.isInteger(maxLength) || maxLength < 1)) {
      throw TokenizerError.of(file, `maxLength must be a positive integer, got ${maxLength}`);
    }
    // Special tokens are added here rather than by the file's post-processor, so every tokenizer.json
    // ends sequences the same way.
    const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
    if (maxLength !== undefined && ids.length >= maxLength) ids.length = maxLength - 1;
    ids.push(eosId);
    return ids;
  };

  return {
    vocabSize,
    padId,
    eosId,
    unkId,
    encode,
    encodeBatch(texts: readonly string[], options: BatchEncodeOptions = {}): BatchEncoding {
      const padTo = options.padTo ?? "longest";
      if (padTo !== "longest" && (!Number.isInteger(padTo) || padTo < 1)) {
        throw TokenizerError.of(file, `padTo must be "longest" or a positive integer, got ${String(padTo)}`);
      }
      if (!Array.isArray(texts)) throw TokenizerError.of(file, `encodeBatch: texts must be an array of strings, got ${describe(texts)}`);
      const maxLength = options.maxLength;
      if (maxLength !== undefined && (!Number.isInteger(maxLength) || maxLength < 1)) {
        throw TokenizerError.of(file, `encodeBatch: maxLength must be a positive integer, got ${describe(maxLength)}`);
      }
      const limit = padTo === "longest" ? maxLength : Math.min(maxLength ?? padTo, padTo);
      const rows = texts.map((t, i) => encode(t, limit === undefined ? {} : { maxLength: limit }, `encodeBatch: texts[${i}]`));
      const length = padTo === "longest" ? Math.max(0, ...rows.map((r) => r.length)) : padTo;
      return {
        inputIds: rows.map((r) => [...r, ...new Array<number>(length - r.length).fill(padId)]),
        attentionMask: rows.map((r) => [...new Array<number>(r.length).fill(1), ...new Array<number>(length - r.length).fill(0)]),
      };
    },
    decode(ids: readonly number[], options: { readonly skipSpecialTokens?: boolean } = {}): string {
      if (!Array.isArray(ids)) throw TokenizerError.of(file, `decode: ids must be an array of token ids, got ${describe(ids)}`);
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i] as unknown;
        // Ids past the tokenizer's vocabulary are legal model outputs (T5's embedding has 32128 rows for
        // 32100 pieces) and decode to nothing, as in HF; anything that is not an id is an error.
        if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
          throw TokenizerError.of(file, `decode: ids[${i}] = ${describe(id)} is not a token id (a non-negative integer; the tokenizer has 0..${vocabSize - 1})`);
        }
      }
      return tokenizer.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false });
    },
  };
}
