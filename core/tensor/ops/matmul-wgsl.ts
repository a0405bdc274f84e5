/**
 * WGSL matrix-multiply kernels: register-tiled ones tuned for lavapipe (Mesa's llvmpipe Vulkan driver on
 * the CPU), and a workgroup-memory one for GPUs (workgroupMatmulShader, at the end).
 *
 *   C[b][m][n] = sum_k A[b][m][k] * B[b][k][n] (+ R[b][m][n])   (A, B, C and R strided)
 *
 * Dependency-free: the engine packs the `Params` uniform and binds the buffers (see PARAMS_WGSL for the
 * exact layout, 34 consecutive u32 words).
 *
 * ## How llvmpipe runs a compute shader (why the kernels look the way they do)
 * Every invocation is one SIMD lane; 8 consecutive invocations (local_invocation_index 8s..8s+7)
 * run together in one AVX2 register ("a subgroup"), and a workgroup is a loop over its subgroups.
 * Measured on Mesa 25.0 (see bench/dev/matmul-harness.ts):
 *  - Arithmetic on the 8 lanes is cheap (one vector instruction).
 *  - A storage-buffer load whose index is not a compile-time constant is scalarised: for each of
 *    the 8 lanes and each component it tests the exec mask, bounds-checks and does a scalar load
 *    (~7 x86 instructions per lane and component, ~35 per lane for a vec4). Indices that are
 *    uniform in fact (workgroup_id, uniform-buffer values) get no special treatment. Loads are
 *    therefore THE cost; a vec4 load costs ~40% less per element than four scalar loads.
 *  - Workgroup memory is not much cheaper (~3 instructions/component, plus the cost of filling it
 *    and of barriers, which switch coroutines), so it does not pay here: all loads go straight to
 *    the storage buffers (whose data sits in the CPU caches anyway).
 *  - subgroupBroadcast(x, constLane) is an extract + splat: 2-3 instructions.
 *  - fma() is emitted as mul + add; accumulators that do not fit the 32 vector registers are
 *    spilled to the stack, so the order of the multiply-adds matters (see "row order" below).
 *
 * ## The tiled kernel (tiledMatmulShader)
 * A subgroup of S lanes (S = spec.subgroupSize = 8 on llvmpipe) computes a TMs x TNs tile of C,
 * TMs = S*R rows, TNs = 4*S*Q columns:
 *  - lane l owns 4*Q columns (Q groups of 4 adjacent columns) and ALL TMs rows of the tile, so it
 *    keeps TMs*Q vec4 accumulators;
 *  - B (the per-lane operand): per 4-step of K each lane loads its own 4 x 4Q block of B with 4*Q
 *    vec4 loads (along N, or along K when B is transposed); each loaded element is reused TMs times;
 *  - A (the broadcast operand): the S lanes load S*R*4 distinct A values with R vec4 loads (lane l
 *    loads row l of each group of S rows, 4 consecutive k's; or 4 consecutive rows when A is
 *    transposed), and every value is handed to all lanes with subgroupBroadcast. Each A element is
 *    loaded once per subgroup instead of once per lane: this is what makes the kernel fast, since
 *    without subgroups an invocation must load every A value it multiplies by itself;
 *  - "row order": after loading the 4 k-slices of B, the kernel finishes all four multiply-adds into
 *    one accumulator before touching the next, so a spilled accumulator costs one reload + store per
 *    4 k instead of per k (1.8x faster than k-outer order on lavapipe).
 *  - There is no workgroup memory and no barrier; the workgroup (SGM x SGN subgroups, 64
 *    invocations) only groups subgroups that read the same B columns (SGM along M) so they share
 *    the CPU caches.
 * Per 4 k-steps a subgroup issues R + 4Q vec4 loads for 16*S*R*Q vector multiply-adds.
 * Default (DEFAULT_TUNING_SUBGROUP): R=2, Q=1, 8x1 subgroups -> each lane 16 rows x 4 columns,
 * each subgroup 16 x 32, each 64-invocation workgroup 128 x 32. Larger R/Q cut instructions per
 * multiply-add further but were not faster (the unrolled loop body outgrows the CPU's
 * instruction/op caches); R=3/4 and 4x2 subgroups measured within noise of the default. Re-measured
 * on 2026-12-02 without the poller that had spun a core during every earlier measurement
 * (core/backend/webgpu/device-wait.ts): R=4 (8x1 subgroups, 256 x 32 tiles) is 5-11% faster than R=2
 * when B is not transposed (T5's dX = dY·W and dW products, 1024² squares) and 20% slower when it is
 * (x·Wᵀ), so chooseMatmulTuning prefers it for untransposed B (TUNING_R4).
 * With subgroupSize 0 (no 'subgroups' feature) the same code is generated with S = 1: one
 * invocation computes R x 4Q outputs (default 8 x 8, workgroup tile 64 x 64) and loads every A value
 * it uses itself, about a third of the speed of the subgroup kernel.
 *
 * Variants: `vecA`/`vecB` declare the operand as array<vec4<f32>> and load 4 contiguous elements at
 * once (chooseMatmulSpec checks alignment); otherwise scalar strided loads that work for any
 * strides/offsets. A K-tail loop handles K % 4 when no operand is vectorised along K. Out-of-range
 * rows/columns are clamped for loading and masked when storing. Batches: workgroup_id.z strides
 * over the batch (dispatch z is capped at 65535).
 */

