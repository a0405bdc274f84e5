/**
 * The plugin conformance kit (webpeft/testing, core/testing/mod.ts) as a uvu suite: each plugin folder's
 * test file calls this with its own matrix rows, so every built-in plugin runs the same kit a user's
 * plugin runs, on every backend under test.
 */
import { suite } from "uvu";
import type { PeftPlugin } from "../../core/peft/plugin.ts";
import { conformanceCases } from "../../core/testing/mod.ts";
import type { NamedBackend } from "./backends.ts";

export function pluginConformanceSuite<C>(plugin: PeftPlugin<C>, configs: Readonly<Record<string, unknown>>, backends: readonly NamedBackend[]): void {
  const s = suite(`plugin conformance: ${plugin.name}`);
  for (const c of conformanceCases(plugin, { configs, backends })) s(c.name, () => c.run());
  s.run();
}
