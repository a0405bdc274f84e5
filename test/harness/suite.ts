/**
 * Registers conformance cases as uvu tests: one finite-difference test per case (reference only) and one
 * test per case and backend under test.
 */
import { suite } from "uvu";
import type { NamedBackend } from "./backends.ts";
import { type OpCase, checkFiniteDifferences, checkOp } from "./check-op.ts";

export function conformanceSuite(title: string, cases: readonly OpCase[], backends: readonly NamedBackend[]): void {
  const s = suite(title);
  for (const c of cases) {
    if (c.gradient) s(`${c.name}: reference gradients = finite differences`, () => checkFiniteDifferences(c));
    for (const { name, backend } of backends) s(`${c.name} on ${name}`, () => checkOp(c, backend));
  }
  s.run();
}