export interface MatmulShaderSpec {
  /** A's contiguous axis is M (aStrideM == 1; A stored K-major). Only matters for vecA. */
  aTransposed: boolean;
  /** B's contiguous axis is K (bStrideK == 1, bStrideN != 1). Only matters for vecB. */
  bTransposed: boolean;
  /** Load A as aligned vec4 along its contiguous axis (K, or M when aTransposed). */
  vecA: boolean;
  /** Load B as aligned vec4 along its contiguous axis (N, or K when bTransposed). */
  vecB: boolean;
  /**
   * Store C as aligned vec4 rows (N % 4 == 0, cOffset % 4 == 0): one vector store per accumulator instead
   * of four scalar ones, which matters when K is small (weight gradients over a short batch).
   */
  vecC?: boolean;
  /**
   * Add a residual R to the product in the store: C = A·B + R, R (…, M, N) read with its own offset, row
   * stride and batch strides (columns contiguous), bound after C. With vecC, R is read as vec4 rows too
   * (chooseMatmulSpec requires R's alignment then).
   */
  residual?: boolean;
  /** Apply relu in the store, after the residual: C = relu(A·B (+ R)), as the elementwise relu (NaN → 0). */
  relu?: boolean;
  /** false: the device's compiler takes subgroup builtins without `enable subgroups;` (GpuFeatures). */
  subgroupDirective?: boolean;
  /**
   * 0: no subgroup operations. Otherwise the device's exact subgroup size (8 on lavapipe/AVX2);
   * the shader then uses `enable subgroups;` so the device needs the 'subgroups' feature, and it
   * assumes subgroups are made of consecutive local_invocation_index values (true on llvmpipe).
   */
  subgroupSize: number;
}

export interface MatmulShader {
  code: string;
  workgroupSize: readonly [number, number, number];
  /** Rows of C per workgroup. */
  tileM: number;
  /** Columns of C per workgroup. */
  tileN: number;
  /** Grid order, see MatmulTuning.mMajorGrid (matmulWorkgroups uses it). */
  mMajorGrid: boolean;
}

/** Tuning knobs of the tiled kernel (exported for the dev harness; the defaults are the tuned ones). */
export interface MatmulTuning {
  /** Row groups per subgroup: a subgroup covers S*R rows. */
  R: number;
  /** vec4 column groups per lane: a lane covers 4*Q columns, a subgroup 4*S*Q. */
  Q: number;
  /** Subgroups per workgroup along M and along N. */
  SGM: number;
  SGN: number;
  /**
   * Grid order: true = workgroup_id.x walks M (consecutive workgroups share a B column panel),
   * false = workgroup_id.x walks N (consecutive workgroups share an A row panel).
   */
  mMajorGrid: boolean;
}

export const DEFAULT_TUNING_SUBGROUP: MatmulTuning = { R: 2, Q: 1, SGM: 8, SGN: 1, mMajorGrid: false };
export const DEFAULT_TUNING_NO_SUBGROUP: MatmulTuning = { R: 8, Q: 2, SGM: 8, SGN: 8, mMajorGrid: false };

