/**
 * A backend that holds shapes but no data: building a model on it allocates nothing, so module trees of
 * any size (t5-base, t5-large) can be inspected — parameter counts, PEFT targets — from config.json
 * alone. Running a kernel or reading a value is an error.
 */
import { InvalidArgumentError } from "../errors.ts";
import type { Backend, BufferHandle } from "./backend.ts";

export function createMetaBackend(): Backend {
  const refuse = (what: string): never => {
    throw InvalidArgumentError.of("meta backend", what, "this backend holds shapes only; build the model on cpu or webgpu to compute");
  };
  return {
    name: "meta",
    capabilities: { float64: true, maxBufferBytes: Number.MAX_SAFE_INTEGER, asynchronous: false, maxStorageBuffersPerLaunch: Number.MAX_SAFE_INTEGER },
    allocate: (dtype, length): BufferHandle => ({ dtype, length }),
    free() {},
    upload: () => refuse("upload"),
    read: () => refuse("read"),
    dispatch: () => refuse("dispatch"),
    flush() {},
    sync: () => Promise.resolve(),
    stats: () => ({ liveBytes: 0, pooledBytes: 0, dispatches: 0, submits: 0 }),
    dispose() {},
  };
}
