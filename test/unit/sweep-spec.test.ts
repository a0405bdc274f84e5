/**
 * Sweep files (core/sweep/spec.ts) and the sweep table (core/sweep/results.ts): expansion into runs,
 * fingerprints, and bad files failing with a SweepFileError that names the field.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type RunOutcome, sweepTable, tableCsv, tableMarkdown, taskScore } from "../../core/sweep/results.ts";
import { SweepFileError, parseSweep, sweepFingerprint, sweepRuns } from "../../core/sweep/spec.ts";
import { parse as parseYaml } from "yaml";
import "../../plugins/mod.ts";

const base = {
  name: "s",
  model: "runners/demo/t5-mini",
  data: "../shared/data/glue",
  tasks: ["sst2", "STS-B"],
  methods: ["krona", { name: "lora-r4", method: "lora", config: { r: 4 }, lr: [1e-3, 3e-3] }],
  lr: [5e-3],
  seeds: [1, 2],
  train: { maxSteps: 10, batchSize: 4 },
};

/** The SweepFileError of `raw`, checked to name `field`, with a message matching `message`. */
function rejects(raw: unknown, field: string, message: RegExp): void {
  try {
    parseSweep(raw, "bad.yaml");
  } catch (e) {
    assert.instance(e, SweepFileError);
    const error = e as SweepFileError;
    assert.is(error.field, field, error.message);
    assert.match(error.message, /^bad\.yaml: /);
    assert.match(error.message, message);
    return;
  }
  assert.unreachable(`accepted a sweep with a bad ${field}`);
}

