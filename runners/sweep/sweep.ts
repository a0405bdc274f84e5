/**
 * What `webpeft sweep`, `webpeft sweep status` and `webpeft worker` do (runners/sweep/commands.ts gives
 * them flags). See cluster.ts for how a sweep runs on Effect's cluster.
 */
import * as path from "node:path";
import { Effect, Fiber, Layer } from "effect";
import { ClusterWorkflowEngine } from "effect/cluster";
import { parse as parseYaml } from "yaml";
import type { FileAccess } from "../../core/io/files.ts";
import { type SweepSpec, SweepFileError, parseSweep, sweepFingerprint, sweepRuns } from "../../core/sweep/spec.ts";
import type { BackendName } from "../host.ts";
import { createBackend } from "../host.ts";
import {
  type RunStatusRow,
  type SweepPayload,
  SweepWorkflow,
  clientClusterLayer,
  deadRunnerCheckLayer,
  ensureStatusTable,
  platformLayer,
  postgresLayer,
  readStatus,
  recordQueued,
  runEntityLayer,
  singleRunnerLayer,
  sweepWorkflowLayer,
  workerClusterLayer,
} from "./cluster.ts";
import { openEmbeddedDatabase, runningEmbeddedDatabase } from "./embedded-db.ts";

const encoder = new TextEncoder();

/** Reads a sweep file (JSON, or YAML for .yaml/.yml) and validates it; errors name the file and field. */
export async function readSweepFile(fs: FileAccess, file: string): Promise<SweepSpec> {
  if (!(await fs.exists(file))) throw SweepFileError.of(file, "", "no such file");
  const text = await fs.readText(file);
  let raw: unknown;
  const yaml = /\.ya?ml$/i.test(file);
  try {
    raw = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw SweepFileError.of(file, "", `not valid ${yaml ? "YAML" : "JSON"}: ${(e as Error).message.split("\n")[0]}`);
  }
  return parseSweep(raw, file);
}

/** A local path that exists becomes absolute (runners elsewhere get the same path); hub ids stay as they are. */
async function absoluteIfLocal(fs: FileAccess, p: string): Promise<string> {
  return (await fs.exists(p)) ? path.resolve(p) : p;
}

/** A sweep's output folder: --out, else the file's `out`, else sweeps/<name>; absolute. */
function sweepOutFolder(spec: Pick<SweepSpec, "name" | "out">, outFlag: string | undefined): string {
  return path.resolve(outFlag ?? spec.out ?? path.join("sweeps", spec.name));
}

export interface PreparedSweep {
  readonly spec: SweepSpec;
  readonly fingerprint: string;
  /** name-fingerprint: the cluster's key for this sweep. */
  readonly sweepId: string;
  readonly out: string;
  readonly payload: SweepPayload;
}

/**
 * Expands a sweep into the workflow's payload and writes `<out>/sweep.json`. A folder that holds a
 * different sweep is refused (its results would be mixed up); the same sweep continues where it was.
 */
export async function prepareSweep(fs: FileAccess, file: string, outFlag: string | undefined): Promise<PreparedSweep> {
  const parsed = await readSweepFile(fs, file);
  const spec: SweepSpec = {
    ...parsed,
    model: await absoluteIfLocal(fs, parsed.model),
    ...(parsed.tokenizer ? { tokenizer: await absoluteIfLocal(fs, parsed.tokenizer) } : {}),
    data: path.resolve(parsed.data),
  };
  const out = sweepOutFolder(spec, outFlag);
  const fingerprint = sweepFingerprint(spec);
  const sweepId = `${spec.name}-${fingerprint}`;
  const record = fs.join(out, "sweep.json");
  if (await fs.exists(record)) {
    const before = JSON.parse(await fs.readText(record)) as { fingerprint?: string; file?: string };
    if (before.fingerprint !== fingerprint) {
      throw SweepFileError.of(file, "out", `${out} holds another sweep (fingerprint ${before.fingerprint}, from ${before.file}); this file's runs differ (fingerprint ${fingerprint}). Choose another out (--out), or delete that folder`);
    }
  }
  const runs = sweepRuns(spec);
  await fs.mkdirp(out);
  await fs.writeAtomic(record, [encoder.encode(`${JSON.stringify({ name: spec.name, fingerprint, sweepId, file: path.resolve(file), spec, runs: runs.map((r) => r.id) }, null, 1)}\n`)]);
  const payload: SweepPayload = {
    sweepId,
    name: spec.name,
    fingerprint,
    out,
    tasks: spec.tasks,
    methods: spec.methods.map((m) => m.name),
    runs: runs.map((r) => ({ sweepId, runId: r.id, task: r.task, method: r.method, lr: r.lr, seed: r.seed, config: JSON.stringify(r.config), out, maxAttempts: spec.maxAttempts })),
  };
  return { spec, fingerprint, sweepId, out, payload };
}

