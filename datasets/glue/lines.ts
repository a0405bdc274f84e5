/**
 * Streaming line reader over a random-access file: reads fixed-size chunks, cuts them at LF bytes and decodes
 * each line on its own, so no more than one chunk plus one line is held at a time and line numbers are exact.
 *
 * - Lines are split on LF only; one CR right before the LF is dropped (Python's csv module does the same).
 *   The real GLUE files have no CR at all.
 * - A UTF-8 BOM at the start of the file is removed from line 1 (MRPC's header starts with one) and reported.
 * - A last line without a final newline is still a line (CoLA dev ends that way); a final newline does not
 *   start an empty extra line.
 * - Bytes that are not valid UTF-8 are an error with the line number, never silently replaced, so text
 *   round-trips byte-exactly.
 */
import { GlueFormatError, GlueUsageError } from "./errors.ts";
import type { RandomAccessFile } from "./files.ts";

export interface Line {
  /** 1-based line number. */
  readonly number: number;
  readonly text: string;
}

export interface LineReaderOptions {
  /** Bytes per read (default 1 MiB). */
  readonly chunkSize?: number;
  /** Called once if the file starts with a UTF-8 BOM. */
  readonly onBom?: () => void;
}

const LF = 0x0a;
const CR = 0x0d;

export async function* readLines(file: RandomAccessFile, options: LineReaderOptions = {}): AsyncGenerator<Line> {
  const chunkSize = options.chunkSize ?? 1 << 20;
  if (typeof chunkSize !== "number" || !Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw GlueUsageError.of(`readLines(${file.path}): chunkSize = ${JSON.stringify(chunkSize) ?? String(chunkSize)}: expected a positive integer (bytes per read)`);
  }
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let pending: Uint8Array[] = []; // bytes of the current line from earlier chunks
  let pendingLength = 0;
  let number = 0;

  const emit = (tail: Uint8Array): Line => {
    let bytes = tail;
    if (pendingLength > 0) {
      bytes = new Uint8Array(pendingLength + tail.length);
      let at = 0;
      for (const p of pending) {
        bytes.set(p, at);
        at += p.length;
      }
      bytes.set(tail, at);
      pending = [];
      pendingLength = 0;
    }
    number++;
    let start = 0;
    let end = bytes.length;
    if (number === 1 && end >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
      start = 3;
      options.onBom?.();
    }
    if (end > start && bytes[end - 1] === CR) end--;
    try {
      return { number, text: decoder.decode(bytes.subarray(start, end)) };
    } catch {
      throw GlueFormatError.of(file.path, number, "the line is not valid UTF-8");
    }
  };

  for (let offset = 0; offset < file.size; ) {
    const length = Math.min(chunkSize, file.size - offset);
    const chunk = await file.read(offset, length);
    if (chunk.length !== length) {
      throw GlueFormatError.of(file.path, number + 1, `short read: asked for ${length} bytes at offset ${offset}, got ${chunk.length}`);
    }
    offset += length;
    let start = 0;
    for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, start)) {
      yield emit(chunk.subarray(start, i));
      start = i + 1;
    }
    if (start < chunk.length) {
      // Keep a copy: the reader may reuse its buffer for the next chunk.
      const rest = chunk.slice(start);
      pending.push(rest);
      pendingLength += rest.length;
    }
  }
  if (pendingLength > 0) yield emit(new Uint8Array(0));
}
