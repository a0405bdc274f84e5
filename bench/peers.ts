/**
 * Same-run comparison with the WebGPU peers that install from npm: TensorFlow.js with its WebGPU backend
 * ("tfjs-webgpu": @tensorflow/tfjs + @tensorflow/tfjs-backend-webgpu) and jax-js (@jax-js/jax, device
 * "webgpu"), against webpeft's WebGPU backend, on the same WebGPU adapter type (lavapipe on a machine
 * without a GPU, the real adapter on a GPU host). Workloads, float32, every engine fed the same host
 * Float32Arrays:
 *
 *   matmul    C = A·B, 1024×1024 · 1024×1024; one sample = the product plus a readback of C to the host
 *             (the readback forces the sync, the same for every engine). GFLOP/s = 2·1024³ ÷ time.
 *   mlp-step  one training step of a 2-layer MLP: x (1024×512) → Linear 512→2048 → ReLU (tfjs has no
 *             GELU) → Linear 2048→512 → mean squared error against a target → backward → plain SGD
 *             (lr 0.05) on both weight matrices and both biases; one sample ends when the loss is on the
 *             host. Each engine uses its own autograd: webpeft tensors with requiresGrad and
 *             loss.backward() (update under noGrad); tfjs tf.train.sgd(lr).minimize(); jax-js
 *             jit(valueAndGrad(loss) + SGD update) on a params tree.
 *
 * Correctness checks, printed above the table: the first-step losses (same initial weights and data) must
 * agree to 1e-3 relative, and the warm-up products C to 1e-3 (max |ΔC| ÷ max |C|), against webpeft.
 *
 * Timing: one warm-up sample per engine and workload (pipelines compiled, buffers pooled; the MLP's
 * warm-up is the first step, whose loss is checked), then rounds interleaved across engines (A, B, C,
 * B, C, A, …: bench/plugins.ts interleaved()), each sample awaited before the next starts, so only one
 * engine works at a time. Reported: min / median / max ms per engine, GFLOP/s at the median for matmul,
 * and per peer "webpeft ÷ peer" (median ms ÷ median ms; issue 9's target is ≤ 0.5) and its inverse,
 * the speed-up. A peer that does not install, import or get a WebGPU device is a row saying why.
 *
 * Runtimes: in Node, WebGPU comes from the `webgpu` npm package (Dawn; runners/node/webgpu.ts); the peers
 * look for navigator.gpu, so the bench sets navigator.gpu to that same GPU entry point before importing
 * them (jax-js's README lists Node as "no WebGPU" only because Node has no navigator.gpu). Deno has its
 * own navigator.gpu (wgpu): `node_modules/.bin/deno run -A bench/run.ts peers`. The header line names the
 * runtime; ratios from the two runtimes differ (different WebGPU implementations), so compare like with
 * like. Each engine requests its own adapter and device.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Backend } from "../core/backend/backend.ts";
import { noGrad } from "../core/tensor/autograd.ts";
import { tensor } from "../core/tensor/create.ts";
import { keep, tidy } from "../core/tensor/scope.ts";
import type { Tensor } from "../core/tensor/tensor.ts";
import { detectRuntime } from "../core/runtime.ts";
import { WEBPEFT_VERSION, runtimeVersions } from "../core/version.ts";
import { hostGPU } from "../runners/host.ts";
import { interleaved, median } from "./plugins.ts";

export const PEER_ENGINES = ["webpeft", "tfjs-webgpu", "jax-js"] as const;
export type PeerEngineName = (typeof PEER_ENGINES)[number];
export type PeerWorkload = "matmul" | "mlp-step";

export interface Stats {
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

export interface PeerRow {
  readonly bench: "peers";
  readonly workload: PeerWorkload;
  /** e.g. "1024x1024·1024x1024" or "x 1024x512, 512→2048→512, relu, mse, sgd" */
  readonly case: string;
  readonly engine: PeerEngineName;
  readonly measured: boolean;
  /** why not measured */
  readonly reason?: string;
  /** the engine's package version */
  readonly version: string | null;
  /** "node 24.x" or "deno 2.x" */
  readonly runtime: string;
  /** the WebGPU adapter the engine's device came from */
  readonly adapter: string | null;
  readonly ms: Stats | null;
  /** matmul: GFLOP/s at min / median / max ms (so min ms ↔ max GFLOP/s) */
  readonly gflops: Stats | null;
  readonly rounds: number;
  /** webpeft's median ms ÷ this engine's (webpeft rows: 1); target ≤ 0.5 */
  readonly webpeftOverPeer: number | null;
  /** mlp-step: the loss of the first step (from the shared initial weights) */
  readonly firstLoss: number | null;
  /** mlp-step: |firstLoss − webpeft's| ÷ |webpeft's|; matmul: max |ΔC| ÷ max |C| against webpeft's C */
  readonly relDiffVsWebpeft: number | null;
}

