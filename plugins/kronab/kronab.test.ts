/**
 * KronA^B / KronA^B_res tests (the shared invariants run in test/plugins/matrix.test.ts):
 *  - a hooked block computes block(h) + s·h·kron(A, B)ᵀ + s_res·h: values and gradients of h, A, B and
 *    s_res against the materialised formula in float64, for FFN, self- and cross-attention blocks, every
 *    backend; the real FFN forward with the adapter = without + the Kronecker term;
 *  - where it attaches (FFN blocks; with alsoAttention the attention blocks of the same layers/stacks),
 *    the parameter count, initial gradients, residualInit;
 *  - not mergeable; config errors name the field and the module; native adapter files.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadAdapter, saveAdapter } from "../../core/peft/adapter-files.ts";
import { AdapterError } from "../../core/peft/errors.ts";
import { runHooked } from "../../core/nn/hooks.ts";
import { PeftModel } from "../../core/peft/peft-model.ts";
import { openSafetensors } from "../../core/io/safetensors.ts";
import type { T5DenseActDense, T5ForConditionalGeneration } from "../../core/models/t5/model.ts";
import type { Module } from "../../core/nn/module.ts";
import { noGrad } from "../../core/tensor/autograd.ts";
import { tensor } from "../../core/tensor/create.ts";
import { Generator } from "../../core/tensor/random.ts";
import { tidy } from "../../core/tensor/scope.ts";
import "../mod.ts";
import { hostFiles } from "../../runners/host-files.ts";
import { type NamedBackend, reference } from "../../test/harness/backends.ts";
import { assertClose } from "../../test/harness/check-op.ts";
import { kron } from "../krona/krona.ts";
import { kronab } from "./kronab.ts";
import { expectConfigError } from "../../test/harness/expect.ts";
import { randomizeAdapter, roundedNormals, tinyT5 } from "../../test/harness/plugins.ts";
import { pluginConformanceSuite } from "../../test/harness/conformance.ts";
const BATCH = { inputIds: [[58, 89, 61, 50, 1]], attentionMask: [[1, 1, 1, 1, 1]], labels: [[68, 88, 1]] };

const moduleAt = (model: T5ForConditionalGeneration, path: string) => new Map(model.namedModules()).get(path)! as Module;

/** This plugin's rows of the conformance kit (webpeft/testing), run on every backend under test. */
export const CONFORMANCE_CONFIGS: Readonly<Record<string, unknown>> = {
  "FFN automatic": {},
  "FFN+attention res a=(2,8)": { alsoAttention: true, residual: true, a1: 2, a2: 8, scale: 2, dropout: 0.1 },
};

