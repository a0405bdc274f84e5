/**
 * A throwaway PostgreSQL server for tests: Debian's `postgresql` package (installed by
 * scripts/install-system-deps.sh), `initdb` + `pg_ctl` in a temporary folder, on a free local port,
 * trust authentication, stopped (and the folder removed) by `stop()`. Run as root (CI), the server runs
 * as the `postgres` user the package creates, because PostgreSQL refuses to run as root.
 *
 * A missing PostgreSQL is an error naming the package, never a skipped test.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestPostgres {
  readonly url: string;
  readonly port: number;
  stop(): void;
}

/** The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl, or $WEBPEFT_PG_BIN. */
function postgresBin(): string {
  const fromEnv = process.env.WEBPEFT_PG_BIN;
  if (fromEnv) return fromEnv;
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) {
    throw new Error("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run `bash scripts/install-system-deps.sh` (Debian package postgresql), or set WEBPEFT_PG_BIN");
  }
  return join(root, versions[0]!, "bin");
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), "webpeft-pg-"));
  const asRoot = process.getuid?.() === 0;
  // As root: run the server as `postgres`, which must own the folder.
  const run = (command: string, args: string[]) => {
    const file = join(bin, command);
    const result = asRoot ? spawnSync("runuser", ["-u", "postgres", "--", file, ...args], { encoding: "utf8" }) : spawnSync(file, args, { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status}): ${result.stderr || result.stdout}`);
  };
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, "data");
  run("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]);
  const port = await freePort();
  run("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-w", "-t", "60", "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`, "start"]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop() {
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
