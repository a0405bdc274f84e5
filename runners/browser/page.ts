/**
 * The page: forms, live progress and charts, controls, downloads and errors. Training runs in worker.ts
 * (a Web Worker), so this thread only draws. Method forms are generated from each registered plugin's
 * valibot schema (schema-form.ts), the training form from core/train/config.ts's schema.
 *
 * For tests and curious users, `window.webpeft` holds the run's events and state.
 */
import "../../plugins/mod.ts";
import { GLUE_TASK_NAMES } from "../../datasets/glue/tasks.ts";
import { registeredPlugins } from "../../core/peft/plugin.ts";
import { trainConfigSchema } from "../../core/train/config.ts";
import type { EvalEvent, StartEvent, StepEvent, TrainEvent } from "../../core/train/events.ts";
import { formatCompactCount, formatDuration, formatEvalMetrics, formatLoss, formatMetric, formatPercent, formatRate } from "../../core/train/progress.ts";
import { type ChartPoint, renderLineChart, smoothSeries } from "../../core/train/report.ts";
import { demoTrainConfig } from "../demo/demo.ts";
import { describeError } from "./errors.ts";
import type { ErrorReport, FromWorker, PickedEntry, RunRequest, SavedRun, ToWorker } from "./protocol.ts";
import { type SchemaForm, schemaForm } from "./schema-form.ts";

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`page: #${id} is missing`);
  return element as T;
};

type RunState = "starting" | "idle" | "loading" | "running" | "pausing" | "paused" | "stopping" | "done" | "failed" | "unavailable";

interface PageState {
  state: RunState;
  events: TrainEvent[];
  steps: Map<number, StepEvent>;
  evals: Map<number, EvalEvent>;
  start: StartEvent | null;
  request: RunRequest | null;
  adapter: Readonly<Record<string, string>> | null;
  errors: ErrorReport[];
}

const page: PageState = { state: "starting", events: [], steps: new Map(), evals: new Map(), start: null, request: null, adapter: null, errors: [] };
(globalThis as unknown as { webpeft: PageState }).webpeft = page;

// ---------------------------------------------------------------------------------------------------------
// Errors: always in the page

function showError(error: ErrorReport): void {
  page.errors.push(error);
  $("error-title").textContent = error.title;
  $("error-message").textContent = error.message;
  $("error-hint").textContent = error.hint;
  $("error").hidden = false;
  $("error").scrollIntoView({ block: "nearest" });
}

function clearError(): void {
  $("error").hidden = true;
}

function log(message: string, warn = false): void {
  const item = document.createElement("li");
  item.textContent = message;
  if (warn) item.className = "warn";
  const list = $("log");
  list.append(item);
  list.scrollTop = list.scrollHeight;
}

// ---------------------------------------------------------------------------------------------------------
// Forms

const demo = demoTrainConfig("", "", "");
const TRAIN_KEYS = ["maxSteps", "batchSize", "lr", "warmup", "evalEvery", "maxEvalExamples", "maxSourceLength", "seed", "schedule", "weightDecay", "gradientAccumulation", "maxTrainExamples"];
const TRAIN_LABELS: Record<string, string> = { maxSteps: "steps", lr: "learning rate", evalEvery: "evaluate every (steps)", maxEvalExamples: "eval examples (max)", maxSourceLength: "max source tokens", maxTrainExamples: "train examples (max)", gradientAccumulation: "gradient accumulation" };
const trainForm = schemaForm(trainConfigSchema, { keys: TRAIN_KEYS, labels: TRAIN_LABELS, idPrefix: "train", values: demo, errorTag: "TrainConfigError" });
$("train-form").append(trainForm.element);

const plugins = registeredPlugins();
const methodForms = new Map<string, SchemaForm>();
const methodSelect = $<HTMLSelectElement>("method");
for (const plugin of plugins) methodSelect.append(new Option(plugin.name, plugin.name));
methodSelect.value = demo.method ?? "krona";

function methodForm(name: string): SchemaForm {
  let form = methodForms.get(name);
  if (!form) {
    const plugin = plugins.find((p) => p.name === name)!;
    form = schemaForm(plugin.schema, { idPrefix: `method-${name}`, values: name === demo.method ? (demo.methodConfig ?? {}) : {}, errorTag: "PluginConfigError" });
    methodForms.set(name, form);
  }
  return form;
}

