/**
 * T5 step benchmark: forward and forward+backward time of a T5-small-shaped model (d_model 512, 6+6
 * layers, d_ff 2048, 8 heads, vocab 32128, random weights) on a batch of 8 × 128 source tokens and
 * 8 target tokens, on webgpu and cpu, for two trainings: "full" (every weight trainable: the backward
 * computes weight gradients too, about 2× the forward's multiply-adds) and "krona" (KronA on q and v,
 * the base frozen: the backward needs only input gradients and the adapters', about 1× the forward's).
 * Prints a table with backward ÷ forward ((forward+backward − forward) ÷ forward) and one JSON line per
 * backend, training and phase. Times are medians of ROUNDS rounds that alternate the two phases (after
 * one warm-up step of each), so that drift on a shared machine hits both alike; a single sample per phase
 * (what the cpu rows had) gave ratios from 0.33 to 1.19 between runs.
 */
import type { Backend } from "../core/backend/backend.ts";
import { createCpuBackend } from "../core/backend/cpu/cpu-backend.ts";
import { parseT5Config } from "../core/io/t5-config.ts";
import { createT5 } from "../core/models/t5/load.ts";
import { Generator } from "../core/tensor/random.ts";
import { tidy } from "../core/tensor/scope.ts";
import type { T5Inputs } from "../core/models/t5/model.ts";
import { PeftModel } from "../core/peft/peft-model.ts";
import "../plugins/mod.ts";

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
  /** "full": every weight trainable; "krona": KronA on q and v, the base frozen */
  readonly training: "full" | "krona";
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

/** Timed rounds per backend, training and phase. */
const ROUNDS = 3;

export async function runT5Bench(options: { readonly gpu?: Backend; readonly cpu?: boolean; readonly log?: (line: string) => void; readonly batch?: number; readonly sourceLength?: number; readonly targetLength?: number }): Promise<T5BenchResult[]> {
  const log = options.log ?? console.log;
  const B = options.batch ?? 8;
  const S = options.sourceLength ?? 128;
  const T = options.targetLength ?? 8;
  const backends: Backend[] = [...(options.gpu ? [options.gpu] : []), ...(options.cpu === false ? [] : [createCpuBackend()])];
  const results: T5BenchResult[] = [];
  log(`T5-small shape, batch ${B} × ${S} source × ${T} target tokens, eval mode (no dropout)`);
  log(`${"backend".padEnd(10)} ${"training".padEnd(8)} ${"forward ms".padStart(12)} ${"fwd+bwd ms".padStart(12)} ${"bwd ÷ fwd".padStart(10)}`);
  for (const backend of backends) {
    for (const training of ["full", "krona"] as const) {
      const base = createT5(T5_SMALL_SHAPE, { backend, seed: 1 }).eval();
      const peft = training === "krona" ? new PeftModel(base) : null;
      peft?.addAdapter("krona", "krona", { targets: ["q", "v"] });
      const model = peft ?? base;
      const trainable = peft ? peft.trainableParameters().map(([, p]) => p) : base.uniqueParameters().map(([, p]) => p);
      const inputs = batchOf(B, S, T, T5_SMALL_SHAPE.vocabSize);
      /** One step of `phase`: its wall time until the loss is on the host (ms). */
      const step = async (phase: T5BenchResult["phase"]): Promise<number> => {
        const start = performance.now();
        const loss = tidy(() => {
          const { loss } = model.forward(inputs);
          if (phase === "forward+backward") loss!.backward();
          return loss!;
        });
        await loss.item();
        const ms = performance.now() - start;
        loss.dispose();
        for (const p of trainable) {
          p.grad?.dispose();
          p.grad = null;
        }
        return ms;
      };
      const times: Record<T5BenchResult["phase"], number[]> = { forward: [], "forward+backward": [] };
      await step("forward");
      await step("forward+backward");
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? (["forward", "forward+backward"] as const) : (["forward+backward", "forward"] as const);
        for (const phase of order) times[phase].push(await step(phase));
      }
      const row = (phase: T5BenchResult["phase"]): T5BenchResult => ({
        bench: "t5", backend: backend.name, training, phase, batch: B, sourceLength: S, targetLength: T, msPerStep: medianOf(times[phase]), samples: ROUNDS,
      });
      peft?.dispose();
      base.dispose();
      const f = row("forward");
      const fb = row("forward+backward");
      log(`${backend.name.padEnd(10)} ${training.padEnd(8)} ${f.msPerStep.toFixed(0).padStart(12)} ${fb.msPerStep.toFixed(0).padStart(12)} ${((fb.msPerStep - f.msPerStep) / f.msPerStep).toFixed(2).padStart(10)}`);
      for (const r of [f, fb]) {
        results.push(r);
        log(JSON.stringify(r));
      }
    }
  }
  return results;
}

function medianOf(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
