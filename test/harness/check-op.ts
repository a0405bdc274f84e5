/**
 * The one conformance helper (llm.c style): for an op given as `fn(...inputs) → Tensor` it checks, on a
 * backend under test,
 *   1. forward values against the float64 CPU reference run of the same fn on the same (float32-rounded)
 *      inputs, within the case's stated tolerance;
 *   2. gradients of L = Σ fn(x) ⊙ w (w a fixed random cotangent) against the reference's gradients;
 *   3. the reference gradients themselves against central finite differences in float64
 *      (ε = 1e-6·max(1, |x|), up to FD_SAMPLES elements per input), so the reference is not trusted blindly;
 * and it does so for every input layout: contiguous, transposed (the input is a permuted view of a leaf
 * stored in reverse axis order) and sliced (a window with offset into a larger leaf), so kernels are
 * exercised on non-contiguous views and view backward rules are checked too.
 */
import * as assert from "uvu/assert";
import type { Backend } from "../../core/backend/backend.ts";
import { cpuBufferData } from "../../core/backend/cpu/cpu-backend.ts";
import { noGrad } from "../../core/tensor/autograd.ts";
import { tensor } from "../../core/tensor/create.ts";
import type { AnyTypedArray } from "../../core/tensor/dtype.ts";
import { Generator } from "../../core/tensor/random.ts";
import { contiguousStrides, sizeOf } from "../../core/tensor/shape.ts";
import { tidy } from "../../core/tensor/scope.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";
import { reference } from "./backends.ts";

export interface Tolerance {
  /** relative to |expected| */
  readonly rtol: number;
  /** absolute, as a fraction of max |expected| over the whole tensor (covers cancellation near 0) */
  readonly atol: number;
}

export type Domain =
  | { readonly kind: "normal"; readonly scale?: number }
  | { readonly kind: "uniform"; readonly low: number; readonly high: number }
  | { readonly kind: "int"; readonly low: number; readonly high: number; readonly extra?: readonly number[] };

export interface InputSpec {
  readonly shape: readonly number[];
  readonly domain?: Domain;
}

export type Layout = "contiguous" | "transposed" | "sliced";

export interface OpCase {
  readonly name: string;
  readonly inputs: readonly InputSpec[];
  readonly fn: (...xs: Tensor[]) => Tensor;
  readonly forward: Tolerance;
  /** Omit for non-differentiable ops. */
  readonly gradient?: Tolerance;
  /** Default all three. */
  readonly layouts?: readonly Layout[];
}

const FD_SAMPLES = 12;
const FD_TOLERANCE: Tolerance = { rtol: 1e-5, atol: 1e-6 };
/**
 * Central differences in float64 lose about ulp(Σ|y⊙w|)/ε to rounding (ε = 1e-6): an absolute floor of
 * 1e-8·Σ|y⊙w| covers that with margin, so tiny gradients are not held to an impossible bound.
 */
const FD_ROUNDING = 1e-8;

function seedOf(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h;
}

function draw(domain: Domain, n: number, gen: Generator): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (domain.kind === "normal") out[i] = Math.fround(gen.normal() * (domain.scale ?? 1));
    else if (domain.kind === "uniform") out[i] = Math.fround(domain.low + (domain.high - domain.low) * gen.uniform());
    else {
      const pool = domain.high - domain.low + (domain.extra?.length ?? 0);
      const k = Math.floor(gen.uniform() * pool);
      out[i] = k < domain.high - domain.low ? domain.low + k : domain.extra![k - (domain.high - domain.low)]!;
    }
  }
  return out;
}

/** A leaf holding `values` (logical row-major over `shape`) stored according to `layout`. */
interface Leaf {
  readonly leafShape: number[];
  readonly leafValues: Float64Array;
  /** Builds the op input from the leaf tensor (a view for non-contiguous layouts). */
  readonly view: (leaf: Tensor) => Tensor;
}

/** Copies `values` (row-major over `shape`) into `into` at `leafIndex(coords)` for every element. */
function scatterLogical(values: Float64Array, shape: readonly number[], into: Float64Array, leafIndex: (coords: number[]) => number): void {
  const strides = contiguousStrides(shape);
  const coords = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < values.length; flat++) {
    let rem = flat;
    strides.forEach((st, d) => {
      coords[d] = Math.floor(rem / st);
      rem -= coords[d]! * st;
    });
    into[leafIndex(coords)] = values[flat]!;
  }
}

