/**
 * The safetensors format (Hugging Face): reader, writer, half-precision conversions, and sharded
 * checkpoints (`model.safetensors` or `model.safetensors.index.json` + shards).
 *
 * File layout:
 *   bytes [0, 8)        N, unsigned 64-bit little-endian: the header length
 *   bytes [8, 8 + N)    the header, UTF-8 JSON, padded with spaces:
 *                         { "<tensor>": { "dtype": "F32", "shape": [d0, d1, …], "data_offsets": [begin, end] }, …,
 *                           "__metadata__": { "<key>": "<string value>", … } }   (metadata optional)
 *   bytes [8 + N, size) the data region; begin/end are relative to its start (8 + N), end exclusive.
 *                       Tensors are row-major and little-endian.
 *
 * Reading is lazy: opening reads only the header, and `readF32(name)` reads that tensor's bytes and
 * nothing else, into a buffer that becomes the returned array when no conversion is needed (so a 900 MB
 * checkpoint is never held twice). Everything in the header is checked before anything is allocated
 * from it: the header length against the file size and a cap, the JSON, every dtype, shape and
 * byte range, and that no two tensors overlap.
 */
import { type TaggedErrorClass, taggedError } from "../errors.ts";
import { type FileAccess, type RandomAccessFile, parentOf } from "./files.ts";

/** A malformed safetensors file, or a tensor that cannot be read or written as asked. */
interface SafetensorsErrorFields {
  readonly path: string;
  /** The tensor concerned, when there is one. */
  readonly tensor: string | undefined;
  readonly message: string;
}
const SafetensorsErrorBase: TaggedErrorClass<"SafetensorsError", SafetensorsErrorFields> = taggedError("SafetensorsError");
export class SafetensorsError extends SafetensorsErrorBase {
  static of(path: string, tensor: string | undefined, problem: string): SafetensorsError {
    const where = tensor === undefined ? path : `${path}: tensor "${tensor}"`;
    return new SafetensorsError({ path, tensor, message: `${where}: ${problem}` });
  }
}

/** A checkpoint (one file or an index with shards) that lacks a file or a tensor. */
interface CheckpointErrorFields {
  readonly checkpoint: string;
  readonly tensor: string | undefined;
  readonly message: string;
}
const CheckpointErrorBase: TaggedErrorClass<"CheckpointError", CheckpointErrorFields> = taggedError("CheckpointError");
export class CheckpointError extends CheckpointErrorBase {
  static of(checkpoint: string, tensor: string | undefined, problem: string): CheckpointError {
    return new CheckpointError({ checkpoint, tensor, message: `${checkpoint}: ${problem}` });
  }
  /** A parameter that none of the names it may be stored under holds (tied weights have several). */
  static missing(checkpoint: string, tensor: string, candidates: readonly string[] = [tensor]): CheckpointError {
    const names = candidates.map((n) => `"${n}"`).join(" or ");
    const purpose = candidates.length === 1 && candidates[0] === tensor ? "" : ` (needed for parameter "${tensor}")`;
    return CheckpointError.of(checkpoint, tensor, `has no tensor ${names}${purpose}`);
  }
  /** A stored tensor whose shape is not the one the model expects. */
  static shape(checkpoint: string, tensor: string, expected: readonly number[], actual: readonly number[]): CheckpointError {
    return CheckpointError.of(checkpoint, tensor, `tensor "${tensor}" has shape [${actual.join(", ")}], the model expects [${expected.join(", ")}]`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// dtypes

/** Every dtype the format defines with whole-byte elements. */
export type SafetensorsDType =
  | "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "I16" | "U16" | "F16" | "BF16" | "I32" | "U32" | "F32" | "I64" | "U64" | "F64";

/** Bytes per element. */
const DTYPE_BYTES: { readonly [D in SafetensorsDType]: number } = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

function isKnownDType(dtype: unknown): dtype is SafetensorsDType {
  return typeof dtype === "string" && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, dtype);
}

/** The safetensors crate refuses headers over 100 MB; a T5-XXL header is well under 1 MB. */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;

const hostIsLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------------------
// Half precision. Conversions work on bit patterns (through Uint32Array views), so NaN payloads and the
// sign of zero survive; JS numbers would canonicalise NaNs.
//
//   F16  (IEEE binary16): sign 1 | exponent 5 (bias 15) | mantissa 10; exponent 0 = zero/subnormal
//        (mantissa × 2^-24), 31 = inf/NaN. Largest finite 65504.
//   BF16 (bfloat16):      sign 1 | exponent 8 (bias 127) | mantissa 7 = the top 16 bits of a float32.
//   F32:                  sign 1 | exponent 8 (bias 127) | mantissa 23.

/** binary16 bits → binary32 bits (exact: every f16 value is an f32 value). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0; // inf, NaN (payload kept)
  if (exponent !== 0) return (sign | ((exponent + 127 - 15) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0; // ±0
  // Subnormal mantissa × 2^-24: shift the leading 1 up to the implicit-bit position, lowering the exponent.
  let m = mantissa;
  let e = 127 - 14;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** binary32 bits → binary16 bits, rounding to nearest, ties to even; overflow → ±inf; NaN stays a (quiet) NaN. */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);
  const e = exponent - 127 + 15; // the f16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // f16 subnormal (or zero): value = significand × 2^(exponent-150) = h × 2^-24 with
    // h = significand >> (126 - exponent). Below 2^-25 everything rounds to zero (e < -10).
    if (e < -10) return sign;
    const significand = mantissa | 0x800000;
    const shift = 14 - e; // 14 … 24
    let h = significand >>> shift;
    const rest = significand & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && (h & 1) === 1)) h++; // may become 0x400: the smallest normal, correctly
    return sign | h;
  }
  let h = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++; // a carry rolls into the exponent, up to inf
  return sign | h;
}

