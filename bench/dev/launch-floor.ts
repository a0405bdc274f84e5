/**
 * The native floor of a kernel launch on this host: how many µs of JavaScript one compute dispatch costs
 * when nothing of webpeft's own bookkeeping is involved (no kernel objects, no caches, no uniform arena):
 * raw WebGPU calls only, timed in JS with performance.now(), never waiting for the GPU inside a timed region
 * (the queue is drained between samples, untimed).
 *
 *   node --import tsx bench/dev/launch-floor.ts [--n=10000] [--samples=7] [--json]
 *   npx deno run -A bench/dev/launch-floor.ts   [--n=10000] [--samples=7] [--json]
 *   (also --m=1000 submits for e/e2, --nc=1000 launches for the createBindGroup cases, --cases=a,b,… to run only some, --verbose)
 *
 * Shader: 3 storage buffers (2 read, 1 read_write) + a uniform, workgroup_size 64, 1 workgroup per dispatch.
 * 64 distinct bind groups (different storage buffers and uniform offsets) are created up front and used
 * round-robin. Cases (µs per launch, min / median over samples):
 *   a   N × [setPipeline, setBindGroup, dispatch] in one pass, then end + finish + submit (record and
 *       end/finish/submit are also given separately)
 *   a2  as a but alternating between two pipelines (a real pipeline switch every launch)
 *   b   as a but setPipeline only once (only when it changes)
 *   c   b + device.createBindGroup per launch (layout fetched once), and c2: + getBindGroupLayout(0) too
 *   d   b + queue.writeBuffer of 256 bytes per launch;  d2: b + one writeBuffer of 4096×256 B per 4096 launches
 *   e   per call: createCommandEncoder + beginComputePass + 1 dispatch + end + finish + submit (M calls);
 *       e2: the same with 8 dispatches per pass (per call, then per launch)
 *   ff  empty-ish floor: N × dispatchWorkgroups only (pipeline + bind group set once)
 */
import { hostGPU } from "../../runners/host.ts";
import { detectRuntime } from "../../core/runtime.ts";

const argv: string[] = (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? (globalThis as unknown as { process: { argv: string[] } }).process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const a = argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split("=")[1]) : fallback;
};
const N = opt("n", 10_000);
const SAMPLES = opt("samples", 7);
const M = opt("m", 1000);
/**
 * Launches per pass for the createBindGroup cases (c, c2, c3). Deno 2.9.6 (wgpu) segfaults after ~65k bind
 * groups created in one process (they are never destroyed explicitly; GPUBindGroup has no destroy()), so these
 * cases use fewer launches than N.
 */
const NC = opt("nc", 1000);
const JSON_OUT = argv.includes("--json");

const runtime = detectRuntime();
const gpu = await hostGPU();
if (!gpu) throw new Error("no WebGPU entry point");
const adapter = await gpu.requestAdapter();
if (!adapter) throw new Error("no adapter");
const device = await adapter.requestDevice();
const info = adapter.info as GPUAdapterInfo;

const STORAGE = 0x0080 | 0x0008 | 0x0004;
const UNIFORM = 0x0040 | 0x0008;
const code = (k: number) => `
struct P { scale: f32, n: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  if (i < p.n) { c[i] = a[i] * p.scale + b[i] + ${k}.0; }
}`;
const pipeline0 = device.createComputePipeline({ layout: "auto", compute: { module: device.createShaderModule({ code: code(0) }), entryPoint: "main" } });
const pipeline1 = device.createComputePipeline({ layout: "auto", compute: { module: device.createShaderModule({ code: code(1) }), entryPoint: "main" } });
const layout0 = pipeline0.getBindGroupLayout(0);
const layout1 = pipeline1.getBindGroupLayout(0);

