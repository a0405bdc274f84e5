/**
 * WGSL helpers for row-wise kernels where one workgroup of ROW_WG threads owns one row: every thread
 * folds a strided part of the row, then a tree in workgroup memory combines the partial results.
 * Call them from uniform control flow only (they contain barriers).
 */
import { linearWorkgroupIndex, spreadWorkgroups, wgslSpecialFloats } from "../../backend/kernel.ts";

export const ROW_WG = 64;

export const workgroupReduce = `
var<workgroup> wg_partial: array<f32, ${ROW_WG}>;
fn wg_sum(v: f32, lid: u32) -> f32 {
  wg_partial[lid] = v;
  workgroupBarrier();
  for (var stride: u32 = ${ROW_WG / 2}u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) { wg_partial[lid] = wg_partial[lid] + wg_partial[lid + stride]; }
    workgroupBarrier();
  }
  let total = wg_partial[0];
  workgroupBarrier();
  return total;
}
fn wg_max(v: f32, lid: u32) -> f32 {
  wg_partial[lid] = v;
  workgroupBarrier();
  for (var stride: u32 = ${ROW_WG / 2}u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) { wg_partial[lid] = max(wg_partial[lid], wg_partial[lid + stride]); }
    workgroupBarrier();
  }
  let total = wg_partial[0];
  workgroupBarrier();
  return total;
}
${wgslSpecialFloats}`;

/** Rows at most this long get a thread each instead of a workgroup (see rowMapping). */
export const SHORT_ROW = 256;

/**
 * How a row kernel maps rows to threads. Long rows: a workgroup per row, each thread folding every
 * ROW_WG-th column, then a tree in workgroup memory (wg_sum / wg_max). Short rows (≤ SHORT_ROW columns,
 * attention's 128-key rows): one thread per row folding the row in order, with no barriers — lavapipe runs
 * a barrier as a coroutine switch, and a 64-thread workgroup on a 128-wide row spent most of its time
 * there (biasedSoftmax and softmaxBackward were 8% of a T5-small KronA step's GPU time). Kernels use
 * `enter`, `first` / `stride` for their column loops, and `sum` / `max` for the row reductions, so the
 * same WGSL body serves both; the two sum in different orders, so a launch key carries `keySuffix`.
 */
export interface RowMapping {
  readonly keySuffix: string;
  /** WGSL declaring `row` (and `lid`'s use) and returning past the last of `rows` rows. */
  readonly enter: (rows: string) => string;
  /** WGSL: this thread's first column and the column stride. */
  readonly first: string;
  readonly stride: string;
  /** WGSL expressions combining a thread's partial value over the row. */
  readonly sum: (v: string) => string;
  readonly max: (v: string) => string;
  /** WGSL helpers the body needs (the workgroup reductions and special floats). */
  readonly helpers: string;
  readonly workgroups: (rows: number) => [number, number, number];
}

const WORKGROUP_PER_ROW: RowMapping = {
  keySuffix: "",
  enter: (rows) => `let row = ${linearWorkgroupIndex};\n  if (row >= ${rows}) { return; }`,
  first: "lid",
  stride: `${ROW_WG}u`,
  sum: (v) => `wg_sum(${v}, lid)`,
  max: (v) => `wg_max(${v}, lid)`,
  helpers: workgroupReduce,
  workgroups: (rows) => spreadWorkgroups(rows),
};

const THREAD_PER_ROW: RowMapping = {
  keySuffix: ":short",
  enter: (rows) => `let row = ${linearWorkgroupIndex} * ${ROW_WG}u + lid;\n  if (row >= ${rows}) { return; }`,
  first: "0u",
  stride: "1u",
  sum: (v) => v,
  max: (v) => v,
  helpers: wgslSpecialFloats,
  workgroups: (rows) => spreadWorkgroups(Math.ceil(rows / ROW_WG)),
};

/** The mapping for rows of `cols` columns. */
export function rowMapping(cols: number): RowMapping {
  return cols <= SHORT_ROW ? THREAD_PER_ROW : WORKGROUP_PER_ROW;
}

/**
 * WGSL statements defining `row_max` = max_c x_c and `row_sum` = Σ_c exp(x_c − row_max) over c < `count`,
 * where x_c is the WGSL expression `element` (in terms of the loop variable `c`, e.g. `X[base + c]`),
 * under `mapping` (default: a workgroup per row, `lid` the local index): the stable log-sum-exp pieces that
 * softmax, biasedSoftmax and cross-entropy share (so that their sums run in the same order).
 */
export function wgslRowMaxSumExp(element: string, count: string, mapping: RowMapping = WORKGROUP_PER_ROW): string {
  const m = mapping;
  return `var row_max = neg_inf();
  for (var c: u32 = ${m.first}; c < ${count}; c += ${m.stride}) { row_max = max(row_max, ${element}); }
  row_max = ${m.max("row_max")};
  var row_sum: f32 = 0.0;
  for (var c: u32 = ${m.first}; c < ${count}; c += ${m.stride}) { row_sum += exp(${element} - row_max); }
  row_sum = ${m.sum("row_sum")};`;
}

/** CPU twin of wgslRowMaxSumExp: [max, Σ exp(x − max)] over x[base .. base + count). */
export function rowMaxSumExp(x: ArrayLike<number>, base: number, count: number): [number, number] {
  let m = -Infinity;
  for (let c = 0; c < count; c++) m = Math.max(m, x[base + c]!);
  let s = 0;
  for (let c = 0; c < count; c++) s += Math.exp(x[base + c]! - m);
  return [m, s];
}
