/**
 * Per-kernel GPU time from timestamp queries (device feature 'timestamp-query'). While profiling, every
 * dispatch runs in its own compute pass whose begin/end timestamps land in a query set; at each submit the
 * queries are resolved and read back asynchronously, and durations are summed per launch key (kernel name
 * + specialisation). One pass per dispatch changes scheduling a little: use it to find where time goes,
 * not for headline numbers.
 */
export interface KernelTime {
  /** Launch key: kernel name and specialisation. */
  readonly key: string;
  readonly count: number;
  readonly milliseconds: number;
}

const QUERY_USAGE = 0x0200; /* QUERY_RESOLVE */
const COPY_SRC = 0x0004;
const COPY_DST = 0x0008;
const MAP_READ = 0x0001;

export class KernelProfiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private keys: string[] = [];
  private readonly totals = new Map<string, { count: number; nanoseconds: number }>();
  private readonly readbacks: Promise<void>[] = [];

  constructor(
    private readonly device: GPUDevice,
    /** Dispatches per submission at most (two queries each). */
    readonly capacity = 2048,
  ) {
    this.querySet = device.createQuerySet({ type: "timestamp", count: 2 * capacity });
    this.resolveBuffer = device.createBuffer({ size: 16 * capacity, usage: QUERY_USAGE | COPY_SRC });
  }

  get full(): boolean {
    return this.keys.length >= this.capacity;
  }

  /** Timestamp writes for the pass of the next dispatch, recorded under `key`. */
  next(key: string): GPUComputePassTimestampWrites {
    const i = this.keys.length;
    this.keys.push(key);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /**
   * Records the query resolution into `encoder` (before it is finished); the returned function, called
   * after the submit, reads the timestamps back and adds them to the totals.
   */
  resolveInto(encoder: GPUCommandEncoder): (() => void) | null {
    const n = this.keys.length;
    if (n === 0) return null;
    const keys = this.keys;
    this.keys = [];
    const staging = this.device.createBuffer({ size: 16 * n, usage: MAP_READ | COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, staging, 0, 16 * n);
    return () => {
      this.readbacks.push(
        staging.mapAsync(MAP_READ).then(() => {
          const stamps = new BigUint64Array(staging.getMappedRange().slice(0));
          staging.unmap();
          staging.destroy();
          keys.forEach((key, i) => {
            const ns = Number(stamps[2 * i + 1]! - stamps[2 * i]!);
            const t = this.totals.get(key) ?? { count: 0, nanoseconds: 0 };
            t.count++;
            t.nanoseconds += Math.max(0, ns);
            this.totals.set(key, t);
          });
        }),
      );
    };
  }

  /** Waits for outstanding read-backs; entries sorted by total time, largest first. */
  async report(): Promise<KernelTime[]> {
    await Promise.all(this.readbacks.splice(0));
    return [...this.totals.entries()]
      .map(([key, t]) => ({ key, count: t.count, milliseconds: t.nanoseconds / 1e6 }))
      .sort((a, b) => b.milliseconds - a.milliseconds);
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
  }
}
