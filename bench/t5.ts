/**
 * T5 step benchmark: forward and forward+backward time of a T5-small-shaped model (d_model 512, 6+6
 * layers, d_ff 2048, 8 heads, vocab 32128, random weights) on a batch of 8 × 128 source tokens and
 * 8 target tokens, on webgpu and cpu. Prints a table and one JSON line per backend and phase.
 */
import { Bench } from "tinybench";
import type { Backend } from "../core/backend/backend.ts";
import { createCpuBackend } from "../core/backend/cpu/cpu-backend.ts";
import { parseT5Config } from "../core/io/t5-config.ts";
import { createT5 } from "../core/models/t5/load.ts";
import { Generator } from "../core/tensor/random.ts";
import { tidy } from "../core/tensor/scope.ts";
import type { T5Inputs } from "../core/models/t5/model.ts";

export const T5_SMALL_SHAPE = parseT5Config(
  {
    architectures: ["T5ForConditionalGeneration"],
    model_type: "t5",
    vocab_size: 32128,
    d_model: 512,
    d_kv: 64,
    d_ff: 2048,
    num_layers: 6,
    num_heads: 8,
    feed_forward_proj: "relu",
    tie_word_embeddings: true,
  },
  "t5-small shape (bench)",
);

export interface T5BenchResult {
  readonly bench: "t5";
  readonly backend: string;
  readonly phase: "forward" | "forward+backward";
  readonly batch: number;
  readonly sourceLength: number;
  readonly targetLength: number;
  readonly msPerStep: number;
  readonly samples: number;
}

/** A seeded random batch of B × S source and B × T target ids (no padding). */
export function batchOf(B: number, S: number, T: number, vocab: number): T5Inputs {
  const g = new Generator(1);
  const ids = new Int32Array(B * S).map(() => 2 + Math.floor(g.uniform() * (vocab - 2)));
  const labels = new Int32Array(B * T).map(() => 2 + Math.floor(g.uniform() * (vocab - 2)));
  return {
    inputIds: { data: ids, shape: [B, S] as const },
    attentionMask: { data: new Int32Array(B * S).fill(1), shape: [B, S] as const },
    labels: { data: labels, shape: [B, T] as const },
  };
}

export async function runT5Bench(options: { readonly gpu?: Backend; readonly cpu?: boolean; readonly log?: (line: string) => void; readonly batch?: number; readonly sourceLength?: number; readonly targetLength?: number }): Promise<T5BenchResult[]> {
  const log = options.log ?? console.log;
  const B = options.batch ?? 8;
  const S = options.sourceLength ?? 128;
  const T = options.targetLength ?? 8;
  const backends: Backend[] = [...(options.gpu ? [options.gpu] : []), ...(options.cpu === false ? [] : [createCpuBackend()])];
  const results: T5BenchResult[] = [];
  log(`T5-small shape, batch ${B} × ${S} source × ${T} target tokens, eval mode (no dropout)`);
  log(`${"backend".padEnd(10)} ${"forward ms".padStart(12)} ${"fwd+bwd ms".padStart(12)} ${"bwd/fwd".padStart(8)}`);
  for (const backend of backends) {
    const model = createT5(T5_SMALL_SHAPE, { backend, seed: 1 }).eval();
    const inputs = batchOf(B, S, T, T5_SMALL_SHAPE.vocabSize);
    const row: Partial<Record<T5BenchResult["phase"], T5BenchResult>> = {};
    for (const phase of ["forward", "forward+backward"] as const) {
      const bench = new Bench({ name: phase, time: 0, iterations: backend.name === "cpu" ? 1 : 3, warmupIterations: 1, warmupTime: 0 });
      bench.add(phase, async () => {
        const loss = tidy(() => {
          const { loss } = model.forward(inputs);
          if (phase === "forward+backward") loss!.backward();
          return loss!;
        });
        await loss.item();
        loss.dispose();
        for (const [, p] of model.uniqueParameters()) {
          p.grad?.dispose();
          p.grad = null;
        }
      });
      await bench.run();
      const r = bench.tasks[0]!.result;
      if (r.state !== "completed") throw new Error(`t5 bench ${phase} on ${backend.name}: ${r.state}${"error" in r ? ` ${r.error.message}` : ""}`);
      row[phase] = { bench: "t5", backend: backend.name, phase, batch: B, sourceLength: S, targetLength: T, msPerStep: r.latency.mean, samples: r.latency.samplesCount };
    }
    model.dispose();
    const f = row.forward!;
    const fb = row["forward+backward"]!;
    log(`${backend.name.padEnd(10)} ${f.msPerStep.toFixed(0).padStart(12)} ${fb.msPerStep.toFixed(0).padStart(12)} ${(fb.msPerStep / f.msPerStep).toFixed(2).padStart(8)}`);
    for (const r of [f, fb]) {
      results.push(r);
      log(JSON.stringify(r));
    }
  }
  return results;
}
