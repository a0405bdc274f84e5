/**
 * Model directories from the Hugging Face hub. `resolveModelDir` takes a local directory (returned as is)
 * or a hub id such as "google-t5/t5-small", whose files it downloads with `fetch` from
 *   ${endpoint}/${repo}/resolve/${revision}/${file}
 * into
 *   ${cacheDir}/${repo}/${revision}/${file}
 * and returns that directory.
 *
 * Files: config.json; model.safetensors, or when that is 404 model.safetensors.index.json and every shard
 * its weight_map names; tokenizer.json; tokenizer_config.json and special_tokens_map.json when present.
 *
 * Each file streams into `${file}.incomplete`. An interrupted download keeps that partial file, and the
 * next call asks for the rest with an HTTP Range request (a server that ignores Range starts it over).
 * The received size must equal the size the server announced (x-linked-size, the hub's size of an LFS
 * file, else Content-Length) before the partial file is renamed to its final name, so a file in the cache
 * is always complete. When every file is in, a marker file records it; from then on the directory is used
 * without any network access (offline works). Files in the cache are not re-validated against the hub:
 * delete the revision's directory to refresh it.
 */
import { type TaggedErrorClass, taggedError } from "../errors.ts";
import { type FileAccess, FileNotFoundError } from "./files.ts";

/** A hub download that failed: names the URL and the HTTP status or the size mismatch. */
interface DownloadErrorFields {
  readonly url: string;
  /** HTTP status, when a response came back. */
  readonly status: number | undefined;
  readonly message: string;
}
const DownloadErrorBase: TaggedErrorClass<"DownloadError", DownloadErrorFields> = taggedError("DownloadError");
export class DownloadError extends DownloadErrorBase {
  static of(url: string, status: number | undefined, problem: string): DownloadError {
    return new DownloadError({ url, status, message: `${url}: ${problem}` });
  }
}

export interface HubOptions {
  /** Where downloads go (`${cacheDir}/${repo}/${revision}/`). Needed only for hub ids. */
  readonly cacheDir?: string;
  /** Hub base URL (like the HF_ENDPOINT variable of HF's tools); default "https://huggingface.co". */
  readonly endpoint?: string;
  /** Branch, tag or commit; default "main". */
  readonly revision?: string;
  /** Bearer token for private or gated repositories. */
  readonly token?: string;
  /** Called as bytes arrive: (file name, bytes received so far, total bytes or undefined if unknown). */
  readonly onProgress?: (file: string, receivedBytes: number, totalBytes: number | undefined) => void;
  /** The fetch to use; default globalThis.fetch. */
  readonly fetch?: typeof fetch;
}

export const DEFAULT_ENDPOINT = "https://huggingface.co";
/** Written last into a cached revision directory: all files are in. */
export const COMPLETE_MARKER = ".webpeft-download.json";

const HUB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

export function isHubId(value: string): boolean {
  return HUB_ID.test(value) && !value.includes("..");
}

/** A local directory as is; a hub id downloaded (or found complete in the cache) → its cache directory. */
export async function resolveModelDir(fs: FileAccess, pathOrHubId: string, options: HubOptions = {}): Promise<string> {
  if (await fs.exists(pathOrHubId)) return pathOrHubId;
  if (!isHubId(pathOrHubId)) {
    throw new FileNotFoundError({
      path: pathOrHubId,
      message: `model directory not found: ${pathOrHubId} (and it is not a hub id like "google-t5/t5-small")`,
    });
  }
  if (options.cacheDir === undefined) {
    throw new FileNotFoundError({
      path: pathOrHubId,
      message: `model directory not found: ${pathOrHubId}; to download it as a hub id, pass options.cacheDir`,
    });
  }
  const revision = options.revision ?? "main";
  const dir = fs.join(options.cacheDir, ...pathOrHubId.split("/"), encodeURIComponent(revision));
  if (await fs.exists(fs.join(dir, COMPLETE_MARKER))) return dir;
  await fs.mkdirp(dir);

  const endpoint = (options.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, "");
  const baseUrl = `${endpoint}/${pathOrHubId}/resolve/${encodeURIComponent(revision)}/`;
  const download = (name: string, optional: boolean) => downloadFile(fs, dir, baseUrl, name, optional, options);
  const files: string[] = [];
  const take = async (name: string, optional: boolean) => {
    if (await download(name, optional)) files.push(name);
  };

  try {
    await take("config.json", false);
  } catch (e) {
    if (e instanceof DownloadError && e.status === 404) {
      throw DownloadError.of(e.url, 404, `not found (HTTP 404): is "${pathOrHubId}" a hub repository with revision "${revision}"? It is not a local directory either`);
    }
    throw e;
  }
  if (await download("model.safetensors", true)) {
    files.push("model.safetensors");
  } else {
    const index = "model.safetensors.index.json";
    if (!(await download(index, true))) {
      throw DownloadError.of(`${baseUrl}model.safetensors`, 404, `not found (HTTP 404), and neither is ${index}: the repository has no safetensors weights`);
    }
    files.push(index);
    for (const shard of await shardNames(fs, fs.join(dir, index), `${baseUrl}${index}`)) await take(shard, false);
  }
  await take("tokenizer.json", false);
  await take("tokenizer_config.json", true);
  await take("special_tokens_map.json", true);

  const marker = JSON.stringify({ repo: pathOrHubId, revision, endpoint, files }, null, 2) + "\n";
  await fs.writeAtomic(fs.join(dir, COMPLETE_MARKER), [new TextEncoder().encode(marker)]);
  return dir;
}

