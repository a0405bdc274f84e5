/**
 * Where a training step's host (JavaScript) time goes, on `bench -- step --quick`'s model and batch
 * (bench/step.ts SMALL_SHAPE, 2×16→4, q and v adapters, AdamW), after 5 warm-up steps:
 *
 *  - by default, each backend.dispatch call is timed with performance.now: host µs per launch split into
 *    the backend's dispatch (kernel.gpu, caches, native calls) and everything above it (ops, autograd,
 *    tensors), for the least and the median disturbed step;
 *  - with --profile, the steps run under V8's sampling profiler instead and self / inclusive time per
 *    function is printed in µs per launch (the profiler inflates host time about 3×, native calls most: use
 *    it to find hot spots, the split for figures). --out FILE keeps the .cpuprofile (Chrome DevTools).
 *
 *  - with --capture, the step runs through captureStep (core/tensor/capture.ts) as `webpeft train` runs
 *    it, inputs uploaded as device tensors inside the timed step: after two recorded steps every step is
 *    a replay, and "dispatch" covers only the eager launches left (AdamW, clearing gradients).
 *
 *   npx tsx bench/dev/host-time.ts [--method krona|lora] [--steps 40] [--capture] [--profile [--top 40] [--out F]]
 *
 * (This found Node's `webgpu` poller spinning while a step's read-back was pending: its garbage was
 * collected inside the next step's recording. See core/backend/webgpu/device-wait.ts.)
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { createT5 } from "../../core/models/t5/load.ts";
import { AdamW } from "../../core/optim/adamw.ts";
import { PeftModel } from "../../core/peft/peft-model.ts";
import "../../plugins/mod.ts";
import { createHostWebGPUBackend } from "../../runners/host.ts";
import { SMALL_SHAPE, capturedForwardBackward, forwardBackward } from "../step.ts";
import { batchOf } from "../t5.ts";

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const method = option("method", "krona");
const steps = Number(option("steps", "40"));
const profiling = args.includes("--profile");
const capturing = args.includes("--capture");

const backend = await createHostWebGPUBackend();
const peft = new PeftModel(createT5(SMALL_SHAPE, { backend, seed: 1 }).eval());
peft.addAdapter(method, method, { ...(method === "lora" ? { r: 8, alpha: 16 } : {}), targets: ["q", "v"] });
const parameters = peft.trainableParameters().map(([, p]) => p);
const optimizer = new AdamW(parameters, { lr: 1e-3 });
const inputs = batchOf(2, 16, 4, SMALL_SHAPE.vocabSize);
const captured = capturedForwardBackward(peft, parameters);

// backend.dispatch timed while `timing` (the split mode's timed steps)
const dispatch = backend.dispatch.bind(backend);
let timing = false;
let dispatchMs = 0;
(backend as { dispatch: typeof backend.dispatch }).dispatch = (kernel, params, buffers) => {
  if (!timing) return dispatch(kernel, params, buffers);
  const start = performance.now();
  dispatch(kernel, params, buffers);
  dispatchMs += performance.now() - start;
};

/** One step: forward with loss, backward, AdamW, gradients cleared; returns [host ms, dispatch ms, launches]. */
async function step(): Promise<[number, number, number]> {
  await backend.sync();
  dispatchMs = 0;
  const before = backend.stats().dispatches;
  const start = performance.now();
  const loss = forwardBackward(peft, inputs, capturing ? captured : null);
  optimizer.step();
  optimizer.zeroGrad();
  const host = performance.now() - start;
  const launches = backend.stats().dispatches - before;
  await loss.item();
  loss.dispose();
  return [host, dispatchMs, launches];
}

for (let i = 0; i < 5; i++) await step();
if (capturing && captured.stats.replayed === 0) throw new Error(`the captured step does not replay: ${captured.stats.lastReason}`);
if (!profiling) {
  timing = true;
  const rows: [number, number, number][] = [];
  for (let i = 0; i < steps; i++) rows.push(await step());
  rows.sort((a, b) => a[0] - b[0]);
  for (const [name, [host, inDispatch, launches]] of [["min", rows[0]!], ["median", rows[rows.length >> 1]!]] as const) {
    const us = (ms: number) => ((ms * 1000) / launches).toFixed(1);
    console.log(`${method}${capturing ? " captured" : ""} ${name.padEnd(6)} host ${host.toFixed(2)} ms = ${us(host)} µs/launch: dispatch ${us(inDispatch)}, above it ${us(host - inDispatch)} (${launches} launches)`);
  }
} else {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 50 });
  await session.post("Profiler.start");
  let launches = 0;
  for (let i = 0; i < steps; i++) launches += (await step())[2];
  const { profile } = await session.post("Profiler.stop");
  const out = option("out", "");
  if (out) writeFileSync(out, JSON.stringify(profile));
  printProfile(profile as unknown as CpuProfile, launches, Number(option("top", "40")));
}
backend.dispose();

interface CpuProfile {
  readonly nodes: readonly { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Self and inclusive (once per sampled stack) time per function, in µs per launch. */
function printProfile(profile: CpuProfile, launches: number, top: number): void {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (id: number) => {
    const { functionName, url } = nodes.get(id)!.callFrame;
    return `${functionName || "(anonymous)"} ${url.replace(/^.*\/(core|plugins|bench|runners|node_modules)\//, "$1/")}`;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  profile.samples.forEach((sample, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(label(sample), (self.get(label(sample)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = sample; id !== undefined; id = parent.get(id)) {
      const l = label(id);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + dt);
    }
  });
  for (const [title, table] of [["self", self], ["inclusive", inclusive]] as const) {
    console.log(`\n${title} µs per launch (${launches} launches profiled)`);
    for (const [l, t] of [...table].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(t / launches).toFixed(2).padStart(8)}  ${l}`);
  }
}
