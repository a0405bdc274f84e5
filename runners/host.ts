/**
 * Picks the host's WebGPU entry point and creates a backend: the one place that branches on the runtime
 * (Node → `webgpu` package, Deno/browser → navigator.gpu). Imports are dynamic so Deno and browsers never
 * load the Node addon.
 */
import { NoWebGPUAdapterError } from "../core/errors.ts";
import { detectRuntime } from "../core/runtime.ts";
import type { Backend } from "../core/backend/backend.ts";
import { createCpuBackend } from "../core/backend/cpu/cpu-backend.ts";
import { type WebGPUBackend, type WebGPUBackendOptions, createWebGPUBackend } from "../core/backend/webgpu/webgpu-backend.ts";

export async function hostGPU(): Promise<GPU | undefined> {
  const runtime = detectRuntime();
  if (runtime === "node") {
    const { nodeGPU } = await import("./node/webgpu.ts");
    return nodeGPU();
  }
  return (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
}

/** A WebGPU backend on this host, or NoWebGPUAdapterError explaining how to get one. */
export async function createHostWebGPUBackend(options: Omit<WebGPUBackendOptions, "gpu"> = {}): Promise<WebGPUBackend> {
  const gpu = await hostGPU();
  if (!gpu) throw NoWebGPUAdapterError.of(detectRuntime(), "this runtime exposes no WebGPU entry point");
  return createWebGPUBackend({ ...options, gpu });
}

export type BackendName = "cpu" | "webgpu";

/** The backend a `--backend` flag names. */
export async function createBackend(name: BackendName): Promise<Backend> {
  return name === "cpu" ? createCpuBackend() : await createHostWebGPUBackend();
}
