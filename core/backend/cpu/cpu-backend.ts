/**
 * The CPU backend: buffers are typed arrays and kernels run their `cpu` implementation synchronously.
 * It is the readable reference for every kernel and the fallback where no WebGPU adapter exists.
 *
 * `createCpuBackend({ float64: true })` makes the float64 reference: the same kernels over Float64Array,
 * used by the conformance suite as the oracle every other backend is compared with. It always runs the
 * plain JavaScript loops.
 *
 * The float32 backend runs matmul on WebAssembly SIMD (matmul-wasm.ts, ~10-20× the JavaScript loop) where
 * the runtime validates the module; elsewhere, or with `simd: false`, it runs the same JavaScript loops as
 * the reference. Which one it is, is declared: `simd` on the backend, and the name "cpu" vs "cpu-js".
 */
import { InvalidArgumentError } from "../../errors.ts";
import { type AnyTypedArray, type DType, bytesPerElement, newTypedArray } from "../../tensor/dtype.ts";
import type { Backend, BackendStats, BufferHandle } from "../backend.ts";
import type { Kernel } from "../kernel.ts";
import { wasmMatmulAvailable } from "./matmul-wasm.ts";
import { setCpuSimd } from "./simd.ts";

class CpuBuffer implements BufferHandle {
  constructor(
    readonly dtype: DType,
    readonly length: number,
    readonly data: AnyTypedArray,
  ) {}
}

export interface CpuBackendOptions {
  /** Allow float64 tensors (the reference backend). Default false. */
  readonly float64?: boolean;
  /**
   * Run float32 kernels that have one on WebAssembly SIMD (today: matmul) when the runtime supports it.
   * Default true; false keeps the plain JavaScript loops (the benchmarks' same-run baseline). Ignored,
   * i.e. always false, for the float64 reference.
   */
  readonly simd?: boolean;
  /**
   * Keep freed arrays (up to POOL_LIMIT_BYTES) and hand them out again for allocations of the same dtype
   * and length, as the WebGPU backend's buffer pool does: a training step frees and allocates the same
   * sizes every step, and allocating (zeroing) fresh arrays was ~8% of a small-model step's profile once
   * matmul ran on WebAssembly. Default true, false for the float64 reference, whose fresh zeroed arrays
   * keep the oracle independent of reuse: a kernel that wrongly relies on zeroed memory fails conformance.
   */
  readonly pool?: boolean;
}

/** Most bytes of freed arrays the pool keeps; beyond, freed arrays are left to the garbage collector. */
const POOL_LIMIT_BYTES = 256 * 2 ** 20;
/** Smaller arrays are cheaper to allocate than to look up. */
const POOL_MIN_LENGTH = 256;

export interface CpuBackend extends Backend {
  /** Whether float32 kernels run on WebAssembly SIMD: asked for and available (see CpuBackendOptions). */
  readonly simd: boolean;
}

/** The longest stretch, in ms, that reads on CPU backends keep the event loop from timers and I/O. */
const YIELD_EVERY_MS = 50;
let lastYield = 0;

export function createCpuBackend(options: CpuBackendOptions = {}): CpuBackend {
  const float64 = options.float64 ?? false;
  const simd = !float64 && (options.simd ?? true) && wasmMatmulAvailable;
  const pooling = options.pool ?? !float64;
  /** Freed arrays by `${dtype}:${length}`; contents are whatever the last user left (allowed: see Backend.allocate). */
  const pool = new Map<string, AnyTypedArray[]>();
  let pooledBytes = 0;
  let liveBytes = 0;
  let dispatches = 0;
  const asCpu = (b: BufferHandle): CpuBuffer => {
    if (!(b instanceof CpuBuffer)) {
      throw new InvalidArgumentError({ op: "cpu backend", argument: "buffer", message: "buffer belongs to another backend" });
    }
    return b;
  };
  const backend: CpuBackend = {
    name: float64 ? "cpu-f64" : simd ? "cpu" : "cpu-js",
    simd,
    capabilities: { float64, maxBufferBytes: 2 ** 31 - 1, asynchronous: false, maxStorageBuffersPerLaunch: Number.MAX_SAFE_INTEGER },
    allocate(dtype, length) {
      if (dtype === "float64" && !float64) {
        throw InvalidArgumentError.of("allocate", "dtype", "float64 needs the reference backend (createCpuBackend({ float64: true }))");
      }
      const bytes = length * bytesPerElement[dtype];
      liveBytes += bytes;
      const reused = pooling && length >= POOL_MIN_LENGTH ? pool.get(`${dtype}:${length}`)?.pop() : undefined;
      if (reused) pooledBytes -= bytes;
      return new CpuBuffer(dtype, length, reused ?? newTypedArray(dtype, length));
    },
    free(buffer) {
      const b = asCpu(buffer);
      const bytes = b.length * bytesPerElement[b.dtype];
      liveBytes -= bytes;
      if (pooling && b.length >= POOL_MIN_LENGTH && pooledBytes + bytes <= POOL_LIMIT_BYTES) {
        const key = `${b.dtype}:${b.length}`;
        const free = pool.get(key);
        if (free) free.push(b.data);
        else pool.set(key, [b.data]);
        pooledBytes += bytes;
      }
    },
    upload(buffer, data, offset = 0) {
      asCpu(buffer).data.set(data, offset);
    },
    read(buffer, offset, length) {
      const data = asCpu(buffer).data.slice(offset, offset + length);
      // Kernels run synchronously, so a run that only awaits resolved promises never lets timers and I/O
      // run: a sweep runner missed its shard-lock refreshes for a whole evaluation (20 s), a page would
      // freeze. At most every YIELD_EVERY_MS, a read therefore resolves from a timer (a macrotask).
      const now = performance.now();
      if (now - lastYield < YIELD_EVERY_MS) return Promise.resolve(data);
      lastYield = now;
      return new Promise((resolve) =>
        setTimeout(() => {
          lastYield = performance.now();
          resolve(data);
        }, 0),
      );
    },
    dispatch<P>(kernel: Kernel<P>, params: P, buffers: readonly BufferHandle[]) {
      dispatches++;
      const arrays = buffers.map((b) => asCpu(b).data);
      const previous = setCpuSimd(simd);
      try {
        kernel.cpu(arrays, params);
      } finally {
        setCpuSimd(previous);
      }
    },
    flush() {},
    sync: () => Promise.resolve(),
    stats: (): BackendStats => ({ liveBytes, pooledBytes, dispatches, submits: dispatches }),
    dispose() {
      pool.clear();
      pooledBytes = 0;
    },
  };
  return backend;
}

/** Synchronous access to a CPU buffer's array, for host-side code that already holds a CPU tensor. */
export function cpuBufferData(buffer: BufferHandle): AnyTypedArray | undefined {
  return buffer instanceof CpuBuffer ? buffer.data : undefined;
}
