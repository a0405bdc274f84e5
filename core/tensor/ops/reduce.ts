/**
 * Reductions over any set of axes: sum and max (mean is sum·1/n). One kernel: each output element o
 * combines the R input elements that differ only along the reduced axes. On WebGPU a 64-thread workgroup
 * handles one output when R is large (strided partial results, then a tree in workgroup memory), and one
 * thread handles one output when R is small.
 */
import { type Kernel, ParamLayout, entryBuiltins, linearWorkgroupIndex, spreadWorkgroups, storage, uniformParams, wgslSpecialFloats } from "../../backend/kernel.ts";
import { DTypeError } from "../../errors.ts";
import { record } from "../autograd.ts";
import { isFloat } from "../dtype.ts";
import { type Shape, contiguousStrides, normalizeAxis, sameShape, sizeOf } from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { elementwise } from "./elementwise.ts";
import { checkRank, collapse, forEachStrided } from "./strided.ts";
import { expand, reshape } from "./views.ts";

export type ReduceOp = "sum" | "max";

interface ReduceParams {
  readonly op: ReduceOp;
  readonly keptShape: readonly number[];
  readonly keptStrides: readonly number[];
  readonly reducedShape: readonly number[];
  readonly reducedStrides: readonly number[];
  readonly offset: number;
}

const combine: { readonly [K in ReduceOp]: { init: number; cpu: (acc: number, x: number) => number; wgslInit: string; wgsl: string } } = {
  sum: { init: 0, cpu: (acc, x) => acc + x, wgslInit: "0.0", wgsl: "acc + v" },
  max: { init: -Infinity, cpu: (acc, x) => (x > acc || Number.isNaN(x) ? x : acc), wgslInit: "neg_inf()", wgsl: "select(acc, v, v > acc || v != v)" },
};

const WG = 64;

function fields(prefix: string, rank: number): [string, "u32"][] {
  const f: [string, "u32"][] = [];
  for (let d = 0; d < rank; d++) f.push([`${prefix}s${d}`, "u32"], [`${prefix}t${d}`, "u32"]);
  return f;
}

/** WGSL: offset contribution of linear index `index` over the axes `prefix`s0.. with strides `prefix`t0.. */
function unravel(prefix: string, rank: number, index: string, into: string): string {
  if (rank === 0) return "";
  const lines = [`{ var rem: u32 = ${index};`];
  for (let d = rank - 1; d >= 1; d--) {
    lines.push(`  { let c = rem % P.${prefix}s${d}; rem = rem / P.${prefix}s${d}; ${into} += c * P.${prefix}t${d}; }`);
  }
  lines.push(`  ${into} += rem * P.${prefix}t0; }`);
  return lines.join("\n  ");
}

export const reduceKernel: Kernel<ReduceParams> = {
  name: "reduce",
  cpu([x, out], p) {
    const { init, cpu: f } = combine[p.op];
    const reducedOffsets: number[] = [];
    forEachStrided(p.reducedShape, [{ offset: 0, strides: p.reducedStrides }], (_i, o) => reducedOffsets.push(o));
    forEachStrided(p.keptShape, [{ offset: p.offset, strides: p.keptStrides }], (o, base) => {
      let acc = init;
      for (const r of reducedOffsets) acc = f(acc, x![base + r]!);
      out![o] = acc;
    });
  },
  gpu(p) {
    const kr = p.keptShape.length;
    const rr = p.reducedShape.length;
    const O = sizeOf(p.keptShape);
    const R = sizeOf(p.reducedShape);
    const perWorkgroup = R >= 32;
    const layout = new ParamLayout([["O", "u32"], ["R", "u32"], ["offset", "u32"], ...fields("k", kr), ...fields("r", rr)]);
    const values: Record<string, number> = { O, R, offset: p.offset };
    p.keptShape.forEach((d, i) => ((values[`ks${i}`] = d), (values[`kt${i}`] = p.keptStrides[i]!)));
    p.reducedShape.forEach((d, i) => ((values[`rs${i}`] = d), (values[`rt${i}`] = p.reducedStrides[i]!)));
    const c = combine[p.op];
    const header = `
${storage(0, "X", "f32", "read")}
${storage(1, "OUT", "f32", "read_write")}
${uniformParams(2, layout)}
${wgslSpecialFloats}
fn reduced_offset(r: u32) -> u32 {
  var off: u32 = 0u;
  ${unravel("r", rr, "r", "off")}
  return off;
}
fn kept_offset(o: u32) -> u32 {
  var off: u32 = P.offset;
  ${unravel("k", kr, "o", "off")}
  return off;
}`;
    const source = perWorkgroup
      ? () => `${header}
var<workgroup> partial: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(${entryBuiltins}) {
  let o = ${linearWorkgroupIndex};
  if (o >= P.O) { return; }
  let base = kept_offset(o);
  var acc: f32 = ${c.wgslInit};
  for (var r: u32 = lid; r < P.R; r += ${WG}u) {
    let v = X[base + reduced_offset(r)];
    acc = ${c.wgsl};
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var stride: u32 = ${WG / 2}u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      let v = partial[lid + stride];
      let acc = partial[lid];
      partial[lid] = ${c.wgsl};
    }
    workgroupBarrier();
  }
  if (lid == 0u) { OUT[o] = partial[0]; }
}`
      : () => `${header}
@compute @workgroup_size(${WG})
fn main(${entryBuiltins}) {
  let o = ${linearWorkgroupIndex} * ${WG}u + lid;
  if (o >= P.O) { return; }
  let base = kept_offset(o);
  var acc: f32 = ${c.wgslInit};
  for (var r: u32 = 0u; r < P.R; r++) {
    let v = X[base + reduced_offset(r)];
    acc = ${c.wgsl};
  }
  OUT[o] = acc;
}`;
    return {
      key: `reduce:${p.op}:k${kr}:r${rr}:${perWorkgroup ? "wg" : "th"}`,
      source,
      uniforms: layout.pack(values),
      workgroups: spreadWorkgroups(perWorkgroup ? O : Math.ceil(O / WG)),
    };
  },
};

