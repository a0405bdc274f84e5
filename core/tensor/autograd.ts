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
 * Backward rules run with recording off: gradients of gradients are not supported.
 */
import { GradientError, ShapeError } from "../errors.ts";
import { sameShape } from "./shape.ts";
import { keep, tidy } from "./scope.ts";
import type { Tensor } from "./tensor.ts";

export type BackwardRule = (dOut: Tensor, saved: readonly Tensor[]) => readonly (Tensor | null)[];

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
  const grads = new Map<Tensor, Tensor>();
  const leafGrads: [Tensor, Tensor][] = [];
  noGrad(() => {
    grads.set(root, seed ? seed.retainHandle() : root.onesLike());
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k]!;
      const g = grads.get(t);
      if (!g) {
        // no gradient reached this tensor (every path to it was cut): free what its node saved
        if (t.node && !options.retainGraph) release(t.node);
        continue;
      }
      grads.delete(t);
      const node = t.node;
      if (!node) {
        leafGrads.push([t, g]);
        continue;
      }
      if (!node.rule) {
        g.dispose();
        throw new GradientError({ message: `backward: the graph through "${node.op}" was already freed by an earlier backward; pass retainGraph: true to run backward twice` });
      }
      // Temporaries of the rule are freed by tidy; what it returns is owned here. A rule may return g
      // itself or one tensor for several inputs (add: [g, g]); each slot then gets its own handle.
      const rule = node.rule;
      const returned = tidy(() => rule(g, node.saved));
      const seen = new Set<Tensor>([g, ...node.saved]);
      const inputGrads = returned.map((d) => {
        if (!d) return null;
        if (seen.has(d)) return d.retainHandle();
        seen.add(d);
        return d;
      });
      g.dispose();
      if (!options.retainGraph) release(node);
      node.inputs.forEach((input, i) => {
        const dIn = inputGrads[i];
        if (!dIn) return;
        if (!input.requiresGrad) {
          dIn.dispose();
          return;
        }
        if (!sameShape(dIn.shape, input.shape)) {
          throw ShapeError.of(`backward of ${node.op}`, [input.shape, dIn.shape], `gradient of input ${i} has the wrong shape (engine bug)`);
        }
        const prev = grads.get(input);
        if (prev) {
          grads.set(input, prev.add(dIn));
          prev.dispose();
          dIn.dispose();
        } else {
          grads.set(input, dIn);
        }
      });
    }
    for (const [leaf, g] of leafGrads) {
      // Leaf gradients are stored contiguous: optimizers and users read them as plain arrays.
      const dense = g.contiguous();
      if (dense !== g) g.dispose();
      if (leaf.grad) {
        const sum = leaf.grad.add(dense);
        leaf.grad.dispose();
        dense.dispose();
        leaf.grad = keep(sum);
      } else {
        leaf.grad = keep(dense);
      }
    }
  });
}