export function register(backends: readonly NamedBackend[]): void {
  pluginConformanceSuite(kronab, CONFORMANCE_CONFIGS, backends);
  const s = suite("kronab");

  for (const { name, backend } of backends) {
    s(`hooked block = block(h) + s·h·kron(A, B)ᵀ + s_res·h, values and gradients of h, A, B, s_res (FFN, self-, cross-attention) on ${name}`, async () => {
      const scale = 1.5;
      const peft = new PeftModel(await tinyT5(backend));
      const adapter = peft.addAdapter("a", "kronab", { alsoAttention: true, residual: true, a1: 2, a2: 8, scale });
      randomizeAdapter(peft, "a", 3);
      const paths = ["encoder.block.1.layer.1.DenseReluDense", "decoder.block.0.layer.0.SelfAttention", "decoder.block.2.layer.1.EncDecAttention"];
      for (const [k, path] of paths.entries()) {
        const g = new Generator(20 + k);
        const hData = roundedNormals(2 * 3 * 16, g);
        const wData = roundedNormals(2 * 3 * 16, g);
        const params = ["kronab_A", "kronab_B", "kronab_res"].map((p) => adapter.parameters.get(`${path}.${p}`)!);
        // on the backend under test, through the hook; the block itself stands in as h²
        const h = tensor(Float32Array.from(hData), { backend, shape: [2, 3, 16], requiresGrad: true });
        const w = tensor(Float32Array.from(wData), { backend, shape: [2, 3, 16] });
        const out = tidy(() => runHooked(moduleAt(peft.base, path), h, (x) => x.square()));
        tidy(() => out.mul(w).sum()).backward();
        // float64 reference, A ⊗ B materialised
        const ref = await Promise.all(params.map(async (p) => tensor(Float64Array.from(await p.data()), { backend: reference, shape: p.shape, dtype: "float64", requiresGrad: true })));
        const [A, B, sRes] = ref as [typeof h, typeof h, typeof h];
        const h64 = tensor(hData, { backend: reference, shape: [2, 3, 16], dtype: "float64", requiresGrad: true });
        const w64 = tensor(wData, { backend: reference, shape: [2, 3, 16], dtype: "float64" });
        const out64 = tidy(() => h64.square().add(h64.matmul(kron(A, B).mul(scale).transpose())).add(h64.mul(sRes)));
        tidy(() => out64.mul(w64).sum()).backward();
        const tol = { rtol: 1e-5, atol: 1e-6 };
        assertClose(await out.data(), await out64.data(), tol, `${path}: output`);
        assertClose(await h.grad!.data(), await h64.grad!.data(), tol, `${path}: dL/dh`);
        for (const [i, p] of params.entries()) assertClose(await p.grad!.data(), await ref[i]!.grad!.data(), tol, `${path}: dL/d${["A", "B", "s_res"][i]}`);
        assert.is(params[2]!.shape.join(), "1", "s_res is one scalar per block");
        for (const t of [h, w, out, h64, w64, out64, ...ref]) t.dispose();
        for (const p of params) (p.grad?.dispose(), (p.grad = null));
      }
      // the real FFN block: with the adapter = without + s·h·kron(A, B)ᵀ + s_res·h
      const path = paths[0]!;
      const ffn = moduleAt(peft.base, path) as T5DenseActDense;
      const h = tensor(Float32Array.from(roundedNormals(2 * 4 * 16, new Generator(9))), { backend, shape: [2, 4, 16] });
      const withAdapter = noGrad(() => ffn.forward(h));
      peft.disable();
      const [A, B, sRes] = ["kronab_A", "kronab_B", "kronab_res"].map((p) => adapter.parameters.get(`${path}.${p}`)!);
      const expected = noGrad(() => tidy(() => ffn.forward(h).add(h.matmul(kron(A!, B!).mul(scale).transpose())).add(h.mul(sRes!))));
      assertClose(await withAdapter.data(), await expected.data(), { rtol: 1e-5, atol: 1e-6 }, "FFN forward");
      for (const t of [h, withAdapter, expected]) t.dispose();
      peft.dispose();
      peft.base.dispose();
    });
  }

  s("placement and parameter count: FFN blocks; alsoAttention adds the attention blocks of the same layers and stacks", async () => {
    const model = await tinyT5(reference);
    const peft = new PeftModel(model);
    const cases: [Record<string, unknown>, number, number][] = [
      // [config, blocks, parameters per block]; D = 16 = (4·4)·… automatic: A (4, 4), B (4, 4)
      [{}, 5, 32],
      [{ residual: true }, 5, 33],
      [{ alsoAttention: true }, 5 + 5 + 3, 32],
      [{ alsoAttention: true, residual: true, a1: 2, a2: 8 }, 13, 2 * 8 + 8 * 2 + 1],
      [{ alsoAttention: true, stacks: ["encoder"] }, 2 + 2, 32],
      [{ alsoAttention: true, layers: [0] }, 2 + 2 + 1, 32],
      [{ decomposeFactor: 2 }, 5, 4 + 64],
    ];
    for (const [config, blocks, each] of cases) {
      const a = peft.addAdapter("a", "kronab", config);
      const label = JSON.stringify(config);
      assert.is(kronab.countParameters(model, a.config as never), blocks * each, `${label}: formula`);
      assert.is(peft.parameterCounts().trainable, blocks * each, `${label}: trainable`);
      const owners = new Set([...a.parameters.keys()].map((p) => p.replace(/\.kronab_(A|B|res)$/, "")));
      assert.is(owners.size, blocks, `${label}: blocks`);
      for (const o of owners) assert.match(o, /\.(DenseReluDense|SelfAttention|EncDecAttention)$/);
      if (!config.alsoAttention) for (const o of owners) assert.match(o, /DenseReluDense$/);
      peft.removeAdapter("a");
    }
    peft.dispose();
    model.dispose();
  });

  for (const { name, backend } of backends) {
    s(`at init only A and s_res get gradients (A = 0, s_res = 0); residualInit sets s_res; not mergeable on ${name}`, async () => {
      const peft = new PeftModel(await tinyT5(backend));
      const a = peft.addAdapter("a", "kronab", { residual: true });
      const loss = tidy(() => peft.forward(BATCH).loss!);
      loss.backward();
      loss.dispose();
      const path = "decoder.block.1.layer.2.DenseReluDense";
      const grad = async (p: string) => Array.from(await a.parameters.get(`${path}.${p}`)!.grad!.data());
      assert.ok((await grad("kronab_A")).some((x) => x !== 0), "dL/dA ≠ 0");
      assert.ok((await grad("kronab_res"))[0] !== 0, "dL/ds_res ≠ 0");
      assert.ok((await grad("kronab_B")).every((x) => x === 0), "dL/dB = 0 while A = 0");
      assert.throws(() => peft.merge(), (e: unknown) => e instanceof AdapterError && /kronab adapters are not mergeable/.test((e as Error).message));
      assert.throws(() => peft.mergeAndUnload(), (e: unknown) => e instanceof AdapterError && /cannot be merged/.test((e as Error).message));
      peft.removeAdapter("a");
      // residualInit 1: out = block(h) + h at init
      const b = peft.addAdapter("b", "kronab", { residual: true, residualInit: 1 });
      assert.equal(Array.from(await b.parameters.get(`${path}.kronab_res`)!.data()), [1]);
      const h = tensor(Float32Array.from(roundedNormals(3 * 16, new Generator(2))), { backend, shape: [1, 3, 16] });
      const out = noGrad(() => tidy(() => runHooked(moduleAt(peft.base, path), h, (x) => x.mul(3))));
      assertClose(await out.data(), Array.from(await h.data(), (x) => 4 * x), { rtol: 1e-6, atol: 1e-7 }, "3h + h");
      for (const t of [h, out]) t.dispose();
      peft.dispose();
      peft.base.dispose();
    });
  }

  s("config errors name the field and the module", async () => {
    const peft = new PeftModel(await tinyT5(reference));
    await expectConfigError(() => peft.addAdapter("x", "kronab", { targets: ["q"] }), "targets", /SelfAttention\.q is a Linear layer, but this plugin attaches to a feed-forward block/);
    await expectConfigError(() => peft.addAdapter("x", "kronab", { targets: ["SelfAttention"] }), "targets", /is an attention block .* attaches to a feed-forward block/);
    await expectConfigError(() => peft.addAdapter("x", "kronab", { a1: 3, a2: 4 }), "a1", /a1 = 3 does not divide the output size 16 of encoder\.block\.0\.layer\.1\.DenseReluDense/);
    await expectConfigError(() => peft.addAdapter("x", "kronab", { a1: 4, a2: 6, alsoAttention: true }), "a2", /a2 = 6 does not divide the input size 16 of encoder\.block\.0\.layer\.1\.DenseReluDense/);
    await expectConfigError(() => peft.addAdapter("x", "kronab", { a2: 4 }), "a1", /give a1 and a2 together/);
    await expectConfigError(() => peft.addAdapter("x", "kronab", { a1: -4, a2: 4 }), "a1", /kronab: a1:/);
    await expectConfigError(() => peft.addAdapter("x", "kronab", { residualInit: "1" }), "residualInit", /kronab: residualInit:/);
    await expectConfigError(() => peft.addAdapter("x", "kronab", { alsoAttention: "yes" }), "alsoAttention", /kronab: alsoAttention:/);
    await expectConfigError(() => peft.addAdapter("x", "kronab", { layers: [9] }), "targets", /matches no module in layers \[9\]/);
    assert.equal(peft.adapterNames(), []);
    peft.base.dispose();
  });

  s("native adapter files hold kronab_A, kronab_B, kronab_res and the config", async () => {
    const fs = await hostFiles();
    const { mkdtemp, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const dir = await mkdtemp(fs.join(tmpdir(), "webpeft-kronab-"));
    try {
      const peft = new PeftModel(await tinyT5(reference));
      const config = { alsoAttention: true, residual: true, stacks: ["decoder"], layers: [2], a1: 8, a2: 2, scale: 0.5 };
      const a = peft.addAdapter("a", "kronab", config);
      randomizeAdapter(peft, "a", 8);
      await saveAdapter(peft, dir, { fs });
      const json = JSON.parse(await fs.readText(fs.join(dir, "adapter_config.json")));
      assert.is(json.peft_type, "WEBPEFT");
      assert.is(json.webpeft_plugin, "kronab");
      assert.equal(json.webpeft_config, a.config);
      const reader = await openSafetensors(fs, fs.join(dir, "adapter_model.safetensors"));
      assert.equal(reader.names().sort(), [...a.parameters.keys()].map((p) => `base_model.model.${p}`).sort());
      assert.equal(reader.info("base_model.model.decoder.block.2.layer.1.EncDecAttention.kronab_B").shape, [2, 8]);
      await reader.close();
      const fresh = new PeftModel(await tinyT5(reference));
      const b = await loadAdapter(fresh, dir, { fs });
      for (const [path, t] of a.parameters) assert.equal(Array.from(await b.parameters.get(path)!.data()), Array.from(await t.data()), path);
      fresh.base.dispose();
      peft.base.dispose();
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  s.run();
}
