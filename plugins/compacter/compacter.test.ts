/**
 * Compacter beyond the shared matrix: the PHM weight against Σᵢ kron(Aᵢ, sᵢ·tᵢ) built by hand, the shared
 * rules being one tensor that every block's down and up projections use, placement of Compacter and
 * Compacter++, the parameter formula on a T5-small-shaped model against a hand count, and config errors.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { PeftModel } from "../../core/peft/peft-model.ts";
import { parsePluginConfig } from "../../core/peft/plugin.ts";
import { parseT5Config } from "../../core/io/t5-config.ts";
import { t5Skeleton } from "../../core/models/t5/load.ts";
import { noGrad } from "../../core/tensor/autograd.ts";
import { tensor } from "../../core/tensor/create.ts";
import { Generator } from "../../core/tensor/random.ts";
import { tidy } from "../../core/tensor/scope.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";
import "../mod.ts"; // registers the built-in plugins by name
import type { NamedBackend } from "../../test/harness/backends.ts";
import { reference } from "../../test/harness/backends.ts";
import { assertClose } from "../../test/harness/check-op.ts";
import { PHM_RULE_PATH, compacter, phmWeight } from "./compacter.ts";
import { expectConfigError } from "../../test/harness/expect.ts";
import { adapterHooks, tinyT5 } from "../../test/harness/plugins.ts";
import { pluginConformanceSuite } from "../../test/harness/conformance.ts";
const T5_SMALL = parseT5Config({ model_type: "t5" }, "t5-small defaults");
const cfg = (raw: unknown) => parsePluginConfig(compacter, raw);

type Matrix = number[][];
const matmul = (a: Matrix, b: Matrix): Matrix => a.map((row) => b[0]!.map((_, j) => row.reduce((acc, x, k) => acc + x * b[k]![j]!, 0)));
/** Kronecker product: block (i, j) of the result is X[i][j]·Y. */
const kron = (X: Matrix, Y: Matrix): Matrix =>
  Array.from({ length: X.length * Y.length }, (_, r) =>
    Array.from({ length: X[0]!.length * Y[0]!.length }, (_, c) => X[Math.floor(r / Y.length)]![Math.floor(c / Y[0]!.length)]! * Y[r % Y.length]![c % Y[0]!.length]!),
  );
const add = (a: Matrix, b: Matrix): Matrix => a.map((row, i) => row.map((x, j) => x + b[i]![j]!));
/** Rows of a flat (k, rows, cols) array as k matrices. */
const split3 = (flat: ArrayLike<number>, k: number, rows: number, cols: number): Matrix[] =>
  Array.from({ length: k }, (_, i) => Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => flat[(i * rows + r) * cols + c]!)));

/** Σᵢ kron(Aᵢ, leftᵢ·rightᵢ), by hand. */
function phmByHand(A: ArrayLike<number>, left: ArrayLike<number>, right: ArrayLike<number>, n: number, p: number, q: number, r: number): Matrix {
  const As = split3(A, n, n, n);
  const Ls = split3(left, n, p, r);
  const Rs = split3(right, n, r, q);
  return As.map((Ai, i) => kron(Ai, matmul(Ls[i]!, Rs[i]!))).reduce(add);
}

const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** This plugin's rows of the conformance kit (webpeft/testing), run on every backend under test. */
export const CONFORMANCE_CONFIGS: Readonly<Record<string, unknown>> = { "n=4 m=8": { reductionFactor: 2 }, "compacter++ n=2 r=2": { variant: "compacter++", phmDim: 2, phmRank: 2, bottleneck: 4, phmInitStd: 0.1 } };