function showMethod(): void {
  const plugin = plugins.find((p) => p.name === methodSelect.value);
  $("method-description").textContent = plugin?.description ?? "";
  $("method-form").replaceChildren(methodForm(methodSelect.value).element);
}
methodSelect.addEventListener("change", showMethod);
showMethod();

const taskSelect = $<HTMLSelectElement>("task");
for (const name of GLUE_TASK_NAMES) taskSelect.append(new Option(name, name));
taskSelect.value = "sst2";

function setFormsDisabled(disabled: boolean): void {
  trainForm.setDisabled(disabled);
  for (const form of methodForms.values()) form.setDisabled(disabled);
  methodSelect.disabled = disabled;
}

// ---------------------------------------------------------------------------------------------------------
// The worker

const worker = new Worker(new URL("worker.js", document.baseURI), { type: "module" });
const send = (message: ToWorker) => worker.postMessage(message);
worker.addEventListener("error", (e) => {
  showError({ tag: "WorkerError", title: "The training worker could not start", message: e.message || "worker.js failed to load", hint: "Reload the page; if this persists, rebuild it with npm run build:web." });
  setState("failed");
});

let picked = { model: false, data: false };

worker.addEventListener("message", (e: MessageEvent<FromWorker>) => {
  const message = e.data;
  switch (message.type) {
    case "ready": {
      page.adapter = message.adapter;
      const name = [message.adapter.vendor, message.adapter.architecture, message.adapter.description].filter(Boolean).join(" · ") || "adapter found";
      const pill = $("gpu-status");
      pill.textContent = `WebGPU: ${name}`;
      pill.className = "pill ok";
      if (!message.opfs) log("this browser offers no Origin Private File System: checkpoints stay in memory and a reload cannot resume", true);
      showSaved(message.saved);
      if (page.state === "starting") setState("idle");
      return;
    }
    case "picked": {
      const summary = $(`${message.target}-summary`);
      summary.textContent = message.summary;
      summary.className = message.ok ? "summary" : "summary bad";
      picked = { ...picked, [message.target]: true };
      updateButtons();
      return;
    }
    case "status":
      $("run-state").textContent = message.message;
      log(message.message);
      return;
    case "event":
      onEvent(message.event);
      return;
    case "history":
      for (const event of message.events) record(event);
      scheduleDraw();
      return;
    case "done":
      onDone(message);
      return;
    case "error":
      showError(message.error);
      log(`error: ${message.error.title}: ${message.error.message}`, true);
      if (message.fatal) {
        $("gpu-status").textContent = "WebGPU unavailable";
        $("gpu-status").className = "pill bad";
        setState("unavailable");
      } else if (page.state !== "idle" && page.state !== "done") {
        // a failed run can continue from its last checkpoint, if it wrote one
        setState(page.steps.size > 0 ? "paused" : "failed");
      }
      return;
    default:
      message satisfies never;
  }
});

// ---------------------------------------------------------------------------------------------------------
// Run state and controls

function setState(state: RunState): void {
  page.state = state;
  const labels: Record<RunState, string> = {
    starting: "starting…", idle: "idle", loading: "loading model and data…", running: "training", pausing: "pausing after this step…", paused: "paused (checkpoint saved)",
    stopping: "stopping after this step…", done: "finished", failed: "stopped by an error", unavailable: "WebGPU unavailable",
  };
  $("run-state").textContent = labels[state];
  updateButtons();
}

function updateButtons(): void {
  const s = page.state;
  const canStart = s === "idle" || s === "done" || s === "failed" || s === "paused";
  $<HTMLButtonElement>("demo-button").disabled = !canStart;
  $<HTMLButtonElement>("custom-button").disabled = !canStart || !(picked.model || $<HTMLInputElement>("hub-id").value.trim()) || !picked.data;
  $<HTMLButtonElement>("pause-button").disabled = s !== "running";
  $<HTMLButtonElement>("resume-button").disabled = !(s === "paused" || (s === "failed" && page.request !== null && page.steps.size > 0));
  $<HTMLButtonElement>("stop-button").disabled = !(s === "running" || s === "loading" || s === "paused");
  setFormsDisabled(!canStart);
}

