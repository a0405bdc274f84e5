/**
 * The browser runner in a real browser: Debian's Chromium, headless, WebGPU on SwiftShader, driven by
 * playwright-core (no browser download). It
 *   1. builds the page (runners/browser/build.ts) into test-output/browser/site and serves it locally;
 *   2. clicks "Run the demo" with a short run (STEPS steps), pauses mid-run (a checkpoint in OPFS), resumes;
 *   3. checks that the loss falls and an eval score is shown, and that the adapter and report.html are
 *      offered for download;
 *   4. runs the same options with the Node runner (trainWith on Node's WebGPU, Dawn) and checks that the
 *      first losses are the same within float tolerance (same seed, different WebGPU implementations);
 *   5. picks a model folder with a broken config.json and checks the error shown in the page;
 *   6. saves screenshots under test-output/browser/.
 *
 *   npm run test:browser          (npx tsx test/browser/browser-runner.test.ts)
 *
 * It FAILS, never skips, when Chromium is missing or offers no WebGPU adapter.
 * Knobs: WEBPEFT_DEMO_MODEL (the demo model folder), WEBPEFT_BROWSER_STEPS (default 12).
 */
import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import "../../plugins/mod.ts";
import type { StartEvent, StepEvent, TrainEvent } from "../../core/train/events.ts";
import { trainWith } from "../../core/train/api.ts";
import { createHostWebGPUBackend } from "../../runners/host.ts";
import { nodeFiles } from "../../runners/node/files.ts";
import { prepareDemoData } from "../../runners/demo/demo.ts";
import { buildWeb } from "../../runners/browser/build.ts";
import { type StaticServer, serveStatic } from "../../runners/browser/serve.ts";
import { DEFAULT_CHROMIUM, requireChromium } from "./report-screenshot.ts";

const OUT = resolve("test-output/browser");
const STEPS = Number(process.env.WEBPEFT_BROWSER_STEPS ?? 12);
/** The first losses compared with the Node runner's, and the tolerance (relative, and absolute near 0). */
const COMPARED_LOSSES = 6;
const LOSS_TOLERANCE = 2e-3;

/** Chromium's flags: WebGPU on (SwiftShader, bundled with Chromium), nothing that reaches the network. */
export const CHROMIUM_WEBGPU_ARGS = [
  "--headless=new",
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan",
  "--use-angle=swiftshader",
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-default-apps",
];

interface PageState {
  state: string;
  events: TrainEvent[];
  errors: { title: string; message: string }[];
}

let server: StaticServer;
let browser: Browser;
let page: Page;
let demoModel = "";
const problems: string[] = [];
const timings: Record<string, number> = {};

async function pageState(): Promise<PageState> {
  return page.evaluate(() => {
    const w = (globalThis as unknown as { webpeft: PageState }).webpeft;
    return { state: w.state, events: w.events, errors: w.errors };
  });
}

/** Waits until `predicate` holds in the page; fails early, with the page's error text, when an error shows. */
async function waitFor(what: string, predicate: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [done, error] = await page.evaluate(
      ([source]) => {
        const w = (globalThis as unknown as { webpeft: PageState }).webpeft;
        const box = document.getElementById("error")!;
        const error = box.hidden ? null : box.innerText;
        return [Boolean(new Function("w", `return (${source});`)(w)), error] as const;
      },
      [predicate] as const,
    );
    if (done) return;
    if (error) throw new Error(`while waiting for ${what}, the page shows an error:\n${error}`);
    if (Date.now() > deadline) {
      const s = await pageState();
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what} (page state ${s.state}, ${s.events.length} events, run-state text "${await page.textContent("#run-state")}")`);
    }
    await page.waitForTimeout(250);
  }
}

const stepsOf = (events: readonly TrainEvent[]) => events.filter((e): e is StepEvent => e.type === "step");

test.before(async () => {
  const chromium = requireChromium(DEFAULT_CHROMIUM);
  await rm(OUT, { recursive: true, force: true });
  await mkdir(OUT, { recursive: true });
  const t0 = Date.now();
  const built = await buildWeb({ outDir: join(OUT, "site") });
  demoModel = built.demoModel;
  timings.buildMs = Date.now() - t0;
  server = await serveStatic(built.outDir, { port: 0 });
  const { chromium: launcher } = await import("playwright-core");
  browser = await launcher.launch({ executablePath: chromium, args: CHROMIUM_WEBGPU_ARGS });
  const context = await browser.newContext({ viewport: { width: 1360, height: 940 }, deviceScaleFactor: 1 });
  page = await context.newPage();
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  // Only the local server: a request anywhere else is a bug (and would hang without network).
  await context.route("**/*", (route) => (route.request().url().startsWith(server.url) ? route.continue() : (problems.push(`request outside the page: ${route.request().url()}`), route.abort())));
});

