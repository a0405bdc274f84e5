/**
 * Whether CPU kernels may take their WebAssembly SIMD path (float32 only; see matmul-wasm.ts). The CPU
 * backend sets it around each dispatch from its `simd` option; kernels run synchronously inside the
 * dispatch, so one module variable is the whole context. Outside a dispatch it is false.
 */
import { wasmMatmulAvailable } from "./matmul-wasm.ts";

let enabled = false;

/** True while a CPU backend created with `simd: true` (the default) dispatches, where SIMD validates. */
export function cpuSimdEnabled(): boolean {
  return enabled;
}

/** Sets the flag for the dispatch about to run; returns the previous value to restore. */
export function setCpuSimd(on: boolean): boolean {
  const previous = enabled;
  enabled = on && wasmMatmulAvailable;
  return previous;
}
