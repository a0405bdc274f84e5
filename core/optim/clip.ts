/**
 * Gradient clipping by global L2 norm, with the semantics of torch.nn.utils.clip_grad_norm_
 * (norm_type 2, error_if_nonfinite=False):
 *
 *   total = ‖(g₁, …, gₙ)‖₂ = √(Σₚ Σᵢ gₚᵢ²)          over the gradients of all parameters together
 *   c     = min(maxNorm / (total + 1e-6), 1)
 *   gₚ   ← c · gₚ                                     for every parameter that has a gradient
 *
 * Everything stays on the device: the norm, the coefficient and its clamp are 0-d tensors, and every
 * gradient is multiplied by the coefficient unconditionally (c = 1 when the norm is within bounds, which
 * leaves the values exactly unchanged), so no branch needs the norm on the host. The caller gets the total
 * norm as a 0-d tensor to read whenever it reads the loss (`readGradNorm`), without a mid-step readback.
 *
 * Non-finite norms are not an error (torch's error_if_nonfinite=False): with total = ∞ the coefficient is
 * 0 (finite gradient entries become 0, infinite ones NaN); with total = NaN every gradient becomes NaN.
 * A training loop that wants to skip such steps checks the returned norm when it reads it.
 *
 * The gradients are replaced, not scaled in place: autograd may hand two leaves handles on one buffer
 * (add's backward passes dOut to both inputs), and an in-place scale would then apply twice.
 */
import { InvalidArgumentError } from "../errors.ts";
import { noGrad } from "../tensor/autograd.ts";
import { defaultBackend } from "../tensor/create.ts";
import { full } from "../tensor/ops/fill.ts";
import { keep, tidy } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";

/** torch's guard against dividing by a zero norm. */
const NORM_EPS = 1e-6;

/**
 * Scales the gradients of `parameters` so that their global L2 norm is at most `maxNorm` (parameters
 * without a gradient are skipped) and returns the norm they had before, as a 0-d tensor on their backend
 * (0 when no parameter has a gradient). The caller owns the returned tensor: read it with `readGradNorm`
 * or dispose it.
 */
export function clipGradNorm(parameters: readonly Tensor[], maxNorm: number): Tensor {
  if (!(maxNorm > 0)) throw InvalidArgumentError.of("clipGradNorm", "maxNorm", `${maxNorm} is not a norm > 0`);
  const withGrad = parameters.filter((p) => p.grad !== null);
  return noGrad(() =>
    tidy(() => {
      const first = withGrad[0];
      if (!first) return full(parameters[0]?.backend ?? defaultBackend(), [], 0, parameters[0]?.dtype === "float64" ? "float64" : "float32");
      // Σₚ Σᵢ gₚᵢ²: one square + sum per tensor, accumulated as 0-d tensors
      let sumOfSquares: Tensor | null = null;
      for (const p of withGrad) {
        const s = p.grad!.square().sum();
        sumOfSquares = sumOfSquares ? sumOfSquares.add(s) : s;
      }
      const total = sumOfSquares!.sqrt();
      // c = maxNorm / (total + 1e-6), then c ← 1 where c > 1 (a NaN c stays NaN, as torch.clamp keeps it)
      const coefficient = full(first.backend, [], maxNorm, first.grad!.dtype).div(total.add(NORM_EPS));
      const clamped = coefficient.maskedFill(coefficient.gt(1), 1);
      for (const p of withGrad) {
        const scaled = keep(p.grad!.mul(clamped));
        p.grad!.dispose();
        p.grad = scaled;
      }
      return total;
    }),
  );
}

/** Reads a norm returned by `clipGradNorm` (waiting for queued device work) and disposes its tensor. */
export async function readGradNorm(norm: Tensor): Promise<number> {
  try {
    return await norm.item();
  } finally {
    norm.dispose();
  }
}
