/**
 * Sweeps on Effect's cluster (`effect/cluster`, `effect/workflow`): a durable workflow per sweep, an
 * entity per run.
 *
 *   webpeft sweep sweep.yaml ──execute──▶ workflow "WebpeftSweep" (one per sweep, on some runner)
 *                                            │ one activity per run: a persisted request to …
 *                                            ▼
 *                                         entity "WebpeftRun" (id = sweep id + run id, sharded over runners)
 *                                            │ the ordinary training loop (core/train), resumed from
 *                                            ▼ `<out>/runs/<run id>/checkpoint` when it exists
 *                                         runs/<run id>/ (adapter, metrics.jsonl, run.json, checkpoint/)
 *
 * Requests and replies are stored in SQL (SqlMessageStorage), so a run whose runner dies is delivered
 * again to the runner that takes over its shard, which resumes it from its last checkpoint in the shared
 * output folder; a reply, once stored, is never computed again (requests are deduplicated by their
 * primary key, `<sweep id>/<run id>`). The workflow's activities record each run's outcome, so the sweep
 * itself survives the loss of the runner that drives it. A small table, `webpeft_sweep_runs`, records
 * what each run is doing (queued, running on which host, done, failed, attempts, last error) for
 * `webpeft sweep status`; it is a report, not a scheduler: the cluster alone decides where runs go.
 *
 * Storage:
 *   - many machines: PostgreSQL through @effect/sql-pg; runners are `webpeft worker` processes, each
 *     listening on a host:port the others can reach (NodeClusterSocket), shards locked with advisory locks;
 *   - one machine, nothing installed (the default): PGlite, Postgres compiled to WebAssembly, in the sweep's
 *     folder, served over the Postgres wire protocol on 127.0.0.1 (@electric-sql/pglite-socket), so the
 *     same client and SQL serve both modes; the sweep runs in the process of `webpeft sweep`
 *     (SingleRunner).
 */
import { createConnection } from "node:net";
import { Effect, Layer, Option, Redacted, Schema, Semaphore } from "effect";
import { ClusterSchema, ClusterWorkflowEngine, Entity, RunnerAddress, SingleRunner } from "effect/cluster";
import * as Digest from "effect/crypto/Digest";
import { Rpc } from "effect/rpc";
import { SqlClient } from "effect/sql";
import { Activity, Workflow } from "effect/workflow";
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket";
import * as NodeServices from "@effect/platform-node/NodeServices";
import { PgClient } from "@effect/sql-pg";
import type { Backend } from "../../core/backend/backend.ts";
import type { FileAccess } from "../../core/io/files.ts";
import { type RunOutcome, sweepReportHtml, sweepTable, tableCsv, tableMarkdown, taskScore } from "../../core/sweep/results.ts";
import type { TrainConfigInput } from "../../core/train/config.ts";
import { TRAINER_STATE } from "../../core/train/checkpoint.ts";
import { trainWith } from "../../core/train/api.ts";
import { defaultCacheDir } from "../api.ts";

// ---------------------------------------------------------------------------------------------------
// Messages

const RunResultSchema = Schema.Struct({
  bestStep: Schema.Number,
  metrics: Schema.Record(Schema.String, Schema.Number),
  steps: Schema.Number,
  trainable: Schema.Number,
  total: Schema.Number,
  trainablePercent: Schema.Number,
  trainSeconds: Schema.Number,
});

export const RunOutcomeSchema = Schema.Struct({
  runId: Schema.String,
  task: Schema.String,
  method: Schema.String,
  lr: Schema.Number,
  seed: Schema.Number,
  status: Schema.Literals(["done", "failed"]),
  host: Schema.String,
  attempts: Schema.Number,
  error: Schema.optional(Schema.String),
  result: Schema.optional(RunResultSchema),
});

/** Everything a runner needs to execute one run; `config` is the train options as JSON (out excluded). */
const RunRequestFields = {
  sweepId: Schema.String,
  runId: Schema.String,
  task: Schema.String,
  method: Schema.String,
  lr: Schema.Number,
  seed: Schema.Number,
  config: Schema.String,
  /** The sweep's output folder (shared by all runners); the run writes `<out>/runs/<runId>`. */
  out: Schema.String,
  maxAttempts: Schema.Number,
};
export type RunRequest = Schema.Struct.Type<typeof RunRequestFields>;
const RunRequestSchema = Schema.Struct(RunRequestFields);