async function shardNames(fs: FileAccess, indexPath: string, url: string): Promise<string[]> {
  let weightMap: unknown;
  try {
    weightMap = (JSON.parse(await fs.readText(indexPath)) as { weight_map?: unknown } | null)?.weight_map;
  } catch (e) {
    await fs.remove(indexPath);
    throw DownloadError.of(url, undefined, `the index is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof weightMap !== "object" || weightMap === null) {
    await fs.remove(indexPath);
    throw DownloadError.of(url, undefined, `the index has no "weight_map" object`);
  }
  const names = new Set<string>();
  for (const shard of Object.values(weightMap)) {
    // Shards are files next to the index; anything else could write outside the cache directory.
    if (typeof shard !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(shard)) {
      throw DownloadError.of(url, undefined, `weight_map names ${JSON.stringify(shard)}, which is not a plain file name`);
    }
    names.add(shard);
  }
  return [...names];
}

/** Parses "bytes <first>-<last>/<total or *>". */
function parseContentRange(value: string | null): { first: number; total: number | undefined } | null {
  const match = value === null ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value.trim());
  if (!match) return null;
  return { first: Number(match[1]), total: match[3] === "*" ? undefined : Number(match[3]) };
}

function headerNumber(headers: Headers, name: string): number | undefined {
  const value = headers.get(name);
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value);
}

/**
 * Downloads `name` into `dir` unless it is already there. Returns false when an optional file is 404.
 * A 200 answer to a Range request means the server ignored the range: the partial file is dropped and
 * the download starts over. A 416 (range not satisfiable) also starts over.
 */
async function downloadFile(
  fs: FileAccess,
  dir: string,
  baseUrl: string,
  name: string,
  optional: boolean,
  options: HubOptions,
  restarted = false,
): Promise<boolean> {
  const finalPath = fs.join(dir, name);
  if (await fs.exists(finalPath)) return true;
  const partPath = `${finalPath}.incomplete`;
  const url = baseUrl + name.split("/").map(encodeURIComponent).join("/");
  const have = (await fs.stat(partPath))?.size ?? 0;

  const headers: Record<string, string> = { "accept-encoding": "identity" };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (have > 0) headers.range = `bytes=${have}-`;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  let response: Response;
  try {
    response = await fetchImpl(url, { headers, redirect: "follow" });
  } catch (e) {
    throw DownloadError.of(url, undefined, `cannot reach the server (${(e as Error).message}); offline, a model works only once it is completely in the cache`);
  }

  if (response.status === 404 && optional) {
    await response.body?.cancel();
    return false;
  }
  if (response.status === 416 && have > 0 && !restarted) {
    await response.body?.cancel();
    await fs.remove(partPath);
    return downloadFile(fs, dir, baseUrl, name, optional, options, true);
  }
  if (response.status !== 200 && response.status !== 206) {
    await response.body?.cancel();
    const hint = response.status === 401 || response.status === 403 ? "; the repository may be private or gated: pass options.token" : "";
    throw DownloadError.of(url, response.status, `HTTP ${response.status} ${response.statusText}`.trimEnd() + hint);
  }

  let offset = 0;
  let total: number | undefined;
  const length = response.headers.get("content-encoding") ? undefined : headerNumber(response.headers, "content-length");
  if (response.status === 206) {
    const range = parseContentRange(response.headers.get("content-range"));
    if (range === null || range.first !== have) {
      await response.body?.cancel();
      throw DownloadError.of(url, 206, `asked for bytes ${have}- but the server answered Content-Range ${JSON.stringify(response.headers.get("content-range"))}`);
    }
    offset = have;
    total = range.total ?? (length === undefined ? undefined : have + length);
  } else {
    if (have > 0) await fs.remove(partPath); // the server ignored the Range header: start over
    total = headerNumber(response.headers, "x-linked-size") ?? length;
  }

  let received = offset;
  options.onProgress?.(name, received, total);
  const out = await fs.openAppend(partPath);
  try {
    if (response.body) {
      const reader = response.body.getReader();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          throw DownloadError.of(
            url,
            response.status,
            `transfer interrupted after ${received} of ${total ?? "?"} bytes (${(e as Error).message}); ` +
              `the partial file is kept and the next call resumes it`,
          );
        }
        if (chunk.done) break;
        await out.write(chunk.value);
        received += chunk.value.byteLength;
        options.onProgress?.(name, received, total);
      }
    }
  } finally {
    await out.close();
  }

  const size = (await fs.stat(partPath))?.size ?? 0;
  if (total !== undefined && size !== total) {
    const source = headerNumber(response.headers, "x-linked-size") !== undefined ? "x-linked-size" : response.status === 206 ? "Content-Range" : "Content-Length";
    if (size > total) await fs.remove(partPath); // cannot be resumed: start over next time
    throw DownloadError.of(
      url,
      response.status,
      `size mismatch: received ${size} bytes in all, the server announced ${total} (${source})` +
        (size < total ? "; the partial file is kept and the next call resumes it" : ""),
    );
  }
  await fs.rename(partPath, finalPath);
  return true;
}
