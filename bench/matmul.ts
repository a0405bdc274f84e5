/**
 * Matmul benchmark: GFLOP/s (2·M·N·K per product) of the tiled WGSL kernel, the naive WGSL kernel (one
 * thread per output, the baseline) and the CPU backend, for square sizes and T5-small shapes, plus the
 * tiled/naive ratio measured in the same run. On the CPU: kernel "cpu" is what the float32 CPU backend
 * runs (the WebAssembly SIMD kernel where available, core/backend/cpu/matmul-wasm.ts) and "cpu-js" the
 * plain JavaScript loop it replaced (the reference's loop, the "naive" variant on the CPU), with their
 * ratio from the same run. Prints a table and one JSON line per case and kernel.
 *
 * GPU timing: each sample records `repeat` products into one submission and waits for the queue, so
 * submission overhead is amortised; the first (warm-up) sample also compiles the pipelines.
 */
import { Bench } from "tinybench";
import type { Backend } from "../core/backend/backend.ts";
import { createCpuBackend } from "../core/backend/cpu/cpu-backend.ts";
import { randn } from "../core/tensor/create.ts";
import { matmulRaw } from "../core/tensor/ops/matmul.ts";
import type { Tensor } from "../core/tensor/tensor.ts";

export interface MatmulCase {
  readonly name: string;
  readonly M: number;
  readonly K: number;
  readonly N: number;
  /** B is stored (N, K) and used transposed, as in x·Wᵀ of a linear layer. */
  readonly bTransposed?: boolean;
  /** Batch of independent products, as in attention. */
  readonly batch?: number;
}

export const MATMUL_CASES: readonly MatmulCase[] = [
  { name: "square 256", M: 256, K: 256, N: 256 },
  { name: "square 512", M: 512, K: 512, N: 512 },
  { name: "square 1024", M: 1024, K: 1024, N: 1024 },
  { name: "square 2048", M: 2048, K: 2048, N: 2048 },
  { name: "t5-small FFN in  1024x512·512x2048", M: 1024, K: 512, N: 2048 },
  { name: "t5-small FFN out 1024x2048·2048x512", M: 1024, K: 2048, N: 512 },
  { name: "t5-small proj    1024x512·512x512", M: 1024, K: 512, N: 512 },
  { name: "t5-small x·Wᵀ    1024x512·(2048x512)ᵀ", M: 1024, K: 512, N: 2048, bTransposed: true },
  { name: "t5-small scores  64x(128x64·64x128)", M: 128, K: 64, N: 128, batch: 64 },
];

export interface MatmulResult {
  readonly bench: "matmul";
  readonly case: string;
  readonly backend: string;
  /** "cpu": the CPU backend's own kernel (WebAssembly SIMD where available); "cpu-js": the JavaScript loop. */
  readonly kernel: "tiled" | "naive" | "cpu" | "cpu-js";
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly batch: number;
  readonly msPerProduct: number;
  readonly gflops: number;
  readonly samples: number;
}

function operands(backend: Backend, c: MatmulCase): [Tensor, Tensor] {
  const batch = c.batch ? [c.batch] : [];
  const a = randn([...batch, c.M, c.K], { backend, seed: 1 });
  const bStored = randn(c.bTransposed ? [...batch, c.N, c.K] : [...batch, c.K, c.N], { backend, seed: 2 });
  return [a, c.bTransposed ? bStored.transpose() : bStored];
}

async function measure(
  backend: Backend,
  c: MatmulCase,
  kernel: MatmulResult["kernel"],
  budgetMs: number,
): Promise<MatmulResult> {
  const flops = 2 * c.M * c.N * c.K * (c.batch ?? 1);
  const [a, b] = operands(backend, c);
  // enough products per sample for ~100 ms of GPU work at 20 GFLOP/s (and of WebAssembly on the CPU);
  // one product per sample for the JavaScript loop
  const repeat = kernel === "cpu-js" ? 1 : Math.max(1, Math.round(2e9 / flops));
  const bench = new Bench({ name: c.name, time: budgetMs, iterations: 2, warmupIterations: 1, warmupTime: 0 });
  bench.add(kernel, async () => {
    for (let r = 0; r < repeat; r++) matmulRaw(a, b, kernel === "naive" || kernel === "cpu-js" ? "naive" : "tiled").dispose();
    await backend.sync();
  });
  await bench.run();
  const result = bench.tasks[0]!.result;
  a.dispose();
  b.dispose();
  if (result.state !== "completed") {
    throw new Error(`matmul bench ${c.name} (${kernel}) ${result.state}${"error" in result ? `: ${result.error.message}` : ""}`);
  }
  const msPerProduct = result.latency.mean / repeat;
  return {
    bench: "matmul",
    case: c.name,
    backend: backend.name,
    kernel,
    M: c.M,
    N: c.N,
    K: c.K,
    batch: c.batch ?? 1,
    msPerProduct,
    gflops: flops / (msPerProduct * 1e6),
    samples: result.latency.samplesCount,
  };
}

