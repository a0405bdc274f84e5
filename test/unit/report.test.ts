/**
 * report.html, the results table/JSON and the progress printer, from synthetic event lists: the page is
 * self-contained and escapes what the run says, the charts draw one point per (downsampled) step and survive
 * edge cases (no evaluation, one step, NaN loss, constant values, a resumed run), and the three progress
 * modes print what a terminal, a CI log and a program expect. Needs no backend.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { EndEvent, StartEvent, StepEvent, TrainEvent } from "../../core/train/events.ts";
import { createProgressPrinter, formatDuration, formatLr, formatPercent, renderBarLine } from "../../core/train/progress.ts";
import { downsampleSeries, niceTicks, renderReport, resultsJson, resultsTable, smoothSeries } from "../../core/train/report.ts";
import { syntheticRunEvents } from "../browser/synthetic-run.ts";

const FIXED = { generatedAt: "2025-01-01T00:00:00.000Z" } as const;

/** The points of every polyline of one series (a series split by NaN gaps has several). */
function polylinePoints(html: string, series: string): string[][] {
  const pattern = new RegExp(`<polyline data-series="${series}"[^>]*points="([^"]*)"`, "g");
  return [...html.matchAll(pattern)].map((m) => m[1]!.split(" "));
}

function start(overrides: Partial<StartEvent> = {}): StartEvent {
  return {
    type: "start",
    config: { model: "t5-small", lr: 3e-4 },
    task: "sst2",
    method: "lora",
    model: "t5-small",
    startedAt: "2026-12-01T12:00:00.000Z",
    backend: "cpu",
    runtime: "node",
    parameters: { trainable: 1000, total: 100000, percent: 1 },
    totalSteps: 10,
    trainExamples: 100,
    evalExamples: 20,
    startStep: 0,
    warnings: [],
    ...overrides,
  };
}

function step(n: number, loss: number, totalSteps = 10): StepEvent {
  return { type: "step", step: n, totalSteps, epoch: n / 10, loss, lr: 1e-3, gradNorm: 1, examplesPerSecond: 10, elapsedMs: n * 100, etaMs: (totalSteps - n) * 100 };
}

function end(n: number, overrides: Partial<EndEvent> = {}): EndEvent {
  return { type: "end", step: n, reason: "completed", best: null, final: null, timings: { totalMs: n * 100, trainMs: n * 100, evalMs: 0, stepsPerSecond: 10, examplesPerSecond: 10 }, ...overrides };
}

