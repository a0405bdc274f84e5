/**
 * Strided iteration shared by the elementwise and reduction kernels, on both sides:
 *  - `collapse` merges axes that every operand walks the same way, so most launches run at rank 1–3;
 *  - `forEachStrided` is the CPU loop (odometer over the outer axes, tight inner loop);
 *  - `wgslOffsets` emits the WGSL that turns a linear index into per-operand element offsets.
 * Strides are in elements; stride 0 is a broadcast axis.
 */
import { ShapeError } from "../../errors.ts";
import { MAX_RANK } from "../../backend/kernel.ts";

export interface Operand {
  readonly offset: number;
  readonly strides: readonly number[];
}

/**
 * Drops size-1 axes and merges axis d into d+1 when, for every operand, stride[d] = stride[d+1]·shape[d+1]
 * (walking d then d+1 is one longer walk). Offsets of every element stay the same.
 */
export function collapse(shape: readonly number[], operands: readonly Operand[]): { shape: number[]; operands: Operand[] } {
  const axes = shape.map((_, d) => d).filter((d) => shape[d] !== 1);
  const outShape: number[] = [];
  const outStrides: number[][] = operands.map(() => []);
  for (const d of axes) {
    const last = outShape.length - 1;
    // axis d merges into the previous kept axis when stepping d once equals walking the whole previous axis
    if (last >= 0 && operands.every((op, k) => op.strides[d]! * shape[d]! === outStrides[k]![last]!)) {
      outShape[last] = outShape[last]! * shape[d]!;
      operands.forEach((op, k) => (outStrides[k]![last] = op.strides[d]!));
    } else {
      outShape.push(shape[d]!);
      operands.forEach((op, k) => outStrides[k]!.push(op.strides[d]!));
    }
  }
  return { shape: outShape, operands: operands.map((op, k) => ({ offset: op.offset, strides: outStrides[k]! })) };
}

export function checkRank(op: string, shape: readonly number[]): void {
  if (shape.length > MAX_RANK) {
    throw ShapeError.of(op, [shape], `more than ${MAX_RANK} non-mergeable axes; make the operand contiguous or reshape it`);
  }
}

/**
 * Calls `body(i, o0, o1, o2, o3)` for every index i (row-major over `shape`) with the element offsets of up
 * to four operands.
 */
export function forEachStrided(
  shape: readonly number[],
  operands: readonly Operand[],
  body: (i: number, o0: number, o1: number, o2: number, o3: number) => void,
): void {
  const rank = shape.length;
  const k = operands.length;
  const offset = (j: number) => operands[j]?.offset ?? 0;
  if (rank === 0) {
    body(0, offset(0), offset(1), offset(2), offset(3));
    return;
  }
  let total = 1;
  for (const d of shape) total *= d;
  if (total === 0) return;
  const inner = shape[rank - 1]!;
  const st = (j: number, d: number) => operands[j]?.strides[d] ?? 0;
  const s0 = st(0, rank - 1), s1 = st(1, rank - 1), s2 = st(2, rank - 1), s3 = st(3, rank - 1);
  const index = new Array<number>(rank).fill(0);
  const base = [offset(0), offset(1), offset(2), offset(3)];
  for (let i = 0; i < total; i += inner) {
    let o0 = base[0]!, o1 = base[1]!, o2 = base[2]!, o3 = base[3]!;
    for (let j = 0; j < inner; j++) {
      body(i + j, o0, o1, o2, o3);
      o0 += s0;
      o1 += s1;
      o2 += s2;
      o3 += s3;
    }
    // advance the odometer over the outer axes and move the base offsets with it
    for (let d = rank - 2; d >= 0; d--) {
      index[d]!++;
      for (let j = 0; j < k; j++) base[j] = base[j]! + st(j, d);
      if (index[d]! < shape[d]!) break;
      for (let j = 0; j < k; j++) base[j] = base[j]! - st(j, d) * shape[d]!;
      index[d] = 0;
    }
  }
}

/** Uniform fields describing `shape` (`s0..`) and, per operand name, its offset and strides. */
export function stridedFields(rank: number, names: readonly string[]): [string, "u32"][] {
  const fields: [string, "u32"][] = [["n", "u32"]];
  for (let d = 0; d < rank; d++) fields.push([`s${d}`, "u32"]);
  for (const name of names) {
    fields.push([`${name}_off`, "u32"]);
    for (let d = 0; d < rank; d++) fields.push([`${name}_t${d}`, "u32"]);
  }
  return fields;
}

/** Values for `stridedFields`. */
export function stridedValues(shape: readonly number[], names: readonly string[], operands: readonly Operand[]): Record<string, number> {
  const values: Record<string, number> = { n: shape.reduce((a, b) => a * b, 1) };
  shape.forEach((d, i) => (values[`s${i}`] = d));
  names.forEach((name, k) => {
    values[`${name}_off`] = operands[k]!.offset;
    operands[k]!.strides.forEach((s, d) => (values[`${name}_t${d}`] = s));
  });
  return values;
}

/**
 * WGSL statements declaring `var <name>_o: u32` = element offset of operand `name` for linear index
 * `index` (row-major over P.s0..). Operands listed in `dense` are contiguous over the whole shape and
 * simply use offset + index.
 */
export function wgslOffsets(rank: number, names: readonly string[], index: string, dense: ReadonlySet<string> = new Set()): string {
  const strided = names.filter((n) => !dense.has(n));
  const lines: string[] = [];
  for (const n of names) lines.push(`var ${n}_o: u32 = P.${n}_off${dense.has(n) ? ` + ${index}` : ""};`);
  if (strided.length === 0 || rank === 0) return lines.join("\n  ");
  lines.push(`var rem: u32 = ${index};`);
  for (let d = rank - 1; d >= 1; d--) {
    lines.push(`{ let c = rem % P.s${d}; rem = rem / P.s${d};${strided.map((n) => ` ${n}_o += c * P.${n}_t${d};`).join("")} }`);
  }
  lines.push(strided.map((n) => `${n}_o += rem * P.${n}_t0;`).join(" "));
  return lines.join("\n  ");
}
