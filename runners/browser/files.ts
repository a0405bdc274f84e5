/**
 * core/io/files.ts's FileAccess for browsers, in three parts joined by one path space:
 *   - `MemoryFiles`: files held as Blobs in memory: what the user picked or dropped (a `File` is a Blob,
 *     read one slice at a time, never copied whole) and what the page writes for a run (the demo's data);
 *   - `OpfsFiles`: the Origin Private File System, which survives a reload: checkpoints, run outputs, the
 *     hub download cache. A writable stream writes to a swap file and replaces the file only on close(),
 *     which is exactly writeAtomic's promise;
 *   - `browserFiles()`: paths under `/opfs/` go to OPFS, every other absolute path to memory.
 *
 * Paths are POSIX-like and absolute ("/picked/model/config.json"); `join` normalises "." and "..".
 * No DOM types beyond what workers have: this file runs in the page and in the worker.
 */
import { type AppendFile, type FileAccess, FileAccessError, FileNotFoundError, type FileStat, type RandomAccessFile, decodeUtf8 } from "../../core/io/files.ts";

/** "/a//b/./c/../d" → "/a/b/d"; relative paths become absolute. */
export function normalizePath(path: string): string {
  const out: string[] = [];
  for (const part of path.replace(/\\/g, "/").split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

function joinPaths(...parts: string[]): string {
  return normalizePath(parts.filter((p) => p !== "").join("/"));
}

function splitPath(path: string): string[] {
  return normalizePath(path).split("/").filter(Boolean);
}

async function collect(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const chunk of chunks as AsyncIterable<Uint8Array>) out.push(chunk.slice()); // the caller may reuse its buffer
  return out;
}

/** A Blob read at offsets (the bytes are copied into a fresh buffer, as RandomAccessFile promises). */
function blobFile(path: string, blob: Blob): RandomAccessFile {
  return {
    path,
    size: blob.size,
    async read(offset, length) {
      if (offset < 0 || length < 0 || offset + length > blob.size) throw FileAccessError.of(path, "read", `bytes ${offset}..${offset + length} are past the end (${blob.size} bytes)`);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
    async close() {},
  };
}

const blobOf = (chunks: readonly Uint8Array[]) => new Blob(chunks as unknown as BlobPart[]);

/** Files in memory, as Blobs keyed by normalised path; directories are the parents of files, or made by mkdirp. */
export class MemoryFiles implements FileAccess {
  readonly #files = new Map<string, Blob>();
  readonly #dirs = new Set<string>(["/"]);

  /** Puts a Blob (a picked `File`) at `path` without copying it; its parent directories appear. */
  put(path: string, blob: Blob): void {
    const p = normalizePath(path);
    this.#files.set(p, blob);
    for (let dir = parentDir(p); dir !== "/"; dir = parentDir(dir)) this.#dirs.add(dir);
  }

  /** Every file path under `dir` (for listings in the page). */
  list(dir = "/"): string[] {
    const prefix = normalizePath(dir).replace(/\/?$/, "/");
    return [...this.#files.keys()].filter((p) => p.startsWith(prefix)).sort();
  }

  /** Forgets every file under `dir`. */
  clear(dir: string): void {
    const d = normalizePath(dir);
    for (const p of [...this.#files.keys()]) if (p === d || p.startsWith(d + "/")) this.#files.delete(p);
    for (const p of [...this.#dirs]) if (p === d || p.startsWith(d + "/")) this.#dirs.delete(p);
  }

  blob(path: string): Blob | undefined {
    return this.#files.get(normalizePath(path));
  }

  async open(path: string): Promise<RandomAccessFile> {
    const p = normalizePath(path);
    const blob = this.#files.get(p);
    if (!blob) {
      if (this.#dirs.has(p)) throw FileAccessError.of(path, "open", "it is a directory");
      throw FileNotFoundError.of(path);
    }
    return blobFile(path, blob);
  }

  async readText(path: string): Promise<string> {
    const file = await this.open(path);
    return decodeUtf8(await file.read(0, file.size));
  }

  async exists(path: string): Promise<boolean> {
    return (await this.stat(path)) !== null;
  }

  async stat(path: string): Promise<FileStat | null> {
    const p = normalizePath(path);
    const blob = this.#files.get(p);
    if (blob) return { size: blob.size, isDirectory: false };
    if (this.#dirs.has(p) || [...this.#files.keys()].some((f) => f.startsWith(p + "/"))) return { size: 0, isDirectory: true };
    return null;
  }

  async writeAtomic(path: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
    const parts = await collect(chunks); // a source that throws leaves the old file as it was
    this.put(path, blobOf(parts));
  }

  async openAppend(path: string): Promise<AppendFile> {
    const p = normalizePath(path);
    const existing = this.#files.get(p);
    if (!existing) this.put(p, new Blob([]));
    return {
      path,
      write: async (chunk) => {
        this.put(p, new Blob([this.#files.get(p) ?? new Blob([]), chunk.slice() as BlobPart]));
      },
      close: async () => {},
    };
  }

  async rename(from: string, to: string): Promise<void> {
    const blob = this.#files.get(normalizePath(from));
    if (!blob) throw FileNotFoundError.of(from);
    this.#files.delete(normalizePath(from));
    this.put(to, blob);
  }

  async remove(path: string): Promise<void> {
    this.#files.delete(normalizePath(path));
  }

  async mkdirp(path: string): Promise<void> {
    for (let dir = normalizePath(path); dir !== "/"; dir = parentDir(dir)) this.#dirs.add(dir);
  }

  join(...parts: string[]): string {
    return joinPaths(...parts);
  }
}

function parentDir(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "/" : path.slice(0, cut);
}

/** The part of the File System Access API that OPFS offers in workers and pages (lib.dom may lack some). */
interface DirHandle {
  readonly kind: "directory";
  readonly name: string;
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirHandle>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandle>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
  entries(): AsyncIterable<[string, DirHandle | FileHandle]>;
}
interface FileHandle {
  readonly kind: "file";
  readonly name: string;
  getFile(): Promise<File>;
  createWritable(options?: { keepExistingData?: boolean }): Promise<Writable>;
  move?(parent: DirHandle, name: string): Promise<void>;
}
interface Writable {
  write(data: Uint8Array | Blob | { type: "seek"; position: number }): Promise<void>;
  seek(position: number): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

const isMissing = (e: unknown) => (e as { name?: string })?.name === "NotFoundError";
const isWrongKind = (e: unknown) => (e as { name?: string })?.name === "TypeMismatchError";

/**
 * OPFS under `root` (navigator.storage.getDirectory()). Paths are relative to the root after a leading
 * mount prefix is removed by the caller (browserFiles strips "/opfs").
 */
export class OpfsFiles implements FileAccess {
  constructor(
    private readonly root: DirHandle,
    /** How paths are shown in errors (the mount point). */
    private readonly prefix = "/opfs",
  ) {}

  static async open(prefix = "/opfs"): Promise<OpfsFiles> {
    const storage = (globalThis as { navigator?: { storage?: { getDirectory?: () => Promise<unknown> } } }).navigator?.storage;
    if (!storage?.getDirectory) throw new Error("this browser has no Origin Private File System (navigator.storage.getDirectory)");
    return new OpfsFiles((await storage.getDirectory()) as DirHandle, prefix);
  }

  #shown(parts: readonly string[]): string {
    return joinPaths(this.prefix, ...parts);
  }

  async #dir(parts: readonly string[], create: boolean): Promise<DirHandle | null> {
    let dir = this.root;
    for (const name of parts) {
      try {
        dir = await dir.getDirectoryHandle(name, { create });
      } catch (e) {
        if (isMissing(e) || isWrongKind(e)) return null;
        throw e;
      }
    }
    return dir;
  }

  async #file(path: string, create = false): Promise<{ parent: DirHandle; handle: FileHandle } | null> {
    const parts = splitPath(path);
    const name = parts.pop();
    if (name === undefined) return null;
    const parent = await this.#dir(parts, create);
    if (!parent) return null;
    try {
      return { parent, handle: await parent.getFileHandle(name, { create }) };
    } catch (e) {
      if (isMissing(e) || isWrongKind(e)) return null;
      throw e;
    }
  }

  async open(path: string): Promise<RandomAccessFile> {
    const found = await this.#file(path);
    if (!found) {
      if ((await this.stat(path))?.isDirectory) throw FileAccessError.of(this.#shown(splitPath(path)), "open", "it is a directory");
      throw FileNotFoundError.of(this.#shown(splitPath(path)));
    }
    return blobFile(this.#shown(splitPath(path)), await found.handle.getFile());
  }

  async readText(path: string): Promise<string> {
    const file = await this.open(path);
    return decodeUtf8(await file.read(0, file.size));
  }

  async exists(path: string): Promise<boolean> {
    return (await this.stat(path)) !== null;
  }

  async stat(path: string): Promise<FileStat | null> {
    const parts = splitPath(path);
    if (parts.length === 0) return { size: 0, isDirectory: true };
    const file = await this.#file(path);
    if (file) return { size: (await file.handle.getFile()).size, isDirectory: false };
    return (await this.#dir(parts, false)) ? { size: 0, isDirectory: true } : null;
  }

  async writeAtomic(path: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
    // Collected first: a chunk source that throws must not even create the file.
    const parts = await collect(chunks);
    const found = await this.#file(path, true);
    if (!found) throw FileAccessError.of(this.#shown(splitPath(path)), "write", "a parent is not a directory");
    const writable = await found.handle.createWritable();
    try {
      for (const part of parts) await writable.write(part);
    } catch (e) {
      await writable.abort().catch(() => {});
      throw FileAccessError.of(this.#shown(splitPath(path)), "write", (e as Error).message);
    }
    await writable.close(); // the swap file replaces the old one here
  }

  async openAppend(path: string): Promise<AppendFile> {
    const found = await this.#file(path, true);
    if (!found) throw FileAccessError.of(this.#shown(splitPath(path)), "open for appending", "a parent is not a directory");
    let size = (await found.handle.getFile()).size;
    const shown = this.#shown(splitPath(path));
    // One writable per write keeps the file complete on disk after every chunk (a reload loses nothing).
    return {
      path: shown,
      async write(chunk) {
        const writable = await found.handle.createWritable({ keepExistingData: true });
        await writable.seek(size);
        await writable.write(chunk);
        await writable.close();
        size += chunk.byteLength;
      },
      async close() {},
    };
  }

  async rename(from: string, to: string): Promise<void> {
    const source = await this.#file(from);
    if (!source) throw FileNotFoundError.of(this.#shown(splitPath(from)));
    const toParts = splitPath(to);
    const name = toParts.pop()!;
    const parent = await this.#dir(toParts, true);
    if (!parent) throw FileAccessError.of(this.#shown(splitPath(to)), "rename", "a parent is not a directory");
    if (source.handle.move) {
      await this.remove(to);
      await source.handle.move(parent, name);
      return;
    }
    const file = await source.handle.getFile();
    await this.writeAtomic(to, [new Uint8Array(await file.arrayBuffer())]);
    await this.remove(from);
  }

  async remove(path: string): Promise<void> {
    const parts = splitPath(path);
    const name = parts.pop();
    if (name === undefined) return;
    const parent = await this.#dir(parts, false);
    if (!parent) return;
    try {
      await parent.removeEntry(name);
    } catch (e) {
      if (!isMissing(e)) throw e;
    }
  }

  /** Removes a directory and everything in it (not part of FileAccess: the page's "forget this run"). */
  async removeTree(path: string): Promise<void> {
    const parts = splitPath(path);
    const name = parts.pop();
    if (name === undefined) return;
    const parent = await this.#dir(parts, false);
    try {
      await parent?.removeEntry(name, { recursive: true });
    } catch (e) {
      if (!isMissing(e)) throw e;
    }
  }

  async mkdirp(path: string): Promise<void> {
    if (!(await this.#dir(splitPath(path), true))) throw FileAccessError.of(this.#shown(splitPath(path)), "create the directory", "a file is in the way");
  }

  join(...parts: string[]): string {
    return joinPaths(...parts);
  }
}

/** Routes "/opfs/…" to OPFS (when given) and everything else to memory. */
export class BrowserFiles implements FileAccess {
  constructor(
    readonly memory: MemoryFiles,
    readonly opfs: OpfsFiles | null,
    readonly opfsPrefix = "/opfs",
  ) {}

  #route(path: string): [FileAccess, string] {
    const p = normalizePath(path);
    if (p === this.opfsPrefix || p.startsWith(this.opfsPrefix + "/")) {
      if (!this.opfs) throw FileAccessError.of(p, "use", "this browser offers no Origin Private File System (private windows may not)");
      return [this.opfs, p.slice(this.opfsPrefix.length) || "/"];
    }
    return [this.memory, p];
  }

  open(path: string) {
    const [fs, p] = this.#route(path);
    return fs.open(p);
  }
  readText(path: string) {
    const [fs, p] = this.#route(path);
    return fs.readText(p);
  }
  exists(path: string) {
    const [fs, p] = this.#route(path);
    return fs.exists(p);
  }
  stat(path: string) {
    const [fs, p] = this.#route(path);
    return fs.stat(p);
  }
  writeAtomic(path: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>) {
    const [fs, p] = this.#route(path);
    return fs.writeAtomic(p, chunks);
  }
  openAppend(path: string) {
    const [fs, p] = this.#route(path);
    return fs.openAppend(p);
  }
  async rename(from: string, to: string): Promise<void> {
    const [a, pa] = this.#route(from);
    const [b, pb] = this.#route(to);
    if (a === b) return a.rename(pa, pb);
    const file = await a.open(pa);
    await b.writeAtomic(pb, [await file.read(0, file.size)]);
    await a.remove(pa);
  }
  remove(path: string) {
    const [fs, p] = this.#route(path);
    return fs.remove(p);
  }
  mkdirp(path: string) {
    const [fs, p] = this.#route(path);
    return fs.mkdirp(p);
  }
  join(...parts: string[]): string {
    return joinPaths(...parts);
  }

  /** A file's bytes as a Blob (for downloads), without copying what is already a Blob. */
  async blob(path: string): Promise<Blob> {
    const [fs, p] = this.#route(path);
    if (fs === this.memory) {
      const blob = this.memory.blob(p);
      if (!blob) throw FileNotFoundError.of(path);
      return blob;
    }
    const file = await fs.open(p);
    return new Blob([(await file.read(0, file.size)) as BlobPart]);
  }
}

/** Memory + OPFS (OPFS left out, with its paths failing in plain words, where the browser has none). */
export async function browserFiles(): Promise<BrowserFiles> {
  let opfs: OpfsFiles | null = null;
  try {
    opfs = await OpfsFiles.open();
  } catch {
    opfs = null;
  }
  return new BrowserFiles(new MemoryFiles(), opfs);
}
