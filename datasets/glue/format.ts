/**
 * T5's text-to-text form of GLUE (Raffel et al. 2020, appendix D; `t5.data.preprocessors.glue` and `stsb`):
 * the input is the task name followed by `field: text` for each text field, fields sorted by name, joined
 * by single spaces; the target is the class word, or for STS-B the score rounded to a multiple of 0.2 and
 * written with one decimal. Texts are used exactly as they are (SST-2's trailing space included).
 */
import type { GlueExample } from "./read.ts";
import { type GlueTask, type GlueTaskName, glueTask } from "./tasks.ts";

export interface T5Example {
  readonly input: string;
  /** null when the example has no label (test splits). */
  readonly target: string | null;
}

/** `round` as TensorFlow does it: halves go to the even neighbour. */
function roundHalfToEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/**
 * STS-B's target text: T5 computes `round(label · 5) / 5` in float32 (TFDS stores the score as float32)
 * with TensorFlow's round-half-to-even, and prints one decimal. So 3.75 → "3.8", but 2.5 → "2.4" and
 * 1.5 → "1.6" (12.5 and 7.5 go to the even 12 and 8), where rounding halves up would give "2.6" and "1.6".
 */
export function stsbTarget(score: number): string {
  const scaled = Math.fround(Math.fround(score) * 5); // float32 · float32, rounded to float32
  return (roundHalfToEven(scaled) / 5).toFixed(1);
}

export function t5Input(task: GlueTask, text: Readonly<Record<string, string>>): string {
  let input = task.name;
  for (const field of task.textFields) input += ` ${field}: ${text[field]}`;
  return input;
}

export function t5Target(task: GlueTask, label: number | null): string | null {
  if (label === null) return null;
  return task.labels === null ? stsbTarget(label) : (task.labels[label] ?? null);
}

/** The T5 input and target text of one example, e.g. `sst2 sentence: it 's a charming … ` → `positive`. */
export function formatT5(task: GlueTask | GlueTaskName, example: GlueExample): T5Example {
  const spec = typeof task === "string" ? glueTask(task) : task;
  return { input: t5Input(spec, example.text), target: t5Target(spec, example.label) };
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * A decoded prediction as a label: the class index of a class word (surrounding whitespace ignored; any
 * other text is -1, "invalid", which every metric counts as wrong), or for STS-B the number it spells
 * clamped to [0, 5] (text that is no number counts as 0).
 */
export function parsePrediction(task: GlueTask | GlueTaskName, text: string): number {
  const spec = typeof task === "string" ? glueTask(task) : task;
  const t = text.trim();
  if (spec.labels !== null) return spec.labels.indexOf(t);
  if (!NUMBER.test(t)) return 0;
  return Math.min(5, Math.max(0, Number(t)));
}
