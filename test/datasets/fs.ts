/**
 * A tiny FileAccess for the dataset tests on Node and Deno (node:fs/promises works on both). To be
 * replaced by the host implementation (runners/host-files.ts `hostFiles()`).
 */
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { FileAccess, RandomAccessFile } from "../../datasets/glue/files.ts";

export interface TestFiles extends FileAccess {
  /** How many bytes `read` returned so far (to check that a file is read once, in chunks). */
  readonly bytesRead: () => number;
}

export function testFiles(): TestFiles {
  let bytesRead = 0;
  return {
    bytesRead: () => bytesRead,
    async open(path: string): Promise<RandomAccessFile> {
      const handle = await open(path, "r");
      const { size } = await handle.stat();
      return {
        path,
        size,
        async read(offset: number, length: number): Promise<Uint8Array> {
          const buffer = new Uint8Array(length);
          let done = 0;
          while (done < length) {
            const { bytesRead: n } = await handle.read(buffer, done, length - done, offset + done);
            if (n === 0) throw new Error(`${path}: read past the end (offset ${offset + done}, size ${size})`);
            done += n;
          }
          bytesRead += length;
          return buffer;
        },
        close: () => handle.close(),
      };
    },
    readText: (path) => readFile(path, "utf8"),
    async exists(path) {
      return (await stat(path).catch(() => null)) !== null;
    },
    async writeAtomic(path, chunks) {
      const temp = `${path}.${Math.random().toString(36).slice(2)}.tmp`;
      const handle = await open(temp, "w");
      try {
        for await (const chunk of chunks) await handle.write(chunk);
        await handle.close();
        await rename(temp, path);
      } catch (e) {
        await handle.close().catch(() => {});
        await rm(temp, { force: true });
        throw e;
      }
    },
    mkdirp: async (path) => void (await mkdir(path, { recursive: true })),
    join: (...parts) => join(...parts),
  };
}

/** A fresh temporary folder, and a function that removes it. */
export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const { mkdtemp } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
