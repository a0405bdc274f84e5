/** Seeded randomness: reproducible values, sane statistics, dropout's keep rate and scaling. */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ones, randn } from "../../core/tensor/create.ts";
import { manualSeed } from "../../core/tensor/random.ts";
import type { NamedBackend } from "../harness/backends.ts";

export function register(backends: readonly NamedBackend[]): void {
  for (const { name, backend } of backends) {
    const s = suite(`randomness on ${name}`);

    s("randn is reproducible by seed and standard normal", async () => {
      const a = Array.from(await randn([20000], { backend, seed: 42 }).data());
      const b = Array.from(await randn([20000], { backend, seed: 42 }).data());
      assert.equal(a.slice(0, 5), b.slice(0, 5));
      const mean = a.reduce((x, y) => x + y, 0) / a.length;
      const variance = a.reduce((x, y) => x + (y - mean) ** 2, 0) / a.length;
      // n = 20000: the sample mean has sd 0.007, the sample variance sd 0.01
      assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
      assert.ok(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
    });

    s("dropout drops a fraction p and scales the rest by 1/(1−p); the global seed makes it repeatable", async () => {
      const x = ones([100, 100], { backend });
      const p = 0.3;
      manualSeed(7);
      const y = await x.dropout(p).data();
      manualSeed(7);
      const again = await x.dropout(p).data();
      assert.equal(Array.from(again), Array.from(y));
      const dropped = y.filter((v) => v === 0).length / y.length;
      // n = 10000: the dropped fraction has sd 0.0046
      assert.ok(Math.abs(dropped - p) < 0.02, `dropped ${dropped}`);
      const kept = y.filter((v) => v !== 0);
      assert.ok(kept.every((v) => Math.abs(v - 1 / (1 - p)) < 1e-6), "kept values are scaled by 1/(1-p)");
      assert.equal(Array.from(await x.dropout(p, { training: false }).data()).slice(0, 3), [1, 1, 1]);
      assert.ok((await x.dropout(1).data()).every((v) => v === 0), "p = 1 drops everything");
    });

    s.run();
  }
}
