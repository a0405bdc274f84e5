/**
 * GLUE metrics against values worked out by hand (the arithmetic is in the comments), degenerate cases
 * included, and T5's target/prediction text conventions.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  GlueUsageError,
  accuracy,
  averageRanks,
  f1Score,
  glueAverage,
  matthewsCorrcoef,
  mnliScores,
  parsePrediction,
  pearson,
  scoreTask,
  spearman,
  stsbTarget,
} from "../../datasets/glue/mod.ts";
import type { NamedBackend } from "../harness/backends.ts";

const close = (actual: number, expected: number, what = "") =>
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what} ${actual} ≠ ${expected}`);

export function register(_backends: readonly NamedBackend[]): void {
  const s = suite("GLUE metrics");

  s("accuracy; an invalid prediction (-1) is wrong", () => {
    assert.is(accuracy([1, 0, 1, 1], [1, 1, 1, 0]), 0.5);
    assert.is(accuracy([-1, -1], [0, 1]), 0);
    assert.ok(Number.isNaN(accuracy([], [])));
  });

  s("F1 of class 1; invalid predictions count as the wrong class", () => {
    // TP = 2 (rows 0, 4), FP = 1 (row 1), FN = 1 (row 2): 2·2 / (2·2 + 1 + 1) = 4/6
    close(f1Score([1, 1, 0, 0, 1], [1, 0, 1, 0, 1]), 4 / 6);
    // -1 on a positive reference → FN, on a negative one → FP: TP 1, FP 1, FN 1 → 2/4
    close(f1Score([1, -1, -1, 0], [1, 1, 0, 0]), 2 / 4);
    assert.is(f1Score([0, 0, 0], [0, 0, 0]), 0, "no positives anywhere: 0 (scikit-learn's zero_division)");
    assert.is(f1Score([0, 0], [1, 1]), 0);
    assert.is(f1Score([1, 1], [1, 1]), 1);
  });

  s("Matthews correlation, binary and with invalid predictions as their own class", () => {
    // TP 2, TN 1, FP 1, FN 1: (2·1 − 1·1) / sqrt(3·3·2·2) = 1/6
    close(matthewsCorrcoef([1, 1, 0, 0, 1], [1, 0, 1, 0, 1]), 1 / 6);
    assert.is(matthewsCorrcoef([0, 1, 1, 0], [0, 1, 1, 0]), 1);
    assert.is(matthewsCorrcoef([1, 0, 0, 1], [0, 1, 1, 0]), -1);
    assert.is(matthewsCorrcoef([1, 1, 1, 1], [0, 1, 1, 0]), 0, "constant predictions");
    assert.is(matthewsCorrcoef([0, 1, 1, 0], [1, 1, 1, 1]), 0, "all references one class");
    // refs 0 0 1 1, preds 0 −1 1 1: s = 4, c = 3; t = {0: 2, 1: 2}, p = {0: 1, −1: 1, 1: 2}
    // Σp·t = 1·2 + 2·2 = 6, Σp² = 6, Σt² = 8: (3·4 − 6) / sqrt((16 − 6)(16 − 8)) = 6 / sqrt(80)
    close(matthewsCorrcoef([0, -1, 1, 1], [0, 0, 1, 1]), 6 / Math.sqrt(80));
  });

  s("Pearson and Spearman (average ranks for ties); constant input is NaN", () => {
    // x − 3 = −2 −1 0 1 2, y − 4 = −2 0 1 0 1: Σxy = 6, Σx² = 10, Σy² = 6 → 6 / sqrt(60)
    close(pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]), 6 / Math.sqrt(60));
    assert.equal(Array.from(averageRanks([2, 4, 5, 4, 5])), [1, 2.5, 4.5, 2.5, 4.5]);
    assert.equal(Array.from(averageRanks([3, 3, 3])), [2, 2, 2]);
    // ranks of y − 3 = −2 −0.5 1.5 −0.5 1.5: Σxy = 4 + 0.5 + 0 − 0.5 + 3 = 7, Σy² = 9 → 7 / sqrt(90)
    close(spearman([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]), 7 / Math.sqrt(90));
    close(spearman([1, 2, 3], [10, 100, 1000]), 1);
    close(spearman([1, 2, 3], [3, 2, 1]), -1);
    assert.ok(Number.isNaN(pearson([2, 2, 2], [1, 2, 3])), "constant predictions");
    assert.ok(Number.isNaN(spearman([1, 2, 3], [4, 4, 4])));
    assert.ok(Number.isNaN(pearson([1], [1])));
  });

  s("STS-B targets: T5's float32 round to 0.2 with halves to even", () => {
    const cases: [number, string][] = [
      [5, "5.0"],
      [0, "0.0"],
      [3.75, "3.8"], // 18.75 → 19
      [3.8, "3.8"],
      [3.79999995231628, "3.8"], // float32 3.8 as some files print it
      [1.4, "1.4"],
      [2.5, "2.4"], // 12.5 → 12 (even)
      [1.5, "1.6"], // 7.5 → 8 (even)
      [0.1, "0.0"], // 0.5 → 0
      [0.3, "0.4"], // 1.5 → 2
      [4.9, "4.8"], // 24.5 → 24
      [2.1, "2.0"], // 10.5 → 10
      [4.25, "4.2"], // 21.25 → 21
    ];
    for (const [score, text] of cases) assert.is(stsbTarget(score), text, String(score));
  });

  s("predictions as text: label words, invalid text, STS-B numbers clamped to [0, 5]", () => {
    assert.is(parsePrediction("sst2", "positive"), 1);
    assert.is(parsePrediction("sst2", " negative\n"), 0);
    assert.is(parsePrediction("sst2", "Positive"), -1);
    assert.is(parsePrediction("mnli", "contradiction"), 2);
    assert.is(parsePrediction("wnli", "entailment"), 1);
    assert.is(parsePrediction("rte", "entailment"), 0);
    assert.is(parsePrediction("stsb", "3.8"), 3.8);
    assert.is(parsePrediction("stsb", "7"), 5);
    assert.is(parsePrediction("stsb", "-1.2"), 0);
    assert.is(parsePrediction("stsb", "1e0"), 1);
    assert.is(parsePrediction("stsb", "about three"), 0);
    assert.is(parsePrediction("stsb", ""), 0);
  });

  s("scoreTask from decoded text, per task", () => {
    // MRPC: refs 1 1 0 0; preds equivalent, "yes" (invalid → FN), equivalent (FP), not_equivalent (TN)
    const mrpc = scoreTask("mrpc", { predictions: ["equivalent", "yes", "equivalent", "not_equivalent"], references: [1, 1, 0, 0] });
    close(mrpc.f1!, 2 / 4);
    close(mrpc.accuracy!, 2 / 4);
    assert.equal(Object.keys(mrpc), ["f1", "accuracy"]);
    const cola = scoreTask("cola", { predictions: ["acceptable", "acceptable", "unacceptable", "unacceptable", "acceptable"], references: [1, 0, 1, 0, 1] });
    close(cola.matthews_corrcoef!, 1 / 6);
    const stsb = scoreTask("stsb", { predictions: ["1.0", "2.0", "3.0", "4.0", "9"], references: [2, 4, 5, 4, 5] });
    close(stsb.pearson!, 6 / Math.sqrt(60)); // "9" clamps to 5
    close(stsb.spearman!, 7 / Math.sqrt(90));
    const mnli = scoreTask("mnli", { predictions: ["neutral", "entailment", "maybe"], references: [1, 0, 2] });
    close(mnli.accuracy!, 2 / 3);
    const examples = [{ idx: 0, text: { sentence: "a" }, label: 1 }];
    assert.equal(scoreTask("sst2", { predictions: ["positive"], references: examples }), { accuracy: 1 });
    try {
      scoreTask("sst2", { predictions: ["positive"], references: [null] });
      assert.unreachable();
    } catch (e) {
      assert.instance(e, GlueUsageError);
      assert.match((e as Error).message, /no label/);
    }
    try {
      scoreTask("sst2", { predictions: ["positive", "negative"], references: [1] });
      assert.unreachable();
    } catch (e) {
      assert.instance(e, GlueUsageError);
    }
  });

  s("GLUE average: tasks with two metrics (and MNLI m/mm) contribute their mean", () => {
    const average = glueAverage({
      cola: { matthews_corrcoef: 0.5 },
      mrpc: { f1: 0.9, accuracy: 0.8 },
      stsb: { pearson: 0.9, spearman: 0.8 },
      mnli: mnliScores({ accuracy: 0.8 }, { accuracy: 0.7 }),
    });
    close(average, (0.5 + 0.85 + 0.85 + 0.75) / 4);
    assert.throws(() => glueAverage({}), /no task scores/);
    assert.throws(() => glueAverage({ sts: { pearson: 1 } } as never), /unknown GLUE task/);
  });

  s.run();
}