/** bfloat16 bits → binary32 bits (exact). */
export function bf16BitsToF32Bits(b: number): number {
  return (b << 16) >>> 0;
}

/** binary32 bits → bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN instead of rounding to inf. */
export function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

// Scalar forms, for tests and single values. The number is first rounded to float32 (like the arrays
// that checkpoints hold), then to the 16-bit format.
const scratch = new DataView(new ArrayBuffer(4));
export function toF16Bits(value: number): number {
  scratch.setFloat32(0, value);
  return f32BitsToF16Bits(scratch.getUint32(0));
}
export function fromF16Bits(bits: number): number {
  scratch.setUint32(0, f16BitsToF32Bits(bits));
  return scratch.getFloat32(0);
}
export function toBf16Bits(value: number): number {
  scratch.setFloat32(0, value);
  return f32BitsToBf16Bits(scratch.getUint32(0));
}
export function fromBf16Bits(bits: number): number {
  scratch.setUint32(0, bf16BitsToF32Bits(bits));
  return scratch.getFloat32(0);
}

let f16Table: Uint32Array | null = null;
/** All 65536 f16 → f32 conversions (256 KiB), made on first use: a lookup per element when loading. */
function f16ToF32Table(): Uint32Array {
  if (f16Table === null) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

export function f16ArrayToF32(bits: Uint16Array): Float32Array {
  const table = f16ToF32Table();
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return new Float32Array(out.buffer);
}

export function bf16ArrayToF32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i]! << 16;
  return new Float32Array(out.buffer);
}

export function f32ArrayToF16(values: Float32Array): Uint16Array {
  const src = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16Bits(src[i]!);
  return out;
}

export function f32ArrayToBf16(values: Float32Array): Uint16Array {
  const src = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToBf16Bits(src[i]!);
  return out;
}

// Little-endian byte buffers ↔ typed arrays. On little-endian hosts (all current JS hosts) these are
// views without copying; a big-endian host gets byte-swapping copies.

