import { concat } from "../../core/tensor/ops/views.ts";
import { crossEntropy } from "../../core/tensor/ops/cross-entropy.ts";
import { gather } from "../../core/tensor/ops/gather.ts";
import type { OpCase, Tolerance } from "../harness/check-op.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { conformanceSuite } from "../harness/suite.ts";

const ROW: Tolerance = { rtol: 1e-5, atol: 1e-6 };
const ROW_GRAD: Tolerance = { rtol: 1e-5, atol: 2e-6 };
const EXACT: Tolerance = { rtol: 0, atol: 0 };
// x·1.5 is one float32 rounding away from the float64 value
const SCALED: Tolerance = { rtol: 1e-7, atol: 0 };
const labels = (shape: number[], classes: number) => ({ shape, domain: { kind: "int", low: 0, high: classes, extra: [-100] } as const });

const cases: OpCase[] = [
  { name: "softmax [17,37]", inputs: [{ shape: [17, 37], domain: { kind: "normal", scale: 4 } }], fn: (x) => x.softmax(-1), forward: ROW, gradient: ROW_GRAD },
  { name: "softmax axis 1 [3,17,5]", inputs: [{ shape: [3, 17, 5] }], fn: (x) => x.softmax(1), forward: ROW, gradient: ROW_GRAD },
  { name: "softmax long rows [3,1000]", inputs: [{ shape: [3, 1000], domain: { kind: "normal", scale: 4 } }], fn: (x) => x.softmax(), forward: ROW, gradient: ROW_GRAD },
  { name: "log-softmax [129,37]", inputs: [{ shape: [129, 37], domain: { kind: "normal", scale: 4 } }], fn: (x) => x.logSoftmax(), forward: ROW, gradient: ROW_GRAD },
  { name: "log-softmax axis 0 [37,3]", inputs: [{ shape: [37, 3] }], fn: (x) => x.logSoftmax(0), forward: ROW, gradient: ROW_GRAD },
  {
    name: "gather rows [37,17] by ids [3,5]",
    inputs: [{ shape: [37, 17] }, { shape: [3, 5], domain: { kind: "int", low: 0, high: 37 } }],
    fn: (t, ids) => gather(t, ids),
    forward: EXACT,
    gradient: ROW_GRAD,
  },
  {
    name: "gather repeated ids [5,4,3] by [129]",
    inputs: [{ shape: [5, 4, 3] }, { shape: [129], domain: { kind: "int", low: 0, high: 5 } }],
    fn: (t, ids) => gather(t, ids),
    forward: EXACT,
    gradient: ROW_GRAD,
  },
  {
    name: "cross-entropy mean, ignore -100 [17,37]",
    inputs: [{ shape: [17, 37], domain: { kind: "normal", scale: 3 } }, labels([17], 37)],
    fn: (x, y) => crossEntropy(x, y),
    forward: ROW,
    gradient: ROW_GRAD,
  },
  {
    name: "cross-entropy sum [3,5,129]",
    inputs: [{ shape: [3, 5, 129], domain: { kind: "normal", scale: 3 } }, labels([3, 5], 129)],
    fn: (x, y) => crossEntropy(x, y, { reduction: "sum" }),
    forward: ROW,
    gradient: ROW_GRAD,
  },
  {
    name: "cross-entropy none [17,3]",
    inputs: [{ shape: [17, 3] }, labels([17], 3)],
    fn: (x, y) => crossEntropy(x, y, { reduction: "none" }),
    forward: ROW,
    gradient: ROW_GRAD,
  },
  { name: "dropout p=0.3 seed 7 [17,37]", inputs: [{ shape: [17, 37] }], fn: (x) => x.dropout(0.3, { seed: 7 }), forward: { rtol: 1e-6, atol: 0 }, gradient: { rtol: 1e-6, atol: 0 } },
  { name: "concat axis 0 [3,17]+[5,17]", inputs: [{ shape: [3, 17] }, { shape: [5, 17] }], fn: (a, b) => concat([a, b], 0), forward: EXACT, gradient: EXACT },
  {
    name: "concat axis 1 [3,4]+[3,7]+[3,1]",
    inputs: [{ shape: [3, 4] }, { shape: [3, 7] }, { shape: [3, 1] }],
    fn: (a, b, c) => concat([a, b, c], 1),
    forward: EXACT,
    gradient: EXACT,
  },
  { name: "reshape of a view [3,17,5]→[17,15]", inputs: [{ shape: [3, 17, 5] }], fn: (x) => x.reshape([17, 15]).mul(2), forward: EXACT, gradient: EXACT },
  { name: "permute + slice + expand [3,17,5]", inputs: [{ shape: [3, 17, 5] }], fn: (x) => x.permute([2, 0, 1]).slice([null, [1, 3], [2, -3]]).unsqueeze(0).expand([2, 5, 2, 12]).mul(1.5), forward: SCALED, gradient: ROW_GRAD },
];

export function register(backends: readonly NamedBackend[]): void {
  conformanceSuite("nn ops", cases, backends);
}
