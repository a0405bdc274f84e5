/**
 * The one runtime-detection helper. Core code never branches on the runtime for behaviour; this is used
 * for messages (which runtime has no adapter) and by runners/tests to pick the host's WebGPU entry point.
 */
export type Runtime = "deno" | "node" | "browser" | "unknown";

export function detectRuntime(): Runtime {
  const g = globalThis as Record<string, unknown>;
  if (typeof g.Deno === "object" && g.Deno !== null) return "deno";
  const proc = g.process as { versions?: { node?: string } } | undefined;
  if (proc?.versions?.node) return "node";
  if (typeof g.window === "object" || typeof g.WorkerGlobalScope === "function") return "browser";
  return "unknown";
}