/** One engine's implementation of both workloads. Every method leaves the device idle when it resolves. */
interface PeerEngine {
  readonly name: PeerEngineName;
  readonly version: string;
  readonly adapter: string;
  /** Uploads A and B; returns one sample (product + readback of C), which resolves to C. */
  matmul(n: number, a: Float32Array, b: Float32Array): Promise<{ readonly run: () => Promise<Float32Array>; readonly dispose: () => void }>;
  /** Uploads the MLP's weights and data; returns one SGD step, which resolves to the step's loss. */
  mlp(init: MlpInit): Promise<{ readonly step: () => Promise<number>; readonly dispose: () => void }>;
  dispose(): void;
}

export interface MlpInit {
  readonly rows: number;
  readonly dIn: number;
  readonly dHidden: number;
  readonly lr: number;
  /** (rows, dIn) */
  readonly x: Float32Array;
  /** (rows, dIn) */
  readonly y: Float32Array;
  /** (dIn, dHidden): h = x·W1 + b1 */
  readonly w1: Float32Array;
  readonly b1: Float32Array;
  /** (dHidden, dIn) */
  readonly w2: Float32Array;
  readonly b2: Float32Array;
}

// ---- shared data ------------------------------------------------------------------------------------

/** Uniform in [−scale, scale), deterministic (mulberry32). */
function uniform(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = (2 * u - 1) * scale;
  }
  return out;
}

export function mlpInit(rows = 1024, dIn = 512, dHidden = 2048, lr = 0.05): MlpInit {
  return {
    rows,
    dIn,
    dHidden,
    lr,
    x: uniform(rows * dIn, 11),
    y: uniform(rows * dIn, 12),
    w1: uniform(dIn * dHidden, 13, 1 / Math.sqrt(dIn)),
    b1: uniform(dHidden, 14, 0.1),
    w2: uniform(dHidden * dIn, 15, 1 / Math.sqrt(dHidden)),
    b2: uniform(dIn, 16, 0.1),
  };
}

function packageVersion(name: string): string {
  try {
    const path = fileURLToPath(new URL(`../node_modules/${name}/package.json`, import.meta.url));
    return (JSON.parse(readFileSync(path, "utf8")) as { version: string }).version;
  } catch {
    return "?";
  }
}

const describe = (info: GPUAdapterInfo | Record<string, unknown> | undefined): string => {
  if (!info) return "?";
  const i = info as Record<string, unknown>;
  return [i.vendor, i.architecture, i.device, i.description].filter((v) => typeof v === "string" && v !== "").join(" / ") || "?";
};

const message = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).split("\n")[0]!.slice(0, 300);

// ---- webpeft -----------------------------------------------------------------------------------------