export function register(backends: readonly NamedBackend[]): void {
  pluginConformanceSuite(compacter, CONFORMANCE_CONFIGS, backends);
  const s = suite("compacter plugin");

  for (const { name, backend } of backends) {
    s(`PHM weight = Σᵢ kron(Aᵢ, sᵢ·tᵢ) materialised by hand (${name})`, async () => {
      const g = new Generator(3);
      for (const [n, p, q, r] of [[4, 2, 4, 1], [2, 3, 2, 2], [4, 1, 1, 3], [1, 3, 5, 2]] as const) {
        const values = (size: number) => Array.from({ length: size }, () => g.normal());
        const [a, l, rt] = [values(n * n * n), values(n * p * r), values(n * r * q)];
        const W = noGrad(() =>
          tidy(() => phmWeight(tensor(a, { backend }).reshape([n, n, n]), tensor(l, { backend }).reshape([n, p, r]), tensor(rt, { backend }).reshape([n, r, q]))),
        );
        assert.equal(W.shape, [n * p, n * q]);
        const expected = phmByHand(a, l, rt, n, p, q, r).flat();
        assertClose(Float64Array.from(await W.data()), Float64Array.from(expected), { rtol: 1e-5, atol: 1e-5 }, `n=${n} p=${p} q=${q} r=${r}`);
        W.dispose();
      }
    });
  }

  s("one shared rule tensor, used by every block's down and up projection (float64 reference)", async () => {
    const model = await tinyT5(reference, "float64");
    const peft = new PeftModel(model);
    const state = peft.addAdapter("a", "compacter", { reductionFactor: 2 }); // D 16, M 8, n 4, r 1
    const rules = [...state.parameters.keys()].filter((k) => k.includes("phm_rule"));
    assert.equal(rules, [PHM_RULE_PATH], "the rules are registered once");
    assert.equal(state.parameters.get(PHM_RULE_PATH)!.shape, [4, 4, 4]);
    assert.is(peft.parameterCounts().trainable, 10 * (2 * (16 + 8) + 16 + 8) + 4 ** 3, "10 blocks · 72 + n³ = 784");
    // random values everywhere, then every hooked FFN block must follow the formula with the ONE A
    const g = new Generator(9);
    const values = new Map<string, Float64Array>();
    for (const [path, t] of state.parameters) {
      const v = Float64Array.from({ length: t.size }, () => 0.5 * g.normal());
      t.backend.upload(t.bufferFor("test"), v);
      values.set(path, v);
    }
    const A = values.get(PHM_RULE_PATH)!;
    const rows = Array.from({ length: 2 }, () => Array.from({ length: 16 }, () => g.normal()));
    const x = tensor(rows, { backend: reference, dtype: "float64" }).reshape([1, 2, 16]);
    for (const path of ["encoder.block.0.layer.1.DenseReluDense", "decoder.block.2.layer.2.DenseReluDense"]) {
      const block = model.getModule(path) as unknown as { forward(t: Tensor): Tensor };
      const run = async () => {
        const y = noGrad(() => tidy(() => block.forward(x)));
        const data = Array.from(await y.data());
        y.dispose();
        return [data.slice(0, 16), data.slice(16)];
      };
      const adapted = await run();
      peft.disable();
      const h = await run();
      peft.enable();
      const p = (k: string) => values.get(`${path}.${k}`)!;
      const down = phmByHand(A, p("compacter_down.left"), p("compacter_down.right"), 4, 2, 4, 1); // (8, 16)
      const up = phmByHand(A, p("compacter_up.left"), p("compacter_up.right"), 4, 4, 2, 1); // (16, 8)
      const expected = h.map((row) => {
        const z = down.map((w, m) => gelu(p("compacter_down.bias")[m]! + w.reduce((acc, wi, d) => acc + wi * row[d]!, 0)));
        return row.map((hd, d) => hd + p("compacter_up.bias")[d]! + up[d]!.reduce((acc, wi, m) => acc + wi * z[m]!, 0));
      });
      assertClose(Float64Array.from(adapted.flat()), Float64Array.from(expected.flat()), { rtol: 1e-10, atol: 1e-10 }, path);
    }
    x.dispose();
    peft.dispose();
    model.dispose();
  });

  s("placement: compacter after SelfAttention + FFN, compacter++ after FFN only; filters", async () => {
    const model = await tinyT5(reference, "float64");
    const cases: [unknown, number, RegExp][] = [
      [{ reductionFactor: 4 }, 10, /\.(layer\.0\.SelfAttention|layer\.[12]\.DenseReluDense)$/],
      [{ variant: "compacter++", reductionFactor: 4 }, 5, /\.layer\.[12]\.DenseReluDense$/],
      [{ reductionFactor: 4, targets: ["EncDecAttention"] }, 3, /^decoder\.block\.\d\.layer\.1\.EncDecAttention$/],
      [{ variant: "compacter++", reductionFactor: 4, stacks: ["encoder"], layers: [0] }, 1, /^encoder\.block\.0\.layer\.1\.DenseReluDense$/],
    ];
    for (const [config, count, where] of cases) {
      const peft = new PeftModel(model);
      const state = peft.addAdapter("a", "compacter", config);
      const hooks = adapterHooks(model);
      assert.is(hooks.length, count, JSON.stringify(config));
      for (const [path, kind] of hooks) {
        assert.is(kind, "sequential", path);
        assert.match(path, where);
      }
      assert.is(state.parameters.size, 6 * count + 1, "left/right/bias for down and up per block, one shared rule tensor");
      assert.is(state.mergeable, false);
      peft.dispose();
    }
    model.dispose();
  });

  s("parameter formula on T5-small (d_model 512, 6 + 6 layers) equals a hand count", () => {
    const model = t5Skeleton(T5_SMALL);
    // M = 512/32 = 16, n = 4, r = 1: per block 2·1·(512 + 16) + 512 + 16 = 1584; A: 4³ = 64
    assert.is(compacter.countParameters(model, cfg({})), 24 * 1584 + 64);
    assert.is(compacter.countParameters(model, cfg({})), 38080);
    assert.is(compacter.countParameters(model, cfg({ variant: "compacter++" })), 12 * 1584 + 64);
    assert.is(compacter.countParameters(model, cfg({ phmRank: 2 })), 24 * (2 * 2 * 528 + 528) + 64);
    assert.is(compacter.countParameters(model, cfg({ phmDim: 8, bottleneck: 64 })), 24 * (2 * (512 + 64) + 512 + 64) + 512);
  });

  s("invalid configs raise PluginConfigError naming the field", async () => {
    const model = await tinyT5(reference, "float64");
    const peft = new PeftModel(model);
    await expectConfigError(() => peft.addAdapter("a", "compacter", { phmDim: 3, bottleneck: 6 }), "phmDim", /d_model 16/);
    await expectConfigError(() => peft.addAdapter("a", "compacter", { phmDim: 4, bottleneck: 6 }), "phmDim", /bottleneck 6/);
    await expectConfigError(() => peft.addAdapter("a", "compacter", { phmDim: 8, reductionFactor: 4 }), "phmDim", /bottleneck 4/);
    await expectConfigError(() => peft.addAdapter("a", "compacter", { phmDim: 0 }), "phmDim");
    await expectConfigError(() => peft.addAdapter("a", "compacter", { phmRank: 0 }), "phmRank");
    await expectConfigError(() => peft.addAdapter("a", "compacter", { bottleneck: 0 }), "bottleneck");
    await expectConfigError(() => peft.addAdapter("a", "compacter", { activation: "sigmoid" }), "activation");
    await expectConfigError(() => peft.addAdapter("a", "compacter", { variant: "compacter+" }), "variant");
    await expectConfigError(() => peft.addAdapter("a", "compacter", {}), "reductionFactor"); // ⌊16/32⌋ = 0 on the tiny model
    await expectConfigError(() => compacter.countParameters(t5Skeleton(T5_SMALL), cfg({ phmDim: 5 })), "phmDim");
    assert.equal(peft.adapterNames(), []);
    assert.is(adapterHooks(model).length, 0);
    model.dispose();
  });

  s.run();
}