/** Train one run; persisted, and deduplicated by (sweep, run): the reply is computed once. */
const Train = Rpc.make("Train", {
  payload: RunRequestFields,
  success: RunOutcomeSchema,
  primaryKey: (request) => `${request.sweepId}/${request.runId}`,
}).annotate(ClusterSchema.Persisted, true);

export const RunEntity = Entity.make("WebpeftRun", [Train]);
export const runEntityId = (request: Pick<RunRequest, "sweepId" | "runId">): string => `${request.sweepId}/${request.runId}`;

export const SweepWorkflow = Workflow.make("WebpeftSweep", {
  payload: {
    sweepId: Schema.String,
    name: Schema.String,
    fingerprint: Schema.String,
    out: Schema.String,
    tasks: Schema.Array(Schema.String),
    methods: Schema.Array(Schema.String),
    runs: Schema.Array(RunRequestSchema),
  },
  success: Schema.Struct({ done: Schema.Number, failed: Schema.Number }),
  idempotencyKey: (payload) => payload.sweepId,
});
export type SweepPayload = Schema.Struct.Type<typeof SweepWorkflow.payloadSchema.fields>;

// ---------------------------------------------------------------------------------------------------
// The status table (a report of what runs are doing; the cluster's own tables hold the messages)

export type RunState = "queued" | "running" | "done" | "failed";

export interface RunStatusRow {
  readonly run_id: string;
  readonly state: RunState;
  readonly host: string | null;
  readonly attempts: number;
  readonly error: string | null;
  readonly score: number | null;
  readonly updated_at: string;
}

export const ensureStatusTable = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient;
  const create = sql`CREATE TABLE IF NOT EXISTS webpeft_sweep_runs (
    sweep_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    state TEXT NOT NULL,
    host TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    score DOUBLE PRECISION,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (sweep_id, run_id)
  )`;
  // Two processes creating the table at once can collide in Postgres' catalog: the second try sees it.
  yield* create.pipe(Effect.retry({ times: 3 }));
});

/** Records every run as queued, unless it is known already (a sweep submitted again keeps its states). */
export const recordQueued = (sweepId: string, runIds: readonly string[]) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient;
    for (const runId of runIds) {
      yield* sql`INSERT INTO webpeft_sweep_runs (sweep_id, run_id, state) VALUES (${sweepId}, ${runId}, 'queued') ON CONFLICT (sweep_id, run_id) DO NOTHING`;
    }
  });

export const readStatus = (sweepId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient;
    return yield* sql<RunStatusRow>`SELECT run_id, state, host, attempts, error, score, updated_at::text AS updated_at FROM webpeft_sweep_runs WHERE sweep_id = ${sweepId} ORDER BY run_id`;
  });

// ---------------------------------------------------------------------------------------------------
// The runner side: executing a run

export interface WorkerOptions {
  /** How this runner names itself in the status table (its cluster address, or "local"). */
  readonly host: string;
  /** Runs executed at once on this runner (1 for one GPU). */
  readonly concurrency: number;
  readonly createBackend: () => Promise<Backend>;
  readonly fs: FileAccess;
  /** Progress lines (run started, evaluated, finished, failed). */
  readonly log: (line: string) => void;
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Trains one run to its end, resuming from `<out>/runs/<id>/checkpoint` when a previous attempt left one. */
async function trainRun(request: RunRequest, options: WorkerOptions, signal: AbortSignal): Promise<NonNullable<RunOutcome["result"]>> {
  const { fs } = options;
  const out = fs.join(request.out, "runs", request.runId);
  const resume = await fs.exists(fs.join(out, "checkpoint", TRAINER_STATE));
  const config = { ...(JSON.parse(request.config) as Omit<TrainConfigInput, "out">), out, resume };
  const backend = await options.createBackend();
  try {
    const result = await trainWith(config, {
      backend,
      fs,
      hub: { cacheDir: defaultCacheDir() },
      signal,
      onEvent: (event) => {
        if (event.type === "log" && event.message.startsWith("resumed")) options.log(`${request.runId}: ${event.message}`);
      },
    });
    if (result.reason === "aborted") throw new Error("stopped (the runner is shutting down); it resumes from its checkpoint");
    const best = result.best ?? (result.final ? { step: result.steps, metrics: result.final } : null);
    if (!best) throw new Error("the run ended without an evaluation");
    return {
      bestStep: best.step,
      metrics: { ...best.metrics },
      steps: result.steps,
      trainable: result.parameters.trainable,
      total: result.parameters.total,
      trainablePercent: result.parameters.percent,
      trainSeconds: result.timings.trainMs / 1000,
    };
  } finally {
    backend.dispose();
  }
}

/**
 * Trains the run; if the fiber is interrupted (the runner shuts down or loses the run's shard), the run
 * is told to stop and this waits until it has: it finishes its step and writes a checkpoint, so the
 * runner that gets the run next never trains the same folder at the same time.
 */
function trainUntilDoneOrStopped(request: RunRequest, options: WorkerOptions): Effect.Effect<NonNullable<RunOutcome["result"]>, string> {
  return Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      const controller = new AbortController();
      const training = trainRun(request, options, controller.signal);
      const settled = training.then(
        () => undefined,
        () => undefined,
      );
      return restore(Effect.tryPromise({ try: () => training, catch: messageOf })).pipe(
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            options.log(`${request.runId}: stopping (this runner gave the run up); it resumes from its checkpoint`);
            controller.abort();
          }).pipe(Effect.andThen(Effect.promise(() => settled))),
        ),
      );
    }),
  );
}

