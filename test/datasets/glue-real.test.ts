/**
 * The GLUE readers on the real GLUE files in the shared data folder (test/harness/data.ts): row and label
 * counts as stated in ../shared/data/README.md, text fields byte-exact against an independent byte-level
 * split of each file, T5 formatting, the files' quirks (BOM, no final newline, unbalanced quotes, mixed
 * score formats, MNLI's 16 columns), streaming reads, Hugging Face parquet/JSONL fixtures built from the
 * same rows, and the example of datasets/README.md.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  type GlueExample,
  type GlueSplit,
  type GlueTaskName,
  formatT5,
  glueTask,
  loadGlue,
  readGlue,
  scoreTask,
} from "../../datasets/glue/mod.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { sharedDataDir } from "../harness/data.ts";
import { runSnippet } from "../harness/run-snippet.ts";
import { type TestFiles, tempDir, testFiles } from "./fs.ts";
import { writeParquet } from "./parquet-writer.ts";

interface Case {
  readonly task: GlueTaskName;
  readonly split: GlueSplit;
  readonly folder: string;
  readonly file: string;
  readonly rows: number;
  /** Count per class index, from the data README (undefined: not stated there). */
  readonly labels?: readonly number[];
}

// Counts from ../shared/data/README.md and reference/t5_glue_reference_numbers.md §E.
const CASES: readonly Case[] = [
  { task: "sst2", split: "train", folder: "SST-2", file: "train.tsv", rows: 67349, labels: [29780, 37569] },
  { task: "sst2", split: "validation", folder: "SST-2", file: "dev.tsv", rows: 872, labels: [428, 444] },
  { task: "cola", split: "train", folder: "CoLA", file: "train.tsv", rows: 8551, labels: [2528, 6023] },
  { task: "cola", split: "validation", folder: "CoLA", file: "dev.tsv", rows: 1043, labels: [322, 721] },
  { task: "mrpc", split: "train", folder: "MRPC", file: "train.tsv", rows: 3668, labels: [1194, 2474] },
  { task: "mrpc", split: "validation", folder: "MRPC", file: "dev.tsv", rows: 408, labels: [129, 279] },
  { task: "rte", split: "train", folder: "RTE", file: "train.tsv", rows: 2490, labels: [1249, 1241] },
  { task: "rte", split: "validation", folder: "RTE", file: "dev.tsv", rows: 277, labels: [146, 131] },
  { task: "stsb", split: "train", folder: "STS-B", file: "train.tsv", rows: 5749 },
  { task: "stsb", split: "validation", folder: "STS-B", file: "dev.tsv", rows: 1500 },
  { task: "qnli", split: "validation", folder: "QNLI", file: "dev.tsv", rows: 5463, labels: [2702, 2761] },
  { task: "mnli", split: "train", folder: "MNLI-sample", file: "train.tsv", rows: 3 },
  { task: "mnli", split: "validation_matched", folder: "MNLI-sample", file: "dev_matched.tsv", rows: 2 },
  { task: "mnli", split: "validation_mismatched", folder: "MNLI-sample", file: "dev_mismatched.tsv", rows: 2 },
];

/**
 * The test's own description of the files (independent of datasets/glue/tasks.ts): which raw column holds
 * each T5 field, in T5's input order, and how a raw label reads as T5's target word.
 */
const RAW: Record<string, { fields: [string, string | number][]; label: string | number; words?: Record<string, string> }> = {
  sst2: { fields: [["sentence", "sentence"]], label: "label", words: { "0": "negative", "1": "positive" } },
  cola: { fields: [["sentence", 3]], label: 1, words: { "0": "unacceptable", "1": "acceptable" } },
  mrpc: { fields: [["sentence1", "#1 String"], ["sentence2", "#2 String"]], label: "Quality", words: { "0": "not_equivalent", "1": "equivalent" } },
  rte: { fields: [["sentence1", "sentence1"], ["sentence2", "sentence2"]], label: "label" },
  qnli: { fields: [["question", "question"], ["sentence", "sentence"]], label: "label" },
  mnli: { fields: [["hypothesis", "sentence2"], ["premise", "sentence1"]], label: "gold_label" },
  stsb: { fields: [["sentence1", "sentence1"], ["sentence2", "sentence2"]], label: "score" },
};

