/**
 * GLUE meets T5: a real task file is tokenised once with the real T5 tokenizer, batched, fed to the real
 * tiny T5 checkpoint (loss and greedy predictions), and the decoded predictions are scored.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadTokenizer } from "../../core/io/tokenizer.ts";
import { loadT5 } from "../../core/models/t5/load.ts";
import { tidy } from "../../core/tensor/scope.ts";
import { TokenCache, glueBatches, scoreTask } from "../../datasets/glue/mod.ts";
import { hostFiles } from "../../runners/host-files.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { sharedDataDir } from "../harness/data.ts";

export function register(backends: readonly NamedBackend[]): void {
  const s = suite("GLUE with the T5 tokenizer and model");

  s("RTE dev tokenised once: ids end with </s> and decode back to the T5 input text", async () => {
    const fs = await hostFiles();
    const tokenizer = await loadTokenizer(fs, fs.join(sharedDataDir(), "t5-tokenizer", "t5-base_via-dept"));
    let calls = 0;
    const cache = new TokenCache();
    const options = {
      task: "rte" as const,
      split: "validation" as const,
      dir: fs.join(sharedDataDir(), "glue"),
      tokenize: (texts: readonly string[]) => (calls++, texts.map((t) => tokenizer.encode(t))),
    };
    const data = await cache.tokenized(fs, options);
    const callsAfterFirst = calls;
    assert.is(await cache.tokenized(fs, options), data, "the second request is served from the cache");
    assert.is(calls, callsAfterFirst, "no second tokenisation");
    assert.is(data.size, 277);
    const first = data.sources.ids.subarray(data.sources.offsets[0]!, data.sources.offsets[1]!);
    assert.is(first[first.length - 1], tokenizer.eosId);
    assert.match(tokenizer.decode([...first]), /^rte sentence1: .+ sentence2: .+/);
    const target = data.targets.ids.subarray(data.targets.offsets[0]!, data.targets.offsets[1]!);
    assert.ok(["entailment", "not_entailment"].includes(tokenizer.decode([...target], { skipSpecialTokens: true })));
  });

  for (const { name, backend } of backends) {
    s(`SST-2 dev batches through the real tiny T5 and back to GLUE's accuracy on ${name}`, async () => {
      const fs = await hostFiles();
      const dir = fs.join(sharedDataDir(), "tiny-random-t5");
      const tokenizer = await loadTokenizer(fs, dir);
      const model = (await loadT5(dir, { backend, fs })).eval();
      const data = await new TokenCache().tokenized(fs, {
        task: "sst2",
        split: "validation",
        dir: fs.join(sharedDataDir(), "glue"),
        tokenize: (texts) => texts.map((t) => tokenizer.encode(t)),
      });
      const batch = glueBatches(data, { batchSize: 4, shuffle: false, maxSourceLength: 48 }).next().value!;
      const { batch: B, sourceLength: S, targetLength: T } = batch.shape;
      const loss = tidy(() =>
        model.forward({
          inputIds: { data: batch.inputIds, shape: [B, S] },
          attentionMask: { data: batch.attentionMask, shape: [B, S] },
          labels: { data: batch.labels, shape: [B, T] },
        }).loss!,
      );
      const value = await loss.item();
      loss.dispose();
      assert.ok(Number.isFinite(value) && value > 0, `loss ${value}`);
      const generated = await model.generate({ data: batch.inputIds, shape: [B, S] }, { data: batch.attentionMask, shape: [B, S] }, { maxNewTokens: 3 });
      const predictions = generated.map((ids) => tokenizer.decode(ids, { skipSpecialTokens: true }));
      const references = [...batch.rows].map((row) => data.labels[row]!);
      // an untrained model's words are no labels: GLUE counts them wrong
      const score = scoreTask("sst2", { predictions, references });
      assert.is(score.accuracy, 0);
      model.dispose();
    });
  }
  s.run();
}
