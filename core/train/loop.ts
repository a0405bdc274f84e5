/**
 * The fine-tuning loop: one Effect program over the services of services.ts, the same on every host.
 *
 *   options → model (+ tokenizer) → PeftModel with one adapter → tokenised train/eval splits
 *   → for each optimizer step: `gradientAccumulation` micro-batches (forward + backward, synchronous, inside
 *     `tidy`), clip the global gradient norm, read the loss (the only value that comes back per step),
 *     stop on a non-finite loss BEFORE the update, AdamW step with the scheduled learning rate
 *   → every `evalEvery` steps and at the end: batched greedy decoding + the task's GLUE metrics, the best
 *     adapter kept in `<out>/best`, optional early stopping
 *   → every `checkpointEvery` steps: `<out>/checkpoint` (see checkpoint.ts), so `resume` continues exactly
 *   → at the end: the adapter in `<out>` (HF PEFT files where the method has a PEFT type), metrics.jsonl,
 *     run.json and report.html.
 *
 * Reproducibility: the seed fixes the adapter's initialisation, the batch order of every epoch (a function
 * of seed and epoch) and the dropout masks (the global generator, reseeded at the start and saved in
 * checkpoints). The same seed and backend give the same losses on every runtime.
 */
import { Clock, Effect } from "effect";
import type { TokenizedSplit } from "../../datasets/glue/batching.ts";
import { type Batch, batchCount, glueBatches } from "../../datasets/glue/batching.ts";
import { type GlueTask, glueSplit, glueTask } from "../../datasets/glue/tasks.ts";
import type { Backend } from "../backend/backend.ts";
import { DeviceLostError } from "../errors.ts";
import type { AppendFile, FileAccess } from "../io/files.ts";
import { type HubOptions, resolveModelDir } from "../io/hub.ts";
import { type T5Tokenizer, loadTokenizer } from "../io/tokenizer.ts";
import { loadT5 } from "../models/t5/load.ts";
import { type T5ForConditionalGeneration, labelledBatchTensors } from "../models/t5/model.ts";
import { saveAdapter } from "../peft/adapter-files.ts";
import { PeftModel } from "../peft/peft-model.ts";
import { getPlugin, parsePluginConfig } from "../peft/plugin.ts";
import { AdamW } from "../optim/adamw.ts";
import { clipGradNorm } from "../optim/clip.ts";
import { type Schedule, learningRateSchedule } from "../optim/schedule.ts";
import { detectRuntime } from "../runtime.ts";
import { globalGenerator, manualSeed } from "../tensor/random.ts";
import { type CapturedStep, captureStep } from "../tensor/capture.ts";
import { tidy } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { type BestEvaluation, type TrainerStateInfo, readTrainerState, writeTrainerState } from "./checkpoint.ts";
import { type TrainConfig, parseTrainConfig, warmupSteps } from "./config.ts";
import { longestTarget, tokenizedSplit } from "./data.ts";
import { DeviceLostDuringTrainingError, NonFiniteLossError, TrainCheckpointError, TrainConfigError } from "./errors.ts";
import { evaluateSplit } from "./evaluate.ts";
import type { EndEvent, EvalEvent, StartEvent, StepEvent, TrainEvent } from "./events.ts";
import { renderReport } from "./report.ts";
import { Compute, Files, TrainEvents } from "./services.ts";
import { WEBPEFT_VERSION, runtimeVersions } from "../version.ts";

/** The adapter's name inside the PeftModel (HF PEFT's default). */
const ADAPTER = "default";

export interface TrainResult {
  readonly out: string;
  /** Where the final adapter is (the `out` folder itself) and the best one (null without evaluation). */
  readonly adapterDir: string;
  readonly bestDir: string | null;
  readonly reason: EndEvent["reason"];
  readonly steps: number;
  readonly best: EndEvent["best"];
  readonly final: EndEvent["final"];
  readonly timings: EndEvent["timings"];
  readonly parameters: StartEvent["parameters"];
  readonly events: readonly TrainEvent[];
}

