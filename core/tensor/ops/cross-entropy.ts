/**
 * Cross-entropy over the last axis, PyTorch semantics: logits (…, C), int32 labels (…); rows whose label
 * equals `ignoreIndex` (default −100, what HF uses for padding in labels) contribute nothing.
 *
 *   lse_r = log Σ_c exp(x_rc),  nll_r = lse_r − x_r,label_r   (0 for ignored rows)
 *   reduction "mean": Σ nll / #non-ignored (NaN when every row is ignored, as in PyTorch)
 *             "sum":  Σ nll;  "none": nll per row
 *   d loss / d x_rc = (softmax(x_r)_c − [c = label_r]) · ĝ_r   with ĝ_r = g/count, g, or g_r
 * A label outside [0, C) that is not ignored makes its row's loss NaN (and is rejected eagerly when the
 * labels came from host data): a wrong number must never look right.
 */
import { type Kernel, ParamLayout, entryBuiltins, linearWorkgroupIndex, spreadWorkgroups, storage, uniformParams } from "../../backend/kernel.ts";
import { DTypeError, InvalidArgumentError, ShapeError } from "../../errors.ts";
import { record } from "../autograd.ts";
import { isFloat } from "../dtype.ts";
import { sameShape } from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { elementwise } from "./elementwise.ts";
import { checkIds } from "./gather.ts";
import { sum } from "./reduce.ts";
import { contiguous } from "./views.ts";
import { ROW_WG, rowMaxSumExp, wgslRowMaxSumExp, workgroupReduce } from "./wgsl-workgroup.ts";

interface CeParams {
  readonly rows: number;
  readonly classes: number;
  readonly ignoreIndex: number;
  readonly logitsOffset: number;
  readonly labelsOffset: number;
  /** backward only: offset of the per-row gradient and its stride (0 = one scalar for all rows) */
  readonly gradOffset: number;
  readonly gradStride: number;
}

const layout = new ParamLayout(
  [["rows", "u32"], ["C", "u32"], ["ignore", "i32"], ["xoff", "u32"], ["loff", "u32"], ["goff", "u32"], ["gstride", "u32"]] as const,
);
const pack = (p: CeParams) =>
  layout.pack({ rows: p.rows, C: p.classes, ignore: p.ignoreIndex, xoff: p.logitsOffset, loff: p.labelsOffset, goff: p.gradOffset, gstride: p.gradStride });

/** (logits, labels) → (nll, lse, valid) per row. */
export const crossEntropyKernel: Kernel<CeParams> = {
  name: "crossEntropy",
  cpu([x, labels, nll, lse, valid], p) {
    const C = p.classes;
    for (let r = 0; r < p.rows; r++) {
      const base = p.logitsOffset + r * C;
      const [m, s] = rowMaxSumExp(x!, base, C);
      const l = m + Math.log(s);
      const label = labels![p.labelsOffset + r]!;
      const ignored = label === p.ignoreIndex;
      lse![r] = l;
      valid![r] = ignored ? 0 : 1;
      nll![r] = ignored ? 0 : label >= 0 && label < C ? l - x![base + label]! : NaN;
    }
  },
  gpu(p) {
    return {
      key: "crossEntropy",
      source: () => `
${storage(0, "X", "f32", "read")}
${storage(1, "L", "i32", "read")}
${storage(2, "NLL", "f32", "read_write")}
${storage(3, "LSE", "f32", "read_write")}
${storage(4, "VALID", "f32", "read_write")}
${uniformParams(5, layout)}
${workgroupReduce}
@compute @workgroup_size(${ROW_WG})
fn main(${entryBuiltins}) {
  let row = ${linearWorkgroupIndex};
  if (row >= P.rows) { return; }
  let base = P.xoff + row * P.C;
  ${wgslRowMaxSumExp("X[base + c]", "P.C")}
  if (lid == 0u) {
    let lse = row_max + log(row_sum);
    let label = L[P.loff + row];
    let ignored = label == P.ignore;
    var nll: f32 = 0.0;
    if (!ignored) {
      if (label >= 0 && u32(label) < P.C) { nll = lse - X[base + u32(label)]; }
      else { nll = nan(); }
    }
    NLL[row] = nll;
    LSE[row] = lse;
    VALID[row] = select(1.0, 0.0, ignored);
  }
}`,
      uniforms: pack(p),
      workgroups: spreadWorkgroups(p.rows),
    };
  },
};

