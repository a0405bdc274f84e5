/** Autograd semantics: accumulation, graph freeing, noGrad, detach, and memory released by backward. */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { GradientError } from "../../core/errors.ts";
import { noGrad } from "../../core/tensor/autograd.ts";
import { ones, randn, tensor } from "../../core/tensor/create.ts";
import { keep, tidy } from "../../core/tensor/scope.ts";
import type { NamedBackend } from "../harness/backends.ts";

export function register(backends: readonly NamedBackend[]): void {
 for (const { name, backend } of backends) {
  const s = suite(`autograd on ${name}`);

  s("gradients accumulate over two backward calls and over repeated use", async () => {
    const x = tensor([1, 2, 3], { backend, requiresGrad: true });
    // y = Σ x·x + Σ x  →  dy/dx = 2x + 1
    const y1 = x.mul(x).sum().add(x.sum());
    y1.backward();
    assert.equal(Array.from(await x.grad!.data()), [3, 5, 7]);
    const y2 = x.mul(x).sum().add(x.sum());
    y2.backward();
    assert.equal(Array.from(await x.grad!.data()), [6, 10, 14]);
  });

  s("a second backward through a freed graph is a typed error; retainGraph allows it", () => {
    const x = tensor([1, 2], { backend, requiresGrad: true });
    const y = x.exp().sum();
    y.backward({ retainGraph: true });
    y.backward();
    try {
      y.backward();
      assert.unreachable("expected GradientError");
    } catch (e) {
      assert.instance(e, GradientError);
      assert.match((e as Error).message, /already freed/);
    }
  });

  s("non-scalar backward needs a seed gradient", () => {
    const x = tensor([1, 2], { backend, requiresGrad: true });
    assert.throws(() => x.mul(2).backward(), (e: unknown) => e instanceof GradientError && /options\.grad/.test((e as Error).message));
  });

  s("noGrad and detach cut the graph", () => {
    const x = tensor([1, 2], { backend, requiresGrad: true });
    const y = noGrad(() => x.mul(3));
    assert.is(y.requiresGrad, false);
    assert.is(x.mul(3).detach().requiresGrad, false);
    assert.throws(() => y.sum().backward(), (e: unknown) => e instanceof GradientError);
  });

  s("inputs without requiresGrad get no gradient", async () => {
    const w = tensor([[1, 2], [3, 4]], { backend, requiresGrad: true });
    const x = tensor([[1, 0], [0, 1]], { backend });
    x.matmul(w).sum().backward();
    assert.is(x.grad, null);
    assert.equal(Array.from(await w.grad!.data()), [1, 1, 1, 1]);
  });

  s("a training step frees every intermediate: live memory returns to the parameters + grads", async () => {
    const w = randn([37, 17], { backend, requiresGrad: true, seed: 1 });
    const x = randn([8, 37], { backend, seed: 2 });
    const step = () => {
      tidy(() => {
        const h = x.matmul(w).gelu();
        const loss = h.softmax(-1).log().mean().neg();
        loss.backward();
      });
    };
    step();
    await backend.sync();
    const after1 = backend.stats().liveBytes;
    for (let i = 0; i < 3; i++) step();
    await backend.sync();
    // ≤, not =: tensors that earlier tests left to the garbage collector may be collected (and freed)
    // during these steps; a tensor leaked per step would make live memory grow.
    const after4 = backend.stats().liveBytes;
    assert.ok(after4 <= after1, `steady state: no tensor leaked per step (${after4} bytes live after 4 steps, ${after1} after 1)`);
    w.grad!.dispose();
    w.grad = null;
    const grads = backend.stats().liveBytes;
    assert.ok(grads < after1, "the gradient was part of live memory");
    for (const t of [w, x]) t.dispose();
  });

  s("a loss computed inside tidy can be differentiated after the scope ended", async () => {
    const w = tensor([0.5, -2, 3], { backend, requiresGrad: true });
    const loss = tidy(() => w.mul(w).exp().sum()); // intermediates disposed here, saved tensors survive
    loss.backward();
    const expected = [0.5, -2, 3].map((v) => 2 * v * Math.exp(v * v));
    const got = Array.from(await w.grad!.data());
    got.forEach((g, i) => assert.ok(Math.abs(g - expected[i]!) <= 1e-5 * Math.abs(expected[i]!), `${g} vs ${expected[i]}`));
  });

  s("tidy keeps returned tensors and disposes the rest", async () => {
    const before = backend.stats().liveBytes;
    const kept = tidy(() => {
      const a = ones([100], { backend });
      const b = a.mul(2);
      return { b };
    });
    assert.is(kept.b.isDisposed, false);
    assert.equal(Array.from(await kept.b.data()).slice(0, 2), [2, 2]);
    kept.b.dispose();
    assert.is(backend.stats().liveBytes, before);
  });

  s("the finalizer safety net is armed only for tensors that leave every scope", () => {
    const top = ones([4], { backend });
    assert.is(top.finalizerArmed, true, "created outside any scope");
    let temporary = top;
    let inner = top;
    let kept = top;
    const outer = tidy(() => {
      inner = tidy(() => {
        temporary = top.mul(2);
        kept = keep(top.mul(3));
        return top.mul(4);
      });
      assert.is(inner.finalizerArmed, false, "returned into an enclosing scope: still that scope's");
      return inner.mul(5);
    });
    assert.is(temporary.isDisposed, true);
    assert.is(temporary.finalizerArmed, false, "a temporary the scope disposed never needed it");
    assert.is(kept.finalizerArmed, true, "keep() hands the tensor to the caller");
    assert.is(inner.isDisposed, true);
    assert.is(outer.finalizerArmed, true, "returned out of the outermost scope");
    for (const t of [top, kept, outer]) t.dispose();
  });

  s.run();
}
}
