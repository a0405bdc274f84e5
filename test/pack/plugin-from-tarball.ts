/**
 * A plugin written outside the repository passes the conformance kit against the published package
 * (`npm run test:plugin-pack`): the first example of plugins/README.md ((IA)³, which ends in
 * `checkPlugin`) is written into scratch projects that know webpeft only as a user does —
 *
 *   Node: `npm init -y` in a temporary folder, the `npm pack` tarball and valibot installed, the plugin
 *         file run with `node` (imports `webpeft`, `webpeft/testing`);
 *   Deno: a deno.json mapping `@webpeft/webpeft` to `jsr:@webpeft/webpeft` with `links` to the files the
 *         JSR package would hold, the plugin file run with `deno run` (imports `@webpeft/webpeft`,
 *         `@webpeft/webpeft/testing`).
 *
 * Each run must print the kit's "conformance N" line. Options: WEBPEFT_PACK_RUNTIMES=node,deno,
 * WEBPEFT_PACK_KEEP=1, DENO. Exits 1 on any failure.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { denoSpecifier, readmeBlocks, rewriteImports } from "./readme-blocks.ts";
import { DENO_RUN_FLAGS_FOR_PLUGIN, copyJsrPackage, run, step } from "./scratch.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const runtimes = (process.env.WEBPEFT_PACK_RUNTIMES ?? "node,deno").split(",").map((r) => r.trim());
const deno = process.env.DENO ?? join(repo, "node_modules/.bin/deno");

async function main(): Promise<number> {
  const started = performance.now();
  const guide = await readFile(join(repo, "plugins/README.md"), "utf8");
  const code = readmeBlocks(guide)[0]!.code;
  if (!code.includes("checkPlugin(")) throw new Error("plugins/README.md's first block no longer runs the kit");
  const work = await mkdtemp(join(tmpdir(), "webpeft-plugin-pack-"));
  const results: [string, boolean, number][] = [];
  try {
    await step("build", "npm", ["run", "build"], repo);
    const report = await step("pack", "npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], repo);
    const packed = JSON.parse(report.slice(report.indexOf("["))) as [{ filename: string }];
    const tarball = join(work, packed[0].filename);
    const pkg = JSON.parse(await readFile(join(repo, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    if (runtimes.includes("node")) {
      const node = join(work, "node-project");
      await mkdir(node);
      await step("scratch project", "npm", ["init", "-y"], node);
      await step("install the tarball", "npm", ["install", "--no-audit", "--no-fund", tarball, `valibot@${pkg.dependencies.valibot}`], node);
      await writeFile(join(node, "ia3.mts"), code);
      const r = await run(process.execPath, ["ia3.mts"], { cwd: node, echo: true });
      results.push(["node", r.ok && /conformance \d+/.test(r.output), r.seconds]);
    }
    if (runtimes.includes("deno")) {
      const jsr = join(work, "jsr-package");
      await copyJsrPackage(jsr);
      const project = join(work, "deno-project");
      await mkdir(project);
      const denoJson = { imports: { "@webpeft/webpeft": "jsr:@webpeft/webpeft@^0.1.0", valibot: `npm:valibot@${pkg.dependencies.valibot}` }, links: [jsr] };
      await writeFile(join(project, "deno.json"), JSON.stringify(denoJson, null, 2) + "\n");
      await writeFile(join(project, "ia3.ts"), rewriteImports(code, denoSpecifier));
      const r = await run(deno, ["run", ...DENO_RUN_FLAGS_FOR_PLUGIN, "ia3.ts"], { cwd: project, echo: true });
      results.push(["deno", r.ok && /conformance \d+/.test(r.output), r.seconds]);
    }
  } finally {
    if (process.env.WEBPEFT_PACK_KEEP === "1") console.error(`scratch folders kept in ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
  for (const [runtime, ok, seconds] of results) console.log(`${runtime}: a plugin outside the repository ${ok ? "passes" : "FAILS"} the conformance kit (${seconds.toFixed(1)} s)`);
  console.log(`(${((performance.now() - started) / 1000).toFixed(0)} s in all)`);
  return results.length > 0 && results.every(([, ok]) => ok) ? 0 : 1;
}

process.exitCode = await main().catch((e: unknown) => {
  console.error(`\nplugin-from-tarball: ${(e as Error).message}`);
  return 1;
});
