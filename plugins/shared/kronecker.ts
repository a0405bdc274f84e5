/**
 * Kronecker-product building blocks shared by the Kronecker plugins (KronA and KronA^B, plugins/krona and
 * plugins/kronab; also what a user's own Kronecker-style method imports): HF PEFT LoKr's factor-shape
 * rule, config fields for factor shapes, and s·(A ⊗ B)·x computed without materialising A ⊗ B.
 * Source: Edalati et al. 2022, "KronA: Parameter Efficient Tuning with Kronecker Adapter"
 * (https://arxiv.org/abs/2212.10650); factorization from peft/tuners/lokr/layer.py (from LyCORIS).
 * Shape legend: N tokens (all leading axes), a1, a2, b1, b2 the factor sizes, out = a1·b1, in = a2·b2.
 */
import * as v from "valibot";
import { PluginConfigError } from "../../core/peft/errors.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";
import { batchedMatmul } from "../../core/tensor/ops/matmul.ts";

// ---- factor shapes --------------------------------------------------------------------------------

/**
 * HF PEFT LoKr's `factorization(dimension, factor)` (peft/tuners/lokr/layer.py, taken from LyCORIS):
 *  - factor > 0 dividing the dimension: (factor, dimension / factor), as given (the first may be larger);
 *  - otherwise walk the divisors m = 2, 3, … upward (pairs (m, dimension/m)) while m ≤ factor (−1: no bound)
 *    and m < dimension/m held for the previous pair; the walk stops at the first divisor past √dimension or
 *    past the bound, and the pair is returned smaller first.
 * For −1 that is (largest divisor ≤ √dimension, its cofactor): 512 → (16, 32), 768 → (24, 32), 127 → (1, 127).
 */
export function factorization(dimension: number, factor = -1): [number, number] {
  if (factor > 0 && dimension % factor === 0) return [factor, dimension / factor];
  const bound = factor === -1 ? dimension : factor;
  let m = 1;
  let n = dimension;
  while (m < n) {
    let next = m + 1;
    while (dimension % next !== 0) next++;
    // PEFT also breaks when the pair's sum exceeds 1 + dimension, which a divisor pair never does
    if (next > bound) break;
    m = next;
    n = dimension / next;
  }
  return m > n ? [n, m] : [m, n];
}

/** What a config says about factor shapes (KronA and KronA^B share it). */
export interface FactorFields {
  /** rows of A; b1 = out / a1. Give a1 and a2 together, or neither (automatic shapes). */
  readonly a1?: number | undefined;
  /** columns of A; b2 = in / a2 */
  readonly a2?: number | undefined;
  /** automatic shapes: HF PEFT LoKr's decompose_factor (−1 = near-square) */
  readonly decomposeFactor: number;
}

export interface KronShape {
  readonly a1: number;
  readonly a2: number;
  readonly b1: number;
  readonly b2: number;
}

/** valibot entries of FactorFields (spread into a config schema). */
export interface FactorFieldSchemas {
  readonly a1: v.GenericSchema<unknown, number | undefined>;
  readonly a2: v.GenericSchema<unknown, number | undefined>;
  readonly decomposeFactor: v.GenericSchema<unknown, number>;
}

/** valibot entries for the factor shapes (shared with KronA^B). */
export const factorFields: FactorFieldSchemas = {
  a1: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  a2: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  decomposeFactor: v.optional(
    v.pipe(
      v.number(),
      v.integer(),
      v.check((f) => f === -1 || f >= 1, "must be -1 (near-square factors) or a positive integer"),
    ),
    -1,
  ),
};

/** Checks the combination of factor fields (each field alone is checked by the schema). */
export function checkFactorFields(plugin: string, c: FactorFields): void {
  if ((c.a1 === undefined) !== (c.a2 === undefined)) {
    const missing = c.a1 === undefined ? "a1" : "a2";
    throw PluginConfigError.of(plugin, missing, `give a1 and a2 together (A is a1×a2), or neither for automatic shapes`);
  }
  if (c.a1 !== undefined && c.decomposeFactor !== -1) {
    throw PluginConfigError.of(plugin, "decomposeFactor", `${c.decomposeFactor} conflicts with explicit a1, a2: give one or the other`);
  }
}

/** Factor shapes for a module mapping `inFeatures` → `outFeatures`; errors name the field and the module. */
export function kronShape(plugin: string, c: FactorFields, outFeatures: number, inFeatures: number, path: string): KronShape {
  if (c.a1 !== undefined && c.a2 !== undefined) {
    if (outFeatures % c.a1 !== 0) {
      throw PluginConfigError.of(plugin, "a1", `a1 = ${c.a1} does not divide the output size ${outFeatures} of ${path}`);
    }
    if (inFeatures % c.a2 !== 0) {
      throw PluginConfigError.of(plugin, "a2", `a2 = ${c.a2} does not divide the input size ${inFeatures} of ${path}`);
    }
    return { a1: c.a1, a2: c.a2, b1: outFeatures / c.a1, b2: inFeatures / c.a2 };
  }
  const [a1, b1] = factorization(outFeatures, c.decomposeFactor);
  const [a2, b2] = factorization(inFeatures, c.decomposeFactor);
  return { a1, a2, b1, b2 };
}

