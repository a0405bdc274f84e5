/**
 * Bind groups reused across launches.
 *
 * Why: a bind group is a native object that WebGPU cannot destroy explicitly; runtimes free it when the
 * JavaScript wrapper is garbage-collected. The wrapper is tiny, so V8 sees no pressure to collect it, while
 * the driver may hold real resources for it: Mesa's lavapipe maps one memfd region per descriptor set,
 * and a training run creating one bind group per launch (~3,000 per step of the demo model) reached
 * Linux's vm.max_map_count (65,530) between collections — Deno then crashed inside the driver (mmap
 * failed, memset on MAP_FAILED).
 *
 * How: a launch's bind group is fully described by its pipeline, its buffers with their bound sizes and
 * its uniform slot in the backend's arena; the caller names those in `key` (buffers by the pool's
 * creation number, PooledBuffer.id). They repeat step after step:
 * the buffer pool hands out the same buffers (oldest free first, see buffer-pool.ts) and the arena is
 * filled in the same order from each submission's start. (Explicit shared layouts with dynamic uniform
 * offsets and whole-buffer bindings would give more hits, but measured 1.5× slower steps on Dawn/lavapipe
 * than "auto" layouts: bench/step.ts, 2026-12-01.)
 *
 * Bound: at most `capacity` groups are kept (least recently used go first); a destroyed buffer's groups
 * are dropped at once so that no cached group refers to a dead buffer. A hit only stamps its entry with a
 * use counter (a hit is on every launch's path; re-inserting into the Map to keep LRU order cost ~1 µs);
 * the full cache, which a training loop does not reach, scans for the least recently used entry.
 */
export class BindGroupCache {
  private readonly groups = new Map<string, { group: GPUBindGroup; buffers: readonly GPUBuffer[]; lastUse: number }>();
  private uses = 0;
  private readonly keysOfBuffer = new Map<GPUBuffer, Set<string>>();
  /** Groups created so far (cache misses). */
  misses = 0;

  constructor(private readonly capacity = 16384) {}

  /**
   * The cached group for `key` (which must determine the group: pipeline, buffers with bound sizes,
   * uniform slot), else the one `create()` makes, cached with the storage buffers it binds (for `forget`).
   */
  get(key: string, create: () => { readonly group: GPUBindGroup; readonly buffers: readonly GPUBuffer[] }): GPUBindGroup {
    const cached = this.groups.get(key);
    if (cached) {
      cached.lastUse = ++this.uses;
      return cached.group;
    }
    this.misses++;
    const created = { ...create(), lastUse: ++this.uses };
    if (this.groups.size >= this.capacity) this.evictLeastRecentlyUsed();
    this.groups.set(key, created);
    for (const b of created.buffers) {
      let keys = this.keysOfBuffer.get(b);
      if (!keys) this.keysOfBuffer.set(b, (keys = new Set()));
      keys.add(key);
    }
    return created.group;
  }

  /** Drops every group that binds `buffer` (call before destroying it). */
  forget(buffer: GPUBuffer): void {
    const keys = this.keysOfBuffer.get(buffer);
    if (!keys) return;
    for (const key of [...keys]) this.evict(key);
    this.keysOfBuffer.delete(buffer);
  }

  clear(): void {
    this.groups.clear();
    this.keysOfBuffer.clear();
  }

  private evictLeastRecentlyUsed(): void {
    let oldest: string | undefined;
    let oldestUse = Infinity;
    for (const [key, entry] of this.groups) {
      if (entry.lastUse < oldestUse) [oldest, oldestUse] = [key, entry.lastUse];
    }
    if (oldest !== undefined) this.evict(oldest);
  }

  private evict(key: string): void {
    const entry = this.groups.get(key);
    if (!entry) return;
    this.groups.delete(key);
    for (const b of entry.buffers) this.keysOfBuffer.get(b)?.delete(key);
  }
}
