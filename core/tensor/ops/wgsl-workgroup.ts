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