test.after(async () => {
  await browser?.close();
  await server?.close();
});

test("the page finds a WebGPU adapter in Chromium", async () => {
  await page.goto(server.url, { waitUntil: "load" });
  await waitFor("the WebGPU adapter", "w.state === 'idle'", 60_000);
  const pill = await page.textContent("#gpu-status");
  assert.match(pill ?? "", /^WebGPU: /);
  console.log(`  chromium: ${await browser.version()}, ${pill}`);
});

let browserEvents: TrainEvent[] = [];

test("the demo trains on WebGPU: pause, resume, the loss falls, a score is shown, files to download", async () => {
  // a short run: the settings form is the one a user edits
  const settings: Record<string, string> = { maxSteps: String(STEPS), batchSize: "8", evalEvery: String(STEPS / 2), maxEvalExamples: "16", warmup: "0.1", lr: "0.005" };
  for (const [key, value] of Object.entries(settings)) await page.fill(`#train-${key}`, value);
  const t0 = Date.now();
  await page.click("#demo-button");
  const pauseAt = Math.floor(STEPS / 3);
  await waitFor(`step ${pauseAt}`, `w.events.filter((e) => e.type === 'step').length >= ${pauseAt}`, 180_000);
  await page.click("#pause-button");
  await waitFor("the pause (checkpoint written)", "w.state === 'paused'", 60_000);
  const pausedAt = stepsOf((await pageState()).events).length;
  assert.ok(await page.isEnabled("#resume-button"), "Resume is enabled when paused");
  await page.click("#resume-button");
  await waitFor("the end of the run", "w.state === 'done'", 240_000);
  timings.browserRunMs = Date.now() - t0;

  const state = await pageState();
  browserEvents = state.events;
  const steps = [...new Map(stepsOf(state.events).map((s) => [s.step, s])).values()].sort((a, b) => a.step - b.step);
  assert.is(steps.length, STEPS, `one step event per step (paused at ${pausedAt})`);
  assert.equal(steps.map((s) => s.step), Array.from({ length: STEPS }, (_, i) => i + 1));
  const starts = state.events.filter((e): e is StartEvent => e.type === "start");
  assert.is(starts.length, 2, "a start event for the first part and one for the resumed part");
  assert.is(starts[1]!.startStep, pausedAt, "the resumed part starts where the pause left it");
  assert.is(starts[0]!.backend, "webgpu");
  assert.is(starts[0]!.runtime, "browser");

  const third = Math.max(2, Math.floor(STEPS / 3));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(steps.slice(0, third).map((s) => s.loss));
  const last = mean(steps.slice(-third).map((s) => s.loss));
  console.log(`  browser step times (ms): ${steps.map((s, i) => (i === 0 || s.elapsedMs < steps[i - 1]!.elapsedMs ? s.elapsedMs : s.elapsedMs - steps[i - 1]!.elapsedMs)).map((ms) => Math.round(ms)).join(" ")}`);
  console.log(`  browser losses: ${steps.map((s) => s.loss.toPrecision(6)).join(" ")}`);
  assert.ok(last < first, `the loss falls: mean of the first ${third} steps ${first.toFixed(4)}, of the last ${third} ${last.toFixed(4)}`);

  const evals = state.events.filter((e) => e.type === "eval");
  assert.ok(evals.length >= 2, "evaluations ran");
  const score = (await page.textContent("#stat-score"))?.trim() ?? "";
  assert.match(score, /^\d\.\d{4}$/, `an eval score is shown (got "${score}")`);
  const charts = await page.evaluate(() => Array.from(document.querySelectorAll(".chart svg")).map((svg) => svg.querySelectorAll("polyline, circle").length));
  assert.is(charts.length, 2, "two live charts");
  assert.ok(charts.every((n) => n > 0), `both charts draw something (${charts})`);

  const downloads = await page.evaluate(async () =>
    Promise.all(Array.from(document.querySelectorAll<HTMLAnchorElement>("#downloads a")).map(async (a) => ({ name: a.download, bytes: (await (await fetch(a.href)).blob()).size }))),
  );
  const names = downloads.map((d) => d.name);
  for (const name of ["adapter_config.json", "adapter_model.safetensors", "report.html"]) assert.ok(names.includes(name), `${name} is offered for download (${names})`);
  assert.ok(downloads.every((d) => d.bytes > 0), `downloads are not empty: ${JSON.stringify(downloads)}`);
  const end = [...state.events].reverse().find((e) => e.type === "end");
  timings.browserExamplesPerSecond = end?.type === "end" ? end.timings.examplesPerSecond : NaN;
  if (end?.type === "end") console.log(`  browser timings: train ${(end.timings.trainMs / 1000).toFixed(1)}s, eval ${(end.timings.evalMs / 1000).toFixed(1)}s, total ${(end.timings.totalMs / 1000).toFixed(1)}s (resumed part)`);
  await page.screenshot({ path: join(OUT, "browser-runner.png"), fullPage: true });
});

