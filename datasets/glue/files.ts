/**
 * The file access the GLUE layer needs: the part of core's `FileAccess` (core/io/files.ts) that it uses.
 * The host provides it (Node and Deno: `runners/host-files.ts`; a browser: OPFS or fetch). Reading is
 * random-access only, so a file is never loaded whole; `writeAtomic` and `mkdirp` serve the synthetic task
 * and the token cache.
 */
import type { FileAccess as CoreFileAccess, RandomAccessFile } from "../../core/io/files.ts";

export type { RandomAccessFile };
export type FileAccess = Pick<CoreFileAccess, "open" | "readText" | "exists" | "writeAtomic" | "mkdirp" | "join">;