// ---- the Kronecker product applied without materialising it ----------------------------------------

export interface KronApplyOptions {
  /** s in s·(A ⊗ B)·x (default 1). */
  readonly scale?: number;
  /** Which factor is applied first; default: the cheaper one (see kronApply). */
  readonly order?: "B-first" | "A-first";
  /**
   * (…, a1·b1): return addTo + s·(A ⊗ B)·x, the add done in the last product's store (no extra launch):
   * a parallel hook's `addTo` (the Linear's output plus the update).
   */
  readonly addTo?: Tensor;
}

/** Multiply-adds per token of each arrangement (see kronApply). */
export function kronCosts({ a1, a2, b1, b2 }: KronShape): { "B-first": number; "A-first": number } {
  return { "B-first": a2 * b2 * b1 + a1 * a2 * b1, "A-first": a1 * a2 * b2 + a1 * b2 * b1 };
}

/**
 * s·(A ⊗ B)·x for x (…, a2·b2) → (…, a1·b1), as two matmuls on views of x, never forming A ⊗ B:
 * per token, Y = A·X·Bᵀ with X = reshape(x, (a2, b2)) row-major, and y = vec(Y) (row-major) because
 * (A ⊗ B)[i1·b1 + j1, i2·b2 + j2] = A[i1, i2]·B[j1, j2].
 *
 * "B-first" (default when not more expensive):
 *   Z = X·Bᵀ   as ONE (N·a2, b2)·(b2, b1) product: x viewed as (N·a2, b2) is a free reshape, and Bᵀ a
 *              transposed view the kernel reads through strides;                         → (N·a2, b1)
 *   Y = A·Z_n  as ONE batched launch (N, a1, a2)·(N, a2, b1) with A broadcast (batch stride 0);
 *              its output (N, a1, b1) is already y's row-major layout, so the result is a view.
 * Why this arrangement: the product over a2 (the middle axis of X, or of Z) cannot be one 2-D matmul on a
 * view: the token axis and b1 (or b2) are separated in memory by the a2 axis, so folding them into M or N
 * needs a transposed copy of Z ((a2, N·b1) layout) AND a copy back to (N, a1, b1) afterwards. The batched
 * launch over tokens reads Z in place and writes y in place: no copies in the forward, and in the
 * backward dZ = Aᵀ·dY_n is the same batched launch, dX = dZ·B and dB = dZᵀ·X are single products with
 * all tokens folded into M or K; only dA = Σ_n dY_n·Z_nᵀ sums an (N, a1, a2) batch (a1·a2 values per
 * token, smaller than y itself for the shapes KronA uses).
 * "A-first" mirrors it (T = A·X_n batched → (N, a1, b2), then y = T·Bᵀ folded); the two cost
 * N·a1·a2·b1 + N·a2·b2·b1 and N·a1·a2·b2 + N·a1·b2·b1 multiply-adds, and the cheaper one is used
 * (equal for square factors such as a = (16, 16), b = (32, 32)).
 * The scale multiplies A (a1·a2 values) instead of y (N·out values): one tiny elementwise op forward and
 * backward instead of a pass over the activations, and none when s = 1.
 */
export function kronApply(x: Tensor, A: Tensor, B: Tensor, options: KronApplyOptions = {}): Tensor {
  const [a1, a2] = A.shape as [number, number];
  const [b1, b2] = B.shape as [number, number];
  const lead = x.shape.slice(0, -1);
  const scale = options.scale ?? 1;
  const costs = kronCosts({ a1, a2, b1, b2 });
  const order = options.order ?? (costs["A-first"] < costs["B-first"] ? "A-first" : "B-first");
  const As = scale === 1 ? A : A.mul(scale); // (a1, a2)
  const Bt = B.transpose(); // (b2, b1) view
  // the tensor to add, viewed like the last product's output (a free reshape of a contiguous one)
  const residual = (shape: number[]) => (options.addTo ? { residual: options.addTo.reshape(shape) } : {});
  let y3: Tensor;
  if (order === "B-first") {
    const z = x.reshape([-1, b2]).matmul(Bt); // (N·a2, b2)·(b2, b1) → (N·a2, b1)
    y3 = batchedMatmul(As, z.reshape([-1, a2, b1]), residual([-1, a1, b1])); // (a1, a2)·(N, a2, b1) → (N, a1, b1)
  } else {
    const t = batchedMatmul(As, x.reshape([-1, a2, b2])); // (a1, a2)·(N, a2, b2) → (N, a1, b2)
    y3 = batchedMatmul(t.reshape([-1, b2]), Bt, residual([-1, b1])); // (N·a1, b2)·(b2, b1) → (N·a1, b1)
  }
  return y3.reshape([...lead, a1 * b1]); // (…, out), a view
}

/** kron(A, B) (a1·b1, a2·b2), materialised: for merging and for tests only. */
export function kron(A: Tensor, B: Tensor): Tensor {
  const [a1, a2] = A.shape as [number, number];
  const [b1, b2] = B.shape as [number, number];
  return A.reshape([a1, 1, a2, 1]).mul(B.reshape([1, b1, 1, b2])).reshape([a1 * b1, a2 * b2]); // (a1, b1, a2, b2) → (out, in)
}

