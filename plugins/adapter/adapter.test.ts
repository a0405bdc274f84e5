/**
 * Bottleneck adapters beyond the shared matrix: where each variant puts its hooks (and how many), the
 * hooked block's output against a plain-JS evaluation of the paper formula, the parameter formula on a
 * T5-small-shaped model against a hand count, and config errors naming the field.
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
import "../mod.ts"; // registers the built-in plugins by name
import type { NamedBackend } from "../../test/harness/backends.ts";
import { reference } from "../../test/harness/backends.ts";
import { assertClose } from "../../test/harness/check-op.ts";
import { type Activation, activate, adapter } from "./adapter.ts";
import { expectConfigError } from "../../test/harness/expect.ts";
import { adapterHooks, randomizeAdapter, tinyT5 } from "../../test/harness/plugins.ts";
import { pluginConformanceSuite } from "../../test/harness/conformance.ts";

const ACT: Record<Activation, (x: number) => number> = {
  relu: (x) => Math.max(0, x),
  gelu_new: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  swish: (x) => x / (1 + Math.exp(-x)),
};

/** s·(up(act(down(h)))) for rows h (R, D), weights in (out, in) layout: plain JS, float64. */
function bottleneckRef(h: number[][], p: (name: string) => Float64Array, D: number, M: number, act: Activation, s: number): number[][] {
  const [dw, db, uw, ub] = [p("adapter_down.weight"), p("adapter_down.bias"), p("adapter_up.weight"), p("adapter_up.bias")];
  return h.map((row) => {
    const z = Array.from({ length: M }, (_, m) => ACT[act](db[m]! + row.reduce((acc, x, d) => acc + dw[m * D + d]! * x, 0)));
    return Array.from({ length: D }, (_, d) => s * (ub[d]! + z.reduce((acc, zm, m) => acc + uw[d * M + m]! * zm, 0)));
  });
}

/** The complete config (defaults filled) for a raw one. */
const v = (raw: unknown) => parsePluginConfig(adapter, raw);

const T5_SMALL = parseT5Config({ model_type: "t5" }, "t5-small defaults");

/** This plugin's rows of the conformance kit (webpeft/testing), run on every backend under test. */
export const CONFORMANCE_CONFIGS: Readonly<Record<string, unknown>> = {
  "houlsby m=4 +cross-attn": { variant: "houlsby", bottleneck: 4, targets: ["SelfAttention", "EncDecAttention", "DenseReluDense"] },
  "parallel swish decoder": { variant: "parallel", reductionFactor: 4, activation: "swish", stacks: ["decoder"] },
};

