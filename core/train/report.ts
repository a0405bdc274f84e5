/**
 * A finished (or interrupted) run, shown to people and programs, from nothing but its event list:
 *
 *   renderReport(events)  → report.html: one self-contained page (inline CSS and SVG, no script, no fetch)
 *                           that opens offline years later: summary cards, loss and metric curves, results,
 *                           parameters, timings, the config, warnings, the evaluation history and the log.
 *   resultsTable(events)  → the plain-text results printed at the end of `webpeft train`.
 *   resultsJson(events)   → the same results as a JSON-safe object (NaN and ±Infinity become null).
 *
 * Runtime-neutral (core/): the charts are SVG drawn here — linear scales, "nice" 1-2-5 ticks, polylines
 * with NaN gaps, min/max downsampling so 100 000 steps stay a light page.
 *
 * Every string from the run (task, method, config values, warnings, log lines, paths) is escaped: a
 * config or task name must never become markup. A Content-Security-Policy forbids scripts and all fetches,
 * so even a missed escape could not run code or leak data.
 */
import type { CheckpointEvent, EndEvent, EvalEvent, LogEvent, StartEvent, StepEvent, TrainEvent } from "./events.ts";
import {
  formatCompactCount,
  formatCount,
  formatDuration,
  formatLoss,
  formatLr,
  formatMetric,
  formatPercent,
  formatRate,
} from "./progress.ts";

// ---------------------------------------------------------------------------------------------------------
// What the events say, gathered once

export type RunStatus = EndEvent["reason"] | "incomplete";

/** Best and final value of one GLUE metric over the evaluations (all GLUE metrics: higher is better). */
export interface MetricSummary {
  readonly name: string;
  readonly best: number | null;
  readonly bestStep: number | null;
  readonly final: number | null;
  readonly finalStep: number | null;
}

interface RunDigest {
  readonly start: StartEvent | null;
  /** One event per step number (the last one written wins after a resume), in step order. */
  readonly steps: readonly StepEvent[];
  readonly evals: readonly EvalEvent[];
  readonly checkpoints: readonly CheckpointEvent[];
  /** Log and checkpoint events in the order they happened. */
  readonly journal: readonly (LogEvent | CheckpointEvent)[];
  readonly end: EndEvent | null;
  readonly status: RunStatus;
  readonly lastStep: number;
  readonly totalSteps: number | null;
  readonly mainMetric: string | null;
  /** The main metric first, then the others in the order the evaluations list them. */
  readonly metrics: readonly MetricSummary[];
  /** The evaluation that selected the best adapter (end.best when the loop says so). */
  readonly best: { readonly step: number; readonly metric: string; readonly score: number; readonly metrics: Readonly<Record<string, number>> } | null;
  readonly finalEval: EvalEvent | null;
  readonly timings: EndEvent["timings"] | null;
}

function lastByStep<E extends { readonly step: number }>(events: readonly E[]): E[] {
  const byStep = new Map<number, E>();
  for (const event of events) byStep.set(event.step, event);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

function digestRun(events: readonly TrainEvent[]): RunDigest {
  // After --resume the list may hold two start events and repeated steps; the latest account wins.
  let start: StartEvent | null = null;
  let end: EndEvent | null = null;
  const stepEvents: StepEvent[] = [];
  const evalEvents: EvalEvent[] = [];
  const checkpoints: CheckpointEvent[] = [];
  const journal: (LogEvent | CheckpointEvent)[] = [];
  for (const event of events) {
    switch (event.type) {
      case "start":
        start = event;
        break;
      case "step":
        stepEvents.push(event);
        break;
      case "eval":
        evalEvents.push(event);
        break;
      case "checkpoint":
        checkpoints.push(event);
        journal.push(event);
        break;
      case "log":
        journal.push(event);
        break;
      case "end":
        end = event;
        break;
      default:
        event satisfies never;
    }
  }
  const steps = lastByStep(stepEvents);
  const evals = lastByStep(evalEvents);
  const finalEval = evals.at(-1) ?? null;
  const mainMetric = end?.best?.metric ?? finalEval?.mainMetric ?? null;

  const names: string[] = [];
  if (mainMetric !== null && evals.some((e) => mainMetric in e.metrics)) names.push(mainMetric);
  for (const e of evals) for (const name of Object.keys(e.metrics)) if (!names.includes(name)) names.push(name);
  const metrics = names.map((name): MetricSummary => {
    let best: number | null = null;
    let bestStep: number | null = null;
    let final: number | null = null;
    let finalStep: number | null = null;
    for (const e of evals) {
      const value = e.metrics[name];
      if (value === undefined) continue;
      final = value;
      finalStep = e.step;
      // Strictly greater: the earliest step reaching the best value, as a checkpoint selector keeps it.
      if (Number.isFinite(value) && (best === null || value > best)) {
        best = value;
        bestStep = e.step;
      }
    }
    return { name, best, bestStep, final, finalStep };
  });

  let best: RunDigest["best"] = end?.best ?? null;
  if (best === null && evals.length > 0) {
    // No end event (a run still going, or killed): the last evaluation flagged best, else the highest score.
    const flagged = evals.filter((e) => e.best).at(-1);
    const chosen = flagged ?? evals.reduce((a, b) => (Number.isFinite(b.score) && !(b.score <= a.score) ? b : a));
    best = { step: chosen.step, metric: chosen.mainMetric, score: chosen.score, metrics: chosen.metrics };
  }

  const lastStep = end?.step ?? steps.at(-1)?.step ?? start?.startStep ?? 0;
  const totalSteps = start?.totalSteps ?? steps.at(-1)?.totalSteps ?? null;
  let timings: RunDigest["timings"] = end?.timings ?? null;
  const lastStepEvent = steps.at(-1);
  if (timings === null && lastStepEvent !== undefined) {
    const runSteps = lastStepEvent.step - (start?.startStep ?? 0);
    timings = {
      totalMs: lastStepEvent.elapsedMs,
      trainMs: Number.NaN,
      evalMs: Number.NaN,
      stepsPerSecond: lastStepEvent.elapsedMs > 0 ? (1000 * runSteps) / lastStepEvent.elapsedMs : Number.NaN,
      examplesPerSecond: lastStepEvent.examplesPerSecond,
    };
  }
  return { start, steps, evals, checkpoints, journal, end, status: end?.reason ?? "incomplete", lastStep, totalSteps, mainMetric, metrics, best, finalEval, timings };
}

/** Config keys that name the base model, in the order they are tried (the start event has no model field). */
const MODEL_CONFIG_KEYS = ["model", "modelId", "modelName", "model_name_or_path", "modelPath", "baseModel", "base_model"];

function modelName(digest: RunDigest, extra: ReportExtras | undefined): string | null {
  if (extra?.model !== undefined) return extra.model;
  const config = digest.start?.config ?? {};
  for (const key of MODEL_CONFIG_KEYS) {
    const value = config[key];
    if (typeof value === "string" && value.length > 0) return value;
    if (typeof value === "object" && value !== null) {
      // A nested model section: { model: { id: "t5-small", … } }
      const nested = value as Record<string, unknown>;
      for (const inner of ["id", "name", "path"]) if (typeof nested[inner] === "string") return nested[inner] as string;
    }
  }
  return null;
}

function runTitle(digest: RunDigest, extra: ReportExtras | undefined): string {
  const parts = [digest.start?.task, digest.start?.method, modelName(digest, extra) ?? undefined].filter((p): p is string => !!p);
  return parts.length > 0 ? parts.join(" · ") : "training run";
}

// ---------------------------------------------------------------------------------------------------------
// Results for machines and the terminal

export interface RunResults {
  readonly task: string | null;
  readonly method: string | null;
  readonly model: string | null;
  readonly backend: string | null;
  readonly runtime: string | null;
  readonly status: RunStatus;
  readonly steps: { readonly done: number; readonly total: number | null };
  readonly mainMetric: string | null;
  /** The evaluation that selected the best adapter. */
  readonly best: { readonly step: number; readonly metric: string; readonly score: number | null; readonly metrics: Record<string, number | null> } | null;
  /** The last evaluation. */
  readonly final: { readonly step: number; readonly metrics: Record<string, number | null> } | null;
  /** Per metric: best value over the run, its step, and the final value. */
  readonly metrics: Record<string, { readonly best: number | null; readonly bestStep: number | null; readonly final: number | null }>;
  readonly finalLoss: number | null;
  readonly parameters: StartEvent["parameters"] | null;
  readonly timings: { readonly totalMs: number | null; readonly trainMs: number | null; readonly evalMs: number | null; readonly stepsPerSecond: number | null; readonly examplesPerSecond: number | null } | null;
  readonly warnings: readonly string[];
}

function finiteOrNull(x: number | null | undefined): number | null {
  return x !== null && x !== undefined && Number.isFinite(x) ? x : null;
}

function finiteRecord(record: Readonly<Record<string, number>>): Record<string, number | null> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, finiteOrNull(v)]));
}