/** Anything that is not one of our typed errors, with its original as the cause. */
export class UnexpectedTrainError extends Error {
  readonly _tag = "UnexpectedTrainError";
  constructor(cause: unknown) {
    super(`unexpected error during training: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** What a run fails with: one of webpeft's typed errors (each has a `_tag`), or UnexpectedTrainError. */
export type TrainError = Error & { readonly _tag: string };

/** Typed errors pass through unchanged (they carry `_tag`); anything else is wrapped. */
function asTrainError(e: unknown): TrainError {
  if (e instanceof Error && typeof (e as { _tag?: unknown })._tag === "string") return e as Error & { _tag: string };
  return new UnexpectedTrainError(e);
}

const attempt = <A>(f: () => A | Promise<A>) => Effect.tryPromise({ try: async () => await f(), catch: asTrainError });

/** Options that joined the fingerprint later, with the value every earlier run had. */
const OPTIONS_ADDED_LATER: Readonly<Record<string, unknown>> = { padToMultipleOf: 1 };

/** Options that change the numbers of a run: a resume must match them exactly. */
function fingerprint(c: TrainConfig): Record<string, unknown> {
  const { model, tokenizer, task, data, taskDir, method, methodConfig, epochs, maxSteps, batchSize, gradientAccumulation, lr, schedule, warmup, weightDecay, betas, eps, maxGradNorm, seed, maxTrainExamples, maxSourceLength, maxTargetLength, padToMultipleOf, trainSplit } = c;
  return { model, tokenizer, task, data, taskDir, method, methodConfig, epochs, maxSteps, batchSize, gradientAccumulation, lr, schedule, warmup, weightDecay, betas, eps, maxGradNorm, seed, maxTrainExamples, maxSourceLength, maxTargetLength, padToMultipleOf, trainSplit };
}

/** Everything a run holds while it trains. */
interface RunState {
  readonly config: TrainConfig;
  readonly task: GlueTask;
  readonly fs: FileAccess;
  readonly backend: Backend;
  readonly model: T5ForConditionalGeneration;
  readonly peft: PeftModel;
  readonly tokenizer: T5Tokenizer;
  readonly train: TokenizedSplit;
  readonly eval: TokenizedSplit;
  readonly parameters: readonly [string, Tensor][];
  readonly optimizer: AdamW;
  /** Forward, backward and clipping of one optimizer step's micro-batches, replayed where it can be. */
  readonly capturedStep: CapturedStep<Tensor[]>;
  readonly schedule: Schedule;
  readonly totalSteps: number;
  readonly batchesPerEpoch: number;
  readonly evalEvery: number;
  readonly checkpointEvery: number;
  readonly maxNewTokens: number;
  readonly warnings: string[];
  step: number;
  microBatches: number;
  best: BestEvaluation | null;
  evalsWithoutImprovement: number;
  lastCheckpoint: { path: string; step: number } | null;
  history: (StepEvent | EvalEvent)[];
  trainMs: number;
  evalMs: number;
  batches: { epoch: number; iterator: Iterator<Batch> } | null;
}

/** The run's model, tokenizer, data, adapter and optimizer, before any step. */
async function prepare(config: TrainConfig, backend: Backend, fs: FileAccess, hub: HubOptions | undefined, log: (message: string) => void): Promise<RunState> {
  const task = glueTask(config.task);
  const plugin = getPlugin(config.method);
  parsePluginConfig(plugin, config.methodConfig); // fail before loading anything
  const evalSplitName = config.evalSplit ?? (task.name === "mnli" ? "validation_matched" : "validation");
  glueSplit(task, config.trainSplit);
  glueSplit(task, evalSplitName);
  if (config.evalSplit === undefined && !(evalSplitName in task.splits)) throw TrainConfigError.of("evalSplit", `GLUE ${task.title} has no ${evalSplitName} split; name one`);

  log(`loading ${config.model}`);
  const modelDir = await resolveModelDir(fs, config.model, hub ?? {});
  const model = await loadT5(modelDir, { backend, fs, requiresGrad: false, ...(hub ?? {}) });
  try {
    const tokenizer = await loadTokenizer(fs, config.tokenizer ?? modelDir);
    log(`reading and tokenising GLUE ${task.title} (${config.trainSplit}, ${evalSplitName}) from ${config.data}`);
    const source = { task, data: config.data, ...(config.taskDir ? { taskDir: config.taskDir } : {}) };
    const train = await tokenizedSplit(fs, tokenizer, { ...source, split: config.trainSplit, ...(config.maxTrainExamples ? { maxExamples: config.maxTrainExamples } : {}) });
    const evalSplit = await tokenizedSplit(fs, tokenizer, { ...source, split: evalSplitName, ...(config.maxEvalExamples ? { maxExamples: config.maxEvalExamples } : {}) });
    if (train.size === 0) throw TrainConfigError.of("data", `the ${config.trainSplit} split of ${task.title} in ${config.data} has no examples`);
    if (evalSplit.size > 0 && Number.isNaN(evalSplit.labels[0]!)) throw TrainConfigError.of("evalSplit", `${evalSplitName} has no labels (test splits cannot be scored)`);

    const peft = new PeftModel(model);
    peft.addAdapter(ADAPTER, plugin, config.methodConfig, { seed: config.seed });
    const parameters = peft.trainableParameters();
    const optimizer = new AdamW(
      parameters.map(([, p]) => p),
      { lr: config.lr, betas: config.betas as [number, number], eps: config.eps, weightDecay: config.weightDecay },
    );
    const batchOptions = { batchSize: config.batchSize };
    const batchesPerEpoch = batchCount(train, batchOptions);
    const totalSteps = config.maxSteps ?? Math.max(1, Math.ceil((config.epochs * batchesPerEpoch) / config.gradientAccumulation));
    const schedule = learningRateSchedule(config.schedule, { lr: config.lr, warmupSteps: warmupSteps(config, totalSteps), totalSteps });
    const evalEvery = config.evalEvery ?? Math.max(1, Math.round(totalSteps / 5));
    const warnings = await modelWarnings(model);
    const capturedStep = capturedTrainStep(config, peft, parameters.map(([, p]) => p), model.config.vocabSize);
    return {
      config, task, fs, backend, model, peft, tokenizer, train, eval: evalSplit, parameters, optimizer, capturedStep, schedule, totalSteps, batchesPerEpoch, evalEvery,
      checkpointEvery: config.checkpointEvery ?? evalEvery,
      maxNewTokens: Math.min(longestTarget(train), config.maxTargetLength) + 1,
      warnings, step: 0, microBatches: 0, best: null, evalsWithoutImprovement: 0, lastCheckpoint: null, history: [], trainMs: 0, evalMs: 0, batches: null,
    };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * Notes about the base model that save users from mistaking a property of the model for a bug. A
 * randomly initialised test checkpoint (HF's tiny-random-t5 has weights of about 4e-4) cannot be
 * fine-tuned meaningfully: its adapters barely move the loss.
 */
async function modelWarnings(model: T5ForConditionalGeneration): Promise<string[]> {
  const ffn = [...(model.encoder.block.blocks[0]?.namedParameters() ?? [])].find(([name]) => /layer\.1\.DenseReluDense\.wi(_0)?\.weight$/.test(name) || /DenseReluDense\.wi(_0)?\.weight$/.test(name));
  if (!ffn) return [];
  const values = await ffn[1].data();
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! * values[i]!;
  const rms = Math.sqrt(sum / values.length);
  if (rms >= 5e-3) return [];
  return [
    `the base model's weights are tiny (RMS ${rms.toExponential(1)} in its first feed-forward layer): it looks like a randomly initialised test ` +
      `checkpoint, so an adapter on it barely moves the loss and scores stay near chance. This is the model, not a bug: use a pretrained T5 ` +
      `(the shipped demo model, or a hub id such as google-t5/t5-small) for meaningful results.`,
  ];
}

/** The next micro-batch: epochs follow each other, each with its own seeded order. */
function nextBatch(run: RunState): Batch {
  const epoch = Math.floor(run.microBatches / run.batchesPerEpoch);
  const index = run.microBatches % run.batchesPerEpoch;
  if (!run.batches || run.batches.epoch !== epoch) {
    const { config } = run;
    const iterator = glueBatches(run.train, { batchSize: config.batchSize, seed: config.seed, epoch, maxSourceLength: config.maxSourceLength, maxTargetLength: config.maxTargetLength, padToMultipleOf: config.padToMultipleOf });
    for (let i = 0; i < index; i++) iterator.next(); // a resumed run skips what it has consumed
    run.batches = { epoch, iterator };
  }
  const next = run.batches.iterator.next();
  if (next.done) throw new UnexpectedTrainError(new Error(`epoch ${epoch} ended before batch ${index} (engine bug)`));
  run.microBatches++;
  return next.value;
}

/**
 * Forward and backward of each micro-batch (each one's mean loss scaled by 1/n: the summed gradients are
 * those of the mean loss), then the global gradient norm clipped, as one captured step: its inputs are
 * the micro-batches' tensors (labelledBatchTensors: ids, mask, labels, decoder ids, per micro-batch), its
 * results the losses and the norm. On a backend that records steps (WebGPU) a batch shape seen before is
 * replayed without this JavaScript (core/tensor/capture.ts; bit-identical to running it), the rest runs
 * as written. `captureSteps` programs are kept (0: always run as written).
 */
function capturedTrainStep(config: TrainConfig, peft: PeftModel, params: readonly Tensor[], vocabSize: number): CapturedStep<Tensor[]> {
  const accumulation = config.gradientAccumulation;
  const ids = { min: 0, max: vocabSize - 1 };
  return captureStep(
    (inputs) => {
      const losses: Tensor[] = [];
      for (let k = 0; k < accumulation; k++) {
        const [inputIds, attentionMask, labels, decoderInputIds] = inputs.slice(4 * k, 4 * k + 4) as [Tensor, Tensor, Tensor, Tensor];
        const loss = tidy(() => {
          const l = peft.forward({ inputIds, attentionMask, labels, decoderInputIds }).loss!;
          return accumulation > 1 ? l.mul(1 / accumulation) : l;
        });
        loss.backward();
        losses.push(loss);
      }
      return [...losses, clipGradNorm(params, config.maxGradNorm > 0 ? config.maxGradNorm : Infinity)];
    },
    {
      parameters: params,
      maxPrograms: config.captureSteps,
      // Labels are an id or −100, which no interval says exactly; the inputs come from labelledBatchTensors,
      // which checked every value against the vocabulary before uploading.
      inputRanges: Array.from({ length: accumulation }, () => [ids, { min: 0, max: 1 }, { min: -100, max: vocabSize - 1 }, ids]).flat(),
      stateKey: () => `${peft.active.join()}|${peft.base.training}`,
    },
  );
}

/**
 * One optimizer step: the captured forward/backward/clip step over `gradientAccumulation` micro-batches;
 * the losses and the gradient norm are the values read back.
 */
async function trainStep(run: RunState): Promise<{ loss: number; gradNorm: number; examples: number; lr: number }> {
  const { peft, config, optimizer } = run;
  peft.train();
  const batches = Array.from({ length: config.gradientAccumulation }, () => nextBatch(run));
  const examples = batches.reduce((n, b) => n + b.shape.batch, 0);
  const inputs: Tensor[] = [];
  let results: Tensor[] = [];
  try {
    for (const batch of batches) inputs.push(...labelledBatchTensors(batch.inputs, run.model.config, run.backend, "train step"));
    results = run.capturedStep.run(inputs);
    const norm = results[results.length - 1]!;
    let loss = 0;
    for (const l of results.slice(0, -1)) loss += await l.item();
    const gradNorm = await norm.item();
    // Checked before the update: a NaN that reached the weights would also reach every later checkpoint.
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      optimizer.zeroGrad();
      const [quantity, value] = Number.isFinite(loss) ? (["gradient norm", gradNorm] as const) : (["loss", loss] as const);
      throw NonFiniteLossError.of(run.step + 1, quantity, value, run.lastCheckpoint);
    }
    const lr = run.schedule(run.step);
    optimizer.step(lr);
    optimizer.zeroGrad();
    return { loss, gradNorm, examples, lr };
  } finally {
    for (const t of [...inputs, ...results]) t.dispose();
  }
}

