/**
 * `webpeft sweep <file>`, `webpeft sweep status <folder|file>` and `webpeft worker`: GLUE sweeps on
 * Effect's cluster (see cluster.ts). The cluster code is imported when one of these commands runs, so
 * `webpeft train` and friends never load it.
 */
import { Console, Effect, Option } from "effect";
import { Argument, Command, Flag } from "effect/cli";
import { hostFiles } from "../host-files.ts";
import { backendFlag, jsonFlag } from "../cli/flags.ts";

const env = (name: string): string | undefined => (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];

const dbFlag = Flag.String("db").pipe(
  Flag.withDescription("PostgreSQL URL of the cluster (postgres://user@host:5432/db; default $WEBPEFT_SWEEP_DB). Without one, `sweep` runs everything in this process over an embedded PGlite store in the sweep's folder"),
  Flag.optional,
);
const outFlag = Flag.String("out").pipe(Flag.withDescription("The sweep's output folder, shared by every worker (default: the file's `out`, else sweeps/<name>)"), Flag.optional);
const concurrencyFlag = Flag.Int("concurrency").pipe(Flag.withDescription("Runs trained at once by this process (default 1: one per GPU)"), Flag.withDefault(1));

const dbUrl = (flag: Option.Option<string>): string | undefined => Option.getOrUndefined(flag) ?? env("WEBPEFT_SWEEP_DB");
const stderrLine = (line: string) => {
  (globalThis as { process?: { stderr?: { write(s: string): void } } }).process?.stderr?.write(`${line}\n`);
};
const asError = (e: unknown) => e as Error;

const status = Command.make(
  "status",
  {
    target: Argument.String("sweep").pipe(Argument.withDescription("The sweep's output folder, or its sweep file")),
    out: outFlag,
    db: dbFlag,
    watch: Flag.Boolean("watch").pipe(Flag.withDescription("Refresh every 2 s until every run is done or failed"), Flag.withDefault(false)),
    json: jsonFlag,
  },
  Effect.fn(function* ({ target, out, db, watch, json }) {
    const { sweepStatus, statusLine, summaryLine } = yield* Effect.promise(() => import("./sweep.ts"));
    const fs = yield* Effect.tryPromise({ try: () => hostFiles(), catch: asError });
    while (true) {
      const report = yield* Effect.tryPromise({ try: () => sweepStatus(fs, { target, out: Option.getOrUndefined(out), db: dbUrl(db) }), catch: asError });
      if (json) yield* Console.log(JSON.stringify({ out: report.out, sweepId: report.sweepId, summary: report.summary, runs: report.rows }));
      else {
        yield* Console.log(`${report.sweepId} in ${report.out}: ${summaryLine(report.summary)}`);
        for (const row of report.rows) yield* Console.log(statusLine(row));
      }
      const finished = report.summary.done + report.summary.failed === report.summary.total;
      if (!watch || finished) return;
      yield* Effect.sleep("2 seconds");
      if (!json) yield* Console.log("");
    }
  }),
).pipe(Command.withDescription("Show a sweep's runs: queued, running (and where), done (score), failed (error)"));

export const sweepCommand = Command.make(
  "sweep",
  {
    file: Argument.String("file").pipe(Argument.withDescription("The sweep file (JSON, or YAML for .yaml/.yml): tasks, methods, seeds, learning rates, model, data, budget"), Argument.optional),
    out: outFlag,
    db: dbFlag,
    backend: backendFlag,
    concurrency: concurrencyFlag,
    json: jsonFlag,
  },
  Effect.fn(function* ({ file, out, db, backend, concurrency, json }) {
    if (Option.isNone(file)) return yield* Effect.fail(new Error("webpeft sweep needs a sweep file (see the README's \"Sweeps\" section), or `webpeft sweep status <folder>`"));
    const { submitSweep } = yield* Effect.promise(() => import("./sweep.ts"));
    const fs = yield* Effect.tryPromise({ try: () => hostFiles(), catch: asError });
    const result = yield* Effect.tryPromise({
      try: (signal) => submitSweep(fs, { file: file.value, out: Option.getOrUndefined(out), db: dbUrl(db), backend, concurrency, log: json ? stderrLine : (line) => console.log(line) }, signal),
      catch: asError,
    });
    const summary = { out: result.out, sweepId: result.sweepId, done: result.done, failed: result.failed, wallSeconds: result.wallSeconds, results: { json: `${result.out}/results.json`, csv: `${result.out}/results.csv`, html: `${result.out}/report.html` } };
    if (json) return yield* Console.log(JSON.stringify(summary));
    const table = yield* Effect.tryPromise({ try: () => fs.readText(fs.join(result.out, "results.md")), catch: asError });
    yield* Console.log(`\n${table}`);
    yield* Console.log(`${result.done} runs done, ${result.failed} failed, in ${result.wallSeconds.toFixed(0)} s`);
    yield* Console.log(`results      ${summary.results.csv}, ${summary.results.json}`);
    yield* Console.log(`report       ${summary.results.html}`);
  }),
).pipe(
  Command.withDescription("Run a GLUE sweep (tasks × methods × learning rates × seeds) on Effect's cluster: here, or on `webpeft worker`s with --db"),
  Command.withSubcommands([status]),
);

export const workerCommand = Command.make(
  "worker",
  {
    db: dbFlag,
    host: Flag.String("host").pipe(Flag.withDescription("The address other machines reach this worker at (default localhost)"), Flag.withDefault("localhost")),
    port: Flag.Int("port").pipe(Flag.withDescription("Port this worker listens on for the cluster (default 34431)"), Flag.withDefault(34431)),
    listen: Flag.String("listen").pipe(Flag.withDescription("Interface to listen on when it differs from --host (e.g. 0.0.0.0)"), Flag.optional),
    backend: backendFlag,
    concurrency: concurrencyFlag,
  },
  Effect.fn(function* ({ db, host, port, listen, backend, concurrency }) {
    const url = dbUrl(db);
    if (!url) return yield* Effect.fail(new Error("webpeft worker needs the cluster's database: --db postgres://user@host:5432/db (or WEBPEFT_SWEEP_DB)"));
    const { runWorker } = yield* Effect.promise(() => import("./sweep.ts"));
    const fs = yield* Effect.tryPromise({ try: () => hostFiles(), catch: asError });
    return yield* runWorker(fs, { db: url, host, port, listenHost: Option.getOrUndefined(listen), backend, concurrency, log: (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`) });
  }),
).pipe(Command.withDescription("Join a sweep cluster as a runner: take runs, train them with checkpoints, until stopped"));
