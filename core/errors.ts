/**
 * Typed errors of the engine. Every error is an `Error` (so plain `throw`/`catch` works) and carries a
 * `_tag`, so Effect programs can recover by tag (`Effect.catchTag("ShapeError", …)`). Messages name the
 * op, the shapes, sizes and limits involved, and what the user can do about it.
 */
import { type Cause, Data } from "effect";

/**
 * The class an error extends: Effect's `Data.TaggedError(tag)` with its fields, spelled out as a type so
 * that published type declarations need no inference (JSR's "fast check"). Other modules declare their
 * errors the same way:
 *   interface FooFields { readonly message: string }
 *   const FooBase: TaggedErrorClass<"FooError", FooFields> = taggedError("FooError");
 *   export class FooError extends FooBase {}
 */
export type TaggedErrorClass<Tag extends string, Fields> = new (
  fields: Fields,
) => Cause.YieldableError & { readonly _tag: Tag } & Readonly<Fields>;

export function taggedError<Tag extends string, Fields>(tag: Tag): TaggedErrorClass<Tag, Fields> {
  return Data.TaggedError(tag) as unknown as TaggedErrorClass<Tag, Fields>;
}

const fmt = (shape: readonly number[]): string => `[${shape.join(", ")}]`;

/** Operand shapes that an op cannot combine (broadcasting, matmul inner sizes, reshape sizes, axes…). */
interface ShapeErrorFields {
  readonly op: string;
  readonly shapes: readonly (readonly number[])[];
  readonly message: string;
}
const ShapeErrorBase: TaggedErrorClass<"ShapeError", ShapeErrorFields> = taggedError("ShapeError");
export class ShapeError extends ShapeErrorBase {
  static of(op: string, shapes: readonly (readonly number[])[], why: string): ShapeError {
    return new ShapeError({
      op,
      shapes,
      message: `${op}: ${why} (shapes ${shapes.map(fmt).join(" and ")})`,
    });
  }
}

/** An operand whose dtype the op does not accept (e.g. float ids for an embedding lookup). */
interface DTypeErrorFields {
  readonly op: string;
  readonly expected: string;
  readonly actual: string;
  readonly message: string;
}
const DTypeErrorBase: TaggedErrorClass<"DTypeError", DTypeErrorFields> = taggedError("DTypeError");
export class DTypeError extends DTypeErrorBase {
  static of(op: string, expected: string, actual: string): DTypeError {
    return new DTypeError({ op, expected, actual, message: `${op}: expected dtype ${expected}, got ${actual}` });
  }
}

