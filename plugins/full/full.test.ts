/**
 * Full fine-tuning beyond the shared matrix: no hooks, every distinct base tensor trained (embedding
 * frozen on request, with what is tied to it), the formula on T5-small = its known 60,506,624 parameters,
 * and the adapter file: the trained base weights under their HF names, each tied tensor once, loading
 * back bit-exactly into a fresh model.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Backend } from "../../core/backend/backend.ts";
import { ADAPTER_WEIGHTS, loadAdapter, saveAdapter } from "../../core/peft/adapter-files.ts";
import { PluginConfigError } from "../../core/peft/errors.ts";
import { PeftModel } from "../../core/peft/peft-model.ts";
import { parsePluginConfig } from "../../core/peft/plugin.ts";
import { openSafetensors } from "../../core/io/safetensors.ts";
import { parseT5Config } from "../../core/io/t5-config.ts";
import { loadT5, t5Skeleton } from "../../core/models/t5/load.ts";
import type { T5ForConditionalGeneration } from "../../core/models/t5/model.ts";
import { AdamW } from "../../core/optim/adamw.ts";
import { tidy } from "../../core/tensor/scope.ts";
import "../mod.ts"; // registers the built-in plugins by name
import { hostFiles } from "../../runners/host-files.ts";
import type { NamedBackend } from "../../test/harness/backends.ts";
import { reference } from "../../test/harness/backends.ts";
import { full } from "./full.ts";
import { pluginConformanceSuite } from "../../test/harness/conformance.ts";

const goldens = (name: string) => decodeURIComponent(new URL(`../../test/goldens/t5/${name}`, import.meta.url).pathname);
const T5_SMALL = parseT5Config({ model_type: "t5" }, "t5-small defaults");
const cfg = (raw: unknown) => parsePluginConfig(full, raw);
const BATCH = { inputIds: [[58, 89, 61, 50, 1]], attentionMask: [[1, 1, 1, 1, 1]], labels: [[68, 88, 1]] };

async function load(name: string, backend: Backend, dtype: "float32" | "float64" = "float32"): Promise<T5ForConditionalGeneration> {
  return (await loadT5(goldens(name), { backend, fs: await hostFiles(), dtype })).eval();
}

/** This plugin's rows of the conformance kit (webpeft/testing), run on every backend under test. */
export const CONFORMANCE_CONFIGS: Readonly<Record<string, unknown>> = { "all weights": {}, "frozen embeddings": { freezeEmbeddings: true } };

export function register(backends: readonly NamedBackend[]): void {
  pluginConformanceSuite(full, CONFORMANCE_CONFIGS, backends);
  const s = suite("full fine-tuning plugin");

  s("no hooks, every distinct base tensor trained; freezeEmbeddings keeps shared (and tied lm_head) frozen", async () => {
    for (const name of ["tiny-v1_0-relu-tied", "tiny-v1_1-gated-gelu"]) {
      const model = await load(name, reference, "float64");
      const unique = model.uniqueParameters();
      for (const [config, frozen] of [[{}, 0], [{ freezeEmbeddings: true }, 1]] as const) {
        const peft = new PeftModel(model);
        const state = peft.addAdapter("a", "full", config);
        assert.is([...model.namedModules()].reduce((acc, [, m]) => acc + m.hooks.length, 0), 0, "no hooks");
        assert.is(state.parameters.size, 0, "no new parameters");
        assert.is(state.trainedBase.size, unique.length - frozen, `${name} ${JSON.stringify(config)}`);
        const shared = model.shared.weight;
        assert.is(state.trainedBase.has(shared), frozen === 0);
        assert.is(shared.requiresGrad, frozen === 0);
        // tied (v1.0): lm_head IS shared; untied (v1.1): its own tensor, still trained
        assert.is(model.lm_head.weight.requiresGrad, model.config.tieWordEmbeddings ? frozen === 0 : true, `${name}: lm_head`);
        const counts = peft.parameterCounts();
        assert.is(counts.trainable, full.countParameters(model, state.config as never));
        assert.is(counts.trainable, model.parameterCount() - frozen * shared.size);
        peft.removeAdapter("a");
      }
      model.dispose();
    }
  });

  s("parameter formula on T5-small = its 60,506,624 parameters (hand count), minus 32128·512 with frozen embeddings", () => {
    const model = t5Skeleton(T5_SMALL);
    const shared = 32128 * 512;
    const attention = 4 * 512 * 512; // q k v o, inner = 8 heads · 64
    const ffn = 2 * 512 * 2048;
    const encoder = 6 * (attention + ffn + 2 * 512) + 32 * 8 + 512; // + relative bias (32 buckets × 8 heads), final norm
    const decoder = 6 * (2 * attention + ffn + 3 * 512) + 32 * 8 + 512;
    assert.is(shared + encoder + decoder, 60506624);
    assert.is(full.countParameters(model, cfg({})), 60506624);
    assert.is(full.countParameters(model, cfg({ freezeEmbeddings: true })), 60506624 - shared);
  });

  for (const { name, backend } of backends) {
    s(`adapter file = the trained base weights under HF names, round-trips bit-exactly (${name})`, async () => {
      const fs = await hostFiles();
      const { mkdtemp, rm } = await import("node:fs/promises");
      const { tmpdir } = await import("node:os");
      for (const config of [{}, { freezeEmbeddings: true }]) {
        const model = await load("tiny-v1_0-relu-tied", backend);
        const peft = new PeftModel(model);
        const state = peft.addAdapter("a", "full", config);
        const optimizer = new AdamW(peft.trainableParameters().map(([, t]) => t), { lr: 1e-2, weightDecay: 0 });
        peft.train();
        tidy(() => peft.forward(BATCH).loss!.backward());
        optimizer.step();
        peft.eval();
        const dir = await mkdtemp(fs.join(tmpdir(), "webpeft-full-"));
        try {
          await saveAdapter(peft, dir, { fs, adapter: "a" });
          const reader = await openSafetensors(fs, fs.join(dir, ADAPTER_WEIGHTS));
          const keys = reader.names().sort();
          await reader.close();
          const trainedPaths = model.uniqueParameters().filter(([, t]) => state.trainedBase.has(t)).map(([p]) => `base_model.model.${p}`);
          assert.equal(keys, trainedPaths.sort(), "one key per trained tensor");
          assert.is(keys.includes("base_model.model.shared.weight"), !("freezeEmbeddings" in config));
          assert.not.ok(keys.some((k) => k.includes("lm_head") || k.includes("embed_tokens")), "tied aliases are not stored twice");
          const fresh = await load("tiny-v1_0-relu-tied", backend);
          const freshPeft = new PeftModel(fresh);
          await loadAdapter(freshPeft, dir, { fs, name: "a" });
          const byPath = new Map(fresh.uniqueParameters());
          for (const [path, t] of model.uniqueParameters()) {
            assert.equal(Array.from(await byPath.get(path)!.data()), Array.from(await t.data()), `${path} after load`);
          }
          freshPeft.dispose();
          fresh.dispose();
        } finally {
          await rm(dir, { recursive: true });
        }
        optimizer.dispose();
        peft.dispose();
        model.dispose();
      }
    });
  }

  s("invalid config raises PluginConfigError naming the field", () => {
    try {
      cfg({ freezeEmbeddings: "no" });
    } catch (e) {
      assert.instance(e, PluginConfigError);
      assert.is((e as PluginConfigError).field, "freezeEmbeddings");
      return;
    }
    assert.unreachable("expected a PluginConfigError");
  });

  s.run();
}
