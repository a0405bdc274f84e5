/**
 * LoRA: the conformance kit (webpeft/testing) with LoRA's rows, and what the kit cannot know — the update
 * is s·B·A·x with s = α/r (α/√r with rsLoRA), A Kaiming-uniform and B zero at init, ΔW = s·B·A when merged,
 * HF PEFT LORA configs read back (DoRA, biases, per-module ranks refused), HF PEFT names suggested.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { PeftModel } from "../../core/peft/peft-model.ts";
import { parsePluginConfig } from "../../core/peft/plugin.ts";
import type { Linear } from "../../core/nn/layers.ts";
import { noGrad } from "../../core/tensor/autograd.ts";
import { tensor } from "../../core/tensor/create.ts";
import { tidy } from "../../core/tensor/scope.ts";
import type { NamedBackend } from "../../test/harness/backends.ts";
import { reference } from "../../test/harness/backends.ts";
import { assertClose } from "../../test/harness/check-op.ts";
import { pluginConformanceSuite } from "../../test/harness/conformance.ts";
import { expectConfigError } from "../../test/harness/expect.ts";
import { randomizeAdapter, tinyT5 } from "../../test/harness/plugins.ts";
import { lora, loraScale } from "./lora.ts";

/** This plugin's rows of the conformance kit (webpeft/testing), run on every backend under test. */
export const CONFORMANCE_CONFIGS: Readonly<Record<string, unknown>> = {
  "q,v r=4": { r: 4, alpha: 8 },
  "all linears rsLoRA": { targets: { regex: ".*\\.(q|k|v|o|wi|wo)" }, r: 2, alpha: 4, useRslora: true },
};

/** (rows, cols) values of a 2-D float64 tensor as nested arrays. */
async function matrix(t: { shape: readonly number[]; data(): Promise<ArrayLike<number>> }): Promise<number[][]> {
  const d = Array.from(await t.data());
  const [rows, cols] = t.shape as [number, number];
  return Array.from({ length: rows }, (_, i) => d.slice(i * cols, (i + 1) * cols));
}

export function register(backends: readonly NamedBackend[]): void {
  pluginConformanceSuite(lora, CONFORMANCE_CONFIGS, backends);
  const s = suite("lora plugin");

  s("scale: α/r, or α/√r with rsLoRA", () => {
    assert.is(loraScale(parsePluginConfig(lora, { r: 4, alpha: 8 })), 2);
    assert.is(loraScale(parsePluginConfig(lora, { r: 4, alpha: 8, useRslora: true })), 4);
  });

  s("init: A (r, in) within ±1/√in, B (out, r) zero; y = W·x + s·B·A·x on every q and v; ΔW = s·B·A", async () => {
    const model = await tinyT5(reference, "float64");
    const peft = new PeftModel(model);
    const state = peft.addAdapter("a", "lora", { r: 3, alpha: 6, targets: ["q", "v"] });
    const qPath = "encoder.block.0.layer.0.SelfAttention.q";
    const A0 = state.parameters.get(`${qPath}.lora_A.weight`)!;
    const B0 = state.parameters.get(`${qPath}.lora_B.weight`)!;
    assert.equal([A0.shape, B0.shape], [[3, 16], [16, 3]]);
    assert.ok((await A0.data()).every((a) => Math.abs(a) <= 1 / Math.sqrt(16)));
    assert.ok((await B0.data()).every((b) => b === 0));
    assert.is(state.parameters.size, 2 * 2 * (2 + 3 * 2), "A and B on q and v of 2 encoder self-attentions, 3 decoder self- and 3 cross-attentions");
    randomizeAdapter(peft, "a", 7);
    const q = model.getModule(qPath) as Linear;
    const [A, B, W] = await Promise.all([matrix(A0), matrix(B0), matrix(q.weight)]);
    const x = [0.5, -1, 0.25, 2, 0, 1, -0.5, 0.75, 1.5, -2, 0.1, 0.3, -0.7, 0.9, 1.1, -1.3];
    const Ax = A.map((row) => row.reduce((acc, a, j) => acc + a * x[j]!, 0));
    const expected = W.map((row, i) => row.reduce((acc, w, j) => acc + w * x[j]!, 0) + 2 * B[i]!.reduce((acc, b, k) => acc + b * Ax[k]!, 0));
    const y = noGrad(() => q.forward(tensor([x], { backend: reference, dtype: "float64" })));
    assertClose(await y.data(), expected, { rtol: 1e-12, atol: 1e-12 }, "W·x + (α/r)·B·A·x");
    peft.merge();
    const merged = await matrix(q.weight);
    const delta = W.map((row, i) => row.map((w, j) => w + 2 * B[i]!.reduce((acc, b, k) => acc + b * A[k]![j]!, 0)));
    assertClose(merged.flat(), delta.flat(), { rtol: 1e-12, atol: 1e-12 }, "merged W = W + s·B·A");
    peft.unmerge();
    peft.dispose();
    model.dispose();
  });

  s("dropout applies only while training", async () => {
    const model = await tinyT5(reference, "float64");
    const peft = new PeftModel(model);
    peft.addAdapter("a", "lora", { r: 2, dropout: 0.5 });
    randomizeAdapter(peft, "a", 3);
    const batch = { inputIds: [[5, 6, 7, 1]], labels: [[8, 1]] };
    const run = () => noGrad(() => tidy(() => peft.forward(batch).loss!));
    const [e1, e2] = [await run().item(), await run().item()];
    assert.is(e1, e2, "eval: deterministic");
    peft.train();
    const t = [await run().item(), await run().item(), await run().item()];
    assert.ok(new Set(t).size > 1, `training: dropout changes the output (${t})`);
    peft.dispose();
    model.dispose();
  });

  s("HF PEFT LORA configs: read back; DoRA, biases and per-module ranks refused; HF names suggested", async () => {
    const format = lora.formats![0]!;
    const model = await tinyT5(reference);
    const json = format.toAdapterConfig(parsePluginConfig(lora, { r: 2, alpha: 4, targets: ["q"], layers: [1] }), model);
    assert.equal(parsePluginConfig(lora, format.fromAdapterConfig(json, model)), { targets: ["q"], r: 2, alpha: 4, dropout: 0, useRslora: false, layers: [1] });
    await expectConfigError(() => format.fromAdapterConfig({ ...json, use_dora: true }, model), "use_dora");
    await expectConfigError(() => format.fromAdapterConfig({ ...json, bias: "all" }, model), "bias");
    await expectConfigError(() => format.fromAdapterConfig({ ...json, rank_pattern: { q: 4 } }, model), "rank_pattern");
    await expectConfigError(() => parsePluginConfig(lora, { lora_alpha: 16 }), "lora_alpha", /alpha/);
    await expectConfigError(() => parsePluginConfig(lora, { rank: 4 }), "rank", /"r"|\br\b/);
    model.dispose();
  });

  s.run();
}