function resetRun(): void {
  page.events = [];
  page.steps.clear();
  page.evals.clear();
  page.start = null;
  for (const id of ["stat-step", "stat-loss", "stat-rate", "stat-eta", "stat-score", "stat-params"]) $(id).textContent = "–";
  $("stat-params-note").textContent = "";
  $("stat-metric-name").textContent = "Eval score";
  $("eval-caption").textContent = "Evaluation";
  $("progress").style.width = "0";
  $("results").hidden = true;
  $("downloads").replaceChildren();
  drawCharts();
}

function readSettings(): { options: Record<string, unknown> } | null {
  try {
    const options = { ...demo, ...trainForm.read(), method: methodSelect.value, methodConfig: methodForm(methodSelect.value).read() } as Record<string, unknown>;
    delete options.model;
    delete options.data;
    delete options.out;
    return { options };
  } catch (e) {
    showError(describeError(e));
    return null;
  }
}

function startRun(request: RunRequest): void {
  clearError();
  if (!request.resume) resetRun();
  page.request = request;
  $("run-title").textContent = request.kind === "demo" ? "Training: the demo" : `Training: ${request.runName}`;
  setState("loading");
  send({ type: "start", request });
}

$("demo-button").addEventListener("click", () => {
  const settings = readSettings();
  if (settings) startRun({ kind: "demo", runName: "demo", options: { ...settings.options, task: "sst2" }, resume: false });
});

$("custom-button").addEventListener("click", () => {
  const settings = readSettings();
  if (!settings) return;
  const task = taskSelect.value;
  startRun({ kind: "custom", runName: `${task}-${methodSelect.value}`, options: { ...settings.options, task }, model: $<HTMLInputElement>("hub-id").value.trim(), resume: false });
});
$("hub-id").addEventListener("input", updateButtons);

$("pause-button").addEventListener("click", () => {
  setState("pausing");
  send({ type: "pause" });
});
$("resume-button").addEventListener("click", () => {
  if (page.request) startRun({ ...page.request, resume: true });
});
$("stop-button").addEventListener("click", () => {
  if (page.state === "paused") {
    setState("done");
    return;
  }
  setState("stopping");
  send({ type: "stop" });
});