/**
 * Tuning for an M×N output: the tile shape (same 64-invocation workgroup, subgroups arranged SGM × SGN,
 * R row groups per subgroup) that wastes the least padded work on small M or N — a (8, 512)·(512, 32128)ᵀ
 * LM-head product would run 94% padding in the default 128-row tile. Ties keep the default (tuned on
 * large squares): R = 2 keeps the A-broadcast reuse that makes the kernel fast.
 */
export function chooseMatmulTuning(M: number, N: number, subgroupSize: number, bTransposed = false): MatmulTuning {
  if (subgroupSize <= 1) return DEFAULT_TUNING_NO_SUBGROUP;
  const S = subgroupSize;
  // the first candidate with the least padded work (stable: default first, then R = 2 before R = 1)
  const candidates = bTransposed ? TUNING_CANDIDATES : TUNING_CANDIDATES_B_ROWS;
  let best = candidates[0]!;
  let bestPadded = Infinity;
  for (const t of candidates) {
    const tileM = S * t.R * t.SGM;
    const tileN = 4 * S * t.Q * t.SGN;
    const padded = Math.ceil(M / tileM) * tileM * Math.ceil(N / tileN) * tileN;
    if (padded < bestPadded) [best, bestPadded] = [t, padded];
  }
  return best;
}

/** The subgroup tunings chooseMatmulTuning considers, the default first (made once: it runs per launch). */
const TUNING_CANDIDATES: readonly MatmulTuning[] = [
  DEFAULT_TUNING_SUBGROUP,
  ...[2, 1].flatMap((R) => ([[8, 1], [4, 2], [2, 4], [1, 8]] as const).map(([SGM, SGN]) => ({ R, Q: 1, SGM, SGN, mMajorGrid: false }))),
];
/** 256-row tiles: first choice when B is not transposed (see the file comment), where M fills them. */
const TUNING_R4: MatmulTuning = { R: 4, Q: 1, SGM: 8, SGN: 1, mMajorGrid: false };
const TUNING_CANDIDATES_B_ROWS: readonly MatmulTuning[] = [TUNING_R4, ...TUNING_CANDIDATES];

/** Largest per-dimension dispatch size WebGPU allows. */
const MAX_DISPATCH = 65535;

const PARAMS_WGSL = `struct Params {
  M: u32, N: u32, K: u32, batchCount: u32,
  aOffset: u32, bOffset: u32, cOffset: u32,
  aStrideM: u32, aStrideK: u32,
  bStrideK: u32, bStrideN: u32,
  batchShape0: u32, batchShape1: u32, batchShape2: u32, batchShape3: u32,
  aBatchStride0: u32, aBatchStride1: u32, aBatchStride2: u32, aBatchStride3: u32,
  bBatchStride0: u32, bBatchStride1: u32, bBatchStride2: u32, bBatchStride3: u32,
  cStrideM: u32, cBatchStride0: u32, cBatchStride1: u32, cBatchStride2: u32, cBatchStride3: u32,
  rOffset: u32, rStrideM: u32, rBatchStride0: u32, rBatchStride1: u32, rBatchStride2: u32, rBatchStride3: u32,
}`;

function bindings(vecA: boolean, vecB: boolean, vecC = false, residual = false): string {
  const c = vecC ? 'vec4<f32>' : 'f32';
  return `${PARAMS_WGSL}
@group(0) @binding(0) var<storage, read> A: array<${vecA ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(1) var<storage, read> B: array<${vecB ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(2) var<storage, read_write> C: array<${c}>;
${residual ? `@group(0) @binding(3) var<storage, read> R: array<${c}>;\n` : ''}@group(0) @binding(${residual ? 4 : 3}) var<uniform> P: Params;
`;
}

/** WGSL statements computing aB / bB / cB (element offsets of batch `b`'s matrices). */
const BATCH_OFFSETS = `
    var r = b;
    let i3 = r % P.batchShape3; r = r / P.batchShape3;
    let i2 = r % P.batchShape2; r = r / P.batchShape2;
    let i1 = r % P.batchShape1; let i0 = r / P.batchShape1;
    let aB = P.aOffset + i0 * P.aBatchStride0 + i1 * P.aBatchStride1 + i2 * P.aBatchStride2 + i3 * P.aBatchStride3;
    let bB = P.bOffset + i0 * P.bBatchStride0 + i1 * P.bBatchStride1 + i2 * P.bBatchStride2 + i3 * P.bBatchStride3;
    let cB = P.cOffset + i0 * P.cBatchStride0 + i1 * P.cBatchStride1 + i2 * P.cBatchStride2 + i3 * P.cBatchStride3;
    let rB = P.rOffset + i0 * P.rBatchStride0 + i1 * P.rBatchStride1 + i2 * P.rBatchStride2 + i3 * P.rBatchStride3;`;

