/**
 * Reverse-mode autograd. Every differentiable op calls `record` with its output, its inputs, the tensors
 * its backward needs ("saved", retained until the backward has run), and a backward rule mapping the
 * output's gradient dOut to one gradient per input (null where an input needs none).
 *
 * `backward(loss)` orders the recorded graph topologically (reverse of the order ops ran in: the tape),
 * runs each rule once with the sum of all gradients that reached its output, and frees as it goes:
 * an intermediate's gradient is disposed as soon as its rule has consumed it, and a node's saved tensors
 * are released right after its rule ran (unless `retainGraph`). Leaves (tensors created with
 * `requiresGrad: true`) receive their gradient in `.grad`, summed with what was there.
 *
 * Fewer launches: the contributions a tensor used several times receives are kept in a list and summed
 * in one n-ary launch (ops/add-n.ts) when its rule runs, not with one add each; and a rule may take the
 * single pending contribution of an input (`PartialGradients`) and add it inside its own kernel (the fused
 * RMS norm's backward adds the residual stream's gradient that way).
 *
 * Backward rules run with recording off: gradients of gradients are not supported.
 */
import { GradientError, ShapeError } from "../errors.ts";
import { addNRaw } from "./ops/add-n.ts";
import { sameShape } from "./shape.ts";
import { keep, tidy } from "./scope.ts";
import type { Tensor } from "./tensor.ts";

export type BackwardRule = (dOut: Tensor, saved: readonly Tensor[], partials: PartialGradients) => readonly (Tensor | null)[];

/**
 * Lets a backward rule fold the gradient that already reached one of its inputs into the kernel that
 * computes its own contribution (dX = partial + contribution in one launch, instead of a second launch
 * adding them). `take(i)` hands over the partial sum for input i — contiguous, of the input's shape and
 * dtype — or returns null (none reached it yet, it needs no gradient, the partial is a strided view, or
 * more than one contribution is pending, which one n-ary sum adds up anyway). After a successful take the
 * gradient the rule returns for input i must include the partial; autograd frees the partial afterwards.
 */
export interface PartialGradients {
  take(input: number): Tensor | null;
}

export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  saved: readonly Tensor[];
  rule: BackwardRule | null;
}

let recording = true;

export function isRecording(): boolean {
  return recording;
}

/** Runs `fn` without recording a graph (inference, optimizer updates, metrics). */
export function noGrad<T>(fn: () => T): T {
  const before = recording;
  recording = false;
  try {
    return fn();
  } finally {
    recording = before;
  }
}

/** Runs `fn` with recording on, even inside noGrad (gradient checkpointing recomputes inside backward). */
export function enableGrad<T>(fn: () => T): T {
  const before = recording;
  recording = true;
  try {
    return fn();
  } finally {
    recording = before;
  }
}

/**
 * Attaches a grad node to `out` when recording and some input requires grad. `saved` tensors are
 * retained by the node (as separate handles), so callers may dispose their own copies.
 */
export function record(
  op: string,
  out: Tensor,
  inputs: readonly Tensor[],
  rule: BackwardRule,
  saved: readonly Tensor[] = [],
  /** Record even when no input requires grad (the rule reaches parameters by other means). */
  always = false,
): Tensor {
  if (!recording || (!always && !inputs.some((t) => t.requiresGrad))) return out;
  out.requiresGrad = true;
  // keep(): saved tensors belong to the graph, not to the tidy scope the forward ran in, so a loss
  // computed inside tidy can still be differentiated after the scope ended.
  out.node = { op, inputs, saved: saved.map((t) => keep(t.retainHandle())), rule };
  return out;
}

export interface BackwardOptions {
  /** Gradient of the final output; required unless the output has one element (then it is 1). */
  readonly grad?: Tensor;
  /** Keep saved tensors so backward can run through this graph again. Default false. */
  readonly retainGraph?: boolean;
}

/** Tensors reachable from `root` through recorded nodes, in an order where every tensor follows its inputs. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // Iterative post-order DFS: deep graphs (long training unrolls) must not overflow the JS stack.
  const stack: { t: Tensor; next: number }[] = [{ t: root, next: 0 }];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const inputs = top.t.node?.inputs ?? [];
    if (top.next < inputs.length) {
      const child = inputs[top.next++]!;
      if (child.requiresGrad && !visited.has(child)) {
        visited.add(child);
        stack.push({ t: child, next: 0 });
      }
    } else {
      order.push(top.t);
      stack.pop();
    }
  }
  return order;
}

function release(node: GradNode): void {
  for (const s of node.saved) s.dispose();
  node.saved = [];
  node.rule = null;
}

/**
 * The gradient contributions that reached a tensor, not yet added up: they are summed when the tensor's
 * rule needs them, in one n-ary launch (ops/add-n.ts) instead of one add per contribution. One
 * contribution (the common case) is held as itself, several as a list.
 */
type Pending = Tensor | Tensor[];

/** The sum of `pending` (owned; its tensors are consumed): the tensor itself when there is one. */
function sumPending(pending: Pending): Tensor {
  if (!Array.isArray(pending)) return pending;
  const total = addNRaw(pending);
  for (const t of pending) t.dispose();
  return total;
}

