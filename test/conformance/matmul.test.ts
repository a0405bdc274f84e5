import { suite } from "uvu";
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
];

export function register(backends: readonly NamedBackend[]): void {
  conformanceSuite("matmul", cases, backends);
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
