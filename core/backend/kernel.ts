/**
 * A kernel is one unit of device work with two implementations side by side:
 *  - `cpu`: readable TypeScript over typed arrays, the reference (run in float64 by the reference backend);
 *  - `gpu`: a WGSL program plus the uniforms and grid for one launch.
 * Backends run kernels; ops (core/tensor/ops) pick kernels and own the autograd rules.
 *
 * Binding contract for every WGSL program: buffers are bound at @group(0) @binding(0..n-1) in the order
 * the op passes them, and the launch's uniform struct `P` at @binding(n).
 */
import type { AnyTypedArray } from "../tensor/dtype.ts";

export interface Kernel<P> {
  readonly name: string;
  /** Reference implementation: `buffers` are the typed arrays behind the bound buffers, in binding order. */
  cpu(buffers: readonly AnyTypedArray[], params: P): void;
  /** One WGSL launch for these params on a device with these features. */
  gpu(params: P, device: GpuFeatures): GpuLaunch;
}

/** Device features kernels may specialise on (declared by the WebGPU backend, not probed by kernels). */
export interface GpuFeatures {
  /**
   * The device's subgroup size when the 'subgroups' feature is enabled and the size is fixed
   * (adapter.info.subgroupMinSize === subgroupMaxSize); 0 otherwise. Kernels using subgroup operations
   * must start with `enable subgroups;` where `subgroupDirective` is true (or unset).
   */
  readonly subgroupSize: number;
  /**
   * Whether WGSL using subgroup operations starts with `enable subgroups;` (Tint: Dawn and Chrome; the
   * default) or must not (naga in Deno 2.9 rejects the directive and accepts the builtins without it).
   */
  readonly subgroupDirective?: boolean;
  /**
   * Whether matmul tiles its operands in workgroup memory (the device has fast on-chip shared memory: a
   * GPU). False or unset on CPU implementations of WebGPU (lavapipe, SwiftShader), where barriers are
   * coroutine switches and the register-tiled kernels are faster (matmul-wgsl.ts).
   */
  readonly workgroupMemoryTiles?: boolean;
}

export interface GpuLaunch {
  /** Identifies the specialised shader: equal keys must mean equal WGSL source. */
  readonly key: string;
  /** The WGSL source; only called when the pipeline cache has no entry for `key`. */
  readonly source: () => string;
  /**
   * Uniform words for the struct `P` (already packed, see `ParamLayout`). The backend copies them when it
   * records the launch; ParamLayout's arrays are views of reused memory, valid until tens of thousands of
   * words have been packed after them.
   */
  readonly uniforms: Uint32Array;
  /** Workgroup counts; each at most `MAX_WORKGROUPS_PER_DIM`. */
  readonly workgroups: readonly [number, number, number];
}

export type ParamType = "u32" | "i32" | "f32";

/**
 * A uniform struct made of 4-byte scalars only, so it packs as consecutive 32-bit words with no padding
 * (WGSL's uniform layout rules add padding only for vectors, arrays and nested structs).
 */
export class ParamLayout<const Names extends string> {
  readonly struct: string;
  private readonly names: readonly Names[];
  /** Per field: 0 u32, 1 i32, 2 f32. */
  private readonly kinds: Uint8Array;
  /** Words of one packed struct (a multiple of 4: uniform bindings are 16-byte aligned). */
  readonly wordCount: number;

  constructor(fields: readonly (readonly [Names, ParamType])[]) {
    this.names = fields.map(([n]) => n);
    this.kinds = Uint8Array.from(fields, ([, t]) => (t === "u32" ? 0 : t === "i32" ? 1 : 2));
    this.wordCount = Math.max(4, Math.ceil(fields.length / 4) * 4);
    this.struct = `struct Params {\n${fields.map(([n, t]) => `  ${n}: ${t},`).join("\n")}\n}`;
  }

  /** Packs values in declaration order; f32 fields are stored as their IEEE-754 bits. */
  pack(values: { readonly [K in Names]: number }): Uint32Array {
    const words = packedWords(this.wordCount);
    for (let i = 0; i < this.names.length; i++) words[i] = toWord(values[this.names[i]!], this.kinds[i]!);
    return words;
  }