function webpeftEngine(backend: Backend & { readonly adapterInfo?: Readonly<Record<string, string>> }): PeerEngine {
  const upload = (data: Float32Array, shape: number[]): Tensor => keep(tensor(data, { backend, shape }));
  return {
    name: "webpeft",
    version: WEBPEFT_VERSION,
    adapter: describe(backend.adapterInfo),
    async matmul(n, aData, bData) {
      const a = upload(aData, [n, n]);
      const b = upload(bData, [n, n]);
      return {
        run: async () => {
          const c = a.matmul(b);
          const out = (await c.data()) as Float32Array;
          c.dispose();
          return out;
        },
        dispose: () => {
          a.dispose();
          b.dispose();
        },
      };
    },
    async mlp(init) {
      const x = upload(init.x, [init.rows, init.dIn]);
      const y = upload(init.y, [init.rows, init.dIn]);
      let params = [
        upload(init.w1, [init.dIn, init.dHidden]),
        upload(init.b1, [init.dHidden]),
        upload(init.w2, [init.dHidden, init.dIn]),
        upload(init.b2, [init.dIn]),
      ];
      for (const p of params) p.requireGrad();
      return {
        step: async () => {
          const loss = tidy(() => {
            const [w1, b1, w2, b2] = params as [Tensor, Tensor, Tensor, Tensor];
            const h = x.matmul(w1).add(b1).relu();
            const l = h.matmul(w2).add(b2).sub(y).square().mean();
            l.backward();
            return l;
          });
          // plain SGD: p ← p − lr·∇p, as new leaves (no graph recorded)
          const next = noGrad(() => tidy(() => params.map((p) => p.sub(p.grad!.mul(init.lr)))));
          for (const p of params) {
            p.grad?.dispose();
            p.grad = null;
            p.dispose();
          }
          params = next.map((p) => keep(p).requireGrad());
          const value = await loss.item();
          loss.dispose();
          await backend.sync();
          return value;
        },
        dispose: () => {
          for (const t of [x, y, ...params]) t.dispose();
        },
      };
    },
    dispose: () => {},
  };
}

// ---- tfjs-webgpu -------------------------------------------------------------------------------------

async function tfjsEngine(): Promise<PeerEngine> {
  const tf = await import("@tensorflow/tfjs");
  await import("@tensorflow/tfjs-backend-webgpu");
  if (!(await tf.setBackend("webgpu"))) throw new Error("tf.setBackend('webgpu') failed (no WebGPU adapter or device for tfjs)");
  await tf.ready();
  if (tf.getBackend() !== "webgpu") throw new Error(`tfjs runs on "${tf.getBackend()}", not webgpu`);
  const backend = tf.backend() as unknown as { adapterInfo?: Record<string, unknown> };
  return {
    name: "tfjs-webgpu",
    version: `${packageVersion("@tensorflow/tfjs")} (backend-webgpu ${packageVersion("@tensorflow/tfjs-backend-webgpu")})`,
    adapter: describe(backend.adapterInfo),
    async matmul(n, aData, bData) {
      const a = tf.tensor2d(aData, [n, n], "float32");
      const b = tf.tensor2d(bData, [n, n], "float32");
      return {
        run: async () => {
          const c = tf.matMul(a, b);
          const out = (await c.data()) as Float32Array;
          c.dispose();
          return out;
        },
        dispose: () => {
          a.dispose();
          b.dispose();
        },
      };
    },
    async mlp(init) {
      const x = tf.tensor2d(init.x, [init.rows, init.dIn], "float32");
      const y = tf.tensor2d(init.y, [init.rows, init.dIn], "float32");
      const w1 = tf.variable(tf.tensor2d(init.w1, [init.dIn, init.dHidden], "float32"));
      const b1 = tf.variable(tf.tensor1d(init.b1, "float32"));
      const w2 = tf.variable(tf.tensor2d(init.w2, [init.dHidden, init.dIn], "float32"));
      const b2 = tf.variable(tf.tensor1d(init.b2, "float32"));
      const optimizer = tf.train.sgd(init.lr);
      const lossFn = () => {
        const h = tf.relu(tf.add(tf.matMul(x, w1), b1));
        return tf.mean(tf.square(tf.sub(tf.add(tf.matMul(h, w2), b2), y))) as import("@tensorflow/tfjs").Scalar;
      };
      return {
        step: async () => {
          const loss = optimizer.minimize(lossFn, true, [w1, b1, w2, b2])!;
          const value = (await loss.data())[0]!;
          loss.dispose();
          return value;
        },
        dispose: () => {
          for (const t of [x, y, w1, b1, w2, b2]) t.dispose();
          optimizer.dispose();
        },
      };
    },
    dispose: () => {},
  };
}

