/**
 * WGSL helpers for row-wise kernels where one workgroup of ROW_WG threads owns one row: every thread
 * folds a strided part of the row, then a tree in workgroup memory combines the partial results.
 * Call them from uniform control flow only (they contain barriers).
 */
import { wgslSpecialFloats } from "../../backend/kernel.ts";

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

/**
 * WGSL statements (one workgroup per row, `lid` the local index) defining `row_max` = max_c x_c and
 * `row_sum` = Σ_c exp(x_c − row_max) over `buffer[base + c]`, c < `count`: the stable log-sum-exp
 * pieces that softmax and cross-entropy share.
 */
export function wgslRowMaxSumExp(buffer: string, base: string, count: string): string {
  return `var row_max = neg_inf();
  for (var c: u32 = lid; c < ${count}; c += ${ROW_WG}u) { row_max = max(row_max, ${buffer}[${base} + c]); }
  row_max = wg_max(row_max, lid);
  var row_sum: f32 = 0.0;
  for (var c: u32 = lid; c < ${count}; c += ${ROW_WG}u) { row_sum += exp(${buffer}[${base} + c] - row_max); }
  row_sum = wg_sum(row_sum, lid);`;
}

/** CPU twin of wgslRowMaxSumExp: [max, Σ exp(x − max)] over x[base .. base + count). */
export function rowMaxSumExp(x: ArrayLike<number>, base: number, count: number): [number, number] {
  let m = -Infinity;
  for (let c = 0; c < count; c++) m = Math.max(m, x[base + c]!);
  let s = 0;
  for (let c = 0; c < count; c++) s += Math.exp(x[base + c]! - m);
  return [m, s];
}
