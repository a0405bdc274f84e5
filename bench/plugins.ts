/**
 * Plugin benchmark: the cost of each built-in PEFT method on a T5-small-shaped model (bench/t5.ts), at
 * comparable trainable-parameter budgets (BENCH_CONFIGS, ≈ 46k = KronA's default on q and v).
 *
 *   train step        forward + backward (eval mode: no dropout), median ms, and its ratio to the FROZEN
 *                     model's forward + backward: the same model with no adapter and only the first encoder
 *                     layer norm's 512 weights trainable, i.e. activation gradients through the whole network
 *                     and no weight gradients — the floor every PEFT method pays;
 *   merged inference  forward (loss, no gradients) with krona / lora merged into the weights, relative to
 *                     the base model (≈ 1.0 expected: the same matmuls), and unmerged (hooks running).
 *
 * Measurements are interleaved (every round runs every variant once, in rotating order, after one
 * warm-up round) so machine drift hits all variants alike; compare ratios within one run. Every adapter
 * lives on one model and `setActive` switches between them (inactive hooks cost nothing).
 * Plugins registered in plugins/mod.ts without an entry in BENCH_CONFIGS are skipped with a note.
 */
import type { Backend } from "../core/backend/backend.ts";
import { createCpuBackend } from "../core/backend/cpu/cpu-backend.ts";
import { PeftModel } from "../core/peft/peft-model.ts";
import { createT5 } from "../core/models/t5/load.ts";
import { noGrad } from "../core/tensor/autograd.ts";
import { tidy } from "../core/tensor/scope.ts";
import type { Tensor } from "../core/tensor/tensor.ts";
import { builtinPlugins } from "../plugins/mod.ts";
import { T5_SMALL_SHAPE, batchOf } from "./t5.ts";

export interface BenchConfig {
  readonly label: string;
  readonly config: unknown;
}

/**
 * Configs per plugin name with about the same trainable budget on T5-small (d_model 512, 8 × 64 heads,
 * d_ff 2048, 6 + 6 layers; q and v of every attention block = 36 Linears 512 → 512):
 *   krona      automatic A (16, 16), B (32, 32) on q, v: 36 × 1280                         = 46,080
 *   lora       r = 1 on q, v: 36 × 1024 = 36,864 (the closest budget); r = 2: 73,728 (brackets it)
 *   kronab     KronA^B_res beside 12 FFN + 18 attention blocks: 30 × (1280 + 1)          = 38,430
 *   adapter    Pfeiffer, bottleneck 3, after 12 FFN blocks: 12 × (2·512·3 + 3 + 512)      = 43,044
 *   compacter  n = 4, rank 1, bottleneck 128, after 24 blocks: 24 × (2·(512 + 128) + 640) + 64 = 46,144
 *   bitfit     biases of q, k, v, o, wo: 18 × 4 × 512 + 12 × 512                          = 43,008
 *   full       every weight (the ceiling, not a budget match)
 */
export const BENCH_CONFIGS: Readonly<Record<string, readonly BenchConfig[]>> = {
  krona: [{ label: "q,v A(16,16)⊗B(32,32)", config: {} }],
  lora: [
    { label: "q,v r=1", config: { r: 1, alpha: 1 } },
    { label: "q,v r=2", config: { r: 2, alpha: 2 } },
  ],
  kronab: [{ label: "FFN+attn res (16,16)⊗(32,32)", config: { alsoAttention: true, residual: true } }],
  adapter: [{ label: "pfeiffer M=3", config: { variant: "pfeiffer", bottleneck: 3 } }],
  compacter: [{ label: "n=4 M=128", config: { bottleneck: 128 } }],
  bitfit: [{ label: "q,k,v,o,wo biases", config: { targets: { regex: ".*\\.(q|k|v|o|wo)" } } }],
  full: [{ label: "all weights", config: {} }],
};

/** Merged inference is measured for these (the mergeable methods). */
const MERGED = ["krona", "lora"];

