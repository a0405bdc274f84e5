/**
 * Tokenising once, the token cache (memory and file), length-bucketed seeded batches with per-batch padding,
 * and the synthetic SST-2-style task (exact layout, seeded, learnable). A stand-in tokenizer (one id per
 * whitespace-separated word, then </s> = 1) keeps these tests independent of the T5 tokenizer.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  type Batch,
  type GlueExample,
  TokenCache,
  type TokenizedSplit,
  batchCount,
  glueBatches,
  loadGlue,
  readGlue,
  readTokenized,
  sequenceLength,
  syntheticSst2Examples,
  tokenizeSplit,
  writeSyntheticSst2,
  writeTokenized,
} from "../../datasets/glue/mod.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { tempDir, testFiles } from "./fs.ts";

const files = testFiles();

/** Word → id (3 + position in a growing vocabulary), then </s> = 1. Counts its calls. */
function wordTokenizer() {
  const vocab = new Map<string, number>();
  const calls: number[] = [];
  const tokenize = (texts: readonly string[]): number[][] => {
    calls.push(texts.length);
    return texts.map((t) => [
      ...t
        .split(/\s+/)
        .filter(Boolean)
        .map((w) => {
          if (!vocab.has(w)) vocab.set(w, 3 + vocab.size);
          return vocab.get(w)!;
        }),
      1,
    ]);
  };
  return { tokenize, calls, vocab };
}

function examplesOf(n: number, seed = 1): GlueExample[] {
  return syntheticSst2Examples(n, seed).map((e, idx) => ({ idx, text: { sentence: e.sentence }, label: e.label }));
}

function rowsOf(batches: readonly Batch[]): number[] {
  return batches.flatMap((b) => Array.from(b.rows));
}

function paddingOf(batches: readonly Batch[]): number {
  return batches.reduce((n, b) => n + b.attentionMask.length - b.attentionMask.reduce((a, v) => a + v, 0), 0);
}

/** Two examples: sources of 6 and 2 ids, targets of 2 ids each (every sequence ends in </s> = 1). */
function twoExamples(): TokenizedSplit {
  return {
    task: "sst2",
    split: "train",
    size: 2,
    idx: Int32Array.from([0, 1]),
    labels: Float64Array.from([0, 1]),
    sources: { ids: Int32Array.from([5, 6, 7, 8, 9, 1, 5, 1]), offsets: Uint32Array.from([0, 6, 8]) },
    targets: { ids: Int32Array.from([4, 1, 3, 1]), offsets: Uint32Array.from([0, 2, 4]) },
  };
}

