/**
 * Fused RMS normalisation over the last axis (T5's layer norm, HF T5LayerNorm; Zhang & Sennrich 2019),
 * replacing the composition x·rsqrt(mean(x²) + ε)·w (7 launches forward, ~13 backward) with one kernel
 * forward and one (two when the weight trains) backward. Rows of the last axis, D = its length; one
 * workgroup per row for the row reductions. The dx kernel also adds the gradient that already reached x
 * (in T5, the residual stream's, through autograd's PartialGradients), saving the separate add.
 *
 *   r   = 1 / √(mean_c x_c² + ε)                       per row, saved for the backward
 *   y_c = (x_c · r) · w_c                              (rounded in HF's order: normalise, then scale)
 *
 *   with g = dL/dy and u_c = w_c·g_c:
 *   ∂r/∂x_c = −r³·x_c/D, so
 *   dx_c = r·u_c − x_c · r³ · (1/D) Σ_k x_k·u_k        (one pass for Σ, one for dx: the dx kernel)
 *   dw_c = Σ_rows g_c · x_c · r                         (a column reduction: the dw kernel)
 *
 * It must agree with the composition it replaces (test/conformance/nn-ops.test.ts checks both against the
 * float64 reference and finite differences).
 */
import { type Kernel, ParamLayout, entryBuiltins, linearWorkgroupIndex, spreadWorkgroups, storage, uniformParams } from "../../backend/kernel.ts";
import { DTypeError, ShapeError } from "../../errors.ts";
import { record } from "../autograd.ts";
import { isFloat } from "../dtype.ts";
import { Tensor } from "../tensor.ts";
import { contiguous } from "./views.ts";
import { ROW_WG, workgroupReduce } from "./wgsl-workgroup.ts";

interface RmsNormParams {
  /** backward for x only: add the partial gradient ACC already accumulated for x (dX = ACC + dx) */
  readonly accumulate?: boolean;
  readonly rows: number;
  /** D, the normalised (last) axis */
  readonly cols: number;
  readonly eps: number;
  /** element offsets of the inputs, in binding order (outputs are fresh, offset 0) */
  readonly offsets: readonly number[];
}

const layout = new ParamLayout([["rows", "u32"], ["cols", "u32"], ["eps", "f32"], ["off0", "u32"], ["off1", "u32"], ["off2", "u32"], ["off3", "u32"], ["off4", "u32"]] as const);
const pack = (p: RmsNormParams) =>
  layout.pack({ rows: p.rows, cols: p.cols, eps: p.eps, off0: p.offsets[0] ?? 0, off1: p.offsets[1] ?? 0, off2: p.offsets[2] ?? 0, off3: p.offsets[3] ?? 0, off4: p.offsets[4] ?? 0 });

/** Forward: (X (rows, D), W (D)) → (Y (rows, D), R (rows)). */
export const rmsNormKernel: Kernel<RmsNormParams> = {
  name: "rmsNorm",
  cpu([x, w, y, r], p) {
    const { rows, cols } = p;
    const [ox, ow] = [p.offsets[0]!, p.offsets[1]!];
    for (let row = 0; row < rows; row++) {
      const base = ox + row * cols;
      let ss = 0;
      for (let c = 0; c < cols; c++) ss += x![base + c]! * x![base + c]!;
      const inv = 1 / Math.sqrt(ss / cols + p.eps);
      r![row] = inv;
      for (let c = 0; c < cols; c++) y![row * cols + c] = x![base + c]! * inv * w![ow + c]!;
    }
  },
  gpu(p) {
    return {
      key: "rmsNorm",
      source: () => `
${storage(0, "X", "f32", "read")}
${storage(1, "W", "f32", "read")}
${storage(2, "Y", "f32", "read_write")}
${storage(3, "R", "f32", "read_write")}
${uniformParams(4, layout)}
${workgroupReduce}
@compute @workgroup_size(${ROW_WG})
fn main(${entryBuiltins}) {
  let row = ${linearWorkgroupIndex};
  if (row >= P.rows) { return; }
  let base = P.off0 + row * P.cols;
  var ss: f32 = 0.0;
  for (var c: u32 = lid; c < P.cols; c += ${ROW_WG}u) { let v = X[base + c]; ss += v * v; }
  ss = wg_sum(ss, lid);
  let inv = inverseSqrt(ss / f32(P.cols) + P.eps);
  if (lid == 0u) { R[row] = inv; }
  for (var c: u32 = lid; c < P.cols; c += ${ROW_WG}u) {
    Y[row * P.cols + c] = (X[base + c] * inv) * W[P.off1 + c];
  }
}`,
      uniforms: pack(p),
      workgroups: spreadWorkgroups(p.rows),
    };
  },
};

