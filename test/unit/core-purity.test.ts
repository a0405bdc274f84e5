/**
 * core/ must run unchanged on Node, Deno and in browsers: no runtime-specific imports or globals.
 * (The runtime is detected in exactly one place, core/runtime.ts, through globalThis.)
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";

const forbidden: [RegExp, string][] = [
  [/from\s+["']node:/, "a node: import"],
  [/from\s+["'](fs|path|os|url|child_process|process)["']/, "a Node builtin import"],
  [/from\s+["']webgpu["']/, "the Node WebGPU package"],
  [/from\s+["'](jsr|npm):/, "a Deno-specifier import"],
  [/\bDeno\./, "the Deno namespace"],
  [/\bprocess\.(env|argv|exit|stdout|versions)/, "the Node process object"],
  [/\brequire\(/, "CommonJS require"],
];

async function* walk(dir: URL): AsyncGenerator<URL> {
  const { readdir } = await import("node:fs/promises");
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const child = new URL(entry.name + (entry.isDirectory() ? "/" : ""), dir);
    if (entry.isDirectory()) yield* walk(child);
    else if (entry.name.endsWith(".ts")) yield child;
  }
}

export function register(): void {
  const test = suite("core purity");
  test("core/ has no Node-, Deno- or package-specific imports", async () => {
  const { readFile } = await import("node:fs/promises");
  const problems: string[] = [];
  for await (const file of walk(new URL("../../core/", import.meta.url))) {
    const text = await readFile(file, "utf8");
    for (const [pattern, what] of forbidden) {
      if (pattern.test(text)) problems.push(`${file.pathname.split("/core/")[1]}: ${what}`);
    }
  }
  assert.equal(problems, []);
});

  test.run();
}
