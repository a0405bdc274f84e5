/**
 * The optimisation pieces of the training loop against PyTorch (scripts/goldens/optim_reference.py,
 * float64, torch.optim.AdamW single-tensor path): AdamW over 10 steps with default betas and weight decay
 * 0.01; with weight decay 0.1, eps 1e-6 and HF's linear warm-up/decay learning rate set before each step;
 * with clip_grad_norm_ before each step (total norms and clipped gradients too). One parameter gets no
 * gradient on some steps, which checks torch's skipping and per-parameter bias corrections.
 *
 * Runs on the float64 reference backend (1e-12 relative to each tensor's scale) and, in float32, on every
 * backend under test (1e-5). Also: clipping edge cases, optimizer state round trips (resuming is
 * bit-identical on the CPU), typed errors of loadStateDict, and gradient accumulation over two backward
 * calls. WEBPEFT_OPTIM_REPORT=1 prints the largest differences from torch per backend.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Backend } from "../../core/backend/backend.ts";
import { InvalidArgumentError } from "../../core/errors.ts";
import { Linear } from "../../core/nn/layers.ts";
import { type AdamWOptions, type AdamWState, AdamW, adamwGroupSize } from "../../core/optim/adamw.ts";
import { clipGradNorm, readGradNorm } from "../../core/optim/clip.ts";
import { learningRateSchedule } from "../../core/optim/schedule.ts";
import { tensor } from "../../core/tensor/create.ts";
import type { FloatDType } from "../../core/tensor/dtype.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";
import { hostFiles } from "../../runners/host-files.ts";
import { type NamedBackend, reference } from "../harness/backends.ts";
import { assertClose } from "../harness/check-op.ts";
import { env } from "../harness/env.ts";
import { expectError } from "../harness/expect.ts";

type Flat = number[];

interface GoldenCase {
  readonly options: { readonly lr: number; readonly betas: [number, number]; readonly eps: number; readonly weightDecay: number };
  readonly lrs: number[];
  /** params[step][parameter]: values after that step */
  readonly params: Flat[][];
  readonly schedule?: { readonly lr: number; readonly warmupSteps: number; readonly totalSteps: number };
  readonly maxNorm?: number;
  readonly totalNorms?: number[];
  readonly clippedGrads?: (Flat | null)[][];
}

interface Golden {
  readonly torch: string;
  readonly steps: number;
  readonly params: { readonly name: string; readonly shape: number[]; readonly init: Flat }[];
  /** grads[step][parameter]; null: no gradient on that step */
  readonly grads: (Flat | null)[][];
  readonly cases: { readonly default: GoldenCase; readonly schedule: GoldenCase; readonly clip: GoldenCase };
}

let goldenPromise: Promise<Golden> | null = null;
function golden(): Promise<Golden> {
  return (goldenPromise ??= (async () => {
    const fs = await hostFiles();
    return JSON.parse(await fs.readText(decodeURIComponent(new URL("../goldens/optim/adamw.json", import.meta.url).pathname))) as Golden;
  })());
}

interface Target {
  readonly name: string;
  readonly backend: Backend;
  readonly dtype: FloatDType;
}

const report = env("WEBPEFT_OPTIM_REPORT") === "1";

/** Largest |a − e| and largest |a − e| / max|e| of a tensor (the scale the tolerances use). */
function differences(actual: ArrayLike<number>, expected: ArrayLike<number>): { abs: number; rel: number } {
  let scale = 0;
  let abs = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    abs = Math.max(abs, Math.abs(actual[i]! - expected[i]!));
  }
  return { abs, rel: scale > 0 ? abs / scale : abs };
}

/** Tracks the worst differences of one golden case for the report. */
class Worst {
  abs = 0;
  rel = 0;
  check(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: { rtol: number; atol: number }, label: string): void {
    const d = differences(actual, expected);
    this.abs = Math.max(this.abs, d.abs);
    this.rel = Math.max(this.rel, d.rel);
    assertClose(actual, expected, tol, label);
  }
  print(what: string): void {
    if (report) console.log(`[optim] ${what}: max abs ${this.abs.toExponential(2)}, max rel ${this.rel.toExponential(2)}`);
  }
}

function makeParams(g: Golden, t: Target): Tensor[] {
  return g.params.map((p) => tensor(p.init, { backend: t.backend, dtype: t.dtype, shape: p.shape, requiresGrad: true }));
}

