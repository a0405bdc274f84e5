import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type CpuBackend, createCpuBackend } from "../../core/backend/cpu/cpu-backend.ts";
import { detectRuntime } from "../../core/runtime.ts";
import { type WebGPUBackend, isCpuAdapter } from "../../core/backend/webgpu/webgpu-backend.ts";
import { createHostWebGPUBackend } from "../../runners/host.ts";
import { type OpCase, type Tolerance, checkOp } from "../harness/check-op.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { conformanceSuite } from "../harness/suite.ts";
import { batchedMatmul, matmulKernel, matmulParams } from "../../core/tensor/ops/matmul.ts";
import { tensor } from "../../core/tensor/create.ts";
import { Generator } from "../../core/tensor/random.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";
import { assertClose } from "../harness/check-op.ts";

// A float32 dot product of length K has error up to ~K·ulp·Σ|a||b|; stated against the output's scale.
const MM: Tolerance = { rtol: 1e-5, atol: 1e-5 };
const MM_GRAD: Tolerance = { rtol: 1e-5, atol: 2e-5 };

const cases: OpCase[] = [
  { name: "[17,37]·[37,3]", inputs: [{ shape: [17, 37] }, { shape: [37, 3] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "[1,1]·[1,1]", inputs: [{ shape: [1, 1] }, { shape: [1, 1] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "[129,37]·[37,65]", inputs: [{ shape: [129, 37] }, { shape: [37, 65] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "[64,128]·[128,64] (aligned)", inputs: [{ shape: [64, 128] }, { shape: [128, 64] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD, layouts: ["contiguous", "transposed"] },
  { name: "[3,1]·[1,17] (K = 1)", inputs: [{ shape: [3, 1] }, { shape: [1, 17] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "batched [3,17,37]·[3,37,5]", inputs: [{ shape: [3, 17, 37] }, { shape: [3, 37, 5] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "broadcast batch [2,1,17,37]·[3,37,5]", inputs: [{ shape: [2, 1, 17, 37] }, { shape: [3, 37, 5] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "A·Bᵀ [17,37]·[5,37]ᵀ", inputs: [{ shape: [17, 37] }, { shape: [5, 37] }], fn: (a, b) => a.matmul(b.transpose()), forward: MM, gradient: MM_GRAD },
  { name: "Aᵀ·B [37,17]ᵀ·[37,5]", inputs: [{ shape: [37, 17] }, { shape: [37, 5] }], fn: (a, b) => a.transpose().matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "attention scores [2,3,17,8]·[2,3,17,8]ᵀ", inputs: [{ shape: [2, 3, 17, 8] }, { shape: [2, 3, 17, 8] }], fn: (q, k) => q.matmul(k.transpose()), forward: MM, gradient: MM_GRAD },
  // epilogues and output layouts (matmul.ts batchedMatmul): forward against the float64 reference,
  // gradients against finite differences; the composition checks are in the "matmul epilogues" suite
  { name: "a·b + residual [3,17,37]·[37,8] + [3,17,8]", inputs: [{ shape: [3, 17, 37] }, { shape: [37, 8] }, { shape: [3, 17, 8] }], fn: (a, b, r) => batchedMatmul(a, b, { residual: r }), forward: MM, gradient: MM_GRAD },
  { name: "a·b + broadcast residual (a bias) [17,37]·[37,5] + [5]", inputs: [{ shape: [17, 37] }, { shape: [37, 5] }, { shape: [5] }], fn: (a, b, r) => batchedMatmul(a, b, { residual: r }), forward: MM, gradient: MM_GRAD },
  { name: "relu(a·b) [17,37]·[37,12]", inputs: [{ shape: [17, 37] }, { shape: [37, 12] }], fn: (a, b) => batchedMatmul(a, b, { relu: true }), forward: MM, gradient: MM_GRAD },
  { name: "relu(a·b + residual) [2,9,16]·[16,8] + [2,9,8]", inputs: [{ shape: [2, 9, 16] }, { shape: [16, 8] }, { shape: [2, 9, 8] }], fn: (a, b, r) => batchedMatmul(a, b, { residual: r, relu: true }), forward: MM, gradient: MM_GRAD },
  { name: "heads layout [2,3,5,7]·[2,3,7,4] stored (B,L,H,D)", inputs: [{ shape: [2, 3, 5, 7] }, { shape: [2, 3, 7, 4] }], fn: (a, b) => batchedMatmul(a, b, { layout: [0, 2, 1, 3] }).mul(1), forward: MM, gradient: MM_GRAD },
  { name: "per-head views in, grads in their layout [2,5,12]→(2,3,5,4)·ᵀ", inputs: [{ shape: [2, 5, 12] }, { shape: [2, 5, 12] }], fn: (x, y) => x.reshape([2, 5, 3, 4]).permute([0, 2, 1, 3]).matmul(y.reshape([2, 5, 3, 4]).permute([0, 2, 1, 3]).transpose()), forward: MM, gradient: MM_GRAD },
  { name: "rows folded: [3,17,37]·[37,5]", inputs: [{ shape: [3, 17, 37] }, { shape: [37, 5] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "linear layer x·Wᵀ [2,17,37]·[5,37]ᵀ", inputs: [{ shape: [2, 17, 37] }, { shape: [5, 37] }], fn: (x, w) => x.matmul(w.transpose()), forward: MM, gradient: MM_GRAD },
  { name: "shared left operand [17,37]·[3,37,5]", inputs: [{ shape: [17, 37] }, { shape: [3, 37, 5] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "vector·matrix [37]·[37,5]", inputs: [{ shape: [37] }, { shape: [37, 5] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "matrix·vector [17,37]·[37]", inputs: [{ shape: [17, 37] }, { shape: [37] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  // The CPU backend's WebAssembly SIMD kernel (core/backend/cpu/matmul-wasm.ts) works on 4×8 register
  // tiles over packed panels, k in blocks of 256 and rows in blocks of 128: sizes around and across those
  // edges, operands it must pack from strided views, and batch axes it must broadcast.
  { name: "edges [1,130]·[130,3]", inputs: [{ shape: [1, 130] }, { shape: [130, 3] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "edges [3,17]·[17,130]", inputs: [{ shape: [3, 17] }, { shape: [17, 130] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "edges [130,1]·[1,17] (K = 1)", inputs: [{ shape: [130, 1] }, { shape: [1, 17] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "edges [17,3]·[3,1]", inputs: [{ shape: [17, 3] }, { shape: [3, 1] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "Aᵀ·Bᵀ [37,17]ᵀ·[130,37]ᵀ", inputs: [{ shape: [37, 17] }, { shape: [130, 37] }], fn: (a, b) => a.transpose().matmul(b.transpose()), forward: MM, gradient: MM_GRAD },
  { name: "broadcast A over batch [1,17,37]·[3,37,9]", inputs: [{ shape: [1, 17, 37] }, { shape: [3, 37, 9] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "broadcast B over batch [3,17,37]·[1,37,9]", inputs: [{ shape: [3, 17, 37] }, { shape: [1, 37, 9] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  {
    name: "broadcast batch, B transposed [2,1,17,37]·[3,9,37]ᵀ",
    inputs: [{ shape: [2, 1, 17, 37] }, { shape: [3, 9, 37] }],
    fn: (a, b) => a.matmul(b.transpose()),
    forward: MM,
    gradient: MM_GRAD,
  },
  {
    name: "offset windows [20,40][3:20,2:39]·[40,12][2:39,1:10]",
    inputs: [{ shape: [20, 40] }, { shape: [40, 12] }],
    fn: (a, b) => a.slice([[3, 20], [2, 39]]).matmul(b.slice([[2, 39], [1, 10]])),
    forward: MM,
    gradient: MM_GRAD,
  },
  // more than one k block (K > 256) and row block (M > 128), N not a multiple of 8
  { name: "large [130,300]·[300,67]", inputs: [{ shape: [130, 300] }, { shape: [300, 67] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
];

/**
 * The epilogues against the compositions they replace, on the same backend: values and gradients, and the
 * launches saved; the layout option against the contiguous product (same values, other strides).
 */
function epilogueSuite(backends: readonly NamedBackend[]): void {
  const s = suite("matmul epilogues = compositions");
  for (const { name, backend } of backends) {
    const cases: [string, (a: Tensor, b: Tensor, r: Tensor) => Tensor, (a: Tensor, b: Tensor, r: Tensor) => Tensor][] = [
      ["a·b + r", (a, b, r) => batchedMatmul(a, b, { residual: r }), (a, b, r) => a.matmul(b).add(r)],
      ["relu(a·b)", (a, b) => batchedMatmul(a, b, { relu: true }), (a, b) => a.matmul(b).relu()],
      ["relu(a·b + r)", (a, b, r) => batchedMatmul(a, b, { residual: r, relu: true }), (a, b, r) => a.matmul(b).add(r).relu()],
    ];
    for (const [what, fused, composed] of cases) {
      s(`${what} on ${name}`, async () => {
        const gen = new Generator(21);
        const draw = (n: number) => Float32Array.from({ length: n }, () => gen.normal());
        const [B, M, K, N] = [2, 9, 20, 12];
        const [as, bs, rs, cs] = [draw(B * M * K), draw(K * N), draw(B * M * N), draw(B * M * N)];
        const run = async (f: (a: Tensor, b: Tensor, r: Tensor) => Tensor) => {
          const a = tensor(as, { backend, shape: [B, M, K], requiresGrad: true });
          const b = tensor(bs, { backend, shape: [K, N], requiresGrad: true });
          const r = tensor(rs, { backend, shape: [B, M, N], requiresGrad: true });
          const c = tensor(cs, { backend, shape: [B, M, N] });
          const before = backend.stats().dispatches;
          const y = f(a, b, r);
          const forwardLaunches = backend.stats().dispatches - before;
          y.backward({ grad: c });
          const out = { y: await y.data(), da: await a.grad!.data(), db: await b.grad!.data(), dr: r.grad ? await r.grad.data() : null, forwardLaunches };
          for (const t of [a.grad, b.grad, r.grad, a, b, r, c, y]) t?.dispose();
          return out;
        };
        const one = await run(fused);
        const two = await run(composed);
        const tol: Tolerance = { rtol: 1e-5, atol: 1e-5 };
        assertClose(one.y, two.y, tol, "forward");
        assertClose(one.da, two.da, tol, "da");
        assertClose(one.db, two.db, tol, "db");
        if (two.dr) assertClose(one.dr!, two.dr, tol, "dr");
        assert.ok(one.forwardLaunches < two.forwardLaunches, `fused forward: ${one.forwardLaunches} launches, composed: ${two.forwardLaunches}`);
      });
    }
    s(`layout [0,2,1,3] = the contiguous product, stored permuted, on ${name}`, async () => {
      const gen = new Generator(22);
      const a = tensor(Float32Array.from({ length: 2 * 3 * 5 * 7 }, () => gen.normal()), { backend, shape: [2, 3, 5, 7] });
      const b = tensor(Float32Array.from({ length: 2 * 3 * 7 * 4 }, () => gen.normal()), { backend, shape: [2, 3, 7, 4] });
      const plain = a.matmul(b);
      const stored = batchedMatmul(a, b, { layout: [0, 2, 1, 3] });
      assert.equal(stored.shape, [2, 3, 5, 4]);
      assert.equal(stored.strides, [60, 4, 12, 1]); // (B, L, H, D) memory
      assertClose(await stored.data(), await plain.data(), { rtol: 0, atol: 0 }, "values");
      const merged = stored.permute([0, 2, 1, 3]).reshape([2, 5, 12]); // a view: no copy
      assert.is(merged.isContiguous, true);
      for (const t of [a, b, plain, stored, merged]) t.dispose();
    });
  }
  s.run();
}

export function register(backends: readonly NamedBackend[]): void {
  conformanceSuite("matmul", cases, backends);
  epilogueSuite(backends);
  const cpu = backends.find((b) => b.name === "cpu")?.backend as CpuBackend | undefined;
  if (cpu) {
    // Node and Deno (V8) have WebAssembly SIMD, so the cases above ran the SIMD kernel there; a runtime
    // without it would fall back to the JavaScript loop, declared by `simd: false` and the name "cpu-js".
    const s = suite("matmul on the cpu backend");
    s(`${detectRuntime()} runs float32 matmul on WebAssembly SIMD`, () => {
      assert.is(cpu.simd, true);
      assert.is(cpu.name, "cpu");
    });
    if (detectRuntime() === "node") {
      // the committed module is what its generator assembles from the committed WAT (wabt is a devDependency)
      s("core/backend/cpu/matmul-wasm-bytes.ts is up to date with scripts/build-matmul-wasm.ts", async () => {
        const { execFile } = await import("node:child_process");
        const { promisify } = await import("node:util");
        const tsx = decodeURIComponent(new URL("../../node_modules/.bin/tsx", import.meta.url).pathname);
        const script = decodeURIComponent(new URL("../../scripts/build-matmul-wasm.ts", import.meta.url).pathname);
        const { stdout } = await promisify(execFile)(tsx, [script, "--check"]);
        assert.match(stdout, /up to date/);
      });
      // Where WebAssembly (or its SIMD) is missing the backend still works, on the JavaScript loop, and says
      // so. Simulated in a child process that deletes the global before loading core/.
      s("without WebAssembly the cpu backend runs the JavaScript loop and declares it (simd: false, cpu-js)", async () => {
        const { execFile } = await import("node:child_process");
        const { promisify } = await import("node:util");
        const { mkdtemp, rm, writeFile } = await import("node:fs/promises");
        const { tmpdir } = await import("node:os");
        const tsx = decodeURIComponent(new URL("../../node_modules/.bin/tsx", import.meta.url).pathname);
        const core = (path: string) => JSON.stringify(new URL(`../../core/${path}`, import.meta.url).href);
        const dir = await mkdtemp(`${tmpdir()}/webpeft-nowasm-`);
        try {
          const script = `${dir}/nowasm.mts`;
          await writeFile(
            script,
            `delete (globalThis as { WebAssembly?: unknown }).WebAssembly;
            const { createCpuBackend } = await import(${core("backend/cpu/cpu-backend.ts")});
            const { tensor } = await import(${core("tensor/create.ts")});
            const cpu = createCpuBackend();
            const a = tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), { backend: cpu, shape: [2, 3] });
            const b = tensor(Float32Array.from([1, 0, 0, 1, 1, 1]), { backend: cpu, shape: [3, 2] });
            console.log(JSON.stringify({ name: cpu.name, simd: cpu.simd, c: [...(await a.matmul(b).data())] }));`,
          );
          const { stdout } = await promisify(execFile)(tsx, [script]);
          assert.equal(JSON.parse(stdout.trim().split("\n").at(-1)!), { name: "cpu-js", simd: false, c: [4, 5, 10, 11] });
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });
    }
    // simd: false keeps the JavaScript loop (the benchmarks' baseline): it must still be right
    const js = createCpuBackend({ simd: false });
    for (const c of cases.filter((c) => /^(edges|broadcast batch, B|offset windows)/.test(c.name))) {
      s(`${c.name} on cpu with simd: false (the JavaScript loop)`, () => checkOp(c, js));
    }
    s.run();
  }
  // Where the main WebGPU backend uses subgroup kernels, also check the subgroup-free fallback that
  // devices without the 'subgroups' feature (Deno's wgpu, some GPUs) run.
  const gpu = backends.find((b) => b.name === "webgpu")?.backend as WebGPUBackend | undefined;
  if (gpu && gpu.features.subgroupSize > 0) {
    const s = suite("matmul without subgroups");
    let fallback: Promise<WebGPUBackend> | null = null;
    for (const c of cases) {
      s(`${c.name} on webgpu (no subgroups)`, async () => checkOp(c, await (fallback ??= createHostWebGPUBackend({ subgroups: false }))));
    }
    s.after(async () => (await fallback)?.dispose());
    s.run();
  }
  // The kernel GPUs run (workgroup-memory tiles) is checked on this device too, whichever kind it is:
  // every case (strides, offsets, broadcast batches, epilogues, tile edges), and its launches' keys.
  if (gpu) {
    const s = suite("matmul with workgroup-memory tiles (the GPU kernel)");
    let tiled: Promise<WebGPUBackend> | null = null;
    const backend = () => (tiled ??= createHostWebGPUBackend({ workgroupMemoryTiles: true }));
    s("the backend option selects the kernel; this device's default follows isCpuAdapter", async () => {
      const b = await backend();
      assert.is(b.features.workgroupMemoryTiles, true);
      const [x, y] = [tensor(new Float32Array(6), { backend: b, shape: [2, 3] }), tensor(new Float32Array(12), { backend: b, shape: [3, 4] })];
      const params = matmulParams(x, y, x.matmul(y));
      assert.match(matmulKernel.gpu(params, b.features).key, /^matmul:workgroup:/);
      assert.match(matmulKernel.gpu(params, gpu.features).key, gpu.features.workgroupMemoryTiles ? /^matmul:workgroup:/ : /^matmul:tiled:/);
      assert.is(gpu.features.workgroupMemoryTiles, !isCpuAdapter(gpu.adapterInfo));
    });
    for (const c of [...cases, ...WORKGROUP_TILE_CASES]) s(`${c.name} on webgpu (workgroup tiles)`, async () => checkOp(c, await backend()));
    s.after(async () => (await tiled)?.dispose());
    s.run();
  }
}

/** Shapes across the workgroup kernel's 64×64 tile and 16-deep k slab edges (matmul-wgsl.ts). */
const WORKGROUP_TILE_CASES: OpCase[] = [
  { name: "tile edges [65,17]·[17,129]", inputs: [{ shape: [65, 17] }, { shape: [17, 129] }], fn: (a, b) => a.matmul(b), forward: MM, gradient: MM_GRAD },
  { name: "tile edges, both transposed [33,64]ᵀ·[130,33]ᵀ", inputs: [{ shape: [33, 64] }, { shape: [130, 33] }], fn: (a, b) => a.transpose().matmul(b.transpose()), forward: MM, gradient: MM_GRAD },
];
