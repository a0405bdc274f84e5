/**
 * Training-step benchmark: the host (JavaScript) cost of a PEFT training step, which bounds the step on a
 * real GPU, and the step time here, against a same-run PyTorch CPU step of the same model and batch.
 *
 * One step = forward with loss, backward, AdamW update, gradients cleared (the loop's step without
 * clipping), on a T5-small-shaped model (bench/t5.ts) with random weights, train mode off (no dropout, so
 * every step launches the same kernels). Per engine (webgpu, cpu, pytorch-cpu) and method (KronA, LoRA
 * r 8 α 16, both on q and v):
 *
 *   launches/step    kernel launches recorded by one step (Backend.stats().dispatches)
 *   host ms/step     wall time until the step's JavaScript returns, before waiting for the device: on
 *                    webgpu that is recording (the device starts on the first submit, so on lavapipe,
 *                    which runs on the same CPU cores, part of its work overlaps); on cpu, everything
 *   µs/launch        host ms ÷ launches, min and median rounds (issue 9's target: ≤ 10 µs, on a batch
 *                    small enough that the device's share is negligible: use --quick)
 *   step ms          wall time until the step's results are on the host
 *   bind groups/step new WebGPU bind groups per step after warm-up (0 when every launch reuses one)
 *   ÷ pytorch        our step ms ÷ PyTorch's step ms (medians), same model, method and batch
 *
 * webgpu-captured: the same step (inputs as device tensors: ids, mask, labels, decoder ids, uploaded inside
 * the timed step) through captureStep (core/tensor/capture.ts), the way `webpeft train` runs it: its first
 * two runs are recorded during the warm-up, every timed round is a replay of the recorded launches
 * without the JavaScript above them (the bench fails if one is not). Host ms then covers the uploads, the
 * replay's native calls, AdamW and clearing the gradients. Its launches are 2 more than webgpu's: the
 * attention mask becomes a bias on the device.
 *
 * --kernels also prints, per engine and method, one step's launches grouped by launch key (kernel name and
 * specialisation, e.g. "ew:add:r1:…", "matmul", "rmsNorm"): where the launches go.
 *
 * Rounds are interleaved across methods (bench/plugins.ts interleaved()) after three warm-up steps per
 * method; min / median / max are reported. Output: a table, and with --json one JSON line per engine and method.
 *
 * PyTorch CPU (engine "pytorch-cpu"): bench/torch_step.py, spawned ONCE per bench run, AFTER our engines'
 * rounds (sequential blocks: running it beside ours would make the two share the cores). It builds the same
 * architecture (scripts/goldens/t5_reference.py's independent T5, float32, no dropout), gets the same token
 * ids, attaches the same adapters (same targets, factor shapes, scales and inits, base frozen) and runs
 * forward + loss, backward, torch.optim.AdamW (lr 1e-3, torch's defaults = ours) and zero_grad, with the
 * same warm-up (3 per method) and rounds interleaved across methods the same way. It runs one model per
 * distinct model shape of our engines (T5-small for both without --quick, the small model with it).
 * Threads: torch.set_num_threads(usable CPUs) unless --torch-threads N; our cpu engine is one JS thread.
 * (On a machine busy with other jobs, torch's OpenMP threads spin-wait for each other and its step time
 * balloons: t5-small took 50 s a step at nice 15 beside a pretraining job; try --torch-threads 1 there.)
 * Its trainable parameter counts are compared with ours; a mismatch is reported loudly on stderr and
 * under the table.
 * Python: $WEBPEFT_PYTHON, else /usr/bin/python3 (Debian's python3-torch; a pyenv `python3` on PATH
 * usually has no torch). Debian's torch calls the system's libblas.so.3: install an optimised one
 * (`apt-get install libopenblas0-pthread`), or its matmul runs on the reference BLAS at ~5 GFLOP/s instead
 * of 100+ and every ratio flatters us by ~20× (bench/issue9-run.sh checks). When it cannot run or torch does not import, the table (and --json, as a line
 * with "measured": false) says "PyTorch CPU not measured" and why; the bench still succeeds. --no-torch
 * skips it and says so. Machine-load drift between our block and PyTorch's shows up in the ratios:
 * compare ratios of several runs.
 *
 * The WebGPU peers (tfjs-webgpu, jax-js) are compared on matmul and an MLP training step by
 * `npm run bench -- peers` (bench/peers.ts); the plugin bench (bench/plugins.ts) has forward + backward
 * without AdamW.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Backend } from "../core/backend/backend.ts";
import type { GpuFeatures } from "../core/backend/kernel.ts";
import { createCpuBackend } from "../core/backend/cpu/cpu-backend.ts";
import { parseT5Config, t5ConfigToJson, type T5Config } from "../core/io/t5-config.ts";
import { createT5 } from "../core/models/t5/load.ts";
import { type IntMatrix, type T5Inputs, hostMatrix, labelledBatchTensors } from "../core/models/t5/model.ts";
import { AdamW } from "../core/optim/adamw.ts";
import { PeftModel } from "../core/peft/peft-model.ts";
import { type CapturedStep, captureStep } from "../core/tensor/capture.ts";
import { tidy } from "../core/tensor/scope.ts";
import type { Tensor } from "../core/tensor/tensor.ts";
import "../plugins/mod.ts";
import { interleaved, median } from "./plugins.ts";
import { T5_SMALL_SHAPE, batchOf } from "./t5.ts";

/** The engine name of the PyTorch CPU rows. */
export const PYTORCH_ENGINE = "pytorch-cpu";