/** Gives each parameter the golden gradient of `step` (or none). */
function setGrads(g: Golden, t: Target, params: readonly Tensor[], step: number): void {
  params.forEach((p, i) => {
    p.grad?.dispose();
    const values = g.grads[step]![i];
    p.grad = values ? tensor(values, { backend: t.backend, dtype: t.dtype, shape: g.params[i]!.shape }) : null;
  });
}

const optionsOf = (c: GoldenCase): AdamWOptions => ({ lr: c.options.lr, betas: c.options.betas, eps: c.options.eps, weightDecay: c.options.weightDecay });

function dispose(optimizer: AdamW, params: readonly Tensor[]): void {
  optimizer.dispose();
  for (const p of params) {
    p.grad?.dispose();
    p.dispose();
  }
}

/** Bit patterns, so that -0 ≠ 0 and NaNs compare by payload. */
function bits(a: ArrayLike<number>, dtype: FloatDType): string[] {
  const out: string[] = [];
  const view = new DataView(new ArrayBuffer(8));
  for (let i = 0; i < a.length; i++) {
    if (dtype === "float64") view.setFloat64(0, a[i]!);
    else view.setFloat32(0, a[i]!);
    out.push(dtype === "float64" ? view.getBigUint64(0).toString(16) : view.getUint32(0).toString(16));
  }
  return out;
}

/**
 * Grouped launches (AdamW updates up to 3 tensors per kernel): 7 parameters of different sizes, two of
 * them row views (offset 5 and 15) of one buffer whose row 0 is no parameter, gradients partly views with
 * an offset too. Per step, which parameters get a gradient: "late" first at step 2, "skip" and "one" not at
 * step 2. Tensors with a gradient per step: 6, 5, 7, i.e. groups 3+3, 2+3, 3+3+1: at step 2 the two row
 * views would meet in one group, and WebGPU rejects one buffer bound writable twice, so the group splits
 * before "row 3" (still ⌈5 / 3⌉ launches).
 */
const groupedShapes: readonly (readonly number[])[] = [[3, 4], [2, 5], [17], [1, 5], [1], [130], [6]];
const groupedNames = ["w", "rows 1-2", "skip", "row 3", "one", "late", "b"];
const groupedHasGrad: readonly (readonly boolean[])[] = [
  [true, true, true, true, true, false, true],
  [true, true, false, true, false, true, true],
  [true, true, true, true, true, true, true],
];
const groupedLrs = [0.02, 0.015, 0.01];
// groupSize 3 (a device with WebGPU's minimum of 8 storage buffers per stage) on every backend, so that the
// scenario's group boundaries (and the aliasing split) are the same everywhere
const groupedOptions = { lr: 0.02, betas: [0.9, 0.99] as [number, number], eps: 1e-6, weightDecay: 0.1, groupSize: 3 };

/** Deterministic values in [−1, 1) (a small LCG), so every backend and the reference see the same numbers. */
function values(count: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: count }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return (x / 2147483648) * 2 - 1;
  });
}
const sizeOfShape = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

interface GroupedScenario {
  readonly params: Tensor[];
  /** the storage the row views share (row 0 is no parameter: the optimizer must leave it alone) */
  readonly base: Tensor;
  /** gives each parameter its gradient of `step` (or none); indices 1, 3 and 5 get views with an offset */
  setGrads(step: number): void;
  dispose(): void;
}

function groupedScenario(t: Target): GroupedScenario {
  const { backend, dtype } = t;
  const make = (values: number[], shape: readonly number[]) => tensor(values, { backend, dtype, shape });
  const base = make(values(20, 1), [4, 5]);
  const params = groupedShapes.map((shape, i) => {
    if (i === 1) return base.slice([[1, 3], null]);
    if (i === 3) return base.slice([[3, 4], null]);
    return make(values(sizeOfShape(shape), 10 + i), shape);
  });
  const bases: Tensor[] = [];
  const setGrads = (step: number) => {
    for (const b of bases.splice(0)) b.dispose();
    params.forEach((p, i) => {
      p.grad?.dispose();
      p.grad = null;
      if (!groupedHasGrad[step]![i]) return;
      const shape = groupedShapes[i]!;
      const g = values(sizeOfShape(shape), 100 * (step + 1) + i);
      if (i === 1 || i === 3 || i === 5) {
        // a gradient that is a view at element offset 7 of a larger buffer
        const padded = make([...values(7, 99), ...g], [7 + g.length]);
        bases.push(padded);
        p.grad = padded.slice([[7, 7 + g.length]]).reshape(shape);
      } else {
        p.grad = make(g, shape);
      }
    });
  };
  return {
    params,
    base,
    setGrads,
    dispose() {
      for (const p of params) {
        p.grad?.dispose();
        p.dispose();
      }
      for (const b of bases) b.dispose();
      base.dispose();
    },
  };
}

