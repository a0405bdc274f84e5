/**
 * The shared plugin matrix is now the conformance kit (webpeft/testing) run by each plugin folder's test
 * file on its own rows. This suite checks that no built-in plugin is left out: each has a test file with
 * at least two CONFORMANCE_CONFIGS rows that its schema accepts.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parsePluginConfig } from "../../core/peft/plugin.ts";
import { builtinPlugins } from "../../plugins/mod.ts";

export function register(): void {
  const s = suite("plugin matrix: every built-in plugin runs the conformance kit");
  s("each plugin folder's test file declares its conformance rows", async () => {
    for (const { plugin } of builtinPlugins) {
      const module = (await import(`../../plugins/${plugin.name}/${plugin.name}.test.ts`)) as { CONFORMANCE_CONFIGS?: Record<string, unknown>; register?: unknown };
      assert.type(module.register, "function", `${plugin.name}: plugins/${plugin.name}/${plugin.name}.test.ts registers a suite`);
      const rows = Object.entries(module.CONFORMANCE_CONFIGS ?? {});
      assert.ok(rows.length >= 2, `${plugin.name}: at least two conformance rows`);
      for (const [label, config] of rows) parsePluginConfig(plugin, config), void label;
    }
  });
  s.run();
}
