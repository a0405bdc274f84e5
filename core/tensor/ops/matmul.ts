/**
 * Batched matrix multiply C = A·B with NumPy/PyTorch semantics: A (…, M, K), B (…, K, N) → (…, M, N),
 * batch axes broadcast, 1-D operands promoted (and the added axis removed). Transposed operands are just
 * views: the kernels read A and B through strides, so `a.matmul(b.transpose())` copies nothing.
 *
 * Backward (the derivative of a bilinear map):
 *   dA = dC · Bᵀ   (…, M, K), summed over axes A was broadcast along
 *   dB = Aᵀ · dC   (…, K, N), likewise
 *
 * WGSL kernels (tiled, and a naive one kept as the benchmark baseline) are in matmul-wgsl.ts. On GPUs
 * (GpuFeatures.workgroupMemoryTiles) the kernel stages 64×64 tiles in workgroup memory; on CPU
 * implementations of WebGPU the register-tiled one runs, with subgroup broadcasts where the device has a
 * fixed subgroup size of 8 (lavapipe on AVX2) and a subgroup-free register-blocked variant elsewhere.
 */
import { wasmMatmul } from "../../backend/cpu/matmul-wasm.ts";
import { cpuSimdEnabled } from "../../backend/cpu/simd.ts";
import { type Kernel, ParamLayout } from "../../backend/kernel.ts";
import { DTypeError, ShapeError } from "../../errors.ts";
import { record } from "../autograd.ts";
import { isFloat } from "../dtype.ts";
import { broadcastShapes, broadcastStrides, contiguousStrides, sizeOf } from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { elementwise, launchElementwise } from "./elementwise.ts";
import { fillKernel } from "./fill.ts";
import {
  type MatmulShader,
  type MatmulShaderSpec,
  type MatmulTuning,
  chooseMatmulSpec,
  chooseMatmulTuning,
  matmulWorkgroups,
  naiveMatmulShader,
  tiledMatmulShader,
  workgroupMatmulShader,
} from "./matmul-wgsl.ts";
import { sumToShape } from "./reduce.ts";
import { collapse } from "./strided.ts";
import { contiguous, squeeze, transpose, unsqueeze } from "./views.ts";

/** Batch axes the kernels index directly; more are collapsed or rejected. */
const MAX_BATCH_RANK = 4;

export interface MatmulParams {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly batchShape: readonly number[];
  readonly aBatchStrides: readonly number[];
  readonly bBatchStrides: readonly number[];
  readonly aOffset: number;
  readonly bOffset: number;
  readonly cOffset: number;
  readonly aStrideM: number;
  readonly aStrideK: number;
  readonly bStrideK: number;
  readonly bStrideN: number;
  /** C's row stride; its columns are contiguous (N for a contiguous C). */
  readonly cStrideM: number;
  /** C's batch strides over batchShape (contiguous: M·N·(inner batch sizes)). */
  readonly cBatchStrides: readonly number[];
  /** C = A·B + R when set: R's offset, row stride (columns contiguous) and batch strides; R is bound after C. */
  readonly residual?: { readonly offset: number; readonly strideM: number; readonly batchStrides: readonly number[] };
  /** C = relu(A·B (+ R)) when true. */
  readonly relu?: boolean;
  /**
   * "tiled" (default) or the "naive" baseline: on WebGPU one thread per output, on the CPU the plain
   * JavaScript loop even where the float32 WebAssembly SIMD kernel is available.
   */
  readonly variant?: "tiled" | "naive";
}

const layout = new ParamLayout(
  [
    ["M", "u32"], ["N", "u32"], ["K", "u32"], ["batchCount", "u32"],
    ["aOffset", "u32"], ["bOffset", "u32"], ["cOffset", "u32"],
    ["aStrideM", "u32"], ["aStrideK", "u32"], ["bStrideK", "u32"], ["bStrideN", "u32"],
    ["batchShape0", "u32"], ["batchShape1", "u32"], ["batchShape2", "u32"], ["batchShape3", "u32"],
    ["aBatchStride0", "u32"], ["aBatchStride1", "u32"], ["aBatchStride2", "u32"], ["aBatchStride3", "u32"],
    ["bBatchStride0", "u32"], ["bBatchStride1", "u32"], ["bBatchStride2", "u32"], ["bBatchStride3", "u32"],
    ["cStrideM", "u32"], ["cBatchStride0", "u32"], ["cBatchStride1", "u32"], ["cBatchStride2", "u32"], ["cBatchStride3", "u32"],
    ["rOffset", "u32"], ["rStrideM", "u32"], ["rBatchStride0", "u32"], ["rBatchStride1", "u32"], ["rBatchStride2", "u32"], ["rBatchStride3", "u32"],
  ] as const,
);