function showSaved(saved: readonly SavedRun[]): void {
  const box = $("saved-runs");
  box.replaceChildren();
  for (const run of saved) {
    const row = document.createElement("div");
    row.className = "saved";
    const text = document.createElement("span");
    text.textContent = `A ${run.status === "paused" ? "paused" : "interrupted"} run (${run.runName}) is at step ${run.step}${run.totalSteps ? ` of ${run.totalSteps}` : ""}.`;
    const resume = document.createElement("button");
    resume.textContent = "Resume";
    resume.addEventListener("click", () => {
      if (run.request.kind === "custom" && !run.request.model && !picked.model) {
        showError({ tag: "FileNotFoundError", title: "Pick the run's files again", message: `the run ${run.runName} trained on a picked folder; files picked before a reload are gone`, hint: "Pick the same model and data folders, then press Resume." });
        return;
      }
      row.remove();
      startRun({ ...run.request, resume: true });
    });
    const forget = document.createElement("button");
    forget.textContent = "Discard";
    forget.addEventListener("click", () => {
      row.remove();
      send({ type: "forget", runName: run.runName });
    });
    row.append(text, resume, forget);
    box.append(row);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Events → stats, charts, log

function record(event: TrainEvent): void {
  if (event.type === "step") page.steps.set(event.step, event);
  else if (event.type === "eval") page.evals.set(event.step, event);
}

function onEvent(event: TrainEvent): void {
  page.events.push(event);
  record(event);
  switch (event.type) {
    case "start":
      page.start = event;
      setState("running");
      $("stat-params").textContent = formatCompactCount(event.parameters.trainable);
      $("stat-params-note").textContent = `${formatPercent(event.parameters.percent)} of ${formatCompactCount(event.parameters.total)}`;
      $("stat-step").textContent = `${event.startStep} / ${event.totalSteps}`;
      log(`${event.task} · ${event.method} on ${event.backend} (${event.runtime}): ${event.trainExamples} training and ${event.evalExamples} evaluation examples, ${event.totalSteps} steps${event.startStep ? `, resuming at step ${event.startStep}` : ""}`);
      for (const warning of event.warnings) log(`note: ${warning}`, true);
      break;
    case "step":
      $("stat-step").textContent = `${event.step} / ${event.totalSteps}`;
      $("stat-loss").textContent = formatLoss(event.loss);
      $("stat-rate").textContent = formatRate(event.examplesPerSecond);
      $("stat-eta").textContent = event.step >= event.totalSteps ? "done" : formatDuration(event.etaMs);
      $("progress").style.width = `${(100 * event.step) / event.totalSteps}%`;
      break;
    case "eval":
      $("stat-metric-name").textContent = event.mainMetric.replace(/_/g, " ");
      $("stat-score").textContent = formatMetric(event.score);
      $("eval-caption").textContent = `Evaluation: ${event.mainMetric.replace(/_/g, " ")} on ${event.examples} examples`;
      log(`step ${event.step}: ${formatEvalMetrics(event.metrics, event.mainMetric)}${event.best ? " (best so far)" : ""}`);
      break;
    case "checkpoint":
      log(`checkpoint at step ${event.step}`);
      break;
    case "log":
      log(event.message);
      break;
    case "end":
      log(`${event.reason} at step ${event.step} in ${formatDuration(event.timings.totalMs)} (${formatRate(event.timings.examplesPerSecond)} examples/s while training)`);
      break;
  }
  scheduleDraw();
}

function onDone(message: Extract<FromWorker, { type: "done" }>): void {
  setState(message.paused ? "paused" : "done");
  const end = [...page.events].reverse().find((e) => e.type === "end");
  const links = $("downloads");
  links.replaceChildren();
  for (const { name, blob } of message.downloads) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.textContent = name;
    links.append(a);
  }
  const best = end?.type === "end" ? end.best : null;
  $("results-text").textContent =
    (message.paused ? "Paused: the checkpoint is saved in this browser, so Resume continues exactly (also after a reload). " : "") +
    (best ? `Best ${best.metric} ${formatMetric(best.score)} at step ${best.step}. ` : "") +
    "The adapter is in Hugging Face PEFT's format (load it with PeftModel.from_pretrained); report.html is the same report the command line writes.";
  $("results").hidden = false;
}

let drawPending = false;
function scheduleDraw(): void {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    drawCharts();
  });
}

/** Tick labels with as many decimals as the data's range needs (a flat loss of 7.1716 is not "7.17 7.17 7.17"). */
function axisFormat(values: readonly number[]): (y: number) => string {
  const finite = values.filter(Number.isFinite);
  const range = finite.length ? Math.max(...finite) - Math.min(...finite) : 1;
  // at most 4 decimals: the axis has 62 px for its labels; a flat line repeats a label, which is honest
  const decimals = range === 0 ? 2 : Math.min(4, Math.max(range >= 10 ? 0 : 1, Math.ceil(-Math.log10(range / 4))));
  return (y) => y.toFixed(decimals);
}

function chart(id: string, svg: string | null, empty: string): void {
  const box = $(id);
  if (svg === null) box.innerHTML = `<div class="empty">${empty}</div>`;
  else box.innerHTML = svg;
}

