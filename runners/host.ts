/**
 * Picks the host's WebGPU entry point and creates a backend: the one place that branches on the runtime
 * (Node → `webgpu` package, Deno/browser → navigator.gpu). Imports are dynamic so Deno and browsers never
 * load the Node addon.
 */
import { NoWebGPUAdapterError } from "../core/errors.ts";
import { detectRuntime } from "../core/runtime.ts";
import type { Backend } from "../core/backend/backend.ts";
import { createCpuBackend } from "../core/backend/cpu/cpu-backend.ts";
import { type DeviceWait, sleepingDeviceWait } from "../core/backend/webgpu/device-wait.ts";
import { type WebGPUBackend, type WebGPUBackendOptions, createWebGPUBackend } from "../core/backend/webgpu/webgpu-backend.ts";

export async function hostGPU(): Promise<GPU | undefined> {
  const runtime = detectRuntime();
  if (runtime === "node") {
    const { nodeGPU } = await import("./node/webgpu.ts");
    return nodeGPU();
  }
  return (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
}

/**
 * How a Node or Deno host waits for the device: sleeping between event-loop turns, so that the runtime's
 * WebGPU poller does not spin a core that a software device (lavapipe) computes on (device-wait.ts:
 * 1.6× faster device work on Node's Dawn, 2 cores; no change on Deno, whose wgpu does not spin, and used
 * there too so both hosts wait alike). Both runtimes have `setImmediate` (one turn of the loop, after the
 * poller's own immediate) and allow Atomics.wait on the main thread.
 */
export function hostDeviceWait(): DeviceWait | undefined {
  const setImmediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
  if (typeof setImmediate !== "function" || typeof SharedArrayBuffer !== "function") return undefined;
  return sleepingDeviceWait(() => new Promise<void>((resolve) => void setImmediate(resolve)));
}

/** A WebGPU backend on this host, or NoWebGPUAdapterError explaining how to get one. */
export async function createHostWebGPUBackend(options: Omit<WebGPUBackendOptions, "gpu"> = {}): Promise<WebGPUBackend> {
  const gpu = await hostGPU();
  if (!gpu) throw NoWebGPUAdapterError.of(detectRuntime(), "this runtime exposes no WebGPU entry point");
  const deviceWait = options.deviceWait ?? hostDeviceWait();
  return createWebGPUBackend({ ...options, gpu, ...(deviceWait ? { deviceWait } : {}) });
}

export type BackendName = "cpu" | "webgpu";

/** The backend a `--backend` flag names. */
export async function createBackend(name: BackendName): Promise<Backend> {
  return name === "cpu" ? createCpuBackend() : await createHostWebGPUBackend();
}
