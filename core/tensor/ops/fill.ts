/**
 * fill: sets `n` contiguous elements starting at `offset` to a constant. Used for zeros/ones/full, the
 * seed gradient of backward, and zeroed accumulators (scatter-add). Not differentiable (a constant).
 */
import { type Kernel, ParamLayout, entryBuiltins, linearWorkgroupIndex, spreadWorkgroups, storage, uniformParams } from "../../backend/kernel.ts";
import type { Backend } from "../../backend/backend.ts";
import type { DType } from "../dtype.ts";
import type { Shape } from "../shape.ts";
import { Tensor } from "../tensor.ts";

interface FillParams {
  readonly n: number;
  readonly offset: number;
  readonly value: number;
  readonly dtype: DType;
}

const layout = new ParamLayout([["n", "u32"], ["offset", "u32"], ["value", "f32"], ["ivalue", "i32"]] as const);
const WG = 64;

export const fillKernel: Kernel<FillParams> = {
  name: "fill",
  cpu([out], p) {
    out!.fill(p.value, p.offset, p.offset + p.n);
  },
  gpu(p) {
    const type = p.dtype === "int32" ? "i32" : "f32";
    // aligned ranges are written four elements per invocation (vector stores are ~3x faster on lavapipe)
    const vec = p.n % 4 === 0 && p.offset % 4 === 0;
    const lanes = vec ? 4 : 1;
    const value = type === "i32" ? "P.ivalue" : "P.value";
    return {
      key: `fill:${type}${vec ? ":v4" : ""}`,
      source: () => `
${storage(0, "OUT", vec ? `vec4<${type}>` : type, "read_write")}
${uniformParams(1, layout)}
@compute @workgroup_size(${WG})
fn main(${entryBuiltins}) {
  let i = ${linearWorkgroupIndex} * ${WG}u + lid;
  if (i >= P.n) { return; }
  OUT[P.offset + i] = ${vec ? `vec4<${type}>(${value})` : value};
}`,
      uniforms: layout.pack({ n: p.n / lanes, offset: p.offset / lanes, value: p.value, ivalue: p.dtype === "int32" ? p.value : 0 }),
      workgroups: spreadWorkgroups(Math.ceil(p.n / lanes / WG)),
    };
  },
};

/** A new contiguous tensor filled with `value`. */
export function full(backend: Backend, shape: Shape, value: number, dtype: DType = "float32"): Tensor {
  const out = Tensor.empty(backend, shape, dtype);
  backend.dispatch(fillKernel, { n: out.size, offset: 0, value, dtype }, [out.bufferFor("fill")]);
  return out;
}

/** A new contiguous tensor with `like`'s shape, dtype and backend, filled with `value`. */
export function fillLike(like: Tensor, value: number): Tensor {
  return full(like.backend, like.shape, value, like.dtype);
}
