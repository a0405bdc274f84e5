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
  /**
   * WebGPU only: bytes of the buffers that step programs keep (captured steps, core/tensor/capture.ts);
   * the ones holding results a caller still has also count in liveBytes.
   */
  readonly stepProgramBytes?: number;
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
  /**
   * Optional: recording a step's launches to replay them without the JavaScript that issued them (WebGPU;
   * see core/tensor/capture.ts, which is the only user). Backends without it always run eagerly.
   */
  readonly stepRecorder?: StepRecorder;
}

/**
 * Records what a step sends to the device (allocations, uploads, launches, frees) and compiles two
 * recordings of the same step into a program that replays the second one's launches.
 */
export interface StepRecorder {
  /** Starts recording; fails if a recording is already running. */
  begin(): void;
  /** Stops the recording started by `begin`. */
  end(): StepRecording;
  /**
   * A replayable program when `last` repeats `previous` launch for launch: the same kernels, workgroups
   * and uniforms, buffers that correspond (the same long-lived buffers, the k-th allocation of each, the
   * i-th input), the same upload bytes. Uniform words may differ only where both recordings hold the j-th
   * seed the step drew (dropout masks): replay writes fresh seeds there. Otherwise a reason naming the first
   * difference. On success the buffers `last` allocated belong to the program until `release()`.
   */
  compile(previous: StepRecording, last: StepRecording, plan: StepPlan): StepProgram | string;
}

/** Opaque to callers: what one recorded step did. */
export interface StepRecording {
  /** Launches recorded. */
  readonly launches: number;
  /** Why this recording can never be replayed (it read a value back, freed a buffer it did not allocate…), or null. */
  readonly unusable: string | null;
}

export interface StepPlan {
  /** Per recording (previous, last): the input buffers the step read, replaced by fresh data on replay. */
  readonly inputs: readonly [readonly BufferHandle[], readonly BufferHandle[]];
  /** Per recording: the seeds the step drew, in order. */
  readonly seeds: readonly [readonly number[], readonly number[]];
  /** Buffers of `last` that hold the step's results (allocated during it and alive at its end). */
  readonly outputs: readonly BufferHandle[];
}

export interface StepProgram {
  readonly launches: number;
  /**
   * Why the program cannot replay now, or null: a long-lived buffer it reads was freed, an output of the
   * previous replay is still held, an input's size differs, the program was released.
   */
  blocker(inputs: readonly BufferHandle[]): string | null;
  /**
   * Enqueues the recorded work after copying `inputs` into the program's own input buffers and writing
   * `seeds` where the recording had its seeds. Returns fresh handles on the output buffers, in plan order
   * (freeing them returns nothing to the pool: the program keeps the memory).
   */
  replay(inputs: readonly BufferHandle[], seeds: readonly number[]): BufferHandle[];
  /** Gives the program's buffers back (outputs still held return when freed). */
  release(): void;
}