function layoutLeaf(shape: readonly number[], values: Float64Array, layout: Layout, pad: Float64Array): Leaf {
  const rank = shape.length;
  if (layout === "contiguous" || rank === 0) return { leafShape: [...shape], leafValues: values, view: (t) => t };
  if (layout === "transposed") {
    // the leaf has its axes reversed: logical (i0..ik) lives at leaf (ik..i0); the input is leaf.permute(reversed)
    const leafShape = [...shape].reverse();
    const leafStrides = contiguousStrides(leafShape);
    const leafValues = new Float64Array(values.length);
    scatterLogical(values, shape, leafValues, (c) => c.reduce((acc, ci, d) => acc + ci * leafStrides[rank - 1 - d]!, 0));
    const axes = shape.map((_, i) => rank - 1 - i);
    return { leafShape, leafValues, view: (t) => t.permute(axes) };
  }
  // sliced: every axis padded by 1 before and 2 after (random values), the input is the window [1, 1 + n)
  const leafShape = shape.map((d) => d + 3);
  const leafStrides = contiguousStrides(leafShape);
  const leafValues = Float64Array.from(pad.subarray(0, sizeOf(leafShape)));
  scatterLogical(values, shape, leafValues, (c) => c.reduce((acc, ci, d) => acc + (ci + 1) * leafStrides[d]!, 0));
  return { leafShape, leafValues, view: (t) => t.slice(shape.map((d) => [1, 1 + d] as const)) };
}

function isInt(spec: InputSpec): boolean {
  return spec.domain?.kind === "int";
}

interface Prepared {
  readonly leaves: Leaf[];
  readonly cotangentSeed: number;
}

function prepare(c: OpCase, layout: Layout): Prepared {
  const gen = new Generator(seedOf(`${c.name}/${layout}`));
  const leaves = c.inputs.map((spec) => {
    const domain = spec.domain ?? { kind: "normal" };
    const values = draw(domain, sizeOf(spec.shape), gen);
    const padShape = spec.shape.map((d) => d + 3);
    const pad = draw(domain, sizeOf(padShape), gen);
    return layoutLeaf(spec.shape, values, isInt(spec) ? "contiguous" : layout, pad);
  });
  return { leaves, cotangentSeed: gen.nextUint32() };
}

function makeLeaves(c: OpCase, p: Prepared, backend: Backend, float64: boolean): Tensor[] {
  return p.leaves.map((leaf, i) => {
    const spec = c.inputs[i]!;
    if (isInt(spec)) return tensor(Int32Array.from(leaf.leafValues), { backend, shape: leaf.leafShape });
    const data = float64 ? Float64Array.from(leaf.leafValues) : Float32Array.from(leaf.leafValues);
    return tensor(data, { backend, shape: leaf.leafShape, requiresGrad: c.gradient !== undefined });
  });
}

/**
 * |actual − expected| ≤ rtol·|expected| + atol·max|expected| + floor, elementwise; non-finite values must
 * match exactly. The message names the worst element.
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, label: string, floor = 0): void {
  assert.is(actual.length, expected.length, `${label}: length`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(expected[i]!);
    if (Number.isFinite(e)) scale = Math.max(scale, e);
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      if (!Object.is(a, e) && !(Number.isNaN(a) && Number.isNaN(e))) {
        assert.unreachable(`${label}: element ${i} is ${a}, expected ${e}`);
      }
      continue;
    }
    const bound = tol.rtol * Math.abs(e) + tol.atol * scale + floor;
    const err = Math.abs(a - e);
    if (!(err <= bound)) {
      const excess = Number.isNaN(err) ? Infinity : err / (bound || Number.MIN_VALUE);
      if (excess > worstExcess) {
        worstExcess = excess;
        worst = i;
      }
    }
  }
  if (worst >= 0) {
    const a = actual[worst]!;
    const e = expected[worst]!;
    assert.unreachable(
      `${label}: element ${worst} is ${a}, expected ${e} (|err| ${Math.abs(a - e).toExponential(2)} > ` +
        `rtol ${tol.rtol}·|e| + atol ${tol.atol}·${scale.toExponential(2)}${floor ? ` + ${floor.toExponential(2)}` : ""}; ${worstExcess.toFixed(1)}× over)`,
    );
  }
}

/** Σ fn(x)⊙w on the reference backend as a plain number (for finite differences). */
function referenceObjective(c: OpCase, p: Prepared, leafValues: Float64Array[], w: Float64Array): number {
  return tidy(() =>
    noGrad(() => {
      const leaves = p.leaves.map((leaf, i) => {
        const spec = c.inputs[i]!;
        const values = leafValues[i]!;
        return isInt(spec)
          ? tensor(Int32Array.from(values), { backend: reference, shape: leaf.leafShape })
          : tensor(Float64Array.from(values), { backend: reference, shape: leaf.leafShape });
      });
      const y = c.fn(...leaves.map((t, i) => p.leaves[i]!.view(t)));
      const data = syncData(y);
      let total = 0;
      for (let i = 0; i < data.length; i++) total += data[i]! * w[i]!;
      return total;
    }),
  );
}