/** Writes `<out>/checkpoint` (adapter files, then the trainer state, atomically). */
async function saveCheckpoint(run: RunState): Promise<string> {
  const { fs, config } = run;
  const dir = fs.join(config.out, "checkpoint");
  await saveAdapter(run.peft, dir, { fs, adapter: ADAPTER });
  const optimizerState = await run.optimizer.stateDict();
  const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  const steps: Record<string, number> = {};
  run.parameters.forEach(([path], i) => {
    const s = optimizerState.parameters[i];
    if (!s) return;
    moments.set(path, { m: Float32Array.from(s.m), v: Float32Array.from(s.v) });
    steps[path] = s.step;
  });
  const info: Omit<TrainerStateInfo, "version"> = {
    step: run.step,
    microBatches: run.microBatches,
    rngState: globalGenerator().state,
    optimizer: { t: optimizerState.t, lr: optimizerState.lr, betas: optimizerState.betas, eps: optimizerState.eps, weightDecay: optimizerState.weightDecay, steps },
    best: run.best,
    evalsWithoutImprovement: run.evalsWithoutImprovement,
    fingerprint: fingerprint(config),
    history: run.history,
    trainMs: run.trainMs,
    evalMs: run.evalMs,
  };
  await writeTrainerState(fs, dir, info, { parameters: new Map(run.parameters), moments });
  run.lastCheckpoint = { path: dir, step: run.step };
  return dir;
}

