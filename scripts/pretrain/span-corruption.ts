/**
 * T5's span-corruption objective (Raffel et al. 2020, §3.1.4 and `t5.data.preprocessors.span_corruption`:
 * `random_spans_noise_mask`, `noise_span_to_unique_sentinel`, `nonnoise_span_to_unique_sentinel`), written
 * from the paper's description, over a deterministic stream of packed token chunks.
 *
 * One example from R raw tokens x₁…x_R:
 *   n = round(R · density) noise tokens (clamped to [1, R − 1]), s = max(1, round(n / meanSpan)) spans;
 *   the n noise tokens are cut into s non-empty runs and the R − n others into s non-empty runs, both cuts
 *   uniformly at random; runs interleave starting with a non-noise run:  keep₀ noise₀ keep₁ noise₁ …
 *   input  = keep₀ ⟨X₀⟩ keep₁ ⟨X₁⟩ … keep_{s−1} ⟨X_{s−1}⟩ </s>           (R − n + s + 1 ids)
 *   target = ⟨X₀⟩ noise₀ ⟨X₁⟩ noise₁ … ⟨X_{s−1}⟩ noise_{s−1} </s>          (n + s + 1 ids)
 * with ⟨X_k⟩ = <extra_id_k> = id V − 1 − k. Every example of a run has the same R, so every batch has the
 * same (B, S) and (B, T): no padding, one set of compiled kernels.
 *
 * Data order: epoch e shuffles the corpus texts (SeededRandom(seed, e)), concatenates their ids (no
 * separator: texts end in their own punctuation) and cuts the stream into chunks of R tokens (the
 * remainder is dropped). Example c of epoch e draws its spans from SeededRandom(seed, e, c). So global
 * step t's batch depends only on (seed, t): resuming needs nothing but the step.
 */
import { SeededRandom } from "../../datasets/glue/random.ts";

export interface SpanCorruptionOptions {
  /** Input length S (ids, </s> included); R is chosen as the largest raw length whose input fits. */
  readonly inputLength: number;
  readonly noiseDensity?: number;
  readonly meanSpanLength?: number;
  /**
   * Share of examples (0…1) that become one-word examples of one text instead (see `maskOneWord`): the
   * decoder's first step predicts a masked token from its sentence, where a GLUE label is predicted later.
   */
  readonly oneWordFraction?: number;
}

export interface SpanShape {
  /** Raw tokens per example. */
  readonly raw: number;
  readonly noise: number;
  readonly spans: number;
  readonly inputLength: number;
  readonly targetLength: number;
}

export function spanShape(raw: number, density: number, meanSpan: number): SpanShape {
  const noise = Math.min(Math.max(Math.round(raw * density), 1), raw - 1);
  const spans = Math.max(1, Math.round(noise / meanSpan));
  return { raw, noise, spans, inputLength: raw - noise + spans + 1, targetLength: noise + spans + 1 };
}

/** The largest raw length whose corrupted input has at most `inputLength` ids (T5's random_spans_helper). */
export function rawLengthFor(inputLength: number, density = 0.15, meanSpan = 3): SpanShape {
  let best = spanShape(2, density, meanSpan);
  for (let raw = 2; raw < inputLength * 4; raw++) {
    const shape = spanShape(raw, density, meanSpan);
    if (shape.inputLength <= inputLength) best = shape;
  }
  return best;
}

/** Lengths of `parts` non-empty runs summing to `n`, cut uniformly at random (n ≥ parts ≥ 1). */
function randomSegmentation(n: number, parts: number, random: SeededRandom): number[] {
  // choose parts − 1 distinct cut points among 1 … n − 1 (partial Fisher–Yates)
  const cuts = Array.from({ length: n - 1 }, (_, i) => i + 1);
  for (let i = 0; i < parts - 1; i++) {
    const j = i + random.int(cuts.length - i);
    [cuts[i], cuts[j]] = [cuts[j]!, cuts[i]!];
  }
  const chosen = cuts.slice(0, parts - 1).sort((a, b) => a - b);
  const lengths: number[] = [];
  let previous = 0;
  for (const c of [...chosen, n]) {
    lengths.push(c - previous);
    previous = c;
  }
  return lengths;
}

/** Corrupts one chunk into (input, target) ids written at `inputs[at…]`, `targets[at…]`. */
export function corrupt(
  chunk: ArrayLike<number>,
  shape: SpanShape,
  random: SeededRandom,
  ids: { readonly vocabSize: number; readonly eosId: number },
  inputs: Int32Array,
  inputAt: number,
  targets: Int32Array,
  targetAt: number,
): void {
  const noise = randomSegmentation(shape.noise, shape.spans, random);
  const keep = randomSegmentation(shape.raw - shape.noise, shape.spans, random);
  let i = 0, x = inputAt, y = targetAt;
  for (let k = 0; k < shape.spans; k++) {
    for (let j = 0; j < keep[k]!; j++) inputs[x++] = chunk[i++]!;
    const sentinel = ids.vocabSize - 1 - k;
    inputs[x++] = sentinel;
    targets[y++] = sentinel;
    for (let j = 0; j < noise[k]!; j++) targets[y++] = chunk[i++]!;
  }
  inputs[x++] = ids.eosId;
  targets[y++] = ids.eosId;
}

