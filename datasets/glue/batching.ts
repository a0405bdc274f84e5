/**
 * From examples to training batches. A split is tokenised once, streaming (strings are dropped as soon as
 * their ids are stored), into packed id arrays; a `TokenCache` keeps them per task and split, in memory and
 * optionally in a file. Batches are cut from a seeded shuffle: within each window of a few hundred
 * examples the examples are sorted by length and cut into batches, and the batches of the window are
 * shuffled, so a batch holds examples of similar length (little padding) and the order still changes
 * every epoch. Each batch is padded to its own longest sequence.
 *
 * Layout of a batch (B = batch, S = source length, T = target length), row-major host arrays:
 *   inputIds (B, S) int32, pad id 0;  attentionMask (B, S) 1 = token, 0 = padding;
 *   labels (B, T) int32 target ids ending with </s>, -100 at padding (ignored by the loss).
 */
import { GlueUsageError } from "./errors.ts";
import type { FileAccess } from "./files.ts";
import { t5Input, t5Target } from "./format.ts";
import { type GlueExample, type GlueExampleStream, type ReadGlueOptions, readGlue } from "./read.ts";
import { SeededRandom } from "./random.ts";
import { type GlueSplit, type GlueTaskName, glueSplit, glueTask } from "./tasks.ts";

/** Texts → token ids, each ending with the </s> id (what the T5 tokenizer's `encode` gives). */
export type Tokenize = (texts: readonly string[]) => number[][] | Promise<number[][]>;

/** Many id sequences in one buffer: sequence i is `ids[offsets[i] … offsets[i + 1])`. */
export interface PackedSequences {
  readonly ids: Int32Array;
  readonly offsets: Uint32Array;
}

export interface TokenizedSplit {
  readonly task: GlueTaskName;
  readonly split: GlueSplit;
  readonly size: number;
  /** HF idx of each example. */
  readonly idx: Int32Array;
  /** Reference label of each example (class index or STS-B score); NaN in unlabelled splits. */
  readonly labels: Float64Array;
  /** T5 inputs, tokenised. */
  readonly sources: PackedSequences;
  /** T5 targets, tokenised (empty sequences in unlabelled splits). */
  readonly targets: PackedSequences;
}

export function sequenceLength(packed: PackedSequences, i: number): number {
  return packed.offsets[i + 1]! - packed.offsets[i]!;
}

class IntBuilder {
  ids = new Int32Array(1024);
  length = 0;
  push(values: readonly number[]): void {
    if (this.length + values.length > this.ids.length) {
      let size = this.ids.length * 2;
      while (size < this.length + values.length) size *= 2;
      const grown = new Int32Array(size);
      grown.set(this.ids.subarray(0, this.length));
      this.ids = grown;
    }
    for (let i = 0; i < values.length; i++) this.ids[this.length + i] = values[i]!;
    this.length += values.length;
  }
  done(): Int32Array {
    return this.ids.slice(0, this.length);
  }
}

export interface TokenizeSplitOptions {
  readonly tokenize: Tokenize;
  /** Needed when `examples` is not a `readGlue` stream. */
  readonly task?: GlueTaskName | string;
  readonly split?: GlueSplit | string;
  /** Examples per tokenizer call (default 1024). */
  readonly chunkSize?: number;
}