export interface PluginBenchRow {
  readonly bench: "plugins";
  readonly backend: string;
  readonly phase: "train-step" | "inference";
  /** plugin name, or "frozen" / "base" for the baselines */
  readonly plugin: string;
  readonly label: string;
  readonly trainable: number;
  /** median over the timed rounds */
  readonly msPerStep: number;
  /** train-step: ÷ the frozen model's forward + backward; inference: ÷ the base model's forward */
  readonly ratio: number;
  readonly samples: number;
}

export interface PluginBenchOptions {
  /** WebGPU backend to measure on; without it the float32 CPU backend (slow) is used. */
  readonly gpu?: Backend;
  readonly log?: (line: string) => void;
  /** Batch 2 × 32 source → 4 target tokens by default (lavapipe is slow). */
  readonly batch?: number;
  readonly sourceLength?: number;
  readonly targetLength?: number;
  /** Timed interleaved rounds (default 9), after one warm-up round. */
  readonly rounds?: number;
  /** Only these plugins (default: every built-in plugin). */
  readonly plugins?: readonly string[];
  /** Also measure merged inference (default true). */
  readonly inference?: boolean;
}

export const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Variant {
  readonly plugin: string;
  readonly label: string;
  /** adapter name on the PeftModel, null for the baseline */
  readonly adapter: string | null;
  readonly times: number[];
  trainable: number;
}

/**
 * Runs `variants` interleaved: one warm-up round, then `rounds` timed rounds in rotating order; each
 * timed run's result goes to its variant's `times`.
 */
export async function interleaved<V extends { readonly times: number[] }>(variants: readonly V[], rounds: number, run: (v: V) => Promise<number>): Promise<void> {
  for (const v of variants) await run(v); // warm-up: pipelines compiled, buffer pool filled
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(i + round) % variants.length]!;
      v.times.push(await run(v));
    }
  }
}

