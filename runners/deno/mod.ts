/**
 * webpeft on Deno: WebGPU is `navigator.gpu` (the core default), files go through the Deno namespace.
 *
 *   import { createWebGPUBackend, tensor } from "@webpeft/webpeft";
 *   import { loadT5 } from "@webpeft/webpeft/deno";
 */
export { denoGPU } from "./webgpu.ts";
export { denoFiles } from "./files.ts";
/** This host's FileAccess (for the core and `@webpeft/webpeft/datasets` functions that take one). */
export { hostFiles } from "../host-files.ts";
export { createBackend, createHostWebGPUBackend, hostDeviceWait, type BackendName } from "../host.ts";
export * from "../api.ts";
