/**
 * Pretrains a small T5 from scratch with T5's span-corruption objective, mixed with a one-word objective
 * whose prediction sits at the decoder's first step (`--one-word-fraction`, span-corruption.ts), on the corpus
 * of corpus.ts, with this project's own model, autograd, AdamW and learning-rate schedule, on the WebGPU
 * backend (lavapipe on a CPU-only host).
 *
 *   npx tsx scripts/pretrain/pretrain.ts [--steps 900] [--batch 32] [--lr 2e-3] …    a fresh run
 *   npx tsx scripts/pretrain/pretrain.ts --resume [--steps N]                      continue the run in --work
 *   npx tsx scripts/pretrain/pretrain.ts --measure 8 [model flags]                 time steps, write nothing
 *
 * The run lives in `--work` (default .cache/pretrain/run, ignored by git): `checkpoint/` (weights,
 * AdamW's m and v, step, the dropout generator's state, every setting) rewritten atomically every
 * `--checkpoint-minutes`, `log.jsonl` (one line per logged step), and `final/` (config.json +
 * model.safetensors, float32) when the last step is done. A resumed run takes its settings from the
 * checkpoint and continues with the batch of the next step (data order depends only on seed and step),
 * so it reaches the weights the uninterrupted run would have, up to float summation order on the GPU.
 */
import { mkdir, readFile, rename, rm, writeFile, appendFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { AdamW, type AdamWParamState } from "../../core/optim/adamw.ts";
import { learningRateSchedule } from "../../core/optim/schedule.ts";
import { createT5, saveT5 } from "../../core/models/t5/load.ts";
import type { T5ForConditionalGeneration } from "../../core/models/t5/model.ts";
import { parseT5Config, t5ConfigToJson, type T5Config } from "../../core/io/t5-config.ts";
import { loadTokenizer } from "../../core/io/tokenizer.ts";
import { openSafetensors, writeSafetensors } from "../../core/io/safetensors.ts";
import { globalGenerator, manualSeed } from "../../core/tensor/random.ts";
import { tidy } from "../../core/tensor/scope.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";
import type { Backend } from "../../core/backend/backend.ts";
import { createHostWebGPUBackend } from "../../runners/host.ts";
import { createCpuBackend } from "../../core/backend/cpu/cpu-backend.ts";
import { nodeFiles } from "../../runners/node/files.ts";
import { sharedDataDir, spanCorruptionCorpus, SYNTHETIC_SENTENCES } from "./corpus.ts";

// ---------------------------------------------------------------------------------------------------------
// Settings

export interface RunSettings {
  readonly tokenizer: string;
  readonly model: {
    readonly dModel: number;
    readonly dKv: number;
    readonly heads: number;
    readonly dFf: number;
    readonly layers: number;
    readonly decoderLayers: number;
    readonly ff: string;
    readonly buckets: number;
    readonly maxDistance: number;
    readonly dropout: number;
  };
  readonly batch: number;
  readonly inputLength: number;
  readonly steps: number;
  readonly lr: number;
  readonly warmup: number;
  readonly weightDecay: number;
  readonly seed: number;
  /** Synthetic SST-2 sentences in the corpus (absent in checkpoints from before the option: 10,000). */
  readonly syntheticSentences?: number;
  /** Share of one-word examples (span-corruption.ts `maskOneWord`; absent in older checkpoints: 0). */
  readonly oneWordFraction?: number;
}

const argv = process.argv.slice(2);
const flag = (name: string): boolean => argv.includes(`--${name}`);
const option = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
};
const num = (name: string, fallback: number): number => {
  const value = Number(option(name, String(fallback)));
  if (Number.isNaN(value)) throw new Error(`--${name} must be a number`);
  return value;
};

function settingsFromArgs(): RunSettings {
  const layers = num("layers", 4);
  return {
    tokenizer: option("tokenizer", "runners/demo/t5-mini"),
    model: {
      dModel: num("d-model", 128),
      dKv: num("d-kv", 32),
      heads: num("heads", 4),
      dFf: num("d-ff", 512),
      layers,
      decoderLayers: num("decoder-layers", layers),
      ff: option("ff", "relu"),
      buckets: num("buckets", 32),
      maxDistance: num("max-distance", 128),
      dropout: num("dropout", 0.1),
    },
    batch: num("batch", 32),
    inputLength: num("input-length", 64),
    steps: num("steps", 900),
    lr: num("lr", 2e-3),
    warmup: num("warmup", 100),
    weightDecay: num("weight-decay", 0.01),
    seed: num("seed", 42),
    syntheticSentences: num("synthetic", SYNTHETIC_SENTENCES),
    oneWordFraction: num("one-word-fraction", 0),
  };
}