/** Formats (T5 text-to-text) and tokenises a split, streaming; only the ids are kept. */
export async function tokenizeSplit(
  examples: GlueExampleStream | AsyncIterable<GlueExample> | Iterable<GlueExample>,
  options: TokenizeSplitOptions,
): Promise<TokenizedSplit> {
  const stream = examples as Partial<GlueExampleStream>;
  const taskName = options.task ?? stream.task?.name;
  const splitName = options.split ?? stream.split;
  if (taskName === undefined || splitName === undefined) throw GlueUsageError.of("tokenizeSplit: say which task and split the examples are");
  const task = glueTask(taskName);
  const split = glueSplit(task, splitName);
  const chunkSize = Math.max(1, options.chunkSize ?? 1024);
  const sources = new IntBuilder();
  const targets = new IntBuilder();
  const sourceOffsets: number[] = [0];
  const targetOffsets: number[] = [0];
  const idx: number[] = [];
  const labels: number[] = [];
  let inputs: string[] = [];
  let outputs: (string | null)[] = [];

  const flush = async (): Promise<void> => {
    if (inputs.length === 0) return;
    const labelled = outputs.filter((t): t is string => t !== null);
    const [sourceIds, targetIds] = await Promise.all([options.tokenize(inputs), labelled.length > 0 ? options.tokenize(labelled) : []]);
    if (sourceIds.length !== inputs.length || targetIds.length !== labelled.length) {
      throw GlueUsageError.of(`tokenize returned ${sourceIds.length + targetIds.length} sequences for ${inputs.length + labelled.length} texts`);
    }
    let t = 0;
    for (let i = 0; i < inputs.length; i++) {
      sources.push(sourceIds[i]!);
      sourceOffsets.push(sources.length);
      if (outputs[i] !== null) targets.push(targetIds[t++]!);
      targetOffsets.push(targets.length);
    }
    inputs = [];
    outputs = [];
  };

  const add = async (example: GlueExample): Promise<void> => {
    inputs.push(t5Input(task, example.text));
    outputs.push(t5Target(task, example.label));
    idx.push(example.idx);
    labels.push(example.label ?? NaN);
    if (inputs.length >= chunkSize) await flush();
  };
  if (Symbol.asyncIterator in examples) for await (const e of examples as AsyncIterable<GlueExample>) await add(e);
  else for (const e of examples as Iterable<GlueExample>) await add(e);
  await flush();

  return {
    task: task.name,
    split,
    size: idx.length,
    idx: Int32Array.from(idx),
    labels: Float64Array.from(labels),
    sources: { ids: sources.done(), offsets: Uint32Array.from(sourceOffsets) },
    targets: { ids: targets.done(), offsets: Uint32Array.from(targetOffsets) },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Cache

export interface TokenCacheOptions {
  /** With `dir`: also keep each tokenised split as a file `<dir>/<task>.<split>.<tokenizerId>.wptok`. */
  readonly files?: FileAccess;
  readonly dir?: string;
  /** Names the tokenizer (ids differ between tokenizers); needed for the files. */
  readonly tokenizerId?: string;
}

/**
 * Tokenised splits per task and split, computed once: `get` returns the cached split or runs `produce`
 * once (concurrent callers share the same promise). With files, a split tokenised in an earlier run is
 * read back instead; delete the file to force re-tokenising.
 */
export class TokenCache {
  private readonly memory = new Map<string, Promise<TokenizedSplit>>();

  constructor(private readonly options: TokenCacheOptions = {}) {
    if ((options.files === undefined) !== (options.dir === undefined)) throw GlueUsageError.of("TokenCache: give both files and dir, or neither");
    if (options.dir !== undefined && !options.tokenizerId) throw GlueUsageError.of("TokenCache: a cache on disk needs a tokenizerId");
  }

  /** The cache file of a split (undefined without a cache folder). */
  path(task: GlueTaskName, split: GlueSplit): string | undefined {
    const { files, dir, tokenizerId } = this.options;
    return files && dir ? files.join(dir, `${task}.${split}.${tokenizerId!.replace(/[^\w.-]/g, "_")}.wptok`) : undefined;
  }

  get(key: { readonly task: GlueTaskName | string; readonly split: GlueSplit | string }, produce: () => Promise<TokenizedSplit>): Promise<TokenizedSplit> {
    const task = glueTask(key.task);
    const split = glueSplit(task, key.split);
    const id = `${task.name}/${split}`;
    let entry = this.memory.get(id);
    if (!entry) {
      entry = this.load(task.name, split, produce);
      this.memory.set(id, entry);
      entry.catch(() => this.memory.delete(id)); // a failure is not cached
    }
    return entry;
  }

  /** Reads (or tokenises once) a GLUE split through `readGlue`. */
  tokenized(files: FileAccess, options: ReadGlueOptions & { readonly tokenize: Tokenize }): Promise<TokenizedSplit> {
    return this.get(options, () => tokenizeSplit(readGlue(files, options), { tokenize: options.tokenize }));
  }

  private async load(task: GlueTaskName, split: GlueSplit, produce: () => Promise<TokenizedSplit>): Promise<TokenizedSplit> {
    const path = this.path(task, split);
    const files = this.options.files;
    if (path === undefined || files === undefined) return produce();
    if (await files.exists(path)) return readTokenized(files, path);
    const data = await produce();
    await files.mkdirp(this.options.dir!);
    await writeTokenized(files, path, data);
    return data;
  }
}

const MAGIC = "WPGT";

function bytesOf(a: Int32Array | Uint32Array | Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Writes a tokenised split: "WPGT", u32 LE header length, JSON header, then the arrays (little-endian). */
export async function writeTokenized(files: FileAccess, path: string, data: TokenizedSplit): Promise<void> {
  const header = new TextEncoder().encode(
    JSON.stringify({ version: 1, task: data.task, split: data.split, size: data.size, sourceIds: data.sources.ids.length, targetIds: data.targets.ids.length }),
  );
  const prefix = new Uint8Array(8);
  prefix.set(new TextEncoder().encode(MAGIC));
  new DataView(prefix.buffer).setUint32(4, header.length, true);
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw GlueUsageError.of("writeTokenized: big-endian hosts are not supported");
  await files.writeAtomic(path, [
    prefix,
    header,
    bytesOf(data.idx),
    bytesOf(data.labels),
    bytesOf(data.sources.offsets),
    bytesOf(data.sources.ids),
    bytesOf(data.targets.offsets),
    bytesOf(data.targets.ids),
  ]);
}

export async function readTokenized(files: FileAccess, path: string): Promise<TokenizedSplit> {
  const file = await files.open(path);
  let bytes: Uint8Array;
  try {
    bytes = await file.read(0, file.size);
  } finally {
    await file.close();
  }
  const bad = (why: string) => GlueUsageError.of(`${path}: not a webpeft token cache file (${why}); delete it to re-tokenise`);
  if (bytes.length < 8 || new TextDecoder().decode(bytes.subarray(0, 4)) !== MAGIC) throw bad("no WPGT magic");
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as {
    version: number;
    task: GlueTaskName;
    split: GlueSplit;
    size: number;
    sourceIds: number;
    targetIds: number;
  };
  if (header.version !== 1) throw bad(`version ${header.version}`);
  let at = 8 + headerLength;
  const take = (count: number, width: number): ArrayBuffer => {
    const end = at + count * width;
    if (end > bytes.length) throw bad("truncated");
    const part = bytes.slice(at, end); // a copy: aligned for the typed array
    at = end;
    return part.buffer;
  };
  const n = header.size;
  const data: TokenizedSplit = {
    task: header.task,
    split: header.split,
    size: n,
    idx: new Int32Array(take(n, 4)),
    labels: new Float64Array(take(n, 8)),
    sources: { offsets: new Uint32Array(take(n + 1, 4)), ids: new Int32Array(take(header.sourceIds, 4)) },
    targets: { offsets: new Uint32Array(take(n + 1, 4)), ids: new Int32Array(take(header.targetIds, 4)) },
  };
  if (at !== bytes.length) throw bad("trailing bytes");
  return data;
}

// ---------------------------------------------------------------------------------------------------------
// Batches

export interface Batch {
  /** (B, S) token ids, `padId` after each sequence. */
  readonly inputIds: Int32Array;
  /** (B, S) 1 for a token, 0 for padding. */
  readonly attentionMask: Int32Array;
  /** (B, T) target ids, -100 after each sequence. */
  readonly labels: Int32Array;
  readonly shape: { readonly batch: number; readonly sourceLength: number; readonly targetLength: number };
  /** Which examples of the split these rows are (positions in the TokenizedSplit). */
  readonly rows: Int32Array;
  /**
   * The same arrays as T5 model inputs, ready for `model.forward(batch.inputs)` (labels padded with
   * -100) or `model.generate(batch.inputs.inputIds, batch.inputs.attentionMask)`.
   */
  readonly inputs: BatchInputs;
}

/** A host int matrix as T5 takes it: flat row-major data and its (rows, columns) shape. */
export interface IntMatrixData {
  readonly data: Int32Array;
  readonly shape: readonly [number, number];
}

export interface BatchInputs {
  readonly inputIds: IntMatrixData;
  readonly attentionMask: IntMatrixData;
  readonly labels: IntMatrixData;
}

export interface BatchOptions {
  readonly batchSize: number;
  /** Shuffle (default true; false keeps the file order, as for evaluation). */
  readonly shuffle?: boolean;
  /** Seed of the shuffle (default 0). */
  readonly seed?: number;
  /** Epoch number, mixed into the seed: each epoch has its own order, reproducible (default 0). */
  readonly epoch?: number;
  /** Sort by length within windows of this many examples (rounded up to whole batches; default
   *  50 batches). 0 or 1: no sorting. Infinity: sort the whole split (evaluation). */
  readonly bucketWindow?: number;
  /** Longer sequences are cut to this length, keeping their final </s> (default: no limit). */
  readonly maxSourceLength?: number;
  readonly maxTargetLength?: number;
  /** Drop the one smaller batch that may be left over (default false). */
  readonly dropLast?: boolean;
  /** Padding id of the inputs (default 0, T5's <pad>). */
  readonly padId?: number;
  /**
   * Pad each batch's source and target lengths up to a multiple of this (never past maxSourceLength /
   * maxTargetLength; default 1: the longest sequence). Fewer distinct batch shapes let a captured
   * training step replay more often (core/tensor/capture.ts); HF's `pad_to_multiple_of`.
   */
  readonly padToMultipleOf?: number;
}

function batchPlan(split: TokenizedSplit, options: BatchOptions): Int32Array[] {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw GlueUsageError.of(`batchSize must be a positive integer, got ${batchSize}`);
  for (const key of ["maxSourceLength", "maxTargetLength", "padToMultipleOf"] as const) {
    const v = options[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw GlueUsageError.of(`${key} must be a positive integer, got ${v}`);
  }
  const shuffle = options.shuffle ?? true;
  const random = new SeededRandom(options.seed ?? 0, options.epoch ?? 0);
  const order = Int32Array.from({ length: split.size }, (_, i) => i);
  if (shuffle) random.shuffle(order);
  const requested = options.bucketWindow ?? 50 * batchSize;
  const window = requested <= 1 ? batchSize : Math.min(Math.ceil(Math.min(requested, split.size) / batchSize) * batchSize, Number.MAX_SAFE_INTEGER);
  const sort = requested > 1;
  const batches: Int32Array[] = [];
  for (let start = 0; start < split.size; start += window) {
    const part = order.slice(start, Math.min(start + window, split.size));
    if (sort) {
      // Stable: equal lengths keep their shuffled order.
      const sorted = Array.from(part).sort((a, b) => sequenceLength(split.sources, a) - sequenceLength(split.sources, b));
      part.set(sorted);
    }
    const windowBatches: Int32Array[] = [];
    for (let b = 0; b < part.length; b += batchSize) windowBatches.push(part.slice(b, b + batchSize));
    if (shuffle) random.shuffle(windowBatches);
    batches.push(...windowBatches);
  }
  return options.dropLast ? batches.filter((b) => b.length === batchSize) : batches;
}

/** How many batches `glueBatches` yields with these options. */
export function batchCount(split: TokenizedSplit, options: BatchOptions): number {
  const full = Math.floor(split.size / options.batchSize);
  return options.dropLast || split.size % options.batchSize === 0 ? full : full + 1;
}

/** Copies sequence i (cut to `max`, keeping its last id) into `out` at `at`; returns its length. */
function copySequence(packed: PackedSequences, i: number, max: number | undefined, out: Int32Array, at: number): number {
  const start = packed.offsets[i]!;
  const length = packed.offsets[i + 1]! - start;
  if (max === undefined || length <= max) {
    out.set(packed.ids.subarray(start, start + length), at);
    return length;
  }
  out.set(packed.ids.subarray(start, start + max - 1), at);
  out[at + max - 1] = packed.ids[start + length - 1]!;
  return max;
}

/** The batches of one pass over a tokenised split (see the module comment for the order). */
export function* glueBatches(split: TokenizedSplit, options: BatchOptions): Generator<Batch> {
  const padId = options.padId ?? 0;
  const cap = (length: number, max: number | undefined) => (max === undefined ? length : Math.min(length, max));
  const multiple = options.padToMultipleOf ?? 1;
  const padded = (length: number, max: number | undefined) => cap(Math.ceil(length / multiple) * multiple, max);
  for (const rows of batchPlan(split, options)) {
    let sourceLength = 0;
    let targetLength = 0;
    for (const r of rows) {
      sourceLength = Math.max(sourceLength, cap(sequenceLength(split.sources, r), options.maxSourceLength));
      targetLength = Math.max(targetLength, cap(sequenceLength(split.targets, r), options.maxTargetLength));
    }
    sourceLength = padded(sourceLength, options.maxSourceLength);
    targetLength = padded(targetLength, options.maxTargetLength);
    const batch = rows.length;
    const inputIds = new Int32Array(batch * sourceLength).fill(padId);
    const attentionMask = new Int32Array(batch * sourceLength);
    const labels = new Int32Array(batch * targetLength).fill(-100);
    for (let b = 0; b < batch; b++) {
      const n = copySequence(split.sources, rows[b]!, options.maxSourceLength, inputIds, b * sourceLength);
      attentionMask.fill(1, b * sourceLength, b * sourceLength + n);
      copySequence(split.targets, rows[b]!, options.maxTargetLength, labels, b * targetLength);
    }
    const inputs: BatchInputs = {
      inputIds: { data: inputIds, shape: [batch, sourceLength] },
      attentionMask: { data: attentionMask, shape: [batch, sourceLength] },
      labels: { data: labels, shape: [batch, targetLength] },
    };
    yield { inputIds, attentionMask, labels, shape: { batch, sourceLength, targetLength }, rows, inputs };
  }
}