/** (logits, labels, lse, ĝ) → dlogits. */
export const crossEntropyBackwardKernel: Kernel<CeParams> = {
  name: "crossEntropyBackward",
  cpu([x, labels, lse, g, dx], p) {
    const C = p.classes;
    for (let r = 0; r < p.rows; r++) {
      const label = labels![p.labelsOffset + r]!;
      const scale = g![p.gradOffset + r * p.gradStride]!;
      for (let c = 0; c < C; c++) {
        dx![r * C + c] =
          label === p.ignoreIndex ? 0 : (Math.exp(x![p.logitsOffset + r * C + c]! - lse![r]!) - (c === label ? 1 : 0)) * scale;
      }
    }
  },
  gpu(p) {
    return {
      key: "crossEntropyBackward",
      source: () => `
${storage(0, "X", "f32", "read")}
${storage(1, "L", "i32", "read")}
${storage(2, "LSE", "f32", "read")}
${storage(3, "G", "f32", "read")}
${storage(4, "DX", "f32", "read_write")}
${uniformParams(5, layout)}
@compute @workgroup_size(64)
fn main(${entryBuiltins}) {
  let i = ${linearWorkgroupIndex} * 64u + lid;
  if (i >= P.rows * P.C) { return; }
  let r = i / P.C;
  let c = i % P.C;
  let label = L[P.loff + r];
  var d: f32 = 0.0;
  if (label != P.ignore) {
    let prob = exp(X[P.xoff + i] - LSE[r]);
    d = (prob - select(0.0, 1.0, i32(c) == label)) * G[P.goff + r * P.gstride];
  }
  DX[i] = d;
}`,
      uniforms: pack(p),
      workgroups: spreadWorkgroups(Math.ceil((p.rows * p.classes) / 64)),
    };
  },
};

export interface CrossEntropyOptions {
  /** Label value whose rows are skipped. Default −100. */
  readonly ignoreIndex?: number;
  /** Default "mean" over non-ignored rows. */
  readonly reduction?: "mean" | "sum" | "none";
}

export function crossEntropy(logits: Tensor, labels: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = options.ignoreIndex ?? -100;
  const reduction = options.reduction ?? "mean";
  if (!["mean", "sum", "none"].includes(reduction)) {
    throw InvalidArgumentError.of("crossEntropy", "reduction", `"${reduction}" (use "mean", "sum" or "none")`);
  }
  logits.sameBackend("crossEntropy", labels);
  if (!isFloat(logits.dtype)) throw DTypeError.of("crossEntropy (logits)", "float32", logits.dtype);
  if (labels.dtype !== "int32") throw DTypeError.of("crossEntropy (labels)", "int32", labels.dtype);
  if (logits.rank < 1 || !sameShape(logits.shape.slice(0, -1), labels.shape)) {
    throw ShapeError.of("crossEntropy", [logits.shape, labels.shape], "labels must have the shape of logits without its last (class) axis");
  }
  const classes = logits.shape[logits.rank - 1]!;
  checkIds("crossEntropy (labels)", labels, classes, ignoreIndex);
  const rows = labels.size;
  const xc = contiguous(logits);
  const lc = contiguous(labels);
  const backend = logits.backend;
  const nll = Tensor.empty(backend, labels.shape, logits.dtype);
  const lse = Tensor.empty(backend, [rows], logits.dtype);
  const valid = Tensor.empty(backend, [rows], logits.dtype);
  const base = { rows, classes, ignoreIndex, logitsOffset: xc.offset, labelsOffset: lc.offset, gradOffset: 0, gradStride: 0 };
  backend.dispatch(crossEntropyKernel, base, [xc, lc, nll, lse, valid].map((t) => t.bufferFor("crossEntropy")));

  let out: Tensor;
  let count: Tensor | null = null;
  if (reduction === "none") {
    out = nll;
  } else {
    const total = sum(nll);
    nll.dispose();
    if (reduction === "sum") {
      out = total;
    } else {
      count = sum(valid);
      out = elementwise("div", [total, count]);
      total.dispose();
    }
  }
  valid.dispose();
  const result = record(
    "crossEntropy",
    out,
    [xc, lc],
    (g, [sx, sl, slse, scount]) => {
      const scale = contiguous(scount ? elementwise("div", [g, scount]) : g);
      const dx = Tensor.empty(g.backend, sx!.shape, g.dtype);
      const params = { ...base, logitsOffset: sx!.offset, labelsOffset: sl!.offset, gradOffset: scale.offset, gradStride: reduction === "none" ? 1 : 0 };
      g.backend.dispatch(crossEntropyBackwardKernel, params, [sx!, sl!, slse!, scale, dx].map((t) => t.bufferFor("crossEntropy")));
      return [dx, null];
    },
    count ? [xc, lc, lse, count] : [xc, lc, lse],
  );
  lse.dispose();
  count?.dispose();
  if (xc !== logits) xc.dispose();
  if (lc !== labels) lc.dispose();
  return result;
}