function u16FromLE(bytes: Uint8Array): Uint16Array {
  if (hostIsLittleEndian && bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint16Array(bytes.byteLength / 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint16(2 * i, true);
  return out;
}

function u32FromLE(bytes: Uint8Array): Uint32Array {
  if (hostIsLittleEndian && bytes.byteOffset % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint32Array(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(4 * i, true);
  return out;
}

/** The little-endian bytes of a 16- or 32-bit typed array (a view on little-endian hosts). */
function toLEBytes(data: Uint16Array | Uint32Array | Float32Array | Int32Array): Uint8Array {
  if (hostIsLittleEndian) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  if (data instanceof Uint16Array) data.forEach((v, i) => view.setUint16(2 * i, v, true));
  else new Uint32Array(data.buffer, data.byteOffset, data.length).forEach((v, i) => view.setUint32(4 * i, v, true));
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Reader

export interface TensorInfo {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
}

export interface SafetensorsEntry extends TensorInfo {
  readonly dtype: SafetensorsDType;
  /** Absolute position of the tensor's first byte in the file. */
  readonly fileOffset: number;
  readonly byteLength: number;
}

export interface SafetensorsReader {
  readonly path: string;
  readonly metadata: Readonly<Record<string, string>>;
  names(): string[];
  has(name: string): boolean;
  /** Missing tensor → SafetensorsError naming it. */
  info(name: string): SafetensorsEntry;
  /** F32, F16, BF16 or F64 data as float32 (F64 rounded to nearest). */
  readF32(name: string): Promise<Float32Array>;
  /** I32 data, or I64 data whose every value fits in int32 (else SafetensorsError naming the element). */
  readI32(name: string): Promise<Int32Array>;
  /** The tensor's bytes as stored (little-endian), any dtype. */
  readBytes(name: string): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface OpenSafetensorsOptions {
  /** Refuse headers longer than this (default DEFAULT_MAX_HEADER_BYTES). */
  readonly maxHeaderBytes?: number;
}

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Checks one header entry; returns the entry or throws naming the tensor and the problem. */
function parseEntry(path: string, name: string, raw: unknown, dataStart: number, dataSize: number): SafetensorsEntry {
  const fail = (problem: string) => SafetensorsError.of(path, name, problem);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw fail(`header entry must be an object, got ${describe(raw)}`);
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (!isKnownDType(dtype)) {
    throw fail(`unknown dtype ${describe(dtype)} (known: ${Object.keys(DTYPE_BYTES).join(", ")})`);
  }
  if (!Array.isArray(shape)) throw fail(`shape must be an array of non-negative integers, got ${describe(shape)}`);
  let elements = 1;
  for (const [axis, size] of shape.entries()) {
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
      throw fail(`shape ${describe(shape)}: dimension ${axis} is ${describe(size)}, not a non-negative integer`);
    }
    elements *= size;
    if (!Number.isSafeInteger(elements)) throw fail(`shape ${describe(shape)} has more elements than can be addressed`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw fail(`data_offsets must be [begin, end], got ${describe(offsets)}`);
  }
  const [begin, end] = offsets as unknown[];
  if (typeof begin !== "number" || typeof end !== "number" || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin) {
    throw fail(`data_offsets ${describe(offsets)} must be integers with 0 <= begin <= end`);
  }
  const expected = elements * DTYPE_BYTES[dtype];
  if (end - begin !== expected) {
    throw fail(
      `byte length ${end - begin} (data_offsets [${begin}, ${end}]) does not match dtype ${dtype} × shape [${shape.join(", ")}] = ${expected} bytes`,
    );
  }
  if (end > dataSize) {
    throw fail(
      `data_offsets [${begin}, ${end}] lie outside the data region, which holds ${dataSize} bytes (file bytes ${dataStart} to ${dataStart + dataSize})`,
    );
  }
  return Object.freeze({ name, dtype, shape: Object.freeze(shape as number[]), fileOffset: dataStart + begin, byteLength: expected });
}

/** Opens a safetensors file and checks its header; tensor data is read on demand. */
export async function openSafetensors(fs: FileAccess, path: string, options: OpenSafetensorsOptions = {}): Promise<SafetensorsReader> {
  const file = await fs.open(path);
  try {
    return await readHeader(file, options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES);
  } catch (e) {
    await file.close();
    throw e;
  }
}

async function readHeader(file: RandomAccessFile, maxHeaderBytes: number): Promise<SafetensorsReader> {
  const { path, size } = file;
  if (size < 8) throw SafetensorsError.of(path, undefined, `truncated file: ${size} bytes, less than the 8-byte header length`);
  const lengthBytes = await file.read(0, 8);
  const headerLength = new DataView(lengthBytes.buffer).getBigUint64(0, true);
  if (headerLength > BigInt(size - 8)) {
    throw SafetensorsError.of(path, undefined, `header length ${headerLength} (bytes 0-7) is larger than the ${size - 8} bytes after it (file size ${size}): truncated or not a safetensors file`);
  }
  if (headerLength > BigInt(maxHeaderBytes)) {
    throw SafetensorsError.of(path, undefined, `header length ${headerLength} exceeds the ${maxHeaderBytes}-byte cap`);
  }
  const n = Number(headerLength);
  if (n < 2) throw SafetensorsError.of(path, undefined, `header length ${n} is too short for a JSON object`);
  const headerBytes = await file.read(8, n);
  let headerText: string;
  try {
    headerText = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    throw SafetensorsError.of(path, undefined, `header (bytes 8 to ${8 + n}) is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (e) {
    throw SafetensorsError.of(path, undefined, `header (bytes 8 to ${8 + n}) is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw SafetensorsError.of(path, undefined, `header must be a JSON object, got ${describe(header)}`);
  }
  const duplicate = firstDuplicateKey(headerText);
  if (duplicate !== null) {
    throw SafetensorsError.of(path, duplicate, `the header names this tensor twice (duplicate JSON keys are not allowed: the format needs one entry per name)`);
  }
  const dataStart = 8 + n;
  const dataSize = size - dataStart;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = parseMetadata(path, raw);
      continue;
    }
    entries.set(name, parseEntry(path, name, raw, dataStart, dataSize));
  }
  // Layout check, as the safetensors crate's validate(): sorted by start, each tensor begins exactly where
  // the one before ends (no overlap, no gap), and the last one ends at the end of the file (no unreferenced
  // trailing bytes): "the byte buffer needs to be entirely indexed, and cannot contain holes".
  // (Zero-length tensors occupy nothing and cannot overlap.)
  const byStart = [...entries.values()].filter((e) => e.byteLength > 0).sort((a, b) => a.fileOffset - b.fileOffset);
  const rel = (e: SafetensorsEntry) => `[${e.fileOffset - dataStart}, ${e.fileOffset - dataStart + e.byteLength}]`;
  let expectedStart = dataStart;
  for (let i = 0; i < byStart.length; i++) {
    const cur = byStart[i]!;
    if (i > 0 && cur.fileOffset < expectedStart) {
      const prev = byStart[i - 1]!;
      throw SafetensorsError.of(path, cur.name, `data_offsets ${rel(cur)} overlap those of tensor "${prev.name}" ${rel(prev)}`);
    }
    if (cur.fileOffset > expectedStart) {
      const after = i > 0 ? ` after tensor "${byStart[i - 1]!.name}" ${rel(byStart[i - 1]!)}` : " at the start of the data region";
      throw SafetensorsError.of(
        path,
        cur.name,
        `data_offsets ${rel(cur)} leave a gap of ${cur.fileOffset - expectedStart} unreferenced bytes${after}: tensors must fill the data region without holes`,
      );
    }
    expectedStart = cur.fileOffset + cur.byteLength;
  }
  if (expectedStart !== size) {
    throw SafetensorsError.of(
      path,
      undefined,
      `${size - expectedStart} unreferenced bytes at the end of the file (data region bytes ${expectedStart - dataStart} to ${dataSize}): tensors must fill the data region exactly`,
    );
  }
  return makeReader(file, entries, metadata);
}

/**
 * The first top-level key that occurs twice in a JSON object text, or null. JSON.parse keeps the last
 * one silently; a header with two entries for one name is ambiguous (two readers may disagree), so it is
 * refused. A single scan over the text: strings are skipped as a whole, depth counts braces and brackets.
 */
function firstDuplicateKey(text: string): string | null {
  const keys = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      depth--;
    } else if (ch === 0x2c /* , */ && depth === 1) {
      expectKey = true;
    }
  }
  return null;
}

function parseMetadata(path: string, raw: unknown): Record<string, string> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw SafetensorsError.of(path, undefined, `__metadata__ must be an object of strings, got ${describe(raw)}`);
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof value !== "string") throw SafetensorsError.of(path, undefined, `__metadata__ value "${key}" must be a string, got ${describe(value)}`);
    out[key] = value;
  }
  return out;
}

