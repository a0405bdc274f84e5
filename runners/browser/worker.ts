/**
 * The training worker: runs core/train's loop (through the Promise API, trainWith) on `navigator.gpu`
 * off the page's main thread, so the page stays responsive. The loop's services come from the browser:
 *   - Compute: a WebGPU backend on this worker's navigator.gpu (created once, again after a lost device);
 *   - Files: runners/browser/files.ts: picked files in memory, run outputs and checkpoints in OPFS
 *     (/opfs/runs/<name>), hub downloads cached in OPFS (/opfs/hub), fetched by core/io/hub.ts;
 *   - TrainEvents: every event is posted to the page.
 * Pause and Stop abort the run (the loop writes a checkpoint, then the adapter and report); Resume starts
 * it again with `resume: true` from that checkpoint, also after a reload.
 */
import "../../plugins/mod.ts";
import { type WebGPUBackend, createWebGPUBackend } from "../../core/backend/webgpu/webgpu-backend.ts";
import { trainWith } from "../../core/train/api.ts";
import type { TrainEvent } from "../../core/train/events.ts";
import { DEMO_EVAL_ROWS, DEMO_TRAIN_ROWS, prepareDemoData } from "../demo/demo.ts";
import { describeError } from "./errors.ts";
import { type BrowserFiles, browserFiles } from "./files.ts";
import type { Download, FromWorker, RunRequest, SavedRun, ToWorker } from "./protocol.ts";

/** Written by build.ts next to the page: the demo model, served in the hub's URL layout under hub/. */
interface DemoManifest {
  readonly repo: string;
  readonly revision: string;
}

const scope = globalThis as unknown as {
  postMessage(message: FromWorker): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  addEventListener(type: string, listener: (e: Event & { reason?: unknown; error?: unknown; message?: string }) => void): void;
  location: { href: string };
  navigator: { gpu?: GPU };
};
const post = (message: FromWorker) => scope.postMessage(message);

let files: BrowserFiles | null = null;
let backend: WebGPUBackend | null = null;
let controller: AbortController | null = null;
let intent: "pause" | "stop" | null = null;

async function getFiles(): Promise<BrowserFiles> {
  files ??= await browserFiles();
  return files;
}

async function getBackend(): Promise<WebGPUBackend> {
  if (backend) return backend;
  const created = await createWebGPUBackend({ gpu: scope.navigator.gpu! });
  backend = created;
  void created.device.lost.then((info) => {
    if (backend === created) backend = null;
    if (info.reason !== "destroyed") {
      post({ type: "error", fatal: false, error: { tag: "DeviceLostError", title: "The GPU device was lost", message: info.message || "the device was lost", hint: "Press Resume to continue from the last checkpoint; a new device is requested." } });
    }
  });
  return created;
}

/** Where runs keep their outputs and checkpoints: OPFS when the browser has it, else memory (lost on reload). */
function root(fs: BrowserFiles): string {
  return fs.opfs ? "/opfs" : "/mem";
}

const encoder = new TextEncoder();
const RUN_FILE = "browser-run.json";

async function writeRunFile(fs: BrowserFiles, out: string, request: RunRequest, status: string, totalSteps: number | null): Promise<void> {
  await fs.writeAtomic(fs.join(out, RUN_FILE), [encoder.encode(JSON.stringify({ request, status, totalSteps }, null, 2))]);
}

async function readJsonLines(fs: BrowserFiles, path: string): Promise<TrainEvent[]> {
  if (!(await fs.exists(path))) return [];
  return (await fs.readText(path))
    .split("\n")
    .filter((line) => line.trim() !== "")
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as TrainEvent];
      } catch {
        return []; // a line cut by a reload mid-write
      }
    });
}

