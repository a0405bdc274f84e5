/**
 * Training-step benchmark: the host (JavaScript) cost of a PEFT training step, which bounds the step on a
 * real GPU, and the step time here.
 *
 * One step = forward with loss, backward, AdamW update, gradients cleared (the loop's step without
 * clipping), on a T5-small-shaped model (bench/t5.ts) with random weights, train mode off (no dropout, so
 * every step launches the same kernels). Per engine (webgpu, cpu) and method (KronA, LoRA on q and v):
 *
 *   launches/step    kernel launches recorded by one step (Backend.stats().dispatches)
 *   host ms/step     wall time until the step's JavaScript returns, before waiting for the device: on
 *                    webgpu that is recording (the device starts on the first submit, so on lavapipe,
 *                    which runs on the same CPU cores, part of its work overlaps); on cpu, everything
 *   µs/launch        host ms ÷ launches (issue 9's target: ≤ 10 µs, on a batch small enough that the
 *                    device's share is negligible: use --quick)
 *   step ms          wall time until the step's results are on the host
 *   bind groups/step new WebGPU bind groups per step after warm-up (0 when every launch reuses one)
 *
 * Rounds are interleaved across methods (bench/plugins.ts interleaved()) after three warm-up steps per
 * method; min / median / max are reported. Output: a table, and with --json one JSON line per engine and method.
 *
 * Not measured yet (issue 9 asks for them): a same-run PyTorch CPU step and the WebGPU peers
 * (tfjs-webgpu, jax-js); the plugin bench (bench/plugins.ts) has forward + backward without AdamW.
 */
import type { Backend } from "../core/backend/backend.ts";
import { createCpuBackend } from "../core/backend/cpu/cpu-backend.ts";
import { parseT5Config, type T5Config } from "../core/io/t5-config.ts";
import { createT5 } from "../core/models/t5/load.ts";
import { AdamW } from "../core/optim/adamw.ts";
import { PeftModel } from "../core/peft/peft-model.ts";
import { tidy } from "../core/tensor/scope.ts";
import "../plugins/mod.ts";
import { interleaved, median } from "./plugins.ts";
import { T5_SMALL_SHAPE, batchOf } from "./t5.ts";

export interface StepBenchRow {
  readonly bench: "step";
  readonly engine: string;
  readonly method: string;
  readonly model: string;
  readonly batch: string;
  readonly trainable: number;
  readonly launchesPerStep: number;
  readonly hostMs: Stats;
  readonly stepMs: Stats;
  readonly usPerLaunch: number;
  /** webgpu only: bind groups created per step after warm-up */
  readonly bindGroupsPerStep: number | null;
  readonly rounds: number;
}

