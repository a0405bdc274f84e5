/**
 * Greedy decoding for text-to-text prediction. The encoder runs once; each decoder step feeds one token
 * per sequence, reusing per-layer caches: self-attention keys/values of earlier positions (grown by one
 * position per step) and cross-attention keys/values of the encoder output (computed once). The only
 * read-back per step is the B chosen token ids.
 */
import { noGrad } from "../../tensor/autograd.ts";
import { tensor } from "../../tensor/create.ts";
import { argmax } from "../../tensor/ops/reduce.ts";
import { tidy } from "../../tensor/scope.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { InvalidArgumentError } from "../../errors.ts";
import { unknownNameMessage } from "../../suggest.ts";
import { type IntMatrix, KeyValueCache, showValue, type T5ForConditionalGeneration } from "./model.ts";

export interface GenerateOptions {
  /** Tokens to produce at most per sequence: an integer 1…MAX_NEW_TOKENS (default 20). */
  readonly maxNewTokens?: number;
}

/** Upper bound on maxNewTokens: far beyond T5's 512-token training length, and a bound on the loop. */
export const MAX_NEW_TOKENS = 16384;

const OPTION_KEYS: readonly string[] = ["maxNewTokens"];

/** The options object, checked: no coercion ("3", 1.5, NaN, −1, Infinity are errors), no unknown keys. */
export function checkGenerateOptions(options: unknown, op = "T5.generate"): { readonly maxNewTokens: number } {
  if (options === undefined) return { maxNewTokens: 20 };
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw InvalidArgumentError.of(op, "options", `expected an object { maxNewTokens? } or undefined, got ${showValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) throw InvalidArgumentError.of(op, `options.${key}`, unknownNameMessage(key, OPTION_KEYS, "generate option"));
  }
  const value = (options as { maxNewTokens?: unknown }).maxNewTokens;
  if (value === undefined) return { maxNewTokens: 20 };
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > MAX_NEW_TOKENS) {
    throw InvalidArgumentError.of(op, "options.maxNewTokens", `maxNewTokens = ${showValue(value)}: expected an integer 1..${MAX_NEW_TOKENS}`);
  }
  return { maxNewTokens: value };
}

/**
 * Returns the generated ids per sequence (without the start token), stopping a sequence after its
 * </s>; finished sequences are padded with the pad id, like HF's generate. Dropout is off while decoding.
 */
export async function generateGreedy(model: T5ForConditionalGeneration, inputIds: IntMatrix, attentionMask?: IntMatrix, options?: GenerateOptions): Promise<number[][]> {
  const { config, backend } = model;
  const { maxNewTokens } = checkGenerateOptions(options);
  const wasTraining = model.training;
  model.eval();
  const caches = model.decoder.block.blocks.map(() => new KeyValueCache());
  let encoded: { hidden: Tensor; bias: Tensor } | null = null;
  let crossKeyValues: [Tensor, Tensor][] = [];
  try {
    encoded = noGrad(() => model.encode(inputIds, attentionMask, "T5.generate"));
    const enc = encoded;
    crossKeyValues = noGrad(() => model.decoder.block.blocks.map((b) => b.crossAttention!.encoderKeyValues(enc.hidden)));
    const B = enc.hidden.shape[0]!;
    const outputs: number[][] = Array.from({ length: B }, () => []);
    const finished = new Array<boolean>(B).fill(false);
    let current = new Int32Array(B).fill(config.decoderStartTokenId);
    for (let step = 0; step < maxNewTokens && !finished.every(Boolean); step++) {
      const next = noGrad(() =>
        tidy(() => {
          const ids = tensor(current, { backend, shape: [B, 1], dtype: "int32" });
          // one query at position `step` against keys 0…step: causal by construction, no mask needed
          const bias = model.decoder.positionBias(1, step + 1, backend, step);
          let h = model.decoder.embed_tokens.forward(ids);
          model.decoder.block.blocks.forEach((block, i) => {
            h = block.forward(h, bias, { hidden: enc.hidden, bias: enc.bias, keyValues: crossKeyValues[i]! }, caches[i]);
          });
          h = model.decoder.final_layer_norm.forward(h);
          const logits = model.lm_head.forward(config.tieWordEmbeddings ? h.mul(config.dModel ** -0.5) : h); // (B, 1, V)
          return argmax(logits, -1); // (B, 1)
        }),
      );
      const chosen = (await next.data()) as Int32Array;
      next.dispose();
      current = new Int32Array(B);
      for (let b = 0; b < B; b++) {
        const token = finished[b] ? config.padTokenId : chosen[b]!;
        outputs[b]!.push(token);
        current[b] = token;
        if (token === config.eosTokenId) finished[b] = true;
      }
    }
    return outputs;
  } finally {
    for (const c of caches) c.dispose();
    for (const [k, v] of crossKeyValues) {
      k.dispose();
      v.dispose();
    }
    encoded?.hidden.dispose();
    encoded?.bias.dispose();
    model.train(wasTraining);
  }
}