export function t5ConfigOf(settings: RunSettings, vocabSize: number): T5Config {
  const m = settings.model;
  return parseT5Config(
    {
      architectures: ["T5ForConditionalGeneration"],
      model_type: "t5",
      vocab_size: vocabSize,
      d_model: m.dModel,
      d_kv: m.dKv,
      d_ff: m.dFf,
      num_layers: m.layers,
      num_decoder_layers: m.decoderLayers,
      num_heads: m.heads,
      relative_attention_num_buckets: m.buckets,
      relative_attention_max_distance: m.maxDistance,
      dropout_rate: m.dropout,
      feed_forward_proj: m.ff,
      tie_word_embeddings: true,
      pad_token_id: 0,
      eos_token_id: 1,
      decoder_start_token_id: 0,
    },
    "pretrain settings",
  );
}

// ---------------------------------------------------------------------------------------------------------
// Checkpoints

interface CheckpointState {
  readonly step: number;
  readonly adamSteps: number;
  readonly dropoutGenerator: number;
  readonly settings: RunSettings;
  readonly elapsedSeconds: number;
  readonly tokensSeen: number;
}

async function saveCheckpoint(work: string, model: T5ForConditionalGeneration, optimizer: AdamW, state: CheckpointState): Promise<void> {
  const fs = nodeFiles();
  const dir = join(work, "checkpoint");
  const tmp = join(work, `checkpoint.tmp-${state.step}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const weights: Record<string, { dtype: "F32"; shape: readonly number[]; data: Float32Array }> = {};
  const moments: Record<string, { dtype: "F32"; shape: readonly number[]; data: Float32Array }> = {};
  const params = model.uniqueParameters();
  for (const [name, p] of params) weights[name] = { dtype: "F32", shape: p.shape, data: (await p.data()) as Float32Array };
  // AdamW's state: hyper-parameters and per-parameter update counts in JSON, the moments m and v as tensors.
  const adam = await optimizer.stateDict();
  const perParameter = adam.parameters.map((s, i) => {
    if (!s) return null;
    const name = params[i]![0];
    moments[`${name}.m`] = { dtype: "F32", shape: s.shape, data: s.m as Float32Array };
    moments[`${name}.v`] = { dtype: "F32", shape: s.shape, data: s.v as Float32Array };
    return { name, step: s.step };
  });
  await writeFile(join(tmp, "optimizer.json"), JSON.stringify({ t: adam.t, lr: adam.lr, betas: adam.betas, eps: adam.eps, weightDecay: adam.weightDecay, parameters: perParameter }) + "\n");
  await writeSafetensors(fs, join(tmp, "model.safetensors"), weights);
  await writeSafetensors(fs, join(tmp, "optimizer.safetensors"), moments);
  await writeFile(join(tmp, "config.json"), JSON.stringify(t5ConfigToJson(model.config), null, 2) + "\n");
  await writeFile(join(tmp, "state.json"), JSON.stringify(state, null, 2) + "\n");
  // Swap in: the previous checkpoint survives as checkpoint.old until the new one is in place.
  await rm(join(work, "checkpoint.old"), { recursive: true, force: true });
  if (await exists(dir)) await rename(dir, join(work, "checkpoint.old"));
  await rename(tmp, dir);
  await rm(join(work, "checkpoint.old"), { recursive: true, force: true });
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}

async function loadCheckpoint(work: string, backend: Backend): Promise<{ model: T5ForConditionalGeneration; optimizer: AdamW; state: CheckpointState }> {
  const fs = nodeFiles();
  let dir = join(work, "checkpoint");
  if (!(await exists(join(dir, "state.json")))) dir = join(work, "checkpoint.old"); // interrupted during the swap
  const state = JSON.parse(await readFile(join(dir, "state.json"), "utf8")) as CheckpointState;
  const config = parseT5Config(JSON.parse(await readFile(join(dir, "config.json"), "utf8")), join(dir, "config.json"));
  const model = createT5(config, { backend, seed: state.settings.seed });
  const weights = await openSafetensors(fs, join(dir, "model.safetensors"));
  const moments = await openSafetensors(fs, join(dir, "optimizer.safetensors"));
  const params = model.uniqueParameters();
  const optimizer = new AdamW(params.map(([, p]) => p), { lr: state.settings.lr, weightDecay: state.settings.weightDecay });
  for (const [name, p] of params) backend.upload(p.bufferFor("resume"), await weights.readF32(name));
  const adam = JSON.parse(await readFile(join(dir, "optimizer.json"), "utf8")) as {
    t: number; lr: number; betas: [number, number]; eps: number; weightDecay: number; parameters: ({ name: string; step: number } | null)[];
  };
  const parameters: (AdamWParamState | null)[] = [];
  for (const [i, entry] of adam.parameters.entries()) {
    if (!entry) {
      parameters.push(null);
      continue;
    }
    const [name, p] = params[i]!;
    if (name !== entry.name) throw new Error(`${dir}: optimizer entry ${i} is ${entry.name}, the model's parameter ${name}`);
    parameters.push({ step: entry.step, shape: p.shape, dtype: "float32", m: await moments.readF32(`${name}.m`), v: await moments.readF32(`${name}.v`) });
  }
  optimizer.loadStateDict({ ...adam, parameters });
  await weights.close();
  await moments.close();
  globalGenerator().state = state.dropoutGenerator;
  return { model, optimizer, state };
}