/** The run's results as a JSON-safe object (`JSON.stringify(resultsJson(events), null, 2)` for a file). */
export function resultsJson(events: readonly TrainEvent[], extra?: Pick<ReportExtras, "model">): RunResults {
  const digest = digestRun(events);
  const { start, timings } = digest;
  return {
    task: start?.task ?? null,
    method: start?.method ?? null,
    model: modelName(digest, extra),
    backend: start?.backend ?? null,
    runtime: start?.runtime ?? null,
    status: digest.status,
    steps: { done: digest.lastStep, total: digest.totalSteps },
    mainMetric: digest.mainMetric,
    best: digest.best && { step: digest.best.step, metric: digest.best.metric, score: finiteOrNull(digest.best.score), metrics: finiteRecord(digest.best.metrics) },
    final: digest.finalEval && { step: digest.finalEval.step, metrics: finiteRecord(digest.finalEval.metrics) },
    metrics: Object.fromEntries(digest.metrics.map((m) => [m.name, { best: finiteOrNull(m.best), bestStep: m.bestStep, final: finiteOrNull(m.final) }])),
    finalLoss: finiteOrNull(digest.steps.at(-1)?.loss),
    parameters: start?.parameters ?? null,
    timings: timings && {
      totalMs: finiteOrNull(timings.totalMs),
      trainMs: finiteOrNull(timings.trainMs),
      evalMs: finiteOrNull(timings.evalMs),
      stepsPerSecond: finiteOrNull(timings.stepsPerSecond),
      examplesPerSecond: finiteOrNull(timings.examplesPerSecond),
    },
    warnings: start?.warnings ?? [],
  };
}

function statusText(digest: RunDigest): string {
  const of = digest.totalSteps !== null ? `${digest.lastStep}/${digest.totalSteps}` : String(digest.lastStep);
  const how = digest.status === "incomplete" ? "did not finish (no end event)" : digest.status;
  return `${how}, ${of} steps`;
}

/** Lines of text in aligned columns; the first row is the header. */
function textColumns(rows: readonly (readonly string[])[], indent = "  "): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join("").trimEnd());
}