export const matmulKernel: Kernel<MatmulParams> = {
  name: "matmul",
  cpu([A, B, C, R], p) {
    // float32 on a CPU backend with SIMD: the WebAssembly kernel (core/backend/cpu/matmul-wasm.ts), which
    // packs the strided operands into panels and accumulates in float32. The loops below are the readable
    // reference (and what the float64 backend, the conformance oracle, always runs).
    if (
      p.variant !== "naive" && p.K > 0 && cpuSimdEnabled() &&
      A instanceof Float32Array && B instanceof Float32Array && C instanceof Float32Array && wasmMatmul(A, B, C, p, R)
    ) return;
    const { M, N, K } = p;
    const batchCount = sizeOf(p.batchShape);
    const row = new Float64Array(N); // accumulate one output row in float64
    const index = new Array<number>(p.batchShape.length).fill(0);
    const r = p.residual;
    for (let batch = 0; batch < batchCount; batch++) {
      let aBase = p.aOffset;
      let bBase = p.bOffset;
      let cBase = p.cOffset;
      let rBase = r?.offset ?? 0;
      index.forEach((i, d) => {
        aBase += i * p.aBatchStrides[d]!;
        bBase += i * p.bBatchStrides[d]!;
        cBase += i * p.cBatchStrides[d]!;
        if (r) rBase += i * r.batchStrides[d]!;
      });
      // C[row m] = (the sums) + R[row m]: the residual is added to the float64 sum, then rounded once
      const residualAt = (m: number, n: number) => (r ? R![rBase + m * r.strideM + n]! : 0);
      const store = p.relu ? (v: number) => (v > 0 ? v : 0) : (v: number) => v;
      if (p.bStrideK === 1 && N > 0) {
        // B read along k is contiguous (a transposed weight: y = x·Wᵀ, the common Linear case): one dot
        // product per output, both operands walked in k order. The sum runs over k in the same order and
        // in float64 as the row form below, so the result is the same to the bit; only memory access differs.
        for (let m = 0; m < M; m++) {
          const aRow = aBase + m * p.aStrideM;
          const cRow = cBase + m * p.cStrideM;
          for (let n = 0; n < N; n++) {
            const bCol = bBase + n * p.bStrideN;
            let sum = 0;
            if (p.aStrideK === 1) for (let k = 0; k < K; k++) sum += A![aRow + k]! * B![bCol + k]!;
            else for (let k = 0; k < K; k++) sum += A![aRow + k * p.aStrideK]! * B![bCol + k]!;
            C![cRow + n] = store(sum + residualAt(m, n));
          }
        }
      } else for (let m = 0; m < M; m++) {
        row.fill(0);
        for (let k = 0; k < K; k++) {
          const av = A![aBase + m * p.aStrideM + k * p.aStrideK]!;
          const bRow = bBase + k * p.bStrideK;
          for (let n = 0; n < N; n++) row[n]! += av * B![bRow + n * p.bStrideN]!;
        }
        const cRow = cBase + m * p.cStrideM;
        for (let n = 0; n < N; n++) C![cRow + n] = store(row[n]! + residualAt(m, n));
      }
      for (let d = index.length - 1; d >= 0; d--) {
        if (++index[d]! < p.batchShape[d]!) break;
        index[d] = 0;
      }
    }
  },
  gpu(p, device) {
    const spec = chooseMatmulSpec(p, device.subgroupSize, device.subgroupDirective ?? true);
    const naive = p.variant === "naive";
    const workgroup = !naive && device.workgroupMemoryTiles === true;
    const tuning = naive || workgroup ? null : chooseMatmulTuning(p.M, p.N, spec.subgroupSize, spec.bTransposed);
    // The key names the specialisation; the WGSL is generated once per key (shaderFor), never per launch.
    const key = naive
      ? `matmul:naive:${specKey(spec)}`
      : workgroup
        ? `matmul:workgroup:${spec.aTransposed ? "aT" : "a"}${spec.bTransposed ? "bT" : "b"}${spec.residual ? "+R" : ""}${spec.relu ? "+relu" : ""}`
        : `matmul:tiled:${specKey(spec)}:${tuning!.R}x${tuning!.SGM}x${tuning!.SGN}`;
    const shader = shaderFor(key, spec, naive ? "naive" : workgroup ? "workgroup" : tuning!);
    const batchCount = sizeOf(p.batchShape);
    const words = [p.M, p.N, p.K, batchCount, p.aOffset, p.bOffset, p.cOffset, p.aStrideM, p.aStrideK, p.bStrideK, p.bStrideN];
    pushBatch(words, p.batchShape, 1);
    pushBatch(words, p.aBatchStrides, 0);
    pushBatch(words, p.bBatchStrides, 0);
    words.push(p.cStrideM);
    pushBatch(words, p.cBatchStrides, 0);
    const r = p.residual;
    words.push(r?.offset ?? 0, r?.strideM ?? 0);
    pushBatch(words, r?.batchStrides ?? [], 0);
    return {
      key,
      source: () => shader.code,
      uniforms: layout.packOrdered(words),
      workgroups: matmulWorkgroups(shader, p.M, p.N, batchCount),
    };
  },
};

