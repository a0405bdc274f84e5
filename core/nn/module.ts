/**
 * Module tree with Hugging Face dotted names. A module owns named parameters (leaf tensors) and named
 * child modules; `namedParameters()` walks the tree in registration order and yields paths such as
 * `encoder.block.0.layer.0.SelfAttention.q.weight`, exactly the keys of an HF state dict, so checkpoints
 * load by name and PEFT targets are written the way HF PEFT users already write them.
 *
 * A parameter slot can be shared (tied weights: T5's `shared`, `encoder.embed_tokens`, `lm_head`): the
 * same tensor registered under several paths is listed once by `uniqueParameters()`.
 */
import { InvalidArgumentError } from "../errors.ts";
import type { HookEntry, HookPointKind, Hookable } from "./hooks.ts";
import type { Tensor } from "../tensor/tensor.ts";

export abstract class Module implements Hookable {
  /** Plugin hooks on this module's computation (core/nn/hooks.ts); empty for a plain model. */
  readonly hooks: HookEntry[] = [];
  /**
   * The kind of hook point this module is (it runs its forward through runHooked), or null for a
   * container. PEFT targets are matched over these declarations (core/peft/targets.ts).
   */
  readonly hookPoint: HookPointKind | null = null;
  private readonly parameterSlots = new Map<string, Tensor>();
  private readonly childModules = new Map<string, Module>();
  /** Dropout and other train-only behaviour; see train()/eval(). */
  training = true;

  /** Registers (or replaces) a parameter under a local name. */
  protected registerParameter(name: string, tensor: Tensor): Tensor {
    this.parameterSlots.set(name, tensor);
    return tensor;
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    this.childModules.set(name, module);
    return module;
  }

  /** The local parameter `name`. */
  parameter(name: string): Tensor {
    const t = this.parameterSlots.get(name);
    if (!t) throw InvalidArgumentError.of("Module.parameter", "name", `"${name}" is not a parameter of ${this.constructor.name}`);
    return t;
  }

  hasParameter(name: string): boolean {
    return this.parameterSlots.has(name);
  }

  /** Swaps the tensor in a parameter slot (loading weights); the old tensor is returned, not disposed. */
  setParameter(name: string, tensor: Tensor): Tensor {
    const old = this.parameter(name);
    if (old.shape.length !== tensor.shape.length || old.shape.some((d, i) => d !== tensor.shape[i])) {
      throw InvalidArgumentError.of("Module.setParameter", name, `shape [${tensor.shape.join(", ")}] does not match [${old.shape.join(", ")}]`);
    }
    this.parameterSlots.set(name, tensor);
    return old;
  }

  children(): IterableIterator<[string, Module]> {
    return this.childModules.entries();
  }

  /** Every module below (and including) this one with its dotted path ("" for this one). */
  *namedModules(prefix = ""): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.childModules) yield* child.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  /** Every parameter path with its tensor; tied tensors appear under each of their paths. */
  *namedParameters(prefix = ""): Generator<[string, Tensor]> {
    for (const [name, t] of this.parameterSlots) yield [prefix ? `${prefix}.${name}` : name, t];
    for (const [name, child] of this.childModules) yield* child.namedParameters(prefix ? `${prefix}.${name}` : name);
  }

  /** Each distinct parameter tensor once, under the first path it was registered at. */
  uniqueParameters(): [string, Tensor][] {
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    for (const [name, t] of this.namedParameters()) {
      if (seen.has(t)) continue;
      seen.add(t);
      out.push([name, t]);
    }
    return out;
  }

  /** Number of distinct parameter elements (optionally only trainable ones). */
  parameterCount(options: { readonly trainableOnly?: boolean } = {}): number {
    return this.uniqueParameters().reduce((acc, [, t]) => (options.trainableOnly && !t.requiresGrad ? acc : acc + t.size), 0);
  }

  /** The module at a dotted path. */
  getModule(path: string): Module {
    let m: Module = this;
    for (const part of path ? path.split(".") : []) {
      const next = m.childModules.get(part);
      if (!next) throw InvalidArgumentError.of("Module.getModule", "path", `"${path}" has no module "${part}"`);
      m = next;
    }
    return m;
  }

  train(flag = true): this {
    for (const [, m] of this.namedModules()) m.training = flag;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Sets requiresGrad on every parameter (freezing with false). */
  requireGrad(flag: boolean): this {
    for (const [, t] of this.uniqueParameters()) t.requiresGrad = flag;
    return this;
  }

  /** Releases every parameter's device memory (and gradients). */
  dispose(): void {
    for (const [, t] of this.uniqueParameters()) {
      t.grad?.dispose();
      t.dispose();
    }
  }
}