/** Runs in OPFS that have a checkpoint and did not finish: the page offers to resume them. */
async function savedRuns(fs: BrowserFiles): Promise<SavedRun[]> {
  if (!fs.opfs) return [];
  const runs: SavedRun[] = [];
  for (const runName of ["demo", ...(await listDirs(fs, "/opfs/runs")).filter((n) => n !== "demo")]) {
    const out = `/opfs/runs/${runName}`;
    try {
      if (!(await fs.exists(fs.join(out, RUN_FILE))) || !(await fs.exists(fs.join(out, "checkpoint", "trainer_state.safetensors")))) continue;
      const saved = JSON.parse(await fs.readText(fs.join(out, RUN_FILE))) as { request: RunRequest; status: string; totalSteps: number | null };
      if (saved.status === "completed" || saved.status === "early-stopped" || saved.status === "stopped") continue;
      const steps = (await readJsonLines(fs, fs.join(out, "metrics.jsonl"))).filter((e) => e.type === "step");
      runs.push({ runName, request: saved.request, status: saved.status, totalSteps: saved.totalSteps, step: steps.at(-1)?.type === "step" ? (steps.at(-1) as { step: number }).step : 0 });
    } catch {
      // an unreadable leftover is not offered
    }
  }
  return runs;
}

async function listDirs(fs: BrowserFiles, dir: string): Promise<string[]> {
  const opfs = fs.opfs;
  if (!opfs) return [];
  const storage = (globalThis as unknown as { navigator: { storage: { getDirectory(): Promise<FileSystemDirectoryHandle> } } }).navigator.storage;
  let handle = await storage.getDirectory();
  for (const part of dir.replace(/^\/opfs\/?/, "").split("/").filter(Boolean)) {
    try {
      handle = await handle.getDirectoryHandle(part);
    } catch {
      return [];
    }
  }
  const names: string[] = [];
  for await (const [name, entry] of (handle as unknown as { entries(): AsyncIterable<[string, { kind: string }]> }).entries()) if (entry.kind === "directory") names.push(name);
  return names.sort();
}

/** Describes what was picked: which model files and which GLUE task folders are there. */
function summarizePick(target: "model" | "data", paths: readonly string[]): { summary: string; ok: boolean } {
  if (target === "model") {
    const names = new Set(paths.map((p) => p.split("/").pop()));
    const missing = ["config.json", "tokenizer.json"].filter((n) => !names.has(n));
    const weights = names.has("model.safetensors") || names.has("model.safetensors.index.json");
    if (!weights) missing.push("model.safetensors");
    return missing.length ? { ok: false, summary: `${paths.length} files; missing ${missing.join(", ")}` } : { ok: true, summary: `${paths.length} files: ${[...names].filter((n) => /\.(json|safetensors)$/.test(n!)).join(", ")}` };
  }
  const tasks = [...new Set(paths.map((p) => p.split("/")).filter((parts) => parts.length >= 2).map((parts) => parts.at(-2)!))];
  return { ok: paths.length > 0, summary: `${paths.length} files${tasks.length ? ` in ${tasks.join(", ")}` : ""}` };
}

async function fetchManifest(): Promise<DemoManifest> {
  const url = new URL("demo.json", scope.location.href);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`the demo model's manifest ${url} is missing (HTTP ${response.status}); rebuild the page with npm run build:web`);
  return (await response.json()) as DemoManifest;
}

