/**
 * KronA's own tests (the shared invariants run in test/plugins/matrix.test.ts):
 *  - kronApply (two matmuls on views, A ⊗ B never formed) = the materialised formula y = x·(s·kron(A, B))ᵀ,
 *    values and gradients of x, A and B, both arrangements, odd factor shapes, every backend;
 *  - automatic shapes = HF PEFT LoKr's factorization() on a table of dimensions;
 *  - config errors name the field and the module;
 *  - HF PEFT LOKR files: exact keys and LoKrConfig field names, export → import bit-exact, files as PEFT
 *    writes them load (decompose_factor, layers_to_transform), decomposed LoKr refused, non-PEFT shapes
 *    refused when saving as LOKR;
 *  - merge adds exactly s·kron(A, B); the parameter count.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Backend } from "../../core/backend/backend.ts";
import { loadAdapter, saveAdapter } from "../../core/peft/adapter-files.ts";
import { PeftModel } from "../../core/peft/peft-model.ts";
import { openSafetensors, writeSafetensors } from "../../core/io/safetensors.ts";
import type { Linear } from "../../core/nn/layers.ts";
import { tensor } from "../../core/tensor/create.ts";
import { Generator } from "../../core/tensor/random.ts";
import { tidy } from "../../core/tensor/scope.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";
import "../mod.ts";
import { hostFiles } from "../../runners/host-files.ts";
import { type NamedBackend, reference } from "../../test/harness/backends.ts";
import { assertClose } from "../../test/harness/check-op.ts";
import { factorization, krona, kron, kronApply } from "./krona.ts";
import { expectConfigError, tempDir } from "../../test/harness/expect.ts";
import { logitsOf, randomizeAdapter, roundedNormals, tinyT5 } from "../../test/harness/plugins.ts";
import { pluginConformanceSuite } from "../../test/harness/conformance.ts";
const BATCH = {
  inputIds: [[58, 89, 61, 50, 23, 68, 1], [49, 6, 24, 24, 1, 0, 0]],
  attentionMask: [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]],
  labels: [[68, 88, 11, 1], [36, 51, 1, -100]],
};

/** HF PEFT LoKrConfig's fields (peft/tuners/lokr/config.py + PeftConfig). */
const LOKR_CONFIG_FIELDS = [
  "peft_type", "task_type", "base_model_name_or_path", "revision", "inference_mode",
  "r", "alpha", "rank_dropout", "module_dropout", "use_effective_conv2d", "decompose_both", "decompose_factor",
  "rank_dropout_scale", "target_modules", "exclude_modules", "init_weights", "layers_to_transform", "layers_pattern",
  "rank_pattern", "alpha_pattern", "modules_to_save",
];

interface KronCase {
  readonly a: readonly [number, number];
  readonly b: readonly [number, number];
  /** x's leading axes */
  readonly lead: readonly number[];
  /** x is a transposed view of an (in, N) leaf (2-D x only) */
  readonly transposedX?: boolean;
  readonly scale: number;
}

const KRON_CASES: readonly KronCase[] = [
  { a: [3, 2], b: [4, 5], lead: [2, 3], scale: 0.7 },
  { a: [2, 3], b: [5, 4], lead: [7], scale: 1 },
  { a: [3, 2], b: [4, 5], lead: [5], transposedX: true, scale: -1.5 },
  { a: [1, 4], b: [6, 1], lead: [2, 2], scale: 2 },
  { a: [4, 1], b: [1, 3], lead: [3], scale: 0.5 },
];

/** y, dL/dx, dL/dA, dL/dB for L = Σ y ⊙ w, with y from `f` on `backend`. */
async function valueAndGrads(backend: Backend, dtype: "float32" | "float64", c: KronCase, seed: number, f: (x: Tensor, A: Tensor, B: Tensor) => Tensor) {
  const [a1, a2] = c.a;
  const [b1, b2] = c.b;
  const N = c.lead.reduce((p, d) => p * d, 1);
  const g = new Generator(seed);
  const xData = roundedNormals(N * a2 * b2, g);
  const AData = roundedNormals(a1 * a2, g);
  const BData = roundedNormals(b1 * b2, g);
  const wData = roundedNormals(N * a1 * b1, g);
  const make = (data: Float64Array, shape: readonly number[], requiresGrad: boolean) =>
    tensor(dtype === "float64" ? data : Float32Array.from(data), { backend, shape, dtype, requiresGrad });
  const leaf = c.transposedX ? make(xData, [a2 * b2, N], true) : make(xData, [...c.lead, a2 * b2], true);
  const A = make(AData, [a1, a2], true);
  const B = make(BData, [b1, b2], true);
  const w = make(wData, [...c.lead, a1 * b1], false);
  const y = tidy(() => f(c.transposedX ? leaf.transpose() : leaf, A, B));
  const loss = tidy(() => y.mul(w).sum());
  loss.backward();
  const out = { y: await y.data(), dx: await leaf.grad!.data(), dA: await A.grad!.data(), dB: await B.grad!.data() };
  for (const t of [leaf, A, B, w, y, loss]) (t.grad?.dispose(), t.dispose());
  return out;
}