/**
 * The entity's behaviour: count the attempt, train (retrying a failing run up to maxAttempts times,
 * each time from its checkpoint), and reply with the outcome. A run whose runner died counts that
 * attempt too, so a run that kills its runner every time ends as failed instead of looping forever.
 */
export const runEntityLayer = (options: WorkerOptions) => {
  // One semaphore for the runner: the effect below is run once per entity (per run), not once per runner.
  const slots = Semaphore.makeUnsafe(options.concurrency);
  return RunEntity.toLayer(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient;
      const setState = (request: RunRequest, state: RunState, fields: { error?: string | null; score?: number | null }) =>
        sql`UPDATE webpeft_sweep_runs SET state = ${state}, host = ${options.host}, error = ${fields.error ?? null}, score = ${fields.score ?? null}, updated_at = now()
            WHERE sweep_id = ${request.sweepId} AND run_id = ${request.runId}`;
      const beginAttempt = (request: RunRequest) =>
        Effect.map(
          sql<{ attempts: number; error: string | null }>`INSERT INTO webpeft_sweep_runs (sweep_id, run_id, state, host, attempts) VALUES (${request.sweepId}, ${request.runId}, 'running', ${options.host}, 1)
              ON CONFLICT (sweep_id, run_id) DO UPDATE SET state = 'running', host = ${options.host}, attempts = webpeft_sweep_runs.attempts + 1, updated_at = now()
              RETURNING attempts, error`,
          (rows) => rows[0]!,
        );
      const outcome = (request: RunRequest, attempts: number, fields: Partial<RunOutcome>): RunOutcome => ({
        runId: request.runId, task: request.task, method: request.method, lr: request.lr, seed: request.seed, host: options.host, attempts, status: "failed", ...fields,
      });

      const execute = (request: RunRequest): Effect.Effect<RunOutcome, never, never> =>
        Effect.gen(function* () {
          let { attempts, error } = yield* beginAttempt(request);
          while (true) {
            if (attempts > request.maxAttempts) {
              const reason = error ?? `its runner stopped during each of ${request.maxAttempts} attempts`;
              options.log(`${request.runId}: failed for good after ${request.maxAttempts} attempts: ${reason}`);
              yield* setState(request, "failed", { error: reason });
              return outcome(request, request.maxAttempts, { error: reason });
            }
            options.log(`${request.runId}: started (attempt ${attempts} of ${request.maxAttempts}) on ${options.host}`);
            const trained = yield* Effect.result(trainUntilDoneOrStopped(request, options));
            if (trained._tag === "Success") {
              const result = trained.success;
              const score = taskScore(request.task, result.metrics);
              yield* setState(request, "done", { score });
              options.log(`${request.runId}: done, score ${score.toFixed(1)} (step ${result.bestStep} of ${result.steps})`);
              return outcome(request, attempts, { status: "done", result });
            }
            error = trained.failure;
            options.log(`${request.runId}: attempt ${attempts} failed: ${error}`);
            yield* setState(request, attempts >= request.maxAttempts ? "failed" : "queued", { error });
            if (attempts >= request.maxAttempts) return outcome(request, attempts, { error });
            ({ attempts } = yield* beginAttempt(request));
          }
        }).pipe(
          // SQL trouble on the status table must not lose the run: the request stays unanswered, and the
          // cluster delivers it again (the status table is a report; the message storage is the truth).
          Effect.orDie,
        );

      // On arrival the run is queued here (also after another runner died holding it), until a slot frees.
      const arrive = (request: RunRequest) =>
        sql`UPDATE webpeft_sweep_runs SET state = 'queued', host = ${options.host}, updated_at = now()
            WHERE sweep_id = ${request.sweepId} AND run_id = ${request.runId} AND state IN ('queued', 'running')`.pipe(Effect.orDie);
      return RunEntity.of({
        Train: ({ payload }) => arrive(payload).pipe(Effect.andThen(slots.withPermits(1)(execute(payload)))),
      });
    }),
    // A run is long: never passivate an entity because it was quiet while training.
    { maxIdleTime: "1 hour" },
  );
};

