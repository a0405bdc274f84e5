/**
 * Readers for GLUE splits, streaming: `readGlue` is an async iterable of examples that reads the file in
 * chunks (TSV, JSONL) or row group by row group (parquet), so a split is parsed once and only the examples
 * the caller keeps stay in memory.
 *
 * Layouts:
 * - "glue-tsv": GLUE's original files (`<dir>/SST-2/dev.tsv`, `<dir>/MNLI/dev_matched.tsv`…), read exactly as
 *   they are: tab-separated with quoting disabled (a `"` is an ordinary character), header located by column
 *   name (CoLA train/dev have none and are read by position), BOM removed, a missing final newline accepted.
 * - "hf-parquet": the Hugging Face `nyu-mll/glue` files (`<dir>/cola/validation-00000-of-00001.parquet`),
 *   read through hyparquet; columns are HF's (`sentence`, `label`, `idx`…), labels HF's integers, -1 = none.
 * - "hf-jsonl": the same records as JSON lines (`<dir>/cola/validation.jsonl`, what `Dataset.to_json` writes).
 *
 * `idx` is the 0-based number of the data row in its file (what HF's GLUE builder stores), counting
 * rows that were skipped as malformed, so idx agrees between layouts.
 */
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type FileMetaData } from "hyparquet";
import { GlueFormatError, GlueMissingFileError, GlueUsageError } from "./errors.ts";
import type { FileAccess, RandomAccessFile } from "./files.ts";
import { readLines } from "./lines.ts";
import { type GlueSplit, type GlueTask, type GlueTaskName, type TsvLayout, glueSplit, glueTask, isTestSplit } from "./tasks.ts";

export interface GlueExample {
  /** 0-based row number in the split's file (HF's `idx`). */
  readonly idx: number;
  /** Text fields by HF column name, exactly as in the file. */
  readonly text: Readonly<Record<string, string>>;
  /** Class index (HF's integer label), the STS-B score, or null in an unlabelled (test) split. */
  readonly label: number | null;
}

export type GlueLayout = "glue-tsv" | "hf-parquet" | "hf-jsonl";

export interface ReadGlueOptions {
  readonly task: GlueTaskName | string;
  /** HF split name ("train", "validation", "validation_matched"…) or GLUE's file stem ("dev"…). */
  readonly split: GlueSplit | string;
  /**
   * Folder that holds the task folders: `<dir>/CoLA/train.tsv` (GLUE) or `<dir>/cola/…parquet` (HF).
   * Not needed when `files` is given.
   */
  readonly dir?: string;
  /** Which layout to read; "auto" (default) takes the first whose file exists: TSV, parquet, JSONL. */
  readonly layout?: GlueLayout | "auto";
  /** Name of the task folder inside `dir`, when it differs from GLUE's/HF's (e.g. "MNLI-sample"). */
  readonly taskDir?: string;
  /** Explicit files of this split (e.g. several parquet shards), read in order; the layout comes from the extension. */
  readonly files?: readonly string[];
  /** Skip malformed rows instead of stopping at the first; `stats` counts them. */
  readonly skipBadRows?: boolean;
  /** Bytes per read for TSV and JSONL (default 1 MiB). */
  readonly chunkSize?: number;
}

export interface GlueReadStats {
  /** Files read so far. */
  readonly files: string[];
  /** Examples produced. */
  rows: number;
  /** Malformed rows skipped (only with `skipBadRows`). */
  skipped: number;
  /** The first 100 skipped rows' errors (file and line). */
  readonly problems: GlueFormatError[];
  /** Whether a file started with a UTF-8 BOM. */
  bom: boolean;
}

export interface GlueExampleStream extends AsyncIterable<GlueExample> {
  readonly task: GlueTask;
  readonly split: GlueSplit;
  /** Filled in while the stream is read; final once iteration has finished. */
  readonly stats: GlueReadStats;
}

const MAX_PROBLEMS = 100;