/**
 * Baseline: one invocation per element of C, scalar loads, no tiling. Correct for any
 * shapes/strides; kept as the reference point for the benchmark.
 */
export function naiveMatmulShader(spec: MatmulShaderSpec): MatmulShader {
  const code = `${bindings(false, false, false, spec.residual)}
@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = gid.x;
  let m = gid.y;
  if (n >= P.N || m >= P.M) { return; }
  for (var b = gid.z; b < P.batchCount; b += nwg.z) {${BATCH_OFFSETS}
    var acc = 0.0;
    var ai = aB + m * P.aStrideM;
    var bi = bB + n * P.bStrideN;
    for (var k = 0u; k < P.K; k++) {
      acc = fma(A[ai], B[bi], acc);
      ai += P.aStrideK;
      bi += P.bStrideK;
    }
    let c = acc${spec.residual ? ' + R[rB + m * P.rStrideM + n]' : ''};
    C[cB + m * P.cStrideM + n] = ${spec.relu ? 'select(0.0, c, c > 0.0)' : 'c'};
  }
}
`;
  return { code, workgroupSize: [8, 8, 1], tileM: 8, tileN: 8, mMajorGrid: false };
}

/** The fast kernel; see the file comment for the tiling scheme. */
export function tiledMatmulShader(spec: MatmulShaderSpec, tuning?: MatmulTuning): MatmulShader {
  const S = spec.subgroupSize > 0 ? spec.subgroupSize : 1;
  if (![1, 4, 8, 16, 32].includes(S)) throw new Error(`unsupported subgroup size ${spec.subgroupSize}`);
  const t = tuning ?? (S > 1 ? DEFAULT_TUNING_SUBGROUP : DEFAULT_TUNING_NO_SUBGROUP);
  const { R, Q, SGM, SGN, mMajorGrid } = t;
  const useSg = S > 1;
  const TMs = S * R; // rows per subgroup
  const TNs = 4 * S * Q; // columns per subgroup
  const tileM = TMs * SGM;
  const tileN = TNs * SGN;
  const WG = S * SGM * SGN;
  if (WG > 256) throw new Error(`workgroup of ${WG} invocations is too large`);
  const { aTransposed: aT, bTransposed: bT, vecA, vecB } = spec;
  if (vecA && aT && TMs % 4 !== 0) throw new Error('vecA with aTransposed needs a multiple of 4 rows per subgroup');
  // A-vectorised along K (non-transposed) or B along K (transposed) both need K % 4 == 0, and
  // then there is no K tail.
  const kVec = (vecA && !aT) || (vecB && bT);

  const L: string[] = [];
  const emit = (s: string) => L.push(s);
  if (useSg && spec.subgroupDirective !== false) emit('enable subgroups;');
  emit(bindings(vecA, vecB, spec.vecC, spec.residual));
  // Scalar element loads usable whatever the declared element type (for the K tail).
  emit(`fn ldA(i: u32) -> f32 { return ${vecA ? 'A[i / 4u][i % 4u]' : 'A[i]'}; }`);
  emit(`fn ldB(i: u32) -> f32 { return ${vecB ? 'B[i / 4u][i % 4u]' : 'B[i]'}; }`);
  const bcast = (v: string, lane: number) => (useSg ? `subgroupBroadcast(${v}, ${lane}u)` : v);

  emit(`@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let M = P.M; let N = P.N; let K = P.K;
  let lane = li % ${S}u;
  let sgi = li / ${S}u;
  let m0 = wid.${mMajorGrid ? 'x' : 'y'} * ${tileM}u + (sgi / ${SGN}u) * ${TMs}u;  // first row of this subgroup's tile
  let n0 = wid.${mMajorGrid ? 'y' : 'x'} * ${tileN}u + (sgi % ${SGN}u) * ${TNs}u;  // first column of this subgroup's tile
  let K4 = ${kVec ? 'K' : 'K & ~3u'};
  for (var b = wid.z; b < P.batchCount; b += nwg.z) {${BATCH_OFFSETS}`);

  // ---- per-lane columns: group q, element e -> n0 + 4*(S*q + lane) + e
  for (let q = 0; q < Q; q++) emit(`    let nq${q} = n0 + ${4 * S * q}u + 4u * lane;`);
  // B base indices (k = 0)
  if (vecB && !bT) {
    for (let q = 0; q < Q; q++) emit(`    let bq${q} = (bB + min(nq${q}, N - 4u)) / 4u;  // vec4 index; B row stride bStrideK/4`);
  } else {
    for (let q = 0; q < Q; q++)
      for (let e = 0; e < 4; e++) emit(`    let bc${q}_${e} = bB + min(nq${q} + ${e}u, N - 1u) * P.bStrideN;`);
  }
  // A base indices
  if (vecA && aT) {
    // load j, lane l covers flat f0 = (j*S + l)*4 -> (kk = f0 / TMs, i0 = f0 % TMs)
    for (let j = 0; j < R; j++) {
      emit(`    let af${j} = (${j * S}u + lane) * 4u;`);
      emit(`    let aq${j} = (aB + (af${j} / ${TMs}u) * P.aStrideK + min(m0 + af${j} % ${TMs}u, M - 4u)) / 4u;`);
    }
  } else {
    for (let r = 0; r < R; r++) emit(`    let ar${r} = aB + min(m0 + ${S * r}u + lane, M - 1u) * P.aStrideM;`);
  }
  for (let i = 0; i < TMs; i++) for (let q = 0; q < Q; q++) emit(`    var c${i}_${q} = vec4<f32>(0.0);`);

  // ---- main K loop, 4 k per iteration
  emit(`    for (var k = 0u; k < K4; k += 4u) {`);
  // A loads -> expression a(i, kk) (before broadcast)
  const aval: string[][] = [];
  for (let i = 0; i < TMs; i++) aval.push([]);
  if (vecA && !aT) {
    for (let r = 0; r < R; r++) emit(`      let av${r} = A[(ar${r} + k) / 4u];`);
    for (let i = 0; i < TMs; i++) for (let kk = 0; kk < 4; kk++) aval[i]![kk] = bcast(`av${Math.floor(i / S)}[${kk}]`, i % S);
  } else if (vecA && aT) {
    for (let j = 0; j < R; j++) emit(`      let av${j} = A[aq${j} + (k * P.aStrideK) / 4u];`);
    for (let i = 0; i < TMs; i++)
      for (let kk = 0; kk < 4; kk++) {
        const f = kk * TMs + i;
        aval[i]![kk] = bcast(`av${Math.floor(f / (4 * S))}[${f % 4}]`, Math.floor(f / 4) % S);
      }
  } else {
    for (let r = 0; r < R; r++)
      for (let kk = 0; kk < 4; kk++) emit(`      let av${r}_${kk} = A[ar${r} + (k + ${kk}u) * P.aStrideK];`);
    for (let i = 0; i < TMs; i++) for (let kk = 0; kk < 4; kk++) aval[i]![kk] = bcast(`av${Math.floor(i / S)}_${kk}`, i % S);
  }
  // B loads -> expression b(q, kk) : vec4 over the lane's 4 columns
  const bval: string[][] = [];
  for (let q = 0; q < Q; q++) {
    bval.push([]);
    if (vecB && !bT) {
      for (let kk = 0; kk < 4; kk++) {
        emit(`      let b${q}_${kk} = B[bq${q} + ((k + ${kk}u) * P.bStrideK) / 4u];`);
        bval[q]![kk] = `b${q}_${kk}`;
      }
    } else if (vecB && bT) {
      for (let e = 0; e < 4; e++) emit(`      let bt${q}_${e} = B[(bc${q}_${e} + k) / 4u];`);
      for (let kk = 0; kk < 4; kk++) bval[q]![kk] = `vec4<f32>(bt${q}_0[${kk}], bt${q}_1[${kk}], bt${q}_2[${kk}], bt${q}_3[${kk}])`;
    } else {
      for (let kk = 0; kk < 4; kk++) {
        emit(`      let b${q}_${kk} = vec4<f32>(${[0, 1, 2, 3].map((e) => `B[bc${q}_${e} + (k + ${kk}u) * P.bStrideK]`).join(', ')});`);
        bval[q]![kk] = `b${q}_${kk}`;
      }
    }
  }
  // Row order: all 4 k-steps of one accumulator before the next (keeps spills at 1 per 4 k).
  for (let i = 0; i < TMs; i++) {
    for (let kk = 0; kk < 4; kk++) emit(`      let a${i}_${kk} = ${aval[i]![kk]};`);
    for (let q = 0; q < Q; q++) {
      let e = `c${i}_${q}`;
      for (let kk = 0; kk < 4; kk++) e = `fma(vec4<f32>(a${i}_${kk}), ${bval[q]![kk]}, ${e})`;
      emit(`      c${i}_${q} = ${e};`);
    }
  }
  emit(`    }`);

  // ---- K tail (K % 4 != 0), only possible when nothing is vectorised along K
  if (!kVec) {
    emit(`    for (var k = K4; k < K; k++) {`);
    if (vecA && aT) {
      // rows of this lane for the broadcast pattern of the scalar path: lane l holds row S*r + l
      for (let r = 0; r < R; r++) emit(`      let at${r} = ldA(aB + k * P.aStrideK + min(m0 + ${S * r}u + lane, M - 1u) * P.aStrideM);`);
    } else {
      for (let r = 0; r < R; r++) emit(`      let at${r} = ldA(ar${r} + k * P.aStrideK);`);
    }
    for (let q = 0; q < Q; q++) {
      if (vecB && !bT) {
        emit(`      let bt${q} = vec4<f32>(${[0, 1, 2, 3].map((e) => `ldB(bq${q} * 4u + ${e}u + k * P.bStrideK)`).join(', ')});`);
      } else {
        emit(`      let bt${q} = vec4<f32>(${[0, 1, 2, 3].map((e) => `ldB(bc${q}_${e} + k * P.bStrideK)`).join(', ')});`);
      }
    }
    for (let i = 0; i < TMs; i++) {
      emit(`      let at_${i} = ${bcast(`at${Math.floor(i / S)}`, i % S)};`);
      for (let q = 0; q < Q; q++) emit(`      c${i}_${q} = fma(vec4<f32>(at_${i}), bt${q}, c${i}_${q});`);
    }
    emit(`    }`);
  }

  // ---- store (masked)
  for (let i = 0; i < TMs; i++) {
    emit(`    if (m0 + ${i}u < M) {`);
    emit(`      let crow = cB + (m0 + ${i}u) * P.cStrideM;`);
    if (spec.residual) emit(`      let rrow = rB + (m0 + ${i}u) * P.rStrideM;`);
    // the epilogue: + R, then relu (select, so that NaN gives 0 like the elementwise relu)
    const epilogue = (v: string, zero: string) => spec.relu ? `select(${zero}, ${v}, ${v} > ${zero})` : v;
    for (let q = 0; q < Q; q++)
      if (spec.vecC) {
        emit(`      if (nq${q} < N) { let v = c${i}_${q}${spec.residual ? ` + R[(rrow + nq${q}) / 4u]` : ''}; C[(crow + nq${q}) / 4u] = ${epilogue('v', 'vec4<f32>(0.0)')}; }`);
      } else {
        for (let e = 0; e < 4; e++) emit(`      if (nq${q} + ${e}u < N) { let v = c${i}_${q}[${e}]${spec.residual ? ` + R[rrow + nq${q} + ${e}u]` : ''}; C[crow + nq${q} + ${e}u] = ${epilogue('v', '0.0')}; }`);
      }
    emit(`    }`);
  }
  emit(`  }\n}\n`);
  return { code: L.join('\n'), workgroupSize: [WG, 1, 1], tileM, tileN, mMajorGrid };
}

