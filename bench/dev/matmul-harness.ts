/**
 * Dev harness for the WGSL matmul kernels in core/tensor/ops/matmul-wgsl.ts.
 *
 *   export XDG_RUNTIME_DIR=/tmp/xdg; mkdir -p $XDG_RUNTIME_DIR
 *   node_modules/.bin/tsx bench/dev/matmul-harness.ts [--check-only|--bench-only] [--samples=5]
 *       [--sizes=256,512,1024,2048] [--t5|--no-t5] [--variants=naive,tiled,...]
 *
 * 1. Correctness: every variant against a float64 JS reference on odd shapes (1x1x1, 3x17x37,
 *    129x37x65, batched with broadcasting, transposed A and/or B, non-zero offsets, padded strides);
 *    passes when max |C - ref| <= 1e-4 * max |ref|.
 * 2. Speed: GFLOP/s of each variant on square sizes and T5-small shapes, variants interleaved
 *    within one run (median and best of --samples samples; each sample is N dispatches in one
 *    submit followed by onSubmittedWorkDone, N chosen so a sample takes ~0.25 s).
 *
 * Variants:
 *   naive        one invocation per output, scalar loads (the baseline)
 *   plain4x4     no subgroups, vec4 loads, 4x4 outputs per invocation (the "plain vec4" reference)
 *   nosg         tiled kernel without subgroups (fallback when the device lacks 'subgroups')
 *   tiled        tiled kernel with subgroups, spec from chooseMatmulSpec (vec4 where aligned)
 *   tiled-gen    tiled kernel with subgroups, forced general (scalar, any stride) loads
 *   workgroup    the workgroup-memory kernel GPUs run (64×64 tiles, barriers; slow on lavapipe)
 *   tiled@R.Q.SGM.SGN  the tiled kernel with subgroups and that tuning (e.g. tiled@4.1.8.1), for re-tuning
 *
 * Waits for the device sleep between event-loop turns (runners/host.ts hostDeviceWait): a plain await
 * spins a core in the `webgpu` package's poller, which lavapipe then lacks (figures measured before
 * 2026-12-02 were taken that way, ~1.6× low).
 */
import { create, globals } from 'webgpu';
import { hostDeviceWait } from '../../runners/host.ts';
import {
  chooseMatmulSpec,
  matmulWorkgroups,
  naiveMatmulShader,
  tiledMatmulShader,
  workgroupMatmulShader,
  type MatmulShader,
  type MatmulShaderSpec,
} from '../../core/tensor/ops/matmul-wgsl.ts';

Object.assign(globalThis, globals);

// ---------------------------------------------------------------- CLI
const args = new Map<string, string>();
for (const a of process.argv.slice(2)) {
  const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
  if (m) args.set(m[1]!, m[2] ?? 'true');
}
const SAMPLES = Number(args.get('samples') ?? 5);
const SIZES = (args.get('sizes') ?? '256,512,1024,2048').split(',').filter(Boolean).map(Number);
const DO_T5 = args.get('no-t5') !== 'true';
const DO_CHECK = args.get('bench-only') !== 'true';
const DO_BENCH = args.get('check-only') !== 'true';
const ALL_VARIANTS = ['naive', 'plain4x4', 'nosg', 'tiled', 'tiled-gen', 'workgroup'] as const;
type VariantName = (typeof ALL_VARIANTS)[number] | `tiled@${string}`;
const VARIANTS = (args.get('variants')?.split(',') ?? [...ALL_VARIANTS]) as VariantName[];
const deviceWait = hostDeviceWait()!;
/** The device's queue drained, waiting without spinning a core (see the file comment). */
const drained = () => deviceWait(device.queue.onSubmittedWorkDone());
/** Naive is very slow (~1 GFLOP/s): skip it above this many FLOPs (default: never skip). */
const NAIVE_MAX_FLOP = Number(args.get('naive-max-gflop') ?? 100) * 1e9;

