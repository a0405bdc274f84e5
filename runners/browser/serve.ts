/**
 * `npm run serve`: builds the browser runner (build.ts) and serves it on http://localhost:8080 (WebGPU
 * needs a secure context; localhost is one). A tiny static server: GET and HEAD, byte ranges (the hub
 * code resumes downloads with them), no directory listings, nothing outside the folder.
 *
 *   npx tsx runners/browser/serve.ts [--port 8080] [--host 127.0.0.1] [--dir <built folder>] [--no-build]
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { type Server, createServer } from "node:http";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { buildWeb } from "./build.ts";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".safetensors": "application/octet-stream",
  ".tsv": "text/tab-separated-values; charset=utf-8",
};

export interface StaticServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** Serves `dir` on host:port (port 0: any free port). */
export async function serveStatic(dir: string, options: { readonly port?: number; readonly host?: string } = {}): Promise<StaticServer> {
  const root = resolve(dir);
  const server = createServer(async (request, response) => {
    try {
      if (request.method !== "GET" && request.method !== "HEAD") {
        response.writeHead(405, { allow: "GET, HEAD" }).end();
        return;
      }
      const pathname = decodeURIComponent(new URL(request.url ?? "/", "http://localhost").pathname);
      let path = resolve(root, "." + pathname);
      if (path !== root && !path.startsWith(root + sep)) {
        response.writeHead(403).end();
        return;
      }
      let info = await stat(path).catch(() => null);
      if (info?.isDirectory()) {
        path = join(path, "index.html");
        info = await stat(path).catch(() => null);
      }
      if (!info || !info.isFile()) {
        response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end(`not found: ${pathname}\n`);
        return;
      }
      const headers: Record<string, string | number> = {
        "content-type": TYPES[extname(path)] ?? "application/octet-stream",
        "accept-ranges": "bytes",
        "cache-control": "no-cache",
      };
      const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? "");
      let start = 0;
      let end = info.size - 1;
      let status = 200;
      if (range) {
        start = Number(range[1]);
        end = range[2] ? Math.min(Number(range[2]), info.size - 1) : info.size - 1;
        if (start >= info.size || start > end) {
          response.writeHead(416, { "content-range": `bytes */${info.size}` }).end();
          return;
        }
        status = 206;
        headers["content-range"] = `bytes ${start}-${end}/${info.size}`;
      }
      headers["content-length"] = end - start + 1;
      response.writeHead(status, headers);
      if (request.method === "HEAD" || info.size === 0) {
        response.end();
        return;
      }
      createReadStream(path, { start, end }).on("error", () => response.destroy()).pipe(response);
    } catch {
      if (!response.headersSent) response.writeHead(500).end();
      else response.destroy();
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(options.port ?? 8080, options.host ?? "127.0.0.1", () => ok());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const host = options.host ?? "127.0.0.1";
  return {
    url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host}:${port}/`,
    server,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let dir = flag(args, "--dir");
  if (!args.includes("--no-build")) {
    const built = await buildWeb(dir ? { outDir: dir } : {});
    dir = built.outDir;
    console.log(`built ${dir} (demo model ${built.demoModel})`);
  }
  const server = await serveStatic(dir ?? join(fileURLToPath(new URL(".", import.meta.url)), "dist"), { port: Number(flag(args, "--port") ?? 8080), host: flag(args, "--host") ?? "127.0.0.1" });
  console.log(`webpeft in the browser: ${server.url}  (open it in Chrome or Edge; Ctrl-C stops)`);
}