/** This plugin's rows of the conformance kit (webpeft/testing), run on every backend under test. */
export const CONFORMANCE_CONFIGS: Readonly<Record<string, unknown>> = {
  "q,v automatic (4,4)x(4,4)": {},
  "all linears a=(2,2) s=0.5": { targets: { regex: ".*\\.(q|k|v|o|wi|wo)" }, a1: 2, a2: 2, scale: 0.5 },
};

export function register(backends: readonly NamedBackend[]): void {
  pluginConformanceSuite(krona, CONFORMANCE_CONFIGS, backends);
  const s = suite("krona");

  s("kron(A, B) is the Kronecker product: kron[i1·b1 + j1, i2·b2 + j2] = A[i1, i2]·B[j1, j2]", async () => {
    const g = new Generator(1);
    const [a1, a2, b1, b2] = [3, 2, 4, 5];
    const A = roundedNormals(a1 * a2, g);
    const B = roundedNormals(b1 * b2, g);
    const K = kron(tensor(A, { backend: reference, shape: [a1, a2] }), tensor(B, { backend: reference, shape: [b1, b2] }));
    assert.equal(K.shape, [a1 * b1, a2 * b2]);
    const data = await K.data();
    for (let i1 = 0; i1 < a1; i1++) for (let i2 = 0; i2 < a2; i2++) for (let j1 = 0; j1 < b1; j1++) for (let j2 = 0; j2 < b2; j2++) {
      assert.is(data[(i1 * b1 + j1) * (a2 * b2) + i2 * b2 + j2], A[i1 * a2 + i2]! * B[j1 * b2 + j2]!);
    }
    K.dispose();
  });

  for (const { name, backend } of backends) {
    for (const c of KRON_CASES) {
      for (const order of ["B-first", "A-first"] as const) {
        const label = `a=(${c.a}) b=(${c.b}) x (${c.lead},${c.a[1] * c.b[1]})${c.transposedX ? " transposed" : ""} s=${c.scale} ${order}`;
        s(`kronApply = x·(s·kron(A, B))ᵀ, forward and gradients of x, A, B: ${label} on ${name}`, async () => {
          const trick = await valueAndGrads(backend, "float32", c, 7, (x, A, B) => kronApply(x, A, B, { scale: c.scale, order }));
          const materialised = await valueAndGrads(reference, "float64", c, 7, (x, A, B) => x.matmul(kron(A, B).mul(c.scale).transpose()));
          const tol = { rtol: 1e-5, atol: 1e-6 };
          assertClose(trick.y, materialised.y, tol, `${label}: y`);
          assertClose(trick.dx, materialised.dx, tol, `${label}: dL/dx`);
          assertClose(trick.dA, materialised.dA, tol, `${label}: dL/dA`);
          assertClose(trick.dB, materialised.dB, tol, `${label}: dL/dB`);
        });
      }
    }
  }

  s("automatic shapes = HF PEFT LoKr's factorization(dim, factor)", () => {
    // PEFT's docstring examples, then -1 = (largest divisor ≤ √dim, cofactor) worked out by hand
    const table: [number, number, [number, number]][] = [
      [256, -1, [16, 16]], [128, -1, [8, 16]], [127, -1, [1, 127]], [128, 4, [4, 32]],
      [16, -1, [4, 4]], [32, -1, [4, 8]], [37, -1, [1, 37]], [512, -1, [16, 32]], [768, -1, [24, 32]],
      [1024, -1, [32, 32]], [2048, -1, [32, 64]], [3072, -1, [48, 64]], [24, -1, [4, 6]], [1, -1, [1, 1]],
      // factor dividing: returned as given, even when larger than its cofactor
      [512, 8, [8, 64]], [128, 32, [32, 4]], [768, 2, [2, 384]],
      // factor not dividing: walk divisors up to the factor
      [24, 5, [4, 6]], [768, 20, [16, 48]], [37, 4, [1, 37]], [3072, 50, [48, 64]], [512, 1000, [16, 32]],
    ];
    for (const [dim, factor, expected] of table) assert.equal(factorization(dim, factor), expected, `factorization(${dim}, ${factor})`);
  });

  s("config errors name the field and the module", async () => {
    const peft = new PeftModel(await tinyT5(reference));
    const q = "encoder.block.0.layer.0.SelfAttention.q";
    await expectConfigError(() => peft.addAdapter("x", "krona", { a1: 3, a2: 4 }), "a1", new RegExp(`a1 = 3 does not divide the output size 16 of ${q.replaceAll(".", "\\.")}`));
    await expectConfigError(() => peft.addAdapter("x", "krona", { a1: 4, a2: 5 }), "a2", /a2 = 5 does not divide the input size 16 of encoder\.block\.0\.layer\.0\.SelfAttention\.q/);
    await expectConfigError(() => peft.addAdapter("x", "krona", { targets: ["wo"], a1: 4, a2: 16 }), "a2", /input size 24 of encoder\.block\.0\.layer\.1\.DenseReluDense\.wo/);
    await expectConfigError(() => peft.addAdapter("x", "krona", { a1: 0, a2: 4 }), "a1", /krona: a1:/);
    await expectConfigError(() => peft.addAdapter("x", "krona", { a1: 2, a2: -2 }), "a2", /krona: a2:/);
    await expectConfigError(() => peft.addAdapter("x", "krona", { a1: 2.5, a2: 2 }), "a1", /krona: a1:/);
    await expectConfigError(() => peft.addAdapter("x", "krona", { a1: 2 }), "a2", /give a1 and a2 together/);
    await expectConfigError(() => peft.addAdapter("x", "krona", { a1: 2, a2: 2, decomposeFactor: 4 }), "decomposeFactor", /conflicts/);
    await expectConfigError(() => peft.addAdapter("x", "krona", { decomposeFactor: 0 }), "decomposeFactor", /-1 .* or a positive integer/);
    await expectConfigError(() => peft.addAdapter("x", "krona", { scale: 0 }), "scale", /krona: scale:/);
    await expectConfigError(() => peft.addAdapter("x", "krona", { targets: ["qq"] }), "targets", /"qq" matches no module/);
    await expectConfigError(() => peft.addAdapter("x", "krona", { targets: { regex: "nothing.*" } }), "targets", /matches no module/);
    await expectConfigError(() => peft.addAdapter("x", "krona", { layers: [7] }), "targets", /matches no module in layers \[7\]/);
    await expectConfigError(() => peft.addAdapter("x", "krona", { targets: ["DenseReluDense"] }), "targets", /DenseReluDense is a feed-forward block .* attaches to a Linear layer/);
    assert.equal(peft.adapterNames(), [], "failed adapters leave nothing behind");
    peft.base.dispose();
  });

  s("parameter count: Σ over targets a1·a2 + b1·b2", async () => {
    const model = await tinyT5(reference);
    const peft = new PeftModel(model);
    // q, v of 2 encoder self-attentions + 3 decoder self- and cross-attentions = 16 Linears 16 → 16, (4,4)⊗(4,4)
    const d = peft.addAdapter("d", "krona");
    assert.is(krona.countParameters(model, d.config as never), 16 * (16 + 16));
    assert.equal(d.parameters.get("decoder.block.2.layer.1.EncDecAttention.v.krona_A")!.shape, [4, 4]);
    peft.removeAdapter("d");
    // all linears with A (2, 2): attention 16 → 16: 4 + 8·8; wi 16 → 24: 4 + 12·8; wo 24 → 16: 4 + 8·12
    const all = peft.addAdapter("all", "krona", { targets: { regex: ".*\\.(q|k|v|o|wi|wo)" }, a1: 2, a2: 2 });
    const expected = 2 * (4 * 68 + 2 * 100) + 3 * (8 * 68 + 2 * 100);
    assert.is(krona.countParameters(model, all.config as never), expected);
    assert.is(peft.parameterCounts().trainable, expected);
    assert.equal(all.parameters.get("encoder.block.0.layer.1.DenseReluDense.wi.krona_B")!.shape, [12, 8]);
    assert.equal(all.parameters.get("encoder.block.0.layer.1.DenseReluDense.wo.krona_B")!.shape, [8, 12]);
    peft.dispose();
    model.dispose();
  });

  for (const { name, backend } of backends) {
    s(`merge adds exactly s·kron(A, B) to W on ${name}`, async () => {
      const peft = new PeftModel(await tinyT5(backend));
      peft.addAdapter("a", "krona", { targets: ["wi"], a1: 3, a2: 2, scale: 0.25 });
      randomizeAdapter(peft, "a", 4);
      const path = "decoder.block.1.layer.2.DenseReluDense.wi";
      const linear = new Map(peft.base.namedModules()).get(path) as Linear;
      const before = await linear.weight.data();
      const A = await peft.adapter("a").parameters.get(`${path}.krona_A`)!.data(); // (3, 2)
      const B = await peft.adapter("a").parameters.get(`${path}.krona_B`)!.data(); // (8, 8)
      peft.merge();
      const after = await linear.weight.data(); // (24, 16)
      const delta = Float64Array.from(after, (v, i) => v - before[i]!);
      const expected = new Float64Array(24 * 16);
      for (let i1 = 0; i1 < 3; i1++) for (let i2 = 0; i2 < 2; i2++) for (let j1 = 0; j1 < 8; j1++) for (let j2 = 0; j2 < 8; j2++) {
        expected[(i1 * 8 + j1) * 16 + i2 * 8 + j2] = 0.25 * A[i1 * 2 + i2]! * B[j1 * 8 + j2]!;
      }
      assertClose(delta, expected, { rtol: 1e-5, atol: 1e-6 }, "ΔW", 1e-7);
      peft.unmerge();
      peft.dispose();
      peft.base.dispose();
    });

    s(`LoKr files: PEFT's keys and adapter_config.json fields; export → import is bit-exact on ${name}`, async () => {
      const fs = await hostFiles();
      for (const config of [{ scale: 0.3 }, { targets: ["q", "v", "o"], stacks: ["decoder"], layers: [1, 2], a1: 2, a2: 2 }, { targets: { regex: ".*\\.(wi|wo)" }, decomposeFactor: 3 }]) {
        const { dir, cleanup } = await tempDir("webpeft-krona-");
        try {
          const peft = new PeftModel(await tinyT5(backend));
          const adapter = peft.addAdapter("a", "krona", config, { seed: 1 });
          randomizeAdapter(peft, "a", 5);
          const logits = await logitsOf(peft, BATCH);
          await saveAdapter(peft, dir, { fs, adapter: "a" });

          const json = JSON.parse(await fs.readText(fs.join(dir, "adapter_config.json"))) as Record<string, unknown>;
          assert.equal(Object.keys(json).sort(), [...LOKR_CONFIG_FIELDS].sort(), "exactly LoKrConfig's fields");
          const golden = JSON.parse(await fs.readText(decodeURIComponent(new URL("../../test/goldens/t5/adapters/lokr-q-v/adapter_config.json", import.meta.url).pathname)));
          for (const key of Object.keys(golden)) assert.ok(key in json, `field ${key} of the reference's LOKR file is written`);
          assert.is(json.peft_type, "LOKR");
          assert.is(json.decompose_both, false);
          const r = json.r as number;
          assert.ok(Number.isInteger(Math.log2(r)), `r = ${r} is a power of two`);
          assert.is((json.alpha as number) / r, (adapter.config as { scale: number }).scale, "alpha / r = s");

          const reader = await openSafetensors(fs, fs.join(dir, "adapter_model.safetensors"));
          const keys = reader.names().sort();
          const expectedKeys = [...adapter.parameters.keys()].map((p) => `base_model.model.${p.replace(/\.krona_A$/, ".lokr_w1").replace(/\.krona_B$/, ".lokr_w2")}`).sort();
          assert.equal(keys, expectedKeys, "keys <module>.lokr_w1 / .lokr_w2, nothing else");
          for (const [path, t] of adapter.parameters) {
            const key = `base_model.model.${path.replace(/\.krona_A$/, ".lokr_w1").replace(/\.krona_B$/, ".lokr_w2")}`;
            assert.equal(reader.info(key).shape, t.shape, `${key} shape`);
            if (path.endsWith("krona_B")) assert.ok(r >= Math.max(...t.shape) / 2, `PEFT keeps w2 of ${path} whole: r ≥ max(out_k, in_n)/2`);
          }
          await reader.close();

          const fresh = new PeftModel(await tinyT5(backend));
          const loaded = await loadAdapter(fresh, dir, { fs, name: "a" });
          assert.is(loaded.plugin.name, "krona");
          for (const [path, t] of adapter.parameters) {
            assert.equal(Array.from(await loaded.parameters.get(path)!.data()), Array.from(await t.data()), `${path} bit-exact`);
          }
          assert.equal(Array.from(await logitsOf(fresh, BATCH)), Array.from(logits), "logits after LOKR export → import are bit-identical");
          fresh.dispose();
          fresh.base.dispose();
          peft.dispose();
          peft.base.dispose();
        } finally {
          await cleanup();
        }
      }
    });

    s(`a LoKr file as HF PEFT writes it (decompose_factor 2, layers_to_transform) = W + (alpha/r)·kron(w1, w2) on ${name}`, async () => {
      const fs = await hostFiles();
      const { dir, cleanup } = await tempDir("webpeft-krona-");
      try {
        const base = await tinyT5(backend);
        const paths = [...base.namedModules()].map(([p]) => p).filter((p) => /\.block\.[02]\..*\.(q|v)$/.test(p));
        // factorization(16, 2) = (2, 8): w1 (2, 2), w2 (8, 8); r = 4 ≥ 8/2 keeps w2 whole
        const [r, alpha] = [4, 3];
        const g = new Generator(11);
        const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
        for (const p of paths) {
          tensors[`base_model.model.${p}.lokr_w1`] = { dtype: "F32", shape: [2, 2], data: Float32Array.from(roundedNormals(4, g, 0.5)) };
          tensors[`base_model.model.${p}.lokr_w2`] = { dtype: "F32", shape: [8, 8], data: Float32Array.from(roundedNormals(64, g, 0.5)) };
        }
        const config = {
          peft_type: "LOKR", task_type: "SEQ_2_SEQ_LM", base_model_name_or_path: null, revision: null, inference_mode: true,
          r, alpha, rank_dropout: 0.1, module_dropout: 0.0, use_effective_conv2d: false, decompose_both: false, decompose_factor: 2,
          target_modules: ["v", "q"], init_weights: true, layers_to_transform: [0, 2], layers_pattern: null, rank_pattern: {},
          alpha_pattern: {}, modules_to_save: null,
        };
        await writeSafetensors(fs, fs.join(dir, "adapter_model.safetensors"), tensors, { format: "pt" });
        await fs.writeAtomic(fs.join(dir, "adapter_config.json"), [new TextEncoder().encode(JSON.stringify(config))]);
        const peft = new PeftModel(base);
        const state = await loadAdapter(peft, dir, { fs });
        assert.is(state.parameters.size, 2 * paths.length);
        assert.is((state.config as { scale: number }).scale, alpha / r);
        const withAdapter = await logitsOf(peft, BATCH);

        const merged = await tinyT5(backend);
        const modules = new Map(merged.namedModules());
        for (const p of paths) {
          const w = modules.get(p) as Linear;
          const W = Float64Array.from(await w.weight.data());
          const w1 = tensors[`base_model.model.${p}.lokr_w1`]!.data;
          const w2 = tensors[`base_model.model.${p}.lokr_w2`]!.data;
          for (let i1 = 0; i1 < 2; i1++) for (let i2 = 0; i2 < 2; i2++) for (let j1 = 0; j1 < 8; j1++) for (let j2 = 0; j2 < 8; j2++) {
            W[(i1 * 8 + j1) * 16 + i2 * 8 + j2]! += (alpha / r) * w1[i1 * 2 + i2]! * w2[j1 * 8 + j2]!;
          }
          backend.upload(w.weight.bufferFor("test"), Float32Array.from(W));
        }
        assertClose(withAdapter, await logitsOf(merged, BATCH), { rtol: 1e-5, atol: 1e-5 }, "LoKr adapter = merged reference");
        peft.dispose();
        base.dispose();
        merged.dispose();
      } finally {
        await cleanup();
      }
    });
  }

  s("LoKr files with decomposed factors (lokr_w1_a/_b, lokr_w2_a/_b) are refused clearly", async () => {
    const fs = await hostFiles();
    const peft = new PeftModel(await tinyT5(reference));
    const paths = [...peft.base.namedModules()].map(([p]) => p).filter((p) => /\.(q|v)$/.test(p));
    const cases = [
      // r = 1 < max(4, 4)/2: PEFT stores w2 as lokr_w2_a (4, 1) · lokr_w2_b (1, 4)
      { r: 1, decompose_both: false, field: "r", message: /r = 1 < max\(4, 4\)\/2, PEFT stores w2 of .*\.q as low-rank factors lokr_w2_a\/lokr_w2_b/, keys: ["lokr_w1", "lokr_w2_a", "lokr_w2_b"] },
      // decompose_both with r = 1 < max(4, 4)/2: w1 as lokr_w1_a · lokr_w1_b
      { r: 1, decompose_both: true, field: "decompose_both", message: /lokr_w1_a\/lokr_w1_b/, keys: ["lokr_w1_a", "lokr_w1_b", "lokr_w2_a", "lokr_w2_b"] },
    ];
    for (const c of cases) {
      const { dir, cleanup } = await tempDir("webpeft-krona-");
      try {
        const shapes: Record<string, number[]> = { lokr_w1: [4, 4], lokr_w1_a: [4, 1], lokr_w1_b: [1, 4], lokr_w2_a: [4, 1], lokr_w2_b: [1, 4] };
        const tensors = Object.fromEntries(paths.flatMap((p) => c.keys.map((k) => [`base_model.model.${p}.${k}`, { dtype: "F32" as const, shape: shapes[k]!, data: new Float32Array(shapes[k]![0]! * shapes[k]![1]!) }])));
        await writeSafetensors(fs, fs.join(dir, "adapter_model.safetensors"), tensors);
        const config = { peft_type: "LOKR", r: c.r, alpha: 1, decompose_both: c.decompose_both, decompose_factor: -1, target_modules: ["q", "v"] };
        await fs.writeAtomic(fs.join(dir, "adapter_config.json"), [new TextEncoder().encode(JSON.stringify(config))]);
        await expectConfigError(() => loadAdapter(peft, dir, { fs }), c.field, c.message);
        assert.equal(peft.adapterNames(), []);
      } finally {
        await cleanup();
      }
    }
    peft.base.dispose();
  });

  s("saving shapes PEFT's factorization cannot produce as LOKR fails clearly; WEBPEFT keeps them", async () => {
    const fs = await hostFiles();
    const peft = new PeftModel(await tinyT5(reference));
    // q, v: 16 → 16 with A (2, 4) needs factorization(16, f) = (2, 8) for out and (4, 4) for in: no single f
    peft.addAdapter("a", "krona", { a1: 2, a2: 4 });
    const { dir, cleanup } = await tempDir("webpeft-krona-");
    try {
      await expectConfigError(() => saveAdapter(peft, dir, { fs, adapter: "a" }), "a1, a2", /A \(2, 4\) \/ B \(8, 4\) on encoder\.block\.0\.layer\.0\.SelfAttention\.q .* not the shapes HF PEFT's LoKr factorization.*save with format "WEBPEFT"/);
      await saveAdapter(peft, dir, { fs, adapter: "a", format: "WEBPEFT" });
      const json = JSON.parse(await fs.readText(fs.join(dir, "adapter_config.json")));
      assert.is(json.peft_type, "WEBPEFT");
      const fresh = new PeftModel(await tinyT5(reference));
      const loaded = await loadAdapter(fresh, dir, { fs });
      assert.equal(loaded.parameters.get("encoder.block.0.layer.0.SelfAttention.q.krona_A")!.shape, [2, 4]);
      fresh.base.dispose();
    } finally {
      await cleanup();
    }
    // explicit shapes PEFT can produce are exported with the decompose_factor that produces them
    peft.removeAdapter("a");
    peft.addAdapter("b", "krona", { a1: 2, a2: 2 });
    const { dir: dir2, cleanup: cleanup2 } = await tempDir("webpeft-krona-");
    try {
      await saveAdapter(peft, dir2, { fs, adapter: "b" });
      assert.is(JSON.parse(await fs.readText(fs.join(dir2, "adapter_config.json"))).decompose_factor, 2);
    } finally {
      await cleanup2();
    }
    peft.base.dispose();
  });

  s.run();
}
