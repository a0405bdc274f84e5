import { concat } from "../../core/tensor/ops/views.ts";
import { crossEntropy } from "../../core/tensor/ops/cross-entropy.ts";
import { gather } from "../../core/tensor/ops/gather.ts";
import { rmsNorm } from "../../core/tensor/ops/rms-norm.ts";
import { addN } from "../../core/tensor/ops/add-n.ts";
import { biasedSoftmax } from "../../core/tensor/ops/biased-softmax.ts";
import { dropout, dropoutAdd } from "../../core/tensor/ops/dropout.ts";
import { addScaled } from "../../core/tensor/ops/elementwise.ts";
import { MASK_VALUE } from "../../core/models/t5/model.ts";
import { tensor } from "../../core/tensor/create.ts";
import { Generator } from "../../core/tensor/random.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";
import { suite } from "uvu";
import { type OpCase, type Tolerance, assertClose } from "../harness/check-op.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { conformanceSuite } from "../harness/suite.ts";

const ROW: Tolerance = { rtol: 1e-5, atol: 1e-6 };
const ROW_GRAD: Tolerance = { rtol: 1e-5, atol: 2e-6 };
const EXACT: Tolerance = { rtol: 0, atol: 0 };
// a float32 sum of a few terms against the float64 one
const SUM3: Tolerance = { rtol: 1e-6, atol: 1e-7 };
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
  // fused T5 RMSNorm (core/tensor/ops/rms-norm.ts); the composition it replaces is the case in reduce.test.ts
  { name: "rms norm fused [3,17,37]·[37]", inputs: [{ shape: [3, 17, 37] }, { shape: [37] }], fn: (x, w) => rmsNorm(x, w, { eps: 1e-6 }), forward: { rtol: 2e-5, atol: 1e-6 }, gradient: { rtol: 2e-5, atol: 2e-6 } },
  {
    name: "rms norm fused long rows, small values [5,1000]·[1000]",
    inputs: [{ shape: [5, 1000], domain: { kind: "normal", scale: 1e-3 } }, { shape: [1000] }],
    fn: (x, w) => rmsNorm(x, w, { eps: 1e-6 }),
    forward: { rtol: 2e-5, atol: 1e-6 },
    gradient: { rtol: 5e-5, atol: 5e-6 },
  },
  { name: "rms norm fused eps 0.1, one row [37]·[37]", inputs: [{ shape: [37] }, { shape: [37] }], fn: (x, w) => rmsNorm(x, w, { eps: 0.1 }), forward: { rtol: 2e-5, atol: 1e-6 }, gradient: { rtol: 2e-5, atol: 2e-6 } },
  // x feeds the norm and a residual add: the norm's dx kernel adds the residual's gradient (contiguous layout)
  { name: "rms norm fused + residual [2,5,37]·[37]", inputs: [{ shape: [2, 5, 37] }, { shape: [37] }], fn: (x, w) => rmsNorm(x, w, { eps: 1e-6 }).add(x), forward: { rtol: 2e-5, atol: 1e-6 }, gradient: { rtol: 2e-5, atol: 2e-6 } },
  { name: "addN of 3 [17,37]", inputs: [{ shape: [17, 37] }, { shape: [17, 37] }, { shape: [17, 37] }], fn: (a, b, c) => addN([a, b, c]), forward: SUM3, gradient: EXACT },
  { name: "addN of 9 [3,4,5] (two launches)", inputs: Array.from({ length: 9 }, () => ({ shape: [3, 4, 5] })), fn: (...xs) => addN(xs), forward: SUM3, gradient: EXACT },
  { name: "addN of a tensor and itself, with a product [4,8]", inputs: [{ shape: [4, 8] }, { shape: [4, 8] }], fn: (a, b) => addN([a, a.mul(b), b]), forward: SUM3, gradient: ROW_GRAD },
  // fused attention softmax(scores + bias) (core/tensor/ops/biased-softmax.ts)
  { name: "biased softmax, full bias [2,3,5,7]+[2,3,5,7]", inputs: [{ shape: [2, 3, 5, 7], domain: { kind: "normal", scale: 3 } }, { shape: [2, 3, 5, 7] }], fn: (x, b) => biasedSoftmax(x, b), forward: ROW, gradient: ROW_GRAD },
  { name: "biased softmax, position bias [2,3,5,7]+[1,3,5,7]", inputs: [{ shape: [2, 3, 5, 7], domain: { kind: "normal", scale: 3 } }, { shape: [1, 3, 5, 7] }], fn: (x, b) => biasedSoftmax(x, b), forward: ROW, gradient: ROW_GRAD },
  { name: "biased softmax, mask row [2,3,5,70]+[2,1,1,70]", inputs: [{ shape: [2, 3, 5, 70], domain: { kind: "normal", scale: 3 } }, { shape: [2, 1, 1, 70] }], fn: (x, b) => biasedSoftmax(x, b), forward: ROW, gradient: ROW_GRAD },
  { name: "biased softmax, one row [9]+[9]", inputs: [{ shape: [9] }, { shape: [9] }], fn: (x, b) => biasedSoftmax(x, b), forward: ROW, gradient: ROW_GRAD },
  // fused adds (elementwise.ts addScaled, dropout.ts dropoutAdd); the fused suite below checks them against the two-op forms
  { name: "addScaled a + 0.7·b [17,37]", inputs: [{ shape: [17, 37] }, { shape: [17, 37] }], fn: (a, b) => addScaled(a, b, 0.7), forward: SUM3, gradient: SUM3 },
  { name: "addScaled broadcast a [3,17,5] + 2·b [17,5]", inputs: [{ shape: [3, 17, 5] }, { shape: [17, 5] }], fn: (a, b) => addScaled(a, b, 2), forward: SUM3, gradient: SUM3 },
  { name: "dropoutAdd p=0.3 seed 7 [17,37]", inputs: [{ shape: [17, 37] }, { shape: [17, 37] }], fn: (a, b) => dropoutAdd(a, b, 0.3, { seed: 7 }), forward: SUM3, gradient: { rtol: 1e-6, atol: 0 } },
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