export function register(_backends: readonly NamedBackend[]): void {
  const s = suite("GLUE batching and synthetic data");

  s("tokenizeSplit formats and tokenises once, in chunks, into packed ids", async () => {
    const { tokenize, calls, vocab } = wordTokenizer();
    const examples = examplesOf(10);
    const data = await tokenizeSplit(examples, { task: "sst2", split: "train", tokenize, chunkSize: 4 });
    assert.equal(calls, [4, 4, 4, 4, 2, 2], "sources and targets of 4 + 4 + 2 examples");
    assert.is(data.size, 10);
    assert.equal(Array.from(data.idx), examples.map((e) => e.idx));
    assert.equal(Array.from(data.labels), examples.map((e) => e.label));
    const words = ["sst2", "sentence:", ...examples[3]!.text.sentence!.split(/\s+/).filter(Boolean)];
    const ids = Array.from(data.sources.ids.subarray(data.sources.offsets[3]!, data.sources.offsets[4]!));
    assert.equal(ids, [...words.map((w) => vocab.get(w)!), 1]);
    const target = Array.from(data.targets.ids.subarray(data.targets.offsets[3]!, data.targets.offsets[4]!));
    assert.equal(target, [vocab.get(examples[3]!.label === 1 ? "positive" : "negative")!, 1]);

    const unlabelled = await tokenizeSplit(
      examples.map((e) => ({ ...e, label: null })),
      { task: "sst2", split: "test", tokenize },
    );
    assert.is(unlabelled.targets.ids.length, 0);
    assert.ok(unlabelled.labels.every(Number.isNaN));
  });

  s("batches: every example once, padded per batch (ids 0, mask 0, labels -100)", async () => {
    const { tokenize } = wordTokenizer();
    const data = await tokenizeSplit(examplesOf(103), { task: "sst2", split: "train", tokenize });
    const batches = [...glueBatches(data, { batchSize: 8, seed: 3, bucketWindow: 32 })];
    assert.is(batches.length, batchCount(data, { batchSize: 8 }));
    assert.is(batches.length, 13);
    assert.equal(rowsOf(batches).sort((a, b) => a - b), Array.from({ length: 103 }, (_, i) => i));
    for (const b of batches) {
      const { batch, sourceLength, targetLength } = b.shape;
      assert.is(b.inputIds.length, batch * sourceLength);
      assert.is(b.labels.length, batch * targetLength);
      let longest = 0;
      for (let r = 0; r < batch; r++) {
        const row = b.rows[r]!;
        const n = sequenceLength(data.sources, row);
        longest = Math.max(longest, n);
        const ids = b.inputIds.subarray(r * sourceLength, (r + 1) * sourceLength);
        const mask = b.attentionMask.subarray(r * sourceLength, (r + 1) * sourceLength);
        assert.equal(Array.from(ids.subarray(0, n)), Array.from(data.sources.ids.subarray(data.sources.offsets[row]!, data.sources.offsets[row + 1]!)));
        assert.ok(ids.subarray(n).every((v) => v === 0) && mask.subarray(0, n).every((v) => v === 1) && mask.subarray(n).every((v) => v === 0));
        const t = sequenceLength(data.targets, row);
        const labels = b.labels.subarray(r * targetLength, (r + 1) * targetLength);
        assert.is(labels[t - 1], 1, "target ends with </s>");
        assert.ok(labels.subarray(t).every((v) => v === -100));
      }
      assert.is(sourceLength, longest, "padded to the batch's own longest");
    }
    const dropped = [...glueBatches(data, { batchSize: 8, dropLast: true })];
    assert.is(dropped.length, 12);
    assert.ok(dropped.every((b) => b.shape.batch === 8));
    assert.is(batchCount(data, { batchSize: 8, dropLast: true }), 12);
  });

  s("batches: deterministic by seed and epoch; bucketing cuts padding; no shuffle keeps order", async () => {
    const { tokenize } = wordTokenizer();
    const data = await tokenizeSplit(examplesOf(500, 7), { task: "sst2", split: "train", tokenize });
    const order = (o: object) => rowsOf([...glueBatches(data, { batchSize: 16, ...o })]);
    assert.equal(order({ seed: 1 }), order({ seed: 1 }));
    assert.not.equal(order({ seed: 1 }), order({ seed: 2 }));
    assert.not.equal(order({ seed: 1, epoch: 0 }), order({ seed: 1, epoch: 1 }));
    const bucketed = paddingOf([...glueBatches(data, { batchSize: 16, seed: 1 })]);
    const plain = paddingOf([...glueBatches(data, { batchSize: 16, seed: 1, bucketWindow: 0 })]);
    assert.ok(bucketed < plain / 2, `padding ${bucketed} (bucketed) vs ${plain}`);
    assert.equal(order({ shuffle: false, bucketWindow: 0 }), Array.from({ length: 500 }, (_, i) => i));
    // evaluation: whole split sorted by length, rows tell where each prediction belongs
    const evalBatches = [...glueBatches(data, { batchSize: 16, shuffle: false, bucketWindow: Infinity })];
    const lengths = rowsOf(evalBatches).map((r) => sequenceLength(data.sources, r));
    assert.equal(lengths, [...lengths].sort((a, b) => a - b));
  });

  s("truncation keeps the final </s>", async () => {
    const data = twoExamples();
    const [b] = [...glueBatches(data, { batchSize: 2, shuffle: false, bucketWindow: 0, maxSourceLength: 4, maxTargetLength: 1 })];
    assert.equal(b!.shape, { batch: 2, sourceLength: 4, targetLength: 1 });
    assert.equal(Array.from(b!.inputIds), [5, 6, 7, 1, 5, 1, 0, 0]);
    assert.equal(Array.from(b!.attentionMask), [1, 1, 1, 1, 1, 1, 0, 0]);
    assert.equal(Array.from(b!.labels), [1, 1]);
    assert.throws(() => [...glueBatches(data, { batchSize: 0 })], /batchSize/);
  });

  s("padToMultipleOf rounds both lengths up (padding masked, labels −100), never past the limits", () => {
    const data = twoExamples();
    const [b] = [...glueBatches(data, { batchSize: 2, shuffle: false, bucketWindow: 0, padToMultipleOf: 4 })];
    assert.equal(b!.shape, { batch: 2, sourceLength: 8, targetLength: 4 });
    assert.equal(Array.from(b!.inputIds), [5, 6, 7, 8, 9, 1, 0, 0, 5, 1, 0, 0, 0, 0, 0, 0]);
    assert.equal(Array.from(b!.attentionMask), [1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]);
    assert.equal(Array.from(b!.labels), [4, 1, -100, -100, 3, 1, -100, -100]);
    const [capped] = [...glueBatches(data, { batchSize: 2, shuffle: false, bucketWindow: 0, padToMultipleOf: 4, maxSourceLength: 7, maxTargetLength: 3 })];
    assert.equal(capped!.shape, { batch: 2, sourceLength: 7, targetLength: 3 });
    assert.throws(() => [...glueBatches(data, { batchSize: 2, padToMultipleOf: 0 })], /padToMultipleOf/);
  });

  s("TokenCache tokenises a split once; on disk it is read back by a new cache", async () => {
    const tmp = await tempDir("webpeft-tokcache-");
    try {
      await writeSyntheticSst2(files, { dir: tmp.dir, seed: 5, train: 300, validation: 40 });
      const { tokenize, calls } = wordTokenizer();
      const options = { files, dir: join(tmp.dir, "cache"), tokenizerId: "words/v1" };
      const cache = new TokenCache(options);
      const [a, b] = await Promise.all([
        cache.tokenized(files, { task: "sst2", split: "validation", dir: tmp.dir, tokenize }),
        cache.tokenized(files, { task: "sst2", split: "dev", dir: tmp.dir, tokenize }),
      ]);
      assert.is(a, b, "one promise for the same task and split");
      assert.is(calls.length, 2, "one chunk of sources, one of targets");
      const path = cache.path("sst2", "validation")!;
      assert.ok(path.endsWith("sst2.validation.words_v1.wptok"));
      const fresh = new TokenCache(options);
      const again = await fresh.get({ task: "sst2", split: "validation" }, () => {
        throw new Error("must come from the file");
      });
      assert.equal(again, a);
      assert.equal(await readTokenized(files, path), a);
      // a corrupt file is a clear error
      const bytes = new Uint8Array(await readFile(path));
      await files.writeAtomic(path, [bytes.subarray(0, bytes.length - 3)]);
      try {
        await readTokenized(files, path);
        assert.unreachable();
      } catch (e) {
        assert.match((e as Error).message, /truncated/);
      }
      await writeTokenized(files, path, a);
      assert.throws(() => new TokenCache({ files, dir: tmp.dir }), /tokenizerId/);
    } finally {
      await tmp.remove();
    }
  });

  s("synthetic SST-2: exact layout, seeded, read by the real reader", async () => {
    const tmp = await tempDir("webpeft-synth-");
    try {
      const one = await writeSyntheticSst2(files, { dir: join(tmp.dir, "a"), seed: 42, train: 500, validation: 100, test: 20 });
      const two = await writeSyntheticSst2(files, { dir: join(tmp.dir, "b"), seed: 42, train: 500, validation: 100, test: 20 });
      const other = await writeSyntheticSst2(files, { dir: join(tmp.dir, "c"), seed: 43, train: 500, validation: 100 });
      const text = await readFile(one.files.train!, "utf8");
      assert.is(text, await readFile(two.files.train!, "utf8"), "same seed, same bytes");
      assert.is.not(text, await readFile(other.files.train!, "utf8"));
      const lines = text.split("\n");
      assert.is(lines[0], "sentence\tlabel");
      assert.is(lines.at(-1), "", "ends with a newline");
      for (const line of lines.slice(1, -1)) assert.match(line, /^[a-z' ,.]+ \t[01]$/);
      assert.is((await readFile(one.files.test!, "utf8")).split("\n")[0], "index\tsentence");

      const train = await loadGlue(files, { task: "sst2", split: "train", dir: join(tmp.dir, "a") });
      assert.is(train.examples.length, 500);
      const counts = [0, 0];
      for (const e of train.examples) counts[e.label!]!++;
      assert.equal(counts, [...one.labelCounts.train!]);
      assert.ok(counts[0]! > 150 && counts[1]! > 150, `balanced enough: ${counts}`);
      const test = await loadGlue(files, { task: "sst2", split: "test", dir: join(tmp.dir, "a") });
      assert.ok(test.examples.every((e) => e.label === null));
    } finally {
      await tmp.remove();
    }
  });

  s("synthetic SST-2 is learnable: word and word-pair counts from train reach > 80 % on dev; the label is a function of the text", async () => {
    const tmp = await tempDir("webpeft-synth-learn-");
    try {
      await writeSyntheticSst2(files, { dir: tmp.dir, seed: 9, train: 2000, validation: 300 });
      const features = (s: string) => {
        const w = s.split(" ").filter(Boolean);
        return [...w, ...w.slice(1).map((x, i) => `${w[i]} ${x}`)];
      };
      const counts = [new Map<string, number>(), new Map<string, number>()];
      const seen = new Map<string, number>();
      for await (const e of readGlue(files, { task: "sst2", split: "train", dir: tmp.dir })) {
        assert.is(seen.get(e.text.sentence!) ?? e.label, e.label, `one label per sentence: ${e.text.sentence}`);
        seen.set(e.text.sentence!, e.label!);
        for (const f of features(e.text.sentence!)) counts[e.label!]!.set(f, (counts[e.label!]!.get(f) ?? 0) + 1);
      }
      const { examples } = await loadGlue(files, { task: "sst2", split: "validation", dir: tmp.dir });
      let right = 0;
      for (const e of examples) {
        // naive Bayes with add-one smoothing
        let score = 0;
        for (const f of features(e.text.sentence!)) score += Math.log(((counts[1]!.get(f) ?? 0) + 1) / ((counts[0]!.get(f) ?? 0) + 1));
        if ((score > 0 ? 1 : 0) === e.label) right++;
      }
      // (negations, one in six, are what a bag of words gets wrong; a model that reads order learns them)
      assert.ok(right / examples.length > 0.8, `dev accuracy ${right / examples.length}`);
    } finally {
      await tmp.remove();
    }
  });

  s.run();
}
