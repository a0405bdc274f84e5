/**
 * The runtime-neutral file interface that checkpoint, config, tokenizer and hub code use. Each host
 * implements it once (runners/node/files.ts, runners/deno/files.ts; runners/host-files.ts picks one), so
 * core/ never imports `node:fs` or touches `Deno`. A browser host can implement it over OPFS or fetch.
 *
 * Paths are plain strings in the host's syntax; `join` builds them, so core code never assumes "/".
 */
import { type TaggedErrorClass, taggedError } from "../errors.ts";

/** A file opened for reading at arbitrary offsets, so a 900 MB checkpoint is read one tensor at a time. */
export interface RandomAccessFile {
  readonly path: string;
  /** Size in bytes when the file was opened. */
  readonly size: number;
  /**
   * Exactly `length` bytes starting at `offset`, in a fresh buffer that the caller owns (its byteOffset
   * is 0, so typed-array views of it are aligned). Reading past the end is a FileAccessError.
   * Concurrent reads are allowed.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A file opened for appending (resumable downloads write into `<file>.incomplete` this way). */
export interface AppendFile {
  readonly path: string;
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface FileStat {
  readonly size: number;
  readonly isDirectory: boolean;
}

export interface FileAccess {
  /** Missing file → FileNotFoundError naming the path. */
  open(path: string): Promise<RandomAccessFile>;
  /** The whole file as UTF-8 text; a leading byte-order mark is dropped (JSON.parse rejects one). */
  readText(path: string): Promise<string>;
  exists(path: string): Promise<boolean>;
  /** Size and kind of a file or directory, or null when nothing is there. */
  stat(path: string): Promise<FileStat | null>;
  /**
   * Writes the chunks to a temporary file in the same directory, flushes it to disk, then renames it
   * over `path`. Whatever fails (a chunk source that throws, a full disk, a crash), the previous file
   * at `path` is left untouched and the temporary file is removed where possible.
   */
  writeAtomic(path: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void>;
  /** Opens (creating if needed) a file whose writes go to its end. */
  openAppend(path: string): Promise<AppendFile>;
  /** Atomic within one file system: `to` is replaced if it exists. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; a missing file is not an error. */
  remove(path: string): Promise<void>;
  /** Creates a directory and its parents; an existing directory is not an error. */
  mkdirp(path: string): Promise<void>;
  join(...parts: string[]): string;
}

/** A file or directory that does not exist. */
interface FileNotFoundErrorFields {
  readonly path: string;
  readonly message: string;
}
const FileNotFoundErrorBase: TaggedErrorClass<"FileNotFoundError", FileNotFoundErrorFields> = taggedError("FileNotFoundError");
export class FileNotFoundError extends FileNotFoundErrorBase {
  static of(path: string, what = "file"): FileNotFoundError {
    return new FileNotFoundError({ path, message: `${what} not found: ${path}` });
  }
}

/** A read or write that could not be done as asked (a read past the end of a file, a path that is a directory). */
interface FileAccessErrorFields {
  readonly path: string;
  readonly operation: string;
  readonly message: string;
}
const FileAccessErrorBase: TaggedErrorClass<"FileAccessError", FileAccessErrorFields> = taggedError("FileAccessError");
export class FileAccessError extends FileAccessErrorBase {
  static of(path: string, operation: string, why: string): FileAccessError {
    return new FileAccessError({ path, operation, message: `${path}: cannot ${operation}: ${why}` });
  }
}

/** Raw bytes → text: UTF-8, BOM dropped, invalid sequences replaced (the same on every runtime). */
export function decodeUtf8(bytes: Uint8Array): string {
  return new TextDecoder("utf-8").decode(bytes);
}

/** The directory part of a path ("/" and "\" both separate): "a/b/c.json" → "a/b", "c.json" → ".", "/c" → "/". */
export function parentOf(path: string): string {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return cut < 0 ? "." : cut === 0 ? path.slice(0, 1) : path.slice(0, cut);
}
