/**
 * What a training run tells the world while it runs: one event type per moment of the loop. Runners turn
 * them into a progress bar (TTY), plain lines, or JSON lines (`--json`); `metrics.jsonl` stores the
 * `step` and `eval` events; `report.html` is drawn from the whole list.
 *
 * All times are milliseconds; `step` counts optimizer steps (1-based after the first update).
 */

/** The run as configured: everything needed to describe it in a report. */
export interface StartEvent {
  readonly type: "start";
  /** The resolved training config (see TrainConfig), as plain JSON. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly task: string;
  readonly method: string;
  /** The base model as given (a folder or hub id). */
  readonly model: string;
  /** When the run (or this resumed part of it) started, ISO 8601. */
  readonly startedAt: string;
  readonly backend: string;
  readonly runtime: string;
  /** Trainable parameters of the adapter, all parameters of the model, and their ratio in %. */
  readonly parameters: { readonly trainable: number; readonly total: number; readonly percent: number };
  readonly totalSteps: number;
  /** Examples in the training split and in the evaluation split. */
  readonly trainExamples: number;
  readonly evalExamples: number;
  /** Step the run starts from (0, or the checkpoint's step on --resume). */
  readonly startStep: number;
  /** Notes worth showing to a human (e.g. "this model's weights are ~4e-4: adapters barely move the loss"). */
  readonly warnings: readonly string[];
}

/** One optimizer step. */
export interface StepEvent {
  readonly type: "step";
  readonly step: number;
  readonly totalSteps: number;
  readonly epoch: number;
  /** Mean training loss of this step (over its micro-batches). */
  readonly loss: number;
  /** Learning rate used by this step. */
  readonly lr: number;
  /** Global gradient norm before clipping (clip_grad_norm_'s return value). */
  readonly gradNorm: number;
  /** Training examples per second, smoothed over recent steps. */
  readonly examplesPerSecond: number;
  /** Since the run (or the resumed part of it) started. */
  readonly elapsedMs: number;
  /** Estimated time to the last step. */
  readonly etaMs: number;
}

/** One evaluation on the eval split. */
export interface EvalEvent {
  readonly type: "eval";
  readonly step: number;
  readonly epoch: number;
  /** GLUE metrics of the task (e.g. { accuracy: 0.91 } or { f1, accuracy }). */
  readonly metrics: Readonly<Record<string, number>>;
  /** The task's main metric (first in GLUE's list) and its value. */
  readonly mainMetric: string;
  readonly score: number;
  /** Whether this evaluation is the best so far (then the adapter was written to `best/`). */
  readonly best: boolean;
  readonly examples: number;
  /** How long this evaluation took. */
  readonly elapsedMs: number;
}

/** A resumable checkpoint was written. */
export interface CheckpointEvent {
  readonly type: "checkpoint";
  readonly step: number;
  readonly path: string;
}

/** A line of information for humans (loading, tokenising, early stopping...). */
export interface LogEvent {
  readonly type: "log";
  readonly message: string;
}

/** The run finished (all steps done, early-stopped, or aborted by the caller). */
export interface EndEvent {
  readonly type: "end";
  readonly step: number;
  readonly reason: "completed" | "early-stopped" | "aborted";
  /** Best eval score and its step (null without evaluation). */
  readonly best: { readonly step: number; readonly metric: string; readonly score: number; readonly metrics: Readonly<Record<string, number>> } | null;
  /** Last evaluation's metrics (null without evaluation). */
  readonly final: Readonly<Record<string, number>> | null;
  /** Wall time of the run, and the part spent training and evaluating. */
  readonly timings: { readonly totalMs: number; readonly trainMs: number; readonly evalMs: number; readonly stepsPerSecond: number; readonly examplesPerSecond: number };
}

export type TrainEvent = StartEvent | StepEvent | EvalEvent | CheckpointEvent | LogEvent | EndEvent;