/**
 * Backward for x: (X, W, R, G[, ACC]) → dX, with u = w⊙g: dx = r·u − x·r³·mean(x⊙u), plus ACC (the
 * gradient that already reached x, see PartialGradients in autograd.ts) when `accumulate`.
 */
export const rmsNormBackwardKernel: Kernel<RmsNormParams> = {
  name: "rmsNormBackward",
  cpu(buffers, p) {
    const [x, w, r, g] = buffers;
    const partial = p.accumulate ? buffers[4] : undefined;
    const dx = buffers[p.accumulate ? 5 : 4]!;
    const { rows, cols } = p;
    const [ox, ow, or, og, oa] = [p.offsets[0]!, p.offsets[1]!, p.offsets[2]!, p.offsets[3]!, p.offsets[4] ?? 0];
    for (let row = 0; row < rows; row++) {
      const inv = r![or + row]!;
      let xu = 0; // Σ x⊙u
      for (let c = 0; c < cols; c++) xu += x![ox + row * cols + c]! * w![ow + c]! * g![og + row * cols + c]!;
      const k = (inv * inv * inv * xu) / cols;
      for (let c = 0; c < cols; c++) {
        const d = inv * w![ow + c]! * g![og + row * cols + c]! - x![ox + row * cols + c]! * k;
        dx[row * cols + c] = partial ? partial[oa + row * cols + c]! + d : d;
      }
    }
  },
  gpu(p) {
    return {
      key: `rmsNormBackward${p.accumulate ? ":acc" : ""}`,
      source: () => `
${storage(0, "X", "f32", "read")}
${storage(1, "W", "f32", "read")}
${storage(2, "R", "f32", "read")}
${storage(3, "G", "f32", "read")}
${p.accumulate ? storage(4, "ACC", "f32", "read") : ""}
${storage(p.accumulate ? 5 : 4, "DX", "f32", "read_write")}
${uniformParams(p.accumulate ? 6 : 5, layout)}
${workgroupReduce}
@compute @workgroup_size(${ROW_WG})
fn main(${entryBuiltins}) {
  let row = ${linearWorkgroupIndex};
  if (row >= P.rows) { return; }
  let xb = P.off0 + row * P.cols;
  let gb = P.off3 + row * P.cols;
  let inv = R[P.off2 + row];
  var acc: f32 = 0.0;
  for (var c: u32 = lid; c < P.cols; c += ${ROW_WG}u) { acc += X[xb + c] * W[P.off1 + c] * G[gb + c]; }
  acc = wg_sum(acc, lid);
  let k = inv * inv * inv * acc / f32(P.cols);
  for (var c: u32 = lid; c < P.cols; c += ${ROW_WG}u) {
    let d = inv * W[P.off1 + c] * G[gb + c] - X[xb + c] * k;
    DX[row * P.cols + c] = ${p.accumulate ? "ACC[P.off4 + row * P.cols + c] + d" : "d"};
  }
}`,
      uniforms: pack(p),
      workgroups: spreadWorkgroups(p.rows),
    };
  },
};

const COL_WG = 64;

