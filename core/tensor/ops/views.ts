/**
 * View ops: new geometry over the same storage, no kernel launch (reshape of non-contiguous data and
 * `contiguous` copy with the elementwise "copy" kernel). Backward rules map the gradient back:
 * reshape ↔ reshape, permute ↔ inverse permute, slice → zero-padded scatter, expand → sum.
 * Concat lives here too: it writes each input into a slice view of its output.
 */
import { InvalidArgumentError, ShapeError } from "../../errors.ts";
import { record } from "../autograd.ts";
import { type Shape, broadcastShapes, checkShape, contiguousStrides, normalizeAxis, sameShape, sizeOf } from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { launchElementwise } from "./elementwise.ts";
import { fillLike } from "./fill.ts";
import { sumToShape } from "./reduce.ts";

/** Copies into a new contiguous tensor; returns `x` itself when it is already contiguous. dx = g. */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous) return x;
  const out = Tensor.empty(x.backend, x.shape, x.dtype);
  launchElementwise("copy", out, [x]);
  return record("contiguous", out, [x], (g) => [g]);
}

/** Resolves one -1 entry and checks the element count. */
function resolveShape(x: Tensor, shape: readonly number[]): number[] {
  const inferred = shape.filter((d) => d === -1).length;
  if (inferred > 1) throw ShapeError.of("reshape", [x.shape, shape], "at most one dimension may be -1");
  const known = shape.reduce((acc, d) => (d === -1 ? acc : acc * d), 1);
  const out = shape.map((d) => (d === -1 ? (known === 0 ? 0 : x.size / known) : d));
  checkShape("reshape", out);
  if (sizeOf(out) !== x.size) {
    throw ShapeError.of("reshape", [x.shape, shape], `cannot reshape ${x.size} elements into ${sizeOf(out)}`);
  }
  return out;
}

/**
 * Strides for viewing x with `shape` without copying, or null when impossible. Works whenever each group
 * of old axes that maps onto a group of new axes is itself contiguous (PyTorch's view rule).
 */
function viewStrides(x: Tensor, shape: readonly number[]): number[] | null {
  if (x.isContiguous || x.size === 0) return contiguousStrides(shape);
  const oldShape = x.shape.filter((d) => d !== 1);
  const oldStrides = x.strides.filter((_, i) => x.shape[i] !== 1);
  const strides = new Array<number>(shape.length).fill(0);
  let oi = 0;
  let ni = 0;
  while (ni < shape.length || oi < oldShape.length) {
    if (ni < shape.length && shape[ni] === 1) {
      strides[ni] = 1;
      ni++;
      continue;
    }
    if (oi >= oldShape.length || ni >= shape.length) return null;
    // grow a group of old axes [oi, oj) and new axes [ni, nj) with equal element counts
    let oj = oi + 1;
    let nj = ni + 1;
    let oldCount = oldShape[oi]!;
    let newCount = shape[ni]!;
    while (oldCount !== newCount) {
      if (oldCount < newCount) {
        if (oj >= oldShape.length) return null;
        oldCount *= oldShape[oj++]!;
      } else {
        if (nj >= shape.length) return null;
        newCount *= shape[nj++]!;
      }
    }
    // the old group must be contiguous within itself
    for (let k = oi; k < oj - 1; k++) {
      if (oldStrides[k] !== oldStrides[k + 1]! * oldShape[k + 1]!) return null;
    }
    // new axes take row-major strides based on the group's innermost stride
    let s = oldStrides[oj - 1]!;
    for (let k = nj - 1; k >= ni; k--) {
      strides[k] = s;
      s *= shape[k]!;
    }
    oi = oj;
    ni = nj;
  }
  return strides;
}

/** Same elements, new shape (one axis may be -1). A view when possible, else a copy. dx = reshape(g). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = resolveShape(x, shape);
  if (sameShape(target, x.shape)) return record("reshape", x.retainHandle(), [x], (g) => [g]);
  const strides = viewStrides(x, target);
  let out: Tensor;
  if (strides) {
    out = x.view(target, strides, x.offset);
  } else {
    const dense = Tensor.empty(x.backend, x.shape, x.dtype);
    launchElementwise("copy", dense, [x]);
    out = dense.view(target, contiguousStrides(target), 0);
    dense.dispose();
  }
  return record("reshape", out, [x], (g) => [reshape(g, x.shape)]);
}

/** Reorders axes: out axis i is x axis axes[i]. dx = permute(g, inverse). */
export function permute(x: Tensor, axes: readonly number[]): Tensor {
  const norm = axes.map((a) => normalizeAxis("permute", a, x.rank));
  if (norm.length !== x.rank || new Set(norm).size !== x.rank) {
    throw InvalidArgumentError.of("permute", "axes", `[${axes.join(", ")}] is not a permutation of ${x.rank} axes`);
  }
  const out = x.view(norm.map((a) => x.shape[a]!), norm.map((a) => x.strides[a]!), x.offset);
  const inverse = new Array<number>(x.rank);
  norm.forEach((a, i) => (inverse[a] = i));
  return record("permute", out, [x], (g) => [permute(g, inverse)]);
}

