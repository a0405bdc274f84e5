/**
 * The fuzz suite from the command line, for longer runs than CI's:
 *   npm run fuzz -- --seed 7 --cases 500 [--backend cpu|webgpu] [--only forward,safetensors] [--timeout-ms 10000]
 * Exits 1 when any case is not a typed error naming what was wrong (see fuzz.ts).
 */
import { createCpuBackend } from "../../core/backend/cpu/cpu-backend.ts";
import type { Backend } from "../../core/backend/backend.ts";
import { createHostWebGPUBackend } from "../../runners/host.ts";
import { formatReport, runFuzz } from "./fuzz.ts";

const proc = (globalThis as unknown as { process?: { argv: string[]; exit(code: number): never } }).process;
const deno = (globalThis as unknown as { Deno?: { args: string[]; exit(code: number): never } }).Deno;
const args = deno ? deno.args : proc!.argv.slice(2);
const exit = (code: number): never => (deno ? deno.exit(code) : proc!.exit(code));

function option(name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  if (i >= 0) return args[i + 1];
  const inline = args.find((a) => a.startsWith(`--${name}=`));
  return inline?.slice(name.length + 3);
}

function integer(name: string, fallback: number): number {
  const raw = option(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) {
    console.error(`fuzz: --${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
    return exit(2);
  }
  return value;
}

const seed = integer("seed", 42);
const cases = integer("cases", 100);
const timeoutMs = integer("timeout-ms", 10_000);
const backendName = option("backend") ?? "cpu";
const only = option("only")?.split(",").filter(Boolean);
let backend: Backend;
if (backendName === "cpu") backend = createCpuBackend();
else if (backendName === "webgpu") backend = await createHostWebGPUBackend();
else {
  console.error(`fuzz: --backend must be cpu or webgpu, got ${JSON.stringify(backendName)}`);
  exit(2);
}
const report = await runFuzz({ seed, cases, backend: backend!, timeoutMs, ...(only ? { only } : {}) });
console.log(formatReport(report, `webpeft fuzz on ${backendName}: ${cases} cases per entry point`));
backend!.dispose();
exit(report.failures.length === 0 ? 0 : 1);
