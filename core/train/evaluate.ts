/**
 * Evaluation: batched greedy decoding (with the key/value cache, see models/t5/generate.ts) of a
 * tokenised split, the decoded texts mapped back to file order, and the task's GLUE metrics through
 * `scoreTask`. Batches are sorted by length over the whole split, so little time goes into padding.
 */
import { type TokenizedSplit, glueBatches } from "../../datasets/glue/batching.ts";
import { scoreTask } from "../../datasets/glue/metrics.ts";
import type { GlueTask } from "../../datasets/glue/tasks.ts";
import type { T5Tokenizer } from "../io/tokenizer.ts";
import type { IntMatrix } from "../models/t5/model.ts";
import type { GenerateOptions } from "../models/t5/generate.ts";

/** A model that decodes: a T5ForConditionalGeneration or a PeftModel. */
export interface Generator {
  generate(inputIds: IntMatrix, attentionMask?: IntMatrix, options?: GenerateOptions): Promise<number[][]>;
}

export interface SplitEvaluation {
  /** The task's GLUE metrics (labelled splits only). */
  readonly metrics: Readonly<Record<string, number>>;
  /** The task's main metric (first of GLUE's list) and its value. */
  readonly mainMetric: string;
  readonly score: number;
  /** Decoded predictions in file order. */
  readonly predictions: readonly string[];
}

export interface EvaluateSplitOptions {
  readonly batchSize: number;
  /** Tokens to generate at most (the longest target with its </s> is enough). */
  readonly maxNewTokens: number;
  readonly maxSourceLength?: number;
  /** Called after each batch with (examples done, total). */
  readonly onBatch?: (done: number, total: number) => void;
}

/** Decodes every example of `split` and scores it; an unlabelled split gets predictions but no metrics. */
export async function evaluateSplit(model: Generator, tokenizer: T5Tokenizer, task: GlueTask, split: TokenizedSplit, options: EvaluateSplitOptions): Promise<SplitEvaluation> {
  const predictions = new Array<string>(split.size).fill("");
  let done = 0;
  const batches = glueBatches(split, { batchSize: options.batchSize, shuffle: false, bucketWindow: Infinity, ...(options.maxSourceLength ? { maxSourceLength: options.maxSourceLength } : {}) });
  for (const batch of batches) {
    const generated = await model.generate(batch.inputs.inputIds, batch.inputs.attentionMask, { maxNewTokens: options.maxNewTokens });
    generated.forEach((ids, b) => (predictions[batch.rows[b]!] = tokenizer.decode(ids, { skipSpecialTokens: true })));
    done += batch.rows.length;
    options.onBatch?.(done, split.size);
  }
  const labelled = split.size > 0 && !Number.isNaN(split.labels[0]!);
  const mainMetric = task.metrics[0]!;
  if (!labelled) return { metrics: {}, mainMetric, score: NaN, predictions };
  const metrics = scoreTask(task, { predictions, references: split.labels }) as Record<string, number>;
  return { metrics, mainMetric, score: metrics[mainMetric] ?? NaN, predictions };
}
