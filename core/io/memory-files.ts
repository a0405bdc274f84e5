/** An in-memory FileAccess (tests, the plugin conformance kit, the fuzz suite): no disk, no cleanup, any runtime. */
import { FileAccessError, FileNotFoundError, type FileAccess, type RandomAccessFile } from "./files.ts";

export function memoryFiles(initial: Record<string, Uint8Array | string> = {}): FileAccess & { readonly files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  const encoder = new TextEncoder();
  const put = (path: string, body: Uint8Array | string) => files.set(path, typeof body === "string" ? encoder.encode(body) : body);
  for (const [path, body] of Object.entries(initial)) put(path, body);
  const isDir = (path: string) => [...files.keys()].some((p) => p.startsWith(`${path}/`));
  const get = (path: string): Uint8Array => {
    const body = files.get(path);
    if (!body) throw FileNotFoundError.of(path);
    return body;
  };
  return {
    files,
    async open(path: string): Promise<RandomAccessFile> {
      const body = get(path);
      return {
        path,
        size: body.byteLength,
        async read(offset: number, length: number): Promise<Uint8Array> {
          if (offset < 0 || length < 0 || offset + length > body.byteLength) {
            throw FileAccessError.of(path, "read", `bytes ${offset}..${offset + length} are past the end (${body.byteLength} bytes)`);
          }
          return body.slice(offset, offset + length);
        },
        async close() {},
      };
    },
    async readText(path: string): Promise<string> {
      const text = new TextDecoder().decode(get(path));
      return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    },
    async exists(path: string) {
      return files.has(path) || isDir(path);
    },
    async stat(path: string) {
      if (files.has(path)) return { size: files.get(path)!.byteLength, isDirectory: false };
      return isDir(path) ? { size: 0, isDirectory: true } : null;
    },
    async writeAtomic(path: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>) {
      const parts: Uint8Array[] = [];
      for await (const c of chunks as AsyncIterable<Uint8Array>) parts.push(c.slice());
      const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.byteLength;
      }
      files.set(path, out);
    },
    async openAppend(path: string) {
      if (!files.has(path)) files.set(path, new Uint8Array(0));
      return {
        path,
        async write(chunk: Uint8Array) {
          const old = files.get(path)!;
          const out = new Uint8Array(old.byteLength + chunk.byteLength);
          out.set(old);
          out.set(chunk, old.byteLength);
          files.set(path, out);
        },
        async close() {},
      };
    },
    async rename(from: string, to: string) {
      files.set(to, get(from));
      files.delete(from);
    },
    async remove(path: string) {
      files.delete(path);
    },
    async mkdirp() {},
    join: (...parts: string[]) => parts.join("/").replace(/\/+/g, "/"),
  };
}
