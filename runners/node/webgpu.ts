/**
 * WebGPU on Node: the `webgpu` package (Google's Dawn bindings). Installs the WebGPU globals
 * (GPUBufferUsage, …) that code written for browsers expects, and returns the `GPU` entry point.
 */
import { create, globals } from "webgpu";

let gpu: GPU | null = null;

export function nodeGPU(): GPU {
  if (!gpu) {
    Object.assign(globalThis, globals);
    gpu = create([]) as GPU;
  }
  return gpu;
}
