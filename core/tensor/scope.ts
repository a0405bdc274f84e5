/**
 * Lifetime scopes for device memory. JavaScript's GC cannot see GPU memory pressure, so tensors are freed
 * explicitly: `t.dispose()`, or `tidy(fn)`, which disposes every tensor created inside `fn` except those it
 * returns (and those passed to `keep`). A FinalizationRegistry in tensor.ts is only the safety net.
 */
import type { Tensor } from "./tensor.ts";

const scopes: Set<Tensor>[] = [];

/**
 * Called by the Tensor constructor: adds `t` to the innermost open scope. Returns false when no scope is
 * open (the tensor is the caller's to dispose, so the constructor arms the finalizer safety net at once).
 */
export function trackTensor(t: Tensor): boolean {
  const scope = scopes[scopes.length - 1];
  if (!scope) return false;
  scope.add(t);
  return true;
}

/**
 * Removes `t` from every open scope, so no `tidy` disposes it, and arms its finalizer safety net (a tensor
 * that a scope will dispose never needs one: registering is skipped for the thousands of temporaries of a
 * training step). Returns `t`.
 */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  onEscape?.(t);
  return t;
}

function collectTensors(value: unknown, into: Set<Tensor>, isTensor: (v: unknown) => v is Tensor): void {
  if (isTensor(value)) into.add(value);
  else if (Array.isArray(value)) for (const v of value) collectTensors(v, into, isTensor);
  else if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, into, isTensor);
  }
}

let tensorCheck: ((v: unknown) => v is Tensor) | null = null;
let onEscape: ((t: Tensor) => void) | null = null;

/**
 * tensor.ts registers its instanceof check and what to do with a tensor that leaves every scope (arm its
 * finalizer) here (avoids an import cycle at module load).
 */
export function registerTensorCheck(check: (v: unknown) => v is Tensor, escape: (t: Tensor) => void): void {
  tensorCheck = check;
  onEscape = escape;
}

/**
 * Runs `fn` and disposes every tensor created during it that is not part of the result (a tensor, or
 * arrays / plain objects of tensors) and not kept. Returned tensors move to the enclosing scope.
 * `fn` must be synchronous: an await inside would let unrelated tensors land in this scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    throw new TypeError("tidy(fn): fn returned a Promise; tidy only supports synchronous functions");
  }
  const kept = new Set<Tensor>();
  if (tensorCheck) collectTensors(result, kept, tensorCheck);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (!kept.has(t)) t.dispose();
    else if (parent) parent.add(t);
    else onEscape?.(t); // returned out of the outermost scope: now the caller's, with the safety net
  }
  return result;
}