/** The sweep workflow: every run as an activity (a request to its entity), then the results files. */
export const sweepWorkflowLayer = (fs: FileAccess) =>
  SweepWorkflow.toLayer((payload) =>
    Effect.gen(function* () {
      const client = yield* RunEntity.client;
      const outcomes = yield* Effect.forEach(
        payload.runs,
        (request) =>
          Activity.make({
            name: `run/${request.runId}`,
            success: RunOutcomeSchema,
            execute: client(runEntityId(request)).Train(request).pipe(Effect.orDie),
          }),
        { concurrency: "unbounded" },
      );
      yield* Activity.make({
        name: "results",
        execute: Effect.promise(() => writeSweepResults(fs, payload, outcomes)),
      });
      return { done: outcomes.filter((o) => o.status === "done").length, failed: outcomes.filter((o) => o.status === "failed").length };
    }),
  );

const encoder = new TextEncoder();

/** results.json, results.csv, results.md and report.html in the sweep's folder, each written atomically. */
export async function writeSweepResults(fs: FileAccess, payload: Pick<SweepPayload, "name" | "fingerprint" | "out" | "tasks" | "methods">, outcomes: readonly RunOutcome[]): Promise<void> {
  const table = sweepTable(outcomes, payload.tasks, payload.methods);
  const write = (file: string, text: string) => fs.writeAtomic(fs.join(payload.out, file), [encoder.encode(text)]);
  await write("results.json", `${JSON.stringify({ name: payload.name, fingerprint: payload.fingerprint, table, runs: outcomes }, null, 1)}\n`);
  await write("results.csv", tableCsv(table));
  await write("results.md", `${tableMarkdown(table)}\n`);
  await write("report.html", sweepReportHtml({ name: payload.name, fingerprint: payload.fingerprint, table, outcomes }));
}

// ---------------------------------------------------------------------------------------------------
// Storage and cluster layers

/**
 * Shard timings for a training cluster: runs last minutes, so a dead runner must be noticed in seconds
 * (health checks every 3 s, assignments refreshed every 2 s), while polling stays cheap. Every runner
 * and client uses the same values (the cluster requires consistent `shardsPerGroup`).
 */
export const shardingTimings = {
  refreshAssignmentsInterval: "2 seconds",
  runnerHealthCheckInterval: "3 seconds",
  entityMessagePollInterval: "2 seconds",
  // A runner gives up its shards (and interrupts their runs) when refreshing its shard locks takes longer
  // than this interval. Training on the cpu backend computes synchronously, so the event loop can stall
  // for seconds on a loaded machine (reads yield to the event loop, but setting up a run, e.g. tokenizing
  // a training split, does not): 4 s here made runs bounce between attempts, and 20 s still lost one run
  // of 70 on a 2-core machine running three jobs. With PostgreSQL's advisory locks a dead runner's locks
  // go with its connection, and deadRunnerCheckLayer marks the dead runner unhealthy, so fail-over after a
  // crash does not wait for these; only a runner that hangs keeps its shards until the expiration.
  shardLockRefreshInterval: "60 seconds",
  shardLockExpiration: "180 seconds",
} as const;