  /**
   * Packs values given in declaration order (the launch hot path: no object of named fields to build).
   * `values.length` must equal the number of fields.
   */
  packOrdered(values: ArrayLike<number>): Uint32Array {
    const words = packedWords(this.wordCount);
    for (let i = 0; i < this.kinds.length; i++) words[i] = toWord(values[i]!, this.kinds[i]!);
    return words;
  }
}

/**
 * Packed uniforms are views of one ring of words, not new arrays: V8 allocates a typed array above 64
 * bytes off its heap, which measured 2–3 µs per `new Uint32Array(36)` (a matmul's uniforms) against
 * 0.05 µs for a view, and every launch packs one. A view stays valid until the ring wraps past it
 * (UNIFORM_RING_WORDS later), long after the backend has copied it into its arena.
 */
const UNIFORM_RING_WORDS = 1 << 16;
const uniformRing = new Uint32Array(UNIFORM_RING_WORDS);
let uniformRingAt = 0;

/** `count` zeroed words of the ring. */
function packedWords(count: number): Uint32Array {
  if (uniformRingAt + count > UNIFORM_RING_WORDS) uniformRingAt = 0;
  const words = uniformRing.subarray(uniformRingAt, uniformRingAt + count);
  uniformRingAt += count;
  words.fill(0);
  return words;
}

/** Scratch for reinterpreting a float32's bits as a u32 (the uniform arena is written as words). */
const f32Scratch = new Float32Array(1);
const f32ScratchBits = new Uint32Array(f32Scratch.buffer);

/** One uniform word: u32 and i32 as two's complement bits (Uint32Array stores wrap modulo 2³²), f32 as its bits. */
function toWord(v: number, kind: number): number {
  if (kind !== 2) return v; // i32: −1 → 0xffffffff by the Uint32Array store
  f32Scratch[0] = v;
  return f32ScratchBits[0]!;
}

/** WebGPU's guaranteed minimum for maxComputeWorkgroupsPerDimension. */
export const MAX_WORKGROUPS_PER_DIM = 65535;

/**
 * Spreads `count` workgroups over x and y so that neither exceeds the per-dimension limit. Shaders
 * recover the linear workgroup index with `linearWorkgroupIndex` below and must bounds-check it.
 */
export function spreadWorkgroups(count: number): [number, number, number] {
  if (count <= MAX_WORKGROUPS_PER_DIM) return [Math.max(1, count), 1, 1];
  const y = Math.ceil(count / MAX_WORKGROUPS_PER_DIM);
  return [Math.ceil(count / y), y, 1];
}

/** WGSL: the linear workgroup index for grids made by `spreadWorkgroups`. */
export const linearWorkgroupIndex = "(wg.x + wg.y * nwg.x)";

/** WGSL entry-point parameters used with `linearWorkgroupIndex`. */
export const entryBuiltins =
  "@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, " +
  "@builtin(local_invocation_index) lid: u32";

/** WGSL declaration of a storage binding. */
export function storage(binding: number, name: string, type: string, access: "read" | "read_write"): string {
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${type}>;`;
}

/** WGSL declaration of the uniform params binding. */
export function uniformParams(binding: number, layout: ParamLayout<string>): string {
  return `${layout.struct}\n@group(0) @binding(${binding}) var<uniform> P: Params;`;
}

/** Maximum tensor rank handled by strided kernels (shape and strides are passed per axis). */
export const MAX_RANK = 6;

/**
 * WGSL: non-finite constants. A const-expression may not evaluate to ±inf or NaN (shader-creation error),
 * so they are built at run time by bit-casting a function parameter.
 */
export const wgslSpecialFloats = `
fn f32_from_bits(bits: u32) -> f32 { return bitcast<f32>(bits); }
fn pos_inf() -> f32 { return f32_from_bits(0x7f800000u); }
fn neg_inf() -> f32 { return f32_from_bits(0xff800000u); }
fn nan() -> f32 { return f32_from_bits(0x7fc00000u); }`;
