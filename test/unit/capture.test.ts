/**
 * Captured steps (core/tensor/capture.ts, core/backend/webgpu/step-recorder.ts): a KronA training step of a
 * small T5 with dropout, run eagerly on one model and through `captureStep` on an identical one, must give
 * bit-identical losses, gradient norms and adapter weights step after step, while the captured one
 * replays from its third step on. Then every reason a replay must not happen, each checked to run eagerly
 * (and still match) instead: a gradient already present, a result still held, an input outside its
 * declared range, a freed weight, a step that reads a value back or uploads data that changes, new shapes.
 *
 * Runs on each WebGPU backend under test (the CPU backends cannot record: checked to stay eager).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Backend } from "../../core/backend/backend.ts";
import { parseT5Config } from "../../core/io/t5-config.ts";
import { createT5 } from "../../core/models/t5/load.ts";
import { shiftRight } from "../../core/models/t5/model.ts";
import { AdamW } from "../../core/optim/adamw.ts";
import { clipGradNorm } from "../../core/optim/clip.ts";
import { PeftModel } from "../../core/peft/peft-model.ts";
import { type CapturedStep, captureStep } from "../../core/tensor/capture.ts";
import { tensor } from "../../core/tensor/create.ts";
import { Generator, manualSeed, nextSeed } from "../../core/tensor/random.ts";
import { tidy } from "../../core/tensor/scope.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";
import "../../plugins/mod.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { createHostWebGPUBackend } from "../../runners/host.ts";

const CONFIG = parseT5Config(
  { architectures: ["T5ForConditionalGeneration"], model_type: "t5", vocab_size: 96, d_model: 32, d_kv: 8, d_ff: 64, num_layers: 2, num_heads: 4, feed_forward_proj: "relu", dropout_rate: 0.1 },
  "capture test",
);
const [B, S, T] = [3, 7, 4];
/** What the step's inputs may hold: ids, a 0/1 mask, labels (an id or −100), decoder ids. */
const RANGES = [{ min: 0, max: CONFIG.vocabSize - 1 }, { min: 0, max: 1 }, { min: -100, max: CONFIG.vocabSize - 1 }, { min: 0, max: CONFIG.vocabSize - 1 }];

/** A batch of host data with padding that varies per step (so the masks change too). */
function hostBatch(step: number) {
  const g = new Generator(100 + step);
  const ids = new Int32Array(B * S).map(() => 2 + Math.floor(g.uniform() * (CONFIG.vocabSize - 2)));
  const mask = new Int32Array(B * S).fill(1);
  for (let b = 0; b < B; b++) {
    const pad = Math.floor(g.uniform() * 3);
    for (let s = S - pad; s < S; s++) [ids[b * S + s], mask[b * S + s]] = [0, 0];
  }
  const labels = new Int32Array(B * T).map(() => 2 + Math.floor(g.uniform() * (CONFIG.vocabSize - 2)));
  labels[T - 1] = -100;
  return { ids, mask, labels, decoderIds: shiftRight({ data: labels, rows: B, cols: T }, CONFIG.decoderStartTokenId, CONFIG.padTokenId).data };
}

/** Device tensors of a batch: ids, mask, labels, decoder ids (all made from host data: their ranges are known). */
function deviceBatch(backend: Backend, step: number): Tensor[] {
  const h = hostBatch(step);
  const t = (data: Int32Array, cols: number) => tensor(data, { backend, shape: [B, cols], dtype: "int32" });
  return [t(h.ids, S), t(h.mask, S), t(h.labels, T), t(h.decoderIds, T)];
}

interface Trainer {
  readonly peft: PeftModel;
  readonly params: Tensor[];
  readonly optimizer: AdamW;
  readonly stepFn: (inputs: readonly Tensor[]) => [Tensor, Tensor];
}

function trainer(backend: Backend): Trainer {
  const peft = new PeftModel(createT5(CONFIG, { backend, seed: 3 }));
  peft.addAdapter("default", "krona", { targets: ["q", "v"] });
  peft.train();
  const params = peft.trainableParameters().map(([, p]) => p);
  const optimizer = new AdamW(params, { lr: 1e-2 });
  const stepFn = (inputs: readonly Tensor[]): [Tensor, Tensor] => {
    const [inputIds, attentionMask, labels, decoderInputIds] = inputs as [Tensor, Tensor, Tensor, Tensor];
    const loss = tidy(() => peft.forward({ inputIds, attentionMask, labels, decoderInputIds }).loss!);
    loss.backward();
    return [loss, clipGradNorm(params, 1.0)];
  };
  return { peft, params, optimizer, stepFn };
}

/** One optimizer step through `run`; returns [loss, grad norm] read back. */
async function trainStep(t: Trainer, backend: Backend, step: number, run: (inputs: readonly Tensor[]) => readonly Tensor[]): Promise<[number, number]> {
  const inputs = deviceBatch(backend, step);
  const [loss, norm] = run(inputs) as [Tensor, Tensor];
  inputs.forEach((x) => x.dispose());
  const values: [number, number] = [await loss.item(), await norm.item()];
  loss.dispose();
  norm.dispose();
  t.optimizer.step();
  t.optimizer.zeroGrad();
  return values;
}

