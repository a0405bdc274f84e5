/**
 * Dev profiler: wraps a backend so every dispatch is submitted and awaited on its own, and accumulates
 * wall time per kernel key. Slows everything down (no batching), so use it for proportions only.
 *
 *   npx tsx bench/dev/profile.ts [t5-quick]
 */
import type { Backend } from "../../core/backend/backend.ts";
import type { GpuFeatures, Kernel } from "../../core/backend/kernel.ts";
import type { WebGPUBackend } from "../../core/backend/webgpu/webgpu-backend.ts";
import { createT5 } from "../../core/models/t5/load.ts";
import { tidy } from "../../core/tensor/scope.ts";
import { createHostWebGPUBackend } from "../../runners/host.ts";
import { T5_SMALL_SHAPE } from "../t5.ts";

export function profiled(inner: WebGPUBackend): { backend: Backend; report: () => string } {
  const totals = new Map<string, { ms: number; count: number }>();
  let pending: Promise<void> = Promise.resolve();
  const backend: Backend = Object.create(inner);
  backend.dispatch = <P>(kernel: Kernel<P>, params: P, buffers: readonly Parameters<Backend["dispatch"]>[2][number][]) => {
    const key = kernel.gpu(params, (inner as { features: GpuFeatures }).features).key;
    inner.dispatch(kernel, params, buffers);
    inner.flush();
    const start = performance.now();
    // queue completion is observed in order: chain the measurements
    pending = pending.then(async () => {
      await inner.device.queue.onSubmittedWorkDone();
      const t = totals.get(key) ?? { ms: 0, count: 0 };
      t.ms += performance.now() - start;
      t.count++;
      totals.set(key, t);
    });
  };
  return {
    backend,
    report: () =>
      [...totals.entries()]
        .sort((a, b) => b[1].ms - a[1].ms)
        .slice(0, 25)
        .map(([k, t]) => `${t.ms.toFixed(0).padStart(8)} ms ${String(t.count).padStart(6)}× ${k.slice(0, 110)}`)
        .join("\n"),
  };
}

const gpu = await createHostWebGPUBackend();
const { backend, report } = profiled(gpu);
const model = createT5(T5_SMALL_SHAPE, { backend, seed: 1 }).eval();
const B = 2, S = 32, T = 4;
const ids = Array.from({ length: B }, (_, b) => Array.from({ length: S }, (_, i) => 2 + ((b * 131 + i * 17) % 32000)));
const labels = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, i) => 2 + ((b * 7 + i * 11) % 32000)));
const start = performance.now();
const loss = tidy(() => {
  const { loss } = model.forward({ inputIds: ids, labels });
  loss!.backward();
  return loss!;
});
console.log("loss", await loss.item(), "ms", (performance.now() - start).toFixed(0));
await new Promise((r) => setTimeout(r, 100));
console.log(report());
