/** Assertions shared by the suites: typed errors (sync or async) and temporary folders. */
import * as assert from "uvu/assert";
import { PluginConfigError } from "../../core/peft/errors.ts";

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

/** `fn` throws (or rejects with) an instance of `type` whose message matches `message`; returns it. */
export async function expectError<E extends Error>(fn: () => unknown, type: ErrorClass<E>, message?: RegExp): Promise<E> {
  try {
    await fn();
  } catch (e) {
    assert.instance(e, type, `expected ${type.name}, got ${(e as Error)?.message ?? String(e)}`);
    if (message) assert.match((e as Error).message, message);
    return e as E;
  }
  return assert.unreachable(`expected ${type.name}`) as never;
}

/** `fn` fails with a PluginConfigError on `field` (and a message matching `message`, if given). */
export async function expectConfigError(fn: () => unknown, field: string, message?: RegExp): Promise<void> {
  const e = await expectError(fn, PluginConfigError, message);
  assert.is(e.field, field, e.message);
}

/** A fresh temporary folder and the function that removes it. */
export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const { mkdtemp, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true }) };
}