/** Restores a run from `<out>/checkpoint`; the options that decide the numbers must be the same. */
async function restoreCheckpoint(run: RunState): Promise<void> {
  const { fs, config, backend } = run;
  const dir = fs.join(config.out, "checkpoint");
  const expected = new Map(run.parameters.map(([path, t]) => [path, t.shape] as const));
  const state = await readTrainerState(fs, dir, expected);
  const now = fingerprint(config);
  for (const [key, value] of Object.entries(now)) {
    // an option added after the checkpoint was written had its default then
    const before = key in state.info.fingerprint ? state.info.fingerprint[key] : OPTIONS_ADDED_LATER[key];
    if (JSON.stringify(before) !== JSON.stringify(value)) {
      throw TrainCheckpointError.of(dir, `the run was started with ${key} = ${JSON.stringify(before)}, now ${JSON.stringify(value)}; resume with the same options (or start a new run in another --out)`);
    }
  }
  for (const [path, t] of run.parameters) backend.upload(t.bufferFor("resume"), state.parameters.get(path)!, t.offset);
  const o = state.info.optimizer;
  run.optimizer.loadStateDict({
    t: o.t,
    lr: o.lr,
    betas: o.betas,
    eps: o.eps,
    weightDecay: o.weightDecay,
    parameters: run.parameters.map(([path, t]) => {
      const moments = state.moments.get(path);
      const step = o.steps[path];
      return moments && step !== undefined ? { step, shape: t.shape, dtype: t.dtype as "float32", m: moments.m, v: moments.v } : null;
    }),
  });
  globalGenerator().state = state.info.rngState;
  run.step = state.info.step;
  run.microBatches = state.info.microBatches;
  run.best = state.info.best;
  run.evalsWithoutImprovement = state.info.evalsWithoutImprovement;
  run.history = [...state.info.history];
  run.trainMs = state.info.trainMs;
  run.evalMs = state.info.evalMs;
  run.lastCheckpoint = { path: dir, step: run.step };
}

