/**
 * Exports the pretrained weights of a run to the shipped model folder (Hugging Face layout), checks that
 * the project's loaders read it back, and writes its model card.
 *
 *   npx tsx scripts/pretrain/export.ts [--work .cache/pretrain/run] [--out runners/demo/t5-mini] [--dtype F16]
 *
 * - model.safetensors: every tensor in F16 (half the bytes of F32; `loadT5` widens to float32). The
 *   span-corruption loss of the F16 weights is compared with the F32 ones on the same batches.
 * - config.json: the run's config (T5ForConditionalGeneration, v1.0 layout: relu FFN, tied embeddings).
 * - tokenizer.json & co. were written into the same folder by build-tokenizer.ts and are left as they are.
 * - README.md: the model card, its numbers read from the run's log.jsonl and checkpoint/state.json.
 *
 * Reads `final/` of the run (or `checkpoint/` with --from-checkpoint, to export an unfinished run).
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { openSafetensors, writeSafetensors, type TensorToWrite } from "../../core/io/safetensors.ts";
import { loadTokenizer } from "../../core/io/tokenizer.ts";
import { loadT5 } from "../../core/models/t5/load.ts";
import type { T5ForConditionalGeneration } from "../../core/models/t5/model.ts";
import { parseT5Config, t5ConfigToJson } from "../../core/io/t5-config.ts";
import { createHostWebGPUBackend } from "../../runners/host.ts";
import { nodeFiles } from "../../runners/node/files.ts";
import { sharedDataDir, spanCorruptionCorpus } from "./corpus.ts";
import { SpanCorruptionStream } from "./span-corruption.ts";

const argv = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
};

interface LogEntry {
  step: number;
  epoch: number;
  loss: number;
  secondsPerStep: number;
  tokensPerSecond: number;
  tokensSeen: number;
  elapsedSeconds: number;
}

async function meanLoss(model: T5ForConditionalGeneration, data: SpanCorruptionStream, batches: number): Promise<number> {
  model.eval();
  let sum = 0;
  for (let i = 0; i < batches; i++) {
    const batch = data.batch(i);
    const { loss } = model.forward({ inputIds: batch.inputIds, labels: batch.labels });
    sum += await loss!.item();
    loss!.dispose();
  }
  return sum / batches;
}

async function main(): Promise<void> {
  const fs = nodeFiles();
  const work = option("work", ".cache/pretrain/run");
  const out = option("out", "runners/demo/t5-mini");
  const dtype = option("dtype", "F16") as "F16" | "BF16" | "F32";
  const source = join(work, argv.includes("--from-checkpoint") ? "checkpoint" : "final");
  const state = JSON.parse(await readFile(join(work, "checkpoint/state.json"), "utf8")) as {
    step: number;
    settings: { batch: number; inputLength: number; steps: number; lr: number; warmup: number; weightDecay: number; seed: number; syntheticSentences?: number; oneWordFraction?: number; model: { dropout: number } };
    elapsedSeconds: number;
    tokensSeen: number;
  };
  const log = (await readFile(join(work, "log.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as LogEntry);

  // Weights → F16 in the model folder.
  const config = parseT5Config(JSON.parse(await readFile(join(source, "config.json"), "utf8")), join(source, "config.json"));
  const reader = await openSafetensors(fs, join(source, "model.safetensors"));
  const tensors: Record<string, TensorToWrite> = {};
  for (const name of reader.names()) tensors[name] = { dtype, shape: reader.info(name).shape, data: await reader.readF32(name) };
  await reader.close();
  await writeSafetensors(fs, join(out, "model.safetensors"), tensors, { format: "pt" });
  const configJson = { ...t5ConfigToJson(config), torch_dtype: dtype === "F32" ? "float32" : dtype === "F16" ? "float16" : "bfloat16", use_cache: true };
  await fs.writeAtomic(join(out, "config.json"), [new TextEncoder().encode(JSON.stringify(configJson, null, 2) + "\n")]);
  const bytes = (await stat(join(out, "model.safetensors"))).size;
  console.log(`wrote ${out}/model.safetensors (${dtype}, ${(bytes / 2 ** 20).toFixed(2)} MiB) and config.json`);

  // Read back with the project's loaders; loss of F32 vs exported weights; a generation.
  const backend = await createHostWebGPUBackend();
  const tokenizer = await loadTokenizer(fs, out);
  const exported = await loadT5(out, { backend, fs });
  const original = await loadT5(source, { backend, fs });
  if (tokenizer.vocabSize !== exported.config.vocabSize) throw new Error(`tokenizer has ${tokenizer.vocabSize} ids, the model ${exported.config.vocabSize}`);
  // A different seed from the run's: other chunk boundaries and other spans (still training text).
  const { corpus, tokens, data } = await spanCorruptionCorpus(fs, tokenizer, {
    sharedDir: sharedDataDir(argv),
    syntheticSentences: state.settings.syntheticSentences,
    inputLength: state.settings.inputLength,
    batchSize: 32,
    seed: state.settings.seed + 1000,
  });
  const lossF32 = await meanLoss(original, data, 8);
  const lossExported = await meanLoss(exported, data, 8);
  console.log(`span-corruption loss on 8 batches of 32 (eval mode): float32 ${lossF32.toFixed(4)}, ${dtype} ${lossExported.toFixed(4)}`);
  original.dispose();

  const probes = [
    "the film is <extra_id_0> and the cast is <extra_id_1> .",
    "the movie was <extra_id_0> , but the ending <extra_id_1> .",
    "a <extra_id_0> and funny <extra_id_1> .",
    "The company said <extra_id_0> in the first quarter <extra_id_1> .",
    // one-word probes: the first decoder step names the missing word
    "a great and <extra_id_0> movie .",
    "a dull and <extra_id_0> movie .",
    "the acting is not very <extra_id_0> .",
  ];
  const batch = tokenizer.encodeBatch(probes);
  const generated = await exported.eval().generate(batch.inputIds, batch.attentionMask, { maxNewTokens: 12 });
  const samples = probes.map((p, i) => [p, tokenizer.decode(generated[i]!, { skipSpecialTokens: false }).replace(/<pad>/g, "").trim()] as const);
  for (const [p, g] of samples) console.log(`  ${p}  →  ${g}`);
  // Chunks corrupted exactly as in pretraining (4 spans in 70 tokens): input, expected target, prediction.
  const chunkBatch = data.batch(0);
  const S = data.shape.inputLength, T = data.shape.targetLength;
  const rows = [0, 1, 2].map((r) => Array.from(chunkBatch.inputIds.data.subarray(r * S, (r + 1) * S)));
  const predicted = await exported.generate(rows, undefined, { maxNewTokens: T + 4 });
  const chunks = rows.map((row, r) => ({
    input: tokenizer.decode(row, { skipSpecialTokens: false }).replace(/<\/s>$/, "").trim(),
    expected: tokenizer.decode(Array.from(chunkBatch.labels.data.subarray(r * T, (r + 1) * T)), { skipSpecialTokens: false }).trim(),
    predicted: tokenizer.decode(predicted[r]!, { skipSpecialTokens: false }).replace(/<pad>/g, "").trim(),
  }));
  for (const c of chunks) console.log(`  input: ${c.input}\n  expected: ${c.expected}\n  predicted: ${c.predicted}`);

  // Model card.
  const first = log[0]!, last = log.at(-1)!;
  const tail = log.filter((e) => e.step > last.step - 50);
  const tailLoss = tail.reduce((a, e) => a + e.loss, 0) / tail.length;
  const params = exported.parameterCount();
  const every = Math.max(1, Math.round(log.length / 10));
  const curve = log.filter((_, i) => i % every === 0 || i === log.length - 1).map((e) => `| ${e.step} | ${e.epoch.toFixed(2)} | ${e.loss.toFixed(3)} |`).join("\n");
  const s = state.settings;
  const oneWord = s.oneWordFraction ?? 0;
  const card = `# t5-mini (webpeft)

A small T5 pretrained from scratch by this repository's own training code (model, autograd, AdamW,
learning-rate schedule; WebGPU backend on the lavapipe CPU driver), with T5's span-corruption objective
mixed with a one-word objective (below) on GLUE training sentences and text the repository generates. It is
the base model of the \`webpeft train\` demo and of real GLUE runs on small machines. It is tiny and
briefly trained, far from T5-small quality: use it to try methods and to compare them with each other.

## Architecture

\`T5ForConditionalGeneration\`, T5 v1.0 layout: d_model ${config.dModel}, d_kv ${config.dKv}, ${config.numHeads} heads,
d_ff ${config.dFf} (${config.denseActFn}), ${config.numLayers} encoder + ${config.numDecoderLayers} decoder blocks, relative attention
${config.relativeAttentionNumBuckets} buckets / max distance ${config.relativeAttentionMaxDistance}, tied input/output embeddings, dropout ${config.dropoutRate}
(pretraining; the fine-tuning default). ${params.toLocaleString("en-US")} parameters, stored as ${dtype} (${(bytes / 2 ** 20).toFixed(2)} MiB).

## Vocabulary

${tokenizer.vocabSize} ids: a subset of T5's SentencePiece Unigram vocabulary (pieces and scores unchanged, T5's
normalizer and pre-tokenizer): \`<pad>\`=0, \`</s>\`=1, \`<unk>\`=2, every single-character piece of T5, the
pieces of the GLUE class words, digits and the synthetic task's words, then the pieces T5's tokenizer
uses on the corpus, most frequent first; \`<extra_id_99>\` … \`<extra_id_0>\` are the last 100 ids
(\`<extra_id_0>\` = ${tokenizer.vocabSize - 1}). Made by \`scripts/pretrain/build-tokenizer.ts\`.

## Data (read at run time from \`../shared/data\`, not shipped)

Text columns only (no labels), train splits only (no dev or test rows):

| source | rows | texts |
| --- | ---: | ---: |
${corpus.sources.map((c) => `| ${c.name} | ${c.rows} | ${c.texts.length} |`).join("\n")}

${tokens.toLocaleString("en-US")} tokens per epoch, shuffled per epoch, packed into chunks of ${data.shape.raw} tokens.

## Pretraining

Each packed chunk is, at random (a share of ${oneWord} one-word examples):
- **span corruption** as in T5: noise density 0.15, mean span length 3, inputs of ${data.shape.inputLength} ids
  (${data.shape.raw} raw tokens, ${data.shape.noise} of them masked in ${data.shape.spans} spans replaced by sentinels), targets of ${data.shape.targetLength} ids;
- **one word of one text**: a corpus text drawn at random (its first ${data.shape.inputLength - 1} tokens at most, padded, with an
  attention mask) with one token (not among the 100 most frequent) replaced by \`<extra_id_0>\`; the target is
  that token then \`</s>\`. The decoder's first step, where a GLUE label is predicted, then depends on the
  rest of the sentence. With span corruption alone every target starts with
  \`<extra_id_0>\`, the decoder learns to ignore the encoder there, and adapters did not learn on such a checkpoint.

AdamW (β 0.9/0.999, weight decay ${s.weightDecay}), peak learning rate ${s.lr}, linear warm-up ${s.warmup} steps then
linear decay to 0 at step ${s.steps}${state.step < s.steps ? ` — **stopped at step ${state.step}**, before the decay had gone far (see scripts/pretrain/README.md for why)` : ""}, batch ${s.batch}, ${state.step} steps (${last.epoch.toFixed(2)} epochs), ${state.tokensSeen.toLocaleString("en-US")} raw tokens seen, seed ${s.seed}.

- Training loss (the mix above; training mode, mean over logged windows): first ${first.loss.toFixed(3)} (step ${first.step}), last ${last.loss.toFixed(3)}
  (step ${last.step}); mean over the last 50 steps ${tailLoss.toFixed(3)}.
- Span-corruption loss alone of the shipped weights in eval mode on 8 batches of 32 re-corrupted training chunks: ${lossExported.toFixed(3)}
  (float32 weights: ${lossF32.toFixed(3)}).
- Wall time ${(state.elapsedSeconds / 60).toFixed(1)} min of training (${last.secondsPerStep.toFixed(2)} s/step at the end) on 2 shared CPU cores.

| step | epoch | loss |
| ---: | ---: | ---: |
${curve}

Sentinel filling by the shipped model (greedy; the last three are one-word inputs):

${samples.map(([p, g]) => `- \`${p}\` → \`${g}\``).join("\n")}

Training chunks corrupted as in pretraining (a different seed from the run's), the expected target and the
model's greedy output:

${chunks.map((c) => `- input: \`${c.input}\`\n  - expected: \`${c.expected}\`\n  - predicted: \`${c.predicted}\``).join("\n")}

## Reproduce

\`\`\`sh
npx tsx scripts/pretrain/build-tokenizer.ts
npx tsx scripts/pretrain/pretrain.ts --steps ${s.steps} --batch ${s.batch} --lr ${s.lr} --warmup ${s.warmup} --dropout ${s.model.dropout} \\
  --synthetic ${s.syntheticSentences ?? 10_000} --one-word-fraction ${oneWord}${state.step < s.steps ? ` --stop-at ${state.step}` : ""}
npx tsx scripts/pretrain/export.ts${state.step < s.steps ? " --from-checkpoint" : ""}
\`\`\`

Resuming, timings and the fine-tuning check (\`scripts/pretrain/krona-check.ts\`) are in \`scripts/pretrain/README.md\`.
`;
  await fs.writeAtomic(join(out, "README.md"), [new TextEncoder().encode(card)]);
  console.log(`wrote ${out}/README.md`);
}

await main();
