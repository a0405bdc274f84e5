/**
 * Where a T5-small-shaped training step spends GPU time, per kernel launch key, measured with WebGPU
 * timestamp queries (WebGPUBackend.startProfiling).
 *
 *   npx tsx bench/dev/profile.ts [--batch 2] [--source 32] [--target 4] [--method krona|lora]
 * (--method: that adapter on q and v, the base frozen, as the step bench; default: every weight trainable)
 */
import { createT5 } from "../../core/models/t5/load.ts";
import { PeftModel } from "../../core/peft/peft-model.ts";
import "../../plugins/mod.ts";
import { tidy } from "../../core/tensor/scope.ts";
import { createHostWebGPUBackend } from "../../runners/host.ts";
import { T5_SMALL_SHAPE } from "../t5.ts";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const B = arg("batch", 2), S = arg("source", 32), T = arg("target", 4);

const backend = await createHostWebGPUBackend();
const base = createT5(T5_SMALL_SHAPE, { backend, seed: 1 }).eval();
const methodIndex = process.argv.indexOf("--method");
const method = methodIndex > 0 ? process.argv[methodIndex + 1]! : null;
const peft = method ? new PeftModel(base) : null;
peft?.addAdapter(method!, method!, { targets: ["q", "v"] });
const model = peft ?? base;
const ids = Array.from({ length: B }, (_, b) => Array.from({ length: S }, (_, i) => 2 + ((b * 131 + i * 17) % 32000)));
const labels = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, i) => 2 + ((b * 7 + i * 11) % 32000)));
const step = () =>
  tidy(() => {
    const { loss } = model.forward({ inputIds: ids, labels });
    loss!.backward();
    return loss!;
  });
(await step().item(), await backend.sync()); // warm-up: pipelines compiled, pool filled
for (const [, p] of base.uniqueParameters()) (p.grad?.dispose(), (p.grad = null));
for (const [, p] of peft?.trainableParameters() ?? []) (p.grad?.dispose(), (p.grad = null));

backend.startProfiling();
const start = performance.now();
const loss = step();
await loss.item();
const wall = performance.now() - start;
const times = await backend.stopProfiling();
const gpuTotal = times.reduce((a, t) => a + t.milliseconds, 0);
console.log(`batch ${B}×${S}→${T}: wall ${wall.toFixed(0)} ms (profiled), GPU kernels ${gpuTotal.toFixed(0)} ms in ${times.reduce((a, t) => a + t.count, 0)} launches`);
for (const t of times.slice(0, 25)) {
  console.log(`${t.milliseconds.toFixed(1).padStart(9)} ms ${(t.milliseconds / gpuTotal * 100).toFixed(1).padStart(5)}% ${String(t.count).padStart(5)}×  ${t.key.slice(0, 100)}`);
}
