/**
 * The seeded fuzz suite (test/fuzz/fuzz.ts) at CI's fixed seed and case count: every generated bad call
 * to every public entry point must end in a typed error that names what was wrong. Model entry points run
 * on every backend under test; file readers once. `npm run fuzz -- --seed N --cases M` runs more.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { NamedBackend } from "../harness/backends.ts";
import { env } from "../harness/env.ts";
import { TINY_CONFIG, formatReport, runFuzz } from "./fuzz.ts";
import { memoryFiles } from "./memory-files.ts";
import { parseT5Config } from "../../core/io/t5-config.ts";
import { createT5, loadT5, saveT5 } from "../../core/models/t5/load.ts";

const SEED = Number(env("WEBPEFT_FUZZ_SEED") ?? 20240610);
const CASES = Number(env("WEBPEFT_FUZZ_CASES") ?? 100);

export function register(backends: readonly NamedBackend[]): void {
  const s = suite("fuzz: bad input never yields a result");
  for (const [i, { name, backend }] of backends.entries()) {
    s(`${name}: ${CASES} cases per entry point, seed ${SEED}: all typed errors naming what was wrong`, async () => {
      const report = await runFuzz({ seed: SEED, cases: CASES, backend, fileEntryPoints: i === 0 });
      const text = formatReport(report, `fuzz on ${name}`);
      if (env("WEBPEFT_FUZZ_VERBOSE")) console.log(text);
      assert.ok(Object.keys(report.counts).length > 0, "some entry points ran");
      assert.is(report.failures.length, 0, text);
    });
  }
  s("loadT5 warns about unused checkpoint tensors (and strict refuses them)", async () => {
    const backend = backends[0]!.backend;
    const fs = memoryFiles();
    const two = createT5(parseT5Config({ ...TINY_CONFIG, num_layers: 2 }, "two"), { backend, seed: 0 });
    await saveT5(two, "/m", fs);
    two.dispose();
    await fs.writeAtomic("/m/config.json", [new TextEncoder().encode(JSON.stringify(TINY_CONFIG))]);
    const warnings: string[] = [];
    const model = await loadT5("/m", { backend, fs, onWarning: (m) => warnings.push(m) });
    model.dispose();
    assert.is(warnings.length, 1);
    assert.match(warnings[0]!, /encoder\.block\.1\.layer\.0\.SelfAttention\.q\.weight/);
    assert.match(warnings[0]!, /num_layers 1/);
    let refused: unknown;
    await loadT5("/m", { backend, fs, strict: true }).catch((e) => (refused = e));
    assert.is((refused as { _tag?: string })?._tag, "CheckpointError");
  });
  s.run();
}