/**
 * The workgroup-memory kernel, for devices with fast on-chip shared memory (GPUs; not lavapipe or
 * SwiftShader, whose barriers switch coroutines: there the register-tiled kernel above is used).
 *
 * A 16×16 workgroup computes a 64×64 tile of C; invocation (tx, ty) owns rows ty + 16i and columns
 * tx + 16j (i, j < 4), so neighbouring invocations touch neighbouring columns. K is walked in slabs of
 * 16: the workgroup copies A's 64×16 and B's 16×64 block into workgroup memory (4 elements of each per
 * invocation, out-of-range elements as 0, the copy loop walking each operand's contiguous axis so
 * neighbouring invocations read neighbouring addresses), waits at a barrier, accumulates the slab's 16
 * rank-1 updates from workgroup memory (per k, each invocation loads 4 A and 4 B values for 16
 * multiply-adds), and waits again before the next slab. Both blocks are stored k-major with
 * a row pitch of 65 words, an odd number, so the copy's stores, which step through k, hit distinct banks.
 * Every load is a scalar load through the strides (vecA / vecB / vecC are ignored), so one shader per
 * (transposes, epilogue) serves every alignment. Residual and relu as in the tiled kernel.
 */
export function workgroupMatmulShader(spec: MatmulShaderSpec): MatmulShader {
  const pitch = 65;
  const { aTransposed: aT, bTransposed: bT } = spec;
  // copy loop: element f (0..1023) of a block -> (row or column within the tile, k within the slab);
  // consecutive f walk the operand's contiguous axis
  const aIndex = aT ? "let am = f % 64u; let ak = f / 64u;" : "let am = f / 16u; let ak = f % 16u;";
  const bIndex = bT ? "let bn = f / 16u; let bk = f % 16u;" : "let bn = f % 64u; let bk = f / 64u;";
  const epilogue = (v: string) => (spec.relu ? `select(0.0, ${v}, ${v} > 0.0)` : v);
  const store: string[] = [];
  for (let i = 0; i < 4; i++) {
    store.push(`    if (m0 + ty + ${16 * i}u < M) {`);
    store.push(`      let row = m0 + ty + ${16 * i}u;`);
    for (let j = 0; j < 4; j++) {
      const v = `c${i}[${j}]${spec.residual ? ` + R[rB + row * P.rStrideM + n0 + tx + ${16 * j}u]` : ""}`;
      store.push(`      if (n0 + tx + ${16 * j}u < N) { let v = ${v}; C[cB + row * P.cStrideM + n0 + tx + ${16 * j}u] = ${epilogue("v")}; }`);
    }
    store.push("    }");
  }
  const code = `${bindings(false, false, false, spec.residual)}
var<workgroup> As: array<f32, ${16 * pitch}>;  // As[k * ${pitch} + m]
var<workgroup> Bs: array<f32, ${16 * pitch}>;  // Bs[k * ${pitch} + n]
@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let M = P.M; let N = P.N; let K = P.K;
  let tx = lid.x; let ty = lid.y;
  let m0 = wid.y * 64u; let n0 = wid.x * 64u;
  for (var b = wid.z; b < P.batchCount; b += nwg.z) {${BATCH_OFFSETS}
    var c0 = vec4<f32>(0.0); var c1 = vec4<f32>(0.0); var c2 = vec4<f32>(0.0); var c3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < K; k0 += 16u) {
      for (var e = 0u; e < 4u; e++) {
        let f = li + 256u * e;
        ${aIndex}
        var av = 0.0;
        if (m0 + am < M && k0 + ak < K) { av = A[aB + (m0 + am) * P.aStrideM + (k0 + ak) * P.aStrideK]; }
        As[ak * ${pitch}u + am] = av;
        ${bIndex}
        var bv = 0.0;
        if (n0 + bn < N && k0 + bk < K) { bv = B[bB + (k0 + bk) * P.bStrideK + (n0 + bn) * P.bStrideN]; }
        Bs[bk * ${pitch}u + bn] = bv;
      }
      workgroupBarrier();
      for (var k = 0u; k < 16u; k++) {
        let a = k * ${pitch}u + ty;
        let bo = k * ${pitch}u + tx;
        let brow = vec4<f32>(Bs[bo], Bs[bo + 16u], Bs[bo + 32u], Bs[bo + 48u]);
        c0 = fma(vec4<f32>(As[a]), brow, c0);
        c1 = fma(vec4<f32>(As[a + 16u]), brow, c1);
        c2 = fma(vec4<f32>(As[a + 32u]), brow, c2);
        c3 = fma(vec4<f32>(As[a + 48u]), brow, c3);
      }
      workgroupBarrier();
    }
${store.join("\n")}
  }
}
`;
  return { code, workgroupSize: [16, 16, 1], tileM: 64, tileN: 64, mMajorGrid: false };
}

