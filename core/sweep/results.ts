/**
 * A sweep's results: the outcome of every run, and the table in GLUE's layout (methods as rows, tasks as
 * columns) that PEFT papers print (KronA's Table 1): per task the GLUE metric(s) as mean ± std over seeds
 * at the learning rate with the best mean, the GLUE average, and the trainable parameters in %.
 *
 * Scores are ×100 like GLUE's leaderboard. A task's score is the mean of its metrics (MRPC: F1 and
 * accuracy; STS-B: Pearson and Spearman), as GLUE averages them. The std is the sample standard deviation
 * (n − 1); with one seed it is 0. Failed runs are left out of the means and counted in the cell.
 */
import { glueTask } from "../../datasets/glue/tasks.ts";

/** What a worker reports for one run. */
export interface RunOutcome {
  readonly runId: string;
  readonly task: string;
  readonly method: string;
  readonly lr: number;
  readonly seed: number;
  readonly status: "done" | "failed";
  /** Host (runner address) that finished the run, or that last tried it. */
  readonly host: string;
  /** Attempts it took (1 unless a worker died or the run failed before). */
  readonly attempts: number;
  readonly error?: string | undefined;
  readonly result?: RunResultSummary | undefined;
}

export interface RunResultSummary {
  /** Best evaluation: its step, and every GLUE metric of the task at that step (0–1 scale, as the trainer reports them). */
  readonly bestStep: number;
  readonly metrics: Readonly<Record<string, number>>;
  readonly steps: number;
  readonly trainable: number;
  readonly total: number;
  readonly trainablePercent: number;
  readonly trainSeconds: number;
}

export interface MeanStd {
  readonly mean: number;
  readonly std: number;
}

export interface SweepCell {
  /** The learning rate whose mean score over seeds is best (null when no run of the cell finished). */
  readonly lr: number | null;
  readonly runsDone: number;
  readonly runsFailed: number;
  /** ×100, over the seeds of the chosen learning rate. */
  readonly score: MeanStd | null;
  readonly metrics: Readonly<Record<string, MeanStd>>;
}

export interface SweepTableRow {
  readonly method: string;
  readonly trainablePercent: number | null;
  readonly cells: Readonly<Record<string, SweepCell>>;
  /** Mean of the task scores; null unless every task has one. */
  readonly average: number | null;
}

export interface SweepTable {
  readonly tasks: readonly { readonly task: string; readonly title: string; readonly metrics: readonly string[] }[];
  readonly rows: readonly SweepTableRow[];
}

const TASK_TITLES: Readonly<Record<string, string>> = { cola: "CoLA", sst2: "SST-2", mrpc: "MRPC", qqp: "QQP", stsb: "STS-B", mnli: "MNLI", qnli: "QNLI", rte: "RTE", wnli: "WNLI" };
const METRIC_TITLES: Readonly<Record<string, string>> = { matthews_corrcoef: "MCC", accuracy: "Acc", f1: "F1", pearson: "Pearson", spearman: "Spearman" };

export const taskTitle = (task: string): string => TASK_TITLES[task] ?? task;
export const metricTitle = (metric: string): string => METRIC_TITLES[metric] ?? metric;

function meanStd(values: readonly number[]): MeanStd {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.length > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, std: Math.sqrt(variance) };
}

/** A finished run's task score ×100: the mean of the task's GLUE metrics. */
export function taskScore(task: string, metrics: Readonly<Record<string, number>>): number {
  const names = glueTask(task).metrics;
  return (100 * names.reduce((s, m) => s + (metrics[m] ?? Number.NaN), 0)) / names.length;
}

/**
 * The table of a sweep's outcomes. `tasks` and `methods` give the order (the sweep file's); cells of
 * combinations without outcomes are empty.
 */
export function sweepTable(outcomes: readonly RunOutcome[], tasks: readonly string[], methods: readonly string[]): SweepTable {
  const rows = methods.map((method): SweepTableRow => {
    const cells: Record<string, SweepCell> = {};
    let trainablePercent: number | null = null;
    for (const task of tasks) {
      const runs = outcomes.filter((o) => o.task === task && o.method === method);
      const done = runs.filter((o) => o.status === "done" && o.result);
      if (done[0]?.result) trainablePercent ??= done[0].result.trainablePercent;
      const byLr = new Map<number, RunOutcome[]>();
      for (const o of done) byLr.set(o.lr, [...(byLr.get(o.lr) ?? []), o]);
      let best: { lr: number; runs: RunOutcome[]; score: MeanStd } | null = null;
      // Ties go to the smaller learning rate, so the choice does not depend on the order of outcomes.
      for (const [lr, group] of [...byLr].sort((a, b) => a[0] - b[0])) {
        const score = meanStd(group.map((o) => taskScore(task, o.result!.metrics)));
        if (!best || score.mean > best.score.mean) best = { lr, runs: group, score };
      }
      const metrics: Record<string, MeanStd> = {};
      if (best) for (const m of glueTask(task).metrics) metrics[m] = meanStd(best.runs.map((o) => 100 * (o.result!.metrics[m] ?? Number.NaN)));
      cells[task] = { lr: best?.lr ?? null, runsDone: done.length, runsFailed: runs.filter((o) => o.status === "failed").length, score: best?.score ?? null, metrics };
    }
    const scores = tasks.map((t) => cells[t]!.score?.mean);
    const average = scores.every((s) => s !== undefined && Number.isFinite(s)) ? scores.reduce((a, b) => a! + b!, 0)! / scores.length : null;
    return { method, trainablePercent, cells, average };
  });
  return { tasks: tasks.map((task) => ({ task, title: taskTitle(task), metrics: glueTask(task).metrics })), rows };
}

