/**
 * GLUE readers on fixtures written here: every task's test-file layout (no labels), QQP and WNLI (not in
 * the shared data), malformed rows with file and line, skipping them, missing files and splits, line
 * reading edge cases (CRLF, blank lines, invalid UTF-8, characters cut across chunks), HF parquet/JSONL
 * errors and shards. Also checks that datasets/ stays runtime-neutral.
 */
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  GLUE_TASK_NAMES,
  GlueFormatError,
  GlueMissingFileError,
  GlueUsageError,
  formatT5,
  glueTask,
  loadGlue,
  readGlue,
  readLines,
  type ReadGlueOptions,
} from "../../datasets/glue/mod.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { tempDir, testFiles } from "./fs.ts";
import { writeParquet } from "./parquet-writer.ts";

const files = testFiles();
const encoder = new TextEncoder();

async function write(path: string, content: string | Uint8Array): Promise<void> {
  await files.mkdirp(join(path, ".."));
  await files.writeAtomic(path, [typeof content === "string" ? encoder.encode(content) : content]);
}

async function expectReject<E extends Error>(promise: Promise<unknown>, type: abstract new (...args: never[]) => E): Promise<E> {
  try {
    await promise;
  } catch (e) {
    assert.instance(e, type);
    return e as E;
  }
  throw new Error(`expected ${type.name}`);
}

const rows = (lines: string[]) => lines.map((l) => `${l}\n`).join("");

/** GLUE's test.tsv header and one row per task (made-up text; MNLI's test files have 10 columns). */
const TEST_FILES: Record<string, { folder: string; name: string; content: string }> = {
  cola: { folder: "CoLA", name: "test.tsv", content: rows(["index\tsentence", "0\tThe cat sat.", "1\tSat cat the."]) },
  sst2: { folder: "SST-2", name: "test.tsv", content: rows(["index\tsentence", "0\ta fine film . ", "1\ta dull one . "]) },
  mrpc: { folder: "MRPC", name: "test.tsv", content: rows(["index\t#1 ID\t#2 ID\t#1 String\t#2 String", "0\t1\t2\tA \"quote.\tB."]) },
  qqp: { folder: "QQP", name: "test.tsv", content: rows(["id\tquestion1\tquestion2", "0\tWhy?\tHow?"]) },
  stsb: {
    folder: "STS-B",
    name: "test.tsv",
    content: rows(["index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2", "0\tmain-news\tx\t2012\t0001\tnone\tnone\tA dog.\tA cat."]),
  },
  mnli: {
    folder: "MNLI",
    name: "test_matched.tsv",
    content: rows([
      "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2",
      "0\t1\t1n\tslate\t( a )\t( b )\t(ROOT a)\t(ROOT b)\tThe premise.\tThe hypothesis.",
    ]),
  },
  qnli: { folder: "QNLI", name: "test.tsv", content: rows(["index\tquestion\tsentence", "0\tWho?\tThem."]) },
  rte: { folder: "RTE", name: "test.tsv", content: rows(["index\tsentence1\tsentence2", "0\tA.\tB."]) },
  wnli: { folder: "WNLI", name: "test.tsv", content: rows(["index\tsentence1\tsentence2", "0\tA.\tB."]) },
};