export function register(): void {
  const s = suite("sweep files and tables");

  s("expands tasks × methods × learning rates × seeds into runs with stable ids and complete train options", () => {
    const spec = parseSweep(base, "ok.json");
    assert.equal(spec.tasks, ["sst2", "stsb"]);
    const runs = sweepRuns(spec);
    // 2 tasks × (krona: 1 lr + lora: 2 lrs) × 2 seeds
    assert.is(runs.length, 12);
    assert.is(new Set(runs.map((r) => r.id)).size, 12);
    assert.equal(runs[0]!.id, "sst2.krona.lr0.005.seed1");
    const lora = runs.find((r) => r.id === "stsb.lora-r4.lr0.003.seed2")!;
    assert.equal({ ...lora.config }, { maxSteps: 10, batchSize: 4, model: base.model, task: "stsb", data: base.data, method: "lora", methodConfig: { r: 4 }, lr: 3e-3, seed: 2 });
    assert.is(spec.maxAttempts, 3);
    // The fingerprint follows the runs: same file, same print; a changed budget, another.
    assert.is(sweepFingerprint(parseSweep(structuredClone(base))), sweepFingerprint(spec));
    assert.is.not(sweepFingerprint(parseSweep({ ...base, train: { maxSteps: 11, batchSize: 4 } })), sweepFingerprint(spec));
  });

  s("the README's sweep file is valid and expands as it says", async () => {
    const { readFile } = await import("node:fs/promises");
    const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("## GLUE sweeps, on one machine or many"));
    const block = section.match(/```yaml\n([\s\S]*?)```/);
    assert.ok(block, "a yaml block in the README's sweep section");
    const spec = parseSweep(parseYaml(block![1]!), "README.md");
    // 5 tasks × (krona: 1 lr + lora-r8: 2 lrs) × 3 seeds
    assert.is(sweepRuns(spec).length, 45);
  });

  s("per-task and per-method train options apply in order: sweep, method, task", () => {
    const spec = parseSweep({ ...base, methods: [{ method: "full", train: { batchSize: 8 } }], perTask: { "sts-b": { maxTargetLength: 6, batchSize: 2 } } });
    const runs = sweepRuns(spec);
    assert.is(runs.find((r) => r.task === "sst2")!.config.batchSize, 8);
    assert.is(runs.find((r) => r.task === "stsb")!.config.batchSize, 2);
    assert.is(runs.find((r) => r.task === "stsb")!.config.maxTargetLength, 6);
  });

  s("bad sweep files fail with the field's path and what was expected", () => {
    rejects([], "", /expected an object/);
    rejects({ ...base, name: undefined }, "name", /got nothing/);
    rejects({ ...base, name: "a b" }, "name", /letters, digits/);
    rejects({ ...base, tasks: [] }, "tasks", /at least one GLUE task/);
    rejects({ ...base, tasks: ["sst2", "glue9"] }, "tasks[1]", /unknown GLUE task "glue9"/);
    rejects({ ...base, tasks: ["sst2", "SST-2"] }, "tasks[1]", /listed twice/);
    rejects({ ...base, seeds: [1, 1.5] }, "seeds[1]", /integer/i);
    rejects({ ...base, seeds: [1, 1] }, "seeds[1]", /listed twice/);
    rejects({ ...base, lr: [0] }, "lr[0]", /got 0/);
    rejects({ ...base, lr: undefined }, "methods[0].lr", /no learning rate/);
    rejects({ ...base, methods: ["krona", "nosuch"] }, "methods[1].method", /no plugin named "nosuch"/);
    rejects({ ...base, methods: [{ method: "lora", config: { r: -1 } }] }, "methods[0].config.r", /lora/);
    rejects({ ...base, methods: [{ method: "lora", rank: 8 }] }, "methods[0].rank", /unknown|did you mean/i);
    rejects({ ...base, methods: ["krona", "krona"] }, "methods[1]", /two methods are named "krona"/);
    rejects({ ...base, methods: [42] }, "methods[0]", /method name or/);
    rejects({ ...base, seed: [1] }, "seed", /seeds/);
    rejects({ ...base, train: { learning_rate: 1e-3 } }, "train.learning_rate", /lr/);
    rejects({ ...base, train: { lr: 1e-3 } }, "train.lr", /set by the sweep's `lr`/);
    rejects({ ...base, train: { maxSteps: 0 } }, "train.maxSteps", /got 0/);
    rejects({ ...base, train: { batchSize: "8" } }, "train.batchSize", /number/);
    rejects({ ...base, perTask: { cola: { maxSteps: 5 } } }, "perTask.cola", /not in `tasks`/);
    rejects({ ...base, perTask: { sst2: { epochs: -1 } } }, "perTask.sst2.epochs", /got -1/);
    rejects({ ...base, methods: [{ method: "krona", train: { warmup: -2 } }] }, "methods[0].train.warmup", /got -2/);
    rejects({ ...base, maxAttempts: 0 }, "maxAttempts", /got 0/);
  });

  s("the table: best learning rate by mean score, mean ± std over seeds, GLUE average, failures counted", () => {
    const outcome = (task: string, method: string, lr: number, seed: number, metrics: Record<string, number> | null): RunOutcome => ({
      runId: `${task}.${method}.lr${lr}.seed${seed}`, task, method, lr, seed, host: "h", attempts: 1,
      ...(metrics ? { status: "done" as const, result: { bestStep: 1, metrics, steps: 1, trainable: 10, total: 1000, trainablePercent: 1, trainSeconds: 1 } } : { status: "failed" as const, error: "boom" }),
    });
    const outcomes = [
      outcome("sst2", "krona", 1e-3, 1, { accuracy: 0.8 }),
      outcome("sst2", "krona", 1e-3, 2, { accuracy: 0.9 }),
      outcome("sst2", "krona", 3e-3, 1, { accuracy: 0.7 }),
      outcome("sst2", "krona", 3e-3, 2, null),
      outcome("mrpc", "krona", 1e-3, 1, { f1: 0.9, accuracy: 0.8 }),
      outcome("mrpc", "krona", 1e-3, 2, { f1: 0.9, accuracy: 0.8 }),
      outcome("sst2", "lora", 1e-3, 1, null),
    ];
    assert.ok(Math.abs(taskScore("mrpc", { f1: 0.9, accuracy: 0.8 }) - 85) < 1e-9);
    const table = sweepTable(outcomes, ["sst2", "mrpc"], ["krona", "lora"]);
    const krona = table.rows[0]!;
    assert.is(krona.cells.sst2!.lr, 1e-3);
    assert.ok(Math.abs(krona.cells.sst2!.score!.mean - 85) < 1e-9);
    assert.ok(Math.abs(krona.cells.sst2!.score!.std - Math.sqrt(50)) < 1e-9, "sample std of 80 and 90");
    assert.is(krona.cells.sst2!.runsFailed, 1);
    assert.ok(Math.abs(krona.average! - 85) < 1e-9);
    assert.is(table.rows[1]!.average, null, "no average without every task");
    const markdown = tableMarkdown(table);
    assert.match(markdown, /\| krona \| 1\.00 \| 85\.0 ±7\.1 \(1 failed\) \| 90\.0\/80\.0 ±0\.0\/0\.0 \| 85\.0 \|/);
    assert.match(markdown, /\| lora \| – \| failed ×1 \| – \| – \|/);
    assert.match(tableCsv(table), /^krona,mrpc,f1,0\.001,90,0,2,0,1$/m);
  });

  s.run();
}