const fixed = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : "–");

/** "85.1/79.0 ±0.4/0.9" style text of a cell (metrics in the task's order), or "–". */
export function cellText(cell: SweepCell | undefined, metrics: readonly string[]): string {
  if (!cell || !cell.score) return cell && cell.runsFailed > 0 ? `failed ×${cell.runsFailed}` : "–";
  // A correlation of constant predictions is undefined (NaN; null once written to JSON).
  if (!Number.isFinite(cell.score.mean)) return `n/a (constant predictions)${cell.runsFailed > 0 ? ` (${cell.runsFailed} failed)` : ""}`;
  const means = metrics.map((m) => fixed(cell.metrics[m]!.mean)).join("/");
  const stds = metrics.map((m) => fixed(cell.metrics[m]!.std)).join("/");
  return `${means} ±${stds}${cell.runsFailed > 0 ? ` (${cell.runsFailed} failed)` : ""}`;
}

/** The table as GitHub Markdown (also readable in a terminal). */
export function tableMarkdown(table: SweepTable): string {
  const header = ["Method", "Params %", ...table.tasks.map((t) => `${t.title} (${t.metrics.map(metricTitle).join("/")})`), "Avg"];
  const lines = [`| ${header.join(" | ")} |`, `|${header.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`];
  for (const row of table.rows) {
    const cells = [row.method, row.trainablePercent === null ? "–" : row.trainablePercent.toPrecision(3), ...table.tasks.map((t) => cellText(row.cells[t.task], t.metrics)), row.average === null ? "–" : fixed(row.average)];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

const csvField = (value: string | number | null): string => {
  const text = value === null ? "" : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

/** One row per method × task × metric (and a `glue_average` row per method); scores ×100. */
export function tableCsv(table: SweepTable): string {
  const lines = ["method,task,metric,lr,mean,std,runs_done,runs_failed,trainable_percent"];
  for (const row of table.rows) {
    for (const t of table.tasks) {
      const cell = row.cells[t.task]!;
      for (const m of [...t.metrics, "score"]) {
        const value = m === "score" ? cell.score : cell.metrics[m];
        lines.push([row.method, t.task, m, cell.lr, value?.mean ?? null, value?.std ?? null, cell.runsDone, cell.runsFailed, row.trainablePercent].map(csvField).join(","));
      }
    }
    lines.push([row.method, "glue_average", "score", null, row.average, null, null, null, row.trainablePercent].map(csvField).join(","));
  }
  return `${lines.join("\n")}\n`;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

/** A self-contained HTML page: the GLUE table, then every run with its host, attempts and error. */
export function sweepReportHtml(options: { readonly name: string; readonly fingerprint: string; readonly table: SweepTable; readonly outcomes: readonly RunOutcome[]; readonly note?: string }): string {
  const { table } = options;
  const head = `<tr><th>Method</th><th>Params %</th>${table.tasks.map((t) => `<th>${escapeHtml(t.title)}<br><small>${t.metrics.map(metricTitle).join("/")}</small></th>`).join("")}<th>Avg</th></tr>`;
  const bestAvg = Math.max(...table.rows.map((r) => r.average ?? Number.NEGATIVE_INFINITY));
  const body = table.rows
    .map((row) => {
      const cells = table.tasks.map((t) => {
        const cell = row.cells[t.task];
        const title = cell?.lr !== null && cell?.lr !== undefined ? ` title="lr ${cell.lr}, ${cell.runsDone} run(s) done"` : "";
        return `<td${title}>${escapeHtml(cellText(cell, t.metrics))}</td>`;
      });
      const avg = row.average === null ? "–" : fixed(row.average);
      return `<tr><th>${escapeHtml(row.method)}</th><td>${row.trainablePercent === null ? "–" : row.trainablePercent.toPrecision(3)}</td>${cells.join("")}<td>${row.average === bestAvg ? `<b>${avg}</b>` : avg}</td></tr>`;
    })
    .join("\n");
  const runs = options.outcomes
    .map((o) => {
      const score = o.result ? fixed(taskScore(o.task, o.result.metrics)) : "";
      return `<tr class="${o.status}"><td>${escapeHtml(o.runId)}</td><td>${o.status}</td><td>${score}</td><td>${escapeHtml(o.host)}</td><td>${o.attempts}</td><td>${o.result ? o.result.steps : ""}</td><td>${o.result ? o.result.trainSeconds.toFixed(1) : ""}</td><td>${escapeHtml(o.error ?? "")}</td></tr>`;
    })
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(options.name)}: GLUE sweep</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.failed td { background: #fde8e8; }
small { color: #666; font-weight: normal; }
</style></head><body>
<h1>${escapeHtml(options.name)}</h1>
<p>Sweep fingerprint <code>${options.fingerprint}</code>. Scores ×100, mean ± std over seeds at the learning rate with the best mean (hover a cell for it); Avg is the mean of the task scores (a task's score is the mean of its metrics).${options.note ? ` ${escapeHtml(options.note)}` : ""}</p>
<table>
${head}
${body}
</table>
<h2>Runs</h2>
<table>
<tr><th>Run</th><th>Status</th><th>Score</th><th>Host</th><th>Attempts</th><th>Steps</th><th>Train s</th><th>Error</th></tr>
${runs}
</table>
</body></html>
`;
}
