import { where } from "../../core/tensor/ops/elementwise.ts";
import type { OpCase, Tolerance } from "../harness/check-op.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { conformanceSuite } from "../harness/suite.ts";

// float32 elementwise: 1e-5 relative, plus 1e-7 of the output's scale for values near 0.
const EW: Tolerance = { rtol: 1e-5, atol: 1e-7 };
// gradients that pass through a broadcast sum: a few ulps per summed element; tanh' = 1 − y² computed
// from the float32 output y (as PyTorch does) loses ~2·ulp(1) absolutely where |y| → 1.
const EW_GRAD: Tolerance = { rtol: 1e-5, atol: 1e-6 };
const positive = { kind: "uniform", low: 0.1, high: 10 } as const;

const cases: OpCase[] = [
  // inner axes that are multiples of 4 run four elements per invocation on WebGPU (vector and splat operands)
  { name: "vec4: add row-broadcast [3,16]+[16]", inputs: [{ shape: [3, 16] }, { shape: [16] }], fn: (a, b) => a.add(b), forward: EW, gradient: EW_GRAD },
  { name: "vec4: mul column-broadcast [3,8,12]*[3,8,1]", inputs: [{ shape: [3, 8, 12] }, { shape: [3, 8, 1] }], fn: (a, b) => a.mul(b), forward: EW, gradient: EW_GRAD },
  { name: "vec4: gelu, exp, dropout [4,32]", inputs: [{ shape: [4, 32] }], fn: (a) => a.gelu().add(a.exp()).dropout(0.25, { seed: 3 }), forward: EW, gradient: EW },
  {
    name: "vec4: where with int32 mask [2,8] and scalar [1]",
    inputs: [{ shape: [2, 8], domain: { kind: "int", low: 0, high: 2 } }, { shape: [2, 8] }, { shape: [1] }],
    fn: (m, a, b) => where(m, a, b),
    forward: { rtol: 0, atol: 0 },
    gradient: EW_GRAD,
  },
  { name: "add [17,37]+[17,37]", inputs: [{ shape: [17, 37] }, { shape: [17, 37] }], fn: (a, b) => a.add(b), forward: EW, gradient: EW_GRAD },
  { name: "add broadcast [3,1,37]+[17,1]", inputs: [{ shape: [3, 1, 37] }, { shape: [17, 1] }], fn: (a, b) => a.add(b), forward: EW, gradient: EW_GRAD },
  { name: "add 0-d + [3,17]", inputs: [{ shape: [] }, { shape: [3, 17] }], fn: (a, b) => a.add(b), forward: EW, gradient: EW_GRAD },
  { name: "sub broadcast [129]-[3,129]", inputs: [{ shape: [129] }, { shape: [3, 129] }], fn: (a, b) => a.sub(b), forward: EW, gradient: EW_GRAD },
  { name: "mul broadcast rank 5 [2,3,1,5,7]*[3,4,1,7]", inputs: [{ shape: [2, 3, 1, 5, 7] }, { shape: [3, 4, 1, 7] }], fn: (a, b) => a.mul(b), forward: EW, gradient: EW_GRAD },
  { name: "mul self x*x", inputs: [{ shape: [37] }], fn: (a) => a.mul(a), forward: EW, gradient: EW_GRAD },
  { name: "div [17,37]/[37]", inputs: [{ shape: [17, 37] }, { shape: [37], domain: positive }], fn: (a, b) => a.div(b), forward: EW, gradient: EW_GRAD },
  { name: "scalar ops (x+2.5)*-1.5/3-0.25", inputs: [{ shape: [3, 17] }], fn: (a) => a.add(2.5).mul(-1.5).div(3).sub(0.25), forward: EW, gradient: EW },
  { name: "neg [1]", inputs: [{ shape: [1] }], fn: (a) => a.neg(), forward: EW, gradient: EW },
  { name: "exp [17,37]", inputs: [{ shape: [17, 37], domain: { kind: "normal", scale: 3 } }], fn: (a) => a.exp(), forward: EW, gradient: EW },
  { name: "log [37,3]", inputs: [{ shape: [37, 3], domain: positive }], fn: (a) => a.log(), forward: EW, gradient: EW },
  { name: "sqrt [129]", inputs: [{ shape: [129], domain: positive }], fn: (a) => a.sqrt(), forward: EW, gradient: EW },
  { name: "rsqrt [17,3]", inputs: [{ shape: [17, 3], domain: positive }], fn: (a) => a.rsqrt(), forward: EW, gradient: EW },
  { name: "square [3,37]", inputs: [{ shape: [3, 37] }], fn: (a) => a.square(), forward: EW, gradient: EW },
  { name: "pow 3 of signed [17,3]", inputs: [{ shape: [17, 3] }], fn: (a) => a.pow(3), forward: EW, gradient: EW },
  { name: "pow 0.5 of positive [37]", inputs: [{ shape: [37], domain: positive }], fn: (a) => a.pow(0.5), forward: EW, gradient: EW },
  { name: "pow -1.5 of positive [37]", inputs: [{ shape: [37], domain: positive }], fn: (a) => a.pow(-1.5), forward: EW, gradient: EW },
  { name: "abs [129]", inputs: [{ shape: [129] }], fn: (a) => a.abs(), forward: EW, gradient: EW },
  { name: "relu [129,37]", inputs: [{ shape: [129, 37] }], fn: (a) => a.relu(), forward: EW, gradient: EW },
  { name: "gelu (tanh) [17,37] wide range", inputs: [{ shape: [17, 37], domain: { kind: "normal", scale: 3 } }], fn: (a) => a.gelu(), forward: EW, gradient: EW },
  { name: "exact gelu (erf) [17,37] wide range", inputs: [{ shape: [17, 37], domain: { kind: "normal", scale: 4 } }], fn: (a) => a.geluErf(), forward: EW, gradient: EW },
  { name: "silu [129]", inputs: [{ shape: [129], domain: { kind: "normal", scale: 4 } }], fn: (a) => a.silu(), forward: EW, gradient: EW },
  { name: "tanh [17,37]", inputs: [{ shape: [17, 37], domain: { kind: "normal", scale: 2 } }], fn: (a) => a.tanh(), forward: EW, gradient: EW_GRAD },
  { name: "tanh near zero [37]", inputs: [{ shape: [37], domain: { kind: "normal", scale: 0.01 } }], fn: (a) => a.tanh(), forward: EW, gradient: EW },
  { name: "gt / le masks [17,37] vs [37]", inputs: [{ shape: [17, 37] }, { shape: [37] }], fn: (a, b) => a.gt(b).add(a.le(0).mul(2)), forward: { rtol: 0, atol: 0 } },
  {
    name: "where(a>0, b, c) broadcast",
    inputs: [{ shape: [17, 1] }, { shape: [17, 37] }, { shape: [37] }],
    fn: (a, b, c) => where(a.gt(0), b, c),
    forward: { rtol: 0, atol: 0 },
    gradient: EW_GRAD,
  },
  {
    name: "maskedFill with int32 mask [3,17,37]",
    inputs: [{ shape: [3, 17, 37] }, { shape: [3, 1, 37], domain: { kind: "int", low: 0, high: 2 } }],
    fn: (x, m) => x.maskedFill(m, -5),
    forward: { rtol: 0, atol: 0 },
    gradient: EW,
  },
];

export function register(backends: readonly NamedBackend[]): void {
  conformanceSuite("elementwise", cases, backends);
}