/**
 * Every worker marks runners whose port refuses connections (their process is gone) unhealthy.
 *
 * Why: Effect's cluster runs its runner health check as a cluster singleton, which lives on one runner.
 * When that runner is the one that died, nobody checks: the dead runner stays "healthy" in
 * `cluster_runners`, its shards stay assigned to it and its runs wait until its heartbeat is older than
 * shardLockExpiration (180 s). test:sweep measured this as a 175 s fail-over in about one run of three
 * (4–7 s in the others), with the dead runner's row still healthy and its shards unlocked. Marking it
 * unhealthy (what the singleton would do) makes the live runners take its shards at the next assignment
 * refresh.
 *
 * Only a refused connection, twice in a row `runnerHealthCheckInterval` apart, counts: a runner that
 * is alive but slow still accepts connections, and the singleton's own check (an RPC ping) handles
 * hung runners and marks a runner healthy again. The runners table is Effect's (SqlRunnerStorage, default
 * prefix "cluster"); a failing check (the table not created yet, or a changed layout) is logged once and
 * retried, leaving the singleton's check in charge meanwhile.
 */
export function deadRunnerCheckLayer(self: { readonly host: string; readonly port: number }, log: (line: string) => void) {
  return Layer.effectDiscard(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient;
      const refusedOnce = new Set<string>();
      const selfAddress = `${self.host}:${self.port}`;
      const check = Effect.gen(function* () {
        const rows = yield* sql<{ address: string }>`SELECT address FROM cluster_runners WHERE healthy AND address <> ${selfAddress}`;
        for (const { address } of rows) {
          const at = address.lastIndexOf(":");
          const refused = yield* Effect.promise(() => connectionRefused(address.slice(0, at), Number(address.slice(at + 1))));
          if (!refused) {
            refusedOnce.delete(address);
          } else if (!refusedOnce.has(address)) {
            refusedOnce.add(address);
          } else {
            refusedOnce.delete(address);
            yield* sql`UPDATE cluster_runners SET healthy = false WHERE address = ${address}`;
            log(`worker ${selfAddress}: runner ${address} refuses connections: marked unhealthy, its runs move to live workers`);
          }
        }
      });
      let failureLogged = false;
      const logFailure = (cause: unknown) =>
        Effect.sync(() => {
          if (!failureLogged) log(`worker ${selfAddress}: dead-runner check failed (retrying every ${shardingTimings.runnerHealthCheckInterval}): ${String(cause).split("\n")[0]}`);
          failureLogged = true;
        });
      const every = Effect.sleep(shardingTimings.runnerHealthCheckInterval);
      yield* Effect.forkScoped(Effect.forever(check.pipe(Effect.catchCause(logFailure), Effect.andThen(every))));
    }),
  );
}

/** Whether a TCP connection to host:port is refused (nothing listens there), within 2 s; a timeout is not a refusal. */
function connectionRefused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (refused: boolean) => {
      socket.destroy();
      resolve(refused);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once("connect", () => done(false));
    socket.once("error", (e: NodeJS.ErrnoException) => done(e.code === "ECONNREFUSED"));
  });
}

/** A PostgreSQL client for a `postgres://user[:password]@host:port/db` URL. */
export const postgresLayer = (url: string, maxConnections = 4) => PgClient.layer({ url: Redacted.make(url), maxConnections });

/** A cluster runner that executes runs and workflows (webpeft worker). */
export function workerClusterLayer(address: { readonly host: string; readonly port: number; readonly listenHost?: string | undefined }) {
  return NodeClusterSocket.layer({
    storage: "sql",
    shardingConfig: {
      ...shardingTimings,
      runnerAddress: Option.some(RunnerAddress.make(address.host, address.port)),
      runnerListenAddress: address.listenHost ? Option.some(RunnerAddress.make(address.listenHost, address.port)) : Option.none(),
    },
  });
}

/** A cluster client that only submits (webpeft sweep --db …). */
export const clientClusterLayer = NodeClusterSocket.layer({ storage: "sql", clientOnly: true, shardingConfig: shardingTimings });

/** The whole cluster in this process, over the embedded store (webpeft sweep without --db). */
export const singleRunnerLayer = SingleRunner.layer({ runnerStorage: "memory", shardingConfig: { ...shardingTimings, shardLockDisableAdvisory: true } });

export const platformLayer = Layer.mergeAll(NodeServices.layer, Digest.layerWebCrypto);