function drawCharts(): void {
  const total = page.start?.totalSteps ?? Math.max(1, ...page.steps.keys());
  const steps = [...page.steps.values()].sort((a, b) => a.step - b.step);
  const evals = [...page.evals.values()].sort((a, b) => a.step - b.step);
  const size = (id: string) => ({ width: Math.max(280, Math.round($(id).clientWidth)), height: Math.max(180, Math.round($(id).clientHeight)) });
  if (steps.length === 0) chart("loss-chart", null, "the loss appears here during training");
  else {
    const points: ChartPoint[] = steps.map((s) => ({ x: s.step, y: s.loss }));
    const smoothed = smoothSeries(points, steps.length > 20 ? 0.8 : 0.5);
    chart(
      "loss-chart",
      renderLineChart(
        [
          { id: "loss", label: "loss", color: "#9db7ea", points, strokeWidth: 1.2 },
          { id: "loss-smoothed", label: "loss (smoothed)", color: "#2f6fde", points: smoothed, strokeWidth: 2 },
        ],
        { title: "training loss", ...size("loss-chart"), xLabel: "step", yLabel: "loss", xDomain: [0, total], formatY: axisFormat(points.map((p) => p.y)) },
      ),
      "",
    );
  }
  if (evals.length === 0) chart("eval-chart", null, "scores appear after each evaluation");
  else {
    const metric = evals[0]!.mainMetric;
    const best = evals.reduce((a, b) => (b.score > a.score ? b : a));
    chart(
      "eval-chart",
      renderLineChart([{ id: "eval", label: metric, color: "#1a7f37", points: evals.map((e) => ({ x: e.step, y: e.score })), strokeWidth: 2, markers: true, highlight: { x: best.step, y: best.score } }], {
        title: `evaluation ${metric}`,
        ...size("eval-chart"),
        xLabel: "step",
        yLabel: metric.replace(/_/g, " "),
        xDomain: [0, total],
        formatY: axisFormat(evals.map((e) => e.score)),
      }),
      "",
    );
  }
}
window.addEventListener("resize", scheduleDraw);

// ---------------------------------------------------------------------------------------------------------
// Files: pickers and drag-and-drop

/** A picked folder's files with their paths inside it (the folder's own name dropped). */
function entriesOf(files: FileList | readonly File[]): PickedEntry[] {
  return Array.from(files as ArrayLike<File>).map((file) => {
    const relative = (file as File & { webkitRelativePath?: string }).webkitRelativePath || file.name;
    const parts = relative.split("/");
    return { path: parts.length > 1 ? parts.slice(1).join("/") : parts[0]!, file };
  });
}

for (const target of ["model", "data"] as const) {
  const input = $<HTMLInputElement>(`${target}-picker`);
  input.addEventListener("change", () => {
    if (input.files && input.files.length > 0) send({ type: "pick", target, entries: entriesOf(input.files) });
  });
}

interface FsEntry {
  readonly isFile: boolean;
  readonly isDirectory: boolean;
  readonly name: string;
  file?(success: (file: File) => void, failure: (e: unknown) => void): void;
  createReader?(): { readEntries(success: (entries: FsEntry[]) => void, failure: (e: unknown) => void): void };
}

async function walk(entry: FsEntry, prefix: string, out: PickedEntry[]): Promise<void> {
  if (entry.isFile && entry.file) {
    const file = await new Promise<File>((resolve, reject) => entry.file!(resolve, reject));
    out.push({ path: prefix + entry.name, file });
  } else if (entry.isDirectory && entry.createReader) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise<FsEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, `${prefix}${entry.name}/`, out);
    }
  }
}

const drop = $("drop-zone");
for (const type of ["dragenter", "dragover"]) {
  document.addEventListener(type, (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
}
document.addEventListener("dragleave", () => drop.classList.remove("over"));
document.addEventListener("drop", async (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const items = Array.from(e.dataTransfer?.items ?? []).map((item) => (item as unknown as { webkitGetAsEntry(): FsEntry | null }).webkitGetAsEntry()).filter((x): x is FsEntry => x !== null);
  try {
    for (const entry of items) {
      const files: PickedEntry[] = [];
      await walk(entry, "", files);
      // paths without the dropped folder's own name
      const inside = files.map((f) => ({ ...f, path: entry.isDirectory ? f.path.slice(entry.name.length + 1) : f.path }));
      const target = inside.some((f) => f.path === "config.json" || f.path.endsWith("model.safetensors")) ? "model" : "data";
      send({ type: "pick", target, entries: inside });
      $("custom").setAttribute("open", "");
    }
  } catch (error) {
    showError(describeError(error));
  }
});

// ---------------------------------------------------------------------------------------------------------
// Start-up

if (!("gpu" in navigator) || !navigator.gpu) {
  showError(describeError(Object.assign(new Error("navigator.gpu is undefined: this browser (or this page's context) has no WebGPU"), { _tag: "NoWebGPUAdapterError" })));
  $("gpu-status").textContent = "WebGPU unavailable";
  $("gpu-status").className = "pill bad";
  setState("unavailable");
} else {
  updateButtons();
  send({ type: "hello" });
}
