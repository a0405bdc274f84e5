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
 * How this host waits for the device. Node: sleeping between event-loop turns (device-wait.ts), because
 * the `webgpu` package's poller spins a core that a software device (lavapipe) computes on: device work
 * ran 1.6× faster with it on 2 cores. Elsewhere the plain await (undefined): Deno's wgpu does not spin,
 * and sleeping there delayed its read-backs (a 1024² matmul + read: 105 ms against 55–70 awaited plainly,
 * bench/dev/device-wait.ts).
 */
export function hostDeviceWait(): DeviceWait | undefined {
  if (detectRuntime() !== "node") return undefined;
  const setImmediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
  if (typeof setImmediate !== "function" || typeof SharedArrayBuffer !== "function") return undefined;
  // one turn of the loop: the poller's own immediate runs before ours
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
