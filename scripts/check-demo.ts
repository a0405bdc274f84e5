/**
 * Checks that the README's demo learns: runs the demo (`webpeft train` with no task, i.e. the shipped
 * small T5 + KronA on the synthetic SST-2 task) through the real CLI with `--json`, and fails unless its
 * best evaluation accuracy reaches `--min-accuracy` (default 0.7; the majority class of the dev rows is
 * about 0.5, and the untrained adapter answers neither label, 0). CI runs it on Node + webgpu (the README's demo command); the other runtime/backend pairs
 * are one flag away:
 *
 *   npx tsx scripts/check-demo.ts [--runtime node|deno] [--min-accuracy 0.7] [-- <more train flags, e.g. --backend cpu>]
 *
 * Prints the evaluations as a table and one JSON summary line (runtime, backend, steps, accuracies, wall
 * time). The run's files go to a temporary folder that is removed afterwards.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const argv = process.argv.slice(2);
const passThrough = argv.includes("--") ? argv.slice(argv.indexOf("--") + 1) : [];
const own = argv.includes("--") ? argv.slice(0, argv.indexOf("--")) : argv;
const option = (name: string, fallback: string): string => {
  const i = own.indexOf(`--${name}`);
  return i >= 0 && own[i + 1] !== undefined ? own[i + 1]! : fallback;
};
const runtime = option("runtime", "node");
const minAccuracy = Number(option("min-accuracy", "0.7"));
if (runtime !== "node" && runtime !== "deno") throw new Error(`--runtime must be node or deno, got ${runtime}`);
if (!(minAccuracy > 0 && minAccuracy <= 1)) throw new Error(`--min-accuracy must be in (0, 1], got ${option("min-accuracy", "")}`);

const out = await mkdtemp(join(tmpdir(), "webpeft-demo-check-"));
// The same entry points the README gives: `npm run webpeft` (tsx runners/node/cli.ts) and `deno task train`.
const [command, args] =
  runtime === "node"
    ? [process.execPath, ["--import", "tsx", "runners/node/cli.ts", "train"]]
    : ["./node_modules/.bin/deno", ["task", "--quiet", "train"]];
const started = performance.now();
const child = spawn(command, [...args, "--json", "--out", join(out, "demo"), ...passThrough], { stdio: ["ignore", "pipe", "inherit"] });

interface Evaluation {
  readonly step: number;
  readonly accuracy: number;
}
const evaluations: Evaluation[] = [];
let backend = "?";
let buffered = "";
child.stdout.setEncoding("utf8");
child.stdout.on("data", (chunk: string) => {
  buffered += chunk;
  let newline: number;
  while ((newline = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, newline).trim();
    buffered = buffered.slice(newline + 1);
    if (!line.startsWith("{")) continue;
    const event = JSON.parse(line) as { type: string; step?: number; metrics?: Record<string, number>; backend?: string; loss?: number; totalSteps?: number };
    if (event.type === "start" && event.backend) backend = event.backend;
    if (event.type === "eval" && event.metrics?.accuracy !== undefined) {
      evaluations.push({ step: event.step!, accuracy: event.metrics.accuracy });
      console.log(`eval at step ${event.step}: accuracy ${event.metrics.accuracy.toFixed(3)}`);
    }
    if (event.type === "step" && (event.step! % 20 === 0 || event.step === event.totalSteps)) console.log(`step ${event.step}/${event.totalSteps} loss ${event.loss!.toFixed(3)}`);
  }
});
const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? 1)));
const seconds = (performance.now() - started) / 1000;
await rm(out, { recursive: true, force: true });

const best = Math.max(...evaluations.map((e) => e.accuracy));
const summary = { runtime, backend, args: passThrough, evaluations, bestAccuracy: best, wallSeconds: Math.round(seconds), minAccuracy, exitCode: code };
console.log(JSON.stringify(summary));
const problems: string[] = [];
if (code !== 0) problems.push(`webpeft train exited with ${code}`);
if (evaluations.length === 0) problems.push("the run reported no evaluation");
else if (best < minAccuracy) problems.push(`best accuracy ${best.toFixed(3)} is below ${minAccuracy}: ${evaluations.map((e) => e.accuracy.toFixed(3)).join(" → ")}`);
if (problems.length > 0) {
  console.error(`the demo did not learn (${runtime}, ${backend}): ${problems.join("; ")}`);
  process.exit(1);
}
console.log(`the demo learns on ${runtime} + ${backend}: accuracy ${evaluations[0]!.accuracy.toFixed(3)} → best ${best.toFixed(3)} in ${Math.round(seconds)} s`);