// ---- jax-js ------------------------------------------------------------------------------------------

async function jaxEngine(): Promise<PeerEngine> {
  const jax = await import("@jax-js/jax");
  const devices = await jax.init("webgpu");
  if (!devices.includes("webgpu")) throw new Error(`jax.init("webgpu") found no WebGPU device (devices: ${devices.join(", ") || "none"})`);
  jax.defaultDevice("webgpu");
  const { numpy: np, nn, tree } = jax;
  type JArray = InstanceType<typeof jax.Array>;
  const device = jax.getWebGPUDevice() as unknown as GPUDevice & { adapterInfo?: GPUAdapterInfo };
  const upload = (data: Float32Array, shape: number[]): JArray => np.array(data).reshape(shape);
  return {
    name: "jax-js",
    version: packageVersion("@jax-js/jax"),
    adapter: describe(device?.adapterInfo),
    async matmul(n, aData, bData) {
      const a = upload(aData, [n, n]);
      const b = upload(bData, [n, n]);
      return {
        run: async () => (await np.matmul(a.ref, b.ref).data()) as Float32Array,
        dispose: () => {
          a.dispose();
          b.dispose();
        },
      };
    },
    async mlp(init) {
      type Params = { w1: JArray; b1: JArray; w2: JArray; b2: JArray };
      const x = upload(init.x, [init.rows, init.dIn]);
      const y = upload(init.y, [init.rows, init.dIn]);
      let params: Params = {
        w1: upload(init.w1, [init.dIn, init.dHidden]),
        b1: upload(init.b1, [init.dHidden]),
        w2: upload(init.w2, [init.dHidden, init.dIn]),
        b2: upload(init.b2, [init.dIn]),
      };
      const lossFn = (p: Params, x: JArray, y: JArray): JArray => {
        const h = nn.relu(np.matmul(x, p.w1).add(p.b1));
        return np.mean(np.square(np.matmul(h, p.w2).add(p.b2).sub(y)));
      };
      const lr = init.lr;
      const step = jax.jit((p: Params, x: JArray, y: JArray) => {
        const [loss, grads] = jax.valueAndGrad(lossFn)(tree.ref(p), x, y);
        const next = tree.map((w: JArray, g: JArray) => w.sub(g.mul(lr)), p, grads as Params) as Params;
        return [loss, next] as [JArray, Params];
      });
      return {
        step: async () => {
          const [loss, next] = step(params, x.ref, y.ref);
          params = next;
          const value = (await loss.data())[0]!; // data() consumes loss
          await jax.blockUntilReady(params); // the updated weights too (no-op when done)
          return value;
        },
        dispose: () => {
          tree.dispose(params);
          x.dispose();
          y.dispose();
          step.dispose();
        },
      };
    },
    dispose: () => {},
  };
}

// ---- the bench ---------------------------------------------------------------------------------------

export interface PeerBenchOptions {
  /** webpeft's WebGPU backend (the caller creates and disposes it). */
  readonly gpu: Backend;
  readonly matmulRounds: number;
  readonly mlpRounds: number;
  /** Square matmul size. Default 1024. */
  readonly n?: number;
  readonly mlp?: MlpInit;
  /** only these engines (webpeft always runs: the ratios need it) */
  readonly engines?: readonly PeerEngineName[];
  readonly log?: (line: string) => void;
}

