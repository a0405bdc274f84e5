/**
 * GLUE for webpeft: task specs, streaming readers (GLUE TSV, Hugging Face parquet and JSONL), T5's
 * text-to-text formatting, GLUE's metrics, tokenised batches and a synthetic SST-2-style task.
 * Runtime-neutral: files come through a `FileAccess` the host provides.
 */
export type { FileAccess, RandomAccessFile } from "./files.ts";
export { GlueFormatError, GlueMissingFileError, GlueUsageError } from "./errors.ts";
export {
  GLUE_TASK_NAMES,
  glueSplit,
  glueTask,
  isTestSplit,
  type GlueMetricName,
  type GlueSplit,
  type GlueTask,
  type GlueTaskName,
  type TsvColumn,
  type TsvLayout,
} from "./tasks.ts";
export {
  expectedGlueFiles,
  loadGlue,
  readGlue,
  type GlueExample,
  type GlueExampleStream,
  type GlueLayout,
  type GlueReadStats,
  type ReadGlueOptions,
} from "./read.ts";
export { readLines, type Line, type LineReaderOptions } from "./lines.ts";
export { formatT5, parsePrediction, stsbTarget, t5Input, t5Target, type T5Example } from "./format.ts";
export {
  accuracy,
  averageRanks,
  f1Score,
  glueAverage,
  matthewsCorrcoef,
  mnliScores,
  pearson,
  scoreTask,
  spearman,
  type ScoreTaskOptions,
  type TaskScores,
} from "./metrics.ts";
export {
  TokenCache,
  batchCount,
  glueBatches,
  readTokenized,
  sequenceLength,
  tokenizeSplit,
  writeTokenized,
  type Batch,
  type BatchInputs,
  type IntMatrixData,
  type BatchOptions,
  type PackedSequences,
  type TokenCacheOptions,
  type TokenizeSplitOptions,
  type Tokenize,
  type TokenizedSplit,
} from "./batching.ts";
export { SeededRandom } from "./random.ts";
export {
  syntheticSst2Examples,
  writeSyntheticSst2,
  type SyntheticExample,
  type SyntheticSst2Options,
  type SyntheticSst2Result,
} from "./synthetic.ts";
