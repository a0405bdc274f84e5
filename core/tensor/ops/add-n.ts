/**
 * n-ary sum of same-shape tensors in one launch: y = x₀ + x₁ + … + x_{n−1}, added left to right (so it
 * rounds exactly like the chain of binary adds it replaces).  dx_i = g for every i.
 *
 * Autograd uses it to sum the gradient contributions a tensor used several times receives (T5's normed
 * hidden state feeds q, k, v and the adapters beside them; the encoder output feeds every decoder
 * block's cross-attention): one launch for all of them instead of one add (and one allocation) each.
 * Operands may be strided views (a transposed weight gradient); the output is contiguous. At most
 * ADD_N_MAX inputs per launch (WebGPU guarantees 8 storage buffers per shader stage, one is the output);
 * longer lists are summed in chunks, each chunk continuing from the previous partial sum.
 */
import { type Kernel, ParamLayout, entryBuiltins, linearWorkgroupIndex, spreadWorkgroups, storage, uniformParams } from "../../backend/kernel.ts";
import { DTypeError, ShapeError } from "../../errors.ts";
import { record } from "../autograd.ts";
import { isFloat } from "../dtype.ts";
import { isContiguous, sameShape } from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { type Operand, checkRank, collapse, forEachStrided, stridedFields, stridedValues, wgslOffsets } from "./strided.ts";

/** Inputs per launch: WebGPU's guaranteed maxStorageBuffersPerShaderStage (8) less the output. */
export const ADD_N_MAX = 7;

interface AddNParams {
  /** Iteration shape after `collapse`. */
  readonly shape: readonly number[];
  /** Inputs then the output, with strides over `shape`. */
  readonly operands: readonly Operand[];
}

const WG = 64;

/** Whether four consecutive elements per invocation work: every operand dense from a 4-aligned offset. */
function vec4(p: AddNParams): boolean {
  const n = p.shape.reduce((a, b) => a * b, 1);
  return n % 4 === 0 && p.operands.every((op) => op.offset % 4 === 0 && isContiguous(p.shape, op.strides));
}

/** (x₀ … x_{k−1}) → Y = Σ x_i, left to right. */
export const addNKernel: Kernel<AddNParams> = {
  name: "addN",
  cpu(buffers, p) {
    const k = p.operands.length - 1;
    const out = buffers[k]!;
    const o = p.operands[k]!;
    forEachStrided(p.shape, [o, p.operands[0]!], (_i, oo, o0) => (out[oo] = buffers[0]![o0]!));
    for (let j = 1; j < k; j++) {
      const x = buffers[j]!;
      forEachStrided(p.shape, [o, p.operands[j]!], (_i, oo, oj) => (out[oo] = out[oo]! + x[oj]!));
    }
  },
  gpu(p) {
    const k = p.operands.length - 1;
    const names = [...Array.from({ length: k }, (_, j) => `x${j}`), "o"];
    if (vec4(p)) {
      const n = p.shape.reduce((a, b) => a * b, 1) / 4;
      const layout = new ParamLayout([["n", "u32"], ...names.map((name) => [`${name}_off`, "u32"] as [string, "u32"])]);
      const values: Record<string, number> = { n };
      names.forEach((name, j) => (values[`${name}_off`] = p.operands[j]!.offset / 4));
      return {
        key: `addN:${k}:vec4`,
        source: () => `
${names.slice(0, k).map((name, j) => storage(j, name.toUpperCase(), "vec4<f32>", "read")).join("\n")}
${storage(k, "O", "vec4<f32>", "read_write")}
${uniformParams(k + 1, layout)}
@compute @workgroup_size(${WG})
fn main(${entryBuiltins}) {
  let v = ${linearWorkgroupIndex} * ${WG}u + lid;
  if (v >= P.n) { return; }
  var acc = X0[P.x0_off + v];
  ${names.slice(1, k).map((name) => `acc = acc + ${name.toUpperCase()}[P.${name}_off + v];`).join("\n  ")}
  O[P.o_off + v] = acc;
}`,
        uniforms: layout.pack(values),
        workgroups: spreadWorkgroups(Math.ceil(n / WG)),
      };
    }
    const rank = p.shape.length;
    const dense = new Set(names.filter((_, j) => isContiguous(p.shape, p.operands[j]!.strides)));
    const layout = new ParamLayout(stridedFields(rank, names));
    const n = p.shape.reduce((a, b) => a * b, 1);
    return {
      key: `addN:${k}:r${rank}:${names.map((name) => (dense.has(name) ? "d" : "s")).join("")}`,
      source: () => `
${names.slice(0, k).map((name, j) => storage(j, name.toUpperCase(), "f32", "read")).join("\n")}
${storage(k, "O", "f32", "read_write")}
${uniformParams(k + 1, layout)}
@compute @workgroup_size(${WG})
fn main(${entryBuiltins}) {
  let v = ${linearWorkgroupIndex} * ${WG}u + lid;
  if (v >= P.n) { return; }
  ${wgslOffsets(rank, names, "v", dense)}
  var acc = X0[x0_o];
  ${names.slice(1, k).map((name) => `acc = acc + ${name.toUpperCase()}[${name}_o];`).join("\n  ")}
  O[o_o] = acc;
}`,
      uniforms: layout.pack(stridedValues(p.shape, names, p.operands)),
      workgroups: spreadWorkgroups(Math.ceil(n / WG)),
    };
  },
};

/** Σ xs into a new contiguous tensor, ⌈(n−1)/(ADD_N_MAX−1)⌉ launches; no autograd. */
export function addNRaw(xs: readonly Tensor[]): Tensor {
  const first = xs[0]!;
  let acc: Tensor | null = null;
  let next = 0;
  while (next < xs.length) {
    // the running sum (after the first chunk) is operand 0 of the next launch: same left-to-right order
    const chunk: Tensor[] = acc ? [acc] : [];
    while (chunk.length < ADD_N_MAX && next < xs.length) chunk.push(xs[next++]!);
    const out = Tensor.empty(first.backend, first.shape, first.dtype);
    const operands = [...chunk, out].map((t) => ({ offset: t.offset, strides: t.strides }));
    const c = collapse(first.shape, operands);
    checkRank("addN", c.shape);
    first.backend.dispatch(addNKernel, { shape: c.shape, operands: c.operands }, [...chunk, out].map((t) => t.bufferFor("addN")));
    acc?.dispose();
    acc = out;
  }
  return acc!;
}

/** x₀ + x₁ + … (same shape and dtype, no broadcasting) in one launch per ADD_N_MAX inputs; differentiable. */
export function addN(xs: readonly Tensor[]): Tensor {
  const op = "addN";
  if (xs.length === 0) throw ShapeError.of(op, [], "needs at least one tensor");
  const first = xs[0]!;
  for (const x of xs) {
    first.sameBackend(op, x);
    if (!isFloat(x.dtype)) throw DTypeError.of(op, "float32", x.dtype);
    if (x.dtype !== first.dtype) throw DTypeError.of(op, first.dtype, x.dtype);
    if (!sameShape(x.shape, first.shape)) throw ShapeError.of(op, xs.map((t) => t.shape), "every tensor must have the same shape");
  }
  return record(op, addNRaw(xs), xs, (g) => xs.map(() => g));
}