function makeReader(file: RandomAccessFile, entries: Map<string, SafetensorsEntry>, metadata: Record<string, string>): SafetensorsReader {
  const { path } = file;
  const info = (name: string): SafetensorsEntry => {
    const entry = entries.get(name);
    if (!entry) throw SafetensorsError.of(path, name, `no such tensor (the file has ${entries.size})`);
    return entry;
  };
  const readBytes = (name: string): Promise<Uint8Array> => {
    try {
      const entry = info(name);
      return file.read(entry.fileOffset, entry.byteLength);
    } catch (e) {
      return Promise.reject(e);
    }
  };
  return {
    path,
    metadata,
    names: () => [...entries.keys()],
    has: (name) => entries.has(name),
    info,
    readBytes,
    async readF32(name: string): Promise<Float32Array> {
      const entry = info(name);
      const bytes = await readBytes(name);
      switch (entry.dtype) {
        case "F32": {
          const words = u32FromLE(bytes); // the read buffer itself on little-endian hosts: no copy
          return new Float32Array(words.buffer, words.byteOffset, words.length);
        }
        case "F16":
          return f16ArrayToF32(u16FromLE(bytes));
        case "BF16":
          return bf16ArrayToF32(u16FromLE(bytes));
        case "F64": {
          const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          const out = new Float32Array(bytes.byteLength / 8);
          for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(8 * i, true);
          return out;
        }
        default:
          throw SafetensorsError.of(path, name, `dtype ${entry.dtype} cannot be read as float32 (use readI32 or readBytes)`);
      }
    },
    async readI32(name: string): Promise<Int32Array> {
      const entry = info(name);
      const bytes = await readBytes(name);
      switch (entry.dtype) {
        case "I32": {
          const words = u32FromLE(bytes);
          return new Int32Array(words.buffer, words.byteOffset, words.length);
        }
        case "I64": {
          // Little-endian int64 = (low word, high word). It fits in int32 exactly when the high word is
          // the sign extension of the low word.
          const words = u32FromLE(bytes);
          const out = new Int32Array(words.length / 2);
          for (let i = 0; i < out.length; i++) {
            const low = words[2 * i]! | 0;
            const high = words[2 * i + 1]! | 0;
            if (high !== low >> 31) {
              const value = (BigInt(high) << 32n) + BigInt(low >>> 0);
              throw SafetensorsError.of(path, name, `I64 element ${i} = ${value} does not fit in int32`);
            }
            out[i] = low;
          }
          return out;
        }
        default:
          throw SafetensorsError.of(path, name, `dtype ${entry.dtype} cannot be read as int32 (use readF32 or readBytes)`);
      }
    },
    close: () => file.close(),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Writer

export type SafetensorsWriteDType = "F32" | "F16" | "BF16" | "I32";

/**
 * A tensor to write. F32 takes a Float32Array; F16 and BF16 take a Float32Array (rounded to nearest
 * even) or a Uint16Array of raw bits; I32 takes an Int32Array.
 */
export interface TensorToWrite {
  readonly dtype: SafetensorsWriteDType;
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array | Uint16Array;
}

const WRITE_BYTES: { readonly [D in SafetensorsWriteDType]: number } = { F32: 4, I32: 4, F16: 2, BF16: 2 };

function checkTensorToWrite(path: string, name: string, t: TensorToWrite): void {
  const fail = (problem: string) => SafetensorsError.of(path, name, problem);
  if (name === "" || name === "__metadata__") throw fail("is not a valid tensor name");
  if (!Object.prototype.hasOwnProperty.call(WRITE_BYTES, t.dtype)) throw fail(`cannot write dtype ${describe(t.dtype)} (F32, F16, BF16, I32)`);
  let elements = 1;
  for (const size of t.shape) {
    if (!Number.isSafeInteger(size) || size < 0) throw fail(`shape [${t.shape.join(", ")}] must hold non-negative integers`);
    elements *= size;
  }
  if (t.data.length !== elements) throw fail(`shape [${t.shape.join(", ")}] has ${elements} elements but the data has ${t.data.length}`);
  const ok =
    t.dtype === "F32" ? t.data instanceof Float32Array
    : t.dtype === "I32" ? t.data instanceof Int32Array
    : t.data instanceof Float32Array || t.data instanceof Uint16Array;
  if (!ok) throw fail(`dtype ${t.dtype} cannot be written from a ${t.data.constructor.name}`);
}

function tensorBytes(t: TensorToWrite): Uint8Array {
  if (t.dtype === "F16" || t.dtype === "BF16") {
    const bits =
      t.data instanceof Uint16Array ? t.data
      : t.dtype === "F16" ? f32ArrayToF16(t.data as Float32Array)
      : f32ArrayToBf16(t.data as Float32Array);
    return toLEBytes(bits);
  }
  return toLEBytes(t.data as Float32Array | Int32Array);
}

/**
 * Writes tensors (and optional string metadata) atomically. The header is padded with spaces to a
 * multiple of 8 bytes so the data region starts 8-aligned; 4-byte tensors are laid out before 2-byte
 * ones (each group in the order given), so every tensor starts at a multiple of its element size.
 */
export async function writeSafetensors(
  fs: FileAccess,
  path: string,
  tensors: Readonly<Record<string, TensorToWrite>>,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const named = Object.entries(tensors);
  for (const [name, t] of named) checkTensorToWrite(path, name, t);
  const ordered = [...named.filter(([, t]) => WRITE_BYTES[t.dtype] === 4), ...named.filter(([, t]) => WRITE_BYTES[t.dtype] === 2)];
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== "string") throw SafetensorsError.of(path, undefined, `__metadata__ value "${key}" must be a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, t] of ordered) {
    const length = t.data.length * WRITE_BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + length] };
    offset += length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = new Uint8Array(Math.ceil(json.byteLength / 8) * 8).fill(0x20);
  padded.set(json);
  const lengthBytes = new Uint8Array(8);
  new DataView(lengthBytes.buffer).setBigUint64(0, BigInt(padded.byteLength), true);
  function* chunks(): Generator<Uint8Array> {
    yield lengthBytes;
    yield padded;
    // One tensor converted at a time: the writer never holds more than one converted copy.
    for (const [, t] of ordered) yield tensorBytes(t);
  }
  await fs.writeAtomic(path, chunks());
}

// ---------------------------------------------------------------------------------------------------------
// Checkpoints: one file, or an HF index + shards

export interface CheckpointReader {
  /** What was opened: the .safetensors file or the index file. */
  readonly source: string;
  names(): string[];
  has(name: string): boolean;
  /** Missing tensor → CheckpointError naming the tensor and the checkpoint. */
  info(name: string): TensorInfo;
  readF32(name: string): Promise<Float32Array>;
  close(): Promise<void>;
}

export const SINGLE_FILE = "model.safetensors";
export const INDEX_FILE = "model.safetensors.index.json";

/**
 * Opens `dir/model.safetensors`, or else `dir/model.safetensors.index.json` with its shards; `path` may
 * also name a .safetensors file or an index file directly. Every shard named in the index must exist and
 * hold the tensors the index assigns to it.
 */
export async function openCheckpoint(fs: FileAccess, path: string): Promise<CheckpointReader> {
  const stat = await fs.stat(path);
  if (stat === null) throw CheckpointError.of(path, undefined, "no such file or directory");
  if (!stat.isDirectory) {
    return path.endsWith(".json") ? openIndexed(fs, path) : openSingle(fs, path);
  }
  const single = fs.join(path, SINGLE_FILE);
  if (await fs.exists(single)) return openSingle(fs, single);
  const index = fs.join(path, INDEX_FILE);
  if (await fs.exists(index)) return openIndexed(fs, index);
  const hint = (await fs.exists(fs.join(path, "pytorch_model.bin")))
    ? "; it has pytorch_model.bin, a PyTorch pickle, which webpeft does not read: convert it to safetensors"
    : "";
  throw CheckpointError.of(path, undefined, `no ${SINGLE_FILE} and no ${INDEX_FILE} in this directory${hint}`);
}

async function openSingle(fs: FileAccess, path: string): Promise<CheckpointReader> {
  const file = await openSafetensors(fs, path);
  const missing = (name: string) => CheckpointError.missing(path, name);
  return {
    source: path,
    names: () => file.names(),
    has: (name) => file.has(name),
    info(name: string): TensorInfo {
      if (!file.has(name)) throw missing(name);
      const { dtype, shape } = file.info(name);
      return { name, dtype, shape };
    },
    readF32(name: string): Promise<Float32Array> {
      return file.has(name) ? file.readF32(name) : Promise.reject(missing(name));
    },
    close: () => file.close(),
  };
}

/** A shard file name from an index: a plain file name next to the index, never a path elsewhere. */
function checkShardName(indexPath: string, tensor: string, shard: unknown): string {
  if (typeof shard !== "string" || shard === "" || /[/\\]/.test(shard) || shard === "." || shard === "..") {
    throw CheckpointError.of(indexPath, tensor, `weight_map["${tensor}"] must be a file name next to the index, got ${describe(shard)}`);
  }
  return shard;
}

async function openIndexed(fs: FileAccess, indexPath: string): Promise<CheckpointReader> {
  let index: unknown;
  try {
    index = JSON.parse(await fs.readText(indexPath));
  } catch (e) {
    if (e instanceof SyntaxError) throw CheckpointError.of(indexPath, undefined, `is not valid JSON: ${e.message}`);
    throw e;
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
    throw CheckpointError.of(indexPath, undefined, `needs a "weight_map" object {tensor: shard file}, got ${describe(weightMap)}`);
  }
  const assignment = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    assignment.set(tensor, checkShardName(indexPath, tensor, shard));
  }
  const dir = parentOf(indexPath);
  const shards = new Map<string, SafetensorsReader>();
  const closeAll = () => Promise.all([...shards.values()].map((s) => s.close()));
  try {
    for (const [tensor, shardName] of assignment) {
      let shard = shards.get(shardName);
      if (!shard) {
        const shardPath = fs.join(dir, shardName);
        if (!(await fs.exists(shardPath))) {
          throw CheckpointError.of(indexPath, tensor, `shard "${shardName}" (named for tensor "${tensor}") is missing: ${shardPath}`);
        }
        shard = await openSafetensors(fs, shardPath);
        shards.set(shardName, shard);
      }
      if (!shard.has(tensor)) {
        throw CheckpointError.of(indexPath, tensor, `the index puts tensor "${tensor}" in shard "${shardName}", which does not hold it`);
      }
    }
  } catch (e) {
    await closeAll();
    throw e;
  }
  const shardOf = (name: string): SafetensorsReader => {
    const shard = shards.get(assignment.get(name) ?? "");
    if (!shard) throw CheckpointError.missing(indexPath, name);
    return shard;
  };
  return {
    source: indexPath,
    names: () => [...assignment.keys()],
    has: (name) => assignment.has(name),
    info(name: string): TensorInfo {
      const { dtype, shape } = shardOf(name).info(name);
      return { name, dtype, shape };
    },
    readF32(name: string): Promise<Float32Array> {
      try {
        return shardOf(name).readF32(name);
      } catch (e) {
        return Promise.reject(e);
      }
    },
    close: async () => {
      await closeAll();
    },
  };
}
