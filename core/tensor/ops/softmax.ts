/**
 * softmax and log-softmax along an axis (rows of the last axis in the kernels; other axes are moved last
 * with a transpose). One workgroup per row: max, then Σ exp(x − max), then the outputs.
 *
 *   softmax:      y = exp(x − m) / Σ exp(x − m)       dx = y ⊙ (g − Σ g⊙y)
 *   log-softmax:  y = x − m − log Σ exp(x − m)       dx = g − exp(y) · Σ g
 */
import { type Kernel, ParamLayout, entryBuiltins, storage, uniformParams } from "../../backend/kernel.ts";
import { DTypeError } from "../../errors.ts";
import { record } from "../autograd.ts";
import { isFloat } from "../dtype.ts";
import { normalizeAxis } from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { contiguous, transpose } from "./views.ts";
import { ROW_WG, rowMapping, rowMaxSumExp, wgslRowMaxSumExp } from "./wgsl-workgroup.ts";

type Variant = "softmax" | "logSoftmax";

interface RowParams {
  readonly variant: Variant;
  readonly rows: number;
  readonly cols: number;
  /** element offsets of the inputs (outputs are fresh, offset 0) */
  readonly offsets: readonly number[];
}

const layout = new ParamLayout([["rows", "u32"], ["cols", "u32"], ["off0", "u32"], ["off1", "u32"]] as const);

/** Forward: X → Y. */
export const softmaxKernel: Kernel<RowParams> = {
  name: "softmax",
  cpu([x, y], p) {
    const { rows, cols } = p;
    const off = p.offsets[0]!;
    for (let r = 0; r < rows; r++) {
      const base = off + r * cols;
      const [m, s] = rowMaxSumExp(x!, base, cols);
      const logS = Math.log(s);
      for (let c = 0; c < cols; c++) {
        const z = x![base + c]! - m;
        y![r * cols + c] = p.variant === "softmax" ? Math.exp(z) / s : z - logS;
      }
    }
  },
  gpu(p) {
    const m = rowMapping(p.cols);
    return {
      key: `softmax:${p.variant}${m.keySuffix}`,
      source: () => `
${storage(0, "X", "f32", "read")}
${storage(1, "Y", "f32", "read_write")}
${uniformParams(2, layout)}
${m.helpers}
@compute @workgroup_size(${ROW_WG})
fn main(${entryBuiltins}) {
  ${m.enter("P.rows")}
  let base = P.off0 + row * P.cols;
  ${wgslRowMaxSumExp("X[base + c]", "P.cols", m)}
  ${p.variant === "softmax" ? "let inv = 1.0 / row_sum;" : "let log_s = log(row_sum);"}
  for (var c: u32 = ${m.first}; c < P.cols; c += ${m.stride}) {
    let z = X[base + c] - row_max;
    Y[row * P.cols + c] = ${p.variant === "softmax" ? "exp(z) * inv" : "z - log_s"};
  }
}`,
      uniforms: layout.pack({ rows: p.rows, cols: p.cols, off0: p.offsets[0]!, off1: 0 }),
      workgroups: m.workgroups(p.rows),
    };
  },
};

/** Backward: (Y, G) → dX. */
export const softmaxBackwardKernel: Kernel<RowParams> = {
  name: "softmaxBackward",
  cpu([y, g, dx], p) {
    const { rows, cols } = p;
    const [oy, og] = [p.offsets[0]!, p.offsets[1]!];
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      for (let c = 0; c < cols; c++) {
        acc += p.variant === "softmax" ? g![og + r * cols + c]! * y![oy + r * cols + c]! : g![og + r * cols + c]!;
      }
      for (let c = 0; c < cols; c++) {
        const yv = y![oy + r * cols + c]!;
        const gv = g![og + r * cols + c]!;
        dx![r * cols + c] = p.variant === "softmax" ? yv * (gv - acc) : gv - Math.exp(yv) * acc;
      }
    }
  },
  gpu(p) {
    const m = rowMapping(p.cols);
    return {
      key: `softmaxBackward:${p.variant}${m.keySuffix}`,
      source: () => `
${storage(0, "Y", "f32", "read")}
${storage(1, "G", "f32", "read")}
${storage(2, "DX", "f32", "read_write")}
${uniformParams(3, layout)}
${m.helpers}
@compute @workgroup_size(${ROW_WG})
fn main(${entryBuiltins}) {
  ${m.enter("P.rows")}
  let yb = P.off0 + row * P.cols;
  let gb = P.off1 + row * P.cols;
  var acc: f32 = 0.0;
  for (var c: u32 = ${m.first}; c < P.cols; c += ${m.stride}) {
    acc += ${p.variant === "softmax" ? "G[gb + c] * Y[yb + c]" : "G[gb + c]"};
  }
  acc = ${m.sum("acc")};
  for (var c: u32 = ${m.first}; c < P.cols; c += ${m.stride}) {
    DX[row * P.cols + c] = ${p.variant === "softmax" ? "Y[yb + c] * (G[gb + c] - acc)" : "G[gb + c] - exp(Y[yb + c]) * acc"};
  }
}`,
      uniforms: layout.pack({ rows: p.rows, cols: p.cols, off0: p.offsets[0]!, off1: p.offsets[1]! }),
      workgroups: m.workgroups(p.rows),
    };
  },
};

function lastAxis(variant: Variant, x: Tensor): Tensor {
  if (!isFloat(x.dtype)) throw DTypeError.of(variant, "float32", x.dtype);
  const xc = contiguous(x);
  const cols = x.shape[x.rank - 1] ?? 1;
  const rows = cols === 0 ? 0 : x.size / cols;
  const y = Tensor.empty(x.backend, x.shape, x.dtype);
  x.backend.dispatch(softmaxKernel, { variant, rows, cols, offsets: [xc.offset] }, [xc.bufferFor(variant), y.bufferFor(variant)]);
  const out = record(
    variant,
    y,
    [xc],
    (g, [sy]) => {
      const gc = contiguous(g);
      const dx = Tensor.empty(g.backend, g.shape, g.dtype);
      g.backend.dispatch(softmaxBackwardKernel, { variant, rows, cols, offsets: [sy!.offset, gc.offset] }, [sy!.bufferFor(variant), gc.bufferFor(variant), dx.bufferFor(variant)]);
      return [dx];
    },
    [y],
  );
  if (xc !== x) xc.dispose();
  return out;
}

function alongAxis(variant: Variant, x: Tensor, axis: number): Tensor {
  const a = normalizeAxis(variant, axis, Math.max(1, x.rank));
  if (x.rank === 0 || a === x.rank - 1) return lastAxis(variant, x);
  const moved = transpose(x, a, -1);
  const y = lastAxis(variant, moved);
  const out = transpose(y, a, -1);
  moved.dispose();
  y.dispose();
  return out;
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return alongAxis("softmax", x, axis);
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return alongAxis("logSoftmax", x, axis);
}