export interface StepBenchRow {
  readonly bench: "step";
  /** "webgpu", "webgpu-captured" (the step through captureStep, replayed), "cpu" (ours) or "pytorch-cpu" */
  readonly engine: string;
  readonly method: string;
  readonly model: string;
  readonly batch: string;
  readonly trainable: number;
  /** null for pytorch-cpu (no launch count) */
  readonly launchesPerStep: number | null;
  /** null for pytorch-cpu (torch on the CPU is synchronous: its step ms is all host time) */
  readonly hostMs: Stats | null;
  readonly stepMs: Stats;
  /** host ms median ÷ launches; null for pytorch-cpu */
  readonly usPerLaunch: number | null;
  /**
   * host ms min ÷ launches: the least disturbed round (on a shared machine the median carries garbage
   * collections and other processes' time slices); null for pytorch-cpu
   */
  readonly usPerLaunchMin: number | null;
  /** webgpu only: bind groups created per step after warm-up */
  readonly bindGroupsPerStep: number | null;
  readonly rounds: number;
  /** ours: step ms median ÷ PyTorch's step ms median (same model and method); null without a PyTorch row */
  readonly vsPytorch: number | null;
  /** CPU threads: 1 for our cpu engine (the JS thread), torch's thread count for pytorch-cpu; null on webgpu */
  readonly threads: number | null;
  /** pytorch-cpu: torch.__version__; null on ours */
  readonly torchVersion: string | null;
}

export interface Stats {
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

/** Whether the PyTorch step was measured in this run, and if not, why. */
export type PytorchStatus =
  | { readonly measured: true; readonly python: string; readonly torchVersion: string; readonly threads: number }
  | { readonly measured: false; readonly reason: string };

export interface StepBenchResult {
  readonly rows: StepBenchRow[];
  readonly pytorch: PytorchStatus;
}

const METHODS: readonly { readonly method: string; readonly config: Record<string, unknown> }[] = [
  { method: "krona", config: {} },
  { method: "lora", config: { r: 8, alpha: 16 } },
];
/** Every method's target Linears (sent to PyTorch too). */
const TARGETS = ["q", "v"];
/** Warm-up steps per method before the timed rounds (ours: 2 + interleaved()'s warm-up round). */
const WARMUP_STEPS = 3;

/** The small model of the demo's size (d_model 128, 4 + 4 layers) for --quick. */
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
  /** How to run bench/torch_step.py, or why not (e.g. --no-torch). Default: $WEBPEFT_PYTHON or /usr/bin/python3. */
  readonly pytorch?: { readonly python: string; readonly threads?: number } | { readonly skip: string };
  readonly log?: (line: string) => void;
  /** Print one step's launches per launch key for every engine and method (--kernels). */
  readonly kernels?: boolean;
}

/**
 * Launches per launch key during `run` (the key a WebGPU launch would have; kernel name if it has none),
 * by wrapping the backend's dispatch for the duration.
 */