export interface ReduceOptions {
  /** Keep reduced axes as size 1 (default false). */
  readonly keepDims?: boolean;
}

function normalizeAxes(op: string, axis: number | readonly number[] | undefined, rank: number): number[] {
  if (axis === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axis === "number" ? [axis] : axis;
  return [...new Set(list.map((a) => normalizeAxis(op, a, rank)))].sort((a, b) => a - b);
}

/** Runs the reduce kernel: result has the kept axes (keepDims shape handled by the caller). */
function reduceRaw(op: ReduceOp, x: Tensor, axes: readonly number[]): Tensor {
  if (!isFloat(x.dtype)) throw DTypeError.of(op, "float32", x.dtype);
  const kept = x.shape.map((_, d) => d).filter((d) => !axes.includes(d));
  const keptShape = kept.map((d) => x.shape[d]!);
  const out = Tensor.empty(x.backend, keptShape, x.dtype);
  // kept axes collapse together with the (contiguous) output; reduced axes collapse on their own
  const k = collapse(keptShape, [{ offset: x.offset, strides: kept.map((d) => x.strides[d]!) }, { offset: 0, strides: contiguousStrides(keptShape) }]);
  const r = collapse(axes.map((d) => x.shape[d]!), [{ offset: 0, strides: axes.map((d) => x.strides[d]!) }]);
  checkRank(op, k.shape);
  checkRank(op, r.shape);
  x.backend.dispatch(
    reduceKernel,
    { op, keptShape: k.shape, keptStrides: k.operands[0]!.strides, reducedShape: r.shape, reducedStrides: r.operands[0]!.strides, offset: x.offset },
    [x.bufferFor(op), out.bufferFor(op)],
  );
  return out;
}

/** Shape with reduced axes set to 1. */
function keptDimsShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** Σ over `axis` (all axes by default). dx = g broadcast back over the reduced axes. */
export function sum(x: Tensor, axis?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  const axes = normalizeAxes("sum", axis, x.rank);
  const raw = reduceRaw("sum", x, axes);
  const out = options.keepDims ? reshapeOwned(raw, keptDimsShape(x.shape, axes)) : raw;
  return record("sum", out, [x], (g) => [expand(reshape(g, keptDimsShape(x.shape, axes)), x.shape)]);
}

/** Mean over `axis`: sum / n, differentiated through sum. */
export function mean(x: Tensor, axis?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  const axes = normalizeAxes("mean", axis, x.rank);
  const n = axes.reduce((acc, d) => acc * x.shape[d]!, 1);
  const total = sum(x, axes, options);
  const out = total.div(n);
  total.dispose();
  return out;
}

/**
 * Max over `axis`. The gradient goes to the maximal elements, split evenly among ties (like torch.amax):
 * dx = g · [x = max] / #{x = max}.
 */
export function max(x: Tensor, axis?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  const axes = normalizeAxes("max", axis, x.rank);
  const raw = reduceRaw("max", x, axes);
  const keptShape = keptDimsShape(x.shape, axes);
  const out = options.keepDims ? reshapeOwned(raw, keptShape) : raw;
  return record(
    "max",
    out,
    [x],
    (g, [sx, sm]) => {
      const isMax = elementwise("eq", [sx!, reshape(sm!, keptShape)]);
      const ties = reduceRaw("sum", isMax, axes);
      const share = elementwise("div", [reshape(g, keptShape), reshape(ties, keptShape)]);
      return [elementwise("mul", [isMax, share])];
    },
    [x, out],
  );
}

/** Reshape of a fresh contiguous tensor that hands over its reference (no autograd node needed). */
function reshapeOwned(t: Tensor, shape: Shape): Tensor {
  const v = t.view(shape, contiguousStrides(shape), t.offset);
  t.dispose();
  return v;
}

/**
 * Sums a broadcast gradient back to `shape`: over extra leading axes and over axes where `shape` has 1.
 * Returns `g` itself when the shapes already match.
 */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let d = 0; d < g.rank; d++) {
    if (d < lead || (shape[d - lead] === 1 && g.shape[d] !== 1)) axes.push(d);
  }
  const raw = reduceRaw("sum", g, axes);
  return reshapeOwned(raw, shape);
}