/** The same steps in float64, one tensor at a time, in torch's order: parameters, m and v after each step. */
function groupedReference(): { p: number[][]; m: number[][]; v: number[][]; k: number[] }[] {
  const { betas: [b1, b2], eps, weightDecay } = groupedOptions;
  const base = values(20, 1);
  const p = groupedShapes.map((shape, i) => (i === 1 ? base.slice(5, 15) : i === 3 ? base.slice(15, 20) : values(sizeOfShape(shape), 10 + i)));
  const m = p.map((x) => x.map(() => 0));
  const v = p.map((x) => x.map(() => 0));
  const k = p.map(() => 0);
  const out: ReturnType<typeof groupedReference> = [];
  groupedLrs.forEach((lr, step) => {
    p.forEach((x, i) => {
      if (!groupedHasGrad[step]![i]) return;
      const g = values(x.length, 100 * (step + 1) + i);
      k[i]!++;
      const [c1, c2] = [1 - b1 ** k[i]!, 1 - b2 ** k[i]!];
      for (let j = 0; j < x.length; j++) {
        const decayed = x[j]! * (1 - lr * weightDecay);
        m[i]![j] = b1 * m[i]![j]! + (1 - b1) * g[j]!;
        v[i]![j] = b2 * v[i]![j]! + (1 - b2) * g[j]! * g[j]!;
        x[j] = decayed + (-(lr / c1) * m[i]![j]!) / (Math.sqrt(v[i]![j]!) / Math.sqrt(c2) + eps);
      }
    });
    out.push({ p: p.map((x) => [...x]), m: m.map((x) => [...x]), v: v.map((x) => [...x]), k: [...k] });
  });
  return out;
}

