/**
 * The pretraining objectives of the shipped model (scripts/pretrain/span-corruption.ts): T5's span
 * corruption and the one-word examples mixed into it. Pure data code, so it runs once, not per backend.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { SeededRandom } from "../../datasets/glue/random.ts";
import { corrupt, maskOneWord, rawLengthFor, SpanCorruptionStream } from "../../scripts/pretrain/span-corruption.ts";

const VOCAB = 1000;
const EOS = 1;
const ids = { vocabSize: VOCAB, eosId: EOS };
const isSentinel = (id: number) => id >= VOCAB - 100;

/** Texts of ids 2 … 899 (no sentinels, no </s>), deterministic. */
function texts(count: number): Int32Array[] {
  const random = new SeededRandom(5);
  return Array.from({ length: count }, () => Int32Array.from({ length: 5 + random.int(30) }, () => 2 + random.int(898)));
}

/** A row is one-word when its input has exactly one sentinel. */
function sentinelsIn(row: ArrayLike<number>): number {
  return Array.from(row).filter(isSentinel).length;
}

export function register(): void {
  const s = suite("pretraining objectives");

  s("span corruption: input and target interleave back into the chunk, sentinels X0, X1 … in order", () => {
    const shape = rawLengthFor(64);
    const chunk = Int32Array.from({ length: shape.raw }, (_, i) => 2 + i);
    const inputs = new Int32Array(shape.inputLength);
    const targets = new Int32Array(shape.targetLength);
    corrupt(chunk, shape, new SeededRandom(1), ids, inputs, 0, targets, 0);
    assert.is(inputs.at(-1), EOS);
    assert.is(targets.at(-1), EOS);
    // Rebuild: walk the input; at sentinel k splice in what follows sentinel k in the target.
    const spans = new Map<number, number[]>();
    let current = -1;
    for (const id of targets.subarray(0, -1)) {
      if (isSentinel(id)) spans.set((current = id), []);
      else spans.get(current)!.push(id);
    }
    const rebuilt: number[] = [];
    for (const id of inputs.subarray(0, -1)) rebuilt.push(...(isSentinel(id) ? spans.get(id)! : [id]));
    assert.equal(rebuilt, Array.from(chunk));
    assert.equal([...spans.keys()], Array.from({ length: shape.spans }, (_, k) => VOCAB - 1 - k));
    assert.is([...spans.values()].flat().length, shape.noise);
  });

  s("one word: one token of id ≥ minId replaced by <extra_id_0>, </s>, padding; the target is that token, </s>, then −100", () => {
    const shape = rawLengthFor(64);
    const S = shape.inputLength;
    for (const length of [12, 200]) {
      const text = Int32Array.from({ length }, (_, i) => (i % 3 === 0 ? 500 + i : 10 + (i % 50)));
      const visible = Math.min(length, S - 1);
      for (let seed = 0; seed < 20; seed++) {
        const inputs = new Int32Array(S).fill(-7);
        const targets = new Int32Array(shape.targetLength);
        const real = maskOneWord(text, shape, new SeededRandom(seed), { ...ids, minId: 100 }, inputs, 0, targets, 0);
        assert.is(real, visible + 1, "real ids: the visible tokens and </s>");
        const masked = Array.from(inputs).findIndex((id) => id === VOCAB - 1);
        assert.ok(masked >= 0 && masked < visible, `masked position ${masked}`);
        assert.is(sentinelsIn(inputs), 1);
        assert.ok(text[masked]! >= 100, `masked id ${text[masked]} is below minId`);
        assert.equal(Array.from(inputs.subarray(0, visible)).map((id, x) => (x === masked ? text[x] : id)), Array.from(text.subarray(0, visible)));
        assert.is(inputs[visible], EOS);
        assert.equal(Array.from(inputs.subarray(visible + 1)), new Array<number>(S - visible - 1).fill(0), "padding after </s>");
        assert.equal(Array.from(targets), [text[masked]!, EOS, ...new Array<number>(shape.targetLength - 2).fill(-100)]);
      }
    }
    // no token qualifies: any position is masked, still exactly one
    const common = Int32Array.from({ length: 9 }, () => 7);
    const inputs = new Int32Array(S);
    const targets = new Int32Array(shape.targetLength);
    maskOneWord(common, shape, new SeededRandom(3), ids, inputs, 0, targets, 0);
    assert.is(sentinelsIn(inputs), 1);
    assert.is(targets[0], 7);
  });

  s("the mix: fraction 0 gives the span-corruption batches unchanged; 0.5 turns about half the rows into padded one-word rows of one text, by (seed, step) only", () => {
    const corpus = texts(400);
    const base = { inputLength: 32, batchSize: 16, seed: 9, ...ids };
    const plain = new SpanCorruptionStream(corpus, base);
    const zero = new SpanCorruptionStream(corpus, { ...base, oneWordFraction: 0 });
    const mixed = new SpanCorruptionStream(corpus, { ...base, oneWordFraction: 0.5 });
    const { inputLength: S, targetLength: T, spans } = plain.shape;
    let oneWordRows = 0, rows = 0;
    for (let step = 0; step < 12; step++) {
      const a = plain.batch(step), b = zero.batch(step), m = mixed.batch(step);
      assert.equal(Array.from(b.inputIds.data), Array.from(a.inputIds.data));
      assert.equal(Array.from(b.labels.data), Array.from(a.labels.data));
      assert.is(a.attentionMask, undefined, "span corruption alone: no padding, no mask");
      assert.is(b.attentionMask, undefined);
      assert.equal(m.attentionMask!.shape, [16, S]);
      assert.equal(m.inputIds.shape, [16, S]);
      assert.equal(m.labels.shape, [16, T]);
      for (let r = 0; r < 16; r++) {
        const row = m.inputIds.data.subarray(r * S, (r + 1) * S);
        const n = sentinelsIn(row);
        assert.ok(n === 1 || n === spans, `row ${r} of step ${step} has ${n} sentinels`);
        const maskRow = Array.from(m.attentionMask!.data.subarray(r * S, (r + 1) * S));
        if (n === 1 && spans !== 1) {
          oneWordRows++;
          // one text: ones up to and including </s>, zeros over the padding
          const eos = Array.from(row).indexOf(EOS);
          assert.equal(maskRow, Array.from({ length: S }, (_, x) => (x <= eos ? 1 : 0)));
          assert.ok(Array.from(row.subarray(eos + 1)).every((id) => id === 0), "padding is 0");
        } else {
          assert.ok(maskRow.every((v) => v === 1), "a span-corruption row is all real ids");
          // a span-corruption row of the mix is the plain stream's row
          assert.equal(Array.from(row), Array.from(a.inputIds.data.subarray(r * S, (r + 1) * S)));
        }
        rows++;
      }
    }
    // 192 rows at p = 0.5: sd 6.9 rows, so 96 ± 35 is a 5-sigma band
    assert.ok(Math.abs(oneWordRows - rows / 2) < 35, `${oneWordRows} one-word rows of ${rows}`);
    assert.equal(Array.from(new SpanCorruptionStream(corpus, { ...base, oneWordFraction: 0.5 }).batch(7).inputIds.data), Array.from(mixed.batch(7).inputIds.data));
  });

  s.run();
}
