/**
 * The float32 matmul of the CPU backend on WebAssembly SIMD: each (strided, offset, batch-broadcast)
 * operand is copied raw into the module's linear memory (one memcpy of the elements its matrix spans) and
 * packed there into contiguous panels by the module, one call runs the SIMD kernel over whole register
 * tiles, and the valid M×N part of the result is copied out.
 *
 *   A (M, K) at aBase + m·aStrideM + k·aStrideK → Ap: ⌈M/MR⌉ panels of MR rows, ((i·K + k)·MR + r)
 *   B (K, N) at bBase + k·bStrideK + n·bStrideN → Bp: ⌈N/NR⌉ panels of NR columns, ((j·K + k)·NR + c)
 *   Cp (Mp, Np) row-major, Mp, Np = M, N rounded up to MR, NR; rows ≥ M and columns ≥ N are discarded
 *
 * Padding rows/columns are zeros, so the kernel only ever sees whole tiles. The kernel itself, its tile
 * shape and blocking are documented in scripts/build-matmul-wasm.ts, which generates matmul-wasm-bytes.ts.
 *
 * Packing costs O(M·K + K·N) against the product's O(M·N·K) multiply-adds, but for the small products of
 * a training step it is not negligible: a memcpy plus packing in wasm took half the time of packing
 * element by element from JavaScript (8×128·(128×128)ᵀ: ~16 vs ~34 µs a product). The memcpy covers the
 * span of the view (a head of a (B, L, H·Dk) projection spans H times its elements), still cheaper than
 * element-wise reads. A batch whose operand has batch stride 0 (broadcast) reuses the panels already
 * packed. Accumulation is float32, in k order; results differ from the float64-accumulating JavaScript
 * loop by float32 rounding (the conformance tolerances).
 *
 * Memory: one module instance per process (kernels run synchronously, so no two products overlap); its
 * linear memory grows to the largest product seen (Ap + Bp + Cp + one raw operand, float32) and is kept.
 *
 * WebAssembly is a global in Node, Deno and browsers; the module (~2 KB) is compiled synchronously when
 * this file loads and instantiated on first use, so the synchronous CPU backend stays synchronous. Where
 * WebAssembly SIMD is unavailable (WebAssembly.validate fails) or compiling is refused,
 * `wasmMatmulAvailable` is false and the backend declares `simd: false` and runs the JavaScript loop.
 */
import type { AnyTypedArray } from "../../tensor/dtype.ts";
import type { MatmulParams } from "../../tensor/ops/matmul.ts";
import { MATMUL_WASM_BYTES, MATMUL_WASM_MR as MR, MATMUL_WASM_NR as NR } from "./matmul-wasm-bytes.ts";

/** k per block: one B panel slice, KC·NR floats (8 KiB), stays in L1 while the kernel sweeps an A block. */
const KC = 256;
/** A panels per block: MC_PANELS·MR rows × KC floats (128 KiB) stay in L2. */
const MC_PANELS = Math.max(1, Math.floor(128 / MR));
const PAGE_BYTES = 65536;

/** The operand geometry of one batched product: the fields of MatmulParams this path reads. */
export type WasmMatmulGeometry = Omit<MatmulParams, "variant">;

/**
 * The compiled module, or null where WebAssembly or its SIMD is missing (validation fails) or compiling is
 * refused (a browser page whose Content-Security-Policy forbids WebAssembly): then the JavaScript loop runs.
 */
const compiled: WebAssembly.Module | null = (() => {
  try {
    if (typeof WebAssembly !== "object" || !WebAssembly.validate(MATMUL_WASM_BYTES)) return null;
    return new WebAssembly.Module(MATMUL_WASM_BYTES);
  } catch {
    return null;
  }
})();

/** WebAssembly with SIMD is available here (the module validates and compiles). */
export const wasmMatmulAvailable: boolean = compiled !== null;

type Gemm = (ap: number, bp: number, cp: number, mPanels: number, nPanels: number, K: number, kc: number, mc: number) => void;
/** Packs `lines` lines of K values (line stride, k stride in bytes) from `src` into panels at `dst`. */
type Pack = (src: number, dst: number, lines: number, K: number, lineStride: number, kStride: number) => void;

interface WasmKernel {
  readonly memory: WebAssembly.Memory;
  readonly gemm: Gemm;
  readonly packA: Pack;
  readonly packB: Pack;
}

let kernel: WasmKernel | null = null;

/** The instance, made on first use (its memory starts at one 64 KiB page). Only called when `compiled`. */
function instance(): WasmKernel {
  if (!kernel) {
    const exports = new WebAssembly.Instance(compiled!, {}).exports;
    kernel = {
      memory: exports.memory as WebAssembly.Memory,
      gemm: exports.gemm as Gemm,
      packA: exports.pack_a as Pack,
      packB: exports.pack_b as Pack,
    };
  }
  return kernel;
}