const encoder = new TextEncoder();
const jsonLine = (event: unknown) => encoder.encode(JSON.stringify(event) + "\n");

/** The Effect program of a run. Its services: Compute, Files, TrainEvents (and Effect's Clock). */
export const trainProgram = (options: unknown, control: { readonly signal?: AbortSignal } = {}): Effect.Effect<TrainResult, TrainError, Compute | Files | TrainEvents> =>
  Effect.gen(function* () {
    const config = yield* attempt(() => parseTrainConfig(options));
    const backend = yield* Compute;
    const { fs, hub } = yield* Files;
    const sink = yield* TrainEvents;
    const events: TrainEvent[] = [];
    const emit = (event: TrainEvent) => {
      events.push(event);
      sink.emit(event);
    };
    const log = (message: string) => emit({ type: "log", message });
    const startedAt = yield* Clock.currentTimeMillis;

    const run = yield* attempt(() => prepare(config, backend, fs, hub, log));
    const metricsPath = fs.join(config.out, "metrics.jsonl");
    let metricsFile: AppendFile | null = null;
    return yield* Effect.ensuring(
      Effect.gen(function* () {
        yield* attempt(() => fs.mkdirp(config.out));
        manualSeed(config.seed);
        if (config.resume) {
          yield* attempt(() => restoreCheckpoint(run));
          log(`resumed from ${run.lastCheckpoint!.path} at step ${run.step} of ${run.totalSteps}`);
        }
        // metrics.jsonl holds exactly the history of the state we continue from
        yield* attempt(() => fs.writeAtomic(metricsPath, run.history.map(jsonLine)));
        const appendTo = yield* attempt(() => fs.openAppend(metricsPath));
        metricsFile = appendTo;
        const record = (event: StepEvent | EvalEvent) =>
          attempt(async () => {
            run.history.push(event);
            await appendTo.write(jsonLine(event));
          });
        const counts = run.peft.parameterCounts();
        const start: StartEvent = {
          type: "start",
          config: { ...config },
          task: run.task.name,
          method: config.method,
          model: config.model,
          startedAt: new Date(startedAt).toISOString(),
          backend: backend.name,
          runtime: detectRuntime(),
          parameters: { trainable: counts.trainable, total: counts.total, percent: counts.percent },
          totalSteps: run.totalSteps,
          trainExamples: run.train.size,
          evalExamples: run.eval.size,
          startStep: run.step,
          warnings: run.warnings,
        };
        emit(start);

        const checkpoint = Effect.gen(function* () {
          const dir = yield* attempt(() => saveCheckpoint(run));
          emit({ type: "checkpoint", step: run.step, path: dir });
          yield* attempt(() => fs.writeAtomic(fs.join(config.out, "report.html"), [encoder.encode(renderReport(events))]));
        });

        const evaluate = Effect.gen(function* () {
          const t0 = yield* Clock.currentTimeMillis;
          const result = yield* attempt(() =>
            evaluateSplit(run.peft, run.tokenizer, run.task, run.eval, { batchSize: config.evalBatchSize, maxNewTokens: run.maxNewTokens, maxSourceLength: config.maxSourceLength }),
          );
          const elapsed = (yield* Clock.currentTimeMillis) - t0;
          run.evalMs += elapsed;
          const improved = Number.isFinite(result.score) && (run.best === null || result.score > run.best.score);
          if (improved) {
            run.best = { step: run.step, metric: result.mainMetric, score: result.score, metrics: result.metrics };
            run.evalsWithoutImprovement = 0;
            yield* attempt(() => saveAdapter(run.peft, fs.join(config.out, "best"), { fs, adapter: ADAPTER }));
          } else {
            run.evalsWithoutImprovement++;
          }
          const event: EvalEvent = {
            type: "eval",
            step: run.step,
            epoch: Math.floor(Math.max(0, run.microBatches - 1) / run.batchesPerEpoch),
            metrics: result.metrics,
            mainMetric: result.mainMetric,
            score: result.score,
            best: improved,
            examples: run.eval.size,
            elapsedMs: elapsed,
          };
          emit(event);
          yield* record(event);
        });

        let reason: EndEvent["reason"] = "completed";
        const recent: { ms: number; examples: number }[] = [];
        const resumedFrom = run.step;
        while (run.step < run.totalSteps) {
          if (control.signal?.aborted) {
            reason = "aborted";
            break;
          }
          const t0 = yield* Clock.currentTimeMillis;
          const result = yield* trainStepEffect(run);
          run.step++;
          const ms = (yield* Clock.currentTimeMillis) - t0;
          run.trainMs += ms;
          recent.push({ ms, examples: result.examples });
          if (recent.length > 20) recent.shift();
          const windowMs = recent.reduce((a, r) => a + r.ms, 0);
          const windowExamples = recent.reduce((a, r) => a + r.examples, 0);
          const elapsedMs = (yield* Clock.currentTimeMillis) - startedAt;
          const event: StepEvent = {
            type: "step",
            step: run.step,
            totalSteps: run.totalSteps,
            epoch: Math.floor((run.microBatches - 1) / run.batchesPerEpoch),
            loss: result.loss,
            lr: result.lr,
            gradNorm: result.gradNorm,
            examplesPerSecond: windowMs > 0 ? (1000 * windowExamples) / windowMs : 0,
            elapsedMs,
            etaMs: ((run.totalSteps - run.step) * windowMs) / recent.length,
          };
          emit(event);
          yield* record(event);
          const last = run.step === run.totalSteps;
          if ((run.evalEvery > 0 && run.step % run.evalEvery === 0) || last) {
            if (run.eval.size > 0) yield* evaluate;
            if (config.earlyStoppingPatience !== undefined && run.evalsWithoutImprovement >= config.earlyStoppingPatience) {
              log(`early stopping: ${run.best?.metric ?? "the metric"} has not improved for ${run.evalsWithoutImprovement} evaluations (best ${run.best?.score.toFixed(4)} at step ${run.best?.step})`);
              reason = "early-stopped";
            }
          }
          if ((run.checkpointEvery > 0 && run.step % run.checkpointEvery === 0) || last || reason !== "completed") yield* checkpoint;
          if (reason !== "completed") break;
        }
        if (reason === "aborted" && run.lastCheckpoint?.step !== run.step) yield* checkpoint;
        yield* attempt(() => appendTo.close());
        metricsFile = null;

        // The final adapter, where HF PEFT's from_pretrained(out) finds it.
        yield* attempt(() => saveAdapter(run.peft, config.out, { fs, adapter: ADAPTER }));
        const totalMs = (yield* Clock.currentTimeMillis) - startedAt;
        const lastEval = [...run.history].reverse().find((e): e is EvalEvent => e.type === "eval") ?? null;
        const stepsRun = run.step - resumedFrom;
        const trainedExamples = run.history.filter((e): e is StepEvent => e.type === "step").length * config.batchSize * config.gradientAccumulation;
        const end: EndEvent = {
          type: "end",
          step: run.step,
          reason,
          best: run.best,
          final: lastEval?.metrics ?? null,
          timings: {
            totalMs,
            trainMs: run.trainMs,
            evalMs: run.evalMs,
            stepsPerSecond: run.trainMs > 0 ? (1000 * run.step) / run.trainMs : 0,
            examplesPerSecond: run.trainMs > 0 ? (1000 * trainedExamples) / run.trainMs : 0,
          },
        };
        if (stepsRun === 0 && config.resume) log(`the checkpoint is already at the last step (${run.step}); outputs rewritten`);
        // The report and run.json cover the whole run, also when it was resumed: history comes from the checkpoint.
        const all = [start, ...run.history, ...events.filter((e) => e.type === "log" || e.type === "checkpoint"), end] as TrainEvent[];
        const runJson = {
          webpeft: WEBPEFT_VERSION,
          versions: runtimeVersions(),
          backend: backend.name,
          config,
          parameters: start.parameters,
          totalSteps: run.totalSteps,
          steps: run.step,
          reason,
          best: run.best,
          final: end.final,
          timings: end.timings,
          capturedSteps: capturedStepsSummary(run),
          warnings: run.warnings,
          files: { adapter: config.out, best: run.best ? fs.join(config.out, "best") : null, checkpoint: fs.join(config.out, "checkpoint"), metrics: metricsPath, report: fs.join(config.out, "report.html") },
        };
        yield* attempt(() => fs.writeAtomic(fs.join(config.out, "run.json"), [encoder.encode(JSON.stringify(runJson, null, 2) + "\n")]));
        yield* attempt(() => fs.writeAtomic(fs.join(config.out, "report.html"), [encoder.encode(renderReport(all))]));
        emit(end);
        const result: TrainResult = {
          out: config.out,
          adapterDir: config.out,
          bestDir: run.best ? fs.join(config.out, "best") : null,
          reason,
          steps: run.step,
          best: run.best,
          final: end.final,
          timings: end.timings,
          parameters: start.parameters,
          events,
        };
        return result;
      }),
      Effect.promise(async () => {
        await metricsFile?.close().catch(() => {});
        run.capturedStep.release();
        run.optimizer.dispose();
        run.peft.dispose();
        run.model.dispose();
      }),
    );
  });

/** How the run's steps ran (run.json): replayed, recorded, or as written, and why the last one was not replayed. */
function capturedStepsSummary(run: RunState): { replayed: number; recorded: number; eager: number; lastReason: string | null } {
  const { replayed, recorded, eager, lastReason } = run.capturedStep.stats;
  return { replayed, recorded, eager, lastReason };
}

/** A step, with a lost device turned into an error that points at the last checkpoint. */
function trainStepEffect(run: RunState) {
  return Effect.tryPromise({
    try: () => trainStep(run),
    catch: (e) => (e instanceof DeviceLostError ? DeviceLostDuringTrainingError.of(run.step + 1, e.message, run.lastCheckpoint) : asTrainError(e)),
  });
}
