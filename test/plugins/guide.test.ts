/**
 * plugins/README.md ("write your own PEFT method") must run as written: each ```ts block is run with its
 * imports pointed at the sources, on the CPU backend, and what it prints is checked against counts worked
 * out by hand.
 */
import { runSnippet } from "../harness/run-snippet.ts";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readmeBlocks, rewriteImports } from "../pack/readme-blocks.ts";

/** Where each of the package's entry points lives in the sources. */
const SOURCE_ENTRIES: Readonly<Record<string, string>> = {
  webpeft: "../../core/mod.ts",
  "webpeft/node": "../../runners/node/mod.ts",
  "webpeft/plugins": "../../plugins/mod.ts",
  "webpeft/testing": "../../core/testing/mod.ts",
};

/** Runs the `index`-th ```ts block of plugins/README.md and returns what it printed with console.log. */
export async function runGuideBlock(index: number): Promise<unknown[][]> {
  const { readFile } = await import("node:fs/promises");
  const guide = await readFile(new URL("../../plugins/README.md", import.meta.url), "utf8");
  const block = readmeBlocks(guide)[index];
  assert.ok(block, `plugins/README.md has a ts block #${index + 1}`);
  const source = rewriteImports(block!.code, (spec) => {
    const entry = SOURCE_ENTRIES[spec];
    if (entry) return new URL(entry, import.meta.url).href;
    return spec === "valibot" ? import.meta.resolve("valibot") : undefined;
  });
  assert.ok(!source.includes(`"webpeft`), "every import was redirected");
  return runSnippet(source, "guide");
}

export function register(): void {
  const s = suite("plugin guide (plugins/README.md)");

  s("every block is a TypeScript block the suite runs", async () => {
    const { readFile } = await import("node:fs/promises");
    const blocks = readmeBlocks(await readFile(new URL("../../plugins/README.md", import.meta.url), "utf8"));
    assert.is(blocks.length, 2);
    assert.ok(blocks.every((b) => b.notRun === undefined));
  });

  s("Example 1: (IA)³ injects, counts and passes the conformance kit", async () => {
    const printed = await runGuideBlock(0);
    // k, v (16 outputs) in 2 + 3 self-attentions and 3 cross-attentions; wo's 24 inputs in 5 FFNs
    assert.equal(printed[0], ["trainable", 2 * 16 * 8 + 24 * 5]);
    assert.equal(printed[1], ["conformance", 2 * 2], "2 configs × (cpu behaviour + float64 gradients)");
  });

  s("Example 2: the Kronecker adapter merges, writes LoKr's config and passes the kit", async () => {
    const printed = await runGuideBlock(1);
    // q, v: 16 → 16, factors (4, 4) ⊗ (4, 4); r = 2 ≥ max(b1, b2)/2, alpha = s·r
    assert.equal(printed[0], ["lokr", 2, 4]);
    assert.equal(printed[1], ["conformance", 2 * 2]);
  });

  s.run();
}
