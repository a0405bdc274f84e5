/**
 * Every README example, run the way a user meets the package (`npm run test:pack`):
 *
 *   1. `npm run build` (a clean dist/), then `npm pack` into a temporary folder;
 *   2. Node: a scratch project outside the repository (`npm init -y`, then the tarball and valibot
 *      installed from it), each ```ts block of README.md written there as an .mts file and run with
 *      `node` (types stripped by Node itself, so Node ≥ 22.18); the installed `webpeft` bin runs too;
 *   3. Deno: the files the JSR package would hold (deno.json `publish`) copied to a folder, and a scratch
 *      project whose deno.json maps the documented `@webpeft/webpeft` import to `jsr:@webpeft/webpeft`
 *      with `links` pointing at that folder (what a Deno user does before the package is on JSR); each
 *      block runs with `deno run` after the README's Deno rules (imports `webpeft/node` →
 *      `@webpeft/webpeft/deno`, no `nodeGPU`).
 *
 * `../shared/data/…` in a block is the shared real-data folder (WEBPEFT_SHARED_DATA, default
 * ../shared/data beside the repository); `test/goldens/…` is the repository's goldens, which the package
 * does not ship, so such blocks are reported. A block is skipped only with `<!-- not-run: reason -->`
 * just before it, and the reason is printed. Blocks on the GPU use this host's WebGPU adapter.
 *
 * Options (environment): WEBPEFT_PACK_RUNTIMES=node,deno (default both), WEBPEFT_PACK_KEEP=1 keeps the
 * scratch folders, WEBPEFT_PACK_TIMEOUT_S per block (default 300), DENO (default node_modules/.bin/deno).
 * Exits 1 when any block or the CLI fails.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunResult, copyJsrPackage, run, step } from "./scratch.ts";
import { blockLabel, denoSpecifier, dropNodeGPU, readmeBlocks, rewriteDataPaths, rewriteImports, type ReadmeBlock } from "./readme-blocks.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const sharedData = resolve(process.env.WEBPEFT_SHARED_DATA || join(repo, "../shared/data"));
const goldens = join(repo, "test/goldens");
const runtimes = (process.env.WEBPEFT_PACK_RUNTIMES ?? "node,deno").split(",").map((r) => r.trim());
const deno = process.env.DENO ?? join(repo, "node_modules/.bin/deno");
/** What a Deno user grants a README example: files and environment (cache folder, variables); no net. */
export const DENO_RUN_FLAGS = ["--allow-read", "--allow-write", "--allow-env"] as const;

/** "name" → "name.mts"-safe slug. */
function slug(block: ReadmeBlock, index: number): string {
  return `${String(index + 1).padStart(2, "0")}-${blockLabel(block).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "")}`;
}

interface Row {
  readonly label: string;
  node?: RunResult | "not-run" | "-";
  deno?: RunResult | "not-run" | "-";
  notes: string[];
}

function cell(r: Row["node"]): string {
  if (r === undefined || r === "-") return "-";
  if (r === "not-run") return "not run";
  return r.ok ? "ok" : "FAIL";
}

function seconds(r: Row["node"]): string {
  return typeof r === "object" ? r.seconds.toFixed(1) : "";
}

