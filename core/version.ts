/**
 * The package version (kept equal to package.json's and deno.json's by a test) and the versions of the
 * runtime it runs on, for run records. It reads globals through one untyped view, like runtime.ts: no
 * host imports, so core/ stays runnable everywhere.
 */
import { detectRuntime } from "./runtime.ts";

export const WEBPEFT_VERSION = "0.1.0";

export function runtimeVersions(): Record<string, string> {
  const g = globalThis as Record<string, unknown>;
  const field = (object: unknown, key: string): unknown => (typeof object === "object" && object !== null ? (object as Record<string, unknown>)[key] : undefined);
  const strings = (object: unknown): Record<string, string> =>
    Object.fromEntries(Object.entries((object ?? {}) as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === "string"));
  switch (detectRuntime()) {
    case "deno":
      return strings(field(g["Deno"], "version"));
    case "node": {
      const versions = strings(field(g["process"], "versions"));
      return { node: versions.node ?? "", v8: versions.v8 ?? "" };
    }
    case "browser":
      return { userAgent: String(field(g["navigator"], "userAgent") ?? "") };
    default:
      return {};
  }
}
