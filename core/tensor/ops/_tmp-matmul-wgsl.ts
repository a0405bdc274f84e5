// TEMPORARY until matmul-wgsl.ts lands: naive kernel behind the agreed API.
export interface MatmulShaderSpec { aTransposed: boolean; bTransposed: boolean }
const code = `
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
struct Params { M: u32, N: u32, K: u32, batchCount: u32, aOffset: u32, bOffset: u32, cOffset: u32,
  aStrideM: u32, aStrideK: u32, bStrideK: u32, bStrideN: u32,
  batchShape0: u32, batchShape1: u32, batchShape2: u32, batchShape3: u32,
  aBatchStride0: u32, aBatchStride1: u32, aBatchStride2: u32, aBatchStride3: u32,
  bBatchStride0: u32, bBatchStride1: u32, bBatchStride2: u32, bBatchStride3: u32 }
@group(0) @binding(3) var<uniform> P: Params;
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x; let m = gid.y; let b = gid.z;
  if (n >= P.N || m >= P.M || b >= P.batchCount) { return; }
  var rem = b;
  let i3 = rem % P.batchShape3; rem = rem / P.batchShape3;
  let i2 = rem % P.batchShape2; rem = rem / P.batchShape2;
  let i1 = rem % P.batchShape1; rem = rem / P.batchShape1;
  let i0 = rem;
  let ab = P.aOffset + i0 * P.aBatchStride0 + i1 * P.aBatchStride1 + i2 * P.aBatchStride2 + i3 * P.aBatchStride3;
  let bb = P.bOffset + i0 * P.bBatchStride0 + i1 * P.bBatchStride1 + i2 * P.bBatchStride2 + i3 * P.bBatchStride3;
  var acc: f32 = 0.0;
  for (var k: u32 = 0u; k < P.K; k++) { acc += A[ab + m * P.aStrideM + k * P.aStrideK] * B[bb + k * P.bStrideK + n * P.bStrideN]; }
  C[P.cOffset + (b * P.M + m) * P.N + n] = acc;
}`;
export function chooseMatmulSpec(p: { aStrideM: number; bStrideN: number }): MatmulShaderSpec { return { aTransposed: p.aStrideM === 1, bTransposed: p.bStrideN !== 1 }; }
export function tiledMatmulShader(_s: MatmulShaderSpec) { return { code, workgroupSize: [8, 8, 1] as const, tileM: 8, tileN: 8 }; }
export const naiveMatmulShader = tiledMatmulShader;
export function matmulWorkgroups(s: { tileM: number; tileN: number }, M: number, N: number, batch: number): [number, number, number] { return [Math.ceil(N / s.tileN), Math.ceil(M / s.tileM), batch]; }
