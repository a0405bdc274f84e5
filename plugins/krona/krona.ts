/**
 * KronA (Edalati et al. 2022, "KronA: Parameter Efficient Tuning with Kronecker Adapter",
 * https://arxiv.org/abs/2212.10650): parallel to each target Linear,
 *
 *   y = W·x + s·(A ⊗ B)·dropout(x),   A (a1, a2), B (b1, b2),   a1·b1 = out, a2·b2 = in.
 *
 * The update has rank rank(A)·rank(B), full rank for the parameter budget a1·a2 + b1·b2 that a rank-1…2
 * LoRA spends. A starts at zero and B Kaiming-uniform (the factor that HF PEFT's LoKr zeroes is its w1,
 * the left factor = A), so the model starts unchanged and A's gradient is nonzero from the first step.
 * Mergeable: ΔW = s·kron(A, B) (materialised for merge only). Parameters: Σ over targets a1·a2 + b1·b2.
 *
 * Factor shapes: `a1, a2` given (b1 = out/a1, b2 = in/a2), or automatic with HF PEFT LoKr's rule
 * (`factorization` below, peft/tuners/lokr/layer.py, from LyCORIS), so a default KronA adapter is a
 * LoKr adapter with full factors and exports to HF PEFT's LOKR files (the default format here).
 *
 * Forward without materialising A ⊗ B: with row-major X = reshape(x, (a2, b2)) per token,
 * (A ⊗ B)·x = vec(A·X·Bᵀ) — see kronApply for the arrangement. Shape legend: N tokens (all leading axes),
 * a1, a2, b1, b2 the factor sizes, out = a1·b1, in = a2·b2.
 */
import * as v from "valibot";
import { PluginConfigError } from "../../core/hooks/errors.ts";
import { matchTargets } from "../../core/hooks/peft-model.ts";
import { type AdapterFormat, type PeftPlugin, type Target, type TargetSpec, parsePluginConfig, targetFields } from "../../core/hooks/plugin.ts";
import type { T5ForConditionalGeneration } from "../../core/models/t5/model.ts";
import type { Linear } from "../../core/nn/layers.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";

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
  let y3: Tensor;
  if (order === "B-first") {
    const z = x.reshape([-1, b2]).matmul(Bt); // (N·a2, b2)·(b2, b1) → (N·a2, b1)
    y3 = As.matmul(z.reshape([-1, a2, b1])); // (a1, a2)·(N, a2, b1) → (N, a1, b1)
  } else {
    const t = As.matmul(x.reshape([-1, a2, b2])); // (a1, a2)·(N, a2, b2) → (N, a1, b2)
    y3 = t.reshape([-1, b2]).matmul(Bt); // (N·a1, b2)·(b2, b1) → (N·a1, b1)
  }
  return y3.reshape([...lead, a1 * b1]); // (…, out), a view
}

/** kron(A, B) (a1·b1, a2·b2), materialised: for merging and for tests only. */
export function kron(A: Tensor, B: Tensor): Tensor {
  const [a1, a2] = A.shape as [number, number];
  const [b1, b2] = B.shape as [number, number];
  return A.reshape([a1, 1, a2, 1]).mul(B.reshape([1, b1, 1, b2])).reshape([a1 * b1, a2 * b2]); // (a1, b1, a2, b2) → (out, in)
}

// ---- the plugin ------------------------------------------------------------------------------------

/** KronA's config. */
export interface KronaConfig extends TargetSpec, FactorFields {
  readonly targets: string[] | { regex: string };
  /** s in ΔW = s·(A ⊗ B) */
  readonly scale: number;
  /** dropout on the adapter's input */
  readonly dropout: number;
}

const schema: v.GenericSchema<unknown, KronaConfig> = v.object({
  ...targetFields(["q", "v"]),
  ...factorFields,
  /**
   * s. The KronA paper writes ΔW = s·(A ⊗ B); default 1 (ΔW = A ⊗ B, LoKr's alpha = r): the paper's own
   * value for T5 could not be checked here, so the neutral one is the default.
   */
  scale: v.optional(v.pipe(v.number(), v.gtValue(0), v.finite()), 1),
  /** dropout on the adapter's input */
  dropout: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(0.999)), 0),
});

const PARAM_A = "krona_A";
const PARAM_B = "krona_B";

interface TargetShape extends KronShape {
  readonly path: string;
  readonly outFeatures: number;
  readonly inFeatures: number;
}

function targetShapes(model: T5ForConditionalGeneration, config: KronaConfig): (TargetShape & { module: Linear })[] {
  checkFactorFields("krona", config);
  return (matchTargets(model, config, "linear", "krona") as Target<Linear>[]).map(({ path, module }) => ({
    path,
    module,
    outFeatures: module.outFeatures,
    inFeatures: module.inFeatures,
    ...kronShape("krona", config, module.outFeatures, module.inFeatures, path),
  }));
}

