/**
 * A realistic event list for report and progress tests: a seeded, deterministic imitation of a KronA run on
 * MRPC (two metrics: F1 and accuracy) — loss decaying with noise, linear warm-up and decay of the learning
 * rate, gradient norms, a throughput that settles, periodic evaluations, checkpoints, logs and a warning.
 * No randomness from the host: the same options give the same events, byte for byte.
 */
import type { EvalEvent, StepEvent, TrainEvent } from "../../core/train/events.ts";

export interface SyntheticRunOptions {
  readonly totalSteps?: number;
  readonly evalEvery?: number;
  readonly checkpointEvery?: number;
  readonly seed?: number;
  readonly task?: string;
  readonly method?: string;
  /** How the run ends; "none" leaves out the end event (a run still going, or killed). */
  readonly ending?: "completed" | "early-stopped" | "aborted" | "none";
  readonly warnings?: readonly string[];
  /** Extra config entries merged over the default config. */
  readonly config?: Readonly<Record<string, unknown>>;
}

/** mulberry32: a tiny seeded generator, good enough for plausible noise. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function syntheticRunEvents(options: SyntheticRunOptions = {}): TrainEvent[] {
  const totalSteps = options.totalSteps ?? 1200;
  const evalEvery = options.evalEvery ?? 100;
  const checkpointEvery = options.checkpointEvery ?? 400;
  const random = seededRandom(options.seed ?? 7);
  const batchSize = 32;
  const trainExamples = 3668;
  const evalExamples = 408;
  const stepsPerEpoch = Math.ceil(trainExamples / batchSize);
  const peakLr = 5e-4;
  const warmupSteps = Math.round(totalSteps * 0.06);
  const msPerStep = 780;
  const evalMs = 4200;
  const config = {
    model: "google-t5/t5-small",
    task: options.task ?? "mrpc",
    method: options.method ?? "krona",
    plugin: { a1: 8, a2: 64, b1: 64, b2: 8, scale: 16, targets: ["q", "v"], dropout: 0.1 },
    optimizer: { name: "adamw", lr: peakLr, weightDecay: 0.01, betas: [0.9, 0.999], eps: 1e-8 },
    schedule: { name: "linear", warmupSteps },
    batchSize,
    gradientAccumulation: 1,
    maxGradNorm: 1,
    maxSourceLength: 128,
    maxTargetLength: 4,
    totalSteps,
    evalEvery,
    seed: options.seed ?? 7,
    backend: "webgpu",
    ...options.config,
  };
  const events: TrainEvent[] = [];
  events.push({
    type: "start",
    config,
    model: String(config.model),
    startedAt: "2026-12-01T12:00:00.000Z",
    task: config.task,
    method: config.method,
    backend: "webgpu",
    runtime: "node",
    parameters: { trainable: 73_728, total: 60_580_352, percent: (100 * 73_728) / 60_580_352 },
    totalSteps,
    trainExamples,
    evalExamples,
    startStep: 0,
    warnings: options.warnings ?? ["the eval split has 408 examples: scores move in steps of 0.25 points, so differences below 1 point are noise"],
  });
  events.push({ type: "log", message: "loaded google-t5/t5-small (60.5M parameters) in 1.9s" });
  events.push({ type: "log", message: `tokenised ${trainExamples} training and ${evalExamples} eval examples` });

  let elapsedMs = 0;
  let evalTotalMs = 0;
  let bestScore = -Infinity;
  let best: { step: number; metric: string; score: number; metrics: Record<string, number> } | null = null;
  let lastMetrics: Record<string, number> | null = null;
  const stopAt = options.ending === "early-stopped" ? Math.round(totalSteps * 0.75) : options.ending === "aborted" ? Math.round(totalSteps * 0.4) : totalSteps;
  for (let step = 1; step <= stopAt; step++) {
    const progress = step / totalSteps;
    const lr = step <= warmupSteps ? (peakLr * step) / Math.max(1, warmupSteps) : (peakLr * (totalSteps - step)) / Math.max(1, totalSteps - warmupSteps);
    // Loss: from ~3.2 (untrained on the label words) to ~0.25, with batch noise that shrinks slowly.
    const clean = 0.25 + 2.95 * Math.exp(-step / (totalSteps * 0.08));
    const loss = Math.max(0.02, clean * (1 + (random() - 0.5) * 0.5));
    elapsedMs += msPerStep * (0.9 + random() * 0.2) + (step < 5 ? 2000 : 0); // the first steps compile kernels
    const stepEvent: StepEvent = {
      type: "step",
      step,
      totalSteps,
      epoch: step / stepsPerEpoch,
      loss,
      lr,
      gradNorm: 0.4 + 2.5 * Math.exp(-step / (totalSteps * 0.1)) + random() * 0.3,
      examplesPerSecond: (batchSize * 1000) / msPerStep * Math.min(1, 0.4 + step / 30) * (0.97 + random() * 0.06),
      elapsedMs: elapsedMs + evalTotalMs,
      etaMs: ((elapsedMs + evalTotalMs) / step) * (totalSteps - step),
    };
    events.push(stepEvent);
    if (step % evalEvery === 0 || step === stopAt) {
      const accuracy = Math.min(0.99, 0.684 + 0.18 * (1 - Math.exp(-progress * 5)) + (random() - 0.5) * 0.02);
      const f1 = Math.min(0.99, 0.812 + 0.09 * (1 - Math.exp(-progress * 5)) + (random() - 0.5) * 0.015);
      evalTotalMs += evalMs;
      const metrics = { f1, accuracy };
      const isBest = f1 > bestScore;
      if (isBest) {
        bestScore = f1;
        best = { step, metric: "f1", score: f1, metrics };
      }
      lastMetrics = metrics;
      const evalEvent: EvalEvent = { type: "eval", step, epoch: step / stepsPerEpoch, metrics, mainMetric: "f1", score: f1, best: isBest, examples: evalExamples, elapsedMs: elapsedMs + evalTotalMs };
      events.push(evalEvent);
    }
    if (step % checkpointEvery === 0) events.push({ type: "checkpoint", step, path: `runs/mrpc-krona/checkpoint-${step}` });
  }
  if (options.ending === "early-stopped") events.push({ type: "log", message: "early stopping: f1 did not improve for 3 evaluations" });
  if (options.ending !== "none") {
    const totalMs = elapsedMs + evalTotalMs + 2500;
    events.push({
      type: "end",
      step: stopAt,
      reason: options.ending ?? "completed",
      best,
      final: lastMetrics,
      timings: { totalMs, trainMs: elapsedMs, evalMs: evalTotalMs, stepsPerSecond: (1000 * stopAt) / totalMs, examplesPerSecond: (1000 * stopAt * batchSize) / elapsedMs },
    });
  }
  return events;
}
