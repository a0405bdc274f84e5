/**
 * BitFit beyond the shared matrix: which Linears get a bias (v1.0 and gated v1.1 names, lm_head), that a
 * Linear then computes x·Wᵀ + b, layer norms trained through trainBase, the formula on a T5-small-shaped
 * model against a hand count, and config errors.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Backend } from "../../core/backend/backend.ts";
import { PeftModel } from "../../core/peft/peft-model.ts";
import { parsePluginConfig } from "../../core/peft/plugin.ts";
import { parseT5Config } from "../../core/io/t5-config.ts";
import { loadT5, t5Skeleton } from "../../core/models/t5/load.ts";
import type { T5ForConditionalGeneration } from "../../core/models/t5/model.ts";
import { Linear, RMSNorm } from "../../core/nn/layers.ts";
import { noGrad } from "../../core/tensor/autograd.ts";
import { tensor } from "../../core/tensor/create.ts";
import { Generator } from "../../core/tensor/random.ts";
import { tidy } from "../../core/tensor/scope.ts";
import "../mod.ts"; // registers the built-in plugins by name
import { hostFiles } from "../../runners/host-files.ts";
import type { NamedBackend } from "../../test/harness/backends.ts";
import { reference } from "../../test/harness/backends.ts";
import { assertClose } from "../../test/harness/check-op.ts";
import { bitfit } from "./bitfit.ts";
import { expectConfigError } from "../../test/harness/expect.ts";
import { adapterHooks } from "../../test/harness/plugins.ts";
import { pluginConformanceSuite } from "../../test/harness/conformance.ts";

const goldens = (name: string) => decodeURIComponent(new URL(`../../test/goldens/t5/${name}`, import.meta.url).pathname);
const T5_SMALL = parseT5Config({ model_type: "t5" }, "t5-small defaults");
const cfg = (raw: unknown) => parsePluginConfig(bitfit, raw);

async function load(name: string, backend: Backend, dtype: "float32" | "float64" = "float32"): Promise<T5ForConditionalGeneration> {
  return (await loadT5(goldens(name), { backend, fs: await hostFiles(), dtype })).eval();
}

/** This plugin's rows of the conformance kit (webpeft/testing), run on every backend under test. */
export const CONFORMANCE_CONFIGS: Readonly<Record<string, unknown>> = {
  "default targets": {},
  "q,v + layer norms": { targets: ["q", "v"], trainLayerNorms: true },
  "q,v + layer-norm biases": { targets: ["q", "v"], layerNormBiases: true },
};

