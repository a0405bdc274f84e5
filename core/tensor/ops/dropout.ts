/**
 * Inverted dropout: y = x·m/(1−p) with m ~ Bernoulli(1−p) drawn from a counter-based hash of the element
 * index and a seed (see elementwise.ts), so CPU and GPU drop the same elements for the same seed and the
 * backward dx = g·m/(1−p) regenerates the mask instead of storing it.
 */
import { InvalidArgumentError } from "../../errors.ts";
import { record } from "../autograd.ts";
import { nextSeed } from "../random.ts";
import type { Tensor } from "../tensor.ts";
import { add, elementwise } from "./elementwise.ts";

export interface DropoutOptions {
  /** Mask seed; by default the next seed of the global generator (see manualSeed). */
  readonly seed?: number;
  /** When false dropout is the identity (evaluation). Default true. */
  readonly training?: boolean;
}

function checkProbability(op: string, p: number): void {
  if (!(p >= 0 && p <= 1)) throw InvalidArgumentError.of(op, "p", `${p} is not a probability in [0, 1]`);
}

export function dropout(x: Tensor, p: number, options: DropoutOptions = {}): Tensor {
  checkProbability("dropout", p);
  if (options.training === false || p === 0) return record("dropout", x.retainHandle(), [x], (g) => [g]);
  const seed = (options.seed ?? nextSeed()) >>> 0;
  const out = elementwise("dropout", [x], p, seed);
  return record("dropout", out, [x], (g) => [elementwise("dropout", [g], p, seed)]);
}

/**
 * residual + dropout(x) in one launch (a pre-norm block's residual add), with the same mask as
 * `residual.add(dropout(x, p, options))` when the shapes are equal (the mask is hashed from the element
 * index, which is then the same in both), and so the same values up to the rounding of the intermediate
 * x·m/(1−p) (WebGPU computes in float32 either way: bit-identical there). Backward: d residual = g,
 * dx = g·m/(1−p), regenerated from the seed. Shapes that broadcast take the two-launch path.
 */
export function dropoutAdd(residual: Tensor, x: Tensor, p: number, options: DropoutOptions = {}): Tensor {
  checkProbability("dropoutAdd", p);
  if (options.training === false || p === 0) return add(residual, x);
  if (!sameShape(residual.shape, x.shape)) return add(residual, dropout(x, p, options));
  const seed = (options.seed ?? nextSeed()) >>> 0;
  const out = elementwise("dropoutAdd", [residual, x], p, seed);
  return record("dropoutAdd", out, [residual, x], (g) => [g, x.requiresGrad ? elementwise("dropout", [g], p, seed) : null]);
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
