/**
 * The plugin framework around the plugins: HF PEFT adapter files made by the independent reference,
 * LoRA's exact HF key layout, composing adapters, config errors, freezing, mergeAndUnload → saveT5.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadAdapter, saveAdapter } from "../../core/peft/adapter-files.ts";
import { AdapterError, PluginConfigError } from "../../core/peft/errors.ts";
import { PeftModel } from "../../core/peft/peft-model.ts";
import { openSafetensors } from "../../core/io/safetensors.ts";
import { loadT5, saveT5 } from "../../core/models/t5/load.ts";
import { tidy } from "../../core/tensor/scope.ts";
import "../../plugins/mod.ts";
import { hostFiles } from "../../runners/host-files.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { assertClose } from "../harness/check-op.ts";
import { expectError, tempDir } from "../harness/expect.ts";
import { logitsOf, tinyT5 } from "../harness/plugins.ts";

const goldens = new URL("../goldens/t5/", import.meta.url);
const pathOf = (relative: string) => decodeURIComponent(new URL(relative, goldens).pathname).replace(/\/$/, "");
const BATCH = { inputIds: [[58, 89, 61, 50, 1]], attentionMask: [[1, 1, 1, 1, 1]], labels: [[68, 88, 1]] };


export function register(backends: readonly NamedBackend[]): void {
  const s = suite("plugin framework");

  for (const { name, backend } of backends) {
    for (const adapter of ["lora-q-v", "lokr-q-v"]) {
      s(`HF PEFT ${adapter} adapter made by the reference gives the reference's loss on ${name}`, async () => {
        const fs = await hostFiles();
        const dir = pathOf(`adapters/${adapter}/`);
        const golden = JSON.parse(await fs.readText(fs.join(dir, "golden.json"))) as { loss: number } & typeof BATCH;
        const peft = new PeftModel(await tinyT5(backend));
        await loadAdapter(peft, dir, { fs });
        const loss = tidy(() => peft.forward(golden).loss!);
        const value = await loss.item();
        assert.ok(Math.abs(value - golden.loss) <= 1e-4 * golden.loss, `loss ${value} vs reference ${golden.loss}`);
        loss.dispose();
        peft.dispose();
        peft.base.dispose();
      });
    }

    s(`LoRA adapter files use HF PEFT's exact keys and config fields on ${name}`, async () => {
      const fs = await hostFiles();
      const { dir, cleanup } = await tempDir("webpeft-lora-");
      try {
        const peft = new PeftModel(await tinyT5(backend));
        peft.addAdapter("default", "lora", { r: 2, alpha: 4, targets: ["q", "v"], layers: [0] });
        await saveAdapter(peft, dir, { fs });
        const config = JSON.parse(await fs.readText(fs.join(dir, "adapter_config.json")));
        assert.is(config.peft_type, "LORA");
        assert.equal([config.r, config.lora_alpha, config.target_modules, config.layers_to_transform], [2, 4, ["q", "v"], [0]]);
        const reader = await openSafetensors(fs, fs.join(dir, "adapter_model.safetensors"));
        const keys = reader.names().sort();
        assert.ok(keys.includes("base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight"));
        assert.ok(keys.includes("base_model.model.decoder.block.0.layer.1.EncDecAttention.v.lora_B.weight"));
        assert.equal(reader.info("base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight").shape, [2, 16]);
        assert.equal(reader.info("base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_B.weight").shape, [16, 2]);
        assert.is(keys.length, 4 * 3, "q and v of 3 attention blocks in layer 0 (1 encoder, 2 decoder)");
        await reader.close();
        peft.dispose();
        peft.base.dispose();
      } finally {
        await cleanup();
      }
    });

    s(`adapters compose: two active LoRAs add up, setActive switches, disable removes both on ${name}`, async () => {
      const peft = new PeftModel(await tinyT5(backend));
      const base = await logitsOf(peft, BATCH);
      peft.addAdapter("a", "lora", { r: 2 }, { seed: 1 });
      peft.addAdapter("b", "lora", { r: 3, targets: ["k", "o"] }, { seed: 2 });
      // make both non-trivial
      for (const n of ["a", "b"]) {
        for (const [path, t] of peft.adapter(n).parameters) {
          if (path.endsWith("lora_B.weight")) backend.upload(t.bufferFor("test"), Float32Array.from({ length: t.size }, (_, i) => Math.sin(i + path.length) * 0.2));
        }
      }
      peft.setActive("a");
      const onlyA = await logitsOf(peft, BATCH);
      peft.setActive("b");
      const onlyB = await logitsOf(peft, BATCH);
      peft.setActive("a", "b");
      const both = await logitsOf(peft, BATCH);
      assert.ok(onlyA.some((v, i) => v !== base[i]) && onlyB.some((v, i) => v !== onlyA[i]), "each adapter changes the output");
      peft.merge();
      assertClose(await logitsOf(peft, BATCH), both, { rtol: 1e-5, atol: 1e-5 }, "both merged = both as hooks");
      peft.disable();
      assertClose(await logitsOf(peft, BATCH), base, { rtol: 1e-6, atol: 1e-6 }, "disabled (and unmerged) = base");
      peft.dispose();
      peft.base.dispose();
    });

    s(`frozen base weights get no gradients; mergeAndUnload → saveT5 → loadT5 keeps the merged output on ${name}`, async () => {
      const fs = await hostFiles();
      const peft = new PeftModel(await tinyT5(backend));
      peft.addAdapter("default", "lora", { r: 2 }, { seed: 3 });
      for (const [path, t] of peft.adapter("default").parameters) {
        if (path.endsWith("lora_B.weight")) backend.upload(t.bufferFor("test"), Float32Array.from({ length: t.size }, (_, i) => Math.cos(i) * 0.1));
      }
      const loss = tidy(() => peft.forward(BATCH).loss!);
      loss.backward();
      for (const [path, t] of peft.base.uniqueParameters()) assert.is(t.grad, null, `${path} has no gradient buffer`);
      for (const [path, t] of peft.adapter("default").parameters) assert.ok(t.grad, `${path} has a gradient`);
      loss.dispose();
      const withAdapter = await logitsOf(peft, BATCH);
      const merged = peft.mergeAndUnload();
      assertClose(await logitsOf(merged, BATCH), withAdapter, { rtol: 1e-5, atol: 1e-5 }, "merged plain model");
      const { dir, cleanup } = await tempDir("webpeft-merged-");
      try {
        await saveT5(merged, dir, fs);
        const reloaded = (await loadT5(dir, { backend, fs })).eval();
        assert.equal(Array.from(await logitsOf(reloaded, BATCH)), Array.from(await logitsOf(merged, BATCH)), "saved merged checkpoint reloads bit-exactly");
        reloaded.dispose();
      } finally {
        await cleanup();
      }
      merged.dispose();
    });
  }

  s("bad configs name the plugin, the field and the module", async () => {
    const { reference } = await import("../harness/backends.ts");
    const peft = new PeftModel(await tinyT5(reference));
    await expectError(() => peft.addAdapter("x", "lora", { r: 0 }), PluginConfigError, /lora: r: .*(0)/);
    await expectError(() => peft.addAdapter("x", "lora", { targets: ["qq"] }), PluginConfigError, /lora: targets: .*"qq".*matches no module/);
    await expectError(() => peft.addAdapter("x", "lora", { targets: ["DenseReluDense"] }), PluginConfigError, /DenseReluDense is a feed-forward block.*Linear/);
    await expectError(() => peft.addAdapter("x", "lora", { targets: ["q"], layers: [9] }), PluginConfigError, /matches no module in layers \[9\]/);
    await expectError(() => peft.addAdapter("x", "nosuch", {}), PluginConfigError, /no plugin named "nosuch"/);
    await expectError(() => peft.setActive("missing"), AdapterError, /adapter "missing": no such adapter/);
    peft.addAdapter("ok", "lora", {});
    await expectError(() => peft.addAdapter("ok", "lora", {}), AdapterError, /exists already/);
    assert.is(peft.adapterNames().length, 1, "failed additions left nothing behind");
    peft.dispose();
    peft.base.dispose();
  });

  s.run();
}
