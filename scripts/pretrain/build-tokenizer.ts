/**
 * Builds the reduced T5 tokenizer of the shipped model: a subset of T5's own SentencePiece Unigram
 * vocabulary (pieces and scores unchanged), written as a Hugging Face tokenizer.json with T5's normalizer,
 * pre-tokenizer and decoder.
 *
 *   npx tsx scripts/pretrain/build-tokenizer.ts [--out runners/demo/t5-mini] [--budget 8000] [--shared ../shared/data]
 *
 * Vocabulary, in T5's layout:
 *   0 <pad>, 1 </s>, 2 <unk>;
 *   then, in T5's id order (SentencePiece orders pieces by score): every single-character piece of T5, the
 *   pieces T5's tokenizer needs for the GLUE class words, digits and the synthetic task's words, and the
 *   pieces T5's tokenizer produces on the pretraining corpus (corpus.ts), most frequent first, until
 *   `budget` pieces are kept;
 *   last, <extra_id_99> … <extra_id_0> (so <extra_id_0> is the last id, as in T5).
 *
 * Why a subset keeps T5's segmentation of the corpus: the Unigram tokenizer picks the highest-scoring
 * segmentation (Viterbi). A text whose best T5 segmentation uses only kept pieces has the same best
 * segmentation in the subset (every segmentation available to the subset was available to T5). Text
 * with a dropped piece is split into smaller kept pieces, down to single characters.
 */
import { loadTokenizer } from "../../core/io/tokenizer.ts";
import { nodeFiles } from "../../runners/node/files.ts";
import { readCorpus, sharedDataDir } from "./corpus.ts";
import { syntheticSst2Examples } from "../../datasets/glue/synthetic.ts";

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};

/** Words the fine-tuning targets need (GLUE class words, STS-B scores) and their pieces. */
export const REQUIRED_TEXTS: readonly string[] = [
  "negative positive entailment neutral contradiction not_entailment equivalent not_equivalent duplicate not_duplicate acceptable unacceptable",
  "0 1 2 3 4 5 6 7 8 9 . 0.0 0.2 0.4 0.6 0.8 1.0 2.4 3.2 4.6 5.0",
  "sst2 cola mrpc qqp stsb mnli qnli rte wnli sentence: sentence1: sentence2: question: question1: question2: hypothesis: premise:",
];
export const SENTINELS = 100;

interface HfTokenizerJson {
  added_tokens: { id: number; content: string; [k: string]: unknown }[];
  model: { type: string; unk_id: number; vocab: [string, number][]; [k: string]: unknown };
  post_processor?: unknown;
  [k: string]: unknown;
}