/** Reads a reference (CPU) tensor synchronously (finite differences run inside tidy). */
function syncData(t: Tensor): AnyTypedArray {
  const dense = t.contiguous();
  const out = cpuBufferData(dense.bufferFor("test"))!.slice(dense.offset, dense.offset + dense.size);
  if (dense !== t) dense.dispose();
  return out;
}

interface RunResult {
  readonly output: AnyTypedArray;
  readonly shape: readonly number[];
  readonly grads: (AnyTypedArray | null)[];
}

async function run(c: OpCase, p: Prepared, backend: Backend, float64: boolean, w: Float64Array | null): Promise<RunResult> {
  const leaves = makeLeaves(c, p, backend, float64);
  try {
    const y = c.fn(...leaves.map((t, i) => p.leaves[i]!.view(t)));
    const output = await y.data();
    let grads: (AnyTypedArray | null)[] = [];
    if (c.gradient && w) {
      const seed = tensor(float64 ? Float64Array.from(w) : Float32Array.from(w), { backend, shape: y.shape });
      y.backward({ grad: seed });
      seed.dispose();
      grads = await Promise.all(leaves.map((l) => (l.grad ? l.grad.data() : Promise.resolve(null))));
    }
    y.dispose();
    return { output, shape: y.shape, grads };
  } finally {
    for (const l of leaves) {
      l.grad?.dispose();
      l.dispose();
    }
  }
}

/** Forward values and gradients of `c` on `backend` against the float64 reference, for every layout. */
export async function checkOp(c: OpCase, backend: Backend): Promise<void> {
  for (const layout of c.layouts ?? ["contiguous", "transposed", "sliced"]) {
    const p = prepare(c, layout);
    const where = `${c.name} [${layout}] on ${backend.name}`;
    const w = await cotangent(c, p);
    const ref = await run(c, p, reference, true, w);
    const got = await run(c, p, backend, false, w);
    assert.equal([...got.shape], [...ref.shape], `${where}: output shape`);
    assertClose(got.output, ref.output, c.forward, `${where}: forward`);
    if (!c.gradient || !w) continue;
    ref.grads.forEach((g, i) => {
      if (!g) return;
      assert.ok(got.grads[i], `${where}: input ${i} got no gradient`);
      assertClose(got.grads[i]!, g, c.gradient!, `${where}: gradient of input ${i}`);
    });
  }
}

/** The fixed random cotangent w (shape of the output), or null for non-differentiable ops. */
async function cotangent(c: OpCase, p: Prepared): Promise<Float64Array | null> {
  if (!c.gradient) return null;
  const probe = await run(c, p, reference, true, null);
  return draw({ kind: "normal" }, probe.output.length, new Generator(p.cotangentSeed));
}

/**
 * The reference's own gradients against central finite differences in float64, for every layout.
 * Depends on no backend, so it runs once per case.
 */
export async function checkFiniteDifferences(c: OpCase): Promise<void> {
  if (!c.gradient) return;
  for (const layout of c.layouts ?? ["contiguous", "transposed", "sliced"]) {
    const p = prepare(c, layout);
    const w = (await cotangent(c, p))!;
    const ref = await run(c, p, reference, true, w);
    const values = p.leaves.map((l) => Float64Array.from(l.leafValues));
    const gen = new Generator(p.cotangentSeed ^ 0x51ed);
    let objectiveScale = 0;
    ref.output.forEach((y, k) => (objectiveScale += Math.abs(y * w[k]!)));
    p.leaves.forEach((leaf, i) => {
      const analytic = ref.grads[i];
      if (!analytic || isInt(c.inputs[i]!)) return;
      const n = leaf.leafValues.length;
      const picks = n <= FD_SAMPLES ? [...Array(n).keys()] : Array.from({ length: FD_SAMPLES }, () => Math.floor(gen.uniform() * n));
      const numeric: number[] = [];
      const expected: number[] = [];
      for (const k of picks) {
        const x = leaf.leafValues[k]!;
        const eps = 1e-6 * Math.max(1, Math.abs(x));
        values[i]![k] = x + eps;
        const up = referenceObjective(c, p, values, w);
        values[i]![k] = x - eps;
        const down = referenceObjective(c, p, values, w);
        values[i]![k] = x;
        numeric.push((up - down) / (2 * eps));
        expected.push(analytic[k]!);
      }
      assertClose(numeric, expected, FD_TOLERANCE, `${c.name} [${layout}] reference: finite differences of input ${i}`, FD_ROUNDING * objectiveScale);
    });
  }
}