function disposePending(pending: Pending): void {
  if (Array.isArray(pending)) for (const t of pending) t.dispose();
  else pending.dispose();
}

export function backward(root: Tensor, options: BackwardOptions = {}): void {
  if (!root.requiresGrad) {
    throw new GradientError({ message: "backward: the tensor does not require grad (no input had requiresGrad: true, or it was computed under noGrad)" });
  }
  let seed = options.grad;
  if (seed) {
    if (!sameShape(seed.shape, root.shape)) throw ShapeError.of("backward", [root.shape, seed.shape], "the seed gradient must have the output's shape");
  } else if (root.size !== 1) {
    throw new GradientError({ message: `backward: output has shape [${root.shape.join(", ")}]; pass options.grad for a non-scalar output` });
  }
  const order = topologicalOrder(root);
  const grads = new Map<Tensor, Pending>();
  const leafGrads: [Tensor, Pending][] = [];
  // The node whose rule runs now, its summed output gradient, and the partials its rule took
  // (input index → partial, now owned here): one `partials` object serves every rule.
  const active: { node: GradNode | null; grad: Tensor | null; taken: Map<number, Tensor> | null } = { node: null, grad: null, taken: null };
  const partials: PartialGradients = {
    take(i) {
      const node = active.node!;
      const input = node.inputs[i];
      if (!input || !input.requiresGrad || active.taken?.has(i)) return null;
      // the same tensor in two input slots (x·x): its gradient is the sum of both slots, take none
      if (node.inputs.some((other, j) => j !== i && other === input)) return null;
      const partial = grads.get(input);
      if (!partial || Array.isArray(partial) || !partial.isContiguous || partial.dtype !== active.grad!.dtype || !sameShape(partial.shape, input.shape)) return null;
      grads.delete(input);
      (active.taken ??= new Map()).set(i, partial);
      return partial;
    },
  };
  noGrad(() => {
    grads.set(root, seed ? seed.retainHandle() : root.onesLike());
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k]!;
      const pending = grads.get(t);
      if (!pending) {
        // no gradient reached this tensor (every path to it was cut): free what its node saved
        if (t.node && !options.retainGraph) release(t.node);
        continue;
      }
      grads.delete(t);
      const node = t.node;
      if (!node) {
        leafGrads.push([t, pending]);
        continue;
      }
      if (!node.rule) {
        disposePending(pending);
        throw new GradientError({ message: `backward: the graph through "${node.op}" was already freed by an earlier backward; pass retainGraph: true to run backward twice` });
      }
      const g = sumPending(pending);
      // Temporaries of the rule are freed by tidy; what it returns is owned here. A rule may return g
      // itself or one tensor for several inputs (add: [g, g]); each slot then gets its own handle.
      const run = node.rule;
      active.node = node;
      active.grad = g; // active.taken is null here: every iteration resets it after use
      let returned: readonly (Tensor | null)[];
      try {
        returned = tidy(() => run(g, node.saved, partials));
      } catch (e) {
        if (active.taken) for (const partial of active.taken.values()) partial.dispose();
        active.taken = null;
        throw e;
      } finally {
        active.node = null;
        active.grad = null;
      }
      const took = active.taken;
      active.taken = null;
      const seen = new Set<Tensor>([g, ...node.saved, ...(took ? took.values() : [])]);
      const inputGrads = returned.map((d) => {
        if (!d) return null;
        if (seen.has(d)) return d.retainHandle();
        seen.add(d);
        return d;
      });
      g.dispose();
      if (took) for (const partial of took.values()) partial.dispose();
      if (!options.retainGraph) release(node);
      node.inputs.forEach((input, i) => {
        const dIn = inputGrads[i];
        if (took?.has(i) && !dIn) {
          throw new GradientError({ message: `backward of ${node.op}: the rule took the partial gradient of input ${i} but returned none (engine bug)` });
        }
        if (!dIn) return;
        if (!input.requiresGrad) {
          dIn.dispose();
          return;
        }
        if (!sameShape(dIn.shape, input.shape)) {
          throw ShapeError.of(`backward of ${node.op}`, [input.shape, dIn.shape], `gradient of input ${i} has the wrong shape (engine bug)`);
        }
        const prev = grads.get(input);
        if (!prev) grads.set(input, dIn);
        else if (Array.isArray(prev)) prev.push(dIn);
        else grads.set(input, [prev, dIn]);
      });
    }
    for (const [leaf, pending] of leafGrads) {
      // Leaf gradients are stored contiguous: optimizers and users read them as plain arrays.
      const g = sumPending(pending);
      if (leaf.grad) {
        // one launch whatever g's layout (the n-ary sum writes contiguous): grad + g
        const sum = addNRaw([leaf.grad, g]);
        leaf.grad.dispose();
        g.dispose();
        leaf.grad = keep(sum);
      } else {
        const dense = g.contiguous();
        if (dense !== g) g.dispose();
        leaf.grad = keep(dense);
      }
    }
  });
}