/** Rounds up to a multiple of 16 floats (64 bytes: a cache line, and v128 alignment). */
const align = (floats: number) => Math.ceil(floats / 16) * 16;

/**
 * C[cOffset + (batch offset) + m·cStrideM + n] = Σ_k A[…, m, k]·B[…, k, n] (+ R[…, m, n] with a residual;
 * relu'd with p.relu) for every batch, through the SIMD kernel.
 * Returns false (having written nothing) when the linear memory cannot grow to hold the panels, so the
 * caller can run the JavaScript loop instead. Needs K > 0.
 */
export function wasmMatmul(A: Float32Array, B: Float32Array, C: Float32Array, p: WasmMatmulGeometry, R?: AnyTypedArray): boolean {
  const { M, N, K } = p;
  if (!compiled) return false;
  if (M === 0 || N === 0) return true;
  if (p.aStrideM < 0 || p.aStrideK < 0 || p.bStrideK < 0 || p.bStrideN < 0) return false;
  const mPanels = Math.ceil(M / MR);
  const nPanels = Math.ceil(N / NR);
  const Np = nPanels * NR;
  // elements each operand's matrix spans in its array (copied raw, then packed by the module)
  const aSpan = (M - 1) * p.aStrideM + (K - 1) * p.aStrideK + 1;
  const bSpan = (K - 1) * p.bStrideK + (N - 1) * p.bStrideN + 1;
  // float offsets in linear memory: Ap, Bp, Cp, and the raw copy of the operand being packed
  const ap = 0;
  const bp = align(ap + mPanels * MR * K);
  const cp = align(bp + nPanels * NR * K);
  const raw = align(cp + mPanels * MR * Np);
  const bytes = (raw + Math.max(aSpan, bSpan)) * 4;
  if (bytes > 2 ** 31) return false;
  const { memory, gemm, packA, packB } = instance();
  if (memory.buffer.byteLength < bytes) {
    try {
      memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / PAGE_BYTES));
    } catch {
      return false;
    }
  }
  const mem = new Float32Array(memory.buffer); // a fresh view: growing detaches the old buffer
  const batchRank = p.batchShape.length;
  const index = new Array<number>(batchRank).fill(0);
  let batchCount = 1;
  for (const d of p.batchShape) batchCount *= d;
  let packedA = -1;
  let packedB = -1;
  const r = p.residual;
  if (r && !R) return false;
  for (let batch = 0; batch < batchCount; batch++) {
    let aBase = p.aOffset;
    let bBase = p.bOffset;
    let cBase = p.cOffset;
    let rBase = r?.offset ?? 0;
    for (let d = 0; d < batchRank; d++) {
      aBase += index[d]! * p.aBatchStrides[d]!;
      bBase += index[d]! * p.bBatchStrides[d]!;
      cBase += index[d]! * p.cBatchStrides[d]!;
      if (r) rBase += index[d]! * r.batchStrides[d]!;
    }
    // An operand broadcast along the batch (stride 0) starts where it did before: its panels are packed.
    // Otherwise one memcpy of its span, then the module packs it (strides in bytes): A's lines are its
    // M rows, B's its N columns.
    if (aBase !== packedA) {
      mem.set(A.subarray(aBase, aBase + aSpan), raw);
      packA(raw * 4, ap * 4, M, K, p.aStrideM * 4, p.aStrideK * 4);
      packedA = aBase;
    }
    if (bBase !== packedB) {
      mem.set(B.subarray(bBase, bBase + bSpan), raw);
      packB(raw * 4, bp * 4, N, K, p.bStrideN * 4, p.bStrideK * 4);
      packedB = bBase;
    }
    gemm(ap * 4, bp * 4, cp * 4, mPanels, nPanels, K, KC, MC_PANELS);
    // the packed product's rows (stride Np) to C's rows (stride cStrideM), plus the residual's rows if any
    // (relu, like the WGSL epilogue: after the residual, NaN → 0)
    if (!r && !p.relu && N === Np && p.cStrideM === N) C.set(mem.subarray(cp, cp + M * N), cBase);
    else if (!r && !p.relu) for (let m = 0; m < M; m++) C.set(mem.subarray(cp + m * Np, cp + m * Np + N), cBase + m * p.cStrideM);
    else {
      for (let m = 0; m < M; m++) {
        const src = cp + m * Np;
        const dst = cBase + m * p.cStrideM;
        const res = r ? rBase + m * r.strideM : 0;
        for (let n = 0; n < N; n++) {
          const v = mem[src + n]! + (r ? R![res + n]! : 0);
          C[dst + n] = p.relu ? (v > 0 ? v : 0) : v;
        }
      }
    }
    for (let d = batchRank - 1; d >= 0; d--) {
      if (++index[d]! < p.batchShape[d]!) break;
      index[d] = 0;
    }
  }
  return true;
}
