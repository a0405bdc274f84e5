/**
 * The first losses of a fixed short run, for the cross-runtime check: the Node suite runs this file with
 * Deno (`deno run … test/train/loss-curve.ts <backend> <out>`), which prints the losses as JSON, and
 * compares them with its own. Same seed and backend → same curve on both runtimes.
 */
import { createBackend, type BackendName } from "../../runners/host.ts";
import { trainWith } from "../../core/train/api.ts";
import { hostFiles } from "../../runners/host-files.ts";
import "../../plugins/mod.ts";
import { shortRun, syntheticGlue } from "./fixtures.ts";

export async function lossCurve(backendName: BackendName, dir: string): Promise<number[]> {
  const backend = await createBackend(backendName);
  try {
    const data = await syntheticGlue(`${dir}/data`);
    const losses: number[] = [];
    await trainWith(shortRun(data, `${dir}/out-${backendName}`, { evalEvery: 0, checkpointEvery: 0, maxEvalExamples: 4 }), {
      backend,
      fs: await hostFiles(),
      onEvent: (e) => void (e.type === "step" && losses.push(e.loss)),
    });
    return losses;
  } finally {
    backend.dispose();
  }
}

if ((import.meta as { main?: boolean }).main) {
  const args = (globalThis as unknown as { Deno?: { args: string[] } }).Deno?.args ?? [];
  const [backend, dir] = args as [BackendName, string];
  console.log(JSON.stringify(await lossCurve(backend, dir)));
}
