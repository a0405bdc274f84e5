/**
 * The host's FileAccess: Node → node:fs/promises, Deno → the Deno namespace. Imports are dynamic so that
 * each runtime loads only its own implementation (like runners/host.ts does for WebGPU).
 */
import { FileAccessError, type FileAccess } from "../core/io/files.ts";
import { detectRuntime } from "../core/runtime.ts";

export async function hostFiles(): Promise<FileAccess> {
  const runtime = detectRuntime();
  switch (runtime) {
    case "node":
      return (await import("./node/files.ts")).nodeFiles();
    case "deno":
      return (await import("./deno/files.ts")).denoFiles();
    case "browser":
    case "unknown":
      throw FileAccessError.of(
        "(host)",
        "access files",
        `this runtime (${runtime}) has no built-in file access; pass your own FileAccess (core/io/files.ts)`,
      );
  }
  return runtime satisfies never;
}