interface RawFile {
  readonly bytes: Uint8Array;
  readonly bom: boolean;
  readonly finalNewline: boolean;
  readonly header: string[] | null;
  /** Data rows as byte cells (split on 0x09 within lines split on 0x0A). */
  readonly rows: Uint8Array[][];
}

/** Splits a file at the byte level, as GLUE's files are meant to be read (no quoting). */
async function rawTsv(path: string, hasHeader: boolean): Promise<RawFile> {
  const bytes = new Uint8Array(await readFile(path));
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  const body = bom ? bytes.subarray(3) : bytes;
  const lines: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === 0x0a) {
      lines.push(body.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < body.length) lines.push(body.subarray(start));
  const cells = (line: Uint8Array): Uint8Array[] => {
    const out: Uint8Array[] = [];
    let s = 0;
    for (let i = 0; i <= line.length; i++) {
      if (i === line.length || line[i] === 0x09) {
        out.push(line.subarray(s, i));
        s = i + 1;
      }
    }
    return out;
  };
  const decoder = new TextDecoder();
  const header = hasHeader ? cells(lines[0]!).map((c) => decoder.decode(c)) : null;
  return { bytes, bom, finalNewline: body[body.length - 1] === 0x0a, header, rows: lines.slice(hasHeader ? 1 : 0).map(cells) };
}

function column(raw: RawFile, name: string | number): number {
  const i = typeof name === "number" ? name : raw.header!.indexOf(name);
  if (i < 0) throw new Error(`test: no column ${name}`);
  return i;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function countLabels(examples: readonly GlueExample[], classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const e of examples) counts[e.label!]!++;
  return counts;
}