interface Slot {
  readonly name: PeerEngineName;
  engine: PeerEngine | null;
  reason: string | null;
}

function stats(xs: readonly number[]): Stats {
  return { min: Math.min(...xs), median: median(xs), max: Math.max(...xs) };
}

/** Makes navigator.gpu the host's GPU entry point for the peers (Node has no navigator.gpu of its own). */
async function exposeNavigatorGPU(): Promise<string | null> {
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator?.gpu) return null;
  const gpu = await hostGPU();
  if (!gpu) return "this runtime exposes no WebGPU entry point";
  if (!g.navigator) Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true, writable: true });
  Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true, writable: true });
  return null;
}

export async function runPeerBench(options: PeerBenchOptions): Promise<PeerRow[]> {
  const log = options.log ?? console.log;
  const n = options.n ?? 1024;
  const init = options.mlp ?? mlpInit();
  const rt = detectRuntime();
  const runtime = `${rt} ${runtimeVersions()[rt] ?? ""}`.trim();
  const wanted = new Set<PeerEngineName>(["webpeft", ...(options.engines ?? PEER_ENGINES)]);

  const slots: Slot[] = [];
  slots.push({ name: "webpeft", engine: webpeftEngine(options.gpu as Backend & { adapterInfo?: Readonly<Record<string, string>> }), reason: null });
  const navReason = await exposeNavigatorGPU();
  for (const [name, make] of [
    ["tfjs-webgpu", tfjsEngine],
    ["jax-js", jaxEngine],
  ] as const) {
    if (!wanted.has(name)) continue;
    if (navReason) {
      slots.push({ name, engine: null, reason: navReason });
      continue;
    }
    try {
      slots.push({ name, engine: await make(), reason: null });
    } catch (e) {
      slots.push({ name, engine: null, reason: `cannot start: ${message(e)}` });
    }
  }
  log(`# peers on ${runtime}: ${slots.map((s) => `${s.name} ${s.engine ? `${s.engine.version} (${s.engine.adapter})` : "NOT AVAILABLE"}`).join("; ")}`);

  const rows: PeerRow[] = [];
  const baseRow = (workload: PeerWorkload, caseName: string, s: Slot) => ({
    bench: "peers" as const,
    workload,
    case: caseName,
    engine: s.name,
    version: s.engine?.version ?? null,
    runtime,
    adapter: s.engine?.adapter ?? null,
  });
  const failedRow = (workload: PeerWorkload, caseName: string, s: Slot, reason: string): PeerRow => ({
    ...baseRow(workload, caseName, s),
    measured: false,
    reason,
    ms: null,
    gflops: null,
    rounds: 0,
    webpeftOverPeer: null,
    firstLoss: null,
    relDiffVsWebpeft: null,
  });

  // ---- matmul ----
  {
    const caseName = `${n}x${n}·${n}x${n}`;
    const flops = 2 * n ** 3;
    const aData = uniform(n * n, 1);
    const bData = uniform(n * n, 2);
    type V = { slot: Slot; times: number[]; run: () => Promise<Float32Array>; dispose: () => void; first: Float32Array | null };
    const variants: V[] = [];
    const failed: PeerRow[] = [];
    for (const s of slots) {
      if (!s.engine) {
        failed.push(failedRow("matmul", caseName, s, s.reason!));
        continue;
      }
      try {
        const m = await s.engine.matmul(n, aData, bData);
        variants.push({ slot: s, times: [], run: m.run, dispose: m.dispose, first: null });
      } catch (e) {
        failed.push(failedRow("matmul", caseName, s, `setup failed: ${message(e)}`));
      }
    }
    const broken = new Map<V, string>();
    await interleaved(variants, options.matmulRounds, async (v) => {
      if (broken.has(v)) return NaN;
      try {
        const start = performance.now();
        const c = await v.run();
        const ms = performance.now() - start;
        v.first ??= c;
        return ms;
      } catch (e) {
        broken.set(v, `failed: ${message(e)}`);
        return NaN;
      }
    });
    const ref = variants.find((v) => v.slot.name === "webpeft" && !broken.has(v));
    const refMs = ref ? median(ref.times) : null;
    let refMax = 0;
    if (ref?.first) for (const c of ref.first) refMax = Math.max(refMax, Math.abs(c));
    for (const v of variants) {
      v.dispose();
      if (broken.has(v)) {
        failed.push(failedRow("matmul", caseName, v.slot, broken.get(v)!));
        continue;
      }
      let rel: number | null = null;
      if (ref?.first && v.first && refMax > 0) {
        let d = 0;
        for (let i = 0; i < v.first.length; i++) d = Math.max(d, Math.abs(v.first[i]! - ref.first[i]!));
        rel = d / refMax;
      }
      const ms = stats(v.times);
      rows.push({
        ...baseRow("matmul", caseName, v.slot),
        measured: true,
        ms,
        gflops: { min: flops / (ms.max * 1e6), median: flops / (ms.median * 1e6), max: flops / (ms.min * 1e6) },
        rounds: v.times.length,
        webpeftOverPeer: refMs === null ? null : refMs / ms.median,
        firstLoss: null,
        relDiffVsWebpeft: rel,
      });
    }
    rows.push(...failed);
  }

  // ---- MLP training step ----
  {
    const caseName = `x ${init.rows}x${init.dIn}, ${init.dIn}→${init.dHidden}→${init.dIn}, relu, mse, sgd`;
    type V = { slot: Slot; times: number[]; step: () => Promise<number>; dispose: () => void; losses: number[] };
    const variants: V[] = [];
    const failed: PeerRow[] = [];
    for (const s of slots) {
      if (!s.engine) {
        failed.push(failedRow("mlp-step", caseName, s, s.reason!));
        continue;
      }
      try {
        const m = await s.engine.mlp(init);
        variants.push({ slot: s, times: [], step: m.step, dispose: m.dispose, losses: [] });
      } catch (e) {
        failed.push(failedRow("mlp-step", caseName, s, `setup failed: ${message(e)}`));
      }
    }
    const broken = new Map<V, string>();
    // interleaved()'s warm-up round is each engine's first step: its loss is the one checked
    await interleaved(variants, options.mlpRounds, async (v) => {
      if (broken.has(v)) return NaN;
      try {
        const start = performance.now();
        const loss = await v.step();
        const ms = performance.now() - start;
        v.losses.push(loss);
        return ms;
      } catch (e) {
        broken.set(v, `failed: ${message(e)}`);
        return NaN;
      }
    });
    const ref = variants.find((v) => v.slot.name === "webpeft" && !broken.has(v));
    const refMs = ref ? median(ref.times) : null;
    const refLoss = ref?.losses[0] ?? null;
    for (const v of variants) {
      v.dispose();
      if (broken.has(v)) {
        failed.push(failedRow("mlp-step", caseName, v.slot, broken.get(v)!));
        continue;
      }
      const firstLoss = v.losses[0] ?? null;
      const ms = stats(v.times);
      rows.push({
        ...baseRow("mlp-step", caseName, v.slot),
        measured: true,
        ms,
        gflops: null,
        rounds: v.times.length,
        webpeftOverPeer: refMs === null ? null : refMs / ms.median,
        firstLoss,
        relDiffVsWebpeft: refLoss === null || firstLoss === null ? null : Math.abs(firstLoss - refLoss) / Math.abs(refLoss),
      });
    }
    rows.push(...failed);
  }
  for (const s of slots) s.engine?.dispose();
  printPeerTable(rows, init, log);
  return rows;
}

