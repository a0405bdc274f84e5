/**
 * T5 against the independent PyTorch reference (scripts/goldens/t5_reference.py, float64): loss, logits,
 * every parameter's gradient and greedy generations of two tiny random checkpoints (v1.0 relu + tied
 * embeddings, 3 decoder layers ≠ 2 encoder layers; v1.1 gated-gelu, untied, 32 buckets / distance 128,
 * d_kv·heads ≠ d_model) with padding in the batch, and of the real hf-internal-testing/tiny-random-t5.
 * Also: relative position buckets, gradient checkpointing, and a T5-small-shaped step on the backend.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Backend } from "../../core/backend/backend.ts";
import { parseT5Config } from "../../core/io/t5-config.ts";
import { generateGreedy } from "../../core/models/t5/generate.ts";
import { CheckpointError, openCheckpoint, writeSafetensors } from "../../core/io/safetensors.ts";
import { createT5, loadT5, saveT5 } from "../../core/models/t5/load.ts";
import { relativePositionBucket } from "../../core/models/t5/position-bias.ts";
import { manualSeed } from "../../core/tensor/random.ts";
import { tidy } from "../../core/tensor/scope.ts";
import { hostFiles } from "../../runners/host-files.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { assertClose } from "../harness/check-op.ts";
import { sharedDataDir } from "../harness/data.ts";
import { expectError } from "../harness/expect.ts";

interface Golden {
  readonly inputIds: number[][];
  readonly attentionMask: number[][];
  readonly labels: number[][];
  readonly loss: number;
  readonly logitsShape: number[];
  readonly logits: number[];
  readonly grads: Record<string, number[]>;
  readonly generate: { readonly maxNewTokens: number; readonly ids: number[][] };
}

const goldenDir = new URL("../goldens/t5/", import.meta.url);
const path = (url: URL) => decodeURIComponent(url.pathname);

async function readJson<T>(url: URL): Promise<T> {
  const fs = await hostFiles();
  return JSON.parse(await fs.readText(path(url))) as T;
}

// float32 forward through a few layers vs float64: stated as 1e-4 relative to the tensor's scale
const LOGITS = { rtol: 1e-4, atol: 1e-4 };
// Gradients accumulate more float32 rounding (products of several layers' Jacobians). The goldens'
// weights (std 0.5) saturate attention softmaxes, where dx = y ⊙ (g − Σ g⊙y) cancels: the CPU backend
// (float64 accumulators) stays within 1e-5 of scale, pure float32 WebGPU kernels within ~7e-4 (measured
// on decoder.block.0 self-attention k and its relative bias; every other tensor ≤ 1e-4).
const gradTolerance = (backend: Backend) => ({ rtol: 1e-3, atol: backend.name === "webgpu" ? 1e-3 : 1e-4 });

async function checkGolden(backend: Backend, modelDir: string, golden: Golden, gradNames?: readonly string[]): Promise<void> {
  const fs = await hostFiles();
  const model = (await loadT5(modelDir, { backend, fs })).eval();
  try {
    const { loss, logits } = tidy(() => model.forward({ inputIds: golden.inputIds, attentionMask: golden.attentionMask, labels: golden.labels }));
    assert.equal([...logits.shape], golden.logitsShape);
    const lossValue = await loss!.item();
    assert.ok(Math.abs(lossValue - golden.loss) <= 1e-4 * Math.abs(golden.loss), `loss ${lossValue} vs golden ${golden.loss}`);
    assertClose(await logits.data(), golden.logits, LOGITS, `${modelDir} logits on ${backend.name}`);
    loss!.backward();
    const params = new Map(model.namedParameters());
    for (const name of gradNames ?? Object.keys(golden.grads)) {
      const p = params.get(name);
      assert.ok(p, `model has parameter ${name}`);
      assert.ok(p!.grad, `${name} got a gradient`);
      assertClose(await p!.grad!.data(), golden.grads[name]!, gradTolerance(backend), `${modelDir} gradient of ${name} on ${backend.name}`);
    }
    loss!.dispose();
    logits.dispose();
    const generated = await generateGreedy(model, golden.inputIds, golden.attentionMask, { maxNewTokens: golden.generate.maxNewTokens });
    assert.equal(generated, golden.generate.ids, "greedy generation");
  } finally {
    model.dispose();
  }
}

export function register(backends: readonly NamedBackend[]): void {
  const s = suite("t5");

  s("relative position buckets equal the reference's float32 computation (3606 positions)", async () => {
    const tables = await readJson<{ numBuckets: number; maxDistance: number; bidirectional: boolean; from: number; buckets: number[] }[]>(new URL("buckets.json", goldenDir));
    for (const t of tables) {
      const ours = t.buckets.map((_, i) => relativePositionBucket(t.from + i, t.bidirectional, t.numBuckets, t.maxDistance));
      assert.equal(ours, t.buckets, `${t.numBuckets} buckets, max distance ${t.maxDistance}, ${t.bidirectional ? "bidirectional" : "causal"}`);
    }
  });

  for (const { name, backend } of backends) {
    for (const model of ["tiny-v1_0-relu-tied", "tiny-v1_1-gated-gelu"]) {
      s(`${model}: loss, logits, all gradients and generation = reference on ${name}`, async () => {
        const dir = new URL(`${model}/`, goldenDir);
        await checkGolden(backend, path(dir).replace(/\/$/, ""), await readJson<Golden>(new URL("golden.json", dir)));
      });
    }

    s(`real tiny-random-t5 (shared data) = reference on ${name}`, async () => {
      const golden = await readJson<Golden>(new URL("tiny-random-t5.golden.json", goldenDir));
      const fs = await hostFiles();
      await checkGolden(backend, fs.join(sharedDataDir(), "tiny-random-t5"), golden);
    });

    s(`save/load round trip, tied names stored under any alias, missing and misshapen tensors on ${name}`, async () => {
      const fs = await hostFiles();
      const { mkdtemp, rm } = await import("node:fs/promises");
      const { tmpdir } = await import("node:os");
      const tmp = await mkdtemp(fs.join(tmpdir(), "webpeft-t5-"));
      try {
        const source = path(new URL("tiny-v1_0-relu-tied/", goldenDir)).replace(/\/$/, "");
        const golden = await readJson<Golden>(new URL("tiny-v1_0-relu-tied/golden.json", goldenDir));
        const model = await loadT5(source, { backend, fs });
        await saveT5(model, fs.join(tmp, "saved"), fs);
        const lossOf = async (dir: string) => {
          const m = (await loadT5(dir, { backend, fs })).eval();
          const loss = tidy(() => m.forward({ inputIds: golden.inputIds, attentionMask: golden.attentionMask, labels: golden.labels }).loss!);
          const v = await loss.item();
          loss.dispose();
          m.dispose();
          return v;
        };
        const reference = await lossOf(source);
        assert.is(await lossOf(fs.join(tmp, "saved")), reference, "bit-identical after save/load");
        // the shared embedding stored only as decoder.embed_tokens.weight (plus a redundant lm_head.weight)
        const reader = await openCheckpoint(fs, fs.join(tmp, "saved"));
        const renamed: Record<string, { dtype: "F32"; shape: readonly number[]; data: Float32Array }> = {};
        for (const n of reader.names()) {
          const target = n === "shared.weight" ? "decoder.embed_tokens.weight" : n;
          renamed[target] = { dtype: "F32", shape: reader.info(n).shape, data: await reader.readF32(n) };
        }
        renamed["lm_head.weight"] = renamed["decoder.embed_tokens.weight"]!;
        const aliasDir = fs.join(tmp, "alias");
        await fs.mkdirp(aliasDir);
        await writeSafetensors(fs, fs.join(aliasDir, "model.safetensors"), renamed);
        await fs.writeAtomic(fs.join(aliasDir, "config.json"), [new TextEncoder().encode(await fs.readText(fs.join(source, "config.json")))]);
        assert.is(await lossOf(aliasDir), reference, "tied weight found under its alias");
        // a missing tensor and a misshapen one are typed errors naming the tensor
        const broken = { ...renamed };
        delete broken["encoder.block.1.layer.1.DenseReluDense.wo.weight"];
        await writeSafetensors(fs, fs.join(aliasDir, "model.safetensors"), broken);
        await expectError(() => loadT5(aliasDir, { backend, fs }), CheckpointError, /encoder\.block\.1\.layer\.1\.DenseReluDense\.wo\.weight/);
        const wrong = { ...renamed, "encoder.final_layer_norm.weight": { dtype: "F32" as const, shape: [3], data: new Float32Array(3) } };
        await writeSafetensors(fs, fs.join(aliasDir, "model.safetensors"), wrong);
        await expectError(() => loadT5(aliasDir, { backend, fs }), CheckpointError, /encoder\.final_layer_norm\.weight.*\[3\].*\[16\]/);
        await reader.close();
        model.dispose();
      } finally {
        await rm(tmp, { recursive: true });
      }
    });

    s(`gradient checkpointing gives the same gradients, dropout included, on ${name}`, async () => {
      const fs = await hostFiles();
      const dir = path(new URL("tiny-v1_0-relu-tied/", goldenDir)).replace(/\/$/, "");
      const golden = await readJson<Golden>(new URL("tiny-v1_0-relu-tied/golden.json", goldenDir));
      const grads: Float32Array[][] = [];
      for (const checkpointing of [false, true]) {
        const model = (await loadT5(dir, { backend, fs })).train();
        model.gradientCheckpointing = checkpointing;
        manualSeed(123);
        const loss = tidy(() => model.forward({ inputIds: golden.inputIds, attentionMask: golden.attentionMask, labels: golden.labels }).loss!);
        loss.backward();
        grads.push(await Promise.all(model.uniqueParameters().map(async ([, p]) => (await p.grad!.data()) as Float32Array)));
        loss.dispose();
        model.dispose();
      }
      grads[0]!.forEach((g, i) => assertClose(grads[1]![i]!, g, { rtol: 1e-5, atol: 1e-6 }, `parameter ${i} with checkpointing`));
    });

    s(`a T5-small-shaped model (d_model 512, 6+6 layers, vocab 32128) trains a step on ${name}`, async () => {
      const config = parseT5Config({ model_type: "t5", architectures: ["T5ForConditionalGeneration"], vocab_size: 32128, d_model: 512, d_kv: 64, d_ff: 2048, num_layers: 6, num_heads: 8 }, "t5-small shape");
      const model = createT5(config, { backend, seed: 3 });
      const before = backend.stats().liveBytes;
      const B = 2, S = 16, T = 4;
      const ids = Array.from({ length: B }, (_, b) => Array.from({ length: S }, (_, i) => 2 + ((b * 131 + i * 17) % 32000)));
      const labels = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, i) => 2 + ((b * 7 + i * 11) % 32000)));
      const loss = tidy(() => model.forward({ inputIds: ids, labels }).loss!);
      loss.backward();
      const value = await loss.item();
      // a randomly initialised T5 predicts nearly uniformly: loss ≈ ln(32128) ≈ 10.4 (HF init keeps logits small)
      assert.ok(Number.isFinite(value) && Math.abs(value - Math.log(32128)) < 3, `loss ${value}`);
      const gradBytes = model.uniqueParameters().reduce((acc, [, p]) => acc + p.size * 4, 0);
      loss.dispose();
      await backend.sync();
      assert.ok(backend.stats().liveBytes <= before + gradBytes * 1.2 + 1e6, "after the step only parameters and gradients remain");
      model.dispose();
    });
  }
  s.run();
}