function printTable(rows: readonly Row[]): void {
  const header = ["block", "node", "deno", "node s", "deno s"];
  const body = rows.map((r) => [r.label, cell(r.node), cell(r.deno), seconds(r.node), seconds(r.deno)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cols: readonly string[]) => cols.map((c, i) => (i >= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) console.log(line(b));
  for (const r of rows) for (const n of r.notes) console.log(`  ${r.label}: ${n}`);
}

async function main(): Promise<number> {
  const started = performance.now();
  const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
  if (major < 22 || (major === 22 && minor < 19)) {
    console.error(`Node ${process.versions.node}: the package needs Node ≥ 22.19 (engines); run through scripts/test.sh, which provides one`);
    return 1;
  }
  if (!existsSync(sharedData)) {
    console.error(`shared data not found at ${sharedData}: set WEBPEFT_SHARED_DATA`);
    return 1;
  }
  const blocks = readmeBlocks(await readFile(join(repo, "README.md"), "utf8"));
  const work = await mkdtemp(join(tmpdir(), "webpeft-pack-"));
  const rows: Row[] = [];
  try {
    // 1. The tarball, as `npm publish` would make it: a clean build of dist/ (what prepack runs), then
    // the pack itself without scripts, so its stdout is only the JSON report.
    await step("build", "npm", ["run", "build"], repo);
    const report = await step("pack", "npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], repo);
    const packed = JSON.parse(report.slice(report.indexOf("["))) as [{ filename: string; size: number; entryCount: number }];
    const tarball = join(work, packed[0].filename);
    process.stderr.write(`    ${packed[0].filename}: ${(packed[0].size / 1e6).toFixed(2)} MB, ${packed[0].entryCount} files\n`);
    const pkg = JSON.parse(await readFile(join(repo, "package.json"), "utf8")) as { dependencies: Record<string, string> };

    const node = join(work, "node-project");
    if (runtimes.includes("node")) {
      await mkdir(node);
      await step("scratch project", "npm", ["init", "-y"], node);
      await step("install the tarball", "npm", ["install", "--no-audit", "--no-fund", tarball, `valibot@${pkg.dependencies.valibot}`], node);
    }
    const denoProject = join(work, "deno-project");
    if (runtimes.includes("deno")) {
      const jsr = join(work, "jsr-package");
      const files = await copyJsrPackage(jsr);
      process.stderr.write(`--- JSR package contents: ${files} files\n`);
      await mkdir(denoProject);
      // What a Deno user writes before the package is on JSR: the jsr: import plus `links` to a local copy.
      const denoJson = {
        imports: { "@webpeft/webpeft": "jsr:@webpeft/webpeft@^0.1.0", valibot: `npm:valibot@${pkg.dependencies.valibot}` },
        links: [jsr],
      };
      await writeFile(join(denoProject, "deno.json"), JSON.stringify(denoJson, null, 2) + "\n");
    }

    // 2. Every block, on each runtime.
    for (const [i, block] of blocks.entries()) {
      const row: Row = { label: blockLabel(block), notes: [] };
      rows.push(row);
      if (block.notRun !== undefined) {
        row.node = row.deno = "not-run";
        row.notes.push(`not run (README line ${block.line}): ${block.notRun}`);
        continue;
      }
      const { code, unshipped } = rewriteDataPaths(block.code, { sharedData, goldens });
      if (unshipped.length > 0) row.notes.push(`reads ${unshipped.join(", ")}/, which the package does not ship (pointed at the repository's copy)`);
      const name = slug(block, i);
      if (runtimes.includes("node")) {
        await mkdir(join(node, "readme"), { recursive: true });
        await writeFile(join(node, "readme", `${name}.mts`), code);
        process.stderr.write(`--- node: ${row.label}\n`);
        row.node = await run(process.execPath, [join("readme", `${name}.mts`)], { cwd: node, echo: true });
      } else row.node = "-";
      if (runtimes.includes("deno")) {
        await writeFile(join(denoProject, `${name}.ts`), dropNodeGPU(rewriteImports(code, denoSpecifier)));
        process.stderr.write(`--- deno: ${row.label}\n`);
        row.deno = await run(deno, ["run", ...DENO_RUN_FLAGS, `${name}.ts`], { cwd: denoProject, echo: true });
      } else row.deno = "-";
    }

    // 3. The CLI the package installs: `webpeft info` finds the WebGPU adapter and checks a forward and
    // backward pass against the float64 CPU reference (it fails without an adapter).
    if (runtimes.includes("node")) {
      const row: Row = { label: "CLI: npx webpeft info", notes: [], deno: "-" };
      rows.push(row);
      process.stderr.write(`--- node: ${row.label}\n`);
      const r = await run("npx", ["--no-install", "webpeft", "info"], { cwd: node, echo: true });
      const checked = /self-check/.test(r.output);
      row.node = checked ? r : { ...r, ok: false, output: `${r.output}\n[no self-check line in the output]` };
    }
  } finally {
    if (process.env.WEBPEFT_PACK_KEEP === "1") console.error(`scratch folders kept in ${work}`);
    else await rm(work, { recursive: true, force: true });
  }

  const failed = rows.filter((r) => [r.node, r.deno].some((x) => typeof x === "object" && !x.ok));
  for (const r of failed) {
    for (const [runtime, x] of [["node", r.node], ["deno", r.deno]] as const) {
      if (typeof x === "object" && !x.ok) console.log(`\n=== ${r.label} on ${runtime} failed:\n${x.output.split("\n").slice(-40).join("\n")}`);
    }
  }
  console.log(`\nREADME examples from the packed tarball (node ${process.versions.node}, ${runtimes.includes("deno") ? "deno via jsr: + links" : "no deno"}):\n`);
  printTable(rows);
  const runs = rows.flatMap((r) => [r.node, r.deno]).filter((x): x is RunResult => typeof x === "object");
  console.log(`\n${runs.filter((x) => x.ok).length} passed, ${runs.filter((x) => !x.ok).length} failed`);
  console.log(`(${((performance.now() - started) / 1000).toFixed(0)} s in all)`);
  return failed.length === 0 && blocks.length > 0 ? 0 : 1;
}

process.exitCode = await main().catch((e: unknown) => {
  console.error(`\nreadme-from-tarball: ${(e as Error).message}`);
  return 1;
});
