/**
 * Fixtures of the training suites: a synthetic SST-2 task written in GLUE's file layout, the real tiny
 * T5 from ../shared/data (it has a tokenizer; its weights are ~4e-4, so losses barely move, which is fine
 * for checking mechanics), and a short run's options.
 */
import type { TrainConfigInput } from "../../core/train/config.ts";
import { writeSyntheticSst2 } from "../../datasets/glue/synthetic.ts";
import { hostFiles } from "../../runners/host-files.ts";
import { sharedDataDir } from "../harness/data.ts";

export function tinyModelDir(): string {
  return `${sharedDataDir()}/tiny-random-t5`;
}

/** Writes a small synthetic SST-2 (train 96, dev 24 rows) under `dir`; returns `dir`. */
export async function syntheticGlue(dir: string): Promise<string> {
  await writeSyntheticSst2(await hostFiles(), { dir, train: 96, validation: 24, seed: 3 });
  return dir;
}

/** A run of a few steps on the tiny model: every mechanism (accumulation, eval, checkpoints) exercised. */
export function shortRun(data: string, out: string, overrides: Partial<TrainConfigInput> = {}): TrainConfigInput {
  return {
    model: tinyModelDir(),
    task: "sst2",
    data,
    out,
    method: "krona",
    methodConfig: { targets: ["q", "v"] },
    maxSteps: 6,
    batchSize: 8,
    gradientAccumulation: 2,
    lr: 5e-3,
    warmup: 2,
    evalEvery: 3,
    checkpointEvery: 2,
    evalBatchSize: 12,
    seed: 7,
    ...overrides,
  } as TrainConfigInput;
}
