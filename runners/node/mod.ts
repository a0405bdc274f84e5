/**
 * webpeft on Node: the host's WebGPU entry point (Dawn, from the `webgpu` package) and a backend factory.
 *
 *   import { tensor } from "webpeft";
 *   import { createHostWebGPUBackend } from "webpeft/node";
 *   const backend = await createHostWebGPUBackend();
 *
 * (`createWebGPUBackend({ gpu: nodeGPU(), deviceWait: hostDeviceWait() })` is the same by hand; without
 * `deviceWait`, every wait for the device spins a core, see core/backend/webgpu/device-wait.ts.)
 */
export { nodeGPU } from "./webgpu.ts";
export { createBackend, createHostWebGPUBackend, hostDeviceWait, type BackendName } from "../host.ts";
export { nodeFiles } from "./files.ts";
/** This host's FileAccess (for the core and `webpeft/datasets` functions that take one). */
export { hostFiles } from "../host-files.ts";
export * from "../api.ts";