export async function runPluginBench(options: PluginBenchOptions = {}): Promise<PluginBenchRow[]> {
  const log = options.log ?? console.log;
  const backend = options.gpu ?? createCpuBackend();
  const B = options.batch ?? 2;
  const S = options.sourceLength ?? 32;
  const T = options.targetLength ?? 4;
  const rounds = options.rounds ?? 9;
  const inputs = batchOf(B, S, T, T5_SMALL_SHAPE.vocabSize);
  const peft = new PeftModel(createT5(T5_SMALL_SHAPE, { backend, seed: 1 }).eval());
  log(`plugins on ${backend.name}: T5-small shape, batch ${B} × ${S} → ${T} tokens, eval mode, median of ${rounds} interleaved rounds`);

  const variants: Variant[] = [{ plugin: "frozen", label: "no adapter, no weight gradients", adapter: null, times: [], trainable: 0 }];
  for (const { plugin } of builtinPlugins) {
    if (options.plugins && !options.plugins.includes(plugin.name)) continue;
    const configs = BENCH_CONFIGS[plugin.name];
    if (!configs) {
      log(`note: no budget-matching config for plugin "${plugin.name}" in bench/plugins.ts BENCH_CONFIGS; skipped`);
      continue;
    }
    for (const [k, { label, config }] of configs.entries()) {
      const adapter = `${plugin.name}#${k}`;
      try {
        peft.addAdapter(adapter, plugin.name, config, { activate: false });
      } catch (e) {
        log(`note: ${plugin.name} (${label}) was not measured: ${(e as Error).message}`);
        continue;
      }
      variants.push({ plugin: plugin.name, label, adapter, times: [], trainable: 0 });
    }
  }

  // the frozen baseline trains only this (activation gradients everywhere, no weight gradients)
  const firstNorm = peft.base.encoder.block.blocks[0]!.selfAttention.layer_norm.parameter("weight");
  const clearGrads = () => {
    for (const [, t] of peft.trainableParameters()) (t.grad?.dispose(), (t.grad = null));
    firstNorm.grad?.dispose();
    firstNorm.grad = null;
  };
  const activate = (v: Variant) => {
    if (v.adapter) peft.setActive(v.adapter);
    else {
      peft.setActive();
      firstNorm.requiresGrad = true;
    }
    v.trainable = v.adapter ? peft.parameterCounts().trainable : 0;
  };
  await interleaved(variants, rounds, async (v) => {
    activate(v);
    const start = performance.now();
    const loss = tidy(() => {
      const l = peft.forward(inputs).loss!;
      l.backward();
      return l;
    });
    await loss.item();
    const ms = performance.now() - start;
    loss.dispose();
    clearGrads();
    return ms;
  });
  firstNorm.requiresGrad = false;

  const rows: PluginBenchRow[] = [];
  const frozen = median(variants[0]!.times);
  log(`\ntraining step (forward + backward)`);
  log(`${"plugin".padEnd(10)} ${"config".padEnd(30)} ${"trainable".padStart(11)} ${"ms".padStart(8)} ${"×frozen".padStart(8)}`);
  for (const v of variants) {
    const ms = median(v.times);
    rows.push({ bench: "plugins", backend: backend.name, phase: "train-step", plugin: v.plugin, label: v.label, trainable: v.trainable, msPerStep: ms, ratio: ms / frozen, samples: v.times.length });
    log(`${v.plugin.padEnd(10)} ${v.label.padEnd(30)} ${v.trainable.toLocaleString("en").padStart(11)} ${ms.toFixed(0).padStart(8)} ${(ms / frozen).toFixed(2).padStart(8)}`);
  }
  const krona = variants.find((v) => v.plugin === "krona");
  const loras = variants.filter((v) => v.plugin === "lora");
  if (krona && loras.length > 0) {
    // the LoRA config whose budget is closest to KronA's
    const lora = loras.reduce((best, v) => (Math.abs(v.trainable - krona.trainable) < Math.abs(best.trainable - krona.trainable) ? v : best));
    const ratios = krona.times.map((t, i) => t / lora.times[i]!);
    log(
      `krona / lora (${lora.label}, the closest budget: ${krona.trainable} vs ${lora.trainable} parameters): ${(median(krona.times) / median(lora.times)).toFixed(3)} ` +
        `(median of per-round ratios ${median(ratios).toFixed(3)}, of best times ${(Math.min(...krona.times) / Math.min(...lora.times)).toFixed(3)})`,
    );
  }

  if (options.inference ?? true) {
    const inf: Variant[] = [{ plugin: "base", label: "no adapter", adapter: null, times: [], trainable: 0 }];
    for (const v of variants) {
      if (!v.adapter || !MERGED.includes(v.plugin) || v.label !== BENCH_CONFIGS[v.plugin]![0]!.label) continue;
      inf.push({ plugin: v.plugin, label: `${v.label} merged`, adapter: v.adapter, times: [], trainable: 0 });
      inf.push({ plugin: v.plugin, label: `${v.label} unmerged`, adapter: v.adapter, times: [], trainable: 0 });
    }
    await interleaved(inf, rounds, async (v) => {
      if (v.adapter) peft.setActive(v.adapter);
      else peft.setActive();
      const merged = v.label.endsWith(" merged");
      if (merged) {
        peft.merge();
        await backend.sync(); // the merge's own kernels are not part of the timed forward
      }
      const start = performance.now();
      const loss: Tensor = noGrad(() => tidy(() => peft.forward(inputs).loss!));
      await loss.item();
      const ms = performance.now() - start;
      loss.dispose();
      if (merged) {
        peft.unmerge();
        await backend.sync();
      }
      return ms;
    });
    const base = median(inf[0]!.times);
    log(`\ninference (forward, no gradients)`);
    log(`${"plugin".padEnd(10)} ${"config".padEnd(39)} ${"ms".padStart(8)} ${"×base".padStart(8)}`);
    for (const v of inf) {
      const ms = median(v.times);
      rows.push({ bench: "plugins", backend: backend.name, phase: "inference", plugin: v.plugin, label: v.label, trainable: 0, msPerStep: ms, ratio: ms / base, samples: v.times.length });
      log(`${v.plugin.padEnd(10)} ${v.label.padEnd(39)} ${ms.toFixed(0).padStart(8)} ${(ms / base).toFixed(2).padStart(8)}`);
    }
  }
  for (const r of rows) log(JSON.stringify(r));
  peft.dispose();
  peft.base.dispose();
  return rows;
}
