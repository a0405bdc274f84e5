/**
 * Progress of a training run as text, for any host: a live bar on a terminal (`tty`), one plain line now
 * and then for logs and CI (`lines`), or one JSON object per event for other programs (`json`).
 *
 * Runtime-neutral: the host supplies `write` (stdout, a DOM element, a log file) and the terminal width.
 * The number formatters below are shared with report.ts so the terminal and report.html read alike.
 */
import type { CheckpointEvent, EndEvent, EvalEvent, StartEvent, StepEvent, TrainEvent } from "./events.ts";

// ---------------------------------------------------------------------------------------------------------
// Number formatting

/** A placeholder for values that are missing or not finite (a NaN loss, an unknown ETA). */
const UNKNOWN = "–";

/** `850ms`, `3.2s`, `12s`, `1m05s`, `1h02m`, `2d03h`: two units at most, the larger first. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return UNKNOWN;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  // One decimal under 10 s, where a whole second is a large relative error.
  if (seconds < 10) return `${(Math.floor(seconds * 10) / 10).toFixed(1)}s`;
  const totalSeconds = Math.round(seconds);
  if (totalSeconds < 60) return `${totalSeconds}s`;
  const totalMinutes = Math.floor(totalSeconds / 60);
  if (totalMinutes < 60) return `${totalMinutes}m${pad2(totalSeconds % 60)}s`;
  const totalHours = Math.floor(totalMinutes / 60);
  if (totalHours < 24) return `${totalHours}h${pad2(totalMinutes % 60)}m`;
  return `${Math.floor(totalHours / 24)}d${pad2(totalHours % 24)}h`;
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

/** A loss: three decimals (`0.412`), or three significant digits in exponent form when tiny. */
export function formatLoss(loss: number): string {
  if (!Number.isFinite(loss)) return String(loss); // "NaN", "Infinity": the reader must see it
  if (loss !== 0 && Math.abs(loss) < 0.01) return loss.toExponential(2);
  return loss.toFixed(3);
}

/** A learning rate in the form people configure it: `4.0e-4`. */
export function formatLr(lr: number): string {
  if (!Number.isFinite(lr)) return UNKNOWN;
  if (lr === 0) return "0";
  return lr.toExponential(1).replace("e+", "e"); // 4.0e-4, 1.0e0
}

/** A GLUE metric (accuracy, F1, MCC, correlations): four decimals. */
export function formatMetric(value: number): string {
  return Number.isFinite(value) ? value.toFixed(4) : UNKNOWN;
}

/** Examples (or steps) per second: one decimal below 100, whole numbers above. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return UNKNOWN;
  return perSecond < 100 ? perSecond.toFixed(1) : String(Math.round(perSecond));
}

/** An exact count with thousands separators, independent of the host's locale: `60,506,624`. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return UNKNOWN;
  const sign = n < 0 ? "-" : "";
  return sign + String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A count in short form: `950`, `12.3K`, `1.23M`, `2.85B`. */
export function formatCompactCount(n: number): string {
  if (!Number.isFinite(n)) return UNKNOWN;
  const magnitude = Math.abs(n);
  const units: [number, string][] = [[1e9, "B"], [1e6, "M"], [1e3, "K"]];
  for (const [size, suffix] of units) {
    if (magnitude >= size) return `${trimPrecision(n / size)}${suffix}`;
  }
  return String(Math.round(n));
}