/** The plain-text results printed when a run ends: metrics (best, its step, final), parameters, timings. */
export function resultsTable(events: readonly TrainEvent[], extra?: Pick<ReportExtras, "model">): string {
  const digest = digestRun(events);
  const lines = [`${runTitle(digest, extra)} — ${statusText(digest)}`, ""];
  if (digest.metrics.length === 0) {
    lines.push("  no evaluation ran");
  } else {
    const rows = [["metric", "best", "at step", "final"]];
    for (const m of digest.metrics) {
      const mark = m.name === digest.mainMetric && digest.metrics.length > 1 ? " *" : "";
      rows.push([m.name + mark, m.best === null ? "–" : formatMetric(m.best), m.bestStep === null ? "–" : String(m.bestStep), m.final === null ? "–" : formatMetric(m.final)]);
    }
    lines.push(...textColumns(rows));
    if (digest.metrics.length > 1 && digest.mainMetric !== null) lines.push(`  * main metric`);
    if (digest.best) lines.push("", `  best adapter: step ${digest.best.step} (${digest.best.metric} ${formatMetric(digest.best.score)})`);
  }
  lines.push("");
  const facts: string[][] = [];
  const lastLoss = digest.steps.at(-1)?.loss;
  if (lastLoss !== undefined) facts.push(["final loss", formatLoss(lastLoss)]);
  const p = digest.start?.parameters;
  if (p) facts.push(["parameters", `${formatCount(p.trainable)} trainable of ${formatCount(p.total)} (${formatPercent(p.percent)})`]);
  const t = digest.timings;
  if (t) {
    const parts = [`${formatDuration(t.totalMs)} total`];
    if (Number.isFinite(t.trainMs)) parts.push(`train ${formatDuration(t.trainMs)}`);
    if (Number.isFinite(t.evalMs)) parts.push(`eval ${formatDuration(t.evalMs)}`);
    parts.push(`${formatRate(t.stepsPerSecond)} steps/s`, `${formatRate(t.examplesPerSecond)} ex/s`);
    facts.push(["time", parts.join(" · ")]);
  }
  if (digest.start) facts.push(["backend", `${digest.start.backend} on ${digest.start.runtime}`]);
  lines.push(...textColumns(facts));
  for (const warning of digest.start?.warnings ?? []) lines.push(`  warning: ${warning}`);
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------------------
// SVG charts

export interface ChartPoint {
  readonly x: number;
  /** NaN or ±Infinity leaves a gap in the line. */
  readonly y: number;
}

export interface ChartSeries {
  /** Written as `data-series` on every element of the series (tests and user styles find it by that). */
  readonly id: string;
  readonly label: string;
  readonly color: string;
  readonly points: readonly ChartPoint[];
  readonly strokeWidth?: number;
  readonly opacity?: number;
  /** A dot on every point, with a hover title (for sparse series: evaluations). */
  readonly markers?: boolean;
  /** A point to ring and label (the best evaluation). */
  readonly highlight?: ChartPoint | null;
}

export interface LineChartOptions {
  /** Accessible name of the chart. */
  readonly title: string;
  readonly width: number;
  readonly height: number;
  readonly xLabel: string;
  readonly yLabel: string;
  /** Fixed x range (e.g. 0..totalSteps, shared by every chart of a report so they line up). */
  readonly xDomain?: readonly [number, number];
  readonly formatY?: (value: number) => string;
  /** Most points drawn per series; longer series are downsampled (default: one per unit of plot width). */
  readonly maxPoints?: number;
}

/** Ticks at 1, 2 or 5 × 10^k covering [min, max]; the domain grows to the outer ticks. */
export function niceTicks(min: number, max: number, targetCount = 5): { readonly min: number; readonly max: number; readonly step: number; readonly ticks: readonly number[] } {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return niceTicks(0, 1, targetCount);
  if (max < min) [min, max] = [max, min];
  if (max === min) {
    // A constant series: centre it in a small band around its value.
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    return niceTicks(min - pad, max + pad, targetCount);
  }
  const step = niceStep((max - min) / Math.max(1, targetCount - 1));
  const first = Math.floor(min / step + 1e-9);
  const last = Math.ceil(max / step - 1e-9);
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  const ticks: number[] = [];
  // Multiply instead of accumulating, then round, so 0.1 + 0.2 never prints as 0.30000000000000004.
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toFixed(decimals)));
  return { min: ticks[0]!, max: ticks.at(-1)!, step, ticks };
}

