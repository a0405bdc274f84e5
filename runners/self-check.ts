/**
 * A quick end-to-end check of a backend against the float64 CPU reference: a small two-layer network
 * (matmul, GELU, softmax cross-entropy) forward and backward. Used by `webpeft info`.
 */
import type { Backend } from "../core/backend/backend.ts";
import { createCpuBackend } from "../core/backend/cpu/cpu-backend.ts";
import { randn, tensor } from "../core/tensor/create.ts";
import { crossEntropy } from "../core/tensor/ops/cross-entropy.ts";
import type { Tensor } from "../core/tensor/tensor.ts";

export interface SelfCheck {
  readonly loss: number;
  /** max |ours − reference| / max |reference| over the loss and every gradient */
  readonly maxRelativeError: number;
  readonly milliseconds: number;
}

async function run(backend: Backend, float64: boolean) {
  const dtype = float64 ? "float64" : "float32";
  const x = randn([33, 65], { backend, dtype, seed: 1 });
  const w1 = randn([65, 129], { backend, dtype, seed: 2, std: 0.1, requiresGrad: true });
  const w2 = randn([129, 17], { backend, dtype, seed: 3, std: 0.1, requiresGrad: true });
  const labels = tensor(Int32Array.from({ length: 33 }, (_, i) => (i * 7) % 17), { backend });
  const loss = crossEntropy(x.matmul(w1).gelu().matmul(w2), labels);
  loss.backward();
  const values = [await loss.data(), await w1.grad!.data(), await w2.grad!.data()];
  for (const t of [x, w1, w2, labels, loss, w1.grad, w2.grad] as (Tensor | null)[]) t?.dispose();
  return values;
}

export async function selfCheck(backend: Backend): Promise<SelfCheck> {
  const start = performance.now();
  const ours = await run(backend, false);
  const milliseconds = performance.now() - start;
  const reference = await run(createCpuBackend({ float64: true }), true);
  let maxRelativeError = 0;
  ours.forEach((values, k) => {
    const ref = reference[k]!;
    let scale = 0;
    let err = 0;
    for (let i = 0; i < ref.length; i++) {
      scale = Math.max(scale, Math.abs(ref[i]!));
      err = Math.max(err, Math.abs(values[i]! - ref[i]!));
    }
    maxRelativeError = Math.max(maxRelativeError, err / (scale || 1));
  });
  return { loss: ours[0]![0]!, maxRelativeError, milliseconds };
}
