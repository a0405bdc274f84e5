/**
 * Typed errors of the engine. Every error is an `Error` (so plain `throw`/`catch` works) and carries a
 * `_tag`, so Effect programs can recover by tag (`Effect.catchTag("ShapeError", …)`). Messages name the
 * op, the shapes, sizes and limits involved, and what the user can do about it.
 */
import { Data } from "effect";

const fmt = (shape: readonly number[]): string => `[${shape.join(", ")}]`;

/** Operand shapes that an op cannot combine (broadcasting, matmul inner sizes, reshape sizes, axes…). */
export class ShapeError extends Data.TaggedError("ShapeError")<{
  readonly op: string;
  readonly shapes: readonly (readonly number[])[];
  readonly message: string;
}> {
  static of(op: string, shapes: readonly (readonly number[])[], why: string): ShapeError {
    return new ShapeError({
      op,
      shapes,
      message: `${op}: ${why} (shapes ${shapes.map(fmt).join(" and ")})`,
    });
  }
}

/** An operand whose dtype the op does not accept (e.g. float ids for an embedding lookup). */
export class DTypeError extends Data.TaggedError("DTypeError")<{
  readonly op: string;
  readonly expected: string;
  readonly actual: string;
  readonly message: string;
}> {
  static of(op: string, expected: string, actual: string): DTypeError {
    return new DTypeError({ op, expected, actual, message: `${op}: expected dtype ${expected}, got ${actual}` });
  }
}

/** A single buffer larger than what the device allows (maxBufferSize / maxStorageBufferBindingSize). */
export class BufferLimitError extends Data.TaggedError("BufferLimitError")<{
  readonly requestedBytes: number;
  readonly limitName: string;
  readonly limitBytes: number;
  readonly message: string;
}> {
  static of(requestedBytes: number, limitName: string, limitBytes: number): BufferLimitError {
    return new BufferLimitError({
      requestedBytes,
      limitName,
      limitBytes,
      message:
        `cannot allocate a buffer of ${formatBytes(requestedBytes)}: the device's ${limitName} is ` +
        `${formatBytes(limitBytes)}; use smaller batches or sequence lengths, or split the tensor`,
    });
  }
}

/** The device could not allocate memory (an out-of-memory error reported by the GPU). */
export class OutOfMemoryError extends Data.TaggedError("OutOfMemoryError")<{
  readonly requestedBytes: number;
  readonly allocatedBytes: number;
  readonly message: string;
}> {
  static of(requestedBytes: number, allocatedBytes: number, detail: string): OutOfMemoryError {
    return new OutOfMemoryError({
      requestedBytes,
      allocatedBytes,
      message:
        `out of device memory allocating ${formatBytes(requestedBytes)} ` +
        `(${formatBytes(allocatedBytes)} already held by webpeft): ${detail}`,
    });
  }
}

/** The GPU device was lost (driver reset, device destroyed, machine sleep). Its buffers are gone. */
export class DeviceLostError extends Data.TaggedError("DeviceLostError")<{
  readonly reason: string;
  readonly message: string;
}> {
  static of(reason: string, detail: string): DeviceLostError {
    return new DeviceLostError({
      reason,
      message: `the WebGPU device was lost (${reason}${detail ? `: ${detail}` : ""}); tensors on it are gone, create a new backend`,
    });
  }
}

/** No WebGPU adapter is available in this runtime. */
export class NoWebGPUAdapterError extends Data.TaggedError("NoWebGPUAdapterError")<{
  readonly runtime: string;
  readonly message: string;
}> {
  static of(runtime: string, detail: string): NoWebGPUAdapterError {
    return new NoWebGPUAdapterError({
      runtime,
      message:
        `no WebGPU adapter found in ${runtime}${detail ? ` (${detail})` : ""}. ` +
        `WebGPU needs a Vulkan, Metal or D3D12 driver. On a Linux machine without a GPU, install Mesa's ` +
        `CPU Vulkan driver "lavapipe" (Debian/Ubuntu: apt-get install mesa-vulkan-drivers; on Debian 12 take ` +
        `Mesa 25 from bookworm-backports: apt-get install -t bookworm-backports mesa-vulkan-drivers, or run ` +
        `scripts/install-system-deps.sh) and make sure XDG_RUNTIME_DIR is set. ` +
        `Without a GPU you can also run on the CPU backend: --backend cpu.`,
    });
  }
}

/** A WebGPU validation or internal error that the engine did not expect: a bug, reported with its text. */
export class WebGPUError extends Data.TaggedError("WebGPUError")<{
  readonly kind: string;
  readonly message: string;
}> {}

/** Tensors from two different backends were combined. */
export class BackendMismatchError extends Data.TaggedError("BackendMismatchError")<{
  readonly op: string;
  readonly message: string;
}> {}

/** A tensor was used after `dispose()` (or after the scope that owned it ended). */
export class DisposedTensorError extends Data.TaggedError("DisposedTensorError")<{
  readonly op: string;
  readonly message: string;
}> {}

/** An index (embedding id, class label) outside the valid range. */
export class IndexOutOfRangeError extends Data.TaggedError("IndexOutOfRangeError")<{
  readonly op: string;
  readonly index: number;
  readonly size: number;
  readonly message: string;
}> {}

/** Misuse of autograd: backward of a non-scalar without a seed, a freed graph, no grad path. */
export class GradientError extends Data.TaggedError("GradientError")<{
  readonly message: string;
}> {}

/** An argument that is neither a shape nor a dtype problem (a negative probability, an unknown option). */
export class InvalidArgumentError extends Data.TaggedError("InvalidArgumentError")<{
  readonly op: string;
  readonly argument: string;
  readonly message: string;
}> {
  static of(op: string, argument: string, why: string): InvalidArgumentError {
    return new InvalidArgumentError({ op, argument, message: `${op}: invalid ${argument}: ${why}` });
  }
}

export type EngineError =
  | ShapeError
  | DTypeError
  | BufferLimitError
  | OutOfMemoryError
  | DeviceLostError
  | NoWebGPUAdapterError
  | WebGPUError
  | BackendMismatchError
  | DisposedTensorError
  | IndexOutOfRangeError
  | GradientError
  | InvalidArgumentError;

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]} (${bytes} bytes)`;
}
