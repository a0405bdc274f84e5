/**
 * Writes the span-corruption batches of a pretraining run to one binary file, so that another
 * implementation can train on exactly the same data (scripts/pretrain/torch_proxy.py: is the loss plateau
 * of our runs the data and budget, or our trainer?).
 *
 *   npx tsx scripts/pretrain/dump-batches.ts [--steps 400] [--batch 32] [--input-length 64] [--seed 42]
 *       [--synthetic 10000] [--out .cache/pretrain/batches.bin]
 *
 * File layout (little-endian int32): header [steps, batch, inputLength, targetLength, vocabSize], then per
 * step the (batch, inputLength) input ids followed by the (batch, targetLength) target ids.
 */
import { writeFile } from "node:fs/promises";
import { loadTokenizer } from "../../core/io/tokenizer.ts";
import { nodeFiles } from "../../runners/node/files.ts";
import { sharedDataDir, spanCorruptionCorpus, SYNTHETIC_SENTENCES } from "./corpus.ts";

const argv = process.argv.slice(2);
const num = (name: string, fallback: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const outIndex = argv.indexOf("--out");
const out = outIndex >= 0 ? argv[outIndex + 1]! : ".cache/pretrain/batches.bin";
const steps = num("steps", 400);
const batch = num("batch", 32);
const inputLength = num("input-length", 64);
const seed = num("seed", 42);

const fs = nodeFiles();
const tokenizer = await loadTokenizer(fs, "runners/demo/t5-mini");
const { data } = await spanCorruptionCorpus(fs, tokenizer, { sharedDir: sharedDataDir(argv), syntheticSentences: num("synthetic", SYNTHETIC_SENTENCES), inputLength, batchSize: batch, seed });
const T = data.shape.targetLength;
const words = new Int32Array(5 + steps * batch * (inputLength + T));
words.set([steps, batch, inputLength, T, tokenizer.vocabSize]);
let at = 5;
for (let step = 0; step < steps; step++) {
  const b = data.batch(step);
  words.set(b.inputIds.data, at);
  at += b.inputIds.data.length;
  words.set(b.labels.data, at);
  at += b.labels.data.length;
}
await writeFile(out, new Uint8Array(words.buffer));
console.log(`wrote ${out}: ${steps} steps of ${batch} × ${inputLength} → ${T} ids`);
