import type { OpCase, Tolerance } from "../harness/check-op.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { conformanceSuite } from "../harness/suite.ts";

// float32 sums of n terms: error grows like n·ulp in the worst case, √n·ulp typically; stated against the
// output's scale (atol) since sums of signed values can cancel to near 0.
const SUM: Tolerance = { rtol: 1e-5, atol: 2e-6 };
const EXACT: Tolerance = { rtol: 0, atol: 0 };
const GRAD: Tolerance = { rtol: 1e-5, atol: 1e-6 };

const cases: OpCase[] = [
  { name: "sum axis 0 [37,17]", inputs: [{ shape: [37, 17] }], fn: (x) => x.sum(0), forward: SUM, gradient: GRAD },
  { name: "sum all [129,37]", inputs: [{ shape: [129, 37] }], fn: (x) => x.sum(), forward: SUM, gradient: GRAD },
  { name: "sum axes [0,2] keepDims [3,17,5]", inputs: [{ shape: [3, 17, 5] }], fn: (x) => x.sum([0, 2], { keepDims: true }), forward: SUM, gradient: GRAD },
  { name: "sum long rows [3,1000]", inputs: [{ shape: [3, 1000] }], fn: (x) => x.sum(-1), forward: SUM, gradient: GRAD },
  { name: "sum 0-d", inputs: [{ shape: [] }], fn: (x) => x.sum(), forward: SUM, gradient: GRAD },
  { name: "mean axis -1 [17,37]", inputs: [{ shape: [17, 37] }], fn: (x) => x.mean(-1), forward: SUM, gradient: GRAD },
  { name: "mean axis 1 keepDims [3,129,1]", inputs: [{ shape: [3, 129, 1] }], fn: (x) => x.mean(1, { keepDims: true }), forward: SUM, gradient: GRAD },
  { name: "max axis 1 [17,37]", inputs: [{ shape: [17, 37] }], fn: (x) => x.max(1), forward: EXACT, gradient: GRAD },
  { name: "max all [3,17,5]", inputs: [{ shape: [3, 17, 5] }], fn: (x) => x.max(), forward: EXACT, gradient: GRAD },
  { name: "max axis 0 long [1000,3]", inputs: [{ shape: [1000, 3] }], fn: (x) => x.max(0), forward: EXACT, gradient: GRAD },
  // T5 RMSNorm: x · rsqrt(mean(x²) + eps) · w
  {
    name: "rms norm composition [3,17,37]·[37]",
    inputs: [{ shape: [3, 17, 37] }, { shape: [37] }],
    fn: (x, w) => x.mul(x.square().mean(-1, { keepDims: true }).add(1e-6).rsqrt()).mul(w),
    forward: { rtol: 2e-5, atol: 1e-6 },
    gradient: { rtol: 2e-5, atol: 2e-6 },
  },
];

export function register(backends: readonly NamedBackend[]): void {
  conformanceSuite("reduce", cases, backends);
}