async function launchesByKernel(backend: Backend, run: () => Promise<unknown>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const target = backend as { dispatch: Backend["dispatch"] };
  // the keys the backend's own launches have (a WebGPU backend's subgroup size; none elsewhere)
  const features: GpuFeatures = (backend as { features?: GpuFeatures }).features ?? { subgroupSize: 0 };
  const own = Object.prototype.hasOwnProperty.call(target, "dispatch");
  const original = target.dispatch;
  target.dispatch = function (kernel, params, buffers) {
    let key = kernel.name;
    try {
      key = kernel.gpu(params, features).key;
    } catch {
      // a kernel without a WGSL launch for these params: count it under its name
    }
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return original.call(this, kernel, params, buffers);
  };
  try {
    await run();
  } finally {
    if (own) target.dispatch = original;
    else delete (target as { dispatch?: unknown }).dispatch;
  }
  return counts;
}

// ---- PyTorch CPU (bench/torch_step.py) ------------------------------------------------------------

/** The python that runs bench/torch_step.py: $WEBPEFT_PYTHON, else Debian's (which has python3-torch). */
export const defaultPython = (): string => process.env.WEBPEFT_PYTHON || "/usr/bin/python3";

/** One line of bench/torch_step.py's output (see its docstring). */
interface TorchStepLine {
  readonly kind: "torch-step";
  readonly model: string;
  readonly method: string;
  /** [B, S, T] */
  readonly batch: readonly [number, number, number];
  readonly trainable: number;
  readonly targets: number;
  readonly stepMs: readonly number[];
  readonly warmupMs: readonly number[];
  /** first and last step's loss */
  readonly loss: readonly [number, number];
  readonly torch: string;
  readonly threads: number;
}

interface TorchJobModel {
  readonly name: string;
  readonly config: T5Config;
  readonly inputs: T5Inputs;
}

/** (B, S) or (B, T) ids as nested arrays, the way torch.tensor takes them. */
function nestedRows(m: IntMatrix | undefined, what: string): number[][] {
  const host = m === undefined ? null : hostMatrix(m, what);
  if (!host) throw new Error(`torch step: ${what} must be host data`);
  return Array.from({ length: host.rows }, (_, r) => Array.from(host.data.subarray(r * host.cols, (r + 1) * host.cols)));
}

/** Last lines of a process's stderr, for a failure message. */
const tail = (text: string, lines = 6): string => text.trim().split("\n").slice(-lines).join(" | ");

/**
 * Runs bench/torch_step.py once for all `models` (one JSON job on its stdin) and parses its JSON lines.
 * Never throws for a missing python or torch: that comes back as `{ measured: false, reason }`.
 */
export async function runTorchStep(job: {
  readonly python: string;
  readonly threads?: number;
  readonly models: readonly TorchJobModel[];
  readonly rounds: number;
}): Promise<{ readonly status: PytorchStatus; readonly lines: readonly TorchStepLine[] }> {
  const script = fileURLToPath(new URL("./torch_step.py", import.meta.url));
  const input = JSON.stringify({
    models: job.models.map((m) => ({
      name: m.name,
      config: t5ConfigToJson(m.config),
      inputIds: nestedRows(m.inputs.inputIds, "inputIds"), // (B, S)
      attentionMask: nestedRows(m.inputs.attentionMask, "attentionMask"), // (B, S)
      labels: nestedRows(m.inputs.labels, "labels"), // (B, T)
    })),
    methods: METHODS.map(({ method, config }) => ({ method, config: { ...config, targets: TARGETS } })),
    warmup: WARMUP_STEPS,
    rounds: job.rounds,
    seed: 1,
  });
  const args = [script, ...(job.threads === undefined ? [] : ["--threads", String(job.threads)])];
  const notMeasured = (reason: string) => ({ status: { measured: false, reason } as const, lines: [] });
  const { code, signal, stdout, stderr, spawnError } = await new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; spawnError?: Error }>((resolve) => {
    let stdout = "";
    let stderr = "";
    let spawnError: Error | undefined;
    const child = spawn(job.python, args, { stdio: ["pipe", "pipe", "pipe"] });
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", (e) => (spawnError = e)); // e.g. ENOENT: no such python; "close" still follows
    child.stdin.on("error", () => {}); // EPIPE when python exits before reading the job (no torch): reported below
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr, ...(spawnError ? { spawnError } : {}) }));
    child.stdin.end(input);
  });
  if (spawnError) return notMeasured(`cannot run ${job.python} (${spawnError.message}); set WEBPEFT_PYTHON to a python with torch`);
  const parsed: { kind?: string; reason?: string }[] = [];
  for (const line of stdout.split("\n")) {
    if (!line.trim()) continue;
    try {
      parsed.push(JSON.parse(line));
    } catch {
      return notMeasured(`bench/torch_step.py printed a line that is not JSON: ${line.slice(0, 200)}`);
    }
  }
  const unavailable = parsed.find((p) => p.kind === "torch-unavailable");
  if (unavailable) return notMeasured(`${unavailable.reason ?? "torch does not import"} (install python3-torch, or set WEBPEFT_PYTHON)`);
  if (code !== 0) return notMeasured(`${job.python} bench/torch_step.py failed (${signal ? `signal ${signal}` : `exit ${code}`}): ${tail(stderr)}`);
  const lines = parsed.filter((p): p is TorchStepLine => p.kind === "torch-step");
  const expected = job.models.length * METHODS.length;
  if (lines.length !== expected) return notMeasured(`bench/torch_step.py printed ${lines.length} results, expected ${expected}: ${tail(stderr)}`);
  const first = lines[0]!;
  return { status: { measured: true, python: job.python, torchVersion: first.torch, threads: first.threads }, lines };
}