/**
 * The one-word objective, over one text (a sentence of the corpus, not a packed chunk): input = the text's
 * first S − 1 tokens with one token replaced by ⟨X₀⟩, then </s>, then padding (masked out); target = that
 * token, </s>, then −100 (ignored). The token is drawn uniformly among positions whose id is at least
 * `minId` (the vocabulary is in frequency order, so this skips "the", ".", "a" …; if none qualifies, any
 * position). Returns the number of real input ids (the attention mask's ones).
 *
 * Why: under span corruption every target starts with ⟨X₀⟩, so the decoder's first step, where a GLUE label
 * is predicted later, learns to ignore the encoder. Here that step must name a word from the rest of one
 * sentence, which a bag of the sentence's words already predicts (uniform cross-attention is enough: the
 * first thing a model can learn), and what it learns is the sentence's co-occurrence structure (in the
 * generated sentences, "great" goes with "funny", "dull" with "tedious").
 */
export function maskOneWord(
  text: ArrayLike<number>,
  shape: SpanShape,
  random: SeededRandom,
  ids: { readonly vocabSize: number; readonly eosId: number; readonly padId?: number; readonly minId?: number },
  inputs: Int32Array,
  inputAt: number,
  targets: Int32Array,
  targetAt: number,
): number {
  const visible = Math.min(text.length, shape.inputLength - 1);
  if (visible < 1) throw new Error("maskOneWord: an empty text");
  const minId = ids.minId ?? 100;
  const candidates: number[] = [];
  for (let x = 0; x < visible; x++) if (text[x]! >= minId) candidates.push(x);
  const masked = candidates.length > 0 ? candidates[random.int(candidates.length)]! : random.int(visible);
  for (let x = 0; x < visible; x++) inputs[inputAt + x] = x === masked ? ids.vocabSize - 1 : text[x]!;
  inputs[inputAt + visible] = ids.eosId;
  inputs.fill(ids.padId ?? 0, inputAt + visible + 1, inputAt + shape.inputLength);
  targets.fill(-100, targetAt, targetAt + shape.targetLength);
  targets[targetAt] = text[masked]!;
  targets[targetAt + 1] = ids.eosId;
  return visible + 1;
}

/** The packed chunks of one epoch and the batches of any global step. */
export class SpanCorruptionStream {
  readonly shape: SpanShape;
  readonly chunksPerEpoch: number;
  readonly stepsPerEpoch: number;
  private cachedEpoch = -1;
  private stream = new Int32Array(0);

  constructor(
    private readonly texts: readonly Int32Array[],
    readonly options: SpanCorruptionOptions & { readonly batchSize: number; readonly seed: number; readonly vocabSize: number; readonly eosId: number },
  ) {
    this.shape = rawLengthFor(options.inputLength, options.noiseDensity ?? 0.15, options.meanSpanLength ?? 3);
    const tokens = texts.reduce((n, t) => n + t.length, 0);
    this.chunksPerEpoch = Math.floor(tokens / this.shape.raw);
    this.stepsPerEpoch = Math.floor(this.chunksPerEpoch / options.batchSize);
  }

  private epochStream(epoch: number): Int32Array {
    if (epoch !== this.cachedEpoch) {
      const order = this.texts.map((_, i) => i);
      const random = new SeededRandom(this.options.seed, epoch);
      for (let i = order.length - 1; i > 0; i--) {
        const j = random.int(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      const stream = new Int32Array(this.texts.reduce((n, t) => n + t.length, 0));
      let at = 0;
      for (const i of order) {
        stream.set(this.texts[i]!, at);
        at += this.texts[i]!.length;
      }
      this.stream = stream;
      this.cachedEpoch = epoch;
    }
    return this.stream;
  }

  /** The (B, S) inputs and (B, T) targets of global step `step` (0-based). */
  batch(step: number): {
    inputIds: { data: Int32Array; shape: [number, number] };
    labels: { data: Int32Array; shape: [number, number] };
    attentionMask?: { data: Int32Array; shape: [number, number] };
    epoch: number;
  } {
    const B = this.options.batchSize;
    const epoch = Math.floor(step / this.stepsPerEpoch);
    const first = (step % this.stepsPerEpoch) * B;
    const stream = this.epochStream(epoch);
    const { raw, inputLength: S, targetLength: T } = this.shape;
    const inputs = new Int32Array(B * S);
    const targets = new Int32Array(B * T);
    const oneWordFraction = this.options.oneWordFraction ?? 0;
    // only batches that can hold one-word (padded) rows need a mask
    const mask = oneWordFraction > 0 ? new Int32Array(B * S).fill(1) : null;
    for (let b = 0; b < B; b++) {
      const c = first + b;
      const random = new SeededRandom(this.options.seed, epoch, c);
      // A separate draw decides the objective, so a fraction of 0 reproduces earlier runs exactly.
      const choice = new SeededRandom(this.options.seed, epoch, c, 0x1d);
      if (oneWordFraction > 0 && choice.int(1_000_000) < oneWordFraction * 1_000_000) {
        // one text drawn uniformly from the corpus (a few redraws to skip texts of one or two tokens)
        let text = this.texts[choice.int(this.texts.length)]!;
        for (let tries = 0; tries < 8 && text.length < 3; tries++) text = this.texts[choice.int(this.texts.length)]!;
        const real = maskOneWord(text, this.shape, random, this.options, inputs, b * S, targets, b * T);
        mask!.fill(0, b * S + real, (b + 1) * S);
      } else {
        corrupt(stream.subarray(c * raw, (c + 1) * raw), this.shape, random, this.options, inputs, b * S, targets, b * T);
      }
    }
    return {
      inputIds: { data: inputs, shape: [B, S] },
      labels: { data: targets, shape: [B, T] },
      // only with one-word rows (padded); span-corruption batches have none, as before
      ...(mask ? { attentionMask: { data: mask, shape: [B, S] as [number, number] } } : {}),
      epoch,
    };
  }
}