async function start(request: RunRequest): Promise<void> {
  // made first, so that Stop while the model loads ends the run before its first step
  const control = new AbortController();
  controller = control;
  intent = null;
  const fs = await getFiles();
  const out = `${root(fs)}/runs/${request.runName}`;
  let model: string;
  let data: string;
  let hub: { cacheDir: string; endpoint?: string; revision?: string; onProgress?: (file: string, received: number, total: number | undefined) => void } = { cacheDir: `${root(fs)}/hub` };
  let lastProgress = 0;
  const onProgress = (file: string, received: number, total: number | undefined) => {
    const now = Date.now();
    if (now - lastProgress < 200 && received !== total) return;
    lastProgress = now;
    post({ type: "status", message: `downloading ${file}: ${(received / 1e6).toFixed(1)}${total ? ` of ${(total / 1e6).toFixed(1)}` : ""} MB` });
  };
  if (request.kind === "demo") {
    const manifest = await fetchManifest();
    model = manifest.repo;
    hub = { ...hub, endpoint: new URL("hub", scope.location.href).href, revision: manifest.revision, onProgress };
    data = "/mem/demo-data";
    if (!(await fs.exists(fs.join(data, "SST-2", "train.tsv")))) {
      post({ type: "status", message: `writing the synthetic SST-2 task (${DEMO_TRAIN_ROWS} + ${DEMO_EVAL_ROWS} sentences)` });
      await prepareDemoData(fs, data);
    }
  } else {
    model = request.model?.trim() || "/picked/model";
    data = "/picked/data";
    hub = { ...hub, onProgress };
    if (model === "/picked/model" && !(await fs.exists(fs.join(model, "config.json")))) {
      throw Object.assign(new Error("no model folder was picked (or it has no config.json): pick a Hugging Face T5 folder, drop one on the page, or type a hub id"), { _tag: "FileNotFoundError" });
    }
    if (!(await fs.exists(data))) throw Object.assign(new Error("no GLUE data folder was picked: pick the folder that holds the task's folder (e.g. SST-2/)"), { _tag: "FileNotFoundError" });
  }
  post({ type: "status", message: "requesting the WebGPU device" });
  const gpu = await getBackend();
  if (!request.resume && fs.opfs && out.startsWith("/opfs/")) await fs.opfs.removeTree(out.slice("/opfs".length));
  await fs.mkdirp(out);
  await writeRunFile(fs, out, request, "running", null);

  const signal = control.signal;
  const metricsPath = fs.join(out, "metrics.jsonl");
  let totalSteps: number | null = null;
  const config = { ...request.options, model, data, out, resume: request.resume };
  const result = await trainWith(config as Parameters<typeof trainWith>[0], {
    backend: gpu,
    fs,
    hub,
    signal,
    onEvent: (event) => {
      post({ type: "event", event });
      if (event.type === "start") {
        totalSteps = event.totalSteps;
        void writeRunFile(fs, out, request, "running", totalSteps);
        if (event.startStep > 0) void readJsonLines(fs, metricsPath).then((events) => post({ type: "history", events }));
      }
    },
  });
  controller = null;
  const paused = result.reason === "aborted" && intent === "pause";
  const status = result.reason === "aborted" ? (paused ? "paused" : "stopped") : result.reason;
  await writeRunFile(fs, out, request, status, totalSteps);
  const downloads: Download[] = [];
  for (const name of ["adapter_config.json", "adapter_model.safetensors", "report.html", "metrics.jsonl", "run.json"]) {
    const path = fs.join(out, name);
    if (await fs.exists(path)) downloads.push({ name, blob: await fs.blob(path) });
  }
  post({ type: "done", reason: result.reason, paused, downloads });
}

async function handle(message: ToWorker): Promise<void> {
  switch (message.type) {
    case "hello": {
      const fs = await getFiles();
      if (!scope.navigator.gpu) {
        post({ type: "error", fatal: true, error: describeError(Object.assign(new Error("this browser exposes no navigator.gpu to workers"), { _tag: "NoWebGPUAdapterError" })) });
        return;
      }
      const gpu = await getBackend();
      post({ type: "ready", adapter: gpu.adapterInfo, opfs: fs.opfs !== null, saved: await savedRuns(fs) });
      return;
    }
    case "pick": {
      const fs = await getFiles();
      const dir = `/picked/${message.target}`;
      fs.memory.clear(dir);
      for (const { path, file } of message.entries) fs.memory.put(`${dir}/${path}`, file);
      post({ type: "picked", target: message.target, ...summarizePick(message.target, message.entries.map((e) => e.path)) });
      return;
    }
    case "start":
      return start(message.request);
    case "pause":
    case "stop":
      intent = message.type;
      controller?.abort();
      return;
    case "forget": {
      const fs = await getFiles();
      await fs.opfs?.removeTree(`/runs/${message.runName}`);
      post({ type: "ready", adapter: backend?.adapterInfo ?? {}, opfs: fs.opfs !== null, saved: await savedRuns(fs) });
      return;
    }
    default:
      message satisfies never;
  }
}

scope.onmessage = (e) => {
  handle(e.data).catch((error: unknown) => {
    controller = null;
    post({ type: "error", fatal: e.data.type === "hello", error: describeError(error) });
  });
};
scope.addEventListener("unhandledrejection", (e) => post({ type: "error", fatal: false, error: describeError(e.reason) }));
scope.addEventListener("error", (e) => post({ type: "error", fatal: false, error: describeError(e.error ?? e.message) }));