/** Streams the examples of one task split. Missing files are reported when iteration starts. */
export function readGlue(files: FileAccess, options: ReadGlueOptions): GlueExampleStream {
  if (typeof options !== "object" || options === null) throw GlueUsageError.of(`readGlue: options must be an object { task, split, dir | files, … }, got ${String(options)}`);
  const { chunkSize } = options;
  if (chunkSize !== undefined && (typeof chunkSize !== "number" || !Number.isSafeInteger(chunkSize) || chunkSize < 1)) {
    throw GlueUsageError.of(`readGlue: chunkSize = ${JSON.stringify(chunkSize) ?? String(chunkSize)}: expected a positive integer (bytes per read; default 1 MiB)`);
  }
  const task = glueTask(options.task);
  const split = glueSplit(task, options.split);
  const stats: GlueReadStats = { files: [], rows: 0, skipped: 0, problems: [], bom: false };
  return {
    task,
    split,
    stats,
    async *[Symbol.asyncIterator]() {
      // Each pass starts the counts afresh.
      stats.files.length = 0;
      stats.problems.length = 0;
      stats.rows = stats.skipped = 0;
      stats.bom = false;
      const sources = await resolveSplitFiles(files, task, split, options);
      const bad = (error: GlueFormatError): void => {
        if (!options.skipBadRows) throw error;
        stats.skipped++;
        if (stats.problems.length < MAX_PROBLEMS) stats.problems.push(error);
      };
      // Several files (shards): a row number used as idx continues across them; an idx column wins.
      const rows = { base: 0, count: 0 };
      for (const { path, layout } of sources) {
        const file = await files.open(path);
        stats.files.push(path);
        rows.count = 0;
        try {
          const examples =
            layout === "glue-tsv"
              ? readTsv(file, task, split, bad, rows, options.chunkSize, () => void (stats.bom = true))
              : layout === "hf-jsonl"
                ? readJsonl(file, task, split, bad, rows, options.chunkSize)
                : readParquet(file, task, split, bad, rows);
          for await (const example of examples) {
            stats.rows++;
            yield example;
          }
        } finally {
          await file.close();
        }
        rows.base += rows.count;
      }
    },
  };
}

/** Reads a whole split into memory (use `readGlue` to stream a big one). */
export async function loadGlue(
  files: FileAccess,
  options: ReadGlueOptions,
): Promise<{ readonly task: GlueTask; readonly split: GlueSplit; readonly examples: GlueExample[]; readonly stats: GlueReadStats }> {
  const stream = readGlue(files, options);
  const examples: GlueExample[] = [];
  for await (const example of stream) examples.push(example);
  return { task: stream.task, split: stream.split, examples, stats: stream.stats };
}

/** The candidate paths of a split in one layout, most likely first. */
export function expectedGlueFiles(files: Pick<FileAccess, "join">, task: GlueTask, split: GlueSplit, dir: string, layout: GlueLayout, taskDir?: string): string[] {
  switch (layout) {
    case "glue-tsv":
      return [files.join(dir, taskDir ?? task.glueDir, task.splits[split]!)];
    case "hf-parquet": {
      const d = files.join(dir, taskDir ?? task.hfConfig);
      // nyu-mll/glue main branch, the hub's refs/convert/parquet branch, and the older converter's names
      return [files.join(d, `${split}-00000-of-00001.parquet`), files.join(d, split, "0000.parquet"), files.join(d, `glue-${split}.parquet`)];
    }
    case "hf-jsonl":
      return [files.join(dir, taskDir ?? task.hfConfig, `${split}.jsonl`)];
    default:
      return layout satisfies never;
  }
}

async function resolveSplitFiles(
  files: FileAccess,
  task: GlueTask,
  split: GlueSplit,
  options: ReadGlueOptions,
): Promise<{ path: string; layout: GlueLayout }[]> {
  if (options.files && options.files.length > 0) {
    const missing: string[] = [];
    for (const path of options.files) if (!(await files.exists(path))) missing.push(path);
    if (missing.length > 0) throw GlueMissingFileError.of(task.title, split, missing);
    return options.files.map((path) => ({ path, layout: layoutOf(path, options.layout) }));
  }
  if (options.dir === undefined) throw GlueUsageError.of(`readGlue(${task.name}, ${split}): give "dir" (the folder of the task folders) or "files"`);
  const layouts: GlueLayout[] =
    options.layout === undefined || options.layout === "auto" ? ["glue-tsv", "hf-parquet", "hf-jsonl"] : [options.layout];
  const tried: string[] = [];
  for (const layout of layouts) {
    for (const path of expectedGlueFiles(files, task, split, options.dir, layout, options.taskDir)) {
      if (await files.exists(path)) return [{ path, layout }];
      tried.push(path);
    }
  }
  throw GlueMissingFileError.of(task.title, split, tried, `(several parquet shards: pass them as "files")`);
}