/** Backward for w: (X, R, G) → dW, dw_c = Σ_rows g_c·x_c·r (one thread per column, rows in order). */
export const rmsNormWeightBackwardKernel: Kernel<RmsNormParams> = {
  name: "rmsNormWeightBackward",
  cpu([x, r, g, dw], p) {
    const { rows, cols } = p;
    const [ox, or, og] = [p.offsets[0]!, p.offsets[1]!, p.offsets[2]!];
    for (let c = 0; c < cols; c++) {
      let acc = 0;
      for (let row = 0; row < rows; row++) acc += g![og + row * cols + c]! * x![ox + row * cols + c]! * r![or + row]!;
      dw![c] = acc;
    }
  },
  gpu(p) {
    return {
      key: "rmsNormWeightBackward",
      source: () => `
${storage(0, "X", "f32", "read")}
${storage(1, "R", "f32", "read")}
${storage(2, "G", "f32", "read")}
${storage(3, "DW", "f32", "read_write")}
${uniformParams(4, layout)}
@compute @workgroup_size(${COL_WG})
fn main(${entryBuiltins}) {
  let c = ${linearWorkgroupIndex} * ${COL_WG}u + lid;
  if (c >= P.cols) { return; }
  var acc: f32 = 0.0;
  for (var row: u32 = 0u; row < P.rows; row++) {
    acc += G[P.off2 + row * P.cols + c] * X[P.off0 + row * P.cols + c] * R[P.off1 + row];
  }
  DW[c] = acc;
}`,
      uniforms: pack(p),
      workgroups: spreadWorkgroups(Math.ceil(p.cols / COL_WG)),
    };
  },
};

export interface RmsNormOptions {
  /** ε added to mean(x²); default 1e-6 (T5's layer_norm_epsilon) */
  readonly eps?: number;
}

/**
 * y = w ⊙ x / √(mean(x²) + ε) over the last axis: x (…, D), weight (D) → (…, D). Differentiable in both.
 */
export function rmsNorm(x: Tensor, weight: Tensor, options: RmsNormOptions = {}): Tensor {
  const op = "rmsNorm";
  const eps = options.eps ?? 1e-6;
  x.sameBackend(op, weight);
  if (!isFloat(x.dtype)) throw DTypeError.of(op, "float32", x.dtype);
  if (weight.dtype !== x.dtype) throw DTypeError.of(`${op} (weight)`, x.dtype, weight.dtype);
  const cols = x.shape[x.rank - 1] ?? 1;
  if (weight.rank !== 1 || weight.shape[0] !== cols) {
    throw ShapeError.of(op, [x.shape, weight.shape], "weight must be (D) with D the input's last axis");
  }
  const rows = cols === 0 ? 0 : x.size / cols;
  const xc = contiguous(x);
  const wc = contiguous(weight);
  const backend = x.backend;
  const y = Tensor.empty(backend, x.shape, x.dtype);
  const r = Tensor.empty(backend, [rows], x.dtype); // (rows): 1/rms per row
  backend.dispatch(rmsNormKernel, { rows, cols, eps, offsets: [xc.offset, wc.offset] }, [xc, wc, y, r].map((t) => t.bufferFor(op)));
  const out = record(
    op,
    y,
    [xc, wc],
    (g, [sx, sw, sr], partials) => {
      const gc = contiguous(g);
      let dx: Tensor | null = null;
      let dw: Tensor | null = null;
      if (xc.requiresGrad) {
        // the residual stream's gradient usually reached x already: add it in the same launch
        const acc = partials.take(0);
        dx = Tensor.empty(g.backend, sx!.shape, g.dtype);
        const params = { accumulate: acc !== null, rows, cols, eps, offsets: [sx!.offset, sw!.offset, sr!.offset, gc.offset, acc?.offset ?? 0] };
        g.backend.dispatch(rmsNormBackwardKernel, params, [sx!, sw!, sr!, gc, ...(acc ? [acc] : []), dx].map((t) => t.bufferFor(op)));
      }
      if (wc.requiresGrad) {
        dw = Tensor.empty(g.backend, sw!.shape, g.dtype);
        const params = { rows, cols, eps, offsets: [sx!.offset, sr!.offset, gc.offset] };
        g.backend.dispatch(rmsNormWeightBackwardKernel, params, [sx!, sr!, gc, dw].map((t) => t.bufferFor(op)));
      }
      return [dx, dw];
    },
    [xc, wc, r],
  );
  r.dispose();
  if (xc !== x) xc.dispose();
  if (wc !== weight) wc.dispose();
  return out;
}