const NBUF = 12;
const bufs = Array.from({ length: NBUF }, () => device.createBuffer({ size: 64 * 4, usage: STORAGE }));
const NGROUPS = 64;
const WRITE_BATCH = 4096;
const uniform = device.createBuffer({ size: WRITE_BATCH * 256, usage: UNIFORM });
const uhost = new Uint8Array(WRITE_BATCH * 256);
{
  const f = new Float32Array(uhost.buffer);
  const u = new Uint32Array(uhost.buffer);
  for (let i = 0; i < WRITE_BATCH; i++) ((f[i * 64] = 1), (u[i * 64 + 1] = 64));
  device.queue.writeBuffer(uniform, 0, uhost);
}
const entriesFor = (i: number): GPUBindGroupEntry[] => [
  { binding: 0, resource: { buffer: bufs[i % NBUF]!, size: 256 } },
  { binding: 1, resource: { buffer: bufs[(i + 1) % NBUF]!, size: 256 } },
  { binding: 2, resource: { buffer: bufs[(i + 5) % NBUF]!, size: 256 } },
  { binding: 3, resource: { buffer: uniform, offset: (i % NGROUPS) * 256, size: 16 } },
];
const groups0 = Array.from({ length: NGROUPS }, (_, i) => device.createBindGroup({ layout: layout0, entries: entriesFor(i) }));
const groups1 = Array.from({ length: NGROUPS }, (_, i) => device.createBindGroup({ layout: layout1, entries: entriesFor(i) }));
const entryTable = Array.from({ length: NGROUPS }, (_, i) => entriesFor(i));
const u256 = new Uint8Array(256);
new Float32Array(u256.buffer)[0] = 1;
new Uint32Array(u256.buffer)[1] = 64;

const drain = () => device.queue.onSubmittedWorkDone();

interface Sample {
  /** µs per launch, total */
  total: number;
  /** µs per launch spent recording (before end/finish/submit) */
  record?: number;
  /** µs per launch spent in end + finish + submit */
  submit?: number;
}

/** One pass of N launches; `body(pass, i)` records launch i. */
function onePass(n: number, before: ((pass: GPUComputePassEncoder) => void) | null, body: (pass: GPUComputePassEncoder, i: number) => void): Sample {
  const t0 = performance.now();
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  before?.(pass);
  for (let i = 0; i < n; i++) body(pass, i);
  const t1 = performance.now();
  pass.end();
  device.queue.submit([enc.finish()]);
  const t2 = performance.now();
  return { total: ((t2 - t0) * 1000) / n, record: ((t1 - t0) * 1000) / n, submit: ((t2 - t1) * 1000) / n };
}

const cases: Record<string, () => Sample> = {
  ff: () => onePass(N, (p) => (p.setPipeline(pipeline0), p.setBindGroup(0, groups0[0]!)), (p) => p.dispatchWorkgroups(1)),
  a: () =>
    onePass(N, null, (p, i) => {
      p.setPipeline(pipeline0);
      p.setBindGroup(0, groups0[i & 63]!);
      p.dispatchWorkgroups(1);
    }),
  a2: () =>
    onePass(N, null, (p, i) => {
      const odd = i & 1;
      p.setPipeline(odd ? pipeline1 : pipeline0);
      p.setBindGroup(0, (odd ? groups1 : groups0)[i & 63]!);
      p.dispatchWorkgroups(1);
    }),
  b: () =>
    onePass(N, (p) => p.setPipeline(pipeline0), (p, i) => {
      p.setBindGroup(0, groups0[i & 63]!);
      p.dispatchWorkgroups(1);
    }),
  c: () =>
    onePass(NC, (p) => p.setPipeline(pipeline0), (p, i) => {
      p.setBindGroup(0, device.createBindGroup({ layout: layout0, entries: entryTable[i & 63]! }));
      p.dispatchWorkgroups(1);
    }),
  c2: () =>
    onePass(NC, (p) => p.setPipeline(pipeline0), (p, i) => {
      p.setBindGroup(0, device.createBindGroup({ layout: pipeline0.getBindGroupLayout(0), entries: entryTable[i & 63]! }));
      p.dispatchWorkgroups(1);
    }),
  // the entries object built per launch too (what a backend does on a bind-group cache miss)
  c3: () =>
    onePass(NC, (p) => p.setPipeline(pipeline0), (p, i) => {
      p.setBindGroup(0, device.createBindGroup({ layout: layout0, entries: entriesFor(i) }));
      p.dispatchWorkgroups(1);
    }),
  d: () =>
    onePass(N, (p) => p.setPipeline(pipeline0), (p, i) => {
      device.queue.writeBuffer(uniform, (i & 63) * 256, u256);
      p.setBindGroup(0, groups0[i & 63]!);
      p.dispatchWorkgroups(1);
    }),
  d2: () =>
    onePass(N, (p) => p.setPipeline(pipeline0), (p, i) => {
      if ((i & (WRITE_BATCH - 1)) === 0) device.queue.writeBuffer(uniform, 0, uhost);
      p.setBindGroup(0, groups0[i & 63]!);
      p.dispatchWorkgroups(1);
    }),
  e: () => {
    const t0 = performance.now();
    for (let i = 0; i < M; i++) {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline0);
      pass.setBindGroup(0, groups0[i & 63]!);
      pass.dispatchWorkgroups(1);
      pass.end();
      device.queue.submit([enc.finish()]);
    }
    return { total: ((performance.now() - t0) * 1000) / M };
  },
  e2: () => {
    const t0 = performance.now();
    for (let i = 0; i < M; i++) {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline0);
      for (let j = 0; j < 8; j++) {
        pass.setBindGroup(0, groups0[(i + j) & 63]!);
        pass.dispatchWorkgroups(1);
      }
      pass.end();
      device.queue.submit([enc.finish()]);
    }
    return { total: ((performance.now() - t0) * 1000) / M };
  },
};