/** The specialisation as a short key: transposes, vec4 operands, subgroup size. */
function specKey(s: MatmulShaderSpec): string {
  return `${s.aTransposed ? "aT" : "a"}${s.bTransposed ? "bT" : "b"}${s.vecA ? "+vA" : ""}${s.vecB ? "+vB" : ""}${s.vecC ? "+vC" : ""}${s.residual ? "+R" : ""}${s.relu ? "+relu" : ""}:sg${s.subgroupSize}${s.subgroupDirective === false ? "-implicit" : ""}`;
}

/** Generated shaders by launch key (a handful per model: the specialisations, not the shapes). */
const shaders = new Map<string, MatmulShader>();

function shaderFor(key: string, spec: MatmulShaderSpec, kind: MatmulTuning | "naive" | "workgroup"): MatmulShader {
  let shader = shaders.get(key);
  if (!shader) {
    shader = kind === "naive" ? naiveMatmulShader(spec) : kind === "workgroup" ? workgroupMatmulShader(spec) : tiledMatmulShader(spec, kind);
    shaders.set(key, shader);
  }
  return shader;
}

/** Appends batch shape/strides padded on the left to MAX_BATCH_RANK axes (size 1, stride 0). */
function pushBatch(words: number[], values: readonly number[], fill: number): void {
  for (let d = values.length; d < MAX_BATCH_RANK; d++) words.push(fill);
  for (const v of values) words.push(v);
}

/** The shape of a (…, M, K)·(…, K, N) product (batch axes broadcast); rank ≥ 2 operands. */
export function matmulShape(a: Tensor, b: Tensor): number[] {
  const K = a.shape[a.rank - 1]!;
  if (b.shape[b.rank - 2] !== K) {
    throw ShapeError.of("matmul", [a.shape, b.shape], `inner sizes differ: A has K = ${K} columns, B has ${b.shape[b.rank - 2]} rows`);
  }
  const batch = broadcastShapes("matmul (batch axes)", a.shape.slice(0, -2), b.shape.slice(0, -2));
  return [...batch, a.shape[a.rank - 2]!, b.shape[b.rank - 1]!];
}

/**
 * Kernel params for a·b (+ residual) written into `out` (the product's shape, any layout whose columns are
 * contiguous); `residual` broadcasts to `out`'s shape and has contiguous columns too (or N = 1).
 */