export interface StatusSummary {
  readonly total: number;
  readonly queued: number;
  readonly running: number;
  readonly done: number;
  readonly failed: number;
}

export function summarize(rows: readonly RunStatusRow[]): StatusSummary {
  const count = (state: RunStatusRow["state"]) => rows.filter((r) => r.state === state).length;
  return { total: rows.length, queued: count("queued"), running: count("running"), done: count("done"), failed: count("failed") };
}

/** A run's state as one line: `done      sst2.krona.lr0.005.seed1   127.0.0.1:41001  attempt 1  score 81.2`. */
export function statusLine(row: RunStatusRow): string {
  const score = row.score === null ? "" : `  score ${row.score.toFixed(1)}`;
  const error = row.error && row.state !== "done" ? `  (${row.error.length > 120 ? `${row.error.slice(0, 117)}...` : row.error})` : "";
  return `${row.state.padEnd(8)} ${row.run_id.padEnd(40)} ${(row.host ?? "").padEnd(22)} attempt ${row.attempts}${score}${error}`;
}

export const summaryLine = (s: StatusSummary): string => `${s.done}/${s.total} done, ${s.running} running, ${s.queued} queued, ${s.failed} failed`;

/** Prints each run whose state changed since the last poll, every `everyMs`, until interrupted. */
function watchStatus(sweepId: string, log: (line: string) => void, everyMs = 2000) {
  return Effect.gen(function* () {
    const seen = new Map<string, string>();
    while (true) {
      const rows = yield* readStatus(sweepId).pipe(Effect.orElseSucceed(() => [] as RunStatusRow[]));
      let changed = false;
      for (const row of rows) {
        const key = `${row.state}/${row.host}/${row.attempts}`;
        if (seen.get(row.run_id) !== key) {
          if (seen.has(row.run_id) || row.state !== "queued") {
            log(statusLine(row));
            changed = true;
          }
          seen.set(row.run_id, key);
        }
      }
      if (changed) log(`  [${summaryLine(summarize(rows))}]`);
      yield* Effect.sleep(everyMs);
    }
  });
}

export interface SubmitOptions {
  readonly file: string;
  readonly out?: string | undefined;
  /** postgres:// URL of the cluster's database; none: the embedded store, and the runs execute here. */
  readonly db?: string | undefined;
  /** Embedded mode: the backend and concurrency of this process's runner. */
  readonly backend: BackendName;
  readonly concurrency: number;
  readonly log: (line: string) => void;
}

export interface SubmitResult extends PreparedSweep {
  readonly done: number;
  readonly failed: number;
  readonly wallSeconds: number;
}

/** `webpeft sweep <file>`: submits the sweep's workflow, reports runs as they change, waits for the table. */
export async function submitSweep(fs: FileAccess, options: SubmitOptions, signal?: AbortSignal): Promise<SubmitResult> {
  const prepared = await prepareSweep(fs, options.file, options.out);
  const { payload, sweepId, out } = prepared;
  const started = Date.now();
  const program = Effect.gen(function* () {
    yield* ensureStatusTable;
    yield* recordQueued(sweepId, payload.runs.map((r) => r.runId));
    options.log(`sweep ${prepared.spec.name}: ${payload.runs.length} runs (${payload.tasks.length} tasks × ${payload.methods.length} methods × learning rates × ${prepared.spec.seeds.length} seeds), output ${out}`);
    const watcher = yield* Effect.forkChild(watchStatus(sweepId, options.log));
    const result = yield* SweepWorkflow.execute(payload);
    yield* Fiber.interrupt(watcher);
    return result;
  });
  const embedded = options.db ? null : await openEmbeddedSweepStore(fs, out);
  try {
    const url = options.db ?? embedded!.url;
    const sql = postgresLayer(url, embedded ? 1 : 4);
    const cluster = embedded
      ? Layer.mergeAll(
          runEntityLayer({ host: "local", concurrency: options.concurrency, createBackend: () => createBackend(options.backend), fs, log: options.log }),
          sweepWorkflowLayer(fs),
        ).pipe(Layer.provideMerge(ClusterWorkflowEngine.layer), Layer.provideMerge(singleRunnerLayer))
      : ClusterWorkflowEngine.layer.pipe(Layer.provideMerge(clientClusterLayer));
    // Ctrl-C (the signal) interrupts the program: a run in training stops and stays resumable, the store closes.
    const result = await Effect.runPromise(program.pipe(Effect.provide(cluster.pipe(Layer.provideMerge(sql), Layer.provide(platformLayer))), Effect.scoped) as Effect.Effect<{ done: number; failed: number }, unknown, never>, signal ? { signal } : undefined);
    return { ...prepared, ...result, wallSeconds: (Date.now() - started) / 1000 };
  } finally {
    await embedded?.close();
  }
}

