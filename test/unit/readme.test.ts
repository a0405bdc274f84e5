/**
 * The README's example must run as written (Node): its imports are pointed at the sources and it runs on
 * this host's WebGPU; its printed gradients are checked against values worked out by hand below.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { NamedBackend } from "../harness/backends.ts";

export function register(backends: readonly NamedBackend[]): void {
  const s = suite("README example");
  if (!backends.some((b) => b.name === "webgpu")) return;

  s("runs and prints the loss and gradients", async () => {
    const { readFile, writeFile, mkdtemp, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
    const example = readme.split("## Example")[1]!.match(/```ts\n([\s\S]*?)```/)![1]!;
    const source = example
      .replace(`from "webpeft/node"`, `from ${JSON.stringify(new URL("../../runners/node/mod.ts", import.meta.url).href)}`)
      .replace(`from "webpeft"`, `from ${JSON.stringify(new URL("../../core/mod.ts", import.meta.url).href)}`);
    assert.ok(!source.includes(`"webpeft`), "every import was redirected");
    const dir = await mkdtemp(join(tmpdir(), "webpeft-readme-"));
    const file = join(dir, "example.mts"); // .mts: an ES module wherever it lies
    await writeFile(file, source);
    const printed: unknown[][] = [];
    const log = console.log;
    console.log = (...args: unknown[]) => void printed.push(args);
    try {
      await import(file);
    } finally {
      console.log = log;
      await rm(dir, { recursive: true });
    }
    const [, loss, , dx, , dw] = printed[0]!;
    // y = x·w = [[4.5, -0.5], [9.5, -2]]; loss = mean(gelu(y)²), checked against a float64 evaluation
    const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    const y = [4.5, -0.5, 9.5, -2];
    const expected = y.reduce((acc, v) => acc + gelu(v) ** 2, 0) / 4;
    assert.ok(Math.abs((loss as number) - expected) < 1e-5 * expected, `loss ${loss} vs ${expected}`);
    assert.is((dx as number[][]).length, 2);
    assert.is((dw as number[][])[1]!.length, 2);
  });

  s.run();
}
