/**
 * The nine GLUE tasks as data: where their files are (GLUE's own TSV layout and Hugging Face's
 * `nyu-mll/glue` layout), which columns hold the text and the label, the label words T5 was trained to
 * produce, and the metrics GLUE reports for them.
 *
 * Field names are Hugging Face's column names (`sentence`, `sentence1`, `premise`, …) whatever the layout;
 * label indices are HF's integer labels (`labels[i]` is the word for class i).
 */
import { GlueUsageError } from "./errors.ts";

export type GlueTaskName = "cola" | "sst2" | "mrpc" | "qqp" | "stsb" | "mnli" | "qnli" | "rte" | "wnli";

/** Split names follow Hugging Face; GLUE's file stems (`dev`, `dev_matched`, …) are accepted as aliases. */
export type GlueSplit =
  | "train"
  | "validation"
  | "test"
  | "validation_matched"
  | "validation_mismatched"
  | "test_matched"
  | "test_mismatched";

export type GlueMetricName = "matthews_corrcoef" | "accuracy" | "f1" | "pearson" | "spearman";

/** Where a TSV column is: its header name, or its 0-based position in a file without a header. */
export type TsvColumn = string | number;

/** How one GLUE TSV file is laid out. */
export interface TsvLayout {
  /** false: no header line, columns by position and exactly `columnCount` of them (CoLA train/dev). */
  readonly header: boolean;
  readonly columnCount?: number;
  /** HF field name → column. */
  readonly text: Readonly<Record<string, TsvColumn>>;
  /** The label column; a test file lacks it (then every label is null). */
  readonly label: TsvColumn;
}

export interface GlueTask {
  readonly name: GlueTaskName;
  /** GLUE's own spelling, e.g. "SST-2". */
  readonly title: string;
  /** Folder of the task in GLUE's TSV layout (`glue_data/SST-2`). */
  readonly glueDir: string;
  /** Config name in the Hugging Face `nyu-mll/glue` dataset. */
  readonly hfConfig: string;
  /** split → TSV file name in `glueDir`. */
  readonly splits: Readonly<Partial<Record<GlueSplit, string>>>;
  /** The text fields in T5's input order (T5 joins them sorted by name: `hypothesis` before `premise`). */
  readonly textFields: readonly string[];
  /** Class words (HF/TFDS label names, T5's targets); null for the STS-B regression. */
  readonly labels: readonly string[] | null;
  /** How each class is written in the TSV label column (index = class). Null for STS-B (a number). */
  readonly tsvLabels: readonly string[] | null;
  readonly metrics: readonly GlueMetricName[];
  /** Layout of the labelled files (train, validation) and of the test files. */
  readonly tsv: { readonly labelled: TsvLayout; readonly test: TsvLayout };
}

const standardSplits = { train: "train.tsv", validation: "dev.tsv", test: "test.tsv" } as const;
const binary = ["0", "1"] as const;
const nli2 = ["entailment", "not_entailment"] as const;

function pair(a: string, b: string, ca: TsvColumn, cb: TsvColumn, label: TsvColumn): TsvLayout {
  return { header: true, text: { [a]: ca, [b]: cb }, label };
}