// ---- the bench ------------------------------------------------------------------------------------

/**
 * The benches' forward + loss + backward through captureStep (core/tensor/capture.ts), as `webpeft
 * train` runs it: inputs are the device tensors of labelledBatchTensors, the key the active adapters.
 */
export function capturedForwardBackward(peft: PeftModel, parameters: readonly Tensor[]): CapturedStep<[Tensor]> {
  return captureStep(
    (batch) => {
      const [inputIds, attentionMask, labels, decoderInputIds] = batch as [Tensor, Tensor, Tensor, Tensor];
      const l = tidy(() => peft.forward({ inputIds, attentionMask, labels, decoderInputIds }).loss!);
      l.backward();
      return [l];
    },
    { parameters, stateKey: () => peft.active.join() },
  );
}

/**
 * Forward + loss + backward of one batch; returns the loss. With `captured`, the batch is uploaded as
 * device tensors and the step runs through it (a replay once it has been recorded twice).
 */
export function forwardBackward(peft: PeftModel, inputs: T5Inputs, captured: CapturedStep<[Tensor]> | null): Tensor {
  if (captured) {
    const batch = labelledBatchTensors(inputs, peft.base.config, peft.base.backend);
    const [loss] = captured.run(batch);
    for (const t of batch) t.dispose();
    return loss;
  }
  return tidy(() => {
    const l = peft.forward(inputs).loss!;
    l.backward();
    return l;
  });
}


