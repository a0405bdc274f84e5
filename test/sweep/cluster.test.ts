/**
 * Sweeps on Effect's cluster, end to end through the `webpeft` CLI (Node; `npm run test:sweep`):
 *
 *   1. the embedded default (no database given): `webpeft sweep` runs 12 runs in one process over PGlite;
 *   2. PostgreSQL from Debian (started here), 3 `webpeft worker` processes and a submitting client: one
 *      worker is SIGKILLed while a run it holds has a checkpoint; its runs finish on the others, resumed
 *      from their checkpoints; every run completes exactly once, and the table (and every run's losses)
 *      is bit-identical to the single-process sweep's (cpu backend); the dead worker's run moves within
 *      FAILOVER_BOUND_S (the workers' dead-runner check, runners/sweep/cluster.ts: without it, one kill in
 *      about three waited 175 s for the dead runner's heartbeat to expire);
 *   3. submitting the finished sweep again trains nothing (replies are stored, requests deduplicated);
 *   4. a run that keeps failing is marked failed with its error, and the sweep completes without it.
 *
 * Prints the throughput of 1 vs 3 workers and the fail-over time. Paths: WEBPEFT_DATA (default
 * ../shared/data) for GLUE; the model is the small T5 shipped with webpeft.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Effect } from "effect";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type RunStatusRow, postgresLayer, readStatus } from "../../runners/sweep/cluster.ts";
import { freePort, startPostgres, type TestPostgres } from "../harness/postgres.ts";

const DATA = resolve(process.env.WEBPEFT_DATA ?? "../shared/data");
const GLUE = join(DATA, "glue");
const MODEL = resolve("runners/demo/t5-mini");
const CLI = resolve("runners/node/cli.ts");
/** `node --import tsx cli.ts …`: one process (the tsx binary would fork a second, which a SIGKILL misses). */
const NODE_ARGS = ["--import", "tsx", CLI];

if (!existsSync(join(GLUE, "SST-2", "train.tsv"))) throw new Error(`GLUE data not found in ${GLUE}: set WEBPEFT_DATA to the folder holding glue/ (../shared/data)`);

const work = mkdtempSync(join(tmpdir(), "webpeft-sweep-"));
const children: ChildProcess[] = [];
let postgres: TestPostgres | null = null;

/** 2 tasks × 2 methods × 3 seeds = 12 runs, each ~20 s of cpu on this machine's shared cores at most. */
function sweepFile(name: string, extra: Record<string, unknown> = {}): string {
  const file = join(work, `${name}.json`);
  const spec = {
    name,
    model: MODEL,
    data: GLUE,
    tasks: ["sst2", "rte"],
    methods: ["krona", { name: "lora-r4", method: "lora", config: { r: 4 } }],
    lr: [0.005],
    seeds: [1, 2, 3],
    train: { maxSteps: 16, batchSize: 4, maxTrainExamples: 200, maxEvalExamples: 16, evalEvery: 8, checkpointEvery: 2, maxSourceLength: 48, maxTargetLength: 4 },
    ...extra,
  };
  writeFileSync(file, JSON.stringify(spec, null, 1));
  return file;
}

interface Finished {
  readonly code: number | null;
  readonly output: string;
  readonly seconds: number;
}

