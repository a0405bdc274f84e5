/**
 * softmax(x + b) over the last axis in one launch, for attention: x the scores (…, L, K), b an additive
 * bias broadcastable to them (T5: relative position bias plus the mask, (B, H, L, K), or the padding
 * mask alone, (B, 1, 1, K), in cross-attention). It replaces the add and the softmax launches of
 * `x.add(b).softmax(-1)` and must agree with them (test/conformance/nn-ops.test.ts checks both).
 *
 *   z = x + b (broadcast),  y = exp(z − m) / Σ exp(z − m)        m = max z (per row)
 *   dz = y ⊙ (g − Σ g⊙y)       (softmax's backward kernel, see softmax.ts)
 *   dx = dz,  db = dz summed over the axes b was broadcast along
 *
 * One workgroup per row (the rows of x's last axis); the bias row is found through b's broadcast strides.
 */
import { type Kernel, ParamLayout, entryBuiltins, storage, uniformParams } from "../../backend/kernel.ts";
import { DTypeError, ShapeError } from "../../errors.ts";
import { record } from "../autograd.ts";
import { isFloat } from "../dtype.ts";
import { broadcastShapes, broadcastStrides, sameShape } from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { sumToShape } from "./reduce.ts";
import { softmaxBackwardKernel } from "./softmax.ts";
import { type Operand, checkRank, collapse, forEachStrided, stridedFields, stridedValues, wgslOffsets } from "./strided.ts";
import { contiguous } from "./views.ts";
import { ROW_WG, rowMapping, wgslRowMaxSumExp } from "./wgsl-workgroup.ts";

interface BiasedSoftmaxParams {
  readonly rows: number;
  readonly cols: number;
  /** element offset of x (contiguous rows) */
  readonly xOffset: number;
  /** b over the rows (the leading axes, collapsed): its offset and strides per row axis */
  readonly rowShape: readonly number[];
  readonly bias: Operand;
  /** b's stride along the last axis (0 when broadcast along it) */
  readonly biasColStride: number;
}

function layoutOf(rank: number) {
  return new ParamLayout([...stridedFields(rank, ["b"]), ["cols", "u32"], ["xoff", "u32"], ["bcol", "u32"]]);
}

/** (X (rows, K), B (broadcast)) → Y = softmax(X + B) per row. */
export const biasedSoftmaxKernel: Kernel<BiasedSoftmaxParams> = {
  name: "biasedSoftmax",
  cpu([x, b, y], p) {
    const { cols } = p;
    const z = new Float64Array(cols);
    forEachStrided(p.rowShape, [p.bias], (row, ob) => {
      const base = p.xOffset + row * cols;
      let m = -Infinity;
      for (let c = 0; c < cols; c++) {
        // rounded to the output's precision, as the add the kernel replaces stores it
        const v = x![base + c]! + b![ob + c * p.biasColStride]!;
        z[c] = y instanceof Float32Array ? Math.fround(v) : v;
        m = Math.max(m, z[c]!);
      }
      let s = 0;
      for (let c = 0; c < cols; c++) s += Math.exp(z[c]! - m);
      for (let c = 0; c < cols; c++) y![row * cols + c] = Math.exp(z[c]! - m) / s;
    });
  },
  gpu(p) {
    const rank = p.rowShape.length;
    const layout = layoutOf(rank);
    const m = rowMapping(p.cols); // a thread per short row (see wgsl-workgroup.ts), like softmax
    return {
      key: `biasedSoftmax:r${rank}${m.keySuffix}`,
      source: () => `
${storage(0, "X", "f32", "read")}
${storage(1, "B", "f32", "read")}
${storage(2, "Y", "f32", "read_write")}
${uniformParams(3, layout)}
${m.helpers}
@compute @workgroup_size(${ROW_WG})
fn main(${entryBuiltins}) {
  ${m.enter("P.n")}
  ${wgslOffsets(rank, ["b"], "row")}
  let base = P.xoff + row * P.cols;
  ${wgslRowMaxSumExp("(X[base + c] + B[b_o + c * P.bcol])", "P.cols", m)}
  let inv = 1.0 / row_sum;
  for (var c: u32 = ${m.first}; c < P.cols; c += ${m.stride}) {
    Y[row * P.cols + c] = exp(X[base + c] + B[b_o + c * P.bcol] - row_max) * inv;
  }
}`,
      uniforms: layout.pack({ ...stridedValues(p.rowShape, ["b"], [p.bias]), cols: p.cols, xoff: p.xOffset, bcol: p.biasColStride }),
      workgroups: m.workgroups(p.rows),
    };
  },
};

/**
 * softmax(x + bias, −1) with `bias` broadcastable to x's shape (not the other way round); differentiable
 * in both. Falls back to the composition when the bias would broadcast x.
 */
export function biasedSoftmax(x: Tensor, bias: Tensor): Tensor {
  const op = "biasedSoftmax";
  x.sameBackend(op, bias);
  if (!isFloat(x.dtype)) throw DTypeError.of(op, "float32", x.dtype);
  if (bias.dtype !== x.dtype) throw DTypeError.of(`${op} (bias)`, x.dtype, bias.dtype);
  if (x.rank === 0 || !sameShape(broadcastShapes(op, x.shape, bias.shape), x.shape)) {
    const z = x.add(bias);
    const y = z.softmax(-1);
    z.dispose();
    return y;
  }
  const cols = x.shape[x.rank - 1]!;
  const rows = cols === 0 ? 0 : x.size / cols;
  const xc = contiguous(x);
  const strides = broadcastStrides(bias.shape, bias.strides, x.shape);
  const rowAxes = collapse(x.shape.slice(0, -1), [{ offset: bias.offset, strides: strides.slice(0, -1) }]);
  checkRank(op, rowAxes.shape);
  const y = Tensor.empty(x.backend, x.shape, x.dtype);
  const params: BiasedSoftmaxParams = { rows, cols, xOffset: xc.offset, rowShape: rowAxes.shape, bias: rowAxes.operands[0]!, biasColStride: strides[strides.length - 1]! };
  x.backend.dispatch(biasedSoftmaxKernel, params, [xc.bufferFor(op), bias.bufferFor(op), y.bufferFor(op)]);
  const out = record(
    op,
    y,
    [xc, bias],
    (g, [sy]) => {
      const gc = contiguous(g);
      const dz = Tensor.empty(g.backend, g.shape, g.dtype);
      g.backend.dispatch(softmaxBackwardKernel, { variant: "softmax", rows, cols, offsets: [sy!.offset, gc.offset] }, [sy!.bufferFor(op), gc.bufferFor(op), dz.bufferFor(op)]);
      return [dz, bias.requiresGrad ? sumToShape(dz, bias.shape) : null];
    },
    [y],
  );
  if (xc !== x) xc.dispose();
  return out;
}
