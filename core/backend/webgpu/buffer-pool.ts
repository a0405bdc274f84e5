/**
 * Reuses freed GPU buffers. Creating a GPUBuffer is expensive (an allocation plus zeroing), and a training
 * step allocates the same sizes every time, so freed buffers are kept in free lists keyed by size class.
 *
 * Size classes: sizes up to 1 KiB round up to a power of two; above that to a multiple of 1/8 of the
 * enclosing power of two, so at most 12.5% of a large buffer is slack.
 *
 * Reusing a buffer right after `free` is safe even while earlier, not yet submitted commands still read
 * it: all dispatches go through one queue in order, so the new owner's writes run after the old reads.
 * Host writes (`queue.writeBuffer`) are the exception; the backend submits pending work before them.
 *
 * Which free buffer: the oldest (lowest creation number), not the last freed. Then the buffers a step
 * gets depend only on which buffers are free when it starts, not on the order earlier steps freed them,
 * so every training step binds the same buffers to the same launches and the bind group cache
 * (bind-group-cache.ts) hits from the second step on. (With last-freed-first, the assignment drifted from
 * step to step: 80% of launches needed a new bind group.)
 */
export function sizeClass(bytes: number): number {
  const n = Math.max(16, Math.ceil(bytes / 4) * 4);
  if (n <= 1024) return 2 ** Math.ceil(Math.log2(n));
  const step = 2 ** Math.floor(Math.log2(n)) / 8;
  return Math.ceil(n / step) * step;
}

/** A buffer the pool made, with what launches need to know about it kept in JavaScript (no native getters). */
export interface PooledBuffer {
  readonly gpu: GPUBuffer;
  /** Creation number (0, 1, 2, …): a short, stable name for the buffer (bind group cache keys). */
  readonly id: number;
  /** Bytes (its size class). */
  readonly size: number;
}

export class BufferPool {
  /** Per size class, free buffers sorted by creation number, newest first (pop() takes the oldest). */
  private readonly free = new Map<number, PooledBuffer[]>();
  private created = 0;
  private readonly everyBuffer = new Set<PooledBuffer>();
  pooledBytes = 0;
  createdBytes = 0;

  constructor(
    private readonly create: (bytes: number) => GPUBuffer,
    /** Called just before a buffer is destroyed (the bind group cache drops its groups). */
    private readonly beforeDestroy: (buffer: GPUBuffer) => void = () => {},
  ) {}

  /** A buffer of at least `bytes` bytes (its size is `sizeClass(bytes)`). */
  acquire(bytes: number): PooledBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    const reused = list?.pop();
    if (reused) {
      this.pooledBytes -= size;
      return reused;
    }
    const buffer: PooledBuffer = { gpu: this.create(size), id: this.created++, size };
    this.everyBuffer.add(buffer);
    this.createdBytes += size;
    return buffer;
  }

  release(buffer: PooledBuffer): void {
    const size = buffer.size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    // binary search for the first entry older than `buffer` (lists stay sorted newest first)
    const n = buffer.id;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.id > n) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buffer);
    this.pooledBytes += size;
  }

  /** Takes `buffer` out of the free lists if it is there (a step program keeps it, step-recorder.ts). */
  take(buffer: PooledBuffer): boolean {
    const list = this.free.get(buffer.size);
    const i = list ? list.indexOf(buffer) : -1;
    if (i < 0) return false;
    list!.splice(i, 1);
    this.pooledBytes -= buffer.size;
    return true;
  }

  /** Destroys the pooled (unused) buffers, returning their memory to the device. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.everyBuffer.delete(b);
        this.createdBytes -= b.size;
        this.beforeDestroy(b.gpu);
        b.gpu.destroy();
      }
    }
    this.free.clear();
    this.pooledBytes = 0;
  }

  destroyAll(): void {
    for (const b of this.everyBuffer) b.gpu.destroy();
    this.everyBuffer.clear();
    this.free.clear();
    this.pooledBytes = 0;
    this.createdBytes = 0;
  }
}