interface ArgmaxParams {
  readonly rows: number;
  readonly cols: number;
  readonly offset: number;
}

const argmaxLayout = new ParamLayout([["rows", "u32"], ["cols", "u32"], ["offset", "u32"]] as const);

/** Index of the largest element of each contiguous row (the first one on ties, like torch.argmax). */
export const argmaxKernel: Kernel<ArgmaxParams> = {
  name: "argmax",
  cpu([x, out], p) {
    for (let r = 0; r < p.rows; r++) {
      let best = 0;
      for (let c = 1; c < p.cols; c++) if (x![p.offset + r * p.cols + c]! > x![p.offset + r * p.cols + best]!) best = c;
      out![r] = best;
    }
  },
  gpu(p) {
    return {
      key: "argmax",
      source: () => `
${storage(0, "X", "f32", "read")}
${storage(1, "OUT", "i32", "read_write")}
${uniformParams(2, argmaxLayout)}
${wgslSpecialFloats}
var<workgroup> best_value: array<f32, ${WG}>;
var<workgroup> best_index: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(${entryBuiltins}) {
  let row = ${linearWorkgroupIndex};
  if (row >= P.rows) { return; }
  let base = P.offset + row * P.cols;
  // each thread scans a strided part of the row, keeping its first maximum
  var v = neg_inf();
  var idx = 0xffffffffu;
  for (var c: u32 = lid; c < P.cols; c += ${WG}u) {
    let x = X[base + c];
    if (x > v || idx == 0xffffffffu) { v = x; idx = c; }
  }
  best_value[lid] = v;
  best_index[lid] = idx;
  workgroupBarrier();
  // tree: the larger value wins, the smaller index on ties (so the overall first maximum survives)
  for (var stride: u32 = ${WG / 2}u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      let ov = best_value[lid + stride];
      let oi = best_index[lid + stride];
      if (oi != 0xffffffffu && (ov > best_value[lid] || (ov == best_value[lid] && oi < best_index[lid]) || best_index[lid] == 0xffffffffu)) {
        best_value[lid] = ov;
        best_index[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { OUT[row] = i32(best_index[0]); }
}`,
      uniforms: argmaxLayout.pack({ rows: p.rows, cols: p.cols, offset: p.offset }),
      workgroups: spreadWorkgroups(p.rows),
    };
  },
};

/** Indices (int32) of the maxima along `axis` (default last); not differentiable. */
export function argmax(x: Tensor, axis = -1): Tensor {
  if (!isFloat(x.dtype)) throw DTypeError.of("argmax", "float32", x.dtype);
  const a = normalizeAxis("argmax", axis, x.rank);
  const moved = a === x.rank - 1 ? x : x.transpose(a, -1);
  const dense = moved.contiguous();
  const cols = dense.shape[dense.rank - 1]!;
  const outShape = dense.shape.slice(0, -1);
  const out = Tensor.empty(x.backend, outShape, "int32");
  x.backend.dispatch(argmaxKernel, { rows: out.size, cols, offset: dense.offset }, [dense.bufferFor("argmax"), out.bufferFor("argmax")]);
  if (dense !== moved) dense.dispose();
  if (moved !== x) moved.dispose();
  return out;
}