export function matmulParams(a: Tensor, b: Tensor, out: Tensor, residual?: Tensor, variant?: "tiled" | "naive", relu = false): MatmulParams {
  const r = out.rank;
  const [M, N] = [out.shape[r - 2]!, out.shape[r - 1]!];
  const batch = out.shape.slice(0, -2);
  const aBatch = broadcastStrides(a.shape.slice(0, -2), a.strides.slice(0, -2), batch);
  const bBatch = broadcastStrides(b.shape.slice(0, -2), b.strides.slice(0, -2), batch);
  const rStrides = residual ? broadcastStrides(residual.shape, residual.strides, out.shape) : null;
  if ((N > 1 && out.strides[r - 1] !== 1) || (rStrides && N > 1 && rStrides[r - 1] !== 1)) {
    throw new Error("webpeft internal: a matmul output or residual without contiguous columns");
  }
  const c = collapse(batch, [
    { offset: 0, strides: aBatch },
    { offset: 0, strides: bBatch },
    { offset: 0, strides: out.strides.slice(0, -2) },
    ...(rStrides ? [{ offset: 0, strides: rStrides.slice(0, -2) }] : []),
  ]);
  if (c.shape.length > MAX_BATCH_RANK) {
    throw ShapeError.of("matmul", [a.shape, b.shape], `more than ${MAX_BATCH_RANK} non-mergeable batch axes; make the operands contiguous`);
  }
  return {
    M, N, K: a.shape[a.rank - 1]!,
    batchShape: c.shape,
    aBatchStrides: c.operands[0]!.strides,
    bBatchStrides: c.operands[1]!.strides,
    aOffset: a.offset, bOffset: b.offset, cOffset: out.offset,
    aStrideM: a.strides[a.rank - 2]!, aStrideK: a.strides[a.rank - 1]!,
    bStrideK: b.strides[b.rank - 2]!, bStrideN: b.strides[b.rank - 1]!,
    cStrideM: out.strides[r - 2]!,
    cBatchStrides: c.operands[2]!.strides,
    ...(residual ? { residual: { offset: residual.offset, strideM: rStrides![r - 2]!, batchStrides: c.operands[3]!.strides } } : {}),
    ...(relu ? { relu } : {}),
    ...(variant ? { variant } : {}),
  };
}

/** Where a product goes (see matmulRaw). */
export interface MatmulOutput {
  /**
   * Storage order of the output's axes, outermost first (default: row-major, 0…rank−1); the last axis
   * must stay innermost. E.g. [0, 2, 1, 3] writes attention's (B, H, L, Dk) context straight into
   * (B, L, H, Dk) memory, so merging the heads afterwards is a view instead of a copy.
   */
  readonly layout?: readonly number[];
  /** Added to the product in the kernel's store: a·b + residual (broadcast to the product's shape). */
  readonly residual?: Tensor;
  /** relu(a·b (+ residual)) in the same store (the feed-forward's first Linear and its activation). */
  readonly relu?: boolean;
}

/** A new tensor of `shape` whose memory holds its axes in `order` (outermost first), dense. */
function emptyInLayout(a: Tensor, shape: readonly number[], order: readonly number[] | undefined): Tensor {
  if (!order) return Tensor.empty(a.backend, shape, a.dtype);
  const stored = Tensor.empty(a.backend, order.map((axis) => shape[axis]!), a.dtype);
  const storedStrides = contiguousStrides(stored.shape);
  const strides = new Array<number>(shape.length);
  order.forEach((axis, j) => (strides[axis] = storedStrides[j]!));
  const out = stored.view(shape, strides, 0);
  stored.dispose();
  return out;
}

/** Runs the kernel for rank ≥ 2 operands (no autograd), into a new tensor laid out as `output` says. */
export function matmulRaw(a: Tensor, b: Tensor, variant?: "tiled" | "naive", output: MatmulOutput = {}): Tensor {
  const out = emptyInLayout(a, matmulShape(a, b), output.layout);
  if (out.size === 0) return out;
  const residual = output.residual;
  if (a.shape[a.rank - 1] === 0) {
    // an empty sum: the residual, or zeros (the output is dense: fill its whole storage)
    if (residual) launchElementwise(output.relu ? "relu" : "copy", out, [residual]);
    else a.backend.dispatch(fillKernel, { n: out.size, offset: 0, value: 0, dtype: out.dtype }, [out.bufferFor("matmul")]);
    return out;
  }
  const params = matmulParams(a, b, out, residual, variant, output.relu ?? false);
  const buffers = [a.bufferFor("matmul"), b.bufferFor("matmul"), out.bufferFor("matmul")];
  if (residual) buffers.push(residual.bufferFor("matmul"));
  a.backend.dispatch(matmulKernel, params, buffers);
  return out;
}