test("the same seed gives the Node runner's first losses", async () => {
  const start = browserEvents.find((e): e is StartEvent => e.type === "start");
  assert.ok(start, "the browser run started");
  const browserLosses = [...new Map(stepsOf(browserEvents).map((s) => [s.step, s.loss])).entries()].sort((a, b) => a[0] - b[0]).map(([, loss]) => loss);
  const fs = nodeFiles();
  const dir = join(OUT, "node-run");
  const data = await prepareDemoData(fs, join(dir, "data"));
  // the browser's resolved options, with this machine's paths
  const config = { ...start!.config, model: demoModel, data, out: join(dir, "out"), resume: false } as Parameters<typeof trainWith>[0];
  const backend = await createHostWebGPUBackend();
  const nodeLosses: number[] = [];
  let nodeRate = NaN;
  try {
    // the whole run (the schedule depends on its length), which also times the Node runner on this machine
    const result = await trainWith(config, { backend, fs, onEvent: (e) => void (e.type === "step" && nodeLosses.push(e.loss)) });
    nodeRate = result.timings.examplesPerSecond;
  } finally {
    backend.dispose();
  }
  console.log(`  node losses:    ${nodeLosses.map((l) => l.toPrecision(6)).join(" ")}`);
  timings.nodeExamplesPerSecond = nodeRate;
  for (let i = 0; i < COMPARED_LOSSES; i++) {
    const a = browserLosses[i]!;
    const b = nodeLosses[i]!;
    assert.ok(Math.abs(a - b) <= LOSS_TOLERANCE * Math.max(1, Math.abs(b)), `step ${i + 1}: browser loss ${a} vs Node ${b}`);
  }
});

test("a broken config.json is reported in the page, in plain words", async () => {
  // a model folder like the demo's, with config.json cut short; the GLUE folder of the demo task
  const bad = join(OUT, "bad-model");
  await mkdir(bad, { recursive: true });
  for (const name of ["model.safetensors", "tokenizer.json"]) await cp(join(demoModel, name), join(bad, name));
  await writeFile(join(bad, "config.json"), '{"d_model": 64, "num_layers": ');
  const data = await prepareDemoData(nodeFiles(), join(OUT, "glue"));
  await page.click("#custom summary");
  await page.setInputFiles("#model-picker", bad);
  await page.setInputFiles("#data-picker", data);
  await waitFor("the picked files", "!document.getElementById('custom-button').disabled", 20_000);
  assert.match((await page.textContent("#model-summary")) ?? "", /config\.json/);
  await page.click("#custom-button");
  await page.waitForSelector("#error:not([hidden])", { timeout: 60_000 });
  const title = (await page.textContent("#error-title")) ?? "";
  const message = (await page.textContent("#error-message")) ?? "";
  console.log(`  error shown: ${title} — ${message}`);
  assert.is(title, "The model's config.json is not valid");
  assert.match(message, /config\.json/);
  assert.ok(await page.isVisible("#error-hint"), "a hint says what to do");
  await page.screenshot({ path: join(OUT, "browser-runner-error.png"), fullPage: false });
});

test("nothing went wrong behind the page", () => {
  const unexpected = problems.filter((p) => !/config\.json/.test(p));
  assert.equal(unexpected, [], unexpected.join("\n"));
  const rate = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "?" : n.toFixed(1));
  console.log(
    `  examples/s while training: Chromium (SwiftShader) ${rate(timings.browserExamplesPerSecond)}, Node (Dawn) ${rate(timings.nodeExamplesPerSecond)}; ` +
      `build ${((timings.buildMs ?? 0) / 1000).toFixed(1)}s, browser run ${((timings.browserRunMs ?? 0) / 1000).toFixed(1)}s; screenshots in ${OUT}`,
  );
});

test.run();
