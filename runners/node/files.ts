/**
 * FileAccess on Node, over node:fs/promises. Reads use positional `read` (pread), so concurrent tensor
 * reads from one open checkpoint do not interfere.
 */
import { open as openFile, mkdir, readFile, rename as renameFile, rm, stat as statPath } from "node:fs/promises";
import { basename, dirname, join as joinPath } from "node:path";
import {
  type AppendFile,
  type FileAccess,
  FileAccessError,
  FileNotFoundError,
  type FileStat,
  type RandomAccessFile,
  decodeUtf8,
} from "../../core/io/files.ts";

function isNotFound(e: unknown): boolean {
  return (e as { code?: string } | null)?.code === "ENOENT";
}

async function openForRead(path: string): Promise<RandomAccessFile> {
  let handle;
  try {
    handle = await openFile(path, "r");
  } catch (e) {
    if (isNotFound(e)) throw FileNotFoundError.of(path);
    throw e;
  }
  let size: number;
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw FileAccessError.of(path, "open it for reading", "it is a directory");
    size = info.size;
  } catch (e) {
    await handle.close();
    throw e;
  }
  return {
    path,
    size,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
        throw FileAccessError.of(path, `read ${length} bytes at offset ${offset}`, "offset and length must be non-negative integers");
      }
      const out = new Uint8Array(length);
      let filled = 0;
      while (filled < length) {
        // One call reads at most 1 GiB: node:fs refuses lengths of 2 GiB and more.
        const { bytesRead } = await handle.read(out, filled, Math.min(length - filled, 1 << 30), offset + filled);
        if (bytesRead === 0) {
          throw FileAccessError.of(path, `read ${length} bytes at offset ${offset}`, `the file ends after ${offset + filled} bytes`);
        }
        filled += bytesRead;
      }
      return out;
    },
    close: () => handle.close(),
  };
}

async function writeAtomic(path: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
  // The temporary file lives next to the target so that the final rename stays on one file system
  // (rename is atomic there); its random suffix keeps concurrent writers apart.
  const temp = joinPath(dirname(path), `.${basename(path)}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  let handle;
  try {
    handle = await openFile(temp, "wx");
  } catch (e) {
    if (isNotFound(e)) throw FileNotFoundError.of(dirname(path), "directory");
    throw e;
  }
  try {
    for await (const chunk of chunks) {
      let written = 0;
      while (written < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written);
        written += bytesWritten;
      }
    }
    await handle.sync(); // on disk before the rename makes it visible: a crash cannot leave a short file
    await handle.close();
  } catch (e) {
    await handle.close().catch(() => {});
    await rm(temp, { force: true }).catch(() => {});
    throw e;
  }
  try {
    await renameFile(temp, path);
  } catch (e) {
    await rm(temp, { force: true }).catch(() => {});
    throw e;
  }
}

async function openAppend(path: string): Promise<AppendFile> {
  const handle = await openFile(path, "a");
  return {
    path,
    async write(chunk: Uint8Array): Promise<void> {
      let written = 0;
      while (written < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written);
        written += bytesWritten;
      }
    },
    close: () => handle.close(),
  };
}

async function stat(path: string): Promise<FileStat | null> {
  try {
    const info = await statPath(path);
    return { size: info.size, isDirectory: info.isDirectory() };
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

export function nodeFiles(): FileAccess {
  return {
    open: openForRead,
    async readText(path: string): Promise<string> {
      try {
        // Decoded by TextDecoder rather than readFile(path, "utf8"), which would keep a BOM; Deno drops it.
        return decodeUtf8(await readFile(path));
      } catch (e) {
        if (isNotFound(e)) throw FileNotFoundError.of(path);
        throw e;
      }
    },
    exists: async (path: string) => (await stat(path)) !== null,
    stat,
    writeAtomic,
    openAppend,
    rename: (from: string, to: string) => renameFile(from, to),
    remove: (path: string) => rm(path, { force: true }),
    async mkdirp(path: string): Promise<void> {
      await mkdir(path, { recursive: true });
    },
    join: (...parts: string[]) => joinPath(...parts),
  };
}