export function register(): void {
  const s = suite("report and progress");

  s("report.html is one self-contained document: no URL, no script, no external resource", () => {
    const html = renderReport(syntheticRunEvents(), FIXED);
    assert.ok(html.startsWith("<!DOCTYPE html>"));
    assert.not.match(html, /https?:\/\//, "no URL (the CSP meta's http-equiv is the only 'http')");
    for (const forbidden of ["src=", "<script", "<link", "@import", "url(", "href="]) assert.not.ok(html.includes(forbidden), `contains ${forbidden}`);
    assert.match(html, /<style>/);
    assert.match(html, /default-src 'none'/, "a CSP forbids every fetch and script");
    assert.equal((html.match(/<svg /g) ?? []).length, 5, "loss, metrics, learning rate, gradient norm, throughput");
    assert.match(html, /<h1>mrpc · krona · google-t5\/t5-small<\/h1>/);
    assert.equal(renderReport(syntheticRunEvents(), FIXED), html, "deterministic for a fixed date");
  });

  s("everything the run says is escaped: task, method, config keys and values, warnings, logs, paths", () => {
    const evil = `<img src=x onerror="alert(1)">`;
    const events: TrainEvent[] = [
      start({ task: evil, method: `"><script>alert(2)</script>`, config: { [`<b>key</b>`]: `</td><script>x</script>`, nested: { "a&b": "'quoted'" } }, warnings: [`<iframe srcdoc="x">`] }),
      step(1, 0.5),
      { type: "eval", step: 1, epoch: 0.1, metrics: { [`<svg onload=alert(3)>`]: 0.5 }, mainMetric: `<svg onload=alert(3)>`, score: 0.5, best: true, examples: 20, elapsedMs: 100 },
      { type: "log", message: "<marquee>log</marquee>" },
      { type: "checkpoint", step: 1, path: `runs/"><img src=y>` },
      end(1),
    ];
    const html = renderReport(events, { ...FIXED, model: "<u>model</u>", versions: { "<v>": "<1>" }, timings: { "<t>": 5 } });
    for (const tag of ["<img", "<script", "<iframe", "<marquee", "<b>", "<u>", "<v>", "<t>", "<svg onload"]) assert.not.ok(html.includes(tag), `unescaped ${tag}`);
    assert.ok(html.includes("&#60;img src=x onerror=&#34;alert(1)&#34;&#62;"), "the task name is shown, escaped");
    assert.ok(html.includes("&#60;iframe"), "the warning is shown, escaped");
    assert.ok(html.includes("&#39;quoted&#39;"));
  });

  s("the loss chart draws one polyline point per step, a smoothed line, and warnings prominently", () => {
    const events = syntheticRunEvents({ totalSteps: 50, evalEvery: 10, warnings: ["weights ~4e-4: adapters barely move the loss"] });
    const html = renderReport(events, FIXED);
    const raw = polylinePoints(html, "loss");
    assert.equal(raw.length, 1);
    assert.equal(raw[0]!.length, 50);
    assert.equal(polylinePoints(html, "loss-smoothed")[0]!.length, 50);
    assert.ok(raw[0]!.every((p) => /^-?\d+(\.\d)?,-?\d+(\.\d)?$/.test(p)), "coordinates are finite numbers");
    assert.match(html, /<section class="warnings" role="alert"><h2>Warning<\/h2><ul><li>weights ~4e-4: adapters barely move the loss<\/li>/);
    // Eval curves: one line per metric, a marker per evaluation, the best point ringed.
    assert.equal(polylinePoints(html, "metric-f1")[0]!.length, 5);
    assert.equal(polylinePoints(html, "metric-accuracy")[0]!.length, 5);
    assert.equal((html.match(/class="best" data-series="metric-/g) ?? []).length, 2);
  });

  s("thousands of steps are downsampled; spikes, the first and the last point survive", () => {
    const html = renderReport(syntheticRunEvents({ totalSteps: 6000, evalEvery: 500 }), FIXED);
    const raw = polylinePoints(html, "loss").flat();
    assert.ok(raw.length <= 900 && raw.length > 400, `${raw.length} points drawn for 6000 steps`);
    assert.ok(html.length < 400_000, `report is ${html.length} characters`);
    const limited = renderReport(syntheticRunEvents({ totalSteps: 6000, evalEvery: 500 }), { ...FIXED, maxChartPoints: 120 });
    assert.ok(polylinePoints(limited, "loss").flat().length <= 120);

    const points = Array.from({ length: 10000 }, (_, i) => ({ x: i + 1, y: i === 4321 ? 50 : Math.sin(i) }));
    const [thinned, ...rest] = downsampleSeries(points, 200);
    assert.equal(rest.length, 0);
    assert.ok(thinned!.length <= 200);
    assert.equal(thinned![0], points[0]);
    assert.equal(thinned!.at(-1), points.at(-1));
    assert.ok(thinned!.some((p) => p.y === 50), "the spike is kept");
    assert.ok(thinned!.every((p, i) => i === 0 || p.x > thinned![i - 1]!.x), "x stays in order");
  });

  s("NaN loss leaves a gap, is reported, and becomes null in JSON", () => {
    const events: TrainEvent[] = [start(), step(1, 2), step(2, 1.5), step(3, Number.NaN), step(4, 1.2), step(5, 1.1), step(6, Number.POSITIVE_INFINITY)];
    const html = renderReport(events, FIXED);
    const segments = polylinePoints(html, "loss");
    assert.equal(segments.map((p) => p.length), [2, 2]);
    assert.not.match(html, /points="[^"]*NaN/);
    assert.match(html, /The loss was not finite at step 3, 6/);
    assert.match(html, /badge-incomplete/);
    const json = resultsJson(events);
    assert.equal(json.finalLoss, null);
    assert.equal(json.status, "incomplete");
    assert.not.match(JSON.stringify(json), /NaN|Infinity/);
  });

  s("one step and no evaluation: a dot for the loss, a clear note instead of a metric chart", () => {
    const events: TrainEvent[] = [start({ totalSteps: 1 }), step(1, 0.7, 1), end(1)];
    const html = renderReport(events, FIXED);
    assert.match(html, /<circle data-series="loss" cx="[\d.]+" cy="[\d.]+"/);
    assert.equal(polylinePoints(html, "loss").length, 0);
    assert.match(html, /No evaluation ran in this run\./);
    assert.not.match(html, /data-series="metric-/);
    assert.not.match(html, /NaN|Infinity/);
    const table = resultsTable(events);
    assert.match(table, /no evaluation ran/);
    assert.equal(resultsJson(events).best, null);
    // No events at all still gives a valid page.
    assert.match(renderReport([], FIXED), /No training step was recorded/);
  });

  s("nice ticks: 1-2-5 steps covering the data; constant values get a band around them", () => {
    const t = niceTicks(0.213, 3.14, 5);
    assert.equal(t.ticks, [0, 1, 2, 3, 4]);
    assert.equal(niceTicks(0.7476, 0.9075, 5).ticks, [0.7, 0.75, 0.8, 0.85, 0.9, 0.95]);
    const constant = niceTicks(0.5, 0.5, 5);
    assert.ok(constant.min < 0.5 && constant.max > 0.5, `${constant.min}..${constant.max}`);
    const zero = niceTicks(0, 0, 5);
    assert.ok(zero.min < 0 && zero.max > 0);
    assert.ok(niceTicks(Number.NaN, 1).ticks.length > 1);
    const html = renderReport([start(), ...Array.from({ length: 20 }, (_, i) => step(i + 1, 0.42, 20))], FIXED);
    assert.equal(polylinePoints(html, "loss")[0]!.length, 20);
    const smoothed = smoothSeries([{ x: 1, y: 4 }, { x: 2, y: 4 }], 0.9);
    assert.equal(smoothed.map((p) => p.y), [4, 4], "bias-corrected: no pull towards 0");
  });

  s("a resumed run: repeated steps count once, the latest start describes the run", () => {
    const events: TrainEvent[] = [start(), step(1, 3), step(2, 2.5), step(3, 2.4), start({ startStep: 2 }), step(3, 2.2), step(4, 2), end(4)];
    const html = renderReport(events, FIXED);
    assert.equal(polylinePoints(html, "loss")[0]!.length, 4);
    assert.match(html, /resumed at step 2/);
  });

  s("results table and JSON: best, its step, final, parameters, timings", () => {
    const events = syntheticRunEvents();
    const table = resultsTable(events);
    const json = resultsJson(events);
    const lines = table.split("\n");
    assert.match(lines[0]!, /^mrpc · krona · google-t5\/t5-small — completed, 1200\/1200 steps$/);
    const header = lines.find((l) => l.includes("metric"))!;
    const f1 = lines.find((l) => l.trimStart().startsWith("f1"))!;
    assert.equal(f1.indexOf(json.metrics.f1!.best!.toFixed(4)), header.indexOf("best"), "columns line up");
    assert.match(f1, new RegExp(`\\b${json.metrics.f1!.bestStep}\\b`));
    assert.match(table, /parameters\s+73,728 trainable of 60,580,352 \(0\.122%\)/);
    assert.match(table, /time\s+16m\d\ds total · train \d+m\d\ds · eval 50s/);
    assert.match(table, /warning: the eval split has 408 examples/);
    assert.equal(json.mainMetric, "f1");
    assert.equal(json.best!.step, json.metrics.f1!.bestStep);
    assert.equal(json.steps, { done: 1200, total: 1200 });
    assert.equal(JSON.parse(JSON.stringify(json)), json, "JSON-safe");
  });

  s("durations, learning rates and percentages read the way people write them", () => {
    assert.equal([400, 3200, 12_000, 59_600, 92_000, 3_720_000, 90_000_000].map(formatDuration), ["400ms", "3.2s", "12s", "1m00s", "1m32s", "1h02m", "1d01h"]);
    assert.equal(formatDuration(Number.NaN), "–");
    assert.equal(formatLr(4e-4), "4.0e-4");
    assert.equal([12.5, 2.04, 0.1217, 0.00213].map(formatPercent), ["12.5%", "2.04%", "0.122%", "0.00213%"]);
  });

  s("tty progress: one line redrawn in place; evals, logs and checkpoints print above it", () => {
    const out: string[] = [];
    const print = createProgressPrinter({ mode: "tty", write: (t) => out.push(t), columns: 100 });
    print(start({ totalSteps: 500, warnings: ["careful"] }));
    const s120: StepEvent = { ...step(120, 0.4123, 500), lr: 4e-4, examplesPerSecond: 38.2, etaMs: 92_000 };
    print(s120);
    const bar = out.at(-1)!;
    assert.ok(bar.startsWith("\r\x1b[2K"), JSON.stringify(bar));
    assert.not.ok(bar.includes("\n"));
    assert.match(bar, /^\r\x1b\[2Kstep 120\/500 \[█+░+\] 24% loss 0\.412 lr 4\.0e-4 38\.2 ex\/s ETA 1m32s$/);
    assert.ok(bar.length - 5 <= 99, "fits the terminal with a column to spare");
    assert.ok(out.some((t) => t.includes("warning: careful\n")));
    print({ type: "eval", step: 120, epoch: 1, metrics: { accuracy: 0.9123 }, mainMetric: "accuracy", score: 0.9123, best: true, examples: 872, elapsedMs: 1 });
    const evalOut = out.at(-1)!;
    assert.ok(evalOut.startsWith("\r\x1b[2Keval at step 120: accuracy 0.9123 (best so far)"), JSON.stringify(evalOut));
    assert.ok(evalOut.endsWith(`\n${bar}`), "the bar is drawn again below the eval line");
    print({ type: "log", message: "hello" });
    assert.ok(out.at(-1)!.startsWith("\r\x1b[2Khello\n"));
    print(end(500, { timings: { totalMs: 3_720_000, trainMs: 1, evalMs: 1, stepsPerSecond: 1, examplesPerSecond: 38.2 } }));
    assert.match(out.slice(-2).join(""), /^\nfinished at step 500 in 1h02m \(38\.2 ex\/s\)\n$/);

    // A narrow terminal drops the bar rather than wrapping.
    const narrow = renderBarLine(s120, 40);
    assert.ok(narrow.length <= 39 && !narrow.includes("█"), narrow);
  });

  s("lines progress: a step line every N steps or every few seconds, and every eval/log/checkpoint/end", () => {
    const out: string[] = [];
    const print = createProgressPrinter({ mode: "lines", write: (t) => out.push(t) });
    print(start({ totalSteps: 100 }));
    for (let i = 1; i <= 100; i++) {
      print({ ...step(i, 1, 100), elapsedMs: i * 10 });
      if (i === 50) {
        print({ type: "eval", step: 50, epoch: 1, metrics: { accuracy: 0.8 }, mainMetric: "accuracy", score: 0.8, best: true, examples: 20, elapsedMs: 500 });
        print({ type: "checkpoint", step: 50, path: "runs/x/checkpoint-50" });
        print({ type: "log", message: "halfway" });
      }
    }
    print(end(100));
    assert.ok(out.every((t) => t.endsWith("\n") && !t.includes("\r") && !t.includes("\x1b")));
    const stepLines = out.filter((t) => t.startsWith("step "));
    assert.equal(stepLines.length, 21, "the first step, then every 5th (100/20)");
    assert.match(stepLines[1]!, /^step 5\/100 5% epoch 0\.50 loss 1\.000 lr 1\.0e-3 grad-norm 1\.00 10\.0 ex\/s elapsed 50ms ETA /);
    assert.ok(out.some((t) => t.startsWith("eval at step 50: accuracy 0.8000")));
    assert.ok(out.includes("checkpoint at step 50: runs/x/checkpoint-50\n"));
    assert.ok(out.includes("halfway\n"));
    assert.ok(out.at(-1)!.startsWith("finished at step 100"));

    // Slow steps: the time rule prints one every ~5 s even when the step rule would wait.
    const slow: string[] = [];
    const printSlow = createProgressPrinter({ mode: "lines", write: (t) => slow.push(t), everySteps: 1000 });
    for (let i = 1; i <= 20; i++) printSlow({ ...step(i, 1, 2000), elapsedMs: i * 1000 });
    assert.equal(slow.map((t) => Number(/^step (\d+)/.exec(t)![1])), [1, 6, 11, 16]);
  });

  s("json progress: one parseable object per event and line", () => {
    const out: string[] = [];
    const print = createProgressPrinter({ mode: "json", write: (t) => out.push(t) });
    const events = syntheticRunEvents({ totalSteps: 30, evalEvery: 10 });
    for (const event of events) print(event);
    assert.equal(out.length, events.length);
    assert.ok(out.every((line) => line.endsWith("\n") && line.indexOf("\n") === line.length - 1));
    assert.equal(out.map((line) => JSON.parse(line)), JSON.parse(JSON.stringify(events)));
    print(step(1, Number.NaN));
    assert.equal(JSON.parse(out.at(-1)!).loss, null, "a NaN loss is still valid JSON");
  });

  s.run();
}
