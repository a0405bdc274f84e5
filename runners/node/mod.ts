/**
 * webpeft on Node: the host's WebGPU entry point (Dawn, from the `webgpu` package) and a backend factory.
 *
 *   import { createWebGPUBackend, tensor } from "webpeft";
 *   import { nodeGPU } from "webpeft/node";
 *   const backend = await createWebGPUBackend({ gpu: nodeGPU() });
 */
export { nodeGPU } from "./webgpu.ts";
export { createBackend, createHostWebGPUBackend, type BackendName } from "../host.ts";
export { nodeFiles } from "./files.ts";
/** This host's FileAccess (for the core and `webpeft/datasets` functions that take one). */
export { hostFiles } from "../host-files.ts";
export * from "../api.ts";
