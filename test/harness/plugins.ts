/** Fixtures shared by the plugin suites: the tiny T5, its logits, adapter hooks and randomised adapters. */
import type { Backend } from "../../core/backend/backend.ts";
import type { PeftModel } from "../../core/peft/peft-model.ts";
import { loadT5 } from "../../core/models/t5/load.ts";
import type { T5ForConditionalGeneration, T5Inputs } from "../../core/models/t5/model.ts";
import { noGrad } from "../../core/tensor/autograd.ts";
import { Generator } from "../../core/tensor/random.ts";
import { tidy } from "../../core/tensor/scope.ts";
import { hostFiles } from "../../runners/host-files.ts";

/** The tiny v1.0 golden checkpoint: d_model 16, d_kv 4 × 4 heads, d_ff 24, 2 + 3 layers, vocab 96. */
export const TINY_T5_DIR: string = decodeURIComponent(new URL("../goldens/t5/tiny-v1_0-relu-tied", import.meta.url).pathname);

/** The tiny T5 in eval mode. */
export async function tinyT5(backend: Backend, dtype: "float32" | "float64" = "float32"): Promise<T5ForConditionalGeneration> {
  return (await loadT5(TINY_T5_DIR, { backend, fs: await hostFiles(), dtype })).eval();
}

/** Logits of `batch` without recording a graph, read back to the host. */
export async function logitsOf(model: { forward: T5ForConditionalGeneration["forward"] }, batch: T5Inputs): Promise<Float32Array> {
  const t = noGrad(() => tidy(() => model.forward(batch).logits));
  const data = (await t.data()) as Float32Array;
  t.dispose();
  return data;
}

/** [module path, hook kind] of every hook the adapter attached. */
export function adapterHooks(model: T5ForConditionalGeneration, adapter = "a"): [string, string][] {
  const out: [string, string][] = [];
  for (const [path, m] of model.namedModules()) for (const h of m.hooks) if (h.adapter === adapter) out.push([path, h.kind]);
  return out;
}

/**
 * Sets every parameter of the adapter to seeded N(0, 0.3²) values, so no gradient is trivially zero;
 * returns the values as stored (float32-rounded on float32 tensors) by path.
 */
export function randomizeAdapter(peft: PeftModel, adapter: string, seed: number): Map<string, Float64Array> {
  const g = new Generator(seed);
  const values = new Map<string, Float64Array>();
  for (const [path, t] of peft.adapter(adapter).parameters) {
    const v = Float64Array.from({ length: t.size }, () => 0.3 * g.normal());
    const stored = t.dtype === "float64" ? v : Float32Array.from(v);
    t.backend.upload(t.bufferFor("test"), stored);
    values.set(path, Float64Array.from(stored));
  }
  return values;
}

/** n seeded N(0, scale²) values, each rounded to float32 (so float32 and float64 runs see the same inputs). */
export function roundedNormals(n: number, gen: Generator, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => Math.fround(scale * gen.normal()));
}
