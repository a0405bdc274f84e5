/**
 * Compacter and Compacter++ (Mahabadi, Henderson & Ruder 2021, "Compacter: Efficient Low-Rank Hypercomplex
 * Adapter Layers", arXiv 2106.04647; code: github.com/rabeehk/compacter). A bottleneck adapter
 * h ← h + up(act(down(h))) whose projections are low-rank PHM layers (Zhang et al. 2021, PHM):
 *
 *   y = W·x + b,   W = Σᵢ₌₁ⁿ Aᵢ ⊗ Bᵢ  (out, in),   Aᵢ (n, n),   Bᵢ = sᵢ·tᵢ  (out/n, in/n),
 *   sᵢ (out/n, r) ("left"), tᵢ (r, in/n) ("right"), r = phmRank (the paper: rank one).
 *
 * The "slow" rules A = [A₁ … Aₙ] (n, n, n) are ONE tensor per adapter, shared by every PHM layer of every
 * adapted block, down and up projections alike — as in the authors' T5 code (`shared_phm_rule`: one
 * `phm_rule` set on every PHMLinear of encoder and decoder) and AdapterHub (`init_shared_parameters`); it
 * lives at `compacter.phm_rule`. The "fast" sᵢ, tᵢ and b are per layer.
 *
 * Placement: `compacter` after the self-attention block and after the FFN block (Houlsby placement, as the
 * authors' T5LayerSelfAttention / T5LayerFF; they put none after cross-attention — opt in with
 * targets: ["SelfAttention", "EncDecAttention", "DenseReluDense"]); `compacter++` after the FFN only.
 * Defaults from the authors' configs (seq2seq/configs/compacter.json): n = hypercomplex_division 4,
 * task_reduction_factor 32, non_linearity gelu_new, phm_c_init normal with phm_init_range 1e-4 for A,
 * glorot-uniform (gain √2, their inits.py) for s and t, zero biases. One deviation for the "starts as the
 * base" invariant: the up projection's left factors s start at zero, so W_up = 0 and adapter(h) = 0.
 *
 * Computation (a choice): W is assembled per forward call from its factors (two small matmuls and a
 * permute, about n·out·in multiply-adds: the cost of applying W to n tokens) and applied as one dense
 * (…, in)·Wᵀ matmul. Applying the factors to x directly (vec(Aᵢ·X·tᵢᵀ·sᵢᵀ)) would need n·r·(in + out) + n³·r
 * instead of in·out multiply-adds per token, but several tiny batched matmuls with (B·L, n, n, r)
 * intermediates; the adapter is a small part of a T5 step either way, so the simpler dense form wins.
 * Nothing larger than W (D·M values) is materialised, and nothing is kept between calls.
 *
 * Parameters (D = d_model, M = bottleneck, N adapted blocks):
 *   N·(2·r·(D + M) + D + M) + n³
 * per PHM layer in → out: s: n·(out/n)·r = r·out, t: n·r·(in/n) = r·in, b: out; down D → M plus up M → D;
 * the shared rules n³ counted once. (For r = 1 this is the paper's O(4L(k + d) + n³), biases included.)
 * Shape legend: B batch, L length, D d_model, M bottleneck, n PHM dimension, r PHM rank.
 */
import * as v from "valibot";
import { PluginConfigError } from "../../core/peft/errors.ts";
import type { InjectContext, PeftBaseModel, PeftPlugin } from "../../core/peft/plugin.ts";
import { type TargetSpec, matchTargets, targetFields, targetsSchema } from "../../core/peft/targets.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";
import { ACTIVATIONS, type Activation, activate, bottleneckSize } from "../shared/bottleneck.ts";

/** The hook points Compacter sits at (after attention and feed-forward blocks). */
const BLOCKS = ["attention", "feed-forward"] as const;

const VARIANTS = ["compacter", "compacter++"] as const;
export type CompacterVariant = (typeof VARIANTS)[number];

const DEFAULT_TARGETS: Record<CompacterVariant, readonly string[]> = {
  compacter: ["SelfAttention", "DenseReluDense"],
  "compacter++": ["DenseReluDense"],
};

/** Parameter path of the shared rules A (n, n, n). */
export const PHM_RULE_PATH = "compacter.phm_rule";

export interface CompacterConfig extends TargetSpec {
  readonly variant: CompacterVariant;
  /** M = ⌊D / reductionFactor⌋ unless `bottleneck` is given */
  readonly reductionFactor: number;
  readonly bottleneck?: number | undefined;
  /** n: number of Kronecker summands and size of each Aᵢ; must divide D and M */
  readonly phmDim: number;
  /** r: rank of each Bᵢ = sᵢ·tᵢ */
  readonly phmRank: number;
  readonly activation: Activation;
  /** std of the normal initialisation of the shared rules A */
  readonly phmInitStd: number;
}

const targetEntries = targetFields([]);

