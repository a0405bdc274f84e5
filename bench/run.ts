/**
 * Benchmark entry: `npm run bench -- <name> [--quick] [--backend webgpu|cpu]`.
 *   matmul   GFLOP/s of the WGSL matmul kernels and the CPU backend (see bench/matmul.ts)
 *   t5       forward and forward+backward time of a T5-small-shaped model, webgpu and cpu (bench/t5.ts)
 *   plugins  training-step time of every PEFT plugin vs the frozen model, merged inference (bench/plugins.ts)
 *   step     launches, host (JavaScript) ms and wall ms of a KronA / LoRA training step with AdamW, webgpu
 *            and cpu, against a same-run PyTorch CPU step (bench/torch_step.py; --no-torch skips it,
 *            --torch-threads N); --json for one JSON line per engine and method (bench/step.ts)
 *   peers    same-run comparison with the WebGPU peers tfjs-webgpu and jax-js: matmul 1024³ and a 2-layer
 *            MLP SGD training step, min/median/max ms per engine, webpeft ÷ peer ratios, first-step loss
 *            check; --json for one JSON line per engine and workload, --engines tfjs-webgpu,jax-js (bench/peers.ts)
 * Figures on shared machines are noisy: compare the ratios measured within one run, not absolute times.
 */
import { createHostWebGPUBackend } from "../runners/host.ts";
import { runMatmulBench } from "./matmul.ts";
import { runT5Bench } from "./t5.ts";
import { runPluginBench } from "./plugins.ts";
import { stepBenchFromArgs } from "./step.ts";
import { peerBenchFromArgs } from "./peers.ts";

const args = process.argv.slice(2);
const name = args.find((a) => !a.startsWith("--")) ?? "matmul";
const quick = args.includes("--quick");
const cpuOnly = args.includes("--backend=cpu") || args.join(" ").includes("--backend cpu");

const benchmarks: Record<string, () => Promise<unknown>> = {
  matmul: async () => {
    const gpu = cpuOnly ? undefined : await createHostWebGPUBackend();
    console.log(`# matmul on ${gpu ? `webgpu (${Object.values(gpu.adapterInfo).join(" / ")})` : "cpu only"}${quick ? ", quick" : ""}`);
    await runMatmulBench({ gpu, ...(quick ? { cpuMaxFlops: 2 * 512 ** 3, budgetMs: 200 } : {}) });
    gpu?.dispose();
  },
  t5: async () => {
    const gpu = cpuOnly ? undefined : await createHostWebGPUBackend();
    if (gpu) console.log(`# t5 on webgpu (${Object.values(gpu.adapterInfo).join(" / ")}) and cpu${quick ? ", quick" : ""}`);
    await runT5Bench({ gpu, ...(quick ? { batch: 2, sourceLength: 32, targetLength: 4 } : {}) });
    gpu?.dispose();
  },
  step: async () => {
    const gpu = cpuOnly ? undefined : await createHostWebGPUBackend();
    if (!args.includes("--json")) console.log(`# training step${gpu ? ` on webgpu (${Object.values(gpu.adapterInfo).join(" / ")})` : ""} and cpu${quick ? ", quick" : ""}`);
    await stepBenchFromArgs(args, gpu);
    gpu?.dispose();
  },
  peers: async () => {
    const gpu = await createHostWebGPUBackend();
    await peerBenchFromArgs(args, gpu);
    gpu.dispose();
  },
  plugins: async () => {
    const gpu = await createHostWebGPUBackend();
    console.log(`# plugins on webgpu (${Object.values(gpu.adapterInfo).join(" / ")})${quick ? ", quick" : ""}`);
    await runPluginBench({ gpu, ...(quick ? { rounds: 3 } : {}) });
    gpu.dispose();
  },
};

const run = benchmarks[name];
if (!run) {
  console.error(`unknown benchmark "${name}"; known: ${Object.keys(benchmarks).join(", ")}`);
  process.exit(2);
}
await run();
