/**
 * The single-machine store of a sweep: PGlite (PostgreSQL compiled to WebAssembly, nothing to install)
 * in `<sweep out>/.cluster/pglite`, served over the Postgres wire protocol on 127.0.0.1 so that the
 * cluster uses the same client (@effect/sql-pg) and the same SQL as with a real PostgreSQL server.
 *
 * PGlite is one connection; its socket server multiplexes clients onto it, so the client pool is kept
 * at one connection and the cluster runs without advisory locks (SingleRunner, in-memory runner table).
 * The port is written to `.cluster/pglite.port` while the server runs, so `webpeft sweep status` can
 * read a sweep that another process is running; only one process may open the folder at a time.
 */
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import type { FileAccess } from "../../core/io/files.ts";

export interface EmbeddedDatabase {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const encoder = new TextEncoder();

/** The running server of another process on this sweep folder, if any (its port answers). */
export async function runningEmbeddedDatabase(fs: FileAccess, sweepOut: string): Promise<number | null> {
  const portFile = fs.join(sweepOut, ".cluster", "pglite.port");
  if (!(await fs.exists(portFile))) return null;
  const port = Number((await fs.readText(portFile)).trim());
  if (!Number.isInteger(port) || port <= 0) return null;
  const net = await import("node:net");
  const answers = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
  return answers ? port : null;
}

/** Opens (creating if needed) the sweep's PGlite store and serves it on a free local port. */
export async function openEmbeddedDatabase(fs: FileAccess, sweepOut: string): Promise<EmbeddedDatabase> {
  const dir = fs.join(sweepOut, ".cluster");
  await fs.mkdirp(dir);
  const db = await PGlite.create(fs.join(dir, "pglite"));
  const server = new PGLiteSocketServer({ db, port: 0, host: "127.0.0.1" });
  await server.start();
  const address = (server as unknown as { server?: { address(): { port: number } | string | null } }).server?.address();
  const port = typeof address === "object" && address ? address.port : Number.NaN;
  if (!Number.isInteger(port)) {
    await server.stop();
    await db.close();
    throw new Error(`the embedded database of ${sweepOut} did not report its port`);
  }
  const portFile = fs.join(dir, "pglite.port");
  await fs.writeAtomic(portFile, [encoder.encode(`${port}\n`)]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async close() {
      await fs.remove(portFile);
      await server.stop();
      await db.close();
    },
  };
}
