/**
 * GLUE's metrics, computed as GLUE's scorer (scikit-learn and SciPy) and T5's evaluation compute them,
 * on label indices (classification) or scores (STS-B). All values are fractions (multiply by 100 for the
 * usual table numbers).
 *
 * Invalid predictions (decoded text that is no label word, index -1) never count as right:
 * - accuracy: wrong;
 * - F1 (MRPC, QQP): scored as the wrong class (T5's `f1_score_with_invalid`);
 * - Matthews (CoLA): an extra class of its own in the multiclass Matthews formula (what
 *   `sklearn.metrics.matthews_corrcoef` does with T5's -1 predictions); with only 0/1 it is the usual binary MCC.
 * Degenerate inputs follow the reference implementations: MCC and F1 are 0 when undefined (all one class,
 * no positives anywhere); Pearson and Spearman are NaN when either side is constant.
 */
import { GlueUsageError } from "./errors.ts";
import { parsePrediction } from "./format.ts";
import type { GlueExample } from "./read.ts";
import { type GlueMetricName, type GlueTask, type GlueTaskName, glueTask } from "./tasks.ts";

type Numbers = ArrayLike<number>;

function checkLengths(what: string, a: Numbers, b: Numbers): void {
  if (a.length !== b.length) throw GlueUsageError.of(`${what}: ${a.length} predictions but ${b.length} references`);
}

/** Fraction of predictions equal to the reference. */
export function accuracy(predictions: Numbers, references: Numbers): number {
  checkLengths("accuracy", predictions, references);
  let right = 0;
  for (let i = 0; i < predictions.length; i++) if (predictions[i] === references[i]) right++;
  return right / predictions.length;
}

/**
 * Binary F1 of class 1 (`equivalent`, `duplicate`): 2·TP / (2·TP + FP + FN), 0 when there are no positives
 * at all. A prediction that is neither 0 nor 1 is taken as the opposite of its reference.
 */
export function f1Score(predictions: Numbers, references: Numbers): number {
  checkLengths("f1", predictions, references);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < predictions.length; i++) {
    const ref = references[i]!;
    const raw = predictions[i]!;
    const pred = raw === 0 || raw === 1 ? raw : 1 - ref;
    if (pred === 1 && ref === 1) tp++;
    else if (pred === 1) fp++;
    else if (ref === 1) fn++;
  }
  const denominator = 2 * tp + fp + fn;
  return denominator === 0 ? 0 : (2 * tp) / denominator;
}

/**
 * Matthews correlation over the confusion matrix C of all labels seen (Gorodkin's multiclass form):
 *   (c·s − Σ_k p_k·t_k) / sqrt((s² − Σ_k p_k²)(s² − Σ_k t_k²))
 * with c = correct, s = total, p_k / t_k = how often k was predicted / is the reference. For two classes
 * this is (TP·TN − FP·FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)). 0 when the denominator is 0.
 */
export function matthewsCorrcoef(predictions: Numbers, references: Numbers): number {
  checkLengths("matthews_corrcoef", predictions, references);
  const predicted = new Map<number, number>();
  const actual = new Map<number, number>();
  let correct = 0;
  const s = predictions.length;
  for (let i = 0; i < s; i++) {
    const p = predictions[i]!;
    const t = references[i]!;
    predicted.set(p, (predicted.get(p) ?? 0) + 1);
    actual.set(t, (actual.get(t) ?? 0) + 1);
    if (p === t) correct++;
  }
  let pt = 0;
  let pp = 0;
  let tt = 0;
  for (const [k, p] of predicted) {
    pt += p * (actual.get(k) ?? 0);
    pp += p * p;
  }
  for (const t of actual.values()) tt += t * t;
  const denominator = (s * s - pp) * (s * s - tt);
  return denominator === 0 ? 0 : (correct * s - pt) / Math.sqrt(denominator);
}

/** Pearson's r (mean-centred, clipped to [-1, 1]); NaN when either side is constant or has fewer than 2 values. */
export function pearson(x: Numbers, y: Numbers): number {
  checkLengths("pearson", x, y);
  const n = x.length;
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** 1-based ranks; tied values all get the average of the ranks they span (SciPy's `rankdata(method="average")`). */
export function averageRanks(values: Numbers): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const ranks = new Float64Array(n);
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && values[order[end]!] === values[order[start]!]) end++;
    const rank = (start + 1 + end) / 2; // mean of ranks start+1 … end
    for (let k = start; k < end; k++) ranks[order[k]!] = rank;
    start = end;
  }
  return ranks;
}