export interface Stats {
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

const METHODS: readonly { readonly method: string; readonly config: unknown }[] = [
  { method: "krona", config: {} },
  { method: "lora", config: { r: 8, alpha: 16 } },
];

/** The small model of the demo's size (d_model 128, 4 + 4 layers) for --quick and the cpu engine. */
export const SMALL_SHAPE: T5Config = parseT5Config(
  { architectures: ["T5ForConditionalGeneration"], model_type: "t5", vocab_size: 8100, d_model: 128, d_kv: 32, d_ff: 512, num_layers: 4, num_heads: 4, feed_forward_proj: "relu" },
  "small shape (bench)",
);

function stats(xs: readonly number[]): Stats {
  return { min: Math.min(...xs), median: median(xs), max: Math.max(...xs) };
}

export interface StepBenchOptions {
  readonly engines: readonly { readonly name: string; readonly backend: Backend; readonly shape: T5Config; readonly shapeName: string }[];
  readonly batch: number;
  readonly sourceLength: number;
  readonly targetLength: number;
  readonly rounds: number;
  readonly log?: (line: string) => void;
}

export async function runStepBench(options: StepBenchOptions): Promise<StepBenchRow[]> {
  const log = options.log ?? console.log;
  const { batch: B, sourceLength: S, targetLength: T, rounds } = options;
  const rows: StepBenchRow[] = [];
  for (const engine of options.engines) {
    const backend = engine.backend;
    const inputs = batchOf(B, S, T, engine.shape.vocabSize);
    const peft = new PeftModel(createT5(engine.shape, { backend, seed: 1 }).eval());
    const variants = METHODS.map(({ method, config }) => {
      peft.addAdapter(method, method, { ...(config as object), targets: ["q", "v"] }, { activate: false });
      peft.setActive(method);
      const parameters = peft.trainableParameters().map(([, p]) => p);
      return { method, optimizer: new AdamW(parameters, { lr: 1e-3 }), trainable: peft.parameterCounts().trainable, times: [] as number[], host: [] as number[], launches: 0, bindGroups: [] as number[] };
    });
    // One step; returns its wall ms (interleaved() keeps those of the timed rounds), records the rest.
    const runStep = async (v: (typeof variants)[number]): Promise<number> => {
      peft.setActive(v.method);
      await backend.sync();
      const before = backend.stats();
      const start = performance.now();
      const loss = tidy(() => {
        const l = peft.forward(inputs).loss!;
        l.backward();
        return l;
      });
      v.optimizer.step();
      v.optimizer.zeroGrad();
      const recorded = performance.now();
      await loss.item();
      const done = performance.now();
      loss.dispose();
      const after = backend.stats();
      v.host.push(recorded - start);
      v.launches = after.dispatches - before.dispatches;
      v.bindGroups.push((after.bindGroupsCreated ?? 0) - (before.bindGroupsCreated ?? 0));
      return done - start;
    };
    // warm-up: pipelines compiled, the buffer pool filled, bind groups settled (3 steps each: 2 here and
    // interleaved()'s warm-up round)
    for (const v of variants) for (let i = 0; i < 2; i++) await runStep(v);
    await interleaved(variants, rounds, runStep);
    for (const v of variants) {
      const host = stats(v.host.slice(-rounds));
      const row: StepBenchRow = {
        bench: "step",
        engine: engine.name,
        method: v.method,
        model: engine.shapeName,
        batch: `${B}×${S}→${T}`,
        trainable: v.trainable,
        launchesPerStep: v.launches,
        hostMs: host,
        stepMs: stats(v.times),
        usPerLaunch: (host.median * 1000) / v.launches,
        bindGroupsPerStep: backend.name === "webgpu" ? v.bindGroups.slice(-rounds).reduce((a, b) => a + b, 0) / rounds : null,
        rounds,
      };
      rows.push(row);
      v.optimizer.dispose();
    }
    peft.base.dispose();
    peft.dispose();
  }
  const fmt = (s: Stats) => `${s.min.toFixed(0)} / ${s.median.toFixed(0)} / ${s.max.toFixed(0)}`;
  log(`\n${"engine".padEnd(7)} ${"method".padEnd(6)} ${"model".padEnd(14)} ${"launches".padStart(8)} ${"host ms min/med/max".padStart(20)} ${"µs/launch".padStart(9)} ${"step ms min/med/max".padStart(22)} ${"new bind groups".padStart(15)}`);
  for (const r of rows) {
    log(`${r.engine.padEnd(7)} ${r.method.padEnd(6)} ${r.model.padEnd(14)} ${String(r.launchesPerStep).padStart(8)} ${fmt(r.hostMs).padStart(20)} ${r.usPerLaunch.toFixed(1).padStart(9)} ${fmt(r.stepMs).padStart(22)} ${(r.bindGroupsPerStep === null ? "-" : r.bindGroupsPerStep.toFixed(1)).padStart(15)}`);
  }
  return rows;
}

/** `npm run bench -- step [--quick] [--backend cpu|webgpu] [--json]`. */
export async function stepBenchFromArgs(args: readonly string[], gpu: Backend | undefined): Promise<StepBenchRow[]> {
  const quick = args.includes("--quick");
  const engines: StepBenchOptions["engines"][number][] = [];
  // T5-small on lavapipe takes seconds per step; the cpu engine gets the small model (T5-small: minutes).
  if (gpu) engines.push({ name: "webgpu", backend: gpu, shape: quick ? SMALL_SHAPE : T5_SMALL_SHAPE, shapeName: quick ? "small" : "t5-small" });
  if (!args.join(" ").includes("--backend webgpu") && !args.includes("--backend=webgpu")) engines.push({ name: "cpu", backend: createCpuBackend(), shape: SMALL_SHAPE, shapeName: "small" });
  const rows = await runStepBench({
    engines,
    batch: quick ? 2 : 8,
    sourceLength: quick ? 16 : 128,
    targetLength: quick ? 4 : 8,
    rounds: quick ? 5 : 3,
    log: args.includes("--json") ? () => {} : console.log,
  });
  if (args.includes("--json")) for (const r of rows) console.log(JSON.stringify(r));
  return rows;
}