// ---- HF PEFT LoKr files ------------------------------------------------------------------------------

/** Divisors of n, ascending. */
function divisors(n: number): number[] {
  const small: number[] = [];
  const large: number[] = [];
  for (let d = 1; d * d <= n; d++) {
    if (n % d === 0) {
      small.push(d);
      if (d * d !== n) large.unshift(n / d);
    }
  }
  return [...small, ...large];
}

const sameShape = (s: KronShape, [a1, b1]: [number, number], [a2, b2]: [number, number]) => s.a1 === a1 && s.b1 === b1 && s.a2 === a2 && s.b2 === b2;

/**
 * A decompose_factor for which PEFT's factorization(out, f) = (a1, b1) and factorization(in, f) = (a2, b2)
 * for every target, or null. Candidates: the preferred one, −1, every divisor d of a target size and d + 1:
 * for an f dividing neither size the result depends only on the largest divisors ≤ f, so these cover
 * every outcome.
 */
function peftDecomposeFactor(shapes: readonly TargetShape[], preferred = -1): number | null {
  const candidates = new Set<number>([preferred, -1]);
  for (const s of shapes) {
    for (const dim of [s.outFeatures, s.inFeatures]) for (const d of divisors(dim)) (candidates.add(d), candidates.add(d + 1));
  }
  for (const f of candidates) {
    if (shapes.every((s) => sameShape(s, factorization(s.outFeatures, f), factorization(s.inFeatures, f)))) return f;
  }
  return null;
}

/** HF PEFT's all-linear: every Linear but the output layer. */
const ALL_LINEAR_REGEX = ".*\\.(q|k|v|o|wi|wi_0|wi_1|wo)";

/** PEFT target fields for a TargetSpec; PEFT has no stacks and no regex + layers, so those become a list of paths. */
function peftTargets(config: KronaConfig, paths: readonly string[]): { target_modules: string[] | string; layers_to_transform: number[] | null; layers_pattern: string | null } {
  const regex = !Array.isArray(config.targets);
  if (config.stacks || (regex && config.layers)) return { target_modules: [...paths], layers_to_transform: null, layers_pattern: null };
  return {
    target_modules: regex ? (config.targets as { regex: string }).regex : [...(config.targets as string[])],
    layers_to_transform: config.layers ? [...config.layers] : null,
    layers_pattern: config.layers ? "block" : null,
  };
}

/** r: a power of two (so alpha = s·r and s = alpha/r are exact) with r ≥ max(b1, b2)/2, PEFT's bound for a full w2. */
function lokrRank(shapes: readonly KronShape[]): number {
  const need = Math.max(...shapes.map((s) => Math.max(s.b1, s.b2) / 2));
  let r = 1;
  while (r < need) r *= 2;
  return r;
}

/**
 * HF PEFT's LOKR layout: adapter_config.json with LoKrConfig's fields, tensors
 * `base_model.model.<module>.lokr_w1` = A (a1, a2) and `.lokr_w2` = B (b1, b2), ΔW = (alpha/r)·kron(w1, w2).
 * PEFT keeps w1 whole unless decompose_both, and w2 whole when r ≥ max(b1, b2)/2; otherwise it stores
 * low-rank factors (lokr_w1_a/_b, lokr_w2_a/_b), which KronA does not have: such files are refused.
 * Input dropout has no LoKr field (LoKr has rank_dropout and module_dropout, training-time only, which
 * KronA does not have and ignores on load).
 */