export function printPeerTable(rows: readonly PeerRow[], init: MlpInit, log: (line: string) => void): void {
  const TOL = 1e-3;
  for (const workload of ["matmul", "mlp-step"] as const) {
    const mine = rows.filter((r) => r.workload === workload);
    if (mine.length === 0) continue;
    log(`\n## ${workload}: ${mine[0]!.case}${workload === "mlp-step" ? ` (lr ${init.lr}; one sample = forward, backward, SGD, loss on the host)` : " (one sample = product + readback of C)"}`);
    log(
      `${"engine".padEnd(12)} ${"ms min / median / max".padStart(27)} ${(workload === "matmul" ? "GFLOP/s (median)" : "").padStart(17)} ${"webpeft÷peer".padStart(13)} ${"speed-up".padStart(9)} ${"rounds".padStart(7)}`,
    );
    for (const r of mine) {
      if (!r.measured) {
        log(`${r.engine.padEnd(12)} NOT MEASURED: ${r.reason}`);
        continue;
      }
      const ms = `${r.ms!.min.toFixed(1)} / ${r.ms!.median.toFixed(1)} / ${r.ms!.max.toFixed(1)}`;
      const peer = r.engine !== "webpeft" && r.webpeftOverPeer !== null;
      log(
        `${r.engine.padEnd(12)} ${ms.padStart(27)} ${(r.gflops ? r.gflops.median.toFixed(2) : "").padStart(17)} ${(peer ? r.webpeftOverPeer!.toFixed(2) : "-").padStart(13)} ` +
          `${(peer ? `${(1 / r.webpeftOverPeer!).toFixed(2)}×` : "-").padStart(9)} ${String(r.rounds).padStart(7)}`,
      );
    }
    const ref = mine.find((r) => r.engine === "webpeft" && r.measured);
    for (const r of mine.filter((r) => r.measured && r.engine !== "webpeft")) {
      if (r.relDiffVsWebpeft === null || !ref) continue;
      const ok = r.relDiffVsWebpeft <= TOL;
      if (workload === "mlp-step") {
        log(`first-step loss: webpeft ${ref.firstLoss!.toPrecision(7)}, ${r.engine} ${r.firstLoss!.toPrecision(7)}: relative difference ${r.relDiffVsWebpeft.toExponential(2)} ${ok ? `≤ ${TOL}: ok` : `> ${TOL}: MISMATCH`}`);
      } else {
        log(`result check: ${r.engine}'s C vs webpeft's: max |ΔC| ÷ max |C| = ${r.relDiffVsWebpeft.toExponential(2)} ${ok ? `≤ ${TOL}: ok` : `> ${TOL}: MISMATCH`}`);
      }
    }
  }
  log(`\nwebpeft÷peer = webpeft's median ms ÷ the peer's (issue 9's target: ≤ 0.50, i.e. a speed-up ≥ 2×); rounds interleaved, one engine at a time.`);
}

/** `npm run bench -- peers [--quick] [--json] [--engines tfjs-webgpu,jax-js]` */
export async function peerBenchFromArgs(args: readonly string[], gpu: Backend): Promise<PeerRow[]> {
  const quick = args.includes("--quick");
  const json = args.includes("--json");
  const enginesArg = args.find((a) => a.startsWith("--engines="))?.split("=")[1] ?? (args.includes("--engines") ? args[args.indexOf("--engines") + 1] : undefined);
  const engines = enginesArg?.split(",").map((e) => e.trim()) as PeerEngineName[] | undefined;
  for (const e of engines ?? []) if (!PEER_ENGINES.includes(e)) throw new Error(`--engines: unknown engine "${e}"; known: ${PEER_ENGINES.join(", ")}`);
  // with --json the table goes to stderr, and stdout has only the JSON lines
  const rows = await runPeerBench({
    gpu,
    matmulRounds: quick ? 5 : 10,
    mlpRounds: quick ? 3 : 6,
    ...(engines ? { engines } : {}),
    log: json ? (line) => console.error(line) : console.log,
  });
  if (json) for (const r of rows) console.log(JSON.stringify(r));
  return rows;
}