export interface MatmulCallParams {
  M: number;
  N: number;
  K: number;
  aOffset: number;
  bOffset: number;
  aStrideM: number;
  aStrideK: number;
  bStrideK: number;
  bStrideN: number;
  /** C's element offset; default 0. */
  cOffset?: number;
  /** C's row stride (columns are contiguous); default N. */
  cStrideM?: number;
  /** C's per-dimension batch strides; default contiguous. */
  cBatchStrides?: readonly number[];
  /** A residual R added in the store (C = A·B + R): its offset, row stride and batch strides. */
  residual?: { readonly offset: number; readonly strideM: number; readonly batchStrides: readonly number[] };
  /** relu in the store (after the residual). */
  relu?: boolean;
  /** Per-dimension batch strides (elements, 0 = broadcast); any length up to 4. */
  aBatchStrides?: readonly number[];
  bBatchStrides?: readonly number[];
  /**
   * The device's subgroup size if the device was created with the 'subgroups' feature and the
   * size is fixed (adapter.info.subgroupMinSize === subgroupMaxSize); omit or 0 otherwise.
   */
  subgroupSize?: number;
}

/** Picks the specialisation (vec4 loads only where alignment allows). */
const al = (x: number) => x % 4 === 0;

/** `subgroupDirective`: whether the device's compiler wants `enable subgroups;` (GpuFeatures; Tint yes, naga no). */
export function chooseMatmulSpec(p: MatmulCallParams, subgroupSize = p.subgroupSize ?? 0, subgroupDirective = true): MatmulShaderSpec {
  const aBS = p.aBatchStrides ?? [];
  const bBS = p.bBatchStrides ?? [];
  // "Transposed" = the contiguous axis is the other one.
  const aT = p.aStrideM === 1 && p.aStrideK !== 1;
  const bT = p.bStrideK === 1 && p.bStrideN !== 1;
  let vecA: boolean;
  if (!aT) vecA = p.aStrideK === 1 && al(p.K) && al(p.aStrideM) && al(p.aOffset) && aBS.every(al);
  else vecA = al(p.M) && al(p.aStrideK) && al(p.aOffset) && aBS.every(al);
  let vecB: boolean;
  if (!bT) vecB = p.bStrideN === 1 && al(p.N) && al(p.bStrideK) && al(p.bOffset) && bBS.every(al);
  else vecB = al(p.K) && al(p.bStrideN) && al(p.bOffset) && bBS.every(al);
  // Only the subgroup size validated on lavapipe (8) is used; other sizes fall back to the
  // subgroup-free kernel (tiledMatmulShader itself accepts 4..32 for experiments).
  const sg = subgroupSize;
  const r = p.residual;
  // vec4 stores (and residual loads): every row of C (and R) starts 4-aligned
  const vecC =
    al(p.N) && al(p.cOffset ?? 0) && al(p.cStrideM ?? p.N) && (p.cBatchStrides ?? []).every(al) &&
    (!r || (al(r.offset) && al(r.strideM) && r.batchStrides.every(al)));
  const subgroups = sg === 8 ? 8 : 0;
  return {
    aTransposed: aT, bTransposed: bT, vecA, vecB, vecC,
    ...(r ? { residual: true } : {}),
    ...(p.relu ? { relu: true } : {}),
    ...(subgroups > 0 && !subgroupDirective ? { subgroupDirective: false } : {}),
    subgroupSize: subgroups,
  };
}

/** Workgroup counts for a dispatch of `shader` over an M x N output with `batch` matrices. */
export function matmulWorkgroups(shader: MatmulShader, M: number, N: number, batch: number): [number, number, number] {
  const tm = Math.ceil(M / shader.tileM);
  const tn = Math.ceil(N / shader.tileN);
  const [x, y] = shader.mMajorGrid ? [tm, tn] : [tn, tm];
  if (x > MAX_DISPATCH || y > MAX_DISPATCH) throw new Error(`matmul ${M}x${N} needs more than ${MAX_DISPATCH} workgroups per dimension`);
  // The shader strides over the batch with num_workgroups.z, so z can be capped.
  return [Math.max(1, x), Math.max(1, y), Math.max(1, Math.min(batch, MAX_DISPATCH))];
}
