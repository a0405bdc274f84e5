/**
 * `webpeft train` as a user runs it, in a child process (Node runs the Node CLI, Deno the Deno one):
 * killed with SIGKILL mid-run and resumed, it ends with the same adapter as an uninterrupted run
 * (bit-identical on cpu); bad options fail fast with messages that say what was expected.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { detectRuntime } from "../../core/runtime.ts";
import type { EvalEvent, StepEvent, TrainEvent } from "../../core/train/events.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { tempDir } from "../harness/expect.ts";
import { syntheticGlue, tinyModelDir } from "./fixtures.ts";

/** Steps of the demo in the test: a short run of the real demo (its own is 120). */
const DEMO_TEST_STEPS = 20;

const root = decodeURIComponent(new URL("../../", import.meta.url).pathname);

/** The command line that runs the CLI on this runtime. */
function cliCommand(): [string, string[]] {
  if (detectRuntime() === "deno") {
    return [`${root}node_modules/.bin/deno`, ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys", "--allow-net=127.0.0.1", `${root}runners/deno/cli.ts`]];
  }
  // node itself with tsx's loader: the `tsx` binary would run the CLI in a grandchild that SIGKILL misses
  const node = (globalThis as unknown as { process: { execPath: string } }).process.execPath;
  return [node, ["--import", "tsx", `${root}runners/node/cli.ts`]];
}

interface Finished {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI; `onLine` sees each stdout line and may kill the process. */
async function webpeft(args: readonly string[], onLine?: (line: string, kill: () => void) => void): Promise<Finished> {
  const { spawn } = await import("node:child_process");
  const [command, prefix] = cliCommand();
  const child = spawn(command, [...prefix, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let pending = "";
  child.stdout!.setEncoding("utf8");
  child.stderr!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      onLine?.(line, () => child.kill("SIGKILL"));
    }
  });
  child.stderr!.on("data", (chunk: string) => void (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const events = (stdout: string): TrainEvent[] =>
  stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as TrainEvent);

export function register(backends: readonly NamedBackend[]): void {
  const s = suite(`webpeft train (CLI on ${detectRuntime()})`);
  if (!backends.some((b) => b.name === "cpu")) return;

  s("SIGKILL mid-run, then --resume: the same final adapter as an uninterrupted run, byte for byte (cpu)", async () => {
    const { dir, cleanup } = await tempDir("webpeft-sigkill-");
    try {
      const { readFile } = await import("node:fs/promises");
      const data = await syntheticGlue(`${dir}/data`);
      const run = (out: string, ...extra: string[]) =>
        [
          "train", "--model", tinyModelDir(), "--task", "sst2", "--data", data, "--out", out, "--backend", "cpu", "--json",
          "--method", "lora", "--method-config", '{"r": 4, "alpha": 8, "targets": ["q", "v"], "dropout": 0.1}',
          "--max-steps", "40", "--batch-size", "8", "--lr", "0.01", "--warmup", "2", "--checkpoint-every", "1", "--eval-every", "20",
          "--max-eval-examples", "8", "--seed", "11", ...extra,
        ] as string[];
      const straight = await webpeft(run(`${dir}/straight`));
      assert.is(straight.code, 0, straight.stderr);
      let killedAfter = -1;
      const killed = await webpeft(run(`${dir}/killed`), (line, kill) => {
        const event = line.startsWith("{") ? (JSON.parse(line) as TrainEvent) : null;
        if (event?.type === "checkpoint" && event.step >= 3 && killedAfter < 0) {
          killedAfter = event.step;
          kill();
        }
      });
      assert.is(killed.signal, "SIGKILL", `the run was killed (exit ${killed.code}, ${killed.stderr})`);
      assert.ok(killedAfter >= 3);
      const resumed = await webpeft([...run(`${dir}/killed`), "--resume"]);
      assert.is(resumed.code, 0, resumed.stderr);
      const resumedSteps = events(resumed.stdout).filter((e) => e.type === "step").map((e) => (e as { step: number }).step);
      assert.ok(resumedSteps.length > 0 && resumedSteps[0]! > 1 && resumedSteps.at(-1) === 40, `resumed steps ${resumedSteps.join(",")} after a kill at ${killedAfter}: ${resumed.stdout.slice(0, 600)} ${resumed.stderr.slice(0, 600)}`);
      const a = new Uint8Array(await readFile(`${dir}/straight/adapter_model.safetensors`));
      const b = new Uint8Array(await readFile(`${dir}/killed/adapter_model.safetensors`));
      assert.equal(b, a, "the resumed run's adapter equals the uninterrupted run's");
      const losses = (text: string) => events(text).filter((e) => e.type === "step").map((e) => (e as { loss: number }).loss);
      assert.equal(losses(resumed.stdout), losses(straight.stdout).slice(-resumedSteps.length), "same losses after the resume point");
      // The run is never overwritten: without --resume, a folder holding a run is refused.
      const again = await webpeft(run(`${dir}/killed`));
      assert.is(again.code, 1);
      assert.match(again.stderr, /holds a run already.*--resume/);
    } finally {
      await cleanup();
    }
  });

  s("the demo (`webpeft train` with no arguments) runs end to end on webgpu and reports its accuracy", async () => {
    if (!backends.some((b) => b.name === "webgpu")) return;
    const { dir, cleanup } = await tempDir("webpeft-demo-");
    try {
      const { existsSync } = await import("node:fs");
      const result = await webpeft(["train", "--json", "--out", `${dir}/demo`, "--max-steps", String(DEMO_TEST_STEPS), "--eval-every", String(DEMO_TEST_STEPS)]);
      assert.is(result.code, 0, result.stderr);
      const all = events(result.stdout);
      const start = all.find((e) => e.type === "start");
      assert.ok(start && start.type === "start" && start.task === "sst2" && start.method === "krona" && start.warnings.length === 0, "the shipped model, KronA, no warning");
      const steps = all.filter((e): e is StepEvent => e.type === "step");
      assert.is(steps.length, DEMO_TEST_STEPS);
      assert.ok(steps.at(-1)!.loss < steps[0]!.loss, `loss ${steps[0]!.loss} → ${steps.at(-1)!.loss}`);
      const evals = all.filter((e): e is EvalEvent => e.type === "eval");
      const accuracy = evals.at(-1)!.metrics.accuracy!;
      assert.ok(accuracy >= 0 && accuracy <= 1, `demo accuracy ${accuracy}`);
      for (const file of ["adapter_model.safetensors", "report.html", "run.json", "metrics.jsonl", "data/SST-2/train.tsv"]) assert.ok(existsSync(`${dir}/demo/${file}`), file);
    } finally {
      await cleanup();
    }
  });

  s("bad options fail fast and say what was expected", async () => {
    const { dir, cleanup } = await tempDir("webpeft-cli-errors-");
    try {
      const { writeFile, mkdir } = await import("node:fs/promises");
      const data = await syntheticGlue(`${dir}/data`);
      const base = ["train", "--model", tinyModelDir(), "--backend", "cpu", "--out", `${dir}/out`];
      const hfName = await webpeft([...base, "--task", "sst2", "--data", data, "--method", "lora", "--method-config", '{"r": 4, "lora_alpha": 16}']);
      assert.is(hfName.code, 1);
      assert.match(hfName.stderr, /lora_alpha.*did you mean "alpha"/);
      const task = await webpeft([...base, "--task", "sst3", "--data", data]);
      assert.is(task.code, 1);
      assert.match(task.stderr, /unknown GLUE task "sst3"/);
      const method = await webpeft([...base, "--task", "sst2", "--data", data, "--method", "loraa"]);
      assert.is(method.code, 1);
      assert.match(method.stderr, /no plugin named "loraa"/);
      const files = await webpeft([...base, "--task", "rte", "--data", data]);
      assert.is(files.code, 1);
      assert.match(files.stderr, /RTE/);
      await mkdir(`${dir}/bert`);
      await writeFile(`${dir}/bert/config.json`, JSON.stringify({ model_type: "bert", hidden_size: 32 }));
      const notT5 = await webpeft(["train", "--model", `${dir}/bert`, "--task", "sst2", "--data", data, "--backend", "cpu", "--out", `${dir}/out2`]);
      assert.is(notT5.code, 1);
      assert.match(notT5.stderr, /config\.json/);
      const half = await webpeft([...base, "--task", "sst2"]);
      assert.is(half.code, 1);
      assert.match(half.stderr, /both --task and --data/);
    } finally {
      await cleanup();
    }
  });

  s.run();
}