async function main(): Promise<void> {
  const fs = nodeFiles();
  const shared = sharedDataDir();
  const out = arg("out", "runners/demo/t5-mini");
  const budget = Number(arg("budget", "8000"));
  const sourceDir = fs.join(shared, "t5-tokenizer/t5-base_via-dept");
  const t5Json = JSON.parse(await fs.readText(fs.join(sourceDir, "tokenizer.json"))) as HfTokenizerJson;
  const t5 = await loadTokenizer(fs, sourceDir);
  const pieces = t5Json.model.vocab;
  const isSentinel = (p: string) => /^<extra_id_\d+>$/.test(p);

  const corpus = await readCorpus(fs, shared);
  const counts = new Map<number, number>();
  let total = 0;
  const t0 = performance.now();
  for (const text of corpus.texts) {
    const ids = t5.encode(text);
    ids.pop(); // </s>
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    total += ids.length;
  }
  console.log(`corpus: ${corpus.texts.length} texts, ${total} T5 tokens, ${counts.size} distinct pieces (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  // Required: special pieces (ids 0–2), single characters, the target words' pieces.
  const keep = new Set<number>([0, 1, 2]);
  pieces.forEach(([p], id) => {
    if (!isSentinel(p) && [...p].length === 1) keep.add(id);
  });
  const required = [...REQUIRED_TEXTS, ...new Set(syntheticSst2Examples(2000, 0).flatMap((e) => e.sentence.trim().split(" ")))];
  for (const text of required) for (const id of t5.encode(text).slice(0, -1)) keep.add(id);
  const requiredCount = keep.size;
  // Then the corpus's pieces, most frequent first (ties: T5's order).
  const byFrequency = [...counts.entries()].filter(([id]) => !isSentinel(pieces[id]![0])).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  for (const [id] of byFrequency) {
    if (keep.size >= budget) break;
    keep.add(id);
  }
  const covered = byFrequency.filter(([id]) => keep.has(id)).reduce((n, [, c]) => n + c, 0);
  const ordered = [...keep].sort((a, b) => a - b);
  const vocab: [string, number][] = ordered.map((id) => [pieces[id]![0], pieces[id]![1]]);
  for (let k = SENTINELS - 1; k >= 0; k--) vocab.push([`<extra_id_${k}>`, 0]);
  console.log(
    `kept ${ordered.length} pieces (${requiredCount} required) + ${SENTINELS} sentinels = ${vocab.length}; ` +
      `they cover ${((100 * covered) / total).toFixed(2)}% of the corpus's T5 tokens`,
  );

  // tokenizer.json: T5's file with the new vocabulary and added-token ids.
  const template = t5Json.added_tokens[0]!;
  const added = [
    ...["<pad>", "</s>", "<unk>"].map((content, id) => ({ ...template, id, content })),
    ...Array.from({ length: SENTINELS }, (_, k) => ({ ...template, id: vocab.length - 1 - k, content: `<extra_id_${k}>` })).reverse(),
  ];
  const json: HfTokenizerJson = { ...t5Json, added_tokens: added, model: { ...t5Json.model, unk_id: 2, vocab } };
  await fs.mkdirp(out);
  const write = (name: string, value: unknown) => fs.writeAtomic(fs.join(out, name), [new TextEncoder().encode(JSON.stringify(value, null, name === "tokenizer.json" ? undefined : 2) + "\n")]);
  await write("tokenizer.json", json);
  const sentinels = Array.from({ length: SENTINELS }, (_, k) => `<extra_id_${k}>`);
  await write("special_tokens_map.json", { eos_token: "</s>", pad_token: "<pad>", unk_token: "<unk>", additional_special_tokens: sentinels });
  await write("tokenizer_config.json", {
    tokenizer_class: "T5Tokenizer",
    eos_token: "</s>",
    pad_token: "<pad>",
    unk_token: "<unk>",
    extra_ids: SENTINELS,
    additional_special_tokens: sentinels,
    model_max_length: 512,
  });

  // Check: the new tokenizer loads, its ids are in range, the corpus segments as T5 segments it where
  // every piece was kept, and round-trips through decode.
  const mine = await loadTokenizer(fs, out);
  if (mine.vocabSize !== vocab.length) throw new Error(`vocabSize ${mine.vocabSize} != ${vocab.length}`);
  const oldToNew = new Map(ordered.map((id, i) => [id, i]));
  let same = 0, comparable = 0, roundTrips = 0, unknown = 0;
  const sample = corpus.texts.filter((_, i) => i % 7 === 0);
  for (const text of sample) {
    const ids = mine.encode(text);
    if (ids.some((id) => id < 0 || id >= mine.vocabSize)) throw new Error(`id out of range for ${text}`);
    unknown += ids.filter((id) => id === mine.unkId).length;
    const t5Ids = t5.encode(text);
    if (t5Ids.every((id) => oldToNew.has(id))) {
      comparable++;
      if (t5Ids.length === ids.length && t5Ids.every((id, i) => oldToNew.get(id) === ids[i])) same++;
    }
    if (mine.decode(ids, { skipSpecialTokens: true }) === t5.decode(t5Ids, { skipSpecialTokens: true })) roundTrips++;
  }
  console.log(
    `check on ${sample.length} corpus texts: decode equals T5's decode for ${roundTrips}; ` +
      `${same}/${comparable} texts whose T5 pieces were all kept segment identically; ${unknown} <unk> ids`,
  );
  for (const text of [...REQUIRED_TEXTS[0]!.split(" "), "3.2", "the film is not very dull ."]) {
    const ids = mine.encode(text).slice(0, -1);
    console.log(`  ${JSON.stringify(text)} → ${ids.map((id) => vocab[id]![0]).join(" ")}`);
  }
  const sentinelIds = mine.encode("<extra_id_0> <extra_id_99>");
  console.log(`  "<extra_id_0> <extra_id_99>" → ${sentinelIds.join(" ")}`);
  if (sentinelIds[0] !== vocab.length - 1 || sentinelIds[1] !== vocab.length - SENTINELS) throw new Error("sentinel ids are not at the end of the vocabulary");
  console.log(`wrote ${out}/tokenizer.json, tokenizer_config.json, special_tokens_map.json`);
}

await main();