export const lokrFormat: AdapterFormat<KronaConfig> = {
  peftType: "LOKR",
  toAdapterConfig(config, model) {
    const shapes = targetShapes(model, config);
    const f = peftDecomposeFactor(shapes, config.decomposeFactor);
    if (f === null) {
      const s = shapes[0]!;
      const [pa1, pb1] = factorization(s.outFeatures, -1);
      const [pa2, pb2] = factorization(s.inFeatures, -1);
      throw PluginConfigError.of(
        "krona",
        "a1, a2",
        `A (${s.a1}, ${s.a2}) / B (${s.b1}, ${s.b2}) on ${s.path} (and the other targets) are not the shapes HF PEFT's LoKr factorization(dim, decompose_factor) gives for any one decompose_factor ` +
          `(-1 gives A (${pa1}, ${pa2}), B (${pb1}, ${pb2})), so PEFT could not load them as LOKR; save with format "WEBPEFT", or use automatic shapes (no a1/a2)`,
      );
    }
    const r = lokrRank(shapes);
    return {
      peft_type: "LOKR",
      task_type: "SEQ_2_SEQ_LM",
      r,
      alpha: config.scale * r,
      rank_dropout: 0,
      module_dropout: 0,
      use_effective_conv2d: false,
      decompose_both: false,
      decompose_factor: f,
      rank_dropout_scale: false,
      ...peftTargets(config, shapes.map((s) => s.path)),
      exclude_modules: null,
      init_weights: true,
      rank_pattern: {},
      alpha_pattern: {},
      modules_to_save: null,
      inference_mode: true,
      base_model_name_or_path: null,
      revision: null,
    };
  },
  fromAdapterConfig(json, model) {
    for (const unsupported of ["rank_pattern", "alpha_pattern"] as const) {
      const value = json[unsupported];
      if (value && typeof value === "object" && Object.keys(value).length > 0) {
        throw PluginConfigError.of("krona", unsupported, "per-module ranks/alphas are not supported");
      }
    }
    for (const unsupported of ["exclude_modules", "modules_to_save"] as const) {
      const value = json[unsupported];
      if (value !== null && value !== undefined && !(Array.isArray(value) && value.length === 0)) {
        throw PluginConfigError.of("krona", unsupported, `${JSON.stringify(value)} is not supported`);
      }
    }
    const r = Number(json.r ?? 8);
    const alpha = Number(json.alpha ?? 8);
    if (!(Number.isInteger(r) && r > 0)) throw PluginConfigError.of("krona", "r", `${json.r} is not a positive integer`);
    const targets = json.target_modules;
    const layers = json.layers_to_transform;
    const raw = {
      targets: targets === "all-linear" ? { regex: ALL_LINEAR_REGEX } : typeof targets === "string" ? { regex: targets } : targets,
      decomposeFactor: json.decompose_factor ?? -1,
      scale: alpha / r,
      ...(layers === null || layers === undefined ? {} : { layers: typeof layers === "number" ? [layers] : layers }),
    };
    // PEFT decides per module from r whether a factor is stored whole or as low-rank factors
    const config = parsePluginConfig(krona, raw);
    for (const s of targetShapes(model, config)) {
      if (json.decompose_both && r < Math.max(s.a1, s.a2) / 2) {
        throw PluginConfigError.of(
          "krona",
          "decompose_both",
          `with r = ${r} < max(${s.a1}, ${s.a2})/2, PEFT stores w1 of ${s.path} as low-rank factors lokr_w1_a/lokr_w1_b; KronA needs a whole lokr_w1 (decomposed LoKr is not supported)`,
        );
      }
      if (r < Math.max(s.b1, s.b2) / 2) {
        throw PluginConfigError.of(
          "krona",
          "r",
          `with r = ${r} < max(${s.b1}, ${s.b2})/2, PEFT stores w2 of ${s.path} as low-rank factors lokr_w2_a/lokr_w2_b; KronA needs a whole lokr_w2 (decomposed LoKr is not supported)`,
        );
      }
    }
    return raw;
  },
  fileKey(path) {
    const m = /^(.*)\.(krona_A|krona_B)$/.exec(path);
    if (!m) return `base_model.model.${path}`;
    return `base_model.model.${m[1]}.${m[2] === PARAM_A ? "lokr_w1" : "lokr_w2"}`;
  },
};

export const krona: PeftPlugin<KronaConfig> = {
  name: "krona",
  description: "KronA: y = Wx + s·(A ⊗ B)·x beside each target Linear (mergeable; exports to HF PEFT LoKr)",
  schema,
  parameterFormula: "Σ over target Linears a1·a2 + b1·b2 (a1·b1 = out, a2·b2 = in)",
  inject(ctx) {
    const { config } = ctx;
    for (const { path, module, a1, a2, b1, b2 } of targetShapes(ctx.model, config)) {
      const A = ctx.zeros(`${path}.${PARAM_A}`, [a1, a2]); // (a1, a2), zero: the model starts unchanged
      const B = ctx.kaimingUniform(`${path}.${PARAM_B}`, [b1, b2]); // (b1, b2), U(±1/√b2)
      ctx.parallel(module, (x) => {
        const input = ctx.dropout(x, config.dropout);
        return kronApply(input, A, B, { scale: config.scale }); // (…, in) → (…, out)
      });
      ctx.mergeable(module, () => (config.scale === 1 ? kron(A, B) : kron(A, B).mul(config.scale))); // (out, in)
    }
  },
  countParameters(model, config) {
    return targetShapes(model, config).reduce((acc, s) => acc + s.a1 * s.a2 + s.b1 * s.b2, 0);
  },
  formats: [lokrFormat],
};
