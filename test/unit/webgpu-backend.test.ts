/**
 * WebGPU backend behaviour: batching (no read-back between ops), the buffer pool, the pipeline cache and
 * the bind group cache.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type WebGPUBackend, isCpuAdapter } from "../../core/backend/webgpu/webgpu-backend.ts";
import { sizeClass } from "../../core/backend/webgpu/buffer-pool.ts";
import { BindGroupCache } from "../../core/backend/webgpu/bind-group-cache.ts";
import { ParamLayout } from "../../core/backend/kernel.ts";
import { sleepingDeviceWait } from "../../core/backend/webgpu/device-wait.ts";
import { randn, tensor } from "../../core/tensor/create.ts";
import { assertClose } from "../harness/check-op.ts";
import { tidy } from "../../core/tensor/scope.ts";
import type { NamedBackend } from "../harness/backends.ts";

export function register(backends: readonly NamedBackend[]): void {
  const s = suite("webgpu backend");

s("size classes waste at most 12.5% and are stable", () => {
  for (const bytes of [1, 4, 100, 1000, 1025, 4096, 5000, 123457, 3_000_000]) {
    const c = sizeClass(bytes);
    assert.ok(c >= bytes, `${bytes} fits in ${c}`);
    if (bytes > 1024) assert.ok(c <= bytes * 1.125 + 4, `${bytes} → ${c}`);
    assert.is(sizeClass(c), c, "a class maps to itself");
  }
});

s("packed uniforms: words in declaration order, f32 as bits, zero padding, each pack its own words through the ring's wrap", () => {
  const layout = new ParamLayout([["n", "u32"], ["offset", "i32"], ["scale", "f32"]] as const);
  const f32Bits = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0]!;
  const first = layout.pack({ n: 7, offset: -1, scale: 0.5 });
  assert.equal([...first], [7, 0xffffffff, f32Bits(0.5), 0], "4 words: the fields, then zero padding");
  // many packs later (past the ring's wrap of 65,536 words), every pack still holds its own values
  const wide = new ParamLayout(Array.from({ length: 36 }, (_, i) => [`w${i}`, "u32"] as const));
  let previous = wide.packOrdered(Array.from({ length: 36 }, () => 0));
  for (let k = 1; k < 5000; k++) {
    const words = wide.packOrdered(Array.from({ length: 36 }, (_, i) => k * 100 + i));
    assert.is(words.length, 36);
    if (words[0] !== k * 100 || words[35] !== k * 100 + 35) assert.unreachable(`pack ${k} holds ${words[0]}…${words[35]}`);
    if (previous[0] !== (k - 1) * 100) assert.unreachable(`pack ${k} overwrote the previous one`);
    previous = words;
  }
});

s("the bind group cache evicts the least recently used group when full, and a destroyed buffer's groups at once", () => {
  // stand-ins for the native objects: the cache only stores and compares them
  const buffer = (name: string) => ({ name }) as unknown as GPUBuffer;
  const [x, y, z] = [buffer("x"), buffer("y"), buffer("z")];
  const cache = new BindGroupCache(3);
  let made = 0;
  const make = (...buffers: GPUBuffer[]) => () => ({ group: { made: ++made } as unknown as GPUBindGroup, buffers });
  const a = cache.get("a", make(x));
  cache.get("b", make(y));
  cache.get("c", make(z));
  assert.is(cache.get("a", make(x)), a, "a hit returns the cached group");
  cache.get("d", make(x)); // full: "b" is the least recently used ("a" was just used)
  assert.is(cache.misses, 4);
  cache.get("a", make(x));
  cache.get("c", make(z));
  assert.is(cache.misses, 4, "a and c stayed");
  cache.get("b", make(y));
  assert.is(cache.misses, 5, "b was evicted");
  cache.forget(x); // drops a and d
  cache.get("a", make(x));
  assert.is(cache.misses, 6, "a was dropped with its buffer");
});

s("CPU implementations of WebGPU are recognised from the adapter's info (they get register-tiled matmuls)", () => {
  // adapter info as Dawn (Node), wgpu (Deno) and Chrome report it
  assert.ok(isCpuAdapter({ vendor: "mesa", architecture: "", device: "llvmpipe (LLVM 15.0.6, 256 bits)", description: "llvmpipe: Mesa 25.0.7" }));
  assert.ok(isCpuAdapter({ vendor: "google", architecture: "swiftshader", description: "SwiftShader Device (Subzero)" }));
  assert.ok(isCpuAdapter({ vendor: "microsoft", description: "Microsoft Basic Render Driver" }));
  assert.ok(isCpuAdapter({}, true), "the adapter's own isFallbackAdapter flag");
  assert.not.ok(isCpuAdapter({ vendor: "nvidia", architecture: "ampere", description: "NVIDIA GeForce RTX 3080" }));
  assert.not.ok(isCpuAdapter({ vendor: "intel", architecture: "gen-12lp", description: "Intel(R) UHD Graphics 770" }));
  assert.not.ok(isCpuAdapter({ vendor: "apple", architecture: "metal-3" }));
  assert.not.ok(isCpuAdapter({}), "no info (a device passed in): a GPU");
});

s("the sleeping device wait returns the value and sleeps between turns instead of spinning", async () => {
  // A promise settled by a timer 40 ms away: a spinning wait would take thousands of turns; the sleeping
  // one takes one per sleep (0.05, 0.1, …, then 1 ms each), so about 40–50.
  let turns = 0;
  const nextTurn = () => {
    turns++;
    return new Promise<void>((resolve) => setTimeout(resolve, 0));
  };
  const wait = sleepingDeviceWait(nextTurn);
  const started = performance.now();
  const value = await wait(new Promise<string>((resolve) => setTimeout(() => resolve("done"), 40)));
  const ms = performance.now() - started;
  assert.is(value, "done");
  assert.ok(ms >= 35, `waited ${ms.toFixed(1)} ms for a 40 ms timer`);
  assert.ok(turns >= 2 && turns <= 60, `${turns} event-loop turns for a 40 ms wait`);
  // an already settled promise costs one turn
  turns = 0;
  assert.is(await wait(Promise.resolve(7)), 7);
  assert.is(turns, 1, "one turn for a settled promise");
});

s("the sleeping device wait passes a rejection on", async () => {
  const wait = sleepingDeviceWait(() => new Promise<void>((resolve) => setTimeout(resolve, 0)));
  const failure = new Error("device lost");
  try {
    await wait(new Promise<never>((_, reject) => setTimeout(() => reject(failure), 5)));
    assert.unreachable("the rejection was swallowed");
  } catch (e) {
    assert.is(e, failure);
  }
});

  const webgpu = backends.find((b) => b.name === "webgpu")?.backend as WebGPUBackend | undefined;
if (webgpu) {
  const backend = webgpu;

  s("a chain of ops submits nothing until a value is read, then one submission", async () => {
    const x = randn([64, 64], { backend, seed: 3 });
    const w = randn([64, 64], { backend, seed: 4 });
    await backend.sync();
    const before = backend.stats();
    const loss = tidy(() => {
      let h = x;
      for (let i = 0; i < 20; i++) h = h.matmul(w).relu().mul(0.1).add(h);
      return h.softmax().sum();
    });
    const queued = backend.stats();
    assert.ok(queued.dispatches - before.dispatches >= 80, "the ops were recorded");
    assert.is(queued.submits, before.submits, "no submission while recording");
    await loss.item();
    assert.is(backend.stats().submits, before.submits + 1, "one submission for the read-back");
    for (const t of [x, w, loss]) t.dispose();
  });

  s("uploads between launches are recorded in order, without a submission", async () => {
    const x = randn([8, 8], { backend, seed: 5 });
    await backend.sync();
    const before = backend.stats().submits;
    const doubled = x.mul(2); // a pending launch reads x…
    const host = Float32Array.from({ length: 64 }, (_, i) => i);
    const ids = tensor(host, { backend, shape: [8, 8] }); // …then an upload, and a launch reading it
    const sum = doubled.add(ids);
    assert.is(backend.stats().submits, before, "the upload went into the pending commands");
    const want = Array.from(await x.data(), (v, i) => 2 * v + i);
    assertClose(await sum.data(), want, { rtol: 1e-6, atol: 1e-6 }, "values");
    for (const t of [x, doubled, ids, sum]) t.dispose();
  });

  s("subgroup kernels wherever the adapter reports one fixed subgroup size (Deno does not list the feature)", () => {
    // lavapipe on AVX2 reports subgroupMinSize = subgroupMaxSize = 8 on Node (Dawn) and Deno (wgpu)
    if (backend.adapterInfo.device?.includes("llvmpipe") || backend.adapterInfo.description?.includes("llvmpipe")) {
      assert.is(backend.features.subgroupSize, 8);
    }
    if (backend.features.subgroupSize > 0) assert.type(backend.features.subgroupDirective, "boolean");
  });

  s("freed buffers are reused: a repeated step allocates no new device memory", async () => {
    const w = randn([128, 128], { backend, requiresGrad: true, seed: 5 });
    const x = randn([32, 128], { backend, seed: 6 });
    const step = () => tidy(() => x.matmul(w).tanh().sum().backward());
    // two warm-up steps: the second is the first to accumulate into an existing .grad (old + new → sum)
    step();
    step();
    await backend.sync();
    const pooledAfterFirst = backend.stats().liveBytes + backend.stats().pooledBytes;
    for (let i = 0; i < 5; i++) step();
    await backend.sync();
    const total = backend.stats().liveBytes + backend.stats().pooledBytes;
    assert.is(total, pooledAfterFirst, "live + pooled bytes stay constant across steps");
    w.grad?.dispose();
    for (const t of [w, x]) t.dispose();
  });

  s("a repeated training step reuses its bind groups: none created after warm-up", async () => {
    // Why it matters: bind groups are freed only when garbage-collected, and lavapipe maps memory for each;
    // creating one per launch exhausted vm.max_map_count in long Deno runs (a crash inside the driver).
    const w = randn([64, 96], { backend, requiresGrad: true, seed: 9 });
    const v = randn([96, 4], { backend, requiresGrad: true, seed: 10 });
    const x = randn([8, 64], { backend, seed: 11 });
    // Each step reads its loss, as the training loop does: the read submits, so every step fills the
    // uniform arena from its start and its launches get the same uniform slots (part of the cache key).
    const step = async () => {
      const loss = tidy(() => {
        const l = x.matmul(w).gelu().matmul(v).softmax().mul(x.sum()).sum();
        l.backward();
        return l;
      });
      await loss.item();
      loss.dispose();
    };
    // warm-up: the grads' buffers settle into a fixed rotation within a few steps (4 when measured)
    for (let i = 0; i < 8; i++) await step();
    const warm = backend.stats();
    for (let i = 0; i < 4; i++) await step();
    const after = backend.stats();
    assert.ok(after.dispatches - warm.dispatches >= 40, "the steps launched kernels");
    assert.is(after.bindGroupsCreated, warm.bindGroupsCreated, "no new bind groups");
    // and the results are right with the cached groups: uniforms still reach each launch (dynamic offsets)
    const ref = tidy(() => x.matmul(w).gelu().matmul(v).softmax().mul(x.sum()).sum());
    const again = tidy(() => x.matmul(w).gelu().matmul(v).softmax().mul(x.sum()).sum());
    assert.is(await again.item(), await ref.item());
    for (const t of [w, v, x, ref, again, w.grad, v.grad]) t?.dispose();
  });

  s("pipelines are compiled once per specialisation", async () => {
    const a = randn([17, 5], { backend, seed: 7 });
    a.exp().dispose();
    const count = backend.pipelineCount;
    for (let i = 0; i < 3; i++) a.exp().dispose();
    randn([33, 9], { backend, seed: 8 }).exp().dispose(); // other shape, same key
    assert.is(backend.pipelineCount, count);
    a.dispose();
  });
}

s.run();
}
