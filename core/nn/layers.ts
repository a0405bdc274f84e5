/**
 * The layers T5 is made of. Weights use PyTorch/HF layouts so state dicts load unchanged:
 * Linear.weight is (out, in) and y = x·Wᵀ (+ b); Embedding.weight is (num, dim).
 * Shape legend: B batch, L length, D model width, F feed-forward width.
 */
import { ShapeError } from "../errors.ts";
import { dropoutAdd } from "../tensor/ops/dropout.ts";
import { gather } from "../tensor/ops/gather.ts";
import { rmsNorm } from "../tensor/ops/rms-norm.ts";
import { tidy } from "../tensor/scope.ts";
import { acceptsResidual, hasActiveHooks, runHooked } from "./hooks.ts";
import { batchedMatmul } from "../tensor/ops/matmul.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { Module } from "./module.ts";

export class Linear extends Module {
  override readonly hookPoint: "linear" = "linear";
  readonly inFeatures: number;
  readonly outFeatures: number;

  /** `weight` (out, in); `bias` (out) or none (T5 has no biases). */
  constructor(weight: Tensor, bias?: Tensor) {
    super();
    if (weight.rank !== 2) throw ShapeError.of("Linear", [weight.shape], "weight must be (out, in)");
    this.outFeatures = weight.shape[0]!;
    this.inFeatures = weight.shape[1]!;
    this.registerParameter("weight", weight);
    if (bias) this.registerParameter("bias", bias);
  }

  get weight(): Tensor {
    return this.parameter("weight");
  }

  /**
   * (…, in) → (…, out), with plugin hooks (LoRA, KronA…) applied. With `residual` (…, out): residual + that,
   * the add done in the product's store when the hooks allow it (acceptsResidual): one launch fewer.
   */
  forward(x: Tensor, residual?: Tensor): Tensor {
    this.checkInput(x);
    if (residual && !acceptsResidual(this)) return tidy(() => residual.add(runHooked(this, x, (v) => this.baseForward(v))));
    return tidy(() => runHooked(this, x, (v) => this.baseForward(v, residual)));
  }

  /** relu(forward(x)), the relu done in the product's store when no hook runs and there is no bias. */
  forwardRelu(x: Tensor): Tensor {
    this.checkInput(x);
    if (hasActiveHooks(this) || this.hasParameter("bias")) return tidy(() => this.forward(x).relu());
    return tidy(() => this.product(x, { relu: true }));
  }

  /**
   * x·Wᵀ (+ b) (+ residual) without hooks. The transpose is a view: the matmul kernel reads W with swapped
   * strides.
   */
  baseForward(x: Tensor, residual?: Tensor): Tensor {
    return tidy(() => {
      if (!this.hasParameter("bias")) return residual ? this.product(x, { residual }) : x.matmul(this.weight.transpose());
      const y = x.matmul(this.weight.transpose()).add(this.parameter("bias"));
      return residual ? y.add(residual) : y;
    });
  }

  /** x·Wᵀ with an epilogue, as one (…·L, in)·(in, out) product (x's leading axes folded into rows). */
  private product(x: Tensor, epilogue: { residual?: Tensor; relu?: boolean }): Tensor {
    const lead = x.shape.slice(0, -1);
    const rows = x.reshape([-1, this.inFeatures]);
    const residual = epilogue.residual?.reshape([-1, this.outFeatures]);
    const y = batchedMatmul(rows, this.weight.transpose(), { ...(residual ? { residual } : {}), ...(epilogue.relu ? { relu: true } : {}) });
    return y.reshape([...lead, this.outFeatures]);
  }

  private checkInput(x: Tensor): void {
    if (x.shape[x.rank - 1] !== this.inFeatures) {
      throw ShapeError.of("Linear", [x.shape, this.weight.shape], `input has ${x.shape[x.rank - 1]} features, the layer expects ${this.inFeatures}`);
    }
  }
}

export class Embedding extends Module {
  override readonly hookPoint: "embedding" = "embedding";
  constructor(weight: Tensor) {
    super();
    if (weight.rank !== 2) throw ShapeError.of("Embedding", [weight.shape], "weight must be (num, dim)");
    this.registerParameter("weight", weight);
  }

  get weight(): Tensor {
    return this.parameter("weight");
  }

  /** int32 ids (…) → (…, dim), with plugin hooks applied (a parallel hook gets the ids). */
  forward(ids: Tensor): Tensor {
    return this.hooks.length === 0 ? gather(this.weight, ids) : tidy(() => runHooked(this, ids, (v) => gather(this.weight, v)));
  }
}

/**
 * T5's layer norm: RMS normalisation without mean subtraction and without bias
 * (HF T5LayerNorm; Zhang & Sennrich 2019):  y = w ⊙ x / √(mean(x²) + ε)
 */
export class RMSNorm extends Module {
  override readonly hookPoint: "layer-norm" = "layer-norm";
  constructor(
    weight: Tensor,
    readonly eps: number,
  ) {
    super();
    this.registerParameter("weight", weight);
  }

  get weight(): Tensor {
    return this.parameter("weight");
  }

  /** Normalised size (the last axis). */
  get features(): number {
    return this.weight.shape[0]!;
  }

  /** (…, D) → (…, D), with plugin hooks applied (BitFit's layer-norm bias is a parallel hook). */
  forward(x: Tensor): Tensor {
    return this.hooks.length === 0 ? this.baseForward(x) : tidy(() => runHooked(this, x, (v) => this.baseForward(v)));
  }

  /**
   * w ⊙ x / √(mean(x²) + ε) without hooks: one fused kernel (core/tensor/ops/rms-norm.ts), equal to the
   * composition x.mul(x.square().mean(-1, { keepDims: true }).add(ε).rsqrt()).mul(w).
   */
  baseForward(x: Tensor): Tensor {
    return rmsNorm(x, this.parameter("weight"), { eps: this.eps });
  }
}

/** Inverted dropout in training mode, identity in eval mode. */
export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
  }

  /** Whether it drops anything now (training mode and p > 0); otherwise it is the identity. */
  get active(): boolean {
    return this.training && this.p > 0;
  }

  forward(x: Tensor): Tensor {
    return this.active ? x.dropout(this.p) : x;
  }

  /** residual + forward(x), in one launch while training (the same mask as the two ops, see dropoutAdd). */
  addTo(residual: Tensor, x: Tensor): Tensor {
    return this.active ? dropoutAdd(residual, x, this.p) : residual.add(x);
  }
}
