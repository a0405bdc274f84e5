/**
 * Scratch-project helpers shared by the pack tests (readme-from-tarball.ts, plugin-from-tarball.ts):
 * running commands without throwing, set-up steps, and the files `deno publish` would put in the JSR package.
 */
import { spawn } from "node:child_process";
import { copyFile, mkdir, readFile, readdir } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const timeoutMs = Number(process.env.WEBPEFT_PACK_TIMEOUT_S ?? 300) * 1000;

export interface RunResult {
  readonly ok: boolean;
  readonly seconds: number;
  readonly output: string;
}

/** Runs a command, keeping its interleaved output; never throws (a failure is a result). */
export function run(command: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; echo?: boolean }): Promise<RunResult> {
  const started = performance.now();
  return new Promise((done) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const take = (chunk: Buffer) => {
      output += chunk.toString();
      if (options.echo) process.stderr.write(chunk);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    const timer = setTimeout(() => {
      output += `\n[killed after ${(options.timeoutMs ?? timeoutMs) / 1000} s]`;
      child.kill("SIGKILL");
    }, options.timeoutMs ?? timeoutMs);
    const finish = (ok: boolean, extra = "") => {
      clearTimeout(timer);
      done({ ok, seconds: (performance.now() - started) / 1000, output: output + extra });
    };
    child.on("error", (e) => finish(false, `\n${command}: ${e.message}`));
    child.on("close", (code, signal) => finish(code === 0, code === 0 ? "" : `\n[exit ${code ?? signal}]`));
  });
}

/** Runs a set-up step; a failed one ends the test with its output. */
export async function step(what: string, command: string, args: readonly string[], cwd: string): Promise<string> {
  process.stderr.write(`--- ${what}: ${command} ${args.join(" ")}\n`);
  const r = await run(command, args, { cwd, timeoutMs: 600_000 });
  if (!r.ok) {
    console.error(r.output);
    throw new Error(`${what} failed`);
  }
  process.stderr.write(`    ${r.seconds.toFixed(1)} s\n`);
  return r.output;
}

/** A glob of deno.json's `publish` lists as a RegExp: `**` any folders, `*` within one name. */
function globRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (glob.startsWith("**/", i)) {
      re += "(?:.*/)?";
      i += 2;
    } else if (c === "*") re += "[^/]*";
    else re += c.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

async function walk(dir: string, skip: ReadonlySet<string>): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (skip.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path, skip)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** Copies the files `deno publish` would put in the JSR package (deno.json publish.include/exclude). */
export async function copyJsrPackage(to: string): Promise<number> {
  const config = JSON.parse(await readFile(join(repo, "deno.json"), "utf8")) as { publish?: { include?: string[]; exclude?: string[] } };
  const include = (config.publish?.include ?? ["**/*"]).map(globRegExp);
  const exclude = (config.publish?.exclude ?? []).map(globRegExp);
  let count = 0;
  for (const file of await walk(repo, new Set(["node_modules", ".git", "dist", ".cache"]))) {
    const rel = relative(repo, file).split("\\").join("/");
    if (!include.some((r) => r.test(rel)) || exclude.some((r) => r.test(rel))) continue;
    await mkdir(dirname(join(to, rel)), { recursive: true });
    await copyFile(file, join(to, rel));
    count++;
  }
  return count;
}


/** What a Deno user grants a plugin's test file: files and environment only (the kit needs no net, no GPU). */
export const DENO_RUN_FLAGS_FOR_PLUGIN = ["--allow-read", "--allow-write", "--allow-env"] as const;
