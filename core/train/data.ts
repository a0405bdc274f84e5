/**
 * The data side of a run: a GLUE split read from its real files, formatted as T5 text-to-text and
 * tokenised once into packed ids (datasets/glue/batching.ts), optionally cut to its first N examples.
 */
import { type TokenizedSplit, tokenizeSplit } from "../../datasets/glue/batching.ts";
import { readGlue } from "../../datasets/glue/read.ts";
import { type GlueSplit, type GlueTask, glueSplit } from "../../datasets/glue/tasks.ts";
import type { FileAccess } from "../io/files.ts";
import type { T5Tokenizer } from "../io/tokenizer.ts";

export interface SplitSource {
  readonly task: GlueTask;
  readonly split: string;
  readonly data: string;
  readonly taskDir?: string;
  readonly maxExamples?: number;
}

/** The first `n` examples of a tokenised split (a copy of their ids). */
export function firstExamples(split: TokenizedSplit, n: number): TokenizedSplit {
  if (n >= split.size) return split;
  const cut = (packed: TokenizedSplit["sources"]) => ({ ids: packed.ids.slice(0, packed.offsets[n]!), offsets: packed.offsets.slice(0, n + 1) });
  return { ...split, size: n, idx: split.idx.slice(0, n), labels: split.labels.slice(0, n), sources: cut(split.sources), targets: cut(split.targets) };
}

/** Reads and tokenises one split of a task (its files are checked when reading starts). */
export async function tokenizedSplit(fs: FileAccess, tokenizer: T5Tokenizer, source: SplitSource): Promise<TokenizedSplit> {
  const split: GlueSplit = glueSplit(source.task, source.split);
  const stream = readGlue(fs, { task: source.task.name, split, dir: source.data, ...(source.taskDir ? { taskDir: source.taskDir } : {}) });
  const limited = source.maxExamples === undefined ? stream : takeExamples(stream, source.maxExamples);
  const tokenized = await tokenizeSplit(limited, { task: source.task.name, split, tokenize: (texts) => texts.map((t) => tokenizer.encode(t)) });
  return source.maxExamples === undefined ? tokenized : firstExamples(tokenized, source.maxExamples);
}

/** Stops reading a stream after `n` examples (a big split is not read to its end for a quick run). */
async function* takeExamples<T>(stream: AsyncIterable<T>, n: number): AsyncGenerator<T> {
  let taken = 0;
  if (n <= 0) return;
  for await (const item of stream) {
    yield item;
    if (++taken >= n) return;
  }
}

/** Longest target (in tokens, with its </s>) of a split: how many tokens evaluation must generate. */
export function longestTarget(split: TokenizedSplit): number {
  let longest = 1;
  for (let i = 0; i < split.size; i++) longest = Math.max(longest, split.targets.offsets[i + 1]! - split.targets.offsets[i]!);
  return longest;
}