// ---------------------------------------------------------------------------------------------------------
// The run

async function main(): Promise<void> {
  const work = option("work", ".cache/pretrain/run");
  const measure = num("measure", 0);
  const resume = flag("resume");
  const maxMinutes = num("max-minutes", Infinity);
  const checkpointMinutes = num("checkpoint-minutes", 5);
  const logEvery = num("log-every", 10);
  /** Checkpoint and stop after this step (to test resuming). */
  const stopAt = num("stop-at", -1);
  const backend: Backend = option("backend", "webgpu") === "cpu" ? createCpuBackend() : await createHostWebGPUBackend();
  const fs = nodeFiles();

  let model: T5ForConditionalGeneration;
  let optimizer: AdamW;
  let settings: RunSettings;
  let startStep = 0, elapsedBefore = 0, tokensSeen = 0;
  if (resume) {
    const loaded = await loadCheckpoint(work, backend);
    ({ model, optimizer } = loaded);
    settings = loaded.state.settings;
    // `--steps N` on resume changes the step budget (the linear decay then ends at the new N).
    if (argv.includes("--steps")) settings = { ...settings, steps: num("steps", settings.steps) };
    startStep = loaded.state.step;
    elapsedBefore = loaded.state.elapsedSeconds;
    tokensSeen = loaded.state.tokensSeen;
    console.log(`resuming ${work} at step ${startStep}/${settings.steps}`);
  } else {
    settings = settingsFromArgs();
    if (!measure && (await exists(join(work, "checkpoint")))) {
      throw new Error(`${work}/checkpoint exists: pass --resume to continue it, or remove ${work} to start afresh`);
    }
  }

  const tokenizer = await loadTokenizer(fs, settings.tokenizer);
  const t0 = performance.now();
  const { corpus, tokens: corpusTokens, data } = await spanCorruptionCorpus(fs, tokenizer, {
    sharedDir: sharedDataDir(argv),
    syntheticSentences: settings.syntheticSentences,
    inputLength: settings.inputLength,
    batchSize: settings.batch,
    seed: settings.seed,
    oneWordFraction: settings.oneWordFraction ?? 0,
  });
  console.log(
    `corpus: ${corpus.sources.map((s) => `${s.name} ${s.rows} rows`).join(", ")}; ${corpusTokens} tokens ` +
      `(${((performance.now() - t0) / 1000).toFixed(1)} s); examples of ${data.shape.raw} tokens → input ${data.shape.inputLength}, ` +
      `target ${data.shape.targetLength} (${data.shape.noise} noise tokens in ${data.shape.spans} spans); ${data.stepsPerEpoch} steps per epoch`,
  );

  if (!resume) {
    manualSeed(settings.seed);
    model = createT5(t5ConfigOf(settings, tokenizer.vocabSize), { backend, seed: settings.seed });
    optimizer = new AdamW(model.uniqueParameters().map(([, p]) => p), { lr: settings.lr, weightDecay: settings.weightDecay });
  }
  model!.train();
  const params = model!.parameterCount();
  console.log(`model: ${JSON.stringify(settings.model)}, vocab ${tokenizer.vocabSize}, ${params} parameters; batch ${settings.batch}, lr ${settings.lr}, ${settings.steps} steps`);

  const schedule = learningRateSchedule("linear", { lr: settings.lr, warmupSteps: settings.warmup, totalSteps: settings.steps });
  // The objective mix (span corruption, plus the one-word share of settings.oneWordFraction) is chosen per
  // chunk inside SpanCorruptionStream, so a batch depends only on (seed, step). Three other continuations
  // tried on the first shipped checkpoint (copying the input, T5's prefix LM, predicting the input's rarest
  // token) did not make it fine-tunable: see README.md, "History".
  const step = (t: number): Tensor => {
    const batch = data.batch(t);
    const loss = tidy(() => model.forward({ inputIds: batch.inputIds, labels: batch.labels, ...(batch.attentionMask ? { attentionMask: batch.attentionMask } : {}) }).loss!);
    loss.backward();
    optimizer.step(schedule(t));
    optimizer.zeroGrad();
    return loss;
  };

  if (measure > 0) {
    // Two warm-up steps (pipelines compiled, buffer pool filled), then the timed ones.
    for (let t = 0; t < 2; t++) await step(t).item();
    const start = performance.now();
    let last = 0;
    for (let t = 2; t < 2 + measure; t++) last = await step(t).item();
    const ms = (performance.now() - start) / measure;
    const tokens = settings.batch * data.shape.raw;
    console.log(JSON.stringify({ measure: settings.model, batch: settings.batch, params, msPerStep: Math.round(ms), rawTokensPerSecond: Math.round((tokens / ms) * 1000), loss: last }));
    const profiler = backend as Partial<{ startProfiling(): void; stopProfiling(): Promise<{ key: string; milliseconds: number; count: number }[]> }>;
    if (flag("profile") && profiler.startProfiling && profiler.stopProfiling) {
      profiler.startProfiling();
      const start = performance.now();
      await step(2 + measure).item();
      const wall = performance.now() - start;
      const times = await profiler.stopProfiling();
      const gpu = times.reduce((a, t) => a + t.milliseconds, 0);
      console.log(`profiled step: wall ${wall.toFixed(0)} ms, kernels ${gpu.toFixed(0)} ms in ${times.reduce((a, t) => a + t.count, 0)} launches`);
      for (const t of times.slice(0, 15)) console.log(`${t.milliseconds.toFixed(1).padStart(8)} ms ${String(t.count).padStart(5)}×  ${t.key.slice(0, 90)}`);
    }
    return;
  }

  await mkdir(work, { recursive: true });
  const log = join(work, "log.jsonl");
  const sessionStart = performance.now();
  let lastCheckpoint = performance.now();
  let window: number[] = [];
  let windowStart = performance.now();
  const save = async (t: number) => {
    const elapsedSeconds = elapsedBefore + (performance.now() - sessionStart) / 1000;
    await saveCheckpoint(work, model, optimizer, { step: t, adamSteps: optimizer.stepCount, dropoutGenerator: globalGenerator().state, settings, elapsedSeconds, tokensSeen });
    lastCheckpoint = performance.now();
    console.log(`checkpoint at step ${t} (${elapsedSeconds.toFixed(0)} s of training so far)`);
  };
  for (let t = startStep; t < settings.steps; t++) {
    const loss = await step(t).item();
    tokensSeen += settings.batch * data.shape.raw;
    if (!Number.isFinite(loss)) throw new Error(`loss ${loss} at step ${t}: stopping (the last checkpoint is intact)`);
    window.push(loss);
    const done = t + 1;
    if (done % logEvery === 0 || done === settings.steps || done === startStep + 1) {
      const now = performance.now();
      const secondsPerStep = (now - windowStart) / 1000 / window.length;
      const sessionSteps = done - startStep;
      const eta = ((settings.steps - done) * (now - sessionStart)) / 1000 / sessionSteps;
      const elapsed = elapsedBefore + (now - sessionStart) / 1000;
      const mean = window.reduce((a, b) => a + b, 0) / window.length;
      const entry = {
        step: done,
        epoch: +(t / data.stepsPerEpoch).toFixed(3),
        loss: +mean.toFixed(4),
        lr: +schedule(t).toExponential(3),
        secondsPerStep: +secondsPerStep.toFixed(3),
        tokensPerSecond: Math.round((settings.batch * data.shape.raw) / secondsPerStep),
        tokensSeen,
        elapsedSeconds: Math.round(elapsed),
        etaSeconds: Math.round(eta),
      };
      await appendFile(log, JSON.stringify(entry) + "\n");
      console.log(
        `step ${done}/${settings.steps} epoch ${entry.epoch} loss ${mean.toFixed(4)} lr ${entry.lr} ` +
          `${secondsPerStep.toFixed(2)} s/step ${entry.tokensPerSecond} tok/s elapsed ${(elapsed / 60).toFixed(1)} min ETA ${(eta / 60).toFixed(1)} min`,
      );
      window = [];
      windowStart = performance.now();
    }
    if (done < settings.steps && performance.now() - lastCheckpoint > checkpointMinutes * 60_000) await save(done);
    if (done < settings.steps && ((performance.now() - sessionStart) / 60_000 > maxMinutes || done === stopAt)) {
      await save(done);
      console.log(`stopped at step ${done} (--max-minutes ${maxMinutes} / --stop-at ${stopAt}); continue with --resume`);
      return;
    }
  }
  await save(settings.steps);
  await saveT5(model!.eval(), join(work, "final"), fs);
  console.log(`done: ${settings.steps} steps, ${tokensSeen} tokens; final weights in ${join(work, "final")}`);
}

await main();