async function weights(t: Trainer): Promise<Float32Array[]> {
  return Promise.all(t.params.map(async (p) => Float32Array.from((await p.toArray()) as ArrayLike<number>)));
}

function assertSameWeights(a: Float32Array[], b: Float32Array[], what: string): void {
  a.forEach((w, i) => assert.ok(w.every((v, j) => Object.is(v, b[i]![j])), `${what}: parameter ${i} differs`));
}

/**
 * Runs `test` on a WebGPU device of its own, destroyed after it: the programs and pinned buffers of these
 * tests should not change what later suites find in the shared device's pool and caches.
 */
async function onOwnDevice(test: (backend: Backend) => Promise<void>): Promise<void> {
  const backend = await createHostWebGPUBackend();
  try {
    await test(backend);
  } finally {
    backend.dispose();
  }
}

export function register(backends: readonly NamedBackend[]): void {
  const s = suite("captured steps");

  for (const { name, backend } of backends) {
    if (!backend.stepRecorder) {
      s(`${name}: cannot record, so a captured step runs eagerly every time (and says why)`, async () => {
        manualSeed(7);
        const t = trainer(backend);
        const step = captureStep(t.stepFn, { parameters: t.params });
        for (let i = 0; i < 3; i++) await trainStep(t, backend, i, (x) => step.run(x));
        assert.equal({ ...step.stats, lastReason: undefined }, { eager: 3, recorded: 0, replayed: 0, programs: 0, lastReason: undefined });
        assert.match(step.stats.lastReason ?? "", /cannot record/);
      });
      continue;
    }

    s(`${name}: replayed KronA steps with dropout are bit-identical to eager ones (losses, norms, weights, generator)`, () =>
      onOwnDevice(async (backend) => {
        manualSeed(7);
        const eager = trainer(backend);
        const eagerValues: [number, number][] = [];
        for (let i = 0; i < 6; i++) eagerValues.push(await trainStep(eager, backend, i, eager.stepFn));
        const afterEager = nextSeed();

        manualSeed(7);
        const captured = trainer(backend);
        const step = captureStep(captured.stepFn, { parameters: captured.params });
        const launchesBefore = backend.stats().dispatches;
        for (let i = 0; i < 6; i++) {
          const values = await trainStep(captured, backend, i, (x) => step.run(x));
          assert.equal(values, eagerValues[i], `step ${i}: [loss, norm] replayed vs eager`);
        }
        assert.ok(launchesBefore < backend.stats().dispatches);
        assert.is(nextSeed(), afterEager, "the global generator ends where the eager run left it");
        assert.equal({ ...step.stats }, { eager: 2, recorded: 2, replayed: 4, programs: 1, lastReason: null });
        assertSameWeights(await weights(captured), await weights(eager), "after 6 steps");
        // the losses changed step to step (dropout masks and batches differ): a frozen replay would not
        assert.ok(new Set(eagerValues.map(([l]) => l)).size === 6);
        step.release();
      }));

    s(`${name}: each reason not to replay runs the step eagerly instead, and the results still match`, () =>
      onOwnDevice(async (backend) => {
        manualSeed(11);
        const eager = trainer(backend);
        manualSeed(11);
        const captured = trainer(backend);
        let step: CapturedStep<[Tensor, Tensor]> = captureStep(captured.stepFn, { parameters: captured.params, inputRanges: RANGES });
        let i = 0;
        const both = async (run: (inputs: readonly Tensor[]) => readonly Tensor[], what: string) => {
          manualSeed(1000 + i);
          const a = await trainStep(eager, backend, i, eager.stepFn);
          manualSeed(1000 + i);
          const b = await trainStep(captured, backend, i, run);
          assert.equal(b, a, `${what}: captured vs eager`);
          i++;
        };
        await both((x) => step.run(x), "first recording");
        await both((x) => step.run(x), "second recording");
        await both((x) => step.run(x), "replay");
        assert.is(step.stats.replayed, 1);

        // a captured step inside a captured step: the inner one runs as written while the outer one records
        // (a replay would be missing from the recording), then the outer one replays both
        const outer = captureStep((x) => step.run(x), { parameters: captured.params, inputRanges: RANGES });
        for (let k = 0; k < 3; k++) await both((x) => outer.run(x), `nested, run ${k}`);
        assert.equal([outer.stats.recorded, outer.stats.replayed], [2, 1]);
        assert.is(step.stats.replayed, 1, "the inner step did not replay inside the outer one's recordings");
        outer.release();

        // a gradient already present: the step would add to it
        captured.params[0]!.grad = captured.params[0]!.mul(0);
        step.run(deviceBatch(backend, 50)).forEach((t) => t.dispose());
        assert.match(step.stats.lastReason ?? "", /already has a gradient/);
        captured.optimizer.zeroGrad();

        // a result of the previous replay still held
        const kept = step.run(deviceBatch(backend, 99));
        assert.is(step.stats.lastReason, null);
        captured.optimizer.zeroGrad();
        const again = step.run(deviceBatch(backend, 98));
        assert.match(step.stats.lastReason ?? "", /still held/);
        [...kept, ...again].forEach((t) => t.dispose());
        captured.optimizer.zeroGrad();

        // an input outside its declared range (ids ≥ vocab): eager, so the op's own check reports it
        const bad = deviceBatch(backend, 5);
        const badIds = tensor(new Int32Array(B * S).fill(CONFIG.vocabSize), { backend, shape: [B, S], dtype: "int32" });
        assert.throws(() => step.run([badIds, bad[1]!, bad[2]!, bad[3]!]), /vocab|range|out of/i);
        assert.match(step.stats.lastReason ?? "", /outside \[0, 95\]/);
        [...bad, badIds].forEach((t) => t.dispose());
        captured.optimizer.zeroGrad();

        // a strided view as an input (replays copy whole buffers): run as written
        const twice = tensor(new Int32Array(B * 2 * S).fill(5), { backend, shape: [B, 2 * S], dtype: "int32" });
        const rest = deviceBatch(backend, 7);
        step.run([twice.slice([null, [0, S]]), ...rest.slice(1)]).forEach((t) => t.dispose());
        assert.match(step.stats.lastReason ?? "", /strided view/);
        [twice, ...rest].forEach((t) => t.dispose());
        captured.optimizer.zeroGrad();

        // new shapes: recorded again, not replayed
        const wide = [tensor(new Int32Array(B * (S + 1)).fill(5), { backend, shape: [B, S + 1], dtype: "int32" }), tensor(new Int32Array(B * (S + 1)).fill(1), { backend, shape: [B, S + 1], dtype: "int32" }), ...deviceBatch(backend, 6).slice(2)];
        step.run(wide).forEach((t) => t.dispose());
        assert.match(step.stats.lastReason ?? "", /first run of these input shapes/);
        captured.optimizer.zeroGrad();
        step.release();

        // freeing a buffer the step does not read (a collected tensor's finalizer may do so meanwhile) is harmless;
        // the program's memory shows in the backend's stats until it is released
        const unrelated = [1, 2, 3].map((v) => tensor([v, v], { backend }));
        let freed = 0;
        step = captureStep((x) => {
          unrelated[freed++]!.dispose();
          return captured.stepFn(x);
        }, { parameters: captured.params, inputRanges: RANGES });
        for (let k = 0; k < 3; k++) {
          step.run(deviceBatch(backend, 40 + k)).forEach((t) => t.dispose());
          captured.optimizer.zeroGrad();
        }
        assert.is(step.stats.replayed, 1, step.stats.lastReason ?? "");
        const held = backend.stats().stepProgramBytes ?? 0;
        assert.ok(held > 0);
        step.release();
        assert.ok((backend.stats().stepProgramBytes ?? 0) < held, "released programs give their memory back");
        unrelated[2]!.dispose();

        // a step that reads a value back is never replayed
        step = captureStep((x) => {
          const r = captured.stepFn(x);
          void r[0].item();
          return r;
        }, { parameters: captured.params });
        for (let k = 0; k < 3; k++) {
          step.run(deviceBatch(backend, 20 + k)).forEach((t) => t.dispose());
          captured.optimizer.zeroGrad();
        }
        assert.is(step.stats.replayed, 0);
        assert.match(step.stats.lastReason ?? "", /read a value back/);

        // data uploaded inside the step that changes per step (here a host mask) must be an input
        let n = 0;
        step = captureStep((x) => {
          const h = hostBatch(n++);
          const loss = tidy(() => captured.peft.forward({ inputIds: x[0]!, attentionMask: { data: h.mask, shape: [B, S] }, labels: x[2]!, decoderInputIds: x[3]! }).loss!);
          loss.backward();
          return [loss, clipGradNorm(captured.params, 1.0)] as [Tensor, Tensor];
        }, { parameters: captured.params });
        for (let k = 0; k < 3; k++) {
          step.run(deviceBatch(backend, 30 + k)).forEach((t) => t.dispose());
          captured.optimizer.zeroGrad();
        }
        assert.is(step.stats.replayed, 0);
        assert.match(step.stats.lastReason ?? "", /upload .* differs/, step.stats.lastReason ?? "");
        step.release();

        // a step function must be synchronous (an async one returns a promise, not its tensors)
        const asyncStep = captureStep((async () => [] as Tensor[]) as unknown as (x: readonly Tensor[]) => Tensor[]);
        const inputs = deviceBatch(backend, 60);
        assert.throws(() => asyncStep.run(inputs), /returned a promise/);
        inputs.forEach((t) => t.dispose());

        // a freed weight: the program refuses
        manualSeed(5);
        const other = trainer(backend);
        step = captureStep(other.stepFn, { parameters: other.params });
        for (let k = 0; k < 2; k++) await trainStep(other, backend, k, (x) => step.run(x));
        const weight = [...other.peft.base.namedParameters()].find(([p]) => p.endsWith("wo.weight"))![1];
        weight.dispose();
        assert.throws(() => step.run(deviceBatch(backend, 3)));
        assert.match(step.stats.lastReason ?? "", /was freed since it was recorded/);
        step.release();
      }));
  }
  s.run();
}
