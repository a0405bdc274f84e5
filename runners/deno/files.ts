/**
 * FileAccess on Deno, over the Deno namespace (no Node compatibility layer). Needs --allow-read, and
 * --allow-write for writes.
 *
 * Deno has no positional read: a read is seek + read on the file's one cursor, so the reads of one open
 * file are queued one after another (two tensors read "at once" would otherwise interleave seeks).
 *
 * The Deno namespace is reached through globalThis and typed below with just what is used, so this file
 * type-checks under tsc (which has no Deno types) as well as under `deno check`.
 */
import {
  type AppendFile,
  type FileAccess,
  FileAccessError,
  FileNotFoundError,
  type FileStat,
  type RandomAccessFile,
  decodeUtf8,
} from "../../core/io/files.ts";

interface DenoFile {
  read(buffer: Uint8Array): Promise<number | null>;
  write(data: Uint8Array): Promise<number>;
  seek(offset: number, whence: number): Promise<number>;
  stat(): Promise<{ size: number; isDirectory: boolean }>;
  sync(): Promise<void>;
  close(): void;
}

interface DenoFileSystem {
  open(
    path: string,
    options: { read?: boolean; write?: boolean; append?: boolean; create?: boolean; createNew?: boolean },
  ): Promise<DenoFile>;
  readFile(path: string): Promise<Uint8Array>;
  stat(path: string): Promise<{ size: number; isDirectory: boolean }>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  mkdir(path: string, options: { recursive: boolean }): Promise<void>;
  errors: { NotFound: new (...args: never[]) => Error };
  build: { os: string };
}

const SEEK_START = 0; // Deno.SeekMode.Start

function deno(): DenoFileSystem {
  const api = (globalThis as unknown as { Deno?: DenoFileSystem }).Deno;
  if (!api) throw new Error("runners/deno/files.ts runs only on Deno");
  return api;
}

function isNotFound(e: unknown): boolean {
  return e instanceof deno().errors.NotFound;
}

/** Joins path parts with "/" (which Deno accepts on Windows too), dropping empty and "." segments and
 * resolving ".." against the segments before it, like node:path's posix join. */
export function joinPath(...parts: string[]): string {
  const joined = parts.filter((p) => p.length > 0).join("/");
  if (joined === "") return ".";
  const absolute = joined.startsWith("/");
  const out: string[] = [];
  for (const segment of joined.split(/[/\\]+/)) {
    if (segment === "" || segment === ".") continue;
    if (segment === ".." && out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (segment !== ".." || !absolute) out.push(segment);
  }
  const body = out.join("/");
  return absolute ? `/${body}` : body || ".";
}

function splitDir(path: string): [dir: string, base: string] {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return cut < 0 ? [".", path] : [path.slice(0, cut) || "/", path.slice(cut + 1)];
}

async function openForRead(path: string): Promise<RandomAccessFile> {
  let file: DenoFile;
  try {
    file = await deno().open(path, { read: true });
  } catch (e) {
    if (isNotFound(e)) throw FileNotFoundError.of(path);
    throw e;
  }
  let info: { size: number; isDirectory: boolean };
  try {
    info = await file.stat();
    if (info.isDirectory) throw FileAccessError.of(path, "open it for reading", "it is a directory");
  } catch (e) {
    file.close();
    throw e;
  }
  let queue: Promise<unknown> = Promise.resolve();
  const readAt = async (offset: number, length: number): Promise<Uint8Array> => {
    const out = new Uint8Array(length);
    await file.seek(offset, SEEK_START);
    let filled = 0;
    while (filled < length) {
      const n = await file.read(out.subarray(filled));
      if (n === null || n === 0) {
        throw FileAccessError.of(path, `read ${length} bytes at offset ${offset}`, `the file ends after ${offset + filled} bytes`);
      }
      filled += n;
    }
    return out;
  };
  return {
    path,
    size: info.size,
    read(offset: number, length: number): Promise<Uint8Array> {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
        return Promise.reject(
          FileAccessError.of(path, `read ${length} bytes at offset ${offset}`, "offset and length must be non-negative integers"),
        );
      }
      const result = queue.then(() => readAt(offset, length));
      queue = result.catch(() => {});
      return result;
    },
    async close(): Promise<void> {
      await queue;
      file.close();
    },
  };
}

async function writeAll(file: DenoFile, chunk: Uint8Array): Promise<void> {
  let written = 0;
  while (written < chunk.byteLength) written += await file.write(chunk.subarray(written));
}

async function writeAtomic(path: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
  // Same directory as the target, so the final rename is atomic (one file system); random suffix so
  // concurrent writers do not collide.
  const [dir, base] = splitDir(path);
  const temp = joinPath(dir, `.${base}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  let file: DenoFile;
  try {
    file = await deno().open(temp, { write: true, createNew: true });
  } catch (e) {
    if (isNotFound(e)) throw FileNotFoundError.of(dir, "directory");
    throw e;
  }
  try {
    for await (const chunk of chunks) await writeAll(file, chunk);
    await file.sync(); // on disk before the rename makes it visible
    file.close();
  } catch (e) {
    try {
      file.close();
    } catch {
      // already closed
    }
    await deno().remove(temp).catch(() => {});
    throw e;
  }
  try {
    await deno().rename(temp, path);
  } catch (e) {
    await deno().remove(temp).catch(() => {});
    throw e;
  }
}

async function openAppend(path: string): Promise<AppendFile> {
  const file = await deno().open(path, { write: true, append: true, create: true });
  return {
    path,
    write: (chunk: Uint8Array) => writeAll(file, chunk),
    close: async () => file.close(),
  };
}

async function stat(path: string): Promise<FileStat | null> {
  try {
    const info = await deno().stat(path);
    return { size: info.size, isDirectory: info.isDirectory };
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

export function denoFiles(): FileAccess {
  return {
    open: openForRead,
    async readText(path: string): Promise<string> {
      try {
        return decodeUtf8(await deno().readFile(path));
      } catch (e) {
        if (isNotFound(e)) throw FileNotFoundError.of(path);
        throw e;
      }
    },
    exists: async (path: string) => (await stat(path)) !== null,
    stat,
    writeAtomic,
    openAppend,
    rename: (from: string, to: string) => deno().rename(from, to),
    async remove(path: string): Promise<void> {
      try {
        await deno().remove(path);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    },
    mkdirp: (path: string) => deno().mkdir(path, { recursive: true }),
    join: joinPath,
  };
}