/** A·B with broadcasting over batch axes; see the file comment for the gradient. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  a.sameBackend("matmul", b);
  for (const t of [a, b]) if (!isFloat(t.dtype)) throw DTypeError.of("matmul", "float32", t.dtype);
  if (a.dtype !== b.dtype) throw DTypeError.of("matmul", a.dtype, b.dtype);
  if (a.rank === 0 || b.rank === 0) throw ShapeError.of("matmul", [a.shape, b.shape], "operands must have at least one axis");
  if (a.rank === 1 || b.rank === 1) {
    // promote vectors: (K) → (1, K) on the left, (K) → (K, 1) on the right; drop that axis afterwards
    const a2 = a.rank === 1 ? unsqueeze(a, 0) : a;
    const b2 = b.rank === 1 ? unsqueeze(b, -1) : b;
    const c2 = matmul(a2, b2);
    let out = c2;
    if (b.rank === 1) out = squeeze(out, -1);
    if (a.rank === 1) {
      const prev = out;
      out = squeeze(out, -2);
      if (prev !== c2) prev.dispose();
    }
    for (const t of [a2, b2, c2]) if (t !== a && t !== b && t !== out) t.dispose();
    return out;
  }
  if (b.rank === 2 && a.rank > 2 && foldsIntoRows(a)) {
    // (…, M, K)·(K, N): one (…·M, K)·(K, N) product instead of a batch of small ones. Fewer, larger
    // launches, full tiles, and a weight gradient that is one matmul with K = …·M instead of a batch of
    // products summed afterwards.
    const rows = a.reshape([-1, a.shape[a.rank - 1]!]);
    const flat = matmul(rows, b);
    const out = flat.reshape([...a.shape.slice(0, -1), b.shape[1]!]);
    rows.dispose();
    flat.dispose();
    return out;
  }
  if (a.rank === 2 && b.rank > 2 && b.size > b.shape[b.rank - 2]! * b.shape[b.rank - 1]!) {
    // (M, K)·(…, K, N) with a shared left operand (KronA's A applied to every token): move K first and
    // fold … and N into the columns, (M, K)·(K, …·N), one product instead of a batch of small ones, whose
    // gradient for the shared operand is one matmul over all columns instead of a batch plus a sum.
    const r = b.rank;
    const M = a.shape[0]!;
    const K = a.shape[1]!;
    const N = b.shape[r - 1]!;
    const batch = b.shape.slice(0, -2);
    const columns = b.permute([r - 2, ...batch.map((_, i) => i), r - 1]).reshape([K, -1]); // (K, …·N), a copy
    const flat = matmul(a, columns); // (M, …·N)
    const out = flat.reshape([M, ...batch, N]).permute([...batch.map((_, i) => i + 1), 0, r - 1]); // (…, M, N) view
    columns.dispose();
    flat.dispose();
    return out;
  }
  return batchedMatmul(a, b);
}

/**
 * A·B for rank ≥ 2 operands as ONE launch over the broadcast batch, never folding batch axes into rows or
 * columns (which `matmul` does when it saves launches on large products, at the price of a copy for a
 * shared left operand). For a small matrix applied to every token (KronA's A·Z_n): no copies forward or
 * backward; its gradient sums the per-token products (one reduction).
 */