const TASKS: Readonly<Record<GlueTaskName, GlueTask>> = {
  cola: {
    name: "cola",
    title: "CoLA",
    glueDir: "CoLA",
    hfConfig: "cola",
    splits: standardSplits,
    textFields: ["sentence"],
    labels: ["unacceptable", "acceptable"],
    tsvLabels: binary,
    metrics: ["matthews_corrcoef"],
    // train/dev: no header, 4 columns: source code, label, the author's original mark ("*", "?", ""), sentence
    tsv: {
      labelled: { header: false, columnCount: 4, text: { sentence: 3 }, label: 1 },
      test: { header: true, text: { sentence: "sentence" }, label: "label" },
    },
  },
  sst2: {
    name: "sst2",
    title: "SST-2",
    glueDir: "SST-2",
    hfConfig: "sst2",
    splits: standardSplits,
    textFields: ["sentence"],
    labels: ["negative", "positive"],
    tsvLabels: binary,
    metrics: ["accuracy"],
    tsv: {
      labelled: { header: true, text: { sentence: "sentence" }, label: "label" },
      test: { header: true, text: { sentence: "sentence" }, label: "label" },
    },
  },
  mrpc: {
    name: "mrpc",
    title: "MRPC",
    glueDir: "MRPC",
    hfConfig: "mrpc",
    splits: standardSplits,
    textFields: ["sentence1", "sentence2"],
    labels: ["not_equivalent", "equivalent"],
    tsvLabels: binary,
    metrics: ["f1", "accuracy"],
    tsv: {
      labelled: pair("sentence1", "sentence2", "#1 String", "#2 String", "Quality"),
      test: pair("sentence1", "sentence2", "#1 String", "#2 String", "Quality"),
    },
  },
  qqp: {
    name: "qqp",
    title: "QQP",
    glueDir: "QQP",
    hfConfig: "qqp",
    splits: standardSplits,
    textFields: ["question1", "question2"],
    labels: ["not_duplicate", "duplicate"],
    tsvLabels: binary,
    metrics: ["f1", "accuracy"],
    tsv: {
      labelled: pair("question1", "question2", "question1", "question2", "is_duplicate"),
      test: pair("question1", "question2", "question1", "question2", "is_duplicate"),
    },
  },
  stsb: {
    name: "stsb",
    title: "STS-B",
    glueDir: "STS-B",
    hfConfig: "stsb",
    splits: standardSplits,
    textFields: ["sentence1", "sentence2"],
    labels: null,
    tsvLabels: null,
    metrics: ["pearson", "spearman"],
    tsv: {
      labelled: pair("sentence1", "sentence2", "sentence1", "sentence2", "score"),
      test: pair("sentence1", "sentence2", "sentence1", "sentence2", "score"),
    },
  },
  mnli: {
    name: "mnli",
    title: "MNLI",
    glueDir: "MNLI",
    hfConfig: "mnli",
    splits: {
      train: "train.tsv",
      validation_matched: "dev_matched.tsv",
      validation_mismatched: "dev_mismatched.tsv",
      test_matched: "test_matched.tsv",
      test_mismatched: "test_mismatched.tsv",
    },
    textFields: ["hypothesis", "premise"],
    labels: ["entailment", "neutral", "contradiction"],
    tsvLabels: ["entailment", "neutral", "contradiction"],
    metrics: ["accuracy"],
    tsv: {
      labelled: pair("premise", "hypothesis", "sentence1", "sentence2", "gold_label"),
      test: pair("premise", "hypothesis", "sentence1", "sentence2", "gold_label"),
    },
  },
  qnli: {
    name: "qnli",
    title: "QNLI",
    glueDir: "QNLI",
    hfConfig: "qnli",
    splits: standardSplits,
    textFields: ["question", "sentence"],
    labels: nli2,
    tsvLabels: nli2,
    metrics: ["accuracy"],
    tsv: {
      labelled: pair("question", "sentence", "question", "sentence", "label"),
      test: pair("question", "sentence", "question", "sentence", "label"),
    },
  },
  rte: {
    name: "rte",
    title: "RTE",
    glueDir: "RTE",
    hfConfig: "rte",
    splits: standardSplits,
    textFields: ["sentence1", "sentence2"],
    labels: nli2,
    tsvLabels: nli2,
    metrics: ["accuracy"],
    tsv: {
      labelled: pair("sentence1", "sentence2", "sentence1", "sentence2", "label"),
      test: pair("sentence1", "sentence2", "sentence1", "sentence2", "label"),
    },
  },
  wnli: {
    name: "wnli",
    title: "WNLI",
    glueDir: "WNLI",
    hfConfig: "wnli",
    splits: standardSplits,
    textFields: ["sentence1", "sentence2"],
    // WNLI's TSV writes 0/1, and class 1 is entailment: the label words are in the opposite order to RTE's.
    labels: ["not_entailment", "entailment"],
    tsvLabels: binary,
    metrics: ["accuracy"],
    tsv: {
      labelled: pair("sentence1", "sentence2", "sentence1", "sentence2", "label"),
      test: pair("sentence1", "sentence2", "sentence1", "sentence2", "label"),
    },
  },
};

export const GLUE_TASK_NAMES: readonly GlueTaskName[] = ["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"];

/** The task spec for a name: "sst2", "SST-2", "sts-b", "MNLI"… (case, "-" and "_" are ignored). */
export function glueTask(name: GlueTaskName | string): GlueTask {
  const key = name.toLowerCase().replace(/[-_\s]/g, "");
  const task = (TASKS as Record<string, GlueTask>)[key];
  if (!task) throw GlueUsageError.of(`unknown GLUE task "${name}"; the tasks are ${GLUE_TASK_NAMES.join(", ")}`);
  return task;
}

const splitAliases: Readonly<Record<string, GlueSplit>> = {
  dev: "validation",
  dev_matched: "validation_matched",
  dev_mismatched: "validation_mismatched",
};

/** The split a name means for this task ("dev" → "validation"); an error lists the task's splits. */
export function glueSplit(task: GlueTask, name: GlueSplit | string): GlueSplit {
  const split = (splitAliases[name] ?? name) as GlueSplit;
  if (!(split in task.splits)) {
    throw GlueUsageError.of(`GLUE ${task.title} has no split "${name}"; its splits are ${Object.keys(task.splits).join(", ")}`);
  }
  return split;
}

export function isTestSplit(split: GlueSplit): boolean {
  return split.startsWith("test");
}