const schema: v.GenericSchema<unknown, CompacterConfig> = v.pipe(
  v.object({
    variant: v.optional(v.picklist(VARIANTS), "compacter"),
    /** `targets` has no default here: it depends on the variant */
    targets: v.optional(targetsSchema),
    layers: targetEntries.layers,
    stacks: targetEntries.stacks,
    /** M = ⌊D / reductionFactor⌋ unless `bottleneck` is given */
    reductionFactor: v.optional(v.pipe(v.number(), v.gtValue(0)), 32),
    bottleneck: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
    /** n: number of Kronecker summands and size of each Aᵢ; must divide D and M */
    phmDim: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 4),
    /** r: rank of each Bᵢ = sᵢ·tᵢ */
    phmRank: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1),
    activation: v.optional(v.picklist(ACTIVATIONS), "gelu_new"),
    /** std of the normal initialisation of the shared rules A */
    phmInitStd: v.optional(v.pipe(v.number(), v.minValue(0)), 1e-4),
  }),
  v.transform((c) => ({ ...c, targets: c.targets ?? [...DEFAULT_TARGETS[c.variant]] })),
);

/** D, M and n after checking that n divides both. */
function dimensions(model: PeftBaseModel, config: CompacterConfig): { D: number; M: number; n: number; r: number } {
  const D = model.config.dModel;
  const M = bottleneckSize("compacter", D, config);
  const n = config.phmDim;
  if (D % n !== 0) throw PluginConfigError.of("compacter", "phmDim", `${n} does not divide d_model ${D}`);
  if (M % n !== 0) throw PluginConfigError.of("compacter", "phmDim", `${n} does not divide the bottleneck ${M} (d_model ${D} / reductionFactor or bottleneck)`);
  return { D, M, n, r: config.phmRank };
}

/**
 * W = Σᵢ Aᵢ ⊗ (leftᵢ·rightᵢ)  (out, in) from A (n, n, n), left (n, out/n, r), right (n, r, in/n).
 * With Bᵢ = leftᵢ·rightᵢ (p, q), p = out/n, q = in/n:  W[a·p + c, b·q + e] = Σᵢ A[i, a, b]·B[i, c, e],
 * i.e. one (n², n)·(n, p·q) matmul, then axes (a, b, c, e) → (a, c, b, e).
 */
export function phmWeight(A: Tensor, left: Tensor, right: Tensor): Tensor {
  const [n, p] = left.shape as [number, number, number];
  const q = right.shape[2]!;
  const B = left.matmul(right); // (n, p, q)
  const summed = A.reshape([n, n * n]).transpose().matmul(B.reshape([n, p * q])); // (n², p·q)
  return summed.reshape([n, n, p, q]).permute([0, 2, 1, 3]).reshape([n * p, n * q]); // (out, in)
}

export const compacter: PeftPlugin<CompacterConfig> = {
  name: "compacter",
  description: "Compacter / Compacter++: bottleneck adapters with low-rank PHM projections W = Σ Aᵢ ⊗ sᵢtᵢ, A shared by all layers",
  schema,
  parameterFormula: "N·(2·r·(D + M) + D + M) + n³  (N adapted blocks, shared rules A counted once)",
  inject(ctx: InjectContext<CompacterConfig>) {
    const { config } = ctx;
    const { D, M, n, r } = dimensions(ctx.model, config);
    const targets = ctx.targets(config, BLOCKS);
    const A = ctx.normal(PHM_RULE_PATH, [n, n, n], config.phmInitStd);
    // glorot-uniform with gain √2 on each (rows, cols) factor: U(±√2·√(6 / (rows + cols)))
    const glorot = (path: string, shape: [number, number, number]) => ctx.uniform(path, shape, Math.sqrt(12 / (shape[1] + shape[2])));
    for (const { path, module } of targets) {
      const downLeft = glorot(`${path}.compacter_down.left`, [n, M / n, r]);
      const downRight = glorot(`${path}.compacter_down.right`, [n, r, D / n]);
      const downBias = ctx.zeros(`${path}.compacter_down.bias`, [M]);
      const upLeft = ctx.zeros(`${path}.compacter_up.left`, [n, D / n, r]); // W_up = 0 at init
      const upRight = glorot(`${path}.compacter_up.right`, [n, r, M / n]);
      const upBias = ctx.zeros(`${path}.compacter_up.bias`, [D]);
      ctx.sequential(module, (h) => {
        const down = phmWeight(A, downLeft, downRight); // (M, D)
        const up = phmWeight(A, upLeft, upRight); // (D, M)
        const z = activate(h.matmul(down.transpose()).add(downBias), config.activation); // (B, L, M)
        return h.add(z.matmul(up.transpose()).add(upBias)); // (B, L, D)
      });
    }
  },
  countParameters(model, config) {
    const { D, M, n, r } = dimensions(model, config);
    const blocks = matchTargets(model, config, BLOCKS, "compacter").length;
    return blocks * (2 * r * (D + M) + D + M) + n ** 3;
  },
};