/** A single buffer larger than what the device allows (maxBufferSize / maxStorageBufferBindingSize). */
interface BufferLimitErrorFields {
  readonly requestedBytes: number;
  readonly limitName: string;
  readonly limitBytes: number;
  readonly message: string;
}
const BufferLimitErrorBase: TaggedErrorClass<"BufferLimitError", BufferLimitErrorFields> = taggedError("BufferLimitError");
export class BufferLimitError extends BufferLimitErrorBase {
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

/**
 * A model, adapter or batch whose size is refused before anything is allocated: one of its buffers would be
 * larger than the backend's declared limit (`capabilities.maxBufferBytes`), or a structural bound (layers,
 * tokens to generate) is exceeded. Names what would be allocated, the fields it comes from, the bytes and
 * the limit.
 */
interface SizeLimitErrorFields {
  /** What asked for it: "T5 config", "lora adapter", "T5.forward", … */
  readonly op: string;
  /** The fields or arguments the size comes from, e.g. "vocab_size × d_model". */
  readonly field: string;
  readonly requestedBytes: number;
  readonly limitName: string;
  readonly limitBytes: number;
  readonly message: string;
}
const SizeLimitErrorBase: TaggedErrorClass<"SizeLimitError", SizeLimitErrorFields> = taggedError("SizeLimitError");
export class SizeLimitError extends SizeLimitErrorBase {
  /** `what` describes the buffer, e.g. "shared.weight [32128, 1000000000] in float32". */
  static of(op: string, field: string, what: string, requestedBytes: number, limitName: string, limitBytes: number): SizeLimitError {
    return new SizeLimitError({
      op,
      field,
      requestedBytes,
      limitName,
      limitBytes,
      message: `${op}: ${field}: ${what} needs ${formatBytes(requestedBytes)}, over the ${limitName} of ${formatBytes(limitBytes)}`,
    });
  }
}

/** The device could not allocate memory (an out-of-memory error reported by the GPU). */
interface OutOfMemoryErrorFields {
  readonly requestedBytes: number;
  readonly allocatedBytes: number;
  readonly message: string;
}
const OutOfMemoryErrorBase: TaggedErrorClass<"OutOfMemoryError", OutOfMemoryErrorFields> = taggedError("OutOfMemoryError");
export class OutOfMemoryError extends OutOfMemoryErrorBase {
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
interface DeviceLostErrorFields {
  readonly reason: string;
  readonly message: string;
}
const DeviceLostErrorBase: TaggedErrorClass<"DeviceLostError", DeviceLostErrorFields> = taggedError("DeviceLostError");
export class DeviceLostError extends DeviceLostErrorBase {
  static of(reason: string, detail: string): DeviceLostError {
    return new DeviceLostError({
      reason,
      message: `the WebGPU device was lost (${reason}${detail ? `: ${detail}` : ""}); tensors on it are gone, create a new backend`,
    });
  }
}

/** No WebGPU adapter is available in this runtime. */
interface NoWebGPUAdapterErrorFields {
  readonly runtime: string;
  readonly message: string;
}
const NoWebGPUAdapterErrorBase: TaggedErrorClass<"NoWebGPUAdapterError", NoWebGPUAdapterErrorFields> = taggedError("NoWebGPUAdapterError");
export class NoWebGPUAdapterError extends NoWebGPUAdapterErrorBase {
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
interface WebGPUErrorFields {
  readonly kind: string;
  readonly message: string;
}
const WebGPUErrorBase: TaggedErrorClass<"WebGPUError", WebGPUErrorFields> = taggedError("WebGPUError");
export class WebGPUError extends WebGPUErrorBase {}

/** Tensors from two different backends were combined. */
interface BackendMismatchErrorFields {
  readonly op: string;
  readonly message: string;
}
const BackendMismatchErrorBase: TaggedErrorClass<"BackendMismatchError", BackendMismatchErrorFields> = taggedError("BackendMismatchError");
export class BackendMismatchError extends BackendMismatchErrorBase {}

/** A tensor was used after `dispose()` (or after the scope that owned it ended). */
interface DisposedTensorErrorFields {
  readonly op: string;
  readonly message: string;
}
const DisposedTensorErrorBase: TaggedErrorClass<"DisposedTensorError", DisposedTensorErrorFields> = taggedError("DisposedTensorError");
export class DisposedTensorError extends DisposedTensorErrorBase {}

/** An index (embedding id, class label) outside the valid range. */
interface IndexOutOfRangeErrorFields {
  readonly op: string;
  readonly index: number;
  readonly size: number;
  readonly message: string;
}
const IndexOutOfRangeErrorBase: TaggedErrorClass<"IndexOutOfRangeError", IndexOutOfRangeErrorFields> = taggedError("IndexOutOfRangeError");
export class IndexOutOfRangeError extends IndexOutOfRangeErrorBase {}

/** Misuse of autograd: backward of a non-scalar without a seed, a freed graph, no grad path. */
interface GradientErrorFields {
  readonly message: string;
}
const GradientErrorBase: TaggedErrorClass<"GradientError", GradientErrorFields> = taggedError("GradientError");
export class GradientError extends GradientErrorBase {}

/** An argument that is neither a shape nor a dtype problem (a negative probability, an unknown option). */
interface InvalidArgumentErrorFields {
  readonly op: string;
  readonly argument: string;
  readonly message: string;
}
const InvalidArgumentErrorBase: TaggedErrorClass<"InvalidArgumentError", InvalidArgumentErrorFields> = taggedError("InvalidArgumentError");
export class InvalidArgumentError extends InvalidArgumentErrorBase {
  static of(op: string, argument: string, why: string): InvalidArgumentError {
    return new InvalidArgumentError({ op, argument, message: `${op}: invalid ${argument}: ${why}` });
  }
}

export type EngineError =
  | ShapeError
  | DTypeError
  | BufferLimitError
  | SizeLimitError
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
