/**
 * The unlabelled English text the shipped T5 is pretrained on, read at run time and never copied into the
 * repository:
 *
 *   1. The text columns of the GLUE *train* splits in `<shared>/glue` (SST-2, CoLA, MRPC, STS-B, RTE and the
 *      MNLI sample), read by the project's own GLUE reader. Labels are dropped; no dev or test row is read.
 *      (QNLI ships only its dev split there, so it contributes nothing.)
 *   2. Text the repository generates: sentences of the synthetic SST-2 task (datasets/glue/synthetic.ts,
 *      without their labels), and one short line per GLUE task naming the task's class words
 *      (datasets/glue/tasks.ts), so every target word of the later fine-tuning is seen in context once.
 *
 * `<shared>` is `--shared <dir>`, else $WEBPEFT_SHARED_DATA, else `../shared/data` beside the checkout.
 */
import { fileURLToPath } from "node:url";
import { GLUE_TASK_NAMES, glueTask } from "../../datasets/glue/tasks.ts";
import { readGlue } from "../../datasets/glue/read.ts";
import { syntheticSst2Examples } from "../../datasets/glue/synthetic.ts";
import type { FileAccess } from "../../core/io/files.ts";
import type { T5Tokenizer } from "../../core/io/tokenizer.ts";
import { SpanCorruptionStream } from "./span-corruption.ts";

/** One source of text and what was read from it. */
export interface CorpusSource {
  readonly name: string;
  /** The file read (GLUE) or the generator used. */
  readonly origin: string;
  /** Rows of the file read (GLUE) or items generated. */
  readonly rows: number;
  readonly texts: readonly string[];
}

export interface Corpus {
  readonly sources: readonly CorpusSource[];
  /** Every text of every source, in source order. */
  readonly texts: readonly string[];
}

/** The GLUE train splits read: [task, folder inside glue/]. */
export const GLUE_TRAIN_SOURCES: readonly (readonly [task: string, taskDir: string])[] = [
  ["sst2", "SST-2"],
  ["cola", "CoLA"],
  ["mrpc", "MRPC"],
  ["stsb", "STS-B"],
  ["rte", "RTE"],
  ["mnli", "MNLI-sample"],
];

/** Synthetic SST-2 sentences generated (seed 1234: a stream apart from the demo's own seed 0 files). */
export const SYNTHETIC_SENTENCES = 10_000;
export const SYNTHETIC_SEED = 1234;

/** `--shared <dir>`, else $WEBPEFT_SHARED_DATA, else ../shared/data beside the repository. */
export function sharedDataDir(argv: readonly string[] = process.argv): string {
  const i = argv.indexOf("--shared");
  if (i >= 0 && argv[i + 1]) return argv[i + 1]!;
  const fromEnv = process.env.WEBPEFT_SHARED_DATA;
  if (fromEnv) return fromEnv;
  return fileURLToPath(new URL("../../../shared/data", import.meta.url));
}

/** Lines the repository generates from its task table: each task's name and its class words. */
export function taskWordLines(): string[] {
  const lines: string[] = [];
  for (const name of GLUE_TASK_NAMES) {
    const task = glueTask(name);
    const words = task.labels ?? ["0.0", "1.4", "2.6", "3.2", "4.8", "5.0"];
    lines.push(`${task.name} ${task.textFields.join(" ")} : ${words.join(" , ")} .`);
  }
  return lines;
}

/**
 * Reads every source; texts are kept exactly as in the files (trimmed of surrounding whitespace).
 * `syntheticSentences`: how many synthetic SST-2 sentences to generate (default SYNTHETIC_SENTENCES).
 */
export async function readCorpus(fs: FileAccess, sharedDir: string, syntheticSentences = SYNTHETIC_SENTENCES): Promise<Corpus> {
  const sources: CorpusSource[] = [];
  const glueDir = fs.join(sharedDir, "glue");
  for (const [task, taskDir] of GLUE_TRAIN_SOURCES) {
    const stream = readGlue(fs, { task, split: "train", dir: glueDir, taskDir, layout: "glue-tsv" });
    const texts: string[] = [];
    for await (const example of stream) {
      for (const field of stream.task.textFields) {
        const text = (example.text[field] ?? "").trim();
        if (text.length > 0) texts.push(text);
      }
    }
    sources.push({ name: `glue/${taskDir}/train.tsv`, origin: stream.stats.files[0] ?? taskDir, rows: stream.stats.rows, texts });
  }
  const synthetic = syntheticSst2Examples(syntheticSentences, SYNTHETIC_SEED).map((e) => e.sentence.trim());
  sources.push({ name: "synthetic SST-2 sentences", origin: `syntheticSst2Examples(${syntheticSentences}, ${SYNTHETIC_SEED})`, rows: synthetic.length, texts: synthetic });
  const words = taskWordLines();
  sources.push({ name: "GLUE task words", origin: "datasets/glue/tasks.ts", rows: words.length, texts: words });
  return { sources, texts: sources.flatMap((s) => s.texts) };
}

/**
 * The corpus tokenised (each text's ids without its closing </s>: the stream packs texts back to back)
 * and T5's span corruption over it: what pretrain.ts trains on and export.ts / dump-batches.ts read.
 */
export async function spanCorruptionCorpus(
  fs: FileAccess,
  tokenizer: T5Tokenizer,
  options: { readonly sharedDir: string; readonly syntheticSentences?: number; readonly inputLength: number; readonly batchSize: number; readonly seed: number; readonly oneWordFraction?: number },
): Promise<{ readonly corpus: Corpus; readonly tokens: number; readonly data: SpanCorruptionStream }> {
  const corpus = await readCorpus(fs, options.sharedDir, options.syntheticSentences ?? SYNTHETIC_SENTENCES);
  const texts = corpus.texts.map((t) => Int32Array.from(tokenizer.encode(t).slice(0, -1)));
  const data = new SpanCorruptionStream(texts, { inputLength: options.inputLength, batchSize: options.batchSize, seed: options.seed, vocabSize: tokenizer.vocabSize, eosId: tokenizer.eosId, oneWordFraction: options.oneWordFraction ?? 0 });
  return { corpus, tokens: texts.reduce((n, t) => n + t.length, 0), data };
}