/** Runs `webpeft …` to its end (timeout: fail), collecting stdout + stderr. */
function cli(args: string[], timeoutMs = 600_000): Promise<Finished> {
  const started = Date.now();
  const child = spawn(process.execPath, [...NODE_ARGS, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`webpeft ${args.join(" ")} did not finish in ${timeoutMs / 1000} s:\n${output.slice(-3000)}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output, seconds: (Date.now() - started) / 1000 });
    });
  });
}

interface Worker {
  readonly name: string;
  readonly child: ChildProcess;
  output: string;
}

async function startWorker(url: string): Promise<Worker> {
  const port = await freePort();
  const child = spawn(process.execPath, [...NODE_ARGS, "worker", "--db", url, "--host", "127.0.0.1", "--port", String(port), "--backend", "cpu"], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  const worker: Worker = { name: `127.0.0.1:${port}`, child, output: "" };
  child.stdout!.on("data", (d) => (worker.output += d));
  child.stderr!.on("data", (d) => (worker.output += d));
  return worker;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How long a killed worker's run may take to move: seconds with the dead-runner check (4–7 s measured),
 * so 90 s leaves room for a loaded machine while failing on the 175 s path. The waits below last longer
 * (the heartbeat expiration, 180 s, plus a minute) so that the slow path fails with this bound's message.
 */
const FAILOVER_BOUND_S = 90;
const FAILOVER_WAIT_MS = 240_000;

async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

const statusOf = (url: string, sweepId: string): Promise<readonly RunStatusRow[]> =>
  Effect.runPromise(readStatus(sweepId).pipe(Effect.provide(postgresLayer(url, 1)), Effect.scoped, Effect.orElseSucceed(() => [] as RunStatusRow[])) as Effect.Effect<readonly RunStatusRow[]>);

interface ResultsFile {
  readonly table: unknown;
  readonly runs: readonly { runId: string; status: string; host: string; attempts: number; result?: { metrics: Record<string, number>; steps: number } }[];
}
const readResults = (out: string): ResultsFile => JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as ResultsFile;

/** The training losses of a run, step by step, from its metrics.jsonl (the exact floats written). */
function losses(out: string, runId: string): number[] {
  const lines = readFileSync(join(out, "runs", runId, "metrics.jsonl"), "utf8").trim().split("\n");
  return lines.map((l) => JSON.parse(l) as { type: string; loss?: number }).filter((e) => e.type === "step").map((e) => e.loss!);
}

const single = { out: join(work, "single"), seconds: 0 };

test("embedded default: `webpeft sweep` runs 12 runs in one process over PGlite and writes the GLUE table", async () => {
  const file = sweepFile("cluster-check");
  const run = await cli(["sweep", file, "--out", single.out, "--backend", "cpu"]);
  assert.is(run.code, 0, run.output.slice(-3000));
  single.seconds = run.seconds;
  const results = readResults(single.out);
  assert.is(results.runs.length, 12);
  assert.ok(results.runs.every((r) => r.status === "done" && r.host === "local" && r.attempts === 1), JSON.stringify(results.runs.filter((r) => r.status !== "done")));
  for (const f of ["results.csv", "results.md", "report.html", "sweep.json"]) assert.ok(existsSync(join(single.out, f)), f);
  assert.match(run.output, /\| krona \|/);
  // The status command reads the stored states after the process is gone.
  const status = await cli(["sweep", "status", single.out, "--json"]);
  assert.is(status.code, 0, status.output);
  const report = JSON.parse(status.output.trim().split("\n").pop()!) as { summary: { done: number; total: number } };
  assert.equal(report.summary, { total: 12, queued: 0, running: 0, done: 12, failed: 0 });
});

test("3 workers on PostgreSQL: a SIGKILLed worker's runs resume elsewhere; every run completes once; the table equals the single-process one", async () => {
  postgres = await startPostgres();
  const url = postgres.url;
  const workers = [await startWorker(url), await startWorker(url), await startWorker(url)];
  await waitFor("3 workers to join", () => (workers.every((w) => /worker 127\.0\.0\.1:\d+: cpu backend/.test(w.output)) ? true : undefined), 120_000);
  const out = join(work, "cluster");
  const file = sweepFile("cluster-check");
  const submitted = cli(["sweep", file, "--out", out, "--db", url]);
  const sweepId = await waitFor("sweep.json", () => (existsSync(join(out, "sweep.json")) ? (JSON.parse(readFileSync(join(out, "sweep.json"), "utf8")) as { sweepId: string }).sweepId : undefined), 120_000);

  // Kill the worker of a run that is in the first half of its steps with a checkpoint on disk.
  const stepsDone = (runId: string): number => {
    const file = join(out, "runs", runId, "metrics.jsonl");
    return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l.includes('"type":"step"')).length : 0;
  };
  const victim = await waitFor(
    "a running run with a checkpoint",
    async () => (await statusOf(url, sweepId)).find((r) => r.state === "running" && existsSync(join(out, "runs", r.run_id, "checkpoint", "trainer_state.safetensors")) && stepsDone(r.run_id) <= 8),
    300_000,
    100,
  );
  const killed = workers.find((w) => w.name === victim.host)!;
  assert.ok(killed, `no worker named ${victim.host}`);
  killed.child.kill("SIGKILL");
  const killedAt = Date.now();
  await sleep(200);
  // What the dead worker held: its runs still marked running once it is gone.
  const heldRuns = (await statusOf(url, sweepId)).filter((r) => r.state === "running" && r.host === killed.name).map((r) => r.run_id);
  assert.ok(heldRuns.length > 0, `the killed worker ${killed.name} held no run (it finished ${victim.run_id} first)`);
  // Fail-over: until a run the dead worker held is running again on another worker.
  try {
    // Delivered again: the run is queued (or running) on a live worker.
    await waitFor("a killed run to move to another worker", async () => ((await statusOf(url, sweepId)).some((r) => heldRuns.includes(r.run_id) && r.host !== killed.name) ? true : undefined), FAILOVER_WAIT_MS, 100);
  } catch (e) {
    const rows = await statusOf(url, sweepId);
    throw new Error(`${(e as Error).message}; killed ${killed.name} holding ${heldRuns.join(", ")}\n${rows.map((r) => `${r.run_id} ${r.state} ${r.host} ${r.attempts}`).join("\n")}\n${workers.map((w) => `== ${w.name}\n${w.output.slice(-2500)}`).join("\n")}`);
  }
  const failoverSeconds = (Date.now() - killedAt) / 1000;
  assert.ok(
    failoverSeconds < FAILOVER_BOUND_S,
    `the killed worker's run moved after ${failoverSeconds.toFixed(1)} s (bound ${FAILOVER_BOUND_S} s): was the dead runner left healthy until its heartbeat expired?\n${workers.map((w) => `== ${w.name}\n${w.output.slice(-2500)}`).join("\n")}`,
  );
  const restartedAt = await waitFor("a killed run to restart", async () => ((await statusOf(url, sweepId)).some((r) => heldRuns.includes(r.run_id) && r.host !== killed.name && r.state !== "queued") ? Date.now() : undefined), FAILOVER_WAIT_MS, 100);

  const finished = await submitted;
  assert.is(finished.code, 0, finished.output.slice(-3000));
  const results = readResults(out);
  const rows = await statusOf(url, sweepId);
  // Every run done, exactly once, and the ones the dead worker held finished elsewhere on a second attempt.
  assert.is(results.runs.length, 12);
  assert.is(new Set(results.runs.map((r) => r.runId)).size, 12);
  assert.ok(rows.every((r) => r.state === "done"), JSON.stringify(rows));
  for (const runId of heldRuns) {
    const outcome = results.runs.find((r) => r.runId === runId)!;
    assert.is.not(outcome.host, killed.name, `${runId} finished on the killed worker`);
    assert.is(outcome.attempts, 2, `${runId}: attempts`);
  }
  const resumedLines = workers.filter((w) => w !== killed).flatMap((w) => w.output.split("\n").filter((l) => /: resumed from .* at step [1-9]/.test(l)));
  assert.ok(heldRuns.some((id) => resumedLines.some((l) => l.includes(id))), `no killed run resumed from a checkpoint:\n${resumedLines.join("\n")}`);
  const hosts = new Set(results.runs.map((r) => r.host));
  assert.ok(hosts.size >= 2, `runs finished on ${[...hosts].join(", ")}`);

  // Bit-identical to the single-process sweep: the table, and every run's metrics and losses.
  const reference = readResults(single.out);
  assert.equal(results.table, reference.table);
  for (const run of reference.runs) {
    const other = results.runs.find((r) => r.runId === run.runId)!;
    assert.equal(other.result!.metrics, run.result!.metrics, run.runId);
    assert.equal(losses(out, run.runId), losses(single.out, run.runId), `${run.runId}: losses`);
  }

  // Submitting the finished sweep again trains nothing: the stored replies answer.
  const before = workers.map((w) => (w.output.match(/: started \(attempt/g) ?? []).length);
  const again = await cli(["sweep", file, "--out", out, "--db", url, "--json"]);
  assert.is(again.code, 0, again.output.slice(-2000));
  assert.equal(workers.map((w) => (w.output.match(/: started \(attempt/g) ?? []).length), before, "a run was trained again");
  assert.equal(readResults(out).table, reference.table);

  console.log(
    `\n  sweep of 12 runs (t5-mini, cpu, 16 steps each): 1 process ${single.seconds.toFixed(1)} s (${((12 / single.seconds) * 60).toFixed(1)} runs/min); ` +
      `3 workers ${finished.seconds.toFixed(1)} s including the kill (${((12 / finished.seconds) * 60).toFixed(1)} runs/min); ` +
      `fail-over after SIGKILL: the dead worker's run was delivered to another worker after ${failoverSeconds.toFixed(1)} s and restarted after ${((restartedAt - killedAt) / 1000).toFixed(1)} s (runs held: ${heldRuns.join(", ")}); resubmitting the finished sweep: ${again.seconds.toFixed(1)} s`,
  );
  for (const w of workers) w.child.kill("SIGTERM");
});

test("a run that keeps failing is marked failed with its error after maxAttempts; the sweep completes without it", async () => {
  // A data folder with SST-2 only: the CoLA runs cannot find their files.
  const data = join(work, "glue-sst2-only");
  mkdirSync(data, { recursive: true });
  symlinkSync(join(GLUE, "SST-2"), join(data, "SST-2"));
  const file = sweepFile("failing", { data, tasks: ["sst2", "cola"], methods: ["krona"], seeds: [1], maxAttempts: 2, train: { maxSteps: 2, batchSize: 4, maxTrainExamples: 16, maxEvalExamples: 8, evalEvery: 0, maxSourceLength: 32 } });
  const out = join(work, "failing");
  const run = await cli(["sweep", file, "--out", out, "--backend", "cpu"]);
  assert.is(run.code, 0, run.output.slice(-3000));
  const results = readResults(out);
  const cola = results.runs.find((r) => r.runId.startsWith("cola."))!;
  assert.is(cola.status, "failed");
  assert.is(cola.attempts, 2);
  assert.match((cola as { error?: string }).error ?? "", /CoLA|cola/);
  assert.is(results.runs.find((r) => r.runId.startsWith("sst2."))!.status, "done");
  assert.match(readFileSync(join(out, "results.md"), "utf8"), /failed ×1/);
  const status = await cli(["sweep", "status", out]);
  assert.match(status.output, /failed\s+cola\.krona/);
});

test.after(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  postgres?.stop();
  rmSync(work, { recursive: true, force: true });
});

test.run();
