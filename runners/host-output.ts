/**
 * The host's standard output and error as plain writers, for progress bars and tables (Node's process
 * streams, Deno's; a browser has none and gets console lines).
 */
import { detectRuntime } from "../core/runtime.ts";

export interface HostOutput {
  write(text: string): void;
  writeError(text: string): void;
  /** Whether stdout is a terminal (a live progress bar can be redrawn). */
  readonly isTerminal: boolean;
  readonly columns: number;
}

export function hostOutput(): HostOutput {
  const g = globalThis as {
    process?: { stdout: { write(s: string): void; isTTY?: boolean; columns?: number }; stderr: { write(s: string): void } };
    Deno?: { stdout: { writeSync(b: Uint8Array): number; isTerminal(): boolean }; stderr: { writeSync(b: Uint8Array): number }; consoleSize?(): { columns: number } };
  };
  if (detectRuntime() === "deno" && g.Deno) {
    const deno = g.Deno;
    const encoder = new TextEncoder();
    const writeAll = (stream: { writeSync(b: Uint8Array): number }, text: string) => {
      let bytes = encoder.encode(text);
      while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
    };
    const isTerminal = deno.stdout.isTerminal();
    let columns = 80;
    try {
      if (isTerminal && deno.consoleSize) columns = deno.consoleSize().columns;
    } catch {
      // not a console after all: keep 80
    }
    return { write: (t) => writeAll(deno.stdout, t), writeError: (t) => writeAll(deno.stderr, t), isTerminal, columns };
  }
  if (g.process?.stdout) {
    const { stdout, stderr } = g.process;
    return { write: (t) => void stdout.write(t), writeError: (t) => void stderr.write(t), isTerminal: stdout.isTTY === true, columns: stdout.columns ?? 80 };
  }
  return { write: (t) => console.log(t.replace(/\n$/, "")), writeError: (t) => console.error(t.replace(/\n$/, "")), isTerminal: false, columns: 80 };
}