export function register(backends: readonly NamedBackend[]): void {
  pluginConformanceSuite(adapter, CONFORMANCE_CONFIGS, backends);
  const s = suite("adapter plugin");

  s("placement: houlsby after SelfAttention + FFN, pfeiffer after FFN, parallel beside FFN; filters and opt-in cross-attention", async () => {
    const model = await tinyT5(reference, "float64");
    const cases: [unknown, number, string, RegExp][] = [
      [{}, 10, "sequential", /\.(layer\.0\.SelfAttention|layer\.[12]\.DenseReluDense)$/],
      [{ variant: "pfeiffer" }, 5, "sequential", /\.layer\.[12]\.DenseReluDense$/],
      [{ variant: "parallel" }, 5, "parallel", /\.layer\.[12]\.DenseReluDense$/],
      [{ targets: ["SelfAttention", "EncDecAttention", "DenseReluDense"] }, 13, "sequential", /(SelfAttention|EncDecAttention|DenseReluDense)$/],
      [{ layers: [1], stacks: ["decoder"] }, 2, "sequential", /^decoder\.block\.1\.layer\.(0\.SelfAttention|2\.DenseReluDense)$/],
      [{ variant: "parallel", targets: { regex: "decoder\\.block\\.[02]\\..*(EncDecAttention|DenseReluDense)" } }, 4, "parallel", /^decoder\.block\.[02]\.layer\.(1\.EncDecAttention|2\.DenseReluDense)$/],
    ];
    for (const [config, count, kind, where] of cases) {
      const peft = new PeftModel(model);
      peft.addAdapter("a", "adapter", config);
      const hooks = adapterHooks(model);
      assert.is(hooks.length, count, `${JSON.stringify(config)}: ${hooks.map(([p]) => p).join(", ")}`);
      assert.is(new Set(hooks.map(([p]) => p)).size, count, "one hook per block");
      for (const [path, k] of hooks) {
        assert.is(k, kind, path);
        assert.match(path, where);
      }
      assert.is(peft.adapter("a").parameters.size, 4 * count, "down/up weight and bias per block");
      peft.dispose();
    }
    const peft = new PeftModel(model);
    const state = peft.addAdapter("a", "adapter", { bottleneck: 4 });
    assert.equal(state.parameters.get("encoder.block.0.layer.1.DenseReluDense.adapter_down.weight")!.shape, [4, 16]);
    assert.equal(state.parameters.get("encoder.block.0.layer.1.DenseReluDense.adapter_up.weight")!.shape, [16, 4]);
    assert.is(state.mergeable, false);
    peft.dispose();
    model.dispose();
  });

  for (const { name, backend } of backends) {
    s(`houlsby / pfeiffer / parallel blocks compute the paper formulas (${name})`, async () => {
      const model = await tinyT5(backend);
      const g = new Generator(7);
      const rows = Array.from({ length: 3 }, () => Array.from({ length: 16 }, () => g.normal()));
      const x = tensor(rows, { backend }).reshape([1, 3, 16]);
      const cases: [unknown, string, Activation, number][] = [
        [{ bottleneck: 4 }, "encoder.block.0.layer.0.SelfAttention", "swish", 1],
        [{ variant: "pfeiffer", bottleneck: 5, activation: "gelu_new" }, "decoder.block.2.layer.2.DenseReluDense", "gelu_new", 1],
        [{ variant: "parallel", bottleneck: 4 }, "encoder.block.1.layer.1.DenseReluDense", "relu", 4],
        [{ variant: "parallel", bottleneck: 3, scaling: 0.5, activation: "swish" }, "decoder.block.0.layer.2.DenseReluDense", "swish", 0.5],
      ];
      for (const [config, path, act, scale] of cases) {
        const peft = new PeftModel(model);
        const state = peft.addAdapter("a", "adapter", config);
        const values = randomizeAdapter(peft, "a", 11);
        const M = state.parameters.get(`${path}.adapter_down.bias`)!.size;
        const block = model.getModule(path);
        const run = (input: typeof x) => noGrad(() => tidy(() => (block as unknown as { forward(t: typeof x): typeof x }).forward(input)));
        // the attention block's forward needs the layer around it: call the layer, subtract the residual
        const out = async (): Promise<number[][]> => {
          let y;
          if (path.endsWith("SelfAttention")) {
            const layer = model.getModule(path.replace(/\.SelfAttention$/, "")) as unknown as { forward(h: typeof x, bias: typeof x): typeof x };
            const zeroBias = tensor([0], { backend }).reshape([1, 1, 1, 1]);
            y = noGrad(() => tidy(() => layer.forward(x, zeroBias).sub(x)));
            zeroBias.dispose();
          } else {
            y = run(x);
          }
          const data = Array.from(await y.data());
          y.dispose();
          return rows.map((_, r) => data.slice(r * 16, (r + 1) * 16));
        };
        const adapted = await out();
        peft.disable();
        const base = await out();
        peft.enable();
        const p = (n: string) => values.get(`${path}.${n}`)!;
        const expected = path.endsWith("SelfAttention") || (config as { variant?: string }).variant === "pfeiffer"
          ? base.map((row, r) => row.map((b, d) => b + bottleneckRef(base, p, 16, M, act, scale)[r]![d]!)) // h + adapter(h), h = block output
          : base.map((row, r) => row.map((b, d) => b + bottleneckRef(rows, p, 16, M, act, scale)[r]![d]!)); // FFN(x) + s·adapter(x)
        assertClose(Float64Array.from(adapted.flat()), Float64Array.from(expected.flat()), { rtol: 1e-4, atol: 1e-4 }, `${JSON.stringify(config)} at ${path}`);
        peft.dispose();
      }
      x.dispose();
      model.dispose();
    });
  }

  s("swish(x) = x·σ(x) from primitives, on the float64 reference", async () => {
    const xs = [-30, -5, -1, -1e-3, 0, 1e-3, 0.5, 2, 30];
    const y = activate(tensor(xs, { backend: reference, dtype: "float64" }), "swish");
    const got = Array.from(await y.data());
    xs.forEach((x, i) => assert.ok(Math.abs(got[i]! - ACT.swish(x)) <= 1e-12 * Math.max(1, Math.abs(x)), `swish(${x}) = ${got[i]}`));
    y.dispose();
  });

  s("parameter formula on T5-small (d_model 512, 6 + 6 layers) equals a hand count", () => {
    const model = t5Skeleton(T5_SMALL);
    const one = (m: number) => 2 * 512 * m + m + 512; // down (m·512 + m) + up (512·m + 512)
    assert.is(one(32), 33312);
    assert.is(adapter.countParameters(model, v({})), 24 * 33312); // 12 SelfAttention + 12 FFN, M = 512/16
    assert.is(adapter.countParameters(model, v({})), 799488);
    assert.is(adapter.countParameters(model, v({ variant: "pfeiffer" })), 12 * 33312);
    assert.is(adapter.countParameters(model, v({ variant: "parallel", bottleneck: 512 })), 12 * one(512));
    assert.is(adapter.countParameters(model, v({ targets: ["SelfAttention", "EncDecAttention", "DenseReluDense"], reductionFactor: 8 })), 30 * one(64));
    assert.is(adapter.countParameters(model, v({ variant: "pfeiffer", reductionFactor: 3 })), 12 * one(170)); // ⌊512/3⌋
  });

  s("invalid configs raise PluginConfigError naming the field", async () => {
    const model = await tinyT5(reference, "float64");
    const peft = new PeftModel(model);
    await expectConfigError(() => peft.addAdapter("a", "adapter", { bottleneck: 0 }), "bottleneck");
    await expectConfigError(() => peft.addAdapter("a", "adapter", { bottleneck: -4 }), "bottleneck");
    await expectConfigError(() => peft.addAdapter("a", "adapter", { bottleneck: 2.5 }), "bottleneck");
    await expectConfigError(() => peft.addAdapter("a", "adapter", { activation: "tanh" }), "activation");
    await expectConfigError(() => peft.addAdapter("a", "adapter", { variant: "lora" }), "variant");
    await expectConfigError(() => peft.addAdapter("a", "adapter", { reductionFactor: 0 }), "reductionFactor");
    await expectConfigError(() => peft.addAdapter("a", "adapter", { reductionFactor: 32 }), "reductionFactor"); // ⌊16/32⌋ = 0
    await expectConfigError(() => peft.addAdapter("a", "adapter", { targets: ["q"] }), "targets"); // a Linear, not a block
    await expectConfigError(() => peft.addAdapter("a", "adapter", { targets: { regex: ".*\\.nothing" } }), "targets");
    await expectConfigError(() => peft.addAdapter("a", "adapter", { layers: [7] }), "targets");
    assert.equal(peft.adapterNames(), [], "failed adds leave nothing behind");
    assert.is(adapterHooks(model).length, 0);
    model.dispose();
  });

  s.run();
}