export function batchedMatmul(a: Tensor, b: Tensor, output: MatmulOutput = {}): Tensor {
  let residual = output.residual;
  if (residual) {
    a.sameBackend("matmul", residual);
    if (residual.dtype !== a.dtype) throw DTypeError.of("matmul", a.dtype, residual.dtype);
    const shape = matmulShape(a, b);
    broadcastShapes("matmul (residual)", residual.shape, shape);
    // the kernel reads the residual's rows as contiguous runs: anything else is copied first
    const columnStride = broadcastStrides(residual.shape, residual.strides, shape).at(-1);
    if (shape.at(-1)! > 1 && columnStride !== 1) output = { ...output, residual: (residual = contiguous(residual)) };
  }
  const out = matmulRaw(a, b, undefined, output);
  const relu = output.relu ?? false;
  return record(
    "matmul",
    out,
    residual ? [a, b, residual] : [a, b],
    (gOut, [sa, sb, sy]) => {
      // relu'(v) = [v > 0] = [y > 0] with y = relu(v), the saved output
      const g = relu ? elementwise("reluGrad", [gOut, sy!]) : gOut;
      return [
        a.requiresGrad ? sumToShape(productInLayoutOf(sa!, g, transpose(sb!)), a.shape) : null,
        b.requiresGrad ? sumToShape(productInLayoutOf(sb!, transpose(sa!), g), b.shape) : null,
        ...(residual ? [residual.requiresGrad ? sumToShape(g, residual.shape) : null] : []),
      ];
    },
    relu ? [a, b, out] : [a, b],
  );
}

/** The leading axes and the row axis of `a` merge into one axis without a copy. */
function foldsIntoRows(a: Tensor): boolean {
  for (let d = 0; d < a.rank - 2; d++) {
    if (a.shape[d] !== 1 && a.strides[d] !== a.strides[d + 1]! * a.shape[d + 1]!) return false;
  }
  return true;
}

/** The last two axes are stored swapped (a transposed view of a row-major matrix). */
function storedTransposed(t: Tensor): boolean {
  const r = t.rank;
  return t.strides[r - 2] === 1 && t.strides[r - 1] !== 1 && t.shape[r - 1] !== 1;
}

/**
 * x·y, produced in the memory layout of `like` (the operand whose gradient this is): when `like` is a
 * transposed view — a weight W used as Wᵀ — compute (x·y)ᵀ = yᵀ·xᵀ row-major and return its transpose, so
 * the gradient reaches W's storage layout without a copy.
 */
function productInLayoutOf(like: Tensor, x: Tensor, y: Tensor): Tensor {
  // Also: when `like` (or its transpose) is a dense permutation with the last axis innermost — attention's
  // per-head view of a (B, L, H·Dk) projection, and kᵀ of one — the product is written straight into that
  // layout, so the views back to the projection's shape need no copy.
  // (only when `like` has the product's shape: a broadcast operand's gradient is summed afterwards)
  const sameShape = (shape: readonly number[]) => shape.length === like.rank && shape.every((d, i) => d === like.shape[i]);
  if (storedTransposed(like)) {
    const r = like.rank;
    const swapped = [...like.strides.slice(0, -2), like.strides[r - 1]!, like.strides[r - 2]!];
    const order = sameShape(matmulShape(x, y)) ? denseOrder([...like.shape.slice(0, -2), like.shape[r - 1]!, like.shape[r - 2]!], swapped) : undefined;
    const t = matmulRaw(transpose(y), transpose(x), undefined, order ? { layout: order } : {});
    const out = transpose(t);
    t.dispose();
    return out;
  }
  const order = like.isContiguous || !sameShape(matmulShape(x, y)) ? undefined : denseOrder(like.shape, like.strides);
  return matmulRaw(x, y, undefined, order ? { layout: order } : {});
}

/**
 * The storage order of the axes of a tensor with this shape and these strides (outermost first) when its
 * elements fill a dense block in some axis order with the last axis innermost (stride 1), else undefined.
 */
function denseOrder(shape: readonly number[], strides: readonly number[]): number[] | undefined {
  const r = shape.length;
  if (r < 2 || strides[r - 1] !== 1) return undefined;
  const axes = shape.map((_, i) => i).filter((i) => shape[i] !== 1 && i !== r - 1);
  axes.sort((i, j) => strides[j]! - strides[i]!);
  let expected = shape[r - 1]!;
  for (let k = axes.length - 1; k >= 0; k--) {
    if (strides[axes[k]!] !== expected) return undefined;
    expected *= shape[axes[k]!]!;
  }
  // size-1 axes keep their positions; the others fill the remaining slots in storage order
  const order: number[] = [];
  let next = 0;
  for (let i = 0; i < r - 1; i++) order.push(shape[i] === 1 ? i : axes[next++]!);
  order.push(r - 1);
  return order;
}