/** Spearman's ρ: Pearson's r of the average ranks. */
export function spearman(x: Numbers, y: Numbers): number {
  checkLengths("spearman", x, y);
  return pearson(averageRanks(x), averageRanks(y));
}

export type TaskScores = Readonly<Partial<Record<GlueMetricName, number>>>;

export interface ScoreTaskOptions {
  /** Decoded model outputs, one per example. */
  readonly predictions: readonly string[];
  /** The examples (or their labels) the predictions are for, in the same order. */
  readonly references: readonly GlueExample[] | ArrayLike<number | null>;
}

function referenceLabels(task: GlueTask, references: ScoreTaskOptions["references"]): Float64Array {
  const out = new Float64Array(references.length);
  for (let i = 0; i < references.length; i++) {
    const r = references[i];
    const label = typeof r === "object" && r !== null ? r.label : (r as number | null | undefined);
    if (label === null || label === undefined || Number.isNaN(label)) {
      throw GlueUsageError.of(`scoring ${task.title}: reference ${i} has no label (test splits cannot be scored here)`);
    }
    out[i] = label;
  }
  return out;
}

/**
 * The GLUE metrics of one task from decoded predictions: `{ matthews_corrcoef }` (CoLA), `{ f1, accuracy }`
 * (MRPC, QQP), `{ pearson, spearman }` (STS-B), `{ accuracy }` (the others; MNLI per split).
 */
export function scoreTask(task: GlueTask | GlueTaskName, options: ScoreTaskOptions): TaskScores {
  const spec = typeof task === "string" ? glueTask(task) : task;
  const references = referenceLabels(spec, options.references);
  const predictions = Float64Array.from(options.predictions, (p) => parsePrediction(spec, p));
  checkLengths(`scoring ${spec.title}`, predictions, references);
  const scores: Partial<Record<GlueMetricName, number>> = {};
  for (const metric of spec.metrics) {
    switch (metric) {
      case "accuracy":
        scores.accuracy = accuracy(predictions, references);
        break;
      case "f1":
        scores.f1 = f1Score(predictions, references);
        break;
      case "matthews_corrcoef":
        scores.matthews_corrcoef = matthewsCorrcoef(predictions, references);
        break;
      case "pearson":
        scores.pearson = pearson(predictions, references);
        break;
      case "spearman":
        scores.spearman = spearman(predictions, references);
        break;
      default:
        metric satisfies never;
    }
  }
  return scores;
}

/** MNLI's entry for `glueAverage`: matched and mismatched accuracy, which GLUE averages into one task score. */
export function mnliScores(matched: TaskScores, mismatched: TaskScores): Readonly<Record<"matched" | "mismatched", number>> {
  if (matched.accuracy === undefined || mismatched.accuracy === undefined) throw GlueUsageError.of("mnliScores: both results need an accuracy");
  return { matched: matched.accuracy, mismatched: mismatched.accuracy };
}

/**
 * The GLUE average: each task's metrics are averaged into one task score (MRPC F1 and accuracy, QQP F1 and
 * accuracy, STS-B Pearson and Spearman, MNLI matched and mismatched), then the task scores are averaged
 * over the tasks given. GLUE's leaderboard averages all nine; T5's tables leave WNLI out: pass what you report.
 */
export function glueAverage(scores: Readonly<Partial<Record<GlueTaskName, Readonly<Record<string, number>>>>>): number {
  const tasks = Object.entries(scores).filter(([, s]) => s !== undefined);
  if (tasks.length === 0) throw GlueUsageError.of("glueAverage: no task scores given");
  let total = 0;
  for (const [name, s] of tasks) {
    glueTask(name); // a misspelt task name is an error, not a silent extra entry
    const values = Object.values(s!);
    if (values.length === 0) throw GlueUsageError.of(`glueAverage: task ${name} has no scores`);
    total += values.reduce((a, b) => a + b, 0) / values.length;
  }
  return total / tasks.length;
}