function layoutOf(path: string, layout: ReadGlueOptions["layout"]): GlueLayout {
  if (layout && layout !== "auto") return layout;
  if (/\.parquet$/i.test(path)) return "hf-parquet";
  if (/\.jsonl?$/i.test(path)) return "hf-jsonl";
  return "glue-tsv";
}

// ---------------------------------------------------------------------------------------------------------
// GLUE TSV

type Bad = (error: GlueFormatError) => void;
/** Row numbering across the files of a split: `base` rows came before this file, `count` rows seen in it. */
interface RowCounter {
  readonly base: number;
  count: number;
}

/** A plain decimal (the forms STS-B uses: `5.000`, `1.40`, `4`, `3.79999995231628`), optionally with exponent. */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseScore(raw: string): number | string {
  if (!DECIMAL.test(raw)) return `score "${raw}" is not a number`;
  const score = Number(raw);
  return score >= 0 && score <= 5 ? score : `score ${raw} is outside [0, 5]`;
}

function parseTsvLabel(task: GlueTask, raw: string): number | string {
  if (task.tsvLabels === null) return parseScore(raw);
  const i = task.tsvLabels.indexOf(raw);
  return i >= 0 ? i : `label "${raw}" is not one of ${task.tsvLabels.map((l) => `"${l}"`).join(", ")}`;
}

