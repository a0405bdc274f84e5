/**
 * The CPU backend: buffers are typed arrays and kernels run their `cpu` implementation synchronously.
 * It is the readable reference for every kernel and the fallback where no WebGPU adapter exists.
 *
 * `createCpuBackend({ float64: true })` makes the float64 reference: the same kernels over Float64Array,
 * used by the conformance suite as the oracle every other backend is compared with.
 */
import { InvalidArgumentError } from "../../errors.ts";
import { type AnyTypedArray, type DType, bytesPerElement, newTypedArray } from "../../tensor/dtype.ts";
import type { Backend, BackendStats, BufferHandle } from "../backend.ts";
import type { Kernel } from "../kernel.ts";

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
}

export function createCpuBackend(options: CpuBackendOptions = {}): Backend {
  const float64 = options.float64 ?? false;
  let liveBytes = 0;
  let dispatches = 0;
  const asCpu = (b: BufferHandle): CpuBuffer => {
    if (!(b instanceof CpuBuffer)) {
      throw new InvalidArgumentError({ op: "cpu backend", argument: "buffer", message: "buffer belongs to another backend" });
    }
    return b;
  };
  const backend: Backend = {
    name: float64 ? "cpu-f64" : "cpu",
    capabilities: { float64, maxBufferBytes: 2 ** 31 - 1, asynchronous: false },
    allocate(dtype, length) {
      if (dtype === "float64" && !float64) {
        throw InvalidArgumentError.of("allocate", "dtype", "float64 needs the reference backend (createCpuBackend({ float64: true }))");
      }
      liveBytes += length * bytesPerElement[dtype];
      return new CpuBuffer(dtype, length, newTypedArray(dtype, length));
    },
    free(buffer) {
      const b = asCpu(buffer);
      liveBytes -= b.length * bytesPerElement[b.dtype];
    },
    upload(buffer, data, offset = 0) {
      asCpu(buffer).data.set(data, offset);
    },
    read(buffer, offset, length) {
      return Promise.resolve(asCpu(buffer).data.slice(offset, offset + length));
    },
    dispatch<P>(kernel: Kernel<P>, params: P, buffers: readonly BufferHandle[]) {
      dispatches++;
      kernel.cpu(buffers.map((b) => asCpu(b).data), params);
    },
    flush() {},
    sync: () => Promise.resolve(),
    stats: (): BackendStats => ({ liveBytes, pooledBytes: 0, dispatches, submits: dispatches }),
    dispose() {},
  };
  return backend;
}

/** Synchronous access to a CPU buffer's array, for host-side code that already holds a CPU tensor. */
export function cpuBufferData(buffer: BufferHandle): AnyTypedArray | undefined {
  return buffer instanceof CpuBuffer ? buffer.data : undefined;
}
