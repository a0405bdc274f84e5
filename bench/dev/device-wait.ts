/**
 * How the way JavaScript waits for the device changes the device's speed (core/backend/webgpu/device-wait.ts):
 * the same 30 matmuls 1024² recorded, submitted and waited for, once with a plain `await` (Node's `webgpu`
 * package then polls Dawn from back-to-back setImmediate callbacks, spinning a core) and once with the
 * sleeping wait, interleaved for a few rounds. On a software device (lavapipe) the spinning core is taken
 * from the device's worker threads.
 *
 *   npx tsx bench/dev/device-wait.ts [--rounds 3]
 *   node_modules/.bin/deno run -A bench/dev/device-wait.ts
 */
import { plainDeviceWait } from "../../core/backend/webgpu/device-wait.ts";
import { randn } from "../../core/tensor/create.ts";
import { tidy } from "../../core/tensor/scope.ts";
import { createHostWebGPUBackend, hostDeviceWait } from "../../runners/host.ts";

const args = (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? (globalThis as unknown as { process: { argv: string[] } }).process.argv.slice(2);
const roundsAt = args.indexOf("--rounds");
const rounds = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 3;
const sleeping = hostDeviceWait();
if (!sleeping) throw new Error("this runtime has no setImmediate/SharedArrayBuffer: the sleeping wait does not apply");
// The backend's own waits use the sleeping wait; the timed wait below is chosen per round.
const backend = await createHostWebGPUBackend();
const a = randn([1024, 1024], { backend, seed: 1 });
const b = randn([1024, 1024], { backend, seed: 2 });

async function timed(wait: typeof plainDeviceWait): Promise<number> {
  await backend.sync();
  const start = performance.now();
  for (let i = 0; i < 30; i++) tidy(() => void a.matmul(b));
  backend.flush();
  await wait(backend.device.queue.onSubmittedWorkDone());
  return performance.now() - start;
}
await timed(plainDeviceWait); // warm-up: pipelines, pool
const times = { plain: [] as number[], sleeping: [] as number[] };
for (let r = 0; r < rounds; r++) {
  times.plain.push(await timed(plainDeviceWait));
  times.sleeping.push(await timed(sleeping));
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
for (const [name, xs] of Object.entries(times)) console.log(`${name.padEnd(9)} ${xs.map((x) => x.toFixed(0)).join(" ")} ms (median ${median(xs).toFixed(0)})`);
console.log(`plain ÷ sleeping (medians): ${(median(times.plain) / median(times.sleeping)).toFixed(2)}×`);
backend.dispose();
