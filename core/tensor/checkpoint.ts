/**
 * Gradient checkpointing (Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"): run `fn`
 * without recording, keeping only its inputs; in backward, run it again with recording on and
 * backpropagate through the recomputed graph. Memory for `fn`'s intermediates is traded for one extra
 * forward pass. Parameters used inside `fn` receive their gradients from the inner backward.
 *
 * Dropout inside `fn` must drop the same elements both times, so the global generator's state is
 * replayed for the recomputation (and restored afterwards).
 */
import { backward, enableGrad, isRecording, noGrad, record } from "./autograd.ts";
import { globalGenerator } from "./random.ts";
import type { Tensor } from "./tensor.ts";

export function checkpoint(fn: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[]): Tensor {
  if (!isRecording()) return fn(...inputs);
  const generator = globalGenerator();
  const rngAtForward = generator.state;
  const out = noGrad(() => fn(...inputs));
  return record(
    "checkpoint",
    out,
    inputs,
    (g, saved) => {
      const rngNow = generator.state;
      generator.state = rngAtForward;
      // fresh leaves standing in for the inputs: their .grad is what flows on to the outer graph
      const leaves = saved.map((t, i) => t.detach().requireGrad(inputs[i]!.requiresGrad));
      let recomputed: Tensor;
      try {
        recomputed = enableGrad(() => fn(...leaves));
      } finally {
        generator.state = rngNow;
      }
      if (recomputed.requiresGrad) backward(recomputed, { grad: g });
      return leaves.map((leaf) => {
        const grad = leaf.grad;
        leaf.grad = null;
        return grad;
      });
    },
    inputs,
    true,
  );
}
