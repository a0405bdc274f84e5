/**
 * Inverted dropout: y = x·m/(1−p) with m ~ Bernoulli(1−p) drawn from a counter-based hash of the element
 * index and a seed (see elementwise.ts), so CPU and GPU drop the same elements for the same seed and the
 * backward dx = g·m/(1−p) regenerates the mask instead of storing it.
 */
import { InvalidArgumentError } from "../../errors.ts";
import { record } from "../autograd.ts";
import { nextSeed } from "../random.ts";
import type { Tensor } from "../tensor.ts";
import { elementwise } from "./elementwise.ts";

export interface DropoutOptions {
  /** Mask seed; by default the next seed of the global generator (see manualSeed). */
  readonly seed?: number;
  /** When false dropout is the identity (evaluation). Default true. */
  readonly training?: boolean;
}

export function dropout(x: Tensor, p: number, options: DropoutOptions = {}): Tensor {
  if (!(p >= 0 && p <= 1)) throw InvalidArgumentError.of("dropout", "p", `${p} is not a probability in [0, 1]`);
  if (options.training === false || p === 0) return record("dropout", x.retainHandle(), [x], (g) => [g]);
  const seed = (options.seed ?? nextSeed()) >>> 0;
  const out = elementwise("dropout", [x], p, seed);
  return record("dropout", out, [x], (g) => [elementwise("dropout", [g], p, seed)]);
}