/** Swaps two axes (the last two by default). */
export function transpose(x: Tensor, axis0 = -2, axis1 = -1): Tensor {
  const a = normalizeAxis("transpose", axis0, x.rank);
  const b = normalizeAxis("transpose", axis1, x.rank);
  const axes = x.shape.map((_, i) => i);
  axes[a] = b;
  axes[b] = a;
  return permute(x, axes);
}

/**
 * Sub-range view: ranges[i] = [start, end) on axis i (negative = from the end, clamped like Python);
 * null or missing keeps the axis whole. dx = zeros with g written into the same range.
 */
export function slice(x: Tensor, ranges: readonly (readonly [number, number] | null)[]): Tensor {
  if (ranges.length > x.rank) {
    throw ShapeError.of("slice", [x.shape], `${ranges.length} ranges given for a tensor of rank ${x.rank}`);
  }
  const starts: number[] = [];
  const shape: number[] = [];
  x.shape.forEach((d, i) => {
    const r = ranges[i];
    const clamp = (v: number) => Math.min(d, Math.max(0, v < 0 ? v + d : v));
    const start = r ? clamp(r[0]) : 0;
    const end = r ? clamp(r[1]) : d;
    if (r && (!Number.isInteger(r[0]) || !Number.isInteger(r[1]))) {
      throw InvalidArgumentError.of("slice", `range of axis ${i}`, `[${r[0]}, ${r[1]}) must be integers`);
    }
    starts.push(start);
    shape.push(Math.max(0, end - start));
  });
  const offset = x.offset + starts.reduce((acc, s, i) => acc + s * x.strides[i]!, 0);
  const out = x.view(shape, x.strides, offset);
  return record("slice", out, [x], (g) => {
    const dx = fillLike(x, 0);
    const window = dx.view(shape, dx.strides, starts.reduce((acc, s, i) => acc + s * dx.strides[i]!, 0));
    launchElementwise("copy", window, [g]);
    window.dispose();
    return [dx];
  });
}

/** Broadcast view to `shape` (stride 0 on stretched axes; -1 keeps a size). dx = g summed back. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.rank;
  const target = shape.map((d, i) => (d === -1 && i >= lead ? x.shape[i - lead]! : d));
  if (lead < 0 || !sameShape(broadcastShapes("expand", x.shape, target), target)) {
    throw ShapeError.of("expand", [x.shape, shape], "can only stretch axes of size 1 and add leading axes");
  }
  const strides = target.map((d, i) => (i < lead || (x.shape[i - lead] === 1 && d !== 1) ? 0 : x.strides[i - lead]!));
  return record("expand", x.view(target, strides, x.offset), [x], (g) => [sumToShape(g, x.shape)]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis("unsqueeze", axis, x.rank + 1);
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

/** Removes `axis` (must have size 1), or every size-1 axis. */
export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const a = normalizeAxis("squeeze", axis, x.rank);
  if (x.shape[a] !== 1) throw ShapeError.of("squeeze", [x.shape], `axis ${axis} has size ${x.shape[a]}, not 1`);
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

/** Joins tensors along `axis` (all other sizes equal). d(input k) = the matching slice of g. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw InvalidArgumentError.of("concat", "tensors", "needs at least one tensor");
  const first = tensors[0]!;
  const a = normalizeAxis("concat", axis, first.rank);
  for (const t of tensors) {
    first.sameBackend("concat", t);
    if (t.dtype !== first.dtype || t.rank !== first.rank || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw ShapeError.of("concat", tensors.map((x) => x.shape), `all sizes except axis ${axis} must match (and dtypes: ${tensors.map((x) => x.dtype).join(", ")})`);
    }
  }
  const shape = [...first.shape];
  shape[a] = tensors.reduce((acc, t) => acc + t.shape[a]!, 0);
  const out = Tensor.empty(first.backend, shape, first.dtype);
  const bounds: [number, number][] = [];
  let start = 0;
  for (const t of tensors) {
    const window = out.view(t.shape, out.strides, start * out.strides[a]!);
    launchElementwise("copy", window, [t]);
    window.dispose();
    bounds.push([start, start + t.shape[a]!]);
    start += t.shape[a]!;
  }
  return record("concat", out, tensors, (g) =>
    bounds.map((range) => {
      const ranges = g.shape.map((_, i) => (i === a ? range : null));
      return slice(g, ranges);
    }),
  );
}
