/** Shared pieces of the I/O suites: the host's FileAccess, scratch directories, typed-error assertions. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as assert from "uvu/assert";
import type { FileAccess } from "../../core/io/files.ts";
import { hostFiles } from "../../runners/host-files.ts";

let files: Promise<FileAccess> | null = null;
/** The FileAccess of the runtime running the tests (node:fs on Node, the Deno namespace on Deno). */
export function testFiles(): Promise<FileAccess> {
  return (files ??= hostFiles());
}

/** A fresh empty directory under the system temp dir; `remove` deletes it and everything in it. */
export async function scratchDir(label: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `webpeft-${label}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Awaits `action`, which must fail with an instance of `type` whose message matches every pattern. */
export async function expectReject<E extends Error>(
  action: Promise<unknown> | (() => Promise<unknown> | unknown),
  type: abstract new (...args: never[]) => E,
  ...patterns: RegExp[]
): Promise<E> {
  let error: unknown;
  try {
    await (typeof action === "function" ? action() : action);
  } catch (e) {
    error = e;
  }
  if (error === undefined) assert.unreachable(`expected ${type.name}, but nothing was thrown`);
  if (!(error instanceof type)) {
    assert.unreachable(`expected ${type.name}, got ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`);
  }
  for (const pattern of patterns) assert.match((error as E).message, pattern);
  return error as E;
}

/** A regex matching `text` literally (file paths contain regex metacharacters). */
export function literal(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
}