export async function runStepBench(options: StepBenchOptions): Promise<StepBenchResult> {
  const log = options.log ?? console.log;
  const { batch: B, sourceLength: S, targetLength: T, rounds } = options;
  const batchLabel = `${B}×${S}→${T}`;
  const ours: StepBenchRow[] = [];
  for (const engine of options.engines) {
    const backend = engine.backend;
    const inputs = batchOf(B, S, T, engine.shape.vocabSize);
    const peft = new PeftModel(createT5(engine.shape, { backend, seed: 1 }).eval());
    const variants = METHODS.flatMap(({ method, config }) => {
      peft.addAdapter(method, method, { ...config, targets: TARGETS }, { activate: false });
      peft.setActive(method);
      const parameters = peft.trainableParameters().map(([, p]) => p);
      const optimizer = new AdamW(parameters, { lr: 1e-3 });
      const trainable = peft.parameterCounts().trainable;
      const variant = (captured: CapturedStep<[Tensor]> | null) => ({ method, captured, optimizer, trainable, times: [] as number[], host: [] as number[], launches: 0, bindGroups: [] as number[] });
      // The same step through captureStep (core/tensor/capture.ts), where the backend can record it: from
      // its third run on, the recorded launches are replayed without the JavaScript above them.
      const captured = backend.stepRecorder ? capturedForwardBackward(peft, parameters) : null;
      return captured ? [variant(null), variant(captured)] : [variant(null)];
    });
    // One step; returns its wall ms (interleaved() keeps those of the timed rounds), records the rest.
    const runStep = async (v: (typeof variants)[number]): Promise<number> => {
      peft.setActive(v.method);
      await backend.sync();
      const before = backend.stats();
      const start = performance.now();
      const loss = forwardBackward(peft, inputs, v.captured);
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
    // warm-up: pipelines compiled, the buffer pool filled, bind groups settled (WARMUP_STEPS = 3 steps
    // each: 2 here and interleaved()'s warm-up round)
    for (const v of variants) for (let i = 0; i < WARMUP_STEPS - 1; i++) await runStep(v);
    await interleaved(variants, rounds, runStep);
    if (options.kernels) {
      for (const v of variants) {
        const counts = await launchesByKernel(backend, () => runStep(v));
        v.host.pop(); // an extra step: keep the timed rounds' figures as they were
        v.bindGroups.pop();
        const total = [...counts.values()].reduce((a, b) => a + b, 0);
        log(`\n${engine.name} ${v.method}: ${total} launches per step by launch key`);
        for (const [key, n] of [...counts].sort((a, b) => b[1] - a[1])) log(`${String(n).padStart(6)}  ${key}`);
      }
    }
    for (const v of variants) {
      const host = stats(v.host.slice(-rounds));
      if (v.captured && v.captured.stats.replayed < rounds) throw new Error(`bench step: the captured ${v.method} step replayed ${v.captured.stats.replayed} of ${rounds} timed rounds (${v.captured.stats.lastReason})`);
      ours.push({
        bench: "step",
        engine: v.captured ? `${engine.name}-captured` : engine.name,
        method: v.method,
        model: engine.shapeName,
        batch: batchLabel,
        trainable: v.trainable,
        launchesPerStep: v.launches,
        hostMs: host,
        stepMs: stats(v.times),
        usPerLaunch: (host.median * 1000) / v.launches,
        usPerLaunchMin: (host.min * 1000) / v.launches,
        bindGroupsPerStep: backend.name === "webgpu" ? v.bindGroups.slice(-rounds).reduce((a, b) => a + b, 0) / rounds : null,
        rounds,
        vsPytorch: null, // filled in below once PyTorch has run
        threads: backend.name === "cpu" ? 1 : null,
        torchVersion: null,
      });
      v.captured?.release();
    }
    for (const v of variants) if (!v.captured) v.optimizer.dispose();
    peft.base.dispose();
    peft.dispose();
  }

  // PyTorch CPU, after our rounds (see the file comment), on each distinct model shape of our engines.
  const torchOption = options.pytorch ?? { python: defaultPython() };
  let pytorch: PytorchStatus;
  const torchRows: StepBenchRow[] = [];
  const mismatches: string[] = [];
  if ("skip" in torchOption) {
    pytorch = { measured: false, reason: torchOption.skip };
  } else {
    const models = new Map<string, TorchJobModel>();
    for (const e of options.engines) models.set(e.shapeName, { name: e.shapeName, config: e.shape, inputs: batchOf(B, S, T, e.shape.vocabSize) });
    const result = await runTorchStep({ python: torchOption.python, ...(torchOption.threads === undefined ? {} : { threads: torchOption.threads }), models: [...models.values()], rounds });
    pytorch = result.status;
    for (const line of result.lines) {
      torchRows.push({
        bench: "step",
        engine: PYTORCH_ENGINE,
        method: line.method,
        model: line.model,
        batch: batchLabel,
        trainable: line.trainable,
        launchesPerStep: null,
        hostMs: null,
        stepMs: stats(line.stepMs),
        usPerLaunch: null,
        usPerLaunchMin: null,
        bindGroupsPerStep: null,
        rounds: line.stepMs.length,
        vsPytorch: null,
        threads: line.threads,
        torchVersion: line.torch,
      });
      if (!line.loss.every(Number.isFinite)) console.error(`WARNING: PyTorch's ${line.method} loss on ${line.model} is not finite (${line.loss.join(" → ")})`);
      // Same adapters on both sides, or the comparison is meaningless: say so loudly.
      for (const r of ours.filter((o) => o.model === line.model && o.method === line.method && o.trainable !== line.trainable)) {
        mismatches.push(`${line.method}/${line.model}: ours (${r.engine}) ${r.trainable}, PyTorch ${line.trainable} (${line.targets} target Linears)`);
      }
    }
  }
  const torchFor = (r: StepBenchRow) => torchRows.find((t) => t.model === r.model && t.method === r.method);
  const rows: StepBenchRow[] = [
    ...ours.map((r) => {
      const t = torchFor(r);
      return { ...r, vsPytorch: t ? r.stepMs.median / t.stepMs.median : null };
    }),
    ...torchRows,
  ];

  const fmt = (s: Stats | null) => (s === null ? "-" : `${s.min.toFixed(0)} / ${s.median.toFixed(0)} / ${s.max.toFixed(0)}`);
  const dash = (x: number | null, digits: number) => (x === null ? "-" : x.toFixed(digits));
  log(
    `\n${"engine".padEnd(16)} ${"method".padEnd(6)} ${"model".padEnd(9)} ${"trainable".padStart(9)} ${"launches".padStart(8)} ${"host ms min/med/max".padStart(20)} ${"µs/launch min/med".padStart(17)} ` +
      `${"step ms min/med/max".padStart(22)} ${"new bind groups".padStart(15)} ${"÷ pytorch".padStart(9)}`,
  );
  for (const r of rows) {
    log(
      `${r.engine.padEnd(16)} ${r.method.padEnd(6)} ${r.model.padEnd(9)} ${String(r.trainable).padStart(9)} ${(r.launchesPerStep === null ? "-" : String(r.launchesPerStep)).padStart(8)} ${fmt(r.hostMs).padStart(20)} ${(r.usPerLaunch === null ? "-" : `${r.usPerLaunchMin!.toFixed(1)} / ${r.usPerLaunch.toFixed(1)}`).padStart(17)} ` +
        `${fmt(r.stepMs).padStart(22)} ${dash(r.bindGroupsPerStep, 1).padStart(15)} ${(r.vsPytorch === null ? "-" : `${r.vsPytorch.toFixed(2)}×`).padStart(9)}`,
    );
  }
  if (pytorch.measured) {
    log(`pytorch-cpu: torch ${pytorch.torchVersion} (${pytorch.python}), ${pytorch.threads} thread${pytorch.threads === 1 ? "" : "s"}, run after our rounds; our cpu engine is 1 JS thread. ÷ pytorch = our step ms median ÷ PyTorch's.`);
    if (mismatches.length > 0) {
      // on stderr too, so that it is seen with --json (whose stdout is machine-read)
      const warning = `!!! WARNING: trainable parameter counts differ, the ratios compare different adapters (fix bench/torch_step.py before reading them): ${mismatches.join("; ")}`;
      log(warning);
      console.error(`\n${warning}\n`);
    }
  } else {
    log(`pytorch-cpu: PyTorch CPU not measured: ${pytorch.reason}`);
  }
  return { rows, pytorch };
}

/** `npm run bench -- step [--quick] [--backend cpu|webgpu] [--json] [--no-torch] [--torch-threads N] [--kernels]`. */
export async function stepBenchFromArgs(args: readonly string[], gpu: Backend | undefined): Promise<StepBenchResult> {
  const quick = args.includes("--quick");
  const json = args.includes("--json");
  const engines: StepBenchOptions["engines"][number][] = [];
  // Full size: T5-small on both engines (a few seconds per step each on 2 cores; the cpu engine's WebAssembly
  // SIMD matmul made T5-small practical there); --quick: the small model everywhere.
  const [shape, shapeName] = quick ? [SMALL_SHAPE, "small"] : [T5_SMALL_SHAPE, "t5-small"];
  if (gpu) engines.push({ name: "webgpu", backend: gpu, shape, shapeName });
  if (!args.join(" ").includes("--backend webgpu") && !args.includes("--backend=webgpu")) engines.push({ name: "cpu", backend: createCpuBackend(), shape, shapeName });
  // --torch-threads N or --torch-threads=N: torch.set_num_threads (default: the usable CPUs)
  const threadsArg = args.find((a) => a.startsWith("--torch-threads="))?.split("=")[1] ?? (args.includes("--torch-threads") ? args[args.indexOf("--torch-threads") + 1] : undefined);
  const threads = threadsArg === undefined ? undefined : Number(threadsArg);
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new Error(`--torch-threads: expected a positive integer, got ${threadsArg}`);
  const result = await runStepBench({
    engines,
    batch: quick ? 2 : 8,
    sourceLength: quick ? 16 : 128,
    targetLength: quick ? 4 : 8,
    // full size: 5 rounds, since T5-small steps on lavapipe vary by up to ±15% from round to round
    rounds: 5,
    pytorch: args.includes("--no-torch") ? { skip: "skipped (--no-torch)" } : { python: defaultPython(), ...(threads === undefined ? {} : { threads }) },
    log: json ? () => {} : console.log,
    kernels: args.includes("--kernels"),
  });
  if (json) {
    for (const r of result.rows) console.log(JSON.stringify(r));
    if (!result.pytorch.measured) {
      // a JSON line, so that a consumer of --json sees it too, and a plain line on stderr for a person
      console.log(JSON.stringify({ bench: "step", engine: PYTORCH_ENGINE, measured: false, reason: result.pytorch.reason }));
      console.error(`pytorch-cpu: PyTorch CPU not measured: ${result.pytorch.reason}`);
    }
  }
  return result;
}
