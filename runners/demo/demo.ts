/**
 * The embedded demo: `webpeft train` with no arguments fine-tunes the small T5 that ships with the
 * package (runners/demo/t5-mini, pretrained by scripts/pretrain with this project's own loop) with a
 * KronA adapter on a synthetic sentiment task written in SST-2's exact file layout. Nothing is downloaded.
 */
import type { FileAccess } from "../../core/io/files.ts";
import type { TrainConfigInput } from "../../core/train/config.ts";
import { writeSyntheticSst2 } from "../../datasets/glue/synthetic.ts";

/** The shipped model's folder: next to this file in the sources, three levels up from dist/runners/demo/. */
const MODEL_CANDIDATES = ["./t5-mini", "../../../runners/demo/t5-mini"];

function pathOf(relative: string): string {
  const url = new URL(relative, import.meta.url);
  if (url.protocol !== "file:") return url.href;
  // a file URL as a host path (decoded; on Windows without the leading slash)
  const path = decodeURIComponent(url.pathname);
  return /^\/[A-Za-z]:\//.test(path) ? path.slice(1) : path;
}

/** The folder of the shipped pretrained model. */
export async function demoModelDir(fs: FileAccess): Promise<string> {
  for (const candidate of MODEL_CANDIDATES) {
    const dir = pathOf(candidate);
    if (await fs.exists(fs.join(dir, "config.json"))) return dir;
  }
  throw new Error(`the demo model is missing (looked in ${MODEL_CANDIDATES.map(pathOf).join(", ")}); reinstall webpeft`);
}

/** Rows of the demo task: enough to learn negation, small enough for a few minutes on 2 CPU cores. */
export const DEMO_TRAIN_ROWS = 2000;
export const DEMO_EVAL_ROWS = 200;

/** Writes the synthetic task (seeded, byte-identical every time) under `<dir>/SST-2/`; returns `dir`. */
export async function prepareDemoData(fs: FileAccess, dir: string): Promise<string> {
  await writeSyntheticSst2(fs, { dir, train: DEMO_TRAIN_ROWS, validation: DEMO_EVAL_ROWS, seed: 0 });
  return dir;
}

/**
 * The demo run's options (any of them can be overridden by flags). KronA on every attention and
 * feed-forward projection: on a model this small, q and v alone learn too slowly for a few minutes.
 */
export function demoTrainConfig(model: string, data: string, out: string): TrainConfigInput {
  return {
    model,
    task: "sst2",
    data,
    out,
    method: "krona",
    methodConfig: { targets: ["q", "k", "v", "o", "wi", "wo"] },
    // 160 steps: on the shipped model the accuracy passes 0.7 around step 80 and reaches ~0.8 by 160
    // (scripts/pretrain/README.md, "Result"); scripts/check-demo.ts checks it in CI.
    maxSteps: 160,
    batchSize: 16,
    lr: 5e-3,
    warmup: 0.06,
    evalEvery: 20,
    maxSourceLength: 64,
    seed: 42,
  };
}
