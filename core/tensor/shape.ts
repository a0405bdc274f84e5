/**
 * Shape arithmetic shared by tensors, ops and kernels: sizes, row-major strides, broadcasting, axis
 * normalisation. Shapes are plain arrays of non-negative integers; strides count elements, not bytes.
 */
import { InvalidArgumentError, ShapeError } from "../errors.ts";

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C order) strides: the last axis is contiguous. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** True when a view with these strides walks its storage in row-major order with no gaps. */
export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    if (d !== 1 && strides[i] !== expected) return false;
    expected *= d;
  }
  return true;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function checkShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw ShapeError.of(op, [shape], `every dimension must be a non-negative integer, got ${d}`);
    }
  }
}

/** NumPy broadcasting: align trailing axes; each pair must be equal or one of them 1. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const axis = rank - s.length + i;
      const d = s[i]!;
      const o = out[axis]!;
      if (o === 1) out[axis] = d;
      else if (d !== 1 && d !== o) {
        throw ShapeError.of(op, shapes, `axis ${axis - rank} has sizes ${o} and ${d}, which do not broadcast`);
      }
    }
  }
  return out;
}

/**
 * Strides that read a tensor of `shape`/`strides` as if it had the (broadcast) shape `target`:
 * missing leading axes and axes of size 1 that are stretched get stride 0.
 */
export function broadcastStrides(shape: Shape, strides: readonly number[], target: Shape): number[] {
  const out = new Array<number>(target.length).fill(0);
  const lead = target.length - shape.length;
  for (let i = 0; i < shape.length; i++) {
    out[lead + i] = shape[i] === 1 && target[lead + i] !== 1 ? 0 : strides[i]!;
  }
  return out;
}

/** Turns a possibly negative axis into 0..rank-1, with an error naming the op when out of range. */
export function normalizeAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= rank) {
    throw InvalidArgumentError.of(op, "axis", `${axis} is out of range for a tensor of rank ${rank}`);
  }
  return a;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}