export function register(backends: readonly NamedBackend[]): void {
  const targets: Target[] = [{ name: "cpu-f64", backend: reference, dtype: "float64" }, ...backends.map(({ name, backend }) => ({ name, backend, dtype: "float32" as const }))];
  for (const target of targets) {
    const { name, backend, dtype } = target;
    const s = suite(`optim on ${name} (${dtype})`);
    // float64 agrees with torch up to accumulated rounding of a few ops per step; float32 carries 2⁻²⁴
    // relative rounding per op (and f32 uniforms for lr, β, ε on WebGPU) through 10 steps.
    const tol = dtype === "float64" ? { rtol: 1e-12, atol: 1e-12 } : { rtol: 1e-5, atol: 1e-5 };
    const exact = backend.name.startsWith("cpu");

    s("learningRateSchedule('linear') is HF's linear warm-up/decay, exactly", async () => {
      const c = (await golden()).cases.schedule;
      const schedule = learningRateSchedule("linear", c.schedule!);
      assert.equal(c.lrs.map((_, step) => schedule(step)), c.lrs);
    });

    for (const caseName of ["default", "schedule"] as const) {
      s(`AdamW (${caseName}) over 10 steps matches torch.optim.AdamW`, async () => {
        const g = await golden();
        const c = g.cases[caseName];
        const params = makeParams(g, target);
        const optimizer = new AdamW(params, optionsOf(c));
        const lr = c.schedule ? learningRateSchedule("linear", c.schedule) : () => c.options.lr;
        const worst = new Worst();
        for (let step = 0; step < g.steps; step++) {
          setGrads(g, target, params, step);
          optimizer.step(lr(step));
          for (const [i, p] of params.entries()) {
            worst.check(await p.data(), c.params[step]![i]!, tol, `${caseName}: ${g.params[i]!.name} after step ${step + 1} on ${name}`);
          }
        }
        assert.is(optimizer.stepCount, g.steps);
        worst.print(`${name} ${dtype} AdamW ${caseName} vs torch ${g.torch}`);
        dispose(optimizer, params);
      });
    }

    s("clipGradNorm before each AdamW step matches clip_grad_norm_: norms, clipped gradients, parameters", async () => {
      const g = await golden();
      const c = g.cases.clip;
      const params = makeParams(g, target);
      const optimizer = new AdamW(params, optionsOf(c));
      const [norms, grads, values] = [new Worst(), new Worst(), new Worst()];
      for (let step = 0; step < g.steps; step++) {
        setGrads(g, target, params, step);
        const total = clipGradNorm(params, c.maxNorm!);
        optimizer.step();
        // read after the step: the norm stays on the device until the caller wants it
        norms.check([await readGradNorm(total)], [c.totalNorms![step]!], tol, `total norm of step ${step + 1} on ${name}`);
        for (const [i, p] of params.entries()) {
          const expected = c.clippedGrads![step]![i];
          if (expected === null) assert.is(p.grad, null, `${g.params[i]!.name} has no gradient at step ${step + 1}`);
          else grads.check(await p.grad!.data(), expected!, tol, `clipped gradient of ${g.params[i]!.name} at step ${step + 1} on ${name}`);
          values.check(await p.data(), c.params[step]![i]!, tol, `clip: ${g.params[i]!.name} after step ${step + 1} on ${name}`);
        }
      }
      norms.print(`${name} ${dtype} clip_grad_norm_ total norms`);
      grads.print(`${name} ${dtype} clipped gradients`);
      values.print(`${name} ${dtype} AdamW after clipping (parameters)`);
      dispose(optimizer, params);
    });

    s("clipGradNorm: gradients within bounds are unchanged bit for bit; no-grad parameters skipped; no gradients → 0", async () => {
      const a = tensor([0.3, -0.4], { backend, dtype, requiresGrad: true });
      const b = tensor([[0.1, 0.2]], { backend, dtype, requiresGrad: true });
      const frozen = tensor([5], { backend, dtype, requiresGrad: true });
      a.grad = tensor([0.3, -0.4], { backend, dtype });
      b.grad = tensor([[0, 1e-3]], { backend, dtype });
      const before = [bits(await a.grad.data(), dtype), bits(await b.grad.data(), dtype)];
      const norm = await readGradNorm(clipGradNorm([a, frozen, b], 10));
      assert.ok(Math.abs(norm - Math.sqrt(0.09 + 0.16 + 1e-6)) < 1e-6, `norm ${norm}`);
      assert.equal([bits(await a.grad.data(), dtype), bits(await b.grad!.data(), dtype)], before);
      assert.is(frozen.grad, null);
      assert.is(await readGradNorm(clipGradNorm([frozen], 1)), 0);
      // shrinking: ‖(3, 4)‖ = 5 → scaled by 1 / (5 + 1e-6)
      a.grad.dispose();
      a.grad = tensor([3, 4], { backend, dtype });
      b.grad.dispose();
      b.grad = null;
      assert.ok(Math.abs((await readGradNorm(clipGradNorm([a, b], 1))) - 5) < 1e-6);
      assertClose(await a.grad.data(), [0.6, 0.8], { rtol: 1e-6, atol: 1e-6 }, "clipped to norm 1");
      await expectError(() => clipGradNorm([a], 0), InvalidArgumentError, /maxNorm/);
      await expectError(() => clipGradNorm([a], Number.NaN), InvalidArgumentError, /maxNorm/);
      for (const t of [a, b, frozen]) {
        t.grad?.dispose();
        t.dispose();
      }
    });

    s("clipGradNorm with a non-finite norm scales anyway (torch's error_if_nonfinite=False)", async () => {
      const a = tensor([1, 2], { backend, dtype, requiresGrad: true });
      a.grad = tensor([Number.POSITIVE_INFINITY, 2], { backend, dtype });
      // total = ∞ → c = maxNorm / ∞ = 0: the finite entry becomes 0, ∞·0 = NaN
      assert.is(await readGradNorm(clipGradNorm([a], 1)), Number.POSITIVE_INFINITY);
      const g = Array.from(await a.grad.data());
      assert.ok(Number.isNaN(g[0]) && g[1] === 0, `clipped ${g}`);
      a.grad.dispose();
      a.dispose();
    });

    s(`stateDict + loadStateDict into a fresh AdamW resumes ${exact ? "bit-identically" : "to 1e-6"}`, async () => {
      const g = await golden();
      const c = g.cases.default;
      // straight: 6 steps
      const straight = makeParams(g, target);
      const o1 = new AdamW(straight, optionsOf(c));
      for (let step = 0; step < 6; step++) {
        setGrads(g, target, straight, step);
        o1.step();
      }
      // 3 steps, state saved, a new optimizer over the same parameters, state loaded, 3 more steps
      const resumed = makeParams(g, target);
      const o2 = new AdamW(resumed, optionsOf(c));
      for (let step = 0; step < 3; step++) {
        setGrads(g, target, resumed, step);
        o2.step();
      }
      const state = await o2.stateDict();
      assert.is(state.t, 3);
      assert.equal([state.lr, [...state.betas], state.eps, state.weightDecay], [c.options.lr, c.options.betas, c.options.eps, c.options.weightDecay]);
      assert.equal(state.parameters.map((p) => p?.step ?? null), [3, 3, 3, 3, null], "the late parameter has had no gradient yet");
      const first = state.parameters[0]!;
      assert.equal([first.shape, first.dtype, first.m.constructor, first.m.length], [[3, 4], dtype, dtype === "float64" ? Float64Array : Float32Array, 12]);
      o2.dispose();
      // a fresh optimizer constructed with other hyper-parameters: loading restores the saved ones
      const o3 = new AdamW(resumed, { lr: 0.5, betas: [0.5, 0.5], eps: 1, weightDecay: 0.5 });
      o3.loadStateDict(state);
      assert.equal([o3.lr, o3.beta1, o3.beta2, o3.eps, o3.weightDecay, o3.stepCount], [c.options.lr, ...c.options.betas, c.options.eps, c.options.weightDecay, 3]);
      for (let step = 3; step < 6; step++) {
        setGrads(g, target, resumed, step);
        o3.step();
      }
      for (const [i, p] of straight.entries()) {
        const [want, got] = [await p.data(), await resumed[i]!.data()];
        if (exact) assert.equal(bits(got, dtype), bits(want, dtype), `${g.params[i]!.name}: resumed ≠ straight`);
        else assertClose(got, want, { rtol: 1e-6, atol: 1e-6 }, `${g.params[i]!.name}: resumed vs straight on ${name}`);
      }
      const [s1, s3] = [await o1.stateDict(), await o3.stateDict()];
      assert.equal(s3.parameters.map((p) => p?.step ?? null), [6, 6, 6, 6, 3], "per-parameter update counts (late: steps 4 to 6)");
      if (exact) {
        for (const [i, p] of s1.parameters.entries()) {
          assert.equal(bits(s3.parameters[i]!.m, dtype), bits(p!.m, dtype));
          assert.equal(bits(s3.parameters[i]!.v, dtype), bits(p!.v, dtype));
        }
      }
      dispose(o1, straight);
      dispose(o3, resumed);
    });

    s("loadStateDict rejects a state that does not fit, naming what differs, and changes nothing", async () => {
      const w = tensor([[1, 2, 3], [4, 5, 6]], { backend, dtype, requiresGrad: true });
      const b = tensor([1, 2], { backend, dtype, requiresGrad: true });
      const optimizer = new AdamW([w, b]);
      w.grad = tensor([[1, 1, 1], [1, 1, 1]], { backend, dtype });
      optimizer.step();
      const state = await optimizer.stateDict();
      const ws = state.parameters[0]!;
      const Other = dtype === "float64" ? Float32Array : Float64Array;
      const bad: [Partial<AdamWState>, RegExp][] = [
        [{ parameters: [ws] }, /invalid parameters: the state holds 1 parameters, this optimizer has 2/],
        [{ t: 1.5 }, /invalid t: 1\.5 is not an integer/],
        [{ t: -1 }, /invalid t/],
        [{ t: 0 }, /invalid parameters\[0\]\.step: 1 is not an integer in \[1, t = 0\]/],
        [{ betas: [1, 0.999] }, /invalid beta1/],
        [{ betas: undefined as unknown as [number, number] }, /invalid betas/],
        [{ parameters: [{ ...ws, shape: [3, 2] }, null] }, /invalid parameters\[0\]\.shape: the state's shape \[3, 2\] differs from the parameter's \[2, 3\]/],
        [{ parameters: [{ ...ws, dtype: dtype === "float64" ? "float32" : "float64" }, null] }, /invalid parameters\[0\]\.dtype/],
        [{ parameters: [{ ...ws, m: new Other(6) }, null] }, /invalid parameters\[0\]\.m: expected a Float/],
        [{ parameters: [{ ...ws, v: ws.v.slice(1) }, null] }, /invalid parameters\[0\]\.v: has 5 elements, the parameter 6/],
      ];
      for (const [change, message] of bad) {
        const e = await expectError(() => optimizer.loadStateDict({ ...state, ...change }), InvalidArgumentError, message);
        assert.is(e.op, "AdamW.loadStateDict");
      }
      await expectError(() => optimizer.step(Number.NaN), InvalidArgumentError, /AdamW\.step: invalid lr/);
      const after = await optimizer.stateDict();
      assert.equal(after.t, 1);
      assert.equal(bits(after.parameters[0]!.m, dtype), bits(ws.m, dtype), "a rejected load leaves the state as it was");
      assert.is(after.parameters[1], null);
      dispose(optimizer, [w, b]);
    });

    s("two backward calls on half-batches with losses ×½ accumulate to the full-batch gradient and update", async () => {
      // Linear 4 → 3 with bias; loss = mean over the batch and outputs of (y − target)²
      const weight = () => tensor([[0.1, -0.2, 0.3, 0.05], [0.4, 0.0, -0.1, 0.2], [-0.3, 0.25, 0.15, -0.05]], { backend, dtype, requiresGrad: true });
      const bias = () => tensor([0.01, -0.02, 0.03], { backend, dtype, requiresGrad: true });
      const x = tensor([[1, 2, -1, 0.5], [0.3, -0.7, 2, 1], [-1, 0, 1, -2], [0.5, 0.5, -0.5, 1.5]], { backend, dtype });
      const target = tensor([[1, 0, -1], [0.5, 0.2, 0], [0, -1, 1], [2, 0, 0.3]], { backend, dtype });
      const loss = (layer: Linear, rows: [number, number]) => {
        const y = layer.forward(x.slice([rows, null]));
        return y.sub(target.slice([rows, null])).square().mean();
      };
      const full = new Linear(weight(), bias());
      loss(full, [0, 4]).backward();
      const halves = new Linear(weight(), bias());
      loss(halves, [0, 2]).mul(0.5).backward();
      loss(halves, [2, 4]).mul(0.5).backward();
      const close = dtype === "float64" ? { rtol: 1e-14, atol: 1e-14 } : { rtol: 1e-6, atol: 1e-6 };
      const pairs = [[full.weight, halves.weight], [full.parameter("bias"), halves.parameter("bias")]] as const;
      for (const [f, h] of pairs) assertClose(await h.grad!.data(), await f.grad!.data(), close, `accumulated gradient on ${name}`);
      const [o1, o2] = [new AdamW([full.weight, full.parameter("bias")], { lr: 0.1 }), new AdamW([halves.weight, halves.parameter("bias")], { lr: 0.1 })];
      o1.step();
      o2.step();
      for (const [f, h] of pairs) assertClose(await h.data(), await f.data(), close, `parameters after the update on ${name}`);
      dispose(o1, [full.weight, full.parameter("bias")]);
      dispose(o2, [halves.weight, halves.parameter("bias")]);
      x.dispose();
      target.dispose();
    });

    s("AdamW in groups of up to 3 tensors (views, skipped and late gradients) matches a float64 per-tensor loop", async () => {
      const want = groupedReference();
      const sc = groupedScenario(target);
      const rowZero = Array.from(await sc.base.slice([[0, 1], null]).data());
      const optimizer = new AdamW(sc.params, groupedOptions);
      const close = dtype === "float64" ? { rtol: 1e-14, atol: 1e-14 } : { rtol: 1e-5, atol: 1e-5 };
      for (let step = 0; step < groupedLrs.length; step++) {
        sc.setGrads(step);
        optimizer.step(groupedLrs[step]);
        for (const [i, p] of sc.params.entries()) {
          assertClose(await p.data(), want[step]!.p[i]!, close, `${groupedNames[i]} after step ${step + 1} on ${name}`);
        }
      }
      // the per-parameter copies of the flat moments, cut at the right offsets
      const state = await optimizer.stateDict();
      assert.equal(state.parameters.map((p) => p!.step), want[2]!.k);
      for (const [i, p] of state.parameters.entries()) {
        assert.equal([p!.shape, p!.m.length, p!.v.length], [[...groupedShapes[i]!], sc.params[i]!.size, sc.params[i]!.size]);
        assertClose(p!.m, want[2]!.m[i]!, close, `m of ${groupedNames[i]} on ${name}`);
        assertClose(p!.v, want[2]!.v[i]!, close, `v of ${groupedNames[i]} on ${name}`);
      }
      assert.equal(Array.from(await sc.base.slice([[0, 1], null]).data()), rowZero, "the row that is no parameter is untouched");
      optimizer.dispose();
      sc.dispose();
    });

    s("AdamW launches ⌈k / 3⌉ kernels per step for k tensors with a gradient (+2 fills zeroing M and V once)", async () => {
      const sc = groupedScenario(target);
      const optimizer = new AdamW(sc.params, groupedOptions);
      const launches: number[] = [];
      for (let step = 0; step < groupedLrs.length; step++) {
        sc.setGrads(step);
        const before = backend.stats().dispatches;
        optimizer.step(groupedLrs[step]);
        launches.push(backend.stats().dispatches - before);
      }
      const k = groupedHasGrad.map((has) => has.filter(Boolean).length);
      assert.equal(k, [6, 5, 7]);
      assert.equal(launches, k.map((n, step) => Math.ceil(n / 3) + (step === 0 ? 2 : 0)));
      optimizer.dispose();
      sc.dispose();
    });

    s("AdamW's default group is what the backend's storage-buffer limit allows: ⌈k / size⌉ launches", async () => {
      const size = adamwGroupSize(backend);
      const cap = backend.capabilities.maxStorageBuffersPerLaunch;
      assert.ok(2 * size + 2 <= cap && size >= 1 && size <= 8, `group of ${size} with ${cap} buffers per launch`);
      if (name.startsWith("webgpu")) assert.ok(cap >= 8, "WebGPU guarantees 8 storage buffers per stage");
      const params = Array.from({ length: 19 }, (_, i) => tensor(values(i + 3, i), { backend, dtype: target.dtype, requiresGrad: true }));
      const optimizer = new AdamW(params);
      for (const [i, p] of params.entries()) p.grad = tensor(values(i + 3, 100 + i), { backend, dtype: target.dtype });
      optimizer.step(); // allocates and zeroes M and V (2 launches)
      const before = backend.stats().dispatches;
      optimizer.step();
      assert.is(backend.stats().dispatches - before, Math.ceil(19 / size));
      assert.throws(() => new AdamW(params, { groupSize: 9 }), /groupSize/);
      optimizer.dispose();
      for (const p of params) (p.grad?.dispose(), p.dispose());
    });

    s(`AdamW in groups: stateDict after 2 steps, loaded into a new optimizer, continues ${exact ? "bit-identically" : "to 1e-6"}`, async () => {
      const straight = groupedScenario(target);
      const o1 = new AdamW(straight.params, groupedOptions);
      const resumed = groupedScenario(target);
      const o2 = new AdamW(resumed.params, groupedOptions);
      for (let step = 0; step < 2; step++) {
        straight.setGrads(step);
        o1.step(groupedLrs[step]);
        resumed.setGrads(step);
        o2.step(groupedLrs[step]);
      }
      const state = await o2.stateDict();
      assert.equal(state.parameters.map((p) => p?.step ?? null), [2, 2, 1, 2, 1, 1, 2]);
      o2.dispose();
      const o3 = new AdamW(resumed.params);
      o3.loadStateDict(state);
      straight.setGrads(2);
      o1.step(groupedLrs[2]);
      resumed.setGrads(2);
      o3.step(groupedLrs[2]);
      for (const [i, p] of straight.params.entries()) {
        const [want, got] = [await p.data(), await resumed.params[i]!.data()];
        if (exact) assert.equal(bits(got, dtype), bits(want, dtype), `${groupedNames[i]}: resumed ≠ straight`);
        else assertClose(got, want, { rtol: 1e-6, atol: 1e-6 }, `${groupedNames[i]}: resumed vs straight on ${name}`);
      }
      const [s1, s3] = [await o1.stateDict(), await o3.stateDict()];
      assert.equal(s3.parameters.map((p) => p!.step), s1.parameters.map((p) => p!.step));
      if (exact) {
        for (const [i, p] of s1.parameters.entries()) {
          assert.equal(bits(s3.parameters[i]!.m, dtype), bits(p!.m, dtype), `m of ${groupedNames[i]}`);
          assert.equal(bits(s3.parameters[i]!.v, dtype), bits(p!.v, dtype), `v of ${groupedNames[i]}`);
        }
      }
      o1.dispose();
      o3.dispose();
      straight.dispose();
      resumed.dispose();
    });

    s.run();
  }
}
