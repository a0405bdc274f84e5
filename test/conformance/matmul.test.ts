import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type CpuBackend, createCpuBackend } from "../../core/backend/cpu/cpu-backend.ts";
import { detectRuntime } from "../../core/runtime.ts";
import type { WebGPUBackend } from "../../core/backend/webgpu/webgpu-backend.ts";
import { createHostWebGPUBackend } from "../../runners/host.ts";
import { type OpCase, type Tolerance, checkOp } from "../harness/check-op.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { conformanceSuite } from "../harness/suite.ts";

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

export function register(backends: readonly NamedBackend[]): void {
  conformanceSuite("matmul", cases, backends);
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
}
