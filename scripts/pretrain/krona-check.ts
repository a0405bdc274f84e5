/**
 * Sanity check of the shipped model as a base for PEFT: fine-tunes a KronA adapter (base frozen) on the
 * synthetic SST-2 task (datasets/glue/synthetic.ts, written to the ignored work folder and read back with
 * the GLUE reader, T5 text format "sst2 sentence: …" → "positive" / "negative"), then reports the
 * validation accuracy of greedy generations.
 *
 *   npx tsx scripts/pretrain/krona-check.ts [--model runners/demo/t5-mini] [--steps 150] [--batch 16] [--lr 5e-3]
 *                                           [--random]   (same architecture, random weights: the baseline)
 *                                           [--config '{"scale": 4}']   (more KronA settings)
 */
import "../../plugins/mod.ts";
import { PeftModel } from "../../core/peft/peft-model.ts";
import { AdamW } from "../../core/optim/adamw.ts";
import { learningRateSchedule } from "../../core/optim/schedule.ts";
import { tidy } from "../../core/tensor/scope.ts";
import { loadTokenizer } from "../../core/io/tokenizer.ts";
import { readT5Config } from "../../core/io/t5-config.ts";
import { createT5, loadT5 } from "../../core/models/t5/load.ts";
import { loadGlue } from "../../datasets/glue/read.ts";
import { formatT5, parsePrediction } from "../../datasets/glue/format.ts";
import { writeSyntheticSst2 } from "../../datasets/glue/synthetic.ts";
import { SeededRandom } from "../../datasets/glue/random.ts";
import { createHostWebGPUBackend } from "../../runners/host.ts";
import { nodeFiles } from "../../runners/node/files.ts";

const argv = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
};

const fs = nodeFiles();
const modelDir = option("model", "runners/demo/t5-mini");
const steps = Number(option("steps", "150"));
const batchSize = Number(option("batch", "16"));
const lr = Number(option("lr", "5e-3"));
const targets = option("targets", "q,k,v,o,wi,wo").split(",");
const dataDir = option("data", ".cache/pretrain/krona-check");

const backend = await createHostWebGPUBackend();
const tokenizer = await loadTokenizer(fs, modelDir);
const base = argv.includes("--random")
  ? createT5(await readT5Config(fs, fs.join(modelDir, "config.json")), { backend, seed: 7 })
  : await loadT5(modelDir, { backend, fs });
for (const [, p] of base.uniqueParameters()) p.requiresGrad = false;
const peft = new PeftModel(base);
peft.addAdapter("sst2", "krona", { targets, ...(JSON.parse(option("config", "{}")) as object) });
const counts = peft.parameterCounts();
console.log(`${argv.includes("--random") ? "random-init" : modelDir} + KronA on ${targets.join(",")}: ${counts.trainable} trainable of ${counts.total} (${counts.percent.toFixed(2)}%)`);

await writeSyntheticSst2(fs, { dir: dataDir, train: 2000, validation: 200 });
const train = (await loadGlue(fs, { task: "sst2", split: "train", dir: dataDir })).examples.map((e) => formatT5("sst2", e));
const dev = (await loadGlue(fs, { task: "sst2", split: "validation", dir: dataDir })).examples.map((e) => formatT5("sst2", e));

async function accuracy(): Promise<number> {
  peft.eval();
  let correct = 0;
  for (let i = 0; i < dev.length; i += 50) {
    const rows = dev.slice(i, i + 50);
    const batch = tokenizer.encodeBatch(rows.map((r) => r.input));
    const ids = await peft.generate(batch.inputIds, batch.attentionMask, { maxNewTokens: 4 });
    rows.forEach((r, k) => {
      const predicted = parsePrediction("sst2", tokenizer.decode(ids[k]!, { skipSpecialTokens: true }));
      if (predicted >= 0 && predicted === parsePrediction("sst2", r.target!)) correct++;
    });
  }
  return correct / dev.length;
}

const before = await accuracy();
console.log(`validation accuracy before: ${(100 * before).toFixed(1)}%`);
const optimizer = new AdamW(peft.trainableParameters().map(([, p]) => p), { lr, weightDecay: 0 });
const schedule = learningRateSchedule("linear", { lr, warmupSteps: 10, totalSteps: steps });
const random = new SeededRandom(11);
const start = performance.now();
peft.train();
let window = 0;
for (let step = 0; step < steps; step++) {
  const rows = Array.from({ length: batchSize }, () => train[random.int(train.length)]!);
  const inputs = tokenizer.encodeBatch(rows.map((r) => r.input));
  const labels = tokenizer.encodeBatch(rows.map((r) => r.target!)).inputIds.map((row) => row.map((id) => (id === tokenizer.padId ? -100 : id)));
  const loss = tidy(() => peft.forward({ inputIds: inputs.inputIds, attentionMask: inputs.attentionMask, labels }).loss!);
  loss.backward();
  optimizer.step(schedule(step));
  optimizer.zeroGrad();
  window += await loss.item();
  loss.dispose();
  if ((step + 1) % 25 === 0) {
    console.log(`step ${step + 1}/${steps} loss ${(window / 25).toFixed(4)} (${((performance.now() - start) / 1000).toFixed(0)} s)`);
    window = 0;
  }
}
const after = await accuracy();
console.log(`validation accuracy after ${steps} steps: ${(100 * after).toFixed(1)}% (training ${((performance.now() - start) / 1000).toFixed(0)} s)`);