export function register(_backends: readonly NamedBackend[]): void {
  const s = suite("GLUE readers on fixtures");
  let root = "";
  let remove = async () => {};
  s.before(async () => {
    const t = await tempDir("webpeft-glue-fixtures-");
    root = t.dir;
    remove = t.remove;
  });
  s.after(async () => remove());
  const load = (options: Omit<ReadGlueOptions, "dir"> & { dir?: string }) => loadGlue(files, { dir: root, ...options });

  s("test files of all nine tasks load without labels and format with a null target", async () => {
    for (const task of GLUE_TASK_NAMES) {
      const f = TEST_FILES[task]!;
      await write(join(root, f.folder, f.name), f.content);
      const split = task === "mnli" ? "test_matched" : "test";
      const { examples } = await load({ task, split });
      assert.ok(examples.length >= 1, task);
      for (const e of examples) {
        assert.is(e.label, null);
        const t5 = formatT5(task, e);
        assert.is(t5.target, null);
        assert.ok(t5.input.startsWith(`${task} ${glueTask(task).textFields[0]}: `), t5.input);
      }
    }
    const mnli = await load({ task: "mnli", split: "test_matched" });
    assert.equal(mnli.examples[0]!.text, { premise: "The premise.", hypothesis: "The hypothesis." });
    assert.is(formatT5("mnli", mnli.examples[0]!).input, "mnli hypothesis: The hypothesis. premise: The premise.");
    const mrpc = await load({ task: "mrpc", split: "test" });
    assert.is(mrpc.examples[0]!.text.sentence1, 'A "quote.', "quotes are ordinary characters");
  });

  s("QQP and WNLI in GLUE's layout: labels and T5 words (WNLI: 1 = entailment)", async () => {
    await write(
      join(root, "QQP", "dev.tsv"),
      rows(["id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate", "0\t1\t2\tHow do I cook?\tHow to cook?\t1", "1\t3\t4\tWhy?\tWhere?\t0"]),
    );
    await write(join(root, "WNLI", "dev.tsv"), rows(["index\tsentence1\tsentence2\tlabel", "0\tA.\tB.\t1", "1\tC.\tD.\t0"]));
    const qqp = await load({ task: "qqp", split: "validation" });
    assert.equal(qqp.examples.map((e) => formatT5("qqp", e)), [
      { input: "qqp question1: How do I cook? question2: How to cook?", target: "duplicate" },
      { input: "qqp question1: Why? question2: Where?", target: "not_duplicate" },
    ]);
    const wnli = await load({ task: "wnli", split: "dev" });
    assert.equal(wnli.examples.map((e) => [e.label, formatT5("wnli", e).target]), [
      [1, "entailment"],
      [0, "not_entailment"],
    ]);
    assert.is(formatT5("wnli", wnli.examples[0]!).input, "wnli sentence1: A. sentence2: B.");
  });

  s("a wrong column count or label stops the reader with file and line", async () => {
    const path = join(root, "bad1", "SST-2", "dev.tsv");
    await write(path, rows(["sentence\tlabel", "good . \t1", "a\ttab\tinside\t0", "bad . \t0"]));
    const e1 = await expectReject(loadGlue(files, { task: "sst2", split: "validation", dir: join(root, "bad1") }), GlueFormatError);
    assert.is(e1.file, path);
    assert.is(e1.line, 3);
    assert.match(e1.message, /dev\.tsv:3: expected 2 .*columns, found 4/);

    const p2 = join(root, "bad2", "RTE", "dev.tsv");
    await write(p2, rows(["index\tsentence1\tsentence2\tlabel", "0\tA.\tB.\tentailment", "1\tC.\tD.\tmaybe"]));
    const e2 = await expectReject(loadGlue(files, { task: "rte", split: "validation", dir: join(root, "bad2") }), GlueFormatError);
    assert.is(e2.line, 3);
    assert.match(e2.reason, /label "maybe" is not one of "entailment", "not_entailment"/);

    const p3 = join(root, "bad3", "STS-B", "dev.tsv");
    const header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore";
    await write(p3, rows([header, "0\tg\tf\ty\t0\tnone\tnone\tA.\tB.\t3.8", "1\tg\tf\ty\t1\tnone\tnone\tA.\tB.\tfive", "2\tg\tf\ty\t2\tnone\tnone\tA.\tB.\t5.2"]));
    const e3 = await expectReject(loadGlue(files, { task: "stsb", split: "validation", dir: join(root, "bad3") }), GlueFormatError);
    assert.is(e3.line, 3);
    assert.match(e3.reason, /score "five" is not a number/);

    // CoLA (no header): positions, exactly 4 columns
    await write(join(root, "bad4", "CoLA", "dev.tsv"), "gj04\t1\t\tFine.\ngj04\t2\t*\tBad label.\ngj04\t0\t*");
    const e4 = await expectReject(loadGlue(files, { task: "cola", split: "validation", dir: join(root, "bad4") }), GlueFormatError);
    assert.is(e4.line, 2);
  });

  s("skipBadRows: skipped rows are counted with their lines, idx still counts them", async () => {
    const dir = join(root, "skip");
    const header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore";
    await write(
      join(dir, "STS-B", "train.tsv"),
      rows([header, "0\tg\tf\ty\t0\tnone\tnone\tA.\tB.\t3.8", "1\tg\tf\ty\t1\tnone\tnone\tonly nine", "2\tg\tf\ty\t2\tnone\tnone\tA.\tB.\t5.2", "3\tg\tf\ty\t3\tnone\tnone\tC.\tD.\t0"]),
    );
    const stream = readGlue(files, { task: "stsb", split: "train", dir, skipBadRows: true });
    const examples = [];
    for await (const e of stream) examples.push(e);
    assert.equal(examples.map((e) => [e.idx, e.label]), [
      [0, 3.8],
      [3, 0],
    ]);
    assert.is(stream.stats.rows, 2);
    assert.is(stream.stats.skipped, 2);
    assert.equal(stream.stats.problems.map((p) => p.line), [3, 4]);
    for await (const _ of stream); // a second pass counts afresh
    assert.equal([stream.stats.rows, stream.stats.skipped, stream.stats.problems.length], [2, 2, 2]);
    assert.match(stream.stats.problems[1]!.reason, /outside \[0, 5\]/);
  });

  s("a missing split file lists every path it expected; unknown splits and tasks name the valid ones", async () => {
    const e = await expectReject(load({ task: "cola", split: "train", dir: join(root, "nothing") }), GlueMissingFileError);
    assert.is(e.task, "CoLA");
    assert.is(e.split, "train");
    assert.equal(e.expected, [
      join(root, "nothing", "CoLA", "train.tsv"),
      join(root, "nothing", "cola", "train-00000-of-00001.parquet"),
      join(root, "nothing", "cola", "train", "0000.parquet"),
      join(root, "nothing", "cola", "glue-train.parquet"),
      join(root, "nothing", "cola", "train.jsonl"),
    ]);
    for (const p of e.expected) assert.ok(e.message.includes(p));
    const only = await expectReject(load({ task: "mnli", split: "validation_matched", dir: join(root, "nothing"), layout: "glue-tsv" }), GlueMissingFileError);
    assert.equal(only.expected, [join(root, "nothing", "MNLI", "dev_matched.tsv")]);
    const listed = await expectReject(load({ task: "sst2", split: "train", files: [join(root, "a.parquet"), join(root, "b.parquet")] }), GlueMissingFileError);
    assert.is(listed.expected.length, 2);

    const split = await expectReject(load({ task: "mnli", split: "validation" }), GlueUsageError);
    assert.match(split.message, /validation_matched, validation_mismatched/);
    const task = await expectReject(Promise.resolve().then(() => load({ task: "squad", split: "train" })), GlueUsageError);
    assert.match(task.message, /cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli/);
    assert.is(glueTask("STS-B").name, "stsb");
    assert.is(glueTask("sst_2").name, "sst2");
  });

  s("a header without the needed columns is an error on line 1", async () => {
    await write(join(root, "hdr", "QNLI", "dev.tsv"), rows(["index\tquestion\ttext\tlabel", "0\tQ?\tA.\tentailment"]));
    const e = await expectReject(loadGlue(files, { task: "qnli", split: "validation", dir: join(root, "hdr") }), GlueFormatError);
    assert.is(e.line, 1);
    assert.match(e.reason, /lacks column "sentence"/);
    // a labelled split must have its label column; a test split need not
    await write(join(root, "hdr", "SST-2", "train.tsv"), rows(["sentence", "a . "]));
    const e2 = await expectReject(loadGlue(files, { task: "sst2", split: "train", dir: join(root, "hdr") }), GlueFormatError);
    assert.match(e2.reason, /lacks column "label"/);
  });

  s("lines: CRLF, blank lines, no final newline, invalid UTF-8, characters and BOM cut across chunks", async () => {
    const dir = join(root, "lines");
    await write(join(dir, "SST-2", "train.tsv"), "\ufeffsentence\tlabel\r\nna\u00efve caf\u00e9 \u2014 \ud83c\udfac . \t1\r\n\r\nok\t0");
    for (const chunkSize of [1, 2, 3, 5, 1 << 20]) {
      const { examples, stats } = await loadGlue(files, { task: "sst2", split: "train", dir, chunkSize });
      assert.equal(examples, [
        { idx: 0, text: { sentence: "na\u00efve caf\u00e9 \u2014 \ud83c\udfac . " }, label: 1 },
        { idx: 1, text: { sentence: "ok" }, label: 0 },
      ]);
      assert.ok(stats.bom);
    }
    const bytes = Uint8Array.from([...encoder.encode("sentence\tlabel\nfine\t1\nbad "), 0xff, ...encoder.encode("\t0\n")]);
    await write(join(dir, "bin", "SST-2", "train.tsv"), bytes);
    const e = await expectReject(loadGlue(files, { task: "sst2", split: "train", dir: join(dir, "bin") }), GlueFormatError);
    assert.is(e.line, 3);
    assert.match(e.reason, /UTF-8/);

    const empty = join(dir, "empty.tsv");
    await write(empty, "");
    const f = await files.open(empty);
    const got = [];
    for await (const line of readLines(f)) got.push(line);
    await f.close();
    assert.equal(got, []);
  });

  s("HF JSONL and parquet: bad records name their line or row; shards; test labels -1", async () => {
    const dir = join(root, "hf");
    await write(
      join(dir, "rte", "train.jsonl"),
      [
        `{"sentence1":"A.","sentence2":"B.","label":0,"idx":0}`,
        `{"sentence1":"C.","sentence2":"D.","label":1,"idx":1}`,
        `{"sentence1":"E.","sentence2":"F.","label":2,"idx":2}`,
        `not json`,
        "",
      ].join("\n"),
    );
    const e = await expectReject(load({ task: "rte", split: "train", dir }), GlueFormatError);
    assert.is(e.line, 3);
    assert.match(e.reason, /label 2 is not a class index/);
    const skipped = await load({ task: "rte", split: "train", dir, skipBadRows: true });
    assert.is(skipped.examples.length, 2);
    assert.is(skipped.stats.skipped, 2);
    assert.is(skipped.stats.problems[1]!.line, 4);

    const shard = (from: number, labels: number[]) =>
      writeParquet(
        [
          { name: "sentence", type: "string", values: labels.map((_, i) => `s${from + i} . `) },
          { name: "label", type: "int64", values: labels },
          { name: "idx", type: "int32", values: labels.map((_, i) => from + i) },
        ],
        { rowGroupSize: 2 },
      );
    const a = join(dir, "sst2", "train-00000-of-00002.parquet");
    const b = join(dir, "sst2", "train-00001-of-00002.parquet");
    await write(a, shard(0, [0, 1, 1]));
    await write(b, shard(3, [1, 0]));
    const sharded = await load({ task: "sst2", split: "train", files: [a, b] });
    assert.equal(sharded.examples.map((x) => [x.idx, x.label, x.text.sentence]), [
      [0, 0, "s0 . "],
      [1, 1, "s1 . "],
      [2, 1, "s2 . "],
      [3, 1, "s3 . "],
      [4, 0, "s4 . "],
    ]);
    const missingShards = await expectReject(load({ task: "sst2", split: "train", dir }), GlueMissingFileError);
    assert.match(missingShards.message, /shards/);

    await write(join(dir, "sst2", "test-00000-of-00001.parquet"), shard(0, [-1, -1]));
    const test = await load({ task: "sst2", split: "test", dir });
    assert.equal(test.examples.map((x) => x.label), [null, null]);

    await write(join(dir, "cola", "validation-00000-of-00001.parquet"), shard(0, [1, 5, 0]));
    const bad = await expectReject(load({ task: "cola", split: "validation", dir, layout: "hf-parquet" }), GlueFormatError);
    assert.is(bad.line, 2);
    await write(
      join(dir, "qnli", "validation-00000-of-00001.parquet"),
      writeParquet([{ name: "question", type: "string", values: ["Q?"] }, { name: "label", type: "int64", values: [0] }]),
    );
    const schema = await expectReject(load({ task: "qnli", split: "validation", dir }), GlueFormatError);
    assert.match(schema.reason, /lacks column "sentence"/);
    await write(join(dir, "qqp", "validation-00000-of-00001.parquet"), "PAR1 not really");
    const junk = await expectReject(load({ task: "qqp", split: "validation", dir }), GlueFormatError);
    assert.match(junk.reason, /not a readable parquet file/);
  });

  s("datasets/ has no Node-, Deno- or process-specific code", async () => {
    const forbidden: [RegExp, string][] = [
      [/from\s+["']node:/, "a node: import"],
      [/from\s+["'](fs|path|os|url|process)["']/, "a Node builtin import"],
      [/\bDeno\./, "the Deno namespace"],
      [/\bprocess\.(env|argv|exit|stdout|versions|cwd)/, "the Node process object"],
      [/\brequire\(/, "CommonJS require"],
    ];
    const problems: string[] = [];
    let scanned = 0;
    const walk = async (dir: URL): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) await walk(new URL(`${entry.name}/`, dir));
        else if (entry.name.endsWith(".ts")) {
          const text = await readFile(new URL(entry.name, dir), "utf8");
          scanned++;
          for (const [pattern, what] of forbidden) if (pattern.test(text)) problems.push(`${entry.name}: ${what}`);
        }
      }
    };
    await walk(new URL("../../datasets/", import.meta.url));
    assert.ok(scanned >= 10, `scanned ${scanned} files`);
    assert.equal(problems, []);
  });

  s.run();
}
