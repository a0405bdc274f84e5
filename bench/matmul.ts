/**
 * Matmul benchmark: GFLOP/s (2·M·N·K per product) of the tiled WGSL kernel, the naive WGSL kernel (one
 * thread per output, the baseline) and the CPU backend, for square sizes and T5-small shapes, plus the
 * tiled/naive ratio measured in the same run. Prints a table and one JSON line per case.
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
  readonly kernel: "tiled" | "naive" | "cpu";
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
  // enough products per sample for ~100 ms of GPU work at 20 GFLOP/s; one product on the CPU
  const repeat = kernel === "cpu" ? 1 : Math.max(1, Math.round(2e9 / flops));
  const bench = new Bench({ name: c.name, time: budgetMs, iterations: 2, warmupIterations: 1, warmupTime: 0 });
  bench.add(kernel, async () => {
    for (let r = 0; r < repeat; r++) matmulRaw(a, b, kernel === "naive" ? "naive" : "tiled").dispose();
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
  /** Skip the CPU for products above this many FLOPs (the CPU takes ~20 s at 2048³). Default: none. */
  readonly cpuMaxFlops?: number;
  readonly cases?: readonly MatmulCase[];
  /** Time budget per measurement in ms (at least 2 samples are always taken). */
  readonly budgetMs?: number;
  readonly log?: (line: string) => void;
}

export async function runMatmulBench(options: MatmulBenchOptions): Promise<MatmulResult[]> {
  const log = options.log ?? console.log;
  const cpu = createCpuBackend();
  const results: MatmulResult[] = [];
  const header = `${"case".padEnd(40)} ${"tiled GF/s".padStart(11)} ${"naive GF/s".padStart(11)} ${"tiled/naive".padStart(12)} ${"cpu GF/s".padStart(9)}`;
  log(header);
  for (const c of options.cases ?? MATMUL_CASES) {
    const row: Partial<Record<MatmulResult["kernel"], MatmulResult>> = {};
    if (options.gpu) {
      row.tiled = await measure(options.gpu, c, "tiled", options.budgetMs ?? 500);
      row.naive = await measure(options.gpu, c, "naive", options.budgetMs ?? 500);
    }
    const flops = 2 * c.M * c.N * c.K * (c.batch ?? 1);
    if (options.cpuMaxFlops === undefined || flops <= options.cpuMaxFlops) row.cpu = await measure(cpu, c, "cpu", 0);
    const ratio = row.tiled && row.naive ? row.tiled.gflops / row.naive.gflops : undefined;
    const fmt = (r?: MatmulResult, width = 11) => (r ? r.gflops.toFixed(2) : "-").padStart(width);
    log(`${c.name.padEnd(40)} ${fmt(row.tiled)} ${fmt(row.naive)} ${(ratio ? `${ratio.toFixed(2)}x` : "-").padStart(12)} ${fmt(row.cpu, 9)}`);
    for (const r of [row.tiled, row.naive, row.cpu]) {
      if (!r) continue;
      results.push(r);
      log(JSON.stringify(r.kernel === "tiled" && ratio ? { ...r, tiledOverNaive: ratio } : r));
    }
  }
  return results;
}
