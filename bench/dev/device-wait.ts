/**
 * How the way JavaScript waits for the device changes the device's speed (core/backend/webgpu/device-wait.ts),
 * on this runtime: a plain `await` of the device's promises against the sleeping wait, with one backend
 * each, interleaved for a few rounds, on two workloads:
 *   long   30 matmuls 1024² recorded, submitted and waited for (a training step's wait on lavapipe)
 *   short  one matmul 1024² and its read-back (a wait that ends soon: the cost of waking up late)
 * Node's `webgpu` package polls Dawn from back-to-back setImmediate callbacks while a promise is pending,
 * spinning a core that a software device (lavapipe) computes on; runners/host.ts hostDeviceWait uses the
 * sleeping wait where it pays (Node).
 *
 *   npx tsx bench/dev/device-wait.ts [--rounds 3]
 *   node_modules/.bin/deno run -A bench/dev/device-wait.ts
 */
import { type DeviceWait, plainDeviceWait, sleepingDeviceWait } from "../../core/backend/webgpu/device-wait.ts";
import { detectRuntime } from "../../core/runtime.ts";
import { randn } from "../../core/tensor/create.ts";
import { tidy } from "../../core/tensor/scope.ts";
import { createHostWebGPUBackend } from "../../runners/host.ts";

const args = (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? (globalThis as unknown as { process: { argv: string[] } }).process.argv.slice(2);
const roundsAt = args.indexOf("--rounds");
const rounds = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 3;
const setImmediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
if (typeof setImmediate !== "function") throw new Error("this runtime has no setImmediate: the sleeping wait does not apply");
const waits: Record<string, DeviceWait> = {
  plain: plainDeviceWait,
  sleeping: sleepingDeviceWait(() => new Promise<void>((resolve) => void setImmediate(resolve))),
};

const engines = await Promise.all(
  Object.entries(waits).map(async ([name, deviceWait]) => {
    const backend = await createHostWebGPUBackend({ deviceWait });
    const a = randn([1024, 1024], { backend, seed: 1 });
    const long = async () => {
      await backend.sync();
      const start = performance.now();
      for (let i = 0; i < 30; i++) tidy(() => void a.matmul(a));
      await backend.sync();
      return performance.now() - start;
    };
    const short = async () => {
      await backend.sync();
      const start = performance.now();
      const c = a.matmul(a);
      await c.data();
      c.dispose();
      return performance.now() - start;
    };
    return { name, backend, long, short, times: { long: [] as number[], short: [] as number[] } };
  }),
);
for (const e of engines) await e.long(); // warm-up: pipelines, pool
for (let r = 0; r < rounds; r++) {
  for (const e of engines) {
    e.times.long.push(await e.long());
    for (let i = 0; i < 5; i++) e.times.short.push(await e.short());
  }
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
console.log(`# device waits on ${detectRuntime()} (medians, ms)`);
for (const e of engines) {
  console.log(`${e.name.padEnd(9)} long ${median(e.times.long).toFixed(0).padStart(5)}   short ${median(e.times.short).toFixed(0).padStart(4)}`);
  e.backend.dispose();
}
