/**
 * Hub downloads against a local HTTP server (node:http, on Node and Deno) that serves files made here in
 * the hub's URL layout: an interrupted transfer resumed with a Range request, the model.safetensors →
 * index + shards fallback on 404, a server that ignores Range, size mismatches, HTTP errors, and offline
 * use of a complete cache.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type FileAccess, FileNotFoundError } from "../../core/io/files.ts";
import { COMPLETE_MARKER, DownloadError, resolveModelDir } from "../../core/io/hub.ts";
import { openCheckpoint, writeSafetensors } from "../../core/io/safetensors.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { expectReject, literal, scratchDir, testFiles } from "./helpers.ts";

interface Served {
  /** url path → body */
  readonly files: Map<string, Uint8Array>;
  /** url paths whose next full (non-Range) GET sends half the body, then drops the connection. */
  readonly interruptOnce: Set<string>;
  /** url paths answered 200 with the whole body even to a Range request. */
  readonly ignoreRange: Set<string>;
  /** url path → x-linked-size to announce instead of the real size. */
  readonly linkedSize: Map<string, number>;
  /** url path → status to answer with. */
  readonly failWith: Map<string, number>;
  readonly log: { path: string; range: string | undefined; status: number }[];
}

async function startServer(served: Served): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const range = req.headers.range;
    const answer = (status: number, headers: Record<string, string | number>, body?: Uint8Array) => {
      served.log.push({ path, range, status });
      res.writeHead(status, headers);
      res.end(body);
    };
    const failure = served.failWith.get(path);
    if (failure !== undefined) return answer(failure, { "content-type": "text/plain" }, new TextEncoder().encode("nope"));
    const body = served.files.get(path);
    if (!body) return answer(404, { "content-type": "text/plain" }, new TextEncoder().encode("Entry not found"));
    const size = served.linkedSize.get(path);
    const extra: Record<string, string | number> = size === undefined ? {} : { "x-linked-size": size };
    const match = range === undefined || served.ignoreRange.has(path) ? null : /^bytes=(\d+)-$/.exec(range);
    if (match) {
      const start = Number(match[1]);
      if (start >= body.byteLength) return answer(416, { "content-range": `bytes */${body.byteLength}` });
      return answer(206, { ...extra, "content-length": body.byteLength - start, "content-range": `bytes ${start}-${body.byteLength - 1}/${body.byteLength}` }, body.subarray(start));
    }
    if (served.interruptOnce.delete(path)) {
      served.log.push({ path, range, status: 200 });
      res.writeHead(200, { ...extra, "content-length": body.byteLength });
      // Once the first half is handed to the OS, cut the connection: the client sees a short body.
      res.write(body.subarray(0, Math.floor(body.byteLength / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    answer(200, { ...extra, "content-length": body.byteLength }, body);
  };
  const server: Server = createServer(handle);
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const text = (value: unknown) => new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));

/** A throwing fetch: proves that nothing goes to the network. */
const noNetwork: typeof fetch = () => Promise.reject(new TypeError("network disabled in this test"));

export function register(_backends: readonly NamedBackend[]): void {
  const s = suite("io: hub downloads");
  let fs: FileAccess;
  let scratch = "";
  let removeScratch = async () => {};
  let server: { url: string; close(): Promise<void> };
  const served: Served = {
    files: new Map(),
    interruptOnce: new Set(),
    ignoreRange: new Set(),
    linkedSize: new Map(),
    failWith: new Map(),
    log: [],
  };
  const readBytes = async (path: string) => {
    const file = await fs.open(path);
    try {
      return await file.read(0, file.size);
    } finally {
      await file.close();
    }
  };
  /** Serves `files` as repository `repo` at revision `revision`. */
  const publish = (repo: string, files: Record<string, Uint8Array>, revision = "main") => {
    for (const [name, body] of Object.entries(files)) served.files.set(`/${repo}/resolve/${revision}/${name}`, body);
  };
  /** safetensors bytes of a few tensors, written through the real writer. */
  const safetensorsBytes = async (name: string, tensors: Record<string, Float32Array>) => {
    const path = fs.join(scratch, `${name}.safetensors`);
    await writeSafetensors(fs, path, Object.fromEntries(Object.entries(tensors).map(([k, v]) => [k, { dtype: "F32" as const, shape: [v.length], data: v }])));
    return readBytes(path);
  };

  s.before(async () => {
    fs = await testFiles();
    const dir = await scratchDir("hub");
    scratch = dir.path;
    removeScratch = dir.remove;
    server = await startServer(served);
  });
  s.after(async () => {
    await server.close();
    await removeScratch();
  });

  s("an interrupted download resumes with a Range request; sizes are checked; progress is reported", async () => {
    const weights = await safetensorsBytes("single", { "shared.weight": Float32Array.from({ length: 50_000 }, (_, i) => Math.sin(i)) });
    const files = { "config.json": text({ model_type: "t5", d_model: 8 }), "model.safetensors": weights, "tokenizer.json": text({ model: { type: "Unigram" } }) };
    publish("acme/tiny-t5", files);
    served.interruptOnce.add("/acme/tiny-t5/resolve/main/model.safetensors");
    const cacheDir = fs.join(scratch, "cache");
    const progress: [string, number, number | undefined][] = [];
    const options = { cacheDir, endpoint: server.url, onProgress: (f: string, got: number, total: number | undefined) => progress.push([f, got, total]) };

    const interrupted = await expectReject(resolveModelDir(fs, "acme/tiny-t5", options), DownloadError, /\/acme\/tiny-t5\/resolve\/main\/model\.safetensors/, /interrupted after \d+ of \d+ bytes|size mismatch/);
    assert.ok(interrupted.url.startsWith(server.url));
    const dir = fs.join(cacheDir, "acme", "tiny-t5", "main");
    const partial = await fs.stat(fs.join(dir, "model.safetensors.incomplete"));
    assert.ok(partial !== null && partial.size > 0 && partial.size < weights.byteLength, `partial file of ${partial?.size} bytes kept`);
    assert.not.ok(await fs.exists(fs.join(dir, "model.safetensors")), "no final file before it is complete");
    assert.ok(await fs.exists(fs.join(dir, "config.json")), "files before the failure are kept");

    served.log.length = 0;
    progress.length = 0;
    assert.is(await resolveModelDir(fs, "acme/tiny-t5", options), dir);
    const weightRequests = served.log.filter((r) => r.path.endsWith("/model.safetensors"));
    assert.equal(weightRequests, [{ path: "/acme/tiny-t5/resolve/main/model.safetensors", range: `bytes=${partial!.size}-`, status: 206 }]);
    assert.not.ok(served.log.some((r) => r.path.endsWith("/config.json")), "complete files are not fetched again");
    for (const [name, body] of Object.entries(files)) assert.equal(Array.from(await readBytes(fs.join(dir, name))), Array.from(body), name);
    assert.not.ok(await fs.exists(fs.join(dir, "model.safetensors.incomplete")));
    assert.ok(await fs.exists(fs.join(dir, COMPLETE_MARKER)));
    assert.not.ok(await fs.exists(fs.join(dir, "tokenizer_config.json")), "optional files that are 404 are skipped");
    const weightProgress = progress.filter(([f]) => f === "model.safetensors");
    assert.equal(weightProgress[0], ["model.safetensors", partial!.size, weights.byteLength], "resumed progress starts at the partial size");
    assert.equal(weightProgress[weightProgress.length - 1], ["model.safetensors", weights.byteLength, weights.byteLength]);
    assert.ok(weightProgress.every(([, got], i) => i === 0 || got >= weightProgress[i - 1]![1]), "monotonic");

    const checkpoint = await openCheckpoint(fs, dir);
    assert.is((await checkpoint.readF32("shared.weight"))[1], Math.fround(Math.sin(1)));
    await checkpoint.close();

    // Complete in the cache: offline works, nothing is fetched.
    assert.is(await resolveModelDir(fs, "acme/tiny-t5", { ...options, fetch: noNetwork }), dir);
  });

  s("model.safetensors 404 falls back to the index and its shards", async () => {
    const a = Float32Array.from([1, 2, 3]);
    const b = Float32Array.from([4, 5]);
    const index = { metadata: { total_size: 20 }, weight_map: { "encoder.a": "model-00001-of-00002.safetensors", "decoder.b": "model-00002-of-00002.safetensors" } };
    publish(
      "acme/sharded-t5",
      {
        "config.json": text({ model_type: "t5" }),
        "model.safetensors.index.json": text(index),
        "model-00001-of-00002.safetensors": await safetensorsBytes("shard1", { "encoder.a": a }),
        "model-00002-of-00002.safetensors": await safetensorsBytes("shard2", { "decoder.b": b }),
        "tokenizer.json": text({}),
        "tokenizer_config.json": text({}),
        "special_tokens_map.json": text({}),
      },
      "v1.0",
    );
    served.log.length = 0;
    const cacheDir = fs.join(scratch, "cache");
    const dir = await resolveModelDir(fs, "acme/sharded-t5", { cacheDir, endpoint: `${server.url}/`, revision: "v1.0" });
    assert.is(dir, fs.join(cacheDir, "acme", "sharded-t5", "v1.0"));
    assert.ok(served.log.some((r) => r.path === "/acme/sharded-t5/resolve/v1.0/model.safetensors" && r.status === 404));
    for (const optional of ["tokenizer_config.json", "special_tokens_map.json"]) assert.ok(await fs.exists(fs.join(dir, optional)), optional);
    const checkpoint = await openCheckpoint(fs, dir);
    assert.equal(checkpoint.names().sort(), ["decoder.b", "encoder.a"]);
    assert.equal(Array.from(await checkpoint.readF32("encoder.a")), [1, 2, 3]);
    assert.equal(Array.from(await checkpoint.readF32("decoder.b")), [4, 5]);
    await checkpoint.close();
    const marker = JSON.parse(await fs.readText(fs.join(dir, COMPLETE_MARKER))) as { files: string[] };
    assert.ok(marker.files.includes("model-00002-of-00002.safetensors"));
  });

  s("a server that ignores Range: the partial file is dropped and the download starts over", async () => {
    const body = await safetensorsBytes("ranged", { w: Float32Array.from({ length: 30_000 }, (_, i) => i) });
    publish("acme/no-range", { "config.json": text({ model_type: "t5" }), "model.safetensors": body, "tokenizer.json": text({}) });
    const path = "/acme/no-range/resolve/main/model.safetensors";
    served.interruptOnce.add(path);
    served.ignoreRange.add(path);
    const options = { cacheDir: fs.join(scratch, "cache"), endpoint: server.url };
    await expectReject(resolveModelDir(fs, "acme/no-range", options), DownloadError);
    served.log.length = 0;
    const dir = await resolveModelDir(fs, "acme/no-range", options);
    const request = served.log.find((r) => r.path === path)!;
    assert.ok(request.range?.startsWith("bytes="), "a Range request was made");
    assert.is(request.status, 200, "answered with the whole file");
    assert.equal(Array.from(await readBytes(fs.join(dir, "model.safetensors"))), Array.from(body));
  });

  s("size mismatch, HTTP errors, missing repositories and offline without a cache are DownloadErrors", async () => {
    const cacheDir = fs.join(scratch, "cache");
    const options = { cacheDir, endpoint: server.url };
    publish("acme/short", { "config.json": text({ model_type: "t5" }), "model.safetensors": new Uint8Array(100), "tokenizer.json": text({}) });
    served.linkedSize.set("/acme/short/resolve/main/model.safetensors", 1000);
    const mismatch = await expectReject(resolveModelDir(fs, "acme/short", options), DownloadError, /model\.safetensors: size mismatch: received 100 bytes in all, the server announced 1000 \(x-linked-size\)/);
    assert.is(mismatch.status, 200);
    assert.not.ok(await fs.exists(fs.join(cacheDir, "acme", "short", "main", "model.safetensors")));

    publish("acme/broken", { "config.json": text({ model_type: "t5" }) });
    served.failWith.set("/acme/broken/resolve/main/model.safetensors", 500);
    const http = await expectReject(resolveModelDir(fs, "acme/broken", options), DownloadError, literal(`${server.url}/acme/broken/resolve/main/model.safetensors`), /HTTP 500/);
    assert.is(http.status, 500);
    served.failWith.set("/acme/gated/resolve/main/config.json", 401);
    await expectReject(resolveModelDir(fs, "acme/gated", options), DownloadError, /HTTP 401.*private or gated: pass options\.token/);

    const missing = await expectReject(resolveModelDir(fs, "acme/nothing-here", options), DownloadError, /acme\/nothing-here\/resolve\/main\/config\.json: not found \(HTTP 404\)/);
    assert.is(missing.status, 404);
    publish("acme/no-weights", { "config.json": text({ model_type: "t5" }) });
    await expectReject(resolveModelDir(fs, "acme/no-weights", options), DownloadError, /neither is model\.safetensors\.index\.json/);

    await expectReject(resolveModelDir(fs, "acme/offline", { ...options, fetch: noNetwork }), DownloadError, /acme\/offline\/resolve\/main\/config\.json: cannot reach the server \(network disabled in this test\)/);
  });

  s("local directories are used as they are; other paths and a missing cacheDir are FileNotFoundErrors", async () => {
    assert.is(await resolveModelDir(fs, scratch, { fetch: noNetwork }), scratch);
    await expectReject(resolveModelDir(fs, fs.join(scratch, "no", "such", "dir"), { fetch: noNetwork }), FileNotFoundError, /model directory not found/, /not a hub id/);
    await expectReject(resolveModelDir(fs, "google-t5/t5-small", { fetch: noNetwork }), FileNotFoundError, /pass options\.cacheDir/);
  });

  s.run();
}