export interface MatmulBenchOptions {
  readonly gpu?: Backend;
  /** Skip the CPU for products above this many FLOPs. Default: none. */
  readonly cpuMaxFlops?: number;
  /** Skip the CPU's JavaScript loop above this many FLOPs (it takes ~20 s at 2048³). Default 2·1024³. */
  readonly cpuJsMaxFlops?: number;
  readonly cases?: readonly MatmulCase[];
  /** Time budget per measurement in ms (at least 2 samples are always taken). */
  readonly budgetMs?: number;
  readonly log?: (line: string) => void;
}

export async function runMatmulBench(options: MatmulBenchOptions): Promise<MatmulResult[]> {
  const log = options.log ?? console.log;
  const cpu = createCpuBackend();
  const cpuJsMaxFlops = options.cpuJsMaxFlops ?? 2 * 1024 ** 3;
  const results: MatmulResult[] = [];
  log(`# cpu backend: ${cpu.simd ? "WebAssembly SIMD matmul" : "no WebAssembly SIMD here: the JavaScript loop"} (${cpu.name})`);
  const header =
    `${"case".padEnd(40)} ${"tiled GF/s".padStart(11)} ${"naive GF/s".padStart(11)} ${"tiled/naive".padStart(12)} ` +
    `${"cpu GF/s".padStart(9)} ${"cpu-js GF/s".padStart(12)} ${"cpu/cpu-js".padStart(11)}`;
  log(header);
  for (const c of options.cases ?? MATMUL_CASES) {
    const row: Partial<Record<MatmulResult["kernel"], MatmulResult>> = {};
    if (options.gpu) {
      row.tiled = await measure(options.gpu, c, "tiled", options.budgetMs ?? 500);
      row.naive = await measure(options.gpu, c, "naive", options.budgetMs ?? 500);
    }
    const flops = 2 * c.M * c.N * c.K * (c.batch ?? 1);
    if (options.cpuMaxFlops === undefined || flops <= options.cpuMaxFlops) {
      row.cpu = await measure(cpu, c, "cpu", options.budgetMs ?? 500);
      if (flops <= cpuJsMaxFlops) row["cpu-js"] = await measure(cpu, c, "cpu-js", 0);
    }
    const ratio = row.tiled && row.naive ? row.tiled.gflops / row.naive.gflops : undefined;
    const cpuRatio = row.cpu && row["cpu-js"] ? row.cpu.gflops / row["cpu-js"].gflops : undefined;
    const fmt = (r?: MatmulResult, width = 11) => (r ? r.gflops.toFixed(2) : "-").padStart(width);
    const fmtRatio = (x: number | undefined, width: number) => (x ? `${x.toFixed(2)}x` : "-").padStart(width);
    log(
      `${c.name.padEnd(40)} ${fmt(row.tiled)} ${fmt(row.naive)} ${fmtRatio(ratio, 12)} ` +
        `${fmt(row.cpu, 9)} ${fmt(row["cpu-js"], 12)} ${fmtRatio(cpuRatio, 11)}`,
    );
    for (const r of [row.tiled, row.naive, row.cpu, row["cpu-js"]]) {
      if (!r) continue;
      results.push(r);
      log(JSON.stringify(r.kernel === "tiled" && ratio ? { ...r, tiledOverNaive: ratio } : r.kernel === "cpu" && cpuRatio ? { ...r, cpuOverJs: cpuRatio } : r));
    }
  }
  return results;
}