/** The composition the fused rmsNorm replaces (what RMSNorm.baseForward computed before). */
const rmsNormComposition = (x: Tensor, w: Tensor, eps: number) => x.mul(x.square().mean(-1, { keepDims: true }).add(eps).rsqrt()).mul(w);

/**
 * Fused kernels against the compositions they replace, on the same backend in float32: forward values
 * and the gradients of Σ y⊙c for a fixed cotangent c, with x and w trainable, and with w frozen (the
 * x-only backward path PEFT methods take).
 */
function fusedSuite(backends: readonly NamedBackend[]): void {
  const s = suite("fused ops = compositions");
  const tol: Tolerance = { rtol: 2e-5, atol: 2e-6 };
  for (const { name, backend } of backends) {
    for (const trainWeight of [true, false]) {
      s(`rmsNorm = x·rsqrt(mean(x²)+ε)·w on ${name}${trainWeight ? "" : ", weight frozen"}`, async () => {
        const gen = new Generator(11);
        const draw = (n: number) => Float32Array.from({ length: n }, () => gen.normal());
        const [B, L, D] = [2, 9, 70];
        const xs = draw(B * L * D);
        const ws = draw(D);
        const cs = draw(B * L * D);
        const run = async (f: (x: Tensor, w: Tensor) => Tensor) => {
          const x = tensor(xs, { backend, shape: [B, L, D], requiresGrad: true });
          const w = tensor(ws, { backend, shape: [D], requiresGrad: trainWeight });
          const c = tensor(cs, { backend, shape: [B, L, D] });
          const y = f(x, w);
          y.backward({ grad: c });
          const out = { y: await y.data(), dx: await x.grad!.data(), dw: w.grad ? await w.grad.data() : null };
          for (const t of [x.grad, w.grad, x, w, c, y]) t?.dispose();
          return out;
        };
        const fused = await run((x, w) => rmsNorm(x, w, { eps: 1e-6 }));
        const composed = await run((x, w) => rmsNormComposition(x, w, 1e-6));
        assertClose(fused.y, composed.y, tol, "forward");
        assertClose(fused.dx, composed.dx, tol, "dx");
        if (trainWeight) assertClose(fused.dw!, composed.dw!, tol, "dw");
        else if (fused.dw || composed.dw) throw new Error("a frozen weight got a gradient");
      });
    }
  }
  for (const { name, backend } of backends) {
    for (const [what, biasShape] of [["position bias + mask", [2, 4, 6, 9]], ["padding mask", [2, 1, 1, 9]]] as const) {
      s(`biasedSoftmax = (scores + bias).softmax(-1), ${what}, on ${name}`, async () => {
        const gen = new Generator(12);
        const shape = [2, 4, 6, 9];
        const size = (sh: readonly number[]) => sh.reduce((a, b) => a * b, 1);
        const xs = Float32Array.from({ length: size(shape) }, () => 3 * gen.normal());
        // masked keys (T5's additive mask: float32's lowest value) in every row's last two keys
        const bs = Float32Array.from({ length: size(biasShape) }, (_, i) => (i % 9 >= 7 ? MASK_VALUE : gen.normal()));
        const cs = Float32Array.from({ length: size(shape) }, () => gen.normal());
        const run = async (f: (x: Tensor, b: Tensor) => Tensor) => {
          const x = tensor(xs, { backend, shape, requiresGrad: true });
          const b = tensor(bs, { backend, shape: biasShape, requiresGrad: true });
          const c = tensor(cs, { backend, shape });
          const y = f(x, b);
          y.backward({ grad: c });
          const out = { y: await y.data(), dx: await x.grad!.data(), db: await b.grad!.data() };
          for (const t of [x.grad, b.grad, x, b, c, y]) t?.dispose();
          return out;
        };
        const fused = await run((x, b) => biasedSoftmax(x, b));
        const composed = await run((x, b) => x.add(b).softmax(-1));
        assertClose(fused.y, composed.y, { rtol: 0, atol: 0 }, "forward");
        assertClose(fused.dx, composed.dx, { rtol: 0, atol: 0 }, "dx");
        assertClose(fused.db, composed.db, tol, "db");
      });
    }
  }
  for (const { name, backend } of backends) {
    // the fused adds against their two-op forms: same mask for dropoutAdd; values within one float32 rounding
    // of the intermediate on the cpu backend (it rounds between the two ops), bit-identical on WebGPU
    const exactOnGpu: Tolerance = name.startsWith("webgpu") ? { rtol: 0, atol: 0 } : { rtol: 1e-6, atol: 1e-7 };
    for (const [what, fused, composed] of [
      ["addScaled(a, b, 0.7) = a + b·0.7", (a: Tensor, b: Tensor) => addScaled(a, b, 0.7), (a: Tensor, b: Tensor) => a.add(b.mul(0.7))],
      ["dropoutAdd(a, b, 0.3) = a + dropout(b, 0.3)", (a: Tensor, b: Tensor) => dropoutAdd(a, b, 0.3, { seed: 5 }), (a: Tensor, b: Tensor) => a.add(dropout(b, 0.3, { seed: 5 }))],
    ] as const) {
      s(`${what} on ${name}`, async () => {
        const gen = new Generator(14);
        const shape = [3, 7, 20];
        const draw = () => Float32Array.from({ length: 3 * 7 * 20 }, () => gen.normal());
        const [as, bs, cs] = [draw(), draw(), draw()];
        const run = async (f: (a: Tensor, b: Tensor) => Tensor) => {
          const a = tensor(as, { backend, shape, requiresGrad: true });
          const b = tensor(bs, { backend, shape, requiresGrad: true });
          const c = tensor(cs, { backend, shape });
          const y = f(a, b);
          y.backward({ grad: c });
          const out = { y: await y.data(), da: await a.grad!.data(), db: await b.grad!.data() };
          for (const t of [a.grad, b.grad, a, b, c, y]) t?.dispose();
          return out;
        };
        const before = backend.stats().dispatches;
        const one = await run(fused);
        const fusedLaunches = backend.stats().dispatches - before;
        const two = await run(composed);
        const composedLaunches = backend.stats().dispatches - before - fusedLaunches;
        assertClose(one.y, two.y, exactOnGpu, "forward");
        assertClose(one.da, two.da, { rtol: 0, atol: 0 }, "da");
        assertClose(one.db, two.db, exactOnGpu, "db");
        if (!(fusedLaunches < composedLaunches)) throw new Error(`fused: ${fusedLaunches} launches, composed: ${composedLaunches}`);
      });
    }
  }
  for (const { name, backend } of backends) {
    s(`autograd: nine contributions to one tensor (n-ary sums in chunks), a transposed one, accumulated over two backwards, on ${name}`, async () => {
      const gen = new Generator(13);
      const [R, C, J] = [4, 6, 5];
      const xs = Float32Array.from({ length: R * C }, () => gen.normal());
      const ws = Float32Array.from({ length: C * J }, () => gen.normal());
      const x = tensor(xs, { backend, shape: [R, C], requiresGrad: true });
      const w = tensor(ws, { backend, shape: [J, C], requiresGrad: true }); // used as wᵀ (C, J)
      for (let pass = 0; pass < 2; pass++) {
        const terms = Array.from({ length: 9 }, (_, i) => x.mul(i + 1).matmul(w.transpose()).sum());
        const loss = terms.reduce((a, b) => a.add(b));
        loss.backward();
        for (const t of [...terms, loss]) t.dispose();
      }
      // L = 45 Σ_rj (x·wᵀ)_rj per pass: dx_rc = 45 Σ_j w_jc, dw_jc = 45 Σ_r x_rc; two passes double it
      const dx = Array.from({ length: R * C }, (_, i) => 90 * Array.from({ length: J }, (_, j) => ws[j * C + (i % C)]!).reduce((a, b) => a + b));
      const dw = Array.from({ length: J * C }, (_, i) => 90 * Array.from({ length: R }, (_, r) => xs[r * C + (i % C)]!).reduce((a, b) => a + b));
      assertClose(await x.grad!.data(), dx, { rtol: 1e-5, atol: 1e-6 }, "dx");
      assertClose(await w.grad!.data(), dw, { rtol: 1e-5, atol: 1e-6 }, "dw");
      for (const t of [x.grad, w.grad, x, w]) t?.dispose();
    });
  }
  s.run();
}

export function register(backends: readonly NamedBackend[]): void {
  conformanceSuite("nn ops", cases, backends);
  fusedSuite(backends);
}