async function openEmbeddedSweepStore(fs: FileAccess, out: string) {
  const other = await runningEmbeddedDatabase(fs, out);
  if (other !== null) throw SweepFileError.of(fs.join(out, "sweep.json"), "out", `another process is running this sweep (its store answers on 127.0.0.1:${other}); watch it with \`webpeft sweep status ${out}\``);
  return openEmbeddedDatabase(fs, out);
}

export interface StatusOptions {
  /** The sweep's output folder, or its sweep file (then --out or the file's `out` locate the folder). */
  readonly target: string;
  readonly out?: string | undefined;
  readonly db?: string | undefined;
}

/** Locates the sweep folder of `webpeft sweep status <folder | sweep file>`. */
async function sweepFolder(fs: FileAccess, options: StatusOptions): Promise<string> {
  const stat = await fs.stat(options.target);
  if (stat?.isDirectory) return path.resolve(options.target);
  if (stat) return sweepOutFolder(await readSweepFile(fs, options.target), options.out);
  throw SweepFileError.of(options.target, "", "no such sweep folder or sweep file");
}

/** `webpeft sweep status`: the runs' states (once), from the sweep's database. */
export async function sweepStatus(fs: FileAccess, options: StatusOptions): Promise<{ out: string; sweepId: string; rows: readonly RunStatusRow[]; summary: StatusSummary }> {
  const out = await sweepFolder(fs, options);
  const record = fs.join(out, "sweep.json");
  if (!(await fs.exists(record))) throw SweepFileError.of(record, "", "no sweep was submitted to this folder yet (it has no sweep.json)");
  const { sweepId } = JSON.parse(await fs.readText(record)) as { sweepId: string };
  let url = options.db;
  let embedded: Awaited<ReturnType<typeof openEmbeddedDatabase>> | null = null;
  if (!url) {
    const port = await runningEmbeddedDatabase(fs, out);
    if (port !== null) url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    else if (await fs.exists(fs.join(out, ".cluster", "pglite"))) {
      embedded = await openEmbeddedDatabase(fs, out);
      url = embedded.url;
    } else {
      throw SweepFileError.of(record, "", "this sweep ran on a cluster: pass its database with --db postgres://… (or WEBPEFT_SWEEP_DB)");
    }
  }
  try {
    const rows = await Effect.runPromise(Effect.gen(function* () {
      yield* ensureStatusTable;
      return yield* readStatus(sweepId);
    }).pipe(Effect.provide(postgresLayer(url, 1)), Effect.scoped) as Effect.Effect<readonly RunStatusRow[], unknown, never>);
    return { out, sweepId, rows, summary: summarize(rows) };
  } finally {
    await embedded?.close();
  }
}


export interface WorkerRunOptions {
  readonly db: string;
  /** Address the other runners and clients reach this one at. */
  readonly host: string;
  readonly port: number;
  /** Interface to listen on (default: host). */
  readonly listenHost?: string | undefined;
  readonly backend: BackendName;
  readonly concurrency: number;
  readonly log: (line: string) => void;
}

/** `webpeft worker`: joins the cluster as a runner and executes runs until stopped. */
export function runWorker(fs: FileAccess, options: WorkerRunOptions): Effect.Effect<never, unknown, never> {
  const name = `${options.host}:${options.port}`;
  const entities = Layer.mergeAll(
    runEntityLayer({ host: name, concurrency: options.concurrency, createBackend: () => createBackend(options.backend), fs, log: options.log }),
    sweepWorkflowLayer(fs),
  );
  const cluster = workerClusterLayer({ host: options.host, port: options.port, listenHost: options.listenHost });
  const status = Layer.effectDiscard(ensureStatusTable);
  const deadRunners = deadRunnerCheckLayer({ host: options.host, port: options.port }, options.log);
  const app = Layer.mergeAll(entities, status, deadRunners).pipe(
    Layer.provide(ClusterWorkflowEngine.layer),
    Layer.provide(cluster),
    Layer.provide(postgresLayer(options.db, 4)),
    Layer.provide(platformLayer),
  );
  return Effect.sync(() => options.log(`worker ${name}: ${options.backend} backend, ${options.concurrency} run(s) at a time, database ${redactUrl(options.db)}`)).pipe(
    Effect.andThen(Layer.launch(app as Layer.Layer<never, unknown, never>)),
  ) as Effect.Effect<never, unknown, never>;
}

/** postgres://user:secret@host/db → postgres://user:***@host/db */
export const redactUrl = (url: string): string => url.replace(/(\/\/[^:/@]+:)[^@]*@/, "$1***@");