function niceStep(rough: number): number {
  const power = 10 ** Math.floor(Math.log10(rough));
  const fraction = rough / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

/** Ticks inside a fixed range (the step axis: it must end at the last step, not at the next round number). */
function ticksWithin(min: number, max: number, targetCount: number, integer: boolean): number[] {
  if (max <= min) return [min];
  let step = niceStep((max - min) / Math.max(1, targetCount - 1));
  if (integer) step = Math.max(1, Math.round(step));
  const ticks: number[] = [];
  for (let i = Math.ceil(min / step - 1e-9); i * step <= max + 1e-9; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

/**
 * Splits a series at non-finite values and thins every piece to about `maxPoints` in all: each bucket of x
 * keeps its lowest and highest point (in x order), so spikes and the envelope survive; the first and last
 * points are always kept.
 */
export function downsampleSeries(points: readonly ChartPoint[], maxPoints: number): ChartPoint[][] {
  const segments: ChartPoint[][] = [];
  let current: ChartPoint[] = [];
  for (const point of points) {
    if (Number.isFinite(point.y) && Number.isFinite(point.x)) current.push(point);
    else if (current.length > 0) {
      segments.push(current);
      current = [];
    }
  }
  if (current.length > 0) segments.push(current);
  const finiteCount = segments.reduce((n, s) => n + s.length, 0);
  if (finiteCount <= maxPoints) return segments;
  return segments.map((segment) => thinSegment(segment, Math.max(2, Math.floor((maxPoints * segment.length) / finiteCount))));
}

function thinSegment(segment: readonly ChartPoint[], budget: number): ChartPoint[] {
  if (segment.length <= budget) return [...segment];
  const first = segment[0]!;
  const last = segment.at(-1)!;
  const interior = segment.slice(1, -1);
  const buckets = Math.max(1, Math.floor((budget - 2) / 2));
  const kept: ChartPoint[] = [first];
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor((b * interior.length) / buckets);
    const to = Math.floor(((b + 1) * interior.length) / buckets);
    if (to <= from) continue;
    let low = from;
    let high = from;
    for (let i = from; i < to; i++) {
      if (interior[i]!.y < interior[low]!.y) low = i;
      if (interior[i]!.y > interior[high]!.y) high = i;
    }
    if (low === high) kept.push(interior[low]!);
    else kept.push(interior[Math.min(low, high)]!, interior[Math.max(low, high)]!);
  }
  kept.push(last);
  return kept;
}

/**
 * Exponential moving average with bias correction (TensorBoard's smoothing): early values are not pulled
 * towards 0. `weight` near 1 smooths more. Non-finite inputs are skipped and give NaN (a gap).
 */
export function smoothSeries(points: readonly ChartPoint[], weight: number): ChartPoint[] {
  let average = 0;
  let count = 0;
  return points.map(({ x, y }) => {
    if (!Number.isFinite(y)) return { x, y: Number.NaN };
    count++;
    average = weight * average + (1 - weight) * y;
    return { x, y: average / (1 - weight ** count) };
  });
}

/** The smoothing weight for a run of n steps: an averaging window of about n/25 steps. */
function smoothingWeightFor(n: number): number {
  const window = Math.max(1, Math.round(n / 25));
  return 1 - 2 / (window + 1);
}

function coord(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

const CHART_MARGIN = { left: 62, right: 20, top: 16, bottom: 44 };

/** An SVG line chart: grid, axes with ticks and labels, one polyline per finite run of each series. */
export function renderLineChart(series: readonly ChartSeries[], options: LineChartOptions): string {
  const { width, height } = options;
  const plotLeft = CHART_MARGIN.left;
  const plotRight = width - CHART_MARGIN.right;
  const plotTop = CHART_MARGIN.top;
  const plotBottom = height - CHART_MARGIN.bottom;
  const maxPoints = options.maxPoints ?? Math.max(50, Math.floor(plotRight - plotLeft));

  const finite = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const xs = finite.map((p) => p.x);
  let [xMin, xMax] = options.xDomain ?? [Math.min(...xs), Math.max(...xs)];
  if (!Number.isFinite(xMin) || !Number.isFinite(xMax)) [xMin, xMax] = [0, 1];
  if (xMax <= xMin) [xMin, xMax] = [xMin - 1, xMax + 1]; // one step: centre it
  const yScale = niceTicks(Math.min(...finite.map((p) => p.y)), Math.max(...finite.map((p) => p.y)), Math.max(3, Math.round((plotBottom - plotTop) / 55)));
  const xTicks = ticksWithin(xMin, xMax, Math.max(4, Math.round((plotRight - plotLeft) / 110)), true);
  const formatY = options.formatY ?? ((v: number) => formatTick(v, yScale.step));

  const toX = (x: number): number => plotLeft + ((x - xMin) / (xMax - xMin)) * (plotRight - plotLeft);
  const toY = (y: number): number => plotBottom - ((y - yScale.min) / (yScale.max - yScale.min)) * (plotBottom - plotTop);

  const parts: string[] = [];
  parts.push(`<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(options.title)}">`);
  parts.push(`<title>${escapeHtml(options.title)}</title>`);
  // Horizontal grid with y tick labels; x ticks with labels below the axis.
  for (const tick of yScale.ticks) {
    const y = coord(toY(tick));
    parts.push(`<line class="grid" x1="${plotLeft}" x2="${plotRight}" y1="${y}" y2="${y}"/>`);
    parts.push(`<text class="tick" x="${plotLeft - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeHtml(formatY(tick))}</text>`);
  }
  for (const tick of xTicks) {
    const x = coord(toX(tick));
    parts.push(`<line class="axis" x1="${x}" x2="${x}" y1="${plotBottom}" y2="${plotBottom + 5}"/>`);
    parts.push(`<text class="tick" x="${x}" y="${plotBottom + 18}" text-anchor="middle">${escapeHtml(formatCount(tick))}</text>`);
  }
  parts.push(`<line class="axis" x1="${plotLeft}" x2="${plotRight}" y1="${plotBottom}" y2="${plotBottom}"/>`);
  parts.push(`<line class="axis" x1="${plotLeft}" x2="${plotLeft}" y1="${plotTop}" y2="${plotBottom}"/>`);
  parts.push(`<text class="axis-label" x="${coord((plotLeft + plotRight) / 2)}" y="${height - 6}" text-anchor="middle">${escapeHtml(options.xLabel)}</text>`);
  parts.push(`<text class="axis-label" transform="translate(14 ${coord((plotTop + plotBottom) / 2)}) rotate(-90)" text-anchor="middle">${escapeHtml(options.yLabel)}</text>`);

  for (const s of series) {
    const id = escapeHtml(s.id);
    const stroke = `stroke="${escapeHtml(s.color)}" stroke-width="${s.strokeWidth ?? 2}"${s.opacity !== undefined ? ` stroke-opacity="${s.opacity}"` : ""}`;
    for (const segment of downsampleSeries(s.points, maxPoints)) {
      if (segment.length === 1) {
        // A lone point (one step, or a value between two gaps) has no line to draw: show a dot.
        const p = segment[0]!;
        parts.push(`<circle data-series="${id}" cx="${coord(toX(p.x))}" cy="${coord(toY(p.y))}" r="3.5" fill="${escapeHtml(s.color)}"/>`);
        continue;
      }
      const pointList = segment.map((p) => `${coord(toX(p.x))},${coord(toY(p.y))}`).join(" ");
      parts.push(`<polyline data-series="${id}" fill="none" ${stroke} stroke-linejoin="round" stroke-linecap="round" points="${pointList}"/>`);
    }
    if (s.markers) {
      for (const p of s.points) {
        if (!Number.isFinite(p.y)) continue;
        parts.push(
          `<circle class="marker" data-series="${id}" cx="${coord(toX(p.x))}" cy="${coord(toY(p.y))}" r="3" fill="${escapeHtml(s.color)}">` +
            `<title>${escapeHtml(`${s.label} ${formatY(p.y)} at step ${formatCount(p.x)}`)}</title></circle>`,
        );
      }
    }
    if (s.highlight && Number.isFinite(s.highlight.y)) {
      const cx = toX(s.highlight.x);
      const cy = toY(s.highlight.y);
      parts.push(
        `<circle class="best" data-series="${id}" cx="${coord(cx)}" cy="${coord(cy)}" r="7" fill="none" stroke="${escapeHtml(s.color)}" stroke-width="2.5">` +
          `<title>${escapeHtml(`best ${s.label} ${formatMetric(s.highlight.y)} at step ${formatCount(s.highlight.x)}`)}</title></circle>`,
      );
    }
  }
  parts.push(`</svg>`);
  return parts.join("");
}

/** A tick label with as many decimals as the tick step needs. */
function formatTick(value: number, step: number): string {
  if (Math.abs(value) >= 1e5 || (value !== 0 && Math.abs(value) < 1e-4)) return value.toExponential(1).replace("e+", "e");
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return value.toFixed(decimals);
}

// ---------------------------------------------------------------------------------------------------------
// HTML

export interface ReportExtras {
  /** The base model (id or path); the start event does not carry it, so config.model is tried otherwise. */
  readonly model?: string;
  /** Replaces the page heading (default: "task · method · model"). */
  readonly title?: string;
  /** Versions of webpeft, the runtime, the GPU driver… (run.json's `versions`). */
  readonly versions?: Readonly<Record<string, string>>;
  /** Further timings in milliseconds (run.json's `timings`: model load, tokenising…), shown beside the loop's. */
  readonly timings?: Readonly<Record<string, number>>;
  /** When the report was made (default: now). Fixed in tests so two renders are byte-identical. */
  readonly generatedAt?: Date | string;
  /** Points per series in the charts (default: about one per pixel of plot width). */
  readonly maxChartPoints?: number;
}

/** Text made safe for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const SERIES_COLORS = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2"];
const LOSS_COLOR = "#2563eb";

const STATUS_LABELS: Record<RunStatus, string> = { "completed": "completed", "early-stopped": "early-stopped", "aborted": "aborted", "incomplete": "incomplete" };

/** report.html for a run: one string, no external resources. */
export function renderReport(events: readonly TrainEvent[], extra?: ReportExtras): string {
  const digest = digestRun(events);
  const title = extra?.title ?? runTitle(digest, extra);
  const generatedAt = extra?.generatedAt === undefined ? new Date().toISOString() : typeof extra.generatedAt === "string" ? extra.generatedAt : extra.generatedAt.toISOString();
  const body = [
    renderHeader(digest, title, generatedAt),
    renderWarnings(digest),
    renderCards(digest),
    renderLossPanel(digest, extra),
    renderEvalPanel(digest, extra),
    renderDynamicsPanel(digest, extra),
    renderResultsPanel(digest),
    renderFactsPanels(digest, extra),
    renderConfigPanel(digest),
    renderEvalHistory(digest),
    renderJournal(digest),
    `<footer>${escapeHtml(`webpeft training report · generated ${generatedAt}`)}${renderVersions(extra)}</footer>`,
  ];
  return [
    "<!DOCTYPE html>",
    `<html lang="en">`,
    "<head>",
    `<meta charset="utf-8">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    // No scripts, no fetches of any kind: the page is a document, and injected text could do nothing.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    `<title>${escapeHtml(`${title} — webpeft report`)}</title>`,
    `<style>${REPORT_CSS}</style>`,
    "</head>",
    "<body>",
    `<main>`,
    ...body.filter((section) => section !== ""),
    `</main>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

function renderHeader(digest: RunDigest, title: string, generatedAt: string): string {
  const facts: string[] = [];
  if (digest.totalSteps !== null) facts.push(`${formatCount(digest.lastStep)} of ${formatCount(digest.totalSteps)} steps`);
  if (digest.start) {
    facts.push(`${digest.start.backend} on ${digest.start.runtime}`);
    facts.push(`${formatCount(digest.start.trainExamples)} training / ${formatCount(digest.start.evalExamples)} eval examples`);
    if (digest.start.startStep > 0) facts.push(`resumed at step ${formatCount(digest.start.startStep)}`);
  }
  facts.push(`generated ${generatedAt.replace("T", " ").replace(/\.\d+Z$/, "Z")}`);
  return (
    `<header><div class="eyebrow">webpeft · training report</div>` +
    `<h1>${escapeHtml(title)}</h1>` +
    `<p class="subtitle"><span class="badge badge-${digest.status}">${STATUS_LABELS[digest.status]}</span> ` +
    `${facts.map(escapeHtml).join(`<span class="sep">·</span>`)}</p></header>`
  );
}

function renderWarnings(digest: RunDigest): string {
  const warnings = digest.start?.warnings ?? [];
  if (warnings.length === 0) return "";
  const heading = warnings.length === 1 ? "Warning" : `${warnings.length} warnings`;
  return `<section class="warnings" role="alert"><h2>${heading}</h2><ul>${warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join("")}</ul></section>`;
}

function card(label: string, value: string, detail: string, tone = ""): string {
  return `<div class="card${tone ? ` ${tone}` : ""}"><div class="card-label">${escapeHtml(label)}</div><div class="card-value">${escapeHtml(value)}</div><div class="card-detail">${escapeHtml(detail)}</div></div>`;
}

function renderCards(digest: RunDigest): string {
  const cards: string[] = [];
  const { best, finalEval, start, timings } = digest;
  if (best) cards.push(card(`Best ${best.metric}`, formatMetric(best.score), `at step ${formatCount(best.step)}`, "accent"));
  if (finalEval) cards.push(card(`Final ${finalEval.mainMetric}`, formatMetric(finalEval.metrics[finalEval.mainMetric] ?? finalEval.score), `at step ${formatCount(finalEval.step)}`));
  const lastStep = digest.steps.at(-1);
  if (lastStep) {
    const smoothed = smoothSeries(lossPoints(digest), smoothingWeightFor(digest.steps.length)).at(-1)?.y ?? Number.NaN;
    const tone = Number.isFinite(lastStep.loss) ? "" : "bad";
    cards.push(card("Final loss", formatLoss(lastStep.loss), Number.isFinite(smoothed) ? `smoothed ${formatLoss(smoothed)}` : `at step ${formatCount(lastStep.step)}`, tone));
  }
  if (start) cards.push(card("Trainable parameters", formatCompactCount(start.parameters.trainable), `${formatPercent(start.parameters.percent)} of ${formatCompactCount(start.parameters.total)}`));
  const stepsDetail = lastStep ? `epoch ${Number.isInteger(lastStep.epoch) ? lastStep.epoch : lastStep.epoch.toFixed(2)}` : STATUS_LABELS[digest.status];
  cards.push(card("Steps", digest.totalSteps !== null ? `${formatCount(digest.lastStep)} / ${formatCount(digest.totalSteps)}` : formatCount(digest.lastStep), stepsDetail));
  if (timings) {
    const split = Number.isFinite(timings.trainMs) ? `train ${formatDuration(timings.trainMs)} · eval ${formatDuration(timings.evalMs)}` : "so far";
    cards.push(card("Wall time", formatDuration(timings.totalMs), split));
    cards.push(card("Throughput", `${formatRate(timings.examplesPerSecond)} ex/s`, `${formatRate(timings.stepsPerSecond)} steps/s`));
  }
  if (start) cards.push(card("Backend", start.backend, `runtime ${start.runtime}`));
  return `<section class="cards">${cards.join("")}</section>`;
}

function lossPoints(digest: RunDigest): ChartPoint[] {
  return digest.steps.map((s) => ({ x: s.step, y: s.loss }));
}

/** The step axis shared by every chart, so a loss bump and a metric dip line up vertically. */
function stepDomain(digest: RunDigest): readonly [number, number] {
  const steps = [...digest.steps.map((s) => s.step), ...digest.evals.map((e) => e.step)];
  const from = Math.min(digest.start?.startStep ?? Infinity, ...steps);
  const to = Math.max(digest.totalSteps ?? -Infinity, ...steps);
  return Number.isFinite(from) && Number.isFinite(to) ? [Math.min(from, to), to] : [0, 1];
}

function legend(items: readonly { readonly color: string; readonly label: string; readonly faint?: boolean }[]): string {
  return `<ul class="legend">${items.map((i) => `<li><span class="swatch${i.faint ? " faint" : ""}" style="background:${escapeHtml(i.color)}"></span>${escapeHtml(i.label)}</li>`).join("")}</ul>`;
}

function renderLossPanel(digest: RunDigest, extra: ReportExtras | undefined): string {
  if (digest.steps.length === 0) return `<section class="panel"><h2>Training loss</h2><p class="empty">No training step was recorded.</p></section>`;
  const points = lossPoints(digest);
  const weight = smoothingWeightFor(points.length);
  const nonFinite = digest.steps.filter((s) => !Number.isFinite(s.loss));
  const series: ChartSeries[] = [{ id: "loss", label: "loss", color: LOSS_COLOR, points, strokeWidth: 1.25, opacity: 0.3 }];
  // Smoothing a handful of steps only hides them.
  const smoothed = points.length >= 10;
  if (smoothed) series.push({ id: "loss-smoothed", label: "smoothed", color: LOSS_COLOR, points: smoothSeries(points, weight), strokeWidth: 2.25 });
  const chart = renderLineChart(series, { title: "Training loss per step", width: 960, height: 320, xLabel: "step", yLabel: "loss", xDomain: stepDomain(digest), ...(extra?.maxChartPoints !== undefined ? { maxPoints: extra.maxChartPoints } : {}) });
  const items = [{ color: LOSS_COLOR, label: "loss per step", faint: true }];
  if (smoothed) items.push({ color: LOSS_COLOR, label: `smoothed (EMA, weight ${weight.toFixed(2)})`, faint: false });
  const note = nonFinite.length > 0 ? `<p class="note bad">The loss was not finite at step ${nonFinite.map((s) => formatCount(s.step)).slice(0, 5).join(", ")}${nonFinite.length > 5 ? "…" : ""}: those points are gaps.</p>` : "";
  return `<section class="panel"><h2>Training loss</h2>${chart}${legend(items)}${note}</section>`;
}

function renderEvalPanel(digest: RunDigest, extra: ReportExtras | undefined): string {
  if (digest.evals.length === 0) return `<section class="panel"><h2>Evaluation</h2><p class="empty">No evaluation ran in this run.</p></section>`;
  const series: ChartSeries[] = digest.metrics.map((metric, i) => {
    const color = SERIES_COLORS[i % SERIES_COLORS.length]!;
    const points = digest.evals.map((e) => ({ x: e.step, y: e.metrics[metric.name] ?? Number.NaN }));
    return {
      id: `metric-${metric.name}`,
      label: metric.name,
      color,
      points,
      markers: true,
      strokeWidth: metric.name === digest.mainMetric ? 2.5 : 1.75,
      highlight: metric.best !== null && metric.bestStep !== null ? { x: metric.bestStep, y: metric.best } : null,
    };
  });
  const chart = renderLineChart(series, {
    title: "Evaluation metrics per step",
    width: 960,
    height: 300,
    xLabel: "step",
    yLabel: digest.metrics.length === 1 ? digest.metrics[0]!.name : "metric",
    xDomain: stepDomain(digest),
    ...(extra?.maxChartPoints !== undefined ? { maxPoints: extra.maxChartPoints } : {}),
  });
  const items = digest.metrics.map((m, i) => ({
    color: SERIES_COLORS[i % SERIES_COLORS.length]!,
    label: `${m.name}${m.name === digest.mainMetric ? " (main)" : ""} — best ${m.best === null ? "–" : formatMetric(m.best)}${m.bestStep === null ? "" : ` at step ${formatCount(m.bestStep)}`} (ringed)`,
  }));
  return `<section class="panel"><h2>Evaluation</h2>${chart}${legend(items)}</section>`;
}

/** Learning rate, gradient norm and throughput: small charts that explain a loss curve's shape. */
function renderDynamicsPanel(digest: RunDigest, extra: ReportExtras | undefined): string {
  if (digest.steps.length === 0) return "";
  const domain = stepDomain(digest);
  const small = (id: string, title: string, yLabel: string, color: string, pick: (s: StepEvent) => number, formatY?: (v: number) => string): string => {
    const chart = renderLineChart([{ id, label: yLabel, color, points: digest.steps.map((s) => ({ x: s.step, y: pick(s) })), strokeWidth: 1.75 }], {
      title,
      width: 300,
      height: 190,
      xLabel: "step",
      yLabel,
      xDomain: domain,
      ...(formatY ? { formatY } : {}),
      ...(extra?.maxChartPoints !== undefined ? { maxPoints: extra.maxChartPoints } : {}),
    });
    return `<div class="panel small"><h3>${escapeHtml(title)}</h3>${chart}</div>`;
  };
  return (
    `<section class="small-multiples">` +
    small("lr", "Learning rate", "lr", "#7c3aed", (s) => s.lr, formatLr) +
    small("grad-norm", "Gradient norm (before clipping)", "norm", "#d97706", (s) => s.gradNorm) +
    small("throughput", "Throughput", "examples/s", "#059669", (s) => s.examplesPerSecond) +
    `</section>`
  );
}

function table(head: readonly string[], rows: readonly (readonly string[])[], numericFrom = 1): string {
  const cell = (tag: string, text: string, i: number): string => `<${tag}${i >= numericFrom ? ` class="num"` : ""}>${text}</${tag}>`;
  // The wrapper scrolls sideways on a phone instead of widening the page.
  return `<div class="table-wrap"><table><thead><tr>${head.map((h, i) => cell("th", escapeHtml(h), i)).join("")}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c, i) => cell("td", c, i)).join("")}</tr>`).join("")}</tbody></table></div>`;
}

function renderResultsPanel(digest: RunDigest): string {
  if (digest.metrics.length === 0) return "";
  const rows = digest.metrics.map((m) => [
    `${escapeHtml(m.name)}${m.name === digest.mainMetric ? ` <span class="tag">main</span>` : ""}`,
    m.best === null ? "–" : `<strong>${formatMetric(m.best)}</strong>`,
    m.bestStep === null ? "–" : formatCount(m.bestStep),
    m.final === null ? "–" : formatMetric(m.final),
    digest.best ? formatMetric(digest.best.metrics[m.name] ?? Number.NaN) : "–",
  ]);
  const bestNote = digest.best ? `<p class="note">The adapter kept as best is the one from step ${formatCount(digest.best.step)} (highest ${escapeHtml(digest.best.metric)}); the last column shows all its metrics.</p>` : "";
  return `<section class="panel"><h2>Results</h2>${table(["metric", "best", "step of best", "final", "best adapter"], rows)}${bestNote}</section>`;
}

function renderFactsPanels(digest: RunDigest, extra: ReportExtras | undefined): string {
  const panels: string[] = [];
  const p = digest.start?.parameters;
  if (p) {
    panels.push(
      `<section class="panel"><h2>Parameters</h2>${keyValueTable([
        ["trainable", formatCount(p.trainable)],
        ["frozen", formatCount(Math.max(0, p.total - p.trainable))],
        ["total", formatCount(p.total)],
        ["trainable share", formatPercent(p.percent)],
      ])}</section>`,
    );
  }
  const t = digest.timings;
  const timingRows: [string, string][] = [];
  if (t) {
    timingRows.push(["total wall time", formatDuration(t.totalMs)]);
    if (Number.isFinite(t.trainMs)) timingRows.push(["training", formatDuration(t.trainMs)]);
    if (Number.isFinite(t.evalMs)) timingRows.push(["evaluation", formatDuration(t.evalMs)]);
    timingRows.push(["steps per second", formatRate(t.stepsPerSecond)], ["examples per second", formatRate(t.examplesPerSecond)]);
  }
  for (const [name, ms] of Object.entries(extra?.timings ?? {})) timingRows.push([name, formatDuration(ms)]);
  if (timingRows.length > 0) panels.push(`<section class="panel"><h2>Timings</h2>${keyValueTable(timingRows)}</section>`);
  return panels.length > 0 ? `<div class="two-columns">${panels.join("")}</div>` : "";
}

function keyValueTable(rows: readonly (readonly [string, string])[]): string {
  return `<table class="kv"><tbody>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td class="num">${escapeHtml(v)}</td></tr>`).join("")}</tbody></table>`;
}

/** Nested config objects as dotted keys (`optimizer.lr`), arrays and scalars as JSON. */
function flattenConfig(value: unknown, prefix: string, out: [string, string][]): void {
  if (typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length > 0) {
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) flattenConfig(inner, prefix ? `${prefix}.${key}` : key, out);
    return;
  }
  const text = typeof value === "string" ? value : value === undefined ? "undefined" : Array.isArray(value) ? `[${value.map((v) => JSON.stringify(v)).join(", ")}]` : JSON.stringify(value);
  out.push([prefix, text]);
}

function renderConfigPanel(digest: RunDigest): string {
  if (!digest.start) return "";
  const rows: [string, string][] = [];
  flattenConfig(digest.start.config, "", rows);
  if (rows.length === 0) return "";
  // Two tables side by side on wide screens: a T5 config is long and its values are short.
  const half = Math.ceil(rows.length / 2);
  const columns = rows.length > 8 ? [rows.slice(0, half), rows.slice(half)] : [rows];
  const tables = columns.map((part) => `<table class="kv config"><tbody>${part.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td><code>${escapeHtml(v)}</code></td></tr>`).join("")}</tbody></table>`);
  return `<section class="panel"><h2>Configuration</h2><div class="config-columns">${tables.join("")}</div></section>`;
}

function renderEvalHistory(digest: RunDigest): string {
  if (digest.evals.length === 0) return "";
  const names = digest.metrics.map((m) => m.name);
  const rows = digest.evals.map((e) => [
    formatCount(e.step),
    Number.isInteger(e.epoch) ? String(e.epoch) : e.epoch.toFixed(2),
    ...names.map((n) => (e.metrics[n] === undefined ? "–" : formatMetric(e.metrics[n]!))),
    formatCount(e.examples),
    e.best ? "★" : "",
  ]);
  // Open when short enough to read at a glance (and so it prints); a long history stays folded.
  return `<details class="panel"${digest.evals.length <= 20 ? " open" : ""}><summary>Evaluation history (${digest.evals.length})</summary>${table(["step", "epoch", ...names, "examples", "best"], rows)}</details>`;
}

function renderJournal(digest: RunDigest): string {
  if (digest.journal.length === 0) return "";
  const items = digest.journal.map((e) => (e.type === "log" ? `<li>${escapeHtml(e.message)}</li>` : `<li class="checkpoint">checkpoint at step ${formatCount(e.step)}: <code>${escapeHtml(e.path)}</code></li>`));
  return `<details class="panel"${digest.journal.length <= 12 ? " open" : ""}><summary>Log (${digest.journal.length} messages, ${digest.checkpoints.length} checkpoints)</summary><ul class="journal">${items.join("")}</ul></details>`;
}

function renderVersions(extra: ReportExtras | undefined): string {
  const entries = Object.entries(extra?.versions ?? {});
  if (entries.length === 0) return "";
  return `<div class="versions">${entries.map(([k, v]) => `<span>${escapeHtml(k)} <code>${escapeHtml(v)}</code></span>`).join("")}</div>`;
}

/** The page's only styling: system fonts (nothing to download), light and dark palettes, print-friendly. */
const REPORT_CSS = `
:root{--bg:#f6f7f9;--panel:#fff;--text:#1f2937;--muted:#6b7280;--line:#e5e7eb;--axis:#9ca3af;--accent:#2563eb;
--warn-bg:#fffbeb;--warn-border:#f59e0b;--warn-text:#78350f;--bad:#b91c1c;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0f1115;--panel:#171a21;--text:#e5e7eb;--muted:#9ca3af;--line:#2a2f3a;
--axis:#4b5563;--accent:#60a5fa;--warn-bg:#2a2110;--warn-border:#d97706;--warn-text:#fcd34d;--bad:#f87171}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1040px;margin:0 auto;padding:32px 24px 48px}
header{margin-bottom:20px}
.eyebrow{font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:var(--muted);font-weight:600}
h1{font-size:26px;line-height:1.25;margin:4px 0 8px;word-break:break-word}
h2{font-size:16px;margin:0 0 12px}
h3{font-size:13px;margin:0 0 6px;color:var(--muted);font-weight:600}
.subtitle{margin:0;color:var(--muted);display:flex;flex-wrap:wrap;align-items:center;gap:6px}
.sep{color:var(--axis)}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;border:1px solid currentColor}
.badge-completed{color:#047857}.badge-early-stopped{color:#1d4ed8}.badge-aborted{color:var(--bad)}.badge-incomplete{color:#b45309}
.warnings{background:var(--warn-bg);border:1px solid var(--warn-border);border-left-width:5px;border-radius:8px;padding:12px 16px;margin-bottom:20px;color:var(--warn-text)}
.warnings h2{margin:0 0 4px;font-size:15px}
.warnings h2::before{content:"\\26A0\\FE0E  "}
.warnings ul{margin:0;padding-left:20px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:12px;margin-bottom:20px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:10px;padding:12px 14px;min-width:0}
.card.accent{border-top:3px solid var(--accent)}
.card.bad .card-value{color:var(--bad)}
.card-label{font-size:12px;color:var(--muted);white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.card-value{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums;margin:2px 0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.card-detail{font-size:12px;color:var(--muted);white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.panel{background:var(--panel);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin-bottom:16px;min-width:0}
.small-multiples{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:12px;margin-bottom:16px}
.small-multiples .panel{margin:0;padding:12px 12px 8px}
.config-columns{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));column-gap:24px}
.two-columns{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:16px}
svg.chart{display:block;width:100%;height:auto;overflow:visible}
svg .grid{stroke:var(--line);stroke-width:1}
svg .axis{stroke:var(--axis);stroke-width:1}
svg .tick{fill:var(--muted);font-size:12px;font-variant-numeric:tabular-nums}
svg .axis-label{fill:var(--muted);font-size:12px;font-weight:600}
svg .marker{stroke:var(--panel);stroke-width:1.5}
.legend{list-style:none;margin:8px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:6px 18px;color:var(--muted);font-size:13px}
.legend li{display:flex;align-items:center;gap:6px}
.swatch{display:inline-block;width:18px;height:3px;border-radius:2px}
.swatch.faint{opacity:.35;height:2px}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.04em}
.num{text-align:right}
table.kv th{font-weight:500;color:var(--muted);width:45%}
table.config th,table.config td{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;vertical-align:baseline}
table.config th{color:var(--muted);font-weight:500;width:auto;white-space:nowrap}
table.config td code{font-size:inherit;color:var(--text)}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;word-break:break-word}
.tag{display:inline-block;font-size:11px;padding:0 6px;border-radius:4px;background:var(--line);color:var(--muted);margin-left:4px}
.note{color:var(--muted);font-size:13px;margin:10px 0 0}
.note.bad{color:var(--bad)}
.empty{color:var(--muted);margin:0}
details.panel summary{cursor:pointer;font-weight:600}
details.panel[open] summary{margin-bottom:10px}
.journal{margin:0;padding-left:20px;font-size:13px}
.journal .checkpoint{color:var(--muted)}
footer{color:var(--muted);font-size:12px;margin-top:24px}
.versions{display:flex;flex-wrap:wrap;gap:4px 16px;margin-top:4px}
@media (max-width:600px){main{padding:20px 14px 32px}.cards{grid-template-columns:repeat(2,minmax(0,1fr))}.card-value{font-size:19px}}
@media print{body{background:#fff}.panel,.card{break-inside:avoid}details.panel{display:block}}
`;