const ALL = ["ff", "a", "a2", "b", "c", "c2", "c3", "d", "d2", "e", "e2"];
const casesArg = argv.find((x) => x.startsWith("--cases="))?.slice("--cases=".length);
const ORDER = casesArg ? casesArg.split(",").filter((k) => ALL.includes(k)) : ALL;
const VERBOSE = argv.includes("--verbose");
const results = new Map<string, Sample[]>(ORDER.map((k) => [k, []]));
// warm-up: one small round of everything
for (const k of ORDER) {
  if (VERBOSE) console.error(`warm-up ${k}`);
  cases[k]!();
  await drain();
}
// samples interleaved across cases, so load from other processes hits every case alike
for (let s = 0; s < SAMPLES; s++) {
  for (const k of ORDER) {
    if (VERBOSE) console.error(`sample ${s} ${k}`);
    results.get(k)!.push(cases[k]!());
    await drain();
  }
}

const med = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const mm = (xs: number[]) => ({ min: Math.min(...xs), median: med(xs) });
const fmt = (x: { min: number; median: number }) => `${x.min.toFixed(2).padStart(7)} / ${x.median.toFixed(2).padStart(7)}`;

const rt = runtime === "deno" ? `deno ${(globalThis as { Deno?: { version: { deno: string } } }).Deno!.version.deno}` : `node ${(globalThis as unknown as { process: { versions: { node: string } } }).process.versions.node}`;
const label: Record<string, string> = {
  ff: "dispatch only (pipeline + bind group set once)",
  a: "setPipeline + setBindGroup + dispatch",
  a2: "  … alternating 2 pipelines",
  b: "setBindGroup + dispatch (pipeline set once)",
  c: "b + createBindGroup (cached layout)",
  c2: "b + createBindGroup(getBindGroupLayout(0))",
  c3: "b + createBindGroup (entries built per launch)",
  d: "b + writeBuffer 256 B per launch",
  d2: "b + writeBuffer 1 MiB per 4096 launches",
  e: "encoder+pass+1 dispatch+finish+submit per call",
  e2: "encoder+pass+8 dispatches+submit (per call)",
};
if (JSON_OUT) {
  for (const k of ORDER) {
    const xs = results.get(k)!;
    console.log(JSON.stringify({ bench: "launch-floor", runtime: rt, case: k, total: mm(xs.map((x) => x.total)), record: xs[0]!.record === undefined ? null : mm(xs.map((x) => x.record!)), submit: xs[0]!.submit === undefined ? null : mm(xs.map((x) => x.submit!)) }));
  }
} else {
  console.log(`# launch floor on ${rt}, ${info.description || info.device || info.vendor}; N=${N} launches per pass (c*: ${NC}), e: M=${M} submits; ${SAMPLES} samples; µs per launch, min / median`);
  console.log(`${"case".padEnd(52)} ${"total".padStart(17)} ${"record".padStart(17)} ${"end+finish+submit".padStart(17)}`);
  for (const k of ORDER) {
    const xs = results.get(k)!;
    const rec = xs[0]!.record === undefined ? "" : fmt(mm(xs.map((x) => x.record!)));
    const sub = xs[0]!.submit === undefined ? "" : fmt(mm(xs.map((x) => x.submit!)));
    console.log(`${(k.padEnd(3) + " " + label[k]).padEnd(52)} ${fmt(mm(xs.map((x) => x.total))).padStart(17)} ${rec.padStart(17)} ${sub.padStart(17)}`);
  }
  if (results.has("e2")) {
    const e2 = mm(results.get("e2")!.map((x) => x.total));
    console.log(`(e2 per launch: ${(e2.min / 8).toFixed(2)} / ${(e2.median / 8).toFixed(2)})`);
  }
}
if (VERBOSE) console.error("done; destroying the device");
device.destroy();
if (VERBOSE) console.error("destroyed");
