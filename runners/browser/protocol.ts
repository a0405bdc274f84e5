/**
 * Messages between the page (page.ts) and the training worker (worker.ts). Everything is structured-
 * clonable: Files and Blobs travel without copies, events are plain objects.
 */
import type { TrainEvent } from "../../core/train/events.ts";

/** What a run trains on: the shipped demo, or the user's own model (picked folder or hub id) and GLUE data. */
export interface RunRequest {
  readonly kind: "demo" | "custom";
  /** Folder name of the run under /opfs/runs/ (checkpoints live there, so a reload can resume). */
  readonly runName: string;
  /** Training options (see core/train/config.ts) except model, data and out, which the worker fills in. */
  readonly options: Readonly<Record<string, unknown>>;
  /** custom: a hub id or "" for the picked model folder. */
  readonly model?: string;
  /** Continue from the run's checkpoint. */
  readonly resume: boolean;
}

export interface PickedEntry {
  /** Path inside the picked folder ("config.json", "SST-2/train.tsv"). */
  readonly path: string;
  readonly file: File;
}

export type ToWorker =
  | { readonly type: "hello" }
  | { readonly type: "pick"; readonly target: "model" | "data"; readonly entries: readonly PickedEntry[] }
  | { readonly type: "start"; readonly request: RunRequest }
  | { readonly type: "pause" }
  | { readonly type: "stop" }
  | { readonly type: "forget"; readonly runName: string };

/** An error told in plain words: a title, the error's own message (names the file and problem), and what to do. */
export interface ErrorReport {
  readonly title: string;
  readonly message: string;
  readonly hint: string;
  readonly tag: string;
}

/** A run left in OPFS that can continue (paused, or interrupted by a reload). */
export interface SavedRun {
  readonly runName: string;
  readonly request: RunRequest;
  readonly step: number;
  readonly totalSteps: number | null;
  readonly status: string;
}

export interface Download {
  readonly name: string;
  readonly blob: Blob;
}

export type FromWorker =
  | { readonly type: "ready"; readonly adapter: Readonly<Record<string, string>>; readonly opfs: boolean; readonly saved: readonly SavedRun[] }
  | { readonly type: "picked"; readonly target: "model" | "data"; readonly summary: string; readonly ok: boolean }
  | { readonly type: "status"; readonly message: string }
  | { readonly type: "event"; readonly event: TrainEvent }
  /** Step and eval events of a resumed run's earlier part (from its metrics.jsonl). */
  | { readonly type: "history"; readonly events: readonly TrainEvent[] }
  | { readonly type: "done"; readonly reason: "completed" | "early-stopped" | "aborted"; readonly paused: boolean; readonly downloads: readonly Download[] }
  | { readonly type: "error"; readonly error: ErrorReport; readonly fatal: boolean };
