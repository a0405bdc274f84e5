/**
 * The backend interface: the whole contract between the tensor engine and a compute device. It is kept
 * small on purpose (jax-js style): memory (allocate/free/upload/read), work (dispatch a kernel), and
 * ordering (flush/sync). The CPU backend is the readable reference; the WebGPU backend is the product.
 */
import type { AnyTypedArray, DType } from "../tensor/dtype.ts";
import type { Kernel } from "./kernel.ts";

/** Opaque device memory holding `length` elements of `dtype`. */
export interface BufferHandle {
  readonly dtype: DType;
  readonly length: number;
}

/** What a backend can do, declared once instead of tested for in scattered `if`s. */
export interface BackendCapabilities {
  /** float64 tensors are supported (the CPU reference backend). */
  readonly float64: boolean;
  /** Largest buffer in bytes. */
  readonly maxBufferBytes: number;
  /** Work is asynchronous: reads must be awaited and dispatches only enqueue. */
  readonly asynchronous: boolean;
  /**
   * Most buffers one launch may bind (WebGPU: maxStorageBuffersPerShaderStage, at least 8); kernels that
   * take a variable number of operands (AdamW's groups) size themselves by it.
   */
  readonly maxStorageBuffersPerLaunch: number;
}

export interface BackendStats {
  /** Bytes in buffers currently owned by tensors. */
  readonly liveBytes: number;
  /** Bytes in freed buffers kept for reuse. */
  readonly pooledBytes: number;
  /** Kernel launches since the backend was created. */
  readonly dispatches: number;
  /** Command submissions since the backend was created (1 per dispatch on synchronous backends). */
  readonly submits: number;
  /** WebGPU only: bind groups created (a launch reuses a cached one when its buffers repeat). */
  readonly bindGroupsCreated?: number;
}

export interface Backend {
  /** Short name used in messages and test titles, e.g. "cpu", "cpu-f64", "webgpu". */
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  /** Memory for `length` elements; contents are unspecified (use a fill kernel for zeros). */
  allocate(dtype: DType, length: number): BufferHandle;
  /** Returns a buffer; the backend may reuse it for later allocations. */
  free(buffer: BufferHandle): void;
  /** Copies host data into the buffer starting at element `offset` (ordered after earlier dispatches). */
  upload(buffer: BufferHandle, data: AnyTypedArray, offset?: number): void;
  /** Copies `length` elements starting at `offset` back to the host, after all work queued so far. */
  read(buffer: BufferHandle, offset: number, length: number): Promise<AnyTypedArray>;
  /** Enqueues one kernel launch over `buffers` (binding order). */
  dispatch<P>(kernel: Kernel<P>, params: P, buffers: readonly BufferHandle[]): void;
  /** Submits queued work to the device without waiting. */
  flush(): void;
  /** Resolves when all submitted work has finished; rejects with the first device error seen. */
  sync(): Promise<void>;
  stats(): BackendStats;
  /** Releases every buffer and the device. */
  dispose(): void;
}
