/**
 * The shared plugin matrix (HF PEFT's test matrix, principle 6 of DESIGN.md): every built-in plugin, with
 * each of its matrix configs, on a tiny T5 and every backend, must satisfy the same invariants —
 *   at init the output equals the base model's; disabled equals the base; merged equals unmerged (for
 *   mergeable adapters); a few AdamW steps change the adapter's parameters and no frozen base weight;
 *   save/load round-trips bit-exactly; the parameter count matches the plugin's formula; and (on the
 *   float64 CPU reference) the adapter's gradients match finite differences.
 * No plugin is special-cased: what differs is declared by the adapter (mergeable, trained base weights).
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadAdapter, saveAdapter } from "../../core/hooks/adapter-files.ts";
import { PeftModel } from "../../core/hooks/peft-model.ts";
import { AdamW } from "../../core/optim/adamw.ts";
import { noGrad } from "../../core/tensor/autograd.ts";
import { Generator } from "../../core/tensor/random.ts";
import { tidy } from "../../core/tensor/scope.ts";
import { builtinPlugins } from "../../plugins/mod.ts";
import { hostFiles } from "../../runners/host-files.ts";
import { type NamedBackend, reference } from "../harness/backends.ts";
import { assertClose } from "../harness/check-op.ts";
import { logitsOf, randomizeAdapter, tinyT5 } from "../harness/plugins.ts";
const BATCH = {
  inputIds: [[58, 89, 61, 50, 23, 68, 1], [49, 6, 24, 24, 1, 0, 0]],
  attentionMask: [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]],
  labels: [[68, 88, 11, 1], [36, 51, 1, -100]],
};

async function snapshot(tensors: Iterable<[string, { data(): Promise<ArrayLike<number>> }]>): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [k, t] of tensors) out.set(k, Array.from(await t.data()));
  return out;
}

const EXACTISH = { rtol: 1e-6, atol: 1e-6 };

export function register(backends: readonly NamedBackend[]): void {
  for (const { plugin, matrixConfigs } of builtinPlugins) {
    const s = suite(`plugin matrix: ${plugin.name}`);
    for (const [label, config] of Object.entries(matrixConfigs)) {
      const title = `${plugin.name} (${label})`;
      for (const { name: backendName, backend } of backends) {
        s(`${title} on ${backendName}: init = base, training changes only the adapter, disabled = base, merge, save/load, count`, async () => {
          const base = await tinyT5(backend);
          const baseLogits = await logitsOf(base, BATCH);
          const baseWeights = await snapshot(base.uniqueParameters());
          const peft = new PeftModel(base);
          const adapter = peft.addAdapter("a", plugin.name, config, { seed: 1 });
          assertClose(await logitsOf(peft, BATCH), baseLogits, EXACTISH, `${title}: output at init equals the base model's`);

          // parameter count = the plugin's formula = what an optimizer sees
          const counted = plugin.countParameters(base, adapter.config as never);
          const trainable = peft.parameterCounts().trainable;
          assert.is(trainable, counted, `${title}: trainable parameters ${trainable} vs formula ${counted}`);

          // a few optimizer steps
          const before = await snapshot(adapter.parameters);
          const optimizer = new AdamW(peft.trainableParameters().map(([, t]) => t), { lr: 1e-2, weightDecay: 0 });
          peft.train();
          for (let step = 0; step < 3; step++) {
            tidy(() => peft.forward(BATCH).loss!.backward());
            optimizer.step();
            optimizer.zeroGrad();
          }
          peft.eval();
          const after = await snapshot(adapter.parameters);
          for (const [path, values] of after) {
            assert.ok(values.some((x, i) => x !== before.get(path)![i]), `${title}: adapter parameter ${path} changed`);
          }
          const trainedBase = new Set(adapter.trainedBase);
          for (const [path, t] of base.uniqueParameters()) {
            if (trainedBase.has(t)) continue;
            assert.equal(Array.from(await t.data()), baseWeights.get(path), `${title}: frozen base weight ${path} is unchanged`);
          }
          const trainedLogits = await logitsOf(peft, BATCH);

          // disabled = the base model with the current base weights
          peft.disable();
          const reference = await tinyT5(backend);
          for (const [path, t] of base.uniqueParameters()) {
            if (trainedBase.has(t)) {
              const target = new Map(reference.uniqueParameters()).get(path)!;
              backend.upload(target.bufferFor("test"), await t.data());
            }
          }
          assertClose(await logitsOf(peft, BATCH), await logitsOf(reference, BATCH), EXACTISH, `${title}: disabled equals the base`);
          peft.enable();
          assertClose(await logitsOf(peft, BATCH), trainedLogits, EXACTISH, `${title}: enabled again`);

          if (adapter.mergeable) {
            peft.merge();
            assertClose(await logitsOf(peft, BATCH), trainedLogits, { rtol: 1e-5, atol: 1e-5 }, `${title}: merged equals unmerged`);
            peft.unmerge();
            assertClose(await logitsOf(peft, BATCH), trainedLogits, { rtol: 1e-5, atol: 1e-5 }, `${title}: unmerged again`);
          }

          // save / load into a fresh base: bit-exact
          const fs = await hostFiles();
          const { mkdtemp, rm } = await import("node:fs/promises");
          const { tmpdir } = await import("node:os");
          const dir = await mkdtemp(fs.join(tmpdir(), `webpeft-${plugin.name}-`));
          try {
            await saveAdapter(peft, dir, { fs, adapter: "a" });
            const fresh = new PeftModel(await tinyT5(backend));
            await loadAdapter(fresh, dir, { fs, name: "a" });
            assert.equal(Array.from(await logitsOf(fresh, BATCH)), Array.from(trainedLogits), `${title}: logits after save/load are bit-identical`);
            fresh.dispose();
            fresh.base.dispose();
          } finally {
            await rm(dir, { recursive: true });
          }
          optimizer.dispose();
          peft.dispose();
          base.dispose();
          reference.dispose();
        });
      }

      s(`${title}: adapter gradients = finite differences (float64 reference)`, async () => {
        const model = await tinyT5(reference, "float64");
        const peft = new PeftModel(model);
        const adapter = peft.addAdapter("a", plugin.name, config, { seed: 2 });
        randomizeAdapter(peft, "a", 3);
        const lossOf = () => noGrad(() => tidy(() => peft.forward(BATCH).loss!));
        const loss = tidy(() => peft.forward(BATCH).loss!);
        loss.backward();
        const g = new Generator(5);
        for (const [path, t] of [...adapter.parameters, ...model.uniqueParameters().filter(([, p]) => adapter.trainedBase.has(p))].slice(0, 12)) {
          const values = Float64Array.from(await t.data());
          const grad = await t.grad!.data();
          for (let sample = 0; sample < 3; sample++) {
            const k = Math.floor(g.uniform() * values.length);
            const eps = 1e-6;
            const bump = (delta: number) => {
              const copy = Float64Array.from(values);
              copy[k] = values[k]! + delta;
              t.backend.upload(t.bufferFor("test"), copy);
            };
            bump(eps);
            const up = await lossOf().item();
            bump(-eps);
            const down = await lossOf().item();
            bump(0);
            const numeric = (up - down) / (2 * eps);
            assert.ok(Math.abs(numeric - grad[k]!) <= 1e-6 + 1e-5 * Math.abs(numeric), `${title}: d loss / d ${path}[${k}] = ${grad[k]} vs finite difference ${numeric}`);
          }
        }
        peft.dispose();
        model.dispose();
      });
    }
    s.run();
  }
}