export function register(backends: readonly NamedBackend[]): void {
  pluginConformanceSuite(bitfit, CONFORMANCE_CONFIGS, backends);
  const s = suite("bitfit plugin");

  s("layerNormBiases: a zero bias on every layer norm, y = w ⊙ x/rms(x) + β, trained", async () => {
    const model = await load("tiny-v1_0-relu-tied", reference, "float64");
    const norms = [...model.namedModules()].filter(([, m]) => m instanceof RMSNorm);
    const peft = new PeftModel(model);
    const state = peft.addAdapter("a", "bitfit", { targets: ["q"], layerNormBiases: true });
    const normHooks = adapterHooks(model).filter(([p]) => p.endsWith("layer_norm"));
    assert.equal(normHooks.map(([p]) => p), norms.map(([p]) => p), "every layer norm, final ones included");
    const D = model.config.dModel;
    assert.is(state.parameters.size, norms.length + model.config.numLayers + 2 * model.config.numDecoderLayers);
    assert.is(peft.parameterCounts().trainable, bitfit.countParameters(model, state.config as never));
    // the hook's arithmetic on one norm: base output + β
    const [path, norm] = norms[0]! as [string, RMSNorm];
    const beta = state.parameters.get(`${path}.bias`)!;
    const values = Float64Array.from({ length: D }, (_, i) => 0.1 * (i - 3));
    reference.upload(beta.bufferFor("test"), values);
    const x = tensor([Array.from({ length: D }, (_, i) => Math.sin(i))], { backend: reference, dtype: "float64" });
    const hooked = noGrad(() => norm.forward(x));
    const plain = noGrad(() => norm.baseForward(x));
    assertClose(await hooked.data(), (await plain.data()).map((v, i) => v + values[i]!), { rtol: 1e-12, atol: 1e-12 }, "w ⊙ x/rms(x) + β");
    // β gets a gradient through the model's loss
    const loss = tidy(() => peft.forward({ inputIds: [[5, 6, 1]], labels: [[7, 1]] }).loss!);
    loss.backward();
    assert.ok((await beta.grad!.data()).some((g) => g !== 0), "the layer-norm bias gets a gradient");
    peft.dispose();
    model.dispose();
  });

  s("default targets: every attention / FFN Linear and lm_head, v1.0 and gated v1.1 alike", async () => {
    for (const [name, ffn] of [["tiny-v1_0-relu-tied", ["wi", "wo"]], ["tiny-v1_1-gated-gelu", ["wi_0", "wi_1", "wo"]]] as const) {
      const model = await load(name, reference, "float64");
      const linears = [...model.namedModules()].filter(([, m]) => m instanceof Linear).map(([p]) => p);
      const peft = new PeftModel(model);
      const state = peft.addAdapter("a", "bitfit", {});
      const hooks = adapterHooks(model);
      const enc = model.config.numLayers;
      const dec = model.config.numDecoderLayers;
      assert.is(hooks.length, enc * (4 + ffn.length) + dec * (8 + ffn.length) + 1, name);
      assert.equal(hooks.map(([p]) => p).sort(), [...linears].sort(), `${name}: every Linear, lm_head included`);
      for (const [path, kind] of hooks) {
        assert.is(kind, "parallel", path);
        const bias = state.parameters.get(`${path}.bias`)!;
        assert.equal(bias.shape, [(model.getModule(path) as Linear).outFeatures], path);
        assert.ok((await bias.data()).every((b) => b === 0), `${path}.bias starts at zero`);
      }
      assert.is(state.parameters.size, hooks.length);
      assert.is(state.trainedBase.size, 0);
      assert.ok(hooks.some(([p]) => p === "lm_head"));
      for (const f of ffn) assert.ok(hooks.some(([p]) => p.endsWith(`.DenseReluDense.${f}`)), `${name}: ${f}`);
      peft.dispose();
      model.dispose();
    }
  });

  s("targets and trainLayerNorms: q, v biases plus every RMS-norm weight through trainBase", async () => {
    const model = await load("tiny-v1_0-relu-tied", reference, "float64");
    const peft = new PeftModel(model);
    const state = peft.addAdapter("a", "bitfit", { targets: ["q", "v"], trainLayerNorms: true });
    assert.is(adapterHooks(model).length, 2 * (2 + 3 * 2), "q and v of 2 encoder + 3 decoder blocks (self- and cross-attention)");
    const norms = [...model.namedModules()].filter(([, m]) => m instanceof RMSNorm);
    assert.is(norms.length, 2 * 2 + 1 + 3 * 3 + 1);
    assert.is(state.trainedBase.size, norms.length);
    for (const [path, m] of norms) assert.ok(state.trainedBase.has(m.parameter("weight")), path);
    assert.is(peft.parameterCounts().trainable, 16 * 16 + 15 * 16, "16 biases of 16 + 15 norms of 16");
    assert.ok(model.lm_head.weight.requiresGrad === false && model.encoder.block.blocks[0]!.selfAttention.layer_norm.parameter("weight").requiresGrad);
    peft.dispose();
    model.dispose();
  });

  for (const { name, backend } of backends) {
    s(`a biased Linear computes x·Wᵀ + b (${name})`, async () => {
      const model = await load("tiny-v1_0-relu-tied", backend);
      const peft = new PeftModel(model);
      const state = peft.addAdapter("a", "bitfit", { targets: ["wi"], layers: [0], stacks: ["encoder"] });
      const path = "encoder.block.0.layer.1.DenseReluDense.wi";
      assert.equal([...state.parameters.keys()], [`${path}.bias`]);
      const g = new Generator(4);
      const b = Array.from({ length: 24 }, () => g.normal());
      const bias = state.parameters.get(`${path}.bias`)!;
      backend.upload(bias.bufferFor("test"), Float32Array.from(b));
      const linear = model.getModule(path) as Linear;
      const rows = Array.from({ length: 3 }, () => Array.from({ length: 16 }, () => g.normal()));
      const x = tensor(rows, { backend });
      const y = noGrad(() => tidy(() => linear.forward(x)));
      const W = Array.from(await linear.weight.data()); // (24, 16)
      const expected = rows.flatMap((row) => b.map((bo, o) => bo + row.reduce((acc, xi, i) => acc + W[o * 16 + i]! * xi, 0)));
      assertClose(Float64Array.from(await y.data()), Float64Array.from(expected), { rtol: 1e-5, atol: 1e-5 }, "x·Wᵀ + b");
      y.dispose();
      x.dispose();
      peft.dispose();
      model.dispose();
    });
  }

  s("parameter formula on T5-small (d_model 512, d_ff 2048, 6 + 6 layers, V 32128) equals a hand count", () => {
    const model = t5Skeleton(T5_SMALL);
    const encoder = 6 * (4 * 512 + 2048 + 512); // q k v o, wi, wo
    const decoder = 6 * (8 * 512 + 2048 + 512); // self + cross q k v o, wi, wo
    assert.is(bitfit.countParameters(model, cfg({})), encoder + decoder + 32128);
    assert.is(bitfit.countParameters(model, cfg({})), 99712);
    assert.is(bitfit.countParameters(model, cfg({ targets: { regex: ".*\\.(q|k|v|o|wi|wi_0|wi_1|wo)" } })), 67584);
    const norms = (6 * 2 + 1 + 6 * 3 + 1) * 512;
    assert.is(bitfit.countParameters(model, cfg({ trainLayerNorms: true })), 99712 + norms);
    assert.is(bitfit.countParameters(model, cfg({ targets: ["q", "v"], stacks: ["decoder"] })), 6 * 4 * 512);
  });

  s("invalid configs raise PluginConfigError naming the field", async () => {
    const model = await load("tiny-v1_0-relu-tied", reference, "float64");
    const peft = new PeftModel(model);
    await expectConfigError(() => peft.addAdapter("a", "bitfit", { targets: ["DenseReluDense"] }), "targets"); // a block, not a Linear
    await expectConfigError(() => peft.addAdapter("a", "bitfit", { targets: ["wi_0"] }), "targets"); // not in a v1.0 model
    await expectConfigError(() => peft.addAdapter("a", "bitfit", { trainLayerNorms: "yes" }), "trainLayerNorms");
    await expectConfigError(() => peft.addAdapter("a", "bitfit", { layers: [-1] }), "layers.0");
    assert.equal(peft.adapterNames(), []);
    model.dispose();
  });

  s.run();
}
