/**
 * Builds the browser runner as static files that any web server can host (`npm run build:web`):
 *
 *   <out>/index.html, page.js, worker.js (+ source maps)     the page and the training worker (esbuild)
 *   <out>/demo.json                                          { repo, revision } of the demo model
 *   <out>/hub/webpeft/t5-mini/resolve/<revision>/…           the demo model in the Hugging Face hub's URL
 *                                                            layout, so the worker downloads it with the
 *                                                            same hub code as any hub model (and caches it
 *                                                            in OPFS: the revision is a hash of the files,
 *                                                            so new weights are fetched once, old ones never)
 *
 *   npx tsx runners/browser/build.ts [--out <dir>] [--demo-model <dir>]
 *
 * Default out: runners/browser/dist (git-ignored); default demo model: runners/demo/t5-mini
 * (WEBPEFT_DEMO_MODEL overrides it).
 */
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "../..");

export const DEMO_REPO = "webpeft/t5-mini";
const MODEL_FILES = ["config.json", "model.safetensors", "tokenizer.json"];
const OPTIONAL_MODEL_FILES = ["tokenizer_config.json", "special_tokens_map.json"];

export interface BuildWebOptions {
  readonly outDir?: string;
  readonly demoModel?: string;
  /** Minify the bundles (default true). */
  readonly minify?: boolean;
}

export interface BuildWebResult {
  readonly outDir: string;
  readonly demoModel: string;
  readonly revision: string;
  readonly bytes: Readonly<Record<string, number>>;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export function defaultDemoModel(): string {
  const fromEnv = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.WEBPEFT_DEMO_MODEL;
  return resolve(fromEnv || join(repoRoot, "runners/demo/t5-mini"));
}

export async function buildWeb(options: BuildWebOptions = {}): Promise<BuildWebResult> {
  const outDir = resolve(options.outDir ?? join(here, "dist"));
  const demoModel = resolve(options.demoModel ?? defaultDemoModel());
  const missing: string[] = [];
  for (const name of MODEL_FILES) if (!(await exists(join(demoModel, name)))) missing.push(name);
  if (missing.length) throw new Error(`build:web: the demo model folder ${demoModel} lacks ${missing.join(", ")} (set WEBPEFT_DEMO_MODEL or --demo-model to another T5 folder)`);

  const esbuild = await import("esbuild");
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await esbuild.build({
    entryPoints: { page: join(here, "page.ts"), worker: join(here, "worker.ts") },
    outdir: outDir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2022", "chrome113"],
    minify: options.minify ?? true,
    sourcemap: "linked",
    legalComments: "none",
    logLevel: "warning",
    // core/ never imports these; a dependency's optional Node branch must not pull them into the page
    external: ["node:*"],
  });
  await copyFile(join(here, "index.html"), join(outDir, "index.html"));

  // The demo model, under a revision named by the hash of its files.
  const hash = createHash("sha256");
  const present: string[] = [];
  for (const name of [...MODEL_FILES, ...OPTIONAL_MODEL_FILES]) {
    if (!(await exists(join(demoModel, name)))) continue;
    present.push(name);
    hash.update(name).update(await readFile(join(demoModel, name)));
  }
  const revision = hash.digest("hex").slice(0, 16);
  const modelOut = join(outDir, "hub", ...DEMO_REPO.split("/"), "resolve", revision);
  await mkdir(modelOut, { recursive: true });
  for (const name of present) await copyFile(join(demoModel, name), join(modelOut, name));
  await writeFile(join(outDir, "demo.json"), JSON.stringify({ repo: DEMO_REPO, revision, files: present }, null, 2) + "\n");

  const bytes: Record<string, number> = {};
  for (const name of ["page.js", "worker.js"]) bytes[name] = (await stat(join(outDir, name))).size;
  return { outDir, demoModel, revision, bytes };
}

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const outDir = flag(args, "--out");
  const demoModel = flag(args, "--demo-model");
  const result = await buildWeb({ ...(outDir ? { outDir } : {}), ...(demoModel ? { demoModel } : {}) });
  const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  console.log(`build:web: ${result.outDir} (page.js ${kb(result.bytes["page.js"]!)}, worker.js ${kb(result.bytes["worker.js"]!)}; demo model ${result.demoModel} as ${DEMO_REPO}@${result.revision})`);
  console.log("host the folder with any static web server (localhost or HTTPS: WebGPU needs a secure context), or run npm run serve");
}
