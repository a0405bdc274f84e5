/**
 * The fine-tuning loop end to end on the real tiny T5 and a synthetic SST-2 in GLUE's layout: outputs,
 * evaluation, checkpoints and exact resume, a diverging run stopping on its non-finite loss, config
 * errors with suggestions, HF PEFT configs as method configs, and the same loss curve on Node and Deno.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { PluginConfigError } from "../../core/peft/errors.ts";
import { loadAdapter } from "../../core/peft/adapter-files.ts";
import { PeftModel } from "../../core/peft/peft-model.ts";
import { loadT5 } from "../../core/models/t5/load.ts";
import { trainWith } from "../../core/train/api.ts";
import { parseTrainConfig } from "../../core/train/config.ts";
import { DeviceLostDuringTrainingError, NonFiniteLossError, TrainCheckpointError, TrainConfigError } from "../../core/train/errors.ts";
import type { EvalEvent, StepEvent, TrainEvent } from "../../core/train/events.ts";
import { detectRuntime } from "../../core/runtime.ts";
import type { Backend } from "../../core/backend/backend.ts";
import { createHostWebGPUBackend } from "../../runners/host.ts";
import { readMethodConfig } from "../../runners/cli/train-commands.ts";
import { hostFiles } from "../../runners/host-files.ts";
import "../../plugins/mod.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { expectError, tempDir } from "../harness/expect.ts";
import { shortRun, syntheticGlue, tinyModelDir } from "./fixtures.ts";
import { lossCurve } from "./loss-curve.ts";

async function bytes(path: string): Promise<Uint8Array> {
  const { readFile } = await import("node:fs/promises");
  return new Uint8Array(await readFile(path));
}

const stepsOf = (events: readonly TrainEvent[]) => events.filter((e): e is StepEvent => e.type === "step");
const evalsOf = (events: readonly TrainEvent[]) => events.filter((e): e is EvalEvent => e.type === "eval");

export function register(backends: readonly NamedBackend[]): void {
  const config = suite("train: options");

  config("unknown options fail with a suggestion, HF names included", async () => {
    const e = await expectError(() => parseTrainConfig({ model: "m", task: "sst2", data: "d", out: "o", learning_rate: 1e-3 }), TrainConfigError, /did you mean "lr"/);
    assert.is(e.field, "learning_rate");
    await expectError(() => parseTrainConfig({ model: "m", task: "sst2", data: "d", out: "o", batchsize: 4 }), TrainConfigError, /did you mean "batchSize"/);
    await expectError(() => parseTrainConfig({ model: "m", task: "sst2", data: "d", out: "o", lr: -1 }), TrainConfigError, /lr/);
    await expectError(() => parseTrainConfig({ model: "m", task: "sst2", data: "d" }), TrainConfigError, /out/);
    const ok = parseTrainConfig({ model: "m", task: "sst2", data: "d", out: "o", maxSteps: undefined });
    assert.is(ok.lr, 1e-3);
    assert.is(ok.schedule, "linear");
  });

  config("plugin configs reject unknown keys with HF PEFT's names suggested", async () => {
    const { PeftModel: Peft } = await import("../../core/peft/peft-model.ts");
    const { t5Skeleton } = await import("../../core/models/t5/load.ts");
    const { readT5Config } = await import("../../core/io/t5-config.ts");
    const fs = await hostFiles();
    const skeleton = t5Skeleton(await readT5Config(fs, `${tinyModelDir()}/config.json`));
    const peft = new Peft(skeleton);
    const e = await expectError(() => peft.addAdapter("a", "lora", { r: 4, lora_alpha: 8 }), PluginConfigError, /did you mean "alpha"/);
    assert.is(e.field, "lora_alpha");
    await expectError(() => peft.addAdapter("b", "lora", { target_modules: ["q"] }), PluginConfigError, /did you mean "targets"/);
    await expectError(() => peft.addAdapter("c", "krona", { rank: 2 }), PluginConfigError, /unknown config key "rank"/);
  });

  config("--method-config reads an HF PEFT adapter_config.json (LoRA) with its field names", async () => {
    const fs = await hostFiles();
    const goldens = decodeURIComponent(new URL("../goldens/t5/adapters/", import.meta.url).pathname);
    const lora = await readMethodConfig(fs, `${goldens}lora-q-v`, undefined, tinyModelDir());
    assert.is(lora.method, "lora");
    assert.equal(lora.config.targets, ["q", "v"]);
    assert.type(lora.config.r, "number");
    assert.type(lora.config.alpha, "number");
    const lokr = await readMethodConfig(fs, `${goldens}lokr-q-v/adapter_config.json`, undefined, tinyModelDir());
    assert.is(lokr.method, "krona");
    await expectError(() => readMethodConfig(fs, `${goldens}lora-q-v`, "krona", tinyModelDir()), TrainConfigError, /does not match/);
    await expectError(() => readMethodConfig(fs, "{not json", undefined, tinyModelDir()), TrainConfigError, /not valid JSON|neither JSON/);
    const inline = await readMethodConfig(fs, '{"r": 2}', "lora", tinyModelDir());
    assert.equal(inline, { method: "lora", config: { r: 2 } });
  });

  config.run();

  for (const { name, backend: shared } of backends) {
    const run = suite(`train on ${name}`);
    // Each webgpu test trains on a device of its own, created and destroyed around it: a run leaves a
    // buffer pool and pipelines behind, and these tests should not depend on what earlier suites left.
    let backend: Backend = shared;
    if (name === "webgpu") {
      run.before.each(async () => {
        backend = await createHostWebGPUBackend();
      });
      run.after.each(() => {
        if (backend !== shared) backend.dispose();
        backend = shared;
      });
    }

    run("a short run writes the adapter, metrics.jsonl, run.json and report.html, and evaluates", async () => {
      const { dir, cleanup } = await tempDir("webpeft-train-");
      try {
        const fs = await hostFiles();
        const data = await syntheticGlue(`${dir}/data`);
        const events: TrainEvent[] = [];
        const result = await trainWith(shortRun(data, `${dir}/out`), { backend, fs, onEvent: (e) => events.push(e) });
        assert.is(result.steps, 6);
        assert.is(result.reason, "completed");
        assert.equal(events.map((e) => e.type).filter((t) => t !== "log")[0], "start");
        assert.is(events.at(-1)!.type, "end");
        const steps = stepsOf(events);
        assert.equal(steps.map((s) => s.step), [1, 2, 3, 4, 5, 6]);
        // linear warm-up over 2 steps then linear decay to 0 at step 6: lr(s) = 5e-3 · f(s), s = 0 … 5
        assert.equal(steps.map((s) => +s.lr.toPrecision(6)), [0, 0.0025, 0.005, 0.00375, 0.0025, 0.00125]);
        for (const s of steps) assert.ok(Number.isFinite(s.loss) && s.loss > 0 && Number.isFinite(s.gradNorm), `step ${s.step}`);
        const evals = evalsOf(events);
        assert.equal(evals.map((e) => e.step), [3, 6]);
        assert.is(evals[0]!.mainMetric, "accuracy");
        assert.is(evals[0]!.examples, 24);
        for (const file of ["adapter_config.json", "adapter_model.safetensors", "metrics.jsonl", "run.json", "report.html", "best/adapter_model.safetensors", "checkpoint/trainer_state.safetensors"]) {
          assert.ok(await fs.exists(`${dir}/out/${file}`), file);
        }
        const metrics = (await fs.readText(`${dir}/out/metrics.jsonl`)).trim().split("\n").map((l) => JSON.parse(l) as TrainEvent);
        assert.equal(metrics.map((m) => m.type), ["step", "step", "step", "eval", "step", "step", "step", "eval"]);
        const runJson = JSON.parse(await fs.readText(`${dir}/out/run.json`));
        assert.is(runJson.steps, 6);
        assert.ok(runJson.parameters.trainable > 0 && runJson.parameters.trainable < runJson.parameters.total);
        assert.ok(runJson.versions && typeof runJson.timings.totalMs === "number");
        const html = await fs.readText(`${dir}/out/report.html`);
        assert.ok(html.includes("<svg") && html.includes("sst2"));
        // the saved adapter is HF PEFT's LoKr layout and loads into a fresh model
        const adapterConfig = JSON.parse(await fs.readText(`${dir}/out/adapter_config.json`));
        assert.is(adapterConfig.peft_type, "LOKR");
        const fresh = new PeftModel(await loadT5(tinyModelDir(), { backend, fs }));
        const loaded = await loadAdapter(fresh, `${dir}/out`, { fs });
        assert.is(loaded.plugin.name, "krona");
        fresh.base.dispose();
        fresh.dispose();
        // the tiny random model gets its warning
        const start = events.find((e) => e.type === "start")!;
        assert.match(start.type === "start" ? start.warnings.join(" ") : "", /randomly initialised/);
      } finally {
        await cleanup();
      }
    });

    run("an interrupted run resumes to the same final adapter (bit-identical on cpu)", async () => {
      const { dir, cleanup } = await tempDir("webpeft-resume-");
      try {
        const fs = await hostFiles();
        const data = await syntheticGlue(`${dir}/data`);
        const straight = await trainWith(shortRun(data, `${dir}/straight`), { backend, fs });
        // stop after step 3 (a checkpoint is written on abort), then resume
        const controller = new AbortController();
        const first = await trainWith(shortRun(data, `${dir}/resumed`), { backend, fs, signal: controller.signal, onEvent: (e) => void (e.type === "step" && e.step === 3 && controller.abort()) });
        assert.is(first.reason, "aborted");
        assert.is(first.steps, 3);
        const resumedEvents: TrainEvent[] = [];
        const second = await trainWith(shortRun(data, `${dir}/resumed`, { resume: true }), { backend, fs, onEvent: (e) => resumedEvents.push(e) });
        assert.is(second.steps, 6);
        assert.equal(stepsOf(resumedEvents).map((s) => s.step), [4, 5, 6]);
        const a = await bytes(`${dir}/straight/adapter_model.safetensors`);
        const b = await bytes(`${dir}/resumed/adapter_model.safetensors`);
        if (name === "cpu") {
          assert.equal(b, a, "bit-identical adapter after resume");
        } else {
          assert.is(a.length, b.length);
        }
        // metrics.jsonl of the resumed run has the whole history once
        const lines = (await fs.readText(`${dir}/resumed/metrics.jsonl`)).trim().split("\n").map((l) => JSON.parse(l) as StepEvent);
        assert.equal(lines.filter((l) => l.type === "step").map((l) => l.step), [1, 2, 3, 4, 5, 6]);
        assert.is(straight.steps, 6);
        // resuming with other options is refused, naming the option
        await expectError(() => trainWith(shortRun(data, `${dir}/resumed`, { resume: true, lr: 1e-2 }), { backend, fs }), TrainCheckpointError, /lr/);
      } finally {
        await cleanup();
      }
    });

    run("steps whose batch shape repeats are replayed (run.json counts them) with the same losses as --capture-steps 0", async () => {
      const { dir, cleanup } = await tempDir("webpeft-capture-");
      try {
        const fs = await hostFiles();
        const data = await syntheticGlue(`${dir}/data`);
        // sources cut to 6 tokens: every micro-batch has the same shape (the first two steps are recorded)
        const options = { maxSteps: 5, maxSourceLength: 6, evalEvery: 0 };
        const captured = await trainWith(shortRun(data, `${dir}/captured`, options), { backend, fs });
        const written = await trainWith(shortRun(data, `${dir}/written`, { ...options, captureSteps: 0 }), { backend, fs });
        const losses = async (out: string) => (await fs.readText(`${out}/metrics.jsonl`)).trim().split("\n").map((l) => JSON.parse(l) as TrainEvent).filter((e): e is StepEvent => e.type === "step").map((e) => [e.loss, e.gradNorm]);
        assert.equal(await losses(`${dir}/captured`), await losses(`${dir}/written`));
        assert.is(captured.steps, 5);
        assert.is(written.steps, 5);
        const summary = JSON.parse(await fs.readText(`${dir}/captured/run.json`)).capturedSteps;
        if (name === "webgpu") {
          assert.equal({ ...summary, lastReason: null }, { replayed: 3, recorded: 2, eager: 2, lastReason: null }, JSON.stringify(summary));
          assert.equal(await bytes(`${dir}/captured/adapter_model.safetensors`), await bytes(`${dir}/written/adapter_model.safetensors`));
        } else {
          assert.is(summary.replayed, 0);
          assert.match(summary.lastReason, /cannot record/);
        }
        assert.match(JSON.parse(await fs.readText(`${dir}/written/run.json`)).capturedSteps.lastReason, /capture is off/);
      } finally {
        await cleanup();
      }
    });

    run("a diverging run stops on its non-finite loss, naming the step; the last checkpoint stays intact", async () => {
      const { dir, cleanup } = await tempDir("webpeft-nan-");
      try {
        const fs = await hostFiles();
        const data = await syntheticGlue(`${dir}/data`);
        // Full fine-tuning at lr 1e30: the first update makes the embeddings ~1e30, whose squares overflow
        // float32 in the next RMS norm (inf · 0 = NaN in its backward first, then in the loss).
        const options = shortRun(data, `${dir}/out`, { method: "full", methodConfig: {}, lr: 1e30, warmup: 0, schedule: "constant", maxGradNorm: 0, checkpointEvery: 1, gradientAccumulation: 1, maxSteps: 5, evalEvery: 0 });
        const e = await expectError(() => trainWith(options, { backend, fs }), NonFiniteLossError, /became NaN at step \d/);
        assert.ok(e.step >= 2 && e.step <= 5, `stopped at step ${e.step}`);
        assert.ok(!Number.isFinite(e.value));
        assert.is(e.checkpoint?.step, e.step - 1);
        // the checkpoint of the last good step resumes (and fails again at the same step)
        const again = await expectError(() => trainWith({ ...options, resume: true }, { backend, fs }), NonFiniteLossError);
        assert.is(again.step, e.step);
      } finally {
        await cleanup();
      }
    });

    if (name === "webgpu") {
      run("a lost GPU device stops the run with an error naming the checkpoint, and --resume continues on a new device", async () => {
        const { dir, cleanup } = await tempDir("webpeft-lost-");
        const doomed = await createHostWebGPUBackend();
        try {
          const fs = await hostFiles();
          const data = await syntheticGlue(`${dir}/data`);
          // the device goes away after the checkpoint of step 2 (as after a driver reset)
          const e = await expectError(
            () => trainWith(shortRun(data, `${dir}/out`), { backend: doomed, fs, onEvent: (event) => void (event.type === "checkpoint" && event.step === 2 && doomed.device.destroy()) }),
            DeviceLostDuringTrainingError,
            /device was lost at step 3.*checkpoint of step 2.*--resume/,
          );
          assert.is(e.checkpoint?.step, 2);
          const resumed = await trainWith(shortRun(data, `${dir}/out`, { resume: true }), { backend, fs });
          assert.is(resumed.steps, 6);
        } finally {
          doomed.dispose();
          await cleanup();
        }
      });
    }

    run.run();
  }

  const runtimes = suite("train: the same loss curve on Node and Deno");
  if (detectRuntime() === "node") {
    for (const { name } of backends) {
      runtimes(`${name}: Deno's losses equal Node's`, async () => {
        const { dir, cleanup } = await tempDir("webpeft-runtimes-");
        try {
          const { execFile } = await import("node:child_process");
          const { promisify } = await import("node:util");
          const ours = await lossCurve(name as "cpu" | "webgpu", `${dir}/node`);
          const deno = decodeURIComponent(new URL("../../node_modules/.bin/deno", import.meta.url).pathname);
          const script = decodeURIComponent(new URL("./loss-curve.ts", import.meta.url).pathname);
          const { stdout } = await promisify(execFile)(deno, ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys", script, name, `${dir}/deno`], { maxBuffer: 1 << 24 });
          const theirs = JSON.parse(stdout.trim().split("\n").at(-1)!) as number[];
          assert.is(theirs.length, ours.length);
          // cpu: the same JavaScript arithmetic → identical; webgpu: Dawn (Node) and wgpu (Deno) compile the
          // same WGSL differently, so float32 rounding may differ in the last bits.
          const tolerance = name === "cpu" ? 0 : 1e-4;
          ours.forEach((loss, i) => assert.ok(Math.abs(loss - theirs[i]!) <= tolerance * Math.abs(loss), `step ${i + 1}: node ${loss}, deno ${theirs[i]}`));
        } finally {
          await cleanup();
        }
      });
    }
  }
  runtimes.run();
}