async function* readTsv(
  file: RandomAccessFile,
  task: GlueTask,
  split: GlueSplit,
  bad: Bad,
  rows: RowCounter,
  chunkSize: number | undefined,
  onBom: () => void,
): AsyncGenerator<GlueExample> {
  const layout: TsvLayout = isTestSplit(split) ? task.tsv.test : task.tsv.labelled;
  const fields = Object.keys(layout.text);
  let columnCount = layout.columnCount ?? 0;
  let textColumns: number[] = fields.map((f) => layout.text[f] as number);
  let labelColumn = typeof layout.label === "number" ? layout.label : -1;
  let columnsDescription = `${columnCount}`;
  const lines = readLines(file, { ...(chunkSize === undefined ? {} : { chunkSize }), onBom });
  let sawText = false;
  for await (const { number, text } of lines) {
    if (text.length > 0) sawText = true;
    if (layout.header && number === 1) {
      const header = text.split("\t");
      const find = (name: string | number): number => (typeof name === "number" ? name : header.indexOf(name));
      textColumns = fields.map((f) => find(layout.text[f]!));
      labelColumn = find(layout.label);
      const missing = fields.filter((_, i) => textColumns[i]! < 0).map((f) => `"${layout.text[f]}"`);
      if (labelColumn < 0 && !isTestSplit(split)) missing.push(`"${layout.label}"`);
      if (missing.length > 0) {
        throw GlueFormatError.of(
          file.path,
          number,
          `the header lacks column ${missing.join(", ")} of GLUE ${task.title} (header: ${header.join(" | ")})`,
        );
      }
      columnCount = header.length;
      columnsDescription = `${columnCount} (as many as the header)`;
      continue;
    }
    if (text.length === 0) continue; // a blank line is no row (as for Python's csv reader)
    const row = rows.base + rows.count++;
    const cells = text.split("\t");
    if (cells.length !== columnCount) {
      bad(GlueFormatError.of(file.path, number, `expected ${columnsDescription} tab-separated columns, found ${cells.length}`));
      continue;
    }
    let label: number | null = null;
    if (labelColumn >= 0) {
      const parsed = parseTsvLabel(task, cells[labelColumn]!);
      if (typeof parsed === "string") {
        bad(GlueFormatError.of(file.path, number, parsed));
        continue;
      }
      label = parsed;
    }
    const record: Record<string, string> = {};
    for (let i = 0; i < fields.length; i++) record[fields[i]!] = cells[textColumns[i]!]!;
    yield { idx: row, text: record, label };
  }
  if (!sawText) {
    const expected = layout.header ? `the header row of GLUE ${task.title}` : `rows of ${columnsDescription} tab-separated columns`;
    throw GlueFormatError.of(file.path, 1, `the file is empty: expected ${expected}, then one example per line`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Hugging Face records (parquet rows and JSON lines)

function toInteger(value: unknown): number | undefined {
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "number" && Number.isInteger(value)) return value;
  return undefined;
}

function exampleFromRecord(task: GlueTask, split: GlueSplit, record: Record<string, unknown>, row: number): GlueExample | string {
  const text: Record<string, string> = {};
  for (const field of task.textFields) {
    const value = record[field];
    if (typeof value !== "string") return value === undefined ? `no "${field}" field` : `"${field}" is not a string`;
    text[field] = value;
  }
  let label: number | null = null;
  const raw = record.label;
  if (raw === undefined || raw === null) {
    if (!isTestSplit(split)) return `no "label" field`;
  } else if (task.labels === null) {
    const score = typeof raw === "bigint" ? Number(raw) : raw;
    if (typeof score !== "number" || !Number.isFinite(score)) return `label ${String(raw)} is not a number`;
    if (score !== -1) {
      if (score < 0 || score > 5) return `score ${score} is outside [0, 5]`;
      label = score;
    }
  } else {
    const cls = toInteger(raw);
    if (cls === undefined || cls < -1 || cls >= task.labels.length) {
      return `label ${String(raw)} is not a class index of ${task.title} (0…${task.labels.length - 1}, or -1 for none)`;
    }
    label = cls === -1 ? null : cls;
  }
  let idx = row;
  if (record.idx !== undefined && record.idx !== null) {
    const value = toInteger(record.idx);
    if (value === undefined) return `idx ${String(record.idx)} is not an integer`;
    idx = value;
  }
  return { idx, text, label };
}

async function* readJsonl(
  file: RandomAccessFile,
  task: GlueTask,
  split: GlueSplit,
  bad: Bad,
  rows: RowCounter,
  chunkSize: number | undefined,
): AsyncGenerator<GlueExample> {
  let sawText = false;
  for await (const { number, text } of readLines(file, chunkSize === undefined ? {} : { chunkSize })) {
    if (text.trim().length === 0) continue;
    sawText = true;
    const r = rows.base + rows.count++;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (e) {
      bad(GlueFormatError.of(file.path, number, `not a JSON line: ${(e as Error).message}`));
      continue;
    }
    if (typeof record !== "object" || record === null || Array.isArray(record)) {
      bad(GlueFormatError.of(file.path, number, "a JSON line must hold one object"));
      continue;
    }
    const example = exampleFromRecord(task, split, record as Record<string, unknown>, r);
    if (typeof example === "string") bad(GlueFormatError.of(file.path, number, example));
    else yield example;
  }
  if (!sawText) throw GlueFormatError.of(file.path, 1, `the file is empty: expected one JSON object per line (an example of GLUE ${task.title})`);
}

function asyncBuffer(file: RandomAccessFile): AsyncBuffer {
  return {
    byteLength: file.size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? file.size, file.size);
      const bytes = await file.read(start, Math.max(0, stop - start));
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
}

/** Rows of a parquet file, one row group at a time; "line" in errors is the 1-based row number. */
async function* readParquet(file: RandomAccessFile, task: GlueTask, split: GlueSplit, bad: Bad, rows: RowCounter): AsyncGenerator<GlueExample> {
  const buffer = asyncBuffer(file);
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (e) {
    throw GlueFormatError.of(file.path, 1, `not a readable parquet file: ${(e as Error).message}`);
  }
  const present = new Set(metadata.schema.slice(1).map((s) => s.name));
  const wanted = [...task.textFields, "label", "idx"].filter((c) => present.has(c));
  const missing = task.textFields.filter((c) => !present.has(c));
  if (!present.has("label") && !isTestSplit(split)) missing.push("label");
  if (missing.length > 0) {
    throw GlueFormatError.of(
      file.path,
      1,
      `the parquet schema lacks column ${missing.map((c) => `"${c}"`).join(", ")} of GLUE ${task.title} (columns: ${[...present].join(", ")})`,
    );
  }
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    const records = await parquetReadObjects({ file: buffer, metadata, columns: wanted, rowStart, rowEnd });
    for (let i = 0; i < records.length; i++) {
      const row = rowStart + i;
      rows.count++;
      const example = exampleFromRecord(task, split, records[i]!, rows.base + row);
      if (typeof example === "string") bad(GlueFormatError.of(file.path, row + 1, example));
      else yield example;
    }
    rowStart = rowEnd;
  }
}