export function register(_backends: readonly NamedBackend[]): void {
  const s = suite("GLUE on the real files");
  const glueDir = join(sharedDataDir(), "glue");
  const files: TestFiles = testFiles();
  const load = (c: Case) => loadGlue(files, { task: c.task, split: c.split, dir: glueDir, ...(c.folder === "MNLI-sample" ? { taskDir: c.folder } : {}) });
  const loaded = new Map<Case, Promise<Awaited<ReturnType<typeof load>>>>();
  const cached = (c: Case) => {
    if (!loaded.has(c)) loaded.set(c, load(c));
    return loaded.get(c)!;
  };

  for (const c of CASES) {
    s(`${c.task} ${c.split}: ${c.rows} rows${c.labels ? ` (${c.labels.join("/")})` : ""}, text byte-exact, T5 format`, async () => {
      const { examples, stats } = await cached(c);
      const task = glueTask(c.task);
      assert.is(examples.length, c.rows);
      assert.is(stats.rows, c.rows);
      assert.is(stats.skipped, 0);
      if (c.labels) assert.equal(countLabels(examples, c.labels.length), c.labels);

      const spec = RAW[c.task]!;
      const raw = await rawTsv(join(glueDir, c.folder, c.file), c.task !== "cola");
      assert.is(raw.rows.length, c.rows, "the byte-level split finds as many rows");
      const labelColumn = column(raw, spec.label);
      for (let i = 0; i < examples.length; i++) {
        const e = examples[i]!;
        const cells = raw.rows[i]!;
        assert.is(e.idx, i);
        if (raw.header) assert.is(cells.length, raw.header.length, `row ${i}: as many cells as header columns`);
        let input = c.task;
        for (const [field, col] of spec.fields) {
          const bytes = cells[column(raw, col)]!;
          if (!sameBytes(encoder.encode(e.text[field]!), bytes)) assert.unreachable(`row ${i} ${field}: text differs from the file's bytes`);
          input += ` ${field}: ${decoder.decode(bytes)}`;
        }
        const rawLabel = decoder.decode(cells[labelColumn]!);
        const { input: t5Input, target } = formatT5(task, e);
        assert.is(t5Input, input);
        if (c.task === "stsb") {
          // Nearest multiple of 0.2, one decimal; an exact half (x.1, x.3 … ·5 = n.5) goes to the even multiple.
          const score = Number(rawLabel);
          assert.is(e.label, score);
          assert.match(target!, /^[0-5]\.[02468]$/);
          const t = Number(target);
          assert.ok(Math.abs(t - score) <= 0.1 + 1e-6, `row ${i}: ${rawLabel} → ${target}`);
          // T5 scales the float32 score by 5 in float32; an exact half goes to the even neighbour.
          const fifths = Math.round(t * 5);
          const scaled = Math.fround(Math.fround(score) * 5);
          if (scaled % 1 === 0.5) assert.ok(fifths % 2 === 0 && Math.abs(fifths - scaled) === 0.5, `row ${i}: ${rawLabel} → ${target}`);
          else assert.is(fifths, Math.round(scaled), `row ${i}: ${rawLabel} → ${target}`);
        } else {
          assert.is(target, spec.words ? spec.words[rawLabel] : rawLabel);
        }
      }
    });
  }

  s("SST-2, RTE and QNLI rebuild byte-for-byte from the examples", async () => {
    for (const c of CASES.filter((k) => ["sst2", "rte", "qnli"].includes(k.task))) {
      const { examples } = await cached(c);
      const task = glueTask(c.task);
      const parts: string[] = [];
      if (c.task === "sst2") {
        parts.push("sentence\tlabel\n");
        for (const e of examples) parts.push(`${e.text.sentence}\t${e.label}\n`);
      } else {
        const [a, b] = task.textFields;
        parts.push(`index\t${a}\t${b}\tlabel\n`);
        for (const e of examples) parts.push(`${e.idx}\t${e.text[a!]}\t${e.text[b!]}\t${task.labels![e.label!]}\n`);
      }
      const original = new Uint8Array(await readFile(join(glueDir, c.folder, c.file)));
      assert.ok(sameBytes(encoder.encode(parts.join("")), original), `${c.folder}/${c.file}`);
    }
  });

  s("quirks: MRPC's BOM, CoLA without header or final newline, STS-B's scores and unbalanced quotes", async () => {
    const mrpc = await cached(CASES.find((c) => c.task === "mrpc" && c.split === "validation")!);
    const mrpcRaw = await rawTsv(join(glueDir, "MRPC", "dev.tsv"), true);
    assert.ok(mrpcRaw.bom, "MRPC dev starts with a BOM");
    assert.ok(mrpc.stats.bom, "the reader reports it");
    assert.is(mrpcRaw.header![0], "Quality", "the header is found behind the BOM");
    assert.ok(!mrpc.examples.some((e) => e.text.sentence1!.includes("\ufeff")));

    const colaDev = await rawTsv(join(glueDir, "CoLA", "dev.tsv"), false);
    const colaTrain = await rawTsv(join(glueDir, "CoLA", "train.tsv"), false);
    assert.ok(!colaDev.finalNewline, "CoLA dev has no final newline");
    assert.ok(colaTrain.finalNewline, "CoLA train has one");
    const cola = await cached(CASES.find((c) => c.task === "cola" && c.split === "validation")!);
    assert.ok(sameBytes(encoder.encode(cola.examples.at(-1)!.text.sentence!), colaDev.rows.at(-1)![3]!), "the unterminated last line is a row");
    assert.ok(colaDev.rows.every((r) => r.length === 4) && colaTrain.rows.every((r) => r.length === 4));

    const stsb = await cached(CASES.find((c) => c.task === "stsb" && c.split === "validation")!);
    const stsbRaw = await rawTsv(join(glueDir, "STS-B", "dev.tsv"), true);
    const shapes = new Set(stsbRaw.rows.map((r) => decoder.decode(r[9]!).replace(/\d/g, "d")));
    for (const shape of ["d", "d.dd", "d.ddd"]) assert.ok(shapes.has(shape), `score written as ${shape}`);
    // Rows the data README names: a `"` that a CSV reader with quoting would pair with a later line.
    for (const index of [764, 1025, 1041, 1076, 1100, 1157, 1177]) {
      const e = stsb.examples[index]!;
      const odd = [e.text.sentence1!, e.text.sentence2!].some((t) => (t.split('"').length - 1) % 2 === 1);
      assert.ok(odd, `STS-B dev index ${index} keeps its unbalanced quote`);
    }
  });

  s("MNLI sample: both dev files (16 columns) and train (12 columns)", async () => {
    const m = await cached(CASES.find((c) => c.split === "validation_matched")!);
    const mm = await cached(CASES.find((c) => c.split === "validation_mismatched")!);
    const train = await cached(CASES.find((c) => c.task === "mnli" && c.split === "train")!);
    assert.is((await rawTsv(join(glueDir, "MNLI-sample", "dev_matched.tsv"), true)).header!.length, 16);
    assert.is((await rawTsv(join(glueDir, "MNLI-sample", "train.tsv"), true)).header!.length, 12);
    for (const r of [m, mm, train]) for (const e of r.examples) assert.ok(e.label !== null && e.label >= 0 && e.label < 3);
    // GLUE's own file stems work as split names too.
    const alias = await loadGlue(files, { task: "MNLI", split: "dev_mismatched", dir: glueDir, taskDir: "MNLI-sample" });
    assert.equal(alias.examples, mm.examples);
    assert.is(alias.split, "validation_mismatched");
  });

  s("streaming: SST-2 train is read once, in chunks, the same at any chunk size", async () => {
    const path = join(glueDir, "SST-2", "train.tsv");
    const size = (await readFile(path)).length;
    const before = files.bytesRead();
    let count = 0;
    let digest = 0;
    for await (const e of readGlue(files, { task: "sst2", split: "train", dir: glueDir, chunkSize: 65521 })) {
      count++;
      digest = (Math.imul(digest, 31) + e.text.sentence!.length * 2 + e.label!) | 0;
    }
    assert.is(files.bytesRead() - before, size, "every byte read exactly once");
    assert.is(count, 67349);
    const full = await cached(CASES[0]!);
    let expected = 0;
    for (const e of full.examples) expected = (Math.imul(expected, 31) + e.text.sentence!.length * 2 + e.label!) | 0;
    assert.is(digest, expected);
    for (const chunkSize of [1, 3, 7]) {
      const small = await loadGlue(files, { task: "mnli", split: "validation_matched", dir: glueDir, taskDir: "MNLI-sample", chunkSize });
      assert.equal(small.examples, (await cached(CASES.at(-2)!)).examples, `chunkSize ${chunkSize}`);
    }
    const mrpc = await loadGlue(files, { task: "mrpc", split: "validation", dir: glueDir, chunkSize: 1000 });
    assert.ok(mrpc.stats.bom);
    assert.equal(mrpc.examples, (await cached(CASES.find((c) => c.task === "mrpc" && c.split === "validation")!)).examples);
  });

  s("Hugging Face layout: parquet (snappy, several row groups) and JSONL load to the same examples", async () => {
    const tmp = await tempDir("webpeft-glue-hf-");
    try {
      for (const c of CASES.filter((k) => k.split !== "train" || k.task === "cola")) {
        const task = glueTask(c.task);
        const { examples } = await cached(c);
        const config = task.hfConfig;
        // HF's columns: the text fields, label (int64 class, float32 for STS-B), idx (int32), in that order.
        const textOrder = c.task === "mnli" ? ["premise", "hypothesis"] : task.textFields;
        const columns = [
          ...textOrder.map((f) => ({ name: f, type: "string" as const, values: examples.map((e) => e.text[f]!) })),
          { name: "label", type: c.task === "stsb" ? ("float" as const) : ("int64" as const), values: examples.map((e) => e.label!) },
          { name: "idx", type: "int32" as const, values: examples.map((e) => e.idx) },
        ];
        await files.mkdirp(join(tmp.dir, "pq", config));
        await files.writeAtomic(join(tmp.dir, "pq", config, `${c.split}-00000-of-00001.parquet`), [
          writeParquet(columns, { rowGroupSize: 97, compression: "snappy" }),
        ]);
        await files.mkdirp(join(tmp.dir, "jsonl", config));
        const lines = examples.map((e) => JSON.stringify({ ...Object.fromEntries(textOrder.map((f) => [f, e.text[f]])), label: e.label, idx: e.idx }) + "\n");
        await files.writeAtomic(join(tmp.dir, "jsonl", config, `${c.split}.jsonl`), [encoder.encode(lines.join(""))]);

        const parquet = await loadGlue(files, { task: c.task, split: c.split, dir: join(tmp.dir, "pq") });
        const jsonl = await loadGlue(files, { task: c.task, split: c.split, dir: join(tmp.dir, "jsonl") });
        assert.equal(jsonl.examples, examples, `${c.task} ${c.split} JSONL`);
        // HF stores STS-B scores as float32; everything else is identical.
        const expected = c.task === "stsb" ? examples.map((e) => ({ ...e, label: Math.fround(e.label!) })) : examples;
        assert.equal(parquet.examples, expected, `${c.task} ${c.split} parquet`);
        assert.equal(parquet.examples.map((e) => formatT5(task, e)), examples.map((e) => formatT5(task, e)));
      }
    } finally {
      await tmp.remove();
    }
  });

  s("majority-class baselines match the data README (SST-2 50.9 %, RTE 52.7 %, MRPC 68.4 %, CoLA MCC 0)", async () => {
    const majority = async (task: GlueTaskName, word: string) => {
      const c = CASES.find((k) => k.task === task && k.split === "validation")!;
      const { examples } = await cached(c);
      return scoreTask(task, { predictions: examples.map(() => word), references: examples });
    };
    assert.is((await majority("sst2", "positive")).accuracy!.toFixed(3), "0.509");
    assert.is((await majority("rte", "entailment")).accuracy!.toFixed(3), "0.527");
    const mrpc = await majority("mrpc", "equivalent");
    assert.is(mrpc.accuracy!.toFixed(3), "0.684");
    assert.is(mrpc.f1, (2 * 279) / (2 * 279 + 129));
    assert.is((await majority("cola", "acceptable")).matthews_corrcoef, 0);
    // The gold targets score perfectly (STS-B: rounding to 0.2 costs a little correlation).
    for (const c of CASES.filter((k) => k.split.startsWith("validation"))) {
      const { examples } = await cached(c);
      const predictions = examples.map((e) => formatT5(c.task, e).target!);
      const scores = scoreTask(c.task, { predictions, references: examples });
      if (c.task === "stsb") assert.ok(scores.pearson! > 0.995 && scores.spearman! > 0.995, JSON.stringify(scores));
      else for (const v of Object.values(scores)) assert.is(v, 1, `${c.task} ${JSON.stringify(scores)}`);
    }
  });

  s("the example in datasets/README.md runs as written", async () => {
    const readme = await readFile(new URL("../../datasets/README.md", import.meta.url), "utf8");
    const example = readme.match(/```ts\n([\s\S]*?)```/)![1]!;
    const root = new URL("../../", import.meta.url);
    const source = example
      .replace(/from "\.\/([^"]+)"/g, (_, p: string) => `from ${JSON.stringify(new URL(p, root).href)}`)
      .replace(`"../shared/data/glue"`, JSON.stringify(glueDir));
    assert.ok(!/from "\.\//.test(source), "every import was redirected");
    const printed = await runSnippet(source, "datasets-readme");
    const text = printed.map((args) => args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ")).join("\n");
    assert.match(text, /872 examples/);
    assert.match(text, /"accuracy":0\.509/);
    assert.match(text, /sst2 sentence: /);
  });

  s.run();
}