// ---------------------------------------------------------------- device
const keepAlive: unknown[] = [];
const gpu = create([]);
keepAlive.push(gpu);
const adapter = await gpu.requestAdapter();
if (!adapter) throw new Error('no WebGPU adapter');
const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
const hasSubgroups = adapter.features.has('subgroups') && info.subgroupMinSize === info.subgroupMaxSize;
const SUBGROUP = hasSubgroups ? (info.subgroupMinSize ?? 0) : 0;
const device = await adapter.requestDevice({
  requiredFeatures: hasSubgroups ? (['subgroups'] as GPUFeatureName[]) : [],
  requiredLimits: {
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
  },
});
let gpuError: string | null = null;
device.addEventListener('uncapturederror', (e) => {
  gpuError = (e as GPUUncapturedErrorEvent).error.message;
  console.error('GPU error:', gpuError);
});
console.log(`adapter: ${info.vendor} ${info.architecture} ${info.description}; subgroups: ${SUBGROUP || 'no'}`);
const enabled = VARIANTS.filter((v) => SUBGROUP || (v !== 'tiled' && v !== 'tiled-gen' && !v.startsWith('tiled@')));

const bgl = device.createBindGroupLayout({
  entries: [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
    { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
    { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
    { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
  ],
});
const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [bgl] });
const pipelineCache = new Map<string, GPUComputePipeline>();
async function pipelineFor(s: MatmulShader): Promise<GPUComputePipeline> {
  let p = pipelineCache.get(s.code);
  if (!p) {
    const module = device.createShaderModule({ code: s.code });
    const ci = await module.getCompilationInfo();
    const errs = ci.messages.filter((m) => m.type === 'error');
    if (errs.length) throw new Error(`WGSL error: ${errs.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ')}`);
    p = await device.createComputePipelineAsync({ layout: pipelineLayout, compute: { module, entryPoint: 'main' } });
    pipelineCache.set(s.code, p);
  }
  return p;
}

// ---------------------------------------------------------------- problem description
interface Problem {
  M: number;
  N: number;
  K: number;
  batchShape: number[]; // up to 4 dims
  aOffset: number;
  bOffset: number;
  cOffset: number;
  aStrideM: number;
  aStrideK: number;
  bStrideK: number;
  bStrideN: number;
  aBatchStrides: number[]; // same length as batchShape
  bBatchStrides: number[];
  aLen: number; // elements in the A buffer
  bLen: number;
}

/**
 * Builds a problem. A is [*aBatch, M, K] (or [*aBatch, K, M] if aT), padded rows by `pad`
 * elements; `aBroadcast[d]` makes A's batch stride 0 on dim d. Same for B ([K, N] or [N, K]).
 */
function makeProblem(o: {
  M: number; N: number; K: number; batch?: number[]; aT?: boolean; bT?: boolean;
  aOffset?: number; bOffset?: number; cOffset?: number; pad?: number;
  aBroadcast?: boolean[]; bBroadcast?: boolean[];
}): Problem {
  const { M, N, K } = o;
  const batch = o.batch ?? [];
  const pad = o.pad ?? 0;
  const aT = !!o.aT, bT = !!o.bT;
  const aStrideM = aT ? 1 : K + pad;
  const aStrideK = aT ? M + pad : 1;
  const bStrideK = bT ? 1 : N + pad;
  const bStrideN = bT ? K + pad : 1;
  const aMat = aT ? K * (M + pad) : M * (K + pad);
  const bMat = bT ? N * (K + pad) : K * (N + pad);
  const strides = (mat: number, bc: boolean[] | undefined) => {
    const s: number[] = new Array(batch.length).fill(0);
    let acc = mat;
    for (let d = batch.length - 1; d >= 0; d--) {
      if (bc?.[d]) s[d] = 0;
      else { s[d] = acc; acc *= batch[d]!; }
    }
    return { s, total: acc };
  };
  const a = strides(aMat, o.aBroadcast);
  const b = strides(bMat, o.bBroadcast);
  const aOffset = o.aOffset ?? 0, bOffset = o.bOffset ?? 0;
  return {
    M, N, K, batchShape: batch, aOffset, bOffset, cOffset: o.cOffset ?? 0,
    aStrideM, aStrideK, bStrideK, bStrideN, aBatchStrides: a.s, bBatchStrides: b.s,
    aLen: aOffset + a.total + 3, bLen: bOffset + b.total + 3,
  };
}

const batchCount = (p: Problem) => p.batchShape.reduce((x, y) => x * y, 1);

function packParams(p: Problem): Uint32Array<ArrayBuffer> {
  const pad4 = (xs: number[], fill: number) => [...new Array(4 - xs.length).fill(fill), ...xs];
  const words = [
    p.M, p.N, p.K, batchCount(p), p.aOffset, p.bOffset, p.cOffset,
    p.aStrideM, p.aStrideK, p.bStrideK, p.bStrideN,
    ...pad4(p.batchShape, 1), ...pad4(p.aBatchStrides, 0), ...pad4(p.bBatchStrides, 0),
  ];
  // C contiguous: row stride N, batch strides M·N·(inner batch sizes); no residual
  const cBatch: number[] = [];
  let acc = p.M * p.N;
  for (let d = p.batchShape.length - 1; d >= 0; d--) {
    cBatch.unshift(acc);
    acc *= p.batchShape[d]!;
  }
  words.push(p.N, ...pad4(cBatch, 0), 0, 0, 0, 0, 0, 0);
  const out = new Uint32Array(36); // 34 words used, padded to a multiple of 4
  out.set(words);
  return out;
}

function specFor(p: Problem, subgroupSize: number): MatmulShaderSpec {
  return chooseMatmulSpec({
    M: p.M, N: p.N, K: p.K, aOffset: p.aOffset, bOffset: p.bOffset, cOffset: p.cOffset,
    aStrideM: p.aStrideM, aStrideK: p.aStrideK, bStrideK: p.bStrideK, bStrideN: p.bStrideN,
    aBatchStrides: p.aBatchStrides, bBatchStrides: p.bBatchStrides, subgroupSize,
  });
}

function shaderFor(v: VariantName, p: Problem): MatmulShader {
  switch (v) {
    case 'naive':
      return naiveMatmulShader(specFor(p, 0));
    case 'plain4x4':
      return tiledMatmulShader(specFor(p, 0), { R: 4, Q: 1, SGM: 8, SGN: 8, mMajorGrid: false });
    case 'nosg':
      return tiledMatmulShader(specFor(p, 0));
    case 'tiled':
      return tiledMatmulShader(specFor(p, SUBGROUP));
    case 'tiled-gen':
      return tiledMatmulShader({ ...specFor(p, SUBGROUP), vecA: false, vecB: false });
    case 'workgroup':
      return workgroupMatmulShader(specFor(p, 0));
    default: {
      const [R, Q, SGM, SGN] = v.slice('tiled@'.length).split('.').map(Number);
      return tiledMatmulShader(specFor(p, SUBGROUP), { R: R!, Q: Q!, SGM: SGM!, SGN: SGN!, mMajorGrid: false });
    }
  }
}

function describeSpec(s: MatmulShaderSpec): string {
  return `${s.aTransposed ? 'aT' : 'aN'}${s.bTransposed ? 'bT' : 'bN'}${s.vecA ? '+vecA' : ''}${s.vecB ? '+vecB' : ''}`;
}

// ---------------------------------------------------------------- GPU buffers for a problem
const S = GPUBufferUsage.STORAGE;
function storageBuffer(data: Float32Array): GPUBuffer {
  const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
  const b = device.createBuffer({ size, usage: S | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
  new Float32Array(b.getMappedRange()).set(data);
  b.unmap();
  return b;
}

interface Bound { A: GPUBuffer; B: GPUBuffer; C: GPUBuffer; P: GPUBuffer; a: Float32Array; b: Float32Array; cLen: number }
function bind(p: Problem, seed: number): Bound {
  let s = seed >>> 0;
  const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const a = new Float32Array(p.aLen).map(rnd);
  const b = new Float32Array(p.bLen).map(rnd);
  const cLen = p.cOffset + batchCount(p) * p.M * p.N;
  const C = device.createBuffer({ size: Math.max(16, Math.ceil((cLen * 4) / 16) * 16), usage: S | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const params = packParams(p);
  const P = device.createBuffer({ size: params.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(P, 0, params);
  return { A: storageBuffer(a), B: storageBuffer(b), C, P, a, b, cLen };
}
function release(x: Bound) {
  x.A.destroy(); x.B.destroy(); x.C.destroy(); x.P.destroy();
}

async function encodeRuns(s: MatmulShader, p: Problem, x: Bound, reps: number): Promise<GPUCommandBuffer> {
  const pipeline = await pipelineFor(s);
  const bg = device.createBindGroup({
    layout: bgl,
    entries: [
      { binding: 0, resource: { buffer: x.A } },
      { binding: 1, resource: { buffer: x.B } },
      { binding: 2, resource: { buffer: x.C } },
      { binding: 3, resource: { buffer: x.P } },
    ],
  });
  const wg = matmulWorkgroups(s, p.M, p.N, batchCount(p));
  const enc = device.createCommandEncoder();
  for (let r = 0; r < reps; r++) {
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(...wg);
    pass.end();
  }
  return enc.finish();
}

async function readC(x: Bound): Promise<Float32Array> {
  const rb = device.createBuffer({ size: x.C.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(x.C, 0, rb, 0, x.C.size);
  device.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(rb.getMappedRange().slice(0));
  rb.unmap();
  rb.destroy();
  return out;
}

function reference(p: Problem, a: Float32Array, b: Float32Array): Float64Array {
  const bc = batchCount(p);
  const out = new Float64Array(bc * p.M * p.N);
  const dims = p.batchShape;
  for (let bi = 0; bi < bc; bi++) {
    let r = bi, aOff = p.aOffset, bOff = p.bOffset;
    for (let d = dims.length - 1; d >= 0; d--) {
      const idx = r % dims[d]!;
      r = Math.floor(r / dims[d]!);
      aOff += idx * p.aBatchStrides[d]!;
      bOff += idx * p.bBatchStrides[d]!;
    }
    for (let m = 0; m < p.M; m++)
      for (let n = 0; n < p.N; n++) {
        let acc = 0;
        for (let k = 0; k < p.K; k++) acc += a[aOff + m * p.aStrideM + k * p.aStrideK]! * b[bOff + k * p.bStrideK + n * p.bStrideN]!;
        out[(bi * p.M + m) * p.N + n] = acc;
      }
  }
  return out;
}

// ---------------------------------------------------------------- 1. correctness
async function checkAll(): Promise<boolean> {
  const cases: [string, Problem][] = [
    ['1x1x1', makeProblem({ M: 1, N: 1, K: 1 })],
    ['3x17x37', makeProblem({ M: 3, K: 17, N: 37 })],
    ['37x3x17', makeProblem({ M: 37, K: 3, N: 17 })],
    ['129x37x65', makeProblem({ M: 129, K: 37, N: 65 })],
    ['129x37x65 aT', makeProblem({ M: 129, K: 37, N: 65, aT: true })],
    ['129x37x65 bT', makeProblem({ M: 129, K: 37, N: 65, bT: true })],
    ['129x37x65 aT bT offs', makeProblem({ M: 129, K: 37, N: 65, aT: true, bT: true, aOffset: 5, bOffset: 3, cOffset: 7 })],
    ['33x1000x5 pad offs', makeProblem({ M: 33, K: 1000, N: 5, pad: 3, aOffset: 1, bOffset: 2, cOffset: 1 })],
    ['batch[2,3] A bcast d0, B bcast d1', makeProblem({ M: 19, K: 23, N: 29, batch: [2, 3], aBroadcast: [true, false], bBroadcast: [false, true], aOffset: 3, cOffset: 2 })],
    ['batch[2,1,3,2] bT', makeProblem({ M: 7, K: 9, N: 11, batch: [2, 1, 3, 2], bT: true, bBroadcast: [false, false, true, false] })],
    // Aligned shapes, so the vec4 variants are exercised too.
    ['64x32x48 vec', makeProblem({ M: 64, K: 32, N: 48 })],
    ['68x36x44 vec offs', makeProblem({ M: 68, K: 36, N: 44, aOffset: 8, bOffset: 4, cOffset: 3 })],
    ['68x36x44 aT vec', makeProblem({ M: 68, K: 36, N: 44, aT: true, aOffset: 4 })],
    ['68x36x44 bT vec', makeProblem({ M: 68, K: 36, N: 44, bT: true, bOffset: 12 })],
    ['68x36x44 aT bT vec', makeProblem({ M: 68, K: 36, N: 44, aT: true, bT: true })],
    ['20x37x44 vecB + K tail', makeProblem({ M: 20, K: 37, N: 44 })],
    ['20x37x44 aT vecA + K tail', makeProblem({ M: 20, K: 37, N: 44, aT: true })],
    ['36x12x132 pad4 batch bcast vec', makeProblem({ M: 36, K: 12, N: 132, pad: 4, batch: [3, 2], aBroadcast: [false, true], bBroadcast: [true, false] })],
    ['5x8x4 vec tiny', makeProblem({ M: 5, K: 8, N: 4 })],
  ];
  let ok = true;
  console.log(`\n== correctness (max |C - ref| / max |ref|, limit 1e-4)`);
  for (const [name, p] of cases) {
    const x = bind(p, 1234 + name.length);
    const ref = reference(p, x.a, x.b);
    const maxRef = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
    const parts: string[] = [];
    for (const v of enabled) {
      const s = shaderFor(v, p);
      // Poison C so that unwritten elements are caught.
      device.queue.writeBuffer(x.C, 0, new Float32Array(x.cLen).fill(Number.NaN));
      device.queue.submit([await encodeRuns(s, p, x, 1)]);
      const c = await readC(x);
      let err = 0;
      for (let i = 0; i < ref.length; i++) {
        const d = Math.abs(c[p.cOffset + i]! - ref[i]!);
        err = Number.isNaN(d) ? Infinity : Math.max(err, d);
      }
      // Elements before cOffset must be untouched.
      for (let i = 0; i < p.cOffset; i++) if (!Number.isNaN(c[i]!)) err = Infinity;
      const rel = err / maxRef;
      const pass = rel <= 1e-4 && gpuError === null;
      ok &&= pass;
      parts.push(`${v}=${pass ? 'ok' : 'FAIL'}(${rel.toExponential(1)})`);
    }
    const spec = describeSpec(specFor(p, SUBGROUP));
    console.log(`${name.padEnd(34)} [${spec}] ${parts.join(' ')}`);
    release(x);
  }
  console.log(ok ? 'all correct' : 'CORRECTNESS FAILURES');
  return ok;
}

// ---------------------------------------------------------------- 2. speed
async function benchShape(label: string, p: Problem) {
  const flop = 2 * p.M * p.N * p.K * batchCount(p);
  const x = bind(p, 99);
  const vs = enabled.filter((v) => v !== 'naive' || flop <= NAIVE_MAX_FLOP);
  const reps = new Map<VariantName, number>();
  const results = new Map<VariantName, number[]>();
  // Warm-up (pipeline compile) and calibration: pick reps so one sample is ~0.25 s.
  for (const v of vs) {
    const s = shaderFor(v, p);
    device.queue.submit([await encodeRuns(s, p, x, 1)]);
    await drained();
    if (v === 'naive' && flop > 4e9) {
      reps.set(v, 1);
      results.set(v, []);
      continue;
    }
    const t0 = performance.now();
    device.queue.submit([await encodeRuns(s, p, x, 1)]);
    await drained();
    const dt = (performance.now() - t0) / 1000;
    reps.set(v, Math.max(1, Math.min(50, Math.round(0.25 / dt))));
    results.set(v, []);
  }
  // Naive gets fewer samples (a 2048^3 naive run takes ~15 s).
  const samples = (v: VariantName) => (v !== 'naive' ? SAMPLES : flop > 4e9 ? 1 : Math.min(SAMPLES, 3));
  for (let i = 0; i < SAMPLES; i++) {
    for (const v of vs) {
      if (i >= samples(v)) continue;
      const s = shaderFor(v, p);
      const n = reps.get(v)!;
      const cmd = await encodeRuns(s, p, x, n);
      const t0 = performance.now();
      device.queue.submit([cmd]);
      await drained();
      const dt = (performance.now() - t0) / 1000;
      results.get(v)!.push((flop * n) / dt / 1e9);
    }
  }
  const cells = vs.map((v) => {
    const g = results.get(v)!.sort((a, b) => a - b);
    return `${v} ${g[g.length >> 1]!.toFixed(1)}/${g[g.length - 1]!.toFixed(1)}`;
  });
  const spec = describeSpec(specFor(p, SUBGROUP));
  console.log(`${label.padEnd(26)} [${spec}] ${cells.join('  ')}`);
  release(x);
}

async function benchAll() {
  console.log(`\n== GFLOP/s, median/best of ${SAMPLES} samples (naive: 3, or 1 above 4 GFLOP); variants interleaved`);
  for (const n of SIZES) await benchShape(`${n}x${n}x${n}`, makeProblem({ M: n, N: n, K: n }));
  if (DO_T5) {
    await benchShape('T5 1024x512 . 512x2048', makeProblem({ M: 1024, K: 512, N: 2048 }));
    await benchShape('T5 1024x2048 . 2048x512', makeProblem({ M: 1024, K: 2048, N: 512 }));
    await benchShape('T5 1024x512 . 512x512', makeProblem({ M: 1024, K: 512, N: 512 }));
    await benchShape('T5 1024x512 . (2048x512)T', makeProblem({ M: 1024, K: 512, N: 2048, bT: true }));
    await benchShape('T5 (512x1024)T . 512x2048', makeProblem({ M: 1024, K: 512, N: 2048, aT: true }));
  }
}

let ok = true;
if (DO_CHECK) ok = await checkAll();
if (DO_BENCH) await benchAll();
await drained();
device.destroy();
process.exit(ok ? 0 : 1);
