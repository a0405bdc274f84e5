/**
 * KronA's adapter files in HF PEFT's LOKR layout (peft/tuners/lokr): a default KronA adapter is a LoKr
 * adapter with whole factors, so it loads in Python with `PeftModel.from_pretrained`, and LoKr files made
 * by PEFT load here. The plugin itself is plugins/krona/krona.ts.
 */
import { PluginConfigError } from "../../core/peft/errors.ts";
import type { AdapterFormat } from "../../core/peft/plugin.ts";
import { type KronShape, factorization } from "../shared/kronecker.ts";
import { type KronaConfig, type TargetShape, PARAM_A, targetShapes } from "./krona.ts";

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
export function createLokrFormat(parseConfig: (raw: unknown) => KronaConfig): AdapterFormat<KronaConfig> {
  return {
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
    const config = parseConfig(raw);
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
}