function trimPrecision(x: number): string {
  return Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** A percentage that is already in % (adapters are often far below 1 %): `12.5%`, `0.412%`, `0.00213%`. */
export function formatPercent(percent: number): string {
  if (!Number.isFinite(percent)) return UNKNOWN;
  if (percent === 0) return "0%";
  if (Math.abs(percent) >= 10) return `${percent.toFixed(1)}%`;
  if (Math.abs(percent) >= 1) return `${percent.toFixed(2)}%`;
  // Three significant digits, without switching to exponent form for the small ratios adapters have.
  const decimals = Math.min(10, 2 - Math.floor(Math.log10(Math.abs(percent))));
  return `${percent.toFixed(decimals)}%`;
}

/** "task · method" with whatever the start event knows; shared by the terminal header and the report. */
export function describeRun(start: StartEvent): string {
  return `${start.task} · ${start.method}`;
}

/** The metrics of an evaluation, the main one first: `accuracy 0.9128 · f1 0.9001`. */
export function formatEvalMetrics(metrics: Readonly<Record<string, number>>, mainMetric?: string): string {
  const names = Object.keys(metrics);
  if (mainMetric !== undefined && names.includes(mainMetric)) names.sort((a, b) => Number(b === mainMetric) - Number(a === mainMetric));
  return names.map((name) => `${name} ${formatMetric(metrics[name]!)}`).join(" · ");
}

// ---------------------------------------------------------------------------------------------------------
// Progress printer

export type ProgressMode = "tty" | "lines" | "json";

export interface ProgressPrinterOptions {
  /** `tty`: a live bar redrawn in place; `lines`: plain lines, now and then; `json`: one JSON object per event. */
  readonly mode: ProgressMode;
  /** Where the text goes. Every call is a complete chunk (lines end with "\n"; the bar starts with "\r"). */
  readonly write: (text: string) => void;
  /** Terminal width for `tty` (default 80): the bar never wraps, since a wrapped line cannot be redrawn. */
  readonly columns?: number;
  /** `lines`: print a step every N steps (default: about 20 lines over the run). */
  readonly everySteps?: number;
  /** `lines`: also print a step when this much run time has passed since the last printed one (default 5 s). */
  readonly everyMs?: number;
}

/** Carriage return, then ANSI "erase entire line": the cursor is at column 0 of an empty line. */
const CLEAR_LINE = "\r\x1b[2K";

/** Returns a sink for the loop's events that writes them in the chosen mode. */
export function createProgressPrinter(options: ProgressPrinterOptions): (event: TrainEvent) => void {
  switch (options.mode) {
    case "json":
      // NaN and Infinity become null in JSON: a reader sees a missing loss, never an invalid document.
      return (event) => options.write(`${JSON.stringify(event)}\n`);
    case "lines":
      return createLinesPrinter(options);
    case "tty":
      return createTtyPrinter(options);
    default:
      return options.mode satisfies never;
  }
}

function createTtyPrinter(options: ProgressPrinterOptions): (event: TrainEvent) => void {
  const columns = Math.max(20, Math.floor(options.columns ?? 80));
  let lastBar: string | null = null;

  // A permanent line goes above the bar: clear the bar, print the line, draw the bar again below it.
  const printAboveBar = (line: string): void => {
    options.write(`${CLEAR_LINE}${line}\n${lastBar ?? ""}`);
  };

  return (event) => {
    switch (event.type) {
      case "start":
        for (const line of startLines(event)) printAboveBar(line);
        return;
      case "step":
        lastBar = CLEAR_LINE + renderBarLine(event, columns);
        options.write(lastBar);
        return;
      case "eval":
        printAboveBar(evalLine(event));
        return;
      case "log":
        printAboveBar(event.message);
        return;
      case "checkpoint":
        printAboveBar(checkpointLine(event));
        return;
      case "end":
        // The bar's last state stays on screen as a record of the run; the summary goes below it.
        if (lastBar !== null) options.write("\n");
        lastBar = null;
        options.write(`${endLine(event)}\n`);
        return;
      default:
        return event satisfies never;
    }
  };
}

function createLinesPrinter(options: ProgressPrinterOptions): (event: TrainEvent) => void {
  const everyMs = options.everyMs ?? 5000;
  let everySteps = options.everySteps ?? 0;
  let lastPrintedElapsedMs = -Infinity;
  let firstStepPrinted = false;
  const print = (line: string): void => options.write(`${line}\n`);

  return (event) => {
    switch (event.type) {
      case "start":
        // About 20 step lines over the whole run keeps a CI log readable at any run length.
        if (options.everySteps === undefined) everySteps = Math.max(1, Math.round((event.totalSteps - event.startStep) / 20));
        for (const line of startLines(event)) print(line);
        return;
      case "step": {
        if (everySteps === 0) everySteps = Math.max(1, Math.round(event.totalSteps / 20));
        const due = !firstStepPrinted || event.step % everySteps === 0 || event.step >= event.totalSteps || event.elapsedMs - lastPrintedElapsedMs >= everyMs;
        if (!due) return;
        firstStepPrinted = true;
        lastPrintedElapsedMs = event.elapsedMs;
        print(plainStepLine(event));
        return;
      }
      case "eval":
        print(evalLine(event));
        return;
      case "log":
        print(event.message);
        return;
      case "checkpoint":
        print(checkpointLine(event));
        return;
      case "end":
        print(endLine(event));
        return;
      default:
        return event satisfies never;
    }
  };
}

function startLines(event: StartEvent): string[] {
  const { trainable, total, percent } = event.parameters;
  const resumed = event.startStep > 0 ? `, resuming at step ${event.startStep}` : "";
  const lines = [
    `${describeRun(event)} on ${event.backend} (${event.runtime}): ${formatCount(trainable)} trainable parameters ` +
      `(${formatPercent(percent)} of ${formatCompactCount(total)}), ${event.totalSteps} steps, ` +
      `${formatCount(event.trainExamples)} training / ${formatCount(event.evalExamples)} eval examples${resumed}`,
  ];
  for (const warning of event.warnings) lines.push(`warning: ${warning}`);
  return lines;
}

function stepPercent(event: StepEvent): number {
  return event.totalSteps > 0 ? Math.min(100, Math.max(0, (100 * event.step) / event.totalSteps)) : 0;
}

/** `step 120/500 [█████░░░░░] 24% loss 0.412 lr 4.0e-4 38.2 ex/s ETA 1m32s`, fitted to the width. */
export function renderBarLine(event: StepEvent, columns: number): string {
  const percent = stepPercent(event);
  const head = `step ${event.step}/${event.totalSteps}`;
  const tail = `${Math.floor(percent)}% loss ${formatLoss(event.loss)} lr ${formatLr(event.lr)} ${formatRate(event.examplesPerSecond)} ex/s ETA ${formatDuration(event.etaMs)}`;
  // One column is kept free: writing the last column makes some terminals wrap before the next "\r".
  const room = columns - 1 - head.length - tail.length - 4; // the spaces and brackets around the bar
  const barWidth = Math.min(30, room);
  if (barWidth < 5) return fitToWidth(`${head} ${tail}`, columns - 1);
  const filled = Math.round((barWidth * percent) / 100);
  return `${head} [${"█".repeat(filled)}${"░".repeat(barWidth - filled)}] ${tail}`;
}

function fitToWidth(line: string, width: number): string {
  return line.length <= width ? line : `${line.slice(0, Math.max(0, width - 1))}…`;
}

function plainStepLine(event: StepEvent): string {
  return (
    `step ${event.step}/${event.totalSteps} ${Math.floor(stepPercent(event))}% epoch ${formatEpoch(event.epoch)} ` +
    `loss ${formatLoss(event.loss)} lr ${formatLr(event.lr)} grad-norm ${formatGradNorm(event.gradNorm)} ` +
    `${formatRate(event.examplesPerSecond)} ex/s elapsed ${formatDuration(event.elapsedMs)} ETA ${formatDuration(event.etaMs)}`
  );
}

function formatEpoch(epoch: number): string {
  return Number.isInteger(epoch) ? String(epoch) : epoch.toFixed(2);
}

function formatGradNorm(norm: number): string {
  return Number.isFinite(norm) ? (Math.abs(norm) >= 100 ? norm.toFixed(0) : norm.toPrecision(3)) : String(norm);
}

function evalLine(event: EvalEvent): string {
  const best = event.best ? " (best so far)" : "";
  return `eval at step ${event.step}: ${formatEvalMetrics(event.metrics, event.mainMetric)}${best} on ${formatCount(event.examples)} examples`;
}

function checkpointLine(event: CheckpointEvent): string {
  return `checkpoint at step ${event.step}: ${event.path}`;
}

function endLine(event: EndEvent): string {
  const how = event.reason === "completed" ? "finished" : event.reason === "early-stopped" ? "stopped early" : "aborted";
  const best = event.best ? `; best ${event.best.metric} ${formatMetric(event.best.score)} at step ${event.best.step}` : "";
  return `${how} at step ${event.step} in ${formatDuration(event.timings.totalMs)} (${formatRate(event.timings.examplesPerSecond)} ex/s)${best}`;
}
