/**
 * The README's examples must run as written: each ```ts block of the named sections is run with its
 * imports pointed at the sources (and ../shared/data at the configured data folder), on this host's
 * WebGPU, and what it prints is checked against values worked out independently.
 */
import { runSnippet } from "../harness/run-snippet.ts";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { NamedBackend } from "../harness/backends.ts";
import { sharedDataDir } from "../harness/data.ts";
import { readmeBlocks, rewriteDataPaths, rewriteImports } from "../pack/readme-blocks.ts";

/** Where each of the package's entry points lives in the sources. */
const SOURCE_ENTRIES: Readonly<Record<string, string>> = {
  webpeft: "../../core/mod.ts",
  "webpeft/node": "../../runners/node/mod.ts",
  "webpeft/plugins": "../../plugins/mod.ts",
  "webpeft/datasets": "../../datasets/glue/mod.ts",
};

/**
 * Runs the first ```ts block under `heading` and returns what it printed with console.log. Paths under
 * "out/" are redirected into a temporary folder.
 */
async function runReadmeSnippet(heading: string): Promise<unknown[][]> {
  const { readFile } = await import("node:fs/promises");
  const { fileURLToPath } = await import("node:url");
  const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
  const block = readmeBlocks(readme).find((b) => b.heading === heading);
  assert.ok(block, `README has a ts block under the heading "${heading}"`);
  const imported = rewriteImports(block!.code, (spec) => {
    const entry = SOURCE_ENTRIES[spec];
    if (entry) return new URL(entry, import.meta.url).href;
    return spec === "valibot" ? import.meta.resolve("valibot") : undefined;
  });
  const source = rewriteDataPaths(imported, { sharedData: sharedDataDir(), goldens: fileURLToPath(new URL("../goldens", import.meta.url)) }).code;
  assert.ok(!source.includes(`"webpeft`), "every import was redirected");
  return runSnippet(source, "readme");
}

export function register(backends: readonly NamedBackend[]): void {
  const s = suite("README examples");
  if (!backends.some((b) => b.name === "webgpu")) return;

  s("Example: prints the loss and gradients", async () => {
    const printed = await runReadmeSnippet("Example");
    const [, loss, , dx, , dw] = printed[0]!;
    // y = x·w = [[4.5, -0.5], [9.5, -2]]; loss = mean(gelu(y)²), checked against a float64 evaluation
    const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    const expected = [4.5, -0.5, 9.5, -2].reduce((acc, v) => acc + gelu(v) ** 2, 0) / 4;
    assert.ok(Math.abs((loss as number) - expected) < 1e-5 * expected, `loss ${loss} vs ${expected}`);
    assert.is((dx as number[][]).length, 2);
    assert.is((dw as number[][])[1]!.length, 2);
  });

  s("T5: loads the tiny checkpoint, computes a loss and generates", async () => {
    const printed = await runReadmeSnippet("T5 from a Hugging Face checkpoint");
    const [, loss, , shape] = printed[0]!;
    // an untrained 1302-token model: a loss near ln(1302) ≈ 7.2
    assert.ok(Number.isFinite(loss) && Math.abs((loss as number) - Math.log(1302)) < 2, `loss ${loss}`);
    assert.is((shape as number[]).length, 3);
    assert.is((printed[1]![0] as string[]).length, 2, "one decoded string per input");
  });

  s("PEFT methods: a LoRA adapter trains (the loss falls) and is saved in HF PEFT's layout", async () => {
    const printed = await runReadmeSnippet("PEFT methods (plugins)");
    const losses = printed.map((line) => line[3] as number);
    assert.is(losses.length, 5);
    assert.ok(losses[4]! < losses[0]!, `loss ${losses[0]} → ${losses[4]}`);
  });

  s("Fine-tune your own: the Promise API trains, evaluates, and reports the best adapter", async () => {
    const printed = await runReadmeSnippet("Fine-tune your own");
    const evals = printed.filter((line) => line[0] === "step");
    assert.equal(evals.map((line) => line[1]), [6, 12]);
    for (const line of evals) assert.type((line[2] as { accuracy: number }).accuracy, "number");
    const last = printed.at(-1)!;
    assert.is(last[0], "best");
    assert.is(last[1], "accuracy");
    assert.ok((last[2] as number) >= 0 && (last[2] as number) <= 1);
  });

  s("Replaying a step: a captured KronA step trains, replays from its third run, and says so", async () => {
    const printed = await runReadmeSnippet("Replaying a step");
    const losses = printed.filter((line) => line[0] === "step").map((line) => line[2] as number);
    assert.is(losses.length, 5);
    assert.ok(losses.every(Number.isFinite) && losses[4]! < losses[0]!, `loss ${losses[0]} → ${losses[4]}`);
    assert.equal(printed.at(-1)![0], { eager: 2, recorded: 2, replayed: 3, programs: 1, lastReason: null });
  });

  s("Your own method in one file: the (IA)³ plugin registers, injects and counts", async () => {
    const printed = await runReadmeSnippet("Your own method in one file");
    const counts = printed[0]![0] as { trainable: number; total: number };
    // tiny-random-t5: k and v (32 outputs) in 15 attention blocks, wo's 37 inputs in 10 FFN blocks
    assert.is(counts.trainable, 2 * 32 * 15 + 37 * 10);
    assert.is(counts.total, 127712 + counts.trainable);
  });

  s.run();
}
